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

Calls are resolved at transform time: NumPy functions to their s2s twins, then
to rule tables (templates), or to user functions, which are transformed in
turn (recursion works through cells filled once the callee is built).
"""
import ast
import copy
import functools
import inspect
import types
import threading
import weakref

import gast

from s2s.errors import TransformError
from s2s.lax.core import ZERO_DERIVATIVE, rules_of
from s2s.codegen.python import compile_function, make_cell
from s2s.parse import quoting as q
from s2s.parse.fence import fence
from s2s.parse.naming import Namer, names_in
from s2s.parse.normalize import (ARRAY_ATTRIBUTES, ARRAY_METHODS, SUPPORT_CALLS, normalize,
                                 support_names)
from s2s.parse.resolve import MISSING, local_names, lookup, resolve_chain, static_chain
from s2s.parse.source import NoSourceError, get_source, unwrap
from s2s.transforms import control_ops, reverse, support
from s2s.transforms.reverse import Callee, CalleeKind

# Python operators -> the function whose rules apply (lax where semantics agree).
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
_SUPPORT_OBJECTS = {name: getattr(support, name) for name in dir(support)
                    if not name.startswith("_") and callable(getattr(support, name))}
_SUPPORT_OBJECTS.update({name: getattr(control_ops, name) for name in
                         ("if_stmt_vjp", "while_stmt_vjp", "for_stmt_vjp", "converted_call_vjp")})


def _snp():
    import s2s.numpy as snp
    return snp


class NumpyProxy(types.SimpleNamespace):
    """A module's namespace with every function that has an s2s twin replaced by it."""


@functools.lru_cache(maxsize=None)
def _proxy_for(module):
    from s2s.numpy.twins import twin_of
    twin_module = twin_of(module)
    proxy = NumpyProxy()
    for name in dir(module):
        if name.startswith("__"):
            continue
        obj = getattr(module, name)
        twin = twin_of(obj) if callable(obj) or isinstance(obj, types.ModuleType) else None
        if twin is None and twin_module is not None and hasattr(twin_module, name) and callable(obj):
            twin = getattr(twin_module, name)
        if isinstance(twin, types.ModuleType) and twin is not module:
            twin = _proxy_or_module(twin)
        setattr(proxy, name, twin if twin is not None else obj)
    return proxy


def _proxy_or_module(module):
    if module.__name__.startswith("s2s."):
        return module
    return _proxy_for(module)


def twin_binding(obj):
    """What generated code should see for a global bound to ``obj`` (None: leave it)."""
    from s2s.numpy.twins import twin_of
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
        self.namer = Namer(names_in(self.source.node) | set(self.source.globals) & _referenced(self.source.node))
        self.np_name = self._np_alias()
        self.support = support_names(self.namer)
        self.normal = normalize(self.source, self.namer, self.np_name, self.support)
        self.locals = local_names(self.normal)

    def _np_alias(self):
        """The name generated code uses for s2s.numpy: the user's alias when there is one."""
        import numpy
        snp = _snp()
        for name in sorted(_referenced(self.source.node)):
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
        args = copy.deepcopy(fdef.args)
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
    defs = [s for s in gast.walk(gast.Module(body=body, type_ignores=[]))
            if isinstance(s, gast.FunctionDef) and s.name == name]
    assigns = [s for s in gast.walk(gast.Module(body=body, type_ignores=[]))
               if isinstance(s, gast.Assign) and any(isinstance(n, gast.Name) and n.id == name
                                                    for n in gast.walk(s.targets[0]))]
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
    assigns = [s for s in gast.walk(gast.Module(body=body, type_ignores=[]))
               if isinstance(s, gast.Assign) and any(isinstance(n, gast.Name) and n.id == name
                                                    for n in gast.walk(s.targets[0]))]
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
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


_plans = weakref.WeakKeyDictionary()


_wrappers = weakref.WeakKeyDictionary()


def template_wrapper(fn):
    """A Python function that just calls ``fn``, for ``grad(fn)`` of a function with a
    derivative template (``grad(s2s.numpy.sum)`` then uses the template, not the source)."""
    hit = _wrappers.get(fn)
    if hit is not None:
        return hit
    sig = inspect.signature(fn)
    params, call = [], []
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            raise TypeError(f"cannot differentiate {fn.__name__} directly: it takes *{p.name}")
        if p.kind is p.VAR_KEYWORD:
            continue
        params.append(p.name)
        call.append(p.name if p.kind is p.POSITIONAL_ONLY else f"{p.name}={p.name}")
    name = getattr(fn, "__name__", "fn")
    text = f"def {name}({', '.join(params)}):\n    return target({', '.join(call)})\n"
    fdef = gast.parse(text).body[0]
    wrapper, _ = compile_function(fdef, f"<s2s calls {getattr(fn, '__module__', '')}.{name}>",
                                  {"__builtins__": __builtins__}, {"target": make_cell(fn)})
    wrapper.__defaults__ = tuple(p.default for p in sig.parameters.values()
                                 if p.default is not p.empty and p.kind is not p.KEYWORD_ONLY) or None
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


