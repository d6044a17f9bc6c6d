"""Elementwise NumPy functions (ufuncs) on ``s2s.lax``.

NumPy broadcasting and NEP 50 promotion (Python scalars are weak), with
``jax.numpy``'s choices where the two differ: functions that are only defined
on floats (``sqrt``, ``log2``, ``hypot``, ``reciprocal``...) take integers and
bools to the default float dtype; ``floor``/``ceil``/``trunc`` return integers
unchanged; ``square`` of bools gives the default integer.

Most functions are the ``s2s.lax`` wrappers themselves (their eager rule is the
NumPy ufunc); the others are short compositions of them. ``where`` (3-argument),
``clip`` and ``square`` are NumPy-level primitives (NumPy eagerly).

>>> import s2s.numpy as np
>>> np.add(np.ones(2, dtype=np.float16), 1.0).dtype   # weak Python scalar
dtype('float16')
>>> np.sqrt(4)
array(2., dtype=float32)
"""
import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import d, def_jvp, def_vjp, def_zero_derivative, primitive_wrapper
from s2s.lax.shapes import broadcast_shapes
from s2s.numpy._arraylike import (as_operand, cast, dtype_of, is_staged, ndim_of, promote,
                                  promote_inexact, shape_of, static_int)
from s2s.numpy._primitive import numpy_primitive

__all__ = [
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "mod",
    "fmod", "divmod", "power", "pow", "float_power", "negative", "positive", "absolute", "abs",
    "fabs", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "cbrt",
    "square", "reciprocal", "sin", "cos", "tan", "arcsin", "asin", "arccos", "acos", "arctan",
    "atan", "arctan2", "atan2", "sinh", "cosh", "tanh", "arcsinh", "asinh", "arccosh", "acosh",
    "arctanh", "atanh", "deg2rad", "rad2deg", "degrees", "radians", "hypot", "logaddexp",
    "logaddexp2", "maximum", "minimum", "fmax", "fmin", "floor", "ceil", "trunc", "fix", "rint",
    "round", "around", "clip", "where", "isnan", "isinf", "isfinite", "isposinf", "isneginf",
    "isclose", "allclose", "array_equal", "array_equiv", "heaviside", "sinc", "nan_to_num",
    "signbit", "copysign", "nextafter", "ldexp", "modf", "conj", "conjugate", "real", "imag",
    "angle", "isreal", "iscomplex", "isrealobj", "iscomplexobj", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor",
    "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_invert",
    "invert", "left_shift", "right_shift", "bitwise_left_shift", "bitwise_right_shift",
]

_PY_SCALARS = (bool, int, float, complex)

# ---------------------------------------------------------------------------
# The lax wrappers that already are the NumPy function (same semantics).

add, multiply, maximum, minimum = lax.add, lax.mul, lax.max, lax.min
exp, exp2, expm1, log, log1p = lax.exp, lax.exp2, lax.expm1, lax.log, lax.log1p
sqrt, cbrt = lax.sqrt, lax.cbrt
sin, cos, tan, sinh, cosh, tanh = lax.sin, lax.cos, lax.tan, lax.sinh, lax.cosh, lax.tanh
arcsin = asin = lax.asin
arccos = acos = lax.acos
arctan = atan = lax.atan
arcsinh = asinh = lax.asinh
arccosh = acosh = lax.acosh
arctanh = atanh = lax.atanh
arctan2 = atan2 = lax.atan2
equal, not_equal, less, less_equal, greater, greater_equal = (
    lax.eq, lax.ne, lax.lt, lax.le, lax.gt, lax.ge)
bitwise_and, bitwise_or, bitwise_xor = lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor
bitwise_not = bitwise_invert = invert = lax.bitwise_not
left_shift = bitwise_left_shift = lax.shift_left
negative = lax.neg


def _kind(x):
    return dtype_of(x).kind if dtype_of(x) != dtypes.bfloat16 else "f"


def _inexact_dtype(x):
    return dtypes.to_inexact_dtype(dtype_of(x))


def _zeros_bool(x):
    return full_like(x, False, dtype=dtypes.bool_)


def _ones_bool(x):
    return full_like(x, True, dtype=dtypes.bool_)


# ---------------------------------------------------------------------------
# Arithmetic.


def subtract(x1, x2, /):
    """Elementwise ``x1 - x2``.

    >>> import s2s.numpy as np
    >>> np.subtract(np.array([3, 4]), 1)
    array([2, 3], dtype=int32)
    """
    return lax.sub(x1, x2)


def true_divide(x1, x2, /):
    """Elementwise ``x1 / x2``; integers divide as floats.

    >>> import s2s.numpy as np
    >>> np.true_divide(np.array([1, 3]), 2)
    array([0.5, 1.5], dtype=float32)
    """
    (x1, x2), _ = promote_inexact(x1, x2)
    return lax.div(x1, x2)


divide = true_divide


def _float_divmod(x1, x2):
    """NumPy's floor division and remainder for floats (the remainder has the divisor's sign)."""
    mod = lax.rem(x1, x2)
    div = lax.div(lax.sub(x1, mod), x2)
    fix = lax.bitwise_and(lax.ne(mod, 0), lax.ne(lax.lt(x2, 0), lax.lt(mod, 0)))
    mod = where(fix, lax.add(mod, x2), mod)
    div = where(fix, lax.sub(div, 1), div)
    return lax.round(div, rounding_method="to_nearest_even"), mod


