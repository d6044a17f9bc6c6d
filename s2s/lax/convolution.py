"""Convolution and window helpers built on the primitives, with ``jax.lax``'s signatures.

``conv_transpose`` is a fractionally strided ``conv_general_dilated`` (as in JAX: the
kernel is not flipped unless ``transpose_kernel=True``); the ``*_shape_tuple``
functions compute output shapes without running anything, which is what layer
libraries such as ``s2s.example_libraries.stax`` need at initialization.

>>> from s2s import lax
>>> lax.conv_general_shape_tuple((1, 8, 8, 3), (3, 3, 3, 16), (2, 2), "SAME",
...                              ("NHWC", "HWIO", "NHWC"))
(1, 4, 4, 16)
"""
from s2s.core.errors import ShapeError
from s2s.core.primitive import abstractify
from s2s.lax.linalg_ops import conv_dimension_numbers, conv_general_dilated
from s2s.lax.reductions import _dilate, padtype_to_pads
from s2s.lax.structural import rev, transpose

__all__ = ["conv", "conv_with_general_padding", "conv_shape_tuple", "conv_general_shape_tuple", "conv_transpose_shape_tuple",
           "conv_transpose", "reduce_window_shape_tuple"]

_DEFAULT_TRANSPOSE_LAYOUTS = {2: ("NC", "IO", "NC"), 3: ("NHC", "HIO", "NHC"),
                              4: ("NHWC", "HWIO", "NHWC"), 5: ("NHWDC", "HWDIO", "NHWDC")}


def _stride_dim(size, window, stride):
    # Number of window positions; 0 (not negative) when the window does not fit.
    return (size - window) // stride + 1 if size >= window else 0


