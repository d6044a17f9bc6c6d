"""Second derivatives through the elementwise, complex, cumprod and sort adjoint helpers
(``s2s.lax.helper_rules``): conj_grad, real_part, imag_part, real_grad, imag_grad,
abs_grad, trigamma, cumprod_grad and unsort.

``hessian`` (vmap of jvp of grad), ``jacrev(grad)`` (vmap of vjp of grad) and
``jacfwd(grad)`` used to run the generated jvp/vjp of these helpers once per basis
vector; their templates make each one batched computation. Each function is written
once against (lax, numpy), so the same text runs on s2s and on JAX; every result is
checked against central differences of ``s2s.grad`` in float64, eagerly and under
``jit``, with no per-example call.
"""
import functools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import central_jacobian, loop_over_examples


def _cumprod(lax, np):
    def f(x):
        y = lax.cumprod(x, axis=0)
        return np.sum(np.sin(y) * x) + np.sum(lax.cumprod(x.reshape(2, 4), axis=1, reverse=True) ** 2)
    return f


def _np_cumprod(lax, np):
    def f(x):
        return np.sum(np.cos(np.cumprod(x.reshape(2, 4), axis=0)) * x.reshape(2, 4)) \
            + np.sum(np.cumprod(x) * x[::-1])
    return f


def _lax_sort(lax, np):
    def f(x):
        return np.sum(np.sin(lax.sort(x * x[::-1])) * np.arange(8.0))
    return f


def _lax_sort_operands(lax, np):
    def f(x):  # two keys (the first has ties), two operands riding along
        keys = np.floor(x[:4] * 2.0 + 0.25)
        a, b, c, e = lax.sort(keys, x[4:], x[:4] * x[4:], np.exp(x[:4]), num_keys=2)
        return np.sum(np.sin(b) * np.arange(4.0) + c * c * np.arange(1.0, 5.0) + e * b)
    return f


def _lax_sort_tuple(lax, np):
    def f(x):  # sort((a, b)): one tuple operand, its adjoints a list
        a, b = lax.sort((x[:4] * x[4:], np.sin(x[4:])), num_keys=1)
        return np.sum(a * b * np.arange(4.0))
    return f


def _np_sort(lax, np):
    def f(x):
        m = (x * x[::-1]).reshape(2, 4)
        return np.sum(np.sin(np.sort(m, axis=1)) * np.arange(4.0)) + np.sum(np.sort(m, axis=0)[0] ** 3)
    return f


def _argsort(lax, np):
    def f(x):
        order = np.argsort(np.cos(x))
        return np.sum(np.sin(x[order] * x) * np.arange(8.0))
    return f


def _abs_real(lax, np):
    def f(x):
        return np.sum(np.abs(x) * x * x + np.sin(np.abs(x * x[::-1] - 0.1)))
    return f


def _abs_complex(lax, np):
    def f(x):
        z = lax.complex(x[:4], x[4:])
        return np.sum(np.abs(z) ** 3 + np.sin(np.abs(z * z + 0.5)))
    return f


def _gamma(lax, np):
    def f(x):  # hessian of lgamma meets digamma's derivative, trigamma's derivative beyond
        return np.sum(lax.lgamma(x + 2.0) * x + lax.digamma(x * x + 1.0) * x)
    return f


def _digamma_negative(lax, np):
    def f(x):  # trigamma's reflection below zero
        return np.sum(lax.digamma(x - 2.35) * x)
    return f


def _complex_parts(lax, np):
    def f(x):
        z = lax.complex(x[:4], x[4:])
        w = z * z * lax.conj(z) + np.exp(z * 0.5)
        return np.sum(lax.real(w) * lax.imag(w) + lax.real(lax.conj(w) * z) ** 2) \
            + np.sum(lax.imag(lax.conj(z * w)))
    return f


def _np_complex_parts(lax, np):
    def f(x):
        z = lax.complex(x[:4], x[4:])
        w = z * np.conj(z * z) + z
        return np.sum(np.real(w) ** 2 * x[4:]) + np.sum(np.abs(w) ** 2) \
            + np.sum(np.imag(w * z) * x[:4])
    return f


def _complex_scalar_product(lax, np):
    def f(x):  # a real value times 1j
        z = x[:4] + 1j * x[4:]
        return np.sum(np.real(z * np.conj(z * z)) ** 2 * x[4:])
    return f


PROGRAMS = {"cumprod": _cumprod, "np_cumprod": _np_cumprod, "lax_sort": _lax_sort,
            "lax_sort_operands": _lax_sort_operands, "lax_sort_tuple": _lax_sort_tuple,
            "np_sort": _np_sort, "argsort": _argsort,
            "abs_real": _abs_real, "abs_complex": _abs_complex, "gamma": _gamma,
            "digamma_negative": _digamma_negative, "complex_parts": _complex_parts,
            "np_complex_parts": _np_complex_parts,
            "complex_scalar_product": _complex_scalar_product}
