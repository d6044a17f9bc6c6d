"""Smoke tests of examples/: each runs briefly (no window, plots to a temporary
directory) and its result is checked, so that the examples cannot rot."""
import importlib.util
import pathlib

import numpy as np
import pytest

import s2s
from cases import central_grad

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _is_png(path):
    return path.exists() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_digits_convnet(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    pytest.importorskip("tqdm")
    monkeypatch.chdir(tmp_path)
    history = _load("digits_convnet").main(["--epochs", "3"])
    assert len(history["test_accuracy"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert history["test_accuracy"][-1] >= 0.9, history
    assert _is_png(tmp_path / "digits_convnet.png")


def test_projectile(tmp_path, monkeypatch, capsys):
    pytest.importorskip("matplotlib")
    monkeypatch.chdir(tmp_path)
    example = _load("projectile")
    angles = example.main(["--target", "35"])
    assert len(angles) <= 8
    assert abs(float(s2s.jit(example.landing_distance)(angles[-1])) - 35.0) < 1e-2
    out = capsys.readouterr().out
    assert "def fwd_step" in out and "def bwd_step" in out
    assert _is_png(tmp_path / "projectile.png")


def test_projectile_derivative_matches_finite_differences(x64):
    example = _load("projectile")
    angle = np.float64(0.6)
    slope = s2s.grad(example.landing_distance)(angle)
    fd = central_grad(lambda a: example.landing_distance(a), np.array(angle), eps=1e-6)
    np.testing.assert_allclose(slope, fd, rtol=1e-5)
    np.testing.assert_allclose(s2s.jit(s2s.grad(example.landing_distance))(angle), slope, rtol=1e-9)


def test_dp_sgd(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    example = _load("dp_sgd")
    (x, y), _ = example.load_data()
    x, y = x[:16], y[:16]
    _, params = example.init_net(s2s.random.PRNGKey(0), (-1, 64))
    key = s2s.random.PRNGKey(1)
    # Without noise and with a clip no gradient reaches, the private gradient is the
    # plain gradient of the mean loss: per-example gradients summed back.
    unclipped = example.private_grad(params, x, y, key, l2_clip=1e6, noise=0.0)
    plain = s2s.grad(example.loss)(params, x, y)
    for a, b in zip(s2s.tree_util.tree_leaves(unclipped), s2s.tree_util.tree_leaves(plain)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # With a small clip and no noise, the result is a mean of vectors of norm <= clip.
    clipped = example.private_grad(params, x, y, key, l2_clip=0.01, noise=0.0)
    assert float(example.optimizers.l2_norm(clipped)) <= 0.01 * (1 + 1e-5)
    accuracies = example.train(private=True, epochs=1)
    assert accuracies[-1] > 0.5, accuracies


def test_newton_logistic():
    pytest.importorskip("sklearn")
    example = _load("newton_logistic")
    x, y = example.load_data()
    w = np.full(x.shape[1], 0.01, np.float32)
    p = 1 / (1 + np.exp(-(x @ w)))
    exact = (x.T * (p * (1 - p))) @ x / len(x) + example.L2 * np.eye(x.shape[1])
    np.testing.assert_allclose(s2s.hessian(example.loss)(w, x, y), exact, rtol=1e-3, atol=1e-5)
    _, history = example.newton(x, y)
    assert len(history) <= 10 and history[-1][1] < 1e-4, history
