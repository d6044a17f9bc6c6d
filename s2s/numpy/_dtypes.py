"""Dtypes, scalar types and constants of ``s2s.numpy``.

The scalar types (``float32``, ``int8``, ``bfloat16``...) work wherever NumPy
accepts a dtype (``np.zeros(3, dtype=float32)``, ``x.dtype == float32``) and, as
in ``jax.numpy``, calling one converts its argument, staged values included:

>>> import s2s.numpy as np
>>> np.float32(3)
array(3., dtype=float32)
>>> np.dtype(np.bfloat16)
dtype(bfloat16)
>>> np.zeros(2, dtype=np.int8).dtype == np.int8
True
"""
import numpy as onp

from s2s.core import dtypes
from s2s.core.array import Array
from s2s.core.primitive import d, def_vjp, def_zero_derivative, Tracer

__all__ = [
    "bfloat16", "float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
    "uint16", "uint32", "uint64", "bool_", "bool", "complex64", "complex128", "half", "single",
    "double", "csingle", "cdouble", "int_", "uint", "intp", "uintp", "float_", "complex_",
    "dtype", "generic", "number", "inexact", "floating", "complexfloating", "integer",
    "signedinteger", "unsignedinteger", "character", "flexible", "result_type", "promote_types",
    "can_cast", "finfo", "iinfo", "issubdtype", "isdtype", "isscalar", "pi", "e", "inf", "nan",
    "newaxis", "euler_gamma", "ndarray",
]


class _ScalarMeta(type):
    """Metaclass of the scalar types: a dtype-like class whose call converts values."""

    def __instancecheck__(cls, instance):
        return isinstance(instance, cls._scalar_type)

    def __eq__(cls, other):
        if isinstance(other, _ScalarMeta):
            return cls.dtype == other.dtype
        try:
            return cls.dtype == onp.dtype(other)
        except TypeError:
            return NotImplemented

    def __ne__(cls, other):
        eq = _ScalarMeta.__eq__(cls, other)
        return eq if eq is NotImplemented else not eq

    def __hash__(cls):
        return hash(cls.dtype)

    def __repr__(cls):
        return f"<class 's2s.numpy.{cls.__name__}'>"

    def __call__(cls, x=0):
        return asarray(x, dtype=cls.dtype)


def _scalar_type(name, np_type):
    dt = onp.dtype(np_type)
    doc = (f"The {dt.name} scalar type: a dtype, and ``{name}(x)`` converts ``x`` to an "
           f"array of {dtypes.canonicalize_dtype(dt).name}.")
    return _ScalarMeta(name, (), {"dtype": dt, "_scalar_type": dt.type, "__doc__": doc,
                                  "__module__": "s2s.numpy"})


bfloat16 = _scalar_type("bfloat16", dtypes.bfloat16)
float16 = _scalar_type("float16", onp.float16)
float32 = _scalar_type("float32", onp.float32)
float64 = _scalar_type("float64", onp.float64)
int8 = _scalar_type("int8", onp.int8)
int16 = _scalar_type("int16", onp.int16)
int32 = _scalar_type("int32", onp.int32)
int64 = _scalar_type("int64", onp.int64)
uint8 = _scalar_type("uint8", onp.uint8)
uint16 = _scalar_type("uint16", onp.uint16)
uint32 = _scalar_type("uint32", onp.uint32)
uint64 = _scalar_type("uint64", onp.uint64)
bool_ = _scalar_type("bool", onp.bool_)
bool = bool_  # noqa: A001 (NumPy 2's name)
complex64 = _scalar_type("complex64", onp.complex64)
complex128 = _scalar_type("complex128", onp.complex128)
half, single, double = float16, float32, float64
csingle, cdouble = complex64, complex128
int_, uint, intp, uintp = int64, uint64, int64, uint64
float_, complex_ = float64, complex128

dtype = onp.dtype
generic, number, inexact, floating = onp.generic, onp.number, onp.inexact, onp.floating
complexfloating, integer = onp.complexfloating, onp.integer
signedinteger, unsignedinteger = onp.signedinteger, onp.unsignedinteger
character, flexible = onp.character, onp.flexible

pi = onp.pi
e = onp.e
inf = onp.inf
nan = onp.nan
newaxis = None
euler_gamma = onp.euler_gamma


class _NdarrayMeta(type):
    """``isinstance(x, ndarray)`` holds for NumPy arrays (``s2s.Array`` too) and staged values."""

    def __instancecheck__(cls, instance):
        return isinstance(instance, (onp.ndarray, Tracer))

    def __subclasscheck__(cls, subclass):
        return issubclass(subclass, (onp.ndarray, Tracer))

    def __call__(cls, *args, **kwargs):
        return Array(*args, **kwargs)


class ndarray(metaclass=_NdarrayMeta):
    """The array type for ``isinstance`` checks: NumPy arrays, ``s2s.Array`` and staged values.

    (As ``jax.numpy.ndarray``; code that checks ``isinstance(x, np.ndarray)`` keeps
    working when its ``numpy`` is mapped to ``s2s.numpy``.)

    >>> import numpy as onp
    >>> import s2s.numpy as np
    >>> isinstance(onp.zeros(2), np.ndarray), isinstance(np.zeros(2), np.ndarray)
    (True, True)
    """


