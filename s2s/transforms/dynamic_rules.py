"""Second order through calls of function values.

Reverse mode differentiates ``t = fn(x)`` with ``fn`` a value (a parameter, an item
of a container, ``A.dot`` of an array parameter) when the code runs:
``t, t_pull = dynamic_vjp(fn, x)``, and later ``bx = apply_pullback(t_pull, bt)[0]``.
Differentiating that gradient code again (hessian, jacfwd/jacrev of grad, grad of
grad, jvp of grad) needs the derivative of ``apply_pullback`` with respect to the
cotangent and to the primal arguments the pullback closes over. The pullback is
linear in the cotangent ``g``, so ``apply_pullback(pull, g)`` is the gradient of
``<fn(*args), g>`` with respect to the differentiated arguments: a function s2s
generates as source (``_cotangent_gradient``) and differentiates like any gradient.

The tangent of a pullback (forward mode) and its adjoint (reverse mode) are tuples,
one entry per argument of the call as ``Pullback.args`` holds it: the tangents of
the arguments, and the adjoints the pullback's uses gave them.
"""
import functools

import numpy as onp

from s2s.codegen.python import compile_function, make_cell
from s2s.core import hooks
from s2s.core.errors import S2SError, TransformError, UnsupportedSyntaxError
from s2s.core.primitive import d, def_batch, def_jvp, def_vjp
from s2s.core.tree_util import tree_leaves, tree_map
from s2s.numpy.batching import broadcast_batch, leading_size, loop_call
from s2s.parse import astconv
from s2s.parse.source import NoSourceError
from s2s.runtime import support as S
from s2s.transforms import forward, fwd_support, vjp_builder
import s2s.numpy as snp

__all__ = ["dynamic_vjp_tangent", "pullback_tangent", "dynamic_vjp_grads", "pullback_grads"]


# ---------------------------------------------------------------------------
# The gradient of <fn(*args), g>, as generated source.


def _leaf_paths(out, g, path=()):
    """``[(path, g_leaf)]``: where each float leaf of ``out`` that has a cotangent in ``g``
    sits (a path of keys: ``(0, 'w')``), for the inner product written out as source."""
    if g is None:
        return []
    if isinstance(out, (tuple, list)):
        return [p for k, (o, c) in enumerate(zip(out, g)) for p in _leaf_paths(o, c, path + (k,))]
    if isinstance(out, dict):
        return [p for k in sorted(out, key=repr) for p in _leaf_paths(out[k], g.get(k), path + (k,))]
    kind = onp.result_type(out).kind
    if kind == "c" or onp.result_type(g).kind == "c":
        raise S2SError("s2s cannot take second derivatives through a call of a function value "
                       "with complex results yet: call the function by its name (its source is "
                       "then differentiated) instead of through a parameter or a container")
    return [(path, g)] if kind == "f" else []


def _at(tree, path):
    for k in path:
        if tree is None:
            return None
        tree = tree[k]
    return tree


def _placed(like, path, value):
    """A copy of ``like`` (None where it holds no value yet) with ``value`` at ``path``."""
    if not path:
        return value
    k = path[0]
    if isinstance(like, dict):
        out = dict(like)
        out[k] = _placed(like.get(k), path[1:], value)
        return out
    out = list(like)
    out[k] = _placed(out[k], path[1:], value)
    if hasattr(type(like), "_fields"):
        return type(like)(*out)
    return type(like)(out)


def _nones_like(tree):
    if isinstance(tree, dict):
        return {k: _nones_like(v) for k, v in tree.items()}
    if isinstance(tree, (tuple, list)):
        out = [_nones_like(v) for v in tree]
        return type(tree)(*out) if hasattr(type(tree), "_fields") else type(tree)(out)
    return None


@functools.lru_cache(maxsize=256)
def _cotangent_gradient_cached(fn, n, diff, keywords, paths):
    return _cotangent_gradient(fn, n, diff, keywords, paths)


