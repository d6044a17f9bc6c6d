"""Tests of the NumPy functions in ``s2s.numpy._extras`` and ``s2s.numpy._extras_stats``
(diff, gradient, trapezoid, interp, cov, convolve, sets, gcd, block, ...).

Each case is a function of the module (``numpy`` or ``s2s.numpy``) and its arguments:
the eager s2s result must match NumPy's value (and NumPy's dtype canonicalized to 32
bits, unless the case names another dtype where s2s follows ``jax.numpy``), and
``s2s.jit`` must give the eager value and dtype. Misuse raises a NumPy-style error
naming the function. The float-valued functions are differentiated with ``s2s.grad``
(from their source) and checked against central finite differences in float64, and a
few under ``jit(grad)``.
"""
import linecache
import warnings
import zlib

import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import ConcretizationError, ShapeError
from cases import assert_close, central_grad

F32, F64, I32, I8, U8, C64, BOOL = (onp.dtype(t) for t in (
    onp.float32, onp.float64, onp.int32, onp.int8, onp.uint8, onp.complex64, onp.bool_))

rng = onp.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seeded_rng(request):
    """The same random inputs for a test whatever runs before it (xdist)."""
    global rng
    rng = onp.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def _rand(shape, dtype=F32, low=-3.0, high=3.0):
    dtype = onp.dtype(dtype)
    if dtype == BOOL:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        return rng.integers(max(int(low), 0) if dtype.kind == "u" else int(low), int(high) + 1,
                            size=shape).astype(dtype)
    if dtype.kind == "c":
        return (rng.uniform(low, high, shape) + 1j * rng.uniform(low, high, shape)).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


def _leaves(out):
    if isinstance(out, (list, tuple)):
        return [leaf for o in out for leaf in _leaves(o)]
    return [out]


def _check(f, *args, dtype=None, ref=None, jit=True, rtol=None, atol=None):
    """``f(s2s.numpy, *args)`` ~ ``f(numpy, *args)`` (or ``ref(*args)``) eagerly, and the
    same under ``s2s.jit`` (value, shape and dtype)."""
    with warnings.catch_warnings():  # NumPy warns on all-NaN slices, zero dof...
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = ref(*args) if ref is not None else f(onp, *args)
    eager = f(snp, *args)
    exps, outs = _leaves(expected), _leaves(eager)
    assert len(exps) == len(outs), (len(exps), len(outs))
    dts = dtype if isinstance(dtype, (list, tuple)) else [dtype] * len(outs)
    for o, e, dt in zip(outs, exps, dts):
        e = onp.asarray(e)
        want = onp.dtype(dt) if dt is not None else dtypes.canonicalize_dtype(e.dtype)
        assert onp.asarray(o).dtype == want, f"eager dtype {onp.asarray(o).dtype} != {want}"
        assert onp.shape(o) == e.shape, (onp.shape(o), e.shape)
        if want.kind in "biu":
            onp.testing.assert_array_equal(onp.asarray(o), e)
        else:
            assert_close(o, e.astype(want), rtol=rtol, atol=atol, check_dtype=False,
                         err_msg="eager vs numpy")
    if jit:
        staged = s2s.jit(lambda *a: f(snp, *a))(*args)
        for o, s in zip(outs, _leaves(staged)):
            o, s = onp.asarray(o), onp.asarray(s)
            assert s.dtype == o.dtype and s.shape == o.shape, (s.dtype, o.dtype, s.shape, o.shape)
            if o.dtype.kind in "biu":
                onp.testing.assert_array_equal(s, o)
            else:
                assert_close(s, o, rtol=rtol, atol=atol, err_msg="jit vs eager")
    return eager


def _raises(exc, f, *args, match=None, jit=True):
    """The same typed error eagerly and under jit, naming the function in the message."""
    runs = [lambda: f(snp, *args)]
    if jit:
        runs.append(lambda: s2s.jit(lambda *a: f(snp, *a))(*args))
    for run in runs:
        with pytest.raises(exc) as info:
            run()
        if match:
            assert match in str(info.value), str(info.value)

# ---------------------------------------------------------------------------
# diff, ediff1d, gradient, trapezoid


@pytest.mark.parametrize("shape,n,axis,dt", [
    ((6,), 1, -1, F32), ((4, 5), 2, 0, F32), ((3, 4, 5), 3, 1, I32), ((5,), 2, 0, BOOL),
    ((4, 3), 0, 1, F32), ((3,), 5, 0, F32), ((2, 3), 1, -1, C64), ((5,), 1, 0, U8)])
def test_diff(shape, n, axis, dt):
    _check(lambda np, a: np.diff(a, n, axis), _rand(shape, dt))


def test_diff_prepend_append():
    a = _rand((3, 4))
    _check(lambda np, a: np.diff(a, axis=1, prepend=0.5, append=a[:, -2:]), a)
    _check(lambda np, a: np.diff(a, 2, axis=0, prepend=a[:1], append=-1.0), a)
    i8 = _rand((5,), I8)
    _check(lambda np, a: np.diff(a, prepend=0), i8, dtype=I8)  # weak scalar (jax.numpy)


def test_diff_errors():
    _raises(ShapeError, lambda np, a: np.diff(a), onp.float32(1.0), match="diff")
    _raises(ValueError, lambda np, a: np.diff(a, -1), onp.ones(3, onp.float32), match="diff")
    _raises(ShapeError, lambda np, a: np.diff(a, axis=2), onp.ones((2, 3)), match="diff")


def test_ediff1d():
    _check(lambda np, a: np.ediff1d(a), _rand((3, 4)))
    _check(lambda np, a: np.ediff1d(a, to_end=[7, 8], to_begin=-1), _rand((6,), I32))
    _check(lambda np, a, b: np.ediff1d(a, to_begin=b), _rand((5,)), _rand((2,)))
    with pytest.raises(TypeError, match="ediff1d"):
        snp.ediff1d(onp.arange(3), to_begin=0.5)


