"""Tests of the NumPy reductions in ``s2s.numpy``.

Each function is checked against NumPy on generated shapes, axes, dtypes and
``keepdims``: the eager result must match NumPy's value (and NumPy's dtype,
canonicalized to 32 bits unless x64 is on), and ``s2s.jit`` must give the eager
value and dtype. Misuse must raise ``ShapeError``/``NotImplementedError`` naming the
function, eagerly and under jit.
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import ShapeError
from cases import assert_close, case_id, rand, sample, tolerance

F32, F64, F16, I32, I8, U8, C64, BOOL = (onp.dtype(t) for t in (
    onp.float32, onp.float64, onp.float16, onp.int32, onp.int8, onp.uint8, onp.complex64,
    onp.bool_))


@pytest.fixture
def x64():
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _needs_x64(case, request):
    if any(isinstance(v, onp.dtype) and v in (F64,) for v in case.values()):
        request.getfixturevalue("x64")


def _check(f, *args, expected_dtype=None, scale=1.0, ref_args=None):
    """f(numpy) ~ f(s2s.numpy) eagerly and under jit (values and dtypes)."""
    ref = f(onp, *(ref_args or args))
    eager = f(snp, *args)
    staged = s2s.jit(lambda *a: f(snp, *a))(*args)
    refs, eagers, stageds = (r if isinstance(r, tuple) else (r,) for r in (ref, eager, staged))
    for r, e, s in zip(refs, eagers, stageds):
        r = onp.asarray(r)
        dt = onp.dtype(expected_dtype) if expected_dtype else dtypes.canonicalize_dtype(r.dtype)
        tol = tolerance(dt if dt.kind in "fc" else F32, scale) if dt.kind in "fc" else 0
        assert onp.asarray(e).dtype == dt, f"eager dtype {onp.asarray(e).dtype} != {dt}"
        assert_close(e, r.astype(dt), rtol=tol, atol=tol, err_msg="eager vs numpy")
        assert_close(s, e, rtol=tol, atol=tol, err_msg="jit vs eager")


SHAPE_AXES = [((5,), None), ((5,), 0), ((3, 4), None), ((3, 4), 1), ((3, 4), -2),
              ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, 0, 1)), ((2, 3, 4), 1), ((), None),
              ((4, 1), 0)]
rng = onp.random.default_rng(0)

# ---------------------------------------------------------------------------
# sum, prod, max, min, mean, var, std, ptp, all, any, count_nonzero

SIMPLE = {
    "sum": [F32, I32, I8, U8, BOOL, C64, F16],
    "prod": [F32, I32, I8, BOOL],
    "max": [F32, I32, I8, BOOL],
    "min": [F32, I32, U8],
    "mean": [F32, I32, BOOL, C64, F16],
    "var": [F32, I32, C64],
    "std": [F32, I32, C64],
    "ptp": [F32, I32],
    "all": [F32, I32, BOOL],
    "any": [F32, I32, BOOL],
    "count_nonzero": [F32, I32, BOOL],
    "nansum": [F32, I32],
    "nanmean": [F32],
    "nanmax": [F32, I32],
    "nanmin": [F32],
    "nanvar": [F32],
    "nanstd": [F32],
    "nanprod": [F32],
}
SIMPLE_CASES = [dict(fn=fn, **c) for fn, dts in SIMPLE.items() for c in sample(
    f"reduce-{fn}", n=6, shape_axis=range(len(SHAPE_AXES)), dtype=dts, keepdims=[False, True])]


@pytest.mark.parametrize("case", SIMPLE_CASES, ids=case_id)
def test_simple_reductions(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = rand(shape, case["dtype"], rng, low=-2, high=3)
    if case["fn"].startswith("nan") and x.dtype.kind == "f" and x.size > 2:
        x.flat[1] = onp.nan
    kwargs = dict(axis=axis, keepdims=case["keepdims"])
    if case["fn"] in ("var", "std", "nanvar", "nanstd"):
        kwargs["ddof"] = 1 if x.size > 4 else 0
    scale = 20 if case["fn"] in ("prod", "nanprod") else 5
    _check(lambda xnp, x: getattr(xnp, case["fn"])(x, **kwargs), x, scale=scale)


@pytest.mark.parametrize("dtype", [F64, I32, BOOL, U8], ids=str)
def test_sum_prod_mean_dtypes_under_x64(x64, dtype):
    x = rand((3, 4), dtype, rng)
    for fn in ("sum", "prod", "cumsum", "mean", "var", "max"):
        _check(lambda xnp, x: getattr(xnp, fn)(x, axis=0), x, scale=10)


def test_dtype_argument():
    x = rand((3, 4), I32, rng)
    _check(lambda xnp, x: xnp.sum(x, axis=1, dtype=onp.float32), x)
    _check(lambda xnp, x: xnp.mean(x, dtype=onp.float32), x)
    _check(lambda xnp, x: xnp.prod(x, axis=0, dtype=onp.int8), x)


def test_initial_and_where():
    x = rand((3, 4), F32, rng)
    mask = rand((3, 4), BOOL, rng)
    _check(lambda xnp, x, m: xnp.sum(x, axis=1, initial=2.0, where=m), x, mask)
    _check(lambda xnp, x, m: xnp.max(x, axis=0, initial=-1.0, where=m), x, mask)
    _check(lambda xnp, x, m: xnp.min(x, initial=0.5, where=m), x, mask)
    _check(lambda xnp, x, m: xnp.prod(x, axis=0, where=m), x, mask)
    full_rows = mask.copy()
    full_rows[:, :2] = True
    _check(lambda xnp, x, m: xnp.mean(x, axis=1, where=m), x, full_rows)
    _check(lambda xnp, x, m: xnp.var(x, axis=1, where=m), x, full_rows)
    _check(lambda xnp, x, m: xnp.std(x, axis=1, where=m, ddof=1), x, full_rows)
    _check(lambda xnp, x, m: xnp.all(x > 0, axis=0, where=m), x, mask)
    _check(lambda xnp, x, m: xnp.any(x > 0, axis=1, where=m), x, mask)
    _check(lambda xnp, x: xnp.max(x, axis=0, initial=5.0), onp.zeros((0, 3), F32))


def test_nan_semantics():
    x = onp.array([[1.0, onp.nan, 3.0], [onp.nan, onp.nan, onp.nan], [4.0, 5.0, 6.0]], F32)
    for fn in ("max", "min", "sum", "mean", "median", "argmax", "argmin"):
        _check(lambda xnp, x: getattr(xnp, fn)(x, axis=1), x)
    with onp.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        for fn in ("nanmax", "nanmin", "nanmean", "nansum", "nanvar"):
            _check(lambda xnp, x: getattr(xnp, fn)(x, axis=1), x)


# ---------------------------------------------------------------------------
# argmax / argmin, cumulative


ARG_CASES = sample("argminmax", fn=["argmax", "argmin"], shape_axis=[0, 1, 2, 3, 4, 7, 9],
                   dtype=[F32, I32, BOOL], keepdims=[False, True], n=10)


@pytest.mark.parametrize("case", ARG_CASES, ids=case_id)
def test_argminmax(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    if isinstance(axis, tuple):
        axis = axis[0]
    x = rand(shape, case["dtype"], rng, low=-2, high=2)
    _check(lambda xnp, x: getattr(xnp, case["fn"])(x, axis=axis, keepdims=case["keepdims"]), x)


CUM_CASES = sample("cumulative", fn=["cumsum", "cumprod"], shape_axis=[0, 1, 2, 3, 4, 7],
                   dtype=[F32, I32, I8, BOOL, U8], n=10)


@pytest.mark.parametrize("case", CUM_CASES, ids=case_id)
def test_cumulative(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = rand(shape, case["dtype"], rng, low=-2, high=3)
    _check(lambda xnp, x: getattr(xnp, case["fn"])(x, axis=axis), x, scale=10)


def test_cumulative_sum_api():
    x = rand((3, 4), I32, rng)
    _check(lambda xnp, x: xnp.cumulative_sum(x, axis=1, include_initial=True), x)
    _check(lambda xnp, x: xnp.cumulative_prod(x, axis=0), x)
    _check(lambda xnp, x: xnp.cumulative_sum(x, dtype=onp.float32), x[0])


# ---------------------------------------------------------------------------
# Order statistics and averages

Q_CASES = sample("quantile", shape_axis=[0, 1, 2, 3, 5, 6, 7, 9],
                 q=[0.5, 0.0, 1.0, 0.3, (0.1, 0.75, 0.9), ((0.2, 0.4), (0.5, 1.0))],
                 method=["linear", "lower", "higher", "nearest", "midpoint"],
                 dtype=[F32, I32], keepdims=[False, True], n=14)


@pytest.mark.parametrize("case", Q_CASES, ids=case_id)
def test_quantile(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = rand(shape, case["dtype"], rng, low=-5, high=5)
    q = onp.asarray(case["q"], F32) if isinstance(case["q"], tuple) else case["q"]
    kw = dict(axis=axis, method=case["method"], keepdims=case["keepdims"])
    exp = dtypes.to_inexact_dtype(x.dtype)
    _check(lambda xnp, x: xnp.quantile(x, q, **kw), x, expected_dtype=exp)
    _check(lambda xnp, x: xnp.percentile(x, onp.asarray(q) * 100, **kw), x, expected_dtype=exp,
           scale=5)


def test_quantile_staged_q():
    x = rand((4, 6), F32, rng)
    q = onp.array([0.25, 0.5, 0.8], F32)
    ref = onp.quantile(x, q, axis=1)
    out = s2s.jit(lambda x, q: snp.quantile(x, q, axis=1))(x, q)
    assert_close(out, ref.astype(F32), rtol=1e-5, atol=1e-5)


MEDIAN_CASES = sample("median", shape_axis=range(len(SHAPE_AXES)), dtype=[F32, I32, BOOL],
                      keepdims=[False, True], n=8)


@pytest.mark.parametrize("case", MEDIAN_CASES, ids=case_id)
def test_median(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = rand(shape, case["dtype"], rng, low=-5, high=5)
    _check(lambda xnp, x: xnp.median(x, axis=axis, keepdims=case["keepdims"]), x)


AVG_CASES = sample("average", shape_axis=[0, 1, 3, 4, 5, 7], weights=[None, "full", "1d"],
                   returned=[False, True], dtype=[F32, I32], n=10)


@pytest.mark.parametrize("case", AVG_CASES, ids=case_id)
def test_average(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = rand(shape, case["dtype"], rng)
    w = None
    if case["weights"] == "full":
        w = rand(shape, F32, rng, low=0.5, high=2)
    elif case["weights"] == "1d" and isinstance(axis, int):
        w = rand((shape[axis],), F32, rng, low=0.5, high=2)
    args = (x,) if w is None else (x, w)
    _check(lambda xnp, x, w=None: xnp.average(x, axis=axis, weights=w,
                                              returned=case["returned"]), *args)


# ---------------------------------------------------------------------------
# Errors


def _both(f, *args):
    """Runs ``f`` eagerly and under jit, collecting the two exceptions."""
    errors = []
    for g in (f, s2s.jit(f)):
        with pytest.raises(Exception) as info:
            g(*args)
        errors.append(info.value)
    return errors


def test_axis_errors():
    x = onp.ones((3, 4), F32)
    for fn in ("sum", "max", "mean", "var", "argmax", "all", "median", "cumsum"):
        for err in _both(lambda x: getattr(snp, fn)(x, axis=2), x):
            assert isinstance(err, ShapeError), (fn, err)
            assert "axis 2 is out of bounds for array of dimension 2" in str(err)
    for err in _both(lambda x: snp.sum(x, axis=(0, 0)), x):
        assert isinstance(err, ShapeError) and "repeated axis" in str(err)


def test_empty_errors():
    x = onp.zeros((0, 3), F32)
    for fn in ("max", "min", "argmax"):
        for err in _both(lambda x: getattr(snp, fn)(x, axis=0), x):
            assert isinstance(err, ShapeError) and fn in str(err), err
    assert snp.max(x, axis=1).shape == (0,)


def test_out_and_bad_args():
    x = onp.ones(3, F32)
    for fn in ("sum", "prod", "max", "mean", "var", "std", "argmax", "all", "cumsum", "median"):
        with pytest.raises(NotImplementedError, match=f"{fn}: the out= argument"):
            getattr(snp, fn)(x, out=onp.empty(()))
    with pytest.raises(ValueError, match="quantiles must be in the range"):
        snp.quantile(x, 1.5)
    with pytest.raises(ValueError, match="initial="):
        snp.max(x, where=x > 0)
    with pytest.raises(ShapeError, match="average: axis must be specified"):
        snp.average(onp.ones((2, 3)), weights=onp.ones(3))
    with pytest.raises(ShapeError, match="length of weights"):
        snp.average(onp.ones((2, 3)), axis=0, weights=onp.ones(3))
