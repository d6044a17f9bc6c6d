"""``s2s.numpy.linalg``: NumPy's linear algebra on ``s2s.lax.linalg``.

Every function takes a matrix or a batch of matrices in the last two axes (batch
dimensions broadcast like NumPy's). Integer and bool inputs compute in the default
float dtype; float16 is rejected. Eagerly the hot functions (``inv``, ``solve``,
``det``, ``slogdet``, ``cholesky``, ``qr``, ``svd``, ``eigh``, ``eigvalsh``, ``norm``)
run NumPy itself; under ``jit`` they lower to LU/QR/SVD/eigh LAPACK kernels and to
StableHLO's ``cholesky`` and ``triangular_solve``.

Unlike NumPy, nothing raises ``LinAlgError`` for numerically bad input (it could not
under ``jit``): ``cholesky`` of a matrix that is not positive definite is NaN,
``inv``/``solve`` of a singular matrix give infinities or NaN, eagerly and under
``jit`` alike. ``pinv`` and ``matrix_rank`` cut off singular values below
``10 * max(M, N) * eps`` times the largest by default (``jax.numpy``'s choice).

>>> import numpy as onp
>>> import s2s.numpy as np
>>> np.linalg.det(onp.array([[1.0, 2.0], [3.0, 4.0]]))
array(-2., dtype=float32)
"""
import collections
import functools
import math

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.primitive import primitive_wrapper
from s2s.core.errors import ShapeError
from s2s.lax import linalg as lax_linalg
from s2s.lax.shapes import broadcast_shapes
from s2s.numpy import _internal as I
from s2s.numpy import _linalg_basic as _basic
from s2s.numpy import _reductions as _red
from s2s.numpy._primitive import numpy_primitive

LinAlgError = onp.linalg.LinAlgError

__all__ = [
    "LinAlgError", "norm", "vector_norm", "matrix_norm", "inv", "solve", "det", "slogdet",
    "cholesky", "qr", "svd", "svdvals", "eigh", "eigvalsh", "pinv", "matrix_power", "lstsq",
    "matrix_rank", "multi_dot", "matmul", "tensordot", "outer", "trace", "diagonal", "cross",
    "matrix_transpose", "vecdot", "SlogdetResult", "EighResult", "QRResult", "SVDResult",
]

SlogdetResult = collections.namedtuple("SlogdetResult", ["sign", "logabsdet"])
EighResult = collections.namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = collections.namedtuple("QRResult", ["Q", "R"])
SVDResult = collections.namedtuple("SVDResult", ["U", "S", "Vh"])

# ---------------------------------------------------------------------------
# Shared helpers.


def _linalg_dtype(name, *xs):
    return I.check_linalg_dtype(name, dtypes.result_type(*xs))


def _as_linalg(name, *xs):
    """``xs`` as arrays of their common LAPACK dtype."""
    xs = [I.asarray(x) for x in xs]
    dt = _linalg_dtype(name, *xs)
    return [I.astype(x, dt) for x in xs]


def _matrices(name, a, square=True):
    s = I.shape(a)
    if len(s) < 2:
        raise ShapeError(f"{name}: {len(s)}-dimensional array given; array must be at least "
                         "two-dimensional")
    if square and s[-1] != s[-2]:
        raise ShapeError(f"{name}: last 2 dimensions of the array must be square, got shape {s}")
    return s


def _np_impl(name, np_fn, n_arrays=1):
    """An eager rule calling ``np_fn`` on inputs cast to the LAPACK dtype s2s computes in."""
    def impl(*args, **params):
        arrays = [onp.asarray(a) for a in args[:n_arrays]]
        dt = I.check_linalg_dtype(name, dtypes.result_type(*arrays))
        return np_fn(*[a.astype(dt, copy=False) for a in arrays], *args[n_arrays:], **params)
    return impl


def _or_composite(np_fn, composite):
    """``np_fn``, falling back to ``composite`` (evaluated eagerly) where NumPy raises
    ``LinAlgError``, so eager results match ``jit`` (NaN or inf, no exception)."""
    @functools.wraps(np_fn)
    def impl(*args, **params):
        try:
            return np_fn(*args, **params)
        except onp.linalg.LinAlgError:
            return composite(*args, **params)
    return impl


def _eye_like(n, batch, dt):
    eye = onp.eye(n, dtype=dt)
    return lax.broadcast_in_dim(eye, shape=tuple(batch) + (n, n),
                                broadcast_dimensions=(len(batch), len(batch) + 1))


