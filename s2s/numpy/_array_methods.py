"""Operators, NumPy protocols and array methods for tracers.

Installed on ``s2s.core.primitive.Tracer`` when ``s2s.numpy`` is imported, so staged
values behave like NumPy arrays: ``x * 2``, ``x @ w``, ``x.T``, ``x.sum(0)``,
``x[1:, None]``, ``x.at[i].set(v)``, and also ``numpy.exp(x)`` (through
``__array_ufunc__``) route to s2s's own functions. Methods look their function
up in ``s2s.numpy`` when called, so functions added there later are picked up.

Staged values are immutable: ``x[i] = v`` raises and says to write
``x = x.at[i].set(v)``; anything that needs a concrete value (``float(x)``,
``x.item()``, ``numpy.asarray(x)``) raises ``ConcretizationError``.
"""
import numpy as onp

import s2s.numpy as np
from s2s.core.array import _weak_int, Array
from s2s.core.errors import ConcretizationError
from s2s.core.primitive import Tracer
from s2s.numpy import _indexing, twins


def _binop(name, reflected=False):
    def method(self, other):
        fn = getattr(np, name)
        return fn(other, self) if reflected else fn(self, other)
    method.__name__ = name
    return method


def _unop(name):
    def method(self):
        return getattr(np, name)(self)
    method.__name__ = name
    return method


def _delegate(name):
    def method(self, *args, **kwargs):
        return getattr(np, name)(self, *args, **kwargs)
    method.__name__ = name
    method.__doc__ = f"Same as ``s2s.numpy.{name}(self, ...)``."
    return method


_BINOPS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
    "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
    "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
    "lshift": "left_shift", "rshift": "right_shift", "divmod": "divmod",
}
_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
            "gt": "greater", "ge": "greater_equal"}
_UNOPS = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}
_METHODS = [
    "sum", "mean", "max", "min", "prod", "std", "var", "argmax", "argmin", "any", "all",
    "cumsum", "cumprod", "ptp", "argsort", "sort", "searchsorted", "nonzero", "clip", "round",
    "conj", "conjugate", "dot", "take", "repeat", "swapaxes", "squeeze", "trace", "diagonal",
    "ravel", "compress", "choose",
]


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    if method != "__call__" or kwargs.get("out") is not None:
        return NotImplemented
    # scipy.special's functions are ufuncs too: their twins live in s2s.scipy.special.
    fn = twins.twin_of(ufunc) or getattr(np, ufunc.__name__, None)
    if fn is None:
        raise NotImplementedError(f"numpy.{ufunc.__name__} has no s2s counterpart yet")
    kwargs.pop("out", None)
    return fn(*inputs, **kwargs)


def _array_function(self, func, types, args, kwargs):
    twin = twins.twin_of(func)
    if twin is None:
        raise NotImplementedError(
            f"numpy.{getattr(func, '__name__', func)} has no s2s counterpart yet; "
            "use an s2s.numpy function instead"
        )
    return twin(*args, **kwargs)


def _getitem(self, idx):
    return _indexing.getitem(self, idx)


def _setitem(self, idx, value):
    raise TypeError(f"staged arrays are immutable: {type(self).__name__} does not support item "
                    "assignment (x[idx] = value). Write x = x.at[idx].set(value) instead (or "
                    ".add, .multiply, .min, .max for x[idx] += value and friends)")


def _iter(self):
    if not self.shape:
        raise TypeError("iteration over a 0-d array")
    return (self[i] for i in range(self.shape[0]))


def _reshape(self, *shape, order="C", **kwargs):
    if "shape" in kwargs:
        shape = kwargs.pop("shape")
    elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    if kwargs:
        raise TypeError(f"reshape() got unexpected keyword arguments {sorted(kwargs)}")
    return np.reshape(self, shape, order=order)


def _transpose(self, *axes):
    if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return np.transpose(self, axes or None)


def _astype(self, dtype, copy=False, order="K"):
    return np.astype(self, dtype)


def _flatten(self, order="C"):
    return np.ravel(self, order=order)


def _concrete(what):
    def method(self, *args, **kwargs):
        raise ConcretizationError(
            f"{what} needs the value of a staged array ({self!r}), which is only known when "
            "the compiled function runs; return the array from the jitted function instead")
    method.__name__ = what
    return method


def _round(self, ndigits=None):
    return np.round(self, 0 if ndigits is None else ndigits)


_PROPERTIES = {
    "T": lambda self: np.transpose(self),
    "mT": lambda self: np.matrix_transpose(self),
    "real": lambda self: np.real(self),
    "imag": lambda self: np.imag(self),
    "at": lambda self: _IndexUpdateHelper(self),
    "nbytes": lambda self: self.size * self.dtype.itemsize,
    "itemsize": lambda self: self.dtype.itemsize,
}

_SPECIAL = {
    "__getitem__": _getitem, "__setitem__": _setitem, "__iter__": _iter,
    "__round__": _round, "reshape": _reshape, "transpose": _transpose, "astype": _astype,
    "flatten": _flatten, "__array_ufunc__": _array_ufunc,
    "__array_function__": _array_function,
}


