"""Where the time of one jit cache hit goes: ``f(x) = x + 1`` on float32[3].

    PYTHONPATH=. python benchmarks/dispatch_breakdown.py

Each row adds one step of s2s's hit path to the row above; the JAX rows are the
same call through ``jax.jit`` (when jax is installed). Times are this thread's CPU
time (``time.thread_time``), the minimum over alternating rounds: on a shared
machine time spent descheduled is left out, so the steps stay apart by more than
the noise. The steps:

* jaxlib's C++ call (``PjitFunction``, the one ``jax.jit`` calls): signature check,
  put of the NumPy argument, run, result buffer (what JAX returns)
* the result's memory through jaxlib's buffer protocol (``memoryview``)
* ``numpy.asarray`` of it, then ``.view(s2s.Array)``: s2s returns host arrays
* ``JitFunction.__call__``: s2s's own signature check (shape, dtype with its byte
  order, type), which also keeps byte-swapped arrays from the C++ side (it reads
  an array's bytes in native order whatever its dtype says)
"""
import os
import sys
import time

import numpy as onp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import s2s  # noqa: E402
from s2s.core.array import Array  # noqa: E402


def best_of(fns, rounds=15, number=20000):
    """Minimum thread CPU seconds per call of each ``fns[name]()`` over alternating rounds."""
    best = {name: float("inf") for name in fns}
    for fn in fns.values():
        fn()
    for _ in range(rounds):
        for name, fn in fns.items():
            t0 = time.thread_time()
            for _ in range(number):
                fn()
            best[name] = min(best[name], (time.thread_time() - t0) / number)
    return best


def main():
    x = onp.ones(3, onp.float32)
    f = s2s.jit(lambda v: v + 1)
    f(x)
    [compiled] = f._cache.values()
    cpp = compiled.executable.cpp_call()
    if cpp is None:
        print("this jaxlib has no C++ dispatch: s2s's Python path serves every call")
        return
    asarray = onp.asarray
    fns = {
        "jaxlib C++ call (result buffer)": lambda: cpp(x),
        "+ memoryview (buffer protocol)": lambda: memoryview(cpp(x)),
        "+ numpy.asarray": lambda: asarray(memoryview(cpp(x))),
        "+ .view(s2s.Array)": lambda: asarray(memoryview(cpp(x))).view(Array),
        "+ JitFunction.__call__ = s2s.jit": lambda: f(x),
    }
    try:
        import jax
        jf = jax.jit(lambda v: v + 1)
        fns["jax.jit (NumPy in, Array out)"] = lambda: jf(x)
        fns["jax.jit (NumPy in, NumPy out)"] = lambda: asarray(jf(x))
    except ImportError:
        pass
    best = best_of(fns)
    full = best["+ JitFunction.__call__ = s2s.jit"]
    previous = None
    for name, seconds in best.items():
        step = "" if previous is None or name.startswith("jax.jit") else f"  (+{(seconds - previous) * 1e6:.2f})"
        ratio = f"  s2s.jit / this = {full / seconds:.2f}x" if name.startswith("jax.jit") else ""
        print(f"{name:36s} {seconds * 1e6:6.2f} us{step}{ratio}")
        previous = seconds


if __name__ == "__main__":
    main()
