"""LAPACK kernels for ``jit`` on CPU: jaxlib's XLA FFI custom-call targets.

jaxlib ships LAPACK routines (``lapack_sgetrf_ffi``, ``lapack_dgesdd_ffi``, ...) as
typed-FFI custom-call targets; a fresh PJRT client knows none of them. This module
registers them once per process, before the first compilation, so StableHLO that
calls them with ``stablehlo.custom_call`` (see ``s2s.lax.linalg``) compiles. The
kernels call the LAPACK that SciPy ships (jaxlib loads it from
``scipy.linalg.cython_lapack``), the same one s2s's eager rules use.

>>> register_lapack_targets()
True
"""
import threading

_lock = threading.Lock()
_state = {"registered": None}


def register_lapack_targets():
    """Registers jaxlib's LAPACK FFI targets with XLA (idempotent); False when unavailable."""
    if _state["registered"] is not None:
        return _state["registered"]
    with _lock:
        if _state["registered"] is None:
            _state["registered"] = _register()
    return _state["registered"]


def prepare_module(text, platform):
    """Registers the LAPACK targets module ``text`` calls, if it calls any.

    Registering loads SciPy's LAPACK, a quarter of a second, so only modules that
    call them pay it. The targets are CPU kernels: on another platform a module
    calling them is refused with a clear error rather than failing inside XLA.
    """
    if "lapack_" not in text:
        return
    if platform != "cpu":
        raise NotImplementedError(
            f"linear algebra that s2s lowers to LAPACK (LU, QR, SVD, eigh, eig, solve, inv, ...) "
            f"under jit runs on the CPU only; on {platform} it is not supported yet (cholesky "
            f"and triangular_solve are). Run it outside jit, or with S2S_PLATFORM=cpu")
    register_lapack_targets()


def _register():
    try:
        import numpy as np
        from jaxlib import lapack, xla_client
    except ImportError:
        return False
    # Loads the LAPACK function pointers from SciPy (jaxlib's ``initialize``).
    lapack.prepare_lapack_call("getrf_ffi", np.float32)
    for platform, entries in lapack.registrations().items():
        for name, capsule, api_version in entries:
            xla_client.register_custom_call_target(name, capsule, platform=platform,
                                                   api_version=api_version)
    return True
