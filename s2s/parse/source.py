"""Source retrieval: a function object -> its AST, file, line and namespace.

Handles ``def`` functions (decorators stripped, indentation removed), lambdas
(found by column inside their line), functions that s2s generated (their source
is registered in ``linecache``), bound methods and ``functools.partial``.
``NoSourceError`` means the tracing fallback must take over.

>>> def square(x):
...     return x * x
>>> src = get_source(square)
>>> src.node.name, src.params
('square', ['x'])
"""
import ast
import functools
import inspect
import linecache
import textwrap
import types
import weakref

import gast

from s2s.core.errors import S2SError
from s2s.core.primitive import rules_of
from s2s.parse import astconv, dataflow, quoting as q


# A generated function carries its own ``(code, lines)`` under this attribute:
# transforming it again reads that, never ``linecache`` by file name (two
# functions can share a name), and only when the code object matches (a wrapper
# that copied the attribute with ``functools.wraps`` gets no match).
GENERATED_ATTR = "__s2s_generated__"


class NoSourceError(S2SError):
    """The source of a function cannot be had (exec, REPL, builtins, C code)."""


class FunctionSource:
    """A parsed user function: its ``gast.FunctionDef`` and where it came from."""

    def __init__(self, fn, node, filename, line_offset, source_lines):
        # Weak: caches keyed by ``fn`` hold its source, which must not keep it alive.
        self._fn = weakref.ref(fn)
        self.node = node
        self.filename = filename
        self.line_offset = line_offset  # add to a node's lineno to get the file's line
        self.source_lines = source_lines
        code = fn.__code__
        self.globals = fn.__globals__
        self.closure = {}
        if fn.__closure__:
            for name, cell in zip(code.co_freevars, fn.__closure__):
                self.closure[name] = cell

    @property
    def fn(self):
        """The function this is the source of."""
        return self._fn()

    @property
    def params(self):
        return dataflow.parameters(self.node, varargs=False, keyword_only=False)

    @property
    def name(self):
        return self.node.name

    def file_line(self, node):
        """The line in the user's file where ``node`` starts."""
        return getattr(node, "lineno", 1) + self.line_offset

    def line_text(self, node):
        """The user's source line of ``node``, stripped."""
        i = getattr(node, "lineno", 1) - 1
        if 0 <= i < len(self.source_lines):
            return self.source_lines[i].strip()
        return ""


def unwrap(fn):
    """(function, bound_args) for methods, partials and callable objects."""
    bound = ()
    hook = getattr(type(fn), "__s2s_unwrap__", None)
    if hook is not None:
        inner, inner_bound = hook(fn)
        deeper, deeper_bound = unwrap(inner)
        return deeper, deeper_bound + tuple(inner_bound)
    if isinstance(fn, functools.partial):
        inner, inner_bound = unwrap(fn.func)
        if fn.keywords:
            inner = _with_keyword_defaults(fn, inner, len(inner_bound) + len(fn.args))
        return inner, inner_bound + tuple(fn.args)
    if isinstance(fn, types.MethodType):
        inner, inner_bound = unwrap(fn.__func__)
        return inner, inner_bound + (fn.__self__,)
    if not isinstance(fn, types.FunctionType) and callable(fn) and hasattr(type(fn), "__call__"):
        call = type(fn).__call__
        if isinstance(call, types.FunctionType):
            return call, (fn,)
    return fn, bound


# partial -> (its keywords' values, the function's defaults, the copy): a partial
# transformed again gets the same copy, so the copy's builds are cached.
_keyword_copies = weakref.WeakKeyDictionary()


