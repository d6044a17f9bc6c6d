"""Runtime operators of converted control flow (see ``s2s.transforms.control``).

Each runs plain Python when its predicate, condition or bounds are concrete,
and stages ``lax.cond`` / ``lax.while_loop`` when they are staged values, so a
converted function behaves like the original eagerly and compiles under jit.
"""
import functools

import numpy as onp

from s2s import lax
from s2s.core import dtypes, hooks
from s2s.core.errors import TransformError, UndefinedVariableError
from s2s.core.primitive import abstractify, Tracer
from s2s.core.tree_util import tree_leaves
from s2s.lax import control_flow as cf
from s2s.numpy.batching import UNDEF
from s2s.runtime.support import (MethodAdjoint, _differentiable_value, add_grad, array_method_call, method_wrapper,
                                 positional_wrapper)
import s2s.numpy as snp


class Undefined:
    """Marks a variable that is not assigned on the path taken so far."""

    __slots__ = ("name",)

    def __init__(self, name):
        self.name = name

    def __repr__(self):
        return f"Undefined({self.name!r})"

    def _fail(self, *args, **kwargs):
        raise UndefinedVariableError(
            f"variable {self.name!r} is used before it is assigned on this path; assign it before "
            "the if/loop that may skip its assignment")

    __bool__ = __add__ = __radd__ = __mul__ = __rmul__ = __sub__ = __rsub__ = __truediv__ = _fail
    __getitem__ = __call__ = __len__ = __iter__ = __neg__ = __array__ = _fail

    def __getattr__(self, name):
        self._fail()


def _absent(v):
    # UNDEF: vmap's unset value (batched source of a function with early returns)
    return v is None or isinstance(v, Undefined) or v is UNDEF


def _aval(v):
    return abstractify(v)


def _zeros(aval):
    return lax.broadcast_in_dim(onp.zeros((), aval.dtype), shape=aval.shape, broadcast_dimensions=())


# ---------------------------------------------------------------------------
# if


def if_stmt(cond, true_fn, false_fn, inputs, names, partial=None, consts=(), mutates=()):
    """``if cond: true_fn(*inputs) else: false_fn(*inputs)``; returns the variables ``names``.

    ``inputs`` are the values of the variables a branch may pass through or reads
    first; ``partial`` maps the outputs that only one branch assigns to that branch;
    ``consts`` are enclosing variables the branches read, passed first.
    """
    if consts:
        true_fn, false_fn = _bind_consts(true_fn, consts), _bind_consts(false_fn, consts)
    if not isinstance(cond, Tracer):
        return true_fn(*inputs) if cond else false_fn(*inputs)
    if mutates:
        raise TransformError(
            f"the list {mutates[0]!r} is appended to inside an `if` whose condition is a staged "
            "value, so its length would depend on the data",
            hint="build an array of fixed size and select with np.where, or keep this `if` out of jit")
    return _staged_if(cond, true_fn, false_fn, tuple(inputs), names, partial or {})


def _bind_consts(fn, consts):
    return lambda *args: fn(*consts, *args)


def _staged_if(cond, true_fn, false_fn, inputs, names, partial):
    undefined = {v.name for v in inputs if isinstance(v, Undefined)}
    for name in names:
        if name in partial and name in undefined:
            raise TransformError(
                f"variable {name!r} is assigned only in the {partial[name]} branch of an `if` whose "
                "condition is a staged value, and is used afterwards",
                hint=f"assign {name!r} a value before the `if` (or in both branches)")
    carried = [n not in undefined for n in names]
    known = [not _absent(v) for v in inputs]
    operands = [v for v, k in zip(inputs, known) if k]
    seen = {}  # output index -> aval, from whichever branch defined it first

    def fill(ops):
        it = iter(ops)
        return [next(it) if k else v for v, k in zip(inputs, known)]

    def branch(fn, other):
        def run(*ops):
            out = list(fn(*fill(ops)))
            missing = [i for i, (o, c) in enumerate(zip(out, carried)) if c and _absent(o)]
            if missing and any(i not in seen for i in missing):
                # Learn the other branch's outputs (traced here, unused: XLA drops them).
                for i, o in enumerate(other(*fill(ops))):
                    if not _absent(o):
                        seen.setdefault(i, _aval(o))
            for i in missing:
                if i in seen:  # defined on the other path only: a placeholder of its type
                    out[i] = _zeros(seen[i])
            for i, o in enumerate(out):
                if not _absent(o):
                    seen.setdefault(i, _aval(o))
            return tuple(_as_loop_value(o) for o, c in zip(out, carried) if c)
        return run

    pred = cond if cond.dtype == onp.bool_ else cond != 0
    results = lax.cond(pred, branch(true_fn, false_fn), branch(false_fn, true_fn), *operands)
    results = list(results) if isinstance(results, (tuple, list)) else [results]
    it = iter(results)
    return tuple(next(it) if c else Undefined(n) for c, n in zip(carried, names))


