"""``batch`` rules (``s2s.vmap``) of the lax primitives (they live here, above ``s2s.lax``,
because the batching helpers of ``s2s.numpy.batching`` dispatch on ``s2s.numpy``).

A rule is called as ``rule(axes, *args, **params)`` with the public wrapper's
arguments (``lax.reduce_sum(x, axes=(0,))``), ``axes[i]`` being 0 for a batched
operand (batch axis first) and None otherwise; it returns the result batched on
axis 0. Static parameters that name axes move one place right. Cases a rule
does not cover run once per example (``loop_call``), which is exact.

>>> import numpy as onp
>>> from s2s import lax
>>> from s2s.core.primitive import rules_of
>>> rules_of(lax.reduce_sum).batch((0,), onp.ones((4, 2, 3), "f"), axes=(1,)).shape
(4, 2)
"""
import inspect

from s2s import lax
from s2s.core.primitive import all_primitives, def_batch, wrapper_of
from s2s.lax.convolution import conv_transpose_params
from s2s.lax.structural import (_as_dnums, _index_operands, GatherDimensionNumbers,
                                ScatterDimensionNumbers)
from s2s.numpy.batch_forms import elementwise_form
from s2s.numpy.batching import (_asarray, _expand_to, _np, broadcast_batch, is_array, leading_size,
                                loop_call)




def _elementwise(fn):
    def rule(axes, /, *args, **params):
        top = max([_asarray(a).ndim - (ax is not None) for a, ax in zip(args, axes)], default=0)
        ops = [_expand_to(_asarray(a), top) if ax is not None else a for a, ax in zip(args, axes)]
        return fn(*ops, **params)
    rule.elementwise = True
    rule.source_form = elementwise_form  # (its wrappers broadcast like NumPy)
    return rule


def _same_shapes(fn):
    """``select_n`` and ``clamp`` take operands of one shape (or scalars), not NumPy's
    broadcasting: every operand is lifted to the batched shape of the largest one."""
    def rule(axes, /, *args, **params):
        args = [_asarray(a) for a in args]
        n = leading_size([a for a, ax in zip(args, axes) if ax is not None])
        shape = max((tuple(a.shape[ax is not None:]) for a, ax in zip(args, axes)), key=len)
        np = _np(*args)
        ops = [np.broadcast_to(_expand_to(a if ax is not None else a[None], len(shape)),
                               (n,) + shape) for a, ax in zip(args, axes)]
        return fn(*ops, **params)
    return rule


for _prim in all_primitives().values():
    _fn = wrapper_of(_prim)  # the wrapper in s2s.lax (registered first)
    if _fn in (lax.clamp, lax.select_n):
        def_batch(_prim)(_same_shapes(_fn))
    elif _fn is not None and _prim.elementwise:
        def_batch(_prim)(_elementwise(_fn))


def _only_first(fn, adjust):
    """Rules of one-operand primitives: ``adjust(x, params)`` gives the batched params.
    A parameter the call leaves out takes ``fn``'s default first (``lax.cumsum(x,
    reverse=True)`` sums along axis 0, which must move past the batch axis too)."""
    signature = inspect.signature(fn).parameters
    defaults = {k: p.default for k, p in signature.items()
                if p.default is not p.empty and p.kind == p.POSITIONAL_OR_KEYWORD}
    order = list(signature)

    def rule(axes, /, x, *rest, **params):
        if any(ax is not None for ax in axes[1:]):
            return loop_call(fn, axes, (x,) + rest, params)
        named = order[1:1 + len(rest)]  # given positionally
        params = {**{k: v for k, v in defaults.items() if k not in named}, **params}
        return fn(x, *rest, **adjust(_asarray(x), params))
    return rule


def _on(name, adjust):
    fn = getattr(lax, name)
    def_batch(fn)(_only_first(fn, adjust))


def _shift_param(key):
    def adjust(x, params):
        value = params[key]
        if isinstance(value, (tuple, list)):
            params[key] = tuple(int(v) % (x.ndim - 1) + 1 for v in value)
        else:
            params[key] = int(value) % (x.ndim - 1) + 1
        return params
    return adjust


