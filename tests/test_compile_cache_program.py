"""Staged-program records of the persistent cache (``s2s.program_key``): a first call
whose program was staged before (same code, values read, arguments, config, versions)
skips staging; changing any input of the key stages again, and the result is the new
program's; what cannot be described exactly is never keyed; corrupt or foreign
records are ignored and rewritten."""
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import api, program_key
from s2s.xla import compile_cache

X = np.linspace(-1.0, 1.0, 6).reshape(2, 3).astype(np.float32)
SCALE = 2.0


def helper(x):
    return snp.tanh(x) * SCALE


def model(x):
    return snp.sum(helper(x) ** 2)


@pytest.fixture
def stagings(monkeypatch):
    """How many times jit has staged a program so far (a list, one entry a staging)."""
    calls = []
    real = api.stage

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "stage", counting)
    return calls


def _records(path):
    return sorted(p for p in os.listdir(path) if p.endswith(".stage"))


def _fresh(fn, *args, **jit_kwargs):
    """``fn`` under a new jit (nothing in memory), called on ``args``."""
    return np.asarray(s2s.jit(fn, **jit_kwargs)(*args))


def _expect_model(x, scale):
    return np.sum((np.tanh(x.astype(np.float64)) * scale) ** 2)


def test_second_first_call_skips_staging_and_agrees(cache_dir, stagings):
    first = _fresh(s2s.grad(model), X)
    assert len(stagings) == 1 and len(_records(cache_dir)) == 1
    before = compile_cache.record_stats()
    again = _fresh(s2s.grad(model), X)
    assert len(stagings) == 1  # loaded: no staging, no compile
    assert compile_cache.record_stats()["hits"] == before["hits"] + 1
    np.testing.assert_array_equal(again, first)
    eps, x64 = 1e-4, X.astype(np.float64)
    numeric = np.zeros_like(x64)
    for i in np.ndindex(*X.shape):
        d = np.zeros_like(x64)
        d[i] = eps
        numeric[i] = (_expect_model(x64 + d, SCALE) - _expect_model(x64 - d, SCALE)) / (2 * eps)
    np.testing.assert_allclose(again, numeric, rtol=1e-3, atol=1e-4)


def test_a_global_scalar_read_by_a_callee_is_in_the_key(cache_dir, stagings, monkeypatch):
    _fresh(model, X)
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 3.0)
    out = _fresh(model, X)
    assert len(stagings) == 2
    np.testing.assert_allclose(out, _expect_model(X, 3.0), rtol=1e-5)


def test_a_rebound_global_after_a_hit_recompiles_in_the_same_process(cache_dir, stagings,
                                                                      monkeypatch):
    _fresh(model, X)
    f = s2s.jit(model)
    np.testing.assert_allclose(f(X), _expect_model(X, SCALE), rtol=1e-5)  # a record hit
    assert len(stagings) == 1
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 5.0)
    np.testing.assert_allclose(f(X), _expect_model(X, 5.0), rtol=1e-5)
    assert len(stagings) == 2


def test_a_redefined_callee_is_in_the_key(cache_dir, stagings, monkeypatch):
    _fresh(model, X)
    monkeypatch.setattr(sys.modules[__name__], "helper", lambda x: snp.sin(x))
    out = _fresh(model, X)
    assert len(stagings) == 2
    np.testing.assert_allclose(out, np.sum(np.sin(X.astype(np.float64)) ** 2), rtol=1e-5)
    monkeypatch.setattr(snp, "sin", snp.cos)  # an s2s function replaced by another one
    out = _fresh(model, X)
    assert len(stagings) == 3
    np.testing.assert_allclose(out, np.sum(np.cos(X.astype(np.float64)) ** 2), rtol=1e-5)


def checked(x):
    if x.ndim != 2:
        raise ValueError("expects a matrix")
    return snp.maximum(x, 0.0)


def test_builtin_exceptions_and_pure_builtins_are_keyed(cache_dir, stagings):
    program_key.describe_function(checked)
    np.testing.assert_array_equal(_fresh(checked, X), np.maximum(X, 0.0))
    np.testing.assert_array_equal(_fresh(checked, X), np.maximum(X, 0.0))
    assert len(stagings) == 1