def _int_operands(name, x1, x2):
    (x1, x2), dt = promote(x1, x2)
    if dt == dtypes.bool_:
        dt = dtypes.int8
        x1, x2 = cast(x1, dt), cast(x2, dt)
    if dtypes.is_complex(dt):
        raise DtypeError(f"{name}: complex numbers are not supported ({dt.name} operands)")
    return x1, x2, dt


def _nonzero_divisor(x2, dt):
    """An integer divisor with 0 replaced by 1, so that ``x % 0`` is 0 as in JAX."""
    return where(lax.eq(x2, 0), 1, x2) if dt.kind in "iu" else x2


def _int_floor_fix(x1, x2):
    """True where truncating integer division must be moved down by one (signs differ;
    written as jax.numpy does, so division by zero gives JAX's numbers)."""
    r = lax.rem(x1, x2)
    return r, lax.bitwise_and(lax.ne(r, 0), lax.ne(lax.sign(x1), lax.sign(x2)))


def floor_divide(x1, x2, /):
    """Elementwise ``x1 // x2``: the floor of the quotient.

    >>> import s2s.numpy as np
    >>> np.floor_divide(np.array([-7, 7]), 2)
    array([-4,  3], dtype=int32)
    """
    x1, x2, dt = _int_operands("floor_divide", x1, x2)
    if dt.kind == "u":
        return lax.div(x1, x2)
    if dt.kind == "i":
        _, fix = _int_floor_fix(x1, x2)
        q = lax.div(x1, x2)
        return where(fix, lax.sub(q, 1), q)
    return _float_divmod(x1, x2)[0]


def remainder(x1, x2, /):
    """Elementwise remainder of ``x1 // x2``, with the sign of the divisor (Python's ``%``).

    >>> import s2s.numpy as np
    >>> np.remainder(np.array([-7, 7]), 3)
    array([2, 1], dtype=int32)
    """
    x1, x2, dt = _int_operands("remainder", x1, x2)
    x2 = _nonzero_divisor(x2, dt)
    if dt.kind == "u":
        return lax.rem(x1, x2)
    if dt.kind == "i":
        r, fix = _int_floor_fix(x1, x2)
        return where(fix, lax.add(r, x2), r)
    return _float_divmod(x1, x2)[1]


mod = remainder


def fmod(x1, x2, /):
    """Elementwise remainder with the sign of the dividend (C's ``fmod``).

    >>> import s2s.numpy as np
    >>> np.fmod(np.array([-7, 7]), 3)
    array([-1,  1], dtype=int32)
    """
    x1, x2, dt = _int_operands("fmod", x1, x2)
    return lax.rem(x1, _nonzero_divisor(x2, dt))


def divmod(x1, x2, /):  # noqa: A001 (NumPy's name)
    """``(floor_divide(x1, x2), remainder(x1, x2))``.

    >>> import s2s.numpy as np
    >>> np.divmod(np.array([7.0]), 2.0)
    (array([3.], dtype=float32), array([1.], dtype=float32))
    """
    x1, x2, dt = _int_operands("divmod", x1, x2)
    if dtypes.is_inexact(dt):
        return _float_divmod(x1, x2)
    return floor_divide(x1, x2), remainder(x1, x2)


def power(x1, x2, /):
    """Elementwise ``x1 ** x2`` (a Python int exponent multiplies exactly).

    >>> import s2s.numpy as np
    >>> np.power(np.array([1.5, 2.0]), 2)
    array([2.25, 4.  ], dtype=float32)
    """
    if type(x2) is int and not is_staged(x1):
        x1 = as_operand(x1)
    if type(x2) is int:
        if dtype_of(x1) == dtypes.bool_:
            x1 = cast(x1, dtypes.default_int_dtype())
        if x2 < 0 and _kind(x1) in "iu":
            raise ValueError("power: integers to negative integer powers are not allowed")
        return lax.integer_pow(x1, x2)
    (x1, x2), dt = promote(x1, x2)
    if dt == dtypes.bool_:
        x1, x2 = cast(x1, dtypes.int8), cast(x2, dtypes.int8)
    return lax.pow(x1, x2)


pow = power  # noqa: A001 (NumPy 2's name)


def float_power(x1, x2, /):
    """``x1 ** x2`` computed in the widest float (float64 under x64, else float32).

    >>> import s2s.numpy as np
    >>> np.float_power(np.array([2, 3]), 2)
    array([4., 9.], dtype=float32)
    """
    dt = dtypes.to_inexact_dtype(dtypes.result_type(as_operand(x1), as_operand(x2)))
    dt = dtypes.canonicalize_dtype(onp.promote_types(dt, dtypes.float64))
    return lax.pow(cast(x1, dt), cast(x2, dt))


def positive(x, /):
    """Elementwise ``+x`` (a copy of ``x`` as an array).

    >>> import s2s.numpy as np
    >>> np.positive(np.array([-1, 1]))
    array([-1,  1], dtype=int32)
    """
    return asarray(x)


def absolute(x, /):
    """Elementwise absolute value (magnitude for complex input).

    >>> import s2s.numpy as np
    >>> np.absolute(np.array([-1.5, 2.0]))
    array([1.5, 2. ], dtype=float32)
    """
    if dtype_of(x) == dtypes.bool_:
        return positive(x)
    return lax.abs(x)


abs = absolute  # noqa: A001 (NumPy's name)


