"""Second order through the adjoint helpers: ``jvp`` and ``vjp`` templates of the
``s2s.lax.vjp_helpers`` that the lax reverse-mode templates call and that are not mere
transposes of a primitive (those carry theirs in ``vjp_rules``).

Without a template, forward or reverse mode of such a helper is generated from its
source, and vmap runs that generated code once per example: ``hessian`` (vmap of
jvp of grad) and ``jacrev(grad)`` (vmap of vjp of grad) then loop over basis vectors.
Each template here is written on primitives and on helpers vmap batches as a whole.

Every helper here is linear in its adjoint ``g``; its other operands enter through
coefficients. Where those are piecewise constant (ties of min/max, the element a window
chooses) their derivative is zero and the tangent is the helper applied to ``d[g]``;
products (``scatter_mul``, a windowed product) add the coefficients' own derivatives.
The templates' first parameter is the helper's result, ``out`` (some helpers have an
operand named ``ans``: the primal result of the primitive being differentiated).
"""
import inspect

from s2s import lax
from s2s.core.primitive import d, def_batch, def_jvp, def_vjp
from s2s.lax import vjp_helpers as H
from s2s.lax.jvp_rules import along_axes_batch

materialize = None  # bound by the forward transformation (see s2s.transforms.templates)


# ---------------------------------------------------------------------------
# scatter_mul: the updates' adjoint is g * operand at the windows (unique indices), else
# g * ans / updates there: bilinear in g and the factor it is weighed by.


@def_jvp(H.scatter_mul_updates_grad)
def _scatter_mul_updates_grad_jvp(out, g, ans, operand, indices, updates, dimension_numbers,
                                  mode=None, unique_indices=False):
    if unique_indices:
        d[out] = lax.vjp_helpers.scatter_add_updates_grad(d[g] * operand + g * d[operand],
                                                          indices, updates, dimension_numbers, mode)
    else:
        d[out] = lax.vjp_helpers.scatter_add_updates_grad(d[g] * ans + g * d[ans], indices, updates,
                                                          dimension_numbers, mode) / updates \
            - out * d[updates] / updates


@def_vjp(H.scatter_mul_updates_grad)
def _scatter_mul_updates_grad_vjp(out, g, ans, operand, indices, updates, dimension_numbers,
                                  mode=None, unique_indices=False):
    if unique_indices:
        spread = lax.vjp_helpers.scatter_add_like(d[out], g, indices, updates, dimension_numbers, mode)
        d[g] = spread * operand
        d[operand] = spread * g
    else:
        spread = lax.vjp_helpers.scatter_add_like(d[out] / updates, g, indices, updates,
                                                  dimension_numbers, mode)
        d[g] = spread * ans
        d[ans] = spread * g
        d[updates] = -(d[out] * out / updates)


@def_jvp(H.scatter_mul_updates_tangent)
def _scatter_mul_updates_tangent_jvp(out, t, ans, operand, indices, updates, dimension_numbers,
                                     mode=None, unique_indices=False):
    if unique_indices:
        d[out] = lax.vjp_helpers.scatter_mul_updates_tangent(
            d[t], ans, operand, indices, updates, dimension_numbers, mode, True) \
            + d[operand] * lax.vjp_helpers.scatter_add_like(t, operand, indices, updates,
                                                            dimension_numbers, mode)
    else:
        d[out] = lax.vjp_helpers.scatter_mul_updates_tangent(
            d[t] - t * d[updates] / updates, ans, operand, indices, updates, dimension_numbers, mode,
            False) + d[ans] * lax.vjp_helpers.scatter_add_like(t / updates, ans, indices, updates,
                                                               dimension_numbers, mode)


# ---------------------------------------------------------------------------
# scatter_min / scatter_max: the adjoint shared among tied contenders, piecewise constant.


