"""``s2s.numpy.fft``: NumPy's discrete Fourier transforms, on ``lax.fft``.

Signatures are NumPy's (``n``/``s`` to crop or zero-pad the input, ``axis``/``axes``,
``norm`` in ``None``/``"backward"``, ``"ortho"``, ``"forward"``); results follow
``jax.numpy.fft``: single precision stays single (``float32`` -> ``complex64``,
integers -> the default float's complex), ``rfft`` rejects complex input, and repeated
axes are an error. Transforms over more than three axes run in steps of at most
three (XLA's limit). Everything differentiates (the transforms are linear), compiles
and batches.

>>> import numpy as onp
>>> import s2s.numpy as np
>>> np.fft.rfft(onp.array([1.0, 2.0, 3.0, 4.0]))
array([10.+0.j, -2.+2.j, -2.+0.j], dtype=complex64)
>>> np.fft.fftfreq(4)
array([ 0.  ,  0.25, -0.5 , -0.25], dtype=float32)
"""
import math
import operator

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import DtypeError
from s2s.core.primitive import d, def_jvp, def_vjp
from s2s.lax import fourier
from s2s.numpy import _internal as I

__all__ = ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft", "fft2", "ifft2", "rfft2", "irfft2",
           "fftn", "ifftn", "rfftn", "irfftn", "fftfreq", "rfftfreq", "fftshift", "ifftshift"]

_NORMS = (None, "backward", "ortho", "forward")

# ---------------------------------------------------------------------------
# The plan of a transform (static: shapes, axes, lengths, scale), then the transform.


def _axes_and_lengths(name, kind, shape, s, axes):
    """(axes, lengths) of the transform: NumPy's defaults for ``s``/``axes`` filled in."""
    ndim = len(shape)
    if s is not None:
        s = tuple(operator.index(n) for n in s)
        if any(n < 1 for n in s):
            raise ValueError(f"{name}: the transform lengths s={s} must be positive")
    if axes is None:
        axes = tuple(range(ndim - len(s), ndim)) if s is not None else tuple(range(ndim))
    axes = I.reduction_axes(name, tuple(axes), ndim)
    if s is not None and len(s) != len(axes):
        raise ValueError(f"{name}: s={s} and axes={axes} must have the same length")
    if s is None:
        s = tuple(shape[ax] for ax in axes)
        if kind == "IRFFT" and axes:
            s = s[:-1] + (2 * (shape[axes[-1]] - 1),)
            if s[-1] < 1:
                raise ValueError(f"{name}: the last axis has {shape[axes[-1]]} point(s); the "
                                 "output length 2 * (m - 1) must be positive (pass n or s)")
    return axes, s


def _norm_factor(name, inverse, lengths, norm):
    """The factor applied on top of XLA's own scaling (1/N for the inverse transforms)."""
    if norm not in _NORMS:
        raise ValueError(f'{name}: norm must be None, "backward", "ortho" or "forward", got '
                         f'{norm!r}')
    size = math.prod(lengths)
    if norm == "ortho":
        return math.sqrt(size) if inverse else 1.0 / math.sqrt(size)
    if norm == "forward":
        return float(size) if inverse else 1.0 / size
    return 1.0


def _input_dtype(name, kind, dt):
    """The dtype the transform reads an input of dtype ``dt`` in."""
    dt = dtypes.to_inexact_dtype(dt)
    if kind == "RFFT":
        if dtypes.is_complex(dt):
            raise DtypeError(f"{name}: the input must be real, got {onp.dtype(dt).name} (use "
                             "fft for complex input)")
        return dt
    return dtypes.complex128 if dtypes.real_dtype(dt) == dtypes.float64 else dtypes.complex64


