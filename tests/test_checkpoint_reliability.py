"""Checkpoint under a policy never mixes up the records of different calls.

The backward pass of ``s2s.checkpoint(f, policy=p)`` recomputes from the record of ``f``
made in the forward pass. Each case below calls a checkpointed function where a mix-up
between records would show (same shapes and different values, loops, nesting, vmap, jit,
hessian, per-example branches, static arguments, closures read at call time) and
compares the gradient with that of the function without checkpoint and with central
differences, in float64.
"""
import gc

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import checkpoint_policies as cp
from s2s.ad_checkpoint import checkpoint, checkpoint_name
from cases import central_grad, central_jacobian, loop_over_examples

POLICIES = {  # everything_saveable: tests/test_checkpoint_policies.py
    "none": None,
    "nothing": cp.nothing_saveable,
    "dots": cp.dots_saveable,
    "only_h": cp.save_only_these_names("h"),
}
EVERYTHING = {**POLICIES, "everything": cp.everything_saveable}


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


# grad with every policy; jit and vmap with one that keeps values (kept short)
@pytest.mark.parametrize("case, policy, transform", [
    (c, p, t) for c in sorted(CASES) for p in sorted(POLICIES)
    for t in ("grad", "jit_grad", "vmap_grad") if t == "grad" or p == "dots"])
