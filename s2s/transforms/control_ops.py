"""Runtime operators of converted control flow (see ``s2s.transforms.control``).

Each runs plain Python when its predicate, condition or bounds are concrete,
and stages ``lax.cond`` / ``lax.while_loop`` when they are staged values, so a
converted function behaves like the original eagerly and compiles under jit.
"""
import numpy as onp

from s2s.errors import TransformError, UndefinedVariableError
from s2s.lax.core import Tracer


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


def _defined(values):
    return [not isinstance(v, Undefined) for v in values]


def _lax():
    from s2s import lax
    return lax


# ---------------------------------------------------------------------------
# if


def if_stmt(cond, true_fn, false_fn, inputs, names, partial=None):
    """``if cond: true_fn(*inputs) else: false_fn(*inputs)``; returns the variables ``names``.

    ``inputs`` are the values of the variables a branch may pass through or reads
    first; ``partial`` maps the outputs that only one branch assigns to that branch.
    """
    if not isinstance(cond, Tracer):
        return true_fn(*inputs) if cond else false_fn(*inputs)
    return _staged_if(cond, true_fn, false_fn, tuple(inputs), names, partial or {})


def _staged_if(cond, true_fn, false_fn, inputs, names, partial):
    lax = _lax()
    undefined = {v.name for v in inputs if isinstance(v, Undefined)}
    for name in names:
        if name in partial and name in undefined:
            raise TransformError(
                f"variable {name!r} is assigned only in the {partial[name]} branch of an `if` whose "
                "condition is a staged value, and is used afterwards",
                hint=f"assign {name!r} a value before the `if` (or in both branches)")
    carried = [n not in undefined for n in names]
    known = _defined(inputs)
    operands = [v for v, k in zip(inputs, known) if k]

    def fill(ops):
        it = iter(ops)
        return [next(it) if k else v for v, k in zip(inputs, known)]

    def branch(fn):
        def run(*ops):
            out = fn(*fill(ops))
            return tuple(_as_loop_value(o) for o, c in zip(out, carried) if c)
        return run

    pred = cond if cond.dtype == onp.bool_ else cond != 0
    results = lax.cond(pred, branch(true_fn), branch(false_fn), *operands)
    results = list(results) if isinstance(results, (tuple, list)) else [results]
    it = iter(results)
    return tuple(next(it) if c else Undefined(n) for c, n in zip(carried, names))


# ---------------------------------------------------------------------------
# while


def while_stmt(test, body, state, names):
    """``while test(): body()`` over the loop variables ``names``."""
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
    lax = _lax()
    for v, n in zip(state, names):
        if isinstance(v, Undefined):
            raise TransformError(
                f"variable {n!r} is assigned inside a `while` loop whose condition "
                "is a staged value but has no value before the loop",
                hint=f"assign {n!r} an initial value (of the same shape and dtype) before the loop")
    init = tuple(_as_loop_value(v) for v in state)

    def cond_fun(carry):
        c = test(*carry)
        return c if getattr(c, "dtype", None) == onp.bool_ else c != 0

    def body_fun(carry):
        return tuple(body(*carry))

    return tuple(lax.while_loop(cond_fun, body_fun, init))


def _as_loop_value(v):
    if isinstance(v, (bool, int, float, complex)):
        from s2s import dtypes
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


def for_stmt(iterable, body, state, names):
    """``for x in iterable: body(x)`` over the loop variables ``names``."""
    state = tuple(state)
    if isinstance(iterable, StagedRange):
        return _staged_range_loop(iterable, body, state, names)
    if isinstance(iterable, Tracer):
        return _staged_array_loop(iterable, body, state, names)
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


# ---------------------------------------------------------------------------
# calls


def converted_call(fn, *args, **kwargs):
    """Calls ``fn``, converting its control flow first when it is user code s2s can read."""
    from s2s.transforms import convert
    return convert.converted(fn)(*args, **kwargs)
