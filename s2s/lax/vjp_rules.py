"""Reverse-mode templates (``vjp`` slot) of the lax primitives.

Each template is Python source the reverse transformation instantiates at a
call site (see ``s2s.transforms.templates``): ``ans`` is the result, the other
parameters mirror the primitive's wrapper, ``d[x]`` is the adjoint of ``x``.
``unbroadcast`` sums an adjoint back to its operand's shape; the transformation
drops it when the shapes are known to agree. Templates only use ``lax``
functions (never ``np``), so they work whatever NumPy module the user imported.

Adjoints that take more than a line or two call ``lax.vjp_helpers`` (see that
module); the helpers that are linear in the adjoint get templates of their own
at the end of this file, so that ``grad(grad(f))`` differentiates generated
code without reading the helpers' source.

Variadic primitives (``concatenate``, ``select_n``, ``sort``) name their first
eight operands: a template contribution must target a named operand (the
transformation drops contributions to a ``*args`` tuple), so the eighth
operand's helper raises when there are more.
"""
from s2s import lax
from s2s.core.primitive import d, def_batch, def_vjp, def_zero_derivative, Primitive
from s2s.lax import elementwise, vjp_helpers
from s2s.lax import linalg as _linalg  # noqa: F401  (lax.linalg below)

# Helpers the templates name (bound by the transformation, listed for linters).
unbroadcast = max_grad_share = None

# Zero derivative: comparisons, rounding, bit operations, integer results.
def_zero_derivative(
    lax.eq, lax.ne, lax.lt, lax.le, lax.gt, lax.ge, lax.sign, lax.floor, lax.ceil, lax.round,
    lax.is_finite, lax.bitwise_and, lax.bitwise_or, lax.bitwise_xor, lax.bitwise_not,
    lax.shift_left, lax.shift_right_logical, lax.shift_right_arithmetic, lax.population_count,
)


@def_vjp(lax.neg)
def _neg(ans, x):
    d[x] = -d[ans]


@def_vjp(lax.add)
def _add(ans, x, y):
    d[x] = unbroadcast(d[ans], x)
    d[y] = unbroadcast(d[ans], y)


@def_vjp(lax.sub)
def _sub(ans, x, y):
    d[x] = unbroadcast(d[ans], x)
    d[y] = unbroadcast(-d[ans], y)


@def_vjp(lax.mul)
def _mul(ans, x, y):
    d[x] = unbroadcast(d[ans] * y, x)
    d[y] = unbroadcast(d[ans] * x, y)


@def_vjp(lax.div)
def _div(ans, x, y):
    d[x] = unbroadcast(d[ans] / y, x)
    d[y] = unbroadcast(-d[ans] * ans / y, y)


@def_vjp(lax.pow)
def _pow(ans, x, y):
    d[x] = unbroadcast(d[ans] * y * lax.pow(x, y - 1), x)
    d[y] = unbroadcast(d[ans] * ans * lax.log(lax.vjp_helpers.where(lax.eq(x, 0), 1, x)), y)


@def_vjp(lax.integer_pow)
def _integer_pow(ans, x, y):
    if y == 0:
        d[x] = d[ans] * 0
    elif y == 1:
        d[x] = d[ans]
    elif y == 2:
        d[x] = d[ans] * 2 * x
    else:
        d[x] = d[ans] * y * lax.integer_pow(x, y - 1)


@def_vjp(lax.exp)
def _exp(ans, x):
    d[x] = d[ans] * ans


@def_vjp(lax.exp2)
def _exp2(ans, x):
    d[x] = d[ans] * ans * 0.6931471805599453


@def_vjp(lax.log)
def _log(ans, x):
    d[x] = d[ans] / x


@def_vjp(lax.log1p)
def _log1p(ans, x):
    d[x] = d[ans] / (1 + x)


@def_vjp(lax.expm1)
def _expm1(ans, x):
    d[x] = d[ans] * (ans + 1)


@def_vjp(lax.tanh)
def _tanh(ans, x):
    d[x] = d[ans] * (1 - ans * ans)


@def_vjp(lax.logistic)
def _logistic(ans, x):
    d[x] = d[ans] * ans * (1 - ans)


@def_vjp(lax.sin)
def _sin(ans, x):
    d[x] = d[ans] * lax.cos(x)


@def_vjp(lax.cos)
def _cos(ans, x):
    d[x] = -d[ans] * lax.sin(x)


