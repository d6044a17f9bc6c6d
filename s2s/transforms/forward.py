"""Forward mode: normal-form function -> one sweep of primal and tangent statements.

Each statement of the normal form is followed by its tangent statement, built
from the ``jvp`` template of the primitive it calls (``dy = dx * (1 - y * y)``);
there is no tape and no reversal, so control flow (``if``, loops, ``break``,
early ``return``) stays exactly as the user wrote it. A variable has a tangent
when it depends on a differentiated parameter (activity's *varied* analysis,
flow-insensitive): every assignment to such a variable defines its tangent, as
zeros where the assigned value does not depend on the parameters.

Per statement:

* ``y = op(a, b)``: the jvp template of ``op``; an operand without a tangent is
  a symbolic zero and its terms disappear. A primitive with only a vjp template
  gets ``dy = transposed_jvp(op, ...)``: the vjp template is linear in the
  cotangent, and reverse mode of it gives the Jacobian-vector product.
* calls of user functions: ``y, dy = jvp_g(da, a, b)`` (built in turn; recursion
  goes through cells filled once built); calls of function values:
  ``y, dy = dynamic_jvp(g, (a, b), (da, None))``, forward mode taken when it runs.
* containers: the tangent of a list is the list of tangents; ``x[i] = v``
  (``x = setitem(x, i, v)`` in normal form) updates ``dx`` the same way.

Tangents are named ``dx``; blocks are headed by ``# jvp of: <user line>``.
The entry points are ``build_jvp(fn, active_params)`` and ``jvp_function``.
"""
import copy
import inspect
import weakref

import gast

from s2s.codegen.python import compile_function, make_cell
from s2s.core.errors import TransformError
from s2s.core.primitive import rules_of, ZERO_DERIVATIVE
from s2s.parse import quoting as q
from s2s.parse.naming import Namer
from s2s.parse.normalize import VARARGS_SHAPE
from s2s.parse.resolve import static_chain
from s2s.transforms import activity, captures, fwd_support, templates
from s2s.transforms import frontend as fe
from s2s.transforms.shapes import ShapeClasses
from s2s.parse import dataflow
from s2s.transforms.frontend import CalleeKind
from s2s.transforms.reverse import _comment, captured_active, reads_from_enclosing

# Helpers generated tangent code calls, by the names templates use.
_HELPERS = {
    "zeros_tangent": fwd_support.zeros_tangent,
    "broadcast_like": fwd_support.broadcast_like,
    "transposed_jvp": fwd_support.transposed_jvp,
    "dynamic_jvp": fwd_support.dynamic_jvp,
}


class _ForwardContext(fe.Context):
    """The front end's context, knowing forward mode's helpers."""

    def helper(self, name):
        return self.bind(name, _HELPERS[name])

    def free_name(self, name, scope=None):
        if name == "materialize":  # folded away by templates.instantiate_tangent
            return name
        if name in _HELPERS:
            return self.helper(name)
        return super().free_name(name, scope)


