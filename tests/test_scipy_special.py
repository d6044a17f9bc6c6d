"""Tests of ``s2s.scipy.special`` and ``s2s.scipy.stats.norm`` against SciPy.

Every function is checked eagerly against SciPy (computed in float64, then cast to
the dtype s2s must return) on generated shapes and dtypes, and ``s2s.jit`` of it
against the eager result (values and dtype). Tails, ``-inf`` handling and misuse
(complex input, shapes that do not broadcast, bad axes) have their own tests. The
modules' doctests run here too.
"""
import doctest
import importlib

import numpy as np
import pytest
import scipy.special as osp
import scipy.stats as ost

import s2s
from s2s.errors import DtypeError, ShapeError
from s2s.scipy import special
from s2s.scipy.stats import norm
from cases import assert_close, case_id, rand, sample, tolerance

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
SHAPES = [(), (3,), (2, 3), (0,), (4, 1, 5)]


@pytest.fixture
def x64():
    """Turns 64-bit mode on for one test and restores the previous setting."""
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _setup(case, request):
    if case["dtype"] == F64:
        request.getfixturevalue("x64")


def _out_dtype(dtype):
    """The dtype s2s returns for ``dtype`` input (integers -> default float)."""
    if np.dtype(dtype).kind == "f":
        return np.dtype(dtype)
    return F64 if s2s.config.enable_x64 else F32


def _check(fn, ref, args, scale=1.0, jit=True, atol_scale=None):
    """``fn(*args)`` matches SciPy's ``ref`` eagerly, and ``jit(fn)`` matches eager."""
    dt = _out_dtype(np.result_type(*[np.asarray(a).dtype for a in args]))
    with np.errstate(all="ignore"):
        expected = np.asarray(ref(*[np.asarray(a, np.float64) for a in args])).astype(dt)
    tol = tolerance(dt, scale)
    atol = tol if atol_scale is None else tolerance(dt, atol_scale)
    actual = fn(*args)
    assert_close(actual, expected, rtol=tol, atol=atol)
    if jit:
        staged = s2s.jit(fn)(*args)
        assert_close(staged, actual, rtol=tol, atol=atol)


# name, s2s function, SciPy reference, input range, tolerance scale
UNARY = [
    ("expit", special.expit, osp.expit, (-20, 20), 1),
    ("logit", special.logit, osp.logit, (0.01, 0.99), 5),
    ("erf", special.erf, osp.erf, (-4, 4), 1),
    ("erfc", special.erfc, osp.erfc, (-3, 8), 5),
    ("erfinv", special.erfinv, osp.erfinv, (-0.999, 0.999), 5),
    ("gammaln", special.gammaln, osp.gammaln, (0.1, 30), 5),
    ("digamma", special.digamma, osp.digamma, (0.1, 30), 5),
    ("ndtr", special.ndtr, osp.ndtr, (-12, 8), 5),
    ("ndtri", special.ndtri, osp.ndtri, (1e-6, 1 - 1e-6), 5),
    ("log_ndtr", special.log_ndtr, osp.log_ndtr, (-40, 12), 5),
    ("entr", special.entr, osp.entr, (-1, 5), 1),
    ("i0", special.i0, osp.i0, (-12, 12), 5),
    ("i0e", special.i0e, osp.i0e, (-40, 40), 5),
    ("i1", special.i1, osp.i1, (-12, 12), 5),
    ("i1e", special.i1e, osp.i1e, (-40, 40), 5),
    ("norm.pdf", norm.pdf, ost.norm.pdf, (-5, 5), 1),
    ("norm.logpdf", norm.logpdf, ost.norm.logpdf, (-5, 5), 1),
    ("norm.cdf", norm.cdf, ost.norm.cdf, (-12, 8), 5),
    ("norm.logcdf", norm.logcdf, ost.norm.logcdf, (-40, 12), 5),
    ("norm.sf", norm.sf, ost.norm.sf, (-8, 12), 5),
    ("norm.logsf", norm.logsf, ost.norm.logsf, (-12, 40), 5),
    ("norm.ppf", norm.ppf, ost.norm.ppf, (1e-6, 1 - 1e-6), 5),
    ("norm.isf", norm.isf, ost.norm.isf, (1e-6, 1 - 1e-6), 5),
]


