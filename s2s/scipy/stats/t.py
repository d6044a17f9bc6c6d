"""``scipy.stats.t``: Student's t distribution with ``df`` degrees of freedom.

>>> from s2s.scipy.stats import t
>>> t.pdf(0.0, 1.0)
array(0.3183..., dtype=float32)
"""
import numpy as onp

import s2s.numpy as np
from s2s.scipy.special import gammaln
from s2s.scipy.stats._common import promote

__all__ = ["logpdf", "pdf"]


def logpdf(x, df, loc=0, scale=1):
    """``log Gamma((df+1)/2) - log Gamma(df/2) - log(sqrt(df pi) scale) - (df+1)/2 log1p(z^2/df)``.

    >>> from s2s.scipy.stats import t
    >>> t.logpdf(0.0, 1.0)
    array(-1.14472..., dtype=float32)
    """
    x, df, loc, scale = promote("t.logpdf", x, df, loc, scale)
    z = (x - loc) / scale
    half = (df + 1) / 2
    normalizer = gammaln(half) - gammaln(df / 2) - 0.5 * np.log(df * onp.pi) - np.log(scale)
    return normalizer - half * np.log1p(z * z / df)


def pdf(x, df, loc=0, scale=1):
    """The t density at ``x``.

    >>> from s2s.scipy.stats import t
    >>> t.pdf(0.0, 4.0)
    array(0.37..., dtype=float32)
    """
    return np.exp(logpdf(x, df, loc, scale))
