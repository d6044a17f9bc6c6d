"""``s2s.example_libraries``: ``stax`` (layers) and ``optimizers``, as in ``jax.example_libraries``.

Small libraries written on s2s's public API, so that code written against
``jax.example_libraries`` runs by changing its imports; parameters are the same
as JAX's for the same key.

>>> from s2s.example_libraries import stax, optimizers
>>> init, apply = stax.serial(stax.Dense(3), stax.Relu)
>>> opt_init, opt_update, get_params = optimizers.sgd(0.1)
"""
from s2s.example_libraries import optimizers, stax  # noqa: F401

__all__ = ["optimizers", "stax"]
