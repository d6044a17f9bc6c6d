"""The persistent compilation cache (``S2S_CACHE_DIR``): executables reloaded by a new
process, never trusted when corrupt or foreign, keyed on what decides the executable."""
import json
import os
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.core.config import Config
from s2s.xla import compile_cache, runtime


def loss(w, x):
    return snp.sum(snp.tanh(snp.dot(x, w)) ** 2)


W = np.linspace(-1.0, 1.0, 12).reshape(4, 3).astype(np.float32)
X = np.linspace(0.0, 2.0, 8).reshape(2, 4).astype(np.float32)


def _delta(before):
    after = compile_cache.stats()
    return {k: after[k] - before[k] for k in after}


def _first_call():
    """A fresh jit(grad(loss)) called once (its in-memory cache is empty)."""
    return s2s.jit(s2s.grad(loss))(W, X)


def _entries(path):
    return sorted(p for p in os.listdir(path) if p.endswith(".xla")) if os.path.isdir(path) else []


def test_off_by_default(monkeypatch):
    monkeypatch.delenv("S2S_CACHE_DIR", raising=False)
    assert Config().cache_dir is None
    old = s2s.config.cache_dir
    s2s.config.update("cache_dir", None)
    try:
        before = compile_cache.stats()
        _first_call()
        assert _delta(before) == {"compiles": 1, "hits": 0, "misses": 0, "rejected": 0, "writes": 0, "evicted": 0}
    finally:
        s2s.config.update("cache_dir", old)


def test_environment_variable_sets_the_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    assert Config().cache_dir == str(tmp_path)


def test_hit_loads_instead_of_compiling_and_agrees(cache_dir):
    before = compile_cache.stats()
    first = _first_call()
    assert _delta(before) == {"compiles": 1, "hits": 0, "misses": 1, "rejected": 0, "writes": 1, "evicted": 0}
    [entry] = _entries(cache_dir)
    assert stat.S_IMODE(os.stat(cache_dir / entry).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(cache_dir).st_mode) == 0o700
    assert not [p for p in os.listdir(cache_dir) if p.startswith(".tmp-")]

    before = compile_cache.stats()
    again = _first_call()
    assert _delta(before) == {"compiles": 0, "hits": 1, "misses": 0, "rejected": 0, "writes": 0, "evicted": 0}
    np.testing.assert_array_equal(again, first)
    # and the loaded executable computes the gradient (central differences, float64)
    eps = 1e-3
    w64, x64 = W.astype(np.float64), X.astype(np.float64)
    numeric = np.zeros_like(w64)
    for i in np.ndindex(*W.shape):
        d = np.zeros_like(w64)
        d[i] = eps
        numeric[i] = (np.sum(np.tanh(x64 @ (w64 + d)) ** 2)
                      - np.sum(np.tanh(x64 @ (w64 - d)) ** 2)) / (2 * eps)
    np.testing.assert_allclose(again, numeric, rtol=1e-3, atol=1e-4)


