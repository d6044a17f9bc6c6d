"""Golden tests: the source s2s generates for the seeds' programs is pinned.

Generated source is part of the product: it must stay readable and identical
from run to run. Regenerate on purpose with ``S2S_UPDATE_GOLDENS=1 pytest
tests/test_golden_source.py`` and review the diff.
"""
import os

import numpy as np
import pytest

import s2s
import seed_programs as seeds

GOLDEN_DIR = os.path.join(os.path.dirname(__file__), "golden")

CASES = {
    "grad_tanh": lambda: s2s.source(s2s.grad(seeds.tanh)),
    "grad_logistic_loss": lambda: s2s.source(s2s.grad(seeds.loss)),
    "grad_mlp_logprob": lambda: s2s.source(s2s.grad(seeds.logprob_fun)),
    "grad_abs_val": lambda: s2s.source(s2s.grad(seeds.abs_val)),
    "jit_abs_val": lambda: s2s.source(s2s.jit(seeds.abs_val)),
    "vmap_predict": lambda: _vmap_source(seeds.predict, (None, 0), _PARAMS, np.ones((3, 2), "f")),
    "vmap_abs_val": lambda: _vmap_source(seeds.abs_val, 0, np.array([-1.0, 2.0], "f")),
    "vmap_newton_sqrt": lambda: _vmap_source(seeds.newton_sqrt, 0, np.array([2.0, 9.0], "f")),
    "vmap_grad_mlp_logprob": lambda: _vmap_source(s2s.grad(seeds.logprob_fun), (None, 0, 0),
                                                  _PARAMS, np.ones((3, 2), "f"),
                                                  np.ones((3, 1), "f")),
    "jvp_tanh": lambda: s2s.jvp_source(seeds.tanh),
    "jvp_mlp_logprob": lambda: s2s.jvp_source(seeds.logprob_fun),
}


_PARAMS = [(np.ones((2, 4), "f"), np.ones(4, "f")), (np.ones((4, 1), "f"), np.ones(1, "f"))]


def _vmap_source(fn, in_axes, *args):
    """vmap's source is made per signature: after a call on ``args``."""
    f = s2s.vmap(fn, in_axes=in_axes)
    f(*args)
    return s2s.source(f)


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_source_matches_golden(name):
    text = CASES[name]()
    path = os.path.join(GOLDEN_DIR, name + ".py.txt")
    if os.environ.get("S2S_UPDATE_GOLDENS") == "1":
        os.makedirs(GOLDEN_DIR, exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
    with open(path) as f:
        expected = f.read()
    assert text == expected, f"generated source for {name} changed; see {path}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_source_is_deterministic(name):
    assert CASES[name]() == CASES[name]()