@pytest.mark.parametrize("name,fn,ref,domain,scale", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, fn, ref, domain, scale, request):
    for i, case in enumerate(sample(name, shape=SHAPES, dtype=[F32, F64])):
        _setup(case, request)
        x = rand(case["shape"], case["dtype"], np.random.default_rng(i), *domain)
        _check(fn, ref, (x,), scale, jit=i < 3)


@pytest.mark.parametrize("name,fn,ref,domain,scale", UNARY[:4], ids=[u[0] for u in UNARY[:4]])
def test_unary_int_input(name, fn, ref, domain, scale):
    x = np.array([0, 1, 2], np.int32) if name != "logit" else np.array([0, 1], np.int32)
    assert fn(x).dtype == F32
    assert s2s.jit(fn)(x).dtype == F32


def test_unary_int_input_x64(x64):
    assert special.ndtr(np.array([0, 1], np.int32)).dtype == F64
    assert s2s.jit(special.gammaln)(np.array([1, 2], np.int32)).dtype == F64


def test_tails_are_accurate():
    x = np.array([-35.0, -20.0, -9.0, 4.0, 7.0], np.float32)
    assert_close(special.log_ndtr(x), osp.log_ndtr(x.astype(np.float64)).astype(np.float32), rtol=2e-5)
    p = np.array([1e-30, 1e-10, 1e-3, 0.5, 1 - 1e-3], np.float32)
    assert_close(special.ndtri(p), osp.ndtri(p.astype(np.float64)).astype(np.float32), rtol=1e-5)
    assert_close(special.ndtri(np.array([0.0, 1.0], np.float32)), np.array([-np.inf, np.inf], np.float32))
    big = np.array([40.0, -40.0], np.float32)
    assert_close(special.expit(big), np.array([1.0, 0.0], np.float32))


def test_log_ndtr_series_order():
    x = np.array([-12.0, -30.0], np.float64)
    for order in (0, 1, 5):
        np.testing.assert_allclose(s2s.jit(lambda v: special.log_ndtr(v, order))(x.astype(np.float32)),
                                   osp.log_ndtr(x), rtol=1e-3)
    with pytest.raises(ValueError, match="log_ndtr"):
        special.log_ndtr(x, series_order=-1)


BINARY = [
    ("xlogy", special.xlogy, osp.xlogy, (0, 4), 1),
    ("xlog1py", special.xlog1py, osp.xlog1py, (0, 4), 1),
    ("betaln", special.betaln, osp.betaln, (0.2, 60), 20),
    ("gammainc", special.gammainc, osp.gammainc, (0.05, 30), 10),
    ("gammaincc", special.gammaincc, osp.gammaincc, (0.05, 30), 10),
    ("beta", special.beta, osp.beta, (0.2, 8), 20),
    ("zeta", special.zeta, osp.zeta, (1.1, 12), 20),
]
BROADCAST = [((), ()), ((3,), (3,)), ((2, 3), (3,)), ((4, 1), (1, 5)), ((0, 2), (2,))]


@pytest.mark.parametrize("name,fn,ref,domain,scale", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name, fn, ref, domain, scale, request):
    for i, case in enumerate(sample(name, shapes=BROADCAST, dtype=[F32, F64])):
        _setup(case, request)
        rng = np.random.default_rng(i)
        x = rand(case["shapes"][0], case["dtype"], rng, *domain)
        y = rand(case["shapes"][1], case["dtype"], rng, *domain)
        _check(fn, ref, (x, y), scale, jit=i < 3)


def test_xlogy_zero_times_log_zero():
    x = np.array([0.0, 0.0, 1.0, 2.0], np.float32)
    y = np.array([0.0, -1.0, 0.0, np.e], np.float32)
    assert_close(special.xlogy(x, y), np.array([0, 0, -np.inf, 2], np.float32))
    assert_close(s2s.jit(special.xlogy)(x, y), np.array([0, 0, -np.inf, 2], np.float32))
    assert_close(special.xlog1py(x, y - 1), np.array([0, 0, -np.inf, 2], np.float32))


def test_betaln_large_arguments():
    a = np.array([0.5, 3.0, 20.0, 1e3], np.float64)
    b = np.array([1e4, 200.0, 50.0, 1e3], np.float64)
    np.testing.assert_allclose(special.betaln(a.astype(np.float32), b.astype(np.float32)),
                               osp.betaln(a, b), rtol=1e-5)


def test_entr_special_values():
    x = np.array([0.0, -2.0, np.nan, np.inf], np.float32)
    assert_close(special.entr(x), osp.entr(x))


