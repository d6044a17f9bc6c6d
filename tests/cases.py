"""Test-case generation and numeric comparison shared by the test modules.

Cases are drawn combinatorially and deterministically: ``sample(axes)`` picks
``S2S_NUM_GENERATED_CASES`` (default 10) combinations from the product of the
given axes, with a fixed seed per test so failures reproduce.
"""
import contextlib
import itertools
import os
import random
import zlib

import numpy as np

import s2s
from s2s import dtypes

NUM_CASES = int(os.environ.get("S2S_NUM_GENERATED_CASES", "10"))

FLOAT_DTYPES = [np.float32]
INT_DTYPES = [np.int32]
BOOL_DTYPES = [np.bool_]
COMPLEX_DTYPES = [np.complex64]


def float_dtypes():
    """float32, plus float64 when 64-bit mode is on."""
    return FLOAT_DTYPES + ([np.float64] if s2s.config.enable_x64 else [])


def sample(name, n=None, **axes):
    """Up to ``n`` (default NUM_CASES) dicts drawn from the product of ``axes``.

    The draw is seeded by ``name`` so a test sees the same cases every run.
    """
    n = NUM_CASES if n is None else n
    keys = list(axes)
    combos = list(itertools.product(*[axes[k] for k in keys]))
    rng = random.Random(zlib.crc32(name.encode()))
    if len(combos) > n:
        combos = rng.sample(combos, n)
    return [dict(zip(keys, c)) for c in combos]


def case_id(case):
    parts = []
    for k, v in case.items():
        if isinstance(v, type) or isinstance(v, np.dtype):
            v = np.dtype(v).name
        parts.append(f"{k}={v}")
    return ",".join(parts).replace(" ", "")


def rand(shape, dtype, rng, low=-3.0, high=3.0):
    """Random array of ``shape``/``dtype`` in [low, high) (ints and bools too)."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    if dtype.kind in "iu":
        lo = max(int(low), 0) if dtype.kind == "u" else int(low)
        return rng.integers(lo, max(int(high), lo + 1) + 1, size=shape).astype(dtype)
    if dtype.kind == "c":
        re = rng.uniform(low, high, shape)
        im = rng.uniform(low, high, shape)
        return (re + 1j * im).astype(dtype)
    return rng.uniform(low, high, shape).astype(dtype)


_TOL = {
    np.dtype(np.float16): 1e-2,
    np.dtype(dtypes.bfloat16): 5e-2,
    np.dtype(np.float32): 2e-5,
    np.dtype(np.float64): 1e-12,
    np.dtype(np.complex64): 2e-5,
    np.dtype(np.complex128): 1e-12,
}


def tolerance(dtype, scale=1.0):
    return _TOL.get(np.dtype(dtype), 0.0) * scale


def assert_close(actual, expected, dtype=None, rtol=None, atol=None, check_dtype=True, err_msg=""):
    """``actual`` matches ``expected`` within dtype-dependent tolerances."""
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    if check_dtype:
        assert actual.dtype == expected.dtype, f"{err_msg} dtype {actual.dtype} != {expected.dtype}"
    assert actual.shape == expected.shape, f"{err_msg} shape {actual.shape} != {expected.shape}"
    dt = np.dtype(dtype or expected.dtype)
    tol = tolerance(dt)
    rtol = tol if rtol is None else rtol
    atol = tol if atol is None else atol
    if dt.kind in "biu" and rtol == 0:
        np.testing.assert_array_equal(actual, expected, err_msg=err_msg)
    else:
        np.testing.assert_allclose(actual.astype(np.result_type(actual.dtype, np.float32)) if dt == dtypes.bfloat16 else actual,
                                   expected.astype(np.result_type(expected.dtype, np.float32)) if dt == dtypes.bfloat16 else expected,
                                   rtol=rtol, atol=atol, err_msg=err_msg, equal_nan=True)


def central_grad(f, x, eps=1e-6):
    """The gradient of scalar ``f`` at array ``x`` by central differences, one
    coordinate at a time (use float64)."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (float(f(x + e)) - float(f(x - e))) / (2 * eps)
    return g


def central_jacobian(f, x, eps=1e-6):
    """The Jacobian of ``f`` at vector ``x`` by central differences (inputs on the last
    axis, use float64)."""
    cols = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        cols.append((np.asarray(f(x + e), np.float64) - np.asarray(f(x - e), np.float64)) / (2 * eps))
    return np.stack(cols, axis=-1)


@contextlib.contextmanager
def _flag_on(config, name):
    old = getattr(config, name)
    config.update(name, True)
    try:
        yield
    finally:
        config.update(name, old)


def s2s_x64():
    """s2s's 64-bit mode on within the block, restored after it (the ``x64`` fixture of
    conftest does this for one test; this also serves module-scoped fixtures)."""
    return _flag_on(s2s.config, "enable_x64")


def jax_x64(jax):
    """JAX's 64-bit mode on within the block, restored after it."""
    return _flag_on(jax.config, "jax_enable_x64")


def loop_over_examples(fn, args, axes):
    """What ``vmap(fn, in_axes=axes)(*args)`` must give: ``fn`` on each example (``axes``:
    an int or None per argument), the results stacked on a new first axis."""
    n = next(np.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = [fn(*[a if ax is None else np.take(a, i, axis=ax) for a, ax in zip(args, axes)])
            for i in range(n)]
    return s2s.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *outs)


def assert_trees_close(got, want, rtol=1e-5, atol=1e-5, check_dtype=False):
    """Pytrees of the same structure whose leaves have the same shapes and close values."""
    got_leaves, got_tree = s2s.tree_util.tree_flatten(got)
    want_leaves, want_tree = s2s.tree_util.tree_flatten(want)
    assert got_tree == want_tree, f"{got_tree} != {want_tree}"
    for g, w in zip(got_leaves, want_leaves):
        assert_close(g, w, rtol=rtol, atol=atol, check_dtype=check_dtype)
