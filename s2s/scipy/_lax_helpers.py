"""Small NumPy-level helpers on ``s2s.lax`` for ``s2s.scipy``, ``s2s.nn`` and ``s2s.random``.

They stand in for ``s2s.numpy`` functions (``where``, ``max`` over an axis,
``broadcast_to``...) so that these packages depend on ``s2s.lax`` only. Each works
on host arrays and on staged values alike.

>>> import numpy as onp
>>> where(onp.array([True, False]), 1.0, onp.float32(2.0))
array([1., 2.], dtype=float32)
"""
import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import Tracer, abstractify
from s2s.lax.shapes import broadcast_shapes, canonicalize_axes


def shape_of(x):
    """The shape of an array, scalar or staged value."""
    return abstractify(x).shape


def dtype_of(x):
    """The canonical dtype of an array, scalar or staged value."""
    return abstractify(x).dtype


def promote_inexact(name, *xs, allow_complex=False):
    """``xs`` converted to their common floating dtype (integers -> default float).

    Raises ``DtypeError`` naming ``name`` for complex operands unless allowed, and
    ``ShapeError`` naming it when the operands do not broadcast together.
    """
    if len(xs) > 1:
        broadcast_shapes(name, *[shape_of(x) for x in xs])
    dt = dtypes.to_inexact_dtype(dtypes.result_type(*xs))
    if dtypes.is_complex(dt) and not allow_complex:
        raise DtypeError(f"{name} does not accept complex input ({dt.name})")
    return [convert(x, dt) for x in xs]


def convert(x, dtype):
    """``x`` as ``dtype`` (unchanged when it already is a strongly typed ``dtype``)."""
    aval = abstractify(x)
    if isinstance(x, (onp.ndarray, Tracer)) and aval.dtype == dtype and not aval.weak_type:
        return x
    return lax.convert_element_type(x, new_dtype=dtype)


def full(value, shape, dtype):
    """An array of ``shape`` and ``dtype`` filled with ``value`` (a scalar or 0-d array)."""
    return lax.broadcast_in_dim(convert(value, dtype), shape=tuple(shape), broadcast_dimensions=())


def broadcast_to(x, shape, name="broadcast_to"):
    """``x`` broadcast to ``shape`` with NumPy's rules (a ``ShapeError`` naming ``name``)."""
    shape = tuple(shape)
    xshape = shape_of(x)
    if xshape == shape:
        return x
    if broadcast_shapes(name, xshape, shape) != shape:
        raise ShapeError(f"{name}: cannot broadcast shape {xshape} to {shape}")
    lead = len(shape) - len(xshape)
    keep = [i for i, d in enumerate(xshape) if d == shape[lead + i]]
    if len(keep) != len(xshape):
        x = lax.reshape(x, new_sizes=tuple(xshape[i] for i in keep))
    return lax.broadcast_in_dim(x, shape=shape, broadcast_dimensions=tuple(lead + i for i in keep))


def where(condition, x, y, name="where"):
    """Elementwise ``x if condition else y`` with broadcasting and NumPy promotion."""
    shape = broadcast_shapes(name, shape_of(condition), shape_of(x), shape_of(y))
    dt = dtypes.result_type(x, y)
    cond = broadcast_to(convert(condition, dtypes.bool_), shape, name)
    return lax.select_n(cond, broadcast_to(convert(y, dt), shape, name),
                        broadcast_to(convert(x, dt), shape, name))


def reduction_axes(name, axis, ndim):
    """``axis`` (None, int or tuple; negatives allowed) as a tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, (tuple, list)):
        return canonicalize_axes(name, tuple(axis), ndim)
    return canonicalize_axes(name, (axis,), ndim)


def keep_dims(x, axes, shape):
    """Reinserts the reduced ``axes`` of ``shape`` as size-1 dimensions of ``x``."""
    return lax.reshape(x, new_sizes=tuple(1 if i in axes else d for i, d in enumerate(shape)))


def reduce_max(x, axes, keepdims=False):
    """Maximum over ``axes`` (``-inf`` over empty axes), optionally keeping dims."""
    out = lax.reduce_max(x, axes=axes)
    return keep_dims(out, axes, shape_of(x)) if keepdims else out


def reduce_sum(x, axes, keepdims=False):
    """Sum over ``axes``, optionally keeping dims."""
    out = lax.reduce_sum(x, axes=axes)
    return keep_dims(out, axes, shape_of(x)) if keepdims else out


def mean(x, axes, keepdims=False):
    """Mean over ``axes`` in ``x``'s (floating) dtype."""
    count = 1
    for i in axes:
        count *= shape_of(x)[i]
    return lax.div(reduce_sum(x, axes, keepdims), onp.asarray(count, dtype_of(x)))


def static_shape(name, shape):
    """``shape`` (an int or a sequence of ints) as a tuple of non-negative ints."""
    if isinstance(shape, (int, onp.integer)):
        shape = (shape,)
    try:
        shape = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{name}: shape must be a tuple of Python ints, got {shape!r}") from None
    if any(d < 0 for d in shape):
        raise ShapeError(f"{name}: negative dimensions are not allowed, got shape {shape}")
    return shape
