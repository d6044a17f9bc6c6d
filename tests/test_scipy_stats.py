"""s2s.scipy.stats distributions: values against SciPy (float64), gradients against
central differences, jit against eager, and against jax.scipy.stats when installed."""
import numpy as np
import pytest
import scipy.stats as ss

import s2s
from s2s.scipy import stats
from cases import central_grad

X = np.linspace(-1.5, 3.5, 9)
Q = np.linspace(0.05, 0.95, 7)
K = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 5.0, 2.5])

# (distribution, function, points, parameters, points' index in a gradient check or None)
CASES = [
    *[(name, fn, X, params) for name, params in [("expon", (0.5, 2.0)), ("logistic", (0.5, 2.0)),
                                                   ("laplace", (0.5, 2.0)), ("cauchy", (0.5, 2.0)),
                                                   ("uniform", (-0.5, 2.0))]
      for fn in ("logpdf", "pdf", "cdf", "logcdf", "sf", "logsf")
      if hasattr(getattr(stats, name), fn)],
    *[(name, fn, Q, params) for name, params in [("expon", (0.5, 2.0)), ("logistic", (0.5, 2.0)),
                                                   ("cauchy", (0.5, 2.0)), ("uniform", (-0.5, 2.0))]
      for fn in ("ppf", "isf") if hasattr(getattr(stats, name), fn)],
    ("t", "logpdf", X, (3.5, 0.5, 2.0)), ("t", "pdf", X, (1.5,)),
    ("gamma", "logpdf", X, (2.5, -0.5, 2.0)), ("gamma", "pdf", X, (0.7,)),
    ("beta", "logpdf", X, (2.5, 1.5, -1.0, 4.0)), ("beta", "pdf", Q, (0.5, 0.8)),
    ("chi2", "logpdf", X, (3.0, -0.5, 1.5)), ("chi2", "pdf", X, (2.0,)),
    ("poisson", "logpmf", K, (2.5,)), ("poisson", "pmf", K, (0.5, -1.0)),
    ("bernoulli", "logpmf", K, (0.3,)), ("bernoulli", "pmf", K, (0.8,)),
    ("binom", "logpmf", np.array([-1.0, 0, 1, 2, 3, 5, 6]), (5, 0.3)),
    ("binom", "pmf", np.array([0.0, 1, 2]), (4, 0.6, -1.0)),
]


def _ids(cases):
    return [f"{c[0]}.{c[1]}{c[3]}" for c in cases]


@pytest.mark.parametrize("case", CASES, ids=_ids(CASES))
def test_matches_scipy(case, x64):
    name, fn, points, params = case
    ours = getattr(getattr(stats, name), fn)(points, *params)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = getattr(getattr(ss, name), fn)(points, *params)
    np.testing.assert_allclose(ours, ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s2s.jit(getattr(getattr(stats, name), fn))(points, *params), ours,
                               rtol=1e-12, atol=1e-14)


# Gradients where the densities are smooth: every continuous parameter and the point.
GRAD_CASES = [
    ("expon", "logpdf", 1.3, (0.5, 2.0)), ("logistic", "logpdf", 0.3, (0.5, 2.0)),
    ("laplace", "logpdf", 1.7, (0.5, 2.0)), ("cauchy", "cdf", 0.2, (0.5, 2.0)),
    ("t", "logpdf", 0.4, (3.5, 0.5, 2.0)), ("gamma", "logpdf", 1.2, (2.5, -0.5, 2.0)),
    ("beta", "logpdf", 0.6, (2.5, 1.5, -1.0, 4.0)), ("chi2", "logpdf", 1.1, (3.0, -0.5, 1.5)),
    ("poisson", "logpmf", 2.0, (2.5,)), ("bernoulli", "logpmf", 1.0, (0.3,)),
    ("binom", "logpmf", 2.0, (5.0, 0.3)), ("logistic", "ppf", 0.3, (0.5, 2.0)),
]


