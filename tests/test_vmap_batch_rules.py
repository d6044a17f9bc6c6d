"""Batch rules of the generic lax.reduce_window, np.linalg.norm and np.quantile, of
conv_general_dilated with dilations, and the Jacobians and per-example gradients that
run through conv / gather / scatter / reduce_window / norm / quantile: each against a
Python loop over examples (eagerly and under jit) or central differences, counting the
calls made once per example (``loops``)."""
import re

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from cases import central_jacobian
from test_vmap import _close, _loop

R = onp.random.default_rng(11)
lax = s2s.lax


def _f(*shape):
    return R.normal(size=shape)


def _both(fn, *args, tol=1e-10):
    """``fn(*args)`` eagerly and under jit, checked to agree; the eager value."""
    eager = fn(*args)
    _close(s2s.jit(fn)(*args), eager, tol=tol)
    return eager


def _mapped(shape, axis, n=3):
    """An array of per-example ``shape``, ``n`` examples along ``axis``."""
    return onp.moveaxis(_f(n, *shape), 0, axis)


# (computation, init value, window, strides, padding, base dilation, window dilation):
# start values other than the computation's identity keep the generic primitive.
WINDOWS = [
    (lax.add, 1.0, (2, 2), (1, 1), "VALID", None, None),
    (lax.max, -0.5, (2, 3), (2, 1), "SAME", None, None),
    (lax.min, 0.25, (3, 2), (1, 2), ((1, 0), (0, 2)), None, (1, 2)),
    (lax.mul, 2.0, (2, 2), (1, 1), "VALID", (2, 1), None),
]


def _window_fn(case):
    comp, init, window, strides, padding, base, dil = WINDOWS[case]

    def pooled(x):
        return lax.reduce_window(x, init, comp, window, strides, padding, base, dil)
    return pooled


@pytest.mark.parametrize("case", range(len(WINDOWS)))
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_reduce_window_batch_rule(case, axis, loops, x64):
    fn = _window_fn(case)
    x = _mapped((4, 5), axis)
    _close(_both(s2s.vmap(fn, in_axes=axis), x), _loop(fn, axis, x), tol=1e-12)
    assert loops == []


def test_reduce_window_with_a_start_value_per_example(loops, x64):
    def fn(x, init):
        return lax.reduce_window(x, init, lax.max, (2, 2))
    x, init = _f(3, 4, 5), onp.array([-1.0, 0.0, 1.0])
    _close(s2s.vmap(fn)(x, init), _loop(fn, 0, x, init), tol=1e-12)
    # batched (JAX refuses it): windows from max's identity, then each start folded in
    assert loops == []
    # a start value of another dtype than the operand's: per example, refused as each
    # example's own call refuses it
    x32 = x.astype(onp.float32)
    with pytest.raises(s2s.errors.DtypeError) as each:
        fn(x32[0], init[0])
    with pytest.raises(s2s.errors.DtypeError, match=re.escape(str(each.value).splitlines()[0][:40])):
        s2s.vmap(fn)(x32, init)


# (ord, axis, keepdims, per-example shape)
NORMS = [
    (None, None, False, (3, 4, 2)), (None, None, True, (3, 4)), (2, None, False, (5,)),
    (1, None, True, (3, 4)), ("nuc", None, False, (3, 4)), (-2, None, False, (4, 3)),
    (onp.inf, 1, False, (3, 4)), (-onp.inf, 0, True, (3, 4)), (0, -1, False, (3, 4)),
    (3, 1, False, (2, 5, 3)), (0.5, (0,), False, (3, 4)), (-1, -2, False, (4, 3)),
    ("fro", (0, 2), True, (3, 2, 4)), (onp.inf, (2, 0), False, (3, 2, 4)),
    (1, (-1, -2), False, (3, 4)), (2, (1, 0), True, (3, 4)), (None, 0, False, (4,)),
]


