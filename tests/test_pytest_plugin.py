"""The pytest plugin (pytest_s2s, a top-level module of the distribution), run on small test files with pytester."""
import importlib.metadata

import pytest

import s2s

# The runs are subprocesses: an in-process run drops the modules it imported
# afterwards, and jaxlib's MLIR bindings abort when imported a second time.
pytest_plugins = ["pytester"]

MODEL = '''
import numpy
import s2s
import s2s.numpy as np


def loss(w, x):
    h = np.tanh(x @ w)
    y = h.reshape((3, 5))
    return np.sum(y * y)


@s2s.jit
def jloss(w, x):
    h = np.tanh(x @ w)
    y = h.reshape((3, 5))
    return np.sum(y * y)


def test_grad_fails():
    s2s.grad(loss)(numpy.ones((4, 2)), numpy.ones((3, 4)))


def test_jit_fails():
    jloss(numpy.ones((4, 2)), numpy.ones((3, 4)))


def test_wrong_value():
    assert float(s2s.grad(lambda x: x * x)(3.0)) == 7.0


def test_passes():
    assert float(s2s.jit(lambda x: x + 1.0)(numpy.float32(1.0))) == 2.0


def test_plain_failure():
    assert 1 == 2
'''


def _autoloaded():
    return any(ep.value == "pytest_s2s"
               for ep in importlib.metadata.entry_points(group="pytest11"))


def _run(pytester, *args):
    pytester.makepyfile(test_model=MODEL)
    plugin = [] if _autoloaded() else ["-p", "pytest_s2s"]
    return pytester.runpytest_subprocess(*plugin, "-p", "no:cacheprovider", *args, timeout=240)


def _sections(result):
    """The text of each "s2s generated source" section, by the test it belongs to."""
    out, current, test = {}, None, None
    for line in result.outlines:
        if line.startswith("___") and "test_" in line:
            test = line.strip("_ ")
            current = None
        elif line.startswith("---") and "s2s generated source" in line:
            current = out.setdefault(test, [])
        elif line.startswith("---") or line.startswith("==="):
            current = None
        elif current is not None:
            current.append(line)
    return {k: "\n".join(v) for k, v in out.items()}


def test_failure_section_marks_the_generated_line_next_to_the_users(pytester):
    result = _run(pytester)
    result.assert_outcomes(failed=4, passed=1)
    sections = _sections(result)
    assert set(sections) == {"test_grad_fails", "test_jit_fails"}
    grad = sections["test_grad_fails"]
    assert grad.splitlines()[0].startswith("grad_loss: s2s grad_loss [w] of ")
    marked = [line for line in grad.splitlines() if line.startswith(">")]
    assert len(marked) == 1 and "reshape" in marked[0]
    lines = grad.splitlines()
    below = lines[lines.index(marked[0]) + 1]
    assert below.strip().startswith("^ from ")
    assert below.endswith("test_model.py:8: y = h.reshape((3, 5))")
    assert "def grad_loss(w, x):" in grad and "__s2s_factory__" not in grad
    jit = sections["test_jit_fails"]
    assert jit.splitlines()[0].startswith("jloss: s2s converted jloss of ")
    assert jit.count("\n>") + jit.startswith(">") == 1
    assert "test_model.py:15: y = h.reshape((3, 5))" in jit


def test_always_and_log_compiles(pytester):
    result = _run(pytester, "--s2s-source=always", "--s2s-log-compiles", "-rA")
    sections = _sections(result)  # -rA: passing tests show theirs too
    assert set(sections) == {"test_grad_fails", "test_jit_fails", "test_wrong_value", "test_passes"}
    assert "def grad_lambda(x):" in sections["test_wrong_value"]
    out = result.stdout.str()
    assert "s2s.jit: compiling" in out and "first call" in out
    summary = out[out.index("s2s compiles ==="):]
    assert "test_model.py::test_passes" in summary and "test_model.py::test_jit_fails" in summary
    assert not s2s.config.log_compiles


def test_never(pytester):
    result = _run(pytester, "--s2s-source=never")
    result.assert_outcomes(failed=4, passed=1)
    assert not _sections(result)
    assert "s2s compiles" not in result.stdout.str()


def test_a_suite_without_s2s_is_untouched(pytester):
    pytester.makepyfile(test_plain=(
        "import sys\n"
        "def test_fails():\n"
        "    assert not [m for m in sys.modules if m == 's2s' or m.startswith('s2s.')]\n"
        "    assert 1 == 2\n"))
    plugin = [] if _autoloaded() else ["-p", "pytest_s2s"]
    result = pytester.runpytest_subprocess(*plugin, "--s2s-source=always", timeout=240)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2*"])  # failed where expected: s2s never imported
    assert "s2s generated source" not in result.stdout.str()


def test_entry_point_is_declared():
    import pathlib
    setup = (pathlib.Path(__file__).parent.parent / "setup.py").read_text()
    assert '"pytest11": ["pytest_s2s = pytest_s2s"]' in setup and 'py_modules=["pytest_s2s"]' in setup