@pytest.mark.parametrize("case", GRAD_CASES, ids=_ids(GRAD_CASES))
def test_gradients_match_finite_differences(case, x64):
    name, fn, point, params = case
    f = getattr(getattr(stats, name), fn)
    discrete = fn.endswith("pmf")
    args = [np.float64(point), *map(np.float64, params)]
    first = 1 if discrete else 0  # the point of a pmf is an integer: no derivative there
    for i in range(first, len(args)):
        if discrete and name == "binom" and i == 1:
            continue  # n counts trials

        def along(v, i=i):
            return f(*args[:i], v, *args[i + 1:])
        g = s2s.grad(f, argnums=i)(*args)
        np.testing.assert_allclose(g, central_grad(along, np.array(args[i])), rtol=1e-6,
                                   atol=1e-9, err_msg=f"d/d arg {i}")
        np.testing.assert_allclose(s2s.jit(s2s.grad(f, argnums=i))(*args), g, rtol=1e-10)


def test_multivariate_normal_and_dirichlet(x64):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    cov, mean, x = a @ a.T + np.eye(3), rng.normal(size=3), rng.normal(size=(4, 3))
    mvn = stats.multivariate_normal
    np.testing.assert_allclose(mvn.logpdf(x, mean, cov), ss.multivariate_normal.logpdf(x, mean, cov),
                               rtol=1e-10)
    np.testing.assert_allclose(mvn.pdf(x[0], mean, cov), ss.multivariate_normal.pdf(x[0], mean, cov),
                               rtol=1e-10)
    np.testing.assert_allclose(mvn.logpdf(x, mean, 2.0),
                               ss.multivariate_normal.logpdf(x, mean, 2.0 * np.eye(3)), rtol=1e-10)
    g = s2s.grad(lambda m: np.sum(mvn.logpdf(x, m, cov)))(mean)
    np.testing.assert_allclose(g, central_grad(lambda m: np.sum(mvn.logpdf(x, m, cov)), mean),
                               rtol=1e-6)
    gc = s2s.grad(lambda c: mvn.logpdf(x[0], mean, c))(cov)
    fd = central_grad(lambda c: mvn.logpdf(x[0], mean, c), cov)
    # Only the lower triangle reaches Cholesky: compare the symmetric parts.
    np.testing.assert_allclose(gc + gc.T - np.diag(np.diag(gc)), fd + fd.T - np.diag(np.diag(fd)),
                               rtol=1e-5, atol=1e-8)
    alpha = np.array([1.5, 2.0, 3.0])
    xs = rng.dirichlet(alpha, size=4).T
    np.testing.assert_allclose(stats.dirichlet.logpdf(xs, alpha),
                               [ss.dirichlet.logpdf(xs[:, i], alpha) for i in range(4)], rtol=1e-10)
    np.testing.assert_allclose(stats.dirichlet.logpdf(xs[:2], alpha), stats.dirichlet.logpdf(xs, alpha),
                               rtol=1e-10)
    assert stats.dirichlet.logpdf(np.array([0.5, 0.6, -0.1]), alpha) == -np.inf
    ga = s2s.grad(lambda al: stats.dirichlet.logpdf(xs[:, 0], al))(alpha)
    np.testing.assert_allclose(ga, central_grad(lambda al: stats.dirichlet.logpdf(xs[:, 0], al), alpha),
                               rtol=1e-6)


def test_matches_jax():
    jax = pytest.importorskip("jax")
    jstats = jax.scipy.stats
    for name, fn, points, params in CASES:
        jfn = getattr(getattr(jstats, name), fn, None)
        if jfn is None:
            continue
        ours = getattr(getattr(stats, name), fn)(points.astype(np.float32), *params)
        np.testing.assert_allclose(ours, np.asarray(jfn(points.astype(np.float32), *params)),
                                   rtol=2e-5, atol=1e-6, err_msg=f"{name}.{fn}")
