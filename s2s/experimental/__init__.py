"""``s2s.experimental``: where older JAX code imports ``stax`` and ``optimizers`` from.

``s2s.experimental.stax`` is the same module object as ``s2s.example_libraries.stax``
(and likewise ``optimizers``), so ``import s2s.experimental.stax`` works too.

>>> from s2s.experimental import stax
>>> import s2s.example_libraries
>>> stax is s2s.example_libraries.stax
True
"""
import sys

from s2s.example_libraries import optimizers, stax

__all__ = ["optimizers", "stax"]

# Registered as submodules so that ``import s2s.experimental.stax`` finds them.
sys.modules[__name__ + ".stax"] = stax
sys.modules[__name__ + ".optimizers"] = optimizers
