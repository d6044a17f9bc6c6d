"""vmap of jacfwd and hessian: the jvp source vmapped over the basis, that vmapped over the
examples (issue 11). A ``lax.cond`` or a Python ``if`` on the data used to make the
Jacobian function run once per example (its recording on one example read the branch
index); it now batches, checked against a Python loop over examples and, for the Hessian,
central differences of the gradient, eagerly and under jit.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax

from cases import assert_trees_close, central_jacobian, loop_over_examples

RNG = np.random.default_rng(11)
XS = RNG.normal(size=(5, 3))
W = RNG.normal(size=3)
WS = RNG.normal(size=(5, 3))


def by_cond(x, w):
    return lax.cond(snp.sum(x * w) > 0, lambda v: snp.sum(snp.sin(v) * w),
                    lambda v: snp.sum(v ** 3 * w), x)


def by_if(x, w):
    if snp.sum(x * w) > 0:
        return snp.sum(snp.sin(x) * w)
    return snp.sum(x ** 3 * w)


def vector_cond(x, w):
    return lax.cond(snp.sum(x) > 0, lambda v: snp.sin(v) * w, lambda v: v ** 3, x)


def with_aux(x, w):
    return by_cond(x, w), {"s": snp.sum(x)}


def _np_by_if(x, w):
    return np.sum(np.sin(x) * w) if np.sum(x * w) > 0 else np.sum(x ** 3 * w)


CASES = [
    ("hessian-cond", lambda: s2s.hessian(by_cond), (XS, W), (0, None)),
    ("hessian-if", lambda: s2s.hessian(by_if), (XS, W), (0, None)),
    ("hessian-argnums", lambda: s2s.hessian(by_cond, argnums=(0, 1)), (XS, WS), (0, 0)),
    ("jacfwd-vector", lambda: s2s.jacfwd(vector_cond, argnums=(0, 1)), (XS, WS), (0, 0)),
    ("jacfwd-aux", lambda: s2s.jacfwd(with_aux, has_aux=True), (XS, W), (0, None)),
    ("jacfwd-axis1", lambda: s2s.jacfwd(vector_cond), (XS.T.copy(), W), (1, None)),
    ("hessian-closed-over", lambda: s2s.hessian(by_cond), (XS[0], WS), (None, 0)),
]


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit], ids=["eager", "jit"])
@pytest.mark.parametrize("make,args,axes", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_vmap_of_jacobian_matches_loop(make, args, axes, wrap, x64, loops):
    jac = make()
    got = wrap(s2s.vmap(jac, in_axes=axes))(*args)
    assert jac.__name__ not in loops, loops
    assert_trees_close(got, loop_over_examples(jac, list(args), list(axes)),
                       rtol=1e-12, atol=1e-12)


def test_hessian_on_both_branches_against_differences(x64, loops):
    """Examples on either side of the condition, each against central differences."""
    xs = np.stack([W, -W, 0.5 * W, -2.0 * W])
    got = s2s.vmap(s2s.hessian(by_if), in_axes=(0, None))(xs, W)
    assert not loops, loops
    sides = {bool(np.sum(x * W) > 0) for x in xs}
    assert sides == {True, False}
    for x, h in zip(xs, got):
        grad = s2s.grad(by_if)
        want = central_jacobian(lambda v: grad(v, W), x, 1e-5)
        np.testing.assert_allclose(h, want, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(h, central_jacobian(
            lambda v: central_jacobian(lambda u: np.atleast_1d(_np_by_if(u, W)), v, 1e-4)[0],
            x, 1e-4), rtol=1e-4, atol=1e-4)
