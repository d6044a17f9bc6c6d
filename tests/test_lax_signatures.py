"""Every public s2s.lax function takes its parameters as jax.lax's does (names, order,
positional or keyword, required or not), apart from the differences listed here."""
import inspect

import numpy as np
import pytest

import s2s
from s2s import lax

from cases import s2s_x64

# name -> why s2s's signature differs from jax.lax's.
KNOWN_DIFFERENCES = {
    "argmax": "index_dtype may be omitted (int32), where jax.lax requires it",
    "argmin": "index_dtype may be omitted (int32), where jax.lax requires it",
    "concatenate": "operands are separate arguments (lax.concatenate(a, b, dimension=0)) so that "
                   "each gets its own adjoint in the derivative template; one list is accepted "
                   "too when dimension is given by keyword",
    "sort": "operands are separate arguments, for the same reason as concatenate; one tuple or "
            "list is accepted too",
}

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
# jax.lax options with no meaning in s2s (one device, no sharding), wherever they appear.
_JAX_ONLY_OPTIONS = {"out_sharding"}


def _shape(fn):
    """What a caller sees: the positional parameters (name, required) and *args, plus the
    keyword-only parameters a caller must pass. Optional keyword-only parameters (jax.lax's
    accuracy=, out_sharding=, ...; s2s's own extras) are options, not part of the contract."""
    out = []
    for p in inspect.signature(fn).parameters.values():
        if p.name.startswith("_") or p.name in _JAX_ONLY_OPTIONS:
            continue
        if p.kind in _POSITIONAL:
            out.append((p.name, p.default is p.empty))
        elif p.kind is p.VAR_POSITIONAL:
            out.append(("*" + p.name, False))
        elif p.kind is p.KEYWORD_ONLY and p.default is p.empty:
            out.append(("kw:" + p.name, True))
    return out


def _public_functions():
    names = []
    for name in sorted(dir(lax)):
        obj = getattr(lax, name)
        if name.startswith("_") or inspect.ismodule(obj) or inspect.isclass(obj) or not callable(obj):
            continue
        names.append(name)
    return names


def test_signatures_match_jax():
    jax = pytest.importorskip("jax")
    differ = {}
    for name in _public_functions():
        theirs = getattr(jax.lax, name, None)
        if theirs is None:
            continue
        ours_shape, theirs_shape = _shape(getattr(lax, name)), _shape(theirs)
        if ours_shape != theirs_shape:
            differ[name] = (ours_shape, theirs_shape)
    unexplained = {n: v for n, v in differ.items() if n not in KNOWN_DIFFERENCES}
    assert not unexplained, f"s2s.lax signatures that differ from jax.lax's: {unexplained}"
    stale = sorted(set(KNOWN_DIFFERENCES) - set(differ))
    assert not stale, f"listed as different but now match jax.lax (remove them): {stale}"