# ---------------------------------------------------------------------------
# while


def while_stmt(test, body, state, names, consts=()):
    """``while test(): body()`` over the loop variables ``names`` (``consts`` passed first)."""
    if consts:
        test, body = _bind_consts(test, consts), _bind_consts(body, consts)
    state = tuple(state)
    while True:
        c = test(*state)
        if isinstance(c, Tracer):
            return _staged_while(test, body, state, names)
        if not c:
            return state
        state = tuple(body(*state))
        if any(isinstance(v, Tracer) for v in state) and _condition_is_staged(test, state):
            return _staged_while(test, body, state, names)


def _condition_is_staged(test, state):
    return isinstance(test(*state), Tracer)


def _staged_while(test, body, state, names):
    if any(_absent(v) for v in state):
        state = _fill_absent(body, state, names)
    init = tuple(_as_loop_value(v) for v in state)

    def cond_fun(carry):
        c = test(*carry)
        return c if getattr(c, "dtype", None) == onp.bool_ else c != 0

    def body_fun(carry):
        return tuple(body(*carry))

    return tuple(lax.while_loop(cond_fun, body_fun, init))


def _fill_absent(body, state, names):
    """Initial loop values that are None/undefined get placeholders of the type one
    iteration gives them (the body is traced once for that, unused: XLA drops it)."""
    out = list(body(*state))
    filled = []
    for v, o, n in zip(state, out, names):
        if not _absent(v):
            filled.append(v)
        elif _absent(o):
            raise TransformError(
                f"variable {n!r} has no value before a `while` loop whose condition is a staged "
                "value, and one iteration does not give it one",
                hint=f"assign {n!r} an initial value (of the same shape and dtype) before the loop")
        else:
            filled.append(_zeros(_aval(o)))
    return tuple(filled)


def _as_loop_value(v):
    if isinstance(v, (bool, int, float, complex)):
        return onp.asarray(v, dtypes.python_scalar_dtype(v))
    return v


# ---------------------------------------------------------------------------
# for


class StagedRange:
    """``range(start, stop, step)`` where some bound is a staged value."""

    def __init__(self, start, stop, step):
        self.start, self.stop, self.step = start, stop, step


def srange(*args):
    """``range(...)``, or a ``StagedRange`` when a bound is staged."""
    if any(isinstance(a, Tracer) for a in args):
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args + (1,))[:3]
        return StagedRange(start, stop, step)
    return range(*args)


def for_stmt(iterable, body, state, names, consts=()):
    """``for x in iterable: body(x)`` over the loop variables ``names`` (``body(x, *consts, *state)``)."""
    if consts:
        inner = body
        body = lambda item, *s: inner(item, *consts, *s)  # noqa: E731
    state = tuple(state)
    if isinstance(iterable, StagedRange):
        return _staged_range_loop(iterable, body, state, names)
    if isinstance(iterable, Tracer):
        # The length of a staged array is static: the loop runs in Python, over rows.
        iterable = [iterable[i] for i in range(iterable.shape[0])]
    for item in iterable:
        state = tuple(body(item, *state))
    return state


