"""Reverse mode of the NumPy-level functions with templates of their own (reductions,
sorting, products, ``numpy.linalg``): first order against central finite differences
and ``jax.grad``, ``jit(grad)`` against ``grad``, and second order (the templates'
helpers are differentiable source themselves)."""
import linecache
import warnings

import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from cases import central_grad

# name -> (expression in ``x`` written with ``np``, input shape, kind of input)
CASES = {
    "max": ("np.max(x)", (3, 4), "distinct"),
    "max_axis": ("np.sum(np.max(x, axis=0) * W)", (3, 4), "distinct"),
    "amin_keepdims": ("np.sum(np.amin(x, axis=1, keepdims=True) ** 2)", (3, 4), "distinct"),
    "max_method": ("x.max(axis=-1).sum()", (3, 4), "distinct"),
    "sum_where": ("np.sum(x * x, where=M)", (3, 4), "any"),
    "mean_where_axis": ("np.sum(np.mean(x * x, axis=1, where=M) * W[:3])", (3, 4), "any"),
    "prod": ("np.prod(x)", (2, 3), "distinct"),
    "prod_axis": ("np.sum(np.prod(x, axis=1) * W[:2])", (2, 3), "distinct"),
    "prod_with_zero": ("np.prod(x * np.array([1.0, 0.0, 1.0]))", (3,), "distinct"),
    "var": ("np.var(x)", (3, 4), "distinct"),
    "var_ddof_axis": ("np.sum(np.var(x, axis=0, ddof=1) * W)", (3, 4), "distinct"),
    "std": ("np.std(x, axis=1).sum()", (3, 4), "distinct"),
    "sort": ("np.sum(np.sort(x, axis=0) * np.arange(12.0).reshape(3, 4))", (3, 4), "distinct"),
    "sort_flat": ("np.sum(np.sort(x, axis=None) * np.arange(12.0))", (3, 4), "distinct"),
    "median": ("np.median(x)", (5,), "distinct"),
    "quantile": ("np.quantile(x, 0.3)", (7,), "distinct"),
    "percentile_axis": ("np.sum(np.percentile(x, 40.0, axis=1) * W[:3])", (3, 4), "distinct"),
    "cumsum": ("np.sum(np.cumsum(x, axis=1) ** 2)", (3, 4), "any"),
    "cumprod": ("np.sum(np.cumprod(x))", (5,), "any"),
    "tensordot": ("np.sum(np.tensordot(x, B34, axes=([1], [1])) ** 2)", (2, 4), "any"),
    "tensordot_int": ("np.sum(np.tensordot(x, B34.T, axes=1) ** 2)", (2, 4), "any"),
    "outer": ("np.sum(np.outer(x, W) ** 2)", (3,), "any"),
    "inner": ("np.sum(np.inner(x, B34) ** 2)", (2, 4), "any"),
    "vdot": ("np.vdot(x, x * W)", (4,), "any"),
    "einsum_matmul": ("np.sum(np.einsum('ij,kj->ik', x, B34) ** 2)", (2, 4), "any"),
    "einsum_trace": ("np.einsum('ii', x) * np.einsum('ij->', x)", (3, 3), "any"),
    "einsum_ellipsis": ("np.sum(np.einsum('...j,jk->...k', x, B34.T) ** 2)", (2, 4), "any"),
    "inv": ("np.sum(np.linalg.inv(x) * W[:3])", (3, 3), "spd"),
    "solve": ("np.sum(np.linalg.solve(x, W[:3]) ** 2)", (3, 3), "spd"),
    "solve_matrix": ("np.sum(np.linalg.solve(x, B34[:, :2]))", (3, 3), "spd"),
    "det": ("np.linalg.det(x)", (3, 3), "spd"),
    "slogdet": ("np.linalg.slogdet(x)[1]", (3, 3), "spd"),
    "cholesky": ("np.sum(np.linalg.cholesky(x) * W[:3])", (3, 3), "spd"),
    "eigh": ("np.sum(np.linalg.eigh(x)[0] * W[:3])", (3, 3), "spd"),
    "eigvalsh": ("np.sum(np.linalg.eigvalsh(x) ** 2)", (3, 3), "spd"),
    "svd_s": ("np.sum(np.linalg.svd(x, compute_uv=False))", (4, 3), "any"),
    "qr_r": ("np.sum(np.linalg.qr(x)[1] * W[:3])", (4, 3), "any"),
    "cross": ("np.sum(np.cross(x, x[::-1] * 2.0) * W[:3])", (2, 3), "any"),
    "kron": ("np.sum(np.kron(x, B34) * np.cos(np.arange(72.0)).reshape(6, 12))", (2, 3), "any"),
    "average_weights": ("np.sum(np.average(x, axis=1, weights=W) ** 2)", (3, 4), "any"),
    "nanvar": ("np.nanvar(x)", (3, 4), "any"),
    "roll": ("np.sum(np.roll(x, 2, axis=1) * B34)", (3, 4), "any"),
    "take_along_axis": ("np.sum(np.take_along_axis(x, np.argsort(B34, axis=1), axis=1) * B34 ** 2)",
                        (3, 4), "any"),
    "pad_reflect": ("np.sum(np.pad(x, 1, mode='reflect') * np.cos(np.arange(30.0)).reshape(5, 6))",
                    (3, 4), "any"),
    "pad_constant": ("np.sum(np.pad(x, (1, 2)) ** 2 * np.arange(42.0).reshape(6, 7))", (3, 4), "any"),
    "stack_concat": ("np.sum(np.concatenate([x, np.stack([x[0], x[1]])], axis=0) ** 2 * W)", (2, 4),
                     "any"),
    "norm": ("np.linalg.norm(x)", (3, 4), "any"),
    "norm_axis": ("np.sum(np.linalg.norm(x, axis=1))", (3, 4), "any"),
    "norm_ord1": ("np.linalg.norm(x, ord=1)", (4,), "distinct"),
    "norm_nuc": ("np.linalg.norm(x, ord='nuc')", (3, 3), "any"),
}

