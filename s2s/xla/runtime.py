"""Driving jaxlib's PJRT client without jax (checked against jaxlib 0.10.2).

>>> import numpy as np
>>> from s2s.core.primitive import ShapedArray
>>> exe = compile_module('''module @m { func.func public @main(%a: tensor<2xf32>) -> tensor<2xf32> {
...   %0 = "stablehlo.negate"(%a) : (tensor<2xf32>) -> tensor<2xf32>
...   "func.return"(%0) : (tensor<2xf32>) -> ()
... } }''', [ShapedArray((2,), np.float32)])
>>> exe.run([np.array([1.0, 2.0], np.float32)])[0]
array([-1., -2.], dtype=float32)
"""
import os
import threading

import numpy as np

import ml_dtypes

from s2s.codegen.stablehlo import mlir_context
from s2s.core.array import Array
from s2s.core.config import config
from s2s.xla import compile_cache, dispatch, distributed, lapack, platforms

# bfloat16 has no buffer-protocol format: such results are read as their bits (uint16,
# see _bfloat16_to_host), as jaxlib's own conversion would import jax.
_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)

_lock = threading.Lock()
_state = {}


def _xla_client():
    # Imported lazily so `import s2s` stays cheap and jaxlib's logging is quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from jaxlib import xla_client

    return xla_client


def client():
    """The process-wide PJRT client, created on first use (see ``s2s.xla.platforms``)."""
    c = _state.get("client")
    if c is None:
        with _lock:
            c = _state.get("client")
            if c is None:
                xc = _xla_client()
                compile_cache.record_flags()
                c = platforms.make_client(xc, distributed.current())
                _state["devices"] = xc.DeviceList(tuple(c.local_devices()[:1]))
                _state["client"] = c
    return c


def client_made():
    """Whether the client exists (settings read at its creation can no longer change)."""
    return "client" in _state


def default_device():
    """The device that single-device computations run on (this process's first)."""
    return client().local_devices()[0]


def backend_name():
    """The platform of the client: ``"cpu"`` or ``"cuda"``."""
    return client().platform


def devices():
    """All devices, of every process (``s2s.distributed``), ordered by id.

    >>> devices()[0].platform in ("cpu", "cuda")
    True
    """
    return list(client().devices())


def local_devices():
    """The devices this process drives."""
    return list(client().local_devices())


def device_count():
    """How many devices there are in all processes."""
    return client().device_count()


def local_device_count():
    """How many devices this process drives."""
    return client().local_device_count()


def process_index():
    """This process's index among those ``s2s.distributed.initialize`` joined (0 alone)."""
    return client().process_index()


def process_count():
    """How many processes share the devices."""
    state = distributed.current()
    return 1 if state is None else state.num_processes


def _sharding():
    sh = _state.get("sharding")
    if sh is None:
        sh = _state["sharding"] = single_device_sharding(default_device())
    return sh


def single_device_sharding(device):
    """The jaxlib sharding that puts a whole array on ``device`` (one per device)."""
    cache = _state.setdefault("single", {})
    sh = cache.get(device)
    if sh is None:
        xc = _xla_client()
        replicated = xc.HloSharding.replicate()

        class _Replicated(xc.SingleDeviceSharding):
            # batched_device_put and result handlers ask a sharding for
            # ``_to_xla_hlo_sharding`` and ``memory_kind``, which jax adds to this
            # class when imported; plain class attributes keep those reads cheap.
            # ``_internal_device_list`` stays jaxlib's own (C++, fast).
            memory_kind = None

            def _to_xla_hlo_sharding(self, ndim, _replicated=replicated):
                return _replicated

        sh = cache[device] = _Replicated(device)
    return sh


class _PutAval:
    """The attributes ``batched_device_put`` and result handlers read from an
    abstract value (anything with ``shape`` and ``dtype``)."""

    __slots__ = ("shape", "dtype", "weak_type", "ndim")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = False
        self.ndim = len(self.shape)


def device_put(array):
    """Host NumPy array -> device buffer (zero copy when 64-byte aligned on CPU)."""
    put, sharding, devices, zero_copy = _put_parts()
    return put(_PutAval(array.shape, array.dtype), sharding, [array], devices, True, False,
               zero_copy, bool(config.enable_x64))


