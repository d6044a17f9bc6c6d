"""Products: dot, matmul (NumPy-level primitives: NumPy eagerly, dot_general staged)."""
import numpy as onp

from s2s import dtypes, lax
from s2s.errors import ShapeError
from s2s.lax.core import abstractify
from s2s.numpy._primitive import numpy_primitive

__all__ = ["dot", "matmul"]


def _promote(*xs):
    dt = dtypes.result_type(*xs)
    return [lax.convert_element_type(x, new_dtype=dt) if abstractify(x).dtype != dt else x for x in xs], dt


def _dot_composite(a, b):
    (a, b), _ = _promote(a, b)
    sa, sb = abstractify(a).shape, abstractify(b).shape
    if not sa or not sb:
        return lax.mul(a, b)
    rhs_axis = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[rhs_axis]:
        raise ShapeError(f"dot: shapes {sa} and {sb} not aligned: {sa[-1]} (dim {len(sa) - 1}) "
                         f"!= {sb[rhs_axis]} (dim {rhs_axis})")
    return lax.dot_general(a, b, dimension_numbers=(((len(sa) - 1,), (rhs_axis,)), ((), ())))


dot_p = numpy_primitive("dot", onp.dot, _dot_composite)


def dot(a, b):
    """Dot product of two arrays (NumPy semantics for every rank).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.dot(onp.ones((2, 3)), onp.ones(3))
    array([3., 3.], dtype=float32)
    """
    return dot_p.bind(a, b)


dot.primitive = dot_p


def _matmul_composite(a, b):
    (a, b), _ = _promote(a, b)
    sa, sb = abstractify(a).shape, abstractify(b).shape
    if not sa or not sb:
        raise ShapeError("matmul: input operand does not have enough dimensions (0-d arrays are "
                         "not allowed; use * or np.multiply)")
    a2 = lax.expand_dims(a, dimensions=(0,)) if len(sa) == 1 else a
    b2 = lax.expand_dims(b, dimensions=(1,)) if len(sb) == 1 else b
    sa2, sb2 = abstractify(a2).shape, abstractify(b2).shape
    if sa2[-1] != sb2[-2]:
        raise ShapeError(f"matmul: shapes {sa} and {sb} do not align: {sa2[-1]} != {sb2[-2]}")
    batch = _broadcast_batch(sa2[:-2], sb2[:-2], sa, sb)
    a3 = _to_batch(a2, batch)
    b3 = _to_batch(b2, batch)
    nb = len(batch)
    out = lax.dot_general(a3, b3, dimension_numbers=(((nb + 1,), (nb,)), (tuple(range(nb)), tuple(range(nb)))))
    shape = batch + (sa2[-2] if len(sa) > 1 else None, sb2[-1] if len(sb) > 1 else None)
    shape = tuple(d for d in shape if d is not None)
    return lax.reshape(out, new_sizes=shape) if abstractify(out).shape != shape else out


def _broadcast_batch(ba, bb, sa, sb):
    n = max(len(ba), len(bb))
    ba = (1,) * (n - len(ba)) + tuple(ba)
    bb = (1,) * (n - len(bb)) + tuple(bb)
    out = []
    for x, y in zip(ba, bb):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"matmul: batch dimensions of {sa} and {sb} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def _to_batch(x, batch):
    shape = abstractify(x).shape
    target = batch + tuple(shape[-2:])
    if shape == target:
        return x
    offset = len(target) - len(shape)
    return lax.broadcast_in_dim(x, shape=target, broadcast_dimensions=tuple(range(offset, len(target))))


matmul_p = numpy_primitive("matmul", onp.matmul, _matmul_composite)


def matmul(a, b):
    """Matrix product with broadcasting over leading (batch) dimensions (``a @ b``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.matmul(onp.ones((4, 2, 3)), onp.ones((3, 5))).shape
    (4, 2, 5)
    """
    return matmul_p.bind(a, b)


matmul.primitive = matmul_p