@pytest.mark.parametrize("shape,spacing,axis,edge", [
    ((7,), (), None, 1), ((7,), (0.5,), None, 2), ((4, 5), (), None, 1),
    ((4, 5), (2.0, 0.25), None, 2), ((3, 4, 5), (), 1, 1), ((3, 4, 5), (), (0, -1), 2),
    ((2, 3), (), -1, 1), ((6,), (), 0, 2)])
def test_gradient_uniform(shape, spacing, axis, edge):
    _check(lambda np, f: np.gradient(f, *spacing, axis=axis, edge_order=edge), _rand(shape),
           atol=1e-4)


@pytest.mark.parametrize("edge", [1, 2])
def test_gradient_coordinates(edge):
    f = _rand((5, 6))
    x = onp.cumsum(rng.uniform(0.3, 1.0, 6)).astype(onp.float32)
    _check(lambda np, f, x: np.gradient(f, x, axis=1, edge_order=edge), f, x, atol=1e-4,
           rtol=1e-4)
    y = onp.cumsum(rng.uniform(0.3, 1.0, 5)).astype(onp.float32)
    _check(lambda np, f, y, x: np.gradient(f, y, x, edge_order=edge), f, y, x, atol=1e-4,
           rtol=1e-4)


def test_gradient_ints_and_errors():
    _check(lambda np, f: np.gradient(f), _rand((6,), I32))
    _raises(ValueError, lambda np, f: np.gradient(f, edge_order=2), onp.ones(2, onp.float32),
            match="gradient")
    _raises(ValueError, lambda np, f: np.gradient(f, edge_order=3), onp.ones(5, onp.float32),
            match="gradient")
    _raises(ShapeError, lambda np, f: np.gradient(f, onp.ones(3)), onp.ones(5, onp.float32),
            match="gradient")
    _raises(TypeError, lambda np, f: np.gradient(f, 1.0, 2.0), onp.ones(5, onp.float32),
            match="gradient")


@pytest.mark.parametrize("shape,axis,dt,use_x", [
    ((6,), -1, F32, None), ((4, 5), 0, F32, "1d"), ((3, 4, 5), 1, I32, None),
    ((3, 4), -1, F32, "full"), ((1,), 0, F32, None), ((3, 2), 1, C64, "1d")])
def test_trapezoid(shape, axis, dt, use_x):
    y = _rand(shape, dt)
    if use_x is None:
        _check(lambda np, y: np.trapezoid(y, dx=0.5, axis=axis), y)
    elif use_x == "1d":
        x = onp.cumsum(rng.uniform(0.1, 1.0, shape[axis])).astype(onp.float32)
        _check(lambda np, y, x: np.trapezoid(y, x, axis=axis), y, x)
    else:
        x = _rand(shape)
        _check(lambda np, y, x: np.trapezoid(y, x, axis=axis), y, x)


def test_trapezoid_errors():
    _raises(ShapeError, lambda np, y: np.trapezoid(y, onp.ones(3)), onp.ones(4, onp.float32),
            match="trapezoid")
    _raises(ShapeError, lambda np, y: np.trapezoid(y), onp.float32(1.0), match="trapezoid")

# ---------------------------------------------------------------------------
# interp


def test_interp():
    xp = onp.array([-1.0, 0.0, 0.5, 2.0, 3.5], onp.float32)
    fp = onp.array([2.0, -1.0, 0.5, 4.0, 3.0], onp.float32)
    x = onp.concatenate([_rand((12,), low=-2, high=5), xp, [onp.nan]]).astype(onp.float32)
    _check(lambda np, x, xp, fp: np.interp(x, xp, fp), x, xp, fp)
    _check(lambda np, x, xp, fp: np.interp(x, xp, fp, left=-9.0, right=9.0), x, xp, fp)
    _check(lambda np, x: np.interp(x, [0, 1, 2], [0, 10, 5]), _rand((3, 4), low=-1, high=3))
    _check(lambda np, x: np.interp(x, [1.0], [5.0], left=0.0), onp.array([0.0, 1.0, 2.0]))
    cfp = onp.array([1 + 1j, 2 - 1j, -1j], onp.complex64)
    _check(lambda np, x, fp: np.interp(x, onp.array([0.0, 1.0, 2.0]), fp), _rand((5,)), cfp,
           dtype=C64)
    xpd = onp.array([0.0, 1.0, 1.0, 2.0], onp.float32)  # a repeated point (a jump)
    _check(lambda np, x: np.interp(x, xpd, [0.0, 1.0, 3.0, 4.0]),
           onp.array([0.5, 1.0, 1.5, 2.0], onp.float32))


def test_interp_period_and_extrapolate():
    xp = onp.array([190.0, -190.0, 350.0, -350.0], onp.float32)
    fp = onp.array([5.0, 10.0, 3.0, 4.0], onp.float32)
    x = onp.array([-180.0, -170.0, -185.0, 185.0, -10.0, -5.0, 0.0, 365.0], onp.float32)
    _check(lambda np, x: np.interp(x, xp, fp, period=360), x, atol=1e-4)
    ext = _check(lambda np, x: np.interp(x, [0.0, 1.0, 2.0], [0.0, 2.0, 3.0], left="extrapolate",
                                         right="extrapolate"), onp.array([-1.0, 3.0], onp.float32),
                 ref=lambda x: onp.array([-2.0, 4.0], onp.float32))
    assert ext.dtype == F32


def test_interp_errors():
    _raises(ShapeError, lambda np, x: np.interp(x, onp.ones((2, 2)), onp.ones(4)),
            onp.ones(3, onp.float32), match="interp")
    _raises(ValueError, lambda np, x: np.interp(x, onp.ones(3), onp.ones(4)),
            onp.ones(3, onp.float32), match="interp")
    _raises(ValueError, lambda np, x: np.interp(x, onp.ones(0), onp.ones(0)),
            onp.ones(3, onp.float32), match="interp")

# ---------------------------------------------------------------------------
# cov, corrcoef


@pytest.mark.parametrize("shape,rowvar,bias,ddof,dt", [
    ((3, 6), True, False, None, F32), ((6, 3), False, False, None, F32),
    ((7,), True, True, None, F32), ((2, 5), True, False, 2, I32), ((4, 5), True, False, 0, C64)])
