"""Calculus, statistics and signal functions: diff, gradient, trapezoid, interp, cov,
corrcoef, polyval, vander, convolve, correlate, digitize, bincount and the NaN-ignoring
arg-reductions, cumulative reductions and order statistics.

They are composites of ``s2s.numpy`` functions and ``s2s.lax`` primitives: eagerly they
run on NumPy arrays, under ``jit`` they stage, and ``grad`` differentiates the
float-valued ones by reading this source (shapes, axes and dtypes are worked out by
small helpers with a zero derivative; the array code branches only on static values).
Dtypes follow the rest of ``s2s.numpy``: integer input to a float-valued function gives
the default float (float32, or float64 with ``enable_x64``), as in ``jax.numpy``.

>>> import s2s.numpy as np
>>> np.diff(np.array([1.0, 4.0, 9.0]))
array([3., 5.], dtype=float32)
"""
import math
import operator

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import ConcretizationError, ShapeError
from s2s.core.primitive import Tracer, abstractify, def_zero_derivative
from s2s.lax.shapes import canonicalize_axes, canonicalize_axis

import s2s.numpy as np

__all__ = [
    "diff", "ediff1d", "gradient", "trapezoid", "interp", "cov", "corrcoef", "polyval",
    "vander", "convolve", "correlate", "digitize", "bincount", "nanargmax", "nanargmin",
    "nancumsum", "nancumprod", "nanmedian", "nanquantile", "nanpercentile",
]

# ---------------------------------------------------------------------------
# Static helpers (shapes, axes, dtypes, checks): zero derivative, never transformed.


def _int(name, what, value):
    """``value`` as a Python int (a clear error for staged or non-integer values)."""
    if isinstance(value, Tracer):
        raise ConcretizationError(f"{name}: {what} must be a static integer, not a staged "
                                  "value; pass a Python int (or mark it static in jit)")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: {what} must be an integer, got {value!r}") from None


def _axis(name, axis, nd):
    """One non-negative axis of an ``nd``-d array."""
    if isinstance(axis, (tuple, list)):
        raise TypeError(f"{name}: axis must be an integer, got {axis!r}")
    return canonicalize_axis(name, _int(name, "axis", axis), nd)


def _axes(name, axis, nd):
    """``axis`` (None, an int or a tuple) as a tuple of distinct non-negative axes."""
    if axis is None:
        return tuple(range(nd))
    if isinstance(axis, (tuple, list)):
        return canonicalize_axes(name, tuple(_int(name, "axis", a) for a in axis), nd)
    return (canonicalize_axis(name, _int(name, "axis", axis), nd),)


def _shape(x):
    return tuple(abstractify(x).shape)


def _ndim(x):
    return len(abstractify(x).shape)


def _dtype(x):
    return abstractify(x).dtype


def _result_dtype(*xs):
    return dtypes.result_type(*[x for x in xs if x is not None])


def _inexact_dtype(*xs):
    """The common dtype of ``xs`` as a float or complex dtype (ints -> default float)."""
    return dtypes.to_inexact_dtype(_result_dtype(*xs))


def _is_inexact(x):
    return dtypes.is_inexact(abstractify(x).dtype)


def _is_complex(x):
    return dtypes.is_complex(abstractify(x).dtype)


def _is_bool(x):
    return abstractify(x).dtype == dtypes.bool_


def _staged(*xs):
    return any(isinstance(x, Tracer) for x in xs)


def _slc(nd, ax, start, stop):
    """The index ``[:, ..., start:stop, ...]`` with the slice on axis ``ax``."""
    idx = [slice(None)] * nd
    idx[ax] = slice(start, stop)
    return tuple(idx)


def _no_out(name, out):
    if out is not None:
        raise NotImplementedError(f"{name}: the out= argument is not supported (s2s arrays are "
                                  "values); use the returned array instead")


def _edge_shape(shape, ax):
    return tuple(1 if i == ax else d for i, d in enumerate(shape))


def _prod(shape):
    return math.prod(shape)


def _check_cast(name, what, x, dt):
    """NumPy's ``same_kind`` check of ``ediff1d``'s ``to_begin``/``to_end``."""
    if x is None:
        return
    src = onp.asarray(x).dtype if dtypes.is_python_scalar(x) or isinstance(x, (list, tuple)) \
        else onp.dtype(_dtype(x))
    if not onp.can_cast(src, dt, casting="same_kind"):
        raise TypeError(f"{name}: dtype of `{what}` ({src}) must be compatible with input `ary` "
                        f"({onp.dtype(dt)}) under the `same_kind` rule")


def _nonneg_weights(name, what, w):
    """Eager value checks of ``cov``'s weights (skipped for staged values)."""
    if isinstance(w, Tracer):
        return
    if onp.any(onp.asarray(w) < 0):
        raise ValueError(f"{name}: {what} cannot be negative")


def _bucket(sorted_1d, x, side):
    """``searchsorted`` with a zero derivative (the index of the bucket of each ``x``)."""
    return np.searchsorted(sorted_1d, x, side=side)


def _row_offsets(rows, n):
    return onp.arange(rows, dtype=onp.int64 if dtypes.default_int_dtype().itemsize == 8
                      else onp.int32) * n


def_zero_derivative(_int, _axis, _axes, _shape, _ndim, _dtype, _result_dtype, _inexact_dtype,
                    _is_inexact, _is_complex, _is_bool, _staged, _slc, _no_out,
                    _edge_shape, _prod, _check_cast, _nonneg_weights, _bucket, _row_offsets)

# ---------------------------------------------------------------------------
# diff, ediff1d