class _Context:
    """What ``reverse.transform`` asks of its surroundings, for one function."""

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
        obj = _SUPPORT_OBJECTS[name]
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
                if getattr(obj, "__module__", "") == support.__name__:
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
        if name in _SUPPORT_OBJECTS:
            return self.support(name)
        if name == "lax":
            from s2s import lax
            for user_name in sorted(_referenced(self.plan.normal)):
                if user_name not in self.plan.locals and lookup(self.source, user_name) is lax:
                    return user_name
            return self.bind("lax", lax)
        import builtins
        if hasattr(builtins, name):
            return name
        if scope and callable(scope.get(name)):
            return self.bind(name, scope[name])
        raise TransformError(f"derivative template uses unknown name {name!r}")

    def attribute_callee(self, attr):
        """The callee an array attribute (``x.T``) is differentiated as, or None."""
        fn = getattr(_snp(), ARRAY_ATTRIBUTES.get(attr, ""), None)
        return classify(fn, "." + attr) if fn is not None else None

    def operator_callee(self, op):
        from s2s import lax
        if type(op) not in _OPERATORS:  # `not x`: a bool
            return Callee(CalleeKind.ZERO, name="not")
        module, name = _OPERATORS[type(op)]
        fn = getattr(lax if module == "lax" else _snp(), name, None)
        if fn is None:
            return Callee(CalleeKind.ZERO, name=name)
        return classify(fn, name)

    # -- callees -------------------------------------------------------------

    def resolve_callee(self, call):
        func = call.func
        if isinstance(func, gast.Name) and func.id in self.plan.support.values():
            name = next(k for k, v in self.plan.support.items() if v == func.id)
            return classify(_SUPPORT_OBJECTS[name], name)
        if isinstance(func, gast.Name) and func.id in self.cells:
            return classify(self.cells[func.id].cell_contents, func.id)
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
                return classify(made, func.id, self.source, call)
        if chain is None or chain[0] in self.plan.locals:
            if isinstance(func, gast.Attribute) and func.attr in ARRAY_METHODS:
                # x.sum(...): an array method, differentiated as the NumPy function.
                fn = getattr(_snp(), ARRAY_METHODS[func.attr], None)
                if fn is not None:
                    c = classify(fn, "." + func.attr)
                    c.method = func.attr
                    return c
            return Callee(CalleeKind.UNKNOWN, name=q.to_source(func))
        obj = resolve_chain(self.source, chain)
        if obj is MISSING:
            raise TransformError(f"cannot resolve `{'.'.join(chain)}`", filename=self.source.filename,
                                 lineno=self.source.file_line(call))
        callee = classify(obj, ".".join(chain), self.source, call)
        if callee.kind is CalleeKind.USER:
            # Generated code calls what ``chain`` denotes now; a redefinition or a
            # monkeypatch later makes the build stale (``Build.current``).
            self.guards.append((self.source, chain, obj))
        return callee

    def user_vjp(self, callee, call, active):
        if isinstance(callee.fn, LocalFunction):
            fn, bound_args = callee.fn, ()
            plan = fn.plan
        else:
            fn, bound_args = unwrap(callee.fn)
            plan = plan_for(fn)
        params = _params(plan.normal)
        binding = _bind_call(plan, params, bound_args, call, self.source)
        extra = []
        if isinstance(fn, LocalFunction):
            for name in fn.free:
                binding[name] = q.name(name)
                extra.append(q.name(name))
        active_params = tuple(p for p in params if _any_active(binding.get(p), active))
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


