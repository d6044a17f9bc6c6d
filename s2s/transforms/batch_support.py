"""Helpers that batched source (``s2s.vmap``) calls at run time.

Conventions of batched code: a batched value carries its batch axis first; a
batched list, tuple or dict holds batched leaves only; unbatched values are
left alone. ``vcall(fn, axes, *args)`` applies ``fn`` to arguments of which
those with axis 0 are batched, through ``fn``'s ``batch`` rule, by batching
``fn``'s source (user functions), or, for functions with neither, by calling
``fn`` once per example and stacking the results (exact, slower).

>>> import numpy as onp
>>> import s2s.numpy as np
>>> vcall(np.dot, (None, 0), onp.eye(2, dtype="f"), onp.array([[1.0, 2.0], [3.0, 4.0]], "f"))
array([[1., 2.],
       [3., 4.]], dtype=float32)
"""
import functools
import inspect
import operator
import types
import weakref

import gast
import numpy as onp

from s2s.core.errors import TransformError, VaryingFunctionError
from s2s.core.config import config
from s2s.core.primitive import abstractify, def_batch, rules_of, Tracer
from s2s.numpy import batch_forms as F
from s2s.numpy.batch_rules import elementwise, matmul_form
from s2s.parse.normalize import ARRAY_METHODS, VARARGS_SHAPE
from s2s.runtime import support, support as sup
from s2s.runtime.control_ops import converted_call
from s2s.trace.record import record
from s2s.numpy import _indexing
from s2s.runtime.support import setitem as plain_setitem
from s2s.transforms import batch
from s2s.numpy.batching import (UNDEF, PairTape, _asarray, _expand_to, _np, _snp,  # noqa: F401
                              broadcast_batch, is_array, is_static_leaf, leading_size, loop_call,
                              masked, select, select_zeros, staged_example)
from s2s.core.tree_util import tree_flatten, tree_leaves, tree_map, tree_unflatten
from s2s.parse import quoting as q
from s2s import lax
from s2s.lax import collectives, control_flow as cf, control_flow_jvp as cf_jvp
from s2s.lax.axis_frames import axis_factors
from s2s.core import hooks


def _operator_rule(op):
    """Python operators: elementwise on arrays; on lists and tuples, concatenation and
    repetition, whose result holds batched members only (a batched sequence's members
    all are)."""
    on_arrays = elementwise(op)

    def rule(axes, /, *args):
        seqs = [isinstance(a, (list, tuple)) for a in args]
        if not any(seq and ax is not None for seq, ax in zip(seqs, axes)):
            return on_arrays(axes, *args)  # (an unbatched sequence is an array operand)
        if op is operator.add and all(seqs):
            return _concatenated(axes, args)
        if op is operator.mul and len(args) == 2 and seqs.count(True) == 1:
            return _repeated(axes, args, seqs.index(True))
        raise TransformError(
            f"vmap: s2s cannot batch `{op.__name__}` of a list or tuple that holds values "
            "varying across the mapped axis (Python would compare or combine the whole "
            "sequence, which differs per example)",
            hint="apply the operation to the members (or to np.stack of them)")
    return rule


def _concatenated(axes, args):
    """``a + b`` of sequences, one of them batched: the unbatched one's members are
    broadcast, so every member of the result carries the batch axis."""
    n = leading_size([a for a, ax in zip(args, axes) if ax is not None])
    a, b = (x if ax is not None else type(x)(broadcast_batch(list(x), n))
            for x, ax in zip(args, axes))
    return a + b


def _repeated(axes, args, seq):
    """``s * k`` (or ``k * s``) of batched sequence ``s``: the same count for every
    example, or an error (a count that varies would give sequences of different lengths)."""
    count, count_axis = args[1 - seq], axes[1 - seq]
    if count_axis is not None:
        raise TransformError(
            "vmap: s2s cannot repeat a list or tuple a number of times that varies across "
            "the mapped axis (each example's result would have another length)",
            hint="repeat by a count that is the same for every example")
    return args[seq] * count


def _register_operators():
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor",
                 "lshift", "rshift", "neg", "pos", "invert", "eq", "ne", "lt", "le", "gt", "ge"):
        rule = def_batch(getattr(operator, name))(_operator_rule(getattr(operator, name)))
        rule.source_form = F.elementwise_form  # arrays and numbers only: lists stay vcall
    matmul = def_batch(operator.matmul)(
        lambda axes, a, b: rules_of(_snp().matmul).batch(axes, a, b))
    matmul.source_form = matmul_form


def any_example(c, where=None):
    """Whether some example (of those ``where`` keeps) takes a branch (staged predicates:
    assume so, both branches are staged)."""
    if isinstance(c, Tracer) or isinstance(where, Tracer):
        return True
    return bool(onp.any(c if where is None else onp.logical_and(c, where)))


def all_examples(c, where=None):
    """Whether every example (of those ``where`` keeps) takes a branch (staged predicates:
    assume not)."""
    if isinstance(c, Tracer) or isinstance(where, Tracer):
        return False
    return bool(onp.all(c if where is None else onp.logical_or(c, onp.logical_not(where))))


def max_example(n, where=None):
    """The largest of a batched count (of the examples ``where`` keeps; 0 for none).

    >>> max_example(onp.array([2, 0, 3])), max_example(onp.array([2, 0, 3]), [1, 1, 0])
    (3, 2)
    """
    if where is not None:
        n = _np(n, where).where(where, n, 0)
    if isinstance(n, Tracer):
        return _snp().max(n)
    return int(onp.max(n))


def batch_rule(fn):
    """``fn``'s ``batch`` rule, or None."""
    rules = rules_of(fn)
    return getattr(rules, "batch", None) if rules is not None else None


def _statics_by_keyword(fn, axes, args, kwargs):
    """Static parameters given positionally (``lax.reshape(x, (2, 3))``, as jax.lax allows)
    passed by keyword instead: batch rules take operands positionally, statics by keyword.
    ``fn.static_from`` is the position of ``fn``'s first static parameter."""
    start = getattr(fn, "static_from", None)
    if start is None or len(args) <= start or any(ax is not None for ax in axes[start:]):
        return axes, args, kwargs
    names = list(inspect.signature(fn).parameters)[start:]
    return axes[:start], args[:start], {**dict(zip(names, args[start:])), **kwargs}


def _scalar_leaf(x):
    """A value marked batched that holds no batch axis: a dict key, a string, None (batched
    containers hold arrays; these come out of them unchanged)."""
    return x is None or isinstance(x, (str, bytes, bool, int, float, complex))


def _broadcast_view(x):
    """Whether batched ``x`` is one example repeated: a host array whose batch axis has
    stride 0, as ``broadcast_batch`` makes for values that are the same for every example
    (a primal that a batched tuple carries, a zero tangent)."""
    return type(x) is onp.ndarray and x.ndim >= 1 and x.shape[0] > 1 and x.strides[0] == 0


def _unbatch_broadcasts(axes, args, kw_batched):
    """Arguments that are one example repeated passed unbatched (``x[0]``), so rules do
    the work once instead of once per example, as long as another argument stays batched
    (the result must be batched). A tuple of such is one too: the primal tape a
    batched jvp hands to the next function (its tangents batched) keeps that function's
    primal statements unbatched."""
    examples = [_repeated_example(a) if ax is not None else None for a, ax in zip(args, axes)]
    demote = [e is not None for e in examples]
    if not any(demote) or (not kw_batched and all(d or ax is None for d, ax in zip(demote, axes))):
        return axes, args
    return (tuple(None if d else ax for d, ax in zip(demote, axes)),
            tuple(e if d else a for d, e, a in zip(demote, examples, args)))


def _once_for_all(fn, axes, args, kwargs):
    """Under jit, a library function (one with a batch rule) whose batched arguments are
    all one example repeated: computed once and broadcast (as one op the next call
    recognizes), so a primal chain a batched jvp carries is not computed per example,
    nor a product with a zero tangent on the host (the captured matrix of a gradient's
    tape: ``matmul_grad_rhs(g, dA, t)`` would be one product per basis vector). None
    where that does not apply: collectives (their examples see each other) and
    functions given functions (control flow, jvp: they may call them)."""
    if getattr(fn, "__module__", None) == collectives.__name__ or any(
            callable(v) for v in tree_flatten((args, kwargs))[0]):
        return None
    batched = [(a, _repeated_example(a)) for a, ax in zip(args, axes) if ax is not None]
    if not batched or any(e is None for _, e in batched) or \
            not any(isinstance(v, Tracer) for v in tree_flatten((args, kwargs))[0]):
        return None
    n = leading_size([a for a, _ in batched])
    examples = iter(e for _, e in batched)
    out = fn(*[next(examples) if ax is not None else a for a, ax in zip(args, axes)], **kwargs)
    if not all(isinstance(v, (onp.ndarray, Tracer)) for v in tree_flatten(out)[0]):
        return None  # not arrays alone: the rule batches it
    return broadcast_batch(out, n)


def _repeated_example(x):
    """The example of batched ``x`` when ``x`` is one example repeated (a host view with
    a stride-0 batch axis, a staged broadcast along a new leading axis, or a tuple
    holding only such arrays), else None."""
    if type(x) is onp.ndarray:
        return _one_example(x) if _broadcast_view(x) else None
    if isinstance(x, Tracer):
        return staged_example(x)
    if type(x) is tuple:  # not a list: the callee may append to it
        leaves, tree = tree_flatten(x)
        examples = [_repeated_example(v) if isinstance(v, (onp.ndarray, Tracer)) else None
                    for v in leaves]
        if leaves and all(e is not None for e in examples):
            return tree_unflatten(tree, examples)
    return None


def _one_example(x):
    """``x[0]`` of a broadcast view, as the very array it was broadcast from where that
    is all of it: jit knows a captured array by identity (it then reads it at each call
    and stages what is computed from it), a view of it is a new constant."""
    example = x[0]
    base = getattr(example, "base", None)  # an object array's element (a slice) has none
    if isinstance(base, onp.ndarray) and base.shape == example.shape \
            and base.dtype == example.dtype and base.strides == example.strides \
            and base.__array_interface__["data"][0] == example.__array_interface__["data"][0]:
        return base
    return example


def vcall(fn, axes, /, *args, kw_batched=(), **kwargs):
    """``fn(*args, **kwargs)`` on batched arguments (``axes[i]`` is 0 or None per argument;
    keyword arguments named in ``kw_batched`` are batched too); the result is batched."""
    return _vcall(None, fn, axes, args, kw_batched, kwargs)


def vcall_where(mask, fn, axes, /, *args, kw_batched=(), **kwargs):
    """``vcall`` from code that runs only for the examples ``mask`` keeps (a branch of a
    batched ``if``, the body of a batched ``while``): a user function gets the mask, so
    its own batched loops stop for the other examples instead of running on values they
    were never meant to see (and perhaps never ending)."""
    return _vcall(mask, fn, axes, args, kw_batched, kwargs)


def _vcall(mask, fn, axes, args, kw_batched, kwargs):
    axes = tuple(None if ax is None or _scalar_leaf(a) else ax for a, ax in zip(
        args, tuple(axes) + (None,) * (len(args) - len(axes))))
    axes, args = _unbatch_broadcasts(axes, args, kw_batched)
    if not kw_batched:
        rule = batch_rule(fn)
        if rule is not None:
            once = _once_for_all(fn, axes, args, kwargs)
            if once is not None:
                return once
            axes, args, kwargs = _statics_by_keyword(fn, axes, args, kwargs)
            return rule(axes, *args, **kwargs)
    hook = getattr(type(fn), "__s2s_vcall__", None)
    if hook is not None:  # a vmap called inside vmapped code, say
        return hook(fn, axes, args, kwargs, kw_batched)
    batched = batch.batched_callee(fn, axes, kw_batched, kwargs, masked=mask is not None)
    if batched is not None:
        try:
            return batched(*args, **kwargs) if mask is None else batched(mask, *args, **kwargs)
        except batch.NotBatchedBySource:
            pass  # library code its source cannot batch for these arguments: as below
    if not batch.library_module(fn) or _array_library(fn):  # no source, or a library function
        out = by_recording(fn, axes, args, kwargs, kw_batched)
        if out is not NOT_RECORDED:
            return out
    return loop_call(fn, axes, args, kwargs, kw_batched, where=mask)


