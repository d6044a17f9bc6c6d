"""Array creation: array, asarray, zeros, ones, full, arange, linspace, eye, tri...

Creation from static arguments (shapes, Python numbers) runs NumPy directly and
returns an ``Array``; dtypes follow ``jax.numpy`` (float32/int32 defaults unless
64-bit mode is on). Functions that take array operands (``full_like`` of a
staged value, ``tril``, ``diag``, lists holding arrays) are written on
``s2s.lax``, so they stage under ``jit`` and transformations see through them.
``*_like`` of a staged value stages a broadcast scalar, never a large constant.
"""
import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.array import Array, as_array
from s2s.core.errors import ConcretizationError, ShapeError
from s2s.core.primitive import Tracer, d, def_jvp, def_vjp, def_zero_derivative
from s2s.numpy._arraylike import (any_staged, canonical_dtype, cast, dtype_of, is_staged,
                                  shape_of, static_int, static_shape, to_dtype)

__all__ = [
    "array", "asarray", "asanyarray", "astype", "copy", "zeros", "ones", "empty", "full", "zeros_like",
    "ones_like", "empty_like", "full_like", "arange", "linspace", "logspace", "geomspace", "eye",
    "identity", "meshgrid", "diag", "diagflat", "tri", "tril", "triu",
]

_PY_SCALARS = (bool, int, float, complex)


def _check_order(name, order):
    if order not in (None, "C", "K", "A"):
        raise NotImplementedError(f"{name}: only C (row-major) order is supported, got "
                                  f"order={order!r}")


def _contains_array(seq):
    """True when a (nested) list holds a staged value or an array (stacked with lax)."""
    for item in seq:
        if isinstance(item, (Tracer, onp.ndarray)):
            return True
        if isinstance(item, (list, tuple)) and _contains_array(item):
            return True
    return False


def _leaves(seq, out):
    for item in seq:
        if isinstance(item, (list, tuple)):
            _leaves(item, out)
        else:
            out.append(item)
    return out


def _stack_nested(name, seq, dt):
    """A (nested) list of arrays and scalars stacked into one array with lax."""
    parts = [_stack_nested(name, item, dt) if isinstance(item, (list, tuple))
             else to_dtype(item, dt) for item in seq]
    if not parts:
        return as_array(onp.zeros((0,), dt))
    shapes = {shape_of(p) for p in parts}
    if len(shapes) != 1:
        raise ShapeError(f"{name}: cannot build an array from a list of elements with different "
                         f"shapes {sorted(shapes, key=len)} (the list is ragged)")
    rows = [lax.expand_dims(p, dimensions=(0,)) for p in parts]
    return lax.concatenate(*rows, dimension=0)


def _from_sequence(name, seq, dt):
    if _contains_array(seq):
        leaves = _leaves(seq, [])
        target = dt if dt is not None else dtypes.result_type(*leaves)
        return _stack_nested(name, seq, target)
    try:
        arr = onp.asarray(seq) if dt is None else onp.asarray(seq, dt)
    except ValueError as e:
        raise ShapeError(f"{name}: {e}") from None
    return _from_ndarray(name, arr, dt, copy=False)


def _from_ndarray(name, arr, dt, copy):
    if arr.dtype == object or arr.dtype.kind in "SUMm":
        raise TypeError(f"{name}: arrays of {arr.dtype} are not supported; s2s arrays hold "
                        "booleans and numbers")
    target = dt if dt is not None else dtypes.canonicalize_dtype(arr.dtype)
    if arr.dtype != target:
        return lax.convert_element_type(arr, new_dtype=target)
    if copy:
        return arr.copy().view(Array)
    return as_array(arr)


