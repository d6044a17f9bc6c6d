"""``checkpoint_name``: the identity, with a name that checkpoint policies can select.

A checkpointed function (``s2s.checkpoint(f, policy=...)``) decides what its reverse
pass keeps from the forward pass by asking the policy about each primitive application
of its body; ``save_only_these_names("h")`` keeps exactly the values passed through
``checkpoint_name(..., "h")``. Every transformation sees the identity (jvp, vjp, vmap;
under jit no op is emitted).
"""
from s2s.core.primitive import Primitive, d, def_jvp, def_vjp, primitive_wrapper

name_p = Primitive("name")
name_p.elementwise = True  # the identity: vmap's elementwise rule batches it
name_p.def_impl(lambda x, *, name: x)
name_p.def_abstract_eval(lambda x, *, name: x)
name_p.def_lower(lambda ctx, x, *, name: x)


@primitive_wrapper(name_p)
def checkpoint_name(x, name):
    """``x``, tagged ``name`` for checkpoint policies (JAX's ``jax.ad_checkpoint.checkpoint_name``).

    >>> from s2s import lax
    >>> lax.checkpoint_name(2.0, "h")
    array(2., dtype=float32)
    """
    if not isinstance(name, str):
        raise TypeError(f"checkpoint_name: the name must be a str, got {type(name).__name__}")
    return name_p.bind(x, name=name)


@def_vjp(checkpoint_name)
def _checkpoint_name_vjp(ans, x, name):
    d[x] = d[ans]


@def_jvp(checkpoint_name)
def _checkpoint_name_jvp(ans, x, name):
    d[ans] = d[x]


public = {"checkpoint_name": checkpoint_name}