# ---------------------------------------------------------------------------
# logsumexp, softmax, log_softmax

LSE_CASES = [((5,), None), ((5,), 0), ((3, 4), 1), ((3, 4), -2), ((3, 4), (0, 1)),
             ((2, 3, 4), (0, 2)), ((2, 0, 3), 1), ((2, 3), None), ((), None)]


@pytest.mark.parametrize("case", sample("logsumexp", shape_axis=LSE_CASES, keepdims=[False, True],
                                        b=[False, True], dtype=[F32, F64, I32]), ids=case_id)
def test_logsumexp(case, request):
    _setup(case, request)
    shape, axis = case["shape_axis"]
    rng = np.random.default_rng(0)
    a = rand(shape, case["dtype"], rng, -30, 30)
    kwargs = dict(axis=axis, keepdims=case["keepdims"])
    if case["b"]:
        kwargs["b"] = rand(shape, np.float32, rng, 0, 2)
    fn = lambda a: special.logsumexp(a, **kwargs)  # noqa: E731
    ref = lambda a: osp.logsumexp(a, **kwargs)  # noqa: E731
    _check(fn, ref, (a,), 5)


def test_logsumexp_inf_handling():
    a = np.array([[-np.inf, -np.inf], [np.inf, 0.0], [-np.inf, 1.0], [np.nan, 0.0]], np.float32)
    expected = np.array([-np.inf, np.inf, 1.0, np.nan], np.float32)
    with np.errstate(all="ignore"):
        assert_close(osp.logsumexp(a, axis=1).astype(np.float32), expected)
    assert_close(special.logsumexp(a, axis=1), expected)
    assert_close(s2s.jit(lambda a: special.logsumexp(a, axis=1))(a), expected)


def test_logsumexp_large_values_are_stable():
    a = np.array([1000.0, 1000.0], np.float32)
    assert_close(special.logsumexp(a), np.float32(1000 + np.log(2)))


def test_logsumexp_b_and_sign():
    a = np.array([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]], np.float32)
    b = np.array([[1.0, -1.0, 0.0], [1.0, 1.0, 1.0]], np.float32)
    with np.errstate(all="ignore"):
        expected = osp.logsumexp(a, axis=1, b=b).astype(np.float32)
    assert np.isnan(expected[0])
    assert_close(special.logsumexp(a, axis=1, b=b), expected)
    assert_close(s2s.jit(lambda a, b: special.logsumexp(a, axis=1, b=b))(a, b), expected)
    out, sign = special.logsumexp(a, axis=1, b=b, return_sign=True)
    ref_out, ref_sign = osp.logsumexp(a, axis=1, b=b, return_sign=True)
    assert_close(out, ref_out.astype(np.float32))
    assert_close(sign, ref_sign.astype(np.float32))
    staged = s2s.jit(lambda a, b: special.logsumexp(a, axis=1, b=b, return_sign=True))(a, b)
    assert_close(staged[0], out)
    assert_close(staged[1], sign)
    out, sign = special.logsumexp(a, return_sign=True, keepdims=True)
    assert out.shape == (1, 1) and sign.shape == (1, 1)
    assert_close(out, np.float32(osp.logsumexp(a, keepdims=True)))


def test_logsumexp_b_broadcasts():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    b = np.array([1.0, 0.5, 2.0], np.float32)
    assert_close(special.logsumexp(a, axis=-1, b=b), osp.logsumexp(a, axis=-1, b=b).astype(np.float32))


@pytest.mark.parametrize("case", sample("softmax", shape_axis=LSE_CASES[:-2] + [((2, 3), None)],
                                        fn=["softmax", "log_softmax"], dtype=[F32, F64, I32]),
                         ids=case_id)
def test_softmax(case, request):
    _setup(case, request)
    shape, axis = case["shape_axis"]
    a = rand(shape, case["dtype"], np.random.default_rng(1), -20, 20)
    fn = lambda a: getattr(special, case["fn"])(a, axis=axis)  # noqa: E731
    ref = lambda a: getattr(osp, case["fn"])(a, axis=axis)  # noqa: E731
    _check(fn, ref, (a,), 5)


def test_log_softmax_no_underflow():
    a = np.array([0.0, -200.0], np.float32)
    assert_close(special.log_softmax(a), np.array([0.0, -200.0], np.float32))
    assert_close(s2s.jit(special.log_softmax)(a), np.array([0.0, -200.0], np.float32))


