"""Batching (``s2s.vmap``): normal-form function -> batched Python source.

A *batching analysis* (a forward data-flow fixpoint over the normal form, per
variable) marks the variables that depend on a batched parameter, or that are
assigned under a batched condition. Batched values carry their batch axis
first; unbatched values are left as they are. Per statement of the normal form:

* no batched operand: unchanged (an unbatched value assigned to a batched
  variable, as under a batched ``if``, is broadcast: ``broadcast_batch``);
* ``y = op(a, b)`` with a batched operand: plain NumPy (``np.sum(h, axis=1)``,
  ``x[:, None] + y``) where the operands' kinds are known for this call signature
  and ``op``'s batch rule has a source form (``batch_source``); else
  ``vcall(op, axes, a, b)``, which applies ``op``'s ``batch`` rule at run time
  (``axes`` says which operands are batched);
* ``x[i]``, ``x.at[i].set(v)``, ``x.shape``, ``a, b = x``, ``for v in x``: the
  helpers of ``batch_support`` (shape queries answer per example);
* ``if c:`` with ``c`` batched: both branches run, then each variable they
  assign is selected per example (``select(c, x_then, x)``); a variable one
  branch assigns and that was not defined before is an error if read later;
* ``while c:`` with ``c`` batched: the loop runs while any example is active,
  and every variable the body assigns keeps its old value on inactive examples;
  ``break``/``continue``/early ``return`` are flags in normal form, so they
  become the same per-example masks.

A branch or loop under a batched condition counts only the examples the enclosing
conditions keep (a mask). In gradient code the reverse transform generated (it marks
its tape and trip counters on the function), the tape's pushes and pops run for the
whole batch, the reverse sweep's ``if`` runs its else branch first (last pushed, first
popped), and its ``for _ in range(trips)`` over a batched while's trips runs
``max(trips)`` trips with each example active on its own last ones.

``int()``, ``float()``, ``bool()`` of a batched value, list mutation under a
batched condition and closures over batched values are errors at the user's
line. The entry point is ``build(fn, batched_params)``.
"""
import copy
import weakref

import gast

from s2s.codegen import origins
from s2s.codegen.python import compile_function, make_cell
from s2s.core import hooks
from s2s.core.errors import S2SError, TransformError
from s2s.core.primitive import Tracer
from s2s.core.tree_util import tree_leaves
from s2s.parse import quoting as q
from s2s.parse.resolve import lookup, MISSING, resolve_chain, static_chain
from s2s.parse.normalize import SUPPORT_CALLS
from s2s.parse.source import get_source, NoSourceError, unwrap
from s2s.runtime import support
from s2s.transforms import batch_support as S
from s2s.transforms import batch_source
from s2s.parse import dataflow
from s2s.transforms.convert import unconverted
from s2s.transforms.frontend import defaults_of, globals_and_cells, plan_for, same_defaults
import s2s.numpy as snp

_HELPERS = ("vcall", "vcall_where", "vmethod", "batched_attr", "getitem", "setitem", "at_update", "unpack",
            "iterate", "batched_len", "broadcast_batch", "select", "leading_size", "UNDEF",
            "per_example_shape", "per_example_ndim", "per_example_size", "per_example_count",
            "any_example",
            "all_examples", "max_example", "select_zeros", "unbatched_primal", "batched_closure",
            "call_batched", "pair_tape")

# Calls whose result describes shapes or types: the same for every example.
_SHAPE_QUERIES = {"len": "batched_len", "shape": "per_example_shape",
                  "ndim": "per_example_ndim", "size": "per_example_size"}
_TYPE_QUERIES = (isinstance, type, callable, hasattr, id,
                 snp.result_type, snp.iscomplexobj, snp.isrealobj)  # dtypes: per example too
_CONCRETE = (int, float, bool, complex)
_STATIC_ATTRIBUTES = ("shape", "ndim", "size", "dtype")


def _support_kinds():
    return {id(getattr(support, name)): name for name in SUPPORT_CALLS if hasattr(support, name)}


def _names(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)}


def _stores(node):
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)
            and isinstance(n.ctx, (gast.Store, gast.Param))}


def _assigned(stmts):
    """Names a statement list rebinds (nested functions' own bodies excluded)."""
    out = set()
    for s in stmts:
        if isinstance(s, gast.Assign):
            for t in s.targets:
                out |= _stores(t)
        elif isinstance(s, gast.For):
            out |= _stores(s.target)
            out |= _assigned(s.body) | _assigned(s.orelse)
        elif isinstance(s, (gast.If, gast.While)):
            out |= _assigned(s.body) | _assigned(s.orelse)
        elif isinstance(s, gast.FunctionDef):
            out.add(s.name)
    return out


def _unset_result(normal, fn=None):
    """The ids of the statements ``result = None`` that start a function whose returns
    became a ``returned`` flag (every path assigns ``result`` later): its normal form's,
    or in the jvp of such a function (``fn``, marked by forward._keep_return_slot) the
    primal's and its tangent's ``dresult = zeros_tangent(result)`` before the first
    statement of another kind."""
    slots = set(getattr(fn, "__s2s_unset_slots__", ()))
    slot = getattr(normal, "_s2s_return_slot", None)
    first = normal.body[0] if normal.body else None
    if slot is not None and isinstance(first, gast.Assign) and isinstance(first.targets[0], gast.Name) \
            and first.targets[0].id == slot and isinstance(first.value, gast.Constant):
        return {id(first)}
    found = set()
    for s in normal.body if slots else ():
        if not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)):
            break
        if s.targets[0].id in slots:
            found.add(id(s))
    return found


class _Context:
    """One function being batched: its plan, helper names and the analysis result."""

    def __init__(self, plan, batched_params, masked=False, tape=None):
        self.plan = plan
        self.source = plan.source
        self.namer = plan.namer.__class__(plan.namer.taken)
        self.helpers = {h: self.namer.new(h) for h in _HELPERS}
        self.support = {v: k for k, v in plan.support.items()}  # ident -> support name
        self.batched = set(batched_params)
        self.appended = set()  # lists that batched values are appended to (here or by a callee)
        self.mapped_params = frozenset(batched_params)
        self.pairs = set()  # variables holding a forward-mode (primal, tangent) pair, see _pair
        self.size_name = None
        self.kinds = None  # batch_source.Kinds, once the batching analysis is done
        self._locals = {}
        # Marked by the reverse transform on the code it generates (vjp_builder._mark_tape).
        self.tapes = frozenset(getattr(plan.fn, "__s2s_tapes__", ()))
        self.trip_counters = frozenset(getattr(plan.fn, "__s2s_trip_counters__", ()))
        # reverse loops of reverse loops (each example on its first trips, see _reverse_trips)
        self.first_trips = frozenset(getattr(plan.fn, "__s2s_first_trips__", ()))
        self.generated = hasattr(plan.fn, "__s2s_tapes__")
        self.unset_result = _unset_result(plan.normal, plan.fn)  # (statement ids)
        # A fwd/bwd pair (see PairTape): the fwd's tape statement, the bwd's unpacking of it.
        self.fwd_tape = _fwd_tape(self) if not masked and batched_params else None
        self.bwd_tape, self.bwd_unpack = tape, _bwd_unpack(self, tape)
        self.uniform_tapes = _uniform_tapes(plan.normal, self) if self.tapes else frozenset()
        if self.fwd_tape is not None:
            self.batched.add(self.fwd_tape.targets[0].id)  # the tape is returned batched
        if self.bwd_unpack is not None:
            self.batched |= {v for v, b in tape[1] if b} | {e.id for e, b in zip(
                self.bwd_unpack.targets[0].elts, tape[0]) if b}

    def local_to(self, s):
        """Names a batched ``if``/``while``/loop ``s`` assigns that are dead after it and
        not carried from one run of it to the next: assigned before they are read inside,
        read nowhere else. They need no select (nor a batch axis, for unbatched values)."""
        found = self._locals.get(id(s))
        if found is None:
            inside = {id(n) for n in gast.walk(s)}
            outside = {n.id for n in gast.walk(self.plan.normal) if isinstance(n, gast.Name)
                       and isinstance(n.ctx, gast.Load) and id(n) not in inside}
            head = _names(s.test) if isinstance(s, (gast.If, gast.While)) else _names(s.iter)
            exposed = _exposed_reads(s.body) | _exposed_reads(getattr(s, "orelse", []))
            found = self._locals[id(s)] = (_assigned(s.body) | _assigned(getattr(s, "orelse", []))) \
                - outside - exposed - head
        return found

    def select(self):
        """The per-example select: in code the reverse transform generated, ``None`` (a zero
        adjoint, a value not set yet) against a value is read as zeros shaped like it."""
        return self.h("select_zeros" if self.generated else "select")

    def h(self, name):
        return q.name(self.helpers[name])

    def error(self, node, message, hint=None):
        return TransformError(f"vmap: {message}", filename=self.source.filename,
                              lineno=self.source.file_line(node), hint=hint)

    def resolve(self, func):
        """The object a call's function expression names statically, or MISSING."""
        if isinstance(func, gast.Name) and func.id in self.plan.locals:
            return MISSING
        chain = static_chain(func)
        if chain is None or chain[0] in self.plan.locals:
            return MISSING
        return resolve_chain(self.source, chain)

    def support_call(self, value):
        """The support function (``append``, ``pop``...) call ``value`` makes, or None:
        by normal form's spelling, or by the object named (derivative source calls them)."""
        if not isinstance(value, gast.Call):
            return None
        if isinstance(value.func, gast.Name) and value.func.id in self.support:
            return self.support[value.func.id]
        obj = self.resolve(value.func)
        return _support_kinds().get(id(obj)) if obj is not MISSING else None

    def is_tape(self, node):
        """The reverse sweep's stack: under a batched condition its pushes and pops run for
        the whole batch (the branch or loop trip runs when any example takes it, and the
        reverse sweep pops under the same saved condition), so it stays one list."""
        return isinstance(node, gast.Name) and node.id in self.tapes

    def is_batched(self, node):
        return isinstance(node, gast.Name) and node.id in self.batched

    def tape_pop(self, value):
        """Whether ``value`` pops a tape whose items keep their own kinds (``x = pop(stack)``
        gets back what ``append(stack, x)`` pushed: batched exactly when ``x`` is)."""
        return self.support_call(value) == "pop" and value.args and \
            isinstance(value.args[0], gast.Name) and value.args[0].id in self.uniform_tapes

    def tape_push(self, value):
        return self.support_call(value) == "append" and len(value.args) == 2 and \
            isinstance(value.args[0], gast.Name) and value.args[0].id in self.uniform_tapes

    def size(self):
        if self.size_name is None:
            self.size_name = self.namer.new("batch_size")
        return q.name(self.size_name)


