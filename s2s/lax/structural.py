"""Structural primitives: dtype conversion, shapes, slicing, padding, selection, gather/scatter.

Every primitive here follows ``jax.lax`` (same parameter names). Array operands are
positional, static parameters keyword-only: ``lax.reshape(x, new_sizes=(2, 3))``.

Three rules share one set of checks: ``abstract_eval`` validates shapes, axes and
dtypes and raises ``ShapeError``/``DtypeError`` with NumPy-style messages that name
the op; ``impl`` runs the same check first (so eager and jit accept exactly the same
programs) and then computes with NumPy; ``lower`` emits StableHLO. Where XLA has a
defined behaviour that NumPy lacks, ``impl`` reproduces XLA's:

- ``convert_element_type`` float -> int truncates toward zero and saturates
  (NaN -> 0); -> bool is ``x != 0``; complex -> real types (bool included) keeps
  the real part, as ``jax.lax`` does.
- ``dynamic_slice``/``dynamic_update_slice`` clamp each start index into
  ``[0, dim - size]`` (negative indices clamp to 0, they do not wrap).
- ``gather`` in ``"clip"`` mode clamps start indices the same way; in ``"fill"``
  mode a slice that is not entirely in bounds becomes ``fill_value``.
  ``scatter*`` in ``"clip"`` mode clamps; in ``"drop"`` (``"fill"``) mode an update
  window that is not entirely in bounds is skipped. Duplicate indices accumulate.
- ``select_n`` with an integer ``which`` out of ``[0, n)`` takes the nearest case.

Dimension numbers for gather and scatter are the frozen dataclasses
``GatherDimensionNumbers`` and ``ScatterDimensionNumbers`` (fields as in JAX); the
index vector is always the last dimension of the indices.
"""
import builtins
import dataclasses
import enum
import operator

import numpy as np

from s2s.codegen import stablehlo as _hlo
from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import abstractify, Primitive, primitive_wrapper, ShapedArray, Tracer
from s2s.lax import elementwise as _ew
from s2s.lax.elementwise import _compare_type
from s2s.lax.shapes import canonicalize_axes, canonicalize_axis

# ---------------------------------------------------------------------------
# Shared helpers.

_pyslice = builtins.slice  # this module defines lax.slice

_SUPPORTED_DTYPES = frozenset(np.dtype(d) for d in (
    dtypes.bool_, dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8,
    dtypes.uint16, dtypes.uint32, dtypes.uint64, dtypes.bfloat16, dtypes.float16,
    dtypes.float32, dtypes.float64, dtypes.complex64, dtypes.complex128))


def _asarray(x, dtype=None):
    """``x`` as a NumPy array of its canonical dtype (or of ``dtype``)."""
    return np.asarray(x, dtypes.dtype_of(x) if dtype is None else dtype)


def _checked(prim, args, params):
    """Runs the abstract rule on concrete ``args``: the same checks eager and under jit."""
    return prim.abstract_eval(*[abstractify(a) for a in args], **params)


def _dtype_param(opname, name, dtype):
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DtypeError(f"{opname}: {name} must be a dtype, got {dtype!r}") from None
    if dt not in _SUPPORTED_DTYPES:
        raise DtypeError(f"{opname}: unsupported {name} {dt.name}")
    return dtypes.canonicalize_dtype(dt)


def _int_tuple(opname, name, values):
    """A tuple of Python ints from a sequence of integers (a bare int is a 1-tuple)."""
    if isinstance(values, (int, np.integer)):
        values = (values,)
    try:
        return tuple(operator.index(v) for v in values)
    except TypeError:
        raise TypeError(f"{opname}: {name} must be a sequence of integers, "
                        f"got {values!r}") from None


def _common_dtype(opname, avals, what):
    """The dtype shared by ``avals``: strong dtypes must agree; weak ones may adopt it."""
    strong = [a.dtype for a in avals if not a.weak_type]
    dt, weak = dtypes.result_type(*avals, return_weak_type=True)
    if any(s != strong[0] for s in strong) or (strong and dt != strong[0]):
        got = ", ".join(a.dtype.name + ("(weak)" if a.weak_type else "") for a in avals)
        raise DtypeError(f"{opname}: {what} must have the same dtype, got {got}")
    return dt, weak


def _check_index_dtype(opname, aval, what):
    if not dtypes.is_integer(aval.dtype):
        raise DtypeError(f"{opname}: {what} must have an integer dtype, got {aval.dtype.name}")


def _index_dtype(dt):
    """The signed type a lowering computes indices in (wide enough for ``dt``'s values)."""
    dt = np.dtype(dt)
    if dt.itemsize == 8 or (dt.kind == "u" and dt.itemsize == 4):
        return dtypes.int64
    return dtypes.int32


def _dims_list(values):
    """``[1, 2]`` as in ``#stablehlo.gather<offset_dims = [1, 2], ...>``."""
    return "[" + ", ".join(str(int(v)) for v in values) + "]"


def _i64(value):
    return f"{int(value)} : i64"


def _full(ctx, value, aval):
    """A constant of ``aval`` holding ``value`` everywhere."""
    return ctx.constant(value, aval.update(weak_type=False))


def _compare(ctx, x, y, direction):
    aval = ctx.aval(x)
    return ctx.op1("stablehlo.compare", [x, y], aval.update(dtype=dtypes.bool_, weak_type=False),
                   attrs={"comparison_direction": f"#stablehlo<comparison_direction {direction}>",
                          "compare_type": _compare_type(aval.dtype)})


def _reduce_and(ctx, x, axis):
    """``x.all(axis)`` for a boolean ``x`` (a ``stablehlo.reduce`` with an ``and`` region)."""
    aval = ctx.aval(x)
    scalar = ShapedArray((), dtypes.bool_)
    init = ctx.constant(True, scalar)
    region = ctx.region([scalar, scalar],
                        lambda args: [ctx.op1("stablehlo.and", args, scalar)])
    out = aval.update(shape=aval.shape[:axis] + aval.shape[axis + 1:])
    return ctx.op1("stablehlo.reduce", [x, init], out, attrs={"dimensions": _hlo.i64_array([axis])},
                   regions=[region])


def _define(name, impl, abstract_eval, lower):
    """A primitive whose impl first runs ``abstract_eval`` (same checks eager and staged)."""
    prim = Primitive(name)

    def checked_impl(*args, **params):
        out = _checked(prim, args, params)
        return impl(out, *args, **params)

    checked_impl.__name__ = f"_{name}_impl"
    prim.def_impl(checked_impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower)
    return prim


# ---------------------------------------------------------------------------
# convert_element_type, bitcast_convert_type, iota.


def _convert_abstract(x, *, new_dtype):
    return ShapedArray(x.shape, _dtype_param("convert_element_type", "new_dtype", new_dtype))


def _float_to_int(x, dt):
    """XLA's float -> integer conversion: truncate toward zero, saturate, NaN -> 0."""
    info = np.iinfo(dt)
    wide = x if x.dtype.itemsize >= 8 else x.astype(np.float64)
    t = np.trunc(wide)
    lo, hi = float(info.min), 2.0 ** (info.bits - (1 if info.min < 0 else 0))
    ok = (t >= lo) & (t < hi)
    out = np.zeros(x.shape, dt)
    out[ok] = t[ok].astype(dt)
    out[t >= hi] = info.max
    out[t < lo] = info.min
    return out


def _convert_impl(out, x, *, new_dtype):
    x = _asarray(x)
    dt = out.dtype
    if x.dtype == dt:
        return x
    if dtypes.is_complex(x.dtype) and not dtypes.is_complex(dt):
        x = np.real(x)
    if dt == dtypes.bool_:
        return x != 0
    if dtypes.is_inexact(x.dtype) and dtypes.is_integer(dt):
        return _float_to_int(x, dt)
    with np.errstate(all="ignore"):
        return x.astype(dt)


def _convert_lower(ctx, x, *, new_dtype):
    aval, out = ctx.avals_in[0], ctx.avals_out[0]
    if aval.dtype == out.dtype:
        return x
    if dtypes.is_complex(aval.dtype) and not dtypes.is_complex(out.dtype):
        aval = aval.update(dtype=dtypes.real_dtype(aval.dtype), weak_type=False)
        x = ctx.op1("stablehlo.real", [x], aval)
    if out.dtype == dtypes.bool_:
        return _compare(ctx, x, _full(ctx, 0, aval), "NE")
    return ctx.convert(x, out.dtype)


convert_element_type_p = _define("convert_element_type", _convert_impl, _convert_abstract,
                                 _convert_lower)


