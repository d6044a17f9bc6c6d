"""Derivative templates: parse once, bind at a call site, instantiate as statements.

A template is a Python function written against placeholders (Tangent style)::

    def _(ans, x):                  # ans: the result; x: the operand
        d[x] = d[ans] * (1.0 - ans * ans)

Instantiating it for ``y = np.tanh(u)`` with adjoint names ``by``/``bu`` gives the
statement ``bu = by * (1.0 - y * y)``. The call site's arguments are bound to the
template's parameters with Python's own rules (defaults included); ``if``
statements whose test only involves static parameters are folded, so the
generated code shows only the branch that applies; contributions to operands
that need no adjoint are dropped together with temporaries only they used.
"""
import ast
import functools
import inspect

import gast

from s2s.core.errors import S2SError
from s2s.parse import astconv, quoting as q
from s2s.parse.source import get_source
from s2s.runtime import support


class TemplateError(S2SError):
    """A template cannot be used at this call site."""


class Contribution:
    """``d[operand] = expr`` in an instantiated template: the operand is an atom."""

    __slots__ = ("operand", "expr", "node", "maybe_none", "starred")

    def __init__(self, operand, expr, node, maybe_none=False):
        self.operand = operand
        self.expr = expr
        self.node = node
        self.maybe_none = maybe_none  # the expression may evaluate to None (a zero adjoint)
        self.starred = False  # the operand is a ``*rest`` of the call (no adjoint possible)


class Template:
    """A parsed template function."""

    def __init__(self, fn):
        src = get_source(fn, rule=True)
        self.fn = fn
        self.signature = inspect.signature(fn)
        self.params = list(self.signature.parameters)
        self.body = src.node.body
        assigned = set()
        for stmt in q.walk(src.node):
            if isinstance(stmt, gast.Name) and isinstance(stmt.ctx, gast.Store):
                assigned.add(stmt.id)
        self.locals = assigned - set(self.params)
        self.name = getattr(fn, "__qualname__", "template")


@functools.lru_cache(maxsize=None)
def parse(fn):
    """The ``Template`` of ``fn`` (cached)."""
    return Template(fn)


def bind(template, ans, args, keywords):
    """Maps each template parameter to a call-site atom (defaults as constants).

    ``*rest`` in a call is allowed where it lands in the template's own ``*args``
    (``lax.select_n(which, *cases)``): that parameter is bound to the
    tuple display ``(*cases,)``, which templates may read but not give adjoints to.
    """
    if any(k.arg is None for k in keywords):
        return _bind_unpacked(template, ans, args, keywords)
    star = next((i for i, a in enumerate(args) if isinstance(a, gast.Starred)), None)
    if star is not None:
        return _bind_starred(template, ans, args, keywords, star)
    try:
        bound = template.signature.bind(ans, *args, **{k.arg: k.value for k in keywords})
    except TypeError as e:
        raise TemplateError(f"arguments do not fit {template.name}: {e}") from None
    bound.apply_defaults()
    out = {}
    for name, value in bound.arguments.items():
        param = template.signature.parameters[name]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            out[name] = gast.Tuple(elts=list(value), ctx=gast.Load())
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            out[name] = gast.Dict(keys=[q.const(k) for k in value], values=list(value.values()))
        elif isinstance(value, gast.AST):
            out[name] = value
        else:
            out[name] = q.const(value)
    return out


def _bind_unpacked(template, ans, args, keywords):
    """``bind`` for a call with ``**kw``: allowed where whatever ``kw`` holds can only land
    in the template's own ``**kwargs`` (every other parameter is given by position or by
    name), which is bound to the dict display ``{'k': v, **kw}``."""
    params = list(template.signature.parameters.values())
    var = next((p for p in params if p.kind is p.VAR_KEYWORD), None)
    named = {k.arg for k in keywords if k.arg is not None}
    by_position = len(args) + 1  # the answer is the template's first parameter
    open_ = [p.name for i, p in enumerate(params)
             if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and not (p.kind is p.POSITIONAL_OR_KEYWORD and i < by_position) and p.name not in named]
    if var is None or open_ or any(isinstance(a, gast.Starred) for a in args):
        raise TemplateError("a call with **kwargs cannot use a derivative template unless they "
                            "fill its own **kwargs")
    out = bind(template, ans, args, [k for k in keywords if k.arg is not None])
    unpacked = [k.value for k in keywords if k.arg is None]
    given = out.get(var.name, gast.Dict(keys=[], values=[]))
    out[var.name] = gast.Dict(keys=list(given.keys) + [None] * len(unpacked),
                              values=list(given.values) + unpacked)
    return out


