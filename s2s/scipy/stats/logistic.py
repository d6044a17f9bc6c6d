"""``scipy.stats.logistic``: the logistic distribution (location ``loc``, scale ``scale``).

>>> from s2s.scipy.stats import logistic
>>> logistic.cdf(0.0)
array(0.5, dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy import special
from s2s.scipy.stats._common import promote

__all__ = ["logpdf", "pdf", "cdf", "sf", "isf", "ppf"]


def _z(name, x, loc, scale):
    x, loc, scale = promote(f"logistic.{name}", x, loc, scale)
    return (x - loc) / scale, scale


def logpdf(x, loc=0, scale=1):
    """``-|z| - 2 log1p(exp(-|z|)) - log(scale)`` with ``z = (x - loc) / scale``.

    >>> from s2s.scipy.stats import logistic
    >>> logistic.logpdf(0.0)
    array(-1.3862944, dtype=float32)
    """
    z, scale = _z("logpdf", x, loc, scale)
    a = np.abs(z)
    return -a - 2 * np.log1p(np.exp(-a)) - np.log(scale)


def pdf(x, loc=0, scale=1):
    """The logistic density at ``x``.

    >>> from s2s.scipy.stats import logistic
    >>> logistic.pdf(0.0)
    array(0.25, dtype=float32)
    """
    return np.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``expit((x - loc) / scale)``.

    >>> from s2s.scipy.stats import logistic
    >>> logistic.cdf(0.0, loc=1.0, scale=1e-3) < 1e-6
    array(True)
    """
    return special.expit(_z("cdf", x, loc, scale)[0])


def sf(x, loc=0, scale=1):
    """``expit(-(x - loc) / scale)``.

    >>> from s2s.scipy.stats import logistic
    >>> logistic.sf(0.0)
    array(0.5, dtype=float32)
    """
    return special.expit(-_z("sf", x, loc, scale)[0])


def ppf(x, loc=0, scale=1):
    """The quantile function, ``loc + scale * logit(q)``.

    >>> from s2s.scipy.stats import logistic
    >>> logistic.ppf(0.5)
    array(0., dtype=float32)
    """
    q, loc, scale = promote("logistic.ppf", x, loc, scale)
    return loc + scale * special.logit(q)


def isf(x, loc=0, scale=1):
    """The inverse survival function, ``loc - scale * logit(q)``.

    >>> from s2s.scipy.stats import logistic
    >>> float(logistic.isf(0.5))
    0.0
    """
    q, loc, scale = promote("logistic.isf", x, loc, scale)
    return loc - scale * special.logit(q)
