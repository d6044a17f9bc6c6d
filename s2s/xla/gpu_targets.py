"""The CUDA plugin's custom-call targets (cuSOLVER, ...), registered without importing jax.

``jax_cuda12_plugin`` ships its kernels as Python extension modules (``_solver``,
``_linalg``, ...) whose ``registrations()`` list XLA custom-call targets, as
jaxlib's LAPACK module does for the CPU (see ``lapack.py``). The package's
``__init__`` imports jax, so each extension is loaded straight from its file.

>>> plugin_extensions() == [] or all(p.endswith(".so") for _, p in plugin_extensions())
True
"""
import glob
import importlib.machinery
import importlib.util
import os
import sys

_PACKAGE = "jax_cuda12_plugin"
# Extension modules whose ``registrations()`` name GPU custom-call targets.
_EXTENSIONS = ("_solver", "_hybrid", "_linalg", "_prng", "_sparse")


def plugin_extensions():
    """``[(module name, path)]`` of the plugin's extension modules found on ``sys.path``."""
    found = []
    for entry in sys.path:
        folder = os.path.join(entry or os.getcwd(), _PACKAGE)
        if not os.path.isdir(folder):
            continue
        for name in _EXTENSIONS:
            paths = sorted(glob.glob(os.path.join(folder, name + ".*so")))
            if paths:
                found.append((name, paths[0]))
        break
    return found


def _load_extension(name, path):
    full = f"{_PACKAGE}.{name}"
    loader = importlib.machinery.ExtensionFileLoader(full, path)
    spec = importlib.util.spec_from_file_location(full, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def register(xc):
    """Registers every target the plugin's extensions offer with XLA for "CUDA"; returns their names."""
    names = []
    for name, path in plugin_extensions():
        module = _load_extension(name, path)
        for target, capsule in module.registrations().items():
            # Typed-FFI targets (api_version 1) end in _ffi, as jaxlib's gpu_solver reads them;
            # the hybrid and linalg modules only have FFI targets.
            ffi = target.endswith("_ffi") or name in ("_hybrid", "_linalg")
            xc.register_custom_call_target(target, capsule, platform="CUDA",
                                           api_version=int(ffi))
            names.append(target)
    return names
