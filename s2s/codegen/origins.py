"""Where generated code came from, and how it shows up in files, tracebacks and debuggers.

Every function s2s generates is registered here with its source text and the
map from its lines to the user's lines. That registry serves four uses:

* ``S2S_DUMP_SOURCE=DIR`` (or ``s2s.config.update("dump_source", DIR)``) writes
  each generated source to ``DIR`` under a stable, readable file name
  (``grad_loss-w-of-model.py-4.py``) and compiles the code against that file,
  so editors, ``pdb``, coverage and tracebacks open a real file.
* ``filter_traceback`` rewrites the traceback of an error raised inside
  generated code: the s2s frames between the user's call and the generated
  code are dropped, and each generated frame is preceded by a frame at the
  user's line it came from. The user's file and line come first, the
  generated line and the frames that raised after them.
  ``S2S_TRACEBACK_FILTERING=off`` keeps every frame.
* Python's default ``sys.excepthook`` (in C, in 3.11) prints no source line for
  pseudo-files; while it is the installed hook, s2s replaces it with one that
  prints through ``traceback`` (which reads ``linecache``) for tracebacks
  through generated code, and defers to the original for all others.
* ``generated_frames(tb)`` lists the generated functions a traceback passes
  through (the pytest plugin prints them).

>>> entry = register("<s2s demo double>", "def double(x):\\n    return 2 * x\\n", "double")
>>> lookup(entry.filename).name
'double'
>>> print(entry.numbered(marks={2}))
  1  def double(x):
> 2      return 2 * x
"""
import linecache
import os
import re
import sys
import collections
import itertools
import traceback
import types
import weakref

from s2s.core import float_errors
from s2s.core.config import config

__all__ = ["Generated", "register", "forget", "lookup", "generated_frames", "generated_count",
           "generated_since", "filter_traceback", "dump_file_name"]


class Generated:
    """One generated function: its source text and the map back to the user's lines.

    ``lines`` maps a line of ``text`` to a line of ``origin`` (the user's
    ``FunctionSource``) relative to that function's own text.
    """

    __slots__ = ("label", "filename", "name", "text", "user_file", "line_offset", "user_lines",
                 "lines", "seq", "live")

    def __init__(self, label, filename, name, text, origin=None, lines=None):
        self.label = label
        self.filename = filename
        self.name = name
        self.text = text
        # What the map needs of ``origin``, not the object: it holds the user's function.
        self.user_file = origin.filename if origin is not None else None
        self.line_offset = origin.line_offset if origin is not None else 0
        self.user_lines = origin.source_lines if origin is not None else []
        self.lines = lines or {}
        self.seq = next(_SEQ)
        self.live = 0  # functions compiled against it that are alive (keep_while_alive)

    def user_line(self, lineno):
        """``(filename, line, text)`` of the user's line that generated line ``lineno`` came
        from, or None where none is known."""
        line = self.lines.get(lineno)
        if line is None or self.user_file is None:
            return None
        text = self.user_lines[line - 1].strip() if 0 < line <= len(self.user_lines) else ""
        return self.user_file, line + self.line_offset, text

    def numbered(self, marks=()):
        """The generated function with the line numbers its frames report.

        Lines in ``marks`` get a ``>`` and, below them, the user's line they
        came from. The factory lines around the function (see
        ``s2s.codegen.python``) are left out.
        """
        rows = self.text.splitlines()
        first = next((i for i, row in enumerate(rows) if row.lstrip().startswith(
            f"def {self.name}(")), 0)
        last = len(rows) - 1 if rows and rows[-1].strip() == f"return {self.name}" else len(rows)
        while last > first + 1 and not rows[last - 1].strip():
            last -= 1
        width = len(str(last))
        indent = len(rows[first]) - len(rows[first].lstrip()) if rows else 0
        out = []
        for i in range(first, last):
            lineno = i + 1
            row = rows[i][indent:] if rows[i][:indent].isspace() else rows[i]
            out.append(f"{'>' if lineno in marks else ' '} {lineno:>{width}}  {row}")
            where = self.user_line(lineno) if lineno in marks else None
            if where is not None:
                out.append(f"  {'':>{width}}  ^ from {where[0]}:{where[1]}: {where[2]}")
        return "\n".join(out)


