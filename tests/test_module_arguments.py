"""Calls through an attribute of a value whose type is known only when it runs.

``m.sum(t)`` with ``m`` a parameter once read as the array method ``t.sum`` of the
object ``m`` (``t`` taken for an axis): a module passed in gave a zero gradient, with
no error. Such a receiver is now a function value resolved when it runs. Results are
checked against central differences in float64.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from cases import central_grad

X = np.array([0.3, 0.5, 0.9])
A = np.arange(9.0).reshape(3, 3) / 7


def through_module(m, x):
    return m.sum(m.sin(x))


def through_module_default(x, m=snp):
    return m.sum(m.sin(x)) * m.mean(x)


class Ops:
    """An object whose methods share the names of array methods."""

    def sum(self, v):
        return snp.sum(v ** 2)

    def mean(self, v):
        return snp.mean(snp.sin(v))


def through_object(ops, x):
    return ops.sum(x) + ops.mean(x)


def through_array(a, x):
    # guard: a parameter that is an array keeps its own methods' derivatives
    return snp.sum(a.dot(x) ** 2) + a.sum(axis=0).dot(x)


FUNCTIONS = {
    "module": lambda x: through_module(snp, x),
    "module_default": through_module_default,
    "object": lambda x: through_object(Ops(), x),
    "array": lambda x: through_array(A, x),
}

TRANSFORMS = {
    "grad": s2s.grad,
    "jit_grad": lambda f: s2s.jit(s2s.grad(f)),
    "vmap_grad": lambda f: lambda x: s2s.vmap(s2s.grad(f))(np.stack([x, 2 * x]))[0],
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_gradient_matches_central_differences(x64, name, transform):
    if (name, transform) == ("array", "jit_grad"):
        pytest.skip("jit's conversion calls A.dot on a staged value (a clear ConcretizationError)")
    f = FUNCTIONS[name]
    np.testing.assert_allclose(TRANSFORMS[transform](f)(X), central_grad(f, X), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_jvp_matches_central_differences(x64, name):
    f = FUNCTIONS[name]
    v = np.array([1.0, -2.0, 0.5])
    out, tangent = s2s.jvp(f, (X,), (v,))
    np.testing.assert_allclose(out, f(X), rtol=1e-12)
    np.testing.assert_allclose(tangent, central_grad(f, X) @ v, rtol=1e-7, atol=1e-8)


def test_argnums_past_the_module(x64):
    g = s2s.grad(through_module, argnums=1)(snp, X)
    np.testing.assert_allclose(g, np.cos(X), rtol=1e-12)


def test_hessian_through_a_module(x64):
    # ``m.sum`` is a function value: its gradient code is differentiated again through
    # the rules of dynamic_vjp/apply_pullback (s2s/transforms/dynamic_rules.py), never zeros
    def cube(m, x):
        return m.sum(x ** 3)

    np.testing.assert_allclose(s2s.hessian(lambda x: cube(snp, x))(X), np.diag(6 * X), rtol=1e-12)


def test_local_array_method_keeps_second_order(x64):
    def f(x):
        w = snp.eye(3) * 2.0
        return snp.sum(w.dot(x) ** 2)

    np.testing.assert_allclose(s2s.hessian(f)(X), 8 * np.eye(3), rtol=1e-12)
    assert "dot_grad_rhs" in s2s.source(s2s.grad(f))  # the template, not a call resolved at run time