def _staged_range_loop(r, body, state, names):
    i0 = _as_loop_value(r.start)
    step = r.step

    def test(i, *s):
        return i < r.stop if not (isinstance(step, (int, float)) and step < 0) else i > r.stop

    def loop(i, *s):
        return (i + step,) + tuple(body(i, *s))

    out = _staged_while(test, loop, (i0,) + state, ("<index>",) + tuple(names))
    return out[1:]


def _staged_array_loop(xs, body, state, names):
    n = xs.shape[0]

    def test(i, *s):
        return i < n

    def loop(i, *s):
        return (i + 1,) + tuple(body(xs[i], *s))

    out = _staged_while(test, loop, (_as_loop_value(0),) + state, ("<index>",) + tuple(names))
    return out[1:]


def not_(x):
    """``not x``, also for a staged boolean (elementwise ``~``, or ``x == 0``)."""
    if isinstance(x, Tracer):
        return x == 0 if x.dtype != onp.bool_ else ~x
    return not x


# ---------------------------------------------------------------------------
# calls


def converted_call(fn, *args, **kwargs):
    """Calls ``fn``, converting its control flow first when it is user code s2s can read."""
    if isinstance(getattr(fn, "__self__", None), onp.ndarray):
        # ``A.dot(x)`` of a NumPy array: NumPy's method cannot take a staged ``x``
        fn, args = array_method_call(fn, args)
    return hooks.converted(fn)(*args, **kwargs)


# ---------------------------------------------------------------------------
# Reverse mode of the operators (``jit(grad(f))`` differentiates converted code).
#
# Each pullback recomputes the forward pass of the branch or loop body through
# ``s2s.vjp``; staged loops keep their carries in the bounded buffers of
# ``s2s.lax.control_flow`` (``max_trips``, see ``while_loop_vjp``).


def _defined_or_none(values):
    return tuple(None if isinstance(v, Undefined) else v for v in values)





def _add_cts(a, b):
    return tuple(add_grad(x, y) for x, y in zip(a, b))


def _carried_consts(consts):
    """``(carried, rebuild)``: the captures a staged loop's carry can hold (arrays and
    numbers) and ``rebuild(carried) -> consts``. The others (a lambda or nested function
    the body calls) stay constants of the loop: a carry of a function raised "not a
    valid array" in jit(grad(f))."""
    keep = tuple(bool(tree_leaves(c)) and all(isinstance(v, (Tracer, onp.ndarray, onp.generic, bool, int, float,
                                                               complex)) for v in tree_leaves(c)) for c in consts)
    carried = tuple(c for c, k in zip(consts, keep) if k)

    def rebuild(values):
        it = iter(values)
        return tuple(next(it) if k else c for c, k in zip(consts, keep))

    def spread(cts):  # the carried ones' cotangents -> one per capture (None for the rest)
        it = iter(cts)
        return tuple(next(it) if k else None for k in keep)
    return carried, rebuild, spread, keep


def _body_pullback(body, consts, keep, state, ct):
    """``(cotangents of the kept consts, of state)`` of ``body(*consts, *state)``: the
    others (functions) are passed as they are, not differentiated (vjp has no zero of a
    function)."""
    fn, primals = _differentiated_part(body, consts, keep, state)
    cts = cf._pullback(fn, primals, ct)
    m = len(primals) - len(state)
    return tuple(cts[:m]), tuple(cts[m:])


def _differentiated_part(fn, consts, keep, rest):
    """``(g, primals)``: ``g(*primals)`` is ``fn(*consts, *rest)`` as a function of the
    kept consts and ``rest`` only."""
    full = tuple(consts) + tuple(rest)
    if all(keep):
        return fn, full
    n = len(consts)
    diff = tuple(i for i in range(n) if keep[i]) + tuple(range(n, len(full)))
    wrapper = positional_wrapper(fn, len(full), diff, ())
    return functools.partial(wrapper, {}, full), tuple(full[i] for i in diff)