_REGISTRY = {}  # compiled file name -> Generated
_DUMPED = {}  # dump path -> text written there this process
_SEQ = itertools.count()
_RECENT = collections.deque(maxlen=256)  # released entries, for generated_since


def register(label, text, name, origin=None, lines=None):
    """Registers generated ``text`` (pseudo-file ``label``); returns its ``Generated``.

    The code must be compiled against ``.filename``: ``label`` itself, or the
    dumped file's path when ``config.dump_source`` names a directory.
    """
    directory = config.dump_source
    if directory:
        filename = _dump(directory, label, text)  # (unique per text already)
    else:
        label = filename = _unique(label, text)
    entry = Generated(label, filename, name, text, origin, lines)
    _REGISTRY[filename] = entry
    # linecache serves inspect.getsource, pdb and traceback (a dumped file too,
    # so that re-reading the source never depends on the disk).
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    if filename != label:
        _REGISTRY[label] = entry
        linecache.cache[label] = linecache.cache[filename]
    return entry


def _unique(label, text):
    """``label``, or ``label #2``... when a live function of another text holds it (two
    lambdas on one line, a function without source traced on two paths)."""
    name, n = label, 1
    while name in _REGISTRY and _REGISTRY[name].text != text:
        n += 1
        name = f"{label[:-1]} #{n}>" if label.endswith(">") else f"{label} #{n}"
    return name


def keep_while_alive(fn, entry):
    """Keeps ``entry`` registered (and in ``linecache``) until the last function compiled
    against it is collected: memory stays bounded however many functions are generated
    (eager grad of a function without source makes some on every call)."""
    entry.live += 1
    weakref.finalize(fn, _release, entry)


def _release(entry):
    entry.live -= 1
    if entry.live > 0:
        return
    for name in {entry.filename, entry.label}:
        if _REGISTRY.get(name) is entry:
            del _REGISTRY[name]
            linecache.cache.pop(name, None)
    _RECENT.append(entry)  # generated_since still shows it (a bounded number of them)


def forget(filename):
    """Drops what ``register`` kept for ``filename`` (when its last function is collected)."""
    entry = _REGISTRY.pop(filename, None)
    if entry is not None:
        _REGISTRY.pop(entry.label, None)
        linecache.cache.pop(entry.label, None)
    linecache.cache.pop(filename, None)


def lookup(filename):
    """The ``Generated`` compiled against ``filename``, or None for other code."""
    return _REGISTRY.get(filename)


def _user_line_of(filename, lineno):
    """The user's ``(filename, line)`` that a line of generated code came from, ``()`` when
    none is known, None for code s2s did not generate (see ``s2s.core.float_errors``)."""
    entry = _REGISTRY.get(filename)
    if entry is None:
        return None
    where = entry.user_line(lineno)
    return () if where is None else where[:2]


float_errors.set_generated_lookup(_user_line_of)


def generated_count():
    """How many generated functions were registered so far (``generated_since`` takes it)."""
    probe = next(_SEQ)  # the counter's position (a number no entry gets)
    return probe


def generated_since(count):
    """The functions registered after ``generated_count()`` returned ``count``, each once
    (the last 256 whose functions were collected included)."""
    out = []
    for entry in sorted([*_REGISTRY.values(), *_RECENT], key=lambda e: e.seq):
        if entry.seq > count and all(entry is not seen for seen in out):
            out.append(entry)
    return out


def dump_file_name(label):
    """A readable file name for pseudo-file ``label``, stable from run to run.

    >>> dump_file_name("<s2s grad_loss [w] of /home/me/model.py:4>")
    'grad_loss-w-of-model.py-4.py'
    """
    inner = label.strip("<>")
    if inner.startswith("s2s "):
        inner = inner[4:]
    # The user's directory adds length, not meaning; keep the file's base name.
    inner = re.sub(r"(?<= of )\S*/", "", inner)
    return re.sub(r"[^A-Za-z0-9_.]+", "-", inner).strip("-.") + ".py"


def _dump(directory, label, text):
    os.makedirs(directory, exist_ok=True)
    base = dump_file_name(label)
    stem, n = base[:-3], 1
    path = os.path.abspath(os.path.join(directory, base))
    while _DUMPED.get(path, text) != text:  # another function already has this name
        n += 1
        path = os.path.abspath(os.path.join(directory, f"{stem}-{n}.py"))
    if _DUMPED.get(path) != text:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        _DUMPED[path] = text
    return path