def _cotangent_gradient(fn, n, diff, keywords, paths):
    """``grad_dynamic_cot(kwargs, args, g0.., d0..)``: the adjoints of the arguments at
    ``diff`` in ``fn(*args)`` for the cotangents ``g0..`` of its leaves at ``paths``, the
    gradient of ``sum(out[path] * g)`` that s2s generates (and differentiates again)."""
    call = S.positional_wrapper(fn, n, diff, keywords)
    gs = [f"g{k}" for k in range(len(paths))]
    ds = [f"d{k}" for k in range(len(diff))]
    terms = " + ".join(f"np.sum(out{''.join(f'[{k!r}]' for k in p)} * {g})" for p, g in zip(paths, gs))
    text = (f"def dynamic_cot(kwargs, args, {', '.join(gs + ds)}):\n"
            f"    out = call(kwargs, args, {', '.join(ds)})\n"
            f"    return {terms}\n")
    name = getattr(fn, "__name__", "fn")
    cot, _ = compile_function(astconv.parse(text).body[0], f"<s2s <{name}(...), g> (a function value)>",
                              {"__builtins__": __builtins__}, {"call": make_cell(call), "np": make_cell(snp)})
    built = _built_or_none(functools.partial(vjp_builder.grad_function, as_tuple=True), cot, tuple(ds))
    return built[0] if built is not None else _recorded_gradient(cot, len(gs))


def _recorded_gradient(cot, n_fixed):
    """The gradient of ``cot(kwargs, args, *fixed, *diff)`` w.r.t. ``diff`` where its
    source cannot be built (the function value calls ``s2s.vjp``, ``linearize``, a
    Jacobian): ``s2s.vjp`` of the call, which records it. Transformations of the
    gradient record its call in turn (``__s2s_traced__``)."""

    def recorded_cot_gradient(kwargs, args, *values):
        fixed = values[:n_fixed]
        out, pull = hooks.vjp(lambda *diff: cot(kwargs, args, *fixed, *diff), *values[n_fixed:])
        return pull(snp.ones_like(out))
    recorded_cot_gradient.__s2s_traced__ = True
    return recorded_cot_gradient


def _gradient_for(pull, g):
    """``(function, primals, paths)``: ``function(*primals)`` is ``pull(g)`` at the
    differentiated positions, computed by generated source (None: nothing to compute)."""
    found = _leaf_paths(pull.out, g) if g is not None and pull.diff else []
    if not found:
        return None
    paths = tuple(p for p, _ in found)
    key = (pull.fn, len(pull.args), pull.diff, tuple(pull.kwargs), paths)
    try:
        grad = _cotangent_gradient_cached(*key)
    except TypeError:  # an unhashable callable
        grad = _cotangent_gradient(*key)
    primals = tuple(c for _, c in found) + tuple(pull.args[i] for i in pull.diff)
    return functools.partial(grad, pull.kwargs, pull.args), primals, paths


def _per_argument(pull, values):
    """``values`` (one per differentiated position) spread over the call's arguments."""
    out = [None] * len(pull.args)
    for i, v in zip(pull.diff, values):
        out[i] = v
    return out


# ---------------------------------------------------------------------------
# Forward mode.


def dynamic_vjp_tangent(fn, args, tangents, **kwargs):
    """The tangent of ``dynamic_vjp(fn, *args)``: the result's tangent, and the pullback's,
    the tangents of the call's arguments (see ``Pullback.args``).

    >>> t = dynamic_vjp_tangent(lambda a: a * a, (3.0,), (1.0,))
    >>> float(t[0]), t[1]
    (6.0, (1.0,))
    """
    tangent = fwd_support.dynamic_jvp(fn, args, tangents, **kwargs)[1]
    skip = len(S.array_method_call(fn, args)[1]) - len(args)
    return tangent, (None,) * skip + tuple(tangents)


def pullback_tangent(adjoints, pull, pull_tangent, g, g_tangent):
    """The tangent of ``adjoints = apply_pullback(pull, g)`` along the cotangent's tangent
    and the tangents of the arguments the pullback was taken at (``pull_tangent``):
    forward mode of the generated gradient of ``<fn(*args), g>``.

    >>> import s2s
    >>> out, pull = S.dynamic_vjp(lambda a: a ** 3, 2.0)
    >>> float(pullback_tangent(S.apply_pullback(pull, 1.0), pull, (1.0,), 1.0, 0.0)[0])
    12.0
    """
    made = _gradient_for(pull, g)
    if made is None:
        return tuple(fwd_support.zeros_tangent(a) if a is not None else None for a in adjoints)
    grad, primals, paths = made
    arg_tangents = pull_tangent if isinstance(pull_tangent, tuple) and \
        len(pull_tangent) == len(pull.args) else (None,) * len(pull.args)
    tangents = [_at(g_tangent, p) for p in paths] + [arg_tangents[i] for i in pull.diff]
    tangents = tuple(fwd_support.zeros_tangent(x) if t is None else t for x, t in zip(primals, tangents))
    _, out = hooks.jvp(grad, primals, tangents)
    spread = _per_argument(pull, out)[pull.skip:]
    return tuple(fwd_support.zeros_tangent(a) if t is None and a is not None else t
                 for a, t in zip(adjoints, spread))