def test_cov(shape, rowvar, bias, ddof, dt):
    _check(lambda np, m: np.cov(m, rowvar=rowvar, bias=bias, ddof=ddof), _rand(shape, dt),
           rtol=1e-4, atol=1e-5)


def test_cov_y_and_weights():
    m, y = _rand((2, 6)), _rand((6,))
    _check(lambda np, m, y: np.cov(m, y), m, y, rtol=1e-4, atol=1e-5)
    _check(lambda np, m, y: np.cov(m, y, rowvar=False), m.T, y, rtol=1e-4, atol=1e-5)
    fw = onp.array([1, 2, 1, 3, 1, 1])
    aw = rng.uniform(0.5, 2.0, 6).astype(onp.float32)
    for i, kw in enumerate([dict(fweights=fw), dict(aweights=aw), dict(fweights=fw, aweights=aw),
                            dict(fweights=fw, aweights=aw, ddof=0), dict(aweights=aw, bias=True)]):
        _check(lambda np, m: np.cov(m, **kw), m, rtol=1e-4, atol=1e-5, jit=i in (2, 4))


def test_cov_errors():
    _raises(ShapeError, lambda np, m: np.cov(m), onp.ones((2, 2, 2), onp.float32), match="cov")
    _raises(ShapeError, lambda np, m: np.cov(m, fweights=onp.ones(3, int)),
            onp.ones((2, 4), onp.float32), match="cov")
    with pytest.raises(TypeError, match="cov"):
        snp.cov(onp.ones((2, 4)), fweights=onp.ones(4))
    with pytest.raises(ValueError, match="negative"):
        snp.cov(onp.ones((2, 4)), aweights=-onp.ones(4))


@pytest.mark.parametrize("shape,rowvar,dt", [((3, 6), True, F32), ((6, 4), False, F32),
                                             ((5,), True, F32), ((3, 4), True, C64)])
def test_corrcoef(shape, rowvar, dt):
    _check(lambda np, x: np.corrcoef(x, rowvar=rowvar), _rand(shape, dt), rtol=1e-4,
           atol=1e-5)


def test_corrcoef_y():
    _check(lambda np, x, y: np.corrcoef(x, y), _rand((5,)), _rand((5,)), rtol=1e-4, atol=1e-5)

# ---------------------------------------------------------------------------
# polyval, vander, convolve, correlate


@pytest.mark.parametrize("pshape,xshape,dt", [((4,), (5,), F32), ((1,), (2, 3), F32),
                                              ((3,), (4,), I32), ((0,), (3,), F32),
                                              ((3,), (), C64)])
def test_polyval(pshape, xshape, dt):
    _check(lambda np, p, x: np.polyval(p, x), _rand(pshape, dt), _rand(xshape, dt), rtol=1e-4)


def test_polyval_mixed():
    _check(lambda np, p, x: np.polyval(p, x), _rand((3,), I32), _rand((4,)))


@pytest.mark.parametrize("n,N,increasing,dt", [(4, None, False, F32), (3, 5, True, I32),
                                               (3, 0, False, F32), (5, 2, False, C64),
                                               (4, None, True, BOOL)])
def test_vander(n, N, increasing, dt):
    want = I32 if dt == BOOL else dt
    _check(lambda np, x: np.vander(x, N, increasing), _rand((n,), dt), dtype=want)


def test_vander_errors():
    _raises(ShapeError, lambda np, x: np.vander(x), onp.ones((2, 2)), match="vander")
    _raises(ValueError, lambda np, x: np.vander(x, -1), onp.ones(2), match="vander")


@pytest.mark.parametrize("fn", ["convolve", "correlate"])
@pytest.mark.parametrize("mode", ["full", "same", "valid"])
def test_convolve_correlate(fn, mode):
    cases = [(_rand((7,)), _rand((3,))), (_rand((2,)), _rand((5,))), (_rand((4,)), _rand((4,))),
             (_rand((3,), C64), _rand((6,), C64)), (_rand((5,), I32), _rand((2,), I32))]
    for a, v in cases:
        _check(lambda np, a, v: getattr(np, fn)(a, v, mode), a, v, rtol=1e-4, atol=1e-5,
               jit=a.shape[0] != 4)


def test_convolve_bool_and_errors():
    _check(lambda np, a, v: np.convolve(a, v), onp.array([True, False, True]),
           onp.array([True, True]))
    _raises(ShapeError, lambda np, a: np.convolve(a, onp.ones(2)), onp.ones((2, 2)),
            match="convolve")
    _raises(ValueError, lambda np, a: np.correlate(a, onp.ones(0)), onp.ones(3),
            match="correlate")
    _raises(ValueError, lambda np, a: np.convolve(a, onp.ones(2), "nope"), onp.ones(3),
            match="convolve")

# ---------------------------------------------------------------------------
# digitize, bincount


@pytest.mark.parametrize("right", [False, True])
def test_digitize(right):
    bins = onp.array([0.0, 1.0, 1.0, 2.5, 4.0], onp.float32)
    x = onp.concatenate([_rand((12,), low=-1, high=5), bins, [onp.nan]]).reshape(3, 6)
    x = x.astype(onp.float32)
    _check(lambda np, x, b: np.digitize(x, b, right), x, bins)
    _check(lambda np, x, b: np.digitize(x, b, right), x, bins[::-1].copy())
    _check(lambda np, x, b: np.digitize(x, b, right), _rand((6,), I32), onp.array([-1, 0, 2]))


def test_digitize_errors():
    with pytest.raises(ValueError, match="monotonically"):
        snp.digitize(onp.ones(2), onp.array([1.0, 3.0, 2.0]))
    _raises(ShapeError, lambda np, x: np.digitize(x, onp.ones((2, 2))), onp.ones(2),
            match="digitize")


