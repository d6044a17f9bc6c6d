"""Structural primitives (s2s/lax/structural.py): impl against independent NumPy
references, jit against eager (values and dtype), and error messages eager and staged.

References here are written directly from the semantics (loops over elements for
gather/scatter/pad), never by calling the primitives' impl rules.
"""
import itertools
import math
import zlib

import numpy as np
import pytest

import s2s
from s2s import lax
from s2s.errors import DtypeError, LoweringError, ShapeError
from s2s.lax import structural

from cases import assert_close, case_id, rand, sample

DTYPES = [np.float32, np.int32, np.bool_, np.complex64]
NUMERIC = [np.float32, np.int32, np.complex64]


@pytest.fixture
def x64():
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _rng(case):
    return np.random.default_rng(zlib.crc32(case_id(case).encode()))


def _jit(fn, **params):
    return s2s.jit(lambda *args: fn(*args, **params))


def check(fn, args, expected, exact=True, **params):
    """(1) eager equals ``expected``; (2) jit equals eager, dtype included."""
    out = fn(*args, **params)
    expected = np.asarray(expected)
    assert out.dtype == expected.dtype, (out.dtype, expected.dtype)
    if exact:
        np.testing.assert_array_equal(out, expected)
    else:
        assert_close(out, expected)
    staged = _jit(fn, **params)(*args)
    assert staged.dtype == out.dtype and staged.shape == out.shape
    if exact:
        np.testing.assert_array_equal(staged, out)
    else:
        assert_close(staged, out)
    return out


def check_error(exc, opname, fn, args, match=None, **params):
    """The same typed error, naming ``opname``, eagerly and under jit (never an XLA error)."""
    for run in (lambda: fn(*args, **params), lambda: _jit(fn, **params)(*args)):
        with pytest.raises(exc) as info:
            run()
        assert not isinstance(info.value, LoweringError)
        assert opname in str(info.value), str(info.value)
        if match:
            assert match in str(info.value), str(info.value)


def _staged_bind(prim, *args, **params):
    """jit of a bare ``prim.bind`` (also for primitives without operands, like iota)."""
    def f(dummy, *xs):
        return dummy._trace.process_primitive(prim, list(xs), params)
    return s2s.jit(f)(np.float32(0), *args)


SHAPES = [(3,), (2, 3), (2, 1, 4), (1,), (3, 0)]

# ---------------------------------------------------------------------------
# convert_element_type and bitcast_convert_type.


def _ref_convert(x, dt):
    dt = np.dtype(dt)
    out = np.empty(x.shape, dt)
    for i in np.ndindex(x.shape):
        v = x[i]
        if np.iscomplexobj(v) and dt.kind != "c":
            v = v.real
        if np.asarray(v).dtype.kind == "f":
            v = float(v)
        if dt == np.bool_:
            out[i] = v != 0
        elif dt.kind in "iu" and isinstance(v, float):
            info = np.iinfo(dt)
            out[i] = 0 if math.isnan(v) else (info.max if v >= info.max else
                                               info.min if v <= info.min else math.trunc(v))
        else:
            with np.errstate(over="ignore"):
                out[i] = np.asarray(v).astype(dt)
    return out


@pytest.mark.parametrize("case", sample("convert", src=DTYPES, dst=DTYPES + [np.uint8, np.int8],
                                        shape=SHAPES[:3], n=24), ids=case_id)
def test_convert_element_type(case):
    rng = _rng(case)
    x = rand(case["shape"], case["src"], rng, low=-300, high=300)
    if np.dtype(case["dst"]).kind in "iu" and np.dtype(case["src"]).kind in "iu":
        x = x.astype(np.int64).astype(case["src"])  # wraps; reference via astype below
    out = check(lax.convert_element_type, [x], _ref_convert(x, case["dst"]),
                new_dtype=case["dst"])
    assert out.dtype == np.dtype(case["dst"])


def test_convert_element_type_special_values():
    x = np.array([-2.7, 2.7, np.nan, np.inf, -np.inf, 3e9, -3e9, -0.5], np.float32)
    for dt in [np.int32, np.uint32, np.int8, np.uint8, np.bool_]:
        check(lax.convert_element_type, [x], _ref_convert(x, dt), new_dtype=dt)
    # complex -> real keeps the real part (bool too, as jax.lax does)
    z = np.array([1j, 2 + 1j, 0, -1.5 - 3j], np.complex64)
    check(lax.convert_element_type, [z], np.array([0, 2, 0, -1.5], np.float32), new_dtype=np.float32)
    check(lax.convert_element_type, [z], np.array([False, True, False, True]), new_dtype=bool)
    # 64-bit requests are canonicalized; Python scalars work
    assert lax.convert_element_type(1.5, new_dtype=np.float64).dtype == np.float32
    assert lax.convert_element_type(np.arange(3), new_dtype=int).dtype == np.int32


def test_convert_element_type_x64(x64):
    x = np.array([-2.7, 2.7, np.nan, 1e300, -1e300, 2.0**53 + 2], np.float64)
    for dt in [np.int64, np.uint64, np.int32, np.float32, np.complex128]:
        out = check(lax.convert_element_type, [x], _ref_convert(x, dt), new_dtype=dt)
        assert out.dtype == dt
    assert lax.convert_element_type(np.float32(1), new_dtype=np.float64).dtype == np.float64


@pytest.mark.parametrize("case", sample("bitcast", src=[np.float32, np.int32, np.uint8, np.int16],
                                        dst=[np.float32, np.int32, np.uint8, np.int16],
                                        lead=[(), (2,), (3, 2)], n=16), ids=case_id)
