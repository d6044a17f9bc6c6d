"""Dtypes: canonicalization, weak types and promotion.

s2s canonicalizes operand dtypes (unless 64-bit mode is on, 64-bit types become
their 32-bit counterparts, exactly as JAX does), then follows NumPy 2's promotion
rules (NEP 50: Python scalars are *weak* and take the dtype of the array they
meet), with JAX's rules for bfloat16, which NumPy does not know. Eager results
and jit results therefore agree on dtypes for the same inputs.

>>> import numpy as np
>>> result_type(np.ones(3, np.float32), 2.0)
dtype('float32')
"""
import numpy as np
import ml_dtypes

from s2s.core.config import config

bfloat16 = np.dtype(ml_dtypes.bfloat16)
float16 = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = np.dtype(np.float64)
int8, int16, int32, int64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
uint8, uint16, uint32, uint64 = (np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64))
complex64 = np.dtype(np.complex64)
complex128 = np.dtype(np.complex128)
bool_ = np.dtype(np.bool_)

_NARROW = {float64: float32, int64: int32, uint64: uint32, complex128: complex64}
_PYTHON_SCALARS = (bool, int, float, complex)
# Stand-ins for weak values when asking NumPy's NEP 50 rules for a result type.
_WEAK_PROXY = {"b": False, "i": 0, "u": 0, "f": 0.0, "c": 0j}


def x64_enabled():
    """True when 64-bit mode is on (``S2S_ENABLE_X64=1`` or ``config.update``)."""
    return config.enable_x64


def canonicalize_dtype(dt):
    """Returns the dtype s2s computes with for ``dt`` (64-bit narrowed unless x64).

    >>> canonicalize_dtype(np.float64)
    dtype('float32')
    """
    if config.enable_x64:
        d = np.dtype(dt)
        return d if d.isnative else d.newbyteorder("=")
    try:
        return _CANONICAL[dt]  # the eager hot path: a dtype seen before
    except (KeyError, TypeError):
        pass
    d = np.dtype(dt)
    if not d.isnative:  # computations run in this machine's byte order ('>f4' -> float32)
        d = d.newbyteorder("=")
    out = _NARROW.get(d, d)
    try:
        _CANONICAL[dt] = out
    except TypeError:
        pass
    return out


_CANONICAL = {}


def default_float_dtype():
    """float32, or float64 under x64."""
    return float64 if config.enable_x64 else float32


def default_int_dtype():
    """int32, or int64 under x64."""
    return int64 if config.enable_x64 else int32


def default_complex_dtype():
    """complex64, or complex128 under x64."""
    return complex128 if config.enable_x64 else complex64


def python_scalar_dtype(value):
    """The dtype a Python scalar takes when it stands alone (weakly typed)."""
    if isinstance(value, bool):
        return bool_
    if isinstance(value, int):
        dt = default_int_dtype()
        if not _INT_BOUNDS[dt.itemsize][0] <= value <= _INT_BOUNDS[dt.itemsize][1]:
            raise OverflowError(_int_overflow_message(value, dt))
        return dt
    if isinstance(value, float):
        return default_float_dtype()
    if isinstance(value, complex):
        return default_complex_dtype()
    raise TypeError(f"not a Python scalar: {value!r}")


_INT_BOUNDS = {n: (int(np.iinfo(f"int{8 * n}").min), int(np.iinfo(f"int{8 * n}").max)) for n in (4, 8)}


def _int_overflow_message(value, dt):
    hint = ("" if dt.itemsize == 8 else
            " or turn on 64-bit mode (s2s.config.update('enable_x64', True))")
    return (f"Python int {value} too large to convert to {dt.name}: a Python int takes the "
            f"default integer type, as in JAX, eagerly and under jit alike. Pass an array of "
            f"a wider dtype{hint}.")


def weak_int_array(value, dtype):
    """Python int ``value`` as an array of ``dtype``, as JAX converts a weak int: it must
    fit the default integer type (else OverflowError), then wraps into ``dtype``
    (``uint8 + 300`` is ``uint8 + 44``).

    >>> weak_int_array(300, np.uint8)
    array(44, dtype=uint8)
    """
    return np.asarray(value, python_scalar_dtype(value)).astype(dtype)


def is_python_scalar(value):
    """True for bool, int, float and complex (but not NumPy scalars)."""
    return type(value) in _PYTHON_SCALARS


def is_weakly_typed(value):
    """Python scalars, and staged values derived only from them, are weak."""
    if type(value) in _PYTHON_SCALARS:
        return True
    return bool(getattr(value, "weak_type", False))


