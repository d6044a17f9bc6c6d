"""Builds reverse-mode functions from user functions, with caching and recursion.

The pipeline for one function: source -> fence -> normal form (cached per
function) -> ``reverse.transform`` for a set of active parameters -> assembly
into Python source -> a live function (``s2s.codegen.python``).

Two assemblies:

* ``grad_<f>(args)``: forward sweep, seed, reverse sweep, returns the adjoints
  of the differentiated arguments (used by ``grad``/``value_and_grad``);
* ``fwd_<f>(args) -> (result, tape)`` and ``bwd_<f>(tape, bresult)`` (used for
  calls into user functions, and by ``vjp``). The tape holds exactly the values
  the reverse sweep reads.

Calls are resolved at transform time by the shared front end
(``s2s.transforms.frontend``): NumPy functions to their s2s twins, then to rule
tables (``vjp`` templates), or to user functions, which are transformed in turn
(recursion works through cells filled once the callee is built).
"""
import weakref

import gast

from s2s.codegen.python import compile_function, make_cell
from s2s.core.errors import TransformError
from s2s.parse import dataflow, quoting as q
from s2s.parse.naming import Namer
from s2s.parse.source import unwrap
from s2s.transforms import frontend, reverse

# ---------------------------------------------------------------------------
# Building one reverse-mode transformation.


class UserVJP:
    """How a call site uses a callee's ``fwd``/``bwd`` pair."""

    def __init__(self, output_active, fwd_name=None, bwd_name=None, active_args=(), short_name="g",
                 extra_args=()):
        self.output_active = output_active
        self.extra_args = list(extra_args)
        self.fwd_name = fwd_name
        self.bwd_name = bwd_name
        self.active_args = list(active_args)
        self.short_name = short_name
        self.tape = None

class _ReverseContext(frontend.Context):
    """The front end's context, with reverse mode's calls of user functions (``fwd``/``bwd`` pairs)."""

    def user_vjp(self, callee, call, active):
        if isinstance(callee.fn, frontend.LocalFunction):
            fn, bound_args = callee.fn, ()
            plan = fn.plan
        else:
            fn, bound_args = unwrap(callee.fn)
            plan = frontend.plan_for(fn)
        params = frontend.parameters(plan.normal)
        binding = frontend.bind_call(plan, params, bound_args, call, self.source)
        extra = []
        if isinstance(fn, frontend.LocalFunction):
            for name in fn.free:
                binding[name] = q.name(name)
                extra.append(q.name(name))
        active_params = tuple(p for p in params if frontend.any_active(binding.get(p), active))
        if not active_params:
            return UserVJP(False)
        build = build_vjp(fn, active_params)
        short = plan.name
        fwd_name = self.bind(f"fwd_{short}", build.fwd_cell)
        bwd_name = self.bind(f"bwd_{short}", build.bwd_cell)
        # Generated code calls through the cells (filled in once built).
        self.cells[fwd_name] = build.fwd_cell
        self.cells[bwd_name] = build.bwd_cell
        self.deps.append(build)
        if bound_args:
            raise TransformError(f"s2s cannot differentiate calls of bound methods/partials of "
                                 f"{short} yet", filename=self.source.filename,
                                 lineno=self.source.file_line(call))
        atoms = [binding[p] for p in active_params]
        return UserVJP(build.output_active, fwd_name, bwd_name, atoms, short, extra)

# ---------------------------------------------------------------------------
# Assembly.


