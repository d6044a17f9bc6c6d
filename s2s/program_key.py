"""A key for a jitted function's staged program, computed without staging it.

With the persistent compilation cache on (``S2S_CACHE_DIR``), the first call of a
jitted function in a new process would still stage it (the executable's key is the
staged module); staging is most of what such a call costs. ``program_key`` instead
describes everything staging reads, so a process that staged the same program before
left the module text under this key and the call goes straight to loading the
executable.

The key must be exact: a wrong program is the worst outcome. It covers the function's
code (bytecode, constants, names, line table, its file's size and modification
time), its defaults, closure cells and function attributes; every global its code
names (and every attribute of a module it reads by those names), described by value
and recursively, callees included; the argument structure and avals, static
arguments, s2s's config, the loop-gradient trip bound, the versions of Python, NumPy
and jaxlib, the platform, and s2s's own files. Where a value cannot be described
exactly (an array, an object of a user class, a builtin that reads the world such as
``open`` or ``getattr``, a derivative rule registered outside s2s, a function without
a source file) there is no key (``KeyUnsure`` says why) and the call stages as usual.

>>> def f(x):
...     return x * 2.0
>>> describe_function(f)
Traceback (most recent call last):
...
s2s.program_key.KeyUnsure: f has no source file (<doctest s2s.program_key[0]>)
"""
import builtins
import functools
import hashlib
import json
import logging
import os
import sys
import types

import numpy as np

from s2s.codegen.stablehlo import verify_and_print
from s2s.core import primitive
from s2s.core.config import config
from s2s.core.primitive import ShapedArray
from s2s.core.tree_util import PyTreeDef
from s2s.lax import control_flow as _control_flow
from s2s.xla import compile_cache, runtime

__all__ = ["KeyUnsure", "ProgramRecord", "program_key", "describe_function", "treedef_to_json",
           "treedef_from_json"]

logger = logging.getLogger("s2s")


class KeyUnsure(Exception):
    """What made a program key impossible to prove exact (the call stages as usual)."""


_SIMPLE = (type(None), bool, int, float, complex, str, bytes)

# Builtins whose result depends on their arguments alone. Not here: those that read
# the world or names chosen at run time (open, input, getattr, globals, vars, eval,
# hash, id, ...), and print (staging would show its output; a loaded program would
# not): code naming them gets no key.
_PURE_BUILTINS = frozenset("""
abs all any bool bytes callable chr complex dict divmod enumerate filter float format
frozenset int isinstance issubclass iter len list map max min next ord pow range
repr reversed round set slice sorted str sum tuple type zip super property staticmethod
classmethod NotImplemented Ellipsis None True False
""".split())
_PURE_MODULES = ("math", "cmath", "operator")
_NUMPY_READERS = frozenset({"load", "loadtxt", "genfromtxt", "fromregex", "fromfile", "memmap"})
_BUILTIN_TYPES = frozenset(v for v in vars(builtins).values() if isinstance(v, type))
_EXCLUDED_OPTIONS = ("cache_dir", "cache_max_size", "log_compiles")
# Module settings of s2s that users may change (an unloaded module has its file's value).
_KNOBS = (("s2s.lax.control_flow", "WHILE_MAX_TRIPS"), ("s2s.scipy._special_kernels", "MAX_TRIPS"))
_MISSING = object()


def _from_s2s(obj):
    module = getattr(obj, "__module__", None) or ""
    return module == "s2s" or module.startswith("s2s.")


