"""``scipy.linalg`` on ``s2s.numpy.linalg`` and ``s2s.lax.linalg``.

Code written against ``scipy.linalg`` ports by importing ``s2s.scipy.linalg``
instead: the functions keep SciPy's signatures (``lower``, ``trans``,
``unit_diagonal``, ``permute_l``...), work eagerly and under ``jit``, differentiate
and batch. The ``overwrite_*`` and ``check_finite`` flags are accepted and ignored
(arrays are never overwritten; nothing raises for non-finite input under ``jit``).
Matrices may carry leading batch dimensions, as in ``jax.scipy.linalg``.

Most functions are written on ``s2s.numpy`` (grad and vmap read their source);
``expm`` is a NumPy-level primitive: SciPy's own ``expm`` eagerly, a degree-13
Pade approximant with scaling and squaring under ``jit``, and the Frechet
derivative (the exponential of a 2n x 2n block matrix) for its derivatives.

>>> import numpy as onp
>>> from s2s.scipy import linalg
>>> linalg.solve_triangular(onp.array([[2.0, 0.0], [1.0, 1.0]]), onp.array([2.0, 3.0]), lower=True)
array([1., 2.], dtype=float32)
"""
import importlib
import sys

import numpy as onp

import s2s.numpy as np
from s2s import lax
from s2s.core import dtypes
from s2s.core.primitive import def_batch, def_zero_derivative
from s2s.lax import linalg as lax_linalg
from s2s.numpy._primitive import numpy_primitive

__all__ = [
    "block_diag", "cho_factor", "cho_solve", "det", "eigh", "expm", "inv", "lu", "lu_factor",
    "lu_solve", "solve_triangular",
]


def _floating(x, *others):
    """``x`` as an array of the common floating dtype of ``x`` and ``others``."""
    dt = dtypes.to_inexact_dtype(dtypes.result_type(x, *others))
    return np.asarray(x, dtype=dt)


_TRANS = {0: 0, 1: 1, 2: 2, "N": 0, "T": 1, "C": 2}


def _trans_code(trans):
    try:
        return _TRANS[trans]
    except (KeyError, TypeError):
        raise ValueError(f"trans must be 0, 1, 2, 'N', 'T' or 'C', got {trans!r}") from None


def _triangular(a, b, trans, lower, unit_diagonal):
    """Solves ``op(a) x = b`` for a (batch of) matrix ``b`` (..., M, K)."""
    code = _trans_code(trans)
    return lax_linalg.triangular_solve(a, b, left_side=True, lower=lower, transpose_a=code != 0,
                                       conjugate_a=code == 2, unit_diagonal=unit_diagonal)


def solve_triangular(a, b, trans=0, lower=False, unit_diagonal=False, overwrite_b=False,
                     check_finite=True):
    """Solves ``op(a) @ x = b`` for triangular ``a``; ``op`` is chosen by ``trans``.

    ``trans``: 0 or 'N' (``a``), 1 or 'T' (``a.T``), 2 or 'C' (``a.conj().T``).
    ``b`` is a vector (M,) or a matrix (..., M, K).

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import solve_triangular
    >>> solve_triangular(onp.array([[1.0, 1.0], [0.0, 2.0]]), onp.array([3.0, 2.0]))
    array([2., 1.], dtype=float32)
    """
    a = _floating(a, b)
    b = _floating(b, a)
    if np.ndim(b) == 1:
        return _triangular(a, b[:, None], trans, lower, unit_diagonal)[:, 0]
    return _triangular(a, b, trans, lower, unit_diagonal)


def cho_factor(a, lower=False, overwrite_a=False, check_finite=True):
    """The Cholesky factor of ``a`` for ``cho_solve``: ``(c, lower)``.

    ``c`` is the lower (``lower=True``) or upper triangular factor, zero elsewhere
    (SciPy leaves the other triangle unspecified). A matrix that is not positive
    definite gives NaN.

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import cho_factor
    >>> cho_factor(onp.array([[4.0, 2.0], [2.0, 2.0]]))[0]
    array([[2., 1.],
           [0., 1.]], dtype=float32)
    """
    return np.linalg.cholesky(_floating(a), upper=not lower), lower


