"""s2s: composable transformations of Python+NumPy functions, as readable source.

>>> import s2s
>>> import s2s.numpy as np
>>> s2s.jit(lambda x: x * 2.0)(np.ones(2))
array([2., 2.], dtype=float32)
"""
import os as _os

# jaxlib logs device discovery at INFO level on first use; keep user output clean.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import sys as _sys  # noqa: E402

from s2s.core import config as _config_module, dtypes, errors, tree_util  # noqa: E402

# The public names of core modules, as in JAX (jax.dtypes, jax.errors, jax.tree_util):
# `import s2s.errors` and `from s2s.core.tree_util import tree_map` find them here.
for _name, _module in (("config", _config_module), ("dtypes", dtypes), ("errors", errors),
                       ("tree_util", tree_util)):
    _sys.modules[f"{__name__}.{_name}"] = _module
del _name, _module

from s2s.core.config import config, disable_jit  # noqa: F401,E402
from s2s.core.array import Array  # noqa: F401,E402
from s2s import numpy as _numpy  # noqa: F401  (installs array methods on tracers)
from s2s.api import jit, grad, value_and_grad, vjp, source, device_put  # noqa: F401
from s2s.api import vmap  # noqa: F401,E402
from s2s import debug  # noqa: F401,E402
# Devices (s2s/xla): several CPU devices, XLA's SPMD partitioner, several processes, GPUs.
from s2s.xla.runtime import (  # noqa: F401,E402
    devices, local_devices, device_count, local_device_count, process_index, process_count)
from s2s.xla.runtime import backend_name as default_backend  # noqa: F401,E402
from s2s.xla.sharding import make_mesh  # noqa: F401,E402
from s2s.xla.spmd import ShardedArray  # noqa: F401,E402
from s2s import sharding, distributed  # noqa: F401,E402
from s2s.lax import vjp_rules as _lax_vjp_rules  # noqa: F401,E402  (registers templates)
from s2s.numpy import vjp_rules as _numpy_vjp_rules  # noqa: F401,E402
from s2s.scipy import vjp_rules as _scipy_vjp_rules  # noqa: F401,E402
from s2s.runtime import rules as _transform_rules  # noqa: F401,E402
# Forward mode (jvp templates, then the API).
from s2s.lax import jvp_rules as _lax_jvp_rules  # noqa: F401,E402
from s2s.lax import helper_rules as _lax_helper_rules  # noqa: F401,E402  (second order)
from s2s.numpy import jvp_rules as _numpy_jvp_rules  # noqa: F401,E402
from s2s.scipy import jvp_rules as _scipy_jvp_rules  # noqa: F401,E402
from s2s.lax import control_flow_jvp as _control_flow_jvp  # noqa: F401,E402
from s2s.transforms import fwd_rules as _fwd_rules  # noqa: F401,E402
from s2s.transforms import dynamic_rules as _dynamic_rules  # noqa: F401,E402  (second order of function values)
from s2s.transforms import stacked_helpers as _stacked_helpers  # noqa: F401,E402  (second order of linalg adjoints)
from s2s.api_fwd import jvp, jvp_source, linearize  # noqa: F401,E402
from s2s.custom_derivatives import checkpoint, custom_jvp, custom_vjp, remat  # noqa: F401,E402
from s2s.jacobians import hessian, jacfwd, jacrev  # noqa: F401,E402
# Checkpoint policies and names (jax.checkpoint_policies, jax.ad_checkpoint).
from s2s import checkpoint_policies, ad_checkpoint  # noqa: F401,E402
# Batching (vmap).
from s2s.numpy import lax_batch_rules as _lax_batch_rules  # noqa: F401,E402
from s2s.numpy import batch_rules as _numpy_batch_rules  # noqa: F401,E402
from s2s.scipy import batch_rules as _scipy_batch_rules  # noqa: F401,E402
from s2s.nn import batch_rules as _nn_batch_rules  # noqa: F401,E402
from s2s.transforms import batch_support as _batch_support  # noqa: F401,E402  (operator rules)
from s2s.transforms import batch_loop_vjp as _batch_loop_vjp  # noqa: F401,E402  (loops' reverse passes)

__version__ = "0.1.0"

# Public namespace (see s2s.core.public): import s2s makes the user-level packages
# reachable (s2s.random.PRNGKey after `import s2s`, as in JAX).
from s2s import nn, random  # noqa: F401,E402
from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

__all__ = [
    "Array", "ShardedArray", "ad_checkpoint", "checkpoint", "checkpoint_policies", "config", "custom_jvp", "custom_vjp", "debug",
    "default_backend", "device_count", "device_put", "devices", "disable_jit", "distributed",
    "dtypes", "errors", "grad", "hessian", "jacfwd", "jacrev", "jit", "jvp", "jvp_source", "lax",
    "linearize", "local_device_count", "local_devices", "make_mesh", "nn", "numpy",
    "process_count", "process_index", "random", "remat", "scipy", "sharding", "source",
    "tree_util", "value_and_grad", "vjp", "vmap",
]
_public_namespace(globals())
