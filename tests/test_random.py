"""Tests of ``s2s.random`` and ``s2s.nn.initializers``.

- Keys: seeds, determinism, ``split``/``fold_in`` independence, misuse errors.
- Samplers: dtypes, shapes, ranges and loose distribution moments, eagerly and
  under ``s2s.jit`` (which must give the same values, bit for bit).
- When ``jax`` is importable, exact equality with ``jax.random`` for every
  sampler, eagerly and under ``s2s.jit``.
- Initializers: shapes, dtypes, variances, and equality with ``jax.nn.initializers``.
"""
import doctest
import importlib
import math

import numpy as np
import pytest
import scipy.stats as ost

import s2s
from s2s import lax, random
from s2s.errors import DtypeError, ShapeError
from s2s.nn import initializers as init
from cases import sample

F32, F64, I32 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int32)
KEY = random.PRNGKey(0)


@pytest.fixture
def x64():
    """Turns 64-bit mode on for one test and restores the previous setting."""
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _same(a, b, what=""):
    """Identical shape, dtype and bits."""
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} != {b.shape}"
    assert a.dtype == b.dtype, f"{what}: dtype {a.dtype} != {b.dtype}"
    assert (a.view(np.uint8) == b.view(np.uint8)).all(), f"{what}: values differ\n{a}\n{b}"


# ---------------------------------------------------------------------------
# Keys


def test_prngkey():
    _same(random.PRNGKey(0), np.array([0, 0], np.uint32))
    _same(random.PRNGKey(42), np.array([0, 42], np.uint32))
    _same(random.PRNGKey(-1), np.array([0, 2 ** 32 - 1], np.uint32))
    _same(random.PRNGKey(np.int32(7)), np.array([0, 7], np.uint32))
    _same(random.PRNGKey(2 ** 33 + 5), np.array([0, 5], np.uint32))  # a 32-bit seed first
    _same(s2s.jit(random.PRNGKey)(np.int32(9)), np.array([0, 9], np.uint32))
    with pytest.raises(TypeError, match="PRNGKey"):
        random.PRNGKey(1.5)
    with pytest.raises(ShapeError, match="PRNGKey"):
        random.PRNGKey(np.arange(2))


def test_prngkey_x64(x64):
    _same(random.PRNGKey(2 ** 33 + 5), np.array([2, 5], np.uint32))
    _same(random.PRNGKey(np.int64(-2)), np.array([2 ** 32 - 1, 2 ** 32 - 2], np.uint32))
    _same(s2s.jit(random.PRNGKey)(np.int64(2 ** 40 + 3)), np.array([256, 3], np.uint32))


def test_determinism_and_split_independence():
    a = random.normal(KEY, (100,))
    _same(a, random.normal(random.PRNGKey(0), (100,)))
    k1, k2 = random.split(KEY)
    x, y = random.normal(k1, (2000,)), random.normal(k2, (2000,))
    assert not np.array_equal(x, y)
    assert abs(np.corrcoef(x, y)[0, 1]) < 0.1
    assert abs(np.corrcoef(a[:100], x[:100])[0, 1]) < 0.35
    keys = random.split(KEY, 5)
    assert keys.shape == (5, 2) and keys.dtype == np.uint32
    assert len({tuple(k) for k in keys}) == 5
    assert random.split(KEY, (2, 3)).shape == (2, 3, 2)
    folded = [random.fold_in(KEY, i) for i in range(5)]
    assert len({tuple(k) for k in folded}) == 5
    _same(random.fold_in(KEY, 3), random.fold_in(KEY, np.int32(3)))