def classify(obj, name, source=None, call=None):
    """A ``Callee`` for the object a call resolves to."""
    from s2s.numpy.twins import twin_of, is_foreign_numpy
    if obj is support.pop or obj is support.append or obj is support.extend:
        return Callee(CalleeKind.SPECIAL, fn=obj, name=name)
    twin = twin_of(obj) if not isinstance(obj, types.ModuleType) else None
    if twin is not None:
        obj = twin
    rules = rules_of(obj)
    if rules is not None and rules.vjp is not None:
        if rules.vjp == ZERO_DERIVATIVE:
            return Callee(CalleeKind.ZERO, name=name)
        c = Callee(CalleeKind.TEMPLATE, template=rules.vjp, fn=obj, name=name)
        c.array_result = not isinstance(obj, type)
        return c
    prim = getattr(obj, "primitive", None)
    if prim is not None and getattr(prim, "vjp", None) is None:
        where = dict(filename=source.filename, lineno=source.file_line(call)) if source and call else {}
        return Callee(CalleeKind.NORULE, fn=obj, name=name, error=TransformError(
            f"the primitive {prim.name} (called as `{name}`) has no reverse-mode rule yet",
            hint="register one with s2s.lax.core.def_vjp", **where))
    fn, _ = unwrap(obj)
    if isinstance(fn, types.FunctionType) and not is_foreign_numpy(obj):
        return Callee(CalleeKind.USER, fn=obj, name=name)
    where = {}
    if source is not None and call is not None:
        where = dict(filename=source.filename, lineno=source.file_line(call))
    if is_foreign_numpy(obj):
        error = TransformError(f"`{name}` has no s2s counterpart, so s2s cannot differentiate it",
                               hint="use an s2s.numpy function instead, or wrap the computation "
                                    "and give it a rule with s2s.lax.core.def_vjp", **where)
    else:
        error = TransformError(f"s2s has no derivative rule for `{name}` and cannot read its source",
                               hint="register a rule with s2s.lax.core.def_vjp, or call a Python "
                                    "function s2s can read", **where)
    return Callee(CalleeKind.NORULE, fn=obj, name=name, error=error)


def _params(fdef):
    a = fdef.args
    names = [x.id for x in a.posonlyargs + a.args]
    if a.vararg is not None:
        names.append(a.vararg.id)
    names += [x.id for x in a.kwonlyargs]
    if a.kwarg is not None:
        names.append(a.kwarg.id)
    return names


def _bind_call(plan, params, bound_args, call, source):
    """Maps the callee's parameters to call-site atoms (statically)."""
    a = plan.normal.args
    positional = [x.id for x in a.posonlyargs + a.args if x.id not in getattr(plan, "free", ())]
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


def _any_active(node, active):
    if node is None:
        return False
    return any(isinstance(n, gast.Name) and n.id in active for n in gast.walk(node))


# ---------------------------------------------------------------------------
# Assembly.


class Build:
    """A built reverse-mode transformation of one function for one set of active params."""

    def __init__(self, fn, active_params):
        self._fn = weakref.ref(fn)  # builds are cached per function: must not keep it alive
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
        function monkeypatched: the user's code would call the new one)."""
        checks = self._checks
        if checks is None:
            checks = self._checks = _guard_checks(self)
        for check in checks:
            if not check():
                return False
        return True

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


def _guard_checks(build):
    """One check per distinct name resolution of ``build`` and its dependencies
    (a stale dependency makes its callers stale too, so they are checked together)."""
    checks, seen, todo, done = [], set(), [build], set()
    while todo:
        b = todo.pop()
        if id(b) in done:
            continue
        done.add(id(b))
        todo.extend(b.deps)
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


_builds = weakref.WeakKeyDictionary()


def _transform(plan, active_params):
    namer = Namer(plan.namer.taken)
    ctx = _Context(plan, active_params, namer)
    tree = plan.normal
    result = reverse.transform(tree, ctx)
    return result, ctx, namer


def _globals_and_cells(plan, ctx, fdefs):
    """Closure cells: the user's own (live), twins for NumPy names, and ctx's."""
    return _globals_and_cells_for(plan, ctx.cells, fdefs)


def _globals_and_cells_for(plan, extra_cells, fdefs):
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
            cells[ident] = make_cell(_SUPPORT_OBJECTS[name])
    if plan.np_name in referenced and plan.np_name not in cells:
        obj = lookup(plan.source, plan.np_name)
        cells[plan.np_name] = make_cell(twin_binding(obj) if obj is not MISSING and twin_binding(obj)
                                        else _snp())
    cells.update(extra_cells)
    return plan.source.globals, cells


def _function(name, args, body):
    return gast.FunctionDef(name=name, args=args, body=body, decorator_list=[], returns=None,
                            type_comment=None, type_params=[])


def _adjoint_return(result, names):
    values = [q.name(n) if n else q.const(None) for n in names]
    if len(values) == 1:
        return values[0]
    return gast.Tuple(elts=values, ctx=gast.Load())


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


def _file(kind, plan, active):
    fn = plan.fn
    code = fn.__code__
    return f"<s2s {kind}_{plan.name} [{','.join(active)}] of {code.co_filename}:{code.co_firstlineno}>"


def grad_function(fn, argnums_params, has_aux=False, holomorphic=False, with_value=False,
                  as_tuple=False):
    """``(function, source_text, build)`` computing the gradient w.r.t. ``argnums_params``."""
    with _build_lock:
        return _grad_function_locked(fn, argnums_params, has_aux, holomorphic, with_value, as_tuple)


