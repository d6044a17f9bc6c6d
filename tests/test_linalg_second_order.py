"""Second derivatives through the factorizations: hessian (vmap of jvp of grad),
jacfwd(grad) and jacrev(grad) (vmap of vjp of grad) of scalar losses through
cholesky, eigh, lu, qr, svd and triangular_solve, in their lax.linalg and numpy.linalg
forms.

Their gradients call the adjoint helpers of ``s2s.lax.vjp_helpers`` (``cholesky_grad``...);
differentiating those again used to run their generated jvp/backward code once per
basis vector. The templates of ``s2s.transforms.stacked_helpers`` make that one call
for all basis vectors: every case here asserts ``loops == []``, and is checked against
central differences of ``s2s.grad`` in float64, against ``jax.hessian`` in x64 (where
installed), under ``jit`` against eager, and under ``vmap`` against a loop. The points
are well conditioned: distinct eigenvalues and singular values, nonzero pivots.
"""
import functools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from s2s.lax import vjp_helpers as H
from s2s.transforms.stacked_helpers import stacked_cotangents, stacked_tangent
from cases import central_grad

N = 3


def _spd(np, x):
    m = x.reshape(N, N)
    return m @ m.T + N * np.eye(N)


def _sym(np, x):
    m = x.reshape(N, N)
    return m + m.T + np.diag(np.arange(N) * 1.5)  # eigenvalues kept apart


def _square(np, x):
    return x.reshape(N, N) + 2.0 * np.eye(N)


# Each program is written once against (lax, numpy): the same text runs on s2s and JAX.
# Losses read eigenvectors, Q's columns and singular vectors through sign-invariant
# expressions (LAPACK implementations may choose different signs).
def _lax_cholesky(lax, np):
    return lambda x: np.sum(np.sin(lax.linalg.cholesky(_spd(np, x))))


def _lax_eigh(lax, np):
    def f(x):
        v, w = lax.linalg.eigh(_sym(np, x))
        return np.sum(np.sin(w)) + np.sum(v[:, 0] ** 2 * np.arange(N))
    return f


def _lax_lu(lax, np):
    return lambda x: np.sum(np.sin(lax.linalg.lu(_square(np, x))[0]))


def _lax_qr(lax, np):
    def f(x):
        q, r = lax.linalg.qr(_square(np, x), full_matrices=False)
        return np.sum(q ** 4 * np.arange(N)) + np.sum(r ** 2)
    return f


def _lax_svd(lax, np):
    def f(x):
        u, s, vt = lax.linalg.svd(_square(np, x), full_matrices=False, compute_uv=True)
        return np.sum(np.sin(s)) + np.sum(u[:, 0] * vt[0] * np.arange(N))
    return f


def _lax_svd_values(lax, np):
    return lambda x: np.sum(np.sin(lax.linalg.svd(_square(np, x), compute_uv=False)))


def _lax_triangular_solve(lax, np):
    def f(x):
        y = lax.linalg.triangular_solve(_square(np, x), np.cos(x).reshape(N, N), left_side=True,
                                        lower=True, transpose_a=True)
        return np.sum(np.sin(y))
    return f


def _np_cholesky(lax, np):
    return lambda x: np.sum(np.sin(np.linalg.cholesky(_spd(np, x))))


def _np_eigh(lax, np):
    def f(x):
        w, v = np.linalg.eigh(_sym(np, x))
        return np.sum(np.sin(w)) + np.sum(v[:, 1] ** 2 * np.arange(N))
    return f


def _np_eigvalsh(lax, np):
    return lambda x: np.sum(np.sin(np.linalg.eigvalsh(_sym(np, x))))


def _np_qr(lax, np):
    def f(x):
        q, r = np.linalg.qr(_square(np, x))
        return np.sum(q ** 4 * np.arange(N)) + np.sum(np.sin(r) * r)
    return f


def _np_svd(lax, np):
    def f(x):
        u, s, vh = np.linalg.svd(_square(np, x), full_matrices=False)
        return np.sum(np.sin(s)) + np.sum(u[:, 0] * vh[0] * np.arange(N))
    return f


def _np_solve_det(lax, np):
    def f(x):
        a = _square(np, x)
        return np.sum(np.sin(np.linalg.solve(a, x[:N]))) + np.sin(np.linalg.det(a)) \
            + np.linalg.slogdet(a)[1] + np.sum(np.linalg.inv(a) ** 2)
    return f


PROGRAMS = {"lax_cholesky": _lax_cholesky, "lax_eigh": _lax_eigh, "lax_lu": _lax_lu,
            "lax_qr": _lax_qr, "lax_svd": _lax_svd, "lax_svd_values": _lax_svd_values,
            "lax_triangular_solve": _lax_triangular_solve, "np_cholesky": _np_cholesky,
            "np_eigh": _np_eigh, "np_eigvalsh": _np_eigvalsh, "np_qr": _np_qr, "np_svd": _np_svd,
            "np_solve_det": _np_solve_det}
