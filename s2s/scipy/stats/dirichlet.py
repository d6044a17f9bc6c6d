"""``scipy.stats.dirichlet``: distributions on the simplex with concentrations ``alpha``.

``x`` has the categories on its first axis (shape ``(K, ...)``), as in SciPy and
JAX; it may omit the last category, which is then ``1 - sum(x)``.

>>> import numpy as np
>>> from s2s.scipy.stats import dirichlet
>>> dirichlet.pdf(np.array([0.5, 0.5]), np.ones(2))
array(1., dtype=float32)
"""
import s2s.numpy as np
from s2s.scipy.special import gammaln, xlogy
from s2s.scipy.stats._common import log_density, promote

__all__ = ["logpdf", "pdf"]


def logpdf(x, alpha):
    """``sum((alpha - 1) log x) - log B(alpha)`` on the simplex, ``-inf`` off it.

    >>> import numpy as np
    >>> from s2s.scipy.stats import dirichlet
    >>> dirichlet.logpdf(np.array([0.2, 0.3, 0.5]), np.array([1.0, 2.0, 3.0]))
    array(1.504077..., dtype=float32)
    """
    x, alpha = promote("dirichlet.logpdf", x, alpha, broadcast=False)
    if np.ndim(alpha) != 1:
        raise ValueError(f"dirichlet.logpdf: alpha must be one-dimensional, got shape "
                         f"{np.shape(alpha)}")
    k = np.shape(alpha)[0]
    if np.shape(x)[0] not in (k, k - 1):
        raise ValueError(f"dirichlet.logpdf: x must have {k} or {k - 1} entries on its first "
                         f"axis for alpha of shape {np.shape(alpha)}, got shape {np.shape(x)}")
    if np.shape(x)[0] == k - 1:
        x = np.concatenate([x, 1 - np.sum(x, axis=0, keepdims=True)], axis=0)
    a = np.reshape(alpha, (k,) + (1,) * (np.ndim(x) - 1))
    normalizer = np.sum(gammaln(alpha)) - gammaln(np.sum(alpha))
    on_simplex = np.all(x > 0, axis=0) & (np.abs(np.sum(x, axis=0) - 1) < 1e-6)
    return log_density(on_simplex, np.sum(xlogy(a - 1, x), axis=0) - normalizer)


def pdf(x, alpha):
    """The Dirichlet density at ``x``.

    >>> import numpy as np
    >>> from s2s.scipy.stats import dirichlet
    >>> dirichlet.pdf(np.array([0.5]), np.array([2.0, 2.0]))
    array(1.5, dtype=float32)
    """
    return np.exp(logpdf(x, alpha))
