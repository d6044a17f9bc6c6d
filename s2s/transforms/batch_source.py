"""Batched calls written as plain NumPy: what vmap's build knows about each variable.

vmap builds batched source per call signature. ``describe`` gives the kind of
each argument (an array and its per-example rank, a Python number, a tuple of
those: see ``s2s.numpy.batch_forms``); ``Kinds`` propagates the kinds through the
normal form and writes a batched call whose batch rule has a source form as
NumPy (``np.sum(h, axis=1)``, ``h[:, 1:]``) instead of
``vcall(np.sum, (0,), h)``. A variable's kind joins the kinds of everything
assigned to it anywhere in the function, so it holds wherever the variable is
read; what is unknown (a value an opaque call returns) keeps its ``vcall``.

>>> import numpy as onp
>>> describe(onp.ones((8, 3)), True), describe([onp.ones(2), 1.5], False)
(Array(rank=1), Seq(kind='list', items=(Array(rank=1), Number())))
"""
import contextlib
import operator

import gast
import numpy as onp

from s2s.core.primitive import Tracer
from s2s.numpy import batch_forms as F
from s2s.parse import dataflow, quoting as q
from s2s.parse.normalize import ARRAY_METHODS, VARARGS_SHAPE
from s2s.parse.resolve import MISSING
from s2s.runtime import support
from s2s.transforms import batch, batch_support as S  # (batch: used at build time only)
from s2s.transforms.frontend import twin_binding
import s2s.numpy as snp

OPERATOR_FUNCS = {
    gast.Add: "add", gast.Sub: "sub", gast.Mult: "mul", gast.Div: "truediv",
    gast.FloorDiv: "floordiv", gast.Mod: "mod", gast.Pow: "pow", gast.MatMult: "matmul",
    gast.BitAnd: "and_", gast.BitOr: "or_", gast.BitXor: "xor", gast.LShift: "lshift",
    gast.RShift: "rshift", gast.USub: "neg", gast.UAdd: "pos", gast.Invert: "invert",
    gast.Eq: "eq", gast.NotEq: "ne", gast.Lt: "lt", gast.LtE: "le", gast.Gt: "gt",
    gast.GtE: "ge",
}

_MAX_ITEMS = 32  # longer sequences are not described (their kinds would bloat the key)


def describe(value, batched, depth=0):
    """The kind of argument ``value`` (``batched``: it carries the batch axis first)."""
    if isinstance(value, (onp.ndarray, onp.generic, Tracer)):
        return F.Array(value.ndim - bool(batched))
    if isinstance(value, bool) or value is None:
        return F.Const(value)
    if isinstance(value, S.PairTape) and len(value) <= _MAX_ITEMS:  # entries batched each on its own
        return F.Seq("tuple", tuple(describe(v, b, depth + 1) if b is not None else None
                                    for v, b in zip(value, value.batched)))
    if isinstance(value, (int, float, complex)) and not batched:
        return F.Number()
    if type(value) in (tuple, list) and len(value) <= _MAX_ITEMS and depth < 4:
        return F.Seq(type(value).__name__, tuple(describe(v, batched, depth + 1) for v in value))
    return None


def signature(values):
    """The build key of named arguments: ``values`` maps a name to ``(value, batched)``."""
    return tuple(sorted((name, describe(v, b)) for name, (v, b) in values.items()))


class _Pending(Exception):
    """A value reads a variable nothing was assigned to yet (during the fixpoint)."""


_BOTTOM = object()
_READ_ONLY_SUPPORT = ("as_sequence", "copy", "items", "keys", "values", "dict_get", "concat")
_SHAPE_HELPERS = {len: S.batched_len, snp.shape: S.per_example_shape,
                  support.reduced_count: S.per_example_count}


def _holds_list(kind):
    """Whether a value of ``kind`` is or contains a list the kinds describe (which code
    the build cannot see could mutate in place)."""
    kind = F.present(kind)
    return isinstance(kind, F.Seq) and (kind.kind == "list" or any(
        _holds_list(k) for k in kind.items))


