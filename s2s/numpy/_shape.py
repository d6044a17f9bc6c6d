"""Shape manipulation: reshape, transpose, concatenate, stack, split, tile, pad, roll...

``reshape``, ``transpose`` and ``broadcast_to`` are NumPy-level primitives (NumPy
itself eagerly, a lax composite under ``jit``; each wrapper accepts exactly its
primitive's operands and parameters, so recorded code can call it); the rest
are written on them and on ``s2s.lax``, with derivative templates for the
common ones. Every shape, axis and count is
static: they must be Python values (or concrete arrays) when the function is
staged. Errors name the function and the offending shapes or axes.
"""
import builtins

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import ConcretizationError, ShapeError
from s2s.core.primitive import d, def_vjp, def_zero_derivative, primitive_wrapper
from s2s.lax.shapes import broadcast_shapes as _bs
from s2s.lax.shapes import canonicalize_axes, canonicalize_axis
from s2s.numpy._arraylike import (as_operand, cast, dtype_of, is_staged, ndim_of, shape_of,
                                  static_int, static_shape)
from s2s.numpy._primitive import numpy_primitive

__all__ = [
    "reshape", "ravel", "transpose", "permute_dims", "matrix_transpose", "swapaxes", "moveaxis",
    "expand_dims", "squeeze", "concatenate", "concat", "stack", "hstack", "vstack", "dstack",
    "column_stack", "row_stack", "unstack", "split", "array_split", "hsplit", "vsplit", "dsplit", "tile",
    "repeat", "broadcast_to", "broadcast_arrays", "broadcast_shapes", "flip", "fliplr", "flipud",
    "roll", "rot90", "pad", "atleast_1d", "atleast_2d", "atleast_3d", "append", "insert",
    "delete", "shape", "ndim", "size",
]

_range = builtins.range


def _prod(shape):
    n = 1
    for dim in shape:
        n *= dim
    return n


# ---------------------------------------------------------------------------
# reshape, transpose: NumPy-level primitives.

reshape_p = numpy_primitive(
    "reshape", lambda a, *, shape: onp.reshape(a, shape),
    lambda a, *, shape: lax.reshape(a, new_sizes=shape))


