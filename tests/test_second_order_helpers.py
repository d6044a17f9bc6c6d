"""Second derivatives through the adjoint helpers of scatter_mul, scatter_min/max, the
window reductions and dot_general (``s2s.lax.helper_rules``).

``hessian`` (vmap of jvp of grad) and ``jacrev(grad)`` (vmap of vjp of grad) used to run
the generated jvp/vjp of these helpers once per basis vector; their templates make both
one batched computation. Each function is written once against (lax, numpy), so the
same text runs on s2s and on JAX; every result is checked against central differences
of ``s2s.grad`` in float64, eagerly and under ``jit``, with no per-example call.
"""
import functools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import central_grad


def _dnums(lax):
    return lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                       scatter_dims_to_operand_dims=(0,))


REPEATED = np.array([[1], [3], [1]])
UNIQUE = np.array([[4], [0], [2]])


def _scatter_mul(lax, np):
    def f(x):  # repeated indices: a position multiplied by two updates
        y = lax.scatter_mul(x[:5], REPEATED, x[5:8], _dnums(lax))
        return np.sum(np.sin(y) * y)
    return f


def _scatter_mul_unique(lax, np):
    def f(x):
        y = lax.scatter_mul(x[:5] * x[:5], UNIQUE, x[5:8], _dnums(lax), unique_indices=True)
        return np.sum(np.sin(y) * y)
    return f


def _scatter_max(lax, np):
    def f(x):
        y = lax.scatter_max(x[:5], REPEATED, x[5:8] * 2.0, _dnums(lax))
        return np.sum(np.sin(y) * y + y * y * y)
    return f


def _scatter_min(lax, np):
    def f(x):
        y = lax.scatter_min(np.cos(x[:5]), REPEATED, x[5:8], _dnums(lax))
        return np.sum(np.exp(y) * y)
    return f


def _start(lax, v, start):
    """The start value ``v``, or the constant ``start`` (JAX differentiates neither the start
    value nor a reduce_window other than a sum or max from its identity)."""
    return v if start is None else lax.stop_gradient(v) * 0.0 + start


def _window_product(lax, np, start=None):
    def f(x):  # the start value is differentiated too
        y = lax.reduce_window(x[:6].reshape(2, 3), _start(lax, x[7], start), lax.mul, (2, 2), (1, 1), "VALID")
        return np.sum(np.sin(y) * y)
    return f


def _window_product_padded(lax, np):
    def f(x):
        y = lax.reduce_window(x.reshape(2, 4), 1.0, lax.mul, (1, 3), (1, 2), "SAME")
        return np.sum(np.sin(y) * y)
    return f


def _window_max_generic(lax, np, start=None):
    def f(x):
        y = lax.reduce_window(x[:6].reshape(2, 3), _start(lax, x[7], start), lax.max, (1, 2), (1, 1), ((0, 0), (0, 1)))
        return np.sum(np.sin(y) * y)
    return f


def _window_add_generic(lax, np, start=None):
    def f(x):
        y = lax.reduce_window(x.reshape(2, 4) ** 2, _start(lax, x[0], start), lax.add, (2, 2), (1, 2), "VALID")
        return np.sum(np.sin(y) * y)
    return f


def _window_max(lax, np):
    # jax.lax spells reduce_window_max as reduce_window with max from -inf.
    window_max = getattr(lax, "reduce_window_max", None) or (
        lambda x, **kw: lax.reduce_window(x, -np.inf, lax.max, kw["window_dimensions"],
                                          kw["window_strides"], kw["padding"]))

    def f(x):
        y = window_max(x.reshape(2, 4), window_dimensions=(1, 2), window_strides=(1, 1),
                       padding="VALID")
        return np.sum(np.sin(y) * y ** 2)
    return f


def _dot_general(lax, np):
    def f(x):
        y = lax.dot_general(x.reshape(2, 4), np.sin(x).reshape(4, 2), (((1,), (0,)), ((), ())))
        return np.sum(np.sin(y) * y)
    return f


