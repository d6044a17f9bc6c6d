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

import numpy

# (module of the originals, module of the twins)
_PAIRS = [
    ("numpy", "s2s.numpy"),
    ("numpy.linalg", "s2s.numpy.linalg"),
    ("numpy.fft", "s2s.numpy.fft"),
    ("scipy.special", "s2s.scipy.special"),
    ("scipy.stats.norm", "s2s.scipy.stats.norm"),
    ("scipy.linalg", "s2s.scipy.linalg"),
    ("math", "s2s.numpy"),
]
_MATH_NAMES = {"fabs": "abs", "pow": "power", "isnan": "isnan", "isinf": "isinf",
               "isfinite": "isfinite", "fsum": "sum"}

_table = None
_modules = None


def _import(name):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def _build():
    table = {}
    modules = {}
    for orig_name, twin_name in _PAIRS:
        orig = _import(orig_name)
        twin = _import(twin_name)
        if orig is None or twin is None:
            continue
        modules[id(orig)] = twin
        for name in dir(orig):
            if name.startswith("_"):
                continue
            twin_attr = _MATH_NAMES.get(name, name) if orig is math else name
            if not hasattr(twin, twin_attr):
                continue
            obj = getattr(orig, name)
            if callable(obj) and not isinstance(obj, type):
                table.setdefault(id(obj), (obj, getattr(twin, twin_attr)))
    return table, modules


def _ensure():
    global _table, _modules
    if _table is None:
        _table, _modules = _build()


def refresh():
    """Rebuilds the table (after adding functions to s2s.numpy)."""
    global _table
    _table = None


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
        import s2s.numpy as snp
        return getattr(snp, getattr(obj, "__name__", ""), None)
    if getattr(obj, "__name__", "") == "jax.numpy":
        import s2s.numpy as snp
        return snp
    return None


def is_foreign_numpy(obj):
    """True for functions of NumPy/SciPy/math that have no s2s twin (yet)."""
    mod = getattr(obj, "__module__", None) or ""
    if isinstance(obj, numpy.ufunc):
        return True
    return mod.split(".")[0] in ("numpy", "scipy", "math") and twin_of(obj) is None
