"""Coercions shared by the ``s2s.numpy`` modules: array-likes, dtypes, static values.

Functions in ``s2s.numpy`` accept Python scalars, (nested) lists, NumPy arrays,
``Array`` and staged values alike; these helpers give each a uniform view
without ever making a staged value concrete.

>>> import numpy as onp
>>> cast(3, onp.float32)           # Python scalars stay Python scalars (weak)
3.0
>>> dtype_of([1, 2])
dtype('int32')
"""
import operator

import numpy as onp

from s2s import dtypes, lax
from s2s.errors import ConcretizationError, DtypeError, ShapeError
from s2s.lax.core import Tracer, abstractify, def_zero_derivative

_PY_SCALARS = (bool, int, float, complex)
_PY_CAST = {"b": bool, "i": int, "u": int, "f": float, "c": complex, "V": float}


def is_staged(x):
    """True for tracers (values only known when the function runs)."""
    return isinstance(x, Tracer)


def any_staged(*xs):
    """True when any of ``xs`` is a tracer."""
    return any(isinstance(x, Tracer) for x in xs)


def aval_of(x):
    """The abstract value (shape, dtype, weak type) of any array-like."""
    if isinstance(x, (list, tuple)):
        return abstractify(as_operand(x))
    return abstractify(x)


def shape_of(x):
    """The shape of any array-like (tracers included)."""
    if isinstance(x, (Tracer, onp.ndarray)):
        return x.shape
    return onp.shape(as_operand(x) if isinstance(x, (list, tuple)) else x)


def ndim_of(x):
    """The number of dimensions of any array-like."""
    return len(shape_of(x))


def dtype_of(x):
    """The canonical dtype of any array-like (Python scalars: the default dtypes)."""
    if isinstance(x, (list, tuple)):
        x = as_operand(x)
    return dtypes.dtype_of(x)


def as_operand(x):
    """``x`` ready for a lax primitive: lists become arrays (stacking any tracers)."""
    if isinstance(x, (list, tuple)):
        return asarray(x)
    return x


def cast(x, dtype):
    """``x`` converted to ``dtype``; Python scalars stay (weak) Python scalars.

    >>> cast(2.5, "int32")
    2
    """
    dt = onp.dtype(dtype)
    if type(x) in _PY_SCALARS:
        if type(x) is complex and dt.kind != "c":
            x = x.real
        return _PY_CAST.get(dt.kind, float)(x)
    x = as_operand(x)
    if dtype_of(x) == dtypes.canonicalize_dtype(dt) and not getattr(x, "weak_type", False):
        return x
    return lax.convert_element_type(x, new_dtype=dt)


def cast_arrays(dtype, *xs):
    """Each of ``xs`` cast to ``dtype`` (see ``cast``)."""
    return [cast(x, dtype) for x in xs]


def to_dtype(x, dt):
    """``x`` as a value of dtype ``dt``; Python scalars become 0-d arrays of ``dt``.

    (Their weak type has done its job once ``dt`` is known; as arrays they keep ``dt``
    through the lax operations that follow, and NumPy's impls, which mishandle Python
    scalars next to bfloat16, see one dtype.)
    """
    if type(x) is int:  # as JAX converts it: within the default int type, then wrapped
        return dtypes.weak_int_array(x, dt)
    if type(x) in _PY_SCALARS:
        return onp.asarray(cast(x, dt), dt)
    return cast(x, dt)


def promote(*xs):
    """``xs`` converted to their NumPy (NEP 50: Python scalars weak) result dtype, and it.

    >>> import numpy as onp
    >>> promote(onp.ones(2, onp.float16), 2.0)[1]
    dtype('float16')
    """
    xs = [as_operand(x) for x in xs]
    dt = dtypes.result_type(*xs)
    return [to_dtype(x, dt) for x in xs], dt


def promote_inexact(*xs):
    """Like ``promote``, then integers and bools go to the default float (``jax.numpy``)."""
    xs = [as_operand(x) for x in xs]
    dt = dtypes.to_inexact_dtype(dtypes.result_type(*xs))
    return [to_dtype(x, dt) for x in xs], dt


def static_int(name, what, value):
    """``value`` as a Python int, with a clear error for staged values."""
    if isinstance(value, Tracer):
        raise ConcretizationError(
            f"{name}: {what} must be a static (concrete) integer, got a staged value "
            f"{value!r}; pass it as a Python int or mark the argument static "
            "(static_argnums)")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: {what} must be an integer, got {value!r}") from None


def static_shape(name, shape):
    """A shape argument (an int or a sequence of ints) as a tuple of Python ints."""
    if isinstance(shape, Tracer):
        raise ConcretizationError(f"{name}: shape must be static, got a staged value {shape!r}; "
                                  "use a tuple of Python ints")
    if isinstance(shape, (int, onp.integer)):
        shape = (shape,)
    try:
        dims = tuple(static_int(name, "each dimension of shape", d) for d in shape)
    except TypeError:
        raise TypeError(f"{name}: shape must be an int or a sequence of ints, got "
                        f"{shape!r}") from None
    if any(d < 0 for d in dims):
        raise ShapeError(f"{name}: negative dimensions are not allowed, got shape {dims}")
    return dims


def canonical_dtype(name, dtype, default=None):
    """``dtype`` (any dtype-like, s2s scalar types included) canonicalized; None -> default."""
    if dtype is None:
        return default
    try:
        return dtypes.canonicalize_dtype(onp.dtype(dtype))
    except TypeError:
        raise DtypeError(f"{name}: {dtype!r} is not a valid dtype") from None


def bind_on(ref, prim, *args, **params):
    """Applies ``prim`` on the trace of staged ``ref`` (so operand-less or all-constant
    applications such as ``iota`` stage instead of running eagerly).

    With a concrete ``ref`` this is ``prim.bind``.
    """
    if isinstance(ref, Tracer):
        return ref._trace.process_primitive(prim, args, params)
    return prim.bind(*args, **params)


def first_staged(*xs):
    """The first tracer among ``xs`` (nested lists and tuples searched), or None."""
    for x in xs:
        if isinstance(x, Tracer):
            return x
        if isinstance(x, (list, tuple)):
            hit = first_staged(*x)
            if hit is not None:
                return hit
    return None


# Metadata (shapes, dtypes, static values) has no derivative; transformations skip it.
def_zero_derivative(is_staged, any_staged, aval_of, shape_of, ndim_of, dtype_of, static_int,
                    static_shape, canonical_dtype, first_staged)

# Imported last: these modules import this one (their functions are looked up at call time).
from s2s.numpy._creation import asarray  # noqa: E402
