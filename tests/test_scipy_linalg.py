"""Tests of ``s2s.scipy.linalg`` against SciPy, finite differences, JAX and a vmap loop.

Values: eagerly against ``scipy.linalg`` (float32 and float64), ``jit`` against
eager. Derivatives: ``check_grads`` (forward and reverse, finite differences in
float64), ``jit(grad)`` against ``grad``, and ``jax.scipy.linalg`` when installed.
Batching: ``vmap`` against a Python loop over examples.
"""
import numpy as np
import pytest
import scipy.linalg

import s2s
from s2s.scipy import linalg
from s2s.test_util import check_grads, check_vmap
from cases import assert_close

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _matrices(seed=0, n=4):
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    spd = a @ a.T + n * np.eye(n)
    tri = np.tril(a) + 3 * np.eye(n)
    return a, spd, tri, rng.normal(size=(n,)), rng.normal(size=(n, 2))


def _close(actual, expected, dtype, scale=1.0):
    tol = {F32: 2e-4, F64: 1e-11}[np.dtype(dtype)] * scale
    for got, want in zip(actual if isinstance(actual, tuple) else (actual,),
                         expected if isinstance(expected, tuple) else (expected,)):
        assert_close(np.asarray(got), np.asarray(want).astype(np.asarray(got).dtype), rtol=tol, atol=tol)


def _values_cases():
    a, spd, tri, b, bm = _matrices()
    rect = np.random.default_rng(1).normal(size=(5, 3))
    cases = []
    for trans in (0, 1, 2, "T"):
        for lower in (True, False):
            m = tri if lower else tri.T
            cases.append((f"solve_triangular-{trans}-{lower}",
                          lambda m, b, t=trans, lo=lower: linalg.solve_triangular(m, b, trans=t, lower=lo),
                          lambda m, b, t=trans, lo=lower: scipy.linalg.solve_triangular(m, b, trans=t, lower=lo),
                          (m, bm)))
    cases.append(("solve_triangular-unit", lambda m, b: linalg.solve_triangular(m, b, lower=True, unit_diagonal=True),
                  lambda m, b: scipy.linalg.solve_triangular(m, b, lower=True, unit_diagonal=True), (tri, b)))
    for lower in (True, False):
        cases.append((f"cho_solve-{lower}", lambda s, b, lo=lower: linalg.cho_solve(linalg.cho_factor(s, lower=lo), b),
                      lambda s, b, lo=lower: scipy.linalg.cho_solve(scipy.linalg.cho_factor(s, lower=lo), b), (spd, bm)))
    for trans in (0, 1, 2):
        cases.append((f"lu_solve-{trans}", lambda a, b, t=trans: linalg.lu_solve(linalg.lu_factor(a), b, trans=t),
                      lambda a, b, t=trans: scipy.linalg.lu_solve(scipy.linalg.lu_factor(a), b, trans=t), (a, b)))
    cases.append(("lu_factor", linalg.lu_factor, scipy.linalg.lu_factor, (a,)))
    for m in (a, rect, rect.T):
        for kw in ({}, {"permute_l": True}, {"p_indices": True}):
            cases.append((f"lu-{m.shape}-{sorted(kw)}", lambda m, kw=kw: linalg.lu(m, **kw),
                          lambda m, kw=kw: scipy.linalg.lu(m, **kw), (m,)))
    for scale in (0.05, 1.0, 8.0):
        cases.append((f"expm-{scale}", linalg.expm, scipy.linalg.expm, (a * scale,)))
    cases.append(("block_diag", lambda x, y, z: linalg.block_diag(x, y, z, 2.0),
                  lambda x, y, z: scipy.linalg.block_diag(x, y, z, 2.0), (a, b, bm)))
    cases.append(("eigh", lambda s: linalg.eigh(s, lower=False), lambda s: scipy.linalg.eigh(s, lower=False), (spd,)))
    cases.append(("eigvals_only", lambda s: linalg.eigh(s, eigvals_only=True),
                  lambda s: scipy.linalg.eigh(s, eigvals_only=True), (spd,)))
    cases.append(("inv", linalg.inv, scipy.linalg.inv, (a,)))
    cases.append(("det", linalg.det, scipy.linalg.det, (a,)))
    return cases


VALUES = _values_cases()


def _canonical_eigh(result):
    if isinstance(result, tuple):  # eigenvectors up to sign: make each column's largest entry positive
        w, v = result
        v = np.asarray(v)
        signs = np.sign(v[np.argmax(np.abs(v), axis=0), np.arange(v.shape[1])])
        return w, v * signs
    return result


@pytest.mark.parametrize("name,fn,ref,args", VALUES, ids=[c[0] for c in VALUES])
@pytest.mark.parametrize("dtype", [F32, F64])
def test_values_against_scipy_and_jit(name, fn, ref, args, dtype, request):
    if dtype == F64:
        request.getfixturevalue("x64")
    args = tuple(np.asarray(x, dtype) for x in args)
    expected = ref(*[x.astype(np.float64) for x in args])
    scale = 1e3 if name.startswith("expm") else 10.0
    if name.startswith("expm"):  # compare relative to the largest entry
        norm = np.max(np.abs(expected))
        expected = expected / norm
        fn = (lambda f, c: lambda x: f(x) / c)(fn, norm)
    post = _canonical_eigh if name == "eigh" else (lambda r: r)
    eager = fn(*args)
    _close(post(eager), post(expected if not isinstance(expected, tuple) else tuple(expected)), dtype, scale)
    if name.startswith(("lu-", "solve_triangular-T", "expm-1.0")) or dtype == F64:
        _close(post(s2s.jit(fn)(*args)), post(eager), dtype, scale)


