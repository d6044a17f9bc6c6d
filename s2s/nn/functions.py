"""Activation functions and friends, with ``jax.nn``'s semantics, on ``s2s.lax``.

Integer inputs compute in the default float dtype (``relu`` keeps integers, as in
``jax.nn``); float32 stays float32.

>>> from s2s import nn
>>> nn.relu([-1.0, 2.0])
array([0., 2.], dtype=float32)
"""
import math

from s2s import dtypes, lax
from s2s.errors import DtypeError, ShapeError
from s2s.lax.shapes import canonicalize_axis
from s2s.scipy import _lax_helpers as h
from s2s.scipy import special

__all__ = [
    "identity", "relu", "relu6", "sigmoid", "log_sigmoid", "softplus", "silu", "swish",
    "gelu", "elu", "leaky_relu", "celu", "selu", "hard_tanh", "hard_sigmoid", "hard_silu",
    "hard_swish", "soft_sign", "mish", "squareplus", "glu", "softmax", "log_softmax",
    "logsumexp", "one_hot", "standardize",
]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _inexact(name, x):
    return h.promote_inexact(name, x)[0]


def identity(x):
    """Returns ``x`` unchanged (as an array).

    >>> from s2s import nn
    >>> nn.identity(2.0)
    array(2., dtype=float32)
    """
    return h.convert(x, h.dtype_of(x))


def relu(x):
    """``max(x, 0)``; integers stay integers.

    >>> from s2s import nn
    >>> nn.relu([-2, 3])
    array([0, 3], dtype=int32)
    """
    return lax.max(x, 0)


def relu6(x):
    """``min(max(x, 0), 6)``.

    >>> from s2s import nn
    >>> nn.relu6([-1.0, 3.0, 9.0])
    array([0., 3., 6.], dtype=float32)
    """
    return lax.min(lax.max(x, 0), 6.0)


