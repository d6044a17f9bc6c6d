"""``batch`` rules (``s2s.vmap``) of NumPy-level functions.

A rule is called as ``rule(axes, *args, **kwargs)`` with the function's own
arguments, ``axes[i]`` being 0 for a batched argument (batch axis first) and
None otherwise; it returns the result batched on axis 0. Cases a rule does not
cover go to ``loop_call`` (one call per example, stacked), which is exact.

>>> import numpy as onp
>>> import s2s.numpy as np
>>> from s2s.core.primitive import rules_of
>>> rules_of(np.sum).batch((0,), onp.ones((4, 2, 3)), axis=0).shape
(4, 3)
"""
import functools
import inspect

import gast
import numpy as onp

import s2s.numpy as np
from s2s.core import hooks
from s2s.core import dtypes
from s2s.core.primitive import def_batch, rules_of, Tracer
from s2s import lax
from s2s.lax import control_flow
from s2s.numpy import _reductions, _vjp_helpers
from s2s.numpy import linalg
from s2s.numpy import batch_forms as F
from s2s.parse import quoting as q
from s2s.numpy.batching import (_asarray, _expand_to, _np, broadcast_batch, is_array,
                              leading_size, loop_call)


def _operand(x, axis):
    """A batched argument as an array: a list of batched arrays stacks on axis 1."""
    if axis is None or is_array(x):
        return x
    if isinstance(x, (list, tuple)):
        parts = [_operand(e, 0) for e in x]
        return _np(*parts).stack([_asarray(p) for p in parts], axis=1)
    return _asarray(x)


def _rank(x, axis):
    return onp.ndim(x) - (axis is not None) if is_array(x) or not isinstance(x, (list, tuple)) \
        else onp.ndim(onp.asarray(x)) if axis is None else _rank(_operand(x, axis), axis)


def elementwise(fn, single_result=True):
    """The rule of an elementwise (broadcasting) function: batched operands are padded
    so their per-example axes line up with the unbatched ones (in source: ``x[:, None]``)."""
    def rule(axes, /, *args, **kwargs):
        ops = [_operand(a, ax) for a, ax in zip(args, axes)]
        top = max([_rank(a, ax) for a, ax in zip(ops, axes)], default=0)
        ops = [_expand_to(_asarray(a), top) if ax is not None else a for a, ax in zip(ops, axes)]
        return fn(*ops, **kwargs)
    rule.elementwise = True  # one batched operand and Python numbers: the call as written
    if single_result:  # (modf's pair of arrays is not an array of the top rank)
        rule.source_form = F.elementwise_form
    return rule


_ELEMENTWISE = [
    "add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "mod",
    "fmod", "divmod", "power", "pow", "float_power", "negative", "positive", "absolute", "abs",
    "fabs", "sign", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "cbrt",
    "square", "reciprocal", "sin", "cos", "tan", "arcsin", "arccos", "arctan", "arctan2", "sinh",
    "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "deg2rad", "rad2deg", "hypot", "logaddexp",
    "logaddexp2", "maximum", "minimum", "fmax", "fmin", "floor", "ceil", "trunc", "rint",
    "round", "clip", "isnan", "isinf", "isfinite", "isposinf", "isneginf", "isclose",
    "heaviside", "sinc", "nan_to_num", "signbit", "copysign", "nextafter", "ldexp", "modf",
    "conjugate", "real", "imag", "angle", "isreal", "iscomplex", "equal", "not_equal", "less",
    "less_equal", "greater", "greater_equal", "logical_and", "logical_or", "logical_xor",
    "logical_not", "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "left_shift",
    "right_shift", "astype",
]
for _name in _ELEMENTWISE:
    _fn = getattr(np, _name)
    def_batch(_fn)(elementwise(_fn, single_result=_name not in ("modf", "divmod")))


def _astype_form(site):
    """``np.astype(x, dtype)`` as written (the rule's): the dtype, whatever the build knows
    of it (``np.float64``, ``np.result_type(y)``), is one for every example."""
    x, rest = (site.args[0], site.args[1:]) if site.args else (None, ())
    if x is None or not F.is_array(x.kind) or any(o.batched for o in rest) \
            or any(k.batched for k in site.kwargs.values()):
        return None
    return site.rebuild([a.node for a in site.args]), F.Array(x.rank)


rules_of(np.astype).batch.source_form = _astype_form


def _where_rule(axes, /, condition, x=None, y=None, **kwargs):
    if x is None and y is None:
        return loop_call(np.where, axes, (condition,), kwargs)
    return elementwise(np.where)(axes, condition, x, y, **kwargs)


def_batch(np.where)(_where_rule)


@F.source_form(_where_rule)
def _where_form(site):
    return F.elementwise_form(site) if len(site.args) == 3 and not site.kwargs else None


def _passthrough(fn):
    """Functions whose result keeps the operand's layout (``zeros_like``, ``copy``...)."""
    def rule(axes, /, a, *args, **kwargs):
        if any(ax is not None for ax in axes[1:]) or "shape" in kwargs:
            return loop_call(fn, axes, (a,) + args, kwargs)
        return fn(_operand(a, axes[0]), *args, **kwargs)
    return rule


