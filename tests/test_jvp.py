"""``s2s.jvp``, ``s2s.linearize`` and ``s2s.jvp_source``: API, pytrees, the traced path,
function values, compositions with ``grad`` and ``jit``, and the generated source.

Derivatives are checked against central differences in float64 (and against JAX when
it is installed); ``jit`` against eager.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp


def _fd(f, x, t, h=1e-6):
    return (np.asarray(f(x + h * t)) - np.asarray(f(x - h * t))) / (2 * h)


def mlp(params, x):
    for W, b in params:
        x = snp.tanh(x @ W + b)
    return x


def loop_fn(x, n):
    y = x
    i = 0
    while i < n:
        if snp.sum(y) > 0:
            y = y * snp.sin(x)
        else:
            y = y + x * x
        i = i + 1
    return y


def _params(rng):
    return [(rng.standard_normal((3, 4)), rng.standard_normal(4)),
            (rng.standard_normal((4, 2)), rng.standard_normal(2))]


def test_vector_output_matches_finite_differences(x64):
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal(3), rng.standard_normal(3)
    for n in (0, 1, 4):
        y, dy = s2s.jvp(loop_fn, (x, n), (t, n))
        np.testing.assert_allclose(y, loop_fn(x, n), rtol=1e-12)
        np.testing.assert_allclose(dy, _fd(lambda v: loop_fn(v, n), x, t), rtol=1e-6, atol=1e-8)


def test_pytree_primals_and_tangents(x64):
    rng = np.random.default_rng(1)
    params, x = _params(rng), rng.standard_normal(3)
    tp = [(rng.standard_normal(W.shape), rng.standard_normal(b.shape)) for W, b in params]
    tx = rng.standard_normal(3)
    y, dy = s2s.jvp(mlp, (params, x), (tp, tx))
    h = 1e-6
    moved = [[(W + s * h * dW, b + s * h * db) for (W, b), (dW, db) in zip(params, tp)] for s in (1, -1)]
    expected = (np.asarray(mlp(moved[0], x + h * tx)) - np.asarray(mlp(moved[1], x - h * tx))) / (2 * h)
    np.testing.assert_allclose(dy, expected, rtol=1e-6, atol=1e-8)
    assert dy.shape == (2,)


def test_columns_of_the_jacobian_match_grad(x64):
    """jvp with a basis tangent is a column of the Jacobian: rows come from grad."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(3)
    f = lambda v: snp.sum(loop_fn(v, 3) ** 2)  # noqa: E731
    g = s2s.grad(f)(x)
    for k in range(3):
        e = np.eye(3)[k]
        _, d = s2s.jvp(f, (x,), (e,))
        np.testing.assert_allclose(d, g[k], rtol=1e-10)


def test_has_aux_and_errors():
    def f(x):
        return x * 2.0, {"aux": x}
    y, dy, aux = s2s.jvp(f, (np.float32(1.0),), (np.float32(3.0),), has_aux=True)
    assert float(dy) == 6.0 and float(aux["aux"]) == 1.0
    with pytest.raises(TypeError, match="tuples or lists"):
        s2s.jvp(f, 1.0, 1.0)
    with pytest.raises(TypeError, match="different structures"):
        s2s.jvp(lambda a: a, ((1.0, 2.0),), (1.0,))


def test_inactive_output_gets_zero_tangent():
    y, dy = s2s.jvp(lambda x: snp.ones(3) * 2.0, (np.float32(1.0),), (np.float32(1.0),))
    np.testing.assert_array_equal(dy, np.zeros(3))


def test_traced_path_without_source(x64):
    scope = {"np": snp}
    exec("def f(x):\n    return np.sum(np.tanh(x) * x)\n", scope)
    x, t = np.array([0.1, 0.7]), np.array([1.0, -2.0])
    y, dy = s2s.jvp(scope["f"], (x,), (t,))
    np.testing.assert_allclose(dy, _fd(scope["f"], x, t), rtol=1e-6)


def apply_twice(g, x):
    return g(g(x))


def test_function_values_are_differentiated_when_called(x64):
    x, t = np.array([0.3, 0.4]), np.array([1.0, 2.0])
    y, dy = s2s.jvp(lambda v: apply_twice(snp.sin, v), (x,), (t,))
    np.testing.assert_allclose(dy, _fd(lambda v: np.sin(np.sin(v)), x, t), rtol=1e-6)


def tanh_seed(x):
    y = snp.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