for _name in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and",
              "reduce_or"):
    _on(_name, _shift_param("axes"))
for _name in ("argmax", "argmin", "cumsum", "cumprod", "cummax", "cummin"):
    _on(_name, _shift_param("axis"))
for _name in ("rev", "squeeze"):
    _on(_name, _shift_param("dimensions"))


def _expand_dims(x, params):
    """``dimensions`` count positions of the result, which has more axes than ``x``."""
    dims = tuple(params["dimensions"])
    rank = x.ndim - 1 + len(dims)
    return dict(params, dimensions=tuple(int(d) % rank + 1 for d in dims))


_on("expand_dims", _expand_dims)
_on("convert_element_type", lambda x, p: p)
_on("bitcast_convert_type", lambda x, p: p)
_on("transpose", lambda x, p: dict(p, permutation=(0,) + tuple(
    int(k) + 1 for k in p["permutation"])))
_on("broadcast_in_dim", lambda x, p: dict(p, shape=(x.shape[0],) + tuple(p["shape"]),
                                          broadcast_dimensions=(0,) + tuple(
                                              int(d) + 1 for d in p["broadcast_dimensions"])))
_on("slice", lambda x, p: dict(p, start_indices=(0,) + tuple(p["start_indices"]),
                               limit_indices=(x.shape[0],) + tuple(p["limit_indices"]),
                               strides=None if p.get("strides") is None
                               else (1,) + tuple(p["strides"])))
def _pad(axes, /, x, padding_value, **params):
    """The batch axis unpadded; a padding value that differs per example (the tangent of
    one, under hessian) is selected into the padded positions, which a padded mask marks."""
    config = ((0, 0, 0),) + tuple(tuple(c) for c in params["padding_config"])
    params = dict(params, padding_config=config)
    if len(axes) < 2 or axes[1] is None:
        return lax.pad(_asarray(x), padding_value, **params)
    value = _asarray(padding_value)
    x = _asarray(x) if axes[0] is not None else broadcast_batch(x, value.shape[0])
    base = lax.pad(x, lax.vjp_helpers.zeros((), x.dtype), **params)
    marked = lax.pad(lax.vjp_helpers.zeros(x.shape, bool), True, **params)
    fill = lax.broadcast_in_dim(lax.convert_element_type(value, new_dtype=x.dtype),
                                shape=tuple(base.shape), broadcast_dimensions=(0,))
    return lax.select_n(marked, base, fill)


def_batch(lax.pad)(_pad)


def _reshape(axes, /, x, new_sizes, dimensions=None, **params):
    """``dimensions`` permute the operand before the reshape: the batch axis stays first."""
    x = _asarray(x)
    if dimensions is not None:
        x = lax.transpose(x, permutation=(0,) + tuple(int(d) % (x.ndim - 1) + 1
                                                      for d in dimensions))
    return lax.reshape(x, new_sizes=(x.shape[0],) + tuple(new_sizes), **params)


def_batch(lax.reshape)(_reshape)


def _window(x, params):
    out = dict(params)
    out["window_dimensions"] = (1,) + tuple(params["window_dimensions"])
    for key in ("window_strides", "base_dilation", "window_dilation"):
        if params.get(key) is not None:
            out[key] = (1,) + tuple(params[key])
    if not isinstance(params.get("padding", "VALID"), str):
        out["padding"] = ((0, 0),) + tuple(tuple(p) for p in params["padding"])
    return out


for _name in ("reduce_window_sum", "reduce_window_max", "reduce_window_min"):
    _on(_name, _window)