def _diff_edge(name, value, a, ax):
    """``prepend``/``append`` as an array of ``a``'s rank (a scalar is broadcast)."""
    v = np.asarray(value)
    dt = _result_dtype(a, value)
    v = np.astype(v, dt)
    if _ndim(v) == 0:
        return np.broadcast_to(v, _edge_shape(_shape(a), ax))
    if _ndim(v) != _ndim(a):
        raise ShapeError(f"{name}: prepend/append of shape {_shape(v)} does not fit an array "
                         f"of shape {_shape(a)} (give a scalar or an array of the same rank)")
    return v


def _join(before, a, after, ax):
    """``a`` with the optional ``before``/``after`` arrays joined along ``ax``."""
    if before is None and after is None:
        return a
    if before is None:
        return np.concatenate([a, after], axis=ax)
    if after is None:
        return np.concatenate([before, a], axis=ax)
    return np.concatenate([before, a, after], axis=ax)


def _diff_bool(a, n, nd, ax):
    for _ in range(n):
        length = _shape(a)[ax]
        a = np.not_equal(a[_slc(nd, ax, 1, length)], a[_slc(nd, ax, 0, max(length - 1, 0))])
    return a


def _diff_n(a, n, nd, ax):
    """The ``n``-th difference along ``ax`` (booleans: ``!=``)."""
    if _is_bool(a):
        return _diff_bool(a, n, nd, ax)
    for _ in range(n):
        length = _shape(a)[ax]
        a = a[_slc(nd, ax, 1, length)] - a[_slc(nd, ax, 0, max(length - 1, 0))]
    return a


def diff(a, n=1, axis=-1, prepend=None, append=None):
    """The ``n``-th discrete difference along ``axis`` (``a[1:] - a[:-1]``, repeated).

    ``prepend``/``append`` values (scalars or arrays) are joined to ``a`` first. Booleans
    difference with ``!=``.

    >>> import s2s.numpy as np
    >>> np.diff(np.array([1.0, 2.0, 4.0, 7.0]), n=2)
    array([1., 1.], dtype=float32)
    >>> np.diff(np.array([[1, 3], [4, 9]]), axis=0, prepend=0)
    array([[1, 3],
           [3, 6]], dtype=int32)
    """
    n = _int("diff", "n", n)
    if n < 0:
        raise ValueError(f"diff: order must be non-negative but got {n}")
    arr = np.asarray(a)
    nd = _ndim(arr)
    if nd == 0:
        raise ShapeError("diff: requires input that is at least one dimensional")
    ax = _axis("diff", axis, nd)
    if n == 0:
        return arr
    before = None if prepend is None else _diff_edge("diff", prepend, arr, ax)
    after = None if append is None else _diff_edge("diff", append, arr, ax)
    return _diff_n(_join(before, arr, after, ax), n, nd, ax)


def ediff1d(ary, to_end=None, to_begin=None):
    """Differences between consecutive elements of the flattened ``ary``, with optional
    values before (``to_begin``) and after (``to_end``); the result has ``ary``'s dtype.

    >>> import s2s.numpy as np
    >>> np.ediff1d(np.array([1, 2, 4, 7]), to_begin=-99, to_end=np.array([88, 99]))
    array([-99,   1,   2,   3,  88,  99], dtype=int32)
    """
    flat = np.ravel(np.asarray(ary))
    dt = _dtype(flat)
    _check_cast("ediff1d", "to_begin", to_begin, dt)
    _check_cast("ediff1d", "to_end", to_end, dt)
    before = None if to_begin is None else np.astype(np.ravel(np.asarray(to_begin)), dt)
    after = None if to_end is None else np.astype(np.ravel(np.asarray(to_end)), dt)
    return _join(before, _diff_n(flat, 1, 1, 0), after, 0)

# ---------------------------------------------------------------------------
# gradient, trapezoid


def _gradient_spacings(name, varargs, shape, axes):
    """Per axis: ``(kind, i)``: kind ``"h"`` (a scalar step, ``varargs[i]``, or 1 when ``i``
    is None) or ``"x"`` (the 1-d coordinates ``varargs[i]``)."""
    n = len(varargs)
    if n == 0:
        return [("h", None)] * len(axes)
    if n == 1 and _ndim(varargs[0]) == 0:
        return [("h", 0)] * len(axes)
    if n != len(axes):
        raise TypeError(f"{name}: invalid number of spacing arguments ({n}); give none, one "
                        f"scalar, or one per axis ({len(axes)})")
    out = []
    for i, (v, ax) in enumerate(zip(varargs, axes)):
        nd = _ndim(v)
        if nd == 0:
            out.append(("h", i))
        elif nd == 1:
            if _shape(v)[0] != shape[ax]:
                raise ShapeError(f"{name}: when 1d, distances must match the length of the "
                                 f"corresponding dimension (axis {ax} has {shape[ax]}, the "
                                 f"coordinates {_shape(v)[0]})")
            out.append(("x", i))
        else:
            raise ShapeError(f"{name}: distances must be either scalars or 1d, got shape "
                             f"{_shape(v)}")
    return out


def_zero_derivative(_gradient_spacings)


def _gradient_uniform(g, h, edge_order):
    """Derivative along the last axis of ``g`` for the uniform step ``h``."""
    inner = (g[..., 2:] - g[..., :-2]) / (2.0 * h)
    if edge_order == 1:
        first = (g[..., 1:2] - g[..., 0:1]) / h
        last = (g[..., -1:] - g[..., -2:-1]) / h
    else:
        first = (-1.5 * g[..., 0:1] + 2.0 * g[..., 1:2] - 0.5 * g[..., 2:3]) / h
        last = (0.5 * g[..., -3:-2] - 2.0 * g[..., -2:-1] + 1.5 * g[..., -1:]) / h
    return np.concatenate([first, inner, last], axis=-1)