class _Forward:
    def __init__(self, fdef, ctx):
        self.ctx = ctx
        self.namer = ctx.namer
        self.params = dataflow.parameters(fdef)
        self.result = fdef.body[-1].value
        self.callees = {}
        # Values a lax control-flow callable closes over are passed to it explicitly, as
        # in reverse mode: the jvp rules carry tangents of operands and carries only.
        self.body = captures.explicit_for(fdef, copy.deepcopy(fdef.body[:-1]), ctx, self.callee,
                                          self._differentiable_call, self.namer, self.error)
        tree = gast.FunctionDef(name=fdef.name, args=fdef.args, body=self.body + [fdef.body[-1]],
                                decorator_list=[], returns=None, type_comment=None, type_params=[])
        self.callees = {}  # keyed by node id: the rewrite dropped nodes
        self.tangents = {}
        self.deps = []
        self._last_comment = None
        grows = lambda call: ctx.support_kind(call) in ("append", "extend")  # noqa: E731
        self.varied = activity.varied_variables(tree, set(ctx.active_params), self._differentiable_call,
                                                grows)
        self.array_vars = fe.array_variables(self.body, self.callee, self.params)
        self.shapes = ShapeClasses(self.body, self._elementwise_call, self.params)

    # -- helpers ---------------------------------------------------------------

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
        return fe.method_of_value(self.callees[key], call, self.known_array)

    def known_array(self, node):
        """Whether ``node`` is certainly an array (differentiated, or made by array operations)."""
        return self.active(node) or isinstance(node, gast.Name) and node.id in self.array_vars

    def _differentiable_call(self, call):
        return self.callee(call).kind != CalleeKind.ZERO

    def _elementwise_call(self, call):
        c = self.callee(call)
        prim = getattr(c.fn, "primitive", c.fn)
        return c.kind == CalleeKind.TEMPLATE and getattr(prim, "elementwise", False)

    def tan(self, name):
        if name not in self.tangents:
            self.tangents[name] = self.namer.tangent(name)
        return self.tangents[name]

    def active(self, node):
        return isinstance(node, gast.Name) and node.id in self.varied

    def tangent_of(self, node):
        """The tangent of atom ``node`` as an expression: its tangent variable, or zeros."""
        if isinstance(node, gast.Starred):
            return gast.Starred(value=self.tangent_of(node.value), ctx=gast.Load())
        if isinstance(node, gast.Name) and node.id in self.local_defs():
            # A local function has no tangent: what it reads of this function gets one
            # where it is called (captures made explicit, or the call refused and traced).
            return q.const(None)
        if self.active(node):
            return q.name(self.tan(node.id))
        return self.zeros(node)

    def zeros(self, node):
        return q.call(q.name(self.ctx.helper("zeros_tangent")), [copy.deepcopy(node)])

    def comment(self, s, code):
        text = self.ctx.source.line_text(s)
        if not text or text == self._last_comment:
            return code
        self._last_comment = text
        return [gast.copy_location(_comment(f"jvp of: {text}"), s)] + code

    # -- statements --------------------------------------------------------------

    def block(self, stmts):
        out = []
        for s in stmts:
            out.extend(self.stmt(s))
        return out

    def stmt(self, s):
        if isinstance(s, gast.Assign):
            target = s.targets[0]
            if isinstance(target, gast.Name):
                primal, tangent = self.assign(s)
            else:
                primal, tangent = [s], self.unpack(s)
            return self.comment(s, primal + tangent) if tangent else primal
        if isinstance(s, gast.If):
            body = self.block(s.body) or [gast.Pass()]
            return [gast.copy_location(gast.If(test=s.test, body=body, orelse=self.block(s.orelse)), s)]
        if isinstance(s, gast.For):
            body = self.loop_target_tangents(s) + self.block(s.body) or [gast.Pass()]
            return [gast.copy_location(gast.For(target=s.target, iter=s.iter, body=body,
                                                orelse=self.block(s.orelse), type_comment=None), s)]
        if isinstance(s, gast.While):
            body = self.block(s.body) or [gast.Pass()]
            return [gast.copy_location(gast.While(test=s.test, body=body, orelse=self.block(s.orelse)), s)]
        if isinstance(s, gast.Expr) and isinstance(s.value, gast.Call):
            tangent = self.list_growth(s.value)
            return self.comment(s, [s] + tangent) if tangent else [s]
        return [s]

    def loop_target_tangents(self, s):
        """``for j in range(n)`` with ``j`` varied elsewhere (popped from a tape, say): its
        tangent is zeros on every step (the normal form iterates only over sequences
        without tangents; sequences of active values are indexed)."""
        names = [n.id for n in gast.walk(s.target) if isinstance(n, gast.Name) and n.id in self.varied]
        if names and self.site_active(s.iter):
            self.error(s, "s2s cannot take forward mode of a loop over a sequence with tangents",
                       "iterate over an index range and subscript the sequence")
        return [q.assign(self.tan(n), self.zeros(q.name(n))) for n in names]

    def list_growth(self, call):
        """``append(xs, v)`` / ``extend(xs, vs)``: the tangent list grows alike."""
        kind = self.ctx.support_kind(call)
        if kind not in ("append", "extend") or not self.active(call.args[0]):
            return []
        xs = call.args[0]
        new = q.call(copy.deepcopy(call.func), [q.name(self.tan(xs.id)), self.tangent_of(call.args[1])])
        return [gast.Expr(value=new)]

    def unpack(self, s):
        """``a, b = v``: ``da, db = dv`` (the tangent of a tuple is a tuple of tangents)."""
        names = [n.id for n in gast.walk(s.targets[0]) if isinstance(n, gast.Name)]
        if not any(n in self.varied for n in names):
            return []
        value = s.value
        base = value.value if isinstance(value, gast.Subscript) else value
        if not self.active(base):
            return [q.assign(self.tan(n), self.zeros(q.name(n))) for n in names if n in self.varied]

        class Rename(gast.NodeTransformer):
            def visit_Name(inner, n):  # noqa: N805
                return q.store(self.tan(n.id)) if n.id in self.varied else q.store("_")
        targets = Rename().visit(copy.deepcopy(s.targets[0]))
        tangent = self.tangent_value(s, value, q.name(names[0]))
        return [gast.Assign(targets=[targets], value=tangent, type_comment=None)]

    def assign(self, s):
        """``(primal statements, tangent statements)`` of ``t = value``."""
        target = s.targets[0].id
        value = s.value
        if target not in self.varied:
            return [s], []
        if isinstance(value, gast.Name) and value.id in self.local_defs():
            # ``fn = inner``: a function value made from what ``inner`` reads (no tangent)
            carried = reads_from_enclosing(self.local_defs()[value.id], self.varied)
            self.error(s, f"s2s cannot take forward mode through the function value `{value.id}`, "
                          f"made from the differentiated {', '.join(map(repr, carried))}",
                       f"call {value.id} by its name, or pass those values to it as arguments")
        if isinstance(value, gast.Call):
            c = self.callee(value)
            if self.site_active(value):
                if c.kind == CalleeKind.USER:
                    return self.user_call(s, c), []
                if c.kind == CalleeKind.UNKNOWN:
                    return self.dynamic_call(s), []
                if c.kind == CalleeKind.NORULE:
                    raise c.error
        if target in activity._reads(value):
            # `y = y * x`: the tangent reads the old `y`, so the new one waits in a temporary.
            new = self.namer.new(target)
            primal = gast.copy_location(q.assign(new, value), s)
            tangent = self.tangent_value(s, value, q.name(new))
            tangent = tangent if isinstance(tangent, list) else [q.assign(self.tan(target), tangent)]
            tangent = _retarget(tangent, self.tan(new), self.tan(target))
            reads = set().union(*(activity._reads(t) for t in tangent))
            if not reads & {target, new}:  # the tangent reads neither value: no temporary
                return [s], tangent
            return [primal], tangent + [q.assign(target, q.name(new))]
        expr = self.tangent_value(s, value, q.name(target))
        if isinstance(expr, list):
            return [s], expr
        return [s], [q.assign(self.tan(target), expr)]

    def site_active(self, value):
        if not activity._value_is_differentiable(value, self._differentiable_call):
            return False
        reads = activity._reads(value.value if isinstance(value, gast.Subscript) else value)
        return bool(reads & self.varied)

    def tangent_value(self, s, value, result):
        """The tangent of ``result = value`` (an expression, or statements ending in the
        assignment of the result's tangent)."""
        if isinstance(value, gast.List) and not value.elts:
            # `acc = []`: `dacc = []`, a fresh list as the primal is (jit's conversion
            # lets a branch or loop append to a list it made, not to zeros_tangent(acc))
            return gast.List(elts=[], ctx=gast.Load())
        if not self.site_active(value):
            return self.zeros(result)
        if isinstance(value, gast.Name):
            return q.name(self.tan(value.id))
        if isinstance(value, gast.Subscript):
            return gast.Subscript(value=q.name(self.tan(value.value.id)), slice=copy.deepcopy(value.slice),
                                  ctx=gast.Load())
        if isinstance(value, (gast.Tuple, gast.List)):
            return type(value)(elts=[self.tangent_of(e) for e in value.elts], ctx=gast.Load())
        if isinstance(value, gast.Dict):
            return gast.Dict(keys=copy.deepcopy(value.keys),
                             values=[self.tangent_of(v) if k is not None else self.tangent_of(v)
                                     for k, v in zip(value.keys, value.values)])
        if isinstance(value, (gast.BinOp, gast.UnaryOp)):
            c = self.ctx.operator_callee(value.op)
            operands = [value.left, value.right] if isinstance(value, gast.BinOp) else [value.operand]
            return self.template_call(s, c, result, operands, [])
        if isinstance(value, gast.Attribute):
            c = self.ctx.attribute_callee(value.attr)
            if c is None or c.kind != CalleeKind.TEMPLATE:  # a field of a namedtuple/pytree
                return gast.Attribute(value=q.name(self.tan(value.value.id)), attr=value.attr, ctx=gast.Load())
            return self.template_call(s, c, result, [value.value], [])
        if isinstance(value, gast.Call):
            c = self.callee(value)
            if self.ctx.support_kind(value) == "pop":
                return q.call(copy.deepcopy(value.func), [q.name(self.tan(value.args[0].id))]
                              + [copy.deepcopy(a) for a in value.args[1:]])
            return self.template_call(s, c, result, self.call_args(value, c), value.keywords)
        return self.zeros(result)

    def call_args(self, call, callee):
        method = getattr(callee, "method", None)
        if not method:
            return list(call.args)
        args = list(call.args)
        if method in VARARGS_SHAPE and len(args) > 1:
            args = [gast.Tuple(elts=args, ctx=gast.Load())]
        return [call.func.value] + args

    # -- templates ---------------------------------------------------------------

    def template_call(self, s, c, result, args, keywords):
        if c.kind == CalleeKind.ZERO:
            return self.zeros(result)
        rules = fe.rules_for(c.fn) if c.fn is not None else None
        jvp = getattr(rules, "jvp", None)
        if callable(jvp):
            try:
                return self.instantiate(s, jvp, result, args, keywords)
            except templates.TemplateError:
                pass  # e.g. tangents of *args: the fallback below handles them
        if jvp == ZERO_DERIVATIVE:
            return self.zeros(result)
        return self.transposed(c, args, keywords)

    def instantiate(self, s, template, result, args, keywords):
        t = templates.parse(template)
        bound = templates.bind(t, copy.deepcopy(result), list(args), list(keywords))
        if any(isinstance(atom, gast.Dict) and any(map(self.active, atom.values)) for atom in bound.values()):
            # a template's **kwargs have no tangents: never drop one (the fallback decides)
            raise templates.TemplateError("a differentiated value passed in **kwargs")
        tangents = {p: self.tan(atom.id) for p, atom in bound.items()
                    if p != t.params[0] and self.active(atom)}
        pre = []
        for p, atom in bound.items():
            if isinstance(atom, gast.Tuple) and any(self.active(_unstarred(e)) for e in atom.elts):
                # A template's own *args: their tangents as one tuple (zeros where inactive).
                tangents[p] = self.namer.new("d" + p)
                pre.append(q.assign(tangents[p], gast.Tuple(elts=[self.tangent_of(e) for e in atom.elts],
                                                            ctx=gast.Load())))
        scope = getattr(template, "__globals__", {})
        stmts, expr = templates.instantiate_tangent(
            t, bound, tangents, self.namer, lambda name: self.ctx.free_name(name, scope),
            self.ctx.helper("zeros_tangent"), self.ctx.signature_of)
        expr = self.zeros(result) if expr is None else self.drop_broadcast(expr, result.id)
        for node in [expr] + stmts:
            _DropDefaults(self.resolve).visit(node)
        stmts = pre + stmts
        if not stmts:
            return expr
        return stmts + [q.assign(self.tan(result.id), expr)]

    def resolve(self, node):
        """The object a name chain in generated code denotes, or None."""
        chain = static_chain(node)
        if not chain:
            return None
        if chain[0] == self.ctx.plan.np_name:
            obj = fe.snp
        elif chain[0] in self.ctx.cells:
            obj = self.ctx.cells[chain[0]].cell_contents
        else:
            return None
        for part in chain[1:]:
            obj = getattr(obj, part, None)
        return obj

    def drop_broadcast(self, expr, target):
        """``broadcast_like(dx, y)`` -> ``dx`` where ``x`` surely has ``y``'s shape."""
        name = self.ctx.helper("broadcast_like")
        tangent_of = {v: k for k, v in self.tangents.items()}

        class Drop(gast.NodeTransformer):
            def visit_Call(inner, node):  # noqa: N805
                inner.generic_visit(node)
                if isinstance(node.func, gast.Name) and node.func.id == name \
                        and isinstance(node.args[0], gast.Name) and node.args[0].id in tangent_of \
                        and self.shapes.same(tangent_of[node.args[0].id], target):
                    return node.args[0]
                return node
        return Drop().visit(expr)

    def transposed(self, c, args, keywords):
        """``transposed_jvp(f, args, kwargs, tangents)``: f has only a vjp template."""
        if any(isinstance(a, gast.Starred) for a in args):
            args = [gast.Starred(value=a.value, ctx=gast.Load()) if isinstance(a, gast.Starred) else a
                    for a in args]
        fn = self.ctx.bind(getattr(c.fn, "__name__", "fn").lower(), c.fn)
        arg_tuple = gast.Tuple(elts=[copy.deepcopy(a) for a in args], ctx=gast.Load())
        tangents = gast.Tuple(elts=[self.tangent_or_none(a) for a in args], ctx=gast.Load())
        kwargs = gast.Dict(keys=[_dict_key(k) for k in keywords], values=[copy.deepcopy(k.value)
                                                                         for k in keywords])
        kw_tangents = gast.Dict(keys=[_dict_key(k) for k in keywords if self.active(k.value)],
                                values=[q.name(self.tan(k.value.id)) for k in keywords if self.active(k.value)])
        call_args = [q.name(fn), arg_tuple, kwargs, tangents]
        if kw_tangents.keys:
            call_args.append(kw_tangents)
        return q.call(q.name(self.ctx.helper("transposed_jvp")), call_args)

    def tangent_or_none(self, atom):
        if isinstance(atom, gast.Starred):
            inner = atom.value
            if self.active(inner):
                return gast.Starred(value=q.name(self.tan(inner.id)), ctx=gast.Load())
            return gast.Starred(value=q.call(q.name("tuple"), [q.call(q.name("map"), [
                gast.Lambda(args=_lambda_args("_"), body=q.const(None)), copy.deepcopy(inner)])]),
                ctx=gast.Load())
        return q.name(self.tan(atom.id)) if self.active(atom) else q.const(None)

    # -- calls of user functions and function values -----------------------------

    def user_call(self, s, c):
        call = s.value
        target = s.targets[0]
        defs = self.local_defs()
        for a in call.args + [k.value for k in call.keywords]:
            captured = reads_from_enclosing(defs[a.id], self.varied) if isinstance(a, gast.Name) \
                and a.id in defs else []
            if captured:  # the callee would take the function passed as a constant
                self.error(s, f"s2s cannot take forward mode through {', '.join(map(repr, captured))}, "
                              f"which the function {a.id!r} reads from the enclosing function",
                           f"pass {', '.join(captured)} to {a.id!r} through the call's arguments")
        if isinstance(c.fn, fe.LocalFunction):
            fn, bound_args = c.fn, ()
            plan = fn.plan
        else:
            fn, bound_args = fe.unwrap(c.fn)
            plan = fe.plan_for(fn)
        if bound_args:
            self.error(s, f"s2s cannot take forward mode of calls of bound methods/partials of "
                          f"{plan.name} yet", "call the function directly")
        params = fe.parameters(plan.normal)
        binding = fe.bind_call(plan, params, bound_args, call, self.ctx.source)
        active = tuple(p for p in params if fe.any_active(binding.get(p), self.varied))
        build = build_jvp(fn, active)
        self.deps.append(build)
        name = self.ctx.bind(f"jvp_{plan.name}", build.cell)
        self.ctx.cells[name] = build.cell
        tangents = [self.tangent_of(binding[p]) if not isinstance(binding[p], (gast.Tuple, gast.Dict))
                    else self.display_tangent(binding[p]) for p in active]
        new = gast.Assign(targets=[gast.Tuple(elts=[copy.deepcopy(target), q.store(self.tan(target.id))],
                                              ctx=gast.Store())],
                          value=gast.Call(func=q.name(name), args=tangents + list(call.args),
                                          keywords=call.keywords), type_comment=None)
        return self.comment(s, [gast.copy_location(new, s)])

    def local_defs(self):
        """The functions defined in this one, by name."""
        if getattr(self, "_defs", None) is None:
            self._defs = {n.name: n for n in q.walk(gast.Module(body=self.body, type_ignores=[]))
                          if isinstance(n, gast.FunctionDef)}
        return self._defs

    def display_tangent(self, node):
        if isinstance(node, gast.Tuple):
            return gast.Tuple(elts=[self.tangent_of(e) for e in node.elts], ctx=gast.Load())
        return gast.Dict(keys=copy.deepcopy(node.keys), values=[self.tangent_of(v) for v in node.values])

    def dynamic_call(self, s):
        call = s.value
        target = s.targets[0]
        carried = captured_active(call.func, self.active, self.local_defs(), self.varied, self.body)
        if carried:
            self.error(s, f"s2s cannot take forward mode through the call `{q.to_source(call.func)}(...)` "
                          f"of a function value made from the differentiated {', '.join(map(repr, carried))}",
                       "pass those values to the function as arguments, or call it by its name "
                       "(a method: `type(obj).method(obj, ...)`)")
        if any(self.active(k.value) for k in call.keywords):
            self.error(s, f"s2s cannot take forward mode through keyword arguments of the call "
                          f"`{q.to_source(call.func)}(...)` of a function value",
                       "pass the differentiated values positionally")
        args = gast.Tuple(elts=list(call.args), ctx=gast.Load())
        tangents = gast.Tuple(elts=[self.tangent_or_none(a) for a in call.args], ctx=gast.Load())
        value = gast.Call(func=q.name(self.ctx.helper("dynamic_jvp")),
                          args=[call.func, args, tangents], keywords=call.keywords)
        new = gast.Assign(targets=[gast.Tuple(elts=[copy.deepcopy(target), q.store(self.tan(target.id))],
                                              ctx=gast.Store())], value=value, type_comment=None)
        return self.comment(s, [gast.copy_location(new, s)])

    # -- the whole function --------------------------------------------------------

    def run(self):
        # A parameter not differentiated that later holds varied values (``if mean is None:
        # mean = np.mean(x)``) may be read before that (pushed on a tape): zeros until then.
        entry = [q.assign(self.tan(p), self.zeros(q.name(p))) for p in self.params
                 if p in self.varied and p not in self.ctx.active_params]
        body = entry + self.block(self.body)
        result = self.result
        if self.active(result):
            tangent = q.name(self.tan(result.id))
        else:
            tangent = self.zeros(result)
        return body, result, tangent, self.active(result)