def _reduce_window(axes, /, operand, init_value, **params):
    """The generic ``reduce_window``: the batch axis is one more window dimension, of size
    1. A start value that differs per example (JAX refuses it): holes are skipped, so a
    window is its start value folded with its elements, which the computation (a monoid)
    may take in any order: the windows reduced from its identity, then each example's
    start value folded in. One call per example where that value's dtype is not the
    operand's (its own call would promote or refuse)."""
    axes = tuple(axes) + (None,) * (2 - len(axes))
    x = _asarray(operand)
    if axes[1] is None:
        return lax.reduce_window(x, init_value, **_window(x, params))
    init = _asarray(init_value)
    if init.dtype != x.dtype or init.ndim != 1:
        return loop_call(lax.reduce_window, axes, (operand, init_value), params)
    kind = lax.reductions._computation_name(params["computation"])
    if axes[0] is None:
        x = broadcast_batch(x, init.shape[0])
    reduced = lax.reduce_window(x, lax.reductions._identity(kind, x.dtype), **_window(x, params))
    start = lax.reshape(init, new_sizes=init.shape + (1,) * (reduced.ndim - 1))
    return {"add": lax.add, "mul": lax.mul, "max": lax.max, "min": lax.min}[kind](reduced, start)


def_batch(lax.reduce_window)(_reduce_window)


def _window_helper_call(helper, axes, args, kwargs):
    """The arguments of a generic ``reduce_window`` adjoint helper called as
    ``helper(g, x, init_value, ans, computation, ...)``, batched: ``(g, x, ans)`` all with
    the batch axis first, the window parameters with a window of 1 over it. None where the
    start value, the computation or a window parameter differs per example."""
    params = inspect.signature(helper).bind(*args, **kwargs).arguments
    axes = tuple(axes) + (None,) * (len(args) - len(axes))
    if any(ax is not None for ax in axes[2:3] + axes[4:]):
        return None
    arrays = _all_batched((axes[0], axes[1], axes[3]), [params.pop(k) for k in ("g", "x", "ans")])
    g, x, ans = [_asarray(a) for a in arrays]
    init_value, computation = params.pop("init_value"), params.pop("computation")
    return (g, x, init_value, ans, computation), _window(x, params)


def _reduce_window_operand_grad(axes, /, *args, **kwargs):
    """Its adjoint for the operand (reverse mode, so jacrev and vmap of grad): the same
    helper with the batch axis a window of 1. Per example where the start value, the
    computation or a window parameter differs per example."""
    helper = lax.vjp_helpers.reduce_window_operand_grad
    call = _window_helper_call(helper, axes, args, kwargs)
    if call is None:
        return loop_call(helper, axes, args, kwargs)
    return helper(*call[0], **call[1])


def_batch(lax.vjp_helpers.reduce_window_operand_grad)(_reduce_window_operand_grad)


def _reduce_window_init_grad(axes, /, *args, **kwargs):
    """Its adjoint for the start value, ``sum(g * init_coefficient)`` per example: the
    coefficients of the windows with the batch axis a window of 1."""
    helper = lax.vjp_helpers.reduce_window_init_grad
    call = _window_helper_call(helper, axes, args, kwargs)
    if call is None:
        return loop_call(helper, axes, args, kwargs)
    (g, x, init_value, ans, computation), window = call
    *_, init_coef = lax.vjp_helpers.reduce_window_tangent_coefficients(x, init_value, ans,
                                                                       computation, **window)
    return lax.reduce_sum(lax.mul(g, init_coef), axes=tuple(range(1, g.ndim)))


def_batch(lax.vjp_helpers.reduce_window_init_grad)(_reduce_window_init_grad)


def _reduce_window_coefficient_tangents(axes, /, *args, **kwargs):
    """The coefficients' tangents, batched over the tangents ``(dx, dinit)`` (hessian,
    jacrev of grad: the primal window is every example's): one call, the batch axes
    leading. Per example where a primal argument differs per example."""
    helper = lax.vjp_helpers.reduce_window_coefficient_tangents
    params = inspect.signature(helper).bind(*args, **kwargs)
    params.apply_defaults()
    params = params.arguments
    axes = tuple(axes) + (None,) * (len(args) - len(axes))
    if any(ax is not None for i, ax in enumerate(axes) if i not in (1, 3)):
        return loop_call(helper, axes, args, kwargs)
    dx, dinit = _all_batched((axes[1], axes[3]), [params.pop("dx"), params.pop("dinit")])
    return lax.vjp_helpers._coefficient_tangents(
        params.pop("x"), _asarray(dx), params.pop("init_value"), _asarray(dinit), params.pop("ans"),
        params.pop("computation"), *params.values(), 1)