# ---------------------------------------------------------------------------
# The batching analysis.


def _value_batched(ctx, value):
    if isinstance(value, gast.Compare) and all(isinstance(o, (gast.Is, gast.IsNot))
                                               for o in value.ops):
        return False
    if isinstance(value, gast.Attribute) and value.attr in _STATIC_ATTRIBUTES:
        return False
    if isinstance(value, gast.Call):
        obj = ctx.resolve(value.func)
        if obj is not MISSING and (_shape_query(obj) or obj in _TYPE_QUERIES):
            return False
        if getattr(obj, "creates_batched", False):  # lax.axis_index
            return True
        if obj is range:  # range(len(xs)) of a batched xs: one bound for every example
            return any(_value_batched(ctx, a) for a in value.args)
        if _per_example_count(obj, value):  # (a mean's count, without where)
            return False
    return bool(_names(value) & ctx.batched)


def _may_run_user_code(ctx, func):
    """Whether calling ``func`` (an expression) may run a user function's batched source
    (which then needs the caller's mask), rather than a library function's batch rule."""
    if ctx.is_batched(func):
        return False
    obj = ctx.resolve(func)
    if obj is MISSING:
        return isinstance(func, gast.Name) and func.id not in ctx.helpers.values()
    if S.batch_rule(obj) is not None or obj in _CONCRETE or obj is range:
        return False
    return hasattr(obj, "__code__") or hasattr(getattr(obj, "__call__", None), "__code__")


def _per_example_count(obj, call):
    """Whether ``call`` is ``reduced_count(x, axis, keepdims=...)`` without ``where``: a
    count the same for every example."""
    return obj is support.reduced_count and len(call.args) <= 2 and \
        all(k.arg in ("axis", "keepdims") for k in call.keywords) and \
        not any(isinstance(a, gast.Starred) for a in call.args)


def _shape_query(obj):
    if obj is len:
        return "len"
    for name in ("shape", "ndim", "size"):
        if obj is getattr(snp, name, None):
            return name
    return None


def _uniform_tapes(fdef, ctx):
    """The tapes of generated gradient code whose every pop restores the variable a push
    saved: ``x = pop(stack)`` for ``append(stack, x)``, or for ``append(stack, t)`` with
    ``t = shape_of(x)`` (the reverse transform's restore model). Such a tape is one list
    of items each batched as its variable is (the analysis ties ``t`` and ``x``), so a
    pop needs no batch axis of its own. A pair's fwd may return such a tape in its
    ``PairTape`` and the pair's bwd pop it (its variables batched as the fwd's were).
    Any other tape stays a batched list of batched items. Sets ``ctx.tape_sources``: per
    tape, each pushed name -> the variable restored."""
    defs, pushed, popped, restores = {}, {}, {}, set()
    for n in gast.walk(fdef):  # (breadth first: an assignment before its value)
        if isinstance(n, gast.Assign):
            for name in _stores(n.targets[0]):
                defs.setdefault(name, []).append(n.value if isinstance(n.targets[0], gast.Name)
                                                 else None)
            if isinstance(n.targets[0], gast.Name) and ctx.support_call(n.value) == "pop" \
                    and len(n.value.args) == 1 and isinstance(n.value.args[0], gast.Name):
                popped.setdefault(n.value.args[0].id, set()).add(n.targets[0].id)
                restores.add(id(n.value))
        elif isinstance(n, gast.Call) and ctx.support_call(n) in ("append", "extend", "pop") \
                and n.args and isinstance(n.args[0], gast.Name) and id(n) not in restores:
            item = n.args[1] if len(n.args) == 2 and ctx.support_call(n) == "append" else None
            pushed.setdefault(n.args[0].id, []).append(
                item.id if isinstance(item, gast.Name) else None)

    def source(name):
        values = defs.get(name, [])
        if values and all(isinstance(v, gast.Call) and len(v.args) == 1 and not v.keywords
                          and isinstance(v.args[0], gast.Name)
                          and ctx.resolve(v.func) is support.shape_of for v in values) \
                and len({v.args[0].id for v in values}) == 1:
            return values[0].args[0].id
        return name

    uses = {}  # tape -> how often its name is read anywhere (pushes and pops included)
    for n in gast.walk(fdef):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id in ctx.tapes:
            uses[n.id] = uses.get(n.id, 0) + 1
    ctx.tape_sources = {}
    in_pair_tape = {e.id for e in ctx.fwd_tape.value.elts} if ctx.fwd_tape is not None else ()
    for xs in ctx.tapes:
        names = pushed.get(xs, [])
        from_pair = xs == _pair_stack(ctx)  # (a bwd's stack: popped only, see below)
        local = from_pair or all(isinstance(v, gast.List) and not v.elts
                                 for v in defs.get(xs, [None]))
        if None in names or not local or uses.get(xs, 0) != len(names) + (xs in in_pair_tape) + sum(
                1 for n in gast.walk(fdef) if isinstance(n, gast.Call) and id(n) in restores
                and n.args[0].id == xs):
            continue  # it escapes (a masked fwd returns it batched): one kind for its items
        sources = {name: source(name) for name in names}
        restorable = {v for v, _ in ctx.bwd_tape[1]} if from_pair else set(sources.values())
        if popped.get(xs, set()) <= restorable and not (from_pair and names):
            ctx.tape_sources[xs] = sources
    if _pair_stack(ctx) is not None and _pair_stack(ctx) not in ctx.tape_sources:
        raise TransformError(f"vmap: internal error: the backward function {ctx.plan.name} "
                             "pushes on its tape or pops what its forward function did not "
                             "push", hint="please report this")
    return frozenset(ctx.tape_sources)


def _fwd_tape(ctx):
    """In a pair's fwd: the statement ``t = (x, shape, stack)`` that builds the tape it
    returns with its result (``return (result, t)`` in normal form), or None."""
    if getattr(ctx.plan.fn, "__s2s_pair__", None) != "fwd":
        return None
    body = ctx.plan.normal.body
    if len(body) < 3 or not isinstance(body[-1], gast.Return) \
            or not isinstance(body[-1].value, gast.Name):
        return None
    pair, tape = body[-2], body[-3]
    if not (_assigns_name(pair, body[-1].value.id) and isinstance(pair.value, gast.Tuple)
            and len(pair.value.elts) == 2 and isinstance(pair.value.elts[1], gast.Name)):
        return None
    name = pair.value.elts[1].id
    if not (_assigns_name(tape, name) and isinstance(tape.value, gast.Tuple)
            and all(isinstance(e, gast.Name) for e in tape.value.elts)):
        return None
    if sum(1 for n in gast.walk(ctx.plan.normal) if isinstance(n, gast.Name) and n.id == name) != 2:
        return None  # (assigned and returned, nothing else)
    return tape


def _assigns_name(s, name):
    return isinstance(s, gast.Assign) and len(s.targets) == 1 \
        and isinstance(s.targets[0], gast.Name) and s.targets[0].id == name


def _bwd_unpack(ctx, tape):
    """In a pair's bwd given its fwd's ``PairTape`` (``tape`` is its key): the statement
    ``x, shape, stack = tape`` unpacking it (None for an empty tape, which bwd never reads)."""
    if tape is None:
        return None
    params = dataflow.parameters(ctx.plan.normal, varargs=False, keyword_only=False)
    found = [s for s in ctx.plan.normal.body if isinstance(s, gast.Assign)
             and isinstance(s.value, gast.Name) and s.value.id == params[0]
             and isinstance(s.targets[0], gast.Tuple) and len(s.targets[0].elts) == len(tape[0])
             and all(isinstance(e, gast.Name) for e in s.targets[0].elts)]
    reads = sum(1 for n in gast.walk(ctx.plan.normal) if isinstance(n, gast.Name)
                and n.id == params[0] and isinstance(n.ctx, gast.Load))
    if len(found) == 1 and reads == 1:
        return found[0]
    if not tape[0] and not reads:
        return None
    raise TransformError(f"vmap: internal error: the backward function {ctx.plan.name} does not "
                         "unpack its tape once", hint="please report this")