def test_static_parameters_positionally():
    # The calls of ported JAX code, which keyword-only parameters used to reject.
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(lax.dynamic_slice(x, (1, 2), (2, 2)), x[1:3, 2:4])
    np.testing.assert_array_equal(lax.dynamic_update_slice(x, np.zeros((1, 2), np.float32), (2, 1)),
                                  np.where((np.arange(3)[:, None] == 2) & (np.arange(4) >= 1)
                                           & (np.arange(4) <= 2), 0, x))
    np.testing.assert_array_equal(lax.reshape(x, (4, 3)), x.reshape(4, 3))
    np.testing.assert_array_equal(lax.reshape(x, (12,), (1, 0)), x.T.reshape(12))
    np.testing.assert_array_equal(lax.transpose(x, (1, 0)), x.T)
    np.testing.assert_array_equal(lax.reduce_sum(x, (0,)), x.sum(0))
    np.testing.assert_array_equal(lax.slice(x, (0, 1), (2, 4), (1, 2)), x[0:2, 1:4:2])
    np.testing.assert_array_equal(lax.broadcast_in_dim(x[0], (2, 4), (1,)), np.stack([x[0]] * 2))
    np.testing.assert_array_equal(lax.pad(x, 0.0, [(1, 0, 0), (0, 0, 1)]).shape, (4, 7))
    np.testing.assert_array_equal(lax.argmax(x, 1, np.int32), np.full(3, 3))
    np.testing.assert_array_equal(lax.cumsum(x, 1), np.cumsum(x, 1))
    np.testing.assert_array_equal(lax.convert_element_type(x, np.int32), x.astype(np.int32))
    np.testing.assert_array_equal(lax.dot_general(x, x, (((1,), (1,)), ((), ()))), x @ x.T)
    np.testing.assert_array_equal(lax.iota(np.int32, 3), np.arange(3))
    np.testing.assert_array_equal(lax.broadcasted_iota(np.int32, (2, 3), 1), [[0, 1, 2]] * 2)
    out = lax.conv_general_dilated(x[None, None], np.ones((1, 1, 2, 2), np.float32), (1, 1), "VALID")
    np.testing.assert_array_equal(out[0, 0], x[:-1, :-1] + x[1:, :-1] + x[:-1, 1:] + x[1:, 1:])
    np.testing.assert_array_equal(lax.reduce_window(x, -np.inf, lax.max, (2, 2), (1, 1), "VALID"),
                                  np.maximum(np.maximum(x[:-1, :-1], x[1:, :-1]),
                                             np.maximum(x[:-1, 1:], x[1:, 1:])))


def test_positional_static_parameters_under_grad_and_jit():
    def f(x, i):
        y = lax.dynamic_slice(x, (i, 0), (2, 3))
        y = lax.reshape(y, (3, 2))
        y = lax.transpose(y, (1, 0))
        return lax.reduce_sum(lax.mul(y, y), (0, 1))

    x = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
    expected = np.zeros_like(x)
    expected[1:3] = 2 * x[1:3]
    for i in (1, -3):  # -3 counts from the end: row 1, as in jax.lax
        np.testing.assert_allclose(s2s.grad(f)(x, np.int32(i)), expected, rtol=1e-6)
        np.testing.assert_allclose(s2s.jit(s2s.grad(f))(x, np.int32(i)), expected, rtol=1e-6)
        np.testing.assert_allclose(s2s.jit(f)(x, np.int32(i)), f(x, np.int32(1)), rtol=1e-6)


def test_negative_starts_clamp_when_not_allowed_under_grad():
    def f(x, i):
        y = lax.dynamic_slice(x, (i,), (2,), allow_negative_indices=False)
        z = lax.dynamic_update_slice(x, y * y, (i,), allow_negative_indices=False)
        return lax.reduce_sum(lax.mul(z, x), (0,))

    x = np.arange(1.0, 6.0, dtype=np.float32)
    # i = -1 clamps to 0: z = [x0^2, x1^2, x2, x3, x4]; f = x0^3 + x1^3 + x2^2 + x3^2 + x4^2
    expected = np.array([3 * x[0] ** 2, 3 * x[1] ** 2, 2 * x[2], 2 * x[3], 2 * x[4]])
    np.testing.assert_allclose(s2s.grad(f)(x, np.int32(-1)), expected, rtol=1e-6)
    np.testing.assert_allclose(s2s.jit(s2s.grad(f))(x, np.int32(-1)), expected, rtol=1e-6)


def test_in_dim_helpers_match_jax():
    jax = pytest.importorskip("jax")
    jlax = jax.lax
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    u = np.full((2, 1, 4), -1.0, np.float32)
    cases = [
        ("slice_in_dim", (x, 1, None), {"axis": 2}), ("slice_in_dim", (x, -3, -1, 2, 2), {}),
        ("index_in_dim", (x, -1), {"axis": 1, "keepdims": False}), ("index_in_dim", (x, 0), {}),
        ("dynamic_slice_in_dim", (x, np.int32(-2), 2, 2), {}),
        ("dynamic_slice_in_dim", (x, np.int32(5), 2, 2), {"allow_negative_indices": False}),
        ("dynamic_index_in_dim", (x, np.int32(2), 1), {"keepdims": False}),
        ("dynamic_update_slice_in_dim", (x, u, np.int32(-1), 1), {}),
        ("dynamic_update_index_in_dim", (x, u[:, 0], np.int32(1), 1), {}),
    ]
    for name, args, kwargs in cases:
        ours = getattr(lax, name)(*args, **kwargs)
        np.testing.assert_array_equal(ours, np.asarray(getattr(jlax, name)(*args, **kwargs)),
                                      err_msg=f"{name}{args[1:]} {kwargs}")