def test_bincount():
    x = onp.array([0, 1, 1, 3, 2, 1, 7])
    _check(lambda np, x: np.bincount(x), x, jit=False)
    _check(lambda np, x: np.bincount(x, minlength=10), x, jit=False)
    w = _rand((7,))
    _check(lambda np, x, w: np.bincount(x, w), x, w, jit=False)
    iw = onp.arange(7)  # integer weights give floats (as NumPy)
    _check(lambda np, x, w: np.bincount(x, w), x, iw, dtype=F32, jit=False)
    # Under jit the number of bins is the static length= (bigger values are dropped).
    for length in (8, 12, 3):
        ref = onp.bincount(x, w, minlength=length)[:length]
        _check(lambda np, x, w: np.bincount(x, w, length=length), x, w,
               ref=lambda x, w: ref)
    assert snp.bincount(onp.array([], int)).shape == (0,)


def test_bincount_errors():
    with pytest.raises(ConcretizationError, match="bincount"):
        s2s.jit(lambda x: snp.bincount(x))(onp.array([1, 2]))
    with pytest.raises(ValueError, match="negative"):
        snp.bincount(onp.array([1, -2]))
    with pytest.raises(TypeError, match="bincount"):
        snp.bincount(onp.array([1.0, 2.0]))
    _raises(ShapeError, lambda np, x: np.bincount(x, onp.ones(2), length=4), onp.arange(3),
            match="bincount")

# ---------------------------------------------------------------------------
# NaN-ignoring functions


def _with_nans(shape, frac=0.3, dt=F32):
    a = _rand(shape, dt)
    a[rng.random(shape) < frac] = onp.nan
    return a


@pytest.mark.parametrize("fn", ["nanargmax", "nanargmin"])
@pytest.mark.parametrize("shape,axis,keepdims", [((7,), None, None), ((4, 5), 1, None),
                                                 ((3, 4, 5), 0, True), ((3, 4), None, True)])
def test_nanarg(fn, shape, axis, keepdims):
    a = _with_nans(shape)
    a[(0,) * len(shape)] = onp.inf if fn == "nanargmax" else -onp.inf
    a.reshape(-1)[1:2] = onp.nan
    if axis is not None:  # no all-NaN slice (NumPy raises)
        first = [slice(None)] * len(shape)
        first[axis] = 0
        a[tuple(first)] = onp.where(onp.isnan(a).all(axis=axis), 1.0, a[tuple(first)])
    kw = {} if keepdims is None else dict(keepdims=keepdims)
    _check(lambda np, a: getattr(np, fn)(a, axis=axis, **kw), a)
    _check(lambda np, a: getattr(np, fn)(a, axis=axis, **kw), _rand(shape, I32))


def test_nanarg_all_nan():
    a = onp.array([[1.0, onp.nan], [onp.nan, onp.nan]], onp.float32)
    with pytest.raises(ValueError, match="All-NaN"):
        snp.nanargmax(a, axis=1)
    out = s2s.jit(lambda a: snp.nanargmin(a, axis=1))(a)  # jax.numpy's -1
    onp.testing.assert_array_equal(out, [0, -1])


@pytest.mark.parametrize("fn", ["nancumsum", "nancumprod"])
@pytest.mark.parametrize("shape,axis,dt", [((6,), None, F32), ((3, 4), 1, F32),
                                           ((2, 3, 4), 0, F32), ((3, 4), None, I32)])
def test_nancum(fn, shape, axis, dt):
    a = _with_nans(shape) if dt == F32 else _rand(shape, dt)
    want = None if dt == F32 else getattr(snp, fn[3:])(a, axis=axis).dtype  # as cumsum
    _check(lambda np, a: getattr(np, fn)(a, axis=axis), a, dtype=want, rtol=1e-4)


@pytest.mark.parametrize("shape,axis,keepdims", [((9,), None, False), ((4, 6), 1, False),
                                                 ((3, 4, 5), (0, 2), True), ((4, 5), -2, True),
                                                 ((2, 3), None, True)])
def test_nanmedian(shape, axis, keepdims):
    a = _with_nans(shape)
    a.reshape(-1)[: shape[-1]] = onp.nan  # an all-NaN slice for some axes
    _check(lambda np, a: np.nanmedian(a, axis=axis, keepdims=keepdims), a)


@pytest.mark.parametrize("method", ["linear", "lower", "higher", "nearest", "midpoint"])
def test_nanquantile_methods(method):
    a = _with_nans((4, 7))
    q = onp.array([0.0, 0.1, 0.5, 0.77, 1.0])
    _check(lambda np, a: np.nanquantile(a, q, axis=1, method=method), a, rtol=1e-5, atol=1e-5)
    _check(lambda np, a: np.nanpercentile(a, 30.0, axis=0, method=method), a, rtol=1e-5,
           atol=1e-5)


def test_nanquantile_ints_and_errors():
    _check(lambda np, a: np.nanquantile(a, [0.25, 0.5], axis=0), _rand((5, 3), I32))
    _check(lambda np, a: np.nanmedian(a), _rand((6,), I32))
    with pytest.raises(ValueError, match="nanquantile"):
        snp.nanquantile(onp.ones(3), 1.5)
    with pytest.raises(ValueError, match="nanpercentile"):
        snp.nanpercentile(onp.ones(3), -1)
    with pytest.raises(ValueError, match="method"):
        snp.nanquantile(onp.ones(3), 0.5, method="weibull")


def test_nanquantile_staged_q():
    a = _with_nans((3, 6))
    out = s2s.jit(lambda a, q: snp.nanquantile(a, q, axis=1))(a, onp.float32(0.3))
    assert_close(out, onp.nanquantile(a, 0.3, axis=1).astype(onp.float32))

# ---------------------------------------------------------------------------
# select, rollaxis, vecdot, matvec, vecmat


def test_select():
    x = _rand((3, 4))
    _check(lambda np, x: np.select([x < -1, x > 1, x > 0], [x, x ** 2, -x]), x)
    _check(lambda np, x: np.select([x < 0], [x], default=onp.arange(4.0)), x)
    _check(lambda np, x: np.select([x < 0, x > 2], [1, 2], default=3), _rand((5,), I32))


def test_select_errors():
    x = onp.ones(3)
    with pytest.raises(ValueError, match="select"):
        snp.select([x > 0], [x, x])
    with pytest.raises(ValueError, match="select"):
        snp.select([], [])
    with pytest.raises(TypeError, match="select"):
        snp.select([x], [x])


