"""Elementwise s2s.numpy functions against NumPy: values, dtypes (jax.numpy's promotion
of integers to floats, NEP 50 weak scalars), eager against jit, errors."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import DtypeError, ShapeError

from cases import rand, sample
from np_checks import check, check_cases, check_error, rng_for

F, I, B, C, H, U = onp.float32, onp.int32, onp.bool_, onp.complex64, onp.float16, onp.uint8


def _same(*dts):
    return dtypes.result_type(*[onp.zeros((), d) for d in dts])


def _inexact(*dts):
    return dtypes.to_inexact_dtype(_same(*dts))


def _bool(*dts):
    return onp.dtype(onp.bool_)


def _intlike(*dts):
    dt = _same(*dts)
    return onp.dtype(onp.int8) if dt == onp.bool_ else dt


# name, NumPy reference (run on inputs cast to the result's compute dtype), input dtypes,
# domain (low, high), result dtype rule, reference casts inputs to the result dtype first
UNARY = [
    ("exp", onp.exp, [F, I, C, H], (-3, 3), _inexact),
    ("exp2", onp.exp2, [F, I], (-3, 3), _inexact),
    ("expm1", onp.expm1, [F, I], (-3, 3), _inexact),
    ("log", onp.log, [F, I, C], (1, 5), _inexact),
    ("log2", onp.log2, [F, I], (1, 5), _inexact),
    ("log10", onp.log10, [F, I], (1, 5), _inexact),
    ("log1p", onp.log1p, [F, I], (0, 3), _inexact),
    ("sqrt", onp.sqrt, [F, I, C], (0, 5), _inexact),
    ("cbrt", onp.cbrt, [F, I], (-5, 5), _inexact),
    ("reciprocal", onp.reciprocal, [F, I], (1, 4), _inexact),
    ("sin", onp.sin, [F, I, C], (-3, 3), _inexact),
    ("cos", onp.cos, [F, I], (-3, 3), _inexact),
    ("tan", onp.tan, [F], (-1.2, 1.2), _inexact),
    ("arcsin", onp.arcsin, [F], (-0.9, 0.9), _inexact),
    ("arccos", onp.arccos, [F], (-0.9, 0.9), _inexact),
    ("arctan", onp.arctan, [F, I], (-3, 3), _inexact),
    ("sinh", onp.sinh, [F, I], (-3, 3), _inexact),
    ("cosh", onp.cosh, [F], (-3, 3), _inexact),
    ("tanh", onp.tanh, [F, I, C], (-3, 3), _inexact),
    ("arcsinh", onp.arcsinh, [F], (-3, 3), _inexact),
    ("arccosh", onp.arccosh, [F], (1.1, 4), _inexact),
    ("arctanh", onp.arctanh, [F], (-0.9, 0.9), _inexact),
    ("deg2rad", onp.deg2rad, [F, I], (-200, 200), _inexact),
    ("radians", onp.radians, [F], (-200, 200), _inexact),
    ("rad2deg", onp.rad2deg, [F, I], (-3, 3), _inexact),
    ("degrees", onp.degrees, [F], (-3, 3), _inexact),
    ("sinc", onp.sinc, [F, I], (-3, 3), _inexact),
    ("fabs", onp.fabs, [F, I], (-3, 3), _inexact),
    ("rint", onp.rint, [F, I], (-5, 5), _inexact),
    ("negative", onp.negative, [F, I, C, H, U], (-3, 3), _same),
    ("positive", lambda x: x, [F, I, B, C], (-3, 3), _same),
    ("absolute", onp.absolute, [F, I, B, H], (-3, 3), _same),
    ("abs", onp.abs, [F, I], (-3, 3), _same),
    ("sign", onp.sign, [F, I, C], (-3, 3), _same),
    ("square", onp.square, [F, I, C, U], (-3, 3), _same),
    ("floor", onp.floor, [F, I, H], (-3, 3), _same),
    ("ceil", onp.ceil, [F, I], (-3, 3), _same),
    ("trunc", onp.trunc, [F, I], (-3, 3), _same),
    ("fix", onp.fix, [F, I], (-3, 3), _same),
    ("conj", onp.conj, [F, I, C], (-3, 3), _same),
    ("conjugate", onp.conjugate, [F, C], (-3, 3), _same),
    ("real", onp.real, [F, I, C], (-3, 3), lambda d: dtypes.real_dtype(_same(d))),
    ("imag", onp.imag, [F, C], (-3, 3), lambda d: dtypes.real_dtype(_same(d))),
    ("angle", onp.angle, [F, I, C], (-3, 3), lambda d: dtypes.real_dtype(_inexact(d))),
    ("invert", onp.invert, [I, B, U], (-3, 3), _same),
    ("bitwise_not", onp.invert, [I, U], (-3, 3), _same),
    ("logical_not", onp.logical_not, [F, I, B], (-1, 1), _bool),
    ("isnan", onp.isnan, [F, I, C, H], (-3, 3), _bool),
    ("isinf", onp.isinf, [F, I, C], (-3, 3), _bool),
    ("isfinite", onp.isfinite, [F, I, C], (-3, 3), _bool),
    ("isposinf", onp.isposinf, [F, I], (-3, 3), _bool),
    ("isneginf", onp.isneginf, [F, I], (-3, 3), _bool),
    ("signbit", onp.signbit, [F, I, H], (-3, 3), _bool),
    ("isreal", onp.isreal, [F, C], (-3, 3), _bool),
    ("iscomplex", onp.iscomplex, [F, C], (-3, 3), _bool),
    ("nan_to_num", onp.nan_to_num, [F, I, C], (-3, 3), _same),
]

SHAPES = [(), (4,), (2, 3), (3, 1, 2)]


def _with_specials(x, name):
    """Puts NaN and infinities into float inputs of the classification functions."""
    specials = ("isnan", "isinf", "isfinite", "isposinf", "isneginf", "nan_to_num", "signbit",
                "fabs", "floor", "sign", "absolute")
    if x.dtype.kind != "f" or x.size < 3 or name not in specials:
        return x
    x = x.copy()
    flat = x.reshape(-1)
    flat[:3] = [onp.nan, onp.inf, -onp.inf] if name != "signbit" else [-0.0, onp.inf, -onp.inf]
    return x


def _unary_case(name, ref, dom, rule, case):
    x = rand(case["shape"], case["dtype"], rng_for(case), *dom)
    x = _with_specials(x, name)
    want = onp.dtype(rule(case["dtype"]))
    compute = want if want.kind in "fc" and x.dtype.kind in "iub" else x.dtype
    with onp.errstate(all="ignore"):
        expected = onp.asarray(ref(x.astype(compute) if name not in ("fabs", "rint") else
                                   x.astype(want)))
    if name == "nan_to_num" and x.dtype == F:
        expected = onp.nan_to_num(x, posinf=onp.finfo(F).max, neginf=onp.finfo(F).min)
    return (x,), expected.astype(want)


@pytest.mark.parametrize("name,ref,dts,dom,rule", UNARY, ids=[u[0] for u in UNARY])
def test_unary(name, ref, dts, dom, rule):
    """Every input dtype, 3 shapes each (eager); one shape per dtype under jit."""
    cases = [_unary_case(name, ref, dom, rule, case) for dt in dts
             for case in sample(f"unary-{name}-{onp.dtype(dt).name}", n=3, dtype=[dt],
                                shape=SHAPES)]
    check_cases(getattr(snp, name), cases, jit_every=3, dtype=True, rtol=1e-5, atol=1e-5)


BINARY = [
    ("add", onp.add, [F, I, B, C], (-3, 3), _same),
    ("subtract", onp.subtract, [F, I, C, U], (-3, 3), _same),
    ("multiply", onp.multiply, [F, I, B, C], (-3, 3), _same),
    ("divide", onp.divide, [F, I, C], (1, 4), _inexact),
    ("true_divide", onp.true_divide, [F, I], (1, 4), _inexact),
    ("floor_divide", onp.floor_divide, [F, I, U, B], (-7, 7), _intlike),
    ("remainder", onp.remainder, [F, I, U], (-7, 7), _intlike),
    ("mod", onp.mod, [F, I], (-7, 7), _intlike),
    ("fmod", onp.fmod, [F, I], (-7, 7), _intlike),
    ("power", onp.power, [F, C], (0.5, 2), _same),
    ("float_power", onp.float_power, [F, I], (1, 3), _inexact),
    ("maximum", onp.maximum, [F, I, B], (-3, 3), _same),
    ("minimum", onp.minimum, [F, I, U], (-3, 3), _same),
    ("fmax", onp.fmax, [F, I], (-3, 3), _same),
    ("fmin", onp.fmin, [F], (-3, 3), _same),
    ("arctan2", onp.arctan2, [F, I], (-3, 3), _inexact),
    ("hypot", onp.hypot, [F, I], (-3, 3), _inexact),
    ("logaddexp", onp.logaddexp, [F, I], (-3, 3), _inexact),
    ("logaddexp2", onp.logaddexp2, [F], (-3, 3), _inexact),
    ("heaviside", onp.heaviside, [F, I], (-2, 2), _inexact),
    ("copysign", onp.copysign, [F, I], (-3, 3), _inexact),
    ("nextafter", onp.nextafter, [F], (-3, 3), _inexact),
    ("equal", onp.equal, [F, I, B, C], (-2, 2), _bool),
    ("not_equal", onp.not_equal, [F, I], (-2, 2), _bool),
    ("less", onp.less, [F, I, U], (-2, 2), _bool),
    ("less_equal", onp.less_equal, [F, I], (-2, 2), _bool),
    ("greater", onp.greater, [F, I], (-2, 2), _bool),
    ("greater_equal", onp.greater_equal, [F, I, B], (-2, 2), _bool),
    ("logical_and", onp.logical_and, [F, I, B], (-1, 1), _bool),
    ("logical_or", onp.logical_or, [I, B], (-1, 1), _bool),
    ("logical_xor", onp.logical_xor, [F, B], (-1, 1), _bool),
    ("bitwise_and", onp.bitwise_and, [I, B, U], (0, 7), _same),
    ("bitwise_or", onp.bitwise_or, [I, B], (0, 7), _same),
    ("bitwise_xor", onp.bitwise_xor, [I, U], (0, 7), _same),
    ("left_shift", onp.left_shift, [I, U], (0, 5), _same),
    ("right_shift", onp.right_shift, [I, U], (-50, 50), _same),
    ("isclose", onp.isclose, [F, I], (-2, 2), _bool),
]

PAIRS = [((4,), (4,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (3,)), ((2, 2), ())]


def _operands(name, case, dom):
    rng = rng_for(case)
    (sa, sb), dt = case["shapes"], case["dtype"]
    a, b = rand(sa, dt, rng, *dom), rand(sb, dt, rng, *dom)
    if name in ("floor_divide", "remainder", "mod", "fmod"):  # no division by zero
        b = onp.where(b == 0, onp.asarray(3 if dt != B else True, dt), b).astype(dt)
    if name in ("right_shift", "left_shift"):
        b = rand(sb, dt, rng, 0, 5)
    if name in ("isclose", "equal") and a.shape == b.shape:
        b = onp.where(rng.random(b.shape) < 0.5, a, b).astype(dt)
    return a, b


def _binary_case(name, ref, dom, want, case):
    a, b = _operands(name, case, dom)
    compute = want if (want.kind in "fc" and a.dtype.kind in "iu") else a.dtype
    if name == "floor_divide" and a.dtype == B:
        compute = onp.int8
    with onp.errstate(all="ignore"):
        expected = onp.asarray(ref(a.astype(compute), b.astype(compute)))
    return (a, b), expected.astype(want)


@pytest.mark.parametrize("name,ref,dts,dom,rule", BINARY, ids=[b[0] for b in BINARY])
def test_binary(name, ref, dts, dom, rule):
    """Every input dtype, 3 broadcasting shape pairs each (eager); one per dtype under jit."""
    cases = [_binary_case(name, ref, dom, onp.dtype(rule(dt, dt)), case) for dt in dts
             for case in sample(f"binary-{name}-{onp.dtype(dt).name}", n=3, dtype=[dt],
                                shapes=PAIRS)]
    check_cases(getattr(snp, name), cases, jit_every=3, dtype=True, rtol=2e-5, atol=2e-5)


# ---------------------------------------------------------------------------
# NEP 50: Python scalars are weak; x64 widens defaults.

WEAK = [("add", 2.0), ("multiply", 3), ("subtract", 1), ("maximum", 0.5), ("power", 2),
        ("power", 0.5), ("true_divide", 2), ("floor_divide", 2), ("remainder", 3),
        ("hypot", 1.0), ("arctan2", 1), ("where", None), ("clip", None), ("logaddexp", 1.0),
        ("copysign", -1.0), ("fmax", 0.0), ("heaviside", 0.5)]


def _weak_fn(name, scalar):
    if name == "where":
        return lambda a: snp.where(a > 1, a, 0)
    if name == "clip":
        return lambda a: snp.clip(a, 1, 2)
    return lambda a: getattr(snp, name)(a, scalar)


def _weak_want(name, scalar, dt):
    if onp.dtype(dt).kind in "iu" and name in ("hypot", "arctan2", "logaddexp", "copysign",
                                               "heaviside", "true_divide"):
        return dtypes.default_float_dtype()
    if onp.dtype(dt).kind in "iu" and isinstance(scalar, float):
        return dtypes.canonicalize_dtype(onp.result_type(onp.zeros((), dt), scalar))
    return onp.dtype(dt)


@pytest.mark.parametrize("dt", [onp.float16, dtypes.bfloat16, onp.int8, onp.uint8],
                         ids=["float16", "bfloat16", "int8", "uint8"])
def test_weak_python_scalars(dt):
    """fn(array, Python scalar) keeps the array's dtype (NEP 50), eagerly and under jit."""
    x = onp.asarray([1, 2, 3]).astype(dt)
    fns = [_weak_fn(name, scalar) for name, scalar in WEAK]
    eager = [fn(x) for fn in fns]
    staged = s2s.jit(lambda a: [fn(a) for fn in fns])(x)
    for (name, scalar), e, s in zip(WEAK, eager, staged):
        want = _weak_want(name, scalar, dt)
        assert e.dtype == want and s.dtype == want, (name, e.dtype, s.dtype, want)


