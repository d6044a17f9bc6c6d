"""``s2s.random``: a functional, counter-based PRNG with ``jax.random``'s API and values.

Keys are ``uint32[2]`` arrays (``PRNGKey(seed)``) or typed keys (``key(seed)``, shape
``()``, see ``_keys``) that never change: draw with a
key, and ``split`` or ``fold_in`` it for fresh ones. The generator is Threefry-2x32,
the default of ``jax.random``, and every function here reproduces JAX 0.10's
values bit for bit, eagerly (NumPy) and under ``s2s.jit`` (see ``_threefry`` and
``_float_ops`` for how).

>>> from s2s import random
>>> key = random.PRNGKey(0)
>>> random.normal(key, (3,))
array([ 1.6226422 ,  2.0252647 , -0.43359444], dtype=float32)
>>> key, subkey = random.split(key)
>>> random.randint(subkey, (4,), 0, 10)
array([2, 2, 6, 5], dtype=int32)
"""
import math

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import Tracer, abstractify
from s2s.lax.shapes import broadcast_shapes, canonicalize_axis
from s2s.random import _float_ops as fops
from s2s.random._keys import KeyArray, like as _like, raw as _raw
from s2s.random._threefry import (check_key, fold_in_key, random_bits, seed_key, split_key,
                                  threefry2x32, unsigned_dtype)
from s2s.scipy import _lax_helpers as h

__all__ = [
    "PRNGKey", "KeyArray", "key", "key_data", "wrap_key_data", "split", "fold_in", "bits", "uniform", "normal",
    "randint", "bernoulli", "truncated_normal", "permutation", "choice", "exponential",
    "gumbel", "categorical", "threefry2x32", "threefry_2x32",
]

# ---------------------------------------------------------------------------
# Keys.


def PRNGKey(seed):
    """A key from an integer seed: ``[0, seed]`` for 32-bit seeds (``jax.random.PRNGKey``).

    >>> from s2s import random
    >>> random.PRNGKey(42)
    array([ 0, 42], dtype=uint32)
    """
    return seed_key(seed)


def key(seed, *, impl=None):
    """A typed key from an integer seed (``jax.random.key``): shape ``()``, its data the
    same ``uint32`` words as ``PRNGKey(seed)``, so every sampler draws the same values.

    >>> from s2s import random
    >>> k = random.key(42)
    >>> k.shape, random.key_data(k)
    ((), array([ 0, 42], dtype=uint32))
    """
    if impl not in (None, "threefry2x32"):
        raise NotImplementedError(f"random.key: only the threefry2x32 generator is available, "
                                  f"got impl={impl!r}")
    return KeyArray(seed_key(seed))


def key_data(keys):
    """The ``uint32[..., 2]`` words of ``keys`` (typed keys; raw keys are their own data).

    >>> from s2s import random
    >>> random.key_data(random.split(random.key(1), 3)).shape
    (3, 2)
    """
    data = _raw(keys)
    if h.dtype_of(data) != dtypes.uint32 or h.shape_of(data)[-1:] != (2,):
        raise DtypeError(f"key_data: expected keys (typed, or uint32[..., 2] data), got "
                         f"{abstractify(data).str_short()}")
    return data


def wrap_key_data(key_bits_array, *, impl=None):
    """Typed keys from their ``uint32[..., 2]`` words (the inverse of ``key_data``).

    >>> import numpy as np
    >>> from s2s import random
    >>> random.wrap_key_data(np.array([[0, 7], [0, 8]], np.uint32)).shape
    (2,)
    """
    if impl not in (None, "threefry2x32"):
        raise NotImplementedError(f"random.wrap_key_data: only the threefry2x32 generator is "
                                  f"available, got impl={impl!r}")
    if type(key_bits_array) is KeyArray:
        raise TypeError("wrap_key_data: the argument is already a typed key array")
    return KeyArray(key_data(key_bits_array))


def split(key, num=2):
    """``num`` new keys (an int or a shape), independent of each other and of ``key``.

    >>> from s2s import random
    >>> random.split(random.PRNGKey(0))
    array([[1797259609, 2579123966],
           [ 928981903, 3453687069]], dtype=uint32)
    """
    shape = h.static_shape("split", num)
    return _like(key, split_key(check_key("split", key), shape))


