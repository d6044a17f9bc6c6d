"""Reverse-mode templates of every lax primitive, against finite differences and jax.grad.

Each case is a small function written as source text and compiled here, so the
same text runs with ``lax`` bound to ``s2s.lax`` (and is differentiated by
``s2s.grad``) and to ``jax.lax`` (through a thin shim where signatures differ)::

    def pad_case(x, v):
        out = lax.pad(x, v, padding_config=CFG)
        return lax.reduce_sum(lax.mul(out, W), axes=(0, 1))

``W`` holds fixed random weights, so each element of the result gets a distinct
adjoint. Gradients with respect to every operand are checked in float64 against
central differences (the ``x64`` fixture) and, when jax is importable, against
``jax.grad`` of the jax.lax version. Smooth cases are also differentiated twice
(``grad`` of ``<grad f, V>``) and checked against differences of the first
gradient. Case parameters are drawn with ``tests.cases.sample``
(``S2S_NUM_GENERATED_CASES`` per family).
"""
import itertools
import linecache
import warnings

import numpy as np
import pytest

import s2s
from s2s import lax
from s2s.sharding import NamedSharding, P
from cases import NUM_CASES, sample

try:
    import jax
    import jax.lax as jlax
except ImportError:  # jax is optional: its comparisons are skipped
    jax = None

F64 = np.float64
C128 = np.complex128
I32 = np.int32

# ---------------------------------------------------------------------------
# Cases.


class Case:
    """One differentiable call: ``expr`` over ``args`` (all differentiated), constants in ``env``."""

    def __init__(self, prim, expr, args, env=None, nout=1, rtol=1e-6, jax=True, second=True,
                 label="", fd=True, xfail=None):
        self.prim = prim
        self.expr = expr
        self.args = args  # name -> array (float64 or complex128)
        self.env = dict(env or {})
        self.nout = nout
        self.rtol = rtol
        self.jax = jax  # False where jax differs on purpose (documented at the case)
        self.second = second  # smooth enough for second order
        self.label = label or expr
        self.fd = fd  # False where central differences cannot see the derivative
        self.xfail = xfail  # a known s2s bug (strict xfail, flips when fixed)

    def __repr__(self):
        return f"{self.prim}:{self.label}"


_counter = itertools.count()


def _compile(src, glb, tag):
    """Executes ``src`` with globals ``glb``, registering it so s2s can read its source."""
    filename = f"<test_lax_vjp {tag} #{next(_counter)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), glb)
    return filename


def _rng(case):
    import zlib
    return np.random.default_rng(zlib.crc32(repr(case).encode()))


class Built:
    """A case compiled for s2s (``fn``) and, on demand, for jax (``jax_fn``)."""

    def __init__(self, case):
        self.case = case
        params = ", ".join(case.args)
        probe_src = f"def probe({params}):\n    return {case.expr}\n"
        glb = dict(case.env, lax=lax)
        _compile(probe_src, glb, f"probe {case.prim}")
        outs = glb["probe"](*case.args.values())
        outs = list(outs) if case.nout > 1 else [outs]
        rng = _rng(case)
        weights = {}
        terms = []
        names = ["out"] if case.nout == 1 else [f"o{i}" for i in range(case.nout)]
        for i, (name, out) in enumerate(zip(names, outs)):
            shape = np.shape(out)
            w = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
            if np.iscomplexobj(out):
                w = w + 1j * rng.uniform(-1.0, 1.0, shape)
            weights[f"W{i}"] = w
            term = f"lax.reduce_sum(lax.mul({name}, W{i}), axes={tuple(range(len(shape)))})"
            if np.iscomplexobj(out):
                term = f"lax.real({term})"
            terms.append(term)
        total = terms[0]
        for t in terms[1:]:
            total = f"lax.add({total}, {t})"
        fname = f"{case.prim}_case"
        target = names[0] if case.nout == 1 else ", ".join(names)
        self.src = f"def {fname}({params}):\n    {target} = {case.expr}\n    return {total}\n"
        self.env = dict(case.env, **weights)
        glb = dict(self.env, lax=lax)
        _compile(self.src, glb, case.prim)
        self.fn = glb[fname]
        self.fname = fname

    def jax_fn(self):
        glb = {k: _to_jax(v) for k, v in self.env.items()}
        glb["lax"] = _JaxLax()
        _compile(self.src, glb, f"jax {self.case.prim}")
        return glb[self.fname]


def _central_difference(f, args, i):
    """d f / d args[i] by central differences (complex operands: d/dre - 1j d/dim, as JAX)."""
    args = [np.array(a) for a in args]
    x = args[i]
    out = np.zeros(x.shape, x.dtype)
    parts = [1.0, 1j] if np.iscomplexobj(x) else [1.0]
    for idx in np.ndindex(x.shape):
        for p in parts:
            h = 1e-6 * max(1.0, abs(x[idx]))
            xp = x.copy()
            xp[idx] += p * h
            xm = x.copy()
            xm[idx] -= p * h
            fp = np.real(f(*args[:i], xp, *args[i + 1:]))
            fm = np.real(f(*args[:i], xm, *args[i + 1:]))
            d = (fp - fm) / (2 * h)
            out[idx] += d if p == 1.0 else -1j * d
    return out


def _check(actual, expected, rtol, what):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=rtol * scale, err_msg=what)


# ---------------------------------------------------------------------------
# jax.lax with s2s.lax's signatures.


def _to_jax(v):
    if isinstance(v, lax.GatherDimensionNumbers):
        return jlax.GatherDimensionNumbers(**vars(v))
    if isinstance(v, lax.ScatterDimensionNumbers):
        return jlax.ScatterDimensionNumbers(**vars(v))
    return v


def _jnp_binary(name):
    def op(x, y):
        import jax.numpy as jnp
        if isinstance(y, (int, float, complex)):
            y = jnp.asarray(y, jnp.result_type(x))
        if isinstance(x, (int, float, complex)):
            x = jnp.asarray(x, jnp.result_type(y))
        x, y = jnp.broadcast_arrays(x, y)
        return getattr(jlax, name)(x, y)
    return op


def _axes(axes, ndim):
    return tuple(a % ndim for a in axes)


