"""Tests of ``s2s.lax.linalg_ops``: ``dot_general`` and ``conv_general_dilated``.

``impl`` is checked against ``np.einsum`` and a plain-loop convolution, ``s2s.jit``
of the wrappers against the eager results (values and dtypes), misuse against
``ShapeError``/``DtypeError`` naming the op (eagerly and under jit), and, when
``jax`` is importable, a few cases against ``jax.lax``.
"""
import itertools
import time

import numpy as np
import pytest

import s2s
from s2s import dtypes, lax
from s2s.errors import DtypeError, ShapeError
from cases import assert_close, case_id, rand, sample, tolerance

F32, F64, I32, I8, C64, BOOL, F16 = (np.dtype(t) for t in (
    np.float32, np.float64, np.int32, np.int8, np.complex64, np.bool_, np.float16))


@pytest.fixture
def x64():
    """Turns 64-bit mode on for one test and restores the previous setting."""
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    yield
    s2s.config.update("enable_x64", old)


def _close(actual, expected, scale=1.0):
    dt = np.asarray(expected).dtype
    tol = tolerance(dt, scale)
    assert_close(actual, expected, rtol=tol, atol=tol)


# ---------------------------------------------------------------------------
# dot_general

DOT_CONFIGS = [
    ((3, 4), (4, 5), (((1,), (0,)), ((), ()))),
    ((4,), (4,), (((0,), (0,)), ((), ()))),
    ((3,), (5,), (((), ()), ((), ()))),
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),
    ((5, 2, 3, 4), (4, 3, 2, 6), (((3, 2), (0, 1)), ((1,), (2,)))),
    ((3, 4), (5, 4), (((-1,), (-1,)), ((), ()))),
    ((2, 0, 3), (2, 3, 4), (((2,), (1,)), ((0,), (0,)))),
    ((3, 0), (0, 2), (((1,), (0,)), ((), ()))),
    ((6, 2, 7), (2, 7, 3, 6), (((1, 2), (0, 1)), ((0,), (3,)))),
]
DOT_DTYPES = [(F32, F32), (I32, I32), (C64, C64), (I32, F32), (BOOL, BOOL), (F64, F64),
              (F32, F64), (BOOL, I32)]
DOT_CASES = sample("dot_general", config=range(len(DOT_CONFIGS)), dtypes=DOT_DTYPES, n=16)


def _dot_inputs(case):
    ls, rs, dn = DOT_CONFIGS[case["config"]]
    rng = np.random.default_rng(case["config"])
    a, b = case["dtypes"]
    return rand(ls, a, rng), rand(rs, b, rng), dn


def _ref_dot(lhs, rhs, dn, out_dtype):
    """``np.einsum`` with subscripts spelled out from the dimension numbers."""
    (lc, rc), (lb, rb) = dn
    lc, rc, lb, rb = ([d % n for d in ds] for ds, n in
                      ((lc, lhs.ndim), (rc, rhs.ndim), (lb, lhs.ndim), (rb, rhs.ndim)))
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ls = [next(letters) for _ in range(lhs.ndim)]
    rs = [None] * rhs.ndim
    for i, j in zip(lc + lb, rc + rb):
        rs[j] = ls[i]
    rs = [r or next(letters) for r in rs]
    out = ([ls[i] for i in lb] + [ls[i] for i in range(lhs.ndim) if i not in lc + lb]
           + [rs[j] for j in range(rhs.ndim) if j not in rc + rb])
    spec = f"{''.join(ls)},{''.join(rs)}->{''.join(out)}"
    return np.einsum(spec, lhs.astype(out_dtype), rhs.astype(out_dtype))


def _mode(case, request):
    if F64 in case.get("dtypes", ()) or case.get("dtype") == F64:
        request.getfixturevalue("x64")


@pytest.mark.parametrize("case", DOT_CASES, ids=case_id)
def test_dot_general_matches_einsum(case, request):
    _mode(case, request)
    lhs, rhs, dn = _dot_inputs(case)
    out = lax.dot_general(lhs, rhs, dimension_numbers=dn)
    expected_dtype = dtypes.result_type(lhs, rhs)
    assert out.dtype == expected_dtype
    _close(out, _ref_dot(lhs, rhs, dn, expected_dtype), scale=20)


