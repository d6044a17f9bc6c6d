"""Structured control flow: ``cond``, ``switch``, ``while_loop``, ``fori_loop``, ``scan``, ``map``.

Semantics follow ``jax.lax``. Three primitives carry the rules; ``switch``,
``fori_loop`` and ``map`` are built on them:

=========  ===============================================  ==========================
primitive  operands / static parameters                     StableHLO
=========  ===============================================  ==========================
``cond``   ``index, *operands`` / ``branches``              ``stablehlo.case``
``while``  ``*carry`` / ``cond_fun, body_fun``              ``stablehlo.while``
``scan``   ``*carry, *xs`` / ``body, length, reverse, ...``  ``stablehlo.while`` that
                                                            slices ``xs`` and writes
                                                            ``ys`` into buffers
=========  ===============================================  ==========================

**Callables and pytrees.** The public functions flatten their pytree operands and
wrap each callable in a ``_Fun``: a function of flat leaves that rebuilds the
callable's arguments, calls it and flattens what it returns. ``_Fun`` objects are
the primitives' static parameters (hashable by identity).

**Eager** (``impl``): plain Python ``if``/``while``/``for`` on host values. ``cond``
runs only the branch it takes, so the other branch's output is not checked.

**Staged** (under ``jit``): before binding, the public function traces the
callables on staged values into regions of the jit's function builder
(``StagingTrace.trace_region``); ``abstract_eval`` reads the avals found there and
``lower`` emits the op with those regions. Values the callables close over (staged
values of the enclosing function) are used inside the regions directly: StableHLO
allows implicit capture in ``case`` and ``while`` regions and XLA compiles it, so
no explicit capture is needed. A call with concrete operands whose callable closes
over staged values is staged too (found in the closure, or when the callable
returns a staged value).

**Carries** keep their structure, shapes and dtypes across iterations. A weakly
typed initial value (a Python scalar) takes the dtype the body gives it
(``while_loop(c, b, 0.0)`` with a float32 body is a float32 loop), and a weakly
typed body output takes the carry's dtype; any other change raises, naming the
carry element: ``while_loop: body_fun changed the carry element 1 from
float32[3] to float32[4]``.

**Reverse mode.** The templates (bottom of this file) call the helpers
``cond_vjp``, ``switch_vjp``, ``while_loop_vjp``, ``fori_loop_vjp``, ``scan_vjp``
and ``map_vjp``, which differentiate the user's callables with ``s2s.vjp`` (their
source is transformed like any user function) and run the reverse pass with the
control flow here, so they work eagerly and under ``jit``:

* ``cond``/``switch``: the vjp of the branch taken (its forward recomputed).
* ``fori_loop``/``scan``: a forward ``scan`` stacks the carry of every
  iteration, a reverse ``scan`` runs the body's vjp over them; ``map``: the
  body's vjp on every slice.
* ``while_loop``: eagerly the trips are recorded; under ``jit`` the carries go
  into a buffer of ``max_trips`` (1000) iterations and a longer loop gives NaN.

``cond`` and ``switch`` take ``*operands``, which a template cannot address one
by one, so their rules are on ``_cond``/``_switch`` (operands as one tuple),
which the public functions call. The rules differentiate operands and carries
only; values a callable closes over get their gradient because reverse mode first
passes them explicitly (``s2s/transforms/captures.py``: into the carry of a loop,
after the operands of a branch). The helpers' own derivatives (second order:
``hessian``, ``jacrev(grad)``, ``grad`` of ``grad``) are in ``control_flow_jvp``,
written as forward and reverse mode of the primal control flow; only
``while_loop_vjp`` has none and raises NotImplementedError (JAX has no reverse mode
of ``while_loop`` at all).
"""
import builtins
import contextlib
import functools
import operator
import threading

import numpy as np

from s2s.core import dtypes, hooks
from s2s.core.errors import S2SError
from s2s.core.tree_util import tree_flatten, tree_leaves
from s2s.lax import elementwise as _ew, structural as _st
from s2s.lax.debugging import debug_callback
from s2s.trace.staging import StagedTracer, StagingTrace
from s2s.core.primitive import (Primitive, ShapedArray, Tracer, _canonicalize_output, abstractify, d,
                                def_vjp, primitive_wrapper)

_add, _sub, _lt, _ne = (_ew.public[n] for n in ("add", "sub", "lt", "ne"))
_INT32 = np.dtype(np.int32)
_I32 = ShapedArray((), _INT32)


class ControlFlowError(S2SError, TypeError):
    """Callables of a control-flow function return values that do not fit together."""


# ---------------------------------------------------------------------------
# Callables as functions of flat leaves.


class _Fun:
    """A user callable seen as a function of flat leaves; a static parameter.

    ``in_tree`` is the structure of the callable's argument tuple. With ``pair``
    the callable returns ``(carry, y)`` (a scan body): the carry's leaves come
    first, then ``y``'s. With ``carry_tree`` its (carry) output must have that
    structure. Staging fills ``region`` (and friends) and may set ``convert``:
    dtypes the outputs are converted to.
    """

    def __init__(self, fun, in_tree, who, *, pair=False, carry_tree=None, strip=0):
        self.fun = fun
        self.in_tree = in_tree
        self.who = who  # "while_loop: body_fun", for messages
        self.pair = pair
        self.carry_tree = carry_tree
        self.strip = strip  # leading path components that are internal (fori's index)
        self.out_tree = None
        self.y_tree = None
        self.convert = None
        self.region = None
        self.cond_region = None
        self.in_avals = None
        self.out_avals = None

    def __repr__(self):
        return f"<{self.who} {getattr(self.fun, '__name__', type(self.fun).__name__)}>"

    def __call__(self, *leaves):
        out = self.fun(*self.in_tree.unflatten(leaves))
        if self.pair:
            if not isinstance(out, (tuple, list)) or len(out) != 2:
                got = type(out).__name__
                if isinstance(out, (tuple, list)):
                    got += f" of length {len(out)}"
                raise ControlFlowError(f"{self.who} must return a pair (carry, y), got {got}")
            carry, y = out
            out_leaves, tree = tree_flatten(carry)
            y_leaves, self.y_tree = tree_flatten(y)
        else:
            out_leaves, tree = tree_flatten(out)
            y_leaves = []
        if self.carry_tree is not None and tree != self.carry_tree:
            raise ControlFlowError(
                f"{self.who} must return a carry with the structure of the initial value, "
                f"{_tree_str(self.carry_tree, self.strip)}, but it returned "
                f"{_tree_str(tree, self.strip)}")
        self.out_tree = tree
        leaves = out_leaves + y_leaves
        if self.convert:
            leaves = [x if dt is None else _convert(x, dt) for x, dt in zip(leaves, self.convert)]
        return leaves


def _tree_str(tree, strip=0, leaves=None):
    """``(float32[3], [int32[]])`` for a structure (``*`` for leaves without avals)."""
    class _Show:
        def __init__(self, text):
            self.text = text

        def __repr__(self):
            return self.text
    n = tree.num_leaves
    shown = tree.unflatten([_Show(_aval_str(a) if leaves is not None else "*")
                            for a in (leaves if leaves is not None else [None] * n)])
    for _ in range(strip):
        shown = shown[1]
    return repr(shown)


