"""Adjoint helpers of the NumPy-level derivative templates (``s2s/numpy/vjp_rules.py``).

They are written on ``s2s.numpy`` itself, not on NumPy: eagerly they run NumPy
(through the primitives' ``impl``), under ``jit`` they stage, and derivative code
that calls them is differentiable again because s2s reads their source like any
user function (``grad(grad(f))``). Python ``if``s here only test static values
(shapes, axes, ``None``).

>>> import numpy as onp
>>> extremum_grad(onp.float32(1.0), onp.float32(3.0), onp.array([3.0, 1.0, 3.0], onp.float32))
array([0.5, 0. , 0.5], dtype=float32)
"""
import functools

import numpy as onp

import s2s.numpy as np
from s2s.core.array import Array
from s2s.core.primitive import Tracer
from s2s.lax import control_flow as lax_cf, control_flow_jvp as cf_jvp, vjp_helpers as lax_helpers
from s2s.lax import linalg_jvp as lax_jvp
from s2s.numpy._linalg_basic import _checked_spec, _parse_interleaved


# unbroadcast and unreduce run on host arrays with NumPy (their rules, in
# s2s/runtime/rules.py, make them differentiable) and on staged values with s2s.numpy.
_HOST_ARRAYS = (onp.ndarray, Array)  # NumPy's eager arrays and s2s's view of them


def unbroadcast(g, x):
    """Sums ``g`` down to the shape of ``x`` (the adjoint of NumPy broadcasting). The
    adjoint of a real ``x`` in an operation with a complex result is the real part of
    ``g`` (JAX's convention: ``x`` is promoted to complex, whose adjoint is the real
    part); a complex one reaching, say, the ``|z|`` of ``w / |z|`` made second
    derivatives through ``abs`` of complex values wrong."""
    if g is None:
        return None
    if type(g) in _HOST_ARRAYS and type(x) in _HOST_ARRAYS and g.shape == x.shape \
            and (g.dtype.kind != "c" or x.dtype.kind == "c"):
        return g  # the common case, checked first: eager arrays of equal shape
    if _complex_to_real(g, x):
        g = np.real(g)
    if isinstance(g, Tracer) or isinstance(x, Tracer):
        shape = tuple(_shape(x))
        gshape = tuple(g.shape) if hasattr(g, "shape") else ()
        if gshape == shape:
            return g
        return _sum_to_shape(np, g, gshape, shape)
    if isinstance(g, (list, tuple)) and isinstance(x, (list, tuple)):
        if len(g) != len(x):  # `+` of sequences s2s did not see were sequences
            raise TypeError("s2s cannot differentiate this `+` of lists or tuples: write the "
                            "operands as list displays, or build the list with append")
        return g
    shape = onp.shape(x)
    gshape = onp.shape(g)
    if gshape == shape:
        return g
    return _sum_to_shape(onp, g, gshape, shape)


def _complex_to_real(g, x):
    g_kind = getattr(getattr(g, "dtype", None), "kind", None)
    if g_kind != "c":
        return False
    x_dtype = getattr(x, "dtype", None)
    if x_dtype is None:
        return isinstance(x, (bool, int, float))
    return onp.dtype(x_dtype).kind in "biuf"


def _shape(x):
    return x.shape if hasattr(x, "shape") else onp.shape(x)


def _sum_to_shape(np, g, gshape, shape):
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1)
    if axes:
        g = np.sum(g, axis=axes, keepdims=True)
    if lead:
        g = np.reshape(g, shape)
    return g


def unreduce(g, x, axis=None, keepdims=False, where=None):
    """Broadcasts the adjoint of a reduction over ``axis`` back to ``x``'s shape (zero
    where ``where`` is False: those elements took no part)."""
    if g is None:
        return None
    xp = np if isinstance(g, Tracer) or isinstance(x, Tracer) or isinstance(where, Tracer) else onp
    shape = tuple(_shape(x))
    if axis is not None and not keepdims:
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        axes = tuple(a % len(shape) for a in axes)
        g = xp.expand_dims(g, axes)
    out = xp.broadcast_to(g, shape)
    if where is not None:
        out = xp.where(where, out, xp.zeros((), out.dtype))
    return out