@pytest.mark.parametrize("case", range(len(NORMS)), ids=lambda c: repr(NORMS[c][:3]))
@pytest.mark.parametrize("axis", [0, 1])
def test_norm_batch_rule(case, axis, loops, x64):
    ord, red, keepdims, shape = NORMS[case]

    def fn(x):
        return np.linalg.norm(x, ord=ord, axis=red, keepdims=keepdims)
    x = _mapped(shape, axis)
    got = _both(s2s.vmap(fn, in_axes=axis), x)
    _close(got, _loop(fn, axis, x), tol=1e-10)
    _close(got[1], onp.linalg.norm(onp.take(x, 1, axis), ord, red, keepdims), tol=1e-10)
    assert loops == []


def test_norm_positional_arguments_and_errors(loops, x64):
    x = _f(3, 4, 5)
    _close(s2s.vmap(lambda v: np.linalg.norm(v, 1, 1, True))(x),
           _loop(lambda v: np.linalg.norm(v, 1, 1, True), 0, x), tol=1e-12)
    assert loops == []
    with pytest.raises(ValueError):  # an order without a vector or matrix: NumPy's error
        s2s.vmap(lambda v: np.linalg.norm(v, ord=2))(_f(3, 2, 2, 2))


# (q, axis, method, keepdims, per-example shape)
QUANTILES = [
    (0.3, None, "linear", False, (4, 5)), ([0.1, 0.9], 0, "lower", False, (4, 5)),
    (onp.array([[0.2, 0.5], [0.7, 1.0]]), 1, "higher", True, (4, 5)),
    (0.5, (0, 2), "nearest", False, (3, 2, 4)), ([0.25], -1, "midpoint", True, (3, 4)),
    (0.6, None, "linear", True, (3, 4)), ([0.0, 0.4], None, "linear", False, ()),
]


@pytest.mark.parametrize("case", range(len(QUANTILES)), ids=lambda c: repr(QUANTILES[c][1:4]))
@pytest.mark.parametrize("axis", [0, 1])
def test_quantile_batch_rule(case, axis, loops, x64):
    q, red, method, keepdims, shape = QUANTILES[case]
    if axis >= len(shape) + 1:
        pytest.skip("scalar examples: only axis 0")

    def fn(x):
        return np.quantile(x, q, axis=red, method=method, keepdims=keepdims)
    x = _mapped(shape, axis)
    got = _both(s2s.vmap(fn, in_axes=axis), x)
    _close(got, _loop(fn, axis, x), tol=1e-12)
    _close(got[2], onp.quantile(onp.take(x, 2, axis), q, axis=red, method=method,
                                keepdims=keepdims), tol=1e-12)
    assert loops == []


def test_quantile_with_q_per_example_is_one_call(loops, x64):
    # q is a static parameter of the primitive: eagerly, one NumPy call at the distinct
    # q values, each example reading its own (batch_rules._quantile_per_example_host_q)
    x, q = _f(3, 6), onp.array([0.1, 0.5, 0.9])
    got = s2s.vmap(lambda v, p: np.quantile(v, p))(x, q)
    _close(got, onp.array([onp.quantile(x[i], q[i]) for i in range(3)]), tol=1e-12)
    assert loops == []


# conv_general_dilated with lhs/rhs dilation next to strides, padding, layouts and groups
# (tests/test_vmap_without_loops.py covers the layouts and groups without dilation):
# (lhs shape, rhs shape, strides, padding, lhs dilation, rhs dilation, layouts, fgc, bgc)
CONVS = [
    ((2, 3, 5, 6), (4, 3, 2, 3), (1, 2), ((1, 1), (0, 2)), (2, 1), (1, 2), None, 1, 1),
    ((2, 3, 5, 6), (4, 3, 2, 3), (2, 1), "SAME", None, (2, 1), None, 1, 1),
    ((2, 6, 5, 3), (2, 3, 3, 4), (2, 1), ((1, 2), (0, 1)), None, (2, 2),
     ("NHWC", "HWIO", "NHWC"), 1, 1),
    ((2, 4, 7), (6, 2, 3), (1,), [(0, 0)], (2,), (2,), None, 2, 1),
    ((4, 2, 7), (6, 2, 2), (2,), [(1, 1)], None, (3,), None, 1, 2),
]


def _conv_fn(case):
    _, _, strides, padding, ld, rd, dn, fgc, bgc = CONVS[case]

    def conv(a, b):
        return lax.conv_general_dilated(a, b, strides, padding, ld, rd, dn,
                                        feature_group_count=fgc, batch_group_count=bgc)
    return conv