def _gradient_coords(g, x, edge_order):
    """Derivative along the last axis of ``g`` sampled at the 1-d coordinates ``x``
    (second-order accurate inside, from the quadratic through three neighbours)."""
    dx = x[1:] - x[:-1]
    hs = dx[:-1]
    hd = dx[1:]
    inner = (hs * hs * g[..., 2:] + (hd * hd - hs * hs) * g[..., 1:-1]
             - hd * hd * g[..., :-2]) / (hs * hd * (hd + hs))
    if edge_order == 1:
        first = (g[..., 1:2] - g[..., 0:1]) / dx[0:1]
        last = (g[..., -1:] - g[..., -2:-1]) / dx[-1:]
    else:
        h1 = dx[0:1]
        h2 = dx[1:2]
        first = (-(2.0 * h1 + h2) / (h1 * (h1 + h2)) * g[..., 0:1]
                 + (h1 + h2) / (h1 * h2) * g[..., 1:2]
                 - h1 / (h2 * (h1 + h2)) * g[..., 2:3])
        k1 = dx[-2:-1]
        k2 = dx[-1:]
        last = (k2 / (k1 * (k1 + k2)) * g[..., -3:-2]
                - (k1 + k2) / (k1 * k2) * g[..., -2:-1]
                + (2.0 * k2 + k1) / (k2 * (k1 + k2)) * g[..., -1:])
    return np.concatenate([first, inner, last], axis=-1)


def gradient(f, *varargs, axis=None, edge_order=None):
    """The gradient of ``f`` by central differences inside and one-sided differences at
    the edges (first order, or second with ``edge_order=2``).

    ``varargs``: nothing (unit spacing), one scalar spacing for every axis, or one value
    per axis: a scalar spacing or the 1-d coordinates along that axis. Several axes give
    a list of arrays (one per axis), as ``jax.numpy``; one axis gives an array.

    >>> import s2s.numpy as np
    >>> np.gradient(np.array([1.0, 2.0, 4.0, 7.0, 11.0]))
    array([1. , 1.5, 2.5, 3.5, 4. ], dtype=float32)
    >>> np.gradient(np.array([0.0, 1.0, 9.0]), np.array([0.0, 1.0, 3.0]))
    array([1., 2., 4.], dtype=float32)
    """
    edge = 1 if edge_order is None else _int("gradient", "edge_order", edge_order)
    if edge not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge}")
    arr = np.asarray(f)
    shape = _shape(arr)
    nd = len(shape)
    axes = _axes("gradient", axis, nd)
    spacings = _gradient_spacings("gradient", varargs, shape, axes)
    dt = _inexact_dtype(arr)
    arr = np.astype(arr, dt)
    outs = []
    for k in range(len(axes)):
        ax = axes[k]
        if shape[ax] < edge + 1:
            raise ValueError("gradient: shape of array too small to calculate a numerical "
                             f"gradient, at least (edge_order + 1) = {edge + 1} elements are "
                             f"required along axis {ax} (shape {shape})")
        g = np.moveaxis(arr, ax, -1)
        kind, i = spacings[k]
        if i is None:
            d = _gradient_uniform(g, 1.0, edge)
        elif kind == "h":
            d = _gradient_uniform(g, varargs[i], edge)
        else:
            d = _gradient_coords(g, np.astype(np.asarray(varargs[i]), dt), edge)
        outs.append(np.astype(np.moveaxis(d, -1, ax), dt))
    if len(axes) == 1:
        return outs[0]
    return outs


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """Integral of ``y`` along ``axis`` by the trapezoidal rule, at sample points ``x``
    (1-d, or shaped like ``y``) or with the uniform spacing ``dx``.

    >>> import s2s.numpy as np
    >>> np.trapezoid(np.array([1.0, 2.0, 3.0]))
    array(4., dtype=float32)
    >>> np.trapezoid(np.array([1.0, 2.0, 3.0]), x=np.array([0.0, 1.0, 3.0]))
    array(6.5, dtype=float32)
    """
    arr = np.asarray(y)
    nd = _ndim(arr)
    if nd == 0:
        raise ShapeError("trapezoid: y must be at least 1-dimensional")
    ax = _axis("trapezoid", axis, nd)
    dt = _inexact_dtype(arr) if x is None else _inexact_dtype(arr, x)
    g = np.moveaxis(np.astype(arr, dt), ax, -1)
    n = _shape(g)[-1]
    mid = (g[..., 1:] + g[..., :-1]) * 0.5
    if x is None:
        return np.sum(mid * dx, axis=-1)
    xa = np.astype(np.asarray(x), dt)
    if _ndim(xa) == 1:
        if _shape(xa)[0] != n:
            raise ShapeError(f"trapezoid: x has {_shape(xa)[0]} points but y has {n} along "
                             f"axis {ax}")
        return np.sum(mid * (xa[1:] - xa[:-1]), axis=-1)
    if _ndim(xa) != nd:
        raise ShapeError(f"trapezoid: x must be 1-d or have y's shape {_shape(arr)}, got "
                         f"shape {_shape(xa)}")
    xg = np.moveaxis(xa, ax, -1)
    return np.sum(mid * (xg[..., 1:] - xg[..., :-1]), axis=-1)

# ---------------------------------------------------------------------------
# interp


def _interp_check(xp, fp, period):
    if _ndim(xp) != 1 or _ndim(fp) != 1:
        raise ShapeError(f"interp: xp and fp must be 1-d sequences, got shapes {_shape(xp)} "
                         f"and {_shape(fp)}")
    if _shape(xp)[0] != _shape(fp)[0]:
        raise ValueError(f"interp: fp and xp are not of the same length ({_shape(fp)[0]} and "
                         f"{_shape(xp)[0]})")
    if _shape(xp)[0] == 0:
        raise ValueError("interp: array of sample points is empty")
    if period is not None and not isinstance(period, Tracer) and onp.all(onp.asarray(period) == 0):
        raise ValueError("interp: period must be a non-zero value")


