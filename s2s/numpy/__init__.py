"""``s2s.numpy``: the NumPy API on ``s2s.lax``.

Port code by changing ``import numpy as np`` to ``import s2s.numpy as np``.
Eager calls return ``s2s.Array`` (a NumPy array with ``.at``); under ``jit`` the
same calls stage XLA. NumPy functions that s2s does not have yet raise
``NotImplementedError`` naming the closest alternative.

>>> import s2s.numpy as np
>>> np.tanh(np.zeros(2))
array([0., 0.], dtype=float32)
"""
import sys as _sys

from s2s.core.array import Array  # noqa: F401
from s2s.numpy._dtypes import *  # noqa: F401,F403
from s2s.numpy._ufuncs import *  # noqa: F401,F403
from s2s.numpy._creation import *  # noqa: F401,F403
from s2s.numpy._shape import *  # noqa: F401,F403
from s2s.numpy._indexing import *  # noqa: F401,F403
from s2s.numpy._linalg_basic import *  # noqa: F401,F403
from s2s.numpy._reductions import *  # noqa: F401,F403
from s2s.numpy._sorting import *  # noqa: F401,F403
from s2s.numpy._extras_stats import *  # noqa: F401,F403
from s2s.numpy._extras import *  # noqa: F401,F403
from s2s.numpy import linalg  # noqa: F401
from s2s.numpy import fft  # noqa: F401,E402
from s2s.numpy._missing import __getattr__  # noqa: F401

from s2s.numpy import _array_methods  # noqa: E402  (last: the methods call the functions above)

_array_methods.install()
_array_methods.install_on_array()

from s2s.core.primitive import register_namespace as _register_namespace  # noqa: E402

_register_namespace("np", _sys.modules[__name__])
_register_namespace("np", linalg, "linalg.")
_register_namespace("np", fft, "fft.")

from s2s.core.public import public_names as _public_names, public_namespace as _public_namespace  # noqa: E402

__all__ = _public_names(globals(), modules=["linalg", "fft"])
_public_namespace(globals())