@pytest.mark.parametrize("case", range(len(CONVS)))
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (1, -1)])
def test_conv_with_dilation_batch_rule(case, in_axes, loops, x64):
    lhs_shape, rhs_shape = CONVS[case][:2]
    conv = _conv_fn(case)
    a = _f(*lhs_shape) if in_axes[0] is None else _mapped(lhs_shape, in_axes[0])
    b = _f(*rhs_shape) if in_axes[1] is None else _mapped(rhs_shape, in_axes[1])
    _close(_both(s2s.vmap(conv, in_axes=in_axes), a, b), _loop(conv, in_axes, a, b), tol=1e-10)
    assert loops == []


# Per-example gradients of a small CNN (the user case of the conv batch rule).


def cnn_loss(params, image, label):
    w1, w2, dense = params
    h = np.tanh(lax.conv_general_dilated(image[None], w1, (1, 1), "SAME"))
    h = lax.reduce_window(h, -1.0, lax.max, (1, 1, 2, 2), (1, 1, 2, 2))  # max pool
    h = np.tanh(lax.conv_general_dilated(h, w2, (1, 1), "VALID", rhs_dilation=(1, 2)))
    logits = np.dot(np.reshape(h, (-1,)), dense)
    return np.sum((logits - label) ** 2)


def _cnn_params():
    return [_f(4, 2, 3, 3) * 0.5, _f(3, 4, 2, 2) * 0.5, _f(3 * 2 * 1, 2) * 0.5]


@pytest.mark.parametrize("in_axes", [(None, 0, 0), (None, 1, 0)])
def test_per_example_gradients_of_a_cnn(in_axes, loops, x64):
    params = _cnn_params()
    images = _mapped((2, 6, 6), in_axes[1], n=4)
    labels = _f(4, 2)
    g = s2s.grad(cnn_loss)
    got = _both(s2s.vmap(g, in_axes=in_axes), params, images, labels)
    _close(got, _loop(g, in_axes, params, images, labels), tol=1e-10)
    assert loops == []
    # one example's gradient against central differences of the loss
    image = onp.take(images, 2, in_axes[1])
    for k, p in enumerate(params):
        def in_p(v, k=k):
            ps = list(params)
            ps[k] = v.reshape(p.shape)
            return cnn_loss(ps, image, labels[2])
        want = central_jacobian(in_p, p.ravel())
        _close(got[k][2].ravel(), want, tol=1e-6)


# Jacobians through each primitive: jacfwd is vmap of jvp, jacrev vmap of vjp (a batch of
# tangents or cotangents, no per-basis loop), against central differences.
W = _f(2, 3, 3, 3)
IDX = onp.array([[4], [0], [2]])
GDN, SDN = lax.GatherDimensionNumbers, lax.ScatterDimensionNumbers
_S = SDN((1,), (0,), (0,))


def _op(v):
    return v[:15].reshape(5, 3)


def _up(v):
    return v[15:24].reshape(3, 3)


JACOBIANS = {
    "conv": (lambda v: lax.conv_general_dilated(v.reshape(1, 3, 4, 4), W, (1, 1), "SAME",
                                                rhs_dilation=(2, 1)), 48),
    "gather": (lambda v: lax.gather(v.reshape(5, 3), IDX, GDN((1,), (0,), (0,)), (1, 3),
                                    mode="clip"), 15),
    "scatter": (lambda v: lax.scatter(_op(v), IDX, _up(v), _S), 24),
    "scatter_add": (lambda v: lax.scatter_add(_op(v), IDX, _up(v), _S), 24),
    "scatter_mul": (lambda v: lax.scatter_mul(_op(v), IDX, _up(v), _S), 24),
    "scatter_max": (lambda v: lax.scatter_max(_op(v), IDX, _up(v), _S), 24),
    "scatter_min": (lambda v: lax.scatter_min(_op(v), IDX, _up(v), _S), 24),
    "reduce_window": (lambda v: lax.reduce_window(v.reshape(4, 5), -1.0, lax.max, (2, 2),
                                                  (1, 2), "SAME"), 20),
    "reduce_window_mul": (lambda v: lax.reduce_window(v.reshape(4, 5), 2.0, lax.mul, (2, 2)), 20),
    "norm_3": (lambda v: np.linalg.norm(v.reshape(4, 5), ord=3, axis=1), 20),
    "norm_nuc": (lambda v: np.linalg.norm(v.reshape(4, 5), ord="nuc"), 20),
    "norm_2": (lambda v: np.linalg.norm(v.reshape(4, 5), ord=2, keepdims=True), 20),
    "quantile": (lambda v: np.quantile(v.reshape(4, 5), [0.3, 0.8], axis=0), 20),
}

