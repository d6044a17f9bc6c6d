"""Products: dot, vdot, matmul, inner, outer, tensordot, einsum, kron, trace, diagonal, cross.

``dot``, ``vdot``, ``matmul``, ``inner``, ``outer``, ``tensordot`` and ``einsum`` are
NumPy-level primitives (NumPy eagerly, ``dot_general`` staged); the others are
composites. Operands promote to their common dtype (NEP 50, canonicalized).

``einsum`` under ``jit`` takes its contraction order from ``numpy.einsum_path`` at
trace time and lowers each pairwise contraction to one ``dot_general`` (repeated
labels become diagonals, labels used by one operand only are summed first).

>>> import numpy as onp, s2s.numpy as np
>>> np.einsum("ij,jk->ik", onp.ones((2, 3)), onp.ones((3, 4))).shape
(2, 4)
"""
import builtins
import functools
import math
import string

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import ShapeError
from s2s.lax.shapes import broadcast_shapes
from s2s.numpy import _internal as I
from s2s.numpy._primitive import numpy_primitive
from s2s.numpy._reductions import sum as _np_sum

__all__ = ["dot", "vdot", "matmul", "inner", "outer", "tensordot", "einsum", "kron", "trace",
           "diagonal", "cross"]


def _promote(*xs):
    return I.promote(*xs)


def _contract(a, b, ca, cb, ba=(), bb=()):
    return lax.dot_general(a, b, dimension_numbers=((tuple(ca), tuple(cb)), (tuple(ba), tuple(bb))))


# ---------------------------------------------------------------------------
# dot, vdot, inner, outer


def _dot_composite(a, b):
    (a, b), _ = _promote(a, b)
    sa, sb = I.shape(a), I.shape(b)
    if not sa or not sb:
        return lax.mul(a, b)
    rhs_axis = 0 if len(sb) == 1 else len(sb) - 2
    if sa[-1] != sb[rhs_axis]:
        raise ShapeError(f"dot: shapes {sa} and {sb} not aligned: {sa[-1]} (dim {len(sa) - 1}) "
                         f"!= {sb[rhs_axis]} (dim {rhs_axis})")
    return _contract(a, b, (len(sa) - 1,), (rhs_axis,))


dot_p = numpy_primitive("dot", onp.dot, _dot_composite)


def dot(a, b, out=None):
    """Dot product of two arrays (NumPy semantics for every rank).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.dot(onp.ones((2, 3)), onp.ones(3))
    array([3., 3.], dtype=float32)
    """
    _no_out("dot", out)
    return dot_p.bind(a, b)


dot.primitive = dot_p


def _vdot_composite(a, b):
    (a, b), _ = _promote(a, b)
    if I.aval(a).size != I.aval(b).size:
        raise ShapeError(f"vdot: shapes {I.shape(a)} and {I.shape(b)} have different numbers of "
                         f"elements ({I.aval(a).size} != {I.aval(b).size})")
    return _contract(I.conj(I.ravel(a)), I.ravel(b), (0,), (0,))


vdot_p = numpy_primitive("vdot", onp.vdot, _vdot_composite)


def vdot(a, b):
    """Dot product of the flattened arrays, conjugating ``a`` (complex inner product).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.vdot(onp.array([1j, 2]), onp.array([1j, 3]))
    array(7.+0.j, dtype=complex64)
    """
    return vdot_p.bind(a, b)


vdot.primitive = vdot_p


def _inner_composite(a, b):
    (a, b), _ = _promote(a, b)
    sa, sb = I.shape(a), I.shape(b)
    if not sa or not sb:
        return lax.mul(a, b)
    if sa[-1] != sb[-1]:
        raise ShapeError(f"inner: shapes {sa} and {sb} not aligned: {sa[-1]} (dim {len(sa) - 1}) "
                         f"!= {sb[-1]} (dim {len(sb) - 1})")
    return _contract(a, b, (len(sa) - 1,), (len(sb) - 1,))


inner_p = numpy_primitive("inner", onp.inner, _inner_composite)


def inner(a, b):
    """Inner product over the last axes of ``a`` and ``b``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.inner(onp.ones((2, 3)), onp.ones((4, 3))).shape
    (2, 4)
    """
    return inner_p.bind(a, b)


inner.primitive = inner_p