def _passthrough_form(site):
    """``np.zeros_like(x)``, ``np.asarray(x, dtype)``... of a batched array: as written (no
    ``shape=`` or ``ndmin=``, which would not keep the layout; at most a fill value and a
    dtype positionally)."""
    a, rest = (site.args[0], site.args[1:]) if site.args else (None, ())
    if a is None or not F.is_array(a.kind) or len(rest) > 2 or any(o.batched for o in rest) \
            or any(v.batched for v in site.kwargs.values()) \
            or not set(site.kwargs) <= {"dtype", "order", "copy", "fill_value"}:
        return None
    return site.rebuild([o.node for o in site.args]), F.Array(a.rank)


for _fn in (np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.copy, np.asarray,
            np.array, np.stop_gradient if hasattr(np, "stop_gradient") else np.copy):
    def_batch(_fn)(_passthrough(_fn)).source_form = _passthrough_form


# ---------------------------------------------------------------------------
# Functions with an ``axis``.


def _shift(axis, pe, none_means_all=True):
    """A per-example ``axis`` argument for the batched array (batch axis first)."""
    if axis is None:
        return tuple(range(1, pe + 1)) if none_means_all else None
    if isinstance(axis, (tuple, list)):
        return tuple(_shift(a, pe) for a in axis)
    axis = int(axis)
    if not -pe <= axis < pe:
        raise onp.exceptions.AxisError(f"axis {axis} is out of bounds for array of dimension {pe}")
    return axis % pe + 1


def _axis_default(fn):
    import inspect
    try:
        p = inspect.signature(fn).parameters.get("axis")
    except (TypeError, ValueError):
        return None
    return None if p is None or p.default is inspect.Parameter.empty else p.default


def reduction(fn, position=1, none_means_all=True, flatten_none=False, keeps_rank=None):
    """The rule of ``fn(a, axis=None, ...)``: per-example axes move one place right.

    ``keeps_rank`` (True: ``cumsum``, ``softmax``; False: ``sum``) gives the rule its
    source form; None leaves it without one."""
    default = _axis_default(fn)

    def rule(axes, /, a, *args, **kwargs):
        if any(ax is not None for ax in axes[1:]) or any(
                is_array(v) for k, v in kwargs.items() if k in ("where", "weights")):
            return loop_call(fn, axes, (a,) + args, kwargs)
        a = _operand(a, axes[0])
        args = list(args)
        if len(args) >= position:
            axis = args[position - 1]
        else:
            axis = kwargs.get("axis", default)
        if axis is None and flatten_none:
            a = _np(a).reshape(a, (a.shape[0], -1))
            new = 1
        else:
            new = _shift(axis, a.ndim - 1, none_means_all)
        if len(args) >= position:
            args[position - 1] = new
        else:
            kwargs["axis"] = new
        return fn(a, *args, **kwargs)
    if keeps_rank is not None:
        rule.source_form = _reduction_form(position, default, none_means_all, flatten_none,
                                           keeps_rank)
    return rule


_MISSING = object()


def _reduction_form(position, default, none_means_all, flatten_none, keeps_rank):
    """``np.sum(h, axis=1)``: the rule's shifted axis, known when the axis is a constant."""
    def form(site):
        a, rest = site.args[0], site.args[1:]
        if not F.is_array(a.kind) or any(o.batched for o in rest) or len(rest) > position:
            return None
        by_position = len(rest) == position
        axis = rest[-1].const(_MISSING) if by_position else (
            site.kwargs["axis"].const(_MISSING) if "axis" in site.kwargs else default)
        keepdims = site.kwargs["keepdims"].const(_MISSING) if "keepdims" in site.kwargs else False
        statics_known = all(site.kwargs[k].const(_MISSING) is not _MISSING
                            for k in ("where", "weights") if k in site.kwargs)
        if axis is _MISSING or keepdims is _MISSING or not statics_known:
            return None
        pe = a.rank
        if axis is None and flatten_none:
            rank = 1 if keeps_rank else 0
            if not a.batched:
                return None, F.Array(rank)
            flat = q.call(site.np("reshape"), [a.node, gast.Tuple(
                elts=[F.batch_size(a.node), q.const(-1)], ctx=gast.Load())])
            return _with_axis(site, [flat] + [o.node for o in rest], 1, by_position), F.Array(rank)
        try:
            new = _shift(axis, pe, none_means_all)
        except (onp.exceptions.AxisError, TypeError, ValueError):
            return None  # the rule raises NumPy's error at run time
        count = pe if axis is None else len(axis) if isinstance(axis, (tuple, list)) else 1
        rank = pe if keeps_rank or keepdims else pe - count
        if isinstance(new, tuple) and len(new) == 1:
            new = new[0]  # axis=(1,) reads as axis=1 and means the same
        return _with_axis(site, [a.node] + [o.node for o in rest], new, by_position), F.Array(rank)
    return form


def _with_axis(site, nodes, axis, by_position):
    if by_position:
        return site.rebuild(nodes[:-1] + [q.const(axis)])
    return site.rebuild(nodes, site.keywords(axis=axis))


for _fn in (np.sum, np.prod, np.mean, np.max, np.min, np.amax, np.amin, np.any, np.all, np.std,
            np.var, np.nansum, np.nanmean, np.nanmax, np.nanmin, np.nanprod, np.ptp,
            np.count_nonzero, np.median, np.nanstd, np.nanvar):
    def_batch(_fn)(reduction(_fn, keeps_rank=False))
