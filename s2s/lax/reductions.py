"""Reductions, cumulative reductions, arg-reductions, sorting and windowed reductions.

Semantics follow ``jax.lax``:

* ``reduce_{sum,prod,max,min,and,or}(operand, axes)`` reduce over ``axes`` and keep the
  operand dtype (sums of int32 stay int32, no NumPy-style widening). Reductions over
  empty axes give the identity (``-inf`` for the max of floats).
* ``argmax``/``argmin(operand, axis, index_dtype)``: the first NaN wins, ties go to the
  first index (as in NumPy).
* ``cumsum``/``cumprod``/``cummax``/``cummin(operand, axis=0, reverse=False)`` lower to a
  ``stablehlo.reduce_window`` over a window the length of the axis (XLA rewrites it
  into a scan), as JAX does.
* ``sort(*operands, dimension=-1, is_stable=True, num_keys=1)`` sorts every operand
  by the first ``num_keys`` operands (lexicographically); NaNs sort last and ``-0.0``
  equals ``0.0``, as in NumPy.
* ``reduce_window(operand, init_value, computation, window_dimensions, ...)`` and the
  ``reduce_window_{sum,max,min}`` helpers. Each window's result is ``init_value``
  combined once with the operand elements the window covers: padding and
  base-dilation holes contribute nothing (what XLA computes; it differs from "pad
  with ``init_value``" only for an ``init_value`` that is not the identity).

Each ``impl`` first runs the primitive's ``abstract_eval`` on the operands' abstract
values, so eager misuse raises the same ``ShapeError``/``DtypeError`` as ``jit``, and
casts its NumPy result to the dtype that rule predicts.
"""
import numpy as np

from s2s.core import dtypes
from s2s.codegen.stablehlo import i64_array
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import Primitive, primitive_wrapper, ShapedArray, Tracer, abstractify
from s2s.lax.elementwise import _compare_type
from s2s.lax.shapes import canonicalize_axes, canonicalize_axis

# ---------------------------------------------------------------------------
# Shared helpers.

_KIND_NAMES = {"b": "bool", "i": "signed integer", "u": "unsigned integer",
               "f": "floating", "c": "complex"}


def _check_kind(name, dt, kinds):
    """Raises ``DtypeError`` unless ``dt``'s kind is in ``kinds`` (bfloat16 counts as "f")."""
    dt = np.dtype(dt)
    kind = "f" if dt == dtypes.bfloat16 else dt.kind
    if kind not in kinds:
        accepted = ", ".join(_KIND_NAMES[k] for k in kinds)
        raise DtypeError(f"{name} does not accept dtype {dt.name}; accepted dtypes are: {accepted}")


def _array(x, aval):
    """``x`` as a NumPy array of ``aval``'s dtype (Python scalars take their canonical dtype)."""
    return np.asarray(x, aval.dtype)


def _identity(kind, dt):
    """The identity of the monoid ``kind`` ("add", "mul", "max", "min", "and", "or") on ``dt``."""
    dt = np.dtype(dt)
    if kind == "add" or kind == "or":
        return np.zeros((), dt)
    if kind == "mul":
        return np.ones((), dt)
    if kind == "and":
        return np.asarray(True if dt == np.bool_ else -1).astype(dt)
    if dt == np.bool_:
        return np.asarray(kind == "min")
    if dt.kind in "iu":
        info = np.iinfo(dt)
        return np.asarray(info.min if kind == "max" else info.max, dt)
    return np.asarray(-np.inf if kind == "max" else np.inf, dt)


_MONOID_UFUNC = {"add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum,
                 "and": np.bitwise_and, "or": np.bitwise_or}
_MONOID_HLO = {"add": "stablehlo.add", "mul": "stablehlo.multiply", "max": "stablehlo.maximum",
               "min": "stablehlo.minimum", "and": "stablehlo.and", "or": "stablehlo.or"}


def _scalar_body(ctx, hlo_op, dt):
    """Region body ``(a, b) -> hlo_op(a, b)`` on 0-d values of ``dt``."""
    scalar = ShapedArray((), dt)

    def body(args):
        return ctx.builder.op(hlo_op, args, [scalar])
    return ctx.region([scalar, scalar], body)


def _dense_pairs(pairs):
    """``dense<[[lo, hi], ...]> : tensor<Nx2xi64>`` for a padding attribute."""
    rows = ", ".join(f"[{int(lo)}, {int(hi)}]" for lo, hi in pairs)
    return f"dense<[{rows}]> : tensor<{len(pairs)}x2xi64>"


def _compare(ctx, a, b, direction, dt):
    """Emits ``stablehlo.compare`` of two 0-d values; returns the i1 result."""
    (r,) = ctx.builder.op("stablehlo.compare", [a, b], [ShapedArray((), dtypes.bool_)], {
        "comparison_direction": f"#stablehlo<comparison_direction {direction}>",
        "compare_type": _compare_type(dt)})
    return r