def _interp_side(name, value):
    if isinstance(value, str):
        if value != "extrapolate":
            raise ValueError(f"interp: {name} must be a value, None or 'extrapolate', got "
                             f"{value!r}")
        return "extrapolate"
    return "default" if value is None else "value"


def_zero_derivative(_interp_check, _interp_side)


def _interp_prepare(x, xp, fp, period):
    """``x``, ``xp``, ``fp`` ready for the search: with a ``period``, reduced to one period
    with ``xp`` sorted and extended by one point on each side; a single point doubled."""
    if period is None:
        if _shape(xp)[0] == 1:
            return x, np.concatenate([xp, xp]), np.concatenate([fp, fp])
        return x, xp, fp
    p = np.abs(np.astype(np.asarray(period), _dtype(xp)))
    xm = np.remainder(x, p)
    xpm = np.remainder(xp, p)
    order = np.argsort(xpm)
    xs = np.take(xpm, order)
    fs = np.take(fp, order)
    xs2 = np.concatenate([xs[-1:] - p, xs, xs[:1] + p])
    fs2 = np.concatenate([fs[-1:], fs, fs[:1]])
    return xm, xs2, fs2


def interp(x, xp, fp, left=None, right=None, period=None):
    """Piecewise-linear interpolation of the points ``(xp, fp)`` (``xp`` increasing) at ``x``.

    Below ``xp[0]`` the result is ``left`` (default ``fp[0]``), above ``xp[-1]`` it is
    ``right`` (default ``fp[-1]``); ``'extrapolate'`` extends the end segments instead (as
    ``jax.numpy``). With ``period``, ``xp`` may be in any order and the data wraps.

    >>> import s2s.numpy as np
    >>> np.interp(np.array([0.0, 1.5, 2.5, 5.0]), np.array([1.0, 2.0, 3.0]),
    ...           np.array([10.0, 20.0, 40.0]))
    array([10., 15., 30., 40.], dtype=float32)
    """
    xa = np.asarray(x)
    xpa = np.asarray(xp)
    fpa = np.asarray(fp)
    _interp_check(xpa, fpa, period)
    dt = _inexact_dtype(xa, xpa, fpa)
    rdt = dtypes.real_dtype(dt)
    fpa = np.astype(fpa, dt)
    xpa = np.astype(xpa, rdt)
    xa = np.astype(xa, rdt)
    left_kind = "extrapolate" if period is not None else _interp_side("left", left)
    right_kind = "extrapolate" if period is not None else _interp_side("right", right)
    xs, xps, fps = _interp_prepare(xa, xpa, fpa, period)
    n = _shape(xps)[0]
    i = np.clip(_bucket(xps, xs, "right"), 1, n - 1)
    x0 = np.take(xps, i - 1)
    x1 = np.take(xps, i)
    f0 = np.take(fps, i - 1)
    f1 = np.take(fps, i)
    step = x1 - x0
    flat = step == 0
    slope = (f1 - f0) / np.where(flat, 1, step)
    mid = np.where(flat, f0, f0 + (xs - x0) * slope)
    first = xps[0]
    last = xps[-1]
    at_end = np.where(xs == last, fps[-1], mid)
    if left_kind == "extrapolate":
        lo = at_end
    elif left_kind == "default":
        lo = np.where(xs < first, fps[0], at_end)
    else:
        lo = np.where(xs < first, np.astype(np.asarray(left), dt), at_end)
    if right_kind == "extrapolate":
        out = lo
    elif right_kind == "default":
        out = np.where(xs > last, fps[-1], lo)
    else:
        out = np.where(xs > last, np.astype(np.asarray(right), dt), lo)
    return np.astype(out, dt)

# ---------------------------------------------------------------------------
# cov, corrcoef


def _cov_rows(name, m, rowvar):
    """(shape to reshape ``m`` to, permutation) giving one variable per row."""
    s = _shape(m)
    if len(s) > 2:
        raise ShapeError(f"{name}: m has more than 2 dimensions (shape {s})")
    s2 = s if len(s) == 2 else (1,) + s if len(s) == 1 else (1, 1)
    perm = (1, 0) if (not rowvar and s2[0] != 1) else (0, 1)
    return s2, perm


def _cov_check_weights(name, what, w, nobs, integer):
    if w is None:
        return
    if isinstance(w, (list, tuple)) or dtypes.is_python_scalar(w):
        w = onp.asarray(w)
    s = _shape(w)
    if len(s) > 1:
        raise ShapeError(f"{name}: cannot handle multidimensional {what} (shape {s})")
    if len(s) == 0 or s[0] != nobs:
        raise ShapeError(f"{name}: incompatible numbers of samples ({nobs}) and {what} "
                         f"(shape {s})")
    if integer and not dtypes.is_integer(_dtype(w)) and _dtype(w) != dtypes.bool_:
        raise TypeError(f"{name}: fweights must be integer")
    _nonneg_weights(name, what, w)


def_zero_derivative(_cov_rows, _cov_check_weights)


def _as_rows(name, m, rowvar, dt):
    shape2, perm = _cov_rows(name, m, rowvar)
    return np.transpose(np.reshape(np.astype(np.asarray(m), dt), shape2), perm)


