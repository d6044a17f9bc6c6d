"""Batching rules of ``s2s.nn`` (see ``s2s/numpy/batch_rules.py``)."""
from s2s.core.primitive import def_batch
from s2s.nn import functions
from s2s.numpy.batch_rules import reduction

__all__ = []

for _fn in (functions.softmax, functions.log_softmax):
    def_batch(_fn)(reduction(_fn))
