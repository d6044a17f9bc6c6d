"""Slicing along one axis: ``jax.lax``'s ``*_in_dim`` helpers, composites of the slice primitives.

Static helpers (``slice_in_dim``, ``index_in_dim``) take Python integers and count
negative ones from the end; dynamic ones (``dynamic_slice_in_dim``, ...) take
run-time indices, which also count from the end when negative (JAX's
``allow_negative_indices``) and are then clamped so that the slice fits.

>>> from s2s import lax
>>> import numpy as np
>>> lax.slice_in_dim(np.arange(6), 1, -1, stride=2)
array([1, 3], dtype=int32)
"""
import operator

from s2s.lax.core import abstractify, def_zero_derivative
from s2s.lax.shapes import canonicalize_axis
from s2s.lax.structural import (dynamic_slice, dynamic_update_slice, expand_dims, slice,
                                squeeze)

__all__ = ["slice_in_dim", "index_in_dim", "dynamic_slice_in_dim", "dynamic_index_in_dim",
           "dynamic_update_slice_in_dim", "dynamic_update_index_in_dim"]


def _shape_and_axis(name, operand, axis):
    shape = abstractify(operand).shape
    return shape, canonicalize_axis(name, operator.index(axis), len(shape))


def _rank(x):
    return len(abstractify(x).shape)


# Static facts about the operands: grad reads them through these calls, not into them.
def_zero_derivative(_shape_and_axis, _rank)


def slice_in_dim(operand, start_index, limit_index, stride=1, axis=0):
    """``operand[..., start_index:limit_index:stride]`` along ``axis`` (static bounds).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.slice_in_dim(np.arange(6).reshape(2, 3), None, 2, axis=1)
    array([[0, 1],
           [3, 4]], dtype=int32)
    """
    shape, axis = _shape_and_axis("slice_in_dim", operand, axis)
    size = shape[axis]
    start = 0 if start_index is None else operator.index(start_index)
    limit = size if limit_index is None else operator.index(limit_index)
    start, limit = (start + size if start < 0 else start), (limit + size if limit < 0 else limit)
    starts, limits, strides = [0] * len(shape), list(shape), [1] * len(shape)
    starts[axis], limits[axis], strides[axis] = start, limit, operator.index(stride)
    return slice(operand, starts, limits, strides)


def index_in_dim(operand, index, axis=0, keepdims=True):
    """``operand[..., index]`` along ``axis`` for a static ``index`` (negative from the end).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.index_in_dim(np.arange(6).reshape(2, 3), -1, axis=1, keepdims=False)
    array([2, 5], dtype=int32)
    """
    shape, axis = _shape_and_axis("index_in_dim", operand, axis)
    index = operator.index(index)
    wrapped = index + shape[axis] if index < 0 else index
    if not 0 <= wrapped < shape[axis]:
        raise IndexError(f"index_in_dim: index {index} is out of bounds for axis {axis} with "
                         f"size {shape[axis]}")
    result = slice_in_dim(operand, wrapped, wrapped + 1, 1, axis)
    return result if keepdims else squeeze(result, (axis,))


def dynamic_slice_in_dim(operand, start_index, slice_size, axis=0, *,
                         allow_negative_indices=True):
    """``slice_size`` elements from run-time ``start_index`` along ``axis``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.dynamic_slice_in_dim(np.arange(6), np.int32(-2), 2)
    array([4, 5], dtype=int32)
    """
    shape, axis = _shape_and_axis("dynamic_slice_in_dim", operand, axis)
    starts, sizes = [0] * len(shape), list(shape)
    starts[axis], sizes[axis] = start_index, operator.index(slice_size)
    # The other starts are 0, which wrapping leaves alone.
    return dynamic_slice(operand, starts, sizes, allow_negative_indices=allow_negative_indices)


def dynamic_index_in_dim(operand, index, axis=0, keepdims=True, *, allow_negative_indices=True):
    """``operand[..., index]`` along ``axis`` for a run-time ``index``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.dynamic_index_in_dim(np.arange(6).reshape(3, 2), np.int32(1), keepdims=False)
    array([2, 3], dtype=int32)
    """
    _, axis = _shape_and_axis("dynamic_index_in_dim", operand, axis)
    result = dynamic_slice_in_dim(operand, index, 1, axis,
                                  allow_negative_indices=allow_negative_indices)
    return result if keepdims else squeeze(result, (axis,))


def dynamic_update_slice_in_dim(operand, update, start_index, axis, *,
                                allow_negative_indices=True):
    """``operand`` with ``update`` written from run-time ``start_index`` along ``axis``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.dynamic_update_slice_in_dim(np.zeros(4, np.int32), np.array([7, 8]), np.int32(1), 0)
    array([0, 7, 8, 0], dtype=int32)
    """
    shape, axis = _shape_and_axis("dynamic_update_slice_in_dim", operand, axis)
    starts = [0] * len(shape)
    starts[axis] = start_index
    return dynamic_update_slice(operand, update, starts,
                                allow_negative_indices=allow_negative_indices)


def dynamic_update_index_in_dim(operand, update, index, axis, *, allow_negative_indices=True):
    """``operand`` with ``update`` written at run-time ``index`` of ``axis`` (``update`` may
    lack that axis).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.dynamic_update_index_in_dim(np.zeros((2, 2), np.int32), np.array([5, 6]),
    ...                                 np.int32(1), 0)
    array([[0, 0],
           [5, 6]], dtype=int32)
    """
    shape, axis = _shape_and_axis("dynamic_update_index_in_dim", operand, axis)
    if _rank(update) == len(shape) - 1:
        update = expand_dims(update, (axis,))
    return dynamic_update_slice_in_dim(operand, update, index, axis,
                                       allow_negative_indices=allow_negative_indices)


public = {name: globals()[name] for name in __all__}