class _DropDefaults(gast.NodeTransformer):
    """Leaves out keyword arguments equal to the callee's default (``axis=None``)."""

    def __init__(self, resolve):
        self.resolve = resolve

    def visit_Call(self, node):
        self.generic_visit(node)
        node.keywords = _spread_keywords(node.keywords)
        if not node.keywords:
            return node
        try:
            params = inspect.signature(self.resolve(node.func)).parameters
        except (TypeError, ValueError):
            return node
        node.keywords = [k for k in node.keywords if not (
            k.arg in params and isinstance(k.value, gast.Constant)
            and params[k.arg].default is not inspect.Parameter.empty
            and type(k.value.value) is type(params[k.arg].default)
            and k.value.value == params[k.arg].default)]
        return node


def _spread_keywords(keywords):
    """``**{'mode': m}`` (a template's ``**kwargs`` at a call site) as ``mode=m``, and
    ``**{}`` left out: reverse mode (grad of jvp) takes no ``**`` into a function."""
    out = []
    for k in keywords:
        if k.arg is None and isinstance(k.value, gast.Dict) and all(
                isinstance(key, gast.Constant) and isinstance(key.value, str) for key in k.value.keys):
            out += [gast.keyword(arg=key.value, value=v) for key, v in zip(k.value.keys, k.value.values)]
        else:
            out.append(k)
    return out


