"""Normalization: desugaring and A-normal form (ANF).

The transformations (``s2s.transforms``) only ever see functions in this
*normal form*:

* The body ends with a single ``return <atom>``; earlier returns became
  assignments to ``result`` (in tail position) or a ``returned`` flag.
* ``break``/``continue`` are gone: a ``broke``/``skip`` flag guards the rest of
  the loop body (``if not broke: ...``); a ``for`` loop that may break became a
  ``while`` loop over a counter.
* ``for`` loops run over ``range(...)`` with atom arguments; loops over other
  sequences became index loops (``xs_items = as_sequence(xs)``, then
  ``for i in range(len(xs_items)): x = xs_items[i]``), and
  ``enumerate``/``zip``/``reversed``/dict views are spelled out the same way.
* ``while <name>:``: the condition is a name, recomputed at the end of the body.
* ``if <atom>:``: the test is a name or constant.
* Every other statement is ``target = <operation>`` or an expression statement
  that is a call (``append(xs, v)``, ``print(...)``); an operation has only
  *atoms* as operands. An atom is a name, a constant, or a static reference
  (a chain like ``np.pi`` rooted at a non-local name).
* Assignment targets are a name or a tuple of names (``W, b = layer``).
  ``x[i] = v`` became ``x = setitem(x, i, v)`` (value semantics); augmented
  assignment, multiple targets, ``and``/``or``, chained comparisons,
  conditional expressions, comprehensions and lambdas are spelled out.
* Nested functions that are only called directly take the enclosing
  variables they read as extra parameters (lambda lifting).
* Method calls and attributes of values stay as written (``x.sum(0)``,
  ``x.T``): the object may not be an array. Transformations look array methods
  up by name (``ARRAY_METHODS``). List and dict methods became calls of the
  support functions (``append``, ``items``...), see ``SUPPORT_CALLS``.

Every statement keeps the line number of the user's statement it came from, so
generated code can say ``# grad of: <line>`` and errors can point at the user's
file. Temporaries get readable names (``t``, ``num``/``den`` for a division's
operands, ``result`` for the returned value).
"""
import types

import gast

from s2s.core.errors import UnsupportedSyntaxError
from s2s.parse import dataflow, quoting as q
from s2s.parse.resolve import MISSING, local_names, lookup, static_chain

# Support functions that normal form calls by these names (bound by codegen).
SUPPORT_CALLS = ("append", "extend", "pop", "items", "keys", "values", "dict_get", "copy",
                 "as_sequence", "at_update", "concat", "setitem")
# ``x.at[i].<op>(v)``: JAX-style functional updates, spelled ``at_update(x, i, "<op>", v)``.
AT_METHODS = ("set", "add", "subtract", "multiply", "divide", "power", "min", "max", "get", "apply")

# Array methods and attributes -> the NumPy function with the same meaning
# (``x.reshape(2, 3)``/``x.transpose(1, 0)`` take their shape as varargs too).
VARARGS_SHAPE = {"reshape", "transpose"}
ARRAY_METHODS = {
    "sum": "sum", "mean": "mean", "prod": "prod", "max": "max", "min": "min",
    "std": "std", "var": "var", "argmax": "argmax", "argmin": "argmin", "any": "any",
    "all": "all", "cumsum": "cumsum", "cumprod": "cumprod", "reshape": "reshape",
    "transpose": "transpose", "astype": "astype", "dot": "dot", "flatten": "ravel",
    "ravel": "ravel", "squeeze": "squeeze", "clip": "clip", "round": "round",
    "conj": "conj", "conjugate": "conj", "swapaxes": "swapaxes", "take": "take",
    "repeat": "repeat", "trace": "trace", "diagonal": "diagonal", "nonzero": "nonzero",
    "argsort": "argsort", "ptp": "ptp", "sort": "sort",
}
ARRAY_ATTRIBUTES = {"T": "transpose", "real": "real", "imag": "imag", "mT": "matrix_transpose"}
# Methods shared by lists/dicts/arrays: dispatched at run time by support functions.
CONTAINER_METHODS = {"append": "append", "extend": "extend", "pop": "pop", "items": "items",
                     "keys": "keys", "values": "values", "get": "dict_get", "copy": "copy"}


def _loc(new, old):
    """Copies ``old``'s location onto ``new`` and everything under it lacking one."""
    if isinstance(new, list):
        for n in new:
            _loc(n, old)
        return new
    for n in q.walk(new):
        if getattr(n, "lineno", None) is None and hasattr(old, "lineno"):
            gast.copy_location(n, old)
    return new


def _contains(stmts, kinds, stop_at_loops=False):
    """True when ``stmts`` contain a node of ``kinds`` (not looking into nested defs)."""
    todo = list(stmts)
    while todo:
        n = todo.pop()
        if isinstance(n, kinds):
            return True
        if isinstance(n, (gast.FunctionDef, gast.Lambda, gast.ClassDef)):
            continue
        if stop_at_loops and isinstance(n, (gast.For, gast.While)):
            continue
        todo.extend(q.children(n))
    return False


def _not(flag):
    return gast.UnaryOp(op=gast.Not(), operand=q.name(flag))


def _guard_rest(stmts, may_set, flag, visit):
    """After a statement that may set ``flag``, wraps the rest in ``if not flag:``."""
    out = []
    for i, s in enumerate(stmts):
        s = visit(s)
        out.extend(s if isinstance(s, list) else [s])
        if may_set(s if not isinstance(s, list) else s[-1] if s else None):
            rest = stmts[i + 1:]
            if rest:
                inner = _guard_rest(rest, may_set, flag, visit)
                out.append(_loc(gast.If(test=_not(flag), body=inner, orelse=[]), rest[0]))
            break
    return out


# ---------------------------------------------------------------------------
# Pass 1: returns.


class _NeedFlags(Exception):
    pass


