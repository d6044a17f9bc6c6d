"""Builds of recorded functions, shared by recordings that compute the same function.

A call without usable source is recorded (``s2s.trace.record``) and the recording is
transformed like user code. A loop's derivative under ``vmap`` differentiates its vmapped
body through a recording at every step (``jacrev``/``hessian`` through ``lax.scan``):
each step's recording is a new function with the same text, its constants new views of
the same arrays (``W.T`` of a closure's ``W``), and building its vjp or jvp cost
15-60 ms a step, ten times the step itself. Equal text over the same constants is the
same function, so its build is reused.

A cached build keeps its recording's constants alive, so the cache is bounded in entries
and in the bytes of their arrays (a loop whose captured arrays are new at every call
must not pile them up).
"""
import collections
import threading
import types

import numpy as np

from s2s.core.array import Array

_CACHE = collections.OrderedDict()  # key -> (build, recording, bytes of its arrays)
MAX_ENTRIES, MAX_BYTES = 128, 64 << 20
_lock = threading.Lock()


def _constant_key(value):
    """What a recording's constant contributes to its identity (None: not cacheable). An
    array counts by the memory it reads (two views of the same bytes are equal whatever
    is written there later), never by its values."""
    if isinstance(value, (types.ModuleType, types.FunctionType, type)):
        return "is", id(value)  # kept alive by the cached recording, so the id stays its
    if value is None or type(value) in (bool, int, float, complex, str) or isinstance(value, np.dtype):
        return "value", type(value), value
    if type(value) in (np.ndarray, Array) and value.dtype.kind in "biufc":
        return "memory", value.__array_interface__["data"][0], value.shape, value.strides, value.dtype.str
    return None  # a staged value, an object: equal only to itself, and not to be kept alive


def build(builder, rec, active_params):
    """``builder(rec.fn, active_params)`` (``vjp_builder.build_vjp``, ``forward.build_jvp``)
    for recording ``rec``, or the build of an earlier recording of the same source over
    the same constants.

    >>> import numpy as onp
    >>> from s2s.trace.record import record
    >>> from s2s.transforms import vjp_builder
    >>> w = onp.ones(2)
    >>> recs = [record(lambda x: x * w.T, [onp.zeros(2)], {}) for _ in range(2)]
    >>> build(vjp_builder.build_vjp, recs[0], ("x0",)) is build(vjp_builder.build_vjp, recs[1], ("x0",))
    True
    """
    values = [c.cell_contents for c in rec.fn.__closure__ or ()]
    keys = tuple(_constant_key(v) for v in values)
    if None in keys:
        return builder(rec.fn, active_params)
    key = (builder, rec.source, rec.fn.__code__.co_freevars, keys, tuple(active_params))
    with _lock:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit[0]
    made = builder(rec.fn, active_params)
    size = sum(v.nbytes for v in values if isinstance(v, np.ndarray))
    with _lock:
        _CACHE[key] = (made, rec, size)
        total = sum(entry[2] for entry in _CACHE.values())
        while len(_CACHE) > MAX_ENTRIES or total > MAX_BYTES:
            total -= _CACHE.popitem(last=False)[1][2]
    return made
