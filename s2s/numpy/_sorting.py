"""Sorting and sets: sort, argsort, lexsort, searchsorted, unique, partition, argpartition.

Every sort is stable (``kind`` is accepted and ignored) and puts NaNs last, as
NumPy does, through ``lax.sort``. ``partition``/``argpartition`` return a full sort,
which is one valid partition (NumPy may return another). ``unique`` has a
data-dependent size: eagerly it is NumPy's; under ``jit`` pass a static ``size=``
(results are truncated or padded with ``fill_value``, as in ``jax.numpy``).

>>> import numpy as onp, s2s.numpy as np
>>> np.argsort(onp.array([3, 1, 2]))
array([1, 2, 0], dtype=int32)
"""
import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import ConcretizationError, ShapeError
from s2s.core.primitive import primitive_wrapper, Tracer
from s2s.numpy import _internal as I
from s2s.numpy._primitive import numpy_primitive
from s2s.numpy._reductions import _static_axis

__all__ = ["sort", "argsort", "lexsort", "searchsorted", "unique", "partition", "argpartition"]


def _flat_or_axis(name, a, axis):
    """(array, axis): ``a`` flattened when ``axis`` is None, else ``axis`` normalized."""
    a = I.asarray(a)
    if axis is None:
        return I.ravel(a), 0
    if I.ndim(a) == 0:
        raise ShapeError(f"{name}: axis {axis} is out of bounds for array of dimension 0")
    return a, I.one_axis(name, axis, I.ndim(a))


def _indices(shape, axis):
    return lax.broadcasted_iota(dtype=dtypes.default_int_dtype(), shape=shape, dimension=axis)


def _check_order(name, order):
    if order is not None:
        raise NotImplementedError(f"{name}: order= (structured arrays) is not supported")


def _sort_composite(a, axis=-1):
    a, axis = _flat_or_axis("sort", a, axis)
    if I.shape(a)[axis] <= 1:
        return a
    return lax.sort(a, dimension=axis)


def _sort_impl(a, axis=-1):
    return onp.sort(a, axis=axis, kind="stable")


sort_p = numpy_primitive("sort", _sort_impl, _sort_composite)


@primitive_wrapper(sort_p)
def sort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Sorted copy of ``a`` along ``axis`` (flattened when None); stable, NaNs last.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.sort(onp.array([[3.0, onp.nan, 1.0]]))
    array([[ 1.,  3., nan]], dtype=float32)
    """
    _check_order("sort", order)
    return sort_p.bind(a, axis=_static_axis(axis))




def _argsort_composite(a, axis=-1):
    a, axis = _flat_or_axis("argsort", a, axis)
    idx = _indices(I.shape(a), axis)
    if I.shape(a)[axis] <= 1:
        return idx
    return lax.sort(a, idx, dimension=axis, num_keys=1)[1]


def _argsort_impl(a, axis=-1):
    return onp.argsort(a, axis=axis, kind="stable")


argsort_p = numpy_primitive("argsort", _argsort_impl, _argsort_composite)


@primitive_wrapper(argsort_p)
def argsort(a, axis=-1, kind=None, order=None, *, stable=None):
    """Indices that sort ``a`` along ``axis`` (stable: ties keep their order; NaNs last).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.argsort(onp.array([2, 1, 2, 0]))
    array([3, 1, 0, 2], dtype=int32)
    """
    _check_order("argsort", order)
    return argsort_p.bind(a, axis=_static_axis(axis))




def lexsort(keys, axis=-1):
    """Indirect stable sort by several keys; the **last** key is the primary one.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.lexsort((onp.array([1, 2, 1]), onp.array([3, 3, 1])))
    array([2, 0, 1], dtype=int32)
    """
    if isinstance(keys, (Tracer, onp.ndarray)):
        n = I.shape(keys)[0] if I.ndim(keys) else 0
        keys = [I.index_axis(keys, 0, i) for i in range(n)]
    keys = [I.asarray(k) for k in keys]
    if not keys:
        raise ValueError("lexsort: need at least one key")
    keys = I.broadcast_arrays("lexsort", *keys)
    if I.ndim(keys[0]) == 0:
        raise ShapeError("lexsort: keys must be at least 1-dimensional")
    ax = I.one_axis("lexsort", axis, I.ndim(keys[0]))
    idx = _indices(I.shape(keys[0]), ax)
    if I.shape(keys[0])[ax] <= 1:
        return idx
    out = lax.sort(*keys[::-1], idx, dimension=ax, num_keys=len(keys))
    return out[-1]

# ---------------------------------------------------------------------------
# searchsorted


def _less(x, y):
    """``x < y`` in NumPy's sort order (NaN greater than everything, NaNs equal)."""
    dt = I.dtype(x)
    if dtypes.is_complex(dt):
        xr, yr, xi, yi = lax.real(x), lax.real(y), lax.imag(x), lax.imag(y)
        return lax.bitwise_or(lax.lt(xr, yr), lax.bitwise_and(lax.eq(xr, yr), lax.lt(xi, yi)))
    lt = lax.lt(x, y)
    if dtypes.is_float(dt):
        lt = lax.bitwise_or(lt, lax.bitwise_and(I.isnan(y), lax.bitwise_not(I.isnan(x))))
    return lt