def _logic(ctx, op, *args):
    (r,) = ctx.builder.op(f"stablehlo.{op}", list(args), [ShapedArray((), dtypes.bool_)])
    return r


# ---------------------------------------------------------------------------
# reduce_{sum,prod,max,min,and,or}: ``stablehlo.reduce`` with a monoid body.


def _reduction(name, monoid, kinds):
    prim = Primitive(name)
    ufunc = _MONOID_UFUNC[monoid]
    hlo_op = _MONOID_HLO[monoid]

    def abstract_eval(x, *, axes):
        _check_kind(name, x.dtype, kinds)
        axes = canonicalize_axes(name, axes, x.ndim)
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return ShapedArray(shape, x.dtype, x.weak_type)

    def impl(x, *, axes):
        out = abstract_eval(abstractify(x), axes=axes)
        x = _array(x, out)
        axes = canonicalize_axes(name, axes, x.ndim)
        if not axes:
            return x.copy()
        r = ufunc.reduce(x, axis=axes, dtype=out.dtype, initial=_identity(monoid, out.dtype))
        return np.asarray(r, out.dtype)

    def lower(ctx, x, *, axes):
        (aval,) = ctx.avals_in
        axes = sorted(canonicalize_axes(name, axes, aval.ndim))
        if not axes:
            return x
        init = ctx.constant(_identity(monoid, aval.dtype), ShapedArray((), aval.dtype))
        return ctx.op1("stablehlo.reduce", [x, init], attrs={"dimensions": i64_array(axes)},
                       regions=[_scalar_body(ctx, hlo_op, aval.dtype)])

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower)
    return prim


reduce_sum_p = _reduction("reduce_sum", "add", "iufc")
reduce_prod_p = _reduction("reduce_prod", "mul", "iufc")
reduce_max_p = _reduction("reduce_max", "max", "biufc")
reduce_min_p = _reduction("reduce_min", "min", "biufc")
reduce_and_p = _reduction("reduce_and", "and", "biu")
reduce_or_p = _reduction("reduce_or", "or", "biu")


def _axes_param(name, x, axes):
    """Validated, non-negative ``axes`` (a ``ShapeError`` naming ``name`` otherwise)."""
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return canonicalize_axes(name, tuple(axes), abstractify(x).ndim)


def _axis_param(name, x, axis):
    """A non-negative ``axis`` for ``x`` (0-d operands are left to the abstract rule)."""
    ndim = abstractify(x).ndim
    return canonicalize_axis(name, axis, ndim) if ndim else int(axis)


@primitive_wrapper(reduce_sum_p)
def reduce_sum(operand, axes):
    """Sum over ``axes``, keeping the operand dtype.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_sum(np.arange(6, dtype=np.int32).reshape(2, 3), axes=(0,))
    array([3, 5, 7], dtype=int32)
    """
    return reduce_sum_p.bind(operand, axes=_axes_param("reduce_sum", operand, axes))


@primitive_wrapper(reduce_prod_p)
def reduce_prod(operand, axes):
    """Product over ``axes``, keeping the operand dtype.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_prod(np.array([[1., 2.], [3., 4.]], np.float32), axes=(1,))
    array([ 2., 12.], dtype=float32)
    """
    return reduce_prod_p.bind(operand, axes=_axes_param("reduce_prod", operand, axes))


@primitive_wrapper(reduce_max_p)
def reduce_max(operand, axes):
    """Maximum over ``axes`` (NaN propagates; ``-inf`` over an empty axis).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_max(np.array([[1., 5.], [3., 4.]], np.float32), axes=(0, 1))
    array(5., dtype=float32)
    """
    return reduce_max_p.bind(operand, axes=_axes_param("reduce_max", operand, axes))


@primitive_wrapper(reduce_min_p)
def reduce_min(operand, axes):
    """Minimum over ``axes`` (NaN propagates; ``inf`` over an empty axis).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_min(np.array([[1., 5.], [3., 4.]], np.float32), axes=(1,))
    array([1., 3.], dtype=float32)
    """
    return reduce_min_p.bind(operand, axes=_axes_param("reduce_min", operand, axes))


@primitive_wrapper(reduce_and_p)
def reduce_and(operand, axes):
    """Logical (bool) or bitwise (integer) AND over ``axes``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_and(np.array([[True, False], [True, True]]), axes=(1,))
    array([False,  True])
    """
    return reduce_and_p.bind(operand, axes=_axes_param("reduce_and", operand, axes))


