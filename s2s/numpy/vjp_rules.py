"""Reverse-mode templates of NumPy-level functions.

They keep generated derivative source at the NumPy level (``np.dot``,
``np.sum``) instead of the lax operations those functions are built on.
"""
import s2s.numpy as np
from s2s.core.primitive import d, def_vjp

# Helpers the templates name (bound by the transformation).
unbroadcast = unreduce = reduced_count = dot_grad_lhs = dot_grad_rhs = None
matmul_grad_lhs = matmul_grad_rhs = None


@def_vjp(np.true_divide)
def _true_divide(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] / x2, x1)
    d[x2] = unbroadcast(-d[ans] * ans / x2, x2)


@def_vjp(np.power)
def _power(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * x2 * x1 ** (x2 - 1), x1)
    d[x2] = unbroadcast(d[ans] * ans * np.log(np.where(x1 == 0, 1, x1)), x2)


@def_vjp(np.positive)
def _positive(ans, x):
    d[x] = d[ans]


@def_vjp(np.dot)
def _dot(ans, a, b):
    d[a] = dot_grad_lhs(d[ans], a, b)
    d[b] = dot_grad_rhs(d[ans], a, b)


@def_vjp(np.matmul)
def _matmul(ans, a, b):
    d[a] = matmul_grad_lhs(d[ans], a, b)
    d[b] = matmul_grad_rhs(d[ans], a, b)


