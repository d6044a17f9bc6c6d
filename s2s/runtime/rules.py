"""Derivative rules of Python builtins and of the support functions.

Normal form calls the support functions (``append``, ``copy``...) for list and
dict methods, and derivative code calls the adjoint helpers (``unbroadcast``,
``add_grad``...); the rules of the latter make derivative code differentiable
again (``grad(grad(f))``).
"""
import builtins

from s2s.core import tree_util
from s2s.core.primitive import d, def_vjp, def_zero_derivative
from s2s.numpy._vjp_helpers import at_update_operand_grad, at_update_value_grad
from s2s.runtime import support as S

# Names templates use (bound by the transformation).
np = unbroadcast = broadcast_like = getitem_grad = setitem_grad = index_grad = None
unreduce = add_grad = reshape_like = join_last_grad = split_last_grad = repeat_grad = sum_grads = None
dict_item_grad = at_update_grad_x = at_update_grad_value = concat_grads = join_grads = tree_map_grads = unpack_grad = field_grad = getattr_grad = attribute_grad = None

def_zero_derivative(
    builtins.len, builtins.range, builtins.isinstance, builtins.type, builtins.int, builtins.bool,
    builtins.str, builtins.print, builtins.repr, builtins.hash, builtins.id,
    builtins.reversed, builtins.slice, builtins.callable, builtins.hasattr,
    builtins.any, builtins.all, builtins.round, builtins.divmod,
    S.keys, S.scalar_seed, S.holomorphic_seed, S.reduced_count, S.max_grad_share, S.shape_of,
)


@def_vjp(builtins.float, builtins.complex)
def _float(ans, x=0):
    d[x] = d[ans]


@def_vjp(builtins.abs)
def _abs(ans, x):
    d[x] = d[ans] * np.sign(x)


@def_vjp(builtins.list, builtins.tuple)
def _list(ans, iterable=()):
    d[iterable] = d[ans]


@def_vjp(builtins.sum)
def _sum(ans, iterable, start=0):
    d[iterable] = repeat_grad(d[ans], len(iterable))
    d[start] = d[ans]


@def_vjp(S.repeat_grad)
def _repeat_grad(ans, g, n):
    d[g] = sum_grads(d[ans])


@def_vjp(S.sum_grads)
def _sum_grads(ans, gs):
    # as builtin sum's: every item gets the total's adjoint (a rule rather than the
    # reverse mode of sum_grads' loop, whose backward pass vmap would run per example)
    d[gs] = repeat_grad(d[ans], len(gs))


@def_vjp(S.getattr_grad)
def _getattr_grad(ans, x, name, g):
    d[g] = field_grad(d[ans], x, name)


@def_vjp(builtins.getattr)
def _getattr(ans, obj, name, *default):
    d[obj] = attribute_grad(obj, name, d[ans])


@def_vjp(S.attribute_grad)
def _attribute_grad(ans, obj, name, g):
    d[g] = field_grad(d[ans], obj, name)


@def_vjp(S.field_grad)
def _field_grad(ans, h, x, name):
    d[h] = getattr_grad(x, name, d[ans])


@def_vjp(builtins.pow)
def _pow(ans, base, exp, mod=None):
    d[base] = unbroadcast(d[ans] * exp * base ** (exp - 1), base)
    d[exp] = unbroadcast(d[ans] * ans * np.log(base), exp)


@def_vjp(S.new_namedtuple)
def _new_namedtuple(ans, *fields):
    d[fields] = unpack_grad(d[ans], len(fields))


@def_vjp(S.copy, S.as_sequence)
def _copy(ans, x):
    d[x] = d[ans]


def _tree_rules():

    @def_vjp(tree_util.tree_map)
    def _tree_map(ans, f, tree, *rest, is_leaf=None):
        cts = tree_map_grads(d[ans], f, tree, rest, is_leaf)
        d[tree] = cts[0]
        d[rest] = cts[1]


_tree_rules()


@def_vjp(S.concat)
def _concat(ans, a, b):
    grads = concat_grads(d[ans], a, b)
    d[a] = grads[0]
    d[b] = grads[1]


@def_vjp(S.concat_grads)
def _concat_grads(ans, g, a, b):
    d[g] = join_grads(d[ans], a, b)


@def_vjp(S.at_update)
def _at_update(ans, x, index, op, value=None, *more, **kwargs):
    # One helper per operand, written on s2s.numpy (vmap batches them and the derivative
    # code generated from them by their source: second order loops over no basis vector);
    # `op` may be known only when the code runs (forward mode's transposed calls): they
    # pass the ops they do not cover to at_update_grad_x / at_update_grad_value. One
    # helper per operand also drops a contribution nobody needs with its call (a constant
    # exponent's adjoint, with its log of a negative base).
    d[x] = at_update_operand_grad(d[ans], x, index, op, value, ans, at_update_grad_x)
    d[value] = at_update_value_grad(d[ans], x, index, op, value, ans, at_update_grad_value)


@def_vjp(S.setitem)
def _setitem(ans, x, index, value):
    d[x] = setitem_grad(d[ans], index)
    d[value] = index_grad(d[ans], index, value)


@def_vjp(S.dict_get)
def _dict_get(ans, d_, key, default=None):
    d[d_] = {key: d[ans]}
    d[default] = d[ans]


@def_vjp(S.values)
def _values(ans, d_):
    d[d_] = dict(zip(list(d_), d[ans]))


@def_vjp(S.items)
def _items(ans, d_):
    d[d_] = {k: (g[1] if g is not None else None) for (k, _), g in zip(d_.items(), d[ans])}


