"""Reverse-mode templates of ``s2s.scipy.special`` (``s2s.nn``'s softmax family calls these).

The helpers they call are written on ``s2s.numpy`` (see ``s2s/numpy/_vjp_helpers.py``),
so derivative code stays differentiable.
"""
from s2s.core.primitive import d, def_vjp
from s2s.numpy._vjp_helpers import log_softmax_grad, logsumexp_grad, softmax_grad
from s2s.scipy import special

__all__ = []


@def_vjp(special.logsumexp)
def _logsumexp(ans, a, axis=None, b=None, keepdims=False, return_sign=False):
    d[a] = logsumexp_grad(d[ans], ans, a, axis, b, keepdims)


@def_vjp(special.softmax)
def _softmax(ans, x, axis=None):
    d[x] = softmax_grad(d[ans], ans, axis)


@def_vjp(special.log_softmax)
def _log_softmax(ans, x, axis=None):
    d[x] = log_softmax_grad(d[ans], ans, axis)