def test_jit_of_jvp_matches_eager():
    rng = np.random.default_rng(3)
    params, x = _params(rng), rng.standard_normal(3).astype(np.float32)
    params = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    tp = [(np.ones_like(W), np.ones_like(b)) for W, b in params]
    f = s2s.jit(lambda p, v, tp, tv: s2s.jvp(mlp, (p, v), (tp, tv)))
    y, dy = f(params, x, tp, np.ones(3, np.float32))
    y0, dy0 = s2s.jvp(mlp, (params, x), (tp, np.ones(3, np.float32)))
    np.testing.assert_allclose(y, y0, rtol=1e-5)
    np.testing.assert_allclose(dy, dy0, rtol=1e-5, atol=1e-6)


def test_jvp_of_grad_is_a_hessian_vector_product(x64):
    f = lambda v: snp.sum(tanh_seed(v) * v)  # noqa: E731
    x, t = np.array([0.3, -0.2, 0.5]), np.array([1.0, 0.5, -1.0])
    _, hv = s2s.jvp(s2s.grad(f), (x,), (t,))
    np.testing.assert_allclose(hv, _fd(s2s.grad(f), x, t), rtol=1e-6, atol=1e-8)


def test_linearize_runs_only_the_linear_part(x64):
    x = np.array([0.3, -0.2, 0.5])
    y, f_jvp = s2s.linearize(tanh_seed, x)
    np.testing.assert_allclose(y, tanh_seed(x))
    for t in (np.ones(3), np.array([0.5, -1.0, 2.0])):
        np.testing.assert_allclose(f_jvp(t), s2s.jvp(tanh_seed, (x,), (t,))[1], rtol=1e-12)
    text = s2s.source(f_jvp)
    assert "exp" not in text  # the primal's exp was computed once, by linearize


def test_fallback_through_a_vjp_template(x64):
    """np.cumprod has only a vjp template: its tangent transposes it."""
    x, t = np.array([0.5, 1.5, 2.0]), np.array([1.0, -1.0, 0.5])
    y, dy = s2s.jvp(lambda v: snp.cumprod(v), (x,), (t,))
    np.testing.assert_allclose(dy, _fd(np.cumprod, x, t), rtol=1e-6)


def test_against_jax(x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    x, t = np.array([0.3, -0.2, 0.5]), np.array([1.0, 0.5, -1.0])
    _, dy = s2s.jvp(tanh_seed, (x,), (t,))
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        _, expected = jax.jvp(lambda v: (1.0 - jnp.exp(-2.0 * v)) / (1.0 + jnp.exp(-2.0 * v)), (x,), (t,))
    finally:
        jax.config.update("jax_enable_x64", old)
    np.testing.assert_allclose(dy, expected, rtol=1e-12)


# -- lax control flow: jvp templates run the loop/branch on (value, tangent) pairs --

def lax_cond_fn(x, p):
    return s2s.lax.cond(p, lambda v: snp.sin(v) * v, lambda v: -v, x)


def lax_while_fn(x):
    return s2s.lax.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, snp.sin(c[1]) * 1.5), (0, x))[1]


def lax_fori_fn(x):
    return s2s.lax.fori_loop(0, 4, lambda i, v: v * snp.cos(v) + i, x)


def lax_scan_fn(x, ys):
    def body(c, y):
        c2 = c * y + snp.sin(c)
        return c2, c2 * 2.0
    c, out = s2s.lax.scan(body, x, ys)
    return c + snp.sum(out)


_YS = np.array([0.5, 1.5, -0.3])
LAX_CASES = {
    "cond_true": lambda v: lax_cond_fn(v, True),
    "cond_false": lambda v: lax_cond_fn(v, False),
    "while_loop": lax_while_fn,
    "fori_loop": lax_fori_fn,
    "scan": lambda v: lax_scan_fn(v, _YS),
}