class Build:
    """A built reverse-mode transformation of one function for one set of active params."""

    def __init__(self, fn, active_params):
        self._fn = weakref.ref(fn)  # builds are cached per function: must not keep it alive
        self.defaults = frontend.defaults_of(fn)  # what the generated functions copied
        self.active_params = active_params
        self.fwd_cell = make_cell(None)
        self.bwd_cell = make_cell(None)
        self.output_active = True
        self.texts = []
        self.deps = []
        self.guards = []
        self._checks = None  # current()'s checks, made on first use
        self.done = False

    @property
    def fn(self):
        return self._fn()

    def current(self):
        """Whether every user function this build (and what it calls) resolved by
        name still resolves to the same object (a ``def`` run again, a module
        function monkeypatched: the user's code would call the new one) and still has
        the default values the generated functions copied."""
        return frontend.is_current(self)

    def sources(self, seen=None):
        """Generated source of this build and everything it calls."""
        seen = set() if seen is None else seen
        if id(self) in seen:
            return []
        seen.add(id(self))
        out = list(self.texts)
        for d in self.deps:
            out += d.sources(seen)
        return out


_builds = weakref.WeakKeyDictionary()


def _transform(plan, active_params):
    namer = Namer(plan.namer.taken)
    ctx = _ReverseContext(plan, active_params, namer)
    tree = plan.normal
    result = reverse.transform(tree, ctx)
    return result, ctx, namer


def _globals_and_cells(plan, ctx, fdefs):
    """Closure cells: the user's own (live), twins for NumPy names, and ctx's."""
    return frontend.globals_and_cells(plan, ctx.cells, fdefs)

def _adjoint_return(result, names):
    values = [q.name(n) if n else q.const(None) for n in names]
    if len(values) == 1:
        return values[0]
    return gast.Tuple(elts=values, ctx=gast.Load())


def _completed(body, grads, params, ctx, namer):
    """``body`` and ``grads`` with each gradient passed through ``complete_grad`` with its
    argument as passed (saved first: the body may rebind the parameter)."""
    saved = [namer.new(f"{p}_in") for p in params]
    entry = [q.assign(s, q.name(p)) for s, p in zip(saved, params)]
    elts = grads.elts if isinstance(grads, gast.Tuple) else [grads]
    done = [q.call(q.name(ctx.support("complete_grad")), [q.name(s), g])
            for s, g in zip(saved, elts)]
    out = gast.Tuple(elts=done, ctx=gast.Load()) if isinstance(grads, gast.Tuple) else done[0]
    return entry + body, out


def _seed(result, res_adj, ctx, has_aux, holomorphic):
    seed_fn = ctx.support("holomorphic_seed" if holomorphic else "scalar_seed")
    if has_aux:
        first = gast.Subscript(value=q.name(result.id), slice=q.const(0), ctx=gast.Load())
        value = gast.Tuple(elts=[q.call(q.name(seed_fn), [first]), q.const(None)], ctx=gast.Load())
    else:
        value = q.call(q.name(seed_fn), [q.name(result.id)])
    if res_adj is None:
        return [gast.Expr(value=value.elts[0] if has_aux else value)]
    return [q.assign(res_adj, value)]

def grad_function(fn, argnums_params, has_aux=False, holomorphic=False, with_value=False,
                  as_tuple=False, complete=False):
    """``(function, source_text, build)`` computing the gradient w.r.t. ``argnums_params``.

    ``complete``: each gradient passes through ``complete_grad`` (zeros for the leaves
    the function does not use, where the plain form holds ``None``), for the source
    that transformations of a function calling this gradient read."""
    with frontend.build_lock:
        return _grad_function_locked(fn, argnums_params, has_aux, holomorphic, with_value,
                                     as_tuple, complete)


