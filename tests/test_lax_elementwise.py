"""Elementwise primitives (``s2s.lax.elementwise``), one spec per operation.

For generated cases (shapes x dtypes, Python scalars as weak operands):

(a) the eager result matches an independent NumPy/SciPy reference, value and
    dtype (JAX's rules: transcendental functions take integers to the default
    float dtype, ``div`` of integers truncates, ``rem`` is C ``fmod``, NEP 50
    weak scalars);
(b) ``s2s.jit`` of the public wrapper matches the eager result, value and dtype;
(c) the dtype ``abstract_eval`` predicts is the eager impl's dtype;
(d) bad inputs raise ``ShapeError``/``DtypeError`` naming the op, eagerly and
    under jit, before anything reaches XLA.

The reference casts every operand to the promoted dtype first (that is how a
weak Python scalar meets an array), then computes in float64/complex128 when
that dtype is inexact, and casts to the expected result dtype.
"""
import dataclasses
import itertools
import random
import warnings
import zlib

import numpy as np
import pytest
import scipy.special as sp

import s2s
from cases import NUM_CASES, assert_close, rand, sample, tolerance
from s2s import dtypes, lax
from s2s.errors import DtypeError, S2SError, ShapeError
from s2s.lax import elementwise
from s2s.core.primitive import Primitive, abstractify

F32, F64, F16 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16)
I32, I64, I8, U8 = np.dtype(np.int32), np.dtype(np.int64), np.dtype(np.int8), np.dtype(np.uint8)
C64, C128, BOOL, BF16 = np.dtype(np.complex64), np.dtype(np.complex128), np.dtype(np.bool_), dtypes.bfloat16
# Operand kinds that are Python scalars (weakly typed).
PYF, PYI, PYB, PYC = "pyfloat", "pyint", "pybool", "pycomplex"
_PY_KIND_DTYPE = {PYF: F32, PYI: I32, PYB: BOOL, PYC: C64}
_X64_KIND = {F32: F64, I32: I64, C64: C128}

UNARY_SHAPES = [(), (1,), (5,), (3, 4), (2, 3, 4), (0,)]
BINARY_SHAPES = [((), ()), ((5,), (5,)), ((3, 4), (3, 4)), ((3, 1), (4,)), ((), (3,)),
                 ((2, 1, 4), (3, 1)), ((1,), (6,)), ((4,), ())]


# ---------------------------------------------------------------------------
# Expected dtypes, written independently of s2s.dtypes.


def _canon(dt):
    dt = np.dtype(dt)
    if s2s.config.enable_x64:
        return dt
    return {F64: F32, I64: I32, np.dtype(np.uint64): np.dtype(np.uint32), C128: C64}.get(dt, dt)


def _is_py(x):
    return type(x) in (bool, int, float, complex)


def promoted_dtype(*args):
    """NumPy's NEP 50 promotion of ``args`` (Python scalars weak), 64-bit narrowed."""
    if all(_is_py(a) for a in args):
        return _canon(np.result_type(*[np.asarray(a).dtype for a in args]))
    return _canon(np.result_type(*[a if _is_py(a) else _canon(a.dtype) for a in args]))


def _default_float():
    return F64 if s2s.config.enable_x64 else F32


def _to_float(dt):
    return dt if dt.kind in "fc" else _default_float()


_OUT_RULES = {
    "same": lambda dt: dt,
    "float": _to_float,
    "bool": lambda dt: BOOL,
    "real": lambda dt: {C64: F32, C128: F64}.get(dt, dt),
    "complex": lambda dt: C128 if _to_float(dt) == F64 else C64,
}


# ---------------------------------------------------------------------------
# One spec per operation.


@dataclasses.dataclass
class Op:
    label: str                 # test id; the primitive name unless params differ
    prim: Primitive
    fn: object                 # the public wrapper (params bound)
    ref: object                # reference on promoted (then widened) operands
    kinds: tuple               # unary: operand kinds; binary: pairs of kinds
    out: str = "same"          # result dtype rule, see _OUT_RULES
    domain: tuple = ((-3.0, 3.0),)       # per operand, float inputs
    int_domain: tuple = ((-3, 3),)       # per operand, integer inputs
    complex_domain: tuple = (-0.8, 0.8)  # both parts, complex inputs
    tol: float = 1.0           # tolerance scale over cases.tolerance(dtype)
    prepare: object = None     # args -> args (avoid zeros, make ties...)
    params: dict = dataclasses.field(default_factory=dict)

    @property
    def nargs(self):
        return 2 if self.prim in elementwise._BINARY else 1

    def pairs(self):
        return [k if isinstance(k, tuple) else (k,) for k in self.kinds]


OPS = {}


def _op(label, fn, ref, kinds, prim=None, **kw):
    prim = prim if prim is not None else fn.primitive
    kw.setdefault("domain", ((-3.0, 3.0),) * (2 if prim in elementwise._BINARY else 1))
    kw.setdefault("int_domain", ((-3, 3),) * (2 if prim in elementwise._BINARY else 1))
    for key in ("domain", "int_domain"):
        if not isinstance(kw[key][0], tuple):
            kw[key] = (kw[key],)
    OPS[label] = Op(label, prim, fn, ref, tuple(kinds), **kw)


def _round_half_away(x):
    return np.copysign(np.floor(np.abs(x) + 0.5), x)


def _trunc_div(x, y):
    if x.dtype.kind in "iu":
        return (np.trunc(x.astype(np.float64) / y.astype(np.float64))).astype(x.dtype)
    return x / y