def _take1d(a, idx):
    """``a[idx]`` for 1-D ``a`` and integer ``idx`` of any shape (indices clipped)."""
    dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
                                    start_index_map=(0,))
    return lax.gather(a, I.expand(I.astype(idx, dtypes.int32), -1), dimension_numbers=dn,
                      slice_sizes=(1,), mode="clip")


def searchsorted(a, v, side="left", sorter=None):
    """Indices where ``v`` would be inserted into sorted 1-D ``a`` to keep it sorted.

    ``side="left"`` gives the first suitable index, ``"right"`` the last; ``sorter``
    are indices that sort ``a``. (Compares every pair: O(len(a) * v.size) work.)

    >>> import numpy as onp, s2s.numpy as np
    >>> np.searchsorted(onp.array([1, 2, 3, 5]), onp.array([0, 3, 4, 9]))
    array([0, 2, 3, 4], dtype=int32)
    """
    a, v = I.asarray(a), I.asarray(v)
    if I.ndim(a) != 1:
        raise ShapeError(f"searchsorted: a must be 1-dimensional, got shape {I.shape(a)}")
    if side not in ("left", "right"):
        raise ValueError(f"searchsorted: side must be 'left' or 'right', got {side!r}")
    if sorter is not None:
        sorter = I.asarray(sorter)
        if I.shape(sorter) != I.shape(a):
            raise ShapeError(f"searchsorted: sorter shape {I.shape(sorter)} must match a's "
                             f"{I.shape(a)}")
        a = _take1d(a, sorter)
    (a, v), _ = I.promote(a, v)
    n = I.shape(a)[0]
    vs = I.shape(v)
    a_b = lax.broadcast_in_dim(a, shape=vs + (n,), broadcast_dimensions=(len(vs),))
    v_b = lax.broadcast_in_dim(v, shape=vs + (n,), broadcast_dimensions=tuple(range(len(vs))))
    # left: count a[i] < v; right: count a[i] <= v (that is, not v < a[i]).
    before = _less(a_b, v_b) if side == "left" else lax.bitwise_not(_less(v_b, a_b))
    count = I.astype(before, dtypes.default_int_dtype())
    return lax.reduce_sum(count, axes=(len(vs),))

# ---------------------------------------------------------------------------
# unique


def _unique_numpy(ar, return_index, return_inverse, return_counts, axis, equal_nan):
    out = onp.unique(onp.asarray(ar), return_index=return_index, return_inverse=return_inverse,
                     return_counts=return_counts, axis=axis, equal_nan=equal_nan)
    if not isinstance(out, tuple):
        return onp.asarray(out, dtypes.dtype_of(ar))
    values, *rest = out
    rest = [onp.asarray(r, dtypes.default_int_dtype()) for r in rest]
    return (onp.asarray(values, dtypes.dtype_of(ar)), *rest)