def _bdiag(x):
    """The main diagonals of a batch of matrices (last two axes)."""
    return _basic.diagonal(x, 0, -2, -1)


def _lu_solve(lu, perm, b):
    """Solves ``a x = b`` from ``lu(a)`` for a batch of matrices ``b`` (..., m, k)."""
    n = I.shape(lu)[-1]
    batch = I.shape(b)[:-2]
    cols = lax.broadcasted_iota(dtype=dtypes.int32, shape=batch + (n, n), dimension=len(batch) + 1)
    rows = lax.broadcast_in_dim(perm, shape=batch + (n, n),
                                broadcast_dimensions=tuple(range(len(batch) + 1)))
    p = I.astype(lax.eq(rows, cols), I.dtype(b))
    pb = _basic.matmul(p, b)
    y = lax_linalg.triangular_solve(lu, pb, left_side=True, lower=True, unit_diagonal=True)
    return lax_linalg.triangular_solve(lu, y, left_side=True, lower=False)


def _broadcast_batch(name, a, b, core_a, core_b):
    """``a`` and ``b`` broadcast to their common batch shape (leading axes)."""
    sa, sb = I.shape(a), I.shape(b)
    try:
        batch = broadcast_shapes(name, sa[:len(sa) - core_a], sb[:len(sb) - core_b])
    except ShapeError:
        raise ShapeError(f"{name}: batch dimensions of shapes {sa} and {sb} do not broadcast") \
            from None
    return (I.broadcast_to(a, batch + sa[len(sa) - core_a:]),
            I.broadcast_to(b, batch + sb[len(sb) - core_b:]))


def _swapH(x):
    return I.conj(I.swap_last(x))

# ---------------------------------------------------------------------------
# solve, inv


def _solve_composite(a, b):
    a, b = _as_linalg("solve", a, b)
    sa = _matrices("solve", a)
    sb = I.shape(b)
    vector = len(sb) == 1
    if vector:
        b = I.expand(b, -1)
    elif len(sb) < 2:
        raise ShapeError(f"solve: b must be a vector (M,) or a batch of matrices (..., M, K), "
                         f"got shape {sb}")
    if I.shape(b)[-2] != sa[-1]:
        raise ShapeError(f"solve: shapes {sa} and {sb} are not aligned: a is {sa[-2]} x "
                         f"{sa[-1]} but b has {I.shape(b)[-2]} rows")
    if vector:
        b = I.broadcast_to(b, sa[:-2] + I.shape(b))
    a, b = _broadcast_batch("solve", a, b, 2, 2)
    lu, _, perm = lax_linalg.lu(a)
    x = _lu_solve(lu, perm, b)
    return lax.squeeze(x, dimensions=(I.ndim(x) - 1,)) if vector else x


solve_p = numpy_primitive("linalg.solve", _or_composite(
    _np_impl("solve", onp.linalg.solve, 2), _solve_composite), _solve_composite)


@primitive_wrapper(solve_p)
def solve(a, b):
    """Solves ``a @ x = b``; ``b`` is a vector (M,) or a batch of matrices (..., M, K).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.solve(onp.array([[2.0, 0.0], [0.0, 4.0]]), onp.array([2.0, 2.0]))
    array([1. , 0.5], dtype=float32)
    """
    return solve_p.bind(a, b)




def _inv_composite(a):
    (a,) = _as_linalg("inv", a)
    s = _matrices("inv", a)
    lu, _, perm = lax_linalg.lu(a)
    return _lu_solve(lu, perm, _eye_like(s[-1], s[:-2], I.dtype(a)))


inv_p = numpy_primitive("linalg.inv", _or_composite(_np_impl("inv", onp.linalg.inv),
                                                    _inv_composite), _inv_composite)


@primitive_wrapper(inv_p)
def inv(a):
    """Inverse of a (batch of) square matrix; singular input gives inf/NaN.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.inv(onp.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]], dtype=float32)
    """
    return inv_p.bind(a)



# ---------------------------------------------------------------------------
# det, slogdet


def _lu_parts(name, a):
    (a,) = _as_linalg(name, a)
    _matrices(name, a)
    lu, piv, _ = lax_linalg.lu(a)
    swaps = lax.ne(piv, lax.broadcasted_iota(dtype=dtypes.int32, shape=I.shape(piv), dimension=I.ndim(piv) - 1))
    odd = lax.rem(_red.sum(swaps, axis=-1, dtype=dtypes.int32), onp.int32(2))
    parity = I.where(lax.eq(odd, onp.int32(1)), -1, 1)
    return _bdiag(lu), I.astype(parity, I.dtype(a))


