"""Reverse mode: normal-form function -> forward sweep + reverse sweep.

The *restore model* (Tangent's): the reverse sweep visits statements in the
opposite order, and when it reaches a statement every variable holds the value
it had right after that statement ran forward. Variables that are overwritten
(assigned in a loop or at several places) and that the reverse sweep reads are
pushed on ``stack`` before each overwrite and popped back after that
statement's adjoint code; nothing else is saved.

Adjoints use ``None`` as a symbolic zero. A static analysis tracks, at each
point of the reverse sweep, whether an adjoint is certainly zero (no code is
emitted), certainly set (plain ``bx = ...`` / ``bx = bx + ...``) or maybe zero
(``add_grad`` and ``if bx is not None:`` guards), so straight-line code reads
like a hand-written gradient and loops stay correct.

Per statement of the normal form:

* ``y = op(a, b)``: the template of ``op`` (``s2s.lax`` / ``s2s.numpy`` rule
  tables) gives ``ba``/``bb`` from ``by``; calls of user functions become
  ``y, tape = fwd_g(a, b)`` forward and ``ba, bb = bwd_g(tape, by)`` reverse.
* ``if c:`` reverses into ``if c:`` over the reversed branches.
* ``for i in range(...)`` reverses into ``for i in reversed(range(...))``.
* ``while c:`` counts its trips forward and reverses into ``for _ in range(trips)``.
* ``x = setitem(x, i, v)`` (normal form's ``x[i] = v``) reverses through its template.

The entry point is ``transform(tree, ctx)``.
"""

import gast

from s2s.core.errors import TransformError
from s2s.core.primitive import ZERO_DERIVATIVE
from s2s.parse import quoting as q
from s2s.parse.normalize import VARARGS_SHAPE
from s2s.parse import dataflow
from s2s.runtime import support
from s2s.transforms import activity, captures, templates
from s2s.transforms import frontend
from s2s.transforms.frontend import CalleeKind
from s2s.transforms.shapes import ShapeClasses

ZERO, SET, MAYBE = "zero", "set", "maybe"

_PUSH = "__s2s_push__"
# Attributes a stand-in made by ``shape_of`` answers like the array it stands for.
_SHAPE_ATTRIBUTES = ("shape", "ndim", "dtype", "size")
_RESTORE = "__s2s_restore__"


def _join(a, b):
    return a if a == b else MAYBE


class ReverseResult:
    """The pieces an assembler turns into ``grad_f`` or ``fwd_f``/``bwd_f``."""

    def __init__(self, forward, reverse, result, param_adjoints, tape, inits, adjoint_inits,
                 adjoint_names, result_active):
        self.forward = forward
        self.reverse = reverse
        self.result = result
        self.param_adjoints = param_adjoints
        self.tape = tape
        self.inits = inits
        self.adjoint_inits = adjoint_inits
        self.adjoint_names = adjoint_names
        self.result_active = result_active


def _reads_own_target(s):
    """``x = f(x)``: the value reads the name it rebinds (reverse mode restores ``x`` inside
    the statement's adjoint, before the rest of what was saved)."""
    t = s.targets[0]
    return isinstance(t, gast.Name) and t.id in activity._reads(s.value)


class _DynamicRecord:
    """A call of a function value: its pullback is kept in ``tape`` (see dynamic_vjp)."""

    def __init__(self, tape, args):
        self.tape = tape
        self.args = args
        self.output_active = True


# ---------------------------------------------------------------------------
# Assignment sites and "definitely assigned" analysis.




def _maybe_bound(stmts, bound, out):
    """Records, per statement, the names that may already be assigned before it runs."""
    bound = set(bound)
    for s in stmts:
        out[id(s)] = set(bound)
        if isinstance(s, gast.If):
            bound = _maybe_bound(s.body, bound, out) | _maybe_bound(s.orelse, bound, out)
        elif isinstance(s, (gast.For, gast.While)):
            inner = bound | dataflow.assigned_in(s.body)
            if isinstance(s, gast.For):
                inner.add(s.target.id)
                out[id(s)] = set(bound)
            _maybe_bound(s.body, inner, out)
            bound = inner
        else:
            bound |= set(dataflow.targets(s))
    return bound




def _count_sites(stmts, sites, in_loop, depth=0):
    for s in stmts:
        for t in dataflow.targets(s):
            sites[t] = sites.get(t, 0) + 1
            if depth > 0:
                in_loop.add(t)
        if isinstance(s, gast.If):
            _count_sites(s.body, sites, in_loop, depth)
            _count_sites(s.orelse, sites, in_loop, depth)
        elif isinstance(s, (gast.For, gast.While)):
            _count_sites(s.body, sites, in_loop, depth + 1)


# ---------------------------------------------------------------------------
# The transformation.