def fold_in(key, data):
    """A new key that depends on ``key`` and the 32-bit integer ``data``.

    >>> from s2s import random
    >>> random.fold_in(random.PRNGKey(0), 5)
    array([1524306142, 1887795613], dtype=uint32)
    """
    return _like(key, fold_in_key(check_key("fold_in", key), data))


def threefry_2x32(keypair, count):
    """The Threefry-2x32 hash of the uint32 array ``count`` (``jax.prng.threefry_2x32``).

    The flattened counts are cut into two halves (padded with a zero when odd) that
    form the hash's counter pairs; the outputs are put back in the same order.

    >>> import numpy as np
    >>> from s2s import random
    >>> random.threefry_2x32(np.zeros(2, np.uint32), np.arange(4, dtype=np.uint32))
    array([4146024105,  967050713, 2718843009, 1272950319], dtype=uint32)
    """
    keypair = check_key("threefry_2x32", keypair)
    count = h.convert(count, dtypes.uint32) if not isinstance(count, (onp.ndarray, Tracer)) else count
    if h.dtype_of(count) != dtypes.uint32:
        raise DtypeError(f"threefry_2x32: count must be uint32, got {h.dtype_of(count).name}")
    shape = h.shape_of(count)
    size = math.prod(shape)
    flat = lax.reshape(count, new_sizes=(size,))
    if size % 2:
        flat = lax.concatenate(flat, onp.zeros(1, onp.uint32), dimension=0)
    half = (size + 1) // 2
    x1 = lax.slice(flat, start_indices=(0,), limit_indices=(half,))
    x2 = lax.slice(flat, start_indices=(half,), limit_indices=(2 * half,))
    k1 = lax.reshape(lax.slice(keypair, start_indices=(0,), limit_indices=(1,)), new_sizes=())
    k2 = lax.reshape(lax.slice(keypair, start_indices=(1,), limit_indices=(2,)), new_sizes=())
    out = lax.concatenate(*threefry2x32(k1, k2, x1, x2), dimension=0)
    return lax.reshape(lax.slice(out, start_indices=(0,), limit_indices=(size,)), new_sizes=shape)


# ---------------------------------------------------------------------------
# Argument checks shared by the samplers.


def _shape(name, shape, *param_shapes):
    shape = h.static_shape(name, shape)
    for p in param_shapes:
        if broadcast_shapes(name, shape, p) != shape:
            raise ShapeError(f"{name}: parameter shape {p} does not broadcast to the requested "
                             f"shape {shape}; pass shape=None or a shape they broadcast to")
    return shape


def _float_dtype(name, dtype):
    dt = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    if not dtypes.is_float(dt):
        raise DtypeError(f"{name}: dtype must be a floating dtype, got {dt.name}")
    return dt


def _split2(key):
    keys = split_key(key, (2,))
    first = lax.reshape(lax.slice(keys, start_indices=(0, 0), limit_indices=(1, 2)), new_sizes=(2,))
    second = lax.reshape(lax.slice(keys, start_indices=(1, 0), limit_indices=(2, 2)), new_sizes=(2,))
    return first, second


# ---------------------------------------------------------------------------
# Bits and uniform floats.


def bits(key, shape=(), dtype=None):
    """Uniform random bits as unsigned integers (uint32 by default, uint64 under x64).

    >>> from s2s import random
    >>> random.bits(random.PRNGKey(0), (3,))
    array([4070199207, 4202968722, 1427181096], dtype=uint32)
    """
    key = check_key("bits", key)
    dt = (dtypes.uint64 if dtypes.x64_enabled() else dtypes.uint32) if dtype is None \
        else dtypes.canonicalize_dtype(dtype)
    if dt.kind != "u":
        raise DtypeError(f"bits: dtype must be an unsigned integer dtype, got {dt.name}")
    return random_bits(key, dt.itemsize * 8, _shape("bits", shape))


