"""Twins: the s2s counterpart of a NumPy, SciPy or ``math`` object.

User code written against plain ``numpy`` is transformed by resolving each
NumPy function to its s2s twin at transform time (``numpy.exp`` ->
``s2s.numpy.exp``); staged values use the same table in ``__array_function__``.
``jax.numpy`` functions map to their s2s twins too, by name (jax is never imported).

>>> import numpy
>>> import s2s.numpy as snp
>>> twin_of(numpy.tanh) is snp.tanh
True
"""
import importlib
import math
import sys
import threading
import types

import numpy
import s2s.numpy as snp

# (module of the originals, module of the twins)
_PAIRS = [
    ("numpy", "s2s.numpy"),
    ("numpy.linalg", "s2s.numpy.linalg"),
    ("numpy.fft", "s2s.numpy.fft"),
    ("scipy.special", "s2s.scipy.special"),
    ("scipy.stats.norm", "s2s.scipy.stats.norm"),
    ("scipy.linalg", "s2s.scipy.linalg"),
    ("scipy", "s2s.scipy"),  # so that ``scipy.linalg.expm`` after ``import scipy.linalg`` resolves
    ("math", "s2s.numpy"),
]
_MATH_NAMES = {"fabs": "abs", "pow": "power", "isnan": "isnan", "isinf": "isinf",
               "isfinite": "isfinite", "fsum": "sum"}

_table = {}
_modules = {}
_pending = list(_PAIRS)
_seen_modules = -1
_lock = threading.RLock()  # an import inside _ensure may come back to it


def _import(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _loaded_original(name):
    """The object called ``name`` if its module is imported already, else None.

    A user can only hand us objects of modules that are imported, so pairs wait
    until their module appears: importing scipy.stats ourselves costs half a second.
    """
    obj = sys.modules.get(name)
    if obj is None:
        parent, _, attr = name.rpartition(".")
        obj = getattr(sys.modules.get(parent), attr, None) if parent in sys.modules else None
    return obj


def _add(orig, twin):
    _modules[id(orig)] = twin
    # vars(), not dir(): dir() lists NumPy's lazily imported submodules (testing,
    # f2py...), and touching them imports them (a quarter of a second).
    for name, obj in list(vars(orig).items()):
        if name.startswith("_"):
            continue
        twin_attr = _MATH_NAMES.get(name, name) if orig is math else name
        if not callable(obj) or isinstance(obj, (type, types.ModuleType)) or \
                not hasattr(twin, twin_attr):
            continue
        _table.setdefault(id(obj), (obj, getattr(twin, twin_attr)))


def _ensure():
    global _seen_modules
    if not _pending or len(sys.modules) == _seen_modules:
        return
    # One thread fills the table while the others wait: they must neither remove
    # the same pair twice nor return early while a pair is half added.
    with _lock:
        if not _pending or len(sys.modules) == _seen_modules:
            return
        for pair in list(_pending):
            orig = _loaded_original(pair[0])
            if orig is None:
                continue
            _pending.remove(pair)  # first: the import below may come back here
            twin = _import(pair[1])
            if twin is not None:
                _add(orig, twin)
        _seen_modules = len(sys.modules)


def refresh():
    """Rebuilds the table (after adding functions to s2s.numpy)."""
    global _seen_modules
    with _lock:
        _table.clear()
        _modules.clear()
        _pending[:] = _PAIRS
        _seen_modules = -1


def twin_of(obj):
    """The s2s twin of ``obj`` (a function or module), or None."""
    _ensure()
    hit = _table.get(id(obj))
    if hit is not None and hit[0] is obj:
        return hit[1]
    mod = _modules.get(id(obj))
    if mod is not None:
        return mod
    name = getattr(obj, "__module__", None) or ""
    if name.startswith("jax.numpy") or name.startswith("jax._src.numpy"):
        return getattr(snp, getattr(obj, "__name__", ""), None)
    if getattr(obj, "__name__", "") == "jax.numpy":
        return snp
    return None


def is_foreign_numpy(obj):
    """True for functions of NumPy/SciPy/math that have no s2s twin (yet)."""
    mod = getattr(obj, "__module__", None) or ""
    if isinstance(obj, numpy.ufunc):
        return True
    return mod.split(".")[0] in ("numpy", "scipy", "math") and twin_of(obj) is None
