"""Tests of products (``dot`` ... ``einsum``), ``s2s.numpy.linalg`` and ``s2s.lax.linalg``.

Products and functions with unique results are compared with NumPy, eagerly and
under ``s2s.jit`` (values and dtypes). Decompositions whose factors are unique only
up to signs or order are checked through invariants (reconstruction, orthonormality,
triangularity) and through their unique parts (singular values, eigenvalues). Under
``jit`` the LAPACK custom calls must appear in the StableHLO. Misuse raises
``ShapeError``/``DtypeError`` naming the function, eagerly and under jit.
"""
import warnings

import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import DtypeError, ShapeError
from s2s.lax import linalg as lax_linalg
from cases import assert_close, case_id, rand, sample, tolerance

F32, F64, F16, I32, C64, C128, BOOL = (onp.dtype(t) for t in (
    onp.float32, onp.float64, onp.float16, onp.int32, onp.complex64, onp.complex128, onp.bool_))
rng = onp.random.default_rng(1)


@pytest.fixture
def x64():
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _maybe_x64(case, request):
    if any(isinstance(v, onp.dtype) and v in (F64, C128) for v in case.values()):
        request.getfixturevalue("x64")


def _flat(v):
    return [onp.asarray(t) for t in v] if isinstance(v, (tuple, list)) else [onp.asarray(v)]


def _check(f, *args, scale=10.0, expected_dtype=None):
    """f(numpy) ~ f(s2s.numpy) eagerly, and jit ~ eager (values and dtypes)."""
    with warnings.catch_warnings(), onp.errstate(all="ignore"):
        warnings.simplefilter("ignore", DeprecationWarning)
        ref = f(onp, *args)
    with onp.errstate(all="ignore"):  # eager rules run NumPy, which may warn as NumPy does
        eager = f(snp, *args)
    staged = s2s.jit(lambda *a: f(snp, *a))(*args)
    for r, e, s in zip(_flat(ref), _flat(eager), _flat(staged)):
        dt = onp.dtype(expected_dtype) if expected_dtype else dtypes.canonicalize_dtype(r.dtype)
        tol = tolerance(dt, scale) if dt.kind in "fc" else 0
        assert e.dtype == dt, f"eager dtype {e.dtype} != {dt}"
        assert_close(e, r.astype(dt), rtol=tol, atol=tol, err_msg="eager vs numpy")
        assert_close(s, e, rtol=tol, atol=tol, err_msg="jit vs eager")


def _both(f, *args):
    """The exceptions ``f`` raises eagerly and under jit."""
    errors = []
    for g in (f, s2s.jit(f)):
        with pytest.raises(Exception) as info:
            g(*args)
        errors.append(info.value)
    return errors

# ---------------------------------------------------------------------------
# Products


PRODUCT_CONFIGS = {
    "dot": [((3,), (3,)), ((2, 3), (3,)), ((2, 3), (3, 4)), ((2, 3, 4), (5, 4, 2)), ((), (3,)),
            ((4,), (4, 2))],
    "vdot": [((3,), (3,)), ((2, 3), (6,)), ((2, 2), (2, 2))],
    "matmul": [((2, 3), (3, 4)), ((3,), (3, 4)), ((2, 3), (3,)), ((5, 2, 3), (3, 4)),
               ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)), ((2, 3), (5, 3, 4)),
               ((1, 1, 2, 3), (3, 4)), ((3,), (1, 2, 3, 4)), ((1, 2, 3), (2, 3, 4))],
    "inner": [((3,), (3,)), ((2, 3), (4, 3)), ((2, 2, 3), (3,)), ((), (2, 2))],
    "outer": [((3,), (4,)), ((2, 3), (2,)), ((), (2,))],
    "kron": [((2,), (3,)), ((2, 3), (2, 2)), ((2, 1, 2), (3, 2)), ((3,), (2, 2))],
    "cross": [((3,), (3,)), ((5, 3), (3,)), ((4, 3), (4, 2)), ((2, 3), (1, 3))],
}
PRODUCT_DTYPES = [(F32, F32), (I32, I32), (C64, C64), (I32, F32), (F64, F64)]
PRODUCT_CASES = [dict(fn=fn, config=i, **c) for fn, configs in PRODUCT_CONFIGS.items()
                 for i in range(len(configs))
                 for c in sample(f"{fn}-{i}", n=2, dtypes=PRODUCT_DTYPES)]