def _resolve_shape(name, old, new):
    new = static_shape(name, new) if not _has_minus_one(new) else _with_minus_one(name, new)
    unknown = [i for i, d in enumerate(new) if d == -1]
    size = _prod(old)
    if len(unknown) > 1:
        raise ShapeError(f"{name}: can only specify one unknown dimension (-1), got {new}")
    if unknown:
        known = _prod(d for d in new if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"{name}: cannot reshape array of shape {old} (size {size}) into "
                             f"shape {new}")
        new = tuple(size // known if d == -1 else d for d in new)
    if _prod(new) != size:
        raise ShapeError(f"{name}: cannot reshape array of shape {old} (size {size}) into shape "
                         f"{new} (size {_prod(new)})")
    return new


def _has_minus_one(shape):
    if isinstance(shape, (int, onp.integer)):
        return shape == -1
    return any(isinstance(d, (int, onp.integer)) and d == -1 for d in shape)


def _with_minus_one(name, shape):
    if isinstance(shape, (int, onp.integer)):
        return (-1,)
    return tuple(-1 if (isinstance(d, (int, onp.integer)) and d == -1)
                 else static_int(name, "each dimension of shape", d) for d in shape)


@primitive_wrapper(reshape_p)
def reshape(a, newshape=None, order="C", *, shape=None, copy=None):
    """Gives ``a`` a new shape (one dimension may be -1; row-major order only).

    >>> import s2s.numpy as np
    >>> np.reshape(np.arange(6), (2, -1))
    array([[0, 1, 2],
           [3, 4, 5]], dtype=int32)
    """
    if order != "C":
        raise NotImplementedError(f"reshape: only order='C' is supported, got order={order!r}")
    target = shape if shape is not None else newshape
    if target is None:
        raise TypeError("reshape: missing the new shape (pass shape=...)")
    a = as_operand(a)
    new = _resolve_shape("reshape", shape_of(a), target)
    return reshape_p.bind(a, shape=new)




def ravel(a, order="C"):
    """The elements of ``a`` as a 1-d array (row-major).

    >>> import s2s.numpy as np
    >>> np.ravel(np.ones((2, 2))).shape
    (4,)
    """
    return reshape(a, (-1,), order=order)


transpose_p = numpy_primitive(
    "transpose", lambda a, *, axes: onp.transpose(a, axes),
    lambda a, *, axes: lax.transpose(a, permutation=axes))


def _permutation(name, axes, ndim):
    axes = tuple(static_int(name, "axes", ax) for ax in axes)
    if len(axes) != ndim:
        raise ShapeError(f"{name}: axes {axes} don't match array of dimension {ndim}")
    perm = canonicalize_axes(name, axes, ndim)
    return perm


@primitive_wrapper(transpose_p)
def transpose(a, axes=None):
    """Permutes the axes of ``a`` (reverses them by default).

    >>> import s2s.numpy as np
    >>> np.transpose(np.zeros((2, 3, 4)), (1, 0, 2)).shape
    (3, 2, 4)
    """
    a = as_operand(a)
    nd = ndim_of(a)
    perm = tuple(_range(nd - 1, -1, -1)) if axes is None else _permutation("transpose", axes, nd)
    return transpose_p.bind(a, axes=perm)




permute_dims = transpose  # the Array API name (NumPy's two names are one function too)


def matrix_transpose(x):
    """Swaps the last two axes.

    >>> import s2s.numpy as np
    >>> np.matrix_transpose(np.zeros((4, 2, 3))).shape
    (4, 3, 2)
    """
    nd = ndim_of(x)
    if nd < 2:
        raise ShapeError(f"matrix_transpose: input must be at least 2-d, got shape {shape_of(x)}")
    return swapaxes(x, -1, -2)


def swapaxes(a, axis1, axis2):
    """``a`` with axes ``axis1`` and ``axis2`` interchanged.

    >>> import s2s.numpy as np
    >>> np.swapaxes(np.zeros((2, 3, 4)), 0, 2).shape
    (4, 3, 2)
    """
    a = as_operand(a)
    nd = ndim_of(a)
    i = canonicalize_axis("swapaxes", static_int("swapaxes", "axis1", axis1), nd)
    j = canonicalize_axis("swapaxes", static_int("swapaxes", "axis2", axis2), nd)
    perm = list(_range(nd))
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def _axis_tuple(name, what, axes):
    if isinstance(axes, (tuple, list)):
        return tuple(static_int(name, what, a) for a in axes)
    return (static_int(name, what, axes),)


def moveaxis(a, source, destination):
    """Moves axes ``source`` to positions ``destination`` (ints or sequences).

    >>> import s2s.numpy as np
    >>> np.moveaxis(np.zeros((2, 3, 4)), 0, -1).shape
    (3, 4, 2)
    """
    a = as_operand(a)
    nd = ndim_of(a)
    src = canonicalize_axes("moveaxis", _axis_tuple("moveaxis", "source", source), nd)
    dst = canonicalize_axes("moveaxis", _axis_tuple("moveaxis", "destination", destination), nd)
    if len(src) != len(dst):
        raise ShapeError(f"moveaxis: source {source} and destination {destination} must have "
                         "the same number of elements")
    order = [i for i in _range(nd) if i not in src]
    for dest, src_axis in sorted(zip(dst, src)):
        order.insert(dest, src_axis)
    if order == list(_range(nd)):
        return a
    return transpose(a, order)


def expand_dims(a, axis):
    """Inserts size-1 axes at positions ``axis`` (an int or a tuple) of the result.

    >>> import s2s.numpy as np
    >>> np.expand_dims(np.zeros(3), (0, 2)).shape
    (1, 3, 1)
    """
    return lax.expand_dims(as_operand(a), dimensions=_axis_tuple("expand_dims", "axis", axis))


def squeeze(a, axis=None):
    """Removes size-1 axes (all of them, or those in ``axis``).

    >>> import s2s.numpy as np
    >>> np.squeeze(np.zeros((1, 3, 1))).shape
    (3,)
    """
    a = as_operand(a)
    shp = shape_of(a)
    if axis is None:
        dims = tuple(i for i, d in enumerate(shp) if d == 1)
    else:
        dims = canonicalize_axes("squeeze", _axis_tuple("squeeze", "axis", axis), len(shp))
    if not dims:
        return a
    return lax.squeeze(a, dimensions=dims)


# ---------------------------------------------------------------------------
# Joining.


def _same_dtype(arrays, dtype, name):
    arrays = [as_operand(x) for x in arrays]
    if not arrays:
        raise ShapeError(f"{name}: need at least one array to {name}")
    dt = dtypes.canonicalize_dtype(dtype) if dtype is not None else dtypes.result_type(*arrays)
    return [cast(x, dt) if type(x) in (bool, int, float, complex) or dtype_of(x) != dt
            else x for x in arrays]


def concatenate(arrays, axis=0, dtype=None):
    """Joins arrays along an existing ``axis`` (``axis=None`` flattens them first).

    >>> import s2s.numpy as np
    >>> np.concatenate([np.zeros((1, 2)), np.ones((2, 2))]).shape
    (3, 2)
    """
    arrays = _same_dtype(arrays, dtype, "concatenate")
    if axis is None:
        arrays = [ravel(x) for x in arrays]
        axis = 0
    shapes = [shape_of(x) for x in arrays]
    nd = len(shapes[0])
    if nd == 0 or any(len(s) != nd for s in shapes):
        raise ShapeError("concatenate: all input arrays must have the same number of dimensions "
                         f"(at least 1), got shapes {', '.join(map(str, shapes))}")
    axis = canonicalize_axis("concatenate", static_int("concatenate", "axis", axis), nd)
    if len(arrays) == 1:
        return arrays[0]
    return lax.concatenate(*arrays, dimension=axis)


concat = concatenate  # the Array API name (NumPy's two names are one function too)


def stack(arrays, axis=0, dtype=None):
    """Joins arrays of the same shape along a new ``axis``.

    >>> import s2s.numpy as np
    >>> np.stack([np.zeros(2), np.ones(2)], axis=1).shape
    (2, 2)
    """
    arrays = _same_dtype(arrays, dtype, "stack")
    shapes = [shape_of(x) for x in arrays]
    if any(s != shapes[0] for s in shapes):
        raise ShapeError("stack: all input arrays must have the same shape, got shapes "
                         + ", ".join(map(str, shapes)))
    axis = canonicalize_axis("stack", static_int("stack", "axis", axis), len(shapes[0]) + 1)
    return lax.concatenate(*[lax.expand_dims(x, dimensions=(axis,)) for x in arrays],
                           dimension=axis)


def unstack(x, /, *, axis=0):
    """The slices of ``x`` along ``axis``, as a tuple (the inverse of ``stack``).

    >>> import s2s.numpy as np
    >>> [a.tolist() for a in np.unstack(np.arange(4).reshape(2, 2))]
    [[0, 1], [2, 3]]
    """
    x = as_operand(x)
    shp = shape_of(x)
    axis = canonicalize_axis("unstack", static_int("unstack", "axis", axis), len(shp))
    return tuple(lax.squeeze(_slice_axis(x, axis, i, i + 1, shp), dimensions=(axis,))
                 for i in _range(shp[axis]))


def atleast_1d(*arys):
    """Inputs with at least one dimension (a list when given several).

    >>> import s2s.numpy as np
    >>> np.atleast_1d(1.0)
    array([1.], dtype=float32)
    """
    return _atleast(arys, 1, lambda x: reshape(x, (1,)))


def atleast_2d(*arys):
    """Inputs with at least two dimensions (1-d ``x`` becomes ``x[None, :]``).

    >>> import s2s.numpy as np
    >>> np.atleast_2d(np.zeros(3)).shape
    (1, 3)
    """
    return _atleast(arys, 2, lambda x: reshape(x, (1,) * (2 - ndim_of(x)) + shape_of(x)))


def atleast_3d(*arys):
    """Inputs with at least three dimensions (1-d ``x`` becomes ``x[None, :, None]``).

    >>> import s2s.numpy as np
    >>> np.atleast_3d(np.zeros((2, 3))).shape
    (2, 3, 1)
    """
    def grow(x):
        s = shape_of(x)
        new = {0: (1, 1, 1), 1: (1,) + s + (1,), 2: s + (1,)}[len(s)]
        return reshape(x, new)
    return _atleast(arys, 3, grow)


def _atleast(arys, n, grow):
    out = []
    for x in arys:
        x = asarray(x)
        out.append(grow(x) if ndim_of(x) < n else x)
    return out[0] if len(out) == 1 else out


def hstack(tup, dtype=None):
    """Stacks horizontally (along axis 1, or axis 0 for 1-d inputs).

    >>> import s2s.numpy as np
    >>> np.hstack([np.zeros(2), np.ones(1)])
    array([0., 0., 1.], dtype=float32)
    """
    arrs = [atleast_1d(x) for x in tup]
    axis = 0 if arrs and ndim_of(arrs[0]) == 1 else 1
    return concatenate(arrs, axis=axis, dtype=dtype)


def vstack(tup, dtype=None):
    """Stacks vertically (along axis 0, after making inputs at least 2-d).

    >>> import s2s.numpy as np
    >>> np.vstack([np.zeros(2), np.ones(2)]).shape
    (2, 2)
    """
    return concatenate([atleast_2d(x) for x in tup], axis=0, dtype=dtype)


row_stack = vstack


def dstack(tup, dtype=None):
    """Stacks along the third axis (after making inputs at least 3-d).

    >>> import s2s.numpy as np
    >>> np.dstack([np.zeros((2, 2)), np.ones((2, 2))]).shape
    (2, 2, 2)
    """
    return concatenate([atleast_3d(x) for x in tup], axis=2, dtype=dtype)


def column_stack(tup):
    """Stacks 1-d arrays as columns of a 2-d array (2-d inputs as they are).

    >>> import s2s.numpy as np
    >>> np.column_stack([np.zeros(3), np.ones(3)]).shape
    (3, 2)
    """
    cols = []
    for x in tup:
        x = asarray(x)
        cols.append(reshape(x, (-1, 1)) if ndim_of(x) < 2 else x)
    return concatenate(cols, axis=1)


def append(arr, values, axis=None):
    """``values`` appended to ``arr`` (both flattened when ``axis`` is None).

    >>> import s2s.numpy as np
    >>> np.append(np.array([1, 2]), [[3]])
    array([1, 2, 3], dtype=int32)
    """
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


# ---------------------------------------------------------------------------
# Splitting.


def _split_points(name, n, indices_or_sections, exact):
    if isinstance(indices_or_sections, (int, onp.integer)):
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError(f"{name}: number of sections must be larger than 0")
        if exact and n % sections:
            raise ValueError(f"{name}: array split does not result in an equal division "
                             f"(axis of size {n} into {sections} sections)")
        base, extra = divmod(n, sections)
        sizes = [base + 1] * extra + [base] * (sections - extra)
        return list(onp.cumsum([0] + sizes))
    points = [static_int(name, "indices", i) for i in indices_or_sections]
    return [0] + points + [n]


def _split(name, ary, indices_or_sections, axis, exact):
    ary = as_operand(ary)
    shp = shape_of(ary)
    axis = canonicalize_axis(name, static_int(name, "axis", axis), len(shp))
    n = shp[axis]
    points = _split_points(name, n, indices_or_sections, exact)
    out = []
    for lo, hi in zip(points[:-1], points[1:]):
        lo = min(max(lo + n if lo < 0 else lo, 0), n)
        hi = min(max(hi + n if hi < 0 else hi, 0), n)
        hi = max(hi, lo)
        start = [0] * len(shp)
        limit = list(shp)
        start[axis], limit[axis] = lo, hi
        out.append(lax.slice(ary, start_indices=start, limit_indices=limit))
    return out


def split(ary, indices_or_sections, axis=0):
    """Splits into equal sections (an int) or at the given indices (a sequence).

    >>> import s2s.numpy as np
    >>> [p.shape for p in np.split(np.zeros(6), [1, 4])]
    [(1,), (3,), (2,)]
    """
    return _split("split", ary, indices_or_sections, axis, exact=True)


def array_split(ary, indices_or_sections, axis=0):
    """Like ``split``, but sections may differ in size by one.

    >>> import s2s.numpy as np
    >>> [p.shape for p in np.array_split(np.zeros(5), 2)]
    [(3,), (2,)]
    """
    return _split("array_split", ary, indices_or_sections, axis, exact=False)


def hsplit(ary, indices_or_sections):
    """Splits along axis 1 (axis 0 for 1-d arrays).

    >>> import s2s.numpy as np
    >>> len(np.hsplit(np.zeros((2, 4)), 2))
    2
    """
    return split(ary, indices_or_sections, axis=1 if ndim_of(ary) > 1 else 0)


def vsplit(ary, indices_or_sections):
    """Splits along axis 0 (arrays of at least 2 dimensions).

    >>> import s2s.numpy as np
    >>> len(np.vsplit(np.zeros((4, 2)), 2))
    2
    """
    if ndim_of(ary) < 2:
        raise ShapeError("vsplit only works on arrays of 2 or more dimensions")
    return split(ary, indices_or_sections, axis=0)


def dsplit(ary, indices_or_sections):
    """Splits along axis 2 (arrays of at least 3 dimensions).

    >>> import s2s.numpy as np
    >>> len(np.dsplit(np.zeros((1, 1, 4)), 2))
    2
    """
    if ndim_of(ary) < 3:
        raise ShapeError("dsplit only works on arrays of 3 or more dimensions")
    return split(ary, indices_or_sections, axis=2)


# ---------------------------------------------------------------------------
# Broadcasting.


def _broadcast_to_composite(a, *, shape):
    s = shape_of(a)
    offset = len(shape) - len(s)
    return lax.broadcast_in_dim(a, shape=shape, broadcast_dimensions=tuple(_range(offset,
                                                                                 len(shape))))


broadcast_to_p = numpy_primitive(
    "broadcast_to", lambda a, *, shape: onp.broadcast_to(a, shape), _broadcast_to_composite)


@primitive_wrapper(broadcast_to_p)
def broadcast_to(array, shape):
    """``array`` broadcast to ``shape`` (NumPy broadcasting rules).

    >>> import s2s.numpy as np
    >>> np.broadcast_to(np.arange(3), (2, 3))
    array([[0, 1, 2],
           [0, 1, 2]], dtype=int32)
    """
    array = as_operand(array)
    shape = static_shape("broadcast_to", shape)
    s = shape_of(array)
    if len(s) > len(shape) or any(d not in (1, t) for d, t in zip(s[::-1], shape[::-1])):
        raise ShapeError(f"broadcast_to: cannot broadcast array of shape {s} to shape {shape}")
    if s == shape and not isinstance(array, (bool, int, float, complex)):
        return array
    return broadcast_to_p.bind(array, shape=shape)




def broadcast_shapes(*shapes):
    """The shape that arrays of ``shapes`` broadcast to.

    >>> import s2s.numpy as np
    >>> np.broadcast_shapes((2, 1), (3,))
    (2, 3)
    """
    shapes = [static_shape("broadcast_shapes", s) for s in shapes]
    return _bs("broadcast_shapes", *shapes)


def broadcast_arrays(*args):
    """The arrays broadcast against each other to a common shape.

    >>> import s2s.numpy as np
    >>> [a.shape for a in np.broadcast_arrays(np.zeros((2, 1)), np.zeros(3))]
    [(2, 3), (2, 3)]
    """
    args = [as_operand(a) for a in args]
    target = _bs("broadcast_arrays", *[shape_of(a) for a in args])
    return [broadcast_to(a, target) for a in args]


# ---------------------------------------------------------------------------
# Reordering.


def _axes_or_all(name, axis, nd):
    if axis is None:
        return tuple(_range(nd))
    return canonicalize_axes(name, _axis_tuple(name, "axis", axis), nd)


def flip(m, axis=None):
    """Reverses the order of elements along ``axis`` (all axes by default).

    >>> import s2s.numpy as np
    >>> np.flip(np.arange(3))
    array([2, 1, 0], dtype=int32)
    """
    m = as_operand(m)
    dims = _axes_or_all("flip", axis, ndim_of(m))
    if not dims:
        return m
    return lax.rev(m, dimensions=dims)


def fliplr(m):
    """Reverses the columns (axis 1).

    >>> import s2s.numpy as np
    >>> np.fliplr(np.array([[1, 2]]))
    array([[2, 1]], dtype=int32)
    """
    if ndim_of(m) < 2:
        raise ShapeError(f"fliplr: input must be at least 2-d, got shape {shape_of(m)}")
    return flip(m, 1)


def flipud(m):
    """Reverses the rows (axis 0).

    >>> import s2s.numpy as np
    >>> np.flipud(np.array([[1], [2]]))
    array([[2],
           [1]], dtype=int32)
    """
    if ndim_of(m) < 1:
        raise ShapeError("flipud: input must be at least 1-d, got a 0-d array")
    return flip(m, 0)


def _roll_axis(a, shift, axis, shp):
    n = shp[axis]
    if n == 0:
        return a
    if isinstance(shift, (int, onp.integer)):
        shift = int(shift) % n
        if shift == 0:
            return a
        lo = _slice_axis(a, axis, n - shift, n, shp)
        hi = _slice_axis(a, axis, 0, n - shift, shp)
        return concatenate([lo, hi], axis=axis)
    # A staged shift: take the window of length n from [a, a] starting at n - shift % n.
    doubled = concatenate([a, a], axis=axis)
    start = lax.sub(n, remainder(cast(shift, dtypes.default_int_dtype()), n))
    starts = [0] * len(shp)
    starts[axis] = start
    return lax.dynamic_slice(doubled, starts, shp)


def _slice_axis(a, axis, lo, hi, shp):
    start = [0] * len(shp)
    limit = list(shp)
    start[axis], limit[axis] = lo, hi
    return lax.slice(a, start_indices=start, limit_indices=limit)


def roll(a, shift, axis=None):
    """Rolls elements along ``axis`` (flattened when None); ``shift`` may be staged.

    >>> import s2s.numpy as np
    >>> np.roll(np.arange(4), 1)
    array([3, 0, 1, 2], dtype=int32)
    """
    a = as_operand(a)
    if axis is None:
        return reshape(roll(ravel(a), shift, 0), shape_of(a))
    shp = shape_of(a)
    axes = _axis_tuple("roll", "axis", axis)
    shifts = tuple(shift) if isinstance(shift, (tuple, list)) else (shift,)
    if len(shifts) == 1:
        shifts = shifts * len(axes)
    if len(axes) == 1:
        axes = axes * len(shifts)
    if len(axes) != len(shifts):
        raise ShapeError(f"roll: shift {shift} and axis {axis} must have the same length")
    for s, ax in zip(shifts, axes):
        a = _roll_axis(a, s, canonicalize_axis("roll", ax, len(shp)), shp)
    return a


def rot90(m, k=1, axes=(0, 1)):
    """Rotates by 90 degrees ``k`` times in the plane of ``axes`` (from the first towards
    the second).

    >>> import s2s.numpy as np
    >>> np.rot90(np.array([[1, 2], [3, 4]]))
    array([[2, 4],
           [1, 3]], dtype=int32)
    """
    m = as_operand(m)
    nd = ndim_of(m)
    if len(axes) != 2:
        raise ShapeError(f"rot90: axes must have length 2, got {axes}")
    a0, a1 = canonicalize_axes("rot90", _axis_tuple("rot90", "axes", axes), nd)
    k = static_int("rot90", "k", k) % 4
    if k == 0:
        return m
    if k == 2:
        return flip(m, (a0, a1))
    perm = list(_range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    if k == 1:
        return transpose(flip(m, a1), perm)
    return flip(transpose(m, perm), a1)


def tile(A, reps):
    """``A`` repeated ``reps`` times along each axis.

    >>> import s2s.numpy as np
    >>> np.tile(np.array([1, 2]), 2)
    array([1, 2, 1, 2], dtype=int32)
    """
    A = asarray(A)
    reps = _axis_tuple("tile", "reps", reps)
    s = shape_of(A)
    n = builtins.max(len(s), len(reps))
    s = (1,) * (n - len(s)) + s
    reps = (1,) * (n - len(reps)) + reps
    if any(r < 0 for r in reps):
        raise ShapeError(f"tile: negative repetitions are not allowed, got reps {reps}")
    A = reshape(A, s)
    inter = tuple(d for pair in zip(reps, s) for d in pair)
    big = lax.broadcast_in_dim(A, shape=inter, broadcast_dimensions=tuple(_range(1, 2 * n, 2)))
    return reshape(big, tuple(r * d for r, d in zip(reps, s)))


def repeat(a, repeats, axis=None, *, total_repeat_length=None):
    """Repeats each element ``repeats`` times (static ``repeats``: an int or a sequence).

    >>> import s2s.numpy as np
    >>> np.repeat(np.array([1, 2]), 2)
    array([1, 1, 2, 2], dtype=int32)
    """
    a = asarray(a)
    if axis is None:
        a, axis = ravel(a), 0
    shp = shape_of(a)
    axis = canonicalize_axis("repeat", static_int("repeat", "axis", axis), len(shp))
    if isinstance(repeats, (int, onp.integer)):
        r = int(repeats)
        if r < 0:
            raise ValueError(f"repeat: negative repeats are not allowed, got {r}")
        inter = shp[:axis + 1] + (r,) + shp[axis + 1:]
        dims = tuple(i for i in _range(len(inter)) if i != axis + 1)
        big = lax.broadcast_in_dim(a, shape=inter, broadcast_dimensions=dims)
        return reshape(big, shp[:axis] + (shp[axis] * r,) + shp[axis + 1:])
    reps = onp.asarray([static_int("repeat", "repeats", r) for r in _iter_static(repeats)])
    if reps.shape != (shp[axis],) and reps.size != 1:
        raise ShapeError(f"repeat: repeats of length {reps.size} do not match axis {axis} of "
                         f"size {shp[axis]} (array shape {shp})")
    idx = onp.repeat(onp.arange(shp[axis]), onp.broadcast_to(reps, (shp[axis],)))
    return take(a, idx, axis=axis)


def _iter_static(values):
    if is_staged(values):
        raise ConcretizationError("repeat: repeats must be static (Python ints or a concrete "
                                  "array); the result's shape depends on them")
    return list(onp.ravel(onp.asarray(values)))


# ---------------------------------------------------------------------------
# pad.


def _pad_width(name, pad_width, nd):
    try:
        pw = onp.asarray(pad_width)
        if pw.dtype.kind not in "iu":
            raise TypeError
        pw = onp.broadcast_to(pw, (nd, 2)) if pw.ndim <= 2 else None
    except (TypeError, ValueError):
        pw = None
    if pw is None:
        raise ShapeError(f"{name}: pad_width {pad_width!r} does not fit an array of dimension "
                         f"{nd}; use an int, (before, after) or one pair per axis")
    if (pw < 0).any():
        raise ValueError(f"{name}: pad_width must be non-negative, got {pad_width!r}")
    return [(int(b), int(e)) for b, e in pw]


def _pair_values(values, nd):
    """``(before, after)`` padding values per axis (``values`` broadcast to ``(nd, 2)``)."""
    vals = broadcast_to(asarray(values), (nd, 2))
    return [(vals[i, 0], vals[i, 1]) for i in _range(nd)]


_INDEX_MODES = ("edge", "reflect", "symmetric", "wrap")


def pad(array, pad_width, mode="constant", **kwargs):
    """Pads ``array``; modes ``constant`` (``constant_values``), ``edge``, ``reflect``,
    ``symmetric``, ``wrap``.

    >>> import s2s.numpy as np
    >>> np.pad(np.array([1, 2]), (1, 2))
    array([0, 1, 2, 0, 0], dtype=int32)
    >>> np.pad(np.array([1, 2, 3]), 2, mode="reflect")
    array([3, 2, 1, 2, 3, 2, 1], dtype=int32)
    """
    array = asarray(array)
    shp = shape_of(array)
    widths = _pad_width("pad", pad_width, len(shp))
    if mode == "constant":
        return _pad_constant(array, widths, kwargs.get("constant_values", 0), shp)
    if mode == "empty":
        return _pad_constant(array, widths, 0, shp)
    if mode not in _INDEX_MODES:
        raise NotImplementedError(f"pad: mode {mode!r} is not implemented; use one of "
                                  f"'constant', 'edge', {', '.join(map(repr, _INDEX_MODES[1:]))}")
    if kwargs.get("reflect_type", "even") != "even":
        raise NotImplementedError("pad: only reflect_type='even' is supported")
    return _pad_by_index(array, widths, mode, shp)


def _pad_constant(array, widths, values, shp):
    dt = dtype_of(array)
    if not shp:
        return array
    if len(shape_of(values)) == 0:
        return lax.pad(array, cast(values, dt), padding_config=[(b, e, 0) for b, e in widths])
    # Per-axis (before, after) values: pad one side of one axis at a time, as NumPy does.
    for axis, ((b, e), (vb, ve)) in enumerate(zip(widths, _pair_values(values, len(shp)))):
        config = [(0, 0, 0)] * len(shp)
        config[axis] = (b, 0, 0)
        array = lax.pad(array, cast(vb, dt), padding_config=config)
        config[axis] = (0, e, 0)
        array = lax.pad(array, cast(ve, dt), padding_config=config)
    return array


def _pad_by_index(array, widths, mode, shp):
    for axis, (b, e) in enumerate(widths):
        if b == 0 and e == 0:
            continue
        n = shp[axis]
        if n == 0:
            raise ShapeError(f"pad: cannot pad axis {axis} of size 0 with mode {mode!r}")
        idx = onp.pad(onp.arange(n), (b, e), mode=mode)
        array = take(array, idx, axis=axis)
    return array


# ---------------------------------------------------------------------------
# insert, delete (static positions).


def _axis_and_flat(name, arr, axis):
    arr = asarray(arr)
    if axis is None:
        return ravel(arr), 0
    return arr, canonicalize_axis(name, static_int(name, "axis", axis), ndim_of(arr))


def _static_index(name, obj):
    if is_staged(obj):
        raise ConcretizationError(f"{name}: the positions must be static (ints, slices or a "
                                  "concrete array); the result's shape depends on them")
    return obj


def delete(arr, obj, axis=None):
    """``arr`` without the entries at ``obj`` (static ints, a slice or a sequence) on ``axis``.

    >>> import s2s.numpy as np
    >>> np.delete(np.arange(5), [0, 2])
    array([1, 3, 4], dtype=int32)
    """
    arr, axis = _axis_and_flat("delete", arr, axis)
    n = shape_of(arr)[axis]
    keep = onp.delete(onp.arange(n), _static_index("delete", obj))
    return take(arr, keep, axis=axis)


def insert(arr, obj, values, axis=None):
    """``values`` inserted before positions ``obj`` (static) along ``axis``.

    >>> import s2s.numpy as np
    >>> np.insert(np.array([1, 2, 3]), 1, 9)
    array([1, 9, 2, 3], dtype=int32)
    """
    arr, axis = _axis_and_flat("insert", arr, axis)
    obj = _static_index("insert", obj)
    shp = shape_of(arr)
    n = shp[axis]
    if isinstance(obj, slice):
        indices = onp.arange(*obj.indices(n))
    else:
        indices = onp.asarray(obj)
    values = _array(values, dtype=dtype_of(arr), ndmin=len(shp))
    if indices.size == 1:
        if indices.ndim == 0:
            values = moveaxis(values, 0, axis)
        numnew = shape_of(values)[axis]
    else:
        numnew = indices.size
    target = shp[:axis] + (numnew,) + shp[axis + 1:]
    values = broadcast_to(values, target)
    probe = indices.item() if indices.ndim == 0 else indices
    order = onp.insert(onp.arange(n), probe, onp.arange(n, n + numnew))
    return take(concatenate([arr, values], axis=axis), order, axis=axis)


# ---------------------------------------------------------------------------
# Shape queries.


def shape(a):
    """The shape of ``a``.

    >>> import s2s.numpy as np
    >>> np.shape([[1, 2, 3]])
    (1, 3)
    """
    return tuple(shape_of(a))


def ndim(a):
    """The number of dimensions of ``a``.

    >>> import s2s.numpy as np
    >>> np.ndim(1.0)
    0
    """
    return len(shape_of(a))


def size(a, axis=None):
    """The number of elements of ``a`` (along ``axis`` if given).

    >>> import s2s.numpy as np
    >>> np.size(np.zeros((2, 3)))
    6
    """
    s = shape_of(a)
    if axis is None:
        return _prod(s)
    return s[canonicalize_axis("size", static_int("size", "axis", axis), len(s))]


# ---------------------------------------------------------------------------
# Derivative templates (reverse mode; see s2s.transforms.templates). ``np`` and the
# adjoint helpers are bound by the transformation.

np = unbroadcast = reshape_like = transpose_grad = None

def_zero_derivative(shape, ndim, size, broadcast_shapes)


@def_vjp(reshape)
def _reshape_vjp(ans, a, newshape=None, order="C", *, shape=None, copy=None):
    d[a] = reshape_like(d[ans], a)


@def_vjp(ravel)
def _ravel_vjp(ans, a, order="C"):
    d[a] = reshape_like(d[ans], a)


@def_vjp(expand_dims)
def _expand_dims_vjp(ans, a, axis):
    d[a] = reshape_like(d[ans], a)


@def_vjp(squeeze)
def _squeeze_vjp(ans, a, axis=None):
    d[a] = reshape_like(d[ans], a)


@def_vjp(transpose)
def _transpose_vjp(ans, a, axes=None):
    d[a] = transpose_grad(d[ans], axes)


@def_vjp(swapaxes)
def _swapaxes_vjp(ans, a, axis1, axis2):
    d[a] = np.swapaxes(d[ans], axis1, axis2)


@def_vjp(moveaxis)
def _moveaxis_vjp(ans, a, source, destination):
    d[a] = np.moveaxis(d[ans], destination, source)


@def_vjp(matrix_transpose)
def _matrix_transpose_vjp(ans, x):
    d[x] = np.swapaxes(d[ans], -1, -2)


@def_vjp(broadcast_to)
def _broadcast_to_vjp(ans, array, shape):
    d[array] = unbroadcast(d[ans], array)


@def_vjp(flip)
def _flip_vjp(ans, m, axis=None):
    d[m] = np.flip(d[ans], axis)


@def_vjp(fliplr)
def _fliplr_vjp(ans, m):
    d[m] = np.fliplr(d[ans])


@def_vjp(flipud)
def _flipud_vjp(ans, m):
    d[m] = np.flipud(d[ans])


@def_vjp(rot90)
def _rot90_vjp(ans, m, k=1, axes=(0, 1)):
    d[m] = np.rot90(d[ans], -k, axes)


@def_vjp(concatenate)
def _concatenate_vjp(ans, arrays, axis=0, dtype=None):
    # Split at the running lengths (sizes, for axis=None), then give each piece its shape.
    d[arrays] = [np.reshape(p, np.shape(x)) for p, x in zip(np.split(d[ans], [
        sum(np.shape(y)[axis] if isinstance(axis, int) else np.size(y) for y in arrays[:i])
        for i in range(1, len(arrays))], axis if isinstance(axis, int) else 0), arrays)]


@def_vjp(stack)
def _stack_vjp(ans, arrays, axis=0, dtype=None):
    d[arrays] = np.unstack(d[ans], axis=axis)


@def_vjp(unstack)
def _unstack_vjp(ans, x, /, *, axis=0):
    d[x] = np.stack([np.zeros_like(p) if g is None else g for p, g in zip(ans, d[ans])], axis)


# Imported last: these modules import this one (their functions are looked up at call time).
from s2s.numpy._creation import array as _array, asarray  # noqa: E402
from s2s.numpy._indexing import take  # noqa: E402
from s2s.numpy._ufuncs import remainder  # noqa: E402
