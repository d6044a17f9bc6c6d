"""Named mapped axes (``vmap(..., axis_name=...)``), innermost last: the collectives
(``s2s.lax.collectives``) and their batch rules find the axis they reduce over here.

>>> with axis_frame("i", 4):
...     innermost_axis("i")
4
"""

__all__ = ["axis_frame", "innermost_axis"]

_AXIS_FRAMES = []


class axis_frame:
    """``with axis_frame(name, size)``: a named mapped axis is active; ``axis_frame(name)``
    alone looks ``name`` up and returns its size (a NameError names an unbound axis)."""

    def __init__(self, name, size=None):
        self.name = name
        self.size = size
        if size is None:
            for frame_name, frame_size in reversed(_AXIS_FRAMES):
                if frame_name == name:
                    self.size = frame_size
                    break

    def __enter__(self):
        _AXIS_FRAMES.append((self.name, self.size))
        return self

    def __exit__(self, *exc):
        _AXIS_FRAMES.pop()


def innermost_axis(name):
    """The size of the innermost active mapped axis if it is ``name``; errors otherwise."""
    if _AXIS_FRAMES and _AXIS_FRAMES[-1][0] == name:
        return _AXIS_FRAMES[-1][1]
    if any(n == name for n, _ in _AXIS_FRAMES):
        raise NotImplementedError(
            f"a collective over the axis {name!r} of an outer vmap from inside an inner vmap is "
            "not supported yet; call it in the function the outer vmap maps")
    raise NameError(f"unbound axis name: {name!r} (collectives need s2s.vmap(..., "
                    f"axis_name={name!r}) around the call)")
