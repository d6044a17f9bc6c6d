"""Elementwise primitives.

Every elementwise primitive accepts NumPy-broadcastable operands and follows
NumPy's (NEP 50) dtype promotion, canonicalized (see ``s2s.dtypes``); transcendental
functions take integers to the default float dtype, as ``jax.numpy`` does. Eager
``impl`` rules produce exactly the dtype the ``abstract_eval`` rule predicts; the
tests check that for every primitive.

The rule tables are built by a few small factories (``_unary``, ``_binary``,
``_compare``) since most elementwise primitives differ only in their NumPy
function, their StableHLO op and which dtypes they accept.
"""
import importlib

import numpy as np

from s2s.core import dtypes
from s2s.core.errors import DtypeError
from s2s.core.primitive import Primitive, primitive_wrapper, ShapedArray
from s2s.lax.shapes import broadcast_shapes

# ---------------------------------------------------------------------------
# Dtype policies: map input dtype -> (compute dtype), or raise DtypeError.


def _special(name):
    """``scipy.special.<name>``, imported on first use (scipy costs a third of a
    second at import; most programs never call these)."""
    return getattr(importlib.import_module("scipy.special"), name)


def _special_fn(name):
    def fn(*args):
        return _special(name)(*args)
    fn.__name__ = name
    return fn


def _float_policy(name, allow_complex=True):
    def policy(dt):
        if dtypes.is_complex(dt):
            if not allow_complex:
                raise DtypeError(f"{name} does not accept complex input ({np.dtype(dt).name})")
            return dt
        return dtypes.to_inexact_dtype(dt)
    return policy


def _same_policy(name, kinds="biufc"):
    def policy(dt):
        if np.dtype(dt).kind not in kinds and not (dt == dtypes.bfloat16 and "f" in kinds):
            raise DtypeError(f"{name} does not accept {np.dtype(dt).name} input")
        return dt
    return policy


# ---------------------------------------------------------------------------
# Unary primitives.


def _unary_abstract(name, policy, result_dtype):
    def abstract_eval(x):
        compute = policy(x.dtype)
        out = result_dtype(compute) if result_dtype else compute
        return ShapedArray(x.shape, out, x.weak_type and out == compute)
    return abstract_eval


def _unary_lower(hlo_op):
    def lower(ctx, x):
        out = ctx.avals_out[0]
        compute = ctx.avals_in[0].dtype if hlo_op in _KEEP_INPUT_DTYPE else out.dtype
        return ctx.op1(hlo_op, [ctx.convert(x, compute)])
    return lower


# Ops whose result dtype differs from the operand dtype they compute on.
_KEEP_INPUT_DTYPE = {"stablehlo.is_finite", "stablehlo.abs", "stablehlo.real", "stablehlo.imag"}


def _unary(name, np_fn, hlo_op, policy, result_dtype=None, lower=None):
    """Defines primitive ``name`` with impl ``np_fn`` and StableHLO op ``hlo_op``."""
    prim = Primitive(name)
    abstract_eval = _unary_abstract(name, policy, result_dtype)
    # Memoize the dtype decision per (input dtype, x64 mode): the eager path stays
    # cheap, and flipping ``enable_x64`` never serves a stale decision.
    out_of = {}

    def impl(x):
        dt = x.dtype if hasattr(x, "dtype") else dtypes.python_scalar_dtype(x)
        key = (dt, dtypes.x64_enabled())
        decision = out_of.get(key)
        if decision is None:
            compute = policy(dtypes.canonicalize_dtype(dt))
            decision = out_of[key] = (compute, result_dtype(compute) if result_dtype else compute)
        compute, out_dtype = decision
        # SciPy's special functions compute float16/bfloat16 in float32 (or
        # float64); the cast keeps the result dtype the one abstract_eval predicts.
        return np.asarray(np_fn(np.asarray(x, compute)), out_dtype)

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower or _unary_lower(hlo_op))
    return prim


def _rsqrt(x):
    return np.reciprocal(np.sqrt(x))


def _logistic(x):
    if dtypes.is_complex(x.dtype):  # scipy's expit has no complex loop
        return np.reciprocal(1 + np.exp(-x))
    return _special("expit")(x)


