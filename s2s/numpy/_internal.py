"""Private building blocks for the reduction, product, linear-algebra and sorting modules.

Small array helpers written directly on ``s2s.lax`` (promotion, broadcasting,
``where``, axis moves). They work on concrete arrays and on staged values alike.
Where ``s2s.numpy`` grows public versions of these (``asarray``, ``moveaxis``,
``where``...), callers may switch to them; these stay private.

>>> import numpy as onp
>>> where(onp.array([True, False]), 1.0, onp.zeros(2, onp.float32))
array([1., 0.], dtype=float32)
"""
import numpy as onp

from s2s import dtypes, lax
from s2s.errors import DtypeError, ShapeError
from s2s.lax.core import Tracer, abstractify
from s2s.lax.shapes import broadcast_shapes, canonicalize_axes, canonicalize_axis


def asarray(x):
    """``x`` as an array value: tracers and NumPy arrays pass, the rest become arrays."""
    if isinstance(x, (Tracer, onp.ndarray)):
        return x
    if isinstance(x, onp.generic):
        return onp.asarray(x)
    return onp.asarray(x, dtypes.dtype_of(x))


def aval(x):
    """The abstract value (shape, dtype, weak type) of ``x``."""
    return abstractify(x)


def shape(x):
    return abstractify(x).shape


def ndim(x):
    return abstractify(x).ndim


def dtype(x):
    return abstractify(x).dtype


def is_staged(*xs):
    """True when any of ``xs`` is a tracer (the code is being staged or transformed)."""
    return any(isinstance(x, Tracer) for x in xs)


def astype(x, dt):
    """``x`` converted to ``dt`` (no op when it already has it and is not weak)."""
    dt = onp.dtype(dt)
    a = abstractify(x)
    if a.dtype == dt and not a.weak_type and not dtypes.is_python_scalar(x):
        return x
    return lax.convert_element_type(x, new_dtype=dt)


def promote(*xs):
    """``xs`` converted to their common (NEP 50, canonical) dtype; returns (list, dtype)."""
    dt = dtypes.result_type(*xs)
    return [astype(x, dt) for x in xs], dt


def promote_inexact(name, *xs):
    """``xs`` converted to their common floating/complex dtype (integers -> default float)."""
    dt = dtypes.to_inexact_dtype(dtypes.result_type(*xs))
    return [astype(x, dt) for x in xs], dt


def check_linalg_dtype(name, dt):
    """``dt`` promoted for LAPACK: float32/64, complex64/128 (ints and bools -> float)."""
    dt = dtypes.to_inexact_dtype(dt)
    if dt not in (dtypes.float32, dtypes.float64, dtypes.complex64, dtypes.complex128):
        raise DtypeError(f"{name}: unsupported dtype {onp.dtype(dt).name}; linear algebra "
                         "works in float32, float64, complex64 and complex128 (cast first)")
    return dt


def broadcast_to(x, shp):
    """NumPy broadcasting of ``x`` to ``shp``."""
    shp = tuple(shp)
    s = shape(x)
    if s == shp and not dtypes.is_python_scalar(x):
        return x
    if len(s) > len(shp) or broadcast_shapes("broadcast_to", s, shp) != shp:
        raise ShapeError(f"broadcast_to: cannot broadcast a shape {s} array to shape {shp}")
    offset = len(shp) - len(s)
    keep = [i for i, d in enumerate(s) if d == shp[i + offset]]
    if len(keep) != len(s):
        x = lax.reshape(x, new_sizes=tuple(s[i] for i in keep))
    return lax.broadcast_in_dim(x, shape=shp, broadcast_dimensions=tuple(i + offset for i in keep))


def broadcast_arrays(name, *xs):
    """``xs`` broadcast to their common shape (a ``ShapeError`` naming ``name`` otherwise)."""
    shp = broadcast_shapes(name, *[shape(x) for x in xs])
    return [broadcast_to(x, shp) for x in xs]


def full(shp, value, dt):
    """An array of ``shp`` filled with ``value`` (a scalar, concrete or staged)."""
    v = astype(value, dt)
    return lax.broadcast_in_dim(v, shape=tuple(shp), broadcast_dimensions=())


def where(cond, x, y):
    """Elementwise ``x`` where ``cond`` else ``y``, broadcasting and promoting like NumPy."""
    (x, y), _ = promote(x, y)
    cond = astype(cond, dtypes.bool_)
    cond, x, y = broadcast_arrays("where", cond, x, y)
    return lax.select_n(cond, y, x)


