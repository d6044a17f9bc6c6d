"""The derivative of ``quantile``/``percentile`` in ``q`` (it was silently zero): the
slope between the two order statistics interpolated, for the linear method; zero for
the piecewise-constant methods, as JAX. Checked against central differences (float64)
and jax x64 under grad, jvp, jacfwd/jacrev, vmap and jit."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from cases import jax_x64

X = onp.array([[0.3, -1.2, 2.5, 0.7, 1.9, -0.4],
               [1.1, 0.2, -2.2, 0.9, 3.1, 0.05]])

def central_jacobian(f, q, eps=1e-6):
    """d f / d q (f real scalar) by central differences, shaped like ``q``."""
    out = onp.zeros(q.shape)
    for i in onp.ndindex(q.shape):
        e = onp.zeros(q.shape)
        e[i] = eps
        out[i] = (float(f(q + e)) - float(f(q - e))) / (2 * eps)
    return out


CASES = {
    "scalar q": (lambda q: snp.quantile(X, q), onp.array(0.37)),
    "vector q, axis 1": (lambda q: snp.sum(snp.sin(snp.quantile(X, q, axis=1))), onp.array([0.1, 0.55, 0.83])),
    "axis 0 keepdims": (lambda q: snp.sum(snp.quantile(X, q, axis=0, keepdims=True) ** 2), onp.array(0.42)),
    "percentile": (lambda q: snp.sum(snp.percentile(X, q, axis=1) ** 2), onp.array([12.0, 61.0])),
    "q and data": (lambda q: snp.sum(snp.quantile(X * q[0], q, axis=1)), onp.array([0.3, 0.71])),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_grad_jvp_and_jacobians_in_q(name, x64):
    f, q = CASES[name]
    expected = central_jacobian(f, q)
    onp.testing.assert_allclose(s2s.grad(f)(q), expected, rtol=1e-7, atol=1e-9)
    onp.testing.assert_allclose(s2s.jit(s2s.grad(f))(q), expected, rtol=1e-7, atol=1e-9)
    t = onp.linspace(0.5, 1.5, q.size).reshape(q.shape)
    _, tangent = s2s.jvp(f, (q,), (t,))
    onp.testing.assert_allclose(tangent, onp.sum(expected * t), rtol=1e-7, atol=1e-9)
    onp.testing.assert_allclose(s2s.jacfwd(f)(q), expected, rtol=1e-7, atol=1e-9)
    onp.testing.assert_allclose(s2s.jacrev(f)(q), expected, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("method", ["lower", "higher", "nearest", "midpoint"])
def test_piecewise_constant_methods_have_zero_slope(method, x64):
    f = lambda q: snp.quantile(X, q, method=method)  # noqa: E731
    assert s2s.grad(f)(onp.array(0.37)) == 0.0
    assert s2s.jvp(f, (onp.array(0.37),), (onp.array(1.0),))[1] == 0.0


def test_vmap_of_grad_in_q_matches_a_loop(x64):
    f = lambda q: snp.quantile(X, q, axis=1)[1] ** 2  # noqa: E731
    qs = onp.array([0.05, 0.3, 0.62, 0.97])
    expected = onp.stack([s2s.grad(f)(q) for q in qs])
    onp.testing.assert_allclose(s2s.vmap(s2s.grad(f))(qs), expected, rtol=1e-12)
    onp.testing.assert_allclose([central_jacobian(f, q) for q in qs], expected, rtol=1e-7)


def test_against_jax(x64):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    q = onp.array([0.1, 0.55, 0.83])
    ours = s2s.grad(lambda q: snp.sum(snp.sin(snp.quantile(X, q, axis=1))))(q)
    with jax_x64(jax):
        theirs = jax.grad(lambda q: jnp.sum(jnp.sin(jnp.quantile(jnp.asarray(X), q, axis=1))))(q)
    onp.testing.assert_allclose(ours, onp.asarray(theirs), rtol=1e-10)
