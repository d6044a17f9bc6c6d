"""``scipy.stats.multivariate_normal``: the normal distribution of vectors.

``x`` has shape ``(..., n)``; ``mean`` ``(n,)`` and ``cov`` ``(n, n)`` (or scalars).

>>> import numpy as np
>>> from s2s.scipy.stats import multivariate_normal
>>> multivariate_normal.logpdf(np.zeros(2), np.zeros(2), np.eye(2))
array(-1.837877, dtype=float32)
"""
import numpy as onp

import s2s.numpy as np
from s2s.scipy.stats._common import promote

__all__ = ["logpdf", "pdf"]


def logpdf(x, mean, cov, allow_singular=None):
    """``-(n log 2 pi + log det cov + (x - mean)' cov^-1 (x - mean)) / 2``, by Cholesky.

    >>> from s2s.scipy.stats import multivariate_normal
    >>> multivariate_normal.logpdf(1.0, 0.0, 1.0)
    array(-1.4189385, dtype=float32)
    """
    if allow_singular is not None:
        raise NotImplementedError("multivariate_normal.logpdf: allow_singular is not supported")
    x, mean, cov = promote("multivariate_normal.logpdf", x, mean, cov, broadcast=False)
    if np.ndim(mean) == 0:
        return -0.5 * np.square(x - mean) / cov - 0.5 * (onp.log(2 * onp.pi) + np.log(cov))
    n = np.shape(mean)[-1]
    y = x - mean
    if np.ndim(cov) == 0:
        return -0.5 * np.sum(y * y, axis=-1) / cov - n / 2 * (onp.log(2 * onp.pi) + np.log(cov))
    if np.ndim(cov) != 2 or np.shape(cov) != (n, n):
        raise ValueError(f"multivariate_normal.logpdf: cov must have shape ({n}, {n}) for a mean "
                         f"of shape {np.shape(mean)}, got {np.shape(cov)}")
    chol = np.linalg.cholesky(cov)
    rows = np.reshape(y, (-1, n))
    # Whitened residuals: L z = y for every row at once (rows become columns).
    z = np.linalg.solve(chol, np.transpose(rows))
    quadratic = np.reshape(np.sum(z * z, axis=0), np.shape(y)[:-1])
    log_det = 2 * np.sum(np.log(np.diagonal(chol)))
    return -0.5 * quadratic - 0.5 * log_det - n / 2 * onp.log(2 * onp.pi)


def pdf(x, mean, cov):
    """The multivariate normal density at ``x``.

    >>> from s2s.scipy.stats import multivariate_normal
    >>> multivariate_normal.pdf(0.0, 0.0, 1.0)
    array(0.3989423, dtype=float32)
    """
    return np.exp(logpdf(x, mean, cov))
