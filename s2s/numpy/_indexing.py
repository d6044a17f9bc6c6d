"""Indexing: ``x[idx]`` on staged values, ``.at[idx]`` updates, take, nonzero and friends.

Index expressions follow NumPy exactly: integers, slices (any step), ``...``,
``None``, integer arrays and lists (broadcast together), boolean masks, and
NumPy's rule for where advanced-index dimensions go in the result (in place
when the advanced indices are adjacent, first otherwise). Staged indexing
lowers to ``slice``/``rev``/``dynamic_slice`` for basic indices and to one
``gather`` when arrays are involved; ``x.at[idx]`` updates to ``scatter``.

Out-of-bounds indices behave as in ``jax.numpy``, eagerly (on ``s2s.Array``) and
under ``jit`` alike, whether the index is a Python int, a concrete or a staged
array (``jit`` cannot check a run-time index, so neither does eager code):

- reads clamp them into range (``x.at[i].get(mode="fill", fill_value=...)``
  fills instead); ``take``/``take_along_axis`` fill with NaN (the integer
  minimum for integers) unless ``mode="clip"``/``"wrap"``, and ``mode="raise"``
  raises ``IndexError`` for concrete indices;
- ``x.at[i].set/add/...`` drop updates whose index is out of bounds
  (``mode="clip"`` clamps instead). Negative indices count from the end once.
- a boolean mask that is staged has a data-dependent result shape, which
  ``jit`` cannot compile: use ``where(mask, x, 0)``, or ``nonzero(mask, size=n)``.

>>> import s2s.numpy as np
>>> x = np.arange(6).reshape(2, 3)
>>> x.at[:, [0, 0]].add(1)              # repeated indices accumulate
array([[2, 1, 2],
       [5, 4, 5]], dtype=int32)
"""
import numpy as onp

from s2s import dtypes, lax
from s2s.array import Array
from s2s.errors import ConcretizationError, ShapeError
from s2s.lax.core import Tracer, d, def_vjp, def_zero_derivative
from s2s.lax.shapes import broadcast_shapes, canonicalize_axis
from s2s.lax.structural import broadcast_in_dim_p, iota_p
from s2s.numpy._arraylike import (as_operand, bind_on, canonical_dtype, cast, dtype_of,
                                  first_staged, is_staged, promote, shape_of, static_int,
                                  static_shape)

__all__ = [
    "take", "take_along_axis", "nonzero", "argwhere", "flatnonzero", "compress", "extract",
    "choose", "ix_", "indices", "unravel_index", "ravel_multi_index", "diag_indices",
    "tril_indices", "triu_indices",
]

_MASK_HINT = ("use np.where(mask, x, 0) to keep the shape, or np.nonzero(mask, size=n) "
              "(and fill_value=) for a static number of results")


# ---------------------------------------------------------------------------
# Parsing an index expression against a shape.


def _classify(item):
    """``(kind, value)`` for one element of an index tuple."""
    if item is None:
        return "none", None
    if item is Ellipsis:
        return "ellipsis", None
    if isinstance(item, slice):
        for part in (item.start, item.stop, item.step):
            if isinstance(part, Tracer):
                raise ConcretizationError(
                    "indexing: slice bounds must be static (Python ints); got a staged bound. "
                    "Use lax.dynamic_slice(x, starts, slice_sizes) for a run-time start")
        return "slice", item
    if isinstance(item, (bool, onp.bool_)):
        return "bool", bool(item)
    if isinstance(item, (int, onp.integer)):
        return "int", int(item)
    if isinstance(item, Tracer):
        return _classify_staged(item)
    if isinstance(item, (list, tuple)) and first_staged(item) is not None:
        return _classify_staged(asarray(item))
    return _classify_concrete(item)


def _classify_staged(item):
    if item.dtype == dtypes.bool_:
        raise ConcretizationError(f"indexing with a staged boolean mask ({item!r}) gives a "
                                  f"result whose shape depends on its values; {_MASK_HINT}")
    if not dtypes.is_integer(item.dtype):
        raise IndexError(_bad_index_message(item.dtype))
    return ("dyn", item) if item.ndim == 0 else ("array", item)


def _bad_index_message(dt):
    return ("only integers, slices (`:`), ellipsis (`...`), numpy.newaxis (`None`) and integer "
            f"or boolean arrays are valid indices, got an array of {onp.dtype(dt).name}")


def _classify_concrete(item):
    arr = onp.asarray(item)
    if arr.size == 0 and arr.dtype.kind == "f":  # x[[]]: an empty integer index
        arr = arr.astype(onp.intp)
    if arr.dtype == onp.bool_:
        return ("bool", bool(arr)) if arr.ndim == 0 else ("mask", arr)
    if arr.dtype.kind not in "iu":
        raise IndexError(_bad_index_message(arr.dtype))
    return ("int", int(arr)) if arr.ndim == 0 else ("array", arr)