def _reductions(lax, np):
    def f(x):
        m = x.reshape(2, 4)
        return np.sum(np.sin(lax.reduce_max(m, axes=(1,))) * lax.reduce_prod(m, axes=(0,)).sum()) \
            + np.sum(np.cos(lax.cummax(x, axis=0)) * x)
    return f


def _pad_value(lax, np):
    def f(x):  # an active padding value, interior padding and a negative edge
        y = lax.pad(x * x, x[0] * x[1], [(1, -2, 1)])
        return np.sum(np.sin(y) * y)
    return f


PROGRAMS = {"scatter_mul": _scatter_mul, "scatter_mul_unique": _scatter_mul_unique,
            "scatter_max": _scatter_max, "scatter_min": _scatter_min,
            "window_product": _window_product, "window_product_padded": _window_product_padded,
            "window_max_generic": _window_max_generic, "window_add_generic": _window_add_generic,
            "window_max": _window_max, "dot_general": _dot_general, "reductions": _reductions,
            "pad_value": _pad_value}
# Distinct values (no ties) and nonzero updates: every function is smooth here.
POINT = np.array([0.3, 0.5, 0.7, -0.2, 0.9, 1.1, -0.4, 0.6])

# jacfwd(grad) is hessian's own composition: the two reverse-mode orders are checked.
SECOND_ORDER = {
    "hessian": lambda f: s2s.hessian(f),
    "jacrev(grad)": lambda f: s2s.jacrev(s2s.grad(f)),
}


@functools.lru_cache(maxsize=None)
def _central_hessian(name):
    """Central differences of grad (called from tests running in 64-bit mode)."""
    g = s2s.grad(PROGRAMS[name](lax, snp))
    return np.stack([central_grad(lambda v: g(v)[i], POINT) for i in range(POINT.size)])