def test_key_errors():
    for fn in (lambda k: random.normal(k, (2,)), lambda k: random.split(k), lambda k: random.bits(k)):
        with pytest.raises(DtypeError, match="uint32"):
            fn(np.zeros(2, np.float32))
        with pytest.raises(ShapeError, match="shape \\(2,\\)"):
            fn(np.zeros(3, np.uint32))
    with pytest.raises(ShapeError, match="vmap"):
        random.uniform(random.split(KEY), (2,))
    with pytest.raises(ShapeError, match="uniform"):
        random.uniform(KEY, (3,), minval=np.zeros(2))
    with pytest.raises(DtypeError, match="uniform"):
        random.uniform(KEY, (3,), dtype=np.int32)
    with pytest.raises(DtypeError, match="randint"):
        random.randint(KEY, (3,), 0, 5, dtype=np.float32)
    with pytest.raises(DtypeError, match="bits"):
        random.bits(KEY, (3,), dtype=np.int32)
    with pytest.raises(DtypeError, match="bernoulli"):
        random.bernoulli(KEY, np.int32(1))
    with pytest.raises(ShapeError, match="negative"):
        random.normal(KEY, (-1,))
    with pytest.raises(ValueError, match="replace=False"):
        random.choice(KEY, 3, (4,), replace=False)
    with pytest.raises(TypeError, match="fold_in"):
        random.fold_in(KEY, 1.5)


# ---------------------------------------------------------------------------
# Samplers: shapes, dtypes, ranges, moments; eager == jit bit for bit.

# name -> draw(key, shape, dtype)
SAMPLERS = {
    "uniform": lambda k, s, d: random.uniform(k, s, d),
    "uniform_range": lambda k, s, d: random.uniform(k, s, d, minval=-2.0, maxval=5.0),
    "normal": lambda k, s, d: random.normal(k, s, d),
    "truncated_normal": lambda k, s, d: random.truncated_normal(k, -1.5, 2.0, s, d),
    "exponential": lambda k, s, d: random.exponential(k, s, d),
    "gumbel": lambda k, s, d: random.gumbel(k, s, d),
}
# name -> (scipy distribution, support)
REFERENCE = {
    "uniform": (ost.uniform(), (0, 1)),
    "uniform_range": (ost.uniform(-2, 7), (-2, 5)),
    "normal": (ost.norm(), (-np.inf, np.inf)),
    "truncated_normal": (ost.truncnorm(-1.5, 2.0), (-1.5, 2.0)),
    "exponential": (ost.expon(), (0, np.inf)),
    "gumbel": (ost.gumbel_r(), (-np.inf, np.inf)),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_float_sampler_moments(name):
    x = SAMPLERS[name](random.PRNGKey(3), (20000,), None)
    dist, (lo, hi) = REFERENCE[name]
    assert x.dtype == F32 and x.shape == (20000,)
    assert (x >= lo).all() and (x <= hi).all() and np.isfinite(x).all()
    assert abs(x.mean() - dist.mean()) < 4 * dist.std() / math.sqrt(x.size)
    assert abs(x.std() - dist.std()) < 0.03 * dist.std()
    assert ost.kstest(x, dist.cdf).pvalue > 1e-4


@pytest.mark.parametrize("case", sample("random_float", sampler=sorted(SAMPLERS),
                                        shape=[(), (7,), (3, 4), (0, 2)],
                                        dtype=[None, np.float32, np.float16, "bfloat16", np.float64]),
                         ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()))
def test_float_sampler_jit_matches_eager(case, request):
    if case["dtype"] == np.float64:
        request.getfixturevalue("x64")
    draw = SAMPLERS[case["sampler"]]
    key = random.PRNGKey(11)
    eager = draw(key, case["shape"], case["dtype"])
    expected_dtype = np.dtype(case["dtype"] or (F64 if s2s.config.enable_x64 else F32))
    assert eager.shape == case["shape"] and eager.dtype == expected_dtype
    if expected_dtype == "bfloat16":
        # Bits out of jit: the runtime hands back bfloat16 results only when jax is loaded.
        staged = s2s.jit(lambda k: lax.bitcast_convert_type(draw(k, case["shape"], case["dtype"]),
                                                            new_dtype=np.uint16))(key)
        eager = eager.view(np.uint16)
    else:
        staged = s2s.jit(lambda k: draw(k, case["shape"], case["dtype"]))(key)
    _same(staged, eager, case["sampler"])