def _retarget(stmts, old, new):
    """The last statement assigns ``new`` instead of ``old``."""
    last = stmts[-1]
    if isinstance(last.targets[0], gast.Name) and last.targets[0].id == old:
        last.targets = [q.store(new)]
    return stmts


def _dict_key(keyword):
    """The key of ``keyword`` in a dict display of a call's keywords: ``**kwargs`` (its
    ``arg`` is None) is a None key, which the display unpacks, not the key ``None``."""
    return None if keyword.arg is None else q.const(keyword.arg)


def _unstarred(atom):
    """``x`` of a ``*x`` in a call (a template's ``*args`` may be filled from it)."""
    return atom.value if isinstance(atom, gast.Starred) else atom


def _lambda_args(*names):
    return gast.arguments(args=[q.name(n, gast.Param()) for n in names], posonlyargs=[], vararg=None,
                          kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])


# ---------------------------------------------------------------------------
# Assembly: ``jvp_f(d<active>..., <f's parameters>) -> (result, dresult)``.


class JvpBuild:
    """A built forward-mode transformation of one function for one set of active params."""

    def __init__(self, fn, active_params):
        self.fn = fn
        self.active_params = active_params
        self.cell = make_cell(None)
        self.output_active = True
        self.texts = []
        self.deps = []
        self.guards = []
        self.defaults = fe.defaults_of(fn)  # what the generated function copied
        self.done = False
        self._checks = None

    def current(self):
        """Whether the user functions this build (and what it calls) resolved by name
        still resolve to the same objects and still have the defaults it copied (a
        ``def`` run again in a notebook: the user's code would call the new one)."""
        return fe.is_current(self)

    @property
    def function(self):
        return self.cell.cell_contents

    def sources(self, seen=None):
        """Generated source of this build and everything it calls."""
        seen = set() if seen is None else seen
        if id(self) in seen:
            return []
        seen.add(id(self))
        out = list(self.texts)
        for dep in self.deps:
            out += dep.sources(seen)
        return out