def _outer_composite(a, b):
    (a, b), _ = _promote(a, b)
    a, b = I.ravel(a), I.ravel(b)
    n, m = I.shape(a)[0], I.shape(b)[0]
    return lax.mul(lax.broadcast_in_dim(a, shape=(n, m), broadcast_dimensions=(0,)),
                   lax.broadcast_in_dim(b, shape=(n, m), broadcast_dimensions=(1,)))


outer_p = numpy_primitive("outer", onp.outer, _outer_composite)


def outer(a, b, out=None):
    """Outer product of the flattened arrays: ``out[i, j] = a[i] * b[j]``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.outer(onp.array([1, 2]), onp.array([1, 10, 100]))
    array([[  1,  10, 100],
           [  2,  20, 200]], dtype=int32)
    """
    _no_out("outer", out)
    return outer_p.bind(a, b)


outer.primitive = outer_p

# ---------------------------------------------------------------------------
# matmul


def _matmul_composite(a, b):
    (a, b), _ = _promote(a, b)
    sa, sb = I.shape(a), I.shape(b)
    if not sa or not sb:
        raise ShapeError("matmul: input operand does not have enough dimensions (0-d arrays are "
                         "not allowed; use * or np.multiply)")
    a2 = I.expand(a, 0) if len(sa) == 1 else a
    b2 = I.expand(b, 1) if len(sb) == 1 else b
    sa2, sb2 = I.shape(a2), I.shape(b2)
    if sa2[-1] != sb2[-2]:
        raise ShapeError(f"matmul: shapes {sa} and {sb} not aligned: {sa2[-1]} (dim "
                         f"{len(sa) - 1}) != {sb2[-2]} (dim {len(sb2) - 2})")
    try:
        batch = broadcast_shapes("matmul", sa2[:-2], sb2[:-2])
    except ShapeError:
        raise ShapeError(f"matmul: batch dimensions of shapes {sa} and {sb} do not "
                         "broadcast") from None
    nb = len(batch)
    # An operand whose batch dimensions are all 1 is one matrix: contracted as such, not
    # broadcast to the batch (vmap's batch axis makes (1, k, n) operands).
    if len(sb2) > 2 and all(d == 1 for d in sb2[:-2]):
        b2 = I.reshape(b2, sb2[-2:])
    elif len(sa2) > 2 and all(d == 1 for d in sa2[:-2]):
        a2 = I.reshape(a2, sa2[-2:])
    sa2, sb2 = I.shape(a2), I.shape(b2)
    if len(sb2) == 2:  # a's batch dimensions are free ones of one contraction: no broadcast
        out = _contract(a2, b2, (len(sa2) - 1,), (0,))
    elif len(sa2) == 2:  # (m, k) @ (batch..., k, n) -> (m, batch..., n), m moved in place
        nbb = len(sb2) - 2
        out = I.transpose(_contract(a2, b2, (1,), (nbb,)),
                          tuple(range(1, nbb + 1)) + (0, nbb + 1))
    else:
        a3 = I.broadcast_to(a2, batch + sa2[-2:])
        b3 = I.broadcast_to(b2, batch + sb2[-2:])
        out = _contract(a3, b3, (nb + 1,), (nb,), range(nb), range(nb))
    shape = batch + ((sa2[-2],) if len(sa) > 1 else ()) + ((sb2[-1],) if len(sb) > 1 else ())
    return I.reshape(out, shape)


matmul_p = numpy_primitive("matmul", onp.matmul, _matmul_composite)


def matmul(a, b, out=None):
    """Matrix product with broadcasting over leading (batch) dimensions (``a @ b``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.matmul(onp.ones((4, 2, 3)), onp.ones((3, 5))).shape
    (4, 2, 5)
    """
    _no_out("matmul", out)
    return matmul_p.bind(a, b)


matmul.primitive = matmul_p

# ---------------------------------------------------------------------------
# tensordot


