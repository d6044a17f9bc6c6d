"""``scipy.stats.cauchy``: the Cauchy distribution (location ``loc``, scale ``scale``).

>>> from s2s.scipy.stats import cauchy
>>> cauchy.cdf(0.0)
array(0.5, dtype=float32)
"""
import numpy as onp

import s2s.numpy as np
from s2s.scipy.stats._common import promote

__all__ = ["logpdf", "pdf", "cdf", "logcdf", "sf", "logsf", "isf", "ppf"]


def _z(name, x, loc, scale):
    x, loc, scale = promote(f"cauchy.{name}", x, loc, scale)
    return (x - loc) / scale, scale


def logpdf(x, loc=0, scale=1):
    """``-log(pi scale (1 + z^2))`` with ``z = (x - loc) / scale``.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.logpdf(0.0)
    array(-1.1447299, dtype=float32)
    """
    z, scale = _z("logpdf", x, loc, scale)
    return -onp.log(onp.pi) - np.log(scale) - np.log1p(z * z)


def pdf(x, loc=0, scale=1):
    """The Cauchy density at ``x``.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.pdf(0.0)
    array(0.3183..., dtype=float32)
    """
    return np.exp(logpdf(x, loc, scale))


def cdf(x, loc=0, scale=1):
    """``1/2 + arctan(z) / pi``.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.cdf(1.0)
    array(0.75, dtype=float32)
    """
    return 0.5 + np.arctan(_z("cdf", x, loc, scale)[0]) / onp.pi


def logcdf(x, loc=0, scale=1):
    """``log P(X <= x)``.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.logcdf(0.0)
    array(-0.6931472, dtype=float32)
    """
    return np.log(cdf(x, loc, scale))


def sf(x, loc=0, scale=1):
    """``P(X > x)``, computed as the cdf at the reflected point.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.sf(1.0)
    array(0.25, dtype=float32)
    """
    return 0.5 - np.arctan(_z("sf", x, loc, scale)[0]) / onp.pi


def logsf(x, loc=0, scale=1):
    """``log P(X > x)``.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.logsf(0.0)
    array(-0.6931472, dtype=float32)
    """
    return np.log(sf(x, loc, scale))


def ppf(q, loc=0, scale=1):
    """The quantile function, ``loc + scale * tan(pi (q - 1/2))``.

    >>> from s2s.scipy.stats import cauchy
    >>> cauchy.ppf(0.5)
    array(0., dtype=float32)
    """
    q, loc, scale = promote("cauchy.ppf", q, loc, scale)
    return loc + scale * np.tan(onp.pi * (q - 0.5))


def isf(q, loc=0, scale=1):
    """The inverse survival function, ``loc - scale * tan(pi (q - 1/2))``.

    >>> from s2s.scipy.stats import cauchy
    >>> float(cauchy.isf(0.5))
    0.0
    """
    q, loc, scale = promote("cauchy.isf", q, loc, scale)
    return loc - scale * np.tan(onp.pi * (q - 0.5))