def _round_away(x):
    # floor(x + 0.5) is wrong for the float just below 0.5 (x + 0.5 rounds up to
    # 1.0); the fractional part x - trunc(x) is exact, so compare that instead.
    t = np.trunc(x)
    return np.where(np.abs(x - t) >= 0.5, t + np.sign(x), t).astype(x.dtype)


def _population_count(x):
    # np.bitwise_count counts the bits of |x| for signed ints; XLA counts the
    # two's-complement bits, so count on the unsigned view.
    return np.bitwise_count(x.view(f"u{x.dtype.itemsize}")).astype(x.dtype)


def _is_finite_dtype(dt):
    return dtypes.bool_


def _real_of(dt):
    return dtypes.real_dtype(dt)


_F = _float_policy
neg_p = _unary("neg", np.negative, "stablehlo.negate", _same_policy("neg", "iufc"))


def _sign_lower(ctx, x):
    aval = ctx.avals_in[0]
    if aval.dtype.kind != "u":
        return ctx.op1("stablehlo.sign", [x])
    # stablehlo.sign has no unsigned form: sign(x) = (x != 0) for unsigned x.
    zero = ctx.broadcast_to(ctx.constant(0, aval.update(shape=(), weak_type=False)), aval.shape)
    nonzero = ctx.op1("stablehlo.compare", [x, zero], aval.update(dtype=dtypes.bool_), attrs={
        "comparison_direction": "#stablehlo<comparison_direction NE>",
        "compare_type": "#stablehlo<comparison_type UNSIGNED>"})
    return ctx.op1("stablehlo.convert", [nonzero])


sign_p = _unary("sign", np.sign, None, _same_policy("sign", "iufc"), lower=_sign_lower)
floor_p = _unary("floor", np.floor, "stablehlo.floor", _same_policy("floor", "f"))
ceil_p = _unary("ceil", np.ceil, "stablehlo.ceil", _same_policy("ceil", "f"))
is_finite_p = _unary("is_finite", np.isfinite, "stablehlo.is_finite", _same_policy("is_finite", "f"),
                     result_dtype=_is_finite_dtype)
exp_p = _unary("exp", np.exp, "stablehlo.exponential", _F("exp"))
log_p = _unary("log", np.log, "stablehlo.log", _F("log"))
log1p_p = _unary("log1p", np.log1p, "stablehlo.log_plus_one", _F("log1p"))
expm1_p = _unary("expm1", np.expm1, "stablehlo.exponential_minus_one", _F("expm1"))
tanh_p = _unary("tanh", np.tanh, "stablehlo.tanh", _F("tanh"))
logistic_p = _unary("logistic", _logistic, "stablehlo.logistic", _F("logistic"))
sin_p = _unary("sin", np.sin, "stablehlo.sine", _F("sin"))
cos_p = _unary("cos", np.cos, "stablehlo.cosine", _F("cos"))
tan_p = _unary("tan", np.tan, "stablehlo.tan", _F("tan"))
asin_p = _unary("asin", np.arcsin, "chlo.asin", _F("asin"))
acos_p = _unary("acos", np.arccos, "chlo.acos", _F("acos"))
atan_p = _unary("atan", np.arctan, "chlo.atan", _F("atan"))
sinh_p = _unary("sinh", np.sinh, "chlo.sinh", _F("sinh"))
cosh_p = _unary("cosh", np.cosh, "chlo.cosh", _F("cosh"))
asinh_p = _unary("asinh", np.arcsinh, "chlo.asinh", _F("asinh"))
acosh_p = _unary("acosh", np.arccosh, "chlo.acosh", _F("acosh"))
atanh_p = _unary("atanh", np.arctanh, "chlo.atanh", _F("atanh"))
sqrt_p = _unary("sqrt", np.sqrt, "stablehlo.sqrt", _F("sqrt"))
rsqrt_p = _unary("rsqrt", _rsqrt, "stablehlo.rsqrt", _F("rsqrt"))
cbrt_p = _unary("cbrt", np.cbrt, "stablehlo.cbrt", _F("cbrt", allow_complex=False))
erf_p = _unary("erf", _special_fn("erf"), "chlo.erf", _F("erf", allow_complex=False))
erfc_p = _unary("erfc", _special_fn("erfc"), "chlo.erfc", _F("erfc", allow_complex=False))
erf_inv_p = _unary("erf_inv", _special_fn("erfinv"), "chlo.erf_inv", _F("erf_inv", allow_complex=False))
lgamma_p = _unary("lgamma", _special_fn("gammaln"), "chlo.lgamma", _F("lgamma", allow_complex=False))
digamma_p = _unary("digamma", _special_fn("digamma"), "chlo.digamma", _F("digamma", allow_complex=False))
not_p = _unary("not", np.invert, "stablehlo.not", _same_policy("not", "biu"))
population_count_p = _unary("population_count", _population_count, "stablehlo.popcnt",
                            _same_policy("population_count", "iu"))