def _aval_str(aval):
    return aval.strip_weak_type().str_short()


def _leaf_path(tree, index, strip=0):
    """Path components (ints, keys, field names) of leaf ``index`` of ``tree``."""
    path = []

    def walk(node, start):
        if node.num_leaves == 1 and node.node_type is None:  # a leaf
            return True
        offset = start
        for k, child in enumerate(node.children):
            if offset <= index < offset + child.num_leaves:
                if node.node_type == "namedtuple":
                    path.append("." + node.node_data._fields[k])
                elif isinstance(node.node_type, type) and issubclass(node.node_type, dict):
                    path.append(repr(node.node_data[k]))
                else:
                    path.append(k)
                return walk(child, offset)
            offset += child.num_leaves
        return True

    walk(tree, 0)
    return path[strip:]


def _element_str(tree, index, strip=0):
    path = _leaf_path(tree, index, strip)
    if not path:
        return "the carry"
    first, rest = path[0], path[1:]
    if isinstance(first, int) or first.startswith("."):
        text = str(first)
    else:
        text = f"[{first}]"
    for p in rest:
        text += p if isinstance(p, str) and p.startswith(".") else f"[{p}]"
    return f"the carry element {text}"


def _check_callable(who, name, fun):
    if not callable(fun):
        raise TypeError(f"{who}: {name} must be callable, got {type(fun).__name__} {fun!r}")


# ---------------------------------------------------------------------------
# Values: staged or not, conversions, zeros.


class _Escalate(Exception):
    """An eager rule met a staged value (a callable closes over one): stage instead."""

    def __init__(self, trace):
        super().__init__("internal: stage this control flow")
        self.trace = trace


def _top_trace(values):
    top = None
    for v in values:
        if isinstance(v, Tracer):
            t = v._trace
            if top is None or t.level > top.level:
                top = t
    return top


def _escalate_if_staged(values):
    for v in values:
        if isinstance(v, StagedTracer):
            raise _Escalate(v._trace)


def _captured_trace(fun, depth=0):
    """The innermost staging trace of a staged value ``fun`` closes over (or None)."""
    objs = []
    if isinstance(fun, functools.partial):
        objs = [fun.func, *fun.args, *fun.keywords.values()]
    else:
        for cell in getattr(fun, "__closure__", None) or ():
            try:
                objs.append(cell.cell_contents)
            except ValueError:  # an empty cell
                pass
        if hasattr(fun, "__self__") and not isinstance(fun.__self__, type):
            objs.append(fun.__self__)
    top = None
    for o in objs:
        if isinstance(o, (StagedTracer, tuple, list, dict)):
            t = _top_trace(v for v in tree_leaves(o) if isinstance(v, StagedTracer))
        elif callable(o) and depth < 3 and not isinstance(o, type):
            t = _captured_trace(o, depth + 1)
        else:
            t = None
        if t is not None and (top is None or t.level > top.level):
            top = t
    return top


def _convert(x, dt):
    if isinstance(x, Tracer):
        return x if x.dtype == dt and not x.weak_type else _st.convert_element_type(x, new_dtype=dt)
    return np.asarray(x, dt)


def _is_float(dt):
    return dtypes.is_inexact(dt)


# ---------------------------------------------------------------------------
# Carries: shapes and dtypes stay; weak types adapt.


def _join_carry(fun, avals, out_avals):
    """``(carry avals, output conversions, changed)`` after one body call, or a clear error.

    A weakly typed carry whose body output has another dtype takes that dtype
    (``changed``: trace again); a weakly typed output is converted to the carry's
    dtype. Anything else that changes is an error naming the element.
    """
    new, convert, changed = [], [], False
    for k, (a, o) in enumerate(zip(avals, out_avals)):
        if a.shape == o.shape and a.dtype == o.dtype:
            new.append(a)
            convert.append(None)
            continue
        if a.shape == o.shape:
            if a.weak_type and dtypes.result_type(a, o) == o.dtype:
                new.append(ShapedArray(a.shape, o.dtype, o.weak_type))
                convert.append(None)
                changed = True
                continue
            if o.weak_type and dtypes.result_type(a, o) == a.dtype:
                new.append(a)
                convert.append(a.dtype)
                continue
        raise ControlFlowError(
            f"{fun.who} changed {_element_str(fun.carry_tree, k, fun.strip)} from "
            f"{_aval_str(a)} to {_aval_str(o)}; a loop carry must keep its shape and dtype "
            "(build it with its final shape up front, or convert with .astype)")
    return new, convert, changed


def _eager_carry(fun, avals, outs):
    """The next eager carry (weak outputs converted) and its avals."""
    new, convert, _ = _join_carry(fun, avals, [abstractify(o) for o in outs])
    return [o if dt is None else _convert(o, dt) for o, dt in zip(outs, convert)], new


def _check_pred_out(fun, outs):
    if len(outs) != 1:
        raise ControlFlowError(f"{fun.who} must return a boolean scalar, but it returned "
                               f"{_tree_str(fun.out_tree)}")
    aval = outs[0] if isinstance(outs[0], ShapedArray) else abstractify(outs[0])
    if aval.shape != () or aval.dtype != dtypes.bool_:
        raise ControlFlowError(f"{fun.who} must return a boolean scalar, but it returned "
                               f"{_aval_str(aval)}")


# ---------------------------------------------------------------------------
# Binding: staged on a staging trace, else Python semantics.


def _apply(prim, operands, params, stage):
    """Binds ``prim``: ``stage(trace, ...)`` on the innermost staging trace of the operands
    or of values the callables close over, else ``impl`` (Python control flow)."""
    trace = _top_trace(operands)
    if trace is None:
        for value in params.values():
            for f in (value if isinstance(value, tuple) else (value,)):
                if isinstance(f, _Fun):
                    t = _captured_trace(f.fun)
                    if t is not None and (trace is None or t.level > trace.level):
                        trace = t
    if isinstance(trace, StagingTrace):
        return stage(trace, list(operands), params)
    try:
        outs = prim.impl(*operands, **params)
    except _Escalate as e:
        return stage(e.trace, list(operands), params)
    return [_canonicalize_output(o) for o in outs]


def _no_region(prim):
    return NotImplementedError(
        f"primitive {prim} is staged by its public function (s2s.lax.cond, switch, while_loop, "
        "fori_loop, scan, map), which traces the callables first; bind it through those")


# ---------------------------------------------------------------------------
# cond: ``stablehlo.case`` on an int32 index (cond and switch).

cond_p = Primitive("cond", multiple_results=True)


def _cond_impl(index, *operands, branches):
    i = builtins.min(builtins.max(int(index), 0), len(branches) - 1)
    outs = branches[i](*operands)
    _escalate_if_staged(outs)
    return outs