@pytest.mark.parametrize("case", PRODUCT_CASES, ids=case_id)
def test_products(case, request):
    _maybe_x64({"d": case["dtypes"][0]}, request)
    sa, sb = PRODUCT_CONFIGS[case["fn"]][case["config"]]
    if case["fn"] == "cross" and onp.dtype(case["dtypes"][0]).kind == "c":
        pytest.skip("complex cross is not interesting")
    a = rand(sa, case["dtypes"][0], rng)
    b = rand(sb, case["dtypes"][1], rng)
    _check(lambda xnp, a, b: getattr(xnp, case["fn"])(a, b), a, b)


TENSORDOT = [((3, 4, 5), (4, 5, 2), 2), ((3, 4), (4, 2), 1), ((2, 3), (4,), 0),
             ((3, 4, 5), (4, 3, 2), ([1, 0], [0, 1])), ((3, 4, 5), (5, 2), (2, 0)),
             ((2, 3), (3, 2), ((-1,), (-2,)))]


@pytest.mark.parametrize("config", range(len(TENSORDOT)))
def test_tensordot(config):
    sa, sb, axes = TENSORDOT[config]
    _check(lambda xnp, a, b: xnp.tensordot(a, b, axes=axes), rand(sa, F32, rng), rand(sb, F32, rng))


EINSUM = [
    ("ij,jk->ik", (2, 3), (3, 4)), ("ij,jk", (2, 3), (3, 4)), ("ii", (3, 3)), ("ii->i", (3, 3)),
    ("ij->", (2, 3)), ("ji", (2, 3)), ("...ij,...jk", (5, 2, 3), (3, 4)),
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)), ("ij,jk,kl->il", (2, 3), (3, 4), (4, 5)),
    ("i,i", (4,), (4,)), ("i,j->ij", (3,), (4,)), ("iij,jk", (3, 3, 4), (4, 2)),
    ("ij,ij->ij", (2, 1), (2, 4)), ("abc,cd,bd->a", (2, 3, 4), (4, 5), (3, 5)),
    ("Ba,aC", (2, 3), (3, 4)), ("...i,...i->...", (2, 3, 4), (3, 4)), ("ijk->kji", (2, 3, 4)),
    ("ij,kl->ijkl", (2, 2), (3, 3)), ("i,i,i->i", (3,), (3,), (3,)), ("ab,bc,cd,de->ae", (2, 3),
                                                                       (3, 4), (4, 5), (5, 2)),
]
EINSUM_CASES = sample("einsum", n=30, config=range(len(EINSUM)),
                      optimize=[True, False, "optimal", "greedy"], dtype=[F32, I32, C64])


@pytest.mark.parametrize("case", EINSUM_CASES, ids=case_id)
def test_einsum(case):
    sub, *shapes = EINSUM[case["config"]]
    ops = [rand(s, case["dtype"], rng) for s in shapes]
    _check(lambda xnp, *o: xnp.einsum(sub, *o, optimize=case["optimize"]), *ops)


def test_einsum_interleaved_and_path():
    a, b = rand((2, 3), F32, rng), rand((3, 4), F32, rng)
    _check(lambda xnp, a, b: xnp.einsum(a, [0, 1], b, [1, 2], [0, 2]), a, b)
    _check(lambda xnp, a, b: xnp.einsum(a, [Ellipsis, 1], b, [1, 2]), a, b)
    path = ["einsum_path", (0, 1)]
    _check(lambda xnp, a, b: xnp.einsum("ij,jk->ki", a, b, optimize=path), a, b)