def _axes(axis, ndim):
    """``axis`` (None, int, tuple; negative allowed) as a sorted tuple of non-negative axes."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, int):
        return (axis % ndim,)
    return tuple(sorted(a % ndim for a in axis))


def _inverse(order):
    out = [0] * len(order)
    for i, o in enumerate(order):
        out[o] = i
    return tuple(out)


def _conj(x):
    return np.conj(x) if np.iscomplexobj(x) else x


def _mT(x):
    return np.swapaxes(x, -1, -2)


def through_formula(g, x, formula, static):
    """The adjoint of ``x`` in ``formula(*static, x)``, by reverse mode of its source (for
    functions whose adjoint is easiest said as "differentiate this definition")."""
    # A library call: vmap (jacrev of a gradient) runs it per example, each with a pullback
    # of its own (one pullback's tape is spent by one call).
    return lax_cf._pullback(functools.partial(formula, *static), (x,), g)[0]


def through_formula_jvp(g, x, formula, static, dg, dx):
    """The tangent of ``through_formula`` (forward over reverse: a Hessian through a norm
    or a quantile): ``J^T dg`` plus the gradient of ``<g, J dx>`` in ``x``."""
    return cf_jvp.pullback_tangent(functools.partial(formula, *static), g, (x,), dg, (dx,))[0]


def through_formula_ct_g(ct, x, formula, static):
    """The adjoint of ``g`` in ``through_formula(g, x, ...)`` (``J^T g``): ``J ct``, forward
    mode of the formula (a jvp through a norm or quantile transposes this)."""
    return cf_jvp._tangent_of(functools.partial(formula, *static), (x,), (ct,))


def through_formula_ct_x(ct, g, x, formula, static):
    """The adjoint of ``x`` in ``through_formula(g, x, ...)``: the gradient of
    ``<g, J(x) ct>`` in ``x``."""
    return cf_jvp.directional_pullback(functools.partial(formula, *static), (x,), (ct,), g)[0]


def masked(g, where):
    """``g`` where ``where`` holds, else zero (the ``where=`` argument of reductions)."""
    if g is None or where is None:
        return g
    return np.where(where, g, np.zeros((), g.dtype))


# ---------------------------------------------------------------------------
# Reductions.


def extremum_grad(g, ans, a, axis=None, keepdims=False, where=None):
    """Adjoint of ``a`` in ``max``/``min``: shared evenly among the tied maximizers (as JAX)."""
    if g is None:
        return None
    a = np.asarray(a)
    share = _extremum_hits(ans, a, axis, keepdims, where)
    count = np.sum(share, axis=axis, keepdims=True)
    return unreduce(g, a, axis, keepdims) * share / np.maximum(count, 1)


def _extremum_hits(ans, a, axis, keepdims, where):
    """1 where ``a`` attains its reduced extremum ``ans`` (inside ``where``), else 0."""
    hit = np.equal(a, unreduce(ans, a, axis, keepdims))
    if where is not None:
        hit = np.logical_and(hit, where)
    return hit.astype(a.dtype)


def prod_grad(g, a, axis=None, keepdims=False, initial=None, where=None):
    """Adjoint of ``a`` in ``prod``: the product of the other elements (no division, so
    zeros are handled), times the adjoint."""
    if g is None:
        return None
    a = np.asarray(a)
    if where is not None:
        a = np.where(where, a, np.ones((), a.dtype))
    if initial is not None:
        g = g * initial
    nd = a.ndim
    reduced = _axes(axis, nd)
    kept = tuple(i for i in range(nd) if i not in reduced)
    order = kept + reduced
    x = np.transpose(a, order)
    kept_shape = x.shape[:len(kept)]
    n = 1
    for i in reduced:
        n *= a.shape[i]
    if n == 0:
        return np.zeros_like(a)
    x = np.reshape(x, kept_shape + (n,))
    ones = np.ones(kept_shape + (1,), x.dtype)
    before = np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)
    after = np.flip(np.cumprod(np.concatenate([ones, np.flip(x, -1)[..., :-1]], axis=-1),
                               axis=-1), -1)
    others = before * after * np.reshape(g, kept_shape + (1,))
    out = np.transpose(np.reshape(others, tuple(a.shape[i] for i in order)), _inverse(order))
    return masked(out, where)


def var_grad(g, a, axis=None, ddof=0, keepdims=False, where=None, correction=None):
    """Adjoint of ``a`` in ``var``: ``2 (a - mean) / (n - ddof)`` times the adjoint."""
    if g is None:
        return None
    return unreduce(g, a, axis, keepdims) * _var_weights(a, axis, ddof, where, correction)


def _var_weights(a, axis=None, ddof=0, where=None, correction=None):
    """``d var / d a`` (conjugated for complex ``a``): ``2 conj(a - mean) / (n - ddof)``."""
    if correction is not None:
        ddof = correction
    a = np.asarray(a)
    if where is None:
        n = 1
        for i in _axes(axis, a.ndim):
            n *= a.shape[i]
        centered = a - np.mean(a, axis=axis, keepdims=True)
    else:
        w = np.broadcast_to(where, a.shape).astype(a.dtype)
        n = np.sum(w, axis=axis, keepdims=True)
        centered = (a - np.sum(a * w, axis=axis, keepdims=True) / n) * w
    return 2 * _conj(centered) / (n - ddof)


def std_grad(g, ans, a, axis=None, ddof=0, keepdims=False, where=None, correction=None):
    """Adjoint of ``a`` in ``std = sqrt(var)``."""
    if g is None:
        return None
    return var_grad(g / (2 * ans), a, axis, ddof, keepdims, where, correction)


def sort_grad(g, a, axis=-1):
    """Adjoint of ``a`` in ``sort``: each element's adjoint goes back where it came from."""
    if g is None:
        return None
    a = np.asarray(a)
    if axis is None:
        perm = np.argsort(np.ravel(a), stable=True)
        return np.reshape(np.take(g, np.argsort(perm, stable=True)), a.shape)
    perm = np.argsort(a, axis=axis, stable=True)
    return np.take_along_axis(g, np.argsort(perm, axis=axis, stable=True), axis=axis)


def cumsum_grad(g, a, axis=None):
    """Adjoint of ``a`` in ``cumsum``: the reversed cumulative sum of the adjoint."""
    if g is None:
        return None
    a = np.asarray(a)
    if axis is None:
        return np.reshape(np.flip(np.cumsum(np.flip(g))), a.shape)
    return np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis)


def cumprod_grad(g, ans, a, axis=None):
    """Adjoint of ``a`` in ``cumprod`` (zeros in ``a`` handled)."""
    if g is None:
        return None
    a = np.asarray(a)
    if axis is None:
        flat = lax_helpers.cumprod_grad(g, np.ravel(a).astype(ans.dtype), ans, 0, False)
        return np.reshape(flat, a.shape)
    return lax_helpers.cumprod_grad(g, a.astype(ans.dtype), ans, axis % a.ndim, False)



