"""Tangent helpers of the linear-algebra jvp templates (``s2s.lax.jvp_rules``,
``s2s.numpy.jvp_rules``).

The standard forward rules (as JAX's ``jax/_src/lax/linalg.py``), written on ``s2s.lax``
primitives so they run eagerly, staged and batched (their batch rules, in
``s2s.numpy._linalg_jvp``, add the batch axis as one more stack axis: jacfwd runs no
per-basis-vector loop), and are differentiated from their source for higher orders.
Each is the transpose of its adjoint in ``vjp_helpers`` (``cholesky_grad``,
``eigh_grad``...): the same conventions hold, e.g. equal eigenvalues give the same
non-finite values both ways. Matrices are the last two axes; leading axes
are batch axes.

>>> import numpy as np
>>> from s2s.lax import linalg
>>> a = np.array([[4.0, 2.0], [2.0, 5.0]])
>>> cholesky_tangent(np.eye(2), linalg.cholesky(a))  # dL with L dL^T + dL L^T = I
array([[ 0.25  ,  0.    ],
       [-0.125 ,  0.3125]], dtype=float32)
"""
from s2s import lax
from s2s.core import dtypes
from s2s.lax.vjp_helpers import (
    _as_dtype, _cols, _conj, _matrix_H, _matrix_T, _mm, _rows, diag_embed, dtype_of, eye,
    is_complex, lu_factors, mask_grad, shape_of, tril, triu, zeros_like)


def _diagonal_part(x):
    """``x`` with everything off the diagonal of its last two axes zeroed."""
    return mask_grad(x, eye(shape_of(x)[-1], dtypes.bool_))


def diagonal(x):
    """The diagonal of the last two (square) axes: (..., n, n) -> (..., n)."""
    return lax.reduce_sum(_diagonal_part(x), axes=(len(shape_of(x)) - 1,))


def _real(x):
    return lax.real(x) if is_complex(x) else x


def _phi(x):
    """The lower triangle of ``x`` with half its diagonal."""
    return lax.sub(tril(x), lax.mul(0.5, _diagonal_part(x)))


def hermitian_part(da, lower=True):
    """The Hermitian matrix a primitive reads from one triangle of ``da`` (LAPACK reads
    the real part of the diagonal); linear, so also its tangent. The transpose of
    ``vjp_helpers.hermitian_grad``."""
    half = tril(da) if lower else triu(da)
    half = lax.sub(half, lax.mul(0.5, _diagonal_part(half)))
    return lax.add(half, _matrix_H(half))


def cholesky_tangent(da, factor, lower=True):
    """Tangent of ``cholesky``: ``L phi(L^-1 dA L^-H)`` (``dA`` read from one triangle)."""
    low = factor if lower else _matrix_H(factor)
    s = hermitian_part(da, lower)
    t = lax.linalg.triangular_solve(low, s, left_side=True, lower=True)
    t = lax.linalg.triangular_solve(low, t, left_side=False, lower=True, transpose_a=True,
                                    conjugate_a=True)
    dl = _mm(low, _phi(t))
    return dl if lower else _matrix_H(dl)


def _op(x, transpose_a, conjugate_a):
    """``op(x)`` of ``triangular_solve``: transposed and/or conjugated (``conjugate_a``
    alone conjugates too, as the primitive does)."""
    x = _matrix_T(x) if transpose_a else x
    return _conj(x) if conjugate_a else x


def triangular_solve_tangent_a(da, a, ans, left_side=False, lower=False, transpose_a=False,
                               conjugate_a=False, unit_diagonal=False):
    """Tangent of ``triangular_solve`` along ``a`` (only the triangle it reads):
    ``-op(a)^-1 op(da) x`` (left side) or ``-x op(da) op(a)^-1``."""
    k = 1 if unit_diagonal else 0
    dop = _op(tril(da, -k) if lower else triu(da, k), transpose_a, conjugate_a)
    rhs = _mm(dop, ans) if left_side else _mm(ans, dop)
    return lax.neg(lax.linalg.triangular_solve(
        a, rhs, left_side=left_side, lower=lower, transpose_a=transpose_a,
        conjugate_a=conjugate_a, unit_diagonal=unit_diagonal))


def permutation_matrix(perm, dtype):
    """``P`` with ``P @ x == x[..., perm, :]`` (``perm`` over the last axis)."""
    shape = shape_of(perm) + (shape_of(perm)[-1],)
    nd = len(shape)
    rows = lax.broadcast_in_dim(perm, shape=shape, broadcast_dimensions=tuple(range(nd - 1)))
    cols = lax.broadcasted_iota(dtype=dtype_of(perm), shape=shape, dimension=nd - 1)
    return _as_dtype(lax.eq(rows, cols), dtype)


def lu_tangent(da, ans):
    """Tangent of ``lu``: ``L tril(X, -1) + triu(X) U`` with ``X = L^-1 dA[perm] U^-1``;
    the pivots and permutation are integers (zero tangents)."""
    packed, pivots, perm = ans
    low, up = lu_factors(packed)
    x = _mm(permutation_matrix(perm, dtype_of(packed)), da)
    la = lax.linalg.triangular_solve(low, x, left_side=True, lower=True, unit_diagonal=True)
    lau = lax.linalg.triangular_solve(up, la, left_side=False, lower=False)
    dlu = lax.add(_mm(low, tril(lau, -1)), _mm(triu(lau), up))
    return dlu, zeros_like(pivots), zeros_like(perm)


