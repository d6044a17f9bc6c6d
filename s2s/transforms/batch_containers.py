"""``batch`` rules of the container helpers that gradient code calls (``repeat_grad``,
``push_grad``, ``concat_grads``, ...) and of the builtins ``abs`` and ``sum``.

These helpers only move values between containers, so a batch of examples runs
through them once: a batched list holds batched leaves, and the helper moves them
as it moves one example's. Two things differ from one example's call and are
fixed up first: an argument the helper iterates (``list(g)``) may be a batched
array, whose items per example are its columns (``g[:, k]``), not its rows; and an
unbatched value the helper puts into its result is broadcast, since a batched
container holds batched leaves only.

>>> import numpy as onp  # noqa: F401 (the doctests' namespace)
>>> from s2s.runtime import support
>>> from s2s.core.primitive import rules_of
>>> head, last = rules_of(support.split_last_grad).batch((0,), onp.arange(6.0).reshape(2, 3))
>>> [h.tolist() for h in head], last.tolist()
([[0.0, 3.0], [1.0, 4.0]], [2.0, 5.0])
"""
import builtins
import operator

import numpy as onp  # noqa: F401 (the doctests' namespace)

from s2s.core.primitive import def_batch
from s2s.core.tree_util import tree_flatten
from s2s.numpy.batching import (_once_for_every_example, broadcast_batch, is_array, leading_size,
                                loop_call)
from s2s.runtime import support


def columns(x):
    """The items of each example of batched array ``x`` (its axis 1), as a list of batched
    arrays: what ``list(x)`` gives one example, for every example at once.

    >>> [c.tolist() for c in columns(onp.arange(4).reshape(2, 2))]
    [[0, 2], [1, 3]]
    """
    return [x[:, k] for k in range(x.shape[1])]


def _batch_size(args, axes):
    """The batch size, or None when the batched arguments hold no array (all ``None``)."""
    batched = [a for a, ax in zip(args, axes) if ax is not None]
    if not tree_flatten(batched)[0]:
        return None
    return leading_size(batched)


def _prepared(args, axes, seqs, leaves, n):
    """``args`` with batched arrays at ``seqs`` split into columns and unbatched values
    at ``leaves`` broadcast to ``n`` examples."""
    out = []
    for k, (a, ax) in enumerate(zip(args, axes)):
        if ax is not None and k in seqs and is_array(a):
            a = columns(a)
        elif ax is None and k in leaves:
            a = broadcast_batch(a, n)
        out.append(a)
    return out


def structural(fn, seqs=(), leaves=(0,)):
    """The rule of helper ``fn`` that only rearranges containers: one call on the batch.
    ``seqs``: positions ``fn`` iterates or takes ``len`` of; ``leaves``: positions whose
    values end up in its result."""
    def rule(axes, /, *args):
        axes = tuple(axes) + (None,) * (len(args) - len(axes))
        n = _batch_size(args, axes)
        if n is None:  # no example's value among them (all None): one call for all
            return _once_for_every_example(fn, args, {})
        return fn(*_prepared(args, axes, seqs, leaves, n))
    return rule


def _pack_grad_rule(axes, /, like, parts):
    """``pack_grad`` of a batch: the adjoints of an array's rows stack on the axis after
    the batch axis (one example's rows are its axis 0); a container's are moved as one
    example's."""
    axes = tuple(axes) + (None,) * (2 - len(axes))
    n = _batch_size((like, parts), axes)
    if not is_array(like) or n is None or all(p is None for p in parts):
        return structural(support.pack_grad, leaves=(1,))(axes, like, parts)
    if axes[1] is None:
        parts = broadcast_batch(parts, n)
    if axes[0] is None:
        like = broadcast_batch(like, n)
    return support.stack_rows(like, parts, axis=1)


def _sum_grads_rule(axes, /, gs):
    """``sum_grads`` of a batch: the items added with ``add_grad``'s rule, which lines up
    per-example shapes (adding batched leaves directly would broadcast across examples)."""
    if gs is None or axes[0] is None:
        return support.sum_grads(gs)
    total, total_axis = None, None
    for g in (columns(gs) if is_array(gs) else gs):
        if total is None:
            total, total_axis = g, 0
        elif g is not None:
            total = _vcall(support.add_grad, (total_axis, 0), total, g)
    return total


