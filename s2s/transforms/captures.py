"""Closure conversion of ``lax`` control flow for reverse mode.

The derivative templates of ``lax.scan``, ``fori_loop``, ``while_loop``, ``cond``,
``switch`` and ``map`` differentiate with respect to their operands only. A nested
function passed to them that reads a varied variable ``w`` of the enclosing
function would leave ``w`` without a gradient, so this pass (run on the normal form
before the reverse sweep) passes such captures explicitly, as JAX's closure
conversion does: a copy of each nested function takes them as one extra tuple
``k``, threaded through the carry of a loop and appended to the operands of a
branch. For ``t = lax.scan(body, init, xs)`` with ``body`` reading ``w``::

    def body_k(carry_k, x):          # body's statements, returning ((c', k), y)
        c, k = carry_k
        (w,) = k
        ...
    k = (w,)
    carry = (init, k)
    res = lax.scan(body_k, carry, xs)
    res_carry = res[0]
    t = (res_carry[0], res[1])

Then the existing rules differentiate the carry (and so ``k``, and so ``w``). Calls
the pass cannot rewrite (``*args``, a function with defaults or ``*args``) are left
for ``_Reverse.check_captures``, which raises a clear error when they matter.
"""
import inspect

import gast

from s2s import lax
from s2s.parse import quoting as q
from s2s.parse.resolve import local_names
from s2s.transforms import activity