class _JaxLax:
    """Delegates to jax.lax, adapting the calls whose signatures differ from s2s.lax's
    (variadic operands, NumPy broadcasting in binary operations, negative axes)."""

    def __getattr__(self, name):
        if name in _BINARY:
            return _jnp_binary(name)
        if name == "linalg":
            return _JaxLinalg()
        return getattr(jlax, name)

    @staticmethod
    def concatenate(*xs, dimension):
        if len(xs) == 1 and isinstance(xs[0], (list, tuple)):
            xs = xs[0]
        return jlax.concatenate(list(xs), dimension % xs[0].ndim)

    @staticmethod
    def sort(*ops, dimension=-1, is_stable=True, num_keys=1):
        operand = ops[0] if len(ops) == 1 else ops
        return jlax.sort(operand, dimension=dimension, is_stable=is_stable, num_keys=num_keys)

    @staticmethod
    def transpose(x, *, permutation):
        return jlax.transpose(x, _axes(permutation, x.ndim))

    @staticmethod
    def argmax(x, *, axis, index_dtype=None):
        return jlax.argmax(x, axis, index_dtype or np.int32)

    @staticmethod
    def argmin(x, *, axis, index_dtype=None):
        return jlax.argmin(x, axis, index_dtype or np.int32)

    @staticmethod
    def convert_element_type(x, *, new_dtype):
        return jlax.convert_element_type(x, new_dtype)

    @staticmethod
    def bitcast_convert_type(x, *, new_dtype):
        return jlax.bitcast_convert_type(x, new_dtype)

    @staticmethod
    def dot_general(a, b, *, dimension_numbers, precision=None, preferred_element_type=None):
        (lc, rc), (lb, rb) = dimension_numbers
        dn = ((_axes(lc, a.ndim), _axes(rc, b.ndim)), (_axes(lb, a.ndim), _axes(rb, b.ndim)))
        return jlax.dot_general(a, b, dn, precision, preferred_element_type=preferred_element_type)

    @staticmethod
    def _window(x, init, op, window_dimensions, window_strides=None, padding="VALID",
                base_dilation=None, window_dilation=None):
        n = len(window_dimensions)
        return jlax.reduce_window(x, init, op, window_dimensions, window_strides or (1,) * n,
                                  padding, base_dilation or (1,) * n, window_dilation or (1,) * n)

    def reduce_window_sum(self, x, **kw):
        return self._window(x, np.array(0, x.dtype), jlax.add, **kw)

    def reduce_window_max(self, x, **kw):
        return self._window(x, np.array(-np.inf, x.dtype), jlax.max, **kw)

    def reduce_window_min(self, x, **kw):
        return self._window(x, np.array(np.inf, x.dtype), jlax.min, **kw)

    def reduce_window(self, x, init_value, *, computation, **kw):
        if isinstance(computation, str):
            computation = {"add": jlax.add, "mul": jlax.mul, "max": jlax.max,
                           "min": jlax.min}[computation]
        return self._window(x, init_value, computation, **kw)


class _JaxLinalg:
    """jax.lax.linalg with s2s.lax.linalg's keywords (inputs here are symmetric already)."""

    def __getattr__(self, name):
        return getattr(jlax.linalg, name)

    @staticmethod
    def cholesky(a, *, lower=True):
        out = jlax.linalg.cholesky(a, symmetrize_input=False)
        return out if lower else jax.numpy.conj(jax.numpy.swapaxes(out, -1, -2))

    @staticmethod
    def eigh(a, *, lower=True):
        return jlax.linalg.eigh(a, lower=lower, symmetrize_input=False)

    @staticmethod
    def svd(a, *, full_matrices=True, compute_uv=True):
        return jlax.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)


_BINARY = {"add", "sub", "mul", "div", "pow", "max", "min", "atan2", "rem", "complex", "eq", "ne",
           "lt", "le", "gt", "ge", "bitwise_and", "bitwise_or", "bitwise_xor", "shift_left",
           "shift_right_logical", "shift_right_arithmetic"}
