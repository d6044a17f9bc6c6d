"""Builds control-flow-converted functions for jit (``converted(fn)``).

Pipeline: source -> fence -> normal form (shared with grad, see
``frontend.Plan``) -> ``control.transform`` -> Python source -> function.
Functions that cannot be converted (no source, syntax the fence rejects,
s2s's own library code) are returned unchanged: they still stage, as long as
their Python control flow does not depend on staged values.
"""
import builtins
import functools
import logging
import os
import types
import weakref

import gast

from s2s.codegen import origins
from s2s.codegen.python import compile_function, make_cell
from s2s import numpy as snp
from s2s.core import hooks
from s2s.core.config import config
from s2s.core.errors import ConcretizationError, TransformError, UnsupportedSyntaxError
from s2s.core.primitive import Tracer
from s2s.parse.naming import Namer
from s2s.parse.normalize import ARRAY_METHODS
from s2s.parse.resolve import lookup, MISSING, resolve_chain, static_chain
from s2s.parse.source import NoSourceError, unwrap
from s2s.runtime import control_ops
from s2s.transforms import control, frontend
from s2s.parse import dataflow, quoting as q
from s2s.transforms.frontend import (defaults_of, globals_and_cells, passed_to_mutating, Plan,
                                     same_defaults)

_RUNTIME = {
    "if_stmt": control_ops.if_stmt, "while_stmt": control_ops.while_stmt,
    "for_stmt": control_ops.for_stmt, "srange": control_ops.srange,
    "Undefined": control_ops.Undefined, "converted_call": control_ops.converted_call,
    "not_": control_ops.not_,
}

_converted = weakref.WeakKeyDictionary()
logger = logging.getLogger("s2s")


class _Context:
    def __init__(self, plan, namer, explicit_captures=False):
        self.plan = plan
        self.source = plan.source
        self.namer = namer
        self.cells = {}
        self.explicit_captures = explicit_captures

    def runtime(self, name):
        for ident, cell in self.cells.items():
            if cell.cell_contents is _RUNTIME[name]:
                return ident
        ident = self.namer.new(name)
        self.cells[ident] = make_cell(_RUNTIME[name])
        return ident

    def is_user_call(self, call):
        func = call.func
        if isinstance(func, gast.Name) and func.id in self.plan.locals:
            return True
        chain = static_chain(func)
        if chain is None:
            return True
        if chain[0] in self.plan.locals:
            # ``x.sum()`` in code converted for grad stays a method call, which reverse
            # mode differentiates as the NumPy function (as in unconverted code): through
            # ``converted_call(x.sum)`` the derivative with respect to ``x``, the bound
            # receiver, was lost (jit(grad(f)) silently gave zero for it).
            return not (self.explicit_captures and len(chain) == 2 and chain[1] in ARRAY_METHODS)
        obj = resolve_chain(self.source, chain)
        # ``A.dot(x)`` of a global NumPy array: converted_call stages it as ``np.dot(A, x)``
        return _is_user_function(obj) or obj is builtins.min or obj is builtins.max or \
            frontend.array_method_of(obj) is not None


def _extremum(builtin, wins):
    """Python's ``min``/``max`` where the values compared may be staged: the
    comparison becomes a select (the first extremum wins, as in Python)."""

    def extremum(*args, **kwargs):
        values = args[0] if len(args) == 1 else args
        if kwargs or not isinstance(values, (list, tuple)) or \
                not any(isinstance(v, Tracer) for v in values):
            return builtin(*args, **kwargs)
        best = values[0]
        for v in values[1:]:
            if snp.ndim(v) or snp.ndim(best):
                raise ValueError(f"{builtin.__name__}() of arrays with more than one element is "
                                 f"ambiguous; use np.{'minimum' if builtin is min else 'maximum'}")
            best = snp.where(wins(v, best), v, best)
        return best
    extremum.__name__ = builtin.__name__
    return extremum


_EXTREMA = {id(builtins.min): _extremum(builtins.min, lambda v, best: v < best),
            id(builtins.max): _extremum(builtins.max, lambda v, best: v > best)}


