"""The XLA runtime: jaxlib's PJRT client, device buffers, compiled executables.

Every use of jaxlib's (private) Python surface lives in this package, so moving
to another client (CUDA plugin, several devices) changes only this package.
"""
from s2s.xla.runtime import Executable, compile_module, default_device, backend_name  # noqa: F401