real_p = _unary("real", np.real, "stablehlo.real", _same_policy("real", "c"), result_dtype=_real_of)
imag_p = _unary("imag", np.imag, "stablehlo.imag", _same_policy("imag", "c"), result_dtype=_real_of)


def _conj_lower(ctx, x):
    # StableHLO has no conjugate op: complex(real(x), -imag(x)).
    part = ctx.avals_out[0].update(dtype=dtypes.real_dtype(ctx.avals_out[0].dtype))
    re = ctx.op1("stablehlo.real", [x], part)
    im = ctx.op1("stablehlo.imag", [x], part)
    return ctx.op1("stablehlo.complex", [re, ctx.op1("stablehlo.negate", [im], part)])


conj_p = _unary("conj", np.conjugate, None, _same_policy("conj", "c"), lower=_conj_lower)


def _abs_result(dt):
    return dtypes.real_dtype(dt)


# Unsigned integers are rejected, as in JAX: stablehlo.abs has no unsigned form.
abs_p = _unary("abs", np.abs, "stablehlo.abs", _same_policy("abs", "ifc"), result_dtype=_abs_result)


def _exp2_lower(ctx, x):
    out = ctx.avals_out[0]
    x = ctx.convert(x, out.dtype)
    ln2 = ctx.broadcast_to(ctx.constant(np.log(2.0), out.update(shape=())), out.shape)
    return ctx.op1("stablehlo.exponential", [ctx.op1("stablehlo.multiply", [x, ln2])])


exp2_p = _unary("exp2", np.exp2, None, _F("exp2"), lower=_exp2_lower)


def _round_lower(ctx, x, rounding_method="away_from_zero"):
    op = "stablehlo.round_nearest_afz" if rounding_method == "away_from_zero" else "stablehlo.round_nearest_even"
    return ctx.op1(op, [x])


round_p = Primitive("round")


_ROUNDING_METHODS = ("away_from_zero", "to_nearest_even")
_round_policy = _same_policy("round", "f")


def _check_rounding_method(rounding_method):
    if rounding_method not in _ROUNDING_METHODS:
        raise ValueError(f"round: rounding_method must be 'away_from_zero' or 'to_nearest_even', "
                         f"got {rounding_method!r}")


@round_p.def_impl
def _round_impl(x, rounding_method="away_from_zero"):
    _check_rounding_method(rounding_method)
    dt = x.dtype if hasattr(x, "dtype") else dtypes.python_scalar_dtype(x)
    x = np.asarray(x, _round_policy(dtypes.canonicalize_dtype(dt)))
    if rounding_method == "away_from_zero":
        return _round_away(x)
    return np.round(x)


@round_p.def_abstract_eval
def _round_abstract(x, rounding_method="away_from_zero"):
    _round_policy(x.dtype)
    _check_rounding_method(rounding_method)
    return x


round_p.def_lower(_round_lower)

# ---------------------------------------------------------------------------
# Binary primitives: NumPy broadcasting and promotion.


def _binary_abstract(name, policy, result_dtype=None):
    def abstract_eval(x, y):
        shape = broadcast_shapes(name, x.shape, y.shape)
        dt, weak = dtypes.result_type(x, y, return_weak_type=True)
        compute = policy(dt)
        out = result_dtype(compute) if result_dtype else compute
        return ShapedArray(shape, out, weak and out == compute)
    return abstract_eval