def _uniform(key, shape, dtype, minval, maxval):
    """Floats in ``[minval, maxval)`` from the mantissa bits of ``[1, 2)``, as ``jax.random``."""
    finfo = dtypes.finfo(dtype)
    nbits, nmant = finfo.bits, finfo.nmant
    rng_bits = 8 if nmant < 8 else nbits
    uint = unsigned_dtype(nbits)
    raw = random_bits(key, rng_bits, shape)
    if rng_bits != nbits:
        raw = lax.convert_element_type(raw, new_dtype=uint)
    one_bits = onp.array(1.0, dtype).view(uint)
    float_bits = lax.bitwise_or(lax.shift_right_logical(raw, onp.asarray(rng_bits - nmant, uint)), one_bits)
    floats = lax.sub(lax.bitcast_convert_type(float_bits, new_dtype=dtype), onp.asarray(1.0, dtype))
    minval = h.broadcast_to(h.convert(minval, dtype), shape, "uniform")
    maxval = h.broadcast_to(h.convert(maxval, dtype), shape, "uniform")
    return lax.max(minval, fops.fma(floats, lax.sub(maxval, minval), minval))


def uniform(key, shape=(), dtype=None, minval=0.0, maxval=1.0):
    """Uniform floats in ``[minval, maxval)`` (float32 by default).

    >>> from s2s import random
    >>> random.uniform(random.PRNGKey(0), (2,))
    array([0.947667 , 0.9785799], dtype=float32)
    """
    key = check_key("uniform", key)
    dt = _float_dtype("uniform", dtype)
    shape = _shape("uniform", shape, h.shape_of(minval), h.shape_of(maxval))
    return _uniform(key, shape, dt, minval, maxval)


# ---------------------------------------------------------------------------
# Normal samplers.


def _normal_real(key, shape, dtype):
    lo = onp.nextafter(onp.array(-1.0, dtype), onp.array(0.0, dtype))
    u = _uniform(key, shape, dtype, lo, onp.array(1.0, dtype))
    return lax.mul(onp.array(onp.sqrt(2), dtype), fops.erf_inv(u))


def normal(key, shape=(), dtype=None):
    """Standard normal samples (complex dtypes: real and imaginary parts with variance 1/2).

    >>> from s2s import random
    >>> random.normal(random.PRNGKey(1), (2,))
    array([-0.15443718,  0.08470728], dtype=float32)
    """
    key = check_key("normal", key)
    dt = dtypes.default_float_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    shape = _shape("normal", shape)
    if dtypes.is_complex(dt):
        real = dtypes.real_dtype(dt)
        key_re, key_im = _split2(key)
        # jax divides by sqrt(2) + 0j, which XLA computes as a product with 1 / sqrt(2);
        # a complex product keeps XLA from folding the factor into the real parts' sqrt(2).
        scale = onp.array(1, real) / onp.array(onp.sqrt(2), real)
        z = lax.complex(_normal_real(key_re, shape, real), _normal_real(key_im, shape, real))
        return lax.mul(z, onp.array(scale, dt))
    if not dtypes.is_float(dt):
        raise DtypeError(f"normal: dtype must be a floating or complex dtype, got {dt.name}")
    return _normal_real(key, shape, dt)


def _step(x, up):
    """The next representable float after ``x`` toward ``+inf`` (``up``) or ``-inf``."""
    dt = h.dtype_of(x)
    uint = unsigned_dtype(dt.itemsize * 8)
    raw = lax.bitcast_convert_type(x, new_dtype=uint)
    one = onp.asarray(1, uint)
    away_from_zero = lax.eq(lax.gt(x, 0), up)
    moved = h.where(away_from_zero, lax.add(raw, one), lax.sub(raw, one))
    smallest = onp.asarray(1 if up else (1 << (8 * dt.itemsize - 1)) | 1, uint)
    moved = h.where(lax.eq(x, 0), smallest, moved)
    out = lax.bitcast_convert_type(moved, new_dtype=dt)
    fixed = lax.bitwise_or(lax.ne(x, x), lax.eq(x, onp.asarray(onp.inf if up else -onp.inf, dt)))
    return h.where(fixed, x, out)