def _tail_returns(stmts, result):
    """Turns returns into ``result = v`` when each is in tail position.

    Statements after an ``if`` that returns on one side move into the other side.
    Returns ``(stmts, always_returns)``; raises ``_NeedFlags`` when that would
    duplicate code or a return sits inside a loop.
    """
    for i, s in enumerate(stmts):
        if isinstance(s, gast.Return):
            value = s.value if s.value is not None else q.const(None)
            return stmts[:i] + [_loc(q.assign(result, value), s)], True
        if isinstance(s, (gast.For, gast.While)) and _contains([s], gast.Return):
            raise _NeedFlags
        if isinstance(s, gast.If) and _contains([s], gast.Return):
            rest = stmts[i + 1:]
            body, b_ret = _tail_returns(s.body, result)
            orelse, o_ret = _tail_returns(s.orelse, result)
            if rest and not (b_ret and o_ret):
                if b_ret:
                    orelse, o_ret = _tail_returns(s.orelse + rest, result)
                elif o_ret:
                    body, b_ret = _tail_returns(s.body + rest, result)
                else:
                    raise _NeedFlags
            new = gast.If(test=s.test, body=body or [gast.Pass()], orelse=orelse)
            return stmts[:i] + [gast.copy_location(new, s)], b_ret and o_ret
    return stmts, False


class _ReturnFlags:
    """Returns anywhere (loops included): ``result = v; returned = True`` plus guards."""

    def __init__(self, result, flag):
        self.result = result
        self.flag = flag

    def block(self, stmts):
        return _guard_rest(stmts, self._sets_flag, self.flag, self.visit)

    def _sets_flag(self, s):
        if s is None:
            return False
        for n in q.walk(s):
            if isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name) \
                    and n.targets[0].id == self.flag:
                return True
        return False

    def visit(self, s):
        if isinstance(s, gast.Return):
            value = s.value if s.value is not None else q.const(None)
            return _loc([q.assign(self.result, value), q.assign(self.flag, q.const(True))], s)
        if isinstance(s, gast.If):
            s.body = self.block(s.body) or [gast.Pass()]
            s.orelse = self.block(s.orelse)
            return s
        if isinstance(s, (gast.For, gast.While)) and _contains([s], gast.Return):
            # A return leaves every enclosing loop: it acts as a break here.
            s.body = self.block(s.body)
            s.body = _loc([gast.If(test=_not(self.flag), body=s.body, orelse=[])], s) \
                if isinstance(s, gast.For) else s.body
            if isinstance(s, gast.While):
                s.test = gast.BoolOp(op=gast.And(), values=[s.test, _not(self.flag)])
            s._s2s_exit_flag = self.flag
            return s
        return s


def lower_returns(fdef, namer):
    """Pass 1: a single ``return result`` at the end of the body."""
    body = list(fdef.body)
    result = namer.new("result")
    try:
        if not isinstance(body[-1], gast.Return):
            body = body + [_loc(gast.Return(value=None), body[-1])]
        new_body, _ = _tail_returns(body, result)
    except _NeedFlags:
        flag = namer.new("returned")
        lowering = _ReturnFlags(result, flag)
        new_body = _loc([q.assign(result, q.const(None)), q.assign(flag, q.const(False))], fdef.body[0])
        new_body += lowering.block(body)
        # Every path assigns ``result`` before the final return (the appended ``return
        # None`` included): its first value is never returned (vmap reads it as unset).
        fdef._s2s_return_slot = result
    fdef.body = new_body + [_loc(gast.Return(value=q.name(result)), body[-1])]
    return fdef


# ---------------------------------------------------------------------------
# Pass 2: break and continue.


class _JumpLowering:
    """Replaces ``break``/``continue`` by flags; loops that may break become ``while``."""

    def __init__(self, namer, support):
        self.namer = namer
        self.support = support

    def block(self, stmts):
        out = []
        for s in stmts:
            r = self.stmt(s)
            out.extend(r if isinstance(r, list) else [r])
        return out

    def stmt(self, s):
        if isinstance(s, gast.If):
            s.body = self.block(s.body) or [gast.Pass()]
            s.orelse = self.block(s.orelse)
            return s
        if isinstance(s, (gast.For, gast.While)):
            return self.loop(s)
        return s

    def loop(self, loop):
        loop.body = self.block(loop.body)  # inner loops first: their jumps are their own
        has_break = _contains(loop.body, gast.Break, stop_at_loops=True)
        has_continue = _contains(loop.body, gast.Continue, stop_at_loops=True)
        pre = []
        if loop.orelse:
            if has_break:
                loop, pre_else = self._lower_else(loop)
                return pre_else
            else_body = self.block(loop.orelse)
            loop.orelse = []
            return [loop] + else_body
        if has_continue:
            skip = self.namer.new("skip")
            loop.body = _loc([q.assign(skip, q.const(False))], loop) + _guard_rest(
                loop.body, lambda s: _sets(s, skip, gast.Continue), skip, lambda s: _replace_jump(s, gast.Continue, skip))
        if has_break:
            broke = self.namer.new("broke")
            pre = _loc([q.assign(broke, q.const(False))], loop)
            loop.body = _guard_rest(loop.body, lambda s: _sets(s, broke, gast.Break), broke,
                                    lambda s: _replace_jump(s, gast.Break, broke))
            loop = self._exit_on(loop, broke)
        return pre + (loop if isinstance(loop, list) else [loop])

    def _lower_else(self, loop):
        else_body = self.block(loop.orelse)
        loop.orelse = []
        broke = self.namer.new("broke")
        pre = _loc([q.assign(broke, q.const(False))], loop)
        loop.body = _guard_rest(loop.body, lambda s: _sets(s, broke, gast.Break), broke,
                                lambda s: _replace_jump(s, gast.Break, broke))
        new_loop = self._exit_on(loop, broke)
        after = [_loc(gast.If(test=_not(broke), body=else_body, orelse=[]), loop)]
        return loop, pre + (new_loop if isinstance(new_loop, list) else [new_loop]) + after

    def _exit_on(self, loop, flag):
        """A loop that stops as soon as ``flag`` is set."""
        if isinstance(loop, gast.While):
            loop.test = gast.BoolOp(op=gast.And(), values=[loop.test, _not(flag)])
            return loop
        # for i in range(a, b): a counter in a while loop that stops at the break.
        # Other sequences keep their `for`, with the body skipped once broken
        # (their length is known, so under jit the loop runs in Python).
        it = loop.iter
        if not (_is_range(it) and len(it.args) <= 2):
            loop.body = [_loc(gast.If(test=_not(flag), body=loop.body, orelse=[]), loop)]
            return loop
        k = self.namer.new("k")
        start = it.args[0] if len(it.args) == 2 else q.const(0)
        stmts = [q.assign(k, start)]
        test = gast.BoolOp(op=gast.And(), values=[
            gast.Compare(left=q.name(k), ops=[gast.Lt()], comparators=[it.args[-1]]), _not(flag)])
        body = [gast.Assign(targets=[loop.target], value=q.name(k), type_comment=None)]
        body += loop.body
        body.append(q.assign(k, gast.BinOp(left=q.name(k), op=gast.Add(), right=q.const(1))))
        new = gast.While(test=test, body=body, orelse=[])
        return _loc(stmts + [new], loop)


