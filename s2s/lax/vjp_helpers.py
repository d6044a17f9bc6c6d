"""Adjoint helpers that the lax reverse-mode templates call (``s2s.lax.vjp_rules``).

Templates name them as ``lax.vjp_helpers.<name>``, so generated derivative code
reads, for ``y = lax.pad(x, 0.0, padding_config=cfg)``::

    bx = lax.vjp_helpers.pad_transpose(by, cfg)

Every helper is a pure function written on ``s2s.lax`` primitives, so it runs on
host arrays and on staged values alike. Static parameters arrive as the user
wrote them (negative axes, string padding, dimension-number objects) and are
canonicalized here the way the primitives' wrappers do.

Second order: the helpers that are linear in the adjoint carry their own
templates (their transposes, in ``vjp_rules``); the others are differentiated
from their source like user code. The pure shape computations (``*_params``,
``shape_of``...) are registered as zero-derivative functions.
"""
import itertools
import math

import numpy as onp

from s2s import lax
from s2s.core import dtypes
from s2s.core.primitive import ShapedArray
from s2s.lax.convolution import conv_transpose_params
from s2s.lax.linalg_ops import _dot_dims
from s2s.lax.reductions import _computation_name
from s2s.lax.shapes import broadcast_shapes, canonicalize_axes, canonicalize_axis
from s2s.lax.structural import _as_dnums


# ---------------------------------------------------------------------------
# Static queries and parameter canonicalization (zero derivative).


def shape_of(x):
    """The shape of an array, a staged value or a Python scalar."""
    s = getattr(x, "shape", None)
    return tuple(s) if s is not None else tuple(onp.shape(x))


def dtype_of(x):
    """The canonical dtype of an array, a staged value or a Python scalar."""
    return dtypes.dtype_of(x)


def is_inexact(x):
    """True for floating-point and complex values."""
    return dtypes.is_inexact(dtypes.dtype_of(x))


def is_complex(x):
    """True for complex values."""
    return dtypes.is_complex(dtypes.dtype_of(x))


def inverse_permutation(permutation):
    """``inv`` with ``inv[permutation[i]] == i`` (negative axes allowed)."""
    n = len(permutation)
    inv = [0] * n
    for i, p in enumerate(permutation):
        inv[p % n] = i
    return tuple(inv)


def canonical_axes(axes, ndim):
    """``axes`` (an int or a sequence, negative allowed) as sorted non-negative ints."""
    if isinstance(axes, (int, onp.integer)):
        axes = (axes,)
    return tuple(sorted(canonicalize_axes("vjp", axes, ndim)))


def canonical_axis(axis, ndim):
    """``axis`` as a non-negative int."""
    return canonicalize_axis("vjp", axis, ndim)


def dilate_shape(shape, dilation):
    """The size of each dimension after inserting ``dilation - 1`` holes between elements."""
    return tuple(0 if d == 0 else 1 + k * (d - 1) for d, k in zip(shape, dilation))


def window_params(shape, window_dimensions, window_strides, padding, base_dilation,
                  window_dilation):
    """Explicit ``(window_dimensions, strides, pads, base_dilation, window_dilation)``.

    Resolves defaults and string padding exactly as the ``reduce_window_*`` wrappers do.
    """
    wd = tuple(int(w) for w in window_dimensions)
    n = len(wd)
    ws = (1,) * n if window_strides is None else tuple(int(s) for s in window_strides)
    bd = (1,) * n if base_dilation is None else tuple(int(b) for b in base_dilation)
    wdil = (1,) * n if window_dilation is None else tuple(int(d) for d in window_dilation)
    if isinstance(padding, str):
        pads = lax.padtype_to_pads(shape, dilate_shape(wd, wdil), ws, padding)
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    return wd, ws, pads, bd, wdil


def conv_vjp_lhs_padding(in_shape, window_dimensions, window_strides, out_shape, padding,
                         lhs_dilation, rhs_dilation):
    """Padding of the transposed (input-gradient) window operation, as XLA/JAX compute it."""
    lhs_d = dilate_shape(in_shape, lhs_dilation)
    rhs_d = dilate_shape(window_dimensions, rhs_dilation)
    out_d = dilate_shape(out_shape, window_strides)
    before = [r - lo - 1 for r, (lo, _) in zip(rhs_d, padding)]
    after = [l + r - 1 - o - b for l, r, o, b in zip(lhs_d, rhs_d, out_d, before)]
    return tuple(zip(before, after))


def conv_vjp_rhs_padding(in_shape, window_dimensions, window_strides, out_shape, padding,
                         lhs_dilation, rhs_dilation):
    """Padding of the kernel-gradient convolution, as JAX computes it."""
    if not in_shape:
        return ()
    lhs_d = dilate_shape(in_shape, lhs_dilation)
    rhs_d = dilate_shape(window_dimensions, rhs_dilation)
    out_d = dilate_shape(out_shape, window_strides)
    lows = [lo for lo, _ in padding]
    highs = [(o - l) + (r - lo - 1) for o, l, r, lo in zip(out_d, lhs_d, rhs_d, lows)]
    return tuple(zip(lows, highs))


def window_offsets(window_dimensions, window_dilation):
    """Every element offset of a (dilated) window, in row-major order."""
    ranges = [range(0, w * d, d) for w, d in zip(window_dimensions, window_dilation)]
    return [tuple(o) for o in itertools.product(*ranges)]


def dot_transpose_params(lhs_shape, rhs_shape, dimension_numbers, swap_ans=False):
    """``(dimension_numbers, permutation)`` of the dot_general giving the lhs adjoint (JAX's rule)."""
    (lc, rc), (lb, rb) = _dot_dims(ShapedArray(lhs_shape, onp.float32),
                                   ShapedArray(rhs_shape, onp.float32), dimension_numbers)
    x_kept = [i for i in range(len(lhs_shape)) if i not in lc and i not in lb]
    y_kept = [i for i in range(len(rhs_shape)) if i not in rc and i not in rb]
    nb = len(lb)
    if swap_ans:
        ans_batch = list(range(nb))
        ans_y = list(range(nb, nb + len(y_kept)))
    else:
        ans_batch = list(range(nb))
        ans_y = list(range(nb + len(x_kept), nb + len(x_kept) + len(y_kept)))
    dims = ((tuple(ans_y), tuple(y_kept)), (tuple(ans_batch), tuple(rb)))
    x_contract_sorted_by_y = [lc[i] for i in onp.argsort(rc, kind="stable")]
    out_axes = onp.argsort(list(lb) + x_kept + x_contract_sorted_by_y, kind="stable")
    return dims, tuple(int(a) for a in out_axes)


def swapped_dot_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """The dimension numbers of ``dot_general(rhs, lhs)`` for ``dot_general(lhs, rhs)``."""
    (lc, rc), (lb, rb) = _dot_dims(ShapedArray(lhs_shape, onp.float32),
                                   ShapedArray(rhs_shape, onp.float32), dimension_numbers)
    return ((tuple(rc), tuple(lc)), (tuple(rb), tuple(lb)))


def conv_params(lhs_shape, rhs_shape, window_strides, padding, lhs_dilation, rhs_dilation,
                dimension_numbers):
    """Canonical ``(strides, pads, lhs_dilation, rhs_dilation, dimension_numbers)`` of a conv."""
    dnums = lax.conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers)
    nsp = len(lhs_shape) - 2
    strides = tuple(int(s) for s in window_strides)
    lhs_dil = (1,) * nsp if lhs_dilation is None else tuple(int(d) for d in lhs_dilation)
    rhs_dil = (1,) * nsp if rhs_dilation is None else tuple(int(d) for d in rhs_dilation)
    if isinstance(padding, str):
        in_sp = [lhs_shape[j] for j in dnums[0][2:]]
        eff = dilate_shape([rhs_shape[j] for j in dnums[1][2:]], rhs_dil)
        pads = lax.padtype_to_pads(in_sp, eff, strides, padding)
    else:
        pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    return strides, pads, lhs_dil, rhs_dil, dnums


def conv_lhs_transpose_params(lhs_shape, rhs_shape, out_shape, window_strides, padding,
                              lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
                              batch_group_count):
    """Static parameters of the input-gradient convolution (JAX's transpose rule).

    Returns ``(rhs_shapes, conv_kwargs, out_shapes)``: the reshapes that move the
    group axis of the kernel (``None`` without groups), the keyword arguments of
    the transposed ``conv_general_dilated``, and the reshapes that undo batch
    grouping on its result (``None`` without batch groups).
    """
    strides, pads, lhs_dil, rhs_dil, dnums = conv_params(
        lhs_shape, rhs_shape, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers)
    lhs_spec, rhs_spec, out_spec = dnums
    t_rhs_spec = (rhs_spec[1], rhs_spec[0]) + tuple(rhs_spec[2:])
    rhs_reshape = None
    groups = feature_group_count
    kernel_shape = tuple(rhs_shape)
    if feature_group_count > 1 or batch_group_count > 1:
        g = feature_group_count if feature_group_count > 1 else batch_group_count
        split, merged, perm = _axis_out_of_into(kernel_shape, rhs_spec[0], g, rhs_spec[1])
        rhs_reshape = (split, merged, perm)
        kernel_shape = merged
        groups = g
    trans_dnums = (tuple(out_spec), t_rhs_spec, tuple(lhs_spec))
    t_pads = conv_vjp_lhs_padding([lhs_shape[j] for j in lhs_spec[2:]],
                                  [kernel_shape[j] for j in rhs_spec[2:]], strides,
                                  [out_shape[j] for j in out_spec[2:]], pads, lhs_dil, rhs_dil)
    kwargs = dict(window_strides=lhs_dil, padding=t_pads, lhs_dilation=strides,
                  rhs_dilation=rhs_dil, dimension_numbers=trans_dnums,
                  feature_group_count=groups, batch_group_count=1)
    out_reshape = None
    if batch_group_count > 1:
        # The transposed result holds the batch groups in its feature dimension.
        res_shape = list(lhs_shape)
        res_shape[lhs_spec[0]] //= batch_group_count
        res_shape[lhs_spec[1]] *= batch_group_count
        out_reshape = _axis_out_of_into(tuple(res_shape), lhs_spec[1], batch_group_count,
                                        lhs_spec[0])
    return rhs_reshape, kwargs, out_reshape, tuple(int(d) for d in rhs_spec[2:])


def conv_rhs_transpose_params(lhs_shape, rhs_shape, out_shape, window_strides, padding,
                              lhs_dilation, rhs_dilation, dimension_numbers, feature_group_count,
                              batch_group_count):
    """Keyword arguments of the kernel-gradient convolution (JAX's transpose rule)."""
    strides, pads, lhs_dil, rhs_dil, dnums = conv_params(
        lhs_shape, rhs_shape, window_strides, padding, lhs_dilation, rhs_dilation,
        dimension_numbers)
    lhs_spec, rhs_spec, out_spec = dnums

    def swap(spec):
        return (spec[1], spec[0]) + tuple(spec[2:])

    fgc, bgc = feature_group_count, batch_group_count
    if bgc > 1:
        fgc, bgc = bgc, 1
    elif fgc > 1:
        fgc, bgc = 1, fgc
    t_pads = conv_vjp_rhs_padding([lhs_shape[j] for j in lhs_spec[2:]],
                                  [rhs_shape[j] for j in rhs_spec[2:]], strides,
                                  [out_shape[j] for j in out_spec[2:]], pads, lhs_dil, rhs_dil)
    return dict(window_strides=rhs_dil, padding=t_pads, lhs_dilation=lhs_dil,
                rhs_dilation=strides, dimension_numbers=(swap(lhs_spec), swap(out_spec),
                                                         swap(rhs_spec)),
                feature_group_count=fgc, batch_group_count=bgc)