@def_jvp(S.dynamic_vjp)
def _dynamic_vjp_jvp(ans, fn, *args, **kwargs):
    d[ans] = dynamic_vjp_tangent(fn, args, d[args], **kwargs)


@def_jvp(S.apply_pullback)
def _apply_pullback_jvp(ans, pull, g):
    d[ans] = pullback_tangent(ans, pull, d[pull], g, d[g])


# ---------------------------------------------------------------------------
# Reverse mode.


def dynamic_vjp_grads(ct, ans, args):
    """The adjoints of ``args`` in ``ans = dynamic_vjp(fn, *args)`` from the adjoint ``ct``
    of ``(out, pullback)``: the pullback applied to the result's adjoint, plus what the
    uses of the pullback gave (``pullback_grads``).

    >>> ans = S.dynamic_vjp(lambda a: a * a, 3.0)
    >>> float(dynamic_vjp_grads((1.0, (2.0,)), ans, (3.0,))[0])
    8.0
    """
    if ct is None:
        return (None,) * len(args)
    out_ct, pull_ct = ct
    pull = ans[1]
    adj = list(pull(out_ct))
    if pull_ct is not None:
        for k in range(len(adj)):
            adj[k] = S.add_grad(adj[k], pull_ct[pull.skip + k])
    return tuple(adj)


def pullback_grads(ct, pull, g):
    """``(adjoint of pull, adjoint of g)`` in ``adjoints = apply_pullback(pull, g)`` from the
    adjoint ``ct`` of ``adjoints``: reverse mode of the generated gradient of
    ``<fn(*args), g>``; the pullback's adjoint holds one entry per argument of the call.

    >>> out, pull = S.dynamic_vjp(lambda a: a ** 3, 2.0)
    >>> pull_ct, g_ct = pullback_grads((1.0,), pull, 1.0)
    >>> float(pull_ct[0]), float(g_ct)
    (12.0, 12.0)
    """
    made = _gradient_for(pull, g) if ct is not None else None
    full = [None] * pull.skip + list(ct) if made is not None else []
    if made is None or all(c is None for c in full):
        return None, None
    grad, primals, paths = made
    adjoints, back = hooks.vjp(grad, *primals)
    cts = tuple(fwd_support.zeros_tangent(a) if full[i] is None else full[i]
                for a, i in zip(adjoints, pull.diff))
    parts = back(cts)
    g_adj = _nones_like(g)
    for p, v in zip(paths, parts):
        g_adj = _placed(g_adj, p, v)
    return tuple(_per_argument(pull, parts[len(paths):])), g_adj


@def_vjp(S.dynamic_vjp)
def _dynamic_vjp_vjp(ans, fn, *args, **kwargs):
    d[args] = dynamic_vjp_grads(d[ans], ans, args)


@def_vjp(S.apply_pullback)
def _apply_pullback_vjp(ans, pull, g):
    cts = pullback_grads(d[ans], pull, g)
    d[pull] = cts[0]
    d[g] = cts[1]


# ---------------------------------------------------------------------------
# vmap. jacfwd and hessian batch the tangents alone (the primal code is the same for
# every example): the generated jvp is then vmapped once. Anything else (a batched
# primal, jacrev's batched cotangents) runs once per example.


def _batched_jvp(fn, fixed, primals, tangents, pair=False):
    """The tangent of ``fn(*fixed, *primals)`` for a batch of ``tangents`` (a tangent with
    one more axis than its primal is batched, others are shared), or None where none is
    batched or ``fn``'s jvp source cannot be built: the generated jvp of ``fn``
    (``forward.build_jvp``), vmapped. With ``pair``, ``(primal, tangent)``, the primal
    broadcast to the batch."""
    batched = [_batched_tangent(p, t) for p, t in zip(primals, tangents)]
    if not any(batched) or None in batched:
        return None
    params = forward.positional_params(fn)[len(fixed):len(fixed) + len(primals)]
    build = _built_or_none(forward.build_jvp, fn, tuple(params))
    if build is None:
        return None
    jvp_fn = build.cell.cell_contents
    in_axes = tuple(0 if b else None for b in batched) + (None,) * (len(fixed) + len(primals))
    n = next(onp.shape(tree_leaves(t)[0])[0] for t, b in zip(tangents, batched) if b)
    out = hooks.vmap(jvp_fn, in_axes=in_axes)(*tangents, *fixed, *primals)
    return (out if pair else out[1]), n