def _det_composite(a):
    diag, parity = _lu_parts("det", a)
    return lax.mul(parity, lax.reduce_prod(diag, axes=(I.ndim(diag) - 1,)))


det_p = numpy_primitive("linalg.det", _np_impl("det", onp.linalg.det), _det_composite)


@primitive_wrapper(det_p)
def det(a):
    """Determinant of a (batch of) square matrix, from its LU decomposition.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.det(onp.array([[1.0, 2.0], [3.0, 4.0]]))
    array(-2., dtype=float32)
    """
    return det_p.bind(a)




def _slogdet_composite(a):
    diag, parity = _lu_parts("slogdet", a)
    last = (I.ndim(diag) - 1,)
    mag = lax.abs(diag)
    logabs = lax.reduce_sum(lax.log(mag), axes=last)
    rdt = I.dtype(mag)
    if dtypes.is_complex(I.dtype(diag)):
        unit = lax.div(diag, I.astype(I.where(lax.eq(mag, onp.zeros((), rdt)), 1, mag),
                                      I.dtype(diag)))
    else:
        unit = lax.sign(diag)
    sign = lax.mul(parity, lax.reduce_prod(unit, axes=last))
    return [sign, logabs]


def _slogdet_impl(a):
    return tuple(_np_impl("slogdet", onp.linalg.slogdet)(a))


slogdet_p = numpy_primitive("linalg.slogdet", _slogdet_impl, _slogdet_composite,
                            multiple_results=True)


@primitive_wrapper(slogdet_p)
def slogdet(a):
    """Sign and natural log of the absolute determinant: ``(sign, logabsdet)``.

    A singular matrix gives sign 0 and ``logabsdet`` of ``-inf``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.slogdet(onp.array([[1.0, 2.0], [3.0, 4.0]])).sign
    array(-1., dtype=float32)
    """
    return SlogdetResult(*slogdet_p.bind(a))



# ---------------------------------------------------------------------------
# cholesky, qr, eigh, eigvalsh


def _cholesky_composite(a, upper=False):
    (a,) = _as_linalg("cholesky", a)
    _matrices("cholesky", a)
    return lax_linalg.cholesky(a, lower=not upper)


def _cholesky_np(a, upper=False):
    return onp.linalg.cholesky(a, upper=upper)


cholesky_p = numpy_primitive("linalg.cholesky", _or_composite(
    _np_impl("cholesky", _cholesky_np), _cholesky_composite), _cholesky_composite)


@primitive_wrapper(cholesky_p)
def cholesky(a, /, *, upper=False):
    """Cholesky factor ``L`` with ``a = L @ L^H`` from the lower triangle of ``a`` (or, with
    ``upper=True``, ``U`` with ``a = U^H @ U`` from the upper triangle). Not positive
    definite: NaN (no ``LinAlgError``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.cholesky(onp.array([[4.0, 2.0], [2.0, 5.0]]))
    array([[2., 0.],
           [1., 2.]], dtype=float32)
    """
    return cholesky_p.bind(a, upper=bool(upper))




def _qr_composite(a, mode="reduced"):
    (a,) = _as_linalg("qr", a)
    _matrices("qr", a, square=False)
    q, r = lax_linalg.qr(a, full_matrices=(mode == "complete"))
    return r if mode == "r" else [q, r]


def _qr_np(a, mode="reduced"):
    out = onp.linalg.qr(a, mode=mode)
    return out if mode == "r" else tuple(out)


_qr_p = {m: numpy_primitive(f"linalg.qr.{m}", _np_impl("qr", _qr_np), _qr_composite,
                            multiple_results=(m != "r"))
         for m in ("reduced", "complete", "r")}


def qr(a, mode="reduced"):
    """QR decomposition: ``QRResult(Q, R)`` (``mode`` ``"reduced"``/``"complete"``), or ``R``
    (``mode="r"``).

    >>> import numpy as onp, s2s.numpy as np
    >>> q, r = np.linalg.qr(onp.ones((3, 2)))
    >>> q.shape, r.shape
    ((3, 2), (2, 2))
    """
    if mode not in _qr_p:
        raise NotImplementedError(f"qr: mode {mode!r} is not supported; use 'reduced', "
                                  "'complete' or 'r'")
    out = _qr_p[mode].bind(a, mode=mode)
    return out if mode == "r" else QRResult(*out)


def _eigh_composite(a, UPLO="L"):
    (a,) = _as_linalg("eigh", a)
    _matrices("eigh", a)
    v, w = lax_linalg.eigh(a, lower=(UPLO == "L"))
    return [w, v]