class Kinds:
    """The kinds of one function's variables for one call signature, and the NumPy form
    of its batched expressions."""

    def __init__(self, ctx, signature=()):
        self.ctx = ctx
        self.signature = dict(signature)
        self.result = None  # the returned variable's kind (set by the build)
        self.trust_lists = True
        self.present = set()  # names an enclosing ``if x is not None:`` knows are not None
        self._guards = _none_guards(ctx.plan.normal.body)
        self._skipped = _unbound_inits(ctx)
        self._solve()
        self.mutates_lists = self.lists_mutated  # (a caller's lists it is passed too)
        if self.lists_mutated:  # a list may change behind its name: lists are not described
            self.trust_lists = False
            self._solve()

    # -- the fixpoint
    def _solve(self):
        self.env = {name: self._trusted(kind if name in self.ctx.mapped_params or name not in
                                        self.ctx.batched else _broadcast(kind))
                    for name, kind in self.signature.items()}  # (see batch._build's prologue)
        self.lists_mutated = False
        body = self.ctx.plan.normal.body
        for _ in range(100):
            self.pending = set()
            if not self._block(body):
                if not self.pending:
                    return
                for name in self.pending:  # assigned from something never assigned: unknown
                    self._set(name, None)
        self.env = {}  # no fixpoint (it always has one; belt and braces): nothing known

    def _trusted(self, kind):
        if isinstance(kind, F.Seq):
            if kind.kind == "list" and not self.trust_lists:
                return None
            return F.Seq(kind.kind, tuple(self._trusted(k) for k in kind.items))
        return kind

    def _set(self, name, kind):
        old = self.env.get(name, _BOTTOM)
        new = kind if old is _BOTTOM else F.join(old, kind)
        if old is not _BOTTOM and repr(new) == repr(old):
            return False
        self.env[name] = new
        return True

    def _assign(self, target, value_kind):
        """Binds ``target``'s names; ``value_kind`` is a kind or a thunk that may raise
        ``_Pending``."""
        names = [n.id for n in gast.walk(target) if isinstance(n, gast.Name)]
        try:
            kind = value_kind() if callable(value_kind) else value_kind
        except _Pending:
            self.pending.update(names)
            return False
        return self._bind(target, kind)

    def _bind(self, target, kind):
        if isinstance(target, gast.Name):
            if target.id in self.ctx.batched:  # an unbatched value is broadcast into it
                kind = _broadcast(kind)
            return self._set(target.id, kind)
        if isinstance(target, (gast.Tuple, gast.List)) and not any(
                isinstance(e, gast.Starred) for e in target.elts):
            n = len(target.elts)
            if isinstance(kind, F.Seq) and len(kind.items) == n:
                parts = kind.items
            elif F.is_array(kind) and kind.rank >= 1:
                parts = (F.Array(kind.rank - 1),) * n
            else:
                parts = (None,) * n
            changed = False
            for e, k in zip(target.elts, parts):
                changed |= self._bind(e, k)
            return changed
        changed = False
        for n in gast.walk(target):
            if isinstance(n, gast.Name):
                changed |= self._set(n.id, None)
        return changed

    def _block(self, stmts):
        changed = False
        for s in stmts:
            if isinstance(s, gast.Assign):
                if id(s) in self._skipped or id(s) in self.ctx.unset_result or self._on_tape(s.value):
                    continue  # (the tape gives back what the variable held; no path returns
                    # the early-return slot's first value)
                if self.ctx.is_tape(s.targets[0]):
                    changed |= self._set(s.targets[0].id, None)  # (not described)
                    continue
                changed |= self._assign(s.targets[0], lambda s=s: self.kind(s.value))
            elif isinstance(s, gast.If):
                self._effects(s.test)
                with self.guard(s):
                    changed |= self._block(s.body)
                changed |= self._block(s.orelse)
            elif isinstance(s, gast.While):
                self._effects(s.test)
                changed |= self._block(s.body)
            elif isinstance(s, gast.For):
                changed |= self._assign(s.target, lambda s=s: self._element(s.iter))
                changed |= self._block(s.body) | self._block(s.orelse)
            elif isinstance(s, gast.Expr):
                self._effects(s.value)
            elif isinstance(s, gast.FunctionDef):
                changed |= self._set(s.name, None)
            elif not isinstance(s, (gast.Return, gast.Pass)):
                self.lists_mutated = True  # a statement normal form does not make: unknown
                for n in gast.walk(s):
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store):
                        changed |= self._set(n.id, None)
        return changed

    def _effects(self, node):
        """Evaluates ``node`` for what it may mutate (a call of an opaque function)."""
        if self._on_tape(node):
            return  # the tape is no list the kinds describe (its items keep their own)
        kind = self.ctx.support_call(node)
        if kind is not None and kind not in _READ_ONLY_SUPPORT:
            self.lists_mutated = True
            return
        try:
            self.kind(node)
        except _Pending:
            pass

    def _element(self, it):
        """The kind of the loop variable of ``for v in it``."""
        if isinstance(it, gast.Call) and self.ctx.resolve(it.func) is range:
            return F.Number()
        kind = self.kind(it)
        if isinstance(kind, F.Seq):
            return F.join_all(kind.items)
        if F.is_array(kind) and kind.rank >= 1:
            return F.Array(kind.rank - 1)
        return None

    def _on_tape(self, node):
        """A push or pop on the reverse sweep's tape: in the restore model a pop gives a
        variable back the value a push of it saved (of its own kind, batched as it is)."""
        return self.ctx.support_call(node) in ("append", "pop") and node.args and \
            self.ctx.is_tape(node.args[0])

    @contextlib.contextmanager
    def guard(self, if_stmt):
        """While the body of ``if_stmt`` is read or written: what its test says is not None."""
        name = self._guards.get(id(if_stmt))
        fresh = name is not None and name not in self.present
        if fresh:
            self.present.add(name)
        try:
            yield
        finally:
            if fresh:
                self.present.discard(name)

    # -- kinds of expressions
    def kind(self, node):
        """The kind of the value of normal-form expression ``node`` (None: unknown)."""
        if isinstance(node, gast.Name):
            if node.id in self.env:
                kind = self.env[node.id]
                if node.id not in self.present:
                    return kind
                if kind == F.Const(None):  # only None so far: the guarded code waits
                    raise _Pending(node.id)
                return F.present(kind)
            if node.id in self.ctx.plan.locals:
                raise _Pending(node.id)
            return None  # a global: it may be rebound between calls
        if isinstance(node, gast.Constant):
            return F.Const(node.value)
        if isinstance(node, (gast.Tuple, gast.List)):
            items = tuple(self.kind(e) for e in node.elts)
            if isinstance(node, gast.List) and not self.trust_lists:
                return None
            return F.Seq("tuple" if isinstance(node, gast.Tuple) else "list", items)
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
            value = self.kind(node.operand)
            if isinstance(value, F.Const) and isinstance(value.value, (int, float, complex)) \
                    and not isinstance(value.value, bool):
                return F.Const(-value.value if isinstance(node.op, gast.USub) else value.value)
        site = self._site(node)
        if site is None:
            if not (isinstance(node, gast.Compare) and all(
                    isinstance(op, (gast.Is, gast.IsNot)) for op in node.ops)):
                self._escapes(node)  # (``x is None`` changes nothing)
            return None
        form, site = site
        out = form(site) if form is not None else None
        if out is None:
            if isinstance(node, gast.Call) and not _pure(self.ctx.resolve(node.func)):
                self._escapes(node)
            return None
        kind = out[1]
        if isinstance(node, gast.Compare) and isinstance(kind, F.Number):
            return None  # a bool, not a number an index could use
        return kind

    def _escapes(self, node):
        """A described list reaching code the build cannot see (an opaque call, a dict) may
        be mutated there: then no list is described."""
        for n in gast.walk(node):
            if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load) and \
                    _holds_list(self.env.get(n.id)):
                self.lists_mutated = True

    def _operand(self, node):
        batched = bool({n.id for n in gast.walk(node) if isinstance(n, gast.Name)}
                       & self.ctx.batched)
        if isinstance(node, gast.Slice):
            for part in (node.lower, node.upper, node.step):
                if part is not None:
                    self.kind(part)  # pending reads wait
            return F.Operand(node, batched, F.SliceKind())
        return F.Operand(node, batched, self.kind(node))

    def _site(self, node):
        """``(form, Site)`` for an expression a source form may write, or None."""
        np_attr = self._np
        if isinstance(node, gast.BinOp):
            args = [node.left, node.right]
            return self._operator_site(node.op, args, lambda n, kw=None: gast.BinOp(
                left=n[0], op=node.op, right=n[1]))
        if isinstance(node, gast.UnaryOp) and not isinstance(node.op, gast.Not):
            return self._operator_site(node.op, [node.operand], lambda n, kw=None: gast.UnaryOp(
                op=node.op, operand=n[0]))
        if isinstance(node, gast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in OPERATOR_FUNCS:
                return None
            return self._operator_site(node.ops[0], [node.left] + node.comparators,
                                       lambda n, kw=None: gast.Compare(
                                           left=n[0], ops=node.ops, comparators=[n[1]]))
        if isinstance(node, gast.Subscript):
            parts = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
            args = [self._operand(node.value)] + [self._operand(p) for p in parts]

            def rebuild(n, kw=None):
                index = n[1] if len(n) == 2 and not isinstance(node.slice, gast.Tuple) else \
                    gast.Tuple(elts=n[1:], ctx=gast.Load())
                return gast.Subscript(value=n[0], slice=index, ctx=gast.Load())
            return F.form_of(S.getitem), F.Site(None, args, {}, rebuild, np_attr)
        if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name) \
                and node.value.id in self.ctx.plan.locals | set(self.signature):
            return F.form_of(S.batched_attr), F.Site(node.attr, [self._operand(node.value)], {},
                                                      None, np_attr)
        if isinstance(node, gast.Call):
            return self._call_site(node)
        return None

    def _operator_site(self, op, operands, rebuild):
        fn = getattr(operator, OPERATOR_FUNCS[type(op)], None) if type(op) in OPERATOR_FUNCS \
            else None
        form = F.form_of(S.batch_rule(fn)) if fn is not None else None
        args = [self._operand(o) for o in operands]
        return form, F.Site(None, args, {}, rebuild, self._np, operator=True)

    def _call_site(self, call):
        ctx = self.ctx
        kind = ctx.support_call(call)
        if kind is not None:
            if kind in ("as_sequence", "copy") and len(call.args) == 1:
                return _identity, F.Site(None, [self._operand(call.args[0])], {}, None, self._np)
            if _updates_array(kind, call) and F.is_array(self.kind(call.args[0])):
                return _identity, F.Site(None, [self._operand(call.args[0])], {}, None, self._np)
            if kind not in _READ_ONLY_SUPPORT and call.args and not F.is_array(
                    self.kind(call.args[0])):
                self.lists_mutated = True  # setitem, pop on a list: in place
            return None
        if any(isinstance(a, gast.Starred) for a in call.args) or any(
                k.arg is None for k in call.keywords):
            return None
        obj = ctx.resolve(call.func)
        if obj is MISSING:
            return self._method_site(call)
        if obj is slice and not call.keywords:  # (an index of the same slice for every example)
            return _slice_form, F.Site(call.func, [self._operand(a) for a in call.args], {},
                                       None, self._np)
        if obj in (range, reversed) and not call.keywords:
            return (lambda site, rev=obj is reversed: _range_form(site, rev)), F.Site(call.func, [self._operand(a) for a in call.args], {},
                                       None, self._np)
        helper = _SHAPE_HELPERS.get(obj) if _hashable(obj) else None
        twin = twin_binding(obj) if helper is None else None
        if helper is not None:
            form = F.form_of(helper)
        elif _hashable(twin or obj) and (twin or obj) in _CREATION:
            form = _creation_form
        else:
            rule = S.batch_rule(twin if twin is not None else obj)
            form = F.form_of(rule) if rule is not None else self._callee_form(obj, call)
        args = [self._operand(a) for a in call.args]
        kwargs = {k.arg: self._operand(k.value) for k in call.keywords}

        def rebuild(nodes, keywords=None):
            return gast.Call(func=call.func, args=list(nodes),
                             keywords=list(call.keywords) if keywords is None else keywords)
        return form, F.Site(call.func, args, kwargs, rebuild, self._np)

    def _callee_form(self, obj, call):
        """A user function's call keeps its ``vcall`` (its batched source runs), but the kind
        of its result is that of the function's own batched build for these arguments."""
        plan = batch.plan_or_none(obj) if batch.specialized_by_callers(obj) else None
        if plan is None:
            return None
        params = dataflow.parameters(plan.normal, varargs=False, keyword_only=False)
        named = {k.arg for k in call.keywords}
        if len(call.args) > len(params) or not named <= set(params[len(call.args):]) \
                or len(named) != len(call.keywords):
            return None  # (**kwargs, a keyword-only parameter: not described)
        operands = dict(zip(params, (self._operand(a) for a in call.args)))
        operands.update({k.arg: self._operand(k.value) for k in call.keywords})
        names = frozenset(p for p, o in operands.items() if o.batched)
        if not names:
            return None
        built = batch.build_now(obj, names, tuple(sorted(
            (p, o.kind) for p, o in operands.items())))
        if built is None or built.mutates_lists:
            self._escapes(call)
        if built is None or built.result_kind is None:
            return None
        return lambda site: (None, built.result_kind)

    def _method_site(self, call):
        """``x.sum(axis=1)`` of an array ``x``: the NumPy function the method means."""
        func = call.func
        if not (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)
                and func.attr in ARRAY_METHODS):
            return None
        x = self._operand(func.value)
        if not F.is_array(x.kind):
            return None
        name = ARRAY_METHODS[func.attr]
        args = [self._operand(a) for a in call.args]
        if func.attr in VARARGS_SHAPE and len(args) > 1:  # x.reshape(2, 3)
            args = [F.Operand(gast.Tuple(elts=[a.node for a in args], ctx=gast.Load()),
                              any(a.batched for a in args),
                              F.Seq("tuple", tuple(a.kind for a in args)))]
        kwargs = {k.arg: self._operand(k.value) for k in call.keywords}

        def rebuild(nodes, keywords=None):
            return q.call(self._np(name), nodes, list(call.keywords) if keywords is None
                          else keywords)
        form = F.form_of(S.batch_rule(getattr(snp, name, None)))
        return form, F.Site(self._np(name), [x] + args, kwargs, rebuild, self._np)

    def _np(self, name):
        return gast.Attribute(value=q.name(self.ctx.plan.np_name), attr=name, ctx=gast.Load())

    # -- writing
    def emit(self, node):
        """``node`` (a normal-form value with a batched operand) as NumPy, or None when its
        form needs what the build does not know (the caller writes ``vcall``)."""
        try:
            site = self._site(node)
        except _Pending:
            return None
        if site is None or site[0] is None or not site[1].batched:
            return None
        if any(k.batched for k in site[1].kwargs.values()):
            return None
        out = site[0](site[1])
        return out[0] if out is not None else None


