"""vmap of reverse-mode code whose tape is a list: the adjoint of the list is split
item by item (``split_last_grad``) while the outer transformation batches it.

Regression of issue 11: ``jacrev(grad(loss))`` through a helper whose for loop reassigns
a matrix (``W = W[:3]``) ran ``split_last_grad`` once per example, and the list adjoint
left at the loop's first iteration holds only ``None`` (zero adjoints of the shapes and
the unset ``x2`` it saved): 'no batched array among the arguments'.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.numpy.batching import loop_call
from s2s.runtime import support
from s2s.transforms.batch_support import vcall

from cases import central_grad

RNG = np.random.default_rng(0)
X = RNG.normal(size=4)
W = RNG.normal(size=(4, 3))
B = RNG.normal(size=3)


def inner(x, w, b):
    for _ in range(2):
        x = snp.tanh(snp.dot(x, w) + b)
        w = w[:3]
    return x


def loss(x, w, b):
    return snp.sum(inner(x, w, b) ** 2)


def _np_loss(x, w, b):
    for _ in range(2):
        x = np.tanh(np.dot(x, w) + b)
        w = w[:3]
    return np.sum(x ** 2)


def _central_jacobian(f, x, eps=1e-6):
    """The Jacobian of array-valued ``f`` at ``x`` by central differences (float64)."""
    cols = []
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps))
    return np.stack(cols, axis=-1).reshape(np.shape(f(x)) + x.shape)


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit], ids=["eager", "jit"])
def test_jacrev_of_grad_through_a_loop_that_reassigns(x64, wrap):
    hess = wrap(s2s.jacrev(s2s.grad(loss)))(X, W, B)
    expected = _central_jacobian(lambda x: central_grad(lambda y: _np_loss(y, W, B), x, 1e-5), X,
                                 1e-4)
    np.testing.assert_allclose(hess, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(hess, s2s.hessian(loss)(X, W, B), rtol=1e-10, atol=1e-12)


def test_jacrev_of_grad_matches_jax(x64):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    jax.config.update("jax_enable_x64", True)

    def jloss(x, w, b):
        for _ in range(2):
            x = jnp.tanh(jnp.dot(x, w) + b)
            w = w[:3]
        return jnp.sum(x ** 2)
    for ours, theirs in [(s2s.jacrev(s2s.grad(loss)), jax.jacrev(jax.grad(jloss))),
                         (s2s.jacfwd(s2s.grad(loss)), jax.jacfwd(jax.grad(jloss)))]:
        np.testing.assert_allclose(ours(X, W, B), theirs(X, W, B), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit], ids=["eager", "jit"])
@pytest.mark.parametrize("in_axes", [(0, None, None), (None, 0, None)], ids=["x", "w"])
def test_vmap_of_grad_through_a_loop_that_reassigns(x64, wrap, in_axes):
    xs = RNG.normal(size=(5, 4)) if in_axes[0] == 0 else X
    ws = RNG.normal(size=(5, 4, 3)) if in_axes[1] == 0 else W
    out = wrap(s2s.vmap(s2s.grad(loss), in_axes=in_axes))(xs, ws, B)
    for i in range(5):
        x, w = (xs[i] if in_axes[0] == 0 else xs), (ws[i] if in_axes[1] == 0 else ws)
        np.testing.assert_allclose(out[i], s2s.grad(loss)(x, w, B), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(out[i], central_grad(lambda y: _np_loss(y, w, B), x),
                                   rtol=1e-6, atol=1e-8)


def test_list_adjoint_helpers_keep_batched_items_in_place():
    """The structural rules: the items of a batched list adjoint are split and joined as
    they are (no call per example, which would stack copies), an all-zero one included."""
    g = [np.arange(6.0).reshape(3, 2), None, np.ones((3, 2))]
    head, last = vcall(support.split_last_grad, (0,), g)
    assert head[0] is g[0] and head[1] is None and last is g[2]
    assert vcall(support.split_last_grad, (0,), [None, None]) == ([None], None)
    joined = vcall(support.join_last_grad, (0, None), ([None, None], g[2]), [0, 0, 0])
    assert joined[:2] == [None, None] and joined[2] is g[2]


def test_per_example_call_of_arguments_without_examples():
    """A batched argument that holds no leaf (a list of zero adjoints) is the same for
    every example: the call runs once; one that would have to invent a batch size for
    its result says so."""
    assert loop_call(support.split_last_grad, (0,), ([None, None],), {}) == ([None], None)
    with pytest.raises(ValueError, match="batch size .* is unknown"):
        loop_call(lambda g: 1.0, (0,), ([None],), {})