@def_vjp(lax.tan)
def _tan(ans, x):
    d[x] = d[ans] * (1 + ans * ans)


@def_vjp(lax.asin)
def _asin(ans, x):
    d[x] = d[ans] / lax.sqrt(1 - x * x)


@def_vjp(lax.acos)
def _acos(ans, x):
    d[x] = -d[ans] / lax.sqrt(1 - x * x)


@def_vjp(lax.atan)
def _atan(ans, x):
    d[x] = d[ans] / (1 + x * x)


@def_vjp(lax.sinh)
def _sinh(ans, x):
    d[x] = d[ans] * lax.cosh(x)


@def_vjp(lax.cosh)
def _cosh(ans, x):
    d[x] = d[ans] * lax.sinh(x)


@def_vjp(lax.asinh)
def _asinh(ans, x):
    d[x] = d[ans] / lax.sqrt(x * x + 1)


@def_vjp(lax.acosh)
def _acosh(ans, x):
    d[x] = d[ans] / lax.sqrt(x * x - 1)


@def_vjp(lax.atanh)
def _atanh(ans, x):
    d[x] = d[ans] / (1 - x * x)


@def_vjp(lax.sqrt)
def _sqrt(ans, x):
    d[x] = d[ans] * 0.5 / ans


@def_vjp(lax.rsqrt)
def _rsqrt(ans, x):
    d[x] = d[ans] * -0.5 * ans / x


@def_vjp(lax.cbrt)
def _cbrt(ans, x):
    d[x] = d[ans] / (3 * ans * ans)


@def_vjp(lax.abs)
def _abs(ans, x):
    d[x] = lax.vjp_helpers.abs_grad(d[ans], x)


@def_vjp(lax.max)
def _max(ans, x, y):
    d[x] = unbroadcast(d[ans] * max_grad_share(x, y), x)
    d[y] = unbroadcast(d[ans] * max_grad_share(y, x), y)


@def_vjp(lax.min)
def _min(ans, x, y):
    d[x] = unbroadcast(d[ans] * max_grad_share(y, x), x)
    d[y] = unbroadcast(d[ans] * max_grad_share(x, y), y)


@def_vjp(lax.atan2)
def _atan2(ans, x, y):
    d[x] = unbroadcast(d[ans] * y / (x * x + y * y), x)
    d[y] = unbroadcast(-d[ans] * x / (x * x + y * y), y)


@def_vjp(lax.erf)
def _erf(ans, x):
    d[x] = d[ans] * 1.1283791670955126 * lax.exp(-x * x)


@def_vjp(lax.erfc)
def _erfc(ans, x):
    d[x] = -d[ans] * 1.1283791670955126 * lax.exp(-x * x)


@def_vjp(lax.erf_inv)
def _erf_inv(ans, x):
    d[x] = d[ans] * 0.886226925452758 * lax.exp(ans * ans)


@def_vjp(lax.lgamma)
def _lgamma(ans, x):
    d[x] = d[ans] * lax.digamma(x)


def_zero_derivative(lax.stop_gradient)


def_zero_derivative(
    lax.round, lax.bitcast_convert_type, lax.iota, lax.reduce_and, lax.reduce_or, lax.argmax,
    lax.argmin,
)


# ---------------------------------------------------------------------------
# Elementwise: complex numbers, rem, digamma.


@def_vjp(lax.complex)
def _complex(ans, x, y):
    d[x] = unbroadcast(lax.vjp_helpers.real_part(d[ans]), x)
    d[y] = unbroadcast(lax.neg(lax.vjp_helpers.imag_part(d[ans])), y)


@def_vjp(lax.conj)
def _conj(ans, x):
    d[x] = lax.vjp_helpers.conj_grad(d[ans], x)


@def_vjp(lax.real)
def _real(ans, x):
    d[x] = lax.vjp_helpers.real_grad(d[ans], x)


@def_vjp(lax.imag)
def _imag(ans, x):
    d[x] = lax.vjp_helpers.imag_grad(d[ans], x)


@def_vjp(lax.rem)
def _rem(ans, x, y):
    d[x] = unbroadcast(d[ans], x)
    d[y] = unbroadcast(-d[ans] * lax.vjp_helpers.trunc(lax.div(x, y)), y)


@def_vjp(lax.digamma)
def _digamma(ans, x):
    d[x] = d[ans] * lax.vjp_helpers.trigamma(x)


