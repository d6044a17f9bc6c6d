import os
import zlib

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture
def x64():
    """64-bit mode on for one test (``s2s.config``), restored afterwards."""
    import s2s

    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    try:
        yield
    finally:
        s2s.config.update("enable_x64", old)


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
