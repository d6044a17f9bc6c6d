"""Reductions: sums, extrema, statistics, order statistics and their NaN-ignoring forms.

The functions hot in eager numerical code (``sum``, ``prod``, ``mean``, ``var``,
``std``, ``max``, ``min``, ``argmax``, ``argmin``, ``all``, ``any``) are NumPy-level
primitives: NumPy computes them eagerly, and a composite on ``s2s.lax`` gives their
meaning under ``jit``. The rest are composites of those and of ``s2s.lax``.

Dtypes follow ``jax.numpy`` (so eager and jit agree): sums and products of bools
and of integers narrower than the default integer are taken in the default integer
(unsigned: the default unsigned integer); ``mean``, ``var``, ``std``, ``median``,
``quantile`` and ``average`` of integers give the default float; ``var``/``std`` of
complex values are real. ``axis`` is None, an int or a tuple (negatives allowed);
``out=`` is not supported (values, not buffers).

>>> import numpy as onp, s2s.numpy as np
>>> np.sum(onp.ones((2, 3)), axis=0)
array([2., 2., 2.], dtype=float32)
"""
import builtins
import math

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import ShapeError
from s2s.core.primitive import primitive_wrapper, Tracer
from s2s.numpy import _internal as I
from s2s.numpy._primitive import numpy_primitive

__all__ = [
    "sum", "prod", "mean", "var", "std", "max", "min", "amax", "amin", "argmax", "argmin",
    "all", "any", "cumsum", "cumprod", "cumulative_sum", "cumulative_prod", "median",
    "quantile", "percentile", "average", "ptp", "count_nonzero", "nansum", "nanprod",
    "nanmean", "nanmax", "nanmin", "nanvar", "nanstd",
]

# ---------------------------------------------------------------------------
# Shared helpers.


def _no_out(name, out):
    if out is not None:
        raise NotImplementedError(f"{name}: the out= argument is not supported (s2s arrays are "
                                  "values); use the returned array instead")


def _static_axis(axis):
    """``axis`` as a hashable static parameter (None, int or tuple of ints)."""
    if isinstance(axis, Tracer):
        raise TypeError("axis must be a concrete int or tuple of ints, not a staged value")
    if isinstance(axis, (list, tuple)):
        return tuple(int(a) for a in axis)
    return None if axis is None else int(axis)


def _static_dtype(dt):
    return None if dt is None else onp.dtype(dt)


def _keep(x, axes, shape, keepdims):
    """``x`` (reduced over ``axes`` of ``shape``) with the reduced axes kept as size 1."""
    if not keepdims:
        return x
    return I.reshape(x, tuple(1 if i in axes else d for i, d in enumerate(shape)))


def _count(shape, axes):
    return math.prod(shape[i] for i in axes)


def _sum_dtype(in_dtype, dtype=None):
    """The accumulation dtype of ``sum``/``prod``/``cumsum`` (as ``jax.numpy``)."""
    if dtype is not None:
        return dtypes.canonicalize_dtype(dtype)
    dt = onp.dtype(in_dtype)
    default_int = dtypes.default_int_dtype()
    if dt == dtypes.bool_ or (dt.kind == "i" and dt.itemsize < default_int.itemsize):
        return default_int
    if dt.kind == "u" and dt.itemsize < default_int.itemsize:
        return dtypes.canonicalize_dtype(onp.uint64)
    return dt


def _upcast(dt):
    """Computation dtype for statistics of ``dt`` (half floats accumulate in float32)."""
    return dtypes.float32 if dt in (dtypes.float16, dtypes.bfloat16) else dt


def _mask(name, a, where, identity):
    """``a`` with the entries outside ``where`` replaced by ``identity``."""
    if where is None:
        return a
    if identity is None:
        raise ValueError(f"{name}: a where= mask needs initial= (the reduction has no identity)")
    return I.where(where, a, identity)


# ---------------------------------------------------------------------------
# sum, prod: NumPy-level primitives.


def _sum_prod_composite(reducer, name):
    def composite(a, axis=None, dtype=None, keepdims=False):
        av = I.aval(a)
        axes = I.reduction_axes(name, axis, av.ndim)
        out = reducer(I.astype(a, _sum_dtype(av.dtype, dtype)), axes=axes)
        return _keep(out, axes, av.shape, keepdims)
    return composite


def _sum_impl(a, axis=None, dtype=None, keepdims=False):
    return onp.sum(a, axis=axis, dtype=dtype, keepdims=keepdims)


