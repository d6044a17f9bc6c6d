"""``s2s.ad_checkpoint``: JAX's ``jax.ad_checkpoint`` (checkpoint, names, policies).

>>> import s2s, s2s.numpy as np
>>> from s2s.ad_checkpoint import checkpoint, checkpoint_name, checkpoint_policies
>>> def block(x):
...     h = checkpoint_name(np.sin(x), "h")
...     return np.sin(h)
>>> f = checkpoint(block, policy=checkpoint_policies.save_only_these_names("h"))
>>> s2s.grad(f)(0.5)
array(0.7786439, dtype=float32)
>>> print(remat_source(f, 0.5).splitlines()[1])   # the backward pass reads h, saved
    t1, = saved
"""
from s2s import checkpoint_policies
from s2s.checkpoint_remat import remat_source
from s2s.custom_derivatives import checkpoint, remat
from s2s.core.public import public_namespace as _public_namespace
from s2s.lax.ad_checkpoint import checkpoint_name

__all__ = ["checkpoint", "checkpoint_name", "checkpoint_policies", "remat", "remat_source"]
_public_namespace(globals())
