"""Functions that generated code calls, eager (NumPy) and staged (tracers) alike.

Normal form calls the container helpers (``append``, ``items``, ``copy``...)
for list/dict methods; derivative code calls the adjoint helpers
(``unbroadcast``, ``add_grad``, ``getitem_grad``...). Adjoints use ``None`` as
a symbolic zero, so a value that does not influence the output costs nothing.
"""
import copy as _copy
import functools

import numpy as onp

from s2s import lax
from s2s.codegen.python import compile_function, make_cell
from s2s.core import dtypes, hooks
from s2s.core.array import Array
from s2s.core.errors import S2SError
from s2s.core.primitive import Tracer
from s2s.core.tree_util import tree_flatten, tree_leaves, tree_map
from s2s.parse import astconv
from s2s.parse.normalize import ARRAY_METHODS, VARARGS_SHAPE
from s2s.parse.source import NoSourceError, unwrap
from s2s.numpy._vjp_helpers import _shape, unbroadcast, unreduce  # noqa: F401  (generated code calls them)
import s2s.numpy as snp

# What generated code may call (the transformations bind these by name).
__all__ = [
    'MethodAdjoint', 'NonScalarOutputError', 'add_grad', 'append', 'apply_pullback', 'attribute_grad', 'as_sequence', 'at_update', 'at_update_grad_value', 'at_update_grad_x',
    'broadcast_like', 'complete_grad', 'concat', 'concat_grads', 'copy', 'dict_get', 'dict_item_grad',
    'dot_grad_lhs', 'dot_grad_rhs', 'dynamic_vjp', 'enumerate_grad', 'extend', 'field_grad',
    'getattr_grad',
    'getitem_grad', 'holomorphic_seed', 'index_grad', 'items', 'join_grads', 'join_last_grad',
    'keys', 'matmul_grad_lhs', 'matmul_grad_rhs', 'max_grad_share', 'pack_grad', 'pop',
    'push_grad', 'reduced_count', 'repeat_grad', 'reshape_like', 'scalar_seed', 'setitem',
    'setitem_grad', 'shape_of', 'split_last_grad', 'sum_grads', 'transpose_grad', 'tree_map_grads',
    'unbroadcast', 'unpack_grad', 'unreduce', 'unzip_grad', 'values', 'zeros_like_grad',
]

_HOST_ARRAYS = (onp.ndarray, Array)  # eager arrays: NumPy's, and s2s's view of them


def _is_array(x):
    return isinstance(x, (onp.ndarray, onp.generic, Tracer, float, int, complex, bool))


# ---------------------------------------------------------------------------
# Container helpers used by normal form.


def append(xs, value):
    """``xs.append(value)``."""
    xs.append(value)


def extend(xs, values):
    """``xs.extend(values)``."""
    xs.extend(values)


def pop(xs, index=-1):
    """``xs.pop(index)``."""
    return xs.pop(index)


def items(d):
    """``list(d.items())``."""
    return list(d.items())


def keys(d):
    """``list(d.keys())``."""
    return list(d.keys())


def values(d):
    """``list(d.values())``."""
    return list(d.values())


def dict_get(d, *args, **kwargs):
    """``d.get(key, default)``, or another object's ``get`` (``x.at[i].get(mode="fill")``)."""
    return d.get(*args, **kwargs)


def concat(a, b):
    """``a + b`` where normal form saw a list or tuple concatenation."""
    return a + b


def concat_grads(g, a, b):
    """Adjoints of ``(a, b)`` in ``a + b``: ``g`` cut in two for sequences, else as ``+``."""
    if g is None:
        return None, None
    if isinstance(a, (list, tuple)) and isinstance(g, (list, tuple)):
        n = len(a)
        return list(g[:n]), list(g[n:])
    return unbroadcast(g, a), unbroadcast(g, b)


concat_grads.maybe_none = True


def join_grads(h, a, b):
    """Adjoint of ``g`` in ``concat_grads(g, a, b)``: the two parts joined again."""
    if h is None:
        return None
    ha, hb = h
    if isinstance(a, (list, tuple)):
        ha = [None] * len(a) if ha is None else list(ha)
        hb = [None] * len(b) if hb is None else list(hb)
        return ha + hb
    if ha is None:
        return broadcast_like(hb, b) if hb is not None else None
    return add_grad(broadcast_like(ha, a), broadcast_like(hb, b) if hb is not None else None)


