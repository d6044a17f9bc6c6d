"""``jacfwd``, ``jacrev``, ``hessian``: against central differences (float64), against
each other, JAX's pytree layout, ``has_aux``, ``jit`` of each, and ``vmap`` of ``jvp``."""
import re

import warnings

import numpy as np
import pytest

import s2s
import s2s.numpy as snp


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


def _lse_tanh(A, v):  # a helper: the gradient's tape carries A to its backward pass
    z = A @ snp.tanh(v)
    m = snp.max(z)
    return snp.log(snp.sum(snp.exp(z - m))) + m


def _tensor_sizes(text):
    dims = re.findall(r"tensor<((?:\d+x)*)[a-z]", text)
    return [int(np.prod([int(d) for d in s.split("x") if d])) for s in dims]


def test_jit_hessian_through_a_helper_stages_the_captured_matrix_once(x64):
    """jit(hessian) of a call of a helper given a captured matrix: the matrix, which the
    gradient's tape carries through the batched jvp, stays the captured array (read at
    each call, its transposes staged), not host copies passed as extra arguments that
    miss its rebinding; and its zero tangent is not broadcast over the basis into a
    (n, m, n) product (the largest value is a batch of the m-vector A @ tanh(v))."""
    A = np.linspace(-1.0, 1.0, 7 * 5).reshape(7, 5)
    x = np.linspace(-0.5, 0.8, 5)

    def f(v):
        return _lse_tanh(A, v)
    jh = s2s.jit(s2s.hessian(f))
    lowered = jh.lower(x)
    assert [a.shape for a in lowered.in_avals] == [(5,), (7, 5)]
    assert max(_tensor_sizes(lowered.as_text())) <= 5 * 7  # was 5 * 7 * 5
    np.testing.assert_allclose(jh(x), fd_jacobian(s2s.grad(f), x), rtol=1e-6, atol=1e-8)
    A = A[::-1] * 2.0  # rebound: the next call reads it
    np.testing.assert_allclose(jh(x), fd_jacobian(s2s.grad(f), x), rtol=1e-6, atol=1e-8)


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
    with pytest.raises(TypeError, match="real-valued"):
        s2s.jacfwd(lambda n: n * 2)(3)
    with pytest.raises(TypeError, match="real- or complex"):
        s2s.jacrev(lambda n: n * 2)(3)