def asarray(a, dtype=None, order=None, *, copy=None):
    """Converts ``a`` (scalars, lists, arrays, staged values) to an array.

    Lists that hold staged values are stacked into a staged array.

    >>> import s2s.numpy as np
    >>> np.asarray([1, 2, 3])
    array([1, 2, 3], dtype=int32)
    >>> np.asarray(1.5, dtype=np.float16)
    array(1.5, dtype=float16)
    """
    _check_order("asarray", order)
    dt = canonical_dtype("asarray", dtype)
    if isinstance(a, Tracer):
        return a if dt is None or a.dtype == dt else lax.convert_element_type(a, new_dtype=dt)
    if isinstance(a, onp.ndarray):
        return _from_ndarray("asarray", a, dt, bool(copy))
    if type(a) in _PY_SCALARS:
        return onp.asarray(a, dt if dt is not None else dtypes.python_scalar_dtype(a)).view(Array)
    if isinstance(a, (list, tuple)):
        return _from_sequence("asarray", a, dt)
    return _from_ndarray("asarray", onp.asarray(a), dt, False)


def astype(x, dtype, /, *, copy=True, device=None):
    """``x`` converted to ``dtype`` (float to int truncates toward zero, as XLA does).

    >>> import s2s.numpy as np
    >>> np.astype(np.array([1.7, -1.7]), np.int32)
    array([ 1, -1], dtype=int32)
    """
    return asarray(x, dtype=dtype, copy=copy)


def asanyarray(a, dtype=None, order=None):
    """Same as ``asarray`` (s2s has a single array type).

    >>> import s2s.numpy as np
    >>> np.asanyarray([1.0]).dtype
    dtype('float32')
    """
    return asarray(a, dtype=dtype, order=order)


def array(object, dtype=None, copy=True, order="K", ndmin=0):  # noqa: A002 (NumPy's name)
    """Creates an array from ``object`` (copied by default), with at least ``ndmin`` dims.

    >>> import s2s.numpy as np
    >>> np.array([[1.0, 2.0]], ndmin=3).shape
    (1, 1, 2)
    """
    _check_order("array", order)
    out = asarray(object, dtype=dtype, copy=copy)
    ndmin = static_int("array", "ndmin", ndmin)
    nd = len(shape_of(out))
    if nd < ndmin:
        out = lax.expand_dims(out, dimensions=tuple(range(ndmin - nd)))
    return out


def copy(a, order="K"):
    """A copy of ``a``.

    >>> import s2s.numpy as np
    >>> np.copy([1, 2])
    array([1, 2], dtype=int32)
    """
    return array(a, copy=True, order=order)


def _filled(name, shape, value, dtype):
    shape = static_shape(name, shape)
    return onp.full(shape, value, dtype).view(Array)


def zeros(shape, dtype=None):
    """An array of zeros (default dtype float32, float64 under x64).

    >>> import s2s.numpy as np
    >>> np.zeros((2, 2), dtype=int)
    array([[0, 0],
           [0, 0]], dtype=int32)
    """
    return _filled("zeros", shape, 0, canonical_dtype("zeros", dtype,
                                                      dtypes.default_float_dtype()))


def ones(shape, dtype=None):
    """An array of ones.

    >>> import s2s.numpy as np
    >>> np.ones(3)
    array([1., 1., 1.], dtype=float32)
    """
    return _filled("ones", shape, 1, canonical_dtype("ones", dtype, dtypes.default_float_dtype()))


def empty(shape, dtype=None):
    """An array of the given shape (filled with zeros, as s2s arrays are values).

    >>> import s2s.numpy as np
    >>> np.empty((2,)).shape
    (2,)
    """
    return _filled("empty", shape, 0, canonical_dtype("empty", dtype,
                                                      dtypes.default_float_dtype()))


def _broadcast_value(name, value, shape, dt):
    """``value`` (an array or staged value) cast to ``dt`` and broadcast to ``shape``."""
    return broadcast_to(cast(value, dt), shape)


def full(shape, fill_value, dtype=None):
    """An array of ``shape`` filled with ``fill_value`` (broadcast if it is an array).

    >>> import s2s.numpy as np
    >>> np.full((2,), 7)
    array([7, 7], dtype=int32)
    """
    dt = canonical_dtype("full", dtype, None)
    if type(fill_value) in _PY_SCALARS:
        return _filled("full", shape, fill_value, dt or dtypes.python_scalar_dtype(fill_value))
    return _broadcast_value("full", fill_value, static_shape("full", shape),
                            dt or dtype_of(fill_value))