NOT_RECORDED = object()

# Library modules of pure array functions: one without a batch rule is recorded and the
# recording batched (its primitives have rules), rather than run once per example. Not
# the derivative code generated from them (a forward pass returns a tape of static
# shapes, which must stay Python values for its backward pass). The example libraries are
# batched by source first; recorded where their source cannot be batched (``batch.
# NotBatchedBySource``).
_ARRAY_LIBRARIES = ("s2s.numpy.", "s2s.lax.", "s2s.scipy.", "s2s.nn.", "s2s.example_libraries.")


def _array_library(fn):
    module = getattr(fn, "__module__", None) or ""
    code = getattr(fn, "__code__", None)
    return module.startswith(_ARRAY_LIBRARIES) and code is not None and \
        not code.co_filename.startswith("<")


def by_recording(fn, axes, args, kwargs, kw_batched):
    """``fn`` on batched arguments when it has no source: the call recorded on the first
    example (the tracing fallback of grad and jit, unmapped arguments as constants) and
    the recording batched. ``NOT_RECORDED`` when the recording cannot stand for every
    example: Python read a mapped value (its path may differ per example) or the
    function cannot be recorded; the caller then runs it once per example."""
    if getattr(fn, "primitive", None) is not None:  # a primitive records as itself
        return NOT_RECORDED
    leaves, tree = tree_flatten((list(args), dict(kwargs)))
    if any(callable(leaf) and not is_array(leaf) for leaf in leaves):
        return NOT_RECORDED  # a function argument may read mapped values the record fixes
    flags = tree_flatten(([tree_map(lambda _, b=ax is not None: b, a) for a, ax in zip(args, axes)],
                          {k: tree_map(lambda _, b=k in kw_batched: b, v)
                           for k, v in kwargs.items()}))[0]
    mapped = [i for i, f in enumerate(flags) if f and is_array(leaves[i])]
    if not mapped or len(flags) != len(leaves):
        return NOT_RECORDED
    # Unmapped staged values (under jit) are inputs of the recording too: a recorded
    # value must not meet a staged one it does not hold.
    staged = [i for i, f in enumerate(flags) if not f and isinstance(leaves[i], Tracer)]
    inputs = mapped + staged

    def one_example(*xs):
        full = list(leaves)
        for i, x in zip(inputs, xs):
            full[i] = x
        a, k = tree.unflatten(full)
        return fn(*a, **k)
    key = _recording_key(fn, leaves, tree, mapped, staged)
    cached = _recordings.get(fn, {}).get(key) if key is not None else None
    if cached is None:
        try:
            rec = record(one_example, [leaves[i][0] for i in mapped] + [leaves[i] for i in staged],
                         {})
        except Exception:  # noqa: BLE001 - run per example instead, where real errors surface
            return NOT_RECORDED
        params = rec.fn.__code__.co_varnames[:rec.fn.__code__.co_argcount]
        cached = (rec, None if rec.concretized else
                  batch.build(rec.fn, frozenset(params[:len(mapped)])))
        if key is not None:
            _recordings.setdefault(fn, {})[key] = cached
    rec, built = cached
    if built is None:  # Python read a mapped value: its path may differ per example
        return NOT_RECORDED
    out = built.fn(*[leaves[i] for i in inputs])
    if not built.out_batched:
        out = broadcast_batch(out, leaves[mapped[0]].shape[0])
    return rec.out_tree.unflatten(list(out) if rec.out_tree.num_leaves != 1 else [out])


# Recordings of library functions (s2s.numpy...) by call signature: the recording of one
# example stands for every example of a batch, so it stands as well for the next call
# with the same structure, per-example shapes and dtypes and the same static leaves.
_recordings = weakref.WeakKeyDictionary()
_STATIC_LEAVES = (bool, int, float, complex, str, type(None), type, onp.dtype)


def _recording_key(fn, leaves, tree, mapped, staged):
    """The cache key of ``by_recording``'s recording of ``fn``, or None where a reused
    recording might not be exact: under jit (the recording may hold staged values of
    that trace), for functions other than the array libraries' (their behaviour may
    change between calls), for an unmapped array (held in the recording by identity)."""
    if staged or not _array_library(fn) or any(isinstance(leaves[i], Tracer) for i in mapped):
        return None
    mapped_set = set(mapped)
    parts = []
    for i, leaf in enumerate(leaves):
        if i in mapped_set:
            aval = abstractify(leaf)
            parts.append((tuple(aval.shape[1:]), aval.dtype, aval.weak_type))
        elif type(leaf) in _STATIC_LEAVES:
            parts.append((type(leaf), repr(leaf)))
        else:
            return None
    try:
        weakref.ref(fn)
        hash(tree)
    except TypeError:
        return None
    return tree, tuple(parts), config.enable_x64


def call_batched(fn, axes, /, *args, kw_batched=(), **kwargs):
    """A call of a function value that varies across the mapped axis (a closure over
    batched variables, a vmap of one): batched by the function's own ``__s2s_vcall__``."""
    if getattr(type(fn), "__s2s_vcall__", None) is None:
        raise VaryingFunctionError(f"vmap: s2s cannot batch a call of a value that varies across the "
                             f"mapped axis ({type(fn).__name__})",
                             hint="call one function and pass it the varying values as arguments")
    return vcall(fn, axes, *args, kw_batched=kw_batched, **kwargs)


class BatchedClosure:
    """A nested function reading variables of the enclosing batched function that vary
    across the mapped axis (``names``, held batched in its closure cells): one function
    per example. A call batches its source with those variables marked batched;
    ``closure[i]`` is example ``i``'s function (what a per-example fallback passes on)."""

    def __init__(self, fn, names):
        self.fn = fn
        self.names = tuple(names)
        self.__name__ = getattr(fn, "__name__", "closure")

    def _cells(self):
        code = self.fn.__code__
        return {name: cell for name, cell in zip(code.co_freevars, self.fn.__closure__ or ())
                if name in self.names}

    def captured(self):
        """The batched values the closure reads (cells not yet assigned left out)."""
        out = []
        for cell in self._cells().values():
            try:
                out.append(cell.cell_contents)
            except ValueError:
                pass
        return out

    def batch_size(self):
        """How many examples (functions) this is: the size of what it captures batched."""
        return leading_size([v for v in self.captured() if v is not UNDEF])

    def rebound(self, leaf_fn):
        """The closure with each captured array leaf replaced by ``leaf_fn(leaf)``."""
        return BatchedClosure(self._with_cells(leaf_fn, False), self.names)

    def _with_cells(self, leaf_fn, per_example):
        """``fn`` with its batched cells mapped by ``leaf_fn`` (nested batched closures
        too: as plain functions ``per_example``, else still batched closures)."""
        import types
        cells = self._cells()
        code = self.fn.__code__
        new_cells = []
        for name, cell in zip(code.co_freevars, self.fn.__closure__ or ()):
            if name in cells:
                try:
                    value = cell.cell_contents
                except ValueError:
                    new_cells.append(cell)
                    continue
                if per_example and isinstance(value, BatchedClosure):
                    new_cells.append(types.CellType(value._with_cells(leaf_fn, True)))
                else:
                    new_cells.append(types.CellType(_map_batched(value, leaf_fn)))
            else:
                new_cells.append(cell)
        fn = types.FunctionType(code, self.fn.__globals__, self.fn.__name__, self.fn.__defaults__,
                                tuple(new_cells))
        fn.__kwdefaults__ = self.fn.__kwdefaults__
        fn.__qualname__ = self.fn.__qualname__
        return fn

    def __getitem__(self, i):
        # a plain function of example i's values: a batched closure holding them would
        # take their leading axis for the batch (vmap(grad) through a cond whose branch
        # reads a mapped value ran the branch on every example's value per example)
        return self._with_cells(lambda leaf: leaf[i], True)

    def __s2s_vcall__(self, axes, args, kwargs, kw_batched):
        params = batch.parameters_of(self.fn)
        if len(args) > len(params) or set(kw_batched) - set(params):
            raise TransformError(f"vmap: s2s cannot batch a call of the closure "
                                 f"`{self.__name__}` with mapped *args or **kwargs",
                                 hint="give it named parameters")
        names = {p for p, ax in zip(params, axes) if ax is not None} | set(kw_batched)
        built = batch.build(self.fn, frozenset(names | set(self.names)))
        fn = built.fn
        # Under jit (staged arguments or captures) the batched source with its control
        # flow converted, as for other callees.
        if any(isinstance(v, Tracer) for v in tree_leaves((args, kwargs, self.captured()))):
            fn = hooks.converted(fn)
        out = fn(*args, **kwargs)
        return out if built.out_batched else broadcast_batch(out, self.batch_size())

    def __call__(self, *args, **kwargs):
        """Called with unmapped arguments: still one result per example."""
        return vcall(self, (None,) * len(args), *args, **kwargs)


class BatchedPartial:
    """``functools.partial(func, *args)`` where ``func`` or some of ``args`` vary across the
    mapped axis (``axes``): one function per example, as ``BatchedClosure`` is. A call
    batches ``func`` on the bound arguments and the call's together; ``p[i]`` is example
    ``i``'s partial (what a per-example fallback passes on)."""

    def __init__(self, axes, func, args, kwargs):
        self.axes, self.func, self.args, self.kwargs = tuple(axes), func, tuple(args), kwargs
        self.__name__ = getattr(func, "__name__", "partial")

    def batch_size(self):
        """How many examples (functions) this is."""
        return leading_size([a for a, ax in zip((self.func,) + self.args, self.axes)
                             if ax is not None])

    def __getitem__(self, i):
        def at(v, ax):
            return v if ax is None else v[i] if isinstance(v, (BatchedClosure, BatchedPartial)) \
                else _example(v, i)
        return functools.partial(at(self.func, self.axes[0]), *[
            at(a, ax) for a, ax in zip(self.args, self.axes[1:])], **self.kwargs)

    def __s2s_vcall__(self, axes, args, kwargs, kw_batched):
        return vcall(self.func, self.axes[1:] + tuple(axes) + (None,) * (len(args) - len(axes)),
                     *self.args, *args, kw_batched=kw_batched, **{**self.kwargs, **kwargs})

    def __call__(self, *args, **kwargs):
        """Called with unmapped arguments: still one result per example."""
        return vcall(self, (None,) * len(args), *args, **kwargs)


def _partial_rule(axes, /, func, *args, **kwargs):
    """``functools.partial`` of mapped values: a batch of functions (``BatchedPartial``)."""
    axes = tuple(axes) + (None,) * (1 + len(args) - len(axes))
    if all(ax is None for ax in axes):
        return functools.partial(func, *args, **kwargs)
    return BatchedPartial(axes, func, args, kwargs)


def_batch(functools.partial)(_partial_rule)


def _map_batched(value, leaf_fn):
    if isinstance(value, BatchedClosure):
        return value.rebound(leaf_fn)
    if value is UNDEF:
        return value
    leaves, tree = tree_flatten(value)
    return tree_unflatten(tree, [leaf_fn(x) if is_array(x) else x for x in leaves])


