"""``with_sharding_constraint``: tell XLA's SPMD partitioner how a value is laid out.

Under ``jit`` the value passes through a ``stablehlo.custom_call @Sharding``
carrying the sharding (``mhlo.sharding``), which XLA's partitioner honours and
propagates from; eagerly it is the identity (eager values live on the host).
"""
from s2s.core.primitive import d, def_jvp, def_vjp, Primitive, primitive_wrapper
from s2s.core.tree_util import tree_flatten, tree_unflatten

sharding_constraint_p = Primitive("sharding_constraint")
sharding_constraint_p.def_impl(lambda x, *, sharding: x)
sharding_constraint_p.def_abstract_eval(lambda x, *, sharding: x)


@sharding_constraint_p.def_lower
def _lower(ctx, x, *, sharding):
    # The computation runs on the sharding's devices: jit reads them from here.
    ctx.builder.shardings.append(sharding)
    text = sharding.mlir_sharding(len(ctx.avals_in[0].shape)).replace('"', '\\"')
    return ctx.op1("stablehlo.custom_call", [x], attrs={
        "call_target_name": '"Sharding"',
        "mhlo.sharding": f'"{text}"',
    })


@primitive_wrapper(sharding_constraint_p)
def with_sharding_constraint(x, shardings):
    """``x`` (a pytree), laid out under jit as ``shardings`` says (one, or one per leaf).

    >>> import numpy as np
    >>> from s2s import lax, sharding
    >>> mesh = sharding.make_mesh((1,), ("batch",))
    >>> lax.with_sharding_constraint(np.ones(2), sharding.NamedSharding(mesh, sharding.P("batch")))
    array([1., 1.], dtype=float32)
    """
    leaves, tree = tree_flatten(x)
    if hasattr(shardings, "mlir_sharding"):
        per_leaf = [shardings] * len(leaves)
    else:
        per_leaf, sharding_tree = tree_flatten(shardings, is_leaf=lambda s: s is None)
        if sharding_tree != tree:
            raise ValueError(f"with_sharding_constraint: shardings {sharding_tree} do not match "
                             f"the value's structure {tree}; pass one sharding or one per leaf")
    out = [leaf if s is None else sharding_constraint_p.bind(leaf, sharding=s)
           for leaf, s in zip(leaves, per_leaf)]
    return tree_unflatten(tree, out)




@def_vjp(with_sharding_constraint)
def _with_sharding_constraint(ans, x, shardings):
    d[x] = d[ans]


@def_jvp(with_sharding_constraint)
def _with_sharding_constraint_jvp(ans, x, shardings):
    d[ans] = d[x]


public = {"with_sharding_constraint": with_sharding_constraint}
