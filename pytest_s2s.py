"""The pytest plugin s2s installs (entry point ``pytest11``): generated source in failure reports.

A top-level module of the s2s distribution rather than ``s2s.pytest_plugin``:
importing anything inside ``s2s`` runs ``s2s/__init__`` (NumPy, jaxlib), and
pytest loads this plugin in every run where s2s is installed.

When a test fails with a traceback through code s2s generated (``grad``,
``jit``'s converted source, ...), the report gets a section "s2s generated
source" with each generated function involved, numbered as in the traceback,
the failing line marked with ``>`` and followed by the user's line it came
from::

    ----------------------- s2s generated source -----------------------
    grad_loss: s2s grad_loss [w] of /home/me/model.py:4
      5  def grad_loss(w, x):
      6      t = x @ w
      7      h = np.tanh(t)
    > 8      y = h.reshape(t2)
             ^ from /home/me/model.py:6: y = h.reshape((3, 5))
      ...

Options: ``--s2s-source=failure`` (the default: the section on failures
through generated code), ``always`` (on every failure and, for ``-rP``, every
pass: each function generated while the test ran), ``never``;
``--s2s-log-compiles`` turns on ``s2s.config.log_compiles`` for the run and
adds a section listing each test's ``jit`` compiles (cache misses, with the
reason), summed up at the end.

The plugin stays out of the way: it imports nothing of s2s until a test has
(a failure in a suite that never imported s2s costs one dictionary lookup),
unless ``--s2s-log-compiles`` is given. ``-p no:pytest_s2s`` turns it off.

>>> _mode_choices()
('failure', 'always', 'never')
"""
import logging
import sys

import pytest

SECTION = "s2s generated source"
COMPILES_SECTION = "s2s compiles"


def _mode_choices():
    return ("failure", "always", "never")


def pytest_addoption(parser):
    group = parser.getgroup("s2s", "s2s generated source")
    group.addoption("--s2s-source", choices=_mode_choices(), default="failure",
                    help="when to add the source s2s generated to test reports: on failures "
                         "through generated code (default), always, never")
    group.addoption("--s2s-log-compiles", action="store_true", default=False,
                    help="log every s2s jit compile (cache miss) and list them per test")


class _CompileLog(logging.Handler):
    """Collects the ``s2s`` logger's compile messages of the test that is running."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.records = []

    def emit(self, record):
        message = record.getMessage()
        if "compiling" in message:
            self.records.append(message)


class _State:
    def __init__(self, config):
        self.mode = config.getoption("s2s_source")
        self.compiles = None
        self.old_log_compiles = None
        if config.getoption("s2s_log_compiles"):
            import s2s
            self.old_log_compiles = s2s.config.log_compiles
            s2s.config.update("log_compiles", True)
            self.compiles = _CompileLog()
            logging.getLogger("s2s").addHandler(self.compiles)

    def close(self):
        if self.compiles is not None:
            import s2s
            logging.getLogger("s2s").removeHandler(self.compiles)
            s2s.config.update("log_compiles", self.old_log_compiles)


_STATE = pytest.StashKey()
_PER_TEST = {}  # nodeid -> compile messages, read from the reports (xdist workers' too)


def pytest_configure(config):
    config.stash[_STATE] = _State(config)
    _PER_TEST.clear()


def pytest_unconfigure(config):
    state = config.stash.get(_STATE, None)
    if state is not None:
        state.close()


def _origins():
    """``s2s.codegen.origins`` if anything has imported s2s, else None (nothing generated)."""
    return sys.modules.get("s2s.codegen.origins")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    state = item.config.stash[_STATE]
    origins = _origins()
    item.stash[_FIRST] = origins.generated_count() if origins is not None else 0
    if state.compiles is not None:
        state.compiles.records = []
    yield


_FIRST = pytest.StashKey()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    state = item.config.stash[_STATE]
    if state.compiles is not None and report.when == "call" and state.compiles.records:
        report.sections.append((COMPILES_SECTION, "\n".join(state.compiles.records)))
    if state.mode == "never" or _origins() is None:
        return
    if report.when != "call" and not report.failed:
        return
    try:
        text = _section(call.excinfo.value if call.excinfo else None,
                        item.stash.get(_FIRST, 0), state.mode, report.failed)
    except Exception as e:  # a report must never fail because of this plugin
        text = f"(s2s could not show the generated source: {type(e).__name__}: {e})"
    if text:
        report.sections.append((SECTION, text))


def _section(exc, first, mode, failed):
    origins = _origins()
    marks = {}  # Generated -> lines of its frames, in the order the traceback reaches them
    for e in _chain(exc):
        for entry, lineno in origins.generated_frames(e.__traceback__):
            marks.setdefault(entry, set()).add(lineno)
    if mode == "always" and (failed or not marks):
        for entry in origins.generated_since(first):
            marks.setdefault(entry, set())
    if not marks:
        return ""
    blocks = []
    for entry, lines in marks.items():
        blocks.append(f"{entry.name}: {entry.label.strip('<>')}"
                      + (f" (file {entry.filename})" if entry.filename != entry.label else "")
                      + "\n" + entry.numbered(lines))
    return "\n\n".join(blocks)


def _chain(exc):
    seen = []
    while exc is not None and all(exc is not s for s in seen):
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def pytest_runtest_logreport(report):
    for name, content in report.sections:
        if name == COMPILES_SECTION:
            _PER_TEST[report.nodeid] = content.splitlines()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = config.stash.get(_STATE, None)
    if state is None or state.compiles is None:
        return
    per_test = _PER_TEST
    terminalreporter.section("s2s compiles")
    total = sum(len(v) for v in per_test.values())
    terminalreporter.line(f"{total} jit compile(s) in {len(per_test)} test(s)")
    for nodeid, records in sorted(per_test.items(), key=lambda kv: -len(kv[1])):
        terminalreporter.line(f"{len(records):>4}  {nodeid}")