def cov(m, y=None, rowvar=True, bias=False, ddof=None, fweights=None, aweights=None,
        dtype=None):
    """Covariance matrix of the variables in ``m`` (rows, or columns with
    ``rowvar=False``), optionally with the variables of ``y`` appended.

    Divides by ``N - ddof`` (``ddof`` defaults to 1, or 0 with ``bias=True``);
    ``fweights`` (integer repeat counts) and ``aweights`` (observation weights) as NumPy.
    One variable gives a 0-d result.

    >>> import s2s.numpy as np
    >>> np.cov(np.array([[0.0, 1.0, 2.0], [2.0, 1.0, 0.0]]))
    array([[ 1., -1.],
           [-1.,  1.]], dtype=float32)
    """
    if ddof is not None:
        ddof = _int("cov", "ddof", ddof)
    ma = np.asarray(m)
    ya = None if y is None else np.asarray(y)
    dt = _inexact_dtype(ma, ya) if dtype is None else dtypes.canonicalize_dtype(dtype)
    rows = _as_rows("cov", ma, rowvar, dt)
    if ya is None:
        X = rows
    else:
        yrows = _as_rows("cov", ya, rowvar, dt)
        if _shape(yrows)[1] != _shape(rows)[1]:
            raise ShapeError(f"cov: m and y have different numbers of observations "
                             f"({_shape(rows)[1]} and {_shape(yrows)[1]})")
        X = np.concatenate([rows, yrows], axis=0)
    nvar, nobs = _shape(X)
    if nvar == 0:
        return np.zeros((0, 0), dt)
    dd = (0 if bias else 1) if ddof is None else ddof
    if fweights is None and aweights is None:
        avg = np.mean(X, axis=1, keepdims=True)
        fact = max(nobs - dd, 0)
        Xc = X - avg
        c = np.matmul(Xc, np.conj(np.transpose(Xc)) if _is_complex(Xc) else np.transpose(Xc))
        return np.squeeze(c / fact)
    _cov_check_weights("cov", "fweights", fweights, nobs, True)
    _cov_check_weights("cov", "aweights", aweights, nobs, False)
    if fweights is not None:
        fw = np.astype(np.asarray(fweights), dtypes.real_dtype(dt))
    if aweights is not None:
        aw = np.astype(np.asarray(aweights), dtypes.real_dtype(dt))
    if fweights is None:
        w = aw
    elif aweights is None:
        w = fw
    else:
        w = fw * aw
    w_sum = np.sum(w)
    avg = np.sum(X * w, axis=1, keepdims=True) / w_sum
    if dd == 0:
        fact = w_sum
    elif aweights is None:
        fact = w_sum - dd
    else:
        fact = w_sum - dd * np.sum(w * aw) / w_sum
    fact = np.maximum(fact, 0)
    Xc = X - avg
    Xw = np.transpose(Xc * w)
    c = np.matmul(Xc, np.conj(Xw) if _is_complex(Xc) else Xw)
    return np.squeeze(c / fact)


def corrcoef(x, y=None, rowvar=True, dtype=None):
    """Pearson correlation coefficients: ``cov`` normalized by the standard deviations
    (real parts clipped to [-1, 1]).

    >>> import s2s.numpy as np
    >>> np.corrcoef(np.array([[1.0, 2.0, 3.0], [3.0, 1.0, 2.0]]))
    array([[ 1. , -0.5],
           [-0.5,  1. ]], dtype=float32)
    """
    c = cov(x, y, rowvar, dtype=dtype)
    if _ndim(c) == 0:
        return c / c
    d = np.real(np.diagonal(c)) if _is_complex(c) else np.diagonal(c)
    s = np.sqrt(d)
    r = c / s[:, None] / s[None, :]
    if _is_complex(r):
        return np.clip(np.real(r), -1, 1) + 1j * np.imag(r)
    return np.clip(r, -1, 1)

# ---------------------------------------------------------------------------
# polyval, vander


def polyval(p, x, *, unroll=16):
    """The polynomial with coefficients ``p`` (highest degree first) at ``x`` (Horner's
    rule). ``unroll`` is accepted for ``jax.numpy`` compatibility and ignored.

    >>> import s2s.numpy as np
    >>> np.polyval(np.array([3.0, 0.0, 1.0]), np.array([1.0, 2.0]))
    array([ 4., 13.], dtype=float32)
    """
    pa = np.asarray(p)
    xa = np.asarray(x)
    if _ndim(pa) != 1:
        raise ShapeError(f"polyval: p must be a 1-d array of coefficients, got shape "
                         f"{_shape(pa)}")
    dt = _result_dtype(pa, xa)
    y = np.zeros(_shape(xa), dt)
    for i in range(_shape(pa)[0]):
        y = y * xa + pa[i]
    return np.astype(y, dt)


def _vander_dtype(x):
    dt = _dtype(x)
    return dtypes.default_int_dtype() if dt == dtypes.bool_ else dt


def_zero_derivative(_vander_dtype)


def vander(x, N=None, increasing=False):
    """The Vandermonde matrix of the 1-d ``x``: columns ``x**(N-1), ..., x, 1`` (or
    increasing powers); ``N`` defaults to ``len(x)``.

    >>> import s2s.numpy as np
    >>> np.vander(np.array([1, 2, 3]), 3)
    array([[1, 1, 1],
           [4, 2, 1],
           [9, 3, 1]], dtype=int32)
    """
    xa = np.asarray(x)
    if _ndim(xa) != 1:
        raise ShapeError(f"vander: x must be a one-dimensional array or sequence, got shape "
                         f"{_shape(xa)}")
    cols = _shape(xa)[0] if N is None else _int("vander", "N", N)
    if cols < 0:
        raise ValueError(f"vander: N must be nonnegative, got {cols}")
    dt = _vander_dtype(xa)
    xa = np.astype(xa, dt)
    if cols == 0:
        return np.zeros((_shape(xa)[0], 0), dt)
    powers = [np.ones(_shape(xa), dt)]
    for _ in range(cols - 1):
        powers.append(powers[-1] * xa)
    order = list(range(cols)) if increasing else list(range(cols - 1, -1, -1))
    return np.stack([powers[k] for k in order], axis=1)

