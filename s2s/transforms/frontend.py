"""The front end every transformation shares: plans, lambda lifting, callees.

``grad``/``vjp`` (``reverse``, assembled by ``vjp_builder``), ``jvp`` (``forward``),
``vmap`` (``batch``) and jit's control-flow conversion (``convert``) all start here.

Entry points:

* ``plan_for(fn)`` -> ``Plan``: source, fence, normal form (cached per function), the
  names the function binds (``plan.locals``), its nested functions lambda-lifted
  (``plan.local_function(name)`` -> ``LocalFunction``) and functions it makes with a
  transformation (``plan.made_function(name)``: ``g = s2s.grad(f)`` inside ``f2``).
  ``Plan(fn, "jit")`` fences for another transformation's message.
* ``Context(plan, active_params, namer)``: what a transformation asks while it
  rewrites one function. ``bind``/``support``/``free_name`` give names for objects
  generated code uses; ``resolve_callee(call)`` -> ``Callee`` says what a call is,
  classified by the context's rule ``slot`` (``"vjp"``, ``"jvp"``, ``"batch"``): a
  ``TEMPLATE`` (the rule in that slot), ``ZERO``, a ``USER`` function to transform in
  turn, ``SPECIAL`` (list mutation), ``UNKNOWN`` (a call through a local value) or
  ``NORULE`` (an error if the call needs a rule). Subclass it per transformation
  (reverse mode adds ``user_vjp``; set ``slot`` to classify by another table).
* ``classify(obj, name, slot=...)``: the same classification for a known object.
* ``parameters(fdef)``, ``bind_call(plan, params, bound_args, call, source)``,
  ``any_active(node, names)``: a callee's parameters and the call-site atoms they
  receive (statically), for transforming calls of user functions.
* ``globals_and_cells(plan, extra_cells, fdefs)``, ``function_def``, ``file_name``:
  assembling generated functions (closure cells: the user's live cells, NumPy
  twins, support functions, and the transformation's own).

>>> import s2s.numpy as np
>>> def f(x):
...     return np.tanh(x) * 2.0
>>> plan = plan_for(f)
>>> print(q.to_source(plan.normal).strip())
def f(x):
    t = np.tanh(x)
    result = t * 2.0
    return result
"""
import ast
import builtins
import functools
import inspect
import threading
import types
import weakref

import gast
import numpy

import s2s.numpy as snp
from s2s import lax
from s2s.codegen.python import compile_function, make_cell
from s2s.core.errors import TransformError
from s2s.core.primitive import rules_of, ZERO_DERIVATIVE
from s2s.numpy.twins import is_foreign_numpy, twin_of
from s2s.parse import astconv, dataflow, quoting as q
from s2s.parse.dataflow import parameters  # noqa: F401  (part of the front end's API)
from s2s.parse.fence import fence
from s2s.parse.naming import Namer, names_in
from s2s.parse.normalize import (ARRAY_ATTRIBUTES, ARRAY_METHODS, normalize, SUPPORT_CALLS,
                                 support_names, VARARGS_SHAPE)
from s2s.parse.resolve import local_names, lookup, MISSING, resolve_chain, static_chain
from s2s.parse.source import get_source, unwrap
from s2s.runtime import control_ops, support

_OPERATORS = {
    gast.Add: ("lax", "add"), gast.Sub: ("lax", "sub"), gast.Mult: ("lax", "mul"),
    gast.Div: ("np", "true_divide"), gast.Pow: ("np", "power"), gast.MatMult: ("np", "matmul"),
    gast.Mod: ("np", "remainder"), gast.FloorDiv: ("np", "floor_divide"),
    gast.USub: ("lax", "neg"), gast.UAdd: ("np", "positive"), gast.Invert: ("lax", "bitwise_not"),
    gast.BitAnd: ("lax", "bitwise_and"), gast.BitOr: ("lax", "bitwise_or"),
    gast.BitXor: ("lax", "bitwise_xor"), gast.LShift: ("lax", "shift_left"),
    gast.RShift: ("lax", "shift_right_arithmetic"),
}

# Support functions generated code may call, by name.
SUPPORT_OBJECTS = {name: getattr(support, name) for name in support.__all__}
SUPPORT_OBJECTS.update({name: getattr(control_ops, name) for name in
                         ("if_stmt_vjp", "while_stmt_vjp", "for_stmt_vjp", "converted_call_vjp")})

class NumpyProxy:
    """A module's namespace with every function that has an s2s twin replaced by it.

    Attributes are looked up on first use (then cached): a package such as ``scipy``
    loads its submodules lazily, and listing them all up front would import them all.
    """

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        obj = getattr(self._module, name)
        twin = _twin_attribute(self._module, name, obj)
        setattr(self, name, twin)
        return twin

    def __dir__(self):
        return dir(self._module)