def _staged_full(ref, shape, value, dt):
    """``full(shape, value)`` staged next to the staged value ``ref`` (a broadcast scalar)."""
    to_tracer = getattr(ref._trace, "to_tracer", None)
    if to_tracer is None:
        return _filled("full_like", shape, value, dt)
    scalar = to_tracer(onp.asarray(value, dt))
    if not shape:
        return scalar
    return lax.broadcast_in_dim(scalar, shape=shape, broadcast_dimensions=())


def full_like(a, fill_value, dtype=None, shape=None):
    """An array shaped like ``a`` (or ``shape``) filled with ``fill_value``.

    >>> import s2s.numpy as np
    >>> np.full_like(np.zeros(2, dtype=int), 2.5)
    array([2, 2], dtype=int32)
    """
    dt = canonical_dtype("full_like", dtype, None) or dtype_of(a)
    shape = shape_of(a) if shape is None else static_shape("full_like", shape)
    if not (type(fill_value) in _PY_SCALARS or isinstance(fill_value, onp.generic)):
        return _broadcast_value("full_like", fill_value, shape, dt)
    if is_staged(a):
        return _staged_full(a, shape, fill_value, dt)
    return _filled("full_like", shape, fill_value, dt)


def zeros_like(a, dtype=None, shape=None):
    """Zeros shaped like ``a``, of its dtype unless ``dtype`` is given.

    >>> import s2s.numpy as np
    >>> np.zeros_like(np.ones((1, 2)))
    array([[0., 0.]], dtype=float32)
    """
    return full_like(a, 0, dtype=dtype, shape=shape)


def ones_like(a, dtype=None, shape=None):
    """Ones shaped like ``a``.

    >>> import s2s.numpy as np
    >>> np.ones_like([1, 2])
    array([1, 1], dtype=int32)
    """
    return full_like(a, 1, dtype=dtype, shape=shape)


def empty_like(a, dtype=None, shape=None):
    """An array shaped like ``a`` (zeros: s2s arrays are values).

    >>> import s2s.numpy as np
    >>> np.empty_like(np.ones(2)).shape
    (2,)
    """
    return full_like(a, 0, dtype=dtype, shape=shape)


def _static_number(name, what, value):
    if isinstance(value, Tracer):
        raise ConcretizationError(
            f"{name}: {what} must be static (a Python number), got a staged value {value!r}; "
            "the length of the result must be known when the function is compiled (for a "
            "staged start, add it to a static arange: start + np.arange(n))")
    return value


def arange(start, stop=None, step=None, dtype=None):
    """Evenly spaced values in ``[start, stop)`` (int32 for integer arguments, else float).

    >>> import s2s.numpy as np
    >>> np.arange(4)
    array([0, 1, 2, 3], dtype=int32)
    >>> np.arange(0, 1, 0.25)
    array([0.  , 0.25, 0.5 , 0.75], dtype=float32)
    """
    args = [_static_number("arange", n, v) for n, v in
            (("start", start), ("stop", stop), ("step", step)) if v is not None]
    if stop is None:
        start, stop = 0, start
    step = 1 if step is None else step
    if step == 0:
        raise ValueError("arange: step must not be zero")
    dt = canonical_dtype("arange", dtype, None) or dtypes.result_type(*args)
    return as_array(onp.arange(start, stop, step, dtype=dt))


def _num(name, num):
    num = static_int(name, "num", num)
    if num < 0:
        raise ValueError(f"{name}: number of samples, {num}, must be non-negative")
    return num


