"""Parameter initializers with ``jax.nn.initializers``' API and values.

An initializer is a function ``init(key, shape, dtype=float32)``; the factories
here (``normal(stddev)``, ``glorot_uniform()``...) build them. They draw from
``s2s.random``, so for the same key they give the same arrays as JAX.

>>> from s2s import random
>>> from s2s.nn import initializers
>>> w = initializers.glorot_normal()(random.PRNGKey(0), (3, 2))
>>> w.shape, w.dtype
((3, 2), dtype('float32'))
"""
import math

import numpy as onp

from s2s import dtypes, lax, random
from s2s.errors import ShapeError
from s2s.scipy import _lax_helpers as h

__all__ = [
    "zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "variance_scaling",
    "glorot_normal", "glorot_uniform", "xavier_normal", "xavier_uniform", "he_normal",
    "he_uniform", "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform",
    "orthogonal",
]

# The standard deviation of a standard normal truncated to (-2, 2).
_TRUNCATED_STDDEV = 0.87962566103423978


def _dtype(dtype):
    if dtype is None:
        return dtypes.default_float_dtype()
    return dtypes.canonicalize_dtype(dtype)


def _shape(shape):
    return h.static_shape("initializer", shape)


def zeros(key, shape, dtype=None):
    """An array of zeros (the key is ignored).

    >>> from s2s import random
    >>> zeros(random.PRNGKey(0), (2,))
    array([0., 0.], dtype=float32)
    """
    return h.full(0, _shape(shape), _dtype(dtype))


def ones(key, shape, dtype=None):
    """An array of ones (the key is ignored).

    >>> from s2s import random
    >>> ones(random.PRNGKey(0), (2,))
    array([1., 1.], dtype=float32)
    """
    return h.full(1, _shape(shape), _dtype(dtype))


def constant(value, dtype=None):
    """An initializer that fills arrays with ``value``.

    >>> from s2s import random
    >>> constant(-7.0)(random.PRNGKey(0), (2,))
    array([-7., -7.], dtype=float32)
    """
    def init(key, shape, dtype=dtype):
        return h.full(value, _shape(shape), _dtype(dtype))
    return init


def _scaled(sample, factor, dtype):
    return lax.mul(sample, onp.asarray(factor, dtype))


def normal(stddev=1e-2, dtype=None):
    """An initializer drawing from a normal distribution with mean 0 and ``stddev``.

    >>> from s2s import random
    >>> normal(1.0)(random.PRNGKey(0), (3,))
    array([ 1.6226422 ,  2.0252647 , -0.43359444], dtype=float32)
    """
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        return _scaled(random.normal(key, _shape(shape), dt), stddev, dt)
    return init


def uniform(scale=1e-2, dtype=None):
    """An initializer drawing uniformly from ``[0, scale)``.

    >>> from s2s import random
    >>> uniform(1.0)(random.PRNGKey(0), (2,))
    array([0.947667 , 0.9785799], dtype=float32)
    """
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        return _scaled(random.uniform(key, _shape(shape), dt), scale, dt)
    return init


def truncated_normal(stddev=1e-2, dtype=None, lower=-2.0, upper=2.0):
    """An initializer drawing from a normal truncated to ``(lower, upper)``, times ``stddev``.

    ``stddev`` is the standard deviation before truncation (no correction applied).

    >>> from s2s import random
    >>> w = truncated_normal(1.0)(random.PRNGKey(0), (1000,))
    >>> bool(abs(w).max() < 2.0)
    True
    """
    def init(key, shape, dtype=dtype):
        dt = _dtype(dtype)
        return _scaled(random.truncated_normal(key, lower, upper, _shape(shape), dt), stddev, dt)
    return init


def _size(shape, axes):
    if isinstance(axes, int):
        return shape[axes]
    return math.prod(shape[i] for i in axes)


def _fans(shape, in_axis, out_axis, batch_axis):
    """``(fan_in, fan_out)``: in/out sizes times the receptive field (the remaining dims)."""
    if isinstance(in_axis, int) and in_axis == -2 and len(shape) <= 1:
        raise ShapeError(f"variance_scaling: cannot tell the input size of a {len(shape)}-d "
                         f"weight of shape {shape} with the default in_axis=-2; give in_axis "
                         "(and out_axis) explicitly or use an at least 2-d shape")
    try:
        in_size, out_size = _size(shape, in_axis), _size(shape, out_axis)
        batch_size = _size(shape, batch_axis)
    except IndexError:
        raise ShapeError(f"variance_scaling: in_axis={in_axis}, out_axis={out_axis}, "
                         f"batch_axis={batch_axis} do not fit shape {shape}") from None
    receptive = math.prod(shape) / in_size / out_size / batch_size
    return in_size * receptive, out_size * receptive


_MODES = {
    "fan_in": lambda fan_in, fan_out: fan_in,
    "fan_out": lambda fan_in, fan_out: fan_out,
    "fan_avg": lambda fan_in, fan_out: (fan_in + fan_out) / 2,
    "fan_geo_avg": lambda fan_in, fan_out: (fan_in * fan_out) ** 0.5,
}
_DISTRIBUTIONS = ("truncated_normal", "normal", "uniform")


