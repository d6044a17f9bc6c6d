"""The fast Fourier transform: ``lax.fft(x, fft_type, fft_lengths)``, StableHLO's ``fft``.

As in XLA and ``jax.lax``, the transform runs over the trailing ``len(fft_lengths)``
axes of ``x`` (one to three of them); the leading axes are a batch.

===========  =============================  ==================================
``fft_type``  operand                        result
===========  =============================  ==================================
``FFT``      complex, ``(..., *n)``         complex ``(..., *n)``
``IFFT``     complex, ``(..., *n)``         complex ``(..., *n)``, scaled 1/N
``RFFT``     real, ``(..., *n)``            complex ``(..., *n[:-1], n[-1]//2+1)``
``IRFFT``    complex, ``(..., *n[:-1],``    real ``(..., *n)``, scaled 1/N
             ``n[-1]//2+1)``
===========  =============================  ==================================

``fft_type`` is a ``FftType`` or its name (any case). The public wrapper converts
its operand as ``jax.lax.fft`` does: to complex for ``FFT``/``IFFT``/``IRFFT``, to
floating for ``RFFT`` (which rejects complex input). Eagerly the transform is
``numpy.fft``; under ``jit`` it is one ``stablehlo.fft``.

Derivatives follow JAX's convention for complex values (the adjoint of a linear
map is its transpose; a real operand gets the real part): ``fft_transpose`` below
(``lax.fourier.fft_transpose`` in generated code) is the adjoint of every type, and
it is linear too, so it has rules of its own and ``grad`` of ``grad`` works.

>>> import numpy as onp
>>> from s2s import lax
>>> lax.fft(onp.array([1.0, 2.0, 3.0, 4.0], onp.float32), "RFFT", (4,))
array([10.+0.j, -2.+2.j, -2.+0.j], dtype=complex64)
"""
import enum
import math
import operator

import numpy as onp

from s2s import lax
from s2s.codegen.stablehlo import i64_array
from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import Primitive, abstractify, d, def_batch, def_jvp, def_vjp


class FftType(enum.IntEnum):
    """Which transform ``lax.fft`` computes (XLA's ``FftType``)."""

    FFT = 0
    IFFT = 1
    RFFT = 2
    IRFFT = 3


def _type_name(fft_type):
    """The canonical name (``"FFT"``...) of an ``FftType`` or a name in any case."""
    if isinstance(fft_type, FftType):
        return fft_type.name
    if isinstance(fft_type, str) and fft_type.upper() in FftType.__members__:
        return fft_type.upper()
    raise ValueError(f"fft: fft_type must be an FftType or one of 'FFT', 'IFFT', 'RFFT', "
                     f"'IRFFT', got {fft_type!r}")


def _lengths(fft_lengths):
    try:
        lengths = tuple(operator.index(n) for n in fft_lengths)
    except TypeError:
        raise TypeError(f"fft: fft_lengths must be a sequence of ints, got {fft_lengths!r}") from None
    if len(lengths) > 3 or any(n < 1 for n in lengths):
        raise ValueError(f"fft: fft_lengths must be one to three positive ints (XLA transforms "
                         f"at most three axes at once), got {lengths}")
    return lengths


def _complex_of(dt):
    return dtypes.complex128 if dtypes.real_dtype(dt) == dtypes.float64 else dtypes.complex64

# ---------------------------------------------------------------------------
# The primitive.


fft_p = Primitive("fft")


