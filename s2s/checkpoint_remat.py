"""Checkpoint policies in reverse mode: what the forward pass keeps, what the backward recomputes.

``s2s.checkpoint(f, policy=p)`` shows transformations the function

    def f(x, W):
        out, saved = checkpoint_save(checkpointed_f, x, W)
        return checkpoint_restore(checkpointed_f, out, saved, x, W)

* ``checkpoint_save`` runs ``f`` once on recording tracers (``s2s.trace.record``): the
  record is ``f`` as straight-line primitive applications, and the policy is asked about
  each (``policy(prim, *avals, **params)``). It returns ``f``'s value and the values of
  the applications the policy keeps (``saved``).
* reverse mode's forward sweep keeps ``saved`` and the arguments on its tape (what the
  adjoint template of ``checkpoint_restore`` reads); the backward pass runs
  ``remat_<f>(saved, x, W)``: reverse mode's forward sweep of the record with the kept
  statements replaced by one unpacking of ``saved`` (``s2s.transforms.vjp_builder.
  build_remat_vjp``), then its reverse sweep. ``remat_source`` prints it.
* forward mode and vmap see ``checkpoint_save`` as ``f`` and ``checkpoint_restore`` as the
  identity on ``out``: policies only change what reverse mode keeps (as in JAX).

The record is made on every call (as the tracing fallback does); its reverse-mode build
is cached by its text and constants (``s2s.transforms.recorded_builds``). Records of
calls with the same argument shapes differ where the body reads more than its arguments
(a closure variable rebound between calls, a global, NumPy's random numbers): so the
backward pass uses the record of its own call, found by a marker that ``saved`` ends with
(a zero-size array, unique to the call, kept on the tape with the saved values). Where a
transformation rebuilt ``saved`` (vmap stacks it per example) it takes the latest record
for the arguments' shapes and dtypes, and raises ``CheckpointRecordError`` if two records
for them ever differed. A body whose Python control flow reads a traced value
(``if x > 0``) has a record valid for those values only: its call keeps only its
arguments and is recomputed in full by reverse mode of ``f`` itself.
"""
import collections
import functools
import itertools

import weakref

import gast
import numpy as onp

from s2s.codegen.python import compile_code, instantiate
from s2s.core.errors import CheckpointRecordError
from s2s.core.primitive import abstractify, d, def_jvp, def_vjp
from s2s.core.tree_util import tree_flatten, tree_leaves, tree_unflatten
from s2s.parse import astconv, dataflow
from s2s.runtime import support
from s2s.trace.record import RecordingTracer, record
from s2s.transforms import recorded_builds, vjp_builder
from s2s.transforms.fwd_support import dynamic_jvp


class _Plan:
    """One record of a checkpointed body: ``body`` (the body alone, for the backward
    pass), the policy's saved names in it (``policy_saved``), those the backward pass
    reads (``saved``), and ``save()``, the record returning the body's output leaves and
    the values of ``saved`` (what forward mode and second derivatives differentiate)."""

    def __init__(self, rec, body, policy_saved, saved, active, out_tree):
        self.rec, self.body = rec, body
        self.policy_saved, self.saved, self.active = policy_saved, saved, active
        self.out_tree, self.n_out = out_tree, out_tree.num_leaves
        self._save = None

    def save(self):
        if self._save is None:
            picks = list(range(self.n_out)) + [self.n_out + self.policy_saved.index(n) for n in self.saved]
            self._save = _derived(self.rec, picks, f"save_{self.body.fn.__name__}").fn
        return self._save


def _avals_key(leaves):
    return tuple((a.shape, str(a.dtype), a.weak_type) for a in map(abstractify, leaves))


def _plan_key(rule, args):
    static, dyn = rule._split(args)
    leaves, tree = tree_flatten(list(dyn))
    try:
        hash(tuple(static))
        static_key = tuple(static)
    except TypeError:
        static_key = tuple(id(s) for s in static)
    return (static_key, tree, _avals_key(leaves)), static, leaves, tree