class _Ctx:
    def __init__(self, body, enclosing, varied, callee_fn, namer, lax_name):
        self.defs = _unique_defs(body)
        self.body_assigns = _single_assigns(body)
        self.enclosing = enclosing
        self.varied = varied
        self.callee_fn = callee_fn
        self.namer = namer
        self.lax_name = lax_name

    def def_name(self, node):
        """The nested def that callable atom ``node`` names, through plain aliases
        (``g = f``), or None."""
        seen = set()
        while isinstance(node, gast.Name) and node.id not in self.defs and node.id not in seen:
            seen.add(node.id)
            node = self.body_assigns.get(node.id)
        return node.id if isinstance(node, gast.Name) and node.id in self.defs else None

    def captures(self, fname):
        """Varied variables of the enclosing function that nested ``fname`` reads."""
        fdef = self.defs.get(fname)
        if fdef is None:
            return set()
        reads = {n.id for n in q.walk(fdef) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
        return (reads - local_names(fdef)) & self.enclosing & self.varied - set(self.defs)


def _unique_defs(body):
    found = {}
    for n in q.walk(gast.Module(body=body, type_ignores=[])):
        if isinstance(n, gast.FunctionDef):
            found.setdefault(n.name, []).append(n)
    return {k: v[0] for k, v in found.items() if len(v) == 1}


def _single_assigns(body):
    found = {}
    for n in q.walk(gast.Module(body=body, type_ignores=[])):
        if isinstance(n, gast.Assign):
            for t in q.walk(n.targets[0]):
                if isinstance(t, gast.Name):
                    found.setdefault(t.id, []).append(n.value)
    return {k: v[0] for k, v in found.items() if len(v) == 1}


def explicit_for(fdef, body, ctx, callee, differentiable_call, namer, error):
    """``make_captures_explicit`` for a transformation (reverse or forward mode): the
    varied variables found from ``ctx.active_params``; ``callee(call)`` is the call's
    ``Callee``, ``differentiable_call(call)`` whether it has a derivative. A call the
    pass cannot rewrite whose callable still reads varied variables is an error
    (``error(node, message, hint)``): their derivative would silently be dropped."""
    tree = gast.FunctionDef(name=fdef.name, args=fdef.args, body=body + [fdef.body[-1]],
                            decorator_list=[], returns=None, type_comment=None, type_params=[])
    grows = lambda call: ctx.support_kind(call) in ("append", "extend")  # noqa: E731
    varied = activity.varied_variables(tree, set(ctx.active_params), differentiable_call, grows)
    callee_fn = lambda call: callee(call).fn  # noqa: E731
    body = make_captures_explicit(body, fdef, varied, callee_fn, namer, lambda: ctx.free_name("lax"))
    _check_left(body, _Ctx(body, local_names(fdef), varied, callee_fn, namer, None), error)
    return body


def _check_left(body, ctx, error):
    for n in q.walk(gast.Module(body=body, type_ignores=[])):
        if not (isinstance(n, gast.Assign) and isinstance(n.value, gast.Call)):
            continue
        rule = _RULES.get(id(ctx.callee_fn(n.value)))
        if rule is None:
            continue
        for a in list(n.value.args) + [k.value for k in n.value.keywords]:
            a = a.value if isinstance(a, gast.Starred) else a
            listed = ctx.body_assigns.get(a.id) if isinstance(a, gast.Name) else a
            atoms = listed.elts if isinstance(listed, (gast.List, gast.Tuple)) else [a]
            for atom in atoms:
                name = ctx.def_name(atom)
                captured = sorted(ctx.captures(name)) if name is not None else []
                if captured:
                    error(n, f"s2s cannot differentiate `{rule[0].__name__}` through the values "
                             f"{', '.join(captured)} that the function `{name}` passed to it reads "
                             "from the enclosing function (it takes *args or has defaults)",
                          "give the function plain positional parameters, or pass those values "
                          "in its operands or carry")


def make_captures_explicit(body, fdef, varied, callee_fn, namer, lax_name):
    """``body`` (normal-form statements of ``fdef``) with the captures of ``lax``
    control-flow callables passed explicitly (see the module docstring).

    ``callee_fn(call)`` is the function a call resolves to; ``lax_name()`` the name
    of ``s2s.lax`` in generated code.
    """
    ctx = _Ctx(body, local_names(fdef), varied, callee_fn, namer, lax_name)
    if not any(ctx.captures(name) for name in ctx.defs):
        return body
    return _block(body, ctx)


def _block(stmts, ctx):
    out = []
    for s in stmts:
        for field in ("body", "orelse"):
            if isinstance(s, (gast.If, gast.For, gast.While)):
                setattr(s, field, _block(getattr(s, field), ctx))
        out += _rewrite(s, ctx) or [s]
    return out


def _rewrite(s, ctx):
    if not (isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)
            and isinstance(s.value, gast.Call)):
        return None
    call = s.value
    if any(isinstance(a, gast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
        return None
    rule = _RULES.get(id(ctx.callee_fn(call)))
    if rule is None:
        return None
    fn, converter = rule
    try:
        bound = inspect.signature(fn).bind(*call.args, **{k.arg: k.value for k in call.keywords})
    except TypeError:
        return None
    return converter(s.targets[0].id, call.func, bound, ctx)


# -- copies of nested functions that take the captures -------------------------------


def _plain_params(fdef):
    a = fdef.args
    if a.vararg or a.kwarg or a.kwonlyargs or a.defaults or a.posonlyargs:
        return None
    return [p.id for p in a.args]


def _opened(ctx, fname, consts, kname, carry_index=None, lead=False, trail=False, wrap=None):
    """A copy of nested ``fname`` reading ``consts`` from the tuple parameter ``kname``.

    ``carry_index``: that parameter becomes ``(it, kname)``; ``lead``/``trail``: ``kname``
    is an extra first/last parameter; ``wrap(r)``: the value returned instead of ``r``.
    """
    fdef = ctx.defs.get(fname)
    params = _plain_params(fdef) if fdef is not None else None
    if params is None:
        return None
    new = q.copy_tree(fdef)
    new.name = ctx.namer.new(fname + "_k")
    prologue = []
    if carry_index is not None:
        if carry_index >= len(params):
            return None
        packed = ctx.namer.new("carry_k")
        prologue.append(q.assign(gast.Tuple(elts=[q.store(params[carry_index]), q.store(kname)],
                                            ctx=gast.Store()), q.name(packed)))
        params[carry_index] = packed
    params = ([kname] if lead else []) + params + ([kname] if trail else [])
    new.args.args = [q.name(p, gast.Param()) for p in params]
    if consts:
        prologue.append(q.assign(gast.Tuple(elts=[q.store(c) for c in consts], ctx=gast.Store()),
                                 q.name(kname)))
    new.body = prologue + [_wrap_returns(st, wrap) for st in new.body]
    return new


def _wrap_returns(stmt, wrap):
    if wrap is None:
        return stmt

    class Wrap(gast.NodeTransformer):
        def visit_FunctionDef(self, node):
            return node  # a nested function's returns are its own

        def visit_Return(self, node):
            node.value = wrap(node.value if node.value is not None else q.const(None))
            return node

    return Wrap().visit(stmt) if not isinstance(stmt, gast.FunctionDef) else stmt


def _forwarding(ctx, func, n, kname):
    """``def f_k(a0, ..., k): return func(a0, ...)`` for a callable that captures nothing."""
    args = [ctx.namer.new(f"a{i}") for i in range(n)]
    fname = ctx.namer.new("branch_k")
    body = [gast.Return(value=q.call(q.copy_tree(func), [q.name(a) for a in args]))]
    return gast.FunctionDef(name=fname, args=gast.arguments(
        args=[q.name(a, gast.Param()) for a in args + [kname]], posonlyargs=[], vararg=None,
        kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[]), body=body, decorator_list=[],
        returns=None, type_comment=None, type_params=[])


def _sub(name, i):
    return gast.Subscript(value=q.name(name), slice=q.const(i), ctx=gast.Load())


def _tuple(*elts):
    return gast.Tuple(elts=list(elts), ctx=gast.Load())


def _call(func, bound):
    return q.call(q.copy_tree(func), bound.args, [gast.keyword(arg=k, value=v)
                                                    for k, v in bound.kwargs.items()])


def _consts(ctx, *fnodes):
    names = set()
    for f in fnodes:
        names |= ctx.captures(ctx.def_name(f))
    return sorted(names)


def _consts_tuple(ctx, consts):
    kname = ctx.namer.new("k")
    return kname, q.assign(kname, _tuple(*[q.name(c) for c in consts]))


# -- one converter per function ------------------------------------------------------


def _carry_loop(target, func, bound, ctx, fun_params, carry_index, wrap_result):
    """A loop whose callables ``fun_params`` (with ``wrap`` per callable) carry ``k``."""
    consts = _consts(ctx, *(bound.arguments[p] for p, _ in fun_params))
    if not consts:
        return None
    kname, k_assign = _consts_tuple(ctx, consts)
    defs = []
    for p, wrap in fun_params:
        opened = _opened(ctx, ctx.def_name(bound.arguments[p]), consts, kname, carry_index=carry_index,
                         wrap=wrap and (lambda r, w=wrap: w(r, kname)))
        if opened is None:
            return None
        defs.append(opened)
        bound.arguments[p] = q.name(opened.name)
    init_param = "init" if "init" in bound.arguments else "init_val"
    carry = ctx.namer.new("carry")
    res = ctx.namer.new("res")
    out = defs + [k_assign, q.assign(carry, _tuple(bound.arguments[init_param], q.name(kname)))]
    bound.arguments[init_param] = q.name(carry)
    out.append(q.assign(res, _call(func, bound)))
    return out + wrap_result(target, res, ctx)


def _scan(target, func, bound, ctx):
    def result(target, res, ctx):
        res_carry, carry_out, ys = (ctx.namer.new(n) for n in ("res_carry", "carry_out", "ys"))
        return [q.assign(res_carry, _sub(res, 0)), q.assign(carry_out, _sub(res_carry, 0)),
                q.assign(ys, _sub(res, 1)), q.assign(target, _tuple(q.name(carry_out), q.name(ys)))]
    return _carry_loop(target, func, bound, ctx,
                       [("f", lambda r, k: _tuple(_tuple(gast.Subscript(value=r, slice=q.const(0),
                                                                        ctx=gast.Load()), q.name(k)),
                                                  gast.Subscript(value=q.copy_tree(r), slice=q.const(1),
                                                                 ctx=gast.Load())))],
                       0, result)


def _carry_only(target, res, ctx):
    return [q.assign(target, _sub(res, 0))]


def _fori(target, func, bound, ctx):
    return _carry_loop(target, func, bound, ctx, [("body_fun", lambda r, k: _tuple(r, q.name(k)))],
                       1, _carry_only)


def _while(target, func, bound, ctx):
    return _carry_loop(target, func, bound, ctx,
                       [("cond_fun", None), ("body_fun", lambda r, k: _tuple(r, q.name(k)))],
                       0, _carry_only)


def _branches(target, func, bound, ctx, fnodes, rebuild):
    """``cond``/``switch``: each branch takes ``k`` after the operands."""
    consts = _consts(ctx, *fnodes)
    if not consts:
        return None
    kname, k_assign = _consts_tuple(ctx, consts)
    n = len(bound.arguments.get("operands", ()))
    defs = []
    for f in fnodes:
        opened = None
        if ctx.def_name(f) is not None:
            opened = _opened(ctx, ctx.def_name(f), consts, kname, trail=True)
            if opened is None:
                return None
        defs.append(opened or _forwarding(ctx, f, n, kname))
    bound.arguments["operands"] = tuple(bound.arguments.get("operands", ())) + (q.name(kname),)
    return defs + [k_assign] + rebuild([q.name(d.name) for d in defs]) + [q.assign(target, _call(func, bound))]


def _cond(target, func, bound, ctx):
    def rebuild(names):
        bound.arguments["true_fun"], bound.arguments["false_fun"] = names
        return []
    return _branches(target, func, bound, ctx, [bound.arguments["true_fun"], bound.arguments["false_fun"]],
                     rebuild)


def _switch(target, func, bound, ctx):
    branches = bound.arguments["branches"]
    if isinstance(branches, gast.Name):
        branches = ctx.body_assigns.get(branches.id)
    if not isinstance(branches, (gast.List, gast.Tuple)):
        return None

    def rebuild(names):
        listed = ctx.namer.new("branches_k")
        bound.arguments["branches"] = q.name(listed)
        return [q.assign(listed, gast.List(elts=names, ctx=gast.Load()))]
    return _branches(target, func, bound, ctx, list(branches.elts), rebuild)


def _map(target, func, bound, ctx):
    """``map(f, xs)`` as ``scan`` whose carry is ``k``."""
    consts = _consts(ctx, bound.arguments["f"])
    if not consts:
        return None
    kname, k_assign = _consts_tuple(ctx, consts)
    opened = _opened(ctx, ctx.def_name(bound.arguments["f"]), consts, kname, lead=True,
                     wrap=lambda r: _tuple(q.name(kname), r))
    if opened is None:
        return None
    res = ctx.namer.new("res")
    scan = q.parse_expr(f"{ctx.lax_name()}.scan")
    return [opened, k_assign, q.assign(res, q.call(scan, [q.name(opened.name), q.name(kname),
                                                          bound.arguments["xs"]])),
            q.assign(target, _sub(res, 1))]


def _rules():
    return {id(lax.scan): (lax.scan, _scan), id(lax.fori_loop): (lax.fori_loop, _fori),
            id(lax.while_loop): (lax.while_loop, _while), id(lax.cond): (lax.cond, _cond),
            id(lax.switch): (lax.switch, _switch), id(lax.map): (lax.map, _map)}


_RULES = _rules()
