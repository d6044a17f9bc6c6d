"""Forward-mode templates of Python builtins and of the support functions normal
form calls (``setitem``, ``copy``...), mirroring ``rules.py``."""
import builtins

from s2s.core.primitive import d, def_batch, def_jvp
from s2s.core.tree_util import tree_leaves
from s2s.numpy._vjp_helpers import at_update_tangent
from s2s.runtime import support as S
from s2s.transforms import fwd_support

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


@def_jvp(S.at_update)
def _at_update(ans, x, index, op, value=None, **kwargs):
    # A direct template (not transposed from the vjp one): grad of jvp differentiates
    # the tangent code, and at_update_tangent is written with .at[] updates.
    # materialize(d[value], None) is None for a constant value.
    d[ans] = at_update_tangent(materialize(d[x], x), materialize(d[value], None), x, index, op,
                               value, ans, **kwargs)


@def_jvp(S.concat)
def _concat(ans, a, b):
    d[ans] = concat(materialize(d[a], a), materialize(d[b], b))


@def_jvp(S.values)
def _values(ans, d_):
    d[ans] = list(d[d_].values())


@def_jvp(S.new_namedtuple)
def _new_namedtuple(ans, *fields):
    d[ans] = type(ans)._make(d[fields])


def attribute_tangent(dx, x, name):
    """The tangent of ``getattr(x, name)`` from the tangent ``dx`` of ``x``: a namedtuple's
    field of ``dx``; zeros for an attribute that holds no floats (``shape``)."""
    value = getattr(x, name)
    if not S._differentiable_value(value, tree_leaves):
        return fwd_support.zeros_tangent(value)
    if not hasattr(type(x), "_fields"):
        raise TypeError(f"s2s cannot take forward mode through getattr(..., {name!r}) of a "
                        f"{type(x).__name__}: use the attribute syntax or NumPy functions")
    return getattr(dx, name)


# containers and attributes: the same under vmap, on batched leaves
def_batch(attribute_tangent)(lambda axes, /, dx, x, name: attribute_tangent(dx, x, name))
def_batch(S.attribute_grad)(lambda axes, /, x, name, g: S.attribute_grad(x, name, g))


@def_jvp(builtins.getattr)
def _getattr(ans, obj, name, *default):
    d[ans] = attribute_tangent(d[obj], obj, name)


@def_jvp(S.attribute_grad)
def _attribute_grad(ans, obj, name, g):
    d[ans] = attribute_grad(obj, name, d[g])


@def_jvp(builtins.zip)
def _zip(ans, *iterables):
    d[ans] = zip(*d[iterables])


@def_jvp(builtins.enumerate)
def _enumerate(ans, iterable, start=0):
    d[ans] = enumerate(d[iterable], start)


# Operators of converted control flow (jvp of functions jit has converted).

from s2s.runtime import control_ops as C  # noqa: E402

dynamic_jvp = None


@def_jvp(C.converted_call)
def _converted_call(ans, fn, *args, **kwargs):
    d[ans] = dynamic_jvp(fn, args, d[args], **kwargs)[1]


# Adjoint helpers of generated gradient code: linear in the adjoint, so their tangent is
# the same helper applied to the adjoint's tangent (jvp of grad, hessian). The helpers
# take None (a zero adjoint) and give None.

unbroadcast = broadcast_like = unreduce = reshape_like = add_grad = getitem_grad = complete_grad = None
setitem_grad = index_grad = unpack_grad = pack_grad = transpose_grad = dict_item_grad = None
matmul_grad_lhs = matmul_grad_rhs = dot_grad_lhs = dot_grad_rhs = getattr_grad = field_grad = attribute_grad = None


@def_jvp(S.unbroadcast)
def _unbroadcast(ans, g, x):
    d[ans] = unbroadcast(d[g], x)


@def_jvp(S.broadcast_like)
def _broadcast_like(ans, g, x):
    d[ans] = broadcast_like(d[g], x)


@def_jvp(S.unreduce)
def _unreduce(ans, g, x, axis=None, keepdims=False, where=None):
    d[ans] = unreduce(d[g], x, axis, keepdims, where)


@def_jvp(S.reshape_like)
def _reshape_like(ans, g, x):
    d[ans] = reshape_like(d[g], x)


@def_jvp(S.add_grad)
def _add_grad(ans, a, b):
    d[ans] = add_grad(d[a], d[b])


@def_jvp(S.getitem_grad)
def _getitem_grad(ans, x, index, g):
    d[ans] = getitem_grad(x, index, d[g])


@def_jvp(S.complete_grad)
def _complete_grad(ans, x, g):
    d[ans] = complete_grad(x, d[g])


@def_jvp(S.getattr_grad)
def _getattr_grad(ans, x, name, g):
    d[ans] = getattr_grad(x, name, d[g])  # x gives only the namedtuple's structure


@def_jvp(S.field_grad)
def _field_grad(ans, h, x, name):
    d[ans] = field_grad(d[h], x, name)


@def_jvp(S.setitem_grad)
def _setitem_grad(ans, g, index):
    d[ans] = setitem_grad(d[g], index)


@def_jvp(S.index_grad)
def _index_grad(ans, g, index, value):
    d[ans] = index_grad(d[g], index, value)


@def_jvp(S.unpack_grad)
def _unpack_grad(ans, g, n):
    d[ans] = unpack_grad(d[g], n)


# Linear in ``parts`` (``like`` gives the container's type and rows' shape): without
# this template forward mode transposed its vjp, which vmap of a hessian with a batched
# primal ran once per example.
@def_jvp(S.pack_grad)
def _pack_grad(ans, like, parts):
    d[ans] = pack_grad(like, d[parts])


@def_jvp(S.dict_item_grad)
def _dict_item_grad(ans, g, key):
    d[ans] = dict_item_grad(d[g], key)


@def_jvp(S.transpose_grad)
def _transpose_grad(ans, g, axes=None):
    d[ans] = transpose_grad(d[g], axes)


@def_jvp(S.matmul_grad_lhs)
def _matmul_grad_lhs(ans, g, a, b):
    d[ans] = add_grad(matmul_grad_lhs(d[g], a, b), matmul_grad_lhs(g, a, d[b]))


@def_jvp(S.matmul_grad_rhs)
def _matmul_grad_rhs(ans, g, a, b):
    d[ans] = add_grad(matmul_grad_rhs(d[g], a, b), matmul_grad_rhs(g, d[a], b))


@def_jvp(S.dot_grad_lhs)
def _dot_grad_lhs(ans, g, a, b):
    d[ans] = add_grad(dot_grad_lhs(d[g], a, b), dot_grad_lhs(g, a, d[b]))


@def_jvp(S.dot_grad_rhs)
def _dot_grad_rhs(ans, g, a, b):
    d[ans] = add_grad(dot_grad_rhs(d[g], a, b), dot_grad_rhs(g, d[a], b))
