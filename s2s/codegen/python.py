"""AST -> readable source -> a live Python function.

Generated functions are compiled inside a small factory so the names they need
(support functions, the ``np`` namespace, other generated functions) become
closure cells, while the user's own closure cells are *reused*: generated code
reads the user's globals and closure variables at call time, never a stale
copy. The source is registered in ``linecache`` under a pseudo-file name (unique
per text, kept while the function lives; or written to a file, see
``s2s.codegen.origins``), so ``inspect``, ``pdb`` and tracebacks work. The
function also carries its own text (``GENERATED_ATTR``), which is what
transforming it again (``grad(grad(f))``) reads.

>>> from s2s.parse.quoting import quote
>>> fdef = quote("def double(x):\\n    return x * k")[0]
>>> fn, text = compile_function(fdef, "<s2s demo>", {}, {"k": make_cell(2)})
>>> fn(3)
6
"""
import ast
import re
import types

import gast

from s2s.codegen.origins import generated_frames, install_excepthook, keep_while_alive, lookup, register
from s2s.parse import astconv
from s2s.parse.source import GENERATED_ATTR, register_nested

COMMENT_MARKER = "__s2s_comment__ "
# A comment first in a function body is unparsed as a docstring (triple quotes).
_COMMENT_LINE = re.compile(r"^(\s*)((?:\"\"\"|'|\")" + re.escape(COMMENT_MARKER)
                           + r".*(?:\"\"\"|'|\"))\s*$")


def _map_lines(gast_stmts, ast_stmts, out, offset, current):
    """Pairs generated statements (user line numbers) with rendered ones (text lines)."""
    gast_stmts = [g for g in gast_stmts if not _is_comment(g) or _note(g, current)]
    for g, a in zip(gast_stmts, ast_stmts):
        line = getattr(g, "lineno", None)
        if line is not None and not getattr(g, "_s2s_generated", False):
            current[0] = line
        if current[0] is not None:
            out[a.lineno + offset] = current[0]
        for field in ("body", "orelse"):
            gs, as_ = getattr(g, field, None), getattr(a, field, None)
            if isinstance(gs, list) and isinstance(as_, list):
                _map_lines(gs, as_, out, offset, list(current))


def _is_comment(node):
    return (isinstance(node, gast.Expr) and isinstance(node.value, gast.Constant)
            and isinstance(node.value.value, str) and node.value.value.startswith(COMMENT_MARKER))


def _note(node, current):
    if getattr(node, "lineno", None) is not None:
        current[0] = node.lineno
    return False


def user_location(tb):
    """``(filename, line, text)`` in user code for the innermost generated frame of ``tb``."""
    found = None
    for entry, lineno in generated_frames(tb):
        found = entry.user_line(lineno) or found
    return _through_generated(found)


def _through_generated(found):
    """A location in code s2s generated from generated code (``vmap`` of a gradient, the
    control-flow-converted batched source under ``jit``) followed to the user's line."""
    seen = set()
    while found is not None and found[0] not in seen:
        seen.add(found[0])
        entry = lookup(found[0])
        earlier = entry.user_line(found[1]) if entry is not None else None
        if earlier is None:
            break
        found = earlier
    return found


def make_cell(value):
    """A closure cell holding ``value`` (``cell.cell_contents`` can be set later)."""
    return types.CellType(value)


def render(fdef):
    """Python source of a function AST; comment markers become ``# ...`` lines."""
    tree = astconv.to_ast(fdef)
    if not hasattr(tree, "lineno"):
        tree.lineno, tree.col_offset = 1, 0
    text = ast.unparse(ast.fix_missing_locations(tree))
    lines = []
    for line in text.split("\n"):
        m = _COMMENT_LINE.match(line)
        if m:
            comment = ast.literal_eval(m.group(2))[len(COMMENT_MARKER):]
            lines.append(f"{m.group(1)}# {comment}")
        else:
            lines.append(line)
    return "\n".join(lines) + "\n"


def compile_function(fdef, filename, globals_, cells, defaults=None, kwdefaults=None, origin=None):
    """Compiles ``fdef`` into a function over ``globals_`` and the closure ``cells``.

    ``cells`` maps free names to cell objects; names not in it resolve through
    ``globals_`` as usual. ``origin`` (a ``FunctionSource``) lets errors raised
    in the generated code be mapped back to the user's lines (``user_location``).
    Returns ``(function, source_text)``.
    """
    compiled = compile_code(fdef, filename, cells, origin)
    return instantiate(compiled, globals_, cells, defaults, kwdefaults), compiled.text


class Compiled:
    """The code of a generated function, before it is bound to globals and closure cells.

    One ``Compiled`` can make many functions (``instantiate``), each with its own
    cells: they share the code object and its registered source, which stays in
    ``linecache`` while the ``Compiled`` or any of its functions lives.
    """

    def __init__(self, code, text, full, entry):
        self.code, self.text, self.full, self.entry = code, text, full, entry
        keep_while_alive(self, entry)


def compile_code(fdef, filename, cell_names, origin=None):
    """Renders, registers and compiles ``fdef``; returns a ``Compiled`` (see ``instantiate``).

    ``cell_names`` are the free names its functions take from closure cells.

    >>> from s2s.parse.quoting import quote
    >>> compiled = compile_code(quote("def scale(x):\\n    return x * k")[0], "<s2s demo scale>", ["k"])
    >>> [instantiate(compiled, {}, {"k": make_cell(k)})(3) for k in (2, 5)]
    [6, 15]
    """
    text = render(fdef)
    names = sorted(cell_names)
    header = "def __s2s_factory__():\n"
    if names:
        header += "    " + " = ".join(names) + " = None\n"
    body = "".join("    " + line + "\n" if line else "\n" for line in text.split("\n"))
    full = header + body + f"    return {fdef.name}\n"
    # Compiled under a private name: inside the factory, the function's own name
    # would otherwise become a closure variable, and a recursive call must reach
    # the module-level function (as in the user's code), not this one.
    private = "__s2s_generated__"
    first = body.index(f"def {fdef.name}(")
    compiled = header + body[:first] + body[first:].replace(f"def {fdef.name}(", f"def {private}(", 1) \
        + f"    return {private}\n"
    tree = ast.parse(compiled)  # parsed once: it maps lines, then compiles
    lines = None
    if origin is not None:
        lines = {}
        inner = next(s for s in tree.body[0].body if isinstance(s, ast.FunctionDef) and s.name == private)
        _map_lines(fdef.body, inner.body, lines, 0, [None])
    entry = register(filename, full, fdef.name, origin, lines)
    module_code = compile(tree, entry.filename, "exec")
    factory_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    code = next(c for c in factory_code.co_consts
                if isinstance(c, types.CodeType) and c.co_name == private)
    code = code.replace(co_name=fdef.name, co_qualname=fdef.name)
    register_nested(code, full.splitlines(keepends=True))
    return Compiled(code, text, full, entry)


def instantiate(compiled, globals_, cells, defaults=None, kwdefaults=None):
    """A function running ``compiled``'s code over ``globals_`` and the closure ``cells``."""
    code = compiled.code
    closure = tuple(cells[n] for n in code.co_freevars)
    fn = types.FunctionType(code, globals_, code.co_name, defaults, closure)
    if kwdefaults:
        fn.__kwdefaults__ = dict(kwdefaults)
    setattr(fn, GENERATED_ATTR, (code, compiled.full.splitlines(keepends=True)))
    keep_while_alive(fn, compiled.entry)
    return fn


install_excepthook()