def sigmoid(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))``.

    >>> from s2s import nn
    >>> nn.sigmoid(0.0)
    array(0.5, dtype=float32)
    """
    return lax.logistic(x)


def softplus(x):
    """``log(1 + exp(x))``, computed without overflow.

    >>> from s2s import nn
    >>> nn.softplus([0.0, 1000.0])
    array([6.931472e-01, 1.000000e+03], dtype=float32)
    """
    x = _inexact("softplus", x)
    return lax.add(lax.max(x, 0), lax.log1p(lax.exp(lax.neg(lax.abs(x)))))


def log_sigmoid(x):
    """``log(sigmoid(x)) = -softplus(-x)``, accurate for very negative ``x``.

    >>> from s2s import nn
    >>> nn.log_sigmoid(-1000.0)
    array(-1000., dtype=float32)
    """
    return lax.neg(softplus(lax.neg(_inexact("log_sigmoid", x))))


def silu(x):
    """The SiLU (swish) activation ``x * sigmoid(x)``.

    >>> from s2s import nn
    >>> nn.silu(0.0)
    array(0., dtype=float32)
    """
    x = _inexact("silu", x)
    return lax.mul(x, lax.logistic(x))


swish = silu


def gelu(x, approximate=True):
    """The GELU activation; the tanh approximation by default, as ``jax.nn.gelu``.

    ``approximate=False`` gives the exact ``x * ndtr(x)``.

    >>> from s2s import nn
    >>> nn.gelu([0.0, 1.0], approximate=False)
    array([0.       , 0.8413447], dtype=float32)
    """
    x = _inexact("gelu", x)
    if approximate:
        inner = lax.mul(math.sqrt(2 / math.pi), lax.add(x, lax.mul(0.044715, lax.integer_pow(x, 3))))
        return lax.mul(x, lax.mul(0.5, lax.add(1.0, lax.tanh(inner))))
    return lax.mul(lax.mul(0.5, x), lax.erfc(lax.mul(lax.neg(x), math.sqrt(0.5))))


def elu(x, alpha=1.0):
    """``x`` where positive, ``alpha * (exp(x) - 1)`` elsewhere.

    >>> from s2s import nn
    >>> nn.elu([-1.0, 2.0])
    array([-0.63212055,  2.        ], dtype=float32)
    """
    x = _inexact("elu", x)
    positive = lax.gt(x, 0)
    safe = h.where(positive, 0, x)
    return h.where(positive, x, lax.mul(alpha, lax.expm1(safe)))


def leaky_relu(x, negative_slope=1e-2):
    """``x`` where non-negative, ``negative_slope * x`` elsewhere.

    >>> from s2s import nn
    >>> nn.leaky_relu([-1.0, 2.0])
    array([-0.01,  2.  ], dtype=float32)
    """
    x = _inexact("leaky_relu", x)
    return h.where(lax.ge(x, 0), x, lax.mul(negative_slope, x))


def celu(x, alpha=1.0):
    """``max(x, 0) + alpha * expm1(min(x, 0) / alpha)``.

    >>> from s2s import nn
    >>> nn.celu([-1.0, 2.0], alpha=2.0)
    array([-0.78693867,  2.        ], dtype=float32)
    """
    x = _inexact("celu", x)
    return lax.add(lax.max(x, 0), lax.mul(alpha, lax.expm1(lax.div(lax.min(x, 0), alpha))))


def selu(x):
    """The scaled ELU of Klambauer et al., ``scale * elu(x, alpha)`` with fixed constants.

    >>> from s2s import nn
    >>> nn.selu([0.0, 1.0])
    array([0.      , 1.050701], dtype=float32)
    """
    return lax.mul(_SELU_SCALE, elu(x, _SELU_ALPHA))


def hard_tanh(x):
    """``x`` clipped to ``[-1, 1]`` (integers stay integers).

    >>> from s2s import nn
    >>> nn.hard_tanh([-3.0, 0.5, 3.0])
    array([-1. ,  0.5,  1. ], dtype=float32)
    """
    return lax.max(lax.min(x, 1), -1)


def hard_sigmoid(x):
    """``relu6(x + 3) / 6``.

    >>> from s2s import nn
    >>> nn.hard_sigmoid(0.0)
    array(0.5, dtype=float32)
    """
    return lax.div(relu6(lax.add(_inexact("hard_sigmoid", x), 3.0)), 6.0)


def hard_silu(x):
    """``x * hard_sigmoid(x)``.

    >>> from s2s import nn
    >>> nn.hard_silu(3.0)
    array(3., dtype=float32)
    """
    x = _inexact("hard_silu", x)
    return lax.mul(x, hard_sigmoid(x))


hard_swish = hard_silu


def soft_sign(x):
    """``x / (|x| + 1)``.

    >>> from s2s import nn
    >>> nn.soft_sign(1.0)
    array(0.5, dtype=float32)
    """
    x = _inexact("soft_sign", x)
    return lax.div(x, lax.add(lax.abs(x), 1))


def mish(x):
    """``x * tanh(softplus(x))``.

    >>> from s2s import nn
    >>> nn.mish(0.0)
    array(0., dtype=float32)
    """
    x = _inexact("mish", x)
    return lax.mul(x, lax.tanh(softplus(x)))


def squareplus(x, b=4):
    """``(x + sqrt(x**2 + b)) / 2``, a smooth ReLU.

    >>> from s2s import nn
    >>> nn.squareplus(0.0)
    array(1., dtype=float32)
    """
    x = _inexact("squareplus", x)
    return lax.div(lax.add(x, lax.sqrt(lax.add(lax.mul(x, x), b))), 2)


def glu(x, axis=-1):
    """Gated linear unit: splits ``x`` in two halves along ``axis``, ``a * sigmoid(b)``.

    >>> from s2s import nn
    >>> nn.glu([2.0, 0.0])
    array([1.], dtype=float32)
    """
    x = _inexact("glu", x)
    shape = h.shape_of(x)
    axis = canonicalize_axis("glu", axis, len(shape))
    if shape[axis] % 2:
        raise ShapeError(f"glu: axis {axis} of shape {shape} must have an even size")
    half = shape[axis] // 2
    starts = [0] * len(shape)
    first = lax.slice(x, start_indices=tuple(starts), limit_indices=tuple(
        half if i == axis else d for i, d in enumerate(shape)))
    starts[axis] = half
    second = lax.slice(x, start_indices=tuple(starts), limit_indices=shape)
    return lax.mul(first, lax.logistic(second))


def softmax(x, axis=-1):
    """``exp(x) / sum(exp(x), axis)``, computed stably (``axis`` defaults to the last).

    >>> from s2s import nn
    >>> nn.softmax([[0.0, 0.0], [0.0, 0.0]])
    array([[0.5, 0.5],
           [0.5, 0.5]], dtype=float32)
    """
    return special.softmax(x, axis=axis)


def log_softmax(x, axis=-1):
    """``x - logsumexp(x, axis, keepdims=True)`` (``axis`` defaults to the last).

    >>> from s2s import nn
    >>> nn.log_softmax([0.0, 0.0])
    array([-0.6931472, -0.6931472], dtype=float32)
    """
    return special.log_softmax(x, axis=axis)


def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a), axis))``; the same function as ``s2s.scipy.special.logsumexp``.

    >>> from s2s import nn
    >>> nn.logsumexp([0.0, 0.0])
    array(0.6931472, dtype=float32)
    """
    return special.logsumexp(a, axis=axis, b=b, keepdims=keepdims, return_sign=return_sign)