def _saves(policy, eqn):
    """Whether ``policy`` keeps the output of the recorded primitive application ``eqn``."""
    avals = [abstractify(a.value if isinstance(a, RecordingTracer) else a) for a in eqn.args]
    keep = policy(eqn.primitive, *avals, **eqn.params)
    if not isinstance(keep, bool):
        raise TypeError(f"checkpoint policy {getattr(policy, '__name__', policy)!r} returned "
                        f"{keep!r} for {eqn.primitive.name}; policies return True or False "
                        "(s2s has no offloading)")
    return keep


def _record(rule, args):
    """``(plan, out, saved values)`` for ``rule.fun(*args)``; plan None where the body's
    control flow read a traced value (its record holds for those values only)."""
    key, static, leaves, tree = _plan_key(rule, args)
    box = []

    def run(*dyn_leaves):
        dyn_args = tree_unflatten(tree, list(dyn_leaves))
        full, it_s, it_d = [], iter(static), iter(dyn_args)
        for i in range(len(static) + len(dyn_args)):
            full.append(next(it_s) if i in rule.nondiff_argnums else next(it_d))
        out = rule.fun(*full)
        trace = dyn_leaves[0]._trace
        saved = []
        for eqn in trace.equations:
            if hasattr(eqn, "primitive") and _saves(rule.policy, eqn):
                saved += [o for o in eqn.outs if all(o is not s for s in saved)]
        box.append((out, saved, trace))
        return out, tuple(saved)

    name = getattr(rule, "__name__", "fn").replace("<lambda>", "lambda_fn")
    name = name if name.isidentifier() else "body"
    if not leaves:
        return None, rule.fun(*args), ()
    rec = record(run, leaves, {}, name=f"record_{name}")
    out_tracers, saved_tracers, trace = box.pop()
    # The trace and its tracers refer to each other: left to the cycle collector, every
    # intermediate of the body would outlive the call.
    trace.equations.clear()
    out = _values(out_tracers)
    if rec.concretized:
        _store_plan(rule, key, None)
        return None, out, ()
    out_tree = tree_flatten(out_tracers)[1]
    body = _derived(rec, range(out_tree.num_leaves), name)
    active = _active(body, leaves)
    policy_saved = tuple(t.name for t in saved_tracers)
    build = _remat_build(policy_saved, body, active) if active else None
    saved_names = build.saved_read if build else ()
    plan = _Plan(rec, body, policy_saved, saved_names, active, out_tree)
    saved = tuple(_kept(saved_tracers[policy_saved.index(n)].value, n in build.saved_shapes)
                  for n in saved_names)
    plan.saved_avals = _avals_key(saved)
    _store_plan(rule, key, plan)
    return plan, out, saved


# -- which record a backward pass uses ---------------------------------------------

_MIXED = "mixed"  # rule._plans' entry for shapes whose records differed between calls
_by_marker = {}  # id(marker) -> (weak reference to the marker, plan or None)


def _marker(plan):
    """A zero-size array unique to one call, standing for its record ``plan``: ``saved``
    ends with it, so the tape keeps it until that call's backward pass."""
    marker = onp.empty(0)
    key = id(marker)
    _by_marker[key] = (weakref.ref(marker, lambda _: _by_marker.pop(key, None)), plan)
    return marker


def _marked_plan(saved):
    """``(True, plan)`` for ``saved`` ending with a live marker; ``(False, None)`` where a
    transformation rebuilt it."""
    entry = _by_marker.get(id(saved[-1])) if saved else None
    if entry is None or entry[0]() is not saved[-1]:
        return False, None
    return True, entry[1]