def _cond_abstract(index, *operands, branches):
    if index.shape != () or not dtypes.is_integer(index.dtype):
        raise ControlFlowError(f"cond: the branch index must be an integer scalar, got "
                               f"{_aval_str(index)}")
    if any(b.out_avals is None for b in branches):
        raise _no_region(cond_p)
    return list(branches[0].out_avals)


def _cond_lower(ctx, index, *operands, branches):
    return ctx.op("stablehlo.case", [ctx.convert(index, _INT32)],
                  regions=[b.region for b in branches])


cond_p.def_impl(_cond_impl)
cond_p.def_abstract_eval(_cond_abstract)
cond_p.def_lower(_cond_lower)


def _stage_cond(trace, operands, params):
    branches = params["branches"]
    index, *ops = [trace.to_tracer(o) for o in operands]
    traced = [trace.trace_region([], lambda b=b: b(*ops)) for b in branches]
    first = branches[0]
    for b, (_, outs) in zip(branches[1:], traced[1:]):
        if b.out_tree != first.out_tree or any(x.shape != y.shape for x, y in
                                               zip(outs, traced[0][1])):
            raise _branch_mismatch(first, traced[0][1], b, outs)
    target = []
    for k in range(len(traced[0][1])):
        col = [outs[k] for _, outs in traced]
        strong = {a.dtype for a in col if not a.weak_type}
        dt = dtypes.result_type(*col)
        if len(strong) > 1 or (strong and dt not in strong):
            i = next(j for j, a in enumerate(col) if a.dtype != col[0].dtype)
            raise _branch_mismatch(first, traced[0][1], branches[i], traced[i][1])
        target.append(ShapedArray(col[0].shape, dt, not strong))
    for b, (text, outs) in zip(branches, traced):
        convert = [t.dtype if a.dtype != t.dtype else None for a, t in zip(outs, target)]
        if any(c is not None for c in convert):
            b.convert = convert
            text, outs = trace.trace_region([], lambda b=b: b(*ops))
        b.region, b.out_avals = text, target
    return trace.process_primitive(cond_p, [index, *ops], params)


def _branch_mismatch(a, a_avals, b, b_avals):
    if a.who == "cond: false_fun":  # name them in the order the user wrote them
        a, a_avals, b, b_avals = b, b_avals, a, a_avals
    name_a, name_b = a.who.split(": ", 1)[1], b.who.split(": ", 1)[1]
    who = a.who.split(": ", 1)[0]
    return ControlFlowError(
        f"{who}: {name_a} and {name_b} must return the same structure, shapes and dtypes, but "
        f"{name_a} returned {_tree_str(a.out_tree, leaves=a_avals)} and {name_b} returned "
        f"{_tree_str(b.out_tree, leaves=b_avals)}")


def _pred_index(pred):
    """``pred`` (a bool or integer scalar) as the int32 index of cond's branches."""
    aval = abstractify(pred)
    if aval.shape != ():
        raise TypeError(f"cond: pred must be a scalar, got an array of shape {aval.shape}")
    if aval.dtype != dtypes.bool_ and not dtypes.is_integer(aval.dtype):
        raise TypeError(f"cond: pred must be a boolean or integer scalar, got {aval.dtype.name}")
    if not isinstance(pred, Tracer):
        return np.asarray(1 if pred else 0, _INT32)
    if aval.dtype != dtypes.bool_:
        pred = _ne(pred, 0)
    return _st.convert_element_type(pred, new_dtype=_INT32)


def _switch_index(index, n):
    aval = abstractify(index)
    if aval.shape != () or not dtypes.is_integer(aval.dtype):
        raise TypeError(f"switch: index must be an integer scalar, got {_aval_str(aval)}")
    if not isinstance(index, Tracer):
        return np.asarray(builtins.min(builtins.max(int(index), 0), n - 1), _INT32)
    index = _st.convert_element_type(index, new_dtype=_INT32)
    return _st.clamp(np.int32(0), index, np.int32(n - 1))