def cumprod_tangent(t, ans, a, axis=None):
    """Tangent of ``cumprod`` (zeros in ``a`` exact): the transpose of ``cumprod_grad``."""
    a = np.asarray(a)
    if axis is None:
        return lax_helpers.cumprod_tangent(np.ravel(t).astype(ans.dtype),
                                           np.ravel(a).astype(ans.dtype), ans, 0, False)
    return lax_helpers.cumprod_tangent(np.asarray(t).astype(ans.dtype), a.astype(ans.dtype), ans,
                                       axis % a.ndim, False)



# Tangents (the forward templates of s2s/numpy/jvp_rules.py): each transposes the adjoint
# above, so forward and reverse mode share ties, masks and zeros.


def extremum_tangent(t, ans, a, axis=None, keepdims=False, where=None):
    """Tangent of ``max``/``min``: the mean of ``t`` over the tied extremizers (as
    ``extremum_grad`` and JAX); zero where ``initial`` wins.

    >>> a = onp.array([3.0, 1.0, 3.0], onp.float32)
    >>> extremum_tangent(onp.array([1.0, 5.0, 3.0], onp.float32), onp.float32(3.0), a)
    array(2., dtype=float32)
    """
    a = np.asarray(a)
    share = _extremum_hits(ans, a, axis, keepdims, where)
    count = np.sum(share, axis=axis, keepdims=keepdims)
    return np.sum(t * share, axis=axis, keepdims=keepdims) / np.maximum(count, 1)


def prod_tangent(t, ans, a, axis=None, keepdims=False, initial=None, where=None):
    """Tangent of ``prod``: ``t`` weighted by the product of the other elements (no
    division: zeros are exact)."""
    others = prod_grad(np.ones_like(ans), a, axis, keepdims, initial, where)
    return np.sum(t * others, axis=axis, keepdims=keepdims)


def var_tangent(t, a, axis=None, ddof=0, keepdims=False, where=None, correction=None):
    """Tangent of ``var``: ``2 Re(sum(conj(a - mean) t)) / (n - ddof)``."""
    out = np.sum(t * _var_weights(a, axis, ddof, where, correction), axis=axis, keepdims=keepdims)
    return np.real(out) if np.iscomplexobj(out) else out


def std_tangent(t, ans, a, axis=None, ddof=0, keepdims=False, where=None, correction=None):
    """Tangent of ``std = sqrt(var)``."""
    return var_tangent(t, a, axis, ddof, keepdims, where, correction) / (2 * ans)


def sort_tangent(t, a, axis=-1):
    """Tangent of ``sort``: ``t`` in the order that sorts ``a`` (stable, as ``sort_grad``)."""
    a = np.asarray(a)
    if axis is None:
        return np.take(np.ravel(t), np.argsort(np.ravel(a), stable=True))
    return np.take_along_axis(t, np.argsort(a, axis=axis, stable=True), axis=axis)


def quantile_tangent(t, a, q, axis=None, method="linear", keepdims=False):
    """Tangent of ``quantile`` in ``a``: the interpolation applied to the sorted tangent."""
    a = np.asarray(a)
    if axis is None:
        ts = sort_tangent(np.ravel(t), np.ravel(a), 0)
    else:
        ts = sort_tangent(t, a, axis % np.ndim(a))
    return _quantile_pick(q, axis, method, keepdims, np.ndim(a), ts)


def einsum_tangent(t, k, operands, precision=None, preferred_element_type=None, dtype=None):
    """The term of ``einsum(*operands)``'s tangent from operand ``k``'s tangent ``t``: the
    same contraction with ``t`` in its place (``operands`` padded with ``None``)."""
    ops = [t if i == k else o for i, o in enumerate(operands) if o is not None]
    if precision is None and preferred_element_type is None and dtype is None:
        return _einsum_call(ops[0], ops[1], ops[2:])
    return np.einsum(*ops, precision=precision, preferred_element_type=preferred_element_type,
                     dtype=dtype)


def einsum_more_tangent(tangents, operands, precision=None, preferred_element_type=None,
                        dtype=None):
    """The tangent terms of the last operands of ``einsum(*operands)``, past the eighth
    argument, which a template cannot name one by one (``tangents``: theirs, zeros where
    inactive)."""
    first = len(operands) - len(tangents)
    out = None
    for i in range(len(tangents)):
        term = einsum_tangent(tangents[i], first + i, operands, precision, preferred_element_type, dtype)
        out = term if out is None else out + term
    return out


def concatenate_grads(g, xs, axis):
    """Adjoints of the arrays ``xs`` joined along ``axis``: ``g`` cut back into their pieces."""
    if g is None:
        return None
    offsets, at = [], 0
    for x in xs[:-1]:
        at += np.shape(x)[axis]
        offsets.append(at)
    parts = np.split(g, offsets, axis=axis)
    return [p.astype(np.result_type(x)) if np.iscomplexobj(p) and not np.iscomplexobj(x) else p
            for p, x in zip(parts, xs)]


# ---------------------------------------------------------------------------
# Products.


def _tensordot_axes(axes, an, bn):
    """(contracted axes of a, of b, free axes of a, of b) of ``tensordot(a, b, axes)``."""
    if isinstance(axes, int):
        xa, xb = list(range(an - axes, an)), list(range(axes))
    else:
        xa, xb = axes
        xa = [xa % an] if isinstance(xa, int) else [i % an for i in xa]
        xb = [xb % bn] if isinstance(xb, int) else [i % bn for i in xb]
    return xa, xb, [i for i in range(an) if i not in xa], [i for i in range(bn) if i not in xb]