@def_jvp(H.scatter_extremal_operand_grad)
def _scatter_extremal_operand_grad_jvp(out, g, ans, operand, indices, updates, dimension_numbers,
                                       mode=None):
    operand_share, _ = lax.vjp_helpers.scatter_extremal_coefficients(
        ans, operand, indices, updates, dimension_numbers, mode)
    d[out] = d[g] * operand_share


@def_vjp(H.scatter_extremal_operand_grad)
def _scatter_extremal_operand_grad_vjp(out, g, ans, operand, indices, updates, dimension_numbers,
                                       mode=None):
    operand_share, _ = lax.vjp_helpers.scatter_extremal_coefficients(
        ans, operand, indices, updates, dimension_numbers, mode)
    d[g] = d[out] * operand_share


@def_jvp(H.scatter_extremal_updates_grad)
def _scatter_extremal_updates_grad_jvp(out, g, ans, operand, indices, updates, dimension_numbers,
                                       mode=None):
    _, updates_share = lax.vjp_helpers.scatter_extremal_coefficients(
        ans, operand, indices, updates, dimension_numbers, mode)
    d[out] = lax.vjp_helpers.scatter_add_updates_grad(d[g], indices, updates, dimension_numbers,
                                                      mode) * updates_share


@def_vjp(H.scatter_extremal_updates_grad)
def _scatter_extremal_updates_grad_vjp(out, g, ans, operand, indices, updates, dimension_numbers,
                                       mode=None):
    _, updates_share = lax.vjp_helpers.scatter_extremal_coefficients(
        ans, operand, indices, updates, dimension_numbers, mode)
    d[g] = lax.vjp_helpers.scatter_add_like(d[out] * updates_share, g, indices, updates,
                                            dimension_numbers, mode)


# ---------------------------------------------------------------------------
# Windows. reduce_window_max/min's adjoint goes to the element each window chose: its
# tangent scatters d[g] there, its transpose gathers from there.


@def_jvp(H.reduce_window_chooser_grad)
def _reduce_window_chooser_grad_jvp(out, g, x, ans, kind, window_dimensions, window_strides=None,
                                    padding="VALID", base_dilation=None, window_dilation=None):
    where, dn, sizes = lax.vjp_helpers.window_choice(x, ans, kind, window_dimensions,
                                                     window_strides, padding, base_dilation,
                                                     window_dilation)
    d[out] = lax.vjp_helpers.gather_transpose(d[g], x, where, dn, "fill")


@def_vjp(H.reduce_window_chooser_grad)
def _reduce_window_chooser_grad_vjp(out, g, x, ans, kind, window_dimensions, window_strides=None,
                                    padding="VALID", base_dilation=None, window_dilation=None):
    where, dn, sizes = lax.vjp_helpers.window_choice(x, ans, kind, window_dimensions,
                                                     window_strides, padding, base_dilation,
                                                     window_dilation)
    d[g] = lax.gather(d[out], where, dimension_numbers=dn, slice_sizes=sizes, mode="fill",
                      fill_value=0)


# The generic reduce_window's adjoints are the transposes of its tangent map
# sum_k coefs[k] * t[where[k]] + init_coef * t_init (reduce_window_tangent_coefficients):
# the operand's scatters g * coefs[k] to where[k], init's sums g * init_coef. Their own
# tangents add the coefficients' tangents (nonzero for products only); the second
# derivatives are symmetric, so the same coefficient tangents give the transposes in x.


@def_jvp(H.reduce_window_operand_grad)
def _reduce_window_operand_grad_jvp(out, g, x, init_value, ans, computation, window_dimensions,
                                    window_strides=None, padding="VALID", base_dilation=None,
                                    window_dilation=None):
    where, dn, sizes, coefs, init_coef = lax.vjp_helpers.reduce_window_tangent_coefficients(
        x, init_value, ans, computation, window_dimensions, window_strides, padding, base_dilation,
        window_dilation)
    dx = materialize(d[x], x)  # (a tuple target's value is not folded: name them first)
    dinit = materialize(d[init_value], init_value)
    dcoefs, dinit_coef = lax.vjp_helpers.reduce_window_coefficient_tangents(
        x, dx, init_value, dinit, ans, computation, window_dimensions, window_strides, padding, base_dilation, window_dilation)
    d[out] = lax.vjp_helpers.gather_transpose(d[g] * coefs + g * dcoefs, x, where, dn, "fill")