def _bits(dt):
    return np.dtype(dt).itemsize * 8


def _as_signed(values, dt):
    """Python ints in [0, 2**bits) -> ``dt`` with two's-complement wrapping."""
    bits = _bits(dt)
    signed = dt.kind == "i"
    out = [v - (1 << bits) if signed and v >= 1 << (bits - 1) else v for v in values]
    return np.array(out, dtype=dt)


def _popcount(x):
    bits = _bits(x.dtype)
    vals = [bin(int(v) % (1 << bits)).count("1") for v in x.ravel()]
    return np.array(vals, dtype=x.dtype).reshape(x.shape)


def _shift_ref(shift):
    """Shift reference on Python ints: ``shift(value_bits, amount, bits)`` with the
    operand as its two's-complement bit pattern and the amount taken unsigned (XLA)."""
    def ref(x, y):
        x, y = np.broadcast_arrays(x, y)
        bits = _bits(x.dtype)
        vals = [shift(int(a) % (1 << bits), int(b) % (1 << bits), bits) % (1 << bits)
                for a, b in zip(x.ravel(), y.ravel())]
        return _as_signed(vals, x.dtype).reshape(x.shape)
    return ref


def _signed(a, bits):
    return a - (1 << bits) if a >= 1 << (bits - 1) else a


_shl = _shift_ref(lambda a, b, bits: a << b if b < bits else 0)
_srl = _shift_ref(lambda a, b, bits: a >> b if b < bits else 0)
_sra = _shift_ref(lambda a, b, bits: _signed(a, bits) >> min(b, bits - 1))


def _nonzero_divisor(args):
    x, y = args
    if _is_py(y):
        return x, (y if abs(y) >= 0.25 else type(y)(1))
    if y.dtype.kind in "iu":
        return x, np.where(y == 0, 1, y).astype(y.dtype)
    return x, np.where(np.abs(y) < 0.25, y + 1, y).astype(y.dtype)


def _with_ties(args):
    """Rounds floats to halves so comparisons, max and min meet equal operands."""
    out = []
    for a in args:
        if _is_py(a) and type(a) is float:
            a = round(a * 2) / 2
        elif not _is_py(a) and a.dtype.kind == "f":
            a = (np.round(a * 2) / 2).astype(a.dtype)
        elif not _is_py(a) and a.dtype.kind == "c":
            a = ((np.round(a.real * 2) + 1j * np.round(a.imag * 2)) / 2).astype(a.dtype)
        out.append(a)
    return tuple(out)


def _shift_amounts(args):
    """Shift amounts in [0, bits) of the promoted dtype (wider shifts have their own test)."""
    x, y = args
    bits = _bits(promoted_dtype(x, y))
    if _is_py(y):
        return x, y % bits
    return x, (y % bits).astype(y.dtype)


FLOAT_IN = (F32, I32, PYF, PYI)
FLOAT_IN_C = FLOAT_IN + (C64, PYC)
FLOAT_ONLY = (F32, PYF)

# Unary -----------------------------------------------------------------------
_op("neg", lax.neg, np.negative, (F32, I32, C64, PYF, PYI))
_op("sign", lax.sign, np.sign, (F32, I32, C64, U8, PYF, PYI))
_op("floor", lax.floor, np.floor, FLOAT_ONLY)
_op("ceil", lax.ceil, np.ceil, FLOAT_ONLY)
_op("round", lax.round, _round_half_away, FLOAT_ONLY)
_op("round[to_nearest_even]", lambda x: lax.round(x, "to_nearest_even"), np.round, FLOAT_ONLY,
    prim=elementwise.round_p, params={"rounding_method": "to_nearest_even"})
_op("is_finite", lax.is_finite, np.isfinite, FLOAT_ONLY, out="bool")
_op("exp", lax.exp, np.exp, FLOAT_IN_C + (BOOL,), out="float")
_op("exp2", lax.exp2, np.exp2, FLOAT_IN_C, out="float")
_op("log", lax.log, np.log, FLOAT_IN_C, out="float", domain=(0.1, 5.0), int_domain=(1, 5))
_op("log1p", lax.log1p, np.log1p, FLOAT_IN_C, out="float", domain=(-0.9, 3.0), int_domain=(0, 5))
_op("expm1", lax.expm1, np.expm1, FLOAT_IN_C, out="float")
_op("tanh", lax.tanh, np.tanh, FLOAT_IN_C + (BOOL,), out="float")
_op("logistic", lax.logistic, lambda x: 1 / (1 + np.exp(-x)), FLOAT_IN_C, out="float")
_op("sin", lax.sin, np.sin, FLOAT_IN_C + (BOOL,), out="float")
_op("cos", lax.cos, np.cos, FLOAT_IN_C, out="float")
_op("tan", lax.tan, np.tan, FLOAT_IN_C, out="float", domain=(-1.3, 1.3), int_domain=(-1, 1))
_op("asin", lax.asin, np.arcsin, FLOAT_IN_C, out="float", domain=(-0.95, 0.95), int_domain=(-1, 1))
_op("acos", lax.acos, np.arccos, FLOAT_IN_C, out="float", domain=(-0.95, 0.95), int_domain=(-1, 1))
_op("atan", lax.atan, np.arctan, FLOAT_IN_C, out="float")
_op("sinh", lax.sinh, np.sinh, FLOAT_IN_C, out="float")
_op("cosh", lax.cosh, np.cosh, FLOAT_IN_C, out="float")
_op("asinh", lax.asinh, np.arcsinh, FLOAT_IN_C, out="float")
_op("acosh", lax.acosh, np.arccosh, FLOAT_IN_C, out="float", domain=(1.05, 5.0), int_domain=(1, 5))
_op("atanh", lax.atanh, np.arctanh, (F32, PYF, C64, PYC), out="float", domain=(-0.95, 0.95))
_op("sqrt", lax.sqrt, np.sqrt, FLOAT_IN_C, out="float", domain=(0.1, 5.0), int_domain=(0, 5))
_op("rsqrt", lax.rsqrt, lambda x: 1 / np.sqrt(x), FLOAT_IN_C, out="float", domain=(0.1, 5.0),
    int_domain=(1, 5))