def test_einsum_lowers_to_dot_general():
    ops = [onp.ones(s, F32) for s in ((2, 3), (3, 4), (4, 5))]
    text = s2s.jit(lambda *o: snp.einsum("ij,jk,kl->il", *o)).lower(*ops).as_text()
    assert text.count("stablehlo.dot_general") == 2


DIAG = [((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((3, 4), -2, 0, 1), ((3, 4), 5, 0, 1),
        ((2, 3, 4), 0, 1, 2), ((2, 3, 4), 1, 2, 0), ((2, 3, 4), -1, -1, -3), ((4, 4), 0, 1, 0)]


@pytest.mark.parametrize("config", range(len(DIAG)))
def test_diagonal_and_trace(config):
    shape, offset, a1, a2 = DIAG[config]
    x = rand(shape, I32, rng)
    _check(lambda xnp, x: xnp.diagonal(x, offset, a1, a2), x)
    _check(lambda xnp, x: xnp.trace(x, offset, a1, a2), x)
    _check(lambda xnp, x: xnp.trace(x, offset, a1, a2, dtype=onp.float32), x)


def test_cross_axes():
    a, b = rand((3, 2), F32, rng), rand((2, 3), F32, rng)
    _check(lambda xnp, a, b: xnp.cross(a, b, axisa=0, axisb=1, axisc=0), a, b)
    a, b = rand((3, 4), F32, rng), rand((3, 4), F32, rng)
    _check(lambda xnp, a, b: xnp.cross(a, b, axis=0), a, b)


def test_product_errors():
    for err in _both(lambda a, b: snp.dot(a, b), onp.ones((3, 4)), onp.ones(5)):
        assert isinstance(err, ShapeError)
        assert str(err).startswith("dot: shapes (3, 4) and (5,) not aligned")
    for err in _both(lambda a, b: snp.matmul(a, b), onp.ones((3, 4)), onp.ones((5, 2))):
        assert isinstance(err, ShapeError) and "matmul: shapes (3, 4) and (5, 2)" in str(err)
    for err in _both(lambda a, b: snp.matmul(a, b), onp.ones((2, 3, 4)), onp.ones((3, 4, 2))):
        assert isinstance(err, ShapeError) and "do not broadcast" in str(err)
    for err in _both(lambda a, b: snp.tensordot(a, b, axes=1), onp.ones((3, 4)), onp.ones((3,))):
        assert isinstance(err, ShapeError) and "tensordot: shape mismatch" in str(err)
    for err in _both(lambda a, b: snp.einsum("ij,jk", a, b), onp.ones((3, 4)), onp.ones((3, 2))):
        assert isinstance(err, ShapeError) and "einsum: size of label 'j'" in str(err)
    for err in _both(lambda a: snp.einsum("ijk", a), onp.ones((3, 4))):
        assert isinstance(err, ShapeError) and "einsum: operand 0 has 2 dimensions" in str(err)
    with pytest.raises(ValueError, match="einsum: subscripts 'ij,jk' name 2 operands"):
        snp.einsum("ij,jk", onp.ones((2, 2)))
    for err in _both(lambda a, b: snp.inner(a, b), onp.ones((3,)), onp.ones((4,))):
        assert isinstance(err, ShapeError) and "inner: shapes (3,) and (4,)" in str(err)
    for err in _both(lambda a: snp.diagonal(a), onp.ones(3)):
        assert isinstance(err, ShapeError) and "diagonal" in str(err)
    for err in _both(lambda a, b: snp.cross(a, b), onp.ones(4), onp.ones(3)):
        assert isinstance(err, ShapeError) and "cross" in str(err)
    with pytest.raises(NotImplementedError, match="dot: the out= argument"):
        snp.dot(onp.ones(2), onp.ones(2), out=onp.empty(()))

# ---------------------------------------------------------------------------
# numpy.linalg: functions with unique results


def _well_conditioned(shape, dtype):
    a = rand(shape, dtype, rng, low=-1, high=1)
    n = shape[-1]
    return (a + n * onp.eye(n)).astype(dtype) if shape[-1] == shape[-2] else a


def _spd(shape, dtype):
    a = rand(shape, dtype, rng, low=-1, high=1)
    h = a @ onp.conj(onp.swapaxes(a, -1, -2))
    return (h + shape[-1] * onp.eye(shape[-1])).astype(dtype)


SQUARE = [(1, 1), (3, 3), (2, 4, 4), (2, 1, 3, 3), (0, 2, 2), (5, 5)]
LINALG_DTYPES = [F32, C64, F64, I32]
UNIQUE_CASES = sample("linalg-unique", n=24, fn=["inv", "det", "slogdet", "cholesky", "eigvalsh",
                                                 "solve", "solve_vec", "matrix_power"],
                      shape=range(len(SQUARE)), dtype=LINALG_DTYPES)


def _unique_fn(name):
    fns = {
        "inv": lambda xnp, a: xnp.linalg.inv(a),
        "det": lambda xnp, a: xnp.linalg.det(a),
        "slogdet": lambda xnp, a: tuple(xnp.linalg.slogdet(a)),
        "cholesky": lambda xnp, a: xnp.linalg.cholesky(a),
        "eigvalsh": lambda xnp, a: xnp.linalg.eigvalsh(a),
        "solve": lambda xnp, a, b: xnp.linalg.solve(a, b),
        "solve_vec": lambda xnp, a, b: xnp.linalg.solve(a, b),
        "matrix_power": lambda xnp, a: xnp.linalg.matrix_power(a, 3),
    }
    return fns[name]


@pytest.mark.parametrize("case", UNIQUE_CASES, ids=case_id)
def test_linalg_unique(case, request):
    _maybe_x64(case, request)
    shape, dt, fn = SQUARE[case["shape"]], case["dtype"], case["fn"]
    a = _spd(shape, dt) if fn in ("cholesky", "eigvalsh") or dt == I32 else \
        _well_conditioned(shape, dt)
    args = [a]
    if fn == "solve":
        args.append(rand(shape[:-1] + (2,), dt, rng))
    elif fn == "solve_vec":
        args.append(rand(shape[-1:], dt, rng))
    if fn == "matrix_power" and dt == I32:
        args = [rand(shape, I32, rng, low=-2, high=2)]
    _check(_unique_fn(fn), *args, scale=50)


def test_cholesky_reads_one_triangle():
    a = onp.array([[4.0, 100.0], [2.0, 5.0]], F32)
    _check(lambda xnp, a: xnp.linalg.cholesky(a), a)
    _check(lambda xnp, a: xnp.linalg.cholesky(a, upper=True), a.T.copy())


def test_solve_broadcasts_batches():
    a = _well_conditioned((2, 1, 3, 3), F32)
    b = rand((4, 3, 2), F32, rng)
    _check(lambda xnp, a, b: xnp.linalg.solve(a, b), a, b, scale=50)


def test_matrix_power_negative_and_zero():
    a = _well_conditioned((2, 3, 3), F32)
    for n in (0, 1, -1, -3, 6):
        _check(lambda xnp, a: xnp.linalg.matrix_power(a, n), a, scale=200)


def test_det_of_singular_and_permuted():
    a = onp.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]], F32)
    _check(lambda xnp, a: xnp.linalg.det(a), a)
    s = onp.array([[1.0, 2.0], [2.0, 4.0]], F32)
    _check(lambda xnp, a: xnp.linalg.det(a), s)
    _check(lambda xnp, a: tuple(xnp.linalg.slogdet(a)), s)