def _twin_attribute(module, name, obj):
    """What ``module.name`` (that is, ``obj``) reads as in generated code."""
    twin = twin_of(obj) if callable(obj) or isinstance(obj, types.ModuleType) else None
    twin_module = twin_of(module)
    if twin is None and twin_module is not None and hasattr(twin_module, name) and callable(obj):
        twin = getattr(twin_module, name)
    if isinstance(twin, types.ModuleType) and twin is not module:
        twin = _proxy_or_module(twin)
    return twin if twin is not None else obj


@functools.lru_cache(maxsize=None)
def _proxy_for(module):
    return NumpyProxy(module)


def _proxy_or_module(module):
    if module.__name__.startswith("s2s."):
        return module
    return _proxy_for(module)


def twin_binding(obj):
    """What generated code should see for a global bound to ``obj`` (None: leave it)."""
    if isinstance(obj, types.ModuleType):
        if obj.__name__.startswith("s2s"):
            return None
        twin = twin_of(obj)
        return _proxy_for(obj) if twin is not None else None
    if callable(obj):
        try:
            return twin_of(obj)
        except TypeError:
            return None
    return None

# ---------------------------------------------------------------------------
# Per-function plans: parsed, fenced and normalized once.


class Plan:
    """A user function ready to transform: its source and normal form."""

    def __init__(self, fn, transform_name="grad"):
        self.source = get_source(fn)
        fence(self.source, transform_name)
        self.referenced = _referenced(self.source.node)
        self.namer = Namer(names_in(self.source.node) | set(self.source.globals) & self.referenced)
        self.np_name = self._np_alias()
        self.support = support_names(self.namer)
        self.normal = normalize(self.source, self.namer, self.np_name, self.support)
        self.locals = local_names(self.normal)

    def _np_alias(self):
        """The name generated code uses for s2s.numpy: the user's alias when there is one."""
        for name in sorted(self.referenced):
            obj = lookup(self.source, name)
            if obj is numpy or obj is snp:
                return name
        return self.namer.new("np")

    @property
    def fn(self):
        """The user function (held weakly, by the source: plans are cached per function)."""
        return self.source.fn

    @property
    def name(self):
        n = self.source.name
        return "lambda" if n == "<lambda>" else n

    def local_function(self, name):
        """The nested function ``name`` denotes (through plain copies), or None."""
        return _local_function(self, self.normal.body, name)

    def made_function(self, name):
        """The function local ``name`` holds when it is made by a transformation of a
        non-local function (``g = s2s.grad(f)``), evaluated now; else None."""
        return _made_function(self, self.normal.body, name, self.source)


class LocalFunction:
    """A function defined inside a transformed function, lambda-lifted: the
    enclosing variables it reads become extra parameters, so it can be
    differentiated like any other callee (its adjoints flow to those variables)."""

    def __init__(self, parent, fdef):
        self.parent = parent
        self.fdef = fdef
        self.free = []  # normal form already passes enclosing variables explicitly
        self.plan = _LocalPlan(parent, fdef, self.free)
        self.__defaults__ = tuple(_literal(d) for d in fdef.args.defaults) or None
        kw = {a.id: _literal(d) for a, d in zip(fdef.args.kwonlyargs, fdef.args.kw_defaults)
              if d is not None}
        self.__kwdefaults__ = kw or None
        self.__code__ = parent.fn.__code__


def _literal(node):
    """The value of a nested function's default (constants only: they are evaluated here)."""
    try:
        return ast.literal_eval(q.to_source(node))
    except (ValueError, SyntaxError):
        raise TransformError(f"s2s cannot differentiate a nested function whose default "
                             f"`{q.to_source(node)}` is not a constant",
                             hint="pass the value as an argument") from None


class _LocalPlan:
    """The ``Plan`` interface for a lifted nested function."""

    def __init__(self, parent, fdef, free):
        self.parent = parent
        self.source = parent.source
        self.namer = Namer(parent.namer.taken)
        self.np_name = parent.np_name
        self.support = parent.support
        self.free = free
        args = q.copy_tree(fdef.args)
        args.args = list(args.args) + [q.name(n, gast.Param()) for n in free]
        self.normal = gast.FunctionDef(name=fdef.name, args=args, body=fdef.body, decorator_list=[],
                                       returns=None, type_comment=None, type_params=[])
        self.locals = local_names(self.normal)
        self.name = f"{parent.name}_{fdef.name}"

    @property
    def fn(self):
        return self.parent.fn

    def local_function(self, name):
        return _local_function(self, self.normal.body, name)

    def made_function(self, name):
        return _made_function(self, self.normal.body, name, self.parent.source)