def test_in_dim_helpers_differentiate():
    def f(x, i):
        row = lax.dynamic_index_in_dim(x, i, 0, keepdims=False)
        y = lax.dynamic_update_slice_in_dim(x, lax.mul(row, row)[None], i, 0)
        part = lax.slice_in_dim(y, 0, 2, axis=1)
        return lax.reduce_sum(lax.mul(part, lax.index_in_dim(x, 0, axis=1)), (0, 1))

    x = (np.arange(12, dtype=np.float64).reshape(3, 4) + 1) / 7
    i = np.int32(-2)  # row 1
    eps = 1e-6
    with s2s_x64():
        g = s2s.grad(f)(x, i)
        fd = np.zeros_like(x)
        for k in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[k] = eps
            fd[k] = (float(f(x + e, i)) - float(f(x - e, i))) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(s2s.jit(s2s.grad(f))(x, i), g, rtol=1e-9)


def test_sequence_start_indices_in_the_tracing_fallback():
    # A function without source is recorded at the primitive level; the recording must
    # spell dynamic_slice's scalar start operands as the one sequence the wrapper takes.
    namespace = {"lax": lax, "np": np}
    exec("def f(x):\n"
         "    y = lax.dynamic_slice(x, (np.int32(-2),), (2,))\n"
         "    z = lax.dynamic_update_slice(x, y * y, (np.int32(0),))\n"
         "    return lax.reduce_sum(lax.mul(z, x), (0,))\n", namespace)
    x = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    # z = [x2^2, x3^2, x2, x3]; f = x0 x2^2 + x1 x3^2 + x2^2 + x3^2
    expected = [x[2] ** 2, x[3] ** 2, 2 * x[0] * x[2] + 2 * x[2], 2 * x[1] * x[3] + 2 * x[3]]
    np.testing.assert_allclose(s2s.grad(namespace["f"])(x), expected, rtol=1e-6)


def test_random_key_is_jax_key_data():
    jax = pytest.importorskip("jax")
    from s2s import random
    for seed in (0, 42, 2**31 - 1):
        k = random.key(seed)
        assert k.shape == jax.random.key(seed).shape == ()
        np.testing.assert_array_equal(random.key_data(k),
                                      np.asarray(jax.random.key_data(jax.random.key(seed))))
        np.testing.assert_array_equal(random.key_data(random.wrap_key_data(random.key_data(k))),
                                      random.key_data(k))
        np.testing.assert_array_equal(random.normal(random.split(k)[1], (3,)),
                                      np.asarray(jax.random.normal(jax.random.split(
                                          jax.random.key(seed))[1], (3,))))
    with pytest.raises(NotImplementedError, match="threefry2x32"):
        random.key(0, impl="rbg")


def test_positional_static_parameters_under_vmap():
    def f(x, i):
        y = lax.dynamic_slice(x, (i, 0), (2, 3))
        y = lax.transpose(lax.reshape(y, (3, 2)), (1, 0))
        return lax.reduce_sum(lax.mul(y, y), (1,))

    xs = np.arange(24, dtype=np.float32).reshape(2, 4, 3) / 10
    for i in (1, -3):
        expected = np.stack([f(x, np.int32(i)) for x in xs])
        np.testing.assert_allclose(s2s.vmap(f, in_axes=(0, None))(xs, np.int32(i)), expected,
                                   rtol=1e-6)
    idx = np.array([0, 2], np.int32)
    np.testing.assert_allclose(s2s.vmap(f)(xs, idx), np.stack([f(x, i) for x, i in zip(xs, idx)]),
                               rtol=1e-6)