def _unique_sized(ar, size, fill_value, return_index, return_inverse, return_counts, equal_nan):
    x = I.ravel(ar)
    n = I.shape(x)[0]
    int_dt = dtypes.default_int_dtype()
    if n == 0:
        raise ShapeError("unique: size= needs a non-empty input (there is no fill value to take)")
    perm = _indices((n,), 0)
    xs, perm = lax.sort(x, perm, dimension=0, num_keys=1) if n > 1 else (x, perm)
    prev, cur = I.take_slice(xs, 0, 0, n - 1), I.take_slice(xs, 0, 1, n)
    new = lax.ne(prev, cur)
    if equal_nan and dtypes.is_inexact(I.dtype(xs)):
        new = lax.bitwise_and(new, lax.bitwise_not(lax.bitwise_and(I.isnan(prev), I.isnan(cur))))
    first = I.concatenate([I.full((1,), True, dtypes.bool_), new], 0)
    group = lax.sub(lax.cumsum(I.astype(first, int_dt), axis=0), I.astype(1, int_dt))
    slot = I.where(first, group, size)  # non-first elements land out of bounds: dropped
    fill = I.index_axis(xs, 0, 0) if fill_value is None else I.astype(fill_value, I.dtype(xs))
    values = _scatter(I.full((size,), fill, I.dtype(xs)), slot, xs)
    results = [values]
    if return_index:
        results.append(_scatter(I.full((size,), 0, int_dt), slot, perm))
    if return_inverse:
        inverse = lax.sort(perm, group, dimension=0, num_keys=1)[1] if n > 1 else group
        results.append(I.reshape(inverse, I.shape(ar)))
    if return_counts:
        ones = I.full((n,), 1, int_dt)
        results.append(_scatter(I.full((size,), 0, int_dt), group, ones, add=True))
    return results[0] if len(results) == 1 else tuple(results)


def _scatter(target, idx, updates, add=False):
    """``target[idx] = updates`` (or ``+=``) for 1-D arrays; out-of-bounds ``idx`` are dropped."""
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    fn = lax.scatter_add if add else lax.scatter
    return fn(target, I.expand(I.astype(idx, dtypes.int32), -1), updates, dimension_numbers=dn,
              mode="drop")


def unique(ar, return_index=False, return_inverse=False, return_counts=False, axis=None, *,
           equal_nan=True, size=None, fill_value=None):
    """Sorted unique elements of ``ar`` (flattened), optionally with first indices, the
    inverse mapping (shaped like ``ar``) and counts.

    Under ``jit`` pass a static ``size``: the result is truncated to ``size`` or padded
    with ``fill_value`` (default: the smallest value; index and count padding is 0).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.unique(onp.array([3, 1, 3, 2]))
    array([1, 2, 3], dtype=int32)
    >>> np.unique(onp.array([3, 1, 3]), size=4, fill_value=0)
    array([1, 3, 0, 0], dtype=int32)
    """
    flags = (bool(return_index), bool(return_inverse), bool(return_counts))
    if size is None:
        if isinstance(ar, Tracer):
            raise ConcretizationError(
                "unique: the number of unique values is not known while the function is "
                "compiled; pass a static size= (and fill_value=) to use unique under jit")
        return _unique_numpy(ar, *flags, axis, equal_nan)
    if axis is not None:
        raise NotImplementedError("unique: axis= is supported only without size= (eagerly)")
    size = I.static_int("unique", "size", size)
    if size < 1:
        raise ValueError(f"unique: size must be positive, got {size}")
    return _unique_sized(I.asarray(ar), size, fill_value, *flags, equal_nan)

# ---------------------------------------------------------------------------
# partition, argpartition


def _check_kth(name, kth, n):
    kths = [kth] if isinstance(kth, (int, onp.integer)) else list(kth)
    for k in kths:
        k = I.static_int(name, "kth", k)
        if not -n <= k < n:
            raise ShapeError(f"{name}: kth(={k}) out of bounds ({n})")


def partition(a, kth, axis=-1, kind="introselect", order=None):
    """A copy of ``a`` with the ``kth`` element(s) in sorted position, smaller ones before
    and larger ones after (this implementation returns the full sort).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.partition(onp.array([3, 4, 2, 1]), 2)
    array([1, 2, 3, 4], dtype=int32)
    """
    _check_order("partition", order)
    a, ax = _flat_or_axis("partition", a, axis)
    _check_kth("partition", kth, I.shape(a)[ax])
    return sort(a, axis=ax)


def argpartition(a, kth, axis=-1, kind="introselect", order=None):
    """Indices that partition ``a`` around ``kth`` (this implementation: a stable argsort).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.argpartition(onp.array([3, 4, 2, 1]), 1)
    array([3, 2, 0, 1], dtype=int32)
    """
    _check_order("argpartition", order)
    a, ax = _flat_or_axis("argpartition", a, axis)
    _check_kth("argpartition", kth, I.shape(a)[ax])
    return argsort(a, axis=ax)