def _axis_out_of_into(shape, src, size1, dst):
    """Shapes for splitting axis ``src`` into ``(size1, rest)`` and merging ``size1`` into ``dst``.

    JAX's ``_reshape_axis_out_of`` then ``_reshape_axis_into``: returns the split
    shape, the merged shape and the ``dimensions`` permutation of the merging reshape.
    """
    split = list(shape)
    split[src:src + 1] = [size1, shape[src] // size1]
    perm = [i for i in range(len(split)) if i != src]
    perm.insert(dst, src)
    merged = [d for i, d in enumerate(split) if i != src]
    merged[dst] *= split[src]
    return tuple(split), tuple(merged), tuple(perm)


def gather_for_scatter(updates_shape, dimension_numbers):
    """The gather dimension numbers and slice sizes that read back what a scatter wrote."""
    dn = _scatter_dnums(dimension_numbers)
    sizes = []
    pos = 0
    rank = len(dn.update_window_dims) + len(dn.inserted_window_dims) + len(dn.operand_batching_dims)
    for i in range(rank):
        if i in dn.inserted_window_dims or i in dn.operand_batching_dims:
            sizes.append(1)
        else:
            sizes.append(updates_shape[dn.update_window_dims[pos]])
            pos += 1
    gdn = lax.GatherDimensionNumbers(
        offset_dims=dn.update_window_dims, collapsed_slice_dims=dn.inserted_window_dims,
        start_index_map=dn.scatter_dims_to_operand_dims,
        operand_batching_dims=dn.operand_batching_dims,
        start_indices_batching_dims=dn.scatter_indices_batching_dims)
    return gdn, tuple(sizes)


def scatter_for_gather(dimension_numbers):
    """The scatter dimension numbers that write back what a gather read."""
    dn = _gather_dnums(dimension_numbers)
    return lax.ScatterDimensionNumbers(
        update_window_dims=dn.offset_dims, inserted_window_dims=dn.collapsed_slice_dims,
        scatter_dims_to_operand_dims=dn.start_index_map,
        operand_batching_dims=dn.operand_batching_dims,
        scatter_indices_batching_dims=dn.start_indices_batching_dims)


def _gather_dnums(dn):
    return _as_dnums(lax.GatherDimensionNumbers, "gather", dn)


def _scatter_dnums(dn):
    return _as_dnums(lax.ScatterDimensionNumbers, "scatter", dn)


def along_axis_dnums(ndim):
    """Scatter dimension numbers for full index vectors into a rank-``ndim`` operand."""
    dims = tuple(range(ndim))
    return lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=dims,
                                       scatter_dims_to_operand_dims=dims)


# ---------------------------------------------------------------------------
# Small array builders.


def zeros(shape, dtype):
    """An array of zeros (on host or staged, as the surrounding code runs)."""
    return lax.broadcast_in_dim(lax.convert_element_type(0, new_dtype=dtype), shape=tuple(shape),
                                broadcast_dimensions=())


def full(shape, value, dtype):
    """An array of ``shape`` holding ``value``."""
    return lax.broadcast_in_dim(lax.convert_element_type(value, new_dtype=dtype),
                                shape=tuple(shape), broadcast_dimensions=())


def zeros_like(x, dtype=None):
    """Zeros of ``x``'s shape (and dtype, unless given)."""
    return zeros(shape_of(x), dtype_of(x) if dtype is None else dtype)


def ones_like(x, dtype=None):
    """Ones of ``x``'s shape (and dtype, unless given)."""
    return full(shape_of(x), 1, dtype_of(x) if dtype is None else dtype)


def broadcast_to(x, shape):
    """``x`` broadcast to ``shape`` with NumPy's rules."""
    xs = shape_of(x)
    shape = tuple(shape)
    if xs == shape:
        return x
    lead = len(shape) - len(xs)
    return lax.broadcast_in_dim(x, shape=shape, broadcast_dimensions=tuple(range(lead, len(shape))))


def where(condition, x, y):
    """Elementwise ``x`` where ``condition`` holds, else ``y`` (NumPy broadcasting and promotion)."""
    dt = dtypes.result_type(x, y)
    shape = broadcast_shapes("where", shape_of(condition), shape_of(x), shape_of(y))
    x = broadcast_to(lax.convert_element_type(x, new_dtype=dt), shape)
    y = broadcast_to(lax.convert_element_type(y, new_dtype=dt), shape)
    return lax.select_n(broadcast_to(condition, shape), y, x)


def mask_grad(g, mask):
    """``g`` where ``mask`` holds, zero elsewhere (``mask`` broadcasts to ``g``)."""
    return lax.select_n(broadcast_to(mask, shape_of(g)), zeros_like(g), g)


def sum_to_shape(g, shape):
    """``g`` summed down to ``shape`` (the adjoint of NumPy broadcasting)."""
    gs = shape_of(g)
    shape = tuple(shape)
    if gs == shape:
        return g
    lead = len(gs) - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(shape)
                                      if d == 1 and gs[lead + i] != 1)
    if axes:
        g = lax.reduce_sum(g, axes=axes)
    return lax.reshape(g, new_sizes=shape)


def trunc(x):
    """Rounds toward zero (``rem``'s quotient)."""
    return lax.mul(lax.sign(x), lax.floor(lax.abs(x)))


# ---------------------------------------------------------------------------
# Elementwise.


def convert_grad(g, x):
    """Adjoint of ``convert_element_type``: ``g`` in ``x``'s dtype; zero across integers."""
    if not (is_inexact(x) and is_inexact(g)):
        return zeros_like(x)
    return lax.convert_element_type(g, new_dtype=dtype_of(x))


def conj_grad(g, x):
    """Adjoint of ``conj``: ``conj(g)`` for complex ``x``, ``real(g)`` for real ``x``. A
    real ``g`` (a cotangent that reached a complex value through real operations) is
    its own conjugate."""
    if is_complex(x):
        return lax.conj(g) if is_complex(g) else g
    if is_complex(g):
        return lax.real(g)
    return g


def real_part(g):
    """The real part of a cotangent of a complex value, which may be real (it reached the
    value through real operations, ``np.real(z)``): then its imaginary part is zero.

    >>> g = onp.array([1.5], onp.float32)
    >>> real_part(g), imag_part(g)
    (array([1.5], dtype=float32), array([0.], dtype=float32))
    """
    return lax.real(g) if is_complex(g) else g


def imag_part(g):
    """The imaginary part of a cotangent of a complex value (zero for a real one)."""
    return lax.imag(g) if is_complex(g) else zeros_like(g)


def abs_grad(g, x):
    """Adjoint of ``abs``: ``g * sign(x)``; for complex ``x``, ``g * conj(x) / |x|`` (JAX's
    convention: ``grad(abs)(z)`` is ``conj(z) / |z|``), 0 at 0.

    >>> import numpy as onp
    >>> abs_grad(onp.float32(2.0), onp.complex64(3 + 4j))
    array(1.2-1.6j, dtype=complex64)
    """
    if is_complex(x):
        return g * (lax.conj(x) / _nonzero(lax.abs(x)))
    return g * lax.sign(x)


def abs_tangent(t, x):
    """Tangent of ``abs``: ``t * sign(x)``; for complex ``x``, ``real(conj(x) * t) / |x|``,
    0 at 0 (the transpose of ``abs_grad``).

    >>> import numpy as onp
    >>> abs_tangent(onp.complex64(1j), onp.complex64(3 + 4j))
    array(0.8, dtype=float32)
    """
    if is_complex(x):
        return lax.real(lax.conj(x) * t) / _nonzero(lax.abs(x))
    return t * lax.sign(x)


def _nonzero(a):
    """``a`` with its zeros replaced by ones (a divisor that leaves 0 / 0 at 0)."""
    return lax.select_n(lax.eq(a, zeros_like(a)), a, ones_like(a))


def real_grad(g, x):
    """Adjoint of ``real``: ``g`` as the real part of a complex adjoint."""
    if is_complex(x):
        return lax.complex(g, zeros_like(g))
    return g


def imag_grad(g, x):
    """Adjoint of ``imag``: ``-g`` as the imaginary part of a complex adjoint (JAX's
    convention: the adjoint ``c`` of ``z`` pairs with a tangent ``t`` as ``real(c * t)``).
    Zero for a real ``x``, whose imaginary part is the constant 0 (``imag_part``'s
    transpose meets one)."""
    if not is_complex(x):
        return zeros_like(x)
    return lax.complex(zeros_like(g), lax.neg(g))


def abs_grad_tangent(g, x, v):
    """The tangent along ``v`` of ``abs_grad(g, x)`` in ``x``: zero for real ``x`` (``sign``
    is piecewise constant); for complex ``x``, with ``u = conj(x) / |x|``,
    ``g * (conj(v) - u * real(u * v)) / |x|`` (``|x|`` read as 1 at 0, as ``abs_grad``).
    Being a second derivative it is symmetric: it is the transpose in ``x`` too.

    >>> abs_grad_tangent(onp.float32(1.0), onp.complex64(1j), onp.complex64(1.0))
    array(1.+0.j, dtype=complex64)
    """
    if not is_complex(x):
        return zeros_like(v)
    n = _nonzero(lax.abs(x))
    u = lax.conj(x) / n
    return g * (lax.conj(v) - u * lax.real(u * v)) / n


_TRIGAMMA_SHIFT = 8
# Bernoulli-number coefficients of trigamma's asymptotic series, x**-(2k+1).
_TRIGAMMA_SERIES = (1.0 / 6, -1.0 / 30, 1.0 / 42, -1.0 / 30, 5.0 / 66, -691.0 / 2730, 7.0 / 6)


def trigamma(x):
    """``polygamma(1, x)``, the derivative of ``digamma`` (s2s has no polygamma primitive).

    Recurrence up to ``x + 8``, then the asymptotic series (relative error below
    1e-12 for x > 0); reflection ``pi**2 / sin(pi x)**2 - trigamma(1 - x)`` for x <= 0.
    """
    reflect = lax.le(x, 0)
    z = where(reflect, lax.sub(1, x), x)
    acc = zeros_like(z)
    for k in range(_TRIGAMMA_SHIFT):
        zk = lax.add(z, k)
        acc = lax.add(acc, lax.div(1, lax.mul(zk, zk)))
    w = lax.add(z, _TRIGAMMA_SHIFT)
    inv = lax.div(1, w)
    inv2 = lax.mul(inv, inv)
    series = zeros_like(w)
    for c in reversed(_TRIGAMMA_SERIES):
        series = lax.add(lax.mul(series, inv2), c)
    tail = lax.add(lax.add(inv, lax.mul(0.5, inv2)), lax.mul(lax.mul(series, inv2), inv))
    value = lax.add(acc, tail)
    s = lax.sin(lax.mul(onp.pi, x))
    reflected = lax.sub(lax.div(onp.pi * onp.pi, lax.mul(s, s)), value)
    return where(reflect, reflected, value)


