"""jit's dispatch of a cache hit in C++: jaxlib's ``PjitFunction``, driven without jax.

jaxlib ships the C++ function that ``jax.jit`` calls on every call: it reads the
arguments' shapes and dtypes, finds the executable, puts NumPy arguments into device
buffers and runs it, with no Python in between. It asks Python only on a miss (a
signature it has not seen), through a ``cache_miss`` callback that runs the call and
returns what the C++ side keeps for the next ones (the executable, the shardings and
avals of its arguments and results). Here ``cache_miss`` runs the executable
through s2s's own Python path, so both paths give the same buffers.

The C++ side reads three of jax's configuration states (x64, disable_jit, a post
hook); without jax they are unset, so this module installs its own, which follow
s2s's ``enable_x64`` and ``disable_jit`` (and no post hook). When jax is imported it
installs its own instead. Every C++ signature also holds s2s's two options (a
configuration entry of jaxlib's that is part of the key), so changing either
makes the next call of each signature a miss, which s2s's Python path serves.

Two forms: ``cpp_function`` runs one executable (s2s's Python fast path calls it
after its own signature check); ``jit_entry`` is the whole of a ``jit`` function's
hit path for calls on flat NumPy arrays: the C++ side checks the signature, and
its misses run s2s's Python path, which tells it whether the signature may be
served in C++ from then on (``fastpath``).

>>> available()
True
"""
import collections
import sys
import threading

import numpy as np

from s2s.core.array import Array
from s2s.core.config import config as _s2s_config

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
    # s2s's options in every C++ signature (jax's jit signatures too: a change is
    # then one extra miss there, served from jax's own caches).
    mode = config.Config("s2s_jit_mode", _mode(), include_in_jit_key=True)
    owned = {}
    if "jax._src.config" not in sys.modules:  # jax, once imported, sets its own
        owned["enable_x64"] = config.Config("s2s_enable_x64", bool(_s2s_config.enable_x64),
                                            include_in_jit_key=True, include_in_trace_context=True)
        owned["disable_jit"] = config.Config("s2s_disable_jit", bool(_s2s_config.disable_jit),
                                             include_in_jit_key=True, include_in_trace_context=True)
        jax_jit.set_enable_x64_state(owned["enable_x64"])
        jax_jit.set_disable_jit_state(owned["disable_jit"])
        jax_jit.set_post_hook_state(config.Config("s2s_post_hook", None))
        _state["x64"] = owned["enable_x64"]

    def follow(name, value):
        if name in ("enable_x64", "disable_jit"):
            mode.set_global(_mode())
            if name in owned:
                owned[name].set_global(bool(value))

    _s2s_config.on_change(follow)
    registry = _jax.pytree.PyTreeRegistry()  # tuples, lists, dicts, None, namedtuples
    registry.register_node(_Results, _Results.flatten, _Results.unflatten)
    _state["registry"] = registry
    _state["cache"] = _jax.PjitFunctionCache(capacity=4096)
    return _jax


def _mode():
    return bool(_s2s_config.enable_x64), bool(_s2s_config.disable_jit)


def cpp_x64():
    """The x64 state the C++ side reads now (jax's once jax is imported, else s2s's):
    without it, it narrows 64-bit NumPy inputs, in signatures and in puts."""
    jax_config = sys.modules.get("jax._src.config")
    state = getattr(jax_config, "enable_x64", None) if jax_config is not None else None
    if state is None:
        state = _state.get("x64")
    return bool(state.value) if state is not None else False


def available():
    """Whether this jaxlib has the C++ dispatch s2s drives."""
    return _jaxlib() is not None


class _Key:
    """The C++ cache's key for one executable: compared by identity."""

    __slots__ = ()


class _Results:
    """The result tree the C++ side builds on a hit: one node whose children are the
    result buffers, handed to ``convert`` (which reads them as ``Array``s)."""

    __slots__ = ("convert", "n")

    def __init__(self, convert, n):
        self.convert = convert
        self.n = n

    def flatten(self):
        return (0,) * self.n, self.convert

    @staticmethod
    def unflatten(convert, buffers):
        return convert(buffers)


def _fastpath(loaded, out_pytree_def, n_in, out_avals, sharding):
    n_out = len(out_avals)
    return _FastpathData(loaded, out_pytree_def, [sharding] * n_in, [sharding] * n_out,
                         list(out_avals), [True] * n_out, [True] * n_in, [None] * n_in, [])


def fastpath(loaded, n_in, out_avals, sharding, out_tree, single):
    """What ``jit_entry``'s misses return for a signature the C++ side may serve:
    ``loaded`` run on ``n_in`` host arrays, its results read in place as ``Array``s
    and arranged as ``out_tree`` (``single``: the one result itself)."""
    asarray = np.asarray
    if single:
        def convert(buffers):
            return asarray(memoryview(buffers[0])).view(Array)
    else:
        def convert(buffers):
            return out_tree.unflatten([asarray(memoryview(b)).view(Array) for b in buffers])
    tree = _state["registry"].flatten(_Results(convert, len(out_avals)))[1]
    return _fastpath(loaded, tree, n_in, out_avals, sharding)


def jit_entry(name, python_call, fastpath_for):
    """The C++ callable serving a ``jit`` function's calls, or None without C++ dispatch.

    ``python_call(args, kwargs)``: s2s's Python path (every miss, and every call
    under ``disable_jit``). ``fastpath_for(args, kwargs, x64)``: after a miss, what
    serves that signature in C++ from then on (``fastpath``), or None to keep
    passing it to Python; ``x64``: whether the C++ side narrows 64-bit inputs.
    """
    jax = _jaxlib()
    if jax is None:
        return None

    def cache_miss(*args, **kwargs):
        misses[0] += 1
        try:
            result = python_call(args, kwargs)
        except BaseException:
            # The C++ side would pass this signature to Python for good.
            entry._clear_cache()
            raise
        return result, fastpath_for(args, kwargs, cpp_x64()), False

    def fun(*args, **kwargs):
        return python_call(args, kwargs)

    entry = jax.pjit(name, fun, cache_miss, [], [], _Key(), _state["registry"], _no_fallback,
                     _state["cache"])
    return entry


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
            data["fastpath"] = _fastpath(loaded, registry.flatten(result)[1], n_in, out_avals,
                                         sharding)
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