def test_x64_dtypes(x64):
    i = onp.arange(3)
    assert snp.sqrt(i).dtype == onp.float64
    assert snp.add(i, 1).dtype == onp.int64
    assert snp.float_power(onp.float32(2), 2).dtype == onp.float64
    check(lambda a: snp.true_divide(a, 2), (i,), onp.arange(3) / 2, dtype=onp.float64)
    check(lambda a: snp.floor_divide(a, -2), (i,), onp.arange(3) // -2, dtype=onp.int64)
    assert snp.multiply(onp.float32(1), 2.0).dtype == onp.float32


def test_x32_narrowing():
    i64 = onp.arange(3, dtype=onp.int64)
    assert snp.add(i64, 1).dtype == onp.int32
    assert snp.sqrt(i64).dtype == onp.float32
    assert snp.multiply(onp.ones(2), 2).dtype == onp.float32


# ---------------------------------------------------------------------------
# Functions with options.


@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
@pytest.mark.parametrize("dt", [F, I, C])
def test_round(decimals, dt):
    rng = onp.random.default_rng(decimals + 10)
    x = rand((7,), dt, rng, -300, 300)
    if dt == F:
        x = onp.concatenate([x, onp.array([0.5, 1.5, 2.5, -0.5, 12.5], F)])
    if dt == I:
        x = onp.concatenate([x, onp.array([15, 25, -15, 1250], I)])
    if dt == C and decimals < 0:
        return
    check(lambda a: snp.round(a, decimals), (x,), onp.round(x, decimals), dtype=x.dtype,
          rtol=1e-5, atol=1e-4)
    check(lambda a: snp.around(a, decimals), (x,), onp.around(x, decimals), dtype=x.dtype,
          rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (None, 0.5), (0.0, None), (-1, 2)])