# ---------------------------------------------------------------------------
# Tracebacks

def _walk(tb):
    while tb is not None:
        yield tb
        tb = tb.tb_next


def generated_frames(tb):
    """``[(Generated, lineno)]`` for the frames of ``tb`` that run generated code, outer first."""
    out = []
    for t in _walk(tb):
        entry = _REGISTRY.get(t.tb_frame.f_code.co_filename)
        if entry is not None:
            out.append((entry, t.tb_lineno))
    return out


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _is_internal(tb):
    return tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR)


class _AtUserLine(Exception):
    """Raised once by the stand-in code that gives a frame at the user's line."""


_STAND_INS = {}
_STAND_IN = "s2s stand-in frame"


def _user_frame(filename, line, name):
    """A one-frame traceback whose frame is at ``filename:line`` in a function ``name``.

    Python draws a frame from its code object's file and line, so a stand-in
    code object compiled against the user's file, at that line, provides it
    (Jinja2 shows template lines the same way).
    """
    key = (filename, line, name)
    code = _STAND_INS.get(key)
    if code is None:
        # The raise spans two lines so that no caret underlines part of the user's line.
        code = compile("\n" * (line - 1) + "raise (\n_AtUserLine)", filename, "exec")
        code = code.replace(co_name=name)
        _STAND_INS[key] = code
    try:
        exec(code, {"_AtUserLine": _AtUserLine, "__name__": _STAND_IN})
    except _AtUserLine as e:
        return e.__traceback__.tb_next
    raise AssertionError("unreachable: the stand-in code always raises")


def filter_traceback(exc):
    """Rewrites ``exc``'s traceback to lead with the user's line (see the module docstring).

    Frames of s2s itself before the innermost generated frame are dropped;
    each generated frame mapped to a user line is preceded by a frame at that
    line; frames after the innermost generated frame (where the error was
    raised) stay. A traceback that runs no generated code is left alone.
    Returns ``exc``.
    """
    if not config.traceback_filtering:
        return exc
    frames = list(_walk(exc.__traceback__))
    gen_positions = [i for i, t in enumerate(frames) if t.tb_frame.f_code.co_filename in _REGISTRY]
    if not gen_positions:
        return exc
    innermost = gen_positions[-1]
    kept = []  # (frame, lasti, lineno) outer first
    for i, t in enumerate(frames):
        if t.tb_frame.f_globals.get("__name__") == _STAND_IN:
            continue  # filtered before (a transformation inside another): made again below
        entry = _REGISTRY.get(t.tb_frame.f_code.co_filename)
        if entry is not None:
            where = entry.user_line(t.tb_lineno)
            if where is not None:
                stand_in = _user_frame(where[0], where[1], t.tb_frame.f_code.co_name)
                kept.append((stand_in.tb_frame, stand_in.tb_lasti, stand_in.tb_lineno))
        elif i < innermost and _is_internal(t):
            continue
        kept.append((t.tb_frame, t.tb_lasti, t.tb_lineno))
    tb = None
    for frame, lasti, lineno in reversed(kept):
        tb = types.TracebackType(tb, frame, lasti, lineno)
    return exc.with_traceback(tb)


# ---------------------------------------------------------------------------
# The default excepthook

def _through_generated(exc, seen=None):
    seen = seen if seen is not None else set()
    if exc is None or id(exc) in seen:
        return False
    seen.add(id(exc))
    if any(t.tb_frame.f_code.co_filename in _REGISTRY for t in _walk(exc.__traceback__)):
        return True
    return _through_generated(exc.__cause__, seen) or _through_generated(exc.__context__, seen)


def _excepthook(exc_type, exc, tb):
    """Prints with ``traceback`` (which reads ``linecache``) when generated code is involved."""
    if exc is not None and _through_generated(exc):
        traceback.print_exception(exc_type, exc, tb, file=sys.stderr)
        return
    sys.__excepthook__(exc_type, exc, tb)


def install_excepthook():
    """Installs ``_excepthook`` if the interpreter's own hook is in place (never over another)."""
    if sys.excepthook is sys.__excepthook__:
        sys.excepthook = _excepthook