def _case(index, funs, operands, who, names):
    leaves, in_tree = tree_flatten(tuple(operands))
    branches = tuple(_Fun(f, in_tree, f"{who}: {name}") for f, name in zip(funs, names))
    outs = _apply(cond_p, [index, *leaves], {"branches": branches}, _stage_cond)
    tree = next(b.out_tree for b in branches if b.out_tree is not None)
    return tree.unflatten(outs)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands)`` if ``pred`` else ``false_fun(*operands)``.

    ``pred`` is a boolean or integer scalar (nonzero is true); ``operands`` are
    pytrees of arrays. Under ``jit`` both branches are staged (a
    ``stablehlo.case``) and must return the same structure, shapes and dtypes;
    eagerly only the branch taken runs. The branches may use values they close
    over. Reverse mode differentiates the branch taken with respect to
    ``operands`` (recomputing its forward pass).

    >>> import numpy as np
    >>> from s2s import lax
    >>> lax.cond(True, lambda x: x + 1.0, lambda x: x - 1.0, np.float32(2.0))
    array(3., dtype=float32)
    >>> import s2s
    >>> s2s.jit(lambda p, x: lax.cond(p, lambda x: x * 2.0, lambda x: -x, x))(False, np.ones(2))
    array([-1., -1.], dtype=float32)
    """
    return _cond(pred, true_fun, false_fun, operands)


@primitive_wrapper(cond_p)
def _cond(pred, true_fun, false_fun, operands):
    """``cond`` with its operands as one tuple (the function its reverse-mode rule is for)."""
    _check_callable("cond", "true_fun", true_fun)
    _check_callable("cond", "false_fun", false_fun)
    return _case(_pred_index(pred), (false_fun, true_fun), operands, "cond",
                 ("false_fun", "true_fun"))


def switch(index, branches, *operands):
    """``branches[index](*operands)``, with ``index`` clamped into ``[0, len(branches) - 1]``.

    As ``cond`` (which it generalizes): under ``jit`` every branch is staged and
    must return the same structure, shapes and dtypes.

    >>> import numpy as np
    >>> from s2s import lax
    >>> fs = [lambda x: x, lambda x: x * 10, lambda x: x * 100]
    >>> [int(lax.switch(i, fs, 2)) for i in (-5, 1, 7)]
    [2, 20, 200]
    """
    return _switch(index, branches, operands)


def _switch(index, branches, operands):
    """``switch`` with its operands as one tuple (the function its reverse-mode rule is for)."""
    try:
        branches = list(branches)
    except TypeError:
        raise TypeError(f"switch: branches must be a sequence of callables, got "
                        f"{type(branches).__name__}") from None
    if not branches:
        raise ValueError("switch: branches must be a non-empty sequence of callables")
    for k, b in enumerate(branches):
        _check_callable("switch", f"branches[{k}]", b)
    return _case(_switch_index(index, len(branches)), branches, operands, "switch",
                 [f"branches[{k}]" for k in range(len(branches))])


# ---------------------------------------------------------------------------
# while: ``stablehlo.while``.

while_p = Primitive("while", multiple_results=True)


def _while_impl(*init, cond_fun, body_fun):
    carry = list(init)
    avals = [abstractify(x) for x in carry]
    while True:
        pred = cond_fun(*carry)
        _escalate_if_staged(pred)
        _check_pred_out(cond_fun, pred)
        if not pred[0]:
            break
        outs = body_fun(*carry)
        _escalate_if_staged(outs)
        carry, avals = _eager_carry(body_fun, avals, outs)
    return [_convert(x, a.dtype) for x, a in zip(carry, avals)]


def _while_abstract(*avals, cond_fun, body_fun):
    if body_fun.in_avals is None or cond_fun.region is None:
        raise _no_region(while_p)
    _check_operands("while_loop", avals, body_fun.in_avals)
    return list(body_fun.in_avals)


def _check_operands(who, avals, expected):
    for k, (a, e) in enumerate(zip(avals, expected)):
        if a.shape != e.shape or a.dtype != e.dtype:
            raise ControlFlowError(f"{who}: operand {k} is {_aval_str(a)} but the loop was "
                                   f"traced for {_aval_str(e)}")


def _while_lower(ctx, *init, cond_fun, body_fun):
    return ctx.op("stablehlo.while", list(init), regions=[cond_fun.region, body_fun.region])


while_p.def_impl(_while_impl)
while_p.def_abstract_eval(_while_abstract)
while_p.def_lower(_while_lower)


def _settle_carry(trace, fun, avals, extra_avals=()):
    """Traces ``fun`` until its carry types are fixed.

    Returns the carry avals, the output avals and the last region's text, or None
    when outputs must be converted (``fun.convert``, set here) and ``fun`` must be
    traced again.
    """
    for _ in range(8):
        fun.convert = None
        text, outs = trace.trace_region([*avals, *extra_avals], fun)
        n = len(avals)
        avals, convert, changed = _join_carry(fun, avals, outs[:n])
        if changed:
            continue
        if any(c is not None for c in convert):
            fun.convert = convert + [None] * (len(outs) - n)
            text = None
        return avals, outs, text
    raise ControlFlowError(f"{fun.who}: the carry types did not settle")  # pragma: no cover


def _stage_while(trace, operands, params):
    cond_fun, body_fun = params["cond_fun"], params["body_fun"]
    init = [trace.to_tracer(o) for o in operands]
    avals, _, body_fun.region = _settle_carry(trace, body_fun, [t.aval for t in init])
    if body_fun.region is None:
        body_fun.region, _ = trace.trace_region(avals, body_fun)
    cond_fun.region, outs = trace.trace_region(avals, cond_fun)
    _check_pred_out(cond_fun, outs)
    body_fun.in_avals = avals
    init = [_convert(t, a.dtype) for t, a in zip(init, avals)]
    return trace.process_primitive(while_p, init, params)


@primitive_wrapper(while_p)
def while_loop(cond_fun, body_fun, init_val):
    """Runs ``val = body_fun(val)`` while ``cond_fun(val)``; returns the final ``val``.

    ``init_val`` is a pytree of arrays; ``body_fun`` must return the same
    structure with the same shapes and dtypes (a Python scalar in ``init_val``
    takes the dtype the body gives it); ``cond_fun`` returns a boolean scalar.
    Under ``jit`` this is one ``stablehlo.while``, whatever the trip count.

    Reverse mode: eagerly the trips are recorded (unbounded); under ``jit`` the
    trip count is unknown while compiling, so the carries are stored in a
    buffer of at most ``max_trips=1000`` iterations (see ``while_loop_vjp``);
    a longer loop gives NaN gradients. Use ``fori_loop`` or ``scan`` when the
    trip count is known.

    >>> import numpy as np
    >>> from s2s import lax
    >>> lax.while_loop(lambda c: c[0] < 5, lambda c: (c[0] + 1, c[1] * 2.0), (0, np.float32(1)))
    (array(5, dtype=int32), array(32., dtype=float32))
    """
    _check_callable("while_loop", "cond_fun", cond_fun)
    _check_callable("while_loop", "body_fun", body_fun)
    leaves, tree = tree_flatten(init_val)
    in_tree = tree_flatten((init_val,))[1]
    params = {"cond_fun": _Fun(cond_fun, in_tree, "while_loop: cond_fun"),
              "body_fun": _Fun(body_fun, in_tree, "while_loop: body_fun", carry_tree=tree)}
    return tree.unflatten(_apply(while_p, leaves, params, _stage_while))


# ---------------------------------------------------------------------------
# scan: a ``stablehlo.while`` over an index that slices ``xs`` and stacks ``ys``.

scan_p = Primitive("scan", multiple_results=True)


def _index_leading(x, t):
    """``x[t]`` for a staged ``x`` and a staged int32 ``t``."""
    sliced = _st.dynamic_slice(x, [t] + [0] * (x.ndim - 1), (1,) + tuple(x.shape[1:]))
    return _st.reshape(sliced, new_sizes=tuple(x.shape[1:]))


def _update_leading(buf, y, t):
    """``buf`` with ``buf[t] = y`` (``t`` staged)."""
    y = _convert(y, buf.dtype)
    row = _st.broadcast_in_dim(y, shape=(1,) + tuple(buf.shape[1:]),
                               broadcast_dimensions=tuple(range(1, buf.ndim)))
    return _st.dynamic_update_slice(buf, row, [t] + [0] * (buf.ndim - 1))


def _row(x, t):
    """``x[t]`` for a static ``t`` (a static slice when ``x`` is a tracer)."""
    if not isinstance(x, Tracer):
        return x[t, ...]
    shape = tuple(x.shape)
    row = _st.slice(x, start_indices=(t,) + (0,) * (len(shape) - 1),
                    limit_indices=(t + 1,) + shape[1:])
    return _st.reshape(row, new_sizes=shape[1:])


def _stack(rows, aval):
    """Stacks per-iteration values (eager: NumPy; other traces: lax) as ``aval``."""
    if not any(isinstance(r, Tracer) for r in rows):
        return np.asarray(np.stack([np.asarray(r) for r in rows]), aval.dtype)
    parts = [_st.broadcast_in_dim(_convert(r, aval.dtype), shape=(1,) + aval.shape[1:],
                                  broadcast_dimensions=tuple(range(1, aval.ndim))) for r in rows]
    return _st.concatenate(*parts, dimension=0)


def _scan_impl(*args, body, length, reverse, num_carry, unroll):
    carry, xs = list(args[:num_carry]), args[num_carry:]
    avals = [abstractify(c) for c in carry]
    rows = []
    for k in range(length):
        t = length - 1 - k if reverse else k
        outs = body(*carry, *[_row(x, t) for x in xs])
        _escalate_if_staged(outs)
        carry, avals = _eager_carry(body, avals, outs[:num_carry])
        rows.append(outs[num_carry:])
    if reverse:
        rows.reverse()
    if rows:
        y_avals = [abstractify(y) for y in rows[-1]]
    else:  # the shapes of ys come from one call of the body on zeros
        outs = body(*carry, *[np.zeros(abstractify(x).shape[1:], abstractify(x).dtype) for x in xs])
        _escalate_if_staged(outs)
        y_avals = [abstractify(y) for y in outs[num_carry:]]
    ys = []
    for j, a in enumerate(y_avals):
        stacked = a.update(shape=(length,) + a.shape)
        if rows:
            ys.append(_stack([r[j] for r in rows], stacked))
        else:
            ys.append(np.zeros(stacked.shape, stacked.dtype))
    return [_convert(c, a.dtype) for c, a in zip(carry, avals)] + ys


def _scan_abstract(*avals, body, length, reverse, num_carry, unroll):
    if body.in_avals is None:
        raise _no_region(scan_p)
    _check_operands("scan", avals[:num_carry], body.in_avals)
    for x in avals[num_carry:]:
        if not x.shape or x.shape[0] != length:
            raise ControlFlowError(f"scan: every leaf of xs needs the leading axis {length}, got "
                                   f"{_aval_str(x)}")
    return list(body.in_avals) + [y.update(shape=(length,) + y.shape) for y in body.out_avals]


def _scan_lower(ctx, *args, body, length, reverse, num_carry, unroll):
    carry_avals = list(body.in_avals)
    buf_avals = [y.update(shape=(length,) + y.shape, weak_type=False) for y in body.out_avals]
    bufs = [ctx.constant(0, a) for a in buf_avals]
    outs = ctx.op("stablehlo.while", [ctx.constant(0, _I32), *args[:num_carry], *bufs],
                  [_I32, *carry_avals, *buf_avals], regions=[body.cond_region, body.region])
    return outs[1:]


scan_p.def_impl(_scan_impl)
scan_p.def_abstract_eval(_scan_abstract)
scan_p.def_lower(_scan_lower)


def _stage_scan(trace, operands, params):
    body, length, reverse, nc = (params[k] for k in ("body", "length", "reverse", "num_carry"))
    vals = [trace.to_tracer(o) for o in operands]
    init, xs = vals[:nc], vals[nc:]
    x_avals = [x.aval.update(shape=x.aval.shape[1:]) for x in xs]
    avals, outs, _ = _settle_carry(trace, body, [t.aval for t in init], x_avals)
    y_avals = outs[nc:]
    buf_avals = [y.update(shape=(length,) + y.shape, weak_type=False) for y in y_avals]

    def while_body(i, *rest):
        carry, bufs = rest[:nc], rest[nc:]
        if length == 0:  # never runs, but must be valid: no slicing of empty axes
            outs = body(*carry, *[np.zeros(a.shape, a.dtype) for a in x_avals])
            return [i, *outs[:nc], *bufs]
        t = _sub(np.int32(length - 1), i) if reverse else i
        outs = body(*carry, *[_index_leading(x, t) for x in xs])
        new_bufs = [_update_leading(b, y, t) for b, y in zip(bufs, outs[nc:])]
        return [_add(i, np.int32(1)), *outs[:nc], *new_bufs]

    loop_avals = [_I32, *avals, *buf_avals]
    body.region, _ = trace.trace_region(loop_avals, while_body)
    body.cond_region, _ = trace.trace_region(
        loop_avals, lambda i, *rest: [_lt(i, np.int32(length))])
    body.in_avals, body.out_avals = avals, y_avals
    init = [_convert(t, a.dtype) for t, a in zip(init, avals)]
    return trace.process_primitive(scan_p, [*init, *xs], params)


def _scan(f, init, xs, length, reverse, unroll, who, strip=0):
    xs_leaves, _ = tree_flatten(xs)
    lengths = []
    for x in xs_leaves:
        shape = abstractify(x).shape
        if not shape:
            raise ValueError(f"{who}: every leaf of xs needs a leading axis to scan over, got a "
                             "scalar")
        lengths.append(shape[0])
    if length is None:
        if not lengths:
            raise ValueError(f"{who}: give length= when xs has no arrays")
        if len(set(lengths)) > 1:
            raise ValueError(f"{who}: the leaves of xs have different leading axis sizes "
                             f"{sorted(set(lengths))}")
        length = lengths[0]
    else:
        length = operator.index(length)
        if any(n != length for n in lengths):
            raise ValueError(f"{who}: length={length} disagrees with the leading axis sizes of xs "
                             f"{sorted(set(lengths))}")
    if length < 0:
        raise ValueError(f"{who}: length must be nonnegative, got {length}")
    if isinstance(unroll, bool):
        unroll = length if unroll else 1
    unroll = operator.index(unroll)
    init_leaves, carry_tree = tree_flatten(init)
    in_tree = tree_flatten((init, xs))[1]
    body = _Fun(f, in_tree, who, pair=True, carry_tree=carry_tree, strip=strip)
    params = {"body": body, "length": length, "reverse": bool(reverse),
              "num_carry": len(init_leaves), "unroll": unroll}
    outs = _apply(scan_p, [*init_leaves, *xs_leaves], params, _stage_scan)
    nc = len(init_leaves)
    return carry_tree.unflatten(outs[:nc]), body.y_tree.unflatten(outs[nc:])


@primitive_wrapper(scan_p)
def scan(f, init, xs=None, length=None, reverse=False, unroll=1):
    """Loops ``carry, y = f(carry, x)`` over the leading axis of ``xs``; returns ``(carry, ys)``.

    ``init`` and ``xs`` are pytrees of arrays; ``ys`` stacks the ``y`` of every
    iteration along a new leading axis. ``length`` is needed when ``xs`` is
    ``None``; ``reverse=True`` walks ``xs`` (and fills ``ys``) from the end.
    ``unroll`` is accepted for JAX compatibility; XLA chooses the loop schedule.
    Under ``jit`` this is one ``stablehlo.while`` that slices ``xs`` and writes
    ``ys`` into preallocated buffers.

    Reverse mode stores the carry of every iteration and runs ``f``'s vjp
    backwards over them (see ``scan_vjp``).

    >>> import numpy as np
    >>> from s2s import lax
    >>> lax.scan(lambda c, x: (c + x, c * x), np.float32(0), np.arange(1.0, 4.0, dtype="float32"))
    (array(6., dtype=float32), array([0., 2., 9.], dtype=float32))
    """
    _check_callable("scan", "f", f)
    return _scan(f, init, xs, length, reverse, unroll, "scan: f")


def _fori_concrete(x):
    if isinstance(x, Tracer):
        return False
    try:
        aval = abstractify(x)
    except TypeError:
        return False
    return aval.shape == () and dtypes.is_integer(aval.dtype)


def _fori_dtype(lower, upper):
    for v in (lower, upper):
        aval = abstractify(v)
        if not dtypes.is_integer(aval.dtype) or aval.shape != ():
            raise TypeError(f"fori_loop: lower and upper must be integer scalars, got "
                            f"{_aval_str(aval)}")
    return dtypes.result_type(lower, upper)


def _fori_body(body_fun, carry, _):
    """``((i, x), _) -> ((i + 1, body_fun(i, x)), None)``: fori_loop as a scan."""
    i, x = carry
    return (i + 1, body_fun(i, x)), None


def fori_loop(lower, upper, body_fun, init_val):
    """``val = body_fun(i, val)`` for ``i`` in ``range(lower, upper)``; returns ``val``.

    With Python (or other concrete) integer bounds the trip count is known and
    the loop is a ``scan``; with staged bounds it is a ``while_loop``. Reverse
    mode runs ``body_fun``'s vjp backwards over stored carries (see
    ``fori_loop_vjp``).

    >>> from s2s import lax
    >>> lax.fori_loop(0, 4, lambda i, x: x + i, 0.5)
    array(6.5, dtype=float32)
    """
    _check_callable("fori_loop", "body_fun", body_fun)
    dt = _fori_dtype(lower, upper)
    if _fori_concrete(lower) and _fori_concrete(upper):
        n = builtins.max(int(upper) - int(lower), 0)
        start = np.asarray(int(lower), dt)
        (_, out), _ = _scan(functools.partial(_fori_body, body_fun), (start, init_val), None, n,
                            False, 1, "fori_loop: body_fun", strip=1)
        return out
    lower, upper = _convert(lower, dt), _convert(upper, dt)
    leaves, tree = tree_flatten((lower, init_val))
    in_tree = tree_flatten(((lower, init_val),))[1]
    params = {"cond_fun": _Fun(lambda c: c[0] < upper, in_tree, "fori_loop: cond"),
              "body_fun": _Fun(lambda c: (c[0] + 1, body_fun(c[0], c[1])), in_tree,
                               "fori_loop: body_fun", carry_tree=tree, strip=1)}
    _, out = tree.unflatten(_apply(while_p, leaves, params, _stage_while))
    return out


def _map_body(f, carry, x):
    """``(carry, x) -> (carry, f(x))``: map as a scan."""
    return carry, f(x)


def map(f, xs, *, batch_size=None):  # noqa: A001 (jax.lax's name)
    """``f`` applied to every slice of ``xs`` along its leading axis, results stacked.

    ``xs`` is a pytree of arrays with a common leading axis; a ``scan`` without
    a carry. With ``batch_size``, ``f`` runs vmapped over chunks of that many
    slices (the last, shorter chunk on its own), as in JAX: same values, fewer
    and larger steps.

    >>> import numpy as np
    >>> from s2s import lax
    >>> lax.map(lambda x: x * x, np.arange(4, dtype="int32"))
    array([0, 1, 4, 9], dtype=int32)
    >>> lax.map(lambda x: x * x, np.arange(5, dtype="int32"), batch_size=2)
    array([ 0,  1,  4,  9, 16], dtype=int32)
    """
    _check_callable("map", "f", f)
    if batch_size is not None:
        return _map_in_chunks(f, xs, batch_size)
    _, ys = _scan(functools.partial(_map_body, f), None, xs, None, False, 1, "map: f")
    return ys


def check_batch_size(batch_size):
    """Raises unless ``batch_size`` (of ``lax.map``) is a positive integer.

    >>> check_batch_size(0)
    Traceback (most recent call last):
    ...
    ValueError: lax.map: batch_size must be a positive integer, got 0
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size < 1:
        raise ValueError(f"lax.map: batch_size must be a positive integer, got {batch_size!r}")