@primitive_wrapper(reduce_or_p)
def reduce_or(operand, axes):
    """Logical (bool) or bitwise (integer) OR over ``axes``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_or(np.array([[True, False], [False, False]]), axes=(1,))
    array([ True, False])
    """
    return reduce_or_p.bind(operand, axes=_axes_param("reduce_or", operand, axes))


# ---------------------------------------------------------------------------
# argmax / argmin: a variadic ``stablehlo.reduce`` over (value, index) pairs.


def _argminmax(name, np_fn, direction):
    prim = Primitive(name)

    def abstract_eval(x, *, axis, index_dtype):
        _check_kind(name, x.dtype, "biuf")
        index_dtype = dtypes.canonicalize_dtype(index_dtype)
        if not dtypes.is_integer(index_dtype):
            raise DtypeError(f"{name}: index_dtype must be an integer dtype, got {index_dtype.name}")
        if x.ndim == 0:
            raise ShapeError(f"{name}: axis {axis} is out of bounds for array of dimension 0")
        axis = canonicalize_axis(name, axis, x.ndim)
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: cannot reduce over axis {axis} of size 0 "
                             f"(operand shape {x.shape}); the reduced dimension must be non-empty")
        shape = x.shape[:axis] + x.shape[axis + 1:]
        return ShapedArray(shape, index_dtype)

    def impl(x, *, axis, index_dtype):
        aval = abstractify(x)
        out = abstract_eval(aval, axis=axis, index_dtype=index_dtype)
        return np.asarray(np_fn(_array(x, aval), axis=axis), out.dtype)

    def lower(ctx, x, *, axis, index_dtype):
        (aval,) = ctx.avals_in
        out = ctx.avals_out[0]
        axis = canonicalize_axis(name, axis, aval.ndim)
        idx_aval = aval.update(dtype=out.dtype, weak_type=False)
        idx = ctx.op1("stablehlo.iota", [], idx_aval, {"iota_dimension": f"{axis} : i64"})
        v_scalar, i_scalar = ShapedArray((), aval.dtype), ShapedArray((), out.dtype)
        init_v = ctx.constant(_identity("max" if direction == "GT" else "min", aval.dtype), v_scalar)
        init_i = ctx.constant(0, i_scalar)
        is_float = dtypes.is_float(aval.dtype)

        def body(args):
            xv, xi, yv, yi = args
            # Commutative choice (the reduction order is unspecified): NaN beats
            # numbers, otherwise the larger (smaller) value; ties and two NaNs go to
            # the smaller index.
            better = _compare(ctx, xv, yv, direction, aval.dtype)
            tie = _compare(ctx, xv, yv, "EQ", aval.dtype)
            if is_float:
                x_nan = _compare(ctx, xv, xv, "NE", aval.dtype)
                y_nan = _compare(ctx, yv, yv, "NE", aval.dtype)
                y_num = _logic(ctx, "not", y_nan)
                better = _logic(ctx, "or", better, _logic(ctx, "and", x_nan, y_num))
                tie = _logic(ctx, "or", tie, _logic(ctx, "and", x_nan, y_nan))
            first = _compare(ctx, xi, yi, "LT", out.dtype)
            pick_x = _logic(ctx, "or", better, _logic(ctx, "and", tie, first))
            (v,) = ctx.builder.op("stablehlo.select", [pick_x, xv, yv], [v_scalar])
            (i,) = ctx.builder.op("stablehlo.select", [pick_x, xi, yi], [i_scalar])
            return [v, i]

        region = ctx.region([v_scalar, i_scalar, v_scalar, i_scalar], body)
        out_v = ShapedArray(out.shape, aval.dtype)
        _, result = ctx.op("stablehlo.reduce", [x, idx, init_v, init_i], [out_v, out],
                           attrs={"dimensions": i64_array([axis])}, regions=[region])
        return result

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower)
    return prim


argmax_p = _argminmax("argmax", np.argmax, "GT")
argmin_p = _argminmax("argmin", np.argmin, "LT")


def _index_dtype(index_dtype):
    return dtypes.default_int_dtype() if index_dtype is None else np.dtype(index_dtype)


@primitive_wrapper(argmax_p)
def argmax(operand, axis, index_dtype=None):
    """Index of the maximum along ``axis`` (first NaN wins; ties go to the first index).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.argmax(np.array([1., 3., 3., 2.], np.float32), axis=0, index_dtype=np.int32)
    array(1, dtype=int32)
    """
    return argmax_p.bind(operand, axis=_axis_param("argmax", operand, axis),
                         index_dtype=_index_dtype(index_dtype))


@primitive_wrapper(argmin_p)
def argmin(operand, axis, index_dtype=None):
    """Index of the minimum along ``axis`` (first NaN wins; ties go to the first index).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.argmin(np.array([[4., 1.], [0., 7.]], np.float32), axis=1, index_dtype=np.int32)
    array([1, 0], dtype=int32)
    """
    return argmin_p.bind(operand, axis=_axis_param("argmin", operand, axis),
                         index_dtype=_index_dtype(index_dtype))