def _pair_stack(ctx):
    """The reverse sweep's stack a pair's bwd unpacks from its tape (popped, per variable)."""
    if ctx.bwd_unpack is None:
        return None
    return next((e.id for e, b in zip(ctx.bwd_unpack.targets[0].elts, ctx.bwd_tape[0])
                 if b is None), None)


def _mark(ctx, names):
    new = set(names) - ctx.batched
    ctx.batched |= new
    return bool(new)


def _pair(ctx, s, under):
    """Whether ``t = jvp_g(dx..., x...)`` (a call of forward-mode generated code) batches
    its tangents alone: its primal result is then the same for every example (primal
    statements never read tangents), and ``y, dy = t`` leaves ``y`` unbatched."""
    value, target = s.value, s.targets[0]
    if under or not isinstance(target, gast.Name) or not isinstance(value, gast.Call) or value.keywords:
        return False
    n = getattr(ctx.resolve(value.func), "__s2s_jvp_pair__", None)
    if n is None or any(isinstance(a, gast.Starred) for a in value.args):
        return False
    return not any(_value_batched(ctx, a) for a in value.args[n:])


def _analyze_block(ctx, stmts, under):
    """One pass of the analysis; ``under`` is the innermost compound statement with a
    batched condition around ``stmts`` (None when there is none)."""
    changed = False
    for s in stmts:
        if isinstance(s, gast.Assign) and isinstance(s.value, gast.Call) \
                and isinstance(s.targets[0], gast.Name):
            name = s.targets[0].id
            if _pair(ctx, s, under):
                ctx.pairs.add(name)
            elif name in ctx.pairs:  # its primal arguments turned out batched
                ctx.pairs.discard(name)
                changed = True
        if isinstance(s, gast.Assign) and isinstance(s.value, gast.Name) and s.value.id in ctx.pairs \
                and isinstance(s.targets[0], gast.Tuple) and len(s.targets[0].elts) == 2 and not under:
            changed |= _mark(ctx, _stores(s.targets[0].elts[1]))
            continue
        if isinstance(s, gast.Assign) and s is ctx.bwd_unpack:
            continue  # each entry batched as the fwd's PairTape says (see _Context)
        if isinstance(s, gast.Assign):
            t = s.targets[0]
            changed |= _mark(ctx, _lists_batched_by(ctx, s.value))
            if ctx.tape_pop(s.value):  # batched as its pushes are (see _uniform_tapes)
                if under is not None:
                    changed |= _mark(ctx, _stores(t) - ctx.local_to(under))
            elif _value_batched(ctx, s.value):
                changed |= _mark(ctx, _stores(t))
            elif under is not None:
                changed |= _mark(ctx, _stores(t) - ctx.local_to(under))
        elif isinstance(s, gast.Expr):
            kind = ctx.support_call(s.value)
            if ctx.tape_push(s.value):
                xs, item = s.value.args[0].id, s.value.args[1].id
                if item in ctx.batched:
                    changed |= _mark(ctx, {ctx.tape_sources[xs][item]})
            elif kind in ("append", "extend") and (under is not None
                                                 or _names(s.value.args[1]) & ctx.batched):
                ctx.appended |= _names(s.value.args[0])
                changed |= _mark(ctx, _names(s.value.args[0]))
            changed |= _mark(ctx, _lists_batched_by(ctx, s.value))
        elif isinstance(s, gast.If):
            inner = s if _value_batched(ctx, s.test) else under
            changed |= _analyze_block(ctx, s.body, inner)
            changed |= _analyze_block(ctx, s.orelse, inner)
        elif isinstance(s, gast.While):
            inner = s if _value_batched(ctx, s.test) else under
            changed |= _analyze_block(ctx, s.body, inner)
        elif isinstance(s, gast.For):
            batched_iter = _value_batched(ctx, s.iter)
            if batched_iter:
                changed |= _mark(ctx, _stores(s.target))
            elif under is not None:
                changed |= _mark(ctx, _stores(s.target) - ctx.local_to(under))
            # a loop over a batched range (the reverse of a batched while) is masked
            inner = s if batched_iter and _is_range(ctx, s.iter) else under
            changed |= _analyze_block(ctx, s.body, inner)
        elif isinstance(s, gast.FunctionDef) and _closure_reads(ctx, s):
            changed |= _mark(ctx, {s.name})  # one function per example
    return changed


def _lists_batched_by(ctx, call):
    """The caller's lists that user function ``call`` calls appends batched values to
    (``helper(acc, x)`` doing ``acc.append(x * 2)``): batched in the caller from the
    start, so that caller and callee see the same per-example lists."""
    if not isinstance(call, gast.Call) or call.keywords \
            or any(isinstance(a, gast.Starred) for a in call.args):
        return set()
    obj = ctx.resolve(call.func)
    params = _appending_parameters(obj) if obj is not MISSING else None
    if not params:
        return set()
    names = frozenset(p for p, a in zip(params, call.args) if ctx.is_batched(a))
    built = build_now(obj, names, ()) if names else None
    if built is None:
        return set()
    found = {a.id for p, a in zip(params, call.args)
             if p in built.batched_lists and isinstance(a, gast.Name)}
    ctx.appended |= found
    return found


def _appending_parameters(fn, seen=()):
    """The positional parameters of user function ``fn`` when it appends to one of them,
    itself or through the user functions it passes it to (else None)."""
    plan = plan_or_none(fn) if specialized_by_callers(fn) and fn not in seen else None
    if plan is None:
        return None
    params = dataflow.parameters(plan.normal, varargs=False, keyword_only=False)
    mutators = {plan.support.get("append"), plan.support.get("extend")}
    for n in gast.walk(plan.normal):
        if not isinstance(n, gast.Call) or not any(
                isinstance(a, gast.Name) and a.id in params for a in n.args):
            continue
        if isinstance(n.func, gast.Name) and n.func.id in mutators:
            if isinstance(n.args[0], gast.Name) and n.args[0].id in params:
                return params
            continue
        chain = static_chain(n.func)
        callee = resolve_chain(plan.source, chain) if chain and chain[0] not in plan.locals \
            else MISSING
        if callee is not MISSING and _appending_parameters(callee, (*seen, fn)):
            return params
    return None


def _closure_reads(ctx, fdef):
    """The batched variables of the enclosing function that nested ``fdef`` reads."""
    own = _stores(fdef.args) | _assigned(fdef.body)
    return (_names(fdef) - own) & ctx.batched


def _is_range(ctx, it):
    return isinstance(it, gast.Call) and ctx.resolve(it.func) is range


def analyze(ctx, body):
    """Marks (in ``ctx.batched``) every variable that holds batched values."""
    while _analyze_block(ctx, body, None):
        pass


# ---------------------------------------------------------------------------
# Rewriting statements.


def _makes_list(ctx, value):
    """Whether ``value`` makes a new list: a list display or ``list(...)``."""
    return isinstance(value, gast.List) or (isinstance(value, gast.Call) and
                                            ctx.resolve(value.func) is list)


def _assign(target, value, like=None):
    node = gast.Assign(targets=[target if not isinstance(target, str) else q.store(target)],
                       value=value, type_comment=None)
    if like is not None:
        gast.copy_location(node, like)
    return node


def _axes(ctx, atoms):
    return gast.Tuple(elts=[q.const(0 if ctx.is_batched(a) else None) for a in atoms],
                      ctx=gast.Load())


def _broadcast(ctx, node):
    """``node`` as a batched value (broadcast when it is not batched)."""
    if isinstance(node, gast.Starred):  # ``*xs`` in a display: each element of ``xs``
        return gast.Starred(value=_broadcast(ctx, node.value), ctx=gast.Load())
    if ctx.is_batched(node):
        return node
    return q.call(ctx.h("broadcast_batch"), [node, ctx.size()])




def _is_const_operand(node):
    return isinstance(node, gast.Constant) and isinstance(node.value, (int, float, complex)) \
        and not isinstance(node.value, bool)


_OPERATOR_FUNCS = batch_source.OPERATOR_FUNCS


def _operator(ctx, op, node):
    name = _OPERATOR_FUNCS.get(type(op))
    if name is None:
        raise ctx.error(node, f"s2s cannot batch the operator `{q.to_source(node)}`",
                        hint="write it with s2s.numpy functions")
    return gast.Attribute(value=q.name(ctx.helpers["operators"]), attr=name, ctx=gast.Load())