for _fn in (np.argmax, np.argmin, np.cumsum, np.cumprod, np.sort, np.argsort):
    def_batch(_fn)(reduction(_fn, flatten_none=_fn not in (np.sort, np.argsort),
                             keeps_rank=_fn not in (np.argmax, np.argmin)))
for _fn in (np.flip,):
    def_batch(_fn)(reduction(_fn, keeps_rank=True))


# ---------------------------------------------------------------------------
# Shape functions.


def _single(rule_fn):
    """Rules for functions whose one array operand comes first (others static)."""
    def rule(axes, /, a, *args, **kwargs):
        if any(ax is not None for ax in axes[1:]):
            return loop_call(rule_fn.fn, axes, (a,) + args, kwargs)
        a = _asarray(_operand(a, axes[0]))
        return rule_fn(a, a.ndim - 1, *args, **kwargs)
    return rule


def _on(fn, form=None):
    """Registers ``impl(a, pe, *statics)`` as ``fn``'s rule; ``form(a, pe, **statics)`` gives
    ``(per-example rank, arguments after a)`` for its source form, from constant statics."""
    def register(impl):
        impl.fn = fn
        rule = def_batch(fn)(_single(impl))
        if form is not None:
            rule.source_form = _single_form(fn, impl, form)
        return impl
    return register


def _single_form(fn, impl, form):
    import inspect
    params = list(inspect.signature(impl).parameters.values())[2:]
    names = [p.name for p in params if p.kind is p.POSITIONAL_OR_KEYWORD]
    keywords = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}

    def source(site):
        a, rest = site.args[0], site.args[1:]
        if not F.is_array(a.kind) or any(o.batched for o in rest) or len(rest) > len(names):
            return None
        statics = dict(zip(names, (o.const(_MISSING) for o in rest)))
        statics.update({k: v.const(_MISSING) for k, v in site.kwargs.items()})
        if _MISSING in statics.values() or not set(statics) <= keywords:
            return None
        try:
            rank, args = form(a.node if a.batched else None, a.rank, **statics)
        except (onp.exceptions.AxisError, TypeError, ValueError):
            return None  # the rule raises NumPy's error at run time
        if args is None or not a.batched:
            return (None, F.Array(rank)) if rank is not None else None
        return q.call(site.np(fn.__name__), [a.node] + args), F.Array(rank)
    return source


def _consts(*values):
    return [F.tuple_node(v) if isinstance(v, tuple) else q.const(v) for v in values]


def _reshape_form(a, pe, newshape=None, shape=None, order="C"):
    target = newshape if newshape is not None else shape
    target = (target,) if isinstance(target, int) else tuple(target)
    if order != "C" or sum(d == -1 for d in target) > 1:
        return None, None
    if a is None:
        return len(target), None
    size = gast.Tuple(elts=[F.batch_size(a)] + _consts(*target), ctx=gast.Load())
    return len(target), [size]


def _transpose_form(a, pe, axes=None):
    perm = tuple(range(pe, 0, -1)) if axes is None else tuple(_shift(int(k), pe) for k in axes)
    return pe, _consts((0,) + perm)


def _swapaxes_form(a, pe, axis1, axis2):
    return pe, _consts(_shift(axis1, pe), _shift(axis2, pe))


def _moveaxis_form(a, pe, source, destination):
    return pe, _consts(_shift(source, pe), _shift(destination, pe))


def _expand_dims_form(a, pe, axis):
    n = pe + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    return n, _consts(_shift(axis, n))


def _squeeze_form(a, pe, axis=None):
    if axis is None:
        return None, None  # which axes have length 1 is known at run time only
    count = len(axis) if isinstance(axis, (tuple, list)) else 1
    return pe - count, _consts(_shift(axis, pe)) if axis != () else None


@_on(np.reshape, _reshape_form)
def _reshape(a, pe, newshape=None, *args, shape=None, **kwargs):
    target = newshape if newshape is not None else shape
    target = (target,) if isinstance(target, int) else tuple(target)
    return np.reshape(a, (a.shape[0],) + target, *args, **kwargs)


@_on(np.ravel)
def _ravel(a, pe, order="C"):
    return np.reshape(a, (a.shape[0], -1))


@_on(np.transpose, _transpose_form)
def _transpose(a, pe, axes=None):
    if axes is None:
        return _np(a).transpose(a, (0,) + tuple(range(pe, 0, -1)))
    return _np(a).transpose(a, (0,) + tuple(_shift(int(k), pe) for k in axes))


@_on(np.swapaxes, _swapaxes_form)
def _swapaxes(a, pe, axis1, axis2):
    return _np(a).swapaxes(a, _shift(axis1, pe), _shift(axis2, pe))


@_on(np.moveaxis, _moveaxis_form)
def _moveaxis(a, pe, source, destination):
    return _np(a).moveaxis(a, _shift(source, pe), _shift(destination, pe))


@_on(np.expand_dims, _expand_dims_form)
def _expand_dims(a, pe, axis):
    n = pe + (len(axis) if isinstance(axis, (tuple, list)) else 1)
    return _np(a).expand_dims(a, _shift(axis, n))