def _local_function(plan, body, name, depth=0):
    defs = [s for s in q.walk(gast.Module(body=body, type_ignores=[]))
            if isinstance(s, gast.FunctionDef) and s.name == name]
    assigns = [s for s in q.walk(gast.Module(body=body, type_ignores=[]))
               if isinstance(s, gast.Assign) and any(isinstance(n, gast.Name) and n.id == name
                                                    for n in q.walk(s.targets[0]))]
    if len(defs) == 1 and not assigns:
        key = ("local", name)
        cache = plan.__dict__.setdefault("_locals", {})
        if key not in cache:
            cache[key] = LocalFunction(plan, defs[0])
        return cache[key]
    if not defs and len(assigns) == 1 and isinstance(assigns[0].value, gast.Name) and depth < 8:
        return _local_function(plan, body, assigns[0].value.id, depth + 1)
    return None


def _made_function(plan, body, name, source):
    """``grad(f)`` (any callable marked ``__s2s_transformation__``) assigned once to
    ``name``, with arguments that are constants or non-local names: the function it
    makes, so that calls of ``name`` are differentiated through it (``grad(f)(x)``
    inside a function being differentiated)."""
    cache = plan.__dict__.setdefault("_made", {})
    if name in cache:
        return cache[name]
    cache[name] = None
    assigns = [s for s in q.walk(gast.Module(body=body, type_ignores=[]))
               if isinstance(s, gast.Assign) and any(isinstance(n, gast.Name) and n.id == name
                                                    for n in q.walk(s.targets[0]))]
    if len(assigns) != 1 or not isinstance(assigns[0].targets[0], gast.Name):
        return None
    call = assigns[0].value
    if not isinstance(call, gast.Call):
        return None
    maker = _static_value(call.func, plan, source)
    if not getattr(maker, "__s2s_transformation__", False):
        return None
    try:
        args = [_static_value(a, plan, source) for a in call.args]
        kwargs = {k.arg: _static_value(k.value, plan, source) for k in call.keywords}
    except _NotStatic:
        return None
    if MISSING in args or MISSING in kwargs.values() or None in kwargs:
        return None
    cache[name] = maker(*args, **kwargs)
    return cache[name]


class _NotStatic(Exception):
    pass


def _static_value(node, plan, source):
    """The value of a constant or of a name chain rooted outside the function."""
    if isinstance(node, gast.Constant):
        return node.value
    if isinstance(node, gast.Tuple) and all(isinstance(e, gast.Constant) for e in node.elts):
        return tuple(e.value for e in node.elts)
    chain = static_chain(node)
    if chain is None or chain[0] in plan.locals:
        raise _NotStatic()
    return resolve_chain(source, chain)


def _referenced(node):
    return {n.id for n in q.walk(node) if isinstance(n, gast.Name)}


_plans = weakref.WeakKeyDictionary()


_wrappers = weakref.WeakKeyDictionary()


def through_rules(fn, slots=("vjp",)):
    """``fn``, or a wrapper that calls it when ``fn`` has a rule in one of ``slots``, so
    a transformation of ``fn`` itself (``grad(np.sum)``, ``vjp(np.sin, x)``) uses the
    rule rather than reading s2s's own source.

    >>> import s2s.numpy as np
    >>> through_rules(np.sin) is np.sin
    False
    """
    rules = rules_of(fn)
    if rules is not None and any(getattr(rules, slot, None) is not None for slot in slots):
        return template_wrapper(fn)
    return fn


def template_wrapper(fn):
    """A Python function that just calls ``fn``, for ``grad(fn)`` of a function with a
    derivative template (``grad(s2s.numpy.sum)`` then uses the template, not the source)."""
    hit = _wrappers.get(fn)
    if hit is not None:
        return hit
    sig = inspect.signature(fn)
    params, call, keyword_only = [], [], []
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            raise TypeError(f"cannot differentiate {fn.__name__} directly: it takes *{p.name}")
        if p.kind is p.VAR_KEYWORD:
            continue
        if p.kind is p.KEYWORD_ONLY:
            keyword_only.append(p.name)
            call.append(f"{p.name}={p.name}")
        else:  # positionally: forward mode carries tangents of positional operands only
            params.append(p.name)
            call.append(p.name)
    if keyword_only:
        params += ["*"] + keyword_only
    name = getattr(fn, "__name__", "fn")
    text = f"def {name}({', '.join(params)}):\n    return target({', '.join(call)})\n"
    fdef = astconv.parse(text).body[0]
    wrapper, _ = compile_function(fdef, f"<s2s calls {getattr(fn, '__module__', '')}.{name}>",
                                  {"__builtins__": __builtins__}, {"target": make_cell(fn)})
    wrapper.__defaults__ = tuple(p.default for p in sig.parameters.values()
                                 if p.default is not p.empty and p.kind is not p.KEYWORD_ONLY) or None
    wrapper.__kwdefaults__ = {p.name: p.default for p in sig.parameters.values()
                              if p.default is not p.empty and p.kind is p.KEYWORD_ONLY} or None
    _wrappers[fn] = wrapper
    return wrapper


