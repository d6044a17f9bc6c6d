"""Batching rules of ``s2s.scipy.special`` (see ``s2s/numpy/batch_rules.py``)."""
from s2s.core.primitive import def_batch
from s2s.numpy.batch_rules import _shift, elementwise, reduction
from s2s.numpy.batching import is_array, loop_call
from s2s.scipy import special

__all__ = []


def _logsumexp_rule(axes, /, a, axis=None, **kwargs):
    if any(ax is not None for ax in axes[1:]) or is_array(kwargs.get("b")):
        return loop_call(special.logsumexp, axes, (a, axis), kwargs)
    return special.logsumexp(a, axis=_shift(axis, a.ndim - 1), **kwargs)


def_batch(special.logsumexp)(_logsumexp_rule)
for _fn in (special.softmax, special.log_softmax):
    def_batch(_fn)(reduction(_fn))
for _name in ("expit", "logit", "erf", "erfc", "erfinv", "gammaln", "digamma", "xlogy",
             "xlog1py", "ndtr", "ndtri", "log_ndtr", "entr", "gammainc", "gammaincc", "_gammainc_da",
             "betainc", "beta", "i0", "i0e", "i1", "i1e", "zeta", "_zeta_dx", "polygamma",
             "_multigammaln"):
    if hasattr(special, _name):
        def_batch(getattr(special, _name))(elementwise(getattr(special, _name)))
