"""Indexing on staged values against NumPy over generated index expressions; ``.at``
updates against NumPy's in-place results on copies; take, nonzero and friends."""
import random

import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s.errors import ConcretizationError, ShapeError
from s2s.numpy._indexing import gather_index

from cases import NUM_CASES
from np_checks import check, check_error

SHAPE = (4, 5, 3)
X = onp.arange(60, dtype=onp.float32).reshape(SHAPE) - 20.0


def _component(rng, axis_size):
    kind = rng.choice(["int", "slice", "slice", "array", "list", "none", "full"])
    if kind == "int":
        return rng.randint(-axis_size, axis_size - 1)
    if kind == "slice":
        parts = [rng.choice([None, rng.randint(-axis_size - 1, axis_size + 1)]) for _ in range(2)]
        step = rng.choice([None, 1, 2, -1, -2, 3])
        return slice(parts[0], parts[1], step)
    if kind == "array":
        shape = rng.choice([(2,), (3,), (2, 1), (1, 3), ()])
        return onp.asarray(onp.random.default_rng(rng.randint(0, 999)).integers(
            -axis_size, axis_size, size=shape))
    if kind == "list":
        return [rng.randint(-axis_size, axis_size - 1) for _ in range(rng.randint(1, 3))]
    if kind == "none":
        return None
    return slice(None)


def _index(rng):
    """A random index expression for SHAPE (NumPy decides whether it is valid)."""
    comps = []
    axis = 0
    for _ in range(rng.randint(1, 4)):
        if axis >= len(SHAPE):
            break
        c = _component(rng, SHAPE[axis])
        comps.append(c)
        axis += c is not None
    if rng.random() < 0.2 and axis < len(SHAPE):
        comps.insert(rng.randint(0, len(comps)), Ellipsis)
    if rng.random() < 0.15:
        mask = onp.random.default_rng(rng.randint(0, 99)).random(SHAPE[-1]) < 0.5
        comps = comps if any(c is Ellipsis for c in comps) else [Ellipsis, mask]
    return comps[0] if len(comps) == 1 and rng.random() < 0.5 else tuple(comps)


def _indices(seed, n):
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        idx = _index(rng)
        try:
            expected = X[idx]
        except IndexError:
            continue
        out.append((idx, expected))
    return out


INDICES = _indices(0, 6 * NUM_CASES)

FIXED = [
    (1, None), (-1, None), ((1, 2), None), (slice(None, None, -1), None),
    ((Ellipsis, 0), None), ((None, 1, None), None), ((slice(1, 3), [0, 2]), None),
    (([0, 2], slice(None), [1, 0]), None), (([[0], [3]], [1, 2]), None),
    ((slice(None), [0, 4], [2, 1]), None), ((0, slice(None), [1, 2]), None),
    ((slice(None), None, [1, 2]), None), (([1], None, [0]), None), ((True,), None),
    ((False,), None), ((onp.array([True, False, True, False]),), None),
    ((onp.arange(20).reshape(4, 5) % 3 == 0,), None), (([],), None), ((onp.int64(2),), None),
    ((onp.array(1), [0, 1]), None), ((slice(10, -10, -3),), None), ((slice(-100, 100),), None),
]
FIXED = [(idx, X[idx]) for idx, _ in FIXED]


def _ids(cases):
    return [repr(idx).replace(" ", "")[:60] for idx, _ in cases]


@pytest.mark.parametrize("idx,expected", FIXED + INDICES, ids=_ids(FIXED + INDICES))
def test_getitem_eager_lax_path(idx, expected):
    """The lax implementation of x[idx] (what jit stages), run eagerly, equals NumPy."""
    out = gather_index(X, idx)
    assert out.shape == expected.shape, (out.shape, expected.shape)
    onp.testing.assert_array_equal(out, expected)


def test_getitem_jit_static_indices():
    """All index expressions in one jitted function (indices are static constants)."""
    cases = FIXED + INDICES
    out = s2s.jit(lambda x: [x[idx] for idx, _ in cases])(X)
    for (idx, expected), o in zip(cases, out):
        assert o.shape == expected.shape, (idx, o.shape, expected.shape)
        onp.testing.assert_array_equal(o, expected, err_msg=repr(idx))