def linspace(start, stop, num=50, endpoint=True, retstep=False, dtype=None, axis=0):
    """``num`` evenly spaced samples from ``start`` to ``stop`` (array endpoints allowed).

    >>> import s2s.numpy as np
    >>> np.linspace(0, 1, 5)
    array([0.  , 0.25, 0.5 , 0.75, 1.  ], dtype=float32)
    """
    num = _num("linspace", num)
    compute = dtypes.to_inexact_dtype(dtypes.result_type(start, stop, 0.0))
    dt = canonical_dtype("linspace", dtype, compute)
    if any_staged(start, stop):
        out, step = _linspace_staged(start, stop, num, endpoint, compute, dt, axis)
    else:
        out, step = onp.linspace(onp.asarray(start), onp.asarray(stop), num, endpoint=endpoint,
                                 retstep=True, dtype=dt, axis=axis)
        out = asarray(out, dtype=dt)
        step = asarray(step, dtype=compute)
    return (out, step) if retstep else out


def _linspace_staged(start, stop, num, endpoint, compute, dt, axis):
    start, stop = broadcast_arrays(cast(start, compute), cast(stop, compute))
    bshape = shape_of(start)
    div = num - 1 if endpoint else num
    step = lax.div(lax.sub(stop, start), cast(div, compute)) if div > 0 else \
        lax.mul(lax.sub(stop, start), onp.asarray(onp.nan, compute))
    shape = (num,) + bshape
    ramp = lax.broadcasted_iota(dtype=compute, shape=shape, dimension=0) if num else onp.zeros(shape, compute)
    dims = tuple(range(1, len(shape)))
    out = lax.add(lax.broadcast_in_dim(start, shape=shape, broadcast_dimensions=dims),
                  lax.mul(ramp, lax.broadcast_in_dim(step, shape=shape,
                                                     broadcast_dimensions=dims)))
    if endpoint and num > 1:
        head = lax.slice(out, start_indices=(0,) * len(shape),
                         limit_indices=(num - 1,) + bshape)
        out = concatenate([head, lax.expand_dims(stop, dimensions=(0,))], axis=0)
    if dtypes.is_integer(dt):
        out = floor(out)
    out = moveaxis(cast(out, dt), 0, axis)
    return out, step


def logspace(start, stop, num=50, endpoint=True, base=10.0, dtype=None, axis=0):
    """``base ** linspace(start, stop, num)``.

    >>> import s2s.numpy as np
    >>> np.logspace(0, 2, 3)
    array([  1.,  10., 100.], dtype=float32)
    """
    compute = dtypes.to_inexact_dtype(dtypes.result_type(start, stop, 0.0))
    dt = canonical_dtype("logspace", dtype, compute)
    if not any_staged(start, stop, base):
        out = onp.logspace(onp.asarray(start), onp.asarray(stop), _num("logspace", num),
                           endpoint=endpoint, base=onp.asarray(base), dtype=dt, axis=axis)
        return asarray(out, dtype=dt)
    exps = linspace(start, stop, num, endpoint=endpoint, dtype=compute, axis=axis)
    return cast(power(cast(base, compute), exps), dt)


def geomspace(start, stop, num=50, endpoint=True, dtype=None, axis=0):
    """Numbers spaced evenly on a log scale from ``start`` to ``stop`` (static endpoints).

    >>> import s2s.numpy as np
    >>> np.geomspace(1, 100, 3)
    array([  1.,  10., 100.], dtype=float32)
    """
    compute = dtypes.to_inexact_dtype(dtypes.result_type(start, stop, 0.0))
    dt = canonical_dtype("geomspace", dtype, compute)
    _static_number("geomspace", "start", start)
    _static_number("geomspace", "stop", stop)
    out = onp.geomspace(onp.asarray(start), onp.asarray(stop), _num("geomspace", num),
                        endpoint=endpoint, dtype=dt, axis=axis)
    return asarray(out, dtype=dt)


def eye(N, M=None, k=0, dtype=None):
    """A 2-D array with ones on diagonal ``k`` and zeros elsewhere.

    >>> import s2s.numpy as np
    >>> np.eye(2, 3, k=1)
    array([[0., 1., 0.],
           [0., 0., 1.]], dtype=float32)
    """
    n = static_int("eye", "N", N)
    m = n if M is None else static_int("eye", "M", M)
    if n < 0 or m < 0:
        raise ShapeError(f"eye: negative dimensions are not allowed, got N={n}, M={m}")
    dt = canonical_dtype("eye", dtype, dtypes.default_float_dtype())
    return onp.eye(n, m, static_int("eye", "k", k), dtype=dt).view(Array)


