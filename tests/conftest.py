import os

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