NORM_CASES = sample("norm", n=30, kind=["vector", "matrix", "default"],
                    ord=[None, "fro", "nuc", onp.inf, -onp.inf, 0, 1, -1, 2, -2, 3, 0.5],
                    keepdims=[False, True], dtype=[F32, C64, I32])


@pytest.mark.parametrize("case", NORM_CASES, ids=case_id)
def test_norm(case):
    x = rand((2, 3, 4), case["dtype"], rng)
    ord_, kind = case["ord"], case["kind"]
    if kind == "vector":
        axis, ok = 1, not isinstance(ord_, str)
    elif kind == "matrix":
        axis, ok = (2, 0), ord_ in (None, "fro", "nuc", onp.inf, -onp.inf, 1, -1, 2, -2)
    else:
        axis, ok = None, ord_ is None
    f = lambda xnp, x: xnp.linalg.norm(x, ord=ord_, axis=axis, keepdims=case["keepdims"])
    if ok:
        _check(f, x, scale=20)
    else:
        with pytest.raises((ValueError, ShapeError)):
            f(snp, x)


def test_norm_2d_default_axes_and_array_api():
    x = rand((3, 4), F32, rng)
    for o in (None, "fro", "nuc", 1, -onp.inf, 2):
        _check(lambda xnp, x: xnp.linalg.norm(x, ord=o), x, scale=20)
    _check(lambda xnp, x: xnp.linalg.norm(x, ord=1), x[0])
    _check(lambda xnp, x: xnp.linalg.vector_norm(x, ord=3, axis=(0, 1)), x, scale=20)
    _check(lambda xnp, x: xnp.linalg.matrix_norm(x, ord=2, keepdims=True), x, scale=20)


