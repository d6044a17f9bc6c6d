"""The tracing fallback: record what a function does, as straight-line source.

When a function's source cannot be had (code built with ``exec``, a REPL, a
``functools.partial`` of such), s2s calls it on ``RecordingTracer``s that hold
the actual argument values. Every primitive it applies is computed for real and
recorded; the record is emitted as ANF source that the source transformations
then treat like user code. Python control flow in the function runs on the
concrete values, so the recorded source is *fixed to the path taken* by those
arguments (which is why ``grad`` re-records on every call of such a function).

>>> import numpy as np
>>> from s2s import lax
>>> rec = record(lambda x: lax.tanh(x) * 2.0, (np.ones(2, np.float32),), {})
>>> print(rec.source.strip())
def traced(x0):
    t0 = lax.tanh(x0)
    t1 = lax.mul(t0, 2.0)
    return t1
"""
import ast
import cmath
import collections
import functools
import inspect
import itertools
import keyword
import re

import numpy as np

from s2s.codegen.python import compile_code, instantiate, make_cell
from s2s.core.config import config
from s2s.core.errors import ConcretizationError
from s2s.core.primitive import Trace, Tracer, abstractify, all_primitives, namespaces
from s2s.parse import astconv
from s2s.parse.quoting import parse_expr
from s2s.core.tree_util import tree_flatten


class RecordingTracer(Tracer):
    """A value whose computations are recorded; ``value`` is the real (possibly staged) value."""

    __slots__ = ("value", "name")

    def __init__(self, trace, value, name):
        self._trace = trace
        self.value = value
        self.name = name

    @property
    def aval(self):
        return abstractify(self.value)

    def __bool__(self):
        self._trace.concretized = True
        return bool(self.value)

    def __int__(self):
        self._trace.concretized = True
        return int(self.value)

    def __float__(self):
        return float(self._concrete("float()"))

    def __complex__(self):
        return complex(self._concrete("complex()"))

    def __index__(self):
        self._trace.concretized = True
        return int(self.value)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self._concrete("conversion to a NumPy array"), dtype=dtype)

    def _concrete(self, what):
        """The value, where dropping its recording loses nothing: an inexact value
        turned into a constant would get a zero derivative, so that raises."""
        self._trace.concretized = True
        if np.result_type(self.value).kind in "fc":
            raise ConcretizationError(
                f"{what} of a recorded value ({self.aval.str_short()}) inside a function s2s "
                "traces (its source is not available or not understood): the result would be "
                "a constant, silently cut from the derivative. Use s2s.numpy / s2s.lax "
                "functions on it (not NumPy, math or float())")
        return self.value

    def __repr__(self):
        return f"Recording<{self.aval.str_short()}>"


class _Equation:
    __slots__ = ("primitive", "args", "params", "outs")

    def __init__(self, primitive, args, params, outs):
        self.primitive = primitive
        self.args = args
        self.params = params
        self.outs = outs


def _wrappers():
    """Primitive -> (prefix, dotted name, public function that binds it), from the
    registered namespaces; the derivative templates are keyed on the public function."""
    return _wrappers_of(len(namespaces()))


@functools.lru_cache(maxsize=None)
def _wrappers_of(count):  # the scan is cached until another namespace registers
    table = {}
    for prefix, sub, module in namespaces():
        for name in sorted(vars(module)):  # vars: dir() of a public module lists only __all__
            fn = getattr(module, name)
            prim = getattr(fn, "primitive", None)
            if prim is not None and prim not in table:
                table[prim] = (prefix, sub + name, fn)
    return table


def _fits(fn, args, params):
    """Whether ``fn(*args, **params)`` binds: the public function takes the primitive's
    parameters as its own keywords."""
    import inspect
    try:
        inspect.signature(fn).bind(*args, **params)
        return True
    except (TypeError, ValueError):
        return False


def _pack_trailing(fn, call_args):
    """The operands as ``fn`` takes them: wrappers such as ``lax.dynamic_slice`` take the
    primitive's trailing scalar operands as one sequence (``fn.packs_operands_from``)."""
    start = getattr(fn, "packs_operands_from", None)
    if start is None:
        return call_args
    rest = call_args[start:]
    return call_args[:start] + ["(" + ", ".join(rest) + ("," if len(rest) == 1 else "") + ")"]


