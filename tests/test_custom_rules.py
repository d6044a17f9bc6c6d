"""``custom_jvp`` / ``custom_vjp``: the user's rule is used by jvp, grad, vjp and jit
(checked with rules that differ on purpose from the true derivative, so a test fails
if a transformation differentiates the function itself), and shows up by name in the
generated source."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp


@s2s.custom_jvp
def scaled_sin(x, y):
    return snp.sin(x) * y


@scaled_sin.defjvp
def scaled_sin_jvp(primals, tangents):
    x, y = primals
    tx, ty = tangents
    # 3 * the true derivative in x: a transformation that ignored the rule would differ.
    return scaled_sin(x, y), 3.0 * snp.cos(x) * y * tx + snp.sin(x) * ty


@s2s.custom_vjp
def clip_gradient(x):
    return x


def clip_fwd(x):
    return x, None


def clip_bwd(res, g):
    return (snp.clip(g, -1.0, 1.0),)


clip_gradient.defvjp(clip_fwd, clip_bwd)


def uses_both(x):
    return snp.sum(scaled_sin(x, 2.0) + clip_gradient(x) * 5.0)


X = np.array([0.3, -0.5, 1.2])


def expected_grad(x):
    return 3.0 * np.cos(x) * 2.0 + 1.0  # the cotangent 5 reaching clip_gradient is clipped to 1


def test_grad_uses_both_rules():
    np.testing.assert_allclose(s2s.grad(uses_both)(X), expected_grad(X), rtol=1e-6)
    text = s2s.source(s2s.grad(uses_both))
    assert "scaled_sin_jvp" in text and "clip_bwd" in text


def test_jvp_uses_the_jvp_rule():
    t = np.array([1.0, 2.0, -1.0])
    _, dy = s2s.jvp(lambda v: snp.sum(scaled_sin(v, 2.0)), (X,), (t,))
    np.testing.assert_allclose(dy, np.sum(3.0 * np.cos(X) * 2.0 * t), rtol=1e-6)
    assert "scaled_sin_jvp" in s2s.jvp_source(scaled_sin)


def test_jvp_of_custom_vjp_raises_like_jax():
    with pytest.raises(TypeError, match="custom_vjp"):
        s2s.jvp(uses_both, (X,), (X,))


def test_jit_runs_the_function_and_jit_of_grad_uses_the_rules():
    np.testing.assert_allclose(s2s.jit(uses_both)(X), uses_both(X), rtol=1e-6)
    np.testing.assert_allclose(s2s.jit(s2s.grad(uses_both))(X), expected_grad(X), rtol=1e-5)
    f = s2s.jit(lambda v, t: s2s.jvp(lambda u: snp.sum(scaled_sin(u, 2.0)), (v,), (t,)))
    _, dy = f(X.astype(np.float32), np.ones(3, np.float32))
    np.testing.assert_allclose(dy, np.sum(6.0 * np.cos(X)), rtol=1e-5)


def test_vjp_of_custom_vjp():
    _, pull = s2s.vjp(clip_gradient, X)
    np.testing.assert_allclose(pull(np.array([3.0, -0.5, -7.0]))[0], [1.0, -0.5, -1.0])


@s2s.custom_jvp
def power(n, x):
    return x ** n


power.nondiff_argnums = (0,)


@power.defjvp
def power_jvp(n, primals, tangents):
    (x,), (t,) = primals, tangents
    return power(n, x), 10.0 * n * x ** (n - 1) * t  # 10x the true derivative


def test_nondiff_argnums_custom_jvp():
    f = lambda v: snp.sum(power(3, v))  # noqa: E731
    np.testing.assert_allclose(s2s.grad(f)(X), 30.0 * X ** 2, rtol=1e-5)
    np.testing.assert_allclose(s2s.jvp(f, (X,), (np.ones(3),))[1], np.sum(30.0 * X ** 2), rtol=1e-5)


@s2s.custom_vjp
def scale_grad(s, x):
    return x


def scale_fwd(s, x):
    return x, None


def scale_bwd(s, res, g):
    return (g * s,)


scale_grad.nondiff_argnums = (0,)
scale_grad.defvjp(scale_fwd, scale_bwd)


def test_nondiff_argnums_custom_vjp():
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(scale_grad(4.0, v) * v))(X), 5.0 * X, rtol=1e-6)


@s2s.custom_jvp
def product(x, y):
    return x * y


product.defjvps(lambda tx, ans, x, y: 2.0 * tx * y, lambda ty, ans, x, y: 2.0 * x * ty)


def test_defjvps():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    _, d = s2s.jvp(product, (x, y), (np.ones(2), np.zeros(2)))
    np.testing.assert_allclose(d, 2.0 * y)
    np.testing.assert_allclose(s2s.grad(lambda a: snp.sum(product(a, y)))(x), 2.0 * y, rtol=1e-6)


def test_calling_runs_the_function():
    np.testing.assert_allclose(scaled_sin(X, 2.0), np.sin(X) * 2.0, rtol=1e-6)


# -- checkpoint / remat ----------------------------------------------------------


def mlp_layer(W, b, x):
    return snp.tanh(x @ W + b)


checkpointed_layer = s2s.checkpoint(mlp_layer)


@s2s.remat
def decorated_layer(W, b, x):
    return snp.tanh(x @ W + b) * 1.5


def _net(layer_fn):
    def net(params, x):
        for W, b in params:
            x = layer_fn(W, b, x)
        return snp.sum(x * x)
    return net


def _mlp_params():
    rng = np.random.default_rng(5)
    params = [(rng.standard_normal((4, 4)) * 0.5, rng.standard_normal(4)) for _ in range(3)]
    return params, rng.standard_normal((2, 4))


@pytest.mark.parametrize("layer_fn", [checkpointed_layer, decorated_layer], ids=["call", "decorator"])
def test_checkpoint_gives_the_same_gradient(layer_fn):
    plain = mlp_layer if layer_fn is checkpointed_layer else (lambda W, b, x: mlp_layer(W, b, x) * 1.5)
    params, x = _mlp_params()
    g1 = s2s.grad(_net(layer_fn), argnums=(0, 1))(params, x)
    g2 = s2s.grad(_net(plain), argnums=(0, 1))(params, x)
    for a, b in zip(s2s.tree_util.tree_leaves(g1), s2s.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    assert "checkpoint_cotangents" in s2s.source(s2s.grad(_net(layer_fn)))


def test_checkpoint_under_jvp_and_jit():
    params, x = _mlp_params()
    tp = [(np.ones_like(W), np.ones_like(b)) for W, b in params]
    d1 = s2s.jvp(_net(checkpointed_layer), (params, x), (tp, x))[1]
    d2 = s2s.jvp(_net(mlp_layer), (params, x), (tp, x))[1]
    np.testing.assert_allclose(d1, d2, rtol=1e-12)
    p32 = [(W.astype(np.float32), b.astype(np.float32)) for W, b in params]
    g1 = s2s.jit(s2s.grad(_net(checkpointed_layer)))(p32, x.astype(np.float32))
    g2 = s2s.grad(_net(mlp_layer))(p32, x.astype(np.float32))
    for a, b in zip(s2s.tree_util.tree_leaves(g1), s2s.tree_util.tree_leaves(g2)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_checkpoint_static_argnums():
    f = s2s.checkpoint(lambda n, x: x ** n, static_argnums=(0,))
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(f(3, v)))(X), 3 * X ** 2, rtol=1e-6)


def test_checkpoint_keeps_only_the_inputs_on_the_tape():
    params, x = _mlp_params()
    text = s2s.source(s2s.grad(_net(checkpointed_layer)))
    fwd = text[text.index("def fwd_mlp_layer"):].split("\n\n")[0]
    assert "return (result, (W, b, x))" in fwd  # the tape: the layer's arguments only