def test_bitcast_convert_type(case):
    src, dst = np.dtype(case["src"]), np.dtype(case["dst"])
    shape = case["lead"] + ((dst.itemsize // src.itemsize,) if dst.itemsize > src.itemsize else ())
    x = rand(shape, src, _rng(case), low=-100, high=100)
    if dst.itemsize < src.itemsize:
        ref_shape = case["lead"] + (src.itemsize // dst.itemsize,)
    else:
        ref_shape = case["lead"]
    ref = np.frombuffer(np.ascontiguousarray(x).tobytes(), dst).reshape(ref_shape)
    check(lax.bitcast_convert_type, [x], ref, new_dtype=dst)


# ---------------------------------------------------------------------------
# iota, broadcast_in_dim, reshape, squeeze, expand_dims, transpose, rev.


@pytest.mark.parametrize("case", sample("iota", dtype=[np.float32, np.int32, np.complex64, np.uint8],
                                        shape=[(5,), (2, 3), (3, 1, 4)], dimension=[0, 1, -1]),
                         ids=case_id)
def test_iota(case):
    shape, dim = case["shape"], case["dimension"]
    if dim >= len(shape):
        return
    ref = np.indices(shape)[dim % len(shape)].astype(case["dtype"])
    out = lax.broadcasted_iota(case["dtype"], shape, dim)
    if len(shape) == 1:
        np.testing.assert_array_equal(lax.iota(case["dtype"], shape[0]), ref)
    assert out.dtype == ref.dtype
    np.testing.assert_array_equal(out, ref)
    staged = _staged_bind(structural.iota_p, dtype=np.dtype(case["dtype"]), shape=shape,
                          dimension=dim)
    assert staged.dtype == out.dtype
    np.testing.assert_array_equal(staged, out)


BCAST = [((3,), (2, 3), (1,)), ((3,), (3, 2), (0,)), ((1, 4), (2, 3, 4), (0, 2)),
         ((), (2, 2), ()), ((2, 1), (2, 5), (0, 1)), ((2,), (2, 0), (0,))]


@pytest.mark.parametrize("case", sample("bcast", spec=BCAST, dtype=DTYPES), ids=case_id)
def test_broadcast_in_dim(case):
    xshape, shape, bdims = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    ref = np.empty(shape, x.dtype)
    for o in np.ndindex(shape):
        ref[o] = x[tuple(0 if xshape[i] == 1 else o[d] for i, d in enumerate(bdims))]
    check(lax.broadcast_in_dim, [x], ref, shape=shape, broadcast_dimensions=bdims)


RESHAPES = [((2, 3), (6,), None), ((2, 3), (3, 2), (1, 0)), ((2, 3, 4), (4, 6), (2, 0, 1)),
            ((6,), (1, 2, 1, 3), None), ((), (1, 1), None), ((2, 0), (0, 5), None)]


@pytest.mark.parametrize("case", sample("reshape", spec=RESHAPES, dtype=DTYPES), ids=case_id)
def test_reshape(case):
    xshape, new, dims = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    flat = [x[i] for i in itertools.product(*[range(d) for d in xshape])] if dims is None else \
        [x[tuple(i[dims.index(k)] for k in range(len(xshape)))]
         for i in itertools.product(*[range(xshape[p]) for p in dims])]
    ref = np.array(flat, x.dtype).reshape(new)
    check(lax.reshape, [x], ref, new_sizes=new, dimensions=dims)


@pytest.mark.parametrize("case", sample("squeeze", spec=[((1, 3, 1), (0, 2)), ((1, 3, 1), (-1,)),
                                                         ((1,), (0,)), ((2, 3), ())],
                                        dtype=DTYPES), ids=case_id)
def test_squeeze(case):
    xshape, dims = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    keep = [d for i, d in enumerate(xshape) if i not in [a % len(xshape) for a in dims]]
    check(lax.squeeze, [x], x.reshape(keep), dimensions=dims)


@pytest.mark.parametrize("case", sample("expand_dims", spec=[((3,), (0,)), ((3,), (-1,)),
                                                             ((2, 3), (0, 3)), ((), (0, 1))],
                                        dtype=DTYPES), ids=case_id)
def test_expand_dims(case):
    xshape, dims = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    ndim = len(xshape) + len(dims)
    where = {d % ndim for d in dims}
    it = iter(xshape)
    shape = tuple(1 if i in where else next(it) for i in range(ndim))
    check(lax.expand_dims, [x], x.reshape(shape), dimensions=dims)


@pytest.mark.parametrize("case", sample("transpose", spec=[((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)),
                                                           ((2, 3, 4), (0, 1, 2)), ((), ()),
                                                           ((2, 3), (-1, 0))],
                                        dtype=DTYPES), ids=case_id)
def test_transpose(case):
    xshape, perm = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    perm_c = [p % len(xshape) for p in perm]
    ref = np.empty([xshape[p] for p in perm_c], x.dtype)
    for o in np.ndindex(ref.shape):
        src = [0] * len(xshape)
        for i, p in enumerate(perm_c):
            src[p] = o[i]
        ref[o] = x[tuple(src)]
    check(lax.transpose, [x], ref, permutation=perm)


@pytest.mark.parametrize("case", sample("rev", spec=[((5,), (0,)), ((2, 3), (1,)), ((2, 3), (0, -1)),
                                                     ((2, 3), ())], dtype=DTYPES), ids=case_id)
def test_rev(case):
    xshape, dims = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    dims_c = {d % len(xshape) for d in dims}
    ref = np.empty_like(x)
    for o in np.ndindex(xshape):
        ref[o] = x[tuple(n - 1 - i if a in dims_c else i for a, (i, n) in enumerate(zip(o, xshape)))]
    check(lax.rev, [x], ref, dimensions=dims)


# ---------------------------------------------------------------------------
# pad, concatenate, slice.


def _ref_pad(x, value, config):
    shape = [lo + hi + d + max(d - 1, 0) * i for d, (lo, hi, i) in zip(x.shape, config)]
    out = np.full(shape, value, x.dtype)
    for src in np.ndindex(x.shape):
        dst = tuple(lo + k * (i + 1) for k, (lo, _, i) in zip(src, config))
        if all(0 <= p < n for p, n in zip(dst, shape)):
            out[dst] = x[src]
    return out


PADS = [((3,), [(1, 2, 0)]), ((3,), [(0, 0, 2)]), ((3,), [(-1, 1, 1)]), ((4,), [(-2, -1, 0)]),
        ((2, 3), [(1, -1, 1), (0, 2, 3)]), ((2, 0), [(1, 1, 1), (1, 0, 2)]), ((), []),
        ((3,), [(-3, -2, 1)])]


@pytest.mark.parametrize("case", sample("pad", spec=PADS, dtype=DTYPES), ids=case_id)
def test_pad(case):
    xshape, config = case["spec"]
    rng = _rng(case)
    x = rand(xshape, case["dtype"], rng)
    value = rand((), case["dtype"], rng)
    check(lax.pad, [x, value], _ref_pad(x, value, config), padding_config=config)


def test_pad_weak_padding_value():
    x = np.arange(3, dtype=np.float32)
    out = check(lax.pad, [x, 7], _ref_pad(x, 7, [(1, 1, 0)]), padding_config=[(1, 1, 0)])
    assert out.dtype == np.float32


@pytest.mark.parametrize("case", sample("concatenate", spec=[([(2,), (3,)], 0), ([(2, 3), (2, 1), (2, 0)], 1),
                                                              ([(2, 3), (1, 3)], -2), ([(4,)], 0)],
                                        dtype=DTYPES), ids=case_id)
def test_concatenate(case):
    shapes, dim = case["spec"]
    rng = _rng(case)
    xs = [rand(s, case["dtype"], rng) for s in shapes]
    out = check(lax.concatenate, xs, np.concatenate(xs, axis=dim), dimension=dim)
    np.testing.assert_array_equal(lax.concatenate(xs, dimension=dim), out)  # one list works too


SLICES = [((5,), (1,), (4,), None), ((5,), (0,), (5,), (2,)), ((4, 6), (1, 0), (3, 6), (1, 4)),
          ((4, 6), (2, 3), (2, 5), None), ((3,), (3,), (3,), (1,))]


@pytest.mark.parametrize("case", sample("slice", spec=SLICES, dtype=DTYPES), ids=case_id)
def test_slice(case):
    xshape, start, limit, strides = case["spec"]
    x = rand(xshape, case["dtype"], _rng(case))
    st = strides or (1,) * len(xshape)
    ref = np.empty([len(range(s, l, k)) for s, l, k in zip(start, limit, st)], x.dtype)
    for o in np.ndindex(ref.shape):
        ref[o] = x[tuple(s + i * k for s, i, k in zip(start, o, st))]
    check(lax.slice, [x], ref, start_indices=start, limit_indices=limit, strides=strides)


# ---------------------------------------------------------------------------
# dynamic_slice, dynamic_update_slice.


def _wrap(i, d):
    """JAX's allow_negative_indices: a negative start counts from the end."""
    return i + d if i < 0 else i


def _clamp(i, lo, hi):
    return lo if i < lo else hi if i > hi else i


@pytest.mark.parametrize("case", sample("dynamic_slice", shape=[(5,), (4, 6), (3, 2, 4)],
                                        dtype=DTYPES, index_dtype=[np.int32, np.int8, np.uint32],
                                        n=12), ids=case_id)
def test_dynamic_slice(case):
    rng = _rng(case)
    shape = case["shape"]
    x = rand(shape, case["dtype"], rng)
    sizes = tuple(int(rng.integers(0, d + 1)) for d in shape)
    lo = 0 if case["index_dtype"] == np.uint32 else -3
    idx = [np.asarray(rng.integers(lo, d + 3), case["index_dtype"]) for d in shape]
    starts = [_clamp(_wrap(int(i), d), 0, d - s) for i, d, s in zip(idx, shape, sizes)]
    ref = x[tuple(slice(s, s + n) for s, n in zip(starts, sizes))]
    check(lax.dynamic_slice, [x, idx], ref, slice_sizes=sizes)


def test_dynamic_slice_index_forms():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    ref = x[1:3, 2:4]
    np.testing.assert_array_equal(lax.dynamic_slice(x, (1, 5), (2, 2)), ref)
    np.testing.assert_array_equal(lax.dynamic_slice(x, [1, 5], slice_sizes=(2, 2)), ref)
    np.testing.assert_array_equal(lax.dynamic_slice(x, np.array([1, 5]), (2, 2)), ref)
    staged = s2s.jit(lambda x, i: lax.dynamic_slice(x, i, (2, 2)))(x, np.array([1, 5]))
    np.testing.assert_array_equal(staged, ref)
    np.testing.assert_array_equal(lax.dynamic_slice(x, (-7, 1), (2, 2)), x[0:2, 1:3])
    with pytest.raises(TypeError, match="sequence of scalars"):
        lax.dynamic_slice(x[0], 1, (2,))


@pytest.mark.parametrize("case", sample("dynamic_update_slice", shape=[(5,), (4, 6), (3, 2, 4)],
                                        dtype=DTYPES, index_dtype=[np.int32, np.int16], n=12),
                         ids=case_id)
def test_dynamic_update_slice(case):
    rng = _rng(case)
    shape = case["shape"]
    x = rand(shape, case["dtype"], rng)
    ushape = tuple(int(rng.integers(0, d + 1)) for d in shape)
    update = rand(ushape, case["dtype"], rng)
    idx = [np.asarray(rng.integers(-3, d + 3), case["index_dtype"]) for d in shape]
    ref = x.copy()
    for u in np.ndindex(ushape):
        ref[tuple(_clamp(_wrap(int(i), d), 0, d - n) + k
                  for i, d, n, k in zip(idx, shape, ushape, u))] = update[u]
    check(lax.dynamic_update_slice, [x, update, idx], ref)
    assert not np.shares_memory(lax.dynamic_update_slice(x, update, idx), x)


# ---------------------------------------------------------------------------
# select_n, clamp.


@pytest.mark.parametrize("case", sample("select_n", ncases=[1, 2, 3, 5], dtype=DTYPES,
                                        which=["bool", "int32", "scalar"], shape=[(4,), (2, 3)],
                                        n=14), ids=case_id)
def test_select_n(case):
    rng = _rng(case)
    n, shape = case["ncases"], case["shape"]
    if case["which"] == "bool" and n > 2:
        return
    cases = [rand(shape, case["dtype"], rng) for _ in range(n)]
    if case["which"] == "bool":
        which = rng.random(shape) < 0.5
    elif case["which"] == "int32":
        which = rng.integers(0, n, shape).astype(np.int32)
    else:
        which = np.int32(rng.integers(0, n))
    ref = np.empty(shape, cases[0].dtype)
    for o in np.ndindex(shape):
        ref[o] = cases[int(which if which.ndim == 0 else which[o])][o]
    check(lax.select_n, [which, *cases], ref)


@pytest.mark.parametrize("case", sample("clamp", dtype=[np.float32, np.int32, np.bool_],
                                        bounds=["scalar", "array"], shape=[(5,), (2, 3)]),
                         ids=case_id)
def test_clamp(case):
    rng = _rng(case)
    shape = case["shape"]
    x = rand(shape, case["dtype"], rng)
    bshape = () if case["bounds"] == "scalar" else shape
    lo = rand(bshape, case["dtype"], rng, low=-3, high=0)
    hi = rand(bshape, case["dtype"], rng, low=0, high=3)
    ref = np.empty(shape, x.dtype)
    for o in np.ndindex(shape):
        lo_o, hi_o = (lo, hi) if lo.ndim == 0 else (lo[o], hi[o])
        ref[o] = hi_o if max(x[o], lo_o) > hi_o else max(x[o], lo_o)
    check(lax.clamp, [lo, x, hi], ref)
    out = check(lax.clamp, [0, x.astype(np.float32), 1], np.clip(x.astype(np.float32), 0, 1))
    assert out.dtype == np.float32  # weak Python bounds adopt x's dtype


# ---------------------------------------------------------------------------
# gather and scatter.

G = lax.GatherDimensionNumbers
S = lax.ScatterDimensionNumbers

# (operand shape, indices batch shape, dimension numbers, slice_sizes)
GATHERS = {
    "rows": ((5, 3), (4,), G(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,)), (1, 3)),
    "cols": ((3, 5), (2, 2), G(offset_dims=(0,), collapsed_slice_dims=(1,), start_index_map=(1,)), (3, 1)),
    "points": ((4, 5), (6,), G(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(0, 1)), (1, 1)),
    "windows": ((6, 7), (2, 3), G(offset_dims=(2, 3), collapsed_slice_dims=(), start_index_map=(0, 1)), (2, 3)),
    "swapped": ((6, 7), (3,), G(offset_dims=(1,), collapsed_slice_dims=(1,), start_index_map=(1, 0)), (2, 1)),
    "batched": ((2, 5, 3), (4, 2), G(offset_dims=(2,), collapsed_slice_dims=(1,), start_index_map=(1,),
                                     operand_batching_dims=(0,), start_indices_batching_dims=(1,)),
                (1, 1, 3)),
}


def _ref_gather(op, idx, dn, sizes, mode, fill):
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    offset_op = [d for d in range(op.ndim) if d not in dropped]
    out_rank = len(dn.offset_dims) + idx.ndim - 1
    batch_dims = [i for i in range(out_rank) if i not in dn.offset_dims]
    shape = [0] * out_rank
    for i, d in zip(batch_dims, idx.shape[:-1]):
        shape[i] = d
    for i, d in zip(dn.offset_dims, offset_op):
        shape[i] = sizes[d]
    out = np.empty(shape, op.dtype)
    for o in np.ndindex(*shape):
        b = tuple(o[i] for i in batch_dims)
        full = [0] * op.ndim
        oob = False
        for k, d in enumerate(dn.start_index_map):
            s, hi = int(idx[b + (k,)]), op.shape[d] - sizes[d]
            oob |= not 0 <= s <= hi
            full[d] = _clamp(s, 0, hi)
        for od, ib in zip(dn.operand_batching_dims, dn.start_indices_batching_dims):
            full[od] = b[ib]
        for i, d in zip(dn.offset_dims, offset_op):
            full[d] += o[i]
        out[o] = fill if (oob and mode == "fill") else op[tuple(full)]
    return out


def _indices(rng, op_shape, batch, k, dtype=np.int32):
    hi = max(op_shape) + 2
    return rng.integers(-2, hi, batch + (k,)).astype(dtype)


@pytest.mark.parametrize("case", sample("gather", kind=list(GATHERS), dtype=DTYPES,
                                        mode=["clip", "fill"], index_dtype=[np.int32, np.int8],
                                        n=16), ids=case_id)
def test_gather(case):
    rng = _rng(case)
    op_shape, batch, dn, sizes = GATHERS[case["kind"]]
    op = rand(op_shape, case["dtype"], rng)
    idx = _indices(rng, op_shape, batch, len(dn.start_index_map), case["index_dtype"])
    fill = structural._gather_fill_value(op.dtype, None)
    ref = _ref_gather(op, idx, dn, sizes, case["mode"], fill)
    check(lax.gather, [op, idx], ref, dimension_numbers=dn, slice_sizes=sizes, mode=case["mode"])


def test_gather_fill_value_and_defaults():
    op = np.arange(5, dtype=np.int32)
    idx = np.array([[1], [7], [-1]])
    dn = G(offset_dims=(), collapsed_slice_dims=(0,), start_index_map=(0,))
    check(lax.gather, [op, idx], np.array([1, -7, -7], np.int32), dimension_numbers=dn,
          slice_sizes=(1,), mode="fill", fill_value=-7)
    # mode=None means fill, as in jax.lax; int fill defaults to the minimum
    imin = np.iinfo(np.int32).min
    check(lax.gather, [op, idx], np.array([1, imin, imin], np.int32), dimension_numbers=dn,
          slice_sizes=(1,))
    f = check(lax.gather, [op.astype(np.float32), idx], np.array([1, np.nan, np.nan], np.float32),
              dimension_numbers=dn, slice_sizes=(1,))
    assert np.isnan(f[1])


# (operand shape, indices batch shape, dimension numbers, update shape)
SCATTERS = {
    "rows": ((5, 3), (4,), S(update_window_dims=(1,), inserted_window_dims=(0,),
                             scatter_dims_to_operand_dims=(0,)), (4, 3)),
    "points": ((4, 5), (6,), S(update_window_dims=(), inserted_window_dims=(0, 1),
                               scatter_dims_to_operand_dims=(0, 1)), (6,)),
    "windows": ((6, 7), (2, 3), S(update_window_dims=(2, 3), inserted_window_dims=(),
                                  scatter_dims_to_operand_dims=(0, 1)), (2, 3, 2, 3)),
    "leading_window": ((3, 5), (2,), S(update_window_dims=(0,), inserted_window_dims=(1,),
                                       scatter_dims_to_operand_dims=(1,)), (2, 2)),
    "batched": ((2, 5, 3), (4, 2), S(update_window_dims=(2,), inserted_window_dims=(1,),
                                     scatter_dims_to_operand_dims=(1,), operand_batching_dims=(0,),
                                     scatter_indices_batching_dims=(1,)), (4, 2, 3)),
}

_COMBINE = {
    "scatter": lambda a, b: b,
    "scatter_add": lambda a, b: a + b if a.dtype != np.bool_ else a | b,
    "scatter_mul": lambda a, b: a * b if a.dtype != np.bool_ else a & b,
    "scatter_min": lambda a, b: min(a, b),
    "scatter_max": lambda a, b: max(a, b),
}


def _ref_scatter(kind, op, idx, upd, dn, mode):
    out = op.copy()
    skip = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
    window_op = [d for d in range(op.ndim) if d not in skip]
    sizes = [1] * op.ndim
    for d, w in zip(window_op, dn.update_window_dims):
        sizes[d] = upd.shape[w]
    scatter_dims = [d for d in range(upd.ndim) if d not in dn.update_window_dims]
    for u in np.ndindex(upd.shape):
        b = tuple(u[d] for d in scatter_dims)
        full = [0] * op.ndim
        oob = False
        for k, d in enumerate(dn.scatter_dims_to_operand_dims):
            s, hi = int(idx[b + (k,)]), op.shape[d] - sizes[d]
            oob |= not 0 <= s <= hi
            full[d] = _clamp(s, 0, hi)
        if oob and mode == "drop":
            continue
        for od, ib in zip(dn.operand_batching_dims, dn.scatter_indices_batching_dims):
            full[od] = b[ib]
        for d, w in zip(window_op, dn.update_window_dims):
            full[d] += u[w]
        full = tuple(full)
        out[full] = _COMBINE[kind](out[full], upd[u])
    return out


def _unique_indices(rng, op_shape, batch, dn, sizes_in_range):
    """Indices whose windows never overlap (for scatter-set, whose order XLA leaves open)."""
    dims = dn.scatter_dims_to_operand_dims
    n = int(np.prod(batch))
    if dn.operand_batching_dims:
        per = [rng.permutation(op_shape[dims[0]] + 4)[:batch[0]] - 2 for _ in range(batch[1])]
        return np.stack(per, axis=1)[..., None].astype(np.int32)
    cells = list(itertools.product(*[range(-2, op_shape[d] + 2, max(sizes_in_range[d], 1))
                                     for d in dims]))
    pick = rng.permutation(len(cells))[:n]
    return np.array([cells[p] for p in pick], np.int32).reshape(batch + (len(dims),))


@pytest.mark.parametrize("case", sample("scatter", kind=list(_COMBINE), layout=list(SCATTERS),
                                        dtype=DTYPES, mode=["clip", "drop"], n=30), ids=case_id)
def test_scatter(case):
    rng = _rng(case)
    kind, mode = case["kind"], case["mode"]
    if np.dtype(case["dtype"]).kind == "c" and kind in ("scatter_min", "scatter_max"):
        return
    op_shape, batch, dn, ushape = SCATTERS[case["layout"]]
    op = rand(op_shape, case["dtype"], rng, low=-2, high=2)
    upd = rand(ushape, case["dtype"], rng, low=-2, high=2)
    if kind == "scatter":
        mode = "drop"  # clip could map two windows onto one place; their order is XLA's choice
        sizes = [1] * len(op_shape)
        skip = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
        for d, w in zip([d for d in range(len(op_shape)) if d not in skip], dn.update_window_dims):
            sizes[d] = ushape[w]
        idx = _unique_indices(rng, op_shape, batch, dn, sizes)
    else:
        idx = _indices(rng, op_shape, batch, len(dn.scatter_dims_to_operand_dims))
    ref = _ref_scatter(kind, op, idx, upd, dn, mode)
    exact = np.dtype(case["dtype"]).kind in "bi" or kind in ("scatter", "scatter_min", "scatter_max")
    check(getattr(lax, kind), [op, idx, upd], ref, exact=exact, dimension_numbers=dn, mode=mode)


def test_scatter_add_duplicates_accumulate():
    dn = S(update_window_dims=(), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))
    op = np.zeros(3, np.float32)
    idx = np.array([[1], [1], [1], [0], [3]])
    out = check(lax.scatter_add, [op, idx, np.ones(5, np.float32)], np.array([1, 3, 0], np.float32),
                dimension_numbers=dn)
    assert out.dtype == np.float32


def test_zero_dim_operands_give_arrays():
    x = np.float32(2.5)
    results = [
        lax.slice(x, start_indices=(), limit_indices=()),
        lax.dynamic_slice(x, (), ()),
        lax.dynamic_update_slice(x, np.float32(1), ()),
        lax.convert_element_type(x, new_dtype=bool),
        lax.clamp(0.0, x, 1.0),
        lax.select_n(True, x, np.float32(3)),
        lax.pad(x, 0.0, padding_config=()),
        lax.reshape(x, new_sizes=()),
        lax.transpose(x, permutation=()),
        lax.rev(x, dimensions=()),
    ]
    for r in results:
        assert isinstance(r, np.ndarray) and r.shape == (), repr(r)
    check(lax.clamp, [0.0, x, 1.0], np.array(1.0, np.float32))
    check(lax.select_n, [True, x, np.float32(3)], np.array(3.0, np.float32))


# ---------------------------------------------------------------------------
# float64 under x64.


def test_structural_x64(x64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4))
    assert x.dtype == np.float64
    check(lax.reshape, [x], x.reshape(4, 3), new_sizes=(4, 3))
    check(lax.transpose, [x], x.T, permutation=(1, 0))
    check(lax.pad, [x, 0.5], _ref_pad(x, 0.5, [(1, 0, 1), (0, -1, 0)]),
          padding_config=[(1, 0, 1), (0, -1, 0)])
    check(lax.dynamic_slice, [x, (np.int64(2), np.int64(-1))], x[1:3, 2:4], slice_sizes=(2, 2))
    check(lax.concatenate, [x, x], np.concatenate([x, x], 1), dimension=1)
    dn = GATHERS["rows"][2]
    idx = np.array([[2], [0], [9]], np.int64)
    check(lax.gather, [x, idx], _ref_gather(x, idx, dn, (1, 4), "clip", None),
          dimension_numbers=dn, slice_sizes=(1, 4), mode="clip")
    sdn = SCATTERS["rows"][2]
    check(lax.scatter_add, [x, idx, np.ones((3, 4))],
          _ref_scatter("scatter_add", x, idx, np.ones((3, 4)), sdn, "drop"), exact=False,
          dimension_numbers=sdn)
    assert lax.iota(np.float64, 3).dtype == np.float64