def test_pinv_lstsq_rank():
    a = rand((5, 3), F32, rng)
    _check(lambda xnp, a: xnp.linalg.pinv(a), a, scale=50)
    _check(lambda xnp, a: xnp.linalg.pinv(a, rcond=1e-3), rand((2, 3, 4), F32, rng), scale=50)
    b = rand((5, 2), F32, rng)
    _check(lambda xnp, a, b: tuple(xnp.linalg.lstsq(a, b)), a, b, scale=50)
    _check(lambda xnp, a, b: tuple(xnp.linalg.lstsq(a, b)), a, b[:, 0], scale=50)
    _check(lambda xnp, a, b: tuple(xnp.linalg.lstsq(a, b)[:1] + xnp.linalg.lstsq(a, b)[2:]),
           a.T, b[:3], scale=50)
    low_rank = (rand((4, 2), F32, rng) @ rand((2, 5), F32, rng)).astype(F32)
    _check(lambda xnp, a: xnp.linalg.matrix_rank(a), low_rank)
    _check(lambda xnp, a: xnp.linalg.matrix_rank(a), onp.stack([low_rank, low_rank * 0]))
    _check(lambda xnp, a: xnp.linalg.matrix_rank(a, tol=0.5), a)


def test_multi_dot():
    shapes = [(4,), (4, 10), (10, 2), (2, 6), (6,)]
    arrays = [rand(s, F32, rng) for s in shapes]
    _check(lambda xnp, *xs: xnp.linalg.multi_dot(list(xs)), *arrays, scale=20)
    _check(lambda xnp, *xs: xnp.linalg.multi_dot(list(xs)), *[rand(s, F32, rng) for s in
                                                                ((3, 4), (4, 5), (5, 2))])


def test_array_api_aliases():
    x = rand((2, 3, 3), F32, rng)
    _check(lambda xnp, x: xnp.linalg.trace(x, offset=1), x)
    _check(lambda xnp, x: xnp.linalg.diagonal(x, offset=-1), x)
    _check(lambda xnp, x: xnp.linalg.matrix_transpose(x), x)
    _check(lambda xnp, x: xnp.linalg.vecdot(x, x, axis=1), x)
    _check(lambda xnp, x, y: xnp.linalg.cross(x, y), x, x[::-1].copy())
    _check(lambda xnp, x: xnp.linalg.svdvals(x), x)

# ---------------------------------------------------------------------------
# Decompositions: invariants