@def_vjp(H.reduce_window_operand_grad)
def _reduce_window_operand_grad_vjp(out, g, x, init_value, ans, computation, window_dimensions,
                                    window_strides=None, padding="VALID", base_dilation=None,
                                    window_dilation=None):
    where, dn, sizes, coefs, init_coef = lax.vjp_helpers.reduce_window_tangent_coefficients(
        x, init_value, ans, computation, window_dimensions, window_strides, padding, base_dilation,
        window_dilation)
    d[g] = lax.reduce_sum(lax.gather(d[out], where, dimension_numbers=dn, slice_sizes=sizes,
                                     mode="fill", fill_value=0) * coefs, axes=(0,))
    dcoefs, dinit_coef = lax.vjp_helpers.reduce_window_coefficient_tangents(
        x, d[out], init_value, lax.vjp_helpers.zeros_like(init_value), ans, computation,
        window_dimensions, window_strides, padding, base_dilation, window_dilation)
    d[x] = lax.vjp_helpers.gather_transpose(g * dcoefs, x, where, dn, "fill")
    d[init_value] = lax.vjp_helpers.sum_to_shape(g * dinit_coef, ())


@def_jvp(H.reduce_window_init_grad)
def _reduce_window_init_grad_jvp(out, g, x, init_value, ans, computation, window_dimensions,
                                 window_strides=None, padding="VALID", base_dilation=None,
                                 window_dilation=None):
    where, dn, sizes, coefs, init_coef = lax.vjp_helpers.reduce_window_tangent_coefficients(
        x, init_value, ans, computation, window_dimensions, window_strides, padding, base_dilation,
        window_dilation)
    dx = materialize(d[x], x)  # (a tuple target's value is not folded: name them first)
    dinit = materialize(d[init_value], init_value)
    dcoefs, dinit_coef = lax.vjp_helpers.reduce_window_coefficient_tangents(
        x, dx, init_value, dinit, ans, computation, window_dimensions, window_strides, padding, base_dilation, window_dilation)
    d[out] = lax.vjp_helpers.sum_to_shape(d[g] * init_coef + g * dinit_coef, ())


@def_vjp(H.reduce_window_init_grad)
def _reduce_window_init_grad_vjp(out, g, x, init_value, ans, computation, window_dimensions,
                                 window_strides=None, padding="VALID", base_dilation=None,
                                 window_dilation=None):
    where, dn, sizes, coefs, init_coef = lax.vjp_helpers.reduce_window_tangent_coefficients(
        x, init_value, ans, computation, window_dimensions, window_strides, padding, base_dilation,
        window_dilation)
    d[g] = d[out] * init_coef
    # d init_coef / d x: the coefficients' tangent along a unit tangent of init.
    others, _ = lax.vjp_helpers.reduce_window_coefficient_tangents(
        x, lax.vjp_helpers.zeros_like(x), init_value, lax.vjp_helpers.ones_like(init_value), ans,
        computation, window_dimensions, window_strides, padding, base_dilation, window_dilation)
    d[x] = lax.vjp_helpers.gather_transpose(d[out] * g * others, x, where, dn, "fill")


# ---------------------------------------------------------------------------
# dot_general: each transpose is linear in g and in the other operand (the transposed
# one enters through its shape only).


@def_jvp(H.dot_general_transpose_lhs)
def _dot_general_transpose_lhs_jvp(out, g, lhs, rhs, dimension_numbers, precision=None,
                                   preferred_element_type=None):
    d[out] = lax.vjp_helpers.dot_general_transpose_lhs(
        d[g], lhs, rhs, dimension_numbers, precision, preferred_element_type) \
        + lax.vjp_helpers.dot_general_transpose_lhs(g, lhs, d[rhs], dimension_numbers, precision,
                                                    preferred_element_type)


