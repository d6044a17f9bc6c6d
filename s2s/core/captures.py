"""Captured arrays that ``jit`` reads at each call, even where no argument touches them.

``jit`` passes the arrays a function captures (closure, globals, one step inside)
as arguments of the compiled program, so it sees them rebound or changed in place.
It lifts a captured array where an operation meets it together with a staged value
(``x * W``). An operation on captured arrays and constants alone (``x +
np.sum(W)``, or the backward pass of ``jit(grad(f))``, whose seed ``1`` is a
constant: ``bt * W``) would otherwise run once, while ``jit`` stages, and be
compiled in as a constant that goes stale. So while ``jit`` stages, s2s operations
(primitives and the operators of ``Array``) on a captured array hand it to the
staging trace instead of computing it. NumPy's own operations on a plain NumPy
array (``W.sum()``, ``W * 2``) never reach s2s: their results are constants of the
compiled program (README, "Behaviour worth knowing").

>>> trace_for([np.ones(2)]) is None   # no jit staging in this thread
True
"""
import threading

import numpy as np

__all__ = ["staging", "trace_for", "active"]

_local = threading.local()
active = [0]  # stagings in progress in any thread: the eager fast path reads only this
_count_lock = threading.Lock()


class staging:
    """Context: ``trace`` (whose ``is_captured(array)`` says what it lifts) stages in
    this thread; ``None`` changes nothing."""

    def __init__(self, trace):
        self.trace = trace

    def __enter__(self):
        if self.trace is not None:
            stack = _local.__dict__.setdefault("stack", [])
            stack.append(self.trace)
            with _count_lock:
                active[0] += 1
        return self.trace

    def __exit__(self, *exc):
        if self.trace is not None:
            _local.stack.pop()
            with _count_lock:
                active[0] -= 1


def trace_for(args):
    """The trace staging in this thread if one of ``args`` is an array it captured, else None."""
    stack = _local.__dict__.get("stack")
    if not stack:
        return None
    trace = stack[-1]
    for a in args:
        if isinstance(a, np.ndarray) and trace.is_captured(a):
            return trace
    return None
