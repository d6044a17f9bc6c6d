"""Tests of ``s2s.lax.reductions``: reductions, arg-reductions, cumulative ops, sort and
windowed reductions.

Each family is checked three ways: ``impl`` against an independent NumPy (or
plain-loop) reference, ``s2s.jit`` of the public wrapper against the eager result
(values and dtypes), and misuse raising ``ShapeError``/``DtypeError`` naming the op,
eagerly and under jit. When ``jax`` is importable a few cases are compared with
``jax.lax``.
"""
import functools
import itertools

import numpy as np
import pytest

import s2s
from s2s import lax
from s2s.errors import DtypeError, ShapeError
from cases import assert_close, case_id, rand, sample, tolerance

F32, F64, I32, I16, C64, BOOL = (np.dtype(t) for t in (
    np.float32, np.float64, np.int32, np.int16, np.complex64, np.bool_))


@pytest.fixture
def x64():
    """Turns 64-bit mode on for one test and restores the previous setting."""
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _mode(case, request):
    if F64 in [np.dtype(v) for v in case.values() if isinstance(v, (type, np.dtype))]:
        request.getfixturevalue("x64")


def _close(actual, expected, scale=1.0):
    """Values and dtype match, with a tolerance for the dtype scaled by ``scale``."""
    dt = np.asarray(expected).dtype
    tol = tolerance(dt, scale)
    assert_close(actual, expected, rtol=tol, atol=tol)


def _check_jit(f, *args, scale=1.0):
    """``jit(f)`` gives the eager result (values and dtypes) on ``args``."""
    eager = f(*args)
    staged = s2s.jit(f)(*args)
    if isinstance(eager, tuple):
        assert isinstance(staged, (tuple, list)) and len(staged) == len(eager)
        for e, s in zip(eager, staged):
            _close(s, e, scale)
    else:
        _close(staged, eager, scale)


# ---------------------------------------------------------------------------
# reduce_{sum,prod,max,min,and,or}

SHAPE_AXES = [((), ()), ((5,), (0,)), ((5,), ()), ((3, 4), (1,)), ((3, 4), (0, 1)),
              ((3, 4), (-1,)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (2, 0, 1)), ((2, 0, 3), (1,)),
              ((2, 0, 3), (0,)), ((7, 5), (0,))]
REDUCE_DTYPES = {
    "reduce_sum": [F32, I32, C64, F64], "reduce_prod": [F32, I32, C64, F64],
    "reduce_max": [F32, I32, BOOL, C64, F64], "reduce_min": [F32, I32, BOOL, F64],
    "reduce_and": [BOOL, I32], "reduce_or": [BOOL, I32],
}


def _lowest(dt):
    return False if dt == BOOL else np.iinfo(dt).min if dt.kind in "iu" else -np.inf


def _highest(dt):
    return True if dt == BOOL else np.iinfo(dt).max if dt.kind in "iu" else np.inf


_REDUCE_IDENTITY = {"reduce_sum": lambda dt: 0, "reduce_prod": lambda dt: 1,
                    "reduce_max": _lowest, "reduce_min": _highest,
                    "reduce_and": lambda dt: True if dt == BOOL else -1,
                    "reduce_or": lambda dt: 0}


def _ref_reduce(op, x, axes):
    axes = tuple(a % x.ndim for a in axes) if x.ndim else ()
    out_shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
    if not axes:
        return x.copy()
    if x.size == 0:
        return np.full(out_shape, _REDUCE_IDENTITY[op](x.dtype), x.dtype)
    if op == "reduce_sum":
        return np.sum(x, axis=axes, dtype=x.dtype)
    if op == "reduce_prod":
        return np.prod(x, axis=axes, dtype=x.dtype)
    if op == "reduce_max":
        return np.max(x, axis=axes)
    if op == "reduce_min":
        return np.min(x, axis=axes)
    if x.dtype == BOOL:
        return (np.all if op == "reduce_and" else np.any)(x, axis=axes)
    return (np.bitwise_and if op == "reduce_and" else np.bitwise_or).reduce(x, axis=axes)


REDUCE_CASES = [dict(op=op, **c) for op in REDUCE_DTYPES
                for c in sample(f"reduce-{op}", shape_axes=SHAPE_AXES, dtype=REDUCE_DTYPES[op])]