def _consumed(kind, value):
    if kind in ("int", "dyn", "slice", "array"):
        return 1
    if kind == "mask":
        return value.ndim
    return 0


def _expand_ellipsis(items, ndim):
    ellipses = [i for i, (k, _) in enumerate(items) if k == "ellipsis"]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(_consumed(k, v) for k, v in items)
    if used > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {used} "
                         "were indexed")
    fill = [("slice", slice(None))] * (ndim - used)
    if not ellipses:
        return items + fill
    i = ellipses[0]
    return items[:i] + fill + items[i + 1:]


class _Index:
    """An index resolved against a shape: size-1 axes to insert, then one entry per axis.

    Entries: ``("slice", (start, stop, step))``, ``("int", i)`` (static),
    ``("dyn", t)`` (a staged 0-d integer) or ``("array", a)`` (integer array).
    """

    __slots__ = ("new_axes", "entries", "shape")

    def __init__(self, shape, idx):
        items = [_classify(it) for it in (idx if isinstance(idx, tuple) else (idx,))]
        items = _expand_ellipsis(items, len(shape))
        self.new_axes, self.entries, shp = [], [], []
        axis = 0
        for kind, value in items:
            if kind in ("none", "bool"):
                self.new_axes.append(len(self.entries))
                entry = ("slice", (0, 1, 1)) if kind == "none" else \
                    ("array", onp.zeros(int(value), onp.intp))
                self.entries.append(entry)
                shp.append(1)
            elif kind == "mask":
                self._add_mask(value, shape, axis, shp)
                axis += value.ndim
            else:
                n = shape[axis]
                self.entries.append(("slice", value.indices(n)) if kind == "slice"
                                    else (kind, value))
                shp.append(n)
                axis += 1
        self.shape = tuple(shp)

    def _add_mask(self, mask, shape, axis, shp):
        for i, (m, n) in enumerate(zip(mask.shape, shape[axis:axis + mask.ndim])):
            if m != n:
                raise IndexError(f"boolean index did not match indexed array along axis "
                                 f"{axis + i}; size of axis is {n} but size of corresponding "
                                 f"boolean axis is {m}")
        for i, positions in enumerate(onp.nonzero(mask)):
            self.entries.append(("array", positions))
            shp.append(shape[axis + i])

    @property
    def has_arrays(self):
        return any(kind == "array" for kind, _ in self.entries)


# ---------------------------------------------------------------------------
# Reading: x[idx].


def _check_int(i, n, axis):
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of bounds for axis {axis} with size {n}")
    return i + n if i < 0 else i


def _check_array(a, n, axis):
    if a.size and (a.min() < -n or a.max() >= n):
        bad = a[(a < -n) | (a >= n)].ravel()[0]
        raise IndexError(f"index {bad} is out of bounds for axis {axis} with size {n}")


def _normalize(a, n):
    """Negative indices count from the end (once); concrete or staged."""
    if isinstance(a, (int, onp.integer)):
        return a + n if a < 0 else a
    if isinstance(a, onp.ndarray):
        return onp.where(a < 0, a + n, a) if a.dtype.kind == "i" else a
    if dtypes.dtype_of(a).kind == "u":
        return a
    return where(lax.lt(a, 0), lax.add(a, cast(n, a.dtype)), a)


def _apply_slices(x, index, keep):
    """Static slices (any step) on ``x``; axes in ``keep`` are left whole."""
    shape = index.shape
    start, limit, stride, flip = [], [], [], []
    for axis, (kind, value) in enumerate(index.entries):
        if kind != "slice" or axis in keep:
            start.append(0), limit.append(shape[axis]), stride.append(1)
            continue
        lo, hi, step = value
        m = len(range(lo, hi, step))
        if m == 0:
            lo, hi, step = 0, 0, 1
        elif step < 0:
            lo, hi, step = lo + (m - 1) * step, lo + 1, -step
            flip.append(axis)
        start.append(lo), limit.append(hi), stride.append(step)
    if start != [0] * len(shape) or limit != list(shape) or any(s != 1 for s in stride):
        x = lax.slice(x, start_indices=start, limit_indices=limit, strides=stride)
    if flip:
        x = lax.rev(x, dimensions=flip)
    return x