@_on(np.squeeze, _squeeze_form)
def _squeeze(a, pe, axis=None):
    if axis is None:
        axis = tuple(k for k in range(pe) if a.shape[k + 1] == 1)
    return _np(a).squeeze(a, _shift(axis, pe)) if axis != () else a


@_on(np.broadcast_to)
def _broadcast_to(a, pe, shape):
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    return _np(a).broadcast_to(_expand_to(a, len(shape)), (a.shape[0],) + shape)


@_on(np.matrix_transpose if hasattr(np, "matrix_transpose") else np.swapaxes)
def _matrix_transpose(a, pe):
    return _np(a).swapaxes(a, -1, -2)


@_on(np.atleast_1d)
def _atleast_1d(a, pe):
    return a if pe >= 1 else _np(a).reshape(a, (a.shape[0], 1))


@_on(np.tile)
def _tile(a, pe, reps):
    reps = (reps,) if isinstance(reps, int) else tuple(reps)
    a = _expand_to(a, len(reps))
    return np.tile(a, (1,) * (a.ndim - len(reps)) + reps)


@_on(np.repeat)
def _repeat(a, pe, repeats, axis=None):
    if is_array(repeats) and onp.ndim(repeats) > 0:
        return loop_call(np.repeat, (0,), (a,), {"repeats": repeats, "axis": axis})
    if axis is None:
        return np.repeat(np.reshape(a, (a.shape[0], -1)), repeats, axis=1)
    return np.repeat(a, repeats, axis=_shift(axis, pe))


@_on(np.roll)
def _roll(a, pe, shift, axis=None):
    if axis is None:
        flat = np.reshape(a, (a.shape[0], -1))
        return np.reshape(np.roll(flat, shift, axis=1), a.shape)
    return np.roll(a, shift, axis=_shift(axis, pe))


def _sequence_rule(fn, none_flattens, rank_offset):
    """``concatenate``/``stack``-like functions of a sequence of arrays and an axis."""
    def rule(axes, /, arrays, axis=0, **kwargs):
        if any(ax is not None for ax in axes[1:]):
            return loop_call(fn, axes, (arrays, axis), kwargs)
        n = leading_size(arrays)
        items = [broadcast_batch(x, n) if not _is_batched_leaf(x, n) else x for x in arrays]
        items = [_asarray(x) for x in items]
        if axis is None and none_flattens:
            return fn([np.reshape(x, (n, -1)) for x in items], axis=1, **kwargs)
        pe = max(x.ndim - 1 for x in items) + rank_offset
        return fn(items, axis=_shift(axis, pe), **kwargs)
    return rule


def _is_batched_leaf(x, n):
    # A batched sequence has batched items only; an unbatched sequence none: the caller
    # (the transformation) passes axis 0 for the whole sequence when any item is batched
    # and broadcasts the others into it (see batch.py), so every item here is batched.
    return True


def_batch(np.concatenate)(_sequence_rule(np.concatenate, True, 0))
def_batch(np.stack)(_sequence_rule(np.stack, False, 1))


def _split_rule(fn):
    def rule(axes, /, a, indices_or_sections, axis=0):
        if any(ax is not None for ax in axes[1:]):
            return loop_call(fn, axes, (a, indices_or_sections, axis), {})
        return fn(a, indices_or_sections, axis=_shift(axis, a.ndim - 1))
    return rule


def_batch(np.split)(_split_rule(np.split))
def_batch(np.array_split)(_split_rule(np.array_split))


# ---------------------------------------------------------------------------
# Products.


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _dot_spec(an, bn, a_batched, b_batched):
    """An einsum spec computing ``np.dot`` per example (``Z`` is the batch letter)."""
    a = list(_LETTERS[:an])
    b = list(_LETTERS[an:an + bn])
    if an == 0 or bn == 0:
        out = a + b
    else:
        k = a[-1]
        if bn == 1:
            b[0] = k
        else:
            b[-2] = k
        out = a[:-1] + [x for x in b if x != k]
    za, zb = ("Z" if a_batched else ""), ("Z" if b_batched else "")
    return f"{za}{''.join(a)},{zb}{''.join(b)}->Z{''.join(out)}"


def _dot_rule(axes, /, a, b, out=None):
    a, b = _asarray(_operand(a, axes[0])), _asarray(_operand(b, axes[1]))
    an, bn = a.ndim - (axes[0] is not None), b.ndim - (axes[1] is not None)
    if axes[1] is None and an >= 1 and bn >= 1:
        return np.dot(a, b)  # the batch axis is one more leading axis of a
    if axes[0] is None and an == 2 and bn == 1:
        return np.dot(b, np.transpose(a))  # matrix-vector becomes matrix-matrix
    if an == 0 or bn == 0:
        return elementwise(np.multiply)(axes, a, b)
    return np.einsum(_dot_spec(an, bn, axes[0] is not None, axes[1] is not None), a, b)


def_batch(np.dot)(_dot_rule)


def _dot_kind(an, bn):
    return F.Array(an + bn if an == 0 or bn == 0 else an + bn - 2)


