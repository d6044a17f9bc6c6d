"""``jacfwd``, ``jacrev``, ``hessian``: against central differences (float64), against
each other, JAX's pytree layout, ``has_aux``, ``jit`` of each, and ``vmap`` of ``jvp``."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp


@pytest.fixture
def x64():
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    try:
        yield
    finally:
        s2s.config.update("enable_x64", old)


def vec_fn(x):
    y = snp.exp(-2.0 * x)
    out = (1.0 - y) / (1.0 + y) * snp.sum(x)
    if snp.sum(x) > 0:
        out = out * snp.sin(x[0])
    return out


def matrix_fn(M, v):
    h = snp.tanh(M @ v)
    for _ in range(2):
        h = h * h + v[:2]
    return h


def scalar_fn(x):
    return snp.log(snp.sum(snp.exp(snp.tanh(x) * x)))


def fd_jacobian(f, x, h=1e-6):
    cols = []
    for k in range(x.size):
        e = np.zeros(x.size)
        e[k] = h
        e = e.reshape(x.shape)
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * h))
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


X = np.array([0.3, -0.2, 0.5, 1.1])


@pytest.mark.parametrize("jac", [s2s.jacfwd, s2s.jacrev], ids=["jacfwd", "jacrev"])
def test_jacobian_matches_finite_differences(jac, x64):
    np.testing.assert_allclose(jac(vec_fn)(X), fd_jacobian(vec_fn, X), rtol=1e-6, atol=1e-8)
    M = np.arange(8.0).reshape(2, 4) / 10.0
    np.testing.assert_allclose(jac(matrix_fn)(M, X), fd_jacobian(lambda m: matrix_fn(m, X), M),
                               rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(jac(matrix_fn, argnums=1)(M, X), fd_jacobian(lambda v: matrix_fn(M, v), X),
                               rtol=1e-6, atol=1e-8)


def test_jacfwd_and_jacrev_agree_on_pytrees(x64):
    def g(p, x):
        return {"a": snp.tanh(p["w"] @ x), "b": snp.sum(p["w"]) * x[0]}
    p = {"w": np.arange(12.0).reshape(3, 4) / 10.0}
    jf = s2s.jacfwd(g, argnums=(0, 1))(p, X)
    jr = s2s.jacrev(g, argnums=(0, 1))(p, X)
    assert np.shape(jf["a"][0]["w"]) == (3, 3, 4) and np.shape(jf["a"][1]) == (3, 4)
    assert np.shape(jf["b"][0]["w"]) == (3, 4) and np.shape(jf["b"][1]) == (4,)
    for a, b in zip(s2s.tree_util.tree_leaves(jf), s2s.tree_util.tree_leaves(jr)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_layout_matches_jax(x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        def gj(p, x):
            return {"a": jnp.tanh(p["w"] @ x), "b": (jnp.sum(p["w"]) * x[0], x)}
        expected = jax.jacfwd(gj, argnums=(0, 1))({"w": jnp.ones((2, 4))}, jnp.asarray(X))
    finally:
        jax.config.update("jax_enable_x64", old)

    def g(p, x):
        return {"a": snp.tanh(p["w"] @ x), "b": (snp.sum(p["w"]) * x[0], x)}
    got = s2s.jacrev(g, argnums=(0, 1))({"w": np.ones((2, 4))}, X)
    assert s2s.tree_util.tree_structure(got) == s2s.tree_util.tree_structure(
        jax.tree_util.tree_map(np.asarray, expected))
    for a, b in zip(s2s.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(expected)):
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_hessian_matches_finite_differences_of_grad(x64):
    H = s2s.hessian(scalar_fn)(X)
    np.testing.assert_allclose(H, fd_jacobian(s2s.grad(scalar_fn), X), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(H, H.T, rtol=1e-12)


def test_compositions_to_third_order(x64):
    J2 = s2s.jacfwd(s2s.jacrev(vec_fn))(X)
    np.testing.assert_allclose(J2, fd_jacobian(s2s.jacrev(vec_fn), X), rtol=1e-6, atol=1e-8)
    J3 = s2s.jacrev(s2s.jacfwd(vec_fn))(X)
    np.testing.assert_allclose(J3, J2, rtol=1e-8, atol=1e-10)
    T = s2s.jacfwd(s2s.hessian(scalar_fn))(X)
    np.testing.assert_allclose(T, fd_jacobian(s2s.hessian(scalar_fn), X), rtol=1e-5, atol=1e-7)


def test_has_aux():
    def f(x):
        return x * 2.0, {"n": snp.sum(x)}
    for jac in (s2s.jacfwd, s2s.jacrev):
        J, aux = jac(f, has_aux=True)(np.ones(2, np.float32))
        np.testing.assert_allclose(J, 2.0 * np.eye(2))
        np.testing.assert_allclose(aux["n"], 2.0)


@pytest.mark.parametrize("jac", [s2s.jacfwd, s2s.jacrev, s2s.hessian], ids=["jacfwd", "jacrev", "hessian"])
def test_jit_of_jacobians(jac):
    x = X.astype(np.float32)
    f = scalar_fn if jac is s2s.hessian else (lambda v: matrix_fn(np.ones((2, 4), np.float32), v))
    np.testing.assert_allclose(s2s.jit(jac(f))(x), jac(f)(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("jac", [s2s.jacfwd, s2s.jacrev, s2s.hessian], ids=["jacfwd", "jacrev", "hessian"])
def test_jit_of_jacobians_stages_the_basis(jac):
    """Under jit the standard basis is built in the program: the compiled function takes
    the argument and the captured matrix only, no identity or product of it with M."""
    M = np.linspace(-1.0, 1.0, 24 * 20, dtype=np.float32).reshape(24, 20)
    x = np.linspace(-1.0, 1.0, 20, dtype=np.float32)
    f = (lambda v: snp.sum(snp.tanh(M @ v))) if jac is s2s.hessian else (lambda v: snp.tanh(M @ v))
    jf = s2s.jit(jac(f))
    assert [a.shape for a in jf.lower(x).in_avals] == [(20,), (24, 20)]
    np.testing.assert_allclose(jf(x), jac(f)(x), rtol=1e-4, atol=1e-5)


def test_jit_of_higher_orders_matches_finite_differences(x64):
    """Under jit the primal chain that vmap of a jvp carries (a gradient's tape) is
    computed once, not once per basis vector: still central differences in float64."""
    A = np.linspace(-1.0, 1.0, 24).reshape(6, 4)

    def lse(v):
        z = A @ snp.tanh(v)
        m = snp.max(z)
        return snp.log(snp.sum(snp.exp(z - m))) + m
    H = s2s.jit(s2s.hessian(lse))(X)
    np.testing.assert_allclose(H, fd_jacobian(s2s.grad(lse), X), rtol=1e-6, atol=1e-8)
    T = s2s.jit(s2s.jacfwd(s2s.hessian(scalar_fn)))(X)
    np.testing.assert_allclose(T, fd_jacobian(s2s.hessian(scalar_fn), X), rtol=1e-5, atol=1e-7)


def test_vmap_of_jvp_batches_the_generated_source(x64):
    """vmap of a function calling s2s.jvp: the jvp source is vmapped, not looped over."""
    basis = np.eye(4)
    cols = s2s.vmap(lambda t: s2s.jvp(vec_fn, (X,), (t,))[1])(basis)
    np.testing.assert_allclose(cols.T, fd_jacobian(vec_fn, X), rtol=1e-6, atol=1e-8)


def test_errors():
    with pytest.raises(TypeError, match="real- or complex"):
        s2s.jacfwd(lambda n: n * 2)(3)


def test_hessian_of_a_function_without_source_that_slices(x64):
    # Traced, the slice records lax.pad(t, 0, ...); the tangent of that Python 0 was an
    # int32 array that pad refused against the float operand.
    namespace = {"np": s2s.numpy}
    exec("def f(x):\n    return np.sum(np.sin(x[1:]) * x[:-1])\n", namespace)
    x = np.linspace(0.1, 1.0, 4)
    want = np.diag(np.cos(x[1:]), 1) + np.diag(np.cos(x[1:]), -1) \
        + np.diag(np.concatenate([[0.0], -np.sin(x[1:]) * x[:-1]]))
    np.testing.assert_allclose(s2s.hessian(namespace["f"])(x), want, rtol=1e-10, atol=1e-12)
