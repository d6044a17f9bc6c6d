"""glibc's malloc kept from handing XLA's per-call scratch memory back to the OS.

s2s's CPU client runs a computation on the calling thread (``s2s.xla.platforms``),
so XLA's temporary buffers for the call (8 MB for ``jit(jacrev)`` of a 10 -> 1000
map) are allocated and freed on the heap that Python's own objects use. glibc
gives the top of a heap back to the OS whenever its free part exceeds the trim
threshold, which it sets by itself to twice the largest block it has so far seen
freed: with 4 MB buffers that is 8 MB, so depending on what else lies on the
heap, a call frees its scratch, the heap shrinks, and the next call faults the
same memory back in page by page (700-900 page faults a call in
``benchmarks/run.py jacobians``: 857 us against 610 us without them on a 2-core
VM, where JAX's call, which allocates on its worker threads, had none).

``keep_freed_memory()`` fixes the two thresholds at the values glibc's own rule
reaches after a program frees a 32 MB block (its largest): blocks below 32 MB come
from the heap, and a heap keeps up to 64 MB of freed memory rather than returning
it. Applies to the whole process; skipped where the C library is not glibc, where
the user set glibc's malloc options (``MALLOC_*_`` variables, ``GLIBC_TUNABLES``),
and with ``S2S_TUNE_MALLOC=0`` (``s2s.config.tune_malloc``) set before the first
computation.

>>> keep_freed_memory() in (True, False)
True
"""
import ctypes
import os

from s2s.core.config import config

# mallopt's parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# glibc's DEFAULT_MMAP_THRESHOLD_MAX: the ceiling of its dynamic mmap threshold
# (32 MB with 8-byte longs); the trim threshold follows at twice it.
MMAP_THRESHOLD = 4 * 1024 * 1024 * ctypes.sizeof(ctypes.c_long)
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

_USER_SETTINGS = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_",
                  "MALLOC_MMAP_MAX_")

_done = []


def is_glibc():
    """Whether this process's C library is glibc (whose ``mallopt`` this module sets)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):
        return False


def user_chose():
    """Whether the environment already sets glibc's malloc options (then s2s leaves them)."""
    return (any(name in os.environ for name in _USER_SETTINGS)
            or "glibc.malloc." in os.environ.get("GLIBC_TUNABLES", ""))


def keep_freed_memory():
    """Sets glibc's mmap and trim thresholds once per process (see the module's note);
    whether they are set as s2s sets them (True) or left as they were (False)."""
    if not _done:
        _done.append(_apply())
    return _done[0]


def _apply():
    if not config.tune_malloc or not is_glibc() or user_chose():
        return False
    libc = ctypes.CDLL(None)
    # The mmap threshold first: setting either one ends glibc's dynamic adjustment.
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))