@F.source_form(_dot_rule)
def _dot_form(site, as_written=True):
    """The rule's product as NumPy: ``np.dot(x, W)`` (the batch axis is one more leading
    axis of ``x``), ``np.dot(x, W.T)`` for a constant matrix times a batched vector,
    ``np.einsum`` when both are batched."""
    if len(site.args) != 2 or site.kwargs:
        return None
    a, b = site.args
    an, bn = a.rank, b.rank
    if not (F.is_array(a.kind) and F.is_array(b.kind)):
        return None  # Python numbers and lists: the rule converts them first
    kind = _dot_kind(an, bn)
    if not site.batched:
        return None, kind
    dot = site.np("dot")
    if not b.batched and an >= 1 and bn >= 1:
        return (site.rebuild([a.node, b.node]) if as_written else q.call(dot, [a.node, b.node])), kind
    if not a.batched and an == 2 and bn == 1:
        return q.call(dot, [b.node, q.call(site.np("transpose"), [a.node])]), kind
    if an == 0 or bn == 0:
        return q.call(site.np("multiply"), [F.expand(o.node, max(an, bn) - o.rank) if o.batched
                                            else o.node for o in (a, b)]), kind
    spec = _dot_spec(an, bn, a.batched, b.batched)
    return q.call(site.np("einsum"), [q.const(spec), a.node, b.node]), kind


def _matmul_rule(axes, /, a, b, out=None):
    a, b = _asarray(_operand(a, axes[0])), _asarray(_operand(b, axes[1]))
    an, bn = a.ndim - (axes[0] is not None), b.ndim - (axes[1] is not None)
    if an == 1 and bn == 1 or an <= 2 and bn <= 2 and None in axes:
        return _dot_rule(axes, a, b)  # matmul is dot: a constant matrix stays one matrix
    # 1-d operands become matrices, the batch axis lines up with the other's leading axes.
    ea, eb = an == 1, bn == 1
    if ea:
        a = _np(a).expand_dims(a, -2)
    if eb:
        b = _np(b).expand_dims(b, -1)
    lead = max(a.ndim - (axes[0] is not None), b.ndim - (axes[1] is not None)) - 2
    if axes[0] is not None:
        a = _expand_to(a, lead + 2)
    if axes[1] is not None:
        b = _expand_to(b, lead + 2)
    if axes[0] is None:
        a = _np(a).reshape(a, (1,) * (lead + 2 - a.ndim + 1) + tuple(a.shape))
    if axes[1] is None:
        b = _np(b).reshape(b, (1,) * (lead + 2 - b.ndim + 1) + tuple(b.shape))
    out = np.matmul(a, b)
    if ea:
        out = _np(out).squeeze(out, -2)
    if eb:
        out = _np(out).squeeze(out, -1)
    return out


def_batch(np.matmul)(_matmul_rule)


@F.source_form(_matmul_rule)
def matmul_form(site):
    """``a @ b`` as the rule computes it: ``np.dot``'s forms where the rule takes them, the
    product as written for two batched stacks of matrices of one rank."""
    if len(site.args) != 2 or site.kwargs:
        return None
    a, b = site.args
    an, bn = a.rank, b.rank
    if not (F.is_array(a.kind) and F.is_array(b.kind)) or an == 0 or bn == 0:
        return None
    if an == 1 and bn == 1 or an <= 2 and bn <= 2 and not (a.batched and b.batched):
        return _dot_form(site, as_written=False)
    kind = F.Array(max(an, bn) - (an == 1) - (bn == 1))
    if not site.batched:
        return None, kind
    if a.batched and b.batched and an == bn:
        return site.rebuild([a.node, b.node]), kind
    return None, kind


def _vector_product(fn, spec):
    def rule(axes, /, a, b):
        a, b = _asarray(_operand(a, axes[0])), _asarray(_operand(b, axes[1]))
        if fn is np.vdot:  # vdot flattens its operands: so does each example
            a, b = _flat_example(a, axes[0]), _flat_example(b, axes[1])
        an, bn = a.ndim - (axes[0] is not None), b.ndim - (axes[1] is not None)
        if an != 1 or bn != 1:
            return loop_call(fn, axes, (a, b), {})
        za, zb = ("Z" if axes[0] is not None else ""), ("Z" if axes[1] is not None else "")
        left, right = spec.split(",")
        rhs, out = right.split("->")
        return np.einsum(f"{za}{left},{zb}{rhs}->Z{out}", a if fn is not np.vdot else np.conj(a), b)
    return rule


def _flat_example(x, axis):
    """Each example of ``x`` (batch axis first, or none) flattened."""
    return np.ravel(x) if axis is None else np.reshape(x, (x.shape[0], -1))


def_batch(np.inner)(_vector_product(np.inner, "i,i->"))
def_batch(np.vdot)(_vector_product(np.vdot, "i,i->"))
def_batch(np.outer)(_vector_product(np.outer, "i,j->ij"))


def _einsum_rule(axes, /, spec, *operands, **kwargs):
    if not isinstance(spec, str) or axes[0] is not None or "." in spec:
        return loop_call(np.einsum, axes, (spec,) + operands, kwargs)
    ins, _, out = spec.replace(" ", "").partition("->")
    if not _:
        return loop_call(np.einsum, axes, (spec,) + operands, kwargs)
    free = next(c for c in _LETTERS.upper() + _LETTERS if c not in spec)
    terms = [(free + t if ax is not None else t) for t, ax in zip(ins.split(","), axes[1:])]
    return np.einsum(f"{','.join(terms)}->{free}{out}", *operands, **kwargs)