POINT = np.array([0.3, -0.5, 0.7, 0.2, 0.9, -0.1, -0.4, 0.6, 0.25])

SECOND_ORDER = {
    "hessian": lambda f: s2s.hessian(f),
    "jacfwd(grad)": lambda f: s2s.jacfwd(s2s.grad(f)),
    "jacrev(grad)": lambda f: s2s.jacrev(s2s.grad(f)),
}


@functools.lru_cache(maxsize=None)
def _central_hessian(name):
    """Central differences of grad (called from tests running in 64-bit mode)."""
    g = s2s.grad(PROGRAMS[name](lax, snp))
    return np.stack([central_grad(lambda v: g(v)[i], POINT) for i in range(POINT.size)])


@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_second_order_matches_central_differences_without_example_loop(name, how, x64, loops):
    got = SECOND_ORDER[how](PROGRAMS[name](lax, snp))(POINT)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    assert got.dtype == np.float64 and np.isfinite(got).all()
    np.testing.assert_allclose(got, _central_hessian(name), rtol=1e-6, atol=1e-7)


# (jit and JAX on a subset: compiling dominates their time; every program is checked
# against central differences above.)
JITTED = ("lax_cholesky", "lax_eigh", "lax_svd", "np_qr")


@pytest.mark.parametrize("name", JITTED)
def test_jit_hessian_matches_eager(name, x64, loops):
    h = s2s.hessian(PROGRAMS[name](lax, snp))
    np.testing.assert_allclose(s2s.jit(h)(POINT), h(POINT), rtol=1e-10, atol=1e-12)
    assert loops == [], f"called once per example: {sorted(set(loops))}"


VMAPPED = ("lax_cholesky", "lax_eigh", "lax_lu", "lax_qr", "lax_svd", "lax_triangular_solve",
           "np_eigvalsh", "np_svd")


@pytest.mark.parametrize("name", VMAPPED)
def test_vmap_of_hessian_matches_a_loop(name, x64, loops):
    h = s2s.hessian(PROGRAMS[name](lax, snp))
    points = POINT + np.array([[0.0], [0.05], [-0.03]]) * np.arange(1, POINT.size + 1)
    got = s2s.vmap(h)(points)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    np.testing.assert_allclose(got, np.stack([h(p) for p in points]), rtol=1e-10, atol=1e-12)


def _with_jax_x64(fn):
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        return np.asarray(fn(jax))
    finally:
        jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("name", sorted(n for n in PROGRAMS if n.startswith("lax_")) + ["np_eigh"])
def test_hessian_matches_jax(name, x64):
    def theirs(jax):
        import jax.numpy as jnp
        return jax.hessian(PROGRAMS[name](jax.lax, jnp))(POINT)
    np.testing.assert_allclose(s2s.hessian(PROGRAMS[name](lax, snp))(POINT), _with_jax_x64(theirs),
                               rtol=1e-9, atol=1e-11)


def test_helper_batch_rules_stack_the_batch(x64):
    """The adjoint helpers' batch rules and ``stacked_tangent``'s give per-example results
    (vmap of grad and of jvp of a helper against a loop)."""
    rng = np.random.default_rng(0)
    low = np.linalg.cholesky(_spd(np, POINT))
    gs = rng.normal(size=(4, N, N))
    dls = rng.normal(size=(4, N, N))
    want = np.stack([H.cholesky_grad(g, low) for g in gs])
    np.testing.assert_allclose(s2s.vmap(H.cholesky_grad, in_axes=(0, None))(gs, low), want,
                               rtol=1e-12)
    tangent = s2s.vmap(lambda g, dl: stacked_tangent(H.cholesky_grad, (g, low), (g, dl), lower=True))
    np.testing.assert_allclose(
        tangent(gs, dls),
        np.stack([stacked_tangent(H.cholesky_grad, (g, low), (g, dl), lower=True)
                  for g, dl in zip(gs, dls)]), rtol=1e-12)
    cot = s2s.vmap(lambda c: stacked_cotangents(H.cholesky_grad, (gs[0], low), c, lower=True))(dls)
    for k, c in enumerate(dls):
        one = stacked_cotangents(H.cholesky_grad, (gs[0], low), c, lower=True)
        np.testing.assert_allclose(cot[0][k], one[0], rtol=1e-12)
        np.testing.assert_allclose(cot[1][k], one[1], rtol=1e-12)


def test_other_functions_are_not_stacked(x64, loops):
    """The stacking batch rule is exact for the helpers written on stacks of matrices
    only: for another function it runs once per example."""
    sbars = np.random.default_rng(1).normal(size=(3, N, N))
    low = np.tril(_spd(np, POINT))
    tangent = s2s.vmap(lambda t: stacked_tangent(H.hermitian_grad, (low,), (t,), lower=True))
    got = tangent(sbars)
    assert set(loops) == {"stacked_tangent"}
    np.testing.assert_allclose(got, np.stack([H.hermitian_grad(t, True) for t in sbars]), rtol=1e-12)
