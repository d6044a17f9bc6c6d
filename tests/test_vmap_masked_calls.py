"""A user function called from a branch of a batched ``if`` (or a batched ``while``) runs
for the examples that take the branch: its own batched loops stop for the others.

Before, the callee ran on every example, and a ``while`` that only the examples taking
the branch can finish (``x < 10`` doubling a negative ``x``) never ended. Each case is
checked against a Python loop over examples, eagerly and under jit; the timeout turns a
regression into a failure instead of a hang.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp

pytestmark = pytest.mark.timeout(120)


def doubled_past_ten(x):
    while x < 10.0:  # never ends for x <= 0
        x = x * 2.0
    return x


def positive_branch(x):
    if x > 0:
        return doubled_past_ten(x)
    return x


def both_branches(x):
    if x > 0:
        y = doubled_past_ten(x) + 1.0
    else:
        y = -doubled_past_ten(-x)
    return y


def in_a_while(x):
    y = x
    while y < 100.0:
        if y > 0:
            y = doubled_past_ten(y) * 1.5
        else:
            y = y + 60.0
    return y


def two_levels(x):
    if x > -5.0:
        return positive_branch(x) * 2.0
    return snp.sin(x)


XS = np.array([1.0, -1.0, 3.0, -47.3, 0.25])  # no example on a jump of f
CASES = [positive_branch, both_branches, in_a_while, two_levels]


def _loop(f, xs):
    return np.stack([np.asarray(f(x), np.float64) for x in xs])


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_values_match_a_loop(f):
    want = _loop(f, XS)
    np.testing.assert_allclose(s2s.vmap(f)(XS), want, rtol=1e-6)
    np.testing.assert_allclose(s2s.jit(s2s.vmap(f))(XS), want, rtol=1e-6)


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_per_example_gradients_match_a_loop(f, x64):
    want = _loop(s2s.grad(f), XS)
    np.testing.assert_allclose(s2s.vmap(s2s.grad(f))(XS), want, rtol=1e-10)
    eps = 1e-6
    fd = np.array([(f(x + eps) - f(x - eps)) / (2 * eps) for x in XS])
    np.testing.assert_allclose(want, fd, rtol=1e-5, atol=1e-8)


def test_the_branch_passes_its_mask_to_the_callee():
    g = s2s.vmap(positive_branch)
    g(XS)
    assert "vcall_where(cond, doubled_past_ten, (0,), x)" in s2s.source(g)