def _join_last_grad_rule(axes, /, parts, g):
    """``join_last_grad((head, last), g)`` of a batch; a head held as a batched array is
    its columns (``list(head)`` per example)."""
    if isinstance(parts, tuple) and len(parts) == 2 and axes[0] is not None \
            and is_array(parts[0]):
        parts = (columns(parts[0]), parts[1])
    return structural(support.join_last_grad, seqs=(1,), leaves=(0,))(axes, parts, g)


def _concat_grads_rule(axes, /, g, a, b):
    """``concat_grads(g, a, b)``: a sequence adjoint is cut as one example's; an array
    one is unbroadcast to each operand by ``unbroadcast``'s rule."""
    axes = tuple(axes) + (None,) * (3 - len(axes))
    if g is None:
        return None, None
    if isinstance(a, (list, tuple)) and isinstance(g, (list, tuple)):
        return structural(support.concat_grads, leaves=(0,))(axes, g, a, b)
    if isinstance(a, (list, tuple)) or isinstance(b, (list, tuple)):
        return loop_call(support.concat_grads, axes, (g, a, b), {})
    return (_vcall(support.unbroadcast, (axes[0], axes[1]), g, a),
            _vcall(support.unbroadcast, (axes[0], axes[2]), g, b))


def _plain_items(fn):
    """``enumerate_grad``/``unzip_grad``: a list of pair adjoints (tuples of batched leaves)
    is read as one example's; any other form (an array among the items, which its
    per-example indexing would misread) runs per example."""
    def rule(axes, /, g, n):
        if g is None or axes[0] is None:
            return fn(g, n)
        if isinstance(g, (list, tuple)) and all(p is None or isinstance(p, (list, tuple))
                                                for p in g):
            return fn(g, n)
        return loop_call(fn, axes, (g, n), {})
    return rule


def _abs_rule(axes, /, x):
    """Builtin ``abs``: elementwise on a batched array as on one example."""
    return builtins.abs(x)


def _sum_rule(axes, /, iterable, start=0):
    """Builtin ``sum`` over a batched sequence (or a batched array's columns): the items
    folded with ``+``'s rule, which lines up per-example ranks."""
    if axes[0] is None or len(axes) > 1 and axes[1] is not None:
        return loop_call(builtins.sum, axes, (iterable, start), {})
    items = columns(iterable) if is_array(iterable) else list(iterable)
    total, total_axis = start, None
    for item in items:
        total, total_axis = _vcall(operator.add, (total_axis, 0), total, item), 0
    if total_axis is None:  # nothing summed: ``start`` for every example
        n = leading_size(iterable) if is_array(iterable) else None
        return loop_call(builtins.sum, axes, (iterable, start), {}) if n is None else \
            broadcast_batch(start, n)
    return total


def _vcall(fn, axes, *args):
    return _VCALL[0](fn, axes, *args)


# batch_support's vcall (one call of a function on batched arguments, by its rule or per
# example), given by register(): batch_support imports this module, not the reverse.
_VCALL = []


def register(vcall):
    """Registers the rules (``batch_support`` calls this with its own helpers' rules and
    its ``vcall``)."""
    _VCALL[:] = [vcall]
    for fn, seqs, leaves in [
            (support.repeat_grad, (), (0,)), (support.unpack_grad, (0,), (0,)),
            (support.as_sequence, (), (0,)),
            (support.copy, (), (0,)), (support.items, (), (0,)), (support.keys, (), (0,)),
            (support.values, (), (0,)), (support.push_grad, (0, 2), (0, 1)),
            (support.split_last_grad, (0,), (0,))]:
        def_batch(fn)(structural(fn, seqs, leaves))
    def_batch(support.sum_grads)(_sum_grads_rule)
    def_batch(support.pack_grad)(_pack_grad_rule)
    def_batch(support.join_last_grad)(_join_last_grad_rule)
    def_batch(support.concat_grads)(_concat_grads_rule)
    for fn in (support.enumerate_grad, support.unzip_grad):
        def_batch(fn)(_plain_items(fn))
    def_batch(builtins.abs)(_abs_rule)
    def_batch(builtins.sum)(_sum_rule)

