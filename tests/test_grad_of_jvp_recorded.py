"""Reverse mode of a call of ``jvp`` whose function forward mode cannot read: one with
no source (exec'd) and one building a namedtuple (no forward-mode rule for its
constructor). The call of jvp is recorded and the recording differentiated, as jvp
itself and grad fall back; checked against central differences in float64."""
import collections

import numpy as np
import pytest

import s2s

from cases import assert_close, central_grad

pytestmark = pytest.mark.usefixtures("x64")  # conftest's: float64 for the differences

Pair = collections.namedtuple("Pair", "a b")


def _builds_pair(x):
    p = Pair(np.sin(x), x * 2.0)
    return np.sum(p.a * p.b + p[1])


_ns = {"np": np}
exec("def _no_source(x):\n    return np.sum(np.sin(x) * x)\n", _ns)  # noqa: S102 - a function without source
_no_source = _ns["_no_source"]

X = np.array([0.3, -0.7, 1.1])
T = np.array([1.0, -2.0, 0.5])
SUBJECTS = [_builds_pair, _no_source]


def _directional(f, x, t, eps=1e-5):
    return (f(x + eps * t) - f(x - eps * t)) / (2 * eps)


@pytest.mark.parametrize("f", SUBJECTS, ids=lambda f: f.__name__)
def test_grad_of_jvp(f):
    def tangent_out(x):
        return s2s.jvp(f, (x,), (T,))[1]

    want = central_grad(lambda x: _directional(f, x, T), X, eps=1e-4)
    assert_close(s2s.grad(tangent_out)(X), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("f", SUBJECTS, ids=lambda f: f.__name__)
def test_grad_of_jvp_wrt_tangent(f):
    def tangent_out(t):
        return s2s.jvp(f, (X,), (t,))[1]

    # linear in t: its gradient is f's gradient at X
    assert_close(s2s.grad(tangent_out)(T), central_grad(f, X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("f", SUBJECTS, ids=lambda f: f.__name__)
def test_jvp_of_jvp(f):
    def tangent_out(x):
        return s2s.jvp(f, (x,), (T,))[1]

    out, tan = s2s.jvp(tangent_out, (X,), (T,))
    assert_close(out, _directional(f, X, T), rtol=1e-6)
    assert_close(tan, _directional(lambda x: _directional(f, x, T), X, T, eps=1e-4), rtol=1e-5, atol=1e-6)