def tensordot_grad_a(g, a, b, axes=2):
    """Adjoint of ``a`` in ``tensordot(a, b, axes)``."""
    if g is None:
        return None
    xa, xb, free_a, free_b = _tensordot_axes(axes, np.ndim(a), np.ndim(b))
    g_b = list(range(len(free_a), len(free_a) + len(free_b)))
    out = np.tensordot(g, b, axes=(g_b, free_b))
    order = free_a + [xa[xb.index(j)] for j in sorted(xb)]
    return np.transpose(out, _inverse(order))


def tensordot_grad_b(g, a, b, axes=2):
    """Adjoint of ``b`` in ``tensordot(a, b, axes)``."""
    if g is None:
        return None
    xa, xb, free_a, free_b = _tensordot_axes(axes, np.ndim(a), np.ndim(b))
    out = np.tensordot(a, g, axes=(free_a, list(range(len(free_a)))))
    order = [xb[xa.index(i)] for i in sorted(xa)] + free_b
    return np.transpose(out, _inverse(order))


def inner_grad_a(g, a, b):
    """Adjoint of ``a`` in ``inner(a, b)`` (a contraction of the last axes)."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * b, a)
    return tensordot_grad_a(g, a, b, ([np.ndim(a) - 1], [np.ndim(b) - 1]))


def inner_grad_b(g, a, b):
    """Adjoint of ``b`` in ``inner(a, b)``."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return unbroadcast(g * a, b)
    return tensordot_grad_b(g, a, b, ([np.ndim(a) - 1], [np.ndim(b) - 1]))


def outer_grad_a(g, a, b):
    """Adjoint of ``a`` in ``outer(a, b)`` (both flattened)."""
    if g is None:
        return None
    return np.reshape(np.dot(g, np.ravel(b)), np.shape(a))


def outer_grad_b(g, a, b):
    """Adjoint of ``b`` in ``outer(a, b)``."""
    if g is None:
        return None
    return np.reshape(np.dot(np.ravel(a), g), np.shape(b))


def vdot_grad_a(g, a, b):
    """Adjoint of ``a`` in ``vdot(a, b) = sum(conj(a) * b)``."""
    if g is None:
        return None
    return np.reshape(_conj(g * np.ravel(b)), np.shape(a))


def vdot_grad_b(g, a, b):
    """Adjoint of ``b`` in ``vdot(a, b)``."""
    if g is None:
        return None
    return np.reshape(g * _conj(np.ravel(a)), np.shape(b))


def einsum_spec(operands):
    """(input terms, output term, positions of the arrays in ``operands``) of an einsum
    call, ellipses spelled as letters (static: shapes and subscripts only)."""
    if isinstance(operands[0], str):
        subscripts, positions = operands[0], list(range(1, len(operands)))
    else:
        subscripts, arrays = _parse_interleaved(operands)
        positions = list(range(0, 2 * len(arrays), 2))
    spec = _checked_spec(subscripts, tuple(np.shape(operands[i]) for i in positions))
    return list(spec.inputs), spec.output, positions


def _einsum_one(g, k, terms, output, arrays):
    """Adjoint of operand ``k``: the other operands and ``g`` contracted onto its term."""
    spec, expand_shape, full_shape, steps, order = einsum_plan(k, terms, output,
                                                              np.shape(arrays[k]))
    others = []
    for i in range(len(arrays)):
        if i != k:
            others.append(arrays[i])
    r = _einsum_call(spec, g, others)
    if expand_shape is not None:  # letters summed in this operand only: broadcast back
        r = np.broadcast_to(np.reshape(r, expand_shape), full_shape)
    for step, n in steps:  # a letter repeated in the term (a diagonal): put r on it
        r = np.einsum(step, r, np.eye(n, dtype=r.dtype))
    if order is not None:
        r = np.transpose(r, order)
    return r


def einsum_plan(k, terms, output, shape):
    """The static recipe of ``_einsum_one``: the contraction's subscripts, the broadcast
    for letters only operand ``k`` sums over, the steps that rebuild diagonals, and the
    final axis order."""
    term = terms[k]
    sizes = dict(zip(term, shape))
    others = [terms[i] for i in range(len(terms)) if i != k]
    present = set(output) | set("".join(others))
    unique = "".join(c for i, c in enumerate(term) if c not in term[:i])
    wanted = "".join(c for c in unique if c in present)
    spec = ",".join([output] + others) + "->" + wanted
    expand_shape = full_shape = None
    if wanted != unique:
        expand_shape = tuple(sizes[c] if c in wanted else 1 for c in unique)
        full_shape = tuple(sizes[c] for c in unique)
    if unique == term:
        return spec, expand_shape, full_shape, [], None
    used = set(term) | set("".join(terms)) | set(output)
    spare = [c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used]
    current, steps, seen, order = unique, [], set(), []
    for c in term:
        if c in seen:  # one more axis, on the diagonal with the first occurrence of c
            new = spare.pop(0)
            steps.append((current + "," + c + new + "->" + current + new, sizes[c]))
            current += new
            order.append(len(current) - 1)
        else:
            seen.add(c)
            order.append(unique.index(c))
    return spec, expand_shape, full_shape, steps, order


def _einsum_call(spec, g, others):
    """``einsum(spec, g, *others)`` spelled without ``*`` for up to three others (so
    derivative code that calls it can be differentiated again)."""
    if len(others) == 0:
        return np.einsum(spec, g)
    if len(others) == 1:
        return np.einsum(spec, g, others[0])
    if len(others) == 2:
        return np.einsum(spec, g, others[0], others[1])
    if len(others) == 3:
        return np.einsum(spec, g, others[0], others[1], others[2])
    return einsum_many(spec, g, others)