_op("cbrt", lax.cbrt, np.cbrt, FLOAT_IN, out="float")
_op("abs", lax.abs, np.abs, (F32, I32, C64, PYF, PYI, PYC), out="real")
_op("erf", lax.erf, sp.erf, FLOAT_IN, out="float")
_op("erfc", lax.erfc, sp.erfc, FLOAT_IN, out="float")
_op("erf_inv", lax.erf_inv, sp.erfinv, FLOAT_ONLY, out="float", domain=(-0.95, 0.95))
# Away from the poles at 0, -1, -2...; XLA's lgamma/digamma are good to a few 1e-6.
_op("lgamma", lax.lgamma, sp.gammaln, FLOAT_IN, out="float", domain=(0.1, 5.0), int_domain=(1, 5),
    tol=5)
_op("digamma", lax.digamma, sp.digamma, FLOAT_IN, out="float", domain=(0.1, 5.0), int_domain=(1, 5),
    tol=5)
_op("not", lax.bitwise_not, np.invert, (BOOL, I32, U8, PYB, PYI), int_domain=(-100, 100))
_op("population_count", lax.population_count, _popcount, (I32, U8, I8, PYI), int_domain=(-1000, 1000))
_op("real", lax.real, np.real, (C64, PYC), out="real")
_op("imag", lax.imag, np.imag, (C64, PYC), out="real")
_op("conj", lax.conj, np.conj, (C64, PYC))
_op("stop_gradient", lax.stop_gradient, lambda x: x, (F32, I32, BOOL, C64, PYF, PYI))
for _y in (0, 1, 2, 3, -1, -2):
    _op(f"integer_pow[y={_y}]", (lambda y: lambda x: lax.integer_pow(x, y))(_y),
        (lambda y: lambda x: x ** y)(_y),
        (F32, C64, PYF) + ((I32, PYI) if _y >= 0 else ()),
        prim=elementwise.integer_pow_p, params={"y": _y}, domain=(0.2, 2.0), tol=4)

# Binary ----------------------------------------------------------------------
ARITH = ((F32, F32), (I32, I32), (C64, C64), (F32, PYF), (PYF, F32), (I32, PYI), (PYI, I32),
         (I32, PYF), (I32, F32), (PYF, PYI))
CMP = ((F32, F32), (I32, I32), (BOOL, BOOL), (F32, PYF), (PYF, F32), (I32, PYI), (I32, PYF),
       (PYF, PYF), (I32, F32))
BITS = ((BOOL, BOOL), (I32, I32), (U8, U8), (I32, PYI), (PYI, I32), (BOOL, PYB))
SHIFTS = ((I32, I32), (U8, U8), (I8, I8), (I32, PYI), (PYI, I32))
_SHIFT_DOMAIN = ((-1000, 1000), (0, 100))

_op("add", lax.add, np.add, ARITH + ((BOOL, BOOL),))
_op("sub", lax.sub, np.subtract, ARITH)
_op("mul", lax.mul, np.multiply, ARITH + ((BOOL, BOOL),))
_op("div", lax.div, _trunc_div, ARITH, prepare=_nonzero_divisor)
_op("rem", lax.rem, np.fmod, ((F32, F32), (I32, I32), (F32, PYF), (I32, PYI), (PYI, I32), (I32, F32)),
    prepare=_nonzero_divisor)
_op("pow", lax.pow, np.power, ((F32, F32), (I32, I32), (C64, C64), (F32, PYF), (PYF, F32),
                               (I32, PYI), (F32, PYI)),
    domain=((0.1, 3.0), (-2.0, 2.0)), int_domain=((0, 3), (0, 3)), tol=10)
_op("max", lax.max, np.maximum, ARITH + ((BOOL, BOOL),), prepare=_with_ties)
_op("min", lax.min, np.minimum, ARITH + ((BOOL, BOOL),), prepare=_with_ties)
_op("atan2", lax.atan2, np.arctan2, ((F32, F32), (I32, I32), (F32, PYF), (PYF, F32), (PYF, PYF),
                                     (I32, F32)), out="float")
_op("and", lax.bitwise_and, np.bitwise_and, BITS, int_domain=((-100, 100),) * 2)
_op("or", lax.bitwise_or, np.bitwise_or, BITS, int_domain=((-100, 100),) * 2)
_op("xor", lax.bitwise_xor, np.bitwise_xor, BITS, int_domain=((-100, 100),) * 2)
_op("shift_left", lax.shift_left, _shl, SHIFTS, int_domain=_SHIFT_DOMAIN, prepare=_shift_amounts)
_op("shift_right_logical", lax.shift_right_logical, _srl, SHIFTS, int_domain=_SHIFT_DOMAIN,
    prepare=_shift_amounts)
_op("shift_right_arithmetic", lax.shift_right_arithmetic, _sra, SHIFTS, int_domain=_SHIFT_DOMAIN,
    prepare=_shift_amounts)