@def_vjp(np.sum)
def _sum(ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    d[a] = unreduce(d[ans], a, axis, keepdims, where)


@def_vjp(np.mean)
def _mean(ans, a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    d[a] = unreduce(d[ans] / reduced_count(a, axis, where, keepdims), a, axis, keepdims, where)


# ---------------------------------------------------------------------------
# Reductions, sorting and products whose adjoints need more than one line; the
# helpers are written on s2s.numpy (see _vjp_helpers) so derivative code stays
# differentiable.

from s2s.numpy._vjp_helpers import (  # noqa: E402
    cholesky_grad, cumprod_grad, cumsum_grad, det_grad, eigh_grad,
    eigvalsh_grad, einsum_grads, extremum_grad, inner_grad_a, inner_grad_b, inv_grad, masked,
    norm_grad, outer_grad_a, outer_grad_b, prod_grad, quantile_grad, quantile_q_grad,
    slogdet_grad, solve_grads, sort_grad, std_grad, svd_grad, tensordot_grad_a,
    tensordot_grad_b, var_grad, vdot_grad_a, vdot_grad_b, qr_grad, through_formula,
    through_formula_ct_g, through_formula_ct_x, einsum_spec, is_two_norm,
    einsum_many, einsum_many_grads, einsum_plan, concatenate_grads)
from s2s.core.primitive import def_zero_derivative  # noqa: E402

from s2s.core.primitive import abstractify  # noqa: E402
from s2s.numpy import _internal  # noqa: E402

from s2s.core import dtypes as _dtypes  # noqa: E402

# dtype arithmetic (result_type, canonicalize_dtype...) reads arrays only for their dtype.
def_zero_derivative(*[fn for name, fn in vars(_dtypes).items()
                      if callable(fn) and not name.startswith("_")
                      and getattr(fn, "__module__", "") == _dtypes.__name__])
def_zero_derivative(np.argmax, np.argmin, np.argsort, np.all, np.any, abstractify, _internal.aval,
                    _internal.shape, _internal.ndim, _internal.dtype, _internal.is_staged,
                    einsum_spec, is_two_norm, einsum_plan)


@def_vjp(_internal.asarray)
def _asarray(ans, x):
    d[x] = d[ans]


@def_vjp(_internal.concatenate)
def _internal_concatenate(ans, xs, axis):
    d[xs] = concatenate_grads(d[ans], xs, axis)


@def_vjp(np.cumsum)
def _cumsum(ans, a, axis=None, dtype=None, out=None):
    d[a] = cumsum_grad(d[ans], a, axis)


@def_vjp(np.cumprod)
def _cumprod(ans, a, axis=None, dtype=None, out=None):
    d[a] = cumprod_grad(d[ans], ans, a, axis)


@def_vjp(np.max, np.min)
def _extremum(ans, a, axis=None, out=None, keepdims=False, initial=None, where=None):
    d[a] = extremum_grad(d[ans], ans, a, axis, keepdims, where)


@def_vjp(np.prod)
def _prod(ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    d[a] = prod_grad(d[ans], a, axis, keepdims, initial, where)


@def_vjp(np.var)
def _var(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
         correction=None):
    d[a] = var_grad(d[ans], a, axis, ddof, keepdims, where, correction)


@def_vjp(np.std)
def _std(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
         correction=None):
    d[a] = std_grad(d[ans], ans, a, axis, ddof, keepdims, where, correction)


@def_vjp(np.sort)
def _sort(ans, a, axis=-1, kind=None, order=None, *, stable=None):
    d[a] = sort_grad(d[ans], a, axis)


@def_vjp(np.quantile)
def _quantile(ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, *, interpolation=None):
    d[a] = quantile_grad(d[ans], a, q, axis, method, keepdims)
    d[q] = quantile_q_grad(d[ans], a, q, axis, method, keepdims)


@def_vjp(np.percentile)
def _percentile(ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, interpolation=None):
    d[a] = quantile_grad(d[ans], a, np.true_divide(q, 100), axis, method, keepdims)
    d[q] = quantile_q_grad(d[ans], a, np.true_divide(q, 100), axis, method, keepdims) / 100


@def_vjp(np.median)
def _median(ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    d[a] = quantile_grad(d[ans], a, 0.5, axis, "linear", keepdims)


@def_vjp(np.tensordot)
def _tensordot(ans, a, b, axes=2):
    d[a] = tensordot_grad_a(d[ans], a, b, axes)
    d[b] = tensordot_grad_b(d[ans], a, b, axes)


@def_vjp(np.inner)
def _inner(ans, a, b):
    d[a] = inner_grad_a(d[ans], a, b)
    d[b] = inner_grad_b(d[ans], a, b)


@def_vjp(np.outer)
def _outer(ans, a, b, out=None):
    d[a] = outer_grad_a(d[ans], a, b)
    d[b] = outer_grad_b(d[ans], a, b)


@def_vjp(np.vdot)
def _vdot(ans, a, b):
    d[a] = vdot_grad_a(d[ans], a, b)
    d[b] = vdot_grad_b(d[ans], a, b)


@def_vjp(np.einsum)
def _einsum(ans, *operands, out=None, optimize=True, precision=None, preferred_element_type=None,
            dtype=None):
    d[operands] = einsum_grads(d[ans], operands)


# ---------------------------------------------------------------------------
# numpy.linalg.


@def_vjp(np.linalg.inv)
def _inv(ans, a):
    d[a] = inv_grad(d[ans], ans)


@def_vjp(np.linalg.solve)
def _solve(ans, a, b):
    grads = solve_grads(d[ans], a, b, ans)
    d[a] = grads[0]
    d[b] = grads[1]


@def_vjp(np.linalg.det)
def _det(ans, a):
    d[a] = det_grad(d[ans], ans, a)


@def_vjp(np.linalg.slogdet)
def _slogdet(ans, a):
    d[a] = slogdet_grad(d[ans], ans, a)


@def_vjp(np.linalg.cholesky)
def _cholesky(ans, a, *, upper=False):
    d[a] = cholesky_grad(d[ans], ans, upper)


@def_vjp(np.linalg.eigh)
def _eigh(ans, a, UPLO="L"):
    d[a] = eigh_grad(d[ans], ans, UPLO)


@def_vjp(np.linalg.eigvalsh)
def _eigvalsh(ans, a, UPLO="L"):
    d[a] = eigvalsh_grad(d[ans], a, UPLO)


@def_vjp(np.linalg.svd)
def _svd(ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    d[a] = svd_grad(d[ans], ans, a, full_matrices, compute_uv, hermitian)


@def_vjp(np.linalg.qr)
def _qr(ans, a, mode="reduced"):
    d[a] = qr_grad(d[ans], ans, a, mode)


@def_vjp(np.linalg.norm)
def _norm(ans, x, ord=None, axis=None, keepdims=False):
    d[x] = norm_grad(d[ans], ans, x, ord, axis, keepdims)


@def_vjp(through_formula)
def _through_formula(ans, g, x, formula, static):
    d[g] = through_formula_ct_g(d[ans], x, formula, static)
    d[x] = through_formula_ct_x(d[ans], g, x, formula, static)


@def_vjp(einsum_many)
def _einsum_many(ans, spec, g, others):
    grads = einsum_many_grads(d[ans], spec, g, others)
    d[g] = grads[0]
    d[others] = grads[1]


# sort's adjoint and tangent are permutations, piecewise constant in ``a``: each one's
# transpose is the other (second order through np.sort batches as one call).
from s2s.numpy._vjp_helpers import sort_tangent  # noqa: E402


@def_vjp(sort_grad)
def _sort_grad(ans, g, a, axis=-1):
    d[g] = sort_tangent(d[ans], a, axis)


@def_vjp(sort_tangent)
def _sort_tangent(ans, t, a, axis=-1):
    d[t] = sort_grad(d[ans], a, axis)
