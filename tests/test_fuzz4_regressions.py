"""Regressions for the wrong answers program_fuzz found with its per-example vmap
batches, s2s.checkpoint / custom rules / lax control flow statements and third-order
stacks (task fuzz4). Each test fails on the code before its fix."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.errors import S2SError

import composition_checker as checker

X = np.array([0.3, -0.2, 0.5, 0.1])


def _checkpointed_closure(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5

    def layer(u):
        return snp.sin(u) * s0  # s0 is differentiated and read from the enclosing function
    return snp.sum(s2s.checkpoint(layer)(x) * s0)


def _checkpointed_closure_policy(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5

    def layer(u):
        return snp.sin(u) * s0
    kept = s2s.checkpoint(layer, policy=s2s.checkpoint_policies.nothing_saveable)
    return snp.sum(kept(x) * s0)


@pytest.mark.parametrize("fn", [_checkpointed_closure, _checkpointed_closure_policy])
@pytest.mark.parametrize("transform", ["grad", "jit_grad", "jacfwd", "jacrev", "jvp", "hessian"])
def test_checkpoint_of_closure_over_differentiated_value(fn, transform, x64):
    """s2s.checkpoint of a local function reading a differentiated value (prog500): the
    checkpoint's rules differentiate its arguments only. Eager grad returned a leaked
    Recording (grad's tracing fallback recorded one checkpoint call whose function
    closed over a recorded value); jit(grad) silently dropped that value's cotangent
    (0.5149 for 0.5555 at x[0]). Now the recording takes the checkpointed function's
    primitives (checkpointing never changes values) and jit's converted grad traces
    the call of a function value carrying a differentiated value."""
    want = checker._fd_jacobian(fn, X)
    if transform == "jvp":
        t = np.array([1.0, 0.5, -0.3, 0.2])
        got = s2s.jvp(fn, (X,), (t,))[1]
        np.testing.assert_allclose(got, want @ t, rtol=1e-6, atol=1e-9)
        return
    if transform == "hessian":
        want = checker._fd_jacobian(s2s.grad(fn), X)
        np.testing.assert_allclose(s2s.hessian(fn)(X), want, rtol=1e-6, atol=1e-8)
        return
    build = {"grad": s2s.grad, "jit_grad": lambda f: s2s.jit(s2s.grad(f)),
             "jacfwd": s2s.jacfwd, "jacrev": s2s.jacrev}[transform]
    got = build(fn)(X)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_checkpoint_of_closure_under_vmap_of_grad(x64):
    xs = np.stack([X, X * -1.5, X + 0.4])
    got = s2s.vmap(s2s.grad(_checkpointed_closure))(xs)
    want = np.stack([checker._fd_jacobian(_checkpointed_closure, x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