def fabs(x, /):
    """Elementwise absolute value as a float (real input only).

    >>> import s2s.numpy as np
    >>> np.fabs(np.array([-2, 3]))
    array([2., 3.], dtype=float32)
    """
    if dtypes.is_complex(dtype_of(x)):
        raise DtypeError(f"fabs: complex input is not supported ({dtype_of(x).name}); use abs")
    return lax.abs(cast(x, _inexact_dtype(x)))


def sign(x, /):
    """Elementwise sign: -1, 0 or 1 (``x / abs(x)`` for complex input).

    >>> import s2s.numpy as np
    >>> np.sign(np.array([-2.0, 0.0, 3.0]))
    array([-1.,  0.,  1.], dtype=float32)
    """
    return lax.sign(x)


square_p = numpy_primitive("square", onp.square, lambda x: lax.integer_pow(x, 2))


@primitive_wrapper(square_p)
def square(x, /):
    """Elementwise ``x * x`` (bools square as the default integer).

    >>> import s2s.numpy as np
    >>> np.square(np.array([1.5, -2.0]))
    array([2.25, 4.  ], dtype=float32)
    """
    if dtype_of(x) == dtypes.bool_:
        x = cast(x, dtypes.default_int_dtype())
    return square_p.bind(x)


def reciprocal(x, /):
    """Elementwise ``1 / x`` (integers divide as floats).

    >>> import s2s.numpy as np
    >>> np.reciprocal(np.array([2, 4]))
    array([0.5 , 0.25], dtype=float32)
    """
    x = cast(x, _inexact_dtype(x))
    return lax.div(cast(1, dtype_of(x)), x)


def log2(x, /):
    """Elementwise base-2 logarithm.

    >>> import s2s.numpy as np
    >>> np.log2(np.array([1.0, 2.0]))
    array([0., 1.], dtype=float32)
    """
    x = cast(x, _inexact_dtype(x))
    return lax.div(lax.log(x), cast(onp.log(2.0), dtype_of(x)))


def log10(x, /):
    """Elementwise base-10 logarithm.

    >>> import s2s.numpy as np
    >>> np.log10(np.array([1.0, 10.0]))
    array([0., 1.], dtype=float32)
    """
    x = cast(x, _inexact_dtype(x))
    return lax.div(lax.log(x), cast(onp.log(10.0), dtype_of(x)))


def deg2rad(x, /):
    """Degrees to radians.

    >>> import s2s.numpy as np
    >>> np.deg2rad(180)
    array(3.1415927, dtype=float32)
    """
    x = cast(x, _inexact_dtype(x))
    return lax.mul(x, onp.pi / 180.0)


def rad2deg(x, /):
    """Radians to degrees.

    >>> import s2s.numpy as np
    >>> np.rad2deg(np.pi / 2)
    array(90., dtype=float32)
    """
    x = cast(x, _inexact_dtype(x))
    return lax.mul(x, 180.0 / onp.pi)


radians = deg2rad
degrees = rad2deg


def hypot(x1, x2, /):
    """Elementwise ``sqrt(x1**2 + x2**2)``, without overflow for large inputs.

    >>> import s2s.numpy as np
    >>> np.hypot(3, 4)
    array(5., dtype=float32)
    """
    (x1, x2), _ = promote_inexact(x1, x2)
    a, b = lax.abs(x1), lax.abs(x2)
    big, small = lax.max(a, b), lax.min(a, b)
    safe = where(lax.eq(big, 0), 1, big)
    ratio = lax.div(small, safe)
    out = lax.mul(big, lax.sqrt(lax.add(1, lax.mul(ratio, ratio))))
    return where(lax.bitwise_or(isinf(a), isinf(b)), onp.inf, out)


def logaddexp(x1, x2, /):
    """Elementwise ``log(exp(x1) + exp(x2))``, computed stably.

    >>> import s2s.numpy as np
    >>> np.logaddexp(0.0, 0.0)
    array(0.6931472, dtype=float32)
    """
    (x1, x2), _ = promote_inexact(x1, x2)
    big = lax.max(x1, x2)
    delta = lax.sub(x1, x2)
    out = lax.add(big, lax.log1p(lax.exp(lax.neg(lax.abs(delta)))))
    return where(isnan(delta), lax.add(x1, x2), out)


def logaddexp2(x1, x2, /):
    """Elementwise ``log2(2**x1 + 2**x2)``, computed stably.

    >>> import s2s.numpy as np
    >>> np.logaddexp2(1.0, 1.0)
    array(2., dtype=float32)
    """
    (x1, x2), _ = promote_inexact(x1, x2)
    big = lax.max(x1, x2)
    delta = lax.sub(x1, x2)
    tail = lax.div(lax.log1p(lax.exp2(lax.neg(lax.abs(delta)))), onp.log(2.0))
    return where(isnan(delta), lax.add(x1, x2), lax.add(big, tail))


def fmax(x1, x2, /):
    """Elementwise maximum that ignores NaNs (NaN only where both are NaN).

    >>> import s2s.numpy as np
    >>> np.fmax(np.array([1.0, np.nan]), np.array([np.nan, np.nan]))
    array([ 1., nan], dtype=float32)
    """
    (x1, x2), _ = promote(x1, x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, lax.max(x1, x2)))


