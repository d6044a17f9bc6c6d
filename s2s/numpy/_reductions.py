"""Reductions: sum, mean (NumPy-level primitives: NumPy eagerly, lax staged)."""
import numpy as onp

from s2s import dtypes, lax
from s2s.lax.core import abstractify
from s2s.lax.shapes import canonicalize_axes
from s2s.numpy._primitive import numpy_primitive

__all__ = ["sum", "mean"]


def _axes(name, axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return canonicalize_axes(name, axis, ndim)
    return canonicalize_axes(name, (axis,), ndim)


def _keep(x, axes, shape, keepdims):
    if not keepdims:
        return x
    new = tuple(1 if i in axes else d for i, d in enumerate(shape))
    return lax.reshape(x, new_sizes=new)


def _sum_dtype(in_dtype, dtype):
    if dtype is not None:
        return dtypes.canonicalize_dtype(dtype)
    if in_dtype == onp.bool_ or (onp.dtype(in_dtype).kind in "iu" and onp.dtype(in_dtype).itemsize < 4):
        return dtypes.default_int_dtype() if onp.dtype(in_dtype).kind != "u" else dtypes.canonicalize_dtype(onp.uint64)
    return onp.dtype(in_dtype)


def _sum_composite(a, axis=None, dtype=None, keepdims=False):
    aval = abstractify(a)
    axes = _axes("sum", axis, aval.ndim)
    out_dtype = _sum_dtype(aval.dtype, dtype)
    x = lax.convert_element_type(a, new_dtype=out_dtype) if aval.dtype != out_dtype else a
    return _keep(lax.reduce_sum(x, axes=axes), axes, aval.shape, keepdims)


def _sum_impl(a, axis=None, dtype=None, keepdims=False):
    return onp.sum(a, axis=axis, dtype=dtype, keepdims=keepdims)


sum_p = numpy_primitive("sum", _sum_impl, _sum_composite)


def sum(a, axis=None, dtype=None, out=None, keepdims=False):
    """Sum of array elements over ``axis`` (int, tuple, negative allowed).

    >>> import s2s.numpy as np
    >>> np.sum(np.ones((2, 3)), axis=0)
    array([2., 2., 2.], dtype=float32)
    """
    _no_out("sum", out)
    return sum_p.bind(a, axis=_static_axis(axis), dtype=dtype, keepdims=bool(keepdims))


sum.primitive = sum_p


def _mean_composite(a, axis=None, dtype=None, keepdims=False):
    aval = abstractify(a)
    axes = _axes("mean", axis, aval.ndim)
    out_dtype = dtypes.canonicalize_dtype(dtype) if dtype is not None else dtypes.to_inexact_dtype(aval.dtype)
    count = 1
    for i in axes:
        count *= aval.shape[i]
    total = _sum_composite(lax.convert_element_type(a, new_dtype=out_dtype), axis=axis, keepdims=keepdims)
    return lax.div(total, lax.convert_element_type(count, new_dtype=out_dtype))


def _mean_impl(a, axis=None, dtype=None, keepdims=False):
    if dtype is None and onp.result_type(a).kind not in "fc":
        dtype = dtypes.default_float_dtype()
    return onp.mean(a, axis=axis, dtype=dtype, keepdims=keepdims)


mean_p = numpy_primitive("mean", _mean_impl, _mean_composite)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """Arithmetic mean over ``axis`` (integers average in the default float dtype).

    >>> import s2s.numpy as np
    >>> np.mean(np.arange(4.0))
    array(1.5, dtype=float32)
    """
    _no_out("mean", out)
    return mean_p.bind(a, axis=_static_axis(axis), dtype=dtype, keepdims=bool(keepdims))


mean.primitive = mean_p


def _static_axis(axis):
    if isinstance(axis, list):
        return tuple(axis)
    if axis is not None and not isinstance(axis, tuple):
        return int(axis)
    return axis


def _no_out(name, out):
    if out is not None:
        raise NotImplementedError(f"{name}: the out= argument is not supported (s2s arrays are "
                                  "values); use the returned array instead")