def test_clip(lo, hi):
    x = onp.linspace(-3, 3, 7).astype(F)
    check(lambda a: snp.clip(a, lo, hi), (x,), onp.clip(x, lo, hi), dtype=F)
    check(lambda a: snp.clip(a, min=lo, max=hi), (x,), onp.clip(x, lo, hi), dtype=F)
    xi = onp.arange(-3, 4, dtype=I)
    check(lambda a: snp.clip(a, onp.int32(-1), onp.int32(1)), (xi,), onp.clip(xi, -1, 1),
          exact=True)


def test_clip_array_bounds():
    x = onp.linspace(-3, 3, 12).astype(F).reshape(3, 4)
    lo = onp.linspace(-1, 0, 4).astype(F)
    check(lambda a, b: snp.clip(a, b, 1.0), (x, lo), onp.clip(x, lo, 1.0), dtype=F)


def test_where():
    rng = onp.random.default_rng(0)
    c = rng.random((2, 3)) < 0.5
    x, y = rng.normal(size=(3,)).astype(F), onp.int32(7)
    check(snp.where, (c, x, y), onp.where(c, x, y).astype(F), dtype=F)
    check(lambda cc: snp.where(cc, 1.0, 0), (c,), onp.where(c, 1.0, 0.0), dtype=F)
    ci = rng.integers(0, 3, size=(4,)).astype(I)
    check(lambda cc: snp.where(cc, cc, -cc), (ci,), onp.where(ci, ci, -ci), exact=True)
    check_error(ValueError, lambda cc: snp.where(cc, 1.0), (c,), match="both or neither")
    check_error(ShapeError, lambda cc: snp.where(cc, onp.ones(4), 0.0), (c,), match="where")