def_batch(np.einsum)(_einsum_rule)


def _tensordot_rule(axes, /, a, b, *args, **kwargs):
    contraction = args[0] if args else kwargs.pop("axes", 2)
    a, b = _asarray(_operand(a, axes[0])), _asarray(_operand(b, axes[1]))
    an, bn = a.ndim - (axes[0] is not None), b.ndim - (axes[1] is not None)
    if isinstance(contraction, int):
        ca, cb = list(range(an - contraction, an)), list(range(contraction))
    else:
        ca, cb = ([c] if isinstance(c, int) else list(c) for c in contraction)
        ca, cb = [k % an for k in ca], [k % bn for k in cb]
    if axes[0] is not None and axes[1] is not None:
        return _tensordot_both(a, b, ca, cb)
    if axes[0] is not None:
        return np.tensordot(a, b, axes=([k + 1 for k in ca], cb))
    out = np.tensordot(a, b, axes=(ca, [k + 1 for k in cb]))
    return np.moveaxis(out, an - len(ca), 0)


def _tensordot_both(a, b, ca, cb):
    """``tensordot`` of two batched operands: an ``einsum`` sharing the batch letter
    (``ca``/``cb``: the contracted per-example axes, nonnegative)."""
    an, bn = a.ndim - 1, b.ndim - 1
    letters = iter(_LETTERS + _LETTERS.upper().replace("Z", ""))
    ta = [next(letters) for _ in range(an)]
    tb = [next(letters) for _ in range(bn)]
    for i, j in zip(ca, cb):
        tb[j] = ta[i]
    free_a = [t for k, t in enumerate(ta) if k not in ca]
    free_b = [t for k, t in enumerate(tb) if k not in cb]
    spec = f"Z{''.join(ta)},Z{''.join(tb)}->Z{''.join(free_a + free_b)}"
    return np.einsum(spec, a, b)


def_batch(np.tensordot)(_tensordot_rule)


# ---------------------------------------------------------------------------
# numpy.linalg: the matrix functions act on stacks of matrices already.


def _stacked(fn, core):
    """Rules of functions acting on the trailing ``core`` axes of one array operand."""
    def rule(axes, /, a, *args, **kwargs):
        if any(ax is not None for ax in axes[1:]):
            return loop_call(fn, axes, (a,) + args, kwargs)
        return fn(_operand(a, axes[0]), *args, **kwargs)
    return rule


for _name in ("inv", "cholesky", "det", "slogdet", "eigh", "eigvalsh", "qr", "svd", "pinv",
              "matrix_power", "eigvals", "eig"):
    if hasattr(linalg, _name):
        def_batch(getattr(linalg, _name))(_stacked(getattr(linalg, _name), 2))


def _solve_rule(axes, /, a, b):
    n = leading_size([x for x, ax in zip((a, b), axes) if ax is not None])
    a = a if axes[0] is not None else broadcast_batch(a, n)
    b = b if axes[1] is not None else broadcast_batch(b, n)
    if b.ndim == 2:  # per-example vectors, broadcast against a's own batch axes too
        return linalg.solve(a, b[(slice(None),) + (None,) * (a.ndim - 3) + (slice(None), None)])[..., 0]
    return linalg.solve(a, b)


def_batch(linalg.solve)(_solve_rule)


# ---------------------------------------------------------------------------
# np.linalg.norm and np.quantile: the per-example reduced axes move one place right;
# ``axis=None`` names every per-example axis (or, for a norm of a given order, the one
# or two axes of the per-example vector or matrix).


def _arguments(fn, args, kwargs):
    """``fn``'s arguments by name, defaults left out (``inspect.BoundArguments``)."""
    return inspect.signature(fn).bind(*args, **kwargs).arguments


def _norm_rule(axes, /, *args, **kwargs):
    if any(ax is not None for ax in axes[1:]):
        return loop_call(linalg.norm, axes, args, kwargs)
    p = _arguments(linalg.norm, args, kwargs)
    x = _asarray(_operand(p.pop("x"), 0))
    pe, ord, axis = x.ndim - 1, p.get("ord"), p.get("axis")
    if axis is not None:
        return linalg.norm(x, **dict(p, axis=_shift(axis, pe)))
    if ord is None:  # the 2-norm of the flattened example, whatever its rank
        r = linalg.norm(_np(x).reshape(x, (x.shape[0], -1)), axis=1)
        return _np(r).reshape(r, (x.shape[0],) + (1,) * pe) if p.get("keepdims") else r
    if pe not in (1, 2):  # NumPy's error for an order without a vector or matrix
        return loop_call(linalg.norm, axes, args, kwargs)
    return linalg.norm(x, **dict(p, axis=_shift(None, pe)))


def_batch(linalg.norm)(_norm_rule)