def einsum_many(spec, g, others):
    """``einsum(spec, g, *others)``: a call derivative code can make with any number of
    operands (its rules, in vjp_rules and jvp_rules, name ``others`` as one list)."""
    return np.einsum(spec, g, *others)


def einsum_many_grads(ct, spec, g, others):
    """``(adjoint of g, adjoints of others)`` in ``einsum_many(spec, g, others)``."""
    if ct is None:
        return None, None
    grads = einsum_grads(ct, [spec, g] + list(others))
    return grads[1], list(grads[2:])


einsum_many_grads.maybe_none = True


def einsum_many_others_tangent(tangents, ans, spec, g, others):
    """The tangent of ``einsum_many(spec, g, others)`` from the tangents of ``others``
    (None where one has none): one contraction per operand with its tangent in its place."""
    out = None
    for k in range(len(others)):
        if tangents is None or tangents[k] is None:
            continue
        rest = list(others)
        rest[k] = tangents[k]
        term = einsum_many(spec, g, rest)
        out = term if out is None else out + term
    return np.zeros_like(ans) if out is None else out


def einsum_grads(g, operands):
    """Adjoints of every operand of ``einsum(*operands)`` (None for the subscripts)."""
    if g is None:
        return None
    terms, output, positions = einsum_spec(operands)
    arrays = []
    for i in positions:
        arrays.append(operands[i])
    out = [None] * len(operands)  # the subscripts (and interleaved sublists) get none
    for k in range(len(arrays)):
        out[positions[k]] = _einsum_one(g, k, terms, output, arrays)
    return tuple(out)


# ---------------------------------------------------------------------------
# Linear algebra.


def inv_grad(g, ans):
    """Adjoint of ``a`` in ``inv(a)``: ``-inv(a)^T g inv(a)^T``."""
    if g is None:
        return None
    t = _mT(ans)
    return -np.matmul(np.matmul(t, g), t)


def solve_grads(g, a, b, ans):
    """Adjoints of ``(a, b)`` in ``x = solve(a, b)``: ``gb = solve(a^T, g)``, ``ga = -gb x^T``."""
    if g is None:
        return None, None
    if np.ndim(b) == 1:
        gb = np.linalg.solve(_mT(a), g[..., None])[..., 0]
        ga = -gb[..., :, None] * ans[..., None, :]
    else:
        gb = np.linalg.solve(_mT(a), g)
        ga = -np.matmul(gb, _mT(ans))
    return unbroadcast(ga, a), unbroadcast(gb, b)


def det_grad(g, ans, a):
    """Adjoint of ``a`` in ``det(a)``: ``g det(a) inv(a)^T``."""
    if g is None:
        return None
    return (g * ans)[..., None, None] * _mT(np.linalg.inv(a))


def slogdet_grad(g, ans, a):
    """Adjoint of ``a`` in ``slogdet(a)``: ``(g_logabsdet + i Im(g_sign sign)) inv(a)^T``
    (the transpose of ``Re tr(a^-1 da)`` and, for complex ``a``, of the sign's tangent
    ``i Im tr(a^-1 da) sign``; a real sign is piecewise constant)."""
    if g is None:
        return None
    gs, gl = g
    scale = np.real(gl) if gl is not None and np.iscomplexobj(gl) else gl  # logabsdet is real
    if gs is not None and np.iscomplexobj(ans[0]):
        turn = 1j * np.imag(gs * ans[0])
        scale = turn if scale is None else scale + turn
    if scale is None:
        return None
    return scale[..., None, None] * _mT(np.linalg.inv(a))


slogdet_grad.maybe_none = True  # a real sign alone has no adjoint


def cholesky_grad(g, ans, upper=False):
    """Adjoint of ``a`` in ``cholesky(a)``; only the lower triangle of ``a`` is read."""
    if g is None:
        return None
    return lax_helpers.cholesky_grad(g, ans, not upper)


def eigh_grad(g, ans, UPLO="L"):
    """Adjoint of ``a`` in ``eigh(a) = (w, v)`` (only the ``UPLO`` triangle is read)."""
    if g is None:
        return None
    w, v = ans
    return lax_helpers.eigh_grad((g[1], g[0]), (v, w), UPLO == "L")


def eigvalsh_grad(g, a, UPLO="L"):
    """Adjoint of ``a`` in ``eigvalsh(a)``: ``V diag(g) V^H`` on the triangle read."""
    if g is None:
        return None
    w, v = np.linalg.eigh(a, UPLO)
    return lax_helpers.eigh_grad((None, g), (v, w), UPLO == "L")