def _promotion_arg(x):
    """Dtype-likes become (strong) dtypes; values stay values (Python scalars are weak)."""
    if isinstance(x, (onp.dtype, _ScalarMeta, str)):
        return onp.dtype(x)
    if isinstance(x, type) and (issubclass(x, onp.generic) or x in (float, int, complex, type(
            True))):
        return onp.dtype(x)
    return x


def _as_dtype_value(x):
    """A stand-in value of dtype ``x`` for ``s2s.dtypes.result_type`` (which takes values)."""
    return onp.zeros((), x) if isinstance(x, onp.dtype) else x


def result_type(*args):
    """The dtype NumPy's (NEP 50) promotion gives for ``args`` (values or dtypes), canonicalized.

    >>> import s2s.numpy as np
    >>> np.result_type(np.float16, 1.0)
    dtype('float16')
    >>> np.result_type(np.int8, np.uint8)
    dtype('int16')
    """
    return dtypes.result_type(*[_as_dtype_value(_promotion_arg(a)) for a in args])


def promote_types(type1, type2):
    """The smallest dtype both ``type1`` and ``type2`` safely cast to, canonicalized.

    >>> import s2s.numpy as np
    >>> np.promote_types(np.int8, np.uint8)
    dtype('int16')
    """
    return dtypes.promote_types(onp.dtype(type1), onp.dtype(type2))


def can_cast(from_, to, casting="safe"):
    """Whether ``from_`` (a dtype or an array) casts to ``to`` under ``casting``.

    >>> import s2s.numpy as np
    >>> np.can_cast(np.int8, np.float32), np.can_cast(np.float32, np.int32)
    (True, False)
    """
    if not isinstance(from_, (onp.dtype, _ScalarMeta, str, type)):
        from_ = dtype_of(from_)
    return onp.can_cast(onp.dtype(from_), onp.dtype(to), casting=casting)


def finfo(dtype):
    """Machine limits of a floating dtype (bfloat16 included).

    >>> import s2s.numpy as np
    >>> float(np.finfo(np.float32).eps)
    1.1920928955078125e-07
    """
    return dtypes.finfo(_dtype_of_any(dtype))


def iinfo(int_type):
    """Machine limits of an integer dtype.

    >>> import s2s.numpy as np
    >>> np.iinfo(np.int8).max
    127
    """
    return dtypes.iinfo(_dtype_of_any(int_type))


def _dtype_of_any(x):
    if isinstance(x, (onp.dtype, _ScalarMeta, str, type)):
        return onp.dtype(x)
    return dtype_of(x)


def issubdtype(arg1, arg2):
    """Whether dtype ``arg1`` is below ``arg2`` in NumPy's type hierarchy (bfloat16 is a float).

    >>> import s2s.numpy as np
    >>> np.issubdtype(np.bfloat16, np.floating), np.issubdtype(np.int32, np.floating)
    (True, False)
    """
    if isinstance(arg2, _ScalarMeta):
        arg2 = arg2.dtype
    return dtypes.issubdtype(onp.dtype(arg1), arg2)


_KINDS = {
    "bool": lambda d: d == onp.bool_,
    "signed integer": lambda d: d.kind == "i",
    "unsigned integer": lambda d: d.kind == "u",
    "integral": lambda d: d.kind in "iu",
    "real floating": lambda d: dtypes.is_float(d),
    "complex floating": lambda d: d.kind == "c",
    "numeric": lambda d: d.kind in "iufc" or d == dtypes.bfloat16,
}


def isdtype(dtype, kind):
    """Array API dtype test: ``kind`` is a dtype, a kind name, or a tuple of them.

    >>> import s2s.numpy as np
    >>> np.isdtype(np.float32, "real floating")
    True
    """
    dt = onp.dtype(dtype)
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for k in kinds:
        if isinstance(k, str):
            if k not in _KINDS:
                raise ValueError(f"isdtype: unknown kind {k!r}; use one of {sorted(_KINDS)}")
            if _KINDS[k](dt):
                return True
        elif dt == onp.dtype(k):
            return True
    return False


def isscalar(element):
    """True for Python and NumPy scalars and 0-d arrays (as ``jax.numpy``).

    >>> import s2s.numpy as np
    >>> np.isscalar(1.0), np.isscalar(np.zeros(2))
    (True, False)
    """
    if isinstance(element, (onp.ndarray, Tracer)):
        return element.ndim == 0
    return onp.isscalar(element)



# ---------------------------------------------------------------------------
# Derivative templates (reverse mode). ``np`` is bound by the transformation.

np = None

def_zero_derivative(result_type, promote_types, can_cast, finfo, iinfo, issubdtype, isdtype,
                    isscalar, int8, int16, int32, int64, uint8, uint16, uint32, uint64, bool_)


@def_vjp(bfloat16, float16, float32, float64, complex64, complex128)
def _scalar_type_vjp(ans, x=0):
    d[x] = np.astype(d[ans], np.result_type(x))

# Imported last: these modules import this one (their functions are looked up at call time).
from s2s.numpy._arraylike import dtype_of  # noqa: E402
from s2s.numpy._creation import asarray  # noqa: E402