@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_second_order_matches_central_differences_without_example_loop(name, how, x64, loops):
    transformed = SECOND_ORDER[how](PROGRAMS[name](lax, snp))
    got = transformed(POINT)
    staged = s2s.jit(transformed)(POINT)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    assert got.dtype == np.float64 and np.isfinite(got).all()
    np.testing.assert_allclose(got, _central_hessian(name), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(staged, got, rtol=1e-10, atol=1e-12)


def _with_jax_x64(fn):
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        return np.asarray(fn(jax))
    finally:
        jax.config.update("jax_enable_x64", old)


# JAX differentiates scatter_mul only with unique indices, and the generic reduce_window
# only where it is a sum or max from the identity: there both sides start from it.
JAX_PROGRAMS = sorted(set(PROGRAMS) - {"scatter_mul", "window_product", "window_product_padded"})
IDENTITY = {"window_max_generic": -np.inf, "window_add_generic": 0.0}


def _program(name, lax, np):
    if name in IDENTITY:
        return PROGRAMS[name](lax, np, start=IDENTITY[name])
    return PROGRAMS[name](lax, np)


@pytest.mark.parametrize("name", JAX_PROGRAMS)
def test_hessian_matches_jax(name, x64):
    def theirs(jax):
        import jax.numpy as jnp
        return jax.hessian(_program(name, jax.lax, jnp))(POINT)
    np.testing.assert_allclose(s2s.hessian(_program(name, lax, snp))(POINT), _with_jax_x64(theirs),
                               rtol=1e-10, atol=1e-12)


# vmap of grad with every primal batched: the helpers' batch rules take the whole batch
# in one call (scatter: a batching dimension; windows: a window of 1 over the batch).
# (A start value that differs per example has no batched reduce_window: the windows here
# start from constants.)
VMAPPED = ("scatter_mul", "scatter_mul_unique", "scatter_max", "scatter_min",
           "window_product_padded", "window_max", "dot_general", "pad_value")


@pytest.mark.parametrize("name", VMAPPED)
def test_vmap_of_grad_runs_no_example_loop(name, x64, loops):
    f = PROGRAMS[name](lax, snp)
    xs = np.stack([POINT, POINT[::-1] * 1.3, np.cos(POINT)])
    got = s2s.vmap(s2s.grad(f))(xs)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    np.testing.assert_allclose(got, np.stack([s2s.grad(f)(x) for x in xs]), rtol=1e-12, atol=1e-12)


# Ties: contenders for one position share its adjoint and its tangent evenly (JAX's rule
# for scatter_min/max), so y = S x with S holding the shares, and the Hessian of
# sum(h(y)) is S^T diag(h''(y)) S. Position 1 has three equal contenders (the operand
# and updates 0 and 2), position 3 one winning update.
TIED = np.array([0.3, 0.5, 0.7, -0.2, 0.9, 0.5, 0.4, 0.5])


def _tied(which):
    def program(lax, np):
        scatter = getattr(lax, which)

        def f(x):
            y = scatter(x[:5], REPEATED, x[5:8], _dnums(lax))
            return np.sum(np.sin(y) * y + y * y * y)
        return f
    return program


def _tied_expected(which):
    shares = np.zeros((5, 8))
    winner = 6 if which == "scatter_max" else 3  # position 3: update 1 (0.4) or operand (-0.2)
    for row, cols in {0: [0], 1: [1, 5, 7], 2: [2], 3: [winner], 4: [4]}.items():
        shares[row, cols] = 1.0 / len(cols)
    y = shares @ TIED
    second = 2 * np.cos(y) - y * np.sin(y) + 6 * y  # h'' of h(y) = sin(y) y + y^3
    return shares.T @ np.diag(second) @ shares


@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("which", ["scatter_max", "scatter_min"])
def test_ties_share_second_derivatives_evenly(which, how, x64, loops):
    transformed = SECOND_ORDER[how](_tied(which)(lax, snp))
    got = transformed(TIED)
    assert loops == []
    np.testing.assert_allclose(got, _tied_expected(which), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2s.jit(transformed)(TIED), got, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("which", ["scatter_max", "scatter_min"])
def test_ties_match_jax(which, x64):
    def theirs(jax):
        import jax.numpy as jnp
        return jax.hessian(_tied(which)(jax.lax, jnp))(TIED)
    np.testing.assert_allclose(_tied_expected(which), _with_jax_x64(theirs), rtol=1e-12, atol=1e-12)


# x.at[index].multiply/divide/power/min/max: their adjoints are NumPy-level helpers that
# vmap batches by their source (s2s/numpy/_vjp_helpers.py), repeated positions included.
AT = np.array([1, 3, 1])


def _at(op):
    def program(np):
        def f(x):
            y = getattr(x[:5].at[AT], op)(x[5:8])
            return np.sum(np.sin(y) * y)
        return f
    return program


AT_OPS = ("multiply", "divide", "power", "min", "max")
POSITIVE = np.abs(POINT) + 0.2  # power: positive bases


@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("op", AT_OPS)
def test_at_updates_second_order_without_example_loop(op, how, x64, loops):
    f = _at(op)(snp)
    transformed = SECOND_ORDER[how](f)
    got = transformed(POSITIVE)
    assert loops == [], f"called once per example: {sorted(set(loops))}"
    g = s2s.grad(f)
    expected = np.stack([central_grad(lambda v: g(v)[i], POSITIVE) for i in range(POSITIVE.size)])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s2s.jit(transformed)(POSITIVE), got, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op", ["min", "max"])  # JAX's multiply needs unique indices
def test_at_extrema_match_jax(op, x64):
    def theirs(jax):
        import jax.numpy as jnp
        return jax.hessian(_at(op)(jnp))(POSITIVE)
    np.testing.assert_allclose(s2s.hessian(_at(op)(snp))(POSITIVE), _with_jax_x64(theirs),
                               rtol=1e-10, atol=1e-12)