def _is_user_function(obj):
    fn, _ = unwrap(obj) if obj is not MISSING else (None, ())
    if not isinstance(fn, types.FunctionType):
        return False
    module = getattr(fn, "__module__", "") or ""
    if fn.__code__.co_filename.startswith(_PACKAGE_DIR):
        return False  # s2s's own code (``functools.wraps`` may have lent it a user's __module__)
    return not (module.startswith("s2s") or module.split(".")[0] in ("numpy", "scipy", "jax"))


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def converted(fn):
    """``fn`` with its Python control flow converted for staging (cached), or ``fn``."""
    if id(fn) in _EXTREMA and (fn is builtins.min or fn is builtins.max):
        return _EXTREMA[id(fn)]
    try:
        hit = _cached(_converted, fn)
    except TypeError:
        return fn
    if hit is not None:
        return hit
    hook = getattr(type(fn), "__s2s_convert__", None)
    if hook is not None:
        return hook(fn)
    if isinstance(fn, functools.partial):
        return functools.partial(converted(fn.func), *fn.args, **(fn.keywords or {}))
    try:
        target, bound = unwrap(fn)
    except NoSourceError:
        return fn
    if not _is_user_function(target):
        return fn
    try:
        out = _convert(target)
    except NoSourceError:
        out = target
    except UnsupportedSyntaxError as e:
        out = _unconverted(target, e)
    if bound:
        inner = out

        def out(*args, **kwargs):
            return inner(*bound, *args, **kwargs)
    try:
        _remember(_converted, fn, out, target)
    except TypeError:
        pass
    return out


def _cached(cache, fn):
    """``fn``'s conversion in ``cache``, or None (also when the user rebound its
    defaults since: the converted function holds a copy of them)."""
    hit = cache.get(fn)
    if hit is None:
        return None
    out, target, seen = hit
    if target is not None and not same_defaults(target(), seen):
        return None
    return out


def _remember(cache, fn, out, target):
    cache[fn] = (out, weakref.ref(target), defaults_of(target))