def _binary_lower(hlo_op, attrs=None):
    def lower(ctx, x, y):
        out = ctx.avals_out[0]
        dt = dtypes.result_type(*ctx.avals_in)
        compute = dt if attrs is not None else out.dtype
        args = [ctx.broadcast_to(ctx.convert(a, compute), out.shape) for a in (x, y)]
        a = attrs(compute) if callable(attrs) else None
        return ctx.op1(hlo_op, args, attrs=a)
    return lower


def _binary(name, np_fn, hlo_op, policy, result_dtype=None, lower=None, lower_attrs=None):
    """Defines binary primitive ``name``.

    ``impl`` does what the lowering does: it checks the operand dtypes with
    ``policy``, converts both operands to the (canonical, NEP 50) compute dtype,
    applies ``np_fn`` and casts to the result dtype. Handing Python scalars or
    64-bit arrays to NumPy as they are would compute in 64 bits (wrong for
    ``shift_right_logical``, ``div`` of a float16 array by a Python float...).
    """
    prim = Primitive(name)
    abstract_eval = _binary_abstract(name, policy, result_dtype)

    def impl(x, y):
        compute = policy(dtypes.result_type(x, y))
        out = np_fn(_operand(x, compute), _operand(y, compute))
        return np.asarray(out, result_dtype(compute) if result_dtype else compute)

    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower or _binary_lower(hlo_op, lower_attrs))
    return prim


def _operand(x, dtype):
    """An operand as an array of ``dtype``; a Python int converts as in JAX (it may wrap)."""
    if type(x) is int:
        return dtypes.weak_int_array(x, dtype)
    return np.asarray(x, dtype)


def _any(name):
    return _same_policy(name, "biufc")


def _trunc_div(x, y):
    """Division of two operands of one dtype; integers truncate toward zero, and an
    integer divided by zero gives -1 (all bits set), as XLA computes it under jit."""
    if x.dtype.kind in "iu":
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            q = np.floor_divide(x, y)
            # floor -> truncate toward zero where the signs differ and the division is inexact.
            fix = (np.remainder(x, y) != 0) & ((x < 0) != (y < 0))
            return np.where(y == 0, np.array(-1).astype(x.dtype), q + fix).astype(x.dtype)
    return np.true_divide(x, y)