class _CallEquation:
    """A call recorded as a unit (``fn(*args)``, see ``record_call``): ``args`` are the
    tracer leaves it reads, ``outs`` the tracers of its array outputs."""
    __slots__ = ("fn", "arg_tree", "args", "result", "out_paths", "outs")

    def __init__(self, fn, arg_tree, args, result, out_paths, outs):
        self.fn = fn
        self.arg_tree = arg_tree
        self.args = args
        self.result = result
        self.out_paths = out_paths
        self.outs = outs


def recording_trace(args):
    """The innermost trace of the tracers among the leaves of ``args`` when it is a
    recording (None otherwise: eager values, or jit's staging innermost)."""
    top = None
    for leaf in tree_flatten(list(args))[0]:
        if isinstance(leaf, Tracer) and (top is None or leaf._trace.level > top.level):
            top = leaf._trace
    return top if isinstance(top, RecordingTrace) else None


def record_call(fn, args):
    """``fn(*args)`` where ``args`` hold recording tracers: ``fn`` runs on the real values
    and the recording gets one call of ``fn`` instead of the primitives it is made of.
    For calls whose derivative is not that of their body (``custom_jvp``,
    ``custom_vjp``, ``checkpoint``): the transformations reading the recording then
    see the call and apply its rules. Eager and staged arguments: ``fn(*args)``."""
    trace = recording_trace(args)
    if trace is None:
        return fn(*args)
    return trace.process_call(fn, args)


_PYTREE_TYPES = (tuple, list, dict)


class RecordingTrace(Trace):
    """Computes each primitive on the real values and appends it to the record."""

    def __init__(self):
        super().__init__()
        self.equations = []
        self.constants = []
        # Whether Python read a recorded value (bool, int, a NumPy conversion): the
        # record then holds only the path those values took (vmap must not reuse it).
        self.concretized = False
        self._wrappers = _wrappers()
        self._names = itertools.count()

    def new(self, value):
        return RecordingTracer(self, value, f"t{next(self._names)}")

    def process_primitive(self, primitive, args, params):
        composite = getattr(primitive, "composite", None)
        if composite is not None:
            entry = self._wrappers.get(primitive)
            if entry is None or not _fits(entry[2], args, params):
                # No public function takes these parameters: record what it is made of.
                return composite(*args, **params)
        values = [a.value if isinstance(a, RecordingTracer) and a._trace is self else a for a in args]
        out = primitive.bind(*values, **params)
        outs = list(out) if primitive.multiple_results else [out]
        tracers = [self.new(o) for o in outs]
        self.equations.append(_Equation(primitive, list(args), dict(params), tracers))
        return tracers if primitive.multiple_results else tracers[0]

    def process_call(self, fn, args):
        """Records ``fn(*args)`` as one call (``record_call``)."""
        _check_spellable(args, self)
        leaves = [a for a in tree_flatten(list(args))[0]
                  if isinstance(a, RecordingTracer) and a._trace is self]
        out = fn(*_values_of(args, self))
        paths, outs = [], []

        def wrap(value, path):
            if type(value) in _PYTREE_TYPES or _is_namedtuple(value):
                items = value.items() if isinstance(value, dict) else enumerate(value)
                parts = {k: wrap(v, path + (k,)) for k, v in items}
                if isinstance(value, dict):
                    return type(value)(parts) if type(value) is dict else dict(parts)
                return type(value)(*parts.values()) if _is_namedtuple(value) else \
                    type(value)(parts.values())
            if value is None or isinstance(value, (bool, str)):
                return value
            tracer = self.new(value)
            paths.append(path)
            outs.append(tracer)
            return tracer
        wrapped = wrap(out, ())
        result = f"r{next(self._names)}"
        self.equations.append(_CallEquation(fn, args, leaves, result, paths, outs))
        return wrapped


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def _values_of(tree, trace):
    """``tree`` with the tracers of ``trace`` replaced by their values."""
    if isinstance(tree, RecordingTracer) and tree._trace is trace:
        return tree.value
    if type(tree) in _PYTREE_TYPES or _is_namedtuple(tree):
        items = tree.items() if isinstance(tree, dict) else enumerate(tree)
        parts = {k: _values_of(v, trace) for k, v in items}
        if isinstance(tree, dict):
            return dict(parts)
        return type(tree)(*parts.values()) if _is_namedtuple(tree) else type(tree)(parts.values())
    return tree


