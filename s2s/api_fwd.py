"""Forward mode: ``jvp`` and ``linearize`` (source transformation, see
``s2s.transforms.forward``)."""
import functools
import inspect

import numpy as np

from s2s.api import (_as_array, _fun_name, _grad_input, _leaf_dtype, _positional_params, _traced_vjp,
                     _with_user_location, vjp)
from s2s.core import hooks
from s2s.core.errors import TransformError, UnsupportedSyntaxError
from s2s.core.primitive import d, def_vjp, def_zero_derivative
from s2s.core.tree_util import tree_flatten, tree_map, tree_structure, treedef_is_leaf
from s2s.parse.source import get_source, NoSourceError, unwrap
from s2s.trace.record import RecordingTracer, record
from s2s.trace.staging import StagedTracer
from s2s.transforms.convert import converted, converted_for_grad
from s2s.transforms import forward, frontend, recorded_builds


def _check_pair(name, fun, primals, tangents):
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError(f"{name}({_fun_name(fun)}): primal and tangent arguments must be tuples or "
                        f"lists; found {type(primals).__name__} and {type(tangents).__name__}")
    if len(primals) != len(tangents):
        raise TypeError(f"{name}({_fun_name(fun)}): {len(primals)} primals but {len(tangents)} tangents")
    for i, (p, t) in enumerate(zip(primals, tangents)):
        if tree_structure(p) != tree_structure(t):
            raise TypeError(f"{name}({_fun_name(fun)}): primal {i} and its tangent have different "
                            f"structures: {tree_structure(p)} and {tree_structure(t)}")


def _differentiable(x):
    leaves = tree_flatten(x)[0]
    return any(_leaf_dtype(v).kind in "fc" for v in leaves)


def _as_tangent(t, p):
    """Tangent leaves as arrays of their primal's dtype (Python floats too)."""
    return tree_map(lambda tv, pv: np.asarray(tv, _leaf_dtype(pv)) if not hasattr(tv, "_trace") else tv,
                    t, p)


def _source_function(fun):
    """``(fn, bound)`` to transform: the function with source, or None for the traced path."""
    if getattr(fun, "__s2s_traced__", False):  # a Jacobian function: it calls vmap
        return None, ()
    try:
        fn, bound = unwrap(fun)
    except NoSourceError:  # a traced gradient, say
        return None, ()
    fn = frontend.through_rules(fn, ("jvp", "vjp"))
    try:
        get_source(fn)
    except NoSourceError:
        return None, ()
    return fn, bound


def jvp(fun, primals, tangents, has_aux=False):
    """``(fun(*primals), tangent_out)``: the Jacobian of ``fun`` at ``primals`` times ``tangents``.

    Forward mode as a source transformation: each statement of ``fun`` is followed by
    its tangent statement (``s2s.jvp_source`` shows the generated code). Python control
    flow runs as written. Without source, the call is recorded on its arguments and the
    recording is transformed.

    >>> import s2s, s2s.numpy as np
    >>> y, dy = s2s.jvp(np.sin, (0.0,), (2.0,))
    >>> y, dy
    (array(0., dtype=float32), array(2., dtype=float32))
    """
    _check_pair("jvp", fun, primals, tangents)
    primals = tuple(_grad_input(p) for p in primals)
    tangents = tuple(_as_tangent(t, p) for t, p in zip(tangents, primals))
    try:
        out, tangent_out = _jvp(fun, primals, tangents)
    except Exception as e:
        raise _with_user_location(e, "jvp", fun)
    out, tangent_out = tree_map(_as_array, out), tree_map(_as_array, tangent_out)
    if has_aux:
        return out[0], tangent_out[0], out[1]
    return out, tangent_out


def _jvp_build(fun, primals):
    """``(build, bound, active)``: the forward-mode build for these primals (build None:
    no source, the traced path)."""
    fn, bound = _source_function(fun)
    if fn is None:
        return None, (), ()
    params = _positional_params(fn)[len(bound):len(bound) + len(primals)]
    if len(params) < len(primals):
        if fn.__code__.co_flags & inspect.CO_VARARGS:
            return None, (), ()  # primals fall in *args: the call is recorded (as vjp does)
        raise TypeError(f"jvp({_fun_name(fun)}): {len(primals)} primals given but the function "
                        f"takes {len(params)} positional parameters")
    active = [i for i, p in enumerate(primals) if _differentiable(p)]
    return forward.build_jvp(fn, tuple(params[i] for i in active)), bound, active


