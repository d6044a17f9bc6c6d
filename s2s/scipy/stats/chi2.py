"""``scipy.stats.chi2``: the chi-squared distribution with ``df`` degrees of freedom.

>>> from s2s.scipy.stats import chi2
>>> chi2.pdf(0.0, 2.0)
array(0.5, dtype=float32)
"""
import numpy as onp

import s2s.numpy as np
from s2s.scipy.special import gammaln, xlogy
from s2s.scipy.stats._common import log_density, promote, safe

__all__ = ["logpdf", "pdf"]


def logpdf(x, df, loc=0, scale=1):
    """``(df/2 - 1) log y - y/2 - log Gamma(df/2) - (df/2) log 2 - log(scale)`` for ``y >= 0``.

    >>> from s2s.scipy.stats import chi2
    >>> chi2.logpdf(-1.0, 3.0)
    array(-inf, dtype=float32)
    """
    x, df, loc, scale = promote("chi2.logpdf", x, df, loc, scale)
    y = (x - loc) / scale
    inside = y >= 0
    y = safe(inside, y, 1)
    half = df / 2
    return log_density(inside, xlogy(half - 1, y) - y / 2 - gammaln(half) - half * onp.log(2.0)
                       - np.log(scale))


def pdf(x, df, loc=0, scale=1):
    """The chi-squared density at ``x``.

    >>> from s2s.scipy.stats import chi2
    >>> chi2.pdf(2.0, 2.0)
    array(0.18393..., dtype=float32)
    """
    return np.exp(logpdf(x, df, loc, scale))