@def_vjp(lax.clamp)
def _clamp(ans, min, x, max):  # noqa: A002 (the wrapper's names)
    d[x] = lax.vjp_helpers.mask_grad(d[ans], lax.bitwise_and(lax.gt(x, min), lax.lt(x, max)))
    d[min] = unbroadcast(lax.vjp_helpers.mask_grad(
        d[ans], lax.bitwise_and(lax.gt(min, x), lax.lt(min, max))), min)
    d[max] = unbroadcast(lax.vjp_helpers.mask_grad(d[ans], lax.lt(max, x)), max)


# ---------------------------------------------------------------------------
# Structural.


@def_vjp(lax.convert_element_type)
def _convert_element_type(ans, operand, new_dtype):
    d[operand] = lax.vjp_helpers.convert_grad(d[ans], operand)


@def_vjp(lax.broadcast_in_dim)
def _broadcast_in_dim(ans, operand, shape, broadcast_dimensions):
    d[operand] = lax.vjp_helpers.broadcast_in_dim_transpose(d[ans], operand, broadcast_dimensions)


@def_vjp(lax.reshape)
def _reshape(ans, operand, new_sizes, dimensions=None):
    d[operand] = lax.vjp_helpers.reshape_transpose(d[ans], operand, dimensions)


@def_vjp(lax.squeeze, lax.expand_dims)
def _squeeze(ans, array, dimensions):
    d[array] = lax.vjp_helpers.reshape_to(d[ans], array)


@def_vjp(lax.transpose)
def _transpose(ans, operand, permutation):
    d[operand] = lax.vjp_helpers.transpose_grad(d[ans], permutation)


@def_vjp(lax.rev)
def _rev(ans, operand, dimensions):
    d[operand] = lax.rev(d[ans], dimensions=dimensions)


@def_vjp(lax.pad)
def _pad(ans, operand, padding_value, padding_config):
    d[operand] = lax.vjp_helpers.pad_transpose(d[ans], padding_config)
    d[padding_value] = lax.vjp_helpers.pad_value_grad(d[ans], padding_config)


@def_vjp(lax.concatenate)
def _concatenate(ans, x0, x1=None, x2=None, x3=None, x4=None, x5=None, x6=None, x7=None, *more,
                 dimension):
    d[x0] = lax.vjp_helpers.concatenate_part(d[ans], (), x0, dimension)
    d[x1] = lax.vjp_helpers.concatenate_part(d[ans], (x0,), x1, dimension)
    d[x2] = lax.vjp_helpers.concatenate_part(d[ans], (x0, x1), x2, dimension)
    d[x3] = lax.vjp_helpers.concatenate_part(d[ans], (x0, x1, x2), x3, dimension)
    d[x4] = lax.vjp_helpers.concatenate_part(d[ans], (x0, x1, x2, x3), x4, dimension)
    d[x5] = lax.vjp_helpers.concatenate_part(d[ans], (x0, x1, x2, x3, x4), x5, dimension)
    d[x6] = lax.vjp_helpers.concatenate_part(d[ans], (x0, x1, x2, x3, x4, x5), x6, dimension)
    d[x7] = lax.vjp_helpers.concatenate_part(d[ans], (x0, x1, x2, x3, x4, x5, x6), x7, dimension,
                                             more)


@def_vjp(lax.slice)
def _slice(ans, operand, start_indices, limit_indices, strides=None):
    d[operand] = lax.vjp_helpers.slice_transpose(d[ans], operand, start_indices, limit_indices, strides)


@def_vjp(lax.dynamic_slice)
def _dynamic_slice(ans, operand, start_indices, slice_sizes, *, allow_negative_indices=True):
    d[operand] = lax.vjp_helpers.dynamic_slice_transpose(d[ans], operand, start_indices,
                                                         allow_negative_indices)


@def_vjp(lax.dynamic_update_slice)
def _dynamic_update_slice(ans, operand, update, start_indices, *, allow_negative_indices=True):
    d[operand] = lax.vjp_helpers.dynamic_update_slice_operand_grad(d[ans], update, start_indices,
                                                                   allow_negative_indices)
    d[update] = lax.vjp_helpers.dynamic_slice_like(d[ans], update, start_indices,
                                                   allow_negative_indices)


