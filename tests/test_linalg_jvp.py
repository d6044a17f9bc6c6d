"""Forward mode of the linear-algebra primitives (their jvp templates, s2s.lax.linalg_jvp
and s2s.numpy._linalg_jvp): against directional central differences in float64, against
s2s's own vjp (<J t, u> = <t, J^T u>), under jacfwd without per-example calls, under jit,
and against jax.jvp where JAX is installed. (The real lax cases also run in
test_lax_vjp.py::test_jvp_matches_directional_differences.)"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.lax import linalg
from cases import jax_x64

R = np.random.default_rng(11)


def _spd(n, batch=(), complex_=False):
    m = R.normal(size=batch + (n, n))
    if complex_:
        m = m + 1j * R.normal(size=batch + (n, n))
    return m @ np.conj(np.swapaxes(m, -1, -2)) + n * np.eye(n)


def _general(*shape, complex_=False):
    m = R.normal(size=shape) + 2.0 * np.eye(shape[-2], shape[-1])
    return m + 1j * R.normal(size=shape) if complex_ else m


def _triangular(n, lower):
    m = R.normal(size=(n, n)) * 0.3 + np.diag(R.uniform(1.0, 2.0, n))
    return np.tril(m) if lower else np.triu(m)


def _like(x, rng):
    t = rng.uniform(-1.0, 1.0, np.shape(x))
    return t + 1j * rng.uniform(-1.0, 1.0, np.shape(x)) if np.iscomplexobj(x) else t


def _svd_invariants(out):
    u, s, vt = out
    return s[..., :1, None] * snp.abs(u @ vt)  # u @ vt does not see the singular vectors' phases


_np_svd_invariants = _svd_invariants  # numpy.linalg.svd and lax.linalg.svd: (u, s, vt) both


# name -> (function of the operands, operands). Outputs whose sign or phase is free
# (eigenvectors, singular vectors) enter through invariant products.
CASES = {
    "inv": (lambda a: snp.linalg.inv(a), (_general(3, 3),)),
    "inv_batch_complex": (lambda a: snp.linalg.inv(a), (_general(2, 3, 3, complex_=True),)),
    "solve_vector": (lambda a, b: snp.linalg.solve(a, b), (_general(3, 3), R.normal(size=3))),
    "solve_matrix": (lambda a, b: snp.linalg.solve(a, b), (_general(3, 3), R.normal(size=(3, 2)))),
    "solve_batch_vector": (lambda a, b: snp.linalg.solve(a, b), (_general(2, 3, 3), R.normal(size=3))),
    "solve_complex": (lambda a, b: snp.linalg.solve(a, b),
                      (_general(3, 3, complex_=True), R.normal(size=(3, 2)) + 1j)),
    "det": (lambda a: snp.linalg.det(a), (_general(3, 3),)),
    "det_batch_complex": (lambda a: snp.linalg.det(a), (_general(2, 3, 3, complex_=True),)),
    "slogdet": (lambda a: snp.linalg.slogdet(a)[1] * snp.linalg.slogdet(a)[0], (_general(3, 3),)),
    "slogdet_complex": (lambda a: snp.linalg.slogdet(a)[1] * snp.linalg.slogdet(a)[0],
                        (_general(2, 3, 3, complex_=True),)),
    "cholesky": (lambda a: snp.linalg.cholesky(a), (_spd(3),)),
    "cholesky_upper_batch": (lambda a: snp.linalg.cholesky(a, upper=True), (_spd(3, (2,)),)),
    "cholesky_complex": (lambda a: snp.linalg.cholesky(a), (_spd(3, complex_=True),)),
    "eigh": (lambda a: snp.linalg.eigh(a)[0] + snp.sum(snp.linalg.eigh(a)[1] ** 2 * a, axis=0),
             (_spd(3),)),
    "eigh_upper_complex": (lambda a: snp.abs(snp.linalg.eigh(a, "U")[1]) * snp.linalg.eigh(a, "U")[0],
                           (_spd(3, complex_=True),)),
    "eigvalsh": (lambda a: snp.linalg.eigvalsh(a), (_spd(3, (2,)),)),
    "eigvalsh_upper": (lambda a: snp.linalg.eigvalsh(a, "U"), (_spd(3),)),
    "lax_cholesky_complex_upper": (lambda a: linalg.cholesky(a, lower=False), (_spd(3, complex_=True),)),
    "lax_eigh_complex": (lambda a: linalg.eigh(a)[1][..., None] + snp.abs(linalg.eigh(a)[0]) ** 2,
                         (_spd(3, (2,), complex_=True),)),
    "lax_triangular_solve_conj": (
        lambda a, b: linalg.triangular_solve(a, b, left_side=True, lower=True, transpose_a=True,
                                             conjugate_a=True),
        (_triangular(3, True) + 0.2j * np.tril(R.normal(size=(3, 3))), R.normal(size=(3, 2)) + 0.5j)),
    "lax_triangular_solve_conj_only": (
        lambda a, b: linalg.triangular_solve(a, b, lower=False, conjugate_a=True),
        (_triangular(3, False) + 0.2j * np.triu(R.normal(size=(3, 3))), R.normal(size=(2, 3)) + 0.5j)),
    "qr_reduced": (lambda a: snp.linalg.qr(a)[0] * snp.sum(snp.linalg.qr(a)[1]), (R.normal(size=(4, 3)),)),
    "qr_complete_batch": (lambda a: snp.linalg.qr(a, "complete")[0] + snp.linalg.qr(a, "complete")[1],
                          (R.normal(size=(2, 3, 3)),)),
    "qr_r_complex": (lambda a: snp.linalg.qr(a, "r"), (_general(4, 3, complex_=True),)),
    "svd_wide": (lambda a: _np_svd_invariants(snp.linalg.svd(a, full_matrices=False)), (R.normal(size=(3, 4)),)),
    "svd_values": (lambda a: snp.linalg.svd(a, compute_uv=False), (R.normal(size=(2, 4, 3)),)),
    "svd_hermitian": (lambda a: _np_svd_invariants(snp.linalg.svd(a, hermitian=True)), (_spd(3) - 4 * np.eye(3),)),
    "svd_hermitian_values": (lambda a: snp.linalg.svd(a, compute_uv=False, hermitian=True),
                             (_spd(3) - 4 * np.eye(3),)),
    "lax_lu_batch": (lambda a: linalg.lu(a)[0], (R.normal(size=(2, 3, 4)),)),
    "lax_qr_batch": (lambda a: snp.sum(linalg.qr(a)[0], axis=-2) + linalg.qr(a)[1][..., 0, :],
                     (R.normal(size=(2, 4, 3)),)),
    "lax_svd_complex": (lambda a: _svd_invariants(linalg.svd(a, full_matrices=False)),
                        (_general(4, 3, complex_=True),)),
    "lax_svd_square_full": (lambda a: linalg.svd(a)[1] * snp.sum(linalg.svd(a)[0] @ linalg.svd(a)[2]),
                            (_general(3, 3),)),
    "lax_svd_values_batch": (lambda a: linalg.svd(a, compute_uv=False), (R.normal(size=(2, 3, 4)),)),
}

# Every order of linalg.norm, vectors and matrices (values distinct: no ties at the point).
_V = np.array([0.31, -0.72, 0.55, 1.13, -0.28])
_M = np.array([[0.31, -0.72, 0.55], [1.13, -0.28, 0.84], [-1.05, 0.47, 0.12]])
VECTOR_ORDS = [None, 1, 2, np.inf, -np.inf, 0.5, 3]
MATRIX_ORDS = [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]
for _o in VECTOR_ORDS:
    CASES[f"norm_vector_{_o}"] = (lambda x, o=_o: snp.linalg.norm(x, ord=o), (_V,))
for _o in MATRIX_ORDS:
    CASES[f"norm_matrix_{_o}"] = (lambda x, o=_o: snp.linalg.norm(x, ord=o), (_M,))
CASES["norm_axis_keepdims"] = (lambda x: snp.linalg.norm(x, ord=3, axis=0, keepdims=True), (_M,))
CASES["norm_axes_batch"] = (lambda x: snp.linalg.norm(x, ord=2, axis=(1, 2)), (np.stack([_M, _M.T + 1]),))
CASES["norm_complex"] = (lambda x: snp.linalg.norm(x, axis=1), (_M + 1j * _M[::-1],))


def _difference(f, args, tangents, eps=1e-6):
    plus = f(*[a + eps * t for a, t in zip(args, tangents)])
    minus = f(*[a - eps * t for a, t in zip(args, tangents)])
    return (np.asarray(plus) - np.asarray(minus)) / (2 * eps)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_matches_directional_differences(name, x64):
    f, args = CASES[name]
    rng = np.random.default_rng(len(name))
    tangents = tuple(_like(a, rng) for a in args)
    out, got = s2s.jvp(f, args, tangents)
    want = _difference(f, args, tangents)
    assert np.shape(got) == np.shape(out)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(CASES))
def test_jvp_is_transpose_of_vjp(name, x64):
    """``Re <u, J t> == Re <J^T u, t>`` (bilinear pairing: s2s's cotangents are linear
    transposes, as JAX's)."""
    f, args = CASES[name]
    rng = np.random.default_rng(len(name) + 1)
    tangents = tuple(_like(a, rng) for a in args)
    out, jt = s2s.jvp(f, args, tangents)
    u = _like(out, rng)
    _, pullback = s2s.vjp(f, *args)
    cts = pullback(u.astype(np.asarray(out).dtype))
    lhs = np.real(np.sum(u * jt))
    rhs = np.real(sum(np.sum(c * t) for c, t in zip(cts, tangents)))
    np.testing.assert_allclose(lhs, rhs, rtol=1e-9, atol=1e-10)


_JACFWD = ["inv", "solve_batch_vector", "det", "slogdet", "cholesky_upper_batch", "eigh", "eigvalsh",
           "qr_complete_batch", "svd_values", "svd_hermitian", "lax_lu_batch", "lax_qr_batch",
           "lax_svd_values_batch", "lax_triangular_solve_conj",
           "norm_vector_3", "norm_matrix_nuc", "norm_matrix_fro"]


def _real_args(name):
    f, args = CASES[name]
    return f, tuple(np.real(a) if np.iscomplexobj(a) else a for a in args)


@pytest.mark.parametrize("name", _JACFWD)
def test_jacfwd_runs_no_example_loop_and_jit_agrees(name, x64, loops):
    f, args = _real_args(name)
    argnums = tuple(range(len(args)))
    got = s2s.jacfwd(f, argnums=argnums)(*args)
    assert loops == [], f"{name}: called once per example: {sorted(set(loops))}"
    want = s2s.jacrev(f, argnums=argnums)(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-10)
    staged = s2s.jit(s2s.jacfwd(f, argnums=argnums))(*args)
    for g, w in zip(staged, got):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-10)