# Adjoint helpers are linear in their adjoint argument.


@def_vjp(S.add_grad)
def _add_grad(ans, a, b):
    d[a] = d[ans]
    d[b] = d[ans]


@def_vjp(S.unbroadcast)
def _unbroadcast(ans, g, x):
    d[g] = broadcast_like(d[ans], g)


@def_vjp(S.broadcast_like)
def _broadcast_like(ans, g, x):
    d[g] = unbroadcast(d[ans], g)


@def_vjp(S.unreduce)
def _unreduce(ans, g, x, axis=None, keepdims=False, where=None):
    d[g] = reshape_like(np.sum(d[ans], axis, keepdims=keepdims, where=where), g)


@def_vjp(S.reshape_like)
def _reshape_like(ans, g, x):
    d[g] = reshape_like(d[ans], g)


@def_vjp(S.getitem_grad)
def _getitem_grad(ans, x, index, g):
    d[g] = dict_item_grad(d[ans], index)


@def_vjp(S.complete_grad)
def _complete_grad(ans, x, g):
    d[g] = d[ans]  # the zeros it adds do not depend on x


@def_vjp(S.dict_item_grad)
def _dict_item_grad(ans, g, key):
    d[g] = getitem_grad(g, key, d[ans])


@def_vjp(S.setitem_grad)
def _setitem_grad(ans, g, index):
    d[g] = setitem_grad(d[ans], index)


@def_vjp(S.index_grad)
def _index_grad(ans, g, index, value):
    d[g] = getitem_grad(g, index, broadcast_like(d[ans], g[index]))


@def_vjp(S.unpack_grad)
def _unpack_grad(ans, g, n):
    d[g] = d[ans]


@def_vjp(S.split_last_grad)
def _split_last_grad(ans, g):
    d[g] = join_last_grad(d[ans], g)


@def_vjp(S.join_last_grad)
def _join_last_grad(ans, parts, g):
    d[parts] = split_last_grad(d[ans])


@def_vjp(S.push_grad)
def _push_grad(ans, g, last, xs):
    d[g] = split_last_grad(d[ans])[0]
    d[last] = split_last_grad(d[ans])[1]


@def_vjp(S.pack_grad)
def _pack_grad(ans, like, parts):
    d[parts] = d[ans]


# The product adjoints are bilinear: for ``ga = dot_grad_lhs(g, a, b)``,
# <h, ga> = <dot(h, b), g>, so d[g] = dot(h, b) and d[b] = dot_grad_rhs(g, h, b).


@def_vjp(S.dot_grad_lhs)
def _dot_grad_lhs(ans, g, a, b):
    d[g] = np.dot(d[ans], b)
    d[b] = dot_grad_rhs(g, d[ans], b)


@def_vjp(S.dot_grad_rhs)
def _dot_grad_rhs(ans, g, a, b):
    d[g] = np.dot(a, d[ans])
    d[a] = dot_grad_lhs(g, a, d[ans])


@def_vjp(S.matmul_grad_lhs)
def _matmul_grad_lhs(ans, g, a, b):
    d[g] = unbroadcast(np.matmul(d[ans], b), g)
    d[b] = matmul_grad_rhs(g, d[ans], b)


@def_vjp(S.matmul_grad_rhs)
def _matmul_grad_rhs(ans, g, a, b):
    d[g] = unbroadcast(np.matmul(a, d[ans]), g)
    d[a] = matmul_grad_lhs(g, a, d[ans])


@def_vjp(S.transpose_grad)
def _transpose_grad(ans, g, axes=None):
    d[g] = np.transpose(d[ans], axes)


dot_grad_lhs = dot_grad_rhs = matmul_grad_lhs = matmul_grad_rhs = None


# Operators of converted control flow (jit(grad(f)) differentiates converted code).

from s2s.runtime import control_ops as C  # noqa: E402

if_stmt_vjp = while_stmt_vjp = for_stmt_vjp = converted_call_vjp = None

def_zero_derivative(C.srange, C.Undefined, C.not_)


@def_vjp(C.if_stmt)
def _if_stmt(ans, cond, true_fn, false_fn, inputs, names, partial=None, consts=(), mutates=()):
    cts = if_stmt_vjp(d[ans], cond, true_fn, false_fn, inputs, consts)
    d[inputs] = cts[0]
    d[consts] = cts[1]


@def_vjp(C.while_stmt)
def _while_stmt(ans, test, body, state, names, consts=()):
    cts = while_stmt_vjp(d[ans], ans, test, body, state, consts)
    d[state] = cts[0]
    d[consts] = cts[1]


@def_vjp(C.for_stmt)
def _for_stmt(ans, iterable, body, state, names, consts=()):
    cts = for_stmt_vjp(d[ans], ans, iterable, body, state, consts)
    d[state] = cts[0]
    d[consts] = cts[1]
    d[iterable] = cts[2]


@def_vjp(C.converted_call)
def _converted_call(ans, fn, *args, **kwargs):
    cts = converted_call_vjp(d[ans], fn, args, kwargs)
    d[fn] = cts[2]  # a method of an array: its receiver's adjoint (support.MethodAdjoint)
    d[args] = cts[0]
    d[kwargs] = cts[1]


enumerate_grad = unzip_grad = None


@def_vjp(builtins.enumerate)
def _enumerate(ans, iterable, start=0):
    d[iterable] = enumerate_grad(d[ans], len(iterable))


@def_vjp(builtins.zip)
def _zip(ans, *iterables):
    d[iterables] = unzip_grad(d[ans], len(iterables))
