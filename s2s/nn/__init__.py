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
