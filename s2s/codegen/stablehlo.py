"""Staged values -> StableHLO module text.

Operations are emitted in MLIR's *generic* syntax, which is uniform for every op
(``%3 = "stablehlo.add"(%1, %2) : (tensor<3xf32>, tensor<3xf32>) -> tensor<3xf32>``),
so each primitive's ``lower`` rule is a few lines. XLA compiles that text as it
is (its parser verifies it); a module XLA rejects is parsed and verified again
with the MLIR bindings that ship in jaxlib, so a bad emission shows as a
``LoweringError`` naming the op, and ``jit(f).lower(...).as_text()`` prints the
module back in MLIR's readable form.

>>> from s2s.core.primitive import ShapedArray
>>> fb = FunctionBuilder("main", [ShapedArray((3,), "float32")])
>>> (y,) = fb.op("stablehlo.negate", fb.args, [ShapedArray((3,), "float32")])
>>> fb.ret([y])
>>> "stablehlo.negate" in module_text([fb])
True
"""
import threading

import numpy as np

from s2s.core import dtypes
from s2s.core.errors import LoweringError
from s2s.core.primitive import ShapedArray

_MLIR_ELEMENT = {
    dtypes.bool_: "i1",
    dtypes.int8: "i8",
    dtypes.int16: "i16",
    dtypes.int32: "i32",
    dtypes.int64: "i64",
    dtypes.uint8: "ui8",
    dtypes.uint16: "ui16",
    dtypes.uint32: "ui32",
    dtypes.uint64: "ui64",
    dtypes.bfloat16: "bf16",
    dtypes.float16: "f16",
    dtypes.float32: "f32",
    dtypes.float64: "f64",
    dtypes.complex64: "complex<f32>",
    dtypes.complex128: "complex<f64>",
}


def element_type(dtype):
    """MLIR element type of a NumPy dtype (``float32`` -> ``f32``)."""
    try:
        return _MLIR_ELEMENT[np.dtype(dtype)]
    except KeyError:
        raise TypeError(f"dtype {np.dtype(dtype).name} has no StableHLO element type") from None


def tensor_type(aval):
    """``tensor<3x4xf32>`` for an abstract value."""
    dims = "".join(f"{d}x" for d in aval.shape)
    return f"tensor<{dims}{element_type(aval.dtype)}>"


def i64_array(values):
    """A dense i64 array attribute: ``array<i64: 1, 0>``."""
    values = [int(v) for v in values]
    return "array<i64>" if not values else "array<i64: " + ", ".join(map(str, values)) + ">"


def i1_array(values):
    """A dense i1 array attribute: ``array<i1: true, false>``."""
    values = ["true" if v else "false" for v in values]
    return "array<i1>" if not values else "array<i1: " + ", ".join(values) + ">"


def dense_elements(value, aval):
    """``dense<"0x...">`` literal holding ``value`` (exact bytes, any dtype, splat allowed)."""
    # (np.ascontiguousarray would turn a 0-d array into a 1-d one.)
    arr = np.array(value, dtype=aval.dtype, order="C")
    if arr.shape not in ((), aval.shape):
        arr = np.array(np.broadcast_to(arr, aval.shape), order="C")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    return f'dense<"0x{arr.tobytes().hex().upper()}"> : {tensor_type(aval)}'


class FunctionBuilder:
    """Builds one ``func.func``: SSA names, their avals, and nested regions."""

    def __init__(self, name, in_avals, *, public=True):
        self.name = name
        self.public = public
        self.in_avals = list(in_avals)
        self.out_avals = None
        self._counter = 0
        self.avals = {}
        self.args = []
        for i, aval in enumerate(self.in_avals):
            arg = f"%arg{i}"
            self.avals[arg] = aval
            self.args.append(arg)
        self._block = []
        self._indent = "    "
        self.host_callbacks = []
        # Shardings that sharding constraints name: jit compiles for their devices.
        self.shardings = []
        # SSA name -> (primitive, operand tracers, params), filled by the staging
        # traces that share this builder, read by ``Primitive.simplify`` rules.
        self.origins = {}
        self.scope = ()  # ids of the regions being built, outermost first
        self._regions = 0

    def fresh(self):
        self._counter += 1
        return f"%{self._counter - 1}"

    def add_host_callback(self, fn):
        """Registers a Python function compiled code may call; returns its index."""
        self.host_callbacks.append(fn)
        return len(self.host_callbacks) - 1

    def add_arg(self, aval):
        """Appends a parameter to the function (staging lifts captured arrays this way)."""
        arg = f"%arg{len(self.args)}"
        self.in_avals.append(aval)
        self.avals[arg] = aval
        self.args.append(arg)
        return arg

    def aval(self, value):
        return self.avals[value]

    def emit(self, line):
        self._block.append(self._indent + line)

    def op(self, opname, operands, out_avals, attrs=None, regions=()):
        """Emits ``opname`` on ``operands`` and returns the result SSA names."""
        operands = list(operands)
        in_types = ", ".join(tensor_type(self.avals[o]) for o in operands)
        out_types = [tensor_type(a) for a in out_avals]
        if len(out_types) == 1:
            out_sig = out_types[0]
        else:
            out_sig = "(" + ", ".join(out_types) + ")"
        base = self.fresh()
        if len(out_avals) == 1:
            results = [base]
            lhs = f"{base} = "
        elif not out_avals:
            results = []
            lhs = ""
        else:
            results = [f"{base}#{i}" for i in range(len(out_avals))]
            lhs = f"{base}:{len(out_avals)} = "
        for r, a in zip(results, out_avals):
            self.avals[r] = a
        region_text = ""
        if regions:
            region_text = " (" + ", ".join(regions) + ")"
        attr_text = ""
        if attrs:
            attr_text = " {" + ", ".join(f"{k} = {v}" for k, v in attrs.items()) + "}"
        self.emit(
            f'{lhs}"{opname}"({", ".join(operands)}){region_text}{attr_text} : ({in_types}) -> {out_sig}'
        )
        return results

    def constant(self, value, aval):
        """Emits a constant of ``aval`` holding ``value`` (a scalar splats)."""
        (r,) = self.op("stablehlo.constant", [], [aval], {"value": dense_elements(value, aval)})
        return r

    def region(self, arg_avals, body):
        """Builds a region: ``body(arg_names) -> result names``; returns its text.

        Values defined above stay visible inside (implicit capture), as StableHLO's
        control-flow regions allow.
        """
        saved_block, saved_indent, saved_scope = self._block, self._indent, self.scope
        self._block = []
        self._indent = saved_indent + "    "
        self._regions += 1
        self.scope = saved_scope + (self._regions,)
        try:
            args = []
            for aval in arg_avals:
                self._counter += 1
                name = f"%rarg{self._counter - 1}"
                self.avals[name] = aval
                args.append(name)
            results = body(args)
            self.emit(
                f'"stablehlo.return"({", ".join(results)}) : '
                f'({", ".join(tensor_type(self.avals[r]) for r in results)}) -> ()'
            )
            header = ", ".join(f"{a}: {tensor_type(self.avals[a])}" for a in args)
            lines = "\n".join(self._block)
            return f"{{\n{saved_indent}  ^bb0({header}):\n{lines}\n{saved_indent}}}"
        finally:
            self._block, self._indent, self.scope = saved_block, saved_indent, saved_scope

    def ret(self, values):
        """Ends the function, returning ``values``."""
        self.out_avals = [self.avals[v] for v in values]
        types = ", ".join(tensor_type(a) for a in self.out_avals)
        self.emit(f'"func.return"({", ".join(values)}) : ({types}) -> ()')

    def text(self):
        args = ", ".join(f"{a}: {tensor_type(v)}" for a, v in zip(self.args, self.in_avals))
        outs = ", ".join(tensor_type(a) for a in self.out_avals)
        vis = "public" if self.public else "private"
        body = "\n".join(self._block)
        return f"  func.func {vis} @{self.name}({args}) -> ({outs}) {{\n{body}\n  }}"