def _is_range(node):
    return (isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == "range"
            and not node.keywords and not any(isinstance(a, gast.Starred) for a in node.args))


def _sets(s, flag, kind):
    if s is None:
        return False
    for n in q.walk(s):
        if isinstance(n, kind):
            return True
        if isinstance(n, gast.Assign) and isinstance(n.targets[0], gast.Name) and n.targets[0].id == flag:
            return True
    return False


def _replace_jump(s, kind, flag):
    """Replaces jumps of ``kind`` (not inside inner loops) by ``flag = True``."""
    if isinstance(s, kind):
        return _loc(q.assign(flag, q.const(True)), s)
    if isinstance(s, gast.If):
        s.body = _guard_rest(s.body, lambda x: _sets(x, flag, kind), flag,
                             lambda x: _replace_jump(x, kind, flag)) or [gast.Pass()]
        s.orelse = _guard_rest(s.orelse, lambda x: _sets(x, flag, kind), flag,
                               lambda x: _replace_jump(x, kind, flag))
    return s


def lower_jumps(fdef, namer, support):
    """Pass 2: no ``break``/``continue`` left."""
    fdef.body = _JumpLowering(namer, support).block(fdef.body)
    return fdef


# ---------------------------------------------------------------------------
# Pass 3: A-normal form.