def dynamic_vjp(fn, *args, **kwargs):
    """``(fn(*args, **kwargs), pullback)`` for a function known only when the code runs (a
    parameter, an item of a container): reverse mode of ``fn`` is taken then, with
    respect to the positional arguments that are floats or arrays of them (pytrees
    too); ``pullback(g)`` gives one adjoint per positional argument (None for the rest).

    >>> out, pull = dynamic_vjp(lambda a, b: a * b, 2.0, 3.0)
    >>> apply_pullback(pull, 1.0)
    (array(3., dtype=float32), array(2., dtype=float32))
    """
    target, full = array_method_call(fn, args)
    skip = len(full) - len(args)  # ``A.dot(x)``: ``np.dot(A, x)``, whose adjoint of ``A`` is dropped
    diff = tuple(i for i in range(skip, len(full)) if _differentiable_value(full[i], tree_leaves))
    if not diff:
        out = target(*full, **kwargs)
        return out, Pullback(target, full, kwargs, diff, skip, None, out)
    wrapper = positional_wrapper(target, len(full), diff, tuple(kwargs))
    out, pull = hooks.vjp(functools.partial(wrapper, kwargs, full), *[full[i] for i in diff])
    return out, Pullback(target, full, kwargs, diff, skip, pull, out)


class Pullback:
    """What ``dynamic_vjp`` returns as the pullback of ``fn(*args)``: called with a
    cotangent, the adjoint of each argument of the call as written (None for the
    arguments not differentiated). It keeps the call (an array method as its NumPy
    function, the array first: ``skip`` leading arguments the caller did not pass) so
    that derivative code calling it through ``apply_pullback`` can be differentiated
    again (``s2s.transforms.dynamic_rules``)."""

    def __init__(self, fn, args, kwargs, diff, skip, pull, out):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.diff, self.skip, self.pull = diff, skip, pull
        self.out = out  # the call's result: the structure of its cotangents

    def __call__(self, g):
        adj = [None] * len(self.args)
        if g is not None and self.pull is not None:
            for i, p in zip(self.diff, self.pull(g)):
                adj[i] = p
        return tuple(adj[self.skip:])


def apply_pullback(pull, g):
    """``pull(g)``: gradient code calls the pullback of a ``dynamic_vjp`` call through this
    function, whose own jvp and vjp rules differentiate it again (hessian, grad of grad)."""
    return pull(g)


def new_namedtuple(cls, *fields):
    """``cls(*fields)``: the derivative rules of every namedtuple class's constructor are
    registered on this function (``frontend.classify`` gives them to ``P(a, b)``).

    >>> import collections
    >>> new_namedtuple(collections.namedtuple("P", "a b"), 1, 2)
    P(a=1, b=2)
    """
    return cls(*fields)


def positional_wrapper(fn, n, diff, keywords, kw_diff=()):
    """``_positional_wrapper``, built anew for a callable that cannot be a cache key."""
    try:
        return _positional_wrapper(fn, n, diff, keywords, kw_diff)
    except TypeError:  # an unhashable callable
        return _positional_wrapper.__wrapped__(fn, n, diff, keywords, kw_diff)


def array_method_call(fn, args):
    """``(function, arguments)`` of a call ``fn(*args)``: an array's own method
    (``A.dot`` of an array ``A`` the transformation could not tell from a module
    passed in, see ``frontend.method_of_value``) becomes the NumPy function with the
    array first, whose rule s2s has; anything else is returned as it is.

    >>> A = onp.eye(2)
    >>> f, full = array_method_call(A.dot, (onp.ones(2),))
    >>> f is snp.dot, full[0] is A
    (True, True)
    """
    receiver = getattr(fn, "__self__", None)
    name = getattr(fn, "__name__", None)
    if not isinstance(receiver, (onp.ndarray, onp.generic, Tracer, Array)) or name in VARARGS_SHAPE:
        return fn, args
    target = getattr(snp, ARRAY_METHODS.get(name, ""), None)
    return (fn, args) if target is None else (target, (receiver,) + tuple(args))


def _differentiable_value(a, tree_leaves):
    leaves = tree_leaves(a)
    return bool(leaves) and all(
        isinstance(x, Tracer) and _dtype_of(x).kind in "fc" or isinstance(x, (float, complex)) or
        (isinstance(x, (onp.ndarray, onp.generic)) and x.dtype.kind in "fc") for x in leaves)