def _prod_impl(a, axis=None, dtype=None, keepdims=False):
    return onp.prod(a, axis=axis, dtype=dtype, keepdims=keepdims)


sum_p = numpy_primitive("sum", _sum_impl, _sum_prod_composite(lax.reduce_sum, "sum"))
prod_p = numpy_primitive("prod", _prod_impl, _sum_prod_composite(lax.reduce_prod, "prod"))


def _with_initial(r, initial, combine):
    return r if initial is None else combine(r, I.astype(initial, I.dtype(r)))


@primitive_wrapper(sum_p)
def sum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Sum of array elements over ``axis`` (int, tuple, negative allowed).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.sum(onp.ones((2, 3)), axis=0)
    array([2., 2., 2.], dtype=float32)
    """
    _no_out("sum", out)
    a = _mask("sum", a, where, 0)
    r = sum_p.bind(a, axis=_static_axis(axis), dtype=_static_dtype(dtype), keepdims=bool(keepdims))
    return _with_initial(r, initial, lax.add)




@primitive_wrapper(prod_p)
def prod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Product of array elements over ``axis`` (integers widen like ``sum``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.prod(onp.arange(1, 5))
    array(24, dtype=int32)
    """
    _no_out("prod", out)
    a = _mask("prod", a, where, 1)
    r = prod_p.bind(a, axis=_static_axis(axis), dtype=_static_dtype(dtype), keepdims=bool(keepdims))
    return _with_initial(r, initial, lax.mul)



# ---------------------------------------------------------------------------
# max, min: keep the dtype; an empty reduction needs ``initial``.


def _extremum_composite(reducer, name):
    def composite(a, axis=None, keepdims=False):
        av = I.aval(a)
        axes = I.reduction_axes(name, axis, av.ndim)
        if _count(av.shape, axes) == 0:
            raise ShapeError(f"{name}: zero-size array (shape {av.shape}) to reduction operation "
                             f"{name} which has no identity; pass initial=")
        return _keep(reducer(a, axes=axes), axes, av.shape, keepdims)
    return composite


def _max_impl(a, axis=None, keepdims=False):
    return onp.max(a, axis=axis, keepdims=keepdims)


def _min_impl(a, axis=None, keepdims=False):
    return onp.min(a, axis=axis, keepdims=keepdims)


max_p = numpy_primitive("max", _max_impl, _extremum_composite(lax.reduce_max, "max"))
min_p = numpy_primitive("min", _min_impl, _extremum_composite(lax.reduce_min, "min"))


def _extremum(prim, combine, name, a, axis, out, keepdims, initial, where):
    _no_out(name, out)
    if initial is None:
        a = _mask(name, a, where, None)
        return prim.bind(a, axis=_static_axis(axis), keepdims=bool(keepdims))
    a = I.asarray(a)
    init = I.astype(initial, I.dtype(a))
    a = _mask(name, a, where, init)
    if I.aval(a).size == 0:  # reduce over nothing: the result is ``initial``
        av = I.aval(a)
        axes = I.reduction_axes(name, _static_axis(axis), av.ndim)
        shp = tuple(1 if i in axes else d for i, d in enumerate(av.shape)
                    if keepdims or i not in axes)
        return I.full(shp, init, av.dtype)
    return combine(prim.bind(a, axis=_static_axis(axis), keepdims=bool(keepdims)), init)


