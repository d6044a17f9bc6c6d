"""Which PJRT client runs s2s: jaxlib's CPU client, or the CUDA PJRT plugin.

``S2S_PLATFORM`` (``s2s.config.platform``) chooses: ``cpu``, ``cuda``, or unset
for the GPU when the CUDA plugin is installed and finds one, else the CPU.
``S2S_NUM_CPU_DEVICES=N`` (or XLA's ``--xla_force_host_platform_device_count=N``
in ``XLA_FLAGS``) gives the CPU client N devices. Both are read once, when the
first computation makes the client.

The CUDA plugin (``pip install 's2s[cuda12]'``) ships a PJRT C API library,
``jax_plugins/xla_cuda12/xla_cuda_plugin.so``. Its Python modules import jax,
so s2s never imports them: it finds the library on ``sys.path`` and loads it
through jaxlib's C API client.

>>> find_cuda_plugin() is None or find_cuda_plugin().endswith(".so")
True
"""
import os
import sys

from s2s.core.config import config
from s2s.xla import host_memory

PLATFORMS = ("cpu", "cuda")

# (package directory under a sys.path entry, library name, distribution that ships it)
_CUDA_PLUGINS = (("jax_plugins/xla_cuda12", "xla_cuda_plugin.so", "jax-cuda12-pjrt"),)


def chosen_platform():
    """``config.platform`` checked: ``"cpu"``, ``"cuda"``, or ``""`` (pick the best)."""
    platform = config.platform
    if platform in ("", "auto"):
        return ""
    if platform == "gpu":
        return "cuda"
    if platform not in PLATFORMS:
        raise ValueError(f"S2S_PLATFORM={platform!r} is not a platform s2s knows; use one of "
                         f"{', '.join(PLATFORMS)} (or leave it unset to use a GPU when there is one)")
    return platform


def find_cuda_plugin():
    """The path of the CUDA PJRT plugin's library on ``sys.path``, or None (not imported)."""
    for entry in sys.path:
        for folder, library, _ in _CUDA_PLUGINS:
            path = os.path.join(entry or os.getcwd(), folder, library)
            if os.path.isfile(path):
                return path
    return None


def _plugin_version_problem():
    """Why the installed plugin does not fit this jaxlib, or None."""
    # Only where the plugin's library was found: importing importlib.metadata costs
    # ~15 ms, a sixth of ``import s2s`` once its bytecode is cached.
    import importlib.metadata
    from jaxlib.version import __version__ as jaxlib_version
    for _, _, dist in _CUDA_PLUGINS:
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
        if version.split("+")[0] != jaxlib_version:
            return (f"{dist} {version} is installed but s2s runs jaxlib {jaxlib_version}; "
                    f"install the matching plugin with pip install 's2s[cuda12]'")
    return None


def make_client(xc, distributed=None):
    """The PJRT client for the chosen platform (``distributed``: the multi-process state)."""
    platform = chosen_platform()
    if platform == "cpu":
        return _cpu_client(xc, distributed)
    try:
        return _cuda_client(xc, distributed)
    except _NoCuda as e:
        if platform == "cuda":
            raise RuntimeError(f"S2S_PLATFORM=cuda: {e}") from None
        return _cpu_client(xc, distributed)


class _NoCuda(Exception):
    """The CUDA plugin is absent, mismatched, or finds no GPU."""


def _cuda_client(xc, distributed):
    path = find_cuda_plugin()
    if path is None:
        raise _NoCuda("the CUDA PJRT plugin is not installed (no jax_plugins/xla_cuda12/"
                      "xla_cuda_plugin.so on sys.path); pip install 's2s[cuda12]'")
    problem = _plugin_version_problem()
    if problem:
        raise _NoCuda(problem)
    try:
        if not xc.pjrt_plugin_loaded("cuda"):
            xc.load_pjrt_plugin_dynamically("cuda", path)
        if not xc.pjrt_plugin_initialized("cuda"):
            xc.initialize_pjrt_plugin("cuda")
        options = dict(xc.generate_pjrt_gpu_plugin_options())
        if distributed is not None:
            options.update(node_id=distributed.process_id, num_nodes=distributed.num_processes)
        client = xc.make_c_api_client("cuda", options,
                                      distributed.client if distributed is not None else None)
    except Exception as e:  # no driver, no GPU: XlaRuntimeError/RuntimeError from the plugin
        raise _NoCuda(f"the CUDA plugin at {path} found no usable GPU: {e}") from None
    from s2s.xla import gpu_targets  # optional: only with the CUDA plugin
    gpu_targets.register(xc)
    return client


def _cpu_client(xc, distributed):
    kwargs = {}
    if config.num_cpu_devices:
        if config.num_cpu_devices < 1:
            raise ValueError(f"S2S_NUM_CPU_DEVICES must be at least 1, got {config.num_cpu_devices}")
        kwargs["num_devices"] = config.num_cpu_devices
    if distributed is not None:
        kwargs.update(distributed_client=distributed.client, node_id=distributed.process_id,
                      num_nodes=distributed.num_processes,
                      # Cross-process collectives on CPU go over TCP (gloo).
                      collectives=xc._xla.make_gloo_tcp_collectives(
                          distributed_client=distributed.client,
                          hostname=distributed.local_hostname))
    # Synchronous: an executable runs on the calling thread. jax.jit returns before
    # its results exist (async dispatch), but s2s hands NumPy arrays back, so every
    # call waits for its results anyway; a worker thread would only add a hand-off
    # and a wake-up per call (Newton's while loop on float32[1000]: 43 -> 15 us,
    # x + 1 on float32[1000]: 47 -> 8.5 us on a loaded 2-core machine; large
    # computations still use the intra-op threads, and each device of a
    # multi-device computation still gets its own thread).
    # Which also puts XLA's scratch memory on the caller's heap: keep glibc from
    # trimming it away between calls (s2s.xla.host_memory).
    host_memory.keep_freed_memory()
    return xc.make_cpu_client(asynchronous=False, **kwargs)
