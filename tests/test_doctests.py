"""Every docstring example in s2s runs and shows what it says."""
import doctest
import importlib
import pkgutil

import pytest

import s2s
from s2s.core import primitive as core


def _modules():
    for info in pkgutil.walk_packages(s2s.__path__, "s2s."):
        yield info.name


@pytest.mark.parametrize("name", sorted(_modules()))
def test_docstring_examples(name):
    module = importlib.import_module(name)
    # Examples may define primitives of their own; they must not outlive the example
    # (the rule-coverage test in the same worker would count them).
    before = core.all_primitives()
    try:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        core._registry.clear()
        core._registry.update(before)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