# ---------------------------------------------------------------------------
# Cumulative reductions: ``stablehlo.reduce_window`` over the whole axis.


def _flip(x, axis, reverse):
    return np.flip(x, axis) if reverse else x


def _cumulative(name, monoid, np_accumulate, kinds):
    prim = Primitive(name)

    def abstract_eval(x, *, axis, reverse):
        _check_kind(name, x.dtype, kinds)
        if x.ndim == 0:
            raise ShapeError(f"{name}: axis {axis} is out of bounds for array of dimension 0")
        canonicalize_axis(name, axis, x.ndim)
        return x

    def impl(x, *, axis, reverse):
        out = abstract_eval(abstractify(x), axis=axis, reverse=reverse)
        x = _array(x, out)
        r = _flip(np_accumulate(_flip(x, axis, reverse), axis), axis, reverse)
        return np.asarray(r, out.dtype)

    def lower(ctx, x, *, axis, reverse):
        (aval,) = ctx.avals_in
        axis = canonicalize_axis(name, axis, aval.ndim)
        n = aval.shape[axis]
        if n <= 1:
            return x
        window = [1] * aval.ndim
        window[axis] = n
        pads = [(0, 0)] * aval.ndim
        pads[axis] = (0, n - 1) if reverse else (n - 1, 0)
        init = ctx.constant(_identity(monoid, aval.dtype), ShapedArray((), aval.dtype))
        return ctx.op1("stablehlo.reduce_window", [x, init], attrs={
            "window_dimensions": i64_array(window),
            "window_strides": i64_array([1] * aval.ndim),
            "padding": _dense_pairs(pads)},
            regions=[_scalar_body(ctx, _MONOID_HLO[monoid], aval.dtype)])

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower)
    return prim


def _np_cumsum(x, axis):
    return np.cumsum(x, axis=axis, dtype=x.dtype)


def _np_cumprod(x, axis):
    return np.cumprod(x, axis=axis, dtype=x.dtype)


def _np_cummax(x, axis):
    return np.maximum.accumulate(x, axis=axis)


def _np_cummin(x, axis):
    return np.minimum.accumulate(x, axis=axis)


cumsum_p = _cumulative("cumsum", "add", _np_cumsum, "iufc")
cumprod_p = _cumulative("cumprod", "mul", _np_cumprod, "iufc")
cummax_p = _cumulative("cummax", "max", _np_cummax, "iufc")
cummin_p = _cumulative("cummin", "min", _np_cummin, "iufc")


@primitive_wrapper(cumsum_p)
def cumsum(operand, axis=0, reverse=False):
    """Cumulative sum along ``axis`` (from the end when ``reverse``), keeping the dtype.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.cumsum(np.array([1, 2, 3], np.int32), axis=0)
    array([1, 3, 6], dtype=int32)
    """
    return cumsum_p.bind(operand, axis=_axis_param("cumsum", operand, axis), reverse=bool(reverse))


@primitive_wrapper(cumprod_p)
def cumprod(operand, axis=0, reverse=False):
    """Cumulative product along ``axis`` (from the end when ``reverse``).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.cumprod(np.array([1., 2., 3.], np.float32), axis=0, reverse=True)
    array([6., 6., 3.], dtype=float32)
    """
    return cumprod_p.bind(operand, axis=_axis_param("cumprod", operand, axis), reverse=bool(reverse))


@primitive_wrapper(cummax_p)
def cummax(operand, axis=0, reverse=False):
    """Running maximum along ``axis`` (NaN propagates).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.cummax(np.array([1., 3., 2.], np.float32), axis=0)
    array([1., 3., 3.], dtype=float32)
    """
    return cummax_p.bind(operand, axis=_axis_param("cummax", operand, axis), reverse=bool(reverse))


@primitive_wrapper(cummin_p)
def cummin(operand, axis=0, reverse=False):
    """Running minimum along ``axis`` (NaN propagates).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.cummin(np.array([3., 1., 2.], np.float32), axis=0)
    array([3., 1., 1.], dtype=float32)
    """
    return cummin_p.bind(operand, axis=_axis_param("cummin", operand, axis), reverse=bool(reverse))


# ---------------------------------------------------------------------------
# sort: ``stablehlo.sort`` with a lexicographic comparator over the keys.

sort_p = Primitive("sort", multiple_results=True)


