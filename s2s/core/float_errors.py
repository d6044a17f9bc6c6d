"""NumPy's floating-point warnings from eager s2s code, reported at the user's line.

NumPy reports a floating-point error of a ufunc (``divide by zero encountered in
log``) at the Python line that called the ufunc. When the user calls
``s2s.numpy.log(0.0)`` that line is inside s2s (``s2s/lax/elementwise.py``), which
tells the user nothing and, under Python's default filter, shows one warning for
all their lines together. So while s2s computes eagerly (``Primitive.eager`` and
the operators of ``Array``), each category the user's NumPy settings say to
``warn`` is switched to ``call`` a handler that issues that same warning with
``warnings.warn_explicit`` at the first frame outside s2s, NumPy and SciPy; a
frame of generated code counts as the user's line it came from. ``s2s.scipy``
gives its infinities (``xlogy(1, 0)``, ``logit(0)``) without a warning, as SciPy
does. Every other
setting (``np.errstate(divide="ignore")``, ``"raise"``, a filter turning
warnings into errors) works as it does with NumPy alone.

>>> import warnings, s2s.numpy as snp
>>> with warnings.catch_warnings(record=True) as caught:
...     warnings.simplefilter("always")
...     _ = snp.log(0.0)
>>> str(caught[0].message), caught[0].filename.startswith("<doctest")
('divide by zero encountered in log', True)

NumPy keeps these settings in a context variable (private to NumPy, pinned in
setup.py); without it the warnings stay where NumPy puts them.
"""
import functools
import os
import sys
import warnings

import numpy as np

try:
    from numpy._core._ufunc_config import _extobj_contextvar as _STATE
except ImportError:  # another NumPy: its own locations, nothing wrong
    _STATE = None

__all__ = ["enter", "leave", "set_generated_lookup"]


def _package_dir(file):
    return os.path.dirname(os.path.abspath(file)) + os.sep


_S2S_DIR = _package_dir(os.path.dirname(os.path.abspath(__file__)))
# Frames in these directories are never the user's line (SciPy's is added once imported).
_LIBRARY_DIRS = (_S2S_DIR, _package_dir(np.__file__))
_SCIPY_DIR = None
_QUIET_DIR = os.path.join(_S2S_DIR, "scipy") + os.sep
# id(NumPy settings object) -> (that object, {name: settings to use, or None})
_overrides = {}
_NOT_BUILT = object()
_generated_lookup = None


def set_generated_lookup(lookup):
    """Installs ``lookup(filename, lineno)``: for a line of generated code, the user's
    ``(filename, lineno)`` it came from, or ``()`` if none is known; None for other code
    (``s2s.codegen.origins`` installs it)."""
    global _generated_lookup
    _generated_lookup = lookup


def enter(name):
    """Routes NumPy's floating-point warnings to the user's line while s2s computes
    ``name``; returns a token for ``leave`` (None when nothing changed)."""
    if _STATE is None:
        return None
    current = _STATE.get()
    entry = _overrides.get(id(current))
    if entry is None or entry[0] is not current:
        if len(_overrides) > 64:  # settings objects made by many np.errstate blocks
            _overrides.clear()
        entry = _overrides[id(current)] = (current, {})
    settings = entry[1].get(name, _NOT_BUILT)
    if settings is _NOT_BUILT:
        settings = entry[1][name] = _routed_settings(name)
    return None if settings is None else _STATE.set(settings)


def leave(token):
    """Restores the NumPy settings ``enter`` replaced."""
    if token is not None:
        _STATE.reset(token)


def _routed_settings(name):
    """The current NumPy settings with ``warn`` turned into ``call`` of the reporter
    (None when no category warns, or the user has a ``call``/``log`` handler of their own)."""
    modes = np.geterr()
    if "warn" not in modes.values() or {"call", "log"} & set(modes.values()):
        return None
    routed = {k: "call" for k, v in modes.items() if v == "warn"}
    with np.errstate(call=functools.partial(_report, name), **routed):
        return _STATE.get()


def _report(name, error, flag):
    """NumPy's handler: the warning NumPy would give, at the user's line."""
    where = _user_location(sys._getframe(1))
    if where is None:
        return
    filename, lineno, module_globals = where
    if module_globals is not None:  # what Python's own warnings from C use
        registry = module_globals.setdefault("__warningregistry__", {})
        module = module_globals.get("__name__") or filename
    else:  # a user's line reached through generated code
        registry, module = _registries.setdefault(filename, {}), filename.removesuffix(".py")
    warnings.warn_explicit(f"{error} encountered in {name}", RuntimeWarning, filename, lineno,
                           module=module, registry=registry)


_registries = {}  # user file -> what Python's "default" filter has shown there


def _user_location(frame):
    """``(filename, lineno, globals or None)`` of the first frame, from ``frame``
    outwards, that is neither s2s's nor a library's; a frame of generated code stands
    for the user's line it came from (and is passed over when it has none). None
    inside ``s2s.scipy``: SciPy's functions give their infinities without a warning."""
    outermost = frame
    while frame is not None:
        filename, lineno = frame.f_code.co_filename, frame.f_lineno
        mapped = _generated_lookup(filename, lineno) if _generated_lookup else None
        if mapped:
            filename, lineno = mapped
        if filename.startswith(_QUIET_DIR):
            return None
        if mapped != () and not _in_library(filename):
            return filename, lineno, frame.f_globals if mapped is None else None
        outermost, frame = frame, frame.f_back
    return outermost.f_code.co_filename, outermost.f_lineno, outermost.f_globals


def _in_library(filename):
    global _SCIPY_DIR
    if _SCIPY_DIR is None:
        scipy = sys.modules.get("scipy")
        if scipy is not None:
            _SCIPY_DIR = os.path.dirname(os.path.abspath(scipy.__file__)) + os.sep
    return filename.startswith(_LIBRARY_DIRS) or (_SCIPY_DIR is not None and filename.startswith(_SCIPY_DIR))