def _traced_parts(idx):
    """Splits ``idx`` into a template and its integer arrays (passed to jit as arguments)."""
    items = idx if isinstance(idx, tuple) else (idx,)
    arrays = [onp.asarray(i) for i in items if isinstance(i, (list, onp.ndarray))
              and onp.asarray(i).dtype.kind in "iu" and onp.asarray(i).size]
    return items, arrays


def test_getitem_jit_traced_indices():
    """Integer index arrays as run-time arguments (gather with staged indices)."""
    cases = [(idx, e) for idx, e in FIXED + INDICES if _traced_parts(idx)[1]]

    def rebuild(items, arrays):
        it = iter(arrays)
        return tuple(next(it) if isinstance(i, (list, onp.ndarray)) and onp.asarray(i).dtype.kind
                     in "iu" and onp.asarray(i).size else i for i in items)

    def f(x, all_arrays):
        return [x[rebuild(_traced_parts(idx)[0], arrays)]
                for (idx, _), arrays in zip(cases, all_arrays)]

    all_arrays = [_traced_parts(idx)[1] for idx, _ in cases]
    out = s2s.jit(f)(X, all_arrays)
    for (idx, expected), o in zip(cases, out):
        assert o.shape == expected.shape, (idx, o.shape, expected.shape)
        onp.testing.assert_array_equal(o, expected, err_msg=repr(idx))


def test_getitem_staged_scalar_index():
    def f(x, i, j):
        return x[i], x[:, j], x[i, j, 1:], x[-1, i]
    for i, j in [(0, 0), (3, -1), (-4, 2), (2, -5)]:
        out = s2s.jit(f)(X, onp.int32(i), onp.int32(j))
        for o, e in zip(out, (X[i], X[:, j], X[i, j, 1:], X[-1, i])):
            onp.testing.assert_array_equal(o, e)


def test_staged_out_of_bounds_indices_clamp():
    out = s2s.jit(lambda x, i: (x[i], x[onp.array([0]), i]))(X, onp.int32(7))
    onp.testing.assert_array_equal(out[0], X[3])
    onp.testing.assert_array_equal(out[1], X[[0], 4])


def _clamped(idx):
    """``idx`` with each integer part clamped into ``SHAPE`` (negatives from the end once)."""
    idx = idx if isinstance(idx, tuple) else (idx,)
    return tuple(onp.clip(onp.where(onp.asarray(i) < 0, onp.asarray(i) + n, i), 0, n - 1)
                 for i, n in zip(idx, SHAPE))


@pytest.mark.parametrize("idx", [4, (0, 5), (-5,), (0, 0, [3]), ([0, 4],)])
def test_static_out_of_bounds_clamp(idx):
    # As jax.numpy: a read out of bounds clamps, eagerly (s2s.Array) and under jit.
    expected = X[_clamped(idx)]
    check(lambda x: snp.asarray(x)[idx], (X,), expected, exact=True)
    onp.testing.assert_array_equal(gather_index(X, idx), expected)


@pytest.mark.parametrize("idx,match", [
    ((0, 0, 0, 0), "too many indices"), ((Ellipsis, Ellipsis), "single ellipsis"),
    ((1.5,), "only integers"), ((onp.array([True, False]),), "boolean index did not match"),
    (([0, 1], [0, 1, 2]), "shape mismatch"),
])
def test_index_errors(idx, match):
    check_error(IndexError, lambda x: gather_index(x, idx), (X,), match=match)


def test_staged_boolean_mask_is_a_clear_error():
    with pytest.raises(ConcretizationError, match="where"):
        s2s.jit(lambda x: x[x > 0])(X)
    with pytest.raises(ConcretizationError, match="static"):
        s2s.jit(lambda x, i: x[i:i + 2])(X, onp.int32(1))


# ---------------------------------------------------------------------------
# .at updates.