def plan_for(fn):
    """The cached ``Plan`` of ``fn``."""
    if isinstance(fn, LocalFunction):
        return fn.plan
    plan = _plans.get(fn)
    if plan is None:
        plan = _plans[fn] = Plan(fn)
    return plan

# ---------------------------------------------------------------------------
# Callees: what a call resolves to, classified by the rule slot of one transformation.


class CalleeKind:
    TEMPLATE = "template"
    ZERO = "zero"
    USER = "user"
    UNKNOWN = "unknown"  # a call through a local variable or an unknown method
    NORULE = "norule"  # resolved, but no rule and no source: an error only if differentiated
    SPECIAL = "special"  # list mutation (pop/append/extend), handled by the transformation itself


class Callee:
    """What a call resolves to: a template, a zero derivative, or a user function."""

    def __init__(self, kind, template=None, fn=None, name=None, error=None):
        self.kind = kind
        self.template = template
        self.fn = fn
        self.name = name
        self.error = error

class Context:
    """What a transformation asks of its surroundings, for one function: names for the
    objects generated code uses (``bind``, ``support``, ``free_name``) and what each call
    resolves to (``resolve_callee``, classified by the transformation's rule ``slot``).
    Each transformation subclasses it with its own calls of user functions."""

    slot = "vjp"  # the rule slot callees are classified by

    def __init__(self, plan, active_params, namer):
        self.plan = plan
        self.source = plan.source
        self.active_params = list(active_params)
        self.namer = namer
        self.cells = {}
        self.deps = []
        self.guards = []  # (source, name chain, object it resolved to)
        self._support_ids = {}
        self._by_object = {}

    # -- names in generated code ---------------------------------------------

    def bind(self, preferred, obj):
        """A name under which generated code sees ``obj`` (one per object)."""
        key = id(obj)
        hit = self._by_object.get(key)
        if hit is not None:
            return hit
        name = self.namer.new(preferred)
        self.cells[name] = make_cell(obj)
        self._by_object[key] = name
        return name

    def support(self, name):
        obj = SUPPORT_OBJECTS[name]
        ident = self.plan.support.get(name)
        if ident is not None:  # normal form already calls it by this name
            self.cells[ident] = make_cell(obj)
            self._by_object[id(obj)] = ident
            return ident
        return self.bind(name, obj)

    def signature_of(self, name):
        """The signature of the support function bound as ``name`` (for dropping defaults)."""
        for key, ident in self._by_object.items():
            if ident == name:
                obj = self.cells[name].cell_contents
                if any(obj is o for o in SUPPORT_OBJECTS.values()):
                    try:
                        return inspect.signature(obj)
                    except (TypeError, ValueError):
                        return None
        return None

    def support_name_of(self, name):
        return self.plan.support[name]

    def support_kind(self, call):
        """Which support function (``"append"``, ``"pop"``...) ``call`` calls, whatever the
        name it goes by (normal form's, or the one derivative code binds it to), or None."""
        func = call.func if isinstance(call, gast.Call) else None
        if not isinstance(func, gast.Name):
            return None
        for kind, ident in self.plan.support.items():
            if ident == func.id:
                return kind
        if func.id in self.plan.locals:
            return None
        obj = self.cells[func.id].cell_contents if func.id in self.cells else lookup(self.source, func.id)
        for kind in SUPPORT_CALLS:
            if obj is getattr(support, kind, None):
                return kind
        return None

    def free_name(self, name, scope=None):
        """Names that templates use: ``np``, ``lax``, support functions, and functions
        of the template's own module (``scope``: its globals)."""
        if name == "np":
            return self.plan.np_name
        if name in SUPPORT_OBJECTS:
            return self.support(name)
        if name == "lax":
            for user_name in sorted(_referenced(self.plan.normal)):
                if user_name not in self.plan.locals and lookup(self.source, user_name) is lax:
                    return user_name
            return self.bind("lax", lax)
        if hasattr(builtins, name):
            return name
        if scope and callable(scope.get(name)):
            return self.bind(name, scope[name])
        raise TransformError(f"derivative template uses unknown name {name!r}")

    def attribute_callee(self, attr):
        """The callee an array attribute (``x.T``) is differentiated as, or None."""
        fn = getattr(snp, ARRAY_ATTRIBUTES.get(attr, ""), None)
        return classify(fn, "." + attr, slot=self.slot) if fn is not None else None

    def operator_callee(self, op):
        if type(op) not in _OPERATORS:  # `not x`: a bool
            return Callee(CalleeKind.ZERO, name="not")
        module, name = _OPERATORS[type(op)]
        fn = getattr(lax if module == "lax" else snp, name, None)
        if fn is None:
            return Callee(CalleeKind.ZERO, name=name)
        return classify(fn, name, slot=self.slot)

    # -- callees -------------------------------------------------------------

    def resolve_callee(self, call):
        func = call.func
        if isinstance(func, gast.Name) and func.id in self.plan.support.values():
            name = next(k for k, v in self.plan.support.items() if v == func.id)
            return classify(SUPPORT_OBJECTS[name], name, slot=self.slot)
        if isinstance(func, gast.Name) and func.id in self.cells:
            return classify(self.cells[func.id].cell_contents, func.id, slot=self.slot)
        chain = static_chain(func)
        if isinstance(func, gast.Name) and func.id in self.plan.locals:
            local = self.plan.local_function(func.id)
            if local is not None:
                return Callee(CalleeKind.USER, fn=local, name=func.id)
            try:
                made = self.plan.made_function(func.id)
            except _NotStatic:
                made = None
            if made is not None:
                return classify(made, func.id, self.source, call, self.slot)
        if chain is None or chain[0] in self.plan.locals:
            if isinstance(func, gast.Attribute) and func.attr in ARRAY_METHODS:
                # x.sum(...): an array method, differentiated as the NumPy function.
                fn = getattr(snp, ARRAY_METHODS[func.attr], None)
                if fn is not None:
                    c = classify(fn, "." + func.attr, slot=self.slot)
                    c.method = func.attr
                    return c
            return Callee(CalleeKind.UNKNOWN, name=q.to_source(func))
        obj = resolve_chain(self.source, chain)
        if obj is MISSING:
            raise TransformError(f"cannot resolve `{'.'.join(chain)}`", filename=self.source.filename,
                                 lineno=self.source.file_line(call))
        if array_method_of(obj) is not None:
            # ``A.dot(x)`` of a global array: resolved when it runs (``array_method_call``
            # makes it ``np.dot(A, x)``), where jit stages it and the rules of runtime
            # derivatives (``dynamic_vjp``) apply, as for an array passed in.
            return Callee(CalleeKind.UNKNOWN, name=q.to_source(func))
        callee = classify(obj, ".".join(chain), self.source, call, self.slot)
        if callee.kind is CalleeKind.USER:
            # Generated code calls what ``chain`` denotes now; a redefinition or a
            # monkeypatch later makes the build stale (``vjp_builder.Build.current``).
            self.guards.append((self.source, chain, obj))
        return callee