def _map_in_chunks(f, xs, batch_size):
    """``map(f, xs, batch_size=b)``: ``vmap(f)`` over ``(n // b, b, ...)`` chunks, then the rest."""
    check_batch_size(batch_size)
    leaves, tree = tree_flatten(xs)
    if not leaves:
        raise ValueError("lax.map: xs has no arrays to map over")
    n = np.shape(leaves[0])[0]
    full, rest = divmod(n, int(batch_size))
    batched = hooks.vmap(f)
    parts = []
    if full:
        chunks = tree.unflatten([_st.reshape(x[:full * batch_size] if rest else x,
                                             new_sizes=(full, batch_size) + tuple(np.shape(x)[1:]))
                                 for x in leaves])
        ys, out_tree = tree_flatten(map(batched, chunks))
        parts.append([_st.reshape(y, new_sizes=(full * batch_size,) + tuple(np.shape(y)[2:]))
                      for y in ys])
    if rest:
        ys, out_tree = tree_flatten(batched(tree.unflatten([x[full * batch_size:] for x in leaves])))
        parts.append(ys)
    if len(parts) == 1:
        return out_tree.unflatten(parts[0])
    return out_tree.unflatten([_st.concatenate(a, b, dimension=0) for a, b in zip(*parts)])


public = {"cond": cond, "switch": switch, "while_loop": while_loop, "fori_loop": fori_loop,
          "scan": scan, "map": map}