def _jvp(fun, primals, tangents):
    try:
        build, bound, active = _jvp_build(fun, primals)
    except UnsupportedSyntaxError:
        raise  # the fence: a deliberate refusal, with the way out in its message
    except NoSourceError:  # a callee without source (s2s.vjp, say): the call is recorded
        return _traced_jvp(fun, primals, tangents)
    except TransformError as e:  # found but not understood: the call itself may trace
        try:
            return _traced_jvp(fun, primals, tangents)
        except Exception:  # noqa: BLE001 - the transformation's error says more
            raise e from None
    if build is None:
        return _traced_jvp(fun, primals, tangents)
    args = [tangents[i] for i in active] + list(bound) + list(primals)
    return staged_form(build.function, args)(*args)


def staged_form(fn, args):
    """``fn``, or under jit its control-flow-converted form: a Python ``if``/``while`` on a
    staged value in the generated forward-mode source becomes ``cond``/``while_loop``, its
    tangent statements riding along in the branches and the loop carry."""
    if any(isinstance(v, StagedTracer) for v in tree_flatten(args)[0]):
        return converted(fn)
    return fn


def _traced_jvp(fun, primals, tangents):
    """No source: record this call and transform the recording (path fixed to it)."""
    rec = record(fun, list(primals), {})
    names = rec.fn.__code__.co_varnames[:rec.fn.__code__.co_argcount]
    leaves = tree_flatten((list(primals), {}))[0]
    tleaves = tree_flatten((list(tangents), {}))[0]
    active = [i for i, v in enumerate(leaves) if _leaf_dtype(v).kind in "fc"]
    build = recorded_builds.build(forward.build_jvp, rec, tuple(names[i] for i in active))
    out, dout = build.function(*[tleaves[i] for i in active], *leaves)
    if rec.out_tree.num_leaves == 1:
        out, dout = [out], [dout]
    return rec.out_tree.unflatten(list(out)), rec.out_tree.unflatten(list(dout))


def jvp_source(fun, *primals):
    """The forward-mode source s2s generates for ``fun`` (differentiated with respect to
    all its positional parameters, or to those of ``primals`` that are floats).

    >>> import s2s
    >>> def f(x):
    ...     return x * x
    >>> print(s2s.jvp_source(f))
    def jvp_f(dx, x):
        # jvp of: return x * x
        result = x * x
        dresult = dx * x + x * dx
        return (result, dresult)
    <BLANKLINE>
    """
    fn, bound = _source_function(fun)
    if fn is None:
        raise TypeError(f"jvp_source({_fun_name(fun)}): the function has no source (it is traced "
                        "on each call)")
    params = _positional_params(fn)[len(bound):]
    if primals:
        params = [p for p, x in zip(params, primals) if _differentiable(x)]
    return "\n".join(forward.build_jvp(fn, tuple(params)).sources())


class LinearFunction:
    """The linear part of a ``linearize``d function: tangents in, output tangent out.

    It runs only the tangent statements, on the primal values computed once by
    ``linearize`` (kept as constants of its source, which ``s2s.source`` shows).
    """

    def __init__(self, recording, in_tree):
        self._rec = recording
        self._in_tree = in_tree
        # The recording takes and returns leaves: it is this function itself when each
        # tangent is one array and the output is one array.
        self._flat = (all(treedef_is_leaf(c) for c in in_tree.children[0].children)
                      and treedef_is_leaf(recording.out_tree))

    def __s2s_unwrap__(self):
        # Transformations of f_jvp (vmap, jit, grad, jvp of it) transform the recorded
        # linear source; with pytree tangents or outputs they trace its calls.
        if not self._flat:
            raise NoSourceError("linearize's f_jvp with pytree tangents or outputs is traced")
        return self._rec.fn, ()

    def __call__(self, *tangents):
        leaves, tree = tree_flatten((list(tangents), {}))
        if tree != self._in_tree:
            raise TypeError(f"linearized function: tangents have structure {tree}, expected "
                            f"{self._in_tree}")
        out = self._rec.fn(*leaves)
        if self._rec.out_tree.num_leaves == 1:
            out = [out]
        return self._rec.out_tree.unflatten(list(out))

    def source(self):
        """The generated source of the linear part."""
        return self._rec.source


