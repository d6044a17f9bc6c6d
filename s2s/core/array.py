"""The eager array type: a thin ``numpy.ndarray`` subclass with JAX's ``.at``.

Eager s2s values are NumPy arrays on the host. Results of s2s functions are
``Array`` views of them, so code written for ``jax.numpy`` runs unchanged:

>>> import s2s.numpy as np
>>> x = np.zeros(3)
>>> x.at[1].add(2.0)
array([0., 2., 0.], dtype=float32)
>>> x                          # value semantics: x itself is unchanged
array([0., 0., 0.], dtype=float32)

``Array`` is a plain subclass with no extra state: everything NumPy does with
it works as with any ``ndarray`` (ufuncs keep the subclass, ``numpy.asarray``
drops it), except that results are narrowed to 32 bits unless 64-bit mode is on,
exactly as s2s functions narrow theirs (so ``a + b`` on ``Array`` operands and
``s2s.numpy.add(a, b)`` agree on dtypes). It prints exactly as NumPy prints an
``ndarray``. ``s2s.numpy`` installs ``.at`` and ``round()`` on ``Array`` and on
staged values (tracers) alike, so ``x.at[i].set(v)`` reads the same eagerly and
under ``jit``.

Indexed updates follow ``jax.numpy``:

- ``x.at[idx].set/add/subtract/multiply/divide/power/min/max(values)`` return
  new arrays; repeated indices accumulate for ``add``, ``multiply``, ``min``
  and ``max`` (as ``numpy.add.at`` does); for ``set`` one of the writes wins.
- ``x.at[idx].get()`` is ``x[idx]``; ``apply(ufunc)`` applies a unary function.
Reading ``x[idx]`` with an integer index out of bounds clamps it into range (after
negative indices count from the end once), as ``jax.numpy`` and ``jit`` do, rather
than raising ``IndexError`` as NumPy does.

- ``mode``: ``None``/``"drop"``/``"fill"`` skip out-of-bounds updates (and
  ``get`` returns ``fill_value``); ``"clip"`` clamps indices into range;
  ``"promise_in_bounds"`` lets the backend do what is fastest. Negative indices
  count from the end, once (``-1`` is the last element; ``-n - 1`` is out of
  bounds). ``indices_are_sorted``/``unique_indices`` are hints, accepted as in JAX.
"""
import operator as _operator

import numpy as _np

from s2s.core import captures as _captures
from s2s.core import dtypes as _dtypes
from s2s.core import float_errors as _float_errors
from s2s.core.dtypes import canonicalize_dtype as _canonicalize_dtype

__all__ = ["Array"]


class Array(_np.ndarray):
    """An eager s2s array: a NumPy array with ``.at[...]`` indexed updates.

    >>> import s2s.numpy  # installs .at
    >>> a = Array((2,), _np.float32)
    >>> a[:] = 1.0
    >>> a.at[0].set(5.0)
    array([5., 1.], dtype=float32)
    """

    __slots__ = ()

    def __array_wrap__(self, arr, context=None, return_scalar=False):
        # NumPy calls this on the results of ufuncs and methods (``a + b``, ``a.sum()``):
        # keep them Arrays (0-d included) of canonical dtype, as s2s functions give.
        dt = arr.dtype
        if dt.itemsize >= 8 and (dt.kind != "c" or dt.itemsize == 16):  # only 64-bit narrows
            canon = _canonicalize_dtype(dt)
            if canon != dt:
                arr = arr.astype(canon)
        return arr if type(arr) is Array else arr.view(Array)

    def __iter__(self):
        # NumPy iterates by indexing until IndexError, which the clamping __getitem__
        # (installed by s2s.numpy) never raises: iterate over the rows explicitly.
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d array")
        getitem = _np.ndarray.__getitem__
        return (getitem(self, i) for i in range(self.shape[0]))

    def __repr__(self):
        return _np.array_repr(self.view(_np.ndarray))

    # Augmented assignment follows JAX's value semantics: ``x += y`` makes a new array
    # and rebinds ``x`` (aliases keep the old value, read-only jit results work, and
    # the result dtype is that of ``x + y``). Item assignment ``x[i] += y`` still
    # writes into ``x``, as NumPy does.

    def __str__(self):
        return _np.array_str(self.view(_np.ndarray))


def _value_semantics(op):
    binary = getattr(Array, f"__{op}__")

    def method(self, other):
        return binary(self, other)  # (its floating-point warnings: see _weak_int_operand)
    method.__name__ = method.__qualname__ = f"__i{op}__"
    method.__doc__ = f"Augmented {op}: a new array, rebound to the name (JAX's value semantics)."
    return method


def _weak_int_operand(name):
    binary = getattr(_np.ndarray, name)
    base, reflected = _operator_of(name)
    ufunc = _UFUNC_NAMES.get(base, base)
    op = getattr(_operator, base + "_" if base in ("and", "or") else base)

    def method(self, other):
        if type(other) is int:
            other = _weak_int(other, self.dtype)
        if _captures.active[0]:
            trace = _captures.trace_for((self, other))
            if trace is not None:  # jit is staging and reads one of them at each call
                if isinstance(other, _np.ndarray) and trace.is_captured(other):
                    other = trace.to_tracer(other)
                self = trace.to_tracer(self)
                return op(other, self) if reflected else op(self, other)
        token = _float_errors.enter(ufunc)  # NumPy's warnings at the user's line
        try:
            return binary(self, other)
        finally:
            _float_errors.leave(token)
    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"NumPy's {name}, with a Python int operand converted as JAX converts it."
    return method


def _weak_int(value, dtype):
    """A Python int operand of an ``Array`` operator, as JAX takes it (and as s2s.numpy and
    jit do): it must fit the default integer type, then wraps into an integer array's dtype."""
    if dtype.kind in "iu":
        return _dtypes.weak_int_array(value, dtype)
    _dtypes.python_scalar_dtype(value)  # raises OverflowError past the default integer type
    return value


def _operator_of(name):
    """``("mul", False)`` for ``__mul__``, ``("mul", True)`` for ``__rmul__``."""
    inner = name.strip("_")
    reflected = inner.startswith("r") and inner != "rshift"
    return (inner[1:] if reflected else inner), reflected


_UFUNC_NAMES = {"sub": "subtract", "mul": "multiply", "truediv": "divide", "floordiv": "floor_divide",
                "mod": "remainder", "pow": "power", "and": "bitwise_and", "or": "bitwise_or",
                "xor": "bitwise_xor", "lshift": "left_shift", "rshift": "right_shift"}
_ARITHMETIC = ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or", "xor",
               "lshift", "rshift")
for _op in _ARITHMETIC:
    for _name in (f"__{_op}__", f"__r{_op}__"):
        if _op != "matmul":  # integer // and % on integers: s2s.numpy installs JAX's (see there)
            setattr(Array, _name, _weak_int_operand(_name))
    setattr(Array, f"__i{_op}__", _value_semantics(_op))
del _op, _name


def as_array(x):
    """``x`` (an ndarray) viewed as an ``Array``; other values unchanged.

    >>> type(as_array(_np.zeros(2))).__name__
    'Array'
    """
    if type(x) is _np.ndarray:
        return x.view(Array)
    return x