class LoweringRuleContext:
    """What a primitive's ``lower`` rule sees: the builder and the avals in and out.

    A rule is ``lower(ctx, *operand_names, **params) -> [result_names]``.
    """

    __slots__ = ("builder", "avals_in", "avals_out")

    def __init__(self, builder, avals_in, avals_out):
        self.builder = builder
        self.avals_in = avals_in
        self.avals_out = avals_out

    def op(self, opname, operands, out_avals=None, attrs=None, regions=()):
        return self.builder.op(opname, operands, self.avals_out if out_avals is None else out_avals,
                               attrs, regions)

    def op1(self, opname, operands, out_aval=None, attrs=None, regions=()):
        """Single-result ``op``; returns the one SSA name."""
        aval = self.avals_out[0] if out_aval is None else out_aval
        (r,) = self.builder.op(opname, operands, [aval], attrs, regions)
        return r

    def constant(self, value, aval):
        return self.builder.constant(value, aval)

    def aval(self, value):
        return self.builder.avals[value]

    def convert(self, value, dtype):
        """``value`` converted to ``dtype`` (no op when it already has it)."""
        aval = self.builder.avals[value]
        if aval.dtype == np.dtype(dtype):
            return value
        return self.op1("stablehlo.convert", [value], aval.update(dtype=dtype, weak_type=False))

    def broadcast_to(self, value, shape):
        """NumPy-style broadcast of ``value`` to ``shape`` (trailing axes aligned)."""
        aval = self.builder.avals[value]
        shape = tuple(shape)
        if aval.shape == shape:
            return value
        offset = len(shape) - aval.ndim
        dims = list(range(offset, len(shape)))
        return self.op1("stablehlo.broadcast_in_dim", [value], aval.update(shape=shape),
                        {"broadcast_dimensions": i64_array(dims)})

    def region(self, arg_avals, body):
        return self.builder.region(arg_avals, body)


def module_text(functions, name="s2s_module"):
    """The raw generic-syntax text of a module holding ``functions``."""
    body = "\n".join(f.text() for f in functions)
    return (
        f"module @{name} attributes {{mhlo.num_partitions = 1 : i32, "
        f"mhlo.num_replicas = 1 : i32}} {{\n{body}\n}}"
    )


_local = threading.local()


def mlir_context():
    """The thread's MLIR context with the StableHLO and CHLO dialects (made on first use)."""
    ctx = getattr(_local, "ctx", None)
    if ctx is None:
        from jaxlib.mlir import ir
        from jaxlib.mlir._mlir_libs import _jax_mlir_ext
        from jaxlib.mlir.dialects import chlo, stablehlo

        registry = ir.DialectRegistry()
        _jax_mlir_ext.register_dialects(registry)
        ctx = ir.Context()
        ctx.append_dialect_registry(registry)
        ctx.load_all_available_dialects()
        stablehlo.register_dialect(ctx)
        chlo.register_dialect(ctx)
        _local.ctx = ctx
    return ctx


def verify_and_print(text):
    """Parses and verifies module ``text``; returns it in MLIR's readable form."""
    from jaxlib.mlir import ir

    with mlir_context():
        try:
            module = ir.Module.parse(text)
        except Exception as e:  # MLIRError carries the diagnostics
            raise LoweringError(
                "s2s emitted StableHLO that does not verify (a bug in s2s; please report it):\n"
                f"{e}\n--- module ---\n{text}"
            ) from None
        return str(module)