# ---------------------------------------------------------------------------
# convolve, correlate


def _conv_check(name, a, v, mode):
    if _ndim(a) != 1 or _ndim(v) != 1:
        raise ShapeError(f"{name}: a and v must be 1-dimensional, got shapes {_shape(a)} and "
                         f"{_shape(v)}")
    if _shape(a)[0] == 0:
        raise ValueError(f"{name}: a cannot be empty")
    if _shape(v)[0] == 0:
        raise ValueError(f"{name}: v cannot be empty")
    if mode not in ("full", "same", "valid"):
        raise ValueError(f"{name}: mode must be 'full', 'same' or 'valid', got {mode!r}")


def _conv_window(n, m, mode):
    """(start, stop) of the ``mode`` output within the full correlation of lengths n, m."""
    full = n + m - 1
    if mode == "full":
        return 0, full
    if mode == "valid":
        return min(n, m) - 1, max(n, m)
    length = max(n, m)
    # NumPy centres on the longer input; a shorter signal is the mirror image of that.
    start = (full - length) // 2 if n >= m else (full - length + 1) // 2
    return start, start + length


def _conv_dtype(a, v, preferred):
    if preferred is not None:
        return dtypes.canonicalize_dtype(preferred)
    return _result_dtype(a, v)


def_zero_derivative(_conv_check, _conv_window, _conv_dtype)


def _correlate_full(a, v):
    """``c[t] = sum_j a[t + j - (m - 1)] * v[j]`` for ``t`` in ``[0, n + m - 1)``."""
    n = _shape(a)[0]
    m = _shape(v)[0]
    out = lax.conv_general_dilated(np.reshape(a, (1, 1, n)), np.reshape(v, (1, 1, m)),
                                   window_strides=(1,), padding=[(m - 1, m - 1)])
    return np.reshape(out, (n + m - 1,))


def _conv_operands(a, v, dt, convolve):
    """(signal, kernel) for the correlation: convolution flips the kernel (the longer
    input is the signal, as NumPy); correlation conjugates it."""
    if convolve:
        if _shape(v)[0] > _shape(a)[0]:
            return np.astype(v, dt), np.flip(np.astype(a, dt))
        return np.astype(a, dt), np.flip(np.astype(v, dt))
    if _is_complex(v) or dtypes.is_complex(dt):
        return np.astype(a, dt), np.conj(np.astype(v, dt))
    return np.astype(a, dt), np.astype(v, dt)


def _correlate(name, a, v, mode, preferred, convolve):
    aa = np.asarray(a)
    va = np.asarray(v)
    _conv_check(name, aa, va, mode)
    dt = _conv_dtype(aa, va, preferred)
    work = dtypes.default_int_dtype() if dt == dtypes.bool_ else dt
    sig, ker = _conv_operands(aa, va, work, convolve)
    start, stop = _conv_window(_shape(sig)[0], _shape(ker)[0], mode)
    out = _correlate_full(sig, ker)[start:stop]
    if dt == dtypes.bool_:
        return np.not_equal(out, 0)
    return out


def convolve(a, v, mode="full", *, precision=None, preferred_element_type=None):
    """Discrete linear convolution of two 1-d arrays; ``mode``: ``'full'`` (length
    ``n + m - 1``), ``'same'`` (``max(n, m)``, centred) or ``'valid'`` (full overlap).

    >>> import s2s.numpy as np
    >>> np.convolve(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]))
    array([0. , 1. , 2.5, 4. , 1.5], dtype=float32)
    """
    return _correlate("convolve", a, v, mode, preferred_element_type, True)


def correlate(a, v, mode="valid", *, precision=None, preferred_element_type=None):
    """Cross-correlation of two 1-d arrays, ``c[k] = sum_n a[n + k] * conj(v[n])``;
    ``mode`` as in ``convolve`` (default ``'valid'``).

    >>> import s2s.numpy as np
    >>> np.correlate(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 0.5]), "full")
    array([0.5, 2. , 3.5, 3. , 0. ], dtype=float32)
    """
    return _correlate("correlate", a, v, mode, preferred_element_type, False)

# ---------------------------------------------------------------------------
# digitize, bincount


def _digitize_check(x, bins):
    if _ndim(bins) != 1:
        raise ShapeError(f"digitize: bins must be a 1-d array, got shape {_shape(bins)}")
    if _is_complex(x) or _is_complex(bins):
        raise TypeError("digitize: x and bins must be real")
    if not isinstance(bins, Tracer) and _shape(bins)[0] > 1:
        d = onp.diff(onp.asarray(bins))
        if not (onp.all(d >= 0) or onp.all(d <= 0)):
            raise ValueError("digitize: bins must be monotonically increasing or decreasing")


def digitize(x, bins, right=False, *, method=None):
    """The index of the bin of each ``x``: ``i`` with ``bins[i-1] <= x < bins[i]`` for
    increasing ``bins`` (``<`` and ``<=`` swap with ``right=True``; decreasing bins too).

    >>> import s2s.numpy as np
    >>> np.digitize(np.array([0.2, 6.4, 3.0, 1.6]), np.array([0.0, 1.0, 2.5, 4.0, 10.0]))
    array([1, 4, 3, 2], dtype=int32)
    """
    xa = np.asarray(x)
    ba = np.asarray(bins)
    _digitize_check(xa, ba)
    n = _shape(ba)[0]
    side = "left" if right else "right"
    if n == 0:
        return np.zeros(_shape(xa), dtypes.default_int_dtype())
    up = np.searchsorted(ba, xa, side=side)
    down = n - np.searchsorted(np.flip(ba), xa, side=side)
    return np.where(ba[-1] >= ba[0], up, down)


