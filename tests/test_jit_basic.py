"""``s2s.jit`` on straight-line code: pytrees, static arguments, caching, lowering."""
import collections
import logging

import numpy as np
import pytest

import s2s
from s2s import lax
from s2s.errors import ConcretizationError
from cases import central_grad

Point = collections.namedtuple("Point", "x y")


def _counting(fun):
    """``fun`` plus a counter of how many times its body ran (once per trace)."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        return fun(*args, **kwargs)

    wrapped.__name__ = fun.__name__
    return wrapped, calls


# ---------------------------------------------------------------------------
# Pytrees in and out.


def test_tuple_in_tuple_out():
    f = s2s.jit(lambda t: (t[1], lax.add(t[0], t[1])))
    a, b = np.arange(3, dtype=np.float32), np.ones(3, np.float32)
    out = f((a, b))
    assert type(out) is tuple and len(out) == 2
    np.testing.assert_array_equal(out[0], b)
    np.testing.assert_array_equal(out[1], a + b)


def test_dict_in_dict_out_and_nesting():
    def f(params):
        w, (b, extra) = params["w"], params["rest"]
        return {"y": lax.mul(w, 2.0), "z": [lax.add(b, extra["c"]), None], "k": (w,)}

    params = {"w": np.ones((2, 2), np.float32),
              "rest": [np.arange(2, dtype=np.float32), {"c": np.float32(5.0)}]}
    out = s2s.jit(f)(params)
    assert set(out) == {"y", "z", "k"}
    np.testing.assert_array_equal(out["y"], 2 * np.ones((2, 2)))
    assert isinstance(out["z"], list) and out["z"][1] is None
    np.testing.assert_array_equal(out["z"][0], [5.0, 6.0])
    assert isinstance(out["k"], tuple)
    assert all(isinstance(leaf, np.ndarray) for leaf in s2s.tree_util.tree_leaves(out))


def test_namedtuple_round_trip():
    out = s2s.jit(lambda p: Point(p.y, lax.neg(p.x)))(Point(np.ones(2, np.float32), 2.0))
    assert type(out) is Point
    assert out.x.dtype == np.float32 and out.x.shape == ()
    np.testing.assert_array_equal(out.y, [-1.0, -1.0])


def test_keyword_arguments_are_dynamic():
    f, calls = _counting(lambda x, scale=1.0: lax.mul(x, scale))
    jf = s2s.jit(f)
    np.testing.assert_array_equal(jf(np.ones(2, np.float32), scale=3.0), [3.0, 3.0])
    np.testing.assert_array_equal(jf(np.ones(2, np.float32), scale=4.0), [4.0, 4.0])
    assert len(calls) == 1  # the value of a dynamic keyword does not retrace


def test_constant_outputs_and_no_arguments():
    out = s2s.jit(lambda x: (x, 1.0, np.arange(3, dtype=np.int32)))(np.ones(2, np.float32))
    assert out[1].dtype == np.float32 and out[1].shape == ()
    np.testing.assert_array_equal(out[2], [0, 1, 2])
    assert s2s.jit(lambda: lax.add(1.0, 2.0))() == 3.0


def test_python_scalar_arguments():
    f = s2s.jit(lambda x, y: lax.mul(x, y))
    out = f(2.0, 3)
    assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float32
    assert out == 6.0
    assert f(2, 3).dtype == np.int32
    # A Python scalar is weak: it takes the dtype of the array it meets.
    assert f(2.0, np.ones(2, np.float16)).dtype == np.float16
    assert f(True, np.ones(2, np.uint8)).dtype == np.uint8


def test_results_are_canonical_dtypes():
    f = s2s.jit(lambda x: lax.add(x, 1))
    assert f(np.ones(2, np.float64)).dtype == np.float32
    assert f(np.ones(2, np.int64)).dtype == np.int32


def test_x64_results(x64):
    f = s2s.jit(lambda x: lax.add(x, 1.0))
    assert f(np.ones(2, np.float64)).dtype == np.float64
    assert f(1.0).dtype == np.float64
    assert f(np.ones(2, np.float32)).dtype == np.float32


def test_bad_argument_types_are_clear():
    with pytest.raises(TypeError, match="str.*not a valid array"):
        s2s.jit(lambda x: x)("hello")
    with pytest.raises(TypeError, match="callable"):
        s2s.jit(3)


def test_wraps_function_metadata():
    def scaled(x):
        """Doubles x."""
        return lax.mul(x, 2.0)

    jf = s2s.jit(scaled)
    assert jf.__name__ == "scaled" and jf.__doc__ == "Doubles x."


# ---------------------------------------------------------------------------
# Static arguments.


def test_static_argnums_value_is_python():
    f, calls = _counting(lambda x, n: lax.integer_pow(x, n) if n > 0 else x)
    jf = s2s.jit(f, static_argnums=1)
    x = np.array([1.0, 2.0], np.float32)
    np.testing.assert_array_equal(jf(x, 3), [1.0, 8.0])
    np.testing.assert_array_equal(jf(x, 3), [1.0, 8.0])
    assert len(calls) == 1
    np.testing.assert_array_equal(jf(x, 2), [1.0, 4.0])
    np.testing.assert_array_equal(jf(x, 0), x)
    assert len(calls) == 3  # one trace per static value


def test_static_argnums_negative_and_decorator_form():
    @s2s.jit(static_argnums=-1)
    def f(x, n):
        return lax.mul(x, float(n))

    np.testing.assert_array_equal(f(np.ones(2, np.float32), 4), [4.0, 4.0])


def test_static_argnames():
    f, calls = _counting(lambda x, *, mode: lax.neg(x) if mode == "neg" else lax.abs(x))
    jf = s2s.jit(f, static_argnames="mode")
    x = np.array([-1.0, 2.0], np.float32)
    np.testing.assert_array_equal(jf(x, mode="neg"), [1.0, -2.0])
    np.testing.assert_array_equal(jf(x, mode="abs"), [1.0, 2.0])
    np.testing.assert_array_equal(jf(x, mode="neg"), [1.0, -2.0])
    assert len(calls) == 2
    jg = s2s.jit(lambda x, k: lax.mul(x, k), static_argnames=("k",))
    np.testing.assert_array_equal(jg(x, k=2), [-2.0, 4.0])


def test_unhashable_static_argument_is_a_clear_type_error():
    jf = s2s.jit(lambda x, shape: x, static_argnums=1)
    with pytest.raises(TypeError, match=r"static argument 1 must be hashable.*list.*tuple"):
        jf(np.ones(2), [2, 3])
    jg = s2s.jit(lambda x, opts: x, static_argnames="opts")
    with pytest.raises(TypeError, match=r"static argument 'opts' must be hashable.*dict"):
        jg(np.ones(2), opts={"a": 1})


def test_static_values_equal_but_of_different_types_do_not_share_a_compile():
    jf = s2s.jit(lambda x, n: lax.mul(x, n), static_argnums=1)
    x = np.ones(2, np.int32)
    assert jf(x, 1).dtype == np.int32
    assert jf(x, 1.0).dtype == np.float32  # 1.0 == 1 and hash(1.0) == hash(1)
    assert jf(x, True).dtype == np.int32


# ---------------------------------------------------------------------------
# Caching.


def test_cache_hits_and_misses():
    f, calls = _counting(lambda x, y: lax.add(lax.mul(x, 2.0), y))
    jf = s2s.jit(f)
    a = np.ones((2, 3), np.float32)
    jf(a, a)
    jf(a + 1, a * 3)  # same shapes/dtypes, new values: cache hit
    assert len(calls) == 1
    jf(np.ones((3, 3), np.float32), np.ones((3, 3), np.float32))  # new shape
    assert len(calls) == 2
    jf(a.astype(np.float16), a.astype(np.float16))  # new dtype
    assert len(calls) == 3
    jf((a,)[0], a.astype(np.float16))  # mixed dtypes
    assert len(calls) == 4
    jf(a, a)
    assert len(calls) == 4


def test_cache_keyed_by_pytree_structure():
    f, calls = _counting(lambda t: lax.add(t[0], t[1]))
    jf = s2s.jit(f)
    a = np.ones(2, np.float32)
    jf((a, a))
    jf([a, a])
    assert len(calls) == 2
    jf([a + 1, a])
    assert len(calls) == 2


def test_log_compiles_reports_each_compile(caplog):
    jf = s2s.jit(lambda x: lax.sin(x))
    s2s.config.update("log_compiles", True)
    try:
        with caplog.at_level(logging.WARNING, logger="s2s"):
            jf(np.ones(2, np.float32))
            jf(np.ones(2, np.float32))
            jf(np.ones(4, np.float32))
    finally:
        s2s.config.update("log_compiles", False)
    messages = [r.getMessage() for r in caplog.records if "compiling" in r.getMessage()]
    assert len(messages) == 2
    assert "float32[2]" in messages[0] and "float32[4]" in messages[1]


# ---------------------------------------------------------------------------
# Lowering and composition.


def test_lower_as_text_is_stablehlo():
    def affine(x, y):
        return lax.add(lax.mul(x, 2.0), y)

    lowered = s2s.jit(affine).lower(np.ones((2, 3), np.float32), 1.0)
    text = lowered.as_text()
    assert "stablehlo" in text
    assert "jit_affine" in text and "func.func public @main" in text
    assert "tensor<2x3xf32>" in text
    assert [a.shape for a in lowered.in_avals] == [(2, 3), ()]
    assert lowered.out_avals[0].shape == (2, 3)
    out = lowered.compile().run([np.ones((2, 3), np.float32), np.float32(1.0)])
    np.testing.assert_array_equal(out[0], np.full((2, 3), 3.0))


def test_jit_of_jit():
    inner = s2s.jit(lambda x: lax.mul(x, 2.0))
    outer = s2s.jit(lambda x: lax.add(inner(x), 1.0))
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(outer(x), 2 * x + 1)
    np.testing.assert_array_equal(s2s.jit(inner)(x), 2 * x)
    np.testing.assert_array_equal(inner(x), 2 * x)  # still works on its own afterwards


def test_numpy_operators_on_staged_values():
    f = s2s.jit(lambda x, y: (x * 2.0 + y) / 2.0 - x)
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(f(x, x), (x * 2 + x) / 2 - x)
    np.testing.assert_allclose(s2s.jit(lambda x: np.sin(x))(x), np.sin(x), rtol=1e-6)


# ---------------------------------------------------------------------------
# Concrete values needed where there are none.


def test_python_if_on_staged_value_is_converted():
    # jit reads the source and turns the `if` into a staged cond.
    if not hasattr(lax, "cond"):
        pytest.skip("lax.cond not available yet")

    def f(x):
        if lax.gt(x, 0.0):
            return x
        return lax.neg(x)

    assert s2s.jit(f)(np.float32(2.0)) == 2.0
    assert s2s.jit(f)(np.float32(-3.0)) == 3.0


def test_python_if_without_source_raises_concretization_error():
    # No source (exec): jit stages the function as is, and a data-dependent
    # `if` cannot be converted, so the error says what to use instead.
    ns = {"lax": lax}
    exec("def f(x):\n    if lax.gt(x, 0.0):\n        return x\n    return lax.neg(x)\n", ns)
    with pytest.raises(ConcretizationError, match="lax.cond"):
        s2s.jit(ns["f"])(np.float32(1.0))


@pytest.mark.parametrize("use", [int, float, bool, lambda x: x.tolist(), lambda x: x.item()],
                         ids=["int", "float", "bool", "tolist", "item"])
def test_concrete_conversions_raise(use):
    with pytest.raises(ConcretizationError, match="staged value"):
        s2s.jit(lambda x: use(x))(np.float32(1.0))


def test_static_argument_allows_python_control_flow():
    def f(x, flag):
        if flag > 0:
            return x
        return lax.neg(x)

    jf = s2s.jit(f, static_argnums=1)
    assert jf(np.float32(2.0), 1) == 2.0 and jf(np.float32(2.0), -1) == -2.0


def _returns_inside_while(v):
    while v < 1.0:
        if v < 0:
            return v * 3.0
        v = v * 2.0 + 0.1
    return v


def _times_returned(x):
    return _returns_inside_while(x) * x


@pytest.mark.parametrize("x", [-1.0, 0.1, 0.4, 2.0])
def test_jit_of_grad_through_a_return_inside_a_staged_while(x, x64):
    # the loop's carried result starts unset (None): its pullback gives it a placeholder
    # of the type one trip gives it, as the forward loop does
    got = s2s.jit(s2s.grad(_times_returned))(x)
    np.testing.assert_allclose(got, s2s.grad(_times_returned)(x), rtol=1e-12)
    np.testing.assert_allclose(got, central_grad(lambda v: _times_returned(float(v[0])),
                                                 np.array([x]))[0], rtol=1e-6)