@primitive_wrapper(max_p)
def max(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Maximum over ``axis`` (NaN propagates; an empty reduction needs ``initial``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.max(onp.array([[1, 5], [3, 2]]), axis=1)
    array([5, 3], dtype=int32)
    """
    return _extremum(max_p, lax.max, "max", a, axis, out, keepdims, initial, where)




@primitive_wrapper(min_p)
def min(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Minimum over ``axis`` (NaN propagates; an empty reduction needs ``initial``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.min(onp.array([[1, 5], [3, 2]]), axis=0)
    array([1, 2], dtype=int32)
    """
    return _extremum(min_p, lax.min, "min", a, axis, out, keepdims, initial, where)


amax, amin = max, min

# ---------------------------------------------------------------------------
# mean, var, std.


def _mean_dtype(in_dtype, dtype):
    if dtype is not None:
        return dtypes.canonicalize_dtype(dtype)
    return dtypes.to_inexact_dtype(in_dtype)


def _mean_composite(a, axis=None, dtype=None, keepdims=False):
    av = I.aval(a)
    axes = I.reduction_axes("mean", axis, av.ndim)
    out_dtype = _mean_dtype(av.dtype, dtype)
    comp = _upcast(out_dtype)
    total = lax.reduce_sum(I.astype(a, comp), axes=axes)
    r = lax.div(total, I.astype(_count(av.shape, axes), comp))
    return _keep(I.astype(r, out_dtype), axes, av.shape, keepdims)


def _mean_impl(a, axis=None, dtype=None, keepdims=False):
    if dtype is None and onp.result_type(a).kind not in "fc":
        dtype = dtypes.default_float_dtype()
    return onp.mean(a, axis=axis, dtype=dtype, keepdims=keepdims)


mean_p = numpy_primitive("mean", _mean_impl, _mean_composite)


@primitive_wrapper(mean_p)
def mean(a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    """Arithmetic mean over ``axis`` (integers average in the default float dtype).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.mean(onp.arange(4.0))
    array(1.5, dtype=float32)
    """
    _no_out("mean", out)
    if where is not None:
        return _masked_mean(a, axis, dtype, keepdims, where)
    return mean_p.bind(a, axis=_static_axis(axis), dtype=_static_dtype(dtype),
                       keepdims=bool(keepdims))




def _masked_mean(a, axis, dtype, keepdims, where):
    a = I.asarray(a)
    out_dtype = _mean_dtype(I.dtype(a), dtype)
    mask = I.broadcast_to(I.astype(where, dtypes.bool_), I.shape(a))
    total = sum(I.astype(a, out_dtype), axis=axis, keepdims=keepdims, where=mask)
    count = sum(mask, axis=axis, dtype=out_dtype, keepdims=keepdims)
    return lax.div(total, count)


def _var_composite(a, axis=None, dtype=None, ddof=0, keepdims=False):
    av = I.aval(a)
    axes = I.reduction_axes("var", axis, av.ndim)
    comp = _upcast(_mean_dtype(av.dtype, dtype))
    x = I.astype(a, comp)
    n = _count(av.shape, axes)
    centered = lax.sub(x, _mean_composite(x, axis=axes, keepdims=True))
    total = lax.reduce_sum(I.abs2(centered), axes=axes)
    r = lax.div(total, I.astype(builtins.max(n - ddof, 0), I.dtype(total)))
    return _keep(I.astype(r, dtypes.real_dtype(_mean_dtype(av.dtype, dtype))), axes, av.shape,
                 keepdims)


def _std_composite(a, axis=None, dtype=None, ddof=0, keepdims=False):
    return lax.sqrt(_var_composite(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims))


def _var_impl(a, axis=None, dtype=None, ddof=0, keepdims=False):
    if dtype is None and onp.result_type(a).kind not in "fc":
        dtype = dtypes.default_float_dtype()
    return onp.var(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


def _std_impl(a, axis=None, dtype=None, ddof=0, keepdims=False):
    if dtype is None and onp.result_type(a).kind not in "fc":
        dtype = dtypes.default_float_dtype()
    return onp.std(a, axis=axis, dtype=dtype, ddof=ddof, keepdims=keepdims)


var_p = numpy_primitive("var", _var_impl, _var_composite)
std_p = numpy_primitive("std", _std_impl, _std_composite)


def _ddof(ddof, correction):
    if correction is not None:
        if ddof not in (0, None):
            raise ValueError("var/std: ddof and correction cannot both be given")
        ddof = correction
    if isinstance(ddof, Tracer):
        raise TypeError("var/std: ddof must be a concrete number, not a staged value")
    return int(ddof)


@primitive_wrapper(var_p)
def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        correction=None):
    """Variance over ``axis``, dividing by ``N - ddof`` (complex input gives a real result).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.var(onp.array([1.0, 2.0, 3.0, 4.0]), ddof=1)
    array(1.6666666, dtype=float32)
    """
    _no_out("var", out)
    ddof = _ddof(ddof, correction)
    if where is not None:
        return _masked_var(a, axis, dtype, ddof, keepdims, where)
    return var_p.bind(a, axis=_static_axis(axis), dtype=_static_dtype(dtype), ddof=ddof,
                      keepdims=bool(keepdims))




@primitive_wrapper(std_p)
def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
        correction=None):
    """Standard deviation over ``axis`` (``sqrt(var)``, dividing by ``N - ddof``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.std(onp.array([1.0, 3.0]))
    array(1., dtype=float32)
    """
    _no_out("std", out)
    ddof = _ddof(ddof, correction)
    if where is not None:
        return lax.sqrt(_masked_var(a, axis, dtype, ddof, keepdims, where))
    return std_p.bind(a, axis=_static_axis(axis), dtype=_static_dtype(dtype), ddof=ddof,
                      keepdims=bool(keepdims))




def _masked_var(a, axis, dtype, ddof, keepdims, where):
    a = I.asarray(a)
    comp = _mean_dtype(I.dtype(a), dtype)
    a = I.astype(a, comp)
    mask = I.broadcast_to(I.astype(where, dtypes.bool_), I.shape(a))
    m = _masked_mean(a, axis, None, True, mask)
    sq = I.abs2(lax.sub(a, m))
    total = sum(sq, axis=axis, keepdims=keepdims, where=mask)
    count = sum(mask, axis=axis, dtype=I.dtype(total), keepdims=keepdims)
    return lax.div(total, lax.max(lax.sub(count, I.astype(ddof, I.dtype(count))),
                                  I.astype(0, I.dtype(count))))

# ---------------------------------------------------------------------------
# argmax, argmin.


def _arg_composite(reducer, name):
    def composite(a, axis=None, keepdims=False):
        av = I.aval(a)
        if axis is None:
            if av.size == 0:
                raise ShapeError(f"{name}: attempt to get {name} of an empty sequence")
            r = reducer(I.ravel(a), axis=0, index_dtype=dtypes.default_int_dtype())
            return I.reshape(r, (1,) * av.ndim) if keepdims else r
        ax = I.one_axis(name, axis, av.ndim)
        r = reducer(a, axis=ax, index_dtype=dtypes.default_int_dtype())
        return _keep(r, (ax,), av.shape, keepdims)
    return composite


def _argmax_impl(a, axis=None, keepdims=False):
    return onp.argmax(a, axis=axis, keepdims=keepdims)


def _argmin_impl(a, axis=None, keepdims=False):
    return onp.argmin(a, axis=axis, keepdims=keepdims)


argmax_p = numpy_primitive("argmax", _argmax_impl, _arg_composite(lax.argmax, "argmax"))
argmin_p = numpy_primitive("argmin", _argmin_impl, _arg_composite(lax.argmin, "argmin"))


@primitive_wrapper(argmax_p)
def argmax(a, axis=None, out=None, *, keepdims=False):
    """Index of the maximum along ``axis`` (of the flattened array when None); first NaN wins.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.argmax(onp.array([[1, 7], [9, 2]]), axis=1)
    array([1, 0], dtype=int32)
    """
    _no_out("argmax", out)
    return argmax_p.bind(a, axis=_static_axis(axis), keepdims=bool(keepdims))




@primitive_wrapper(argmin_p)
def argmin(a, axis=None, out=None, *, keepdims=False):
    """Index of the minimum along ``axis`` (of the flattened array when None); first NaN wins.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.argmin(onp.array([3.0, 1.0, 2.0]))
    array(1, dtype=int32)
    """
    _no_out("argmin", out)
    return argmin_p.bind(a, axis=_static_axis(axis), keepdims=bool(keepdims))



# ---------------------------------------------------------------------------
# all, any.


def _truth(a):
    return a if I.dtype(a) == dtypes.bool_ else lax.ne(a, I.astype(0, I.dtype(a)))


def _logical_composite(reducer, name):
    def composite(a, axis=None, keepdims=False):
        av = I.aval(a)
        axes = I.reduction_axes(name, axis, av.ndim)
        return _keep(reducer(_truth(a), axes=axes), axes, av.shape, keepdims)
    return composite


def _all_impl(a, axis=None, keepdims=False):
    return onp.all(a, axis=axis, keepdims=keepdims)


def _any_impl(a, axis=None, keepdims=False):
    return onp.any(a, axis=axis, keepdims=keepdims)


all_p = numpy_primitive("all", _all_impl, _logical_composite(lax.reduce_and, "all"))
any_p = numpy_primitive("any", _any_impl, _logical_composite(lax.reduce_or, "any"))


@primitive_wrapper(all_p)
def all(a, axis=None, out=None, keepdims=False, *, where=None):
    """True where every element along ``axis`` is nonzero.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.all(onp.array([[1, 0], [2, 3]]), axis=1)
    array([False,  True])
    """
    _no_out("all", out)
    if where is not None:
        a = I.where(where, _truth(I.asarray(a)), True)
    return all_p.bind(a, axis=_static_axis(axis), keepdims=bool(keepdims))




@primitive_wrapper(any_p)
def any(a, axis=None, out=None, keepdims=False, *, where=None):
    """True where some element along ``axis`` is nonzero.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.any(onp.array([[1, 0], [0, 0]]), axis=1)
    array([ True, False])
    """
    _no_out("any", out)
    if where is not None:
        a = I.where(where, _truth(I.asarray(a)), False)
    return any_p.bind(a, axis=_static_axis(axis), keepdims=bool(keepdims))



# ---------------------------------------------------------------------------
# Cumulative reductions.


def _cumulative(name, scan, a, axis, dtype):
    a = I.asarray(a)
    if axis is None:
        a, axis = I.ravel(a), 0
    ax = I.one_axis(name, axis, I.ndim(a))
    return scan(I.astype(a, _sum_dtype(I.dtype(a), dtype)), axis=ax)


def cumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along ``axis`` (of the flattened array when None).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.cumsum(onp.array([[1, 2], [3, 4]]))
    array([ 1,  3,  6, 10], dtype=int32)
    """
    _no_out("cumsum", out)
    return _cumulative("cumsum", lax.cumsum, a, axis, dtype)


def cumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product along ``axis`` (of the flattened array when None).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.cumprod(onp.array([1.0, 2.0, 3.0]))
    array([1., 2., 6.], dtype=float32)
    """
    _no_out("cumprod", out)
    return _cumulative("cumprod", lax.cumprod, a, axis, dtype)


def _cumulative_api(name, scan, identity, x, axis, dtype, include_initial):
    x = I.asarray(x)
    if axis is None:
        if I.ndim(x) > 1:
            raise ShapeError(f"{name}: axis must be given for arrays of more than one "
                             f"dimension (got shape {I.shape(x)})")
        axis = 0
    r = _cumulative(name, scan, x, axis, dtype)
    if not include_initial:
        return r
    ax = I.one_axis(name, axis, I.ndim(r))
    shp = list(I.shape(r))
    shp[ax] = 1
    return I.concatenate([I.full(shp, identity, I.dtype(r)), r], ax)


def cumulative_sum(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """Cumulative sum (array-API form); ``include_initial`` prepends a zero.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.cumulative_sum(onp.array([1, 2, 3]), include_initial=True)
    array([0, 1, 3, 6], dtype=int32)
    """
    _no_out("cumulative_sum", out)
    return _cumulative_api("cumulative_sum", lax.cumsum, 0, x, axis, dtype, include_initial)


def cumulative_prod(x, /, *, axis=None, dtype=None, out=None, include_initial=False):
    """Cumulative product (array-API form); ``include_initial`` prepends a one.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.cumulative_prod(onp.array([1, 2, 3]), include_initial=True)
    array([1, 1, 2, 6], dtype=int32)
    """
    _no_out("cumulative_prod", out)
    return _cumulative_api("cumulative_prod", lax.cumprod, 1, x, axis, dtype, include_initial)

# ---------------------------------------------------------------------------
# Order statistics: quantile, percentile, median.


def _ops(staged):
    """floor, ceil and round-half-even for staged values or NumPy arrays."""
    if staged:
        return lax.floor, lax.ceil, lambda v: lax.round(v, rounding_method="to_nearest_even")
    return onp.floor, onp.ceil, onp.round


def _linear(pos, floor, ceil, rnd):
    lo = floor(pos)
    return lo, ceil(pos), (lax.sub(pos, lo) if isinstance(pos, Tracer) else pos - lo)


# method -> (positions, floor, ceil, round) -> (lo, hi, frac); ``hi is lo`` picks one
# element, ``frac is None`` with two takes their midpoint.
_QUANTILE_METHODS = {
    "linear": _linear,
    "lower": lambda pos, floor, ceil, rnd: (floor(pos),) * 2 + (None,),
    "higher": lambda pos, floor, ceil, rnd: (ceil(pos),) * 2 + (None,),
    "nearest": lambda pos, floor, ceil, rnd: (rnd(pos),) * 2 + (None,),
    "midpoint": lambda pos, floor, ceil, rnd: (floor(pos), ceil(pos), None),
}


def _check_method(name, method):
    if method not in _QUANTILE_METHODS:
        raise ValueError(f"{name}: method {method!r} is not supported; use one of "
                         f"{', '.join(map(repr, _QUANTILE_METHODS))}")
    return method


def _quantile_indices(q, n, method):
    """(lo, hi, frac) positions for each quantile; NumPy arrays or staged values."""
    staged = isinstance(q, Tracer)
    if staged:
        pos = lax.mul(q, I.astype(n - 1, I.dtype(q)))
    else:
        pos = onp.asarray(q, onp.float64) * (n - 1)
    return _QUANTILE_METHODS[method](pos, *_ops(staged))


def _take_last(x, idx):
    """``x[..., idx]`` for a static or staged scalar index."""
    s = I.shape(x)
    if isinstance(idx, Tracer):
        i = I.astype(idx, dtypes.int32)
        starts = [onp.int32(0)] * (len(s) - 1) + [i]
        r = lax.dynamic_slice(x, starts, s[:-1] + (1,))
        return lax.squeeze(r, dimensions=(len(s) - 1,))
    return I.index_axis(x, len(s) - 1, int(idx))


def _pick(x, idxs):
    """``x[..., i]`` for each index in the flat ``idxs``, stacked on a new leading axis."""
    return I.stack([_take_last(x, i) for i in idxs], 0)


def _flat(v, k):
    if isinstance(v, Tracer):
        v = I.ravel(v)
        return [I.index_axis(v, 0, j) for j in range(k)]
    return list(onp.ravel(v))


def _check_q(name, q, scale):
    if isinstance(q, Tracer):
        qd = I.dtype(q)
        return lax.div(q, I.astype(scale, qd)) if scale != 1 else q
    qa = onp.asarray(q, onp.float64) / scale
    if qa.size and (onp.any(qa < 0) or onp.any(qa > 1)):
        rng = "[0, 100]" if scale == 100 else "[0, 1]"
        raise ValueError(f"{name}: quantiles must be in the range {rng}")
    return qa


def _quantile(name, a, q, axis, method, keepdims):
    a = I.asarray(a)
    av = I.aval(a)
    dt = dtypes.to_inexact_dtype(av.dtype)
    if dtypes.is_complex(dt):
        raise TypeError(f"{name}: complex input is not supported")
    axes = I.reduction_axes(name, axis, av.ndim)
    rest = [i for i in range(av.ndim) if i not in axes]
    n = _count(av.shape, axes)
    if n == 0:
        raise ShapeError(f"{name}: cannot take a quantile over an empty axis (shape {av.shape})")
    x = I.transpose(I.astype(a, dt), rest + list(axes))
    x = I.reshape(x, tuple(av.shape[i] for i in rest) + (n,))
    x = lax.sort(x, dimension=-1)  # NaNs sort last
    qshape = I.shape(q)
    k = math.prod(qshape)
    lo, hi, frac = _quantile_indices(q, n, method)
    lo_v = _pick(x, _flat(lo, k))
    if hi is lo:
        r = lo_v
    else:
        hi_v = _pick(x, _flat(hi, k))
        if frac is None:
            r = lax.mul(lax.add(lo_v, hi_v), I.astype(0.5, dt))
        else:
            f = I.astype(frac, dt) if isinstance(frac, Tracer) else onp.asarray(frac, dt)
            f = I.reshape(f, (k,) + (1,) * len(rest))
            r = lax.add(lo_v, lax.mul(lax.sub(hi_v, lo_v), I.broadcast_to(f, I.shape(lo_v))))
    has_nan = I.isnan(I.index_axis(x, len(rest), n - 1))
    r = I.where(I.broadcast_to(has_nan, I.shape(r)), onp.asarray(onp.nan, dt), r)
    out_rest = tuple(1 if i in axes else d for i, d in enumerate(av.shape)) if keepdims else \
        tuple(av.shape[i] for i in rest)
    return I.reshape(r, tuple(qshape) + out_rest)


def _method(name, method, interpolation):
    return _check_method(name, interpolation if interpolation is not None else method)


def _quantile_composite(a, *, q, qshape, axis, method, keepdims):
    return _quantile("quantile", a, onp.reshape(onp.asarray(q, onp.float64), qshape), axis,
                     method, keepdims)


def _quantile_impl(a, *, q, qshape, axis, method, keepdims):
    a = onp.asarray(a)
    dt = dtypes.to_inexact_dtype(dtypes.canonicalize_dtype(a.dtype))
    qa = onp.reshape(onp.asarray(q, onp.float64), qshape)
    r = onp.quantile(a.astype(dt), qa, axis=axis, method=method, keepdims=keepdims)
    return onp.asarray(r).astype(dt)


quantile_p = numpy_primitive("quantile", _quantile_impl, _quantile_composite)


def _quantiles(name, a, q, scale, axis, method, keepdims):
    """Binds ``quantile_p`` for a concrete ``q`` (a static parameter); stages the composite
    directly for a staged ``q``."""
    q = _check_q(name, q, scale)
    if isinstance(q, Tracer):
        return _quantile(name, I.asarray(a), q, axis, method, keepdims)
    if isinstance(a, (list, tuple)):
        a = I.asarray(a)
    return quantile_p.bind(a, q=tuple(q.ravel().tolist()), qshape=q.shape, axis=axis,
                           method=method, keepdims=bool(keepdims))


@primitive_wrapper(quantile_p)
def quantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
             keepdims=False, *, interpolation=None):
    """The ``q``-th quantiles (``q`` in [0, 1], scalar or array) over ``axis``.

    The result has shape ``q.shape`` + the reduced shape; any NaN in a slice gives NaN.
    ``method``: 'linear', 'lower', 'higher', 'nearest' or 'midpoint'.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.quantile(onp.array([1.0, 2.0, 3.0, 4.0]), 0.5)
    array(2.5, dtype=float32)
    """
    _no_out("quantile", out)
    return _quantiles("quantile", a, q, 1, _static_axis(axis),
                      _method("quantile", method, interpolation), keepdims)




def percentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
               keepdims=False, *, interpolation=None):
    """The ``q``-th percentiles (``q`` in [0, 100]) over ``axis``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.percentile(onp.array([0.0, 10.0]), [25, 50])
    array([2.5, 5. ], dtype=float32)
    """
    _no_out("percentile", out)
    return _quantiles("percentile", a, q, 100, _static_axis(axis),
                      _method("percentile", method, interpolation), keepdims)


def median(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """Median over ``axis`` (NaN in a slice gives NaN).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.median(onp.array([[1, 3, 2], [4, 6, 5]]), axis=1)
    array([2., 5.], dtype=float32)
    """
    _no_out("median", out)
    return _quantiles("median", a, 0.5, 1, _static_axis(axis), "linear", keepdims)

# ---------------------------------------------------------------------------
# average, ptp, count_nonzero.


def _average_dtype(a, w):
    dt = dtypes.result_type(a, w)
    if not dtypes.is_inexact(I.dtype(a)):
        dt = dtypes.promote_types(dt, dtypes.default_float_dtype())
    return dt


def _weights_for(a, w, axis):
    sa, sw = I.shape(a), I.shape(w)
    if sa == sw:
        return w
    if axis is None:
        raise ShapeError(f"average: axis must be specified when shapes of a {sa} and weights "
                         f"{sw} differ")
    if len(sw) != 1:
        raise ShapeError(f"average: 1D weights expected when shapes of a {sa} and weights {sw} "
                         "differ")
    ax = I.one_axis("average", axis, len(sa))
    if sw[0] != sa[ax]:
        raise ShapeError(f"average: length of weights {sw[0]} not compatible with axis {ax} of "
                         f"a with shape {sa}")
    return lax.broadcast_in_dim(w, shape=sa, broadcast_dimensions=(ax,))


def average(a, axis=None, weights=None, returned=False, *, keepdims=False):
    """Weighted average over ``axis``; ``returned=True`` also gives the sum of weights.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.average(onp.array([1.0, 2.0, 4.0]), weights=onp.array([1.0, 1.0, 2.0]))
    array(2.75, dtype=float32)
    """
    a = I.asarray(a)
    axis = _static_axis(axis)
    if weights is None:
        avg = mean(a, axis=axis, keepdims=keepdims)
        n = I.aval(a).size // builtins.max(I.aval(avg).size, 1) if I.aval(a).size else 0
        scl = I.full(I.shape(avg), n, I.dtype(avg))
    else:
        w = I.asarray(weights)
        dt = _average_dtype(a, w)
        a, w = I.astype(a, dt), I.astype(_weights_for(a, w, axis), dt)
        scl = sum(w, axis=axis, keepdims=keepdims)
        avg = lax.div(sum(lax.mul(a, w), axis=axis, keepdims=keepdims), scl)
    return (avg, scl) if returned else avg


def ptp(a, axis=None, out=None, keepdims=False):
    """Range (maximum minus minimum) over ``axis``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.ptp(onp.array([[4, 9], [2, 1]]), axis=0)
    array([2, 8], dtype=int32)
    """
    _no_out("ptp", out)
    return lax.sub(max(a, axis=axis, keepdims=keepdims), min(a, axis=axis, keepdims=keepdims))


def count_nonzero(a, axis=None, *, keepdims=False):
    """Number of nonzero elements over ``axis`` (default integer dtype).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.count_nonzero(onp.array([[0, 1], [2, 3]]), axis=0)
    array([1, 2], dtype=int32)
    """
    return sum(_truth(I.asarray(a)), axis=axis, dtype=dtypes.default_int_dtype(),
               keepdims=keepdims)

# ---------------------------------------------------------------------------
# NaN-ignoring reductions.


def _nan_to(a, value):
    """``a`` with NaNs replaced by ``value`` (integers pass unchanged)."""
    a = I.asarray(a)
    if not dtypes.is_inexact(I.dtype(a)):
        return a
    return I.where(I.isnan(a), value, a)


def nansum(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Sum over ``axis`` treating NaNs as zero.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nansum(onp.array([1.0, onp.nan, 2.0]))
    array(3., dtype=float32)
    """
    return sum(_nan_to(a, 0), axis=axis, dtype=dtype, out=out, keepdims=keepdims,
               initial=initial, where=where)


def nanprod(a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    """Product over ``axis`` treating NaNs as one.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nanprod(onp.array([2.0, onp.nan, 3.0]))
    array(6., dtype=float32)
    """
    return prod(_nan_to(a, 1), axis=axis, dtype=dtype, out=out, keepdims=keepdims,
                initial=initial, where=where)


def _not_nan_count(a, axis, dt, keepdims):
    return sum(lax.bitwise_not(I.isnan(a)), axis=axis, dtype=dt, keepdims=keepdims)


def nanmean(a, axis=None, dtype=None, out=None, keepdims=False, *, where=None):
    """Mean over ``axis`` ignoring NaNs (an all-NaN slice gives NaN).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nanmean(onp.array([1.0, onp.nan, 3.0]))
    array(2., dtype=float32)
    """
    _no_out("nanmean", out)
    a = I.asarray(a)
    if not dtypes.is_inexact(I.dtype(a)):
        return mean(a, axis=axis, dtype=dtype, keepdims=keepdims, where=where)
    dt = _mean_dtype(I.dtype(a), dtype)
    valid = lax.bitwise_not(I.isnan(a))
    if where is not None:
        valid = lax.bitwise_and(valid, I.broadcast_to(I.astype(where, dtypes.bool_), I.shape(a)))
    total = sum(I.astype(a, dt), axis=axis, keepdims=keepdims, where=valid)
    return lax.div(total, sum(valid, axis=axis, dtype=dt, keepdims=keepdims))


def _nan_extremum(name, reducer, fill, a, axis, out, keepdims, initial, where):
    _no_out(name, out)
    a = I.asarray(a)
    if not dtypes.is_inexact(I.dtype(a)):
        return reducer(a, axis=axis, keepdims=keepdims, initial=initial, where=where)
    r = reducer(_nan_to(a, fill), axis=axis, keepdims=keepdims, initial=initial, where=where)
    nan = I.isnan(a)
    if where is not None:
        nan = I.where(where, nan, True)
    all_nan = all(nan, axis=axis, keepdims=keepdims)
    if initial is not None:
        return r
    return I.where(all_nan, onp.asarray(onp.nan, I.dtype(r)), r)


def nanmax(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Maximum over ``axis`` ignoring NaNs (an all-NaN slice gives NaN).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nanmax(onp.array([1.0, onp.nan, 3.0]))
    array(3., dtype=float32)
    """
    return _nan_extremum("nanmax", max, -onp.inf, a, axis, out, keepdims, initial, where)


def nanmin(a, axis=None, out=None, keepdims=False, initial=None, where=None):
    """Minimum over ``axis`` ignoring NaNs (an all-NaN slice gives NaN).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nanmin(onp.array([1.0, onp.nan, 3.0]))
    array(1., dtype=float32)
    """
    return _nan_extremum("nanmin", min, onp.inf, a, axis, out, keepdims, initial, where)


def nanvar(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None):
    """Variance over ``axis`` ignoring NaNs.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nanvar(onp.array([1.0, onp.nan, 3.0]))
    array(1., dtype=float32)
    """
    _no_out("nanvar", out)
    a = I.asarray(a)
    valid = lax.bitwise_not(I.isnan(a))
    if where is not None:
        valid = lax.bitwise_and(valid, I.broadcast_to(I.astype(where, dtypes.bool_), I.shape(a)))
    return _masked_var(_nan_to(a, 0), axis, dtype, _ddof(ddof, None), keepdims, valid)


def nanstd(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None):
    """Standard deviation over ``axis`` ignoring NaNs.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.nanstd(onp.array([1.0, onp.nan, 3.0]))
    array(1., dtype=float32)
    """
    return lax.sqrt(nanvar(a, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims,
                           where=where))
