"""Forward-mode templates (``jvp`` slot) of NumPy-level functions and primitives.

Mirrors ``vjp_rules.py``: ``d[ans]`` is the result's tangent, built from the
operands' tangents ``d[x]`` (absent operands are a symbolic zero, see
``s2s.transforms.templates``). Linear functions apply themselves to the tangent;
products are sums of one term per operand. Functions without a template here get
their tangent by transposing their vjp template (the fallback of
``s2s.transforms.forward``), or, for composites with source, by transforming it.
"""
import s2s.numpy as np
from s2s.core.primitive import d, def_jvp
from s2s.numpy import _internal
from s2s.numpy._linalg_jvp import (
    cholesky_tangent, eigh_tangent, eigvalsh_tangent, norm_tangent, slogdet_tangent, solve_tangent_a,
    trace_solve)
from s2s.numpy._linalg_jvp import (
    cholesky_tangent, eigh_tangent, eigvalsh_tangent, norm_tangent, qr_tangent, slogdet_tangent,
    solve_tangent_a, svd_tangent, trace_solve)
from s2s.numpy._vjp_helpers import through_formula, through_formula_jvp

# Helpers the templates name (bound by the transformation, listed for linters).
broadcast_like = materialize = None


@def_jvp(np.true_divide)
def _true_divide(ans, x1, x2):
    d[ans] = d[x1] / x2 - d[x2] * ans / x2


@def_jvp(np.power)
def _power(ans, x1, x2):
    d[ans] = d[x1] * x2 * x1 ** (x2 - 1) + d[x2] * ans * np.log(np.where(x1 == 0, 1, x1))


@def_jvp(np.positive, _internal.asarray)
def _positive(ans, x):
    d[ans] = d[x]


@def_jvp(np.square)
def _square(ans, x):
    d[ans] = d[x] * 2 * x


@def_jvp(np.dot)
def _dot(ans, a, b):
    d[ans] = np.dot(d[a], b) + np.dot(a, d[b])


@def_jvp(np.matmul)
def _matmul(ans, a, b):
    d[ans] = np.matmul(d[a], b) + np.matmul(a, d[b])


@def_jvp(np.outer)
def _outer(ans, a, b, out=None):
    d[ans] = np.outer(d[a], b) + np.outer(a, d[b])


@def_jvp(np.inner)
def _inner(ans, a, b):
    d[ans] = np.inner(d[a], b) + np.inner(a, d[b])


@def_jvp(np.tensordot)
def _tensordot(ans, a, b, axes=2):
    d[ans] = np.tensordot(d[a], b, axes) + np.tensordot(a, d[b], axes)