def qr_tangent(da, ans, a, full_matrices=False):
    """Tangent of ``qr`` (m >= n, square with ``full_matrices``, as the adjoint)."""
    q, r = ans
    m, n = shape_of(a)[-2:]
    if m < n or (full_matrices and m != n):
        raise NotImplementedError(
            f"s2s differentiates qr only for m >= n (and square matrices with "
            f"full_matrices=True), as JAX; got shape {shape_of(a)}")
    dx_rinv = lax.linalg.triangular_solve(r, da, left_side=False, lower=False)
    qt_dx_rinv = _mm(_matrix_H(q), dx_rinv)
    lower = tril(qt_dx_rinv, -1)
    do = lax.sub(lower, _matrix_H(lower))  # skew-Hermitian
    if is_complex(qt_dx_rinv):  # the imaginary part of the diagonal goes to q
        imag_part = lax.sub(qt_dx_rinv, _as_dtype(lax.real(qt_dx_rinv), dtype_of(qt_dx_rinv)))
        do = lax.add(do, _diagonal_part(imag_part))
    dq = lax.add(_mm(q, lax.sub(do, qt_dx_rinv)), dx_rinv)
    dr = _mm(lax.sub(qt_dx_rinv, do), r)
    return dq, dr


def _reciprocal_or_zero(s):
    """``1 / s``, zero where ``s`` is zero (the adjoint's ``s_inv``)."""
    is_zero = _as_dtype(lax.eq(s, 0), dtype_of(s))
    return lax.sub(lax.div(1, lax.add(s, is_zero)), is_zero)


def svd_tangent(da, a, ans, full_matrices=True, compute_uv=True):
    """Tangent of ``svd`` (``(du, ds, dvt)``, or ``ds``): reduced factors, or square
    matrices with ``full_matrices``, as the adjoint."""
    m, n = shape_of(a)[-2:]
    if compute_uv:
        u, s, vt = ans
        if full_matrices and m != n:
            raise NotImplementedError(
                "s2s differentiates svd with full_matrices=True only for square matrices, as "
                "JAX; use full_matrices=False")
    else:
        u, s, vt = lax.linalg.svd(a, full_matrices=False, compute_uv=True)
    dt = dtype_of(u)
    v = _matrix_H(vt)
    ds_mat = _mm(_mm(_matrix_H(u), da), v)
    ds = _real(diagonal(ds_mat))
    if not compute_uv:
        return ds
    k = shape_of(s)[-1]
    i = eye(k, dtype_of(s))
    s_row, s_col = _rows(s), _cols(s)
    f = _as_dtype(lax.sub(lax.div(1, lax.add(i, lax.sub(lax.mul(s_row, s_row),
                                                        lax.mul(s_col, s_col)))), i), dt)
    s_inv = _reciprocal_or_zero(s)
    dss = lax.mul(_as_dtype(s_row, dt), ds_mat)
    sds = lax.mul(_as_dtype(s_col, dt), ds_mat)
    du_diag = lax.mul(0.5, lax.mul(lax.sub(ds_mat, _matrix_H(ds_mat)),
                                   diag_embed(_as_dtype(s_inv, dt))))
    du = _mm(u, lax.add(lax.mul(f, lax.add(dss, _matrix_H(dss))), du_diag))
    dv = _mm(v, lax.mul(f, lax.add(sds, _matrix_H(sds))))
    s_inv_row = _as_dtype(_rows(s_inv), dt)
    if m > n:
        dav = _mm(da, v)
        du = lax.add(du, lax.mul(lax.sub(dav, _mm(u, _mm(_matrix_H(u), dav))), s_inv_row))
    if n > m:
        dahu = _mm(_matrix_H(da), u)
        dv = lax.add(dv, lax.mul(lax.sub(dahu, _mm(v, _mm(vt, dahu))), s_inv_row))
    return du, ds, _matrix_H(dv)


def eigh_tangent(da, ans, lower=True):
    """Tangent of ``eigh`` (``(dv, dw)``): ``dv = V (F o V^H dA V)``, ``dw`` its diagonal,
    ``F[i, j] = 1 / (w[j] - w[i])`` off the diagonal (equal eigenvalues: non-finite, as
    the adjoint)."""
    v, w = ans
    dt = dtype_of(v)
    i = eye(shape_of(w)[-1], dt)
    wv = _as_dtype(w, dt)
    f = lax.sub(lax.div(1, lax.add(i, lax.sub(_rows(wv), _cols(wv)))), i)
    inner = _mm(_mm(_matrix_H(v), hermitian_part(da, lower)), v)
    return _mm(v, lax.mul(f, inner)), _real(diagonal(inner))


def eigvalsh_tangent(da, v, lower=True):
    """Tangent of the eigenvalues alone: ``diag(V^H dA V)`` (real), ``v`` the eigenvectors."""
    av = _mm(hermitian_part(da, lower), v)
    return _real(lax.reduce_sum(lax.mul(_conj(v), av), axes=(len(shape_of(v)) - 2,)))
