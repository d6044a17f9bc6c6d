"""Tests of ``s2s.nn``: activations, softmax family, ``one_hot`` and ``standardize``.

Each function is checked eagerly against a NumPy/SciPy float64 reference on
generated shapes and dtypes, ``s2s.jit`` of it against the eager result (values and
dtype), and, when ``jax`` is importable, against ``jax.nn`` on a fixed input. The
initializers are tested in ``test_random.py`` with the PRNG they draw from.
"""
import doctest
import importlib

import numpy as np
import pytest
import scipy.special as osp

import s2s
from s2s import nn
from s2s.errors import DtypeError, ShapeError
from cases import assert_close, case_id, rand, sample, tolerance

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
SHAPES = [(), (5,), (2, 3), (0, 4), (3, 1, 4)]
ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


@pytest.fixture
def x64():
    """Turns 64-bit mode on for one test and restores the previous setting."""
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _softplus(x):
    return np.logaddexp(x, 0)


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))


def _elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


# name, s2s function, float64 reference, keeps integer dtype
ACTIVATIONS = [
    ("relu", nn.relu, lambda x: np.maximum(x, 0), True),
    ("relu6", nn.relu6, lambda x: np.minimum(np.maximum(x, 0), 6), False),
    ("sigmoid", nn.sigmoid, osp.expit, False),
    ("log_sigmoid", nn.log_sigmoid, lambda x: -_softplus(-x), False),
    ("softplus", nn.softplus, _softplus, False),
    ("silu", nn.silu, lambda x: x * osp.expit(x), False),
    ("swish", nn.swish, lambda x: x * osp.expit(x), False),
    ("gelu", nn.gelu, _gelu_tanh, False),
    ("gelu_exact", lambda x: nn.gelu(x, approximate=False), lambda x: x * osp.ndtr(x), False),
    ("elu", nn.elu, _elu, False),
    ("elu_alpha", lambda x: nn.elu(x, 0.5), lambda x: _elu(x, 0.5), False),
    ("leaky_relu", nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x), False),
    ("leaky_relu_slope", lambda x: nn.leaky_relu(x, 0.2), lambda x: np.where(x >= 0, x, 0.2 * x), False),
    ("celu", lambda x: nn.celu(x, 1.5),
     lambda x: np.maximum(x, 0) + 1.5 * np.expm1(np.minimum(x, 0) / 1.5), False),
    ("selu", nn.selu, lambda x: SCALE * _elu(x, ALPHA), False),
    ("hard_tanh", nn.hard_tanh, lambda x: np.clip(x, -1, 1), True),
    ("hard_sigmoid", nn.hard_sigmoid, lambda x: np.clip(x + 3, 0, 6) / 6, False),
    ("hard_silu", nn.hard_silu, lambda x: x * np.clip(x + 3, 0, 6) / 6, False),
    ("soft_sign", nn.soft_sign, lambda x: x / (np.abs(x) + 1), False),
    ("mish", nn.mish, lambda x: x * np.tanh(_softplus(x)), False),
    ("squareplus", nn.squareplus, lambda x: (x + np.sqrt(x * x + 4)) / 2, False),
]


def _expected_dtype(dtype, keeps_int):
    if np.dtype(dtype).kind == "f" or keeps_int:
        return np.dtype(dtype)
    return F64 if s2s.config.enable_x64 else F32