def _batched_tangent(primal, tangent):
    """Whether ``tangent`` is a batch of tangents of ``primal`` (each leaf has one more
    axis than the primal's: a layer's parameters ``(W, b)`` are a tuple), False where
    none has, None where some leaves have and some not (not described: per example)."""
    primals, tangents = tree_leaves(primal), tree_leaves(tangent)
    if len(primals) != len(tangents):
        return None if tangents else False
    flags = {onp.ndim(t) == onp.ndim(p) + 1 for p, t in zip(primals, tangents)}
    return flags.pop() if len(flags) == 1 else None if flags else False


def _built_or_none(builder, fn, params):
    """``builder(fn, params)``, or None where ``fn`` calls something without source to
    read (``s2s.vjp``, a Jacobian: recorded calls): the caller then runs each example's
    call on its own, which records those. A fence refusal still raises."""
    try:
        return builder(fn, params)
    except UnsupportedSyntaxError:
        raise
    except (NoSourceError, TransformError):
        return None


def _whole_batch(pull):
    """The ``Pullback`` of one call on a whole batch that a batched ``dynamic_vjp`` made
    (``batch_support._BatchedPullback.pull``: the examples' call batched, each unbatched
    differentiable argument broadcast), or None. Its examples are independent, so the
    derivatives of ``apply_pullback`` through it are each example's, stacked."""
    inner = getattr(pull, "pull", None)
    return inner if isinstance(inner, S.Pullback) and hasattr(pull, "n") else None


def _broadcast_all(values, axes, n):
    """Each of ``values`` with every array leaf batched (unbatched ones broadcast)."""
    return [v if ax is not None else tree_map(lambda a: broadcast_batch(a, n), v)
            for v, ax in zip(values, axes)]


def _pullback_tangent_batch(axes, /, adjoints, pull, pull_tangent, g, g_tangent):
    axes = tuple(axes) + (None,) * (5 - len(axes))
    whole = _whole_batch(pull) if axes[1] is not None else None
    if whole is not None:  # the examples' pullbacks (vmap of hessian, of jacfwd(grad))
        adjoints, pull_tangent, g, g_tangent = _broadcast_all(
            (adjoints, pull_tangent, g, g_tangent), axes[:1] + axes[2:], pull.n)
        full = (None,) * pull.skip + tuple(adjoints)  # (the array of an array method's call)
        return pullback_tangent(full, whole, pull_tangent, g, g_tangent)[pull.skip:]
    made = _gradient_for(pull, g) if axes[0] is None and axes[1] is None and axes[3] is None else None
    if made is not None:
        grad, primals, paths = made
        arg_tangents = pull_tangent if isinstance(pull_tangent, tuple) and \
            len(pull_tangent) == len(pull.args) else (None,) * len(pull.args)
        tangents = [_at(g_tangent, p) for p in paths] + [arg_tangents[i] for i in pull.diff]
        tangents = tuple(fwd_support.zeros_tangent(x) if t is None else t for x, t in zip(primals, tangents))
        found = _batched_jvp(grad.func, grad.args, primals, tangents)
        if found is not None:
            out, n = found
            spread = _per_argument(pull, out)[pull.skip:]
            return tuple(broadcast_batch(fwd_support.zeros_tangent(a), n) if t is None and a is not None
                         else t for a, t in zip(adjoints, spread))
    return loop_call(pullback_tangent, axes, (adjoints, pull, pull_tangent, g, g_tangent), {})