def _same_record(a, b):
    """Whether plans ``a`` and ``b`` (or None) compute the same: one text and the same
    constants (identical, or equal concrete arrays)."""
    if a is None or b is None:
        return a is b
    if a.rec.source != b.rec.source:
        return False
    ca = [c.cell_contents for c in a.rec.fn.__closure__ or ()]
    cb = [c.cell_contents for c in b.rec.fn.__closure__ or ()]
    return len(ca) == len(cb) and all(x is y or _equal_arrays(x, y) for x, y in zip(ca, cb))


def _equal_arrays(x, y):
    concrete = (onp.ndarray, onp.generic, int, float, complex, bool)
    return (isinstance(x, concrete) and isinstance(y, concrete) and type(x) is type(y)
            and onp.shape(x) == onp.shape(y) and onp.asarray(x).dtype == onp.asarray(y).dtype
            and bool(onp.array_equal(x, y, equal_nan=True)))


def _store_plan(rule, key, plan):
    """``plan`` as the latest record for ``key``; ``_MIXED`` from the first record that
    differs from the one before it on (a later lookup by shapes could pick the wrong one)."""
    old = rule._plans.get(key, plan)
    rule._plans[key] = _MIXED if old is _MIXED or not _same_record(old, plan) else plan


def _plan_of(rule, key, saved):
    """The record of the call whose forward pass gave ``saved``."""
    marked, plan = _marked_plan(saved)
    if marked:
        return plan
    plan = rule._plans.get(key)
    if plan is _MIXED:
        code = getattr(rule.fun, "__code__", None)
        raise CheckpointRecordError(
            f"checkpoint of {rule.__name__}: calls with the same argument shapes recorded "
            "different computations (the function reads more than its arguments: a closure "
            "variable rebound between calls, a global, random numbers), and this backward "
            "pass cannot tell which record is its call's (a transformation rebuilt the saved "
            "values)", filename=code and code.co_filename, lineno=code and code.co_firstlineno,
            hint="pass what the function reads as arguments (static_argnums for Python values)")
    return plan


def _kept(value, shape_only):
    """What the tape keeps of a saved value: a stand-in where only its shape is read."""
    return support.shape_of(value) if shape_only else value


def _active(body, leaves):
    """The parameters of ``body`` that reverse mode differentiates (float leaves)."""
    return tuple(n for n, leaf in zip(_params(body.fn), leaves)
                 if support._differentiable_value(leaf, tree_leaves))


def _values(tree):
    leaves, t = tree_flatten(tree)
    return tree_unflatten(t, [x.value if isinstance(x, RecordingTracer) else x for x in leaves])


class _Body:
    """The record with only the body's outputs returned (``source``, ``fn``): what
    ``recorded_builds.build`` takes."""

    def __init__(self, source, fn):
        self.source, self.fn = source, fn


_DERIVED = collections.OrderedDict()  # (record text, picks, name) -> compiled code


def _derived(rec, picks, name):
    """The record ``rec`` returning only the output leaves at ``picks`` (its compiled
    code cached by text, bounded), over the record's own constants."""
    key = (rec.source, tuple(picks), name)
    compiled = _DERIVED.get(key)
    if compiled is None:
        fdef = astconv.parse(rec.source).body[0]
        ret = fdef.body[-1]
        elts = ret.value.elts if isinstance(ret.value, gast.Tuple) else [ret.value]
        outs = [elts[i] for i in picks]
        ret.value = outs[0] if len(outs) == 1 else gast.Tuple(elts=outs, ctx=gast.Load())
        fdef.body = _live(fdef.body)
        fdef.name = name
        compiled = compile_code(fdef, f"<s2s checkpointed {name} #{next(_counter)}>",
                                rec.fn.__code__.co_freevars)
        _DERIVED[key] = compiled
        if len(_DERIVED) > 256:
            _DERIVED.popitem(last=False)
    cells = dict(zip(rec.fn.__code__.co_freevars, rec.fn.__closure__ or ()))
    fn = instantiate(compiled, rec.fn.__globals__, cells)
    return _Body(compiled.text, fn)


_counter = itertools.count()