def _tensordot_axes(a_ndim, b_ndim, axes):
    """``axes`` (an int or a pair of axis lists) as two tuples of non-negative axes."""
    if isinstance(axes, (int, onp.integer)):
        n = int(axes)
        if n < 0 or n > a_ndim or n > b_ndim:
            raise ShapeError(f"tensordot: axes={n} is out of range for operands of dimension "
                             f"{a_ndim} and {b_ndim}")
        return tuple(range(a_ndim - n, a_ndim)), tuple(range(n))
    try:
        xa, xb = axes
    except (TypeError, ValueError):
        raise ValueError(f"tensordot: axes must be an int or a pair of axis sequences, got "
                         f"{axes!r}") from None
    xa = (xa,) if isinstance(xa, (int, onp.integer)) else tuple(xa)
    xb = (xb,) if isinstance(xb, (int, onp.integer)) else tuple(xb)
    if len(xa) != len(xb):
        raise ShapeError(f"tensordot: axes {xa} and {xb} have different lengths")
    return (I.reduction_axes("tensordot", xa, a_ndim) if xa else (),
            I.reduction_axes("tensordot", xb, b_ndim) if xb else ())


def _tensordot_composite(a, b, axes=2):
    (a, b), _ = _promote(a, b)
    sa, sb = I.shape(a), I.shape(b)
    xa, xb = _tensordot_axes(len(sa), len(sb), axes)
    for i, j in zip(xa, xb):
        if sa[i] != sb[j]:
            raise ShapeError(f"tensordot: shape mismatch for sum: shapes {sa} and {sb}, axis {i} "
                             f"of a has size {sa[i]} but axis {j} of b has size {sb[j]}")
    return _contract(a, b, xa, xb)


def _tensordot_impl(a, b, axes=2):
    return onp.tensordot(a, b, axes=axes)


tensordot_p = numpy_primitive("tensordot", _tensordot_impl, _tensordot_composite)


def _static_axes(axes):
    if isinstance(axes, (int, onp.integer)):
        return int(axes)
    return tuple(tuple(x) if isinstance(x, (list, tuple)) else int(x) for x in axes)


def tensordot(a, b, axes=2):
    """Sum of products over ``axes``: an int N (last N of ``a``, first N of ``b``) or a pair.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.tensordot(onp.ones((3, 4, 5)), onp.ones((4, 3, 2)), axes=([1, 0], [0, 1])).shape
    (5, 2)
    """
    return tensordot_p.bind(a, b, axes=_static_axes(axes))


tensordot.primitive = tensordot_p

# ---------------------------------------------------------------------------
# einsum


def _parse_interleaved(args):
    """``einsum(op0, sub0, op1, sub1, ..., [out])`` -> (subscripts, operands)."""
    letters = {}

    def label(v):
        if v is Ellipsis:
            return "..."
        if v not in letters:
            letters[v] = string.ascii_letters[len(letters)]
        return letters[v]

    operands, terms = [], []
    args = list(args)
    while len(args) >= 2:
        operands.append(args.pop(0))
        terms.append("".join(label(v) for v in args.pop(0)))
    subscripts = ",".join(terms)
    if args:
        subscripts += "->" + "".join(label(v) for v in args[0])
    return subscripts, operands


