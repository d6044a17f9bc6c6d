"""``stax``: neural-network layers as ``(init_fun, apply_fun)`` pairs, as ``jax.example_libraries.stax``.

A layer constructor returns two functions:

* ``init_fun(rng, input_shape) -> (output_shape, params)`` draws the parameters
  from ``s2s.random`` (the same values as JAX for the same key);
* ``apply_fun(params, inputs, **kwargs) -> outputs``; ``rng=key`` is passed on to
  layers that need randomness (``Dropout``).

Combinators (``serial``, ``parallel``, ``FanOut``, ``FanInSum``, ``FanInConcat``,
``shape_dependent``) build networks from layers; ``apply_fun`` is plain s2s code,
so ``s2s.grad``, ``s2s.jit`` and their compositions work through it.

>>> import numpy as np
>>> from s2s import random
>>> from s2s.example_libraries import stax
>>> init, apply = stax.serial(stax.Dense(4), stax.Relu, stax.Dense(2), stax.LogSoftmax)
>>> out_shape, params = init(random.PRNGKey(0), (-1, 3))
>>> out_shape
(-1, 2)
>>> apply(params, np.ones((5, 3), np.float32)).shape
(5, 2)
"""
import functools
import math

import s2s.numpy as np
from s2s import lax, random
from s2s.nn import elu, gelu, leaky_relu, log_softmax, relu, selu, sigmoid, softmax, softplus
from s2s.nn import standardize
from s2s.nn.initializers import glorot_normal, normal, ones, zeros

__all__ = [
    "Dense", "GeneralConv", "Conv", "Conv1DTranspose", "ConvTranspose", "GeneralConvTranspose",
    "BatchNorm", "elementwise", "Tanh", "Relu", "Exp", "LogSoftmax", "Softmax", "Softplus",
    "Sigmoid", "Elu", "LeakyRelu", "Selu", "Gelu", "MaxPool", "SumPool", "AvgPool", "Flatten",
    "Identity", "FanOut", "FanInSum", "FanInConcat", "Dropout", "serial", "parallel",
    "shape_dependent", "glorot", "randn", "logsoftmax",
]

# JAX's older names, kept so that old programs run.
glorot = glorot_normal
randn = normal
logsoftmax = log_softmax


def Dense(out_dim, W_init=glorot_normal(), b_init=normal()):
    """A fully connected layer: ``inputs @ W + b``.

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.Dense(3)
    >>> shape, (W, b) = init(random.PRNGKey(0), (2, 5))
    >>> shape, W.shape, b.shape
    ((2, 3), (5, 3), (3,))
    """
    def init_fun(rng, input_shape):
        k1, k2 = random.split(rng)
        params = (W_init(k1, (input_shape[-1], out_dim)), b_init(k2, (out_dim,)))
        return tuple(input_shape[:-1]) + (out_dim,), params

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        return np.dot(inputs, W) + b

    return init_fun, apply_fun


def _kernel_shape(rhs_spec, lhs_spec, out_chan, filter_shape, input_shape):
    # The kernel layout's spatial letters take filter_shape in order; 'O' and 'I'
    # take the output channels and the input's channel dimension.
    spatial = iter(filter_shape)
    in_chan = input_shape[lhs_spec.index("C")]
    return [out_chan if c == "O" else in_chan if c == "I" else next(spatial) for c in rhs_spec]


def _conv_layer(shape_tuple, convolve, dimension_numbers, out_chan, filter_shape, strides,
                padding, W_init, b_init):
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    strides = tuple(strides or (1,) * len(filter_shape))
    W_init = W_init or glorot_normal(rhs_spec.index("I"), rhs_spec.index("O"))

    def init_fun(rng, input_shape):
        kernel_shape = _kernel_shape(rhs_spec, lhs_spec, out_chan, filter_shape, input_shape)
        output_shape = shape_tuple(input_shape, kernel_shape, strides, padding, dimension_numbers)
        bias_shape = [out_chan if c == "C" else 1 for c in out_spec]
        k1, k2 = random.split(rng)
        return output_shape, (W_init(k1, kernel_shape), b_init(k2, bias_shape))

    def apply_fun(params, inputs, **kwargs):
        W, b = params
        return convolve(inputs, W, strides, padding, dimension_numbers) + b

    return init_fun, apply_fun


