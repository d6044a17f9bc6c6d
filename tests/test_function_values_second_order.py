"""Second order (and jit, vmap) through calls s2s resolves only when the code runs: array
methods of parameters and of captured arrays, modules and functions passed as values,
functions from containers, bound methods of user objects. Reverse mode takes these
calls through ``dynamic_vjp``; its rules (s2s/transforms/dynamic_rules.py) make the
gradient code differentiable again. Every derivative is checked against central
differences of the function itself in float64."""
import collections
import functools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.errors import S2SError
from cases import central_jacobian, jax_x64

X = np.array([0.3, -0.2, 0.5])
A = np.arange(9.0).reshape(3, 3) / 10 - 0.3
FUNCS = {"sin": snp.sin, "cube": lambda v: v ** 3}
FUNC_LIST = [snp.tanh, snp.exp]


class Layer:
    def __init__(self, w):
        self.w = w

    def apply(self, x):
        return snp.tanh(self.w @ x)


LAYER = Layer(A)


def _sum_tanh_dot(m, x):
    return snp.sum(snp.tanh(m.dot(x)))


def _through_module(m, x):
    return m.sum(m.sin(x) * x)


def _apply(f, x):
    return snp.sum(f(x) ** 3)


def _from_dict(fs, x):
    return snp.sum(fs["sin"](x) * fs["cube"](x))


def _layer(layer, x):
    return snp.sum(layer.apply(x) ** 2)


# name -> a scalar function of x alone (parameters other than x bound by the lambda)
CASES = {
    "A.dot of a parameter": lambda x: _sum_tanh_dot(A, x),
    "A.dot captured": lambda x: snp.sum(snp.tanh(A.dot(x))),
    "A.T captured": lambda x: snp.sum(snp.sin(A.T @ x) * x),
    "A.reshape captured": lambda x: snp.sum(A.reshape(9) * snp.tile(x, 3) ** 2),
    "A.sum(axis=0) captured": lambda x: snp.sum(A.sum(axis=0) * x ** 3),
    "x.dot(A)": lambda x: snp.sum(snp.cos(x.dot(A)) * x),
    "module argument": lambda x: _through_module(snp, x),
    "function argument": lambda x: _apply(snp.tanh, x),
    "lambda argument": lambda x: _apply(lambda v: snp.sin(v) * v, x),
    "function from a dict": lambda x: _from_dict(FUNCS, x),
    "function from a list": lambda x: snp.sum(FUNC_LIST[0](x) * FUNC_LIST[1](x)),
    "bound method, captured object": lambda x: snp.sum(LAYER.apply(x) ** 2),
    "bound method, object argument": lambda x: _layer(LAYER, x),
}

TRANSFORMS = {
    "hessian": lambda f: s2s.hessian(f),
    "jacfwd(grad)": lambda f: s2s.jacfwd(s2s.grad(f)),
    "jacrev(grad)": lambda f: s2s.jacrev(s2s.grad(f)),
    "jit(hessian)": lambda f: s2s.jit(s2s.hessian(f)),
}