def _reduce_input(case):
    shape, _ = case["shape_axes"]
    rng = np.random.default_rng(len(shape) + 7 * sum(shape))
    x = rand(shape, case["dtype"], rng, low=-3.0, high=3.0)
    if case["dtype"].kind == "f" and case["op"] in ("reduce_max", "reduce_min") and x.size > 4:
        x.flat[3] = np.nan
    return x


@pytest.mark.parametrize("case", REDUCE_CASES, ids=case_id)
def test_reduce_matches_numpy(case, request):
    _mode(case, request)
    x = _reduce_input(case)
    _, axes = case["shape_axes"]
    out = getattr(lax, case["op"])(x, axes=axes)
    n = max(1, x.size)
    _close(out, _ref_reduce(case["op"], x, axes), scale=n * (30 if case["op"] == "reduce_prod" else 3))


@pytest.mark.parametrize("case", REDUCE_CASES, ids=case_id)
def test_reduce_jit_matches_eager(case, request):
    _mode(case, request)
    x = _reduce_input(case)
    _, axes = case["shape_axes"]
    fn = getattr(lax, case["op"])
    _check_jit(lambda v: fn(v, axes=axes), x, scale=max(1, x.size) * 3)


def test_reduce_keeps_int32_and_weak_scalars():
    assert lax.reduce_sum(np.ones((3, 4), np.int32), axes=(0, 1)).dtype == I32
    assert lax.reduce_sum(2.0, axes=()).dtype == F32
    assert s2s.jit(lambda x: lax.reduce_max(x, axes=(0,)))(np.ones(3, np.int32)).dtype == I32


# ---------------------------------------------------------------------------
# argmax / argmin

ARG_CASES = sample("argminmax", op=["argmax", "argmin"],
                   shape_axis=[((5,), 0), ((3, 4), 1), ((3, 4), -2), ((2, 3, 4), 2), ((1, 6), 0)],
                   dtype=[F32, I32, BOOL, F64], index_dtype=[I32, I16], nan=[False, True], n=16)


def _arg_input(case):
    shape, _ = case["shape_axis"]
    rng = np.random.default_rng(sum(shape))
    x = rand(shape, case["dtype"], rng, low=-2.0, high=2.0)
    if x.dtype.kind == "f":
        x = np.round(x)  # ties
        if case["nan"]:
            x.flat[rng.integers(0, x.size, 2)] = np.nan
    return x


def _ref_arg(op, x, axis):
    moved = np.moveaxis(x, axis, -1)
    flat = moved.reshape(-1, moved.shape[-1])
    out = []
    for row in flat:
        vals = list(row)
        nans = [i for i, v in enumerate(vals) if v != v]
        if nans:
            out.append(nans[0])
            continue
        best = 0
        for i, v in enumerate(vals):
            if (v > vals[best]) if op == "argmax" else (v < vals[best]):
                best = i
        out.append(best)
    return np.array(out).reshape(moved.shape[:-1])


@pytest.mark.parametrize("case", ARG_CASES, ids=case_id)
def test_argminmax_matches_reference(case, request):
    _mode(case, request)
    x = _arg_input(case)
    _, axis = case["shape_axis"]
    out = getattr(lax, case["op"])(x, axis=axis, index_dtype=case["index_dtype"])
    assert out.dtype == case["index_dtype"]
    np.testing.assert_array_equal(out, _ref_arg(case["op"], x, axis))


@pytest.mark.parametrize("case", ARG_CASES, ids=case_id)
def test_argminmax_jit_matches_eager(case, request):
    _mode(case, request)
    x = _arg_input(case)
    _, axis = case["shape_axis"]
    fn = getattr(lax, case["op"])
    _check_jit(lambda v: fn(v, axis=axis, index_dtype=case["index_dtype"]), x)


def test_argminmax_nan_and_ties():
    x = np.array([1.0, np.nan, 3.0, np.nan, 3.0], np.float32)
    for op in (lax.argmax, lax.argmin):
        f = functools.partial(op, axis=0)
        assert int(f(x)) == 1 == int(s2s.jit(f)(x))
    y = np.array([3.0, 1.0, 3.0, -np.inf, 1.0], np.float32)
    assert int(lax.argmax(y, axis=0)) == 0 == int(s2s.jit(lambda v: lax.argmax(v, axis=0))(y))
    assert int(lax.argmin(y, axis=0)) == 3 == int(s2s.jit(lambda v: lax.argmin(v, axis=0))(y))
    z = np.full(4, -np.inf, np.float32)
    assert int(s2s.jit(lambda v: lax.argmax(v, axis=0))(z)) == 0