@functools.lru_cache(maxsize=256)
def method_wrapper(name, n, keywords):
    """``def w(kwargs, receiver, a0, ..., a{n-1})`` returning ``receiver.name(a0, ...,
    **kwargs)``: reverse mode reads the method call (its template) and differentiates
    the receiver with the arguments."""
    names = [f"a{k}" for k in range(n)]
    call = names + [f"{k}=kwargs[{k!r}]" for k in keywords]
    text = (f"def method_call(kwargs, receiver, {', '.join(names)}):\n"
            f"    return receiver.{name}({', '.join(call)})\n")
    wrapper, _ = compile_function(astconv.parse(text).body[0], f"<s2s call of the method {name}>",
                                  {"__builtins__": __builtins__}, {})
    return wrapper


@functools.lru_cache(maxsize=256)
def _positional_wrapper(fn, n, diff, keywords, kw_diff=()):
    """``def w(kwargs, args, d0, d1, ..., k0, k1, ...)`` calling ``fn`` (a closure
    constant, so the transformation resolves it) with ``args`` whose positions ``diff``
    are replaced by the named parameters ``d*``, and the ``keywords`` from ``kwargs``
    but those in ``kw_diff``, passed the named ``k*`` (grad differentiates named ones)."""
    try:  # a bound method or partial: its function, with the bound values as constants
        target, bound = unwrap(fn)
    except NoSourceError:
        target, bound = fn, ()
    cells = {"fn": make_cell(target)}
    cells.update({f"bound{k}": make_cell(v) for k, v in enumerate(bound)})
    names = [f"d{k}" for k in range(len(diff))]
    call = [f"bound{k}" for k in range(len(bound))]
    call += [names[diff.index(i)] if i in diff else f"args[{i}]" for i in range(n)]
    call += [f"{k}=k{kw_diff.index(k)}" if k in kw_diff else f"{k}=kwargs[{k!r}]" for k in keywords]
    names += [f"k{j}" for j in range(len(kw_diff))]
    text = (f"def dynamic_call(kwargs, args, {', '.join(names)}):\n"
            f"    return fn({', '.join(call)})\n")
    name = getattr(fn, "__name__", "fn")
    wrapper, _ = compile_function(astconv.parse(text).body[0], f"<s2s call of {name} (a value)>",
                                  {"__builtins__": __builtins__}, cells)
    return wrapper


def tree_map_grads(g, f, tree, rest, is_leaf=None):
    """Adjoints of ``tree`` and of the ``rest`` trees in ``tree_map(f, tree, *rest)``: the
    reverse mode of ``f`` at each leaf, taken when it runs (``dynamic_vjp``)."""
    if g is None:
        return None, (None,) * len(rest)
    leaves, treedef = tree_flatten(tree, is_leaf)
    rest_leaves = [treedef.flatten_up_to(r) for r in rest]
    adjoints = [[] for _ in range(1 + len(rest))]
    for k, (x, gk) in enumerate(zip(leaves, treedef.flatten_up_to_or_none(g))):
        if gk is None:
            cts = (None,) * (1 + len(rest))
        else:
            cts = dynamic_vjp(f, x, *[r[k] for r in rest_leaves])[1](gk)
        for acc, ct in zip(adjoints, cts):
            acc.append(ct)
    trees = [treedef.unflatten(a) for a in adjoints]
    return trees[0], tuple(trees[1:])


tree_map_grads.maybe_none = True


def at_update(x, index, op, *args, **kwargs):
    """``x.at[index].<op>(*args)``: a functional update (``op``: set, add, multiply...)."""
    if not hasattr(x, "at"):  # a NumPy array, a list...
        x = snp.asarray(x)
    return getattr(x.at[index], op)(*args, **kwargs)


def at_update_grad_x(g, x, index, op, value, ans=None):
    """The adjoint of ``x`` in ``ans = at_update(x, index, op, value)`` for get, set, add
    and subtract (multiply, divide, power, min and max: s2s.numpy's
    ``at_update_operand_grad``, which passes the others here). Apart from the value's
    adjoint (``at_update_grad_value``), so that code differentiating one operand does not
    compute the other's."""
    if g is None:
        return None
    if op == "get":
        return getitem_grad(x, index, g)
    if op == "set":
        return setitem_grad(g, index)
    if op in ("add", "subtract"):
        return g
    raise _no_at_rule(op)