def batched_closure(fn, names):
    """``fn`` (a nested function reading the batched variables ``names``) as a batch of
    functions, one per example."""
    return BatchedClosure(fn, names)


def vmethod(obj, name, obj_axis, axes, /, *args, **kwargs):
    """``obj.name(*args, **kwargs)`` where ``obj`` or arguments are batched."""
    if is_array(obj) and name in ARRAY_METHODS:
        fn = getattr(_snp(), ARRAY_METHODS[name])
        if name in VARARGS_SHAPE and len(args) > 1:
            args = (tuple(args),)
            axes = (None,)
        return vcall(fn, (obj_axis,) + tuple(axes), obj, *args, **kwargs)
    if is_array(obj) and name == "astype":
        return obj.astype(*args, **kwargs) if obj_axis is not None else \
            broadcast_batch(obj, leading_size(args)).astype(*args, **kwargs)
    if obj_axis is None and not isinstance(obj, (list, dict, set, bytearray)):
        return vcall(getattr(obj, name), axes, *args, **kwargs)
    raise TransformError(f"vmap: s2s cannot batch the method call `.{name}(...)` of a "
                         f"{type(obj).__name__} with batched values (per example it could "
                         "mutate it)",
                         hint="call a function (np.<name>(x, ...)) instead of the method")


# ---------------------------------------------------------------------------
# Attributes, unpacking, iteration, shape queries.


def _transpose_all(x):
    return _np(x).transpose(x, (0,) + tuple(range(x.ndim - 1, 0, -1)))


_ATTRIBUTES = {
    "shape": lambda x: tuple(x.shape[1:]),
    "ndim": lambda x: x.ndim - 1,
    "size": lambda x: int(onp.prod(x.shape[1:], dtype=onp.int64)),
    "T": _transpose_all,
    "mT": lambda x: _np(x).swapaxes(x, -1, -2),
}


def batched_attr(x, name):
    """``x.name`` for batched ``x``: shape queries are per example."""
    if is_array(x):
        rule = _ATTRIBUTES.get(name)
        if rule is not None:
            return rule(x)
    return getattr(x, name)


@F.source_form(batched_attr)
def _attr_form(site):
    """``x.shape[1:]``, the per-example ``ndim`` itself, ``np.transpose(x, (0, 2, 1))``."""
    (x,), name = site.args, site.func
    if not F.is_array(x.kind):
        return None
    pe = x.rank
    attr = gast.Attribute(value=x.node, attr=name, ctx=gast.Load())
    if name == "shape":
        return (F.shape_rest(x.node) if x.batched else attr), F.Seq("tuple", (F.Number(),) * pe)
    if name == "ndim":
        return q.const(pe), F.Const(pe)
    if name == "size":
        return (_shape_product(x, range(pe)) if x.batched else attr), F.Number()
    if name in ("real", "imag"):
        return attr, F.Array(pe)
    if name == "T":
        if not x.batched or pe <= 1:
            return (x.node if x.batched else attr), F.Array(pe)
        return q.call(site.np("transpose"), [x.node, F.tuple_node((0,) + tuple(range(pe, 0, -1)))]), \
            F.Array(pe)
    if name == "mT" and pe >= 2:
        return (q.call(site.np("swapaxes"), [x.node, q.const(-1), q.const(-2)]) if x.batched
                else attr), F.Array(pe)
    return None


def unpack(x, n):
    """``a, b = x`` for batched ``x``: an array is split along its first per-example axis."""
    if is_array(x):
        if x.ndim < 2 or x.shape[1] != n:
            raise ValueError(f"vmap: cannot unpack a batched array of per-example shape "
                             f"{tuple(x.shape[1:])} into {n} values")
        return tuple(x[:, i] for i in range(n))
    return x


def pair_tape(entries, batched, restored, size):
    """The tape of a batched ``fwd_<f>``: its entries as they are, each batched or not as
    ``batched`` says, the stack's items as ``restored`` says of their variables (see
    ``PairTape``).

    >>> pair_tape((onp.eye(2), []), (False, None), {"W": False}, 3).batched
    (False, None)
    """
    return PairTape(entries, batched, restored, size)


def unbatched_primal(pair):
    """``(primal, tangent)`` of a batched call of forward-mode code whose primal arguments
    are not batched: the primal is the same for every example (the batched code broadcast
    it), so its first example stands for all."""
    primal, tangent = pair
    return tree_map(_first_example, primal), tangent


def _first_example(x):
    """The first example of batched ``x``: the value it was broadcast from where it is one
    (a captured array stays itself, so jit reads it at each call and stages what is
    computed from it; a staged broadcast gives its operand, not a slice of it)."""
    if isinstance(x, sup.Pullback) or isinstance(x, types.FunctionType) or is_static_leaf(x):
        return x  # a value, not an array (a lax.cond branch on the tape): the same for all
    example = _repeated_example(x) if isinstance(x, (onp.ndarray, Tracer)) else None
    return x[0] if example is None else example


def iterate(x):
    """Iterating batched ``x``: an array runs over its first per-example axis."""
    if is_array(x):
        return [x[:, i] for i in range(x.shape[1])]
    return x


def batched_len(x):
    """``len`` of one example of batched ``x`` (the same for every example)."""
    if is_array(x):
        if x.ndim < 2:
            raise TypeError("len() of unsized object (a per-example scalar under vmap)")
        return x.shape[1]
    return len(x)


@F.source_form(batched_len)
def _len_form(site):
    (x,) = site.args
    if F.is_array(x.kind) and x.rank >= 1:
        shape = gast.Attribute(value=x.node, attr="shape", ctx=gast.Load())
        return gast.Subscript(value=shape, slice=q.const(1 if x.batched else 0),
                              ctx=gast.Load()), F.Number()
    if isinstance(x.kind, F.Seq):
        return (None if x.batched else q.call("len", [x.node])), F.Const(len(x.kind.items))
    if x.kind == F.Range():  # (never batched: a range of unbatched bounds)
        return None, F.Number()
    return None


def per_example_shape(x):
    """``np.shape`` of one example of batched ``x`` (a batched list's items are batched
    each: one example is the list of their rows).

    >>> per_example_shape([onp.zeros((5, 3)), onp.zeros((5, 3))])
    (2, 3)
    """
    if isinstance(x, (list, tuple)):
        return (len(x),) + (per_example_shape(x[0]) if len(x) else ())
    return tuple(_asarray(x).shape[1:])


@F.source_form(per_example_shape)
def _shape_form(site):
    (x,) = site.args
    if not F.is_array(x.kind):
        return None
    return F.shape_rest(x.node) if x.batched else None, F.Seq("tuple", (F.Number(),) * x.rank)


def per_example_count(x, axis=None, keepdims=False):
    """``reduced_count`` (without ``where``) of one example of batched ``x``: how many
    elements a reduction over ``axis`` combines, the same for every example."""
    example = onp.broadcast_to(onp.zeros((), onp.float32), tuple(x.shape[1:]))
    return support.reduced_count(example, axis=axis, keepdims=keepdims)


def _shape_product(x, axes):
    """``x.shape[1 + a] * ...`` over per-example ``axes`` of batched ``x`` (``1``: none)."""
    node = None
    for a in axes:
        dim = gast.Subscript(value=gast.Attribute(value=q.copy_tree(x.node), attr="shape",
                                                  ctx=gast.Load()),
                             slice=q.const(1 + a), ctx=gast.Load())
        node = dim if node is None else gast.BinOp(left=node, op=gast.Mult(), right=dim)
    return node if node is not None else q.const(1)


@F.source_form(per_example_count)
def _count_form(site):
    """``x.shape[1] * x.shape[2]``: the per-example sizes of the reduced axes."""
    if not site.args or len(site.args) > 3 or set(site.kwargs) - {"axis", "keepdims"}:
        return None
    x = site.args[0]
    extra = dict(zip(("axis", "keepdims"), site.args[1:]))
    extra.update(site.kwargs)
    axis = extra["axis"].const() if "axis" in extra else None
    if not F.is_array(x.kind) or not (axis is None or isinstance(axis, int) or isinstance(
            axis, tuple) and all(isinstance(a, int) for a in axis)):
        return None
    rank = x.rank
    axes = range(rank) if axis is None else (axis,) if isinstance(axis, int) else axis
    if any(not -rank <= a < rank for a in axes):
        return None
    return (_shape_product(x, sorted(a % rank for a in axes)) if x.batched else None), F.Number()


def per_example_ndim(x):
    """``np.ndim`` of one example of batched ``x``."""
    return _asarray(x).ndim - 1


def per_example_size(x):
    """``np.size`` of one example of batched ``x``."""
    return int(onp.prod(_asarray(x).shape[1:], dtype=onp.int64))


# ---------------------------------------------------------------------------
# Indexing.


def _index_tuple(index):
    return index if isinstance(index, tuple) else (index,)


def _is_advanced(i):
    return isinstance(i, (list, onp.ndarray, Tracer)) and not isinstance(i, (bool, onp.bool_))


def _basic(index):
    return not any(_is_advanced(i) for i in _index_tuple(index))


def _adjacent_advanced(index):
    pos = [k for k, i in enumerate(_index_tuple(index)) if _is_advanced(i)]
    return not pos or pos == list(range(pos[0], pos[-1] + 1))


def _index_axis(index, index_axis):
    """None when a 'batched' index holds no array (a dict key, a loop's constant)."""
    if index_axis is None or any(is_array(i) for i in _index_tuple(index)):
        return index_axis
    return None


def _no_batched_mask(index, index_axis):
    if index_axis is not None and any(is_array(i) and i.dtype == bool for i in _index_tuple(index)):
        raise TransformError(
            "vmap: a boolean mask index that varies across the mapped axis selects a different "
            "number of elements per example",
            hint="use np.where(mask, x, 0) (or the where= argument of a reduction) instead")


def _index_parts(x, index, index_axis):
    """``(flags per entry, None)`` for an inline index tuple of array ``x`` whose entries
    are batched differently (``index_axis`` a tuple: one flag per entry), to be indexed
    through the recording of one example's indexing (a gather or scatter, batched by
    rule); else ``(None, index_axis)`` with ``index_axis`` 0 or None."""
    if not isinstance(index_axis, tuple):
        return None, index_axis
    parts = tuple(ax if is_array(i) else None for i, ax in zip(index, index_axis))
    if all(ax is None for ax in parts):
        return None, None
    _no_batched_mask(tuple(i for i, ax in zip(index, parts) if ax is not None), 0)
    if is_array(x):
        return parts, None
    raise TransformError("vmap: s2s cannot index a container with an index tuple that varies "
                         "across the mapped axis", hint="index an array instead")


def _take(x, index):
    """One example's ``x[index]``, by s2s's indexing (a gather) when it is recorded: NumPy's
    indexing of a host array would read a recorded index's value."""
    parts = index if isinstance(index, tuple) else (index,)
    if any(isinstance(i, Tracer) for i in parts) and not isinstance(x, Tracer):
        return _indexing.getitem(x, index)
    return x[index]