def array_variables(stmts, callee, params):
    """Variables only ever assigned array-valued operations (a parameter may be anything).

    >>> import gast
    >>> body = gast.parse("y = x * 2; z = len(x)").body
    >>> sorted(array_variables(body, lambda call: Callee(CalleeKind.ZERO), ["x"]))
    ['y']
    """
    kinds = {}

    def visit(ss):
        for s in ss:
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                v = s.value
                is_array = isinstance(v, (gast.BinOp, gast.UnaryOp)) or (
                    isinstance(v, gast.Call) and callee(v).kind == CalleeKind.TEMPLATE
                    and getattr(callee(v), "array_result", False))
                name = s.targets[0].id
                kinds[name] = kinds.get(name, True) and is_array
            else:
                for t in dataflow.targets(s):
                    kinds[t] = False
            if isinstance(s, (gast.If, gast.For, gast.While)):
                visit(s.body)
                visit(s.orelse)
    visit(stmts)
    return {k for k, v in kinds.items() if v and k not in params}


# Attributes that hold no floats: ``getattr(x, "shape")`` is constant (a symbolic zero in
# forward mode, rather than a tangent of Python zeros vmap could not batch).
_STRUCTURAL_ATTRIBUTES = frozenset({"shape", "ndim", "size", "dtype", "itemsize", "nbytes",
                                    "strides", "_fields", "__class__", "__name__"})


def _structural_attribute(call):
    args = call.args if call is not None else []
    return len(args) >= 2 and isinstance(args[1], gast.Constant) and \
        args[1].value in _STRUCTURAL_ATTRIBUTES