def_batch(lax.vjp_helpers.reduce_window_coefficient_tangents)(_reduce_window_coefficient_tangents)


def _all_batched(axes, /, args):
    n = leading_size([a for a, ax in zip(args, axes) if ax is not None])
    return [a if ax is not None else broadcast_batch(a, n) for a, ax in zip(args, axes)]


def _concatenate(axes, /, *xs, dimension):
    xs = _all_batched(axes, xs)
    return lax.concatenate(*xs, dimension=int(dimension) + 1)


def_batch(lax.concatenate)(_concatenate)


def _sort(axes, /, *operands, dimension=-1, is_stable=True, num_keys=1):
    ops = _all_batched(axes, operands)
    d = int(dimension) % (_asarray(ops[0]).ndim - 1) + 1
    return lax.sort(*ops, dimension=d, is_stable=is_stable, num_keys=num_keys)


def_batch(lax.sort)(_sort)


def _batched_starts(operand_shape, start_indices, n, allow_negative_indices=True):
    """Batched start indices (a batched 1-d array, or a sequence whose batched entries
    are 1-d) as one ``(n, rank)`` int32 array, negative starts counted from the end."""
    if is_array(start_indices):
        cols = [start_indices[:, k] for k in range(len(operand_shape))]
    else:
        cols = list(start_indices)
    out = []
    for dim, s in zip(operand_shape, cols):
        s = _asarray(s)
        np = _np(s)
        s = np.broadcast_to(np.asarray(s, "int32"), (n,))
        if allow_negative_indices:
            s = np.where(s < 0, s + dim, s)
        out.append(s)
    return _np(*out).stack(out, axis=1)


def _dynamic_slice(axes, /, operand, start_indices, slice_sizes, **params):
    if any(ax is not None for ax in axes[1:]):  # a gather, clamped like dynamic_slice
        x = _asarray(operand)
        ob = axes[0] is not None
        n = x.shape[0] if ob else leading_size(start_indices)
        shape = x.shape[1:] if ob else x.shape
        idx = _batched_starts(shape, start_indices, n, params.get("allow_negative_indices", True))
        rank = len(shape)
        dn = lax.GatherDimensionNumbers(
            offset_dims=tuple(range(1, rank + 1)), collapsed_slice_dims=(),
            start_index_map=tuple(range(ob, rank + ob)), operand_batching_dims=(0,) if ob else (),
            start_indices_batching_dims=(0,) if ob else ())
        return lax.gather(x, idx, dn, (1,) * ob + tuple(slice_sizes), mode="clip")
    x = _asarray(operand)
    return lax.dynamic_slice(x, (0,) + _index_operands(start_indices),
                             (x.shape[0],) + tuple(slice_sizes), **params)


def_batch(lax.dynamic_slice)(_dynamic_slice)


def _dynamic_update_slice(axes, /, operand, update, start_indices, **params):
    if any(ax is not None for ax in axes[2:]):  # a scatter, clamped like the update
        n = leading_size([a for a, ax in zip((operand, update, start_indices), axes)
                          if ax is not None])
        x = _asarray(operand) if axes[0] is not None else broadcast_batch(operand, n)
        update = _asarray(update) if axes[1] is not None else broadcast_batch(update, n)
        rank = x.ndim - 1
        idx = _batched_starts(x.shape[1:], start_indices, n,
                              params.get("allow_negative_indices", True))
        dn = lax.ScatterDimensionNumbers(
            update_window_dims=tuple(range(1, rank + 1)), inserted_window_dims=(),
            scatter_dims_to_operand_dims=tuple(range(1, rank + 1)), operand_batching_dims=(0,),
            scatter_indices_batching_dims=(0,))
        return lax.scatter(x, idx, update, dn, mode="clip")
    x, update = _all_batched(axes[:2], (operand, update))
    return lax.dynamic_update_slice(x, update, (0,) + _index_operands(start_indices), **params)