def _scaled(k):
    def f(x):
        return x * k
    return f


def test_closure_values_and_defaults_are_in_the_key(cache_dir, stagings):
    np.testing.assert_allclose(_fresh(_scaled(2.0), X), X * 2.0)
    np.testing.assert_allclose(_fresh(_scaled(2.0), X), X * 2.0)
    assert len(stagings) == 1
    np.testing.assert_allclose(_fresh(_scaled(4.0), X), X * 4.0)
    assert len(stagings) == 2

    np.testing.assert_allclose(_fresh(_defaulted(2.0), X), X * 2.0)
    np.testing.assert_allclose(_fresh(_defaulted(7.0), X), X * 7.0)  # the same code
    assert len(stagings) == 4


def _defaulted(k):
    def g(x, k=k):
        return x * k
    return g


def test_arguments_statics_and_config_are_in_the_key(cache_dir, stagings):
    def f(x, n):
        return x * n
    _fresh(f, X, 2, static_argnums=1)
    _fresh(f, X, 2, static_argnums=1)
    assert len(stagings) == 1
    np.testing.assert_allclose(_fresh(f, X, 3, static_argnums=1), X * 3)
    assert len(stagings) == 2
    np.testing.assert_allclose(_fresh(f, X[:1], 3, static_argnums=1), X[:1] * 3)
    assert len(stagings) == 3
    s2s.config.update("enable_x64", True)
    try:
        out = _fresh(f, X.astype(np.float64), 3.5, static_argnums=1)
    finally:
        s2s.config.update("enable_x64", False)
    assert len(stagings) == 4 and out.dtype == np.float64
    _fresh(s2s.grad(model), X)
    value, grad = s2s.jit(s2s.value_and_grad(model))(X)  # the transformation's parameters too
    assert len(stagings) == 6
    np.testing.assert_allclose(value, _expect_model(X, SCALE), rtol=1e-5)