def test_where_one_argument_is_nonzero():
    c = onp.array([0, 3, 0, 5])
    out = snp.where(c)
    assert len(out) == 1 and list(out[0]) == [1, 3]
    check(lambda cc: snp.where(cc, size=3, fill_value=-1), (c,), (onp.array([1, 3, -1]),),
          exact=True, dtype=onp.int32)


def test_divmod_and_operators():
    a = onp.arange(-7, 8, dtype=I)
    q, r = check(lambda x: snp.divmod(x, 3), (a,), onp.divmod(a, 3), exact=True)
    f = onp.linspace(-5, 5, 11).astype(F)
    check(lambda x: snp.divmod(x, -1.5), (f,), onp.divmod(f, onp.float32(-1.5)), dtype=F)
    check(lambda x: divmod(x, 2), (snp.asarray(a),), onp.divmod(a, 2), exact=True)


def test_power_integer_exponents():
    x = onp.linspace(-2, 2, 5).astype(F)
    for p in (0, 1, 2, 3, -1, -2):
        with onp.errstate(divide="ignore"):
            check(lambda a: snp.power(a, p), (x,), onp.power(x, onp.float32(p)), dtype=F)
    b = onp.array([True, False])
    check(lambda a: snp.power(a, 2), (b,), onp.array([1, 0]), dtype=onp.int32)
    check_error(ValueError, lambda a: snp.power(a, -1), (onp.arange(3),),
                match="negative integer powers")


