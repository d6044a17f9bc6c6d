"""dot_general's staging rewrite of a product with a diagonal matrix (the identity
``iota == iota`` times values constant along rows or columns, as jacrev's cotangent
basis becomes through elementwise steps): the same values as the dense product,
without the n x n matrix in XLA's program."""
import re

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import lax
from s2s.lax.structural import iota_p
from s2s.numpy._arraylike import bind_on

N = 6


def _iotas(ref, n):
    # Staged as jacobians._basis stages them (an iota of constant shape alone would be
    # folded into a constant array).
    return [bind_on(ref, iota_p, dtype=onp.dtype(onp.int32), shape=(n, n), dimension=d) for d in (0, 1)]


def identity(ref, n=N, dtype=onp.float32):
    rows, cols = _iotas(ref, n)
    return lax.convert_element_type(lax.eq(rows, cols), dtype)


def shifted(ref, n=N, dtype=onp.float32):
    """Ones above the diagonal: not diagonal, so the dense product stays."""
    rows, cols = _iotas(ref, n)
    return lax.convert_element_type(lax.eq(rows + 1, cols), dtype)


def _contract(dims):
    return (dims, ((), ()))


CASES = {
    # name: (function of (v, w, m, m3), whether the n x n product is rewritten)
    "rows scaled": (lambda v, w, m, m3: (identity(v) * v) @ m, True),
    "column vector, twice": (lambda v, w, m, m3: ((identity(v) * v[:, None]) * w) @ m, True),
    "on the right": (lambda v, w, m, m3: m.T @ (identity(v) * v), True),
    "negated, a scalar": (lambda v, w, m, m3: (-(identity(v) * v) * 2.0) @ m, True),
    "identity alone": (lambda v, w, m, m3: identity(v) @ m, True),
    "contracting a middle axis": (lambda v, w, m, m3: lax.dot_general(
        identity(v) * w, m3, _contract(((0,), (1,)))), True),
    "full matrix times identity": (lambda v, w, m, m3: (identity(v) * np.outer(v, w)) @ m, False),
    "off the diagonal": (lambda v, w, m, m3: (shifted(v) * v) @ m, False),
}


def _dense(name, v, w, m, m3):
    """The same product in float64 NumPy, with the n x n matrix written out."""
    eye = onp.eye(N)
    d = {"rows scaled": eye * v, "column vector, twice": eye * v[:, None] * w,
         "negated, a scalar": -(eye * v) * 2.0, "identity alone": eye,
         "contracting a middle axis": eye * w,
         "full matrix times identity": eye * onp.outer(v, w),
         "off the diagonal": onp.eye(N, k=1) * v}
    if name == "on the right":
        return m.T @ (eye * v)
    if name == "contracting a middle axis":
        return onp.einsum("ij,aic->jac", d[name], m3)
    return d[name] @ m


@pytest.mark.parametrize("name", list(CASES))
def test_values_and_program(name):
    fn, rewritten = CASES[name]
    r = onp.random.default_rng(0)
    args = [r.normal(size=s).astype(onp.float32) for s in ((N,), (N,), (N, 4), (2, N, 3))]
    f = s2s.jit(fn)
    got = f(*args)
    want = _dense(name, *[a.astype(onp.float64) for a in args])
    onp.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    onp.testing.assert_allclose(got, fn(*args), rtol=1e-6, atol=1e-6)  # eager, dense
    text = f.lower(*args).as_text()
    square = re.search(rf"stablehlo\.dot_general [^\n]*tensor<{N}x{N}xf32>[^\n]*->", text)
    assert (square is None) is rewritten, text


def test_jacrev_under_jit_agrees_with_jacfwd_and_eager():
    """jacrev's basis through tanh, a product, a difference, and back through matmuls."""
    r = onp.random.default_rng(1)
    A, B = r.normal(size=(30, 4)).astype(onp.float32), r.normal(size=(30, 4)).astype(onp.float32)

    def f(x):
        return np.tanh(A @ x) * (B @ x) - 3.0 * np.sin(A @ x)
    x = r.normal(size=4).astype(onp.float32)
    got = s2s.jit(s2s.jacrev(f))(x)
    onp.testing.assert_allclose(got, s2s.jacrev(f)(x), rtol=1e-5, atol=1e-6)
    onp.testing.assert_allclose(got, s2s.jit(s2s.jacfwd(f))(x), rtol=1e-5, atol=1e-6)
    text = s2s.jit(s2s.jacrev(f)).lower(x).as_text()
    assert not re.search(r"stablehlo\.dot_general [^\n]*tensor<30x30xf32>[^\n]*->", text), text


@pytest.mark.parametrize("start", ["diagonal", "full"])
def test_products_of_a_matrix_with_itself_stage_in_linear_time(start):
    """40 squarings: the search for a diagonal looks at each staged value once and gives
    up when the factors pile up, rather than following 2**40 paths."""
    r = onp.random.default_rng(2)
    v = onp.ones(N, onp.float32)
    w = r.normal(size=(N, 4)).astype(onp.float32)

    def f(v, w):
        m = identity(v) * v if start == "diagonal" else np.outer(v, v) * v
        for _ in range(40):
            m = m * m
        return m @ w
    got = s2s.jit(f)(v, w)
    onp.testing.assert_allclose(got, (onp.eye(N) if start == "diagonal" else onp.ones((N, N))) @ w,
                                rtol=1e-6, atol=1e-6)
