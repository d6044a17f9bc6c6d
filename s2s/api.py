"""The public transformations and their argument handling.

Each transformation here is thin: it flattens pytree arguments, picks or builds
a cached transformed function, and calls it. The work is done by
``s2s.transforms`` (source rewriting), ``s2s.trace.staging`` (jit staging) and
``s2s.xla`` (compile and run).
"""
import dataclasses
import functools
import inspect
import logging
import types

import numpy as np

from s2s import lax
from s2s.codegen.origins import filter_traceback
from s2s.codegen.python import user_location
from s2s.codegen.stablehlo import verify_and_print
from s2s.core import dtypes, hooks
from s2s.core.array import Array
from s2s.core.config import config
from s2s.core.errors import (ConcretizationError, S2SError, TransformError, UndefinedVariableError,
                             UnsupportedSyntaxError, VaryingFunctionError)
from s2s.core.primitive import abstractify, def_batch, ShapedArray, Tracer
from s2s.core.tree_util import tree_flatten, tree_leaves, tree_map, tree_unflatten, treedef_is_leaf
from s2s.lax import control_flow as _control_flow
from s2s.lax.axis_frames import active as active_axis, axis_frame, merged_axis_frame
from s2s.numpy.batching import broadcast_batch, fresh_tape, leading_size, loop_call
from s2s.parse import dataflow
from s2s.parse.source import get_source, NoSourceError, unwrap
from s2s.program_key import KeyUnsure, ProgramRecord
from s2s.runtime import support
from s2s.trace.record import record
from s2s.trace.staging import memory_key, stage, StagedTracer
from s2s.transforms import batch, batch_source, frontend, recorded_builds, vjp_builder
from s2s.transforms.batch_support import by_recording, NOT_RECORDED, vcall
from s2s.transforms.convert import converted, converted_for_grad, source as converted_source
from s2s.xla import placement
from s2s.xla.placement import plan_leaves
from s2s.xla.runtime import compile_module, to_device
from s2s.xla.spmd import annotate, compile_sharded, put as put_sharded, ShardedArray
import s2s.numpy as snp

# Host arrays of the fast paths: NumPy's and s2s's eager type (a view of it).
_HOST_ARRAYS = (np.ndarray, Array)
_asarray = np.asarray

logger = logging.getLogger("s2s")


def _normalize_argnums(argnums, nargs=None):
    if argnums is None:
        return ()
    if isinstance(argnums, int):
        argnums = (argnums,)
    return tuple(argnums)


def _reads_staged(fn, args):
    """Whether a call of ``fn`` on ``args`` stages (jit is tracing it): a staged value
    among the arguments or in ``fn``'s closure (a lax loop's body calling vmap, say)."""
    cells = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            cells.append(cell.cell_contents)
        except ValueError:  # not assigned yet
            pass
    return any(isinstance(v, Tracer) for v in tree_leaves((args, cells)))


def _fun_name(fun):
    return getattr(fun, "__name__", type(fun).__name__)


class Lowered:
    """A staged computation: ``as_text()`` gives its StableHLO, ``compile()`` an executable."""

    def __init__(self, staged, placement=None):
        self._staged = staged
        self._text = None
        self._placement = placement  # s2s.xla.placement.Placement: several devices

    def as_text(self):
        """The StableHLO module in MLIR's readable syntax."""
        if self._text is None:
            self._text = verify_and_print(self._staged.text)
            if self._placement is not None:  # sharding annotations for XLA's partitioner
                p = self._placement
                self._text = annotate(self._text, p.in_shardings, self._staged.out_avals,
                                      p.out_shardings, len(p.devices))
        return self._text

    def compile(self):
        """Compiles for the default device, or for the devices of the shardings."""
        staged = self._staged
        if self._placement is not None:
            return compile_sharded(self.as_text(), staged.in_avals, staged.out_avals,
                                   self._placement.in_shardings, self._placement.out_shardings,
                                   staged.host_callbacks, self._placement.devices)
        # XLA compiles the staged text as it is (and keys the persistent cache with
        # it); MLIR's Python bindings (tens of milliseconds to start in a new
        # process) only parse it again to explain a module XLA rejects.
        return compile_module(staged.text, staged.out_avals, staged.in_avals,
                              staged.host_callbacks, verify=lambda text: self.as_text())

    @property
    def in_avals(self):
        return list(self._staged.in_avals)

    @property
    def out_avals(self):
        return list(self._staged.out_avals)


class _Compiled:
    __slots__ = ("executable", "out_tree", "in_dtypes", "captured", "baked")

    def __init__(self, executable, out_tree, in_dtypes, captured=(), baked=()):
        self.executable = executable
        self.out_tree = out_tree
        self.in_dtypes = in_dtypes
        self.captured = list(captured)  # _Captured: arrays read at call time
        self.baked = list(baked)  # (reader, value): captured non-arrays compiled in

    def captured_values(self):
        """Current values of the captured arrays, or None if one changed shape/dtype
        or a captured value compiled in (a Python scalar) was rebound."""
        for read, value in self.baked:
            if read() is not value:
                return None
        out = []
        for c in self.captured:
            v = c.read()
            if type(v) not in _HOST_ARRAYS or v.shape != c.shape or v.dtype != c.dtype:
                return None
            out.append(v)
        return out


class _NotFast(Exception):
    """An argument the dispatch fast path does not describe (the slow path will)."""


def _fast_signature(x, leaves):
    """A hashable description of ``x`` made of tuples, lists, dicts, None and host
    arrays (shape, dtype, type), appending the arrays to ``leaves`` in
    ``tree_flatten``'s order; anything else raises ``_NotFast``."""
    t = type(x)
    if t is np.ndarray or t is Array:
        leaves.append(x)
        return (x.shape, x.dtype, t)
    if t is ShardedArray:  # where it lives is part of the signature
        leaves.append(x)
        return (x.shape, x.dtype, t, x.sharding)
    if t is tuple or t is list:
        return (t, tuple([_fast_signature(c, leaves) for c in x]))
    if t is dict:
        keys = sorted(x)
        return (dict, tuple(keys), tuple([_fast_signature(x[k], leaves) for k in keys]))
    if x is None:
        return None
    raise _NotFast


def _fast_run(compiled):
    """What a dispatch-path cache hit runs, bound once: ``run(args)`` gives the result
    tree, or None when a captured array changed (the slow path then recompiles)."""
    execute = compiled.executable.run
    out_tree = compiled.out_tree
    single = _single_result(out_tree)
    cpp = _cpp_call(compiled)
    if cpp is not None:
        run = _cpp_run(cpp, out_tree, single)
    elif single:
        def run(args):
            return execute(args)[0]
    else:
        def run(args):
            return out_tree.unflatten(execute(args))
    return _with_captured(run, compiled) if compiled.captured or compiled.baked else run


def _single_result(out_tree):
    return out_tree.num_leaves == 1 and treedef_is_leaf(out_tree)


def _cpp_call(compiled):
    """jaxlib's C++ dispatch of ``compiled`` (s2s.xla.dispatch), or None."""
    if hasattr(compiled.executable, "cpp_call"):
        return compiled.executable.cpp_call()
    return None


def _lone_cpp(compiled):
    """The C++ callable when a hit of ``compiled`` is that call and nothing else: one
    result, no captured arrays to read; else None (__call__'s ``_hit1``)."""
    if compiled.captured or compiled.baked or not _single_result(compiled.out_tree):
        return None
    return _cpp_call(compiled)


def _with_captured(run, compiled):
    """``run`` with the captured arrays read now passed after the arguments (they are
    the executable's last parameters), or None where one changed."""
    captured_values = compiled.captured_values

    def run_captured(args):
        extra = captured_values()
        if extra is None:
            return None
        return run([*args, *extra])
    return run_captured


def _cpp_run(cpp, out_tree, single):
    """``run`` through jaxlib's C++ dispatch: the result buffers are read in place as
    ``Array``s (CPU buffers are host memory; the buffer protocol waits for the
    computation if it is still running). Through ``memoryview``, which raises if a
    buffer cannot be read in place, where ``numpy.asarray(buffer)`` would quietly
    give a 0-d object array."""
    asarray = np.asarray
    if single:  # the hot case, inlined
        def run(args):
            return asarray(memoryview(cpp(*args))).view(Array)
    elif out_tree.num_leaves == 1:
        def run(args):
            return out_tree.unflatten([asarray(memoryview(cpp(*args))).view(Array)])
    else:
        def run(args):
            return out_tree.unflatten([asarray(memoryview(b)).view(Array) for b in cpp(*args)])
    return run


class _Captured:
    """Where a captured array lives (a closure cell, a global), read again on every call."""

    __slots__ = ("read", "shape", "dtype")

    def __init__(self, read, array):
        self.read = read
        self.shape = array.shape
        self.dtype = array.dtype


class _CaptureReaders:
    """How to read, at call time, what ``fn`` captures: its closure cells and the
    globals its code names, and one step into each (a dict or list item, an
    attribute, another module's global). ``arrays`` maps ``id(array)`` to a reader
    of where the array is found; ``baked`` lists ``(reader, value)`` for the
    Python scalars and None found there, which are compiled in as constants."""

    def __init__(self, fn):
        self.arrays = {}
        self.views = {}  # memory_key -> reader: a view of a captured array laid out as it is it
        self.baked = []
        for f in _wrapped_functions(fn):
            for read, value in _capture_roots(f):
                self._add(read, value)
                if isinstance(value, _SCALARS) or value is None:
                    self.baked.append((read, value))
                self._add_children(read, value)
            for read, value in _default_roots(f):
                # Defaults a call leaves out are staged as constants: rebinding
                # ``f.__defaults__`` re-stages (the tuple is compared by identity).
                self.baked.append((read, value))
                self._add_children(read, value)

    def _add_children(self, read, value):
        for step, child in _capture_children(value):
            self._add(lambda read=read, step=step: step(read()), child)

    def _add(self, read, value):
        if isinstance(value, np.ndarray) and id(value) not in self.arrays:
            self.arrays[id(value)] = read
            self.views.setdefault(memory_key(value), read)

    def _view_reader(self, array):
        # Generated code may hand on a view of a captured array rather than the array (the
        # example of a batch that broadcast it): the same values, so the same reader.
        if isinstance(array, np.ndarray) and array.base is not None:
            return self.views.get(memory_key(array))
        return None

    def is_captured(self, array):
        return id(array) in self.arrays or self._view_reader(array) is not None

    def reader(self, array):
        read = self.arrays.get(id(array)) or self._view_reader(array)
        return read or (lambda: array)  # made while staging: this array