def _check_spellable(tree, trace):
    """A recorded call's arguments are spelled as tuple, list, dict and namedtuple
    displays around tracers; other containers of recorded values cannot be."""
    if isinstance(tree, RecordingTracer) or type(tree) in (tuple, list, dict) or _is_namedtuple(tree):
        items = tree.values() if isinstance(tree, dict) else (
            tree if not isinstance(tree, RecordingTracer) else ())
        for v in items:
            _check_spellable(v, trace)
        return
    if any(isinstance(leaf, RecordingTracer) for leaf in tree_flatten(tree)[0]):
        raise NotImplementedError(f"s2s cannot record a call whose argument is a "
                                  f"{type(tree).__name__} holding traced values")


def _spell(tree, atom):
    """Source of a call argument: displays of containers around tracers, constants as cells."""
    if isinstance(tree, RecordingTracer):
        return atom(tree)
    has_tracer = any(isinstance(leaf, RecordingTracer) for leaf in tree_flatten(tree)[0])
    if not has_tracer:
        return atom(tree)
    if isinstance(tree, dict):
        return "{" + ", ".join(f"{_literal(k, atom)}: {_spell(v, atom)}" for k, v in tree.items()) + "}"
    parts = [_spell(v, atom) for v in tree]
    if _is_namedtuple(tree):
        return f"{atom(type(tree))}({', '.join(parts)})"
    if isinstance(tree, list):
        return "[" + ", ".join(parts) + "]"
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _emit_call(eqn, atom, cells):
    """Lines of a recorded call: the call, then each array output read from its result.
    The function and a rule object passed to it are spelled by their own names."""
    def named(value):
        name = getattr(value, "rule_name", None) or getattr(value, "__name__", None)
        if isinstance(name, str) and name.isidentifier() and not keyword.iskeyword(name) \
                and not re.fullmatch(r"[txcr][0-9]+", name) and name not in _GLOBALS \
                and (name not in cells or cells[name].cell_contents is value):
            cells[name] = make_cell(value)
            return name
        return atom(value)
    args = ", ".join(named(a) if callable(a) else _spell(a, atom) for a in eqn.arg_tree)
    lines = [f"    {eqn.result} = {named(eqn.fn)}({args})"]
    for path, out in zip(eqn.out_paths, eqn.outs):
        index = "".join(f"[{_literal(k, atom)}]" for k in path)
        lines.append(f"    {out.name} = {eqn.result}{index}" if path else f"    {out.name} = {eqn.result}")
    return lines


class Recording:
    """A recorded call: its source, the function compiled from it, and the output structure."""

    def __init__(self, source, fn, out_tree):
        self.source = source
        self.fn = fn
        self.out_tree = out_tree


def record(fun, args, kwargs, name="traced"):
    """Runs ``fun(*args, **kwargs)`` on recording tracers; returns a ``Recording``.

    The compiled function takes the flattened leaves of ``(args, kwargs)`` and
    returns the flattened leaves of the output (``out_tree`` rebuilds it).
    """
    leaves, in_tree = tree_flatten((list(args), dict(kwargs)))
    trace = RecordingTrace()
    inputs = [RecordingTracer(trace, leaf, f"x{i}") for i, leaf in enumerate(leaves)]
    a, k = in_tree.unflatten(inputs)
    try:
        out = fun(*a, **k)
        out_leaves, out_tree = tree_flatten(out)
        rec = Recording(*_emit(trace, inputs, out_leaves, name), out_tree)
    finally:
        # The equations hold the tracers, which hold the trace: a cycle that kept every
        # recorded value alive until the cyclic collector ran. Emitted, they are done
        # with (a tracer that escaped the call still reads its value).
        trace.equations.clear()
    rec.concretized = trace.concretized
    return rec


def _is_literal(value):
    """Whether ``repr(value)`` is source for it (``inf`` and ``nan`` are not: constants)."""
    return type(value) in (bool, int) or cmath.isfinite(value)


