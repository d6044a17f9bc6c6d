"""``s2s.jit``'s runtime side: captured arrays, constants made while staging,
dot_general's transpose folding and the dispatch fast path."""
import itertools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import Array

GLOBAL_W = np.arange(6, dtype=np.float32).reshape(2, 3)


def _main_arity(text):
    header = next(line for line in text.splitlines() if "func.func public @main" in line)
    return header.count("%arg")


def test_captured_global_is_read_on_every_call():
    global GLOBAL_W

    def f(x):
        return snp.dot(x, GLOBAL_W)

    jf = s2s.jit(f)
    x = np.ones((4, 2), np.float32)
    saved = GLOBAL_W
    try:
        np.testing.assert_allclose(jf(x), f(x))
        GLOBAL_W = GLOBAL_W * 10  # rebound, same shape: no recompile needed, new values used
        np.testing.assert_allclose(jf(x), f(x))
        GLOBAL_W = np.ones((2, 5), np.float32)  # new shape: recompiles
        assert jf(x).shape == (4, 5)
        np.testing.assert_allclose(jf(x), f(x))
    finally:
        GLOBAL_W = saved


def test_captured_closure_array_is_read_on_every_call():
    w = np.ones(3, np.float32)

    def f(x):
        return x * w

    jf = s2s.jit(f)
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_allclose(jf(x), x)
    w = np.full(3, 2.0, np.float32)  # noqa: F841 -- rebinding the cell f reads
    np.testing.assert_allclose(jf(x), 2 * x)


def test_arrays_made_while_staging_are_constants_not_arguments():
    def loss(x):
        return snp.sum(x ** 2)

    x = np.ones((8, 3), np.float32)
    text = s2s.jit(s2s.grad(loss)).lower(x).as_text()
    # the seed broadcast to x's shape is made while staging: a folded constant
    assert _main_arity(text) == 1
    np.testing.assert_allclose(s2s.jit(s2s.grad(loss))(x), 2 * x)


def test_large_non_uniform_array_made_while_staging_is_passed_in():
    ramp = 1000

    def f(x):
        return x + np.arange(ramp, dtype=np.float32)

    x = np.ones(ramp, np.float32)
    np.testing.assert_allclose(s2s.jit(f)(x), f(x))


def _perm_cases():
    # (lhs shape, rhs shape, lhs perm or None, rhs perm or None, dimension numbers)
    yield (3, 4), (5, 4), None, (1, 0), (((1,), (0,)), ((), ()))
    yield (4, 3), (4, 5), (1, 0), None, (((1,), (0,)), ((), ()))
    yield (4, 3), (5, 4), (1, 0), (1, 0), (((1,), (0,)), ((), ()))
    yield (2, 4, 3), (2, 4, 5), (0, 2, 1), None, (((2,), (1,)), ((0,), (0,)))
    # free dimensions would change order: must not fold, values stay right
    yield (3, 4, 5), (3, 2), (2, 1, 0), None, (((2,), (0,)), ((), ()))
    yield (3, 4, 5), (3, 2), (1, 2, 0), None, (((2,), (0,)), ((), ()))


@pytest.mark.parametrize("case", list(_perm_cases()))
def test_transposes_fold_into_dot_general(case):
    ls, rs, lp, rp, dnums = case
    rng = np.random.RandomState(0)
    a = rng.randn(*ls).astype(np.float32)
    b = rng.randn(*rs).astype(np.float32)

    def f(a, b):
        a = s2s.lax.transpose(a, permutation=lp) if lp else a
        b = s2s.lax.transpose(b, permutation=rp) if rp else b
        return s2s.lax.dot_general(a, b, dimension_numbers=dnums)

    np.testing.assert_allclose(s2s.jit(f)(a, b), f(a, b), rtol=1e-5, atol=1e-5)


def test_dot_of_transpose_reads_the_original_operand():
    a = np.ones((3, 4), np.float32)
    b = np.arange(20, dtype=np.float32).reshape(5, 4)
    text = s2s.jit(lambda a, b: snp.dot(a, b.T)).lower(a, b).as_text()
    dot = next(line for line in text.splitlines() if "dot_general" in line)
    assert "%arg1" in dot and "contracting_dims = [1] x [1]" in dot