def getitem(x, index, x_axis, index_axis):
    """``x[index]`` where ``x`` (``x_axis`` 0) or the index (``index_axis`` 0) is batched;
    for an index tuple written inline, ``index_axis`` may say per entry."""
    parts, index_axis = _index_parts(x, index, index_axis)
    if parts is not None:
        return _recorded(lambda a, *i: _take(a, tuple(i)), (x_axis,) + parts, (x,) + tuple(index))
    index_axis = _index_axis(index, index_axis)
    _no_batched_mask(index, index_axis)
    if index_axis is None:
        if not is_array(x):
            return x[index]  # a batched container: its items are batched
        if _basic(index) or _adjacent_advanced(index):
            return x[(slice(None),) + _index_tuple(index)]
        return _recorded(lambda a: _take(a, index), (0,), (x,))
    if is_array(index) and is_array(x):  # one integer array index
        if x_axis is None:
            return x[index]
        n = x.shape[0]
        rows = _np(x, index).arange(n).reshape((n,) + (1,) * (index.ndim - 1))
        return x[rows, index]
    if x_axis is None:
        return _recorded(lambda i: _take(x, i), (0,), (index,))
    return _recorded(lambda a, i: _take(a, i), (0, 0), (x, index))


@F.source_form(getitem)
def _getitem_form(site):
    """``x[:, 1:]``: an unbatched index behind a leading ``:``, when the rule would write it
    so (no advanced index apart from others); a batched tuple or list indexed as written."""
    x, parts = site.args[0], site.args[1:]
    if x.kind == F.Range() and len(parts) == 1 and parts[0].batched \
            and parts[0].kind == F.Array(0):
        return None, F.Array(0)  # (a loop's step broadcast under a batched condition)
    if any(p.batched for p in parts):
        return None
    if x.kind == F.Range() and len(parts) == 1 and F.rank_of(parts[0].kind) == 0 \
            and not F.is_array(parts[0].kind):
        return None, F.Number()  # (never batched: nothing to write)
    if isinstance(x.kind, F.Seq):
        return _item_form(site, x, parts)
    if not F.is_array(x.kind):
        return None
    kinds = [_index_part(p) for p in parts]
    if None in kinds:
        return None
    advanced = [k for k, kind in enumerate(kinds) if kind == "array"]
    if advanced:  # with an array index NumPy treats integers as advanced too
        advanced = [k for k, kind in enumerate(kinds) if kind in ("array", "int")]
        if advanced != list(range(advanced[0], advanced[-1] + 1)):
            return None
        rank = None  # a boolean mask's rank is not known here
    else:
        used = kinds.count("int") + kinds.count("slice")
        rank = x.rank - kinds.count("int") + kinds.count("new") if used <= x.rank else None
    kind = F.Array(rank) if rank is not None else None
    if not x.batched:
        return None, kind
    full = gast.Tuple(elts=[gast.Slice(lower=None, upper=None, step=None)] + [p.node for p in parts],
                      ctx=gast.Load())
    return gast.Subscript(value=x.node, slice=full, ctx=gast.Load()), kind


def _index_part(p):
    """'int', 'slice', 'new' (None), 'ellipsis', 'array', or None (unknown: maybe a tuple)."""
    if isinstance(p.kind, F.SliceKind):
        return "slice"
    value = p.const(_NOT_CONST)
    if value is None:
        return "new"
    if value is Ellipsis:
        return "ellipsis"
    if isinstance(value, bool):
        return None  # x[True] adds an axis
    if isinstance(value, int) or value is _NOT_CONST and isinstance(p.kind, F.Number):
        return "int"
    if F.is_array(p.kind) or isinstance(p.kind, F.Seq) and p.kind.kind == "list":
        return "array"
    return None


_NOT_CONST = object()


def _item_form(site, x, parts):
    if len(parts) != 1:
        return None
    index, items = parts[0], x.kind.items
    value = index.const(_NOT_CONST)
    if isinstance(value, int) and not isinstance(value, bool) and -len(items) <= value < len(items):
        kind = items[value]
    elif isinstance(index.kind, F.Number) or isinstance(value, int) and not isinstance(value, bool):
        kind = F.join_all(items)
    else:
        return None
    return (site.rebuild([x.node, index.node]) if x.batched else None), kind


def setitem(x, index, value, x_axis, index_axis, value_axis):
    """``x[index] = value`` (value semantics) with any of the three batched."""
    return at_update(x, index, "set", value, x_axis, index_axis, value_axis,
                     plain=plain_setitem)


def at_update(x, index, op, value, x_axis, index_axis, value_axis, plain=None, **kwargs):
    """``x.at[index].<op>(value, **kwargs)`` with any of ``x``, ``index``, ``value``
    batched (``kwargs``, such as ``mode``, the same for every example; ``value`` None
    for ``get``)."""
    if plain is None:
        def plain(a, i, v):
            if op == "get":
                return support.at_update(a, i, op, **kwargs)
            return support.at_update(a, i, op, v, **kwargs)
    parts, index_axis = _index_parts(x, index, index_axis)
    if parts is not None:
        return _recorded(lambda a, v, *i: plain(a, tuple(i), v), (x_axis, value_axis) + parts,
                         (x, value) + tuple(index))
    index_axis = _index_axis(index, index_axis)
    _no_batched_mask(index, index_axis)
    if not is_array(x) and x_axis is not None and index_axis is None:
        return plain(x, index, value if value_axis is not None else broadcast_batch(
            value, leading_size(x)))  # a batched container
    if index_axis is None and is_array(x) and _basic(index):
        n = leading_size(*[v for v, ax in ((x, x_axis), (value, value_axis)) if ax is not None])
        if x_axis is None:
            x = broadcast_batch(x, n)
        full = (slice(None),) + _index_tuple(index)
        if value_axis is not None:
            value = _asarray(value)
            target = x[(0,) + _index_tuple(index)]
            value = _expand_to(value, onp.ndim(target))
        return plain(x, full, value)
    return _recorded(plain, (x_axis, index_axis, value_axis), (x, index, value))


def _recorded(fn, axes, args):
    """``fn`` (an indexing step) on batched arguments through its recording (gathers and
    scatters, which have batch rules), once per example where the recording cannot
    stand for every example."""
    out = by_recording(fn, axes, args, {}, ())
    return loop_call(fn, axes, args, {}) if out is NOT_RECORDED else out


_register_operators()


# ---------------------------------------------------------------------------
# Rules of the helpers derivative source calls (vmap of grad reads that source).


def _fill(axes, /, args):
    """The arguments with unbatched array leaves broadcast (all batched, like the first)."""
    n = leading_size([a for a, ax in zip(args, axes) if ax is not None])
    return [a if ax is not None else broadcast_batch(a, n) for a, ax in zip(args, axes)], n


def _per_example_shape(x, axis):
    if axis is None:
        return tuple(onp.shape(x)) if not isinstance(x, Tracer) else tuple(x.shape)
    return tuple(x.shape[1:])


def _unbroadcast_rule(axes, /, g, x):
    if g is None:
        return None
    if axes[0] is None:
        return broadcast_batch(support.unbroadcast(g, _example(x, 0) if axes[1] is not None
                                                   else x), leading_size(x))
    if not is_array(g):
        return g
    shape = _per_example_shape(x, axes[1])
    gshape = tuple(g.shape[1:])
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    sum_axes = tuple(range(1, lead + 1)) + tuple(
        1 + lead + i for i, d in enumerate(shape) if d == 1 and gshape[lead + i] != 1)
    np = _np(g)
    if sum_axes:
        g = np.sum(g, axis=sum_axes, keepdims=True)
    return np.reshape(g, (g.shape[0],) + shape)


def _unreduce_rule(axes, /, g, x, axis=None, keepdims=False, where=None):
    if g is None:
        return None
    if len(axes) > 2 and any(ax is not None for ax in axes[2:]) or is_array(where):
        return loop_call(support.unreduce, axes, (g, x, axis, keepdims, where), {})
    (g, x), n = _fill(axes[:2], (g, x)) if axes[0] is None or axes[1] is None else ((g, x), None)
    shape = tuple(x.shape[1:])
    np = _np(g, x)
    g = _asarray(g)
    if not keepdims:
        if axis is None:
            g = np.reshape(g, (g.shape[0],) + (1,) * len(shape))
        else:
            ax = (axis,) if isinstance(axis, int) else tuple(axis)
            g = np.expand_dims(g, tuple(a % len(shape) + 1 for a in ax))
    return np.broadcast_to(g, (g.shape[0],) + shape)


def _add_grad_rule(axes, /, a, b):
    if a is None:
        return b if axes[1] is not None else broadcast_batch(b, leading_size(a, b)) \
            if b is not None else None
    if b is None:
        return a if axes[0] is not None else broadcast_batch(a, leading_size(a, b))
    (a, b), _ = _fill(axes, (a, b))
    if is_array(a) and isinstance(b, (list, tuple)):  # one example: ``a + asarray(b)``
        return support.stack_rows(a, support.add_grad(batch_containers.columns(a), list(b)),
                                  axis=1)
    if isinstance(a, (list, tuple)) and is_array(b):  # one example: b's rows added leafwise
        b = type(a)(batch_containers.columns(b)) if not hasattr(type(a), "_fields") else b
    return support.add_grad(a, b)


def _scalar_seed_rule(axes, /, result):
    support.refuse_container(result)
    if not is_array(result) or result.ndim != 1:
        shape = tuple(getattr(result, "shape", ())[1:])
        raise support.NonScalarOutputError(
            f"grad requires a scalar output, but the function returned shape {shape} per example "
            "(under vmap). Use s2s.jacrev or s2s.vjp for non-scalar outputs (or sum the output "
            "first).")
    seed = support.scalar_seed(result[0])
    return _np(result).broadcast_to(seed, result.shape)


def _getitem_grad_rule(axes, /, x, index, g):
    if g is None:
        return None
    if isinstance(x, (list, tuple, dict)) and axes[1] is None:
        if axes[2] is None:
            g = broadcast_batch(g, leading_size(x))
        return support.getitem_grad(x, index, g)
    if axes[1] is None and is_array(x) and _basic(index):
        (x, g), n = _fill((axes[0], axes[2]), (x, g))
        zeros = _np(x, g).zeros(x.shape, support._grad_dtype(x, g))
        return at_update(zeros, index, "add", g, 0, None, 0)
    if axes[1] is None and is_array(x) and _adjacent_advanced(index):
        # behind the leading ``:`` adjacent array indices select as per example (their
        # axes stay in place), so one scatter-add places every example's ``g``
        (x, g), n = _fill((axes[0], axes[2]), (x, g))
        return support.getitem_grad(x, _behind_batch(index), g)
    return loop_call(support.getitem_grad, axes, (x, index, g), {})


def _plain_index(index):
    """Whether ``index`` holds integers, slices, None and Ellipsis only (no array, no
    bool): behind a leading ``:`` it reads each example as it reads one."""
    return all(i is None or i is Ellipsis or isinstance(i, slice) or isinstance(
        i, (int, onp.integer)) and not isinstance(i, (bool, onp.bool_))
        for i in _index_tuple(index))


def _behind_batch(index):
    return (slice(None),) + _index_tuple(index)


def _setitem_grad_rule(axes, /, g, index):
    """``g`` with ``index`` zeroed in each example."""
    if g is None:
        return None
    if isinstance(g, (list, tuple, dict)) and axes[1] is None:  # items moved as one example's
        return batch_containers.structural(support.setitem_grad)(axes, g, index)
    if axes[0] is not None and axes[1] is None and is_array(g) and _plain_index(index):
        return support.setitem_grad(g, _behind_batch(index))
    return loop_call(support.setitem_grad, axes, (g, index), {})


def _index_grad_rule(axes, /, g, index, value):
    """Each example's ``g[index]`` summed to the shape of its ``value``."""
    if g is None:
        return None
    if isinstance(g, (list, tuple, dict)) and axes[1] is None:  # items moved as one example's
        return batch_containers.structural(support.index_grad)(axes, g, index, value)
    if axes[0] is not None and axes[1] is None and is_array(g) and _plain_index(index):
        return _unbroadcast_rule((0, axes[2]), g[_behind_batch(index)], value)
    return loop_call(support.index_grad, axes, (g, index, value), {})