for _name in ("reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "reduce_and", "reduce_or"):
    setattr(_JaxLax, _name, staticmethod(
        (lambda n: lambda x, *, axes: getattr(jlax, n)(x, _axes(axes, x.ndim)))(_name)))
for _name in ("cumsum", "cumprod", "cummax", "cummin"):
    setattr(_JaxLax, _name, staticmethod(
        (lambda n: lambda x, *, axis=0, reverse=False: getattr(jlax, n)(
            x, axis % x.ndim, reverse))(_name)))


# ---------------------------------------------------------------------------
# Case families. Inputs stay away from kinks and ties of non-smooth operations.


def _u(rng, shape, lo=-2.0, hi=2.0):
    return rng.uniform(lo, hi, shape)


def _away(rng, shape, lo=0.3, hi=2.0):
    """Values with |v| in [lo, hi] and random signs."""
    return rng.uniform(lo, hi, shape) * rng.choice([-1.0, 1.0], shape)


_rng0 = np.random.default_rng(1234)

# s2s.transforms.templates instantiates the statements inside a template's `if`
# twice, so adjoint reads and template locals there become unknown names
# ("derivative template uses unknown name 'bout'"): integer_pow's template uses
# `if y == 0: ... elif ...`.


def _unary_cases():
    r = _rng0
    domains = {  # name: (lo, hi) of the inputs
        "neg": (-2, 2), "exp": (-2, 2), "exp2": (-2, 2), "log": (0.2, 3), "log1p": (-0.5, 3),
        "expm1": (-2, 2), "tanh": (-2, 2), "logistic": (-3, 3), "sin": (-3, 3), "cos": (-3, 3),
        "tan": (-1.2, 1.2), "asin": (-0.9, 0.9), "acos": (-0.9, 0.9), "atan": (-3, 3),
        "sinh": (-2, 2), "cosh": (-2, 2), "asinh": (-3, 3), "acosh": (1.2, 3),
        "atanh": (-0.9, 0.9), "sqrt": (0.2, 3), "rsqrt": (0.2, 3), "cbrt": (0.2, 3),
        "erf": (-2, 2), "erfc": (-2, 2), "erf_inv": (-0.9, 0.9), "lgamma": (0.2, 4),
        "digamma": (0.2, 4),
    }
    out = []
    for name, (lo, hi) in domains.items():
        for shape in [(), (3, 2)]:
            out.append(Case(name, f"lax.{name}(x)", {"x": r.uniform(lo, hi, shape)},
                            label=str(shape)))
    out.append(Case("digamma", "lax.digamma(x)", {"x": np.array([-2.5, -0.7, -1.3])},
                    label="negative"))
    out.append(Case("abs", "lax.abs(x)", {"x": _away(r, (4,))}))
    out.append(Case("cbrt", "lax.cbrt(x)", {"x": -r.uniform(0.3, 2, (3,))}, label="negative"))
    for y in (0, 1, 2, 3, -2):
        out.append(Case("integer_pow", f"lax.integer_pow(x, {y})", {"x": _away(r, (3,))},
                        label=f"y={y}"))
    return out


def _binary_cases():
    r = _rng0
    shapes = [((3, 2), (3, 2)), ((3, 2), (2,)), ((3, 1), (1, 2)), ((), (3,)), ((2,), ())]
    out = []
    for name in ["add", "sub", "mul", "div", "pow", "max", "min", "atan2", "rem"]:
        for c in sample(f"binary {name}", n=3, shapes=shapes):
            xs, ys = c["shapes"]
            if name == "pow":
                args = {"x": r.uniform(0.3, 2, xs), "y": _u(r, ys)}
            elif name == "div":
                args = {"x": _u(r, xs), "y": _away(r, ys)}
            elif name == "rem":
                # away from the jumps: x / y stays between integers
                y = _away(r, ys, 0.7, 1.5)
                q = r.integers(-3, 3, np.broadcast_shapes(xs, ys)) + r.uniform(0.2, 0.8,
                                                                              np.broadcast_shapes(xs, ys))
                x = np.broadcast_to(q * y, np.broadcast_shapes(xs, ys)).copy()
                if x.shape != xs:  # x has the smaller shape: pick y of x's shape instead
                    x = _away(r, xs, 0.3, 0.6)
                    y = np.full(ys, 1.1)
                args = {"x": x, "y": y}
            else:
                args = {"x": _u(r, xs), "y": _u(r, ys)}
            out.append(Case(name, f"lax.{name}(x, y)", args, label=f"{xs},{ys}",
                            second=name not in ("max", "min", "rem")))
    # x = 0: differences step into x < 0 (NaN); jax agrees that both adjoints are finite.
    out.append(Case("pow", "lax.pow(x, y)", {"x": np.array([0.0, 1.5]), "y": np.array([2.5, 2.0])},
                    label="zero base", second=False, fd=False))
    return out


def _complex_cases():
    r = _rng0
    z = _u(r, (3,)) + 1j * _u(r, (3,))
    return [
        Case("complex", "lax.complex(x, y)", {"x": _u(r, (3,)), "y": _u(r, (3,))}),
        Case("complex", "lax.complex(x, y)", {"x": _u(r, (2, 3)), "y": _u(r, (3,))},
             label="broadcast"),
        Case("real", "lax.real(z)", {"z": z}),
        Case("imag", "lax.imag(z)", {"z": z}),
        Case("conj", "lax.conj(z)", {"z": z}),
        Case("conj", "lax.mul(z, lax.conj(z))", {"z": z}, label="z * conj(z)"),
        Case("mul", "lax.mul(z, w)", {"z": z, "w": _u(r, (3,)) + 1j * _u(r, (3,))},
             label="complex"),
        Case("exp", "lax.exp(z)", {"z": z}, label="complex"),
    ]


def _zero_derivative_cases():
    """Non-differentiable operations inside differentiable code: their outputs are constants."""
    r = _rng0
    x = _away(r, (4,), 0.2, 3.7) + 0.5  # away from integers and halves below
    x = np.floor(x) + 0.3
    y = _u(r, (4,))
    f = "lax.convert_element_type({}, new_dtype=np.float64)"
    env = {"np": np}
    cases = []
    for name, inner in [
            ("floor", "lax.floor(x)"), ("ceil", "lax.ceil(x)"), ("round", "lax.round(x)"),
            ("sign", "lax.sign(x)"),
            ("is_finite", f.format("lax.is_finite(x)")), ("eq", f.format("lax.eq(x, y)")),
            ("ne", f.format("lax.ne(x, y)")), ("lt", f.format("lax.lt(x, y)")),
            ("le", f.format("lax.le(x, y)")), ("gt", f.format("lax.gt(x, y)")),
            ("ge", f.format("lax.ge(x, y)")),
            ("population_count", f.format(
                "lax.population_count(lax.convert_element_type(x, new_dtype=np.int32))")),
            ("and", f.format("lax.bitwise_and(lax.gt(x, 0.0), lax.gt(y, 0.0))")),
            ("or", f.format("lax.bitwise_or(lax.gt(x, 0.0), lax.gt(y, 0.0))")),
            ("xor", f.format("lax.bitwise_xor(lax.gt(x, 0.0), lax.gt(y, 0.0))")),
            ("not", f.format("lax.bitwise_not(lax.gt(x, 0.0))")),
            ("shift_left", f.format(
                "lax.shift_left(lax.convert_element_type(x, new_dtype=np.int32), 1)")),
            ("shift_right_logical", f.format(
                "lax.shift_right_logical(lax.convert_element_type(x, new_dtype=np.int32), 1)")),
            ("shift_right_arithmetic", f.format(
                "lax.shift_right_arithmetic(lax.convert_element_type(x, new_dtype=np.int32), 1)")),
            ("iota", f.format("lax.iota(np.int32, 4)")),
            ("bitcast_convert_type", f.format(  # sign and exponent bits: locally constant
                "lax.shift_right_logical(lax.bitcast_convert_type(x, new_dtype=np.int64), 52)")),
            ("argmax", f.format("lax.argmax(x, axis=0)")),
            ("argmin", f.format("lax.argmin(x, axis=0)")),
            ("reduce_and", f.format("lax.reduce_and(lax.gt(x, y), axes=(0,))")),
            ("reduce_or", f.format("lax.reduce_or(lax.gt(x, y), axes=(0,))"))]:
        cases.append(Case(name, f"lax.mul(lax.mul(x, y), {inner})", {"x": x, "y": y}, env=env,
                          label="constant factor"))
    return cases


def _structural_cases():
    r = _rng0
    out = []
    x34 = _u(r, (3, 4))
    # convert_element_type: the same dtype, to complex, and across integers (zero).
    out.append(Case("convert_element_type", "lax.convert_element_type(x, new_dtype=np.float64)",
                    {"x": x34}, env={"np": np}, label="float64"))
    out.append(Case("convert_element_type",
                    "lax.convert_element_type(x, new_dtype=np.complex128)", {"x": x34},
                    env={"np": np}, label="complex128"))
    out.append(Case("convert_element_type",
                    "lax.mul(x, lax.convert_element_type(lax.convert_element_type(x, "
                    "new_dtype=np.int32), new_dtype=np.float64))",
                    {"x": np.array([1.3, -2.6, 0.4])}, env={"np": np}, label="through int32"))
    for c in sample("broadcast_in_dim", shape_dims=[
            ((3,), (2, 3), (1,)), ((3,), (3, 2), (0,)), ((1, 3), (4, 3), (0, 1)),
            ((), (2, 2), ()), ((2, 1), (2, 3, 4), (0, 2)), ((2,), (2, 1, 3), (0,))]):
        s, shape, dims = c["shape_dims"]
        out.append(Case("broadcast_in_dim",
                        f"lax.broadcast_in_dim(x, shape={shape}, broadcast_dimensions={dims})",
                        {"x": _u(r, s)}))
    for new_sizes, dims in [((12,), None), ((2, 6), None), ((4, 3), (1, 0)), ((2, 2, 3), (1, 0))]:
        out.append(Case("reshape", f"lax.reshape(x, new_sizes={new_sizes}, dimensions={dims})",
                        {"x": x34}))
    out.append(Case("squeeze", "lax.squeeze(x, dimensions=(0, -1))", {"x": _u(r, (1, 3, 1))}))
    out.append(Case("expand_dims", "lax.expand_dims(x, dimensions=(0, -1))", {"x": _u(r, (3,))}))
    for perm in [(1, 0, 2), (2, 0, 1), (0, 2, 1), (-1, 0, 1)]:
        out.append(Case("transpose", f"lax.transpose(x, permutation={perm})",
                        {"x": _u(r, (2, 3, 4))}))
    for dims in [(0,), (1,), (0, 1)]:
        out.append(Case("rev", f"lax.rev(x, dimensions={dims})", {"x": x34}))
    # The identity with a layout for XLA's partitioner (jax=False: the sharding is s2s's).
    rows = NamedSharding(s2s.make_mesh((1,), ("rows",)), P("rows"))
    out.append(Case("sharding_constraint", "lax.mul(lax.with_sharding_constraint(x, rows), x)",
                    {"x": x34}, env={"rows": rows}, jax=False))
    # The identity tagged for checkpoint policies (jax=False: jax.ad_checkpoint's, not lax's).
    out.append(Case("name", "lax.mul(lax.checkpoint_name(x, 'h'), x)", {"x": x34}, jax=False))
    for c in sample("pad", config=[
            [(1, 2, 0), (0, 0, 0)], [(1, -1, 1), (-1, 2, 0)], [(0, 0, 2), (2, 1, 1)],
            [(-1, -1, 0), (1, -2, 3)], [(-2, 0, 1), (0, 0, 0)], [(0, 0, 0), (0, 0, 0)]]):
        cfg = c["config"]
        out.append(Case("pad", f"lax.pad(x, v, padding_config={cfg})",
                        {"x": x34, "v": np.array(0.7)}, label=str(cfg)))
    for dim, shapes in [(0, [(2, 3), (1, 3)]), (1, [(2, 1), (2, 3), (2, 2)]), (-1, [(2, 2), (2, 2)])]:
        names = [f"x{i}" for i in range(len(shapes))]
        out.append(Case("concatenate",
                        f"lax.concatenate({', '.join(names)}, dimension={dim})",
                        {n: _u(r, s) for n, s in zip(names, shapes)}, label=f"dim={dim}"))
    out.append(Case("concatenate", "lax.concatenate([a, lax.mul(a, b), b], dimension=0)",
                    {"a": _u(r, (2,)), "b": _u(r, (2,))}, label="list"))
    for start, limit, strides in [((0, 1), (3, 4), None), ((1, 0), (3, 4), (1, 2)),
                                  ((0, 0), (3, 4), (2, 3)), ((2, 1), (3, 3), None),
                                  ((0, 1), (3, 1), None)]:
        out.append(Case("slice", f"lax.slice(x, start_indices={start}, limit_indices={limit}, "
                                 f"strides={strides})", {"x": x34}))
    for idx, sizes in [((1, 0), (2, 3)), ((2, 3), (2, 2)), ((-1, 1), (1, 4))]:
        env = {"I": np.int32(idx[0]), "J": np.int32(idx[1])}
        out.append(Case("dynamic_slice", f"lax.dynamic_slice(x, (I, J), {sizes})",
                        {"x": x34}, env=env, label=f"{idx}"))
        out.append(Case("dynamic_update_slice", "lax.dynamic_update_slice(x, u, (I, J))",
                        {"x": x34, "u": _u(r, sizes)}, env=env, label=f"{idx}"))
    out.append(Case("dynamic_slice", "lax.dynamic_slice(x, IDX, slice_sizes=(2, 2))", {"x": x34},
                    env={"IDX": np.array([1, 1], np.int32)}, label="index array"))
    which_b = r.random((3, 4)) < 0.5
    which_i = r.integers(0, 3, (3, 4)).astype(np.int32)
    out.append(Case("select_n", "lax.select_n(B, x, y)", {"x": x34, "y": _u(r, (3, 4))},
                    env={"B": which_b}, label="bool"))
    out.append(Case("select_n", "lax.select_n(K, x, y, z)",
                    {"x": x34, "y": _u(r, (3, 4)), "z": _u(r, (3, 4))}, env={"K": which_i},
                    label="int"))
    out.append(Case("select_n", "lax.select_n(S, x, y)", {"x": x34, "y": _u(r, (3, 4))},
                    env={"S": np.bool_(True)}, label="scalar which"))
    vals = np.array([-1.5, -0.5, 0.2, 0.7, 1.6])
    # jax.grad of clamp with respect to a scalar bound fails inside jax (a select of
    # mismatched shapes), so that case is checked against differences only.
    out.append(Case("clamp", "lax.clamp(lo, x, hi)",
                    {"lo": np.array(-1.0), "x": vals, "hi": np.array(1.0)}, label="scalar bounds",
                    second=False, jax=False))
    out.append(Case("clamp", "lax.clamp(lo, x, hi)",
                    {"lo": np.array([-1.0, -1, 0.5, -1, -1]), "x": vals,
                     "hi": np.array([1.0, 1, 1, 0.5, 1])}, label="array bounds", second=False))
    return out


def _gather_scatter_cases():
    r = _rng0
    out = []
    x = _u(r, (5, 3))
    GD, SD = lax.GatherDimensionNumbers, lax.ScatterDimensionNumbers
    rows = GD(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
    elems = GD(offset_dims=(), collapsed_slice_dims=(0, 1), start_index_map=(0, 1))
    window = GD(offset_dims=(1, 2), collapsed_slice_dims=(), start_index_map=(0, 1))
    cases = [
        ("rows", rows, np.array([[0], [3], [3], [1]], np.int32), (1, 3), None),
        ("elements", elems, np.array([[0, 1], [4, 2], [0, 1]], np.int32), (1, 1), None),
        ("windows", window, np.array([[0, 0], [3, 1]], np.int32), (2, 2), None),
        ("rows clip", rows, np.array([[7], [-2], [2]], np.int32), (1, 3), "clip"),
        ("rows fill", rows, np.array([[7], [1]], np.int32), (1, 3), "fill"),
    ]
    for label, dn, idx, sizes, mode in cases:
        env = {"DN": dn, "IDX": idx}
        m = f", mode={mode!r}" if mode else ""
        fill = ", fill_value=0.0" if mode == "fill" else ""
        out.append(Case("gather", f"lax.gather(x, IDX, dimension_numbers=DN, "
                                  f"slice_sizes={sizes}{m}{fill})", {"x": x}, env=env,
                        label=label))
    # scatter family: updates at rows (duplicates for the accumulating ones).
    srows = SD(update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))
    selems = SD(update_window_dims=(), inserted_window_dims=(0, 1),
                scatter_dims_to_operand_dims=(0, 1))
    dup = np.array([[0], [3], [0]], np.int32)
    uniq = np.array([[4], [1], [2]], np.int32)
    oob = np.array([[1], [9], [3]], np.int32)
    eidx = np.array([[0, 0], [2, 1], [4, 2]], np.int32)
    for prim in ["scatter_add", "scatter_mul", "scatter", "scatter_min", "scatter_max"]:
        variants = [("unique", srows, uniq, (3, 3), ""), ("elements", selems, eidx, (3,), ""),
                    ("out of bounds", srows, oob, (3, 3), "")]
        if prim in ("scatter_add", "scatter_mul", "scatter"):
            variants.append(("duplicates", srows, dup, (3, 3), ""))
        if prim == "scatter_mul":
            variants.append(("unique_indices", srows, uniq, (3, 3), ", unique_indices=True"))
        for label, dn, idx, ushape, extra in variants:
            u = _away(r, ushape, 0.5, 2.0)
            operand = _u(r, (5, 3))
            if prim in ("scatter_min", "scatter_max"):
                # no ties between operand and updates
                operand = np.round(operand, 1) + 0.05
                u = np.round(u, 1)
            env = {"DN": dn, "IDX": idx}
            # jax differentiates scatter (plain) only for unique indices, and scatter_mul's
            # updates only with unique_indices=True.
            jax_ok = not (label == "duplicates" and prim in ("scatter", "scatter_mul")) and \
                not (prim == "scatter_mul" and "unique_indices" not in extra) and \
                not (prim == "scatter" and label == "out of bounds")
            out.append(Case(prim, f"lax.{prim}(x, IDX, u, dimension_numbers=DN{extra})",
                            {"x": operand, "u": u}, env=env, label=label, jax=jax_ok,
                            second=prim in ("scatter_add", "scatter_mul")))
    return out


def _reduction_cases():
    r = _rng0
    out = []
    x = _u(r, (3, 4))
    for axes in [(0,), (1,), (0, 1), (-1,), ()]:
        out.append(Case("reduce_sum", f"lax.reduce_sum(x, axes={axes})", {"x": x}))
        out.append(Case("reduce_max", f"lax.reduce_max(x, axes={axes})", {"x": x}, second=False))
        out.append(Case("reduce_min", f"lax.reduce_min(x, axes={axes})", {"x": x}, second=False))
        out.append(Case("reduce_prod", f"lax.reduce_prod(x, axes={axes})",
                        {"x": _away(r, (3, 4), 0.5, 1.5)}))
    out.append(Case("reduce_max", "lax.reduce_max(x, axes=(1,))",
                    {"x": np.array([[1.0, 2.0, 2.0], [0.5, 0.1, 0.3]])}, label="ties",
                    second=False))
    z = _away(r, (3, 4), 0.5, 1.5)
    z[0, 1] = 0.0
    z[2, 0] = z[2, 3] = 0.0
    out.append(Case("reduce_prod", "lax.reduce_prod(x, axes=(1,))", {"x": z}, label="zeros",
                    jax=True))
    for prim in ["cumsum", "cumprod", "cummax", "cummin"]:
        for c in sample(prim, n=4, axis=[0, 1, -1], reverse=[False, True]):
            data = _away(r, (3, 4), 0.5, 1.5) if prim == "cumprod" else _u(r, (3, 4))
            out.append(Case(prim, f"lax.{prim}(x, axis={c['axis']}, reverse={c['reverse']})",
                            {"x": data}, second=prim in ("cumsum", "cumprod")))
    zc = _away(r, (2, 5), 0.5, 1.5)
    zc[0, 1] = 0.0
    zc[1, 1] = zc[1, 3] = 0.0
    for reverse in (False, True):
        # Second order is exact with at most one zero per line (the adjoint at a later
        # zero is the constant 0, while its derivative is not); the second row has two.
        out.append(Case("cumprod", f"lax.cumprod(x, axis=1, reverse={reverse})", {"x": zc},
                        label=f"zeros reverse={reverse}", second=False))
    out.append(Case("cumprod", "lax.cumprod(x, axis=1)", {"x": zc[:1]}, label="one zero"))
    perm = r.permutation(12).astype(np.float64).reshape(3, 4) / 3.0
    out.append(Case("sort", "lax.sort(x)", {"x": perm}, label="one operand"))
    out.append(Case("sort", "lax.sort(x, dimension=0)", {"x": perm}, label="dimension 0"))
    out.append(Case("sort", "lax.sort(k, v, num_keys=1)", {"k": perm, "v": _u(r, (3, 4))}, nout=2,
                    label="key and value"))
    out.append(Case("sort", "lax.sort((k, v), num_keys=1)", {"k": perm, "v": _u(r, (3, 4))},
                    nout=2, label="tuple operand"))
    out.append(Case("sort", "lax.sort(K, v, w, num_keys=2)",  # K has ties: not differentiated
                    {"v": np.array([0.3, 0.9, 0.1, 0.2]), "w": _u(r, (4,))},
                    env={"K": np.array([1.0, 0.0, 1.0, 0.0])}, nout=3, label="two keys"))
    return out


def _window_cases():
    r = _rng0
    out = []
    x = _u(r, (4, 5))
    params = [
        dict(window_dimensions=(2, 2)),
        dict(window_dimensions=(2, 3), window_strides=(2, 1)),
        dict(window_dimensions=(3, 2), padding="SAME"),
        dict(window_dimensions=(2, 2), padding=((1, 0), (0, 2)), window_strides=(1, 2)),
        dict(window_dimensions=(2, 2), base_dilation=(2, 1)),
        dict(window_dimensions=(2, 2), window_dilation=(1, 2)),
        dict(window_dimensions=(1, 5)),
        dict(window_dimensions=(2, 2), padding=((-1, 1), (1, 0))),
    ]
    for prim in ["reduce_window_sum", "reduce_window_max", "reduce_window_min"]:
        for c in sample(prim, n=5, p=list(range(len(params)))):
            p = params[c["p"]]
            kw = ", ".join(f"{k}={v!r}" for k, v in p.items())
            # jax has no max/min-pooling gradient with window dilation or negative padding.
            jax_ok = prim == "reduce_window_sum" or not (
                "window_dilation" in p or "-1" in str(p.get("padding")))
            out.append(Case(prim, f"lax.{prim}(x, {kw})", {"x": x}, label=kw,
                            second=prim == "reduce_window_sum", jax=jax_ok))
    for comp, init in [("'add'", 0.5), ("lax.mul", 1.5), ("'max'", -0.25), ("'min'", 0.3)]:
        data = _away(r, (4, 5), 0.5, 1.5) if comp == "lax.mul" else x
        out.append(Case("reduce_window", f"lax.reduce_window(x, v, computation={comp}, "
                                         "window_dimensions=(2, 2), padding='SAME')",
                        {"x": data, "v": np.array(init)}, label=comp,
                        second=comp in ("'add'", "lax.mul"),
                        # jax cannot differentiate a generic reduce_window with a non-identity
                        # init (its chooser rule needs the monoid's identity).
                        jax=False))
    return out


def _contraction_cases():
    r = _rng0
    out = []
    dots = [
        ((3, 4), (4, 2), (((1,), (0,)), ((), ()))),
        ((4,), (4,), (((0,), (0,)), ((), ()))),
        ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,)))),
        ((2, 3, 4), (4, 3), (((1, 2), (1, 0)), ((), ()))),
        ((3,), (2,), (((), ()), ((), ()))),
        ((2, 3, 4), (3, 2, 5), (((1,), (0,)), ((0,), (1,)))),
        ((4, 3), (4, 2), (((-2,), (0,)), ((), ()))),
    ]
    for c in sample("dot_general", n=6, i=list(range(len(dots)))):
        a, b, dn = dots[c["i"]]
        out.append(Case("dot_general", f"lax.dot_general(a, b, dimension_numbers={dn})",
                        {"a": _u(r, a), "b": _u(r, b)}, label=str(dn)))
    convs = [
        ((1, 2, 5), (3, 2, 2), dict(window_strides=(1,), padding="VALID")),
        ((2, 1, 6), (2, 1, 3), dict(window_strides=(2,), padding="SAME")),
        ((1, 2, 5, 4), (3, 2, 2, 2), dict(window_strides=(1, 2), padding=((1, 0), (0, 1)))),
        ((1, 1, 5), (1, 1, 2), dict(window_strides=(1,), padding=((1, 1),), lhs_dilation=(2,))),
        ((1, 1, 6), (2, 1, 2), dict(window_strides=(1,), padding="VALID", rhs_dilation=(2,))),
        ((1, 4, 4, 2), (2, 2, 2, 3), dict(window_strides=(1, 1), padding="SAME",
                                          dimension_numbers=("NHWC", "HWIO", "NHWC"))),
        ((1, 4, 5), (4, 2, 2), dict(window_strides=(1,), padding="VALID",
                                    feature_group_count=2)),
        ((4, 2, 5), (4, 2, 2), dict(window_strides=(1,), padding="VALID", batch_group_count=2)),
        ((1, 2, 5), (3, 2, 2), dict(window_strides=(2,), padding=((-1, 2),))),
    ]
    for c in sample("conv_general_dilated", n=9, i=list(range(len(convs)))):
        a, b, kw = convs[c["i"]]
        text = ", ".join(f"{k}={v!r}" for k, v in kw.items())
        out.append(Case("conv_general_dilated", f"lax.conv_general_dilated(a, b, {text})",
                        {"a": _u(r, a), "b": _u(r, b)}, label=text))
    return out