# ---------------------------------------------------------------------------
# Errors: typed, NumPy-style, naming the op, eager and under jit.

X = np.zeros((3, 4), np.float32)
I0 = np.int32(0)
GDN = GATHERS["rows"][2]
SDN = SCATTERS["rows"][2]

ERRORS = [
    (ShapeError, "reshape", lax.reshape, [X], dict(new_sizes=(5,)),
     "cannot reshape array of shape (3, 4)"),
    (ShapeError, "reshape", lax.reshape, [X], dict(new_sizes=(-1, 3)), "non-negative"),
    (ShapeError, "reshape", lax.reshape, [X], dict(new_sizes=(12,), dimensions=(0, 0)), "permutation"),
    (ShapeError, "transpose", lax.transpose, [X], dict(permutation=(0, 0)), "(3, 4)"),
    (ShapeError, "transpose", lax.transpose, [X], dict(permutation=(0, 1, 2)), "permutation"),
    (ShapeError, "squeeze", lax.squeeze, [X], dict(dimensions=(0,)), "size not equal to one"),
    (ShapeError, "squeeze", lax.squeeze, [X], dict(dimensions=(5,)), "out of bounds"),
    (ShapeError, "expand_dims", lax.expand_dims, [X], dict(dimensions=(4,)), "out of bounds"),
    (ShapeError, "rev", lax.rev, [X], dict(dimensions=(2,)), "out of bounds"),
    (ShapeError, "rev", lax.rev, [X], dict(dimensions=(0, 0)), "repeated"),
    (ShapeError, "broadcast_in_dim", lax.broadcast_in_dim, [X], dict(shape=(3, 5), broadcast_dimensions=(0, 1)),
     "(3, 4)"),
    (ShapeError, "broadcast_in_dim", lax.broadcast_in_dim, [X], dict(shape=(3, 4), broadcast_dimensions=(0,)),
     "one entry per operand dimension"),
    (ShapeError, "broadcast_in_dim", lax.broadcast_in_dim, [X], dict(shape=(4, 3), broadcast_dimensions=(1, 0)),
     "increasing"),
    (ShapeError, "pad", lax.pad, [X, 0.0], dict(padding_config=[(0, 0, 0)]), "one (low, high, interior)"),
    (ShapeError, "pad", lax.pad, [X, 0.0], dict(padding_config=[(0, 0, -1), (0, 0, 0)]), "interior"),
    (ShapeError, "pad", lax.pad, [X, 0.0], dict(padding_config=[(-4, 0, 0), (0, 0, 0)]), "negative size"),
    (ShapeError, "pad", lax.pad, [X, np.zeros(2, np.float32)], dict(padding_config=[(0, 0, 0)] * 2), "scalar"),
    (DtypeError, "pad", lax.pad, [X, np.int32(0)], dict(padding_config=[(0, 0, 0)] * 2), "same dtype"),
    (ShapeError, "concatenate", lax.concatenate, [X, np.zeros((2, 4), np.float32)], dict(dimension=1),
     "(3, 4), (2, 4)"),
    (ShapeError, "concatenate", lax.concatenate, [X, np.zeros(3, np.float32)], dict(dimension=0),
     "same number of dimensions"),
    (ShapeError, "concatenate", lax.concatenate, [X], dict(dimension=2), "out of bounds"),
    (DtypeError, "concatenate", lax.concatenate, [X, X.astype(np.int32)], dict(dimension=0), "same dtype"),
    (ShapeError, "slice", lax.slice, [X], dict(start_indices=(0, 2), limit_indices=(3, 5)), "out of bounds"),
    (ShapeError, "slice", lax.slice, [X], dict(start_indices=(0,), limit_indices=(3,)), "one entry"),
    (ShapeError, "slice", lax.slice, [X], dict(start_indices=(2, 0), limit_indices=(1, 4)), "start <= limit"),
    (ShapeError, "slice", lax.slice, [X], dict(start_indices=(0, 0), limit_indices=(3, 4), strides=(1, 0)),
     "positive"),
    (ShapeError, "dynamic_slice", lax.dynamic_slice, [X, [I0]], dict(slice_sizes=(1, 1)), "one scalar per dimension"),
    (ShapeError, "dynamic_slice", lax.dynamic_slice, [X, [I0, I0]], dict(slice_sizes=(4, 1)), "(3, 4)"),
    (DtypeError, "dynamic_slice", lax.dynamic_slice, [X, [I0, np.float32(1)]], dict(slice_sizes=(1, 1)), "integer"),
    (ShapeError, "dynamic_slice", lax.dynamic_slice, [X, [I0, np.zeros(2, np.int32)]], dict(slice_sizes=(1, 1)),
     "scalar"),
    (ShapeError, "dynamic_update_slice", lax.dynamic_update_slice, [X, np.zeros((4, 1), np.float32), [I0, I0]],
     {}, "does not fit"),
    (DtypeError, "dynamic_update_slice", lax.dynamic_update_slice, [X, np.zeros((1, 1), np.int32), [I0, I0]],
     {}, "same dtype"),
    (ShapeError, "select_n", lax.select_n, [np.zeros(4, bool), X, X], {}, "shape"),
    (ShapeError, "select_n", lax.select_n, [np.zeros((3, 4), bool), X, X[:2]], {}, "same shape"),
    (ShapeError, "select_n", lax.select_n, [True, X, X, X], {}, "at most two"),
    (DtypeError, "select_n", lax.select_n, [np.float32(0), X, X], {}, "boolean or integer"),
    (DtypeError, "select_n", lax.select_n, [True, X, X.astype(np.int32)], {}, "same dtype"),
    (ShapeError, "clamp", lax.clamp, [np.zeros(4, np.float32), X, np.float32(1)], {}, "(4,)"),
    (DtypeError, "clamp", lax.clamp, [np.int32(0), X, np.float32(1)], {}, "same dtype"),
    (DtypeError, "clamp", lax.clamp, [0, X.astype(np.complex64), 1], {}, "complex"),
    (DtypeError, "convert_element_type", lax.convert_element_type, [X], dict(new_dtype="object"), "unsupported"),
    (ShapeError, "bitcast_convert_type", lax.bitcast_convert_type, [np.zeros(3, np.uint8)],
     dict(new_dtype=np.int32), "last dimension of size 4"),
    (DtypeError, "bitcast_convert_type", lax.bitcast_convert_type, [X], dict(new_dtype=bool), "bool"),
    (DtypeError, "gather", lax.gather, [X, np.zeros((2, 1), np.float32)],
     dict(dimension_numbers=GDN, slice_sizes=(1, 4)), "integer"),
    (ShapeError, "gather", lax.gather, [X, np.zeros((2, 2), np.int32)],
     dict(dimension_numbers=GDN, slice_sizes=(1, 4)), "index map"),
    (ShapeError, "gather", lax.gather, [X, np.zeros((2, 1), np.int32)],
     dict(dimension_numbers=GDN, slice_sizes=(1, 5)), "slice_sizes"),
    (ShapeError, "gather", lax.gather, [X, np.zeros((2, 1), np.int32)],
     dict(dimension_numbers=GDN, slice_sizes=(2, 4)), "slice size 1"),
    (ShapeError, "gather", lax.gather, [X, np.zeros((2, 1), np.int32)],
     dict(dimension_numbers=G(offset_dims=(1,), collapsed_slice_dims=(), start_index_map=(0,)),
          slice_sizes=(1, 4)), "account for each"),
    (ShapeError, "gather", lax.gather, [X, np.zeros((2, 1), np.int32)],
     dict(dimension_numbers=G(offset_dims=(2,), collapsed_slice_dims=(0,), start_index_map=(0,)),
          slice_sizes=(1, 4)), "offset_dims"),
    (ShapeError, "scatter_add", lax.scatter_add, [X, np.zeros((2, 1), np.int32), np.zeros((3, 4), np.float32)],
     dict(dimension_numbers=SDN), "indices batch shape"),
    (ShapeError, "scatter", lax.scatter, [X, np.zeros((2, 1), np.int32), np.zeros((2, 5), np.float32)],
     dict(dimension_numbers=SDN), "do not fit"),
    (DtypeError, "scatter_mul", lax.scatter_mul, [X, np.zeros((2, 1), np.int32), np.zeros((2, 4), np.int32)],
     dict(dimension_numbers=SDN), "same dtype"),
    (DtypeError, "scatter_max", lax.scatter_max, [X.astype(np.complex64), np.zeros((2, 1), np.int32),
                                                  np.zeros((2, 4), np.complex64)],
     dict(dimension_numbers=SDN), "complex"),
]