def linearize(fun, *primals):
    """``(fun(*primals), f_jvp)`` with ``f_jvp(*tangents)`` the jvp at ``primals``.

    The forward-mode code runs once on the primals with the tangents recorded: what
    does not depend on the tangents is computed then, and ``f_jvp`` is the recorded
    linear part alone (``s2s.source(f_jvp)`` shows it), so it never recomputes the
    primal.

    >>> import s2s, s2s.numpy as np
    >>> y, f_jvp = s2s.linearize(np.sin, 0.0)
    >>> f_jvp(3.0)
    array(3., dtype=float32)
    """
    primals = tuple(_grad_input(p) for p in primals)
    if any(isinstance(v, (RecordingTracer, StagedTracer)) for v in tree_flatten(primals)[0]):
        # Inside a function being recorded (a transformation traces it): the linear part
        # cannot be a recording of its own (its constants would be the outer recording's
        # values), so f_jvp is jvp itself, recorded with the rest. Inside jit likewise: a
        # recording's tangents cannot pass through the cond/while_loop that a Python
        # `if`/`while` on staged data becomes (XLA drops the repeated primal work).
        out = jvp(fun, primals, primals)[0]
        return out, functools.partial(_jvp_tangent, fun, primals)
    example = tuple(tree_map(lambda p: np.zeros(np.shape(p), _leaf_dtype(p)), p) for p in primals)
    box = []

    def tangent_part(*tangents):
        out, dout = _jvp(fun, primals, tangents)
        box.append(out)
        return dout
    try:
        rec = record(tangent_part, list(example), {}, name="linearized")
    except Exception as e:
        raise _with_user_location(e, "linearize", fun)
    out = tree_map(lambda v: _as_array(getattr(v, "value", v)), box[0])
    return out, LinearFunction(rec, tree_flatten((list(example), {}))[1])


def _jvp_tangent(fun, primals, *tangents):
    return jvp(fun, primals, tangents)[1]


linearize.__s2s_traced__ = True  # called inside a transformed function: recorded


# ---------------------------------------------------------------------------
# Reverse mode of a call of jvp (grad of jvp): reverse mode of the generated jvp source.


def jvp_cotangents(g, fun, primals, tangents, has_aux=False):
    """``(cotangents of primals, cotangents of tangents)`` of ``jvp(fun, primals, tangents)``
    for the output cotangent ``g``: reverse mode of the generated forward-mode function."""
    if g is None:
        return None, None
    primals = tuple(_grad_input(p) for p in primals)
    tangents = tuple(_as_tangent(t, p) for t, p in zip(tangents, primals))
    build, bound, active = _jvp_build_or_none(fun, primals)
    if build is None:
        return _recorded_cotangents(g, fun, primals, tangents, has_aux)
    if has_aux:
        out, dout, aux = g
        g = ((out, aux), (dout, None))
    n = len(active)
    args = [tangents[i] for i in active] + list(bound) + list(primals)
    fn = build.function
    if any(isinstance(v, StagedTracer) for v in tree_flatten(args)[0]):
        # under jit a Python `if`/`while` on staged data must be converted, with what
        # its branches capture passed in, so reverse mode sees it
        fn = converted_for_grad(fn)
    _, pull = vjp(fn, *args)
    cts = pull(tuple(g))
    t_cts = [None] * len(tangents)
    for i, c in zip(active, cts[:n]):
        t_cts[i] = c
    return tuple(cts[n + len(bound):]), tuple(t_cts)


jvp_cotangents.maybe_none = True


def _jvp_build_or_none(fun, primals):
    """``_jvp_build``, its build None where jvp itself would record the call."""
    try:
        return _jvp_build(fun, primals)
    except UnsupportedSyntaxError:
        raise  # the fence: a deliberate refusal, with the way out in its message
    except (NoSourceError, TransformError):  # no source, or found but not understood
        return None, (), ()


def_zero_derivative(_jvp_build_or_none)  # builds, not values: transformations call it as is


def _recorded_cotangents(g, fun, primals, tangents, has_aux):
    """``jvp_cotangents`` where ``fun``'s forward-mode source cannot be built (no source,
    or a call forward mode has no rule for): the call of jvp, which then traces ``fun``,
    is recorded on these arguments and the recording differentiated (the path is fixed
    to the one this call took, as for grad's own fallback)."""
    pair = functools.partial(_jvp_outputs, fun, has_aux)
    _, pull = _traced_vjp(pair, (primals, tangents), False)
    return pull(g)


def _jvp_outputs(fun, has_aux, primals, tangents):
    return jvp(fun, primals, tangents, has_aux=has_aux)


@def_vjp(jvp)
def _jvp_rule(ans, fun, primals, tangents, has_aux=False):
    cts = jvp_cotangents(d[ans], fun, primals, tangents, has_aux)
    d[primals] = cts[0]
    d[tangents] = cts[1]


@def_vjp(hooks.jvp)
def _hooks_jvp_rule(ans, fun, primals, tangents):
    # lax.control_flow_jvp's loop and branch bodies call hooks.jvp: without this rule
    # reverse mode read hooks.jvp's source, whose call of the installed jvp it took for
    # a constant (grad of jvp through lax.while_loop gave zeros).
    cts = jvp_cotangents(d[ans], fun, primals, tangents, False)
    d[primals] = cts[0]
    d[tangents] = cts[1]


# Forward-mode code calls jvp for functions known only when it runs (see s2s.core.hooks).
hooks.install("jvp", jvp)