def _linalg_cases():
    r = _rng0
    out = []

    def spd(n, batch=()):
        m = r.normal(size=batch + (n, n))
        return m @ np.swapaxes(m, -1, -2) + n * np.eye(n)

    sym = "lax.add(x, lax.transpose(x, permutation={}))"
    # cholesky and eigh read one triangle of the operand (differences see that); jax
    # symmetrizes, so it is compared on inputs made symmetric first.
    out.append(Case("cholesky", "lax.linalg.cholesky(x)", {"x": spd(3)}, label="lower", jax=False))
    out.append(Case("cholesky", "lax.linalg.cholesky(x, lower=False)", {"x": spd(3)},
                    label="upper", jax=False, second=False))
    out.append(Case("cholesky", f"lax.linalg.cholesky({sym.format((0, 2, 1))})",
                    {"x": spd(3, (2,)) / 2}, label="symmetric batch", second=False))
    for c in sample("triangular_solve", n=6, left_side=[True, False], lower=[True, False],
                    transpose_a=[True, False], unit_diagonal=[False, True]):
        a = r.normal(size=(3, 3)) * 0.3 + np.diag(r.uniform(1.0, 2.0, 3))
        b = r.normal(size=(3, 2) if c["left_side"] else (2, 3))
        kw = ", ".join(f"{k}={v}" for k, v in c.items())
        out.append(Case("triangular_solve", f"lax.linalg.triangular_solve(a, b, {kw})",
                        {"a": a, "b": b}, label=kw, second=False))
    for shape in [(3, 3), (4, 3), (3, 4)]:
        out.append(Case("lu", "lax.linalg.lu(x)[0]", {"x": r.normal(size=shape)},
                        label=str(shape), second=False))
    for shape, full in [((3, 3), False), ((4, 3), False), ((3, 3), True), ((2, 4, 3), False)]:
        out.append(Case("qr", f"lax.linalg.qr(x, full_matrices={full})",
                        {"x": r.normal(size=shape)}, nout=2, label=f"{shape} full={full}",
                        second=False))
    for shape in [(3, 3), (4, 3), (3, 4)]:
        out.append(Case("svd", "lax.linalg.svd(x, full_matrices=False)",
                        {"x": r.normal(size=shape)}, nout=3, label=str(shape), second=False))
    out.append(Case("svd", "lax.linalg.svd(x, compute_uv=False)", {"x": r.normal(size=(4, 3))},
                    label="values only", second=False))
    out.append(Case("eigh", "lax.linalg.eigh(x)", {"x": spd(3)}, nout=2, label="lower",
                    jax=False, second=False))
    out.append(Case("eigh", "lax.linalg.eigh(x, lower=False)", {"x": spd(3)}, nout=2,
                    label="upper", jax=False, second=False))
    out.append(Case("eigh", f"lax.linalg.eigh({sym.format((1, 0))})", {"x": r.normal(size=(3, 3))},
                    nout=2, label="symmetric", second=False))
    z = r.normal(size=(3, 3)) + 1j * r.normal(size=(3, 3))
    out.append(Case("qr", "lax.linalg.qr(z)", {"z": z}, nout=2, label="complex", second=False))
    return out