def _bitcast_abstract(x, *, new_dtype):
    dt = _dtype_param("bitcast_convert_type", "new_dtype", new_dtype)
    for t in (x.dtype, dt):
        if t == dtypes.bool_ or dtypes.is_complex(t):
            raise DtypeError(f"bitcast_convert_type: {t.name} is not supported (converting "
                             f"{x.dtype.name} to {dt.name}); use real numeric dtypes")
    n_in, n_out = x.dtype.itemsize, dt.itemsize
    if n_in == n_out:
        shape = x.shape
    elif n_in > n_out:
        shape = x.shape + (n_in // n_out,)
    else:
        ratio = n_out // n_in
        if not x.shape or x.shape[-1] != ratio:
            raise ShapeError(f"bitcast_convert_type: converting {x.dtype.name} to {dt.name} needs "
                             f"a last dimension of size {ratio}, got shape {x.shape}")
        shape = x.shape[:-1]
    return ShapedArray(shape, dt)


def _bitcast_impl(out, x, *, new_dtype):
    x = np.ascontiguousarray(_asarray(x))
    if x.dtype.itemsize > out.dtype.itemsize:
        x = x.reshape(x.shape + (1,))
    return x.view(out.dtype).reshape(out.shape)


def _bitcast_lower(ctx, x, *, new_dtype):
    return ctx.op1("stablehlo.bitcast_convert", [x])


bitcast_convert_type_p = _define("bitcast_convert_type", _bitcast_impl, _bitcast_abstract,
                                 _bitcast_lower)


def _iota_abstract(*, dtype, shape, dimension):
    dt = _dtype_param("iota", "dtype", dtype)
    if dt == dtypes.bool_:
        raise DtypeError("iota: dtype must be numeric, got bool")
    shape = _int_tuple("iota", "shape", shape)
    if any(d < 0 for d in shape):
        raise ShapeError(f"iota: negative dimensions are not allowed, got shape {shape}")
    if not shape:
        raise ShapeError("iota: shape must have at least one dimension, got ()")
    canonicalize_axis("iota", dimension, len(shape))
    return ShapedArray(shape, dt)


def _iota_impl(out, *, dtype, shape, dimension):
    dim = canonicalize_axis("iota", dimension, len(out.shape))
    ramp = np.arange(out.shape[dim], dtype=np.int64).astype(out.dtype)
    ramp = ramp.reshape([-1 if i == dim else 1 for i in range(len(out.shape))])
    return np.array(np.broadcast_to(ramp, out.shape))


def _iota_lower(ctx, *, dtype, shape, dimension):
    dim = canonicalize_axis("iota", dimension, len(ctx.avals_out[0].shape))
    return ctx.op1("stablehlo.iota", [], attrs={"iota_dimension": _i64(dim)})


iota_p = _define("iota", _iota_impl, _iota_abstract, _iota_lower)

# ---------------------------------------------------------------------------
# Shape manipulation.


def _broadcast_in_dim_abstract(x, *, shape, broadcast_dimensions):
    name = "broadcast_in_dim"
    shape = _int_tuple(name, "shape", shape)
    bdims = _int_tuple(name, "broadcast_dimensions", broadcast_dimensions)
    if any(d < 0 for d in shape):
        raise ShapeError(f"{name}: negative dimensions are not allowed, got shape {shape}")
    if len(bdims) != x.ndim:
        raise ShapeError(f"{name}: broadcast_dimensions {bdims} must have one entry per operand "
                         f"dimension; operand shape is {x.shape}")
    if any(not 0 <= d < len(shape) for d in bdims):
        raise ShapeError(f"{name}: broadcast_dimensions {bdims} are out of range for target "
                         f"shape {shape}")
    if any(a >= b for a, b in zip(bdims, bdims[1:])):
        raise ShapeError(f"{name}: broadcast_dimensions must be strictly increasing, got {bdims}")
    for i, d in enumerate(bdims):
        if x.shape[i] not in (1, shape[d]):
            raise ShapeError(
                f"{name}: cannot broadcast operand of shape {x.shape} to shape {shape} with "
                f"broadcast_dimensions {bdims}: operand dimension {i} has size {x.shape[i]} "
                f"but target dimension {d} has size {shape[d]}")
    return x.update(shape=shape)


def _broadcast_in_dim_impl(out, x, *, shape, broadcast_dimensions):
    x = _asarray(x)
    expanded = [1] * len(out.shape)
    for i, d in enumerate(broadcast_dimensions):
        expanded[d] = x.shape[i]
    return np.array(np.broadcast_to(x.reshape(expanded), out.shape))


def _broadcast_in_dim_lower(ctx, x, *, shape, broadcast_dimensions):
    return ctx.op1("stablehlo.broadcast_in_dim", [x],
                   attrs={"broadcast_dimensions": _hlo.i64_array(broadcast_dimensions)})


broadcast_in_dim_p = _define("broadcast_in_dim", _broadcast_in_dim_impl,
                             _broadcast_in_dim_abstract, _broadcast_in_dim_lower)


def _permutation(opname, name, perm, shape):
    """``perm`` (negative axes allowed) checked to be a permutation of ``range(len(shape))``."""
    perm = _int_tuple(opname, name, perm)
    ndim = len(shape)
    if len(perm) != ndim or any(not -ndim <= p < ndim for p in perm) \
            or len({p % ndim for p in perm}) != ndim:
        raise ShapeError(f"{opname}: {name} {perm} is not a permutation of the axes of an array "
                         f"of shape {shape}")
    return tuple(p % ndim for p in perm)


def _reshape_abstract(x, *, new_sizes, dimensions=None):
    new_sizes = _int_tuple("reshape", "new_sizes", new_sizes)
    if dimensions is not None:
        _permutation("reshape", "dimensions", dimensions, x.shape)
    if any(d < 0 for d in new_sizes):
        raise ShapeError(f"reshape: new_sizes must be non-negative, got {new_sizes}")
    if int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape array of shape {x.shape} (size {x.size}) into "
                         f"shape {new_sizes} (size {int(np.prod(new_sizes, dtype=np.int64))})")
    return x.update(shape=new_sizes)


def _reshape_impl(out, x, *, new_sizes, dimensions=None):
    x = _asarray(x)
    if dimensions is not None:
        x = np.transpose(x, _permutation("reshape", "dimensions", dimensions, x.shape))
    return np.reshape(x, out.shape)


def _reshape_lower(ctx, x, *, new_sizes, dimensions=None):
    aval = ctx.avals_in[0]
    if dimensions is not None:
        perm = _permutation("reshape", "dimensions", dimensions, aval.shape)
        if perm != tuple(range(aval.ndim)):
            x = ctx.op1("stablehlo.transpose", [x],
                        aval.update(shape=tuple(aval.shape[p] for p in perm)),
                        attrs={"permutation": _hlo.i64_array(perm)})
    if tuple(ctx.aval(x).shape) == tuple(ctx.avals_out[0].shape):  # XLA would drop it too
        return x
    return ctx.op1("stablehlo.reshape", [x])


reshape_p = _define("reshape", _reshape_impl, _reshape_abstract, _reshape_lower)


def _reshape_to_out(ctx, x, **params):
    return ctx.op1("stablehlo.reshape", [x])


def _squeeze_abstract(x, *, dimensions):
    dims = canonicalize_axes("squeeze", _int_tuple("squeeze", "dimensions", dimensions), x.ndim)
    bad = [d for d in dims if x.shape[d] != 1]
    if bad:
        raise ShapeError(f"squeeze: cannot select an axis to squeeze out which has size not "
                         f"equal to one, got shape={x.shape} and dimensions={tuple(dimensions)}")
    return x.update(shape=tuple(s for i, s in enumerate(x.shape) if i not in dims))


def _squeeze_impl(out, x, *, dimensions):
    return np.reshape(_asarray(x), out.shape)


squeeze_p = _define("squeeze", _squeeze_impl, _squeeze_abstract, _reshape_to_out)


def _expand_dims_abstract(x, *, dimensions):
    dimensions = _int_tuple("expand_dims", "dimensions", dimensions)
    ndim = x.ndim + len(dimensions)
    dims = set(canonicalize_axes("expand_dims", dimensions, ndim))
    rest = iter(x.shape)
    return x.update(shape=tuple(1 if i in dims else next(rest) for i in range(ndim)))


def _expand_dims_impl(out, x, *, dimensions):
    return np.reshape(_asarray(x), out.shape)


expand_dims_p = _define("expand_dims", _expand_dims_impl, _expand_dims_abstract, _reshape_to_out)


def _transpose_abstract(x, *, permutation):
    perm = _permutation("transpose", "permutation", permutation, x.shape)
    return x.update(shape=tuple(x.shape[p] for p in perm))


