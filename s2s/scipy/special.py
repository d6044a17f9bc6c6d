"""``scipy.special`` on ``s2s.lax``: the special functions machine learning code uses.

Each function follows SciPy's semantics and ``jax.scipy.special``'s dtype rules:
integer inputs compute in the default float dtype, float32 stays float32.
``logsumexp``, ``softmax`` and ``log_softmax`` are NumPy-level primitives (NumPy
eagerly, their lax composite under ``jit``); the rest are lax composites.

>>> from s2s.scipy import special
>>> special.logsumexp([0.0, 0.0])
array(0.6931472, dtype=float32)
"""
import importlib
import math
import sys

import numpy as onp

from s2s import lax

from s2s.core import dtypes
from s2s.core.primitive import primitive_wrapper
from s2s.core.errors import DtypeError
from s2s.lax.shapes import broadcast_shapes
from s2s.numpy._primitive import numpy_primitive
from s2s.scipy import _lax_helpers as h

__all__ = [
    "logsumexp", "expit", "logit", "erf", "erfc", "erfinv", "gammaln", "digamma",
    "xlogy", "xlog1py", "ndtr", "ndtri", "log_ndtr", "betaln", "entr", "softmax",
    "log_softmax", "gammainc", "gammaincc", "betainc", "beta", "i0", "i0e", "i1", "i1e", "zeta",
    "polygamma", "multigammaln",
]


# ---------------------------------------------------------------------------
# logsumexp, softmax, log_softmax: NumPy-level primitives.


def _static_axis(axis):
    if isinstance(axis, list):
        return tuple(int(a) for a in axis)
    if axis is not None and not isinstance(axis, tuple):
        return int(axis)
    return axis


def _check_real(name, *xs):
    for x in xs:
        if x is not None and dtypes.is_complex(h.dtype_of(x)):
            raise DtypeError(f"{name} does not accept complex input ({h.dtype_of(x).name})")


def _lse_parts(a, b, axis, keepdims):
    """``(log|s|, sign(s))`` for ``s = sum(b * exp(a), axis)`` (``b`` may be None)."""
    if b is None:
        a, = h.promote_inexact("logsumexp", a)
    else:
        a, b = h.promote_inexact("logsumexp", a, b)
        shape = broadcast_shapes("logsumexp", h.shape_of(a), h.shape_of(b))
        a, b = h.broadcast_to(a, shape), h.broadcast_to(b, shape)
        a = h.where(lax.ne(b, 0), a, -onp.inf)
    axes = h.reduction_axes("logsumexp", axis, len(h.shape_of(a)))
    amax = h.reduce_max(a, axes, keepdims=True)
    amax = lax.stop_gradient(h.where(lax.is_finite(amax), amax, 0))
    exp_a = lax.exp(lax.sub(a, amax))
    if b is not None:
        exp_a = lax.mul(exp_a, b)
    total = h.reduce_sum(exp_a, axes, keepdims)
    amax_out = amax if keepdims else lax.reshape(amax, new_sizes=h.shape_of(total))
    return lax.add(lax.log(lax.abs(total)), amax_out), lax.sign(total)


def _lse_composite(a, b=None, *, axis=None, keepdims=False):
    out, sign = _lse_parts(a, b, axis, keepdims)
    return out if b is None else h.where(lax.lt(sign, 0), onp.nan, out)


def _lse_impl(a, b=None, *, axis=None, keepdims=False):
    dt = dtypes.to_inexact_dtype(dtypes.result_type(*([a] if b is None else [a, b])))
    a = onp.asarray(a, dt)
    with onp.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if b is not None:
            a, b = onp.broadcast_arrays(a, onp.asarray(b, dt))
            a = onp.where(b != 0, a, dt.type(-onp.inf))
        if a.size and (axis is None or all(a.shape[i] for i in onp.atleast_1d(axis))):
            amax = onp.max(a, axis=axis, keepdims=True)
        else:
            amax = onp.full(onp.sum(a, axis=axis, keepdims=True).shape, -onp.inf, dt)
        amax = onp.where(onp.isfinite(amax), amax, dt.type(0))
        exp_a = onp.exp(a - amax)
        if b is not None:
            exp_a = exp_a * b
        total = onp.sum(exp_a, axis=axis, keepdims=keepdims)
        out = onp.log(onp.abs(total)) + (amax if keepdims else amax.reshape(total.shape))
        if b is not None:
            out = onp.where(total < 0, dt.type(onp.nan), out)
    return onp.asarray(out, dt)