def _fft_cases():
    r = np.random.default_rng(15)

    def z(*shape):
        return r.normal(size=shape) + 1j * r.normal(size=shape)
    return [
        Case("fft", "lax.fft(x, 'FFT', (4,))", {"x": r.normal(size=(3, 4))}, label="real"),
        Case("fft", "lax.fft(z, 'FFT', (2, 4))", {"z": z(2, 4)}, label="complex 2-d"),
        Case("fft", "lax.fft(z, 'IFFT', (3,))", {"z": z(2, 3)}, label="complex inverse"),
        Case("fft", "lax.fft(x, 'RFFT', (6,))", {"x": r.normal(size=(2, 6))}, label="rfft even"),
        Case("fft", "lax.fft(x, 'RFFT', (2, 5))", {"x": r.normal(size=(2, 5))}, label="rfft odd"),
        Case("fft", "lax.fft(z, 'IRFFT', (4,))", {"z": z(2, 3)}, label="complex irfft even"),
        Case("fft", "lax.fft(z, 'IRFFT', (2, 5))", {"z": z(2, 3)}, label="complex irfft odd"),
        Case("fft", "lax.fft(x, 'IRFFT', (4,))", {"x": r.normal(size=(3,))}, label="irfft real"),
    ]


CASES = (_unary_cases() + _binary_cases() + _complex_cases() + _zero_derivative_cases()
         + _structural_cases() + _gather_scatter_cases() + _reduction_cases() + _window_cases()
         + _contraction_cases() + _linalg_cases() + _fft_cases())