@pytest.mark.parametrize("axis,start", [(3, 1), (2, 0), (1, 4), (-1, -2), (0, 1), (2, 3)])
def test_rollaxis(axis, start):
    _check(lambda np, a: np.rollaxis(a, axis, start), _rand((2, 3, 4, 5)))


def test_rollaxis_errors():
    _raises(ShapeError, lambda np, a: np.rollaxis(a, 0, 4), onp.ones((2, 3)), match="rollaxis")
    _raises(ShapeError, lambda np, a: np.rollaxis(a, 3), onp.ones((2, 3)), match="rollaxis")


@pytest.mark.parametrize("s1,s2,axis,dt", [((4,), (4,), -1, F32), ((3, 4), (4,), -1, F32),
                                           ((2, 1, 4), (3, 4), -1, I32), ((4, 3), (4, 3), 0, F32),
                                           ((2, 3), (2, 3), -1, C64), ((3,), (3,), 0, BOOL)])
def test_vecdot(s1, s2, axis, dt):
    _check(lambda np, a, b: np.vecdot(a, b, axis=axis), _rand(s1, dt), _rand(s2, dt), rtol=1e-5)


@pytest.mark.parametrize("s1,s2,dt", [((3, 4), (4,), F32), ((2, 3, 4), (4,), F32),
                                      ((3, 4), (5, 4), I32), ((2, 2), (2,), C64)])
def test_matvec(s1, s2, dt):
    _check(lambda np, a, b: np.matvec(a, b), _rand(s1, dt), _rand(s2, dt), rtol=1e-5)


@pytest.mark.parametrize("s1,s2,dt", [((4,), (4, 3), F32), ((2, 4), (4, 3), F32),
                                      ((5, 4), (1, 4, 2), I32), ((2,), (2, 2), C64)])
def test_vecmat(s1, s2, dt):
    _check(lambda np, a, b: np.vecmat(a, b), _rand(s1, dt), _rand(s2, dt), rtol=1e-5)


def test_vecdot_matvec_errors():
    _raises(ShapeError, lambda np, a: np.vecdot(a, onp.ones(3)), onp.ones(4), match="vecdot")
    _raises(ShapeError, lambda np, a: np.matvec(a, onp.ones(3)), onp.ones((3, 4)),
            match="matvec")
    _raises(ShapeError, lambda np, a: np.vecmat(a, onp.ones((3, 4))), onp.ones(4),
            match="vecmat")

# ---------------------------------------------------------------------------
# *_indices_from, fill_diagonal, put_along_axis


def test_indices_from():
    for shape, k in [((3, 3), 0), ((3, 5), 1), ((4, 2), -1)]:
        a = onp.ones(shape)
        for fn in ("tril_indices_from", "triu_indices_from"):
            _check(lambda np, a: getattr(np, fn)(a, k), a)
    _check(lambda np, a: np.diag_indices_from(a), onp.ones((3, 3, 3)))
    with pytest.raises(ShapeError, match="tril_indices_from"):
        snp.tril_indices_from(onp.ones(3))
    with pytest.raises(ShapeError, match="diag_indices_from"):
        snp.diag_indices_from(onp.ones((2, 3)))


def _np_fill_diagonal(a, val, wrap=False):
    a = onp.array(a)
    onp.fill_diagonal(a, val, wrap)
    return a


@pytest.mark.parametrize("shape,val,wrap", [((4, 4), 7.0, False), ((5, 3), [1.0, 2.0], True),
                                            ((5, 3), [1.0, 2.0], False), ((3, 6), 2.0, False),
                                            ((3, 3, 3), [1.0, 5.0], False)])
def test_fill_diagonal(shape, val, wrap):
    a = _rand(shape)
    v = onp.asarray(val, onp.float32)
    _check(lambda np, a, v: np.fill_diagonal(a, v, wrap, inplace=False), a, v,
           ref=lambda a, v: _np_fill_diagonal(a, v, wrap))


def test_fill_diagonal_errors():
    with pytest.raises(NotImplementedError, match="inplace=False"):
        snp.fill_diagonal(onp.zeros((2, 2)), 1.0)
    with pytest.raises(ShapeError, match="fill_diagonal"):
        snp.fill_diagonal(onp.zeros((2, 3, 2)), 1.0, inplace=False)
    ints = snp.fill_diagonal(onp.zeros((2, 2), onp.int32), 2.7, inplace=False)
    assert ints.dtype == I32 and ints[0, 0] == 2


def _np_put_along_axis(a, idx, vals, axis):
    a = onp.array(a)
    onp.put_along_axis(a, idx, vals, axis)
    return a


@pytest.mark.parametrize("shape,ishape,axis", [((3, 4), (3, 1), 1), ((3, 4), (2, 4), 0),
                                               ((2, 3, 4), (2, 3, 2), -1), ((5,), (3,), None),
                                               ((2, 3), (1, 2), 1)])
def test_put_along_axis(shape, ishape, axis):
    a = _rand(shape)
    n = shape[axis] if axis is not None else int(onp.prod(shape))
    idx = onp.stack([rng.permutation(n)[:ishape[axis if axis is not None else 0]]
                     for _ in range(int(onp.prod(ishape)) // ishape[axis if axis is not None
                                                                       else 0])])
    idx = onp.moveaxis(idx.reshape(tuple(d for i, d in enumerate(ishape) if i != (
        axis % len(shape) if axis is not None else 0)) + (-1,)), -1,
        axis % len(shape) if axis is not None else 0)
    idx = idx - n * (rng.random(idx.shape) < 0.3)  # some negative indices
    vals = _rand(ishape)
    _check(lambda np, a, i, v: np.put_along_axis(a, i, v, axis, inplace=False), a, idx, vals,
           ref=lambda a, i, v: _np_put_along_axis(a, i, v, axis))


