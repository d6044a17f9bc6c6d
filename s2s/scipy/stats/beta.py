"""``scipy.stats.beta``: the beta distribution with shapes ``a`` and ``b`` on ``[loc, loc + scale]``.

>>> from s2s.scipy.stats import beta
>>> beta.pdf(0.5, 1.0, 1.0)
array(1., dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.special import betaln, xlog1py, xlogy
from s2s.scipy.stats._common import log_density, promote, safe

__all__ = ["logpdf", "pdf"]


def logpdf(x, a, b, loc=0, scale=1):
    """``(a-1) log y + (b-1) log(1-y) - log B(a, b) - log(scale)`` on ``0 <= y <= 1``.

    >>> from s2s.scipy.stats import beta
    >>> beta.logpdf(1.5, 2.0, 2.0)
    array(-inf, dtype=float32)
    """
    x, a, b, loc, scale = promote("beta.logpdf", x, a, b, loc, scale)
    y = (x - loc) / scale
    inside = (y >= 0) & (y <= 1)
    y = safe(inside, y, 0.5)
    return log_density(inside, xlogy(a - 1, y) + xlog1py(b - 1, -y) - betaln(a, b) - np.log(scale))


def pdf(x, a, b, loc=0, scale=1):
    """The beta density at ``x``.

    >>> from s2s.scipy.stats import beta
    >>> beta.pdf(0.5, 2.0, 2.0)
    array(1.5, dtype=float32)
    """
    return np.exp(logpdf(x, a, b, loc, scale))