_builds = weakref.WeakKeyDictionary()


def build_jvp(fn, active_params):
    """The ``JvpBuild`` of ``fn`` with ``active_params`` active (cached)."""
    # An unfinished build (a recursive call, while it is being built) is reused as is.
    return fe.cached_build(_builds, fn, tuple(active_params), JvpBuild, _assemble,
                           reusable=lambda build: not build.done or build.current())


def _assemble(build):
    plan = fe.plan_for(build.fn)
    namer = Namer(plan.namer.taken)
    ctx = _ForwardContext(plan, build.active_params, namer)
    fwd = _Forward(plan.normal, ctx)
    tangent_params = [fwd.tan(p) for p in build.active_params]
    body, result, tangent, active = fwd.run()
    build.output_active = active
    body.append(gast.Return(value=gast.Tuple(elts=[copy.deepcopy(result), tangent], ctx=gast.Load())))
    args = copy.deepcopy(plan.normal.args)
    args.args = [q.name(t, gast.Param()) for t in tangent_params] + list(args.posonlyargs) + list(args.args)
    args.posonlyargs = []
    fname = namer.new(f"jvp_{plan.name}")
    fdef = fe.function_def(fname, args, body)
    globals_, cells = fe.globals_and_cells(plan, ctx.cells, [fdef])
    filename = fe.file_name("jvp", plan, build.active_params)
    fn = build.fn
    fn_obj, text = compile_function(fdef, filename, globals_, cells, fn.__defaults__, fn.__kwdefaults__,
                                    origin=plan.source)
    # Its result is (primal, tangent) and the first len(active) parameters are tangents:
    # vmap of a tangent alone leaves the primal unbatched (see batch's forward pairs).
    fn_obj.__s2s_jvp_pair__ = len(tangent_params)
    build.cell.cell_contents = fn_obj
    build.texts = [text]
    build.deps = fwd.deps
    build.guards = ctx.guards
    build.done = True
    _keep_tape_marks(build.fn, fn_obj, fwd)
    _keep_tape_args(build.fn, fn_obj, plan, build.active_params)
    _keep_return_slot(plan, fn_obj, fwd)