def _central_hessian(f, x):
    grad = lambda v: central_jacobian(lambda u: np.asarray(f(u)), v, 1e-4)  # noqa: E731
    return central_jacobian(grad, x, 1e-4)


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("case", sorted(CASES))
def test_second_derivative_against_central_differences(x64, case, transform):
    f = CASES[case]
    got = np.asarray(TRANSFORMS[transform](f)(X))
    np.testing.assert_allclose(got, _central_hessian(f, X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", sorted(CASES))
def test_jvp_and_grad_of_grad(x64, case):
    f = CASES[case]
    H = _central_hessian(f, X)
    v = np.array([1.0, -2.0, 0.5])
    _, tangent = s2s.jvp(s2s.grad(f), (X,), (v,))
    np.testing.assert_allclose(tangent, H @ v, rtol=1e-6, atol=1e-7)
    first = s2s.grad(lambda x: s2s.grad(f)(x)[1])(X)
    np.testing.assert_allclose(first, H[1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", sorted(CASES))
def test_vmap_of_grad_against_central_differences(x64, case):
    f = CASES[case]
    xs = np.stack([X, X[::-1] * 0.5])
    grads = s2s.vmap(s2s.grad(f))(xs)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(grads[i], central_jacobian(f, x, 1e-5), rtol=1e-7, atol=1e-8)


# vmap of a hessian batches the primal too: the second-order helpers run once per
# example there (slower), so a few cases stand for the rest
@pytest.mark.parametrize("case", ["A.dot of a parameter", "function from a dict", "module argument"])
def test_vmap_of_hessian_against_central_differences(x64, case):
    f = CASES[case]
    xs = np.stack([X, X[::-1] * 0.5])
    hessians = s2s.vmap(s2s.hessian(f))(xs)
    for i, x in enumerate(xs):
        np.testing.assert_allclose(hessians[i], _central_hessian(f, x), rtol=1e-6, atol=1e-7)


def test_hessian_with_respect_to_the_argument_after_an_array_parameter(x64):
    # the repro: A a parameter not differentiated, A.dot(x) resolved at run time
    got = s2s.hessian(_sum_tanh_dot, argnums=1)(A, X)
    np.testing.assert_allclose(got, _central_hessian(lambda x: _sum_tanh_dot(A, x), X),
                               rtol=1e-6, atol=1e-7)


THIRD_ORDER = {
    "jacfwd(hessian)": lambda f: s2s.jacfwd(s2s.hessian(f)),
    "jacrev(hessian)": lambda f: s2s.jacrev(s2s.hessian(f)),
    "jacrev(jacrev(grad))": lambda f: s2s.jacrev(s2s.jacrev(s2s.grad(f))),
    "grad(grad(grad))": lambda f: lambda x: s2s.grad(
        lambda y: s2s.grad(lambda z: s2s.grad(f)(z)[0])(y)[1])(x),
}


@pytest.mark.parametrize("transform", sorted(THIRD_ORDER))
@pytest.mark.parametrize("case", ["A.dot of a parameter", "function argument"])
def test_third_order_through_a_function_value(x64, case, transform):
    f = CASES[case]
    want = central_jacobian(s2s.hessian(f), X, 1e-5)  # hessian checked above
    got = np.asarray(THIRD_ORDER[transform](f)(X))
    np.testing.assert_allclose(got, want[0, 1] if got.ndim == 1 else want, rtol=1e-6, atol=1e-7)


def test_pytree_result_of_a_function_value(x64):
    def pair(v):
        return {"a": snp.sin(v), "b": (v ** 2, snp.cos(v))}

    def f(g, x):
        out = g(x)
        return snp.sum(out["a"] * out["b"][0]) + snp.sum(out["b"][1])

    h = s2s.hessian(lambda x: f(pair, x))(X)
    np.testing.assert_allclose(h, _central_hessian(lambda x: f(pair, x), X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("case", ["A.dot captured", "A.dot of a parameter", "function argument"])
def test_jit_and_grad_of_jit(x64, case):
    f = CASES[case]
    np.testing.assert_allclose(s2s.jit(f)(X), f(X), rtol=1e-12)
    np.testing.assert_allclose(s2s.grad(s2s.jit(f))(X), central_jacobian(f, X, 1e-5), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.jit(s2s.grad(f))(X), central_jacobian(f, X, 1e-5), rtol=1e-7, atol=1e-8)


def test_against_jax(x64):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    with jax_x64(jax):
        want = jax.hessian(lambda x: jnp.sum(jnp.tanh(jnp.asarray(A).dot(x))))(X)
    got = s2s.hessian(_sum_tanh_dot, argnums=1)(A, X)
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-14)


Point = collections.namedtuple("Point", "a b")


def _build_point(x):
    p = Point(snp.sin(x), x * 2)
    return snp.sum(p.a * p.b)


def _build_point_by_keyword(x):
    p = Point(b=x * 2, a=snp.sin(x))
    return snp.sum(p.a * p.b)


def _point_through_a_helper(x):
    p = _scaled(Point(x, snp.cos(x)), 3.0)
    return snp.sum(p.a ** 2 * p.b)


def _scaled(p, c):
    return Point(p.a * c, p.b)


@pytest.mark.parametrize("f", [_build_point, _build_point_by_keyword, _point_through_a_helper])
def test_namedtuple_constructors(x64, f):
    H = _central_hessian(f, X)
    v = np.array([0.5, 1.0, -1.5])
    g = central_jacobian(f, X, 1e-5)
    out, tangent = s2s.jvp(f, (X,), (v,))
    np.testing.assert_allclose(tangent, g @ v, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.jacfwd(f)(X), g, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.grad(f)(X), g, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.hessian(f)(X), H, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s2s.jacrev(s2s.grad(f))(X), H, rtol=1e-6, atol=1e-7)


def test_namedtuple_constructor_has_a_forward_template():
    # forward mode writes the tangent as the namedtuple of the tangents (no trace, no
    # transposed vjp)
    text = s2s.jvp_source(_build_point)
    assert "dp = type(p)._make(" in text and "transposed_jvp" not in text


def test_namedtuple_tangent_with_a_field_not_differentiated(x64):
    def f(x, c):
        p = Point(x * x, c)
        return snp.sum(p.a * p.b)

    c = np.array([1.0, 2.0, 3.0])
    _, t = s2s.jvp(lambda x: f(x, c), (X,), (np.ones(3),))
    np.testing.assert_allclose(t, np.sum(2 * X * c), rtol=1e-12)
    np.testing.assert_allclose(s2s.hessian(f)(X, c), np.diag(2 * c), rtol=1e-12)


def _getattr_of_a_built_point(x):
    p = Point(x * 2, snp.sin(x))
    return snp.sum(getattr(p, "a") * p.b * x.shape[0]) + getattr(x, "shape")[0]


def test_builtin_getattr_of_a_namedtuple_is_differentiated(x64):
    # getattr(p, "a") was a zero derivative: grad, jvp and hessian came out zero
    f = _getattr_of_a_built_point
    g = central_jacobian(f, X, 1e-5)
    np.testing.assert_allclose(s2s.grad(f)(X), g, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.jvp(f, (X,), (np.ones(3),))[1], g.sum(), rtol=1e-7)
    np.testing.assert_allclose(s2s.hessian(f)(X), _central_hessian(f, X), rtol=1e-6, atol=1e-7)
    grad_p = s2s.grad(lambda p: snp.sum(getattr(p, "a") ** 2))(Point(X, X))
    np.testing.assert_allclose(grad_p.a, 2 * X, rtol=1e-12)
    np.testing.assert_allclose(grad_p.b, 0 * X)


def test_builtin_getattr_of_another_attribute_raises(x64):
    with pytest.raises(Exception, match="attribute .T"):
        s2s.grad(lambda x: snp.sum(getattr(x.reshape(3, 1), "T") ** 2))(X)


@pytest.mark.parametrize("case", ["A.dot of a parameter", "function argument", "module argument"])
def test_jacobians_of_the_gradient_vmap_instead_of_looping(x64, case, loops):
    # jacfwd (jacrev) of the gradient batches the tangents (cotangents) alone: the
    # generated derivative of the gradient of <fn(*args), g> is vmapped once, not run
    # once per basis vector
    f = CASES[case]
    H = _central_hessian(f, X)
    np.testing.assert_allclose(s2s.hessian(f)(X), H, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s2s.jacrev(s2s.grad(f))(X), H, rtol=1e-6, atol=1e-7)
    assert not [name for name in loops if "pullback" in name or "dynamic" in name], loops


def _closure_in_a_list(x):
    fs = [lambda v: v * snp.sin(x)]
    return snp.sum(fs[0](x))


def _partial_of_x(x):
    g = functools.partial(snp.multiply, snp.sin(x))
    return snp.sum(g(x))


def _lambda_capturing_x_passed_on(x):
    return _apply(lambda v: v * snp.sin(x), x)


@pytest.mark.parametrize("f", [_closure_in_a_list, _partial_of_x, _lambda_capturing_x_passed_on])
def test_function_values_carrying_differentiated_values(x64, f):
    # dynamic_vjp/dynamic_jvp differentiate a call's arguments only: a closure or partial
    # over x used to lose the derivative through x (grad, jvp, hessian silently wrong);
    # the transformations now refuse it and trace the call instead
    g = central_jacobian(f, X, 1e-5)
    np.testing.assert_allclose(s2s.grad(f)(X), g, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.jvp(f, (X,), (np.ones(3),))[1], g.sum(), rtol=1e-7)
    np.testing.assert_allclose(s2s.jacfwd(f)(X), g, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(s2s.hessian(f)(X), _central_hessian(f, X), rtol=1e-6, atol=1e-7)


def _complex_value(f, x):
    return snp.sum(snp.abs(f(x)) ** 2)


def test_complex_result_of_a_function_value_raises_at_second_order(x64):
    f = lambda x: _complex_value(lambda v: v * (1.0 + 2.0j), x)  # noqa: E731
    np.testing.assert_allclose(s2s.grad(f)(X), 10 * X, rtol=1e-12)
    with pytest.raises(S2SError, match="complex results"):
        s2s.hessian(f)(X)