UPDATE_INDICES = [
    0, -1, (1, 2), slice(1, 3), (slice(None), 0), (Ellipsis, 1), ([0, 2, 0],), ([0, 0, 0],),
    ([1, 3], slice(None), [0, 0]), (slice(None, None, -1), 1), (onp.array([[0, 1], [1, 1]]),),
    (X.sum(axis=(1, 2)) > -300,), (0, slice(None, None, 2), [2, 2, 1]), (None, 1),
]
OPS = {
    "set": lambda out, idx, v: out.__setitem__(idx, v),
    "add": onp.add.at, "multiply": onp.multiply.at, "min": onp.minimum.at,
    "max": onp.maximum.at, "subtract": onp.subtract.at,
}


def _values(idx, seed=0):
    shape = X[idx].shape
    return onp.random.default_rng(seed).normal(size=shape).astype(onp.float32)


def _expected(op, idx, values):
    out = X.copy()
    OPS[op](out, idx, values)
    return out


@pytest.mark.parametrize("op", sorted(OPS))
def test_at_updates(op):
    cases = []
    for i, idx in enumerate(UPDATE_INDICES):
        if op == "set" and isinstance(idx, tuple) and any(
                isinstance(c, list) and len(set(c)) < len(c) for c in idx):
            continue  # which duplicate write wins is unspecified (as in XLA)
        v = _values(idx, i)
        cases.append((idx, v, _expected(op, idx, v)))
    x = snp.asarray(X)
    for idx, v, expected in cases:
        out = getattr(x.at[idx], op)(v)
        assert type(out) is s2s.Array
        onp.testing.assert_allclose(out, expected, rtol=1e-6, err_msg=repr(idx))
        onp.testing.assert_array_equal(x, X)  # value semantics: x is unchanged
    staged = s2s.jit(lambda a, vs: [getattr(a.at[idx], op)(v) for (idx, _, _), v in
                                    zip(cases, vs)])(X, [v for _, v, _ in cases])
    for (idx, _, expected), o in zip(cases, staged):
        onp.testing.assert_allclose(o, expected, rtol=1e-6, err_msg=repr(idx))


def test_at_duplicate_indices_accumulate_with_traced_indices():
    idx = onp.array([0, 2, 0, 0, 3], onp.int32)
    v = onp.arange(1.0, 6.0, dtype=onp.float32)
    expected = onp.zeros(5, onp.float32)
    onp.add.at(expected, idx, v)
    check(lambda i, w: snp.zeros(5).at[i].add(w), (idx, v), expected, dtype=onp.float32)
    emax = onp.full(5, -1.0, onp.float32)
    onp.maximum.at(emax, idx, v)
    check(lambda i, w: snp.full(5, -1.0).at[i].max(w), (idx, v), emax, dtype=onp.float32)


def test_at_scalar_values_broadcast_and_dtype():
    x = snp.arange(6).reshape(2, 3)
    i32 = dict(exact=True, dtype=onp.int32)
    check(lambda a: a.at[:, 1].set(9), (x,), onp.array([[0, 9, 2], [3, 9, 5]]), **i32)
    check(lambda a: a.at[0].add(1.7), (x,), onp.array([[1, 2, 3], [3, 4, 5]]), **i32)
    check(lambda a: a.at[0].multiply(2), (x,), onp.array([[0, 2, 4], [3, 4, 5]]), **i32)
    check(lambda a: a.at[1].divide(2.0), (x,), onp.array([[0, 1, 2], [1.5, 2, 2.5]]),
          dtype=onp.float32)
    check(lambda a: a.at[1].power(2), (x,), onp.array([[0, 1, 2], [9, 16, 25]]), **i32)
    check(lambda a: a.at[0].apply(snp.negative), (x,), onp.array([[0, -1, -2], [3, 4, 5]]),
          **i32)
    check(lambda a: a.at[0].set(onp.ones((1, 1, 3))), (x,),
          onp.array([[1, 1, 1], [3, 4, 5]]), **i32)


