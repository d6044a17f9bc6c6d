"""Batching helpers shared by ``batch`` rules and batched source (``s2s.vmap``).

A batched value carries its batch axis first; a batched list, tuple or dict
holds batched leaves only. ``loop_call`` is the exact fallback of every rule:
one call per example, results stacked.

>>> import numpy as onp
>>> broadcast_batch(onp.arange(2), 3).shape
(3, 2)
"""
import weakref

import numpy as onp

from s2s.core import dtypes
from s2s.core.errors import TransformError
from s2s.core.primitive import Tracer
from s2s.core.tree_util import PyTreeDef, register_pytree_node, tree_flatten, tree_unflatten
import s2s.numpy as snp
from s2s import lax


class _Undefined:
    """A variable not assigned yet (only one branch or a loop body assigns it)."""

    def __repr__(self):
        return "UNDEF"


UNDEF = _Undefined()


def _snp():
    return snp


def _np(*xs):
    """NumPy for host values, s2s.numpy when a staged value is among ``xs``."""
    for x in xs:
        if isinstance(x, Tracer):
            return _snp()
    return onp


def is_array(x):
    return isinstance(x, (onp.ndarray, Tracer, onp.generic))


def _asarray(x):
    if is_array(x):
        return x
    arr = onp.asarray(x)
    return arr.astype(dtypes.canonicalize_dtype(arr.dtype), copy=False)


class PairTape(tuple):
    """The tape a batched ``fwd_<f>`` hands its ``bwd_<f>``, its entries batched each on
    its own: ``batched[k]`` says whether entry ``k`` carries the batch axis (None for
    the reverse sweep's stack, whose items are batched as the variables they restore:
    ``restored`` maps each such variable to whether it is batched). Only the pair's bwd
    reads it (its build is specialized on these flags); ``size`` is the batch size, which
    no unbatched entry tells.

    >>> t = PairTape((onp.eye(2), onp.ones((5, 2)), []), (False, True, None), {"W": False}, 5)
    >>> leading_size(t), t.key
    (5, ((False, True, None), (('W', False),)))
    """

    def __new__(cls, entries, batched, restored, size):
        self = super().__new__(cls, entries)
        self.batched, self.size = tuple(batched), size
        self.restored = tuple(sorted(dict(restored).items()))
        return self

    @property
    def key(self):
        """What the bwd's batched source depends on."""
        return self.batched, self.restored

    def __repr__(self):
        return f"PairTape({tuple(self)!r}, batched={self.batched})"


register_pytree_node(PairTape, lambda t: (tuple(t), (t.batched, t.restored, t.size)),
                     lambda aux, children: PairTape(children, *aux))


def _no_pair_tape(x, what):
    """A pair's tape is read by its bwd alone: per example, or selected leaf by leaf, its
    unbatched entries would be misread (the fwd under a batched condition returns a
    tape batched as a whole instead)."""
    if any(isinstance(v, PairTape) for v in tree_flatten(
            x, is_leaf=lambda v: isinstance(v, PairTape))[0]):
        raise TransformError(f"vmap: internal error: a fwd/bwd pair's tape reached {what}",
                             hint="please report this with the function being transformed")


def leading_size(*xs):
    """The batch size: the leading axis of the first array leaf of ``xs`` (a pair's tape
    tells its own), else the size of a leaf that is a batch of functions (one per example,
    closing over batched values: its type's ``batch_size()``)."""
    leaves = tree_flatten(xs, is_leaf=lambda v: isinstance(v, PairTape))[0]
    for leaf in leaves:
        if isinstance(leaf, PairTape):
            return leaf.size
        if is_array(leaf):
            return leaf.shape[0]
    for leaf in leaves:
        size = getattr(type(leaf), "batch_size", None)
        if callable(size):
            return size(leaf)
    raise ValueError("no batched array among the arguments")


def is_static_leaf(x):
    """Whether pytree leaf ``x`` is a string or a treedef, which no array holds: batched or
    not, it is the same for every example and stays itself (a tape saves the
    ``padding='SAME'`` of a convolution, say, for the backward pass). Other Python values
    (a slice, a dtype) are broadcast as object arrays, which code reading them expects."""
    return isinstance(x, (str, bytes, PyTreeDef))


def broadcast_batch(x, n):
    """``x`` (unbatched, any pytree) with a batch axis of size ``n`` in front of each leaf."""
    if x is UNDEF or x is None:
        return x
    leaves, tree = tree_flatten(x)
    out = []
    for leaf in leaves:
        if (callable(leaf) and not is_array(leaf)) or is_static_leaf(leaf):
            out.append(leaf)  # a function, a string: the same for every example
            continue
        a = _asarray(leaf)
        if isinstance(a, Tracer):  # one op, which staged_example recognizes
            out.append(lax.broadcast_in_dim(a, (n,) + tuple(a.shape), tuple(range(1, a.ndim + 1))))
        else:
            out.append(onp.broadcast_to(a[None], (n,) + tuple(a.shape)))
    return tree_unflatten(tree, out)


