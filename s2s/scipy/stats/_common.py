"""Helpers shared by the distributions: dtype promotion and support masks."""
import numpy as onp

import s2s.numpy as np
from s2s import dtypes
from s2s.scipy import _lax_helpers as h


def promote(name, *xs, broadcast=True):
    """``xs`` in their common floating dtype (integers -> the default float); they must
    broadcast together unless ``broadcast`` is false."""
    if broadcast:
        return h.promote_inexact(name, *xs)
    dt = dtypes.to_inexact_dtype(dtypes.result_type(*xs))
    return [h.convert(x, dt) for x in xs]


def log_density(inside, value):
    """``value`` where ``inside`` is true, ``-inf`` elsewhere (outside the support)."""
    return np.where(inside, value, -onp.inf)


def safe(inside, x, fill):
    """``x`` where ``inside``, else ``fill``: keeps log/division away from invalid points,
    so that neither the value nor the gradient masked out by ``log_density`` is NaN."""
    return np.where(inside, x, fill)
