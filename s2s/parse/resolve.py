"""Name resolution: which names are local, and what non-local names refer to.

Python decides scope per function: a name assigned anywhere in the body is
local everywhere in it. Non-local names are looked up, at transform time, in the
function's closure cells, then its globals, then builtins. The transformations
use this to find callees (``np.exp`` -> ``s2s.numpy.exp``); generated code still
reads closure cells and globals at call time, so changed data is never stale.
"""
import builtins

import gast

from s2s.parse import dataflow, quoting as q

_MISSING = object()


def local_names(fdef):
    """Names local to function ``fdef`` (parameters and every assigned name)."""
    out = set(dataflow.parameters(fdef))
    _collect_stores(fdef.body, out)
    return out


def _collect_stores(stmts, out):
    for stmt in stmts:
        for node in _walk_no_nested(stmt):
            if isinstance(node, gast.Name) and isinstance(node.ctx, (gast.Store, gast.Del)):
                out.add(node.id)
            elif isinstance(node, (gast.FunctionDef, gast.ClassDef)):
                out.add(node.name)


def _walk_no_nested(node):
    """Like gast.walk, without entering nested function bodies or comprehensions."""
    todo = [node]
    while todo:
        n = todo.pop()
        yield n
        if isinstance(n, (gast.FunctionDef, gast.Lambda)) and n is not node:
            # Defaults and decorators are evaluated in the enclosing scope.
            # (kw_defaults holds None for keyword-only parameters without one.)
            todo.extend(d for d in n.args.defaults + n.args.kw_defaults if d is not None)
            continue
        if isinstance(n, (gast.ListComp, gast.SetComp, gast.DictComp, gast.GeneratorExp)):
            # Only the first iterable is evaluated in the enclosing scope.
            todo.append(n.generators[0].iter)
            continue
        todo.extend(q.children(n))


def lookup(source, name):
    """The object non-local ``name`` refers to in ``source``'s function, or ``_MISSING``."""
    cell = source.closure.get(name)
    if cell is not None:
        try:
            return cell.cell_contents
        except ValueError:  # empty cell: not yet assigned in the enclosing scope
            return _MISSING
    if name in source.globals:
        return source.globals[name]
    return getattr(builtins, name, _MISSING)


def static_chain(node):
    """``["np", "linalg", "norm"]`` for ``np.linalg.norm``; None if not a name chain."""
    parts = []
    while isinstance(node, gast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, gast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


def resolve_chain(source, chain):
    """Evaluates a name chain rooted at a non-local name; ``_MISSING`` on failure."""
    obj = lookup(source, chain[0])
    for attr in chain[1:]:
        if obj is _MISSING:
            return _MISSING
        obj = getattr(obj, attr, _MISSING)
    return obj


MISSING = _MISSING