def cho_solve(c_and_lower, b, overwrite_b=False, check_finite=True):
    """Solves ``a @ x = b`` given ``cho_factor(a)``.

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import cho_factor, cho_solve
    >>> cho_solve(cho_factor(onp.array([[4.0, 2.0], [2.0, 2.0]])), onp.array([6.0, 4.0]))
    array([1., 1.], dtype=float32)
    """
    c, lower = c_and_lower
    if lower:
        return solve_triangular(c, solve_triangular(c, b, lower=True), trans=2, lower=True)
    return solve_triangular(c, solve_triangular(c, b, trans=2, lower=False), lower=False)


# ---------------------------------------------------------------------------
# LU


def _pivots_to_permutation_impl(piv, *, m):
    piv = onp.asarray(piv)
    perm = onp.broadcast_to(onp.arange(m, dtype=onp.int32), piv.shape[:-1] + (m,)).copy()
    for index in onp.ndindex(*piv.shape[:-1]):
        row = perm[index]
        for i, j in enumerate(piv[index]):
            row[i], row[j] = row[j], row[i]
    return perm


def _pivots_to_permutation_composite(piv, *, m):
    # One masked swap per pivot (unrolled: k is static): every batch element
    # swaps its own rows, as LAPACK's laswp does.
    k = np.shape(piv)[-1]
    cols = lax.broadcasted_iota(dtype=dtypes.int32, shape=np.shape(piv)[:-1] + (m,),
                                dimension=np.ndim(piv) - 1)
    perm = cols
    for i in range(k):
        j = piv[..., i:i + 1]
        at_j = lax.eq(cols, lax.broadcast_in_dim(j, shape=np.shape(cols), broadcast_dimensions=tuple(range(np.ndim(cols)))))
        p_i = perm[..., i:i + 1]
        p_j = np.sum(np.where(at_j, perm, 0), axis=-1, keepdims=True, dtype=dtypes.int32)
        perm = np.where(cols == i, p_j, np.where(at_j, p_i, perm))
    return perm


pivots_to_permutation_p = numpy_primitive(
    "scipy.linalg.pivots_to_permutation", _pivots_to_permutation_impl, _pivots_to_permutation_composite)


def _pivots_to_permutation(piv, m):
    """The row permutation ``perm`` (``a[perm] == L @ U``) from LAPACK pivots (0-based)."""
    return pivots_to_permutation_p.bind(piv, m=m)


_pivots_to_permutation.primitive = pivots_to_permutation_p
def_zero_derivative(_pivots_to_permutation)
def_batch(_pivots_to_permutation)(lambda axes, piv, m: _pivots_to_permutation(piv, m))


def _permutation_matrix(perm, dt):
    """``P`` with ``P[perm[c], c] = 1``, so that ``a == P @ L @ U``."""
    m = np.shape(perm)[-1]
    rows = np.arange(m)[:, None]
    return (perm[..., None, :] == rows).astype(dt)


def_zero_derivative(_permutation_matrix)  # a function of integer pivots only


def lu_factor(a, overwrite_a=False, check_finite=True):
    """The packed LU decomposition ``(lu, piv)`` of ``a``, for ``lu_solve``.

    ``lu`` holds ``U`` and, below its diagonal, the unit lower triangular ``L``;
    row ``i`` was swapped with row ``piv[i]`` (0-based, int32).

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import lu_factor
    >>> lu_factor(onp.array([[1.0, 2.0], [3.0, 4.0]]))[1]
    array([1, 1], dtype=int32)
    """
    packed, piv, _ = lax_linalg.lu(_floating(a))
    return packed, piv


def lu_solve(lu_and_piv, b, trans=0, overwrite_b=False, check_finite=True):
    """Solves ``op(a) @ x = b`` given ``lu_factor(a)`` (``trans`` as in ``solve_triangular``).

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import lu_factor, lu_solve
    >>> lu_solve(lu_factor(onp.array([[1.0, 2.0], [3.0, 4.0]])), onp.array([5.0, 11.0]))
    array([1., 2.], dtype=float32)
    """
    packed, piv = lu_and_piv
    b = _floating(b, packed)
    vector = np.ndim(b) == 1
    if vector:
        b = b[:, None]
    p = _permutation_matrix(_pivots_to_permutation(piv, np.shape(packed)[-1]), b.dtype)
    if _trans_code(trans) == 0:  # P L U x = b
        y = _triangular(packed, np.matmul(np.swapaxes(p, -1, -2), b), 0, True, True)
        x = _triangular(packed, y, 0, False, False)
    else:  # U^T L^T P^T x = b
        z = _triangular(packed, b, trans, False, False)
        x = np.matmul(p, _triangular(packed, z, trans, True, True))
    return x[..., 0] if vector else x


