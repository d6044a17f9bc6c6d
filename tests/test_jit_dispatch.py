"""jit's dispatch of a cache hit through jaxlib's C++ PjitFunction (s2s.xla.dispatch):
the same results as eager and as s2s's Python path, for every dtype and result shape,
and the cases it leaves to the Python path."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.xla import dispatch


def _executable(jf):
    [compiled] = jf._cache.values()
    return compiled.executable


def _calls(jf, args, n=3):
    """``1 + n`` calls of ``jf``; how many of the later ``n`` the C++ side passed to
    Python (1 where it serves them: the first call is s2s's own, the second is the
    C++ side's first)."""
    first = jf(*args)
    before = dispatch.misses[0]
    outs = [jf(*args) for _ in range(n)]
    return first, outs, dispatch.misses[0] - before


def add_one(x):
    return x + 1


ARRAYS = [
    np.linspace(-1.0, 1.0, 3).astype(np.float32),
    np.arange(5, dtype=np.int32),
    np.array(2.5, np.float32),  # 0-d
    np.zeros((0, 3), np.float32),  # empty
    np.array([True, False]),
    np.linspace(0.0, 3.0, 4).astype(np.float16),
    np.arange(250, 254, dtype=np.uint8),  # wraps
    np.arange(12, dtype=np.float32).reshape(3, 4)[:, 1],  # strided
    np.arange(6, dtype=np.float32).reshape(2, 3).view(s2s.Array),
]


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
@pytest.mark.parametrize("x", ARRAYS, ids=lambda x: f"{x.dtype}{list(x.shape)}")
def test_cpp_dispatch_matches_eager(x):
    jf = s2s.jit(add_one)
    first, outs, misses = _calls(jf, (x,))
    assert _executable(jf).cpp_call() is not None
    assert misses == 1  # then served in C++
    eager = s2s.numpy.add(x, 1)  # s2s's own dtypes (no int64 without x64)
    for out in [first] + outs:
        assert type(out) is s2s.Array and out.dtype == eager.dtype and out.shape == x.shape
        np.testing.assert_array_equal(out, eager)
        assert not out.flags.writeable


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_several_results_and_containers():
    def f(x, y):
        return x * y, {"s": snp.sum(x), "t": (y - 1.0,)}

    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.full((2, 3), 2.0, np.float32)
    jf = s2s.jit(f)
    first, outs, misses = _calls(jf, (x, y))
    assert misses == 1
    for out in [first] + outs:
        np.testing.assert_array_equal(out[0], x * y)
        assert float(out[1]["s"]) == 15.0
        np.testing.assert_array_equal(out[1]["t"][0], y - 1.0)

    one = s2s.jit(lambda x: (x * 2.0,))
    _, outs, misses = _calls(one, (y,))
    assert misses == 1 and isinstance(outs[-1], tuple) and len(outs[-1]) == 1
    np.testing.assert_array_equal(outs[-1][0], y * 2.0)

    nested = s2s.jit(lambda p: [p[0] + p[1]["b"]])
    _, outs, _ = _calls(nested, ([x, {"b": y}],))
    np.testing.assert_array_equal(outs[-1][0], x + y)


def test_results_fed_back_and_inputs_changed_later():
    square = s2s.jit(lambda x: x * x)
    x = np.arange(4, dtype=np.float32)
    y = square(x)
    np.testing.assert_array_equal(square(y), x ** 4)  # a result passed back in
    np.testing.assert_array_equal(square(y), x ** 4)
    out = square(x)
    x[:] = 7.0  # the caller's array changes after the call: the result does not
    np.testing.assert_array_equal(out, np.arange(4, dtype=np.float32) ** 2)
    np.testing.assert_array_equal(square(x), np.full(4, 49.0, np.float32))


def test_64_bit_inputs_and_large_inputs_take_the_python_path():
    s2s.config.update("enable_x64", True)
    try:
        jf = s2s.jit(add_one)
        x = np.linspace(0.0, 1.0, 3)
        _, outs, _ = _calls(jf, (x,))
        assert _executable(jf).cpp_call() is None
        assert outs[-1].dtype == np.float64
        np.testing.assert_array_equal(outs[-1], x + 1)
    finally:
        s2s.config.update("enable_x64", False)

    big = np.ones((600, 600), np.float32)  # above the C++ path's size limit
    jf = s2s.jit(add_one)
    _, outs, _ = _calls(jf, (big,), n=1)
    assert _executable(jf).cpp_call() is None
    np.testing.assert_array_equal(outs[-1], big + 1)


def test_captured_arrays_are_read_each_call():
    """Captured arrays are read again at every call and passed after the arguments, through
    the C++ dispatch where it serves the call: rebound, changed in place or reshaped."""
    w = [np.ones(3, np.float32)]

    def f(x):
        return x * w[0]

    jf = s2s.jit(f)
    x = np.arange(3, dtype=np.float32)
    first, outs, misses = _calls(jf, (x,))
    for out in [first] + outs:
        np.testing.assert_array_equal(out, x)
    if dispatch.available():
        assert _executable(jf).cpp_call() is not None and misses == 1
    w[0] = np.full(3, 2.0, np.float32)  # rebound
    np.testing.assert_array_equal(jf(x), 2.0 * x)
    w[0][1] = 5.0  # changed in place
    np.testing.assert_array_equal(jf(x), x * np.array([2.0, 5.0, 2.0], np.float32))
    w[0] = np.full((2, 3), 3.0, np.float32)  # another shape: compiled again
    np.testing.assert_array_equal(jf(x), np.broadcast_to(3.0 * x, (2, 3)))
    np.testing.assert_array_equal(jf(x), np.broadcast_to(3.0 * x, (2, 3)))


def test_threads_calling_one_function():
    double = s2s.jit(lambda x: x * 2.0)
    xs = [np.full(10, i, np.float32) for i in range(6)]
    double(xs[0])
    wrong = []

    def work(x):
        for _ in range(100):
            if not np.array_equal(double(x), x * 2.0):
                wrong.append(x[0])

    threads = [threading.Thread(target=work, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not wrong


def test_dispatch_never_imports_jax():
    code = ("import sys, numpy as np, s2s\n"
            "f = s2s.jit(lambda x: x + 1)\n"
            "x = np.ones(3, np.float32)\n"
            "assert list(f(x)) == list(f(x)) == [2.0, 2.0, 2.0]\n"
            "assert 'jax' not in sys.modules, 'jax was imported'\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("S2S_")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr


def test_alongside_jax_and_its_disable_jit():
    # jax installs its own configuration states in jaxlib's C++ dispatch when
    # imported; under jax.disable_jit() the C++ side calls back into Python.
    jax = pytest.importorskip("jax")
    inc = s2s.jit(add_one)
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(inc(x), x + 1)
    np.testing.assert_array_equal(inc(x), x + 1)
    with jax.disable_jit():
        np.testing.assert_array_equal(inc(x), x + 1)
        np.testing.assert_array_equal(inc(x), x + 1)
    np.testing.assert_array_equal(jax.jit(lambda v: v * 2)(x), x * 2)
    np.testing.assert_array_equal(inc(x), x + 1)


def test_without_cpp_dispatch_the_python_path_serves(monkeypatch):
    monkeypatch.setitem(dispatch._state, "jax", None)  # as with a jaxlib lacking it
    jf = s2s.jit(lambda x, y: (x * y, x - y))
    x, y = np.arange(3, dtype=np.float32), np.full(3, 2.0, np.float32)
    for _ in range(3):
        a, b = jf(x, y)
        np.testing.assert_array_equal(a, x * y)
        np.testing.assert_array_equal(b, x - y)
    assert _executable(jf).cpp_call() is None


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_cpp_side_keeps_only_exact_signatures():
    # Called directly with another dtype (s2s itself never does), the C++ function
    # runs the Python path, which converts, and does not keep a fast path for it.
    jf = s2s.jit(add_one)
    x = np.arange(3, dtype=np.float32)
    jf(x)
    cpp = _executable(jf).cpp_call()
    before = dispatch.misses[0]
    for _ in range(3):
        out = cpp(np.arange(3, dtype=np.float64))
        assert np.asarray(memoryview(out)).dtype == np.float32
        np.testing.assert_array_equal(np.asarray(memoryview(out)), x + 1)
    assert dispatch.misses[0] - before == 3  # never kept


def _newton(a):
    x = a
    while snp.max(snp.abs(x * x - a) / a) > 1e-5:
        x = 0.5 * (x + a / x)
    return x, x * x


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_results_of_a_long_loop_are_complete_when_read():
    # Results are read through the buffer protocol without an explicit wait: the
    # values must be the converged ones, for one result and for several.
    a = np.linspace(1.0, 100.0, 1000).astype(np.float32)
    pair = s2s.jit(_newton)
    root = s2s.jit(lambda a: _newton(a)[0])
    first, outs, misses = _calls(pair, (a,))
    assert misses == 1
    _, roots, _ = _calls(root, (a,))
    for x, x2 in [first] + outs:
        np.testing.assert_allclose(x, np.sqrt(a), rtol=1e-5)
        np.testing.assert_allclose(x2, a, rtol=1e-5)
        assert type(x) is s2s.Array and x.dtype == np.float32 and not x.flags.writeable
    for x in roots:
        np.testing.assert_array_equal(x, first[0])


@pytest.mark.skipif(s2s.default_backend() != "cpu", reason="the CPU client's threading")
def test_cpu_computations_have_finished_when_the_call_returns():
    # The CPU client is synchronous (s2s.xla.platforms): a computation runs on the
    # calling thread, so its result buffers are ready when execution returns (an
    # asynchronous client hands this one, milliseconds long, to a worker thread).
    @s2s.jit
    def f(x):
        return s2s.lax.fori_loop(0, 2000, lambda i, y: snp.tanh(y @ x), x)

    x = np.full((16, 16), 0.01, np.float32)  # small enough to be copied in during the call
    f(x)
    executable = _executable(f)
    assert all(b.is_ready() for _ in range(3) for b in executable._buffers_run()([x]))
    if dispatch.available():
        assert all(executable.cpp_call()(x).is_ready() for _ in range(3))


def test_switching_x64_between_calls_keeps_each_modes_dtypes():
    scale = s2s.jit(lambda x: x * 2.0)  # int32 * Python float: the default float dtype
    x = np.arange(3, dtype=np.int32)
    for mode, dtype in [(False, np.float32), (True, np.float64), (False, np.float32)]:
        s2s.config.update("enable_x64", mode)
        try:
            outs = [scale(x) for _ in range(3)]
        finally:
            s2s.config.update("enable_x64", False)
        for out in outs:
            assert out.dtype == dtype
            np.testing.assert_array_equal(out, [0.0, 2.0, 4.0])


# A cache hit must never serve a call that s2s would compile differently.

def _served(jf, *args):
    """Whether later calls of ``jf(*args)`` (host arrays) are served in C++: s2s's
    fast path hands them to the C++ function, which passes none back to Python."""
    jf(*args)
    jf(*args)  # s2s's first call, then the C++ side's first
    before = dispatch.misses[0]
    for _ in range(3):
        jf(*args)
    run = (jf._fast or {}).get(tuple((a.shape, a.dtype, type(a)) for a in args))
    return dispatch.misses[0] == before and run is not None and "_cpp_run" in run.__qualname__


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_a_new_shape_dtype_or_weak_type_restages():
    scale = s2s.jit(lambda x: x * 2)
    cases = [np.arange(3, dtype=np.float32), np.arange(4, dtype=np.float32),
             np.arange(3, dtype=np.int32), np.arange(6, dtype=np.float16).reshape(2, 3),
             np.array(3, np.int32)]
    for i, x in enumerate(cases):
        first, outs, misses = _calls(scale, (x,))
        assert misses == 1 and len(scale._cache) == i + 1  # one executable each
        eager = snp.multiply(x, 2)
        for out in [first] + outs:
            assert out.dtype == eager.dtype and out.shape == x.shape
            np.testing.assert_array_equal(out, eager)
    # Python scalars are weakly typed: not the signature of a 0-d int32 array.
    for v, dtype in [(3, np.int32), (1.5, np.float32)]:
        outs = [scale(v) for _ in range(3)]
        assert all(o.dtype == dtype and o == v * 2 for o in outs)
    assert len(scale._cache) == len(cases) + 2
    # int32 * Python 2.5 is float32; on an int32 array the constant stays weak.
    half = s2s.jit(lambda x: x * 2.5)
    x = np.arange(3, dtype=np.int32)
    assert _served(half, x)
    assert half(x).dtype == np.float32
    np.testing.assert_array_equal(half(x), x * 2.5)


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_hits_under_both_x64_modes():
    scale = s2s.jit(lambda x: x * 2.0)
    x32, x64 = np.arange(3, dtype=np.float32), np.arange(3.0)
    i64 = np.arange(3, dtype=np.int64)
    assert _served(scale, x32)
    # Without x64, 64-bit inputs are narrowed as s2s narrows them.
    for x in [x64, i64]:
        outs = [scale(x) for _ in range(3)]
        assert all(o.dtype == np.float32 for o in outs)
        np.testing.assert_array_equal(outs[-1], x32 * 2.0)
    assert len(scale._cache) == 2
    s2s.config.update("enable_x64", True)
    try:
        for x, dtype in [(x64, np.float64), (x32, np.float32), (i64, np.float64)]:
            outs = [scale(x) for _ in range(4)]
            assert all(o.dtype == dtype for o in outs)
            np.testing.assert_array_equal(outs[-1], x * 2.0)
    finally:
        s2s.config.update("enable_x64", False)
    out = scale(x64)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, x32 * 2.0)


def test_byte_swapped_inputs_are_read_in_their_order():
    # A '>f4' array has a float32 signature in jaxlib's C++ dispatch, which reads
    # its bytes in native order: such calls are converted on s2s's Python path.
    inc = s2s.jit(add_one)
    native = np.arange(3, dtype=np.float32)
    for x in [native, native.astype(">f4"), native, native.astype(">f4")]:
        out = inc(x)
        assert out.dtype == np.float32
        np.testing.assert_array_equal(out, native + 1)
    both = s2s.jit(lambda a, b: a - b)
    ints = np.arange(4, dtype=np.int32)
    for _ in range(3):
        np.testing.assert_array_equal(both(ints, ints.astype(">i4")), np.zeros(4, np.int32))
        np.testing.assert_array_equal(both(ints, ints), np.zeros(4, np.int32))
    s2s.config.update("enable_x64", True)
    try:
        wide = np.linspace(0.0, 1.0, 5)
        for x in [wide, wide.astype(">f8"), wide]:
            out = inc(x)
            assert out.dtype == np.float64 and out.dtype.isnative
            np.testing.assert_array_equal(out, wide + 1)
    finally:
        s2s.config.update("enable_x64", False)


def test_keyword_and_static_arguments():
    def f(x, y, n=1):
        return x * n - y

    x, y = np.arange(3, dtype=np.float32), np.ones(3, np.float32)
    jf = s2s.jit(f)
    for _ in range(3):
        np.testing.assert_array_equal(jf(x, y), x - y)
        np.testing.assert_array_equal(jf(x, y=y), x - y)
        np.testing.assert_array_equal(jf(y=x, x=y), y - x)  # by name, not by position
        np.testing.assert_array_equal(jf(x, y, n=np.float32(3)), 3 * x - y)
    static = s2s.jit(f, static_argnames="n")
    for n in [1, 2, 2.5, True]:
        for _ in range(2):
            out = static(x, y, n=n)
            np.testing.assert_array_equal(out, x * n - y)
    positional = s2s.jit(f, static_argnums=2)
    for _ in range(3):
        np.testing.assert_array_equal(positional(x, y, 4), 4 * x - y)


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_hits_leave_tracers_and_disable_jit_to_python():
    square = s2s.jit(lambda x: x * x)
    x = np.array([1.0, 2.0, 3.0], np.float32)
    assert _served(square, x)
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(square(v)))(x), 2 * x)
    np.testing.assert_allclose(s2s.vmap(square)(np.stack([x, 2 * x])), [x * x, 4 * x * x])
    np.testing.assert_allclose(s2s.jit(lambda v: square(v) + 1.0)(x), x * x + 1)
    np.testing.assert_allclose(s2s.jacfwd(square)(x), np.diag(2 * x))
    seen = []

    @s2s.jit
    def noted(v):
        seen.append(type(v))
        return v + 1

    assert _served(noted, x)
    traced = len(seen)
    with s2s.disable_jit():
        np.testing.assert_array_equal(noted(x), x + 1)
        np.testing.assert_array_equal(noted(x), x + 1)
    assert seen[traced:] == [np.ndarray, np.ndarray]  # ran as Python, on the array
    np.testing.assert_array_equal(noted(x), x + 1)
    assert len(seen) == traced + 2 and _served(noted, x)


@pytest.mark.skipif(not dispatch.available(), reason="this jaxlib has no C++ dispatch")
def test_a_failed_call_does_not_keep_its_signature_from_the_cpp_side():
    state = {"fail": True}

    @s2s.jit
    def f(x):
        if state["fail"] and x.shape == (2,):
            raise ValueError("not yet")
        return x * 3.0

    assert _served(f, np.ones(3, np.float32))
    two = np.ones(2, np.float32)
    with pytest.raises(ValueError, match="not yet"):
        f(two)
    state["fail"] = False
    assert _served(f, two)
    np.testing.assert_array_equal(f(two), two * 3.0)


def test_captured_arrays_are_read_at_every_hit():
    w = [np.ones(3, np.float32)]
    jf = s2s.jit(lambda x: x * w[0])
    x = np.arange(3, dtype=np.float32)
    for scale in [1.0, 2.0, 3.0]:
        w[0] = np.full(3, scale, np.float32)
        for _ in range(2):
            np.testing.assert_array_equal(jf(x), scale * x)
    # Each hit reads them in Python before the C++ call (api._with_captured); that the
    # C++ dispatch serves such calls is test_captured_arrays_are_read_each_call's part.
    if dispatch.available():
        (run,) = jf._fast.values()
        assert "run_captured" in run.__qualname__


def test_results_without_arrays_and_calls_without_arguments():
    x = np.arange(3, dtype=np.float32)
    nothing = s2s.jit(lambda x: None)
    pair = s2s.jit(lambda x: (x, ()))
    for _ in range(3):
        assert nothing(x) is None
        out = pair(x)
        assert isinstance(out, tuple) and out[1] == () and type(out[0]) is s2s.Array
        np.testing.assert_array_equal(out[0], x)
    no_args = s2s.jit(lambda: snp.ones(2))
    for _ in range(3):
        np.testing.assert_array_equal(no_args(), np.ones(2, np.float32))


# JitFunction._hit1: a lone host array in and one result out is served by jaxlib's C++
# call straight from __call__'s first lines; everything else must still reach s2s.

def _hit1_served(jf, x):
    """Whether calls of ``jf(x)`` are served by the inlined hit (nothing else runs:
    the C++ side passes no call back to Python and s2s's fast dict is not read)."""
    jf(x)
    jf(x)
    before = dispatch.misses[0]
    fast, jf._fast = jf._fast, None  # the general fast path and the slow path are off
    try:
        out = jf(x)
    except Exception:
        return False
    finally:
        jf._fast = fast
    return dispatch.misses[0] == before and isinstance(out, s2s.Array)


def test_lone_array_hits_keep_retrace_decisions():
    double = s2s.jit(lambda x: x * 2)
    x = np.arange(3, dtype=np.float32)
    if dispatch.available():
        assert _hit1_served(double, x)
    # Another shape, dtype, byte order, 0-d array, array type or a Python scalar (weak):
    # each its own signature, none served by x's entry.
    others = [np.arange(4, dtype=np.float32), np.arange(3, dtype=np.int32), x.astype(">f4"),
              np.array(3, np.float32), x.view(s2s.Array), np.ma.masked_array(x, mask=[0, 1, 0])]
    for y in others:
        for _ in range(3):
            out = double(y)
            assert out.dtype == snp.multiply(np.asarray(y), 2).dtype and out.dtype.isnative
            np.testing.assert_array_equal(out, np.asarray(y) * 2)
    for v, dtype in [(3, np.int32), (1.5, np.float32)]:
        outs = [double(v) for _ in range(3)]
        assert all(o.dtype == dtype and o == v * 2 for o in outs)
    np.testing.assert_array_equal(double(x), x * 2)


def test_lone_array_hits_follow_x64_and_disable_jit():
    seen = []

    @s2s.jit
    def half(v):
        seen.append(type(v))
        return v * 0.5

    x = np.arange(3, dtype=np.int32)
    for _ in range(3):
        assert half(x).dtype == np.float32
    traced = len(seen)
    s2s.config.update("enable_x64", True)
    try:
        assert half(x).dtype == np.float64  # int32 * Python float under x64: restaged
    finally:
        s2s.config.update("enable_x64", False)
    assert half(x).dtype == np.float32
    with s2s.disable_jit():
        half(x)
    assert seen[-1] is np.ndarray and len(seen) > traced


def test_bad_input_on_a_hit_function_names_the_line():
    def first(x):
        return x[0] + x[1]  # a 0-d array has no x[0]

    jf = s2s.jit(first)
    x = np.arange(3, dtype=np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(jf(x), x[0] + x[1])
    with pytest.raises(Exception) as info:
        jf(np.array(1.0, np.float32))
    line = first.__code__.co_firstlineno + 1
    text = str(info.value) + "".join(getattr(info.value, "__notes__", []))
    assert f"{__file__}:{line}" in text or f"line {line}" in text, text