def variance_scaling(scale, mode, distribution, in_axis=-2, out_axis=-1, batch_axis=(),
                     dtype=None):
    """An initializer with variance ``scale / n``, ``n`` from the weight's fans (``mode``).

    ``mode`` is ``"fan_in"``, ``"fan_out"``, ``"fan_avg"`` or ``"fan_geo_avg"``;
    ``distribution`` is ``"truncated_normal"`` (rescaled so the variance holds),
    ``"normal"`` or ``"uniform"``. Dimensions other than ``in_axis``, ``out_axis``
    and ``batch_axis`` form the receptive field (convolution kernels).

    >>> from s2s import random
    >>> w = variance_scaling(2.0, "fan_in", "normal")(random.PRNGKey(0), (400, 300))
    >>> round(float(w.var() * 400), 1)
    2.0
    """
    if mode not in _MODES:
        raise ValueError(f"variance_scaling: invalid mode {mode!r}; use one of {sorted(_MODES)}")
    if distribution not in _DISTRIBUTIONS:
        raise ValueError(f"variance_scaling: invalid distribution {distribution!r}; use one of "
                         f"{list(_DISTRIBUTIONS)}")

    def init(key, shape, dtype=dtype):
        shape, dt = _shape(shape), _dtype(dtype)
        variance = onp.asarray(scale / _MODES[mode](*_fans(shape, in_axis, out_axis, batch_axis)), dt)
        if distribution == "truncated_normal":
            stddev = onp.sqrt(variance) / onp.asarray(_TRUNCATED_STDDEV, dt)
            return lax.mul(random.truncated_normal(key, -2, 2, shape, dt), stddev)
        if distribution == "normal":
            return lax.mul(random.normal(key, shape, dt), onp.sqrt(variance))
        return lax.mul(random.uniform(key, shape, dt, -1), onp.sqrt(3 * variance))

    return init


def _preset(scale, mode, distribution, summary):
    def factory(in_axis=-2, out_axis=-1, batch_axis=(), dtype=None):
        return variance_scaling(scale, mode, distribution, in_axis, out_axis, batch_axis, dtype)
    factory.__doc__ = (f"{summary}: ``variance_scaling({scale}, {mode!r}, {distribution!r})``.\n\n"
                       "    >>> from s2s import random\n"
                       f"    >>> {{name}}()(random.PRNGKey(0), (4, 3)).shape\n"
                       "    (4, 3)\n")
    return factory


def _named(factory, name):
    factory.__name__ = factory.__qualname__ = name
    factory.__doc__ = factory.__doc__.replace("{name}", name)
    return factory


glorot_uniform = _named(_preset(1.0, "fan_avg", "uniform", "Glorot (Xavier) uniform"), "glorot_uniform")
glorot_normal = _named(_preset(1.0, "fan_avg", "truncated_normal", "Glorot (Xavier) normal"), "glorot_normal")
lecun_uniform = _named(_preset(1.0, "fan_in", "uniform", "LeCun uniform"), "lecun_uniform")
lecun_normal = _named(_preset(1.0, "fan_in", "truncated_normal", "LeCun normal"), "lecun_normal")
he_uniform = _named(_preset(2.0, "fan_in", "uniform", "He (Kaiming) uniform"), "he_uniform")
he_normal = _named(_preset(2.0, "fan_in", "truncated_normal", "He (Kaiming) normal"), "he_normal")
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal
kaiming_uniform, kaiming_normal = he_uniform, he_normal


def _orthonormal_columns(z):
    """Gram-Schmidt (twice, for accuracy) on the columns of ``z``: the ``Q`` of ``QR``
    with a positive diagonal in ``R``."""
    rows, cols = h.shape_of(z)
    q = h.full(0, (rows, cols), h.dtype_of(z))
    contract = (((0,), (0,)), ((), ()))
    for j in range(cols):
        v = lax.reshape(lax.slice(z, start_indices=(0, j), limit_indices=(rows, j + 1)), new_sizes=(rows,))
        for _ in range(2):
            coeffs = lax.dot_general(q, v, dimension_numbers=contract)
            v = lax.sub(v, lax.dot_general(q, coeffs, dimension_numbers=(((1,), (0,)), ((), ()))))
        v = lax.mul(v, lax.rsqrt(lax.reduce_sum(lax.mul(v, v), axes=(0,))))
        q = lax.dynamic_update_slice(q, lax.reshape(v, new_sizes=(rows, 1)), (onp.int32(0), onp.int32(j)))
    return q


def orthogonal(scale=1.0, column_axis=-1, dtype=None):
    """An initializer of (semi-)orthogonal matrices, times ``scale``, as ``jax.nn.initializers``.

    The weight is viewed as a matrix with ``shape[column_axis]`` columns; its rows
    (or columns, whichever are fewer) come out orthonormal.

    >>> import numpy as np
    >>> from s2s import random
    >>> w = orthogonal()(random.PRNGKey(0), (3, 3))
    >>> bool(np.allclose(w @ w.T, np.eye(3), atol=1e-5))
    True
    """
    def init(key, shape, dtype=dtype):
        shape, dt = _shape(shape), _dtype(dtype)
        if len(shape) < 2:
            raise ShapeError(f"orthogonal: needs an at least 2-d shape, got {shape}")
        if 0 in shape:
            return h.full(0, shape, dt)
        axis = column_axis % len(shape)
        n_cols = shape[axis]
        n_rows = math.prod(shape) // n_cols
        z = random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), dt)
        q = _orthonormal_columns(z)
        if n_rows < n_cols:
            q = lax.transpose(q, permutation=(1, 0))
        rest = tuple(d for i, d in enumerate(shape) if i != axis)
        q = lax.reshape(q, new_sizes=rest + (n_cols,))
        perm = list(range(len(rest)))
        perm.insert(axis, len(rest))
        return lax.mul(onp.asarray(scale, dt), lax.transpose(q, permutation=tuple(perm)))
    return init
