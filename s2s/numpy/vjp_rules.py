"""Reverse-mode templates of NumPy-level functions.

They keep generated derivative source at the NumPy level (``np.dot``,
``np.sum``) instead of the lax operations those functions are built on.
"""
import s2s.numpy as np
from s2s.lax.core import d, def_vjp

# Helpers the templates name (bound by the transformation).
unbroadcast = unreduce = reduced_count = dot_grad_lhs = dot_grad_rhs = None
matmul_grad_lhs = matmul_grad_rhs = None


@def_vjp(np.true_divide)
def _true_divide(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] / x2, x1)
    d[x2] = unbroadcast(-d[ans] * ans / x2, x2)


@def_vjp(np.power)
def _power(ans, x1, x2):
    d[x1] = unbroadcast(d[ans] * x2 * x1 ** (x2 - 1), x1)
    d[x2] = unbroadcast(d[ans] * ans * np.log(np.where(x1 == 0, 1, x1)), x2)


@def_vjp(np.positive)
def _positive(ans, x):
    d[x] = d[ans]


@def_vjp(np.dot)
def _dot(ans, a, b):
    d[a] = dot_grad_lhs(d[ans], a, b)
    d[b] = dot_grad_rhs(d[ans], a, b)


@def_vjp(np.matmul)
def _matmul(ans, a, b):
    d[a] = matmul_grad_lhs(d[ans], a, b)
    d[b] = matmul_grad_rhs(d[ans], a, b)


@def_vjp(np.sum)
def _sum(ans, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[ans], a, axis, keepdims)


@def_vjp(np.mean)
def _mean(ans, a, axis=None, dtype=None, out=None, keepdims=False):
    d[a] = unreduce(d[ans] / reduced_count(a, axis), a, axis, keepdims)
