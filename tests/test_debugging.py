"""Debugging aids: disable_jit, S2S_DISABLE_JIT."""
import os
import subprocess
import sys

import numpy as np

import s2s
import s2s.numpy as snp


def _seen():
    seen = []

    @s2s.jit
    def f(x):
        seen.append(type(x))
        return snp.sin(x) * 2.0
    return f, seen


def test_disable_jit_runs_the_function_eagerly():
    f, seen = _seen()
    x = np.linspace(0.0, 1.0, 4, dtype=np.float32)
    with s2s.disable_jit():
        eager = f(x)
        assert s2s.config.disable_jit
    assert seen == [np.ndarray]  # concrete values, not staging tracers
    assert not s2s.config.disable_jit
    compiled = f(x)
    assert seen[1] is not np.ndarray  # staged once jit is back on
    np.testing.assert_allclose(eager, compiled, rtol=1e-6)


def test_disable_jit_nests_and_restores():
    with s2s.disable_jit():
        with s2s.disable_jit(False):
            assert not s2s.config.disable_jit
        assert s2s.config.disable_jit
    assert not s2s.config.disable_jit


def test_breakpoint_stops_inside_a_jit_function(monkeypatch):
    hits = []
    monkeypatch.setattr(sys, "breakpointhook", lambda *a, **k: hits.append(1))

    @s2s.jit
    def f(x):
        breakpoint()
        return x * 2.0

    with s2s.disable_jit():
        f(np.ones(2, np.float32))
    assert hits == [1]


def test_env_variable_disables_jit():
    code = ("import s2s, numpy as np\n"
            "@s2s.jit\n"
            "def f(x):\n"
            "    print('inside', type(x).__name__)\n"
            "    return x + 1\n"
            "print(s2s.config.disable_jit, f(np.ones(2)))\n")
    env = dict(os.environ, S2S_DISABLE_JIT="1", PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(s2s.__file__)), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == ["inside ndarray", "True [2. 2.]"]


# --- generated source in files and tracebacks ------------------------------

import inspect  # noqa: E402
import traceback  # noqa: E402

import pytest  # noqa: E402

from s2s.codegen import origins  # noqa: E402


def _bad_reshape(x):
    h = snp.tanh(x)
    y = h.reshape((3, 5))
    return snp.sum(y * y)


_BAD_LINE = inspect.getsourcelines(_bad_reshape)[1] + 2  # `y = h.reshape((3, 5))`


def _frames(exc):
    return [(f.filename, f.lineno, f.line) for f in traceback.extract_tb(exc.__traceback__)]


@pytest.mark.parametrize("transform", [s2s.grad, s2s.jit])
def test_error_leads_with_the_users_line(transform):
    with pytest.raises((ValueError, s2s.errors.ShapeError)) as info:
        transform(_bad_reshape)(np.ones(6, np.float32))
    frames = _frames(info.value)
    # The user's frame at the failing line, right before the generated frame it came from.
    users = [i for i, f in enumerate(frames) if f[0] == __file__ and f[1] == _BAD_LINE]
    assert len(users) == 1, frames
    i = users[0]
    assert frames[i][2] == "y = h.reshape((3, 5))"
    assert origins.lookup(frames[i + 1][0]) is not None
    assert "reshape" in frames[i + 1][2]  # the generated line is shown too
    # No s2s frame between the test's call and the user's line but the re-raise.
    between = [f for f in frames[:i] if f[0] != __file__]
    assert [f[0].endswith("api.py") for f in between] == [True], between
    assert f"{__file__}:{_BAD_LINE}: `y = h.reshape((3, 5))`" in "\n".join(info.value.__notes__)


def test_traceback_filtering_off_keeps_every_frame():
    def run():
        with pytest.raises(ValueError) as info:
            s2s.grad(_bad_reshape)(np.ones(6, np.float32))
        return _frames(info.value)
    s2s.config.update("traceback_filtering", False)
    try:
        full = run()
    finally:
        s2s.config.update("traceback_filtering", True)
    filtered = run()
    assert len(full) > len(filtered)
    assert not any(f[0] == __file__ and f[1] == _BAD_LINE for f in full)