# ---------------------------------------------------------------------------
# cumsum / cumprod / cummax / cummin

CUM_CASES = sample("cumulative", op=["cumsum", "cumprod", "cummax", "cummin"],
                   shape_axis=[((6,), 0), ((3, 5), 1), ((3, 5), 0), ((2, 3, 4), -1), ((4, 0), 0),
                               ((1, 3), 0)],
                   dtype=[F32, I32, C64, F64], reverse=[False, True], n=24)
CUM_CASES = [c for c in CUM_CASES if not (c["dtype"] == C64 and c["op"] in ("cummax", "cummin"))]


def _cum_input(case):
    shape, _ = case["shape_axis"]
    rng = np.random.default_rng(sum(shape) + 3)
    x = rand(shape, case["dtype"], rng, low=-2.0, high=2.0)
    if case["op"] in ("cummax", "cummin") and x.dtype.kind == "f" and x.size > 5:
        x.flat[4] = np.nan
    return x


def _ref_cumulative(op, x, axis, reverse):
    red = {"cumsum": functools.partial(np.sum, dtype=x.dtype),
           "cumprod": functools.partial(np.prod, dtype=x.dtype),
           "cummax": np.max, "cummin": np.min}[op]
    n = x.shape[axis]
    out = np.empty_like(x)
    for i in range(n):
        idx = range(i, n) if reverse else range(i + 1)
        part = np.take(x, list(idx), axis=axis)
        np.moveaxis(out, axis, 0)[i] = red(part, axis=axis)
    return out


@pytest.mark.parametrize("case", CUM_CASES, ids=case_id)
def test_cumulative_matches_reference(case, request):
    _mode(case, request)
    x = _cum_input(case)
    _, axis = case["shape_axis"]
    out = getattr(lax, case["op"])(x, axis=axis, reverse=case["reverse"])
    _close(out, _ref_cumulative(case["op"], x, axis, case["reverse"]), scale=10 * max(1, x.size))


@pytest.mark.parametrize("case", CUM_CASES, ids=case_id)
def test_cumulative_jit_matches_eager(case, request):
    _mode(case, request)
    x = _cum_input(case)
    _, axis = case["shape_axis"]
    fn = getattr(lax, case["op"])
    _check_jit(lambda v: fn(v, axis=axis, reverse=case["reverse"]), x, scale=10 * max(1, x.size))


# ---------------------------------------------------------------------------
# sort

SORT_CASES = sample("sort", shape_dim=[((7,), 0), ((3, 6), 1), ((3, 6), 0), ((2, 3, 5), -1),
                                       ((4, 0), 0)],
                    key_dtype=[F32, I32, BOOL, C64, F64], n_operands=[1, 2, 3], num_keys=[1, 2],
                    n=16)
SORT_CASES = [c for c in SORT_CASES if c["num_keys"] <= c["n_operands"]]


def _sort_inputs(case):
    shape, _ = case["shape_dim"]
    rng = np.random.default_rng(sum(shape) + case["n_operands"])
    key = rand(shape, case["key_dtype"], rng, low=-2.0, high=2.0)
    if key.dtype.kind in "fc":
        key = np.round(key)  # ties, so stability matters
        if key.dtype.kind == "f" and key.size > 3:
            key.flat[[0, 2]] = np.nan
            key.flat[1] = -0.0
    ops = [key]
    for i in range(1, case["n_operands"]):
        ops.append(rand(shape, [I32, F32][i % 2], rng, low=-1.0, high=1.0))
    return ops


def _sort_key(v):
    """Python sort key: NaNs last, -0.0 == 0.0, complex by (real, imag)."""
    if isinstance(v, (complex, np.complexfloating)):
        return _sort_key(v.real) + _sort_key(v.imag)
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, float) and v != v:
        return (1, 0.0)
    return (0, v)