def test_randint():
    x = random.randint(KEY, (10000,), -3, 7)
    assert x.dtype == I32 and x.min() == -3 and x.max() == 6
    counts = np.bincount(x + 3)
    assert counts.min() > 850
    _same(s2s.jit(lambda k: random.randint(k, (10000,), -3, 7))(KEY), x)
    lo = np.array([0, 10, 100], np.int32)
    y = random.randint(KEY, (50, 3), lo, lo + 5)
    assert ((y >= lo) & (y < lo + 5)).all()
    _same(random.randint(KEY, (4,), 5, 5), np.full(4, 5, np.int32))
    u8 = random.randint(KEY, (1000,), 0, 256, np.uint8)
    assert u8.dtype == np.uint8 and u8.max() > 250
    _same(s2s.jit(lambda k, a, b: random.randint(k, (50, 3), a, b))(KEY, lo, lo + 5), y)


def test_bits_and_bernoulli():
    b = random.bits(KEY, (1000,))
    assert b.dtype == np.uint32 and len(np.unique(b)) == 1000
    assert random.bits(KEY, (3,), np.uint8).dtype == np.uint8
    _same(s2s.jit(lambda k: random.bits(k, (1000,)))(KEY), b)
    x = random.bernoulli(KEY, 0.3, (20000,))
    assert x.dtype == np.bool_ and abs(x.mean() - 0.3) < 0.015
    p = np.array([0.0, 1.0], np.float32)
    _same(random.bernoulli(KEY, p), np.array([False, True]))
    _same(s2s.jit(lambda k, p: random.bernoulli(k, p, (5, 2)))(KEY, p), random.bernoulli(KEY, p, (5, 2)))
    assert abs(random.bernoulli(KEY, 0.3, (20000,), mode="high").mean() - 0.3) < 0.015


def test_bits_x64(x64):
    assert random.bits(KEY, (3,)).dtype == np.uint64
    assert random.uniform(KEY, (3,)).dtype == F64
    assert random.randint(KEY, (3,), 0, 5).dtype == np.int64


def test_permutation_and_choice():
    p = random.permutation(KEY, 50)
    assert sorted(p.tolist()) == list(range(50)) and not np.array_equal(p, np.arange(50))
    _same(s2s.jit(lambda k: random.permutation(k, 50))(KEY), p)
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    rows = random.permutation(KEY, x)
    assert sorted(map(tuple, rows.tolist())) == sorted(map(tuple, x.tolist()))
    cols = random.permutation(KEY, x, axis=1, independent=True)
    assert all(sorted(c) == sorted(r) for c, r in zip(cols.tolist(), x.tolist()))
    _same(s2s.jit(lambda k, x: random.permutation(k, x, axis=1))(KEY, x), random.permutation(KEY, x, axis=1))
    c = random.choice(KEY, 10, (5,), replace=False)
    assert len(set(c.tolist())) == 5
    w = np.array([0.0, 0.0, 1.0, 0.0], np.float32)
    _same(random.choice(KEY, 4, (6,), p=w), np.full(6, 2, np.int32))
    picked = random.choice(KEY, x, (2,), axis=1)
    assert picked.shape == (3, 2)
    _same(s2s.jit(lambda k, x: random.choice(k, x, (2, 2), replace=False, axis=1))(KEY, x),
          random.choice(KEY, x, (2, 2), replace=False, axis=1))


def test_categorical():
    logits = np.log(np.array([[0.2, 0.3, 0.5], [0.6, 0.3, 0.1]], np.float32))
    draws = random.categorical(KEY, logits, shape=(5000, 2))
    assert draws.shape == (5000, 2) and draws.dtype == I32
    freq = np.stack([np.bincount(draws[:, i], minlength=3) / 5000 for i in range(2)])
    assert np.abs(freq - np.exp(logits)).max() < 0.03
    _same(s2s.jit(lambda k, l: random.categorical(k, l, shape=(5000, 2)))(KEY, logits), draws)
    top = random.categorical(KEY, logits, shape=(3, 2), replace=False)
    assert all(len(set(top[:, i].tolist())) == 3 for i in range(2))


# ---------------------------------------------------------------------------
# Bit-for-bit equality with jax.random.