@pytest.mark.parametrize("name,fn,ref,keeps_int", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation(name, fn, ref, keeps_int, request):
    for i, case in enumerate(sample(name, n=6, shape=SHAPES, dtype=[F32, F64, I32])):
        if case["dtype"] == F64:
            request.getfixturevalue("x64")
        x = rand(case["shape"], case["dtype"], np.random.default_rng(i), -8, 8)
        dt = _expected_dtype(case["dtype"], keeps_int)
        expected = np.asarray(ref(x.astype(np.float64))).astype(dt)
        actual = fn(x)
        tol = tolerance(dt, 5) if dt.kind == "f" else 0
        assert_close(actual, expected, rtol=tol, atol=tol)
        if i < 2:
            assert_close(s2s.jit(fn)(x), actual, rtol=tol, atol=tol)


def test_activation_extremes():
    x = np.array([-1e4, -50.0, 0.0, 50.0, 1e4, np.inf, -np.inf], np.float32)
    with np.errstate(all="ignore"):
        assert_close(nn.softplus(x), _softplus(x.astype(np.float64)).astype(np.float32))
        assert_close(nn.log_sigmoid(x), (-_softplus(-x.astype(np.float64))).astype(np.float32))
    assert_close(s2s.jit(nn.log_sigmoid)(x), nn.log_sigmoid(x))
    assert_close(nn.sigmoid(x), osp.expit(x))
    assert not np.isnan(nn.elu(x)).any()


def test_glu():
    x = rand((2, 6), F32, np.random.default_rng(0))
    expected = x[:, :3] * osp.expit(x[:, 3:])
    assert_close(nn.glu(x), expected, rtol=1e-6)
    assert_close(s2s.jit(lambda x: nn.glu(x, axis=1))(x), expected, rtol=1e-6)
    assert_close(nn.glu(x.T, axis=0), expected.T, rtol=1e-6)
    with pytest.raises(ShapeError, match="glu"):
        nn.glu(np.ones((2, 3)))


@pytest.mark.parametrize("case", sample("nn_softmax", shape=[(5,), (2, 3), (2, 3, 4), (3, 0)],
                                        axis=[-1, 0, (0, -1)], fn=["softmax", "log_softmax"],
                                        dtype=[F32, I32]), ids=case_id)
def test_softmax(case):
    x = rand(case["shape"], case["dtype"], np.random.default_rng(0), -10, 10)
    axis = case["axis"]
    if isinstance(axis, tuple) and len(case["shape"]) < 2:
        axis = -1
    fn = lambda x: getattr(nn, case["fn"])(x, axis=axis)  # noqa: E731
    if x.size:
        expected = getattr(osp, case["fn"])(x.astype(np.float64), axis=axis).astype(F32)
    else:
        expected = x.astype(F32)
    assert_close(fn(x), expected, rtol=1e-5, atol=1e-6)
    assert_close(s2s.jit(fn)(x), expected, rtol=1e-5, atol=1e-6)


def test_softmax_default_axis_is_last():
    x = rand((3, 4), F32, np.random.default_rng(0))
    assert_close(nn.softmax(x), osp.softmax(x, axis=-1), rtol=1e-6)
    assert_close(nn.log_softmax(x), osp.log_softmax(x, axis=-1), rtol=1e-5, atol=1e-6)
    assert_close(nn.logsumexp(x, axis=1), osp.logsumexp(x, axis=1), rtol=1e-6)


@pytest.mark.parametrize("case", sample("one_hot", shape=[(), (4,), (2, 3)], axis=[-1, 0, 1],
                                        dtype=[None, np.int32, np.float32, np.bool_],
                                        index_dtype=[np.int32, np.uint8]), ids=case_id)
def test_one_hot(case):
    shape, axis = case["shape"], case["axis"]
    if axis > len(shape):
        axis = -1
    x = np.random.default_rng(0).integers(-1, 5, shape).astype(case["index_dtype"])
    fn = lambda x: nn.one_hot(x, 4, dtype=case["dtype"], axis=axis)  # noqa: E731
    dt = np.dtype(case["dtype"] or np.float32)
    expected = np.moveaxis((x[..., None] == np.arange(4)).astype(dt), -1, axis)
    assert_close(fn(x), expected, rtol=0)
    assert_close(s2s.jit(fn)(x), expected, rtol=0)


def test_one_hot_errors():
    with pytest.raises(TypeError, match="num_classes"):
        nn.one_hot(np.arange(3), 2.5)
    with pytest.raises(ShapeError, match="one_hot"):
        nn.one_hot(np.arange(3), 3, axis=2)
    with pytest.raises(DtypeError, match="one_hot"):
        nn.one_hot(np.array([1j]), 3)


@pytest.mark.parametrize("case", sample("standardize", shape_axis=[((5,), -1), ((3, 4), -1), ((3, 4), 0),
                                                                   ((2, 3, 4), (0, 2)), ((3, 4), None)],
                                        dtype=[F32, I32], given=[False, True]), ids=case_id)
def test_standardize(case):
    shape, axis = case["shape_axis"]
    x = rand(shape, case["dtype"], np.random.default_rng(0), -5, 5)
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axis, keepdims=True)
    var = x64.var(axis=axis, keepdims=True)
    kwargs = dict(mean=mean.astype(F32), variance=var.astype(F32)) if case["given"] else {}
    fn = lambda x: nn.standardize(x, axis=axis, **kwargs)  # noqa: E731
    expected = ((x64 - mean) / np.sqrt(var + 1e-5)).astype(F32)
    assert_close(fn(x), expected, rtol=1e-4, atol=1e-4)
    assert_close(s2s.jit(fn)(x), expected, rtol=1e-4, atol=1e-4)


def test_standardize_constant_input_is_finite():
    out = nn.standardize(np.full((2, 3), 7.0, np.float32))
    assert_close(out, np.zeros((2, 3), np.float32), atol=1e-3)


def test_errors_name_the_function():
    with pytest.raises(DtypeError, match="gelu"):
        nn.gelu(np.array([1j], np.complex64))
    with pytest.raises(ShapeError, match="standardize"):
        nn.standardize(np.ones((2, 3)), axis=2)
    with pytest.raises(ShapeError, match="softmax"):
        s2s.jit(lambda x: nn.softmax(x, axis=3))(np.ones((2, 3)))


def test_against_jax_nn():
    jnn = pytest.importorskip("jax.nn")
    x = np.linspace(-6, 6, 25).astype(np.float32)
    names = ["relu", "relu6", "sigmoid", "log_sigmoid", "softplus", "silu", "gelu", "elu",
             "leaky_relu", "celu", "selu", "hard_tanh", "hard_sigmoid", "hard_silu", "soft_sign",
             "mish", "squareplus", "softmax", "log_softmax", "standardize"]
    for name in names:
        expected = np.asarray(getattr(jnn, name)(x))
        assert_close(getattr(nn, name)(x), expected, rtol=2e-5, atol=2e-6, err_msg=name)
    assert_close(nn.gelu(x, approximate=False), np.asarray(jnn.gelu(x, approximate=False)),
                 rtol=2e-5, atol=1e-6)
    idx = np.array([[0, 3], [-1, 2]], np.int32)
    assert_close(nn.one_hot(idx, 3, axis=0), np.asarray(jnn.one_hot(idx, 3, axis=0)))


@pytest.mark.parametrize("module", ["s2s.nn", "s2s.nn.functions"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