def dtype_of(value):
    """The canonical dtype of any array-like value (scalar, array, staged value)."""
    if type(value) in _PYTHON_SCALARS:
        return python_scalar_dtype(value)
    dt = getattr(value, "dtype", None)
    if dt is None:
        dt = np.asarray(value).dtype
    return canonicalize_dtype(dt)


def _promotion_proxy(value):
    if type(value) in _PYTHON_SCALARS:
        return value
    if is_weakly_typed(value):
        return _WEAK_PROXY[value.dtype.kind]
    dt = getattr(value, "dtype", None)
    # Canonicalize first, as staging does (abstractify): a uint64 array meets
    # an int32 one as uint32 when x64 is off, giving int32 rather than float.
    return canonicalize_dtype(dt if dt is not None else np.asarray(value).dtype)


def _numpy_result_type(proxies):
    """``np.result_type(*proxies)``, plus JAX's rules for bfloat16.

    ml_dtypes' bfloat16 has no NumPy promotion with integers wider than 8 bits
    or float16, and promotes it with a Python float to float64 (not NEP 50's
    bfloat16). JAX's lattice: bfloat16 with bool/integers or weak floats stays
    bfloat16; with float16 it is float32; wider floats and complex win.
    """
    if not any(isinstance(p, np.dtype) and p == bfloat16 for p in proxies):
        return np.result_type(*proxies)
    strong = [p for p in proxies if isinstance(p, np.dtype) and p != bfloat16]
    weak = [p for p in proxies if not isinstance(p, np.dtype)]
    dt = bfloat16
    if strong:
        other = np.result_type(*strong)
        if other.kind in "fc":
            dt = float32 if other == float16 else other
    if dt == bfloat16:
        return complex64 if any(type(w) is complex for w in weak) else bfloat16
    return np.result_type(dt, *weak)


def result_type(*values, return_weak_type=False):
    """NumPy (NEP 50) promotion of ``values``, canonicalized.

    With ``return_weak_type=True`` returns ``(dtype, weak)`` where ``weak`` says
    every input was weakly typed.

    >>> result_type(np.int32(1), 1.5)
    dtype('float32')
    """
    if not values:
        raise ValueError("result_type needs at least one value")
    proxies = [_promotion_proxy(v) for v in values]
    weak = all(not isinstance(p, np.dtype) for p in proxies)
    if weak:
        # All weak: NumPy would give float64/int64; narrow to the defaults.
        dt = np.result_type(*[np.asarray(p).dtype for p in proxies])
    else:
        dt = _numpy_result_type(proxies)
    dt = canonicalize_dtype(dt)
    return (dt, weak) if return_weak_type else dt


def promote_types(a, b):
    """Like ``numpy.promote_types`` (bfloat16 included), canonicalized."""
    return canonicalize_dtype(_numpy_result_type([np.dtype(a), np.dtype(b)]))


def issubdtype(a, b):
    """``numpy.issubdtype`` that also knows bfloat16 is a floating type."""
    if a is not None and np.dtype(a) == bfloat16 and b in (np.floating, np.inexact, np.number):
        return True
    return np.issubdtype(a, b)


def is_float(dt):
    """True for real floating dtypes, bfloat16 included."""
    dt = np.dtype(dt)
    return dt.kind == "f" or dt == bfloat16


def is_complex(dt):
    """True for complex dtypes."""
    return np.dtype(dt).kind == "c"


def is_inexact(dt):
    """True for floating and complex dtypes."""
    return is_float(dt) or is_complex(dt)


def is_integer(dt):
    """True for signed and unsigned integer dtypes (not bool)."""
    return np.dtype(dt).kind in "iu"


def real_dtype(dt):
    """The real counterpart of a complex dtype (itself for real dtypes)."""
    dt = np.dtype(dt)
    if dt == complex64:
        return float32
    if dt == complex128:
        return float64
    return dt


def to_inexact_dtype(dt):
    """The floating dtype an integer/bool input is promoted to by ``sin``, ``mean``..."""
    dt = np.dtype(dt)
    if is_inexact(dt):
        return dt
    return default_float_dtype()


def finfo(dt):
    """``numpy.finfo`` that also accepts bfloat16."""
    return ml_dtypes.finfo(dt) if np.dtype(dt) == bfloat16 else np.finfo(dt)


def iinfo(dt):
    """``numpy.iinfo``."""
    return np.iinfo(dt)