def _plan(name, kind, shape, s, axes, norm, inverse):
    """The static plan of a transform of an input of ``shape``: ``(axes, lengths, scale,
    trailing, moved, resized)``. The transform moves ``axes`` to the ``trailing`` positions
    (shape ``moved``), crops and pads to ``resized``, transforms and scales by ``scale``."""
    axes, lengths = _axes_and_lengths(name, kind, shape, s, axes)
    scale = _norm_factor(name, inverse, lengths, norm)
    trailing = tuple(range(len(shape) - len(axes), len(shape)))
    rest = [n for i, n in enumerate(shape) if i not in axes]
    moved = tuple(rest) + tuple(shape[ax] for ax in axes)
    resized = tuple(rest) + tuple(lengths)
    if kind == "IRFFT" and axes:
        resized = resized[:-1] + (lengths[-1] // 2 + 1,)
    return axes, lengths, scale, trailing, moved, resized


def _resize(x, in_shape):
    """``x`` cropped and zero-padded (at the end of each axis) to ``in_shape`` (its own
    adjoint, from the other side: crop and pad swap)."""
    shape = I.shape(x)
    if any(n < m for n, m in zip(in_shape, shape)):
        x = lax.slice(x, start_indices=(0,) * len(shape),
                      limit_indices=tuple(min(n, m) for n, m in zip(in_shape, shape)))
    shape = I.shape(x)
    if shape != tuple(in_shape):
        zero = onp.zeros((), I.dtype(x))
        x = lax.pad(x, zero, padding_config=tuple((0, n - m, 0) for n, m in zip(in_shape, shape)))
    return x


def _split(n, k):
    """(front, back): the leading ``k - 3`` of the trailing ``k`` axes of an ``n``-d array,
    and where they go behind the last three."""
    return tuple(range(n - k, n - 3)), tuple(range(n - k + 3, n))


def _fft_trailing(x, kind, lengths):
    """``lax.fft`` over the trailing ``len(lengths)`` axes, in steps of at most three."""
    if len(lengths) <= 3:
        return lax.fft(x, kind, lengths)
    # The last three axes in one step, then the others moved behind them (JAX's order).
    front, back = _split(I.ndim(x), len(lengths))
    step = "FFT" if kind in ("FFT", "RFFT") else "IFFT"
    if step == "FFT":
        x = lax.fft(x, kind, lengths[-3:])
    x = I.moveaxis(_fft_trailing(I.moveaxis(x, front, back), step, lengths[:-3]), back, front)
    return x if step == "FFT" else lax.fft(x, kind, lengths[-3:])


def _fft_trailing_transpose(g, kind, lengths, in_dtype):
    """The adjoint of ``_fft_trailing`` for an input of ``in_dtype`` (the steps reversed)."""
    like = onp.zeros((), in_dtype)  # fft_transpose reads only the operand's dtype
    if len(lengths) <= 3:
        return fourier.fft_transpose(g, like, kind, lengths)
    front, back = _split(I.ndim(g), len(lengths))
    step = "FFT" if kind in ("FFT", "RFFT") else "IFFT"
    middle = onp.zeros((), _input_dtype("fft", "FFT", in_dtype))
    if step == "IFFT":
        g = fourier.fft_transpose(g, middle, kind, lengths[-3:])
    g = I.moveaxis(g, front, back)
    g = I.moveaxis(_fft_trailing_transpose(g, step, lengths[:-3], middle.dtype), back, front)
    return fourier.fft_transpose(g, like, kind, lengths[-3:]) if step == "FFT" else g


def _transform(name, kind, a, s, axes, norm, inverse):
    """NumPy's ``fftn``-family semantics for transform ``kind`` (see the module docstring)."""
    a = I.asarray(a)
    axes, lengths, scale, trailing, _, resized = _plan(name, kind, I.shape(a), s, axes, norm,
                                                       inverse)
    x = I.moveaxis(I.astype(a, _input_dtype(name, kind, I.dtype(a))), axes, trailing)
    y = _fft_trailing(_resize(x, resized), kind, lengths)
    if scale != 1.0:
        y = lax.mul(y, onp.asarray(scale, I.dtype(y)))
    return I.moveaxis(y, trailing, axes)


def transform_transpose(g, name, kind, a, s, axes, norm, inverse):
    """The adjoint of the transform ``y = _transform(name, kind, a, s, axes, norm,
    inverse)`` (linear in ``a``): ``g``, the adjoint of ``y``, mapped back through each
    step in reverse, in ``a``'s dtype (the real part for real ``a``, JAX's convention).
    Generated derivative code calls it.

    >>> import numpy as onp
    >>> transform_transpose(onp.ones(3, onp.complex64), "rfft", "RFFT", onp.zeros(4, onp.float32),
    ...                     None, (-1,), None, False)
    array([3., 0., 1., 0.], dtype=float32)
    """
    axes, lengths, scale, trailing, moved, _ = _plan(name, kind, I.shape(a), s, axes, norm,
                                                     inverse)
    g = I.moveaxis(g, axes, trailing)
    if scale != 1.0:
        g = lax.mul(g, onp.asarray(scale, I.dtype(g)))
    in_dtype = _input_dtype(name, kind, I.dtype(a))
    g = I.moveaxis(_resize(_fft_trailing_transpose(g, kind, lengths, in_dtype), moved), trailing,
                   axes)
    if dtypes.is_complex(I.dtype(g)) and not dtypes.is_complex(I.dtype(a)):
        g = lax.real(g)
    return I.astype(g, dtypes.to_inexact_dtype(I.dtype(a)))


# Templates: the transform and its transpose are linear and each other's transpose, so
# generated derivative code reads one call per transform, not the steps inside.
@def_vjp(_transform)
def _transform_vjp(ans, name, kind, a, s, axes, norm, inverse):
    d[a] = transform_transpose(d[ans], name, kind, a, s, axes, norm, inverse)


@def_jvp(_transform)
def _transform_jvp(ans, name, kind, a, s, axes, norm, inverse):
    d[ans] = _transform(name, kind, d[a], s, axes, norm, inverse)


@def_vjp(transform_transpose)
def _transform_transpose_vjp(ans, g, name, kind, a, s, axes, norm, inverse):
    d[g] = _transform(name, kind, d[ans], s, axes, norm, inverse)


@def_jvp(transform_transpose)
def _transform_transpose_jvp(ans, g, name, kind, a, s, axes, norm, inverse):
    d[ans] = transform_transpose(d[g], name, kind, a, s, axes, norm, inverse)


def _one_axis(name, axis):
    if isinstance(axis, (tuple, list)):
        raise ValueError(f"{name}: axis must be one int, got {axis!r}; use {name}n for several "
                         "axes")
    return (axis,)


def _transform_1d(name, kind, a, n, axis, norm, inverse):
    return _transform(name, kind, a, None if n is None else (n,), _one_axis(name, axis), norm,
                      inverse)


def _two_axes(name, axes):
    axes = tuple(axes)
    if len(axes) != 2:
        raise ValueError(f"{name}: axes must name two axes, got {axes!r}; use {name[:-1]}n")
    return axes

# ---------------------------------------------------------------------------
# One axis.


def fft(a, n=None, axis=-1, norm=None):
    """The discrete Fourier transform of ``a`` along ``axis`` (``n`` points: the input is
    cropped or zero-padded).

    >>> import s2s.numpy as np
    >>> np.fft.fft(np.array([1.0, 1.0, 1.0, 1.0]))
    array([4.+0.j, 0.+0.j, 0.+0.j, 0.+0.j], dtype=complex64)
    """
    return _transform_1d("fft", "FFT", a, n, axis, norm, False)


def ifft(a, n=None, axis=-1, norm=None):
    """The inverse of ``fft`` along ``axis`` (scaled by 1/n with the default ``norm``).

    >>> import s2s.numpy as np
    >>> np.fft.ifft(np.array([4.0, 0.0, 0.0, 0.0]))
    array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j], dtype=complex64)
    """
    return _transform_1d("ifft", "IFFT", a, n, axis, norm, True)


def rfft(a, n=None, axis=-1, norm=None):
    """The Fourier transform of real ``a`` along ``axis``: the ``n // 2 + 1`` non-negative
    frequencies (the others are their conjugates).

    >>> import s2s.numpy as np
    >>> np.fft.rfft(np.array([0.0, 1.0, 0.0, -1.0]))
    array([0.+0.j, 0.-2.j, 0.+0.j], dtype=complex64)
    """
    return _transform_1d("rfft", "RFFT", a, n, axis, norm, False)


def irfft(a, n=None, axis=-1, norm=None):
    """The inverse of ``rfft``: ``n`` real points (default ``2 * (m - 1)`` for ``m``
    frequencies) from the non-negative frequencies along ``axis``.

    >>> import s2s.numpy as np
    >>> np.fft.irfft(np.array([0.0, -2.0j, 0.0]))
    array([ 0.,  1.,  0., -1.], dtype=float32)
    """
    return _transform_1d("irfft", "IRFFT", a, n, axis, norm, True)


def hfft(a, n=None, axis=-1, norm=None):
    """The transform of a signal with Hermitian symmetry, given by its non-negative
    frequencies: ``n`` real points (default ``2 * (m - 1)``).

    >>> import s2s.numpy as np
    >>> np.fft.hfft(np.array([1.0, 0.0, 0.0]))
    array([1., 1., 1., 1.], dtype=float32)
    """
    a = I.asarray(a)
    a = I.conj(I.astype(a, _input_dtype("hfft", "FFT", I.dtype(a))))
    out = _transform_1d("hfft", "IRFFT", a, n, axis, norm, False)
    size = I.shape(out)[I.one_axis("hfft", _one_axis("hfft", axis)[0], I.ndim(out))]
    return lax.mul(out, onp.asarray(size, I.dtype(out)))


def ihfft(a, n=None, axis=-1, norm=None):
    """The inverse of ``hfft``: the non-negative frequencies of a real signal, conjugated
    and scaled by 1/n.

    >>> import s2s.numpy as np
    >>> np.fft.ihfft(np.array([4.0, 2.0, 0.0, 2.0])).real
    array([2., 1., 0.], dtype=float32)
    """
    a = I.asarray(a)
    size = I.shape(a)[I.one_axis("ihfft", _one_axis("ihfft", axis)[0], I.ndim(a))] if n is None \
        else n
    out = I.conj(_transform_1d("ihfft", "RFFT", a, n, axis, norm, True))
    return lax.mul(out, onp.asarray(1.0 / size, I.dtype(out)))

# ---------------------------------------------------------------------------
# Two axes and n axes.


def fft2(a, s=None, axes=(-2, -1), norm=None):
    """The 2-D discrete Fourier transform over ``axes`` (``s``: lengths per axis).

    >>> import s2s.numpy as np
    >>> np.fft.fft2(np.ones((2, 2)))
    array([[4.+0.j, 0.+0.j],
           [0.+0.j, 0.+0.j]], dtype=complex64)
    """
    return _transform("fft2", "FFT", a, s, _two_axes("fft2", axes), norm, False)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    """The inverse of ``fft2``.

    >>> import s2s.numpy as np
    >>> np.fft.ifft2(np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1.+0.j, 1.+0.j],
           [1.+0.j, 1.+0.j]], dtype=complex64)
    """
    return _transform("ifft2", "IFFT", a, s, _two_axes("ifft2", axes), norm, True)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    """The 2-D transform of real ``a`` (half spectrum along the last of ``axes``).

    >>> import s2s.numpy as np
    >>> np.fft.rfft2(np.ones((2, 2))).shape
    (2, 2)
    """
    return _transform("rfft2", "RFFT", a, s, _two_axes("rfft2", axes), norm, False)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    """The inverse of ``rfft2``.

    >>> import s2s.numpy as np
    >>> np.fft.irfft2(np.array([[4.0, 0.0], [0.0, 0.0]]))
    array([[1., 1.],
           [1., 1.]], dtype=float32)
    """
    return _transform("irfft2", "IRFFT", a, s, _two_axes("irfft2", axes), norm, True)


def fftn(a, s=None, axes=None, norm=None):
    """The n-D discrete Fourier transform over ``axes`` (default: all, or the last
    ``len(s)``).

    >>> import s2s.numpy as np
    >>> np.fft.fftn(np.ones((2, 1, 2)))[0, 0]
    array([4.+0.j, 0.+0.j], dtype=complex64)
    """
    return _transform("fftn", "FFT", a, s, axes, norm, False)


def ifftn(a, s=None, axes=None, norm=None):
    """The inverse of ``fftn``.

    >>> import s2s.numpy as np
    >>> np.fft.ifftn(np.array([[4.0, 0.0], [0.0, 0.0]]))[1]
    array([1.+0.j, 1.+0.j], dtype=complex64)
    """
    return _transform("ifftn", "IFFT", a, s, axes, norm, True)


def rfftn(a, s=None, axes=None, norm=None):
    """The n-D transform of real ``a`` (half spectrum along the last of ``axes``).

    >>> import s2s.numpy as np
    >>> np.fft.rfftn(np.ones((2, 4))).shape
    (2, 3)
    """
    return _transform("rfftn", "RFFT", a, s, axes, norm, False)


def irfftn(a, s=None, axes=None, norm=None):
    """The inverse of ``rfftn`` (``s[-1]`` real points along the last axis, default
    ``2 * (m - 1)``).

    >>> import s2s.numpy as np
    >>> np.fft.irfftn(np.ones((2, 3))).shape
    (2, 4)
    """
    return _transform("irfftn", "IRFFT", a, s, axes, norm, True)

# ---------------------------------------------------------------------------
# Frequencies and shifts.


def _freq_dtype(name, n, d, dtype):
    if isinstance(n, (list, tuple)) or isinstance(d, (list, tuple)):
        raise ValueError(f"{name}: n must be one int and d one value, got n={n!r}, d={d!r}")
    dt = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    return I.static_int(name, "n", n), dt


def _over_spacing(k, n, d, dt):
    """``k / (d * n)`` in ``dt`` (``d`` may be staged)."""
    inexact = dtypes.to_inexact_dtype(dt)
    scale = lax.mul(I.astype(d, inexact), onp.asarray(n, inexact))
    return I.astype(lax.div(onp.asarray(k, inexact), scale), dt)


def fftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of an ``n``-point ``fft`` with sample spacing ``d``:
    ``[0, 1, ..., n//2 - 1 (or (n-1)//2), -(n//2), ..., -1] / (d * n)``.

    >>> import s2s.numpy as np
    >>> np.fft.fftfreq(5, d=0.5)
    array([ 0. ,  0.4,  0.8, -0.8, -0.4], dtype=float32)
    """
    n, dt = _freq_dtype("fftfreq", n, d, dtype)
    k = (onp.arange(n) + n // 2) % max(n, 1) - n // 2
    return _over_spacing(k, n, d, dt)


def rfftfreq(n, d=1.0, *, dtype=None, device=None):
    """The sample frequencies of an ``n``-point ``rfft``: ``[0, 1, ..., n//2] / (d * n)``.

    >>> import s2s.numpy as np
    >>> np.fft.rfftfreq(5, d=0.5)
    array([0. , 0.4, 0.8], dtype=float32)
    """
    n, dt = _freq_dtype("rfftfreq", n, d, dtype)
    return _over_spacing(onp.arange(n // 2 + 1), n, d, dt)


def _shifted(name, x, axes, sign):
    """``x`` rolled by ``sign * (n // 2)`` along each of ``axes`` (default: all)."""
    x = I.asarray(x)
    shape = I.shape(x)
    if axes is None:
        axes = tuple(range(len(shape)))
    elif isinstance(axes, (int, onp.integer)):
        axes = (int(axes),)
    for ax in I.reduction_axes(name, tuple(axes), len(shape)):
        n = shape[ax]
        cut = (n - sign * (n // 2)) % n if n else 0
        if cut:
            x = I.concatenate([I.take_slice(x, ax, cut, n), I.take_slice(x, ax, 0, cut)], ax)
    return x


def fftshift(x, axes=None):
    """``x`` with the zero frequency moved to the centre of ``axes`` (default: all).

    >>> import s2s.numpy as np
    >>> np.fft.fftshift(np.fft.fftfreq(4))
    array([-0.5 , -0.25,  0.  ,  0.25], dtype=float32)
    """
    return _shifted("fftshift", x, axes, 1)


def ifftshift(x, axes=None):
    """The inverse of ``fftshift`` (they differ for odd lengths).

    >>> import s2s.numpy as np
    >>> np.fft.ifftshift(np.array([-2, -1, 0, 1, 2]))
    array([ 0,  1,  2, -2, -1], dtype=int32)
    """
    return _shifted("ifftshift", x, axes, -1)


from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