def isnan(x):
    """Elementwise NaN test (all False for integers and bools)."""
    if dtypes.is_inexact(dtype(x)):
        return lax.ne(x, x)
    return full(shape(x), False, dtypes.bool_)


def conj(x):
    return lax.conj(x) if dtypes.is_complex(dtype(x)) else x


def real(x):
    return lax.real(x) if dtypes.is_complex(dtype(x)) else x


def abs2(x):
    """``|x|**2`` (real for complex ``x``)."""
    if dtypes.is_complex(dtype(x)):
        re, im = lax.real(x), lax.imag(x)
        return lax.add(lax.mul(re, re), lax.mul(im, im))
    return lax.mul(x, x)


def reshape(x, new_shape):
    new_shape = tuple(int(d) for d in new_shape)
    if shape(x) == new_shape:
        return x
    return lax.reshape(x, new_sizes=new_shape)


def ravel(x):
    return reshape(x, (abstractify(x).size,))


def moveaxis(x, source, destination):
    """``numpy.moveaxis`` for one axis or tuples of axes."""
    n = ndim(x)
    src = canonicalize_axes("moveaxis", _tuple(source), n)
    dst = canonicalize_axes("moveaxis", _tuple(destination), n)
    if len(src) != len(dst):
        raise ShapeError("moveaxis: source and destination must have the same number of axes")
    order = [i for i in range(n) if i not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def transpose(x, perm):
    perm = tuple(perm)
    if perm == tuple(range(len(perm))):
        return x
    return lax.transpose(x, permutation=perm)


def swap_last(x):
    """Swaps the last two axes (the matrix transpose of a batch of matrices)."""
    n = ndim(x)
    return transpose(x, tuple(range(n - 2)) + (n - 1, n - 2))


def expand(x, axes):
    axes = _tuple(axes)
    return lax.expand_dims(x, dimensions=axes) if axes else x


def _tuple(v):
    if isinstance(v, (tuple, list)):
        return tuple(int(i) for i in v)
    return (int(v),)


def reduction_axes(name, axis, n):
    """``axis`` (None, int, or tuple; negatives allowed) as a tuple of axes of an ``n``-d array."""
    if axis is None:
        return tuple(range(n))
    return canonicalize_axes(name, _tuple(axis), n)


def one_axis(name, axis, n):
    """A single non-negative axis (``ShapeError`` naming ``name`` when out of bounds)."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r}")
    return canonicalize_axis(name, axis, n)


def static_int(name, what, value):
    """A concrete Python int (a clear error when a staged value is given)."""
    if isinstance(value, Tracer):
        raise TypeError(f"{name}: {what} must be a concrete integer, not a staged value; pass "
                        "it as a Python int (or mark it static in jit)")
    return int(value)


def eye(n, m, dt, k=0):
    """The ``n x m`` identity-like matrix with ones on diagonal ``k``."""
    rows = lax.broadcasted_iota(dtype=dtypes.int32, shape=(n, m), dimension=0)
    cols = lax.broadcasted_iota(dtype=dtypes.int32, shape=(n, m), dimension=1)
    return astype(lax.eq(lax.add(rows, onp.int32(k)), cols), dt)


def tri_mask(n, m, k, lower):
    """Boolean ``n x m`` mask of the lower (``j <= i + k``) or upper (``j >= i + k``) triangle."""
    rows = lax.broadcasted_iota(dtype=dtypes.int32, shape=(n, m), dimension=0)
    cols = lax.broadcasted_iota(dtype=dtypes.int32, shape=(n, m), dimension=1)
    shifted = lax.add(rows, onp.int32(k))
    return lax.le(cols, shifted) if lower else lax.ge(cols, shifted)


def take_slice(x, axis, start, stop, step=1):
    """The static slice ``x[..., start:stop:step, ...]`` along ``axis``."""
    s = shape(x)
    starts = [0] * len(s)
    limits = list(s)
    strides = [1] * len(s)
    starts[axis], limits[axis], strides[axis] = start, stop, step
    return lax.slice(x, start_indices=tuple(starts), limit_indices=tuple(limits),
                     strides=tuple(strides))


def index_axis(x, axis, i):
    """``x[..., i, ...]`` along ``axis`` (static ``i``), dropping the axis."""
    return lax.squeeze(take_slice(x, axis, i, i + 1), dimensions=(axis,))


def concatenate(xs, axis):
    xs = list(xs)
    if len(xs) == 1:
        return xs[0]
    xs, _ = promote(*xs)
    return lax.concatenate(*xs, dimension=axis)


def stack(xs, axis=0):
    return concatenate([expand(x, axis) for x in xs], axis)
