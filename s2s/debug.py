"""Debugging helpers that work inside ``jit``.

>>> import s2s, numpy as np
>>> @s2s.jit
... def f(x):
...     s2s.debug.print("x = {}", x)
...     return x * 2
>>> _ = f(np.float32(3.0))
x = 3.0
"""
from s2s import lax
from s2s.core.tree_util import tree_flatten


def print(fmt, *args, **kwargs):  # noqa: A001 (the JAX name)
    """``print(fmt.format(*args, **kwargs))`` with the runtime values, even under jit.

    Inside a compiled loop it prints on every iteration, like ``jax.debug.print``.
    """
    import builtins

    leaves, tree = tree_flatten((list(args), dict(kwargs)))

    def show(*values):
        a, k = tree.unflatten(values)
        builtins.print(fmt.format(*a, **k))

    lax.debug_callback(show, *leaves)


def callback(fn, *args):
    """Calls ``fn(*args)`` on the host with the runtime values, even under jit."""
    lax.debug_callback(fn, *args)

__all__ = ["callback", "print"]

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
