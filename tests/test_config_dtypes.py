"""``s2s.config`` and ``s2s.dtypes``; ``import s2s`` stays free of ``jax``."""
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import s2s
from s2s import dtypes, lax

ROOT = pathlib.Path(__file__).resolve().parents[1]
BF16 = dtypes.bfloat16
F16, F32, F64 = np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64)
I8, I16, I32, I64 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64))
U8, U32, U64 = np.dtype(np.uint8), np.dtype(np.uint32), np.dtype(np.uint64)
C64, C128, BOOL = np.dtype(np.complex64), np.dtype(np.complex128), np.dtype(np.bool_)


def _run_python(code, **env):
    """Runs ``code`` in a fresh interpreter on this checkout; returns its stdout."""
    environ = dict(os.environ, **env)
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=environ, cwd=str(ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# ---------------------------------------------------------------------------
# config


def test_update_and_restore():
    assert s2s.config.enable_x64 is False
    s2s.config.update("enable_x64", True)
    try:
        assert s2s.config.enable_x64 is True
        assert dtypes.x64_enabled()
        assert dtypes.default_float_dtype() == F64
    finally:
        s2s.config.update("enable_x64", False)
    assert s2s.config.enable_x64 is False
    assert dtypes.default_float_dtype() == F32


def test_jax_style_option_names_are_accepted():
    s2s.config.update("jax_enable_x64", True)
    try:
        assert s2s.config.enable_x64
    finally:
        s2s.config.update("s2s_enable_x64", False)
    assert not s2s.config.enable_x64


def test_unknown_option_is_an_error_that_lists_the_options():
    with pytest.raises(KeyError, match=r"no option 'enable_x32'.*enable_x64"):
        s2s.config.update("enable_x32", True)
    with pytest.raises(AttributeError, match="no option 'nonsense'"):
        s2s.config.nonsense  # noqa: B018


def test_on_change_listeners_are_told():
    seen = []
    s2s.config.on_change(lambda name, value: seen.append((name, value)))
    s2s.config.update("log_compiles", True)
    s2s.config.update("log_compiles", False)
    assert seen[-2:] == [("log_compiles", True), ("log_compiles", False)]


@pytest.mark.parametrize("value,expected", [("1", "True"), ("true", "True"), ("0", "False"), ("", "False")])
def test_environment_variable_sets_x64(value, expected):
    out = _run_python(
        "import s2s\n"
        "from s2s import lax\n"
        "print(s2s.config.enable_x64, lax.add(1.0, 2.0).dtype, s2s.jit(lambda x: lax.add(x, 1.0))(1.0).dtype)",
        S2S_ENABLE_X64=value)
    width = "64" if expected == "True" else "32"
    assert out == f"{expected} float{width} float{width}"


def test_import_and_jit_do_not_import_jax():
    out = _run_python(
        "import sys\n"
        "import numpy as np\n"
        "import s2s\n"
        "import s2s.lax\n"
        "f = s2s.jit(lambda x: s2s.lax.sin(x) * 2.0)\n"
        "print(f(np.ones(3, np.float32)).tolist(), f.lower(np.ones(3, np.float32)).as_text().count('stablehlo'))\n"
        "print(sorted(m for m in sys.modules if m == 'jax' or m.startswith('jax.')))")
    first, jax_modules = out.splitlines()
    assert first.startswith("[1.68")
    assert jax_modules == "[]"


# ---------------------------------------------------------------------------
# canonicalize_dtype


@pytest.mark.parametrize("dt,canonical", [
    (F64, F32), (I64, I32), (U64, U32), (C128, C64),
    (F32, F32), (F16, F16), (BF16, BF16), (I8, I8), (U8, U8), (BOOL, BOOL), (C64, C64),
])
def test_canonicalize_dtype(dt, canonical):
    assert dtypes.canonicalize_dtype(dt) == canonical
    assert dtypes.canonicalize_dtype(dt.type) == canonical


@pytest.mark.parametrize("dt", [F64, I64, U64, C128, F32, BF16])
def test_canonicalize_dtype_x64_keeps_everything(dt, x64):
    assert dtypes.canonicalize_dtype(dt) == dt


def test_defaults_and_python_scalars(request):
    assert dtypes.python_scalar_dtype(True) == BOOL
    assert dtypes.python_scalar_dtype(1) == I32
    assert dtypes.python_scalar_dtype(1.0) == F32
    assert dtypes.python_scalar_dtype(1j) == C64
    assert dtypes.default_int_dtype() == I32 and dtypes.default_complex_dtype() == C64
    with pytest.raises(TypeError, match="not a Python scalar"):
        dtypes.python_scalar_dtype(np.float32(1))
    assert dtypes.is_python_scalar(1.0) and not dtypes.is_python_scalar(np.float64(1.0))
    assert dtypes.is_weakly_typed(1) and not dtypes.is_weakly_typed(np.ones(2))
    request.getfixturevalue("x64")
    assert dtypes.python_scalar_dtype(1) == I64
    assert dtypes.python_scalar_dtype(1.0) == F64
    assert dtypes.python_scalar_dtype(1j) == C128


def test_dtype_helpers():
    assert dtypes.real_dtype(C64) == F32 and dtypes.real_dtype(C128) == F64 and dtypes.real_dtype(I32) == I32
    assert dtypes.to_inexact_dtype(I8) == F32 and dtypes.to_inexact_dtype(BOOL) == F32
    assert dtypes.to_inexact_dtype(F16) == F16 and dtypes.to_inexact_dtype(C64) == C64
    assert dtypes.dtype_of(1.0) == F32 and dtypes.dtype_of(np.ones(2)) == F32 and dtypes.dtype_of([1, 2]) == I32
    assert dtypes.is_integer(U8) and not dtypes.is_integer(BOOL)


# ---------------------------------------------------------------------------
# result_type: NumPy's NEP 50 on canonical dtypes; the weak-scalar cases agree
# with JAX (jnp.result_type gives the same for every row).

_RESULT_TYPES = [
    ((I32, 1.5), F32),
    ((I32, 1), I32),
    ((I8, 1), I8),
    ((U8, 1), U8),
    ((U8, True), U8),
    ((F16, 1.0), F16),
    ((BF16, 1.0), BF16),
    ((BF16, 1), BF16),
    ((BF16, 1j), C64),
    ((F32, 1j), C64),
    ((I8, 1.5), F32),
    ((BOOL, 1), I32),
    ((BOOL, 1.5), F32),
    ((I32, 1j), C64),
    ((BF16, I32), BF16),
    ((BF16, F16), F32),
    ((BF16, F32), F32),
    ((BF16, U8), BF16),
    ((BF16, C64), C64),
    ((I32, U32), I32),
    ((I8, U8), I16),
    ((F16, F32), F32),
    ((1, 1.0), F32),
    ((True, 1), I32),
    ((1,), I32),
    ((1.0,), F32),
    ((True,), BOOL),
    ((1j,), C64),
    ((1, 1j), C64),
]


def _value(spec):
    return np.ones(2, spec) if isinstance(spec, np.dtype) else spec


def _name(spec):
    return spec.name if isinstance(spec, np.dtype) else repr(spec)


@pytest.mark.parametrize("operands,expected", _RESULT_TYPES,
                         ids=["+".join(map(_name, ops)) for ops, _ in _RESULT_TYPES])
def test_result_type(operands, expected):
    values = [_value(o) for o in operands]
    assert dtypes.result_type(*values) == expected
    dt, weak = dtypes.result_type(*values, return_weak_type=True)
    assert dt == expected
    assert weak == all(not isinstance(o, np.dtype) for o in operands)


def test_result_type_matches_jax():
    jnp = pytest.importorskip("jax.numpy")
    bad = []
    for operands, _ in _RESULT_TYPES:
        values = [_value(o) for o in operands]
        ours, theirs = dtypes.result_type(*values), np.dtype(jnp.result_type(*values))
        if ours != theirs:
            bad.append(f"{'+'.join(map(_name, operands))}: s2s {ours}, jax {theirs}")
    assert not bad, "\n".join(bad)


def test_result_type_canonicalizes_operands_first():
    # uint64 meets int32 as uint32 (not as uint64, which would promote to float).
    assert dtypes.result_type(np.ones(2, U64), np.ones(2, I32)) == I32
    assert dtypes.result_type(np.ones(2, F64), 1.0) == F32
    assert dtypes.result_type(np.ones(2, I64), 1.5) == F32


@pytest.mark.parametrize("operands,expected", [
    ((I32, 1.5), F64), ((F32, 1.5), F32), ((1.0,), F64), ((1,), I64), ((1j,), C128),
    ((I32, U32), I64), ((U64, I32), F64), ((BF16, 1.0), BF16), ((F32, F64), F64),
])
def test_result_type_x64(operands, expected, x64):
    assert dtypes.result_type(*[_value(o) for o in operands]) == expected


def test_result_type_of_staged_values_uses_weak_flags():
    from s2s.core.primitive import ShapedArray
    weak_f32 = ShapedArray((), F32, weak_type=True)
    assert dtypes.result_type(weak_f32, ShapedArray((2,), F16)) == F16
    assert dtypes.result_type(ShapedArray((), F32), ShapedArray((2,), F16)) == F32
    assert dtypes.result_type(weak_f32, weak_f32, return_weak_type=True) == (F32, True)
    with pytest.raises(ValueError, match="at least one"):
        dtypes.result_type()


@pytest.mark.parametrize("a,b,expected", [
    (F32, F64, F32), (I8, U8, I16), (BF16, F16, F32), (BF16, I32, BF16), (BF16, BF16, BF16),
    (BOOL, BF16, BF16), (I32, F16, F32),
])
def test_promote_types(a, b, expected):
    assert dtypes.promote_types(a, b) == expected
    assert dtypes.promote_types(b, a) == expected


# ---------------------------------------------------------------------------
# bfloat16


def test_bfloat16_predicates():
    assert dtypes.is_float(BF16) and dtypes.is_inexact(BF16) and not dtypes.is_complex(BF16)
    assert dtypes.issubdtype(BF16, np.floating) and dtypes.issubdtype(BF16, np.inexact)
    assert not dtypes.issubdtype(I32, np.floating)
    assert float(dtypes.finfo(BF16).eps) == 2.0 ** -7
    assert dtypes.finfo(F32).eps == np.finfo(np.float32).eps
    assert dtypes.iinfo(I8).max == 127


def test_bfloat16_arithmetic_eager_and_jit():
    x = np.array([1.0, 2.5, -3.0], BF16)

    def f(x, y):
        return lax.add(lax.mul(x, 2.0), y)

    eager = f(x, x)
    staged = s2s.jit(f)(x, x)
    assert eager.dtype == BF16 and staged.dtype == BF16
    np.testing.assert_array_equal(eager.astype(np.float32), [3.0, 7.5, -9.0])
    np.testing.assert_array_equal(staged.astype(np.float32), eager.astype(np.float32))
    assert "bf16" in s2s.jit(f).lower(x, x).as_text()
    assert lax.add(x, np.ones(3, np.int32)).dtype == BF16
    assert lax.add(x, np.ones(3, np.float16)).dtype == F32
    assert s2s.jit(lax.add)(x, np.ones(3, np.float16)).dtype == F32


def test_bfloat16_results_do_not_import_jax():
    """bfloat16 has no buffer-protocol format: results are read as their bits (uint16),
    not through jaxlib's own conversion, which imports jax when it is installed."""
    out = _run_python(
        "import sys, numpy as np, s2s\n"
        "bf = s2s.dtypes.bfloat16\n"
        "f = s2s.jit(lambda x, y: (s2s.lax.add(x, x), y * 2.0, s2s.lax.neg(x[0])))\n"
        "a, b, c = f(np.array([[1.5, -2.0, 3.0], [0.25, 8.0, -0.5]], bf), np.ones(2, np.float32))\n"
        "print(a.dtype, a.tolist(), b.dtype, b.tolist(), c.dtype, c.shape, c.tolist())\n"
        "print('jax' in sys.modules)")
    assert out.splitlines() == [
        "bfloat16 [[3.0, -4.0, 6.0], [0.5, 16.0, -1.0]] float32 [2.0, 2.0] bfloat16 (3,) [-1.5, 2.0, -3.0]",
        "False"]


@pytest.mark.parametrize("name", ["S2S_ENABLE_X64", "S2S_LOG_COMPILES"])
def test_environment_variable_with_an_invalid_truth_value_raises(name):
    # As JAX does for JAX_ENABLE_X64=garbage; it used to read as False silently.
    with pytest.raises(AssertionError, match=f"invalid truth value 'garbage' for environment "
                                             f"variable '{name}'"):
        _run_python("import s2s", **{name: "garbage"})


def test_update_reads_strings_as_truth_values():
    s2s.config.update("log_compiles", "off")
    assert s2s.config.log_compiles is False
    with pytest.raises(ValueError, match="invalid truth value 'garbage'"):
        s2s.config.update("log_compiles", "garbage")
    assert s2s.config.log_compiles is False