_SCALARS = (bool, int, float, complex)


def _wrapped_functions(fn, depth=8):
    """``fn`` unwrapped, then each function it wraps (``__wrapped__``, which
    ``functools.wraps`` sets): a transformation's result (``jacfwd(f)``, ``vmap(f)``)
    captures what ``f`` captures, and jit must read those arrays at each call too."""
    out = []
    while fn is not None and depth > 0 and all(fn is not f for f in out):
        try:
            plain, _ = unwrap(fn)
        except Exception:
            plain = fn
        if all(plain is not g for g in out):
            out.append(plain)
        fn = getattr(fn, "__wrapped__", None) or getattr(plain, "__wrapped__", None)
        depth -= 1
    return out


def _code_names(code, out):
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, type(code)):
            _code_names(c, out)
    return out


def _capture_roots(fn):
    """``(reader, value)`` of each closure cell and each global ``fn``'s code names."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    roots = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            roots.append((lambda cell=cell: cell.cell_contents, cell.cell_contents))
        except ValueError:
            continue
    namespace = getattr(fn, "__globals__", None) or {}
    for name in sorted(_code_names(code, set())):
        if name in namespace:
            roots.append((lambda ns=namespace, name=name: ns.get(name), namespace[name]))
    return roots


def _default_roots(fn):
    """``(reader, value)`` of ``fn``'s ``__defaults__`` and ``__kwdefaults__`` where set."""
    roots = []
    for attr in ("__defaults__", "__kwdefaults__"):
        value = getattr(fn, attr, None)
        if value is not None:
            roots.append((lambda fn=fn, attr=attr: getattr(fn, attr, None), value))
    return roots


def _capture_children(value):
    """``(step, child)``: the arrays one step inside ``value``; ``step(value)`` reads
    the child again (None when it is gone: the call then recompiles)."""
    if isinstance(value, dict):
        items = [(k, v) for k, v in value.items() if isinstance(v, np.ndarray)]
        return [(lambda d, k=k: d.get(k) if isinstance(d, dict) else None, v) for k, v in items]
    if isinstance(value, (list, tuple)):
        return [(lambda s, i=i: s[i] if isinstance(s, (list, tuple)) and i < len(s) else None, v)
                for i, v in enumerate(value) if isinstance(v, np.ndarray)]
    if isinstance(value, types.ModuleType):
        if value.__name__.split(".")[0] in ("numpy", "s2s", "scipy", "jax"):
            return []
        attrs = vars(value)
    elif isinstance(value, (type, types.FunctionType, np.ndarray)) or not hasattr(value, "__dict__"):
        return []
    else:
        attrs = vars(value)
    return [(lambda o, a=a: getattr(o, a, None), v) for a, v in attrs.items()
            if isinstance(v, np.ndarray)]


def _leaf_aval(x):
    if isinstance(x, Tracer):
        return x.aval
    if type(x) is ShardedArray:  # its shape and dtype, without reading it back
        return ShapedArray(x.shape, dtypes.canonicalize_dtype(x.dtype))
    return abstractify(x)


class JitFunction:
    """The callable ``jit(fun)`` returns; keeps one compiled executable per signature."""

    def __init__(self, fun, static_argnums=(), static_argnames=(), donate_argnums=(),
                 in_shardings=None, out_shardings=None):
        functools.update_wrapper(self, fun)
        self._in_shardings = in_shardings
        self._out_shardings = out_shardings
        self._fun = fun
        self._static_argnums = _normalize_argnums(static_argnums)
        if isinstance(static_argnames, str):
            static_argnames = (static_argnames,)
        self._static_argnames = tuple(static_argnames)
        self._donate_argnums = _normalize_argnums(donate_argnums)
        self._cache = {}
        self._trip_bound = 0  # raised by _regrow when a loop gradient outgrows its buffer
        # Dispatch fast path: positional NumPy arrays only, keyed on (shape, dtype),
        # giving the ``run`` of _fast_run; its entries hold for one x64 mode.
        self._fast = {} if not (self._static_argnums or self._static_argnames) else None
        self._fast_x64 = config.enable_x64
        # The commonest hit, inlined in __call__: a lone host array in, one result out
        # through jaxlib's C++ dispatch. (shape, dtype, type) -> the C++ callable; its
        # entries are a subset of _fast's and go with them.
        self._hit1 = {}

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def __s2s_unwrap__(self):
        return self._fun, ()

    def _split(self, args, kwargs):
        statics = []
        dynamic_args = []
        for i, a in enumerate(args):
            if i in self._static_argnums or (i - len(args)) in self._static_argnums:
                statics.append((i, _hashable_static(self, i, a)))
                dynamic_args.append(None)
            else:
                dynamic_args.append(a)
        dynamic_kwargs = {}
        for k, v in kwargs.items():
            if k in self._static_argnames:
                statics.append((k, _hashable_static(self, k, v)))
            else:
                dynamic_kwargs[k] = v
        return tuple(statics), dynamic_args, dynamic_kwargs

    def _flat_fun(self, statics, treedef, static_positions):
        static_map = dict(statics)

        def flat(*leaves):
            dyn_args, dyn_kwargs = treedef.unflatten(leaves)
            args = [static_map[i] if i in static_positions else a for i, a in enumerate(dyn_args)]
            kwargs = dict(dyn_kwargs)
            for k, v in static_map.items():
                if isinstance(k, str):
                    kwargs[k] = v
            out = converted(self._fun)(*args, **kwargs)
            out_leaves, out_tree = tree_flatten(out)
            flat.out_tree = out_tree
            return out_leaves

        return flat

    def _prepare(self, args, kwargs):
        statics, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, treedef = tree_flatten((dyn_args, dyn_kwargs))
        avals = tuple(_leaf_aval(x) for x in leaves)
        return statics, leaves, treedef, avals

    def lower(self, *args, **kwargs):
        """Stages ``fun`` for these arguments; ``.as_text()`` shows the StableHLO."""
        statics, leaves, treedef, avals = self._prepare(args, kwargs)
        return self._lower(statics, treedef, avals, _arg_shardings(leaves))[0]

    def _miss_reason(self, key):
        return _miss_reason_for(self._cache, key)

    def _lower(self, statics, treedef, avals, arg_shardings=None):
        static_positions = {k for k, _ in statics if isinstance(k, int)}
        flat = self._flat_fun(statics, treedef, static_positions)
        with _control_flow.trip_bound_at_least(self._trip_bound):
            readers = _CaptureReaders(self._fun)
            try:
                staged = stage(flat, list(avals), name=_fun_name(self._fun), lift_arrays=True,
                               is_captured=readers.is_captured)
            except ConcretizationError:
                # A value computed from captured arrays alone was needed while compiling
                # (the count of a captured mask's nonzeros, say): compile such values in.
                if config.log_compiles:
                    logger.warning("s2s.jit(%s): values computed from captured arrays alone are "
                                   "compiled in as constants (one was needed while compiling)",
                                   _fun_name(self._fun))
                staged = stage(flat, list(avals), name=_fun_name(self._fun), lift_arrays=True,
                               is_captured=readers.is_captured, stage_captured=False)
        placement = self._placement(treedef, avals, arg_shardings, staged, flat.out_tree)
        lowered = Lowered(staged, placement)
        lowered.capture_readers = readers
        return lowered, flat.out_tree

    def _placement(self, treedef, avals, arg_shardings, staged, out_tree):
        """Shardings of the arguments and results when the computation spans devices."""
        n_out = out_tree.num_leaves
        args_index_tree = treedef.unflatten(list(range(len(avals))))[0]
        return placement.plan(self._in_shardings, self._out_shardings, args_index_tree,
                              arg_shardings or [None] * len(avals), len(staged.lifted),
                              out_tree.unflatten(list(range(n_out))), n_out, staged.shardings)

    def __call__(self, *args, **kwargs):
        key1 = None  # a lone argument's key, built once for both dicts
        if len(args) == 1 and not kwargs:
            a, = args
            try:
                key1 = (a.shape, a.dtype, type(a))
                cpp = self._hit1.get(key1)
            except (AttributeError, TypeError):
                key1 = cpp = None
            if cpp is not None and not config.disable_jit and config.enable_x64 is self._fast_x64:
                return _asarray(memoryview(cpp(a))).view(Array)  # as _cpp_run's ``single``
        if config.disable_jit:  # s2s.disable_jit(): the user's own function, eagerly
            return self._fun(*args, **kwargs)
        fast = self._fast
        if fast is not None and not kwargs and config.enable_x64 is self._fast_x64:
            # Cache hit on host arrays in lists/tuples/dicts: one walk, one dict
            # lookup, then straight to XLA. A lone array, the commonest call, is
            # keyed without a comprehension (a tenth of the dispatch time).
            leaves = args
            try:
                if key1 is not None:
                    run = fast.get((key1,))
                elif len(args) == 1:
                    run = None  # no shape/dtype, or unhashable ones: _fast_signature decides
                else:
                    run = fast.get(tuple([(a.shape, a.dtype, type(a)) for a in args]))
            except AttributeError:
                run = None
            if run is None:  # containers, or sharded arrays (their key names the sharding)
                leaves = []
                try:
                    run = fast.get(_fast_signature(args, leaves))
                except (_NotFast, TypeError):
                    run = None
            if run is not None:
                try:
                    outs = run(leaves)
                except _control_flow.TripBoundExceeded as e:
                    return self._regrow(e, args, kwargs)
                if outs is not None:
                    return outs
        try:
            return self._call(args, kwargs)
        except _control_flow.TripBoundExceeded as e:
            error = e
        except Exception as e:
            raise _with_user_location(e, "jit", self._fun)
        return self._regrow(error, args, kwargs)

    def _regrow(self, error, args, kwargs):
        """A loop's gradient ran past its buffer: recompile with room for the trips it
        counted (the next power of two, so slowly growing loops recompile rarely), rerun."""
        for _ in range(4):
            self._trip_bound = max(self._trip_bound, 1 << (error.trips - 1).bit_length())
            self._cache.clear()
            self._hit1.clear()
            if self._fast is not None:
                self._fast.clear()
            if config.log_compiles:
                logger.warning("s2s.jit: recompiling %s: a loop gradient ran %d trips; buffers "
                               "now hold %d", _fun_name(self._fun), error.trips, self._trip_bound)
            try:
                return self._call(args, kwargs)
            except _control_flow.TripBoundExceeded as e:
                error = e
            except Exception as e:
                raise _with_user_location(e, "jit", self._fun)
        raise _with_user_location(error, "jit", self._fun)

    def _call(self, args, kwargs):
        statics, leaves, treedef, avals = self._prepare(args, kwargs)
        if any(isinstance(x, Tracer) for x in leaves):
            # Called while another trace is active (jit of jit, or a trace
            # fallback): inline the function into the enclosing computation.
            return converted(self._fun)(*args, **kwargs)
        # Static values that compare equal but differ in type (1, 1.0, True) must
        # not share an executable: they can give different dtypes.
        arg_shardings = _arg_shardings(leaves)
        # The x64 mode too: it decides the dtypes of Python scalars and of results
        # (int32 * 2.0 is float64 under x64) while the arguments' avals are the same.
        key = (treedef, avals, statics, tuple(type(v) for _, v in statics), arg_shardings,
               config.enable_x64)
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._compile(key, statics, treedef, avals)
        extra = compiled.captured_values()
        if extra is None:  # a captured array changed shape/dtype, or a captured scalar changed
            if config.log_compiles:
                logger.warning("s2s.jit: recompiling %s: a captured array changed shape or dtype, "
                               "or a captured Python scalar was rebound", _fun_name(self._fun))
            compiled = self._compile(key, statics, treedef, avals)
            extra = compiled.captured_values()
        arrays = [_as_input(x, dt) for x, dt in zip(leaves, compiled.in_dtypes)] + extra
        outs = compiled.executable.run(arrays)
        self._remember_fast(args, kwargs, leaves, avals, compiled)
        return compiled.out_tree.unflatten(outs)

    def _remember_fast(self, args, kwargs, leaves, avals, compiled):
        """Registers the fast path for calls whose leaves are host arrays of the compiled dtypes."""
        if self._fast is None or kwargs:
            return
        fast_leaves = []
        try:
            key = _fast_signature(args, fast_leaves)
        except (_NotFast, TypeError):
            return
        if all(type(a) in _HOST_ARRAYS for a in args):
            key = key[1]  # the flat form __call__ looks up first
        if len(fast_leaves) != len(leaves) or not all(
                a is b and a.dtype == av.dtype and not av.weak_type
                for a, b, av in zip(fast_leaves, leaves, avals)):
            return
        if self._fast_x64 is not config.enable_x64:  # entries of the other mode go
            self._fast.clear()
            self._hit1.clear()
            self._fast_x64 = config.enable_x64
        self._fast[key] = _fast_run(compiled)
        cpp = _lone_cpp(compiled)
        if cpp is not None and len(args) == 1 and type(args[0]) in _HOST_ARRAYS:
            self._hit1[key[0]] = cpp

    def _compile(self, key, statics, treedef, avals):
        if config.log_compiles:
            logger.warning("s2s.jit: compiling %s for %s (%s)", _fun_name(self._fun),
                           ", ".join(a.str_short() for a in avals), self._miss_reason(key))
        # With the persistent cache on, a program staged before (by any process) is
        # loaded without staging when its key can be proved exact (s2s.program_key).
        record = ProgramRecord.find(self, statics, treedef, avals) if key[4] is None else None
        if record is not None and record.executable is not None:
            compiled = _Compiled(record.executable, record.out_tree, [a.dtype for a in avals],
                                 (), record.baked)
            self._cache[key] = compiled
            return compiled
        lowered, out_tree = self._lower(statics, treedef, avals, key[4])
        executable = lowered.compile()
        readers = lowered.capture_readers
        captured = [_Captured(readers.reader(a), a) for a in lowered._staged.lifted]
        compiled = _Compiled(executable, out_tree, [a.dtype for a in avals], captured, readers.baked)
        if record is not None:
            record.store(lowered._staged, lowered._placement, out_tree)
        self._cache[key] = compiled
        return compiled

    def __s2s_program_key__(self):
        """What decides the program staged for a call, besides the arguments and
        what ``fun`` reads (``s2s.program_key``)."""
        if self._in_shardings is not None or self._out_shardings is not None:
            raise KeyUnsure("jit with shardings")
        return (self._static_argnums, self._static_argnames, self._donate_argnums,
                self._trip_bound), self._fun


