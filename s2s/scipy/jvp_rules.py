"""Forward-mode templates of ``s2s.scipy.special`` (mirroring ``vjp_rules.py``).

``d[ans]`` is a sum of one term per operand; an operand without a tangent is a
symbolic zero and its term is dropped, so a function with no derivative in some
argument raises only when that argument carries a tangent.
"""
import s2s.numpy as np
from s2s.core.primitive import d, def_jvp
from s2s.scipy import special
from s2s.scipy.linalg import _expm_frechet, expm

__all__ = []

from s2s.scipy._special_grads import (
    beta_da, betainc_dx, gammainc_da_dx, gammainc_dx, i1_dx, i1e_dx, multigammaln_da, zeta_dx_dq)
from s2s.scipy.special import (
    _gammainc_da, _no_derivative, _zeta_dx, i0, i1, i1e, polygamma, zeta)



@def_jvp(special.gammainc)
def _gammainc(ans, a, x):
    d[ans] = d[a] * _gammainc_da(a, x) + d[x] * gammainc_dx(a, x)


@def_jvp(special.gammaincc)
def _gammaincc(ans, a, x):
    d[ans] = -(d[a] * _gammainc_da(a, x) + d[x] * gammainc_dx(a, x))


@def_jvp(special._gammainc_da)
def _gammainc_da_rule(ans, a, x):
    d[ans] = (d[a] * _no_derivative("gammainc", "a twice", "only the first derivative in a exists")
              + d[x] * gammainc_da_dx(a, x))


@def_jvp(special.betainc)
def _betainc(ans, a, b, x):
    d[ans] = (d[a] * _no_derivative("betainc", "a", "differentiate with respect to x only")
              + d[b] * _no_derivative("betainc", "b", "differentiate with respect to x only")
              + d[x] * betainc_dx(a, b, x))


@def_jvp(special.beta)
def _beta(ans, a, b):
    d[ans] = d[a] * beta_da(ans, a, b) + d[b] * beta_da(ans, b, a)


@def_jvp(special.i0)
def _i0(ans, x):
    d[ans] = d[x] * i1(x)


@def_jvp(special.i0e)
def _i0e(ans, x):
    d[ans] = d[x] * (i1e(x) - np.sign(x) * ans)


@def_jvp(special.i1)
def _i1(ans, x):
    d[ans] = d[x] * i1_dx(x, ans)


@def_jvp(special.i1e)
def _i1e(ans, x):
    d[ans] = d[x] * i1e_dx(x, ans)


@def_jvp(special.zeta)
def _zeta(ans, x, q=None):
    d[ans] = d[x] * _zeta_dx(x, q) - d[q] * x * zeta(x + 1, q)


@def_jvp(special._zeta_dx)
def _zeta_dx_rule(ans, x, q):
    d[ans] = (d[x] * _no_derivative("zeta", "x twice", "only the first derivative in x exists")
              + d[q] * zeta_dx_dq(x, q))


@def_jvp(special.polygamma)
def _polygamma(ans, n, x):
    d[ans] = (d[n] * _no_derivative("polygamma", "n", "n is an integer order")
              + d[x] * polygamma(n + 1, x))


@def_jvp(special._multigammaln)
def _multigammaln_rule(ans, a, dim):
    d[ans] = d[a] * multigammaln_da(a, dim)


@def_jvp(expm)
def _expm(ans, A):
    d[ans] = _expm_frechet(A, d[A])


# ---------------------------------------------------------------------------
# logsumexp and the softmax family (the transposes of vjp_rules.py's adjoints).

from s2s.numpy._vjp_helpers import logsumexp_tangent, signed_tangent  # noqa: E402


@def_jvp(special.logsumexp)
def _logsumexp(ans, a, axis=None, b=None, keepdims=False, return_sign=False):
    if return_sign:
        d[ans] = signed_tangent(logsumexp_tangent(d[a], ans[0], a, axis=axis, b=b, keepdims=keepdims)
                                + logsumexp_tangent(d[b], ans[0], a, axis=axis, keepdims=keepdims), ans)
    else:
        d[ans] = logsumexp_tangent(d[a], ans, a, axis=axis, b=b, keepdims=keepdims) \
            + logsumexp_tangent(d[b], ans, a, axis=axis, keepdims=keepdims)


@def_jvp(special.softmax)
def _softmax(ans, x, axis=None):
    d[ans] = ans * (d[x] - np.sum(d[x] * ans, axis=axis, keepdims=True))


@def_jvp(special.log_softmax)
def _log_softmax(ans, x, axis=None):
    d[ans] = d[x] - np.sum(np.exp(ans) * d[x], axis=axis, keepdims=True)