# Helpers of gradient code that build new containers and never change their arguments.
_PURE = frozenset(getattr(support, name) for name in (
    "add_grad", "getitem_grad", "complete_grad", "pack_grad", "unpack_grad", "unbroadcast", "unreduce",
    "scalar_seed", "shape_of", "dot_grad_lhs", "dot_grad_rhs", "matmul_grad_lhs",
    "matmul_grad_rhs", "sum_grads", "repeat_grad", "setitem_grad", "index_grad"))


def _pure(obj):
    return _hashable(obj) and obj in _PURE


def _none_guards(body):
    """``{id(if): x}`` for each ``c = x is not None`` directly followed by ``if c:`` whose
    body does not assign ``x`` (the reverse sweep's guard of a maybe-zero adjoint)."""
    out = {}
    todo = [body]
    while todo:
        stmts = todo.pop()
        for prev, s in zip([None] + stmts[:-1], stmts):
            for field in ("body", "orelse"):
                if isinstance(getattr(s, field, None), list):
                    todo.append(getattr(s, field))
            if not (isinstance(s, gast.If) and isinstance(s.test, gast.Name)
                    and isinstance(prev, gast.Assign) and isinstance(prev.targets[0], gast.Name)
                    and prev.targets[0].id == s.test.id):
                continue
            v = prev.value
            if isinstance(v, gast.Compare) and isinstance(v.left, gast.Name) and len(v.ops) == 1 \
                    and isinstance(v.ops[0], gast.IsNot) and isinstance(v.comparators[0], gast.Constant) \
                    and v.comparators[0].value is None \
                    and v.left.id not in batch._assigned(s.body):
                out[id(s)] = v.left.id
    return out


