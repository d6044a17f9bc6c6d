"""glibc's malloc thresholds set with the CPU client (s2s/xla/host_memory.py): XLA's
per-call scratch memory stays on the heap between calls instead of being given back
to the OS and faulted in again on the next call."""
import os
import pathlib
import subprocess
import sys

import pytest

import s2s
from s2s.xla import host_memory

ROOT = pathlib.Path(__file__).resolve().parents[1]

glibc_only = pytest.mark.skipif(not host_memory.is_glibc(), reason="sets glibc's malloc only")

# Two 8 MB blocks, the size of jit(jacrev)'s scratch in benchmarks/bench_jacobians.py,
# allocated and freed as a call does: where they come from, and whether freeing them
# shrinks the heap (sbrk(0) moves down: the next call faults the pages back in).
_PROBE = """
import ctypes, numpy as np, s2s
s2s.jit(lambda v: v + 1)(np.ones(3, np.float32))  # makes the CPU client
libc = ctypes.CDLL(None)
libc.malloc.restype = libc.sbrk.restype = ctypes.c_void_p
libc.malloc.argtypes, libc.free.argtypes, libc.sbrk.argtypes = [ctypes.c_size_t], [ctypes.c_void_p], [ctypes.c_long]
blocks = [libc.malloc(8 << 20) for _ in range(2)]
top = libc.sbrk(0)
for b in blocks:
    libc.free(b)
print(all(b < top for b in blocks), libc.sbrk(0) == top)
"""


def _probe(**env):
    environ = {k: v for k, v in os.environ.items()
               if k not in host_memory._USER_SETTINGS and k not in ("GLIBC_TUNABLES", "S2S_TUNE_MALLOC")}
    environ.update(env, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          env=environ, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@glibc_only
def test_scratch_blocks_come_from_the_heap_and_stay():
    on_heap, kept = _probe()
    assert on_heap == "True", "8 MB blocks were mmapped (each call would fault them in)"
    assert kept == "True", "freeing 16 MB trimmed the heap (the next call faults it back in)"


@glibc_only
def test_the_cpu_client_sets_them():
    s2s.jit(lambda v: v + 1)(1.0)  # makes the client if no test has yet
    if s2s.default_backend() == "cpu":
        assert host_memory._done == [not host_memory.user_chose() and s2s.config.tune_malloc]


@glibc_only
@pytest.mark.parametrize("env", [{"MALLOC_TRIM_THRESHOLD_": "131072"},
                                 {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=131072"},
                                 {"MALLOC_TOP_PAD_": "0"}])
def test_the_users_own_settings_are_left_alone(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert host_memory.user_chose()
    assert host_memory._apply() is False


def test_opt_out(monkeypatch):
    monkeypatch.setattr(s2s.config, "tune_malloc", False)
    monkeypatch.setitem(s2s.config._values, "tune_malloc", False)
    assert host_memory._apply() is False