def _params(cases):
    return [pytest.param(c, id=i, marks=[pytest.mark.xfail(reason=c.xfail, strict=True)]
                         if c.xfail else []) for c, i in zip(cases, _ids(cases))]


def _ids(cases):
    seen = {}
    out = []
    for c in cases:
        base = repr(c).replace(" ", "")
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(base if n == 0 else f"{base}#{n}")
    return out


@pytest.fixture
def x64_both():
    """64-bit mode in s2s and (when present) jax, restored afterwards."""
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    old_jax = jax.config.jax_enable_x64 if jax is not None else None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        s2s.config.update("enable_x64", old)
        if jax is not None:
            jax.config.update("jax_enable_x64", old_jax)


_built = {}


def _build(case):
    if id(case) not in _built:
        _built[id(case)] = Built(case)
    return _built[id(case)]


def grad_all(fn, n):
    """``grad`` of ``fn`` with respect to its ``n`` arguments, always as a tuple.

    ``argnums=(0,)`` is avoided: it returns a wrong gradient (see
    ``test_grad_api.test_argnums_one_tuple``), so one argument uses ``argnums=0``.
    """
    if n == 1:
        g = s2s.grad(fn, argnums=0)
        out = lambda *args: (g(*args),)  # noqa: E731
        out.grad_fn = g
        return out
    g = s2s.grad(fn, argnums=tuple(range(n)))
    g.grad_fn = g
    return g