class _ANF:
    """Flattens expressions into one operation per statement (see module docstring)."""

    def __init__(self, source, fdef, namer, np_name, support, enclosing_locals=frozenset()):
        self.source = source
        self.namer = namer
        self.np_name = np_name
        self.support = support
        self.locals = local_names(fdef)
        self.enclosing_locals = set(enclosing_locals)
        self.out = None
        self.where = fdef
        self.sequences = _sequence_names(fdef)

    # -- helpers -----------------------------------------------------------

    def error(self, node, what, hint):
        raise UnsupportedSyntaxError(
            f"s2s cannot transform {what} (`{self.source.line_text(node)}`)",
            filename=self.source.filename, lineno=self.source.file_line(node),
            construct=what, hint=hint)

    def emit(self, stmt):
        self.out.append(_loc(stmt, self.where))

    def temp(self, hint="t"):
        name = self.namer.new(hint)
        self.locals.add(name)
        return name

    def is_local(self, name):
        return name in self.locals or name in self.enclosing_locals

    def is_static(self, e):
        chain = static_chain(e)
        return chain is not None and not self.is_local(chain[0]) and (
            isinstance(e, gast.Attribute) or isinstance(e, gast.Name))

    def is_constant_chain(self, e):
        """A static reference that reads the same on every evaluation (``np.pi``,
        ``Config.SCALE``): its prefix is modules and classes. Any other attribute
        read (``obj.attr``, maybe a property) is evaluated once into a temporary,
        so that a transformation reading it twice (the backward pass) reads
        the value the forward pass used."""
        if not self.is_static(e):
            return False
        chain = static_chain(e)
        obj = lookup(self.source, chain[0])
        for attr in chain[1:]:
            if not isinstance(obj, (types.ModuleType, type)):
                return False
            obj = getattr(obj, attr, MISSING)
        return obj is not MISSING

    # -- blocks and statements --------------------------------------------

    def block(self, stmts):
        saved = self.out
        self.out = []
        try:
            for s in stmts:
                saved_where = self.where
                self.where = s if hasattr(s, "lineno") else self.where
                try:
                    getattr(self, "visit_" + type(s).__name__, self.generic_stmt)(s)
                finally:
                    self.where = saved_where
            return self.out
        finally:
            self.out = saved

    def generic_stmt(self, s):
        self.error(s, f"a {type(s).__name__} statement", "rewrite it with assignments, if, for or while")

    def visit_Pass(self, s):
        pass

    def visit_Expr(self, s):
        v = s.value
        if isinstance(v, gast.Constant):
            return  # docstrings and bare constants
        op = self.op(v)
        if isinstance(op, gast.Call):
            self.emit(gast.Expr(value=op))

    def visit_Assign(self, s):
        if len(s.targets) > 1:
            src = self.atom(s.value)
            for t in s.targets:
                self.assign_to(t, src)
        else:
            self.assign_to(s.targets[0], s.value)

    def visit_AnnAssign(self, s):
        if s.value is not None:
            self.assign_to(s.target, s.value)

    def visit_AugAssign(self, s):
        t = s.target
        if isinstance(t, gast.Name):
            self.assign_to(t, gast.BinOp(left=q.name(t.id), op=s.op, right=s.value))
        elif isinstance(t, gast.Subscript):
            base = self.atom(t.value)
            index = self.index(t.slice)
            old = self.temp()
            self.emit(q.assign(old, gast.Subscript(value=q.copy_tree(base), slice=index, ctx=gast.Load())))
            new = self.temp()
            self.emit(q.assign(new, gast.BinOp(left=q.name(old), op=s.op, right=self.atom(s.value))))
            self.store_index(base, q.copy_tree(index), q.name(new), t)
        else:
            self.error(s, "this augmented assignment", "assign to a name or an index")

    def assign_to(self, target, value):
        if isinstance(target, gast.Name) and isinstance(value, gast.Lambda) and target.id not in _names(value):
            # sq = lambda t: t * t  ->  def sq(t): return t * t
            fdef = gast.FunctionDef(name=target.id, args=value.args, body=[gast.Return(value=value.body)],
                                    decorator_list=[], returns=None, type_comment=None, type_params=[])
            self.visit_FunctionDef(_loc(fdef, self.where))
            return
        if isinstance(target, gast.Name):
            # Control-flow expressions may build their value in the target itself,
            # unless the expression reads the target.
            into = None if target.id in _names(value) else target.id
            op = self.op(value, hint=target.id, into=into)
            if not (isinstance(op, gast.Name) and op.id == target.id):
                self.emit(q.assign(q.store(target.id), op))
        elif isinstance(target, (gast.Tuple, gast.List)):
            src = self.atom(value)
            elts = target.elts
            simple = all(isinstance(e, gast.Name) for e in elts)
            if simple:
                self.emit(gast.Assign(targets=[gast.Tuple(elts=[q.store(e.id) for e in elts], ctx=gast.Store())],
                                      value=src, type_comment=None))
                return
            star = [i for i, e in enumerate(elts) if isinstance(e, gast.Starred)]
            n_after = len(elts) - star[0] - 1 if star else 0
            for i, e in enumerate(elts):
                if isinstance(e, gast.Starred):
                    stop = q.const(-n_after) if n_after else q.const(None)
                    part = gast.Call(func=q.name("list"), args=[gast.Subscript(
                        value=q.copy_tree(src), slice=gast.Slice(lower=q.const(i), upper=stop, step=None),
                        ctx=gast.Load())], keywords=[])
                    self.assign_to(e.value, part)
                else:
                    idx = q.const(i if not star or i < star[0] else i - len(elts))
                    self.assign_to(e, gast.Subscript(value=q.copy_tree(src), slice=idx, ctx=gast.Load()))
        elif isinstance(target, gast.Subscript):
            value_atom = self.atom(value)
            base = target.value
            if isinstance(base, gast.Name):
                self.store_index(q.name(base.id), self.index(target.slice), value_atom, target)
            elif isinstance(base, gast.Subscript):
                # x[i][j] = v  ->  t = x[i]; t[j] = v; x[i] = t
                outer = self.atom(base.value)
                outer_index = self.index(base.slice)
                inner = self.temp()
                self.emit(q.assign(inner, gast.Subscript(value=q.copy_tree(outer), slice=outer_index,
                                                         ctx=gast.Load())))
                self.store_index(q.name(inner), self.index(target.slice), value_atom, target)
                self.store_index(outer, q.copy_tree(outer_index), q.name(inner), target)
            else:
                self.error(target, "this index assignment", "assign into a local array variable")
        elif isinstance(target, gast.Starred):
            self.error(target, "a starred assignment target", "unpack into a tuple of names")
        else:
            self.error(target, f"assigning to {type(target).__name__}", "assign to a name")

    def store_index(self, base, index, value, where):
        if not isinstance(base, gast.Name) or not self.is_local(base.id):
            self.error(where, "index assignment into a non-local value",
                       "copy it into a local variable first (y = x.copy(); y[i] = v)")
        # Value semantics: x[i] = v rebinds x to an updated copy.
        self.emit(q.assign(base.id, gast.Call(func=q.name(self.support["setitem"]),
                                              args=[q.name(base.id), q.index_value(index), value],
                                              keywords=[])))

    def visit_If(self, s):
        test = self.atom(s.test, "cond")
        body = self.block(s.body) or [gast.Pass()]
        orelse = self.block(s.orelse)
        self.emit(gast.If(test=test, body=body, orelse=orelse))

    def visit_While(self, s):
        test_name = self.temp("cond")
        pre = self.block([_loc(q.assign(test_name, s.test), s)])
        for st in pre:
            self.emit(st)
        body = self.block(s.body)
        body += q.copy_tree(pre)
        loop = gast.While(test=q.name(test_name), body=body or [gast.Pass()], orelse=[])
        loop._s2s_test_len = len(pre)  # the body's last statements recompute the test
        for attr in ("_s2s_exit_flag",):
            if hasattr(s, attr):
                setattr(loop, attr, getattr(s, attr))
        self.emit(loop)

    def visit_For(self, s):
        it = s.iter
        if isinstance(it, gast.Call) and self.is_builtin_call(it, "range") and not it.keywords:
            args = [self.loop_invariant_atom(a, s) for a in it.args]
            target = s.target
            prefix = []
            if not isinstance(target, gast.Name):
                tmp = self.temp("i")
                prefix = [_loc(gast.Assign(targets=[target], value=q.name(tmp), type_comment=None), s)]
                target = q.store(tmp)
            body = self.block(prefix + s.body) or [gast.Pass()]
            self.emit(gast.For(target=q.store(target.id), iter=gast.Call(func=q.name("range"), args=args, keywords=[]),
                               body=body, orelse=[], type_comment=None))
            return
        if isinstance(it, gast.Call) and self.is_builtin_call(it, "enumerate"):
            start = it.args[1] if len(it.args) > 1 else next((k.value for k in it.keywords if k.arg == "start"), None)
            inner = it.args[0]
            idx = self.temp("i")
            if isinstance(s.target, (gast.Tuple, gast.List)) and len(s.target.elts) == 2:
                j, x = s.target.elts
            else:
                j, x = None, None
            counter = q.name(idx) if start is None else gast.BinOp(left=q.name(idx), op=gast.Add(), right=start)
            if isinstance(inner, gast.Call) and self.is_builtin_call(inner, "zip") and x is not None:
                # for i, (u, v) in enumerate(zip(a, b)): index a and b directly.
                seqs = [self.sequence_atom(a) for a in inner.args]
                count = self._min_len(seqs)
                items = [gast.Subscript(value=q.copy_tree(sq), slice=q.name(idx), ctx=gast.Load()) for sq in seqs]
                element = gast.Tuple(elts=items, ctx=gast.Load())
            else:
                seq = self.sequence_atom(inner)
                count = gast.Call(func=q.name("len"), args=[q.copy_tree(seq)], keywords=[])
                element = gast.Subscript(value=q.copy_tree(seq), slice=q.name(idx), ctx=gast.Load())
            if j is not None:
                prefix = [gast.Assign(targets=[j], value=counter, type_comment=None),
                          gast.Assign(targets=[x], value=element, type_comment=None)]
            else:
                prefix = [gast.Assign(targets=[s.target], value=gast.Tuple(elts=[counter, element], ctx=gast.Load()),
                                      type_comment=None)]
            self._index_loop(s, idx, count, prefix)
            return
        if isinstance(it, gast.Call) and self.is_builtin_call(it, "zip") and not it.keywords:
            seqs = [self.sequence_atom(a) for a in it.args]
            count = self._min_len(seqs)
            idx = self.temp("i")
            items = [gast.Subscript(value=q.copy_tree(sq), slice=q.name(idx), ctx=gast.Load()) for sq in seqs]
            if isinstance(s.target, (gast.Tuple, gast.List)) and len(s.target.elts) == len(items):
                prefix = [gast.Assign(targets=[t], value=v, type_comment=None) for t, v in zip(s.target.elts, items)]
            else:
                prefix = [gast.Assign(targets=[s.target], value=gast.Tuple(elts=items, ctx=gast.Load()), type_comment=None)]
            self._index_loop(s, idx, count, prefix)
            return
        # for x in xs  ->  xs_items = as_sequence(xs); for i in range(n): x = xs_items[i]
        # (a dict iterates its keys, a generator is listed once; arrays and lists stay).
        hint = it.id + "_items" if isinstance(it, gast.Name) else "seq"
        seq = self.atom(gast.Call(func=q.name(self.support["as_sequence"]), args=[it], keywords=[]), hint)
        idx = self.temp("i")
        element = gast.Subscript(value=q.copy_tree(seq), slice=q.name(idx), ctx=gast.Load())
        target = s.target
        if isinstance(target, (gast.Tuple, gast.List)) and all(isinstance(e, gast.Name) for e in target.elts):
            # for W, b in params: one statement unpacks the element (W, b = params_items[i])
            first = gast.Assign(targets=[gast.Tuple(elts=[q.store(e.id) for e in target.elts],
                                                    ctx=gast.Store())], value=element, type_comment=None)
            body = [_loc(first, s)] + self.block(s.body)
        else:
            body = self.block([_loc(gast.Assign(targets=[target], value=element, type_comment=None), s)]
                              + s.body)
        # range(len(seq)), not a temporary: the bound is a shape query of the sequence,
        # which stays one Python int for every example under vmap.
        count = gast.Call(func=q.name("len"), args=[q.copy_tree(seq)], keywords=[])
        self.emit(gast.For(target=q.store(idx), iter=gast.Call(func=q.name("range"), args=[count], keywords=[]),
                           body=body or [gast.Pass()], orelse=[], type_comment=None))

    def _min_len(self, seqs):
        lens = []
        for sq in seqs:
            n = self.temp("n")
            self.emit(q.assign(n, gast.Call(func=q.name("len"), args=[q.copy_tree(sq)], keywords=[])))
            lens.append(q.name(n))
        return lens[0] if len(lens) == 1 else gast.Call(func=q.name("min"), args=lens, keywords=[])

    def sequence_atom(self, e):
        """An atom holding ``e`` as an indexable sequence (``zip``/generators become lists)."""
        if isinstance(e, gast.Name) or self.is_static(e):
            return e
        if isinstance(e, (gast.List, gast.Tuple)):
            return self.atom(e, "seq")
        return self.atom(gast.Call(func=q.name(self.support["as_sequence"]), args=[e], keywords=[]), "seq")

    def _index_loop(self, s, idx, count, prefix):
        n = self.atom(count, "n")
        body = self.block([_loc(p, s) for p in prefix] + s.body) or [gast.Pass()]
        self.emit(gast.For(target=q.store(idx), iter=gast.Call(func=q.name("range"), args=[n], keywords=[]),
                           body=body, orelse=[], type_comment=None))

    def loop_invariant_atom(self, e, loop):
        a = self.atom(e)
        if isinstance(a, gast.Name) and _assigns(loop.body, a.id):
            snap = self.temp("stop")
            self.emit(q.assign(snap, a))
            return q.name(snap)
        return a

    def is_builtin_call(self, call, name):
        return isinstance(call.func, gast.Name) and call.func.id == name and not self.is_local(name)

    def visit_Return(self, s):
        value = self.atom(s.value) if s.value is not None else q.const(None)
        self.emit(gast.Return(value=value))

    def visit_Assert(self, s):
        test = self.atom(s.test, "ok")
        raise_stmt = gast.Raise(exc=gast.Call(func=q.name("AssertionError"),
                                              args=[s.msg] if s.msg is not None else [], keywords=[]),
                                cause=None)
        neg = self.temp("failed")
        self.emit(q.assign(neg, gast.UnaryOp(op=gast.Not(), operand=test)))
        self.emit(gast.If(test=q.name(neg), body=[_loc(raise_stmt, s)], orelse=[]))

    def visit_Raise(self, s):
        self.emit(s)

    def visit_FunctionDef(self, s):
        inner = normalize_function(self.source, s, self.namer, self.np_name, self.support,
                                   enclosing_locals=self.locals | self.enclosing_locals)
        self.emit(inner)

    # -- expressions -------------------------------------------------------

    def atom(self, e, hint="t"):
        """Emits what ``e`` needs and returns an atom holding its value."""
        if isinstance(e, gast.Constant) or (isinstance(e, gast.Name)):
            return e
        if self.is_constant_chain(e):
            return e
        folded = _fold_constant(e)
        if folded is not None:
            return folded
        op = self.op(e, hint)
        if q.is_atom(op) or self.is_constant_chain(op):
            return op
        name = self.temp(hint)
        self.emit(q.assign(name, op))
        return q.name(name)

    def op(self, e, hint="t", into=None):
        """Returns an operation on atoms computing ``e`` (emitting what it needs).

        Expressions that need statements of their own (``and``/``or``, ``a if c
        else b``, chained comparisons, comprehensions) build their value in
        ``into`` when given, else in a fresh temporary.
        """
        folded = _fold_constant(e)
        if folded is not None:
            return folded
        method = getattr(self, "expr_" + type(e).__name__, None)
        if method is None:
            self.error(e, f"the expression {type(e).__name__}", "split it into simpler statements")
        if type(e).__name__ in _BUILDS_INTO:
            return method(e, hint, into)
        return method(e, hint)

    def expr_Name(self, e, hint):
        return e

    def expr_Constant(self, e, hint):
        return e

    def expr_UnaryOp(self, e, hint):
        return gast.UnaryOp(op=e.op, operand=self.atom(e.operand))

    def expr_BinOp(self, e, hint):
        if isinstance(e.op, gast.Add) and (_is_sequence(e.left, self.sequences) or
                                           _is_sequence(e.right, self.sequences)):
            # list/tuple concatenation: its adjoint splits, where `+` of arrays sums
            return gast.Call(func=q.name(self.support["concat"]),
                             args=[self.atom(e.left), self.atom(e.right)], keywords=[])
        if isinstance(e.op, gast.Div):
            return gast.BinOp(left=self.atom(e.left, "num"), op=e.op, right=self.atom(e.right, "den"))
        return gast.BinOp(left=self.atom(e.left), op=e.op, right=self.atom(e.right))

    def expr_BoolOp(self, e, hint, into=None):
        # `a and b` -> `result = a; if a: result = b`: each `if` tests the operand's
        # own atom, never `result`, which its branch reassigns.
        first = self.atom(e.values[0], hint)
        result = into or self.temp(hint)
        self.emit(q.assign(result, first))
        self._boolop_rest(e.op, result, first, e.values[1:], hint)
        return q.name(result)

    def _boolop_rest(self, op, result, test, values, hint):
        if not values:
            return
        saved = self.out
        self.out = []
        try:
            if len(values) > 1:
                value = self.atom(values[0], hint)
                self.emit(q.assign(result, value))
                self._boolop_rest(op, result, value, values[1:], hint)
            else:
                self.out.extend(self.block([_loc(q.assign(result, values[0]), self.where)]))
            inner = self.out
        finally:
            self.out = saved
        if isinstance(op, gast.And):
            self.emit(gast.If(test=test, body=inner, orelse=[]))
        else:
            self.emit(gast.If(test=test, body=[gast.Pass()], orelse=inner))

    def expr_Compare(self, e, hint, into=None):
        if len(e.ops) == 1:
            return gast.Compare(left=self.atom(e.left), ops=e.ops, comparators=[self.atom(e.comparators[0])])
        left = self.atom(e.left)
        result = into or self.temp(hint)
        mid = self.atom(e.comparators[0])
        self.emit(q.assign(result, gast.Compare(left=left, ops=[e.ops[0]], comparators=[mid])))
        rest = gast.Compare(left=mid, ops=e.ops[1:], comparators=e.comparators[1:])
        body = self.block([_loc(q.assign(result, rest), self.where)])
        self.emit(gast.If(test=q.name(result), body=body, orelse=[]))
        return q.name(result)

    def expr_IfExp(self, e, hint, into=None):
        test = self.atom(e.test, "cond")
        result = into or self.temp(hint)
        body = self.block([_loc(q.assign(result, e.body), self.where)])
        orelse = self.block([_loc(q.assign(result, e.orelse), self.where)])
        self.emit(gast.If(test=test, body=body, orelse=orelse))
        return q.name(result)

    def expr_Call(self, e, hint):
        func = e.func
        if isinstance(func, gast.Attribute) and not self.is_static(func):
            return self.method_call(e, hint)
        if not (isinstance(func, gast.Name) or self.is_static(func)):
            func = self.atom(func, "fn")
        args = [gast.Starred(value=self.atom(a.value), ctx=gast.Load()) if isinstance(a, gast.Starred)
                else self.atom(a) for a in e.args]
        keywords = [gast.keyword(arg=k.arg, value=self.atom(k.value)) for k in e.keywords]
        return gast.Call(func=func, args=args, keywords=keywords)

    def method_call(self, e, hint):
        func = e.func
        if func.attr in AT_METHODS and isinstance(func.value, gast.Subscript) and \
                isinstance(func.value.value, gast.Attribute) and func.value.value.attr == "at":
            return self.at_update(e, hint)
        obj = self.atom(e.func.value)
        name = e.func.attr
        args = [gast.Starred(value=self.atom(a.value), ctx=gast.Load()) if isinstance(a, gast.Starred)
                else self.atom(a) for a in e.args]
        keywords = [gast.keyword(arg=k.arg, value=self.atom(k.value)) for k in e.keywords]
        if name in CONTAINER_METHODS:
            return gast.Call(func=q.name(self.support[CONTAINER_METHODS[name]]), args=[obj] + args,
                             keywords=keywords)
        return gast.Call(func=gast.Attribute(value=obj, attr=name, ctx=gast.Load()), args=args, keywords=keywords)

    def at_update(self, e, hint):
        target = self.atom(e.func.value.value.value)
        index = _index_call_value(self.index(e.func.value.slice))
        args = [gast.Starred(value=self.atom(a.value), ctx=gast.Load()) if isinstance(a, gast.Starred)
                else self.atom(a) for a in e.args]
        keywords = [gast.keyword(arg=k.arg, value=self.atom(k.value)) for k in e.keywords]
        return gast.Call(func=q.name(self.support["at_update"]),
                         args=[target, index, q.const(e.func.attr)] + args, keywords=keywords)

    def expr_Attribute(self, e, hint):
        if self.is_static(e):
            return e
        obj = self.atom(e.value)
        return gast.Attribute(value=obj, attr=e.attr, ctx=gast.Load())

    def expr_Subscript(self, e, hint):
        return gast.Subscript(value=self.atom(e.value), slice=self.index(e.slice), ctx=gast.Load())

    def index(self, s):
        if isinstance(s, gast.Slice):
            return gast.Slice(lower=None if s.lower is None else self.atom(s.lower),
                              upper=None if s.upper is None else self.atom(s.upper),
                              step=None if s.step is None else self.atom(s.step))
        if isinstance(s, gast.Tuple):
            return gast.Tuple(elts=[self.index(x) for x in s.elts], ctx=gast.Load())
        return self.atom(s, "idx")

    def _elts(self, elts):
        return [gast.Starred(value=self.atom(x.value), ctx=gast.Load()) if isinstance(x, gast.Starred)
                else self.atom(x) for x in elts]

    def expr_Tuple(self, e, hint):
        return gast.Tuple(elts=self._elts(e.elts), ctx=gast.Load())

    def expr_List(self, e, hint):
        return gast.List(elts=self._elts(e.elts), ctx=gast.Load())

    def expr_Set(self, e, hint):
        return gast.Set(elts=self._elts(e.elts))

    def expr_Dict(self, e, hint):
        keys = [None if k is None else self.atom(k) for k in e.keys]
        values = [self.atom(v) for v in e.values]
        return gast.Dict(keys=keys, values=values)

    def expr_JoinedStr(self, e, hint):
        values = []
        for v in e.values:
            if isinstance(v, gast.FormattedValue):
                values.append(gast.FormattedValue(value=self.atom(v.value), conversion=v.conversion,
                                                  format_spec=v.format_spec))
            else:
                values.append(v)
        return gast.JoinedStr(values=values)

    def expr_Lambda(self, e, hint):
        fname = self.temp("fn")
        fdef = gast.FunctionDef(name=fname, args=e.args, body=[gast.Return(value=e.body)],
                                decorator_list=[], returns=None, type_comment=None, type_params=[])
        _loc(fdef, self.where)
        self.visit_FunctionDef(fdef)
        return q.name(fname)

    def _comprehension(self, e, hint, kind, into=None):
        acc = into if into and kind != "set" else self.temp(hint if hint != "t" else "acc")
        init = gast.Dict(keys=[], values=[]) if kind == "dict" else gast.List(elts=[], ctx=gast.Load())
        self.emit(q.assign(acc, init))
        renames = {}
        gens = []
        for g in e.generators:
            if g.is_async:
                self.error(e, "an async comprehension", "use a plain loop")
            it = _rename(g.iter, renames) if gens else g.iter
            new_target = q.copy_tree(g.target)
            for n in q.walk(new_target):
                if isinstance(n, gast.Name):
                    renames[n.id] = self.temp(n.id)
            new_target = _rename(new_target, renames)
            gens.append((new_target, it, [_rename(c, renames) for c in g.ifs]))
        if kind == "dict":
            inner = [gast.Assign(targets=[gast.Subscript(value=q.name(acc), slice=_rename(e.key, renames),
                                                         ctx=gast.Store())],
                                 value=_rename(e.value, renames), type_comment=None)]
        else:
            inner = [gast.Expr(value=gast.Call(func=q.name(self.support["append"]),
                                               args=[q.name(acc), _rename(e.elt, renames)], keywords=[]))]
        for target, it, ifs in reversed(gens):
            for c in reversed(ifs):
                inner = [gast.If(test=c, body=inner, orelse=[])]
            inner = [gast.For(target=target, iter=it, body=inner, orelse=[], type_comment=None)]
        for st in self.block(_loc(inner, self.where)):
            self.emit(st)
        if kind == "set":
            return gast.Call(func=q.name("set"), args=[q.name(acc)], keywords=[])
        return q.name(acc)

    def expr_ListComp(self, e, hint, into=None):
        return self._comprehension(e, hint, "list", into)

    def expr_GeneratorExp(self, e, hint, into=None):
        return self._comprehension(e, hint, "list", into)

    def expr_SetComp(self, e, hint, into=None):
        return self._comprehension(e, hint, "set", into)

    def expr_DictComp(self, e, hint, into=None):
        return self._comprehension(e, hint, "dict", into)