def _basic(x, index, check_bounds):
    """``x[idx]`` for ints, slices and staged scalar ints: slice, rev, dynamic_slice."""
    ints = {a: v for a, (k, v) in enumerate(index.entries) if k == "int"}
    dyn = {a: v for a, (k, v) in enumerate(index.entries) if k == "dyn"}
    for a, i in ints.items():
        n = index.shape[a]
        ints[a] = _check_int(i, n, a) if check_bounds else min(max(_normalize(i, n), 0), n - 1)
    x = _apply_slices(x, index, keep=set(dyn))
    shape = shape_of(x)
    if ints:
        start = [ints.get(a, 0) for a in range(len(shape))]
        limit = [ints[a] + 1 if a in ints else d for a, d in enumerate(shape)]
        x = lax.slice(x, start_indices=start, limit_indices=limit)
    if dyn:
        starts = [_normalize(dyn[a], shape[a]) if a in dyn else 0 for a in range(len(shape))]
        sizes = [1 if a in dyn else d for a, d in enumerate(shape_of(x))]
        x = lax.dynamic_slice(x, starts, sizes)
    dropped = tuple(sorted(set(ints) | set(dyn)))
    return lax.squeeze(x, dimensions=dropped) if dropped else x


def _index_dtype(arrays, shape):
    wide = any(dtype_of(a).itemsize == 8 for a in arrays) and dtypes.x64_enabled()
    big = any(d >= 2 ** 31 for d in shape)
    return dtypes.int64 if (wide or big) else dtypes.int32


def _advanced_arrays(index, check_bounds):
    """(axis, normalized index array) for each int, staged int and array entry."""
    out = []
    for axis, (kind, value) in enumerate(index.entries):
        if kind == "slice":
            continue
        n = index.shape[axis]
        if check_bounds and kind == "int":
            _check_int(value, n, axis)
        if check_bounds and kind == "array" and isinstance(value, onp.ndarray):
            _check_array(value, n, axis)
        out.append((axis, _normalize(value, n)))
    return out


def _broadcast_index(arrays):
    shapes = [tuple(shape_of(a)) for a in arrays]
    try:
        return broadcast_shapes("indexing", *shapes)
    except ShapeError:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together with "
                         "shapes " + " ".join(map(str, shapes))) from None


def _stack_indices(arrays, batch, dt):
    """The gather indices: ``arrays`` broadcast to ``batch`` and stacked on a last axis."""
    ref = first_staged(*arrays)
    if ref is None:
        cols = [onp.broadcast_to(onp.asarray(a), batch).astype(dt) for a in arrays]
        return onp.stack(cols, axis=-1)
    cols = []
    for a in arrays:
        a = cast(a, dt)
        s = tuple(shape_of(a))
        a = lax.reshape(a, new_sizes=s + (1,))
        dims = tuple(range(len(batch) - len(s), len(batch) + 1))
        cols.append(bind_on(ref, broadcast_in_dim_p, a, shape=batch + (1,),
                            broadcast_dimensions=dims))
    return lax.concatenate(*cols, dimension=len(batch))


def _advanced(x, index, mode, fill_value, check_bounds):
    """``x[idx]`` with integer arrays: static slices first, then one gather."""
    x = _apply_slices(x, index, keep=set())
    shape = shape_of(x)
    adv = _advanced_arrays(index, check_bounds)
    axes = [a for a, _ in adv]
    arrays = [v for _, v in adv]
    batch = _broadcast_index(arrays)
    idx = _stack_indices(arrays, batch, _index_dtype(arrays, shape))
    rest = [a for a in range(len(shape)) if a not in axes]
    contiguous = axes == list(range(axes[0], axes[0] + len(axes)))
    p = axes[0] if contiguous else 0
    nb = len(batch)
    offset_dims = tuple(range(p)) + tuple(range(p + nb, nb + len(rest)))
    dn = lax.GatherDimensionNumbers(offset_dims=offset_dims, collapsed_slice_dims=tuple(
        sorted(axes)), start_index_map=tuple(axes))
    sizes = tuple(1 if a in axes else d for a, d in enumerate(shape))
    return lax.gather(x, idx, dimension_numbers=dn, slice_sizes=sizes, mode=mode,
                      fill_value=fill_value)


def gather_index(x, idx, *, mode=None, fill_value=None, check_bounds=False, all_advanced=False):
    """``x[idx]`` written on lax (stages when ``x`` or ``idx`` is staged).

    ``mode``: out-of-bounds policy for staged indices (default: clamp);
    ``all_advanced`` treats integers as index arrays so ``mode`` applies to them too.
    """
    x = as_operand(x)
    index = _Index(shape_of(x), idx)
    if index.new_axes:
        x = lax.expand_dims(x, dimensions=tuple(index.new_axes))
    if not index.entries:
        return x
    if index.has_arrays or (all_advanced and any(k != "slice" for k, _ in index.entries)):
        return _advanced(x, index, mode or "promise_in_bounds", fill_value, check_bounds)
    return _basic(x, index, check_bounds)