def _bind_starred(template, ans, args, keywords, star):
    params = list(template.signature.parameters.values())
    named = [p for p in params[1:] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    var = next((p for p in params if p.kind is p.VAR_POSITIONAL), None)
    if var is None or star < len(named):
        raise TemplateError("a call with *args cannot use a derivative template unless they "
                            "fill its own *args")
    out = bind(template, ans, list(args[:star]), keywords)
    out[var.name] = gast.Tuple(elts=list(args[star:]), ctx=gast.Load())
    out[var.name]._s2s_starred = True
    return out


class _Instantiate(gast.NodeTransformer):
    def __init__(self, bound, adjoints, renames, free):
        self.bound = bound
        self.adjoints = adjoints
        self.renames = renames
        self.free = free

    def visit_Subscript(self, node):
        if isinstance(node.value, gast.Name) and node.value.id == "d" and isinstance(node.slice, gast.Name):
            key = node.slice.id
            if isinstance(node.ctx, gast.Load):
                if key not in self.adjoints:
                    raise TemplateError(f"template reads d[{key}], which is not available")
                return q.name(self.adjoints[key])
            return node  # a contribution target, handled by the caller
        return self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.bound:
            return q.copy_tree(self.bound[node.id])
        if node.id in self.renames:
            return gast.Name(id=self.renames[node.id], ctx=node.ctx, annotation=None, type_comment=None)
        if node.id != "d":
            return gast.Name(id=self.free(node.id), ctx=node.ctx, annotation=None, type_comment=None)
        return node


def _static_value(node):
    """The value of an expression made only of constants, else raises ValueError."""
    for n in q.walk(node):
        if isinstance(n, gast.Name) and n.id not in ("None", "True", "False"):
            raise ValueError(n.id)
    tree = ast.fix_missing_locations(astconv.to_ast(gast.Expression(body=node)))
    return eval(compile(tree, "<template>", "eval"),
                {"__builtins__": {"isinstance": isinstance, "len": len, "int": int, "tuple": tuple}})


class _Simplify(gast.NodeTransformer):
    """Folds constant arithmetic, ``x ** 1``, ``x * 1`` and default trailing arguments."""

    def __init__(self, signature_of):
        self.signature_of = signature_of

    def visit_BinOp(self, node):
        self.generic_visit(node)
        left, right = node.left, node.right
        if _is_num(left) and _is_num(right):
            try:
                return q.const(_static_value(node))
            except Exception:
                return node
        if isinstance(node.op, gast.Pow) and _is_num(right) and right.value == 1:
            return left
        if isinstance(node.op, gast.Mult):
            if _is_num(right) and right.value == 1:
                return left
            if _is_num(left) and left.value == 1:
                return right
        return node

    def visit_Call(self, node):
        self.generic_visit(node)
        sig = self.signature_of(node.func.id) if isinstance(node.func, gast.Name) else None
        if sig is None:
            return node
        params = list(sig.parameters.values())
        args = list(node.args)
        while args and len(args) <= len(params):
            p = params[len(args) - 1]
            last = args[-1]
            if p.default is inspect.Parameter.empty or not isinstance(last, gast.Constant) \
                    or last.value is not p.default and last.value != p.default:
                break
            args.pop()
        node.args = args
        return node


def _is_num(node):
    return isinstance(node, gast.Constant) and type(node.value) in (int, float, complex)


def instantiate(template, bound, adjoints, namer, free, signature_of=lambda name: None):
    """Statements and ``Contribution``s of ``template`` at one call site.

    ``bound`` maps parameters to atoms, ``adjoints`` maps the names allowed in
    ``d[...]`` reads to adjoint variable names, ``free(name)`` gives the name to
    use in generated code for a free name of the template (``np``, helpers).
    """
    renames = {name: namer.new(name) for name in sorted(template.locals)}
    tr = _Instantiate(bound, adjoints, renames, free)
    simplify = _Simplify(signature_of)
    # Fold `if`s on static parameters first (substituting only their tests), then
    # substitute every kept statement exactly once.
    body = _fold_bound(q.copy_tree(template.body), template.name, tr)
    items = []
    for s in body:
        if _is_contribution(s):
            key = s.targets[0].slice.id
            if getattr(bound.get(key), "_s2s_starred", False):
                c = Contribution(q.copy_tree(bound[key]), q.const(None), s)
                c.starred = True  # kept by prune only if those operands need an adjoint
                items.append(c)
                continue
            items.append(Contribution(q.copy_tree(bound[key]), simplify.visit(tr.visit(s.value)), s,
                                      _may_be_none(s.value, template)))
        else:
            items.append(simplify.visit(tr.visit(s)))
    return items


def _may_be_none(expr, template):
    """Whether a contribution calls a helper that may give ``None`` (a zero adjoint) for a
    non-zero adjoint: such helpers carry ``maybe_none = True``."""
    if not (isinstance(expr, gast.Call) and isinstance(expr.func, gast.Name)):
        return False
    fn = getattr(template.fn, "__globals__", {}).get(expr.func.id) or getattr(support, expr.func.id, None)
    return bool(getattr(fn, "maybe_none", False))


def _is_contribution(s):
    return isinstance(s, gast.Assign) and len(s.targets) == 1 and _is_d(s.targets[0])


def _fold_bound(stmts, where, tr):
    out = []
    for s in stmts:
        if isinstance(s, gast.If):
            test = tr.visit(q.copy_tree(s.test))
            try:
                taken = _static_value(test)
            except Exception:
                raise TemplateError(
                    f"template {where}: `if {q.to_source(test)}` must depend only on static "
                    "parameters; use a helper function for run-time decisions") from None
            out.extend(_fold_bound(s.body if taken else s.orelse, where, tr))
        elif isinstance(s, gast.Pass):
            continue
        else:
            out.append(s)
    return out


def _is_d(node):
    return (isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name)
            and node.value.id == "d" and isinstance(node.slice, gast.Name))


