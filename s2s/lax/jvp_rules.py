"""Forward-mode templates (``jvp`` slot) of the lax primitives.

Each template defines the result's tangent ``d[ans]`` from the operands'
tangents ``d[x]`` (see ``s2s.transforms.templates``, tangent mode): an operand
without a tangent is a symbolic zero and its terms are dropped, so
``y = x * c`` with ``c`` constant gets ``dy = dx * c``. ``broadcast_like(t, ans)``
brings a tangent to the result's shape; the transformation drops it where the
shapes are known to agree.

Primitives without a template here (and zero-derivative ones, registered with the
vjp rules) get their tangent by transposing their vjp template
(``s2s.transforms.forward``'s fallback); ``tests/test_rule_coverage.py`` lists them.
"""
import inspect

from s2s import lax
from s2s.lax import linalg_jvp, vjp_helpers  # noqa: F401  (lax.linalg_jvp, lax.vjp_helpers below)
from s2s.core.primitive import d, def_batch, def_jvp, def_zero_derivative

# Helpers the templates name (bound by the transformation, listed for linters).
broadcast_like = materialize = max_grad_share = None


@def_jvp(lax.neg)
def _neg(ans, x):
    d[ans] = -d[x]


@def_jvp(lax.add)
def _add(ans, x, y):
    d[ans] = broadcast_like(d[x], ans) + broadcast_like(d[y], ans)


@def_jvp(lax.sub)
def _sub(ans, x, y):
    d[ans] = broadcast_like(d[x], ans) - broadcast_like(d[y], ans)


@def_jvp(lax.mul)
def _mul(ans, x, y):
    d[ans] = d[x] * y + x * d[y]


@def_jvp(lax.div)
def _div(ans, x, y):
    d[ans] = d[x] / y - d[y] * ans / y


@def_jvp(lax.pow)
def _pow(ans, x, y):
    d[ans] = d[x] * y * lax.pow(x, y - 1) + d[y] * ans * lax.log(lax.vjp_helpers.where(lax.eq(x, 0), 1, x))


@def_jvp(lax.integer_pow)
def _integer_pow(ans, x, y):
    if y == 0:
        d[ans] = d[x] * 0
    elif y == 1:
        d[ans] = d[x]
    elif y == 2:
        d[ans] = d[x] * 2 * x
    else:
        d[ans] = d[x] * y * lax.integer_pow(x, y - 1)


@def_jvp(lax.exp)
def _exp(ans, x):
    d[ans] = d[x] * ans


@def_jvp(lax.exp2)
def _exp2(ans, x):
    d[ans] = d[x] * ans * 0.6931471805599453


@def_jvp(lax.log)
def _log(ans, x):
    d[ans] = d[x] / x


@def_jvp(lax.log1p)
def _log1p(ans, x):
    d[ans] = d[x] / (1 + x)


@def_jvp(lax.expm1)
def _expm1(ans, x):
    d[ans] = d[x] * (ans + 1)


@def_jvp(lax.tanh)
def _tanh(ans, x):
    d[ans] = d[x] * (1 - ans * ans)


@def_jvp(lax.logistic)
def _logistic(ans, x):
    d[ans] = d[x] * ans * (1 - ans)


@def_jvp(lax.sin)
def _sin(ans, x):
    d[ans] = d[x] * lax.cos(x)


@def_jvp(lax.cos)
def _cos(ans, x):
    d[ans] = -d[x] * lax.sin(x)


@def_jvp(lax.tan)
def _tan(ans, x):
    d[ans] = d[x] * (1 + ans * ans)


@def_jvp(lax.asin)
def _asin(ans, x):
    d[ans] = d[x] / lax.sqrt(1 - x * x)


@def_jvp(lax.acos)
def _acos(ans, x):
    d[ans] = -d[x] / lax.sqrt(1 - x * x)


@def_jvp(lax.atan)
def _atan(ans, x):
    d[ans] = d[x] / (1 + x * x)


@def_jvp(lax.sinh)
def _sinh(ans, x):
    d[ans] = d[x] * lax.cosh(x)


