"""Between gast trees (what the passes rewrite) and Python's own ``ast`` (what
``ast.unparse`` and ``compile`` take): the same trees as ``gast.ast_to_gast`` and
``gast.gast_to_ast`` build, at a fraction of their cost. Their visitors look up a
method per node and build gast nodes through a Python ``__init__``; staging a
``jit(grad(f))`` converts every function it parses and every function it generates,
so that cost was a tenth of it. Node kinds this module does not know take gast's own
converters (tests/test_astconv.py checks both directions against gast's on every
file of the project).

>>> import ast
>>> tree = parse("def f(x, *, k=2):\\n    return x * k\\n")
>>> type(tree.body[0].args.args[0]).__name__, tree.body[0].args.args[0].id
('Name', 'x')
>>> ast.unparse(to_ast(tree))
'def f(x, *, k=2):\\n    return x * k'
"""
import ast
import sys

import gast

_MISSING = object()
_LOCATION = ("lineno", "col_offset", "end_lineno", "end_col_offset")
# Before 3.12 Python's FunctionDef and ClassDef have no type_params; gast's always do.
_TYPE_PARAMS = sys.version_info >= (3, 12)
_DEFINITIONS = {  # their fields but type_params
    "FunctionDef": ("name", "args", "body", "decorator_list", "returns", "type_comment"),
    "AsyncFunctionDef": ("name", "args", "body", "decorator_list", "returns", "type_comment"),
    "ClassDef": ("name", "bases", "keywords", "body", "decorator_list"),
}


def parse(text, mode="exec"):
    """``gast.parse``: Python's parser, then the tree as gast nodes."""
    return to_gast(ast.parse(text, mode=mode))


def to_gast(node):
    """``gast.ast_to_gast(node)``."""
    return _to_gast(node)


def to_ast(node):
    """``gast.gast_to_ast(node)``."""
    return _to_ast(node)


def _identity(value):
    return value


def _copy_location(new, old):
    """``ast.copy_location``, on the new node's ``__dict__``."""
    for attr in _LOCATION:
        value = getattr(old, attr, None)
        if value is not None or (attr.startswith("end_") and hasattr(old, attr)):
            new.__dict__[attr] = value
    return new


def _make(cls, fields, old=None):
    """A node of ``cls`` holding ``fields`` (gast nodes' ``__init__`` only sets them)."""
    new = cls.__new__(cls)
    new.__dict__.update(fields)
    return new if old is None else _copy_location(new, old)


def _generic(cls, module, convert):
    """What gast's ``generic_visit`` builds for a node of class ``cls``: the class of the
    same name in ``module``, each field the node has converted, each location attribute
    it has copied (made once per class; fields a class defaults count as had)."""
    target = getattr(module, cls.__name__, None)
    if target is None:
        return lambda node: None
    fields = [(f, getattr(cls, f, _MISSING)) for f in cls._fields]
    attributes = [(a, getattr(cls, a, _MISSING)) for a in cls._attributes]

    def build(node):
        d = node.__dict__
        out = {}
        for f, default in fields:
            v = d.get(f, default)
            if v is not _MISSING:
                out[f] = convert(v)
        for a, default in attributes:
            v = d.get(a, default)
            if v is not _MISSING:
                out[a] = v
        new = target.__new__(target)
        new.__dict__.update(out)
        return new
    return build


def _converter(table, module):
    """The conversion function for ``table`` (special cases by class), filled lazily with
    a generic builder for every other node class it meets."""
    def convert(value):
        cls = type(value)
        if cls is list:
            return [convert(v) for v in value]
        build = table.get(cls)
        if build is None:
            if not isinstance(value, ast.AST):
                return value
            build = table[cls] = _generic(cls, module, convert)
        return build(value)
    return convert


# --- Python's ast -> gast -------------------------------------------------------------

def _gast_name(node):
    return _make(gast.Name, {"id": node.id, "ctx": _to_gast(node.ctx), "annotation": None,
                             "type_comment": None}, node)


def _gast_arg(node):
    return _make(gast.Name, {"id": node.arg, "ctx": gast.Param(),
                             "annotation": _to_gast(node.annotation),
                             "type_comment": _to_gast(node.type_comment)}, node)