def _keep_return_slot(plan, fn_obj, fwd):
    """The early-return slot of ``fn`` (``result = None`` first, assigned on every path
    before it is returned, see normalize) and its tangent, marked on the jvp: vmap reads
    their first values as unset (a path returning early on some examples only selects a
    value against that None, of another structure, see batch._unset_slots)."""
    slot = getattr(plan.normal, "_s2s_return_slot", None)
    if slot is not None:
        fn_obj.__s2s_unset_slots__ = (slot,) + ((fwd.tangents[slot],) if slot in fwd.tangents
                                                else ())

def _keep_tape_marks(fn, fn_obj, fwd):
    """The jvp of a function the reverse transform generated pushes and pops its tape
    and the tape's tangent in lockstep: vmap treats both as tapes (hessian is vmap of
    the jvp of a gradient; see vjp_builder._mark_tape)."""
    tapes = getattr(fn, "__s2s_tapes__", None)
    if tapes is None:
        return
    fn_obj.__s2s_tapes__ = tuple(tapes) + tuple(fwd.tangents[t] for t in tapes
                                                if t in fwd.tangents)
    fn_obj.__s2s_trip_counters__ = getattr(fn, "__s2s_trip_counters__", ())


def _keep_tape_args(fn, fn_obj, plan, active):
    """The jvp of a function given a tape it pops (a backward function, see
    ``batching.loop_call``) pops that tape and its tangent: both positions are marked."""
    positions = getattr(fn, "__s2s_tape_args__", ())
    if not positions:
        return
    params = [a.id for a in list(plan.normal.args.posonlyargs) + list(plan.normal.args.args)]
    tangents = [active.index(params[k]) for k in positions if params[k] in active]
    fn_obj.__s2s_tape_args__ = tuple(tangents) + tuple(len(active) + k for k in positions)


def positional_params(fn):
    """Names of ``fn``'s positional parameters (after unwrapping)."""
    return [p.name for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