def to_device(array):
    """A copy of host ``array`` in device memory, as an ``Array`` (on CPU: a
    64-byte-aligned host buffer that later computations read without a copy)."""
    put, sharding, devices, zero_copy = _put_parts()
    buf = put(_PutAval(array.shape, array.dtype), sharding, [array], devices, True, True,
              zero_copy, bool(config.enable_x64))
    if np.dtype(array.dtype) == _BFLOAT16 or not on_host():
        # No buffer protocol for bfloat16; GPU memory is not host memory.
        return np.array(array).view(Array)
    return np.asarray(memoryview(buf)).view(Array)


def on_host():
    """Whether device buffers live in host memory (the CPU client), readable in place."""
    return backend_name() == "cpu"


def to_host(buffer):
    """A single-device buffer's contents as a NumPy array (on the CPU, its own memory)."""
    if on_host():
        if buffer.aval.dtype == _BFLOAT16:
            return _bfloat16_to_host(buffer)
        return np.asarray(memoryview(buffer))
    # GPU memory: jaxlib copies it out (importing jax for avals when jax is installed).
    return buffer._single_device_array_to_np_array_did_copy()[0]


def _bfloat16_to_host(buffer):
    """A bfloat16 buffer on the host as NumPy: its bits (a bitcast to uint16 on the device,
    which the buffer protocol carries), viewed as bfloat16."""
    bits = _bitcast_executable(tuple(buffer.aval.shape))
    out = bits._loaded.execute_sharded([buffer]).consume_with_handlers(bits._handlers)[0]
    return np.asarray(memoryview(out)).view(_BFLOAT16)


_BITCASTS = {}


def _bitcast_executable(shape):
    """The compiled ``bitcast_convert`` of a bfloat16 array of ``shape`` to uint16 (cached)."""
    exe = _BITCASTS.get(shape)
    if exe is None:
        dims = "".join(f"{n}x" for n in shape)
        text = (f'module @bfloat16_bits {{ func.func public @main(%a: tensor<{dims}bf16>) -> '
                f'tensor<{dims}ui16> {{\n  %0 = "stablehlo.bitcast_convert"(%a) : '
                f'(tensor<{dims}bf16>) -> tensor<{dims}ui16>\n  "func.return"(%0) : '
                f'(tensor<{dims}ui16>) -> ()\n}} }}')
        exe = _BITCASTS[shape] = compile_module(text, [_PutAval(shape, np.uint16)])
    return exe


def _put_parts():
    """``(batched_device_put, sharding, [device], ZERO_COPY)``, looked up once (dispatch is hot).

    A put of a float32[3] costs about 4 microseconds; properties in place of the
    sharding's class attributes made it 6.6.
    """
    parts = _state.get("put")
    if parts is None:
        client()
        xc = _xla_client()
        parts = _state["put"] = (xc.batched_device_put, _sharding(), [default_device()],
                                 xc.HostBufferSemantics.ZERO_COPY)
    return parts


# From this size on, an argument that XLA can read in place (64-byte aligned) is not
# copied in (see Executable._buffers_run).
_ZERO_COPY_MIN_BYTES = 1 << 16

# Above this many bytes of arguments a call takes the Python path: the microseconds
# the C++ dispatch saves are noise there, and its put of a large unaligned NumPy
# array costs more (2000x2000 float32: 4.4 against 3.7 ms of CPU a call).
_CPP_MAX_BYTES = 1 << 20


def _nbytes(aval):
    return int(np.prod(aval.shape)) * aval.dtype.itemsize


