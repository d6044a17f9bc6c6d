"""JAX's sharding API: meshes of devices and how arrays are split over them.

>>> import numpy as np, s2s
>>> from s2s.sharding import NamedSharding, PartitionSpec as P
>>> mesh = s2s.make_mesh((s2s.device_count(),), ("batch",))
>>> x = s2s.device_put(np.arange(4.0, dtype=np.float32), NamedSharding(mesh, P("batch")))
>>> x.sharding.spec
PartitionSpec('batch')
>>> np.asarray(s2s.jit(lambda x: x * 2)(x))
array([0., 2., 4., 6.], dtype=float32)
"""
from s2s.xla.sharding import (  # noqa: F401
    P, GSPMDSharding, Mesh, NamedSharding, PartitionSpec, Sharding, make_mesh)
from s2s.xla.spmd import Shard, ShardedArray  # noqa: F401

__all__ = ["P", "GSPMDSharding", "Mesh", "NamedSharding", "PartitionSpec", "Sharding", "Shard",
           "ShardedArray", "make_mesh"]
