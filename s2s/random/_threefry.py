"""The Threefry-2x32 counter-based hash and the key operations built on it.

Keys are raw ``uint32[2]`` arrays, as ``jax.random.PRNGKey`` makes them, and every
operation reproduces ``jax.random``'s default implementation (threefry2x32 with
``jax_threefry_partitionable``, the default since JAX 0.5):

- ``seed``: a 32-bit seed ``s`` gives ``[0, s]``; a 64-bit one its high and low words.
- ``split(key, shape)``: for ``i`` counting over ``shape`` (as a 64-bit integer cut
  into ``(hi, lo)`` words), ``threefry(key, hi_i, lo_i)`` *is* the new key ``i``.
- ``fold_in(key, d)``: ``threefry(key, 0, d)``.
- ``random_bits(key, width, shape)``: the two output words of the same hash,
  xor-ed (32 bits), concatenated (64 bits) or truncated (8 and 16 bits).

The hash itself is a NumPy-level primitive: NumPy runs it eagerly (uint32
arithmetic wraps, as XLA's does), its lax composite defines it under ``jit``.

>>> import numpy as np
>>> threefry2x32(np.uint32(0), np.uint32(0), np.zeros(2, np.uint32), np.arange(2, dtype=np.uint32))
[array([1797259609,  928981903], dtype=uint32), array([2579123966, 3453687069], dtype=uint32)]
"""
import functools
import math

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import Tracer, abstractify, def_zero_derivative
from s2s.random._keys import raw
from s2s.lax.shapes import broadcast_shapes
from s2s.numpy._primitive import numpy_primitive
from s2s.scipy import _lax_helpers as h

# Rotation amounts of the two alternating groups of four rounds, and the constant
# whose xor with both key words gives the third word of the key schedule.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_KEY_PARITY = 0x1BD11BDA
_UINT = {8: dtypes.uint8, 16: dtypes.uint16, 32: dtypes.uint32, 64: dtypes.uint64}


def _hash(k1, k2, x1, x2, ops):
    """Threefry-2x32 with 20 rounds, on whatever arithmetic ``ops`` provides."""
    add, xor, rotl, const = ops
    ks = (k1, k2, xor(xor(k1, k2), const(_KEY_PARITY)))
    x1, x2 = add(x1, ks[0]), add(x2, ks[1])
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x1 = add(x1, x2)
            x2 = xor(x1, rotl(x2, r))
        x1 = add(x1, ks[(i + 1) % 3])
        x2 = add(add(x2, ks[(i + 2) % 3]), const(i + 1))
    return x1, x2


def _np_rotl(x, r):
    return (x << onp.uint32(r)) | (x >> onp.uint32(32 - r))


_NP_OPS = (onp.add, onp.bitwise_xor, _np_rotl, onp.uint32)


def _lax_rotl(x, r):
    return lax.bitwise_or(lax.shift_left(x, onp.uint32(r)), lax.shift_right_logical(x, onp.uint32(32 - r)))


_LAX_OPS = (lax.add, lax.bitwise_xor, _lax_rotl, onp.uint32)


def _threefry_impl(k1, k2, x1, x2):
    k1, k2, x1, x2 = (onp.asarray(v, onp.uint32) for v in (k1, k2, x1, x2))
    x1, x2 = onp.broadcast_arrays(x1, x2)
    with onp.errstate(over="ignore"):
        return [onp.asarray(v, onp.uint32) for v in _hash(k1, k2, x1, x2, _NP_OPS)]


def _threefry_composite(k1, k2, x1, x2):
    for name, v in (("key", k1), ("key", k2), ("count", x1), ("count", x2)):
        if h.dtype_of(v) != dtypes.uint32:
            raise DtypeError(f"threefry2x32: {name} words must be uint32, got {h.dtype_of(v).name}")
    shape = broadcast_shapes("threefry2x32", h.shape_of(x1), h.shape_of(x2))
    x1, x2 = h.broadcast_to(x1, shape), h.broadcast_to(x2, shape)
    return list(_hash(k1, k2, x1, x2, _LAX_OPS))


