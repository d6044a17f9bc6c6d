"""``scipy.stats.expon``: the exponential distribution, ``loc`` + ``scale`` * Exp(1).

>>> from s2s.scipy.stats import expon
>>> expon.logpdf(1.0)
array(-1., dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.stats._common import log_density, promote

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "ppf"]


def _z(name, x, loc, scale):
    x, loc, scale = promote(f"expon.{name}", x, loc, scale)
    return (x - loc) / scale, scale


def logpdf(x, loc=0, scale=1):
    """``-log(scale) - (x - loc) / scale`` for ``x >= loc``, ``-inf`` below.

    >>> from s2s.scipy.stats import expon
    >>> expon.logpdf(-1.0)
    array(-inf, dtype=float32)
    """
    z, scale = _z("logpdf", x, loc, scale)
    return log_density(z >= 0, -z - np.log(scale))


def pdf(x, loc=0, scale=1):
    """The exponential density at ``x``.

    >>> from s2s.scipy.stats import expon
    >>> expon.pdf(0.0)
    array(1., dtype=float32)
    """
    return np.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``P(X <= x) = 1 - exp(-(x - loc) / scale)``.

    >>> from s2s.scipy.stats import expon
    >>> expon.cdf(0.0)
    array(0., dtype=float32)
    """
    z, _ = _z("cdf", x, loc, scale)
    return np.where(z >= 0, -np.expm1(-np.maximum(z, 0)), 0)


def logcdf(x, loc=0, scale=1):
    """``log P(X <= x)``.

    >>> from s2s.scipy.stats import expon
    >>> expon.logcdf(-1.0)
    array(-inf, dtype=float32)
    """
    return np.log(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    """``P(X > x)``.

    >>> from s2s.scipy.stats import expon
    >>> expon.sf(0.0)
    array(1., dtype=float32)
    """
    return np.exp(logsf(x, loc, scale))


def logsf(x, loc=0, scale=1):
    """``log P(X > x) = -(x - loc) / scale`` above ``loc``, 0 below.

    >>> from s2s.scipy.stats import expon
    >>> expon.logsf(2.0)
    array(-2., dtype=float32)
    """
    z, _ = _z("logsf", x, loc, scale)
    return -np.maximum(z, 0)


def ppf(q, loc=0, scale=1):
    """The quantile function, ``loc - scale * log1p(-q)``.

    >>> from s2s.scipy.stats import expon
    >>> expon.ppf(0.0)
    array(0., dtype=float32)
    """
    q, loc, scale = promote("expon.ppf", q, loc, scale)
    return np.where((q >= 0) & (q <= 1), loc - scale * np.log1p(-q), np.nan)