def _eye(n, dt):
    return onp.eye(n, dtype=dt)


def _assert_orthonormal(q, tol):
    qh = onp.conj(onp.swapaxes(q, -1, -2))
    assert_close(qh @ q, onp.broadcast_to(_eye(q.shape[-1], q.dtype), qh.shape[:-1] + q.shape[-1:]),
                 rtol=tol, atol=tol, check_dtype=False)


RECT = [(3, 3), (5, 3), (3, 5), (2, 4, 3), (2, 2, 3, 4), (1, 1), (0, 3), (2, 3, 0)]
DECOMP_CASES = sample("decomp", n=24, fn=["qr", "svd", "eigh", "lu"], shape=range(len(RECT)),
                      mode=[0, 1], dtype=[F32, C64, F64, C128])


def _run_both(f, *args):
    return f(*args), s2s.jit(f)(*args)


@pytest.mark.parametrize("case", DECOMP_CASES, ids=case_id)
def test_decompositions(case, request):
    _maybe_x64(case, request)
    shape, dt, mode = RECT[case["shape"]], case["dtype"], case["mode"]
    tol = tolerance(dt, 200)
    fn = case["fn"]
    if fn == "eigh":
        shape = shape[:-1] + (shape[-2],)
        a = _spd(shape, dt) if shape[-1] else onp.zeros(shape, dt)
        for w, v in _run_both(lambda a: snp.linalg.eigh(a, UPLO="LU"[mode]), a):
            assert w.dtype == dtypes.real_dtype(dt) and v.dtype == dt
            assert_close(w, onp.linalg.eigvalsh(a, UPLO="LU"[mode]).astype(w.dtype), rtol=tol,
                         atol=tol)
            assert_close(a @ v, v * w[..., None, :], rtol=tol, atol=tol * 10)
            _assert_orthonormal(v, tol)
        return
    a = rand(shape, dt, rng)
    if fn == "qr":
        qr_mode = ("reduced", "complete")[mode]
        for q, r in _run_both(lambda a: tuple(snp.linalg.qr(a, mode=qr_mode)), a):
            ref_q, ref_r = onp.linalg.qr(a, mode=qr_mode)
            assert q.shape == ref_q.shape and r.shape == ref_r.shape and q.dtype == dt
            assert_close(q @ r, a, rtol=tol, atol=tol)
            assert_close(r, onp.triu(r), rtol=0, atol=0)
            _assert_orthonormal(q, tol)
        r_only = snp.linalg.qr(a, mode="r")
        assert r_only.shape == onp.linalg.qr(a, mode="r").shape
    elif fn == "svd":
        full = bool(mode)
        for u, s, vh in _run_both(lambda a: tuple(snp.linalg.svd(a, full_matrices=full)), a):
            ref = onp.linalg.svd(a, full_matrices=full)
            assert (u.shape, s.shape, vh.shape) == (ref[0].shape, ref[1].shape, ref[2].shape)
            assert s.dtype == dtypes.real_dtype(dt) and u.dtype == dt
            assert_close(s, ref[1].astype(s.dtype), rtol=tol, atol=tol)
            k = s.shape[-1]
            assert_close((u[..., :k] * s[..., None, :]) @ vh[..., :k, :], a, rtol=tol, atol=tol)
            _assert_orthonormal(u, tol)
            _assert_orthonormal(onp.conj(onp.swapaxes(vh, -1, -2)), tol)
    else:
        for lu, piv, perm in _run_both(lambda a: lax_linalg.lu(a), a):
            m, n = shape[-2:]
            k = min(m, n)
            lower = onp.tril(lu[..., :, :k], -1) + _eye(m, dt)[:, :k]
            upper = onp.triu(lu[..., :k, :])
            permuted = onp.take_along_axis(a, perm[..., :, None].astype(onp.int64), axis=-2)
            assert piv.dtype == perm.dtype == I32 and piv.shape == shape[:-2] + (k,)
            assert_close(lower @ upper, permuted, rtol=tol, atol=tol)