def _live(stmts):
    """Straight-line ``stmts`` without the assignments the return does not need."""
    return dataflow.live_statements(stmts[:-1], dataflow.reads(stmts[-1]))[0] + [stmts[-1]]


# ---------------------------------------------------------------------------
# What the wrapper calls, and their rules.


def checkpoint_save(rule, *args):
    """``(rule.fun(*args), saved)``: the value and what ``rule.policy`` keeps of its body,
    then the marker of this call's record (``_marker``)."""
    plan, out, saved = _record(rule, args)
    return out, saved + (_marker(plan),)


def checkpoint_restore(rule, out, saved, *args):
    """``out``; reverse mode gives ``args`` their cotangents by recomputing from ``saved``."""
    return out


def _remat_build(policy_saved, body, active):
    return recorded_builds.build(_remat_builder(policy_saved), body, active)


@functools.lru_cache(maxsize=None)
def _remat_builder(saved):
    # one builder object per saved tuple: recorded_builds caches by it
    return functools.partial(vjp_builder.build_remat_vjp, saved=saved)


def _params(fn):
    return fn.__code__.co_varnames[:fn.__code__.co_argcount]


def _per_argument(rule, tree, n_args, leaf_cts):
    """Cotangents of the call's arguments from those of its differentiated leaves."""
    dyn_cts = iter(tree_unflatten(tree, list(leaf_cts)))
    return tuple(None if i in rule.nondiff_argnums else next(dyn_cts) for i in range(n_args))


def _seed(plan, g):
    """The body's output cotangent as its record returns it (one leaf, or a tuple); a
    dict's cotangent may lack the keys that receive none."""
    leaves = plan.out_tree.flatten_up_to_or_none(g)
    return leaves[0] if plan.n_out == 1 else tuple(leaves)


def checkpoint_remat_cotangents(g, rule, saved, args):
    """Cotangents of ``args`` in ``checkpoint_restore(rule, out, saved, *args)``: the
    body's reverse mode, its forward sweep reading ``saved`` instead of recomputing it."""
    if g is None:
        return (None,) * len(args)
    key, _, leaves, tree = _plan_key(rule, args)
    plan = _plan_of(rule, key, saved)
    saved = saved[:-1]  # less the marker
    if plan is None:
        return _from_arguments(g, rule, args)
    if _avals_key(saved) != plan.saved_avals:
        raise RuntimeError(f"checkpoint of {rule.__name__}: the saved values do not match the "
                           "record of the function for these argument shapes (its Python code "
                           "changed what it computes between the forward and the backward pass)")
    if not plan.active:
        return (None,) * len(args)
    build = _remat_build(plan.policy_saved, plan.body, plan.active)
    _, tape = build.fwd_cell.cell_contents(saved, *leaves)
    cts = build.bwd_cell.cell_contents(tape, _seed(plan, g))
    by_name = dict(zip(plan.active, cts if len(plan.active) > 1 else (cts,)))
    leaf_cts = [by_name.get(n) for n in _params(plan.body.fn)]
    leaf_cts = [support.zeros_like_grad(x) if c is None else c for x, c in zip(leaves, leaf_cts)]
    return _per_argument(rule, tree, len(args), leaf_cts)


def _from_arguments(g, rule, args):
    """Cotangents of ``args`` by reverse mode of the body itself (no record to reuse)."""
    _, pull = support.dynamic_vjp(rule.fun, *args)
    return tuple(None if i in rule.nondiff_argnums else ct for i, ct in enumerate(pull(g)))


def _call_record(rule, ans, args):
    """``(plan, out, saved values)`` of the call that returned ``ans`` (its own record where
    its marker survived, else a new one)."""
    out, saved = ans
    marked, plan = _marked_plan(saved)
    return (plan, out, saved[:-1]) if marked else _record(rule, args)