@def_vjp(lax.select_n)
def _select_n(ans, which, c0, c1=None, c2=None, c3=None, c4=None, c5=None, c6=None, c7=None, *more):
    d[c0] = lax.vjp_helpers.select_n_part(d[ans], which, 0)
    d[c1] = lax.vjp_helpers.select_n_part(d[ans], which, 1)
    d[c2] = lax.vjp_helpers.select_n_part(d[ans], which, 2)
    d[c3] = lax.vjp_helpers.select_n_part(d[ans], which, 3)
    d[c4] = lax.vjp_helpers.select_n_part(d[ans], which, 4)
    d[c5] = lax.vjp_helpers.select_n_part(d[ans], which, 5)
    d[c6] = lax.vjp_helpers.select_n_part(d[ans], which, 6)
    d[c7] = lax.vjp_helpers.select_n_part(d[ans], which, 7, more)


@def_vjp(lax.gather)
def _gather(ans, operand, start_indices, dimension_numbers, slice_sizes, *, unique_indices=False,
            indices_are_sorted=False, mode=None, fill_value=None):
    d[operand] = lax.vjp_helpers.gather_transpose(d[ans], operand, start_indices, dimension_numbers, mode)


@def_vjp(lax.scatter_add)
def _scatter_add(ans, operand, scatter_indices, updates, dimension_numbers, *,
                 indices_are_sorted=False, unique_indices=False, mode=None):
    d[operand] = d[ans]
    d[updates] = lax.vjp_helpers.scatter_add_updates_grad(d[ans], scatter_indices, updates,
                                                          dimension_numbers, mode)


@def_vjp(lax.scatter)
def _scatter(ans, operand, scatter_indices, updates, dimension_numbers, *,
             indices_are_sorted=False, unique_indices=False, mode=None):
    d[operand] = lax.vjp_helpers.scatter_operand_grad(d[ans], operand, scatter_indices, updates,
                                                      dimension_numbers, mode)
    d[updates] = lax.vjp_helpers.scatter_updates_grad(d[ans], operand, scatter_indices, updates,
                                                      dimension_numbers, mode)


@def_vjp(lax.scatter_mul)
def _scatter_mul(ans, operand, scatter_indices, updates, dimension_numbers, *,
                 indices_are_sorted=False, unique_indices=False, mode=None):
    d[operand] = d[ans] * lax.scatter_mul(lax.vjp_helpers.ones_like(operand), scatter_indices, updates,
                                          dimension_numbers=dimension_numbers, mode=mode)
    d[updates] = lax.vjp_helpers.scatter_mul_updates_grad(d[ans], ans, operand, scatter_indices, updates,
                                                          dimension_numbers, mode, unique_indices)


@def_vjp(lax.scatter_min, lax.scatter_max)
def _scatter_extremal(ans, operand, scatter_indices, updates, dimension_numbers, *,
                      indices_are_sorted=False, unique_indices=False, mode=None):
    d[operand] = lax.vjp_helpers.scatter_extremal_operand_grad(d[ans], ans, operand, scatter_indices,
                                                               updates, dimension_numbers, mode)
    d[updates] = lax.vjp_helpers.scatter_extremal_updates_grad(d[ans], ans, operand, scatter_indices,
                                                               updates, dimension_numbers, mode)


# ---------------------------------------------------------------------------
# Reductions, cumulative reductions, sort.


@def_vjp(lax.reduce_sum)
def _reduce_sum(ans, operand, axes):
    d[operand] = lax.vjp_helpers.reduce_sum_transpose(d[ans], operand, axes)


@def_vjp(lax.reduce_max, lax.reduce_min)
def _reduce_chooser(ans, operand, axes):
    d[operand] = lax.vjp_helpers.reduce_chooser_grad(d[ans], operand, ans, axes)


@def_vjp(lax.reduce_prod)
def _reduce_prod(ans, operand, axes):
    d[operand] = lax.vjp_helpers.reduce_prod_grad(d[ans], operand, axes)


@def_vjp(lax.cumsum)
def _cumsum(ans, operand, axis=0, reverse=False):
    d[operand] = lax.vjp_helpers.cumsum_transpose(d[ans], axis, reverse)


@def_vjp(lax.cumprod)
def _cumprod(ans, operand, axis=0, reverse=False):
    d[operand] = lax.vjp_helpers.cumprod_grad(d[ans], operand, ans, axis, reverse)