def _batched_value(ctx, value, node):
    """The batched form of the operation ``value`` (some operand is batched)."""
    if isinstance(value, gast.Name):
        return value
    written = ctx.kinds.emit(value) if ctx.kinds is not None else None
    if written is not None:  # plain NumPy, from the kinds of the operands
        return written
    if isinstance(value, (gast.BinOp, gast.UnaryOp, gast.Compare)):
        return _operation(ctx, value, node)
    if isinstance(value, gast.Call):
        return _call(ctx, value, node)
    if isinstance(value, gast.Attribute):
        return q.call(ctx.h("batched_attr"), [value.value, q.const(value.attr)])
    if isinstance(value, gast.Subscript):
        index = q.index_value(value.slice)
        return q.call(ctx.h("getitem"), [value.value, index, q.const(0 if ctx.is_batched(
            value.value) else None), _index_axis(ctx, value.slice)])
    if isinstance(value, (gast.Tuple, gast.List)):
        return type(value)(elts=[_broadcast(ctx, e) for e in value.elts], ctx=gast.Load())
    if isinstance(value, gast.Dict):
        return gast.Dict(keys=value.keys, values=[_broadcast(ctx, v) for v in value.values])
    raise ctx.error(node, f"s2s cannot batch `{q.to_source(value)}`",
                    hint="write it with s2s.numpy functions")


def _operation(ctx, value, node):
    if isinstance(value, gast.UnaryOp):
        operands, op = [value.operand], value.op
        if isinstance(op, gast.Not):
            ctx.helpers.setdefault("logical_not", None)
            return q.call(gast.Attribute(value=q.name(ctx.plan.np_name), attr="logical_not",
                                         ctx=gast.Load()), [value.operand])
    elif isinstance(value, gast.BinOp):
        operands, op = [value.left, value.right], value.op
    else:
        if len(value.ops) != 1:
            raise ctx.error(node, "chained comparison in normal form")
        operands, op = [value.left] + value.comparators, value.ops[0]
        if isinstance(op, (gast.In, gast.NotIn)):
            raise ctx.error(node, f"s2s cannot batch the membership test `{q.to_source(value)}`",
                            hint="compare with == and reduce with np.any")
    batched = [o for o in operands if ctx.is_batched(o)]
    if len(batched) == 1 and all(o in batched or _is_const_operand(o) for o in operands):
        return value  # a batched array and a Python number: NumPy broadcasting is right
    return q.call(ctx.h("vcall"), [_operator(ctx, op, node), _axes(ctx, operands)] + operands)


def _call(ctx, call, node):
    kind = ctx.support_call(call)
    if kind is not None:
        return _support_call(ctx, kind, call, node)
    obj = ctx.resolve(call.func)
    if obj in _CONCRETE or obj is range:
        arg = next((a for a in call.args if ctx.is_batched(a)), None)
        name = obj.__name__
        hint = ("use np.where / lax.cond instead of branching on a Python value, or keep the "
                "value an array" if obj is not range else "loop to a bound that is the same for "
                "every example and mask the extra steps with np.where")
        raise ctx.error(node, f"`{name}()` of a value that varies across the mapped axis "
                        f"(`{q.to_source(arg) if arg is not None else ''}` is batched): each "
                        "example may give a different Python value", hint=hint)
    if getattr(obj, "creates_batched", False):
        return gast.Call(func=ctx.h("vcall"), args=[call.func, q.const(())] + list(call.args),
                         keywords=list(call.keywords))
    if obj is not MISSING and getattr(S.batch_rule(obj), "elementwise", False) and not call.keywords:
        batched = [a for a in call.args if ctx.is_batched(a)]
        if len(batched) == 1 and all(a in batched or _is_const_operand(a) for a in call.args):
            return call  # np.tanh(x): NumPy broadcasting already does the right thing
    query = _shape_query(obj) if obj is not MISSING else None
    if query is not None:
        return q.call(ctx.h(_SHAPE_QUERIES[query]), list(call.args))
    if _per_example_count(obj, call):
        return gast.Call(func=ctx.h("per_example_count"), args=list(call.args),
                         keywords=list(call.keywords))
    if obj is not MISSING and obj in _TYPE_QUERIES:
        return call
    if any(isinstance(a, gast.Starred) and not isinstance(a.value, gast.Name) for a in call.args) \
            or any(k.arg is None and ctx.is_batched(k.value) for k in call.keywords):
        raise ctx.error(node, f"s2s cannot batch a call with a batched **kwargs "
                        f"(`{q.to_source(call)}`)", hint="pass the arguments one by one")
    plain = [a for a in call.args if not isinstance(a, gast.Starred)]
    kw_batched = [k.arg for k in call.keywords if k.arg is not None and ctx.is_batched(k.value)]
    keywords = list(call.keywords)
    if kw_batched:
        keywords.append(gast.keyword(arg="kw_batched", value=gast.Tuple(
            elts=[q.const(k) for k in kw_batched], ctx=gast.Load())))
    func = call.func
    if isinstance(func, gast.Attribute) and obj is MISSING and isinstance(func.value, gast.Name):
        if any(isinstance(a, gast.Starred) for a in call.args) or kw_batched:
            raise ctx.error(node, f"s2s cannot batch the method call `{q.to_source(call)}`",
                            hint="call the function form (np.f(x, ...)) instead")
        target = func.value
        return gast.Call(func=ctx.h("vmethod"), args=[
            target, q.const(func.attr), q.const(0 if ctx.is_batched(target) else None),
            _axes(ctx, plain)] + list(call.args), keywords=keywords)
    if ctx.is_batched(func):  # a closure over batched values, a vmap of one
        return gast.Call(func=ctx.h("call_batched"), args=[func, _call_axes(ctx, call.args)] +
                         list(call.args), keywords=keywords)
    return gast.Call(func=ctx.h("vcall"), args=[func, _call_axes(ctx, call.args)] + list(call.args),
                     keywords=keywords)


def _call_axes(ctx, args):
    """The axes of a call's positional arguments; ``*xs`` counts ``len(xs)`` of them, all
    batched or none (a batched list holds batched values only)."""
    if not any(isinstance(a, gast.Starred) for a in args):
        return _axes(ctx, args)
    parts, plain = [], []
    for a in args:
        if not isinstance(a, gast.Starred):
            plain.append(a)
            continue
        if plain:
            parts.append(_axes(ctx, plain))
            plain = []
        one = gast.Tuple(elts=[q.const(0 if ctx.is_batched(a.value) else None)], ctx=gast.Load())
        parts.append(gast.BinOp(left=one, op=gast.Mult(), right=q.call(q.name("len"), [a.value])))
    if plain:
        parts.append(_axes(ctx, plain))
    out = parts[0]
    for p in parts[1:]:
        out = gast.BinOp(left=out, op=gast.Add(), right=p)
    return out


def _index_axis(ctx, index):
    """The batch flag of an index: 0 or None, or for an index tuple written inline
    (``x[i, :, j]``, whose entries are not broadcast) one flag per entry."""
    if not _names(index) & ctx.batched:
        return q.const(None)
    if isinstance(index, gast.Tuple):
        return gast.Tuple(elts=[q.const(0 if _names(e) & ctx.batched else None)
                                for e in index.elts], ctx=gast.Load())
    return q.const(0)


def _support_call(ctx, kind, call, node):
    args = call.args
    if kind == "at_update":
        x, index, op = args[0], args[1], args[2]
        # keywords (mode=, fill_value=, **kw) pass through where the same for every example;
        # ``get`` has no value
        if len(args) not in (3, 4) or any(ctx.is_batched(k.value) for k in call.keywords):
            raise ctx.error(node, f"s2s cannot batch `{q.to_source(call)}`")
        value = args[3] if len(args) == 4 else q.const(None)
        return q.call(ctx.h("at_update"), [x, index, op, value] + [
            q.const(0 if ctx.is_batched(x) else None), _index_axis(ctx, index),
            q.const(0 if ctx.is_batched(value) else None)], call.keywords)
    if kind == "setitem":  # x = setitem(x, i, v): normal form's x[i] = v
        if len(args) != 3 or call.keywords:
            raise ctx.error(node, f"s2s cannot batch `{q.to_source(call)}`")
        x, index, value = args
        return q.call(ctx.h("setitem"), list(args) + [
            q.const(0 if ctx.is_batched(x) else None), _index_axis(ctx, index),
            q.const(0 if ctx.is_batched(value) else None)])
    if kind == "concat":
        return q.call(call.func, [_broadcast(ctx, a) for a in args])
    if kind in ("pop",):
        return call
    return call  # items, keys, values, dict_get, copy, as_sequence: containers as they are


def _exposed_reads(stmts, assigned=None):
    """Names a statement list may read before assigning them (loop-carried values)."""
    exposed, assigned = set(), set(assigned or ())
    for s in stmts:
        if isinstance(s, gast.Assign):
            exposed |= _names(s.value) - assigned
            for t in s.targets:
                exposed |= (_names(t) - _stores(t)) - assigned  # y[i] = v reads y and i
                assigned |= _stores(t)
        elif isinstance(s, gast.If):
            exposed |= _names(s.test) - assigned
            exposed |= _exposed_reads(s.body, assigned) | _exposed_reads(s.orelse, assigned)
            assigned |= _assigned(s.body) & _assigned(s.orelse)
        else:
            exposed |= _names(s) - assigned
            if not isinstance(s, (gast.While, gast.For)):
                assigned |= _stores(s)
    return exposed