def _eigh_np(a, UPLO="L"):
    return tuple(onp.linalg.eigh(a, UPLO=UPLO))


def _uplo(uplo):
    if uplo not in ("L", "U"):
        raise ValueError(f"eigh: UPLO must be 'L' or 'U', got {uplo!r}")
    return uplo


eigh_p = numpy_primitive("linalg.eigh", _np_impl("eigh", _eigh_np), _eigh_composite,
                         multiple_results=True)


@primitive_wrapper(eigh_p)
def eigh(a, UPLO="L"):
    """Eigenvalues (ascending) and eigenvectors of Hermitian matrices: ``EighResult(w, v)``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.eigh(onp.array([[2.0, 1.0], [1.0, 2.0]])).eigenvalues
    array([1., 3.], dtype=float32)
    """
    return EighResult(*eigh_p.bind(a, UPLO=_uplo(UPLO)))




def _eigvalsh_composite(a, UPLO="L"):
    return _eigh_composite(a, UPLO)[0]


eigvalsh_p = numpy_primitive("linalg.eigvalsh", _np_impl("eigvalsh", onp.linalg.eigvalsh),
                             _eigvalsh_composite)


@primitive_wrapper(eigvalsh_p)
def eigvalsh(a, UPLO="L"):
    """Eigenvalues (ascending) of Hermitian matrices.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.eigvalsh(onp.array([[2.0, 1.0], [1.0, 2.0]]))
    array([1., 3.], dtype=float32)
    """
    return eigvalsh_p.bind(a, UPLO=_uplo(UPLO))



# ---------------------------------------------------------------------------
# svd, svdvals, pinv, matrix_rank, lstsq


def _svd_composite(a, full_matrices=True, compute_uv=True):
    (a,) = _as_linalg("svd", a)
    _matrices("svd", a, square=False)
    if not compute_uv:
        return lax_linalg.svd(a, full_matrices=full_matrices, compute_uv=False)
    u, s, vt = lax_linalg.svd(a, full_matrices=full_matrices, compute_uv=True)
    return [u, s, vt]


def _svd_np(a, full_matrices=True, compute_uv=True):
    out = onp.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    return tuple(out) if compute_uv else out


_svd_p = {uv: numpy_primitive(f"linalg.svd.{'uv' if uv else 's'}", _np_impl("svd", _svd_np),
                              _svd_composite, multiple_results=uv) for uv in (True, False)}


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """Singular value decomposition: ``SVDResult(U, S, Vh)`` with ``a = U @ diag(S) @ Vh``,
    or ``S`` alone (descending) when ``compute_uv`` is False.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.svd(onp.diag([1.0, 3.0]), compute_uv=False)
    array([3., 1.], dtype=float32)
    """
    if hermitian:
        return _svd_hermitian(a, compute_uv)
    out = _svd_p[bool(compute_uv)].bind(a, full_matrices=bool(full_matrices),
                                        compute_uv=bool(compute_uv))
    return SVDResult(*out) if compute_uv else out


def _svd_hermitian(a, compute_uv):
    w, v = eigh(a)
    s = lax.abs(w)
    order = _desc_order(s)
    s = _take_last(s, order)
    if not compute_uv:
        return s
    sign = _take_last(I.astype(lax.sign(w), I.dtype(v)), order)
    u = _take_last(v, order)
    vh = _swapH(lax.mul(u, I.expand(sign, -2)))
    return SVDResult(u, s, vh)


def _desc_order(s):
    """Indices that sort the last axis of ``s`` in descending order (stable)."""
    idx = lax.broadcasted_iota(dtype=dtypes.int32, shape=I.shape(s), dimension=I.ndim(s) - 1)
    return lax.sort(lax.neg(s), idx, dimension=-1, num_keys=1)[1]


def _take_last(x, order):
    """``x[..., order]`` along the last axis (``order`` batched like ``x``'s leading axes)."""
    n = I.shape(order)[-1]
    sx = I.shape(x)
    onehot = lax.eq(I.expand(order, -1), lax.broadcasted_iota(dtype=dtypes.int32, shape=I.shape(order) + (n,),
                                                  dimension=I.ndim(order)))
    onehot = I.astype(onehot, I.dtype(x))
    if len(sx) == len(I.shape(order)):
        return lax.reduce_sum(lax.mul(onehot, I.expand(x, -2)), axes=(len(sx),))
    return _basic.matmul(x, _swap(onehot))


