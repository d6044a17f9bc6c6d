"""Tests of sorting and set functions in ``s2s.numpy``.

``sort``/``argsort``/``lexsort``/``searchsorted``/``unique`` are compared with NumPy
(stable sorts, NaNs last) eagerly and under ``s2s.jit``; ``unique(size=...)`` under
jit against NumPy's result padded the documented way; ``partition``/``argpartition``
through the partition property. Misuse raises errors naming the function.
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import ConcretizationError, ShapeError
from cases import assert_close, case_id, rand, sample

F32, F64, I32, U8, BOOL, C64 = (onp.dtype(t) for t in (
    onp.float32, onp.float64, onp.int32, onp.uint8, onp.bool_, onp.complex64))
rng = onp.random.default_rng(2)


def _data(shape, dtype, with_nan=False):
    x = rand(shape, dtype, rng, low=-3, high=3)
    if dtype.kind == "f":
        x = onp.round(x)  # ties exercise stability
        if with_nan and x.size > 2:
            x.flat[::3] = onp.nan
    return x


def _check(f, *args, expected_dtype=None):
    ref = f(onp, *args)
    eager = f(snp, *args)
    staged = s2s.jit(lambda *a: f(snp, *a))(*args)
    refs = ref if isinstance(ref, tuple) else (ref,)
    eagers = eager if isinstance(eager, tuple) else (eager,)
    stageds = staged if isinstance(staged, (tuple, list)) else (staged,)
    for r, e, s in zip(refs, eagers, stageds):
        r = onp.asarray(r)
        dt = onp.dtype(expected_dtype) if expected_dtype else dtypes.canonicalize_dtype(r.dtype)
        assert onp.asarray(e).dtype == dt
        assert_close(e, r.astype(dt), rtol=0, atol=0, err_msg="eager vs numpy")
        assert_close(s, e, rtol=0, atol=0, err_msg="jit vs eager")


SHAPE_AXES = [((6,), -1), ((6,), None), ((3, 5), 0), ((3, 5), 1), ((2, 3, 4), -2),
              ((2, 3, 4), None), ((1,), 0), ((0, 3), 1), ((4, 1), 1)]
SORT_CASES = sample("sort", n=24, fn=["sort", "argsort"], shape_axis=range(len(SHAPE_AXES)),
                    dtype=[F32, I32, U8, BOOL, C64], nan=[False, True])


@pytest.mark.parametrize("case", SORT_CASES, ids=case_id)
def test_sort_argsort(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = _data(shape, case["dtype"], case["nan"])
    if case["fn"] == "sort":
        _check(lambda xnp, x: xnp.sort(x, axis=axis), x)
    else:
        _check(lambda xnp, x: xnp.argsort(x, axis=axis, kind="stable"), x)


def test_sort_float64(request):
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    try:
        x = _data((4, 5), F64, True)
        _check(lambda xnp, x: xnp.argsort(x, axis=0, kind="stable"), x)
    finally:
        s2s.config.update("enable_x64", old)


def test_lexsort():
    a, b = _data((8,), I32), _data((8,), I32)
    _check(lambda xnp, a, b: xnp.lexsort((a, b)), a, b)
    _check(lambda xnp, a, b: xnp.lexsort([a, b, a]), a, b)
    k = _data((2, 3, 4), I32)
    _check(lambda xnp, k: xnp.lexsort(k, axis=0), k)
    _check(lambda xnp, a, b: xnp.lexsort((a, b), axis=-1), _data((3, 4), F32), _data((3, 4), F32))


SEARCH_CASES = sample("searchsorted", n=12, side=["left", "right"], sorter=[False, True],
                      vshape=[(), (5,), (2, 3)], dtype=[F32, I32], nan=[False, True])


@pytest.mark.parametrize("case", SEARCH_CASES, ids=case_id)
def test_searchsorted(case):
    a = _data((7,), case["dtype"], case["nan"])
    v = _data(case["vshape"], case["dtype"], case["nan"])
    kw = dict(side=case["side"])
    if case["sorter"]:
        kw["sorter"] = onp.argsort(a, kind="stable")
        args = (a, v, kw.pop("sorter"))
        _check(lambda xnp, a, v, s: xnp.searchsorted(a, v, sorter=s, **kw), *args)
    else:
        a = onp.sort(a)
        _check(lambda xnp, a, v: xnp.searchsorted(a, v, **kw), a, v)


UNIQUE_CASES = sample("unique", n=12, shape=[(7,), (3, 4), (1,)],
                      flags=[(0, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)],
                      dtype=[F32, I32], nan=[False, True])


@pytest.mark.parametrize("case", UNIQUE_CASES, ids=case_id)
def test_unique(case):
    x = _data(case["shape"], case["dtype"], case["nan"])
    ri, rv, rc = map(bool, case["flags"])
    kw = dict(return_index=ri, return_inverse=rv, return_counts=rc)
    ref = onp.unique(x, **kw)
    refs = ref if isinstance(ref, tuple) else (ref,)
    eager = snp.unique(x, **kw)
    eagers = eager if isinstance(eager, tuple) else (eager,)
    for r, e in zip(refs, eagers):
        assert_close(e, r.astype(dtypes.canonicalize_dtype(r.dtype)), rtol=0, atol=0)
    # With a static size: truncated or padded, the same eagerly and under jit.
    n_unique = refs[0].shape[0]
    for size in (n_unique + 3, max(n_unique - 1, 1)):
        f = lambda x: snp.unique(x, size=size, fill_value=-7, **kw)
        e, s = f(x), s2s.jit(f)(x)
        es = e if isinstance(e, tuple) else (e,)
        ss = s if isinstance(s, (tuple, list)) else (s,)
        k = min(size, n_unique)
        for i, (r, ev, sv) in enumerate(zip(refs, es, ss)):
            assert_close(sv, ev, rtol=0, atol=0)
            if rv and i == 1 + ri:  # the inverse: full length, shaped like x
                assert_close(ev, r.astype(ev.dtype), rtol=0, atol=0)
                continue
            assert ev.shape == (size,)
            assert_close(ev[:k], r[:k].astype(ev.dtype), rtol=0, atol=0)
            pad = -7 if i == 0 else 0
            assert (ev[k:] == pad).all()


def test_unique_default_fill_and_errors():
    x = onp.array([5, 3, 5], onp.int32)
    out = s2s.jit(lambda x: snp.unique(x, size=4))(x)
    assert_close(out, onp.array([3, 5, 3, 3], onp.int32), rtol=0, atol=0)
    with pytest.raises(ConcretizationError, match="unique: .* pass a static size="):
        s2s.jit(lambda x: snp.unique(x))(x)
    assert_close(snp.unique(onp.array([[1, 2], [1, 2]]), axis=0), onp.array([[1, 2]], onp.int32),
                 rtol=0, atol=0)


PART_CASES = sample("partition", n=8, fn=["partition", "argpartition"], kth=[0, 2, -1, (1, 3)],
                    shape_axis=[0, 2, 3, 4])


@pytest.mark.parametrize("case", PART_CASES, ids=case_id)
def test_partition(case):
    shape, axis = SHAPE_AXES[case["shape_axis"]]
    x = _data(shape, F32)
    kth = case["kth"]
    if isinstance(kth, tuple) and max(kth) >= x.shape[axis]:
        kth = kth[:1]
    f = lambda x: getattr(snp, case["fn"])(x, kth, axis=axis)
    e, s = f(x), s2s.jit(f)(x)
    assert_close(s, e, rtol=0, atol=0)
    values = e if case["fn"] == "partition" else onp.take_along_axis(x, e.astype(onp.int64), axis)
    ax = axis % x.ndim
    srt = onp.sort(x, axis=ax)
    for k in (kth if isinstance(kth, tuple) else (kth,)):
        k = k % x.shape[ax]
        kv = onp.take(values, [k], axis=ax)
        assert_close(kv, onp.take(srt, [k], axis=ax), rtol=0, atol=0)
        assert (onp.take(values, range(k), axis=ax) <= kv).all()
        assert (onp.take(values, range(k + 1, x.shape[ax]), axis=ax) >= kv).all()


def test_sorting_errors():
    x = onp.ones((3, 4), F32)
    for fn in ("sort", "argsort"):
        f = lambda x: getattr(snp, fn)(x, axis=2)
        for g in (f, s2s.jit(f)):
            with pytest.raises(ShapeError, match=f"{fn}: axis 2 is out of bounds"):
                g(x)
    with pytest.raises(ShapeError, match="searchsorted: a must be 1-dimensional"):
        snp.searchsorted(x, 1.0)
    with pytest.raises(ValueError, match="searchsorted: side must be"):
        snp.searchsorted(x[0], 1.0, side="middle")
    with pytest.raises(ShapeError, match=r"partition: kth\(=4\) out of bounds \(4\)"):
        snp.partition(x, 4)
    with pytest.raises(ShapeError, match="lexsort: operands could not be broadcast"):
        snp.lexsort((onp.ones(3), onp.ones(4)))
    with pytest.raises(NotImplementedError, match="sort: order="):
        snp.sort(x, order="f")