class _Reverse:
    def __init__(self, fdef, ctx):
        self.ctx = ctx
        self.namer = ctx.namer
        self.fdef = fdef
        self.params = dataflow.parameters(fdef)
        self.adjoints = {}
        self.records = {}
        self.maybe_vars = set()
        self.uses_stack = False
        self.stack = None
        self.trip_counters = set()  # the while loops' trip counts
        self.first_trip_counters = set()  # their reverse loops' reversed (see rev_for)
        self.result = fdef.body[-1].value
        # The plan's normal form is shared by every transformation, and the analyses
        # below annotate statements: they work on a copy.
        body = q.copy_tree(fdef.body[:-1])
        self.callees = {}
        body = self._explicit_captures(fdef, body)
        self.callees = {}  # keyed by node id: the rewrite dropped nodes
        self.body = body
        self._defs = None  # see _local_defs
        self.sites = {p: 1 for p in self.params}
        self.in_loop = set()
        _count_sites(body, self.sites, self.in_loop)
        self.bound_before = {}
        _maybe_bound(body, set(self.params), self.bound_before)
        tree = gast.FunctionDef(name=fdef.name, args=fdef.args, body=body + [fdef.body[-1]],
                                decorator_list=[], returns=None, type_comment=None, type_params=[])
        self._last_comment = None
        grows = lambda call: ctx.support_kind(call) in ("append", "extend")  # noqa: E731
        self.active = activity.active_variables(tree, set(ctx.active_params), self._differentiable_call,
                                                grows)
        self.varied = activity.varied_variables(tree, set(ctx.active_params), self._differentiable_call,
                                                grows)
        self.array_vars = frontend.array_variables(body, self.callee, self.params)
        self.shapes = ShapeClasses(body, self._elementwise_call, self.params)
        self.flags = self._activity_flags(body)

    def _explicit_captures(self, fdef, body):
        """``body`` with varied captures of ``lax`` control-flow callables passed explicitly."""
        return captures.explicit_for(fdef, body, self.ctx, self.callee, self._differentiable_call,
                                     self.namer, self.error)

    def _activity_flags(self, body):
        """Flags for variables whose activity depends on the path taken.

        ``inputs`` in ``for W, b in params: ... inputs = np.tanh(outputs)`` is an
        inactive argument at first and active after one iteration. A flag set at
        each definition tells the reverse sweep whether the value it is about to
        give an adjoint to needs one, which saves the largest product of the seed
        MLP's backward pass.
        """
        kinds = {}
        for p in self.params:
            kinds.setdefault(p, set()).add(p in self.ctx.active_params)

        def visit(stmts):
            for st in stmts:
                if isinstance(st, gast.Assign):
                    site_active = self._site_active(st)
                    for t in dataflow.targets(st):
                        kinds.setdefault(t, set()).add(site_active)
                elif isinstance(st, gast.For):
                    kinds.setdefault(st.target.id, set()).add(False)
                if isinstance(st, (gast.If, gast.For, gast.While)):
                    visit(st.body)
                    visit(st.orelse)
        visit(body)
        flags = {}
        for name in sorted(self.active):
            if kinds.get(name) == {True, False} and name in self.in_loop:
                flag = self.namer.new(name + "_active")
                flags[name] = flag
                self.sites[flag] = 2
                self.in_loop.add(flag)
        return flags

    def _site_active(self, st):
        value = st.value
        if not activity._value_is_differentiable(value, self._differentiable_call):
            return False
        reads = activity._reads(value.value if isinstance(value, gast.Subscript) else value)
        return bool(reads & self.varied)

    def flag_stmts(self, st):
        """``x_active = True/False`` after a definition of a flagged variable."""
        out = []
        before = self.bound_before.get(id(st), set())
        for t in dataflow.targets(st):
            if t in self.flags:
                if t in before:
                    out += self.push([self.flags[t]])
                out.append(q.assign(self.flags[t], q.const(self._site_active(st))))
        return out

    def _elementwise_call(self, call):
        c = self.callee(call)
        prim = getattr(c.fn, "primitive", c.fn)
        return c.kind == CalleeKind.TEMPLATE and getattr(prim, "elementwise", False)

    # -- helpers -------------------------------------------------------------

    def error(self, node, message, hint):
        src = self.ctx.source
        raise TransformError(message + (f" (`{src.line_text(node)}`)" if hasattr(node, "lineno") else ""),
                             filename=src.filename, lineno=src.file_line(node), hint=hint)

    def callee(self, call):
        key = id(call)
        if key not in self.callees:
            self.callees[key] = self.ctx.resolve_callee(call)
        if not hasattr(self, "array_vars"):  # still classifying: any non-zero kind will do
            return self.callees[key]
        return frontend.method_of_value(self.callees[key], call, self.known_array)

    def known_array(self, node):
        """Whether ``node`` is certainly an array (differentiated, or made by array operations)."""
        return self.is_active_atom(node) or isinstance(node, gast.Name) and node.id in self.array_vars

    def _differentiable_call(self, call):
        c = self.callee(call)
        return c.kind != CalleeKind.ZERO

    def adj(self, name):
        if name not in self.adjoints:
            self.adjoints[name] = self.namer.adjoint(name)
        return self.adjoints[name]

    def overwritten(self, name):
        return self.sites.get(name, 0) > 1 or name in self.in_loop

    def is_active_atom(self, node):
        return isinstance(node, gast.Name) and node.id in self.active

    # -- forward sweep ---------------------------------------------------------

    def fwd_block(self, stmts, depth):
        out = []
        for s in stmts:
            out.extend(self.fwd_stmt(s, depth))
        return out

    def push(self, names):
        return [gast.Expr(value=gast.Call(func=q.name(_PUSH), args=[q.name(n)], keywords=[])) for n in names]

    def restore(self, names):
        return [gast.Expr(value=gast.Call(func=q.name(_RESTORE), args=[q.name(n)], keywords=[]))
                for n in reversed(names)]

    def target_in_loop(self, s):
        return any(t in self.in_loop for t in dataflow.targets(s))

    def saved_targets(self, s):
        """Targets of ``s`` whose previous value may exist (only those are saved)."""
        before = self.bound_before.get(id(s), set())
        return [t for t in dataflow.targets(s) if t in before]

    def reverse_forward_call(self, s, c):
        """``s`` with its call replaced by the function's ``in_reverse_forward`` where it
        has one: the value reverse mode's forward pass computes instead (a custom_vjp
        function's ``fwd``, which a derivative of this code then differentiates)."""
        alt = getattr(c.fn, "in_reverse_forward", None)
        if alt is None:
            return s
        call = gast.Call(func=q.name(self.ctx.bind(alt.__name__, alt)), args=s.value.args,
                         keywords=s.value.keywords)
        return gast.copy_location(gast.Assign(targets=s.targets, value=call, type_comment=None), s)

    def fwd_stmt(self, s, depth):
        if isinstance(s, (gast.Assign, gast.Expr)) and isinstance(s.value, gast.Call):
            self.check_in_place_call(s, s.value)
        if isinstance(s, gast.Assign):
            pre = self.push(self.saved_targets(s))
            post = self.flag_stmts(s)
            if isinstance(s.value, gast.Call):
                c = self.callee(s.value)
                dynamic = c.kind == CalleeKind.UNKNOWN and self.is_active_call(s.value) and \
                    isinstance(s.targets[0], gast.Name)
                if (c.kind == CalleeKind.USER or dynamic) and self.is_active_call(s.value):
                    call = self.fwd_dynamic_call(s) if dynamic else self.fwd_user_call(s, c)
                    tape = self.records[id(s)].tape
                    if tape is not None and self.target_in_loop(s):
                        # Each iteration's tape is kept. `out = f(out)` restores `out`
                        # before calling bwd (rev_assign), so the tape goes under it.
                        pre = self.push([tape]) + pre if _reads_own_target(s) else pre + self.push([tape])
                    return pre + [call] + post
                if c.kind == CalleeKind.TEMPLATE and self.is_active_call(s.value):
                    self.check_converted_value(s, c)
                    s = self.reverse_forward_call(s, c)
            return pre + [s] + post
        if isinstance(s, gast.If):
            return [gast.copy_location(gast.If(test=s.test, body=self.fwd_block(s.body, depth) or [gast.Pass()],
                                               orelse=self.fwd_block(s.orelse, depth)), s)]
        if isinstance(s, gast.For):
            body = self.fwd_block(s.body, depth + 1) or [gast.Pass()]
            loop = gast.For(target=s.target, iter=s.iter, body=body, orelse=[], type_comment=None)
            return self.push(self.saved_targets(s)) + [gast.copy_location(loop, s)]
        if isinstance(s, gast.While):
            trips = self.namer.new("trips")
            self.records[id(s)] = trips
            self.trip_counters.add(trips)
            body = self.fwd_block(s.body, depth + 1)
            body.append(q.assign(trips, gast.BinOp(left=q.name(trips), op=gast.Add(), right=q.const(1))))
            loop = gast.copy_location(gast.While(test=s.test, body=body, orelse=[]), s)
            out = [gast.copy_location(q.assign(trips, q.const(0)), s), loop]
            if depth > 0:
                self.uses_stack = True
                out.append(self.stack_push(trips))
            return out
        return [s]

    def stack_push(self, name, shape_only=False):
        if shape_only:
            return q.quote("stack.append(shape_of(x))", stack=self.stack_name(), x=name,
                           shape_of=self.ctx.support("shape_of"))[0]
        return q.quote("stack.append(x)", stack=self.stack_name(), x=name)[0]

    def stack_name(self):
        if self.stack is None:
            self.stack = self.namer.new("stack")
        return self.stack

    def has_active_atom(self, node):
        """An active name, or a tuple/dict display holding one (``*xs`` in it included)."""
        if isinstance(node, (gast.Tuple, gast.Dict)):
            parts = node.elts if isinstance(node, gast.Tuple) else node.values
            return any(self.is_active_atom(p.value if isinstance(p, gast.Starred) else p)
                       for p in parts)
        return self.is_active_atom(node)

    def call_args(self, call, callee):
        """The arguments a template sees: a method's object comes first."""
        method = getattr(callee, "method", None)
        if not method:
            return list(call.args)
        args = list(call.args)
        if method in VARARGS_SHAPE and len(args) > 1:
            args = [gast.Tuple(elts=args, ctx=gast.Load())]
        return [call.func.value] + args

    def is_active_call(self, call):
        if isinstance(call.func, gast.Attribute) and self.is_active_atom(call.func.value):
            return True
        if self.is_active_atom(call.func):  # a function value carrying differentiated values
            return True
        return any(self.is_active_atom(a.value if isinstance(a, gast.Starred) else a) for a in call.args) or \
            any(self.is_active_atom(k.value) for k in call.keywords)

    def fwd_dynamic_call(self, s):
        """``t = fn(a, b)`` with ``fn`` a value (a parameter, a function from a container):
        ``t, t_pull = dynamic_vjp(fn, a, b)``, differentiated when it runs."""
        call = s.value
        target = s.targets[0]
        if any(isinstance(a, gast.Starred) for a in call.args):
            self.error(s, f"s2s cannot differentiate the call `{q.to_source(call.func)}(*...)` of a "
                          "function value with *args", "pass the arguments one by one")
        self.check_function_value(s, call.func)
        tape = self.namer.new(f"{target.id}_pull")
        self.records[id(s)] = _DynamicRecord(tape, list(call.args))
        value = gast.Call(func=q.name(self.ctx.support("dynamic_vjp")), args=[call.func] + call.args,
                          keywords=call.keywords)
        new = gast.Assign(targets=[gast.Tuple(elts=[target, q.store(tape)], ctx=gast.Store())],
                          value=value, type_comment=None)
        self.sites[tape] = self.sites.get(target.id, 1)
        if target.id in self.in_loop:
            self.in_loop.add(tape)
        return gast.copy_location(new, s)

    def dynamic_call_items(self, s, call, dans):
        rec = self.records.get(id(s))
        if not isinstance(rec, _DynamicRecord):
            return []
        if any(self.is_active_atom(k.value) for k in call.keywords):
            self.error(s, f"s2s cannot differentiate keyword arguments of the call "
                          f"`{q.to_source(call.func)}(...)` of a function value",
                       "pass the differentiated values positionally")
        pulled = gast.Call(func=q.name(self.ctx.support("apply_pullback")),
                           args=[q.name(rec.tape), q.name(dans)], keywords=[])
        temps = [self.namer.new("b_arg") if self.is_active_atom(a) else "_" for a in rec.args]
        if all(t == "_" for t in temps):
            return []
        items = [gast.Assign(targets=[gast.Tuple(elts=[q.store(t) for t in temps], ctx=gast.Store())
                                      if len(temps) > 1 else q.store(temps[0])],
                             value=pulled if len(temps) > 1 else
                             gast.Subscript(value=pulled, slice=q.const(0), ctx=gast.Load()),
                             type_comment=None)]
        for atom, t in zip(rec.args, temps):
            if t != "_":
                items += self.spread_adjoint(atom, t)
        return items

    def check_in_place_call(self, s, call):
        """A user function that changes an argument in place (appends to a list, sets an
        item) hands its caller no derivative of that change: only its result has an
        adjoint. Raised (grad then traces the call, exact) unless the caller rebinds the
        argument to the result (``acc = h(acc, x)``, the result carrying the change)."""
        c = self.callee(call)
        if c.name == "converted_call" and call.args:  # jit's conversion: the function called
            if self.is_active_atom(call.args[0]):  # a method of a differentiated object
                self.error(s, f"s2s cannot differentiate the call of `{q.to_source(call.args[0])}`, "
                              "a function value made from a differentiated value, under jit",
                           "pass that value to the function as an argument (a method: "
                           "`type(obj).method(obj, ...)`)")
            call = gast.Call(func=call.args[0], args=call.args[1:], keywords=call.keywords)
            c = self.ctx.resolve_callee(call)
        if c.kind != CalleeKind.USER:
            return
        try:
            plan, bound = frontend.callee_plan(c.fn)
            binding = frontend.bind_call(plan, frontend.parameters(plan.normal), bound, call,
                                         self.ctx.source)
        except Exception:  # noqa: BLE001 - not understood here: the call's own build says why
            return
        rebound = s.targets[0].id if isinstance(s, gast.Assign) and \
            isinstance(s.targets[0], gast.Name) else None
        for p in sorted(frontend.mutated_params(plan)):
            arg = binding.get(p)
            if isinstance(arg, gast.Name) and arg.id in self.active and arg.id != rebound:
                self.error(s, f"s2s cannot differentiate a call of {c.name} that changes its "
                           f"argument `{arg.id}` in place",
                           f"return `{p}` from {c.name} and assign it: `{arg.id} = "
                           f"{c.name}(...)`")

    def fwd_user_call(self, s, callee):
        self.check_captures(s, s.value.args, s.value.keywords)  # a closure passed on
        if self.is_active_atom(s.value.func):  # called by another name (``fn = inner``)
            self.check_function_value(s, s.value.func)
        vjp = self.ctx.user_vjp(callee, s.value, self.active)
        self.records[id(s)] = vjp
        if not vjp.output_active:
            return s
        target = s.targets[0]
        tape = self.namer.new(f"{vjp.short_name}_tape")
        vjp.tape = tape
        call = gast.Call(func=q.name(vjp.fwd_name), args=s.value.args + vjp.extra_args,
                         keywords=s.value.keywords)
        new = gast.Assign(targets=[gast.Tuple(elts=[target, q.store(tape)], ctx=gast.Store())],
                          value=call, type_comment=None)
        self.sites[tape] = self.sites.get(target.id if isinstance(target, gast.Name) else "", 1)
        if target.id in self.in_loop:
            self.in_loop.add(tape)
        return gast.copy_location(new, s)

    # -- reverse sweep ---------------------------------------------------------

    def rev_block(self, stmts, state, depth):
        out = []
        for s in reversed(stmts):
            out.extend(self.rev_stmt(s, state, depth))
        return out

    def rev_stmt(self, s, state, depth):
        if isinstance(s, gast.Assign):
            flags = [self.flags[t] for t in self.saved_targets(s) if t in self.flags]
            if isinstance(s.targets[0], gast.Name):
                code, restored = self.rev_assign(s, state)
            else:
                code, restored = self.rev_unpack(s, state), False
            saved = [] if restored else self.saved_targets(s)
            rec = self.records.get(id(s))
            if getattr(rec, "tape", None) is not None and self.target_in_loop(s):
                saved = saved + [rec.tape]  # pushed after the targets: popped first
            after = self.restore(saved)
            return self.restore(flags) + self.comment(s, code) + after
        if isinstance(s, gast.Expr):
            return self.rev_expr(s, state)
        if isinstance(s, gast.If):
            return [self.rev_if(s, state, depth)]
        if isinstance(s, gast.For):
            return self.rev_for(s, state, depth)
        if isinstance(s, gast.While):
            return self.rev_while(s, state, depth)
        return []

    def comment(self, s, code):
        if not code:
            return []
        text = self.ctx.source.line_text(s)
        if not text or text == self._last_comment:
            return code
        self._last_comment = text
        return [gast.copy_location(_comment(f"grad of: {text}"), s)] + code

    def rev_if(self, s, state, depth):
        s_body = dict(state)
        body = self.rev_block(s.body, s_body, depth)
        s_else = dict(state)
        orelse = self.rev_block(s.orelse, s_else, depth)
        self.join_into(state, s_body, s_else)
        return gast.copy_location(gast.If(test=s.test, body=body or [gast.Pass()], orelse=orelse), s)

    def join_into(self, state, a, b):
        for name in set(a) | set(b):
            sa, sb = a.get(name, ZERO), b.get(name, ZERO)
            joined = _join(sa, sb)
            if joined == MAYBE and ZERO in (sa, sb):
                self.maybe_vars.add(name)
            state[name] = joined

    def loop_body_fixpoint(self, body, state, depth):
        """Reverse code of a loop body, with adjoint states stable across iterations."""
        entry = dict(state)
        for _ in range(8):
            trial = dict(entry)
            snapshot = self.snapshot()
            self.rev_block(body, trial, depth + 1)
            self.rollback(snapshot)
            joined = {}
            self.join_into(joined, entry, trial)
            if joined == entry:
                break
            entry = joined
        final = dict(entry)
        code = self.rev_block(body, final, depth + 1)
        state.clear()
        state.update(entry)
        return code

    def snapshot(self):
        return (set(self.namer.taken), dict(self.adjoints), set(self.maybe_vars), self.stack)

    def rollback(self, snap):
        self.namer.taken, self.adjoints, self.maybe_vars, self.stack = (
            snap[0], snap[1], snap[2], snap[3])

    def rev_for(self, s, state, depth):
        body = self.loop_body_fixpoint(s.body, state, depth)
        trips = self._reverse_trips_loop(s)
        if trips is not None:
            return self._rev_reverse_trips(s, trips, body)
        rev_iter = gast.Call(func=q.name("reversed"), args=[q.copy_tree(s.iter)], keywords=[])
        loop = gast.copy_location(gast.For(target=q.copy_tree(s.target), iter=rev_iter,
                                           body=body or [gast.Pass()], orelse=[], type_comment=None), s)
        return [loop] + self.restore(self.saved_targets(s))

    def _reverse_trips_loop(self, s):
        """The trip counter ``trips`` of ``for _ in range(trips)`` in generated gradient
        code (the reverse sweep of its while loop, see ``rev_while``), else None."""
        counters = getattr(self.ctx.plan.fn, "__s2s_trip_counters__", ())
        it = s.iter
        if isinstance(it, gast.Call) and isinstance(it.func, gast.Name) and it.func.id == "range" \
                and len(it.args) == 1 and not it.keywords and isinstance(it.args[0], gast.Name) \
                and it.args[0].id in counters and isinstance(s.target, gast.Name) \
                and not any(isinstance(n, gast.Name) and n.id == s.target.id
                            and isinstance(n.ctx, gast.Load) for b in s.body for n in gast.walk(b)):
            return it.args[0].id
        return None

    def _rev_reverse_trips(self, s, trips, body):
        """``first = trips; for _ in range(first)``: the reverse of a reverse loop over a
        trip counter, in the order of no consequence (the index is not read). vmap runs it
        ``max(trips)`` times, each example on its first ``trips`` (a batched while's reverse
        sweep ran each on its last ones): it tells the two apart by the ``first`` counter,
        marked on the generated function (``vjp_builder._mark_tape``)."""
        first = self.namer.new(f"{trips}_first")
        self.first_trip_counters.add(first)
        loop = gast.For(target=q.copy_tree(s.target), iter=gast.Call(
            func=q.name("range"), args=[q.name(first)], keywords=[]),
            body=body or [gast.Pass()], orelse=[], type_comment=None)
        return [gast.copy_location(q.assign(first, q.name(trips)), s),
                gast.copy_location(loop, s)] + self.restore(self.saved_targets(s))

    def rev_while(self, s, state, depth):
        trips = self.records[id(s)]
        body = self.loop_body_fixpoint(s.body, state, depth)
        out = []
        if depth > 0:
            out += q.quote("trips = stack.pop()", trips=trips, stack=self.stack_name())
        loop = gast.For(target=q.store("_"), iter=gast.Call(func=q.name("range"), args=[q.name(trips)], keywords=[]),
                        body=body or [gast.Pass()], orelse=[], type_comment=None)
        return out + [gast.copy_location(loop, s)]

    # -- adjoints of single statements -------------------------------------------

    def accumulate(self, operand, expr, state, maybe_none=False):
        """``d[operand] += expr`` given the current adjoint state of ``operand``."""
        name = operand.id
        flag = self.flags.get(name)
        if flag is not None:
            inner = dict(state)
            code = self._accumulate(operand, expr, inner, maybe_none)
            self.join_into(state, state, inner)
            return [gast.If(test=q.name(flag), body=code, orelse=[])]
        return self._accumulate(operand, expr, state, maybe_none)

    def _accumulate(self, operand, expr, state, maybe_none=False):
        name = operand.id
        adj = self.adj(name)
        st = state.get(name, ZERO)
        if st == ZERO:
            state[name] = MAYBE if maybe_none else SET
            return [q.assign(adj, expr)]
        if st == SET and not maybe_none and name in self.array_vars:
            if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
                new = gast.BinOp(left=q.name(adj), op=gast.Sub(), right=expr.operand)
            else:
                new = gast.BinOp(left=q.name(adj), op=gast.Add(), right=expr)
        else:
            new = gast.Call(func=q.name(self.ctx.support("add_grad")), args=[q.name(adj), expr], keywords=[])
        if st == MAYBE and not maybe_none:
            state[name] = SET
        return [q.assign(adj, new)]

    def rev_assign(self, s, state):
        target = s.targets[0].id
        value = s.value
        st = state.get(target, ZERO)
        if self.is_support_call(value, "pop") and (target not in self.active or st == ZERO):
            # Undo the pop so earlier statements see the list as it was; the list's
            # adjoint (if any) gets a zero entry to stay aligned with it.
            xs = value.args[0]
            code = []
            if isinstance(xs, gast.Name) and xs.id in self.active and state.get(xs.id, ZERO) != ZERO:
                code.append(q.assign(self.adj(xs.id), gast.Call(
                    func=q.name(self.ctx.support("push_grad")),
                    args=[q.name(self.adj(xs.id)), q.const(None), q.copy_tree(xs)], keywords=[])))
            return code + q.quote("append(xs, v)", append=self.ctx.support("append"),
                                  xs=q.copy_tree(xs), v=target), False
        if target not in self.active or st == ZERO:
            if self.overwritten(target) and st != ZERO:
                state[target] = ZERO
                return [q.assign(self.adj(target), q.const(None))], False
            return [], False
        dans = self.adj(target)
        code = []
        reads_target = _reads_own_target(s)
        result_name = target
        if reads_target:
            # `y = y * x`: the template's operand y is the old value and its result
            # the new one, so keep the new value and its adjoint aside, then restore y.
            stash = self.namer.new(dans + "_out")
            result_name = self.namer.new(target + "_out")
            code.append(q.assign(result_name, q.name(target)))
            code.append(q.assign(stash, q.name(dans)))
            code.append(q.assign(dans, q.const(None)))
            code += self.restore([t for t in [target] if t in self.saved_targets(s)])
            state[target] = ZERO
            dans_read = stash
        else:
            dans_read = dans
        inner_state = dict(state)
        if self.is_support_call(value, "pop"):
            return code + self.rev_pop(s, value, dans_read, state), reads_target
        items = self.adjoint_items(s, value, result_name, dans_read)
        body = []
        for item in items:
            if isinstance(item, templates.Contribution) and not isinstance(item.operand, gast.Name):
                # d[args] for a tuple/dict of atoms (``*args``): spread over the atoms.
                temp = self.namer.new("b_parts")
                body.append(q.assign(temp, item.expr))
                for sub in self.spread_adjoint(item.operand, temp):
                    if isinstance(sub, templates.Contribution):
                        body += self.accumulate(sub.operand, sub.expr, inner_state, sub.maybe_none)
                    else:
                        body.append(sub)
            elif isinstance(item, templates.Contribution):
                body += self.accumulate(item.operand, item.expr, inner_state, item.maybe_none)
            else:
                body.append(item)
        if st == MAYBE and body:
            code.append(gast.If(test=gast.Compare(left=q.name(dans_read), ops=[gast.IsNot()],
                                                  comparators=[q.const(None)]), body=body, orelse=[]))
            self.join_into(state, state, inner_state)
        else:
            code += body
            state.update(inner_state)
        if not reads_target and self.overwritten(target):
            code.append(q.assign(dans, q.const(None)))
            state[target] = ZERO
        return code, reads_target

    def adjoint_items(self, s, value, target, dans):
        """Template items (statements and contributions) for ``target = value``."""
        keep = self.is_active_atom
        if isinstance(value, (gast.Name,)):
            return [self._contribution(value, q.name(dans))] if keep(value) else []
        if isinstance(value, gast.Constant):
            return []
        if isinstance(value, (gast.BinOp, gast.UnaryOp)):
            callee = self.ctx.operator_callee(value.op)
            if callee.kind == CalleeKind.ZERO:
                return []
            operands = [value.left, value.right] if isinstance(value, gast.BinOp) else [value.operand]
            return self.instantiate(s, callee, target, dans, operands, [])
        if isinstance(value, gast.Call):
            c = self.callee(value)
            if c.kind == CalleeKind.ZERO:
                return []
            if c.kind == CalleeKind.TEMPLATE:
                return self.instantiate(s, c, target, dans, self.call_args(value, c), value.keywords)
            if c.kind == CalleeKind.NORULE:
                if self.is_active_call(value):
                    raise c.error
                return []
            if c.kind == CalleeKind.UNKNOWN:
                return self.dynamic_call_items(s, value, dans) if self.is_active_call(value) else []
            return self.user_call_items(s, value, dans)
        if isinstance(value, gast.Subscript):
            if not keep(value.value):
                return []
            expr = gast.Call(func=q.name(self.ctx.support("getitem_grad")),
                             args=[q.copy_tree(value.value), q.index_value(value.slice), q.name(dans)], keywords=[])
            return [self._contribution(value.value, expr, maybe_none=True)]
        if isinstance(value, (gast.Tuple, gast.List)):
            return self.display_items(value, dans)
        if isinstance(value, gast.Dict):
            items = []
            for k, v in zip(value.keys, value.values):
                if k is not None and keep(v):
                    expr = gast.Call(func=q.name(self.ctx.support("dict_item_grad")),
                                     args=[q.name(dans), q.copy_tree(k)], keywords=[])
                    items.append(self._contribution(v, expr, maybe_none=True))
            return items
        if isinstance(value, gast.Attribute):
            if not keep(value.value):
                return []
            c = self.ctx.attribute_callee(value.attr)
            if c is None or c.kind != CalleeKind.TEMPLATE:
                # A field of a namedtuple (or another pytree): its adjoint is that field.
                expr = gast.Call(func=q.name(self.ctx.support("getattr_grad")),
                                 args=[q.copy_tree(value.value), q.const(value.attr), q.name(dans)],
                                 keywords=[])
                return [self._contribution(value.value, expr, maybe_none=True)]
            return self.instantiate(s, c, target, dans, [value.value], [])
        return []

    def _contribution(self, operand, expr, maybe_none=False):
        return templates.Contribution(operand, expr, None, maybe_none)

    def display_items(self, value, dans):
        n = len(value.elts)
        if any(isinstance(e, gast.Starred) for e in value.elts):
            self.error(value, "s2s cannot differentiate a starred element in a display", "build it with +")
        parts = []
        temps = []
        for e in value.elts:
            if self.is_active_atom(e):
                t = self.namer.new("b" + e.id + "_part")
                parts.append(q.store(t))
                temps.append((e, t))
            else:
                parts.append(q.store("_"))
        if not temps:
            return []
        unpack = gast.Assign(targets=[gast.Tuple(elts=parts, ctx=gast.Store())],
                             value=gast.Call(func=q.name(self.ctx.support("unpack_grad")),
                                             args=[q.name(dans), q.const(n)], keywords=[]), type_comment=None)
        return [unpack] + [self._contribution(e, q.name(t), maybe_none=True) for e, t in temps]

    def check_captures(self, s, args, keywords):
        """A function passed as a value must not read active variables of this one.

        Templates differentiate with respect to the call's arguments; values a
        nested function captures would silently get no gradient.
        """
        local_defs = self._local_defs()
        for a in list(args) + [k.value for k in keywords]:
            if isinstance(a, gast.Name) and a.id in local_defs:
                captured = reads_from_enclosing(local_defs[a.id], self.varied)
                if captured:
                    self.error(s, f"s2s cannot differentiate through {', '.join(map(repr, captured))}, "
                                  f"which the function {a.id!r} reads from the enclosing function",
                               f"pass {', '.join(captured)} to {a.id!r} through the call's arguments "
                               "(e.g. the loop carry) instead of capturing it")

    def check_converted_value(self, s, callee):
        """jit's ``converted_call(fn, a)`` of a function value (``fn =
        s2s.checkpoint(inner)``): as a call of that value, its cotangents are those of
        ``a`` alone, so ``fn`` must not carry differentiated values (see
        check_function_value)."""
        call = s.value
        if callee.name != "converted_call" or not call.args:
            return
        inner = gast.Call(func=call.args[0], args=call.args[1:], keywords=call.keywords)
        if self.ctx.resolve_callee(inner).kind == CalleeKind.UNKNOWN:
            self.check_function_value(s, call.args[0])

    def check_function_value(self, s, func):
        """A function value called here must not carry differentiated values inside it
        (a partial of them, a local function reading them): ``dynamic_vjp``
        differentiates only the call's arguments, so they would silently get no gradient."""
        carried = captured_active(func, self.is_active_atom, self._local_defs(), self.varied, self.body)
        if carried:
            self.error(s, f"s2s cannot differentiate the call `{q.to_source(func)}(...)` of a function "
                          f"value made from the differentiated {', '.join(map(repr, carried))}",
                       "pass those values to the function as arguments, or call it by its name "
                       "(a method: `type(obj).method(obj, ...)`)")

    def _local_defs(self):
        """The functions defined in this one, by name (found once: walking the body at
        every call made long functions, a traced recording say, quadratic to transform)."""
        if self._defs is None:
            self._defs = {n.name: n for n in q.walk(gast.Module(body=self.body, type_ignores=[]))
                          if isinstance(n, gast.FunctionDef)}
        return self._defs

    def instantiate(self, s, callee, target, dans, args, keywords):
        self.check_captures(s, args, keywords)
        try:
            t = templates.parse(callee.template)
            bound = templates.bind(t, q.name(target), list(args), list(keywords))
            scope = getattr(callee.template, "__globals__", {})
            items = templates.instantiate(t, bound, {t.params[0]: dans}, self.namer,
                                          lambda name: self.ctx.free_name(name, scope),
                                          self.ctx.signature_of)
        except templates.TemplateError as e:
            self.error(s, f"cannot differentiate this call: {e}", "call the function without *args/**kwargs")
        items = templates.prune(items, self.has_active_atom)
        if any(isinstance(i, templates.Contribution) and i.starred for i in items):
            self.error(s, "cannot differentiate this call: operands passed as *args to a function "
                          "with a derivative template need adjoints", "pass them one by one")
        for item in items:
            if isinstance(item, templates.Contribution):
                item.expr = self.drop_unbroadcast(item.expr, target)
        return items

    def drop_unbroadcast(self, expr, target):
        """``unbroadcast(g, x)`` -> ``g`` when ``x`` surely has the result's shape."""
        name = self.ctx.support("unbroadcast")
        if isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name) and expr.func.id == name \
                and len(expr.args) == 2 and isinstance(expr.args[1], gast.Name) \
                and self.shapes.same(expr.args[1].id, target):
            return expr.args[0]
        return expr

    def user_call_items(self, s, call, dans):
        vjp = self.records.get(id(s))
        if vjp is None or not vjp.output_active:
            return []
        outs = vjp.active_args  # call-site atoms whose adjoints bwd returns, in order
        bwd = gast.Call(func=q.name(vjp.bwd_name), args=[q.name(vjp.tape), q.name(dans)], keywords=[])
        if len(outs) == 1 and isinstance(outs[0], gast.Name):
            return [self._contribution(outs[0], bwd, maybe_none=True)]
        temps = [self.namer.new("b" + (a.id if isinstance(a, gast.Name) else "args") + "_part") for a in outs]
        items = [gast.Assign(targets=[gast.Tuple(elts=[q.store(t) for t in temps], ctx=gast.Store())]
                             if len(temps) > 1 else [q.store(temps[0])], value=bwd, type_comment=None)]
        for atom, t in zip(outs, temps):
            items += self.spread_adjoint(atom, t)
        return items

    def spread_adjoint(self, atom, adj_name):
        """Contributions of adjoint ``adj_name`` to ``atom`` (a name, or a tuple/dict of atoms)."""
        if isinstance(atom, gast.Name):
            return [self._contribution(atom, q.name(adj_name), maybe_none=True)] \
                if self.is_active_atom(atom) else []
        if isinstance(atom, gast.Tuple):
            parts = [q.store(self.namer.new("b_part")) if self.is_active_atom(e) else q.store("_")
                     for e in atom.elts]
            items = [gast.Assign(targets=[gast.Tuple(elts=parts, ctx=gast.Store())],
                                 value=gast.Call(func=q.name(self.ctx.support("unpack_grad")),
                                                 args=[q.name(adj_name), q.const(len(atom.elts))], keywords=[]),
                                 type_comment=None)]
            for e, p in zip(atom.elts, parts):
                if p.id != "_":
                    items.append(self._contribution(e, q.name(p.id), maybe_none=True))
            return items
        if isinstance(atom, gast.Dict):
            items = []
            for k, v in zip(atom.keys, atom.values):
                if self.is_active_atom(v):
                    expr = gast.Call(func=q.name(self.ctx.support("dict_item_grad")),
                                     args=[q.name(adj_name), q.copy_tree(k)], keywords=[])
                    items.append(self._contribution(v, expr, maybe_none=True))
            return items
        return []

    def is_support_call(self, value, name):
        return isinstance(value, gast.Call) and self.ctx.support_kind(value) == name

    def rev_pop(self, s, call, dans, state):
        """``v = xs.pop()``: the list gets ``v`` back (undo) and its adjoint gets ``bv``."""
        xs = call.args[0]
        target = s.targets[0].id
        code = []
        if isinstance(xs, gast.Name) and xs.id in self.active:
            expr = gast.Call(func=q.name(self.ctx.support("push_grad")),
                             args=[q.name(self.adj(xs.id)) if state.get(xs.id, ZERO) != ZERO else q.const(None),
                                   q.name(dans), q.copy_tree(xs)], keywords=[])
            code.append(q.assign(self.adj(xs.id), expr))
            state[xs.id] = MAYBE if state.get(xs.id, ZERO) == ZERO else state[xs.id]
        code += q.quote("append(xs, v)", append=self.ctx.support("append"), xs=q.copy_tree(xs), v=target)
        if self.overwritten(target):
            code.append(q.assign(dans, q.const(None)))
            state[target] = ZERO
        return code

    def rev_unpack(self, s, state):
        """``a, b = t``: ``bt += (ba, bb)``, then the parts' adjoints are consumed."""
        names = [e.id for e in s.targets[0].elts]
        src = s.value
        code = []
        base = src.value if isinstance(src, gast.Subscript) else src
        if self.is_active_atom(base) and any(state.get(n, ZERO) != ZERO and n in self.active for n in names):
            parts = [q.name(self.adj(n)) if state.get(n, ZERO) != ZERO and n in self.active else q.const(None)
                     for n in names]
            expr = gast.Call(func=q.name(self.ctx.support("pack_grad")),
                             args=[q.copy_tree(src), gast.Tuple(elts=parts, ctx=gast.Load())], keywords=[])
            if isinstance(src, gast.Subscript):
                # W, b = seq[i]: the parts' adjoints go to position i of seq's adjoint.
                expr = gast.Call(func=q.name(self.ctx.support("getitem_grad")),
                                 args=[q.copy_tree(base), q.index_value(src.slice), expr], keywords=[])
            code += self.accumulate(base, expr, state, maybe_none=True)
        for n in names:
            if self.overwritten(n) and state.get(n, ZERO) != ZERO:
                code.append(q.assign(self.adj(n), q.const(None)))
                state[n] = ZERO
        return code

    def rev_expr(self, s, state):
        call = s.value
        if not isinstance(call, gast.Call) or not isinstance(call.func, gast.Name):
            return []
        if self.is_support_call(call, "append") and call.args and isinstance(call.args[0], gast.Name):
            xs = call.args[0]
            # The undo is an assignment, so differentiating this code again undoes it too.
            # It is left out when no earlier statement reads the list: then nothing
            # needs the shorter list, and the list the forward pass built stays whole
            # for derivative code of this derivative code (second order).
            code = q.quote("popped = pop(xs)", popped=self.namer.new("popped"),
                           pop=self.ctx.support("pop"), xs=xs.id) if self.read_before(xs.id, s) else []
            if xs.id in self.active and state.get(xs.id, ZERO) != ZERO:
                part = self.namer.new("b" + xs.id + "_last")
                split = q.quote("bxs, part = split_last_grad(bxs)", bxs=self.adj(xs.id), part=part,
                                split_last_grad=self.ctx.support("split_last_grad"))
                code = split + code
                v = call.args[1]
                if self.is_active_atom(v):
                    code += self.accumulate(v, q.name(part), state, maybe_none=True)
            return self.comment(s, code)
        if self.is_support_call(call, "extend") and call.args and \
                isinstance(call.args[0], gast.Name) and call.args[0].id in self.active:
            self.error(s, "s2s cannot differentiate list.extend yet", "append the items one by one")
        return []

    def read_before(self, name, stmt):
        """Whether list ``name`` is read (other than appended to) by something that runs
        before append statement ``stmt``: earlier statements, enclosing tests, and every
        statement of an enclosing loop (its other iterations)."""
        def reads(node):
            appended = {id(n.args[0]) for n in q.walk(node)
                        if isinstance(n, gast.Call) and n.args and self.is_support_call(n, "append")}
            return any(isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Load)
                       and id(n) not in appended for n in q.walk(node))

        def scan(stmts):  # (reached stmt, read seen)
            for st in stmts:
                if st is stmt:
                    return True, False
                if not any(n is stmt for n in q.walk(st)):
                    if reads(st):
                        return False, True
                    continue
                if isinstance(st, (gast.For, gast.While)):
                    return True, reads(st)
                if isinstance(st, gast.If):
                    branch = st.body if any(n is stmt for b in st.body for n in q.walk(b)) else st.orelse
                    reached, read = scan(branch)
                    return True, read or reads(st.test)
                return True, reads(st)
            return False, False

        reached, read = scan(self.body)
        return read or not reached

    # -- the whole function ----------------------------------------------------

    def run(self):
        forward = [q.assign(self.flags[p], q.const(p in self.ctx.active_params))
                   for p in self.params if p in self.flags]
        forward += self.fwd_block(self.body, 0)
        state = {}
        result = self.result
        seed = []
        result_active = isinstance(result, gast.Name) and result.id in self.active
        if result_active:
            state[result.id] = SET
            self.adj(result.id)
        reverse = self.rev_block(self.body, state, 0)
        param_adjoints = {}
        for p in self.ctx.active_params:
            if p in self.active and state.get(p, ZERO) != ZERO:
                param_adjoints[p] = self.adj(p)
            else:
                param_adjoints[p] = None
        forward, reverse = self.resolve_placeholders(forward, reverse)
        reverse = self.drop_dead_resets(reverse, {a for a in param_adjoints.values() if a})
        adjoint_names = set(self.adjoints.values())
        defined = self.defined_names()
        tape = sorted(n for n in live_in(reverse) - adjoint_names if n in defined)
        if self.stack is not None and self.stack not in tape:
            tape.append(self.stack)
        inits = self.inits(forward, tape)
        adjoint_inits = [q.assign(self.adj(n), q.const(None)) for n in sorted(self.maybe_vars)
                         if n in self.adjoints]
        out = ReverseResult(forward, seed + reverse, result, param_adjoints, tape, inits, adjoint_inits,
                            dict(self.adjoints), result_active)
        out.tape_inits = self.tape_inits
        # vmap tells the tape from user lists, and reverse loops from user loops, by these.
        out.stack = self.stack
        out.trip_counters = tuple(sorted(self.trip_counters))
        out.first_trip_counters = tuple(sorted(self.first_trip_counters))
        out.shape_only = self.shape_only_names & set(tape)
        return out

    def drop_dead_resets(self, reverse, returned):
        """Removes ``bx = None`` where nothing reads ``bx`` before it is assigned again."""
        adjoint_names = set(self.adjoints.values())

        def prune(stmts):
            out = []
            for st in stmts:
                if isinstance(st, gast.Assign) and isinstance(st.targets[0], gast.Name) \
                        and st.targets[0].id in adjoint_names and isinstance(st.value, gast.Constant) \
                        and st.value.value is None and st.targets[0].id not in st._s2s_live_out:
                    continue
                for field in ("body", "orelse"):
                    if isinstance(getattr(st, field, None), list):
                        setattr(st, field, prune(getattr(st, field)) or
                                ([gast.Pass()] if field == "body" else []))
                out.append(st)
            if all(_is_comment_stmt(x) for x in out):
                return []  # a block left with only comments is empty
            return out

        dataflow.annotate(reverse, returned)
        return prune(reverse)

    def defined_names(self):
        names = set(self.params) | set(self.flags.values())
        for node in q.walk(gast.Module(body=self.body, type_ignores=[])):
            if isinstance(node, gast.FunctionDef):
                names.add(node.name)
            elif isinstance(node, gast.Name) and isinstance(node.ctx, gast.Store):
                names.add(node.id)
        for rec in self.records.values():
            if isinstance(rec, str):  # a while loop's trip counter
                names.add(rec)
            elif getattr(rec, "tape", None):
                names.add(rec.tape)
        return names

    def needed(self, reverse):
        """Primal names the reverse sweep reads (restore markers are not reads)."""
        adjoint_names = set(self.adjoints.values())
        reads = {n.id for n in _walk_skipping_markers(reverse)
                 if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
        return reads - adjoint_names

    def shape_only(self, reverse):
        """Primal names the reverse sweep reads only for their shape or dtype (the second
        operand of ``unbroadcast``/``unreduce``, ``x.shape``...): the forward sweep saves
        ``shape_of(x)`` for them, a stand-in without the data."""
        helpers = {support.unbroadcast, support.unreduce}
        total, shaped = {}, {}
        for n in _walk_skipping_markers(reverse):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
                total[n.id] = total.get(n.id, 0) + 1
            operand = None
            if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and len(n.args) >= 2 \
                    and n.func.id in self.ctx.cells and self.ctx.cells[n.func.id].cell_contents in helpers:
                operand = n.args[1]
            elif isinstance(n, gast.Attribute) and n.attr in _SHAPE_ATTRIBUTES:
                operand = n.value
            if isinstance(operand, gast.Name):
                shaped[operand.id] = shaped.get(operand.id, 0) + 1
        return {name for name, k in shaped.items() if total.get(name) == k}

    def resolve_placeholders(self, forward, reverse):
        needed = self.needed(reverse)
        keep = {n for n in needed if self.overwritten(n)}
        self.shape_only_names = self.shape_only(reverse)

        def resolve(stmts, marker, make):
            out = []
            for s in stmts:
                if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
                        isinstance(s.value.func, gast.Name) and s.value.func.id == marker:
                    name = s.value.args[0].id
                    if name in keep:
                        self.uses_stack = True
                        out.extend(make(name))
                    continue
                for field in ("body", "orelse"):
                    if hasattr(s, field) and isinstance(getattr(s, field), list):
                        setattr(s, field, resolve(getattr(s, field), marker, make) or
                                ([gast.Pass()] if field == "body" else []))
                out.append(s)
            return out

        forward = resolve(forward, _PUSH, lambda n: [self.stack_push(n, n in self.shape_only_names)])
        reverse = resolve(reverse, _RESTORE,
                          lambda n: q.quote("x = stack.pop()", x=n, stack=self.stack_name()))
        self.pushed = keep
        return forward, reverse

    def inits(self, forward, tape):
        """The stack, and ``x = None`` for names pushed before they are surely assigned.

        Names the tape holds but that may be unassigned get ``None`` too, in
        ``tape_inits`` (only the fwd/bwd form builds a tape; the combined form
        keeps Python's own error for a variable read before assignment).
        """
        out = []
        if self.uses_stack:
            out += q.quote("stack = []", stack=self.stack_name())
        maybe_unbound = _maybe_unbound_reads(forward, set(self.params), {self.stack_name()} if self.stack else set())
        for n in sorted(maybe_unbound - {self.stack}):
            out.append(q.assign(n, q.const(None)))
        assigned = dataflow.definitely_assigned(forward, set(self.params))
        self.tape_inits = [q.assign(t, q.const(None)) for t in tape
                           if t not in assigned and t not in maybe_unbound and t != self.stack]
        return out


def _is_comment_stmt(node):
    return (isinstance(node, gast.Expr) and isinstance(node.value, gast.Constant)
            and isinstance(node.value.value, str) and node.value.value.startswith("__s2s_comment__"))


def captured_active(func, is_active, local_defs, varied, body=()):
    """The differentiated values the function value ``func`` may carry: itself when it is
    active (``functools.partial(f, x)``), none when ``body`` makes it only from module
    values (``fn = s2s.checkpoint(layer)``, ``layer`` global), else what the local
    functions read from the enclosing function (``fs = [lambda v: v * x]``: any of them
    may be the one called)."""
    if is_active(func):
        return [q.to_source(func)]
    if isinstance(func, gast.Attribute) and is_active(func.value):
        # ``p.energy(x)``: a method bound to a differentiated object, which the dynamic
        # rules (differentiating the arguments only) silently gave no derivative.
        return [q.to_source(func.value)]
    if isinstance(func, gast.Name) and _made_of_module_values(func.id, body, local_defs, varied):
        return []
    return sorted({n for fdef in local_defs.values() for n in reads_from_enclosing(fdef, varied)})


def _made_of_module_values(name, body, local_defs, varied):
    """Whether ``name`` is a parameter or module value (not varied), or every binding of it
    in ``body`` is ``name = g(a, ...)`` with ``g`` and each argument a constant or a name
    (or its attribute) that ``body`` never binds and that is no local function and no
    varied value: a module value or a parameter."""
    nodes = list(q.walk(gast.Module(body=list(body), type_ignores=[])))
    bound = {n.id for n in nodes if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Load)}
    bound |= set(local_defs) | set(varied)
    binds = [n for n in nodes if isinstance(n, gast.Name) and n.id == name
             and not isinstance(n.ctx, gast.Load)]
    assigns = [s for s in nodes if isinstance(s, gast.Assign) and len(s.targets) == 1
               and isinstance(s.targets[0], gast.Name) and s.targets[0].id == name]
    if not binds:  # a parameter or a module value: made before this function ran
        return name not in local_defs and name not in varied
    if len(assigns) != len(binds):  # bound otherwise too (a loop target...)
        return False

    def outside(node):
        while isinstance(node, gast.Attribute):
            node = node.value
        return isinstance(node, gast.Constant) or (isinstance(node, gast.Name) and node.id not in bound)
    return all(isinstance(s.value, gast.Call) and outside(s.value.func)
               and all(outside(a) for a in s.value.args)
               and all(outside(k.value) for k in s.value.keywords) for s in assigns)


