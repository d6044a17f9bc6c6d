"""``scipy.stats.bernoulli``: a coin that shows 1 with probability ``p``.

>>> from s2s.scipy.stats import bernoulli
>>> bernoulli.pmf(1, 0.25)
array(0.25, dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.special import xlog1py, xlogy
from s2s.scipy.stats._common import log_density, promote, safe

__all__ = ["logpmf", "pmf"]


def logpmf(k, p, loc=0):
    """``k log p + (1 - k) log(1 - p)`` at ``k - loc`` in ``{0, 1}``, ``-inf`` elsewhere.

    >>> from s2s.scipy.stats import bernoulli
    >>> bernoulli.logpmf(2, 0.5)
    array(-inf, dtype=float32)
    """
    k, p, loc = promote("bernoulli.logpmf", k, p, loc)
    x = k - loc
    inside = (x == 0) | (x == 1)
    x = safe(inside, x, 0)
    return log_density(inside, xlogy(x, p) + xlog1py(1 - x, -p))


def pmf(k, p, loc=0):
    """``P(X = k)``.

    >>> from s2s.scipy.stats import bernoulli
    >>> bernoulli.pmf(0, 0.25)
    array(0.75, dtype=float32)
    """
    return np.exp(logpmf(k, p, loc))