def _lift(x, axis, rank):
    """Batched ``x`` with its per-example axes padded on the left to ``rank`` (unbatched
    ``x`` as it is: NumPy's right-aligned broadcasting lines it up with the batched ones)."""
    return _expand_to(_asarray(x), rank) if axis is not None else _asarray(x)


def _matmul_grad_lhs_batched(axes, g, a, b):
    """The adjoint of ``a`` in ``a @ b`` for a batch of examples, as ``matmul_grad_lhs``
    writes it per example: operands lifted to one per-example rank, so the batch axis
    is one more leading broadcast axis of ``matmul``."""
    ga, _, ba = axes
    np = _np(g, a, b)
    gr, bn = len(_per_example_shape(g, ga)), len(_per_example_shape(b, ba))
    if bn == 1:
        out = np.multiply(np.expand_dims(_asarray(g), -1), _lift(b, ba, gr + 1))
    else:
        bt = np.swapaxes(_asarray(b), -1, -2)
        if bn == 2 and ba is None and gr == 1:  # the rows of g times one matrix: one product
            out = np.matmul(_asarray(g), bt)
        elif len(_per_example_shape(a, axes[1])) == 1:
            rank = max(gr + 1, bn)
            out = np.matmul(_lift(np.expand_dims(_asarray(g), -2), ga, rank),
                            _lift(bt, ba, rank))[..., 0, :]
        else:
            rank = max(gr, bn)
            out = np.matmul(_lift(g, ga, rank), _lift(bt, ba, rank))
    out_axis = 0 if ga is not None or ba is not None else None
    return _unbroadcast_rule((out_axis, axes[1]), out, a)


def _matmul_grad_rhs_batched(axes, g, a, b):
    """The adjoint of ``b`` in ``a @ b`` for a batch of examples (see the lhs)."""
    ga, aa, _ = axes
    np = _np(g, a, b)
    gr, an = len(_per_example_shape(g, ga)), len(_per_example_shape(a, aa))
    bn = len(_per_example_shape(b, axes[2]))
    if an == 1 and bn == 1:
        out = np.multiply(_lift(g, ga, 1), _lift(a, aa, 1))
    elif an == 1:
        rank = max(2, gr + 1)
        out = np.multiply(_lift(np.expand_dims(_asarray(a), -1), aa, rank),
                          _lift(np.expand_dims(_asarray(g), -2), ga, rank))
    elif bn == 1 and an == 2 and aa is None:  # the rows of g times one matrix: one product
        out = np.matmul(_asarray(g), _asarray(a))
    elif bn == 1:  # g^T a (not a^T g): a's contracted axis stays where matmul wants it
        rank = max(an, gr + 1)
        out = np.matmul(_lift(np.expand_dims(_asarray(g), -2), ga, rank),
                        _lift(a, aa, rank))[..., 0, :]
    else:
        rank = max(an, gr)
        out = np.matmul(_lift(np.swapaxes(_asarray(a), -1, -2), aa, rank), _lift(g, ga, rank))
    out_axis = 0 if ga is not None or aa is not None else None
    return _unbroadcast_rule((out_axis, axes[2]), out, b)


def _matmul_grads(lhs):
    batched = _matmul_grad_lhs_batched if lhs else _matmul_grad_rhs_batched

    def rule(axes, /, g, a, b):
        if g is None:
            return None
        return batched(tuple(axes) + (None,) * (3 - len(axes)), g, a, b)
    return rule


def _dot_grads(lhs):
    """``dot_grad_lhs``/``dot_grad_rhs``: for operands of rank 1 or 2 per example ``dot``
    is ``matmul``; a scalar operand makes it a product; higher ranks run per example."""
    fn = support.dot_grad_lhs if lhs else support.dot_grad_rhs
    batched = _matmul_grad_lhs_batched if lhs else _matmul_grad_rhs_batched

    def rule(axes, /, g, a, b):
        if g is None:
            return None
        axes = tuple(axes) + (None,) * (3 - len(axes))
        an = len(_per_example_shape(a, axes[1]))
        bn = len(_per_example_shape(b, axes[2]))
        if an == 0 or bn == 0:
            other, other_axis, x, x_axis = (b, axes[2], a, axes[1]) if lhs else \
                (a, axes[1], b, axes[2])
            rank = max(len(_per_example_shape(g, axes[0])), len(_per_example_shape(other, other_axis)))
            prod = _np(g, other).multiply(_lift(g, axes[0], rank), _lift(other, other_axis, rank))
            out_axis = 0 if axes[0] is not None or other_axis is not None else None
            return _unbroadcast_rule((out_axis, x_axis), prod, x)
        if an <= 2 and bn <= 2:
            return batched(axes, g, a, b)
        return loop_call(fn, axes, (g, a, b), {})
    return rule


def _reshape_like_rule(axes, /, g, x):
    """``g`` reshaped to the per-example shape of ``x`` (batched: the batch axis first)."""
    if g is None:
        return None
    axes = tuple(axes) + (None,) * (2 - len(axes))
    shape = _per_example_shape(x, axes[1])
    if axes[0] is None:
        return broadcast_batch(_np(g).reshape(g, shape), leading_size(x))
    return _np(g).reshape(g, (g.shape[0],) + shape)


def _transpose_grad_rule(axes, /, g, perm=None, **kwargs):
    """``transpose_grad`` of a batched ``g``: the inverse permutation of the per-example
    axes, the batch axis kept first (``axes=`` by keyword lands in ``kwargs``)."""
    perm = kwargs.pop("axes", perm)
    if axes[0] is None or any(ax is not None for ax in axes[1:]) or kwargs:
        return loop_call(support.transpose_grad, axes, (g, perm), {})
    g = _asarray(g)
    pe = g.ndim - 1
    inverse = tuple(range(pe - 1, -1, -1)) if perm is None else support.transpose_grad_axes(perm)
    return _np(g).transpose(g, (0,) + tuple(1 + p for p in inverse))


def _broadcast_like_rule(axes, /, g, x):
    """``g`` broadcast to the per-example shape of ``x`` (batched: the batch axis first)."""
    if g is None:
        return None
    axes = tuple(axes) + (None,) * (2 - len(axes))
    shape = _per_example_shape(x, axes[1])
    n = leading_size(*[v for v, ax in zip((g, x), axes) if ax is not None])
    return _np(g, x).broadcast_to(_lift(g, axes[0], len(shape)), (n,) + shape)


class _BatchedPullback:
    """The pullbacks of a batch of ``dynamic_vjp`` calls: called (from batched code) with
    a cotangent, it gives each example's adjoints."""

    def __init__(self, pull, n, call, skip=0):
        self.pull = pull
        self.n = n
        self.call = call  # (fn, its axis, args, their axes, kwargs): the call batched
        self.skip = skip  # leading adjoints dropped: an array method's own array

    def __s2s_vcall__(self, axes, args, kwargs, kw_batched):
        (g,) = args
        if axes[0] is None and g is not None:
            g = broadcast_batch(g, self.n)
        return self.pull(g)[self.skip:]

    def __getitem__(self, i):
        """Example ``i``'s pullback, for a per-example fallback (``loop_call``): the call
        of that example taken again by ``dynamic_vjp`` (a ``Pullback`` that derivative
        code can differentiate, as the unbatched one)."""
        fn, fn_axis, args, arg_axes, kwargs = self.call
        fn = _example(fn, i) if fn_axis is not None else fn
        args = [_example(a, i) if ax is not None else a for a, ax in zip(args, arg_axes)]
        return sup.dynamic_vjp(fn, *args, **kwargs)[1]


def _dynamic_vjp_rule(axes, /, fn, *args, **kwargs):
    """``dynamic_vjp`` with batched arguments: the reverse mode of ``fn`` batched, taken
    once for every example. Unbatched differentiable arguments are broadcast first, so
    each example gets its own adjoint of them instead of their sum over examples."""
    arg_axes = tuple(axes[1:]) + (None,) * (len(args) - len(axes[1:]))
    call = (fn, axes[0], args, arg_axes, kwargs)
    fn, full = sup.array_method_call(fn, args) if axes[0] is None else (fn, args)
    if full is not args:  # ``A.dot(x)`` of an unbatched array: ``np.dot(A, x)``
        out, pull = _dynamic_vjp_rule((None, None) + tuple(axes[1:]), fn, *full, **kwargs)
        return out, _BatchedPullback(pull.pull, pull.n, call, skip=1)
    batched = [a for a, ax in zip(args, arg_axes) if ax is not None]
    n = leading_size(batched) if batched else fn.batch_size()
    full = tuple(broadcast_batch(a, n) if ax is None and sup._differentiable_value(
        a, tree_leaves) else a for a, ax in zip(args, arg_axes))
    full_axes = tuple(0 if b is not a or ax is not None else None
                      for a, b, ax in zip(args, full, arg_axes))

    def batched_fn(*xs):
        return vcall(fn, full_axes, *xs, **kwargs)
    out, pull = sup.dynamic_vjp(batched_fn, *full)
    return out, _BatchedPullback(pull, n, call)


def _apply_pullback_rule(axes, /, pull, g):
    """``pull(g)`` for a batch of cotangents ``g``: through one ``dynamic_vjp`` pullback
    (jacrev of code calling a function it reads from a container, as stax's ``parallel``
    does), the reverse-mode pullback inside vmapped once; a batch of pullbacks
    (``_BatchedPullback``) takes them itself."""
    axes = tuple(axes) + (None,) * (2 - len(axes))
    if isinstance(pull, sup.Pullback) and axes[0] is None and axes[1] is not None \
            and pull.pull is not None:
        adj = [None] * len(pull.args)
        for i, p in zip(pull.diff, hooks.vmap(pull.pull)(g)):
            adj[i] = p
        return tuple(adj[pull.skip:])
    return vcall(pull, tuple(axes[1:]), g)


def _converted_call_rule(axes, /, fn, *args, **kwargs):
    """``converted_call(fn, ...)``: ``fn`` batched; under jit (staged arguments) its batched
    source is converted too (``batched_callee``'s call converts it for staged arguments),
    as jit(vmap(f)) converts f's: a batched while on staged values must become a staged loop."""
    axes = tuple(axes[1:])
    if any(isinstance(leaf, Tracer) for leaf in tree_leaves((list(args), kwargs))):
        call = batch.batched_callee(fn, axes, (), kwargs)
        if call is not None:
            try:
                return call(*args, **kwargs)  # staged arguments: it converts the batched source
            except batch.NotBatchedBySource:
                pass
    return vcall(fn, axes, *args, **kwargs)


def _dict_item_grad_rule(axes, /, g, key):
    # the item of a batched array adjoint (a tuple's, as one array) is a column; a
    # batched container's items are batched as they are
    if g is None or isinstance(g, dict):
        return sup.dict_item_grad(g, key)
    return getitem(g, key, axes[0], axes[1] if len(axes) > 1 else None)


def _complete_grad_rule(axes, /, x, g):
    (x, g), _ = _fill(axes, (x, g))  # zeros batched like the leaves they complete
    return support.complete_grad(x, _rows_stacked(x, g))


def _rows_stacked(x, g):
    """Batched adjoint ``g`` of ``x`` with each list of row adjoints of an array leaf
    (``sum(M)``'s ``repeat_grad``) stacked on the axis after the batch axis: completing
    one example stacks them on its axis 0."""
    if g is None:
        return None
    if is_array(x) and isinstance(g, (list, tuple)):
        return support.stack_rows(x, g, axis=1) if any(p is not None for p in g) else None
    if isinstance(x, (list, tuple)) and isinstance(g, (list, tuple)):
        out = [_rows_stacked(a, b) for a, b in zip(x, g)]
        return type(g)(*out) if hasattr(type(g), "_fields") else type(g)(out)
    if isinstance(x, dict) and isinstance(g, dict):
        return {k: _rows_stacked(x[k], v) if k in x else v for k, v in g.items()}
    return g