def _bincount_length(x, minlength, length):
    if _ndim(x) != 1:
        raise ShapeError(f"bincount: x must be 1-dimensional, got shape {_shape(x)}")
    dt = _dtype(x)
    if not (dtypes.is_integer(dt) or dt == dtypes.bool_):
        raise TypeError(f"bincount: x must be an array of non-negative integers, got dtype "
                        f"{onp.dtype(dt).name}")
    minlength = _int("bincount", "minlength", minlength)
    if minlength < 0:
        raise ValueError(f"bincount: minlength must not be negative, got {minlength}")
    if not isinstance(x, Tracer):
        xv = onp.asarray(x)
        if xv.size and xv.min() < 0:
            raise ValueError("bincount: x must have no negative elements")
    if length is not None:
        return _int("bincount", "length", length)
    if isinstance(x, Tracer):
        raise ConcretizationError(
            "bincount: the number of bins depends on the values of x; pass a static length= "
            "to use bincount under jit")
    xv = onp.asarray(x)
    return max(minlength, int(xv.max()) + 1 if xv.size else 0)


def _bincount_dtype(w):
    if w is None:
        return dtypes.default_int_dtype()
    return dtypes.to_inexact_dtype(_dtype(w))


def_zero_derivative(_digitize_check, digitize, _bincount_length, _bincount_dtype)


def bincount(x, weights=None, minlength=0, *, length=None):
    """Number of occurrences of each value in the non-negative integer array ``x`` (or the
    sum of ``weights`` for each value).

    The result has ``max(x) + 1`` entries (at least ``minlength``); under ``jit`` pass a
    static ``length=`` (values beyond it, and negative values, are dropped). Weighted
    counts are floats (the weights' float dtype, or the default float).

    >>> import s2s.numpy as np
    >>> np.bincount(np.array([0, 1, 1, 3]))
    array([1, 2, 0, 1], dtype=int32)
    >>> np.bincount(np.array([0, 1, 1]), weights=np.array([0.5, 1.0, 2.0]), minlength=4)
    array([0.5, 3. , 0. , 0. ], dtype=float32)
    """
    xa = np.asarray(x)
    size = _bincount_length(xa, minlength, length)
    dt = _bincount_dtype(weights)
    if weights is None:
        w = np.ones(_shape(xa), dt)
    else:
        w = np.astype(np.asarray(weights), dt)
        if _shape(w) != _shape(xa):
            raise ShapeError(f"bincount: the weights (shape {_shape(w)}) and x (shape "
                             f"{_shape(xa)}) don't have the same length")
    if size == 0 or _shape(xa)[0] == 0:
        return np.zeros((size,), dt)
    idx = np.reshape(np.astype(xa, dtypes.int32), (_shape(xa)[0], 1))
    dn = lax.ScatterDimensionNumbers(update_window_dims=(), inserted_window_dims=(0,),
                                     scatter_dims_to_operand_dims=(0,))
    return lax.scatter_add(np.zeros((size,), dt), idx, w, dimension_numbers=dn, mode="drop")

# ---------------------------------------------------------------------------
# NaN-ignoring arg-reductions and cumulative reductions


def _all_nan_check(name, allnan):
    if not isinstance(allnan, Tracer) and onp.any(onp.asarray(allnan)):
        raise ValueError(f"{name}: All-NaN slice encountered")


def _nanarg(name, reducer, extremum, a, axis, out, keepdims):
    _no_out(name, out)
    arr = np.asarray(a)
    kd = bool(keepdims)
    if axis is not None:
        axis = _axis(name, axis, _ndim(arr))
    if not _is_inexact(arr):
        return reducer(arr, axis=axis, keepdims=kd)
    m = extremum(arr, axis=axis, keepdims=True)
    hit = np.equal(arr, m)
    idx = np.argmax(hit, axis=axis, keepdims=kd)
    allnan = np.all(np.isnan(arr), axis=axis, keepdims=kd)
    _all_nan_check(name, allnan)
    return np.where(allnan, -1, idx)


def nanargmax(a, axis=None, out=None, keepdims=None):
    """Index of the maximum along ``axis`` ignoring NaNs. An all-NaN slice raises
    ``ValueError`` eagerly (as NumPy) and gives -1 under ``jit`` (as ``jax.numpy``).

    >>> import s2s.numpy as np
    >>> np.nanargmax(np.array([[np.nan, 4.0], [3.0, 2.0]]), axis=1)
    array([1, 0], dtype=int32)
    """
    return _nanarg("nanargmax", np.argmax, np.nanmax, a, axis, out, keepdims)


def nanargmin(a, axis=None, out=None, keepdims=None):
    """Index of the minimum along ``axis`` ignoring NaNs (all-NaN slices as ``nanargmax``).

    >>> import s2s.numpy as np
    >>> np.nanargmin(np.array([np.nan, 4.0, 2.0, 3.0]))
    array(2, dtype=int32)
    """
    return _nanarg("nanargmin", np.argmin, np.nanmin, a, axis, out, keepdims)


def_zero_derivative(_all_nan_check, nanargmax, nanargmin)


def _nan_to(a, value):
    if not _is_inexact(a):
        return a
    return np.where(np.isnan(a), value, a)


def nancumsum(a, axis=None, dtype=None, out=None):
    """Cumulative sum along ``axis`` (flattened when None) treating NaNs as zero.

    >>> import s2s.numpy as np
    >>> np.nancumsum(np.array([1.0, np.nan, 2.0]))
    array([1., 1., 3.], dtype=float32)
    """
    _no_out("nancumsum", out)
    return np.cumsum(_nan_to(np.asarray(a), 0), axis=axis, dtype=dtype)