def fmin(x1, x2, /):
    """Elementwise minimum that ignores NaNs.

    >>> import s2s.numpy as np
    >>> np.fmin(np.array([1.0, np.nan]), 0.0)
    array([0., 0.], dtype=float32)
    """
    (x1, x2), _ = promote(x1, x2)
    return where(isnan(x2), x1, where(isnan(x1), x2, lax.min(x1, x2)))


def heaviside(x1, x2, /):
    """Step function: 0 for ``x1 < 0``, ``x2`` at 0, 1 for ``x1 > 0``.

    >>> import s2s.numpy as np
    >>> np.heaviside(np.array([-1.0, 0.0, 2.0]), 0.5)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    (x1, x2), _ = promote_inexact(x1, x2)
    return where(lax.lt(x1, 0), 0, where(lax.gt(x1, 0), 1, x2))


def sinc(x, /):
    """Normalized sinc, ``sin(pi x) / (pi x)`` (1 at 0).

    >>> import s2s.numpy as np
    >>> np.sinc(np.array([0.0, 1.5]))
    array([ 1.        , -0.21220659], dtype=float32)
    """
    x = cast(x, _inexact_dtype(x))
    is_zero = lax.eq(x, 0)
    pix = lax.mul(where(is_zero, 1, x), onp.pi)
    return where(is_zero, 1, lax.div(lax.sin(pix), pix))


def ldexp(x1, x2, /):
    """``x1 * 2**x2`` for integer ``x2``.

    >>> import s2s.numpy as np
    >>> np.ldexp(1.5, 3)
    array(12., dtype=float32)
    """
    x1 = cast(x1, _inexact_dtype(x1))
    if _kind(x2) not in "iub":
        raise DtypeError(f"ldexp: the exponent must be an integer, got {dtype_of(x2).name}")
    dt = dtypes.real_dtype(dtype_of(x1))
    return lax.mul(x1, lax.exp2(cast(x2, dt)))


def modf(x, /):
    """Fractional and integral parts of ``x`` (both with the sign of ``x``).

    >>> import s2s.numpy as np
    >>> np.modf(np.array([-1.5, 2.25]))
    (array([-0.5 ,  0.25], dtype=float32), array([-1.,  2.], dtype=float32))
    """
    x = cast(x, _inexact_dtype(x))
    whole = trunc(x)
    return lax.sub(x, whole), whole


# ---------------------------------------------------------------------------
# Rounding.


def _check_real(name, x):
    if dtypes.is_complex(dtype_of(x)):
        raise DtypeError(f"{name}: complex input is not supported ({dtype_of(x).name})")


def _integral_passthrough(name, fn):
    def wrapper(x, /):
        _check_real(name, x)
        if _kind(x) in "biu":
            return positive(x)
        return fn(x)
    return wrapper


def floor(x, /):
    """Elementwise floor (integers are returned unchanged).

    >>> import s2s.numpy as np
    >>> np.floor(np.array([-1.5, 1.5]))
    array([-2.,  1.], dtype=float32)
    """
    return _floor(x)


def ceil(x, /):
    """Elementwise ceiling (integers are returned unchanged).

    >>> import s2s.numpy as np
    >>> np.ceil(np.array([-1.5, 1.5]))
    array([-1.,  2.], dtype=float32)
    """
    return _ceil(x)


def _trunc_float(x):
    return where(lax.lt(x, 0), lax.ceil(x), lax.floor(x))


def trunc(x, /):
    """Rounds toward zero (integers are returned unchanged).

    >>> import s2s.numpy as np
    >>> np.trunc(np.array([-1.7, 1.7]))
    array([-1.,  1.], dtype=float32)
    """
    return _trunc(x)


_floor = _integral_passthrough("floor", lax.floor)
_ceil = _integral_passthrough("ceil", lax.ceil)
_trunc = _integral_passthrough("trunc", _trunc_float)
fix = trunc


def _round_even(x):
    if dtypes.is_complex(dtype_of(x)):
        return lax.complex(_round_even(lax.real(x)), _round_even(lax.imag(x)))
    return lax.round(x, rounding_method="to_nearest_even")


def rint(x, /):
    """Rounds to the nearest integer, halves to even (the result is a float).

    >>> import s2s.numpy as np
    >>> np.rint(np.array([0.5, 1.5, 2.5]))
    array([0., 2., 2.], dtype=float32)
    """
    return _round_even(cast(x, _inexact_dtype(x)))


def round(a, decimals=0, out=None):  # noqa: A001 (NumPy's name)
    """Rounds to ``decimals`` decimals, halves to even (negative ``decimals`` round to tens...).

    >>> import s2s.numpy as np
    >>> np.round(np.array([0.5, 1.5, 1.26]), 1)
    array([0.5, 1.5, 1.3], dtype=float32)
    >>> np.round(np.array([1250, 1350]), -2)
    array([1200, 1400], dtype=int32)
    """
    if out is not None:
        raise NotImplementedError("round: the out= argument is not supported (s2s arrays are "
                                  "values); use the returned array instead")
    decimals = static_int("round", "decimals", decimals)
    a = as_operand(a)
    if _kind(a) in "biu":
        return positive(a) if decimals >= 0 else _round_int(a, decimals)
    if decimals == 0:
        return _round_even(a)
    factor = cast(10.0 ** decimals, dtypes.real_dtype(dtype_of(a)))
    return lax.div(_round_even(lax.mul(a, factor)), factor)


around = round


def _round_int(a, decimals):
    """Integer rounding to ``10**-decimals``, halves to even, exactly."""
    f = cast(10 ** (-decimals), dtype_of(a))
    q = floor_divide(a, f)
    r = lax.sub(a, lax.mul(q, f))
    twice = lax.mul(r, cast(2, dtype_of(a)))
    odd = lax.ne(remainder(q, cast(2, dtype_of(a))), 0)
    up = lax.bitwise_or(lax.gt(twice, f), lax.bitwise_and(lax.eq(twice, f), odd))
    return lax.mul(where(up, lax.add(q, 1), q), f)


# ---------------------------------------------------------------------------
# where, clip: NumPy-level primitives.


def _where_composite(condition, x, y):
    (x, y), _ = promote(x, y)
    if dtype_of(condition) != dtypes.bool_:
        condition = lax.ne(condition, cast(0, dtype_of(condition)))
    condition, x, y = broadcast_arrays(condition, x, y)
    return lax.select_n(condition, y, x)


where_p = numpy_primitive("where", onp.where, _where_composite)


@primitive_wrapper(where_p)
def where(condition, x=None, y=None, /, *, size=None, fill_value=None):
    """Elementwise ``x if condition else y``; with one argument, ``nonzero(condition)``.

    >>> import s2s.numpy as np
    >>> np.where(np.array([True, False]), 1.0, np.array([5.0, 6.0]))
    array([1., 6.], dtype=float32)
    """
    if x is None and y is None:
        return nonzero(condition, size=size, fill_value=fill_value)
    if x is None or y is None:
        raise ValueError("where: either both or neither of x and y should be given")
    condition = as_operand(condition)
    (x, y), _ = promote(x, y)
    broadcast_shapes("where", shape_of(condition), shape_of(x), shape_of(y))
    return where_p.bind(condition, x, y)


def _clip_composite(a, lo, hi):
    (a, lo, hi), _ = promote(a, lo, hi)
    return lax.min(lax.max(a, lo), hi)


def _clip_impl(a, lo, hi):
    if getattr(a, "dtype", None) == dtypes.bfloat16:  # NumPy's clip has no bfloat16 loop
        return onp.minimum(onp.maximum(a, lo), hi)
    return onp.clip(a, lo, hi)


clip_p = numpy_primitive("clip", _clip_impl, _clip_composite)


@primitive_wrapper(clip_p)
def clip(a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002 (NumPy's names)
    """Limits values to ``[a_min, a_max]`` (either bound may be None).

    >>> import s2s.numpy as np
    >>> np.clip(np.array([-1.0, 0.5, 2.0]), 0.0, 1.0)
    array([0. , 0.5, 1. ], dtype=float32)
    """
    lo = a_min if a_min is not None else min
    hi = a_max if a_max is not None else max
    _check_real("clip", a)
    a = as_operand(a)
    if lo is None and hi is None:
        return positive(a)
    if lo is None:
        return lax.min(*promote(a, hi)[0])
    if hi is None:
        return lax.max(*promote(a, lo)[0])
    return clip_p.bind(*promote(a, lo, hi)[0])


# ---------------------------------------------------------------------------
# Floating-point classification.


def _complex_parts(fn, combine):
    def apply(x):
        return combine(fn(lax.real(x)), fn(lax.imag(x)))
    return apply


def _inf(x):
    """Infinity as a 0-d array of ``x``'s (real) dtype."""
    return onp.asarray(onp.inf, dtypes.real_dtype(dtype_of(x)))