@pytest.mark.parametrize("case", DOT_CASES, ids=case_id)
def test_dot_general_jit_matches_eager(case, request):
    _mode(case, request)
    lhs, rhs, dn = _dot_inputs(case)

    def f(a, b):
        return lax.dot_general(a, b, dimension_numbers=dn)
    _close(s2s.jit(f)(lhs, rhs), f(lhs, rhs), scale=20)


@pytest.mark.parametrize("lhs_dtype,preferred", [(I8, I32), (I32, F32), (F16, F32), (I32, None),
                                                  (BOOL, None)])
def test_dot_general_preferred_element_type(lhs_dtype, preferred):
    rng = np.random.default_rng(0)
    a, b = rand((3, 4), lhs_dtype, rng), rand((4, 2), lhs_dtype, rng)

    def f(x, y):
        return lax.dot_general(x, y, dimension_numbers=(((1,), (0,)), ((), ())),
                               preferred_element_type=preferred)
    out = f(a, b)
    want = np.dtype(preferred or lhs_dtype)
    assert out.dtype == want
    _close(out, _ref_dot(a, b, (((1,), (0,)), ((), ())), want), scale=20)
    _close(s2s.jit(f)(a, b), out, scale=20)


def test_dot_general_precision_is_lowered():
    a = np.ones((2, 3), np.float32)
    f = s2s.jit(lambda x: lax.dot_general(x, x, dimension_numbers=(((1,), (1,)), ((), ())),
                                          precision="highest"))
    assert "HIGHEST" in f.lower(a).as_text()
    _close(f(a), np.full((2, 2), 3.0, np.float32))


def test_dot_general_weak_scalars_take_array_dtype():
    out = lax.dot_general(np.ones(3, np.float32), np.ones(3, np.int32),
                          dimension_numbers=(((0,), (0,)), ((), ())))
    assert out.dtype == F32 and out == 3.0


# ---------------------------------------------------------------------------
# conv_general_dilated

CONV_CONFIGS = [
    dict(ls=(2, 3, 9, 9), rs=(4, 3, 3, 3), window_strides=(1, 1), padding="SAME"),
    dict(ls=(2, 3, 9, 8), rs=(4, 3, 3, 2), window_strides=(2, 1), padding="VALID",
         rhs_dilation=(2, 1)),
    dict(ls=(2, 9, 8, 6), rs=(3, 2, 6, 4), window_strides=(2, 3), padding=((1, 2), (0, -1)),
         lhs_dilation=(2, 1), dimension_numbers=("NHWC", "HWIO", "NHWC")),
    dict(ls=(2, 6, 7, 5), rs=(4, 3, 2, 2), window_strides=(1, 2), padding="SAME",
         feature_group_count=2),
    dict(ls=(4, 3, 7, 5), rs=(6, 3, 2, 2), window_strides=(1, 1), padding="VALID",
         batch_group_count=2),
    dict(ls=(2, 7, 5, 3), rs=(3, 4, 2, 3), window_strides=(1, 1), padding="SAME",
         dimension_numbers=("NWHC", "OHWI", "CNHW")),
    dict(ls=(2, 3, 6, 5, 4), rs=(2, 3, 2, 3, 4), window_strides=(1, 2, 1), padding="SAME",
         dimension_numbers=("NCDHW", "DHWIO", "NDHWC")),
    dict(ls=(2, 3, 10), rs=(4, 3, 3), window_strides=(2,), padding=((2, 1),), lhs_dilation=(3,),
         rhs_dilation=(2,)),
    dict(ls=(1, 2, 6, 6), rs=(2, 2, 3, 3), window_strides=(2, 2), padding="SAME_LOWER"),
    dict(ls=(1, 1, 2, 2), rs=(1, 1, 3, 3), window_strides=(1, 1), padding="VALID"),
    dict(ls=(2, 4, 6, 6), rs=(8, 1, 3, 3), window_strides=(1, 1), padding=((1, 1), (1, 1)),
         feature_group_count=4),
]
CONV_CASES = sample("conv", config=range(len(CONV_CONFIGS)),
                    dtypes=[(F32, F32), (I32, I32), (C64, C64), (F64, F64), (I32, F32)], n=18)