JAX_CASES = {
    "split": lambda r, k: r.split(k, (2, 3)),
    "fold_in": lambda r, k: r.fold_in(k, 12345),
    "bits": lambda r, k: r.bits(k, (5, 3)),
    "bits_u8": lambda r, k: r.bits(k, (9,), np.uint8),
    "uniform": lambda r, k: r.uniform(k, (1000,)),
    "uniform_scalar": lambda r, k: r.uniform(k),
    "uniform_range": lambda r, k: r.uniform(k, (1000,), minval=-3.3, maxval=7.1),
    # uniform_f16: test_uniform_f16_is_cpu_independent (jax.random's float16 rounding varies by CPU)
    "uniform_bf16": lambda r, k: r.uniform(k, (300,), "bfloat16", -2, 3),
    "normal": lambda r, k: r.normal(k, (3, 5)),
    "normal_f16": lambda r, k: r.normal(k, (300,), np.float16),
    "normal_complex": lambda r, k: r.normal(k, (300,), np.complex64),
    "randint": lambda r, k: r.randint(k, (1000,), -2 ** 31, 10),
    "randint_u8": lambda r, k: r.randint(k, (100,), 0, 256, np.uint8),
    "bernoulli": lambda r, k: r.bernoulli(k, 0.3, (1000,)),
    "truncated_normal": lambda r, k: r.truncated_normal(k, -2.0, 2.0, (1000,)),
    "permutation_big": lambda r, k: r.permutation(k, 3000),
    "permutation_axis": lambda r, k: r.permutation(k, np.arange(24.0, dtype=np.float32).reshape(4, 6),
                                                  axis=1),
    "choice": lambda r, k: r.choice(k, 10, (3,), replace=False),
    "exponential": lambda r, k: r.exponential(k, (500,)),
    "gumbel": lambda r, k: r.gumbel(k, (500,)),
    "categorical": lambda r, k: r.categorical(k, np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4)),
}


def _uniform_f16_reference(jax, jkey):
    """``uniform(key, (300,), float16, -2, 3)`` rounded once from the exact value.

    jax.random's float16 ``u * (max - min) + min`` is rounded per operation on some
    CPUs and once per fusion on others; s2s rounds once on every CPU. The uniform
    floats in [0, 1) are exact (a bit pattern minus one), so the reference is exact.
    """
    u = np.asarray(jax.random.uniform(jkey, (300,), np.float16)).astype(np.float64)
    return np.maximum(np.float16(-2), (u * 5.0 - 2.0).astype(np.float16))


def test_uniform_f16_is_cpu_independent():
    jax = pytest.importorskip("jax")
    for seed in (0, 1234):
        jkey, key = jax.random.PRNGKey(seed), random.PRNGKey(seed)
        expected = _uniform_f16_reference(jax, jkey)
        _same(random.uniform(key, (300,), np.float16, -2, 3), expected, "uniform_f16 eager")
        _same(s2s.jit(lambda k: random.uniform(k, (300,), np.float16, -2, 3))(key), expected,
              "uniform_f16 jit")
        # Equal to jax.random where XLA fuses; elsewhere jax rounds the product u * 5
        # to float16 first, which moves the result by at most one ulp of that product.
        theirs = np.asarray(jax.random.uniform(jkey, (300,), np.float16, -2, 3)).astype(np.float64)
        assert np.abs(theirs - expected.astype(np.float64)).max() <= np.spacing(np.float16(5.0))


@pytest.mark.parametrize("name", sorted(JAX_CASES))
def test_matches_jax_random(name):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    draw = JAX_CASES[name]
    for seed in (0, 1234):
        expected = np.asarray(draw(jax.random, jax.random.PRNGKey(seed)))
        if name.endswith("bf16"):
            expected = expected.astype(jnp.bfloat16)
        key = random.PRNGKey(seed)
        _same(draw(random, key), expected, f"{name} eager")
        if seed == 0:
            _same(s2s.jit(lambda k: draw(random, k))(key), expected, f"{name} jit")