@pytest.mark.parametrize("name", sorted(LAX_CASES))
def test_lax_control_flow_matches_finite_differences(name, x64):
    f = LAX_CASES[name]
    x, t = np.array([0.7, -0.4]), np.array([1.0, 0.5])
    y, dy = s2s.jvp(f, (x,), (t,))
    np.testing.assert_allclose(y, f(x), rtol=1e-12)
    np.testing.assert_allclose(dy, _fd(f, x, t), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", sorted(LAX_CASES))
def test_jit_of_jvp_of_lax_control_flow(name):
    f = LAX_CASES[name]
    x, t = np.array([0.7, -0.4], np.float32), np.array([1.0, 0.5], np.float32)
    y, dy = s2s.jit(lambda v, tv: s2s.jvp(f, (v,), (tv,)))(x, t)
    y0, dy0 = s2s.jvp(f, (x,), (t,))
    np.testing.assert_allclose(y, y0, rtol=1e-5)
    np.testing.assert_allclose(dy, dy0, rtol=1e-5, atol=1e-6)


def test_jit_of_jvp_of_cond_with_a_staged_predicate():
    x, t = np.array([0.7, -0.4], np.float32), np.array([1.0, 0.5], np.float32)
    f = s2s.jit(lambda v, tv, p: s2s.jvp(lambda u: lax_cond_fn(u, p), (v,), (tv,)))
    for p in (True, False):
        _, dy = f(x, t, p)
        np.testing.assert_allclose(dy, s2s.jvp(lambda u: lax_cond_fn(u, p), (x,), (t,))[1], rtol=1e-6)


def test_grad_of_jvp_is_a_hessian_vector_product(x64):
    f = lambda v: snp.sum(tanh_seed(v) * snp.sin(v))  # noqa: E731
    x, t = np.array([0.3, -0.2, 0.5]), np.array([1.0, 0.5, -1.0])
    g = s2s.grad(lambda v: s2s.jvp(f, (v,), (t,))[1])(x)
    np.testing.assert_allclose(g, _fd(s2s.grad(f), x, t), rtol=1e-6, atol=1e-8)
    _, hv = s2s.jvp(s2s.grad(f), (x,), (t,))
    np.testing.assert_allclose(g, hv, rtol=1e-10)


_X = np.random.default_rng(3).normal(size=(5, 3))


def _sq_of_captured_matmul(w):
    return snp.sum(snp.dot(_X, w) ** 2)


def test_hessian_through_gradient_helpers_with_an_inactive_operand(x64):
    # grad's code calls dot_grad_rhs(g, x, w); with x captured (no tangent) its jvp is
    # add_grad(dot_grad_rhs(dg, x, w), <zero>): the zero term must drop out, not zero the sum.
    w = np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(s2s.hessian(_sq_of_captured_matmul)(w), 2 * _X.T @ _X, rtol=1e-10)
    tangent = s2s.jvp(s2s.grad(_sq_of_captured_matmul), (w,), (np.eye(3)[1],))[1]
    np.testing.assert_allclose(tangent, 2 * _X.T @ _X[:, 1], rtol=1e-10)


# Forward mode of gradient code with operands that have no tangent (data captured by a
# closure, or not in argnums): grad's code calls dot_grad_rhs(g, x, w), whose tangent is
# add_grad(dot_grad_rhs(dg, x, w), dot_grad_rhs(g, dx, w)) with dx a zero. The zero term
# must drop out of the sum, also where add_grad's generated name is add_grad2 because the
# gradient code being differentiated calls add_grad itself (w read twice below).

_L2 = 0.01
_RNG = np.random.default_rng(7)
_XS, _YS = _RNG.standard_normal((6, 3)), (_RNG.uniform(size=6) > 0.5).astype(float)


def _logistic_loss(w, x, y):
    logits = snp.dot(x, w)
    return snp.mean(snp.logaddexp(0.0, logits) - y * logits) + 0.5 * _L2 * snp.sum(w * w)


def _logistic_loss_data_first(x, y, w):
    logits = snp.dot(x, w)
    return snp.mean(snp.logaddexp(0.0, logits) - y * logits) + 0.5 * _L2 * snp.sum(w * w)


def _fd_jacobian(f, w, h=1e-6):
    return np.stack([_fd(f, w, e, h) for e in np.eye(w.size)], axis=-1)


def test_jvp_of_grad_with_inactive_data(x64):
    w = np.array([0.1, -0.2, 0.3])
    grad_w = lambda v: s2s.grad(_logistic_loss)(v, _XS, _YS)  # noqa: E731
    expected = _fd_jacobian(grad_w, w)
    g = s2s.grad(_logistic_loss)
    assert "add_grad(" in s2s.source(g)  # the case where the helper is renamed in jvp code
    for i, e in enumerate(np.eye(3)):
        closure = s2s.jvp(lambda v: g(v, _XS, _YS), (w,), (e,))[1]
        np.testing.assert_allclose(closure, expected[:, i], rtol=1e-6, atol=1e-9)
        every = s2s.jvp(g, (w, _XS, _YS), (e, np.zeros_like(_XS), np.zeros_like(_YS)))[1]
        np.testing.assert_allclose(every, expected[:, i], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.jacfwd(g)(w, _XS, _YS), expected, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.hessian(_logistic_loss)(w, _XS, _YS), expected, rtol=1e-6, atol=1e-9)


def test_hessian_with_argnums_and_closure_over_data(x64):
    w = np.array([0.4, 0.0, -0.3])
    expected = _fd_jacobian(lambda v: s2s.grad(_logistic_loss)(v, _XS, _YS), w)
    hess = s2s.hessian(_logistic_loss_data_first, argnums=2)(_XS, _YS, w)
    np.testing.assert_allclose(hess, expected, rtol=1e-6, atol=1e-9)
    g = s2s.grad(_logistic_loss_data_first, argnums=2)
    np.testing.assert_allclose(s2s.jacfwd(g, argnums=2)(_XS, _YS, w), expected, rtol=1e-6, atol=1e-9)
    hess = s2s.hessian(lambda v: _logistic_loss(v, _XS, _YS))(w)
    np.testing.assert_allclose(hess, expected, rtol=1e-6, atol=1e-9)


def test_jvp_of_float32_gradient_with_captured_data():
    x, y = _XS.astype(np.float32), _YS.astype(np.float32)
    w = np.full(3, 0.1, np.float32)
    g = s2s.grad(_logistic_loss)
    fd = _fd_jacobian(lambda v: np.asarray(g(v.astype(np.float32), x, y), np.float64),
                      w.astype(np.float64), h=1e-3)
    np.testing.assert_allclose(s2s.jacfwd(g)(w, x, y), fd, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(s2s.jvp(lambda v: g(v, x, y), (w,), (np.eye(3, dtype=np.float32)[0],))[1],
                               fd[:, 0], rtol=1e-3, atol=1e-4)


# -- Python `if`/`while` on data under jit: the generated forward-mode source is
# control-flow converted, so the tangent statements ride in the staged cond/while loop.

def _py_if(x):
    if snp.sum(x) > 0:
        y = snp.sin(x) * x
    else:
        y = snp.cos(x)
    return y


def _py_while(x):
    y = x
    while snp.sum(y) < 10.0:  # the trip count depends on the data
        y = y * 1.5 + snp.sin(y)
    return y


_STAGED = {
    "jit(jvp)": lambda f, x, t: s2s.jit(lambda a, b: s2s.jvp(f, (a,), (b,))[1])(x, t),
    "jvp(jit)": lambda f, x, t: s2s.jvp(s2s.jit(f), (x,), (t,))[1],
    "jit(jacfwd)": lambda f, x, t: s2s.jit(s2s.jacfwd(f))(x) @ t,
    "jacfwd(jit)": lambda f, x, t: s2s.jacfwd(s2s.jit(f))(x) @ t,
    "jit(jacrev)": lambda f, x, t: s2s.jit(s2s.jacrev(f))(x) @ t,
}


@pytest.mark.parametrize("how", sorted(_STAGED))
@pytest.mark.parametrize("f", [_py_if, _py_while], ids=["if", "while"])
def test_forward_mode_of_staged_python_control_flow(f, how, x64):
    t = np.array([1.0, -0.5, 0.2])
    other = np.array([-0.3, -0.5, 0.1]) if f is _py_if else np.array([1.5, 2.0, 0.1])
    for x in (np.array([0.3, 0.5, 0.8]), other):
        np.testing.assert_allclose(_STAGED[how](f, x, t), _fd(f, x, t), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("p", [True, False])
def test_hessian_through_lax_cond(p, x64):
    """Forward over reverse of lax.cond: the tangent of the branch pullback."""
    def f(x):
        y = s2s.lax.cond(p, lambda v: snp.sin(v) * v * x[0], lambda v: v * v * v, x)
        return snp.sum(y ** 2)
    x = np.array([0.7, -0.4, 0.3])
    g = s2s.grad(f)
    want = np.stack([_fd(g, x, e) for e in np.eye(3)], axis=-1)
    np.testing.assert_allclose(s2s.hessian(f)(x), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.jit(s2s.hessian(f))(x), want, rtol=1e-6, atol=1e-8)
    pred = np.sum(x) > 0 if p else np.sum(x) < 0  # a staged predicate under jit
    h = s2s.jit(s2s.hessian(lambda v, q: snp.sum(s2s.lax.cond(
        q, lambda u: snp.sin(u) * u * v[0], lambda u: u * u * u, v) ** 2)))
    np.testing.assert_allclose(h(x, pred), want, rtol=1e-6, atol=1e-8)