# ---------------------------------------------------------------------------
# Reverse mode: helpers the templates call.
#
# Each helper gets the output cotangent ``ct`` (``None`` parts are zeros, as in
# generated adjoint code), the primal output ``ans`` and the call's arguments,
# and returns the cotangents of the differentiable arguments. User callables are
# differentiated with ``s2s.vjp`` (their forward pass is recomputed); loops run
# backwards with the control flow above, so the helpers stage under ``jit``.

WHILE_MAX_TRIPS = 1000  # documented default bound of while_loop_vjp under jit


def _full(aval, value, like):
    """``value`` everywhere in ``aval`` (a broadcast scalar when ``like`` is staged)."""
    if isinstance(like, StagedTracer):
        scalar = like._trace.to_tracer(np.full((), value, aval.dtype))
        if not aval.shape:
            return scalar
        return _st.broadcast_in_dim(scalar, shape=aval.shape, broadcast_dimensions=())
    return np.full(aval.shape, value, aval.dtype)


def _zeros_like(x):
    return _full(abstractify(x), 0, x)


def _fill_ct(like, ct):
    """``ct`` as a cotangent of ``like`` (pytrees): ``None`` parts and float0 leaves become
    zeros, and every leaf takes ``like``'s dtype (non-float leaves are always zero)."""
    if like is None:
        return None
    if isinstance(like, (tuple, list)):
        parts = [None] * len(like) if ct is None else list(ct)
        out = [_fill_ct(a, c) for a, c in zip(like, parts)]
        return type(like)(*out) if hasattr(type(like), "_fields") else type(like)(out)
    if isinstance(like, dict):
        get = (lambda k: None) if ct is None else ct.get
        return type(like)((k, _fill_ct(v, get(k))) for k, v in like.items())
    leaves, tree = tree_flatten(like)
    if tree.num_nodes > 1:  # a registered pytree class
        cts = [None] * len(leaves) if ct is None else tree.flatten_up_to(ct)
        return tree.unflatten(_fill_ct(a, c) for a, c in zip(leaves, cts))
    aval = abstractify(like)
    if ct is None or not _is_float(aval.dtype) or getattr(ct, "dtype", None) == _FLOAT0:
        return _zeros_like(like)
    if isinstance(ct, Tracer) or isinstance(like, StagedTracer):
        ct = _convert(ct, aval.dtype)
        if ct.shape != aval.shape:
            dims = tuple(range(aval.ndim - ct.ndim, aval.ndim))
            ct = _st.broadcast_in_dim(ct, shape=aval.shape, broadcast_dimensions=dims)
        return ct
    return np.broadcast_to(np.asarray(ct, aval.dtype), aval.shape)


