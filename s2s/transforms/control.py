"""Control flow for jit: ``if``/``while``/``for`` become calls of runtime operators.

On normal form (``s2s.parse.normalize``), each compound statement becomes
functions over the variables it changes, plus one call::

    if cond:                          def if_body(y):
        y = x * 2                         y = x * 2
    else:                     ->          return (y,)
        y = -x                        def else_body(y):
                                          y = -x
                                          return (y,)
                                      (y,) = if_stmt(cond, if_body, else_body, (), ('y',))

``if_stmt``, ``while_stmt`` and ``for_stmt`` (``s2s.runtime.control_ops``) run
plain Python when the predicate, condition or loop bounds are concrete, and
stage ``lax.cond`` / ``lax.while_loop`` when they are staged values. Only the
variables a branch or loop changes *and* that are read afterwards are carried
(``s2s.parse.dataflow``). A variable that may be unassigned on entry gets
an ``Undefined`` marker, so reading it where one branch did not assign it gives
an error naming it and the line. Calls of user functions go through
``converted_call``, which converts them the same way when they are called.

The entry point is ``transform(tree, ctx)``.
"""

import gast

from s2s.parse import quoting as q
from s2s.parse.resolve import local_names
from s2s.parse import dataflow


# The names of the functions the conversion makes (``if_body``, ``loop_body2``...).
MADE_FUNCTIONS = ("if_body", "else_body", "loop_test", "loop_body")


def made_function(name):
    """Whether ``name`` is one the conversion gives a branch or loop function."""
    return name.rstrip("0123456789") in MADE_FUNCTIONS


def _tuple(names, ctx=None):
    ctx = ctx or gast.Load()
    elts = [gast.Name(id=n, ctx=type(ctx)(), annotation=None, type_comment=None) for n in names]
    return gast.Tuple(elts=elts, ctx=ctx)


def _names_const(names):
    return gast.Tuple(elts=[q.const(n) for n in names], ctx=gast.Load())