def one_hot(x, num_classes, *, dtype=None, axis=-1):
    """One-hot encodes integer ``x`` along a new ``axis``; out-of-range indices give zeros.

    >>> from s2s import nn
    >>> nn.one_hot([0, 2, 5], 3)
    array([[1., 0., 0.],
           [0., 0., 1.],
           [0., 0., 0.]], dtype=float32)
    """
    if not isinstance(num_classes, int) or isinstance(num_classes, bool) or num_classes < 0:
        raise TypeError(f"one_hot: num_classes must be a non-negative Python int, got {num_classes!r}")
    dtype = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    x_dtype = h.dtype_of(x)
    if dtypes.is_complex(x_dtype):
        raise DtypeError(f"one_hot: indices must be integers, got {x_dtype.name}")
    shape = h.shape_of(x)
    out_axis = canonicalize_axis("one_hot", axis, len(shape) + 1)
    lhs = lax.expand_dims(x, dimensions=(out_axis,))
    iota_shape = tuple(num_classes if i == out_axis else 1 for i in range(len(shape) + 1))
    iota_dtype = x_dtype if x_dtype != dtypes.bool_ else dtypes.default_int_dtype()
    rhs = lax.broadcasted_iota(dtype=iota_dtype, shape=iota_shape, dimension=out_axis)
    return lax.convert_element_type(lax.eq(lhs, rhs), new_dtype=dtype)


def standardize(x, axis=-1, mean=None, variance=None, epsilon=1e-5):
    """``(x - mean) / sqrt(variance + epsilon)`` with the statistics taken over ``axis``.

    As in ``jax.nn``, the variance defaults to ``mean(x**2) - mean(x)**2`` (clipped
    at 0); pass ``mean``/``variance`` to use given statistics.

    >>> from s2s import nn
    >>> nn.standardize([1.0, 3.0], epsilon=0.0)
    array([-1.,  1.], dtype=float32)
    """
    x = _inexact("standardize", x)
    axes = h.reduction_axes("standardize", axis, len(h.shape_of(x)))
    if mean is None:
        mean = h.mean(x, axes, keepdims=True)
    if variance is None:
        variance = lax.sub(h.mean(lax.mul(x, x), axes, keepdims=True), lax.mul(mean, mean))
        variance = lax.max(variance, 0)
    return lax.mul(lax.sub(x, mean), lax.rsqrt(lax.add(variance, epsilon)))