def _batched_dynamic_jvp(fn, args, tangents, kwargs, args_axis, tangents_axis):
    """``dynamic_jvp(fn, args, tangents)`` for a batch of ``args`` (``args_axis`` 0: each
    array of the tuple batched, as batched code builds it) and/or of ``tangents``: the
    generated jvp of the call (``fn`` a constant of its positional wrapper), vmapped
    once; None where that jvp cannot be built or the arguments are not all arrays."""
    target, full = S.array_method_call(fn, args)
    skip = len(full) - len(args)
    full_tangents = (None,) * skip + tuple(tangents)
    active = tuple(i for i, t in enumerate(full_tangents) if t is not None)
    if not active or (args_axis is not None and (skip or not all(
            onp.ndim(v) >= 1 and hasattr(v, "dtype") for v in tree_leaves(full)))):
        return None  # (an array method's own array, a Python number: per example)
    wrapper = S.positional_wrapper(target, len(full), active, tuple(sorted(kwargs)))
    params = forward.positional_params(wrapper)[2:2 + len(active)]
    build = _built_or_none(forward.build_jvp, wrapper, tuple(params))
    if build is None:
        return None
    in_axes = (tangents_axis,) * len(active) + (None, args_axis) + (args_axis,) * len(active)
    return hooks.vmap(build.cell.cell_contents, in_axes=in_axes)(
        *[full_tangents[i] for i in active], kwargs, tuple(full), *[full[i] for i in active])


def _dynamic_jvp_batch(axes, /, fn, args, tangents, **kwargs):
    """vmap of ``dynamic_jvp``: over jacfwd's basis (the tangents), the examples (the
    arguments), or both, the call's generated jvp vmapped once (``_batched_dynamic_jvp``);
    each example on its own where ``fn`` itself varies or that jvp cannot be built."""
    axes = tuple(axes) + (None,) * (3 - len(axes))
    found = _batched_dynamic_jvp(fn, args, tangents, kwargs, axes[1], axes[2]) \
        if axes[0] is None and (axes[1] is not None or axes[2] is not None) else None
    if found is None and axes[0] is None and axes[1] is None and axes[2] is not None:
        made = _tangents_batched_leafwise(fn, args, tangents, kwargs, pair=True)
        found = made[0] if made is not None else None
    if found is None:
        return loop_call(fwd_support.dynamic_jvp, axes, (fn, args, tangents), kwargs)
    return found


def _tangents_batched_leafwise(fn, args, tangents, kwargs, pair=False):
    """The tangents alone batched, told leaf by leaf (a layer's ``(W, b)`` in stax's
    ``serial``, where some of a call's tangents are batched and others shared): ``(out,
    full_tangents)``, ``out`` the tangent of the call (``(primal, tangent)`` with
    ``pair``) from the function's generated jvp vmapped once, ``full_tangents`` the
    tangents with an array method's own array first; None where that jvp is not built."""
    target, full = S.array_method_call(fn, args)
    full_tangents = (None,) * (len(full) - len(args)) + tuple(tangents)
    active = tuple(i for i, t in enumerate(full_tangents) if t is not None)
    if not active:
        return None
    wrapper = S.positional_wrapper(target, len(full), active, tuple(sorted(kwargs)))
    found = _batched_jvp(wrapper, (kwargs, tuple(full)), [full[i] for i in active],
                         [full_tangents[i] for i in active], pair=pair)
    return (found[0], full_tangents) if found else None


def _dynamic_vjp_tangent_batch(axes, /, fn, args, tangents, **kwargs):
    axes = tuple(axes) + (None,) * (3 - len(axes))
    if axes[0] is None and axes[1] is not None:  # a batch of examples (vmap(hessian))
        found = _batched_dynamic_jvp(fn, args, tangents, kwargs, axes[1], axes[2])
        if found is not None:
            skip = len(S.array_method_call(fn, args)[1]) - len(args)
            n = leading_size(list(tree_leaves(args)))
            return found[1], (None,) * skip + tuple(
                t if t is None or axes[2] is not None else broadcast_batch(t, n) for t in tangents)
    if axes[0] is None and axes[1] is None:
        made = _tangents_batched_leafwise(fn, args, tangents, kwargs)
        if made is not None:
            return made
    return loop_call(dynamic_vjp_tangent, axes, (fn, args, tangents), kwargs)


def _batched_cotangents(cts, like):
    """``cts`` all batched (those with no more axes than ``like``'s broadcast), and the
    batch size; None where none is batched."""
    batched = [c is not None and _batched_tangent(x, c) for c, x in zip(cts, like)]
    if not any(batched) or None in batched:
        return None
    n = next(onp.shape(tree_leaves(c)[0])[0] for c, b in zip(cts, batched) if b)
    return tuple(c if b else broadcast_batch(fwd_support.zeros_tangent(x) if c is None else c, n)
                 for c, x, b in zip(cts, like, batched)), n


