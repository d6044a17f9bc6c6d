"""Runtime helpers of forward-mode code (``s2s.transforms.forward``)."""
import functools
import inspect

import numpy as onp

from s2s.core import hooks
from s2s.core.primitive import def_zero_derivative, function_rules, Tracer
from s2s.core.tree_util import tree_map
from s2s.numpy.batching import broadcast_batch, leading_size, loop_call
from s2s.runtime import support
from s2s.transforms import vjp_builder
import s2s.numpy as snp


def _snp():
    return snp


def zeros_tangent(x):
    """The zero tangent of ``x``: zeros shaped like each array leaf (pytrees kept).

    Leaves that are not numbers (strings, functions) stay as they are. A Python number's
    zero is a Python number, weakly typed like the number (``lax.pad(x, 0, ...)`` of a
    float32 ``x`` takes the tangent ``0``, where an int32 array would not do).

    >>> zeros_tangent([1.5, (onp.float32(2.0), "a")])
    [0.0, (array(0., dtype=float32), 'a')]
    """

    def leaf(v):
        if isinstance(v, Tracer):
            return _snp().zeros_like(v)
        if type(v) in (int, float, complex):
            return type(v)(0)
        if isinstance(v, (onp.ndarray, onp.generic, bool, int, float, complex)):
            return onp.zeros_like(v)
        return v
    return tree_map(leaf, x)


def _zeros_tangent_batch(axes, x):
    """vmap of ``zeros_tangent``: zeros shaped like the batched array leaves (batch axis
    kept); a Python number, which vmap carries as the same value for every example (it
    has no batch axis), gets a Python zero, so it stays one."""

    def leaf(v):
        if isinstance(v, (bool, int, float, complex)):
            return type(v)(0)
        return zeros_tangent(v)
    return tree_map(leaf, x)


function_rules(zeros_tangent).batch = _zeros_tangent_batch
# A zero is constant in ``x``: without this, grad of jvp code differentiated the
# helper's source and read ``x``'s structure when the reverse pass ran, which for a
# list the jvp code appended to afterwards (a comprehension's) no longer matched.
def_zero_derivative(zeros_tangent)


# The tangent of a broadcasting op's operand, broadcast to the result's shape: the
# runtime's ``broadcast_like`` itself, so its jvp, vjp and batch rules apply (jacfwd and
# hessian vmap the code that calls it).
broadcast_like = support.broadcast_like


def _vjp_pair(fn, nargs, active, keywords):
    """The reverse-mode ``Build`` of ``fn`` w.r.t. positional ``active`` (of ``nargs``)."""
    wrapper = support._positional_wrapper(fn, nargs, tuple(active), tuple(keywords))
    names = tuple(f"d{k}" for k in range(len(active)))
    return wrapper, vjp_builder.build_vjp(wrapper, names)


@functools.lru_cache(maxsize=None)
def _transpose_build(bwd):
    seed = inspect.signature(bwd).parameters
    return vjp_builder.build_vjp(bwd, (list(seed)[1],))


def transposed_jvp(fn, args, kwargs, tangents, kw_tangents=None):
    """The tangent of ``fn(*args, **kwargs)`` along ``tangents`` (one per positional
    argument, None for none), for a function that has only a reverse-mode template.

    Its vjp ``u -> J^T u`` is linear, so reverse mode of it at any ``u`` gives
    ``t -> J t``: two reverse passes instead of a forward template.

    >>> import s2s.numpy as np
    >>> transposed_jvp(np.cumsum, (np.array([1.0, 2.0]),), {}, (np.array([1.0, 1.0]),))
    array([1., 2.], dtype=float32)
    """
    if kw_tangents:
        raise TypeError(f"forward mode of {getattr(fn, '__name__', fn)} through keyword arguments "
                        "is not supported: pass the differentiated values positionally")
    linear, out = _transposed_linear(fn, args, kwargs, tangents)
    if linear is None:
        return zeros_tangent(out)
    tangent = linear(_active_tangents(tangents))
    return zeros_tangent(out) if tangent is None else tangent


def _active_tangents(tangents):
    cts = tuple(t for t in tangents if t is not None)
    return cts[0] if len(cts) == 1 else cts


def _transposed_linear(fn, args, kwargs, tangents):
    """``(t -> J t, fn(*args))``: the primal-dependent work done once (None: no tangent)."""
    active = [i for i, t in enumerate(tangents) if t is not None]
    if not active:
        return None, fn(*args, **kwargs)
    try:
        wrapper, build = _vjp_pair(fn, len(args), active, sorted(kwargs))
    except TypeError:  # unhashable fn
        raise TypeError(f"s2s cannot take forward mode of {fn!r}") from None
    primal = [args[i] for i in active]
    out, tape = build.fwd_cell.cell_contents(dict(kwargs), tuple(args), *primal)
    inner = _transpose_build(build.bwd_cell.cell_contents)
    _, tape2 = inner.fwd_cell.cell_contents(tape, zeros_tangent(out))
    return functools.partial(inner.bwd_cell.cell_contents, tape2), out


def _transposed_jvp_batch(axes, fn, args, kwargs, tangents, kw_tangents=None):
    """vmap of ``transposed_jvp`` over its tangents: the map ``t -> J t`` is built once
    and its generated source vmapped (a batch of tangents, as jacfwd makes)."""
    if axes[0] is not None or axes[1] is not None or axes[2] is not None or kw_tangents:
        return loop_call(transposed_jvp, axes, (fn, args, kwargs, tangents, kw_tangents), {}, ())
    linear, out = _transposed_linear(fn, args, kwargs, tangents)
    n = leading_size([t for t in tangents if t is not None])
    if linear is None:
        return broadcast_batch(zeros_tangent(out), n)
    tangent = hooks.vmap(linear.func, in_axes=(None, 0))(*linear.args, _active_tangents(tangents))
    return broadcast_batch(zeros_tangent(out), n) if tangent is None else tangent


def dynamic_jvp(fn, args, tangents, **kwargs):
    """``(fn(*args, **kwargs), tangent)`` for a function known only when the code runs
    (a parameter, an item of a container): forward mode of ``fn`` is taken then.

    >>> dynamic_jvp(lambda a, b: a * b, (2.0, 3.0), (1.0, None))
    (array(6., dtype=float32), array(3., dtype=float32))
    """
    fn, full = support.array_method_call(fn, args)
    if full is not args:  # ``A.dot(x)``: ``np.dot(A, x)``, the array's tangent zero
        return dynamic_jvp(fn, full, (None,) + tuple(tangents), **kwargs)
    active = [i for i, t in enumerate(tangents) if t is not None]
    if not active:
        out = fn(*args, **kwargs)
        return out, zeros_tangent(out)
    wrapper = support.positional_wrapper(fn, len(args), tuple(active), tuple(sorted(kwargs)))
    return hooks.jvp(functools.partial(wrapper, kwargs, tuple(args)), tuple(args[i] for i in active),
               tuple(tangents[i] for i in active))


function_rules(transposed_jvp).batch = _transposed_jvp_batch