def rules_for(obj, call=None):
    """The derivative rules of calls of ``obj``: its own, or for a namedtuple class those
    of its constructor (``support.new_namedtuple``) where the ``call`` passes the fields
    positionally (with keywords it has none: it is traced).

    >>> import collections
    >>> rules_for(collections.namedtuple("P", "a b")).jvp is not None
    True
    """
    if isinstance(obj, type) and issubclass(obj, tuple) and hasattr(obj, "_fields") and \
            not (call is not None and call.keywords):
        obj = support.new_namedtuple
    return rules_of(obj)


def array_method_of(obj):
    """The name of the array method ``obj`` is, bound to an array (``A.dot`` of a global
    ``A``), when s2s has its NumPy function; else None."""
    receiver = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", None)
    if not isinstance(receiver, (numpy.ndarray, numpy.generic)) or name in VARARGS_SHAPE:
        return None
    return name if getattr(snp, ARRAY_METHODS.get(name, ""), None) is not None else None


def method_of_value(callee, call, is_active):
    """``callee``, unless it reads ``obj.name(...)`` as an array method while ``obj`` is
    not differentiated: then ``obj`` may be anything (a module passed in, an object with
    a method of that name), so the call is a function value resolved when it runs
    (``is_active``: whether a receiver is certainly an array).

    Only a differentiated receiver is certainly an array; taking ``m.sum(t)`` with ``m``
    a module as ``t``'s array method would make ``t`` an axis and its derivative zero.

    >>> import gast
    >>> call = gast.parse("m.sum(t)").body[0].value
    >>> c = Callee(CalleeKind.TEMPLATE); c.method = "sum"
    >>> method_of_value(c, call, lambda node: False).kind
    'unknown'
    >>> method_of_value(c, call, lambda node: True).kind
    'template'
    """
    if not getattr(callee, "method", None) or is_active(call.func.value):
        return callee
    return Callee(CalleeKind.UNKNOWN, name=q.to_source(call.func))


def classify(obj, name, source=None, call=None, slot="vjp"):
    """A ``Callee`` for the object a call resolves to, by the rule ``slot`` of the
    transformation asking (``"vjp"``, ``"jvp"`` or ``"batch"``): a template or zero rule
    in that slot, a user function to transform in turn, or no rule (an error if reached).

    >>> import s2s.numpy as np
    >>> c = classify(np.tanh, "np.tanh", slot="vjp")
    >>> c.kind, c.template is not None
    ('template', True)
    >>> classify(len, "len").kind
    'zero'
    """
    if obj is support.pop or obj is support.append or obj is support.extend:
        return Callee(CalleeKind.SPECIAL, fn=obj, name=name)
    twin = twin_of(obj) if not isinstance(obj, types.ModuleType) else None
    if twin is not None:
        obj = twin
    if obj is builtins.getattr and _structural_attribute(call):
        return Callee(CalleeKind.ZERO, name=name)
    rules = rules_for(obj, call)
    rule = getattr(rules, slot, None) if rules is not None else None
    if rule is not None:
        if rule == ZERO_DERIVATIVE:
            return Callee(CalleeKind.ZERO, name=name)
        c = Callee(CalleeKind.TEMPLATE, template=rule, fn=obj, name=name)
        c.array_result = not isinstance(obj, type)
        return c
    prim = getattr(obj, "primitive", None)
    if prim is not None and getattr(prim, slot, None) is None:
        where = dict(filename=source.filename, lineno=source.file_line(call)) if source and call else {}
        return Callee(CalleeKind.NORULE, fn=obj, name=name, error=TransformError(
            f"the primitive {prim.name} (called as `{name}`) has no reverse-mode rule yet",
            hint="register one with s2s.core.primitive.def_vjp", **where))
    fn, _ = unwrap(obj)
    if isinstance(fn, types.FunctionType) and not is_foreign_numpy(obj):
        return Callee(CalleeKind.USER, fn=obj, name=name)
    where = {}
    if source is not None and call is not None:
        where = dict(filename=source.filename, lineno=source.file_line(call))
    if is_foreign_numpy(obj):
        error = TransformError(f"`{name}` has no s2s counterpart, so s2s cannot differentiate it",
                               hint="use an s2s.numpy function instead, or wrap the computation "
                                    "and give it a rule with s2s.core.primitive.def_vjp", **where)
    else:
        error = TransformError(f"s2s has no derivative rule for `{name}` and cannot read its source",
                               hint="register a rule with s2s.core.primitive.def_vjp, or call a Python "
                                    "function s2s can read", **where)
    return Callee(CalleeKind.NORULE, fn=obj, name=name, error=error)