def svd_grad(g, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    """Adjoint of ``a`` in ``svd(a)`` (``(U, S, Vh)``, or ``S`` alone); ``hermitian``
    reads the lower triangle only."""
    if g is None:
        return None
    if hermitian:
        grad = svd_grad(g, ans, lax_jvp.hermitian_part(a, True), full_matrices, compute_uv)
        return lax_helpers.hermitian_grad(grad, True)
    if not compute_uv:
        return lax_helpers.svd_grad(g, a, ans, full_matrices, False)
    # Indexed, not tuple(): vmap runs tuple() of a batched value once per example.
    return lax_helpers.svd_grad((g[0], g[1], g[2]), a, (ans[0], ans[1], ans[2]), full_matrices, True)


def qr_grad(g, ans, a, mode="reduced"):
    """Adjoint of ``a`` in ``qr(a, mode)`` (``mode="r"`` recomputes Q)."""
    if g is None:
        return None
    if mode == "r":
        q, r = np.linalg.qr(a)
        return lax_helpers.qr_grad((None, g), (q, r), a, False)
    # (items, not tuple(g): vmap batches indexing of a batched result, not tuple() of it)
    return lax_helpers.qr_grad((g[0], g[1]), (ans[0], ans[1]), a, mode == "complete")


def norm_grad(g, ans, x, ord=None, axis=None, keepdims=False):
    """Adjoint of ``x`` in ``linalg.norm``: ``x / norm`` for 2-norms of vectors and the
    Frobenius norm, else through the norm written on differentiable functions."""
    if g is None:
        return None
    xa = np.asarray(x)
    if not is_two_norm(ord, axis, xa.ndim):
        return through_formula(g, xa, _norm_formula, (ord, axis, keepdims))
    safe = np.where(ans == 0, np.ones((), ans.dtype), ans)
    share = unreduce(g / safe, xa, _norm_axes(axis, xa.ndim), keepdims)
    if np.iscomplexobj(xa):
        return share * np.conj(xa)
    return share * xa


def is_two_norm(ord, axis, nd):
    """Whether ``norm(x, ord, axis)`` is a Euclidean (or Frobenius) norm: ``x / norm`` is
    then its gradient."""
    if ord is None:
        return axis is None or isinstance(axis, int) or len(axis) <= 2
    if ord == "fro":
        return nd == 2 or (not isinstance(axis, int) and axis is not None and len(axis) == 2)
    return ord == 2 and (nd == 1 and axis is None or isinstance(axis, int)
                         or axis is not None and len(axis) == 1)


def _norm_axes(axis, nd):
    return tuple(range(nd)) if axis is None else axis


def _norm_formula(ord, axis, keepdims, x):
    """``linalg.norm`` for the orders ``norm_grad`` does not write out."""
    nd = np.ndim(x)
    if axis is None:
        axis = tuple(range(nd))
    if isinstance(axis, int) or len(axis) == 1:
        ax = axis if isinstance(axis, int) else axis[0]
        a = np.abs(x)
        if ord == np.inf:
            return np.max(a, axis=ax, keepdims=keepdims)
        if ord == -np.inf:
            return np.min(a, axis=ax, keepdims=keepdims)
        if ord == 1:
            return np.sum(a, axis=ax, keepdims=keepdims)
        return np.sum(a ** ord, axis=ax, keepdims=keepdims) ** (1.0 / ord)
    r, c = axis[0] % nd, axis[1] % nd
    a = np.abs(x)
    if ord == 1:
        out = np.max(np.sum(a, axis=r, keepdims=True), axis=c, keepdims=True)
    elif ord == -1:
        out = np.min(np.sum(a, axis=r, keepdims=True), axis=c, keepdims=True)
    elif ord == np.inf:
        out = np.max(np.sum(a, axis=c, keepdims=True), axis=r, keepdims=True)
    elif ord == -np.inf:
        out = np.min(np.sum(a, axis=c, keepdims=True), axis=r, keepdims=True)
    else:
        s = np.linalg.svd(np.moveaxis(x, (r, c), (-2, -1)), compute_uv=False)
        if ord == "nuc":
            val = np.sum(s, axis=-1)
        elif ord == 2:
            val = np.max(s, axis=-1)
        else:
            val = np.min(s, axis=-1)
        out = np.expand_dims(val, (min(r, c), max(r, c)))
    return out if keepdims else np.squeeze(out, (r, c))


def quantile_grad(g, a, q, axis=None, method="linear", keepdims=False):
    """Adjoint of ``a`` in ``quantile``: through the sort and the interpolation."""
    if g is None:
        return None
    return through_formula(g, np.asarray(a), _quantile_formula, (q, axis, method, keepdims))


def _quantile_formula(q, axis, method, keepdims, a, slope=False):
    """``quantile`` on differentiable functions (``sort``, ``take``): for its derivative
    (``slope``: its derivative in ``q`` instead)."""
    if axis is None:
        x = np.sort(np.ravel(a))
    else:
        x = np.sort(a, axis=axis % np.ndim(a))
    return _quantile_pick(q, axis, method, keepdims, np.ndim(a), x, slope=slope)


def quantile_q_tangent(tq, a, q, axis=None, method="linear", keepdims=False):
    """Tangent of ``quantile`` in ``q``: ``tq`` times the slope between the two order
    statistics interpolated (zero for the piecewise-constant methods, and where ``q`` hits
    an order statistic exactly, as JAX)."""
    slope = _quantile_slope(a, q, axis, method, keepdims)
    tq = np.asarray(tq)
    return slope * np.reshape(tq, np.shape(tq) + (1,) * (np.ndim(slope) - np.ndim(tq)))


def quantile_q_grad(g, a, q, axis=None, method="linear", keepdims=False):
    """Adjoint of ``q`` in ``quantile``: ``g`` times the slope, summed over the result's
    axes that are not ``q``'s."""
    if g is None:
        return None
    prod = g * _quantile_slope(a, q, axis, method, keepdims)
    return np.sum(prod, axis=tuple(range(np.ndim(q), np.ndim(prod))))


def _quantile_slope(a, q, axis, method, keepdims):
    return _quantile_formula(q, axis, method, keepdims, np.asarray(a), slope=True)


def _quantile_pick(q, axis, method, keepdims, ndim, x, slope=False):
    """The quantiles of the sorted ``x`` (sorted along ``axis``, or flat for None): linear
    in ``x``, so it also maps sorted tangents to the quantile's tangent. ``slope``: the
    derivative in ``q`` instead."""
    ax = 0 if axis is None else axis % ndim
    n = np.shape(x)[ax]
    pos = np.asarray(q) * (n - 1)
    lo = np.clip(np.floor(pos), 0, n - 1).astype(np.int32)
    hi = np.clip(np.ceil(pos), 0, n - 1).astype(np.int32)
    if method == "lower":
        hi = lo
    elif method == "higher":
        lo = hi
    elif method == "nearest":
        lo = hi = np.round(pos).astype(np.int32)
    frac = (pos - lo).astype(x.dtype)
    if method == "midpoint":
        frac = np.where(hi > lo, 0.5, 0.0).astype(x.dtype)
    xl = np.moveaxis(np.take(x, np.ravel(lo), axis=ax), ax, -1)
    xh = np.moveaxis(np.take(x, np.ravel(hi), axis=ax), ax, -1)
    f = np.ravel(frac)
    if not slope:
        out = xl * (1 - f) + xh * f
    elif method == "linear":
        out = (xh - xl) * (n - 1)
    else:
        out = xl * 0
    out = np.moveaxis(np.reshape(out, np.shape(out)[:-1] + np.shape(pos)), tuple(
        range(np.ndim(out) - 1, np.ndim(out) - 1 + np.ndim(pos))), tuple(range(np.ndim(pos))))
    if keepdims:
        if axis is None:
            out = np.reshape(out, np.shape(pos) + (1,) * ndim)
        else:
            out = np.expand_dims(out, np.ndim(pos) + ax)
    return out


# ---------------------------------------------------------------------------
# s2s.scipy.special and s2s.nn.


def logsumexp_grad(g, ans, a, axis=None, b=None, keepdims=False):
    """Adjoint of ``a`` in ``logsumexp(a, axis, b, keepdims)``: ``g * b * exp(a - ans)``."""
    if g is None:
        return None
    w = np.exp(a - unreduce(ans, a, axis, keepdims))
    if b is not None:
        w = w * b
    return unreduce(g, a, axis, keepdims) * w


def logsumexp_tangent(t, ans, a, axis=None, b=None, keepdims=False):
    """Tangent of ``logsumexp(a, axis, b, keepdims)`` from ``a``'s tangent ``t`` (or, with
    ``b=None``, from ``b``'s tangent ``t``): ``sum(t * b * exp(a - ans))``."""
    w = np.exp(a - unreduce(ans, a, axis, keepdims))
    if b is not None:
        w = w * b
    return np.sum(t * w, axis=axis, keepdims=keepdims)


def signed_tangent(t, ans):
    """Tangent of ``logsumexp(..., return_sign=True) = (log|s|, sign(s))`` from
    ``t = ds / |s|``: ``(sign * t, 0)``."""
    return ans[1] * t, np.zeros_like(ans[1])


def softmax_grad(g, ans, axis=None):
    """Adjoint of ``x`` in ``y = softmax(x, axis)``: ``y * (g - sum(g * y))``."""
    if g is None:
        return None
    return ans * (g - np.sum(g * ans, axis=axis, keepdims=True))


def log_softmax_grad(g, ans, axis=None):
    """Adjoint of ``x`` in ``y = log_softmax(x, axis)``: ``g - exp(y) * sum(g)``."""
    if g is None:
        return None
    return g - np.exp(ans) * np.sum(g, axis=axis, keepdims=True)


# ---------------------------------------------------------------------------
# x.at[index].multiply/divide/power/min/max (s2s.runtime.support.at_update): their
# adjoints, one helper per operand. Written here, on s2s.numpy, so that vmap batches
# them, and the jvp and backward code generated from them, by their source: hessian and
# jacrev(grad) run no per-example loop (as runtime.support's did).

def at_update_operand_grad(g, x, index, op, value, ans, other_op):
    """The adjoint of ``x`` in ``ans = x.at[index].<op>(value)`` for multiply, divide,
    power, min and max; ``other_op(g, x, index, op, value, ans)`` gives it for the other
    ops (s2s.runtime's ``at_update_grad_x``).

    >>> x = onp.array([1.0, 2.0, 3.0], onp.float32)
    >>> at_update_operand_grad(onp.ones(3, onp.float32), x, 1, "multiply", 4.0, None, None)
    array([1., 4., 1.], dtype=float32)
    """
    if g is None:
        return None
    if op == "multiply":
        return np.asarray(g).at[index].multiply(value)
    if op == "divide":
        return np.asarray(g).at[index].divide(value)
    if op == "power":
        factors = np.ones_like(x).at[index].multiply(value)
        return g * factors * x ** (factors - 1)
    if op in ("min", "max"):
        share, wins_x, _ = _at_extremum_shares(g, x, index, value, ans)
        return share * wins_x
    return other_op(g, x, index, op, value, ans)


def at_update_value_grad(g, x, index, op, value, ans, other_op):
    """The adjoint of ``value`` in ``ans = x.at[index].<op>(value)`` (see
    ``at_update_operand_grad``): a product's factor gets the product of the others
    (``x`` where the positions are unique, else ``ans / value``); min/max share each
    element's adjoint evenly among tied contenders (JAX's rule for scatter_min/max)."""
    if g is None:
        return None
    # A factor's derivative is the product of the others: x where the positions are
    # unique, else ans / value (a repeated position multiplies once per occurrence; exact
    # for nonzero factors). Inline, not a helper: vmap of the jvp of a nested helper
    # returning an unbatched result with a batched tangent lost the result's shape.
    if op == "power":  # ans = x ** factors, factors the product of the values at each position
        ones = np.ones_like(x)
        factors = ones.at[index].multiply(value)
        g, x, ans = g * ans * np.log(np.where(x == 0, ones, x)), ones, factors
    if op in ("multiply", "power"):
        if _unique_positions(np.shape(x), index):
            return unbroadcast((g * x)[index], value)
        return unbroadcast((g * ans)[index] / value, value)
    if op == "divide":  # ans / value at each occurrence, repeated positions included
        return unbroadcast(-(g * ans)[index] / value, value)
    if op in ("min", "max"):
        share, _, wins_v = _at_extremum_shares(g, x, index, value, ans)
        return unbroadcast(share[index] * wins_v, value)
    return other_op(g, x, index, op, value, ans)


at_update_operand_grad.maybe_none = at_update_value_grad.maybe_none = True


def at_update_tangent(dx, dv, x, index, op, value, ans, mode=None, fill_value=None,
                      indices_are_sorted=False, unique_indices=False):
    """The tangent of ``ans = x.at[index].<op>(value, mode=mode)`` along ``dx`` and ``dv``
    (forward mode's template of ``at_update``; ``dv`` None where ``value`` is constant).
    Linear in ``(dx, dv)`` and written with ``.at[]`` itself, so grad of jvp and vmap of
    it read this source (a tangent transposed from the vjp template had no reverse mode);
    no ``**kwargs`` call, which reverse mode does not take. Repeated positions accumulate
    as the update does; min/max share an element's tangent evenly among tied contenders
    (the vjp rule's convention). ``fill_value`` is a constant (its tangent zero); the
    index hints hold for the tangent's update too and are left out.

    >>> x = onp.array([1.0, 2.0, 3.0], onp.float32)
    >>> at_update_tangent(onp.ones(3, onp.float32), onp.float32(1.0), x, 1, "multiply", 4.0, None)
    array([1., 6., 1.], dtype=float32)
    """
    op = "multiply" if op == "mul" else op
    dx = np.asarray(dx)
    if op == "get":
        # out of bounds (mode="fill") the result is the constant fill value: tangent zero
        return dx.at[index].get(mode=mode, fill_value=0)
    if dv is None and op in ("set", "min", "max"):
        dv = np.zeros_like(value)
    if op == "set":  # spelled out: vmap batches .at[] updates, not a getattr of one
        return dx.at[index].set(dv, mode=mode)
    if op in ("add", "subtract") and dv is None:
        return dx
    if op == "add":
        return dx.at[index].add(dv, mode=mode)
    if op == "subtract":
        return dx.at[index].subtract(dv, mode=mode)
    if op in ("min", "max"):
        share, wins_x, wins_v = _at_extremum_shares(np.ones_like(dx), x, index, value, ans)
        return share * (wins_x * dx).at[index].add(wins_v * dv, mode=mode)
    # Products: x's term, then (for a varying value) the factors' term, which divides
    # by the value or takes the log of the base (a constant one's would warn or give nan).
    if op == "multiply":
        x_term = dx.at[index].multiply(value, mode=mode)
        if dv is None:
            return x_term
        return x_term + _factor_tangent(dv, x, index, value, ans, mode)
    if op == "divide":  # ans = x / F: the factors' term is ans * dF / F, dF / F the sum of dv / value
        x_term = dx.at[index].divide(value, mode=mode)
        if dv is None:
            return x_term
        return x_term - np.zeros_like(x).at[index].add(ans[index] * dv / value, mode=mode)
    if op == "power":  # ans = x ** F, F the product of the values at each position
        ones = np.ones_like(x)
        factors = ones.at[index].multiply(value, mode=mode)
        x_term = dx * factors * x ** (factors - 1)
        if dv is None:
            return x_term
        d_factors = _factor_tangent(dv, ones, index, value, factors, mode)
        return x_term + d_factors * ans * np.log(np.where(x == 0, ones, x))
    raise NotImplementedError(f"s2s cannot take forward mode of x.at[...].{op}(...) yet; write it "
                              "with x.at[...].set(...) and array arithmetic")


def _factor_tangent(dv, x, index, value, ans, mode):
    """The tangent of ``x * F`` along the factors' tangent ``dv`` (``F`` the product of
    the values at each position): ``x * dv`` where the positions are unique, else
    ``ans * dv / value`` per occurrence (exact for nonzero factors, as the adjoint)."""
    if _unique_positions(np.shape(x), index):
        return np.zeros_like(x).at[index].add(x[index] * dv, mode=mode)
    return np.zeros_like(x).at[index].add(ans[index] * dv / value, mode=mode)


def _at_extremum_shares(g, x, index, value, ans):
    """``(g / contenders, x's winners, value's winners)`` (1 where equal to the result)."""
    picked = ans[index]
    wins_x = np.where(x == ans, np.ones_like(g), np.zeros_like(g))
    wins_v = np.where(np.broadcast_to(value, np.shape(picked)) == picked,
                      np.ones_like(picked, dtype=g.dtype), np.zeros_like(picked, dtype=g.dtype))
    count = wins_x.at[index].add(wins_v)
    return g / np.where(count == 0, np.ones_like(count), count), wins_x, wins_v


def _unique_positions(shape, index):
    """Whether ``index`` names no element of an array of ``shape`` twice (False when the
    index is staged: then the exact rule for repeated positions is used)."""
    if any(isinstance(i, Tracer) for i in (index if isinstance(index, tuple) else (index,))):
        return False
    positions = onp.ravel(onp.arange(int(onp.prod(shape))).reshape(tuple(shape))[index])
    return onp.unique(positions).size == positions.size