def _grad_function_locked(fn, argnums_params, has_aux, holomorphic, with_value, as_tuple,
                          complete):
    plan = frontend.plan_for(fn)
    result, ctx, namer = _transform(plan, argnums_params)
    res = result.result
    if not isinstance(res, gast.Name):
        res = None
    res_adj = result.adjoint_names.get(res.id) if res is not None and result.result_active else None
    body = result.inits + result.forward + result.adjoint_inits
    if res is not None:
        body += _seed(res, res_adj, ctx, has_aux, holomorphic)
    else:
        body += [gast.Expr(value=q.call(q.name(ctx.support("scalar_seed")), [result.result]))]
    body += result.reverse
    grads = _adjoint_return(result.result, [result.param_adjoints[p] for p in argnums_params])
    if complete:
        body, grads = _completed(body, grads, argnums_params, ctx, namer)
    if as_tuple and not isinstance(grads, gast.Tuple):
        grads = gast.Tuple(elts=[grads], ctx=gast.Load())
    # The public structures, ((value, aux), grads) and (grads, aux): a transformation of
    # a function calling this gradient reads this function's result as the call's.
    if with_value:
        ret_value = gast.Tuple(elts=[copy_node(result.result), grads], ctx=gast.Load())
    elif has_aux:
        aux = gast.Subscript(value=q.name(res.id), slice=q.const(1), ctx=gast.Load())
        ret_value = gast.Tuple(elts=[grads, aux], ctx=gast.Load())
    else:
        ret_value = grads
    body.append(gast.Return(value=ret_value))
    kind = "value_and_grad" if with_value else "grad"
    fname = namer.new(f"{kind}_{plan.name}")
    fdef = frontend.function_def(fname, plan.normal.args, body)
    globals_, cells = _globals_and_cells(plan, ctx, [fdef])
    file_kind = f"completed_{kind}" if complete else kind  # its own text in linecache
    fn_obj, text = compile_function(fdef, frontend.file_name(file_kind, plan, argnums_params), globals_, cells,
                                    fn.__defaults__, fn.__kwdefaults__, origin=plan.source)
    _mark_tape(fn_obj, result, plan.fn)
    build = Build(fn, tuple(argnums_params))
    build.texts = [text]
    build.deps = ctx.deps
    build.guards = ctx.guards
    return fn_obj, text, build


def vjp_function(fn, active_params):
    """``(function, build)``: ``vjp_<f>(ct, *args)``, the forward sweep, the cotangent
    ``ct`` (shaped like ``fn``'s result) as its seed, and the reverse sweep, returning the
    adjoints of ``active_params`` as a tuple. One function with no tape between two, so
    that vmap batches it by source as it batches ``grad``'s: a batched branch or loop runs
    under a mask in both sweeps (``vmap(jacrev(f))``). Cached per function."""
    return frontend.cached_build(_vjp_functions, fn, tuple(active_params), Build, _assemble_vjp,
                                 reusable=lambda build: build.done and build.current())


_vjp_functions = weakref.WeakKeyDictionary()


def _assemble_vjp(build):
    plan, result, ctx, namer, res_adj = _reverse_of(build)
    ct = namer.new("ct")
    body = result.inits + result.forward + result.adjoint_inits
    if res_adj is not None:
        body.append(q.assign(res_adj, q.name(ct)))
    body += result.reverse
    grads = _adjoints(result, build)
    if not isinstance(grads, gast.Tuple):
        grads = gast.Tuple(elts=[grads], ctx=gast.Load())
    body.append(gast.Return(value=grads))
    args = copy_node(plan.normal.args)
    args.args = [q.name(ct, gast.Param())] + args.args
    fdef = frontend.function_def(namer.new(f"vjp_{plan.name}"), args, body)
    build.function, = _compile(build, plan, ctx, result, [(fdef, "vjp", True)], plan.fn)
    build.done = True


def _reverse_of(build):
    """``(plan, result, ctx, namer, res_adj)``: reverse mode of ``build``'s function for its
    active parameters (``res_adj`` the result's adjoint, None where it is inactive); sets
    ``build.output_active``."""
    plan = frontend.plan_for(build.fn)
    result, ctx, namer = _transform(plan, build.active_params)
    res = result.result
    build.output_active = isinstance(res, gast.Name) and result.result_active
    res_adj = result.adjoint_names.get(res.id) if build.output_active else None
    return plan, result, ctx, namer, res_adj


def _adjoints(result, build):
    """What the reverse sweep returns: the adjoints of ``build``'s active parameters."""
    return _adjoint_return(result.result, [result.param_adjoints[p] for p in build.active_params])