@def_vjp(lax.cummax, lax.cummin)
def _cumextremum(ans, operand, axis=0, reverse=False):
    d[operand] = lax.vjp_helpers.cumextremum_grad(d[ans], operand, ans, axis, reverse)


@def_vjp(lax.sort)
def _sort(ans, x0, x1=None, x2=None, x3=None, x4=None, x5=None, x6=None, x7=None, *more,
          dimension=-1, is_stable=True, num_keys=1):
    perm = lax.vjp_helpers.sort_permutation((x0, x1, x2, x3, x4, x5, x6, x7), dimension, num_keys,
                                            more)
    d[x0] = lax.vjp_helpers.unsort(d[ans], 0, perm, dimension, x0)
    d[x1] = lax.vjp_helpers.unsort(d[ans], 1, perm, dimension, x1)
    d[x2] = lax.vjp_helpers.unsort(d[ans], 2, perm, dimension, x2)
    d[x3] = lax.vjp_helpers.unsort(d[ans], 3, perm, dimension, x3)
    d[x4] = lax.vjp_helpers.unsort(d[ans], 4, perm, dimension, x4)
    d[x5] = lax.vjp_helpers.unsort(d[ans], 5, perm, dimension, x5)
    d[x6] = lax.vjp_helpers.unsort(d[ans], 6, perm, dimension, x6)
    d[x7] = lax.vjp_helpers.unsort(d[ans], 7, perm, dimension, x7)


@def_vjp(lax.reduce_window_sum)
def _reduce_window_sum(ans, x, *, window_dimensions, window_strides=None, padding="VALID",
                       base_dilation=None, window_dilation=None):
    d[x] = lax.vjp_helpers.reduce_window_sum_transpose(
        d[ans], x, window_dimensions, window_strides, padding, base_dilation, window_dilation)


@def_vjp(lax.reduce_window_max)
def _reduce_window_max(ans, x, *, window_dimensions, window_strides=None, padding="VALID",
                       base_dilation=None, window_dilation=None):
    d[x] = lax.vjp_helpers.reduce_window_chooser_grad(
        d[ans], x, ans, "max", window_dimensions, window_strides, padding, base_dilation,
        window_dilation)


@def_vjp(lax.reduce_window_min)
def _reduce_window_min(ans, x, *, window_dimensions, window_strides=None, padding="VALID",
                       base_dilation=None, window_dilation=None):
    d[x] = lax.vjp_helpers.reduce_window_chooser_grad(
        d[ans], x, ans, "min", window_dimensions, window_strides, padding, base_dilation,
        window_dilation)


@def_vjp(lax.reduce_window)
def _reduce_window(ans, operand, init_value, computation, window_dimensions, window_strides=None,
                   padding="VALID", base_dilation=None, window_dilation=None):
    d[operand] = lax.vjp_helpers.reduce_window_operand_grad(
        d[ans], operand, init_value, ans, computation, window_dimensions, window_strides, padding,
        base_dilation, window_dilation)
    d[init_value] = lax.vjp_helpers.reduce_window_init_grad(
        d[ans], operand, init_value, ans, computation, window_dimensions, window_strides, padding,
        base_dilation, window_dilation)


# ---------------------------------------------------------------------------
# Contractions.