logsumexp_p = numpy_primitive("logsumexp", _lse_impl, _lse_composite)


@primitive_wrapper(logsumexp_p)
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """``log(sum(b * exp(a), axis))`` computed stably, as ``scipy.special.logsumexp``.

    ``b`` scales each term (a zero ``b`` removes it); with ``return_sign`` the
    result is ``(log|s|, sign(s))``, otherwise a negative sum gives NaN. Slices
    that are all ``-inf`` give ``-inf``.

    >>> from s2s.scipy.special import logsumexp
    >>> logsumexp([[0.0, 0.0], [1.0, -float("inf")]], axis=1)
    array([0.6931472, 1.       ], dtype=float32)
    """
    axis = _static_axis(axis)
    _check_real("logsumexp", a, b)
    if return_sign:
        return _lse_parts(a, b, axis, bool(keepdims))
    if b is None:
        return logsumexp_p.bind(a, axis=axis, keepdims=bool(keepdims))
    return logsumexp_p.bind(a, b, axis=axis, keepdims=bool(keepdims))




def _shifted(name, x, axis):
    x, = h.promote_inexact(name, x)
    axes = h.reduction_axes(name, axis, len(h.shape_of(x)))
    xmax = h.reduce_max(x, axes, keepdims=True)
    xmax = lax.stop_gradient(h.where(lax.is_finite(xmax), xmax, 0))
    return lax.sub(x, xmax), axes


def _softmax_composite(x, *, axis=None):
    shifted, axes = _shifted("softmax", x, axis)
    unnormalized = lax.exp(shifted)
    return lax.div(unnormalized, h.reduce_sum(unnormalized, axes, keepdims=True))


def _log_softmax_composite(x, *, axis=None):
    shifted, axes = _shifted("log_softmax", x, axis)
    return lax.sub(shifted, lax.log(h.reduce_sum(lax.exp(shifted), axes, keepdims=True)))


def _np_shifted(x, axis):
    dt = dtypes.to_inexact_dtype(dtypes.dtype_of(x))
    x = onp.asarray(x, dt)
    if x.size == 0:
        return x, dt
    xmax = onp.max(x, axis=axis, keepdims=True)
    return x - onp.where(onp.isfinite(xmax), xmax, dt.type(0)), dt


def _softmax_impl(x, *, axis=None):
    with onp.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted, dt = _np_shifted(x, axis)
        unnormalized = onp.exp(shifted)
        return onp.asarray(unnormalized / onp.sum(unnormalized, axis=axis, keepdims=True), dt)


def _log_softmax_impl(x, *, axis=None):
    with onp.errstate(invalid="ignore", over="ignore", divide="ignore"):
        shifted, dt = _np_shifted(x, axis)
        return onp.asarray(shifted - onp.log(onp.sum(onp.exp(shifted), axis=axis, keepdims=True)), dt)


softmax_p = numpy_primitive("softmax", _softmax_impl, _softmax_composite)
log_softmax_p = numpy_primitive("log_softmax", _log_softmax_impl, _log_softmax_composite)


@primitive_wrapper(softmax_p)
def softmax(x, axis=None):
    """``exp(x) / sum(exp(x), axis)``, computed stably; ``axis=None`` normalizes everything.

    >>> from s2s.scipy.special import softmax
    >>> softmax([0.0, 0.0, 0.0, 0.0])
    array([0.25, 0.25, 0.25, 0.25], dtype=float32)
    """
    _check_real("softmax", x)
    return softmax_p.bind(x, axis=_static_axis(axis))




@primitive_wrapper(log_softmax_p)
def log_softmax(x, axis=None):
    """``x - logsumexp(x, axis)``, accurate where ``log(softmax(x))`` underflows.

    >>> from s2s.scipy.special import log_softmax
    >>> log_softmax([0.0, 0.0])
    array([-0.6931472, -0.6931472], dtype=float32)
    """
    _check_real("log_softmax", x)
    return log_softmax_p.bind(x, axis=_static_axis(axis))




# ---------------------------------------------------------------------------
# Elementwise functions.


def expit(x):
    """The logistic sigmoid ``1 / (1 + exp(-x))``.

    >>> from s2s.scipy.special import expit
    >>> expit(0.0)
    array(0.5, dtype=float32)
    """
    return lax.logistic(x)


def logit(p):
    """The inverse of ``expit``: ``log(p / (1 - p))``.

    >>> from s2s.scipy.special import logit
    >>> logit(0.5)
    array(0., dtype=float32)
    """
    p, = h.promote_inexact("logit", p)
    return lax.log(lax.div(p, lax.sub(1, p)))