def _register_support_rules():
    def_batch(sup.dict_item_grad)(_dict_item_grad_rule)
    def_batch(sup.unbroadcast)(_unbroadcast_rule)
    def_batch(sup.unreduce)(_unreduce_rule)
    def_batch(sup.add_grad)(_add_grad_rule)
    def_batch(sup.scalar_seed)(_scalar_seed_rule)
    def_batch(sup.setitem_grad)(_setitem_grad_rule)
    def_batch(sup.index_grad)(_index_grad_rule)
    def_batch(sup.getitem_grad)(_getitem_grad_rule)
    def_batch(sup.complete_grad)(_complete_grad_rule)
    def_batch(sup.max_grad_share)(elementwise(sup.max_grad_share))  # where(x > y, ...)
    def_batch(sup.dot_grad_lhs)(_dot_grads(True))
    def_batch(sup.dot_grad_rhs)(_dot_grads(False))
    def_batch(sup.matmul_grad_lhs)(_matmul_grads(True))
    def_batch(sup.matmul_grad_rhs)(_matmul_grads(False))
    def_batch(sup.broadcast_like)(_broadcast_like_rule)
    def_batch(sup.reshape_like)(_reshape_like_rule)
    def_batch(sup.transpose_grad)(_transpose_grad_rule)
    def_batch(sup.dynamic_vjp)(_dynamic_vjp_rule)
    # a pullback called on a batch of cotangents: as the call ``pull(g)`` it stands for
    def_batch(sup.field_grad)(lambda axes, /, h, x, name: sup.field_grad(h, x, name))  # containers
    def_batch(sup.apply_pullback)(_apply_pullback_rule)
    def_batch(sup.shape_of)(lambda axes, /, x: sup.shape_of(x))  # the batch axis stays first
    # jit's converted source calls user functions through converted_call: vmap of that
    # source (a nested function under jit(vmap(f))) batches the function itself.
    def_batch(converted_call)(_converted_call_rule)
    # container helpers (list and dict adjoints), builtins abs and sum: batch_containers
    batch_containers.register(vcall)


from s2s.runtime import support  # noqa: E402
from s2s.transforms import batch_containers  # noqa: E402
from s2s.numpy.batching import _example  # noqa: E402

_register_support_rules()


# ---------------------------------------------------------------------------
# Source forms of those rules: per-example gradients that read like the gradient code
# itself (``unbroadcast(bout, out)``), with the batch axis where NumPy wants it.


def _present_batched(op):
    """Whether operand ``op`` is a batched array known not to be None."""
    return op.batched and F.is_array(op.kind)


def _none(kind):
    return kind == F.Const(None)


def _copy(node):
    return q.copy_tree(node)


def _shape_node(x):
    """``x.shape``."""
    return gast.Attribute(value=_copy(x), attr="shape", ctx=gast.Load())


def _batched_shape(site, g, x):
    """The shape of batched ``x``: ``x.shape``, or ``g.shape[:1] + np.shape(x)`` for
    unbatched ``x`` (``g`` batched; ``np.shape``: a loop's accumulator may still be the
    Python number it started as, ``acc = 0.0``, where its kind says array)."""
    if x.batched:
        return _shape_node(x.node)
    lead = gast.Subscript(value=_shape_node(g.node), slice=gast.Slice(
        lower=None, upper=q.const(1), step=None), ctx=gast.Load())
    return gast.BinOp(left=lead, op=gast.Add(), right=q.call(site.np("shape"), [_copy(x.node)]))


def _sum_axes(site, node, first, last):
    """``np.sum(node, axis=(first, ..., last - 1))`` (``node`` itself when that is no axis)."""
    if last <= first:
        return node
    return q.call(site.np("sum"), [node], [gast.keyword(
        arg="axis", value=F.tuple_node(range(first, last)))])


def _shape_of_form(site):
    """``shape_of(x)`` as written: the stand-in of a batched array keeps its batch axis."""
    if len(site.args) != 1 or site.kwargs:
        return None
    (x,) = site.args
    return site.rebuild([x.node]), x.kind


@F.source_form(_scalar_seed_rule)
def _scalar_seed_form(site):
    """``np.broadcast_to(scalar_seed(result[0]), result.shape)``: one example's checks and
    dtype, the seed for every example."""
    if len(site.args) != 1 or site.kwargs:
        return None
    (r,) = site.args
    if not (_present_batched(r) and r.rank == 0):
        return None
    first = gast.Subscript(value=_copy(r.node), slice=q.const(0), ctx=gast.Load())
    return q.call(site.np("broadcast_to"), [site.rebuild([first]), _shape_node(r.node)]), \
        F.Array(0)


@F.source_form(_unreduce_rule)
def _unreduce_form(site):
    """``np.broadcast_to(g[:, None], x.shape)``: the reduced axes back, the batch axis first."""
    if len(site.args) < 2 or set(site.kwargs) - {"axis", "keepdims"}:
        return None
    g, x = site.args[:2]
    extra = dict(zip(("axis", "keepdims"), site.args[2:]))
    if set(extra) & set(site.kwargs) or len(site.args) > 4:
        return None
    extra.update(site.kwargs)
    axis = extra["axis"].const() if "axis" in extra else None
    keepdims = extra["keepdims"].const() if "keepdims" in extra else False
    if not (_present_batched(g) and F.is_array(x.kind)) or not isinstance(keepdims, bool) \
            or not (axis is None or isinstance(axis, int) or isinstance(axis, tuple)
                    and all(isinstance(a, int) for a in axis)):
        return None
    rank = x.rank
    if keepdims:
        if g.rank != rank:
            return None
        node = g.node
    elif axis is None:
        if g.rank != 0:
            return None
        node = F.expand(g.node, rank)
    else:
        axes = (axis,) if isinstance(axis, int) else axis
        if rank == 0 or g.rank != rank - len(axes):
            return None
        node = q.call(site.np("expand_dims"), [g.node, F.tuple_node(
            sorted(a % rank + 1 for a in axes))])
    return q.call(site.np("broadcast_to"), [node, _batched_shape(site, g, x)]), F.Array(rank)


@F.source_form(_unbroadcast_rule)
def _unbroadcast_form(site):
    """``unbroadcast(g, x)`` as written when both are batched of one rank (the batch axes
    agree, so only per-example axes are summed); the extra leading axes of ``g`` summed
    first; an unbatched ``x`` broadcast to the batch (``np.broadcast_to``) so that its
    batch axis is no axis to sum."""
    if len(site.args) != 2 or site.kwargs:
        return None
    g, x = site.args
    if not (g.batched and F.is_array(F.present(g.kind)) and F.is_array(x.kind)):
        return None
    kind = F.Array(x.rank) if F.is_array(g.kind) else F.Opt(F.Array(x.rank))
    lead = F.present(g.kind).rank - x.rank
    if lead < 0 or (lead or not x.batched) and not F.is_array(g.kind):
        return None  # (summing or reading the shape of a None)
    node = _sum_axes(site, g.node, 1, 1 + lead)
    target = x.node if x.batched else q.call(site.np("broadcast_to"), [
        x.node, _batched_shape(site, g, x)])
    return site.rebuild([node, target]), kind


def _add_kind(a, b):
    """The kind of ``add_grad`` of values of kinds ``a`` and ``b`` (None: not known)."""
    if _none(a):
        return b
    if _none(b):
        return a
    if isinstance(a, F.Opt) and isinstance(b, F.Opt):
        out = _add_kind(a.kind, b.kind)
        return F.Opt(out) if out is not None else None
    if isinstance(a, F.Opt) or isinstance(b, F.Opt):
        return _add_kind(F.present(a), F.present(b))
    if isinstance(a, F.Seq) and isinstance(b, F.Seq):
        if a.kind != b.kind or len(a.items) != len(b.items):
            return None
        items = tuple(_add_kind(x, y) for x, y in zip(a.items, b.items))
        return None if None in items else F.Seq(a.kind, items)
    return a if F.is_array(a) and a == b else None


@F.source_form(_add_grad_rule)
def _add_grad_form(site):
    """``add_grad(a, b)`` as written when both are batched with the same structure and
    ranks (a zero ``None`` on either side included)."""
    if len(site.args) != 2 or site.kwargs:
        return None
    if not all(a.batched or _none(a.kind) for a in site.args):
        return None
    kind = _add_kind(site.args[0].kind, site.args[1].kind)
    if kind is None:
        return None
    return site.rebuild([a.node for a in site.args]), kind


def _maybe(kind):
    """``kind`` or None."""
    if _none(kind) or isinstance(kind, F.Opt):
        return kind
    return F.Opt(kind) if isinstance(kind, (F.Array, F.Seq)) else None


@F.source_form(_complete_grad_rule)
def _complete_grad_form(site):
    """``complete_grad(x, g)`` as written where it completes ``g`` as every example's: each
    leaf of ``g`` an array adjoint of an array leaf of ``x`` (its dtype cast reads ``x``
    batched or not), or a maybe-zero one where ``x`` is batched (its zeros are then the
    examples'). A list of row adjoints, or zeros for an unbatched ``x``: the rule."""
    if len(site.args) != 2 or site.kwargs:
        return None
    x, g = site.args
    if not g.batched or not _completes_as_written(x.kind, g.kind, x.batched):
        return None
    return site.rebuild([x.node, g.node]), x.kind


def _completes_as_written(x, g, x_batched):
    if F.is_array(x):
        return F.is_array(g) or x_batched and (
            _none(g) or isinstance(g, F.Opt) and F.is_array(g.kind))
    if isinstance(x, F.Seq) and isinstance(g, F.Seq) and len(x.items) == len(g.items):
        return all(_completes_as_written(a, b, x_batched) for a, b in zip(x.items, g.items))
    if isinstance(x, F.Seq) and isinstance(g, F.Opt) and x_batched:
        return _completes_as_written(x, g.kind, x_batched)
    return False


def _pack_grad_form(site):
    """``pack_grad(like, parts)`` as written: it only puts the (batched) parts in a
    container like ``like``."""
    if len(site.args) != 2 or site.kwargs:
        return None
    like, parts = site.args
    if not (isinstance(like.kind, F.Seq) and isinstance(parts.kind, F.Seq)
            and len(parts.kind.items) == len(like.kind.items)):
        return None
    if not parts.batched:  # a batched ``like`` alone: the result, batched, needs the rule's
        return None        # broadcast of the parts (as written they would stay unbatched)
    items = parts.kind.items
    if all(_none(k) for k in items):
        return site.rebuild([like.node, parts.node]), F.Const(None)
    kind = F.Seq(like.kind.kind, items)
    if all(_none(k) or isinstance(k, F.Opt) for k in items):
        kind = F.Opt(kind)
    return site.rebuild([like.node, parts.node]), kind


@F.source_form(_getitem_grad_rule)
def _getitem_grad_form(site):
    """``getitem_grad(xs, i, g)`` as written for a tuple or list ``xs`` and an unbatched
    index: ``g`` (batched) at ``i``, None elsewhere."""
    if len(site.args) != 3 or site.kwargs:
        return None
    x, index, g = site.args
    if F.is_array(x.kind) and not index.batched and g.batched:
        return _array_item_grad_form(site, x, index, g)
    if not (isinstance(x.kind, F.Seq) and not index.batched and g.batched) or \
            g.kind is None or _none(g.kind):
        return None
    i = index.const(None)
    n = len(x.kind.items)
    if isinstance(i, int) and not isinstance(i, bool) and -n <= i < n:
        items = tuple(F.present(g.kind) if k == i % n else F.Const(None) for k in range(n))
    elif isinstance(index.kind, F.Number):
        items = (_maybe(F.present(g.kind)),) * n
    else:
        return None
    if None in items:
        return None
    kind = F.Seq(x.kind.kind, items)
    return site.rebuild([x.node, index.node, g.node]), \
        F.Opt(kind) if isinstance(g.kind, F.Opt) else kind