def test_the_gradient_is_the_one_without_checkpoint(x64, case, policy, transform):
    ck_loss, plain_loss = _loss_pair(case, policy)
    t = TRANSFORMS[transform]
    onp.testing.assert_allclose(t(ck_loss)(X), t(plain_loss)(X), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("case, policy", [("in_a_for_loop", "dots"), ("pytree_output", "only_h"),
                                          ("under_vmap", "only_h")])
def test_the_hessian_is_the_one_without_checkpoint(x64, case, policy):
    ck_loss, plain_loss = _loss_pair(case, policy)
    onp.testing.assert_allclose(s2s.hessian(ck_loss)(X), s2s.hessian(plain_loss)(X), rtol=1e-9,
                                atol=1e-12)


@pytest.mark.parametrize("case, policy", [  # one policy per case, each policy used
    (c, p) for c, p in zip(sorted(CASES), ["only_h", "dots", "nothing", "none", "only_h", "dots"])])
def test_the_gradient_matches_central_differences(x64, case, policy):
    ck_loss, _ = _loss_pair(case, policy)
    onp.testing.assert_allclose(s2s.grad(ck_loss)(X), central_grad(ck_loss, X), rtol=1e-6,
                                atol=1e-8)


@pytest.mark.parametrize("policy", ["only_h"])
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
def test_names_saved_under_a_per_example_branch(x64, policy):
    ck = checkpoint(branchy, policy=EVERYTHING[policy])
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

    ck = checkpoint(powers, static_argnums=(0,), policy=EVERYTHING[policy])
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

STATE = {"k": 1.0}


def _set_k(k):
    STATE.update(k=k)
    return k


def reads_a_global(v):
    return np.sin(v) * STATE["k"]


def _two_calls_changing_k(f):
    def loss(x):
        _set_k(1.0)
        a = f(x)
        _set_k(3.0)
        b = f(x)
        return np.sum(a * a + b)
    return loss


def _want_changing_k(x):
    return 2 * onp.sin(x) * onp.cos(x) + 3 * onp.cos(x)  # k = 1 in a, 3 in b


def _none_rereads(policy):
    """The policy-free checkpoint runs the function again in the backward pass, reading
    what the function reads then (JAX reads it once, when it traces the call)."""
    return pytest.param(policy, marks=pytest.mark.xfail(
        strict=True, reason="the policy-free checkpoint reruns the function in the backward "
        "pass: it reads a global or closure variable as it is then")) if policy == "none" else policy


@pytest.mark.parametrize("policy", [_none_rereads(p) for p in sorted(POLICIES)])
def test_a_closure_read_at_call_time(x64, policy):
    """The body reads a variable of the enclosing function that changes between two calls:
    each call's backward pass uses the value its forward pass read."""
    def loss(x):
        k = 1.0

        def body(v):
            return np.sin(v) * k
        f = checkpoint(body, policy=POLICIES[policy])
        a = f(x)
        k = 3.0
        b = f(x)
        return np.sum(a * a + b)
    onp.testing.assert_allclose(s2s.grad(loss)(X), _want_changing_k(X), rtol=1e-10)


@pytest.mark.parametrize("transform", ["grad", "jit_grad"])
@pytest.mark.parametrize("policy", [_none_rereads(p) for p in ("none", "nothing", "dots")])
def test_a_global_changed_between_calls(x64, policy, transform):
    loss = _two_calls_changing_k(checkpoint(reads_a_global, policy=POLICIES[policy]))
    onp.testing.assert_allclose(TRANSFORMS[transform](loss)(X), _want_changing_k(X), rtol=1e-10)


def test_a_global_changed_between_calls_under_vmap_raises(x64):
    """vmap rebuilds what the forward pass saved: the backward pass finds its record by
    the arguments' shapes, and refuses where two records for them differed."""
    loss = _two_calls_changing_k(checkpoint(reads_a_global, policy=cp.dots_saveable))
    with pytest.raises(s2s.errors.CheckpointRecordError, match="reads more than its arguments"):
        s2s.vmap(s2s.grad(loss))(onp.stack([X, -X]))


@pytest.mark.parametrize("policy", [_none_rereads(p) for p in ("none", "nothing", "dots")])
def test_a_global_changed_between_calls_under_hessian(x64, policy):
    loss = _two_calls_changing_k(checkpoint(reads_a_global, policy=POLICIES[policy]))
    want = -2 * onp.sin(X) ** 2 + 2 * onp.cos(X) ** 2 - 3 * onp.sin(X)
    onp.testing.assert_allclose(onp.diag(s2s.hessian(loss)(X)), want, rtol=1e-8)


@pytest.mark.xfail(strict=True, reason="a second derivative replays the recorded gradient, "
                   "which runs the checkpointed function again after the closure variable was "
                   "rebound (s2s's hessian of this function without checkpoint raises "
                   "UndefinedVariableError)")
def test_a_closure_rebound_between_calls_under_grad_of_grad(x64):
    def loss(x):
        k = 1.0

        def body(v):
            return np.sin(v) * k
        f = checkpoint(body, policy=cp.dots_saveable)
        a = f(x)
        k = 3.0
        b = f(x)
        return np.sum(a * a + b)
    want = -2 * onp.sin(X) ** 2 + 2 * onp.cos(X) ** 2 - 3 * onp.sin(X)
    onp.testing.assert_allclose(s2s.grad(lambda x: np.sum(s2s.grad(loss)(x)))(X), want, rtol=1e-8)


def test_late_binding_in_a_loop(x64):
    """One checkpointed function for every layer, its weights picked by a loop variable it
    reads from the enclosing scope (Python's late binding): each layer's own weights."""
    Ws = [_W(i) for i in range(3)]

    def make_loss(policy):
        def loss(x):
            def block(h):
                return np.tanh(np.dot(Ws[i], h)) + h
            f = block if policy == "plain" else checkpoint(block, policy=POLICIES[policy])
            for i in range(3):
                x = f(x)
            return np.sum(x ** 2)
        return loss
    want = s2s.grad(make_loss("plain"))(X)
    onp.testing.assert_allclose(want, central_grad(make_loss("plain"), X), rtol=1e-6)
    for policy in ("nothing", "dots", "only_h"):
        onp.testing.assert_allclose(s2s.grad(make_loss(policy))(X), want, rtol=1e-10)


def test_pullbacks_called_after_another_forward_pass(x64):
    """Two vjps of one checkpointed function with the global it reads changed between
    them: each pullback, called in either order, uses its own forward pass's value."""
    f = checkpoint(reads_a_global, policy=cp.dots_saveable)
    loss = lambda x: np.sum(f(x) ** 2)  # noqa: E731
    _set_k(1.0)
    _, pull1 = s2s.vjp(loss, X)
    _set_k(3.0)
    _, pull2 = s2s.vjp(loss, -X)
    onp.testing.assert_allclose(pull1(1.0)[0], 2 * onp.sin(X) * onp.cos(X), rtol=1e-10)
    onp.testing.assert_allclose(pull2(1.0)[0], 18 * onp.sin(-X) * onp.cos(-X), rtol=1e-10)


def test_the_markers_of_finished_calls_are_forgotten(x64):
    from s2s import checkpoint_remat
    f = checkpoint(layer, policy=cp.dots_saveable)
    before = len(checkpoint_remat._by_marker)
    _, pull = s2s.vjp(lambda x: np.sum(f(f(x, _W(1)), _W(2))), X)
    assert len(checkpoint_remat._by_marker) == before + 2  # one per call, on the tape
    del pull
    gc.collect()
    assert len(checkpoint_remat._by_marker) == before


@pytest.mark.parametrize("policy", ["none", "dots"])
def test_checkpoint_of_a_jit_function_and_in_lax_loops(x64, policy):
    """checkpoint(jit(f)) (raised AttributeError: a jit function has no __defaults__), and
    a checkpointed loop body in lax.scan and lax.fori_loop."""
    Ws = onp.stack([_W(i) for i in range(4)])
    ck = checkpoint(layer, policy=POLICIES[policy])
    ck_jit = checkpoint(s2s.jit(layer), policy=POLICIES[policy])
    pairs = [
        (lambda x: np.sum(ck_jit(ck_jit(x, Ws[0]), Ws[1]) ** 2),
         lambda x: np.sum(layer(layer(x, Ws[0]), Ws[1]) ** 2)),
    ] + [(lambda x, f=f: np.sum(s2s.lax.scan(lambda c, W: (f(c, W), np.sum(c)), x, Ws)[0] ** 2),
          lambda x, f=f: np.sum(s2s.lax.fori_loop(0, 4, lambda i, c: f(c, Ws[i]), x) ** 2))
         for f in (ck, layer)]
    want = s2s.grad(pairs[0][1])(X)
    onp.testing.assert_allclose(s2s.grad(pairs[0][0])(X), want, rtol=1e-10)
    onp.testing.assert_allclose(want, central_grad(pairs[0][1], X), rtol=1e-6)
    for got, plain in zip(pairs[1], pairs[2]):
        onp.testing.assert_allclose(s2s.grad(got)(X), s2s.grad(plain)(X), rtol=1e-10)
        onp.testing.assert_allclose(s2s.grad(got)(X), central_grad(plain, X), rtol=1e-6)