def _with_keyword_defaults(partial, fn, n_bound):
    """A copy of ``fn`` (same code, so the same source) whose defaults are ``partial``'s
    keywords: ``partial(f, kw=2.0)(x)`` is ``f(x, kw=2.0)``, and the copy called as
    ``copy(x)`` is the same call, so every transformation reads ``f``'s source instead
    of recording the call (a Python ``if`` on data then batches and stages). Only
    calls that would raise in Python (a positional argument for a keyword the partial
    binds) behave differently. ``NoSourceError`` where no copy says the same: a keyword
    for ``**kwargs``, or a later positional parameter without a default.

    >>> import functools
    >>> def f(x, kw=1.0):
    ...     return x * kw
    >>> f.__module__ = "__main__"  # a user's function (this example runs in s2s's module)
    >>> g, bound = unwrap(functools.partial(f, kw=2.0))
    >>> g.__defaults__, bound
    ((2.0,), ())
    """
    if not isinstance(fn, types.FunctionType) or rules_of(fn) is not None or \
            (fn.__module__ or "").split(".")[0] == "s2s":
        # a copy would lose the rules registered for the function itself: recorded
        raise NoSourceError("functools.partial with keyword arguments of a function s2s "
                            "has rules for or cannot read")
    keywords = dict(partial.keywords)
    seen = _keyword_copies.get(partial)
    if (seen is not None and seen[1] is fn.__defaults__ and seen[0].keys() == keywords.keys()
            and all(seen[0][k] is v for k, v in keywords.items())):
        return seen[2]
    code = fn.__code__
    positional = code.co_varnames[:code.co_argcount]
    keyword_only = code.co_varnames[code.co_argcount:code.co_argcount + code.co_kwonlyargcount]
    defaults = list(fn.__defaults__ or ())
    kwdefaults = dict(fn.__kwdefaults__ or {})
    first_default = len(positional) - len(defaults)
    for name, value in keywords.items():
        if name in keyword_only:
            kwdefaults[name] = value
            continue
        if name not in positional or positional.index(name) < n_bound:
            raise NoSourceError(f"functools.partial binds {name!r}, which is not a parameter "
                                f"s2s can give a default to in {fn.__qualname__}")
        i = positional.index(name)
        if i < first_default:  # the parameters between it and the defaults have none
            if any(p not in keywords for p in positional[i:first_default]):
                raise NoSourceError(f"functools.partial binds {name!r} of {fn.__qualname__} "
                                    "but a later positional parameter has no default")
            defaults = [keywords[p] for p in positional[i:first_default]] + defaults
            first_default = i
        defaults[i - first_default] = value
    out = types.FunctionType(code, fn.__globals__, fn.__name__, tuple(defaults) or None,
                             fn.__closure__)
    out.__kwdefaults__ = kwdefaults or None
    out.__dict__.update(fn.__dict__)
    out.__qualname__, out.__module__, out.__doc__ = fn.__qualname__, fn.__module__, fn.__doc__
    try:
        _keyword_copies[partial] = (keywords, fn.__defaults__, out)
    except TypeError:  # a partial subclass without weak references: not cached
        pass
    return out


def get_source(fn, rule=False):
    """The ``FunctionSource`` of a plain Python function; ``NoSourceError`` if none,
    or if the source found is not what Python runs (the file was edited since).
    ``rule``: ``fn`` is a derivative template (read wherever it is written).

    A function marked ``__s2s_traced__`` (s2s's own transformations called inside a
    transformed function: ``vjp``, ``linearize``, Jacobians, which run generated code
    or vmap themselves) has none to read: its calls are recorded instead."""
    if not rule and getattr(fn, "__s2s_traced__", False):
        raise NoSourceError(f"{getattr(fn, '__qualname__', fn)} is recorded on its arguments, "
                            "not transformed by source")
    source = _find_source(fn)
    if fn.__dict__.get(GENERATED_ATTR) is None and not _compiles_to(source.node, fn.__code__):
        raise NoSourceError(
            f"the source of {fn.__qualname__} in {source.filename} is not the code Python runs "
            "(the file changed after it was imported?)")
    return source