def _swap(x):
    return I.swap_last(x)


def svdvals(x, /):
    """Singular values (descending) of a (batch of) matrix.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.svdvals(onp.diag([2.0, 5.0]))
    array([5., 2.], dtype=float32)
    """
    return svd(x, compute_uv=False)


def _default_rtol(shape, dt):
    return 10 * max(shape[-2:]) * float(dtypes.finfo(dtypes.real_dtype(dt)).eps)


def pinv(a, rcond=None, hermitian=False, *, rtol=None):
    """Moore-Penrose pseudo-inverse via the SVD; singular values below ``rcond * max(S)`` are
    treated as zero (default ``rcond``: ``10 * max(M, N) * eps``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.pinv(onp.array([[2.0, 0.0], [0.0, 0.0]]))
    array([[0.5, 0. ],
           [0. , 0. ]], dtype=float32)
    """
    (a,) = _as_linalg("pinv", a)
    s = _matrices("pinv", a, square=False)
    if rcond is not None and rtol is not None:
        raise ValueError("pinv: rcond and rtol cannot both be given")
    cut = rcond if rcond is not None else rtol
    if cut is None:
        cut = _default_rtol(s, I.dtype(a))
    u, sv, vh = svd(a, full_matrices=False)
    rdt = I.dtype(sv)
    if s[-1] == 0 or s[-2] == 0:
        return I.full(s[:-2] + (s[-1], s[-2]), 0, I.dtype(a))
    cutoff = lax.mul(I.astype(cut, rdt), _red.max(sv, axis=-1, keepdims=True))
    keep = lax.gt(sv, I.broadcast_to(cutoff, I.shape(sv)))
    sinv = I.where(keep, lax.div(onp.ones((), rdt), I.where(keep, sv, 1)), 0)
    return _basic.matmul(lax.mul(_swapH(vh), I.astype(I.expand(sinv, -2), I.dtype(a))),
                         _swapH(u))


def matrix_rank(A, tol=None, hermitian=False, *, rtol=None):
    """Number of singular values above ``tol`` (default ``max(S) * max(M, N) * eps``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.matrix_rank(onp.array([[1.0, 2.0], [2.0, 4.0]]))
    array(1, dtype=int32)
    """
    A = I.asarray(A)
    if I.ndim(A) < 2:
        return I.astype(_red.any(lax.ne(A, I.astype(0, I.dtype(A)))), dtypes.default_int_dtype())
    (A,) = _as_linalg("matrix_rank", A)
    sv = svd(A, compute_uv=False, hermitian=hermitian)
    rdt = I.dtype(sv)
    smax = _red.max(sv, axis=-1, keepdims=True, initial=0.0)
    if tol is None:
        r = rtol if rtol is not None else max(I.shape(A)[-2:]) * float(dtypes.finfo(rdt).eps)
        tol = lax.mul(smax, I.astype(r, rdt))
    else:
        tol = I.expand(I.astype(tol, rdt), -1) if I.ndim(tol) else I.astype(tol, rdt)
    above = lax.gt(sv, I.broadcast_to(tol, I.shape(sv)))
    return _red.sum(above, axis=-1, dtype=dtypes.default_int_dtype())


def lstsq(a, b, rcond=None):
    """Least-squares solution of ``a @ x = b``: ``(x, residuals, rank, s)``.

    ``residuals`` (squared 2-norms of ``b - a @ x`` per column) has shape (K,) — (1,) for
    a vector ``b`` — when M > N and shape (0,) otherwise; unlike NumPy it is also
    filled when ``a`` is rank deficient (its shape cannot depend on the rank under
    ``jit``). Default ``rcond``: ``eps * max(M, N)``.

    >>> import numpy as onp, s2s.numpy as np
    >>> x, res, rank, s = np.linalg.lstsq(onp.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]),
    ...                                   onp.array([1.0, 1.0, 2.0]))
    >>> x.round(4), rank
    (array([1., 1.], dtype=float32), array(2, dtype=int32))
    """
    a, b = _as_linalg("lstsq", a, b)
    sa, sb = I.shape(a), I.shape(b)
    if len(sa) != 2:
        raise ShapeError(f"lstsq: a must be a 2-dimensional matrix, got shape {sa}")
    if len(sb) not in (1, 2) or sb[0] != sa[0]:
        raise ShapeError(f"lstsq: b must have shape ({sa[0]},) or ({sa[0]}, K) to match a of shape "
                         f"{sa}, got {sb}")
    m, n = sa
    vector = len(sb) == 1
    b2 = I.expand(b, -1) if vector else b
    u, sv, vh = svd(a, full_matrices=False)
    rdt = I.dtype(sv)
    if rcond is None:
        rcond = float(dtypes.finfo(rdt).eps) * max(m, n)
    if min(m, n):
        cutoff = lax.mul(I.astype(rcond, rdt), I.index_axis(sv, 0, 0))
        keep = lax.gt(sv, cutoff)
    else:
        keep = I.full(I.shape(sv), False, dtypes.bool_)
    rank = _red.sum(keep, dtype=dtypes.default_int_dtype())
    sinv = I.where(keep, lax.div(onp.ones((), rdt), I.where(keep, sv, 1)), 0)
    uhb = _basic.matmul(_swapH(u), b2)
    x = _basic.matmul(_swapH(vh), lax.mul(I.expand(I.astype(sinv, I.dtype(a)), -1), uhb))
    if m > n:
        r = lax.sub(b2, _basic.matmul(a, x))
        resid = _red.sum(I.abs2(r), axis=0)
    else:
        resid = I.full((0,), 0, rdt)
    if vector:
        x = lax.squeeze(x, dimensions=(1,))
    return x, resid, rank, sv