def at_update_grad_value(g, x, index, op, value, ans=None):
    """The adjoint of ``value`` in ``ans = at_update(x, index, op, value)`` for get, set,
    add and subtract (see ``at_update_grad_x``)."""
    if g is None or op == "get":
        return None
    if op in ("set", "add"):
        return index_grad(g, index, value)
    if op == "subtract":
        return index_grad(-g, index, value)
    raise _no_at_rule(op)


def _no_at_rule(op):
    return NotImplementedError(
        f"s2s cannot differentiate x.at[...].{op}(...) yet; write it with x.at[...].set(...) "
        f"and array arithmetic (e.g. x.at[i].set(x[i] * v))")


at_update_grad_x.maybe_none = True
at_update_grad_value.maybe_none = True


def copy(x):
    """``x.copy()`` for arrays, lists and dicts."""
    if isinstance(x, Tracer):
        return x
    if isinstance(x, onp.ndarray):
        return x.copy()
    return _copy.copy(x)


def as_sequence(x):
    """``x`` as something with ``len`` and indexing (lists, tuples, arrays stay)."""
    if isinstance(x, (list, tuple, onp.ndarray, range, Tracer)):
        return x
    return list(x)


def setitem(x, index, value):
    """``x[index] = value`` with value semantics: returns an updated copy."""
    if isinstance(x, Tracer):
        return x.at[index].set(value)
    if isinstance(x, onp.ndarray) and (isinstance(value, Tracer) or _has_tracer(index)):
        return snp.asarray(x).at[index].set(value)  # a staged value goes into an array
    if isinstance(x, onp.ndarray):
        out = x.copy()
        out[index] = value
        return out
    if isinstance(x, list):
        out = list(x)
        out[index] = value
        return out
    if isinstance(x, dict):
        out = dict(x)
        out[index] = value
        return out
    raise TypeError(f"cannot assign into {type(x).__name__} at index {index!r}")


# ---------------------------------------------------------------------------
# Adjoint helpers.


class NonScalarOutputError(S2SError, TypeError):
    """grad was asked for the gradient of a non-scalar output."""


def shape_of(x):
    """A stand-in for ``x`` that keeps only its shape and dtype: what reverse mode saves
    where the adjoint reads nothing else (``unbroadcast(g, t)``). It is a read-only
    zero-strided array of one element, so every reader of ``.shape``/``.dtype`` (and
    vmap, which sees its batch axis) works unchanged; containers and scalars stay.

    >>> import numpy as onp
    >>> s = shape_of(onp.ones((128, 256), onp.float32))
    >>> s.shape, s.dtype, s.base.nbytes
    ((128, 256), dtype('float32'), 4)
    """
    if isinstance(x, (onp.ndarray, Tracer)):
        return onp.broadcast_to(onp.zeros((), x.dtype), x.shape)
    return x


def scalar_seed(result):
    """The adjoint seed ``1`` for a real scalar output (else a clear error)."""
    if result is None:
        raise NonScalarOutputError(
            "grad requires a function that returns a real scalar, but it returned None "
            "(is a `return` missing?)")
    refuse_container(result)
    shape = onp.shape(result) if not isinstance(result, Tracer) else result.shape
    dtype = _dtype_of(result)
    if shape != ():
        raise NonScalarOutputError(
            f"grad requires a scalar output, but the function returned shape {tuple(shape)}. "
            "Use s2s.jacrev or s2s.vjp for non-scalar outputs (or sum the output first).")
    if dtype.kind == "c":
        raise NonScalarOutputError(
            "grad requires a real output but got a complex one; use grad(..., holomorphic=True) "
            "for holomorphic functions, or s2s.vjp")
    if dtype.kind not in "f" and dtype.name != "bfloat16":
        raise NonScalarOutputError(
            f"grad requires a real floating-point output, got {dtype.name}. Is the output an "
            "integer or a comparison? Differentiate a floating-point quantity instead.")
    return onp.ones((), dtype) if not isinstance(result, Tracer) else _one(dtype)


