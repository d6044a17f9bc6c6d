"""Second order through convolutions: ``hessian``, ``jacrev(grad)``, ``jacfwd(grad)`` and
``vmap(grad)`` run the conv adjoint helpers (``lax.vjp_helpers.conv_transpose_lhs``/``rhs``)
on batched tangents and cotangents, never once per basis vector.

The helpers are bilinear (in the adjoint and the other operand): their jvp and vjp
templates are the helpers and the convolution again, and their batch rule folds the
examples into the one convolution they run, as ``conv_general_dilated``'s rule does.
Counted with the ``loops`` fixture, checked against central differences of ``grad`` in
float64, against a loop over examples, and against ``jax.hessian`` where JAX is installed.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import jax_x64


# Convolutions over the parameter grid, written against a lax module so the same text runs
# on JAX: (conv(lax) -> fn(x, w), x shape, w shape).
CONVS = {
    "strides_padding_dilations": (lambda lax: lambda x, w: lax.conv_general_dilated(
        x, w, (2, 1), ((1, 0), (0, 1)), lhs_dilation=(1, 2), rhs_dilation=(2, 1)),
        (1, 2, 5, 4), (3, 2, 2, 2)),
    "same_padding": (lambda lax: lambda x, w: lax.conv_general_dilated(x, w, (1, 2), "SAME"),
                     (2, 2, 4, 3), (2, 2, 3, 2)),
    "feature_groups": (lambda lax: lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), "VALID", rhs_dilation=(1, 2), feature_group_count=2),
        (1, 4, 4, 4), (4, 2, 2, 2)),
    "batch_groups": (lambda lax: lambda x, w: lax.conv_general_dilated(
        x, w, (1, 1), ((0, 1), (1, 0)), batch_group_count=2),
        (4, 2, 3, 3), (4, 2, 2, 2)),
    "nhwc_hwio": (lambda lax: lambda x, w: lax.conv_general_dilated(
        x, w, (2, 1), ((1, 0), (1, 1)), lhs_dilation=(2, 1),
        dimension_numbers=("NHWC", "HWIO", "NHWC")),
        (1, 3, 4, 2), (2, 3, 2, 3)),
    "nhwc_groups_1d": (lambda lax: lambda x, w: lax.conv_general_dilated(
        x, w, (2,), ((1, 1),), rhs_dilation=(2,), dimension_numbers=("NWC", "WIO", "NWC"),
        feature_group_count=3), (2, 6, 3), (2, 1, 6)),
    "conv": (lambda lax: lambda x, w: lax.conv(x, w, (1, 2), "VALID"), (2, 2, 4, 5), (3, 2, 2, 2)),
    "conv_with_general_padding": (lambda lax: lambda x, w: lax.conv_with_general_padding(
        x, w, (2, 1), ((1, 2), (0, 1)), (1, 2), (2, 1)), (1, 2, 4, 3), (2, 2, 2, 2)),
    "conv_transpose": (lambda lax: lambda x, w: lax.conv_transpose(
        x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")),
        (1, 3, 2, 2), (2, 2, 2, 3)),
}


def _loss(conv):
    """A scalar of the convolution whose Hessian is dense (tanh curves everywhere)."""
    return lambda x, w: snp.sum(snp.tanh(conv(x, w)))


def _point(name, seed=0):
    _, xs, ws = CONVS[name]
    rng = np.random.default_rng(seed)
    return rng.normal(size=xs) * 0.5, rng.normal(size=ws) * 0.5


def _central_hessian(f, x, w, argnums, eps=1e-6):
    """Central differences of s2s.grad, laid out as jax.hessian lays out its result."""
    args = [x, w]
    g = s2s.grad(f, argnums=argnums)
    blocks = {}
    for j in (argnums if isinstance(argnums, tuple) else (argnums,)):
        cols = []
        for k in range(args[j].size):
            e = np.zeros(args[j].size)
            e[k] = eps
            up, down = list(args), list(args)
            up[j] = args[j] + e.reshape(args[j].shape)
            down[j] = args[j] - e.reshape(args[j].shape)
            diff = [(np.asarray(a) - np.asarray(b)) / (2 * eps) for a, b in zip(
                *(o if isinstance(argnums, tuple) else (o,) for o in (g(*up), g(*down))))]
            cols.append(diff)
        for i, _ in enumerate(cols[0]):
            blocks[i, j] = np.stack([c[i] for c in cols], axis=-1).reshape(
                np.shape(cols[0][i]) + args[j].shape)
    if not isinstance(argnums, tuple):
        return blocks[0, argnums]
    return tuple(tuple(blocks[i, j] for j in argnums) for i in range(len(argnums)))


def _assert_trees(got, want, rtol, atol):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, e in zip(got, want):
            _assert_trees(g, e, rtol, atol)
        return
    np.testing.assert_allclose(np.asarray(got), want, rtol=rtol, atol=atol)


ARGNUMS = {"x": 0, "w": 1, "both": (0, 1)}


@pytest.mark.parametrize("wrt", sorted(ARGNUMS))
@pytest.mark.parametrize("name", sorted(CONVS))
def test_hessian_runs_no_example_loop(name, wrt, loops, x64):
    f = _loss(CONVS[name][0](lax))
    x, w = _point(name)
    argnums = ARGNUMS[wrt]
    got = s2s.hessian(f, argnums=argnums)(x, w)
    assert loops == []
    _assert_trees(got, _central_hessian(f, x, w, argnums), rtol=1e-6, atol=1e-7)
