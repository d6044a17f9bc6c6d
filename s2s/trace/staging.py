"""Staging: run a function on tracers and emit StableHLO as primitives are applied.

Each primitive applied to a ``StagedTracer`` is checked by its ``abstract_eval``
rule (shapes/dtypes, with NumPy-style errors) and lowered on the spot by its
``lower`` rule into the current ``FunctionBuilder``; nothing reaches XLA until the
whole function has been staged and the module verifies.

>>> import numpy as np
>>> from s2s import lax
>>> from s2s.core.primitive import ShapedArray
>>> st = stage(lambda x: lax.neg(x), [ShapedArray((2,), np.float32)])
>>> st.out_avals
[ShapedArray(float32[2])]
"""
import numpy as np

from s2s.codegen.stablehlo import FunctionBuilder, LoweringRuleContext, module_text
from s2s.core import captures, dtypes
from s2s.core.errors import ConcretizationError, S2SError, UnexpectedTracerError
from s2s.core.primitive import abstractify, all_primitives, ShapedArray, Trace, Tracer


# Arrays made while staging with more elements than this are passed as arguments
# rather than written into the module text.
_MAX_DENSE_CONSTANT = 256


class StagedTracer(Tracer):
    """An abstract value standing for an SSA value of the function being staged."""

    __slots__ = ("aval", "name", "scope")

    def __init__(self, trace, aval, name):
        self._trace = trace
        self.aval = aval
        self.name = name
        self.scope = trace.builder.scope  # the regions open where this value was made

    def __repr__(self):
        return f"Traced<{self.aval.str_short()}>"

    def _concrete_error(self, what):
        if self._trace.finished is not None:
            return self._trace.leak_error(self)
        return ConcretizationError(
            f"{what} of a staged value ({self.aval.str_short()}) inside jit: its value is "
            "not known while the function is compiled. Python control flow on staged values "
            "needs s2s's control-flow conversion (plain `if`/`while` in a function s2s can "
            "read the source of), or use s2s.lax.cond / s2s.lax.while_loop; to read the "
            "value, move the code out of jit or mark the argument static (static_argnums)."
        )

    def __bool__(self):
        raise self._concrete_error("bool()")

    def __int__(self):
        raise self._concrete_error("int()")

    def __float__(self):
        raise self._concrete_error("float()")

    def __complex__(self):
        raise self._concrete_error("complex()")

    def __index__(self):
        raise self._concrete_error("using as an index")

    def __array__(self, dtype=None, copy=None):
        raise self._concrete_error("converting to a NumPy array")

    def item(self):
        raise self._concrete_error(".item()")

    def tolist(self):
        raise self._concrete_error(".tolist()")