def if_stmt_vjp(ct, cond, true_fn, false_fn, inputs, consts=()):
    """``(ct_inputs, ct_consts)`` for ``if_stmt``: the pullback of the branch taken."""
    carried, _, spread, keep = _carried_consts(tuple(consts))
    inputs = _defined_or_none(inputs)
    true_fn, primals = _differentiated_part(true_fn, consts, keep, inputs)
    false_fn, _ = _differentiated_part(false_fn, consts, keep, inputs)
    n = len(carried)
    if not isinstance(cond, Tracer):
        cts = cf._pullback(true_fn if cond else false_fn, primals, ct)
    else:
        cts = cf.cond_vjp(ct, cond, true_fn, false_fn, primals)
    return tuple(cts[n:]), spread(tuple(cts[:n]))


def while_stmt_vjp(ct, ans, test, body, state, consts=()):
    """``(ct_state, ct_consts)`` for ``while_stmt`` (recorded trips, or a bounded buffer)."""
    consts, state, n = tuple(consts), _defined_or_none(state), len(consts)
    staged = any(isinstance(v, Tracer) for v in consts + state) or isinstance(test(*consts, *state), Tracer)
    if not staged:
        states, x = [], state
        while test(*consts, *x):
            states.append(x)
            x = tuple(body(*consts, *x))
        carried, _, spread, keep = _carried_consts(consts)
        ct_state = cf._fill_ct(tuple(ans), ct)
        ct_consts = (None,) * len(carried)
        for x in reversed(states):
            cts, ct_state = _body_pullback(body, consts, keep, x, ct_state)
            ct_consts = _add_cts(ct_consts, cts)
        return ct_state, spread(cf._fill_ct(carried, ct_consts))
    carried, rebuild, spread, keep = _carried_consts(consts)
    zero_consts = cf._fill_ct(carried, None)
    absent = [_absent(v) for v in state]
    if any(absent):  # an early return's unset result: typed placeholders, as the forward
        state = _fill_absent(lambda *s: body(*consts, *s), state, ("<state>",) * len(state))

    def keep_going(k, carry):
        return _as_bool(test(*rebuild(carry[0]), *carry[1]))

    def step(k, carry):
        return carry[0], tuple(body(*rebuild(carry[0]), *carry[1]))

    def pull(k, carry, c):
        ct_consts, ct_state = _body_pullback(body, rebuild(carry[0]), keep, carry[1], c[1])
        return _add_cts(c[0], ct_consts), ct_state

    ct_carry = cf._buffered_loop_vjp((zero_consts, ct), (carried, tuple(ans)), (carried, state),
                                     keep_going, step, pull, cf.WHILE_MAX_TRIPS, "while")
    ct_state = tuple(None if a else c for a, c in zip(absent, ct_carry[1]))
    return ct_state, spread(tuple(ct_carry[0]))


def _as_bool(c):
    if isinstance(c, Tracer) and c.dtype != onp.bool_:
        return c != 0
    return c


def for_stmt_vjp(ct, ans, iterable, body, state, consts=()):
    """``(ct_state, ct_consts, ct_iterable)`` for ``for_stmt``."""
    consts, state, n = tuple(consts), _defined_or_none(state), len(consts)
    if isinstance(iterable, StagedRange):
        return _staged_for_vjp(ct, ans, iterable, body, state, consts)
    if isinstance(iterable, Tracer):  # static length: rows, as the forward loop ran
        items = [iterable[i] for i in range(iterable.shape[0])]
    else:
        items = list(iterable)
    states, x = [], state
    for item in items:
        states.append(x)
        x = tuple(body(item, *consts, *x))
    carried, _, spread, keep = _carried_consts(consts)
    ct_state = cf._fill_ct(tuple(ans), ct)
    ct_consts = (None,) * len(carried)
    ct_items = [None] * len(items)
    for k in reversed(range(len(items))):  # the item first, then the consts
        cts, ct_state = _body_pullback(body, (items[k],) + consts, (True,) + keep, states[k], ct_state)
        ct_items[k] = cts[0]
        ct_consts = _add_cts(ct_consts, cts[1:])
    ct_iterable = None
    if isinstance(iterable, (list, tuple)):
        ct_iterable = type(iterable)(ct_items)
    elif isinstance(iterable, (onp.ndarray, Tracer)) and ct_items:
        rows = cf._fill_ct(tuple(items), tuple(ct_items))
        ct_iterable = snp.stack(list(rows))
    return ct_state, spread(cf._fill_ct(carried, ct_consts)), ct_iterable


