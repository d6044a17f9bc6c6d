"""The fence: reject, up front, syntax a transformation does not support.

Each rejection names the user's file and line, the construct, and what to do
instead, so the user never sees a traceback from deep inside s2s.
"""
import gast

from s2s.core.errors import UnsupportedSyntaxError
from s2s.parse import quoting as q

_REJECTED = {
    gast.Try: ("try/except", "move the try/except outside the transformed function"),
    gast.With: ("a with statement", "move the with block outside the transformed function"),
    gast.AsyncWith: ("async with", "transform synchronous functions only"),
    gast.AsyncFor: ("async for", "transform synchronous functions only"),
    gast.AsyncFunctionDef: ("an async function", "transform synchronous functions only"),
    gast.Await: ("await", "transform synchronous functions only"),
    gast.Yield: ("yield (a generator)", "return a list or an array instead of yielding values"),
    gast.YieldFrom: ("yield from (a generator)", "return a list or an array instead"),
    gast.Global: ("a global statement", "pass the value in as an argument and return the new value"),
    gast.Nonlocal: ("a nonlocal statement", "pass the value in as an argument and return the new value"),
    gast.ClassDef: ("a class definition", "define the class outside the transformed function"),
    gast.Delete: ("del", "drop the del statement (rebinding the name is fine)"),
    gast.Match: ("a match statement", "use if/elif/else"),
    gast.NamedExpr: ("an assignment expression (:=)", "assign on a separate line"),
    gast.Import: ("an import inside the function", "import at module level"),
    gast.ImportFrom: ("an import inside the function", "import at module level"),
}


def fence(source, transform_name):
    """Raises ``UnsupportedSyntaxError`` for the first unsupported construct in ``source``."""
    for node in q.walk(source.node):
        entry = _REJECTED.get(type(node))
        if entry is None and node is not source.node:
            entry = _check_special(node)
        if entry is not None:
            construct, hint = entry
            raise UnsupportedSyntaxError(
                f"{transform_name} does not support {construct} "
                f"(in {source.fn.__qualname__}: `{source.line_text(node)}`)",
                filename=source.filename, lineno=source.file_line(node),
                construct=construct, hint=hint,
            )


def _check_special(node):
    if isinstance(node, (gast.Assign, gast.AugAssign, gast.AnnAssign)):
        targets = node.targets if isinstance(node, gast.Assign) else [node.target]
        for t in targets:
            for sub in q.walk(t):
                if isinstance(sub, gast.Attribute) and isinstance(sub.ctx, gast.Store):
                    return ("assigning to an attribute (obj.attr = ...)",
                            "build a new object (e.g. a namedtuple's _replace) and return it")
    return None
