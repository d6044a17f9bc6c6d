"""Elementwise NumPy functions (ufuncs) on ``s2s.lax``."""
from s2s import lax

__all__ = [
    "add", "subtract", "multiply", "true_divide", "divide", "power", "negative", "positive",
    "exp", "log", "tanh", "sin", "cos", "sqrt", "absolute", "abs",
    "equal", "not_equal", "less", "less_equal", "greater", "greater_equal",
    "bitwise_and", "bitwise_or", "bitwise_xor", "invert", "maximum", "minimum",
]


def add(x1, x2, /):
    """Elementwise ``x1 + x2``. >>> add(1.0, 2.0) -> 3.0"""
    return lax.add(x1, x2)


def subtract(x1, x2, /):
    """Elementwise ``x1 - x2``."""
    return lax.sub(x1, x2)


def multiply(x1, x2, /):
    """Elementwise ``x1 * x2``."""
    return lax.mul(x1, x2)


def true_divide(x1, x2, /):
    """Elementwise ``x1 / x2`` (integers promote to float)."""
    from s2s import dtypes
    dt = dtypes.to_inexact_dtype(dtypes.result_type(x1, x2))
    if dtypes.is_inexact(dtypes.result_type(x1, x2)):
        return lax.div(x1, x2)
    return lax.div(lax.convert_element_type(x1, new_dtype=dt), lax.convert_element_type(x2, new_dtype=dt))


divide = true_divide


def power(x1, x2, /):
    """Elementwise ``x1 ** x2``."""
    if isinstance(x2, int) and not isinstance(x2, bool):
        return lax.integer_pow(x1, x2)
    return lax.pow(x1, x2)


def negative(x, /):
    """Elementwise ``-x``."""
    return lax.neg(x)


def positive(x, /):
    """Elementwise ``+x``."""
    return x


exp, log, tanh, sin, cos, sqrt = lax.exp, lax.log, lax.tanh, lax.sin, lax.cos, lax.sqrt
absolute = abs = lax.abs
equal, not_equal, less, less_equal, greater, greater_equal = (
    lax.eq, lax.ne, lax.lt, lax.le, lax.gt, lax.ge)
bitwise_and, bitwise_or, bitwise_xor, invert = lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor, lax.bitwise_not
maximum, minimum = lax.max, lax.min