threefry2x32_p = numpy_primitive("threefry2x32", _threefry_impl, _threefry_composite,
                                 multiple_results=True)
def_zero_derivative(threefry2x32_p)


def threefry2x32(k1, k2, x1, x2):
    """The Threefry-2x32 hash of counters ``(x1, x2)`` under key ``(k1, k2)``: two uint32 arrays.

    >>> import numpy as np
    >>> threefry2x32(np.uint32(0), np.uint32(0), np.uint32(0), np.uint32(0))[0]
    array(1797259609, dtype=uint32)
    """
    return threefry2x32_p.bind(k1, k2, x1, x2)


# ---------------------------------------------------------------------------
# Keys.


def check_key(name, key):
    """The raw ``uint32[2]`` data of ``key`` (typed keys unwrapped), validated (a
    ``DtypeError``/``ShapeError`` naming ``name``)."""
    key = raw(key)
    aval = abstractify(key)
    if aval.dtype != dtypes.uint32:
        raise DtypeError(f"{name}: key must be a uint32[2] PRNG key (from PRNGKey, split or "
                         f"fold_in), got {aval.str_short()}")
    if aval.shape != (2,):
        hint = "; split or use one key at a time (vmap over keys)" if aval.shape[-1:] == (2,) else ""
        raise ShapeError(f"{name}: key must have shape (2,), got {aval.shape}{hint}")
    return key


def key_words(key):
    """The two uint32 words of a key, as 0-d arrays."""
    k1 = lax.reshape(lax.slice(key, start_indices=(0,), limit_indices=(1,)), new_sizes=())
    k2 = lax.reshape(lax.slice(key, start_indices=(1,), limit_indices=(2,)), new_sizes=())
    return k1, k2


def stack_words(w1, w2):
    """Stacks two uint32 arrays of one shape along a new last axis (the key words)."""
    nd = len(h.shape_of(w1))
    return lax.concatenate(lax.expand_dims(w1, dimensions=(nd,)), lax.expand_dims(w2, dimensions=(nd,)),
                           dimension=nd)


def _python_seed_words(seed):
    if not -2 ** 63 <= seed < 2 ** 64:
        raise OverflowError(f"PRNGKey: seed {seed} does not fit in 64 bits")
    seed %= 2 ** 64
    if not dtypes.x64_enabled():  # the seed is a 32-bit integer first, as in JAX
        seed %= 2 ** 32
    return onp.array([seed >> 32, seed & 0xFFFFFFFF], onp.uint32)


def seed_key(seed):
    """The raw key of an integer ``seed`` (Python int, NumPy integer or integer scalar array)."""
    if isinstance(seed, bool) or (type(seed) not in (int,) and dtypes.dtype_of(seed).kind not in "iu"):
        raise TypeError(f"PRNGKey: seed must be an integer, got {seed!r}")
    if type(seed) is int:
        return _python_seed_words(seed)
    aval = abstractify(seed)
    if aval.shape:
        raise ShapeError(f"PRNGKey: seed must be a scalar, got shape {aval.shape}")
    if not isinstance(seed, Tracer):
        seed = onp.asarray(seed, aval.dtype)
    if aval.dtype.itemsize == 8:
        high = lax.convert_element_type(lax.shift_right_logical(seed, onp.asarray(32, aval.dtype)),
                                        new_dtype=dtypes.uint32)
    else:
        high = onp.zeros((), onp.uint32)
    low = lax.convert_element_type(seed, new_dtype=dtypes.uint32)
    return stack_words(high, low)



def _check_size(shape):
    size = math.prod(shape)
    if size > 2 ** 32:
        raise NotImplementedError(f"random: {size} values at once exceed 2**32; draw in pieces")
    return size