def _miss_reason_for(cache, key):
    """Why ``key`` missed the cache, in words (for S2S_LOG_COMPILES)."""
    treedef, avals, statics = key[:3]
    if not cache:
        return "first call"
    same_tree = [k for k in cache if k[0] == treedef]
    if not same_tree:
        return f"new argument structure {treedef}"
    same_statics = [k for k in same_tree if k[2] == statics]
    if not same_statics:
        return f"new static arguments {statics}"
    old = same_statics[-1][1]
    for i, (a, b) in enumerate(zip(old, avals)):
        if a != b:
            return f"argument leaf {i} changed from {a.str_short()} to {b.str_short()}"
    if all(k[5] != key[5] for k in same_statics):
        return f"enable_x64 is now {key[5]}"
    return "new signature"


def _arg_shardings(leaves):
    """The sharding of each ``ShardedArray`` leaf (None for others); None if there are none."""
    if not any(type(x) is ShardedArray for x in leaves):
        return None
    return tuple(x.sharding if type(x) is ShardedArray else None for x in leaves)


def _as_input(x, dtype):
    if isinstance(x, (np.ndarray, ShardedArray)) and x.dtype == dtype:
        return x
    return np.asarray(x, dtype)


def _hashable_static(jf, which, value):
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"jit({_fun_name(jf._fun)}): static argument {which!r} must be hashable, got "
            f"{type(value).__name__}; pass a tuple instead of a list, or make it a regular argument"
        ) from None
    return value


