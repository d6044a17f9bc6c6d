"""s2s.test_util: the checks pass on right derivatives/compilations and fail, naming the leaf,
on wrong ones."""
import collections

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.test_util import (_assert_batched_matches_loop, assert_trees_allclose, check_grads,
                           check_jit, check_jvp, check_vjp, check_vmap)

Point = collections.namedtuple("Point", ["x", "y"])


def test_trees_allclose_passes_within_tolerance():
    assert_trees_allclose({"a": [np.ones(3, np.float32), 2.0]}, {"a": [np.float32(1 + 1e-6) * np.ones(3, np.float32), 2.0]})
    with pytest.raises(AssertionError):  # float64 defaults are tight
        assert_trees_allclose(np.ones(3), np.ones(3) + 1e-7)
    assert_trees_allclose(np.arange(3), np.arange(3))


@pytest.mark.parametrize("tree, path", [
    ({"params": [np.ones(2), {"w": np.ones(3)}]}, "['params'][1]['w']"),
    (Point(np.ones(2), np.ones(3)), ".y"),
    ((np.ones(2), [np.ones(3)]), "[1][0]"),
])
def test_trees_allclose_names_the_leaf(tree, path):
    from s2s.tree_util import tree_flatten, tree_unflatten
    leaves, treedef = tree_flatten(tree)
    wrong = leaves[:-1] + [leaves[-1] + np.array([0.0, 0.25, 0.0])]
    with pytest.raises(AssertionError) as info:
        assert_trees_allclose(tree, tree_unflatten(treedef, wrong))
    assert f"leaf {path} differs" in str(info.value)
    assert "0.25 at index (1,)" in str(info.value)


def test_trees_allclose_structure_shape_dtype_and_integers():
    with pytest.raises(AssertionError, match="tree structures differ"):
        assert_trees_allclose((np.ones(2),), [np.ones(2)])
    with pytest.raises(AssertionError, match=r"leaf \[0\] has shape \(2,\), expected \(3,\)"):
        assert_trees_allclose([np.ones(2)], [np.ones(3)])
    with pytest.raises(AssertionError, match="dtype float32, expected int32"):
        assert_trees_allclose(np.ones(2, np.float32), np.ones(2, np.int32), check_dtypes=True)
    with pytest.raises(AssertionError, match="1 element"):
        assert_trees_allclose(np.array([1, 2, 3]), np.array([1, 2, 4]))
    with pytest.raises(AssertionError, match=r"leaf \(the root\) differs"):
        assert_trees_allclose(np.float32(1.0), np.float32(1.1))


def _tree_fn(params, x):
    h = snp.tanh(x @ params["w"] + params["b"])
    return {"out": snp.sum(h * h, axis=0), "aux": (snp.sin(x),)}


def _tree_args():
    rng = np.random.RandomState(1)
    return ({"w": rng.randn(3, 2), "b": rng.randn(2)}, rng.randn(4, 3))


@pytest.mark.parametrize("order", [1, 2, 3])
def test_check_grads_rev_passes_on_pytrees(x64, order):
    check_grads(_tree_fn, _tree_args(), order=order, modes=("rev",))


def test_check_grads_float32_defaults(order=2):
    check_grads(lambda x: snp.exp(-x) * snp.cos(x), (np.array([0.1, 0.7], np.float32),),
                order=order, modes=["rev"])


def _scaled_vjp(scale):
    real_vjp = s2s.vjp

    def vjp(f, *primals):
        out, f_vjp = real_vjp(f, *primals)
        return out, lambda ct: tuple(s2s.tree_util.tree_map(lambda g: g * scale, f_vjp(ct)))
    return vjp


def test_check_grads_rev_fails_on_a_wrong_gradient(x64, monkeypatch):
    monkeypatch.setattr(s2s, "vjp", _scaled_vjp(1.01))
    with pytest.raises(AssertionError, match="VJP cotangent projection"):
        check_grads(_tree_fn, _tree_args(), order=1, modes=("rev",))


def test_check_grads_rev_second_order_fails_on_a_wrong_hessian(x64, monkeypatch):
    calls = {"n": 0}
    real = _scaled_vjp(1.0)
    wrong = _scaled_vjp(1.01)

    def vjp(f, *primals):  # right at first order, wrong at second
        calls["n"] += 1
        return (real if calls["n"] == 1 else wrong)(f, *primals)
    monkeypatch.setattr(s2s, "vjp", vjp)
    with pytest.raises(AssertionError, match="VJP of VJP cotangent projection"):
        check_grads(lambda x: snp.sum(snp.sin(x) ** 3), (np.array([0.3, 0.9]),), order=2,
                    modes=("rev",))


def test_check_jvp_and_vjp_fail_on_wrong_rules(x64):
    x = (np.array([0.3, 1.2]),)
    with pytest.raises(AssertionError, match="tangent"):
        check_jvp(np.sin, lambda p, t: (np.sin(p[0]), np.sin(p[0]) * t[0]), x)
    with pytest.raises(AssertionError, match="primal"):
        check_jvp(np.sin, lambda p, t: (np.cos(p[0]), np.cos(p[0]) * t[0]), x)
    with pytest.raises(AssertionError, match="cotangent projection"):
        check_vjp(np.sin, lambda v: (np.sin(v), lambda c: (-np.cos(v) * c,)), x)