@fft_p.def_abstract_eval
def _fft_abstract(x, *, fft_type, fft_lengths):
    k = len(fft_lengths)
    if k > x.ndim:
        raise ShapeError(f"fft: operand of shape {x.shape} has fewer axes than fft_lengths "
                         f"{fft_lengths}")
    minor, lengths = x.shape[x.ndim - k:], tuple(fft_lengths)
    batch = x.shape[:x.ndim - k]
    if fft_type == "RFFT":
        if x.dtype not in (dtypes.float32, dtypes.float64):
            raise DtypeError(f"fft: RFFT operand must be float32 or float64, got {x.dtype.name}")
        expected, shape, dt = lengths, batch + lengths[:-1] + (lengths[-1] // 2 + 1,), \
            _complex_of(x.dtype)
    else:
        if x.dtype not in (dtypes.complex64, dtypes.complex128):
            raise DtypeError(f"fft: {fft_type} operand must be complex64 or complex128, got "
                             f"{x.dtype.name}")
        if fft_type == "IRFFT":
            expected = lengths[:-1] + (lengths[-1] // 2 + 1,)
            shape, dt = batch + lengths, dtypes.real_dtype(x.dtype)
        else:
            expected, shape, dt = lengths, x.shape, x.dtype
    if minor != expected:
        raise ShapeError(f"fft: {fft_type} with fft_lengths {lengths} needs trailing operand "
                         f"axes {expected}, got shape {x.shape}")
    return x.update(shape=shape, dtype=dt, weak_type=False)


_NUMPY_FFT = {"FFT": onp.fft.fftn, "IFFT": onp.fft.ifftn, "RFFT": onp.fft.rfftn,
              "IRFFT": onp.fft.irfftn}


@fft_p.def_impl
def _fft_impl(x, *, fft_type, fft_lengths):
    out = _fft_abstract(abstractify(x), fft_type=fft_type, fft_lengths=fft_lengths)
    x = onp.asarray(x)
    if x.size == 0:
        return onp.zeros(out.shape, out.dtype)
    axes = tuple(range(x.ndim - len(fft_lengths), x.ndim))
    y = _NUMPY_FFT[fft_type](x, s=fft_lengths, axes=axes)
    return onp.asarray(y, out.dtype)


@fft_p.def_lower
def _fft_lower(ctx, x, *, fft_type, fft_lengths):
    return ctx.op1("stablehlo.fft", [x], attrs={
        "fft_type": f"#stablehlo<fft_type {fft_type}>", "fft_length": i64_array(fft_lengths)})


def fft(x, fft_type, fft_lengths):
    """The ``fft_type`` transform of ``x`` over its trailing ``len(fft_lengths)`` axes.

    >>> import numpy as onp
    >>> from s2s import lax
    >>> lax.fft(onp.array([1.0, 0.0, 0.0, 0.0], onp.float32), lax.FftType.FFT, (4,))
    array([1.+0.j, 1.+0.j, 1.+0.j, 1.+0.j], dtype=complex64)
    """
    kind, lengths = _type_name(fft_type), _lengths(fft_lengths)
    dt = dtypes.to_inexact_dtype(abstractify(x).dtype)
    if kind == "RFFT":
        if dtypes.is_complex(dt):
            raise DtypeError("fft: RFFT takes real input (got complex); use FFT")
    else:
        dt = _complex_of(dt)
    x = lax.convert_element_type(x, new_dtype=dt)
    if not lengths:
        return x
    return fft_p.bind(x, fft_type=kind, fft_lengths=lengths)


fft.primitive = fft_p
fft.static_from = 1

# ---------------------------------------------------------------------------
# Derivatives and batching.


def _hermitian_weights(g, n):
    """Weights 1 (zero frequency and, for even ``n``, Nyquist) or 2 (frequencies that
    stand for a conjugate pair) along the last axis of the half spectrum ``g``."""
    m = abstractify(g).shape[-1]
    w = onp.full((m,), 2.0)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return _along_last(w, g)


def _along_last(values, like):
    """``values`` (1-D) broadcast along the last axis of ``like``, in its dtype."""
    a = abstractify(like)
    return lax.broadcast_in_dim(onp.asarray(values, a.dtype), shape=a.shape,
                                broadcast_dimensions=(a.ndim - 1,))


def _scaled(x, factor):
    return lax.mul(x, onp.asarray(factor, abstractify(x).dtype))


def fft_transpose(g, x, fft_type, fft_lengths):
    """The adjoint of ``y = lax.fft(x, fft_type, fft_lengths)``: ``g`` (the adjoint of
    ``y``) mapped back by the transposed transform, in ``x``'s dtype (real part for
    real ``x``). For ``RFFT``/``IRFFT`` the half spectrum stands for conjugate pairs,
    hence the weights (JAX's transpose rules).

    >>> import numpy as onp
    >>> g = onp.array([1.0, 0.0, 0.0], onp.complex64)
    >>> fft_transpose(g, onp.zeros(4, onp.float32), "RFFT", (4,))
    array([1., 1., 1., 1.], dtype=float32)
    """
    kind, lengths = _type_name(fft_type), _lengths(fft_lengths)
    size = math.prod(lengths)
    if kind == "RFFT":
        g = lax.convert_element_type(g, new_dtype=_complex_of(abstractify(g).dtype))
        w = _hermitian_weights(g, lengths[-1])
        out = _scaled(fft(lax.div(lax.conj(g), w), "IRFFT", lengths), size)
    elif kind == "IRFFT":
        y = fft(g, "RFFT", lengths)
        w = _hermitian_weights(y, lengths[-1])
        out = lax.conj(_scaled(lax.mul(w, y), 1.0 / size))
    else:
        out = fft(g, kind, lengths)
    want = abstractify(x).dtype
    if dtypes.is_complex(abstractify(out).dtype) and not dtypes.is_complex(want):
        out = lax.real(out)
    return lax.convert_element_type(out, new_dtype=dtypes.to_inexact_dtype(want))


@def_jvp(fft)
def _fft_jvp(ans, x, fft_type, fft_lengths):
    d[ans] = lax.fft(d[x], fft_type, fft_lengths)


@def_vjp(fft)
def _fft_vjp(ans, x, fft_type, fft_lengths):
    d[x] = lax.fourier.fft_transpose(d[ans], x, fft_type, fft_lengths)


# ``fft_transpose`` is linear in ``g``: its transpose is the forward transform (the
# weights and conjugations cancel), and its tangent is itself.
@def_vjp(fft_transpose)
def _fft_transpose_vjp(ans, g, x, fft_type, fft_lengths):
    d[g] = lax.fft(d[ans], fft_type, fft_lengths)


@def_jvp(fft_transpose)
def _fft_transpose_jvp(ans, g, x, fft_type, fft_lengths):
    d[ans] = lax.fourier.fft_transpose(d[g], x, fft_type, fft_lengths)


@def_batch(fft)
def _fft_batch(axes, x, fft_type, fft_lengths):
    # The batch axis leads and the transform runs over trailing axes: nothing to move.
    return fft(x, fft_type, fft_lengths)


@def_batch(fft_transpose)
def _fft_transpose_batch(axes, g, x, fft_type, fft_lengths):
    out = fft_transpose(g, x, fft_type, fft_lengths)  # ``x`` gives only its dtype
    if axes[0] is None:
        size = abstractify(x).shape[0]
        shape = abstractify(out).shape
        out = lax.broadcast_in_dim(out, shape=(size,) + shape,
                                   broadcast_dimensions=tuple(range(1, len(shape) + 1)))
    return out


public = {"fft": fft, "FftType": FftType}
