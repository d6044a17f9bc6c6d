"""Collectives over a named mapped axis: ``psum``, ``pmean``, ``pmax``, ``pmin``,
``all_gather`` and ``axis_index``, as in ``jax.lax``.

They mean something only inside ``s2s.vmap(f, axis_name=...)`` (the batch
rules in ``s2s.transforms.batch_support`` compute them across the examples);
called anywhere else they raise a ``NameError`` naming the unbound axis.

``vmap(lambda x: x / lax.psum(x, "i"), axis_name="i")(x)`` normalizes ``x``
over the mapped axis (the function needs source that s2s can read).

>>> from s2s import lax
>>> lax.psum(1.0, "i")
Traceback (most recent call last):
...
NameError: unbound axis name: 'i' (collectives need s2s.vmap(..., axis_name='i') around the call)
"""
from s2s.lax.batching import innermost_axis


def _unbound(name):
    innermost_axis(name)  # under a vmap of that name, its batch rule runs instead
    from s2s.lax.batching import _AXIS_FRAMES
    if _AXIS_FRAMES:
        raise NotImplementedError(
            f"lax collective over {name!r} in a function vmap runs once per example (it has "
            "no source s2s can read, or it is a nested vmap): the examples cannot see each "
            "other there; define the function with def in a file")
    raise NameError(f"unbound axis name: {name!r} (collectives need s2s.vmap(..., "
                    f"axis_name={name!r}) around the call)")


def psum(x, axis_name):
    """The sum of ``x`` over the examples of the mapped axis ``axis_name``."""
    return _unbound(axis_name)


def pmean(x, axis_name):
    """The mean of ``x`` over the examples of the mapped axis ``axis_name``."""
    return _unbound(axis_name)


def pmax(x, axis_name):
    """The maximum of ``x`` over the examples of the mapped axis ``axis_name``."""
    return _unbound(axis_name)


def pmin(x, axis_name):
    """The minimum of ``x`` over the examples of the mapped axis ``axis_name``."""
    return _unbound(axis_name)


def all_gather(x, axis_name, *, axis=0, tiled=False):
    """Every example's ``x``, stacked on a new axis ``axis`` (concatenated when ``tiled``)."""
    return _unbound(axis_name)


def axis_index(axis_name):
    """The index of this example along the mapped axis ``axis_name``."""
    return _unbound(axis_name)


axis_index.creates_batched = True  # its result varies across the mapped axis

public = {"psum": psum, "pmean": pmean, "pmax": pmax, "pmin": pmin, "all_gather": all_gather,
          "axis_index": axis_index}
