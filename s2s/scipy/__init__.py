"""``s2s.scipy``: the parts of SciPy that numerical and ML code needs, on ``s2s.lax``.

Code written against ``scipy.special``, ``scipy.linalg`` and ``scipy.stats.norm`` ports by
importing ``s2s.scipy.special`` / ``s2s.scipy.linalg`` / ``s2s.scipy.stats.norm`` instead; the functions work eagerly
and under ``s2s.jit``.

>>> from s2s.scipy import special
>>> special.expit(0.0)
array(0.5, dtype=float32)
"""
from s2s.scipy import linalg  # noqa: F401
from s2s.scipy import special  # noqa: F401
from s2s.scipy import stats  # noqa: F401

__all__ = ["linalg", "special", "stats"]

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