def jit(fun=None, *, static_argnums=(), static_argnames=(), donate_argnums=(),
        in_shardings=None, out_shardings=None):
    """Compiles ``fun`` with XLA; the result runs the compiled code, cached per signature.

    Arguments are pytrees of arrays; ``static_argnums``/``static_argnames`` are passed
    as Python values and become part of the cache key. ``in_shardings`` and
    ``out_shardings`` (``s2s.sharding.NamedSharding``s: one for all, or one per
    positional argument / a prefix of the result) compile ``fun`` for several
    devices through XLA's SPMD partitioner; results are then ``ShardedArray``s.

    >>> import s2s, numpy as np
    >>> f = s2s.jit(lambda x: x * 2.0 + 1.0)
    >>> f(np.arange(3.0))
    array([1., 3., 5.], dtype=float32)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, donate_argnums=donate_argnums,
                                 in_shardings=in_shardings, out_shardings=out_shardings)
    if not callable(fun):
        raise TypeError(f"jit expects a callable, got {type(fun).__name__}")
    return JitFunction(fun, static_argnums, static_argnames, donate_argnums, in_shardings,
                       out_shardings)


# ---------------------------------------------------------------------------
# Reverse mode: grad, value_and_grad, vjp.

float0 = np.dtype([("float0", np.void, 0)])


def _vararg_name(fn):
    code = fn.__code__
    return code.co_varnames[code.co_argcount + code.co_kwonlyargcount]


def _positional_params(fn):
    code = fn.__code__
    return list(code.co_varnames[:code.co_argcount])


def _leaf_dtype(x):
    if isinstance(x, Tracer):
        return x.dtype
    if type(x) in (bool, int, float, complex):
        return dtypes.python_scalar_dtype(x)
    return np.result_type(x)


def _check_differentiable(name, tree, allow_int, holomorphic, which):
    for leaf in tree_leaves(tree):
        if type(leaf) in _HOST_ARRAYS and leaf.dtype.kind == "f" and not holomorphic:
            continue  # the common case
        dt = _leaf_dtype(leaf)
        if holomorphic and dt.kind != "c":
            raise TypeError(f"{name}(holomorphic=True) requires complex inputs, but argument "
                            f"{which} has dtype {dt.name}")
        if dt.kind not in "fc" and dt != dtypes.bfloat16 and not allow_int:
            raise TypeError(
                f"{name} requires real- or complex-valued inputs (input dtype that is a sub-dtype "
                f"of np.inexact), but argument {which} has dtype {dt.name}. If you want to "
                "differentiate with respect to integer inputs, use allow_int=True.")


def _grad_input(x):
    """A differentiated argument as the generated code gets it, as jit would: Python
    floats become 0-d arrays of the default float dtype (JAX's weak f32), NumPy
    arrays ``Array``s of their canonical dtype (float64 is float32 without x64), so
    eager and jit gradients agree in dtype and indexing."""
    if type(x) is float:
        return np.asarray(x, dtypes.default_float_dtype()).view(Array)
    if type(x) is np.ndarray:
        dt = dtypes.canonicalize_dtype(x.dtype)
        return (x if dt == x.dtype else x.astype(dt)).view(Array)
    if isinstance(x, (list, tuple, dict)):
        return tree_map(_grad_input, x)
    return x


def _zeros_for(primal):
    dt = _leaf_dtype(primal)
    shape = np.shape(primal) if not isinstance(primal, Tracer) else primal.shape
    if dt.kind not in "fc" and dt != dtypes.bfloat16:
        return np.zeros(shape, float0)
    if isinstance(primal, Tracer):
        return lax.broadcast_in_dim(np.zeros((), dt), shape=tuple(shape), broadcast_dimensions=())
    return np.zeros(shape, dtypes.canonicalize_dtype(dt)).view(Array)


def _as_array(value):
    """NumPy scalars (what eager arithmetic on 0-d arrays gives) as 0-d ``Array``s, as jax returns."""
    if isinstance(value, np.generic):
        return np.asarray(value).view(Array)
    return value


def _match_structure(primal, adj):
    """The adjoint shaped like ``primal``: zeros for ``None``, containers rebuilt."""
    if type(adj) in _HOST_ARRAYS and type(primal) in _HOST_ARRAYS and adj.dtype == primal.dtype \
            and adj.shape == primal.shape:
        return adj.view(Array) if type(adj) is np.ndarray else adj  # the common case, first
    if isinstance(primal, (list, tuple)):
        parts = list(adj) if adj is not None else [None] * len(primal)
        out = [_match_structure(p, g) for p, g in zip(primal, parts)]
        if hasattr(type(primal), "_fields"):
            return type(primal)(*out)
        return type(primal)(out)
    if isinstance(primal, dict):
        return type(primal)((k, _match_structure(v, None if adj is None else adj.get(k)))
                            for k, v in primal.items())
    if primal is None:
        return None
    leaves, treedef = tree_flatten(primal)
    if not treedef_is_leaf(treedef):
        adj_leaves = treedef.flatten_up_to(adj) if adj is not None else [None] * len(leaves)
        return treedef.unflatten(_match_structure(p, g) for p, g in zip(leaves, adj_leaves))
    if adj is None:
        return _zeros_for(primal)
    if isinstance(adj, (list, tuple)):  # the rows' adjoints of an array (``sum(M)``)
        adj = support.stack_rows(primal, adj)
    dt = dtypes.canonicalize_dtype(_leaf_dtype(primal))
    if isinstance(adj, Tracer):
        # The cotangent takes its primal's dtype (float16 x times a float32 weight
        # gives a float16 gradient), as eagerly and in JAX.
        if adj.dtype != dt and (dt.kind in "fc" or dt == dtypes.bfloat16):
            return lax.convert_element_type(adj, new_dtype=dt)
        return adj
    if dt.kind not in "fc" and dt != dtypes.bfloat16:
        return np.zeros(np.shape(primal), float0)
    out = np.asarray(adj)
    if out.dtype.kind == "c" and dt.kind != "c":
        out = out.real  # a real primal's cotangent is the real part (JAX's convention)
    if out.dtype != dt:
        out = out.astype(dt)
    return out.view(Array)


@dataclasses.dataclass
class GradStrategy:
    """How a ``GradFunction`` computes: from generated source, or by tracing each call.

    ``traced`` with ``reason`` (why the source path was not taken), or the
    generated gradient ``gen`` (its ``build`` holds the source of it and of its
    callees), the arguments ``bound`` before the user's (methods, partials) and
    the positional argument numbers ``nums`` that are differentiated.
    """
    traced: bool
    reason: str = ""
    error: Exception = None  # the transformation's error, raised if tracing fails too
    gen: object = None
    build: object = None
    bound: tuple = ()
    nums: tuple = ()
    # The gradient other transformations read (``__s2s_unwrap__``): ``gen`` with zeros
    # for the unused leaves, as ``_call`` completes them; built on first use.
    make_completed: object = None
    completed_gen: object = None


def _check_callable(name, fun):
    if not callable(fun):
        raise TypeError(f"{name} expects a callable (the function to differentiate), got "
                        f"{type(fun).__name__} {fun!r}")


def _log_transform(name, fun, what):
    """Says which path a transformation took and why (``S2S_LOG_TRANSFORMS=1``)."""
    if config.log_transforms:
        logger.warning("s2s.%s(%s): %s", name, _fun_name(fun), what)


class GradFunction:
    """``grad(fun)``: a callable that computes gradients with generated source.

    ``s2s.source(grad_fn)`` returns that source. When ``fun``'s source cannot be
    had, or is found but not understood, each call is traced instead (logged
    under ``S2S_LOG_TRANSFORMS=1``); see "The transformed-function protocol" in
    this module's ``source``.
    """

    def __init__(self, fun, argnums, has_aux, holomorphic, allow_int, with_value, verbose):
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._argnums = argnums
        self._has_aux = has_aux
        self._holomorphic = holomorphic
        self._allow_int = allow_int
        self._with_value = with_value
        self._verbose = verbose
        self._built = None
        self._for_jit = None
        self._last_trace = None
        self._name = "value_and_grad" if with_value else "grad"

    def _build(self):
        """The ``GradStrategy`` (decided once, on first use)."""
        if self._built is None:
            self._built = self._decide()
            if self._built.traced:
                _log_transform(self._name, self._fun, f"tracing each call: {self._built.reason}")
            else:
                _log_transform(self._name, self._fun, "differentiating its source")
                if self._verbose:
                    print(self.source())
        return self._built

    def _decide(self):
        try:
            fn, bound = unwrap(self._fun)
        except NoSourceError as e:
            return GradStrategy(True, str(e))
        fn = frontend.through_rules(fn)
        try:
            get_source(fn)
        except NoSourceError as e:
            return GradStrategy(True, str(e))
        params = _positional_params(fn)
        nums = self._nums()
        names = []
        for i in nums:
            j = i + len(bound)
            if not -len(params) <= i < len(params) - len(bound):
                if fn.__code__.co_flags & inspect.CO_VARARGS and i >= 0:
                    return GradStrategy(True, f"argnums {i} falls in *{_vararg_name(fn)}")
                raise ValueError(
                    f"{self._name}({_fun_name(self._fun)}): argnums {i} is out of range for a "
                    f"function of {len(params) - len(bound)} positional parameters")
            names.append(params[j % len(params)])
        make = functools.partial(
            vjp_builder.grad_function, fn, names, has_aux=self._has_aux,
            holomorphic=self._holomorphic, with_value=self._with_value,
            as_tuple=not isinstance(self._argnums, int))
        try:
            gen, _, build = make()
        except UnsupportedSyntaxError:
            raise  # the fence: a deliberate refusal, with the way out in its message
        except NoSourceError as e:  # a callee's
            return GradStrategy(True, f"a function it calls has no source ({e})")
        except TransformError as e:
            # Found but not understood: the call itself may still trace.
            return GradStrategy(True, f"its source is not understood ({e})", error=e)
        return GradStrategy(False, gen=gen, build=build, bound=bound, nums=nums,
                            make_completed=functools.partial(make, complete=True))

    def source(self):
        """The generated source (this function and the functions it calls)."""
        if self._build().traced:
            if self._last_trace is None:
                return "# no source: traced on each call; call the function first to see a trace"
            return "\n".join(self._last_trace.sources())
        return "\n".join(self._build().build.sources())

    def __s2s_unwrap__(self):
        # Transformations of a gradient transform the generated source itself. A traced
        # gradient has none: the outer transformation traces its calls in turn (the
        # user's function itself would be its value, not its gradient).
        strategy = self._current()
        if strategy.traced:
            raise NoSourceError(f"{self._name}({_fun_name(self._fun)}) is traced on each call "
                                f"({strategy.reason})")
        if strategy.completed_gen is None:
            strategy.completed_gen = strategy.make_completed()[0]
        return strategy.completed_gen, strategy.bound

    def _nums(self):
        return (self._argnums,) if isinstance(self._argnums, int) else tuple(self._argnums)

    def __s2s_program_key__(self):
        """What decides the gradient's program besides ``fun`` (``s2s.program_key``)."""
        return (self._argnums, self._has_aux, self._holomorphic, self._allow_int,
                self._with_value), self._fun

    def _traced_call(self, args, kwargs):
        """No source: record this call and differentiate the recording (path fixed to it)."""
        nums = self._nums()
        args = list(args)
        for i in nums:
            _check_differentiable(self._name, args[i], self._allow_int, self._holomorphic, i)
            args[i] = _grad_input(args[i])
        rec = record(self._fun, args, kwargs)
        names = rec.fn.__code__.co_varnames[:rec.fn.__code__.co_argcount]
        counts = [len(tree_flatten(a)[0]) for a in args]
        starts = [sum(counts[:i]) for i in range(len(args))]
        active = tuple(names[starts[i] + k] for i in nums for k in range(counts[i]))
        build = recorded_builds.build(vjp_builder.build_vjp, rec, active)
        self._last_trace = build
        leaves = tree_flatten((list(args), dict(kwargs)))[0]
        out, tape = build.fwd_cell.cell_contents(*leaves)
        outs = list(out) if rec.out_tree.num_leaves > 1 else [out]
        whole = tree_unflatten(rec.out_tree, outs)
        # the seed function sees the differentiated output as returned (a container refused)
        primary = whole[0] if self._has_aux and isinstance(whole, (tuple, list)) else whole
        seed = (support.holomorphic_seed if self._holomorphic else support.scalar_seed)(primary)
        ct = tuple([seed] + [None] * (len(outs) - 1)) if len(outs) > 1 else seed
        adj = build.bwd_cell.cell_contents(tape, ct) if build.output_active else None
        adj = [adj] if len(active) == 1 else (list(adj) if adj is not None else [None] * len(active))
        grads = []
        pos = 0
        for i in nums:
            leaf_adj = adj[pos:pos + counts[i]]
            pos += counts[i]
            leaves_i, tree_i = tree_flatten(args[i])
            grads.append(tree_i.unflatten(_match_structure(p, g) for p, g in zip(leaves_i, leaf_adj)))
        result = rec.out_tree.unflatten(outs)
        grads = grads[0] if isinstance(self._argnums, int) else tuple(grads)
        if self._with_value:  # value_and_grad: ((value, aux), grad) with has_aux
            return result, grads
        if self._has_aux:
            return grads, result[1]
        return grads

    def __call__(self, *args, **kwargs):
        try:
            return self._call(args, kwargs)
        except Exception as e:
            error = self._built.error if self._built is not None else None
            if error is not None and type(e) not in (TypeError, ValueError):
                # Tracing, the fallback, failed too: the transformation's own
                # error says more (the construct and the way out).
                raise error from e
            raise _with_user_location(e, self._name, self._fun)

    def __s2s_convert__(self):
        """What jit runs for ``jit(grad(f))``.

        First the generated gradient source, converted like any function (its
        Python stack works where the loops it sits in are concrete). Where that
        cannot be staged (a stack inside a loop with a staged condition, a
        variable defined on one staged path only), the gradient of the
        *converted* ``f``: its control flow is if_stmt/while_stmt/for_stmt
        calls whose reverse rules stage cond/while loops themselves. Which one
        ran, and why, is logged under ``S2S_LOG_TRANSFORMS=1``.
        """
        strategy = self._current()
        gen = converted(strategy.gen) if not strategy.traced else None
        inner = self

        def run(*args, **kwargs):
            if gen is not None:
                try:
                    return inner._call(args, kwargs, gen=gen)
                except (S2SError, TypeError, ValueError, IndexError) as e:
                    _log_transform(f"jit({inner._name})", inner._fun,
                                   "the generated gradient does not stage "
                                   f"({type(e).__name__}: {str(e).splitlines()[0]}); "
                                   "differentiating the control-flow-converted function instead")
            return inner._converted_grad()._call(args, kwargs)
        return run

    def _converted_grad(self):
        if self._for_jit is None:
            fn, bound = unwrap(self._fun)
            target = converted_for_grad(fn)
            if bound:
                target = functools.partial(target, *bound)
            self._for_jit = GradFunction(target, self._argnums, self._has_aux, self._holomorphic,
                                         self._allow_int, self._with_value, False)
        return self._for_jit

    def _current(self):
        """``_build()``, built again where the generated source went stale (a function
        it calls was redefined, or ``f.__defaults__`` rebound)."""
        strategy = self._build()
        if not strategy.traced and not strategy.build.current():
            _log_transform(self._name, self._fun, "rebuilding: a function it calls was redefined "
                           "or its defaults were rebound")
            self._built = None
            strategy = self._build()
        return strategy

    def completed(self, out, primal):
        """``out`` of the generated gradient (a ``None`` adjoint where it is zero) with
        zeros shaped like ``primal(i)`` (argument i as the adjoints hold it) for those."""
        value, grads = out if self._with_value else (None, out)
        aux_apart = self._has_aux and not self._with_value  # (grads, aux)
        if aux_apart:
            grads, aux = grads
        nums = self._nums()
        if isinstance(self._argnums, int):
            grads = _match_structure(primal(nums[0]), grads)
        else:
            grads = tuple(_match_structure(primal(i), g) for i, g in zip(nums, grads))
        if aux_apart:
            grads = (grads, aux)
        return (value, grads) if self._with_value else grads

    def _call(self, args, kwargs, gen=None):
        strategy = self._current() if gen is None else self._build()
        if strategy.traced:
            return self._traced_call(args, kwargs)
        bound, nums = strategy.bound, strategy.nums
        gen = gen or strategy.gen
        args = list(args)
        for i in nums:
            if i >= len(args):
                raise TypeError(f"{self._name}({_fun_name(self._fun)}): argnums {i} refers to a "
                                f"missing positional argument (got {len(args)})")
            _check_differentiable(self._name, args[i], self._allow_int, self._holomorphic, i)
            args[i] = _grad_input(args[i])
        out = gen(*bound, *args, **kwargs)
        if self._with_value:
            value, grads = out
        else:
            value, grads = None, out
        if self._has_aux and not self._with_value:
            grads, aux = grads
        if isinstance(self._argnums, int):
            grads = _match_structure(args[nums[0]], grads)
        else:
            grads = tuple(_match_structure(args[i], g) for i, g in zip(nums, grads))
        if self._with_value:  # value_and_grad: ((value, aux), grad) with has_aux
            if self._has_aux:
                return (_as_array(value[0]), value[1]), grads
            return _as_array(value), grads
        if self._has_aux:
            return grads, aux
        return grads


def _raised_in_generated_code(tb):
    """Whether the innermost frame of ``tb`` is generated code (a read of an unassigned
    variable there is the user's; a NameError from s2s's own code is not)."""
    while tb.tb_next is not None:
        tb = tb.tb_next
    return user_location(tb) is not None


def _with_user_location(e, name, fun):
    """Points an error raised inside generated code at the user's line."""
    loc = user_location(e.__traceback__)
    if loc is None:
        return e
    filter_traceback(e)
    filename, line, text = loc
    if isinstance(e, (UnboundLocalError, NameError)) and not isinstance(e, UndefinedVariableError) \
            and _raised_in_generated_code(e.__traceback__):
        var = getattr(e, "name", None) or str(e).split("'")[1] if "'" in str(e) else "a variable"
        new = UndefinedVariableError(
            f"{filename}:{line}: variable {var!r} is read before it is assigned on the path this call "
            f"took (in {_fun_name(fun)}: `{text}`). Assign it on every path (e.g. before the "
            "if/loop), or avoid reading it there.")
        new.__cause__ = e
        return new
    if isinstance(e, TransformError) and e.filename is None:
        new = type(e)(f"{e.args[0].split(chr(10))[0]} (`{text}`)", filename=filename, lineno=line,
                      construct=e.construct, hint=e.hint)
        new.__cause__ = e.__cause__
        return new
    e.add_note(f"{filename}:{line}: `{text}`\n  raised in the code s2s generated for "
               f"{name}({_fun_name(fun)}) from that line (S2S_TRACEBACK_FILTERING=off shows "
               "s2s's own frames too)")
    return e


def grad(fun=None, argnums=0, has_aux=False, holomorphic=False, allow_int=False, verbose=False):
    """The gradient of scalar-valued ``fun`` with respect to argument(s) ``argnums``.

    s2s reads ``fun``'s source and writes its derivative as Python source;
    ``s2s.source(grad(fun))`` shows it (``verbose=True`` prints it on first use).
    Python control flow (``if``, ``for``, ``while``, ``break``, early ``return``)
    is differentiated as written, and so is index assignment ``y[i] = v``.

    When ``fun``'s source cannot be read (built by ``exec``, typed at a REPL),
    s2s records each call on tracers holding the actual arguments and
    differentiates the recording instead; Python control flow is then fixed to
    the path those arguments take, so the function is re-recorded on every call.

    >>> import s2s, s2s.numpy as np
    >>> def tanh(x):
    ...     y = np.exp(-2.0 * x)
    ...     return (1.0 - y) / (1.0 + y)
    >>> s2s.grad(tanh)(1.0)
    array(0.4199743, dtype=float32)
    """
    if fun is None:
        return functools.partial(grad, argnums=argnums, has_aux=has_aux, holomorphic=holomorphic,
                                 allow_int=allow_int, verbose=verbose)
    _check_callable("grad", fun)
    return GradFunction(fun, argnums, has_aux, holomorphic, allow_int, False, verbose)


def value_and_grad(fun=None, argnums=0, has_aux=False, holomorphic=False, allow_int=False,
                   verbose=False):
    """Like ``grad`` but returns ``(value, gradient)`` (``((value, aux), gradient)`` with has_aux).

    >>> import s2s
    >>> s2s.value_and_grad(lambda x: x * x)(3.0)
    (array(9., dtype=float32), array(6., dtype=float32))
    """
    if fun is None:
        return functools.partial(value_and_grad, argnums=argnums, has_aux=has_aux,
                                 holomorphic=holomorphic, allow_int=allow_int, verbose=verbose)
    _check_callable("value_and_grad", fun)
    return GradFunction(fun, argnums, has_aux, holomorphic, allow_int, True, verbose)


def vjp(fun, *primals, has_aux=False):
    """``(fun(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns one cotangent per primal.

    >>> import s2s, s2s.numpy as np
    >>> y, f_vjp = s2s.vjp(lambda x: x * 2.0, np.ones(2))
    >>> f_vjp(np.array([1.0, 3.0], np.float32))
    (array([2., 6.], dtype=float32),)
    """
    _check_callable("vjp", fun)
    try:
        fn, bound = unwrap(fun)
    except NoSourceError:
        return _traced_vjp(fun, primals, has_aux)
    fn = frontend.through_rules(fn)
    params = _positional_params(fn)[len(bound):len(bound) + len(primals)]
    if len(params) < len(primals):
        if fn.__code__.co_flags & inspect.CO_VARARGS:
            return _traced_vjp(fun, primals, has_aux)  # primals fall in *args
        raise TypeError(f"vjp({_fun_name(fun)}): {len(primals)} primals given but the function "
                        f"takes {len(params)} positional parameters")
    primals = [_grad_input(p) for p in primals]
    try:
        build = vjp_builder.build_vjp(fn, tuple(params))
    except UnsupportedSyntaxError:
        raise  # the fence: a deliberate refusal, with the way out in its message
    except (NoSourceError, TransformError):  # no source, or found but not understood
        return _traced_vjp(fun, primals, has_aux)
    try:
        try:
            out, tape = build.fwd_cell.cell_contents(*bound, *primals)
        except ConcretizationError:
            # Under jit, a Python `if`/`while` on a staged value: the control-flow-converted
            # function's vjp, whose if_stmt/while_stmt stage (as jit(grad) falls back to).
            conv = converted_for_grad(fn)
            if conv is fn or not any(isinstance(v, StagedTracer) for v in tree_leaves(primals)):
                raise
            build = vjp_builder.build_vjp(conv, tuple(params))
            out, tape = build.fwd_cell.cell_contents(*bound, *primals)
    except Exception as e:
        raise _with_user_location(e, "vjp", fun)
    if has_aux:
        out, aux = out

    def vjp_fn(cotangent):
        ct = (cotangent, None) if has_aux else cotangent
        try:
            adj = build.bwd_cell.cell_contents(fresh_tape(tape), ct) if build.output_active else None
        except Exception as e:
            raise _with_user_location(e, "vjp", fun)
        if len(params) == 1:
            adj = (adj,)
        elif adj is None:
            adj = (None,) * len(params)
        return tuple(_match_structure(p, g) for p, g in zip(primals, adj))

    vjp_fn.source = lambda: "\n".join(build.sources())
    # A transformation of code calling the pullback (jvp of jvp_cotangents) records the
    # call: its own source (the tape's copy, the error's location) is not the math.
    vjp_fn.__s2s_traced__ = True
    if has_aux:
        return out, vjp_fn, aux
    return out, vjp_fn


vjp.__s2s_traced__ = True  # called inside a transformed function: recorded (see get_source)


def _output_cotangents(out_tree, cotangent):
    """One cotangent per output leaf. A None cotangent is a zero one, for a leaf or a
    subtree: it keeps its place (dropped, the next output's would go to this output)."""
    cts = tree_leaves(cotangent)
    if len(cts) == out_tree.num_leaves:
        return cts
    return out_tree.flatten_up_to_or_none(cotangent)


def _traced_vjp(fun, primals, has_aux):
    """``vjp`` where ``fun`` has no source or takes its primals through ``*args``: the
    call is recorded on ``primals`` and the recording differentiated (the path is fixed
    to the one this call took, as for ``grad``'s fallback)."""
    primals = [_grad_input(p) for p in primals]
    if config.log_transforms:
        logger.warning("s2s.vjp(%s): tracing the call (no source, or primals in *args)",
                       _fun_name(fun))
    rec = record(fun, primals, {})
    leaves = tree_leaves(primals)
    build = recorded_builds.build(vjp_builder.build_vjp, rec, tuple(rec.fn.__code__.co_varnames[:len(leaves)]))
    try:
        out_leaves, tape = build.fwd_cell.cell_contents(*leaves)
    except Exception as e:
        raise _with_user_location(e, "vjp", fun)
    out_leaves = list(out_leaves) if rec.out_tree.num_leaves > 1 else [out_leaves]
    out = rec.out_tree.unflatten(out_leaves)
    if has_aux:
        out, aux = out

    def vjp_fn(cotangent):
        cts = _output_cotangents(rec.out_tree, (cotangent, None) if has_aux else cotangent)
        ct = tuple(cts) if len(cts) > 1 else cts[0]
        adj = build.bwd_cell.cell_contents(fresh_tape(tape), ct) if build.output_active else None
        adj = [adj] if len(leaves) == 1 else (list(adj) if adj is not None else [None] * len(leaves))
        grads, pos = [], 0
        for p in primals:
            p_leaves, p_tree = tree_flatten(p)
            part = adj[pos:pos + len(p_leaves)]
            pos += len(p_leaves)
            grads.append(p_tree.unflatten(_match_structure(a, g) for a, g in zip(p_leaves, part)))
        return tuple(grads)

    vjp_fn.source = lambda: "\n".join(build.sources())
    # A transformation of code calling the pullback (jvp of jvp_cotangents) records the
    # call: its own source (the tape's copy, the error's location) is not the math.
    vjp_fn.__s2s_traced__ = True
    if has_aux:
        return out, vjp_fn, aux
    return out, vjp_fn


vjp.__s2s_traced__ = True  # called inside a transformed function: recorded (see get_source)
# The traced path itself (its body has a try/except): a transformation reaching it with
# active arguments (jacfwd of a gradient of code calling jvp) records the call.
_traced_vjp.__s2s_traced__ = True


def device_put(x, device=None):
    """Places the arrays of pytree ``x`` in device memory; returns the same structure.

    Computations read such arrays without a copy. On the CPU they are ordinary
    NumPy arrays (``s2s.Array``) whose memory is laid out as XLA wants it; a
    NumPy array made by NumPy is copied in on every ``jit`` call instead.
    jit results are already in device memory. ``device``: a sharding
    (``s2s.sharding.NamedSharding``, or a pytree of them matching ``x``) splits
    each array over several devices as a ``ShardedArray``.

    >>> import numpy as np, s2s
    >>> x = s2s.device_put(np.ones(3, np.float32))
    >>> s2s.jit(lambda x: x * 2)(x)
    array([2., 2., 2.], dtype=float32)
    """
    if device is not None:
        leaves, tree = tree_flatten(x)
        shardings = plan_leaves(device, tree.unflatten(list(range(len(leaves)))), len(leaves))
        return tree_unflatten(tree, [leaf if s is None or isinstance(leaf, Tracer) else
                                     put_sharded(_device_value(leaf), s)
                                     for leaf, s in zip(leaves, shardings)])

    def put(leaf):
        if isinstance(leaf, Tracer):
            return leaf
        arr = np.asarray(leaf)
        return to_device(arr.astype(dtypes.canonicalize_dtype(arr.dtype), copy=False))

    leaves, tree = tree_flatten(x)
    return tree_unflatten(tree, [put(leaf) for leaf in leaves])


def _device_value(leaf):
    if type(leaf) is ShardedArray:
        return leaf
    arr = np.asarray(leaf)
    return arr.astype(dtypes.canonicalize_dtype(arr.dtype), copy=False)


def source(fun):
    """The Python source s2s generated for a transformed function (or ``fun``'s own).

    The transformed-function protocol: what ``source``, nested transformations
    and ``jit`` read from an object a transformation returned.

    * ``source()``: the generated source (``s2s.source`` calls it).
    * ``__s2s_unwrap__()`` on its type: ``(function, bound_args)``, the plain
      function that transforming it again transforms in its place, called with
      ``bound_args`` first (``grad(grad(f))`` differentiates the generated
      gradient; a ``jit`` function unwraps to the function it compiles).
    * ``__s2s_convert__()`` on its type: the callable ``jit`` stages for it
      (``jit(grad(f))``), instead of converting its source.

    >>> import s2s
    >>> print(s2s.source(s2s.grad(lambda x: x * x)).splitlines()[0])
    def grad_lambda(x):
    """
    if isinstance(fun, JitFunction):
        inner = fun._fun
        if isinstance(inner, GradFunction):
            strategy = inner._build()
            return inner.source() if strategy.traced else converted_source(strategy.gen)
        return converted_source(inner)
    if callable(getattr(fun, "source", None)):
        return fun.source()
    return inspect.getsource(fun)


# ---------------------------------------------------------------------------
# vmap: argument handling (in_axes/out_axes), the batched source is s2s.transforms.batch.


def _axis_leaves(spec, value, what, path):
    """``[(leaf, axis, path)]`` for the pytree prefix ``spec`` of axes over ``value``."""
    if spec is None or isinstance(spec, int):
        return [(leaf, spec, path) for leaf in tree_flatten(value)[0]]
    if isinstance(spec, (tuple, list)) and isinstance(value, (tuple, list)) \
            and len(spec) == len(value) and type(spec) is type(value) or (
            hasattr(type(value), "_fields") and isinstance(spec, tuple) and len(spec) == len(value)):
        out = []
        for k, (s, v) in enumerate(zip(spec, value)):
            out += _axis_leaves(s, v, what, f"{path}[{k}]")
        return out
    if isinstance(spec, dict) and isinstance(value, dict) and set(spec) == set(value):
        out = []
        for k in sorted(value):
            out += _axis_leaves(spec[k], value[k], what, f"{path}[{k!r}]")
        return out
    raise ValueError(f"vmap {what} specification must be a tree prefix of the corresponding "
                     f"value, got specification {spec!r} for value tree "
                     f"{tree_flatten(value)[1]} ({path})")


def _move_axis(x, src, dst):
    if src == dst:
        return x
    return (snp if isinstance(x, Tracer) else np).moveaxis(x, src, dst)


class VmapFunction:
    """``vmap(fun)``: ``fun`` mapped over an axis of its arguments, by batched source.

    ``s2s.source(vmapped)`` returns the batched source of the last call's signature.
    """

    def __init__(self, fun, in_axes, out_axes, axis_name, axis_size):
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._in_axes = in_axes
        self._out_axes = out_axes
        self._axis_name = axis_name
        self._axis_size = axis_size
        self._last = None

    def __s2s_unwrap__(self):
        # Batched source calls vcall(...) helpers that have no source-level derivative,
        # so grad must not read this wrapper's own __call__: it traces the call instead
        # (grad(vmap(f)), or vmap(f) called inside a differentiated function).
        raise NoSourceError(f"vmap({_fun_name(self._fun)}) is differentiated by tracing its call")

    def __s2s_convert__(self):
        """What jit runs for ``jit(vmap(f))``: this wrapper around converted batched source.

        For ``jit(vmap(grad(f)))`` where that cannot be staged (the gradient's tape inside
        a loop whose condition is staged), the vmap of the gradient of the *converted*
        ``f``, as ``jit(grad(f))`` does (logged under ``S2S_LOG_TRANSFORMS=1``).
        """
        inner = self

        def run(*args, **kwargs):
            try:
                return inner._call(args, kwargs, convert=converted)
            except (S2SError, TypeError, ValueError, IndexError) as e:
                fallback = inner._converted_grad_vmap()
                if fallback is None:
                    raise
                _log_transform(f"jit(vmap({_fun_name(inner._fun)}))", inner._fun,
                               "the batched gradient does not stage "
                               f"({type(e).__name__}: {str(e).splitlines()[0]}); "
                               "batching the gradient of the control-flow-converted function")
            return fallback._call(args, kwargs, convert=converted)
        return run

    def _converted_grad_vmap(self):
        fun = self._fun
        while isinstance(fun, JitFunction):
            fun = fun._fun
        if not isinstance(fun, GradFunction) or fun._build().traced:
            return None
        return VmapFunction(fun._converted_grad(), self._in_axes, self._out_axes,
                            self._axis_name, self._axis_size)

    def source(self):
        """The batched source generated for the last call (``s2s.source``)."""
        if self._last is None:
            return "# vmap source is made per signature: call the function first"
        if isinstance(self._last, str):  # the last call had no batched source: why
            return self._last
        return self._last.text

    def __call__(self, *args, **kwargs):
        try:
            return self._call(args, kwargs)
        except Exception as e:
            raise _with_user_location(e, "vmap", self._fun)

    def _call(self, args, kwargs, convert=None):
        # an unnamed vmap inside a named one has its frame too: the innermost frame is
        # always the batch axis of the running code (what collectives reduce over)
        if self._axis_name is None and active_axis() is None:
            return self._call_mapped(args, kwargs, convert)
        moved, kw_moved, n = self._prepare(args, kwargs)
        with axis_frame(self._axis_name, n):
            return self._call_mapped(args, kwargs, convert)

    def _target(self):
        fun = self._fun
        while isinstance(fun, JitFunction):
            fun = fun._fun
        if isinstance(fun, VmapFunction):
            return fun, ()
        return unwrap(fun)

    def _prepare(self, args, kwargs):
        """Moves mapped axes to the front; gives the arguments, flags and the batch size."""
        name = _fun_name(self._fun)
        in_axes = self._in_axes_for(args)
        if len(in_axes) != len(args):
            raise ValueError(f"vmap({name}): in_axes has {len(in_axes)} entries but the function "
                             f"was called with {len(args)} positional arguments; give one axis "
                             "(or None) per argument")
        sizes = []
        moved = []
        for i, (spec, arg) in enumerate(zip(in_axes, args)):
            moved.append(self._move_in(spec, arg, f"argument {i}", sizes, name))
        kw_moved = {k: self._move_in(0, v, f"keyword argument {k!r}", sizes, name)
                    for k, v in kwargs.items()}
        distinct = sorted({s for _, s, _ in sizes})
        if len(distinct) > 1:
            first = sizes[0]
            other = next(x for x in sizes if x[1] != first[1])
            raise ValueError(
                f"vmap got inconsistent sizes for the mapped axis: {first[0]} of {name} has size "
                f"{first[1]} on axis {first[2]}, {other[0]} has size {other[1]} on axis "
                f"{other[2]}; map over axes of equal size (or give those arguments in_axes None)")
        if distinct:
            n = distinct[0]
            if self._axis_size is not None and self._axis_size != n:
                raise ValueError(f"vmap({name}): axis_size={self._axis_size} but the mapped axes "
                                 f"have size {n}")
        elif self._axis_size is not None:
            n = self._axis_size
        else:
            raise ValueError(f"vmap({name}) needs at least one mapped argument (in_axes not all "
                             "None) or axis_size=n to know the size of the mapped axis")
        return moved, kw_moved, n

    def _in_axes_for(self, args):
        """``in_axes`` as one entry per positional argument (a list is a pytree prefix of
        a single argument; an int or None applies to all)."""
        in_axes = self._in_axes
        if isinstance(in_axes, list) and len(args) != 1:
            in_axes = tuple(in_axes)
        if not isinstance(in_axes, tuple):
            in_axes = (in_axes,) * len(args)
        return in_axes

    def _move_in(self, spec, arg, what, sizes, name):
        leaves = _axis_leaves(spec, arg, "in_axes", what)
        if all(ax is None for _, ax, _ in leaves):
            return (arg, False)
        out = []
        for leaf, ax, path in leaves:
            if ax is None:
                out.append(leaf)
                continue
            nd = np.ndim(leaf)
            if not -nd <= ax < nd:
                raise ValueError(
                    f"vmap({name}) was asked to map {path} over axis {ax}, but it has rank {nd} "
                    f"(shape {tuple(np.shape(leaf))}); give an axis in [{-nd}, {nd}) or None")
            a = ax % nd
            sizes.append((path, np.shape(leaf)[a], ax))
            out.append(_move_axis(leaf if isinstance(leaf, (Tracer, np.ndarray)) else
                                  np.asarray(leaf), a, 0))
        flat_tree = tree_flatten(arg)[1]
        return (flat_tree.unflatten(out), [ax is not None for _, ax, _ in leaves])

    def _call_mapped(self, args, kwargs, convert=None):
        name = _fun_name(self._fun)
        moved, kw_moved, n = self._prepare(args, kwargs)
        if getattr(type(self._fun), "__s2s_vcall__", None) is not None and not isinstance(
                self._fun, VmapFunction):  # a closure over values mapped by an outer vmap
            args, axes = self._filled(moved, n)
            kwargs = {k: v for k, (v, _) in kw_moved.items()}
            out = vcall(self._fun, tuple(axes), *args, kw_batched=tuple(kwargs), **kwargs)
            return self._move_out(out, True, n, name)
        try:
            fn, bound = self._target()
        except NoSourceError as e:  # a traced gradient, say: once per example
            self._last = (f"# vmap({name}) has no batched source: {e}; so the last call ran "
                          f"{name} once per example and stacked the results")
            return self._looped(moved, kw_moved, n, name)
        if isinstance(fn, VmapFunction):  # vmap(vmap(f)): one vmap over both axes
            args, axes = self._filled(moved, n)
            out = fn._merged_call(args, axes, {k: v for k, (v, _) in kw_moved.items()},
                                  tuple(kw_moved), n, convert)
            if out is None:
                self._last = (f"# vmap({name}) has no batched source: {name} is itself a vmap "
                              "whose axis cannot merge with this one (a named axis, out_axes "
                              "None), so the last call ran it once per example")
                return self._looped(moved, kw_moved, n, name)
            self._last = fn._last
            return self._move_out(out, True, n, name)
        if batch.has_rule(fn) and not bound:  # a library function: its batch rule
            self._last = (f"# vmap({name}) has no batched source: {name} is a library function "
                          "with a batch rule, which the last call applied directly")
            return self._by_rule(fn, moved, kw_moved, n, name)
        plan = batch.plan_or_none(fn) if not batch._is_library(fn) else None
        if plan is None:  # no source to batch (a nested vmap, a C function): once per example
            what = (f"{name} is itself a vmap" if isinstance(fn, VmapFunction) else
                    f"{name} has no Python source s2s can batch (a library or C function)")
            self._last = (f"# vmap({name}) has no batched source: {what}, so the last call ran "
                          "it once per example and stacked the results")
            return self._looped(moved, kw_moved, n, name)
        params = dataflow.parameters(plan.normal, varargs=False, keyword_only=False)[len(bound):]
        if getattr(fn, "__s2s_traced__", False) or any(
                flags for _, flags in moved[len(params):]):
            # A Jacobian function (it calls vmap itself), or a mapped argument that
            # falls in *args (the source cannot say which parameter it is): the call
            # is recorded and the recording batched, as for a function without source.
            self._last = (f"# vmap({name}) has no batched source: {name} takes the mapped "
                          "arguments in *args or calls vmap itself, so the last call was "
                          "recorded and the recording batched (or run once per example)")
            return self._looped(moved, kw_moved, n, name)
        flat_args = []
        batched = set()
        described = {}
        for i, (value, flags) in enumerate(moved):
            if flags and not all(flags):  # a partly mapped argument: its unmapped leaves join
                leaves, tree = tree_flatten(value)
                value = tree.unflatten([x if f else broadcast_batch(x, n)
                                        for x, f in zip(leaves, flags)])
            if flags:
                batched.add(params[i])
            if i < len(params):
                described[params[i]] = (value, bool(flags))
            flat_args.append(value)
        kw_args = {}
        for k, (value, flags) in kw_moved.items():
            if flags and not all(flags):
                leaves, tree = tree_flatten(value)
                value = tree.unflatten([x if f else broadcast_batch(x, n)
                                        for x, f in zip(leaves, flags)])
            if flags:
                batched.add(k)
            described[k] = (value, bool(flags))
            kw_args[k] = value
        built = batch.build(fn, frozenset(batched), batch_source.signature(described))
        self._last = built
        if convert is None and _reads_staged(fn, (flat_args, kw_args)):
            convert = converted  # called with staged values, not through jit's conversion
        target = built.fn if convert is None else convert(built.fn)
        try:
            out = target(*bound, *flat_args, **kw_args)
        except VaryingFunctionError:
            # It calls a function value made per example (s2s.vjp's pullback, say): the
            # call is recorded (through the function making it) and the recording batched.
            self._last = (f"# vmap({name}) has no batched source: {name} calls a function "
                          "value made per example, so the last call was recorded and the "
                          "recording batched (or run once per example)")
            return self._looped(moved, kw_moved, n, name)
        out = self._completed_gradient(out, flat_args, [bool(flags) for _, flags in moved], n,
                                       built.out_batched)
        return self._move_out(out, built.out_batched, n, name)

    def _completed_gradient(self, out, args, batched, n, out_batched):
        """``out`` of the batched generated gradient shaped as the gradient function returns
        it (``GradFunction._call``): a ``None`` adjoint is zeros, for each example."""
        grad_fn = self._fun
        while isinstance(grad_fn, JitFunction):
            grad_fn = grad_fn._fun
        if not isinstance(grad_fn, GradFunction):
            return out

        def primal(i):  # argument i as the adjoints hold it: batched exactly when they are
            if out_batched == bool(batched[i]):
                return args[i]
            if out_batched:
                return broadcast_batch(args[i], n)
            return tree_map(lambda leaf: leaf[0], args[i])

        return grad_fn.completed(out, primal)

    def _by_rule(self, fn, moved, kw_moved, n, name):
        args, axes = self._filled(moved, n)
        kwargs = {k: v for k, (v, _) in kw_moved.items()}
        kw_batched = tuple(k for k, (_, f) in kw_moved.items() if f)
        out = vcall(fn, tuple(axes), *args, kw_batched=kw_batched, **kwargs)
        return self._move_out(out, True, n, name)

    @staticmethod
    def _filled(moved, n):
        """Arguments with partly mapped pytrees completed, and their axes (0 or None)."""
        args, axes = [], []
        for value, flags in moved:
            if flags and not all(flags):
                leaves, tree = tree_flatten(value)
                value = tree.unflatten([x if f else broadcast_batch(x, n)
                                        for x, f in zip(leaves, flags)])
            args.append(value)
            axes.append(0 if flags else None)
        return args, axes

    def _looped(self, moved, kw_moved, n, name):
        args, axes = self._filled(moved, n)
        kwargs = {k: v for k, (v, _) in kw_moved.items()}
        kw_batched = tuple(k for k, (_, f) in kw_moved.items() if f)
        out = by_recording(self._fun, tuple(axes), tuple(args), kwargs, kw_batched)
        if out is NOT_RECORDED:
            out = loop_call(self._fun, tuple(axes), tuple(args), kwargs, kw_batched)
        return self._move_out(out, True, n, name)

    def _move_out(self, out, out_batched, n, name):
        spec = self._out_axes
        leaves = _axis_leaves(spec, out, "out_axes", "output")
        result = []
        for leaf, ax, path in leaves:
            if ax is None:
                if out_batched:
                    leaf = _unbroadcast_or_fail(leaf, name, path)
                result.append(leaf)
                continue
            if not out_batched:
                leaf = broadcast_batch(leaf, n)
            nd = np.ndim(leaf)
            if not -nd <= ax < nd:
                raise ValueError(f"vmap({name}): out_axes {ax} is out of range for {path} of "
                                 f"rank {nd - 1} (with the mapped axis: {nd})")
            result.append(_move_axis(leaf, 0, ax % nd))
        return tree_flatten(out)[1].unflatten(result)


    # -- vmap of this vmap (vmap(vmap(f)), or vmap(g) called inside a vmapped function)

    def __s2s_vcall__(self, axes, args, kwargs, kw_batched):
        """This vmap called from batched code on arguments batched on axis 0 where
        ``axes[i]`` is 0 (and the keyword arguments in ``kw_batched``): the result
        batched on axis 0, by one vmap of the inner function over both mapped axes."""
        if any(ax is not None for ax in axes) or kw_batched:
            n = leading_size([a for a, ax in zip(args, axes) if ax is not None]
                             + [kwargs[k] for k in kw_batched])
        else:  # vmap of a closure over values an outer vmap maps (a batched function)
            n = self._fun.batch_size()
        out = self._merged_call(args, axes, kwargs, kw_batched, n)
        if out is None:  # axes that cannot merge: once per outer example
            if hasattr(self._fun, "rebound"):
                return self._looped_closure(axes, args, kwargs, kw_batched, n)
            return loop_call(self, axes, args, kwargs, kw_batched)
        return out

    def _looped_closure(self, axes, args, kwargs, kw_batched, n):
        """This vmap of a closure over outer-mapped values, once per outer example: each
        example maps its own closure (the closure's values for that example alone)."""
        def one(i, *a, **kw):
            return VmapFunction(self._fun[int(i)], self._in_axes, self._out_axes,
                                self._axis_name, self._axis_size)(*a, **kw)
        return loop_call(one, (0,) + tuple(axes), (np.arange(n),) + tuple(args), kwargs,
                         kw_batched)

    def _merged_call(self, args, axes, kwargs, kw_batched, n, convert=None):
        """This vmap applied to a batch of ``n`` calls (``axes[i]`` 0: argument ``i`` is
        batched on axis 0): both mapped axes merged into one of ``n * m`` examples, the
        inner function vmapped once over it, and the result split again (outer axis first,
        this vmap's out_axes after it). A named axis is one factor of the merged axis
        (its collectives reduce over that factor only); an output with out_axes None must
        be the same along this vmap's axis. None where merging cannot express the call:
        a batch axis the innermost frame does not describe, out_axes None on staged values
        where the batching analysis cannot tell that the output does not vary along this
        axis (equality cannot be checked on them), or sizes that disagree (the
        per-example calls then raise this vmap's own error)."""
        in_axes = self._in_axes_for(args)
        if len(in_axes) != len(args):
            return None
        staged = any(isinstance(leaf, Tracer) for leaf in tree_flatten((args, kwargs))[0])
        if _has_none(self._out_axes) and staged and not self._unmapped_output(in_axes, args,
                                                                              kwargs):
            return None
        plans = [self._merge_plan(spec, arg, ax is not None)
                 for spec, arg, ax in zip(in_axes, args, axes)]
        kw_plans = {k: self._merge_plan(0, v, k in kw_batched) for k, v in kwargs.items()}
        every = [p for plan in plans + list(kw_plans.values()) if plan is not None for p in plan[1]]
        if any(p is None for p in every):
            return None
        sizes = {leaf.shape[a] for leaf, outer, a in every if a is not None}
        if len(sizes) > 1 or not sizes and self._axis_size is None:
            return None
        m = sizes.pop() if sizes else self._axis_size
        if self._axis_size is not None and self._axis_size != m:
            return None
        merged = [self._merged_arg(arg, plan, n, m) for arg, plan in zip(args, plans)]
        merged_kw = {k: self._merged_arg(v, kw_plans[k], n, m) for k, v in kwargs.items()}
        fun = self._fun
        if hasattr(fun, "rebound"):  # a closure over outer-mapped values: merged the same way
            fun = fun.rebound(functools.partial(_merged_leaf, n=n, m=m))
        factors = self._merged_factors(n, m)
        if factors is None:
            return None
        inner = VmapFunction(fun, tuple(None if p is None else 0 for p in plans), 0, None, n * m)
        if not factors:  # no named axis: no frame
            out = inner._call(tuple(merged), merged_kw, convert)
        else:
            with merged_axis_frame(factors):
                out = inner._call_mapped(tuple(merged), merged_kw, convert)
        self._last = inner._last
        return self._split_out(out, n, m, checked=not staged)

    def _unmapped_output(self, in_axes, args, kwargs):
        """Whether the batching analysis of the mapped function shows that its output does
        not depend on the arguments this vmap maps (then out_axes None needs no check)."""
        if hasattr(self._fun, "rebound"):  # a closure: what it captures is the outer axis'
            fn, bound = self._fun.fn, ()
        else:
            try:
                fn, bound = self._target()
            except NoSourceError:
                return False
        if isinstance(fn, VmapFunction) or batch._is_library(fn) or batch.plan_or_none(fn) is None:
            return False
        params = batch.parameters_of(fn)[len(bound):]
        names = set(kwargs)
        for i, (spec, arg) in enumerate(zip(in_axes, args)):
            if any(ax is not None for _, ax, _ in _axis_leaves(spec, arg, "in_axes", "argument")):
                if i >= len(params):
                    return False
                names.add(params[i])
        try:
            return not batch.build(fn, frozenset(names)).out_batched
        except Exception:  # noqa: BLE001 - it cannot be batched by source: per example
            return False

    def _merged_factors(self, n, m):
        """The factors of the merged batch axis (``axis_frames``): the running batch axis's
        (the innermost frame's, whose examples number ``n``) then this vmap's; ``()`` when
        no axis is named; None when the innermost frame is not the running batch axis."""
        outer = active_axis()
        if outer is None:
            return () if self._axis_name is None else ((None, n), (self._axis_name, m))
        if int(np.prod([size for _, size in outer])) != n:
            return None
        return outer + ((self._axis_name, m),)

    @staticmethod
    def _merge_plan(spec, arg, outer):
        """``(tree, [(leaf, outer, axis)])`` for one argument (``axis``: the leaf's axis
        this vmap maps, counted with the outer axis; an entry None: out of range), or None
        for an argument neither vmap maps."""
        leaves = _axis_leaves(spec, arg, "in_axes", "argument")
        if not outer and all(ax is None for _, ax, _ in leaves):
            return None
        out = []
        for leaf, ax, _ in leaves:
            if ax is None:
                out.append((leaf, outer, None))
                continue
            leaf = leaf if isinstance(leaf, (Tracer, np.ndarray)) else np.asarray(leaf)
            pe = np.ndim(leaf) - outer
            out.append((leaf, outer, ax % pe + outer) if -pe <= ax < pe else None)
        return tree_flatten(arg)[1], out

    @staticmethod
    def _merged_arg(arg, plan, n, m):
        """One argument with the outer and inner mapped axes merged into axis 0 (size
        ``n * m``); an axis only one of the two vmaps maps is broadcast along the other."""
        if plan is None:
            return arg
        tree, leaves = plan
        out = []
        for leaf, outer, a in leaves:
            leaf = leaf if isinstance(leaf, (Tracer, np.ndarray)) else np.asarray(leaf)
            if a is not None:
                leaf = _move_axis(leaf, a, int(outer))
                out.append(_merged_leaf(leaf if outer else leaf[None], n, m, True))
            else:
                out.append(_merged_leaf(leaf if outer else leaf[None], n, m))
        return tree.unflatten(out)

    def _split_out(self, out, n, m, checked=True):
        """The merged call's result (examples on axis 0) with the outer axis first and
        this vmap's axis where its out_axes put it."""
        result = []
        for leaf, ax, path in _axis_leaves(self._out_axes, out, "out_axes", "output"):
            xp = snp if isinstance(leaf, Tracer) else np
            leaf = xp.reshape(leaf, (n, m) + tuple(leaf.shape[1:]))
            if ax is None:  # the same for each of this vmap's examples (checked on host values)
                if checked and not np.array_equal(leaf, np.broadcast_to(leaf[:, :1], leaf.shape),
                                                  equal_nan=leaf.dtype.kind in "fc"):
                    raise ValueError(f"vmap({_fun_name(self._fun)}): out_axes is None for "
                                     f"{path}, but it varies along the mapped axis; give it an "
                                     "axis (out_axes=0) or return an unmapped value")
                result.append(leaf[:, 0])
                continue
            nd = np.ndim(leaf) - 1
            if not -nd <= ax < nd:
                raise ValueError(f"vmap({_fun_name(self._fun)}): out_axes {ax} is out of range "
                                 f"for {path} of rank {nd - 1} (with the mapped axis: {nd})")
            result.append(_move_axis(leaf, 1, ax % nd + 1))
        return tree_flatten(out)[1].unflatten(result)


def _merged_leaf(leaf, n, m, inner=False):
    """``leaf`` with its outer axis (of ``n``) and inner axis (of ``m``, after it; when not
    ``inner``, the leaf does not vary along it) merged into one axis of ``n * m``."""
    xp = snp if isinstance(leaf, Tracer) else np
    if not inner:
        leaf = leaf[:, None]
    rest = tuple(leaf.shape[2:])
    return xp.reshape(xp.broadcast_to(leaf, (n, m) + rest), (n * m,) + rest)


def _has_none(spec):
    """Whether an axes specification (a pytree prefix) holds None anywhere."""
    if spec is None:
        return True
    if isinstance(spec, (tuple, list)):
        return any(_has_none(s) for s in spec)
    if isinstance(spec, dict):
        return any(_has_none(s) for s in spec.values())
    return False


def _unbroadcast_or_fail(leaf, name, path):
    """A batched result leaf requested with out_axes None: allowed only when it is one
    value broadcast (an unmapped value that joined a batched container)."""
    if isinstance(leaf, np.ndarray) and leaf.ndim >= 1 and leaf.strides[0] == 0:
        return leaf[0]
    if isinstance(leaf, Tracer):
        raise ValueError(
            f"vmap({name}): out_axes is None for {path}, which depends on what this vmap maps; "
            "under jit s2s cannot check that it is the same along the mapped axis (JAX "
            "refuses it too): give it an axis (out_axes=0) and take one entry, or compute it "
            "outside this vmap")
    raise ValueError(f"vmap({name}): out_axes is None for {path}, but it varies along the "
                     "mapped axis; give it an axis (out_axes=0) or return an unmapped value")


def vmap(fun=None, in_axes=0, out_axes=0, axis_name=None, axis_size=None):
    """``fun`` mapped over an axis of its arguments, written as batched Python source.

    ``in_axes`` (an int, a negative int, None, or a pytree prefix of the
    positional arguments) says which axis of each argument is mapped; keyword
    arguments are mapped over axis 0. ``out_axes`` places the mapped axis in the
    outputs. Python ``if``/``while`` on mapped values work: both branches run
    and results are selected per example; loops run until every example is
    done. ``s2s.source(vmap(f))`` shows the batched source after a call.

    >>> import s2s, s2s.numpy as np
    >>> def f(x):
    ...     if x > 0:
    ...         return x * 2.0
    ...     return -x
    >>> s2s.vmap(f)(np.array([-1.0, 3.0]))
    array([1., 6.], dtype=float32)
    """
    if fun is None:
        return functools.partial(vmap, in_axes=in_axes, out_axes=out_axes, axis_name=axis_name,
                                 axis_size=axis_size)
    return VmapFunction(fun, in_axes, out_axes, axis_name, axis_size)


# vmap(fn) inside vmapped code where fn is a closure over mapped values: a batch of
# vmapped functions (VmapFunction batches the closure when it is called).
def_batch(vmap)(lambda axes, /, fun, *args, **kwargs: vmap(fun, *args, **kwargs))


# Transformations whose result a differentiated function may call in place
# (``grad(f)(x)`` inside ``f2`` given to ``grad``): evaluated while transforming.
for _maker in (jit, grad, value_and_grad, vmap):
    _maker.__s2s_transformation__ = True
del _maker


# The lower layers call these while they run (see s2s.core.hooks).
hooks.install("vjp", vjp)
hooks.install("completed_gradient", _match_structure)
hooks.install("jit", jit)
hooks.install("vmap", vmap)