def _conv_inputs(case):
    cfg = dict(CONV_CONFIGS[case["config"]])
    ls, rs = cfg.pop("ls"), cfg.pop("rs")
    rng = np.random.default_rng(case["config"])
    a, b = case["dtypes"]
    return rand(ls, a, rng, -2.0, 2.0), rand(rs, b, rng, -2.0, 2.0), cfg


def _ref_conv_nc(x, w, strides, padding, lhs_dil, rhs_dil, G, B):
    """Plain loops in the (N, C, spatial...) x (O, I, spatial...) layout."""
    n, c = x.shape[:2]
    o, i = w.shape[:2]
    if B > 1:
        return np.concatenate([_ref_conv_nc(x[g * n // B:(g + 1) * n // B],
                                            w[g * o // B:(g + 1) * o // B],
                                            strides, padding, lhs_dil, rhs_dil, 1, 1)
                               for g in range(B)], axis=1)
    if G > 1:
        return np.concatenate([_ref_conv_nc(x[:, g * i:(g + 1) * i],
                                            w[g * o // G:(g + 1) * o // G],
                                            strides, padding, lhs_dil, rhs_dil, 1, 1)
                               for g in range(G)], axis=1)
    sp = x.shape[2:]
    dil = np.zeros((n, c) + tuple((d - 1) * l + 1 for d, l in zip(sp, lhs_dil)), x.dtype)
    dil[(slice(None), slice(None)) + tuple(slice(None, None, l) for l in lhs_dil)] = x
    pos = np.pad(dil, [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding])
    padded = pos[(slice(None), slice(None)) + tuple(
        slice(max(-lo, 0), pos.shape[2 + j] - max(-hi, 0)) for j, (lo, hi) in enumerate(padding))]
    ks = w.shape[2:]
    out_sp = [max(0, (p - ((k - 1) * r + 1)) // s + 1)
              for p, k, r, s in zip(padded.shape[2:], ks, rhs_dil, strides)]
    out = np.zeros((n, o) + tuple(out_sp), x.dtype)
    for p in itertools.product(*map(range, out_sp)):
        for k in itertools.product(*map(range, ks)):
            idx = tuple(pi * s + ki * r for pi, ki, s, r in zip(p, k, strides, rhs_dil))
            out[(slice(None), slice(None)) + p] += (
                padded[(slice(None), slice(None)) + idx] @ w[(slice(None), slice(None)) + k].T)
    return out


def _ref_conv(x, w, *, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
              dimension_numbers=None, feature_group_count=1, batch_group_count=1):
    """The loop reference, after moving the layouts to (N, C, ...) with ``np.einsum``."""
    nsp = x.ndim - 2
    if dimension_numbers is None:
        sp = "".join("hijk"[:nsp])
        dimension_numbers = ("NC" + sp, "OI" + sp, "NC" + sp)
    lhs_s, rhs_s, out_s = dimension_numbers
    sp = "".join(ch for ch in rhs_s if ch not in "OI")
    out_dtype = dtypes.result_type(x, w)
    xc = np.einsum(f"{lhs_s}->NC{sp}", x).astype(out_dtype)
    wc = np.einsum(f"{rhs_s}->OI{sp}", w).astype(out_dtype)
    ws = [wc.shape[2 + j] for j in range(nsp)]
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(
            xc.shape[2:], [(k - 1) * r + 1 for k, r in zip(ws, rhs_dilation or (1,) * nsp)],
            window_strides, padding)
    out = _ref_conv_nc(xc, wc, window_strides, padding, lhs_dilation or (1,) * nsp,
                       rhs_dilation or (1,) * nsp, feature_group_count, batch_group_count)
    return np.einsum(f"NC{sp}->{out_s}", out)


@pytest.mark.parametrize("case", CONV_CASES, ids=case_id)
def test_conv_matches_loop_reference(case, request):
    _mode(case, request)
    x, w, cfg = _conv_inputs(case)
    out = lax.conv_general_dilated(x, w, **cfg)
    _close(out, _ref_conv(x, w, **cfg), scale=50)


@pytest.mark.parametrize("case", CONV_CASES, ids=case_id)
def test_conv_jit_matches_eager(case, request):
    _mode(case, request)
    x, w, cfg = _conv_inputs(case)

    def f(a, b):
        return lax.conv_general_dilated(a, b, **cfg)
    _close(s2s.jit(f)(x, w), f(x, w), scale=50)


def test_conv_mnist_sized_is_fast_and_right():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 28, 28, 1)).astype(np.float32)
    w = rng.standard_normal((5, 5, 1, 8)).astype(np.float32)
    kw = dict(window_strides=(1, 1), padding="SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    start = time.perf_counter()
    out = lax.conv_general_dilated(x, w, **kw)
    assert time.perf_counter() - start < 1.0
    assert out.shape == (16, 28, 28, 8)
    _close(s2s.jit(lambda a, b: lax.conv_general_dilated(a, b, **kw))(x, w), out, scale=50)
    _close(out[:2], _ref_conv(x[:2], w, **kw), scale=50)


def test_conv_preferred_element_type_and_precision():
    x = np.ones((1, 2, 4, 4), np.int8)
    w = np.ones((3, 2, 2, 2), np.int8)

    def f(a, b):
        return lax.conv_general_dilated(a, b, window_strides=(1, 1), padding="VALID",
                                        preferred_element_type=np.int32, precision="highest")
    out = f(x, w)
    assert out.dtype == I32 and np.all(out == 8)
    _close(s2s.jit(f)(x, w), out)
    assert "HIGHEST" in s2s.jit(f).lower(x, w).as_text()


# ---------------------------------------------------------------------------
# Errors

_A = np.ones((3, 4), np.float32)
_X = np.ones((2, 3, 5, 5), np.float32)
_W = np.ones((4, 3, 2, 2), np.float32)


def _conv(**kw):
    kw.setdefault("window_strides", (1, 1))
    kw.setdefault("padding", "VALID")
    return lambda x, w: lax.conv_general_dilated(x, w, **kw)


def _dot(dn, **kw):
    return lambda a, b: lax.dot_general(a, b, dimension_numbers=dn, **kw)


ERROR_CASES = [
    ("dot_general", _dot((((1,), (0,)), ((), ()))), [_A, np.ones(5, np.float32)], ShapeError,
     r"^dot_general: contracting dimensions of lhs \(3, 4\) and rhs \(5,\) do not match: 4 != 5"),
    ("dot_general", _dot((((2,), (0,)), ((), ()))), [_A, _A], ShapeError, "out of bounds"),
    ("dot_general", _dot((((1,), (0, 1)), ((), ()))), [_A, _A.T], ShapeError,
     "same number of contracting"),
    ("dot_general", _dot((((2,), (1,)), ((0,), (0,)))),
     [np.ones((2, 3, 4), np.float32), np.ones((3, 4, 5), np.float32)], ShapeError,
     r"batch dimensions of lhs \(2, 3, 4\) and rhs \(3, 4, 5\) do not match: 2 != 3"),
    ("dot_general", _dot((((1,), (1,)), ((1,), (0,)))), [_A, _A], ShapeError, "distinct"),
    ("dot_general", _dot((((1,), (0,)), ((), ())), preferred_element_type=np.int32),
     [_A, _A.T], DtypeError, "incompatible"),
    ("dot_general", _dot((((1,), (0,)), ((), ())), preferred_element_type=np.int8),
     [_A.astype(np.int32), _A.T.astype(np.int32)], DtypeError, "narrower"),
    ("dot_general", _dot((((1,), (0,)), ((), ())), precision="ultra"), [_A, _A.T], ValueError,
     "precision"),
    ("conv_general_dilated", _conv(), [_X, np.ones((4, 3, 2), np.float32)], ShapeError,
     "same number of dimensions"),
    ("conv_general_dilated", _conv(), [_X, np.ones((4, 2, 2, 2), np.float32)], ShapeError,
     r"3 // 1 != 2"),
    ("conv_general_dilated", _conv(feature_group_count=2), [_X, _W], ShapeError,
     "feature_group_count 2 must divide"),
    ("conv_general_dilated", _conv(batch_group_count=3), [_X, np.ones((3, 3, 2, 2), np.float32)],
     ShapeError, "batch_group_count 3 must divide"),
    ("conv_general_dilated", _conv(window_strides=(1,)), [_X, _W], ShapeError, "window_strides"),
    ("conv_general_dilated", _conv(window_strides=(0, 1)), [_X, _W], ShapeError,
     "must be positive"),
    ("conv_general_dilated", _conv(padding=((-4, -3), (0, 0))), [_X, _W], ShapeError,
     "negative padding"),
    ("conv_general_dilated", _conv(dimension_numbers=("NHWC", "HWIO", "NHW")), [_X, _W],
     ShapeError, "one letter per dimension"),
    ("conv_general_dilated", _conv(dimension_numbers=("NHWC", "HWXO", "NHWC")), [_X, _W],
     ShapeError, "exactly once"),
    ("conv_general_dilated", _conv(), [_X > 0, _W > 0], DtypeError, "bool"),
    ("conv_general_dilated", _conv(padding="FULL"), [_X, _W], ValueError, "padding"),
]


@pytest.mark.parametrize("case", ERROR_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(ERROR_CASES)])
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_errors_name_the_op(case, mode):
    name, f, args, exc, pattern = case
    fn = f if mode == "eager" else s2s.jit(f)
    with pytest.raises(exc, match=pattern) as info:
        fn(*args)
    assert name in str(info.value)


# ---------------------------------------------------------------------------
# Agreement with jax.lax (when jax is installed).

JAX_CONV = [0, 2, 3, 4, 6, 7, 10]


def test_agrees_with_jax():
    jax = pytest.importorskip("jax")
    jl = jax.lax
    for i in JAX_CONV:
        x, w, cfg = _conv_inputs({"config": i, "dtypes": (F32, F32)})
        ref = np.asarray(jl.conv_general_dilated(x, w, precision="highest", **cfg))
        _close(lax.conv_general_dilated(x, w, **cfg), ref, scale=50)
        _close(s2s.jit(lambda a, b: lax.conv_general_dilated(a, b, **cfg))(x, w), ref, scale=50)
    for i in (0, 3, 4, 8):
        lhs, rhs, dn = _dot_inputs({"config": i, "dtypes": (F32, F32)})
        dn = tuple(tuple(tuple(d % n for d in ds) for ds, n in zip(pair, (lhs.ndim, rhs.ndim)))
                   for pair in dn)
        ref = np.asarray(jl.dot_general(lhs, rhs, dn, precision="highest"))
        _close(lax.dot_general(lhs, rhs, dimension_numbers=dn), ref, scale=20)
        _close(s2s.jit(lambda a, b: lax.dot_general(a, b, dimension_numbers=dn))(lhs, rhs), ref,
               scale=20)
    a = np.arange(12, dtype=np.int8).reshape(3, 4)
    ref = jl.dot_general(a, a.T, (((1,), (0,)), ((), ())), preferred_element_type=np.int32)
    out = lax.dot_general(a, a.T, dimension_numbers=(((1,), (0,)), ((), ())),
                          preferred_element_type=np.int32)
    assert out.dtype == np.asarray(ref).dtype
    np.testing.assert_array_equal(out, np.asarray(ref))


@pytest.mark.parametrize("shape,full", [((4, 3), False), ((3, 4), True), ((2, 3, 3), True)])
def test_svd_returns_u_s_vt_like_jax(shape, full, x64):
    """lax.linalg.svd returns (u, s, vt), as jax.lax.linalg.svd and numpy.linalg.svd do;
    it returned (s, u, vt), which a port of JAX code could read silently wrong
    (``(u * s) @ vt`` broadcasts for square matrices)."""
    a = np.random.RandomState(0).normal(size=shape)
    for svd in (lax.linalg.svd, s2s.jit(lambda x: lax.linalg.svd(x, full_matrices=full))):
        u, s, vt = svd(a) if svd is not lax.linalg.svd else svd(a, full_matrices=full)
        k = min(shape[-2:])
        assert s.shape == shape[:-2] + (k,)
        np.testing.assert_allclose((u[..., :k] * s[..., None, :]) @ vt[..., :k, :], a, atol=1e-10)
    jax = pytest.importorskip("jax")
    ref = jax.lax.linalg.svd(a, full_matrices=full)
    assert [np.shape(r) for r in ref] == [np.shape(r) for r in (u, s, vt)]