def test_allclose_and_array_equal():
    a = onp.linspace(0, 1, 5).astype(F)
    assert bool(check(lambda x: snp.allclose(x, x + 1e-9), (a,)))
    assert not bool(check(lambda x: snp.allclose(x, x + 1e-3), (a,)))
    assert bool(check(lambda x: snp.array_equal(x, x), (a,)))
    assert not bool(snp.array_equal(a, a[:4]))
    n = onp.array([1.0, onp.nan], F)
    assert not bool(snp.array_equal(n, n))
    assert bool(check(lambda x: snp.array_equal(x, x, equal_nan=True), (n,)))
    assert bool(snp.array_equiv([1, 2], [[1, 2], [1, 2]]))
    assert not bool(snp.array_equiv([1, 2], [1, 2, 3]))
    check(lambda x: snp.isclose(x, onp.nan, equal_nan=True), (n,), [False, True], exact=True)


def test_isclose_infinities():
    a = onp.array([onp.inf, -onp.inf, onp.inf, 1.0, onp.nan], F)
    b = onp.array([onp.inf, onp.inf, 1e38, 1.0, onp.nan], F)
    check(snp.isclose, (a, b), onp.isclose(a, b), exact=True)


def test_misc_functions():
    x = onp.array([-1.5, 0.0, 2.5, -0.0], F)
    check(snp.modf, (x,), onp.modf(x), dtype=F)
    check(lambda a: snp.ldexp(a, 3), (x,), onp.ldexp(x, 3), dtype=F)
    check(lambda a: snp.angle(a, deg=True), (onp.array([1j, -1 + 0j], C),),
          onp.angle(onp.array([1j, -1]), deg=True), dtype=F)
    check(lambda a: snp.nan_to_num(a, nan=-1.0, posinf=9.0, neginf=-9.0),
          (onp.array([onp.nan, onp.inf, -onp.inf, 1.0], F),), [-1.0, 9.0, -9.0, 1.0], dtype=F)
    assert snp.isrealobj(x) and not snp.iscomplexobj(x) and snp.iscomplexobj([1j])