def _rem(x, y):
    """C's ``fmod``; an integer remainder by zero is the dividend, as XLA computes it."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if x.dtype.kind in "iu":
            return np.where(y == 0, x, np.fmod(x, y)).astype(x.dtype)
        return np.fmod(x, y)


add_p = _binary("add", np.add, "stablehlo.add", _any("add"))
sub_p = _binary("sub", np.subtract, "stablehlo.subtract", _same_policy("sub", "iufc"))
mul_p = _binary("mul", np.multiply, "stablehlo.multiply", _any("mul"))
div_p = _binary("div", _trunc_div, "stablehlo.divide", _same_policy("div", "iufc"))
rem_p = _binary("rem", _rem, "stablehlo.remainder", _same_policy("rem", "iuf"))
pow_p = _binary("pow", np.power, "stablehlo.power", _same_policy("pow", "iufc"))


def _minmax_lower(hlo_op, direction):
    """Real operands: ``hlo_op``. Complex operands: NumPy's lexicographic order
    (real parts, then imaginary parts), which stablehlo.maximum/minimum lack."""
    real_lower = _binary_lower(hlo_op)

    def lower(ctx, x, y):
        out = ctx.avals_out[0]
        if not dtypes.is_complex(out.dtype):
            return real_lower(ctx, x, y)
        x, y = [ctx.broadcast_to(ctx.convert(v, out.dtype), out.shape) for v in (x, y)]
        part = out.update(dtype=dtypes.real_dtype(out.dtype), weak_type=False)
        pred = out.update(dtype=dtypes.bool_, weak_type=False)

        def compare(a, b, how):
            return ctx.op1("stablehlo.compare", [a, b], pred, attrs={
                "comparison_direction": f"#stablehlo<comparison_direction {how}>",
                "compare_type": "#stablehlo<comparison_type FLOAT>"})

        rx, ry = [ctx.op1("stablehlo.real", [v], part) for v in (x, y)]
        ix, iy = [ctx.op1("stablehlo.imag", [v], part) for v in (x, y)]
        pick_x = ctx.op1("stablehlo.select", [compare(rx, ry, "EQ"), compare(ix, iy, direction),
                                              compare(rx, ry, direction)], pred)
        return ctx.op1("stablehlo.select", [pick_x, x, y])
    return lower


max_p = _binary("max", np.maximum, "stablehlo.maximum", _any("max"),
                lower=_minmax_lower("stablehlo.maximum", "GT"))
min_p = _binary("min", np.minimum, "stablehlo.minimum", _any("min"),
                lower=_minmax_lower("stablehlo.minimum", "LT"))
atan2_p = _binary("atan2", np.arctan2, "stablehlo.atan2", _F("atan2", allow_complex=False))
and_p = _binary("and", np.bitwise_and, "stablehlo.and", _same_policy("and", "biu"))
or_p = _binary("or", np.bitwise_or, "stablehlo.or", _same_policy("or", "biu"))
xor_p = _binary("xor", np.bitwise_xor, "stablehlo.xor", _same_policy("xor", "biu"))
shift_left_p = _binary("shift_left", np.left_shift, "stablehlo.shift_left", _same_policy("shift_left", "iu"))


def _shift_right_arithmetic(x, y):
    """Arithmetic shift of two operands of one integer dtype: shift the signed view
    (XLA fills with the top bit for unsigned types too; NumPy's >> would not)."""
    signed = np.dtype(f"i{x.dtype.itemsize}")
    return np.right_shift(x.view(signed), y.view(signed)).view(x.dtype)


shift_right_arithmetic_p = _binary(
    "shift_right_arithmetic", _shift_right_arithmetic, "stablehlo.shift_right_arithmetic",
    _same_policy("shift_right_arithmetic", "iu"))


def _shift_right_logical(x, y):
    """Logical shift of two operands of one integer dtype: shift the unsigned view."""
    unsigned = np.dtype(f"u{x.dtype.itemsize}")
    return np.right_shift(x.view(unsigned), y.astype(unsigned)).view(x.dtype)


shift_right_logical_p = _binary("shift_right_logical", _shift_right_logical,
                                "stablehlo.shift_right_logical", _same_policy("shift_right_logical", "iu"))


def _complex_result(dt):
    return dtypes.complex128 if np.dtype(dt) == dtypes.float64 else dtypes.complex64


complex_p = _binary("complex", lambda x, y: x + 1j * y, "stablehlo.complex",
                    _F("complex", allow_complex=False), result_dtype=_complex_result,
                    lower=lambda ctx, x, y: ctx.op1("stablehlo.complex", [
                        ctx.broadcast_to(ctx.convert(v, dtypes.real_dtype(ctx.avals_out[0].dtype)),
                                         ctx.avals_out[0].shape) for v in (x, y)]))


def _compare_type(dt):
    dt = np.dtype(dt)
    if dt.kind == "f" or dt == dtypes.bfloat16 or dt.kind == "c":
        return "#stablehlo<comparison_type FLOAT>"
    if dt.kind == "i":
        return "#stablehlo<comparison_type SIGNED>"
    return "#stablehlo<comparison_type UNSIGNED>"


def _compare(name, np_fn, direction, kinds="biufc"):
    def attrs(compute):
        return {"comparison_direction": f"#stablehlo<comparison_direction {direction}>",
                "compare_type": _compare_type(compute)}
    return _binary(name, np_fn, "stablehlo.compare", _same_policy(name, kinds),
                   result_dtype=lambda dt: dtypes.bool_, lower_attrs=attrs)


# Complex numbers have no order (stablehlo.compare LT on complex is not NumPy's
# lexicographic order either), so the ordered comparisons reject them, as in JAX.
eq_p = _compare("eq", np.equal, "EQ")
ne_p = _compare("ne", np.not_equal, "NE")
lt_p = _compare("lt", np.less, "LT", kinds="biuf")
le_p = _compare("le", np.less_equal, "LE", kinds="biuf")
gt_p = _compare("gt", np.greater, "GT", kinds="biuf")
ge_p = _compare("ge", np.greater_equal, "GE", kinds="biuf")

# ---------------------------------------------------------------------------
# integer_pow: x ** y for a static integer y, by repeated squaring.

integer_pow_p = Primitive("integer_pow")


@integer_pow_p.def_impl
def _integer_pow_impl(x, *, y):
    x = np.asarray(x, dtypes.dtype_of(x))  # canonical: Python floats multiply in float32
    if y < 0:
        if x.dtype.kind in "iub":
            raise DtypeError("integer_pow: negative exponent needs a floating operand")
        return np.reciprocal(np.power(x, -y)).astype(x.dtype)
    return np.power(x, y).astype(x.dtype)


@integer_pow_p.def_abstract_eval
def _integer_pow_abstract(x, *, y):
    if not isinstance(y, (int, np.integer)):
        raise TypeError(f"integer_pow: exponent must be a Python int, got {y!r}")
    if y < 0 and not dtypes.is_inexact(x.dtype):
        raise DtypeError("integer_pow: negative exponent needs a floating operand")
    return x


@integer_pow_p.def_lower
def _integer_pow_lower(ctx, x, *, y):
    aval = ctx.avals_out[0]
    if y == 0:
        return ctx.broadcast_to(ctx.constant(1, aval.update(shape=())), aval.shape)
    acc = None
    base = x
    n = abs(y)
    while n:
        if n & 1:
            acc = base if acc is None else ctx.op1("stablehlo.multiply", [acc, base])
        n >>= 1
        if n:
            base = ctx.op1("stablehlo.multiply", [base, base])
    if y < 0:
        one = ctx.broadcast_to(ctx.constant(1, aval.update(shape=())), aval.shape)
        acc = ctx.op1("stablehlo.divide", [one, acc])
    return acc


# ---------------------------------------------------------------------------
# stop_gradient: the identity, with a zero derivative (templates in transforms).

stop_gradient_p = Primitive("stop_gradient")
stop_gradient_p.def_impl(lambda x: np.asarray(x) if type(x) in (bool, int, float, complex) else x)
stop_gradient_p.def_abstract_eval(lambda x: x)
stop_gradient_p.def_lower(lambda ctx, x: x)


# ---------------------------------------------------------------------------
# Public wrappers: operands positional, static parameters keyword-only.


def _generated_wrapper(prim, summary, example):
    nargs = 2 if prim in _BINARY else 1

    if nargs == 1:
        def fn(x):
            return prim.bind(x)
    else:
        def fn(x, y):
            return prim.bind(x, y)
    fn.__name__ = fn.__qualname__ = prim.name
    fn.__module__ = "s2s.lax"
    fn.__doc__ = f"{summary}\n\n>>> from s2s import lax\n>>> {example}\n"
    return primitive_wrapper(prim)(fn)


_BINARY = {add_p, sub_p, mul_p, div_p, rem_p, pow_p, max_p, min_p, atan2_p, and_p, or_p, xor_p,
           shift_left_p, shift_right_logical_p, shift_right_arithmetic_p, complex_p,
           eq_p, ne_p, lt_p, le_p, gt_p, ge_p}

_GENERATED_WRAPPERS = [  # (primitive, summary, doctest): wrappers made by _generated_wrapper
    (neg_p, "Elementwise negation.", "lax.neg(2.0)\narray(-2., dtype=float32)"),
    (sign_p, "Elementwise sign (-1, 0 or 1).", "lax.sign(-3.0)\narray(-1., dtype=float32)"),
    (floor_p, "Elementwise floor.", "lax.floor(1.5)\narray(1., dtype=float32)"),
    (ceil_p, "Elementwise ceiling.", "lax.ceil(1.5)\narray(2., dtype=float32)"),
    (is_finite_p, "Elementwise test for finite values.", "lax.is_finite(1.0)\narray(True)"),
    (exp_p, "Elementwise exponential.", "lax.exp(0.0)\narray(1., dtype=float32)"),
    (exp2_p, "Elementwise base-2 exponential.", "lax.exp2(3.0)\narray(8., dtype=float32)"),
    (log_p, "Elementwise natural logarithm.", "lax.log(1.0)\narray(0., dtype=float32)"),
    (log1p_p, "Elementwise ``log(1 + x)``, accurate near zero.", "lax.log1p(0.0)\narray(0., dtype=float32)"),
    (expm1_p, "Elementwise ``exp(x) - 1``, accurate near zero.", "lax.expm1(0.0)\narray(0., dtype=float32)"),
    (tanh_p, "Elementwise hyperbolic tangent.", "lax.tanh(0.0)\narray(0., dtype=float32)"),
    (logistic_p, "Elementwise logistic sigmoid ``1 / (1 + exp(-x))``.", "lax.logistic(0.0)\narray(0.5, dtype=float32)"),
    (sin_p, "Elementwise sine.", "lax.sin(0.0)\narray(0., dtype=float32)"),
    (cos_p, "Elementwise cosine.", "lax.cos(0.0)\narray(1., dtype=float32)"),
    (tan_p, "Elementwise tangent.", "lax.tan(0.0)\narray(0., dtype=float32)"),
    (asin_p, "Elementwise arcsine.", "lax.asin(0.0)\narray(0., dtype=float32)"),
    (acos_p, "Elementwise arccosine.", "lax.acos(1.0)\narray(0., dtype=float32)"),
    (atan_p, "Elementwise arctangent.", "lax.atan(0.0)\narray(0., dtype=float32)"),
    (sinh_p, "Elementwise hyperbolic sine.", "lax.sinh(0.0)\narray(0., dtype=float32)"),
    (cosh_p, "Elementwise hyperbolic cosine.", "lax.cosh(0.0)\narray(1., dtype=float32)"),
    (asinh_p, "Elementwise inverse hyperbolic sine.", "lax.asinh(0.0)\narray(0., dtype=float32)"),
    (acosh_p, "Elementwise inverse hyperbolic cosine.", "lax.acosh(1.0)\narray(0., dtype=float32)"),
    (atanh_p, "Elementwise inverse hyperbolic tangent.", "lax.atanh(0.0)\narray(0., dtype=float32)"),
    (sqrt_p, "Elementwise square root.", "lax.sqrt(4.0)\narray(2., dtype=float32)"),
    (rsqrt_p, "Elementwise reciprocal square root.", "lax.rsqrt(4.0)\narray(0.5, dtype=float32)"),
    (cbrt_p, "Elementwise cube root.", "lax.cbrt(8.0)\narray(2., dtype=float32)"),
    (abs_p, "Elementwise absolute value (complex -> magnitude).", "lax.abs(-2.0)\narray(2., dtype=float32)"),
    (erf_p, "Elementwise error function.", "lax.erf(0.0)\narray(0., dtype=float32)"),
    (erfc_p, "Elementwise complementary error function.", "lax.erfc(0.0)\narray(1., dtype=float32)"),
    (erf_inv_p, "Elementwise inverse error function.", "lax.erf_inv(0.0)\narray(0., dtype=float32)"),
    (lgamma_p, "Elementwise log of the absolute gamma function.", "lax.lgamma(1.0)\narray(0., dtype=float32)"),
    (digamma_p, "Elementwise digamma function.", "lax.lt(lax.digamma(1.0), 0.0)\narray(True)"),
    (not_p, "Elementwise logical/bitwise NOT.", "lax.bitwise_not(True)\narray(False)"),
    (population_count_p, "Elementwise count of set bits.", "lax.population_count(7)\narray(3, dtype=int32)"),
    (real_p, "Real part of a complex array.", "lax.real(1 + 2j)\narray(1., dtype=float32)"),
    (imag_p, "Imaginary part of a complex array.", "lax.imag(1 + 2j)\narray(2., dtype=float32)"),
    (conj_p, "Complex conjugate.", "lax.conj(1 + 2j)\narray(1.-2.j, dtype=complex64)"),
    (add_p, "Elementwise addition (NumPy broadcasting and promotion).", "lax.add(1.0, 2.0)\narray(3., dtype=float32)"),
    (sub_p, "Elementwise subtraction.", "lax.sub(1.0, 2.0)\narray(-1., dtype=float32)"),
    (mul_p, "Elementwise multiplication.", "lax.mul(2.0, 3.0)\narray(6., dtype=float32)"),
    (div_p, "Elementwise division; integers round toward zero.", "lax.div(-7, 2)\narray(-3, dtype=int32)"),
    (rem_p, "Elementwise remainder with the sign of the dividend (C ``fmod``).", "lax.rem(-7, 2)\narray(-1, dtype=int32)"),
    (pow_p, "Elementwise power.", "lax.pow(2.0, 3.0)\narray(8., dtype=float32)"),
    (max_p, "Elementwise maximum (NaN propagates).", "lax.max(1.0, 2.0)\narray(2., dtype=float32)"),
    (min_p, "Elementwise minimum (NaN propagates).", "lax.min(1.0, 2.0)\narray(1., dtype=float32)"),
    (atan2_p, "Elementwise arctangent of ``x / y`` using the signs of both.", "lax.atan2(0.0, 1.0)\narray(0., dtype=float32)"),
    (and_p, "Elementwise logical/bitwise AND.", "lax.bitwise_and(True, False)\narray(False)"),
    (or_p, "Elementwise logical/bitwise OR.", "lax.bitwise_or(True, False)\narray(True)"),
    (xor_p, "Elementwise logical/bitwise XOR.", "lax.bitwise_xor(True, True)\narray(False)"),
    (shift_left_p, "Elementwise left shift.", "lax.shift_left(1, 3)\narray(8, dtype=int32)"),
    (shift_right_logical_p, "Elementwise logical right shift.", "lax.shift_right_logical(-8, 28)\narray(15, dtype=int32)"),
    (shift_right_arithmetic_p, "Elementwise arithmetic right shift.", "lax.shift_right_arithmetic(-8, 1)\narray(-4, dtype=int32)"),
    (complex_p, "Builds ``x + 1j * y``.", "lax.complex(1.0, 2.0)\narray(1.+2.j, dtype=complex64)"),
    (eq_p, "Elementwise ``x == y``.", "lax.eq(1.0, 1.0)\narray(True)"),
    (ne_p, "Elementwise ``x != y``.", "lax.ne(1.0, 1.0)\narray(False)"),
    (lt_p, "Elementwise ``x < y``.", "lax.lt(1.0, 2.0)\narray(True)"),
    (le_p, "Elementwise ``x <= y``.", "lax.le(1.0, 2.0)\narray(True)"),
    (gt_p, "Elementwise ``x > y``.", "lax.gt(1.0, 2.0)\narray(False)"),
    (ge_p, "Elementwise ``x >= y``.", "lax.ge(1.0, 2.0)\narray(False)"),
]

_ALIASES = {"not": "bitwise_not", "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor"}

public = {}
for _prim, _summary, _example in _GENERATED_WRAPPERS:
    _fn = _generated_wrapper(_prim, _summary, _example)
    _name = _ALIASES.get(_prim.name, _prim.name)
    _fn.__name__ = _fn.__qualname__ = _name
    public[_name] = _fn


@primitive_wrapper(round_p)
def round(x, rounding_method="away_from_zero"):
    """Elementwise rounding; halves go away from zero (or ``"to_nearest_even"``).

    >>> from s2s import lax
    >>> lax.round(2.5)
    array(3., dtype=float32)
    """
    return round_p.bind(x, rounding_method=rounding_method)


@primitive_wrapper(integer_pow_p)
def integer_pow(x, y):
    """``x ** y`` for a static Python integer ``y`` (repeated multiplication).

    >>> from s2s import lax
    >>> lax.integer_pow(3.0, 2)
    array(9., dtype=float32)
    """
    return integer_pow_p.bind(x, y=int(y))


@primitive_wrapper(stop_gradient_p)
def stop_gradient(x):
    """The identity, whose derivative is zero.

    >>> from s2s import lax
    >>> lax.stop_gradient(2.0)
    array(2., dtype=float32)
    """
    return stop_gradient_p.bind(x)


public.update(round=round, integer_pow=integer_pow, stop_gradient=stop_gradient)
