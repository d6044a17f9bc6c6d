"""Batch rules of the reverse passes of lax loops: ``scan_vjp``, ``fori_loop_vjp``,
``map_vjp`` and ``while_loop_vjp`` (``s2s.lax.control_flow``).

``jacrev`` vmaps a function's backward pass over a basis of output cotangents, and
``jacrev(grad)`` the backward pass of a gradient; where the function runs a lax loop,
that backward pass calls the loop's reverse-pass helper with batched cotangents. These
rules run the helper once on the whole batch instead of once per basis vector: the
reverse pass of ``n`` independent examples is the reverse pass of the loop whose body is
``vmap(body)``, at the examples stacked (an unbatched operand broadcast), since the
derivative of the batched body at the stacked examples is each example's derivative.

Loops stack along their leading axis: ``xs``, ``ys`` and their cotangents carry the
batch axis first outside the helper and the steps' axis first inside it, so the rules
swap the two on the way in and out. A callable that varies per example (a closure
reading mapped values) is vmapped over its own examples; a helper whose trip bounds or
static parameters vary per example, or a ``while_loop`` whose trips may, runs once per
example.

>>> import numpy as onp, s2s, s2s.numpy as np
>>> from s2s import lax
>>> def f(x):
...     return lax.scan(lambda c, xi: (c * xi, c * xi), 1.0, x)[1]
>>> s2s.jacrev(f)(onp.array([2.0, 3.0]))
array([[1., 0.],
       [3., 2.]], dtype=float32)
"""
import functools
import inspect

from s2s.core import hooks
from s2s.core.primitive import def_batch
from s2s.core.tree_util import tree_flatten, tree_map
from s2s.lax import control_flow as cf
from s2s.numpy.batching import _asarray, _expand_to, _np, loop_call
from s2s.transforms.batch_support import BatchedClosure, _stacked_args


def _swap_steps(tree):
    """Every array leaf with its first two axes swapped: (batch, steps, ...) to
    (steps, batch, ...) and back."""
    return tree_map(lambda x: _np(x).swapaxes(x, 0, 1), tree)


def _full_cotangents(ans, ct):
    """Batched ``ct`` as cotangents of batched ``ans`` leaf by leaf (``None`` where zero):
    a leaf of lower rank (a per-example scalar seed of an array output) broadcast to its
    output's shape first, which NumPy's right-aligned broadcasting inside the helper
    would line up with the steps' axis instead of the batch axis."""
    if ct is None:
        return None
    leaves, tree = tree_flatten(ans)
    out = []
    for a, c in zip(leaves, tree.flatten_up_to_or_none(ct)):
        if c is None or not cf._is_float(a.dtype) or getattr(c, "dtype", None) == cf._FLOAT0:
            out.append(None)
            continue
        c = _expand_to(_asarray(c), a.ndim - 1)
        out.append(c if c.shape == a.shape else _np(c).broadcast_to(c, a.shape))
    return tree.unflatten(out)


class _PerExample(Exception):
    """The batch cannot run as one loop here (a cotangent whose structure does not match
    its output's, trip counts that may differ per example): run per example."""


def _loop_rule(helper, varying, funs):
    """Registers ``batched(axes, *args)`` (every parameter of ``helper`` positional) as
    ``helper``'s batch rule; the helper runs once per example where an argument at a
    position in ``varying`` (a trip bound, a static parameter) is batched. The callables
    at positions ``funs`` are vmapped: a batched closure (one function per example) maps
    over its own examples, a plain function in a batched container is the same for all."""
    signature = inspect.signature(helper)

    def register(batched):
        @functools.wraps(batched)
        def rule(axes, /, *args, **kwargs):
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            full = tuple(bound.arguments.values())
            full_axes = tuple(axes) + (None,) * (len(full) - len(axes))
            if not any(full_axes[i] is not None for i in varying):
                try:
                    return batched(full_axes, [full[i] for i in funs], *full)
                except _PerExample:
                    pass
            return loop_call(helper, tuple(axes), args, kwargs)
        def_batch(helper)(rule)
        return rule
    return register


def _operands(axes, funs, ct, ans, *rest):
    """``(ct, ans, *rest)`` stacked to the batch, ``ct`` as full cotangents of ``ans``."""
    ct, ans, *rest = _stacked_args((ct, ans) + rest, axes, funs)
    try:
        ct = _full_cotangents(ans, ct)
    except ValueError as e:
        raise _PerExample() from e
    return (ct, ans, *rest)


@_loop_rule(cf.scan_vjp, varying=(5, 6, 7), funs=(2,))
def _scan_vjp_rule(axes, funs, ct, ans, f, init, xs=None, length=None, reverse=False, unroll=1):
    ct, ans, init, xs = _operands(axes[:2] + axes[3:5], funs, ct, ans, init, xs)
    (ct_carry, ct_ys), (carry, ys) = ct if ct is not None else (None, None), ans
    ct_init, ct_xs = cf.scan_vjp((ct_carry, _swap_steps(ct_ys)), (carry, _swap_steps(ys)), hooks.vmap(f),
                                 init, _swap_steps(xs), length, reverse, unroll)
    return ct_init, _swap_steps(ct_xs)


@_loop_rule(cf.fori_loop_vjp, varying=(2, 3, 6), funs=(4,))
def _fori_loop_vjp_rule(axes, funs, ct, ans, lower, upper, body_fun, init_val, max_trips=None):
    ct, ans, init_val = _operands(axes[:2] + axes[5:6], funs, ct, ans, init_val)
    return cf.fori_loop_vjp(ct, ans, lower, upper, hooks.vmap(body_fun, in_axes=(None, 0)), init_val,
                            max_trips)


@_loop_rule(cf.map_vjp, varying=(), funs=(2,))
def _map_vjp_rule(axes, funs, ct, ans, f, xs):
    ct, ans, xs = _operands(axes[:2] + axes[3:4], funs, ct, ans, xs)
    return _swap_steps(cf.map_vjp(_swap_steps(ct), _swap_steps(ans), hooks.vmap(f), _swap_steps(xs)))


def _first_example(cond_fun, x):
    return cond_fun(tree_map(lambda leaf: leaf[0], x))


@_loop_rule(cf.while_loop_vjp, varying=(5,), funs=(2, 3))
def _while_loop_vjp_rule(axes, funs, ct, ans, cond_fun, body_fun, init_val, max_trips=None):
    # Only with the primal loop the same for every example (jacrev: a batch of cotangents
    # of one loop) do all examples run the same trips, which the first one counts.
    if axes[1] is not None or axes[4] is not None or any(isinstance(f, BatchedClosure) for f in funs):
        raise _PerExample()
    ct, ans, init_val = _operands(axes[:2] + axes[4:5], funs, ct, ans, init_val)
    return cf.while_loop_vjp(ct, ans, functools.partial(_first_example, cond_fun), hooks.vmap(body_fun),
                             init_val, max_trips)