def test_changed_source_is_in_the_key(cache_dir, stagings, tmp_path):
    def load(body):
        path = tmp_path / "user_module.py"
        text = f"def f(x):\n    return {body}\n"
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
        spec = importlib.util.spec_from_file_location("user_module", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.f

    np.testing.assert_allclose(_fresh(load("x * 2.0"), X), X * 2.0)
    np.testing.assert_allclose(_fresh(load("x * 2.0"), X), X * 2.0)
    assert len(stagings) == 1
    np.testing.assert_allclose(_fresh(load("x * 3.0"), X), X * 3.0)
    assert len(stagings) == 2


def test_versions_and_s2s_settings_and_files_are_in_the_key(cache_dir, stagings, monkeypatch):
    import jaxlib.version
    from s2s.lax import control_flow
    _fresh(model, X)
    with monkeypatch.context() as m:
        m.setattr(control_flow, "WHILE_MAX_TRIPS", 17)  # a documented setting
        _fresh(model, X)
        assert len(stagings) == 2
    _fresh(model, X)
    assert len(stagings) == 2  # the first record again
    monkeypatch.setattr(program_key, "_fingerprint", {"files": "another s2s"})
    _fresh(model, X)
    assert len(stagings) == 3
    monkeypatch.setattr(np, "__version__", "0.0.1")
    _fresh(model, X)
    assert len(stagings) == 4
    monkeypatch.setattr(jaxlib.version, "__version__", "0.0.1")
    _fresh(model, X)
    assert len(stagings) == 5


TABLE = np.arange(6.0, dtype=np.float32).reshape(2, 3)


def reads_an_array(x):
    return x * TABLE


def reads_a_file(x):
    return x * float(len(open(__file__).read()) > 0)


def prints(x):
    print("staging")
    return x * 2.0


def with_own_rule(x):
    return x * 2.0


def test_what_cannot_be_described_is_never_keyed(cache_dir, stagings):
    with pytest.raises(program_key.KeyUnsure, match="array"):
        program_key.describe_function(reads_an_array)
    with pytest.raises(program_key.KeyUnsure, match="open"):
        program_key.describe_function(reads_a_file)
    with pytest.raises(program_key.KeyUnsure, match="print"):  # its output shows staging
        program_key.describe_function(prints)
    for fn in (reads_an_array, reads_a_file, prints):
        _fresh(fn, X)
        _fresh(fn, X)
    assert len(stagings) == 6 and _records(cache_dir) == []
    with pytest.raises(program_key.KeyUnsure, match="no source file"):
        program_key.describe_function(eval("lambda x: x"))


def test_a_rule_registered_by_the_user_means_no_key(cache_dir, stagings, monkeypatch):
    from s2s.core import primitive
    rules = primitive.function_rules(with_own_rule)
    monkeypatch.setattr(rules, "vjp", lambda ans, x: None)
    try:
        _fresh(with_own_rule, X)
        _fresh(with_own_rule, X)
        assert len(stagings) == 2 and _records(cache_dir) == []
    finally:
        primitive._function_rules.pop(with_own_rule, None)


@pytest.mark.parametrize("how", ["flipped", "truncated", "garbage", "foreign", "valid-json"])
def test_corrupt_or_foreign_record_is_ignored_and_rewritten(cache_dir, stagings, how):
    expected = _fresh(model, X)
    [record] = _records(cache_dir)
    path = cache_dir / record
    data = bytearray(path.read_bytes())
    if how == "flipped":
        data[len(data) // 2] ^= 0xFF
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "garbage":
        data = b"not a record" * 10
    elif how == "foreign":  # another program's record, whole, under this name
        _fresh(_scaled(9.0), X)
        [other] = [r for r in _records(cache_dir) if r != record]
        data = (cache_dir / other).read_bytes()
    else:  # whole and checksummed, but not describing a program that fits
        payload = json.dumps({"text": 1}).encode()
        key = bytes.fromhex(record[:-len(".stage")])
        import hashlib
        data = compile_cache._HEADER.pack(compile_cache._RECORD_MAGIC, key,
                                          hashlib.sha256(payload).digest(), len(payload)) + payload
    path.write_bytes(bytes(data))
    n = len(stagings)
    before = compile_cache.record_stats()
    np.testing.assert_array_equal(_fresh(model, X), expected)
    after = compile_cache.record_stats()
    assert len(stagings) == n + 1 and after["rejected"] == before["rejected"] + 1
    assert after["writes"] == before["writes"] + 1
    np.testing.assert_array_equal(_fresh(model, X), expected)  # the rewritten record is good
    assert len(stagings) == n + 1


_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import s2s
    import s2s.numpy as snp
    from s2s.xla import compile_cache

    SCALE = float(sys.argv[2])  # a global the traced code reads: in the program key

    def loss(w, x):
        return snp.sum(snp.tanh(snp.dot(x, w)) ** 2) * SCALE

    w = np.linspace(-1.0, 1.0, 12).reshape(4, 3).astype(np.float32)
    x = np.linspace(0.0, 2.0, 8).reshape(2, 4).astype(np.float32)
    np.save(sys.argv[1], np.asarray(s2s.jit(s2s.grad(loss))(w, x)))
    print(json.dumps([compile_cache.stats(), compile_cache.record_stats()]))
""")


def test_a_new_process_neither_stages_nor_compiles(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = dict(os.environ, S2S_CACHE_DIR=str(tmp_path / "cache"), S2S_PLATFORM="cpu")
    env.pop("XLA_FLAGS", None)
    runs = []
    for name, scale in (("first.npy", "1.0"), ("second.npy", "1.0"), ("third.npy", "3.0")):
        out = subprocess.run([sys.executable, str(script), str(tmp_path / name), scale], env=env,
                             capture_output=True, text=True, timeout=180)
        assert out.returncode == 0, out.stderr
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    (first, first_records), (second, second_records), (third, third_records) = runs
    assert first["compiles"] == 1 and first_records["writes"] == 1
    assert second["compiles"] == 0 and second["hits"] == 1
    assert second_records == {"hits": 1, "misses": 0, "rejected": 0, "writes": 0}
    g = np.load(tmp_path / "first.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "second.npy"), g)
    # Another value of the global: another program, staged and compiled afresh.
    assert third_records["hits"] == 0 and third_records["writes"] == 1 and third["compiles"] == 1
    np.testing.assert_allclose(np.load(tmp_path / "third.npy"), 3.0 * g, rtol=1e-6)