def _find_source(fn):
    if not isinstance(fn, types.FunctionType):
        raise NoSourceError(f"{fn!r} is not a Python function")
    code = fn.__code__
    filename = code.co_filename
    lines = _lines_of(fn)
    if not lines:
        raise NoSourceError(f"no source for {fn.__qualname__} (defined in {filename})")
    first = code.co_firstlineno
    found = None if code.co_name == "<lambda>" else _def_block(lines, first, code.co_name)
    if found is not None:
        text, node = found
    else:
        try:
            block = inspect.getblock(lines[first - 1:])
        except Exception:
            raise NoSourceError(f"cannot read the source of {fn.__qualname__}") from None
        if code.co_name == "<lambda>":  # the code's name: ``__name__`` can be reassigned
            return _lambda_source(fn, lines, first, filename)
        text = textwrap.dedent("".join(block))
        try:
            module = astconv.parse(text)
        except SyntaxError:
            raise NoSourceError(f"cannot parse the source of {fn.__qualname__}") from None
        node = _find_def(module, code.co_name)
        if node is None:
            raise NoSourceError(f"cannot find the definition of {fn.__qualname__}")
    node.decorator_list = []
    return FunctionSource(fn, node, filename, first - 1, text.splitlines())


def _def_block(lines, first, name):
    """``(text, node)`` of the definition of ``name`` starting at line ``first``, found
    without tokenizing (``inspect.getblock`` tokenizes, a tenth of staging): the lines
    up to the next statement indented no deeper than its ``def``. A cut inside a string,
    brackets or a continuation does not parse, and a cut past the definition parses as
    more than one statement: then None, and ``getblock`` decides.
    """
    start = first - 1
    header = next((i for i in range(start, min(len(lines), start + 50))
                   if lines[i].lstrip().startswith(("def ", "async def "))), None)
    if header is None:
        return None
    indent = _indent(lines[header])
    end = len(lines)
    for i in range(header + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and not stripped.startswith("#") and _indent(lines[i]) <= indent:
            end = i
            break
    while end > header + 1 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith("#")):
        end -= 1  # trailing blank and comment lines (a comment may sit at any depth)
    text = textwrap.dedent("".join(lines[start:end]))
    tree = _parsed(text)
    if tree is None:
        return None
    body = tree.body
    if len(body) != 1 or not isinstance(body[0], (ast.FunctionDef, ast.AsyncFunctionDef)) \
            or body[0].name != name:
        return None
    return text, astconv.to_gast(body[0])


@functools.lru_cache(maxsize=64)
def _parsed(text):
    """``ast.parse(text)``, None when it does not parse. Cached: a recording's generated
    source is read again each time it is transformed, and ``to_gast`` copies the tree
    (never changes it), so the cached tree is only read."""
    try:
        return ast.parse(text)
    except SyntaxError:
        return None


def _indent(line):
    return len(line) - len(line.lstrip())


def _compiles_to(fdef, code):
    """Whether compiling ``fdef`` gives ``code``'s instructions, names and constants
    (positions aside). Free variables are made cells of an enclosing function, as
    they were where ``code`` was compiled."""
    import __future__
    node = astconv.to_ast(fdef)  # new nodes: the probe's changes below leave ``fdef`` alone
    node.name = "__s2s_probe__"
    body = [node]
    if code.co_freevars:
        body = [ast.FunctionDef(
            name="__s2s_outer__", args=ast.arguments(posonlyargs=[], args=[], kwonlyargs=[],
                                                     kw_defaults=[], defaults=[]),
            body=[ast.Assign(targets=[ast.Name(id=v, ctx=ast.Store()) for v in code.co_freevars],
                             value=ast.Constant(None))] + body, decorator_list=[])]
    flags = 0
    for feature in __future__.all_feature_names:
        flags |= code.co_flags & getattr(__future__, feature).compiler_flag
    module = ast.fix_missing_locations(ast.Module(body=body, type_ignores=[]))
    try:
        compiled = compile(module, code.co_filename, "exec", flags=flags, dont_inherit=True)
    except ValueError:  # a lambda cut out of its line has columns relative to the cut
        for n in q.walk(module):
            if getattr(n, "lineno", None) is not None:
                n.col_offset, n.end_lineno, n.end_col_offset = 0, n.lineno, 0
        try:
            compiled = compile(module, code.co_filename, "exec", flags=flags, dont_inherit=True)
        except (SyntaxError, ValueError, TypeError):
            return False
    except (SyntaxError, TypeError):
        return False
    probe = _code_named(compiled, "__s2s_probe__")
    return probe is not None and _same_code(probe, code)


