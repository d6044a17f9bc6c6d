"""hessian of functions with non-scalar and pytree outputs (JAX's layout: the output's
shape, then the input's twice), and grad refusing a container output as JAX does."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from cases import central_jacobian

A = np.array([[0.4, -0.2, 0.1], [0.3, 0.5, -0.6]])
X = np.array([0.3, -0.7, 1.1])


def vector_out(x):
    return snp.tanh(A @ x) * snp.sum(x ** 3)


def tree_out(x):
    return {"a": snp.sin(x) * x[0], "b": snp.sum(x ** 2 * snp.cos(x))}


def _fd_hessian(f, x):
    """Central differences of s2s.jacrev(f): one (out..., in, in) block per output leaf."""
    jac = s2s.jacrev(f)
    return central_jacobian(lambda v: np.ravel(np.asarray(jac(v))), x)


@pytest.mark.parametrize("transform", ["eager", "jit"])
def test_hessian_of_a_vector_output(x64, transform):
    h = s2s.hessian(vector_out)
    h = s2s.jit(h) if transform == "jit" else h
    H = np.asarray(h(X))
    assert H.shape == (2, 3, 3)
    np.testing.assert_allclose(H.reshape(6, 3), _fd_hessian(vector_out, X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, np.asarray(s2s.jacfwd(s2s.jacrev(vector_out))(X)), rtol=1e-12)


def test_hessian_of_a_pytree_output(x64):
    H = s2s.hessian(tree_out)(X)
    assert H["a"].shape == (3, 3, 3) and H["b"].shape == (3, 3)
    for k in ("a", "b"):
        fd = central_jacobian(lambda v: np.ravel(np.asarray(s2s.jacrev(tree_out)(v)[k])), X)
        np.testing.assert_allclose(np.reshape(H[k], (-1, 3)), fd, rtol=1e-6, atol=1e-8)


def test_vmap_of_hessian_of_a_vector_output(x64):
    xs = np.random.default_rng(0).normal(size=(4, 3))
    got = s2s.vmap(s2s.hessian(vector_out))(xs)
    want = np.stack([s2s.hessian(vector_out)(x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(s2s.jit(s2s.vmap(s2s.hessian(vector_out)))(xs), want, rtol=1e-12)


def test_hessian_of_a_scalar_output_is_unchanged(x64):
    f = lambda x: snp.sum(snp.tanh(x) ** 2)  # noqa: E731
    H = s2s.hessian(f)(X)
    np.testing.assert_allclose(H, central_jacobian(lambda v: np.asarray(s2s.grad(f)(v)), X),
                               rtol=1e-6, atol=1e-8)


def test_hessian_matches_jax_for_non_scalar_outputs(x64):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy
    from cases import jax_x64
    with jax_x64(jax):
        want = jax.hessian(lambda x: jnp.tanh(A @ x) * jnp.sum(x ** 3))(X)
        want_tree = jax.hessian(lambda x: {"a": jnp.sin(x) * x[0],
                                           "b": jnp.sum(x ** 2 * jnp.cos(x))})(X)
    np.testing.assert_allclose(s2s.hessian(vector_out)(X), want, rtol=1e-10)
    got = s2s.hessian(tree_out)(X)
    for k in ("a", "b"):
        np.testing.assert_allclose(got[k], want_tree[k], rtol=1e-10, atol=1e-12)


def list_of_one(x):
    return [snp.sum(x)]


def dict_of_one(x):
    return {"a": snp.sum(x)}


@pytest.mark.parametrize("fun", [list_of_one, dict_of_one, lambda x: (snp.sum(x),)],
                         ids=["list", "dict", "tuple-lambda"])
@pytest.mark.parametrize("transform", ["eager", "jit", "vmap"])
def test_grad_refuses_a_container_output(fun, transform):
    g = s2s.grad(fun)
    if transform == "jit":
        g = s2s.jit(g)
    elif transform == "vmap":
        g = s2s.vmap(g)
    x = np.stack([X, X]) if transform == "vmap" else X
    with pytest.raises(TypeError, match="returned a (list|dict|tuple)"):
        g(x)


def test_grad_with_aux_may_return_containers_as_aux():
    g, aux = s2s.grad(lambda x: (snp.sum(x), [x, {"y": x}]), has_aux=True)(X)
    np.testing.assert_allclose(g, np.ones(3))
    assert isinstance(aux, list) and isinstance(aux[1], dict)


def ident(v):
    return v


def through_identity(x):
    return snp.sum(snp.sin(x * ident(x[0])))


@pytest.mark.parametrize("transform", ["eager", "jit", "vmap"])
def test_hessian_through_a_helper_whose_tape_is_empty(x64, transform):
    # ident keeps nothing on its tape: the batched backward code of it took the batch size
    # from that empty tape ('no batched array among the arguments')
    h = s2s.hessian(through_identity)
    want = lambda v: central_jacobian(lambda u: np.asarray(s2s.grad(through_identity)(u)), v)  # noqa: E731
    if transform == "vmap":
        xs = np.random.default_rng(1).normal(size=(3, 3))
        np.testing.assert_allclose(s2s.vmap(h)(xs), np.stack([want(v) for v in xs]),
                                   rtol=1e-6, atol=1e-8)
        return
    h = s2s.jit(h) if transform == "jit" else h
    np.testing.assert_allclose(h(X), want(X), rtol=1e-6, atol=1e-8)
