"""Array building, indexing, set and integer functions: select, block, resize, rollaxis,
vecdot, matvec, vecmat, fill_diagonal, put_along_axis, the ``*_indices_from`` helpers,
isin, intersect1d, union1d, setdiff1d, unique_counts, unique_values, gcd, lcm, frexp,
apply_along_axis and trim_zeros.

Composites of ``s2s.numpy`` functions and ``s2s.lax`` primitives (eager on NumPy arrays,
staged under ``jit``, differentiated by ``grad`` from this source where they are
float-valued). Arrays are values: ``fill_diagonal`` and ``put_along_axis`` return a new
array (pass ``inplace=False``, as in ``jax.numpy``). Set functions whose result size
depends on the data take a static ``size=`` (and ``fill_value=``) under ``jit``.

>>> import s2s.numpy as np
>>> np.isin(np.array([1, 2, 3]), np.array([2, 5]))
array([False,  True, False])
"""
import collections
import math

import numpy as onp

from s2s import dtypes, lax
from s2s.errors import ConcretizationError, ShapeError
from s2s.lax.core import Tracer, def_zero_derivative
from s2s.lax.shapes import broadcast_shapes, canonicalize_axis
from s2s.numpy._extras_stats import (_axes, _axis, _dtype, _int, _is_complex, _ndim,
                                     _result_dtype, _shape, _staged)

import s2s.numpy as np

__all__ = [
    "isin", "select", "rollaxis", "vecdot", "matvec", "vecmat", "tril_indices_from",
    "triu_indices_from", "diag_indices_from", "fill_diagonal", "put_along_axis",
    "intersect1d", "union1d", "setdiff1d", "unique_counts", "unique_values", "gcd", "lcm",
    "frexp", "resize", "block", "apply_along_axis", "trim_zeros",
]

# ---------------------------------------------------------------------------
# isin, select


def isin(element, test_elements, assume_unique=False, invert=False, *, method="auto"):
    """Elementwise test of whether each ``element`` is in ``test_elements`` (shaped like
    ``element``; ``invert=True`` negates it). NaN is never found.

    >>> import s2s.numpy as np
    >>> np.isin(np.array([[1, 2], [3, 4]]), [4, 1], invert=True)
    array([[False,  True],
           [ True, False]])
    """
    e = np.asarray(element)
    t = np.ravel(np.asarray(test_elements))
    if _shape(t)[0] == 0:
        found = np.zeros(_shape(e), dtypes.bool_)
    else:
        found = np.any(np.equal(np.expand_dims(e, -1), t), axis=-1)
    return np.logical_not(found) if invert else found


def _select_check(condlist, choicelist):
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: list of cases must be same length as list of conditions "
                         f"({len(choicelist)} and {len(condlist)})")
    if len(condlist) == 0:
        raise ValueError("select: select with an empty condition list is not possible")
    for i, c in enumerate(condlist):
        dt = dtypes.dtype_of(onp.asarray(c)) if isinstance(c, (list, tuple)) else _dtype(c)
        if dt != dtypes.bool_:
            raise TypeError(f"select: invalid entry {i} in condlist: should be boolean ndarray")


def_zero_derivative(isin, _select_check)


def select(condlist, choicelist, default=0):
    """Elementwise, the entry of the first ``choicelist`` array whose condition holds
    (``default`` where none does); everything broadcasts.

    >>> import s2s.numpy as np
    >>> x = np.arange(6.0)
    >>> np.select([x < 2, x > 3], [x, x ** 2], default=-1.0)
    array([ 0.,  1., -1., -1., 16., 25.], dtype=float32)
    """
    _select_check(condlist, choicelist)
    out = default
    for i in range(len(condlist) - 1, -1, -1):
        out = np.where(condlist[i], choicelist[i], out)
    return out

# ---------------------------------------------------------------------------
# rollaxis, vecdot, matvec, vecmat


def _rollaxis_target(a, axis, start):
    n = _ndim(a)
    ax = canonicalize_axis("rollaxis", _int("rollaxis", "axis", axis), n)
    st = _int("rollaxis", "start", start)
    if not -n <= st <= n:
        raise ShapeError(f"rollaxis: start ({st}) must be >= {-n} and < {n + 1}")
    st = st + n if st < 0 else st
    return ax, (st - 1 if ax < st else st)


def_zero_derivative(_rollaxis_target)


def rollaxis(a, axis, start=0):
    """Moves ``axis`` to just before position ``start`` (prefer ``moveaxis``).

    >>> import s2s.numpy as np
    >>> np.rollaxis(np.ones((3, 4, 5, 6)), 3, 1).shape
    (3, 6, 4, 5)
    """
    arr = np.asarray(a)
    ax, dest = _rollaxis_target(arr, axis, start)
    return np.moveaxis(arr, ax, dest)