def _pullback_grads_batch(axes, /, ct, pull, g):
    axes = tuple(axes) + (None,) * (3 - len(axes))
    whole = _whole_batch(pull) if axes[1] is not None else None
    if whole is not None:  # the examples' pullbacks (vmap of jacrev(grad))
        ct, g = _broadcast_all((ct, g), (axes[0], axes[2]), pull.n)
        return pullback_grads(None if ct is None else (None,) * pull.skip + tuple(ct), whole, g)
    made = _gradient_for(pull, g) if ct is not None and axes[1] is None and axes[2] is None else None
    found = made and _batched_pullback_grads(ct, pull, g, *made)
    if found:
        return found
    return loop_call(pullback_grads, axes, (ct, pull, g), {})


def _batched_pullback_grads(ct, pull, g, grad, primals, paths):
    """``pullback_grads`` for batched cotangents ``ct``: the generated backward of the
    gradient of ``<fn(*args), g>``, vmapped; None where none is batched or that gradient's
    reverse-mode source cannot be built."""
    params = forward.positional_params(grad.func)[len(grad.args):len(grad.args) + len(primals)]
    build = _built_or_none(vjp_builder.build_vjp, grad.func, tuple(params))
    if build is None:
        return None
    adjoints, tape = build.fwd_cell.cell_contents(*grad.args, *primals)
    full = [None] * pull.skip + list(ct)
    found = _batched_cotangents(tuple(full[i] for i in pull.diff), adjoints)
    if found is None or not build.output_active:
        return None
    parts = hooks.vmap(build.bwd_cell.cell_contents, in_axes=(None, 0))(tape, found[0])
    parts = parts if isinstance(parts, tuple) else (parts,)
    g_adj = _nones_like(g)
    for p, v in zip(paths, parts):
        g_adj = _placed(g_adj, p, v)
    return tuple(_per_argument(pull, parts[len(paths):])), g_adj


def _dynamic_vjp_grads_batch(axes, /, ct, ans, args):
    axes = tuple(axes) + (None,) * (3 - len(axes))
    whole = _whole_batch(ans[1]) if axes[1] is not None and ct is not None else None
    if whole is not None:  # the examples' pullbacks (vmap of jacrev(grad))
        (ct,) = _broadcast_all((ct,), axes[:1], ans[1].n)
        out_ct, pull_ct = ct
        adj = list(whole(out_ct)[ans[1].skip:])
        if pull_ct is not None:
            adj = [S.add_grad(a, pull_ct[ans[1].skip + k]) for k, a in enumerate(adj)]
        return tuple(adj)
    if ct is None or axes[1] is not None or axes[2] is not None:
        return loop_call(dynamic_vjp_grads, axes, (ct, ans, args), {})
    out_ct, pull_ct = ct
    pull = ans[1]
    adj = [None] * len(args)
    made = _gradient_for(pull, out_ct)
    if made is not None:
        grad, primals, paths = made
        flags = [_batched_tangent(_at(pull.out, p), c) for p, c in zip(paths, primals)]
        if not any(flags) or None in flags:
            return loop_call(dynamic_vjp_grads, axes, (ct, ans, args), {})
        in_axes = (None,) * len(grad.args) + tuple(0 if f else None for f in flags) + \
            (None,) * len(pull.diff)
        parts = hooks.vmap(grad.func, in_axes=in_axes)(*grad.args, *primals)
        adj = _per_argument(pull, parts)[pull.skip:]
    if pull_ct is not None:
        adj = [S.add_grad(a, pull_ct[pull.skip + k]) for k, a in enumerate(adj)]
    return tuple(adj)


# A derivative of these helpers themselves (third order: grad of grad of grad) records
# their calls on their arguments (they run s2s's transformations inside).
for _fn in (dynamic_vjp_tangent, pullback_tangent, dynamic_vjp_grads, pullback_grads):
    _fn.__s2s_traced__ = True

def_batch(pullback_tangent)(_pullback_tangent_batch)
def_batch(dynamic_vjp_tangent)(_dynamic_vjp_tangent_batch)
def_batch(fwd_support.dynamic_jvp)(_dynamic_jvp_batch)
def_batch(pullback_grads)(_pullback_grads_batch)
def_batch(dynamic_vjp_grads)(_dynamic_vjp_grads_batch)
