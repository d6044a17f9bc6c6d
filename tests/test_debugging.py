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