def polygamma(n, x):
    """``polygamma(n, x)`` for a static integer ``n >= 1``: the derivatives of ``trigamma``
    (``n = 2``) and of these (s2s.lax has no polygamma primitive; this is on primitives,
    so it runs eagerly and under ``jit`` alike).

    Recurrence up to ``x + 6 + 2n``, then the asymptotic series (relative error near
    1e-12 for x > 0, n <= 5); for x <= 0 the reflection
    ``(-1)**n polygamma(n, 1 - x) - pi**(n+1) cot^(n)(pi x)``.

    >>> round(float(polygamma(2, onp.float32(1.0))), 4)  # -2 zeta(3)
    -2.4041
    """
    n = int(n)
    if n < 1:
        raise ValueError(f"lax.vjp_helpers.polygamma: order {n}; digamma is lax.digamma")
    sign = 1.0 if n % 2 else -1.0
    factorial = float(math.factorial(n))
    reflect = lax.le(x, 0)
    z = where(reflect, lax.sub(1, x), x)
    shift = 6 + 2 * n
    acc = zeros_like(z)
    for k in range(shift):
        acc = lax.add(acc, lax.pow(lax.add(z, k), -(n + 1)))
    inv = lax.div(1, lax.add(z, shift))
    inv2 = lax.mul(inv, inv)
    series = zeros_like(z)
    for k in reversed(range(1, len(_TRIGAMMA_SERIES) + 1)):  # B_2k (2k+n-1)! / (2k)!
        c = _TRIGAMMA_SERIES[k - 1] * math.factorial(2 * k + n - 1) / math.factorial(2 * k)
        series = lax.add(lax.mul(series, inv2), c)
    lead = lax.add(float(math.factorial(n - 1)), lax.mul(0.5 * factorial, inv))
    tail = lax.mul(lax.add(lead, lax.mul(series, inv2)), lax.pow(inv, n))
    value = lax.mul(sign, lax.add(lax.mul(factorial, acc), tail))
    # pi cot(pi x) = psi(1 - x) - psi(x), differentiated n times; cot^(n) is a
    # polynomial in cot (p_0 = c, p_{k+1} = -(1 + c^2) p_k').
    c = lax.div(lax.cos(lax.mul(onp.pi, x)), lax.sin(lax.mul(onp.pi, x)))
    poly = onp.polynomial.Polynomial([0.0, 1.0])
    for _ in range(n):
        poly = -onp.polynomial.Polynomial([1.0, 0.0, 1.0]) * poly.deriv()
    cot_n = zeros_like(c)
    for coef in reversed(poly.coef):
        cot_n = lax.add(lax.mul(cot_n, c), float(coef))
    reflected = lax.sub(lax.mul(-sign, value), lax.mul(onp.pi ** (n + 1), cot_n))
    return where(reflect, reflected, value)


# ---------------------------------------------------------------------------
# Shapes.


def broadcast_in_dim_transpose(g, x, broadcast_dimensions):
    """Adjoint of ``broadcast_in_dim``: ``g`` summed over the broadcast dimensions."""
    xs = shape_of(x)
    gs = shape_of(g)
    bdims = tuple(broadcast_dimensions)
    axes = [i for i in range(len(gs)) if i not in bdims]
    axes += [b for i, b in enumerate(bdims) if xs[i] == 1 and gs[b] != 1]
    if axes:
        g = lax.reduce_sum(g, axes=tuple(sorted(axes)))
    return lax.reshape(g, new_sizes=xs)


def reshape_to(g, x):
    """``g`` reshaped to ``x``'s shape (adjoint of reshape, squeeze and expand_dims)."""
    return lax.reshape(g, new_sizes=shape_of(x))


def reshape_transpose(g, x, dimensions=None):
    """Adjoint of ``reshape(x, new_sizes, dimensions)``."""
    if dimensions is None:
        return reshape_to(g, x)
    xs = shape_of(x)
    perm = tuple(int(p) % len(xs) for p in dimensions)
    t = lax.reshape(g, new_sizes=tuple(xs[p] for p in perm))
    return lax.transpose(t, permutation=inverse_permutation(perm))


def transpose_grad(g, permutation):
    """Adjoint of ``transpose``: the inverse permutation."""
    return lax.transpose(g, permutation=inverse_permutation(permutation))


def pad_transpose(g, padding_config):
    """Adjoint of ``pad`` for the operand: crop the edges, drop the interior padding."""
    config = [tuple(int(v) for v in c) for c in padding_config]
    unpadded = lax.pad(g, 0, padding_config=[(-lo, -hi, 0) for lo, hi, _ in config])
    return lax.slice(unpadded, start_indices=(0,) * len(config),
                     limit_indices=shape_of(unpadded),
                     strides=tuple(i + 1 for _, _, i in config))