def bind_call(plan, params, bound_args, call, source):
    """Maps the callee's parameters to call-site atoms (statically)."""
    a = plan.normal.args
    positional = [x for x in parameters(plan.normal, varargs=False, keyword_only=False)
                  if x not in getattr(plan, "free", ())]
    star = _star_into_varargs(plan, positional, bound_args, call)
    if star is None and (any(isinstance(x, gast.Starred) for x in call.args) or
                         any(k.arg is None for k in call.keywords)):
        raise TransformError(
            f"s2s cannot differentiate this call with *args/**kwargs into {plan.name} yet (only "
            "f(a, b, *rest) where *rest fills f's own *args)",
            filename=source.filename, lineno=source.file_line(call),
            hint="pass the arguments explicitly")
    args = [None] * len(bound_args) + list(call.args if star is None else call.args[:-1])
    binding = {}
    if star is not None:  # f(a, *rest) into def f(a, *xs): xs is rest (as a tuple)
        binding[a.vararg.id] = star
    for name, atom in zip(positional, args):
        binding[name] = atom
    extra = args[len(positional):]
    if extra:
        if a.vararg is None:
            raise TransformError(f"{plan.name}() takes {len(positional)} positional arguments but "
                                 f"{len(args)} were given", filename=source.filename,
                                 lineno=source.file_line(call))
        binding[a.vararg.id] = gast.Tuple(elts=extra, ctx=gast.Load())
    for k in call.keywords:
        if k.arg in params:
            binding[k.arg] = k.value
        elif a.kwarg is not None:
            binding.setdefault(a.kwarg.id, gast.Dict(keys=[], values=[]))
            binding[a.kwarg.id].keys.append(q.const(k.arg))
            binding[a.kwarg.id].values.append(k.value)
    return binding


def _star_into_varargs(plan, positional, bound_args, call):
    """The sequence atom of ``f(a, *rest)`` when ``*rest`` is the last argument and lands
    exactly in ``f``'s own ``*args`` (the named parameters are filled before it); else None."""
    a = plan.normal.args
    if not call.args or not isinstance(call.args[-1], gast.Starred) or a.vararg is None:
        return None
    if any(isinstance(x, gast.Starred) for x in call.args[:-1]) or any(k.arg is None for k in call.keywords):
        return None
    if len(bound_args) + len(call.args) - 1 != len(positional):
        return None
    value = call.args[-1].value
    return value if isinstance(value, gast.Name) else None


def any_active(node, active):
    if node is None:
        return False
    return any(isinstance(n, gast.Name) and n.id in active for n in q.walk(node))

# ---------------------------------------------------------------------------
# Assembly helpers shared by the transformations.

def globals_and_cells(plan, extra_cells, fdefs):
    """Closure cells for generated code: the user's own (live), twins, support, ``extra_cells``."""
    cells = {}
    for name, cell in plan.source.closure.items():
        cells[name] = cell
    referenced = set()
    for fdef in fdefs:
        referenced |= _referenced(fdef)
    for name in sorted(referenced - plan.locals - set(extra_cells)):
        obj = lookup(plan.source, name)
        if obj is MISSING:
            continue
        twin = twin_binding(obj)
        if twin is not None:
            cells[name] = make_cell(twin)
    for name, ident in plan.support.items():
        if ident in referenced:
            cells[ident] = make_cell(SUPPORT_OBJECTS[name])
    if plan.np_name in referenced and plan.np_name not in cells:
        obj = lookup(plan.source, plan.np_name)
        cells[plan.np_name] = make_cell(twin_binding(obj) if obj is not MISSING and twin_binding(obj)
                                        else snp)
    cells.update(extra_cells)
    return plan.source.globals, cells


def function_def(name, args, body):
    return gast.FunctionDef(name=name, args=args, body=body, decorator_list=[], returns=None,
                            type_comment=None, type_params=[])

def file_name(kind, plan, active):
    fn = plan.fn
    code = fn.__code__
    return f"<s2s {kind}_{plan.name} [{','.join(active)}] of {code.co_filename}:{code.co_firstlineno}>"


_IN_PLACE_SUPPORT = ("append", "extend", "pop", "setitem")
_IN_PLACE_METHODS = frozenset(("append", "extend", "insert", "pop", "remove", "clear", "reverse",
                               "sort", "update", "setdefault", "popitem", "fill", "resize"))


def callee_plan(fn):
    """The plan of a user callee and its bound arguments (as ``user_vjp`` finds them)."""
    if isinstance(fn, LocalFunction):
        return fn.plan, ()
    fn, bound = unwrap(fn)
    return plan_for(fn), bound