def _unbound_inits(ctx):
    """The ``x = None`` that gradient code starts with for names it pushes before they
    are surely assigned (``__s2s_unbound_inits__``): only the tape reads that None."""
    names = set(getattr(ctx.plan.fn, "__s2s_unbound_inits__", ()))
    out = set()
    for s in ctx.plan.normal.body:
        if not names:
            break
        if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name) \
                and s.targets[0].id in names:
            names.discard(s.targets[0].id)
            if isinstance(s.value, gast.Constant) and s.value.value is None:
                out.add(id(s))
        elif not isinstance(s, gast.Assign):
            break
    return out


def _broadcast(kind):
    """The kind of ``broadcast_batch`` of a value of ``kind``: numbers become arrays."""
    if isinstance(kind, F.Number) or isinstance(kind, F.Const) and isinstance(
            kind.value, (int, float, complex)):
        return F.Array(0)
    if isinstance(kind, F.Seq):
        return F.Seq(kind.kind, tuple(_broadcast(k) for k in kind.items))
    if isinstance(kind, F.Opt):
        inner = _broadcast(kind.kind)
        return F.Opt(inner) if inner is not None else None
    if isinstance(kind, F.Const) and kind.value is not None:
        return None  # a string becomes an array of strings
    return kind


_CREATION = (snp.zeros, snp.ones, snp.empty, snp.full)  # (shape, ...): an array of that rank
_AT_KEEPS_SHAPE = ("set", "add", "subtract", "multiply", "divide", "power", "min", "max")