def prune(items, keep_operand):
    """Drops contributions ``keep_operand`` rejects, then temporaries nothing reads."""
    items = [i for i in items if not isinstance(i, Contribution) or keep_operand(i.operand)]
    while True:
        used = set()
        for i in items:
            node = i.expr if isinstance(i, Contribution) else i
            for n in q.walk(node):
                if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load):
                    used.add(n.id)
        kept = []
        for i in items:
            if isinstance(i, gast.Assign) and all(
                    isinstance(t, gast.Name) and t.id not in used for t in i.targets):
                continue
            kept.append(i)
        if len(kept) == len(items):
            return kept
        items = kept


# ---------------------------------------------------------------------------
# Tangent mode (forward): ``d[ans] = expr`` defined from the operands' tangents.
#
# A jvp template reads ``d[x]`` for operand tangents and assigns ``d[ans]`` once::
#
#     def _(ans, x, y):
#         d[ans] = d[x] * y + x * d[y]
#
# Operands without a tangent (constants, inactive values) read as a symbolic zero
# that is folded away: a sum drops it, and any other expression holding it is zero
# (a jvp is linear in each tangent, so only sums mix them). Sums are ``+``/``-`` and
# calls of the helpers in ``TANGENT_SUMS`` (``add_grad``: adjoint helpers' tangents
# may be None, so their templates add with it). Where a tangent must
# exist as a value (``select(p, d[x], d[y])``), templates write
# ``materialize(d[x], x)``: the tangent itself, or zeros shaped like ``x``.

ZERO_TANGENT = "__s2s_zero_tangent__"

# Helpers that templates call to add tangents, by the name templates spell them.
TANGENT_SUMS = frozenset({"add_grad"})


