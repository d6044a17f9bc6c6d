"""Second derivatives (hessian, jacrev/jacfwd of grad, Jacobians of Jacobians) of
functions that call s2s's own transformations inside: ``jvp`` (of a function forward
mode can and cannot read), ``linearize``, ``vjp``, ``grad``, ``jacfwd``, ``jacrev``,
``hessian``; called by name and through a function value (a default argument).

These used to raise (the fence's try/except of the traced vjp, "recorded on its
arguments" from the batched rules of function values) or, where a recorded call
closed over a value of an enclosing recording, give wrong numbers (the inner
recording spelled the outer value by the outer recording's variable name, one of
its own). Checked against central differences in float64 and JAX x64 where installed.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.trace.record import record

from cases import assert_close, central_jacobian, jax_x64

pytestmark = pytest.mark.usefixtures("x64")  # conftest's: float64 for the differences

X = np.array([0.3, -0.7, 1.1])


def _inner_calls(T, N):
    """Functions calling transformation module ``T`` (s2s or jax) inside, with numpy ``N``."""
    g = lambda z: N.sin(z) * z  # noqa: E731

    def via_jvp(x):
        y, t = T.jvp(g, (x,), (N.cos(x),))
        return y * t

    def via_jvp_of_unreadable(x):  # forward mode cannot read the function: jvp records it
        y, t = T.jvp(lambda z: T.vjp(g, z)[0], (x,), (N.cos(x),))
        return y * t

    def via_linearize(x):
        y, f_jvp = T.linearize(g, x)
        return y * f_jvp(x)

    def via_vjp(x):
        y, pull = T.vjp(g, x)
        return pull(x)[0] * y

    def via_grad(x):
        return T.grad(lambda z: N.sum(N.sin(z) * z))(x) * x

    def via_jacfwd(x):
        return T.jacfwd(g)(x) @ x

    def via_jacrev(x):
        return T.jacrev(g)(x) @ x

    def via_hessian(x):
        return T.hessian(lambda z: N.sum(N.sin(z) * z ** 2))(x) @ x

    return [via_jvp, via_jvp_of_unreadable, via_linearize, via_vjp, via_grad, via_jacfwd,
            via_jacrev, via_hessian]


INNER = {f.__name__: f for f in _inner_calls(s2s, snp)}


def _outer(T, N, f, how):
    """The second-order transformation ``how`` of ``f``'s sum (or of ``f`` itself)."""
    def direct(x):
        return N.sum(f(x))

    def through_value(x, fn=f):  # reverse mode then calls a function value
        return N.sum(fn(x))

    s = direct if how.endswith("name") else through_value
    if how.startswith("hessian"):
        return T.hessian(s)
    if how.startswith("jacrev_grad"):
        return T.jacrev(T.grad(s))
    if how.startswith("jacfwd_grad"):
        return T.jacfwd(T.grad(s))
    if how == "jacfwd_jacrev":
        return T.jacfwd(T.jacrev(f))
    return T.jacrev(T.jacfwd(f))


HOWS = ["hessian_name", "jacrev_grad_value", "jacfwd_grad_value", "jacrev_jacfwd"]
# Third order (an inner grad or hessian) is slow to difference: one outer form for those.
CASES = [(name, how) for name in sorted(INNER) for how in HOWS
         if how == "hessian_name" or name not in ("via_grad", "via_hessian")]


def _reference(name, how):
    f = INNER[name]
    if how.startswith(("hessian", "jacrev_grad", "jacfwd_grad")):
        first = s2s.grad(lambda x: snp.sum(f(x)))
    else:
        first = s2s.jacrev(f)
    return central_jacobian(lambda x: np.asarray(first(x)), X, eps=1e-5)


@pytest.mark.parametrize("name, how", CASES)
def test_second_order_against_differences(name, how):
    got = _outer(s2s, snp, INNER[name], how)(X)
    assert_close(got, _reference(name, how), rtol=1e-6, atol=1e-7, check_dtype=False)


@pytest.mark.parametrize("name", ["via_jvp", "via_linearize", "via_vjp", "via_jacrev"])
def test_second_order_against_jax(name):
    how = "jacrev_grad_value"
    jax = pytest.importorskip("jax")
    with jax_x64(jax):
        jf = {f.__name__: f for f in _inner_calls(jax, jax.numpy)}[name]
        want = np.asarray(_outer(jax, jax.numpy, jf, how)(X))
    got = _outer(s2s, snp, INNER[name], how)(X)
    assert_close(got, want, rtol=1e-9, atol=1e-12, check_dtype=False)


def test_recording_inside_a_recording_keeps_the_outer_value_apart():
    """A recorded call closing over a value of the recording around it: that value is a
    constant of the inner record, not the inner variable that has the same name."""
    def inner(w):
        return lambda d: d * 3.0 + w

    def outer(w, x):
        rec = record(inner(w), (x,), {})
        return rec.fn(x)

    rec = record(outer, (np.float64(2.0), np.float64(5.0)), {})
    # outer's x0 is w; inner's own x0 is d: 5 * 3 + 2, not 5 * 3 + 5
    assert float(rec.fn(np.float64(2.0), np.float64(5.0))) == 17.0
