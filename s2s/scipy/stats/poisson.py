"""``scipy.stats.poisson``: the Poisson distribution with mean ``mu``.

>>> from s2s.scipy.stats import poisson
>>> poisson.pmf(0, 1.0)
array(0.367879..., dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.special import gammaln, xlogy
from s2s.scipy.stats._common import log_density, promote, safe

__all__ = ["logpmf", "pmf"]


def logpmf(k, mu, loc=0):
    """``k log(mu) - log(k!) - mu`` at non-negative integers ``k - loc``, ``-inf`` elsewhere.

    >>> from s2s.scipy.stats import poisson
    >>> poisson.logpmf(1.5, 1.0)
    array(-inf, dtype=float32)
    """
    k, mu, loc = promote("poisson.logpmf", k, mu, loc)
    x = k - loc
    inside = (x >= 0) & (x == np.round(x))
    x = safe(inside, x, 0)
    return log_density(inside, xlogy(x, mu) - gammaln(x + 1) - mu)


def pmf(k, mu, loc=0):
    """``P(X = k)``.

    >>> from s2s.scipy.stats import poisson
    >>> poisson.pmf(2, 2.0)
    array(0.270670..., dtype=float32)
    """
    return np.exp(logpmf(k, mu, loc))