class _Describer:
    """Writes a description of values into a SHA-256; records the scalars read from
    globals and closure cells (``baked``: jit recompiles when one is rebound)."""

    def __init__(self):
        self.hash = hashlib.sha256()
        self.memo = {}  # id -> ordinal of the values described so far (cycles, sharing)
        self.alive = []  # what memo's ids refer to, kept alive while describing
        self.baked = []  # (reader, value)
        self.modules = []  # modules met, whose attributes the code names are described
        self.module_names = {}  # id(module) -> names already described
        self.names = set()  # every name the described code reads
        self.budget = 50000

    def emit(self, *items):
        self.budget -= 1
        if self.budget < 0:
            raise KeyUnsure("too much to describe")
        self.hash.update(repr(items).encode() + b"\0")

    def value(self, v):
        t = type(v)
        if t in _SIMPLE:
            self.emit("v", t.__name__, repr(v))
            return
        seen = self.memo.get(id(v))
        if seen is not None:
            self.emit("ref", seen)
            return
        self.memo[id(v)] = len(self.memo)
        self.alive.append(v)
        describe = _DESCRIBERS.get(t)
        if describe is not None:
            describe(self, v)
        elif isinstance(v, np.generic) and t.__module__ == "numpy":
            self.emit("npscalar", v.dtype.str, v.tobytes())
        elif isinstance(v, np.ndarray):
            raise KeyUnsure("an array is read from a global or closure (it may be lifted)")
        elif hasattr(type(v), "__s2s_program_key__"):
            params, inner = v.__s2s_program_key__()
            self.emit("transformed", type(v).__qualname__, repr(params))
            self.value(inner)
        else:
            raise KeyUnsure(f"a value of type {t.__qualname__} is read")

    def sequence(self, v):
        self.emit("seq", type(v).__name__, len(v))
        for x in v:
            self.value(x)

    def mapping(self, v):
        self.emit("dict", len(v))
        for k, x in v.items():
            if type(k) not in _SIMPLE:
                raise KeyUnsure(f"a dict with a key of type {type(k).__qualname__} is read")
            self.emit("k", repr(k))
            self.value(x)

    def dtype(self, v):
        self.emit("dtype", v.str, repr(v))

    def partial(self, v):
        self.emit("partial")
        self.value(v.func)
        self.value(v.args)
        self.value(v.keywords)

    def ufunc(self, v):
        if getattr(np, v.__name__, None) is not v:
            raise KeyUnsure(f"the ufunc {v.__name__} is not NumPy's")
        self.emit("ufunc", v.__name__)

    def type_(self, v):
        if v in _BUILTIN_TYPES:
            self.emit("type", v.__name__)
        elif v.__module__ == "numpy" and getattr(np, v.__name__, None) is v:
            self.emit("nptype", v.__name__)
        elif _from_s2s(v) and _resolves(v):
            self.emit("s2s-type", v.__module__, v.__qualname__)
        else:
            raise KeyUnsure(f"the class {v.__qualname__} is read")

    def builtin(self, v):
        owner = getattr(v, "__self__", None)
        if owner is builtins and v.__name__ in _PURE_BUILTINS:
            self.emit("builtin", v.__name__)
        elif isinstance(owner, types.ModuleType) and owner.__name__ in _PURE_MODULES:
            self.emit("builtin", owner.__name__, v.__name__)
        else:
            raise KeyUnsure(f"the builtin {getattr(v, '__qualname__', v)} is read")

    def module(self, v):
        self.emit("module", v.__name__)
        self.modules.append(v)

    def function(self, fn):
        if _from_s2s(fn) and "<locals>" not in fn.__qualname__ and _resolves(fn):
            self.emit("s2s-fn", fn.__module__, fn.__qualname__)  # s2s's files are in the key
            return
        code = fn.__code__
        path = code.co_filename
        try:
            st = os.stat(path)
        except (OSError, ValueError):
            raise KeyUnsure(f"{fn.__qualname__} has no source file ({path})") from None
        if primitive.rules_of(fn) is not None:
            raise KeyUnsure(f"{fn.__qualname__} has registered rules")
        self.emit("fn", fn.__module__, fn.__qualname__, path, st.st_size, st.st_mtime_ns)
        names = set()
        self.code(code, names)
        self.value(fn.__defaults__)
        self.value(fn.__kwdefaults__)
        self.mapping(vars(fn))
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:
                self.emit("empty cell")
                continue
            self._read(lambda cell=cell: cell.cell_contents, contents)
        namespace = fn.__globals__
        for name in sorted(names):
            value = namespace.get(name, _MISSING)
            if value is not _MISSING:
                self.emit("global", name)
                self._read(lambda ns=namespace, name=name: ns.get(name), value)
            elif name in _PURE_BUILTINS or getattr(builtins, name, None) in _BUILTIN_TYPES:
                self.emit("builtin", name)
            elif not hasattr(builtins, name):
                self.emit("name", name)  # an attribute's name (or a NameError)
            else:
                raise KeyUnsure(f"{fn.__qualname__} names the builtin {name}")
        self.names |= names

    def _read(self, reader, value):
        if value is None or isinstance(value, (bool, int, float, complex)):  # as jit's own check
            self.baked.append((reader, value))
        self.value(value)

    def code(self, code, names):
        names.update(code.co_names)
        self.emit("code", code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount,
                  code.co_flags, code.co_code, code.co_names, code.co_varnames, code.co_freevars,
                  code.co_cellvars, code.co_name, code.co_qualname, code.co_firstlineno,
                  code.co_linetable, code.co_exceptiontable)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                self.code(const, names)
            elif isinstance(const, frozenset):  # its order depends on string hashing
                self.emit("frozenset", sorted(repr(c) for c in const))
            else:
                self.emit("const", type(const).__name__, repr(const))

    def module_attributes(self):
        """Describes each attribute that the described code names, of each module met
        (until no new module or name turns up: a callee found there reads more)."""
        done = False
        while not done:
            done = True
            for module in list(self.modules):
                seen = self.module_names.setdefault(id(module), set())
                for name in sorted(self.names - seen):
                    seen.add(name)
                    done = False
                    value = getattr(module, name, _MISSING)
                    if value is not _MISSING:
                        self.emit("attribute", module.__name__, name)
                        self.attribute(module, name, value)

    def attribute(self, module, name, value):
        top = module.__name__.split(".")[0]
        if (top == "s2s" and not isinstance(value, (types.FunctionType, type))
                and _from_s2s(type(value))):  # s2s's own object: its files are in the key
            self.emit("s2s-object", type(value).__module__, type(value).__qualname__)
        elif top == "numpy" and isinstance(value, (types.FunctionType, types.BuiltinFunctionType)):
            if name in _NUMPY_READERS:
                raise KeyUnsure(f"numpy.{name} is read (it reads files)")
            if isinstance(value, types.BuiltinFunctionType):  # C functions: pure ones are ufuncs
                raise KeyUnsure(f"numpy's builtin {name} is read")
            self.emit("np-fn", value.__module__, value.__qualname__, np.__version__)
        elif top == "numpy" and isinstance(value, types.ModuleType) and name == "random":
            raise KeyUnsure("numpy.random is read")
        else:
            self.value(value)