@def_jvp(lax.cosh)
def _cosh(ans, x):
    d[ans] = d[x] * lax.sinh(x)


@def_jvp(lax.asinh)
def _asinh(ans, x):
    d[ans] = d[x] / lax.sqrt(x * x + 1)


@def_jvp(lax.acosh)
def _acosh(ans, x):
    d[ans] = d[x] / lax.sqrt(x * x - 1)


@def_jvp(lax.atanh)
def _atanh(ans, x):
    d[ans] = d[x] / (1 - x * x)


@def_jvp(lax.sqrt)
def _sqrt(ans, x):
    d[ans] = d[x] * 0.5 / ans


@def_jvp(lax.rsqrt)
def _rsqrt(ans, x):
    d[ans] = d[x] * -0.5 * ans / x


@def_jvp(lax.cbrt)
def _cbrt(ans, x):
    d[ans] = d[x] / (3 * ans * ans)


@def_jvp(lax.abs)
def _abs(ans, x):
    d[ans] = lax.vjp_helpers.abs_tangent(d[x], x)


@def_jvp(lax.max)
def _max(ans, x, y):
    d[ans] = d[x] * max_grad_share(x, y) + d[y] * max_grad_share(y, x)


@def_jvp(lax.min)
def _min(ans, x, y):
    d[ans] = d[x] * max_grad_share(y, x) + d[y] * max_grad_share(x, y)


@def_jvp(lax.atan2)
def _atan2(ans, x, y):
    d[ans] = (d[x] * y - d[y] * x) / (x * x + y * y)


@def_jvp(lax.erf)
def _erf(ans, x):
    d[ans] = d[x] * 1.1283791670955126 * lax.exp(-x * x)


@def_jvp(lax.erfc)
def _erfc(ans, x):
    d[ans] = -d[x] * 1.1283791670955126 * lax.exp(-x * x)


@def_jvp(lax.erf_inv)
def _erf_inv(ans, x):
    d[ans] = d[x] * 0.886226925452758 * lax.exp(ans * ans)


@def_jvp(lax.lgamma)
def _lgamma(ans, x):
    d[ans] = d[x] * lax.digamma(x)


@def_jvp(lax.digamma)
def _digamma(ans, x):
    d[ans] = d[x] * lax.vjp_helpers.trigamma(x)


@def_jvp(lax.complex)
def _complex(ans, x, y):
    d[ans] = lax.complex(materialize(d[x], x), materialize(d[y], y))


@def_jvp(lax.conj)
def _conj(ans, x):
    d[ans] = lax.conj(d[x])


@def_jvp(lax.real)
def _real(ans, x):
    d[ans] = lax.real(d[x])


@def_jvp(lax.imag)
def _imag(ans, x):
    d[ans] = lax.imag(d[x])


@def_jvp(lax.rem)
def _rem(ans, x, y):
    d[ans] = broadcast_like(d[x], ans) - d[y] * lax.vjp_helpers.trunc(lax.div(x, y))


@def_jvp(lax.clamp)
def _clamp(ans, min, x, max):  # noqa: A002 (the wrapper's names)
    d[ans] = lax.vjp_helpers.mask_grad(broadcast_like(d[x], ans), lax.bitwise_and(lax.gt(x, min), lax.lt(x, max))) \
        + lax.vjp_helpers.mask_grad(broadcast_like(d[min], ans), lax.bitwise_and(lax.gt(min, x), lax.lt(min, max))) \
        + lax.vjp_helpers.mask_grad(broadcast_like(d[max], ans), lax.lt(max, x))


# ---------------------------------------------------------------------------
# Structural and linear: the tangent goes through the same operation.


@def_jvp(lax.convert_element_type)
def _convert_element_type(ans, operand, new_dtype):
    d[ans] = lax.vjp_helpers.convert_grad(d[operand], ans)


@def_jvp(lax.broadcast_in_dim)
def _broadcast_in_dim(ans, operand, shape, broadcast_dimensions):
    d[ans] = lax.broadcast_in_dim(d[operand], shape=shape, broadcast_dimensions=broadcast_dimensions)