def test_matches_jax_random_x64(x64):
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        jkey, key = jax.random.PRNGKey(2 ** 40 + 3), random.PRNGKey(2 ** 40 + 3)
        _same(key, np.asarray(jkey), "PRNGKey")
        for name, draw in (("uniform", lambda r, k: r.uniform(k, (500,), minval=-3.3, maxval=7.1)),
                           ("normal", lambda r, k: r.normal(k, (50,), np.complex128)),
                           ("randint", lambda r, k: r.randint(k, (50,), -5, 2 ** 40))):
            expected = np.asarray(draw(jax.random, jkey))
            _same(draw(random, key), expected, f"{name} x64 eager")
            _same(s2s.jit(lambda k: draw(random, k))(key), expected, f"{name} x64 jit")
    finally:
        jax.config.update("jax_enable_x64", old)


def test_threefry_matches_jax():
    jex = pytest.importorskip("jax.extend.random")
    key = np.array([3, 4], np.uint32)
    count = np.arange(7, dtype=np.uint32)
    _same(random.threefry_2x32(key, count), np.asarray(jex.threefry_2x32(key, count)))


def test_readme_seed_values():
    """The values ``jax.random.normal(PRNGKey(0), (3,))`` gives in JAX 0.10 (threefry, partitionable)."""
    expected = np.array([1.6226422, 2.0252647, -0.43359444], np.float32)
    _same(random.normal(random.PRNGKey(0), (3,)), expected)
    _same(s2s.jit(lambda k: random.normal(k, (3,)))(random.PRNGKey(0)), expected)


# ---------------------------------------------------------------------------
# nn.initializers

INITS = {
    "glorot_uniform": (init.glorot_uniform(), lambda fi, fo: 2 / (fi + fo)),
    "glorot_normal": (init.glorot_normal(), lambda fi, fo: 2 / (fi + fo)),
    "he_uniform": (init.he_uniform(), lambda fi, fo: 2 / fi),
    "he_normal": (init.he_normal(), lambda fi, fo: 2 / fi),
    "lecun_uniform": (init.lecun_uniform(), lambda fi, fo: 1 / fi),
    "lecun_normal": (init.lecun_normal(), lambda fi, fo: 1 / fi),
    "xavier_uniform": (init.xavier_uniform(), lambda fi, fo: 2 / (fi + fo)),
    "kaiming_normal": (init.kaiming_normal(), lambda fi, fo: 2 / fi),
}


@pytest.mark.parametrize("name", sorted(INITS))
def test_initializer_variance(name):
    fn, variance = INITS[name]
    w = fn(KEY, (300, 200))
    assert w.shape == (300, 200) and w.dtype == F32
    assert abs(w.var() / variance(300, 200) - 1) < 0.05
    assert abs(w.mean()) < 0.01
    conv = fn(KEY, (3, 3, 16, 32))  # receptive field 9: fan_in 144, fan_out 288
    assert abs(conv.var() / variance(144, 288) - 1) < 0.1
    _same(s2s.jit(lambda k: fn(k, (30, 20)))(KEY), fn(KEY, (30, 20)))


def test_simple_initializers():
    _same(init.zeros(KEY, (2, 3)), np.zeros((2, 3), np.float32))
    _same(init.ones(KEY, (2,), np.int32), np.ones(2, np.int32))
    _same(init.constant(-0.5)(KEY, (2, 2)), np.full((2, 2), -0.5, np.float32))
    w = init.normal(0.5)(KEY, (20000,))
    assert abs(w.std() - 0.5) < 0.02
    u = init.uniform(2.0)(KEY, (20000,))
    assert u.min() >= 0 and u.max() < 2.0 and abs(u.mean() - 1.0) < 0.03
    t = init.truncated_normal(1.0)(KEY, (20000,))
    assert np.abs(t).max() < 2.0 and abs(t.std() - 0.87962566) < 0.03  # std of N(0, 1) on (-2, 2)
    assert init.glorot_normal()(KEY, (4, 5), np.float16).dtype == np.float16


def test_orthogonal():
    w = init.orthogonal()(KEY, (6, 4))
    np.testing.assert_allclose(w.T @ w, np.eye(4), atol=1e-5)
    w = init.orthogonal(scale=2.0)(KEY, (3, 5))
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(3), atol=1e-4)
    w = init.orthogonal(column_axis=0)(KEY, (4, 2, 3))
    flat = np.moveaxis(w, 0, -1).reshape(6, 4)
    np.testing.assert_allclose(flat.T @ flat, np.eye(4), atol=1e-5)