def _code_named(code, name):
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            if c.co_name == name:
                return c
            found = _code_named(c, name)
            if found is not None:
                return found
    return None


def _instructions(code):
    """The instructions of ``code``, compared across compile contexts: a method call on
    a module-level name bound by ``import`` compiles to ``LOAD_ATTR`` in its module but
    ``LOAD_METHOD`` alone, which also moves jump targets."""
    import dis
    out = []
    for i in dis.get_instructions(code):
        if i.opname in ("PUSH_NULL", "CACHE", "NOP", "EXTENDED_ARG"):
            continue
        name = "LOAD_ATTR" if i.opname == "LOAD_METHOD" else i.opname
        jump = i.opcode in dis.hasjrel or i.opcode in dis.hasjabs
        out.append((name, None if jump or isinstance(i.argval, types.CodeType) else i.argval))
    return out


def _same_code(a, b):
    if (a.co_names, a.co_varnames, a.co_freevars, a.co_cellvars) != \
            (b.co_names, b.co_varnames, b.co_freevars, b.co_cellvars):
        return False
    if a.co_code != b.co_code and _instructions(a) != _instructions(b):
        return False
    if len(a.co_consts) != len(b.co_consts):
        return False
    for x, y in zip(a.co_consts, b.co_consts):
        if isinstance(x, types.CodeType) and isinstance(y, types.CodeType):
            if not _same_code(x, y):
                return False
        elif type(x) is not type(y) or (x != y and x == x):  # (NaN constants: x != x)
            if not (isinstance(x, str) and "<locals>" in x and "<locals>" in y):
                return False  # (a nested class's __qualname__ names the enclosing function)
    return True


def _lines_of(fn):
    """The lines of the file ``fn`` was defined in (its own text if s2s generated it)."""
    generated = fn.__dict__.get(GENERATED_ATTR)
    if generated is not None and generated[0] is fn.__code__:
        return generated[1]
    nested = _NESTED.get(id(fn.__code__))
    if nested is not None and nested[0]() is fn.__code__:
        return nested[1]
    return linecache.getlines(fn.__code__.co_filename, fn.__globals__)


# The text of functions nested in generated code (a lax body, a lambda), by their code
# object's id: such a function can outlive every function compiled with it, and with
# them its pseudo-file's linecache entry (a lax body defined inside a gradient's
# forward function, transformed again after that function was collected).
_NESTED = {}


def register_nested(code, lines):
    """Keeps ``lines`` as the source of the functions nested in generated ``code``
    (their code objects hold it: an entry goes when its code object is collected)."""
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            key = id(const)
            _NESTED[key] = (weakref.ref(const, lambda _, key=key: _NESTED.pop(key, None)), lines)
            register_nested(const, lines)


def _find_def(module, name):
    for stmt in module.body:
        if isinstance(stmt, (gast.FunctionDef, gast.AsyncFunctionDef)) and stmt.name == name:
            return stmt
    return None


def _lambda_source(fn, lines, first, filename):
    """Finds the lambda among those on its line by the column of its body."""
    code = fn.__code__
    body_at = _body_start(code)
    # Parse the smallest run of lines starting at the lambda's line that parses.
    for end in range(first, min(len(lines), first + 50) + 1):
        chunk = "".join(lines[first - 1:end])
        text = textwrap.dedent(chunk)
        indent = len(chunk) - len(chunk.lstrip()) if chunk.strip() else 0
        try:
            module = astconv.parse(text)
        except SyntaxError:
            continue
        lambdas = [n for n in q.walk(module) if isinstance(n, gast.Lambda)]
        candidates = [
            n for n in lambdas
            if [a.id for a in n.args.args] == list(code.co_varnames[:code.co_argcount])
        ]
        if body_at is not None and len(candidates) > 1:
            line, col = body_at
            at = (line - first + 1, col - indent)
            before = [n for n in candidates if (n.body.lineno, n.body.col_offset) <= at]
            # The lambda whose body starts last before the code's first instruction.
            candidates = [max(before or candidates, key=lambda n: (n.body.lineno, n.body.col_offset))]
        if candidates:
            lam = candidates[0]
            node = gast.FunctionDef(
                name="<lambda>", args=lam.args, body=[gast.Return(value=lam.body)],
                decorator_list=[], returns=None, type_comment=None, type_params=[],
            )
            gast.copy_location(node, lam)
            gast.copy_location(node.body[0], lam.body)
            return FunctionSource(fn, node, filename, first - 1, text.splitlines())
    node = _lambda_by_tokens(code, lines, first)
    if node is not None:
        return FunctionSource(fn, node, filename, first - 1, [ln.rstrip("\n") for ln in lines[first - 1:]])
    raise NoSourceError(f"cannot find the source of the lambda at {filename}:{first}")


