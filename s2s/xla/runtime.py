"""Driving jaxlib's PJRT client without jax (checked against jaxlib 0.10.2).

>>> import numpy as np
>>> from s2s.lax.core import ShapedArray
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

from s2s.array import Array
from s2s.config import config

_lock = threading.Lock()
_state = {}


def _xla_client():
    # Imported lazily so `import s2s` stays cheap and jaxlib's logging is quiet.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from jaxlib import xla_client

    return xla_client


def client():
    """The process-wide PJRT client (CPU for now), created on first use."""
    c = _state.get("client")
    if c is None:
        with _lock:
            c = _state.get("client")
            if c is None:
                xc = _xla_client()
                c = xc.make_cpu_client()
                _state["client"] = c
                _state["devices"] = xc.DeviceList(tuple(c.devices()[:1]))
    return c


def default_device():
    """The device that single-device computations run on."""
    return client().devices()[0]


def backend_name():
    """``"cpu"`` today; a GPU plugin client later."""
    return client().platform


def _sharding():
    sh = _state.get("sharding")
    if sh is None:
        xc = _xla_client()
        devices = _state["devices"]

        class _Replicated(xc.SingleDeviceSharding):
            # batched_device_put asks the sharding for these three things.
            def _to_xla_hlo_sharding(self, ndim):
                return xc.HloSharding.replicate()

            @property
            def _internal_device_list(self):
                return devices

            @property
            def memory_kind(self):
                return None

        sh = _Replicated(default_device())
        _state["sharding"] = sh
    return sh


class _PutAval:
    """The attributes jaxlib reads from an abstract value (shape, dtype, ...)."""

    __slots__ = ("shape", "dtype", "weak_type", "ndim")

    def __init__(self, arr):
        self.shape = tuple(arr.shape)
        self.dtype = arr.dtype
        self.weak_type = False
        self.ndim = len(self.shape)


def device_put(array):
    """Host NumPy array -> device buffer (zero copy when 64-byte aligned on CPU)."""
    xc = _xla_client()
    return xc.batched_device_put(
        _PutAval(array), _sharding(), [array], [default_device()],
        enable_x64=bool(config.enable_x64),
    )


class Executable:
    """A compiled XLA computation: flat NumPy arrays in, flat NumPy arrays out."""

    def __init__(self, loaded, text, out_avals):
        self._loaded = loaded
        self.text = text
        # Result handlers built from our own avals: jaxlib then needs nothing
        # from jax (without them it tries to import jax on every call).
        xc = _xla_client()
        self._handlers = [xc.array_result_handler(_PutAval(a), _sharding(), True, _skip_checks=True)
                          for a in out_avals]

    def run(self, arrays):
        """Runs on host arrays (each already of the dtype/shape compiled for)."""
        buffers = [device_put(a) for a in arrays]
        results = self._loaded.execute_sharded(buffers).consume_with_handlers(self._handlers)
        return [np.asarray(r).view(Array) for r in results]

    def hlo_text(self):
        """XLA's optimized HLO, for inspection."""
        return self._loaded.hlo_modules()[0].to_string()

    def cost_analysis(self):
        return self._loaded.cost_analysis()


def compile_module(text, out_avals):
    """Compiles StableHLO module text for the default device.

    ``out_avals``: the shape and dtype of each result, as staging computed them.
    """
    xc = _xla_client()
    c = client()
    loaded = c.compile_and_load(text, _state["devices"], xc.CompileOptions())
    return Executable(loaded, text, out_avals)
