"""``scipy.stats.gamma``: the gamma distribution with shape ``a``.

>>> from s2s.scipy.stats import gamma
>>> gamma.pdf(1.0, 1.0)
array(0.367879..., dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.special import gammaln, xlogy
from s2s.scipy.stats._common import log_density, promote, safe

__all__ = ["logpdf", "pdf"]


def logpdf(x, a, loc=0, scale=1):
    """``(a - 1) log y - y - log Gamma(a) - log(scale)`` for ``y = (x - loc) / scale >= 0``.

    >>> from s2s.scipy.stats import gamma
    >>> gamma.logpdf(-1.0, 2.0)
    array(-inf, dtype=float32)
    """
    x, a, loc, scale = promote("gamma.logpdf", x, a, loc, scale)
    y = (x - loc) / scale
    inside = y >= 0
    y = safe(inside, y, 1)
    return log_density(inside, xlogy(a - 1, y) - y - gammaln(a) - np.log(scale))


def pdf(x, a, loc=0, scale=1):
    """The gamma density at ``x``.

    >>> from s2s.scipy.stats import gamma
    >>> gamma.pdf(0.5, 1.0, scale=0.5)
    array(0.735758..., dtype=float32)
    """
    return np.exp(logpdf(x, a, loc, scale))
