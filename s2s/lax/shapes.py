"""Shape and axis checks shared by the abstract rules, with NumPy-style messages."""
from s2s.core.errors import ShapeError


def broadcast_shapes(opname, *shapes):
    """NumPy broadcasting of ``shapes``; a ``ShapeError`` names ``opname`` and the shapes."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for i in range(ndim):
        size = 1
        for s in shapes:
            j = i - (ndim - len(s))
            if j < 0:
                continue
            d = s[j]
            if d == 1:
                continue
            if size != 1 and d != size:
                raise ShapeError(
                    f"{opname}: operands could not be broadcast together with shapes "
                    + " ".join(str(tuple(s)) for s in shapes)
                )
            size = d
        out.append(size)
    return tuple(out)


def canonicalize_axis(opname, axis, ndim):
    """A non-negative axis; an ``AxisError``-like ``ShapeError`` when out of range."""
    axis = int(axis)
    if not -ndim <= axis < max(ndim, 1) or (ndim == 0 and axis not in (0, -1)):
        raise ShapeError(f"{opname}: axis {axis} is out of bounds for array of dimension {ndim}")
    return axis % ndim if ndim else 0


def canonicalize_axes(opname, axes, ndim):
    """A tuple of distinct non-negative axes."""
    out = tuple(canonicalize_axis(opname, a, ndim) for a in axes)
    if len(set(out)) != len(out):
        raise ShapeError(f"{opname}: repeated axis in {tuple(axes)}")
    return out