class Executable:
    """A compiled XLA computation: flat NumPy arrays in, flat NumPy arrays out."""

    def __init__(self, loaded, text, out_avals, in_avals=None):
        self._loaded = loaded
        self.text = text
        self._in_avals = [_PutAval(a.shape, a.dtype) for a in in_avals] if in_avals is not None else None
        # Result handlers built from our own avals: jaxlib then needs nothing
        # from jax (without them it imports jax on every call when installed).
        xc = _xla_client()
        self._handler_avals = [_PutAval(a.shape, a.dtype) for a in out_avals]
        self._handlers = [xc.array_result_handler(a, _sharding(), True, _skip_checks=True)
                          for a in self._handler_avals]
        self._bfloat16_out = any(a.dtype == _BFLOAT16 for a in self._handler_avals)

        self.run = self._fast_run() or self._run

    def run(self, arrays):
        """Runs on host arrays (each already of the dtype/shape compiled for); gives NumPy arrays."""
        return self._run(arrays)  # replaced per instance by _fast_run's closure where it can

    def _fast_run(self):
        """``run`` with everything bound once: dispatch of a cache hit spends most of
        its Python time here (about 10 microseconds for a float32[3] in and out)."""
        execute = self._buffers_run()
        if execute is None:
            return None
        asarray = np.asarray

        def run(arrays):
            # The CPU client runs computations on this thread (s2s.xla.platforms), so
            # the results are ready; the buffer protocol would wait for them otherwise.
            return [asarray(memoryview(r)).view(Array) for r in execute(arrays)]
        return run

    def _buffers_run(self):
        """``run`` giving the result buffers (not waited for), or None where results
        cannot be read in place (no in_avals, bfloat16 results, a GPU)."""
        if self._in_avals is None or self._bfloat16_out or not on_host():
            return None
        put, sharding, devices, zero_copy = _put_parts()
        in_avals, handlers, execute = self._in_avals, self._handlers, self._loaded.execute_sharded

        xc = _xla_client()
        array_impl = xc.ArrayImpl
        ndarray = np.ndarray
        # An argument is copied during the put unless XLA can read it in place (64-byte
        # aligned; NumPy aligns to 16): asked for zero copy, PJRT copies an unaligned
        # array later, on a worker thread, and the computation waits for that copy
        # there (MLP jit(grad), 1.2 MB of NumPy arguments: 1.31 -> 1.18 ms; 2000x2000
        # float32: 3.56 -> 3.31 ms). Below 64 KiB the copy costs less than the check.
        copy_now = xc.HostBufferSemantics.IMMUTABLE_ONLY_DURING_CALL
        puts = [(av, np.prod(av.shape) * av.dtype.itemsize >= _ZERO_COPY_MIN_BYTES)
                for av in in_avals]

        def run(arrays):
            # Positional arguments: nanobind's keyword matching costs a microsecond a
            # put. enable_x64 canonicalizes captured int64 constants to int32.
            x64 = config.enable_x64
            # An array that is exactly a device buffer's memory (a jit result,
            # s2s.device_put) passes that buffer: no put at all.
            buffers = [mem.obj if type(view := a.base) is ndarray and type(mem := view.base) is memoryview
                       and type(mem.obj) is array_impl and view.shape == a.shape and view.dtype == a.dtype
                       else put(av, sharding, [a], devices, True, False,
                                zero_copy if large and a.ctypes.data % 64 == 0 else copy_now, x64)
                       for (av, large), a in zip(puts, arrays)]
            return execute(buffers).consume_with_handlers(handlers)
        return run

    def cpp_call(self):
        """A C++ callable ``f(*arrays)`` giving the result buffers (one, or a tuple) for
        host arrays of exactly the compiled shapes and dtypes, or None where only the
        Python path serves (see ``s2s.xla.dispatch``). Made on first use."""
        if not hasattr(self, "_cpp"):
            execute = None if getattr(self, "host_callbacks", None) else self._buffers_run()
            if execute is not None and sum(_nbytes(a) for a in self._in_avals) > _CPP_MAX_BYTES:
                execute = None
            self._cpp = execute and dispatch.cpp_function(
                "s2s_jit", self._loaded, self._in_avals, self._handler_avals, _sharding(), execute)
        return self._cpp

    def _run(self, arrays):
        buffers = [device_put(a) for a in arrays]
        results = self._loaded.execute_sharded(buffers)
        # Wrapping results with our own avals and reading them through the buffer
        # protocol keeps jax out of the process (CPU buffers live in host memory).
        # Results are ``Array`` views (eager results are too), so ``.at`` works on them.
        results = results.consume_with_handlers(self._handlers)
        for r in results:
            r.block_until_ready()
        return [to_host(r).view(Array) for r in results]

    def hlo_text(self):
        """XLA's optimized HLO, for inspection."""
        return self._loaded.hlo_modules()[0].to_string()

    def cost_analysis(self):
        return self._loaded.cost_analysis()