# Symmetric-input functions read one triangle (as NumPy): check along symmetric directions.
SYMMETRIC = {"cholesky", "eigh", "eigvalsh"}
# Second order is not defined or not yet supported through these.
NO_SECOND_ORDER = {"median", "quantile", "percentile_axis", "norm_ord1", "norm_nuc", "sort",
                   "sort_flat", "qr_r", "svd_s", "eigh", "eigvalsh", "cholesky"}


def _input(shape, kind, rng):
    if kind == "spd":
        a = rng.normal(size=shape)
        return a @ a.T + shape[0] * onp.eye(shape[0])
    x = rng.uniform(0.5, 1.5, size=shape)
    if kind == "distinct":  # away from ties, so the derivative exists
        x = x + onp.arange(x.size).reshape(shape) * 0.37 % 1.1
    return x


def _env(np):
    return {"np": np, "W": onp.array([0.3, -1.2, 0.7, 1.9]),
            "B34": onp.arange(12.0).reshape(3, 4) / 7.0 - 0.5,
            "M": onp.arange(12).reshape(3, 4) % 3 != 1}


_counter = [0]


def _compile(name, text, env):
    """Functions with real source (s2s reads it), registered in linecache."""
    _counter[0] += 1
    filename = f"<test_numpy_grad_rules {name} #{_counter[0]}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    exec(compile(text, filename, "exec"), env)


def _function(name, np=snp):
    expr = CASES[name][0]
    env = _env(np)
    _compile(name, f"def f(x):\n    return {expr}\n", env)
    return env["f"]




def _directional(f, x, direction, eps=1e-6):
    return (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)


def _check_against_numeric(f, g, x, name):
    if name in SYMMETRIC:
        rng = onp.random.default_rng(3)
        for _ in range(3):
            v = rng.normal(size=x.shape)
            v = v + v.T
            onp.testing.assert_allclose(onp.sum(g * v), _directional(f, x, v), rtol=1e-5, atol=1e-6)
    else:
        onp.testing.assert_allclose(g, central_grad(f, x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(CASES))
def test_first_order(name, x64):
    shape, kind = CASES[name][1:]
    x = _input(shape, kind, onp.random.default_rng(0))
    f = _function(name)
    g = s2s.grad(f)(x)
    assert g.shape == x.shape and g.dtype == onp.float64
    _check_against_numeric(f, onp.asarray(g), x, name)
    onp.testing.assert_allclose(s2s.jit(s2s.grad(f))(x), g, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("name", sorted(set(CASES) - NO_SECOND_ORDER))
def test_second_order(name, x64):
    shape, kind = CASES[name][1:]
    rng = onp.random.default_rng(1)
    x = _input(shape, kind, rng)
    env = {"np": snp, "G": s2s.grad(_function(name)), "V": rng.uniform(-1, 1, size=shape)}
    _compile(name, "def h(x):\n    return np.sum(G(x) * V)\n", env)
    h = env["h"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = s2s.grad(h)(x)
    _check_against_numeric(h, onp.asarray(g), x, name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_agrees_with_jax(name, x64):
    jax = pytest.importorskip("jax")
    shape, kind = CASES[name][1:]
    x = _input(shape, kind, onp.random.default_rng(0))
    g = s2s.grad(_function(name))(x)
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        expected = onp.asarray(jax.grad(_function(name, jax.numpy))(x))
    finally:  # other tests in this process compare with JAX's default
        jax.config.update("jax_enable_x64", old)
    if name in SYMMETRIC:  # JAX symmetrizes its input, NumPy and s2s read one triangle
        g = (g + g.T) / 2
        expected = (expected + expected.T) / 2
    onp.testing.assert_allclose(g, expected, rtol=1e-6, atol=1e-8)


def test_generated_source_names_the_numpy_function():
    text = s2s.source(s2s.grad(_function("max_axis")))
    assert "np.max(" in text and "extremum_grad(" in text and "lax." not in text