class _Spec:
    """A parsed einsum: input terms and output term, ellipses spelled out as letters."""

    def __init__(self, subscripts, shapes):
        subscripts = subscripts.replace(" ", "")
        lhs, arrow, out = subscripts.partition("->")
        terms = lhs.split(",")
        if len(terms) != len(shapes):
            raise ShapeError(f"einsum: subscripts {subscripts!r} name {len(terms)} operands but "
                             f"{len(shapes)} were given")
        used = set(subscripts) - set(".,->")
        bad = [c for c in used if c not in string.ascii_letters]
        if bad:
            raise ValueError(f"einsum: invalid subscript {bad[0]!r} in {subscripts!r}; use "
                             "letters and '...'")
        spare = [c for c in string.ascii_letters if c not in used]
        ell_rank = 0
        for t, s in zip(terms, shapes):
            if "..." in t:
                ell_rank = max(ell_rank, len(s) - (len(t) - 3))
        ell = "".join(spare[:ell_rank])
        self.inputs = [self._expand(t, s, ell, i) for i, (t, s) in enumerate(zip(terms, shapes))]
        if arrow:
            self.output = out.replace("...", ell)
            for c in self.output:
                if not any(c in t for t in self.inputs):
                    raise ValueError(f"einsum: output subscript {c!r} does not appear in the "
                                     f"inputs of {subscripts!r}")
            if len(set(self.output)) != len(self.output):
                raise ValueError(f"einsum: output subscripts {out!r} repeat a label")
        else:
            counts = {}
            for t in terms:
                for c in t.replace("...", ""):
                    counts[c] = counts.get(c, 0) + 1
            self.output = ell + "".join(sorted(c for c, k in counts.items() if k == 1))
        self.sizes = self._sizes(shapes, subscripts)

    @staticmethod
    def _expand(term, shape, ell, i):
        if "..." in term:
            n = len(shape) - (len(term) - 3)
            if n < 0:
                raise ShapeError(f"einsum: operand {i} has {len(shape)} dimensions, fewer than "
                                 f"its subscripts {term!r} name")
            term = term.replace("...", ell[len(ell) - n:] if n else "")
        if len(term) != len(shape):
            raise ShapeError(f"einsum: operand {i} has {len(shape)} dimensions (shape {shape}) "
                             f"but its subscripts {term!r} name {len(term)}")
        return term

    def _sizes(self, shapes, subscripts):
        sizes = {}
        for i, (t, s) in enumerate(zip(self.inputs, shapes)):
            for c, d in zip(t, s):
                prev = sizes.get(c, 1)
                if d != 1 and prev != 1 and d != prev:
                    raise ShapeError(f"einsum: size of label {c!r} for operand {i} ({d}) does not "
                                     f"match previous terms ({prev}) in {subscripts!r}")
                sizes[c] = max(prev, d)
        return sizes


def _einsum_diagonal(x, term):
    """Takes the diagonal for each label repeated within ``term``."""
    while len(set(term)) != len(term):
        c = next(c for c in term if term.count(c) > 1)
        i = term.index(c)
        j = term.index(c, i + 1)
        x = diagonal(x, 0, i, j)
        term = "".join(t for k, t in enumerate(term) if k not in (i, j)) + c
    return x, term


def _einsum_sum(x, term, keep):
    """Sums out the labels of ``term`` not in ``keep``."""
    axes = tuple(i for i, c in enumerate(term) if c not in keep)
    if not axes:
        return x, term
    return lax.reduce_sum(x, axes=axes), "".join(c for c in term if c in keep)


def _einsum_pair(x, tx, y, ty, keep):
    """Contracts two operands, keeping the labels in ``keep``; result labels are
    (batch, x free, y free) as ``dot_general`` lays them out."""
    x, tx = _einsum_sum(x, tx, keep | set(ty))
    y, ty = _einsum_sum(y, ty, keep | set(tx))
    both = [c for c in tx if c in ty]
    batch = [c for c in both if c in keep]
    contract = [c for c in both if c not in keep]
    out = lax.dot_general(x, y, dimension_numbers=(
        (tuple(tx.index(c) for c in contract), tuple(ty.index(c) for c in contract)),
        (tuple(tx.index(c) for c in batch), tuple(ty.index(c) for c in batch))))
    free_x = [c for c in tx if c not in both]
    free_y = [c for c in ty if c not in both]
    return out, "".join(batch + free_x + free_y)


def _einsum_path(subscripts, shapes, optimize):
    if isinstance(optimize, tuple):
        return [tuple(step) for step in optimize]
    if optimize is False or len(shapes) < 2:
        return [tuple(range(len(shapes)))]
    dummies = [onp.broadcast_to(onp.zeros((), onp.float32), s) for s in shapes]
    strategy = "greedy" if optimize is True else optimize
    path, _ = onp.einsum_path(subscripts, *dummies, optimize=strategy)
    return [tuple(step) for step in path[1:]]


