"""Forward-mode templates of Python builtins and of the support functions normal
form calls (``setitem``, ``copy``...), mirroring ``rules.py``."""
import builtins

from s2s.lax.core import d, def_jvp
from s2s.transforms import support as S

# Names templates use (bound by the transformation).
np = setitem = copy = as_sequence = concat = materialize = None


@def_jvp(builtins.float, builtins.complex)
def _float(ans, x=0):
    d[ans] = d[x]


@def_jvp(builtins.abs)
def _abs(ans, x):
    d[ans] = d[x] * np.sign(x)


@def_jvp(builtins.list, builtins.tuple)
def _list(ans, iterable=()):
    d[ans] = type(ans)(d[iterable])


@def_jvp(builtins.pow)
def _pow(ans, base, exp, mod=None):
    d[ans] = d[base] * exp * base ** (exp - 1) + d[exp] * ans * np.log(base)


@def_jvp(S.copy)
def _copy(ans, x):
    d[ans] = copy(d[x])


@def_jvp(S.as_sequence)
def _as_sequence(ans, x):
    d[ans] = as_sequence(d[x])


@def_jvp(S.setitem)
def _setitem(ans, x, index, value):
    d[ans] = setitem(materialize(d[x], x), index, materialize(d[value], value))


@def_jvp(S.concat)
def _concat(ans, a, b):
    d[ans] = concat(materialize(d[a], a), materialize(d[b], b))


@def_jvp(S.values)
def _values(ans, d_):
    d[ans] = list(d[d_].values())


@def_jvp(builtins.zip)
def _zip(ans, *iterables):
    d[ans] = zip(*d[iterables])


@def_jvp(builtins.enumerate)
def _enumerate(ans, iterable, start=0):
    d[ans] = enumerate(d[iterable], start)


# Operators of converted control flow (jvp of functions jit has converted).

from s2s.transforms import control_ops as C  # noqa: E402

dynamic_jvp = None


@def_jvp(C.converted_call)
def _converted_call(ans, fn, *args, **kwargs):
    d[ans] = dynamic_jvp(fn, args, d[args], **kwargs)[1]