def conv_shape_tuple(lhs_shape, rhs_shape, strides, pads, batch_group_count=1):
    """Output shape of a convolution in canonical (NC..., OI...) layouts.

    >>> from s2s import lax
    >>> lax.conv_shape_tuple((2, 3, 9), (4, 3, 3), (2,), "VALID")
    (2, 4, 4)
    """
    lhs_shape, rhs_shape = tuple(lhs_shape), tuple(rhs_shape)
    if isinstance(pads, str):
        pads = padtype_to_pads(lhs_shape[2:], rhs_shape[2:], strides, pads)
    if len(pads) != len(lhs_shape) - 2:
        raise ShapeError(f"conv_shape_tuple: expected {len(lhs_shape) - 2} (low, high) pads, "
                         f"got {pads!r}")
    padded = [d + lo + hi for d, (lo, hi) in zip(lhs_shape[2:], pads)]
    space = tuple(_stride_dim(d, k, s) for d, k, s in zip(padded, rhs_shape[2:], strides))
    return (int(lhs_shape[0]) // int(batch_group_count), int(rhs_shape[0])) + space


def _canonical(lhs_shape, rhs_shape, dimension_numbers):
    """The specs, and both shapes permuted into (batch, feature, spatial...) order."""
    specs = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    lhs_t = tuple(int(lhs_shape[i]) for i in specs[0])
    rhs_t = tuple(int(rhs_shape[i]) for i in specs[1])
    return specs, lhs_t, rhs_t


def _uncanonical(out_t, out_spec):
    out = [0] * len(out_t)
    for size, axis in zip(out_t, out_spec):
        out[axis] = size
    return tuple(out)


def conv_general_shape_tuple(lhs_shape, rhs_shape, window_strides, padding, dimension_numbers):
    """Output shape of ``conv_general_dilated`` (no dilation) for these layouts.

    >>> from s2s import lax
    >>> lax.conv_general_shape_tuple((1, 5, 5, 2), (2, 2, 2, 4), (1, 1), "VALID",
    ...                              ("NHWC", "HWIO", "NHWC"))
    (1, 4, 4, 4)
    """
    specs, lhs_t, rhs_t = _canonical(lhs_shape, rhs_shape, dimension_numbers)
    return _uncanonical(conv_shape_tuple(lhs_t, rhs_t, window_strides, padding), specs[2])


def _conv_transpose_padding(k, s, padding):
    """(low, high) padding of the dilated input for one spatial dimension (JAX's rule)."""
    if padding == "SAME":
        total = k + s - 2
        low = k - 1 if s > k - 1 else -(-total // 2)
    elif padding == "VALID":
        total = k + s - 2 + max(k - s, 0)
        low = k - 1
    elif isinstance(padding, (tuple, list)) and len(padding) == 2:
        # (low, high) padding of the forward convolution this one transposes.
        low, total = k - padding[0] - 1, 2 * k - padding[0] - padding[1] - 2
    else:
        raise ValueError(f"conv_transpose: padding must be 'SAME', 'VALID' or (low, high) "
                         f"pairs, got {padding!r}")
    return low, total - low


def conv_transpose_shape_tuple(lhs_shape, rhs_shape, window_strides, padding, dimension_numbers):
    """Output shape of ``conv_transpose`` for these layouts.

    >>> from s2s import lax
    >>> lax.conv_transpose_shape_tuple((1, 4, 4, 2), (3, 3, 2, 5), (2, 2), "SAME",
    ...                                ("NHWC", "HWIO", "NHWC"))
    (1, 8, 8, 5)
    """
    specs, lhs_t, rhs_t = _canonical(lhs_shape, rhs_shape, dimension_numbers)
    if isinstance(padding, str):
        padding = [_conv_transpose_padding(k, s, padding) for k, s in zip(rhs_t[2:], window_strides)]
    space = tuple((i - 1) * s - k + 2 + lo + hi
                  for i, k, s, (lo, hi) in zip(lhs_t[2:], rhs_t[2:], window_strides, padding))
    return _uncanonical((lhs_t[0], rhs_t[0]) + space, specs[2])


def conv(lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    """``conv_general_dilated`` without dilation, in (N, C, spatial...) / (O, I, spatial...)
    layouts, as ``jax.lax.conv``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.conv(np.ones((1, 1, 4), np.float32), np.ones((1, 1, 2), np.float32), (1,),
    ...          "VALID")[0, 0]
    array([2., 2., 2.], dtype=float32)
    """
    return conv_general_dilated(lhs, rhs, window_strides, padding, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_with_general_padding(lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                              precision=None, preferred_element_type=None):
    """``conv_general_dilated`` in its default layouts, as ``jax.lax.conv_with_general_padding``.

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.conv_with_general_padding(np.ones((1, 1, 3), np.float32),
    ...                               np.ones((1, 1, 2), np.float32), (1,), ((1, 1),), (2,),
    ...                               None)[0, 0]
    array([1., 1., 1., 1., 1., 1.], dtype=float32)
    """
    return conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
                                rhs_dilation=rhs_dilation, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_transpose(lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                   transpose_kernel=False, precision=None, preferred_element_type=None,
                   use_consistent_padding=False):
    """Transposed ("fractionally strided") convolution, as ``jax.lax.conv_transpose``.

    Layouts default to TensorFlow's (``NHWC``/``HWIO`` for 2-d); ``'SAME'`` and
    ``'VALID'`` name the padding of the forward convolution this one transposes, and
    so do ``(low, high)`` pairs when ``use_consistent_padding`` (otherwise pairs pad
    the dilated input directly, as in JAX).

    >>> from s2s import lax
    >>> import numpy as np
    >>> lax.conv_transpose(np.ones((1, 2, 1), np.float32), np.ones((2, 1, 1), np.float32),
    ...                    (2,), "VALID")[0, :, 0]
    array([1., 1., 1., 1.], dtype=float32)
    """
    flip, perm, params = conv_transpose_params(
        abstractify(lhs).shape, abstractify(rhs).shape, strides, padding, rhs_dilation,
        dimension_numbers, transpose_kernel, use_consistent_padding)
    if transpose_kernel:
        rhs = transpose(rev(rhs, dimensions=flip), permutation=perm)
    return conv_general_dilated(lhs, rhs, **params, precision=precision,
                                preferred_element_type=preferred_element_type)


def conv_transpose_params(lhs_shape, rhs_shape, strides, padding, rhs_dilation,
                          dimension_numbers, transpose_kernel, use_consistent_padding):
    """What ``conv_transpose`` runs: ``(flip, perm, params)``, the kernel being
    ``transpose(rev(rhs, flip), perm)`` (``flip`` empty and ``perm`` the identity unless
    ``transpose_kernel``) and ``params`` the ``conv_general_dilated`` keyword arguments."""
    if len(lhs_shape) != len(rhs_shape) or len(lhs_shape) < 3:
        raise ShapeError(f"conv_transpose: lhs and rhs need the same rank (at least 3), got "
                         f"shapes {tuple(lhs_shape)} and {tuple(rhs_shape)}")
    rank = len(lhs_shape)
    if dimension_numbers is None:
        if rank not in _DEFAULT_TRANSPOSE_LAYOUTS:
            raise ShapeError(f"conv_transpose: no default layouts for rank {rank}; pass "
                             "dimension_numbers")
        dimension_numbers = _DEFAULT_TRANSPOSE_LAYOUTS[rank]
    specs = conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    nsp = rank - 2
    rhs_dilation = (1,) * nsp if rhs_dilation is None else tuple(rhs_dilation)
    if isinstance(padding, str) or use_consistent_padding:
        kernel = [_dilate(rhs_shape[i], d) for i, d in zip(specs[1][2:], rhs_dilation)]
        forward = [padding] * nsp if isinstance(padding, str) else padding
        padding = tuple(_conv_transpose_padding(k, s, p)
                        for k, s, p in zip(kernel, strides, forward))
    perm = list(range(rank))
    flip = ()
    if transpose_kernel:
        flip = tuple(specs[1][2:])
        perm[specs[1][0]], perm[specs[1][1]] = specs[1][1], specs[1][0]
    params = dict(window_strides=(1,) * nsp, padding=padding, lhs_dilation=tuple(strides),
                  rhs_dilation=rhs_dilation, dimension_numbers=specs)
    return flip, tuple(perm), params


def reduce_window_shape_tuple(operand_shape, window_dimensions, window_strides, padding,
                              base_dilation=None, window_dilation=None):
    """Output shape of ``reduce_window`` with explicit ``(low, high)`` padding.

    >>> from s2s import lax
    >>> lax.reduce_window_shape_tuple((1, 6, 6, 3), (1, 2, 2, 1), (1, 2, 2, 1), ((0, 0),) * 4)
    (1, 3, 3, 3)
    """
    shape = tuple(operand_shape)
    if base_dilation is not None:
        shape = tuple(_dilate(d, b) for d, b in zip(shape, base_dilation))
    if window_dilation is not None:
        window_dimensions = tuple(_dilate(w, d) for w, d in zip(window_dimensions, window_dilation))
    return tuple(_stride_dim(d + lo + hi, w, s)
                 for d, (lo, hi), w, s in zip(shape, padding, window_dimensions, window_strides))


public = {name: globals()[name] for name in __all__}