@def_vjp(H.dot_general_transpose_lhs)
def _dot_general_transpose_lhs_vjp(out, g, lhs, rhs, dimension_numbers, precision=None,
                                   preferred_element_type=None):
    d[g] = lax.dot_general(d[out], rhs, dimension_numbers=dimension_numbers, precision=precision,
                           preferred_element_type=preferred_element_type)
    d[rhs] = lax.vjp_helpers.dot_general_transpose_rhs(g, d[out], rhs, dimension_numbers,
                                                       precision, preferred_element_type)


@def_jvp(H.dot_general_transpose_rhs)
def _dot_general_transpose_rhs_jvp(out, g, lhs, rhs, dimension_numbers, precision=None,
                                   preferred_element_type=None):
    d[out] = lax.vjp_helpers.dot_general_transpose_rhs(
        d[g], lhs, rhs, dimension_numbers, precision, preferred_element_type) \
        + lax.vjp_helpers.dot_general_transpose_rhs(g, d[lhs], rhs, dimension_numbers, precision,
                                                    preferred_element_type)


@def_vjp(H.dot_general_transpose_rhs)
def _dot_general_transpose_rhs_vjp(out, g, lhs, rhs, dimension_numbers, precision=None,
                                   preferred_element_type=None):
    d[g] = lax.dot_general(lhs, d[out], dimension_numbers=dimension_numbers, precision=precision,
                           preferred_element_type=preferred_element_type)
    d[lhs] = lax.vjp_helpers.dot_general_transpose_lhs(g, lhs, d[out], dimension_numbers,
                                                       precision, preferred_element_type)


# ---------------------------------------------------------------------------
# Helpers linear in their first operand, the others giving only shapes, positions and
# masks: the tangent is the helper applied to the first operand's tangent (forward mode
# would otherwise transpose their vjp templates: two reverse passes per call).


@def_jvp(H.broadcast_to)
def _broadcast_to_jvp(out, x, shape):
    d[out] = lax.vjp_helpers.broadcast_to(d[x], shape)


@def_jvp(H.sum_to_shape)
def _sum_to_shape_jvp(out, g, shape):
    d[out] = lax.vjp_helpers.sum_to_shape(d[g], shape)


@def_jvp(H.where)
def _where_jvp(out, condition, x, y):
    d[out] = lax.vjp_helpers.where(condition, materialize(d[x], x), materialize(d[y], y))


@def_jvp(H.mask_grad)
def _mask_grad_jvp(out, g, mask):
    d[out] = lax.vjp_helpers.mask_grad(d[g], mask)


@def_jvp(H.convert_grad)
def _convert_grad_jvp(out, g, x):
    d[out] = lax.vjp_helpers.convert_grad(d[g], x)


@def_jvp(H.broadcast_in_dim_transpose)
def _broadcast_in_dim_transpose_jvp(out, g, x, broadcast_dimensions):
    d[out] = lax.vjp_helpers.broadcast_in_dim_transpose(d[g], x, broadcast_dimensions)


@def_jvp(H.reshape_to)
def _reshape_to_jvp(out, g, x):
    d[out] = lax.vjp_helpers.reshape_to(d[g], x)


@def_jvp(H.reshape_transpose)
def _reshape_transpose_jvp(out, g, x, dimensions=None):
    d[out] = lax.vjp_helpers.reshape_transpose(d[g], x, dimensions)


@def_jvp(H.transpose_grad)
def _transpose_grad_jvp(out, g, permutation):
    d[out] = lax.vjp_helpers.transpose_grad(d[g], permutation)


@def_jvp(H.pad_transpose)
def _pad_transpose_jvp(out, g, padding_config):
    d[out] = lax.vjp_helpers.pad_transpose(d[g], padding_config)