_FLOAT0 = np.dtype([("float0", np.void, 0)])


def _pullback(fun, primals, ct):
    """Cotangents of ``primals`` (a tuple) given ``ct`` on ``fun(*primals)``, by ``s2s.vjp``."""
    out, f_vjp = hooks.vjp(fun, *primals)
    return _fill_ct(tuple(primals), f_vjp(_fill_ct(out, ct)))


def _is_staged(*trees, funs=()):
    """True when any leaf is staged or any of ``funs`` closes over a staged value."""
    if any(isinstance(v, StagedTracer) for v in tree_leaves(trees)):
        return True
    return any(_captured_trace(f) is not None for f in funs)


def _branch_pullback(branch, ct, operands):
    """``(ct, operands) -> cotangents of operands`` for one ``switch`` branch."""
    return _pullback(branch, tuple(operands), ct)


def switch_vjp(ct, index, branches, operands):
    """Cotangents of ``operands`` for ``switch(index, branches, *operands)``.

    The vjp of the branch taken, through ``s2s.vjp`` of that branch, chosen
    with ``switch`` itself (so under ``jit`` every branch's vjp is staged and
    the one taken runs). Cost: one forward and one backward pass of the branch
    taken.
    """
    branches = list(branches)
    pullbacks = [functools.partial(_branch_pullback, b) for b in branches]
    return _switch(index, pullbacks, (ct, tuple(operands)))


def cond_vjp(ct, pred, true_fun, false_fun, operands):
    """Cotangents of ``operands`` for ``cond(pred, true_fun, false_fun, *operands)``.

    As ``switch_vjp``: the vjp of the branch taken (its forward pass recomputed).
    """
    return switch_vjp(ct, _pred_index(pred), (false_fun, true_fun), operands)


def _fori_stored(body_fun, x, i):
    """``(x, i) -> (body_fun(i, x), x)``: fori_loop's forward pass keeping each carry."""
    return body_fun(i, x), x


def fori_loop_vjp(ct, ans, lower, upper, body_fun, init_val, max_trips=None):
    """Cotangent of ``init_val`` for ``fori_loop(lower, upper, body_fun, init_val)``.

    With concrete bounds the forward pass is a ``scan`` that stacks the carry
    of every iteration, and a reverse ``scan`` runs ``body_fun``'s vjp over
    them. With staged bounds the carries go into a buffer of ``max_trips``
    iterations, as in ``while_loop_vjp``. Cost: two forward passes and one
    backward pass of ``body_fun`` per iteration; memory: one carry per iteration.
    """
    if max_trips is None:  # read now, so setting the module constant takes effect
        max_trips = WHILE_MAX_TRIPS
    if _fori_concrete(lower) and _fori_concrete(upper):
        dt = _fori_dtype(lower, upper)
        idx = np.arange(int(lower), builtins.max(int(upper), int(lower)), dtype=dt)
        _, carries = scan(functools.partial(_fori_stored, body_fun), init_val, idx)

        def backward(ct_x, step):
            i, x = step
            return _pullback(functools.partial(body_fun, i), (x,), ct_x)[0], None

        ct_init, _ = scan(backward, _fill_ct(ans, ct), (idx, carries), reverse=True)
        return ct_init
    dt = _fori_dtype(lower, upper)
    lower, upper = _convert(lower, dt), _convert(upper, dt)
    return _buffered_loop_vjp(
        ct, ans, init_val, lambda k, x: _lt(_add(lower, k), upper),
        lambda k, x: body_fun(_add(lower, k), x),
        lambda k, x, c: _pullback(functools.partial(body_fun, _add(lower, k)), (x,), c)[0],
        max_trips, "fori_loop")


def while_loop_vjp(ct, ans, cond_fun, body_fun, init_val, max_trips=None):
    """Cotangent of ``init_val`` for ``while_loop(cond_fun, body_fun, init_val)``.

    Eagerly the forward pass is run again, recording the carry of every trip
    (no bound), and ``body_fun``'s vjp runs backwards over them.

    Under ``jit`` the trip count is unknown while compiling: the forward pass
    stores the carries in a preallocated buffer of ``max_trips`` iterations
    (default 1000; memory ``max_trips`` times the carry), stopping there, and
    the backward pass is a loop over the trips taken. A loop that wants more
    than ``max_trips`` trips is detected at run time (``cond_fun`` still true
    after ``max_trips`` trips): compiled code cannot raise, so the cotangent is
    then all NaN. Cost: two forward passes and one backward pass of
    ``body_fun`` per trip.
    """
    if max_trips is None:  # read now, so setting the module constant takes effect
        max_trips = WHILE_MAX_TRIPS
    if not _is_staged(ct, ans, init_val, funs=(cond_fun, body_fun)):
        carries, x = [], init_val
        while True:
            go = cond_fun(x)
            if isinstance(go, StagedTracer):  # closes over a staged value after all
                break
            if not go:
                ct = _fill_ct(ans, ct)
                for x in reversed(carries):
                    (ct,) = _pullback(body_fun, (x,), ct)
                return ct
            carries.append(x)
            x = body_fun(x)
    return _buffered_loop_vjp(ct, ans, init_val, lambda k, x: cond_fun(x),
                              lambda k, x: body_fun(x),
                              lambda k, x, c: _pullback(body_fun, (x,), c)[0], max_trips,
                              "while_loop")


class TripBoundExceeded(S2SError, RuntimeError):
    """A compiled gradient of a loop ran more trips than its buffer holds.

    ``s2s.jit`` catches it, recompiles with a buffer for ``trips`` trips and runs the
    call again; it reaches the user only from code compiled some other way.
    """

    def __init__(self, who, trips, max_trips):
        self.trips = trips
        super().__init__(
            f"the gradient of a `{who}` loop under jit ran {trips} trips, more than the "
            f"{max_trips} its compiled buffer holds. Set s2s.lax.control_flow.WHILE_MAX_TRIPS "
            f"to at least {trips} before compiling, or write the loop as a for over range(n) "
            "with a static n")


_trip_floor = threading.local()


@contextlib.contextmanager
def trip_bound_at_least(n):
    """Within the block, staged loop gradients buffer at least ``n`` trips (``s2s.jit``
    sets it after a ``TripBoundExceeded``)."""
    old = getattr(_trip_floor, "value", 0)
    _trip_floor.value = builtins.max(old, n)
    try:
        yield
    finally:
        _trip_floor.value = old


def _check_trips(who, max_trips, trips):
    trips = int(trips)
    if trips > max_trips:
        raise TripBoundExceeded(who, trips, max_trips)


def _buffered_cond(keep_going, state):
    """Trip ``k`` of ``_buffered_loop_vjp``'s forward loop runs while the loop does."""
    k, x, _ = state
    return keep_going(k, x)