class _LaxKeyOps:
    """The array operations the key functions need, on ``s2s.lax`` (the staged semantics)."""

    words = staticmethod(key_words)
    stack = staticmethod(stack_words)
    hash = staticmethod(_threefry_composite)
    xor = staticmethod(lax.bitwise_xor)
    bitwise_or = staticmethod(lax.bitwise_or)

    @staticmethod
    def counters(shape):
        size = _check_size(shape)
        lo = lax.reshape(lax.broadcasted_iota(dtype=dtypes.uint32, shape=(size,), dimension=0), new_sizes=shape)
        return onp.zeros(shape, onp.uint32), lo

    @staticmethod
    def convert(x, dtype):
        return lax.convert_element_type(x, new_dtype=dtype)

    @staticmethod
    def shift_left(x, n):
        return lax.shift_left(x, onp.asarray(n, h.dtype_of(x)))


class _NumPyKeyOps:
    """The same operations on NumPy: the eager rules, equal to the staged ones bit for bit."""

    hash = staticmethod(_threefry_impl)
    xor = staticmethod(onp.bitwise_xor)
    bitwise_or = staticmethod(onp.bitwise_or)

    @staticmethod
    def words(key):
        key = onp.asarray(key, onp.uint32)
        return key[0], key[1]

    @staticmethod
    def stack(w1, w2):
        return onp.stack([w1, w2], axis=-1)

    @staticmethod
    def counters(shape):
        size = _check_size(shape)
        return onp.zeros(shape, onp.uint32), onp.arange(size, dtype=onp.uint32).reshape(shape)

    @staticmethod
    def convert(x, dtype):
        return onp.asarray(x).astype(dtype)

    @staticmethod
    def shift_left(x, n):
        return onp.left_shift(x, onp.asarray(n, x.dtype))


def _split(ops, key, *, shape):
    k1, k2 = ops.words(key)
    return ops.stack(*ops.hash(k1, k2, *ops.counters(shape)))


def _fold_in(ops, key, data):
    k1, k2 = ops.words(key)
    return ops.stack(*ops.hash(k1, k2, onp.zeros((), onp.uint32), data))


def _random_bits(ops, key, *, bit_width, shape):
    k1, k2 = ops.words(key)
    w1, w2 = ops.hash(k1, k2, *ops.counters(shape))
    dtype = _UINT[bit_width]
    if bit_width == 64:
        return ops.bitwise_or(ops.shift_left(ops.convert(w1, dtype), 32), ops.convert(w2, dtype))
    bits = ops.xor(w1, w2)
    return bits if bit_width == 32 else ops.convert(bits, dtype)


def _key_primitive(name, fn):
    """A NumPy-level primitive running ``fn`` on NumPy eagerly and on lax when staged."""
    prim = numpy_primitive(name, functools.partial(fn, _NumPyKeyOps), functools.partial(fn, _LaxKeyOps))
    def_zero_derivative(prim)
    return prim


split_p = _key_primitive("random_split", _split)
fold_in_p = _key_primitive("random_fold_in", _fold_in)
random_bits_p = _key_primitive("random_bits", _random_bits)


def split_key(key, shape):
    """``shape`` new keys from ``key``: an array of shape ``(*shape, 2)``."""
    return split_p.bind(key, shape=tuple(shape))


def fold_in_key(key, data):
    """``key`` with the integer ``data`` (taken modulo 2**32) folded in."""
    if type(data) is int:
        data = onp.uint32(data % 2 ** 32)
    elif h.dtype_of(data).kind not in "iu" or h.shape_of(data):
        raise TypeError(f"fold_in: data must be an integer scalar, got {abstractify(data).str_short()}")
    return fold_in_p.bind(key, lax.convert_element_type(data, new_dtype=dtypes.uint32))


def random_bits(key, bit_width, shape):
    """Uniform random unsigned integers of ``bit_width`` bits (8, 16, 32 or 64) and ``shape``."""
    return random_bits_p.bind(key, bit_width=int(bit_width), shape=tuple(shape))


def unsigned_dtype(bit_width):
    """The unsigned integer dtype of ``bit_width`` bits."""
    return _UINT[bit_width]