def test_jit_emits_lapack_custom_calls():
    a = onp.eye(3, dtype=F32)
    cases = {
        "lapack_sgetrf_ffi": lambda a: snp.linalg.inv(a),
        "lapack_sgeqrf_ffi": lambda a: snp.linalg.qr(a),
        "lapack_sorgqr_ffi": lambda a: snp.linalg.qr(a),
        "lapack_sgesdd_ffi": lambda a: snp.linalg.svd(a),
        "lapack_ssyevd_ffi": lambda a: snp.linalg.eigh(a),
        "stablehlo.cholesky": lambda a: snp.linalg.cholesky(a),
        "stablehlo.triangular_solve": lambda a: snp.linalg.solve(a, a),
    }
    for target, f in cases.items():
        assert target in s2s.jit(f).lower(a).as_text(), target


def test_not_positive_definite_and_singular_give_nan_not_errors():
    a = onp.array([[[1.0, 2.0], [2.0, 1.0]], [[2.0, 0.0], [0.0, 3.0]]], F32)
    for out in _run_both(lambda a: snp.linalg.cholesky(a), a):
        assert onp.isnan(out[0]).all() and onp.allclose(out[1], onp.sqrt(onp.diag([2.0, 3.0])))
    singular = onp.array([[1.0, 2.0], [2.0, 4.0]], F32)
    for out in _run_both(lambda a: snp.linalg.inv(a), singular):
        assert not onp.isfinite(out).all()


def test_lax_triangular_solve():
    a = onp.tril(rand((2, 4, 4), F32, rng)) + 4 * onp.eye(4, dtype=F32)
    b = rand((2, 4, 3), F32, rng)
    for left in (True, False):
        for trans in (False, True):
            bb = b if left else onp.swapaxes(b, -1, -2)
            for x in _run_both(lambda a, b: lax_linalg.triangular_solve(
                    a, b, left_side=left, lower=True, transpose_a=trans), a, bb):
                op = onp.swapaxes(a, -1, -2) if trans else a
                got = op @ x if left else x @ op
                assert_close(got, bb, rtol=1e-4, atol=1e-4)

# ---------------------------------------------------------------------------
# Errors


def test_linalg_errors():
    for err in _both(lambda a: snp.linalg.inv(a), onp.ones((3, 4))):
        assert isinstance(err, ShapeError)
        assert "inv: last 2 dimensions of the array must be square" in str(err)
    for err in _both(lambda a: snp.linalg.det(a), onp.ones(3)):
        assert isinstance(err, ShapeError) and "det: 1-dimensional array given" in str(err)
    for err in _both(lambda a, b: snp.linalg.solve(a, b), onp.eye(3), onp.ones(4)):
        assert isinstance(err, ShapeError) and "solve: shapes (3, 3) and (4,)" in str(err)
    for err in _both(lambda a: snp.linalg.svd(a), onp.ones((2, 2), F16)):
        assert isinstance(err, DtypeError) and "float16" in str(err)
    for err in _both(lambda a: lax_linalg.cholesky(a), onp.ones((2, 2), I32)):
        assert isinstance(err, DtypeError) and "cholesky" in str(err)
    for err in _both(lambda a: lax_linalg.eigh(a), onp.ones((2, 3), F32)):
        assert isinstance(err, ShapeError) and "eigh" in str(err)
    with pytest.raises(ValueError, match="invalid norm order 'fro' for vectors"):
        snp.linalg.norm(onp.ones(3), ord="fro")
    with pytest.raises(ValueError, match="invalid norm order 3"):
        snp.linalg.norm(onp.ones((3, 3)), ord=3)
    with pytest.raises(NotImplementedError, match="qr: mode 'raw'"):
        snp.linalg.qr(onp.eye(2), mode="raw")
    with pytest.raises(ShapeError, match="lstsq"):
        snp.linalg.lstsq(onp.ones((3, 2)), onp.ones(4))