@def_jvp(lax.reshape)
def _reshape(ans, operand, new_sizes, dimensions=None):
    d[ans] = lax.reshape(d[operand], new_sizes=new_sizes, dimensions=dimensions)


@def_jvp(lax.squeeze)
def _squeeze(ans, array, dimensions):
    d[ans] = lax.squeeze(d[array], dimensions=dimensions)


@def_jvp(lax.expand_dims)
def _expand_dims(ans, array, dimensions):
    d[ans] = lax.expand_dims(d[array], dimensions=dimensions)


@def_jvp(lax.transpose)
def _transpose(ans, operand, permutation):
    d[ans] = lax.transpose(d[operand], permutation=permutation)


@def_jvp(lax.rev)
def _rev(ans, operand, dimensions):
    d[ans] = lax.rev(d[operand], dimensions=dimensions)


@def_jvp(lax.pad)
def _pad(ans, operand, padding_value, padding_config):
    d[ans] = lax.pad(materialize(d[operand], operand), materialize(d[padding_value], padding_value),
                     padding_config=padding_config)


@def_jvp(lax.slice)
def _slice(ans, operand, start_indices, limit_indices, strides=None):
    d[ans] = lax.slice(d[operand], start_indices=start_indices, limit_indices=limit_indices, strides=strides)


@def_jvp(lax.reduce_sum)
def _reduce_sum(ans, operand, axes):
    d[ans] = lax.reduce_sum(d[operand], axes=axes)


@def_jvp(lax.cumsum)
def _cumsum(ans, operand, axis=0, reverse=False):
    d[ans] = lax.cumsum(d[operand], axis=axis, reverse=reverse)