def isnan(x, /):
    """Elementwise test for NaN (always False for integers).

    >>> import s2s.numpy as np
    >>> np.isnan(np.array([1.0, np.nan]))
    array([False,  True])
    """
    kind = _kind(x)
    if kind == "c":
        return _complex_parts(isnan, lax.bitwise_or)(x)
    if kind != "f":
        return _zeros_bool(x)
    return lax.ne(x, x)


def isinf(x, /):
    """Elementwise test for positive or negative infinity.

    >>> import s2s.numpy as np
    >>> np.isinf(np.array([1.0, -np.inf]))
    array([False,  True])
    """
    kind = _kind(x)
    if kind == "c":
        return _complex_parts(isinf, lax.bitwise_or)(x)
    if kind != "f":
        return _zeros_bool(x)
    return lax.eq(lax.abs(x), _inf(x))


def isfinite(x, /):
    """Elementwise test for finite values (not infinite, not NaN).

    >>> import s2s.numpy as np
    >>> np.isfinite(np.array([1.0, np.inf, np.nan]))
    array([ True, False, False])
    """
    kind = _kind(x)
    if kind == "c":
        return _complex_parts(isfinite, lax.bitwise_and)(x)
    if kind != "f":
        return _ones_bool(x)
    return lax.is_finite(x)


def _isinf_signed(name, x, value):
    _check_real(name, x)
    if _kind(x) != "f":
        return _zeros_bool(x)
    return lax.eq(x, _inf(x) if value > 0 else lax.neg(_inf(x)))


def isposinf(x, /):
    """Elementwise test for positive infinity.

    >>> import s2s.numpy as np
    >>> np.isposinf(np.array([np.inf, -np.inf]))
    array([ True, False])
    """
    return _isinf_signed("isposinf", x, onp.inf)


def isneginf(x, /):
    """Elementwise test for negative infinity.

    >>> import s2s.numpy as np
    >>> np.isneginf(np.array([np.inf, -np.inf]))
    array([False,  True])
    """
    return _isinf_signed("isneginf", x, -onp.inf)