def _s2s_grads(b):
    g = grad_all(b.fn, len(b.case.args))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return g(*b.case.args.values()), g


# ---------------------------------------------------------------------------
# Tests.


def test_stop_gradient(x64_both):
    src = "def f(x, y):\n    return lax.reduce_sum(lax.mul(lax.mul(x, y), lax.stop_gradient(x)), axes=(0,))\n"
    glb = {"lax": lax}
    _compile(src, glb, "stop_gradient")
    x, y = np.array([0.5, -1.5]), np.array([2.0, 3.0])
    gx, gy = s2s.grad(glb["f"], argnums=(0, 1))(x, y)
    _check(gx, y * x, 1e-12, "d/dx")
    _check(gy, x * x, 1e-12, "d/dy")


def test_every_primitive_has_a_case():
    # Control flow and the debug callback are tested in test_lax_control_flow.py
    # (their operands are functions) and test_jit_basic.py; the sharding constraint
    # needs several devices (tests/multidevice_checks.py differentiates through it).
    covered = {c.prim for c in CASES} | {"stop_gradient", "cond", "while", "scan", "debug_callback",
                                          "sharding_constraint"}
    prims = set(lax.all_primitives())
    numpy_level = {p for p in prims if p.startswith("np.")}  # tested with s2s.numpy
    no_rule = {p for p in prims if lax.all_primitives()[p].vjp is None}  # exempt, see coverage
    missing = sorted(prims - covered - numpy_level - no_rule)
    assert not missing, f"no test_lax_vjp case for: {missing}"


FD = [c for c in CASES if c.fd]

# The jax, second-order and jit checks run on the first case of each primitive and
# on the cases about conventions (ties, zeros, complex values, duplicate or
# out-of-bounds indices...); S2S_NUM_GENERATED_CASES above 10 runs them on all.
_SPECIAL = ("ties", "zero", "complex", "conj", "duplicates", "out of bounds", "clip", "fill",
            "unique", "list", "tuple", "two keys", "broadcast", "negative", "int", "bool")


def _pick(cases):
    if NUM_CASES > 10:
        return list(cases)
    seen = set()
    out = []
    for c in cases:
        if c.prim not in seen or any(k in c.label for k in _SPECIAL):
            out.append(c)
        seen.add(c.prim)
    return out


@pytest.mark.parametrize("case", _params(FD))
def test_vjp_matches_finite_differences(case, x64_both):
    b = _build(case)
    grads, _ = _s2s_grads(b)
    args = list(case.args.values())
    for i, name in enumerate(case.args):
        expected = _central_difference(b.fn, args, i)
        _check(grads[i], expected, max(case.rtol, 1e-6), f"d/d{name} of {b.src}")


@pytest.mark.skipif(jax is None, reason="jax is not installed")
@pytest.mark.parametrize("case", _params(_pick([c for c in CASES if c.jax])))
def test_vjp_matches_jax(case, x64_both):
    b = _build(case)
    grads, _ = _s2s_grads(b)
    jf = b.jax_fn()
    args = [jax.numpy.asarray(a) for a in case.args.values()]
    expected = jax.jit(jax.grad(jf, argnums=tuple(range(len(args)))))(*args)
    for i, name in enumerate(case.args):
        _check(grads[i], np.asarray(expected[i]), 1e-9, f"d/d{name} vs jax.grad of {b.src}")