def test_put_along_axis_errors():
    a = onp.zeros((2, 3), onp.float32)
    with pytest.raises(NotImplementedError, match="inplace=False"):
        snp.put_along_axis(a, onp.array([[0], [1]]), 1.0, axis=1)
    with pytest.raises(IndexError, match="put_along_axis"):
        snp.put_along_axis(a, onp.array([[0], [3]]), 1.0, axis=1, inplace=False)
    out = s2s.jit(lambda a, i: snp.put_along_axis(a, i, 1.0, axis=1, inplace=False))(
        a, onp.array([[0], [3]]))  # dropped under jit
    onp.testing.assert_array_equal(out, [[1, 0, 0], [0, 0, 0]])
    with pytest.raises(ShapeError, match="put_along_axis"):
        snp.put_along_axis(a, onp.array([0]), 1.0, axis=1, inplace=False)

# ---------------------------------------------------------------------------
# Sets


def test_isin():
    e = _rand((3, 4), I32)
    t = onp.array([0, 2, -1, 7])
    _check(lambda np, e, t: np.isin(e, t), e, t)
    _check(lambda np, e, t: np.isin(e, t, invert=True), e, t)
    f = onp.array([1.0, onp.nan, 2.5], onp.float32)
    _check(lambda np, e, t: np.isin(e, t), f, onp.array([onp.nan, 2.5]))
    _check(lambda np, e: np.isin(e, onp.array([], int)), e)


SET_INPUTS = [
    (onp.array([5, 1, 3, 3, 2, 7, 1]), onp.array([3, 3, 9, 1, 0])),
    (onp.array([[1.5, 2.0], [onp.nan, 2.0]], onp.float32), onp.array([2.0, onp.nan, 4.0])),
    (onp.array([4, 2]), onp.array([1, 3])),
    (onp.array([], onp.int32), onp.array([1, 2])),
]


@pytest.mark.parametrize("fn", ["intersect1d", "union1d", "setdiff1d"])
@pytest.mark.parametrize("k", range(len(SET_INPUTS)))
def test_set_functions(fn, k):
    a, b = SET_INPUTS[k]
    ref = getattr(onp, fn)(a, b)
    got = _check(lambda np, a, b: getattr(np, fn)(a, b), a, b, jit=False)
    # Under jit with a static size: the eager result padded (or truncated).
    fill = {"setdiff1d": 0}.get(fn, ref[0] if ref.size else 0)
    for size in (ref.size + 2, max(ref.size - 1, 0))[:2 if k == 0 else 1]:
        want = onp.concatenate([ref, onp.full(max(size - ref.size, 0), fill, ref.dtype)])[:size]
        staged = s2s.jit(lambda a, b: getattr(snp, fn)(a, b, size=size))(a, b)
        assert staged.dtype == got.dtype
        onp.testing.assert_array_equal(staged, want.astype(got.dtype))
    if k == 0:
        staged = s2s.jit(lambda a, b: getattr(snp, fn)(a, b, size=ref.size + 1,
                                                       fill_value=-5))(a, b)
        onp.testing.assert_array_equal(staged[-1], -5)


def test_intersect1d_indices_and_setdiff_unique():
    a, b = SET_INPUTS[0]
    ref = onp.intersect1d(a, b, return_indices=True)
    _check(lambda np, a, b: np.intersect1d(a, b, return_indices=True), a, b, jit=False)
    staged = s2s.jit(lambda a, b: snp.intersect1d(a, b, return_indices=True, size=4))(a, b)
    for s, r in zip(staged, ref):
        onp.testing.assert_array_equal(s[:r.size], r)
    onp.testing.assert_array_equal(staged[1][ref[0].size:], 0)
    u = onp.array([9, 1, 4, 7])
    _check(lambda np, a, b: np.setdiff1d(a, b, assume_unique=True), u, onp.array([4, 2]),
           jit=False)
    with pytest.raises(ConcretizationError, match="size="):
        s2s.jit(lambda a, b: snp.intersect1d(a, b))(a, b)
    with pytest.raises(ConcretizationError, match="size="):
        s2s.jit(lambda a, b: snp.setdiff1d(a, b))(a, b)


def test_unique_counts_values():
    x = onp.array([[3.0, 1.0, onp.nan], [3.0, onp.nan, 2.0]], onp.float32)
    r = onp.unique_counts(x)
    got = snp.unique_counts(x)
    assert type(got).__name__ == "UniqueCountsResult"
    assert_close(got.values, r.values.astype(onp.float32))
    onp.testing.assert_array_equal(got.counts, r.counts)
    vals = snp.unique_values(x)
    assert_close(vals, onp.sort(onp.unique_values(x)))
    staged = s2s.jit(lambda x: snp.unique_counts(x, size=6, fill_value=0.0))(x)
    assert_close(staged.values, onp.concatenate([r.values, [0.0]]).astype(onp.float32))
    onp.testing.assert_array_equal(staged.counts, list(r.counts) + [0])
    staged = s2s.jit(lambda x: snp.unique_values(x, size=3))(onp.array([2, 2, 1]))
    onp.testing.assert_array_equal(staged, [1, 2, 1])

# ---------------------------------------------------------------------------
# gcd, lcm, frexp