# LLVM -O2 for the kernels XLA generates on the CPU, in place of XLA's -O3: 14% less
# compile (jit(grad(MLP)): 112 -> 95 ms of CPU, JAX's module alike). The kernels are
# vectorized alike (-O3 mostly unrolls the tanh loop further) and none ran slower:
# MLP, Newton's while loop, softmax cross-entropy, tanh/exp/log fusions on 1e6
# elements, a 50-step RNN, sort (runtime measured against -O3 in one process).
_CPU_LLVM_OPT_LEVEL = 2


def compile_options():
    """XLA's ``CompileOptions`` for one device of this client: XLA's defaults (with
    ``XLA_FLAGS``), except LLVM's optimization level on the CPU, unless ``XLA_FLAGS``
    sets ``--xla_backend_optimization_level`` itself.

    >>> level = compile_options().executable_build_options.debug_options.xla_backend_optimization_level
    >>> level == (2 if backend_name() == "cpu" else 3) or "xla_backend_optimization_level" in os.environ.get("XLA_FLAGS", "")
    True
    """
    options = _xla_client().CompileOptions()
    if backend_name() == "cpu" and "xla_backend_optimization_level" not in os.environ.get("XLA_FLAGS", ""):
        options.executable_build_options.debug_options.xla_backend_optimization_level = _CPU_LLVM_OPT_LEVEL
    return options


def compile_module(text, out_avals, in_avals=None, host_callbacks=(), verify=None):
    """Compiles StableHLO module text for the default device.

    ``out_avals``/``in_avals``: the shape and dtype of each result/argument, as
    staging computed them (``in_avals`` lets ``run`` skip per-call work).
    ``host_callbacks``: Python functions the module's callback custom calls name
    by index (they need the parsed module, not text).
    ``verify``: called on ``text`` only when XLA rejects it, to raise a clearer
    error (``LoweringError`` naming the op) where the text does not verify; XLA's
    own error is raised where it does. XLA parses and verifies the text itself, so
    verifying every module first only added a second parse and, in a new process,
    the start of MLIR's Python bindings (about 40 ms before the first compile).
    """
    c = client()
    errors = []
    host_callbacks = [_recording(fn, errors) for fn in host_callbacks]
    lapack.prepare_module(text, c.platform)
    devices, options = _state["devices"], compile_options()

    def compile_now():
        try:
            if not host_callbacks:
                return c.compile_and_load(text, devices, options)
            from jaxlib.mlir import ir
            with mlir_context():
                module = ir.Module.parse(text)
                return c.compile_and_load(module, devices, options, host_callbacks=list(host_callbacks))
        except Exception:
            if verify is not None:
                verify(text)  # raises LoweringError where s2s emitted a module that does not verify
            raise

    # Host callbacks are addresses in this process: such executables are never cached.
    loaded = compile_cache.compile_or_load(c, text, devices, options, compile_now,
                                           cacheable=not host_callbacks)
    executable = Executable(loaded, text, out_avals, in_avals)
    executable.host_callbacks = list(host_callbacks)  # keep them alive with the executable
    if host_callbacks:
        executable.run = _reraising(executable.run, errors)
    return executable


def _recording(fn, errors):
    """``fn`` for a host callback: an exception it raises is kept in ``errors``."""
    def call(*args):
        try:
            return fn(*args)
        except Exception as e:
            errors.append(e)
            raise
    return call


def _reraising(run, errors):
    """``run`` raising a host callback's own exception rather than XLA's INTERNAL
    error that wraps its text (so ``except ValueError`` works around a jit call)."""
    def call(arrays):
        errors.clear()
        try:
            return run(arrays)
        except Exception:
            if not errors:
                raise
            error = errors[0]
            errors.clear()
            raise error from None
    return call