def test_hessian_of_a_function_without_source_that_slices(x64):
    # Traced, the slice records lax.pad(t, 0, ...); the tangent of that Python 0 was an
    # int32 array that pad refused against the float operand.
    namespace = {"np": s2s.numpy}
    exec("def f(x):\n    return np.sum(np.sin(x[1:]) * x[:-1])\n", namespace)
    x = np.linspace(0.1, 1.0, 4)
    want = np.diag(np.cos(x[1:]), 1) + np.diag(np.cos(x[1:]), -1) \
        + np.diag(np.concatenate([[0.0], -np.sin(x[1:]) * x[:-1]]))
    np.testing.assert_allclose(s2s.hessian(namespace["f"])(x), want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------
# Keyword arguments pass through undifferentiated (JAX's behaviour), positionally
# for parameters with source and recorded for keyword-only ones.


def _scaled(x, y, s=1.0, t=2.0, *, u=1.0):
    return snp.sin(x) * y * s + t * u * x * x


@pytest.mark.parametrize("jac", [s2s.jacfwd, s2s.jacrev], ids=["jacfwd", "jacrev"])
def test_keyword_arguments_pass_through(jac, x64):
    for kw in ({"s": 3.0}, {"t": 0.5}, {"s": 2.0, "u": -1.5}):
        want = fd_jacobian(lambda v: _scaled(v, X, **kw), X)
        np.testing.assert_allclose(jac(_scaled)(X, X, **kw), want, rtol=1e-6, atol=1e-8)
        want = fd_jacobian(lambda v: _scaled(X, v, **kw), X)
        np.testing.assert_allclose(jac(_scaled, argnums=1)(X, X, **kw), want, rtol=1e-6, atol=1e-8)


def test_hessian_with_keyword_arguments(x64):
    def f(x, s=1.0):
        return snp.sum(x ** 3) * s
    np.testing.assert_allclose(s2s.hessian(f)(X, s=2.0), np.diag(12.0 * X), rtol=1e-12)
    np.testing.assert_allclose(s2s.jit(s2s.hessian(f))(X, s=2.0), np.diag(12.0 * X), rtol=1e-12)


# ---------------------------------------------------------------------------
# Complex numbers, JAX's conventions: forward mode takes real inputs (complex ones as
# holomorphic functions), reverse mode real outputs; holomorphic=True wants complex both.

Z = np.array([1.0 + 2.0j, 0.5 - 1.0j, -0.3 + 0.2j])


def _holo(z):
    return snp.sin(z) * z + snp.exp(z) / (z + 3.0)


def _holo_scalar(z):
    return snp.sum(_holo(z) * z)


def _fd_complex(f, z, h=1e-6):
    """Holomorphic derivative by central differences along the real axis."""
    return np.stack([(np.asarray(f(z + h * e)) - np.asarray(f(z - h * e))) / (2 * h)
                     for e in np.eye(z.size)], axis=-1)


@pytest.mark.parametrize("jac", [s2s.jacfwd, s2s.jacrev], ids=["jacfwd", "jacrev"])
def test_holomorphic_jacobians_match_finite_differences(jac, x64):
    np.testing.assert_allclose(jac(_holo, holomorphic=True)(Z), _fd_complex(_holo, Z),
                               rtol=1e-6, atol=1e-8)
    H = s2s.hessian(_holo_scalar, holomorphic=True)(Z)
    g = s2s.grad(_holo_scalar, holomorphic=True)
    np.testing.assert_allclose(H, _fd_complex(g, Z), rtol=1e-6, atol=1e-8)


def test_jvp_of_complex_functions_matches_finite_differences(x64):
    dz = np.array([0.3 + 0.1j, -1.0 + 0.5j, 0.2j])
    h = 1e-6
    _, got = s2s.jvp(_holo, (Z,), (dz,))
    np.testing.assert_allclose(got, (_holo(Z + h * dz) - _holo(Z - h * dz)) / (2 * h), rtol=1e-6)

    def nonholo(z):  # C -> R, then R -> C
        return snp.exp(1j * snp.abs(z) ** 2)
    _, got = s2s.jvp(nonholo, (Z,), (dz,))
    np.testing.assert_allclose(got, (nonholo(Z + h * dz) - nonholo(Z - h * dz)) / (2 * h),
                               rtol=1e-6)
    _, got = s2s.jit(lambda z, t: s2s.jvp(_holo, (z,), (t,)))(Z, dz)
    np.testing.assert_allclose(got, s2s.jvp(_holo, (Z,), (dz,))[1], rtol=1e-12)


def _real_of_complex(z):
    return snp.abs(z) ** 2 + snp.real(z * z) * snp.imag(z)


def test_complex_conventions_match_jax(x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        def holo(z):
            return jnp.sin(z) * z + jnp.exp(z) / (z + 3.0)

        def real_of_complex(z):
            return jnp.abs(z) ** 2 + jnp.real(z * z) * jnp.imag(z)
        want = {"jacfwd": jax.jacfwd(holo, holomorphic=True)(Z),
                "jacrev": jax.jacrev(holo, holomorphic=True)(Z),
                "hessian": jax.hessian(lambda z: jnp.sum(holo(z) * z), holomorphic=True)(Z),
                "grad": jax.grad(lambda z: jnp.sum(real_of_complex(z)))(Z),
                "jacrev_c2r": jax.jacrev(real_of_complex)(Z)}
    finally:
        jax.config.update("jax_enable_x64", old)
    got = {"jacfwd": s2s.jacfwd(_holo, holomorphic=True)(Z),
           "jacrev": s2s.jacrev(_holo, holomorphic=True)(Z),
           "hessian": s2s.hessian(_holo_scalar, holomorphic=True)(Z),
           "grad": s2s.grad(lambda z: snp.sum(_real_of_complex(z)))(Z),
           "jacrev_c2r": s2s.jacrev(_real_of_complex)(Z)}
    for k in want:
        assert np.asarray(got[k]).dtype == np.asarray(want[k]).dtype, k
        np.testing.assert_allclose(got[k], want[k], rtol=1e-10, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("call,match", [
    (lambda: s2s.jacfwd(snp.sin)(Z), "real-valued .* inputs.*holomorphic=True"),
    (lambda: s2s.hessian(lambda z: snp.sum(snp.abs(z)))(Z), "real-valued .* inputs"),
    (lambda: s2s.jacrev(snp.sin)(Z), "real-valued .* outputs.*holomorphic=True"),
    (lambda: s2s.jacrev(lambda x: snp.exp(1j * x))(X), "real-valued .* outputs"),
    (lambda: s2s.jacfwd(snp.abs, holomorphic=True)(Z), "holomorphic=True requires complex outputs"),
    (lambda: s2s.jacrev(snp.abs, holomorphic=True)(Z), "holomorphic=True requires complex outputs"),
    (lambda: s2s.jacfwd(snp.sin, holomorphic=True)(X), "holomorphic=True requires complex inputs"),
], ids=["jacfwd-complex-in", "hessian-complex-in", "jacrev-complex-out", "jacrev-real-to-complex",
        "jacfwd-holomorphic-real-out", "jacrev-holomorphic-real-out", "holomorphic-real-in"])
def test_complex_errors_as_jax(call, match):
    with pytest.raises(TypeError, match=match):
        call()


def test_jacfwd_of_real_to_complex(x64):
    got = s2s.jacfwd(lambda x: snp.exp(1j * x))(X)
    np.testing.assert_allclose(got, np.diag(1j * np.exp(1j * X)), rtol=1e-12)


# ---------------------------------------------------------------------------
# x.at[...].multiply/divide/power/min/max: first and second derivatives, a repeated
# index included (it multiplies once per occurrence: each factor's derivative is the
# product of the others; the adjoint used to ignore them).

def _at_update(op, a, i, v):
    if op == "multiply":
        return a.at[i].multiply(v)
    if op == "divide":
        return a.at[i].divide(v)
    if op == "power":
        return a.at[i].power(v)
    if op == "min":
        return a.at[i].min(v)
    return a.at[i].max(v)


_AT_OPS = ("multiply", "divide", "power", "min", "max")


@pytest.mark.parametrize("op", sorted(_AT_OPS))
@pytest.mark.parametrize("index", [np.array([0, 2, 2, 5]), np.array([0, 1, 2, 5]), slice(1, 5)],
                         ids=["repeated", "unique", "slice"])
def test_at_update_derivatives(op, index, x64):
    from cases import central_grad
    def f(v):
        base = snp.exp(v) if op == "power" else snp.sin(v)
        return snp.sum(_at_update(op, base, index, snp.cos(v[:4]) * 0.9 + 0.05 * snp.arange(4.0)) ** 2)
    x = np.linspace(-0.6, 0.9, 7)
    g = s2s.grad(f)
    np.testing.assert_allclose(g(x), central_grad(f, x), rtol=1e-6, atol=1e-7)
    t = np.cos(np.arange(7.0))
    np.testing.assert_allclose(s2s.jvp(f, (x,), (t,))[1], central_grad(f, x) @ t, rtol=1e-6)
    np.testing.assert_allclose(s2s.hessian(f)(x), fd_jacobian(g, x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s2s.jit(g)(x), g(x), rtol=1e-12)


@pytest.mark.parametrize("index", [1, np.array([0, 2, 2])], ids=["one", "repeated"])
def test_at_power_of_a_negative_base_by_a_constant_warns_nothing(index, x64):
    """A constant exponent has no adjoint to compute: its formula (log of the base) of a
    negative base used to warn "invalid value encountered in log" in grad and hessian
    though its result was thrown away. f is the sum of x_i^(e_i + 1), e_i the product of
    the exponents at position i (3 * 3 at a repeated one): x0^2 + x1^4 + x2^2 for index
    1, x0^4 + x1^2 + x2^10 for [0, 2, 2]."""
    def f(v):
        return snp.sum(v.at[index].power(3.0) * v)
    x = np.array([-1.3, -0.7, 0.4])
    e = np.ones(3)
    np.multiply.at(e, index, 3.0)  # each position's exponent: the product of its factors
    want_g = (e + 1.0) * x ** e
    want_h = np.diag(e * (e + 1.0) * x ** (e - 1.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_allclose(s2s.grad(f)(x), want_g, rtol=1e-12)
        np.testing.assert_allclose(s2s.hessian(f)(x), want_h, rtol=1e-12)
        np.testing.assert_allclose(s2s.jacrev(s2s.grad(f))(x), want_h, rtol=1e-12)


# ---------------------------------------------------------------------------
# Second derivatives through adjoints taken by differentiating a formula (norms of any
# order, quantiles): forward over reverse and reverse over reverse.

_M = np.cos(np.arange(12.0)).reshape(3, 4)
_SECOND_ORDER = {
    "quantile": lambda v: snp.quantile(v * v, 0.3) * snp.sum(v),
    "median": lambda v: snp.median(v ** 3) * v[0],
    "percentile_axis": lambda v: snp.sum(snp.percentile(snp.exp(v[:6]).reshape(2, 3), 40.0, axis=1) ** 2),
    "norm_1": lambda v: snp.linalg.norm(v * np.arange(1.0, 8.0), ord=1) ** 2,
    "norm_3": lambda v: snp.linalg.norm(v, ord=3) ** 2,
    "norm_inf": lambda v: snp.linalg.norm(v * np.arange(1.0, 8.0), ord=np.inf) ** 2,
    "norm_half": lambda v: snp.linalg.norm(v, ord=0.5),
    "norm_nuc": lambda v: snp.linalg.norm(v[:6].reshape(2, 3) + _M[:2, :3], ord="nuc") ** 2,
    "norm_matrix_inf": lambda v: snp.linalg.norm(v[:6].reshape(2, 3) + _M[:2, :3], ord=np.inf) ** 2,
}


@pytest.mark.parametrize("name", sorted(_SECOND_ORDER))
def test_second_derivatives_through_formula_adjoints(name, x64):
    f = _SECOND_ORDER[name]
    x = np.array([0.31, -0.72, 0.55, 1.13, -0.28, 0.84, -1.05])
    g = s2s.grad(f)
    want = fd_jacobian(g, x)
    np.testing.assert_allclose(s2s.hessian(f)(x), want, rtol=1e-5, atol=1e-6)
    if name in ("quantile", "norm_3"):  # reverse over reverse too (slower: per example)
        np.testing.assert_allclose(s2s.jacrev(g)(x), want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["median", "norm_3"])
def test_hessian_through_formula_adjoints_runs_no_example_loop(name, loops, x64):
    # the tangent of a formula's adjoint is batched by its source: no per-basis-vector call
    x = np.array([0.31, -0.72, 0.55, 1.13, -0.28, 0.84, -1.05])
    got = s2s.hessian(_SECOND_ORDER[name])(x)
    assert loops == []
    np.testing.assert_allclose(got, fd_jacobian(s2s.grad(_SECOND_ORDER[name]), x), rtol=1e-5, atol=1e-6)


def test_jacrev_allow_int_gives_zero_blocks(x64):
    n = np.array([1, 2])

    def f(x, k):
        return snp.sin(x) * k
    jx, jk = s2s.jacrev(f, argnums=(0, 1), allow_int=True)(X[:2], n)
    np.testing.assert_allclose(jx, np.diag(np.cos(X[:2]) * n), rtol=1e-12)
    assert jk.shape == (2, 2) and jk.dtype == n.dtype and not np.any(jk)  # as jax.jacrev
    with pytest.raises(TypeError, match="real- or complex"):
        s2s.jacrev(f, argnums=1)(X[:2], n)


def _wide(B, x):
    return snp.tanh(B @ x) * snp.sum(x)


def test_jit_jacrev_stages_one_backward_pass_not_one_per_output():
    """jit(jacrev) of a function without staged control flow vmaps its generated backward
    function; the control-flow-converted one (for Python if/while on staged values) would
    run once per output and stage that many copies of the program."""
    B = np.random.default_rng(0).normal(size=(40, 5)).astype(np.float32)
    x = np.random.default_rng(1).normal(size=5).astype(np.float32)
    jr = s2s.jit(s2s.jacrev(lambda v: _wide(B, v)))
    np.testing.assert_allclose(jr(x), s2s.jacfwd(lambda v: _wide(B, v))(x), rtol=1e-5, atol=1e-6)
    assert jr.lower(x).as_text().count("stablehlo.tanh") == 1