# ---------------------------------------------------------------------------
# Errors: NumPy-style, naming the function, eagerly and under jit.


def test_errors():
    z = np.array([1 + 1j], np.complex64)
    for fn in (special.logsumexp, special.xlogy, special.ndtr, special.ndtri, special.softmax):
        with pytest.raises(DtypeError, match="complex"):
            fn(z) if fn is not special.xlogy else fn(z, z)
    with pytest.raises(ShapeError, match="logsumexp"):
        special.logsumexp(np.ones((2, 3)), axis=2)
    with pytest.raises(ShapeError, match="logsumexp"):
        s2s.jit(lambda a: special.logsumexp(a, axis=-3))(np.ones((2, 3)))
    with pytest.raises(ShapeError, match="logsumexp.*\\(2, 3\\).*\\(2,\\)"):
        special.logsumexp(np.ones((2, 3)), b=np.ones(2))
    with pytest.raises(ShapeError, match="xlogy"):
        special.xlogy(np.ones(3), np.ones(2))
    with pytest.raises(ShapeError, match="norm.logpdf"):
        norm.logpdf(np.ones(3), loc=np.zeros(2))
    with pytest.raises(ShapeError, match="softmax"):
        special.softmax(np.ones(3), axis=1)


def test_stats_broadcast_loc_scale():
    x = np.linspace(-2, 2, 6).astype(np.float32).reshape(2, 3)
    loc = np.array([0.0, 1.0, -1.0], np.float32)
    scale = np.array([[1.0], [2.0]], np.float32)
    for name in ("pdf", "logpdf", "cdf", "logcdf", "sf", "logsf"):
        expected = getattr(ost.norm, name)(x, loc, scale).astype(np.float32)
        assert_close(getattr(norm, name)(x, loc, scale), expected, rtol=1e-5, atol=1e-6)
        assert_close(s2s.jit(getattr(norm, name))(x, loc, scale), expected, rtol=1e-5, atol=1e-6)
    q = np.array([0.1, 0.5, 0.9], np.float32)
    assert_close(norm.ppf(q, loc, 2.0), ost.norm.ppf(q, loc, 2.0).astype(np.float32), rtol=1e-5)
    assert_close(norm.isf(q, loc, 2.0), ost.norm.isf(q, loc, 2.0).astype(np.float32), rtol=1e-5)


def test_twins_resolve():
    from s2s.numpy import twins
    twins.refresh()
    assert twins.twin_of(osp.logsumexp) is special.logsumexp
    assert twins.twin_of(ost.norm.logpdf) is None or twins.twin_of(ost.norm.logpdf) is norm.logpdf


def test_euler_maclaurin_coefficients_are_exact():
    # B_2j / (2j)! by the Akiyama-Tanigawa algorithm in exact rationals.
    from fractions import Fraction
    from math import factorial
    from s2s.scipy._special_kernels import _EULER_MACLAURIN
    count = len(_EULER_MACLAURIN)
    row, numbers = [Fraction(0)] * (2 * count + 1), []
    for m in range(2 * count + 1):
        row[m] = Fraction(1, m + 1)
        for j in range(m, 0, -1):
            row[j - 1] = j * (row[j - 1] - row[j])
        numbers.append(row[0])
    assert count == 12
    assert _EULER_MACLAURIN == tuple(float(numbers[2 * j] / factorial(2 * j)) for j in range(1, count + 1))
    assert numbers[2] == Fraction(1, 6) and numbers[4] == Fraction(-1, 30)  # B_2, B_4


