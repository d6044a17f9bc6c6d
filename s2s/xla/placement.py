"""Where a jit computation's arguments and results live: one sharding per flat leaf.

``jit(f, in_shardings=..., out_shardings=...)`` takes shardings as JAX does: one
sharding for every leaf, or a pytree prefix of the arguments (a tuple with one
entry per positional argument) or of the result, ``None`` meaning "as the
argument is" (a ``ShardedArray`` keeps its sharding, a host array is copied to
every device) or, for results, "as XLA's sharding propagation decides".

>>> plan_leaves(None, (0, (1, 2)), 3)
[None, None, None]
"""
from s2s.tree_util import tree_leaves
from s2s.xla import spmd
from s2s.xla.sharding import Sharding


def plan_leaves(prefix, index_tree, count):
    """Per-leaf shardings from ``prefix`` over ``index_tree`` (a pytree of leaf indices)."""
    out = [None] * count
    _broadcast(prefix, index_tree, out, ())
    return out


def _broadcast(prefix, tree, out, path):
    if prefix is None or isinstance(prefix, Sharding):
        for i in tree_leaves(tree):
            out[i] = prefix
        return
    if isinstance(prefix, (tuple, list)) and isinstance(tree, (tuple, list)) \
            and len(prefix) == len(tree):
        for k, (p, t) in enumerate(zip(prefix, tree)):
            _broadcast(p, t, out, path + (k,))
        return
    if isinstance(prefix, dict) and isinstance(tree, dict) and set(prefix) <= set(tree):
        for k, t in tree.items():
            _broadcast(prefix.get(k), t, out, path + (k,))
        return
    where = "".join(f"[{k!r}]" for k in path) or "the top level"
    raise ValueError(f"shardings do not match the values at {where}: got {type(prefix).__name__} "
                     f"{prefix!r} for {tree!r}; give one sharding (or None) per argument, or a "
                     "pytree of shardings with the argument's structure")


class Placement:
    """Shardings of every argument (explicit, then lifted captured arrays) and result."""

    def __init__(self, in_shardings, out_shardings, devices):
        self.in_shardings = in_shardings
        self.out_shardings = out_shardings
        self.devices = devices  # the device assignment, in the meshes' order


def plan(in_prefix, out_prefix, args_index_tree, arg_shardings, n_lifted, out_index_tree,
         n_out, constraint_shardings=()):
    """The ``Placement`` of a computation, or None when it runs on one device.

    ``args_index_tree``: the positional arguments as a pytree of leaf indices;
    ``arg_shardings``: the sharding each argument leaf already has (or None).
    """
    n_args = len(arg_shardings)
    explicit_in = plan_leaves(in_prefix, args_index_tree, n_args) if in_prefix is not None \
        else [None] * n_args
    outs = plan_leaves(out_prefix, out_index_tree, n_out)
    known = [s for s in list(explicit_in) + list(arg_shardings) + outs + list(constraint_shardings)
             if s is not None]
    if not known:
        return None
    devices = spmd.common_devices(known)
    everywhere = spmd.replicated(devices)
    ins = [e if e is not None else a if a is not None else everywhere
           for e, a in zip(explicit_in, arg_shardings)]
    return Placement(ins + [everywhere] * n_lifted, outs, devices)