def _body_start(code):
    """``(line, column)`` where the code's body starts: its earliest instruction
    with a source span (``RESUME`` and some returns sit, zero-width, at column 0)."""
    starts = [(line, col) for line, end_line, col, end_col in code.co_positions()
              if line is not None and col is not None and (end_line, end_col) != (line, col)]
    return min(starts) if starts else None


_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _lambda_by_tokens(code, lines, first):
    """A lambda inside a line that does not parse alone (a dict entry, a call argument
    split over lines): cut each ``lambda ...`` expression out by its tokens."""
    import io
    import tokenize
    text = "".join(lines[first - 1:first + 49])
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError, IndentationError):
        tokens = _tokens_until_error(text)
    params = list(code.co_varnames[:code.co_argcount])
    start = _body_start(code)
    body_at = (start[0] - first + 1, start[1]) if start is not None else None
    found = []
    for i, tok in enumerate(tokens):
        if tok.type != tokenize.NAME or tok.string != "lambda" or tok.start[0] != 1:
            continue
        end = _lambda_end(tokens, i)
        snippet = _cut(text, tok.start, end)
        try:
            lam = astconv.parse("(" + snippet + ")").body[0].value
        except SyntaxError:
            continue
        if isinstance(lam, gast.Lambda) and [a.id for a in lam.args.args] == params:
            found.append((tok.start, lam))
    if body_at is not None:
        found = [f for f in found if f[0] <= body_at] or found
    if not found:
        return None
    (line, col), lam = found[-1]
    for n in q.walk(lam):  # positions relative to the user's line
        if hasattr(n, "lineno"):
            if n.lineno == 1:
                n.col_offset += col - 1
            n.lineno += line - 1
    node = gast.FunctionDef(name="<lambda>", args=lam.args, body=[gast.Return(value=lam.body)],
                            decorator_list=[], returns=None, type_comment=None, type_params=[])
    gast.copy_location(node, lam)
    gast.copy_location(node.body[0], lam.body)
    return node


def _tokens_until_error(text):
    import io
    import tokenize
    out = []
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            out.append(tok)
    except (tokenize.TokenError, SyntaxError, IndentationError):
        pass
    return out


def _lambda_end(tokens, i):
    """Where the lambda starting at token ``i`` ends: a ``,``, ``;``, closing bracket or
    ``for`` at its own bracket depth, or the end of the logical line."""
    import tokenize
    depth = 0
    for tok in tokens[i + 1:]:
        if tok.type == tokenize.OP and tok.string in "([{":
            depth += 1
        elif tok.type == tokenize.OP and tok.string in _CLOSERS:
            if depth == 0:
                return tok.start
            depth -= 1
        elif depth == 0 and ((tok.type == tokenize.OP and tok.string in (",", ";"))
                             or (tok.type == tokenize.NAME and tok.string in ("for", "async"))
                             or tok.type in (tokenize.NEWLINE, tokenize.ENDMARKER)):
            return tok.start
    return tokens[-1].end if tokens else (1, 0)


def _cut(text, start, end):
    rows = text.splitlines(keepends=True)
    (l0, c0), (l1, c1) = start, end
    if l0 == l1:
        return rows[l0 - 1][c0:c1]
    return rows[l0 - 1][c0:] + "".join(rows[l0:l1 - 1]) + rows[l1 - 1][:c1]




def register_source(filename, text):
    """Puts generated ``text`` in ``linecache`` under ``filename`` (for inspect/pdb/tracebacks)."""
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