def_batch(lax.dynamic_update_slice)(_dynamic_update_slice)


def _dot_general(axes, /, lhs, rhs, *, dimension_numbers, **params):
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = _asarray(lhs), _asarray(rhs)
    up = lambda ds: tuple(int(d) + 1 for d in ds)  # noqa: E731
    if axes[0] is not None and axes[1] is not None:
        dn = ((up(lc), up(rc)), ((0,) + up(lb), (0,) + up(rb)))
        return lax.dot_general(lhs, rhs, dimension_numbers=dn, **params)
    if axes[0] is not None:
        dn = ((up(lc), tuple(rc)), (up(lb), tuple(rb)))
        out = lax.dot_general(lhs, rhs, dimension_numbers=dn, **params)
        return _to_front(out, len(lb))  # lhs free dims follow the batch dims
    dn = ((tuple(lc), up(rc)), (tuple(lb), up(rb)))
    out = lax.dot_general(lhs, rhs, dimension_numbers=dn, **params)
    lhs_free = lhs.ndim - len(lc) - len(lb)
    return _to_front(out, len(lb) + lhs_free)


def _to_front(x, position):
    if position == 0:
        return x
    perm = (position,) + tuple(k for k in range(x.ndim) if k != position)
    return lax.transpose(x, permutation=perm)


def_batch(lax.dot_general)(_dot_general)


def _stacked_matrices(fn):
    """Linear-algebra primitives act on stacks of matrices: the batch axis is one more."""
    def rule(axes, /, *args, **params):
        return fn(*_all_batched(axes, args), **params)
    return rule


for _name in ("cholesky", "eigh", "qr", "svd", "lu", "triangular_solve"):
    if hasattr(lax, "linalg") and hasattr(lax.linalg, _name):
        def_batch(getattr(lax.linalg, _name))(_stacked_matrices(getattr(lax.linalg, _name)))


# ---------------------------------------------------------------------------
# Convolution: the batch axis folded into the operands' batch, feature or group
# dimensions (as JAX's batching rule does), one convolution for every example.


def _axis_into(src, dst, x):
    """``x`` with axis ``src`` merged into axis ``dst`` (counted without ``src``), as the
    major part of it."""
    np = _np(x)
    perm = [i for i in range(x.ndim) if i != src]
    perm.insert(dst, src)
    shape = [x.shape[i] for i in range(x.ndim) if i != src]
    shape[dst] *= x.shape[src]
    return np.reshape(np.transpose(x, perm), shape)


