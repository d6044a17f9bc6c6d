"""Transformations applied to s2s's own functions directly (``s2s.vjp(np.sin, x)``, as
JAX users write ``jax.vjp(jnp.sin, x)``): they use the function's derivative rules, never
s2s's own source, and agree with central differences in float64."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s.scipy import special
from cases import central_jacobian

X = onp.array([0.5, 1.0, 2.0])


def _softmax(x):
    e = onp.exp(x - x.max())
    return e / e.sum()


@pytest.mark.parametrize("fn, reference", [(np.sin, onp.sin), (np.tanh, onp.tanh),
                                           (special.expit, lambda x: 1 / (1 + onp.exp(-x)))])
def test_elementwise_functions_directly(x64, fn, reference):
    jac = central_jacobian(reference, X)
    ct = onp.array([1.0, -2.0, 0.5])
    onp.testing.assert_allclose(s2s.vjp(fn, X)[1](ct)[0], ct @ jac, rtol=1e-6)
    onp.testing.assert_allclose(s2s.jvp(fn, (X,), (ct,))[1], jac @ ct, rtol=1e-6)
    onp.testing.assert_allclose(s2s.jacrev(fn)(X), jac, rtol=1e-6, atol=1e-9)
    onp.testing.assert_allclose(s2s.jacfwd(fn)(X), jac, rtol=1e-6, atol=1e-9)


def test_reductions_directly(x64):
    # logsumexp has keyword parameters (axis, b, keepdims, ...): forward mode over its
    # reverse mode (hessian) once failed on them.
    grad = central_jacobian(lambda x: onp.log(onp.sum(onp.exp(x))), X)
    onp.testing.assert_allclose(s2s.vjp(special.logsumexp, X)[1](1.0)[0], grad, rtol=1e-6)
    onp.testing.assert_allclose(s2s.grad(special.logsumexp)(X), _softmax(X), rtol=1e-6)
    p = _softmax(X)
    onp.testing.assert_allclose(s2s.hessian(special.logsumexp)(X), onp.diag(p) - onp.outer(p, p),
                                rtol=1e-6, atol=1e-12)
    onp.testing.assert_allclose(s2s.grad(np.sum)(X), onp.ones(3))
