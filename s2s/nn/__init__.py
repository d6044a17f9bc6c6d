"""``s2s.nn``: neural-network building blocks with ``jax.nn``'s names and semantics.

Activation functions, ``softmax``/``log_softmax``/``logsumexp``, ``one_hot`` and
``standardize`` live here; parameter initializers in ``s2s.nn.initializers``.

>>> from s2s import nn
>>> nn.one_hot([1], 2)
array([[0., 1.]], dtype=float32)
"""
from s2s.nn.functions import *  # noqa: F401,F403
from s2s.nn.functions import __all__  # noqa: F401
from s2s.nn import initializers  # noqa: F401,E402

__all__ = __all__ + ["initializers"]  # noqa: F405

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