def getitem(x, idx):
    """``x[idx]`` for a staged ``x`` (or any array with a staged index)."""
    return gather_index(x, idx)


def clamped_getitem(x, idx):
    """``x[idx]`` for an eager ``x`` whose integer index is out of bounds: clamped, as
    under jit (``Array.__getitem__`` calls it where NumPy raised IndexError)."""
    return gather_index(x, idx)


# ---------------------------------------------------------------------------
# Updating: x.at[idx].set(values) and friends.

_NUMPY_AT = {"add": onp.add, "multiply": onp.multiply, "min": onp.minimum, "max": onp.maximum}
_SCATTER = {"set": lax.scatter, "add": lax.scatter_add, "multiply": lax.scatter_mul,
            "min": lax.scatter_min, "max": lax.scatter_max}
_MODES = (None, "drop", "fill", "clip", "promise_in_bounds")


def _check_mode(mode):
    if mode not in _MODES and getattr(mode, "name", None) is None:
        raise ValueError(f"at[...]: unknown mode {mode!r}; use None, 'drop', 'fill', 'clip' or "
                         "'promise_in_bounds'")


def _index_is_static(idx):
    return first_staged(*(idx if isinstance(idx, tuple) else (idx,))) is None


def _numpy_update(x, idx, values, op):
    """The eager update with NumPy (``numpy.<ufunc>.at`` accumulates repeated indices)."""
    out = onp.array(x, copy=True)
    vals = onp.asarray(values)
    if vals.dtype != out.dtype:
        vals = onp.asarray(lax.convert_element_type(vals, new_dtype=out.dtype))
    if op == "set":
        out[idx] = vals
    else:
        _NUMPY_AT[op].at(out, idx, vals)
    return out.view(Array)


def _broadcast_values(name, values, shape):
    vshape = tuple(shape_of(values))
    while len(vshape) > len(shape) and vshape[0] == 1:
        vshape = vshape[1:]
    if len(vshape) > len(shape) or any(v not in (1, t) for v, t in zip(vshape[::-1], shape[::-1])):
        raise ShapeError(f"{name}: values of shape {tuple(shape_of(values))} cannot be broadcast "
                         f"to the indexed shape {tuple(shape)}")
    if vshape != tuple(shape_of(values)):
        values = reshape(values, vshape)
    return broadcast_to(values, shape)


