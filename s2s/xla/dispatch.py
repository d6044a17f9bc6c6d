"""jit's dispatch of a cache hit in C++: jaxlib's ``PjitFunction``, driven without jax.

jaxlib ships the C++ function that ``jax.jit`` calls on every call: it reads the
arguments' shapes and dtypes, finds the executable, puts NumPy arguments into device
buffers and runs it, with no Python in between. It asks Python only on a miss (a
signature it has not seen), through a ``cache_miss`` callback that runs the call and
returns what the C++ side keeps for the next ones (the executable, the shardings and
avals of its arguments and results). Here ``cache_miss`` runs the executable
through s2s's own Python path, so both paths give the same buffers.

The C++ side reads three of jax's configuration states (x64, disable_jit, a post
hook); without jax they are unset, so this module installs its own (false, false,
none). When jax is imported it installs its own instead. Only arguments whose
dtypes are not 64-bit take this path: the C++ side narrows 64-bit NumPy inputs
when the x64 state it reads is false, and which object that state comes from
(s2s's or jax's) is not s2s's to know.

>>> available()
True
"""
import collections
import sys
import threading

import numpy as np

_lock = threading.Lock()
_state = {}
# Calls the C++ side passed to Python (its first call of each signature, normally).
misses = [0]

# The fields jaxlib's PjitFunction reads from cache_miss's second result
# (jax's ``MeshExecutableFastpathData``).
_FastpathData = collections.namedtuple("_FastpathData", (
    "xla_executable", "out_pytree_def", "in_shardings", "out_shardings", "out_avals",
    "out_committed", "kept_var_bitvec", "in_device_local_layouts", "const_args"))

_WIDE = frozenset(np.dtype(t) for t in (np.float64, np.int64, np.uint64, np.complex128))


def _jaxlib():
    """jaxlib's ``_jax`` with the configuration states its C++ dispatch reads, or None."""
    if "jax" not in _state:
        with _lock:
            if "jax" not in _state:
                _state["jax"] = _install()
    return _state["jax"]


def _install():
    try:
        from jaxlib import _jax
        # Everything this module uses, looked up now: a jaxlib without one of them
        # leaves dispatch to the Python path rather than failing on a call.
        _, _, config, jax_jit, _ = (_jax.pjit, _jax.PjitFunctionCache, _jax.config, _jax.jax_jit,
                                    _jax.pytree.default_registry())
    except (ImportError, AttributeError):
        return None
    if "jax._src.config" not in sys.modules:  # jax, once imported, sets its own
        jax_jit.set_enable_x64_state(config.Config("s2s_enable_x64", False, include_in_jit_key=True,
                                                   include_in_trace_context=True))
        jax_jit.set_disable_jit_state(config.Config("s2s_disable_jit", False, include_in_jit_key=True,
                                                    include_in_trace_context=True))
        jax_jit.set_post_hook_state(config.Config("s2s_post_hook", None))
    return _jax


def available():
    """Whether this jaxlib has the C++ dispatch s2s drives."""
    return _jaxlib() is not None


class _Key:
    """The C++ cache's key for one executable: compared by identity."""

    __slots__ = ()


def cpp_function(name, loaded, in_avals, out_avals, sharding, execute):
    """A C++ callable ``f(*arrays)`` running ``loaded`` on host arrays of ``in_avals``
    (their dtypes and shapes exactly), giving its result buffers: one buffer for a
    single result, else a tuple. None when this jaxlib has no C++ dispatch or an
    input is 64-bit (see the module's note).

    ``execute(arrays)``: s2s's Python path, giving the result buffers; it serves the
    C++ side's misses (its first call, and any signature it has not seen).
    """
    jax = _jaxlib()
    if jax is None or any(np.dtype(a.dtype) in _WIDE for a in in_avals):
        return None
    registry = jax.pytree.default_registry()
    n_in, n_out = len(in_avals), len(out_avals)
    data = {}

    def run_python(*args):
        outs = execute(list(args))
        return outs[0] if n_out == 1 else tuple(outs)

    def cache_miss(*args, **kwargs):
        misses[0] += 1
        result = run_python(*args)
        if "fastpath" not in data:
            data["fastpath"] = _FastpathData(
                loaded, registry.flatten(result)[1], [sharding] * n_in, [sharding] * n_out,
                list(out_avals), [True] * n_out, [True] * n_in, [None] * n_in, [])
        # The C++ side keeps the fast path for this signature only when the arguments
        # are exactly what was compiled for: it would put an argument of another
        # dtype as it is, not converted.
        exact = not kwargs and len(args) == n_in and all(
            getattr(a, "dtype", None) == av.dtype and getattr(a, "shape", None) == av.shape
            for a, av in zip(args, in_avals))
        fastpath = data["fastpath"] if exact else None
        return result, fastpath, False

    # ``run_python`` also serves the calls made under ``jax.disable_jit()``: the
    # C++ side then calls it instead of the executable.
    return jax.pjit(name, run_python, cache_miss, [], [], _Key(), registry, _no_fallback,
                    jax.PjitFunctionCache(capacity=8))


def _no_fallback(x, sharding, layout):
    # The C++ side puts NumPy arrays and its own buffers itself; anything else
    # never reaches it (s2s's signature check comes first).
    raise TypeError(f"s2s's C++ dispatch got an argument it cannot place: {type(x).__name__}")