def refuse_container(result):
    """Raise ``NonScalarOutputError`` where grad's output is a list, tuple or dict."""
    # A one-element list or dict is not a scalar to JAX either (its grad raises): a
    # gradient of its one leaf would hide that the function returns a container.
    if isinstance(result, (list, tuple, dict)):
        raise NonScalarOutputError(
            f"grad requires a scalar output, but the function returned a "
            f"{type(result).__name__}. Use s2s.jacrev or s2s.vjp for pytree outputs, or "
            "return one of its leaves.")


def _one(dtype):
    return lax.convert_element_type(onp.ones((), dtype), new_dtype=dtype)


def holomorphic_seed(result):
    """The adjoint seed for ``grad(..., holomorphic=True)``: a complex scalar one."""
    refuse_container(result)
    shape = onp.shape(result) if not isinstance(result, Tracer) else result.shape
    if shape != ():
        raise NonScalarOutputError(
            f"grad requires a scalar output, but the function returned shape {tuple(shape)}. "
            "Use s2s.jacrev or s2s.vjp for non-scalar outputs.")
    dtype = _dtype_of(result)
    if dtype.kind != "c":
        raise NonScalarOutputError(
            f"grad(holomorphic=True) requires a complex output, got {dtype.name}")
    return onp.ones((), dtype) if not isinstance(result, Tracer) else _one(dtype)


def _dtype_of(x):
    if isinstance(x, Tracer):
        return x.dtype
    if isinstance(x, bool):
        return onp.dtype(bool)
    if isinstance(x, int):
        return onp.dtype("int32")
    if isinstance(x, float):
        return dtypes.default_float_dtype()
    if isinstance(x, complex):
        return dtypes.default_complex_dtype()
    return onp.result_type(x)


def add_grad(a, b):
    """``a + b`` for adjoints: ``None`` is zero; tuples, lists and dicts add leafwise."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(b, (tuple, list)) and isinstance(a, _ROW_SOURCES):  # b: a's rows' adjoints
        return a + stack_rows(a, b)
    if isinstance(a, (tuple, list)):
        out = [add_grad(x, y) for x, y in zip(a, b)]
        return type(a)(*out) if hasattr(type(a), "_fields") else type(a)(out)
    if isinstance(a, dict):
        out = dict(a)
        for k, v in b.items():
            out[k] = add_grad(out.get(k), v)
        return out
    return a + b


def getitem_grad(x, index, g):
    """The adjoint of ``x[index]``: ``g`` placed at ``index`` in a zero like ``x``."""
    if g is None:
        return None
    if isinstance(x, (list, tuple)):
        out = [None] * len(x)
        if isinstance(index, slice):
            for i, v in zip(range(*index.indices(len(x))), g):
                out[i] = v
        else:
            out[index] = g
        return type(x)(*out) if hasattr(type(x), "_fields") else type(x)(out)
    if isinstance(x, dict):
        return {index: g}
    if isinstance(x, Tracer) or isinstance(g, Tracer):
        return snp.zeros_like(x, dtype=_grad_dtype(x, g)).at[index].add(g)
    out = onp.zeros(onp.shape(x), _grad_dtype(x, g))
    try:
        if _is_basic_index(index):
            out[index] = g
        else:
            onp.add.at(out, index, g)
    except IndexError:  # out of bounds: the read clamped; the adjoint drops, as under jit
        return snp.zeros_like(x, dtype=_grad_dtype(x, g)).at[index].add(g)
    return out


def _grad_dtype(x, g):
    dt = _dtype_of(g)
    return dt


def _has_tracer(index):
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, Tracer) for p in parts) or any(
        isinstance(p, slice) and any(isinstance(v, Tracer) for v in (p.start, p.stop, p.step))
        for p in parts)


def _is_basic_index(index):
    parts = index if isinstance(index, tuple) else (index,)
    for p in parts:
        if isinstance(p, (onp.ndarray, list, Tracer)) or (isinstance(p, onp.generic) and p.dtype == bool):
            return False
    return True


def setitem_grad(g, index):
    """The adjoint reaching the old array of ``x[index] = v``: ``g`` with ``index`` zeroed."""
    if g is None:
        return None
    if isinstance(g, (list, tuple)):
        out = list(g)
        out[index] = None
        return type(g)(out) if not hasattr(type(g), "_fields") else type(g)(*out)
    if isinstance(g, dict):
        out = dict(g)
        out.pop(index, None)
        return out
    if isinstance(g, Tracer):
        return g.at[index].set(0)
    out = onp.array(g, copy=True)
    out[index] = 0
    return out


def index_grad(g, index, value):
    """The adjoint reaching ``v`` in ``x[index] = v``: ``g[index]`` summed to ``v``'s shape."""
    if g is None:
        return None
    if isinstance(g, (list, tuple)):
        return g[index]
    if isinstance(g, dict):
        return g.get(index)
    return unbroadcast(g[index], value)