@def_jvp(lax.dot_general)
def _dot_general(ans, lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    d[ans] = lax.dot_general(d[lhs], rhs, dimension_numbers=dimension_numbers, precision=precision,
                             preferred_element_type=preferred_element_type) \
        + lax.dot_general(lhs, d[rhs], dimension_numbers=dimension_numbers, precision=precision,
                          preferred_element_type=preferred_element_type)


@def_jvp(lax.with_sharding_constraint)
def _with_sharding_constraint(ans, x, shardings):
    d[ans] = lax.with_sharding_constraint(d[x], shardings)


# ---------------------------------------------------------------------------
# Reductions, cumulative reductions, sorting, select_n (forward templates that transpose
# the adjoints of s2s/lax/vjp_rules.py: the same ties, zeros and permutations).


@def_jvp(lax.reduce_max, lax.reduce_min)
def _reduce_chooser(ans, operand, axes):
    d[ans] = lax.vjp_helpers.reduce_chooser_tangent(d[operand], operand, ans, axes=axes)


@def_jvp(lax.reduce_prod)
def _reduce_prod(ans, operand, axes):
    d[ans] = lax.vjp_helpers.reduce_prod_tangent(d[operand], operand, axes=axes)


@def_jvp(lax.cumprod)
def _cumprod(ans, operand, axis=0, reverse=False):
    d[ans] = lax.vjp_helpers.cumprod_tangent(d[operand], operand, ans, axis=axis, reverse=reverse)


@def_jvp(lax.cummax, lax.cummin)
def _cumextremum(ans, operand, axis=0, reverse=False):
    d[ans] = lax.vjp_helpers.cumextremum_tangent(d[operand], operand, ans, axis=axis, reverse=reverse)


@def_jvp(lax.sort)
def _sort(ans, *operands, dimension=-1, is_stable=True, num_keys=1):
    d[ans] = lax.vjp_helpers.sort_tangents(d[operands], operands, dimension=dimension, num_keys=num_keys)


@def_jvp(lax.select_n)
def _select_n(ans, which, *cases):
    d[ans] = lax.select_n(which, *d[cases])


def along_axes_batch(helper, arrays, operand, axis, masks=()):
    """Batch rule of ``helper``, which works along the axes its parameter ``axis`` names
    (None: all) of the parameter ``operand``, elementwise across any other axis: the
    examples, stacked on a new leading axis, are one more such axis, so one call does
    them all. ``arrays`` are the array parameters (unbatched ones are broadcast);
    ``masks`` broadcast against ``operand`` (unbatched, they are left as they are)."""
    signature = inspect.signature(helper)
    names = list(signature.parameters)

    def rule(axes, /, *args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        values = dict(bound.arguments)
        batched = {names[i] for i, ax in enumerate(axes) if ax is not None}
        size = lax.vjp_helpers.shape_of(values[min(batched, key=names.index)])[0]
        rank = len(lax.vjp_helpers.shape_of(values[operand])) - (operand in batched)
        for name in arrays:
            if name not in batched and values[name] is not None:
                shape = lax.vjp_helpers.shape_of(values[name])
                values[name] = lax.broadcast_in_dim(values[name], shape=(size,) + shape,
                                                    broadcast_dimensions=tuple(range(1, len(shape) + 1)))
        for name in masks:
            if name in batched:  # (n, *m) -> (n, 1, ..., *m): NumPy aligns the rest on the right
                shape = lax.vjp_helpers.shape_of(values[name])
                values[name] = lax.reshape(values[name], new_sizes=shape[:1] + (1,) * (rank + 1 - len(shape))
                                           + shape[1:])
        values[axis] = _shifted_axes(values[axis], rank)
        return helper(**values)
    return rule


def _shifted_axes(axis, rank):
    if axis is None:
        return tuple(range(1, rank + 1))
    if isinstance(axis, int):
        return lax.vjp_helpers.canonical_axis(axis, rank) + 1
    return tuple(a + 1 for a in lax.vjp_helpers.canonical_axes(axis, rank))


_H = lax.vjp_helpers
def_batch(_H.reduce_chooser_tangent)(along_axes_batch(_H.reduce_chooser_tangent, ("t", "x", "ans"), "x", "axes"))
def_batch(_H.reduce_prod_tangent)(along_axes_batch(_H.reduce_prod_tangent, ("t", "x"), "x", "axes"))
def_batch(_H.cumprod_tangent)(along_axes_batch(_H.cumprod_tangent, ("t", "x", "ans"), "x", "axis"))
def_batch(_H.cumextremum_tangent)(along_axes_batch(_H.cumextremum_tangent, ("t", "x", "ans"), "x", "axis"))


# ---------------------------------------------------------------------------
# Linear algebra (s2s.lax.linalg): the standard forward rules, written in
# s2s.lax.linalg_jvp (the transposes of vjp_helpers' adjoints).


@def_jvp(lax.linalg.cholesky)
def _cholesky(ans, a, *, lower=True):
    d[ans] = lax.linalg_jvp.cholesky_tangent(d[a], ans, lower)


@def_jvp(lax.linalg.triangular_solve)
def _triangular_solve(ans, a, b, *, left_side=False, lower=False, transpose_a=False,
                      conjugate_a=False, unit_diagonal=False):
    d[ans] = lax.linalg.triangular_solve(a, d[b], left_side=left_side, lower=lower,
                                         transpose_a=transpose_a, conjugate_a=conjugate_a,
                                         unit_diagonal=unit_diagonal) \
        + lax.linalg_jvp.triangular_solve_tangent_a(d[a], a, ans, left_side, lower, transpose_a,
                                                    conjugate_a, unit_diagonal)


@def_jvp(lax.linalg.lu)
def _lu(ans, a):
    d[ans] = lax.linalg_jvp.lu_tangent(d[a], ans)


@def_jvp(lax.linalg.qr)
def _qr(ans, a, *, full_matrices=False):
    d[ans] = lax.linalg_jvp.qr_tangent(d[a], ans, a, full_matrices)


@def_jvp(lax.linalg.svd)
def _svd(ans, a, *, full_matrices=True, compute_uv=True):
    d[ans] = lax.linalg_jvp.svd_tangent(d[a], a, ans, full_matrices, compute_uv)


@def_jvp(lax.linalg.eigh)
def _eigh(ans, a, *, lower=True):
    d[ans] = lax.linalg_jvp.eigh_tangent(d[a], ans, lower)


# ---------------------------------------------------------------------------
# Structural, indexing, windowed and convolution primitives (linear in the operands
# they move; conv is bilinear). Indices never carry tangents. Ties and duplicate
# indices follow the vjp templates' conventions (each helper named here is the
# transpose of the adjoint helper the vjp template calls).


@def_jvp(lax.concatenate)
def _concatenate(ans, *xs, dimension):
    d[ans] = lax.concatenate(*d[xs], dimension=dimension)


@def_jvp(lax.dynamic_slice)
def _dynamic_slice(ans, operand, start_indices, slice_sizes, *, allow_negative_indices=True):
    d[ans] = lax.dynamic_slice(d[operand], start_indices, slice_sizes,
                               allow_negative_indices=allow_negative_indices)


@def_jvp(lax.dynamic_update_slice)
def _dynamic_update_slice(ans, operand, update, start_indices, *, allow_negative_indices=True):
    d[ans] = lax.dynamic_update_slice(materialize(d[operand], operand), materialize(d[update], update),
                                      start_indices, allow_negative_indices=allow_negative_indices)


@def_jvp(lax.gather)
def _gather(ans, operand, start_indices, dimension_numbers, slice_sizes, *, unique_indices=False,
            indices_are_sorted=False, mode=None, fill_value=None):
    d[ans] = lax.gather(d[operand], start_indices, dimension_numbers=dimension_numbers,
                        slice_sizes=slice_sizes, unique_indices=unique_indices,
                        indices_are_sorted=indices_are_sorted, mode=mode, fill_value=0)


@def_jvp(lax.scatter_add)
def _scatter_add(ans, operand, scatter_indices, updates, dimension_numbers, *,
                 indices_are_sorted=False, unique_indices=False, mode=None):
    d[ans] = d[operand] + lax.scatter_add(lax.vjp_helpers.zeros_like(operand), scatter_indices, d[updates],
                                          dimension_numbers=dimension_numbers, mode=mode)


@def_jvp(lax.scatter)
def _scatter(ans, operand, scatter_indices, updates, dimension_numbers, *,
             indices_are_sorted=False, unique_indices=False, mode=None):
    # Of repeated indices, the update the primal scatter kept carries its tangent.
    kept, won = lax.vjp_helpers.scatter_winners(operand, scatter_indices, updates, dimension_numbers, mode)
    d[ans] = lax.select_n(kept, lax.vjp_helpers.zeros_like(operand), d[operand]) \
        + lax.scatter_add(lax.vjp_helpers.zeros_like(operand), scatter_indices,
                          lax.select_n(won, lax.vjp_helpers.zeros_like(updates), d[updates]),
                          dimension_numbers=dimension_numbers, mode=mode)


@def_jvp(lax.scatter_mul)
def _scatter_mul(ans, operand, scatter_indices, updates, dimension_numbers, *,
                 indices_are_sorted=False, unique_indices=False, mode=None):
    # As the vjp: with unique indices the factor's tangent times the operand (exact);
    # otherwise the result times the relative tangents of its factors (nonzero updates).
    # A helper decides, so a unique_indices known only when the code runs is exact too.
    d[ans] = d[operand] * lax.scatter_mul(lax.vjp_helpers.ones_like(operand), scatter_indices, updates,
                                          dimension_numbers=dimension_numbers, mode=mode) \
        + lax.vjp_helpers.scatter_mul_updates_tangent(d[updates], ans, operand, scatter_indices, updates,
                                                      dimension_numbers, mode, unique_indices)


@def_jvp(lax.scatter_min, lax.scatter_max)
def _scatter_extremal(ans, operand, scatter_indices, updates, dimension_numbers, *,
                      indices_are_sorted=False, unique_indices=False, mode=None):
    # Tied contenders share the result's tangent evenly (the vjp's and JAX's rule).
    operand_share, updates_share = lax.vjp_helpers.scatter_extremal_coefficients(
        ans, operand, scatter_indices, updates, dimension_numbers, mode)
    d[ans] = d[operand] * operand_share \
        + lax.scatter_add(lax.vjp_helpers.zeros_like(ans), scatter_indices, d[updates] * updates_share,
                          dimension_numbers=dimension_numbers, mode=mode)


@def_jvp(lax.reduce_window_sum)
def _reduce_window_sum(ans, x, *, window_dimensions, window_strides=None, padding="VALID",
                       base_dilation=None, window_dilation=None):
    d[ans] = lax.reduce_window_sum(d[x], window_dimensions=window_dimensions,
                                   window_strides=window_strides, padding=padding,
                                   base_dilation=base_dilation, window_dilation=window_dilation)


@def_jvp(lax.reduce_window_max)
def _reduce_window_max(ans, x, *, window_dimensions, window_strides=None, padding="VALID",
                       base_dilation=None, window_dilation=None):
    # Each window takes the tangent of the element the vjp gives its adjoint.
    where, dn, sizes = lax.vjp_helpers.window_choice(x, ans, "max", window_dimensions, window_strides,
                                                     padding, base_dilation, window_dilation)
    d[ans] = lax.gather(d[x], where, dimension_numbers=dn, slice_sizes=sizes, mode="fill", fill_value=0)


@def_jvp(lax.reduce_window_min)
def _reduce_window_min(ans, x, *, window_dimensions, window_strides=None, padding="VALID",
                       base_dilation=None, window_dilation=None):
    where, dn, sizes = lax.vjp_helpers.window_choice(x, ans, "min", window_dimensions, window_strides,
                                                     padding, base_dilation, window_dilation)
    d[ans] = lax.gather(d[x], where, dimension_numbers=dn, slice_sizes=sizes, mode="fill", fill_value=0)


@def_jvp(lax.reduce_window)
def _reduce_window(ans, operand, init_value, computation, window_dimensions, window_strides=None,
                   padding="VALID", base_dilation=None, window_dilation=None):
    # sum over window offsets k of coefs[k] * d[operand] at where[k], plus init's share.
    where, dn, sizes, coefs, init_coef = lax.vjp_helpers.reduce_window_tangent_coefficients(
        operand, init_value, ans, computation, window_dimensions, window_strides, padding,
        base_dilation, window_dilation)
    d[ans] = lax.reduce_sum(lax.gather(d[operand], where, dimension_numbers=dn, slice_sizes=sizes,
                                       mode="fill", fill_value=0) * coefs, axes=(0,)) \
        + lax.broadcast_in_dim(d[init_value], shape=lax.vjp_helpers.shape_of(ans),
                               broadcast_dimensions=()) * init_coef


@def_jvp(lax.conv_general_dilated)
def _conv_general_dilated(ans, lhs, rhs, window_strides, padding, lhs_dilation=None,
                          rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                          batch_group_count=1, precision=None, preferred_element_type=None):
    d[ans] = lax.conv_general_dilated(
        d[lhs], rhs, window_strides, padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        batch_group_count=batch_group_count, precision=precision,
        preferred_element_type=preferred_element_type) \
        + lax.conv_general_dilated(
            lhs, d[rhs], window_strides, padding, lhs_dilation=lhs_dilation,
            rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
            feature_group_count=feature_group_count, batch_group_count=batch_group_count,
            precision=precision, preferred_element_type=preferred_element_type)


@def_jvp(lax.conv)
def _conv(ans, lhs, rhs, window_strides, padding, precision=None, preferred_element_type=None):
    d[ans] = lax.conv(d[lhs], rhs, window_strides, padding, precision, preferred_element_type) \
        + lax.conv(lhs, d[rhs], window_strides, padding, precision, preferred_element_type)


@def_jvp(lax.conv_with_general_padding)
def _conv_with_general_padding(ans, lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation,
                               precision=None, preferred_element_type=None):
    d[ans] = lax.conv_with_general_padding(d[lhs], rhs, window_strides, padding, lhs_dilation,
                                           rhs_dilation, precision, preferred_element_type) \
        + lax.conv_with_general_padding(lhs, d[rhs], window_strides, padding, lhs_dilation,
                                        rhs_dilation, precision, preferred_element_type)


@def_jvp(lax.conv_transpose)
def _conv_transpose(ans, lhs, rhs, strides, padding, rhs_dilation=None, dimension_numbers=None,
                    transpose_kernel=False, precision=None, preferred_element_type=None,
                    use_consistent_padding=False):
    d[ans] = lax.conv_transpose(d[lhs], rhs, strides, padding, rhs_dilation, dimension_numbers,
                                transpose_kernel, precision, preferred_element_type,
                                use_consistent_padding) \
        + lax.conv_transpose(lhs, d[rhs], strides, padding, rhs_dilation, dimension_numbers,
                             transpose_kernel, precision, preferred_element_type,
                             use_consistent_padding)


@def_jvp(vjp_helpers.conv_transpose_lhs)
def _conv_transpose_lhs(ans, g, lhs, rhs, window_strides, padding, lhs_dilation=None,
                        rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                        batch_group_count=1, precision=None, preferred_element_type=None):
    # The conv adjoints are bilinear in the adjoint and the other operand; the operand
    # they give the adjoint of only lends its shape.
    d[ans] = lax.vjp_helpers.conv_transpose_lhs(
        d[g], lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type) \
        + lax.vjp_helpers.conv_transpose_lhs(
            g, lhs, d[rhs], window_strides, padding, lhs_dilation, rhs_dilation,
            dimension_numbers, feature_group_count, batch_group_count, precision,
            preferred_element_type)


@def_jvp(vjp_helpers.conv_transpose_rhs)
def _conv_transpose_rhs(ans, g, lhs, rhs, window_strides, padding, lhs_dilation=None,
                        rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                        batch_group_count=1, precision=None, preferred_element_type=None):
    d[ans] = lax.vjp_helpers.conv_transpose_rhs(
        d[g], lhs, rhs, window_strides, padding, lhs_dilation, rhs_dilation, dimension_numbers,
        feature_group_count, batch_group_count, precision, preferred_element_type) \
        + lax.vjp_helpers.conv_transpose_rhs(
            g, d[lhs], rhs, window_strides, padding, lhs_dilation, rhs_dilation,
            dimension_numbers, feature_group_count, batch_group_count, precision,
            preferred_element_type)


@def_jvp(vjp_helpers.conv_transpose_grad_lhs)
def _conv_transpose_grad_lhs(ans, g, lhs, rhs, strides, padding, rhs_dilation=None,
                             dimension_numbers=None, transpose_kernel=False, precision=None,
                             preferred_element_type=None, use_consistent_padding=False):
    d[ans] = lax.vjp_helpers.conv_transpose_grad_lhs(
        d[g], lhs, rhs, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
        precision, preferred_element_type, use_consistent_padding) \
        + lax.vjp_helpers.conv_transpose_grad_lhs(
            g, lhs, d[rhs], strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
            precision, preferred_element_type, use_consistent_padding)


@def_jvp(vjp_helpers.conv_transpose_grad_rhs)
def _conv_transpose_grad_rhs(ans, g, lhs, rhs, strides, padding, rhs_dilation=None,
                             dimension_numbers=None, transpose_kernel=False, precision=None,
                             preferred_element_type=None, use_consistent_padding=False):
    d[ans] = lax.vjp_helpers.conv_transpose_grad_rhs(
        d[g], lhs, rhs, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
        precision, preferred_element_type, use_consistent_padding) \
        + lax.vjp_helpers.conv_transpose_grad_rhs(
            g, d[lhs], rhs, strides, padding, rhs_dilation, dimension_numbers, transpose_kernel,
            precision, preferred_element_type, use_consistent_padding)


# Which elements a tangent takes, and their weights: piecewise constant in the primals.
def_zero_derivative(vjp_helpers.scatter_winners, vjp_helpers.scatter_extremal_coefficients,
                    vjp_helpers.window_choice, vjp_helpers.reduce_window_tangent_coefficients)