def truncated_normal(key, lower, upper, shape=None, dtype=None):
    """Normal samples conditioned on the open interval ``(lower, upper)``.

    >>> from s2s import random
    >>> x = random.truncated_normal(random.PRNGKey(0), -1.0, 1.0, (1000,))
    >>> bool((x > -1).all() and (x < 1).all())
    True
    """
    key = check_key("truncated_normal", key)
    dt = _float_dtype("truncated_normal", dtype)
    lower_shape, upper_shape = h.shape_of(lower), h.shape_of(upper)
    if shape is None:
        shape = broadcast_shapes("truncated_normal", lower_shape, upper_shape)
    shape = _shape("truncated_normal", shape, lower_shape, upper_shape)
    sqrt2 = onp.array(onp.sqrt(2), dt)
    lower = lax.stop_gradient(h.convert(lower, dt))
    upper = lax.stop_gradient(h.convert(upper, dt))
    a = fops.erf(lax.div(lower, sqrt2))
    b = fops.erf(lax.div(upper, sqrt2))
    u = _uniform(key, shape, dt, a, b)
    out = lax.mul(sqrt2, fops.erf_inv(u))
    low = h.broadcast_to(_step(lower, True), shape)
    high = h.broadcast_to(_step(upper, False), shape)
    return lax.min(high, lax.max(low, out))


# ---------------------------------------------------------------------------
# Integers and booleans.


def _as_int(name, value):
    """An integer array for ``value`` (floats truncate, as ``astype(int)`` does)."""
    if type(value) is int:
        return onp.asarray(value, dtypes.default_int_dtype())
    if type(value) is float or dtypes.is_inexact(h.dtype_of(value)):
        return lax.convert_element_type(value, new_dtype=dtypes.default_int_dtype())
    if h.dtype_of(value).kind not in "iu":
        raise DtypeError(f"{name}: bounds must be integers, got {h.dtype_of(value).name}")
    return value if isinstance(value, (onp.ndarray, Tracer)) else onp.asarray(value, h.dtype_of(value))


def _convert_and_clip(value, dtype):
    """``value`` (an integer array) in ``dtype``, saturating at its range instead of wrapping."""
    src = h.dtype_of(value)
    lo = max(dtypes.iinfo(dtype).min, dtypes.iinfo(src).min)
    hi = min(dtypes.iinfo(dtype).max, dtypes.iinfo(src).max)
    clipped = lax.clamp(onp.asarray(lo, src), value, onp.asarray(hi, src))
    return lax.convert_element_type(clipped, new_dtype=dtype)


