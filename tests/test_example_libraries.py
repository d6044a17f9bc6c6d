"""stax and optimizers: against jax.example_libraries (when installed), finite differences
for gradients through stax models, and jit against eager for optimizer updates."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import random, tree_util
from s2s.example_libraries import optimizers, stax
from cases import central_grad

NHWC = (2, 6, 6, 3)

# (id, constructor name or layer name, constructor args or None for a ready layer, input shape)
LAYERS = [
    ("dense", "Dense", (5,), NHWC),
    ("dense_2d", "Dense", (4,), (3, 7)),
    ("conv_same_strided", "Conv", (3, (3, 3), (2, 1), "SAME"), NHWC),
    ("conv_valid", "Conv", (4, (2, 3)), NHWC),
    ("general_conv_nchw", "GeneralConv", (("NCHW", "OIHW", "NCHW"), 3, (2, 2)), NHWC),
    ("conv_transpose_same", "ConvTranspose", (3, (3, 3), (2, 2), "SAME"), NHWC),
    ("conv_transpose_valid", "ConvTranspose", (2, (2, 3), (1, 2), "VALID"), NHWC),
    ("conv1d_transpose", "Conv1DTranspose", (2, (3,), (2,)), (2, 5, 3)),
    ("maxpool", "MaxPool", ((2, 2), (2, 2)), NHWC),
    ("maxpool_same", "MaxPool", ((3, 3), (2, 2), "SAME"), NHWC),
    ("sumpool", "SumPool", ((2, 3),), NHWC),
    ("avgpool_same", "AvgPool", ((3, 3), None, "SAME"), NHWC),
    ("avgpool_nchw", "AvgPool", ((2, 2), (2, 2), "VALID", "NCHW"), NHWC),
    ("batchnorm", "BatchNorm", (), NHWC),
    ("batchnorm_axis0_no_center", "BatchNorm", ((0,), 1e-5, False), (5, 3)),
    ("batchnorm_no_scale", "BatchNorm", ((0, 1), 1e-3, True, False), (4, 3, 2)),
    ("flatten", "Flatten", None, NHWC),
    ("identity", "Identity", None, NHWC),
] + [(name.lower(), name, None, NHWC) for name in
     ("Tanh", "Relu", "Exp", "LogSoftmax", "Softmax", "Softplus", "Sigmoid", "Elu", "LeakyRelu",
      "Selu", "Gelu")]


def _layer(module, name, args):
    return getattr(module, name) if args is None else getattr(module, name)(*args)


def _network(module):
    """A network that uses every combinator."""
    branch = module.serial(module.Conv(2, (2, 2), padding="SAME"), module.Tanh)
    return module.serial(
        module.FanOut(2), module.parallel(branch, module.Identity), module.FanInConcat(),
        module.shape_dependent(lambda shape: module.Conv(shape[-1], (1, 1))),
        module.FanOut(2), module.parallel(module.Relu, module.Sigmoid), module.FanInSum,
        module.MaxPool((2, 2), (2, 2)), module.Flatten, module.Dense(3), module.LogSoftmax)


def _inputs(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _assert_trees_close(actual, expected, rtol=2e-5, atol=2e-6):
    a_leaves, a_def = tree_util.tree_flatten(actual)
    e_leaves = tree_util.tree_leaves(expected)
    assert len(a_leaves) == len(e_leaves), (a_def, expected)
    for a, e in zip(a_leaves, e_leaves):
        assert np.shape(a) == np.shape(e)
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------
# stax against jax.example_libraries.stax.


@pytest.mark.parametrize("case", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_jax(case):
    jax = pytest.importorskip("jax")
    from jax.example_libraries import stax as jstax
    _, name, args, shape = case
    init, apply = _layer(stax, name, args)
    jinit, japply = _layer(jstax, name, args)
    out_shape, params = init(random.PRNGKey(3), shape)
    jout_shape, jparams = jinit(jax.random.PRNGKey(3), shape)
    assert tuple(out_shape) == tuple(int(d) for d in jout_shape)
    _assert_trees_close(params, jparams, rtol=0, atol=0)
    x = _inputs(shape)
    out = apply(params, x)
    assert out.shape == tuple(out_shape) and out.dtype == np.float32
    _assert_trees_close(out, japply(jparams, x))
    _assert_trees_close(s2s.jit(apply)(params, x), out)


def test_network_of_combinators_matches_jax():
    jax = pytest.importorskip("jax")
    from jax.example_libraries import stax as jstax
    init, apply = _network(stax)
    jinit, japply = _network(jstax)
    out_shape, params = init(random.PRNGKey(5), NHWC)
    jout_shape, jparams = jinit(jax.random.PRNGKey(5), NHWC)
    assert out_shape == tuple(jout_shape)
    _assert_trees_close(params, jparams, rtol=0, atol=0)
    x = _inputs(NHWC)
    _assert_trees_close(apply(params, x), japply(jparams, x))


def test_dropout_matches_jax_and_needs_a_key():
    jax = pytest.importorskip("jax")
    from jax.example_libraries import stax as jstax
    x = _inputs((4, 5)) + 3.0
    _, apply = stax.serial(stax.Dense(5), stax.Dropout(0.6))
    _, japply = jstax.serial(jstax.Dense(5), jstax.Dropout(0.6))
    _, params = stax.Dense(5)[0](random.PRNGKey(0), (4, 5))
    out = apply([params, ()], x, rng=random.PRNGKey(1))
    _assert_trees_close(out, japply([params, ()], x, rng=jax.random.PRNGKey(1)))
    assert 0 < np.sum(out == 0) < out.size
    _, eval_apply = stax.Dropout(0.6, mode="test")
    np.testing.assert_array_equal(eval_apply((), x), x)
    with pytest.raises(ValueError, match="PRNG key"):
        stax.Dropout(0.6)[1]((), x)


def test_experimental_paths_are_the_same_modules():
    import s2s.experimental.optimizers
    import s2s.experimental.stax
    from s2s.experimental import stax as exp_stax
    assert s2s.experimental.stax is stax is exp_stax
    assert s2s.experimental.optimizers is optimizers


def test_elementwise_with_keyword_arguments():
    init, apply = stax.elementwise(s2s.nn.leaky_relu, negative_slope=0.25)
    assert init(None, (3,)) == ((3,), ())
    np.testing.assert_allclose(apply((), np.array([-4.0, 2.0], np.float32)), [-1.0, 2.0])


# ---------------------------------------------------------------------------
# Gradients through stax models.


def _model(m=stax):
    return m.serial(
        m.Conv(2, (2, 2), padding="SAME"), m.BatchNorm(), m.Gelu,
        m.FanOut(2), m.parallel(m.AvgPool((2, 2), (2, 2)), m.MaxPool((2, 2), (2, 2))),
        m.FanInConcat(), m.ConvTranspose(2, (2, 2), (2, 2)), m.Elu,
        m.Flatten, m.Dense(3), m.LogSoftmax)


def _loss_of(apply, x, y):
    def loss(params):
        return -snp.mean(snp.sum(apply(params, x) * y, axis=1))
    return loss


def _model_and_data(dtype):
    init, apply = _model()
    _, params = init(random.PRNGKey(0), (2, 4, 4, 3))
    params = tree_util.tree_map(lambda p: np.asarray(p, dtype), params)
    x = _inputs((2, 4, 4, 3), seed=1).astype(dtype)
    y = np.eye(3, dtype=dtype)[[0, 2]]
    return apply, params, x, y


def test_grad_through_stax_model_matches_finite_differences(x64):
    apply, params, x, y = _model_and_data(np.float64)
    loss = _loss_of(apply, x, y)
    grads = s2s.grad(loss)(params)
    leaves, treedef = tree_util.tree_flatten(params)
    for k, (leaf, g) in enumerate(zip(leaves, tree_util.tree_leaves(grads))):
        def loss_of_leaf(value, k=k):
            return loss(tree_util.tree_unflatten(treedef, leaves[:k] + [value] + leaves[k + 1:]))
        np.testing.assert_allclose(g, central_grad(loss_of_leaf, leaf), rtol=1e-5, atol=1e-7)


def test_jit_of_grad_through_stax_model_matches_eager():
    apply, params, x, y = _model_and_data(np.float32)
    loss = _loss_of(apply, x, y)
    _assert_trees_close(s2s.jit(s2s.grad(loss))(params), s2s.grad(loss)(params), atol=1e-5)


def test_grad_through_stax_model_matches_jax():
    jax = pytest.importorskip("jax")
    apply, params, x, y = _model_and_data(np.float32)
    from jax.example_libraries import stax as jstax
    _, japply = _model(jstax)
    jloss = lambda p: -jax.numpy.mean(jax.numpy.sum(japply(p, x) * y, axis=1))  # noqa: E731
    _assert_trees_close(s2s.grad(_loss_of(apply, x, y))(params), jax.grad(jloss)(params),
                        rtol=1e-4, atol=1e-5)


# ---------------------------------------------------------------------------
# Optimizers.

OPTIMIZERS = [
    ("sgd", ("sgd", 0.1)),
    ("momentum", ("momentum", 0.1, 0.9)),
    ("nesterov", ("nesterov", 0.1, 0.8)),
    ("adagrad", ("adagrad", 0.2)),
    ("rmsprop", ("rmsprop", 0.05)),
    ("rmsprop_momentum", ("rmsprop_momentum", 0.05, 0.8, 1e-6, 0.7)),
    ("adam", ("adam", 0.05)),
    ("adamax", ("adamax", 0.05, 0.8, 0.99)),
    ("sm3", ("sm3", 0.2)),
    ("sgd_exponential_decay", ("sgd", ("exponential_decay", 0.2, 3, 0.5))),
    ("sgd_inverse_time_decay", ("sgd", ("inverse_time_decay", 0.2, 3, 0.5))),
    ("sgd_inverse_time_decay_staircase", ("sgd", ("inverse_time_decay", 0.2, 3, 0.5, True))),
    ("adam_polynomial_decay", ("adam", ("polynomial_decay", 0.1, 6, 0.01, 2.0))),
    ("momentum_piecewise_constant", ("momentum", ("piecewise_constant", [2, 5], [0.1, 0.05, 0.02]),
                                     0.5)),
]


def _make(module, spec):
    name, *args = spec
    args = [_make(module, a) if isinstance(a, tuple) else a for a in args]
    return getattr(module, name)(*args)


def _params():
    rng = np.random.default_rng(7)
    return {"w": rng.normal(size=(3, 2)).astype(np.float32),
            "b": [rng.normal(size=(2,)).astype(np.float32), np.float32(0.5)]}


def _grads(params, i):
    # A gradient that depends on the parameters and the step, so trajectories diverge
    # when any update rule differs.
    return tree_util.tree_map(lambda p: np.asarray(p) ** 3 - 0.5 + 0.1 * i, params)


def _trajectory(opt, update=None, steps=10):
    opt_init, opt_update, get_params = opt
    update = update or opt_update
    state = opt_init(_params())
    path = []
    for i in range(steps):
        state = update(i, _grads(get_params(state), i), state)
        path.append(get_params(state))
    return path


@pytest.mark.parametrize("case", OPTIMIZERS, ids=[c[0] for c in OPTIMIZERS])
def test_optimizer_trajectory_matches_jax(case):
    pytest.importorskip("jax")
    from jax.example_libraries import optimizers as joptimizers
    ours = _trajectory(_make(optimizers, case[1]))
    theirs = _trajectory(_make(joptimizers, case[1]))
    for a, b in zip(ours, theirs):
        _assert_trees_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("case", OPTIMIZERS, ids=[c[0] for c in OPTIMIZERS])
def test_optimizer_update_under_jit_matches_eager(case):
    opt = _make(optimizers, case[1])
    eager = _trajectory(opt)
    jitted = _trajectory(opt, update=s2s.jit(opt[1]))
    for a, b in zip(jitted, eager):
        _assert_trees_close(a, b, rtol=1e-5, atol=1e-6)


def test_sgd_step_by_hand():
    # Independent of JAX: one step of each simple rule, computed by hand.
    params = {"w": np.array([1.0, -2.0], np.float32)}
    g = {"w": np.array([0.5, 1.0], np.float32)}
    opt_init, opt_update, get_params = optimizers.momentum(0.1, 0.9)
    state = opt_update(1, g, opt_update(0, g, opt_init(params)))
    # v1 = g, v2 = 1.9 g; x = x0 - 0.1 (g + 1.9 g)
    np.testing.assert_allclose(get_params(state)["w"], [1.0 - 0.29 * 0.5, -2.0 - 0.29], rtol=1e-6)


def test_optimizer_state_is_a_pytree_and_round_trips():
    opt_init, opt_update, get_params = optimizers.adam(0.1)
    state = opt_init(_params())
    leaves = tree_util.tree_leaves(state)
    assert len(leaves) == 3 * 3 and all(np.shape(l) in ((3, 2), (2,), ()) for l in leaves)
    packed = optimizers.pack_optimizer_state(optimizers.unpack_optimizer_state(state))
    assert tree_util.tree_structure(packed) == tree_util.tree_structure(state)
    _assert_trees_close(packed, state, rtol=0, atol=0)
    with pytest.raises(TypeError, match="structure"):
        opt_update(0, {"w": np.ones((3, 2))}, state)


def test_clip_grads_and_l2_norm():
    tree = {"a": np.array([3.0, 0.0], np.float32), "b": [np.array([[4.0]], np.float32)]}
    np.testing.assert_allclose(optimizers.l2_norm(tree), 5.0)
    clipped = optimizers.clip_grads(tree, 1.0)
    np.testing.assert_allclose(optimizers.l2_norm(clipped), 1.0, rtol=1e-6)
    np.testing.assert_allclose(clipped["a"], [0.6, 0.0], rtol=1e-6)
    _assert_trees_close(optimizers.clip_grads(tree, 10.0), tree, rtol=0, atol=0)
    _assert_trees_close(s2s.jit(optimizers.clip_grads)(tree, 1.0), clipped)


def test_schedule_errors():
    with pytest.raises(ValueError, match="one element fewer"):
        optimizers.piecewise_constant([1, 2], [0.1, 0.2])
    with pytest.raises(TypeError, match="scalar or a function"):
        optimizers.make_schedule([0.1, 0.2])