def _gast_handler(node):
    if not node.name:
        return _generic(ast.ExceptHandler, gast, _to_gast)(node)
    name = gast.Name(node.name, gast.Store(), None, None)
    return _make(gast.ExceptHandler, {"type": _to_gast(node.type), "name": name,
                                      "body": _to_gast(node.body)}, node)


def _gast_def(cls, fields):
    def convert(node):
        out = {f: _to_gast(getattr(node, f)) for f in fields}
        out["type_params"] = []
        return gast.copy_location(_make(cls, out), node)
    return convert


_TO_GAST = {ast.Name: _gast_name, ast.arg: _gast_arg, ast.ExceptHandler: _gast_handler}
if not _TYPE_PARAMS:
    for _name, _fields in _DEFINITIONS.items():
        _TO_GAST[getattr(ast, _name)] = _gast_def(getattr(gast, _name), _fields)
for _name in ("TypeVar", "TypeVarTuple", "ParamSpec"):  # gast's own, version by version
    if hasattr(ast, _name):
        _TO_GAST[getattr(ast, _name)] = gast.ast_to_gast
for _atom in (str, int, float, bool, complex, bytes, type(None), type(Ellipsis)):
    _TO_GAST[_atom] = _identity
_to_gast = _converter(_TO_GAST, gast)


# --- gast -> Python's ast -------------------------------------------------------------

def _ast_name(node):  # (a third of all nodes: written out)
    d = node.__dict__
    new = _AST_NAME_NEW(ast.Name)
    out = new.__dict__
    out["id"], out["ctx"] = d["id"], _to_ast(d["ctx"])
    for attr in ("lineno", "col_offset"):
        value = d.get(attr)
        if value is not None:
            out[attr] = value
    out["end_lineno"] = getattr(node, "end_lineno", None)
    out["end_col_offset"] = getattr(node, "end_col_offset", None)
    return new


_AST_NAME_NEW = ast.Name.__new__


def _ast_arg(node):
    if node is None:
        return None
    return _make(ast.arg, {"arg": node.id, "annotation": _to_ast(node.annotation),
                           "type_comment": node.type_comment}, node)


def _ast_arguments(node):
    return _make(ast.arguments, {
        "posonlyargs": [_ast_arg(a) for a in node.posonlyargs],
        "args": [_ast_arg(a) for a in node.args],
        "vararg": _ast_arg(node.vararg),
        "kwonlyargs": [_ast_arg(a) for a in node.kwonlyargs],
        "kw_defaults": _to_ast(node.kw_defaults),
        "kwarg": _ast_arg(node.kwarg),
        "defaults": _to_ast(node.defaults),
    })


def _ast_handler(node):
    if not node.name:
        return _generic(gast.ExceptHandler, ast, _to_ast)(node)
    return _make(ast.ExceptHandler, {"type": _to_ast(node.type), "name": node.name.id,
                                     "body": _to_ast(node.body)}, node)


def _ast_fields(cls, fields):
    def convert(node):
        return _make(cls, {f: _to_ast(getattr(node, f)) for f in fields}, node)
    return convert


# Expression contexts carry nothing: one each serves every node (as Python's parser does).
_TO_AST = {gast.Load: lambda _, load=ast.Load(): load, gast.Store: lambda _, store=ast.Store(): store,
           gast.Del: lambda _, d=ast.Del(): d,
           gast.Name: _ast_name, gast.arguments: _ast_arguments, gast.ExceptHandler: _ast_handler,
           gast.Assign: _ast_fields(ast.Assign, ("targets", "value"))}
if not _TYPE_PARAMS:
    for _name, _fields in _DEFINITIONS.items():
        _TO_AST[getattr(gast, _name)] = _ast_fields(getattr(ast, _name), _fields)
for _name in ("TypeVar", "TypeVarTuple", "ParamSpec"):
    if hasattr(gast, _name) and hasattr(ast, _name):
        _TO_AST[getattr(gast, _name)] = gast.gast_to_ast
for _atom in (str, int, float, bool, complex, bytes, type(None), type(Ellipsis)):
    _TO_AST[_atom] = _identity
_to_ast = _converter(_TO_AST, ast)