def _read_only_under(fdef, if_stmt, name, in_then):
    """Whether every read of ``name`` outside ``if_stmt`` (which assigns it in one branch
    only) is in the same branch of a later ``if`` on the same condition variable, with
    no assignment of that variable in between (and ``if_stmt`` outside loops). Then
    each example reads ``name`` only where it assigned it.

    Generated code reads its one-branch temporaries that way (an ``elif``'s condition, a
    conditional expression's operand, read again in the reverse sweep under the same
    saved condition); user code that reads such a variable elsewhere keeps its error.
    """
    if not isinstance(if_stmt.test, gast.Name):
        return False
    cond = if_stmt.test.id
    branch = "body" if in_then else "orelse"
    state = {"seen": False, "changed": False, "ok": True}

    def check(node, guarded):
        if name in _names(node) and not (guarded and state["seen"] and not state["changed"]):
            state["ok"] = False

    def visit(stmts, guarded, in_loop):
        for st in stmts:
            if st is if_stmt:
                state["seen"] = True
                state["ok"] &= not in_loop
                continue
            if isinstance(st, (gast.For, gast.While, gast.FunctionDef)) and state["seen"] \
                    and cond in _stores(st):
                state["changed"] = True  # (conservatively) before any read in the loop
            if isinstance(st, gast.FunctionDef):
                state["ok"] &= name not in _names(st)
            elif isinstance(st, gast.If):
                check(st.test, guarded)
                on_cond = isinstance(st.test, gast.Name) and st.test.id == cond
                visit(st.body, guarded or (on_cond and branch == "body"), in_loop)
                visit(st.orelse, guarded or (on_cond and branch == "orelse"), in_loop)
            elif isinstance(st, (gast.For, gast.While)):
                check(st.iter if isinstance(st, gast.For) else st.test, guarded)
                visit(st.body, guarded, True)
            else:
                check(st, guarded)
                if state["seen"] and cond in _stores(st):
                    state["changed"] = True

    visit(fdef.body, False, False)
    return state["ok"] and state["seen"]


def _reads_after(stmts, target):
    """Reads after ``target`` within ``stmts`` (see ``_Rewriter._read_after``), or None when
    ``target`` is not inside ``stmts``."""
    for k, s in enumerate(stmts):
        if s is target:
            return set().union(*[_names(t) for t in stmts[k + 1:]])
        for block in (getattr(s, "body", None), getattr(s, "orelse", None)):
            if not isinstance(block, list) or isinstance(s, gast.FunctionDef):
                continue
            inner = _reads_after(block, target)
            if inner is None:
                continue
            later = set().union(*[_names(t) for t in stmts[k + 1:]])
            if isinstance(s, (gast.While, gast.For)):
                later |= _names(s)  # the next trip reads the whole loop again
            return inner | later
    return None