def _vecdot_plan(x1, x2, axis):
    if _ndim(x1) == 0 or _ndim(x2) == 0:
        raise ShapeError(f"vecdot: inputs must be at least 1-d, got shapes {_shape(x1)} and "
                         f"{_shape(x2)}")
    a1 = _axis("vecdot", axis, _ndim(x1))
    a2 = _axis("vecdot", axis, _ndim(x2))
    if _shape(x1)[a1] != _shape(x2)[a2]:
        raise ShapeError(f"vecdot: x1 (shape {_shape(x1)}) and x2 (shape {_shape(x2)}) must "
                         f"have the same size along axis {axis}")
    broadcast_shapes("vecdot", _shape(x1)[:a1] + _shape(x1)[a1 + 1:],
                     _shape(x2)[:a2] + _shape(x2)[a2 + 1:])
    return a1, a2


def _mat_check(name, x1, x2):
    s1, s2 = _shape(x1), _shape(x2)
    if name == "matvec":
        ok = len(s1) >= 2 and len(s2) >= 1 and s1[-1] == s2[-1]
        batch = (s1[:-2], s2[:-1])
    else:
        ok = len(s1) >= 1 and len(s2) >= 2 and s1[-1] == s2[-2]
        batch = (s1[:-1], s2[:-2])
    if not ok:
        what = "x1 (..., m, n) and x2 (..., n)" if name == "matvec" else \
            "x1 (..., n) and x2 (..., n, m)"
        raise ShapeError(f"{name}: shapes {s1} and {s2} do not fit {what}")
    broadcast_shapes(name, *batch)


def_zero_derivative(_vecdot_plan, _mat_check)


def vecdot(x1, x2, /, *, axis=-1, precision=None, preferred_element_type=None):
    """Dot products of the vectors along ``axis`` (conjugating ``x1``), broadcasting the
    other axes.

    >>> import s2s.numpy as np
    >>> np.vecdot(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, -1.0]))
    array([-1., -1.], dtype=float32)
    """
    a = np.asarray(x1)
    b = np.asarray(x2)
    a1, a2 = _vecdot_plan(a, b, axis)
    dt = _result_dtype(a, b) if preferred_element_type is None else \
        dtypes.canonicalize_dtype(preferred_element_type)
    u = np.moveaxis(np.astype(a, dt), a1, -1)
    v = np.moveaxis(np.astype(b, dt), a2, -1)
    if dt == dtypes.bool_:
        return np.any(np.logical_and(u, v), axis=-1)
    if _is_complex(u):
        return np.sum(np.conj(u) * v, axis=-1, dtype=dt)
    return np.sum(u * v, axis=-1, dtype=dt)


def matvec(x1, x2, /):
    """Matrix-vector products ``x1 @ x2`` of the stacks ``x1`` (..., m, n) and ``x2``
    (..., n), broadcasting the leading axes.

    >>> import s2s.numpy as np
    >>> np.matvec(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([1.0, 1.0]))
    array([3., 7.], dtype=float32)
    """
    a = np.asarray(x1)
    b = np.asarray(x2)
    _mat_check("matvec", a, b)
    return np.squeeze(np.matmul(a, np.expand_dims(b, -1)), -1)


def vecmat(x1, x2, /):
    """Vector-matrix products ``conj(x1) @ x2`` of the stacks ``x1`` (..., n) and ``x2``
    (..., n, m), broadcasting the leading axes.

    >>> import s2s.numpy as np
    >>> np.vecmat(np.array([1.0, 1.0]), np.array([[1.0, 2.0], [3.0, 4.0]]))
    array([4., 6.], dtype=float32)
    """
    a = np.asarray(x1)
    b = np.asarray(x2)
    _mat_check("vecmat", a, b)
    u = np.conj(a) if _is_complex(a) else a
    return np.squeeze(np.matmul(np.expand_dims(u, -2), b), -2)

# ---------------------------------------------------------------------------
# *_indices_from, fill_diagonal, put_along_axis


def _shape_of_arg(name, arr):
    s = getattr(arr, "shape", None)
    return tuple(s) if s is not None else tuple(onp.shape(arr))


def tril_indices_from(arr, k=0):
    """Indices of the lower triangle (diagonal ``k`` and below) of the 2-d ``arr``.

    >>> import s2s.numpy as np
    >>> np.tril_indices_from(np.ones((2, 3)))
    (array([0, 1, 1], dtype=int32), array([0, 0, 1], dtype=int32))
    """
    s = _shape_of_arg("tril_indices_from", arr)
    if len(s) != 2:
        raise ShapeError(f"tril_indices_from: input array must be 2-d, got shape {s}")
    return np.tril_indices(s[0], k=k, m=s[1])


