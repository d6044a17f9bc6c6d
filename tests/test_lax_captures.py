"""Gradients through ``lax`` control flow whose callables close over the
differentiated argument (issue 16, item 9).

Reverse mode passes such captures to the callables explicitly
(``s2s/transforms/captures.py``); each primitive is checked eagerly and under
``jit`` against central differences in float64.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import central_grad


@pytest.fixture(autouse=True)
def x64():
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


XS = np.array([0.5, -1.0, 2.0])


def scan_sum(w):
    return lax.scan(lambda c, x: (c + w * x, None), 0.0, snp.arange(3.0))[0]


def scan_ys(w):
    def body(c, x):
        c = c * snp.sin(w) + x
        return c, c * w
    c, ys = lax.scan(body, 1.0, XS)
    return c + snp.sum(ys ** 2)


def scan_reverse(w):
    return snp.sum(lax.scan(lambda c, x: (c * w + x, c), w, XS, reverse=True)[1])


def fori(w):
    return lax.fori_loop(0, 3, lambda i, c: c + w * i, 0.0)


def fori_nested_capture(w):
    v = w * w  # a varied local, not the parameter itself
    return lax.fori_loop(0, 4, lambda i, c: snp.cos(c) * v + i, w)


def while_(w):
    return lax.while_loop(lambda c: c[0] < 3, lambda c: (c[0] + 1, c[1] * w), (0, 1.0))[1]


def while_cond_reads(w):
    # the condition reads the capture too (a non-differentiable use)
    return lax.while_loop(lambda c: c < 4.0 * snp.abs(w) + 1.0, lambda c: c * 1.5 + w, 1.0)


def cond_true(w):
    return lax.cond(w > 0, lambda x: x * w, lambda x: x + w, 2.0)


def cond_false(w):
    return lax.cond(w < 0, lambda x: x * w, lambda x: x + w * w, 2.0)


def cond_global_branch(w):
    return lax.cond(w > 0, lambda x: snp.sin(x * w), snp.cos, 2.0)


def switch(w):
    return lax.switch(1, [lambda x: x * w, lambda x: x * w * w, lambda x: x], 2.0)


def map_(w):
    return snp.sum(lax.map(lambda x: snp.tanh(x * w), XS))


def two_args(w, a):
    return lax.fori_loop(0, 3, lambda i, c: c * a + w, 1.0)


FUNS = [scan_sum, scan_ys, scan_reverse, fori, fori_nested_capture, while_, while_cond_reads,
        cond_true, cond_false, cond_global_branch, switch, map_]


@pytest.mark.parametrize("f", FUNS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_grad_wrt_a_captured_value(f, mode):
    w = 0.7
    g = s2s.grad(f)
    if mode == "jit":
        g = s2s.jit(g)
    expected = central_grad(lambda v: f(float(v)), np.array(w))
    got = g(w)
    assert np.asarray(got).dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)
    assert abs(float(expected)) > 1e-3  # the check can fail: the gradient is not zero


@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_both_arguments_through_one_capture(mode):
    g = s2s.grad(two_args, argnums=(0, 1))
    if mode == "jit":
        g = s2s.jit(g)
    gw, ga = g(0.3, 1.2)
    np.testing.assert_allclose(gw, central_grad(lambda v: two_args(float(v), 1.2), np.array(0.3)),
                               rtol=1e-6)
    np.testing.assert_allclose(ga, central_grad(lambda v: two_args(0.3, float(v)), np.array(1.2)),
                               rtol=1e-6)


def test_matches_jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    try:
        jw = jax.grad(lambda w: jax.lax.scan(lambda c, x: (c + w * x, None), 0.0,
                                             jax.numpy.arange(3.0))[0])(1.5)
    finally:
        jax.config.update("jax_enable_x64", False)
    assert float(s2s.grad(scan_sum)(1.5)) == float(jw) == 3.0