class _Rewriter:
    """Rewrites statement lists of the normal form into batched statements."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.defined = set()
        self.entry = None  # a masked build's parameter: the examples its caller runs it for
        # Names holding a list made in the block now rewritten, under the same batched
        # condition: every example that runs the block makes it, so appends to it give
        # lists of one length (each item batched), and it cannot leak across examples.
        self.fresh_lists = set()

    def _where(self, under):
        """The name of the mask of examples that run code ``under`` (None: all of them)."""
        if isinstance(under, str):
            return under
        return self.entry if under is None else None

    def block(self, stmts, under=None):
        out = []
        for s in stmts:
            out.extend(self.stmt(s, under))
        return out

    def masked_block(self, stmts, under):
        """``block`` for the body of a batched ``if`` or loop: lists made outside it are
        not ``fresh_lists`` inside it (some examples would append to them, others not)."""
        outer, self.fresh_lists = self.fresh_lists, set()
        try:
            return self.block(stmts, under)
        finally:
            self.fresh_lists = outer

    def _varying_length(self, xs, under):
        """Whether changing the length of list ``xs`` here could make examples' lists differ:
        under a batched condition, a list made outside that condition's block."""
        return under and not self.ctx.is_tape(xs) and not (
            isinstance(xs, gast.Name) and xs.id in self.fresh_lists)

    def stmt(self, s, under):
        method = getattr(self, "visit_" + type(s).__name__, None)
        if method is None:
            if isinstance(s, gast.Expr) and isinstance(s.value, gast.Constant):
                return [s]  # a comment marker
            if isinstance(s, gast.Pass):
                return [s]
            raise self.ctx.error(s, f"s2s cannot batch the statement `{q.to_source(s).strip()}`")
        out = method(s, under)
        where = self._where(under)
        if where is not None and not isinstance(s, (gast.If, gast.While, gast.For)):
            for st in out:
                self._pass_mask(st, where)
        return out

    def _pass_mask(self, stmt, where):
        """User functions called in ``stmt`` get the mask ``where`` (``vcall_where``)."""
        ctx = self.ctx
        vcall = ctx.helpers.get("vcall")
        for n in gast.walk(stmt):
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and n.func.id == vcall \
                    and n.args and _may_run_user_code(ctx, n.args[0]):
                n.func = ctx.h("vcall_where")
                n.args = [q.name(where)] + n.args

    # -- assignments
    def visit_Assign(self, s, under):
        ctx = self.ctx
        target = s.targets[0]
        names = _stores(target)
        self.defined |= names
        self.fresh_lists -= names
        if isinstance(target, gast.Name) and _makes_list(ctx, s.value):
            self.fresh_lists.add(target.id)
        if s is ctx.fwd_tape:
            return [self._fwd_tape(s)]
        if s is ctx.bwd_unpack:  # entries batched in fwd are batched here too
            unbatched = {e.id for e, b in zip(target.elts, ctx.bwd_tape[0]) if b is False}
            return [s] + self._broadcasts(names & unbatched & ctx.batched, s)
        if ctx.tape_pop(s.value):  # the item has the batch axis exactly when its variable has one
            if s.value.args[0].id == _pair_stack(ctx):  # the fwd pushed it batched as it had it
                batched_there = {v for v, b in ctx.bwd_tape[1] if b}
                return [s] + self._broadcasts((names & ctx.batched) - batched_there, s)
            return [s]
        if id(s) in ctx.unset_result and names & ctx.batched:
            # the early-return slot's first value, which no example returns: unset, so
            # the first example to return sets it (None there has another structure)
            return [_assign(copy.deepcopy(target), ctx.h("UNDEF"), s)]
        if not _value_batched(ctx, s.value) and not (_names(s.value) & ctx.batched and isinstance(
                s.value, (gast.Call, gast.Attribute))):
            out = [s]
            if isinstance(s.value, gast.Constant) and s.value.value is None:
                return out  # None (a zero adjoint, an unset value) has no batch axis
            if isinstance(s.value, gast.List) and not s.value.elts:
                return out  # nor has [] (and jit's conversion then sees a fresh list)
            for n in sorted(names & ctx.batched):
                out.append(_assign(n, q.call(ctx.h("broadcast_batch"), [q.name(n), ctx.size()]), s))
            return out
        if ctx.support_call(s.value) == "pop" and self._varying_length(s.value.args[0], under):
            raise ctx.error(s, "a list pop under a condition that varies across the mapped axis",
                            hint="pop before the if, or select the value with np.where")
        value = _batched_value(ctx, s.value, s)
        if isinstance(target, gast.Name) and target.id in ctx.pairs:
            value = q.call(ctx.h("unbatched_primal"), [value])
        if isinstance(target, gast.Tuple) and not isinstance(value, (gast.Tuple, gast.List)):
            value = q.call(ctx.h("unpack"), [value, q.const(len(target.elts))])
        out = [_assign(copy.deepcopy(target), value, s)]
        if not _value_batched(ctx, s.value):
            for n in sorted(names & ctx.batched):
                out.append(_assign(n, q.call(ctx.h("broadcast_batch"), [q.name(n), ctx.size()]), s))
        return out

    def _broadcasts(self, names, like):
        """``x = broadcast_batch(x, batch_size)`` for each of ``names``."""
        ctx = self.ctx
        return [_assign(n, q.call(ctx.h("broadcast_batch"), [q.name(n), ctx.size()]), like)
                for n in sorted(names)]

    def _fwd_tape(self, s):
        """``t = pair_tape((x, shape, stack), (False, True, None), {'y': True}, batch_size)``:
        each entry as it is, with what is batched (the stack's items: as their variables)."""
        ctx = self.ctx
        entries = s.value.elts
        flags = [None if e.id in ctx.uniform_tapes else e.id in ctx.batched for e in entries]
        restored = sorted({v for e in entries if e.id in ctx.uniform_tapes
                           for v in ctx.tape_sources[e.id].values()})
        value = q.call(ctx.h("pair_tape"), [
            copy.deepcopy(s.value), gast.Tuple(elts=[q.const(f) for f in flags], ctx=gast.Load()),
            gast.Dict(keys=[q.const(v) for v in restored],
                      values=[q.const(v in ctx.batched) for v in restored]), ctx.size()])
        return _assign(copy.deepcopy(s.targets[0]), value, s)

    def visit_Expr(self, s, under):
        ctx = self.ctx
        kind = ctx.support_call(s.value)
        if kind in ("append", "extend", "pop"):
            xs = s.value.args[0]
            if self._varying_length(xs, under):
                raise ctx.error(s, f"list {kind} under a condition that varies across the mapped "
                                "axis, on a list made before that condition: examples would "
                                "have lists of different lengths",
                                hint="make the list inside the branch, or append on every "
                                "path and select the value with np.where")
            if kind != "pop" and ctx.is_batched(xs):
                value = s.value.args[1]
                value = _broadcast(ctx, value)
                return [gast.Expr(value=q.call(s.value.func, [xs, value]))]
            return [s]
        if isinstance(s.value, gast.Call) and _names(s.value) & ctx.batched:
            obj = ctx.resolve(s.value.func)
            if obj is print:
                return [s]
            return [gast.Expr(value=_call(ctx, s.value, s))]
        return [s]

    def visit_Return(self, s, under):
        return [s]

    def visit_Raise(self, s, under):
        if under:  # both branches run: it would raise for the examples not taking it
            raise self.ctx.error(s, "a raise under a condition that varies across the mapped "
                                 "axis", hint="check the condition before vmap, or compute a "
                                 "flag with np.where and check it after")
        return [s]

    def visit_FunctionDef(self, s, under):
        ctx = self.ctx
        self.defined.add(s.name)
        free = _closure_reads(ctx, s)
        if not free:
            return [s]
        # A closure over batched variables: batched by its source with those marked
        # batched wherever it is called or passed (vmap, lax control flow).
        names = gast.Tuple(elts=[q.const(n) for n in sorted(free)], ctx=gast.Load())
        return [s, _assign(s.name, q.call(ctx.h("batched_closure"), [q.name(s.name), names]), s)]

    # -- control flow
    def visit_If(self, s, under):
        ctx = self.ctx
        if not _value_batched(ctx, s.test):
            before = set(self.defined)
            with ctx.kinds.guard(s):
                body = self.block(s.body, under)
            orelse = self.block(s.orelse, under)
            self.defined = before | _assigned(s.body) | _assigned(s.orelse)
            return [gast.If(test=s.test, body=body or [gast.Pass()], orelse=orelse)]
        return self._batched_if(s, under)

    def _mask(self, s, under, cond, body):
        """``(statements, mask)``: the examples that run ``body``, under the enclosing mask
        ``under`` and ``cond``. A name only where ``body`` holds control flow that needs
        it (True otherwise: the body is under a batched condition, no mask is read)."""
        if not any(self._batched_control(n) or (isinstance(n, gast.Call) and _may_run_user_code(
                self.ctx, n.func)) for st in body for n in gast.walk(st)):
            return [], True
        where = self._where(under)
        if where is None and isinstance(cond, gast.Name):
            return [], cond.id
        mask = self.ctx.namer.new("mask")
        if where is not None:
            cond = q.call(self._np("logical_and"), [q.name(where), cond])
        return [_assign(mask, cond, s)], mask

    def _batched_control(self, node):
        """An if/while/for whose condition or range varies across the examples."""
        if isinstance(node, (gast.If, gast.While)):
            return _value_batched(self.ctx, node.test)
        return isinstance(node, gast.For) and _value_batched(self.ctx, node.iter)

    def _np(self, attr):
        return gast.Attribute(value=q.name(self.ctx.plan.np_name), attr=attr, ctx=gast.Load())

    def _masked_call(self, helper, args, under):
        """``helper(*args)``, or ``helper(*args, mask)`` over the examples ``under`` keeps."""
        where = self._where(under)
        return q.call(self.ctx.h(helper), list(args) + ([q.name(where)] if where else []))

    def _batched_if(self, s, under):
        """Both branches, each only when some example takes it (eagerly), then a select.

        "Some example" counts the examples the enclosing batched conditions keep: the
        reverse sweep decides its branches the same way, so pushes and pops on the tape
        of generated gradient code stay matched."""
        ctx = self.ctx
        then_names, else_names = _assigned(s.body), _assigned(s.orelse)
        before = set(self.defined)
        read_later = self._read_elsewhere(s)
        keep = set()
        for n in sorted((then_names | else_names) - ctx.local_to(s) - ctx.tapes):
            if n in before or (n in then_names and n in else_names):
                keep.add(n)
            elif n in read_later and _read_only_under(ctx.plan.normal, s, n, n in then_names):
                keep.add(n)  # the other examples' value is never read: any value is exact
            elif n in read_later:
                raise ctx.error(s, f"variable {n!r} is assigned in only one branch of an "
                                "`if` whose condition varies across the mapped axis, and was "
                                "not defined before it",
                                hint=f"assign {n} before the if (or in both branches)")
        out, saved = [], {}
        for n in sorted(keep):
            if n in before:
                saved[n] = ctx.namer.new(f"{n}_before")
                out.append(_assign(saved[n], q.name(n), s))
            else:
                out.append(_assign(n, ctx.h("UNDEF"), s))
        branches = [("then", s.body, then_names), ("else", s.orelse, else_names)]
        if self._pops_tape(s):
            # The reverse sweep of an if pops what its forward branches pushed, last first:
            # the forward ran the then branch first, so the reverse runs the else first.
            branches.reverse()
        results = {}  # branch -> {name: the name holding that branch's value}
        for k, (kind, stmts, names) in enumerate(branches):
            if not stmts:
                continue
            self.defined = set(before)
            out += self._branch(s, under, kind, stmts)
            if k == 0:  # the second branch starts from the values before the if
                results[kind] = {}
                for n in sorted(names & keep):
                    results[kind][n] = ctx.namer.new(f"{n}_{kind}")
                    out.append(_assign(results[kind][n], q.name(n), s))
                    out.append(_assign(n, q.name(saved[n]) if n in saved else ctx.h("UNDEF"), s))
        first_kind = branches[0][0]
        for n in sorted(keep):
            first = results.get(first_kind, {}).get(n)
            first = q.name(first) if first else q.name(saved[n]) if n in saved else ctx.h("UNDEF")
            then_value, else_value = (first, q.name(n)) if first_kind == "then" else (q.name(n), first)
            out.append(_assign(n, q.call(ctx.select(), [s.test, then_value, else_value]), s))
        self.defined = before | then_names | else_names
        return out

    def _branch(self, s, under, kind, stmts):
        """One branch of a batched if: run when some example (that ``under`` keeps) takes it."""
        if kind == "then":
            test = self._masked_call("any_example", [s.test], under)
            cond = copy.deepcopy(s.test)
        else:
            test = gast.UnaryOp(op=gast.Not(), operand=self._masked_call(
                "all_examples", [s.test], under))
            cond = q.call(self._np("logical_not"), [s.test])
        pre, mask = self._mask(s, under, cond, stmts)
        return pre + [gast.If(test=test, body=self.masked_block(stmts, mask) or [gast.Pass()],
                              orelse=[])]

    def _pops_tape(self, s):
        ctx = self.ctx
        return any(isinstance(n, gast.Call) and ctx.support_call(n) == "pop" and n.args
                   and ctx.is_tape(n.args[0]) for n in gast.walk(s))

    def _read_after(self, s):
        """Names read after statement ``s`` runs: later statements of each enclosing block,
        and the whole body (and test) of each enclosing loop."""
        found = _reads_after(self.ctx.plan.normal.body, s)
        return found if found is not None else self._read_elsewhere(s)

    def _read_elsewhere(self, s):
        inside = {id(n) for n in gast.walk(s)}
        return {n.id for n in gast.walk(self.ctx.plan.normal) if isinstance(n, gast.Name)
                and isinstance(n.ctx, gast.Load) and id(n) not in inside}

    def visit_While(self, s, under):
        ctx = self.ctx
        if s.orelse:
            raise ctx.error(s, "while ... else is not supported under vmap")
        if not _value_batched(ctx, s.test):
            body = self.block(s.body, under)
            self.defined |= _assigned(s.body)
            return [gast.While(test=s.test, body=body, orelse=[])]
        # Masked: what the next trip or the code after the loop reads (the test included).
        assigned = _assigned(s.body) & (_exposed_reads(s.body) | self._read_after(s)
                                        | _names(s.test))
        assigned -= ctx.local_to(s) | ctx.tapes  # (a tape: a whole batch at a time)
        out = [_assign(n, ctx.h("UNDEF"), s) for n in sorted(assigned - self.defined)]
        self.defined |= assigned
        active = ctx.namer.new("active")
        prev = {n: ctx.namer.new(f"{n}_prev") for n in sorted(assigned)}
        # Examples outside the enclosing mask never run the loop (nor keep it running).
        where = self._where(under)
        kept = s.test if where is None else q.call(
            self._np("logical_and"), [q.name(where), s.test])
        body = [_assign(active, kept, s)] + [_assign(p, q.name(n), s) for n, p in prev.items()]
        body += self.masked_block(s.body, active)
        body += [_assign(n, q.call(ctx.select(), [q.name(active), q.name(n), q.name(p)]), s)
                 for n, p in prev.items()]
        test = q.call(self._np("any"), [copy.deepcopy(kept)])
        out.append(gast.While(test=test, body=body, orelse=[]))
        return out

    def visit_For(self, s, under):
        ctx = self.ctx
        if s.orelse:
            raise ctx.error(s, "for ... else is not supported under vmap")
        it = s.iter
        is_range = isinstance(it, gast.Call) and ctx.resolve(it.func) is range
        if is_range and _value_batched(ctx, it) and self._is_reverse_trips(it):
            return self._reverse_trips(s, under)
        if is_range and _value_batched(ctx, it):
            raise ctx.error(s, "a for loop over a range whose bounds vary across the mapped axis",
                            hint="loop to a bound that is the same for every example and mask "
                            "the extra steps with np.where (or use a while loop)")
        if is_range and _names(it) & ctx.batched:  # range(len(xs)): the per-example length
            it = gast.Call(func=it.func, args=[_call(ctx, a, s) if isinstance(a, gast.Call) else a
                                               for a in it.args], keywords=[])
        target_batched = bool(_stores(s.target) & ctx.batched)
        self.defined |= _stores(s.target)
        body = self.block(s.body, under)
        self.defined |= _assigned(s.body)
        if _value_batched(ctx, it):
            it = q.call(ctx.h("iterate"), [it])
            return [gast.For(target=s.target, iter=it, body=body, orelse=[], type_comment=None)]
        if target_batched:  # an unbatched loop variable under a batched condition
            raw = ctx.namer.new("step")
            target = s.target
            pre = [_assign(copy.deepcopy(target), q.name(raw), s)]
            pre += [_assign(n, q.call(ctx.h("broadcast_batch"), [q.name(n), ctx.size()]), s)
                    for n in sorted(_stores(target))]
            return [gast.For(target=q.store(raw), iter=it, body=pre + body, orelse=[],
                             type_comment=None)]
        return [gast.For(target=s.target, iter=it, body=body, orelse=[], type_comment=None)]


    def _is_reverse_trips(self, it):
        """``range(trips)`` over a while loop's trip counter: the reverse transform's loop."""
        return len(it.args) == 1 and isinstance(it.args[0], gast.Name) \
            and it.args[0].id in self.ctx.trip_counters | self.ctx.first_trips

    def _reverse_trips(self, s, under):
        """The reverse sweep of a batched while: ``max(trips)`` trips over the batch.

        The forward loop ran ``max(trips)`` trips pushing on the shared tape each time,
        example e active on the first ``trips[e]`` of them; popping in reverse, e is
        active on the last ``trips[e]`` trips, with masked updates as in a batched while.
        The reverse of that reverse loop (``for _ in range(trips_first)``, the vjp of
        gradient code: ``jacrev(grad(f))``) runs ``max(trips)`` trips again, e active on
        its first ``trips[e]``, as in the forward loop.
        """
        ctx = self.ctx
        if set().union(*map(_names, s.body)) & _stores(s.target):
            raise ctx.error(s, "a reverse loop over a trip count reads its index")
        trips = s.iter.args[0].id
        first = trips in ctx.first_trips
        assigned = _assigned(s.body) & (_exposed_reads(s.body) | self._read_after(s))
        assigned -= ctx.local_to(s) | ctx.tapes  # (a tape: a whole batch at a time)
        out = [_assign(n, ctx.h("UNDEF"), s) for n in sorted(assigned - self.defined)]
        self.defined |= assigned
        steps, step, active = (ctx.namer.new(n) for n in ("steps", "step", "active"))
        out.append(_assign(steps, self._masked_call("max_example", [q.name(trips)], under), s))
        prev = {n: ctx.namer.new(f"{n}_prev") for n in sorted(assigned)}
        if first:  # active = step < trips: each example's trips are the first ones
            late = gast.Compare(left=q.name(step), ops=[gast.Lt()], comparators=[q.name(trips)])
        else:  # active = step >= steps - trips: each example's trips are the last ones
            late = gast.Compare(left=q.name(step), ops=[gast.GtE()], comparators=[
                gast.BinOp(left=q.name(steps), op=gast.Sub(), right=q.name(trips))])
        where = self._where(under)
        if where is not None:
            late = q.call(self._np("logical_and"), [q.name(where), late])
        body = [_assign(active, late, s)] + [_assign(p, q.name(n), s) for n, p in prev.items()]
        body += self.masked_block(s.body, active)
        body += [_assign(n, q.call(ctx.select(), [q.name(active), q.name(n), q.name(p)]), s)
                 for n, p in prev.items()]
        loop = gast.For(target=q.store(step), iter=q.call(q.name("range"), [q.name(steps)]),
                        body=body, orelse=[], type_comment=None)
        return out + [gast.copy_location(loop, s)]