@def_jvp(H.pad_value_grad)
def _pad_value_grad_jvp(out, g, padding_config):
    d[out] = lax.vjp_helpers.pad_value_grad(d[g], padding_config)


@def_jvp(H.concatenate_part)
def _concatenate_part_jvp(out, g, before, x, dimension, more=()):
    d[out] = lax.vjp_helpers.concatenate_part(d[g], before, x, dimension, more)


@def_jvp(H.concatenate_part_transpose)
def _concatenate_part_transpose_jvp(out, h, g, before, x, dimension):
    d[out] = lax.vjp_helpers.concatenate_part_transpose(d[h], g, before, x, dimension)


@def_jvp(H.slice_transpose)
def _slice_transpose_jvp(out, g, x, start_indices, limit_indices, strides=None):
    d[out] = lax.vjp_helpers.slice_transpose(d[g], x, start_indices, limit_indices, strides)


@def_jvp(H.dynamic_slice_transpose)
def _dynamic_slice_transpose_jvp(out, g, x, start_indices, allow_negative_indices=True):
    d[out] = lax.vjp_helpers.dynamic_slice_transpose(d[g], x, start_indices, allow_negative_indices)


@def_jvp(H.dynamic_slice_like)
def _dynamic_slice_like_jvp(out, h, g, start_indices, allow_negative_indices=True):
    d[out] = lax.vjp_helpers.dynamic_slice_like(d[h], g, start_indices, allow_negative_indices)


@def_jvp(H.dynamic_update_slice_operand_grad)
def _dynamic_update_slice_operand_grad_jvp(out, g, update, start_indices,
                                           allow_negative_indices=True):
    d[out] = lax.vjp_helpers.dynamic_update_slice_operand_grad(d[g], update, start_indices,
                                                               allow_negative_indices)


@def_jvp(H.select_n_part)
def _select_n_part_jvp(out, g, which, index, more=()):
    d[out] = lax.vjp_helpers.select_n_part(d[g], which, index, more)


@def_jvp(H.reduce_sum_transpose)
def _reduce_sum_transpose_jvp(out, g, x, axes):
    d[out] = lax.vjp_helpers.reduce_sum_transpose(d[g], x, axes)


@def_jvp(H.cumsum_transpose)
def _cumsum_transpose_jvp(out, g, axis, reverse=False):
    d[out] = lax.vjp_helpers.cumsum_transpose(d[g], axis, reverse)


@def_jvp(H.reduce_window_sum_transpose)
def _reduce_window_sum_transpose_jvp(out, g, x, window_dimensions, window_strides=None,
                                     padding="VALID", base_dilation=None, window_dilation=None):
    d[out] = lax.vjp_helpers.reduce_window_sum_transpose(d[g], x, window_dimensions,
                                                         window_strides, padding, base_dilation,
                                                         window_dilation)


@def_jvp(H.gather_transpose)
def _gather_transpose_jvp(out, g, operand, indices, dimension_numbers, mode=None,
                          indices_are_sorted=False, unique_indices=False):
    d[out] = lax.vjp_helpers.gather_transpose(d[g], operand, indices, dimension_numbers, mode,
                                              indices_are_sorted, unique_indices)


@def_jvp(H.scatter_add_updates_grad)
def _scatter_add_updates_grad_jvp(out, g, indices, updates, dimension_numbers, mode=None):
    d[out] = lax.vjp_helpers.scatter_add_updates_grad(d[g], indices, updates, dimension_numbers,
                                                      mode)


@def_jvp(H.scatter_add_like)
def _scatter_add_like_jvp(out, h, g, indices, updates, dimension_numbers, mode=None):
    d[out] = lax.vjp_helpers.scatter_add_like(d[h], g, indices, updates, dimension_numbers, mode)