def erf(x):
    """The error function.

    >>> from s2s.scipy.special import erf
    >>> erf(0.0)
    array(0., dtype=float32)
    """
    return lax.erf(x)


def erfc(x):
    """The complementary error function ``1 - erf(x)``, accurate for large ``x``.

    >>> from s2s.scipy.special import erfc
    >>> erfc(0.0)
    array(1., dtype=float32)
    """
    return lax.erfc(x)


def erfinv(x):
    """The inverse error function (``+-inf`` at ``+-1``, NaN outside ``[-1, 1]``).

    >>> from s2s.scipy.special import erfinv
    >>> erfinv(0.0)
    array(0., dtype=float32)
    """
    return lax.erf_inv(x)


def gammaln(x):
    """``log(|gamma(x)|)``.

    >>> from s2s.scipy.special import gammaln
    >>> gammaln(3.0)
    array(0.6931472, dtype=float32)
    """
    return lax.lgamma(x)


def digamma(x):
    """The digamma function, the derivative of ``gammaln``.

    >>> from s2s.scipy.special import digamma
    >>> digamma(1.0)
    array(-0.5772157, dtype=float32)
    """
    return lax.digamma(x)


def _x_times_log(name, log_fn, x, y):
    x, y = h.promote_inexact(name, x, y)
    nonzero = lax.ne(x, 0)
    safe_x = h.where(nonzero, x, 1)
    safe_y = h.where(nonzero, y, 1)
    return h.where(nonzero, lax.mul(safe_x, log_fn(safe_y)), 0)


def xlogy(x, y):
    """``x * log(y)``, defined as 0 where ``x == 0`` (even where ``y == 0``).

    >>> from s2s.scipy.special import xlogy
    >>> xlogy(0.0, 0.0)
    array(0., dtype=float32)
    """
    return _x_times_log("xlogy", lax.log, x, y)


def xlog1py(x, y):
    """``x * log1p(y)``, defined as 0 where ``x == 0``.

    >>> from s2s.scipy.special import xlog1py
    >>> xlog1py(0.0, -1.0)
    array(0., dtype=float32)
    """
    return _x_times_log("xlog1py", lax.log1p, x, y)


def entr(x):
    """Elementwise entropy ``-x * log(x)``: 0 at 0, ``-inf`` for negative ``x``.

    >>> from s2s.scipy.special import entr
    >>> entr([0.0, 1.0, -1.0])
    array([  0.,  -0., -inf], dtype=float32)
    """
    x, = h.promote_inexact("entr", x)
    dt = h.dtype_of(x)
    positive = lax.gt(x, 0)
    safe_x = h.where(positive, x, 1)
    inner = h.where(lax.eq(x, 0), onp.asarray(0, dt), onp.asarray(-onp.inf, dt))
    return h.where(positive, lax.neg(lax.mul(safe_x, lax.log(safe_x))), h.where(lax.ne(x, x), x, inner))


# ---------------------------------------------------------------------------
# The normal distribution function and its inverse.


def ndtr(x):
    """The standard normal CDF ``(1 + erf(x / sqrt(2))) / 2``, accurate in both tails.

    >>> from s2s.scipy.special import ndtr
    >>> ndtr(0.0)
    array(0.5, dtype=float32)
    """
    x, = h.promote_inexact("ndtr", x)
    half_sqrt_2 = 0.5 * math.sqrt(2.0)
    t = lax.mul(x, half_sqrt_2)
    z = lax.abs(t)
    tail = h.where(lax.gt(t, 0), lax.sub(2, lax.erfc(z)), lax.erfc(z))
    return lax.mul(0.5, h.where(lax.lt(z, half_sqrt_2), lax.add(1, lax.erf(t)), tail))


# Rational approximations of ndtri from the Cephes library (Moshier), numerators and
# denominators by decreasing power: for p > exp(-2) (around the median), and in the
# tail for z = sqrt(-2 log p) below and above 8.
_NDTRI_P0 = (-5.99633501014107895267e1, 9.80010754185999661536e1, -5.66762857469070293439e1,
             1.39312609387279679503e1, -1.23916583867381258016e0)
_NDTRI_Q0 = (1.0, 1.95448858338141759834e0, 4.67627912898881538453e0, 8.63602421390890590575e1,
             -2.25462687854119370527e2, 2.00260212380060660359e2, -8.20372256168333339912e1,
             1.59056225126211695515e1, -1.18331621121330003142e0)