def _resolves(obj):
    """Whether ``obj`` is what its module and qualified name name (not a replacement)."""
    target = sys.modules.get(obj.__module__)
    for part in obj.__qualname__.split("."):
        target = getattr(target, part, None)
    return target is obj


_DESCRIBERS = {
    tuple: _Describer.sequence, list: _Describer.sequence, dict: _Describer.mapping,
    np.dtype: _Describer.dtype, functools.partial: _Describer.partial, np.ufunc: _Describer.ufunc,
    type: _Describer.type_, types.BuiltinFunctionType: _Describer.builtin,
    types.ModuleType: _Describer.module, types.FunctionType: _Describer.function,
}
# NumPy's dtype classes (np.dtype[float32]) are subclasses of np.dtype.
_DESCRIBERS.update({type(np.dtype(c)): _Describer.dtype for c in "?bhilqBHILQefdgFDGMmOSUV"})


def describe_function(fn):
    """The hex SHA-256 description of ``fn`` alone (its code, values read, callees),
    or ``KeyUnsure``: what ``program_key`` builds on.

    >>> import math
    >>> def g(x):
    ...     return math.pi * x
    >>> g.__code__ = g.__code__.replace(co_filename=__file__)  # a file of its own
    >>> len(describe_function(g))
    64
    """
    d = _Describer()
    d.value(fn)
    d.module_attributes()
    return d.hash.hexdigest()


_fingerprint = {}


def _s2s_files():
    """Every file of s2s's package, with its size and modification time (read once)."""
    if "files" not in _fingerprint:
        rows = []
        _list_files(os.path.dirname(os.path.abspath(__file__)), "", rows)
        _fingerprint["files"] = repr(rows)
    return _fingerprint["files"]