@pytest.mark.parametrize("shape,dtype", itertools.product([(), (3,), (2, 3)],
                                                           [np.float32, np.int32, np.bool_]))
def test_fast_path_results_match_slow_path(shape, dtype):
    f = s2s.jit(lambda x: (x, x == x))
    x = np.zeros(shape, dtype)
    first = f(x)   # compiles, registers the fast path
    second = f(x)  # fast path
    for a, b in zip(first, second):
        assert type(a) is Array and type(b) is Array
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)


def test_fast_path_respects_x64_changes():
    f = s2s.jit(lambda x: x * 2)
    x = np.ones(3, np.float64)
    assert f(x).dtype == np.float32
    with _x64():
        assert f(x).dtype == np.float64
    assert f(x).dtype == np.float32


class _x64:
    def __enter__(self):
        s2s.config.update("enable_x64", True)

    def __exit__(self, *exc):
        s2s.config.update("enable_x64", False)


def test_results_are_aligned_for_zero_copy_reuse():
    f = s2s.jit(lambda x: x + 1)
    out = f(np.zeros((64, 64), np.float32))
    assert out.ctypes.data % 64 == 0
    np.testing.assert_allclose(f(out), out + 1)


@pytest.mark.parametrize("n", [1 << 15, 1 << 19])  # 128 KiB (C++ dispatch), 2 MiB (Python path)
def test_large_numpy_inputs_at_every_alignment(n):
    # Inputs XLA can read in place (64-byte aligned) are not copied, the others are
    # copied during the call: either way the result is the input's value at the call.
    f = s2s.jit(lambda x: x * 2.0 + 1.0)
    raw = np.zeros(n + 16, np.float32)
    for offset in range(16):  # every position of a float32 within 64 bytes
        x = raw[offset:offset + n]
        x[:] = np.arange(n, dtype=np.float32) + offset
        out = f(x)
        x[:] = -1.0  # changed after the call: the result is not
        np.testing.assert_array_equal(out, (np.arange(n, dtype=np.float32) + offset) * 2.0 + 1.0)


def test_pytree_arguments_take_the_fast_path_and_stay_correct():
    f = s2s.jit(lambda p, x: [snp.dot(x, w) + b for w, b in p])
    rng = np.random.RandomState(1)
    params = [(rng.randn(3, 2).astype(np.float32), rng.randn(2).astype(np.float32))]
    x = rng.randn(4, 3).astype(np.float32)
    want = [x @ params[0][0] + params[0][1]]
    for _ in range(3):
        got = f(params, x)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    # a dict, None leaves and a new structure compile again and still agree
    g = s2s.jit(lambda d: d["a"] * 2 if d["b"] is None else d["a"])
    for _ in range(2):
        np.testing.assert_allclose(g({"a": x, "b": None}), 2 * x)


def test_results_fed_back_are_passed_without_a_copy_and_stay_right():
    step = s2s.jit(lambda w, g: w - 0.5 * g)
    w = s2s.device_put(np.ones((16, 16), np.float32))
    g = np.ones((16, 16), np.float32)
    for i in range(4):
        w = step(w, g)
    np.testing.assert_allclose(w, np.full((16, 16), -1.0, np.float32))
    # results are XLA's buffers, read-only as jax arrays are; .at and copies work
    assert not w.flags.writeable
    with pytest.raises(ValueError):
        w[0, 0] = 10.0
    w = w.at[0, 0].set(10.0)
    assert step(w, g)[0, 0] == 9.5
    # views of a result are not the buffer itself and are passed as arrays
    np.testing.assert_allclose(step(w[::-1], g)[-1, 0], 9.5)
    np.testing.assert_allclose(step(w.T, g)[0, 0], 9.5)


def test_device_put_keeps_structure_and_canonical_dtypes():
    out = s2s.device_put({"a": np.arange(3), "b": [1.5, np.ones(2, np.float64)]})
    assert out["a"].dtype == np.int32 and out["b"][0].dtype == np.float32
    assert out["b"][1].dtype == np.float32 and out["b"][1].ctypes.data % 64 == 0
    src = np.ones(4, np.float32)
    put = s2s.device_put(src)
    src[0] = 5.0  # a copy: later writes to the source do not show
    assert put[0] == 1.0
