"""Derivative helpers of ``s2s.scipy.special``'s templates (``vjp_rules.py``, ``jvp_rules.py``).

Written on ``s2s.numpy`` and ``special`` itself, so derivative code that calls them
is differentiable again (s2s reads their source like user code) and stages under
``jit``. Each is the partial derivative of one function in one argument.

>>> import numpy as onp
>>> float(i1_dx(onp.float64(0.0), onp.float64(0.0)))
0.5
"""
import s2s.numpy as np
from s2s.scipy import special

__all__ = []


def gammainc_dx(a, x):
    """``dP(a, x) / dx = x**(a-1) exp(-x) / Gamma(a)`` (0 at ``x = 0`` unless ``a <= 1``)."""
    return np.exp(special.xlogy(a - 1, x) - x - special.gammaln(a))


def gammainc_da_dx(a, x):
    """``d/dx dP(a, x)/da = dP/dx * (log x - digamma(a))``."""
    return gammainc_dx(a, x) * (np.log(x) - special.digamma(a))


def betainc_dx(a, b, x):
    """``d I_x(a, b) / dx = x**(a-1) (1-x)**(b-1) / B(a, b)``."""
    return np.exp(special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b))


def beta_da(ans, a, b):
    """``d beta(a, b) / da = beta(a, b) (digamma(a) - digamma(a + b))``."""
    return ans * (special.digamma(a) - special.digamma(a + b))


def i1_dx(x, ans):
    """``d i1(x) / dx = i0(x) - i1(x) / x`` (1/2 at 0)."""
    zero = x == 0
    return np.where(zero, 0.5, special.i0(x) - ans / np.where(zero, 1.0, x))


def i1e_dx(x, ans):
    """``d i1e(x) / dx = i0e(x) - i1e(x) (sign(x) + 1 / x)`` (1/2 at 0)."""
    zero = x == 0
    return np.where(zero, 0.5, special.i0e(x) - ans * (np.sign(x) + 1.0 / np.where(zero, 1.0, x)))


def multigammaln_da(a, d):
    """``d multigammaln(a, d) / da = sum_{j<d} digamma(a - j / 2)``."""
    return np.sum(special.digamma(np.expand_dims(a, -1) - np.arange(d) / 2), axis=-1)


def zeta_dx_dq(x, q):
    """``d/dq d zeta(x, q)/dx = -zeta(x + 1, q) - x d zeta(x + 1, q)/dx``."""
    return -special.zeta(x + 1, q) - x * special._zeta_dx(x + 1, q)