@def_jvp(np.sum)
def _sum(ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    d[ans] = np.sum(d[a], axis=axis, dtype=dtype, keepdims=keepdims, where=where)


@def_jvp(np.mean)
def _mean(ans, a, axis=None, dtype=None, out=None, keepdims=False, where=None):
    d[ans] = np.mean(d[a], axis=axis, dtype=dtype, keepdims=keepdims, where=where)


@def_jvp(np.cumsum)
def _cumsum(ans, a, axis=None, dtype=None, out=None):
    d[ans] = np.cumsum(d[a], axis=axis, dtype=dtype)


@def_jvp(np.where)
def _where(ans, condition, x=None, y=None, /, *, size=None, fill_value=None):
    d[ans] = np.where(condition, materialize(d[x], x), materialize(d[y], y))


@def_jvp(np.reshape)
def _reshape(ans, a, newshape=None, order="C", *, shape=None, copy=None):
    d[ans] = np.reshape(d[a], np.shape(ans))


@def_jvp(np.ravel)
def _ravel(ans, a, order="C"):
    d[ans] = np.ravel(d[a], order)


@def_jvp(np.transpose)
def _transpose(ans, a, axes=None):
    d[ans] = np.transpose(d[a], axes)


@def_jvp(np.squeeze)
def _squeeze(ans, a, axis=None):
    d[ans] = np.squeeze(d[a], axis)


@def_jvp(np.expand_dims)
def _expand_dims(ans, a, axis):
    d[ans] = np.expand_dims(d[a], axis)


@def_jvp(np.swapaxes)
def _swapaxes(ans, a, axis1, axis2):
    d[ans] = np.swapaxes(d[a], axis1, axis2)


@def_jvp(np.moveaxis)
def _moveaxis(ans, a, source, destination):
    d[ans] = np.moveaxis(d[a], source, destination)


@def_jvp(np.broadcast_to)
def _broadcast_to(ans, array, shape):
    d[ans] = np.broadcast_to(d[array], shape)


@def_jvp(np.stack)
def _stack(ans, arrays, axis=0, dtype=None):
    d[ans] = np.stack(d[arrays], axis)


@def_jvp(np.concatenate)
def _concatenate(ans, arrays, axis=0, dtype=None):
    d[ans] = np.concatenate(d[arrays], axis)


@def_jvp(np.take)
def _take(ans, a, indices, axis=None, out=None, mode=None, unique_indices=False,
          indices_are_sorted=False, fill_value=None):
    d[ans] = np.take(d[a], indices, axis, mode=mode, fill_value=fill_value)


@def_jvp(np.asarray, np.asanyarray)
def _asarray(ans, a, dtype=None, order=None, *args, **kwargs):
    d[ans] = np.asarray(d[a], np.result_type(ans))


@def_jvp(np.array)
def _array(ans, object, dtype=None, copy=True, order="K", ndmin=0):  # noqa: A002 (NumPy's name)
    d[ans] = np.reshape(np.array(d[object], np.result_type(ans)), np.shape(ans))


@def_jvp(np.copy)
def _copy(ans, a, order="K"):
    d[ans] = np.copy(d[a])


@def_jvp(np.tril)
def _tril(ans, m, k=0):
    d[ans] = np.tril(d[m], k)


@def_jvp(np.triu)
def _triu(ans, m, k=0):
    d[ans] = np.triu(d[m], k)


@def_jvp(through_formula)
def _through_formula(ans, g, x, formula, static):
    d[ans] = through_formula_jvp(g, x, formula, static, materialize(d[g], g), materialize(d[x], x))


# ---------------------------------------------------------------------------
# Reductions, sorting, quantiles, clip, vdot, einsum (forward templates transposing the
# adjoints of vjp_rules.py: the same ties, masks and zero handling).

from s2s.core.primitive import def_batch  # noqa: E402
from s2s.lax.jvp_rules import along_axes_batch  # noqa: E402
from s2s.numpy._vjp_helpers import (  # noqa: E402
    cumprod_tangent, einsum_many, einsum_many_others_tangent, einsum_more_tangent, einsum_tangent,
    extremum_tangent, prod_tangent,
    quantile_q_tangent, quantile_tangent, sort_tangent, std_tangent, var_tangent)

# Under jacfwd the tangent is batched and the primal values are not: one call on the
# stacked examples (by source, each call would record the helper anew).
def_batch(extremum_tangent)(along_axes_batch(extremum_tangent, ("t", "ans", "a"), "a", "axis", ("where",)))
def_batch(prod_tangent)(along_axes_batch(prod_tangent, ("t", "ans", "a"), "a", "axis", ("where",)))
def_batch(var_tangent)(along_axes_batch(var_tangent, ("t", "a"), "a", "axis", ("where",)))
def_batch(std_tangent)(along_axes_batch(std_tangent, ("t", "ans", "a"), "a", "axis", ("where",)))


@def_jvp(np.max, np.min)
def _extremum(ans, a, axis=None, out=None, keepdims=False, initial=None, where=None):
    d[ans] = extremum_tangent(d[a], ans, a, axis=axis, keepdims=keepdims, where=where)


@def_jvp(np.prod)
def _prod(ans, a, axis=None, dtype=None, out=None, keepdims=False, initial=None, where=None):
    d[ans] = prod_tangent(d[a], ans, a, axis=axis, keepdims=keepdims, initial=initial, where=where)


@def_jvp(np.var)
def _var(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
         correction=None):
    d[ans] = var_tangent(d[a], a, axis=axis, ddof=ddof, keepdims=keepdims, where=where,
                          correction=correction)


@def_jvp(np.std)
def _std(ans, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False, *, where=None,
         correction=None):
    d[ans] = std_tangent(d[a], ans, a, axis=axis, ddof=ddof, keepdims=keepdims, where=where,
                          correction=correction)


@def_jvp(np.cumprod)
def _cumprod(ans, a, axis=None, dtype=None, out=None):
    d[ans] = cumprod_tangent(d[a], ans, a, axis)


@def_jvp(np.sort)
def _sort(ans, a, axis=-1, kind=None, order=None, *, stable=None):
    d[ans] = sort_tangent(d[a], a, axis=axis)


@def_jvp(np.quantile)
def _quantile(ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
              keepdims=False, *, interpolation=None):
    d[ans] = quantile_tangent(d[a], a, q, axis=axis, method=method, keepdims=keepdims) \
        + quantile_q_tangent(d[q], a, q, axis=axis, method=method, keepdims=keepdims)


@def_jvp(np.percentile)
def _percentile(ans, a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, interpolation=None):
    d[ans] = quantile_tangent(d[a], a, np.true_divide(q, 100), axis=axis, method=method,
                               keepdims=keepdims) \
        + quantile_q_tangent(d[q] / 100, a, np.true_divide(q, 100), axis=axis, method=method,
                             keepdims=keepdims)


@def_jvp(np.median)
def _median(ans, a, axis=None, out=None, overwrite_input=False, keepdims=False):
    d[ans] = quantile_tangent(d[a], a, 0.5, axis=axis, keepdims=keepdims)


@def_jvp(np.clip)
def _clip(ans, a, a_min=None, a_max=None, *, min=None, max=None):  # noqa: A002 (NumPy's names)
    d[ans] = np.where(a == ans, d[a], 0) + broadcast_like(np.where(a < a_min, d[a_min], 0), ans) \
        + broadcast_like(np.where(a > a_max, d[a_max], 0), ans) \
        + broadcast_like(np.where(a < min, d[min], 0), ans) + broadcast_like(np.where(a > max, d[max], 0), ans)


@def_jvp(np.vdot)
def _vdot(ans, a, b):
    d[ans] = np.vdot(d[a], b) + np.vdot(a, d[b])


@def_jvp(np.einsum)
def _einsum(ans, o0, o1=None, o2=None, o3=None, o4=None, o5=None, o6=None, o7=None, *more, out=None,
            optimize=True, precision=None, preferred_element_type=None, dtype=None):
    ops = (o0, o1, o2, o3, o4, o5, o6, o7) + more  # every term contracts all of them
    d[ans] = einsum_tangent(d[o0], 0, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o1], 1, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o2], 2, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o3], 3, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o4], 4, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o5], 5, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o6], 6, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_tangent(d[o7], 7, ops, precision=precision,
                            preferred_element_type=preferred_element_type, dtype=dtype) \
        + einsum_more_tangent(d[more], ops, precision=precision,
                              preferred_element_type=preferred_element_type, dtype=dtype)