def _quantile_rule(axes, /, *args, **kwargs):
    p = _arguments(np.quantile, args, kwargs)
    if any(ax is not None for ax in axes[1:]):
        q = p.get("q")
        if axes[1:] == (0,) and isinstance(q, Tracer) and onp.ndim(q) == 1 and set(p) <= {
                "a", "q", "axis", "method", "keepdims"}:
            return _quantile_per_example_q(axes[0] is not None, **p)
        if axes[1:] == (0,) and _host_q_per_example(q) and set(p) <= {
                "a", "q", "axis", "method", "keepdims"}:
            return _quantile_per_example_host_q(axes[0] is not None, **p)
        return loop_call(np.quantile, axes, args, kwargs)
    a = _asarray(_operand(p.pop("a"), 0))
    if p.get("axis") is None and a.ndim == 1:  # scalar examples: a quantile of one value
        a = a[:, None]
        p["keepdims"] = False
    p["axis"] = _shift(p.get("axis"), a.ndim - 1)
    r = np.quantile(a, **p)
    q = p["q"]
    return _np(r).moveaxis(r, q.ndim if is_array(q) else onp.ndim(q), 0)  # after q's axes


def_batch(np.quantile)(_quantile_rule)


def _host_q_per_example(q):
    """A host ``q`` of one float quantile per example, each in [0, 1] (else each example
    runs on its own, and raises as it would alone)."""
    if not isinstance(q, (onp.ndarray, list, tuple)) or isinstance(q, Tracer):
        return False
    qa = onp.asarray(q)
    return qa.ndim == 1 and qa.dtype.kind in "fiu" and bool(onp.all((qa >= 0) & (qa <= 1)))


# How many values a per-example-q quantile computes in one NumPy call, at most: the
# distinct quantiles times the batch's reduced results (chunked above that).
_QUANTILE_CHUNK = 1 << 22