class MethodAdjoint:
    """The adjoint of a bound method ``x.name`` of an array (a function value): its
    receiver's. jit's conversion calls a method of a local value as
    ``converted_call(x.reshape, 6)`` (``x`` might be a user object); that call's reverse
    rule gives the method this adjoint and ``getattr_grad`` hands it to ``x`` (the
    receiver's cotangent was dropped: jit(grad) of jvp of ``x.reshape(-1)`` lost it)."""

    __slots__ = ("receiver",)

    def __init__(self, receiver):
        self.receiver = receiver


def getattr_grad(x, name, g):
    """The adjoint of ``x.name`` for a namedtuple ``x``: ``g`` in that field, zero
    elsewhere; for a method of an array, its receiver's (``MethodAdjoint``)."""
    if g is None:
        return None
    if isinstance(g, MethodAdjoint):
        return g.receiver
    fields = getattr(type(x), "_fields", None)
    if fields is None:
        raise TypeError(f"cannot differentiate through the attribute .{name} of "
                        f"{type(x).__name__}: use NumPy functions on arrays, or pass the field "
                        "as its own argument")
    return type(x)(*[g if f == name else None for f in fields])


def attribute_grad(x, name, g):
    """The adjoint of ``x`` in ``getattr(x, name)``: as in ``x.name`` for a namedtuple's
    field; an attribute that holds no floats (``shape``, ``ndim``) has none; another
    attribute of a value differentiated raises (s2s does not know how it depends on it).

    >>> import collections
    >>> attribute_grad(collections.namedtuple("P", "a b")(1.0, 2.0), "b", 3.0)
    P(a=None, b=3.0)
    """
    if g is None or not _differentiable_value(getattr(x, name), tree_leaves):
        return None
    return getattr_grad(x, name, g)


def field_grad(h, x, name):
    """Field ``name`` of ``h``, an adjoint of the namedtuple ``x``: adjoints met as plain
    tuples (a reverse pass of a reverse pass builds them from their items) are indexed
    by the field's position.

    >>> import collections
    >>> P = collections.namedtuple("P", "a b")
    >>> field_grad((1.0, 2.0), P(0.0, 0.0), "b")
    2.0
    """
    if h is None or hasattr(type(h), "_fields"):
        return None if h is None else getattr(h, name)
    return h[type(x)._fields.index(name)]


def sum_grads(gs):
    """The sum of a list of adjoints (``None`` is zero)."""
    total = None
    for g in gs or ():
        total = add_grad(total, g)
    return total


def repeat_grad(g, n):
    """``[g] * n`` as an adjoint list (the adjoint of summing ``n`` items)."""
    return [g] * n


def unpack_grad(g, n):
    """Splits the adjoint of an ``n``-sequence into ``n`` adjoints (``None`` stays zero)."""
    if g is None:
        return (None,) * n
    out = tuple(g)
    if len(out) != n:
        raise ValueError(f"expected an adjoint of {n} items, got {len(out)}")
    return out


def pack_grad(like, parts):
    """The adjoint of a container built from ``parts``, shaped like ``like``."""
    if all(p is None for p in parts):
        return None
    if isinstance(like, _ROW_SOURCES):  # ``a, b = M``: the adjoint of an array is an array
        return stack_rows(like, parts)
    t = type(like)
    if hasattr(t, "_fields"):
        return t(*parts)
    if t is list:
        return list(parts)
    return tuple(parts)


_ROW_SOURCES = (onp.ndarray, Tracer)


def stack_rows(like, parts, axis=0):
    """The adjoints ``parts`` of the rows of array ``like`` (along ``axis``) as one array,
    zeros for the rows whose adjoint is ``None`` (at least one is not).

    >>> stack_rows(onp.ones((2, 3)), (None, onp.arange(3.0))).tolist()
    [[0.0, 0.0, 0.0], [0.0, 1.0, 2.0]]
    """
    present = next(p for p in parts if p is not None)
    np = _np_for(like, *parts)
    shape = tuple(onp.shape(like)) if not isinstance(like, Tracer) else tuple(like.shape)
    row = shape[:axis] + shape[axis + 1:]
    dt = _dtype_of(present)
    return np.stack([np.zeros(row, dt) if p is None else np.broadcast_to(p, row).astype(dt)
                     for p in parts], axis=axis)


