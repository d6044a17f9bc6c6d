"""Second order through convolutions: ``hessian``, ``jacrev(grad)``, ``jacfwd(grad)`` and
``vmap(grad)`` run the conv adjoint helpers (``lax.vjp_helpers.conv_transpose_lhs``/``rhs``)
on batched tangents and cotangents, never once per basis vector.

The helpers are bilinear (in the adjoint and the other operand): their jvp and vjp
templates are the helpers and the convolution again, and their batch rule folds the
examples into the one convolution they run, as ``conv_general_dilated``'s rule does.
Counted with the ``loops`` fixture, checked against central differences of ``grad`` in
float64, against a loop over examples, and against ``jax.hessian`` where JAX is installed.
"""
import functools
import types

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import jax_x64


# Losses through convolutions over the parameter grid: sum(tanh(conv(x, w))), whose
# Hessian is dense. Plain functions on the module's ``lax`` and ``snp``, as user code reads
# them (``_on_jax`` runs the same code on jax.lax and jax.numpy).


def strides_padding_dilations(x, w):
    return snp.sum(snp.tanh(lax.conv_general_dilated(x, w, (2, 1), ((1, 0), (0, 1)),
                                                     lhs_dilation=(1, 2), rhs_dilation=(2, 1))))


def same_padding(x, w):
    return snp.sum(snp.tanh(lax.conv_general_dilated(x, w, (1, 2), "SAME")))


def feature_groups(x, w):
    return snp.sum(snp.tanh(lax.conv_general_dilated(x, w, (1, 1), "VALID", rhs_dilation=(1, 2),
                                                     feature_group_count=2)))


def batch_groups(x, w):
    return snp.sum(snp.tanh(lax.conv_general_dilated(x, w, (1, 1), ((0, 1), (1, 0)),
                                                     batch_group_count=2)))


def nhwc_hwio(x, w):
    return snp.sum(snp.tanh(lax.conv_general_dilated(
        x, w, (2, 1), ((1, 0), (1, 1)), lhs_dilation=(2, 1),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))))


def nwc_groups_1d(x, w):
    return snp.sum(snp.tanh(lax.conv_general_dilated(
        x, w, (2,), ((1, 1),), rhs_dilation=(2,), dimension_numbers=("NWC", "WIO", "NWC"),
        feature_group_count=3)))


def conv(x, w):
    return snp.sum(snp.tanh(lax.conv(x, w, (1, 2), "VALID")))


def conv_with_general_padding(x, w):
    return snp.sum(snp.tanh(lax.conv_with_general_padding(x, w, (2, 1), ((1, 2), (0, 1)),
                                                          (1, 2), (2, 1))))


def conv_transpose(x, w):
    return snp.sum(snp.tanh(lax.conv_transpose(x, w, (2, 2), "SAME",
                                               dimension_numbers=("NHWC", "HWIO", "NHWC"))))


def conv_transpose_kernel(x, w):
    return snp.sum(snp.tanh(lax.conv_transpose(
        x, w, (1, 2), ((1, 0), (0, 1)), rhs_dilation=(1, 2),
        dimension_numbers=("NCHW", "OIHW", "NCHW"), transpose_kernel=True)))


# name -> (loss, x shape, w shape)
CONVS = {f.__name__: (f, xs, ws) for f, xs, ws in [
    (strides_padding_dilations, (1, 2, 5, 4), (3, 2, 2, 2)),
    (same_padding, (2, 2, 4, 3), (2, 2, 3, 2)),
    (feature_groups, (1, 4, 4, 4), (4, 2, 2, 2)),
    (batch_groups, (4, 2, 3, 3), (4, 2, 2, 2)),
    (nhwc_hwio, (1, 3, 4, 2), (2, 3, 2, 3)),
    (nwc_groups_1d, (2, 6, 3), (2, 1, 6)),
    (conv, (2, 2, 4, 5), (3, 2, 2, 2)),
    (conv_with_general_padding, (1, 2, 4, 3), (2, 2, 2, 2)),
    (conv_transpose, (1, 3, 2, 2), (2, 2, 2, 3)),
    (conv_transpose_kernel, (1, 2, 3, 2), (2, 3, 2, 2)),
]}


def _on_jax(fn, jax):
    """``fn``'s code run on jax.lax and jax.numpy."""
    import jax.numpy as jnp
    return types.FunctionType(fn.__code__, dict(fn.__globals__, lax=jax.lax, snp=jnp), fn.__name__)


def _point(name, seed=0):
    _, xs, ws = CONVS[name]
    rng = np.random.default_rng(seed)
    return rng.normal(size=xs) * 0.5, rng.normal(size=ws) * 0.5


@functools.lru_cache(maxsize=None)
def _expected_hessian(name):
    """The Hessian in both operands of CONVS[name]'s loss, by central differences of grad."""
    x, w = _point(name)
    return _central_hessian(CONVS[name][0], x, w, (0, 1))


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
    f = CONVS[name][0]
    x, w = _point(name)
    argnums = ARGNUMS[wrt]
    got = s2s.hessian(f, argnums=argnums)(x, w)
    assert loops == []
    _assert_trees(got, _central_hessian(f, x, w, argnums), rtol=1e-6, atol=1e-7)