_op("complex", lax.complex, lambda x, y: x + 1j * y,
    ((F32, F32), (F32, PYF), (PYF, F32), (PYF, PYF), (I32, I32)), out="complex")
for _name, _fn, _ref in [("eq", lax.eq, np.equal), ("ne", lax.ne, np.not_equal)]:
    _op(_name, _fn, _ref, CMP + ((C64, C64),), out="bool", prepare=_with_ties)
for _name, _fn, _ref in [("lt", lax.lt, np.less), ("le", lax.le, np.less_equal),
                         ("gt", lax.gt, np.greater), ("ge", lax.ge, np.greater_equal)]:
    _op(_name, _fn, _ref, CMP, out="bool", prepare=_with_ties)


# ---------------------------------------------------------------------------
# Case generation.


def _draw(label, valid, n=None, **axes):
    """Like ``cases.sample`` but only over the combinations ``valid`` accepts."""
    combos = [c for c in sample(label, n=10**9, **axes) if valid(c)]
    n = NUM_CASES if n is None else n
    if len(combos) > n:
        combos = random.Random(zlib.crc32(label.encode())).sample(combos, n)
    return combos


def _operand(kind, shape, op, position, rng):
    if isinstance(kind, str):
        dt = _PY_KIND_DTYPE[kind]
        value = _operand(dt, (), op, position, rng)
        return {PYF: float, PYI: int, PYB: bool, PYC: complex}[kind](value.item())
    pos = min(position, len(op.domain) - 1)
    if kind.kind in "iu":
        lo, hi = op.int_domain[min(position, len(op.int_domain) - 1)]
        return rand(shape, kind, rng, lo, hi)
    if kind.kind == "c":
        return rand(shape, kind, rng, *op.complex_domain)
    return rand(shape, kind, rng, *op.domain[pos])


def make_args(op, case, x64=False):
    rng = np.random.default_rng(zlib.crc32(_case_name(op.label, case).encode()))
    kinds = case["dtypes"]
    if x64:
        kinds = tuple(_X64_KIND.get(k, k) if not isinstance(k, str) else k for k in kinds)
    shapes = case["shapes"] if op.nargs == 2 else (case["shapes"],)
    args = tuple(_operand(k, s, op, i, rng) for i, (k, s) in enumerate(zip(kinds, shapes)))
    return op.prepare(args) if op.prepare else args


def _kind_name(k):
    return k if isinstance(k, str) else np.dtype(k).name


def _case_name(label, case):
    shapes = case["shapes"] if OPS[label].nargs == 2 else (case["shapes"],)
    return "-".join([label, "x".join(map(_kind_name, case["dtypes"])),
                     "x".join(str(s).replace(" ", "") for s in shapes)])


def _python_operands_are_0d(op):
    """A Python scalar operand has no shape: keep only its () combination."""
    def valid(case):
        shapes = case["shapes"] if op.nargs == 2 else (case["shapes"],)
        return all(s == () for k, s in zip(case["dtypes"], shapes) if isinstance(k, str))
    return valid


