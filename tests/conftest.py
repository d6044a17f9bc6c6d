import gc
import os
import zlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def x64():
    """64-bit mode on for one test (``s2s.config``), restored afterwards."""
    from cases import s2s_x64

    with s2s_x64():
        yield


@pytest.fixture(autouse=True)
def _jax_x64_restored():
    """JAX's 64-bit flag is what it was before each test (some comparison tests turn it on
    without restoring it; a later test comparing float32 results then saw float64)."""
    import sys

    jax = sys.modules.get("jax")
    old = jax.config.jax_enable_x64 if jax is not None else None
    yield
    jax = sys.modules.get("jax")
    if jax is not None:
        if old is None:  # jax was imported by this test: its default
            old = os.environ.get("JAX_ENABLE_X64", "").lower() in ("1", "true", "yes")
        if jax.config.jax_enable_x64 != old:
            jax.config.update("jax_enable_x64", old)


@pytest.fixture
def cache_dir(tmp_path):
    """The persistent compilation cache on, in a fresh directory, for one test."""
    import s2s

    path = tmp_path / "cache"
    old = s2s.config.cache_dir
    s2s.config.update("cache_dir", str(path))
    try:
        yield path
    finally:
        s2s.config.update("cache_dir", old)


@pytest.fixture(autouse=True)
def _module_generators_restart_per_test(request):
    """Module-level NumPy generators (``RNG = default_rng(0)``) restart for every test,
    seeded from the test's own id: a test's data must not depend on which tests the
    same xdist worker ran before it, which changes from run to run (a test once drew
    data that made its while loop run forever, on some runs only)."""
    module = getattr(request, "module", None)
    if module is not None:
        seed = zlib.crc32(request.node.nodeid.encode())
        for name, value in list(vars(module).items()):
            if isinstance(value, np.random.Generator):
                setattr(module, name, np.random.default_rng(seed))
            elif isinstance(value, np.random.RandomState):
                setattr(module, name, np.random.RandomState(seed))
    yield


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    """An xdist worker collects its garbage once, then freezes what is left, before it
    reports that it finished. Once the controller then tells it to exit, execnet gives
    it 5 seconds before sending it SIGINT, and pytest's cleanup runs gc.collect() five
    times; over the ~240 000 objects a worker holds at the end (s2s's caches, test
    data) that took 3-5 s on a loaded machine, and the KeyboardInterrupt landed in
    the only Python code running during a collection, jax's ``_xla_gc_callback``
    (a PytestUnraisableExceptionWarning after the last test). Frozen objects are
    not traversed again; garbage made after this point is still collected."""
    if hasattr(session.config, "workerinput"):
        gc.collect()
        gc.freeze()


@pytest.fixture
def loops(monkeypatch):
    """The functions run once per example, by name (every module's ``loop_call`` counted)."""
    import sys

    from s2s.numpy import batching

    seen = []
    original = batching.loop_call

    def counting(fn, axes, args, kwargs, kw_batched=(), where=None):
        seen.append(getattr(fn, "__qualname__", repr(fn)))
        return original(fn, axes, args, kwargs, kw_batched, where=where)
    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "") or "").startswith("s2s") and \
                getattr(module, "loop_call", None) is original:
            monkeypatch.setattr(module, "loop_call", counting)
    return seen