def test_batched_matrices(x64):
    rng = np.random.default_rng(3)
    a = rng.normal(size=(3, 4, 4)) * np.array([0.1, 1.0, 9.0])[:, None, None]
    expected = np.stack([scipy.linalg.expm(m) for m in a])
    rel = np.max(np.abs(expected), axis=(1, 2), keepdims=True)
    assert_close(s2s.jit(linalg.expm)(a) / rel, expected / rel, rtol=1e-11, atol=1e-11)
    b = rng.normal(size=(3, 4, 2))
    expected = np.stack([scipy.linalg.lu_solve(scipy.linalg.lu_factor(m), v) for m, v in zip(a, b)])
    assert_close(s2s.jit(lambda a, b: linalg.lu_solve(linalg.lu_factor(a), b))(a, b), expected, rtol=1e-9)


def _grad_cases():
    a, spd, tri, b, bm = _matrices(n=3)

    def tri_solve(t, b):
        return linalg.solve_triangular(t, b, trans=1, lower=True)

    def cho(a, b):
        return linalg.cho_solve(linalg.cho_factor(a @ a.T + 3 * np.eye(3)), b)

    def lu_solve(a, b):
        return linalg.lu_solve(linalg.lu_factor(a), b, trans=2)

    def lu(a):
        p, l, u = linalg.lu(a)
        return l, u

    def expm(a):
        return linalg.expm(a)

    def block_diag(a, b):
        return linalg.block_diag(a, b, 2.0)

    def eigh(a):
        return linalg.eigh(a + a.T, lower=False)[0]

    def inv_det(a):
        return linalg.inv(a) * linalg.det(a)
    return [(tri_solve, (tri[:3, :3], bm[:3])), (cho, (a, b)), (lu_solve, (a, bm[:3])), (lu, (a,)),
            (expm, (a,)), (block_diag, (a, b)), (eigh, (a,)), (inv_det, (a,))]


GRADS = _grad_cases()


@pytest.mark.parametrize("fn,args", GRADS, ids=[c[0].__name__ for c in GRADS])
def test_grads_against_finite_differences(fn, args, x64):
    check_grads(fn, args, order=1)
    check_grads(fn, args, order=2, modes=("rev",))


def _sum_sin(fn):
    def loss(*args):
        out = fn(*args)
        leaf = out[0] if isinstance(out, tuple) else out
        return s2s.numpy.sum(s2s.numpy.sin(leaf))
    return loss


@pytest.mark.parametrize("fn,args", GRADS, ids=[c[0].__name__ for c in GRADS])
def test_jit_grad_and_vmap(fn, args, x64):
    argnums = tuple(range(len(args)))
    grad = s2s.grad(_sum_sin(fn), argnums=argnums)
    for got, want in zip(s2s.jit(grad)(*args), grad(*args)):
        assert_close(got, want, rtol=1e-9, atol=1e-12)
    check_vmap(fn, *[np.stack([x, 0.5 * x + 0.1]) for x in args])


def test_expm_grad_against_jax(x64):
    jax = pytest.importorskip("jax")
    jsl = pytest.importorskip("jax.scipy.linalg")
    jax.config.update("jax_enable_x64", True)
    a = _matrices(n=3)[0]
    expected = jax.grad(lambda m: jax.numpy.sum(jax.numpy.sin(jsl.expm(m))))(a)
    assert_close(s2s.grad(_sum_sin(linalg.expm))(a), np.asarray(expected), rtol=1e-8)
    expected = jax.grad(lambda m, v: jax.numpy.sum(jsl.lu_solve(jsl.lu_factor(m), v)), argnums=(0, 1))(a, a[0])
    actual = s2s.grad(lambda m, v: s2s.numpy.sum(linalg.lu_solve(linalg.lu_factor(m), v)), argnums=(0, 1))(a, a[0])
    for got, want in zip(actual, expected):
        assert_close(got, np.asarray(want), rtol=1e-8)


def test_scipy_linalg_calls_resolve_to_twins(x64):
    a = _matrices(n=3)[0]

    def f(m):  # ported code: SciPy's functions, unchanged
        return scipy.linalg.expm(m)[0, 1] + scipy.linalg.det(m)
    expected = scipy.linalg.expm(a)[0, 1] + scipy.linalg.det(a)
    assert_close(s2s.jit(f)(a), np.asarray(expected), rtol=1e-10)
    g = s2s.grad(f)(a)
    assert_close(g, s2s.grad(lambda m: linalg.expm(m)[0, 1] + linalg.det(m))(a), rtol=1e-12)


def test_errors():
    with pytest.raises(ValueError, match="trans must be"):
        linalg.solve_triangular(np.eye(2), np.ones(2), trans="X")
    with pytest.raises(NotImplementedError, match="eigh supports the standard problem only; b given"):
        linalg.eigh(np.eye(2), np.eye(2))
    with pytest.raises(ValueError, match="expm: A must be a square matrix"):
        linalg.expm(np.ones((2, 3)))
    with pytest.raises(ValueError, match="block_diag"):
        linalg.block_diag(np.ones((2, 2, 2)))