def _updates_array(kind, call):
    """Whether support call ``call`` (of ``kind``) is ``setitem(x, i, v)`` or an ``.at[i]``
    update (``at_update(x, i, "add", v)``): of an array ``x``, an array like it."""
    if call.keywords:
        return False
    if kind == "setitem":
        return len(call.args) == 3
    return kind == "at_update" and len(call.args) == 4 and isinstance(
        call.args[2], gast.Constant) and call.args[2].value in _AT_KEEPS_SHAPE


def _creation_form(site):
    """``np.zeros(shape)`` and the like, of a shape the same for every example."""
    if site.batched or not site.args:
        return None
    shape = site.args[0].kind
    if F.rank_of(shape) == 0 and not F.is_array(shape):
        return None, F.Array(1)
    if isinstance(shape, F.Seq) and all(F.rank_of(k) == 0 and not F.is_array(k)
                                        for k in shape.items):
        return None, F.Array(len(shape.items))
    value = F.const_value(shape, None)
    if isinstance(value, tuple) and all(isinstance(v, int) for v in value):
        return None, F.Array(len(value))
    return None


def _identity(site):
    """``as_sequence`` and ``copy`` keep a tuple, list or array as it is (the call stays)."""
    (x,) = site.args
    return (None, x.kind) if isinstance(x.kind, (F.Seq, F.Array, F.Range)) else None


def _slice_form(site):
    """``slice(a, b, c)`` of unbatched bounds (the call stays)."""
    if site.batched or not 1 <= len(site.args) <= 3:
        return None
    if not all(F.rank_of(a.kind) == 0 and not F.is_array(a.kind) or a.kind == F.Const(None)
               for a in site.args):
        return None
    return None, F.SliceKind()


def _range_form(site, rev):
    """``range(n)`` and ``reversed(range(n))`` of unbatched numbers (the call stays)."""
    if site.batched or not site.args:
        return None
    if rev:
        return (None, F.Range()) if len(site.args) == 1 and site.args[0].kind == F.Range() \
            else None
    if all(F.rank_of(a.kind) == 0 and not F.is_array(a.kind) for a in site.args):
        return None, F.Range()
    return None


def _hashable(obj):
    try:
        hash(obj)
    except TypeError:
        return False
    return True
