"""``s2s.scipy.stats``: distributions as modules of functions (``norm.logpdf(x)``).

The distributions of ``jax.scipy.stats`` (``norm``, ``t``, ``expon``, ``gamma``,
``beta``, ``chi2``, ``poisson``, ...), with SciPy's parameters; each function
broadcasts its arguments, differentiates and runs under ``jit``.

>>> from s2s.scipy.stats import norm
>>> norm.cdf(0.0)
array(0.5, dtype=float32)
"""
from s2s.scipy.stats import (bernoulli, beta, binom, cauchy, chi2, dirichlet, expon,  # noqa: F401
                             gamma, laplace, logistic, multivariate_normal, norm, poisson, t,
                             uniform)

__all__ = ["bernoulli", "beta", "binom", "cauchy", "chi2", "dirichlet", "expon", "gamma",
           "laplace", "logistic", "multivariate_normal", "norm", "poisson", "t", "uniform"]
