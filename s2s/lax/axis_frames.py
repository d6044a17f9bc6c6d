"""Mapped axes (``vmap(..., axis_name=...)``), innermost last: the collectives
(``s2s.lax.collectives``) and their batch rules find the axis they reduce over here.

A frame describes the batch axis of the code running inside it as *factors*, outer
first: ``((name, size), ...)``. One vmap gives one factor; nested vmaps merged into a
single batched call (``vmap(vmap(f))``) give one frame with a factor each, the batch
axis holding their examples in row-major order. An unnamed vmap inside a named one
pushes a frame too (name None), so that the innermost frame is always the batch axis
the running code has.

>>> with axis_frame("i", 4):
...     innermost_axis("i")
4
>>> with merged_axis_frame((("j", 2), ("i", 3))):
...     axis_factors("i")
((2, 3), 1)
"""

__all__ = ["axis_frame", "merged_axis_frame", "innermost_axis", "axis_factors", "active"]

_AXIS_FRAMES = []


class merged_axis_frame:
    """``with merged_axis_frame(factors)``: a batch axis made of ``factors`` is active."""

    def __init__(self, factors):
        self.factors = tuple(factors)

    def __enter__(self):
        _AXIS_FRAMES.append(self.factors)
        return self

    def __exit__(self, *exc):
        _AXIS_FRAMES.pop()


class axis_frame(merged_axis_frame):
    """``with axis_frame(name, size)``: a named mapped axis is active; ``axis_frame(name)``
    alone looks ``name`` up and returns its size (a NameError names an unbound axis)."""

    def __init__(self, name, size=None):
        self.name = name
        self.size = size
        if size is None:
            for frame in reversed(_AXIS_FRAMES):
                sizes = [s for n, s in frame if n == name]
                if sizes:
                    self.size = sizes[0]
                    break
        super().__init__(((name, self.size),))


def active():
    """The factors of the innermost frame (None when no mapped axis is active)."""
    return _AXIS_FRAMES[-1] if _AXIS_FRAMES else None


def axis_factors(name):
    """``(sizes, k)``: the factor sizes of the running batch axis and the position of the
    axis ``name`` among them; errors when ``name`` is not one of them."""
    if _AXIS_FRAMES:
        frame = _AXIS_FRAMES[-1]
        for k, (n, _) in enumerate(frame):
            if n == name and name is not None:
                return tuple(s for _, s in frame), k
    if any(n == name for frame in _AXIS_FRAMES for n, _ in frame):
        raise NotImplementedError(
            f"a collective over the axis {name!r} of an outer vmap from inside an inner vmap is "
            "not supported yet; call it in the function the outer vmap maps")
    raise NameError(f"unbound axis name: {name!r} (collectives need s2s.vmap(..., "
                    f"axis_name={name!r}) around the call)")


def innermost_axis(name):
    """The size of the active mapped axis ``name``; errors when it is not active."""
    sizes, k = axis_factors(name)
    return sizes[k]
