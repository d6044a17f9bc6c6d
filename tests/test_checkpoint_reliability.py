"""Checkpoint under a policy never mixes up the records of different calls.

The backward pass of ``s2s.checkpoint(f, policy=p)`` recomputes from the record of ``f``
made in the forward pass. Each case below calls a checkpointed function where a mix-up
between records would show (same shapes and different values, loops, nesting, vmap, jit,
hessian, per-example branches, static arguments, closures read at call time) and
compares the gradient with that of the function without checkpoint and with central
differences, in float64.
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import checkpoint_policies as cp
from s2s.ad_checkpoint import checkpoint, checkpoint_name
from cases import central_grad, central_jacobian, loop_over_examples

POLICIES = {
    "none": None,
    "nothing": cp.nothing_saveable,
    "everything": cp.everything_saveable,
    "dots": cp.dots_saveable,
    "only_h": cp.save_only_these_names("h"),
}


def _rng(seed=0):
    return onp.random.default_rng(seed)


def _W(seed):
    return onp.eye(3) * 0.6 + _rng(seed).standard_normal((3, 3)) * 0.3


def layer(x, W):
    h = checkpoint_name(np.dot(W, x), "h")
    return np.tanh(h) * np.cos(x) + h * 0.1


# -- the cases: (loss, loss without checkpoint) for one policy --------------------


def two_calls(policy):
    """The same function twice, same shapes, different values (its record is replaced
    by the second call's before the first call's backward pass)."""
    W1, W2 = _W(1), _W(2)

    def loss(x, f):
        a, b = f(x, W1), f(x * 2.0, W2)
        return np.sum(a * b) + np.sum(f(b, W1) ** 2)
    return loss


def in_a_for_loop(policy):
    Ws = [_W(i) for i in range(4)]

    def loss(x, f):
        for W in Ws:
            x = f(x, W) + 0.5 * x
        return np.sum(x ** 2)
    return loss


def in_a_while_loop(policy):
    W = _W(3)

    def loss(x, f):
        i = 0
        while i < 3:
            x = f(x, W * (1.0 + i))
            i += 1
        return np.sum(np.sin(x))
    return loss


def nested(policy):
    """A checkpointed function calling another twice, each with the policy."""
    inner = checkpoint(layer, policy=policy)
    W1, W2 = _W(4), _W(5)

    def outer_body(f):
        def outer(x, W):
            return f(f(x, W), W1) * x
        return outer

    outer_ck = checkpoint(outer_body(inner), policy=policy)
    outer_plain = outer_body(layer)

    def loss(x, f):
        g = outer_plain if f is layer else outer_ck
        return np.sum(g(g(x, W2), W1) ** 2)
    return loss


def under_vmap(policy):
    """vmap of the checkpointed function inside the differentiated function."""
    W = _W(6)

    def loss(x, f):
        X = np.stack([x, x * 0.5, -x])
        return np.sum(s2s.vmap(f, in_axes=(0, None))(X, W) ** 2)
    return loss


def pytree_output(policy):
    """A checkpointed function returning a tuple and a dict (aux-like outputs)."""
    W = _W(7)

    def body(x, W):
        h = checkpoint_name(np.dot(W, x), "h")
        return np.tanh(h), {"aux": np.sin(h) * x, "n": h[0]}

    ck = checkpoint(body, policy=policy)

    def loss(x, f):
        g = body if f is layer else ck
        a, d = g(x, W)
        b, e = g(a, W)
        return np.sum(a * e["aux"]) + d["n"] * np.sum(b)
    return loss


CASES = {f.__name__: f for f in (two_calls, in_a_for_loop, in_a_while_loop, nested, under_vmap,
                                  pytree_output)}


def _loss_pair(case, policy):
    """``(checkpointed loss, plain loss)`` of ``case`` with ``policy``, both of x alone."""
    loss = CASES[case](POLICIES[policy])
    ck = checkpoint(layer, policy=POLICIES[policy])
    return (lambda x: loss(x, ck)), (lambda x: loss(x, layer))


X = onp.array([0.3, -0.5, 0.7])
TRANSFORMS = {
    "grad": s2s.grad,
    "jit_grad": lambda f: s2s.jit(s2s.grad(f)),
    "vmap_grad": lambda f: (lambda x: s2s.vmap(s2s.grad(f))(onp.stack([x, 0.5 * x, -x]))),
    "hessian": s2s.hessian,
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_gradient_is_the_one_without_checkpoint(x64, case, policy, transform):
    ck_loss, plain_loss = _loss_pair(case, policy)
    t = TRANSFORMS[transform]
    onp.testing.assert_allclose(t(ck_loss)(X), t(plain_loss)(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("policy", sorted(POLICIES))
@pytest.mark.parametrize("case", sorted(CASES))
def test_the_gradient_matches_central_differences(x64, case, policy):
    ck_loss, _ = _loss_pair(case, policy)
    onp.testing.assert_allclose(s2s.grad(ck_loss)(X), central_grad(ck_loss, X), rtol=1e-6,
                                atol=1e-8)


@pytest.mark.parametrize("policy", ["dots", "only_h"])
def test_hessian_of_two_calls_matches_central_differences_of_grad(x64, policy):
    ck_loss, _ = _loss_pair("two_calls", policy)
    onp.testing.assert_allclose(s2s.hessian(ck_loss)(X), central_jacobian(s2s.grad(ck_loss), X),
                                rtol=1e-5, atol=1e-7)


# -- per-example control flow, static arguments, custom rules ---------------------


def branchy(x, W):
    h = np.dot(W, x)
    if np.sum(x) > 0:  # per example under vmap
        h = checkpoint_name(np.sin(h), "h")
    else:
        h = checkpoint_name(np.cos(h) * 2.0, "h")
    return np.tanh(h) * x


@pytest.mark.parametrize("policy", ["only_h", "everything", "dots"])
def test_names_saved_under_a_per_example_branch(x64, loops, policy):
    ck = checkpoint(branchy, policy=POLICIES[policy])
    W = _W(8)
    Xs = onp.stack([X, -X, 0.5 * X, -2.0 * X])

    def loss(x, f):
        return np.sum(f(f(x, W), W) ** 2)
    got = s2s.vmap(s2s.grad(lambda x: loss(x, ck)))(Xs)
    want = loop_over_examples(s2s.grad(lambda x: loss(x, branchy)), (Xs,), (0,))
    onp.testing.assert_allclose(got, want, rtol=1e-10)
    for x in Xs:
        onp.testing.assert_allclose(s2s.grad(lambda v: loss(v, ck))(x),
                                    central_grad(lambda v: loss(v, ck), x), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("policy", ["nothing", "everything", "dots"])
def test_static_arguments_with_different_values(x64, policy):
    def powers(n, x, W):
        for _ in range(n):
            x = np.tanh(np.dot(W, x))
        return x

    ck = checkpoint(powers, static_argnums=(0,), policy=POLICIES[policy])
    W = _W(9)

    def loss(x, f):
        return np.sum(f(2, x, W) * f(3, x, W)) + np.sum(f(2, x * 3.0, W))
    got, want = s2s.grad(lambda x: loss(x, ck))(X), s2s.grad(lambda x: loss(x, powers))(X)
    onp.testing.assert_allclose(got, want, rtol=1e-10)
    onp.testing.assert_allclose(got, central_grad(lambda x: loss(x, ck), X), rtol=1e-6)
    onp.testing.assert_allclose(s2s.jit(s2s.grad(lambda x: loss(x, ck)))(X), want, rtol=1e-10)


def test_prevent_cse_is_accepted_and_changes_nothing(x64):
    for prevent_cse in (True, False):
        ck = checkpoint(layer, prevent_cse=prevent_cse, policy=cp.dots_saveable)
        loss = lambda x: np.sum(ck(ck(x, _W(1)), _W(2)))  # noqa: E731
        plain = lambda x: np.sum(layer(layer(x, _W(1)), _W(2)))  # noqa: E731
        onp.testing.assert_allclose(s2s.grad(loss)(X), s2s.grad(plain)(X), rtol=1e-10)


@s2s.custom_vjp
def clipped_sin(x):
    return np.sin(x)


def _clipped_fwd(x):
    return np.sin(x), np.cos(x)


def _clipped_bwd(cos_x, g):
    return (np.clip(g * cos_x, -0.1, 0.1),)  # not the derivative: the rule must be used


clipped_sin.defvjp(_clipped_fwd, _clipped_bwd)


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_custom_vjp_inside_a_checkpoint_keeps_its_rule(x64, policy):
    def body(x, W):
        return clipped_sin(np.dot(W, x)) * 3.0

    ck = checkpoint(body, policy=POLICIES[policy])
    W = _W(10)

    def loss(x, f):
        return np.sum(f(f(x, W), W))
    got, want = s2s.grad(lambda x: loss(x, ck))(X), s2s.grad(lambda x: loss(x, body))(X)
    onp.testing.assert_allclose(got, want, rtol=1e-10)
    fd = central_grad(lambda x: loss(x, body), X)
    assert not onp.allclose(want, fd, rtol=1e-3)  # the clipping rule did change it


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_python_control_flow_on_data(x64, policy):
    def body(x, W):
        y = np.dot(W, x)
        while np.max(np.abs(y)) > 1.0:  # a data-dependent number of trips
            y = y * 0.5
        return np.sin(y) if np.sum(y) > 0 else np.cos(y) * y

    ck = checkpoint(body, policy=POLICIES[policy])
    W = _W(11) * 3.0

    def loss(x, f):
        return np.sum(f(x, W) * f(-x * 2.0, W))
    got, want = s2s.grad(lambda x: loss(x, ck))(X), s2s.grad(lambda x: loss(x, body))(X)
    onp.testing.assert_allclose(got, want, rtol=1e-10)
    onp.testing.assert_allclose(got, central_grad(lambda x: loss(x, ck), X), rtol=1e-6, atol=1e-8)


# -- what the function reads besides its arguments -------------------------------


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_a_closure_read_at_call_time(x64, policy):
    """The body reads a variable of the enclosing function that changes between two calls:
    each call's backward pass uses the value its forward pass read (JAX traces it then)."""
    def loss(x):
        k = 1.0

        def body(v):
            return np.sin(v) * k
        f = checkpoint(body, policy=POLICIES[policy])
        a = f(x)
        k = 3.0
        b = f(x)
        return np.sum(a * a + b)
    want = 2 * onp.sin(X) * onp.cos(X) + 3 * onp.cos(X)
    onp.testing.assert_allclose(s2s.grad(loss)(X), want, rtol=1e-10)