def reads_from_enclosing(fdef, varied):
    """The names of ``varied`` the local function ``fdef`` reads from the function around it."""
    return sorted(activity.free_reads(fdef) & varied)


def _is_marker(node, marker):
    return (isinstance(node, gast.Expr) and isinstance(node.value, gast.Call)
            and isinstance(node.value.func, gast.Name) and node.value.func.id == marker)


def _walk_skipping_markers(stmts):
    todo = list(stmts)
    while todo:
        n = todo.pop()
        if _is_marker(n, _RESTORE) or _is_marker(n, _PUSH):
            continue
        yield n
        todo.extend(q.children(n))


def live_in(stmts):
    """Names ``stmts`` read before assigning them (conservative for branches and loops)."""
    out = set()

    def visit(ss, assigned):
        assigned = set(assigned)
        for s in ss:
            if isinstance(s, gast.If):
                _reads_into(s.test, assigned, out)
                a1 = visit(s.body, assigned)
                a2 = visit(s.orelse, assigned)
                assigned |= a1 & a2
            elif isinstance(s, gast.For):
                _reads_into(s.iter, assigned, out)
                visit(s.body, assigned | {s.target.id})
            elif isinstance(s, gast.While):
                _reads_into(s.test, assigned, out)
                visit(s.body, assigned)
            elif isinstance(s, gast.Assign):
                _reads_into(s.value, assigned, out)
                for t in s.targets:
                    if not isinstance(t, gast.Name) and not isinstance(t, gast.Tuple):
                        _reads_into(t, assigned, out)
                assigned |= {n.id for n in q.walk(s.targets[0]) if isinstance(n, gast.Name)
                             and isinstance(n.ctx, gast.Store)}
            else:
                _reads_into(s, assigned, out)
        return assigned

    visit(stmts, set())
    return out