_NDTRI_P1 = (4.05544892305962419923e0, 3.15251094599893866154e1, 5.71628192246421288162e1,
             4.40805073893200834700e1, 1.46849561928858024014e1, 2.18663306850790267539e0,
             -1.40256079171354495875e-1, -3.50424626827848203418e-2, -8.57456785154685413611e-4)
_NDTRI_Q1 = (1.0, 1.57799883256466749731e1, 4.53907635128879210584e1, 4.13172038254672030440e1,
             1.50425385692907503408e1, 2.50464946208309415979e0, -1.42182922854787788574e-1,
             -3.80806407691578277194e-2, -9.33259480895457427372e-4)
_NDTRI_P2 = (3.23774891776946035970e0, 6.91522889068984211695e0, 3.93881025292474443415e0,
             1.33303460815807542389e0, 2.01485389549179081538e-1, 1.23716634817820021358e-2,
             3.01581553508235416007e-4, 2.65806974686737550832e-6, 6.23974539184983293730e-9)
_NDTRI_Q2 = (1.0, 6.02427039364742014255e0, 3.67983563856160859403e0, 1.37702099489081330271e0,
             2.16236993594496635890e-1, 1.34204006088543189037e-2, 3.28014464682127739104e-4,
             2.89247864745380683936e-6, 6.79019408009981274425e-9)


def _polyval(coeffs, x):
    dt = h.dtype_of(x)
    acc = h.full(coeffs[0], h.shape_of(x), dt)
    for c in coeffs[1:]:
        acc = lax.add(lax.mul(acc, x), onp.asarray(c, dt))
    return acc


def _ratio(p, q, x):
    return lax.div(_polyval(p, x), _polyval(q, x))


def ndtri(p):
    """The inverse of ``ndtr``: the standard normal quantile (``-inf`` at 0, ``inf`` at 1).

    >>> from s2s.scipy.special import ndtri
    >>> ndtri(0.5)
    array(0., dtype=float32)
    """
    p, = h.promote_inexact("ndtri", p)
    dt = h.dtype_of(p)
    c = lambda v: onp.asarray(v, dt)  # noqa: E731
    exp_m2 = math.exp(-2.0)
    q = h.where(lax.gt(p, c(1.0 - exp_m2)), lax.sub(c(1.0), p), p)
    q = h.where(lax.eq(q, 0), c(0.5), q)
    # Around the median: x / sqrt(2 pi) = w + w^3 P0(w^2) / Q0(w^2).
    w = lax.sub(q, c(0.5))
    ww = lax.mul(w, w)
    central = lax.add(w, lax.mul(lax.mul(w, ww), _ratio(_NDTRI_P0, _NDTRI_Q0, ww)))
    central = lax.mul(central, c(-math.sqrt(2.0 * math.pi)))
    # Tails: x = z - log(z) / z - (1/z) P(1/z) / Q(1/z), z = sqrt(-2 log q).
    z = lax.sqrt(lax.mul(c(-2.0), lax.log(q)))
    inv_z = lax.div(c(1.0), z)
    first = lax.sub(z, lax.div(lax.log(z), z))
    far = lax.sub(first, lax.mul(_ratio(_NDTRI_P2, _NDTRI_Q2, inv_z), inv_z))
    near = lax.sub(first, lax.mul(_ratio(_NDTRI_P1, _NDTRI_Q1, inv_z), inv_z))
    x = h.where(lax.gt(q, c(exp_m2)), central, h.where(lax.ge(z, c(8.0)), far, near))
    x = h.where(lax.gt(p, c(1.0 - exp_m2)), x, lax.neg(x))
    return h.where(lax.eq(p, 0), c(-onp.inf), h.where(lax.eq(p, 1), c(onp.inf), x))


def _log_ndtr_segments(dt):
    # Below ``lower`` the asymptotic series is accurate; above ``upper`` log(1 - t) ~ -t.
    return (-37.0, 8.0) if onp.dtype(dt) == onp.float64 else (-10.0, 5.0)


def _log_ndtr_lower(x, series_order):
    """``log(ndtr(x))`` for very negative ``x`` from the asymptotic series of erfc."""
    x2 = lax.mul(x, x)
    log_scale = lax.sub(lax.sub(lax.mul(x2, -0.5), lax.log(lax.neg(x))), 0.5 * math.log(2 * math.pi))
    series = h.full(1.0, h.shape_of(x), h.dtype_of(x))
    x2n = x2
    odd_factorial = 1.0
    for n in range(1, series_order + 1):
        odd_factorial *= 2 * n - 1
        term = lax.div(odd_factorial, x2n)
        series = lax.sub(series, term) if n % 2 else lax.add(series, term)
        x2n = lax.mul(x2n, x2)
    return lax.add(log_scale, lax.log(series))