def mutated_params(plan, depth=0, methods=_IN_PLACE_METHODS, supports=_IN_PLACE_SUPPORT):
    """The parameters of ``plan``'s function whose value it may change in place: a list
    method or item assignment on them (of ``methods``/``supports``), or passing them on
    to a function that does."""
    params = set(parameters(plan.normal))
    support = {v: k for k, v in plan.support.items()}
    out = set()
    for node in q.walk(plan.normal):
        if not isinstance(node, gast.Call):
            continue
        func = node.func
        if isinstance(func, gast.Attribute) and func.attr in methods and \
                isinstance(func.value, gast.Name) and func.value.id in params:
            out.add(func.value.id)
        elif isinstance(func, gast.Name) and support.get(func.id) in supports:
            if node.args and isinstance(node.args[0], gast.Name) and node.args[0].id in params:
                out.add(node.args[0].id)
        elif isinstance(func, gast.Name) and depth < 4:
            out |= passed_to_mutating(plan, node, params, depth, methods, supports)
    return out


def passed_to_mutating(plan, call, params, depth=0, methods=_IN_PLACE_METHODS,
                       supports=_IN_PLACE_SUPPORT):
    """The names among ``params`` that ``call`` (of a function in ``plan``'s globals or
    closure) passes where the callee changes them in place."""
    name = call.func.id
    cell = plan.source.closure.get(name)
    try:
        fn = cell.cell_contents if cell is not None else plan.source.globals.get(name)
    except ValueError:
        return set()
    if not inspect.isfunction(fn) or (fn.__module__ or "").startswith("s2s."):
        return set()
    try:
        inner, bound = callee_plan(fn)
        binding = bind_call(inner, parameters(inner.normal), bound, call, plan.source)
        changed = mutated_params(inner, depth + 1, methods, supports)
    except Exception:  # noqa: BLE001 - a callee s2s cannot read changes nothing it knows of
        return set()
    return {a.id for p, a in binding.items() if p in changed and isinstance(a, gast.Name)
            and a.id in params}


def defaults_of(fn):
    """``fn``'s default values as a generated function copies them when it is built."""
    return getattr(fn, "__defaults__", None), getattr(fn, "__kwdefaults__", None)


def staleness_checks(build):
    """Checks that ``build`` (a ``.guards``/``.deps``/``.defaults``/``.fn`` build of
    any transformation) still does what the user's code would do: one check per
    distinct name resolution of it and its dependencies (a stale dependency makes its
    callers stale too, so they are checked together), and one per function whose
    default values the generated code copied (``f.__defaults__ = ...`` rebinds them)."""
    checks, seen, todo, done = [], set(), [build], set()
    while todo:
        b = todo.pop()
        if id(b) in done:
            continue
        done.add(id(b))
        todo.extend(b.deps)
        checks.append(lambda b=b, seen_defaults=b.defaults: same_defaults(b.fn, seen_defaults))
        for source, chain, obj in b.guards:
            key = (id(source), tuple(chain), id(obj))
            if key in seen:
                continue
            seen.add(key)
            if len(chain) == 1 and chain[0] not in source.closure:
                ns, name = source.globals, chain[0]
                checks.append(lambda ns=ns, name=name, obj=obj: ns.get(name, MISSING) is obj)
            else:
                checks.append(lambda source=source, chain=chain, obj=obj:
                              resolve_chain(source, chain) is obj)
    return checks


def is_current(build):
    """Whether ``build`` passes its ``staleness_checks`` (made on first use, kept in
    ``build._checks``): builds of every transformation answer ``current()`` with it."""
    checks = build._checks
    if checks is None:
        checks = build._checks = staleness_checks(build)
    for check in checks:
        if not check():
            return False
    return True


def same_defaults(fn, seen):
    """Whether ``fn`` still has the defaults ``seen`` (``defaults_of``) took."""
    if fn is None:  # collected: nothing can call it any more
        return True
    d, kd = seen
    return getattr(fn, "__defaults__", None) is d and getattr(fn, "__kwdefaults__", None) is kd


# Builds are published before they are finished (recursive calls need them), so a
# second thread must not see one half-built: one builder at a time, re-entrant for
# the recursion. Building happens once per function, never on the hot path.
build_lock = threading.RLock()


def cached_build(cache, fn, key, make, assemble, reusable=lambda build: True):
    """The build of ``fn`` for ``key`` in ``cache`` (a WeakKeyDictionary of dicts).

    On a miss ``make(fn, key)`` makes it and ``assemble(build)`` fills it; while it is
    assembled, recursive calls get the unfinished build and other threads wait.
    """
    with build_lock:
        per_fn = cache.setdefault(fn, {})
        build = per_fn.get(key)
        if build is not None and reusable(build):
            return build
        build = make(fn, key)
        per_fn[key] = build
        try:
            assemble(build)
        except BaseException:
            del per_fn[key]
            raise
        return build