def signbit(x, /):
    """Elementwise test for a set sign bit (True for -0.0 and negative numbers).

    >>> import s2s.numpy as np
    >>> np.signbit(np.array([-0.0, 0.0, -2.0]))
    array([ True, False,  True])
    """
    _check_real("signbit", x)
    kind = _kind(x)
    if kind in "bu":
        return _zeros_bool(x)
    if kind == "i":
        return lax.lt(x, 0)
    x = as_operand(x)
    if type(x) is float:
        x = onp.asarray(x, dtypes.default_float_dtype())
    bits = onp.dtype(f"int{dtype_of(x).itemsize * 8}")
    return lax.lt(lax.bitcast_convert_type(x, new_dtype=bits), cast(0, bits))


def copysign(x1, x2, /):
    """``x1`` with the sign of ``x2``.

    >>> import s2s.numpy as np
    >>> np.copysign(np.array([1.0, 2.0]), -1.0)
    array([-1., -2.], dtype=float32)
    """
    (x1, x2), _ = promote_inexact(x1, x2)
    _check_real("copysign", x1)
    mag = lax.abs(x1)
    return where(signbit(x2), lax.neg(mag), mag)


def nextafter(x1, x2, /):
    """The next representable float after ``x1`` towards ``x2``.

    >>> import s2s.numpy as np
    >>> np.nextafter(np.float32(1.0), 2.0) > 1.0
    array(True)
    """
    (x1, x2), dt = promote_inexact(x1, x2)
    _check_real("nextafter", x1)
    x1, x2 = lax.convert_element_type(x1, new_dtype=dt), lax.convert_element_type(x2, new_dtype=dt)
    bits = onp.dtype(f"int{dt.itemsize * 8}")
    i = lax.bitcast_convert_type(x1, new_dtype=bits)
    step = where(lax.eq(lax.gt(x2, x1), lax.gt(x1, 0)), cast(1, bits), cast(-1, bits))
    moved = lax.bitcast_convert_type(lax.add(i, step), new_dtype=dt)
    tiny = dtypes.finfo(dt).smallest_subnormal
    from_zero = where(lax.gt(x2, 0), tiny, -tiny)
    out = where(lax.eq(x1, 0), from_zero, moved)
    out = where(lax.eq(x1, x2), x2, out)
    return where(lax.bitwise_or(isnan(x1), isnan(x2)), onp.nan, out)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    """Replaces NaN by ``nan`` and infinities by ``posinf``/``neginf`` (the dtype's extremes).

    >>> import s2s.numpy as np
    >>> np.nan_to_num(np.array([np.nan, np.inf, 1.0]))
    array([0.0000000e+00, 3.4028235e+38, 1.0000000e+00], dtype=float32)
    """
    kind = _kind(x)
    if kind == "c":
        parts = [nan_to_num(p, nan=nan, posinf=posinf, neginf=neginf)
                 for p in (lax.real(x), lax.imag(x))]
        return lax.complex(*parts)
    if kind != "f":
        return positive(x)
    info = dtypes.finfo(dtype_of(x))
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    x = where(isnan(x), cast(nan, dtype_of(x)), x)
    x = where(lax.eq(x, _inf(x)), cast(hi, dtype_of(x)), x)
    return where(lax.eq(x, lax.neg(_inf(x))), cast(lo, dtype_of(x)), x)


def isclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """Elementwise ``|a - b| <= atol + rtol * |b|`` (infinities equal only to themselves).

    >>> import s2s.numpy as np
    >>> np.isclose(np.array([1.0, 1.1]), 1.0)
    array([ True, False])
    """
    (a, b), dt = promote_inexact(a, b)
    tol = lax.add(cast(atol, dtypes.real_dtype(dt)),
                  lax.mul(cast(rtol, dtypes.real_dtype(dt)), lax.abs(b)))
    finite = lax.bitwise_and(isfinite(a), isfinite(b))
    # inf - inf is NaN with a warning NumPy's isclose does not give: subtract finite values only.
    a_, b_ = (where(finite, v, 0) for v in (a, b))
    close = lax.le(lax.abs(lax.sub(a_, b_)), tol)
    out = lax.bitwise_or(lax.eq(a, b), lax.bitwise_and(finite, close))
    if equal_nan:
        out = lax.bitwise_or(out, lax.bitwise_and(isnan(a), isnan(b)))
    return out


def _all(x):
    x = as_operand(x)
    nd = ndim_of(x)
    return lax.reduce_and(x, axes=tuple(range(nd))) if nd else x


def allclose(a, b, rtol=1e-05, atol=1e-08, equal_nan=False):
    """True when every element of ``a`` is close to ``b`` (see ``isclose``).

    >>> import s2s.numpy as np
    >>> np.allclose(np.ones(3), 1.0 + 1e-9)
    array(True)
    """
    return _all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


def array_equal(a1, a2, equal_nan=False):
    """True when ``a1`` and ``a2`` have the same shape and elements.

    >>> import s2s.numpy as np
    >>> np.array_equal([1, 2], np.array([1, 2]))
    array(True)
    """
    a1, a2 = as_operand(a1), as_operand(a2)
    if shape_of(a1) != shape_of(a2):
        return asarray(False)
    eq = lax.eq(a1, a2)
    if equal_nan:
        eq = lax.bitwise_or(eq, lax.bitwise_and(isnan(a1), isnan(a2)))
    return _all(eq)


