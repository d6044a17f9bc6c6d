"""Second derivatives through library functions whose generated backward function vmap
runs once per example (jacrev(grad(f)), vmap(grad(f))): each example's call pops the
stack its forward pass saved on a tape that every example shares. The first example
emptied it and the next raised ``IndexError: pop from empty list`` (issue 11's
``jacrev(grad(f))`` of ``np.concatenate``); each call now gets its own copy of the tape.
References: central differences in float64, and JAX in x64 when installed."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp

import composition_checker as checker


def _concatenate(m):
    def f(x):
        return m.sum(m.sin(m.concatenate([x[:1] * x[1:], x * x])))
    return f


def _split(m):
    def f(x):
        a, b, c = m.split(x * x, [1, 3])
        return m.sum(m.sin(a) * c) + m.sum(m.cos(b) * x[1:3])
    return f


def _array_split(m):
    def f(x):
        p, q, r = m.array_split(x * x, 3)
        return m.sum(m.sin(p)) * m.sum(q * m.cos(r))
    return f


def _stack(m):
    def f(x):
        return m.sum(m.sin(m.stack([x * x, x[::-1] * x])) * m.cos(x))
    return f


def _roll(m):
    def f(x):
        return m.sum(m.sin(m.roll(x * x, 1)) * x)
    return f


FUNCS = [_concatenate, _split, _array_split, _stack, _roll]
X = np.array([0.3, -0.7, 1.1, 0.45])
XS = np.array([[0.3, -0.7, 1.1, 0.45], [-0.2, 0.9, 0.6, -1.3], [1.4, 0.1, -0.5, 0.8]])


def _f(fn):
    # A closure over the module: a module passed as an argument is not differentiated
    # through (grad of ``h(snp, x)`` reads ``m.sin`` as a constant: zero gradient).
    return fn(snp)


def _hessian_reference(fn, x):
    """Central differences of the gradient, itself checked against those of ``fn``."""
    g = s2s.grad(_f(fn))
    np.testing.assert_allclose(g(x), checker._fd_jacobian(_f(fn), x), rtol=1e-6, atol=1e-8)
    return checker._fd_jacobian(g, x)


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__.strip("_"))
def test_jacrev_of_grad(fn, x64):
    want = _hessian_reference(fn, X)
    jg = s2s.jacrev(s2s.grad(_f(fn)))
    np.testing.assert_allclose(jg(X), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jg(X), jg(X))  # a second call reads an untouched tape
    np.testing.assert_allclose(s2s.jit(jg)(X), want, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__.strip("_"))
def test_vmap_of_grad(fn, x64):
    g = s2s.grad(_f(fn))
    want = np.stack([checker._fd_jacobian(_f(fn), x) for x in XS])
    np.testing.assert_allclose(s2s.vmap(g)(XS), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.jit(s2s.vmap(g))(XS), want, rtol=1e-6, atol=1e-8)
    # vmap of the Hessian: a per-example backward call inside a batched one.
    hs = np.stack([_hessian_reference(fn, x) for x in XS])
    np.testing.assert_allclose(s2s.vmap(s2s.jacrev(g))(XS), hs, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("fn", FUNCS, ids=lambda f: f.__name__.strip("_"))
def test_against_jax(fn, x64):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    with jax.enable_x64(True):
        want = np.asarray(jax.jacrev(jax.grad(fn(jnp)))(X))
    np.testing.assert_allclose(s2s.jacrev(s2s.grad(_f(fn)))(X), want, rtol=1e-10, atol=1e-12)