def identity(n, dtype=None):
    """The ``n`` x ``n`` identity matrix.

    >>> import s2s.numpy as np
    >>> np.identity(2, dtype=int)
    array([[1, 0],
           [0, 1]], dtype=int32)
    """
    return eye(n, dtype=dtype)


def tri(N, M=None, k=0, dtype=None):
    """Ones at and below diagonal ``k``, zeros above.

    >>> import s2s.numpy as np
    >>> np.tri(2)
    array([[1., 0.],
           [1., 1.]], dtype=float32)
    """
    n = static_int("tri", "N", N)
    m = n if M is None else static_int("tri", "M", M)
    if n < 0 or m < 0:
        raise ShapeError(f"tri: negative dimensions are not allowed, got N={n}, M={m}")
    dt = canonical_dtype("tri", dtype, dtypes.default_float_dtype())
    return onp.tri(n, m, static_int("tri", "k", k), dtype=dt).view(Array)


def _masked_triangle(name, m, k, lower):
    m = asarray(m)
    shape = shape_of(m)
    if len(shape) == 0:
        raise ShapeError(f"{name}: input must be at least 1-d, got a 0-d array")
    if len(shape) == 1:
        m = broadcast_to(m, shape * 2)
        shape = shape * 2
    k = static_int(name, "k", k)
    mask = onp.tri(shape[-2], shape[-1], k if lower else k - 1, dtype=bool)
    if not lower:
        mask = ~mask
    mask = onp.broadcast_to(mask, shape)
    return lax.select_n(mask, _zeros_for(m, shape), m)


def _zeros_for(m, shape):
    dt = dtype_of(m)
    if is_staged(m):
        return _staged_full(m, shape, 0, dt)
    return onp.zeros(shape, dt)


def tril(m, k=0):
    """``m`` with the entries above diagonal ``k`` zeroed (last two axes).

    >>> import s2s.numpy as np
    >>> np.tril(np.ones((2, 2)))
    array([[1., 0.],
           [1., 1.]], dtype=float32)
    """
    return _masked_triangle("tril", m, k, lower=True)


def triu(m, k=0):
    """``m`` with the entries below diagonal ``k`` zeroed (last two axes).

    >>> import s2s.numpy as np
    >>> np.triu(np.ones((2, 2)), k=1)
    array([[0., 1.],
           [0., 0.]], dtype=float32)
    """
    return _masked_triangle("triu", m, k, lower=False)


def diag(v, k=0):
    """The ``k``-th diagonal of a 2-D ``v``, or a 2-D array with 1-D ``v`` on diagonal ``k``.

    >>> import s2s.numpy as np
    >>> np.diag(np.array([1, 2]))
    array([[1, 0],
           [0, 2]], dtype=int32)
    >>> np.diag(np.arange(4).reshape(2, 2))
    array([0, 3], dtype=int32)
    """
    v = asarray(v)
    k = static_int("diag", "k", k)
    shape = shape_of(v)
    if len(shape) == 1:
        return _diag_matrix(v, k, shape[0])
    if len(shape) == 2:
        return _diag_extract(v, k, shape)
    raise ShapeError(f"diag: input must be 1-d or 2-d, got shape {shape}")


def _diag_matrix(v, k, n):
    size = n + abs(k)
    rows = onp.arange(size)[:, None]
    cols = onp.arange(size)[None, :]
    on_diag = cols - rows == k
    # Entry (i, j) on the diagonal holds v[min(i, j)].
    source = onp.clip(onp.minimum(rows, cols), 0, max(n - 1, 0))
    dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0,),
                                    start_index_map=(0,))
    if n == 0:
        return asarray(onp.zeros((size, size), dtype_of(v)))
    values = lax.gather(v, source[..., None], dimension_numbers=dn, slice_sizes=(1,),
                        mode="clip")
    return lax.select_n(on_diag, _zeros_for(v, (size, size)), values)