def _reads_into(node, assigned, out):
    for n in q.walk(node):
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and n.id not in assigned:
            out.add(n.id)




def _comment(text):
    return gast.Expr(value=q.const("__s2s_comment__ " + text))




def _maybe_unbound_reads(stmts, assigned, ignore):
    """Names a push reads while they may still be unassigned."""
    out = set()

    def visit(ss, da):
        da = set(da)
        for s in ss:
            if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call) and \
                    isinstance(s.value.func, gast.Attribute) and s.value.func.attr == "append" and \
                    isinstance(s.value.func.value, gast.Name) and s.value.func.value.id in ignore:
                for a in s.value.args:  # `stack.append(x)` or `stack.append(shape_of(x))`
                    a = a.args[0] if isinstance(a, gast.Call) and len(a.args) == 1 else a
                    if isinstance(a, gast.Name) and a.id not in da:
                        out.add(a.id)
            for t in dataflow.targets(s):
                if not isinstance(s, gast.For):
                    da.add(t)
            if isinstance(s, gast.If):
                da |= visit(s.body, da) & visit(s.orelse, da)
            elif isinstance(s, (gast.For, gast.While)):
                inner = set(da)
                if isinstance(s, gast.For):
                    inner.add(s.target.id)
                visit(s.body, inner)
                if isinstance(s, gast.For):
                    pass
        return da

    visit(stmts, assigned)
    return out


def transform(tree, ctx):
    """Reverse-mode transformation of normal-form function ``tree``.

    ``ctx`` supplies the active parameters, the namer, callee resolution and
    support names (see ``s2s.transforms.frontend``). Returns a ``ReverseResult``.
    """
    return _Reverse(tree, ctx).run()