# Forward mode through a primitive without a jvp template transposes its vjp template
# (s2s.transforms.fwd_support.transposed_jvp); the reverse of these adjoint helpers is
# generated derivative code that vmap still runs once per tangent. They go away with
# jvp templates for these primitives; no other per-example call may appear.
TRANSPOSED_HELPERS = {"bwd_conv_transpose_lhs", "bwd_reduce_window_operand_grad",
                      "bwd_scatter_extremal_operand_grad", "bwd_scatter_extremal_updates_grad",
                      "bwd_scatter_mul_updates_grad"}


@pytest.mark.parametrize("name", sorted(JACOBIANS))
@pytest.mark.parametrize("mode", ["jacfwd", "jacrev"])
def test_jacobians_through_batch_rules(name, mode, loops, x64):
    fn, size = JACOBIANS[name]
    x = _f(size)
    jac = getattr(s2s, mode)(fn)(x)
    want = central_jacobian(fn, x)
    _close(onp.reshape(jac, onp.shape(want)), want, tol=1e-6)
    if mode == "jacrev":
        assert loops == []
    else:
        assert set(loops) <= TRANSPOSED_HELPERS


def norms_and_quantiles(x, qs):
    a = np.quantile(x, [0.2, 0.7], axis=(0, 1), keepdims=True, method="lower")
    b = np.linalg.norm(x) + np.linalg.norm(x, 1, 1)[:, None] + np.quantile(x, 0.3, axis=-1)[:, None]
    return a * np.sum(b) + np.quantile(x, qs)[:, None, None] + np.linalg.norm(x, "fro", (1, 0), True)


def test_norm_and_quantile_source_forms(loops, x64):
    x, qs = _mapped((4, 5), 0), onp.array([0.5, 0.1])
    fn = s2s.vmap(norms_and_quantiles, in_axes=(0, None))
    _close(_both(fn, x, qs), _loop(norms_and_quantiles, (0, None), x, qs), tol=1e-12)
    assert loops == []
    text = s2s.source(fn)
    for line in ("np.moveaxis(np.quantile(x, t, axis=(1, 2), keepdims=True, method='lower'), 1, 0)",
                 "np.linalg.norm(x, axis=(1, 2))", "np.linalg.norm(x, ord=1, axis=2)",
                 "np.quantile(x, 0.3, axis=2)", "np.moveaxis(np.quantile(x, qs, axis=(1, 2)), 1, 0)",
                 "np.linalg.norm(x, ord='fro', axis=(2, 1), keepdims=True)"):
        assert line in text, text
    assert "vcall" not in text, text


def starred_tuple(v, w):
    t = (v, w)
    u = (*t, v * 2.0)
    return u[0] + u[1] * u[2]


def scatter_of_parts(v):
    return lax.scatter(*_parts(v))


def _parts(v):
    return _op(v), IDX, _up(v), _S


def test_starred_items_of_a_batched_tuple(loops, x64):
    # `(*t, y)` with t unbatched next to a batched y: each item of t is broadcast (the
    # batched source wrote broadcast_batch(*t, batch_size), a TypeError)
    v, w = _f(3, 2), _f(2)
    _close(_both(s2s.vmap(starred_tuple, in_axes=(0, None)), v, w),
           _loop(starred_tuple, (0, None), v, w), tol=1e-12)
    x = _f(24)  # forward mode passes the tangents on as (*dt,): a batch under jacfwd
    _close(s2s.jacfwd(scatter_of_parts)(x), central_jacobian(scatter_of_parts, x), tol=1e-6)
    assert loops == []