def _convolve(inputs, W, strides, padding, dimension_numbers):
    one = (1,) * len(strides)
    return lax.conv_general_dilated(inputs, W, window_strides=strides, padding=padding,
                                    lhs_dilation=one, rhs_dilation=one,
                                    dimension_numbers=dimension_numbers)


def _convolve_transpose(inputs, W, strides, padding, dimension_numbers):
    return lax.conv_transpose(inputs, W, strides, padding, dimension_numbers=dimension_numbers)


def GeneralConv(dimension_numbers, out_chan, filter_shape, strides=None, padding="VALID",
                W_init=None, b_init=normal(1e-6)):
    """A convolution layer with explicit layouts, e.g. ``('NHWC', 'HWIO', 'NHWC')``.

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.GeneralConv(("NCHW", "OIHW", "NCHW"), 4, (3, 3), padding="SAME")
    >>> init(random.PRNGKey(0), (1, 2, 5, 5))[0]
    (1, 4, 5, 5)
    """
    return _conv_layer(lax.conv_general_shape_tuple, _convolve, dimension_numbers, out_chan,
                       filter_shape, strides, padding, W_init, b_init)


def GeneralConvTranspose(dimension_numbers, out_chan, filter_shape, strides=None,
                         padding="VALID", W_init=None, b_init=normal(1e-6)):
    """A transposed-convolution layer with explicit layouts (``lax.conv_transpose``).

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.ConvTranspose(3, (2, 2), strides=(2, 2))
    >>> init(random.PRNGKey(0), (1, 4, 4, 2))[0]
    (1, 8, 8, 3)
    """
    return _conv_layer(lax.conv_transpose_shape_tuple, _convolve_transpose, dimension_numbers,
                       out_chan, filter_shape, strides, padding, W_init, b_init)


Conv = functools.partial(GeneralConv, ("NHWC", "HWIO", "NHWC"))
Conv.__doc__ = "A 2-d convolution layer on NHWC inputs with HWIO kernels (``GeneralConv``)."
Conv1DTranspose = functools.partial(GeneralConvTranspose, ("NHC", "HIO", "NHC"))
Conv1DTranspose.__doc__ = "A 1-d transposed convolution on NHC inputs (``GeneralConvTranspose``)."
ConvTranspose = functools.partial(GeneralConvTranspose, ("NHWC", "HWIO", "NHWC"))
ConvTranspose.__doc__ = "A 2-d transposed convolution on NHWC inputs (``GeneralConvTranspose``)."


def _expand_params(p, axis, ndim):
    # Parameters have the non-normalized dimensions only; index them so that they
    # broadcast against the input.
    return p[tuple(None if i in axis else slice(None) for i in range(ndim))]


def BatchNorm(axis=(0, 1, 2), epsilon=1e-5, center=True, scale=True, beta_init=zeros,
              gamma_init=ones):
    """Batch normalization over ``axis``, with a learned shift ``beta`` and scale ``gamma``.

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.BatchNorm(axis=(0,))
    >>> shape, (beta, gamma) = init(random.PRNGKey(0), (8, 3))
    >>> beta.shape, gamma.shape
    ((3,), (3,))
    """
    axis = (axis,) if np.isscalar(axis) else tuple(axis)

    def init_fun(rng, input_shape):
        shape = tuple(d for i, d in enumerate(input_shape) if i not in axis)
        k1, k2 = random.split(rng)
        beta = beta_init(k1, shape) if center else ()
        gamma = gamma_init(k2, shape) if scale else ()
        return input_shape, (beta, gamma)

    def apply_fun(params, x, **kwargs):
        beta, gamma = params
        z = standardize(x, axis, epsilon=epsilon)
        if scale:
            z = _expand_params(gamma, axis, np.ndim(x)) * z
        if center:
            z = z + _expand_params(beta, axis, np.ndim(x))
        return z

    return init_fun, apply_fun


def elementwise(fun, **fun_kwargs):
    """A layer without parameters that applies ``fun(inputs, **fun_kwargs)``.

    >>> from s2s import nn
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.elementwise(nn.leaky_relu, negative_slope=0.5)
    >>> apply((), np.array([-1.0, 2.0], np.float32))
    array([-0.5,  2. ], dtype=float32)
    """
    # Bound once here, and only when there are keyword arguments: s2s.grad cannot
    # follow a call with **kwargs into fun.
    bound = functools.partial(fun, **fun_kwargs) if fun_kwargs else fun

    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return bound(inputs)

    return init_fun, apply_fun