def lu(a, permute_l=False, overwrite_a=False, check_finite=True, p_indices=False):
    """The LU decomposition ``a = p @ l @ u`` with partial pivoting.

    ``l`` is unit lower triangular (M, K), ``u`` upper triangular (K, N), K = min(M, N).
    ``permute_l`` returns ``(p @ l, u)``; ``p_indices`` returns ``p`` as row indices
    (``a == l[p] @ u``).

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import lu
    >>> p, l, u = lu(onp.array([[1.0, 2.0], [3.0, 4.0]]))
    >>> p
    array([[0., 1.],
           [1., 0.]], dtype=float32)
    """
    a = _floating(a)
    packed, _, perm = lax_linalg.lu(a)
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    l = np.tril(packed[..., :, :k], -1) + np.eye(m, k, dtype=a.dtype)
    u = np.triu(packed[..., :k, :])
    if permute_l:
        return np.matmul(_permutation_matrix(perm, a.dtype), l), u
    if p_indices:
        return np.argsort(perm, axis=-1).astype(dtypes.int32), l, u
    return _permutation_matrix(perm, a.dtype), l, u


# ---------------------------------------------------------------------------
# inv, det, eigh: the NumPy functions under SciPy's names


def inv(a, overwrite_a=False, check_finite=True):
    """The inverse of a (batch of) square matrix (singular input gives inf/NaN).

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import inv
    >>> inv(onp.array([[2.0, 0.0], [0.0, 4.0]]))
    array([[0.5 , 0.  ],
           [0.  , 0.25]], dtype=float32)
    """
    return np.linalg.inv(a)


def det(a, overwrite_a=False, check_finite=True):
    """The determinant of a (batch of) square matrix.

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import det
    >>> det(onp.array([[1.0, 2.0], [3.0, 4.0]]))
    array(-2., dtype=float32)
    """
    return np.linalg.det(a)


def _check_eigh_options(b, type, subset_by_index, subset_by_value, driver):
    given = [name for name, value in (("b", b), ("subset_by_index", subset_by_index),
                                      ("subset_by_value", subset_by_value), ("driver", driver))
             if value is not None]
    if type != 1:
        given.append("type")
    if given:
        raise NotImplementedError(
            f"s2s.scipy.linalg.eigh supports the standard problem only; {', '.join(given)} "
            "given. For a generalized problem with b = L L^T, solve the standard one for "
            "inv(L) a inv(L)^T (cho_factor, solve_triangular).")


def eigh(a, b=None, *, lower=True, eigvals_only=False, overwrite_a=False, overwrite_b=False,
         type=1, check_finite=True, subset_by_index=None, subset_by_value=None, driver=None):
    """Eigenvalues (ascending) and eigenvectors of a Hermitian matrix, read from one triangle.

    Only the standard problem (``b=None``) is supported.

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import eigh
    >>> eigh(onp.array([[2.0, 0.0], [0.0, 1.0]]), eigvals_only=True)
    array([1., 2.], dtype=float32)
    """
    _check_eigh_options(b, type, subset_by_index, subset_by_value, driver)
    uplo = "L" if lower else "U"
    if eigvals_only:
        return np.linalg.eigvalsh(a, UPLO=uplo)
    w, v = np.linalg.eigh(a, UPLO=uplo)
    return w, v


# ---------------------------------------------------------------------------
# block_diag


def _as_block(x):
    x = np.asarray(x)
    if np.ndim(x) < 2:
        return np.reshape(x, (1, -1)) if np.ndim(x) == 1 else np.reshape(x, (1, 1))
    return x


def block_diag(*arrs):
    """The block diagonal matrix of ``arrs`` (0-d and 1-d inputs count as one row).

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import block_diag
    >>> block_diag(onp.float32(1.0), onp.array([[2.0, 3.0]], onp.float32))
    array([[1., 0., 0.],
           [0., 2., 3.]], dtype=float32)
    """
    if not arrs:
        return np.zeros((1, 0))
    blocks = [_as_block(x) for x in arrs]
    for x in blocks:
        if np.ndim(x) != 2:
            raise ValueError(f"block_diag: arguments must have 2 or fewer dimensions, got shape {np.shape(x)}")
    dt = dtypes.result_type(*blocks)
    width = sum(np.shape(x)[1] for x in blocks)
    rows, left = [], 0
    for x in blocks:
        r, c = np.shape(x)
        rows.append(np.concatenate([np.zeros((r, left), dt), x.astype(dt),
                                    np.zeros((r, width - left - c), dt)], axis=1))
        left += c
    return np.concatenate(rows, axis=0)