def array_equiv(a1, a2):
    """True when ``a1`` and ``a2`` broadcast to each other and are equal everywhere.

    >>> import s2s.numpy as np
    >>> np.array_equiv([1, 2], [[1, 2], [1, 2]])
    array(True)
    """
    try:
        return _all(lax.eq(as_operand(a1), as_operand(a2)))
    except ShapeError:
        return asarray(False)


# ---------------------------------------------------------------------------
# Complex numbers.


def real(val, /):
    """The real part (the input itself for real arrays).

    >>> import s2s.numpy as np
    >>> np.real(np.array([1 + 2j]))
    array([1.], dtype=float32)
    """
    return lax.real(val) if _kind(val) == "c" else positive(val)


def imag(val, /):
    """The imaginary part (zeros for real arrays).

    >>> import s2s.numpy as np
    >>> np.imag(np.array([1 + 2j]))
    array([2.], dtype=float32)
    """
    if _kind(val) == "c":
        return lax.imag(val)
    return zeros_like(val)


def conjugate(x, /):
    """The complex conjugate (the input itself for real arrays).

    >>> import s2s.numpy as np
    >>> np.conjugate(np.array([1 + 2j]))
    array([1.-2.j], dtype=complex64)
    """
    return lax.conj(x) if _kind(x) == "c" else positive(x)


conj = conjugate


def angle(z, deg=False):
    """The argument of complex ``z`` (radians, or degrees with ``deg=True``).

    >>> import s2s.numpy as np
    >>> np.angle(np.array([1j]))
    array([1.5707964], dtype=float32)
    """
    z = as_operand(z)
    if _kind(z) == "c":
        re, im = lax.real(z), lax.imag(z)
    else:
        re = cast(z, _inexact_dtype(z))
        im = zeros_like(re)
    out = lax.atan2(im, re)
    return rad2deg(out) if deg else out


def isreal(x):
    """Elementwise test for a zero imaginary part.

    >>> import s2s.numpy as np
    >>> np.isreal(np.array([1 + 0j, 1j]))
    array([ True, False])
    """
    return lax.eq(imag(x), 0) if _kind(x) == "c" else _ones_bool(x)


def iscomplex(x):
    """Elementwise test for a nonzero imaginary part.

    >>> import s2s.numpy as np
    >>> np.iscomplex(np.array([1 + 0j, 1j]))
    array([False,  True])
    """
    return lax.ne(imag(x), 0) if _kind(x) == "c" else _zeros_bool(x)


def isrealobj(x):
    """True when ``x`` has a real (non-complex) dtype.

    >>> import s2s.numpy as np
    >>> np.isrealobj(np.ones(2))
    True
    """
    return _kind(x) != "c"


def iscomplexobj(x):
    """True when ``x`` has a complex dtype.

    >>> import s2s.numpy as np
    >>> np.iscomplexobj(np.ones(2))
    False
    """
    return _kind(x) == "c"


# ---------------------------------------------------------------------------
# Logic and bits.


def _as_bool(x):
    x = as_operand(x)
    if type(x) in _PY_SCALARS:
        return bool(x)
    if dtype_of(x) == dtypes.bool_:
        return x
    return lax.ne(x, cast(0, dtype_of(x)))


def logical_and(x1, x2, /):
    """Elementwise logical AND of the truth values.

    >>> import s2s.numpy as np
    >>> np.logical_and(np.array([1, 0, 2]), True)
    array([ True, False,  True])
    """
    return lax.bitwise_and(_as_bool(x1), _as_bool(x2))


def logical_or(x1, x2, /):
    """Elementwise logical OR of the truth values.

    >>> import s2s.numpy as np
    >>> np.logical_or(np.array([1, 0]), 0)
    array([ True, False])
    """
    return lax.bitwise_or(_as_bool(x1), _as_bool(x2))


def logical_xor(x1, x2, /):
    """Elementwise logical XOR of the truth values.

    >>> import s2s.numpy as np
    >>> np.logical_xor(np.array([1, 0]), 1)
    array([False,  True])
    """
    return lax.bitwise_xor(_as_bool(x1), _as_bool(x2))


def logical_not(x, /):
    """Elementwise logical NOT of the truth value.

    >>> import s2s.numpy as np
    >>> np.logical_not(np.array([1, 0]))
    array([False,  True])
    """
    return lax.bitwise_not(_as_bool(x))


def right_shift(x1, x2, /):
    """Elementwise ``x1 >> x2`` (arithmetic for signed, logical for unsigned integers).

    >>> import s2s.numpy as np
    >>> np.right_shift(np.array([-8, 8]), 1)
    array([-4,  4], dtype=int32)
    """
    (x1, x2), dt = promote(x1, x2)
    if dt.kind == "u":
        return lax.shift_right_logical(x1, x2)
    return lax.shift_right_arithmetic(x1, x2)


bitwise_right_shift = right_shift


# ---------------------------------------------------------------------------
# Derivative templates (reverse mode; see s2s.transforms.templates). They keep
# generated code at the NumPy level (``np.hypot``'s adjoint, not the lax steps
# hypot is built from). ``np`` and ``unbroadcast`` are bound by the transformation.

np = unbroadcast = None