def test_variance_scaling_errors():
    with pytest.raises(ValueError, match="mode"):
        init.variance_scaling(1.0, "fan_sideways", "normal")(KEY, (2, 2))
    with pytest.raises(ValueError, match="distribution"):
        init.variance_scaling(1.0, "fan_in", "cauchy")(KEY, (2, 2))
    with pytest.raises(ShapeError, match="in_axis"):
        init.glorot_uniform()(KEY, (5,))


def test_initializers_match_jax():
    jax = pytest.importorskip("jax")
    jinit = jax.nn.initializers
    for name in ("glorot_uniform", "he_normal"):
        expected = np.asarray(getattr(jinit, name)()(jax.random.PRNGKey(1), (30, 20)))
        _same(getattr(init, name)()(random.PRNGKey(1), (30, 20)), expected, name)
    _same(init.variance_scaling(0.7, "fan_geo_avg", "normal", in_axis=0, out_axis=(1, 2))(
        random.PRNGKey(3), (4, 5, 6)),
        np.asarray(jinit.variance_scaling(0.7, "fan_geo_avg", "normal", in_axis=0, out_axis=(1, 2))(
            jax.random.PRNGKey(3), (4, 5, 6))))


@pytest.mark.parametrize("module", ["s2s.random", "s2s.random._threefry", "s2s.random._float_ops",
                                    "s2s.nn.initializers"])
def test_doctests(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


# -- typed keys (random.key) ------------------------------------------------------------


def test_typed_keys_have_key_shapes_and_draw_what_raw_keys_draw():
    k = random.key(3)
    assert k.shape == () and k.ndim == 0
    np.testing.assert_array_equal(random.key_data(k), random.PRNGKey(3))
    ks = random.split(k, 5)
    assert isinstance(ks, random.KeyArray) and ks.shape == (5,) and len(ks) == 5
    np.testing.assert_array_equal(random.key_data(ks), random.split(random.PRNGKey(3), 5))
    assert [kk.shape for kk in ks] == [()] * 5 and ks[1:3].shape == (2,)
    np.testing.assert_array_equal(random.normal(ks[2], (4,)), random.normal(random.key_data(ks)[2], (4,)))
    assert isinstance(random.fold_in(k, 7), random.KeyArray)
    assert not isinstance(random.split(random.PRNGKey(3)), random.KeyArray)  # raw stays raw
    wrapped = random.wrap_key_data(random.key_data(ks))
    np.testing.assert_array_equal(random.key_data(wrapped), random.key_data(ks))
    with pytest.raises(TypeError, match="already a typed key"):
        random.wrap_key_data(ks)
    with pytest.raises(IndexError):
        k[0]


def test_typed_keys_through_vmap_and_jit():
    ks = random.split(random.key(0), 4)
    draw = lambda kk: random.normal(kk, (3,))  # noqa: E731
    loop = np.stack([draw(kk) for kk in ks])
    np.testing.assert_array_equal(s2s.vmap(draw)(ks), loop)
    np.testing.assert_array_equal(s2s.jit(s2s.vmap(draw))(ks), loop)
    step = s2s.jit(lambda kk: tuple(random.split(kk)))
    new, sub = step(ks[0])
    assert isinstance(new, random.KeyArray) and new.shape == ()
    np.testing.assert_array_equal(random.key_data(sub), random.key_data(random.split(ks[0])[1]))


def test_typed_keys_match_jax():
    jax = pytest.importorskip("jax")
    k, jk = random.key(11), jax.random.key(11)
    assert k.shape == jk.shape
    ks, jks = random.split(k, 6), jax.random.split(jk, 6)
    assert ks.shape == jks.shape
    np.testing.assert_array_equal(random.key_data(ks), np.asarray(jax.random.key_data(jks)))
    np.testing.assert_array_equal(random.key_data(random.fold_in(k, 9)),
                                  np.asarray(jax.random.key_data(jax.random.fold_in(jk, 9))))
    np.testing.assert_array_equal(s2s.vmap(lambda kk: random.uniform(kk, (2,)))(ks),
                                  np.asarray(jax.vmap(lambda kk: jax.random.uniform(kk, (2,)))(jks)))