@pytest.mark.parametrize("fn", ["gcd", "lcm"])
def test_gcd_lcm(fn):
    a = rng.integers(-60, 61, size=(4, 5))
    b = rng.integers(-60, 61, size=(5,))
    a[0, 0], b[0] = 0, 0
    _check(lambda np, a, b: getattr(np, fn)(a, b), a, b)
    _check(lambda np, a: getattr(np, fn)(a, 12), a.astype(onp.int8) // 3, dtype=I8)
    _check(lambda np, a, b: getattr(np, fn)(a, b), onp.array([2 ** 20 * 3, 7, 0], onp.uint32),
           onp.array([2 ** 10 * 9, 49, 5], onp.uint32))
    with pytest.raises(TypeError, match=fn):
        getattr(snp, fn)(onp.ones(2), 2)


def test_frexp():
    x = onp.array([1.0, -12.5, 0.0, -0.0, onp.inf, -onp.inf, onp.nan, 3e-39, 1e-45, 3e38,
                   0.75, 1024.0], onp.float32)
    _check(lambda np, x: np.frexp(x), x)
    _check(lambda np, x: np.frexp(x), onp.array([1, -6, 0]), dtype=[F32, I32])
    _check(lambda np, x: np.frexp(x), onp.array([1.5, -0.1, 6e4], onp.float16))
    m, e = snp.frexp(x)
    assert onp.signbit(m[3])


def test_frexp_float64(x64):
    x = onp.array([1.0, -12.5, 0.0, 5e-324, 2.2e-308, 1.7e308, onp.inf, onp.nan, 1e-300])
    _check(lambda np, x: np.frexp(x), x)

# ---------------------------------------------------------------------------
# resize, block, apply_along_axis, trim_zeros


@pytest.mark.parametrize("shape,new", [((2, 3), (3, 4)), ((4,), 6), ((2, 2), (1, 3)),
                                       ((0,), (2, 2)), ((3,), (2, 0, 1)), ((2, 3), ())])
def test_resize(shape, new):
    _check(lambda np, a: np.resize(a, new), _rand(shape))


def test_resize_errors():
    with pytest.raises(ValueError, match="resize"):
        snp.resize(onp.ones(3), (2, -1))


def test_block():
    A, B = _rand((2, 2)), _rand((2, 3))
    C, D = _rand((1, 2), I32), _rand((1, 3))
    _check(lambda np, A, B, C, D: np.block([[A, B], [C, D]]), A, B, C, D)
    _check(lambda np, a, b: np.block([a, b, 3.0]), _rand((2,)), _rand((3,)))
    _check(lambda np, a, b: np.block([[a], [b]]), _rand((3,)), _rand((3,)))
    _check(lambda np, a, b: np.block([[[a, b]], [[b, a]]]), _rand((2, 1, 2)), _rand((2, 1, 2)))
    _check(lambda np, a: np.block(a), _rand((2, 3)))
    with pytest.raises(ValueError, match="depths are mismatched"):
        snp.block([[A], B])
    with pytest.raises(TypeError, match="tuple"):
        snp.block([(A, B)])
    with pytest.raises(ValueError, match="empty"):
        snp.block([[], [A]])


def _rev_cumsum(v):
    return onp.cumsum(v[::-1])


def test_apply_along_axis():
    a = _rand((3, 4, 2))
    _check(lambda np, a: np.apply_along_axis(np.sum, 1, a), a)
    _check(lambda np, a: np.apply_along_axis(np.diff, 0, a), a)
    _check(lambda np, a: np.apply_along_axis(np.outer, -1, a, onp.arange(3.0)), a)
    _check(lambda np, a: np.apply_along_axis(lambda v: v.max() - v.min(), 2, a), a)
    with pytest.raises(ValueError, match="apply_along_axis"):
        snp.apply_along_axis(onp.sum, 0, onp.ones((3, 0)))


@pytest.mark.parametrize("trim", ["fb", "f", "b", "BF"])
def test_trim_zeros(trim):
    for a in [onp.array([0, 0, 3, 0, 4, 0]), onp.array([0.0, 0.0]), onp.array([1, 2]),
              onp.array([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 0, 0]])]:
        _check(lambda np, a: np.trim_zeros(a, trim), a, jit=False)
    _check(lambda np, a: np.trim_zeros(a, trim, axis=1), onp.array([[0, 1, 0], [0, 2, 0]]),
           jit=False)
    with pytest.raises(ConcretizationError, match="trim_zeros"):
        s2s.jit(lambda a: snp.trim_zeros(a))(onp.array([0, 1]))
    with pytest.raises(ValueError, match="trim_zeros"):
        snp.trim_zeros(onp.array([0, 1]), "x")


def test_names_are_exported_and_not_missing():
    import numpy
    from s2s.numpy import _extras, _extras_stats, _missing
    for name in _extras.__all__ + _extras_stats.__all__:
        assert getattr(snp, name) is getattr(_extras if name in _extras.__all__ else
                                             _extras_stats, name)
        assert name not in _missing._ALTERNATIVES, name
        assert name in dir(numpy), name

# ---------------------------------------------------------------------------
# Reverse mode: s2s.grad (reading the composites' source) against central finite
# differences in float64, and jit(grad) against grad.

W = onp.linspace(-1.0, 1.5, 60)
XP = onp.array([-1.0, 0.0, 0.7, 1.5, 3.0])
FP = onp.array([0.5, -1.0, 2.0, 1.0, 4.0])
K3 = onp.array([0.3, -1.1, 0.6])
C6 = onp.cumsum(onp.linspace(0.3, 1.0, 6))
IDX7 = onp.array([0, 2, 2, 4, 1, 0, 2])
NAN35 = onp.zeros((3, 5), bool)
NAN35[0, 1] = NAN35[2, 3] = NAN35[1, 0] = True
PUT_IDX = onp.array([[2], [0], [-1]])