def test_at_out_of_bounds_modes():
    x = snp.arange(5.0)
    idx = onp.array([1, 7, -1, -9], onp.int32)
    check(lambda a, i: a.at[i].set(10.0), (x, idx), [0, 10, 2, 3, 10], dtype=onp.float32)
    check(lambda a, i: a.at[i].add(1.0, mode="clip"), (x, idx), [1, 2, 2, 3, 6],
          dtype=onp.float32)
    check(lambda a: a.at[9].set(1.0), (x,), onp.arange(5.0), dtype=onp.float32)
    check(lambda a, i: a.at[i].get(mode="fill", fill_value=-1.0), (x, idx), [1, -1, 4, -1],
          dtype=onp.float32)
    check(lambda a, i: a.at[i].get(mode="clip"), (x, idx), [1, 4, 4, 0], dtype=onp.float32)
    check(lambda a, i: a.at[i].get(), (x, idx), [1, 4, 4, 0], dtype=onp.float32)
    check(lambda a, i: a.at[i].get(indices_are_sorted=True, unique_indices=True), (x, idx[:1]),
          [1], dtype=onp.float32)
    with pytest.raises(ValueError, match="mode"):
        x.at[0].set(1.0, mode="wrong")


def test_at_value_shape_errors():
    x = snp.zeros((2, 3))
    with pytest.raises(ShapeError, match="indexed shape"):
        s2s.jit(lambda a: a.at[0].set(onp.ones(4)))(x)
    with pytest.raises((ShapeError, ValueError)):
        x.at[0].set(onp.ones(4))


def test_setitem_on_tracer_says_what_to_do():
    def f(a):  # jit converts the assignment (source available) into a.at[0].set(1.0)
        a[0] = 1.0
        return a
    onp.testing.assert_array_equal(s2s.jit(f)(X)[0], onp.ones((5, 3)))
    ns = {}
    exec("def g(a):\n    a[0] = 1.0\n    return a\n", ns)  # no source: runs as written
    with pytest.raises(TypeError, match=r"x = x.at\[idx\].set\(value\)"):
        s2s.jit(ns["g"])(X)


# ---------------------------------------------------------------------------
# take, take_along_axis, nonzero and friends.


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
@pytest.mark.parametrize("mode", [None, "clip", "wrap", "fill"])
def test_take(axis, mode):
    idx = onp.array([[0, 2], [-1, 1]])
    if mode in ("clip", "wrap"):
        idx = onp.array([[0, 7], [-1, 1]])
    ref_mode = "raise" if mode in (None, "fill") else mode
    expected = onp.take(X, idx, axis=axis, mode=ref_mode)  # "clip": -1 clips to 0, as NumPy/JAX
    check(lambda a, i: snp.take(a, i, axis=axis, mode=mode), (X, idx), expected,
          dtype=onp.float32)


def test_take_fill_and_errors():
    # Out of bounds fills (NaN) eagerly and under jit, as jax.numpy; mode="raise" checks.
    for take in (lambda a, i: snp.take(a, i, axis=0), s2s.jit(lambda a, i: snp.take(a, i, axis=0))):
        out = take(onp.arange(3.0), onp.array([0, 5]))
        assert out[0] == 0 and onp.isnan(out[1])
    check_error(IndexError, lambda a: snp.take(a, onp.array([0, 5]), mode="raise"),
                (onp.arange(3.0),), match="out of bounds")
    check_error(IndexError, lambda a: snp.take(a, onp.array([0.5])), (onp.arange(3.0),),
                match="integers")


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_take_along_axis(axis):
    rng = onp.random.default_rng(1)
    if axis is None:
        idx = rng.integers(0, X.size, size=7)
    else:
        shape = list(SHAPE)
        shape[axis] = 2
        idx = rng.integers(-SHAPE[axis], SHAPE[axis], size=shape)
    check(lambda a, i: snp.take_along_axis(a, i, axis=axis), (X, idx),
          onp.take_along_axis(X, idx, axis=axis), dtype=onp.float32)
    if axis is not None:
        small = idx[:1] if axis != 0 else idx[:, :1]
        check(lambda a, i: snp.take_along_axis(a, i, axis=axis), (X, small),
              onp.take_along_axis(X, small, axis=axis), dtype=onp.float32)