def _einsum_composite(*operands, subscripts, optimize=True):
    operands, _ = _promote(*operands)
    spec = _Spec(subscripts, [I.shape(x) for x in operands])
    ops = []
    for x, t in zip(operands, spec.inputs):
        # Size-1 labels that broadcast against a larger size are dropped here.
        drop = tuple(i for i, c in enumerate(t) if I.shape(x)[i] == 1 and spec.sizes[c] > 1)
        if drop:
            x = lax.squeeze(x, dimensions=drop)
            t = "".join(c for i, c in enumerate(t) if i not in drop)
        ops.append(_einsum_diagonal(x, t))
    out_set = set(spec.output)
    for step in _einsum_path(subscripts, [I.shape(x) for x in operands], optimize):
        chosen = [ops[i] for i in step]
        ops = [o for i, o in enumerate(ops) if i not in step]
        rest = set("".join(t for _, t in ops)) | out_set
        x, tx = chosen[0]
        for k, (y, ty) in enumerate(chosen[1:], start=1):
            later = set("".join(t for _, t in chosen[k + 1:]))
            x, tx = _einsum_pair(x, tx, y, ty, rest | later)
        if len(chosen) == 1:
            x, tx = _einsum_sum(x, tx, rest)
        ops.append((x, tx))
    x, tx = ops[0] if len(ops) == 1 else _einsum_fold(ops, out_set)
    x, tx = _einsum_sum(x, tx, out_set)
    return I.transpose(x, [tx.index(c) for c in spec.output])


def _einsum_fold(ops, keep):
    x, tx = ops[0]
    for y, ty in ops[1:]:
        x, tx = _einsum_pair(x, tx, y, ty, keep)
    return x, tx


@functools.lru_cache(maxsize=1024)
def _eager_path(subscripts, shapes, optimize):
    """The ``optimize`` argument for ``numpy.einsum``: a cached explicit path, or False
    where NumPy's C loop is quicker than its path search and BLAS dispatch."""
    if optimize is False or (len(shapes) <= 2 and builtins.sum(map(math.prod, shapes)) <= 1 << 14):
        return False
    return ["einsum_path", *_einsum_path(subscripts, list(shapes), optimize)]


def _einsum_impl(*operands, subscripts, optimize=True):
    shapes = tuple(onp.shape(x) for x in operands)
    return onp.einsum(subscripts, *operands, optimize=_eager_path(subscripts, shapes, optimize))


@functools.lru_cache(maxsize=1024)
def _checked_spec(subscripts, shapes):
    return _Spec(subscripts, list(shapes))


einsum_p = numpy_primitive("einsum", _einsum_impl, _einsum_composite)


def einsum(*operands, out=None, optimize=True, precision=None, preferred_element_type=None,
           dtype=None):
    """Einstein summation: ``einsum("ij,jk->ik", a, b)`` (ellipsis and implicit output too).

    ``optimize`` (True, False, ``"greedy"``, ``"optimal"`` or an explicit
    ``einsum_path`` list) picks the order of the pairwise contractions.
    ``precision`` is accepted for ``jax.numpy`` compatibility and ignored.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.einsum("ii", onp.arange(9.0).reshape(3, 3))
    array(12., dtype=float32)
    >>> np.einsum("...ij,...jk", onp.ones((5, 2, 3)), onp.ones((3, 4))).shape
    (5, 2, 4)
    """
    _no_out("einsum", out)
    if not operands:
        raise ValueError("einsum: no subscripts given")
    if isinstance(operands[0], str):
        subscripts, operands = operands[0], list(operands[1:])
    else:
        subscripts, operands = _parse_interleaved(operands)
    target = preferred_element_type if preferred_element_type is not None else dtype
    if target is not None:
        operands = [I.astype(I.asarray(x), dtypes.canonicalize_dtype(target)) for x in operands]
    if isinstance(optimize, list):
        optimize = tuple(tuple(s) for s in optimize[1:])
    _checked_spec(subscripts, tuple(I.shape(x) for x in operands))  # same checks eagerly, staged
    return einsum_p.bind(*operands, subscripts=subscripts.replace(" ", ""), optimize=optimize)


einsum.primitive = einsum_p

# ---------------------------------------------------------------------------
# diagonal, trace, kron, cross