@def_vjp(lax.dot_general)
def _dot_general(ans, lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    d[lhs] = lax.vjp_helpers.dot_general_transpose_lhs(d[ans], lhs, rhs, dimension_numbers,
                                                       precision, preferred_element_type)
    d[rhs] = lax.vjp_helpers.dot_general_transpose_rhs(d[ans], lhs, rhs, dimension_numbers,
                                                       precision, preferred_element_type)


@def_vjp(lax.conv_general_dilated)
def _conv_general_dilated(ans, lhs, rhs, window_strides, padding, lhs_dilation=None,
                          rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                          batch_group_count=1, precision=None, preferred_element_type=None):
    d[lhs] = lax.vjp_helpers.conv_transpose_lhs(
        d[ans], lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type)
    d[rhs] = lax.vjp_helpers.conv_transpose_rhs(
        d[ans], lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type)


# The wrappers of conv_general_dilated (s2s.lax.convolution) take its adjoints directly:
# derived from their source they would be library code that vmap runs once per example.


@def_vjp(lax.conv)
def _conv(ans, lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    d[lhs] = lax.vjp_helpers.conv_transpose_lhs(d[ans], lhs, rhs, window_strides, padding, None,
                                                None, None, 1, 1, precision, preferred_element_type)
    d[rhs] = lax.vjp_helpers.conv_transpose_rhs(d[ans], lhs, rhs, window_strides, padding, None,
                                                None, None, 1, 1, precision, preferred_element_type)


@def_vjp(lax.conv_with_general_padding)
def _conv_with_general_padding(ans, lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                               precision=None, preferred_element_type=None):
    d[lhs] = lax.vjp_helpers.conv_transpose_lhs(
        d[ans], lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, None, 1, 1,
        precision, preferred_element_type)
    d[rhs] = lax.vjp_helpers.conv_transpose_rhs(
        d[ans], lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, None, 1, 1,
        precision, preferred_element_type)


@def_vjp(lax.conv_transpose)
def _conv_transpose(ans, lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                    transpose_kernel=False, precision=None, preferred_element_type=None,
                    use_consistent_padding=False):
    d[lhs] = lax.vjp_helpers.conv_transpose_grad_lhs(
        d[ans], lhs, rhs, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
        precision, preferred_element_type, use_consistent_padding)
    d[rhs] = lax.vjp_helpers.conv_transpose_grad_rhs(
        d[ans], lhs, rhs, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
        precision, preferred_element_type, use_consistent_padding)


# ---------------------------------------------------------------------------
# Linear algebra (s2s.lax.linalg).


@def_vjp(lax.linalg.cholesky)
def _cholesky(ans, a, *, lower=True):
    d[a] = lax.vjp_helpers.cholesky_grad(d[ans], ans, lower)


@def_vjp(lax.linalg.triangular_solve)
def _triangular_solve(ans, a, b, *, left_side=False, lower=False, transpose_a=False,
                      conjugate_a=False, unit_diagonal=False):
    d[a] = lax.vjp_helpers.triangular_solve_grad_a(d[ans], a, ans, left_side, lower, transpose_a,
                                                   conjugate_a, unit_diagonal)
    d[b] = lax.vjp_helpers.triangular_solve_grad_b(d[ans], a, left_side, lower, transpose_a,
                                                   conjugate_a, unit_diagonal)


@def_vjp(lax.linalg.lu)
def _lu(ans, a):
    d[a] = lax.vjp_helpers.lu_grad(d[ans], ans)


@def_vjp(lax.linalg.qr)
def _qr(ans, a, *, full_matrices=False):
    d[a] = lax.vjp_helpers.qr_grad(d[ans], ans, a, full_matrices)


@def_vjp(lax.linalg.svd)
def _svd(ans, a, *, full_matrices=True, compute_uv=True):
    d[a] = lax.vjp_helpers.svd_grad(d[ans], a, ans, full_matrices, compute_uv)


@def_vjp(lax.linalg.eigh)
def _eigh(ans, a, *, lower=True):
    d[a] = lax.vjp_helpers.eigh_grad(d[ans], ans, lower)


# ---------------------------------------------------------------------------
# The helpers' own rules, for derivatives of derivative code.

H = vjp_helpers

def_zero_derivative(
    H.shape_of, H.dtype_of, H.is_inexact, H.is_complex, H.inverse_permutation, H.canonical_axes,
    H.canonical_axis, H.dilate_shape, H.window_params, H.conv_vjp_lhs_padding,
    H.conv_vjp_rhs_padding, H.window_offsets, H.dot_transpose_params,
    H.swapped_dot_dimension_numbers, H.conv_params, H.conv_lhs_transpose_params,
    H.conv_rhs_transpose_params, H.gather_for_scatter, H.scatter_for_gather, H.along_axis_dnums,
    H.zeros, H.full, H.zeros_like, H.ones_like, H.trunc, H.padding_mask, H.sort_permutation,
    H.full_indices, H._scatter_winners, H._scatter_extremal_coefficients, H._window_hits,
    H._window_slices, H._extremum_identity, H._computation_kind, H.eye, H._tri_mask,
)


# ``abs_grad``/``abs_tangent`` are elementwise in both operands (same unbatched shape):
# broadcasting batches them. (abs_grad's jvp and vjp templates are in helper_rules.)
def_batch(H.abs_grad)(lambda axes, g, x: H.abs_grad(g, x))
def_batch(H.abs_tangent)(lambda axes, t, x: H.abs_tangent(t, x))


@def_vjp(H.convert_grad)
def _convert_grad(ans, g, x):
    d[g] = lax.vjp_helpers.convert_grad(d[ans], g)


@def_vjp(H.mask_grad)
def _mask_grad(ans, g, mask):
    d[g] = lax.vjp_helpers.mask_grad(d[ans], mask)


@def_vjp(H.where)
def _where(ans, condition, x, y):
    d[x] = unbroadcast(lax.vjp_helpers.mask_grad(d[ans], condition), x)
    d[y] = unbroadcast(lax.vjp_helpers.mask_grad(d[ans], lax.bitwise_not(condition)), y)


@def_vjp(H.broadcast_to)
def _broadcast_to(ans, x, shape):
    d[x] = lax.vjp_helpers.sum_to_shape(d[ans], lax.vjp_helpers.shape_of(x))


@def_vjp(H.sum_to_shape)
def _sum_to_shape(ans, g, shape):
    d[g] = lax.vjp_helpers.broadcast_to(d[ans], lax.vjp_helpers.shape_of(g))


@def_vjp(H.broadcast_in_dim_transpose)
def _broadcast_in_dim_transpose(ans, g, x, broadcast_dimensions):
    d[g] = lax.broadcast_in_dim(d[ans], shape=lax.vjp_helpers.shape_of(g),
                                broadcast_dimensions=broadcast_dimensions)


@def_vjp(H.reshape_to)
def _reshape_to(ans, g, x):
    d[g] = lax.vjp_helpers.reshape_to(d[ans], g)


@def_vjp(H.reshape_transpose)
def _reshape_transpose(ans, g, x, dimensions=None):
    d[g] = lax.reshape(d[ans], new_sizes=lax.vjp_helpers.shape_of(g), dimensions=dimensions)


@def_vjp(H.transpose_grad)
def _transpose_grad(ans, g, permutation):
    d[g] = lax.transpose(d[ans], permutation=permutation)


@def_vjp(H.pad_transpose)
def _pad_transpose(ans, g, padding_config):
    d[g] = lax.pad(d[ans], 0, padding_config=padding_config)


@def_vjp(H.pad_value_grad)
def _pad_value_grad(ans, g, padding_config):
    d[g] = d[ans] * lax.vjp_helpers.padding_mask(g, padding_config)


@def_vjp(H.concatenate_part)
def _concatenate_part(ans, g, before, x, dimension):
    d[g] = lax.vjp_helpers.concatenate_part_transpose(d[ans], g, before, x, dimension)


@def_vjp(H.slice_transpose)
def _slice_transpose(ans, g, x, start_indices, limit_indices, strides=None):
    d[g] = lax.slice(d[ans], start_indices=start_indices, limit_indices=limit_indices,
                     strides=strides)


@def_vjp(H.dynamic_slice_transpose)
def _dynamic_slice_transpose(ans, g, x, start_indices, allow_negative_indices=True):
    d[g] = lax.vjp_helpers.dynamic_slice_like(d[ans], g, start_indices, allow_negative_indices)


@def_vjp(H.dynamic_slice_like)
def _dynamic_slice_like(ans, h, g, start_indices, allow_negative_indices=True):
    d[h] = lax.vjp_helpers.dynamic_slice_transpose(d[ans], h, start_indices, allow_negative_indices)


@def_vjp(H.dynamic_update_slice_operand_grad)
def _dynamic_update_slice_operand_grad(ans, g, update, start_indices, allow_negative_indices=True):
    d[g] = lax.vjp_helpers.dynamic_update_slice_operand_grad(d[ans], update, start_indices,
                                                             allow_negative_indices)


@def_vjp(H.select_n_part)
def _select_n_part(ans, g, which, index):
    d[g] = lax.vjp_helpers.select_n_part(d[ans], which, index)


@def_vjp(H.gather_transpose)
def _gather_transpose(ans, g, operand, indices, dimension_numbers, mode=None,
                      indices_are_sorted=False, unique_indices=False):
    d[g] = lax.vjp_helpers.scatter_add_updates_grad(
        d[ans], indices, g, lax.vjp_helpers.scatter_for_gather(dimension_numbers), mode)


@def_vjp(H.scatter_add_updates_grad)
def _scatter_add_updates_grad(ans, g, indices, updates, dimension_numbers, mode=None):
    d[g] = lax.vjp_helpers.scatter_add_like(d[ans], g, indices, updates, dimension_numbers, mode)


@def_vjp(H.scatter_add_like)
def _scatter_add_like(ans, h, g, indices, updates, dimension_numbers, mode=None):
    d[h] = lax.vjp_helpers.scatter_add_updates_grad(d[ans], indices, h, dimension_numbers, mode)


@def_vjp(H.scatter_operand_grad)
def _scatter_operand_grad(ans, g, operand, indices, updates, dimension_numbers, mode=None):
    d[g] = lax.vjp_helpers.scatter_operand_grad(d[ans], operand, indices, updates,
                                                dimension_numbers, mode)


@def_vjp(H.scatter_updates_grad)
def _scatter_updates_grad(ans, g, operand, indices, updates, dimension_numbers, mode=None):
    d[g] = lax.vjp_helpers.scatter_updates_grad_transpose(d[ans], g, operand, indices, updates,
                                                          dimension_numbers, mode)


@def_vjp(H.reduce_sum_transpose)
def _reduce_sum_transpose(ans, g, x, axes):
    d[g] = lax.reduce_sum(d[ans], axes=axes)


@def_vjp(H.cumsum_transpose)
def _cumsum_transpose(ans, g, axis, reverse=False):
    d[g] = lax.cumsum(d[ans], axis=axis, reverse=reverse)


@def_vjp(H.reduce_window_sum_transpose)
def _reduce_window_sum_transpose(ans, g, x, window_dimensions, window_strides=None,
                                 padding="VALID", base_dilation=None, window_dilation=None):
    d[g] = lax.reduce_window_sum(d[ans], window_dimensions=window_dimensions,
                                 window_strides=window_strides, padding=padding,
                                 base_dilation=base_dilation, window_dilation=window_dilation)


# The conv adjoints: bilinear, so each operand's adjoint is the convolution or the other
# adjoint helper, with the result's adjoint in the place of that operand.


@def_vjp(H.conv_transpose_lhs)
def _conv_transpose_lhs(ans, g, lhs, rhs, window_strides, padding, lhs_dilation=None,
                        rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                        batch_group_count=1, precision=None, preferred_element_type=None):
    d[g] = lax.conv_general_dilated(
        d[ans], rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
    d[rhs] = lax.vjp_helpers.conv_transpose_rhs(
        g, d[ans], rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type)


@def_vjp(H.conv_transpose_rhs)
def _conv_transpose_rhs(ans, g, lhs, rhs, window_strides, padding, lhs_dilation=None,
                        rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                        batch_group_count=1, precision=None, preferred_element_type=None):
    d[g] = lax.conv_general_dilated(
        lhs, d[ans], window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type)
    d[lhs] = lax.vjp_helpers.conv_transpose_lhs(
        g, lhs, d[ans], window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type)


@def_vjp(H.conv_transpose_grad_lhs)
def _conv_transpose_grad_lhs(ans, g, lhs, rhs, strides, padding, rhs_dilation=None,
                             dimension_numbers=None, transpose_kernel=False, precision=None,
                             preferred_element_type=None, use_consistent_padding=False):
    d[g] = lax.conv_transpose(d[ans], rhs, strides, padding, rhs_dilation, dimension_numbers,
                              transpose_kernel, precision, preferred_element_type,
                              use_consistent_padding)
    d[rhs] = lax.vjp_helpers.conv_transpose_grad_rhs(
        g, d[ans], rhs, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
        precision, preferred_element_type, use_consistent_padding)


@def_vjp(H.conv_transpose_grad_rhs)
def _conv_transpose_grad_rhs(ans, g, lhs, rhs, strides, padding, rhs_dilation=None,
                             dimension_numbers=None, transpose_kernel=False, precision=None,
                             preferred_element_type=None, use_consistent_padding=False):
    d[g] = lax.conv_transpose(lhs, d[ans], strides, padding, rhs_dilation, dimension_numbers,
                              transpose_kernel, precision, preferred_element_type,
                              use_consistent_padding)
    d[lhs] = lax.vjp_helpers.conv_transpose_grad_lhs(
        g, lhs, d[ans], strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
        precision, preferred_element_type, use_consistent_padding)


def _mark_elementwise():
    """Elementwise primitives keep their operands' (broadcast) shape."""
    for value in vars(elementwise).values():
        if isinstance(value, Primitive):
            value.elementwise = True


_mark_elementwise()