# ---------------------------------------------------------------------------
# matrix_power, multi_dot


def matrix_power(a, n):
    """``a`` raised to the integer power ``n`` (``n < 0`` inverts first; ``n == 0``: identity).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.matrix_power(onp.array([[1, 1], [0, 1]]), 3)
    array([[1, 3],
           [0, 1]], dtype=int32)
    """
    a = I.asarray(a)
    s = _matrices("matrix_power", a)
    n = I.static_int("matrix_power", "n", n)
    if n == 0:
        return _eye_like(s[-1], s[:-2], I.dtype(a))
    if n < 0:
        a, n = inv(a), -n
    result = None
    base = a
    while n:
        if n & 1:
            result = base if result is None else _basic.matmul(result, base)
        n >>= 1
        if n:
            base = _basic.matmul(base, base)
    return result


def multi_dot(arrays, *, out=None):
    """Chained ``dot`` of several arrays, multiplied in the cheapest order (first and last
    may be vectors).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.multi_dot([onp.ones((2, 3)), onp.ones((3, 4)), onp.ones(4)])
    array([12., 12.], dtype=float32)
    """
    _red._no_out("multi_dot", out)
    arrays = [I.asarray(x) for x in arrays]
    if len(arrays) < 2:
        raise ValueError("multi_dot: expecting at least two arrays")
    if len(arrays) == 2:
        return _basic.dot(*arrays)
    first_vec, last_vec = I.ndim(arrays[0]) == 1, I.ndim(arrays[-1]) == 1
    if first_vec:
        arrays[0] = I.expand(arrays[0], 0)
    if last_vec:
        arrays[-1] = I.expand(arrays[-1], -1)
    for i, x in enumerate(arrays):
        if I.ndim(x) != 2:
            raise ShapeError(f"multi_dot: array {i} has {I.ndim(x)} dimensions; the first and "
                             "last may be 1-D, the others must be 2-D")
    order = _chain_order([I.shape(x) for x in arrays])
    result = _chain(arrays, order, 0, len(arrays) - 1)
    if first_vec:
        result = lax.squeeze(result, dimensions=(0,))
    if last_vec:
        result = lax.squeeze(result, dimensions=(I.ndim(result) - 1,))
    return result


def _chain_order(shapes):
    """Matrix-chain dynamic programme: ``split[i][j]`` for the cheapest product of i..j."""
    dims = [shapes[0][0]] + [s[1] for s in shapes]
    n = len(shapes)
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j] = math.inf
            for k in range(i, j):
                c = cost[i][k] + cost[k + 1][j] + dims[i] * dims[k + 1] * dims[j + 1]
                if c < cost[i][j]:
                    cost[i][j], split[i][j] = c, k
    return split


def _chain(arrays, split, i, j):
    if i == j:
        return arrays[i]
    k = split[i][j]
    return _basic.dot(_chain(arrays, split, i, k), _chain(arrays, split, k + 1, j))

# ---------------------------------------------------------------------------
# norm, vector_norm, matrix_norm