def triu_indices_from(arr, k=0):
    """Indices of the upper triangle (diagonal ``k`` and above) of the 2-d ``arr``.

    >>> import s2s.numpy as np
    >>> np.triu_indices_from(np.ones((2, 3)), k=1)
    (array([0, 0, 1], dtype=int32), array([1, 2, 2], dtype=int32))
    """
    s = _shape_of_arg("triu_indices_from", arr)
    if len(s) != 2:
        raise ShapeError(f"triu_indices_from: input array must be 2-d, got shape {s}")
    return np.triu_indices(s[0], k=k, m=s[1])


def diag_indices_from(arr):
    """Indices of the main diagonal of ``arr`` (at least 2-d, all sides equal).

    >>> import s2s.numpy as np
    >>> np.diag_indices_from(np.ones((3, 3)))
    (array([0, 1, 2], dtype=int32), array([0, 1, 2], dtype=int32))
    """
    s = _shape_of_arg("diag_indices_from", arr)
    if len(s) < 2:
        raise ShapeError(f"diag_indices_from: input array must be at least 2-d, got shape {s}")
    if any(d != s[0] for d in s):
        raise ShapeError(f"diag_indices_from: all dimensions of input must be of equal length, "
                         f"got shape {s}")
    return np.diag_indices(s[0], len(s))


def _no_inplace(name, inplace):
    if inplace:
        raise NotImplementedError(
            f"{name}: s2s arrays are values and cannot be modified in place; pass "
            f"inplace=False and use the returned array (a = np.{name}(..., inplace=False))")


def _fill_diagonal_plan(a, val, wrap):
    """(mask of the filled positions, index into the flattened ``val`` for each position)."""
    s = _shape(a)
    if len(s) < 2:
        raise ShapeError(f"fill_diagonal: array must be at least 2-d, got shape {s}")
    if len(s) > 2 and any(d != s[0] for d in s):
        raise ShapeError(f"fill_diagonal: all dimensions of input must be of equal length, got "
                         f"shape {s}")
    size = math.prod(s)
    if len(s) == 2:
        step = s[1] + 1
        end = size if wrap else min(size, s[1] * s[1])
    else:
        step = 1 + int(onp.sum(onp.cumprod(s[:-1])))
        end = size
    positions = onp.arange(0, end, step)
    nval = math.prod(_shape(val))
    mask = onp.zeros(size, bool)
    src = onp.zeros(size, dtypes.default_int_dtype())
    if nval:
        mask[positions] = True
        src[positions] = onp.arange(len(positions)) % nval
    return mask.reshape(s), src.reshape(s)


def_zero_derivative(tril_indices_from, triu_indices_from, diag_indices_from, _no_inplace,
                    _fill_diagonal_plan)