def log_ndtr(x, series_order=3):
    """``log(ndtr(x))``, accurate far into both tails (asymptotic series below -10).

    >>> from s2s.scipy.special import log_ndtr
    >>> log_ndtr(-20.0)
    array(-203.91716, dtype=float32)
    """
    if not isinstance(series_order, int) or not 0 <= series_order < 30:
        raise ValueError(f"log_ndtr: series_order must be an int in [0, 30), got {series_order!r}")
    x, = h.promote_inexact("log_ndtr", x)
    lower, upper = _log_ndtr_segments(h.dtype_of(x))
    middle = lax.log(ndtr(lax.max(x, lower)))
    low = _log_ndtr_lower(lax.min(x, lower), series_order)
    return h.where(lax.gt(x, upper), lax.neg(ndtr(lax.neg(x))), h.where(lax.gt(x, lower), middle, low))


# ---------------------------------------------------------------------------
# betaln


def _stirling_correction(x):
    """``lgamma(x) - ((x - 1/2) log x - x + log(2 pi) / 2)`` for ``x >= 8`` (3 terms)."""
    inv = lax.div(1.0, x)
    inv2 = lax.mul(inv, inv)
    series = lax.add(lax.mul(inv2, lax.add(lax.mul(inv2, 1.0 / 1260), -1.0 / 360)), 1.0 / 12)
    return lax.mul(series, inv)


def _log_gamma_difference(a, b):
    """``lgamma(b) - lgamma(a + b)`` for ``b >= 8`` without cancelling large terms."""
    apb = lax.add(a, b)
    main = lax.sub(lax.neg(lax.mul(lax.sub(b, 0.5), lax.log1p(lax.div(a, b)))),
                   lax.mul(a, lax.sub(lax.log(apb), 1)))
    return lax.add(main, lax.sub(_stirling_correction(b), _stirling_correction(apb)))


def betaln(a, b):
    """``log(|beta(a, b)|)``, accurate when one argument is large.

    >>> from s2s.scipy.special import betaln
    >>> betaln(1.0, 1.0)
    array(0., dtype=float32)
    """
    a, b = h.promote_inexact("betaln", a, b)
    small, large = lax.min(a, b), lax.max(a, b)
    direct = lax.sub(lax.add(lax.lgamma(small), lax.lgamma(large)), lax.lgamma(lax.add(small, large)))
    safe_large = h.where(lax.lt(large, 8), 8, large)
    asymptotic = lax.add(lax.lgamma(small), _log_gamma_difference(small, safe_large))
    return h.where(lax.lt(large, 8), direct, asymptotic)



# ---------------------------------------------------------------------------
# Incomplete gamma and beta functions, Bessel functions, zeta and polygamma.
#
# Each is a NumPy-level primitive: SciPy's own function eagerly, a lax composite
# from _special_kernels under jit (series, continued fractions and Chebyshev
# expansions, no host callback). Their derivative templates are in vjp_rules.py and
# jvp_rules.py, their batching rules in batch_rules.py.

from s2s.scipy import _special_kernels as k  # noqa: E402


def _scipy_impl(scipy_name):
    """Eager rule: ``scipy.special.<scipy_name>`` in the operands' (common) dtype."""
    def impl(*args):
        dt = dtypes.to_inexact_dtype(dtypes.result_type(*args))
        fn = getattr(importlib.import_module("scipy.special"), scipy_name)
        with onp.errstate(all="ignore"):
            return onp.asarray(fn(*[onp.asarray(a, dt) for a in args]), dt)
    impl.__name__ = scipy_name
    return impl


def _broadcast_all(*xs):
    shape = broadcast_shapes("special", *[h.shape_of(x) for x in xs])
    return [h.broadcast_to(x, shape) for x in xs]


def _elementwise_primitive(name, composite, impl=None):
    """A primitive whose composite sees its operands promoted and broadcast to one shape."""
    def staged(*args):
        return composite(*_broadcast_all(*h.promote_inexact(name, *args)))
    staged.__name__ = composite.__name__
    eager = impl if impl is not None else _scipy_impl(name)
    return numpy_primitive(f"special.{name}", eager, staged)


def _gammainc_composite(a, x):
    return k.igamma_parts(a, x)[0]


def _gammaincc_composite(a, x):
    return k.igamma_parts(a, x)[1]


