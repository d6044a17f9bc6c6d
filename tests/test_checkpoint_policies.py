"""Checkpoint policies and names (``s2s.checkpoint_policies``, ``s2s.ad_checkpoint``).

Every policy gives the gradient of the function without checkpoint (grad, vjp,
jit(grad), vmap(grad), hessian, grad of grad; against central differences in float64),
and each is honoured: how often the body's primitives run in the backward pass (their
eager ``impl`` counted) and how much the forward pass keeps for it (tracemalloc).
"""
import gc
import tracemalloc

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import checkpoint_policies as cp
from s2s.ad_checkpoint import checkpoint, checkpoint_name, remat_source
from s2s.core.primitive import all_primitives
from cases import central_grad, central_jacobian

POLICIES = {
    "none": None,
    "nothing": cp.nothing_saveable,
    "everything": cp.everything_saveable,
    "dots": cp.dots_saveable,
    "dots_no_batch": cp.dots_with_no_batch_dims_saveable,
    "only_h": cp.save_only_these_names("h"),
    "names_but_h": cp.save_any_names_but_these("h"),
    "all_but_h": cp.save_anything_except_these_names("h"),
    "both": cp.save_from_both_policies(cp.dots_saveable, cp.save_only_these_names("z")),
}


def body(x, W):
    h = checkpoint_name(np.dot(x, W), "h")
    z = checkpoint_name(np.sin(h) * x[..., :1], "z")
    return np.tanh(z) + h


def plain_loss(x, W):
    return np.sum(body(body(x, W), W) ** 2)


def loss_with(policy):
    layer = checkpoint(body, policy=policy)

    def loss(x, W):
        return np.sum(layer(layer(x, W), W) ** 2)
    return loss


def _args(dtype=onp.float64):
    rng = onp.random.default_rng(0)
    return (rng.standard_normal(3).astype(dtype) * 0.5,
            (onp.eye(3) * 0.6 + rng.standard_normal((3, 3)) * 0.2).astype(dtype))


