"""Reverse-mode templates (``vjp`` slot) of the lax primitives.

Each template is Python source the reverse transformation instantiates at a
call site (see ``s2s.transforms.templates``): ``ans`` is the result, the other
parameters mirror the primitive's wrapper, ``d[x]`` is the adjoint of ``x``.
``unbroadcast`` sums an adjoint back to its operand's shape; the transformation
drops it when the shapes are known to agree.
"""
from s2s import lax
from s2s.lax.core import d, def_vjp, def_zero_derivative

# Helpers the templates name (bound by the transformation, listed for linters).
np = lax_ = unbroadcast = max_grad_share = None

# Zero derivative: comparisons, rounding, bit operations, integer results.
def_zero_derivative(
    lax.eq, lax.ne, lax.lt, lax.le, lax.gt, lax.ge, lax.sign, lax.floor, lax.ceil, lax.round,
    lax.is_finite, lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor, lax.bitwise_not,
    lax.shift_left, lax.shift_right_logical, lax.shift_right_arithmetic, lax.population_count,
)


@def_vjp(lax.neg)
def _neg(ans, x):
    d[x] = -d[ans]


@def_vjp(lax.add)
def _add(ans, x, y):
    d[x] = unbroadcast(d[ans], x)
    d[y] = unbroadcast(d[ans], y)


@def_vjp(lax.sub)
def _sub(ans, x, y):
    d[x] = unbroadcast(d[ans], x)
    d[y] = unbroadcast(-d[ans], y)


@def_vjp(lax.mul)
def _mul(ans, x, y):
    d[x] = unbroadcast(d[ans] * y, x)
    d[y] = unbroadcast(d[ans] * x, y)


@def_vjp(lax.div)
def _div(ans, x, y):
    d[x] = unbroadcast(d[ans] / y, x)
    d[y] = unbroadcast(-d[ans] * ans / y, y)


@def_vjp(lax.pow)
def _pow(ans, x, y):
    d[x] = unbroadcast(d[ans] * y * x ** (y - 1), x)
    d[y] = unbroadcast(d[ans] * ans * np.log(np.where(x == 0, 1, x)), y)


@def_vjp(lax.integer_pow)
def _integer_pow(ans, x, y):
    if y == 0:
        d[x] = d[ans] * 0
    elif y == 1:
        d[x] = d[ans]
    elif y == 2:
        d[x] = d[ans] * 2 * x
    else:
        d[x] = d[ans] * y * x ** (y - 1)


@def_vjp(lax.exp)
def _exp(ans, x):
    d[x] = d[ans] * ans


@def_vjp(lax.exp2)
def _exp2(ans, x):
    d[x] = d[ans] * ans * 0.6931471805599453


@def_vjp(lax.log)
def _log(ans, x):
    d[x] = d[ans] / x


@def_vjp(lax.log1p)
def _log1p(ans, x):
    d[x] = d[ans] / (1 + x)


@def_vjp(lax.expm1)
def _expm1(ans, x):
    d[x] = d[ans] * (ans + 1)


@def_vjp(lax.tanh)
def _tanh(ans, x):
    d[x] = d[ans] * (1 - ans * ans)


@def_vjp(lax.logistic)
def _logistic(ans, x):
    d[x] = d[ans] * ans * (1 - ans)


@def_vjp(lax.sin)
def _sin(ans, x):
    d[x] = d[ans] * np.cos(x)


@def_vjp(lax.cos)
def _cos(ans, x):
    d[x] = -d[ans] * np.sin(x)


@def_vjp(lax.tan)
def _tan(ans, x):
    d[x] = d[ans] * (1 + ans * ans)


@def_vjp(lax.asin)
def _asin(ans, x):
    d[x] = d[ans] / np.sqrt(1 - x * x)


@def_vjp(lax.acos)
def _acos(ans, x):
    d[x] = -d[ans] / np.sqrt(1 - x * x)


@def_vjp(lax.atan)
def _atan(ans, x):
    d[x] = d[ans] / (1 + x * x)


@def_vjp(lax.sinh)
def _sinh(ans, x):
    d[x] = d[ans] * np.cosh(x)


@def_vjp(lax.cosh)
def _cosh(ans, x):
    d[x] = d[ans] * np.sinh(x)


@def_vjp(lax.asinh)
def _asinh(ans, x):
    d[x] = d[ans] / np.sqrt(x * x + 1)


@def_vjp(lax.acosh)
def _acosh(ans, x):
    d[x] = d[ans] / np.sqrt(x * x - 1)


@def_vjp(lax.atanh)
def _atanh(ans, x):
    d[x] = d[ans] / (1 - x * x)


@def_vjp(lax.sqrt)
def _sqrt(ans, x):
    d[x] = d[ans] * 0.5 / ans


@def_vjp(lax.rsqrt)
def _rsqrt(ans, x):
    d[x] = d[ans] * -0.5 * ans / x


@def_vjp(lax.cbrt)
def _cbrt(ans, x):
    d[x] = d[ans] / (3 * ans * ans)


@def_vjp(lax.abs)
def _abs(ans, x):
    d[x] = d[ans] * np.sign(x)


@def_vjp(lax.max)
def _max(ans, x, y):
    d[x] = unbroadcast(d[ans] * max_grad_share(x, y), x)
    d[y] = unbroadcast(d[ans] * max_grad_share(y, x), y)


@def_vjp(lax.min)
def _min(ans, x, y):
    d[x] = unbroadcast(d[ans] * max_grad_share(y, x), x)
    d[y] = unbroadcast(d[ans] * max_grad_share(x, y), y)


@def_vjp(lax.atan2)
def _atan2(ans, x, y):
    d[x] = unbroadcast(d[ans] * y / (x * x + y * y), x)
    d[y] = unbroadcast(-d[ans] * x / (x * x + y * y), y)


@def_vjp(lax.erf)
def _erf(ans, x):
    d[x] = d[ans] * 1.1283791670955126 * np.exp(-x * x)


@def_vjp(lax.erfc)
def _erfc(ans, x):
    d[x] = -d[ans] * 1.1283791670955126 * np.exp(-x * x)


@def_vjp(lax.erf_inv)
def _erf_inv(ans, x):
    d[x] = d[ans] * 0.886226925452758 * np.exp(ans * ans)


@def_vjp(lax.lgamma)
def _lgamma(ans, x):
    d[x] = d[ans] * lax.digamma(x)


def_zero_derivative(lax.stop_gradient)


def _mark_elementwise():
    """Elementwise primitives keep their operands' (broadcast) shape."""
    from s2s.lax import elementwise
    from s2s.lax.core import Primitive
    for value in vars(elementwise).values():
        if isinstance(value, Primitive):
            value.elementwise = True


_mark_elementwise()