def _emit(trace, inputs, out_leaves, name):
    wrappers = _wrappers()
    cells = {}
    constants = {}
    lines = []

    def atom(value):
        # Only this recording's tracers are its variables: a tracer of an enclosing
        # recording (a value the function closes over, recorded inside another recorded
        # call) is a constant here, whose name may be one of this recording's own.
        if isinstance(value, RecordingTracer) and value._trace is trace:
            return value.name
        if type(value) in (bool, int, float, complex) and _is_literal(value) or value is None:
            return repr(value)
        if isinstance(value, np.ndarray) and value.shape == () and value.dtype.kind in "biufc":
            pass
        key = id(value)
        if key not in constants:
            cname = f"c{len(constants)}"
            constants[key] = cname
            cells[cname] = make_cell(value)
        return constants[key]

    def own(values):
        return {id(v) for v in values if isinstance(v, RecordingTracer) and v._trace is trace}

    live = own(out_leaves)
    kept = []
    for eqn in reversed(trace.equations):  # drop what the outputs do not need
        if any(id(o) in live for o in eqn.outs):
            kept.append(eqn)
            live |= own(eqn.args)
    for eqn in reversed(kept):
        if isinstance(eqn, _CallEquation):
            lines += _emit_call(eqn, atom, cells)
            continue
        entry = wrappers.get(eqn.primitive)
        if entry is None:
            raise NotImplementedError(f"cannot record primitive {eqn.primitive.name}: no public function")
        prefix, fname, fn = entry
        cells[prefix] = make_cell(_module(prefix))
        call_args = _pack_trailing(fn, [atom(a) for a in eqn.args])
        defaults = _defaults(fn)
        call_args += [f"{k}={_literal(v, atom)}" for k, v in eqn.params.items()
                      if not (k in defaults and _same(defaults[k], v))]
        targets = ", ".join(o.name for o in eqn.outs)
        if eqn.primitive.multiple_results and len(eqn.outs) == 1 and \
                not getattr(fn, "unpacks_single_result", False):
            targets = targets + ","
        lines.append(f"    {targets} = {prefix}.{fname}({', '.join(call_args)})")
    results = [atom(o) for o in out_leaves]
    ret = ", ".join(results) + ("," if len(results) == 1 else "")
    params = ", ".join(i.name for i in inputs)
    text = f"def {name}({params}):\n" + "\n".join(lines) + ("\n" if lines else "") + f"    return {ret}\n" \
        if len(results) != 1 else \
        f"def {name}({params}):\n" + "\n".join(lines) + ("\n" if lines else "") + f"    return {results[0]}\n"
    compiled = _compiled(text, name, tuple(sorted(cells)))
    return compiled.text, instantiate(compiled, _GLOBALS, cells)


_counter = itertools.count()
_GLOBALS = {"__builtins__": __builtins__}
# Compiled recordings by their text: a loop's reverse pass records the same body at
# every step, with other constants (cells) but the same code. Bounded; an entry's
# source stays in linecache while it is cached or any function made from it lives.
_COMPILED = collections.OrderedDict()
_COMPILED_MAX = 512


def _compiled(text, name, cell_names):
    key = (text, cell_names, config.dump_source)
    compiled = _COMPILED.get(key)
    if compiled is not None:
        _COMPILED.move_to_end(key)
        return compiled
    fdef = astconv.parse(text).body[0]
    compiled = compile_code(fdef, f"<s2s traced {name} #{next(_counter)}>", cell_names)
    _COMPILED[key] = compiled
    if len(_COMPILED) > _COMPILED_MAX:
        _COMPILED.popitem(last=False)
    return compiled


@functools.lru_cache(maxsize=None)  # the public functions of the lax/numpy namespaces
def _defaults(fn):
    try:
        return {k: p.default for k, p in inspect.signature(fn).parameters.items()
                if p.default is not inspect.Parameter.empty}
    except (TypeError, ValueError):
        return {}


def _same(a, b):
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:
        return False


def _module(prefix):
    return next(module for p, sub, module in namespaces() if p == prefix and not sub)


def _literal(value, atom):
    """Source for a static parameter: a literal when it round-trips, else a constant cell."""
    try:
        text = repr(value)
        if ast.literal_eval(text) == value:
            return text
    except Exception:
        pass
    return atom(value)