Tanh = elementwise(np.tanh)
Relu = elementwise(relu)
Exp = elementwise(np.exp)
LogSoftmax = elementwise(log_softmax)  # axis=-1, log_softmax's default
Softmax = elementwise(softmax)  # axis=-1, softmax's default
Softplus = elementwise(softplus)
Sigmoid = elementwise(sigmoid)
Elu = elementwise(elu)
LeakyRelu = elementwise(leaky_relu)
Selu = elementwise(selu)
Gelu = elementwise(gelu)


def _pool_dims(window_shape, strides, spec):
    """Window and strides over every input dimension (1 on batch and channels)."""
    strides = tuple(strides or (1,) * len(window_shape))
    window = tuple(window_shape)
    non_spatial = (0, len(window) + 1) if spec is None else (spec.index("N"), spec.index("C"))
    for i in sorted(non_spatial):
        window = window[:i] + (1,) + window[i:]
        strides = strides[:i] + (1,) + strides[i:]
    return window, strides, non_spatial


def _pooling_layer(reduce_fn, normalize):
    def PoolingLayer(window_shape, strides=None, padding="VALID", spec=None):
        window, strides_, non_spatial = _pool_dims(window_shape, strides, spec)

        def init_fun(rng, input_shape):
            pads = lax.padtype_to_pads(input_shape, window, strides_, padding)
            return lax.reduce_window_shape_tuple(input_shape, window, strides_, pads), ()

        def apply_fun(params, inputs, **kwargs):
            out = reduce_fn(inputs, window_dimensions=window, window_strides=strides_,
                            padding=padding)
            if normalize:
                out = out / _window_sizes(inputs, window, strides_, padding, non_spatial)
            return out

        return init_fun, apply_fun

    return PoolingLayer


def _window_sizes(inputs, window, strides, padding, non_spatial):
    # How many input elements each output window covers (fewer at padded edges).
    spatial = tuple(d for i, d in enumerate(np.shape(inputs)) if i not in non_spatial)
    spatial_window = tuple(w for i, w in enumerate(window) if i not in non_spatial)
    spatial_strides = tuple(s for i, s in enumerate(strides) if i not in non_spatial)
    sizes = lax.reduce_window_sum(np.ones(spatial, np.result_type(inputs)),
                                  window_dimensions=spatial_window,
                                  window_strides=spatial_strides, padding=padding)
    return np.expand_dims(sizes, sorted(non_spatial))


MaxPool = _pooling_layer(lax.reduce_window_max, normalize=False)
MaxPool.__doc__ = "Max pooling over windows of the spatial dimensions (NHWC unless ``spec``)."
SumPool = _pooling_layer(lax.reduce_window_sum, normalize=False)
SumPool.__doc__ = "Sum pooling over windows of the spatial dimensions (NHWC unless ``spec``)."
AvgPool = _pooling_layer(lax.reduce_window_sum, normalize=True)
AvgPool.__doc__ = ("Average pooling over windows of the spatial dimensions; padded windows "
                   "average the elements they cover.")


def _flatten():
    def init_fun(rng, input_shape):
        return (input_shape[0], math.prod(input_shape[1:])), ()

    def apply_fun(params, inputs, **kwargs):
        return np.reshape(inputs, (np.shape(inputs)[0], -1))

    return init_fun, apply_fun


Flatten = _flatten()
"""Flattens all dimensions but the first (a layer, not a constructor)."""


def _identity():
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        return inputs

    return init_fun, apply_fun


Identity = _identity()
"""Returns its inputs (a layer, not a constructor)."""


def FanOut(num):
    """A layer that returns ``num`` copies of its input (for ``parallel`` branches).

    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.FanOut(2)
    >>> init(None, (3,))
    ([(3,), (3,)], ())
    """
    def init_fun(rng, input_shape):
        return [input_shape] * num, ()

    def apply_fun(params, inputs, **kwargs):
        copies = []  # built by append: s2s.grad does not differentiate list * int
        for _ in range(num):
            copies.append(inputs)
        return copies

    return init_fun, apply_fun


def _fan_in_sum():
    def init_fun(rng, input_shape):
        return input_shape[0], ()

    def apply_fun(params, inputs, **kwargs):
        total = inputs[0]
        for x in inputs[1:]:
            total = total + x
        return total

    return init_fun, apply_fun