def push_grad(g, last, xs):
    """The adjoint of a list before ``xs.pop()`` returned ``last`` (``g`` is after the pop)."""
    if g is None and last is None:
        return None
    head = list(g) if g is not None else [None] * len(xs)
    return head + [last]


def split_last_grad(g):
    """``(g[:-1], g[-1])`` for the adjoint of a list that was appended to."""
    if g is None:
        return None, None
    return list(g[:-1]), g[-1]


def join_last_grad(parts, g):
    """Inverse of ``split_last_grad``: ``parts = (head, last)`` back into one list adjoint."""
    if parts is None:
        return None
    head, last = parts
    if head is None and last is None:
        return None
    n = len(g) - 1 if g is not None else (len(head) if head is not None else 0)
    return (list(head) if head is not None else [None] * n) + [last]


def dict_item_grad(g, key):
    """``g[key]`` of an adjoint; ``None`` (zero) when a dict adjoint lacks the key (dict
    adjoints hold only the items that have one)."""
    if g is None:
        return None
    if isinstance(g, dict):
        return g.get(key)
    return g[key]


dict_item_grad.maybe_none = True


def complete_grad(x, g):
    """The gradient ``g`` of argument ``x`` as ``s2s.grad`` returns it: zeros shaped and
    typed like each leaf of ``x`` where ``g`` holds ``None`` or lacks a dict key.

    A function calling ``grad(f)`` may do arithmetic on any leaf of the gradient, so
    the gradient's source that other transformations read ends with this call.

    >>> complete_grad({"a": onp.ones(2), "b": onp.ones(3)}, {"a": onp.ones(2)})["b"].tolist()
    [0.0, 0.0, 0.0]
    """
    return hooks.completed_gradient(x, g)  # the public API's completion, one definition


def zeros_like_grad(x):
    """A materialized zero adjoint for ``x`` (pytrees allowed)."""
    return tree_map(lambda leaf: onp.zeros_like(leaf) if not isinstance(leaf, Tracer)
                    else snp.zeros_like(leaf), x)


# ---------------------------------------------------------------------------
# Adjoints of products and reductions (NumPy semantics for every rank).


def _np_for(*xs):
    return snp if any(isinstance(x, Tracer) for x in xs) else onp


def reduced_count(x, axis=None, where=None, keepdims=False):
    """How many elements a reduction over ``axis`` combines (for ``mean``); with ``where``,
    an array of counts shaped like the reduction's result."""
    if where is not None:
        np = _np_for(x, where)
        mask = np.broadcast_to(where, tuple(_shape(x)))
        return np.sum(mask, axis=axis, keepdims=keepdims)
    shape = _shape(x)
    if axis is None:
        n = 1
        for d in shape:
            n *= d
        return n
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    n = 1
    for a in axes:
        n *= shape[a % len(shape)]
    return n


def dot_grad_lhs(g, a, b):
    """Adjoint of ``a`` in ``np.dot(a, b)``."""
    np = _np_for(g, a, b)
    an, bn = len(_shape(a)), len(_shape(b))
    if an == 0 or bn == 0:
        return unbroadcast(g * b, a)
    if bn == 1:
        return np.multiply(np.expand_dims(g, -1), b) if an > 1 else g * b
    if bn == 2:
        return np.dot(g, np.transpose(b))
    # b: (..., k, n); g: a_lead + b_lead + (n,); contract b's lead dims and n.
    b_free = list(range(bn - 2)) + [bn - 1]
    g_axes = list(range(an - 1, an - 1 + bn - 2)) + [an - 1 + bn - 2]
    return np.tensordot(g, b, axes=(g_axes, b_free))


