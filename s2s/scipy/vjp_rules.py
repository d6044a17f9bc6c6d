"""Reverse-mode templates of ``s2s.scipy.special`` (``s2s.nn``'s softmax family calls these).

The helpers they call are written on ``s2s.numpy`` (see ``s2s/numpy/_vjp_helpers.py``),
so derivative code stays differentiable.
"""
import s2s.numpy as np
from s2s.core.primitive import d, def_vjp
from s2s.numpy._vjp_helpers import log_softmax_grad, logsumexp_grad, softmax_grad
from s2s.scipy import special

__all__ = []


@def_vjp(special.logsumexp)
def _logsumexp(ans, a, axis=None, b=None, keepdims=False, return_sign=False):
    d[a] = logsumexp_grad(d[ans], ans, a, axis, b, keepdims)
    d[b] = unbroadcast(logsumexp_grad(d[ans], ans, a, axis, None, keepdims), b)


@def_vjp(special.softmax)
def _softmax(ans, x, axis=None):
    d[x] = softmax_grad(d[ans], ans, axis)


@def_vjp(special.log_softmax)
def _log_softmax(ans, x, axis=None):
    d[x] = log_softmax_grad(d[ans], ans, axis)


# ---------------------------------------------------------------------------
# Incomplete gamma and beta, Bessel, zeta, polygamma (helpers: _special_grads).

from s2s.scipy._special_grads import (  # noqa: E402
    beta_da, betainc_dx, gammainc_da_dx, gammainc_dx, i1_dx, i1e_dx, multigammaln_da, zeta_dx_dq)
from s2s.scipy.special import (  # noqa: E402
    _gammainc_da, _no_derivative, _zeta_dx, i0, i1, i1e, polygamma, zeta)


unbroadcast = None  # bound by the transformation


@def_vjp(special.gammainc)
def _gammainc(ans, a, x):
    d[a] = unbroadcast(d[ans] * _gammainc_da(a, x), a)
    d[x] = unbroadcast(d[ans] * gammainc_dx(a, x), x)


@def_vjp(special.gammaincc)
def _gammaincc(ans, a, x):
    d[a] = unbroadcast(-d[ans] * _gammainc_da(a, x), a)
    d[x] = unbroadcast(-d[ans] * gammainc_dx(a, x), x)


@def_vjp(special._gammainc_da)
def _gammainc_da_rule(ans, a, x):
    d[a] = _no_derivative("gammainc", "a twice", "only the first derivative in a exists")
    d[x] = unbroadcast(d[ans] * gammainc_da_dx(a, x), x)


@def_vjp(special.betainc)
def _betainc(ans, a, b, x):
    d[a] = _no_derivative("betainc", "a", "differentiate with respect to x only")
    d[b] = _no_derivative("betainc", "b", "differentiate with respect to x only")
    d[x] = unbroadcast(d[ans] * betainc_dx(a, b, x), x)


@def_vjp(special.beta)
def _beta(ans, a, b):
    d[a] = unbroadcast(d[ans] * beta_da(ans, a, b), a)
    d[b] = unbroadcast(d[ans] * beta_da(ans, b, a), b)


@def_vjp(special.i0)
def _i0(ans, x):
    d[x] = d[ans] * i1(x)


@def_vjp(special.i0e)
def _i0e(ans, x):
    d[x] = d[ans] * (i1e(x) - np.sign(x) * ans)


@def_vjp(special.i1)
def _i1(ans, x):
    d[x] = d[ans] * i1_dx(x, ans)


@def_vjp(special.i1e)
def _i1e(ans, x):
    d[x] = d[ans] * i1e_dx(x, ans)


@def_vjp(special.zeta)
def _zeta(ans, x, q=None):
    d[x] = unbroadcast(d[ans] * _zeta_dx(x, q), x)
    d[q] = unbroadcast(-d[ans] * x * zeta(x + 1, q), q)


@def_vjp(special._zeta_dx)
def _zeta_dx_rule(ans, x, q):
    d[x] = _no_derivative("zeta", "x twice", "only the first derivative in x exists")
    d[q] = unbroadcast(d[ans] * zeta_dx_dq(x, q), q)


@def_vjp(special.polygamma)
def _polygamma(ans, n, x):
    d[n] = _no_derivative("polygamma", "n", "n is an integer order")
    d[x] = unbroadcast(d[ans] * polygamma(n + 1, x), x)


@def_vjp(special._multigammaln)
def _multigammaln_rule(ans, a, dim):
    d[a] = d[ans] * multigammaln_da(a, dim)


# ---------------------------------------------------------------------------
# scipy.linalg.expm: its derivative is the Frechet derivative (an expm of twice the size).

from s2s.scipy.linalg import _expm_adjoint, expm  # noqa: E402


@def_vjp(expm)
def _expm(ans, A):
    d[A] = _expm_adjoint(A, d[ans])