def _compile(build, plan, ctx, result, functions, primal=None):
    """Compiles ``functions`` (``(fdef, kind, with_defaults)``: the user function's default
    values copied where ``with_defaults``) over one set of globals and cells; records
    their texts, dependencies and guards on ``build``; marks their tapes (``_mark_tape``,
    ``primal`` the function differentiated where it is generated code). Returns them."""
    globals_, cells = _globals_and_cells(plan, ctx, [f for f, _, _ in functions])
    fn = build.fn
    out, build.texts = [], []
    for fdef, kind, with_defaults in functions:
        defaults = (fn.__defaults__, fn.__kwdefaults__) if with_defaults else ()
        fn_obj, text = compile_function(fdef, frontend.file_name(kind, plan, build.active_params),
                                        globals_, cells, *defaults, origin=plan.source)
        _mark_tape(fn_obj, result, primal)
        out.append(fn_obj)
        build.texts.append(text)
    build.deps = ctx.deps
    build.guards = ctx.guards
    return out


def _mark_tape(fn_obj, result, primal=None):
    """Names the reverse sweep's stack and its while loops' trip counters on the generated
    function: vmap batches pushes and pops on that stack under batched conditions (they
    stay uniform across examples), which it refuses for user lists, and runs a reverse
    loop ``for _ in range(trips)`` over a batch on each example's last trips
    (s2s.transforms.batch). The reverse sweep of generated gradient code (``primal``, the
    function differentiated: ``jacrev(grad(f))``) keeps that code's marks, and marks the
    adjoint of its stack too: both are pushed and popped in lockstep with the new stack,
    a whole batch at a time."""
    tapes = (result.stack,) if result.stack is not None else ()
    trips = tuple(result.trip_counters)
    inner = getattr(primal, "__s2s_tapes__", ())
    for t in inner:
        tapes += (t,) + ((result.adjoint_names[t],) if t in result.adjoint_names else ())
    fn_obj.__s2s_tapes__ = tapes
    fn_obj.__s2s_trip_counters__ = trips + tuple(getattr(primal, "__s2s_trip_counters__", ()))
    fn_obj.__s2s_first_trips__ = tuple(getattr(result, "first_trip_counters", ()))
    # ``x = None`` at the top for names pushed before they are surely assigned: only the
    # tape ever holds that None (vmap's kinds leave it out of what ``x`` may be).
    fn_obj.__s2s_unbound_inits__ = tuple(
        s.targets[0].id for s in result.inits if isinstance(s, gast.Assign)
        and isinstance(s.value, gast.Constant) and s.value.value is None)


def copy_node(node):
    return q.copy_tree(node)


def build_vjp(fn, active_params):
    """The ``Build`` (fwd/bwd pair) of ``fn`` with ``active_params`` active (cached)."""
    # An unfinished build (a recursive call, while it is being built) is reused as is.
    return frontend.cached_build(_builds, fn, tuple(active_params), Build, _assemble_pair,
                                 reusable=lambda build: not build.done or build.current())


def _tape_entry(name, result, ctx):
    """What the tape keeps of ``name``: a stand-in where bwd reads only its shape."""
    if name in result.shape_only:
        return q.call(q.name(ctx.support("shape_of")), [q.name(name)])
    return q.name(name)


def build_remat_vjp(fn, active_params, saved):
    """The ``Build`` of ``fn`` whose ``fwd`` takes the values of the names in ``saved``
    that it needs first (a tuple, ``build.saved_read`` their names; ``build.saved_shapes``
    those of which it reads only the shape) and reads them instead
    of computing them: the backward pass of a checkpointed function under a policy
    recomputes only what was not saved (cached). ``fn`` is straight-line code (a
    recording), each name assigned once."""
    return frontend.cached_build(_remat_builds, fn, (tuple(saved), tuple(active_params)),
                                 lambda fn, key: Build(fn, key[1]),
                                 lambda build: _assemble_pair(build, saved))