def _randint(key, shape, minval, maxval, dtype):
    minval, maxval = _as_int("randint", minval), _as_int("randint", maxval)
    top = _convert_and_clip(onp.asarray(dtypes.iinfo(dtype).max, dtype), h.dtype_of(maxval))
    out_of_range = h.broadcast_to(lax.gt(maxval, top), shape)
    minval = h.broadcast_to(_convert_and_clip(minval, dtype), shape)
    maxval = h.broadcast_to(_convert_and_clip(maxval, dtype), shape)
    nbits = dtypes.iinfo(dtype).bits
    k1, k2 = _split2(key)
    higher, lower = random_bits(k1, nbits, shape), random_bits(k2, nbits, shape)
    uint = unsigned_dtype(nbits)
    one = onp.asarray(1, uint)
    span = lax.convert_element_type(lax.sub(maxval, minval), new_dtype=uint)
    span = h.where(lax.le(maxval, minval), one, span)  # empty ranges give minval
    span = h.where(lax.bitwise_and(out_of_range, lax.gt(maxval, minval)), lax.add(span, one), span)
    # 2**nbits mod span, without overflow: (2**(nbits/2) mod span)**2 mod span.
    multiplier = lax.rem(onp.asarray(2 ** (nbits // 2), uint), span)
    multiplier = lax.rem(lax.mul(multiplier, multiplier), span)
    offset = lax.add(lax.mul(lax.rem(higher, span), multiplier), lax.rem(lower, span))
    offset = lax.rem(offset, span)
    return lax.add(minval, lax.convert_element_type(offset, new_dtype=dtype))


def randint(key, shape, minval, maxval, dtype=None):
    """Uniform integers in ``[minval, maxval)`` (int32 by default); empty ranges give ``minval``.

    >>> from s2s import random
    >>> random.randint(random.PRNGKey(0), (5,), 0, 10)
    array([9, 0, 2, 3, 1], dtype=int32)
    """
    key = check_key("randint", key)
    dt = dtypes.default_int_dtype() if dtype is None else dtypes.canonicalize_dtype(dtype)
    if not dtypes.is_integer(dt):
        raise DtypeError(f"randint: dtype must be an integer dtype, got {dt.name}")
    shape = _shape("randint", shape, h.shape_of(minval), h.shape_of(maxval))
    with onp.errstate(over="ignore"):
        info = dtypes.iinfo(dt)
        if info.bits >= 32:
            return _randint(key, shape, minval, maxval, dt)
        # Narrow integers are drawn as int32 and converted, which keeps the bias small.
        i32 = dtypes.int32
        lo = lax.clamp(onp.int32(info.min), h.convert(_as_int("randint", minval), i32), onp.int32(info.max))
        hi = lax.clamp(onp.int32(info.min), h.convert(_as_int("randint", maxval), i32),
                       onp.int32(info.max + 1))
        return lax.convert_element_type(_randint(key, shape, lo, hi, i32), new_dtype=dt)


def bernoulli(key, p=0.5, shape=None, mode="low"):
    """Booleans that are True with probability ``p`` (a float or float array).

    ``mode="high"`` spends twice the bits to resolve probabilities below about 1e-7.

    >>> from s2s import random
    >>> random.bernoulli(random.PRNGKey(0), 0.5, (4,))
    array([False, False,  True,  True])
    """
    key = check_key("bernoulli", key)
    if mode not in ("low", "high"):
        raise ValueError(f"bernoulli: mode must be 'low' or 'high', got {mode!r}")
    dt = h.dtype_of(p)
    if not dtypes.is_float(dt):
        raise DtypeError(f"bernoulli: probability p must have a floating dtype, got {dt.name}")
    shape = h.shape_of(p) if shape is None else _shape("bernoulli", shape, h.shape_of(p))
    if mode == "low":
        return lax.lt(_uniform(key, shape, dt, 0.0, 1.0), p)
    both = _uniform(key, (2, *shape), dt, 0.0, 1.0)
    u1 = lax.reshape(lax.slice(both, start_indices=(0,) * (len(shape) + 1),
                               limit_indices=(1, *shape)), new_sizes=shape)
    u2 = lax.reshape(lax.slice(both, start_indices=(1,) + (0,) * len(shape),
                               limit_indices=(2, *shape)), new_sizes=shape)
    u2 = lax.mul(u2, onp.asarray(2.0 ** -dtypes.finfo(dt).nmant, dt))
    return lax.lt(u2, lax.sub(p, u1))


# ---------------------------------------------------------------------------
# Permutations and choice.


def _take(x, indices, axis):
    """``numpy.take(x, indices, axis)`` for in-range integer ``indices``, as a gather."""
    shape = h.shape_of(x)
    k = len(h.shape_of(indices))
    offset_dims = tuple(i if i < axis else i + k - 1 for i in range(len(shape)) if i != axis)
    dn = lax.GatherDimensionNumbers(offset_dims=offset_dims, collapsed_slice_dims=(axis,),
                                    start_index_map=(axis,))
    idx = lax.expand_dims(indices, dimensions=(k,))
    sizes = tuple(1 if i == axis else d for i, d in enumerate(shape))
    return lax.gather(x, idx, dimension_numbers=dn, slice_sizes=sizes, mode="clip")


def _shuffle(key, x, axis):
    """Sorts ``x`` along ``axis`` by random 32-bit keys, enough rounds to avoid ties."""
    size = math.prod(h.shape_of(x))
    rounds = math.ceil(3 * math.log(max(1, size)) / math.log(2 ** 32 - 1))
    for _ in range(rounds):
        key, subkey = _split2(key)
        sort_keys = random_bits(subkey, 32, h.shape_of(x))
        _, x = lax.sort(sort_keys, x, dimension=axis, is_stable=True, num_keys=1)
    return x


def _arange(n):
    return lax.broadcasted_iota(dtype=dtypes.default_int_dtype(), shape=(n,), dimension=0)


def _concrete_int(name, x):
    if isinstance(x, Tracer):
        raise TypeError(f"{name}: an integer count must be a concrete Python int under jit; "
                        "pass it as a static argument")
    return int(x)


def permutation(key, x, axis=0, independent=False):
    """A random permutation of ``arange(x)`` (an int) or of ``x`` along ``axis``.

    ``independent=True`` shuffles each slice along ``axis`` on its own.

    >>> from s2s import random
    >>> random.permutation(random.PRNGKey(0), 5)
    array([0, 1, 4, 3, 2], dtype=int32)
    """
    key = check_key("permutation", key)
    shape = h.shape_of(x)
    if not shape:
        if h.dtype_of(x).kind not in "iu":
            raise DtypeError("permutation: x must be an integer or an array with at least one dimension")
        return _shuffle(key, _arange(_concrete_int("permutation", x)), 0)
    axis = canonicalize_axis("permutation", axis, len(shape))
    x = h.convert(x, h.dtype_of(x))
    if independent or len(shape) == 1:
        return _shuffle(key, x, axis)
    return _take(x, _shuffle(key, _arange(shape[axis]), 0), axis)


def _choice_weighted(key, n, shape, replace, p):
    p, = h.promote_inexact("choice", p)
    if h.shape_of(p) != (n,):
        raise ShapeError(f"choice: p must be None or a 1-d array of size {n} (a.shape[axis]), "
                         f"got shape {h.shape_of(p)}")
    if replace:
        cumulative = lax.cumsum(p, axis=0)
        total = lax.slice(cumulative, start_indices=(n - 1,), limit_indices=(n,))
        u = _uniform(key, shape, h.dtype_of(p), 0.0, 1.0)
        r = lax.mul(lax.reshape(total, new_sizes=()), lax.sub(onp.asarray(1, h.dtype_of(p)), u))
        below = lax.lt(cumulative, lax.expand_dims(r, dimensions=(len(shape),)))
        return lax.reduce_sum(lax.convert_element_type(below, new_dtype=dtypes.default_int_dtype()),
                              axes=(len(shape),))
    scores = lax.add(gumbel(key, (n,), h.dtype_of(p)), fops.log(p))
    _, order = lax.sort(lax.neg(scores), _arange(n), dimension=0, is_stable=True, num_keys=1)
    k = math.prod(shape)
    return lax.reshape(lax.slice(order, start_indices=(0,), limit_indices=(k,)), new_sizes=shape)


def choice(key, a, shape=(), replace=True, p=None, axis=0):
    """Random samples from ``a`` (an array, or ``arange(a)`` for an int), optionally weighted.

    >>> from s2s import random
    >>> random.choice(random.PRNGKey(0), 10, (3,), replace=False)
    array([0, 1, 8], dtype=int32)
    """
    key = check_key("choice", key)
    shape = h.static_shape("choice", shape)
    a_shape = h.shape_of(a)
    if a_shape:
        axis = canonicalize_axis("choice", axis, len(a_shape))
        n = a_shape[axis]
    else:
        n = _concrete_int("choice", a)
    draws = math.prod(shape)
    if draws and n <= 0:
        raise ValueError("choice: a must be greater than 0 unless no samples are taken")
    if not replace and draws > n:
        raise ValueError(f"choice: cannot take a larger sample (size {draws}) than the population "
                         f"(size {n}) when replace=False")
    if draws == 0:
        dt = h.dtype_of(a) if a_shape else dtypes.default_int_dtype()
        out_shape = shape if not a_shape else a_shape[:axis] + shape + a_shape[axis + 1:]
        return h.full(0, out_shape, dt)
    if p is not None:
        ind = _choice_weighted(key, n, shape, replace, p)
    elif replace:
        ind = randint(key, shape, 0, n)
    else:
        perm = permutation(key, n)
        ind = lax.reshape(lax.slice(perm, start_indices=(0,), limit_indices=(draws,)), new_sizes=shape)
    if not a_shape:
        return ind
    return _take(h.convert(a, h.dtype_of(a)), ind, axis)


# ---------------------------------------------------------------------------
# Other distributions.


def exponential(key, shape=(), dtype=None):
    """Exponential samples with rate 1: ``-log1p(-u)``.

    >>> from s2s import random
    >>> random.exponential(random.PRNGKey(0), (2,))
    array([2.950128 , 3.8434246], dtype=float32)
    """
    key = check_key("exponential", key)
    dt = _float_dtype("exponential", dtype)
    u = _uniform(key, _shape("exponential", shape), dt, 0.0, 1.0)
    return lax.neg(fops.log1p(lax.neg(u)))


def gumbel(key, shape=(), dtype=None, mode="low"):
    """Standard Gumbel samples ``-log(-log(u))``; ``mode="high"`` resolves the far tail.

    >>> from s2s import random
    >>> random.gumbel(random.PRNGKey(0), (2,))
    array([2.9233725, 3.8326178], dtype=float32)
    """
    key = check_key("gumbel", key)
    dt = _float_dtype("gumbel", dtype)
    shape = _shape("gumbel", shape)
    finfo = dtypes.finfo(dt)
    if mode == "low":
        u = _uniform(key, shape, dt, onp.asarray(finfo.tiny, dt), 1.0)
        return lax.neg(fops.log(lax.neg(fops.log(u))))
    if mode != "high":
        raise ValueError(f"gumbel: mode must be 'low' or 'high', got {mode!r}")
    both = _uniform(key, (2, *shape), dt, 0.0, 1.0)
    starts = (0,) * (len(shape) + 1)
    high = lax.reshape(lax.slice(both, start_indices=starts, limit_indices=(1, *shape)), new_sizes=shape)
    low = lax.reshape(lax.slice(both, start_indices=(1,) + starts[1:], limit_indices=(2, *shape)),
                      new_sizes=shape)
    fine = lax.add(lax.add(high, lax.mul(onp.asarray(2.0 ** -finfo.nmant, dt), low)),
                   onp.asarray(finfo.tiny, dt))
    x = h.where(lax.ge(high, 0.5), high, fine)
    return lax.neg(fops.log(lax.neg(fops.log1p(lax.neg(x)))))


def categorical(key, logits, axis=-1, shape=None, replace=True):
    """Category indices drawn with probabilities ``softmax(logits, axis)`` (Gumbel-max).

    >>> from s2s import random
    >>> random.categorical(random.PRNGKey(0), [[0.0, 10.0], [10.0, 0.0]])
    array([1, 0], dtype=int32)
    """
    key = check_key("categorical", key)
    logits, = h.promote_inexact("categorical", logits)
    lshape = h.shape_of(logits)
    axis = canonicalize_axis("categorical", axis, len(lshape))
    batch = lshape[:axis] + lshape[axis + 1:]
    shape = batch if shape is None else h.static_shape("categorical", shape)
    if shape[len(shape) - len(batch):] != batch:
        raise ShapeError(f"categorical: shape {shape} must end with the batch shape {batch} of logits "
                         f"{lshape} (axis {axis} removed)")
    prefix = shape[:len(shape) - len(batch)]
    dt = h.dtype_of(logits)
    if replace:
        noise = gumbel(key, prefix + lshape, dt)
        scores = lax.add(noise, h.broadcast_to(logits, prefix + lshape))
        return lax.argmax(scores, axis=len(prefix) + axis, index_dtype=dtypes.default_int_dtype())
    k = math.prod(prefix)
    if k > lshape[axis]:
        raise ValueError(f"categorical: {k} samples without replacement exceed the "
                         f"{lshape[axis]} categories")
    scores = lax.add(logits, gumbel(key, lshape, dt))
    index = lax.broadcasted_iota(dtype=dtypes.default_int_dtype(), shape=lshape, dimension=axis)
    _, order = lax.sort(lax.neg(scores), index, dimension=axis, is_stable=True, num_keys=1)
    top = lax.slice(order, start_indices=(0,) * len(lshape),
                    limit_indices=tuple(k if i == axis else d for i, d in enumerate(lshape)))
    perm = (axis,) + tuple(i for i in range(len(lshape)) if i != axis)
    return lax.reshape(lax.transpose(top, permutation=perm), new_sizes=shape)

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