# Distinct values (no ties among sorted values), away from 0 for abs.
POINT = np.array([0.3, 0.5, 0.7, -0.2, 0.9, 1.1, -0.4, 0.6])
# cumprod through zeros: its adjoint is piecewise there, its second derivative is not.
ZEROS = np.array([0.3, 0.5, 0.0, -0.2, 0.9, 0.0, -0.4, 0.6])
POINTS = {"point": POINT, "zeros": ZEROS}
CASES = [(name, "point") for name in sorted(PROGRAMS)] + \
    [("cumprod", "zeros"), ("np_cumprod", "zeros")]

# jacfwd(grad) is hessian's own composition: the two reverse-mode orders are checked
# for every program, jacfwd(grad) for a few.
SECOND_ORDER = {
    "hessian": lambda f: s2s.hessian(f),
    "jacrev(grad)": lambda f: s2s.jacrev(s2s.grad(f)),
}
JACFWD_CASES = [("cumprod", "zeros"), ("lax_sort_operands", "point"), ("abs_complex", "point"),
                ("gamma", "point"), ("complex_parts", "point")]


@functools.lru_cache(maxsize=None)
def _central_hessian(name, at):
    """Central differences of grad (called from tests running in 64-bit mode)."""
    return central_jacobian(s2s.grad(PROGRAMS[name](lax, snp)), POINTS[at])


@pytest.mark.parametrize("name,at,how", [(name, at, how) for name, at in CASES
                                         for how in sorted(SECOND_ORDER)]
                         + [(name, at, "jacfwd(grad)") for name, at in JACFWD_CASES])
def test_second_order_matches_central_differences_without_example_loop(name, at, how, x64,
                                                                       loops):
    f = PROGRAMS[name](lax, snp)
    transformed = s2s.jacfwd(s2s.grad(f)) if how == "jacfwd(grad)" else SECOND_ORDER[how](f)
    got = transformed(POINTS[at])
    if how == "hessian":
        np.testing.assert_allclose(s2s.jit(transformed)(POINTS[at]), got, rtol=1e-10, atol=1e-12)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    assert got.dtype == np.float64 and np.isfinite(got).all()
    np.testing.assert_allclose(got, _central_hessian(name, at), rtol=1e-6, atol=1e-6)


def _with_jax_x64(fn):
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        return np.asarray(fn(jax))
    finally:
        jax.config.update("jax_enable_x64", old)


# JAX's polygamma is NaN below zero (it is zeta-based); JAX's lax.sort takes its
# operands as one sequence only (lax_sort_tuple is that form).
# (cumprod at POINT: its zeros case and np_cumprod stand for it, at a fraction of JAX's
# compile time.)
# (cumprod is checked against central differences and third order below: JAX's compile
# of its hessian costs seconds of the suite's time)
JAX_CASES = [case for case in CASES if case[0] not in ("digamma_negative", "lax_sort_operands", "cumprod")]


@pytest.mark.parametrize("name,at", JAX_CASES)
def test_hessian_matches_jax(name, at, x64):
    def theirs(jax):
        import jax.numpy as jnp
        return jax.hessian(PROGRAMS[name](jax.lax, jnp))(POINTS[at])
    np.testing.assert_allclose(s2s.hessian(PROGRAMS[name](lax, snp))(POINTS[at]),
                               _with_jax_x64(theirs), rtol=1e-9, atol=1e-10)


EXAMPLES = np.stack([POINT, ZEROS, np.cos(POINT) * 1.3])


# x[order] with a batched order: NumPy's getitem_grad runs once per example.
_VMAP_LOOPS = {
    "argsort": "vmap(hessian) of x[argsort(...)]: getitem_grad runs once per example",
}


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=_VMAP_LOOPS[name]))
    if name in _VMAP_LOOPS else name for name in sorted(PROGRAMS)])
def test_vmap_of_hessian_matches_a_loop(name, x64, loops):
    hess = s2s.hessian(PROGRAMS[name](lax, snp))
    got = s2s.vmap(hess)(EXAMPLES)
    np.testing.assert_allclose(got, loop_over_examples(hess, (EXAMPLES,), (0,)),
                               rtol=1e-10, atol=1e-12)
    assert loops == [], f"called once per example: {sorted(set(loops))}"


# Third order: the helpers' own templates call helpers with templates (polygamma of the
# next order; cumprod's tangent and its second derivative).
# cumprod through two zeros: the third derivative couples them (its adjoint used to be
# piecewise there, and batched third order differentiated that source: d/dx2 H[5, 5:] of
# sum(cumprod(x) * x) came out a half or a tenth of the truth).
THIRD_ORDER = [("gamma", "point"), ("cumprod", "zeros")]


@pytest.mark.parametrize("name,at", THIRD_ORDER)
def test_third_order_matches_central_differences(name, at, x64):
    f = PROGRAMS[name](lax, snp)
    got = s2s.jacfwd(s2s.hessian(f))(POINTS[at])
    expected = central_jacobian(s2s.hessian(f), POINTS[at])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(s2s.jit(s2s.jacfwd(s2s.hessian(f)))(POINTS[at]), got,
                               rtol=1e-10, atol=1e-12)