_BUILDS_INTO = {"BoolOp", "Compare", "IfExp", "ListComp", "GeneratorExp", "SetComp", "DictComp"}


def _names(node):
    return {n.id for n in q.walk(node) if isinstance(n, gast.Name)}


def _fold_constant(e):
    """``-2.0`` (a UnaryOp on a number) -> Constant(-2.0)."""
    if isinstance(e, gast.UnaryOp) and isinstance(e.op, (gast.USub, gast.UAdd)) \
            and isinstance(e.operand, gast.Constant) and isinstance(e.operand.value, (int, float, complex)) \
            and not isinstance(e.operand.value, bool):
        v = e.operand.value
        return gast.Constant(value=-v if isinstance(e.op, gast.USub) else v, kind=None)
    return None


def _rename(node, renames):
    if not renames:
        return node
    node = q.copy_tree(node)
    for n in q.walk(node):
        if isinstance(n, gast.Name) and n.id in renames:
            n.id = renames[n.id]
    return node


def _assigns(stmts, name):
    for st in stmts:
        for n in q.walk(st):
            if isinstance(n, gast.Name) and n.id == name and isinstance(n.ctx, gast.Store):
                return True
    return False


# ---------------------------------------------------------------------------
# Pass 4: lambda lifting.


def lift_local_functions(fdef):
    """Nested functions only ever called directly take the enclosing variables
    they read as extra parameters, and their call sites pass them.

    After this, a call of a nested function depends only on its arguments, like
    any other call (so its derivative flows back to those variables too).
    """
    own = local_names(fdef)
    nested = [n for n in q.walk(gast.Module(body=fdef.body, type_ignores=[]))
              if isinstance(n, gast.FunctionDef)]
    for s in nested:
        lift_local_functions(s)
    for s in nested:
        if not _only_called(fdef, s.name):
            continue
        reads = {n.id for n in q.walk(s) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
        free = sorted((reads - local_names(s)) & own - {s.name})
        if not free:
            continue
        # Keyword-only, so the function's own defaults keep lining up with its parameters.
        s.args.kwonlyargs = list(s.args.kwonlyargs) + [q.name(n, gast.Param()) for n in free]
        s.args.kw_defaults = list(s.args.kw_defaults) + [None] * len(free)
        for node in q.walk(fdef):
            if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == s.name:
                node.keywords = list(node.keywords) + [gast.keyword(arg=n, value=q.name(n)) for n in free]
    return fdef


def _only_called(fdef, name):
    """True when ``name`` is defined once in ``fdef`` and only ever used as a callee."""
    uses = 0
    calls = 0
    defs = 0
    for node in q.walk(fdef):
        if isinstance(node, gast.FunctionDef) and node.name == name:
            defs += 1
        elif isinstance(node, gast.Call) and isinstance(node.func, gast.Name) and node.func.id == name:
            calls += 1
        elif isinstance(node, gast.Name) and node.id == name:
            uses += 1
    return defs == 1 and uses == calls


def normalize_function(source, fdef, namer, np_name, support, enclosing_locals=frozenset()):
    """Runs the passes on ``fdef`` (a copy is transformed) and returns the normal form."""
    fdef = q.copy_tree(fdef)
    # The order matters: returns become flags that loops must honour, loops
    # lose their jumps, then expressions are flattened.
    fdef = lower_returns(fdef, namer)
    fdef = lower_jumps(fdef, namer, support)
    anf = _ANF(source, fdef, namer, np_name, support, enclosing_locals)
    body = _freeze_if_tests(anf.block(fdef.body), namer)
    new = gast.FunctionDef(name=fdef.name, args=fdef.args, body=body, decorator_list=[],
                           returns=None, type_comment=None, type_params=[])
    if hasattr(fdef, "_s2s_return_slot"):
        new._s2s_return_slot = fdef._s2s_return_slot
    return gast.copy_location(new, fdef)


_SEQUENCE_DISPLAYS = (gast.List, gast.Tuple, gast.ListComp)


def _is_sequence(e, names):
    """Whether expression ``e`` surely is a list or tuple (a display, ``list(...)``, a
    concatenation of those, or a name only ever assigned such values)."""
    if isinstance(e, _SEQUENCE_DISPLAYS):
        return True
    if isinstance(e, gast.Name):
        return e.id in names
    if isinstance(e, gast.Call) and isinstance(e.func, gast.Name) and e.func.id in ("list", "tuple"):
        return True
    if isinstance(e, gast.BinOp) and isinstance(e.op, gast.Add):
        return _is_sequence(e.left, names) or _is_sequence(e.right, names)
    return False


def _sequence_names(fdef):
    """Names every assignment of which gives a list or tuple (a fixpoint over the body)."""
    assigned = {}
    for n in q.walk(fdef):
        if isinstance(n, gast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], gast.Name):
            assigned.setdefault(n.targets[0].id, []).append(n.value)
        elif isinstance(n, (gast.AugAssign, gast.AnnAssign, gast.For, gast.comprehension)) or \
                (isinstance(n, gast.Assign) and not isinstance(n.targets[0], gast.Name)):
            for t in q.walk(n.target if hasattr(n, "target") else n.targets[0]):
                if isinstance(t, gast.Name):
                    assigned.setdefault(t.id, []).append(None)  # unknown value
    names, changed = set(), True
    while changed:
        changed = False
        for name, values in assigned.items():
            if name not in names and all(v is not None and _is_sequence(v, names) for v in values):
                names.add(name)
                changed = True
    return names


