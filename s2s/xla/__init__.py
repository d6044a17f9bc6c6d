"""The XLA runtime: jaxlib's PJRT client, device buffers, compiled executables.

Every use of jaxlib's (private) Python surface lives in this package, so moving
to another client changes only this package: ``runtime`` (the client, single-device
dispatch), ``platforms`` (CPU or the CUDA plugin), ``sharding`` and ``spmd`` (meshes,
sharded arrays, computations partitioned by XLA over several devices), ``placement``
(jit's shardings per argument and result), ``distributed`` (several processes),
``lapack`` and ``gpu_targets`` (custom-call kernels).
"""
from s2s.xla.runtime import Executable, compile_module, default_device, backend_name  # noqa: F401