def _staged_for_vjp(ct, ans, r, body, state, consts):
    """A loop over a staged range: a while loop over the index, carries in a bounded buffer."""
    carried, rebuild, spread, keep = _carried_consts(consts)
    i0 = _as_loop_value(r.start)
    negative = isinstance(r.step, (int, float)) and r.step < 0

    def keep_going(k, carry):
        i = carry[0]
        return (i > r.stop) if negative else (i < r.stop)

    def step(k, carry):
        i, cs, st = carry
        return i + r.step, cs, tuple(body(i, *rebuild(cs), *st))

    def pull(k, carry, c):
        i, cs, st = carry
        cts, ct_state = _body_pullback(body, (i,) + rebuild(cs), (True,) + keep, st, c[2])
        return c[0], _add_cts(c[1], cts[1:]), ct_state

    ct_carry = cf._buffered_loop_vjp((None, cf._fill_ct(carried, None), ct),
                                     (i0, carried, tuple(ans)), (i0, carried, tuple(state)),
                                     keep_going, step, pull, cf.WHILE_MAX_TRIPS, "for")
    return tuple(ct_carry[2]), spread(tuple(ct_carry[1])), None


def converted_call_vjp(ct, fn, args, kwargs):
    """``(cotangents of args, of kwargs, of fn)`` for ``converted_call(fn, *args, **kwargs)``
    (forward recomputed). Keyword arguments are differentiated too: lambda lifting
    passes what a nested function reads from the enclosing one by keyword, so the
    derivative flows through the captured values as through the arguments. ``fn``'s is
    not None for a method of an array (``x.reshape``): its receiver's."""
    receiver = getattr(fn, "__self__", None)
    if isinstance(receiver, (Tracer, onp.ndarray, onp.generic)) and _differentiable_value(receiver, tree_leaves):
        return _array_method_vjp(ct, fn, receiver, args, kwargs)
    target = hooks.converted_for_grad(fn)
    n = len(args)
    if kwargs:  # a wrapper passing the keywords, those holding floats as its parameters
        kw_diff = tuple(k for k, v in kwargs.items() if _differentiable_value(v, tree_leaves))
        wrapper = positional_wrapper(target, n, tuple(range(n)), tuple(kwargs), kw_diff)
        cts = cf._pullback(functools.partial(wrapper, kwargs, tuple(args)),
                           tuple(args) + tuple(kwargs[k] for k in kw_diff), ct)
        return tuple(cts[:n]), dict(zip(kw_diff, cts[n:])), None
    return tuple(cf._pullback(target, tuple(args), ct)), {}, None


def _method_name(fn, receiver):
    """The attribute of ``receiver``'s class that bound method ``fn`` is (its function's
    own name may differ: a staged array's ``reshape`` is ``_reshape``)."""
    func = getattr(fn, "__func__", None)
    for klass in type(receiver).__mro__:
        for name, value in vars(klass).items():
            if value is func and not name.startswith("_"):
                return name
    return fn.__name__


def _array_method_vjp(ct, fn, receiver, args, kwargs):
    """``converted_call_vjp`` of ``x.name(*args)`` with ``x`` an array: the receiver is
    differentiated with the arguments, its cotangent the method's (``MethodAdjoint``)."""
    if any(_differentiable_value(v, tree_leaves) for v in kwargs.values()):
        raise TransformError(f"s2s cannot differentiate the keyword arguments {sorted(kwargs)} of the "
                             f"array method {fn.__name__} under jit",
                             hint="pass them positionally, or call the s2s.numpy function")
    wrapper = method_wrapper(_method_name(fn, receiver), len(args), tuple(kwargs))
    cts = cf._pullback(functools.partial(wrapper, kwargs), (receiver,) + tuple(args), ct)
    return tuple(cts[1:]), {}, None if cts[0] is None else MethodAdjoint(cts[0])