def _damage(path, how):
    data = bytearray(path.read_bytes())
    if how == "flipped":
        data[len(data) // 2] ^= 0xFF  # jaxlib itself would load this one
    elif how == "truncated":
        data = data[: len(data) // 2]
    elif how == "empty":
        data = b""
    elif how == "garbage":
        data = b"not an executable" * 10
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("how", ["flipped", "truncated", "empty", "garbage"])
def test_corrupt_entry_is_recompiled_and_rewritten(cache_dir, how):
    expected = _first_call()
    [entry] = _entries(cache_dir)
    _damage(cache_dir / entry, how)

    before = compile_cache.stats()
    np.testing.assert_array_equal(_first_call(), expected)
    assert _delta(before) == {"compiles": 1, "hits": 0, "misses": 1, "rejected": 1, "writes": 1, "evicted": 0}

    before = compile_cache.stats()  # the rewritten entry is good again
    np.testing.assert_array_equal(_first_call(), expected)
    assert _delta(before)["hits"] == 1 and _delta(before)["compiles"] == 0


def test_foreign_entry_is_not_loaded(cache_dir):
    # Another function's executable placed under this one's key: whole and checksummed,
    # but written for a different key, so never run in its place.
    other = s2s.jit(lambda x: x * 3.0)
    other(X)
    [other_entry] = _entries(cache_dir)
    expected = _first_call()
    [entry] = [e for e in _entries(cache_dir) if e != other_entry]
    (cache_dir / entry).write_bytes((cache_dir / other_entry).read_bytes())

    before = compile_cache.stats()
    np.testing.assert_array_equal(_first_call(), expected)
    assert _delta(before) == {"compiles": 1, "hits": 0, "misses": 1, "rejected": 1, "writes": 1, "evicted": 0}


@pytest.fixture
def max_size():
    old = s2s.config.cache_max_size
    yield lambda n: s2s.config.update("cache_max_size", n)
    s2s.config.update("cache_max_size", old)


def _age(path, seconds_ago):
    """Sets ``path``'s last use ``seconds_ago`` (eviction orders by modification time)."""
    t = os.stat(path).st_mtime - seconds_ago
    os.utime(path, (t, t))


def test_size_bound_evicts_least_recently_used(cache_dir, max_size):
    # Each function leaves its executable (.xla) and its staged program (.stage).
    fa, fb, fc = (s2s.jit(lambda x, k=k: x * k) for k in (2.0, 3.0, 5.0))
    fa(X)
    [a] = _entries(cache_dir)
    a_files = os.listdir(cache_dir)
    fb(X)
    [b] = [e for e in _entries(cache_dir) if e != a]
    b_files = [f for f in os.listdir(cache_dir) if f not in a_files]
    for name in a_files:
        _age(cache_dir / name, 200)
    for name in b_files:
        _age(cache_dir / name, 100)  # b written after a; then a is used again, now:
    before = compile_cache.stats()
    np.testing.assert_array_equal(s2s.jit(fa.__wrapped__)(X), X * 2.0)  # a new jit: no memory
    assert _delta(before)["hits"] == 1
    sizes = {e: os.path.getsize(cache_dir / e) for e in os.listdir(cache_dir)}
    max_size(sum(sizes.values()) + 10)  # room for two functions' files and a bit, not three

    before = compile_cache.stats()
    fc(X)  # the writes of a third function's files evict the least recently used: b's
    assert _delta(before) == {"compiles": 1, "hits": 0, "misses": 1, "rejected": 0, "writes": 1,
                              "evicted": len(b_files)}
    remaining = _entries(cache_dir)
    assert a in remaining and b not in remaining and len(remaining) == 2
    assert not set(b_files) & set(os.listdir(cache_dir))
    assert sum(os.path.getsize(cache_dir / e) for e in os.listdir(cache_dir)) <= sum(sizes.values()) + 10


def test_prune_keeps_the_new_entry_and_removes_stale_temporaries(tmp_path):
    for name, size, age in [("old.xla", 100, 300), ("mid.xla", 100, 200), ("new.xla", 500, 0),
                            (".tmp-live.xla", 50, 60), (".tmp-dead.xla", 50, 2 * 86400),
                            ("other.txt", 1000, 900)]:
        (tmp_path / name).write_bytes(b"x" * size)
        _age(tmp_path / name, age)
    assert compile_cache.prune(tmp_path, 0) == 0  # 0: unbounded
    assert compile_cache.prune(tmp_path, 10_000) == 0
    assert sorted(os.listdir(tmp_path)) == [".tmp-live.xla", "mid.xla", "new.xla", "old.xla",
                                            "other.txt"]
    # over the bound by less than the oldest entry: only that one goes
    assert compile_cache.prune(tmp_path, 650) == 1
    assert sorted(os.listdir(tmp_path)) == [".tmp-live.xla", "mid.xla", "new.xla", "other.txt"]
    # the entry just written stays even when it alone is over the bound
    assert compile_cache.prune(tmp_path, 50, keep=str(tmp_path / "new.xla")) == 1
    assert sorted(os.listdir(tmp_path)) == [".tmp-live.xla", "new.xla", "other.txt"]


def test_max_size_from_the_environment(monkeypatch):
    for text, expected in [("1000", 1000), ("512M", 512 << 20), ("2G", 2 << 30), ("0", 0)]:
        monkeypatch.setenv("S2S_CACHE_MAX_SIZE", text)
        assert Config().cache_max_size == expected
    monkeypatch.delenv("S2S_CACHE_MAX_SIZE")
    assert Config().cache_max_size == 1 << 30
    monkeypatch.setenv("S2S_CACHE_MAX_SIZE", "lots")
    with pytest.raises(ValueError, match="S2S_CACHE_MAX_SIZE"):
        Config()


def _key(text="module {}", options=None):
    xc = runtime._xla_client()
    return compile_cache.cache_key(text, runtime.client(), runtime.local_devices()[:1],
                                   options or xc.CompileOptions())


def test_key_covers_text_jaxlib_version_flags_and_options(monkeypatch):
    import jaxlib.version

    base = _key()
    assert _key() == base  # deterministic
    assert _key("module { }") != base
    # XLA_FLAGS as they were when the client was made (XLA reads them then)
    flags = compile_cache._flags["XLA_FLAGS"]
    monkeypatch.setitem(compile_cache._flags, "XLA_FLAGS", flags + " --xla_cpu_enable_fast_math=true")
    assert _key() != base
    monkeypatch.setitem(compile_cache._flags, "XLA_FLAGS", flags)
    assert _key() == base
    monkeypatch.setattr(jaxlib.version, "__version__", "0.0.0-other")
    assert _key() != base
    monkeypatch.undo()
    options = runtime._xla_client().CompileOptions()
    options.num_partitions = 2
    assert _key(options=options) != base
    monkeypatch.setattr(compile_cache, "_cpu", {"id": "another CPU"})
    assert _key() != base


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_directory_others_can_write_is_refused(cache_dir, caplog):
    os.makedirs(cache_dir)
    os.chmod(cache_dir, 0o777)
    before = compile_cache.stats()
    _first_call()
    assert _delta(before) == {"compiles": 1, "hits": 0, "misses": 0, "rejected": 0, "writes": 0, "evicted": 0}
    assert _entries(cache_dir) == []
    assert "others can write to it" in caplog.text


def test_host_callbacks_are_never_cached(cache_dir):
    def f(x):
        s2s.debug.callback(lambda v: None, x)
        return x + 1.0

    np.testing.assert_array_equal(s2s.jit(f)(X), X + 1.0)
    assert _entries(cache_dir) == []


_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import s2s
    import s2s.numpy as snp
    from s2s.xla import compile_cache

    def loss(w, x):
        h = snp.tanh(snp.dot(x, w))
        return snp.sum(h * h) + snp.max(h)

    w = np.linspace(-1.0, 1.0, 12).reshape(4, 3).astype(np.float32)
    x = np.linspace(0.0, 2.0, 8).reshape(2, 4).astype(np.float32)
    if s2s.device_count() > 1:  # partitioned by XLA over the devices (spmd.compile_sharded)
        from s2s.sharding import NamedSharding, P
        mesh = s2s.make_mesh((s2s.device_count(),), ("batch",))
        f = s2s.jit(s2s.grad(loss, argnums=1), in_shardings=(NamedSharding(mesh, P()),
                                                            NamedSharding(mesh, P("batch"))))
    else:
        f = s2s.jit(s2s.grad(loss))
    g = np.asarray(f(w, x))
    np.save(sys.argv[1], g)
    print(json.dumps(compile_cache.stats()))
""")


def _run_worker(tmp_path, name, cache, devices=1, xla_flags=None, **popen):
    script = tmp_path / "worker.py"
    script.write_text(_WORKER)
    env = dict(os.environ, S2S_CACHE_DIR=str(cache), S2S_PLATFORM="cpu",
               S2S_NUM_CPU_DEVICES=str(devices))
    env.pop("XLA_FLAGS", None)
    if xla_flags:
        env["XLA_FLAGS"] = xla_flags
    return subprocess.Popen([sys.executable, str(script), str(tmp_path / name)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def _finish(proc):
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("devices", [1, 2])
def test_second_process_compiles_nothing(tmp_path, devices):
    cache = tmp_path / "cache"
    first = _finish(_run_worker(tmp_path, "first.npy", cache, devices))
    assert first["compiles"] == 1 and first["writes"] == 1 and first["hits"] == 0
    second = _finish(_run_worker(tmp_path, "second.npy", cache, devices))
    assert second["compiles"] == 0 and second["hits"] == 1 and second["rejected"] == 0
    np.testing.assert_array_equal(np.load(tmp_path / "second.npy"), np.load(tmp_path / "first.npy"))
    if devices == 1:  # other XLA flags: another key, so a compile (and a second entry)
        flags = _finish(_run_worker(tmp_path, "flags.npy", cache, devices,
                                    xla_flags="--xla_force_host_platform_device_count=1"))
        assert flags["compiles"] == 1 and flags["hits"] == 0 and len(_entries(cache)) == 2
        np.testing.assert_array_equal(np.load(tmp_path / "flags.npy"), np.load(tmp_path / "first.npy"))


def test_processes_writing_the_same_key_at_once(tmp_path):
    cache = tmp_path / "cache"
    procs = [_run_worker(tmp_path, f"p{i}.npy", cache) for i in range(2)]
    for proc in procs:
        assert _finish(proc)["rejected"] == 0
    assert len(_entries(cache)) == 1
    assert not [p for p in os.listdir(cache) if p.startswith(".tmp-")]
    third = _finish(_run_worker(tmp_path, "p2.npy", cache))
    assert third["compiles"] == 0 and third["hits"] == 1
    for i in range(2):
        np.testing.assert_array_equal(np.load(tmp_path / f"p{i}.npy"), np.load(tmp_path / "p2.npy"))
