"""The floating-point steps of the samplers, rounded exactly as XLA rounds them.

``jax.random`` turns random bits into floats with a few float operations, and XLA
decides how those round: on CPU it fuses ``a * b + c`` into one fused multiply-add
(one rounding, not two), and ``erf_inv``, ``erf``, ``log`` and ``log1p`` are its own
polynomial approximations, which differ from NumPy's and SciPy's in the last bits.
To give the same samples as ``jax.random`` (and as ``s2s.jit``) when called eagerly,
these steps are NumPy-level primitives whose eager rule reproduces XLA:

- ``fma(a, b, c)``: computed in float64 for float32 and float16 (the product is
  exact there, so the result is the fused one); for float64, Dekker's exact
  product and a compensated sum; bfloat16, which XLA does not fuse, rounds the
  product first. Staged, it is ``a * b + c``, which XLA fuses, except for float16,
  which XLA rounds per operation on some CPUs and per fusion on others: staged
  float16 rounds once by construction (``_fma_float16``), so samples do not depend
  on the CPU.
- ``erf``, ``erf_inv``, ``log``, ``log1p``: evaluated eagerly by the very XLA
  kernels ``jit`` would run (compiled once per power-of-two size and dtype; the
  kernels are elementwise, so padding does not change any value).

>>> import numpy as np
>>> fma(np.float32(0.1), np.float32(3.0), np.float32(-0.3))
array(-7.450581e-09, dtype=float32)
"""
import functools

import numpy as onp

from s2s import dtypes, lax
from s2s.numpy._primitive import numpy_primitive
from s2s.scipy import _lax_helpers as h

# ---------------------------------------------------------------------------
# Fused multiply-add.

_SPLITTER = 134217729.0  # 2**27 + 1: Veltkamp's split of a float64 into two halves


def _split(x):
    t = x * _SPLITTER
    hi = t - (t - x)
    return hi, x - hi


def _fma64(a, b, c):
    """``a * b + c`` in float64 with (almost always) a single rounding."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    err = ((ah * bh - p) + ah * bl + al * bh) + al * bl  # p + err == a * b exactly
    s = p + c
    z = s - p
    sum_err = (p - (s - z)) + (c - z)  # s + sum_err == p + c exactly
    out = s + (sum_err + err)
    return onp.where(onp.isfinite(out), out, p + c)


def _fma_impl(a, b, c):
    dt = dtypes.result_type(a, b, c)
    with onp.errstate(all="ignore"):
        if dt == dtypes.float64:
            a, b, c = (onp.asarray(v, onp.float64) for v in (a, b, c))
            return onp.asarray(_fma64(a, b, c), dt)
        wide = [onp.asarray(v, dt).astype(onp.float64) for v in (a, b, c)]
        if dt == dtypes.bfloat16:  # XLA's CPU backend rounds bfloat16 products before adding
            return (onp.asarray(wide[0] * wide[1]).astype(dt).astype(onp.float64) + wide[2]).astype(dt)
        return onp.asarray(wide[0] * wide[1] + wide[2]).astype(dt)


def _fma_composite(a, b, c):
    if h.dtype_of(a) == dtypes.float16:
        return _fma_float16(a, b, c)
    return lax.add(lax.mul(a, b), c)


def _fma_float16(a, b, c):
    """``a * b + c`` for float16, rounded once on every CPU.

    Left to XLA, float16 arithmetic rounds after each operation on some CPUs and
    once per fusion on others, so samples would depend on the machine. Here the
    product is exact in float32 (11 + 11 bits), the sum's rounding error is
    recovered exactly (Knuth's TwoSum: no products, so no contraction can change
    it), and the sum is rounded to odd: a float32 with 13 more bits than float16
    rounded to odd, then to nearest float16, is the correctly rounded result.
    """
    f32 = dtypes.float32
    a, b, c = (lax.convert_element_type(v, new_dtype=f32) for v in (a, b, c))
    p = lax.mul(a, b)
    s = lax.add(p, c)
    bb = lax.sub(s, p)
    err = lax.add(lax.sub(p, lax.sub(s, bb)), lax.sub(c, bb))
    bits = lax.bitcast_convert_type(s, new_dtype=dtypes.uint32)
    one = onp.asarray(1, dtypes.uint32)
    # Inexact with an even last bit: step one ulp toward the exact value (away
    # from zero when the error has the sign of the sum).
    away = lax.eq(lax.gt(err, onp.asarray(0, f32)), lax.gt(s, onp.asarray(0, f32)))
    stepped = h.where(away, lax.add(bits, one), lax.sub(bits, one))
    even = lax.eq(lax.bitwise_and(bits, one), onp.asarray(0, dtypes.uint32))
    inexact = lax.bitwise_and(lax.ne(err, onp.asarray(0, f32)), lax.is_finite(s))
    odd = h.where(lax.bitwise_and(inexact, even), stepped, bits)
    out = lax.bitcast_convert_type(odd, new_dtype=f32)
    return lax.convert_element_type(out, new_dtype=dtypes.float16)


fma_p = numpy_primitive("random_fma", _fma_impl, _fma_composite)


def fma(a, b, c):
    """``a * b + c`` with one rounding, as XLA computes it (operands of one float dtype).

    >>> import numpy as np
    >>> fma(np.float32(2.0), np.float32(3.0), np.float32(1.0))
    array(7., dtype=float32)
    """
    return fma_p.bind(a, b, c)


# ---------------------------------------------------------------------------
# Unary functions evaluated by XLA's own kernels.


def _bucket(n):
    return max(8, 1 << max(n - 1, 0).bit_length())


@functools.lru_cache(maxsize=None)
def _kernel(fn):
    from s2s.api import jit  # s2s.api imports s2s.numpy, which may import this package
    return jit(fn)


def _xla_unary(name, fn):
    def impl(x):
        x = onp.asarray(x, dtypes.to_inexact_dtype(dtypes.dtype_of(x)))
        # XLA computes 16-bit floats in float32 and rounds the result, as done here.
        compute = onp.float32 if x.dtype.itemsize == 2 else x.dtype
        flat = x.reshape(-1)
        padded = onp.zeros(_bucket(flat.size), compute)
        padded[:flat.size] = flat
        out = onp.asarray(_kernel(fn)(padded))
        return out[:flat.size].reshape(x.shape).astype(x.dtype)

    impl.__name__ = f"_{name}_impl"
    return numpy_primitive(f"random_{name}", impl, fn)


erf_p = _xla_unary("erf", lax.erf)
erf_inv_p = _xla_unary("erf_inv", lax.erf_inv)
log_p = _xla_unary("log", lax.log)
log1p_p = _xla_unary("log1p", lax.log1p)


def erf(x):
    """``lax.erf`` with XLA's rounding, eagerly too.

    >>> erf(0.0)
    array(0., dtype=float32)
    """
    return erf_p.bind(h.promote_inexact("erf", x)[0])


def erf_inv(x):
    """``lax.erf_inv`` with XLA's rounding, eagerly too.

    >>> erf_inv(0.0)
    array(0., dtype=float32)
    """
    return erf_inv_p.bind(h.promote_inexact("erf_inv", x)[0])


def log(x):
    """``lax.log`` with XLA's rounding, eagerly too.

    >>> log(1.0)
    array(0., dtype=float32)
    """
    return log_p.bind(h.promote_inexact("log", x)[0])


def log1p(x):
    """``lax.log1p`` with XLA's rounding, eagerly too.

    >>> log1p(0.0)
    array(0., dtype=float32)
    """
    return log1p_p.bind(h.promote_inexact("log1p", x)[0])