def _cases(x64=False):
    out = []
    for label, op in OPS.items():
        shapes = BINARY_SHAPES if op.nargs == 2 else UNARY_SHAPES
        valid = _python_operands_are_0d(op)
        if x64:
            n = max(2, NUM_CASES // 4)
            draw = _draw(f"{label}[x64]", valid, n=n, shapes=shapes, dtypes=op.pairs())
        else:
            draw = _draw(label, valid, shapes=shapes, dtypes=op.pairs())
        out += [pytest.param(label, c, id=_case_name(label, c)) for c in draw]
    return out


CASES = _cases()
X64_CASES = _cases(x64=True)


def expected(op, args):
    """Reference value and dtype for ``op`` on ``args``."""
    compute = promoted_dtype(*args)
    out_dtype = _OUT_RULES[op.out](compute)
    operands = [np.asarray(a, compute) for a in args]
    if compute.kind in "fc" or op.out in ("float", "complex"):
        wide = C128 if compute.kind == "c" else F64
        operands = [o.astype(wide) for o in operands]
    with np.errstate(all="ignore"):
        value = op.ref(*operands)
    return np.asarray(value).astype(out_dtype)


def _tol(op, dtype):
    return tolerance(dtype, op.tol)


def _check(actual, want, op, what):
    assert isinstance(actual, np.ndarray), f"{what}: got {type(actual).__name__}, not an array"
    dt = want.dtype
    tol = _tol(op, dt)
    assert_close(actual, want, rtol=tol, atol=tol, err_msg=f"{op.label} {what}")


# ---------------------------------------------------------------------------
# (a) eager vs reference, (b) jit vs eager, (c) abstract_eval vs impl.


@pytest.mark.parametrize("label,case", CASES)
def test_eager_matches_reference(label, case):
    op = OPS[label]
    args = make_args(op, case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no stray overflow/invalid warnings in domain
        out = op.fn(*args)
    _check(out, expected(op, args), op, "eager vs reference")


@pytest.mark.parametrize("label,case", CASES)
def test_jit_matches_eager(label, case):
    op = OPS[label]
    args = make_args(op, case)
    eager = op.fn(*args)
    staged = s2s.jit(op.fn)(*args)
    _check(staged, eager, op, "jit vs eager")


@pytest.mark.parametrize("label,case", CASES)
def test_abstract_eval_matches_impl(label, case):
    op = OPS[label]
    args = make_args(op, case)
    aval = op.prim.abstract_eval(*[abstractify(a) for a in args], **op.params)
    out = op.prim.bind(*args, **op.params)
    assert (aval.shape, aval.dtype) == (out.shape, out.dtype)
    # Weak in, weak out, unless the result is of another kind (bool, real part...).
    promoted = promoted_dtype(*args)
    compute = _to_float(promoted) if op.out in ("float", "complex") else promoted
    weak = all(_is_py(a) for a in args) and _OUT_RULES[op.out](promoted) == compute
    assert aval.weak_type == weak, f"{label}: weak_type {aval.weak_type} for {args!r}"


@pytest.mark.parametrize("label,case", X64_CASES)
def test_x64(label, case, x64):
    op = OPS[label]
    args = make_args(op, case, x64=True)
    want = expected(op, args)
    out = op.fn(*args)
    _check(out, want, op, "eager vs reference (x64)")
    staged = s2s.jit(op.fn)(*args)
    _check(staged, out, op, "jit vs eager (x64)")


def test_every_elementwise_primitive_has_a_spec():
    defined = {v for v in vars(elementwise).values() if isinstance(v, Primitive)}
    covered = {op.prim for op in OPS.values()}
    assert sorted(p.name for p in defined - covered) == []


# The contract, over every dtype pair (cheap: no compilation): abstract_eval and
# the impl agree on shape and dtype, or both raise the same S2SError.
_SWEEP = [BOOL, I8, U8, np.dtype(np.int16), I32, np.dtype(np.uint32), I64, np.dtype(np.uint64),
          F16, BF16, F32, F64, C64, C128, PYB, PYI, PYF, PYC]


def _sweep_value(kind):
    if isinstance(kind, str):
        return {PYB: True, PYI: 1, PYF: 0.5, PYC: 0.5 + 0.25j}[kind]
    return np.full((2,), 0.5 if kind.kind in "fcV" else 1, kind)


def _outcome(f):
    try:
        r = f()
    except S2SError as e:
        return type(e).__name__
    return (tuple(r.shape), np.dtype(r.dtype).name)


_PRIM_PARAMS = {"integer_pow": [{"y": 2}, {"y": -1}], "round": [{}, {"rounding_method": "to_nearest_even"}]}


@pytest.mark.parametrize("mode", ["x32", "x64"])
@pytest.mark.parametrize("name", sorted({op.prim.name for op in OPS.values()}))
def test_abstract_eval_dtype_contract_all_dtypes(name, mode, request):
    if mode == "x64":
        request.getfixturevalue("x64")
    prim = lax.all_primitives()[name]
    nargs = 2 if prim in elementwise._BINARY else 1
    bad = []
    for params in _PRIM_PARAMS.get(name, [{}]):
        for kinds in itertools.product(_SWEEP, repeat=nargs):
            vals = [_sweep_value(k) for k in kinds]
            with np.errstate(all="ignore"):
                a = _outcome(lambda: prim.abstract_eval(*[abstractify(v) for v in vals], **params))
                r = _outcome(lambda: prim.bind(*vals, **params))
            if a != r:
                bad.append(f"{name}{params or ''}{tuple(str(k) for k in kinds)}: abstract {a}, eager {r}")
    assert not bad, "\n".join(bad[:20])


# ---------------------------------------------------------------------------
# (d) bad inputs.


@pytest.mark.parametrize("label", [label for label, op in OPS.items() if op.nargs == 2])
def test_broadcast_error_names_op(label):
    op = OPS[label]
    kind = next(k for k, _ in op.pairs() if not isinstance(k, str))
    x = np.ones((3, 2), kind)
    y = np.ones((4,), kind)
    pattern = rf"\b{op.prim.name}\b.*\(3, 2\).*\(4,\)"
    with pytest.raises(ShapeError, match=pattern):
        op.fn(x, y)
    with pytest.raises(ShapeError, match=pattern):
        s2s.jit(op.fn)(x, y)


_BAD_DTYPES = [
    ("and", lax.bitwise_and, (F32, F32)), ("or", lax.bitwise_or, (F32, I32)),
    ("xor", lax.bitwise_xor, (C64, C64)), ("not", lax.bitwise_not, (F32,)),
    ("shift_left", lax.shift_left, (F32, I32)), ("shift_left", lax.shift_left, (BOOL, BOOL)),
    ("shift_right_logical", lax.shift_right_logical, (F32, F32)),
    ("shift_right_logical", lax.shift_right_logical, (I32, PYF)),
    ("shift_right_arithmetic", lax.shift_right_arithmetic, (BOOL, BOOL)),
    ("population_count", lax.population_count, (F32,)), ("population_count", lax.population_count, (BOOL,)),
    ("erf", lax.erf, (C64,)), ("erfc", lax.erfc, (C64,)), ("erf_inv", lax.erf_inv, (PYC,)),
    ("lgamma", lax.lgamma, (C64,)), ("digamma", lax.digamma, (C64,)), ("cbrt", lax.cbrt, (C64,)),
    ("floor", lax.floor, (I32,)), ("ceil", lax.ceil, (C64,)), ("round", lax.round, (I32,)),
    ("is_finite", lax.is_finite, (I32,)), ("real", lax.real, (F32,)), ("imag", lax.imag, (I32,)),
    ("conj", lax.conj, (F32,)), ("atan2", lax.atan2, (C64, F32)), ("rem", lax.rem, (C64, C64)),
    ("rem", lax.rem, (BOOL, BOOL)), ("sub", lax.sub, (BOOL, BOOL)), ("div", lax.div, (BOOL, BOOL)),
    ("pow", lax.pow, (BOOL, BOOL)), ("neg", lax.neg, (BOOL,)), ("sign", lax.sign, (BOOL,)),
    ("abs", lax.abs, (U8,)), ("lt", lax.lt, (C64, C64)), ("ge", lax.ge, (F32, PYC)),
    ("complex", lax.complex, (C64, F32)),
    ("integer_pow", lambda x: lax.integer_pow(x, -1), (I32,)),
]


@pytest.mark.parametrize("name,fn,kinds", _BAD_DTYPES,
                         ids=[f"{n}-{'-'.join(map(str, k))}" for n, _, k in _BAD_DTYPES])
def test_dtype_error_names_op(name, fn, kinds):
    args = [_sweep_value(k) for k in kinds]
    with pytest.raises(DtypeError, match=rf"\b{name}\b"):
        fn(*args)
    with pytest.raises(DtypeError, match=rf"\b{name}\b"):
        s2s.jit(fn)(*args)


def test_round_rejects_unknown_method():
    with pytest.raises(ValueError, match="round.*rounding_method"):
        lax.round(1.5, "up")
    with pytest.raises(ValueError, match="round.*rounding_method"):
        s2s.jit(lambda x: lax.round(x, "up"))(1.5)


# ---------------------------------------------------------------------------
# Semantics worth pinning down with exact values (eager and jit).


def _both(fn, *args):
    """Eager and jit results, checked to agree exactly in dtype and value."""
    eager = fn(*args)
    staged = s2s.jit(fn)(*args)
    assert eager.dtype == staged.dtype
    np.testing.assert_array_equal(eager, staged)
    return eager


def test_div_truncates_and_rem_is_fmod():
    x = np.array([-7, 7, -7, 7, 6, -6], np.int32)
    y = np.array([2, -2, -2, 2, 3, 4], np.int32)
    q = _both(lax.div, x, y)
    r = _both(lax.rem, x, y)
    np.testing.assert_array_equal(q, [-3, -3, 3, 3, 2, -1])
    np.testing.assert_array_equal(r, [-1, 1, -1, 1, 0, -2])
    np.testing.assert_array_equal(q * y + r, x)
    xf, yf = x.astype(np.float32), np.array([2, -2, -2, 2, 3, -4], np.float32)
    np.testing.assert_array_equal(_both(lax.rem, xf, yf), np.fmod(xf, yf))
    assert _both(lax.div, -7, 2) == -3 and _both(lax.div, -7, 2).dtype == I32
    assert _both(lax.rem, -7.5, 2.0) == -1.5


def test_shifts_match_xla_semantics():
    x = np.array([-8, -1, 1, 2**30, -(2**31)], np.int32)
    assert _both(lax.shift_right_logical, -8, 28) == 15
    np.testing.assert_array_equal(_both(lax.shift_right_logical, x, np.int32(28)), [15, 15, 0, 4, 8])
    np.testing.assert_array_equal(_both(lax.shift_right_arithmetic, x, 1),
                                  [-4, -1, 0, 2**29, -(2**30)])
    # Shift amounts of at least the bit width: 0, or the sign for arithmetic shifts.
    big = np.array([32, 40, 32, 33, 100], np.int32)
    np.testing.assert_array_equal(_both(lax.shift_left, x, big), 0)
    np.testing.assert_array_equal(_both(lax.shift_right_logical, x, big), 0)
    np.testing.assert_array_equal(_both(lax.shift_right_arithmetic, x, big), [-1, -1, 0, 0, -1])
    u = np.array([0x80, 0xFF, 1], np.uint8)
    np.testing.assert_array_equal(_both(lax.shift_right_logical, u, np.uint8(7)), [1, 1, 0])
    # Arithmetic shifts fill with the top bit for unsigned types too (as XLA, JAX).
    np.testing.assert_array_equal(_both(lax.shift_right_arithmetic, u, np.uint8(1)), [0xC0, 0xFF, 0])
    np.testing.assert_array_equal(_both(lax.shift_right_arithmetic, u, np.uint8(200)), [0xFF, 0xFF, 0])
    # Negative shift amounts read as huge unsigned ones.
    np.testing.assert_array_equal(_both(lax.shift_left, x, np.int32(-1)), 0)
    np.testing.assert_array_equal(_both(lax.shift_right_arithmetic, x, np.int32(-1)), [-1, -1, 0, 0, -1])
    np.testing.assert_array_equal(_both(lax.shift_left, u, np.uint8(1)), [0, 0xFE, 2])
    np.testing.assert_array_equal(_both(lax.shift_right_logical, np.int8(-1), np.int8(4)), 15)


def test_shift_right_logical_x64_uses_64_bits(x64):
    assert _both(lax.shift_right_logical, -8, 28) == 2**36 - 1
    assert _both(lax.shift_right_logical, np.int32(-8), np.int32(28)) == 15


def test_population_count_counts_twos_complement_bits():
    x = np.array([0, 7, -1, -2**31, 2**31 - 1], np.int32)
    np.testing.assert_array_equal(_both(lax.population_count, x), [0, 3, 32, 1, 31])
    np.testing.assert_array_equal(_both(lax.population_count, np.array([-1, -128], np.int8)), [8, 1])
    np.testing.assert_array_equal(_both(lax.population_count, np.array([255], np.uint8)), [8])
    assert _both(lax.population_count, 7).dtype == I32


def test_round_halves():
    x = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 0.49999997, -0.49999997, 3.0, -0.0], np.float32)
    np.testing.assert_array_equal(_both(lax.round, x), [1, 2, 3, -1, -3, 0, -0.0, 3, -0.0])
    even = _both(lambda v: lax.round(v, "to_nearest_even"), x)
    np.testing.assert_array_equal(even, [0, 2, 2, -0.0, -2, 0, -0.0, 3, -0.0])
    assert np.signbit(_both(lax.round, np.float32(-0.2)))  # -0.0, as XLA
    big = np.array([2.0**23 + 1, -(2.0**24)], np.float32)  # no fractional part left
    np.testing.assert_array_equal(_both(lax.round, big), big)