def _ref_sort(ops, dim, num_keys):
    moved = [np.moveaxis(o, dim, -1) for o in ops]
    lead = moved[0].shape[:-1]
    outs = [np.empty_like(m) for m in moved]
    for idx in itertools.product(*map(range, lead)):
        rows = [m[idx] for m in moved]
        order = sorted(range(len(rows[0])),
                       key=lambda i: tuple(_sort_key(r[i]) for r in rows[:num_keys]) + (i,))
        for o, r in zip(outs, rows):
            o[idx] = r[order]
    return [np.moveaxis(o, -1, dim) for o in outs]


@pytest.mark.parametrize("case", SORT_CASES, ids=case_id)
def test_sort_matches_reference(case, request):
    _mode(case, request)
    ops = _sort_inputs(case)
    _, dim = case["shape_dim"]
    out = lax.sort(*ops, dimension=dim, num_keys=case["num_keys"])
    out = out if isinstance(out, tuple) else (out,)
    for o, e in zip(out, _ref_sort(ops, dim, case["num_keys"])):
        assert_close(o, e, rtol=0, atol=0)


@pytest.mark.parametrize("case", SORT_CASES, ids=case_id)
def test_sort_jit_matches_eager(case, request):
    _mode(case, request)
    ops = _sort_inputs(case)
    _, dim = case["shape_dim"]
    _check_jit(lambda *v: lax.sort(*v, dimension=dim, num_keys=case["num_keys"]), *ops)


def test_sort_matches_numpy_single_key():
    rng = np.random.default_rng(0)
    x = np.round(rng.uniform(-3, 3, (4, 9))).astype(np.float32)
    x[1, [2, 5]] = np.nan
    y = np.arange(36, dtype=np.int32).reshape(4, 9)
    perm = np.argsort(x, axis=1, kind="stable")
    for sx, sy in (lax.sort(x, y), s2s.jit(lambda a, b: lax.sort((a, b)))(x, y)):
        assert_close(sx, np.sort(x, axis=1, kind="stable"), rtol=0, atol=0)
        assert_close(sy, np.take_along_axis(y, perm, axis=1), rtol=0, atol=0)


# ---------------------------------------------------------------------------
# reduce_window and its sum/max/min helpers

WINDOW_CONFIGS = [
    dict(shape=(6,), window_dimensions=(2,), window_strides=(1,), padding="VALID"),
    dict(shape=(7,), window_dimensions=(3,), window_strides=(2,), padding="SAME",
         base_dilation=(2,)),
    dict(shape=(5, 7), window_dimensions=(2, 3), window_strides=(2, 1), padding="SAME",
         window_dilation=(1, 2)),
    dict(shape=(5, 7), window_dimensions=(2, 2), window_strides=(1, 1),
         padding=((1, 0), (2, -1))),
    dict(shape=(4, 6), window_dimensions=(3, 2), window_strides=(1, 3), padding="SAME_LOWER",
         base_dilation=(2, 1), window_dilation=(2, 1)),
    dict(shape=(2, 4, 5), window_dimensions=(1, 2, 2), window_strides=(1, 2, 2),
         padding="VALID"),
    dict(shape=(3, 3), window_dimensions=(5, 1), window_strides=(1, 1), padding="VALID"),
]
WINDOW_CASES = sample("reduce_window", config=range(len(WINDOW_CONFIGS)),
                      computation=["add", "max", "min", "mul"], dtype=[F32, I32, F64],
                      init=["identity", "other"], n=24)


def _window_args(case):
    cfg = dict(WINDOW_CONFIGS[case["config"]])
    shape = cfg.pop("shape")
    rng = np.random.default_rng(sum(shape))
    x = rand(shape, case["dtype"], rng, low=-3.0, high=3.0)
    ident = {"add": 0, "mul": 1, "max": -np.inf, "min": np.inf}[case["computation"]]
    if case["dtype"].kind == "i" and case["computation"] in ("max", "min"):
        info = np.iinfo(case["dtype"])
        ident = info.min if case["computation"] == "max" else info.max
    init = np.asarray(ident if case["init"] == "identity" else 2, case["dtype"])
    return x, init, cfg