def _list_files(directory, prefix, rows):
    with os.scandir(directory) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        if entry.name.endswith(".py"):
            st = entry.stat()
            rows.append((prefix + entry.name, st.st_size, st.st_mtime_ns))
        elif entry.name != "__pycache__" and entry.is_dir():
            _list_files(entry.path, prefix + entry.name + "/", rows)


def _foreign_rules():
    """The first rule table holding a rule registered outside s2s, or None (about
    0.5 ms: it runs where a key is computed, that is before a compile)."""
    tables = [(r, r.__dict__) for r in list(primitive._registry.values())]
    tables += [(r, {slot: getattr(r, slot) for slot in ("jvp", "vjp", "batch")})
               for r in list(primitive._function_rules.values())]  # FunctionRules' slots
    for rules, slots in tables:
        for slot in primitive.RULE_SLOTS:
            rule = slots.get(slot)
            if rule is not None and not _own_rule(rule):
                return rules
    return None


def _own_rule(rule):
    """Whether ``rule`` is one s2s registers: its own code, or NumPy's (as an ``impl``)."""
    if rule is None or rule is primitive.ZERO_DERIVATIVE:
        return True
    if isinstance(rule, functools.partial):
        return _own_rule(rule.func)
    origin = getattr(rule, "__module__", None) or type(rule).__module__ or ""
    return origin.startswith(("s2s.", "numpy.")) or origin in ("s2s", "numpy")


def treedef_to_json(treedef):
    """``treedef`` as JSON-able lists, or None for node types other than tuple, list,
    dict (str or int keys) and None.

    >>> from s2s.core.tree_util import tree_structure
    >>> t = tree_structure([(1, 2), {"a": None}])
    >>> treedef_from_json(treedef_to_json(t)) == t
    True
    """
    kind = _NODE_NAMES.get(treedef.node_type, _MISSING) if treedef.node_type != "namedtuple" else _MISSING
    if kind is _MISSING:
        return None
    data = treedef.node_data
    if kind == "dict" and not all(type(k) in (str, int) for k in data):
        return None
    children = [treedef_to_json(c) for c in treedef.children]
    if any(c is None for c in children):
        return None
    return [kind, list(data) if kind == "dict" else None, children]


def treedef_from_json(obj):
    """The ``PyTreeDef`` that ``treedef_to_json`` wrote (ValueError if malformed)."""
    kind, data, children = obj
    types_ = {v: k for k, v in _NODE_NAMES.items()}
    if kind not in types_:
        raise ValueError(f"unknown tree node {kind!r}")
    node_data = tuple(data) if kind == "dict" else None
    return PyTreeDef(types_[kind], node_data, tuple(treedef_from_json(c) for c in children))


_NODE_NAMES = {None: "leaf", tuple: "tuple", list: "list", dict: "dict", type(None): "none"}


def program_key(jit_fn, statics, treedef, avals, platform, device_count):
    """``(key, baked)`` for staging ``jit_fn`` (a ``JitFunction``) with these static
    arguments, argument structure and avals, or ``KeyUnsure`` (stage as usual).
    ``baked``: ``(reader, value)`` of the Python scalars read from globals and
    closures, for jit's check that none was rebound since.
    """
    from jaxlib.version import __version__ as jaxlib_version

    if config.dump_source or config.log_transforms:
        raise KeyUnsure("the transformations are dumped or logged (they must run)")
    rules = _foreign_rules()
    if rules is not None:
        raise KeyUnsure(f"a rule registered outside s2s ({rules!r})")
    tree = treedef_to_json(treedef)
    if tree is None:
        raise KeyUnsure(f"the arguments' structure {treedef} has other nodes than tuple, list, dict")
    d = _Describer()
    d.emit("s2s-program-key-1", _s2s_files(), sys.version, np.__version__, jaxlib_version,
           platform, device_count)
    d.emit("config", sorted((k, repr(v)) for k, v in config._values.items()
                            if k not in _EXCLUDED_OPTIONS))
    d.emit("knobs", [repr(getattr(sys.modules.get(m), name, None)) for m, name in _KNOBS],
           getattr(_control_flow._trip_floor, "value", 0))
    d.emit("tree", repr(tree), [(a.shape, a.dtype.str, a.weak_type) for a in avals])
    for which, v in statics:
        d.emit("static", repr(which), type(v).__qualname__)
        d.value(v)
    d.value(jit_fn)
    d.module_attributes()
    return d.hash.hexdigest(), d.baked