def _directional_difference(f, args, tangents):
    """``d/dh f(args + h * tangents)`` at 0 by central differences (a real scalar ``f``)."""
    h = 1e-6 * max([1.0] + [float(np.max(np.abs(a), initial=0.0)) for a in args])
    plus = [a + h * t for a, t in zip(args, tangents)]
    minus = [a - h * t for a, t in zip(args, tangents)]
    return (np.real(f(*plus)) - np.real(f(*minus))) / (2 * h)


def _jvp_along_random_direction(b):
    """``(args, tangents, s2s's tangent)`` of case ``b`` along a random direction (complex
    operands along complex ones)."""
    args = [np.asarray(a) for a in b.case.args.values()]
    rng = _rng(b.case)
    tangents = []
    for a in args:
        t = rng.uniform(-1.0, 1.0, a.shape)
        tangents.append(t + 1j * rng.uniform(-1.0, 1.0, a.shape) if np.iscomplexobj(a) else t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        _, tangent = s2s.jvp(b.fn, tuple(args), tuple(tangents))
    return args, tangents, tangent


@pytest.mark.parametrize("case", _params(FD))
def test_jvp_matches_directional_differences(case, x64_both):
    """Forward mode of every primitive (its jvp template, or the transposed vjp where it
    has none) along a random direction, complex operands along complex ones."""
    b = _build(case)
    args, tangents, tangent = _jvp_along_random_direction(b)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = _directional_difference(b.fn, args, tangents)
    _check(np.real(tangent), expected, max(case.rtol, 1e-6), f"jvp of {b.src}")


def _has_jvp_template(prim_name):
    return callable(lax.all_primitives()[prim_name].jvp)


@pytest.mark.skipif(jax is None, reason="jax is not installed")
@pytest.mark.parametrize("case", _params(_pick([c for c in CASES if c.jax and c.fd])))
def test_jvp_template_matches_jax(case, x64_both):
    """A jvp template gives jax.jvp's tangent, the same random real (or complex) direction
    for both; ties, duplicate and out-of-bounds indices included where jax defines them."""
    if not _has_jvp_template(case.prim):
        pytest.skip(f"{case.prim} has no jvp template (transposed vjp: test_vjp_matches_jax)")
    b = _build(case)
    args, tangents, tangent = _jvp_along_random_direction(b)
    jargs = tuple(jax.numpy.asarray(a) for a in args)
    _, expected = jax.jvp(b.jax_fn(), jargs, tuple(jax.numpy.asarray(t) for t in tangents))
    _check(tangent, np.asarray(expected), 1e-9, f"jvp of {b.src} vs jax.jvp")


SECOND = _pick([c for c in CASES if c.second])


@pytest.mark.parametrize("case", _params(SECOND))
def test_second_order_matches_finite_differences(case, x64_both):
    """``grad`` of ``sum_i <grad_i f, V_i>`` against differences of the first-order gradient."""
    b = _build(case)
    names = list(case.args)
    rng = _rng(case)
    env = {"lax": lax}
    terms = []
    for i, name in enumerate(names):
        env[f"G{i}"] = s2s.grad(b.fn, argnums=i)
        shape = np.shape(case.args[name])
        env[f"V{i}"] = rng.uniform(-1.0, 1.0, shape)
        call = f"G{i}({', '.join(names)})"
        if np.iscomplexobj(case.args[name]):
            call = f"lax.real({call})"
        terms.append(f"lax.reduce_sum(lax.mul({call}, V{i}), axes={tuple(range(len(shape)))})")
    total = terms[0]
    for t in terms[1:]:
        total = f"lax.add({total}, {t})"
    src = f"def second_{case.prim}({', '.join(names)}):\n    return {total}\n"
    _compile(src, env, f"second {case.prim}")
    h = env[f"second_{case.prim}"]
    args = list(case.args.values())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grads = grad_all(h, len(args))(*args)
    for i, name in enumerate(names):
        expected = _central_difference(h, args, i)
        _check(grads[i], expected, 1e-5, f"second order d/d{name} of {b.src}")


def _uses_helpers(prim):
    vjp = lax.all_primitives()[prim].vjp
    return callable(vjp) and "vjp_helpers" in __import__("inspect").getsource(vjp)


# Under jit, the primitives whose adjoints call lax.vjp_helpers (the others are
# plain lax calls, as in the forward code).
JIT = [next(c for c in CASES if c.prim == p) for p in sorted({c.prim for c in CASES})
       if _uses_helpers(p)]


@pytest.fixture
def numpy_for_support(monkeypatch):
    """The few s2s.numpy functions that grad's support code calls on staged values.

    Filled in with lax-based stand-ins only where this checkout's s2s.numpy lacks
    them (s2s.numpy is being written alongside); the real ones win once present.
    """
    import s2s.numpy as snp
    from s2s.lax import vjp_helpers as H

    def _axes(axis, ndim):
        if axis is None:
            return tuple(range(ndim))
        return tuple(a % ndim for a in ((axis,) if isinstance(axis, int) else axis))

    def sum_(x, axis=None, keepdims=False, **_):
        axes = _axes(axis, len(H.shape_of(x)))
        out = lax.reduce_sum(x, axes=axes)
        if keepdims:
            out = lax.expand_dims(out, dimensions=axes)
        return out

    stand_ins = {
        "ones": lambda shape, dtype=None: H.full(shape, 1, dtype or np.float64),
        "zeros": lambda shape, dtype=None: H.zeros(shape, dtype or np.float64),
        "full": lambda shape, value, dtype=None: H.full(shape, value, dtype or H.dtype_of(value)),
        "zeros_like": lambda x, dtype=None: H.zeros_like(x, dtype),
        "sum": sum_,
        "reshape": lambda x, shape: lax.reshape(x, new_sizes=tuple(shape)),
        "broadcast_to": H.broadcast_to,
        "expand_dims": lambda x, axis: lax.expand_dims(x, dimensions=(
            (axis,) if isinstance(axis, int) else tuple(axis))),
        "where": H.where,
    }
    for name, fn in stand_ins.items():
        if not hasattr(snp, name):
            monkeypatch.setattr(snp, name, fn, raising=False)


@pytest.mark.parametrize("case", _params(JIT))
def test_vjp_under_jit(case, x64_both, numpy_for_support):
    """The adjoint helpers work on staged values: jit(grad(f)) equals grad(f)."""
    b = _build(case)
    grads, g = _s2s_grads(b)
    staged = s2s.jit(g.grad_fn)(*case.args.values())
    if len(case.args) == 1:
        staged = (staged,)
    for i, name in enumerate(case.args):
        _check(staged[i], grads[i], 1e-12, f"jit d/d{name} of {b.src}")