def _vector_norm(x, ord, axes, keepdims):
    absx = lax.abs(x)
    if ord is None or ord == 2:
        return lax.sqrt(lax.reduce_sum(I.abs2(x), axes=axes))
    if ord == onp.inf:
        return _reduce_or_zero(lax.reduce_max, absx, axes)
    if ord == -onp.inf:
        return lax.reduce_min(absx, axes=axes)
    if ord == 0:
        return lax.reduce_sum(I.astype(lax.ne(absx, onp.zeros((), I.dtype(absx))),
                                       I.dtype(absx)), axes=axes)
    if ord == 1:
        return lax.reduce_sum(absx, axes=axes)
    if isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    p = I.astype(float(ord), I.dtype(absx))
    return lax.pow(lax.reduce_sum(lax.pow(absx, p), axes=axes), lax.div(I.astype(1, I.dtype(p)), p))


def _reduce_or_zero(reducer, x, axes):
    if all(I.shape(x)[i] for i in axes):
        return reducer(x, axes=axes)
    return lax.reduce_sum(x, axes=axes)  # empty: NumPy gives 0


def _matrix_norm(x, ord, rows, cols):
    absx = lax.abs(x)
    if ord in (None, "fro"):
        return lax.sqrt(lax.reduce_sum(I.abs2(x), axes=(rows, cols)))
    if ord in (1, -1, onp.inf, -onp.inf):
        summed_axis, kept_axis = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = lax.reduce_sum(absx, axes=(summed_axis,))
        kept = kept_axis - (summed_axis < kept_axis)
        return (lax.reduce_max if ord > 0 else lax.reduce_min)(sums, axes=(kept,))
    if ord in (2, -2, "nuc"):
        y = I.moveaxis(x, (rows, cols), (-2, -1))
        sv = svd(y, compute_uv=False)
        last = (I.ndim(sv) - 1,)
        if ord == "nuc":
            return lax.reduce_sum(sv, axes=last)
        return (lax.reduce_max if ord == 2 else lax.reduce_min)(sv, axes=last)
    raise ValueError(f"norm: invalid norm order {ord!r} for matrices")


def _norm_composite(x, ord=None, axis=None, keepdims=False):
    x = I.asarray(x)
    dt = dtypes.to_inexact_dtype(I.dtype(x))
    x = I.astype(x, dt)
    n = I.ndim(x)
    if axis is None:
        if ord is None:
            axes = tuple(range(n))
            r = lax.sqrt(lax.reduce_sum(I.abs2(x), axes=axes))
            return _red._keep(r, axes, I.shape(x), keepdims)
        if n not in (1, 2):
            raise ShapeError(f"norm: improper number of dimensions to norm ({n}); give axis")
        axis = tuple(range(n))
    axes = I.reduction_axes("norm", axis, n)
    if len(axes) == 1:
        r = _vector_norm(x, ord, axes, keepdims)
    elif len(axes) == 2:
        r = _matrix_norm(x, ord, *axes)
    else:
        raise ShapeError(f"norm: improper number of dimensions to norm (axis={axis})")
    return _red._keep(r, axes, I.shape(x), keepdims)


def _norm_impl(x, ord=None, axis=None, keepdims=False):
    return onp.linalg.norm(x, ord, axis, keepdims)


norm_p = numpy_primitive("linalg.norm", _norm_impl, _norm_composite)


def _static_ord(ord):
    if ord is None or isinstance(ord, str):
        return ord
    return float(ord) if not float(ord).is_integer() or abs(float(ord)) == onp.inf else int(ord)


_MATRIX_ORDS = (None, "fro", "nuc", onp.inf, -onp.inf, 1, -1, 2, -2)


def _check_ord(ord, x, axis):
    """Validates ``ord`` for the norm ``axis`` selects (NumPy's messages, eagerly and staged)."""
    n = I.ndim(x)
    count = n if axis is None else (len(axis) if isinstance(axis, tuple) else 1)
    if axis is None and ord is None:
        return
    if count == 1 and isinstance(ord, str):
        raise ValueError(f"norm: invalid norm order {ord!r} for vectors")
    if count == 2 and ord not in _MATRIX_ORDS:
        raise ValueError(f"norm: invalid norm order {ord!r} for matrices")


@primitive_wrapper(norm_p)
def norm(x, ord=None, axis=None, keepdims=False):
    """Vector or matrix norm: ``ord`` None/2/1/inf/-inf/0/p for vectors, None/'fro'/'nuc'/
    inf/-inf/1/-1/2/-2 for matrices (``axis`` of two axes, or a 2-D input).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.norm(onp.array([3.0, 4.0]))
    array(5., dtype=float32)
    >>> np.linalg.norm(onp.array([[1.0, -2.0], [3.0, 4.0]]), ord=1)
    array(6., dtype=float32)
    """
    ord, axis = _static_ord(ord), _red._static_axis(axis)
    _check_ord(ord, x, axis)
    return norm_p.bind(x, ord=ord, axis=axis, keepdims=bool(keepdims))