def instantiate_tangent(template, bound, tangents, namer, free, zeros_name,
                        signature_of=lambda name: None):
    """``(statements, expr)`` of jvp ``template`` at one call site; ``expr`` is the
    result's tangent, or None when it is zero.

    ``tangents`` maps operand parameters to tangent variable names (absent: zero; a
    ``*args`` parameter's tangent is a tuple the caller builds);
    ``zeros_name`` is the generated name of the helper making zero tangents.
    """
    reads = {p: tangents.get(p) or ZERO_TANGENT for p in template.params[1:]}
    # The generated name of a sum helper is not its spelling in the template (it is
    # `add_grad2` where the code being differentiated, itself gradient code, already
    # calls `add_grad`): sums are recognized by the names free() gave them.
    sums = set()

    def free_noting_sums(name):
        generated = free(name)
        if name in TANGENT_SUMS:
            sums.add(generated)
        return generated
    items = instantiate(template, bound, reads, namer, free_noting_sums, signature_of)
    fold = lambda node: _fold_zero(node, zeros_name, sums)  # noqa: E731
    zero = {ZERO_TANGENT}
    stmts, result = [], None
    for item in items:
        if isinstance(item, Contribution):
            result = fold(_subst_zero(item.expr, zero))
        elif isinstance(item, gast.Assign) and len(item.targets) == 1 \
                and isinstance(item.targets[0], gast.Name):
            value = fold(_subst_zero(item.value, zero))
            if _is_zero(value):
                zero.add(item.targets[0].id)
            else:
                item.value = value
                stmts.append(item)
        else:
            stmts.append(_subst_zero(item, zero))
    if result is None or _is_zero(result):
        return prune(stmts, lambda operand: True), None
    kept = prune(stmts + [Contribution(None, result, None)], lambda operand: True)
    return kept[:-1], result


def _is_zero(node):
    return isinstance(node, gast.Name) and node.id == ZERO_TANGENT


def _subst_zero(node, zero):
    class Sub(gast.NodeTransformer):
        def visit_Name(self, n):
            if n.id in zero and isinstance(n.ctx, gast.Load):
                return q.name(ZERO_TANGENT)
            return n
    return Sub().visit(node)


def _fold_zero(node, zeros_name, sums=frozenset()):
    """Folds the symbolic zero tangent out of ``node`` (see the section comment);
    ``sums`` are the generated names of the ``TANGENT_SUMS`` helpers."""
    called = node.func.id if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) else None
    if called == "materialize":
        t, like = node.args
        t = _fold_zero(t, zeros_name, sums)
        return q.call(q.name(zeros_name), [like]) if _is_zero(t) else t
    if called in sums and not node.keywords:
        # A zero term drops out of a sum (it does not zero the sum).
        terms = [t for t in (_fold_zero(a, zeros_name, sums) for a in node.args) if not _is_zero(t)]
        if len(terms) <= 1:
            return terms[0] if terms else q.name(ZERO_TANGENT)
        node.args = terms
        return node
    children = list(gast.iter_fields(node))
    for field, value in children:
        if isinstance(value, list):
            setattr(node, field, [_fold_zero(v, zeros_name, sums) if isinstance(v, gast.AST) else v
                                  for v in value])
        elif isinstance(value, gast.AST):
            setattr(node, field, _fold_zero(value, zeros_name, sums))
    if isinstance(node, gast.BinOp) and isinstance(node.op, (gast.Add, gast.Sub)):
        if _is_zero(node.right):
            return node.left
        if _is_zero(node.left):
            return node.right if isinstance(node.op, gast.Add) else \
                gast.UnaryOp(op=gast.USub(), operand=node.right)
        return node
    if isinstance(node, (gast.expr, gast.keyword)) and not isinstance(node, gast.Name) and any(
            _is_zero(n) for n in q.walk(node) if n is not node):
        if isinstance(node, (gast.Tuple, gast.List)):
            raise TemplateError("a tuple of tangents holds a zero: use materialize(d[x], x)")
        return q.name(ZERO_TANGENT)
    return node