# ---------------------------------------------------------------------------
# Building batched functions.


class Built:
    """A batched function: ``fn`` (the live function), ``text`` (its source) and
    ``out_batched`` (whether its result carries a batch axis)."""

    def __init__(self, fn, text, out_batched, params, kinds=None, batched_lists=frozenset()):
        self.fn = fn
        # parameters given unbatched lists that this function appends batched values to:
        # broadcast on entry (a new list: the caller's is not changed)
        self.batched_lists = batched_lists
        self.text = text
        self.out_batched = out_batched
        self.params = params
        self.result_kind = kinds.result if kinds is not None else None  # of one example
        self.mutates_lists = kinds.mutates_lists if kinds is not None else True
        self.defaults = (None, None)  # the defaults of the user's function it copied


_builds = weakref.WeakKeyDictionary()




def build(fn, batched_params, signature=(), masked=False, tape=None):
    """The batched form of ``fn`` for the parameters named in ``batched_params`` (cached);
    ``signature`` (``batch_source.signature``) describes the arguments of this call, so
    calls on operands of known kinds are written as NumPy. A ``masked`` build takes a
    first parameter, the mask of the examples its caller runs it for (a call from a
    branch of a batched ``if``): its batched loops run for those examples only. A pair's
    bwd given its fwd's ``PairTape`` is built for that tape's ``key`` (``tape``)."""
    fn = unconverted(fn)  # converted by jit: batched from the code it was converted from
    per_fn = _builds.setdefault(fn, {})
    key = (tuple(sorted(batched_params)), signature, masked) + ((tape,) if tape else ())
    built = per_fn.get(key)
    if built is None or not same_defaults(fn, built.defaults):  # f.__defaults__ rebound
        defaults = defaults_of(fn)
        built = per_fn[key] = _build(fn, key[0], signature, masked, tape)
        built.defaults = defaults
    return built


def _build(fn, batched_params, signature=(), masked=False, tape=None):
    plan = plan_for(fn)
    ctx = _Context(plan, batched_params, masked, tape)
    ctx.helpers["operators"] = ctx.namer.new("operators")
    body = plan.normal.body
    analyze(ctx, body)
    ctx.kinds = batch_source.Kinds(ctx, signature)
    rewriter = _Rewriter(ctx)
    rewriter.defined = set(_stores(plan.normal.args))
    if masked:
        rewriter.entry = ctx.namer.new("mask")
        rewriter.defined.add(rewriter.entry)
    new_body = rewriter.block(body)
    result = body[-1].value if isinstance(body[-1], gast.Return) else None
    out_batched = isinstance(result, gast.Name) and result.id in ctx.batched
    params = sorted(p for p in batched_params)
    # Parameters the caller passes unbatched that hold batched values later hold them
    # from the start: a list a mapped value is appended to (here or by a callee), a
    # variable later assigned batched values (a pop of the tape restores what a push of
    # it saved).
    positional = dataflow.parameters(plan.normal, varargs=False, keyword_only=False)
    batched_lists = frozenset((ctx.batched & ctx.appended & _stores(plan.normal.args))
                              - ctx.mapped_params)
    grown = batched_lists | {p for p in positional if p in ctx.batched and p not in ctx.mapped_params}
    prologue = [_assign(p, q.call(ctx.h("broadcast_batch"), [q.name(p), ctx.size()]))
                for p in sorted(grown)]
    if ctx.size_name is not None:
        # Every batched parameter, first one first: a batched container may hold no array
        # (an empty tape of a function that keeps nothing), and the size is in the next.
        order = [p for p in dict.fromkeys(positional + sorted(batched_params)) if p in batched_params]
        prologue.insert(0, _assign(ctx.size_name, q.call(ctx.h("leading_size"),
                                                         [q.name(p) for p in order])))
    name = ctx.namer.new(f"{plan.name}_batched")
    args = copy.deepcopy(plan.normal.args)
    if masked:
        args.args.insert(0, gast.Name(id=rewriter.entry, ctx=gast.Param(), annotation=None,
                                      type_comment=None))
    fdef = gast.FunctionDef(name=name, args=args, body=prologue + new_body,
                            decorator_list=[], returns=None, type_comment=None, type_params=[])
    import operator
    extra = {ident: make_cell(getattr(S, h) if h != "operators" else operator)
             for h, ident in ctx.helpers.items() if ident is not None and h != "logical_not"}
    globals_, cells = globals_and_cells(plan, extra, [fdef])
    code = fn.__code__ if hasattr(fn, "__code__") else plan.fn.__code__
    filename = f"<s2s vmap_{plan.name} [{','.join(params)}] of {code.co_filename}:{code.co_firstlineno}>"
    fn_obj, text = compile_function(fdef, filename, globals_, cells,
                                    getattr(fn, "__defaults__", None),
                                    getattr(fn, "__kwdefaults__", None), origin=plan.source)
    ctx.kinds.result = ctx.kinds.env.get(result.id) if isinstance(result, gast.Name) else None
    return Built(fn_obj, text, out_batched, dataflow.parameters(plan.normal, varargs=False,
                                                                keyword_only=False), ctx.kinds,
                 batched_lists)