def vector_norm(x, /, *, axis=None, keepdims=False, ord=2):
    """Vector norm over ``axis`` (all axes when None, as a flat vector).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.vector_norm(onp.ones((2, 2)), ord=1)
    array(4., dtype=float32)
    """
    x = I.asarray(x)
    if axis is None:
        r = norm(I.ravel(x), ord=ord)
        return I.reshape(r, (1,) * I.ndim(x)) if keepdims else r
    axes = I.reduction_axes("vector_norm", axis, I.ndim(x))
    if len(axes) == 1:
        return norm(x, ord=ord, axis=axes[0], keepdims=keepdims)
    rest = [i for i in range(I.ndim(x)) if i not in axes]
    y = I.transpose(x, rest + list(axes))
    y = I.reshape(y, tuple(I.shape(x)[i] for i in rest) + (math.prod(I.shape(x)[i] for i in axes),))
    r = norm(y, ord=ord, axis=-1)
    return _red._keep(r, axes, I.shape(x), keepdims)


def matrix_norm(x, /, *, keepdims=False, ord="fro"):
    """Matrix norm over the last two axes.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.matrix_norm(onp.eye(3), ord="nuc")
    array(3., dtype=float32)
    """
    return norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)

# ---------------------------------------------------------------------------
# Array-API names that NumPy 2 also puts in ``numpy.linalg``.


def matmul(x1, x2, /):
    """``x1 @ x2`` (see ``s2s.numpy.matmul``).

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.matmul(onp.eye(2), onp.ones(2))
    array([1., 1.], dtype=float32)
    """
    return _basic.matmul(x1, x2)


def tensordot(x1, x2, /, *, axes=2):
    """``s2s.numpy.tensordot`` with keyword-only ``axes``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.tensordot(onp.ones((2, 3)), onp.ones((3, 4)), axes=1).shape
    (2, 4)
    """
    return _basic.tensordot(x1, x2, axes=axes)


def outer(x1, x2, /):
    """Outer product of two vectors.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.outer(onp.ones(2), onp.ones(3)).shape
    (2, 3)
    """
    for i, x in enumerate((x1, x2)):
        if I.ndim(x) != 1:
            raise ShapeError(f"outer: input {i} must be 1-dimensional, got shape {I.shape(x)}")
    return _basic.outer(x1, x2)


def trace(x, /, *, offset=0, dtype=None):
    """Sum of the ``offset`` diagonal of the last two axes.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.trace(onp.ones((2, 3, 3)))
    array([3., 3.], dtype=float32)
    """
    return _basic.trace(x, offset, -2, -1, dtype=dtype)


def diagonal(x, /, *, offset=0):
    """The ``offset`` diagonal of the last two axes.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.diagonal(onp.arange(4).reshape(2, 2))
    array([0, 3], dtype=int32)
    """
    return _basic.diagonal(x, offset, -2, -1)


def cross(x1, x2, /, *, axis=-1):
    """Cross product of 3-vectors along ``axis``.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.cross(onp.array([0.0, 1.0, 0.0]), onp.array([0.0, 0.0, 1.0]))
    array([1., 0., 0.], dtype=float32)
    """
    for i, x in enumerate((x1, x2)):
        s = I.shape(x)
        if not s or s[axis] != 3:
            raise ShapeError(f"cross: input {i} must have size 3 along axis {axis}, got shape {s}")
    return _basic.cross(x1, x2, axis=axis)


def matrix_transpose(x, /):
    """Swaps the last two axes.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.matrix_transpose(onp.ones((2, 3))).shape
    (3, 2)
    """
    x = I.asarray(x)
    _matrices("matrix_transpose", x, square=False)
    return I.swap_last(x)


def vecdot(x1, x2, /, *, axis=-1):
    """Dot product of vectors along ``axis`` (conjugating ``x1``), broadcasting the rest.

    >>> import numpy as onp, s2s.numpy as np
    >>> np.linalg.vecdot(onp.ones((2, 3)), onp.arange(3.0))
    array([3., 3.], dtype=float32)
    """
    (x1, x2), _ = I.promote(I.asarray(x1), I.asarray(x2))
    x1, x2 = I.broadcast_arrays("vecdot", x1, x2)
    ax = I.one_axis("vecdot", axis, I.ndim(x1))
    return lax.reduce_sum(lax.mul(I.conj(x1), x2), axes=(ax,))

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
