"""s2s.parse.astconv builds the same trees as gast's own converters, both ways."""
import ast
import glob
import os

import gast
import pytest

from s2s.parse import astconv

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Constructs the project's own files may lack.
_SNIPPET = '''
import a.b as c
from .d import e as f, g
async def h(p, /, q: int = 1, *r, s, t=2, **u) -> "v":
    async for w in x:
        async with y as (z, zz):
            await w
    try:
        pass
    except (KeyError, ValueError) as err:
        raise TypeError() from err
    except Exception:
        pass
    else:
        pass
    finally:
        del q
class K(Base, metaclass=M):
    x: int = 3
    @staticmethod
    def m(*, k): return [i async for i in k] if k else {i: j for i, j in k}
lam = lambda a, *b, c=1, **d: (yield a)
print(f"{lam!r:>{10}}", *args, **kw, sep="")
match point:
    case (0, y) | [1, y] if y > 0: pass
    case {"k": v, **rest}: pass
    case Point(x=0, y=yy) as pp: pass
    case _: pass
x[1:2, ::3, ...] = not -~a @ b ** c // d
global gg
nonlocal_like = (a := 1)
'''


def _sources():
    # The passes' own modules and the test corpora: the kinds of code s2s parses and writes.
    files = sorted(glob.glob(os.path.join(_ROOT, "s2s", "parse", "*.py")))
    files += [os.path.join(_ROOT, *p.split("/")) for p in (
        "s2s/transforms/reverse.py", "s2s/transforms/control.py", "tests/grad_corpus.py",
        "tests/seed_programs.py")]
    yield "snippet", _SNIPPET
    for path in files:
        with open(path) as f:
            yield os.path.relpath(path, _ROOT), f.read()


def test_both_directions_agree_with_gast():
    n = 0
    for name, text in _sources():
        ours, theirs = astconv.parse(text), gast.parse(text)
        assert gast.dump(ours, include_attributes=True) == gast.dump(theirs, include_attributes=True), name
        back, gast_back = astconv.to_ast(ours), gast.gast_to_ast(theirs)
        assert ast.dump(back, include_attributes=True) == ast.dump(gast_back, include_attributes=True), name
        assert ast.unparse(back) == ast.unparse(gast_back), name
        n += 1
    assert n > 10


def test_converted_trees_compile_and_run():
    tree = astconv.parse("def f(x, *, k=2):\n    try:\n        return x * k\n    except TypeError as e:\n"
                         "        return str(e)\n")
    code = compile(astconv.to_ast(tree), "<test>", "exec")
    namespace = {}
    exec(code, namespace)
    assert namespace["f"](3) == 6 and namespace["f"](3, k=4) == 12
    assert namespace["f"](None) == "unsupported operand type(s) for *: 'NoneType' and 'int'"


@pytest.mark.parametrize("mode", ["eval", "exec"])
def test_parse_modes(mode):
    text = "a + f(b, *c)" if mode == "eval" else "a = b"
    assert gast.dump(astconv.parse(text, mode)) == gast.dump(gast.parse(text, mode=mode))
