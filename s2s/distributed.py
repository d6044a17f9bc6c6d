"""Several processes sharing one set of devices (``initialize`` before the first computation).

>>> import s2s
>>> s2s.distributed.is_initialized()
False
"""
from s2s.xla.distributed import initialize, is_initialized, shutdown  # noqa: F401

__all__ = ["initialize", "is_initialized", "shutdown"]