@def_jvp(einsum_many)
def _einsum_many(ans, spec, g, others):
    d[ans] = einsum_many(spec, d[g], others) + einsum_many_others_tangent(d[others], ans, spec, g, others)


# ---------------------------------------------------------------------------
# numpy.linalg: the standard forward rules (helpers in s2s.numpy._linalg_jvp, the
# factorizations' in s2s.lax.linalg_jvp).


@def_jvp(np.linalg.inv)
def _inv(ans, a):
    d[ans] = -np.matmul(np.matmul(ans, d[a]), ans)


@def_jvp(np.linalg.solve)
def _solve(ans, a, b):
    d[ans] = np.linalg.solve(a, d[b]) + solve_tangent_a(d[a], a, b, ans)


@def_jvp(np.linalg.det)
def _det(ans, a):
    d[ans] = ans * trace_solve(a, d[a])


@def_jvp(np.linalg.slogdet)
def _slogdet(ans, a):
    d[ans] = slogdet_tangent(d[a], a, ans)


@def_jvp(np.linalg.cholesky)
def _cholesky(ans, a, *, upper=False):
    d[ans] = cholesky_tangent(d[a], ans, upper)


@def_jvp(np.linalg.eigh)
def _eigh(ans, a, UPLO="L"):
    d[ans] = eigh_tangent(d[a], ans, UPLO)


@def_jvp(np.linalg.eigvalsh)
def _eigvalsh(ans, a, UPLO="L"):
    d[ans] = eigvalsh_tangent(d[a], a, UPLO)


@def_jvp(np.linalg.qr)
def _qr(ans, a, mode="reduced"):
    d[ans] = qr_tangent(d[a], ans, a, mode)


@def_jvp(np.linalg.svd)
def _svd(ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    d[ans] = svd_tangent(d[a], ans, a, full_matrices, compute_uv, hermitian)


@def_jvp(np.linalg.norm)
def _norm(ans, x, ord=None, axis=None, keepdims=False):  # noqa: A002 (NumPy's name)
    d[ans] = norm_tangent(d[x], ans, x, ord, axis, keepdims)


# sort's adjoint and tangent are linear in their first operand and piecewise constant in
# ``a`` (see their vjp templates).
from s2s.numpy._vjp_helpers import sort_grad  # noqa: E402


@def_jvp(sort_grad)
def _sort_grad(ans, g, a, axis=-1):
    d[ans] = sort_grad(d[g], a, axis)


@def_jvp(sort_tangent)
def _sort_tangent(ans, t, a, axis=-1):
    d[ans] = sort_tangent(d[t], a, axis)