# name -> (expression in ``x`` written with ``np``, input shape, kind of input)
GRAD_CASES = {
    "diff": ("np.sum(np.sin(np.diff(x, 2, axis=0)) * W[:8].reshape(2, 4))", (4, 4), "any"),
    "diff_prepend": ("np.sum(np.diff(x, prepend=x[:1] * 2.0, append=0.5) ** 2)", (5,), "any"),
    "ediff1d": ("np.sum(np.ediff1d(x, to_begin=x[:1], to_end=3.0) ** 2)", (2, 3), "any"),
    "gradient": ("np.sum(np.gradient(x, 0.5) ** 2)", (6,), "any"),
    "gradient_2d": ("np.sum(np.gradient(x)[0] * W[:12].reshape(3, 4)) + "
                    "np.sum(np.gradient(x, axis=1, edge_order=2) ** 2)", (3, 4), "any"),
    "gradient_coords": ("np.sum(np.gradient(x, C6, edge_order=2) ** 2)", (6,), "any"),
    "gradient_wrt_coords": ("np.sum(np.gradient(C6 ** 2, np.cumsum(x ** 2)) * W[:6])", (6,),
                            "positive"),
    "trapezoid": ("np.trapezoid(np.sin(x), dx=0.3)", (5,), "any"),
    "trapezoid_x": ("np.sum(np.trapezoid(x ** 2, x=C6[:4] * 0.5, axis=0) * W[:3])", (4, 3),
                    "any"),
    "trapezoid_wrt_x": ("np.trapezoid(C6 ** 2, x=np.cumsum(x))", (6,), "positive"),
    "interp_fp": ("np.sum(np.interp(np.array([-2.0, 0.3, 1.0, 2.2, 5.0]), XP, x) ** 2)", (5,),
                  "any"),
    "interp_x": ("np.sum(np.interp(x, XP, FP) * W[:6])", (6,), "interp"),
    "interp_xp": ("np.sum(np.interp(np.array([0.3, 1.1, 2.2]), np.cumsum(x), FP) ** 2)", (5,),
                  "positive"),
    "cov": ("np.sum(np.cov(x) * W[:9].reshape(3, 3))", (3, 5), "any"),
    "cov_weights": ("np.sum(np.cov(x, rowvar=False, aweights=W[10:14] ** 2, "
                    "fweights=np.array([1, 2, 1, 3])) ** 2)", (4, 2), "any"),
    "corrcoef": ("np.sum(np.corrcoef(x) * W[:9].reshape(3, 3))", (3, 5), "any"),
    "polyval": ("np.sum(np.polyval(x, np.array([0.5, -1.0, 2.0])) ** 2)", (4,), "any"),
    "polyval_x": ("np.sum(np.polyval(FP, x))", (3,), "any"),
    "vander": ("np.sum(np.vander(x, 4) * W[:12].reshape(3, 4))", (3,), "any"),
    "convolve": ("np.sum(np.convolve(x, K3, 'same') ** 2)", (6,), "any"),
    "convolve_both": ("np.sum(np.convolve(x[:2], x, 'full') * W[:7])", (6,), "any"),
    "correlate": ("np.sum(np.correlate(x, x[1:4] * 2.0, 'valid') ** 2)", (6,), "any"),
    "vecdot": ("np.sum(np.vecdot(x, x[::-1] * W[:4], axis=-1) ** 2)", (3, 4), "any"),
    "matvec": ("np.sum(np.matvec(x, x[0]) ** 2)", (3, 3), "any"),
    "vecmat": ("np.sum(np.vecmat(x[1], x) * W[:3])", (3, 3), "any"),
    "nancumsum": ("np.sum(np.nancumsum(np.where(NAN35, np.nan, x), axis=1) ** 2)", (3, 5),
                  "any"),
    "nancumprod": ("np.sum(np.nancumprod(np.where(NAN35, np.nan, x)))", (3, 5), "any"),
    "nanmedian": ("np.sum(np.nanmedian(np.where(NAN35, np.nan, x), axis=1) * W[:3])", (3, 5),
                  "distinct"),
    "nanquantile": ("np.sum(np.nanquantile(np.where(NAN35, np.nan, x), [0.3, 0.8], axis=0) "
                    "* W[:10].reshape(2, 5))", (3, 5), "distinct"),
    "nanpercentile": ("np.nanpercentile(np.where(NAN35, np.nan, x), 35.0)", (3, 5), "distinct"),
    "select": ("np.sum(np.select([x > 1.2, x < 0.8], [x ** 2, np.sin(x)], default=x * 3.0))",
               (2, 5), "distinct"),
    "rollaxis": ("np.sum(np.rollaxis(x, 2) * W[:24].reshape(4, 2, 3))", (2, 3, 4), "any"),
    "resize": ("np.sum(np.resize(x, (3, 5)) * W[:15].reshape(3, 5))", (2, 3), "any"),
    "block": ("np.sum(np.block([[x, 2.0 * x], [x ** 2, np.ones((2, 2))]]) ** 2)", (2, 2),
              "any"),
    "fill_diagonal": ("np.sum(np.fill_diagonal(x, x[0] * 3.0, inplace=False) ** 2)", (3, 3),
                      "any"),
    "put_along_axis": ("np.sum(np.put_along_axis(x, PUT_IDX, x[:, :1] ** 2, axis=1, "
                       "inplace=False) * W[:12].reshape(3, 4))", (3, 4), "any"),
    "bincount": ("np.sum(np.bincount(IDX7, weights=x) ** 2)", (7,), "any"),
    "frexp": ("np.sum(np.frexp(x * 3.0)[0] ** 2)", (4,), "any"),
}

JIT_GRAD = ["diff", "gradient_2d", "interp_x", "cov", "nanmedian", "convolve", "block",
            "put_along_axis", "polyval"]


def _grad_input(shape, kind):
    r = onp.random.default_rng(abs(hash(shape)) % 1000)
    x = r.uniform(0.5, 1.5, size=shape)
    if kind == "distinct":
        x = x + onp.arange(x.size).reshape(shape) * 0.37 % 1.1
    if kind == "interp":
        x = onp.array([-1.5, -0.4, 0.2, 1.1, 2.0, 3.6])
    return x


_counter = [0]


def _function(name):
    """``f(x)`` with real source (s2s reads it), registered in linecache."""
    expr = GRAD_CASES[name][0]
    _counter[0] += 1
    filename = f"<test_numpy_extras {name} #{_counter[0]}>"
    text = f"def f(x):\n    return {expr}\n"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    env = {"np": snp, "W": W, "XP": XP, "FP": FP, "K3": K3, "C6": C6, "IDX7": IDX7,
           "NAN35": NAN35, "PUT_IDX": PUT_IDX}
    exec(compile(text, filename, "exec"), env)
    return env["f"]


_numerical_grad = central_grad


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_grad_against_finite_differences(name, x64):
    f = _function(name)
    _, shape, kind = GRAD_CASES[name]
    x = _grad_input(shape, kind)
    g = s2s.grad(f)(x)
    assert onp.asarray(g).shape == x.shape
    onp.testing.assert_allclose(g, _numerical_grad(f, x), rtol=1e-5, atol=1e-6)
    if name in JIT_GRAD:
        onp.testing.assert_allclose(s2s.jit(s2s.grad(f))(x), g, rtol=1e-9, atol=1e-12)


def test_grad_float32_dtype():
    f = _function("gradient")
    g = s2s.grad(f)(onp.linspace(0.0, 1.0, 6, dtype=onp.float32))
    assert onp.asarray(g).dtype == F32