def_zero_derivative(
    isnan, isinf, isfinite, isposinf, isneginf, signbit, sign, floor, ceil, trunc, rint, round,
    floor_divide, logical_and, logical_or, logical_xor, logical_not, right_shift, isclose,
    allclose, array_equal, array_equiv, isreal, iscomplex, isrealobj, iscomplexobj,
)


@def_vjp(square)
def _square_vjp(ans, x):
    d[x] = d[ans] * 2 * x


@def_vjp(absolute, fabs)
def _absolute_vjp(ans, x):
    d[x] = lax.vjp_helpers.abs_grad(d[ans], x)


@def_jvp(absolute, fabs)
def _absolute_jvp(ans, x):
    d[ans] = lax.vjp_helpers.abs_tangent(d[x], x)


@def_vjp(reciprocal)
def _reciprocal_vjp(ans, x):
    d[x] = -d[ans] * ans * ans


@def_vjp(log2)
def _log2_vjp(ans, x):
    d[x] = d[ans] / (x * 0.6931471805599453)


@def_vjp(log10)
def _log10_vjp(ans, x):
    d[x] = d[ans] / (x * 2.302585092994046)


@def_vjp(deg2rad)
def _deg2rad_vjp(ans, x):
    d[x] = d[ans] * 0.017453292519943295


@def_vjp(rad2deg)
def _rad2deg_vjp(ans, x):
    d[x] = d[ans] * 57.29577951308232


@def_vjp(hypot)
def _hypot_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * x1 / ans, x1)
    d[x2] = unbroadcast(d[ans] * x2 / ans, x2)


@def_vjp(logaddexp)
def _logaddexp_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * np.exp(x1 - ans), x1)
    d[x2] = unbroadcast(d[ans] * np.exp(x2 - ans), x2)


@def_vjp(logaddexp2)
def _logaddexp2_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * np.exp2(x1 - ans), x1)
    d[x2] = unbroadcast(d[ans] * np.exp2(x2 - ans), x2)


@def_vjp(float_power)
def _float_power_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * x2 * np.float_power(x1, x2 - 1), x1)
    d[x2] = unbroadcast(d[ans] * ans * np.log(np.where(x1 == 0, 1, x1)), x2)


@def_vjp(remainder)
def _remainder_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans], x1)
    d[x2] = unbroadcast(-d[ans] * np.floor_divide(x1, x2), x2)


@def_vjp(fmod)
def _fmod_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans], x1)
    d[x2] = unbroadcast(-d[ans] * np.trunc(np.true_divide(x1, x2)), x2)


@def_vjp(copysign)
def _copysign_vjp(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * np.where(np.signbit(x1) == np.signbit(x2), 1, -1), x1)


@def_vjp(sinc)
def _sinc_vjp(ans, x):
    d[x] = d[ans] * np.where(x == 0, 0, (np.cos(np.pi * x) - ans) / np.where(x == 0, 1, x))


@def_vjp(nan_to_num)
def _nan_to_num_vjp(ans, x, copy=True, nan=0.0, posinf=None, neginf=None):
    d[x] = np.where(np.isfinite(x), d[ans], 0)


# A complex adjoint (lax.real's, real_grad): reverse mode of the derivative code then
# takes the real part of what reaches d[ans] (a copy passed a complex adjoint to a real
# value: jacrev(grad) of sum(real(z * z) ** 2) was off by up to 9.7).
@def_vjp(real)
def _real_vjp(ans, val):
    d[val] = lax.vjp_helpers.real_grad(d[ans], val)


# The tangent of the real part is the real part of the tangent (transposing the vjp
# above, the fallback for functions without a jvp template, would keep it complex).
@def_jvp(real)
def _real_jvp(ans, val):
    d[ans] = np.real(d[val])


# np.imag: -g as the imaginary part of a complex adjoint (lax.imag's), zero for a real
# input; its tangent is the imaginary part of the tangent. (From its source, vmap of
# its derivative code ran once per example.)
@def_vjp(imag)
def _imag_vjp(ans, val):
    d[val] = lax.vjp_helpers.imag_grad(d[ans], val)


@def_jvp(imag)
def _imag_jvp(ans, val):
    d[ans] = np.imag(d[val])


@def_vjp(conjugate)
def _conjugate_vjp(ans, x):
    d[x] = np.conjugate(d[ans])


@def_jvp(conjugate)
def _conjugate_jvp(ans, x):
    d[ans] = np.conjugate(d[x])


@def_vjp(where)
def _where_vjp(ans, condition, x=None, y=None, /, *, size=None, fill_value=None):
    d[x] = unbroadcast(np.where(condition, d[ans], 0), x)
    d[y] = unbroadcast(np.where(condition, 0, d[ans]), y)


@def_vjp(clip)
def _clip_vjp(ans, a, a_min=None, a_max=None, *, min=None, max=None):
    d[a] = unbroadcast(np.where(a == ans, d[ans], 0), a)
    d[a_min] = unbroadcast(np.where(a < a_min, d[ans], 0), a_min)
    d[a_max] = unbroadcast(np.where(a > a_max, d[ans], 0), a_max)
    d[min] = unbroadcast(np.where(a < min, d[ans], 0), min)
    d[max] = unbroadcast(np.where(a > max, d[ans], 0), max)


# Imported last: these modules import this one (their functions are looked up at call time).
from s2s.numpy._creation import asarray, full_like, zeros_like  # noqa: E402
from s2s.numpy._indexing import nonzero  # noqa: E402
from s2s.numpy._shape import broadcast_arrays  # noqa: E402