SECOND_ORDER = {
    "hessian": s2s.hessian,
    "jacrev_grad": lambda f, argnums: s2s.jacrev(s2s.grad(f, argnums=argnums), argnums=argnums),
    "jacfwd_grad": lambda f, argnums: s2s.jacfwd(s2s.grad(f, argnums=argnums), argnums=argnums),
}


# hessian eager is test_hessian_runs_no_example_loop's; jit compiles each program once
# (seconds), so jit on a few layouts: groups of both kinds, dilations, NHWC, transposed.
JIT_CONVS = ("batch_groups", "nwc_groups_1d")
HESSIAN_JIT_CONVS = JIT_CONVS + ("conv_transpose_kernel", "nhwc_hwio", "strides_padding_dilations")
SECOND_ORDER_CASES = [(name, how, "eager") for name in sorted(CONVS)
                      for how in ("jacfwd_grad", "jacrev_grad")] \
    + [(name, "hessian", "jit") for name in HESSIAN_JIT_CONVS] \
    + [(name, how, "jit") for name in JIT_CONVS for how in ("jacfwd_grad", "jacrev_grad")]


@pytest.mark.parametrize("name,how,jit", SECOND_ORDER_CASES)
def test_second_order_runs_no_example_loop(name, how, jit, loops, x64):
    f = CONVS[name][0]
    hess = SECOND_ORDER[how](f, argnums=(0, 1))
    got = (s2s.jit(hess) if jit == "jit" else hess)(*_point(name))
    assert loops == []
    _assert_trees(got, _expected_hessian(name), rtol=1e-6, atol=1e-7)


# vmap(grad): the examples in the input, the kernel or both (the adjoint helpers meet a
# batched cotangent with a batched or unbatched other operand).
IN_AXES = {"x": (0, None), "w": (None, 0), "both": (0, 0)}


VMAP_CASES = [(name, which, "eager") for name in sorted(CONVS) for which in sorted(IN_AXES)] \
    + [(name, "both", "jit") for name in JIT_CONVS]


@pytest.mark.parametrize("name,which,jit", VMAP_CASES)
def test_vmap_of_grad_matches_example_loop(name, which, jit, loops, x64):
    g = s2s.grad(CONVS[name][0], argnums=(0, 1))
    points = [_point(name, seed) for seed in range(3)]
    in_axes = IN_AXES[which]
    args = [np.stack([p[i] for p in points]) if ax == 0 else points[0][i]
            for i, ax in enumerate(in_axes)]
    batched = s2s.vmap(g, in_axes=in_axes)
    got = (s2s.jit(batched) if jit == "jit" else batched)(*args)
    assert loops == []
    for k in range(3):
        example = [a[k] if ax == 0 else a for a, ax in zip(args, in_axes)]
        for part, want in zip(got, g(*example)):
            np.testing.assert_allclose(part[k], want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["batch_groups", "conv_transpose", "conv_transpose_kernel",
                                  "nwc_groups_1d", "strides_padding_dilations"])
def test_hessian_matches_jax(name, x64):
    jax = pytest.importorskip("jax")
    x, w = _point(name)
    with jax_x64(jax):
        want = jax.jit(jax.hessian(_on_jax(CONVS[name][0], jax), argnums=(0, 1)))(x, w)
        want = tuple(tuple(np.asarray(b) for b in row) for row in want)
    got = s2s.hessian(CONVS[name][0], argnums=(0, 1))(x, w)
    _assert_trees(got, want, rtol=1e-10, atol=1e-12)


STAX = {"conv": ("Conv", (3, (2, 2), (2, 1), "SAME")),
        "general_conv_nchw": ("GeneralConv", (("NCHW", "OIHW", "NCHW"), 2, (2, 3))),
        "conv_transpose": ("ConvTranspose", (2, (2, 2), (2, 2), "SAME")),
        "conv1d_transpose": ("Conv1DTranspose", (2, (3,), (2,)))}
STAX_INPUTS = {"conv": (1, 4, 3, 2), "general_conv_nchw": (1, 4, 3, 2), "conv_transpose": (1, 2, 3, 2),
               "conv1d_transpose": (2, 3, 2)}


@pytest.mark.parametrize("name", sorted(STAX))
def test_hessian_of_stax_conv_layer(name, loops, x64):
    from s2s import random
    from s2s.example_libraries import stax
    layer, args = STAX[name]
    init, apply = getattr(stax, layer)(*args)
    _, (W, b) = init(random.PRNGKey(0), STAX_INPUTS[name])
    W, b = np.asarray(W, np.float64), np.asarray(b, np.float64)
    x = np.random.default_rng(0).normal(size=STAX_INPUTS[name]) * 0.5

    def f(x, W):
        return snp.sum(snp.tanh(apply((W, b), x)))
    got = s2s.hessian(f, argnums=(0, 1))(x, W)
    # The layer's closure (library code, stax.py) and its derivative code are batched by
    # source: nothing runs once per basis vector.
    assert loops == []
    _assert_trees(got, _central_hessian(f, x, W, (0, 1)), rtol=1e-6, atol=1e-7)


def test_hessian_of_stax_layer_runs_no_example_loop(loops, x64):
    from s2s import random
    from s2s.example_libraries import stax
    init, apply = stax.Conv(2, (2, 2))
    _, params = init(random.PRNGKey(0), (1, 3, 3, 1))
    s2s.hessian(lambda x: snp.sum(snp.tanh(apply(params, x))))(np.ones((1, 3, 3, 1)))
    assert loops == []