def _lax_update(x, idx, values, op, mode, indices_are_sorted, unique_indices):
    """The update as one scatter into the flattened ``x`` at the flat positions of ``x[idx]``."""
    shape = tuple(shape_of(x))
    n = 1
    for dim in shape:
        n *= dim
    dt = dtypes.int64 if n >= 2 ** 31 else dtypes.int32
    ref = first_staged(x, values, *(idx if isinstance(idx, tuple) else (idx,)))
    ids = reshape(bind_on(ref, iota_p, dtype=dt, shape=(n,), dimension=0), shape)
    clip = mode == "clip" or getattr(mode, "name", None) == "CLIP"
    positions = gather_index(ids, idx, mode="clip" if clip else "fill", fill_value=-1,
                             check_bounds=False, all_advanced=True)
    pshape = tuple(shape_of(positions))
    values = _broadcast_values(f"at[...].{op}", cast(values, dtype_of(x)), pshape)
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    flat = _SCATTER[op](reshape(x, (n,)), reshape(positions, pshape + (1,)), values,
                        dimension_numbers=dn, mode="clip" if clip else "drop",
                        indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
    return reshape(flat, shape)


def _scatter(x, idx, values, op, mode, indices_are_sorted=False, unique_indices=False):
    _check_mode(mode)
    x = asarray(x)
    if mode in (None, "drop", "fill", "promise_in_bounds") and not is_staged(x) \
            and not is_staged(values) and _index_is_static(idx):
        try:
            return _numpy_update(x, idx, values, op)
        except (IndexError, ValueError):
            pass  # out of bounds, or values to broadcast: the general path decides
    return _lax_update(x, idx, values, op, mode, indices_are_sorted, unique_indices)


def index_update(x, idx, values, op, *, mode=None, indices_are_sorted=False,
                 unique_indices=False):
    """``x.at[idx].<op>(values)``: a new array (see ``s2s.array`` for the semantics).

    >>> import s2s.numpy as np
    >>> index_update(np.zeros(3), 0, 5.0, "set")
    array([5., 0., 0.], dtype=float32)
    """
    kw = dict(mode=mode, indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)
    if op == "subtract":
        return _scatter(x, idx, negative(as_operand(values)), "add", **kw)
    if op in ("divide", "power"):
        factors = _scatter(ones_like(x), idx, values, "multiply", **kw)
        return true_divide(x, factors) if op == "divide" else power(x, factors)
    return _scatter(x, idx, values, op, **kw)


def index_get(x, idx, *, mode=None, fill_value=None, indices_are_sorted=False,
              unique_indices=False):
    """``x.at[idx].get(...)``: ``x[idx]``; ``mode="fill"`` gives ``fill_value`` out of bounds.

    >>> import s2s.numpy as np
    >>> index_get(np.arange(3.0), np.array([0, 5]), mode="fill", fill_value=-1.0)
    array([ 0., -1.], dtype=float32)
    """
    _check_mode(mode)
    if mode is None and not is_staged(x) and _index_is_static(idx):
        try:
            out = onp.asarray(as_operand(x))[idx]
            return onp.asarray(out).view(Array)
        except IndexError:
            pass  # out of bounds: clamp like the staged read
    return gather_index(x, idx, mode=mode, fill_value=fill_value, check_bounds=False,
                        all_advanced=True)


def index_apply(x, idx, func, *, mode=None, indices_are_sorted=False, unique_indices=False):
    """``x.at[idx].apply(func)``: ``x[idx] = func(x[idx])``.

    >>> import s2s.numpy as np
    >>> index_apply(np.arange(3.0), 1, np.negative)
    array([ 0., -1.,  2.], dtype=float32)
    """
    current = index_get(x, idx, mode="clip" if mode == "clip" else None)
    return index_update(x, idx, func(current), "set", mode=mode,
                        indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)


# ---------------------------------------------------------------------------
# take, take_along_axis.


def _take_mode(name, indices, n, mode):
    """Indices and gather mode for NumPy/JAX's ``mode`` (raise, wrap, clip, fill)."""
    if mode == "wrap":
        return (onp.remainder(indices, n) if isinstance(indices, onp.ndarray)
                else remainder(indices, n)), "clip", False
    if mode == "clip":  # as NumPy and JAX: negative indices clip to 0, not from the end
        return (onp.clip(indices, 0, n - 1) if isinstance(indices, onp.ndarray)
                else clip(indices, 0, n - 1)), "clip", False
    if mode in (None, "raise", "fill"):
        if mode == "raise" and is_staged(indices):
            raise ConcretizationError(f"{name}: mode='raise' needs concrete indices; use "
                                      "mode='fill', 'clip' or 'wrap' under jit")
        return indices, "fill", mode == "raise"
    raise ValueError(f"{name}: unknown mode {mode!r}; use 'raise', 'wrap', 'clip' or 'fill'")


def _as_index_array(indices):
    if isinstance(indices, Tracer):
        return indices
    if isinstance(indices, (list, tuple)) and first_staged(indices) is not None:
        return asarray(indices)
    arr = onp.asarray(indices)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(onp.intp)
    return arr


def take(a, indices, axis=None, out=None, mode=None, unique_indices=False,
         indices_are_sorted=False, fill_value=None):
    """Elements of ``a`` at ``indices`` along ``axis`` (of the flattened ``a`` when None).

    Out-of-bounds indices give ``fill_value`` (NaN, or the integer minimum) as in
    ``jax.numpy``, eagerly and under jit; ``mode="raise"`` raises ``IndexError`` for
    concrete ones, ``"clip"``/``"wrap"`` bring them into range.

    >>> import s2s.numpy as np
    >>> np.take(np.array([[1, 2], [3, 4]]), [1, 0], axis=1)
    array([[2, 1],
           [4, 3]], dtype=int32)
    """
    if out is not None:
        raise NotImplementedError("take: the out= argument is not supported; use the result")
    a = as_operand(a)
    if axis is None:
        a, axis = ravel(a), 0
    shape = shape_of(a)
    axis = canonicalize_axis("take", static_int("take", "axis", axis), len(shape))
    indices = _as_index_array(indices)
    if dtype_of(indices).kind not in "iu":
        raise IndexError(f"take: indices must be integers, got {dtype_of(indices).name}")
    indices, gmode, check = _take_mode("take", indices, shape[axis], mode)
    if check and isinstance(indices, onp.ndarray):
        _check_array(indices, shape[axis], axis)
    idx = (slice(None),) * axis + (indices,)
    return gather_index(a, idx, mode=gmode, fill_value=fill_value, check_bounds=False,
                        all_advanced=True)


def take_along_axis(arr, indices, axis, mode=None, fill_value=None):
    """Values of ``arr`` at ``indices`` along ``axis``, matched elementwise elsewhere.

    >>> import s2s.numpy as np
    >>> x = np.array([[10, 30, 20]])
    >>> np.take_along_axis(x, np.array([[0, 2, 1]]), axis=1)
    array([[10, 20, 30]], dtype=int32)
    """
    arr = as_operand(arr)
    indices = _as_index_array(indices)
    if axis is None:
        arr, axis = ravel(arr), 0
        if len(shape_of(indices)) != 1:
            raise ShapeError("take_along_axis: indices must be 1-d when axis is None, got shape "
                             f"{tuple(shape_of(indices))}")
    shape, ishape = tuple(shape_of(arr)), tuple(shape_of(indices))
    if len(shape) != len(ishape):
        raise ShapeError(f"take_along_axis: indices (shape {ishape}) and arr (shape {shape}) "
                         "must have the same number of dimensions")
    axis = canonicalize_axis("take_along_axis", static_int("take_along_axis", "axis", axis),
                             len(shape))
    if dtype_of(indices).kind not in "iu":
        raise IndexError(f"take_along_axis: indices must be integers, got "
                         f"{dtype_of(indices).name}")
    indices, gmode, check = _take_mode("take_along_axis", indices, shape[axis], mode)
    if check and isinstance(indices, onp.ndarray):
        _check_array(indices, shape[axis], axis)
    idx = tuple(indices if d == axis else
                onp.arange(n).reshape([-1 if j == d else 1 for j in range(len(shape))])
                for d, n in enumerate(shape))
    return gather_index(arr, idx, mode=gmode, fill_value=fill_value, check_bounds=False,
                        all_advanced=True)


# ---------------------------------------------------------------------------
# nonzero and friends: eager, or staged with a static size=.


def _nonzero_size(name, size):
    return None if size is None else static_int(name, "size", size)


def _pad_to(positions, size, fill_value, dt):
    """Truncates or pads (with ``fill_value``) each index array to ``size`` entries."""
    fills = onp.broadcast_to(onp.asarray(0 if fill_value is None else fill_value),
                             (len(positions),))
    out = []
    for p, f in zip(positions, fills):
        p = p[:size]
        if len(p) < size:
            p = onp.concatenate([p, onp.full(size - len(p), f, p.dtype)])
        out.append(onp.asarray(p, dt).view(Array))
    return tuple(out)


def _nonzero_staged(a, size, fill_value, dt):
    """Flat positions of the first ``size`` nonzeros via one scatter, then unraveled."""
    shape = tuple(shape_of(a))
    flat = ravel(lax.ne(a, cast(0, dtype_of(a))))
    n = shape_of(flat)[0]
    counts = lax.cumsum(lax.convert_element_type(flat, new_dtype=dt), axis=0)
    slot = lax.select_n(flat, onp.full((n,), size, dt), lax.sub(counts, cast(1, dt)))
    marker = onp.full((size,), -1, dt)
    ids = bind_on(a, iota_p, dtype=dt, shape=(n,), dimension=0) if n else onp.zeros((0,), dt)
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    found = lax.scatter(marker, lax.reshape(slot, new_sizes=(n, 1)), ids, dimension_numbers=dn,
                        mode="drop")
    valid = lax.ge(found, cast(0, dt))
    fills = onp.broadcast_to(onp.asarray(0 if fill_value is None else fill_value), (len(shape),))
    out, rest = [], lax.max(found, cast(0, dt))
    strides = [int(onp.prod(shape[i + 1:], dtype=onp.int64)) for i in range(len(shape))]
    for axis, stride in enumerate(strides):
        coord = lax.div(rest, cast(stride, dt))
        rest = lax.sub(rest, lax.mul(coord, cast(stride, dt)))
        out.append(lax.select_n(valid, onp.full((size,), fills[axis], dt), coord))
    return tuple(out)


def nonzero(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements, one array per dimension.

    Under ``jit`` pass a static ``size``: the first ``size`` results are kept and the
    rest padded with ``fill_value`` (default 0).

    >>> import s2s.numpy as np
    >>> np.nonzero(np.array([0, 3, 0, 4]))
    (array([1, 3], dtype=int32),)
    >>> np.nonzero(np.array([0, 3, 0, 4]), size=3, fill_value=-1)
    (array([ 1,  3, -1], dtype=int32),)
    """
    a = as_operand(a)
    size = _nonzero_size("nonzero", size)
    dt = dtypes.default_int_dtype()
    if len(shape_of(a)) == 0:
        raise ShapeError("nonzero: calling nonzero on 0-d arrays is not allowed; use "
                         "np.atleast_1d(x).nonzero() instead")
    if is_staged(a):
        if size is None:
            raise ConcretizationError("nonzero: the number of nonzero elements of a staged "
                                      "array is not known at compile time; pass a static "
                                      "size=... (and fill_value=...) to use it under jit")
        return _nonzero_staged(a, size, fill_value, dt)
    positions = onp.nonzero(onp.asarray(a))
    if size is None:
        return tuple(onp.asarray(p, dt).view(Array) for p in positions)
    return _pad_to(positions, size, fill_value, dt)


def argwhere(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements, one row per element (shape ``(N, a.ndim)``).

    >>> import s2s.numpy as np
    >>> np.argwhere(np.array([[0, 1], [1, 0]]))
    array([[0, 1],
           [1, 0]], dtype=int32)
    """
    return stack(nonzero(atleast_1d(a), size=size, fill_value=fill_value), axis=-1)


def flatnonzero(a, *, size=None, fill_value=None):
    """Indices of the nonzero elements of the flattened array.

    >>> import s2s.numpy as np
    >>> np.flatnonzero(np.array([[0, 1], [1, 0]]))
    array([1, 2], dtype=int32)
    """
    return nonzero(ravel(a), size=size, fill_value=fill_value)[0]


def compress(condition, a, axis=None, *, size=None, fill_value=0):
    """The slices of ``a`` along ``axis`` where ``condition`` is true.

    >>> import s2s.numpy as np
    >>> np.compress([True, False, True], np.array([1, 2, 3]))
    array([1, 3], dtype=int32)
    """
    a = as_operand(a)
    if axis is None:
        a, axis = ravel(a), 0
    condition = ravel(as_operand(condition))
    n = shape_of(a)[canonicalize_axis("compress", axis, len(shape_of(a)))]
    m = shape_of(condition)[0]
    if m > n:
        raise ShapeError(f"compress: condition of length {m} is longer than axis {axis} of "
                         f"size {n}")
    picked = flatnonzero(condition, size=size, fill_value=n)
    return take(a, picked, axis=axis, mode="fill", fill_value=fill_value)


def extract(condition, arr, *, size=None, fill_value=0):
    """The elements of ``arr`` where ``condition`` is true (both flattened).

    >>> import s2s.numpy as np
    >>> np.extract(np.array([1, 0, 1]), np.array([4, 5, 6]))
    array([4, 6], dtype=int32)
    """
    return compress(ravel(condition), ravel(arr), size=size, fill_value=fill_value)


def choose(a, choices, out=None, mode="raise"):
    """Elementwise ``choices[a]`` (``mode``: raise, wrap or clip).

    >>> import s2s.numpy as np
    >>> np.choose(np.array([0, 1, 0]), [np.array([1, 2, 3]), np.array([10, 20, 30])])
    array([ 1, 20,  3], dtype=int32)
    """
    if out is not None:
        raise NotImplementedError("choose: the out= argument is not supported; use the result")
    a = as_operand(a)
    n = len(choices)
    if mode == "raise":
        if is_staged(a):
            raise ConcretizationError("choose: mode='raise' needs a concrete index array; use "
                                      "mode='wrap' or 'clip' under jit")
        _check_array(onp.asarray(a), n, 0)
    elif mode == "wrap":
        a = remainder(a, n)
    elif mode != "clip":
        raise ValueError(f"choose: unknown mode {mode!r}; use 'raise', 'wrap' or 'clip'")
    cases = broadcast_arrays(clip(a, 0, n - 1), *[asarray(c) for c in choices])
    which, cases = cases[0], cases[1:]
    cases, _ = promote(*cases)
    return lax.select_n(cast(which, dtypes.int32), *cases)


# ---------------------------------------------------------------------------
# Index construction helpers (static).


def ix_(*args):
    """Open mesh index arrays: ``x[ix_(rows, cols)]`` selects the sub-matrix.

    >>> import s2s.numpy as np
    >>> [a.shape for a in np.ix_([0, 1], [2, 3, 4])]
    [(2, 1), (1, 3)]
    """
    n = len(args)
    out = []
    for i, a in enumerate(args):
        a = asarray(a)
        if len(shape_of(a)) != 1:
            raise ShapeError(f"ix_: cross index must be 1-d, got shape {tuple(shape_of(a))}")
        if dtype_of(a) == dtypes.bool_:
            a = nonzero(a)[0]
        out.append(reshape(a, tuple(-1 if j == i else 1 for j in range(n))))
    return tuple(out)


def indices(dimensions, dtype=None, sparse=False):
    """An array of index grids, one per dimension of ``dimensions``.

    >>> import s2s.numpy as np
    >>> np.indices((2, 3)).shape
    (2, 2, 3)
    """
    dims = static_shape("indices", dimensions)
    dt = canonical_dtype("indices", dtype, dtypes.default_int_dtype())
    grids = onp.indices(dims, dtype=dt, sparse=sparse)
    if sparse:
        return tuple(onp.asarray(g).view(Array) for g in grids)
    return onp.asarray(grids).view(Array)


def unravel_index(indices, shape):
    """Flat indices to a tuple of coordinate arrays for ``shape`` (row-major).

    >>> import s2s.numpy as np
    >>> np.unravel_index(np.array([5, 1]), (2, 3))
    (array([1, 0], dtype=int32), array([2, 1], dtype=int32))
    """
    shape = static_shape("unravel_index", shape)
    idx = as_operand(indices)
    out = []
    for dim in reversed(shape):
        out.append(remainder(idx, dim))
        idx = floor_divide(idx, dim)
    return tuple(reversed(out))


def ravel_multi_index(multi_index, dims, mode="raise", order="C"):
    """Coordinate arrays to flat indices for ``dims`` (``mode``: raise, wrap or clip).

    >>> import s2s.numpy as np
    >>> np.ravel_multi_index((np.array([1, 0]), np.array([2, 1])), (2, 3))
    array([5, 1], dtype=int32)
    """
    if order != "C":
        raise NotImplementedError("ravel_multi_index: only order='C' is supported")
    dims = static_shape("ravel_multi_index", dims)
    if len(multi_index) != len(dims):
        raise ShapeError(f"ravel_multi_index: got {len(multi_index)} index arrays for "
                         f"{len(dims)} dimensions")
    total = None
    for idx, dim in zip(multi_index, dims):
        idx = as_operand(idx)
        if mode == "raise":
            _check_coordinates(idx, dim)
        elif mode == "wrap":
            idx = remainder(idx, dim)
        elif mode == "clip":
            idx = clip(idx, 0, dim - 1)
        total = idx if total is None else lax.add(lax.mul(total, dim), idx)
    return asarray(total)


def _check_coordinates(idx, d):
    if is_staged(idx):
        raise ConcretizationError("ravel_multi_index: mode='raise' needs concrete indices; use "
                                  "mode='wrap' or 'clip' under jit")
    arr = onp.asarray(idx)
    if (arr < 0).any() or (arr >= d).any():
        raise ValueError("ravel_multi_index: invalid entry in coordinates array")


def diag_indices(n, ndim=2):
    """Indices of the main diagonal of an ``n`` x ... x ``n`` array.

    >>> import s2s.numpy as np
    >>> np.diag_indices(2)
    (array([0, 1], dtype=int32), array([0, 1], dtype=int32))
    """
    idx = onp.arange(static_int("diag_indices", "n", n), dtype=dtypes.default_int_dtype())
    return (idx.view(Array),) * static_int("diag_indices", "ndim", ndim)


def _tri_indices(name, n, k, m, upper):
    n = static_int(name, "n", n)
    m = n if m is None else static_int(name, "m", m)
    k = static_int(name, "k", k)
    fn = onp.triu_indices if upper else onp.tril_indices
    return tuple(onp.asarray(i, dtypes.default_int_dtype()).view(Array) for i in fn(n, k, m))


def tril_indices(n, k=0, m=None):
    """Indices of the lower triangle (at and below diagonal ``k``) of an ``n`` x ``m`` array.

    >>> import s2s.numpy as np
    >>> np.tril_indices(2)
    (array([0, 1, 1], dtype=int32), array([0, 0, 1], dtype=int32))
    """
    return _tri_indices("tril_indices", n, k, m, upper=False)


def triu_indices(n, k=0, m=None):
    """Indices of the upper triangle (at and above diagonal ``k``) of an ``n`` x ``m`` array.

    >>> import s2s.numpy as np
    >>> np.triu_indices(2)
    (array([0, 0, 1], dtype=int32), array([0, 1, 1], dtype=int32))
    """
    return _tri_indices("triu_indices", n, k, m, upper=True)


# ---------------------------------------------------------------------------
# Derivative templates (reverse mode). ``np`` is bound by the transformation.

np = None

def_zero_derivative(nonzero, argwhere, flatnonzero, ix_, indices, unravel_index,
                    ravel_multi_index, diag_indices, tril_indices, triu_indices)


@def_vjp(take)
def _take_vjp(ans, a, indices, axis=None, out=None, mode=None, unique_indices=False,
              indices_are_sorted=False, fill_value=None):
    d[a] = np.reshape(np.zeros_like(a).at[(slice(None),) * (axis % np.ndim(a)) + (indices,)].add(
        d[ans]) if isinstance(axis, int) else np.ravel(np.zeros_like(a)).at[indices].add(d[ans]),
        np.shape(a))


# Imported last: these modules import this one (their functions are looked up at call time).
from s2s.numpy._creation import asarray, ones_like  # noqa: E402
from s2s.numpy._shape import (atleast_1d, broadcast_arrays, broadcast_to, ravel,  # noqa: E402
                              reshape, stack)
from s2s.numpy._ufuncs import (clip, floor_divide, negative, power, remainder,  # noqa: E402
                               true_divide, where)