def fill_diagonal(a, val, wrap=False, *, inplace=True):
    """A copy of ``a`` with its main diagonal set to ``val`` (repeated cyclically);
    ``wrap=True`` continues past the square part of a tall matrix, as NumPy.

    s2s arrays are values: pass ``inplace=False`` (as in ``jax.numpy``); the default
    ``inplace=True`` raises, so NumPy code that ignores the result fails loudly.

    >>> import s2s.numpy as np
    >>> np.fill_diagonal(np.zeros((3, 3)), np.array([1.0, 2.0]), inplace=False)
    array([[1., 0., 0.],
           [0., 2., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    _no_inplace("fill_diagonal", inplace)
    arr = np.asarray(a)
    vals = np.ravel(np.asarray(val))
    mask, src = _fill_diagonal_plan(arr, vals, wrap)
    if _shape(vals)[0] == 0:
        return arr
    filled = np.take(np.astype(vals, _dtype(arr)), src)
    return np.where(mask, filled, arr)


def _put_plan(arr, indices, axis, mode):
    """Static layout of ``put_along_axis``: (arr shape, axis, broadcast index shape)."""
    if not (dtypes.is_integer(_dtype(indices))):
        raise TypeError("put_along_axis: `indices` must be an integer array")
    if mode not in (None, "drop", "fill", "clip", "promise_in_bounds"):
        raise ValueError(f"put_along_axis: mode must be None, 'drop', 'fill', 'clip' or "
                         f"'promise_in_bounds', got {mode!r}")
    s, si = _shape(arr), _shape(indices)
    if axis is None:
        if len(si) != 1:
            raise ShapeError("put_along_axis: when axis=None, `indices` must have a single "
                             f"dimension, got shape {si}")
        return (math.prod(s),), 0, si
    if len(si) != len(s):
        raise ShapeError(f"put_along_axis: `indices` and `arr` must have the same number of "
                         f"dimensions, got shapes {si} and {s}")
    ax = _axis("put_along_axis", axis, len(s))
    out = []
    for d in range(len(s)):
        if d == ax:
            out.append(si[d])
        elif si[d] in (1, s[d]):
            out.append(s[d])
        else:
            raise ShapeError(f"put_along_axis: indices of shape {si} do not broadcast against "
                             f"an array of shape {s} outside axis {ax}")
    return s, ax, tuple(out)


def _put_flat_index(idx, shape, ax, mode):
    """Flat positions in an array of ``shape`` for the (broadcast) ``idx`` along ``ax``;
    out-of-bounds positions point past the end (dropped) or are clipped."""
    n = shape[ax]
    if not isinstance(idx, Tracer) and mode is None:
        iv = onp.asarray(idx)
        if iv.size and (iv.min() < -n or iv.max() >= n):
            bad = iv[(iv < -n) | (iv >= n)].flat[0]
            raise IndexError(f"put_along_axis: index {bad} is out of bounds for axis {ax} with "
                             f"size {n}")
    int_dt = dtypes.default_int_dtype()
    i = np.astype(idx, int_dt)
    i = np.where(i < 0, i + n, i)
    if mode == "clip":
        i = np.clip(i, 0, n - 1)
    strides = onp.cumprod((shape[1:] + (1,))[::-1])[::-1]
    flat = np.zeros(_shape(i), int_dt)
    for d in range(len(shape)):
        coord = i if d == ax else lax.broadcasted_iota(dtype=int_dt, shape=_shape(i), dimension=d)
        flat = flat + coord * int(strides[d])
    size = math.prod(shape)
    outside = np.logical_or(i < 0, i >= n)
    return np.reshape(np.where(outside, size, flat), (-1, 1))


def_zero_derivative(_put_plan, _put_flat_index)


def put_along_axis(arr, indices, values, axis, inplace=True, *, mode=None):
    """A copy of ``arr`` with ``values`` put at ``indices`` along ``axis`` (the inverse of
    ``take_along_axis``; ``axis=None`` works on the flattened array).

    Pass ``inplace=False`` (as in ``jax.numpy``). Out-of-bounds indices raise eagerly
    (NumPy); under ``jit`` they are dropped (``mode='clip'`` clips them).

    >>> import s2s.numpy as np
    >>> a = np.array([[10.0, 30.0, 20.0], [60.0, 40.0, 50.0]])
    >>> np.put_along_axis(a, np.array([[1], [0]]), 99.0, axis=1, inplace=False)
    array([[10., 99., 20.],
           [99., 40., 50.]], dtype=float32)
    """
    _no_inplace("put_along_axis", inplace)
    a = np.asarray(arr)
    idx = np.asarray(indices)
    shape, ax, bshape = _put_plan(a, idx, axis, mode)
    flat_idx = _put_flat_index(np.broadcast_to(idx, bshape), shape, ax, mode)
    vals = np.ravel(np.broadcast_to(np.astype(np.asarray(values), _dtype(a)), bshape))
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    out = lax.scatter(np.ravel(a), flat_idx, vals, dimension_numbers=dn, mode="drop")
    return np.reshape(out, _shape(a))

# ---------------------------------------------------------------------------
# Sets: intersect1d, union1d, setdiff1d, unique_counts, unique_values


def _size_for(name, keep, size):
    """The static output size: ``size=``, or the number of kept elements (eager only)."""
    if size is not None:
        s = _int(name, "size", size)
        if s < 0:
            raise ValueError(f"{name}: size must be non-negative, got {s}")
        return s
    if isinstance(keep, Tracer):
        raise ConcretizationError(
            f"{name}: the size of the result depends on the values of the inputs; pass a "
            f"static size= (and fill_value=) to use {name} under jit")
    return int(onp.sum(onp.asarray(keep)))


def _first_of_runs(s, equal_nan):
    """True at the first element of each run of equal values of the sorted 1-d ``s``."""
    n = _shape(s)[0]
    if n == 0:
        return np.zeros((0,), dtypes.bool_)
    prev = s[:-1]
    cur = s[1:]
    new = np.not_equal(prev, cur)
    if equal_nan and dtypes.is_inexact(_dtype(s)):
        new = np.logical_and(new, np.logical_not(np.logical_and(np.isnan(prev), np.isnan(cur))))
    return np.concatenate([np.ones((1,), dtypes.bool_), new])


def _compact(values, keep, size, fill):
    """The ``values`` where ``keep`` holds, in order, in an array of length ``size``
    (extra ones dropped, missing ones ``fill``); also the number kept."""
    dt = _dtype(values)
    count = np.sum(keep)
    base = np.full((size,), np.astype(np.asarray(fill), dt), dt)
    if _shape(values)[0] == 0 or size == 0:
        return base, count
    slot = np.where(keep, np.cumsum(keep) - 1, size)
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    out = lax.scatter(base, np.reshape(np.astype(slot, dtypes.int32), (-1, 1)), values,
                      dimension_numbers=dn, mode="drop")
    return out, count


def _fill_smallest(out, count, fill_value):
    """Padding: ``fill_value``, or by default the first (smallest) value found (0 if none)."""
    if fill_value is not None or _shape(out)[0] == 0:
        return out
    pos = lax.broadcasted_iota(dtype=dtypes.default_int_dtype(), shape=_shape(out), dimension=0)
    return np.where(pos < count, out, out[0])


def _flat_pair(ar1, ar2):
    a = np.ravel(np.asarray(ar1))
    b = np.ravel(np.asarray(ar2))
    dt = _result_dtype(a, b)
    return np.astype(a, dt), np.astype(b, dt)


def intersect1d(ar1, ar2, assume_unique=False, return_indices=False, *, size=None,
                fill_value=None):
    """Sorted unique values found in both (flattened) arrays; with ``return_indices``, also
    the indices of their first occurrences in ``ar1`` and ``ar2``.

    Under ``jit`` pass a static ``size``: the result is truncated or padded with
    ``fill_value`` (default: the smallest value found; index padding is 0).

    >>> import s2s.numpy as np
    >>> np.intersect1d(np.array([1, 3, 4, 3]), np.array([3, 1, 2, 1]))
    array([1, 3], dtype=int32)
    """
    a, b = _flat_pair(ar1, ar2)
    perm = np.argsort(a)
    s = np.take(a, perm) if _shape(a)[0] else a
    keep = np.logical_and(_first_of_runs(s, True), isin(s, b))
    n = _size_for("intersect1d", keep, size)
    vals, count = _compact(s, keep, n, 0 if fill_value is None else fill_value)
    vals = _fill_smallest(vals, count, fill_value)
    if not return_indices:
        return vals
    int_dt = dtypes.default_int_dtype()
    ind1, _ = _compact(np.astype(perm, int_dt), keep, n, 0)
    nb = _shape(b)[0]
    if nb == 0 or n == 0:
        return vals, ind1, np.zeros((n,), int_dt)
    perm2 = np.argsort(b)
    pos = np.clip(np.searchsorted(np.take(b, perm2), vals), 0, nb - 1)
    ind2 = np.take(np.astype(perm2, int_dt), pos)
    live = lax.broadcasted_iota(dtype=int_dt, shape=(n,), dimension=0) < count
    return vals, ind1, np.where(live, ind2, 0)


def union1d(ar1, ar2, *, size=None, fill_value=None):
    """Sorted unique values found in either (flattened) array; under ``jit`` pass a static
    ``size`` (padding as ``unique``).

    >>> import s2s.numpy as np
    >>> np.union1d(np.array([-1, 0, 1]), np.array([-2, 0, 2]))
    array([-2, -1,  0,  1,  2], dtype=int32)
    """
    a, b = _flat_pair(ar1, ar2)
    both = np.concatenate([a, b])
    if size is None:
        return np.unique(both)
    return np.unique(both, size=_int("union1d", "size", size), fill_value=fill_value)


def setdiff1d(ar1, ar2, assume_unique=False, *, size=None, fill_value=None):
    """Sorted unique values of ``ar1`` that are not in ``ar2`` (with ``assume_unique``,
    ``ar1``'s values in their order). Under ``jit`` pass a static ``size``: padding is
    ``fill_value`` (default 0, as ``jax.numpy``).

    >>> import s2s.numpy as np
    >>> np.setdiff1d(np.array([5, 1, 2, 3, 4, 1]), np.array([3, 4, 5, 6]))
    array([1, 2], dtype=int32)
    """
    a = np.ravel(np.asarray(ar1))
    b = np.ravel(np.asarray(ar2))
    if assume_unique:
        vals = a
        keep = np.logical_not(isin(a, b))
    else:
        vals = np.sort(a)
        keep = np.logical_and(_first_of_runs(vals, True), np.logical_not(isin(vals, b)))
    n = _size_for("setdiff1d", keep, size)
    out, _ = _compact(vals, keep, n, 0 if fill_value is None else fill_value)
    return out


UniqueCountsResult = collections.namedtuple("UniqueCountsResult", ["values", "counts"])


def unique_counts(x, /, *, size=None, fill_value=None):
    """Sorted unique values of ``x`` (flattened; NaNs are all distinct) and how often each
    occurs, as ``UniqueCountsResult(values, counts)``; under ``jit`` pass a static ``size``.

    >>> import s2s.numpy as np
    >>> np.unique_counts(np.array([3, 1, 3, 3]))
    UniqueCountsResult(values=array([1, 3], dtype=int32), counts=array([1, 3], dtype=int32))
    """
    if size is None:
        values, counts = np.unique(x, return_counts=True, equal_nan=False)
    else:
        values, counts = np.unique(x, return_counts=True, equal_nan=False,
                                   size=_int("unique_counts", "size", size),
                                   fill_value=fill_value)
    return UniqueCountsResult(values, counts)


def unique_values(x, /, *, size=None, fill_value=None):
    """Sorted unique values of ``x`` (flattened; NaNs are all distinct). NumPy 2.3+ may
    return them in another order; s2s sorts them, as ``jax.numpy``.

    >>> import s2s.numpy as np
    >>> np.unique_values(np.array([3, 1, 3, 2]))
    array([1, 2, 3], dtype=int32)
    """
    if size is None:
        return np.unique(x, equal_nan=False)
    return np.unique(x, equal_nan=False, size=_int("unique_values", "size", size),
                     fill_value=fill_value)


def_zero_derivative(_size_for, _first_of_runs, unique_counts)

# ---------------------------------------------------------------------------
# gcd, lcm, frexp


def _int_pair(name, x1, x2):
    a = np.asarray(x1)
    b = np.asarray(x2)
    dt = _result_dtype(x1, x2)
    if not dtypes.is_integer(dt):
        raise TypeError(f"{name}: arguments must be integers, got dtype {onp.dtype(dt).name}")
    a, b = np.broadcast_arrays(np.astype(a, dt), np.astype(b, dt))
    if onp.dtype(dt).kind == "u":
        return a, b
    return np.abs(a), np.abs(b)


def _euclid_test(carry):
    return np.any(carry[1] != 0)


def _euclid_step(carry):
    a, b = carry
    nz = b != 0
    safe = np.where(nz, b, 1)
    return np.where(nz, b, a), np.where(nz, lax.rem(a, safe), 0)


def gcd(x1, x2):
    """Elementwise greatest common divisor of the absolute values of integers
    (``gcd(0, 0) == 0``), by Euclid's algorithm.

    >>> import s2s.numpy as np
    >>> np.gcd(np.array([12, 20, 0, -9]), 6)
    array([6, 2, 6, 3], dtype=int32)
    """
    a, b = _int_pair("gcd", x1, x2)
    g, _ = lax.while_loop(_euclid_test, _euclid_step, (a, b))
    return g


def lcm(x1, x2):
    """Elementwise least common multiple of the absolute values of integers (0 when either
    is 0; like NumPy, a result too large for the dtype wraps around).

    >>> import s2s.numpy as np
    >>> np.lcm(np.array([4, 6, 0]), 10)
    array([20, 30,  0], dtype=int32)
    """
    a, b = _int_pair("lcm", x1, x2)
    g = gcd(a, b)
    zero = g == 0
    return np.where(zero, 0, (a // np.where(zero, 1, g)) * b)


def_zero_derivative(_int_pair, gcd, lcm)


_FREXP = {  # float dtype -> (same-width int dtype, mantissa bits, exponent mask, bias)
    "float32": ("int32", 23, 0xFF, 127),
    "float64": ("int64", 52, 0x7FF, 1023),
}


def _frexp_parts(x):
    """(exponent ``e`` as int32, mantissa of the subnormal inputs, subnormal mask) from the
    bits of ``x`` (integer arithmetic only: XLA on CPU flushes subnormal floats to zero)."""
    name = onp.dtype(_dtype(x)).name
    int_name, bits, mask, bias = _FREXP[name]
    int_dt = onp.dtype(int_name)
    raw = lax.bitcast_convert_type(x, new_dtype=int_dt)
    field = lax.bitwise_and(lax.shift_right_logical(raw, onp.asarray(bits, int_dt)),
                            onp.asarray(mask, int_dt))
    frac = lax.bitwise_and(raw, onp.asarray((1 << bits) - 1, int_dt))
    sub = np.logical_and(field == 0, frac != 0)
    # A subnormal is frac * 2**(1 - bias - bits); frac (exact as a float) has exponent p.
    ffrac = np.astype(frac, onp.dtype(name))
    fbits = lax.bitcast_convert_type(ffrac, new_dtype=int_dt)
    p = lax.bitwise_and(lax.shift_right_logical(fbits, onp.asarray(bits, int_dt)),
                        onp.asarray(mask, int_dt)) - bias
    e_sub = p + 2 - bias - bits
    e_norm = field - (bias - 1)
    special = np.logical_or(np.logical_and(field == 0, frac == 0), field == mask)
    e = np.where(special, 0, np.where(sub, e_sub, e_norm))
    m_sub = ffrac * _pow2(-(p + 1), onp.dtype(name))
    m_sub = np.where(raw < 0, -m_sub, m_sub)
    return np.astype(e, dtypes.int32), m_sub, sub


def _pow2(k, dt):
    """``2.0**k`` as ``dt`` for whole ``k`` within the normal exponent range."""
    int_name, bits, mask, bias = _FREXP[onp.dtype(dt).name]
    int_dt = onp.dtype(int_name)
    biased = np.astype(k, int_dt) + bias
    return lax.bitcast_convert_type(lax.shift_left(biased, onp.asarray(bits, int_dt)),
                                    new_dtype=onp.dtype(dt))


def _frexp_dtypes(x):
    if _is_complex(x):
        raise TypeError("frexp: complex input is not supported")
    dt = dtypes.to_inexact_dtype(_dtype(x))
    work = dt if onp.dtype(dt).name in _FREXP else onp.dtype("float32")
    return dt, work


def_zero_derivative(_frexp_parts, _pow2, _frexp_dtypes)


def frexp(x, /):
    """Mantissas and exponents: ``x == m * 2**e`` with ``0.5 <= |m| < 1`` (``m = x`` and
    ``e = 0`` for 0, inf and NaN); exponents are int32.

    >>> import s2s.numpy as np
    >>> m, e = np.frexp(np.array([1.0, 12.0, -0.375, 0.0]))
    >>> m
    array([ 0.5 ,  0.75, -0.75,  0.  ], dtype=float32)
    >>> e
    array([ 1,  4, -1,  0], dtype=int32)
    """
    xa = np.asarray(x)
    dt, work = _frexp_dtypes(xa)
    xw = np.astype(xa, work)
    e, m_sub, sub = _frexp_parts(xw)
    # Normal numbers: exact scaling by two powers of two (each, and the partial product,
    # stays normal), which also carries the derivative.
    half = -e // 2
    m = np.where(sub, m_sub, xw * _pow2(half, work) * _pow2(-e - half, work))
    return np.astype(m, dt), e

# ---------------------------------------------------------------------------
# resize, block


def _resize_shape(a, new_shape):
    if isinstance(new_shape, Tracer):
        raise ConcretizationError("resize: new_shape must be static (a tuple of Python ints)")
    shape = (new_shape,) if isinstance(new_shape, (int, onp.integer)) else tuple(new_shape)
    shape = tuple(_int("resize", "new_shape", d) for d in shape)
    if any(d < 0 for d in shape):
        raise ValueError(f"resize: all elements of `new_shape` must be non-negative, got "
                         f"{shape}")
    size = math.prod(_shape(a))
    total = math.prod(shape)
    reps = 0 if size == 0 else -(-total // size)
    return shape, total, reps


def_zero_derivative(_resize_shape)


def resize(a, new_shape):
    """An array of ``new_shape`` filled with the elements of ``a`` (flattened), repeated
    as often as needed (zeros when ``a`` is empty).

    >>> import s2s.numpy as np
    >>> np.resize(np.array([[0, 1], [2, 3]]), (2, 3))
    array([[0, 1, 2],
           [3, 0, 1]], dtype=int32)
    """
    arr = np.asarray(a)
    shape, total, reps = _resize_shape(arr, new_shape)
    if reps == 0 or total == 0:
        return np.zeros(shape, _dtype(arr))
    return np.reshape(np.tile(np.ravel(arr), reps)[:total], shape)


def _block_structure(arrays):
    """(nesting depth, result rank) of ``block``'s nested lists, with NumPy's errors for
    tuples, empty lists and uneven depths."""
    paths = []
    depths = []

    def walk(x, path):
        if isinstance(x, tuple):
            raise TypeError(f"block: arrays{_fmt_path(path)} is a tuple. Only lists can be used "
                            "to arrange blocks, and np.block does not allow implicit conversion "
                            "from tuple to ndarray.")
        if isinstance(x, list):
            if not x:
                raise ValueError(f"block: list at arrays{_fmt_path(path)} cannot be empty")
            for i, item in enumerate(x):
                walk(item, path + (i,))
            return
        paths.append(path)
        depths.append(len(path))
        if len(set(depths)) > 1:
            raise ValueError(f"block: list depths are mismatched. First element was at depth "
                             f"{depths[0]}, but there is an element at depth {len(path)} "
                             f"(arrays{_fmt_path(path)})")

    walk(arrays, ())
    depth = depths[0]
    ranks = []
    for p in paths:
        leaf = arrays
        for k in p:
            leaf = leaf[k]
        ranks.append(len(_shape(leaf)) if not dtypes.is_python_scalar(leaf) else 0)
    return depth, max([depth] + ranks)


def _fmt_path(path):
    return "".join(f"[{i}]" for i in path)


def _leading_ones(x, rank):
    return (1,) * (rank - len(_shape(x))) + _shape(x)


def_zero_derivative(_block_structure, _fmt_path, _leading_ones)


def block(arrays):
    """An array assembled from nested lists of blocks: the innermost lists are joined
    along the last axis, the next level along the second to last, and so on (blocks get
    leading unit axes up to the result's rank).

    >>> import s2s.numpy as np
    >>> A = np.ones((2, 2))
    >>> np.block([[A, np.zeros((2, 1))], [np.full((1, 3), 5.0)]])
    array([[1., 1., 0.],
           [1., 1., 0.],
           [5., 5., 5.]], dtype=float32)
    """
    if not isinstance(arrays, list):
        return np.array(arrays)
    depth, rank = _block_structure(arrays)
    return _block_nested(arrays, depth, rank)


def _block_nested(x, depth, rank):
    """The block of the nested lists ``x`` (``depth`` levels of lists above the arrays)."""
    if depth == 0:
        a = np.asarray(x)
        return np.reshape(a, _leading_ones(a, rank))
    parts = [_block_nested(item, depth - 1, rank) for item in x]
    return np.concatenate(parts, axis=-depth)

# ---------------------------------------------------------------------------
# apply_along_axis, trim_zeros


def apply_along_axis(func1d, axis, arr, *args, **kwargs):
    """``func1d`` applied to each 1-d slice of ``arr`` along ``axis``; the axis is replaced
    by the dimensions of ``func1d``'s result (a Python loop over the other axes: under
    ``jit`` each slice is staged; ``grad`` cannot differentiate through ``func1d``, which
    is a value).

    >>> import s2s.numpy as np
    >>> np.apply_along_axis(np.sum, 1, np.arange(6.0).reshape(2, 3))
    array([ 3., 12.], dtype=float32)
    """
    a = np.asarray(arr)
    s = _shape(a)
    ax = _axis("apply_along_axis", axis, len(s))
    moved = np.moveaxis(a, ax, -1)
    outer = _shape(moved)[:-1]
    if math.prod(outer) == 0:
        raise ValueError("apply_along_axis: cannot apply_along_axis when any iteration "
                         f"dimensions are 0 (shape {s}, axis {ax})")
    results = [np.asarray(func1d(moved[idx], *args, **kwargs)) for idx in onp.ndindex(*outer)]
    rshape = _shape(results[0])
    for r in results[1:]:
        if _shape(r) != rshape:
            raise ShapeError(f"apply_along_axis: func1d returned results of different shapes "
                             f"({rshape} and {_shape(r)})")
    out = np.reshape(np.stack(results), outer + rshape)
    k = len(rshape)
    lead = len(outer)
    return np.moveaxis(out, list(range(lead, lead + k)), list(range(ax, ax + k)))


def trim_zeros(filt, trim="fb", axis=None):
    """``filt`` without its leading (``'f'``) and/or trailing (``'b'``) zeros along
    ``axis`` (all axes when None: the bounding box of the nonzeros). The result's size
    depends on the values, so this works eagerly only.

    >>> import s2s.numpy as np
    >>> np.trim_zeros(np.array([0, 0, 1, 2, 0, 3, 0]))
    array([1, 2, 0, 3], dtype=int32)
    >>> np.trim_zeros(np.array([0, 1, 0]), trim="b")
    array([0, 1], dtype=int32)
    """
    if _staged(filt):
        raise ConcretizationError(
            "trim_zeros: the result's shape depends on the values of filt, so it cannot be "
            "staged under jit; slice with static bounds instead")
    a = np.asarray(filt)
    mode = str(trim).lower()
    if not mode or any(c not in "fb" for c in mode):
        raise ValueError(f"trim_zeros: unexpected character(s) in `trim`: {trim!r}; use "
                         "'f', 'b' or 'fb'")
    s = _shape(a)
    if len(s) == 0:
        raise ShapeError("trim_zeros: filt must be at least 1-dimensional")
    nz = onp.asarray(a) != 0
    idx = [slice(None)] * len(s)
    for ax in _axes("trim_zeros", axis, len(s)):
        others = tuple(d for d in range(len(s)) if d != ax)
        hit = onp.flatnonzero(nz.any(axis=others) if others else nz)
        if hit.size == 0:
            idx[ax] = slice(0, 0)
            continue
        start = int(hit[0]) if "f" in mode else 0
        stop = int(hit[-1]) + 1 if "b" in mode else s[ax]
        idx[ax] = slice(start, stop)
    return a[tuple(idx)]
