"""Building AST from quoted source with placeholders, and small node helpers.

>>> import ast, gast
>>> stmts = quote("target = f(x)", target="y", f="np.exp", x=gast.Constant(1.0, None))
>>> ast.unparse(gast.gast_to_ast(gast.Module(body=stmts, type_ignores=[])))
'y = np.exp(1.0)'
"""
import ast
import copy

import gast

from s2s.parse import astconv

_ATOMIC = frozenset({str, int, float, bool, complex, bytes, type(None), type(Ellipsis)})


def copy_tree(node, memo=None):
    """A deep copy of an AST (a node, a list of them, or None), like ``copy.deepcopy``
    (shared subtrees stay shared, annotations are copied) at a fraction of its cost:
    passes copy whole function bodies, and deepcopy's generic protocol dominated staging.

    >>> e = parse_expr("f(x) + 1")
    >>> c = copy_tree(e)
    >>> c is not e and c.left is not e.left and to_source(c) == to_source(e)
    True
    """
    if memo is None:
        memo = {}
    return _copy(node, memo)


def _copy(value, memo):
    cls = type(value)
    if cls in _ATOMIC:
        return value
    found = memo.get(id(value))
    if found is not None:
        return found
    if cls is list:
        new = []
        memo[id(value)] = new
        new.extend([_copy(v, memo) for v in value])
    elif isinstance(value, ast.AST):
        new = cls.__new__(cls)
        memo[id(value)] = new
        new.__dict__.update({k: _copy(v, memo) for k, v in value.__dict__.items()})
    elif cls is set and all(type(v) in _ATOMIC for v in value):  # the usual annotation: names
        new = memo[id(value)] = set(value)
    else:  # another annotation: the generic protocol, same memo
        new = copy.deepcopy(value, memo)
    return new


def walk(node):
    """Every node of the tree at ``node``, itself first, in ``ast.walk``'s order (breadth
    first; a node's children are collected before it is yielded), at half its cost:
    the passes walk every tree several times.

    >>> [type(n).__name__ for n in walk(parse_expr("f(x)"))]
    ['Call', 'Name', 'Name', 'Load', 'Load']
    """
    todo = [node]
    for n in todo:  # appended to while iterated: a queue
        todo.extend(children(n))
        yield n


def children(node):
    """The child nodes of ``node``, as a list in ``ast.iter_child_nodes``'s order."""
    out = []
    fields = node.__dict__
    for f in node._fields:
        v = fields.get(f)
        if isinstance(v, ast.AST):
            out.append(v)
        elif type(v) is list:
            out.extend([x for x in v if isinstance(x, ast.AST)])
    return out


def name(id_, ctx=None):
    return gast.Name(id=id_, ctx=ctx or gast.Load(), annotation=None, type_comment=None)


def store(id_):
    return name(id_, gast.Store())


def const(value):
    return gast.Constant(value=value, kind=None)


def assign(target, value):
    """``target = value``; ``target`` is a name string or a Store node."""
    if isinstance(target, str):
        target = store(target)
    return gast.Assign(targets=[target], value=value, type_comment=None)


def call(func, args=(), keywords=()):
    if isinstance(func, str):
        func = parse_expr(func)
    return gast.Call(func=func, args=list(args), keywords=list(keywords))


def parse_expr(text):
    """A gast expression from ``text``."""
    return astconv.parse(text, mode="eval").body


def _as_node(value, ctx_store=False):
    if isinstance(value, str):
        expr = astconv.parse(value).body[0].value
        if ctx_store:
            for n in walk(expr):
                if isinstance(n, gast.Name):
                    n.ctx = gast.Store()
        return expr
    return copy_tree(value)


class _Substitute(gast.NodeTransformer):
    def __init__(self, subs):
        self.subs = subs

    def visit_Name(self, node):
        if node.id in self.subs:
            return _as_node(self.subs[node.id], isinstance(node.ctx, gast.Store))
        return node


def quote(text, **subs):
    """Parses ``text`` (statements) and replaces placeholder names by ``subs``.

    A substitution is a source string (``"np.exp"``) or an AST node (copied).
    """
    module = astconv.parse(text)
    module = _Substitute(subs).visit(module)
    return module.body


def to_source(node):
    """Python source of a gast node (statement list allowed)."""
    if isinstance(node, list):
        node = gast.Module(body=node, type_ignores=[])
    return ast.unparse(astconv.to_ast(node))


def is_atom(node):
    return isinstance(node, (gast.Name, gast.Constant))


def index_value(s):
    """An index usable as a call argument: slices become ``slice(...)`` calls.

    >>> to_source(index_value(parse_expr("x[1:, i]").slice))
    '(slice(1, None, None), i)'
    """
    if isinstance(s, gast.Slice):
        parts = [p if p is not None else const(None) for p in (s.lower, s.upper, s.step)]
        return gast.Call(func=name("slice"), args=parts, keywords=[])
    if isinstance(s, gast.Tuple):
        return gast.Tuple(elts=[index_value(e) for e in s.elts], ctx=gast.Load())
    return copy_tree(s)