def _grad_function_locked(fn, argnums_params, has_aux, holomorphic, with_value, as_tuple):
    plan = plan_for(fn)
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
    if as_tuple and not isinstance(grads, gast.Tuple):
        grads = gast.Tuple(elts=[grads], ctx=gast.Load())
    if has_aux:
        aux = gast.Subscript(value=q.name(res.id), slice=q.const(1), ctx=gast.Load())
        ret_value = gast.Tuple(elts=[grads, aux], ctx=gast.Load())
    else:
        ret_value = grads
    if with_value:
        ret_value = gast.Tuple(elts=[copy_node(result.result), ret_value], ctx=gast.Load())
    body.append(gast.Return(value=ret_value))
    kind = "value_and_grad" if with_value else "grad"
    fname = namer.new(f"{kind}_{plan.name}")
    fdef = _function(fname, plan.normal.args, body)
    globals_, cells = _globals_and_cells(plan, ctx, [fdef])
    fn_obj, text = compile_function(fdef, _file(kind, plan, argnums_params), globals_, cells,
                                    fn.__defaults__, fn.__kwdefaults__, origin=plan.source)
    build = Build(fn, tuple(argnums_params))
    build.texts = [text]
    build.deps = ctx.deps
    build.guards = ctx.guards
    return fn_obj, text, build


def copy_node(node):
    return copy.deepcopy(node)


# Builds are published before they are finished (recursive calls need them), so a
# second thread must not see one half-built: one builder at a time, re-entrant for
# the recursion. Building happens once per function, never on the hot path.
_build_lock = threading.RLock()


def build_vjp(fn, active_params):
    """The ``Build`` (fwd/bwd pair) of ``fn`` with ``active_params`` active (cached)."""
    with _build_lock:
        return _build_vjp_locked(fn, active_params)


def _build_vjp_locked(fn, active_params):
    per_fn = _builds.setdefault(fn, {})
    key = tuple(active_params)
    build = per_fn.get(key)
    if build is not None and (not build.done or build.current()):
        return build  # (not done: a recursive call, while it is being built)
    build = Build(fn, key)
    per_fn[key] = build  # visible to recursive calls before it is finished
    try:
        _assemble_pair(build)
    except BaseException:
        del per_fn[key]
        raise
    return build


def _assemble_pair(build):
    plan = plan_for(build.fn)
    result, ctx, namer = _transform(plan, build.active_params)
    res = result.result
    build.output_active = isinstance(res, gast.Name) and result.result_active
    fwd_name = namer.new(f"fwd_{plan.name}")
    bwd_name = namer.new(f"bwd_{plan.name}")
    tape_name = namer.new("tape")
    tape = gast.Tuple(elts=[q.name(t) for t in result.tape], ctx=gast.Load())
    fwd_body = result.inits + result.tape_inits + result.forward + [
        gast.Return(value=gast.Tuple(elts=[copy_node(res), tape], ctx=gast.Load()))]
    fwd = _function(fwd_name, plan.normal.args, fwd_body)
    res_adj = result.adjoint_names.get(res.id) if build.output_active else None
    seed_param = res_adj or namer.new("bresult")
    bwd_body = []
    if result.tape:
        bwd_body.append(gast.Assign(targets=[gast.Tuple(elts=[q.store(t) for t in result.tape],
                                                        ctx=gast.Store())],
                                    value=q.name(tape_name), type_comment=None))
    # The seed arrives as a parameter: its `bresult = None` init (a result assigned on
    # several paths, e.g. an early return) would discard it.
    bwd_body += [a for a in result.adjoint_inits if a.targets[0].id != seed_param] + result.reverse
    bwd_body.append(gast.Return(value=_adjoint_return(res, [result.param_adjoints[p]
                                                           for p in build.active_params])))
    bwd_args = gast.arguments(args=[q.name(tape_name, gast.Param()), q.name(seed_param, gast.Param())],
                              posonlyargs=[], vararg=None, kwonlyargs=[], kw_defaults=[],
                              kwarg=None, defaults=[])
    bwd = _function(bwd_name, bwd_args, bwd_body)
    globals_, cells = _globals_and_cells(plan, ctx, [fwd, bwd])
    fn = build.fn
    fwd_fn, fwd_text = compile_function(fwd, _file("fwd", plan, build.active_params), globals_, cells,
                                        fn.__defaults__, fn.__kwdefaults__, origin=plan.source)
    bwd_fn, bwd_text = compile_function(bwd, _file("bwd", plan, build.active_params), globals_, cells,
                                        origin=plan.source)
    build.fwd_cell.cell_contents = fwd_fn
    build.bwd_cell.cell_contents = bwd_fn
    build.texts = [fwd_text, bwd_text]
    build.deps = ctx.deps
    build.guards = ctx.guards
    build.done = True