@pytest.mark.parametrize("order", [1, 2, 3])
def test_check_grads_fwd(x64, order):
    check_grads(_tree_fn, _tree_args(), order=order, modes=("fwd", "rev") if order < 3 else ("fwd",))


def test_check_grads_fwd_fails_on_a_wrong_tangent(x64, monkeypatch):
    real = s2s.jvp

    def jvp(f, primals, tangents):
        out, t = real(f, primals, tangents)
        return out, s2s.tree_util.tree_map(lambda v: v * 1.01, t)
    monkeypatch.setattr(s2s, "jvp", jvp)
    with pytest.raises(AssertionError, match=r"JVP tangent: leaf \['aux'\]\[0\] differs"):
        check_grads(_tree_fn, _tree_args(), order=1, modes=("fwd",))


def test_check_grads_rejects_bad_arguments():
    with pytest.raises(ValueError, match="unknown mode"):
        check_grads(np.sin, (1.0,), order=1, modes=("backward",))
    with pytest.raises(TypeError, match="floating-point inputs only"):
        check_grads(lambda n: n * 2.0, (np.arange(3),), order=1, modes=("rev",))


def _mixed(x, n):
    return {"sum": snp.cumsum(x) * n, "count": snp.arange(n), "mean": snp.mean(x)}


def test_check_jit_passes():
    check_jit(_mixed, np.linspace(0.0, 1.0, 5, dtype=np.float32), 3, static_argnums=1)


def test_check_jit_fails_on_a_dtype_or_value_difference(monkeypatch):
    real_jit = s2s.jit

    def wrong_dtype(f, **kw):
        g = real_jit(f, **kw)
        return lambda *a: s2s.tree_util.tree_map(lambda v: np.asarray(v, np.float64), g(*a))
    monkeypatch.setattr(s2s, "jit", wrong_dtype)
    with pytest.raises(AssertionError, match=r"leaf \['count'\] has dtype float64, expected int32"):
        check_jit(_mixed, np.ones(4, np.float32), 2, static_argnums=1)

    def wrong_value(f, **kw):
        g = real_jit(f, **kw)
        return lambda *a: {**g(*a), "mean": g(*a)["mean"] + np.float32(1e-3)}
    monkeypatch.setattr(s2s, "jit", wrong_value)
    with pytest.raises(AssertionError, match=r"jit\(_mixed\) against eager: leaf \['mean'\]"):
        check_jit(_mixed, np.ones(4, np.float32), 2, static_argnums=1)


def _per_example(w, x):
    return {"y": np.tanh(w @ x), "n": np.sum(x * x)}


def _batched(w, xs):  # xs batched on axis 0, written by hand
    return {"y": np.tanh(xs @ w.T), "n": np.sum(xs * xs, axis=1)}


def test_batched_comparison_passes_and_fails():
    w, xs = np.random.RandomState(0).randn(3, 2), np.random.RandomState(1).randn(5, 2)
    _assert_batched_matches_loop(_per_example, _batched(w, xs), (w, xs), (None, 0), 0, None, None)
    moved = {"y": _batched(w, xs)["y"].T, "n": _batched(w, xs)["n"]}
    _assert_batched_matches_loop(_per_example, moved, (w, xs), (None, 0), {"y": 1, "n": 0},
                                 None, None)
    _assert_batched_matches_loop(_per_example, _batched(w, xs.T.T), (w, xs.T), (None, 1), 0,
                                 None, None)
    wrong = dict(_batched(w, xs), n=np.sum(xs, axis=1))
    with pytest.raises(AssertionError, match=r"vmap\(_per_example\) against a loop: leaf \['n'\]"):
        _assert_batched_matches_loop(_per_example, wrong, (w, xs), (None, 0), 0, None, None)


def test_check_vmap(monkeypatch):
    w, xs = np.random.RandomState(0).randn(3, 2), np.random.RandomState(1).randn(5, 2)
    w, xs = w.astype(np.float32), xs.astype(np.float32)
    check_vmap(_per_example_s2s, w, xs, in_axes=(None, 0))
    check_vmap(_per_example_s2s, w, xs.T, in_axes=(None, 1), out_axes={"y": 1, "n": 0})
    real = s2s.vmap

    def vmap(f, in_axes, out_axes):  # drops the last example's difference
        g = real(f, in_axes=in_axes, out_axes=out_axes)
        return lambda *a: dict(g(*a), n=g(*a)["n"] * np.float32(1.001))
    monkeypatch.setattr(s2s, "vmap", vmap)
    with pytest.raises(AssertionError, match=r"vmap\(_per_example_s2s\) against a loop: leaf \['n'\]"):
        check_vmap(_per_example_s2s, w, xs, in_axes=(None, 0))


def _per_example_s2s(w, x):
    return {"y": snp.tanh(w @ x), "n": snp.sum(x * x)}