@pytest.mark.parametrize("name,args,exc,match", [
    ("subtract", (onp.array([True]), onp.array([False])), DtypeError, "sub"),
    ("negative", (onp.array([True]),), DtypeError, "neg"),
    ("sign", (onp.array([True]),), DtypeError, "sign"),
    ("bitwise_and", (onp.ones(2, F), onp.ones(2, F)), DtypeError, "and"),
    ("add", (onp.ones(2, F), onp.ones(3, F)), ShapeError, "(2,) (3,)"),
    ("fabs", (onp.ones(2, C),), DtypeError, "fabs"),
    ("floor", (onp.ones(2, C),), DtypeError, "floor"),
    ("floor_divide", (onp.ones(2, C), 1), DtypeError, "floor_divide"),
    ("ldexp", (onp.ones(2, F), 1.5), DtypeError, "ldexp"),
])
def test_errors(name, args, exc, match):
    check_error(exc, getattr(snp, name), args, match=match)


def test_python_operators_on_tracers():
    a = onp.arange(1, 7, dtype=I).reshape(2, 3)
    b = onp.linspace(0.5, 3, 6).astype(F).reshape(2, 3)

    def ops(x, y):
        return (x + y, x - y, x * y, x / y, x // 2, x % 4, x ** 2, 2 ** y, y ** 0.5, -x, +x,
                abs(-x), ~x, x & 3, x | 8, x ^ 5, x << 1, x >> 1, x == 2, x != 2, x < y,
                x <= y, x > y, x >= y, 1 + x, 1 - x, 2 * x, 1 / y, 7 // x, 7 % x, 2.0 ** x,
                3 & x, 3 | x, 3 ^ x, 1 << x, 64 >> x, x @ y.T, round(y, 1), divmod(x, 4),
                divmod(7, x))

    eager = ops(snp.asarray(a), snp.asarray(b))
    staged = s2s.jit(ops)(a, b)
    for e, s in zip(eager, staged):
        for ee, ss in zip(e if isinstance(e, tuple) else [e], s if isinstance(s, tuple) else [s]):
            assert onp.asarray(ee).dtype == onp.asarray(ss).dtype
            onp.testing.assert_allclose(onp.asarray(ss), onp.asarray(ee), rtol=1e-6)


def test_numpy_ufuncs_on_tracers_route_to_s2s():
    x = onp.linspace(0.1, 1, 4).astype(F)
    check(lambda a: onp.exp(a) + onp.add(a, 1) * onp.arctan2(a, 2.0), (x,),
          onp.exp(x) + (x + 1) * onp.arctan2(x, onp.float32(2)), dtype=F)


def test_agrees_with_jax_numpy():
    jnp = pytest.importorskip("jax.numpy")
    rng = onp.random.default_rng(3)
    a = rng.integers(-9, 10, size=12).astype(I)
    b = rng.integers(1, 5, size=12).astype(I) * onp.where(rng.random(12) < 0.5, -1, 1).astype(I)
    f = rng.normal(size=12).astype(F) * 3
    for name in ("floor_divide", "remainder", "fmod", "right_shift", "hypot", "logaddexp",
                 "copysign", "heaviside", "arctan2", "true_divide"):
        ours = getattr(snp, name)(a, onp.abs(b) if "shift" in name else b)
        theirs = getattr(jnp, name)(a, onp.abs(b) if "shift" in name else b)
        assert ours.dtype == theirs.dtype, name
        onp.testing.assert_allclose(ours, onp.asarray(theirs), rtol=1e-6, err_msg=name)
    for name in ("floor", "ceil", "trunc", "rint", "sinc", "sign", "square", "reciprocal",
                 "nan_to_num", "signbit", "isfinite", "deg2rad", "cbrt", "exp2", "log10"):
        for x in (a, f):
            with onp.errstate(divide="ignore", invalid="ignore"):  # log10 of x <= 0, as NumPy
                ours = getattr(snp, name)(x)
            theirs = getattr(jnp, name)(x)
            assert ours.dtype == theirs.dtype, (name, x.dtype)
            onp.testing.assert_allclose(ours, onp.asarray(theirs), rtol=2e-6, atol=1e-6,
                                        err_msg=name)