def _args(names):
    return gast.arguments(args=[q.name(n, gast.Param()) for n in names], posonlyargs=[], vararg=None,
                          kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


def _fdef(name, params, body):
    return gast.FunctionDef(name=name, args=_args(params), body=body, decorator_list=[], returns=None,
                            type_comment=None, type_params=[])


class _Control:
    def __init__(self, ctx, params, scope=frozenset()):
        self.ctx = ctx
        self.namer = ctx.namer
        self.params = set(params)
        # With explicit captures, the functions made for branches and loop bodies
        # take the enclosing variables they read as leading parameters and the
        # call passes them (``consts=``): then they are functions of their
        # arguments alone, which reverse mode needs.
        self.explicit = getattr(ctx, "explicit_captures", False)
        self.scope = set(scope)

    def captures(self, fdefs, exclude):
        """Enclosing variables the generated functions read (explicit-captures mode)."""
        if not self.explicit:
            return []
        names = set()
        for f in fdefs:
            names |= _free_vars(f)
        return sorted((names & self.scope) - set(exclude))

    def with_consts(self, fdefs, consts, call):
        for f in fdefs:
            f.args.args = [q.name(n, gast.Param()) for n in consts] + list(f.args.args)
        if consts:
            call.keywords.append(gast.keyword(arg="consts", value=_tuple(consts)))

    def op(self, name):
        return q.name(self.ctx.runtime(name))

    def block(self, stmts, assigned):
        out = []
        assigned = set(assigned)
        for s in stmts:
            out.extend(self.stmt(s, assigned))
            assigned |= dataflow.definitely_assigned([s], set())
        return out

    def set_scope(self, fdef):
        """The variables of the function being converted (what nested functions may capture)."""
        self.scope = dataflow.writes(fdef.body) | set(self.params)

    def stmt(self, s, assigned):
        if isinstance(s, gast.If):
            return self.convert_if(s, assigned)
        if isinstance(s, (gast.For, gast.While)) and _appended_lists(s.body) - _fresh_lists(s.body):
            return self.keep_loop(s, assigned)
        if isinstance(s, gast.While):
            return self.convert_while(s, assigned)
        if isinstance(s, gast.For):
            return self.convert_for(s, assigned)
        if isinstance(s, gast.FunctionDef):
            return [self.convert_def(s)]
        self.convert_calls(s)
        return [s]

    def convert_calls(self, s):
        """Calls of user functions go through ``converted_call`` (converted when called);
        ``not x`` becomes ``not_(x)``, which also works on staged booleans."""
        for node in q.walk(s):
            if isinstance(node, gast.Call) and self.ctx.is_user_call(node):
                node.args = [node.func] + node.args
                node.func = self.op("converted_call")
        if isinstance(s, gast.Assign) and isinstance(s.value, gast.UnaryOp) and isinstance(s.value.op, gast.Not):
            s.value = gast.Call(func=self.op("not_"), args=[s.value.operand], keywords=[])

    def undefined_inits(self, names, assigned, s):
        out = []
        for n in names:
            if n not in assigned and n not in self.params:
                out.append(gast.copy_location(q.assign(n, gast.Call(
                    func=self.op("Undefined"), args=[q.const(n)], keywords=[])), s))
        return out

    def convert_if(self, s, assigned):
        changed = dataflow.writes(s.body) | dataflow.writes(s.orelse)
        outs = sorted(changed & (s._s2s_live_out or set()))
        body = self.block(s.body, assigned)
        orelse = self.block(s.orelse, assigned)
        if not outs and not _has_effects(body + orelse):
            return []
        true_name = self.namer.new("if_body")
        false_name = self.namer.new("else_body")
        ret = gast.Return(value=_tuple(outs))
        in_true = dataflow.definitely_assigned(s.body, set())
        in_false = dataflow.definitely_assigned(s.orelse, set())
        # A branch takes the outputs it may pass through or reads before assigning.
        reads_first = dataflow.annotate(q.copy_tree(s.body)) | dataflow.annotate(q.copy_tree(s.orelse))
        ins = [n for n in outs if n not in (in_true & in_false) or n in reads_first]
        # A branch that reads a variable before assigning it needs it passed in even when
        # the value it leaves is never read (it would be a local of the branch function).
        ins += sorted((changed & reads_first) - set(outs))
        true_fn = _fdef(true_name, ins, (body or []) + [ret])
        false_fn = _fdef(false_name, ins, (orelse or []) + [q.copy_tree(ret)])
        partial = {n: ("if" if n in in_true else "else") for n in outs
                   if (n in in_true) != (n in in_false) and n not in assigned and n not in self.params}
        keywords = []
        # A list built inside the branch (a comprehension's, say) is the branch's own.
        appended = sorted(_appended_lists(s.body + s.orelse) - set(outs) - _fresh_lists(s.body + s.orelse))
        if appended:
            keywords.append(gast.keyword(arg="mutates", value=_names_const(appended)))
        if partial:
            keywords.append(gast.keyword(arg="partial", value=gast.Dict(
                keys=[q.const(k) for k in sorted(partial)], values=[q.const(partial[k]) for k in sorted(partial)])))
        call = gast.Call(func=self.op("if_stmt"),
                         args=[q.copy_tree(s.test), q.name(true_name), q.name(false_name), _tuple(ins),
                               _names_const(outs)], keywords=keywords)
        self.with_consts([true_fn, false_fn], self.captures([true_fn, false_fn], ins), call)
        assign = gast.Assign(targets=[_tuple(outs, gast.Store())], value=call, type_comment=None)
        new = self.undefined_inits(ins, assigned, s) + [true_fn, false_fn, assign]
        return [gast.copy_location(n, s) for n in new]

    def loop_state(self, s, extra=()):
        changed = dataflow.writes(s.body) | set(extra)
        live_head = dataflow.annotate(q.copy_tree(s.body), s._s2s_live_out or set()) | \
            (s._s2s_live_out or set())
        if isinstance(s, gast.While):
            live_head |= dataflow.reads(s.test)
        return sorted(changed & live_head)

    def split_test(self, s):
        """(body, test statements) when the test's statements, which normal form repeats
        at the end of the body, can move into the loop's test function: what they
        assign is read nowhere else. XLA then evaluates the test in the loop's
        condition (as ``lax.while_loop`` written by hand) instead of carrying it."""
        k = getattr(s, "_s2s_test_len", 0)
        if not k or len(s.body) <= k:
            return None
        core, tail = s.body[:-k], s.body[-k:]
        temps = dataflow.writes(tail)
        after = s._s2s_live_out or set()
        read_in_core = dataflow.annotate(q.copy_tree(core), set())
        if temps & (after | read_in_core):
            return None
        return core, tail

    def convert_while(self, s, assigned):
        split = self.split_test(s)
        if split is not None:
            return self.convert_while_split(s, assigned, *split)
        return self.emit_while(s, assigned, self.loop_state(s), [], self.block(s.body, assigned))

    def convert_while_split(self, s, assigned, core, tail):
        after = s._s2s_live_out or set()
        test_reads = dataflow.annotate(tail, dataflow.reads(s.test))  # now the test's own
        live_end = after | test_reads
        live_head = dataflow.annotate(q.copy_tree(core), live_end) | live_end
        state = sorted(dataflow.writes(core) & live_head)
        return self.emit_while(s, assigned, state, self.block(tail, assigned),
                               self.block(core, assigned))

    def emit_while(self, s, assigned, state, test, body):
        """``state = while_stmt(loop_test, loop_body, state)``: ``test`` are the statements
        the test function runs before returning ``s.test``."""
        test_name = self.namer.new("loop_test")
        body_name = self.namer.new("loop_body")
        test_fn = _fdef(test_name, state, test + [gast.Return(value=q.copy_tree(s.test))])
        body_fn = _fdef(body_name, state, (body or []) + [gast.Return(value=_tuple(state))])
        call = gast.Call(func=self.op("while_stmt"),
                         args=[q.name(test_name), q.name(body_name), _tuple(state), _names_const(state)],
                         keywords=[])
        self.with_consts([test_fn, body_fn], self.captures([test_fn, body_fn], state), call)
        assign = gast.Assign(targets=[_tuple(state, gast.Store())], value=call, type_comment=None)
        new = self.undefined_inits(state, assigned, s) + [test_fn, body_fn, assign]
        return [gast.copy_location(n, s) for n in new]

    def convert_for(self, s, assigned):
        target = s.target.id
        state = [n for n in self.loop_state(s) if n != target]
        live_after = s._s2s_live_out or set()
        keep_target = target in live_after
        if keep_target:
            state = sorted(set(state) | {target})
        body = self.block(s.body, assigned | {target})
        body_name = self.namer.new("loop_body")
        index = target if not keep_target else self.namer.new(target + "_it")
        prefix = [q.assign(target, q.name(index))] if keep_target else []
        body_fn = _fdef(body_name, [index] + state, prefix + (body or []) + [gast.Return(value=_tuple(state))])
        iterable = q.copy_tree(s.iter)
        if isinstance(iterable, gast.Call) and isinstance(iterable.func, gast.Name) and iterable.func.id == "range":
            iterable.func = self.op("srange")  # a staged bound gives a staged loop
        call = gast.Call(func=self.op("for_stmt"),
                         args=[iterable, q.name(body_name), _tuple(state), _names_const(state)], keywords=[])
        consts = self.captures([body_fn], [index] + state)
        if consts:  # the loop index stays first: body(index, *consts, *state)
            body_fn.args.args = body_fn.args.args[:1] + [q.name(n, gast.Param()) for n in consts] + \
                body_fn.args.args[1:]
            call.keywords.append(gast.keyword(arg="consts", value=_tuple(consts)))
        assign = gast.Assign(targets=[_tuple(state, gast.Store())], value=call, type_comment=None)
        new = self.undefined_inits(state, assigned, s) + [body_fn, assign]
        return [gast.copy_location(n, s) for n in new]

    def keep_loop(self, s, assigned):
        """A loop whose body appends to an enclosing list stays a Python loop (its body
        converted): the derivative rules of ``for_stmt``/``while_stmt`` see only the
        loop variables, so the appended values' cotangents were lost (``jit(grad(f))``
        gave zeros). A staged range or condition then fails clearly instead."""
        target = dataflow.writes([s.target]) if isinstance(s, gast.For) else set()
        s.body = self.block(s.body, assigned | target)
        s.orelse = self.block(s.orelse, assigned)
        return [s]

    def convert_def(self, s):
        inner = q.copy_tree(s)
        dataflow.annotate(inner.body)
        params = dataflow.parameters(inner, varargs=False)
        sub = _Control(self.ctx, params)
        sub.set_scope(inner)
        sub.scope |= self.scope
        inner.body = sub.block(inner.body, set(params))
        return inner


def _appended_lists(stmts):
    """Lists a block appends to (normal form: ``append(xs, v)`` support calls)."""
    out = set()
    for n in q.walk(gast.Module(body=stmts, type_ignores=[])):
        if isinstance(n, gast.Call) and isinstance(n.func, gast.Name) and n.func.id.startswith("append") \
                and n.args and isinstance(n.args[0], gast.Name):
            out.add(n.args[0].id)
    return out


def _fresh_lists(stmts):
    """Names a block binds only to new list displays (``acc = []``): appends to them
    change no list from outside the block."""
    fresh, other = set(), set()
    for n in q.walk(gast.Module(body=stmts, type_ignores=[])):
        if isinstance(n, gast.Assign):
            names = [t.id for t in n.targets if isinstance(t, gast.Name)]
            simple = len(names) == len(n.targets) == 1 and isinstance(n.value, gast.List)
            (fresh if simple else other).update(names)
            other.update(t.id for t in n.targets for t in q.walk(t)
                         if isinstance(t, gast.Name) and not simple)
        elif isinstance(n, (gast.AugAssign, gast.AnnAssign, gast.For)) and isinstance(n.target, gast.Name):
            other.add(n.target.id)
    return fresh - other


def _free_vars(fdef):
    """Names ``fdef`` reads from enclosing scopes (nested functions included)."""
    own = local_names(fdef)
    reads = set()
    todo = list(fdef.body) + list(fdef.args.defaults)
    while todo:
        n = todo.pop()
        if isinstance(n, gast.FunctionDef):
            reads |= _free_vars(n)
            continue
        if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
            reads.add(n.id)
        todo.extend(q.children(n))
    return reads - own




def _has_effects(stmts):
    """True when statements do something besides assigning variables (calls, raise)."""
    for s in stmts:
        for n in q.walk(s):
            if isinstance(n, (gast.Raise,)) or (isinstance(n, gast.Expr) and isinstance(n.value, gast.Call)):
                return True
    return False


def transform(tree, ctx):
    """Control-flow conversion of normal-form function ``tree`` (a new tree).

    ``ctx`` gives ``namer``, ``source``, ``runtime(name)`` (the name generated
    code uses for a runtime operator) and ``is_user_call(call)``.
    """
    tree = q.copy_tree(tree)
    dataflow.annotate(tree.body)
    params = dataflow.parameters(tree, varargs=False)
    params += [a.id for a in (tree.args.vararg, tree.args.kwarg) if a is not None]
    conv = _Control(ctx, params)
    conv.set_scope(tree)
    tree.body = conv.block(tree.body, set(params))
    return tree
