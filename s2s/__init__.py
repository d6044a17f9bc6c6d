"""s2s: composable transformations of Python+NumPy functions, as readable source.

>>> import s2s
>>> import s2s.numpy as np
>>> s2s.jit(lambda x: x * 2.0)(np.ones(2))
array([2., 2.], dtype=float32)
"""
import os as _os

# jaxlib logs device discovery at INFO level on first use; keep user output clean.
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from s2s.config import config, disable_jit  # noqa: F401,E402
from s2s.array import Array  # noqa: F401,E402
from s2s import tree_util  # noqa: F401
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
from s2s.transforms import rules as _transform_rules  # noqa: F401,E402
# Forward mode (jvp templates, then the API).
from s2s.lax import jvp_rules as _lax_jvp_rules  # noqa: F401,E402
from s2s.numpy import jvp_rules as _numpy_jvp_rules  # noqa: F401,E402
from s2s.lax import control_flow_jvp as _control_flow_jvp  # noqa: F401,E402
from s2s.transforms import fwd_rules as _fwd_rules  # noqa: F401,E402
from s2s.api_fwd import jvp, jvp_source, linearize  # noqa: F401,E402
from s2s.custom_derivatives import checkpoint, custom_jvp, custom_vjp, remat  # noqa: F401,E402
from s2s.jacobians import hessian, jacfwd, jacrev  # noqa: F401,E402
# Batching (vmap).
from s2s.lax import batch_rules as _lax_batch_rules  # noqa: F401,E402
from s2s.numpy import batch_rules as _numpy_batch_rules  # noqa: F401,E402
from s2s.transforms import batch_support as _batch_support  # noqa: F401,E402  (operator rules)

__version__ = "0.1.0"