def staged_example(x):
    """The example of staged ``x`` when ``x`` is that example broadcast along a new
    leading axis (as ``broadcast_batch`` stages it), else None.

    >>> from s2s.core.primitive import ShapedArray
    >>> from s2s.trace.staging import stage
    >>> seen = []
    >>> _ = stage(lambda x: seen.append(staged_example(broadcast_batch(x, 3)) is x) or x,
    ...           [ShapedArray((2,), onp.float32)])
    >>> seen, staged_example(onp.zeros((3, 2)))
    ([True], None)
    """
    origins = getattr(getattr(getattr(x, "_trace", None), "builder", None), "origins", None)
    origin = origins.get(getattr(x, "name", None)) if origins is not None else None
    if origin is None or origin[0].name != "broadcast_in_dim":
        return None
    operand, dims = origin[1][0], origin[2]["broadcast_dimensions"]
    if tuple(dims) == tuple(range(1, x.ndim)) and tuple(operand.shape) == tuple(x.shape[1:]):
        return operand
    return None


def _expand_to(x, rank):
    """Batched array ``x`` with per-example axes padded on the left to ``rank``."""
    pe = x.ndim - 1
    if pe >= rank:
        return x
    return _np(x).reshape(x, (x.shape[0],) + (1,) * (rank - pe) + tuple(x.shape[1:]))


def _mask(c, x):
    """Batched predicate ``c`` shaped to broadcast against batched ``x``."""
    c = _asarray(c)
    return _np(c).reshape(c, (c.shape[0],) + (1,) * (x.ndim - 1)) if x.ndim > 1 else c


def _uniform(c):
    """True/False when host predicate ``c`` is the same for every example, else None."""
    if isinstance(c, Tracer):
        return None
    c = onp.asarray(c)
    if c.ndim == 0:
        return bool(c)
    if c.strides and c.strides[0] == 0 or c.all():
        return bool(c.flat[0])
    return False if not c.any() else None


def select(c, new, old):
    """Per example: ``new`` where batched predicate ``c`` holds, else ``old`` (leafwise)."""
    if old is UNDEF:
        return new
    if new is UNDEF:
        return old
    if new is old:
        return new
    if isinstance(new, (tuple, list)) or isinstance(old, (tuple, list)):
        _no_pair_tape((new, old), "a per-example select")
    uniform = _uniform(c)
    if uniform is not None:  # every example took the same branch: that branch's value, exactly
        return new if uniform else old
    new_leaves, tree = tree_flatten(new)
    old_leaves, old_tree = tree_flatten(old)
    if tree != old_tree:
        raise TransformError(
            "vmap: a value has a different structure on examples taking different branches "
            f"({tree} and {old_tree})",
            hint="build the same structure (list lengths, dict keys) on every path")
    out = []
    for a, b in zip(new_leaves, old_leaves):
        a, b = _asarray(a), _asarray(b)
        if a.ndim and b.ndim and tuple(a.shape[1:]) != tuple(b.shape[1:]):
            # Broadcasting one against the other would mix examples (or give an example a
            # shape it never had): each example's value keeps its own shape in a loop.
            raise TransformError(
                "vmap: a value has a different shape on examples taking different branches "
                f"({tuple(a.shape[1:])} and {tuple(b.shape[1:])} per example)",
                hint="give the value the same shape on every path (np.zeros_like, "
                "np.broadcast_to), or select with np.where")
        m = _mask(c, a if a.ndim >= b.ndim else b)
        out.append(_np(a, b, c).where(m, a, b))
    return tree_unflatten(tree, out)


def _zeros_like(x):
    return tree_unflatten(tree_flatten(x)[1], [_np(a).zeros_like(a) for a in
                                               map(_asarray, tree_flatten(x)[0])])


def select_zeros(c, new, old):
    """``select`` for code the reverse transform generated, where ``None`` is a zero
    adjoint (or a value a later trip sets): against a value it is zeros shaped like it.

    >>> select_zeros(onp.array([True, False]), onp.ones(2), None)
    array([1., 0.])
    """
    if new is None and old is not None and old is not UNDEF:
        new = _zeros_like(old)
    elif old is None and new is not None and new is not UNDEF:
        old = _zeros_like(new)
    return select(c, new, old)


def masked(active, n):
    """``active`` as a batched boolean (a Python bool becomes ``n`` copies)."""
    return _asarray(active) if is_array(active) else broadcast_batch(bool(active), n)


# ---------------------------------------------------------------------------
# Calls.