TRANSFORMS = {
    "grad": lambda f: s2s.grad(f, argnums=(0, 1)),
    "vjp": lambda f: (lambda x, W: s2s.vjp(f, x, W)[1](onp.float64(1.0))),
    "jit_grad": lambda f: s2s.jit(s2s.grad(f, argnums=(0, 1))),
    "vmap_grad": lambda f: (lambda x, W: s2s.vmap(s2s.grad(f), in_axes=(0, None))(
        onp.stack([x, 0.5 * x]), W)),
    "hessian": lambda f: s2s.hessian(f),
    "grad_of_grad": lambda f: s2s.grad(lambda x, W: np.sum(np.sin(s2s.grad(f)(x, W)))),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_policy_gives_the_gradient_without_checkpoint(x64, policy, transform):
    x, W = _args()
    t = TRANSFORMS[transform]
    got, want = t(loss_with(POLICIES[policy]))(x, W), t(plain_loss)(x, W)
    for g, w in zip(s2s.tree_util.tree_leaves(got), s2s.tree_util.tree_leaves(want)):
        onp.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_gradients_match_central_differences(x64, policy):
    x, W = _args()
    loss = loss_with(POLICIES[policy])
    gx, gW = s2s.grad(loss, argnums=(0, 1))(x, W)
    onp.testing.assert_allclose(gx, central_grad(lambda v: loss(v, W), x), rtol=1e-6, atol=1e-8)
    onp.testing.assert_allclose(gW, central_grad(lambda v: loss(x, v), W), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("policy", ["dots", "only_h"])
def test_hessian_matches_central_differences_of_grad(x64, policy):
    x, W = _args()
    loss = loss_with(POLICIES[policy])
    hess = s2s.hessian(loss)(x, W)
    fd = central_jacobian(lambda v: s2s.grad(loss)(v, W), x)
    onp.testing.assert_allclose(hess, fd, rtol=1e-5, atol=1e-7)


def test_forward_mode_ignores_the_policy(x64):
    x, W = _args()
    t = onp.array([1.0, -0.5, 0.25])
    for policy in (cp.everything_saveable, cp.dots_saveable):
        got = s2s.jvp(lambda v: loss_with(policy)(v, W), (x,), (t,))
        want = s2s.jvp(lambda v: plain_loss(v, W), (x,), (t,))
        onp.testing.assert_allclose(got[1], want[1], rtol=1e-10)


# -- the policy is honoured --------------------------------------------------------


@pytest.fixture
def counts(monkeypatch):
    """How many times the eager ``impl`` of ``np.dot``, ``sin``, ``tanh`` and ``name`` ran,
    the dot counted only on the body's own operand shapes (x: (4, 3), W: (3, 5)), not
    on those of its adjoints."""
    seen = {"np.dot": 0, "sin": 0, "tanh": 0, "name": 0}
    prims = all_primitives()
    for key in seen:
        impl = prims[key].impl

        def counting(*args, _impl=impl, _key=key, **params):
            if _key != "np.dot" or [onp.shape(a) for a in args] == [(4, 3), (3, 5)]:
                seen[_key] += 1
            return _impl(*args, **params)
        monkeypatch.setattr(prims[key], "impl", counting)
    return seen


def layer35(x, W):
    h = checkpoint_name(np.dot(x, W), "h")  # (4, 5)
    return np.tanh(np.sin(h))


@pytest.mark.parametrize("policy, backward", [
    # what the backward pass runs again, per primitive, beyond the forward pass's one each
    (None, {"np.dot": 1, "sin": 1, "tanh": 1, "name": 1}),
    (cp.nothing_saveable, {"np.dot": 1, "sin": 1, "tanh": 1, "name": 1}),
    (cp.dots_saveable, {"np.dot": 0, "sin": 1, "tanh": 1, "name": 1}),
    (cp.save_only_these_names("h"), {"np.dot": 0, "sin": 1, "tanh": 1, "name": 0}),
    (cp.everything_saveable, {"np.dot": 0, "sin": 0, "tanh": 0, "name": 0}),
], ids=["none", "nothing", "dots", "only_h", "everything"])
def test_the_backward_pass_recomputes_what_the_policy_did_not_save(counts, policy, backward):
    ck = checkpoint(layer35, policy=policy)
    x = onp.ones((4, 3), onp.float32)
    W = onp.full((3, 5), 0.1, onp.float32)
    out, pull = s2s.vjp(ck, x, W)
    assert counts == {"np.dot": 1, "sin": 1, "tanh": 1, "name": 1}  # the forward pass
    pull(onp.ones((4, 5), onp.float32))
    assert {k: v - 1 for k, v in counts.items()} == backward


def test_remat_source_reads_the_saved_values():
    ck = checkpoint(layer35, policy=cp.save_only_these_names("h"))
    x, W = onp.ones((4, 3), onp.float32), onp.ones((3, 5), onp.float32)
    text = remat_source(ck, x, W)
    head = text.splitlines()
    assert head[0].startswith("def remat_layer35(saved, x0, x1):")
    assert head[1].strip() == "t1, = saved"  # t1 = lax.checkpoint_name(t0, name='h')
    fwd = text.split("def bwd_")[0]
    assert "np.dot" not in fwd and "lax.sin(t1)" in fwd
    assert "# grad of: t0 = np.dot(x0, x1)" in text  # its adjoint still runs
    # What the forward pass keeps: h's value, and nothing else (but the zero-size marker
    # of its call, which finds its record).
    from s2s.checkpoint_remat import checkpoint_save
    out, saved = checkpoint_save(ck, x, W)
    assert len(saved) == 2 and saved[1].size == 0
    onp.testing.assert_allclose(saved[0], x @ W, rtol=1e-6)
    # The saved values travel on the tape of the function calling the checkpoint.
    assert "checkpoint_save" in s2s.source(s2s.grad(lambda x, W: np.sum(ck(x, W))))


def mlp_block(x, W1, W2, W3):
    for W in (W1, W2, W3):
        h = x @ W + 0.1
        x = h * np.tanh(h)  # its adjoint reads h and tanh(h), not x @ W
    return x


def _tape_bytes(loss, *args):
    s2s.vjp(loss, *args)  # builds the generated code first
    gc.collect()
    tracemalloc.start()
    try:
        out, pull = s2s.vjp(loss, *args)
        gc.collect()
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


def test_tape_memory_orders_nothing_dots_everything():
    rng = onp.random.default_rng(1)
    x = rng.standard_normal((64, 128)).astype(onp.float32)
    Ws = [(rng.standard_normal((128, 128)) / 12).astype(onp.float32) for _ in range(3)]
    sizes = {}
    for name in ("nothing", "dots", "everything"):
        ck = checkpoint(mlp_block, policy=POLICIES[name])
        sizes[name] = _tape_bytes(lambda x, *W: np.sum(ck(x, *W)), x, *Ws)
    act = x.nbytes
    # nothing: the arguments only; dots: the three products; everything: what the
    # adjoints read (h and tanh(h) of each layer), the products not
    assert sizes["nothing"] + 2 * act < sizes["dots"] < sizes["everything"] - 2 * act, sizes


# -- names, policies' own behaviour ------------------------------------------------


def test_checkpoint_name_is_the_identity_under_every_transformation():
    f = lambda x: np.sum(np.sin(checkpoint_name(x * 2.0, "a")))  # noqa: E731
    x = onp.array([0.1, 0.2, 0.3], onp.float32)
    onp.testing.assert_allclose(s2s.jit(f)(x), f(x), rtol=1e-6)
    onp.testing.assert_allclose(s2s.grad(f)(x), 2 * onp.cos(2 * x), rtol=1e-6)
    onp.testing.assert_allclose(s2s.jvp(f, (x,), (onp.ones(3, onp.float32),))[1],
                                onp.sum(2 * onp.cos(2 * x)), rtol=1e-6)
    onp.testing.assert_allclose(s2s.vmap(f)(onp.stack([x, x])), [f(x), f(x)], rtol=1e-6)
    assert "stablehlo.custom_call" not in s2s.jit(f).lower(x).as_text()


def test_offload_policies_say_what_to_use_instead():
    with pytest.raises(NotImplementedError, match="dots_with_no_batch_dims_saveable"):
        cp.offload_dot_with_no_batch_dims("device", "pinned_host")
    with pytest.raises(NotImplementedError, match="save_only_these_names"):
        cp.save_and_offload_only_these_names(names_which_can_be_saved=["a"],
                                             names_which_can_be_offloaded=[],
                                             offload_src="device", offload_dst="pinned_host")


def test_a_policy_must_answer_true_or_false():
    ck = checkpoint(layer35, policy=lambda prim, *a, **p: "yes")
    with pytest.raises(TypeError, match="returned 'yes'"):
        s2s.grad(lambda x, W: np.sum(ck(x, W)))(onp.ones((4, 3)), onp.ones((3, 5)))


def test_dots_with_batch_dims_are_not_saved():
    matmul = all_primitives()["np.matmul"]
    batched = s2s.core.primitive.ShapedArray((2, 3, 3), onp.float32)
    flat = s2s.core.primitive.ShapedArray((3, 3), onp.float32)
    assert not cp.dots_with_no_batch_dims_saveable(matmul, batched, batched)
    assert cp.dots_with_no_batch_dims_saveable(matmul, batched, flat)
    assert cp.dots_saveable(matmul, batched, batched)


def test_value_dependent_control_flow_recomputes_in_full(x64):
    def branchy(x):
        y = np.sin(x)
        if np.sum(y) > 0:  # the record would hold for this branch only
            return y * y
        return -y

    ck = checkpoint(branchy, policy=cp.everything_saveable)
    for x in (onp.array([0.3, 0.4]), onp.array([-0.3, -0.4])):
        loss = lambda v: np.sum(ck(v) * v)  # noqa: E731
        onp.testing.assert_allclose(s2s.grad(loss)(x), central_grad(loss, x), rtol=1e-6)


def test_static_argnums_with_a_policy(x64):
    def powers(n, x):
        for _ in range(n):
            x = np.sin(x) * x
        return x

    ck = checkpoint(powers, static_argnums=(0,), policy=cp.everything_saveable)
    x = onp.array([0.5, 0.7])
    loss = lambda v: np.sum(ck(3, v))  # noqa: E731
    onp.testing.assert_allclose(s2s.grad(loss)(x), central_grad(loss, x), rtol=1e-6)
    onp.testing.assert_allclose(s2s.jit(s2s.grad(loss))(x), s2s.grad(loss)(x), rtol=1e-12)


def test_nested_checkpoints_and_several_outputs(x64):
    inner = checkpoint(lambda v: np.sin(v) * np.cos(v), policy=cp.everything_saveable)

    def outer(x, W):
        h = np.dot(W, x)
        return inner(h) + h, {"a": np.tanh(h)}

    ck = checkpoint(outer, policy=cp.dots_saveable)

    def loss(x, W, f=ck):
        a, b = f(x, W)
        return np.sum(a * b["a"])
    x, W = _args()
    onp.testing.assert_allclose(s2s.grad(loss)(x, W), s2s.grad(lambda x, W: loss(x, W, outer))(x, W),
                                rtol=1e-12)
    onp.testing.assert_allclose(s2s.grad(loss)(x, W), central_grad(lambda v: loss(v, W), x), rtol=1e-6)
    assert "fwd_lambda_fn(t0)" in remat_source(ck, x, W)  # the inner checkpoint, as a call


def test_the_gradient_is_jaxs(x64):
    jax = pytest.importorskip("jax")
    from jax.ad_checkpoint import checkpoint_name as jname
    from cases import jax_x64
    x, W = _args()
    jnp, jcp = jax.numpy, jax.checkpoint_policies

    def jbody(x, W):
        h = jname(jnp.dot(x, W), "h")
        return jnp.tanh(jname(jnp.sin(h) * x[..., :1], "z")) + h

    with jax_x64(jax):
        for name, policy in (("dots", jcp.dots_saveable), ("everything", jcp.everything_saveable),
                             ("only_h", jcp.save_only_these_names("h"))):
            layer = jax.checkpoint(jbody, policy=policy)
            want = jax.grad(lambda x, W: jnp.sum(layer(layer(x, W), W) ** 2))(x, W)
            onp.testing.assert_allclose(s2s.grad(loss_with(POLICIES[name]))(x, W), want, rtol=1e-10)


def test_other_transformations_see_the_function():
    def dense(x, W):
        return np.tanh(np.dot(x, W))

    ck = checkpoint(dense, policy=cp.dots_saveable)
    rng = onp.random.default_rng(2)
    X, W = rng.standard_normal((4, 3)).astype(onp.float32), onp.eye(3, dtype=onp.float32) * 0.7
    close = lambda a, b: onp.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)  # noqa: E731
    close(s2s.vmap(ck, (0, None))(X, W), dense(X, W))
    close(s2s.jit(ck)(X, W), dense(X, W))
    close(s2s.jacrev(lambda x: ck(x, W))(X[0]), s2s.jacfwd(lambda x: dense(x, W))(X[0]))
    loss = lambda x, W: np.sum(ck(x, W) ** 2)  # noqa: E731
    plain = lambda x, W: np.sum(dense(x, W) ** 2)  # noqa: E731
    close(s2s.jit(s2s.vmap(s2s.grad(loss), (0, None)))(X, W), s2s.vmap(s2s.grad(plain), (0, None))(X, W))
    close(s2s.grad(s2s.jit(loss))(X, W), s2s.grad(plain)(X, W))
