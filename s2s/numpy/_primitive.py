"""NumPy-level primitives: eager calls run NumPy itself, staged calls run lax.

The functions users call most (``dot``, ``sum``, ``mean``...) are primitives of
their own so that (1) eager code, and so eager gradients, run at NumPy's speed
with no per-call checks, and (2) generated derivative source reads
``np.dot(bt, W.T)`` rather than ``lax.dot_general(...)``. Their ``abstract_eval``
and ``lower`` rules come from a *composite*: a function written on ``s2s.lax``
that defines the semantics under ``jit`` (and keeps eager and jit in agreement).

>>> import numpy as onp
>>> from s2s import lax
>>> twice_p = numpy_primitive("twice", lambda x: onp.multiply(x, 2), lambda x: lax.mul(x, 2))
>>> twice_p.bind(onp.float32(3.0))
array(6., dtype=float32)
"""
import functools

from s2s.core import dtypes
from s2s.codegen.stablehlo import FunctionBuilder
from s2s.core.primitive import Primitive
from s2s.trace.staging import StagedTracer, StagingTrace


def _freeze(value):
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


@functools.lru_cache(maxsize=4096)
def _abstract_cached(composite, avals, params, x64):
    builder = FunctionBuilder("abstract", list(avals))
    trace = StagingTrace(builder)
    args = [StagedTracer(trace, a, n) for a, n in zip(avals, builder.args)]
    out = composite(*args, **dict(params))
    if isinstance(out, (list, tuple)):
        return tuple(trace.to_tracer(o).aval for o in out)
    return trace.to_tracer(out).aval


def abstract_via(composite, avals, params):
    """Output aval(s) of ``composite`` on ``avals`` (staged into a scratch function)."""
    key = tuple(sorted((k, _freeze(v)) for k, v in params.items()))
    # (x64 is part of the key: the composite's dtypes depend on it.)
    out = _abstract_cached(composite, tuple(avals), key, dtypes.x64_enabled())
    return list(out) if isinstance(out, tuple) else out


def lower_via(composite, ctx, names, params):
    """Lowers by staging ``composite`` into the current function builder."""
    trace = StagingTrace(ctx.builder)
    args = [StagedTracer(trace, a, n) for a, n in zip(ctx.avals_in, names)]
    out = composite(*args, **params)
    if isinstance(out, (list, tuple)):
        return [trace.to_tracer(o).name for o in out]
    return [trace.to_tracer(out).name]


def numpy_primitive(name, impl, composite, *, multiple_results=False):
    """A primitive named ``np.<name>``: ``impl`` eagerly, ``composite`` when staged.

    ``impl`` and ``composite`` take the same arguments; ``impl`` must give the
    dtype ``composite`` gives (canonicalization to 32 bits is done by ``bind``).
    """
    prim = Primitive(f"np.{name}", multiple_results=multiple_results)
    prim.def_impl(impl)
    prim.def_abstract_eval(lambda *avals, **params: abstract_via(composite, avals, params))
    prim.def_lower(lambda ctx, *names, **params: lower_via(composite, ctx, names, params))
    prim.composite = composite
    return prim