def _index_call_value(s):
    """An index as a call argument: ``a:b`` becomes ``slice(a, b, None)``."""
    if isinstance(s, gast.Slice):
        return gast.Call(func=q.name("slice"), args=[p if p is not None else q.const(None)
                                                     for p in (s.lower, s.upper, s.step)], keywords=[])
    if isinstance(s, gast.Tuple):
        return gast.Tuple(elts=[_index_call_value(e) for e in s.elts], ctx=gast.Load())
    return s


def _freeze_if_tests(stmts, namer):
    """``if c:`` whose branches reassign ``c`` tests a copy of it instead, so the reverse
    pass (which decides the branch from the test's value after the ``if``) and every
    other reader see the value the ``if`` was decided on."""
    out = []
    for s in stmts:
        for field in ("body", "orelse"):
            if isinstance(s, (gast.If, gast.For, gast.While)):
                setattr(s, field, _freeze_if_tests(getattr(s, field), namer))
        if isinstance(s, gast.If) and isinstance(s.test, gast.Name) and \
                s.test.id in dataflow.assigned_in(s.body + s.orelse):
            frozen = namer.new(s.test.id)
            out.append(gast.copy_location(q.assign(frozen, q.name(s.test.id)), s))
            s.test = q.name(frozen)
        out.append(s)
    return out




def support_names(namer):
    """Hygienic names for the support functions normal form calls."""
    return {name: namer.new(name) for name in SUPPORT_CALLS}


def normalize(source, namer, np_name, support):
    """The normal form of ``source``'s function (a ``gast.FunctionDef``).

    ``support`` maps each of ``SUPPORT_CALLS`` to the name generated code binds it to.
    """
    return lift_local_functions(normalize_function(source, source.node, namer, np_name, support))