def test_conj_real_imag_complex():
    z = np.array([1 + 2j, -3 - 0.5j, 0j, 2 - 0j], np.complex64)
    c = _both(lax.conj, z)
    np.testing.assert_array_equal(c, np.conj(z))
    np.testing.assert_array_equal(np.signbit(c.imag), np.signbit(np.conj(z).imag))
    np.testing.assert_array_equal(_both(lax.conj, c), z)
    assert _both(lax.conj, 1 + 2j) == 1 - 2j
    np.testing.assert_array_equal(_both(lax.real, z), z.real)
    np.testing.assert_array_equal(_both(lax.imag, z), z.imag)
    np.testing.assert_array_equal(_both(lax.complex, _both(lax.real, z), _both(lax.imag, z)), z)


def test_conj_x64(x64):
    z = np.array([1 + 2j, -3 - 0.5j], np.complex128)
    out = _both(lax.conj, z)
    assert out.dtype == C128
    np.testing.assert_array_equal(out, np.conj(z))
    assert _both(lax.conj, 1 + 2j).dtype == C128


def test_max_min_complex_is_lexicographic():
    x = np.array([1 + 1j, 2 - 0.5j, 0.5 + 2j, 2 + 1j, -1 - 1j], np.complex64)
    y = np.array([2, 2, 2, 2 + 1j, -1 + 0j], np.complex64)
    np.testing.assert_array_equal(_both(lax.max, x, y), np.maximum(x, y))
    np.testing.assert_array_equal(_both(lax.min, x, y), np.minimum(x, y))
    np.testing.assert_array_equal(_both(lax.max, x, 2.0), np.maximum(x, np.complex64(2)))