def _item_index(index, rank):
    """``(slice(None), i)`` (or ``(slice(None), *i)`` for a tuple) for an unbatched index
    of integers, slices, None and Ellipsis into per-example rank ``rank``, with the rank
    of each example's ``x[i]``; None for any other index."""
    if index.batched:
        return None
    tuple_index = isinstance(index.kind, F.Seq) and index.kind.kind == "tuple"
    parts = [_index_part(F.Operand(None, False, k)) for k in (
        index.kind.items if tuple_index else (index.kind,))]
    used = parts.count("int") + parts.count("slice")
    if not parts or not set(parts) <= {"int", "slice", "new", "ellipsis"} \
            or parts.count("ellipsis") > 1 or used > rank:
        return None
    whole = q.call(q.name("slice"), [q.const(None)])
    rest = gast.Starred(value=index.node, ctx=gast.Load()) if tuple_index else index.node
    return gast.Tuple(elts=[whole, rest], ctx=gast.Load()), \
        rank - parts.count("int") + parts.count("new")


def _array_item_grad_form(site, x, index, g):
    """``getitem_grad(x, (slice(None), i), g)``: each example's adjoint of ``x[i]`` for an
    unbatched basic index (integers and slices), behind the batch axis (an unbatched ``x``
    read as its shape broadcast to the batch: ``getitem_grad`` reads only its shape)."""
    item = _item_index(index, x.rank)
    if item is None or not (x.batched or _present_batched(g)) \
            or F.rank_of(F.present(g.kind)) != item[1]:
        return None
    target = x.node if x.batched else q.call(site.np("broadcast_to"), [
        x.node, _batched_shape(site, g, x)])
    kind = F.Array(x.rank)
    return site.rebuild([target, item[0], g.node]), \
        F.Opt(kind) if isinstance(g.kind, F.Opt) else kind


@F.source_form(_setitem_grad_rule)
def _setitem_grad_form(site):
    """``setitem_grad(g, (slice(None), i))``: the index zeroed in each example."""
    if len(site.args) != 2 or site.kwargs:
        return None
    g, index = site.args
    if not (g.batched and F.is_array(F.present(g.kind))):
        return None
    item = _item_index(index, F.present(g.kind).rank)
    if item is None:
        return None
    return site.rebuild([g.node, item[0]]), g.kind


@F.source_form(_index_grad_rule)
def _index_grad_form(site):
    """``index_grad(g, (slice(None), i), v)`` where each example's ``g[i]`` has ``v``'s
    rank (its unbroadcast then sums only per-example axes); an unbatched ``v`` broadcast
    to the batch."""
    if len(site.args) != 3 or site.kwargs:
        return None
    g, index, v = site.args
    if not (_present_batched(g) and F.is_array(v.kind)):
        return None
    item = _item_index(index, g.rank)
    if item is None or item[1] != v.rank:
        return None
    target = v.node if v.batched else q.call(site.np("broadcast_to"), [
        v.node, _batched_shape(site, g, v)])
    return site.rebuild([g.node, item[0], target]), F.Array(v.rank)


def _dot_grad_spec(an, bn, lhs, batched):
    """The einsum of ``dot_grad_lhs``/``rhs`` for per-example ranks ``an``, ``bn`` (1 or 2);
    ``batched``: which of (g, a, b) carry the batch axis."""
    a = "ik"[2 - an:]
    b = "kn"[:bn]
    out = a[:-1] + b[1:]
    z = ["Z" if f else "" for f in batched]
    if lhs:
        return f"{z[0]}{out},{z[2]}{b}->Z{a}"
    return f"{z[1]}{a},{z[0]}{out}->Z{b}"


def _dot_grad_form(lhs):
    def form(site):
        """``np.dot(g, W.T)`` for a batched cotangent and an unbatched matrix, else the
        einsum over the batch that is each example's product."""
        if len(site.args) != 3 or site.kwargs:
            return None
        g, a, b = site.args
        if not (_present_batched(g) and F.is_array(a.kind) and F.is_array(b.kind)):
            return None
        an, bn = a.rank, b.rank
        if not (1 <= an <= 2 and 1 <= bn <= 2) or g.rank != an + bn - 2:
            return None
        kind = F.Array(an if lhs else bn)
        if lhs and bn == 2 and not b.batched:
            return q.call(site.np("dot"), [g.node, q.call(site.np("transpose"), [b.node])]), kind
        spec = _dot_grad_spec(an, bn, lhs, (g.batched, a.batched, b.batched))
        other = b if lhs else a
        nodes = [g.node, other.node] if lhs else [other.node, g.node]
        return q.call(site.np("einsum"), [q.const(spec)] + nodes), kind
    return form


@F.source_form(_transpose_grad_rule)
def _transpose_grad_form(site):
    """``np.transpose(g, (0, 2, 1))``: the inverse permutation behind the batch axis."""
    if not site.args or len(site.args) > 2 or set(site.kwargs) - {"axes"}:
        return None
    g = site.args[0]
    perm = site.args[1] if len(site.args) == 2 else site.kwargs.get("axes")
    perm = perm.const() if perm is not None else None
    if not _present_batched(g) or not (perm is None or isinstance(perm, tuple) and all(
            isinstance(p, int) for p in perm) and len(perm) == g.rank):
        return None
    pe = g.rank
    inverse = tuple(range(pe - 1, -1, -1)) if perm is None else support.transpose_grad_axes(perm)
    return q.call(site.np("transpose"), [g.node, F.tuple_node((0,) + tuple(
        1 + p for p in inverse))]), F.Array(pe)


def _like_form(broadcast):
    def form(site):
        """``np.reshape(g, g.shape[:1] + x.shape[1:])`` / ``np.broadcast_to`` (``g``
        padded to ``x``'s rank first): ``g`` shaped like each example of ``x``."""
        if len(site.args) != 2 or site.kwargs:
            return None
        g, x = site.args
        if not (_present_batched(g) and F.is_array(x.kind)):
            return None
        if x.batched:
            shape = gast.BinOp(left=gast.Subscript(value=_shape_node(g.node), slice=gast.Slice(
                lower=None, upper=q.const(1), step=None), ctx=gast.Load()), op=gast.Add(),
                right=F.shape_rest(x.node))
        else:
            shape = _batched_shape(site, g, x)
        if not broadcast:
            return q.call(site.np("reshape"), [g.node, shape]), F.Array(x.rank)
        if g.rank > x.rank:
            return None
        return q.call(site.np("broadcast_to"), [F.expand(g.node, x.rank - g.rank), shape]), \
            F.Array(x.rank)
    return form


def _attach_support_forms():
    """Forms of the rules registered by ``_register_support_rules`` as closures."""
    for fn, lhs in ((sup.dot_grad_lhs, True), (sup.dot_grad_rhs, False)):
        batch_rule(fn).source_form = _dot_grad_form(lhs)
    batch_rule(sup.shape_of).source_form = _shape_of_form
    batch_rule(sup.pack_grad).source_form = _pack_grad_form
    batch_rule(sup.reshape_like).source_form = _like_form(False)
    batch_rule(sup.broadcast_like).source_form = _like_form(True)


_attach_support_forms()


# ---------------------------------------------------------------------------
# lax control flow: the functions passed in are batched through vcall, so a loop
# or branch whose predicate is batched runs masked, per example.


def _all_batched(x, n):
    """``x`` with every array leaf batched (unbatched pytrees broadcast)."""
    return broadcast_batch(x, n)


def _batch_size(axes, args):
    """The batch size of a control-flow call from its batched arguments, functions that
    close over batched values included (the operands themselves may be unbatched:
    ``lax.fori_loop(0, 3, body, zeros)`` with ``body`` reading a mapped variable)."""
    return leading_size([a for a, ax in zip(args, axes) if ax is not None])


def _cond_rule(axes, /, pred, true_fun, false_fun, *operands):
    op_axes = tuple(axes[3:]) + (None,) * (len(operands) - len(axes[3:]))
    if axes[0] is None:
        return lax.cond(pred, lambda *o: vcall(true_fun, op_axes, *o),
                        lambda *o: vcall(false_fun, op_axes, *o), *operands)
    n = leading_size(pred)
    return select(pred, _branch(true_fun, axes[1], op_axes, n)(*operands),
                  _branch(false_fun, axes[2], op_axes, n)(*operands))


def _branch(fn, fn_axis, op_axes, n):
    """A branch of a cond or switch whose predicate is batched, on the operands: batched
    as ``vcall`` batches it, or, where neither it nor any operand is (operands that are
    one example repeated are passed unbatched), run once and broadcast to the ``n``
    examples that select from it."""
    if fn_axis is None and all(ax is None for ax in op_axes):
        return lambda *o: broadcast_batch(fn(*o), n)
    return lambda *o: vcall(fn, op_axes, *o)


def _switch_rule(axes, /, index, branches, *operands):
    op_axes = tuple(axes[2:]) + (None,) * (len(operands) - len(axes[2:]))
    if axes[0] is None:
        wrapped = [lambda *o, b=b: vcall(b, op_axes, *o) for b in branches]
    else:
        wrapped = [_branch(b, axes[1], op_axes, leading_size(index)) for b in branches]
    return _switch_batched(index, axes[0] is not None, wrapped, operands)


def _switch_batched(index, index_batched, funs, operands):
    """``funs[index](*operands)`` for functions of batched ``operands``: one ``switch``
    for an unbatched index, else every function run and selected per example."""
    if not index_batched:
        return lax.switch(index, funs, *operands)
    np = _np(index)
    index = np.clip(index, 0, len(funs) - 1)
    results = [f(*operands) for f in funs]
    out = results[0]
    for k in range(1, len(results)):
        out = select(index == k, results[k], out)
    return out


def _while_rule(axes, /, cond_fun, body_fun, init_val):
    n = _batch_size(axes, (cond_fun, body_fun, init_val))
    val = init_val if axes[2] is not None else _all_batched(init_val, n)

    def test(state):
        return _np(state[1]).any(state[1])

    def step(state):
        v, active = state
        new = select(active, vcall(body_fun, (0,), v), v)
        return new, _np(active).logical_and(active, vcall(cond_fun, (0,), new))

    active = vcall(cond_fun, (0,), val)
    return lax.while_loop(test, step, (val, _asarray(active)))[0]


class _OnBatches:
    """A function written for batched arguments (batch axis first): vcall calls it as is."""

    def __init__(self, fn):
        self.fn = fn

    def __s2s_vcall__(self, axes, args, kwargs, kw_batched):
        return self.fn(*args, **kwargs)


def _fori_rule(axes, /, lower, upper, body_fun, init_val):
    axes = tuple(axes) + (None,) * (4 - len(axes))
    n = _batch_size(axes, (lower, upper, body_fun, init_val))
    if axes[3] is None:  # the body makes the carry batched (it reads mapped values)
        init_val = _all_batched(init_val, n)
    if axes[0] is not None or axes[1] is not None:  # trip counts per example: a masked while
        lo, hi = (_asarray(b) if ax is not None else broadcast_batch(b, n)
                  for b, ax in zip((lower, upper), axes[:2]))
        cond = _OnBatches(lambda s: s[0] < s[1])
        body = _OnBatches(lambda s: (s[0] + 1, s[1], vcall(body_fun, (0, 0), s[0], s[2])))
        return _while_rule((None, None, 0), cond, body, (lo, hi, init_val))[2]
    return lax.fori_loop(lower, upper, lambda i, v: vcall(body_fun, (None, 0), i, v), init_val)