def padding_mask(g, padding_config):
    """1 where ``pad``'s result came from the padding value, 0 where from the operand."""
    config = [tuple(int(v) for v in c) for c in padding_config]
    shape = tuple((n - lo - hi + i) // (i + 1) for n, (lo, hi, i) in zip(shape_of(g), config))
    return lax.pad(zeros(shape, dtype_of(g)), 1, padding_config=config)


def pad_value_grad(g, padding_config):
    """Adjoint of ``pad`` for the padding value: the sum of ``g`` over padded positions."""
    masked = lax.mul(g, padding_mask(g, padding_config))
    return lax.reduce_sum(masked, axes=tuple(range(len(shape_of(g)))))


def _check_named_operands(more, opname):
    if more:
        hint = ("nest select_n calls instead" if opname == "select_n" else
                f"pass the operands as one list instead (lax.{opname}([a, b, ...], ...))")
        raise NotImplementedError(
            f"s2s differentiates {opname} with at most 8 separate operands; {hint}")


def concatenate_part(g, before, x, dimension, more=()):
    """The adjoint of operand ``x`` of ``concatenate(*before, x, ..., dimension)``.

    ``before`` holds the operands ahead of ``x``. When ``x`` is the list/tuple
    form (``concatenate([a, b], dimension=0)``) the result is a list of adjoints.
    ``more``: operands past the eighth, which the template cannot name (an error).
    """
    _check_named_operands(more, "concatenate")
    ndim = len(shape_of(g))
    dim = canonical_axis(dimension, ndim)
    if isinstance(x, (list, tuple)):
        parts = []
        start = 0
        for item in x:
            size = shape_of(item)[dim]
            parts.append(slice_in_dim(g, start, start + size, dim))
            start = start + size
        return parts
    start = 0
    for item in before:
        start = start + shape_of(item)[dim]
    return slice_in_dim(g, start, start + shape_of(x)[dim], dim)


def slice_in_dim(g, start, limit, dim):
    """``g[..., start:limit, ...]`` along ``dim``."""
    gs = shape_of(g)
    starts = tuple(start if i == dim else 0 for i in range(len(gs)))
    limits = tuple(limit if i == dim else d for i, d in enumerate(gs))
    return lax.slice(g, start_indices=starts, limit_indices=limits)


def concatenate_part_transpose(h, g, before, x, dimension):
    """Adjoint of ``concatenate_part`` for ``g``: ``h`` padded into ``g``'s shape."""
    gs = shape_of(g)
    dim = canonical_axis(dimension, len(gs))
    if isinstance(x, (list, tuple)):
        parts = []
        for item, part in zip(x, h):
            parts.append(zeros(shape_of(item), dtype_of(g)) if part is None else part)
        return lax.concatenate(parts, dimension=dim)  # one list: reverse mode reads it
    start = 0
    for item in before:
        start = start + shape_of(item)[dim]
    size = shape_of(x)[dim]
    config = [(start, gs[dim] - start - size, 0) if i == dim else (0, 0, 0)
              for i in range(len(gs))]
    return lax.pad(h, 0, padding_config=config)


def slice_transpose(g, x, start_indices, limit_indices, strides=None):
    """Adjoint of ``slice``: ``g`` padded back into ``x``'s shape (JAX's rule)."""
    xs = shape_of(x)
    gs = shape_of(g)
    starts = tuple(int(s) for s in start_indices)
    steps = (1,) * len(xs) if strides is None else tuple(int(s) for s in strides)
    config = []
    for d, s, st, n in zip(xs, starts, steps, gs):
        real_limit = s + (0 if n == 0 else 1 + (n - 1) * st)
        config.append((s, d - real_limit, st - 1))
    return lax.pad(g, 0, padding_config=config)


def dynamic_slice_transpose(g, x, start_indices, allow_negative_indices=True):
    """Adjoint of ``dynamic_slice``: ``g`` written into zeros shaped like ``x``."""
    return lax.dynamic_update_slice(zeros_like(x, dtype_of(g)), g, start_indices,
                                    allow_negative_indices=allow_negative_indices)


def dynamic_slice_like(h, g, start_indices, allow_negative_indices=True):
    """``h`` sliced at ``start_indices`` to ``g``'s shape (transpose of ``dynamic_slice_transpose``)."""
    return lax.dynamic_slice(h, start_indices, shape_of(g),
                             allow_negative_indices=allow_negative_indices)


def dynamic_update_slice_operand_grad(g, update, start_indices, allow_negative_indices=True):
    """Adjoint of ``dynamic_update_slice`` for the operand: ``g`` with the window zeroed."""
    return lax.dynamic_update_slice(g, zeros_like(update, dtype_of(g)), start_indices,
                                    allow_negative_indices=allow_negative_indices)


def select_n_part(g, which, index, more=()):
    """The adjoint of case ``index`` of ``select_n(which, ...)``."""
    _check_named_operands(more, "select_n")
    if dtype_of(which) == dtypes.bool_:
        mask = which if index == 1 else lax.bitwise_not(which)
    else:
        mask = lax.eq(which, lax.convert_element_type(index, new_dtype=dtype_of(which)))
    return mask_grad(g, mask)


# ---------------------------------------------------------------------------
# Gather and scatter.


def gather_transpose(g, operand, indices, dimension_numbers, mode=None, indices_are_sorted=False,
                     unique_indices=False):
    """Adjoint of ``gather``: a scatter-add of ``g`` into zeros (out-of-bounds slices dropped)."""
    return lax.scatter_add(zeros_like(operand, dtype_of(g)), indices, g,
                           dimension_numbers=scatter_for_gather(dimension_numbers), mode=mode,
                           indices_are_sorted=indices_are_sorted, unique_indices=unique_indices)


def scatter_add_updates_grad(g, indices, updates, dimension_numbers, mode=None):
    """Adjoint of the updates of ``scatter_add``: ``g`` gathered at the update windows."""
    gdn, sizes = gather_for_scatter(shape_of(updates), dimension_numbers)
    return lax.gather(g, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                      fill_value=0)


def scatter_add_like(h, g, indices, updates, dimension_numbers, mode=None):
    """Transpose of ``scatter_add_updates_grad``: ``h`` scatter-added into zeros like ``g``."""
    return lax.scatter_add(zeros_like(g, dtype_of(h)), indices, h,
                           dimension_numbers=dimension_numbers, mode=mode)


def _scatter_winners(operand, indices, updates, dimension_numbers, mode):
    """Which operand elements survive a ``scatter``, and which update elements are written.

    Each update element gets a distinct id; scattering the ids shows, for duplicate
    indices, which update the scatter keeps (whatever order it applies them in).
    """
    n = 1
    for d in shape_of(updates):
        n = n * d
    ids = lax.reshape(lax.add(lax.broadcasted_iota(dtype=dtypes.int32, shape=(n,), dimension=0), 1),
                      new_sizes=shape_of(updates))
    written = lax.scatter(zeros(shape_of(operand), dtypes.int32), indices, ids,
                          dimension_numbers=dimension_numbers, mode=mode)
    gdn, sizes = gather_for_scatter(shape_of(updates), dimension_numbers)
    read = lax.gather(written, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                      fill_value=0)
    return lax.eq(written, 0), lax.eq(read, ids)


def scatter_operand_grad(g, operand, indices, updates, dimension_numbers, mode=None):
    """Adjoint of ``scatter`` for the operand: ``g`` where no update overwrote it."""
    kept, _ = _scatter_winners(operand, indices, updates, dimension_numbers, mode)
    return mask_grad(g, kept)


def scatter_updates_grad(g, operand, indices, updates, dimension_numbers, mode=None):
    """Adjoint of ``scatter`` for the updates: ``g`` at the windows each update won."""
    _, won = _scatter_winners(operand, indices, updates, dimension_numbers, mode)
    gdn, sizes = gather_for_scatter(shape_of(updates), dimension_numbers)
    read = lax.gather(g, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                      fill_value=0)
    return mask_grad(read, won)


def scatter_updates_grad_transpose(h, g, operand, indices, updates, dimension_numbers, mode=None):
    """Transpose of ``scatter_updates_grad`` in ``g``."""
    _, won = _scatter_winners(operand, indices, updates, dimension_numbers, mode)
    return lax.scatter_add(zeros_like(g, dtype_of(h)), indices, mask_grad(h, won),
                           dimension_numbers=dimension_numbers, mode=mode)


def scatter_mul_updates_grad(g, ans, operand, indices, updates, dimension_numbers, mode=None,
                             unique_indices=False):
    """Adjoint of ``scatter_mul`` for the updates.

    With ``unique_indices`` it is ``g * operand`` read at the windows (exact, as
    JAX computes it); otherwise ``g * ans / update`` read there, which is exact
    for nonzero updates (JAX only differentiates the unique case).
    """
    gdn, sizes = gather_for_scatter(shape_of(updates), dimension_numbers)
    if unique_indices:
        prod = lax.mul(g, operand)
        return lax.gather(prod, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                          fill_value=0)
    prod = lax.mul(g, ans)
    read = lax.gather(prod, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                      fill_value=0)
    return lax.div(read, updates)


def _scatter_extremal_coefficients(ans, operand, indices, updates, dimension_numbers, mode):
    """JAX's tie rule for ``scatter_min``/``scatter_max``: contenders share the adjoint evenly."""
    gdn, sizes = gather_for_scatter(shape_of(updates), dimension_numbers)
    dt = dtype_of(ans)
    target = lax.gather(ans, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode)
    successful = lax.eq(updates, target)
    retained = lax.eq(operand, ans)
    ones_u = ones_like(updates, dt)
    num_updates = lax.scatter_add(zeros_like(ans, dt), indices,
                                  lax.select_n(successful, zeros_like(ones_u), ones_u),
                                  dimension_numbers=dimension_numbers, mode=mode)
    one = ones_like(ans, dt)
    num_refs = lax.add(num_updates, lax.select_n(retained, zeros_like(one), one))
    safe = lax.select_n(lax.eq(num_refs, 0), num_refs, one)
    share = lax.div(one, safe)
    operand_coef = lax.select_n(retained, zeros_like(share), share)
    share_u = lax.gather(share, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                         fill_value=0)
    updates_coef = lax.select_n(successful, zeros_like(share_u), share_u)
    return operand_coef, updates_coef


def scatter_extremal_operand_grad(g, ans, operand, indices, updates, dimension_numbers, mode=None):
    """Adjoint of ``scatter_min``/``scatter_max`` for the operand."""
    coef, _ = _scatter_extremal_coefficients(ans, operand, indices, updates, dimension_numbers,
                                             mode)
    return lax.mul(g, coef)


def scatter_extremal_updates_grad(g, ans, operand, indices, updates, dimension_numbers, mode=None):
    """Adjoint of ``scatter_min``/``scatter_max`` for the updates."""
    _, coef = _scatter_extremal_coefficients(ans, operand, indices, updates, dimension_numbers,
                                             mode)
    gdn, sizes = gather_for_scatter(shape_of(updates), dimension_numbers)
    read = lax.gather(g, indices, dimension_numbers=gdn, slice_sizes=sizes, mode=mode,
                      fill_value=0)
    return lax.mul(read, coef)


# ---------------------------------------------------------------------------
# Reductions.


def reduce_sum_transpose(g, x, axes):
    """Adjoint of ``reduce_sum``: ``g`` broadcast back over the reduced axes."""
    xs = shape_of(x)
    axes = canonical_axes(axes, len(xs))
    kept = tuple(i for i in range(len(xs)) if i not in axes)
    return lax.broadcast_in_dim(g, shape=xs, broadcast_dimensions=kept)


def reduce_chooser_grad(g, x, ans, axes):
    """Adjoint of ``reduce_max``/``reduce_min``: ties share the adjoint evenly (as JAX)."""
    xs = shape_of(x)
    axes = canonical_axes(axes, len(xs))
    kept = tuple(i for i in range(len(xs)) if i not in axes)
    indicators, counts = _chooser_indicators(x, ans, axes, kept, dtype_of(g))
    share = lax.broadcast_in_dim(lax.div(g, counts), shape=xs, broadcast_dimensions=kept)
    return lax.mul(share, indicators)


def _chooser_indicators(x, ans, axes, kept, dtype):
    """``(1 where x attains its extremum ans, else 0; the count of those per result)``."""
    location = lax.eq(x, lax.broadcast_in_dim(ans, shape=shape_of(x), broadcast_dimensions=kept))
    indicators = lax.convert_element_type(location, new_dtype=dtype)
    return indicators, lax.reduce_sum(indicators, axes=axes)


def reduce_prod_grad(g, x, axes):
    """Adjoint of ``reduce_prod``: ``g`` times the product of the other elements (zeros exact)."""
    (t,), k, undo = _reduced_last(x, axes, x)
    keep = [(0, 0, 0)] * k
    left = lax.pad(lax.cumprod(t, axis=k), 1, padding_config=keep + [(1, -1, 0)])
    right = lax.pad(lax.cumprod(t, axis=k, reverse=True), 1, padding_config=keep + [(-1, 1, 0)])
    return undo(lax.mul(left, right), g)


def reduce_prod_grad_tangent(g, x, dx, axes):
    """The tangent along ``dx`` of ``reduce_prod_grad(g, x, axes)`` in ``x``: ``g`` times the
    tangent of the product of the other elements, from exclusive prefix and suffix
    products and their tangents (``cumprod_tangent``): no division, zeros exact. Being a
    second derivative it is symmetric: it is the transpose in ``x`` too."""
    (t, dt), k, undo = _reduced_last(x, axes, x, dx)
    keep = [(0, 0, 0)] * k
    parts = []
    for reverse, edge in ((False, (1, -1, 0)), (True, (-1, 1, 0))):
        prod = lax.cumprod(t, axis=k, reverse=reverse)
        parts.append((lax.pad(prod, 1, padding_config=keep + [edge]),
                      lax.pad(cumprod_tangent(dt, t, prod, k, reverse), 0,
                              padding_config=keep + [edge])))
    (left, dleft), (right, dright) = parts
    return undo(lax.add(lax.mul(dleft, right), lax.mul(left, dright)), g)


def _reduced_last(x, axes, *arrays):
    """``arrays`` (shaped like ``x``) with the kept axes first and the reduced ones merged
    last; the number of kept axes; and ``undo(r, g)``, which multiplies ``r`` (in that
    layout) by ``g`` (shaped like the reduction's result) and restores ``x``'s layout."""
    xs = shape_of(x)
    axes = canonical_axes(axes, len(xs))
    kept = tuple(i for i in range(len(xs)) if i not in axes)
    perm = kept + axes
    kshape = tuple(xs[i] for i in kept)
    m = 1
    for a in axes:
        m = m * xs[a]
    k = len(kshape)
    moved = tuple(lax.reshape(a, new_sizes=kshape + (m,), dimensions=perm) for a in arrays)

    def undo(r, g):
        gb = lax.broadcast_in_dim(g, shape=kshape + (m,), broadcast_dimensions=tuple(range(k)))
        r = lax.reshape(lax.mul(r, gb), new_sizes=tuple(xs[i] for i in perm))
        return lax.transpose(r, permutation=inverse_permutation(perm))
    return moved, k, undo


def cumsum_transpose(g, axis, reverse=False):
    """Adjoint of ``cumsum``: a cumulative sum in the other direction."""
    return lax.cumsum(g, axis=axis, reverse=not reverse)


def cumprod_grad(g, x, ans, axis, reverse=False):
    """Adjoint of ``cumprod``, exact with zeros in ``x``: ``E[j] * R[j]``, the exclusive
    prefix product ``E[j] = prod(x[:j])`` (``ans`` shifted) times
    ``R[j] = sum_{i>=j} g[i] prod(x[j+1:i+1])`` (``_suffix_sums``), neither of which
    holds ``x[j]``. No division and no case for zeros: differentiated from this source
    (where its templates are not used, as inside a traced function) it stays exact at
    zeros too.

    >>> x = onp.array([2.0, 0.0, 3.0], onp.float32)
    >>> cumprod_grad(onp.ones(3, onp.float32), x, lax.cumprod(x), 0)
    array([1., 8., 0.], dtype=float32)
    """
    dim = canonical_axis(axis, len(shape_of(x)))
    if reverse:
        g = lax.rev(g, dimensions=(dim,))
        x = lax.rev(x, dimensions=(dim,))
        ans = lax.rev(ans, dimensions=(dim,))
    result = lax.mul(_shift(ans, 1, dim, 1), _suffix_sums(g, x, dim))
    if reverse:
        result = lax.rev(result, dimensions=(dim,))
    return result


def _suffix_sums(g, x, dim):
    """``R[j] = g[j] + x[j+1] R[j+1]`` along ``dim``: a linear recurrence run backwards."""
    before = _shift(lax.rev(x, dimensions=(dim,)), 1, dim, 0)
    return lax.rev(linear_recurrence(before, lax.rev(g, dimensions=(dim,)), dim), dimensions=(dim,))


def cumextremum_grad(g, x, ans, axis, reverse=False):
    """Adjoint of ``cummax``/``cummin``: each output's adjoint goes to the element it copies
    (on ties, the latest element that attains the running extremum)."""
    xs = shape_of(x)
    dim = canonical_axis(axis, len(xs))
    if reverse:
        x = lax.rev(x, dimensions=(dim,))
        ans = lax.rev(ans, dimensions=(dim,))
        g = lax.rev(g, dimensions=(dim,))
    position = lax.broadcasted_iota(dtype=dtypes.int32, shape=xs, dimension=dim)
    hit = lax.eq(x, ans)
    source = lax.cummax(where(hit, position, 0), axis=dim)
    result = scatter_add_along_axis(zeros_like(g), source, g, dim)
    if reverse:
        result = lax.rev(result, dimensions=(dim,))
    return result



# Forward mode (the jvp templates of s2s/lax/jvp_rules.py): each is the transpose of the
# adjoint above it, so forward and reverse mode agree on ties and zeros.


def reduce_chooser_tangent(t, x, ans, axes):
    """Tangent of ``reduce_max``/``reduce_min``: the mean of ``t`` over the tied extrema
    (the transpose of ``reduce_chooser_grad``, as JAX)."""
    xs = shape_of(x)
    axes = canonical_axes(axes, len(xs))
    kept = tuple(i for i in range(len(xs)) if i not in axes)
    indicators, counts = _chooser_indicators(x, ans, axes, kept, dtype_of(t))
    return lax.div(lax.reduce_sum(lax.mul(t, indicators), axes=axes), counts)


def reduce_prod_tangent(t, x, axes):
    """Tangent of ``reduce_prod``: ``t`` weighted by the product of the other elements
    (no division, so zeros are exact)."""
    xs = shape_of(x)
    axes = canonical_axes(axes, len(xs))
    kept_shape = tuple(xs[i] for i in range(len(xs)) if i not in axes)
    others = reduce_prod_grad(full(kept_shape, 1, dtype_of(x)), x, axes)
    return lax.reduce_sum(lax.mul(t, others), axes=axes)


def _shift(x, steps, dim, fill):
    """``x`` moved ``steps`` places up ``dim`` (the first ``steps`` filled with ``fill``)."""
    config = [(0, 0, 0)] * len(shape_of(x))
    config[dim] = (steps, -steps, 0)
    return lax.pad(x, fill, padding_config=config)


def linear_recurrence(a, c, dim):
    """``y[i] = a[i] * y[i-1] + c[i]`` along ``dim`` (``y[-1] = 0``): a parallel prefix
    scan over affine maps in ``log2(n)`` steps of products and sums (no division).

    >>> linear_recurrence(onp.array([2.0, 0.0, 3.0], onp.float32), onp.ones(3, onp.float32), 0)
    array([1., 1., 4.], dtype=float32)
    """
    n = shape_of(c)[dim]
    if n < 2:
        return c
    # The first step comes before the loop: forward mode of a loop whose c becomes
    # differentiable inside it (c constant, a not) read c's tangent before assigning it.
    c = lax.add(c, lax.mul(a, _shift(c, 1, dim, 0)))
    step = 2
    while step < n:
        a = lax.mul(a, _shift(a, step // 2, dim, 1))
        c = lax.add(c, lax.mul(a, _shift(c, step, dim, 0)))
        step = 2 * step
    return c


def cumprod_tangent(t, x, ans, axis, reverse=False):
    """Tangent of ``cumprod``: ``dy[i] = x[i] * dy[i-1] + y[i-1] * t[i]``, exact with zeros
    in ``x`` (never divides by it).

    >>> x = onp.array([2.0, 0.0, 3.0], onp.float32)
    >>> cumprod_tangent(onp.ones(3, onp.float32), x, lax.cumprod(x), 0)
    array([1., 2., 6.], dtype=float32)
    """
    dim = canonical_axis(axis, len(shape_of(x)))
    if reverse:
        t = lax.rev(t, dimensions=(dim,))
        x = lax.rev(x, dimensions=(dim,))
        ans = lax.rev(ans, dimensions=(dim,))
    before = _shift(ans, 1, dim, 1)
    result = linear_recurrence(x, lax.mul(before, t), dim)
    if reverse:
        result = lax.rev(result, dimensions=(dim,))
    return result


def cumprod_grad_tangent(g, x, ans, v, axis, reverse=False):
    """The tangent along ``v`` of ``cumprod_grad(g, x, ans)`` in ``x`` (``ans`` being
    ``cumprod(x)``): no division, exact with zeros in ``x``.

    ``cumprod_grad(g, x)[j]`` is ``E[j] * R[j]``: the exclusive prefix product
    ``E[j] = prod(x[:j])`` times ``R[j] = sum_{i>=j} g[i] prod(x[j+1:i+1])``, neither of
    which holds ``x[j]``; ``R[j] = g[j] + x[j+1] R[j+1]`` is a linear recurrence run
    backwards, and so is its tangent. Being a second derivative (of ``sum(g * cumprod(x))``)
    it is symmetric: it is the transpose in ``x`` too.

    >>> x = onp.array([2.0, 0.0, 3.0], onp.float32)
    >>> e0 = onp.array([1.0, 0.0, 0.0], onp.float32)
    >>> cumprod_grad_tangent(onp.ones(3, onp.float32), x, lax.cumprod(x), e0, 0)
    array([0., 4., 0.], dtype=float32)
    """
    dim = canonical_axis(axis, len(shape_of(x)))
    if reverse:
        g = lax.rev(g, dimensions=(dim,))
        x = lax.rev(x, dimensions=(dim,))
        ans = lax.rev(ans, dimensions=(dim,))
        v = lax.rev(v, dimensions=(dim,))
    prefix = _shift(ans, 1, dim, 1)
    dprefix = _shift(cumprod_tangent(v, x, ans, dim), 1, dim, 0)
    suffix = _suffix_sums(g, x, dim)
    # dR[j] = v[j+1] R[j+1] + x[j+1] dR[j+1]: the same recurrence
    dsuffix = _suffix_sums(_shift(lax.mul(v, suffix), -1, dim, 0), x, dim)
    result = lax.add(lax.mul(dprefix, suffix), lax.mul(prefix, dsuffix))
    if reverse:
        result = lax.rev(result, dimensions=(dim,))
    return result


def cumextremum_tangent(t, x, ans, axis, reverse=False):
    """Tangent of ``cummax``/``cummin``: each output copies the tangent of the element it
    copies (on ties the latest, as ``cumextremum_grad``), carried forward by a scan."""
    dim = canonical_axis(axis, len(shape_of(x)))
    if reverse:
        t = lax.rev(t, dimensions=(dim,))
        x = lax.rev(x, dimensions=(dim,))
        ans = lax.rev(ans, dimensions=(dim,))
    hit = lax.eq(x, ans)
    carry = lax.convert_element_type(lax.bitwise_not(hit), new_dtype=dtype_of(t))
    result = linear_recurrence(carry, mask_grad(t, hit), dim)
    if reverse:
        result = lax.rev(result, dimensions=(dim,))
    return result


def full_indices(index, dim):
    """Index vectors (last dimension) that address ``[..., index, ...]`` along ``dim``."""
    shape = shape_of(index)
    n = len(shape)
    parts = []
    for d in range(n):
        coord = index if d == dim else lax.broadcasted_iota(dtype=dtypes.int32, shape=shape, dimension=d)
        parts.append(lax.expand_dims(lax.convert_element_type(coord, new_dtype=dtypes.int32),
                                     dimensions=(n,)))
    return lax.concatenate(*parts, dimension=n)


def scatter_add_along_axis(base, index, updates, dim):
    """``base`` with ``updates[..., i, ...]`` added at ``[..., index[..., i, ...], ...]``."""
    n = len(shape_of(index))
    return lax.scatter_add(base, full_indices(index, dim), updates,
                           dimension_numbers=along_axis_dnums(n), mode="clip")


def sort_permutation(operands, dimension, num_keys=1, more=()):
    """The permutation along ``dimension`` that ``sort(*operands, num_keys=...)`` applies.

    ``operands`` may hold ``None`` for absent operands, or be one tuple/list of
    operands (``sort((a, b))``); only the first ``num_keys`` are compared.
    ``more``: operands past the eighth, which the template cannot name (an error).
    """
    _check_named_operands(more, "sort")
    keys = [k for k in operands if k is not None]
    if len(keys) == 1 and isinstance(keys[0], (list, tuple)):
        keys = list(keys[0])
    shape = shape_of(keys[0])
    dim = canonical_axis(dimension, len(shape))
    position = lax.broadcasted_iota(dtype=dtypes.int32, shape=shape, dimension=dim)
    out = lax.sort(*keys[:num_keys], position, dimension=dim, is_stable=True, num_keys=num_keys)
    return out[-1]


def unsort(g, index, perm, dimension, operand):
    """The adjoint of ``operand``, the ``index``-th of ``sort``: its result's adjoint put back.

    ``g`` is the adjoint of the sort's result (a tuple for several operands, with
    ``None`` for results that need none), ``perm`` its ``sort_permutation``. When
    ``operand`` is the one tuple/list operand of ``sort((a, b))``, all its
    operands' adjoints come back as a list.
    """
    if isinstance(operand, (list, tuple)):
        return [unsort(g, i, perm, dimension, x) for i, x in enumerate(operand)]
    gk = g[index] if isinstance(g, (list, tuple)) else g
    if gk is None:
        return zeros_like(operand)
    dim = canonical_axis(dimension, len(shape_of(gk)))
    # Sorting by the permutation sends the adjoint of sorted position j to perm[j].
    return lax.sort(perm, gk, dimension=dim, num_keys=1)[1]



def unsort_transpose(h, g, index, perm, dimension, operand):
    """The transpose of ``unsort(g, index, perm, dimension, operand)`` in ``g``: ``h`` (an
    adjoint of ``operand``, a list of them for a tuple operand) put in sorted order,
    shaped like ``g``: a tuple holding ``None`` (a zero adjoint) for the other results.

    >>> perm = onp.array([1, 2, 0], onp.int32)
    >>> unsort_transpose(onp.array([10.0, 20.0, 30.0], onp.float32), (None, None), 1, perm, 0, None)
    (None, array([20., 30., 10.], dtype=float32))
    """
    if isinstance(operand, (list, tuple)):  # every result's adjoint came back (unsort)
        taken = [None if hi is None else _take_sorted(hi, perm, dimension) for hi in h]
        return tuple(taken) if isinstance(g, (list, tuple)) else _sum_present(taken)
    taken = _take_sorted(h, perm, dimension)
    if not isinstance(g, (list, tuple)):
        return taken
    return tuple(taken if i == index else None for i in range(len(g)))


def _take_sorted(h, perm, dimension):
    """``h`` in sorted order: sorted position ``j`` holds the element from ``perm[j]``."""
    ndim = len(shape_of(h))
    dn, sizes = _point_gather(ndim)
    return lax.gather(h, full_indices(perm, canonical_axis(dimension, ndim)), dimension_numbers=dn,
                      slice_sizes=sizes, mode="clip")


def _sum_present(arrays):
    present = [a for a in arrays if a is not None]
    total = present[0]
    for a in present[1:]:
        total = lax.add(total, a)
    return total


def sort_tangents(tangents, operands, dimension, num_keys=1):
    """Tangents of ``sort(*operands)`` from the operands' ``tangents``: the keys sorted
    again with the tangents riding along (the same stable permutation).

    >>> t, x = onp.array([10.0, 20.0, 30.0], onp.float32), onp.array([3.0, 1.0, 2.0], onp.float32)
    >>> sort_tangents((t,), (x,), -1)
    array([20., 30., 10.], dtype=float32)
    """
    single = len(operands) == 1 and not isinstance(operands[0], (list, tuple))
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands, tangents = tuple(operands[0]), tuple(tangents[0])
    dim = canonical_axis(dimension, len(shape_of(operands[0])))
    keys = tuple(operands[:num_keys])
    out = lax.sort(*keys, *tangents, dimension=dim, is_stable=True, num_keys=num_keys)
    return out[num_keys] if single else tuple(out[num_keys:])


# ---------------------------------------------------------------------------
# Windowed reductions.


def reduce_window_sum_transpose(g, x, window_dimensions, window_strides=None, padding="VALID",
                                base_dilation=None, window_dilation=None):
    """Adjoint of ``reduce_window_sum`` (JAX's rule: pad the adjoint, sum windows again)."""
    xs = shape_of(x)
    wd, ws, pads, bd, wdil = window_params(xs, window_dimensions, window_strides, padding,
                                           base_dilation, window_dilation)
    t_pads = conv_vjp_lhs_padding(xs, wd, ws, shape_of(g), pads, bd, wdil)
    config = [(lo, hi, s - 1) for (lo, hi), s in zip(t_pads, ws)]
    padded = lax.pad(g, 0, padding_config=config)
    return lax.reduce_window_sum(padded, window_dimensions=wd, window_strides=bd,
                                 padding=((0, 0),) * len(xs), window_dilation=wdil)


def _window_slices(xs, out_shape, window_dimensions, window_strides, padding, base_dilation,
                   window_dilation):
    """Padding config of the base and one strided slice per window offset."""
    wd, ws, pads, bd, wdil = window_params(xs, window_dimensions, window_strides, padding,
                                           base_dilation, window_dilation)
    config = [(lo, hi, b - 1) for (lo, hi), b in zip(pads, bd)]
    slices = []
    for offset in window_offsets(wd, wdil):
        limit = tuple(o + (n - 1) * s + 1 for o, n, s in zip(offset, out_shape, ws))
        slices.append((offset, limit, ws))
    return config, slices


def _extremum_identity(kind, dtype):
    if dtypes.is_inexact(dtype):
        return -onp.inf if kind == "max" else onp.inf
    info = onp.iinfo(dtype)
    return info.min if kind == "max" else info.max


def reduce_window_chooser_grad(g, x, ans, kind, window_dimensions, window_strides=None,
                               padding="VALID", base_dilation=None, window_dilation=None):
    """Adjoint of ``reduce_window_max``/``_min`` (``kind`` "max"/"min").

    Each window's adjoint goes to the first element (row-major in the window)
    equal to the window's result, as XLA's select-and-scatter does.
    """
    xs = shape_of(x)
    out_shape = shape_of(g)
    if 0 in out_shape:
        return zeros_like(x, dtype_of(g))
    config, slices = _window_slices(xs, out_shape, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)
    base = lax.pad(x, _extremum_identity(kind, dtype_of(x)), padding_config=config)
    taken = None
    total = zeros_like(base, dtype_of(g))
    for start, limit, strides in slices:
        window = lax.slice(base, start_indices=start, limit_indices=limit, strides=strides)
        hit = lax.eq(window, ans)
        if taken is None:
            taken = hit
        else:
            hit = lax.bitwise_and(hit, lax.bitwise_not(taken))
            taken = lax.bitwise_or(taken, hit)
        part = slice_transpose(mask_grad(g, hit), base, start, limit, strides)
        total = lax.add(total, part)
    return pad_transpose(total, config)


def reduce_window_operand_grad(g, x, init_value, ans, computation, window_dimensions,
                               window_strides=None, padding="VALID", base_dilation=None,
                               window_dilation=None):
    """Adjoint of the generic ``reduce_window`` for the operand."""
    kind = _computation_kind(computation)
    if kind == "add":
        return reduce_window_sum_transpose(g, x, window_dimensions, window_strides, padding,
                                           base_dilation, window_dilation)
    if kind in ("max", "min"):
        return reduce_window_chooser_grad(g, x, ans, kind, window_dimensions, window_strides,
                                          padding, base_dilation, window_dilation)
    return _reduce_window_mul_grads(g, x, init_value, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)[0]


def reduce_window_init_grad(g, x, init_value, ans, computation, window_dimensions,
                            window_strides=None, padding="VALID", base_dilation=None,
                            window_dilation=None):
    """Adjoint of the generic ``reduce_window`` for ``init_value``."""
    kind = _computation_kind(computation)
    axes = tuple(range(len(shape_of(g))))
    if kind == "add":
        return lax.reduce_sum(g, axes=axes)
    if kind in ("max", "min"):
        # init takes the adjoint of the windows where no operand element is the result.
        taken = _window_hits(x, ans, kind, shape_of(g), window_dimensions, window_strides,
                             padding, base_dilation, window_dilation)
        return lax.reduce_sum(mask_grad(g, lax.bitwise_not(taken)), axes=axes)
    return _reduce_window_mul_grads(g, x, init_value, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)[1]


def _computation_kind(computation):
    return _computation_name(computation)


def _window_hits(x, ans, kind, out_shape, window_dimensions, window_strides, padding,
                 base_dilation, window_dilation):
    xs = shape_of(x)
    taken = zeros(out_shape, dtypes.bool_)
    if 0 in out_shape:
        return taken
    config, slices = _window_slices(xs, out_shape, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)
    base = lax.pad(x, _extremum_identity(kind, dtype_of(x)), padding_config=config)
    for start, limit, strides in slices:
        window = lax.slice(base, start_indices=start, limit_indices=limit, strides=strides)
        taken = lax.bitwise_or(taken, lax.eq(window, ans))
    return taken


def _reduce_window_mul_grads(g, x, init_value, window_dimensions, window_strides, padding,
                             base_dilation, window_dilation):
    """Adjoints of a windowed product for the operand and the initial value (zeros exact)."""
    xs = shape_of(x)
    out_shape = shape_of(g)
    if 0 in out_shape:
        return zeros_like(x, dtype_of(g)), zeros((), dtype_of(g))
    config, slices = _window_slices(xs, out_shape, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)
    base = lax.pad(x, 1, padding_config=config)
    windows = []
    for start, limit, strides in slices:
        windows.append(lax.slice(base, start_indices=start, limit_indices=limit, strides=strides))
    prefix = []
    acc = ones_like(windows[0])
    for w in windows:
        prefix.append(acc)
        acc = lax.mul(acc, w)
    product = acc
    suffix = ones_like(windows[0])
    total = zeros_like(base, dtype_of(g))
    gi = lax.mul(g, init_value)
    for i in range(len(windows) - 1, -1, -1):
        others = lax.mul(prefix[i], suffix)
        start, limit, strides = slices[i]
        total = lax.add(total, slice_transpose(lax.mul(gi, others), base, start, limit, strides))
        suffix = lax.mul(suffix, windows[i])
    g_init = lax.reduce_sum(lax.mul(g, product), axes=tuple(range(len(out_shape))))
    return pad_transpose(total, config), g_init


# ---------------------------------------------------------------------------
# Contractions.


def dot_general_transpose_lhs(g, lhs, rhs, dimension_numbers, precision=None,
                              preferred_element_type=None):
    """Adjoint of ``dot_general`` for ``lhs`` (JAX's transpose rule)."""
    dims, perm = dot_transpose_params(shape_of(lhs), shape_of(rhs), dimension_numbers)
    out = lax.dot_general(g, rhs, dimension_numbers=dims, precision=precision,
                          preferred_element_type=preferred_element_type)
    return lax.transpose(out, permutation=perm)


def dot_general_transpose_rhs(g, lhs, rhs, dimension_numbers, precision=None,
                              preferred_element_type=None):
    """Adjoint of ``dot_general`` for ``rhs`` (JAX's transpose rule)."""
    swapped = swapped_dot_dimension_numbers(shape_of(lhs), shape_of(rhs), dimension_numbers)
    dims, perm = dot_transpose_params(shape_of(rhs), shape_of(lhs), swapped, swap_ans=True)
    out = lax.dot_general(g, lhs, dimension_numbers=dims, precision=precision,
                          preferred_element_type=preferred_element_type)
    return lax.transpose(out, permutation=perm)


def conv_transpose_lhs(g, lhs, rhs, window_strides, padding, lhs_dilation=None,
                       rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                       batch_group_count=1, precision=None, preferred_element_type=None):
    """Adjoint of ``conv_general_dilated`` for ``lhs``: a convolution of ``g`` with the
    flipped kernel (JAX's transpose rule, groups included)."""
    return conv_lhs_adjoint(
        g, rhs, shape_of(lhs), (window_strides, padding, lhs_dilation, rhs_dilation,
                                dimension_numbers, feature_group_count, batch_group_count),
        dict(precision=precision, preferred_element_type=preferred_element_type))


def conv_lhs_adjoint(g, rhs, lhs_shape, statics, options, conv=None, batched=(False, False)):
    """``conv_transpose_lhs`` given ``lhs``'s shape: ``statics`` are the convolution's
    parameters from ``window_strides`` to ``batch_group_count``, ``options`` its
    ``precision`` and ``preferred_element_type``.

    ``batched`` says which of ``g`` and ``rhs`` carry a leading batch axis (shapes are
    per example); ``conv`` is then ``conv_general_dilated``'s batch rule, called as
    ``conv(axes, lhs, rhs, **params)`` (vmap's rule for ``conv_transpose_lhs``).
    """
    g_lead, rhs_lead = (int(b) for b in batched)
    rhs_reshape, kwargs, out_reshape, kernel_spatial = conv_lhs_transpose_params(
        lhs_shape, shape_of(rhs)[rhs_lead:], shape_of(g)[g_lead:], *statics)
    kernel = _regroup(rhs, rhs_reshape, rhs_lead)
    kernel = lax.rev(kernel, dimensions=tuple(d + rhs_lead for d in kernel_spatial))
    out = _convolve(conv, (g_lead, rhs_lead), g, kernel, **kwargs, **options)
    return _regroup(out, out_reshape, max(g_lead, rhs_lead))


def _regroup(x, reshape, lead):
    """``x`` with a group axis moved by the ``(split, merged, perm)`` reshapes of
    ``_axis_out_of_into`` (None: unchanged), behind ``lead`` leading batch axes."""
    if reshape is None:
        return x
    split, merged, perm = reshape
    head = shape_of(x)[:lead]
    x = lax.reshape(x, new_sizes=head + tuple(split))
    return lax.reshape(x, new_sizes=head + tuple(merged),
                       dimensions=tuple(range(lead)) + tuple(p + lead for p in perm))


def conv_transpose_rhs(g, lhs, rhs, window_strides, padding, lhs_dilation=None,
                       rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                       batch_group_count=1, precision=None, preferred_element_type=None):
    """Adjoint of ``conv_general_dilated`` for ``rhs``: a convolution of ``lhs`` with ``g``."""
    return conv_rhs_adjoint(
        g, lhs, shape_of(rhs), (window_strides, padding, lhs_dilation, rhs_dilation,
                                dimension_numbers, feature_group_count, batch_group_count),
        dict(precision=precision, preferred_element_type=preferred_element_type))


def conv_rhs_adjoint(g, lhs, rhs_shape, statics, options, conv=None, batched=(False, False)):
    """``conv_transpose_rhs`` given ``rhs``'s shape (parameters as ``conv_lhs_adjoint``'s;
    ``batched`` says which of ``g`` and ``lhs`` carry a leading batch axis)."""
    g_lead, lhs_lead = (int(b) for b in batched)
    g_shape = shape_of(g)[g_lead:]
    if 0 in g_shape:
        head = shape_of(g)[:g_lead] or shape_of(lhs)[:lhs_lead]
        return zeros(head + tuple(rhs_shape), dtype_of(g))
    kwargs = conv_rhs_transpose_params(shape_of(lhs)[lhs_lead:], rhs_shape, g_shape, *statics)
    return _convolve(conv, (lhs_lead, g_lead), lhs, g, **kwargs, **options)


def conv_transpose_grad_lhs(g, lhs, rhs, strides, padding, rhs_dilation=None,
                            dimension_numbers=None, transpose_kernel=False, precision=None,
                            preferred_element_type=None, use_consistent_padding=False):
    """Adjoint of ``conv_transpose`` for ``lhs``: ``conv_transpose_lhs`` of the convolution
    it runs."""
    return conv_transpose_lhs_adjoint(
        g, rhs, shape_of(lhs), (strides, padding, rhs_dilation, dimension_numbers,
                                transpose_kernel, use_consistent_padding),
        dict(precision=precision, preferred_element_type=preferred_element_type))


def conv_transpose_grad_rhs(g, lhs, rhs, strides, padding, rhs_dilation=None,
                            dimension_numbers=None, transpose_kernel=False, precision=None,
                            preferred_element_type=None, use_consistent_padding=False):
    """Adjoint of ``conv_transpose`` for ``rhs``: ``conv_transpose_rhs`` of the convolution
    it runs, taken back through its kernel's flip."""
    return conv_transpose_rhs_adjoint(
        g, lhs, shape_of(rhs), (strides, padding, rhs_dilation, dimension_numbers,
                                transpose_kernel, use_consistent_padding),
        dict(precision=precision, preferred_element_type=preferred_element_type))


def conv_transpose_lhs_adjoint(g, rhs, lhs_shape, statics, options, conv=None,
                               batched=(False, False)):
    """``conv_transpose_grad_lhs`` given ``lhs``'s shape (``statics``: its parameters from
    ``strides`` on, but the two ``options``; the rest as ``conv_lhs_adjoint``'s)."""
    rhs_lead = int(batched[1])
    flip, perm, params = conv_transpose_params(lhs_shape, shape_of(rhs)[rhs_lead:], *statics)
    kernel = _conv_transpose_kernel(rhs, flip, perm, rhs_lead)
    return conv_lhs_adjoint(g, kernel, lhs_shape, _conv_statics(params), options, conv, batched)


def conv_transpose_rhs_adjoint(g, lhs, rhs_shape, statics, options, conv=None,
                               batched=(False, False)):
    """``conv_transpose_grad_rhs`` given ``rhs``'s shape (as ``conv_transpose_lhs_adjoint``;
    ``batched`` for ``g`` and ``lhs``)."""
    flip, perm, params = conv_transpose_params(shape_of(lhs)[int(batched[1]):], rhs_shape,
                                               *statics)
    kernel_shape = tuple(rhs_shape[p] for p in perm)
    out = conv_rhs_adjoint(g, lhs, kernel_shape, _conv_statics(params), options, conv, batched)
    return _conv_transpose_kernel(out, flip, perm, int(any(batched)))


def _conv_transpose_kernel(rhs, flip, perm, lead):
    """The kernel ``conv_transpose`` convolves with (``transpose_kernel``'s flip and swap,
    behind ``lead`` batch axes); its own inverse and transpose."""
    if not flip and perm == tuple(range(len(perm))):
        return rhs
    rhs = lax.rev(rhs, dimensions=tuple(d + lead for d in flip))
    return lax.transpose(rhs, permutation=tuple(range(lead)) + tuple(p + lead for p in perm))


def _conv_statics(params):
    return tuple(params[k] for k in ("window_strides", "padding", "lhs_dilation", "rhs_dilation",
                                     "dimension_numbers")) + (1, 1)


def _convolve(conv, leads, lhs, rhs, **params):
    if conv is None:
        return lax.conv_general_dilated(lhs, rhs, **params)
    return conv(tuple(0 if lead else None for lead in leads), lhs, rhs, **params)


# ---------------------------------------------------------------------------
# Linear algebra (s2s.lax.linalg): JAX's jvp rules, transposed. Matrices are the
# last two axes; leading axes are batch axes. Cotangents follow JAX: the linear
# transpose (not the conjugate transpose) for complex values.


def _matrix_T(x):
    n = len(shape_of(x))
    return lax.transpose(x, permutation=tuple(range(n - 2)) + (n - 1, n - 2))


def _conj(x):
    return lax.conj(x) if is_complex(x) else x


def _matrix_H(x):
    return _conj(_matrix_T(x))


def _mm(a, b):
    """Batched matrix product."""
    nb = len(shape_of(a)) - 2
    batch = tuple(range(nb))
    return lax.dot_general(a, b, dimension_numbers=(((nb + 1,), (nb,)), (batch, batch)))


def _tri_mask(shape, k, lower):
    """``col <= row + k`` (lower) or ``col >= row + k`` (upper) for the last two axes."""
    m, n = shape[-2:]
    rows = lax.broadcasted_iota(dtype=dtypes.int32, shape=(m, n), dimension=0)
    cols = lax.broadcasted_iota(dtype=dtypes.int32, shape=(m, n), dimension=1)
    shifted = lax.add(rows, lax.convert_element_type(k, new_dtype=dtypes.int32))
    return lax.le(cols, shifted) if lower else lax.ge(cols, shifted)


def tril(x, k=0):
    """The lower triangle (on and below diagonal ``k``) of the last two axes."""
    return mask_grad(x, _tri_mask(shape_of(x), k, True))


def triu(x, k=0):
    """The upper triangle (on and above diagonal ``k``) of the last two axes."""
    return mask_grad(x, _tri_mask(shape_of(x), k, False))


def eye(n, dtype):
    """The ``n`` by ``n`` identity."""
    rows = lax.broadcasted_iota(dtype=dtypes.int32, shape=(n, n), dimension=0)
    cols = lax.broadcasted_iota(dtype=dtypes.int32, shape=(n, n), dimension=1)
    return lax.convert_element_type(lax.eq(rows, cols), new_dtype=dtype)


def diag_embed(v):
    """Diagonal matrices with diagonals ``v`` (..., n) -> (..., n, n)."""
    n = shape_of(v)[-1]
    return lax.mul(lax.expand_dims(v, dimensions=(len(shape_of(v)) - 1,)), eye(n, dtype_of(v)))


def _rows(v):
    """``v[..., None, :]``."""
    return lax.expand_dims(v, dimensions=(len(shape_of(v)) - 1,))


def _cols(v):
    """``v[..., :, None]``."""
    return lax.expand_dims(v, dimensions=(len(shape_of(v)),))


def _as_dtype(x, dtype):
    return lax.convert_element_type(x, new_dtype=dtype)


def _parts(g, like):
    """The adjoints of a multiple-result primitive, zeros where ``None``."""
    if g is None:
        return [zeros_like(x) for x in like]
    return [zeros_like(x) if p is None else p for p, x in zip(g, like)]


def hermitian_grad(sbar, lower):
    """From the adjoint of the Hermitian matrix a primitive builds out of one triangle of its
    operand, the adjoint of that operand (the other triangle gets none)."""
    if lower:
        out = lax.add(tril(sbar), tril(_matrix_H(sbar), -1))
    else:
        out = lax.add(triu(sbar), triu(_matrix_H(sbar), 1))
    if is_complex(out):  # LAPACK reads the real part of the diagonal only
        imag_part = lax.sub(out, _as_dtype(lax.real(out), dtype_of(out)))
        out = lax.sub(out, mask_grad(imag_part, eye(shape_of(out)[-1], dtypes.bool_)))
    return out


def triangular_solve_grad_b(g, a, left_side=False, lower=False, transpose_a=False,
                            conjugate_a=False, unit_diagonal=False):
    """Adjoint of ``triangular_solve`` for ``b``: a solve with ``op(a)`` transposed."""
    return lax.linalg.triangular_solve(a, g, left_side=left_side, lower=lower,
                                       transpose_a=not transpose_a, conjugate_a=conjugate_a,
                                       unit_diagonal=unit_diagonal)


def triangular_solve_grad_a(g, a, ans, left_side=False, lower=False, transpose_a=False,
                            conjugate_a=False, unit_diagonal=False):
    """Adjoint of ``triangular_solve`` for ``a`` (only the triangle it reads)."""
    gb = triangular_solve_grad_b(g, a, left_side, lower, transpose_a, conjugate_a, unit_diagonal)
    if left_side:
        c = lax.neg(_mm(gb, _matrix_T(ans)))
    else:
        c = lax.neg(_mm(_matrix_T(ans), gb))
    if transpose_a:
        c = _matrix_T(c)
    if conjugate_a:
        c = _conj(c)
    k = 1 if unit_diagonal else 0
    return tril(c, -k) if lower else triu(c, k)


def cholesky_grad(g, factor, lower=True):
    """Adjoint of ``cholesky``: ``L^-T phi(L^T g) conj(L)^-1`` mapped onto the triangle read."""
    if lower:
        low, gl = factor, g
    else:  # U = L^H
        low, gl = _matrix_H(factor), _matrix_H(g)
    p = _mm(_matrix_T(low), gl)
    diagonal = mask_grad(p, eye(shape_of(p)[-1], dtypes.bool_))
    p = lax.sub(tril(p), lax.mul(0.5, diagonal))  # phi: the lower triangle, half the diagonal
    t = lax.linalg.triangular_solve(low, p, left_side=True, lower=True, transpose_a=True)
    sbar = lax.linalg.triangular_solve(low, t, left_side=False, lower=True, conjugate_a=True)
    return hermitian_grad(sbar, lower)


def eigh_grad(g, ans, lower=True):
    """Adjoint of ``eigh``: ``conj(V) (diag(gw) + F o (V^T gv)) V^T`` on the triangle read."""
    v, w = ans
    gv, gw = _parts(g, ans)
    dt = dtype_of(v)
    n = shape_of(w)[-1]
    i = eye(n, dt)
    wv = _as_dtype(w, dt)
    f = lax.sub(lax.div(1, lax.add(i, lax.sub(_rows(wv), _cols(wv)))), i)
    inner = lax.add(diag_embed(_as_dtype(gw, dt)), lax.mul(f, _mm(_matrix_T(v), gv)))
    sbar = _mm(_mm(_conj(v), inner), _matrix_T(v))
    return hermitian_grad(sbar, lower)


def qr_grad(g, ans, a, full_matrices=False):
    """Adjoint of ``qr`` (JAX's jvp rule transposed; m >= n, and square when full_matrices)."""
    q, r = ans
    gq, gr = _parts(g, ans)
    m, n = shape_of(a)[-2:]
    if m < n or (full_matrices and m != n):
        raise NotImplementedError(
            f"s2s differentiates qr only for m >= n (and square matrices with "
            f"full_matrices=True), as JAX; got shape {shape_of(a)}")
    big_m = lax.sub(_mm(_matrix_T(q), gq), _mm(gr, _matrix_T(r)))
    ct_c = lax.add(lax.neg(big_m), tril(lax.sub(big_m, _matrix_H(big_m)), -1))
    if is_complex(big_m):
        imag_part = lax.sub(big_m, _as_dtype(lax.real(big_m), dtype_of(big_m)))
        ct_c = lax.add(ct_c, lax.mul(eye(n, dtype_of(big_m)), imag_part))
    ct_d = lax.add(gq, _mm(_conj(q), ct_c))
    return lax.linalg.triangular_solve(r, ct_d, left_side=False, lower=False, transpose_a=True)


def lu_factors(packed):
    """Unit-lower ``L`` (m, m) and upper ``U`` (n, n) of a packed LU (identity blocks
    complete the rectangular case)."""
    shape = shape_of(packed)
    nd = len(shape)
    m, n = shape[-2:]
    k = min(m, n)
    dt = dtype_of(packed)
    keep = [(0, 0, 0)] * (nd - 2)
    low = slice_in_dim(packed, 0, k, nd - 1)
    low = lax.pad(tril(low, -1), 0, padding_config=keep + [(0, 0, 0), (0, m - k, 0)])
    low = lax.add(low, eye(m, dt))
    up = slice_in_dim(packed, 0, k, nd - 2)
    up = lax.pad(triu(up), 0, padding_config=keep + [(0, n - k, 0), (0, 0, 0)])
    up = lax.add(up, lax.pad(eye(n - k, dt), 0, padding_config=[(k, 0, 0), (k, 0, 0)]))
    return low, up


def lu_grad(g, ans):
    """Adjoint of ``lu`` for the operand (JAX's jvp rule transposed)."""
    packed, _, perm = ans
    glu = _parts(g, ans)[0]
    shape = shape_of(packed)
    nd = len(shape)
    low, up = lu_factors(packed)
    ct_lau = lax.add(tril(_mm(_matrix_T(low), glu), -1), triu(_mm(glu, _matrix_T(up))))
    ct_la = lax.linalg.triangular_solve(up, ct_lau, left_side=False, lower=False,
                                        transpose_a=True)
    ct_x = lax.linalg.triangular_solve(low, ct_la, left_side=True, lower=True, transpose_a=True,
                                       unit_diagonal=True)
    # x = a[perm]: row i of the adjoint goes back to row perm[i].
    key = lax.broadcast_in_dim(perm, shape=shape, broadcast_dimensions=tuple(range(nd - 1)))
    return lax.sort(key, ct_x, dimension=nd - 2, num_keys=1)[1]


def svd_grad(g, a, ans, full_matrices=True, compute_uv=True):
    """Adjoint of ``svd`` (JAX's jvp rule transposed; reduced factors or square matrices)."""
    m, n = shape_of(a)[-2:]
    if compute_uv:
        u, s, vt = ans
        gu, gs, gvt = _parts(g, ans)
        if full_matrices and m != n:
            raise NotImplementedError(
                "s2s differentiates svd with full_matrices=True only for square matrices, as "
                "JAX; use full_matrices=False")
    else:
        gs = g
        u, s, vt = lax.linalg.svd(a, full_matrices=False, compute_uv=True)
        gu = zeros_like(u)
        gvt = zeros_like(vt)
    dt = dtype_of(u)
    k = shape_of(s)[-1]
    v = _matrix_H(vt)
    gv = _matrix_H(gvt)
    i = eye(k, dtype_of(s))
    s_row = _rows(s)
    s_col = _cols(s)
    f = lax.sub(lax.div(1, lax.add(i, lax.sub(lax.mul(s_row, s_row), lax.mul(s_col, s_col)))), i)
    is_zero = _as_dtype(lax.eq(s, 0), dtype_of(s))
    s_inv = lax.sub(lax.div(1, lax.add(s, is_zero)), is_zero)
    ut_gu = _mm(_matrix_T(u), gu)
    a_u = lax.mul(_as_dtype(f, dt), ut_gu)
    ct_dss = lax.add(a_u, _matrix_H(a_u))
    b_v = lax.mul(_as_dtype(f, dt), _mm(_matrix_T(v), gv))
    ct_sds = lax.add(b_v, _matrix_H(b_v))
    ct_ds = lax.add(lax.mul(ct_dss, _as_dtype(s_row, dt)), lax.mul(_as_dtype(s_col, dt), ct_sds))
    d = lax.mul(ut_gu, diag_embed(_as_dtype(s_inv, dt)))
    ct_ds = lax.add(ct_ds, lax.mul(0.5, lax.sub(d, _matrix_H(d))))
    ct_ds = lax.add(ct_ds, diag_embed(_as_dtype(gs, dt)))
    out = _mm(_mm(_conj(u), ct_ds), _matrix_T(v))
    s_inv_row = _as_dtype(_rows(s_inv), dt)
    if m > n:
        t = _mm(lax.mul(gu, s_inv_row), _matrix_T(v))
        out = lax.add(out, lax.sub(t, _mm(_conj(u), _mm(_matrix_T(u), t))))
    if n > m:
        t = _mm(lax.mul(gv, s_inv_row), _matrix_T(u))
        t = lax.sub(t, _mm(_conj(v), _mm(_matrix_T(v), t)))
        out = lax.add(out, _matrix_H(t))
    return out


# ---------------------------------------------------------------------------
# Forward mode (``jvp_rules``) of scatters and windowed reductions. These compute, from
# primal values only, which elements a tangent takes and with which weights, following
# the adjoint helpers above (same ties, duplicates, padding): the templates then apply
# primitives to the tangent, which vmap batches by their rules (jacfwd, hessian).


def scatter_winners(operand, indices, updates, dimension_numbers, mode=None):
    """``(kept, won)`` masks: the operand elements a ``scatter`` keeps, and the update
    elements it writes (of repeated indices, the one the scatter kept)."""
    return _scatter_winners(operand, indices, updates, dimension_numbers, mode)


def scatter_extremal_coefficients(ans, operand, indices, updates, dimension_numbers, mode=None):
    """``(operand_coef, updates_coef)`` of ``scatter_min``/``scatter_max``: the share of each
    contender in its result (ties share evenly, as JAX)."""
    return _scatter_extremal_coefficients(ans, operand, indices, updates, dimension_numbers, mode)


def _point_gather(ndim):
    """Gather dimension numbers and slice sizes reading single elements at full indices."""
    dims = tuple(range(ndim))
    dn = lax.GatherDimensionNumbers(offset_dims=(), collapsed_slice_dims=dims, start_index_map=dims)
    return dn, (1,) * ndim


def _window_positions(xs, slices, config):
    """Per window offset, the index in ``x`` (shape ``xs``) of that element of every window,
    last axis the coordinates; -1 where it falls on padding or a base-dilation hole."""
    ndim = len(xs)
    coords = [lax.broadcasted_iota(dtype=dtypes.int32, shape=xs + (1,), dimension=i)
              for i in range(ndim)]
    grid = lax.concatenate(coords, dimension=ndim) if ndim > 1 else coords[0]
    padded = lax.pad(grid, lax.convert_element_type(-1, new_dtype=dtypes.int32),
                     padding_config=list(config) + [(0, 0, 0)])
    return [lax.slice(padded, start_indices=start + (0,), limit_indices=limit + (ndim,),
                      strides=strides + (1,)) for start, limit, strides in slices]


def window_choice(x, ans, kind, window_dimensions, window_strides=None, padding="VALID",
                  base_dilation=None, window_dilation=None):
    """``(indices, dimension_numbers, slice_sizes)`` for a fill-mode ``gather`` from an array
    shaped like ``x`` of the element each window of ``reduce_window_max``/``_min`` (``kind``)
    chose: the first (row-major) equal to the window's result, the element
    ``reduce_window_chooser_grad`` gives the window's adjoint; -1 (read as 0) where none."""
    xs = shape_of(x)
    out_shape = shape_of(ans)
    dn, sizes = _point_gather(len(xs))
    where = full(out_shape + (len(xs),), -1, dtypes.int32)
    if 0 in out_shape:
        return where, dn, sizes
    config, slices = _window_slices(xs, out_shape, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)
    base = lax.pad(x, _extremum_identity(kind, dtype_of(x)), padding_config=config)
    taken = zeros(out_shape, dtypes.bool_)
    lead = tuple(range(len(out_shape)))
    for (start, limit, strides), pos in zip(slices, _window_positions(xs, slices, config)):
        window = lax.slice(base, start_indices=start, limit_indices=limit, strides=strides)
        hit = lax.bitwise_and(lax.eq(window, ans), lax.bitwise_not(taken))
        taken = lax.bitwise_or(taken, hit)
        where = lax.select_n(lax.broadcast_in_dim(hit, shape=shape_of(where), broadcast_dimensions=lead),
                             where, pos)
    return where, dn, sizes


def reduce_window_tangent_coefficients(x, init_value, ans, computation, window_dimensions,
                                       window_strides=None, padding="VALID", base_dilation=None,
                                       window_dilation=None):
    """``(indices, dimension_numbers, slice_sizes, coefficients, init_coefficient)`` of the
    generic ``reduce_window``'s tangent: ``sum_k coefficients[k] * t[indices[k]]`` over the
    window offsets ``k`` (a fill-mode gather of the operand's tangent ``t``), plus
    ``init_coefficient * t_init``. Max/min windows take the tangent of the element
    ``reduce_window_operand_grad`` gives the adjoint (or init's, where no element is the
    result); products use the others' product (exact where elements are zero)."""
    kind = _computation_kind(computation)
    xs = shape_of(x)
    out_shape = shape_of(ans)
    dt = dtype_of(ans)
    dn, sizes = _point_gather(len(xs))
    if 0 in out_shape:
        return (full((1,) + out_shape + (len(xs),), -1, dtypes.int32), dn, sizes,
                zeros((1,) + out_shape, dt), zeros(out_shape, dt))
    config, slices = _window_slices(xs, out_shape, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)
    fill = {"add": 0, "mul": 1}[kind] if kind in ("add", "mul") else \
        _extremum_identity(kind, dtype_of(x))
    base = lax.pad(x, fill, padding_config=config)
    windows = [lax.slice(base, start_indices=start, limit_indices=limit, strides=strides)
               for start, limit, strides in slices]
    one = ones_like(ans)
    if kind == "add":
        coefs, init_coef = [one] * len(windows), one
    elif kind in ("max", "min"):
        coefs, taken = [], zeros(out_shape, dtypes.bool_)
        for w in windows:
            hit = lax.bitwise_and(lax.eq(w, ans), lax.bitwise_not(taken))
            taken = lax.bitwise_or(taken, hit)
            coefs.append(lax.convert_element_type(hit, new_dtype=dt))
        init_coef = lax.convert_element_type(lax.bitwise_not(taken), new_dtype=dt)
    else:
        coefs, init_coef = _product_coefficients(windows, init_value), _product(windows)
    stack = lambda parts: lax.concatenate([lax.expand_dims(p, dimensions=(0,)) for p in parts],  # noqa: E731
                                          dimension=0)
    return (stack(_window_positions(xs, slices, config)), dn, sizes, stack(coefs), init_coef)


def _product(windows):
    acc = windows[0]
    for w in windows[1:]:
        acc = lax.mul(acc, w)
    return acc


def _product_coefficients(windows, init_value):
    """``init * prod_{j != k} windows[j]`` for each ``k``, by prefix and suffix products."""
    prefix = [ones_like(windows[0])]
    for w in windows[:-1]:
        prefix.append(lax.mul(prefix[-1], w))
    out = [None] * len(windows)
    suffix = lax.mul(ones_like(windows[0]), init_value)
    for k in range(len(windows) - 1, -1, -1):
        out[k] = lax.mul(prefix[k], suffix)
        suffix = lax.mul(suffix, windows[k])
    return out


# ---------------------------------------------------------------------------
# Second order: pieces the adjoint helpers' own jvp and vjp templates
# (``s2s.lax.helper_rules``) use beyond the helpers above.


def scatter_mul_updates_tangent(t, ans, operand, indices, updates, dimension_numbers, mode=None,
                                unique_indices=False):
    """The tangent of ``scatter_mul``'s result from its updates' tangent ``t``, by the rule
    of ``scatter_mul_updates_grad``: with ``unique_indices`` ``t`` scattered times
    ``operand`` (exact where updates are zero), otherwise ``ans`` times the relative
    tangents ``t / updates``. ``unique_indices`` may be known only when the code runs."""
    if unique_indices:
        return lax.mul(operand, scatter_add_like(t, operand, indices, updates, dimension_numbers,
                                                 mode))
    return lax.mul(ans, scatter_add_like(lax.div(t, updates), ans, indices, updates,
                                         dimension_numbers, mode))


def reduce_window_coefficient_tangents(x, dx, init_value, dinit, ans, computation,
                                       window_dimensions, window_strides=None, padding="VALID",
                                       base_dilation=None, window_dilation=None):
    """``(dcoefficients, dinit_coefficient)``: the tangents, along ``(dx, dinit)``, of the
    ``coefficients`` and ``init_coefficient`` of ``reduce_window_tangent_coefficients``
    (the second derivatives of the generic ``reduce_window``). Zero but for products, whose
    coefficients ``init * prod_{j != k} w_j`` come from prefix and suffix products of
    (value, tangent) pairs: exact where window elements are zero."""
    return _coefficient_tangents(x, dx, init_value, dinit, ans, computation, window_dimensions,
                                 window_strides, padding, base_dilation, window_dilation, 0)


def _coefficient_tangents(x, dx, init_value, dinit, ans, computation, window_dimensions,
                          window_strides, padding, base_dilation, window_dilation, lead):
    """``reduce_window_coefficient_tangents`` with ``lead`` batch axes leading ``dx`` and
    ``dinit`` (its batch rule): the window arithmetic broadcasts over them."""
    xs, out_shape = shape_of(x), shape_of(ans)
    batch = shape_of(dx)[:lead]
    dt = dtypes.result_type(ans, dx)
    config, slices = _window_slices(xs, out_shape, window_dimensions, window_strides, padding,
                                    base_dilation, window_dilation)
    if _computation_kind(computation) != "mul" or 0 in out_shape:  # shaped as the coefficients
        k = 1 if 0 in out_shape else len(slices)
        return zeros(batch + (k,) + out_shape, dt), zeros(batch + out_shape, dt)
    base = lax.pad(x, 1, padding_config=config)
    tbase = lax.pad(dx, 0, padding_config=[(0, 0, 0)] * lead + list(config))
    windows, tangents = [], []
    for start, limit, strides in slices:
        windows.append(lax.slice(base, start_indices=start, limit_indices=limit, strides=strides))
        tangents.append(lax.slice(tbase, start_indices=(0,) * lead + start,
                                  limit_indices=batch + limit, strides=(1,) * lead + strides))
    prefix = _dual_products(windows, tangents)
    suffix = _dual_products(windows[::-1], tangents[::-1])[::-1]
    dinit = lax.reshape(lax.convert_element_type(dinit, new_dtype=dt),
                        new_sizes=batch + (1,) * len(out_shape))
    parts = []
    for k in range(len(windows)):
        (p, dp), (s, ds) = prefix[k], suffix[k + 1]
        others = lax.mul(p, s)
        d_others = lax.add(lax.mul(dp, s), lax.mul(p, ds))
        parts.append(lax.add(lax.mul(dinit, others), lax.mul(init_value, d_others)))
    dcoefs = lax.concatenate([lax.expand_dims(part, dimensions=(lead,)) for part in parts],
                             dimension=lead)
    return dcoefs, prefix[-1][1]


def _dual_products(windows, tangents):
    """``[(prod(w[:k]), d prod(w[:k]))]`` for ``k = 0..K`` by the product rule (no division)."""
    value = ones_like(windows[0])
    tangent = zeros_like(tangents[0])
    out = [(value, tangent)]
    for w, t in zip(windows, tangents):
        value, tangent = lax.mul(value, w), lax.add(lax.mul(tangent, w), lax.mul(value, t))
        out.append((value, tangent))
    return out