def _grad_fd(g, x, h=1e-6):
    cols = [(np.asarray(g(x + h * e)) - np.asarray(g(x - h * e))) / (2 * h)
            for e in np.eye(x.size).reshape((x.size,) + x.shape)]
    return np.stack(cols, axis=-1).reshape(x.shape + x.shape)


@pytest.mark.parametrize("case", [("vector", o) for o in VECTOR_ORDS] + [("matrix", o) for o in MATRIX_ORDS],
                         ids=str)
def test_second_derivatives_of_every_norm_order(case, x64):
    """hessian (jacfwd of grad) and jacfwd of jacfwd (the tangent template differentiated
    again) against differences of the gradient."""
    kind, o = case
    x = _V if kind == "vector" else _M

    def f(v):
        return snp.linalg.norm(v * v * 0.5 + v, ord=o) ** 2
    want = _grad_fd(s2s.grad(f), x)
    np.testing.assert_allclose(s2s.hessian(f)(x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s2s.jacfwd(s2s.jacfwd(f))(x), want, rtol=1e-5, atol=1e-6)


def test_second_order_forward_over_forward_of_factorizations(x64):
    """jacfwd of jacfwd through the factorizations' tangent helpers (their source)."""
    a = _spd(3)

    def f(x):
        s = x + x.T
        return snp.sum(snp.linalg.cholesky(s) ** 2) + snp.sum(snp.linalg.eigvalsh(s) ** 3) \
            + snp.linalg.slogdet(s)[1] + snp.sum(linalg.qr(s)[1] ** 2)
    want = _grad_fd(s2s.grad(f), a / 2)
    np.testing.assert_allclose(s2s.jacfwd(s2s.jacfwd(f))(a / 2), want, rtol=1e-5, atol=1e-6)


def test_jvp_source_reads_the_template():
    def f(a, b):
        return snp.linalg.solve(a, b)
    src = s2s.jvp_source(f)
    assert "transposed_jvp" not in src
    assert "np.linalg.solve(a, db) + solve_tangent_a(da, a, b, " in src


def test_qr_and_svd_shapes_outside_the_rule_raise():
    with pytest.raises(NotImplementedError, match="m >= n"):
        s2s.jvp(lambda a: linalg.qr(a)[1], (np.ones((2, 3)),), (np.ones((2, 3)),))
    with pytest.raises(NotImplementedError, match="full_matrices=False"):
        s2s.jvp(lambda a: linalg.svd(a)[0], (np.ones((3, 2)),), (np.ones((3, 2)),))


_JAX = {
    "inv": lambda jnp, a: jnp.linalg.inv(a),
    "solve_vector": lambda jnp, a, b: jnp.linalg.solve(a, b),
    "det_batch_complex": lambda jnp, a: jnp.linalg.det(a),
    "slogdet_complex": lambda jnp, a: jnp.linalg.slogdet(a)[1] * jnp.linalg.slogdet(a)[0],
    "eigvalsh": lambda jnp, a: jnp.linalg.eigvalsh(a),
    "cholesky": lambda jnp, a: jnp.linalg.cholesky(a),
    "lax_svd_values_batch": lambda jnp, a: jnp.linalg.svd(a, compute_uv=False),
    "norm_matrix_nuc": lambda jnp, x: jnp.linalg.norm(x, ord="nuc"),
    "norm_vector_3": lambda jnp, x: jnp.linalg.norm(x, ord=3),
    "norm_complex": lambda jnp, x: jnp.linalg.norm(x, axis=1),
}


@pytest.mark.parametrize("name", sorted(_JAX))
def test_jvp_matches_jax(name, x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    f, args = CASES[name]
    rng = np.random.default_rng(len(name) + 2)
    tangents = tuple(_like(a, rng) for a in args)
    if name in ("cholesky", "eigvalsh"):  # jax symmetrizes its input: symmetric tangents
        tangents = tuple((t + np.swapaxes(t, -1, -2)) / 2 for t in tangents)
    _, got = s2s.jvp(f, args, tangents)
    with jax_x64(jax):
        _, want = jax.jvp(lambda *xs: _JAX[name](jnp, *xs), args, tangents)
        np.testing.assert_allclose(got, np.asarray(want), rtol=1e-9, atol=1e-10)