def _buffered_body(step, max_trips, state):
    """Trip ``k`` of ``_buffered_loop_vjp``'s forward loop: store the carry (while the
    buffer has room: the trips past it are only counted), then step."""
    k, x, bufs = state
    slot = _st.select_n(_lt(k, np.int32(max_trips)), np.int32(max_trips - 1), k)
    bufs = [_update_leading(b, leaf, slot) for b, leaf in zip(bufs, tree_leaves(x))]
    return _add(k, np.int32(1)), step(k, x), bufs


def _buffered_loop_vjp(ct, ans, init_val, keep_going, step, pull, max_trips, who):
    """Reverse pass of a loop with a run-time trip count: carries stored in a bounded buffer.

    ``keep_going(k, x)`` / ``step(k, x)`` run trip ``k`` forward; ``pull(k, x, ct)`` is
    its vjp. A loop that runs more than ``max_trips`` trips raises ``TripBoundExceeded``
    from the compiled code with the number of trips (``s2s.jit`` then recompiles with
    a buffer that large and reruns); its cotangent would be NaN.
    """
    max_trips = builtins.max(operator.index(max_trips), getattr(_trip_floor, "value", 0))
    if max_trips < 1:
        raise ValueError(f"{who}: max_trips must be positive, got {max_trips}")
    leaves, tree = tree_flatten(init_val)
    bufs = []
    for leaf in leaves:
        aval = abstractify(leaf)
        bufs.append(_full(ShapedArray((max_trips,) + aval.shape, aval.dtype), 0, leaf))
    trips, _, bufs = while_loop(functools.partial(_buffered_cond, keep_going),
                                functools.partial(_buffered_body, step, max_trips),
                                (np.int32(0), init_val, bufs))
    debug_callback(functools.partial(_check_trips, who, max_trips), trips)
    overflow = _lt(np.int32(max_trips), trips)
    n = _st.select_n(overflow, trips, np.int32(max_trips))

    def backward(j, ct_x):
        k = _sub(_sub(n, np.int32(1)), j)
        x = tree.unflatten([_index_leading(b, k) for b in bufs])
        return pull(k, x, ct_x)

    ct_init = fori_loop(np.int32(0), n, backward, _fill_ct(ans, ct))
    return _poison(ct_init, overflow)


def _poison(ct, flag):
    """``ct`` with every float leaf NaN where ``flag`` (a staged bool scalar) is true."""
    def leaf(c):
        aval = abstractify(c)
        if not _is_float(aval.dtype):
            return c
        return _st.select_n(flag, c, _full(aval, np.nan, flag))
    leaves, tree = tree_flatten(ct)
    return tree.unflatten([leaf(c) for c in leaves])


def _scan_stored(f, c, x):
    """``(c, x) -> (f(c, x)[0], c)``: scan's forward pass keeping each carry."""
    return f(c, x)[0], c


def scan_vjp(ct, ans, f, init, xs=None, length=None, reverse=False, unroll=1):
    """Cotangents ``(of init, of xs)`` for ``scan(f, init, xs, length, reverse, unroll)``.

    The forward pass is run again as a ``scan`` that stacks the carry of every
    iteration (``scan``'s own stacking, under ``jit`` too), then a ``scan`` in
    the other direction runs ``f``'s vjp over them. Cost: two forward passes
    and one backward pass of ``f`` per iteration; memory: one carry per iteration.
    """
    _, carries = scan(functools.partial(_scan_stored, f), init, xs, length, reverse)
    ct_final, ct_ys = _fill_ct(ans, ct)

    def backward(ct_c, step):
        c, x, ct_y = step
        return _pullback(f, (c, x), (ct_c, ct_y))

    return scan(backward, ct_final, (carries, xs, ct_ys), length, not reverse)


def map_vjp(ct, ans, f, xs):
    """Cotangent of ``xs`` for ``map(f, xs)``: ``f``'s vjp on every slice (a ``scan``).

    Cost: one forward and one backward pass of ``f`` per slice.
    """
    def backward(_, step):
        x, ct_y = step
        return None, _pullback(f, (x,), ct_y)[0]

    _, ct_xs = scan(backward, None, (xs, _fill_ct(ans, ct)))
    return ct_xs


# ---------------------------------------------------------------------------
# Reverse-mode templates (the ``vjp`` rules; ``lax`` is ``s2s.lax`` in generated code).

lax = None  # bound by the transformation



@def_vjp(_cond)
def _cond_rule(ans, pred, true_fun, false_fun, operands):
    d[operands] = lax.control_flow.cond_vjp(d[ans], pred, true_fun, false_fun, operands)


@def_vjp(_switch)
def _switch_rule(ans, index, branches, operands):
    d[operands] = lax.control_flow.switch_vjp(d[ans], index, branches, operands)


# ``cond`` and ``switch`` themselves have rules too, so a derivative calls the helpers
# directly instead of the forward and backward functions generated from their source,
# which take ``*operands`` (code vmap cannot batch by source: a Hessian would run them
# once per basis vector).

@def_vjp(cond)
def _cond_call_rule(ans, pred, true_fun, false_fun, *operands):
    d[operands] = lax.control_flow.cond_vjp(d[ans], pred, true_fun, false_fun, operands)


@def_vjp(switch)
def _switch_call_rule(ans, index, branches, *operands):
    d[operands] = lax.control_flow.switch_vjp(d[ans], index, branches, operands)


@def_vjp(while_loop)
def _while_loop_rule(ans, cond_fun, body_fun, init_val):
    d[init_val] = lax.control_flow.while_loop_vjp(d[ans], ans, cond_fun, body_fun, init_val)


@def_vjp(fori_loop)
def _fori_loop_rule(ans, lower, upper, body_fun, init_val):
    d[init_val] = lax.control_flow.fori_loop_vjp(d[ans], ans, lower, upper, body_fun, init_val)


@def_vjp(scan)
def _scan_rule(ans, f, init, xs=None, length=None, reverse=False, unroll=1):
    cts = lax.control_flow.scan_vjp(d[ans], ans, f, init, xs, length, reverse)
    d[init] = cts[0]
    d[xs] = cts[1]


@def_vjp(map)
def _map_rule(ans, f, xs, batch_size=None):
    d[xs] = lax.control_flow.map_vjp(d[ans], ans, f, xs)


# The reverse pass of while_loop is not differentiated (JAX has no reverse mode of
# while_loop at all): its rule raises, when an adjoint actually reaches it, an error that
# says so. The other helpers' derivatives are in control_flow_jvp.


def second_order_error(name):
    """Raises: the reverse pass of ``lax.<name>`` cannot be differentiated yet."""
    raise NotImplementedError(
        f"s2s cannot differentiate the reverse pass of lax.{name} yet (reverse mode of "
        f"reverse mode through lax control flow). Write the loop or branch as a Python "
        "loop or if statement, which grad differentiates to any order.")


@def_vjp(while_loop_vjp)
def _while_loop_vjp_rule(ans, ct, ans_, cond_fun, body_fun, init_val, max_trips=1000):
    d[ct] = lax.control_flow.second_order_error("while_loop")
    d[ans_] = lax.control_flow.second_order_error("while_loop")
    d[init_val] = lax.control_flow.second_order_error("while_loop")