@sort_p.def_abstract_eval
def _sort_abstract(*operands, dimension, is_stable, num_keys):
    if not operands:
        raise ShapeError("sort: needs at least one operand")
    shape = operands[0].shape
    for op in operands[1:]:
        if op.shape != shape:
            raise ShapeError("sort: all operands must have the same shape, got "
                             + ", ".join(str(o.shape) for o in operands))
    if not 1 <= num_keys <= len(operands):
        raise ShapeError(f"sort: num_keys must be between 1 and the number of operands "
                         f"({len(operands)}), got {num_keys}")
    if len(shape) == 0:
        raise ShapeError(f"sort: dimension {dimension} is out of bounds for array of dimension 0")
    canonicalize_axis("sort", dimension, len(shape))
    for op in operands[:num_keys]:
        _check_kind("sort", op.dtype, "biufc")
    return list(operands)


def _sort_keys(keys):
    """Keys for ``np.lexsort``, most significant first; complex keys split into (re, im)."""
    out = []
    for k in keys:
        if k.dtype.kind == "c":
            out += [k.real, k.imag]
        else:
            out.append(k)
    return out


@sort_p.def_impl
def _sort_impl(*operands, dimension, is_stable, num_keys):
    avals = [abstractify(o) for o in operands]
    outs = _sort_abstract(*avals, dimension=dimension, is_stable=is_stable, num_keys=num_keys)
    arrays = [_array(o, a) for o, a in zip(operands, outs)]
    dim = canonicalize_axis("sort", dimension, arrays[0].ndim)
    keys = _sort_keys(arrays[:num_keys])
    if len(keys) == 1:
        perm = np.argsort(keys[0], axis=dim, kind="stable")
    else:
        # (lexsort is stable; its last key is the primary one.)
        perm = np.lexsort(keys[::-1], axis=dim)
    return [np.take_along_axis(a, perm, axis=dim) for a in arrays]


def _sort_less(ctx, a, b, dt):
    """(a < b, a == b) for a total order with NaNs last and -0.0 == 0.0."""
    lt = _compare(ctx, a, b, "LT", dt)
    eq = _compare(ctx, a, b, "EQ", dt)
    if dtypes.is_float(dt):
        a_nan = _compare(ctx, a, a, "NE", dt)
        b_nan = _compare(ctx, b, b, "NE", dt)
        lt = _logic(ctx, "or", lt, _logic(ctx, "and", b_nan, _logic(ctx, "not", a_nan)))
        eq = _logic(ctx, "or", eq, _logic(ctx, "and", a_nan, b_nan))
    return lt, eq


@sort_p.def_lower
def _sort_lower(ctx, *operands, dimension, is_stable, num_keys):
    avals = ctx.avals_in
    dim = canonicalize_axis("sort", dimension, avals[0].ndim)
    scalars = [ShapedArray((), a.dtype) for a in avals]

    def body(args):
        # Comparator arguments come in pairs: (lhs_0, rhs_0, lhs_1, rhs_1, ...).
        parts = []  # (lt, eq) per key component, most significant first
        for k in range(num_keys):
            a, b = args[2 * k], args[2 * k + 1]
            dt = scalars[k].dtype
            if dtypes.is_complex(dt):
                real = ShapedArray((), dtypes.real_dtype(dt))
                for part in ("stablehlo.real", "stablehlo.imag"):
                    (pa,) = ctx.builder.op(part, [a], [real])
                    (pb,) = ctx.builder.op(part, [b], [real])
                    parts.append(_sort_less(ctx, pa, pb, real.dtype))
            else:
                parts.append(_sort_less(ctx, a, b, dt))
        result = parts[-1][0]
        for lt, eq in reversed(parts[:-1]):
            result = _logic(ctx, "or", lt, _logic(ctx, "and", eq, result))
        return [result]

    region = ctx.region([s for s in scalars for _ in (0, 1)], body)
    return ctx.op("stablehlo.sort", list(operands), attrs={
        "dimension": f"{dim} : i64", "is_stable": "true" if is_stable else "false"},
        regions=[region])


@primitive_wrapper(sort_p)
def sort(*operands, dimension=-1, is_stable=True, num_keys=1):
    """Sorts along ``dimension``; with several operands, all follow the first ``num_keys``.

    One array gives one sorted array; several (or a tuple/list, as in ``jax.lax.sort``)
    give a tuple. NaNs sort last, and the sort is stable.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.sort(np.array([3., np.nan, 1.], np.float32))
    array([ 1.,  3., nan], dtype=float32)
    >>> keys, vals = lax.sort(np.array([2, 1, 2], np.int32), np.array([10, 20, 30], np.int32))
    >>> vals
    array([20, 10, 30], dtype=int32)
    """
    single = len(operands) == 1 and not isinstance(operands[0], (tuple, list))
    if len(operands) == 1 and isinstance(operands[0], (tuple, list)):
        operands = tuple(operands[0])
    if operands:
        dimension = _axis_param("sort", operands[0], dimension)
    out = sort_p.bind(*operands, dimension=int(dimension), is_stable=bool(is_stable),
                      num_keys=int(num_keys))
    return out[0] if single else tuple(out)


