"""Typed keys (``jax.random.key``): an array of keys whose shape leaves out the two
``uint32`` words each key is made of.

A ``KeyArray`` wraps its raw ``uint32[..., 2]`` data and is a pytree node with that data
as its one leaf, so ``jit``, ``vmap`` and ``tree_map`` carry it as they carry any array
(under ``vmap`` the batch axis is the data's first axis, as in JAX). Every sampler takes
either kind of key; ``split`` and ``fold_in`` give back the kind they were given.

>>> import numpy as np
>>> k = KeyArray(np.zeros((3, 2), np.uint32))
>>> k.shape, k[1].shape
((3,), ())
"""
import numpy as onp

from s2s.core.tree_util import register_pytree_node


class KeyArray:
    """Keys of shape ``shape`` over ``uint32`` data of shape ``shape + (2,)``."""

    __slots__ = ("_data",)
    dtype = "key<fry>"

    def __init__(self, data):
        self._data = data

    @property
    def shape(self):
        return tuple(onp.shape(self._data)[:-1])  # (a tree_map may put any leaf here)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= d
        return n

    def __len__(self):
        if not self.shape:
            raise TypeError("len() of an unsized key array (a single key)")
        return self.shape[0]

    def __getitem__(self, index):
        index = index if isinstance(index, tuple) else (index,)
        if not self.shape or len([i for i in index if i is not None and i is not Ellipsis]) > self.ndim:
            raise IndexError(f"too many indices for a key array of shape {self.shape}")
        if Ellipsis not in index:
            index = index + (Ellipsis,)
        return KeyArray(self._data[index + (slice(None),)])

    def __iter__(self):
        return (self[i] for i in range(len(self)))

    def __repr__(self):
        return f"Array({self.shape}, dtype={self.dtype}) overlaying:\n{self._data!r}"


register_pytree_node(KeyArray, lambda k: ((k._data,), None), lambda _, data: KeyArray(data[0]))


def raw(key):
    """The ``uint32[..., 2]`` data of a typed key; a raw key as it is."""
    return key._data if type(key) is KeyArray else key


def like(key, data):
    """``data`` as the kind of key ``key`` is (typed or raw)."""
    return KeyArray(data) if type(key) is KeyArray else data