class ProgramRecord:
    """A jitted call's staged program kept in the persistent cache under its
    ``program_key``: a later process with the same key loads the executable without
    staging. Only programs that lift no captured array, call no host callback and
    span one device are kept: the record holds the module text, the avals and the
    result structure, nothing that points into a process."""

    def __init__(self, key, baked):
        self.key = key
        self.baked = baked  # (reader, value) of the scalars read: jit's rebinding check
        self.executable = None  # set on a hit
        self.out_tree = None

    @classmethod
    def find(cls, jit_fn, statics, treedef, avals):
        """The record for this call of ``jit_fn`` (``executable`` set on a hit), or
        None when the cache is off or the key cannot be proved exact."""
        if compile_cache.cache_dir() is None:
            return None
        try:
            key, baked = program_key(jit_fn, statics, treedef, avals, runtime.backend_name(),
                                     runtime.device_count())
        except KeyUnsure as e:
            if config.log_compiles:
                logger.warning("s2s.jit(%s): staging (no exact program key: %s)",
                               getattr(jit_fn, "__name__", "?"), e)
            return None
        record = cls(key, baked)
        data = compile_cache.read_record(key)
        if data is None:
            compile_cache.count_record("misses")
            return record
        try:
            record._load(json.loads(data), avals)
        except (ValueError, TypeError, KeyError) as e:  # whole, yet not a program: rewrite it
            compile_cache.count_record("rejected")
            logger.warning("s2s: ignoring staged-program record %s: %s", key, e)
            return record
        compile_cache.count_record("hits")
        if config.log_compiles:
            logger.warning("s2s.jit(%s): staging skipped: the staged program's record %s is in "
                           "the compilation cache", getattr(jit_fn, "__name__", "?"), key)
        return record

    def _load(self, data, avals):
        text = data["text"]
        in_avals = [_aval_from_json(a) for a in data["in_avals"]]
        out_avals = [_aval_from_json(a) for a in data["out_avals"]]
        out_tree = treedef_from_json(data["out_tree"])
        if (not isinstance(text, str) or out_tree.num_leaves != len(out_avals)
                or [(a.shape, a.dtype) for a in in_avals] != [(a.shape, a.dtype) for a in avals]):
            raise ValueError("it does not fit this call")
        self.executable = runtime.compile_module(text, out_avals, in_avals, verify=verify_and_print)
        self.out_tree = out_tree

    def store(self, staged, placement, out_tree):
        """Keeps ``staged`` (``s2s.trace.staging.Staged``) under this record's key, if
        it can be loaded in another process."""
        tree = treedef_to_json(out_tree)
        avals = list(staged.in_avals) + list(staged.out_avals)
        if (staged.lifted or staged.host_callbacks or placement is not None or tree is None
                or not all(_aval_to_json(a) for a in avals)):
            return
        data = {"text": staged.text, "in_avals": [_aval_to_json(a) for a in staged.in_avals],
                "out_avals": [_aval_to_json(a) for a in staged.out_avals], "out_tree": tree}
        compile_cache.write_record(self.key, json.dumps(data).encode())


def _aval_to_json(aval):
    """``[shape, dtype name, weak]``, or None for dtypes NumPy cannot name back (bfloat16)."""
    try:
        if np.dtype(aval.dtype.name) != aval.dtype:
            return None
    except TypeError:
        return None
    return [list(aval.shape), aval.dtype.name, aval.weak_type]


def _aval_from_json(obj):
    shape, dtype, weak = obj
    if not (all(type(d) is int for d in shape) and type(dtype) is str and type(weak) is bool):
        raise ValueError(f"not an aval: {obj!r}")
    return ShapedArray(shape, np.dtype(dtype), weak)