def test_dump_source_writes_real_files(tmp_path):
    s2s.config.update("dump_source", str(tmp_path))
    try:
        def cube(x):
            return x * x * x
        g = s2s.grad(cube)
        gg = s2s.grad(g)
        assert float(gg(np.float32(2.0))) == 12.0
    finally:
        s2s.config.update("dump_source", None)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "grad_cube-x-of-test_debugging.py-{}.py".format(
        inspect.getsourcelines(cube)[1]) in names, names
    code = g._build().gen.__code__
    assert code.co_filename == str(tmp_path / os.path.basename(code.co_filename))
    with open(code.co_filename) as f:
        assert f.read() == "".join(__import__("linecache").getlines(code.co_filename))
    assert "def grad_cube(x):" in inspect.getsource(g._build().gen)


def test_dump_file_names_are_stable_and_distinct(tmp_path):
    a = origins.register("<s2s grad_f [x] of /a/m.py:3>", "def f(): pass\n", "f")
    assert a.filename == "<s2s grad_f [x] of /a/m.py:3>"
    s2s.config.update("dump_source", str(tmp_path))
    try:
        b = origins.register("<s2s grad_f [x] of /a/m.py:3>", "def f(): return 1\n", "f")
        c = origins.register("<s2s grad_f [x] of /b/m.py:3>", "def f(): return 2\n", "f")
        d = origins.register("<s2s grad_f [x] of /a/m.py:3>", "def f(): return 1\n", "f")
    finally:
        s2s.config.update("dump_source", None)
    assert os.path.basename(b.filename) == "grad_f-x-of-m.py-3.py"
    assert os.path.basename(c.filename) == "grad_f-x-of-m.py-3-2.py"
    assert d.filename == b.filename


def test_default_excepthook_prints_generated_lines(tmp_path):
    (tmp_path / "model.py").write_text(
        "import s2s.numpy as np\n"
        "def loss(x):\n"
        "    y = x.reshape((3, 5))\n"
        "    return np.sum(y)\n")
    (tmp_path / "main.py").write_text(
        "import numpy, s2s, model\n"
        "s2s.grad(model.loss)(numpy.ones(6))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [os.path.dirname(os.path.dirname(s2s.__file__)), os.environ.get("PYTHONPATH", "")]))
    out = subprocess.run([sys.executable, "main.py"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    lines = out.stderr.splitlines()
    at = lines.index(f'  File "{tmp_path / "model.py"}", line 3, in grad_loss')
    assert lines[at + 1].strip() == "y = x.reshape((3, 5))"
    assert lines[at + 2].startswith('  File "<s2s grad_loss [x] of')
    assert "reshape" in lines[at + 3]  # the generated line, printed by the default hook


def test_filtering_twice_and_vjp():
    with pytest.raises(ValueError) as info:
        s2s.vjp(_bad_reshape, np.ones(6, np.float32))
    origins.filter_traceback(info.value)  # as a transformation around another would
    frames = _frames(info.value)
    assert [f[1] for f in frames if f[0] == __file__].count(_BAD_LINE) == 1, frames
    assert "generated for vjp(_bad_reshape)" in "\n".join(info.value.__notes__)


@pytest.mark.parametrize("transform", ["jvp", "vmap"])
def test_forward_and_batched_errors_lead_with_the_users_line(transform):
    x = np.ones(6, np.float32)
    with pytest.raises((ValueError, s2s.errors.ShapeError)) as info:
        if transform == "jvp":
            s2s.jvp(_bad_reshape, (x,), (x,))
        else:
            s2s.vmap(_bad_reshape)(np.ones((2, 6), np.float32))
    frames = _frames(info.value)
    assert [f[1] for f in frames if f[0] == __file__].count(_BAD_LINE) == 1, frames
    assert f"generated for {transform}(_bad_reshape)" in "\n".join(info.value.__notes__)


def test_forget_drops_a_registration():
    entry = origins.register("<s2s forget_me>", "def forget_me():\n    pass\n", "forget_me")
    assert origins.lookup(entry.filename) is entry
    origins.forget(entry.filename)
    assert origins.lookup(entry.filename) is None
    assert "<s2s forget_me>" not in __import__("linecache").cache