# Columns ``_stack`` made of Python scalars (a tape's static shapes and flags): example
# ``i`` of one is a Python scalar again, as the function returned it (an int32 or bool_
# there takes other paths in code that checks ``isinstance(v, int)``).
_PYTHON_COLUMNS = weakref.WeakValueDictionary()


def _leaf_example(leaf, i):
    if callable(leaf) and not is_array(leaf) and not hasattr(leaf, "__getitem__") \
            or is_static_leaf(leaf):
        return leaf  # an unbatched function or string in a batched container (broadcast_batch)
    if getattr(leaf, "ndim", None) == 1 and _PYTHON_COLUMNS.get(id(leaf)) is leaf:
        return leaf[i].item()
    return leaf[i]


def _example(x, i):
    if isinstance(x, (tuple, list)):
        _no_pair_tape(x, "a per-example call")
    return tree_unflatten(tree_flatten(x)[1], [_leaf_example(leaf, i) for leaf in tree_flatten(x)[0]])


def _stack(results):
    leaves0, tree = tree_flatten(results[0])
    cols = [tree_flatten(r)[0] for r in results]
    out = []
    for k in range(len(leaves0)):
        if all(is_static_leaf(c[k]) and type(c[k]) is type(leaves0[k]) and c[k] == leaves0[k]
               for c in cols):
            out.append(leaves0[k])  # the same string (treedef) for every example: itself
            continue
        col = [_asarray(c[k]) for c in cols]
        stacked = _np(*col).stack(col)
        if all(type(c[k]) in (bool, int, float, complex) for c in cols):
            _PYTHON_COLUMNS[id(stacked)] = stacked
        out.append(stacked)
    return tree_unflatten(tree, out)


def fresh_tape(tape):
    """``tape`` with its lists copied: a generated backward function pops the stack its
    forward function saved values on, and one tape may feed several backward calls (a
    pullback called once per basis vector, a backward function run once per example).

    >>> tape = ([1, 2], (3, [4]))
    >>> copy = fresh_tape(tape)
    >>> copy[0].pop(), copy[1][1].pop(), tape
    (2, 4, ([1, 2], (3, [4])))
    """
    if isinstance(tape, list):
        return [fresh_tape(v) for v in tape]
    if type(tape) is tuple:
        return tuple(fresh_tape(v) for v in tape)
    return tape


def _shared_tapes(fn, axes):
    """The positions of ``fn``'s arguments that are tapes given unbatched to every example
    (a generated backward function's tape; in the jvp of one, the tape and its tangent):
    each per-example call must then pop its own copy of the tape's stacks."""
    return [k for k in getattr(fn, "__s2s_tape_args__", ()) if k < len(axes) and axes[k] is None]


def loop_call(fn, axes, args, kwargs, kw_batched=(), where=None):
    """``fn`` once per example (batched arguments indexed), results stacked: exact, slow.

    With ``where`` (a host mask of the examples the calling code runs this call for),
    the other examples are not run (a loop in ``fn`` may never end on them) and get
    the first kept example's result, which the caller selects away."""
    batched = [a for a, ax in zip(args, axes) if ax is not None] + [kwargs[k] for k in kw_batched]
    if _holds_no_example(batched):
        return _once_for_every_example(fn, args, kwargs)
    n = leading_size(batched)
    keep = _kept_examples(where, n)
    results = {}
    for i in keep:
        a = [_example(x, i) if ax is not None else x for x, ax in zip(args, axes)]
        for k in _shared_tapes(fn, axes):
            a[k] = fresh_tape(a[k])
        kw = {k: (_example(v, i) if k in kw_batched else v) for k, v in kwargs.items()}
        results[i] = fn(*a, **kw)
    first = results[keep[0]]
    return _stack([results.get(i, first) for i in range(n)])


def _holds_no_example(batched):
    """Whether the batched arguments hold no leaf of any example: containers of ``None``
    (a list adjoint whose items are all zero) and nothing else."""
    return not tree_flatten(batched, is_leaf=lambda v: isinstance(v, PairTape))[0]


def _once_for_every_example(fn, args, kwargs):
    """``fn`` called once: no argument differs between examples. Its result stands for
    every example only when it holds no array (the batch size to broadcast one to is
    not known here)."""
    out = fn(*args, **kwargs)
    if tree_flatten(out)[0]:
        raise ValueError("no batched array among the arguments (they hold only None), "
                         f"yet {getattr(fn, '__name__', fn)!r} returned values: the batch "
                         "size to broadcast them to is unknown")
    return out


def _kept_examples(where, n):
    """The examples a host mask keeps (all of them for no mask, a staged one, or none kept)."""
    if where is None or where is True or isinstance(where, Tracer):
        return list(range(n))
    kept = onp.flatnonzero(onp.broadcast_to(onp.asarray(where), (n,))).tolist()
    return kept or list(range(n))