def _transpose_impl(out, x, *, permutation):
    x = _asarray(x)
    return np.transpose(x, _permutation("transpose", "permutation", permutation, x.shape))


def _transpose_lower(ctx, x, *, permutation):
    perm = _permutation("transpose", "permutation", permutation, ctx.avals_in[0].shape)
    return ctx.op1("stablehlo.transpose", [x], attrs={"permutation": _hlo.i64_array(perm)})


transpose_p = _define("transpose", _transpose_impl, _transpose_abstract, _transpose_lower)


def _rev_dims(dimensions, ndim):
    return canonicalize_axes("rev", _int_tuple("rev", "dimensions", dimensions), ndim)


def _rev_abstract(x, *, dimensions):
    _rev_dims(dimensions, x.ndim)
    return x


def _rev_impl(out, x, *, dimensions):
    x = _asarray(x)
    return np.flip(x, axis=_rev_dims(dimensions, x.ndim))


def _rev_lower(ctx, x, *, dimensions):
    dims = _rev_dims(dimensions, ctx.avals_in[0].ndim)
    return ctx.op1("stablehlo.reverse", [x], attrs={"dimensions": _hlo.i64_array(dims)})


rev_p = _define("rev", _rev_impl, _rev_abstract, _rev_lower)

# ---------------------------------------------------------------------------
# pad, concatenate.


def _padding_config(config, shape):
    try:
        config = tuple(_int_tuple("pad", "padding_config", c) for c in config)
    except TypeError:
        raise TypeError(f"pad: padding_config must be a sequence of (low, high, interior) "
                        f"triples, got {config!r}") from None
    if len(config) != len(shape) or any(len(c) != 3 for c in config):
        raise ShapeError(f"pad: padding_config must have one (low, high, interior) triple per "
                         f"dimension of the operand of shape {shape}, got {config}")
    return config


def _pad_abstract(x, padding_value, *, padding_config):
    if padding_value.shape != ():
        raise ShapeError(f"pad: padding_value must be a scalar, got shape {padding_value.shape}")
    dt, weak = _common_dtype("pad", [x, padding_value], "operand and padding_value")
    config = _padding_config(padding_config, x.shape)
    shape = []
    for axis, (d, (lo, hi, interior)) in enumerate(zip(x.shape, config)):
        if interior < 0:
            raise ShapeError(f"pad: interior padding must be non-negative, got {interior} for "
                             f"dimension {axis}")
        size = lo + hi + d + max(d - 1, 0) * interior
        if size < 0:
            raise ShapeError(f"pad: padding {(lo, hi, interior)} leaves a negative size ({size}) "
                             f"for dimension {axis} of operand shape {x.shape}")
        shape.append(size)
    return ShapedArray(shape, dt, weak)


def _pad_impl(out, x, padding_value, *, padding_config):
    x = _asarray(x, out.dtype)
    value = _asarray(padding_value, out.dtype)
    config = _padding_config(padding_config, x.shape)
    # Interior padding first, then place the expanded array at offset `lo` (may crop).
    expanded_shape = [d + max(d - 1, 0) * i for d, (_, _, i) in zip(x.shape, config)]
    expanded = np.full(expanded_shape, value, out.dtype)
    expanded[tuple(_pyslice(None, None, i + 1) for _, _, i in config)] = x
    result = np.full(out.shape, value, out.dtype)
    src, dst = [], []
    for n, size, (lo, _, _) in zip(expanded_shape, out.shape, config):
        start, stop = max(0, -lo), min(n, size - lo)
        stop = max(stop, start)
        src.append(_pyslice(start, stop))
        dst.append(_pyslice(start + lo, stop + lo))
    result[tuple(dst)] = expanded[tuple(src)]
    return result


def _pad_lower(ctx, x, padding_value, *, padding_config):
    dt = ctx.avals_out[0].dtype
    config = _padding_config(padding_config, ctx.avals_in[0].shape)
    lo, hi, interior = zip(*config) if config else ((), (), ())
    return ctx.op1("stablehlo.pad", [ctx.convert(x, dt), ctx.convert(padding_value, dt)],
                   attrs={"edge_padding_low": _hlo.i64_array(lo),
                          "edge_padding_high": _hlo.i64_array(hi),
                          "interior_padding": _hlo.i64_array(interior)})


pad_p = _define("pad", _pad_impl, _pad_abstract, _pad_lower)


def _concatenate_abstract(*xs, dimension):
    if not xs:
        raise ShapeError("concatenate: need at least one array to concatenate")
    shapes = ", ".join(str(x.shape) for x in xs)
    ndim = xs[0].ndim
    if any(x.ndim != ndim for x in xs):
        raise ShapeError(f"concatenate: all the input arrays must have the same number of "
                         f"dimensions, got shapes {shapes}")
    if ndim == 0:
        raise ShapeError("concatenate: zero-dimensional arrays cannot be concatenated")
    dim = canonicalize_axis("concatenate", dimension, ndim)
    for x in xs:
        if any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape)) if i != dim):
            raise ShapeError(f"concatenate: all input array dimensions except for the "
                             f"concatenation axis {dim} must match exactly, got shapes {shapes}")
    dt, weak = _common_dtype("concatenate", xs, "operands")
    shape = list(xs[0].shape)
    shape[dim] = sum(x.shape[dim] for x in xs)
    return ShapedArray(shape, dt, weak)


def _concatenate_impl(out, *xs, dimension):
    dim = canonicalize_axis("concatenate", dimension, len(out.shape))
    return np.concatenate([_asarray(x, out.dtype) for x in xs], axis=dim)


def _concatenate_lower(ctx, *xs, dimension):
    out = ctx.avals_out[0]
    xs = [ctx.convert(x, out.dtype) for x in xs]
    if len(xs) == 1:
        return xs[0]
    dim = canonicalize_axis("concatenate", dimension, out.ndim)
    return ctx.op1("stablehlo.concatenate", xs, attrs={"dimension": _i64(dim)})


concatenate_p = _define("concatenate", _concatenate_impl, _concatenate_abstract,
                        _concatenate_lower)

# ---------------------------------------------------------------------------
# slice, dynamic_slice, dynamic_update_slice.


def _slice_params(shape, start_indices, limit_indices, strides):
    start = _int_tuple("slice", "start_indices", start_indices)
    limit = _int_tuple("slice", "limit_indices", limit_indices)
    strides = (1,) * len(shape) if strides is None else _int_tuple("slice", "strides", strides)
    if not len(start) == len(limit) == len(strides) == len(shape):
        raise ShapeError(f"slice: start_indices {start}, limit_indices {limit} and strides "
                         f"{strides} must each have one entry per dimension of the operand of "
                         f"shape {shape}")
    for axis, (s, l, st, d) in enumerate(zip(start, limit, strides, shape)):
        if not 0 <= s <= l <= d:
            raise ShapeError(f"slice: indices [{s}:{l}] are out of bounds for dimension {axis} "
                             f"with size {d} (operand shape {shape}; need 0 <= start <= limit "
                             f"<= size)")
        if st < 1:
            raise ShapeError(f"slice: strides must be positive, got {strides}")
    return start, limit, strides