def _ref_window(x, init, op, window_dimensions, window_strides=None, padding="VALID",
                base_dilation=None, window_dilation=None):
    """Plain-loop reference of XLA's semantics: ``init`` combined with the operand
    elements each window covers (padding and base-dilation holes are skipped)."""
    nd = x.ndim
    strides = window_strides or (1,) * nd
    bd = base_dilation or (1,) * nd
    wd = window_dilation or (1,) * nd
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(
            x.shape, [(w - 1) * d + 1 for w, d in zip(window_dimensions, wd)], strides, padding)
    fn = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}[op]
    base_shape = [(d - 1) * b + 1 for d, b in zip(x.shape, bd)]
    out_shape = [max(0, (n + lo + hi - ((w - 1) * d + 1)) // s + 1)
                 for n, (lo, hi), w, s, d in zip(base_shape, padding, window_dimensions, strides, wd)]
    out = np.empty(out_shape, x.dtype)
    for o in itertools.product(*map(range, out_shape)):
        acc = init
        for k in itertools.product(*map(range, window_dimensions)):
            src = []
            for oi, ki, s, d, (lo, _), n, b in zip(o, k, strides, wd, padding, base_shape, bd):
                q = oi * s + ki * d - lo  # position in the dilated base
                if not 0 <= q < n or q % b:
                    break
                src.append(q // b)
            else:
                acc = fn(acc, x[tuple(src)])
        out[o] = acc
    return out


@pytest.mark.parametrize("case", WINDOW_CASES, ids=case_id)
def test_reduce_window_matches_reference(case, request):
    _mode(case, request)
    x, init, cfg = _window_args(case)
    out = lax.reduce_window(x, init, computation=case["computation"], **cfg)
    _close(out, _ref_window(x, init, case["computation"], **cfg), scale=20)


@pytest.mark.parametrize("case", WINDOW_CASES, ids=case_id)
def test_reduce_window_jit_matches_eager(case, request):
    _mode(case, request)
    x, init, cfg = _window_args(case)
    comp = case["computation"]
    _check_jit(lambda v, i: lax.reduce_window(v, i, computation=comp, **cfg), x, init, scale=20)
    if case["init"] == "identity" and comp != "mul":
        helper = getattr(lax, {"add": "reduce_window_sum", "max": "reduce_window_max",
                               "min": "reduce_window_min"}[comp])
        _check_jit(lambda v: helper(v, **cfg), x, scale=20)
        _close(helper(x, **cfg), lax.reduce_window(x, init, computation=comp, **cfg), scale=20)


def test_reduce_window_dispatches_identity_init_to_monoid_primitive():
    x = np.arange(6.0, dtype=np.float32)
    text = s2s.jit(lambda v: lax.reduce_window(v, 0.0, computation=lax.add,
                                               window_dimensions=(2,))).lower(x).as_text()
    assert "reduce_window" in text
    assert lax.reduce_window_sum.primitive.name == "reduce_window_sum"


# ---------------------------------------------------------------------------
# Errors: ShapeError/DtypeError naming the op, eagerly and under jit.

_M = np.ones((3, 4), np.float32)
ERROR_CASES = [
    ("reduce_sum", lambda x: lax.reduce_sum(x, axes=(2,)), [_M], ShapeError, "out of bounds"),
    ("reduce_sum", lambda x: lax.reduce_sum(x, axes=(0, -2)), [_M], ShapeError, "repeated axis"),
    ("reduce_sum", lambda x: lax.reduce_sum(x, axes=(0,)), [_M > 0], DtypeError, "bool"),
    ("reduce_prod", lambda x: lax.reduce_prod(x, axes=(0,)), [_M > 0], DtypeError, "bool"),
    ("reduce_and", lambda x: lax.reduce_and(x, axes=(0,)), [_M], DtypeError, "float32"),
    ("reduce_or", lambda x: lax.reduce_or(x, axes=(0,)), [_M], DtypeError, "float32"),
    ("argmax", lambda x: lax.argmax(x, axis=2, index_dtype=np.int32), [_M], ShapeError,
     "out of bounds"),
    ("argmin", lambda x: lax.argmin(x, axis=1, index_dtype=np.int32),
     [np.ones((3, 0), np.float32)], ShapeError, "size 0"),
    ("argmax", lambda x: lax.argmax(x, axis=0, index_dtype=np.float32), [_M], DtypeError,
     "index_dtype"),
    ("argmax", lambda x: lax.argmax(x, axis=0, index_dtype=np.int32), [_M.astype(np.complex64)],
     DtypeError, "complex64"),
    ("cumsum", lambda x: lax.cumsum(x, axis=0), [_M > 0], DtypeError, "bool"),
    ("cummax", lambda x: lax.cummax(x, axis=-3), [_M], ShapeError, "out of bounds"),
    ("cumprod", lambda x: lax.cumprod(x, axis=0), [np.float32(1.0)], ShapeError, "dimension 0"),
    ("sort", lambda x, y: lax.sort(x, y), [_M, np.ones((4, 3), np.float32)], ShapeError,
     r"\(3, 4\), \(4, 3\)"),
    ("sort", lambda x, y: lax.sort(x, y, num_keys=3), [_M, _M], ShapeError, "num_keys"),
    ("sort", lambda x: lax.sort(x, dimension=2), [_M], ShapeError, "out of bounds"),
    ("reduce_window_sum", lambda x: lax.reduce_window_sum(x, window_dimensions=(2,)), [_M],
     ShapeError, "window_dimensions"),
    ("reduce_window_max", lambda x: lax.reduce_window_max(x, window_dimensions=(2, 2),
                                                          window_strides=(0, 1)),
     [_M], ShapeError, "window_strides must be positive"),
    ("reduce_window_min", lambda x: lax.reduce_window_min(x, window_dimensions=(1, 1),
                                                          padding=((0, 0), (-3, -2))),
     [_M], ShapeError, "negative padding"),
    ("reduce_window_sum", lambda x: lax.reduce_window_sum(x, window_dimensions=(1, 1)),
     [_M > 0], DtypeError, "bool"),
    ("reduce_window", lambda x, i: lax.reduce_window(x, i, computation="add",
                                                     window_dimensions=(2, 2)),
     [_M, np.zeros(2, np.float32)], ShapeError, "scalar"),
    ("reduce_window", lambda x, i: lax.reduce_window(x, i, computation="max",
                                                     window_dimensions=(2, 2)),
     [_M, np.int32(3)], DtypeError, "int32"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_errors_name_the_op(case, mode):
    name, f, args, exc, pattern = case
    fn = f if mode == "eager" else s2s.jit(f)
    with pytest.raises(exc, match=pattern) as info:
        fn(*args)
    assert str(info.value).startswith(name + ":") or f"{name} " in str(info.value)


# ---------------------------------------------------------------------------
# Agreement with jax.lax on a few cases (when jax is installed).


def test_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jl = jax.lax
    rng = np.random.default_rng(1)
    x = np.round(rng.uniform(-3, 3, (4, 7))).astype(np.float32)
    x[1, 3] = np.nan
    x[2, 1] = -0.0
    y = rng.standard_normal((4, 7)).astype(np.float32)
    for dim, nk in ((1, 1), (0, 2), (1, 2)):
        ref = jl.sort((x, y), dimension=dim, num_keys=nk)
        for got in (lax.sort(x, y, dimension=dim, num_keys=nk),
                    s2s.jit(lambda a, b: lax.sort(a, b, dimension=dim, num_keys=nk))(x, y)):
            for g, r in zip(got, ref):
                assert_close(g, np.asarray(r), rtol=0, atol=0)
    for comp, jfn, init in (("add", jl.add, 0.0), ("max", jl.max, -np.inf), ("min", jl.min, 1.5),
                            ("mul", jl.mul, 1.0)):
        kw = dict(window_dimensions=(2, 3), window_strides=(1, 2), padding="SAME",
                  base_dilation=(2, 1), window_dilation=(1, 2))
        z = np.nan_to_num(x)
        ref = np.asarray(jl.reduce_window(z, np.float32(init), jfn, **kw))
        _close(lax.reduce_window(z, init, computation=comp, **kw), ref, scale=10)
        _close(s2s.jit(lambda v: lax.reduce_window(v, init, computation=comp, **kw))(z), ref,
               scale=10)
    for op in ("argmax", "argmin"):
        ref = np.asarray(getattr(jl, op)(x, 1, np.int32))
        np.testing.assert_array_equal(getattr(lax, op)(x, axis=1, index_dtype=np.int32), ref)
    np.testing.assert_allclose(lax.cumsum(y, axis=1, reverse=True),
                               np.asarray(jl.cumsum(y, axis=1, reverse=True)), rtol=1e-5, atol=1e-5)
