"""Derivatives through function values that carry differentiated values.

A function made inside the differentiated function from the differentiated value (a local
``def`` or lambda reading it, a ``functools.partial`` over it, an alias of either, and
what ``s2s.vmap``/``s2s.checkpoint``/``s2s.grad`` make of them) carries that value into
the call. Reverse and forward mode saw only the call's arguments there, so each of these
gave a zero derivative, silently (grad of ``sum(vmap(lambda v: sin(x) * v)(e))`` was 0).
Now the value is tracked through the function (``activity``: a local function is made
from what it reads) and such calls are recorded on their arguments (exact), or refused
with a clear error.
"""
import functools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp

E = np.eye(4)
X = np.array([0.3, 0.5, 0.1, -0.2])


def _h(x, v):
    return snp.sin(x) * v


def partial_called(x):
    fn = functools.partial(_h, x)
    return snp.sum(fn(E) * E[1])


def vmap_of_partial(x):
    return snp.sum(s2s.vmap(functools.partial(_h, x))(E) * E[2])


def lambda_alias(x):
    inner = lambda v: snp.sin(x) * v  # noqa: E731
    fn = inner
    return snp.sum(fn(E) * E[0])


def vmap_of_local_def(x):
    def inner(v):
        return snp.sin(x) * v
    return snp.sum(s2s.vmap(inner)(E) * E[3])


def vmap_of_lambda(x):
    return snp.sum(s2s.vmap(lambda v: snp.sin(x) * v)(E) * E[1])


def checkpoint_of_local_def(x):
    def inner(v):
        return snp.sin(x) * v
    return snp.sum(s2s.checkpoint(inner)(E) * E[2])


def grad_of_local_def(x):
    def inner(v):
        return snp.sum(snp.sin(x) * v * v)
    return snp.sum(s2s.grad(inner)(E[0] + 1.0) * E[0])


def lax_map_of_local_def(x):
    def inner(v):
        return snp.sin(x) * v
    return snp.sum(s2s.lax.map(inner, E) * E[3])


FUNCTIONS = [partial_called, vmap_of_partial, lambda_alias, vmap_of_local_def, vmap_of_lambda,
             checkpoint_of_local_def, grad_of_local_def, lax_map_of_local_def]


def _central_gradient(f, x, eps=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        d = np.zeros_like(x)
        d[i] = eps
        out[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return out


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_grad_through_a_function_value_carrying_x(f, x64):
    want = _central_gradient(f, X)
    assert np.abs(want).max() > 0.1  # the derivative that was lost
    np.testing.assert_allclose(s2s.grad(f)(X), want, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("f", FUNCTIONS, ids=lambda f: f.__name__)
def test_jvp_through_a_function_value_carrying_x(f, x64):
    t = np.array([0.7, -0.4, 1.1, 0.5])
    want = _central_gradient(f, X) @ t
    _, got = s2s.jvp(f, (X,), (t,))
    np.testing.assert_allclose(got, want, rtol=1e-7, atol=1e-9)


def test_jvp_of_vmap_over_a_closure_matrix_output(x64):
    _, got = s2s.jvp(lambda x: s2s.vmap(lambda v: snp.sin(x) * v)(E), (X,), (E[2],))
    np.testing.assert_allclose(got, np.diag(np.cos(X) * E[2]), rtol=1e-12)


def test_jit_of_a_closure_inside_grad_is_refused_clearly(x64):
    def f(x):
        def inner(v):
            return snp.sin(x) * v
        return snp.sum(s2s.jit(inner)(E))
    with pytest.raises(s2s.errors.S2SError, match="inner"):
        s2s.grad(f)(X)