@def_jvp(H.scatter_operand_grad)
def _scatter_operand_grad_jvp(out, g, operand, indices, updates, dimension_numbers, mode=None):
    d[out] = lax.vjp_helpers.scatter_operand_grad(d[g], operand, indices, updates,
                                                  dimension_numbers, mode)


@def_jvp(H.scatter_updates_grad)
def _scatter_updates_grad_jvp(out, g, operand, indices, updates, dimension_numbers, mode=None):
    d[out] = lax.vjp_helpers.scatter_updates_grad(d[g], operand, indices, updates,
                                                  dimension_numbers, mode)


@def_jvp(H.scatter_updates_grad_transpose)
def _scatter_updates_grad_transpose_jvp(out, h, g, operand, indices, updates, dimension_numbers,
                                        mode=None):
    d[out] = lax.vjp_helpers.scatter_updates_grad_transpose(d[h], g, operand, indices, updates,
                                                            dimension_numbers, mode)


@def_vjp(H.scatter_updates_grad_transpose)
def _scatter_updates_grad_transpose_vjp(out, h, g, operand, indices, updates, dimension_numbers,
                                        mode=None):
    d[h] = lax.vjp_helpers.scatter_updates_grad(d[out], operand, indices, updates,
                                                dimension_numbers, mode)


@def_vjp(H.concatenate_part_transpose)
def _concatenate_part_transpose_vjp(out, h, g, before, x, dimension):
    d[h] = lax.vjp_helpers.concatenate_part(d[out], before, x, dimension)


# ---------------------------------------------------------------------------
# Reductions. reduce_max/min and cummax/cummin: the adjoint goes to the chosen elements
# (piecewise constant); the tangent helper beside each is its transpose (same ties).


@def_jvp(H.reduce_chooser_grad)
def _reduce_chooser_grad_jvp(out, g, x, ans, axes):
    d[out] = lax.vjp_helpers.reduce_chooser_grad(d[g], x, ans, axes)


@def_vjp(H.reduce_chooser_grad)
def _reduce_chooser_grad_vjp(out, g, x, ans, axes):
    d[g] = lax.vjp_helpers.reduce_chooser_tangent(d[out], x, ans, axes)


@def_jvp(H.reduce_chooser_tangent)
def _reduce_chooser_tangent_jvp(out, t, x, ans, axes):
    d[out] = lax.vjp_helpers.reduce_chooser_tangent(d[t], x, ans, axes)


@def_vjp(H.reduce_chooser_tangent)
def _reduce_chooser_tangent_vjp(out, t, x, ans, axes):
    d[t] = lax.vjp_helpers.reduce_chooser_grad(d[out], x, ans, axes)


@def_jvp(H.cumextremum_grad)
def _cumextremum_grad_jvp(out, g, x, ans, axis, reverse=False):
    d[out] = lax.vjp_helpers.cumextremum_grad(d[g], x, ans, axis, reverse)


@def_vjp(H.cumextremum_grad)
def _cumextremum_grad_vjp(out, g, x, ans, axis, reverse=False):
    d[g] = lax.vjp_helpers.cumextremum_tangent(d[out], x, ans, axis, reverse)


@def_jvp(H.cumextremum_tangent)
def _cumextremum_tangent_jvp(out, t, x, ans, axis, reverse=False):
    d[out] = lax.vjp_helpers.cumextremum_tangent(d[t], x, ans, axis, reverse)


@def_vjp(H.cumextremum_tangent)
def _cumextremum_tangent_vjp(out, t, x, ans, axis, reverse=False):
    d[t] = lax.vjp_helpers.cumextremum_grad(d[out], x, ans, axis, reverse)


# reduce_prod: g times the product of the other elements; its derivative in x is the
# (symmetric) second derivative of the product, reduce_prod_grad_tangent.


@def_jvp(H.reduce_prod_grad)
def _reduce_prod_grad_jvp(out, g, x, axes):
    d[out] = lax.vjp_helpers.reduce_prod_grad(d[g], x, axes) \
        + lax.vjp_helpers.reduce_prod_grad_tangent(g, x, d[x], axes)