# ---------------------------------------------------------------------------
# expm


# Pade coefficients of degree 13 and the 1-norm bound below which it is accurate to
# double precision (Higham, "The scaling and squaring method for the matrix
# exponential revisited", 2005, table 2.3).
_PADE13 = (64764752532480000.0, 32382376266240000.0, 7771770303897600.0, 1187353796428800.0,
           129060195264000.0, 10559470521600.0, 670442572800.0, 33522128640.0, 1323241920.0,
           40840800.0, 960960.0, 16380.0, 182.0, 1.0)
_THETA13 = 5.371920351148152


def _expm_impl(A):
    A = onp.asarray(A)
    dt = dtypes.to_inexact_dtype(A.dtype)
    return onp.asarray(importlib.import_module("scipy.linalg").expm(A.astype(dt)), dt)


def _expm_composite(A):
    A = _floating(A)
    n = np.shape(A)[-1]
    eye = np.broadcast_to(np.eye(n, dtype=A.dtype), np.shape(A))
    # Scale each matrix by 2**-s so its 1-norm is below theta13, square s times after.
    norm = np.max(np.sum(np.abs(A), axis=-2), axis=-1)
    s = np.maximum(0.0, np.ceil(np.log2(norm / _THETA13)))
    s = np.where(np.isfinite(s), s, 0.0)
    A = A / (2.0 ** s)[..., None, None].astype(A.dtype)
    b = _PADE13
    A2 = np.matmul(A, A)
    A4 = np.matmul(A2, A2)
    A6 = np.matmul(A4, A2)
    U = np.matmul(A, np.matmul(A6, b[13] * A6 + b[11] * A4 + b[9] * A2)
                  + b[7] * A6 + b[5] * A4 + b[3] * A2 + b[1] * eye)
    V = np.matmul(A6, b[12] * A6 + b[10] * A4 + b[8] * A2) + b[6] * A6 + b[4] * A4 + b[2] * A2 + b[0] * eye
    R = np.linalg.solve(V - U, V + U)
    steps = s.astype(dtypes.int32)

    def square(i, R):
        return np.where((i < steps)[..., None, None], np.matmul(R, R), R)
    return lax.fori_loop(0, np.max(steps), square, R)


expm_p = numpy_primitive("scipy.linalg.expm", _expm_impl, _expm_composite)


def expm(A):
    """The matrix exponential of a (batch of) square matrix.

    >>> import numpy as onp
    >>> from s2s.scipy.linalg import expm
    >>> expm(onp.zeros((2, 2)))
    array([[1., 0.],
           [0., 1.]], dtype=float32)
    """
    shape = np.shape(A)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ValueError(f"expm: A must be a square matrix (or a batch of them), got shape {shape}")
    return expm_p.bind(A)


expm.primitive = expm_p
def_batch(expm)(lambda axes, A: expm(A))


def _expm_frechet(A, E):
    """The Frechet derivative of ``expm`` at ``A`` in direction ``E``: the upper right
    block of ``expm([[A, E], [0, A]])`` (Higham, "Functions of Matrices", 3.2).

    >>> import numpy as onp
    >>> float(_expm_frechet(onp.zeros((1, 1)), onp.ones((1, 1)))[0, 0])
    1.0
    """
    n = np.shape(A)[-1]
    A, E = np.broadcast_arrays(_floating(A, E), _floating(E, A))
    top = np.concatenate([A, E], axis=-1)
    bottom = np.concatenate([np.zeros_like(A), A], axis=-1)
    return expm(np.concatenate([top, bottom], axis=-2))[..., :n, n:]


def _expm_adjoint(A, G):
    """The adjoint of ``E -> _expm_frechet(A, E)`` applied to ``G``: ``_expm_frechet(A^H, G)``."""
    return _expm_frechet(np.conj(np.swapaxes(A, -1, -2)), G)


from s2s.core.primitive import register_namespace as _register_namespace  # noqa: E402
from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

# The tracing fallback records ``scipy_linalg.expm(...)`` (its staged loop needs the primitive).
_register_namespace("scipy_linalg", sys.modules[__name__])
_public_namespace(globals())