def dot_grad_rhs(g, a, b):
    """Adjoint of ``b`` in ``np.dot(a, b)``."""
    np = _np_for(g, a, b)
    an, bn = len(_shape(a)), len(_shape(b))
    if an == 0 or bn == 0:
        return unbroadcast(g * a, b)
    if an == 1 and bn == 1:
        return g * a
    if an == 2 and bn == 2:
        return np.dot(np.transpose(a), g)
    if bn == 1:
        lead = list(range(an - 1))
        return np.tensordot(a, g, axes=(lead, lead))
    # g: a_lead + b_lead + (n,); result (b_lead..., k, n)
    a_lead = list(range(an - 1))
    out = np.tensordot(a, g, axes=(a_lead, a_lead))  # (k,) + b_lead + (n,)
    return np.moveaxis(out, 0, bn - 2)


def matmul_grad_lhs(g, a, b):
    """Adjoint of ``a`` in ``a @ b`` (batch dimensions broadcast)."""
    np = _np_for(g, a, b)
    an, bn = len(_shape(a)), len(_shape(b))
    if bn == 1:
        out = np.multiply(np.expand_dims(g, -1), b)
    elif an == 1:
        out = np.matmul(np.expand_dims(g, -2), np.swapaxes(b, -1, -2))
        out = np.reshape(out, _shape(out)[:-2] + _shape(out)[-1:])
    else:
        out = np.matmul(g, np.swapaxes(b, -1, -2))
    return unbroadcast(out, a)


def matmul_grad_rhs(g, a, b):
    """Adjoint of ``b`` in ``a @ b`` (batch dimensions broadcast)."""
    np = _np_for(g, a, b)
    an, bn = len(_shape(a)), len(_shape(b))
    if an == 1:
        out = np.multiply(np.expand_dims(a, -1), np.expand_dims(g, -2)) if bn > 1 else g * a
    elif bn == 1:
        out = np.matmul(np.swapaxes(a, -1, -2), np.expand_dims(g, -1))
        out = np.reshape(out, _shape(out)[:-1])
    else:
        out = np.matmul(np.swapaxes(a, -1, -2), g)
    return unbroadcast(out, b)


def transpose_grad(g, axes=None):
    """Adjoint of ``np.transpose(x, axes)``."""
    np = _np_for(g)
    if axes is None:
        return np.transpose(g)
    return np.transpose(g, transpose_grad_axes(axes))


def transpose_grad_axes(axes):
    """The inverse of the permutation ``axes`` (negative axes allowed).

    >>> transpose_grad_axes((2, 0, 1))
    (1, 2, 0)
    """
    inverse = [0] * len(axes)
    for i, a in enumerate(axes):
        inverse[a % len(axes)] = i
    return tuple(inverse)


def reshape_like(g, x):
    """``g`` reshaped to ``x``'s shape (adjoint of reshape-like operations)."""
    if g is None:
        return None
    np = _np_for(g, x)
    return np.reshape(g, tuple(_shape(x)))


def broadcast_like(g, x):
    """``g`` broadcast to ``x``'s shape (adjoint of ``unbroadcast``; in forward mode, the
    tangent of a broadcasting op's operand spread over its result).

    >>> broadcast_like(onp.float64(1.0), onp.zeros(2))
    array([1., 1.])
    """
    if g is None:
        return None
    np = _np_for(g, x)
    shape = tuple(_shape(x))
    if tuple(_shape(g)) == shape:
        return g
    gshape = tuple(_shape(g))
    if len(gshape) == len(shape):
        return np.broadcast_to(g, shape)
    return np.broadcast_to(np.reshape(g, (1,) * (len(shape) - len(gshape)) + gshape), shape)


def max_grad_share(x, y):
    """The share of ``maximum(x, y)``'s adjoint going to ``x`` (ties split evenly, as JAX)."""
    np = _np_for(x, y)
    dt = _dtype_of(x) if _dtype_of(x).kind in "fc" else _dtype_of(y)
    return np.where(x > y, np.ones((), dt), np.where(x == y, np.full((), 0.5, dt), np.zeros((), dt)))


def _np_of(*xs):
    return snp if any(isinstance(x, Tracer) for x in xs) else onp


def enumerate_grad(g, n):
    """Adjoint of ``seq`` in ``list(enumerate(seq))``: the second item of each pair."""
    if g is None:
        return None
    return [None if p is None else p[1] for p in g]


def unzip_grad(g, n):
    """Adjoints of the ``n`` sequences in ``list(zip(*seqs))``."""
    if g is None:
        return (None,) * n
    return tuple([None if p is None else p[k] for p in g] for k in range(n))