_building = set()


def build_now(fn, batched_params, signature):
    """``build(...)`` for a caller's build that wants the kind of ``fn``'s result, or None
    when ``fn`` cannot be built now: it is being built (a recursive call), or building it
    raises (its call will raise that again at run time)."""
    key = (id(fn), tuple(sorted(batched_params)), signature)
    if key in _building:
        return None
    _building.add(key)
    try:
        return build(fn, batched_params, signature)
    except Exception:
        return None
    finally:
        _building.discard(key)


# ---------------------------------------------------------------------------
# Calls from batched code into functions without a batch rule.


# s2s modules whose functions vmap batches by their source, like user code: the adjoint
# helpers of the NumPy-level templates are written on s2s.numpy with Python `if`s on
# static values only, and derivative code built from them (their jvp, their backward
# function) keeps their module. Batching them by source is what keeps jacfwd, jacrev and
# hessian free of per-example calls (they vmap code that calls these helpers). The
# forward mode of lax control flow (s2s.lax.control_flow_jvp) is batched the same way:
# its loops are lax loops with batch rules, its calls into jvp/vjp have rules of their own.
_BATCHED_BY_SOURCE = ("s2s.numpy._vjp_helpers", "s2s.lax.control_flow_jvp", "s2s.numpy._linalg_jvp")


# Library modules written like user code, on s2s.numpy and s2s.lax (stax's layers and
# combinators: closures, with Python control flow on static values), batched by source.
# Not the optimizers: their state holds treedefs, which a batched container cannot carry
# (they are recorded instead, see batch_support._ARRAY_LIBRARIES).
_SOURCE_MODULES = ("s2s.example_libraries.stax",)


def _is_library(fn):
    """Whether vmap batches ``fn`` by rule or by recording rather than by its source: NumPy,
    builtins and s2s's own modules, except code s2s generated (the derivative code of
    library functions is plain code on s2s.numpy, whatever module it keeps) and the
    modules above written like user code."""
    module = getattr(fn, "__module__", None) or ""
    if module in _BATCHED_BY_SOURCE or module in _SOURCE_MODULES or _generated(fn):
        return False
    return library_module(fn)


def specialized_by_callers(fn):
    """Whether a caller's build specializes ``fn``'s on the kinds of the operands it passes
    (``batch_source.Kinds``): user code and the modules of ``_BATCHED_BY_SOURCE``. The
    rest of the library code batched by source (stax, derivative code generated from
    s2s's own functions) is not: that would build every such callee once per kind its
    callers pass (a hessian through stax's serial built hundreds), for an optimization."""
    module = getattr(fn, "__module__", None) or ""
    return module in _BATCHED_BY_SOURCE or not library_module(fn)


def library_module(fn):
    """Whether ``fn`` is NumPy's, a builtin, or s2s's own (code generated from it included)."""
    module = getattr(fn, "__module__", None) or ""
    return _from_library(fn) or module in ("builtins", "numpy") or module.startswith("numpy.")


class NotBatchedBySource(Exception):
    """Raised by ``batched_callee``'s callable, before it runs anything, where library code
    (an s2s module's function, or code generated from one) cannot be batched by source for
    these arguments (say a ``raise`` under a condition on a container the analysis takes as
    batched): its caller batches the call as before, by recording or once per example.
    User code gets the error that says what to change instead."""


def _from_library(fn):
    module = getattr(fn, "__module__", None) or ""
    return module == "s2s" or module.startswith("s2s.")


def _generated(fn):
    """Whether ``fn`` is code s2s generated from source (a derivative, a batched form)."""
    code = getattr(fn, "__code__", None)
    return code is not None and origins.lookup(code.co_filename) is not None


def has_rule(fn):
    """Whether ``fn`` has a batch rule (library functions are batched by rule, not source)."""
    return S.batch_rule(fn) is not None


def parameters_of(fn):
    """The positional parameter names of user function ``fn`` (its normal form's)."""
    return dataflow.parameters(plan_for(fn).normal, varargs=False, keyword_only=False)


def plan_or_none(fn):
    """The normal-form plan of ``fn``, or None when it has no source s2s can batch."""
    if not hasattr(fn, "__code__") or not hasattr(type(fn), "__get__"):
        return None
    try:
        return plan_for(fn)
    except (NoSourceError, OSError, TypeError):
        return None


_callees = weakref.WeakKeyDictionary()


def _tape_key(fn, args, axes):
    """The ``PairTape.key`` of the tape a pair's bwd ``fn`` is given (first), else None."""
    tapes = [k for k, a in enumerate(args) if isinstance(a, S.PairTape)]
    if not tapes:
        return None
    if tapes != [0] or getattr(fn, "__s2s_pair__", None) != "bwd" or axes[0] is None:
        raise TransformError("vmap: internal error: a fwd/bwd pair's tape was passed to "
                             f"{getattr(fn, '__name__', fn)}", hint="please report this")
    return args[0].key


def batched_callee(fn, axes, kw_batched, kwargs, masked=False):
    """A callable computing ``fn`` batched (user functions: their batched source), or None
    when ``fn`` should be called once per example (cached per function and axes). With
    ``masked``, the callable takes the caller's mask of kept examples first."""
    try:
        per_fn = _callees.setdefault(fn, {})
    except TypeError:  # not weak-referenceable: not cached
        return _batched_callee(fn, axes, kw_batched, masked)
    key = (tuple(axes), tuple(kw_batched), masked)
    if key not in per_fn:
        per_fn[key] = _batched_callee(fn, axes, kw_batched, masked)
    return per_fn[key]


def _batched_callee(fn, axes, kw_batched, masked=False):
    try:
        target, bound = unwrap(fn)
    except Exception:
        return None
    if _is_library(target) or not hasattr(target, "__code__"):
        return None
    try:
        get_source(target)
    except (NoSourceError, OSError, TypeError):
        return None
    params = parameters_of(target)
    full_axes = (None,) * len(bound) + tuple(axes)
    names = set()
    for p, ax in zip(params, full_axes):
        if ax is not None:
            names.add(p)
    keywords = dataflow.parameters(plan_for(target).normal, varargs=False)  # (keyword-only too)
    if set(kw_batched) - set(keywords):
        return None  # **kwargs: per example
    vararg = _vararg(target) if len(full_axes) > len(params) else None
    if len(full_axes) > len(params) and vararg is None:
        return None
    # *args holding a batched value: batched as one tuple, every item broadcast to the batch
    spread = vararg is not None and any(ax is not None for ax in full_axes[len(params):])
    if spread:
        names.add(vararg)
    names |= set(kw_batched)
    names = frozenset(names)
    n_holder = [full_axes, kw_batched]
    positional = params[len(bound):]
    library = _from_library(target)
    refused = set()  # the signatures library code could not be batched for by source

    def call(*args, **kw):
        lead, args = (args[:1], args[1:]) if masked else ((), args)
        if spread:
            args = _spread(args, axes, len(positional))
        described = {p: (a, ax is not None) for p, a, ax in zip(positional, args, axes)}
        described.update({k: (v, k in kw_batched) for k, v in kw.items()})
        signature = batch_source.signature(described)
        if signature in refused:
            raise NotBatchedBySource(target)
        try:
            # Built for this call's arguments (a pair's bwd for the tape its fwd gave: a
            # build without it would take the loop counts on that tape as batched).
            built = build(target, names, signature, masked, _tape_key(target, args, axes))
        except S2SError:
            if not library:
                raise
            refused.add(signature)
            raise NotBatchedBySource(target) from None
        _no_batched_lists(target, built)
        fn = built.fn
        # Under jit (staged arguments) the batched source with its control flow converted.
        if any(isinstance(a, Tracer) for a in tree_leaves((lead, args, kw))):
            fn = hooks.converted(fn)
        out = fn(*lead, *bound, *args, **kw)
        if built.out_batched:
            return out
        n = S.leading_size([a for a, ax in zip(args, n_holder[0][len(bound):]) if ax is not None]
                           + [kw[k] for k in n_holder[1]])
        return S.broadcast_batch(out, n)
    return call


def _vararg(fn):
    """The name of ``fn``'s ``*args`` parameter, or None."""
    vararg = plan_for(fn).normal.args.vararg
    return vararg.id if vararg is not None else None


def _spread(args, axes, start):
    """``args`` with those from ``start`` on (a function's ``*args``) all batched."""
    n = S.leading_size([a for a, ax in zip(args, axes) if ax is not None])
    return tuple(S.broadcast_batch(a, n) if k >= start and ax is None else a
                 for k, (a, ax) in enumerate(zip(args, axes)))


def _no_batched_lists(target, built):
    """Raises when ``target`` appends batched values to a list its caller passed in
    unbatched (a caller whose source was not analysed with this callee)."""
    if built.batched_lists:
        p = sorted(built.batched_lists)[0]
        raise TransformError(
            f"vmap: {getattr(target, '__name__', 'the function')} appends values that vary "
            f"across the mapped axis to its argument {p!r}, a list its caller passed in "
            "unbatched: the caller would not see them",
            hint="return the new values (or a new list) instead of appending to an argument")