def diagonal(a, offset=0, axis1=0, axis2=1):
    """The ``offset`` diagonal of the ``(axis1, axis2)`` planes, as the last axis.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.diagonal(onp.arange(9).reshape(3, 3), offset=1)
    array([1, 5], dtype=int32)
    """
    a = I.asarray(a)
    n = I.ndim(a)
    if n < 2:
        raise ShapeError(f"diagonal: array must have at least 2 dimensions, got shape {I.shape(a)}")
    ax1 = I.one_axis("diagonal", axis1, n)
    ax2 = I.one_axis("diagonal", axis2, n)
    if ax1 == ax2:
        raise ShapeError(f"diagonal: axis1 and axis2 cannot be the same (both {ax1})")
    offset = I.static_int("diagonal", "offset", offset)
    rest = [i for i in range(n) if i not in (ax1, ax2)]
    x = I.transpose(a, rest + [ax1, ax2])
    batch = tuple(I.shape(a)[i] for i in rest)
    rows, cols = I.shape(a)[ax1], I.shape(a)[ax2]
    length = max(0, min(rows, cols - offset) if offset >= 0 else min(rows + offset, cols))
    if length == 0:
        return I.reshape(I.take_slice(I.reshape(x, batch + (rows * cols,)), len(batch), 0, 0),
                         batch + (0,))
    # The diagonal of a row-major (rows, cols) block is a strided slice of its flat form.
    start = offset if offset >= 0 else -offset * cols
    flat = I.reshape(x, batch + (rows * cols,))
    return I.take_slice(flat, len(batch), start, start + (length - 1) * (cols + 1) + 1, cols + 1)


def trace(a, offset=0, axis1=0, axis2=1, dtype=None, out=None):
    """Sum along a diagonal (integers widen like ``sum``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.trace(onp.eye(3))
    array(3., dtype=float32)
    """
    _no_out("trace", out)
    return _np_sum(diagonal(a, offset, axis1, axis2), axis=-1, dtype=dtype)


def kron(a, b):
    """Kronecker product: blocks ``a[i, j] * b``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.kron(onp.array([1, 10]), onp.array([1, 2, 3]))
    array([ 1,  2,  3, 10, 20, 30], dtype=int32)
    """
    (a, b), _ = _promote(I.asarray(a), I.asarray(b))
    n = max(I.ndim(a), I.ndim(b))
    sa = (1,) * (n - I.ndim(a)) + I.shape(a)
    sb = (1,) * (n - I.ndim(b)) + I.shape(b)
    a = I.reshape(a, tuple(d for s in sa for d in (s, 1)))
    b = I.reshape(b, tuple(d for s in sb for d in (1, s)))
    a, b = I.broadcast_arrays("kron", a, b)
    prod = lax.mul(a, b)
    return I.reshape(prod, tuple(x * y for x, y in zip(sa, sb)))


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """Cross product of 3-vectors (or 2-vectors) along the given axes, broadcasting the rest.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.cross(onp.array([1.0, 0.0, 0.0]), onp.array([0.0, 1.0, 0.0]))
    array([0., 0., 1.], dtype=float32)
    """
    if axis is not None:
        axisa = axisb = axisc = axis
    (a, b), _ = _promote(I.asarray(a), I.asarray(b))
    a = I.moveaxis(a, I.one_axis("cross", axisa, I.ndim(a)), -1)
    b = I.moveaxis(b, I.one_axis("cross", axisb, I.ndim(b)), -1)
    na, nb = I.shape(a)[-1], I.shape(b)[-1]
    if na not in (2, 3) or nb not in (2, 3):
        raise ShapeError(f"cross: incompatible dimensions for cross product (dimension must be "
                         f"2 or 3), got {na} and {nb}")
    shape = broadcast_shapes("cross", I.shape(a)[:-1], I.shape(b)[:-1])
    comps = [_component(a, i, shape) for i in range(3)]
    other = [_component(b, i, shape) for i in range(3)]
    (a0, a1, a2), (b0, b1, b2) = comps, other
    z = lax.sub(lax.mul(a0, b1), lax.mul(a1, b0))
    if na == 2 and nb == 2:
        return z
    x = lax.sub(lax.mul(a1, b2), lax.mul(a2, b1))
    y = lax.sub(lax.mul(a2, b0), lax.mul(a0, b2))
    r = I.stack([x, y, z], -1)
    return I.moveaxis(r, -1, I.one_axis("cross", axisc, I.ndim(r)))


def _component(v, i, shape):
    """Component ``i`` of the vectors ``v`` (zero past the end), broadcast to ``shape``."""
    if i >= I.shape(v)[-1]:
        return I.full(shape, 0, I.dtype(v))
    return I.broadcast_to(I.index_axis(v, I.ndim(v) - 1, i), shape)


def _no_out(name, out):
    if out is not None:
        raise NotImplementedError(f"{name}: the out= argument is not supported (s2s arrays are "
                                  "values); use the returned array instead")