def _gammainc_da_composite(a, x):
    return k.igamma_parts(a, x)[2]


gammainc_p = _elementwise_primitive("gammainc", _gammainc_composite)
gammaincc_p = _elementwise_primitive("gammaincc", _gammaincc_composite)
# SciPy has no derivative of P in a: the kernel runs eagerly too.
gammainc_da_p = _elementwise_primitive("gammainc_da", _gammainc_da_composite, _gammainc_da_composite)


def _check_operands(name, *xs):
    """Raises for complex operands or shapes that do not broadcast, naming ``name``."""
    _check_real(name, *xs)
    broadcast_shapes(name, *[h.shape_of(x) for x in xs])


@primitive_wrapper(gammainc_p)
def gammainc(a, x):
    """The regularized lower incomplete gamma function ``P(a, x)``.

    ``P(a, x) = 1 / Gamma(a) * integral_0^x t**(a-1) exp(-t) dt``, for ``a, x >= 0``
    (NaN elsewhere). Differentiable in ``x`` and in ``a``. Under ``jit`` a series or a
    continued fraction of at most 2000 terms is summed; where that does not converge
    (``a`` and ``x`` both beyond about 1e5) the result is NaN.

    >>> from s2s.scipy.special import gammainc
    >>> gammainc(1.0, [0.0, 1.0])
    array([0.        , 0.63212055], dtype=float32)
    """
    _check_operands("gammainc", a, x)
    return gammainc_p.bind(a, x)




@primitive_wrapper(gammaincc_p)
def gammaincc(a, x):
    """The regularized upper incomplete gamma function ``Q(a, x) = 1 - P(a, x)``.

    Accurate where ``Q`` is tiny (large ``x``); differentiable in ``x`` and ``a``.

    >>> from s2s.scipy.special import gammaincc
    >>> gammaincc(1.0, [0.0, 1.0])
    array([1.        , 0.36787945], dtype=float32)
    """
    _check_operands("gammaincc", a, x)
    return gammaincc_p.bind(a, x)




@primitive_wrapper(gammainc_da_p)
def _gammainc_da(a, x):
    """``dP(a, x) / da``, the derivative of ``gammainc`` in ``a`` (no closed form).

    >>> from s2s.scipy.special import _gammainc_da
    >>> float(_gammainc_da(1.0, 1.0)) < 0
    True
    """
    _check_operands("gammainc_da", a, x)
    return gammainc_da_p.bind(a, x)




def _betainc_composite(a, b, x):
    nan = lax.bitwise_or(lax.bitwise_or(lax.lt(x, 0.0), lax.gt(x, 1.0)),
                         lax.bitwise_or(lax.le(a, 0.0), lax.le(b, 0.0)))
    edge = lax.bitwise_or(lax.eq(x, 0.0), lax.eq(x, 1.0))
    bad = lax.bitwise_or(nan, edge)
    safe_x = h.where(bad, 0.5, x)
    safe_a, safe_b = h.where(nan, 1.0, a), h.where(nan, 1.0, b)
    # The fraction converges fast below the mean; above it use I_x(a, b) = 1 - I_(1-x)(b, a).
    swap = lax.gt(safe_x, lax.div(lax.add(safe_a, 1.0), lax.add(lax.add(safe_a, safe_b), 2.0)))
    pa, pb = h.where(swap, safe_b, safe_a), h.where(swap, safe_a, safe_b)
    px, py = h.where(swap, lax.sub(1.0, safe_x), safe_x), h.where(swap, safe_x, lax.sub(1.0, safe_x))
    log_front = lax.sub(lax.add(lax.mul(pa, lax.log(px)), lax.mul(pb, lax.log(py))), betaln(pa, pb))
    part = lax.div(lax.mul(lax.exp(log_front), k.betainc_fraction(pa, pb, px)), pa)
    out = h.where(swap, lax.sub(1.0, part), part)
    return h.where(nan, onp.nan, h.where(edge, x, out))


betainc_p = _elementwise_primitive("betainc", _betainc_composite)


@primitive_wrapper(betainc_p)
def betainc(a, b, x):
    """The regularized incomplete beta function ``I_x(a, b)``, for ``a, b > 0``, ``0 <= x <= 1``.

    Differentiable in ``x`` only (as in JAX): a derivative in ``a`` or ``b`` raises.

    >>> from s2s.scipy.special import betainc
    >>> betainc(2.0, 3.0, 0.5)
    array(0.6875, dtype=float32)
    """
    _check_operands("betainc", a, b, x)
    return betainc_p.bind(a, b, x)