def checkpoint_save_tangent(rule, ans, args, tangents):
    """The tangent of ``ans = checkpoint_save(rule, *args)``: forward mode of its record."""
    plan, _, saved = _call_record(rule, ans, args)
    marker_tangent = onp.zeros(0)
    if plan is None:
        tangents = tuple(None if i in rule.nondiff_argnums else t for i, t in enumerate(tangents))
        return dynamic_jvp(rule.fun, args, tangents)[1], (marker_tangent,)
    leaves = _plan_key(rule, args)[2]
    _, t_dyn = rule._split(tangents)
    t_leaves = tree_flatten(list(t_dyn), is_leaf=lambda x: x is None)[0]
    _, t_out = dynamic_jvp(plan.save(), tuple(leaves), tuple(t_leaves))
    t_out = list(t_out) if isinstance(t_out, (tuple, list)) else [t_out]
    return (tree_unflatten(plan.out_tree, t_out[:plan.n_out]),
            tuple(t_out[plan.n_out:]) + (marker_tangent,))


def checkpoint_save_cotangents(g, rule, ans, args):
    """Cotangents of ``args`` in ``ans = checkpoint_save(rule, *args)``: reverse mode of its
    record (a derivative of the backward pass reaches the saved values)."""
    g_out, g_saved = (None, None) if g is None else g
    g_saved = tuple(g_saved)[:-1] if g_saved else ()  # less the marker's
    if g_out is None and not any(x is not None for x in g_saved):
        return (None,) * len(args)
    plan, out, saved = _call_record(rule, ans, args)
    if plan is None:
        return _from_arguments(g_out, rule, args) if g_out is not None else (None,) * len(args)
    _, _, leaves, tree = _plan_key(rule, args)
    values = tree_flatten(out)[0] + list(saved)
    cts = plan.out_tree.flatten_up_to_or_none(g_out)
    cts += list(g_saved) if g_saved else [None] * len(saved)
    seed = [support.zeros_like_grad(v) if c is None else c for v, c in zip(values, cts)]
    _, pull = support.dynamic_vjp(plan.save(), *leaves)
    return _per_argument(rule, tree, len(args), pull(seed[0] if len(seed) == 1 else tuple(seed)))


checkpoint_remat_cotangents.maybe_none = True
checkpoint_save_cotangents.maybe_none = True
checkpoint_save_tangent.maybe_none = False
# Derivatives of derivative code record these on their arguments (they run s2s's own
# transformations inside).
for _helper in (checkpoint_remat_cotangents, checkpoint_save_tangent, checkpoint_save_cotangents):
    _helper.__s2s_traced__ = True


@def_vjp(checkpoint_save)
def _checkpoint_save_vjp(ans, rule, *args):
    d[args] = checkpoint_save_cotangents(d[ans], rule, ans, args)


@def_jvp(checkpoint_save)
def _checkpoint_save_jvp(ans, rule, *args):
    d[ans] = checkpoint_save_tangent(rule, ans, args, d[args])


@def_vjp(checkpoint_restore)
def _checkpoint_restore_vjp(ans, rule, out, saved, *args):
    d[args] = checkpoint_remat_cotangents(d[ans], rule, saved, args)


@def_jvp(checkpoint_restore)
def _checkpoint_restore_jvp(ans, rule, out, saved, *args):
    d[ans] = d[out]


def remat_source(fun, *args):
    """The source of the backward pass's recomputation for checkpointed ``fun`` called on
    ``args``: reverse mode's forward sweep of its body, reading what the policy saved.

    >>> import s2s, s2s.numpy as np
    >>> from s2s import checkpoint_policies as cp
    >>> f = s2s.checkpoint(lambda x: np.sin(np.sin(x)), policy=cp.everything_saveable)
    >>> print(remat_source(f, 1.0).splitlines()[1])
        t0, t1 = saved
    """
    plan, _, _ = _record(fun, args)
    if plan is None:
        raise ValueError(f"checkpoint of {fun.__name__}: its body's control flow reads traced "
                         "values, so its backward pass recomputes it in full")
    return "\n".join(_remat_build(plan.policy_saved, plan.body, plan.active).texts)