def _scan_rule(axes, /, f, init, xs=None, length=None, reverse=False, unroll=1):
    init_b, xs_b = axes[1] is not None, len(axes) > 2 and axes[2] is not None
    n = _batch_size(axes, (f, init, xs))
    carry = init if init_b else _all_batched(init, n)
    if xs_b:  # (batch, steps, ...) -> (steps, batch, ...)
        xs = tree_unflatten(tree_flatten(xs)[1], [_np(x).swapaxes(x, 0, 1)
                                                  for x in tree_flatten(xs)[0]])

    def body(c, x):
        return vcall(f, (0, 0 if xs_b else None), c, x)

    carry, ys = lax.scan(body, carry, xs, length=length, reverse=reverse)
    leaves, tree = tree_flatten(ys)
    return carry, tree_unflatten(tree, [_np(y).swapaxes(y, 0, 1) for y in leaves])


def _map_rule(axes, /, f, xs, batch_size=None):
    """``lax.map`` on a batch of ``n`` calls. Unbatched ``xs`` (``f`` a closure over
    batched values) are broadcast. With ``batch_size``, each chunk is ``vmap(f)`` (as
    ``lax.map`` does per example) called from batched code: that vmap merges its axis
    with the running one under an axis frame, so collectives over an outer named axis
    inside ``f`` reduce over that axis' own examples (or it runs per outer example)."""
    xs_b = len(axes) > 1 and axes[1] is not None
    n = _batch_size(axes, (f, xs))
    leaves, tree = tree_flatten(xs if xs_b else _all_batched(xs, n))
    if batch_size is None:
        xs = tree_unflatten(tree, [_np(x).swapaxes(x, 0, 1) for x in leaves])
        ys = lax.map(lambda x: vcall(f, (0,), x), xs)
        return _steps_to_batch(ys)
    cf.check_batch_size(batch_size)
    b = int(batch_size)
    full, rest = divmod(leaves[0].shape[1], b)
    chunked = hooks.vmap(f)
    parts = []
    if full:  # (n, full * b, ...) -> (full, n, b, ...): a loop over chunks, batched
        chunks = [_np(x).swapaxes(_np(x).reshape(x[:, :full * b], (n, full, b) + x.shape[2:]),
                                  0, 1) for x in leaves]
        ys = lax.map(lambda c: vcall(chunked, (0,), c), tree_unflatten(tree, chunks))
        ys, out_tree = tree_flatten(_steps_to_batch(ys))
        parts.append([_np(y).reshape(y, (n, full * b) + y.shape[3:]) for y in ys])
    if rest:
        tail = tree_unflatten(tree, [x[:, full * b:] for x in leaves])
        ys, out_tree = tree_flatten(vcall(chunked, (0,), tail))
        parts.append(ys)
    if len(parts) == 1:
        return tree_unflatten(out_tree, parts[0])
    return tree_unflatten(out_tree, [_np(a, c).concatenate([a, c], axis=1) for a, c in zip(*parts)])


def _steps_to_batch(ys):
    """A loop's stacked results (steps, batch, ...) with the batch axis first."""
    leaves, tree = tree_flatten(ys)
    return tree_unflatten(tree, [_np(y).swapaxes(y, 0, 1) for y in leaves])


def _tuple_operands_rule(rule, n_static):
    """The batch rule of ``_cond``/``_switch`` (operands as one tuple, batched as a whole)
    from that of ``cond``/``switch`` (operands spread)."""
    def tuple_rule(axes, /, *args):
        axes = tuple(axes) + (None,) * (len(args) - len(axes))
        operands = tuple(args[n_static])
        return rule(axes[:n_static] + (axes[n_static],) * len(operands), *args[:n_static], *operands)
    return tuple_rule


def _register_control_flow_rules():
    def_batch(cf.cond)(_cond_rule)
    def_batch(cf.switch)(_switch_rule)
    def_batch(cf._cond)(_tuple_operands_rule(_cond_rule, 3))
    def_batch(cf._switch)(_tuple_operands_rule(_switch_rule, 2))
    def_batch(cf.while_loop)(_while_rule)
    def_batch(cf.fori_loop)(_fori_rule)
    def_batch(cf.scan)(_scan_rule)
    def_batch(cf.map)(_map_rule)


_register_control_flow_rules()



# The forward mode of lax control flow (``s2s.lax.control_flow_jvp``) is batched by its
# source; its calls into differentiation are batched here: the jvp or vjp of
# ``vmap(fun)`` at the stacked examples is the examples' jvps or vjps stacked (the
# examples are independent), so a Hessian through a loop runs the loop once.

def _stacked_args(args, axes, funs=()):
    """``args`` with every unbatched one stacked (broadcast) to the batch size: that of the
    batched ones, or where none is, of the batched closures among ``funs``."""
    batched = [a for a, ax in zip(args, axes) if ax is not None]
    n = leading_size(*batched) if batched else \
        next(f.batch_size() for f in funs if isinstance(f, BatchedClosure))
    return [a if ax is not None else broadcast_batch(a, n) for a, ax in zip(args, axes)]


def _through_vmap(derivative):
    """The batch rule of ``derivative(fun, *arrays)`` (a jvp or a pullback of ``fun``)."""
    def rule(axes, /, fun, *args):
        axes = tuple(axes) + (None,) * (1 + len(args) - len(axes))
        if axes[0] is not None:  # a function that varies per example: nothing to vmap
            return loop_call(derivative, axes, (fun,) + args, {})
        return derivative(hooks.vmap(fun), *_stacked_args(args, axes[1:]))
    return rule


def _add_trees_rule(axes, /, a, b):
    # an unbatched leaf is stacked first: NumPy would align its axes with the batch axis
    return cf_jvp._add_trees(*_stacked_args((a, b), axes))


# The reverse pass of lax.cond/switch (``cond_vjp``/``switch_vjp``, batched by vmap(grad)
# and jacrev(grad)): each branch's pullback becomes the pullback of vmap(branch) at the
# stacked examples, chosen as the branch is: an unbatched index stages one ``case``, a
# batched one runs every branch and selects per example (as vmap of ``cond`` does).

def _vmapped_pullbacks(branches):
    """Each branch's pullback as the pullback of its vmap (a branch that is a batched
    closure, one function per example, maps over its own examples)."""
    return [functools.partial(cf._branch_pullback, hooks.vmap(b)) for b in branches]


def _batched_ct_operands(axes, ct, operands, index, branches):
    """``(ct, operands)`` both batched (``axes``: of ct, operands, index); the batch size
    is theirs, or the branches' where only those vary per example."""
    return tuple(_stacked_args((ct, operands, index), axes, branches)[:2])


def _switch_vjp_rule(axes, /, ct, index, branches, operands):
    axes = tuple(axes) + (None,) * (4 - len(axes))
    args = _batched_ct_operands((axes[0], axes[3], axes[1]), ct, operands, index, branches)
    return _switch_batched(index, axes[1] is not None, _vmapped_pullbacks(branches), args)


def _cond_vjp_rule(axes, /, ct, pred, true_fun, false_fun, operands):
    axes = tuple(axes) + (None,) * (5 - len(axes))
    args = _batched_ct_operands((axes[0], axes[4], axes[1]), ct, operands, pred, (true_fun, false_fun))
    true_pullback, false_pullback = _vmapped_pullbacks((true_fun, false_fun))
    if axes[1] is None:
        return lax.cond(pred, true_pullback, false_pullback, *args)
    return select(pred, true_pullback(*args), false_pullback(*args))


def _register_control_flow_jvp_rules():
    for fn in (cf_jvp._jvp, cf_jvp._pullback, cf_jvp._pullback_of_pair):
        def_batch(fn)(_through_vmap(fn))
    def_batch(cf_jvp._add_trees)(_add_trees_rule)
    def_batch(cf.switch_vjp)(_switch_vjp_rule)
    def_batch(cf.cond_vjp)(_cond_vjp_rule)


_register_control_flow_jvp_rules()

# ---------------------------------------------------------------------------
# Collectives over a named mapped axis (vmap(..., axis_name=...)).


def _factored(x, sizes):
    """Batched ``x`` with its batch axis split into the factors ``sizes`` (merged vmaps)."""
    return _np(x).reshape(x, tuple(sizes) + tuple(x.shape[1:]))


def _over_examples(reduce):
    """The rule of a reduction over a named axis: over all examples of a plain vmap; over
    that factor's examples (those sharing the other indices) of merged vmaps."""
    def rule(axes, /, x, axis_name):
        sizes, k = axis_factors(axis_name)
        n = int(onp.prod(sizes))
        leaves, tree = tree_flatten(x if axes[0] is not None else broadcast_batch(x, n))
        out = []
        for leaf in map(_asarray, leaves):
            if len(sizes) == 1:
                out.append(broadcast_batch(reduce(leaf, 0, False), n))
                continue
            f = _factored(leaf, sizes)
            np = _np(f)
            out.append(np.reshape(np.broadcast_to(reduce(f, k, True), f.shape), leaf.shape))
        return tree_unflatten(tree, out)
    return rule


def _all_gather_rule(axes, /, x, axis_name, *, axis=0, tiled=False):
    sizes, k = axis_factors(axis_name)
    n = int(onp.prod(sizes))
    x = _asarray(x if axes[0] is not None else broadcast_batch(x, n))
    np = _np(x)
    if len(sizes) == 1:
        gathered = np.moveaxis(x, 0, axis) if not tiled else np.concatenate(
            [x[i] for i in range(n)], axis=axis)
        return broadcast_batch(gathered, n)
    # example (i_0, .., i_K) gathers the examples that differ from it in i_k only
    f = _factored(x, sizes)
    last = len(sizes) - 1
    stacked = np.broadcast_to(np.expand_dims(np.moveaxis(f, k, last), k),
                              tuple(sizes) + (sizes[k],) + tuple(x.shape[1:]))
    stacked = np.reshape(stacked, (n, sizes[k]) + tuple(x.shape[1:]))
    rank = x.ndim - 1  # of one example's value
    if not tiled:
        return np.moveaxis(stacked, 1, axis % (rank + 1) + 1)
    a = axis % rank
    moved = np.moveaxis(stacked, 1, a + 1)
    shape = moved.shape
    return np.reshape(moved, shape[:a + 1] + (shape[a + 1] * shape[a + 2],) + shape[a + 3:])


def _axis_index_rule(axes, /, axis_name):
    sizes, k = axis_factors(axis_name)
    n = int(onp.prod(sizes))
    inner = int(onp.prod(sizes[k + 1:]))
    return ((onp.arange(n) // inner) % sizes[k]).astype(onp.int32)


def _register_collectives():
    def_batch(collectives.psum)(_over_examples(lambda x, a, k: _np(x).sum(x, axis=a, keepdims=k)))
    def_batch(collectives.pmean)(_over_examples(lambda x, a, k: _np(x).mean(x, axis=a, keepdims=k)))
    def_batch(collectives.pmax)(_over_examples(lambda x, a, k: _np(x).max(x, axis=a, keepdims=k)))
    def_batch(collectives.pmin)(_over_examples(lambda x, a, k: _np(x).min(x, axis=a, keepdims=k)))
    def_batch(collectives.all_gather)(_all_gather_rule)
    def_batch(collectives.axis_index)(_axis_index_rule)


_register_collectives()
