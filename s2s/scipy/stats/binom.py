"""``scipy.stats.binom``: the number of successes in ``n`` trials of probability ``p``.

>>> from s2s.scipy.stats import binom
>>> binom.pmf(1, 2, 0.5)
array(0.5, dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.special import gammaln, xlog1py, xlogy
from s2s.scipy.stats._common import log_density, promote, safe

__all__ = ["logpmf", "pmf"]


def logpmf(k, n, p, loc=0):
    """``log C(n, k) + k log p + (n - k) log(1 - p)`` for ``0 <= k - loc <= n``.

    >>> from s2s.scipy.stats import binom
    >>> binom.logpmf(3, 2, 0.5)
    array(-inf, dtype=float32)
    """
    k, n, p, loc = promote("binom.logpmf", k, n, p, loc)
    y = k - loc
    inside = (y >= 0) & (y <= n)
    y = safe(inside, y, 0)
    log_choose = gammaln(n + 1) - gammaln(y + 1) - gammaln(n - y + 1)
    return log_density(inside, log_choose + xlogy(y, p) + xlog1py(n - y, -p))


def pmf(k, n, p, loc=0):
    """``P(X = k)``.

    >>> from s2s.scipy.stats import binom
    >>> binom.pmf(0, 2, 0.5)
    array(0.25, dtype=float32)
    """
    return np.exp(logpmf(k, n, p, loc))