@def_vjp(H.reduce_prod_grad)
def _reduce_prod_grad_vjp(out, g, x, axes):
    d[g] = lax.vjp_helpers.reduce_prod_tangent(d[out], x, axes)
    d[x] = lax.vjp_helpers.reduce_prod_grad_tangent(g, x, d[out], axes)


# ---------------------------------------------------------------------------
# Complex parts. Each helper is linear in its adjoint, its other operand giving only a
# dtype. JAX's convention pairs an adjoint ``c`` of a complex value with a tangent ``t``
# as ``real(c * t)``: the transpose of ``real`` is ``complex(c, 0)`` (real_grad), of
# ``imag`` is ``complex(0, -c)`` (imag_grad), of ``conj`` is ``conj``; a real adjoint of
# a complex value (it reached it through real operations) has imaginary part zero.


@def_jvp(H.conj_grad)
def _conj_grad_jvp(out, g, x):
    d[out] = lax.vjp_helpers.conj_grad(d[g], x)


@def_vjp(H.conj_grad)
def _conj_grad_vjp(out, g, x):
    d[g] = lax.vjp_helpers.conj_grad(d[out], g)


@def_jvp(H.real_part)
def _real_part_jvp(out, g):
    d[out] = lax.vjp_helpers.real_part(d[g])


@def_vjp(H.real_part)
def _real_part_vjp(out, g):
    d[g] = lax.vjp_helpers.real_grad(d[out], g)


@def_jvp(H.imag_part)
def _imag_part_jvp(out, g):
    d[out] = lax.vjp_helpers.imag_part(d[g])


@def_vjp(H.imag_part)
def _imag_part_vjp(out, g):
    d[g] = lax.vjp_helpers.imag_grad(d[out], g)


@def_jvp(H.real_grad)
def _real_grad_jvp(out, g, x):
    d[out] = lax.vjp_helpers.real_grad(d[g], x)


@def_vjp(H.real_grad)
def _real_grad_vjp(out, g, x):
    d[g] = lax.vjp_helpers.real_part(d[out])


@def_jvp(H.imag_grad)
def _imag_grad_jvp(out, g, x):
    d[out] = lax.vjp_helpers.imag_grad(d[g], x)


@def_vjp(H.imag_grad)
def _imag_grad_vjp(out, g, x):
    d[g] = lax.vjp_helpers.imag_part(d[out])


# abs: g * sign(x), or g * conj(x) / |x| for complex x. Its derivative in x is the
# (symmetric) second derivative abs_grad_tangent; the transpose in g is abs's tangent.


@def_jvp(H.abs_grad)
def _abs_grad_jvp(out, g, x):
    d[out] = lax.vjp_helpers.abs_grad(d[g], x) + lax.vjp_helpers.abs_grad_tangent(g, x, d[x])


@def_vjp(H.abs_grad)
def _abs_grad_vjp(out, g, x):
    d[g] = lax.vjp_helpers.abs_tangent(d[out], x)
    d[x] = lax.vjp_helpers.abs_grad_tangent(g, x, d[out])


# trigamma and the polygamma of higher order: each derivative is the next order.


@def_jvp(H.trigamma)
def _trigamma_jvp(out, x):
    d[out] = d[x] * lax.vjp_helpers.polygamma(2, x)


@def_vjp(H.trigamma)
def _trigamma_vjp(out, x):
    d[x] = d[out] * lax.vjp_helpers.polygamma(2, x)


@def_jvp(H.polygamma)
def _polygamma_jvp(out, n, x):
    d[out] = d[x] * lax.vjp_helpers.polygamma(n + 1, x)


@def_vjp(H.polygamma)
def _polygamma_vjp(out, n, x):
    d[x] = d[out] * lax.vjp_helpers.polygamma(n + 1, x)