def _slice_abstract(x, *, start_indices, limit_indices, strides=None):
    start, limit, strides = _slice_params(x.shape, start_indices, limit_indices, strides)
    return x.update(shape=tuple((l - s + st - 1) // st for s, l, st in zip(start, limit, strides)))


def _slice_impl(out, x, *, start_indices, limit_indices, strides=None):
    x = _asarray(x)
    start, limit, strides = _slice_params(x.shape, start_indices, limit_indices, strides)
    return x[tuple(_pyslice(s, l, st) for s, l, st in zip(start, limit, strides))]


def _slice_lower(ctx, x, *, start_indices, limit_indices, strides=None):
    start, limit, strides = _slice_params(ctx.avals_in[0].shape, start_indices, limit_indices,
                                          strides)
    return ctx.op1("stablehlo.slice", [x], attrs={"start_indices": _hlo.i64_array(start),
                                                  "limit_indices": _hlo.i64_array(limit),
                                                  "strides": _hlo.i64_array(strides)})


slice_p = _define("slice", _slice_impl, _slice_abstract, _slice_lower)


def _check_start_indices(opname, shape, indices):
    if len(indices) != len(shape):
        raise ShapeError(f"{opname}: got {len(indices)} start indices for an operand of shape "
                         f"{shape}; need one scalar per dimension")
    for i, a in enumerate(indices):
        if a.shape != ():
            raise ShapeError(f"{opname}: start index {i} must be a scalar, got shape {a.shape}")
        _check_index_dtype(opname, a, f"start index {i}")


def _clamped_starts(indices, shape, sizes):
    """XLA's clamping: each start index into ``[0, dim - size]``."""
    return tuple(min(max(int(np.asarray(i).astype(np.int64)), 0), d - s)
                 for i, d, s in zip(indices, shape, sizes))


def _lower_start_indices(ctx, names, avals):
    dt = max((_index_dtype(a.dtype) for a in avals), key=lambda d: d.itemsize, default=dtypes.int32)
    return [ctx.convert(n, dt) for n in names]


def _dynamic_slice_abstract(x, *start_indices, slice_sizes):
    _check_start_indices("dynamic_slice", x.shape, start_indices)
    sizes = _int_tuple("dynamic_slice", "slice_sizes", slice_sizes)
    if len(sizes) != x.ndim or any(not 0 <= s <= d for s, d in zip(sizes, x.shape)):
        raise ShapeError(f"dynamic_slice: slice_sizes {sizes} do not fit the operand of shape "
                         f"{x.shape}; need one size per dimension with 0 <= size <= dim")
    return x.update(shape=sizes)


def _dynamic_slice_impl(out, x, *start_indices, slice_sizes):
    x = _asarray(x)
    starts = _clamped_starts(start_indices, x.shape, out.shape)
    return x[tuple(_pyslice(s, s + n) for s, n in zip(starts, out.shape))]


def _dynamic_slice_lower(ctx, x, *start_indices, slice_sizes):
    idx = _lower_start_indices(ctx, start_indices, ctx.avals_in[1:])
    return ctx.op1("stablehlo.dynamic_slice", [x, *idx],
                   attrs={"slice_sizes": _hlo.i64_array(ctx.avals_out[0].shape)})


dynamic_slice_p = _define("dynamic_slice", _dynamic_slice_impl, _dynamic_slice_abstract,
                          _dynamic_slice_lower)


def _dynamic_update_slice_abstract(x, update, *start_indices):
    name = "dynamic_update_slice"
    if update.ndim != x.ndim or any(u > d for u, d in zip(update.shape, x.shape)):
        raise ShapeError(f"{name}: update of shape {update.shape} does not fit in operand of "
                         f"shape {x.shape}; need the same rank and update.shape <= operand.shape")
    _check_start_indices(name, x.shape, start_indices)
    dt, weak = _common_dtype(name, [x, update], "operand and update")
    return ShapedArray(x.shape, dt, weak)


def _dynamic_update_slice_impl(out, x, update, *start_indices):
    result = np.array(_asarray(x, out.dtype), copy=True)
    update = _asarray(update, out.dtype)
    starts = _clamped_starts(start_indices, result.shape, update.shape)
    result[tuple(_pyslice(s, s + n) for s, n in zip(starts, update.shape))] = update
    return result


def _dynamic_update_slice_lower(ctx, x, update, *start_indices):
    dt = ctx.avals_out[0].dtype
    idx = _lower_start_indices(ctx, start_indices, ctx.avals_in[2:])
    return ctx.op1("stablehlo.dynamic_update_slice",
                   [ctx.convert(x, dt), ctx.convert(update, dt), *idx])


dynamic_update_slice_p = _define("dynamic_update_slice", _dynamic_update_slice_impl,
                                 _dynamic_update_slice_abstract, _dynamic_update_slice_lower)

# ---------------------------------------------------------------------------
# select_n, clamp.


def _select_n_abstract(which, *cases):
    if not cases:
        raise ShapeError("select_n: need at least one case")
    if which.dtype != dtypes.bool_ and not dtypes.is_integer(which.dtype):
        raise DtypeError(f"select_n: which must be a boolean or integer array, got "
                         f"{which.dtype.name}")
    if which.dtype == dtypes.bool_ and len(cases) > 2:
        raise ShapeError(f"select_n: a boolean which selects between at most two cases, got "
                         f"{len(cases)}; use an integer which")
    shape = cases[0].shape
    if any(c.shape != shape for c in cases):
        raise ShapeError("select_n: all cases must have the same shape, got shapes "
                         + ", ".join(str(c.shape) for c in cases))
    if which.shape not in ((), shape):
        raise ShapeError(f"select_n: which must be a scalar or have the shape of the cases "
                         f"{shape}, got shape {which.shape}")
    dt, weak = _common_dtype("select_n", cases, "cases")
    return ShapedArray(shape, dt, weak)


def _select_n_impl(out, which, *cases):
    which = _asarray(which)
    cases = [_asarray(c, out.dtype) for c in cases]
    if len(cases) == 1:
        return np.array(cases[0], copy=True)
    if which.dtype == dtypes.bool_:
        return np.where(which, cases[1], cases[0])
    # The lowering's binary tree of `which < mid` takes the nearest case out of range.
    which = np.clip(which.astype(np.int64), 0, len(cases) - 1)
    result = np.array(cases[-1], copy=True)
    for i, c in enumerate(cases[:-1]):
        np.copyto(result, c, where=which == i)
    return result


def _select_n_lower(ctx, which, *cases):
    out = ctx.avals_out[0]
    cases = [ctx.convert(c, out.dtype) for c in cases]
    waval = ctx.avals_in[0]
    if waval.dtype == dtypes.bool_:
        if len(cases) == 1:
            return cases[0]
        return ctx.op1("stablehlo.select", [which, cases[1], cases[0]])

    def tree(lo, hi):
        if hi - lo == 1:
            return cases[lo]
        mid = (lo + hi) // 2
        pred = _compare(ctx, which, _full(ctx, mid, waval), "LT")
        return ctx.op1("stablehlo.select", [pred, tree(lo, mid), tree(mid, hi)])

    return tree(0, len(cases))


select_n_p = _define("select_n", _select_n_impl, _select_n_abstract, _select_n_lower)


def _clamp_abstract(min, x, max):
    for name, bound in (("min", min), ("max", max)):
        if bound.shape not in ((), x.shape):
            raise ShapeError(f"clamp: {name} must be a scalar or have the shape of x {x.shape}, "
                             f"got shape {bound.shape}")
    dt, weak = _common_dtype("clamp", [min, x, max], "min, x and max")
    if dtypes.is_complex(dt):
        raise DtypeError(f"clamp: complex numbers are not ordered, got {dt.name}")
    return ShapedArray(x.shape, dt, weak)


def _clamp_impl(out, min, x, max):
    lo, x, hi = (_asarray(v, out.dtype) for v in (min, x, max))
    return np.asarray(np.minimum(np.maximum(x, lo), hi), out.dtype)


def _clamp_lower(ctx, min, x, max):
    dt = ctx.avals_out[0].dtype
    return ctx.op1("stablehlo.clamp", [ctx.convert(v, dt) for v in (min, x, max)])


clamp_p = _define("clamp", _clamp_impl, _clamp_abstract, _clamp_lower)

# ---------------------------------------------------------------------------
# gather and scatter.


def _tuple_fields(obj):
    for f in dataclasses.fields(obj):
        value = _int_tuple(type(obj).__name__, f.name, getattr(obj, f.name))
        object.__setattr__(obj, f.name, value)


@dataclasses.dataclass(frozen=True)
class GatherDimensionNumbers:
    """How ``gather`` maps indices to operand slices (as ``jax.lax.GatherDimensionNumbers``).

    ``offset_dims``: output dimensions that hold the slice (sorted); ``collapsed_slice_dims``:
    operand dimensions with slice size 1 left out of the output; ``start_index_map``: operand
    dimension each entry of an index vector starts; ``operand_batching_dims`` and
    ``start_indices_batching_dims``: paired batch dimensions of operand and indices.
    """
    offset_dims: tuple
    collapsed_slice_dims: tuple
    start_index_map: tuple
    operand_batching_dims: tuple = ()
    start_indices_batching_dims: tuple = ()

    def __post_init__(self):
        _tuple_fields(self)


@dataclasses.dataclass(frozen=True)
class ScatterDimensionNumbers:
    """How ``scatter`` maps indices and updates to the operand (as in ``jax.lax``).

    ``update_window_dims``: dimensions of ``updates`` that hold a window (sorted);
    ``inserted_window_dims``: operand dimensions with window size 1 absent from the
    updates; ``scatter_dims_to_operand_dims``: operand dimension each entry of an index
    vector starts; ``operand_batching_dims``/``scatter_indices_batching_dims``: paired
    batch dimensions.
    """
    update_window_dims: tuple
    inserted_window_dims: tuple
    scatter_dims_to_operand_dims: tuple
    operand_batching_dims: tuple = ()
    scatter_indices_batching_dims: tuple = ()

    def __post_init__(self):
        _tuple_fields(self)


class GatherScatterMode(enum.Enum):
    """Out-of-bounds policy: ``"clip"`` clamps indices (XLA's native gather behaviour);
    ``"fill"``/``"drop"`` (the default) fills out-of-bounds gathered slices with
    ``fill_value`` and skips out-of-bounds scatter windows; ``"promise_in_bounds"``
    leaves it to XLA (gather clamps, scatter skips)."""
    CLIP = "clip"
    FILL_OR_DROP = "fill"
    PROMISE_IN_BOUNDS = "promise_in_bounds"

    @staticmethod
    def from_any(mode):
        """A mode from a string, a mode, or None (-> FILL_OR_DROP), as ``jax.lax`` accepts."""
        if isinstance(mode, GatherScatterMode):
            return mode
        if mode is None or mode in ("fill", "drop"):
            return GatherScatterMode.FILL_OR_DROP
        if mode == "clip":
            return GatherScatterMode.CLIP
        if mode == "promise_in_bounds":
            return GatherScatterMode.PROMISE_IN_BOUNDS
        name = getattr(mode, "name", None)  # e.g. jax.lax.GatherScatterMode
        if name in ("CLIP", "FILL_OR_DROP", "PROMISE_IN_BOUNDS"):
            return GatherScatterMode[name]
        raise ValueError(f"unknown gather/scatter mode {mode!r}; use 'clip', 'fill' (or 'drop') "
                         "or 'promise_in_bounds'")


def _as_dnums(cls, opname, dnums):
    if isinstance(dnums, cls):
        return dnums
    names = [f.name for f in dataclasses.fields(cls)]
    if all(hasattr(dnums, n) for n in names[:3]):  # e.g. jax.lax's NamedTuple
        return cls(**{n: getattr(dnums, n) for n in names if hasattr(dnums, n)})
    raise TypeError(f"{opname}: dimension_numbers must be a {cls.__name__}, got {dnums!r}")


def _check_dims(opname, name, dims, rank, *, sorted_=True):
    if len(set(dims)) != len(dims):
        raise ShapeError(f"{opname}: {name} must not repeat, got {dims}")
    if sorted_ and list(dims) != sorted(dims):
        raise ShapeError(f"{opname}: {name} must be sorted, got {dims}")
    if any(not 0 <= d < rank for d in dims):
        raise ShapeError(f"{opname}: {name} {dims} are out of range for rank {rank}")


def _check_disjoint(opname, name1, dims1, name2, dims2):
    if set(dims1) & set(dims2):
        raise ShapeError(f"{opname}: {name1} {dims1} and {name2} {dims2} must be disjoint")


def _check_indices(opname, operand, indices, index_map, obd, ibd):
    """Checks shared by gather and scatter; the index vector is the last dim of indices."""
    _check_index_dtype(opname, indices, "indices")
    if indices.ndim < 1:
        raise ShapeError(f"{opname}: indices must have at least one dimension (the index "
                         f"vector is the last one), got shape {indices.shape}")
    if len(index_map) != indices.shape[-1]:
        raise ShapeError(f"{opname}: indices of shape {indices.shape} hold index vectors of "
                         f"length {indices.shape[-1]}, but the index map {index_map} has "
                         f"{len(index_map)} entries")
    _check_dims(opname, "index map", index_map, operand.ndim, sorted_=False)
    _check_dims(opname, "operand_batching_dims", obd, operand.ndim)
    _check_disjoint(opname, "index map", index_map, "operand_batching_dims", obd)
    _check_dims(opname, "indices batching dims", ibd, indices.ndim - 1, sorted_=False)
    if len(obd) != len(ibd):
        raise ShapeError(f"{opname}: operand_batching_dims {obd} and indices batching dims "
                         f"{ibd} must have the same length")
    ob = tuple(operand.shape[d] for d in obd)
    ib = tuple(indices.shape[d] for d in ibd)
    if ob != ib:
        raise ShapeError(f"{opname}: operand batching dimensions {obd} of shape {ob} do not "
                         f"match indices batching dimensions {ibd} of shape {ib}")


def _gather_abstract(operand, indices, *, dimension_numbers, slice_sizes, mode=None,
                     fill_value=None, indices_are_sorted=False, unique_indices=False):
    name = "gather"
    dn = _as_dnums(GatherDimensionNumbers, name, dimension_numbers)
    GatherScatterMode.from_any(mode)
    sizes = _int_tuple(name, "slice_sizes", slice_sizes)
    _check_indices(name, operand, indices, dn.start_index_map, dn.operand_batching_dims,
                   dn.start_indices_batching_dims)
    out_rank = len(dn.offset_dims) + indices.ndim - 1
    _check_dims(name, "offset_dims", dn.offset_dims, out_rank)
    _check_dims(name, "collapsed_slice_dims", dn.collapsed_slice_dims, operand.ndim)
    _check_disjoint(name, "collapsed_slice_dims", dn.collapsed_slice_dims,
                    "operand_batching_dims", dn.operand_batching_dims)
    if len(sizes) != operand.ndim or any(not 0 <= s <= d for s, d in zip(sizes, operand.shape)):
        raise ShapeError(f"{name}: slice_sizes {sizes} do not fit the operand of shape "
                         f"{operand.shape}; need one size per dimension with 0 <= size <= dim")
    n = len(dn.offset_dims) + len(dn.collapsed_slice_dims) + len(dn.operand_batching_dims)
    if n != operand.ndim:
        raise ShapeError(f"{name}: offset_dims {dn.offset_dims}, collapsed_slice_dims "
                         f"{dn.collapsed_slice_dims} and operand_batching_dims "
                         f"{dn.operand_batching_dims} must account for each of the "
                         f"{operand.ndim} operand dimensions once")
    for d in dn.collapsed_slice_dims + dn.operand_batching_dims:
        if sizes[d] != 1:
            raise ShapeError(f"{name}: collapsed and batching operand dimensions need slice size "
                             f"1, got slice_sizes[{d}] = {sizes[d]}")
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    offset_sizes = iter([s for i, s in enumerate(sizes) if i not in dropped])
    batch = iter(indices.shape[:-1])
    shape = tuple(next(offset_sizes) if i in dn.offset_dims else next(batch)
                  for i in range(out_rank))
    return operand.update(shape=shape)


def _gather_fill_value(dt, fill_value):
    """JAX's defaults: NaN for inexact, the minimum (signed) or maximum (unsigned), True."""
    if fill_value is not None:
        return fill_value
    if dtypes.is_inexact(dt):
        return np.nan
    if dt == dtypes.bool_:
        return True
    info = np.iinfo(dt)
    return info.min if dt.kind == "i" else info.max


def _window_index(starts, window):
    """Index arrays of shape ``batch + window`` for slices of ``window`` at ``starts``."""
    batch = starts.shape[:-1]
    nd = len(window)
    out = []
    for d, w in enumerate(window):
        s = starts[..., d].reshape(batch + (1,) * nd)
        r = np.arange(w).reshape((1,) * len(batch) + tuple(w if i == d else 1 for i in range(nd)))
        out.append(s + r)
    return tuple(out)


def _starts(idx, shape, index_map, obd, ibd, window):
    """Full start indices (batch + (ndim,)) and whether each window lies in bounds."""
    batch = idx.shape[:-1]
    starts = np.zeros(batch + (len(shape),), np.int64)
    in_bounds = np.ones(batch, bool)
    for k, d in enumerate(index_map):
        upper = shape[d] - window[d]
        in_bounds &= (idx[..., k] >= 0) & (idx[..., k] <= upper)
        starts[..., d] = np.clip(idx[..., k], 0, upper)
    for od, bd in zip(obd, ibd):
        starts[..., od] = np.arange(batch[bd]).reshape([-1 if i == bd else 1
                                                         for i in range(len(batch))])
    return starts, in_bounds


def _gather_impl(out, operand, indices, *, dimension_numbers, slice_sizes, mode=None,
                 fill_value=None, indices_are_sorted=False, unique_indices=False):
    dn = _as_dnums(GatherDimensionNumbers, "gather", dimension_numbers)
    operand = _asarray(operand)
    idx = np.asarray(indices).astype(np.int64)
    sizes = tuple(slice_sizes)
    starts, in_bounds = _starts(idx, operand.shape, dn.start_index_map, dn.operand_batching_dims,
                                dn.start_indices_batching_dims, sizes)
    batch = idx.shape[:-1]
    dropped = set(dn.collapsed_slice_dims) | set(dn.operand_batching_dims)
    offset_sizes = tuple(s for i, s in enumerate(sizes) if i not in dropped)
    g = operand[_window_index(starts, sizes)].reshape(batch + offset_sizes)
    if GatherScatterMode.from_any(mode) is GatherScatterMode.FILL_OR_DROP:
        fill = np.asarray(_gather_fill_value(out.dtype, fill_value)).astype(out.dtype)
        g = np.where(in_bounds.reshape(batch + (1,) * len(offset_sizes)), g, fill)
    nb = len(batch)
    return np.moveaxis(g, range(nb, nb + len(offset_sizes)), dn.offset_dims)


def _gather_attr(dn, index_vector_dim):
    return ("#stablehlo.gather<"
            f"offset_dims = {_dims_list(dn.offset_dims)}, "
            f"collapsed_slice_dims = {_dims_list(dn.collapsed_slice_dims)}, "
            f"operand_batching_dims = {_dims_list(dn.operand_batching_dims)}, "
            f"start_indices_batching_dims = {_dims_list(dn.start_indices_batching_dims)}, "
            f"start_index_map = {_dims_list(dn.start_index_map)}, "
            f"index_vector_dim = {index_vector_dim}>")


def _bool_attr(v):
    return "true" if v else "false"


def _upper_bounds(ctx, indices, upper):
    """``upper[k]`` along the index-vector (last) dimension, shaped like ``indices``."""
    aval = ctx.aval(indices)
    vec = ctx.constant(np.asarray(upper), aval.update(shape=(len(upper),)))
    return ctx.op1("stablehlo.broadcast_in_dim", [vec], aval,
                   attrs={"broadcast_dimensions": _hlo.i64_array([aval.ndim - 1])})


def _gather_lower(ctx, operand, indices, *, dimension_numbers, slice_sizes, mode=None,
                  fill_value=None, indices_are_sorted=False, unique_indices=False):
    dn = _as_dnums(GatherDimensionNumbers, "gather", dimension_numbers)
    op_aval, idx_aval = ctx.avals_in
    out = ctx.avals_out[0]
    indices = ctx.convert(indices, _index_dtype(idx_aval.dtype))
    idx_aval = ctx.aval(indices)
    g = ctx.op1("stablehlo.gather", [operand, indices], attrs={
        "dimension_numbers": _gather_attr(dn, idx_aval.ndim - 1),
        "slice_sizes": _hlo.i64_array(slice_sizes),
        "indices_are_sorted": _bool_attr(indices_are_sorted)})
    fill = GatherScatterMode.from_any(mode) is GatherScatterMode.FILL_OR_DROP
    if not fill or not dn.start_index_map:
        return g
    # Fill: keep slices whose start lies in [0, dim - size] for every index component.
    ub = _upper_bounds(ctx, indices, [op_aval.shape[d] - slice_sizes[d]
                                      for d in dn.start_index_map])
    ok = ctx.op1("stablehlo.and", [_compare(ctx, indices, _full(ctx, 0, idx_aval), "GE"),
                                   _compare(ctx, indices, ub, "LE")],
                 idx_aval.update(dtype=dtypes.bool_))
    mask = _reduce_and(ctx, ok, idx_aval.ndim - 1)
    batch_dims = [i for i in range(out.ndim) if i not in dn.offset_dims]
    mask = ctx.op1("stablehlo.broadcast_in_dim", [mask],
                   out.update(dtype=dtypes.bool_, weak_type=False),
                   attrs={"broadcast_dimensions": _hlo.i64_array(batch_dims)})
    fill = _full(ctx, np.asarray(_gather_fill_value(out.dtype, fill_value)).astype(out.dtype), out)
    return ctx.op1("stablehlo.select", [mask, g, fill])


gather_p = _define("gather", _gather_impl, _gather_abstract, _gather_lower)


def _scatter_window(dn, operand_shape, updates_shape):
    """Window size per operand dimension (1 for inserted and batching dimensions)."""
    sizes = iter(updates_shape[d] for d in dn.update_window_dims)
    skip = set(dn.inserted_window_dims) | set(dn.operand_batching_dims)
    return tuple(1 if i in skip else next(sizes) for i in range(len(operand_shape)))


def _scatter_abstract_for(name):
    def abstract_eval(operand, indices, updates, *, dimension_numbers, mode=None,
                      indices_are_sorted=False, unique_indices=False):
        dn = _as_dnums(ScatterDimensionNumbers, name, dimension_numbers)
        GatherScatterMode.from_any(mode)
        _check_indices(name, operand, indices, dn.scatter_dims_to_operand_dims,
                       dn.operand_batching_dims, dn.scatter_indices_batching_dims)
        _check_dims(name, "update_window_dims", dn.update_window_dims, updates.ndim)
        _check_dims(name, "inserted_window_dims", dn.inserted_window_dims, operand.ndim)
        _check_disjoint(name, "inserted_window_dims", dn.inserted_window_dims,
                        "operand_batching_dims", dn.operand_batching_dims)
        n = len(dn.update_window_dims) + len(dn.inserted_window_dims)
        if n + len(dn.operand_batching_dims) != operand.ndim:
            raise ShapeError(f"{name}: update_window_dims {dn.update_window_dims}, "
                             f"inserted_window_dims {dn.inserted_window_dims} and "
                             f"operand_batching_dims {dn.operand_batching_dims} must account for "
                             f"each of the {operand.ndim} operand dimensions once")
        scatter_dims = [d for d in range(updates.ndim) if d not in dn.update_window_dims]
        batch = tuple(updates.shape[d] for d in scatter_dims)
        if batch != indices.shape[:-1]:
            raise ShapeError(f"{name}: updates of shape {updates.shape} have scatter dimensions "
                             f"of shape {batch}, which must match the indices batch shape "
                             f"{indices.shape[:-1]} (indices shape {indices.shape})")
        window = _scatter_window(dn, operand.shape, updates.shape)
        if any(w > d for w, d in zip(window, operand.shape)):
            raise ShapeError(f"{name}: update windows of shape "
                             f"{tuple(updates.shape[d] for d in dn.update_window_dims)} do not "
                             f"fit in the operand of shape {operand.shape}")
        dt, weak = _common_dtype(name, [operand, updates], "operand and updates")
        if name in ("scatter_min", "scatter_max") and dtypes.is_complex(dt):
            raise DtypeError(f"{name}: complex numbers are not ordered, got {dt.name}")
        return ShapedArray(operand.shape, dt, weak)
    return abstract_eval


def _scatter_impl_for(name, combine):
    def impl(out, operand, indices, updates, *, dimension_numbers, mode=None,
             indices_are_sorted=False, unique_indices=False):
        dn = _as_dnums(ScatterDimensionNumbers, name, dimension_numbers)
        result = np.array(_asarray(operand, out.dtype), copy=True)
        updates = _asarray(updates, out.dtype)
        idx = np.asarray(indices).astype(np.int64)
        window = _scatter_window(dn, result.shape, updates.shape)
        starts, in_bounds = _starts(idx, result.shape, dn.scatter_dims_to_operand_dims,
                                    dn.operand_batching_dims, dn.scatter_indices_batching_dims,
                                    window)
        batch = idx.shape[:-1]
        scatter_dims = [d for d in range(updates.ndim) if d not in dn.update_window_dims]
        u = np.transpose(updates, scatter_dims + list(dn.update_window_dims))
        u = u.reshape(batch + window)
        index = [np.broadcast_to(i, batch + window) for i in _window_index(starts, window)]
        if GatherScatterMode.from_any(mode) is not GatherScatterMode.CLIP:
            index = [i[in_bounds] for i in index]
            u = u[in_bounds]
        combine(result, tuple(index), u)
        return result
    return impl


def _scatter_set(result, index, updates):
    result[index] = updates


_SCATTER_COMBINE = {
    "scatter": (_scatter_set, None),
    "scatter_add": (np.add.at, "stablehlo.add"),
    "scatter_mul": (np.multiply.at, "stablehlo.multiply"),
    "scatter_min": (np.minimum.at, "stablehlo.minimum"),
    "scatter_max": (np.maximum.at, "stablehlo.maximum"),
}


def _scatter_attr(dn, index_vector_dim):
    return ("#stablehlo.scatter<"
            f"update_window_dims = {_dims_list(dn.update_window_dims)}, "
            f"inserted_window_dims = {_dims_list(dn.inserted_window_dims)}, "
            f"input_batching_dims = {_dims_list(dn.operand_batching_dims)}, "
            f"scatter_indices_batching_dims = {_dims_list(dn.scatter_indices_batching_dims)}, "
            f"scatter_dims_to_operand_dims = {_dims_list(dn.scatter_dims_to_operand_dims)}, "
            f"index_vector_dim = {index_vector_dim}>")


def _scatter_lower_for(name, hlo_op):
    def lower(ctx, operand, indices, updates, *, dimension_numbers, mode=None,
              indices_are_sorted=False, unique_indices=False):
        dn = _as_dnums(ScatterDimensionNumbers, name, dimension_numbers)
        op_aval, idx_aval, upd_aval = ctx.avals_in
        out = ctx.avals_out[0]
        operand, updates = ctx.convert(operand, out.dtype), ctx.convert(updates, out.dtype)
        indices = ctx.convert(indices, _index_dtype(idx_aval.dtype))
        idx_aval = ctx.aval(indices)
        clip = GatherScatterMode.from_any(mode) is GatherScatterMode.CLIP
        if clip and dn.scatter_dims_to_operand_dims:
            window = _scatter_window(dn, op_aval.shape, upd_aval.shape)
            ub = _upper_bounds(ctx, indices, [op_aval.shape[d] - window[d]
                                              for d in dn.scatter_dims_to_operand_dims])
            zero = _full(ctx, 0, idx_aval.update(shape=()))
            indices = ctx.op1("stablehlo.clamp", [zero, indices, ub], idx_aval)
        scalar = ShapedArray((), out.dtype)
        if hlo_op is None:
            body = lambda args: [args[1]]  # noqa: E731  (scatter: the update replaces)
        else:
            body = lambda args: [ctx.op1(hlo_op, args, scalar)]  # noqa: E731
        region = ctx.region([scalar, scalar], body)
        return ctx.op1("stablehlo.scatter", [operand, indices, updates], regions=[region], attrs={
            "scatter_dimension_numbers": _scatter_attr(dn, idx_aval.ndim - 1),
            "indices_are_sorted": _bool_attr(indices_are_sorted),
            "unique_indices": _bool_attr(unique_indices)})
    return lower


_scatter_prims = {}
for _name, (_combine, _hlo_op) in _SCATTER_COMBINE.items():
    _scatter_prims[_name] = _define(_name, _scatter_impl_for(_name, _combine),
                                    _scatter_abstract_for(_name),
                                    _scatter_lower_for(_name, _hlo_op))
scatter_p = _scatter_prims["scatter"]
scatter_add_p = _scatter_prims["scatter_add"]
scatter_mul_p = _scatter_prims["scatter_mul"]
scatter_min_p = _scatter_prims["scatter_min"]
scatter_max_p = _scatter_prims["scatter_max"]
del _name, _combine, _hlo_op

# ---------------------------------------------------------------------------
# Public wrappers: operands positional, static parameters keyword-only.


def _index_operands(start_indices):
    """One scalar operand per dimension from a sequence of scalars or a 1-d array."""
    if isinstance(start_indices, (list, tuple)):
        return tuple(start_indices)
    if getattr(start_indices, "ndim", None) == 1:  # host or staged: one scalar per entry
        return tuple(reshape(slice(start_indices, (i,), (i + 1,)), ())
                     for i in range(start_indices.shape[0]))
    if getattr(start_indices, "ndim", 1) == 0 or isinstance(start_indices, int):
        raise TypeError("dynamic_slice/dynamic_update_slice: start_indices must be a sequence "
                        "of scalars or a 1-d array (one per dimension), as in jax.lax; got a "
                        "scalar: write (i,) for a 1-d operand")
    return tuple(start_indices)


@primitive_wrapper(convert_element_type_p)
def convert_element_type(operand, new_dtype):
    """Converts ``operand`` to ``new_dtype`` (float -> int truncates; -> bool is ``operand != 0``).

    >>> from s2s import lax
    >>> lax.convert_element_type([-1.5, 2.7], new_dtype="int32")
    array([-1,  2], dtype=int32)
    """
    return convert_element_type_p.bind(operand, new_dtype=_dtype_param("convert_element_type",
                                                                 "new_dtype", new_dtype))


@primitive_wrapper(bitcast_convert_type_p)
def bitcast_convert_type(operand, new_dtype):
    """Reinterprets the bits of ``operand`` as ``new_dtype`` (a size change adds/drops a last dim).

    >>> from s2s import lax
    >>> lax.bitcast_convert_type(1.0, new_dtype="int32")
    array(1065353216, dtype=int32)
    """
    return bitcast_convert_type_p.bind(operand, new_dtype=_dtype_param("bitcast_convert_type",
                                                                 "new_dtype", new_dtype))


@primitive_wrapper(iota_p)
def iota(dtype, size):
    """``[0, 1, ..., size - 1]`` of ``dtype``.

    >>> from s2s import lax
    >>> lax.iota("int32", 3)
    array([0, 1, 2], dtype=int32)
    """
    return broadcasted_iota(dtype, (operator.index(size),), 0)


@primitive_wrapper(iota_p)
def broadcasted_iota(dtype, shape, dimension):
    """An array of ``shape`` counting 0, 1, 2, ... along ``dimension``.

    >>> from s2s import lax
    >>> lax.broadcasted_iota("int32", (2, 3), 1)
    array([[0, 1, 2],
           [0, 1, 2]], dtype=int32)
    """
    return iota_p.bind(dtype=_dtype_param("iota", "dtype", dtype),
                       shape=_int_tuple("iota", "shape", shape),
                       dimension=operator.index(dimension))


@primitive_wrapper(broadcast_in_dim_p)
def broadcast_in_dim(operand, shape, broadcast_dimensions):
    """Broadcasts ``operand`` to ``shape``; operand dim ``i`` becomes ``broadcast_dimensions[i]``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.broadcast_in_dim(np.array([1, 2]), shape=(2, 3), broadcast_dimensions=(0,))
    array([[1, 1, 1],
           [2, 2, 2]], dtype=int32)
    """
    return broadcast_in_dim_p.bind(
        operand, shape=_int_tuple("broadcast_in_dim", "shape", shape),
        broadcast_dimensions=_int_tuple("broadcast_in_dim", "broadcast_dimensions",
                                        broadcast_dimensions))


@primitive_wrapper(reshape_p)
def reshape(operand, new_sizes, dimensions=None):
    """Reshapes ``operand`` (row-major), after transposing it by ``dimensions`` if given.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reshape(np.arange(6), new_sizes=(2, 3))
    array([[0, 1, 2],
           [3, 4, 5]], dtype=int32)
    """
    dims = None if dimensions is None else _int_tuple("reshape", "dimensions", dimensions)
    return reshape_p.bind(operand, new_sizes=_int_tuple("reshape", "new_sizes", new_sizes),
                          dimensions=dims)


@primitive_wrapper(squeeze_p)
def squeeze(array, dimensions):
    """Removes the size-1 axes ``dimensions``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.squeeze(np.zeros((1, 2, 1)), dimensions=(0, 2)).shape
    (2,)
    """
    return squeeze_p.bind(array, dimensions=_int_tuple("squeeze", "dimensions", dimensions))


@primitive_wrapper(expand_dims_p)
def expand_dims(array, dimensions):
    """Inserts size-1 axes at ``dimensions`` (positions in the result, as ``np.expand_dims``).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.expand_dims(np.zeros(2), dimensions=(0, -1)).shape
    (1, 2, 1)
    """
    return expand_dims_p.bind(array, dimensions=_int_tuple("expand_dims", "dimensions", dimensions))


@primitive_wrapper(transpose_p)
def transpose(operand, permutation):
    """Permutes the axes of ``operand``: result axis ``i`` is operand axis ``permutation[i]``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.transpose(np.zeros((2, 3, 4)), permutation=(2, 0, 1)).shape
    (4, 2, 3)
    """
    return transpose_p.bind(operand, permutation=_int_tuple("transpose", "permutation", permutation))


@primitive_wrapper(rev_p)
def rev(operand, dimensions):
    """Reverses ``operand`` along ``dimensions``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.rev(np.array([1, 2, 3]), dimensions=(0,))
    array([3, 2, 1], dtype=int32)
    """
    return rev_p.bind(operand, dimensions=_int_tuple("rev", "dimensions", dimensions))


@primitive_wrapper(pad_p)
def pad(operand, padding_value, padding_config):
    """Pads ``operand`` with ``(low, high, interior)`` per dimension; negative low/high crop.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.pad(np.array([1, 2]), 0, padding_config=[(1, -1, 1)])
    array([0, 1, 0], dtype=int32)
    """
    return pad_p.bind(operand, padding_value,
                      padding_config=tuple(_int_tuple("pad", "padding_config", c)
                                           for c in padding_config))


@primitive_wrapper(concatenate_p)
def concatenate(*xs, dimension):
    """Joins arrays along ``dimension`` (operands, or one list of them).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.concatenate(np.array([1]), np.array([2, 3]), dimension=0)
    array([1, 2, 3], dtype=int32)
    """
    if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
        xs = tuple(xs[0])
    return concatenate_p.bind(*xs, dimension=operator.index(dimension))


@primitive_wrapper(slice_p)
def slice(operand, start_indices, limit_indices, strides=None):  # noqa: A001 (jax.lax's name)
    """The static slice ``operand[start:limit:stride]`` in every dimension.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.slice(np.arange(6), start_indices=(1,), limit_indices=(6,), strides=(2,))
    array([1, 3, 5], dtype=int32)
    """
    return slice_p.bind(operand, start_indices=_int_tuple("slice", "start_indices", start_indices),
                        limit_indices=_int_tuple("slice", "limit_indices", limit_indices),
                        strides=(None if strides is None
                                 else _int_tuple("slice", "strides", strides)))


def _wrap_negative(operand, indices, allow_negative_indices):
    """JAX's ``allow_negative_indices``: a negative start counts from the end of its dimension."""
    shape = abstractify(operand).shape
    if not allow_negative_indices or len(indices) != len(shape):
        return indices  # (a count mismatch is reported by the primitive's check)
    out = []
    for i, d in zip(indices, shape):
        if isinstance(i, Tracer):
            out.append(select_n(_ew.public["lt"](i, 0), i, _ew.public["add"](i, d)))
        else:
            v = np.asarray(i)
            negative = v.ndim == 0 and v.dtype.kind in "iu" and v < 0
            out.append(np.asarray(v + d, v.dtype) if negative else i)
    return tuple(out)


@primitive_wrapper(dynamic_slice_p)
def dynamic_slice(operand, start_indices, slice_sizes, *, allow_negative_indices=True):
    """The slice of ``slice_sizes`` at run-time ``start_indices``.

    ``start_indices`` is a sequence of scalars (or a 1-d array), one per dimension. As
    in JAX, a negative start counts from the end (unless ``allow_negative_indices`` is
    false), then starts are clamped so that the slice fits.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.dynamic_slice(np.arange(5), (4,), (2,))
    array([3, 4], dtype=int32)
    >>> lax.dynamic_slice(np.arange(5), (-2,), (2,))
    array([3, 4], dtype=int32)
    """
    starts = _wrap_negative(operand, _index_operands(start_indices), allow_negative_indices)
    return dynamic_slice_p.bind(operand, *starts,
                                slice_sizes=_int_tuple("dynamic_slice", "slice_sizes", slice_sizes))


@primitive_wrapper(dynamic_update_slice_p)
def dynamic_update_slice(operand, update, start_indices, *, allow_negative_indices=True):
    """``operand`` with ``update`` written at run-time ``start_indices``.

    Negative starts count from the end (as in JAX, unless ``allow_negative_indices`` is
    false), then starts are clamped so that the update fits.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.dynamic_update_slice(np.zeros(4, "int32"), np.array([7, 8]), (1,))
    array([0, 7, 8, 0], dtype=int32)
    """
    starts = _wrap_negative(operand, _index_operands(start_indices), allow_negative_indices)
    return dynamic_update_slice_p.bind(operand, update, *starts)


@primitive_wrapper(select_n_p)
def select_n(which, *cases):
    """Elementwise ``cases[which]``; a boolean ``which`` picks ``cases[1]`` where true.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.select_n(np.array([0, 2, 1]), np.zeros(3), np.ones(3), np.full(3, 2.0))
    array([0., 2., 1.], dtype=float32)
    """
    return select_n_p.bind(which, *cases)


@primitive_wrapper(clamp_p)
def clamp(min, x, max):  # noqa: A002 (jax.lax's names)
    """Elementwise ``min(max(x, min), max)``; bounds are scalars or shaped like ``x``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.clamp(0.0, np.array([-1.0, 0.5, 2.0]), 1.0)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    return clamp_p.bind(min, x, max)


@primitive_wrapper(gather_p)
def gather(operand, start_indices, dimension_numbers, slice_sizes, *, unique_indices=False,
           indices_are_sorted=False, mode=None, fill_value=None):
    """XLA gather: slices of ``slice_sizes`` at ``indices`` (index vector = last dim).

    >>> from s2s import lax
    >>> import numpy as np
    >>> dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
    ...                                 start_index_map=(0,))
    >>> lax.gather(np.array([10, 20, 30]), np.array([[2], [0], [5]]), dimension_numbers=dn,
    ...            slice_sizes=(1,), mode="clip")
    array([30, 10, 30], dtype=int32)
    """
    return gather_p.bind(operand, start_indices,
                         dimension_numbers=_as_dnums(GatherDimensionNumbers, "gather",
                                                     dimension_numbers),
                         slice_sizes=_int_tuple("gather", "slice_sizes", slice_sizes),
                         mode=GatherScatterMode.from_any(mode), fill_value=fill_value,
                         indices_are_sorted=bool(indices_are_sorted),
                         unique_indices=bool(unique_indices))


def _scatter_wrapper(prim, summary, example):
    def fn(operand, scatter_indices, updates, dimension_numbers, *, indices_are_sorted=False,
           unique_indices=False, mode=None):
        return prim.bind(operand, scatter_indices, updates,
                         dimension_numbers=_as_dnums(ScatterDimensionNumbers, prim.name,
                                                     dimension_numbers),
                         mode=GatherScatterMode.from_any(mode),
                         indices_are_sorted=bool(indices_are_sorted),
                         unique_indices=bool(unique_indices))
    fn.__name__ = fn.__qualname__ = prim.name
    fn.__doc__ = (f"{summary}\n\n"
                  ">>> from s2s import lax\n"
                  ">>> import numpy as np\n"
                  ">>> dn = lax.ScatterDimensionNumbers(update_window_dims=(), "
                  "inserted_window_dims=(0,),\n"
                  "...                                  scatter_dims_to_operand_dims=(0,))\n"
                  f">>> lax.{prim.name}(np.ones(3, 'int32'), np.array([[0], [2], [0]]), "
                  f"np.array([5, 6, 7]),\n"
                  f"...     dimension_numbers=dn)\n{example}\n")
    return primitive_wrapper(prim)(fn)


scatter = _scatter_wrapper(scatter_p, "XLA scatter that writes ``updates`` at ``indices``.",
                           "array([7, 1, 6], dtype=int32)")
scatter_add = _scatter_wrapper(scatter_add_p, "XLA scatter that adds ``updates`` "
                               "(duplicates accumulate).", "array([13,  1,  7], dtype=int32)")
scatter_mul = _scatter_wrapper(scatter_mul_p, "XLA scatter that multiplies by ``updates``.",
                               "array([35,  1,  6], dtype=int32)")
scatter_min = _scatter_wrapper(scatter_min_p, "XLA scatter that takes the minimum with "
                               "``updates``.", "array([1, 1, 1], dtype=int32)")
scatter_max = _scatter_wrapper(scatter_max_p, "XLA scatter that takes the maximum with "
                               "``updates``.", "array([7, 1, 6], dtype=int32)")


# The start indices are separate operands of the primitive but one sequence argument of
# the wrapper (as in jax.lax); the tracing fallback reads this to spell the call.
dynamic_slice.packs_operands_from = 1
dynamic_update_slice.packs_operands_from = 2
# concatenate's operands are spelled as one sequence too: its adjoint template names at most
# eight separate operands, and an eager lax.scan recorded under vmap stacks one per step.
concatenate.packs_operands_from = 0

# Where each wrapper's static parameters start (they may be given positionally, as in
# jax.lax; vmap passes them to batch rules by keyword).
for _fn, _start in [(convert_element_type, 1), (bitcast_convert_type, 1), (iota, 0),
                    (broadcasted_iota, 0), (broadcast_in_dim, 1), (reshape, 1), (squeeze, 1),
                    (expand_dims, 1), (transpose, 1), (rev, 1), (pad, 2), (slice, 1),
                    (dynamic_slice, 2), (dynamic_update_slice, 3), (gather, 2), (scatter, 3),
                    (scatter_add, 3), (scatter_mul, 3), (scatter_min, 3), (scatter_max, 3)]:
    _fn.static_from = _start
del _start

public = {_fn.__name__: _fn for _fn in (
    convert_element_type, bitcast_convert_type, iota, broadcasted_iota, broadcast_in_dim, reshape,
    squeeze, expand_dims, transpose, rev, pad, concatenate, slice, dynamic_slice,
    dynamic_update_slice, select_n, clamp, gather, scatter, scatter_add, scatter_mul, scatter_min,
    scatter_max)}
public.update(GatherDimensionNumbers=GatherDimensionNumbers,
              ScatterDimensionNumbers=ScatterDimensionNumbers,
              GatherScatterMode=GatherScatterMode)
del _fn