def _quantile_per_example_host_q(a_batched, a, q, axis=None, method="linear", keepdims=False):
    """``np.quantile`` of each example at its own host ``q`` (a scalar each), eagerly:
    NumPy's quantile of the examples at their distinct ``q`` values in one call, each
    example's result then read at its own ``q``. Each (q, example) result is NumPy's
    computation on that example alone, elementwise, so it is what the example gives on
    its own (``_reductions._quantile_impl``) to the bit."""
    qa = onp.asarray(q, onp.float64)
    n = qa.shape[0]
    method = _reductions._method("quantile", method, None)
    a = onp.asarray(_asarray(a))
    a = a if a_batched else onp.broadcast_to(a, (n,) + a.shape)
    dt = dtypes.to_inexact_dtype(dtypes.canonicalize_dtype(a.dtype))
    pe = a.ndim - 1
    axis = _reductions._static_axis(axis)
    if pe == 0:  # scalar examples: the quantile of one value
        a, red, keepdims = a[:, None], (1,), False
    elif axis is None:
        red = tuple(range(1, pe + 1))
    else:
        red = tuple(int(k) % pe + 1 for k in (axis if isinstance(axis, tuple) else (axis,)))
    values, which = onp.unique(qa, return_inverse=True)
    per_q = max(1, _QUANTILE_CHUNK // max(1, a.size // max(1, _reduced_count(a.shape, red))))
    out = None
    for start in range(0, len(values), per_q):
        chunk = values[start:start + per_q]
        rows = onp.nonzero((which >= start) & (which < start + len(chunk)))[0]
        r = onp.quantile(a[rows].astype(dt), chunk, axis=red, method=method, keepdims=keepdims)
        got = onp.asarray(r)[which[rows] - start, onp.arange(len(rows))].astype(dt)
        if out is None:
            out = onp.empty((n,) + got.shape[1:], dt)
        out[rows] = got
    return out


def _reduced_count(shape, red):
    return int(onp.prod([shape[k] for k in red]))


def _quantile_per_example_q(a_batched, a, q, axis=None, method="linear", keepdims=False):
    """``np.quantile`` with a staged ``q`` per example (a scalar each): the formula staged
    ``q`` takes for one example (``s2s.numpy._reductions._quantile``: sort, positions
    ``q * (n - 1)``, the two neighbours interpolated), each example's neighbours
    gathered at its own positions, op for op that formula."""
    n = q.shape[0]
    a = _asarray(a) if a_batched else broadcast_batch(_asarray(a), n)
    pe = a.ndim - 1
    dt = dtypes.to_inexact_dtype(a.dtype)
    red = tuple(range(pe)) if axis is None else tuple(
        int(k) % pe for k in (axis if isinstance(axis, (tuple, list)) else (axis,)))
    rest = [k for k in range(pe) if k not in red]
    m = int(onp.prod([a.shape[k + 1] for k in red]))
    x = np.transpose(a.astype(dt), [0] + [k + 1 for k in rest] + [k + 1 for k in red])
    x = lax.sort(np.reshape(x, (n,) + tuple(a.shape[k + 1] for k in rest) + (m,)),
                 dimension=len(rest) + 1)
    lo, hi, frac = _reductions._quantile_indices(q, m, _reductions._check_method("quantile", method))
    lead = (n,) + (1,) * (len(rest) + 1)

    def pick(idx):
        idx = np.broadcast_to(np.reshape(idx.astype(np.int32), lead), x.shape[:-1] + (1,))
        return np.take_along_axis(x, idx, axis=-1)[..., 0]
    r = pick(lo)
    if hi is not lo:
        hi_v = pick(hi)
        if frac is None:
            r = lax.mul(lax.add(r, hi_v), onp.asarray(0.5, dt))
        else:
            f = np.broadcast_to(np.reshape(frac.astype(dt), lead[:-1]), r.shape)
            r = lax.add(r, lax.mul(lax.sub(hi_v, r), f))
    r = np.where(np.isnan(x[..., m - 1]), onp.asarray(onp.nan, dt), r)
    if keepdims:
        r = np.reshape(r, (n,) + tuple(1 if k in red else a.shape[k + 1] for k in range(pe)))
    return r


def _through_formula_rule(axes, /, g, x, formula, static):
    """The adjoint a norm or quantile takes through its formula (``through_formula``), for
    a batch of cotangents (jacrev) or of points (vmap of grad): one pullback of the
    formula's vmap. Per example where the formula or its statics differ per example."""
    axes = tuple(axes) + (None,) * (4 - len(axes))
    if any(ax is not None for ax in axes[2:]):
        return loop_call(_vjp_helpers.through_formula, axes, (g, x, formula, static), {})
    n = leading_size([v for v, ax in zip((g, x), axes) if ax is not None])
    g, x = (v if ax is not None else broadcast_batch(v, n) for v, ax in zip((g, x), axes))
    batched = hooks.vmap(functools.partial(formula, *static))
    return control_flow._pullback(batched, (x,), g)[0]


def_batch(_vjp_helpers.through_formula)(_through_formula_rule)


# Source forms of the norm and quantile rules: ``np.linalg.norm(x, ord=3, axis=2)``.


def _statics_by_name(fn, site, operands):
    """The call's arguments after the first ``operands`` as ``{name: (node, constant)}``,
    or None where one is batched or not a constant the build knows."""
    names = [p.name for p in inspect.signature(fn).parameters.values()
             if p.kind is p.POSITIONAL_OR_KEYWORD][operands:]
    rest = site.args[operands:]
    if len(rest) > len(names) or any(o.batched for o in rest) or any(
            o.batched for o in site.kwargs.values()):
        return None
    given = dict(zip(names, rest), **site.kwargs)
    out = {k: (o.node, o.const(_MISSING)) for k, o in given.items()}
    return None if any(v is _MISSING for _, v in out.values()) else out


def _by_keyword(statics, **replace):
    return [gast.keyword(arg=k, value=F.tuple_node(replace[k]) if isinstance(replace.get(k), tuple)
                         else q.const(replace[k]) if k in replace else node)
            for k, (node, _) in statics.items()] + [
        gast.keyword(arg=k, value=F.tuple_node(v) if isinstance(v, tuple) else q.const(v))
        for k, v in replace.items() if k not in statics]


def _reduced(axis, pe):
    """The batched ``axis`` of a reduction over per-example ``axis`` (None: every axis) and
    how many per-example axes it reduces; raises NumPy's error for a bad axis."""
    new = _shift(axis, pe)
    if isinstance(new, tuple) and len(new) == 1:
        new = new[0]
    return new, (pe if axis is None else len(axis) if isinstance(axis, (tuple, list)) else 1)


@F.source_form(_norm_rule)
def _norm_form(site):
    a = site.args[0] if site.args else None
    statics = _statics_by_name(linalg.norm, site, 1) if a is not None else None
    if statics is None or not F.is_array(a.kind):
        return None
    axis, pe = statics.get("axis", (None, None))[1], a.rank
    if axis is None and pe not in (1, 2):
        return None  # a flattened example (the rule reshapes it), or NumPy's error
    try:
        new, count = _reduced(axis, pe)  # (the Frobenius norm is the flattened 2-norm)
    except (onp.exceptions.AxisError, TypeError, ValueError):
        return None
    rank = pe if statics.get("keepdims", (None, False))[1] else pe - count
    node = site.rebuild([a.node], _by_keyword(statics, axis=new)) if a.batched else None
    return node, F.Array(rank)


def _seq_rank(kind):
    """The rank of a value of ``kind``, nested lists and tuples of numbers included."""
    rank = F.rank_of(kind)
    if rank is None and isinstance(kind, F.Seq) and kind.items:
        inner = {_seq_rank(k) for k in kind.items}
        rank = 1 + inner.pop() if len(inner) == 1 and None not in inner else None
    return rank


@F.source_form(_quantile_rule)
def _quantile_form(site):
    if len(site.args) < 2 or not F.is_array(site.args[0].kind) or site.args[1].batched:
        return None
    a, qs = site.args[:2]
    statics = _statics_by_name(np.quantile, site, 2)
    if statics is None or "interpolation" in statics or _seq_rank(qs.kind) is None:
        return None
    qnd, pe, axis = _seq_rank(qs.kind), a.rank, statics.get("axis", (None, None))[1]
    if axis is None and pe == 0:
        return None  # the rule gives scalar examples an axis first
    try:
        new, count = _reduced(axis, pe)
    except (onp.exceptions.AxisError, TypeError, ValueError):
        return None
    rank = qnd + (pe if statics.get("keepdims", (None, False))[1] else pe - count)
    if not a.batched:
        return None, F.Array(rank)
    node = site.rebuild([a.node, qs.node], _by_keyword(statics, axis=new))
    if qnd:  # the examples follow q's axes
        node = q.call(site.np("moveaxis"), [node, q.const(qnd), q.const(0)])
    return node, F.Array(rank)