# cumprod: its adjoint J(x)^T g is linear in g; its derivative in x is the (symmetric)
# second derivative of sum(g * cumprod(x)), cumprod_grad_tangent, division-free so zeros
# in x stay exact. ``ans`` is cumprod(x) at every call (the vjp template passes the
# primal result): its tangent is the one x's gives, so x carries the whole derivative.


@def_jvp(H.cumprod_grad)
def _cumprod_grad_jvp(out, g, x, ans, axis, reverse=False):
    d[out] = lax.vjp_helpers.cumprod_grad(d[g], x, ans, axis, reverse) \
        + lax.vjp_helpers.cumprod_grad_tangent(g, x, ans, d[x], axis, reverse)


@def_vjp(H.cumprod_grad)
def _cumprod_grad_vjp(out, g, x, ans, axis, reverse=False):
    d[g] = lax.vjp_helpers.cumprod_tangent(d[out], x, ans, axis, reverse)
    d[x] = lax.vjp_helpers.cumprod_grad_tangent(g, x, ans, d[out], axis, reverse)


# sort: unsort puts one result's adjoint back in the operand's order (a permutation,
# piecewise constant in the keys); its transpose puts it in sorted order again, as one
# item of the tuple of the sort's results (the others None: no adjoint).


@def_jvp(H.unsort)
def _unsort_jvp(out, g, index, perm, dimension, operand):
    d[out] = lax.vjp_helpers.unsort(d[g], index, perm, dimension, operand)


@def_vjp(H.unsort)
def _unsort_vjp(out, g, index, perm, dimension, operand):
    d[g] = lax.vjp_helpers.unsort_transpose(d[out], g, index, perm, dimension, operand)


# ---------------------------------------------------------------------------
# Batch rules of the helpers above (vmap of hessian, jacrev/jacfwd of grad): one call on
# the stacked examples, rather than a recording of the helper per call site.


def elementwise_batch(helper, arrays):
    """Batch rule of ``helper``, elementwise in its parameters ``arrays`` (operands of
    one shape, or dtype-only ones): the unbatched ones are broadcast along the batch,
    the batched ones (batch axis first) lifted to a common rank, so the result is
    batched on axis 0 whichever operand is."""
    signature = inspect.signature(helper)
    names = list(signature.parameters)

    def rule(axes, /, *args, **kwargs):
        values = dict(signature.bind(*args, **kwargs).arguments)
        batched = {names[i] for i, ax in enumerate(axes) if ax is not None}
        size = H.shape_of(values[min(batched, key=names.index)])[0]
        rank = max(len(H.shape_of(values[n])) - (n in batched) for n in arrays)
        for name in arrays:
            shape = H.shape_of(values[name])
            if name not in batched:
                values[name] = lax.broadcast_in_dim(
                    values[name], shape=(size,) + (1,) * (rank - len(shape)) + shape,
                    broadcast_dimensions=tuple(range(1 + rank - len(shape), 1 + rank)))
            elif len(shape) - 1 < rank:
                values[name] = lax.reshape(values[name], new_sizes=shape[:1] + (1,) * (
                    rank + 1 - len(shape)) + shape[1:])
        return helper(**values)
    return rule


for _helper, _arrays in ((H.conj_grad, ("g",)), (H.real_part, ("g",)), (H.imag_part, ("g",)),
                         (H.real_grad, ("g",)), (H.imag_grad, ("g",)),
                         (H.abs_grad_tangent, ("g", "x", "v")), (H.trigamma, ("x",)),
                         (H.polygamma, ("x",))):
    def_batch(_helper)(elementwise_batch(_helper, _arrays))
def_batch(H.cumprod_grad)(along_axes_batch(H.cumprod_grad, ("g", "x", "ans"), "x", "axis"))
def_batch(H.cumprod_grad_tangent)(along_axes_batch(H.cumprod_grad_tangent, ("g", "x", "ans", "v"),
                                                   "x", "axis"))
