"""A function's source found without tokenizing (``source._def_block``) is the
definition ``inspect.getblock`` finds, or nothing (then getblock decides)."""
import inspect
import textwrap
import types

import gast

import s2s.numpy._ufuncs
import s2s.numpy.vjp_rules
import seed_programs
from s2s.parse import source


def _functions(module):
    for obj in vars(module).values():
        if isinstance(obj, types.FunctionType) and obj.__module__ == module.__name__:
            yield obj
        elif isinstance(obj, type) and obj.__module__ == module.__name__:
            for member in vars(obj).values():
                if isinstance(member, types.FunctionType):
                    yield member


def _by_getblock(fn):
    lines = source._lines_of(fn)
    text = textwrap.dedent("".join(inspect.getblock(lines[fn.__code__.co_firstlineno - 1:])))
    return text, source._find_def(gast.parse(text), fn.__code__.co_name)


def _agree(fn):
    lines = source._lines_of(fn)
    found = source._def_block(lines, fn.__code__.co_firstlineno, fn.__code__.co_name)
    if found is None:
        return False
    text, node = found
    expected_text, expected = _by_getblock(fn)
    # The same definition, at the same lines (trailing comments may differ).
    assert gast.dump(node, include_attributes=True) == gast.dump(expected, include_attributes=True)
    n = node.end_lineno
    assert text.splitlines()[:n] == expected_text.splitlines()[:n], fn.__qualname__
    return True


def test_agrees_with_getblock_on_library_and_corpus_functions():
    fns = [fn for m in (s2s.numpy._ufuncs, s2s.numpy.vjp_rules, seed_programs) for fn in _functions(m)
           if fn.__code__.co_name != "<lambda>"]
    assert len(fns) > 50
    found = sum(_agree(fn) for fn in fns)
    assert found >= 0.9 * len(fns)


_TRICKY = '''
import functools

def plain(x):
    return x + 1
# a comment at column 0 after it

@functools.lru_cache(
    maxsize=None)
def cut_in_string(x):
    """Docstring
with a line at column 0.
"""
    y = (x +
  1)
    return y \\
+ 1

class K:
    def method(self):  # the next method ends the one before
        return 2
        # a comment deeper than the def, after it

    def after(self):
        return 3

def one_liner(x): return x * 3
def uses_string(x):
    s = """
# not a comment
"""
    return x
'''


def test_tricky_layouts(tmp_path):
    path = tmp_path / "tricky.py"
    path.write_text(_TRICKY)
    namespace = {}
    exec(compile(_TRICKY, str(path), "exec"), namespace)
    import linecache
    linecache.checkcache(str(path))
    fns = [namespace["plain"], namespace["cut_in_string"].__wrapped__, namespace["K"].method,
           namespace["K"].after, namespace["one_liner"], namespace["uses_string"]]
    results = {fn.__name__: _agree(fn) for fn in fns}
    # Cuts inside a string or a continuation do not parse: getblock decides those.
    assert results == {"plain": True, "cut_in_string": False, "method": True, "after": True,
                       "one_liner": True, "uses_string": False}
    for fn in fns:  # and either way the source is the function's
        assert source.get_source(fn).node.name == fn.__name__