@pytest.mark.parametrize("exc,opname,fn,args,params,match", ERRORS,
                         ids=[f"{e[1]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors(exc, opname, fn, args, params, match):
    check_error(exc, opname, fn, args, match=match, **params)


def test_iota_errors():
    with pytest.raises(ShapeError, match="iota"):
        lax.broadcasted_iota(np.int32, (2, 3), 2)
    with pytest.raises(DtypeError, match="iota"):
        lax.iota(bool, 2)
    with pytest.raises(ShapeError, match="iota"):
        lax.iota(np.int32, -1)


def test_bad_mode():
    with pytest.raises(ValueError, match="mode"):
        lax.gather(X, np.zeros((2, 1), np.int32), dimension_numbers=GDN, slice_sizes=(1, 4),
                   mode="wrap")


def test_public_exports():
    for name in ["convert_element_type", "bitcast_convert_type", "iota", "broadcast_in_dim",
                 "reshape", "squeeze", "expand_dims", "transpose", "rev", "pad", "concatenate",
                 "slice", "dynamic_slice", "dynamic_update_slice", "select_n", "clamp", "gather",
                 "scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max"]:
        fn = getattr(lax, name)
        assert fn.primitive.name == name
        for slot in ("impl", "abstract_eval", "lower"):
            assert getattr(fn.primitive, slot) is not None
        assert fn.__doc__ and ">>>" in fn.__doc__
    assert lax.GatherDimensionNumbers is structural.GatherDimensionNumbers
    assert lax.ScatterDimensionNumbers is structural.ScatterDimensionNumbers
    assert lax.GatherScatterMode.from_any("drop") is lax.GatherScatterMode.FILL_OR_DROP
    dn = lax.GatherDimensionNumbers([1], [0], [0])
    assert dn.offset_dims == (1,) and hash(dn) == hash(G((1,), (0,), (0,)))


# ---------------------------------------------------------------------------
# Agreement with jax.lax, when jax is installed.


def test_against_jax():
    jax = pytest.importorskip("jax")
    jlax = jax.lax
    rng = np.random.default_rng(1)
    for kind, (op_shape, batch, dn, sizes) in GATHERS.items():
        op = rng.standard_normal(op_shape).astype(np.float32)
        idx = _indices(rng, op_shape, batch, len(dn.start_index_map))
        jdn = jlax.GatherDimensionNumbers(**{k: tuple(v) for k, v in vars(dn).items()})
        for mode in ("clip", "fill"):
            ours = lax.gather(op, idx, dimension_numbers=dn, slice_sizes=sizes, mode=mode)
            theirs = np.asarray(jlax.gather(op, idx, jdn, sizes, mode=mode))
            np.testing.assert_array_equal(ours, theirs, err_msg=f"gather {kind} {mode}")
    for kind, (op_shape, batch, dn, ushape) in SCATTERS.items():
        op = rng.standard_normal(op_shape).astype(np.float32)
        upd = rng.standard_normal(ushape).astype(np.float32)
        idx = _indices(rng, op_shape, batch, len(dn.scatter_dims_to_operand_dims))
        jdn = jlax.ScatterDimensionNumbers(**{k: tuple(v) for k, v in vars(dn).items()})
        for name in ("scatter_add", "scatter_mul", "scatter_min", "scatter_max"):
            for mode in ("clip", "drop"):
                ours = getattr(lax, name)(op, idx, upd, dimension_numbers=dn, mode=mode)
                theirs = np.asarray(getattr(jlax, name)(op, idx, upd, jdn, mode=mode))
                assert_close(ours, theirs, err_msg=f"{name} {kind} {mode}")
    x = rng.standard_normal((4, 6)).astype(np.float32)
    jnp = jax.numpy
    for start in [(0, 0), (3, 5), (-2, 1), (9, -9)]:
        ours = lax.dynamic_slice(x, [np.int32(s) for s in start], (2, 3),
                                 allow_negative_indices=False)
        jstart = [jnp.asarray(s, jnp.int32) for s in start]  # run-time values: XLA clamps
        wrapped = lax.dynamic_slice(x, [np.int32(s) for s in start], (2, 3))
        np.testing.assert_array_equal(wrapped, np.asarray(jlax.dynamic_slice(x, jstart, (2, 3))),
                                      err_msg=f"dynamic_slice {start}, negative starts wrap")
        theirs = np.asarray(jlax.dynamic_slice(x, jstart, (2, 3),
                                               allow_negative_indices=False))
        np.testing.assert_array_equal(ours, theirs, err_msg=f"dynamic_slice {start}")
        ours = lax.dynamic_update_slice(x, np.ones((2, 3), np.float32), [np.int32(s) for s in start],
                                        allow_negative_indices=False)
        theirs = np.asarray(jlax.dynamic_update_slice(x, np.ones((2, 3), np.float32),
                                                      jstart,
                                                      allow_negative_indices=False))
        np.testing.assert_array_equal(ours, theirs, err_msg=f"dynamic_update_slice {start}")