def _unconverted(fn, why):
    """``fn`` run as written, its control flow not converted because of the fence's
    error ``why``: a staged condition in it then raises, and says why."""
    if config.log_transforms:
        logger.warning("s2s.jit(%s): its control flow is not converted (%s); it stages as "
                       "written", fn.__qualname__, why)

    @functools.wraps(fn)
    def run(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ConcretizationError as e:
            raise ConcretizationError(
                f"{why}\n  (so s2s ran {fn.__qualname__} without converting its `if`/`while`/"
                f"`for`, and a condition on a staged value failed: {str(e).splitlines()[0]})"
            ) from e
    return run


_converted_for_grad = weakref.WeakKeyDictionary()


def converted_for_grad(fn):
    """Like ``converted`` but branch and loop functions take what they capture as
    arguments (``consts=``), so reverse mode can differentiate the converted code."""
    if id(fn) in _EXTREMA and (fn is builtins.min or fn is builtins.max):
        return _EXTREMA[id(fn)]  # a select per comparison: reverse mode traces it
    try:
        hit = _cached(_converted_for_grad, fn)
    except TypeError:
        return fn
    if hit is not None:
        return hit
    try:
        target, bound = unwrap(fn)
    except NoSourceError:
        return fn
    if bound or not _is_user_function(target):
        return fn
    try:
        out = _convert(target, explicit_captures=True)
    except (NoSourceError, UnsupportedSyntaxError):
        out = target
    _remember(_converted_for_grad, fn, out, target)
    return out


def _convert(fn, explicit_captures=False):
    plan = Plan(fn, "jit")
    _check_item_assigning_calls(plan)
    namer = Namer(plan.namer.taken)
    ctx = _Context(plan, namer, explicit_captures)
    tree = control.transform(plan.normal, ctx)
    if tree.name == "<lambda>":
        tree.name = namer.new("lambda_fn")
    globals_, cells = globals_and_cells(plan, ctx.cells, [tree])
    code = fn.__code__
    kind = "converted-for-grad" if explicit_captures else "converted"
    filename = f"<s2s {kind} {plan.name} of {code.co_filename}:{code.co_firstlineno}>"
    new, text = compile_function(tree, filename, globals_, cells, fn.__defaults__, fn.__kwdefaults__,
                                 origin=plan.source)
    new.__s2s_source__ = text
    _remember_originals(fn, new)
    return new


# ---------------------------------------------------------------------------
# From converted code back to the code it was converted from.
#
# vmap batches a function by its source. Under jit the functions it meets may be
# converted ones (a body given to lax.map, a nested function called, a function given to
# vmap, inside converted code): their ``if``/``while`` are already calls of the runtime
# operators, which vmap cannot batch per example. It batches the code they were
# converted from instead (and converts the batched source when it stages).

_originals = weakref.WeakKeyDictionary()  # converted code -> (original code, weakref to fn)
_twins = weakref.WeakKeyDictionary()  # converted function -> its unconverted twin


def _remember_originals(fn, new):
    origin = origins.lookup(new.__code__.co_filename)
    for conv, orig in _twin_codes(fn.__code__, new.__code__, origin).items():
        _originals[conv] = (orig, weakref.ref(fn))


def _twin_codes(orig, conv, origin):
    """``{converted code: original code}`` for ``conv`` and the functions nested in it.
    A nested function keeps its name (a lambda becomes a function named after it, at the
    lambda's line); the functions the conversion made (branches, loop bodies) have no
    twin, and the user's functions nested in them pair with the original's."""
    out = {conv: orig}
    originals = {}
    for c in orig.co_consts:
        if isinstance(c, types.CodeType):
            originals.setdefault(c.co_name, []).append(c)
    todo = [c for c in conv.co_consts if isinstance(c, types.CodeType)]
    while todo:
        c = todo.pop()
        if c.co_name in originals:
            if len(originals[c.co_name]) == 1:  # (two of one name: left unpaired)
                out.update(_twin_codes(originals[c.co_name][0], c, origin))
            continue
        if control.made_function(c.co_name):  # a branch or loop body: no twin, look inside
            todo.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
            continue
        where = origin.user_line(c.co_firstlineno) if origin is not None else None
        lambdas = [o for o in originals.get("<lambda>", ())
                   if where is not None and o.co_firstlineno == where[1]]
        if len(lambdas) == 1:
            out.update(_twin_codes(lambdas[0], c, origin))
    return out


def unconverted(fn):
    """The function that converted ``fn`` was made from: the original code over ``fn``'s
    closure cells and defaults (so it sees the same values), or ``fn`` itself when it is
    not converted code or its twin cannot be had."""
    if not isinstance(fn, types.FunctionType):
        return fn
    hit = _twins.get(fn)
    if hit is not None:
        return hit
    entry = _originals.get(fn.__code__)
    source = entry[1]() if entry is not None else None
    if source is None:
        return fn
    code = entry[0]
    if code is source.__code__:
        return source
    cells = dict(zip(fn.__code__.co_freevars, fn.__closure__ or ()))
    if any(name not in cells for name in code.co_freevars):
        return fn  # the conversion dropped code that read it: the twin could not run
    out = types.FunctionType(code, source.__globals__, fn.__name__, fn.__defaults__,
                             tuple(cells[name] for name in code.co_freevars))
    out.__kwdefaults__ = fn.__kwdefaults__
    out.__qualname__ = fn.__qualname__
    _twins[fn] = out
    return out


def _check_item_assigning_calls(plan):
    """Converted code gives ``a[i] = v`` value semantics (a staged branch must not change
    what the other branch sees), so a call of a user function that assigns into a list
    it is passed would not change the caller's list. Raised where the caller keeps using
    that list (not rebinding it to the result): ``converted`` then runs the caller as
    written, where the assignment happens in place as in Python. Code s2s generated has
    value semantics when it runs eagerly too: nothing to check (and its callees, the
    generated fwd/bwd functions, need not be parsed for it)."""
    code = getattr(plan.source.fn, "__code__", None)
    if code is not None and origins.lookup(code.co_filename) is not None:
        return
    order = _preorder(plan.normal)
    last_load = {n.id: i for i, n in enumerate(order)
                 if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
    in_loops = {id(n) for loop in order if isinstance(loop, (gast.For, gast.While))
                for n in q.walk(loop)}
    for i, s in enumerate(order):
        if not (isinstance(s, (gast.Assign, gast.Expr)) and isinstance(s.value, gast.Call)
                and isinstance(s.value.func, gast.Name)):
            continue
        changed = passed_to_mutating(plan, s.value, set(last_load), methods=frozenset(),
                                     supports=("setitem",))
        if isinstance(s, gast.Assign):
            changed -= set(dataflow.targets(s))
        # Only where the caller reads the list after the call (later in the source, or
        # in a later trip of a loop around it).
        end = i + len(_preorder(s))
        changed = {a for a in changed if last_load.get(a, -1) >= end or id(s) in in_loops}
        if changed:
            arg, callee = sorted(changed)[0], s.value.func.id
            raise UnsupportedSyntaxError(
                f"{callee} assigns into its argument `{arg}` in place, which converted code "
                f"would not pass back (in {plan.source.fn.__qualname__}: "
                f"`{plan.source.line_text(s)}`)",
                filename=plan.source.filename, lineno=plan.source.file_line(s),
                construct="a call that assigns into a list argument in place",
                hint=f"return the list from {callee} and assign it: `{arg} = {callee}(...)`")


def _preorder(node):
    """The nodes of the tree at ``node`` in source order (depth first; a subtree's nodes
    are contiguous)."""
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(reversed(q.children(n)))
    return out


def source(fn):
    """The converted source of ``fn`` (its own source when it needs no conversion)."""
    conv = converted(fn)
    text = getattr(conv, "__s2s_source__", None)
    if text is None:
        import inspect
        try:
            return inspect.getsource(fn)
        except (OSError, TypeError):
            return f"# no source for {getattr(fn, '__qualname__', fn)!r}: staged as it runs, unconverted"
    return text


# The runtime operators call these for the user functions converted code calls.
hooks.install("converted", converted)
hooks.install("converted_for_grad", converted_for_grad)
