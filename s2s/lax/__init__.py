"""``s2s.lax``: primitives that map one-to-one onto StableHLO ops.

Each primitive carries a rule table (see ``s2s.core.primitive``); the functions here
are their thin public wrappers, with ``jax.lax``'s signatures (static parameters
positionally or by keyword).

>>> from s2s import lax
>>> lax.tanh(0.0)
array(0., dtype=float32)
"""
import sys as _sys

from s2s.core.primitive import Primitive, ShapedArray, all_primitives  # noqa: F401
from s2s.core.primitive import register_namespace as _register_namespace
from s2s.lax import elementwise as _elementwise
from s2s.lax import structural as _structural
from s2s.lax import reductions as _reductions
from s2s.lax import linalg_ops as _linalg_ops
from s2s.lax import control_flow as _control_flow
from s2s.lax import debugging as _debugging
from s2s.lax import sharding_ops as _sharding_ops
from s2s.lax import collectives as _collectives
from s2s.lax import ad_checkpoint as _ad_checkpoint

for _module in (_elementwise, _structural, _reductions, _linalg_ops, _control_flow, _debugging,
                _sharding_ops, _collectives, _ad_checkpoint):
    globals().update(_module.public)
del _module, _elementwise, _structural, _reductions, _linalg_ops, _control_flow, _debugging
del _sharding_ops, _collectives, _ad_checkpoint
from s2s.lax import convolution as _convolution  # noqa: E402  (composites on the primitives)
from s2s.lax import slicing as _slicing  # noqa: E402
globals().update(_convolution.public)
globals().update(_slicing.public)
del _convolution, _slicing
from s2s.lax import vjp_helpers  # noqa: E402,F401  (adjoint helpers templates call as lax.vjp_helpers)
from s2s.lax import linalg  # noqa: E402,F401
from s2s.lax import fourier as _fourier  # noqa: E402  (lax.fft, lax.FftType)
globals().update(_fourier.public)
del _fourier

_register_namespace("lax", _sys.modules[__name__])
_register_namespace("lax", linalg, "linalg.")

from s2s.core.public import public_names as _public_names, public_namespace as _public_namespace  # noqa: E402

__all__ = _public_names(globals(), modules=["linalg"])
_public_namespace(globals())