@pytest.mark.parametrize("module", ["s2s.scipy", "s2s.scipy.special", "s2s.scipy._special_kernels",
                                    "s2s.scipy._special_grads", "s2s.scipy.stats",
                                    "s2s.scipy.stats.norm", "s2s.scipy._lax_helpers"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# ---------------------------------------------------------------------------
# Incomplete gamma and beta, Bessel, zeta, polygamma, multigammaln: values at
# edges, derivatives (finite differences in float64, JAX when installed), vmap.


def test_betainc_polygamma_multigammaln_values(request):
    for i, case in enumerate(sample("betainc", dtype=[F32, F64], shape=[(), (7,), (2, 3)])):
        _setup(case, request)
        rng = np.random.default_rng(i)
        a, b = rand(case["shape"], case["dtype"], rng, 0.2, 12), rand(case["shape"], case["dtype"], rng, 0.2, 12)
        x = rand(case["shape"], case["dtype"], rng, 0.0, 1.0)
        _check(special.betainc, osp.betainc, (a, b, x), 20, jit=i == 0)
        n = np.arange(int(np.prod(case["shape"]))).reshape(case["shape"]) % 4
        _check(special.polygamma, osp.polygamma, (n.astype(case["dtype"]), a + 0.5), 50, jit=i == 0)
        _check(lambda v: special.multigammaln(v, 3), lambda v: np.vectorize(lambda t: osp.multigammaln(t, 3))(v),
               (a + 1.5,), 20, jit=i == 0)


def test_edge_values(x64):
    inf, nan = np.inf, np.nan
    a = np.array([1.0, 0.0, 2.0, 2.0, -1.0, 1.0, 3.0])
    x = np.array([0.0, 1.0, inf, 1e-300, 1.0, -1.0, 1e4])
    for fn, ref in ((special.gammainc, osp.gammainc), (special.gammaincc, osp.gammaincc)):
        assert_close(fn(a, x), ref(a, x))
        assert_close(s2s.jit(fn)(a, x), ref(a, x), rtol=1e-12, atol=1e-300)
    bx = np.array([0.0, 1.0, 0.5, 1.5, 1e-12])
    ba = np.array([2.0, 2.0, 1.0, 2.0, 3.0])
    assert_close(s2s.jit(special.betainc)(ba, 3.0, bx), osp.betainc(ba, 3.0, bx), rtol=1e-12, atol=1e-300)
    assert_close(s2s.jit(special.zeta)(np.array([1.0, 0.5, 2.0]), np.array([1.0, 1.0, -1.0])),
                 np.array([inf, nan, nan]))
    xs = np.array([0.0, -inf, inf, nan, 1e3, -1e3])
    for fn in (special.i0e, special.i1e):
        assert_close(s2s.jit(fn)(xs), getattr(osp, fn.__name__)(xs), rtol=1e-12)
    assert_close(s2s.jit(special.polygamma)(np.array([-1.0, 1.5, 0.0]), np.array([2.0, 2.0, 2.0])),
                 np.array([nan, nan, osp.digamma(2.0)]))


def test_gammainc_converges_in_float32():
    a = np.array([0.5, 5.0, 50.0, 500.0, 3000.0, 3000.0], np.float32)
    x = a * np.array([1.1, 1.1, 1.1, 1.1, 1.1, 0.98], np.float32)
    expected = osp.gammainc(a.astype(np.float64), x.astype(np.float64)).astype(np.float32)
    assert_close(s2s.jit(special.gammainc)(a, x), expected, rtol=2e-5)


def test_no_truncated_sums(x64):
    # x == a (the slowest case) beyond what MAX_TRIPS terms reach: NaN under jit, never
    # a truncated continued fraction; the other element is unaffected.
    a = np.array([1e8, 2.0])
    out = s2s.jit(special.gammainc)(a, a)
    assert np.isnan(out[0]) and np.isclose(out[1], osp.gammainc(2.0, 2.0), rtol=1e-13)


GRAD_CASES = [
    # name, function of the differentiated arguments, arguments (float64), orders checked
    ("gammainc", lambda a, x: special.gammainc(a, x), ([0.5, 2.0, 7.0], [0.3, 3.0, 9.0]), 1),
    ("gammaincc", lambda a, x: special.gammaincc(a, x), ([0.5, 2.0, 7.0], [0.3, 3.0, 9.0]), 1),
    ("gammainc_x", lambda x: special.gammainc(2.5, x), ([0.3, 3.0, 9.0],), 2),
    ("betainc_x", lambda x: special.betainc(2.0, 3.5, x), ([0.1, 0.5, 0.9],), 2),
    ("beta", lambda a, b: special.beta(a, b), ([0.5, 2.0, 3.5], [1.5, 0.7, 2.0]), 2),
    ("i0", lambda x: special.i0(x), ([-3.0, 0.5, 9.0],), 2),
    ("i0e", lambda x: special.i0e(x), ([-3.0, 0.5, 9.0],), 2),
    ("i1", lambda x: special.i1(x), ([-3.0, 0.5, 9.0],), 2),
    ("i1e", lambda x: special.i1e(x), ([-3.0, 0.5, 9.0],), 2),
    ("zeta", lambda x, q: special.zeta(x, q), ([2.0, 3.5, 1.5], [0.5, 2.0, 4.0]), 1),
    ("zeta_q", lambda q: special.zeta(2.5, q), ([0.5, 2.0, 4.0],), 2),
    ("polygamma", lambda x: special.polygamma(2, x), ([0.5, 2.0, 4.0],), 2),
    ("multigammaln", lambda a: special.multigammaln(a, 3), ([1.5, 2.0, 4.0],), 2),
]


@pytest.mark.parametrize("name,fn,args,order", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_grads_against_finite_differences(name, fn, args, order, x64):
    from s2s.test_util import check_grads
    args = tuple(np.array(a) for a in args)
    check_grads(fn, args, order=order, modes=("fwd", "rev"))
    argnums = tuple(range(len(args)))
    grad = s2s.grad(lambda *v: fn(*v).sum(), argnums=argnums)
    assert_close(s2s.jit(grad)(*args), grad(*args), rtol=1e-10)


# (i0, i0e, i1 and zeta in q have closed-form derivatives the finite differences check.)
JAX_CASES = [c for c in GRAD_CASES if c[0] not in ("i0", "i0e", "i1", "zeta_q", "gammainc_x")]


@pytest.mark.parametrize("name,fn,args,order", JAX_CASES, ids=[c[0] for c in JAX_CASES])
def test_grads_against_jax(name, fn, args, order, x64):
    jax = pytest.importorskip("jax")
    jsp = pytest.importorskip("jax.scipy.special")
    jax.config.update("jax_enable_x64", True)
    args = tuple(np.array(a) for a in args)
    mirror = {special: jsp}  # the same lambda body, evaluated against jax.scipy.special
    jfn = type(fn)(fn.__code__, {**fn.__globals__, "special": mirror[special]})
    argnums = tuple(range(len(args)))
    expected = jax.jit(jax.grad(lambda *v: jfn(*v).sum(), argnums=argnums))(*args)
    actual = s2s.grad(lambda *v: fn(*v).sum(), argnums=argnums)(*args)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-8, err_msg=name)


@pytest.mark.parametrize("name,fn,args,order", GRAD_CASES, ids=[c[0] for c in GRAD_CASES])
def test_vmap_matches_loop(name, fn, args, order, x64):
    from s2s.test_util import check_vmap
    check_vmap(fn, *[np.array(a) for a in args])


def test_missing_derivatives_raise(x64):
    with pytest.raises(ValueError, match="betainc has no derivative with respect to a"):
        s2s.grad(lambda a: special.betainc(a, 2.0, 0.3))(1.5)
    with pytest.raises(ValueError, match="betainc has no derivative with respect to b"):
        s2s.jvp(lambda b: special.betainc(1.5, b, 0.3), (2.0,), (1.0,))
    with pytest.raises(ValueError, match="polygamma has no derivative with respect to n"):
        s2s.grad(lambda n: special.polygamma(n, 2.0))(1.0)
    with pytest.raises(ValueError, match="gammainc has no derivative with respect to a twice"):
        s2s.grad(s2s.grad(lambda a: special.gammainc(a, 2.0)))(1.5)
    with pytest.raises(NotImplementedError, match="zeta needs q"):
        special.zeta(2.0)
    with pytest.raises(ValueError, match="multigammaln: d must be a positive"):
        special.multigammaln(2.0, 0)
    with pytest.raises(DtypeError, match="gammainc"):
        special.gammainc(1.0, np.ones(2, np.complex64))
    with pytest.raises(ShapeError, match="betainc"):
        special.betainc(np.ones(2), 1.0, np.ones(3))


def test_scipy_special_functions_resolve_to_twins(x64):
    def f(x):  # SciPy's functions, as ported code calls them
        return osp.gammainc(2.0, x) + osp.i0e(x)

    def g(x):
        import scipy.special  # under jit, staged values reach SciPy's ufuncs, which defer
        return scipy.special.gammainc(2.0, x) + scipy.special.i0e(x)
    x = np.array([0.5, 2.0])
    expected = osp.gammainc(2.0, x) + osp.i0e(x)
    assert_close(s2s.jit(f)(x), expected, rtol=1e-12)
    assert_close(s2s.jit(g)(x), expected, rtol=1e-12)
    dfdx = np.exp(-x) * x / osp.gamma(2.0) + osp.i1e(x) - osp.i0e(x)
    assert_close(s2s.grad(lambda v: f(v).sum())(x), dfdx, rtol=1e-10)
