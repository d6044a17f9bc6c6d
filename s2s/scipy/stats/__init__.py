"""``s2s.scipy.stats``: distributions as modules of functions (``norm.logpdf(x)``).

>>> from s2s.scipy.stats import norm
>>> norm.cdf(0.0)
array(0.5, dtype=float32)
"""
from s2s.scipy.stats import norm  # noqa: F401

__all__ = ["norm"]

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