def test_max_min_propagate_nan():
    x = np.array([np.nan, 1.0, -np.inf], np.float32)
    y = np.array([1.0, np.nan, 0.0], np.float32)
    np.testing.assert_array_equal(_both(lax.max, x, y), [np.nan, np.nan, 0.0])
    np.testing.assert_array_equal(_both(lax.min, x, y), [np.nan, np.nan, -np.inf])


def test_is_finite_special_values():
    x = np.array([0.0, np.inf, -np.inf, np.nan, 1e38], np.float32)
    np.testing.assert_array_equal(_both(lax.is_finite, x), [True, False, False, False, True])


def test_integer_pow_edge_cases():
    x = np.array([-2.0, 0.5, 3.0], np.float32)
    np.testing.assert_allclose(_both(lambda v: lax.integer_pow(v, -3), x), x ** -3.0, rtol=1e-6)
    np.testing.assert_array_equal(_both(lambda v: lax.integer_pow(v, 0), x), [1, 1, 1])
    ints = np.array([-3, 2, 7], np.int32)
    np.testing.assert_array_equal(_both(lambda v: lax.integer_pow(v, 5), ints), ints ** 5)
    nine = np.array([9], np.int32)
    np.testing.assert_array_equal(_both(lambda v: lax.integer_pow(v, 11), nine), nine ** 11)  # wraps


def test_exp2_and_logistic_extremes():
    x = np.array([-30.0, 0.0, 10.0, 30.0], np.float32)
    np.testing.assert_allclose(_both_close(lax.exp2, x), np.exp2(x.astype(np.float64)), rtol=1e-5)
    np.testing.assert_allclose(_both_close(lax.logistic, np.array([-100.0, 0.0, 100.0], np.float32)),
                               [0.0, 0.5, 1.0], atol=1e-7)


def _both_close(fn, *args):
    eager = fn(*args)
    staged = s2s.jit(fn)(*args)
    assert eager.dtype == staged.dtype
    np.testing.assert_allclose(staged, eager, rtol=1e-5, atol=1e-7)
    return eager


# ---------------------------------------------------------------------------
# Dtypes of results: 0-d arrays, weak Python scalars (NEP 50), x64.


def _all_python_kinds(op):
    return next((p for p in op.pairs() if all(isinstance(k, str) for k in p)), None)


@pytest.mark.parametrize("label", [label for label, op in OPS.items() if _all_python_kinds(op)])
def test_python_scalars_give_0d_arrays(label):
    op = OPS[label]
    case = {"shapes": ((), ()) if op.nargs == 2 else (), "dtypes": _all_python_kinds(op)}
    out = op.fn(*make_args(op, case))
    assert isinstance(out, np.ndarray) and out.shape == ()


