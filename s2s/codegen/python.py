"""AST -> readable source -> a live Python function.

Generated functions are compiled inside a small factory so the names they need
(support functions, the ``np`` namespace, other generated functions) become
closure cells, while the user's own closure cells are *reused*: generated code
reads the user's globals and closure variables at call time, never a stale
copy. The source is registered in ``linecache`` under a stable pseudo-file
name, so ``inspect``, ``pdb`` and tracebacks work, and the function can be
transformed again (``grad(grad(f))``).

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

from s2s.parse.source import register_source

COMMENT_MARKER = "__s2s_comment__ "
_COMMENT_LINE = re.compile(r"^(\s*)((?:'|\")" + re.escape(COMMENT_MARKER) + r".*(?:'|\"))\s*$")


def make_cell(value):
    """A closure cell holding ``value`` (``cell.cell_contents`` can be set later)."""
    return types.CellType(value)


def render(fdef):
    """Python source of a function AST; comment markers become ``# ...`` lines."""
    tree = gast.gast_to_ast(fdef)
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


def compile_function(fdef, filename, globals_, cells, defaults=None, kwdefaults=None):
    """Compiles ``fdef`` into a function over ``globals_`` and the closure ``cells``.

    ``cells`` maps free names to cell objects; names not in it resolve through
    ``globals_`` as usual. Returns ``(function, source_text)``.
    """
    text = render(fdef)
    names = sorted(cells)
    header = "def __s2s_factory__():\n"
    if names:
        header += "    " + " = ".join(names) + " = None\n"
    body = "".join("    " + line + "\n" if line else "\n" for line in text.split("\n"))
    full = header + body + f"    return {fdef.name}\n"
    register_source(filename, full)
    module_code = compile(full, filename, "exec")
    factory_code = next(c for c in module_code.co_consts if isinstance(c, types.CodeType))
    code = next(c for c in factory_code.co_consts
                if isinstance(c, types.CodeType) and c.co_name == fdef.name)
    closure = tuple(cells[n] for n in code.co_freevars)
    fn = types.FunctionType(code, globals_, fdef.name, defaults, closure)
    if kwdefaults:
        fn.__kwdefaults__ = dict(kwdefaults)
    return fn, text