@pytest.mark.parametrize("shape", [(6,), (3, 4), (2, 3, 2)])
def test_nonzero_family(shape):
    a = (onp.arange(onp.prod(shape)).reshape(shape) % 3 == 1).astype(onp.int32)
    expected = onp.nonzero(a)
    out = snp.nonzero(a)
    for o, e in zip(out, expected):
        onp.testing.assert_array_equal(o, e)
        assert o.dtype == onp.int32
    n = len(expected[0])
    sizes = (n + 2, max(n - 1, 0)) if len(shape) > 1 else (n, n + 2, max(n - 1, 0))
    for size in sizes:
        padded = tuple(onp.concatenate([e[:size], onp.full(max(size - n, 0), -1)])
                       for e in expected)
        check(lambda x: (snp.nonzero(x, size=size, fill_value=-1),
                         snp.argwhere(x, size=size, fill_value=-1)), (a,),
              (padded, onp.stack(padded, axis=-1)), exact=True, dtype=onp.int32)
    flat = onp.flatnonzero(a)
    check(lambda x: snp.flatnonzero(x, size=n + 1), (a,), onp.concatenate([flat, [0]]),
          exact=True, dtype=onp.int32)
    onp.testing.assert_array_equal(snp.argwhere(a), onp.argwhere(a))
    with pytest.raises(ConcretizationError, match="size="):
        s2s.jit(snp.nonzero)(a)


def test_compress_extract_choose():
    a = onp.arange(12.0, dtype=onp.float32).reshape(3, 4)
    cond = onp.array([True, False, True])
    check(lambda x: snp.compress(cond, x, axis=0), (a,), onp.compress(cond, a, axis=0),
          dtype=onp.float32)
    check(lambda x, c: snp.compress(c, x, axis=0, size=3, fill_value=-1.0), (a, cond),
          onp.concatenate([a[cond], onp.full((1, 4), -1.0)]).astype(onp.float32))
    check(lambda x: snp.extract(x > 5, x), (a,), onp.extract(a > 5, a), dtype=onp.float32,
          jit=False)
    check(lambda x: snp.extract(x > 5, x, size=8), (a,),
          onp.concatenate([onp.extract(a > 5, a), [0.0, 0.0]]), dtype=onp.float32)
    which = onp.array([[0, 1, 2, 0]] * 3)
    choices = [a, -a, a * 10]
    check(lambda w: snp.choose(w, choices), (which,), onp.choose(which, choices),
          dtype=onp.float32, jit=False)
    check(lambda w: snp.choose(w, choices, mode="clip"), (which,), onp.choose(which, choices),
          dtype=onp.float32)
    check(lambda w: snp.choose(w, choices, mode="wrap"), (which + 3,),
          onp.choose(which + 3, choices, mode="wrap"), dtype=onp.float32)


def test_index_helpers():
    rows, cols = snp.ix_([0, 2], [1, 3])
    onp.testing.assert_array_equal(gather_index(onp.arange(16).reshape(4, 4), (rows, cols)),
                                   onp.arange(16).reshape(4, 4)[onp.ix_([0, 2], [1, 3])])
    onp.testing.assert_array_equal(snp.indices((2, 3)), onp.indices((2, 3)))
    check(lambda i: snp.unravel_index(i, (3, 4)), (onp.array([0, 5, 11]),),
          onp.unravel_index([0, 5, 11], (3, 4)), exact=False)
    check(lambda r, c: snp.ravel_multi_index((r, c), (3, 4), mode="clip"),
          (onp.array([0, 2, 5]), onp.array([1, 3, 0])),
          onp.ravel_multi_index((onp.array([0, 2, 5]), onp.array([1, 3, 0])), (3, 4),
                                mode="clip"))
    for fn in ("tril_indices", "triu_indices"):
        for o, e in zip(getattr(snp, fn)(4, 1, 5), getattr(onp, fn)(4, 1, 5)):
            onp.testing.assert_array_equal(o, e)
    for o, e in zip(snp.diag_indices(3), onp.diag_indices(3)):
        onp.testing.assert_array_equal(o, e)