def _gamma_sign(x):
    """The sign of ``gamma(x)``: 1 for ``x > 0``, alternating between the poles below."""
    odd_interval = lax.ne(lax.rem(lax.floor(x), 2.0), 0.0)
    return h.where(lax.bitwise_or(lax.gt(x, 0.0), lax.bitwise_not(odd_interval)), k.typed(1.0, x), k.typed(-1.0, x))


def _beta_composite(a, b):
    sign = lax.mul(lax.mul(_gamma_sign(a), _gamma_sign(b)), _gamma_sign(lax.add(a, b)))
    return lax.mul(sign, lax.exp(betaln(a, b)))


beta_p = _elementwise_primitive("beta", _beta_composite)


@primitive_wrapper(beta_p)
def beta(a, b):
    """The beta function ``gamma(a) gamma(b) / gamma(a + b)``.

    >>> from s2s.scipy.special import beta
    >>> beta(2.0, 3.0)
    array(0.08333334, dtype=float32)
    """
    _check_operands("beta", a, b)
    return beta_p.bind(a, b)




def _bessel_primitive(name, scaled_kernel, scaled):
    def composite(x):
        out = scaled_kernel(x)
        return out if scaled else lax.mul(out, lax.exp(lax.abs(x)))
    composite.__name__ = f"_{name}_composite"
    return _elementwise_primitive(name, composite)


i0e_p = _bessel_primitive("i0e", k.bessel_i0e, scaled=True)
i1e_p = _bessel_primitive("i1e", k.bessel_i1e, scaled=True)
i0_p = _bessel_primitive("i0", k.bessel_i0e, scaled=False)
i1_p = _bessel_primitive("i1", k.bessel_i1e, scaled=False)


