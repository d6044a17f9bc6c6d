"""Forward mode of ``lax.cond``/``switch``/``while_loop``/``fori_loop``/``scan``/``map``.

Each helper runs the same control-flow function on (primal, tangent) pairs: the
branches and bodies are replaced by their ``s2s.jvp``, so under ``jit`` the tangent
is one staged ``case``/``while`` alongside the primal (XLA removes the primal copy
the helper recomputes). Unlike reverse mode nothing is stored, so forward mode of a
``while_loop`` works whatever its trip count, as in JAX.
"""
import functools
import operator

from s2s.lax import control_flow as C
from s2s.core import hooks
from s2s.core.primitive import d, def_jvp
from s2s.core.tree_util import tree_map

materialize = None  # folded by the template instantiation


def _jvp(fun, primals, tangents):
    return hooks.jvp(fun, tuple(primals), tuple(tangents))


def _pair_branch(fun, pair):
    return _jvp(fun, pair[0], pair[1])


def cond_jvp(pred, true_fun, false_fun, operands, tangents):
    """The output tangent of ``lax.cond(pred, true_fun, false_fun, *operands)``.

    >>> import numpy as np
    >>> cond_jvp(True, lambda x: x * x, lambda x: -x, (np.float32(3.0),), (np.float32(1.0),))
    array(6., dtype=float32)
    """
    return switch_jvp(C._pred_index(pred), (false_fun, true_fun), operands, tangents)


def switch_jvp(index, branches, operands, tangents):
    """The output tangent of ``lax.switch(index, branches, *operands)``."""
    funs = [functools.partial(_pair_branch, b) for b in branches]
    return C._switch(index, funs, ((tuple(operands), tuple(tangents)),))[1]


def _while_body(body_fun, pair):
    return _jvp(body_fun, (pair[0],), (pair[1],))


def _while_cond(cond_fun, pair):
    return cond_fun(pair[0])


def while_loop_jvp(cond_fun, body_fun, init_val, tangent):
    """The output tangent of ``lax.while_loop``: the loop carries (value, tangent).

    >>> import numpy as np
    >>> while_loop_jvp(lambda x: x < 10.0, lambda x: x * 2.0, np.float32(1.0), np.float32(1.0))
    array(16., dtype=float32)
    """
    return C.while_loop(functools.partial(_while_cond, cond_fun), functools.partial(_while_body, body_fun),
                        (init_val, tangent))[1]


def _fori_body(body_fun, i, pair):
    return _jvp(functools.partial(body_fun, i), (pair[0],), (pair[1],))


def fori_loop_jvp(lower, upper, body_fun, init_val, tangent):
    """The output tangent of ``lax.fori_loop``."""
    return C.fori_loop(lower, upper, functools.partial(_fori_body, body_fun), (init_val, tangent))[1]


def _scan_body(f, carry, x):
    (c, x_), (dc, dx) = (carry[0], x[0]), (carry[1], x[1])
    (c2, y), (dc2, dy) = _jvp(f, (c, x_), (dc, dx))
    return (c2, dc2), (y, dy)


def scan_jvp(f, init, xs, length, reverse, unroll, tangent_init, tangent_xs):
    """The output tangent ``(carry tangent, ys tangent)`` of ``lax.scan``."""
    (_, dcarry), (_, dys) = C.scan(functools.partial(_scan_body, f), (init, tangent_init),
                                   (xs, tangent_xs), length, reverse, unroll)
    return dcarry, dys


def _map_fun(f, pair):
    return _jvp(f, (pair[0],), (pair[1],))


def map_jvp(f, xs, tangent):
    """The output tangent of ``lax.map``."""
    return C.map(functools.partial(_map_fun, f), (xs, tangent))[1]


def directional_pullback(fun, operands, tangents, ct):
    """The gradient of ``<ct, J(operands) tangents>`` in the operands (J: ``fun``'s
    Jacobian), by s2s's own vjp of its jvp: the derivative of the pullback ``J^T ct`` in
    the direction ``tangents`` (second derivatives are symmetric)."""
    def directional(*xs):
        return _jvp(fun, xs, tangents)[1]
    return C._pullback(directional, tuple(operands), ct)


def pullback_tangent(branch, ct, operands, tangent_ct, tangents):
    """The tangent of ``(ct, operands) -> J(operands)^T ct``: ``J^T dct`` plus the
    derivative of the pullback in the operands (``directional_pullback``)."""
    by_ct = C._pullback(branch, tuple(operands), tangent_ct)
    by_operands = directional_pullback(branch, operands, tuple(tangents), ct)
    return tree_map(operator.add, by_ct, by_operands)


def switch_vjp_jvp(ct, index, branches, operands, tangent_ct, tangents):
    """The output tangent of ``switch_vjp`` (forward over reverse, a Hessian through
    ``lax.cond``/``switch``): one staged ``case`` of the branch pullbacks' tangents."""
    funs = [functools.partial(pullback_tangent, b) for b in branches]
    return C._switch(index, funs, (ct, tuple(operands), tangent_ct, tuple(tangents)))


def cond_vjp_jvp(ct, pred, true_fun, false_fun, operands, tangent_ct, tangents):
    """The output tangent of ``cond_vjp`` (see ``switch_vjp_jvp``)."""
    return switch_vjp_jvp(ct, C._pred_index(pred), (false_fun, true_fun), operands, tangent_ct, tangents)


@def_jvp(C.switch_vjp)
def _switch_vjp_rule(ans, ct, index, branches, operands):
    d[ans] = lax.control_flow_jvp.switch_vjp_jvp(ct, index, branches, operands, materialize(d[ct], ct),
                                                 materialize(d[operands], operands))


@def_jvp(C.cond_vjp)
def _cond_vjp_rule(ans, ct, pred, true_fun, false_fun, operands):
    d[ans] = lax.control_flow_jvp.cond_vjp_jvp(ct, pred, true_fun, false_fun, operands,
                                               materialize(d[ct], ct), materialize(d[operands], operands))


@def_jvp(C._cond)
def _cond_rule(ans, pred, true_fun, false_fun, operands):
    d[ans] = lax.control_flow_jvp.cond_jvp(pred, true_fun, false_fun, operands, d[operands])


@def_jvp(C._switch)
def _switch_rule(ans, index, branches, operands):
    d[ans] = lax.control_flow_jvp.switch_jvp(index, branches, operands, d[operands])


@def_jvp(C.while_loop)
def _while_loop_rule(ans, cond_fun, body_fun, init_val):
    d[ans] = lax.control_flow_jvp.while_loop_jvp(cond_fun, body_fun, init_val, d[init_val])


@def_jvp(C.fori_loop)
def _fori_loop_rule(ans, lower, upper, body_fun, init_val):
    d[ans] = lax.control_flow_jvp.fori_loop_jvp(lower, upper, body_fun, init_val, d[init_val])


@def_jvp(C.scan)
def _scan_rule(ans, f, init, xs=None, length=None, reverse=False, unroll=1):
    d[ans] = lax.control_flow_jvp.scan_jvp(f, init, xs, length, reverse, unroll,
                                           materialize(d[init], init), materialize(d[xs], xs))


@def_jvp(C.map)
def _map_rule(ans, f, xs, batch_size=None):
    d[ans] = lax.control_flow_jvp.map_jvp(f, xs, d[xs])


from s2s import lax  # noqa: E402  (lax.control_flow_jvp in the templates)