def _axis_out_of(src, size, x):
    """``x`` with axis ``src`` split into ``(size, rest)``."""
    shape = list(x.shape)
    shape[src:src + 1] = [size, shape[src] // size]
    return _np(x).reshape(x, shape)


def _conv_general_dilated(axes, /, lhs, rhs, window_strides, padding, lhs_dilation=None,
                          rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                          batch_group_count=1, **params):
    lhs, rhs = _asarray(lhs), _asarray(rhs)
    lb, rb = axes[0] is not None, len(axes) > 1 and axes[1] is not None
    n = (lhs if lb else rhs).shape[0]
    lhs_shape = lhs.shape[1:] if lb else lhs.shape
    rhs_shape = rhs.shape[1:] if rb else rhs.shape
    lhs_spec, rhs_spec, out_spec = lax.conv_dimension_numbers(lhs_shape, rhs_shape,
                                                              dimension_numbers)
    groups = {"feature_group_count": feature_group_count, "batch_group_count": batch_group_count}

    def conv(a, b):
        return lax.conv_general_dilated(
            a, b, window_strides, padding, lhs_dilation, rhs_dilation,
            (lhs_spec, rhs_spec, out_spec), **groups, **params)

    if lb and rb:  # every example its own group: features (or batch groups) times n
        if batch_group_count > 1:
            new_lhs = _axis_into(0, lhs_spec[0], lhs)
            groups["batch_group_count"] = batch_group_count * n
        else:
            new_lhs = _axis_into(0, lhs_spec[1], lhs)
            groups["feature_group_count"] = feature_group_count * n
        out = conv(new_lhs, _axis_into(0, rhs_spec[0], rhs))
        return _to_axis0(_axis_out_of(out_spec[1], n, out), out_spec[1])
    if lb:
        if batch_group_count == 1:  # the examples join the convolution's own batch
            out = conv(_axis_into(0, lhs_spec[0], lhs), rhs)
            return _to_axis0(_axis_out_of(out_spec[0], n, out), out_spec[0])
        new_lhs = _axis_out_of(lhs_spec[0] + 1, batch_group_count, lhs)
        new_lhs = _axis_into(0, lhs_spec[0] + 1, new_lhs)
        new_lhs = _axis_into(lhs_spec[0], lhs_spec[0], new_lhs)
        out = conv(new_lhs, rhs)
        return _to_axis0(_axis_out_of(out_spec[0], n, out), out_spec[0])
    if feature_group_count == 1 and batch_group_count == 1:  # n times the output features
        out = conv(lhs, _axis_into(0, rhs_spec[0], rhs))
        return _to_axis0(_axis_out_of(out_spec[1], n, out), out_spec[1])
    # Groups are outermost in the output features: factor them out, fold the examples
    # into what remains, put the groups back.
    count = feature_group_count if feature_group_count > 1 else batch_group_count
    new_rhs = _axis_out_of(rhs_spec[0] + 1, count, rhs)
    new_rhs = _axis_into(0, rhs_spec[0] + 1, new_rhs)
    new_rhs = _axis_into(rhs_spec[0], rhs_spec[0], new_rhs)
    out = conv(lhs, new_rhs)
    out = _axis_out_of(out_spec[1], count, out)
    out = _axis_out_of(out_spec[1] + 1, n, out)
    out = _axis_into(out_spec[1], out_spec[1] + 1, out)  # the examples now at out_spec[1]
    return _to_axis0(out, out_spec[1])


def _to_axis0(x, position):
    return _np(x).moveaxis(x, position, 0)


def_batch(lax.conv_general_dilated)(_conv_general_dilated)


def _conv(axes, /, lhs, rhs, window_strides, padding, precision=None,
          preferred_element_type=None):
    return _conv_general_dilated(axes[:2], lhs, rhs, window_strides, padding, precision=precision,
                                 preferred_element_type=preferred_element_type)


def _conv_with_general_padding(axes, /, lhs, rhs, window_strides, padding, lhs_dilation,
                               rhs_dilation, precision=None, preferred_element_type=None):
    return _conv_general_dilated(axes[:2], lhs, rhs, window_strides, padding, lhs_dilation,
                                 rhs_dilation, precision=precision,
                                 preferred_element_type=preferred_element_type)


def _conv_transpose(axes, /, lhs, rhs, strides, padding, rhs_dilation=None,
                    dimension_numbers=None, transpose_kernel=False, precision=None,
                    preferred_element_type=None, use_consistent_padding=False):
    """The convolution ``conv_transpose`` runs, its kernel flipped behind the batch axis."""
    lhs, rhs = _asarray(lhs), _asarray(rhs)
    lb, rb = int(axes[0] is not None), int(len(axes) > 1 and axes[1] is not None)
    flip, perm, params = conv_transpose_params(
        lhs.shape[lb:], rhs.shape[rb:], strides, padding, rhs_dilation, dimension_numbers,
        transpose_kernel, use_consistent_padding)
    if transpose_kernel:
        rhs = lax.transpose(lax.rev(rhs, dimensions=tuple(d + rb for d in flip)),
                            permutation=tuple(range(rb)) + tuple(p + rb for p in perm))
    return _conv_general_dilated((axes[0], 0 if rb else None), lhs, rhs, **params,
                                 precision=precision, preferred_element_type=preferred_element_type)


def_batch(lax.conv)(_conv)
def_batch(lax.conv_with_general_padding)(_conv_with_general_padding)
def_batch(lax.conv_transpose)(_conv_transpose)


_CONV_OPTIONS = ("precision", "preferred_element_type")


def _conv_adjoint_rule(helper, adjoint, operands):
    """The batch rule of a conv adjoint helper (``conv_transpose_lhs``/``rhs``): the
    helper's one convolution batched by the rule above. ``operands`` names the two
    arguments it convolves; the third lends only its (per-example) shape."""
    names = list(inspect.signature(helper).parameters)
    donor = next(n for n in ("lhs", "rhs") if n not in operands)

    def rule(axes, /, *args, **kwargs):
        params = inspect.signature(helper).bind(*args, **kwargs)
        params.apply_defaults()
        values = params.arguments
        batched = {n: i < len(axes) and axes[i] is not None for i, n in enumerate(names)}
        x, y = (_asarray(values[n]) for n in operands)
        shape = tuple(_asarray(values[donor]).shape[batched[donor]:])
        statics = tuple(values[n] for n in names[3:] if n not in _CONV_OPTIONS)
        options = {n: values[n] for n in _CONV_OPTIONS}
        flags = tuple(batched[n] for n in operands)
        if not any(flags):  # only the shape donor is batched: one result for every example
            n = _asarray(values[donor]).shape[0]
            return broadcast_batch(adjoint(x, y, shape, statics, options), n)
        return adjoint(x, y, shape, statics, options, _conv_general_dilated, flags)
    return rule


def_batch(lax.vjp_helpers.conv_transpose_lhs)(_conv_adjoint_rule(
    lax.vjp_helpers.conv_transpose_lhs, lax.vjp_helpers.conv_lhs_adjoint, ("g", "rhs")))
def_batch(lax.vjp_helpers.conv_transpose_rhs)(_conv_adjoint_rule(
    lax.vjp_helpers.conv_transpose_rhs, lax.vjp_helpers.conv_rhs_adjoint, ("g", "lhs")))
def_batch(lax.vjp_helpers.conv_transpose_grad_lhs)(_conv_adjoint_rule(
    lax.vjp_helpers.conv_transpose_grad_lhs, lax.vjp_helpers.conv_transpose_lhs_adjoint,
    ("g", "rhs")))
def_batch(lax.vjp_helpers.conv_transpose_grad_rhs)(_conv_adjoint_rule(
    lax.vjp_helpers.conv_transpose_grad_rhs, lax.vjp_helpers.conv_transpose_rhs_adjoint,
    ("g", "lhs")))


# ---------------------------------------------------------------------------
# gather and scatter: the batch axis becomes a full slice (window) dimension of the
# operand when only the operand is batched, and a pair of batching dimensions of
# operand and indices when the indices are batched (as JAX's batching rules).


def _up(dims):
    return tuple(int(d) + 1 for d in dims)


def _gather(axes, /, operand, start_indices, dimension_numbers, slice_sizes, **params):
    dn = _as_dnums(GatherDimensionNumbers, "gather", dimension_numbers)
    ob, ib = axes[0] is not None, len(axes) > 1 and axes[1] is not None
    operand, start_indices = _asarray(operand), _asarray(start_indices)
    if ob and not ib:
        new = GatherDimensionNumbers(
            offset_dims=(0,) + _up(dn.offset_dims), collapsed_slice_dims=_up(dn.collapsed_slice_dims),
            start_index_map=_up(dn.start_index_map),
            operand_batching_dims=_up(dn.operand_batching_dims),
            start_indices_batching_dims=dn.start_indices_batching_dims)
        sizes = (operand.shape[0],) + tuple(slice_sizes)
    elif ib and not ob:
        new = GatherDimensionNumbers(
            offset_dims=_up(dn.offset_dims), collapsed_slice_dims=dn.collapsed_slice_dims,
            start_index_map=dn.start_index_map, operand_batching_dims=dn.operand_batching_dims,
            start_indices_batching_dims=_up(dn.start_indices_batching_dims))
        sizes = tuple(slice_sizes)
    else:
        new = GatherDimensionNumbers(
            offset_dims=_up(dn.offset_dims), collapsed_slice_dims=_up(dn.collapsed_slice_dims),
            start_index_map=_up(dn.start_index_map),
            operand_batching_dims=(0,) + _up(dn.operand_batching_dims),
            start_indices_batching_dims=(0,) + _up(dn.start_indices_batching_dims))
        sizes = (1,) + tuple(slice_sizes)
    return lax.gather(operand, start_indices, new, sizes, **params)


def_batch(lax.gather)(_gather)


def _scatter_rule(fn):
    def rule(axes, /, operand, scatter_indices, updates, dimension_numbers, **params):
        dn = _as_dnums(ScatterDimensionNumbers, fn.__name__, dimension_numbers)
        axes = tuple(axes) + (None,) * (3 - len(axes))
        n = leading_size([a for a, ax in zip((operand, scatter_indices, updates), axes)
                          if ax is not None])
        operand = _asarray(operand) if axes[0] is not None else broadcast_batch(operand, n)
        updates = _asarray(updates) if axes[2] is not None else broadcast_batch(updates, n)
        if axes[1] is None:  # the batch axis: one more window dimension, covering it all
            new = ScatterDimensionNumbers(
                update_window_dims=(0,) + _up(dn.update_window_dims),
                inserted_window_dims=_up(dn.inserted_window_dims),
                scatter_dims_to_operand_dims=_up(dn.scatter_dims_to_operand_dims),
                operand_batching_dims=_up(dn.operand_batching_dims),
                scatter_indices_batching_dims=dn.scatter_indices_batching_dims)
        else:
            new = _batching_scatter_dnums(dn)
        return fn(operand, scatter_indices, updates, new, **params)
    return rule


def _batching_scatter_dnums(dn):
    """``dn`` with the batch axis, first in operand, indices and updates, a batching
    dimension: one scatter per example."""
    return ScatterDimensionNumbers(
        update_window_dims=_up(dn.update_window_dims),
        inserted_window_dims=_up(dn.inserted_window_dims),
        scatter_dims_to_operand_dims=_up(dn.scatter_dims_to_operand_dims),
        operand_batching_dims=(0,) + _up(dn.operand_batching_dims),
        scatter_indices_batching_dims=(0,) + _up(dn.scatter_indices_batching_dims))


for _name in ("scatter", "scatter_add", "scatter_mul", "scatter_min", "scatter_max"):
    def_batch(getattr(lax, _name))(_scatter_rule(getattr(lax, _name)))


def _scatter_helper_rule(helper):
    """A scatter adjoint helper (``s2s.lax.vjp_helpers``: arrays, then
    ``dimension_numbers`` and statics) batched as one call: every array gets the batch
    axis first, which becomes a batching dimension of the scatter problem; the helper's
    results, shaped like its operand or its updates, then carry it first too."""
    signature = inspect.signature(helper)
    names = list(signature.parameters)
    n_arrays = names.index("dimension_numbers")

    def rule(axes, /, *args, **kwargs):
        axes = tuple(axes) + (None,) * (len(args) - len(axes))
        if any(ax is not None for ax in axes[n_arrays:]):
            return loop_call(helper, axes, args, kwargs)
        params = signature.bind(*args, **kwargs).arguments
        arrays = _all_batched(axes[:n_arrays], [params[k] for k in names[:n_arrays]])
        params.update({k: _asarray(a) for k, a in zip(names, arrays)})
        dn = _as_dnums(ScatterDimensionNumbers, helper.__name__, params["dimension_numbers"])
        params["dimension_numbers"] = _batching_scatter_dnums(dn)
        return helper(**params)
    return rule


for _name in ("scatter_add_updates_grad", "scatter_add_like", "scatter_operand_grad",
              "scatter_updates_grad", "scatter_updates_grad_transpose", "scatter_mul_updates_grad",
              "scatter_mul_updates_tangent", "scatter_extremal_operand_grad",
              "scatter_extremal_updates_grad", "scatter_winners", "scatter_extremal_coefficients"):
    def_batch(getattr(lax.vjp_helpers, _name))(_scatter_helper_rule(getattr(lax.vjp_helpers, _name)))