def nancumprod(a, axis=None, dtype=None, out=None):
    """Cumulative product along ``axis`` (flattened when None) treating NaNs as one.

    >>> import s2s.numpy as np
    >>> np.nancumprod(np.array([2.0, np.nan, 3.0]))
    array([2., 2., 6.], dtype=float32)
    """
    _no_out("nancumprod", out)
    return np.cumprod(_nan_to(np.asarray(a), 1), axis=axis, dtype=dtype)

# ---------------------------------------------------------------------------
# nanquantile, nanpercentile, nanmedian


_NAN_QUANTILE_METHODS = ("linear", "lower", "higher", "nearest", "midpoint")


def _nanq_plan(name, a, q, scale, axis, method, keepdims, weights):
    """Static layout of a NaN-ignoring quantile: (perm, rows, n, qshape, out_shape)."""
    if weights is not None:
        raise NotImplementedError(f"{name}: weights= is not supported")
    if method not in _NAN_QUANTILE_METHODS:
        raise ValueError(f"{name}: method {method!r} is not supported; use one of "
                         f"{', '.join(map(repr, _NAN_QUANTILE_METHODS))}")
    if _is_complex(a):
        raise TypeError(f"{name}: complex input is not supported")
    if not isinstance(q, Tracer):
        qa = onp.asarray(q, onp.float64) / scale
        if qa.size and (onp.any(qa < 0) or onp.any(qa > 1)):
            rng = "[0, 100]" if scale == 100 else "[0, 1]"
            raise ValueError(f"{name}: quantiles must be in the range {rng}")
    shape = _shape(a)
    axes = _axes(name, axis, len(shape))
    rest = [i for i in range(len(shape)) if i not in axes]
    n = _prod([shape[i] for i in axes])
    if n == 0:
        raise ShapeError(f"{name}: cannot take a quantile over an empty axis (shape {shape})")
    rows = _prod([shape[i] for i in rest])
    if keepdims:
        tail = tuple(1 if i in axes else d for i, d in enumerate(shape))
    else:
        tail = tuple(shape[i] for i in rest)
    qshape = _shape(q)
    return tuple(rest) + tuple(axes), rows, n, qshape, qshape + tail


def_zero_derivative(_nanq_plan)


def _pick(flat, pos, offsets):
    """``flat[row * n + pos]`` for each row (``pos`` holds whole numbers, one column per row)."""
    return np.take(flat, np.astype(pos, offsets.dtype) + offsets)


def _nanquantile(name, a, q, scale, axis, method, keepdims, weights):
    arr = np.asarray(a)
    qa = np.asarray(q)
    if not _is_inexact(arr):
        _nanq_plan(name, arr, qa, scale, axis, method, keepdims, weights)
        return np.quantile(arr, qa / scale, axis=axis, method=method, keepdims=keepdims)
    perm, rows, n, qshape, out_shape = _nanq_plan(name, arr, qa, scale, axis, method,
                                                  keepdims, weights)
    dt = _dtype(arr)
    x = np.reshape(np.transpose(arr, perm), (rows, n))
    xs = np.sort(x, axis=-1)
    valid = np.astype(np.sum(np.logical_not(np.isnan(x)), axis=-1), dt)
    qf = np.reshape(np.astype(qa, dt) / scale, (-1, 1))
    pos = qf * np.maximum(valid - 1, 0)
    off = _row_offsets(rows, n)
    flat = np.ravel(xs)
    if method == "linear":
        lo = np.floor(pos)
        lo_v = _pick(flat, lo, off)
        r = lo_v + (_pick(flat, np.ceil(pos), off) - lo_v) * (pos - lo)
    elif method == "midpoint":
        r = (_pick(flat, np.floor(pos), off) + _pick(flat, np.ceil(pos), off)) * 0.5
    elif method == "lower":
        r = _pick(flat, np.floor(pos), off)
    elif method == "higher":
        r = _pick(flat, np.ceil(pos), off)
    else:
        r = _pick(flat, np.round(pos), off)
    out = np.where(valid == 0, np.nan, r)
    return np.astype(np.reshape(out, out_shape), dt)


def nanquantile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                keepdims=False, *, weights=None):
    """The ``q``-th quantiles (``q`` in [0, 1]) over ``axis`` ignoring NaNs (an all-NaN
    slice gives NaN). ``method``: 'linear', 'lower', 'higher', 'nearest' or 'midpoint'.

    >>> import s2s.numpy as np
    >>> np.nanquantile(np.array([[1.0, np.nan, 3.0], [4.0, 5.0, 6.0]]), 0.5, axis=1)
    array([2., 5.], dtype=float32)
    """
    _no_out("nanquantile", out)
    return _nanquantile("nanquantile", a, q, 1, axis, method, keepdims, weights)


def nanpercentile(a, q, axis=None, out=None, overwrite_input=False, method="linear",
                  keepdims=False, *, weights=None):
    """The ``q``-th percentiles (``q`` in [0, 100]) over ``axis`` ignoring NaNs.

    >>> import s2s.numpy as np
    >>> np.nanpercentile(np.array([1.0, np.nan, 2.0, 3.0, 4.0]), [25, 50])
    array([1.75, 2.5 ], dtype=float32)
    """
    _no_out("nanpercentile", out)
    return _nanquantile("nanpercentile", a, q, 100, axis, method, keepdims, weights)


def nanmedian(a, axis=None, out=None, overwrite_input=False, keepdims=False):
    """Median over ``axis`` ignoring NaNs (an all-NaN slice gives NaN).

    >>> import s2s.numpy as np
    >>> np.nanmedian(np.array([[1.0, np.nan, 4.0], [2.0, 3.0, 9.0]]), axis=1)
    array([2.5, 3. ], dtype=float32)
    """
    _no_out("nanmedian", out)
    return _nanquantile("nanmedian", a, 0.5, 1, axis, "linear", keepdims, None)