def test_third_order_of_digamma_runs_no_example_loop(x64, loops):
    got = s2s.jacfwd(s2s.hessian(PROGRAMS["gamma"](lax, snp)))(POINT)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    assert np.isfinite(got).all()


@pytest.mark.parametrize("name,at", [("gamma", "point")])
def test_third_order_matches_jax(name, at, x64):
    def theirs(jax):
        import jax.numpy as jnp
        return jax.jacfwd(jax.hessian(PROGRAMS[name](jax.lax, jnp)))(POINTS[at])
    np.testing.assert_allclose(s2s.jacfwd(s2s.hessian(PROGRAMS[name](lax, snp)))(POINTS[at]),
                               _with_jax_x64(theirs), rtol=1e-9, atol=1e-10)


# The new helpers on their own, against finite differences and SciPy.


def test_polygamma_matches_scipy(x64):
    special = pytest.importorskip("scipy.special")
    x = np.concatenate([np.linspace(0.05, 30.0, 60), np.linspace(-4.9, -0.1, 40) + 1e-3])
    for n in range(1, 5):
        np.testing.assert_allclose(lax.vjp_helpers.polygamma(n, x), special.polygamma(n, x),
                                   rtol=1e-11)
        np.testing.assert_allclose(s2s.jit(lambda v, n=n: lax.vjp_helpers.polygamma(n, v))(x),
                                   special.polygamma(n, x), rtol=1e-11)


def test_polygamma_rejects_order_zero():
    with pytest.raises(ValueError, match="digamma"):
        lax.vjp_helpers.polygamma(0, np.float32(1.0))


@pytest.mark.parametrize("axis,reverse", [(0, False), (0, True), (1, False), (1, True)])
def test_cumprod_grad_tangent_is_exact_with_zeros(axis, reverse, x64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5))
    x[0, 1] = x[0, 3] = x[2, 0] = 0.0  # two zeros in a row, one at the start
    g, v = rng.normal(size=(2, 3, 5))
    H = lax.vjp_helpers

    def adjoint(x):
        return H.cumprod_grad(g, x, lax.cumprod(x, axis=axis, reverse=reverse), axis, reverse)
    got = H.cumprod_grad_tangent(g, x, lax.cumprod(x, axis=axis, reverse=reverse), v, axis, reverse)
    # the adjoint is a polynomial in x: central differences are exact up to rounding
    np.testing.assert_allclose(got, (adjoint(x + 1e-4 * v) - adjoint(x - 1e-4 * v)) / 2e-4,
                               rtol=1e-6, atol=1e-8)


def test_abs_grad_tangent_is_symmetric(x64):
    rng = np.random.default_rng(1)
    x, v, w = (rng.normal(size=(3, 4)) + 1j * rng.normal(size=(3, 4)) for _ in range(3))
    g = rng.normal(size=(3, 4))
    H = lax.vjp_helpers
    # real(w * T v) == real(v * T w): the second derivative pairs symmetrically
    np.testing.assert_allclose(np.sum(np.real(w * H.abs_grad_tangent(g, x, v))),
                               np.sum(np.real(v * H.abs_grad_tangent(g, x, w))), rtol=1e-12)
    fd = (H.abs_grad(g, x + 1e-6 * v) - H.abs_grad(g, x - 1e-6 * v)) / 2e-6
    np.testing.assert_allclose(H.abs_grad_tangent(g, x, v), fd, rtol=1e-7, atol=1e-8)


def test_cumprod_grad_differentiated_from_source_is_exact_with_zeros(x64):
    """Inside a traced function the helpers' templates are not used: cumprod_grad's own
    source must differentiate right at zeros (the adjoint after a first zero used to be
    the constant 0, so its derivative in that zero was lost)."""
    x = ZEROS
    e = np.eye(8)
    H = lax.vjp_helpers

    def batched(x):
        return s2s.vmap(lambda x, g: H.cumprod_grad(g, x, lax.cumprod(x, axis=0), 0),
                        in_axes=(None, 0))(x, e)
    _, got = s2s.jvp(batched, (x,), (e[2],))
    expected = (batched(x + 1e-5 * e[2]) - batched(x - 1e-5 * e[2])) / 2e-5
    np.testing.assert_allclose(got, expected, rtol=1e-8, atol=1e-9)
    assert np.abs(expected[5]).max() > 1e-3  # the entries that were lost


# hessian of real(1j * x[1] + x[0]) ** 2 called .shape on the Python complex 1j (the
# batched jvp code's broadcast_like of a scalar's tangent); fixed since.
def test_hessian_of_scalar_times_1j_plus_scalar(x64):
    f = lambda x: snp.real(1j * x[1] + x[0]) ** 2  # noqa: E731
    np.testing.assert_allclose(s2s.hessian(f)(np.array([0.7, -0.2])), np.diag([2.0, 0.0]))