_remat_builds = weakref.WeakKeyDictionary()


def _reading_saved(forward, saved, saved_param, tape, shape_only, result):
    """``(statements, read, shapes)``: ``forward`` with the statements computing the names
    in ``saved`` replaced by one unpacking of ``saved_param`` at the top, less the
    assignments that then compute nothing the tape or the result needs; ``read`` the
    saved names it reads (the others need not be kept), ``shapes`` those of them whose
    shape alone is read (a ``shape_of`` stand-in may be kept for them)."""
    names = set(saved)
    kept = [s for s in forward if not (isinstance(s, gast.Assign) and all(
        isinstance(t, gast.Name) and t.id in names for t in s.targets))]
    needed, reads = dataflow.live_statements(kept, set(tape) | {result})
    live = reads | {t for t in tape if t not in shape_only} | {result}  # values read
    read = tuple(n for n in saved if n in live or n in tape)
    shapes = tuple(n for n in read if n not in live)
    if not read:
        return needed, read, shapes
    unpack = gast.Assign(targets=[gast.Tuple(elts=[q.store(n) for n in read], ctx=gast.Store())],
                         value=q.name(saved_param), type_comment=None)
    return [unpack] + needed, read, shapes


def _assemble_pair(build, saved=None):
    plan, result, ctx, namer, res_adj = _reverse_of(build)
    res = result.result
    fwd_kind = "fwd" if saved is None else "remat"
    fwd_name = namer.new(f"{fwd_kind}_{plan.name}")
    bwd_name = namer.new(f"bwd_{plan.name}")
    tape_name = namer.new("tape")
    tape = gast.Tuple(elts=[_tape_entry(t, result, ctx) for t in result.tape], ctx=gast.Load())
    fwd_args = plan.normal.args
    forward = result.forward
    if saved is not None:
        saved_param = namer.new("saved")
        forward, build.saved_read, build.saved_shapes = _reading_saved(
            forward, saved, saved_param, result.tape, result.shape_only, res.id)
        fwd_args = q.copy_tree(fwd_args)
        fwd_args.args.insert(0, q.name(saved_param, gast.Param()))
    fwd_body = result.inits + result.tape_inits + forward + [
        gast.Return(value=gast.Tuple(elts=[copy_node(res), tape], ctx=gast.Load()))]
    fwd = frontend.function_def(fwd_name, fwd_args, fwd_body)
    seed_param = res_adj or namer.new("bresult")
    bwd_body = []
    if result.tape:
        bwd_body.append(gast.Assign(targets=[gast.Tuple(elts=[q.store(t) for t in result.tape],
                                                        ctx=gast.Store())],
                                    value=q.name(tape_name), type_comment=None))
    # The seed arrives as a parameter: its `bresult = None` init (a result assigned on
    # several paths, e.g. an early return) would discard it.
    bwd_body += [a for a in result.adjoint_inits if a.targets[0].id != seed_param] + result.reverse
    bwd_body.append(gast.Return(value=_adjoints(result, build)))
    bwd_args = gast.arguments(args=[q.name(tape_name, gast.Param()), q.name(seed_param, gast.Param())],
                              posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                              kwarg=None, defaults=[])
    bwd = frontend.function_def(bwd_name, bwd_args, bwd_body)
    fwd_fn, bwd_fn = _compile(build, plan, ctx, result, [(fwd, fwd_kind, True), (bwd, "bwd", False)])
    # vmap keeps the unbatched entries of the tape unbatched from fwd to bwd (one pair's
    # names line up: what fwd saves under a name, bwd restores under it).
    fwd_fn.__s2s_pair__, bwd_fn.__s2s_pair__ = "fwd", "bwd"
    bwd_fn.__s2s_tape_args__ = (0,)  # see batching.loop_call: one tape, popped per example
    build.fwd_cell.cell_contents = fwd_fn
    build.bwd_cell.cell_contents = bwd_fn
    build.done = True
