"""``scipy.stats.laplace``: the Laplace (double exponential) distribution.

>>> from s2s.scipy.stats import laplace
>>> laplace.cdf(0.0)
array(0.5, dtype=float32)
"""
import numpy as onp

import s2s.numpy as np
from s2s.scipy.stats._common import promote

__all__ = ["logpdf", "pdf", "cdf"]


def logpdf(x, loc=0, scale=1):
    """``-log(2 scale) - |x - loc| / scale``.

    >>> from s2s.scipy.stats import laplace
    >>> laplace.logpdf(0.0)
    array(-0.6931472, dtype=float32)
    """
    x, loc, scale = promote("laplace.logpdf", x, loc, scale)
    return -onp.log(2.0) - np.log(scale) - np.abs(x - loc) / scale


def pdf(x, loc=0, scale=1):
    """The Laplace density at ``x``.

    >>> from s2s.scipy.stats import laplace
    >>> laplace.pdf(0.0)
    array(0.5, dtype=float32)
    """
    return np.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``P(X <= x)``: ``exp(z) / 2`` below ``loc``, ``1 - exp(-z) / 2`` above.

    >>> from s2s.scipy.stats import laplace
    >>> laplace.cdf(1e9)
    array(1., dtype=float32)
    """
    x, loc, scale = promote("laplace.cdf", x, loc, scale)
    z = (x - loc) / scale
    half = 0.5 * np.exp(-np.abs(z))
    return np.where(z <= 0, half, 1 - half)