def _diag_extract(v, k, shape):
    rows, cols = shape
    start_r, start_c = (0, k) if k >= 0 else (-k, 0)
    n = max(0, min(rows - start_r, cols - start_c))
    if n == 0:
        return asarray(onp.zeros((0,), dtype_of(v)))
    idx = onp.stack([onp.arange(n) + start_r, onp.arange(n) + start_c], axis=-1)
    dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=(0, 1),
                                    start_index_map=(0, 1))
    return lax.gather(v, idx, dimension_numbers=dn, slice_sizes=(1, 1), mode="clip")


def diagflat(v, k=0):
    """A 2-D array with the flattened ``v`` on diagonal ``k``.

    >>> import s2s.numpy as np
    >>> np.diagflat([[1, 2]]).shape
    (2, 2)
    """
    v = asarray(v)
    size = 1
    for dim in shape_of(v):
        size *= dim
    return diag(lax.reshape(v, new_sizes=(size,)), k)


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    """Coordinate arrays from 1-D coordinate vectors (``indexing="xy"`` or ``"ij"``).

    >>> import s2s.numpy as np
    >>> X, Y = np.meshgrid(np.arange(3), np.arange(2))
    >>> X.shape, Y.shape
    ((2, 3), (2, 3))
    """
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    arrays = [lax.reshape(asarray(x), new_sizes=(_size(x),)) for x in xi]
    n = len(arrays)
    sizes = [_size(x) for x in arrays]
    if indexing == "xy" and n >= 2:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    out = []
    for i, x in enumerate(arrays):
        axis = i
        if indexing == "xy" and n >= 2 and i < 2:
            axis = 1 - i
        if sparse:
            shape = tuple(sizes[axis] if j == axis else 1 for j in range(n))
            out.append(lax.reshape(x, new_sizes=shape))
        else:
            out.append(lax.broadcast_in_dim(x, shape=tuple(sizes), broadcast_dimensions=(axis,)))
    return out


def _size(x):
    n = 1
    for dim in shape_of(x):
        n *= dim
    return n


# ---------------------------------------------------------------------------
# Derivative templates (reverse mode). ``np`` is bound by the transformation.

np = None

def_zero_derivative(zeros, ones, empty, zeros_like, ones_like, empty_like, arange, eye, identity,
                    tri, geomspace)


@def_vjp(asarray, asanyarray, array)
def _asarray_vjp(ans, a, dtype=None, *args, **kwargs):
    # A list of arrays was stacked: its adjoint is the tuple of rows.
    d[a] = np.unstack(np.reshape(d[ans], np.shape(a))) if isinstance(a, (list, tuple)) else \
        np.reshape(d[ans], np.shape(a))


@def_vjp(copy)
def _copy_vjp(ans, a, order="K"):
    d[a] = d[ans]


@def_vjp(astype)
def _astype_vjp(ans, x, dtype, /, *, copy=True, device=None):
    d[x] = np.astype(d[ans], np.result_type(x))


# Forward mode: the tangent cast alike, zero where either dtype is an integer one (the
# fallback, transposing the vjp above, ran once per example under vmap).
@def_jvp(astype)
def _astype_jvp(ans, x, dtype, /, *, copy=True, device=None):
    d[ans] = lax.vjp_helpers.convert_grad(d[x], ans)


@def_vjp(tril)
def _tril_vjp(ans, m, k=0):
    d[m] = np.tril(d[ans], k)


@def_vjp(triu)
def _triu_vjp(ans, m, k=0):
    d[m] = np.triu(d[ans], k)


# Imported last: these modules import this one (their functions are looked up at call time).
from s2s.numpy._shape import (broadcast_arrays, broadcast_to, concatenate,  # noqa: E402
                              moveaxis)
from s2s.numpy._ufuncs import floor, power  # noqa: E402