def install(cls=Tracer):
    """Puts the NumPy-style operators, properties and methods on ``cls``."""
    for short, name in _BINOPS.items():
        setattr(cls, f"__{short}__", _binop(name))
        setattr(cls, f"__r{short}__", _binop(name, reflected=True))
    for short, name in _COMPARE.items():
        setattr(cls, f"__{short}__", _binop(name))
    for short, name in _UNOPS.items():
        setattr(cls, f"__{short}__", _unop(name))
    for name in _METHODS:
        setattr(cls, name, _delegate(name))
    for name, getter in _PROPERTIES.items():
        setattr(cls, name, property(getter))
    for name, fn in _SPECIAL.items():
        setattr(cls, name, fn)
    for name in ("item", "tolist", "__array__"):
        if name not in vars(cls):  # subclasses (StagedTracer) keep their own, richer message
            setattr(cls, name, _concrete(name))


class _IndexUpdateHelper:
    """``x.at``: indexing it gives an ``_IndexUpdateRef`` for ``x[idx]``."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array

    def __getitem__(self, index):
        return _IndexUpdateRef(self.array, index)

    def __repr__(self):
        return f"_IndexUpdateHelper({self.array!r})"


def _update_method(op, doc):
    def method(self, values, *, indices_are_sorted=False, unique_indices=False, mode=None):
        return _indexing.index_update(self.array, self.index, values, op, mode=mode,
                                      indices_are_sorted=indices_are_sorted,
                                      unique_indices=unique_indices)
    method.__name__ = method.__qualname__ = op
    method.__doc__ = doc
    return method


class _IndexUpdateRef:
    """``x.at[idx]``: the methods return a new array with ``x[idx]`` updated."""

    __slots__ = ("array", "index")

    def __init__(self, array, index):
        self.array = array
        self.index = index

    def __repr__(self):
        return f"_IndexUpdateRef({self.array!r}, {self.index!r})"

    set = _update_method("set", "``x[idx] = values``, as a new array.")
    add = _update_method("add", "``x[idx] += values`` (repeated indices accumulate).")
    subtract = _update_method("subtract", "``x[idx] -= values`` (repeated indices accumulate).")
    multiply = _update_method("multiply", "``x[idx] *= values`` (repeated indices accumulate).")
    mul = multiply
    divide = _update_method("divide", "``x[idx] /= values`` (repeated indices accumulate).")
    power = _update_method("power", "``x[idx] **= values``.")
    min = _update_method("min", "``x[idx] = minimum(x[idx], values)``.")
    max = _update_method("max", "``x[idx] = maximum(x[idx], values)``.")

    def get(self, *, indices_are_sorted=False, unique_indices=False, mode=None, fill_value=None):
        """``x[idx]``; ``mode="fill"`` gives ``fill_value`` for out-of-bounds indices."""
        return _indexing.index_get(self.array, self.index, mode=mode, fill_value=fill_value,
                                   indices_are_sorted=indices_are_sorted,
                                   unique_indices=unique_indices)

    def apply(self, func, *, indices_are_sorted=False, unique_indices=False, mode=None):
        """``x[idx] = func(x[idx])`` for a unary elementwise ``func``."""
        return _indexing.index_apply(self.array, self.index, func, mode=mode,
                                     indices_are_sorted=indices_are_sorted,
                                     unique_indices=unique_indices)


def _integer_division(name):
    """``//`` and ``%`` of integers as s2s.numpy (and jit, and JAX) compute them: ``x // 0``
    and ``x % 0`` give JAX's numbers, not NumPy's zeros and a warning."""
    op = name.strip("_")
    binary, reflected = getattr(onp.ndarray, name), op.startswith("r")
    numpy_name = {"floordiv": "floor_divide", "mod": "remainder"}[op.lstrip("r")]

    def method(self, other):
        if type(other) is int:
            other = _weak_int(other, self.dtype)
        if self.dtype.kind in "iu" and getattr(other, "dtype", self.dtype).kind in "iu":
            fn = getattr(np, numpy_name)
            return fn(other, self) if reflected else fn(self, other)
        return binary(self, other)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"``{numpy_name}`` (s2s.numpy's on integers, NumPy's otherwise)."
    return method


def _clamping_getitem(self, index):
    # NumPy's indexing; an out-of-bounds integer index clamps into range instead of
    # raising, as in jax.numpy and as jit computes it (see s2s.core.array).
    try:
        return onp.ndarray.__getitem__(self, index)
    except IndexError:
        return _indexing.clamped_getitem(self, index)


def install_on_array():
    """Puts what needs ``s2s.numpy`` on the eager ``Array``: ``.at``, ``round()``, clamping
    ``x[i]``, and JAX's integer ``//`` and ``%`` (the rest it has from NumPy or itself)."""
    Array.at = property(_PROPERTIES["at"], doc="Indexed updates that return new arrays "
                        "(``x.at[i].set(v)``, see ``s2s.core.array``).")
    Array.__round__ = _round
    Array.__getitem__ = _clamping_getitem
    for name in ("__floordiv__", "__rfloordiv__", "__mod__", "__rmod__"):
        setattr(Array, name, _integer_division(name))
