"""``scipy.stats.norm``: the normal distribution with location ``loc`` and scale ``scale``.

All functions broadcast ``x`` (or ``q``), ``loc`` and ``scale`` together and
compute in their common floating dtype.

>>> from s2s.scipy.stats import norm
>>> norm.logpdf(0.0)
array(-0.9189386, dtype=float32)
"""
import math

from s2s import lax
from s2s.scipy import _lax_helpers as h
from s2s.scipy import special

__all__ = ["pdf", "logpdf", "cdf", "logcdf", "sf", "logsf", "ppf", "isf"]


def _standardized(name, x, loc, scale):
    x, loc, scale = h.promote_inexact(f"norm.{name}", x, loc, scale)
    return lax.div(lax.sub(x, loc), scale), scale


def logpdf(x, loc=0, scale=1):
    """Log of the normal density at ``x``.

    >>> from s2s.scipy.stats import norm
    >>> norm.logpdf(1.0, loc=1.0, scale=2.0)
    array(-1.6120857, dtype=float32)
    """
    x, loc, scale = h.promote_inexact("norm.logpdf", x, loc, scale)
    scale2 = lax.mul(scale, scale)
    log_normalizer = lax.log(lax.mul(2 * math.pi, scale2))
    diff = lax.sub(x, loc)
    quadratic = lax.div(lax.mul(diff, diff), scale2)
    return lax.div(lax.add(log_normalizer, quadratic), -2)


def pdf(x, loc=0, scale=1):
    """The normal density at ``x``.

    >>> from s2s.scipy.stats import norm
    >>> norm.pdf(0.0)
    array(0.39894223, dtype=float32)
    """
    return lax.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``P(X <= x)``.

    >>> from s2s.scipy.stats import norm
    >>> norm.cdf(3.0, loc=3.0)
    array(0.5, dtype=float32)
    """
    return special.ndtr(_standardized("cdf", x, loc, scale)[0])


def logcdf(x, loc=0, scale=1):
    """``log P(X <= x)``, accurate far into the lower tail.

    >>> from s2s.scipy.stats import norm
    >>> norm.logcdf(-20.0)
    array(-203.91716, dtype=float32)
    """
    return special.log_ndtr(_standardized("logcdf", x, loc, scale)[0])


def sf(x, loc=0, scale=1):
    """The survival function ``P(X > x) = 1 - cdf(x)``, accurate in the upper tail.

    >>> from s2s.scipy.stats import norm
    >>> norm.sf(0.0)
    array(0.5, dtype=float32)
    """
    return special.ndtr(lax.neg(_standardized("sf", x, loc, scale)[0]))


def logsf(x, loc=0, scale=1):
    """``log P(X > x)``.

    >>> from s2s.scipy.stats import norm
    >>> norm.logsf(20.0)
    array(-203.91716, dtype=float32)
    """
    return special.log_ndtr(lax.neg(_standardized("logsf", x, loc, scale)[0]))


def ppf(q, loc=0, scale=1):
    """The quantile function, the inverse of ``cdf``.

    >>> from s2s.scipy.stats import norm
    >>> norm.ppf(0.5, loc=1.0, scale=2.0)
    array(1., dtype=float32)
    """
    q, loc, scale = h.promote_inexact("norm.ppf", q, loc, scale)
    return lax.add(lax.mul(special.ndtri(q), scale), loc)


def isf(q, loc=0, scale=1):
    """The inverse of ``sf``: ``ppf(1 - q)``, accurate for small ``q``.

    >>> from s2s.scipy.stats import norm
    >>> norm.isf(0.5)
    array(0., dtype=float32)
    """
    q, loc, scale = h.promote_inexact("norm.isf", q, loc, scale)
    return lax.add(lax.mul(lax.neg(special.ndtri(q)), scale), loc)

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