# ---------------------------------------------------------------------------
# Windowed reductions. ``reduce_window_{sum,max,min}`` start from the identity
# (as in JAX); ``reduce_window`` takes an explicit ``init_value`` operand.


def _window_params(name, ndim, window_dimensions, window_strides, padding, base_dilation,
                   window_dilation):
    """Checks the window parameters against an operand of rank ``ndim``."""
    fields = {"window_dimensions": window_dimensions, "window_strides": window_strides,
              "base_dilation": base_dilation, "window_dilation": window_dilation,
              "padding": padding}
    for field, value in fields.items():
        if len(value) != ndim:
            raise ShapeError(f"{name}: {field} must have one entry per operand dimension "
                             f"({ndim}), got {tuple(value)}")
    for field in ("window_dimensions", "window_strides", "base_dilation", "window_dilation"):
        if any(v < 1 for v in fields[field]):
            raise ShapeError(f"{name}: {field} must be positive, got {tuple(fields[field])}")


def _dilate(d, k):
    return 0 if d == 0 else (d - 1) * k + 1


def _window_out_shape(name, shape, window_dimensions, window_strides, padding, base_dilation,
                      window_dilation):
    out = []
    for d, w, s, (lo, hi), b, wd in zip(shape, window_dimensions, window_strides, padding,
                                        base_dilation, window_dilation):
        padded = _dilate(d, b) + lo + hi
        if padded < 0:
            raise ShapeError(f"{name}: negative padding {(lo, hi)} is larger than the dimension "
                             f"it pads (size {d}) in operand shape {tuple(shape)}")
        out.append(max(0, (padded - _dilate(w, wd)) // s + 1))
    return tuple(out)


def _padded_base(x, init, padding, base_dilation):
    """``x`` dilated and padded (negative padding crops), holes filled with ``init``."""
    full = [_dilate(d, b) + max(lo, 0) + max(hi, 0)
            for d, (lo, hi), b in zip(x.shape, padding, base_dilation)]
    out = np.full(full, init, x.dtype)
    out[tuple(slice(max(lo, 0), max(lo, 0) + _dilate(d, b), b)
              for d, (lo, _), b in zip(x.shape, padding, base_dilation))] = x
    return out[tuple(slice(max(-lo, 0), n - max(-hi, 0))
                     for n, (lo, hi) in zip(full, padding))]


def _window_view(padded, out_shape, window_dimensions, window_strides, window_dilation):
    """(out..., window...) view of the windows of ``padded``."""
    eff = [_dilate(w, d) for w, d in zip(window_dimensions, window_dilation)]
    view = np.lib.stride_tricks.sliding_window_view(padded, eff)
    index = tuple(slice(0, o * s, s) for o, s in zip(out_shape, window_strides))
    index += tuple(slice(None, None, d) for d in window_dilation)
    return view[index]


def _reduce_window_impl(x, init, monoid, out_shape, params):
    ufunc = _MONOID_UFUNC[monoid]
    if 0 in out_shape:
        return np.full(out_shape, init, x.dtype)
    # Holes hold the identity, so only the covered elements and ``init`` count.
    padded = _padded_base(x, _identity(monoid, x.dtype), params["padding"],
                          params["base_dilation"])
    windows = _window_view(padded, out_shape, params["window_dimensions"],
                           params["window_strides"], params["window_dilation"])
    axes = tuple(range(x.ndim, 2 * x.ndim))
    return np.asarray(ufunc.reduce(windows, axis=axes, dtype=x.dtype, initial=init), x.dtype)


def _reduce_window_lower(ctx, x, init, monoid, params):
    (aval, *_) = ctx.avals_in
    return ctx.op1("stablehlo.reduce_window", [x, init], attrs={
        "window_dimensions": i64_array(params["window_dimensions"]),
        "window_strides": i64_array(params["window_strides"]),
        "base_dilations": i64_array(params["base_dilation"]),
        "window_dilations": i64_array(params["window_dilation"]),
        "padding": _dense_pairs(params["padding"]) if aval.ndim else "dense<> : tensor<0x2xi64>"},
        regions=[_scalar_body(ctx, _MONOID_HLO[monoid], aval.dtype)])


def _reduce_window_monoid(name, monoid, kinds):
    prim = Primitive(name)

    def abstract_eval(x, **params):
        _check_kind(name, x.dtype, kinds)
        _window_params(name, x.ndim, **params)
        return ShapedArray(_window_out_shape(name, x.shape, **params), x.dtype, x.weak_type)

    def impl(x, **params):
        out = abstract_eval(abstractify(x), **params)
        x = _array(x, out)
        return _reduce_window_impl(x, _identity(monoid, out.dtype), monoid, out.shape, params)

    def lower(ctx, x, **params):
        dt = ctx.avals_in[0].dtype
        init = ctx.constant(_identity(monoid, dt), ShapedArray((), dt))
        return _reduce_window_lower(ctx, x, init, monoid, params)

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower)
    return prim


reduce_window_sum_p = _reduce_window_monoid("reduce_window_sum", "add", "iufc")
reduce_window_max_p = _reduce_window_monoid("reduce_window_max", "max", "biufc")
reduce_window_min_p = _reduce_window_monoid("reduce_window_min", "min", "biufc")
_MONOID_PRIM = {"add": reduce_window_sum_p, "max": reduce_window_max_p, "min": reduce_window_min_p}

reduce_window_p = Primitive("reduce_window")
_WINDOW_KINDS = {"add": "iufc", "mul": "iufc", "max": "biufc", "min": "biufc"}


@reduce_window_p.def_abstract_eval
def _reduce_window_abstract(x, init_value, *, computation, **params):
    if computation not in _WINDOW_KINDS:
        raise ValueError(f"reduce_window: computation must be one of {sorted(_WINDOW_KINDS)}, "
                         f"got {computation!r}")
    _check_kind("reduce_window", x.dtype, _WINDOW_KINDS[computation])
    if init_value.shape != ():
        raise ShapeError(f"reduce_window: init_value must be a scalar, got shape {init_value.shape}")
    if init_value.dtype != x.dtype:
        raise DtypeError(f"reduce_window: init_value dtype {init_value.dtype.name} does not match "
                         f"the operand dtype {x.dtype.name}")
    _window_params("reduce_window", x.ndim, **params)
    return ShapedArray(_window_out_shape("reduce_window", x.shape, **params), x.dtype, x.weak_type)


@reduce_window_p.def_impl
def _reduce_window_generic_impl(x, init_value, *, computation, **params):
    x_aval, init_aval = abstractify(x), abstractify(init_value)
    out = _reduce_window_abstract(x_aval, init_aval, computation=computation, **params)
    x = _array(x, out)
    init = _array(init_value, out)
    return _reduce_window_impl(x, init, computation, out.shape, params)


@reduce_window_p.def_lower
def _reduce_window_generic_lower(ctx, x, init_value, *, computation, **params):
    return _reduce_window_lower(ctx, x, init_value, computation, params)


def _computation_name(computation):
    """"add"/"mul"/"max"/"min" from a string or an ``s2s.lax`` function such as ``lax.add``."""
    prim = getattr(computation, "primitive", None)
    name = prim.name if prim is not None else computation
    if name not in _WINDOW_KINDS:
        raise ValueError(f"reduce_window: computation must be one of {sorted(_WINDOW_KINDS)} "
                         f"(or lax.add, lax.mul, lax.max, lax.min), got {computation!r}")
    return name


def padtype_to_pads(in_shape, window_shape, window_strides, padding, *,
                    opname="padtype_to_pads"):
    """Explicit ``(lo, hi)`` pairs for ``'SAME'``, ``'SAME_LOWER'`` or ``'VALID'`` padding.

    ``'SAME'`` gives ``ceil(in / stride)`` outputs, the odd pad element going to the end.

    >>> from s2s.lax import padtype_to_pads
    >>> padtype_to_pads((5,), (2,), (1,), "SAME")
    ((0, 1),)
    """
    if not isinstance(padding, str):
        return tuple((int(lo), int(hi)) for lo, hi in padding)
    kind = padding.upper()
    if kind == "VALID":
        return ((0, 0),) * len(in_shape)
    if kind not in ("SAME", "SAME_LOWER"):
        raise ValueError(f"{opname}: padding must be 'SAME', 'SAME_LOWER', 'VALID' or a "
                         f"sequence of (low, high) pairs, got {padding!r}")
    pads = []
    for d, w, s in zip(in_shape, window_shape, window_strides):
        total = max((-(-d // s) - 1) * s + w - d, 0)
        small, big = total // 2, total - total // 2
        pads.append((small, big) if kind == "SAME" else (big, small))
    return tuple(pads)


def _window_kwargs(name, x, window_dimensions, window_strides, padding, base_dilation,
                   window_dilation):
    """Normalizes the public window arguments into hashable primitive params."""
    window_dimensions = tuple(int(w) for w in window_dimensions)
    n = len(window_dimensions)
    window_strides = (1,) * n if window_strides is None else tuple(int(s) for s in window_strides)
    base_dilation = (1,) * n if base_dilation is None else tuple(int(b) for b in base_dilation)
    window_dilation = (1,) * n if window_dilation is None else tuple(int(d) for d in window_dilation)
    if isinstance(padding, str):
        shape = abstractify(x).shape
        eff = [_dilate(w, d) for w, d in zip(window_dimensions, window_dilation)]
        padding = padtype_to_pads(shape, eff, window_strides, padding, opname=name)
    else:
        padding = tuple((int(lo), int(hi)) for lo, hi in padding)
    return dict(window_dimensions=window_dimensions, window_strides=window_strides,
                padding=padding, base_dilation=base_dilation, window_dilation=window_dilation)


@primitive_wrapper(reduce_window_p)
def reduce_window(operand, init_value, computation, window_dimensions, window_strides=None,
                  padding="VALID", base_dilation=None, window_dilation=None):
    """Reduces each window of ``operand`` with ``computation`` ("add", "mul", "max", "min").

    Each window starts from ``init_value``; padding and base-dilation holes are skipped.

    >>> from s2s import lax
    >>> import numpy as np
    >>> x = np.arange(5, dtype=np.float32)
    >>> lax.reduce_window(x, 0.0, computation="add", window_dimensions=(2,))
    array([1., 3., 5., 7.], dtype=float32)
    """
    computation = _computation_name(computation)
    params = _window_kwargs("reduce_window", operand, window_dimensions, window_strides, padding,
                            base_dilation, window_dilation)
    if not isinstance(init_value, Tracer):
        dt = abstractify(operand).dtype
        if dtypes.is_python_scalar(init_value):
            init_value = np.asarray(init_value, dt)
        prim = _MONOID_PRIM.get(computation)
        init = np.asarray(init_value)
        if (prim is not None and init.shape == () and dtypes.canonicalize_dtype(init.dtype) == dt
                and init == _identity(computation, dt)):
            return prim.bind(operand, **params)
    return reduce_window_p.bind(operand, init_value, computation=computation, **params)


@primitive_wrapper(reduce_window_sum_p)
def reduce_window_sum(x, *, window_dimensions, window_strides=None, padding="VALID",
                      base_dilation=None, window_dilation=None):
    """Sum over each window of ``x`` (zero padding).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_window_sum(np.ones((3, 3), np.float32), window_dimensions=(2, 2), padding="SAME")
    array([[4., 4., 2.],
           [4., 4., 2.],
           [2., 2., 1.]], dtype=float32)
    """
    return reduce_window_sum_p.bind(x, **_window_kwargs(
        "reduce_window_sum", x, window_dimensions, window_strides, padding, base_dilation, window_dilation))


@primitive_wrapper(reduce_window_max_p)
def reduce_window_max(x, *, window_dimensions, window_strides=None, padding="VALID",
                      base_dilation=None, window_dilation=None):
    """Maximum over each window of ``x`` (max pooling; padding holds ``-inf``).

    >>> from s2s import lax
    >>> import numpy as np
    >>> x = np.array([[1., 2., 3., 4.], [5., 6., 7., 8.]], np.float32)
    >>> lax.reduce_window_max(x, window_dimensions=(2, 2), window_strides=(2, 2))
    array([[6., 8.]], dtype=float32)
    """
    return reduce_window_max_p.bind(x, **_window_kwargs(
        "reduce_window_max", x, window_dimensions, window_strides, padding, base_dilation, window_dilation))


@primitive_wrapper(reduce_window_min_p)
def reduce_window_min(x, *, window_dimensions, window_strides=None, padding="VALID",
                      base_dilation=None, window_dilation=None):
    """Minimum over each window of ``x`` (padding holds ``inf``).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.reduce_window_min(np.array([3., 1., 2.], np.float32), window_dimensions=(2,))
    array([1., 1.], dtype=float32)
    """
    return reduce_window_min_p.bind(x, **_window_kwargs(
        "reduce_window_min", x, window_dimensions, window_strides, padding, base_dilation, window_dilation))


# Where each wrapper's static parameters start (see structural.py).
for _fn, _start in [(reduce_sum, 1), (reduce_prod, 1), (reduce_max, 1), (reduce_min, 1),
                    (reduce_and, 1), (reduce_or, 1), (argmax, 1), (argmin, 1), (cumsum, 1),
                    (cumprod, 1), (cummax, 1), (cummin, 1), (reduce_window, 2)]:
    _fn.static_from = _start
del _start

public = {fn.__name__: fn for fn in (
    reduce_sum, reduce_prod, reduce_max, reduce_min, reduce_and, reduce_or, argmax, argmin,
    cumsum, cumprod, cummax, cummin, sort, reduce_window, reduce_window_sum, reduce_window_max,
    reduce_window_min, padtype_to_pads)}
sort.unpacks_single_result = True  # one operand in, one array out (not a 1-tuple)
