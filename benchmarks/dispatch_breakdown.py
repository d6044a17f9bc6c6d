"""Where the time of one jit cache hit goes: ``f(x) = x + 1`` on float32[3].

    PYTHONPATH=. python benchmarks/dispatch_breakdown.py [--all]

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

Then other ways to read the same result, each against the chosen one (``--all``):

* ``numpy.asarray(buffer)`` and ``ndarray.__new__(Array, ..., memoryview)``: the
  same buffer protocol by other doors (the first quietly gives a 0-d object array
  where the protocol fails, and with jax imported goes through jax's ``__array__``)
* ``is_ready()`` alone: jaxlib's check that a fresh result's computation has
  finished, which the buffer protocol does too; most of its cost
* the data pointer wrapped by ctypes, read-only, no readiness check: what skipping
  the buffer protocol could save; not safe (nothing waits for the computation)
* the bound of a C++ entry point: only a type and byte-order check in Python before
  the C++ call (it cannot be less: the C++ side keys a '>f4' array and an ndarray
  subclass like a plain float32 array)
"""
import ctypes
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


def _alternatives(cpp, x):
    """Other readings of ``cpp(x)``'s result (see the module's note)."""
    asarray, nd_new, ndarray = onp.asarray, onp.ndarray.__new__, onp.ndarray
    shape, dtype = x.shape, x.dtype

    class Held(ctypes.c_char * x.nbytes):
        __slots__ = ("buffer",)

    def pointer_unsafe():
        b = cpp(x)
        held = Held.from_address(b.unsafe_buffer_pointer())
        held.buffer = b
        return nd_new(Array, shape, dtype, memoryview(held).toreadonly())

    def cpp_first(v):
        if type(v) is ndarray and v.dtype.isnative:
            return asarray(memoryview(cpp(v))).view(Array)
        raise TypeError

    return {
        "alt: numpy.asarray(buffer).view": lambda: asarray(cpp(x)).view(Array),
        "alt: ndarray.__new__(Array, memoryview)": lambda: nd_new(Array, shape, dtype, memoryview(cpp(x))),
        "alt: C++ call + is_ready()": lambda: cpp(x).is_ready(),
        "alt: pointer via ctypes, no wait (unsafe)": pointer_unsafe,
        "alt: C++ entry point bound": lambda: cpp_first(x),
    }


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
    if "--all" in sys.argv[1:]:
        fns.update(_alternatives(cpp, x))
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
        other = name.startswith(("jax.jit", "alt:"))
        step = "" if previous is None or other else f"  (+{(seconds - previous) * 1e6:.2f})"
        ratio = f"  s2s.jit / this = {full / seconds:.2f}x" if name.startswith("jax.jit") else ""
        print(f"{name:42s} {seconds * 1e6:6.2f} us{step}{ratio}")
        previous = seconds if not other else previous


if __name__ == "__main__":
    main()