FanInSum = _fan_in_sum()
"""Sums a list of inputs (a layer, not a constructor)."""


def FanInConcat(axis=-1):
    """A layer that concatenates a list of inputs along ``axis``.

    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.FanInConcat()
    >>> init(None, [(2, 3), (2, 4)])
    ((2, 7), ())
    """
    def init_fun(rng, input_shape):
        ax = axis % len(input_shape[0])
        size = sum(shape[ax] for shape in input_shape)
        first = tuple(input_shape[0])
        return first[:ax] + (size,) + first[ax + 1:], ()

    def apply_fun(params, inputs, **kwargs):
        return np.concatenate(inputs, axis)

    return init_fun, apply_fun


def Dropout(rate, mode="train"):
    """Dropout that keeps each input with probability ``rate`` (JAX's convention) in training.

    ``apply_fun`` needs ``rng=key`` in ``'train'`` mode; in any other mode it returns
    its inputs.

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.Dropout(0.5)
    >>> apply((), np.ones(4, np.float32), rng=random.PRNGKey(0)).shape
    (4,)
    """
    def init_fun(rng, input_shape):
        return input_shape, ()

    def apply_fun(params, inputs, **kwargs):
        if mode != "train":
            return inputs
        rng = kwargs.get("rng", None)
        if rng is None:
            raise ValueError("Dropout's apply_fun needs a PRNG key: call it as "
                             "apply_fun(params, inputs, rng=key) with a key from s2s.random")
        keep = random.bernoulli(rng, rate, np.shape(inputs))
        return np.where(keep, inputs / rate, 0)

    return init_fun, apply_fun


def _layer_rngs(kwargs, n):
    rng = kwargs.pop("rng", None)
    return [None] * n if rng is None else list(random.split(rng, n))


def serial(*layers):
    """Composes layers one after another.

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.serial(stax.Dense(2), stax.Tanh)
    >>> init(random.PRNGKey(1), (4, 3))[0]
    (4, 2)
    """
    init_funs = [init for init, _ in layers]
    apply_funs = [apply for _, apply in layers]

    def init_fun(rng, input_shape):
        params = []
        for init in init_funs:
            rng, layer_rng = random.split(rng)
            input_shape, param = init(layer_rng, input_shape)
            params.append(param)
        return input_shape, params

    def apply_fun(params, inputs, **kwargs):
        rngs = _layer_rngs(kwargs, len(apply_funs))
        for i in range(len(apply_funs)):
            inputs = apply_funs[i](params[i], inputs, rng=rngs[i], **kwargs)
        return inputs

    return init_fun, apply_fun


def parallel(*layers):
    """Applies layer ``i`` to input ``i`` of a list (often between ``FanOut`` and ``FanInSum``).

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.serial(stax.FanOut(2), stax.parallel(stax.Dense(3), stax.Identity),
    ...                           stax.FanInConcat())
    >>> init(random.PRNGKey(0), (1, 2))[0]
    (1, 5)
    """
    init_funs = [init for init, _ in layers]
    apply_funs = [apply for _, apply in layers]

    def init_fun(rng, input_shape):
        rngs = random.split(rng, len(init_funs))
        pairs = [init(r, shape) for init, r, shape in zip(init_funs, rngs, input_shape)]
        return tuple(shape for shape, _ in pairs), tuple(param for _, param in pairs)

    def apply_fun(params, inputs, **kwargs):
        rngs = _layer_rngs(kwargs, len(apply_funs))
        outputs = []
        for i in range(len(apply_funs)):
            outputs.append(apply_funs[i](params[i], inputs[i], rng=rngs[i], **kwargs))
        return outputs

    return init_fun, apply_fun


def shape_dependent(make_layer):
    """A layer built by ``make_layer(input_shape)`` once the input shape is known.

    >>> from s2s import random
    >>> from s2s.example_libraries import stax
    >>> init, apply = stax.shape_dependent(lambda shape: stax.Dense(shape[-1]))
    >>> init(random.PRNGKey(0), (2, 6))[0]
    (2, 6)
    """
    def init_fun(rng, input_shape):
        return make_layer(input_shape)[0](rng, input_shape)

    def apply_fun(params, inputs, **kwargs):
        return make_layer(np.shape(inputs))[1](params, inputs, **kwargs)

    return init_fun, apply_fun