def _bessel_function(name, prim, summary, at_zero):
    def fn(x):
        _check_operands(name, x)
        return prim.bind(x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (f"""{summary}

    >>> from s2s.scipy.special import {name}
    >>> {name}(0.0)
    array({at_zero}., dtype=float32)
    """)
    return primitive_wrapper(prim)(fn)


i0 = _bessel_function("i0", i0_p, "The modified Bessel function of the first kind of order 0.", 1)
i0e = _bessel_function("i0e", i0e_p, "``exp(-|x|) * i0(x)``, finite for large ``|x|``.", 1)
i1 = _bessel_function("i1", i1_p, "The modified Bessel function of the first kind of order 1.", 0)
i1e = _bessel_function("i1e", i1e_p, "``exp(-|x|) * i1(x)``, finite for large ``|x|``.", 0)


def _zeta_parts(x, q):
    """``(zeta(x, q), d zeta / dx)``: NaN for ``x < 1`` or ``q <= 0``, ``inf`` at ``x == 1``."""
    bad = lax.bitwise_or(lax.lt(x, 1.0), lax.le(q, 0.0))
    pole = lax.eq(x, 1.0)
    safe = lax.bitwise_or(bad, pole)
    value, dvalue = k.hurwitz_zeta(h.where(safe, 2.0, x), h.where(safe, 1.0, q))
    value = h.where(bad, onp.nan, h.where(pole, onp.inf, value))
    return value, h.where(bad, onp.nan, h.where(pole, -onp.inf, dvalue))


def _zeta_composite(x, q):
    return _zeta_parts(x, q)[0]


def _zeta_dx_composite(x, q):
    return _zeta_parts(x, q)[1]


zeta_p = _elementwise_primitive("zeta", _zeta_composite)
zeta_dx_p = _elementwise_primitive("zeta_dx", _zeta_dx_composite, _zeta_dx_composite)


@primitive_wrapper(zeta_p)
def zeta(x, q=None):
    """The Hurwitz zeta function ``sum_{n >= 0} (n + q)**-x``, for ``x > 1, q > 0``.

    As in JAX, ``q`` is required (the Riemann zeta function is ``zeta(x, 1.0)``).
    Under ``jit``, ``q <= 0`` gives NaN (SciPy continues to negative non-integer q).

    >>> from s2s.scipy.special import zeta
    >>> zeta(2.0, 1.0)
    array(1.644934, dtype=float32)
    """
    if q is None:
        raise NotImplementedError("s2s.scipy.special.zeta needs q (the Hurwitz zeta function); "
                                  "for the Riemann zeta function pass q=1.0")
    _check_operands("zeta", x, q)
    return zeta_p.bind(x, q)




@primitive_wrapper(zeta_dx_p)
def _zeta_dx(x, q):
    """``d zeta(x, q) / dx``, the derivative of ``zeta`` in its exponent.

    >>> from s2s.scipy.special import _zeta_dx
    >>> float(_zeta_dx(2.0, 1.0)) < 0
    True
    """
    _check_operands("zeta_dx", x, q)
    return zeta_dx_p.bind(x, q)




def _polygamma_composite(n, x):
    # polygamma(n, x) = (-1)**(n+1) n! zeta(n + 1, x) for n >= 1; digamma for n = 0.
    order = lax.add(n, 1.0)
    sign = h.where(lax.eq(lax.rem(n, 2.0), 0.0), k.typed(-1.0, x), k.typed(1.0, x))
    higher = lax.mul(lax.mul(sign, lax.exp(lax.lgamma(order))), _zeta_composite(order, x))
    invalid = lax.bitwise_or(lax.lt(n, 0.0), lax.ne(n, lax.floor(n)))
    return h.where(invalid, onp.nan, h.where(lax.eq(n, 0.0), lax.digamma(x), higher))


polygamma_p = _elementwise_primitive("polygamma", _polygamma_composite)


@primitive_wrapper(polygamma_p)
def polygamma(n, x):
    """The ``n``-th derivative of ``digamma`` (``n`` a non-negative integer; NaN otherwise).

    For ``n >= 1`` it is ``(-1)**(n+1) n! zeta(n + 1, x)``: under ``jit``, ``x <= 0`` gives
    NaN (SciPy continues it to negative non-integer ``x``).

    Differentiable in ``x``; a derivative in ``n`` raises (as in JAX).

    >>> from s2s.scipy.special import polygamma
    >>> polygamma(1, 1.0)
    array(1.644934, dtype=float32)
    """
    _check_operands("polygamma", n, x)
    return polygamma_p.bind(n, x)




def _multigammaln_impl(a, *, dim):
    d = dim
    dt = dtypes.to_inexact_dtype(dtypes.dtype_of(a))
    gammaln_ = getattr(importlib.import_module("scipy.special"), "gammaln")
    a = onp.asarray(a, dt)
    terms = gammaln_(a[..., None] - onp.arange(d, dtype=dt) / 2)
    return onp.asarray(onp.sum(terms, axis=-1) + d * (d - 1) / 4 * math.log(math.pi), dt)


def _multigammaln_composite(a, *, dim):
    d = dim
    a, = h.promote_inexact("multigammaln", a)
    shape = h.shape_of(a)
    offsets = h.broadcast_to(onp.arange(d, dtype=h.dtype_of(a)) / 2, shape + (d,))
    spread = lax.broadcast_in_dim(a, shape=shape + (d,), broadcast_dimensions=tuple(range(len(shape))))
    total = h.reduce_sum(lax.lgamma(lax.sub(spread, offsets)), (len(shape),))
    return lax.add(total, d * (d - 1) / 4 * math.log(math.pi))


multigammaln_p = numpy_primitive("special.multigammaln", _multigammaln_impl, _multigammaln_composite)


def _static_dim(d):
    if isinstance(d, bool) or not isinstance(d, (int, onp.integer)) or d < 1:
        raise ValueError(f"multigammaln: d must be a positive Python int (static), got {d!r}")
    return int(d)


def multigammaln(a, d):
    """The log of the multivariate gamma function of dimension ``d`` (a static int).

    ``d (d-1) / 4 log(pi) + sum_{j<d} gammaln(a - j / 2)``.

    >>> from s2s.scipy.special import multigammaln
    >>> multigammaln(2.0, 1)
    array(0., dtype=float32)
    """
    return _multigammaln(a, _static_dim(d))


@primitive_wrapper(multigammaln_p)
def _multigammaln(a, dim):
    """``multigammaln`` with ``d`` checked: the primitive's wrapper (templates read ``dim``)."""
    _check_operands("multigammaln", a)
    return multigammaln_p.bind(a, dim=dim)




def _no_derivative(name, argument, instead):
    """Raises: ``name`` has no derivative in ``argument`` (nor has it in JAX)."""
    raise ValueError(f"s2s.scipy.special.{name} has no derivative with respect to {argument} "
                     f"(JAX gives none either); {instead}")

from s2s.core.primitive import register_namespace as _register_namespace  # noqa: E402
from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

# The tracing fallback records calls of these functions as ``special.<name>(...)``
# rather than what they are made of (their staged loops need the primitive).
_register_namespace("special", sys.modules[__name__])
_public_namespace(globals())