class StagingTrace(Trace):
    """Owns a ``FunctionBuilder``; turns primitive applications into StableHLO."""

    def __init__(self, builder, lift_arrays=False, is_captured=None):
        super().__init__()
        self.builder = builder
        self._constants = {}
        # With ``lift_arrays``, arrays the function captures (globals, closures)
        # become extra parameters instead of constants, so calls pass their
        # current values: ``lifted`` holds them in parameter order.
        # ``is_captured(array)`` tells those from arrays made while staging,
        # which may become constants (all are lifted without it).
        self.lift_arrays = lift_arrays
        self.is_captured = is_captured
        self.lifted = []
        self._lifted_ids = {}
        self.finished = None  # the staged function's name once staging ended

    def leak_error(self, tracer):
        return UnexpectedTracerError(
            f"a value staged inside jit({self.finished}) ({tracer!r}) is used after that jit "
            "finished staging: it leaked out of the function (kept in a global, a list or an "
            "object attribute, for instance). Staged values exist only while jit stages the "
            "function; return the value from the function instead.")

    def new_arg(self, aval, name):
        return StagedTracer(self, aval, name)

    def to_tracer(self, x):
        if isinstance(x, StagedTracer) and x._trace is self:
            current = self.builder.scope
            if x.scope != current[:len(x.scope)]:
                raise S2SError(
                    "a value computed inside a staged loop or branch is used outside it (for "
                    "instance appended to a list inside a loop whose condition is staged); return "
                    "it from the loop or branch instead")
            return x
        if isinstance(x, Tracer):
            raise S2SError(
                f"a value staged by another jit ({x!r}) leaked into this one; pass it as an "
                "argument instead of capturing it"
            )
        return self.constant(x)

    def constant(self, x):
        if self.lift_arrays and isinstance(x, np.ndarray) and self.is_captured is not None \
                and self.is_captured(x):
            return self._lift(x)  # read again at each call, 0-d ones too
        if self.lift_arrays and isinstance(x, np.ndarray) and x.ndim >= 1:
            if self.is_captured is None:
                return self._lift(x)
            # Made while staging (a seed broadcast to a shape, say): nothing can
            # rebind it, so it may be part of the program.
            if x.size and (x == x.reshape(-1)[0]).all():
                return self._splat(x)
            if x.size > _MAX_DENSE_CONSTANT:
                return self._lift(x)
        aval = abstractify(x)
        key = None
        if aval.shape == () and type(x) in (bool, int, float, complex):
            key = (type(x), x, aval.dtype)
            hit = self._constants.get(key)
            if hit is not None:
                return hit
        name = self.builder.constant(np.asarray(x) if not isinstance(x, np.ndarray) else x, aval)
        t = StagedTracer(self, aval, name)
        if key is not None:
            self._constants[key] = t
        return t

    def _lift(self, x):
        key = memory_key(x)  # a view laid out as a lifted array is that array: one argument
        hit = self._lifted_ids.get(key)
        if hit is None:
            aval = abstractify(x)
            hit = StagedTracer(self, aval, self.builder.add_arg(aval))
            self._lifted_ids[key] = hit
            self.lifted.append(x)  # kept alive while staging: no other array gets its key
        return hit

    def _splat(self, x):
        """A one-valued array as a scalar constant broadcast (XLA folds it; no argument)."""
        # By name from the registry: s2s.lax, which defines it, is built on this module.
        broadcast_in_dim_p = all_primitives()["broadcast_in_dim"]
        scalar = self.constant(x.reshape(-1)[:1].reshape(()))
        return self.process_primitive(broadcast_in_dim_p, [scalar],
                                      {"shape": x.shape, "broadcast_dimensions": ()})

    def trace_region(self, arg_avals, fun):
        """Stages ``fun(*arg_tracers) -> values`` as a region; returns ``(text, out_avals)``.

        The region is built by this trace on its own builder (for the regions of
        control-flow ops such as ``stablehlo.while``): values staged before stay
        visible inside it (implicit capture), and constants staged inside it are
        not reused outside it, where they are out of scope.
        """
        saved = self._constants
        self._constants = dict(saved)
        out_avals = []

        def body(names):
            args = [StagedTracer(self, a, n) for a, n in zip(arg_avals, names)]
            outs = [self.to_tracer(o) for o in fun(*args)]
            out_avals.extend(o.aval for o in outs)
            return [o.name for o in outs]

        try:
            text = self.builder.region(list(arg_avals), body)
        finally:
            self._constants = saved
        return text, out_avals

    def process_primitive(self, primitive, args, params):
        if self.finished is not None:
            leaked = next(a for a in args if isinstance(a, StagedTracer) and a._trace is self)
            raise self.leak_error(leaked)
        tracers = [self.to_tracer(a) for a in args]
        if primitive.simplify is not None:
            simplified = primitive.simplify(self.builder.origins, tracers, params)
            if isinstance(simplified, StagedTracer):  # the value, made of other primitives
                return simplified
            tracers, params = simplified
        avals_in = [t.aval for t in tracers]
        if primitive.abstract_eval is None or primitive.lower is None:
            raise NotImplementedError(f"primitive {primitive.name} cannot be staged under jit yet")
        out = primitive.abstract_eval(*avals_in, **params)
        avals_out = list(out) if primitive.multiple_results else [out]
        ctx = LoweringRuleContext(self.builder, avals_in, avals_out)
        names = primitive.lower(ctx, *[t.name for t in tracers], **params)
        if isinstance(names, str):
            names = [names]
        # The rule may produce a value with a different but compatible aval (e.g. a
        # weak-type difference); the abstract rule is the source of truth.
        if primitive.multiple_results:
            return [StagedTracer(self, a, n) for a, n in zip(avals_out, names)]
        # The innermost primitive that made a value wins (NumPy-level primitives
        # lower through lax ones and return the same SSA name).
        self.builder.origins.setdefault(names[0], (primitive, tracers, params))
        return StagedTracer(self, avals_out[0], names[0])


class Staged:
    """The result of staging: module text, the avals in and out, and lifted arrays.

    ``in_avals`` covers the explicit arguments followed by one per ``lifted``
    array (captured arrays the caller must pass, current values, after the
    explicit arguments).
    """

    def __init__(self, text, in_avals, out_avals, name, lifted=(), host_callbacks=(), shardings=()):
        self.text = text
        self.in_avals = in_avals
        self.out_avals = out_avals
        self.name = name
        self.lifted = list(lifted)
        self.host_callbacks = list(host_callbacks)
        self.shardings = list(shardings)  # named by sharding constraints


def memory_key(x):
    """What makes two NumPy arrays the same values at all times: their memory and how it is
    read (two views with equal keys, such as an array and ``a.T.T`` or the example of
    a broadcast of it, are interchangeable; jit knows a captured array by it).

    >>> a = np.zeros((2, 3))
    >>> memory_key(a.T.T) == memory_key(a), memory_key(a.T) == memory_key(a)
    (True, False)
    """
    return (x.__array_interface__["data"][0], x.shape, x.strides, x.dtype.str)


def stage(flat_fun, in_avals, name="main", lift_arrays=False, is_captured=None, stage_captured=True):
    """Stages ``flat_fun`` (flat list of arrays -> flat list of arrays) on ``in_avals``.

    With ``is_captured``, s2s operations on captured arrays alone are staged too
    (``stage_captured``, see ``s2s.core.captures``) rather than compiled in as constants.
    """
    builder = FunctionBuilder("main", list(in_avals))
    trace = StagingTrace(builder, lift_arrays=lift_arrays, is_captured=is_captured)
    args = [trace.new_arg(a, n) for a, n in zip(in_avals, builder.args)]
    try:
        # Operations on captured arrays alone are staged too (see s2s.core.captures).
        live = lift_arrays and is_captured is not None and stage_captured
        with captures.staging(trace if live else None):
            outs = flat_fun(*args)
        if not isinstance(outs, (list, tuple)):
            outs = [outs]
        out_names = [trace.to_tracer(o).name for o in outs]
    finally:
        trace.finished = name  # values kept past this point leaked
    builder.ret(out_names)
    return Staged(module_text([builder], name=_module_name(name)), list(builder.in_avals),
                  list(builder.out_avals), name, trace.lifted, builder.host_callbacks,
                  builder.shardings)


def _module_name(name):
    clean = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    return f"jit_{clean}" if clean else "jit_fun"


def scalar_aval(dtype, weak=False):
    """A 0-d abstract value of ``dtype``."""
    return ShapedArray((), dtypes.canonicalize_dtype(dtype), weak)