@pytest.mark.parametrize("fn,args,dtype", [
    (lax.add, (np.ones(2, np.float16), 2.0), F16),
    (lax.mul, (np.ones(2, BF16), 2.0), BF16),
    (lax.add, (np.ones(2, np.int8), 1), I8),
    (lax.add, (np.ones(2, np.uint8), True), U8),
    (lax.add, (np.ones(2, np.int32), 1.5), F32),
    (lax.add, (np.ones(2, np.float32), 1j), C64),
    (lax.max, (np.ones(2, np.int8), 2.5), F32),
    (lax.div, (np.ones(2, np.float16), 2), F16),
    (lax.rem, (np.ones(2, np.uint8), 3), U8),
    (lax.exp, (np.ones(2, np.int8),), F32),
    (lax.exp, (np.ones(2, np.float16),), F16),
    (lax.erf, (np.ones(2, BF16),), BF16),
    (lax.add, (1, 2), I32),
    (lax.add, (1, 2.0), F32),
    (lax.add, (True, 2), I32),
    (lax.mul, (1.0, 1j), C64),
    (lax.exp, (1,), F32),
    (lax.lt, (np.ones(2, np.int32), 1.5), BOOL),
    (lax.add, (np.ones(2, np.float64), np.ones(2, np.float64)), F32),  # narrowed without x64
    (lax.add, (np.ones(2, np.int32), np.ones(2, np.uint64)), I32),     # uint64 -> uint32 first
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_weak_scalar_promotion(fn, args, dtype):
    assert fn(*args).dtype == dtype
    assert s2s.jit(fn)(*args).dtype == dtype


@pytest.mark.parametrize("fn,args,dtype", [
    (lax.add, (np.ones(2, np.float32), 1.5), F32),
    (lax.add, (1.5, 1.5), F64),
    (lax.add, (1, 2), I64),
    (lax.exp, (np.ones(2, np.int32),), F64),
    (lax.exp, (np.ones(2, np.float32),), F32),
    (lax.mul, (1.0, 1j), C128),
    (lax.add, (np.ones(2, np.int32), 1.5), F64),
    (lax.complex, (np.ones(2, np.float32), 1.0), C64),
    (lax.complex, (1.0, 1.0), C128),
], ids=lambda v: getattr(v, "__name__", None) if callable(v) else None)
def test_weak_scalar_promotion_x64(fn, args, dtype, x64):
    assert fn(*args).dtype == dtype
    assert s2s.jit(fn)(*args).dtype == dtype


def test_eager_dtype_decisions_follow_x64_flips():
    assert lax.exp(np.ones(2, np.int32)).dtype == F32
    s2s.config.update("enable_x64", True)
    try:
        assert lax.exp(np.ones(2, np.int32)).dtype == F64
        assert lax.sin(1).dtype == F64
    finally:
        s2s.config.update("enable_x64", False)
    assert lax.exp(np.ones(2, np.int32)).dtype == F32


def test_weak_type_propagates_under_jit():
    f16 = np.ones(2, np.float16)
    # x is a weak float32 (a Python scalar argument); so is x + 1.0, which then
    # takes float16's dtype when it meets the float16 array.
    assert s2s.jit(lambda x, y: lax.mul(lax.add(x, 1.0), y))(2.0, f16).dtype == F16
    assert s2s.jit(lambda x, y: lax.mul(lax.exp(x), y))(2.0, f16).dtype == F16
    # Comparisons and 64-bit-free results are strong.
    lowered = s2s.jit(lambda x: lax.lt(x, 1.0)).lower(2.0)
    assert lowered.out_avals[0].dtype == BOOL and not lowered.out_avals[0].weak_type


@pytest.mark.xfail(strict=True, reason=(
    "eager values are NumPy arrays and cannot carry weak_type: lax.add(2.0, 1.0) is a strong "
    "float32 array, so meeting a float16 array gives float32 eagerly but float16 under jit"))
def test_weak_type_survives_eager_intermediates():
    f16 = np.ones(2, np.float16)
    assert lax.mul(lax.add(2.0, 1.0), f16).dtype == F16


# ---------------------------------------------------------------------------
# Against JAX, when it is installed.

_JAX_NAMES = {"not": "bitwise_not", "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor"}


def test_against_jax_lax():
    jax = pytest.importorskip("jax")
    jlax = jax.lax
    rng = np.random.default_rng(0)
    picks = sample("against-jax", n=max(NUM_CASES * 2, 10),
                   label=[label for label in OPS if "[" not in label or "integer_pow" in label])
    bad = []
    for pick in picks:
        op = OPS[pick["label"]]
        # JAX's lax takes floats where s2s also takes ints (jnp's rule); give it floats.
        kinds = next((p for p in op.pairs() if all(not isinstance(k, str) for k in p)
                      and (op.out != "float" or all(k.kind in "fc" for k in p))), None)
        if kinds is None:
            continue
        args = tuple(_operand(k, (3, 4), op, i, rng) for i, k in enumerate(kinds))
        args = op.prepare(args) if op.prepare else args
        jfn = getattr(jlax, _JAX_NAMES.get(op.prim.name, op.prim.name))
        if op.params:
            jfn = (lambda f, p: lambda *a: f(*a, **p))(jfn, dict(op.params))
        ours = s2s.jit(op.fn)(*args)
        theirs = np.asarray(jax.jit(jfn)(*args))
        if ours.dtype != theirs.dtype:
            bad.append(f"{op.label}{kinds}: dtype {ours.dtype} vs jax {theirs.dtype}")
            continue
        tol = _tol(op, ours.dtype)
        if not np.allclose(ours, theirs, rtol=tol, atol=tol, equal_nan=True):
            bad.append(f"{op.label}{kinds}: values differ\n{ours}\n{theirs}")
        # Weak types: JAX's abstract evaluation on Python scalars.
        if op.nargs == 1 and kinds[0] in (F32,):
            want = jax.eval_shape(jfn, 0.5)
            got = op.prim.abstract_eval(abstractify(0.5), **op.params)
            if (got.dtype, got.weak_type) != (want.dtype, want.weak_type):
                bad.append(f"{op.label}(0.5): {got} vs jax {want.dtype} weak={want.weak_type}")
    assert not bad, "\n".join(bad)
