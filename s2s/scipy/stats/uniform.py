"""``scipy.stats.uniform``: the uniform distribution on ``[loc, loc + scale]``.

>>> from s2s.scipy.stats import uniform
>>> uniform.pdf(0.5)
array(1., dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.stats._common import log_density, promote

__all__ = ["logpdf", "pdf", "cdf", "ppf"]


def logpdf(x, loc=0, scale=1):
    """``-log(scale)`` inside ``[loc, loc + scale]``, ``-inf`` outside.

    >>> from s2s.scipy.stats import uniform
    >>> uniform.logpdf(2.0)
    array(-inf, dtype=float32)
    """
    x, loc, scale = promote("uniform.logpdf", x, loc, scale)
    return log_density((x >= loc) & (x <= loc + scale), -np.log(scale) + 0 * x)


def pdf(x, loc=0, scale=1):
    """The uniform density at ``x``.

    >>> from s2s.scipy.stats import uniform
    >>> uniform.pdf(0.5, scale=2.0)
    array(0.5, dtype=float32)
    """
    return np.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``(x - loc) / scale`` clipped to ``[0, 1]``.

    >>> from s2s.scipy.stats import uniform
    >>> uniform.cdf(0.25)
    array(0.25, dtype=float32)
    """
    x, loc, scale = promote("uniform.cdf", x, loc, scale)
    return np.clip((x - loc) / scale, 0, 1)


def ppf(q, loc=0, scale=1):
    """The quantile function, ``loc + q * scale`` (NaN outside ``[0, 1]``).

    >>> from s2s.scipy.stats import uniform
    >>> uniform.ppf(0.5, loc=1.0)
    array(1.5, dtype=float32)
    """
    q, loc, scale = promote("uniform.ppf", q, loc, scale)
    return np.where((q >= 0) & (q <= 1), loc + q * scale, np.nan)
