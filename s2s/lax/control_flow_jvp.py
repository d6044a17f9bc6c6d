"""Forward mode of ``lax.cond``/``switch``/``while_loop``/``fori_loop``/``scan``/``map``.

Each helper runs the same control-flow function on (primal, tangent) pairs: the
branches and bodies are replaced by their ``s2s.jvp``, so under ``jit`` the tangent
is one staged ``case``/``while`` alongside the primal (XLA removes the primal copy
the helper recomputes). Unlike reverse mode nothing is stored, so forward mode of a
``while_loop`` works whatever its trip count, as in JAX.

Second order: the reverse-pass helpers of ``control_flow`` (``scan_vjp``,
``fori_loop_vjp``, ``map_vjp``, ``cond_vjp``, ``switch_vjp``) get jvp rules (forward
over reverse: ``hessian``, ``jacfwd(grad)``) and vjp rules (reverse over reverse:
``jacrev(grad)``, ``grad`` of ``grad``) here, built from the forward and reverse mode
of the primal loop or branch, so they compose to any order.
"""
import functools
import operator

from s2s.lax import control_flow as C
from s2s.core import hooks
from s2s.core.primitive import d, def_jvp, def_vjp
from s2s.core.tree_util import tree_map

materialize = None  # folded by the template instantiation


def _jvp(fun, primals, tangents):
    return hooks.jvp(fun, tuple(primals), tuple(tangents))


# vmap batches this module by its source (``batch._BATCHED_BY_SOURCE``), so a Hessian
# (vmap of the jvp of a reverse pass) runs each loop once on batched values; its calls
# into differentiation (``_jvp``, ``_pullback``, ``_pullback_of_pair``) and ``_add_trees``
# have batch rules in ``s2s.transforms.batch_support``.

def _pullback(fun, primals, ct):
    return C._pullback(fun, primals, ct)


def _pullback_of_pair(fun, operands, tangents, ct):
    """Cotangents of ``operands`` given ``ct`` on ``fun(*operands, *tangents)``; the two
    tuples are joined here, not in batched source (where one may be unbatched)."""
    return _pullback(fun, operands + tangents, ct)[:len(operands)]


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
    """The output tangent of ``lax.switch(index, branches, *operands)`` (``operands`` and
    ``tangents``: tuples; not converted here, where vmap batches the source: ``tuple``
    of a batched value would run once per example)."""
    funs = [functools.partial(_pair_branch, b) for b in branches]
    return C._switch(index, funs, ((operands, tangents),))[1]


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


def _tangent_of(fun, operands, tangents):
    """``J(operands) tangents`` (J: ``fun``'s Jacobian)."""
    return _jvp(fun, operands, tangents)[1]


def directional_pullback(fun, operands, tangents, ct):
    """The gradient of ``<ct, J(operands) tangents>`` in the operands (tuples; J: ``fun``'s
    Jacobian), by s2s's own vjp of its jvp: the derivative of the pullback ``J^T ct`` in
    the direction ``tangents`` (second derivatives are symmetric). The jvp is a function
    of operands and tangents together, not a closure over the tangents: under vmap those
    vary per example, and a closure over them could not be batched as one function."""
    return _pullback(functools.partial(_tangent_of, fun), (operands, tangents), ct)[0]


def pullback_tangent(branch, ct, operands, tangent_ct, tangents):
    """The tangent of ``(ct, operands) -> J(operands)^T ct``: ``J^T dct`` plus the
    derivative of the pullback in the operands (``directional_pullback``; ``operands``
    and ``tangents`` tuples)."""
    by_ct = _pullback(branch, operands, tangent_ct)
    by_operands = directional_pullback(branch, operands, tangents, ct)
    return _add_trees(by_ct, by_operands)


def transpose_pullback(fun, operands, ct, w):
    """Cotangents ``(of ct, of operands)`` of ``r = J(operands)^T ct`` given the
    cotangent ``w`` of ``r`` (J: ``fun``'s Jacobian): ``J w`` for ``ct``, and the
    directional pullback ``d/doperands <ct, J w>`` for the operands. Reverse mode of a
    reverse pass is thus the forward and reverse mode of the primal ``fun``."""
    w = C._fill_ct(operands, w)
    by_ct = _jvp(fun, operands, w)[1]
    return by_ct, directional_pullback(fun, operands, w, ct)


# The reverse pass of a loop, differentiated: with ``fun`` the loop as a function of its
# operands and ``tangent_fun(*operands, *tangents)`` its jvp (``J t``, an explicit loop
# of (value, tangent) pairs), the tangent of ``J^T ct`` is ``J^T dct`` plus
# ``d/doperands <ct, J t>``, the pullback of ``tangent_fun``; so every pass is an
# ordinary ``scan``/``fori_loop`` of generated functions that reverse mode goes
# through with its own rules, eagerly and under jit.


def _add_trees(a, b):
    return tree_map(operator.add, a, b)


def _loop_vjp_jvp(fun, tangent_fun, ct, operands, tangent_ct, tangents):
    """The tangent of ``fun``'s pullback ``(ct, operands) -> J^T ct`` (``operands`` and
    ``tangents``: tuples)."""
    n = len(operands)
    by_ct = _pullback(fun, operands, tangent_ct)
    by_operands = _pullback_of_pair(tangent_fun, operands, tangents, ct)
    return _add_trees(by_ct, by_operands)


def _loop_vjp_transpose(tangent_fun, w, ct, operands):
    """Cotangents ``(of ct, of operands)`` of ``J^T ct`` given ``w`` on it."""
    n = len(operands)
    w = C._fill_ct(operands, w)
    by_operands = _pullback_of_pair(tangent_fun, operands, w, ct)
    return tangent_fun(*operands, *w), by_operands


def _scan_primal(f, length, reverse, init, xs=None):
    return C.scan(f, init, xs, length, reverse)


def _scan_tangent(f, length, reverse, init, xs, tangent_init, tangent_xs):
    return scan_jvp(f, init, xs, length, reverse, 1, tangent_init, tangent_xs)


def _scan_tangent_no_xs(f, length, reverse, init, tangent_init):
    return scan_jvp(f, init, None, length, reverse, 1, tangent_init, None)


def _scan_funs(f, init, xs, length, reverse):
    """``scan`` and its jvp as functions of the differentiable operands (``init``, and
    ``xs`` unless None), with those operands."""
    fun = functools.partial(_scan_primal, f, length, reverse)
    if xs is None:
        return fun, functools.partial(_scan_tangent_no_xs, f, length, reverse), (init,)
    return fun, functools.partial(_scan_tangent, f, length, reverse), (init, xs)


def _with_xs(cts, xs):
    """Operand cotangents as ``scan_vjp`` returns them: ``(of init, of xs)``."""
    return cts if xs is not None else (cts[0], None)


def scan_vjp_jvp(ct, f, init, xs, length, reverse, tangent_ct, tangent_init, tangent_xs):
    """The output tangent of ``scan_vjp`` (forward over reverse, a Hessian through
    ``lax.scan``)."""
    fun, tangent_fun, operands = _scan_funs(f, init, xs, length, reverse)
    tangents = (tangent_init,) if xs is None else (tangent_init, tangent_xs)
    return _with_xs(_loop_vjp_jvp(fun, tangent_fun, ct, operands, tangent_ct, tangents), xs)


def scan_vjp_transpose(w, ct, f, init, xs, length, reverse):
    """Cotangents ``(of ct, of init, of xs)`` of ``scan_vjp`` given ``w`` on its result
    (reverse over reverse)."""
    _, tangent_fun, operands = _scan_funs(f, init, xs, length, reverse)
    by_ct, by_operands = _loop_vjp_transpose(tangent_fun, w[:len(operands)], ct, operands)
    return (by_ct,) + _with_xs(by_operands, xs)


def _fori_primal(lower, upper, body_fun, init_val):
    return C.fori_loop(lower, upper, body_fun, init_val)


def _fori_tangent(lower, upper, body_fun, init_val, tangent):
    return fori_loop_jvp(lower, upper, body_fun, init_val, tangent)


def fori_loop_vjp_jvp(ct, lower, upper, body_fun, init_val, tangent_ct, tangent):
    """The output tangent of ``fori_loop_vjp`` (see ``scan_vjp_jvp``)."""
    return _loop_vjp_jvp(functools.partial(_fori_primal, lower, upper, body_fun),
                         functools.partial(_fori_tangent, lower, upper, body_fun),
                         ct, (init_val,), tangent_ct, (tangent,))[0]


def fori_loop_vjp_transpose(w, ct, lower, upper, body_fun, init_val):
    """Cotangents ``(of ct, of init_val)`` of ``fori_loop_vjp`` given ``w`` on its result."""
    by_ct, by_operands = _loop_vjp_transpose(functools.partial(_fori_tangent, lower, upper, body_fun),
                                             (w,), ct, (init_val,))
    return by_ct, by_operands[0]


def _map_primal(f, xs):
    return C.map(f, xs)


def map_vjp_jvp(ct, f, xs, tangent_ct, tangent):
    """The output tangent of ``map_vjp`` (see ``scan_vjp_jvp``)."""
    return _loop_vjp_jvp(functools.partial(_map_primal, f), functools.partial(map_jvp, f),
                         ct, (xs,), tangent_ct, (tangent,))[0]


def map_vjp_transpose(w, ct, f, xs):
    """Cotangents ``(of ct, of xs)`` of ``map_vjp`` given ``w`` on its result."""
    by_ct, by_operands = _loop_vjp_transpose(functools.partial(map_jvp, f), (w,), ct, (xs,))
    return by_ct, by_operands[0]


def _branch_transpose(branch, ct, operands, w):
    return transpose_pullback(branch, operands, ct, w)


def switch_vjp_transpose(w, ct, index, branches, operands):
    """Cotangents ``(of ct, of operands)`` of ``switch_vjp`` given ``w`` on its result: one
    staged ``case`` of the branches' ``transpose_pullback``."""
    funs = [functools.partial(_branch_transpose, b) for b in branches]
    return C._switch(index, funs, (ct, operands, C._fill_ct(operands, w)))


def cond_vjp_transpose(w, ct, pred, true_fun, false_fun, operands):
    """Cotangents ``(of ct, of operands)`` of ``cond_vjp`` (see ``switch_vjp_transpose``)."""
    return switch_vjp_transpose(w, ct, C._pred_index(pred), (false_fun, true_fun), operands)


def switch_vjp_jvp(ct, index, branches, operands, tangent_ct, tangents):
    """The output tangent of ``switch_vjp`` (forward over reverse, a Hessian through
    ``lax.cond``/``switch``): one staged ``case`` of the branch pullbacks' tangents."""
    funs = [functools.partial(pullback_tangent, b) for b in branches]
    return C._switch(index, funs, (ct, operands, tangent_ct, tangents))


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


@def_jvp(C.scan_vjp)
def _scan_vjp_rule(ans, ct, ans_, f, init, xs=None, length=None, reverse=False, unroll=1):
    d[ans] = lax.control_flow_jvp.scan_vjp_jvp(ct, f, init, xs, length, reverse, materialize(d[ct], ct),
                                               materialize(d[init], init), materialize(d[xs], xs))


@def_jvp(C.fori_loop_vjp)
def _fori_loop_vjp_rule(ans, ct, ans_, lower, upper, body_fun, init_val, max_trips=1000):
    d[ans] = lax.control_flow_jvp.fori_loop_vjp_jvp(ct, lower, upper, body_fun, init_val,
                                                    materialize(d[ct], ct), materialize(d[init_val], init_val))


@def_vjp(C.scan_vjp)
def _scan_vjp_vjp_rule(ans, ct, ans_, f, init, xs=None, length=None, reverse=False, unroll=1):
    cts = lax.control_flow_jvp.scan_vjp_transpose(d[ans], ct, f, init, xs, length, reverse)
    d[ct] = cts[0]
    d[init] = cts[1]
    d[xs] = cts[2]


@def_vjp(C.fori_loop_vjp)
def _fori_loop_vjp_vjp_rule(ans, ct, ans_, lower, upper, body_fun, init_val, max_trips=1000):
    cts = lax.control_flow_jvp.fori_loop_vjp_transpose(d[ans], ct, lower, upper, body_fun, init_val)
    d[ct] = cts[0]
    d[init_val] = cts[1]


@def_jvp(C.map_vjp)
def _map_vjp_rule(ans, ct, ans_, f, xs):
    d[ans] = lax.control_flow_jvp.map_vjp_jvp(ct, f, xs, materialize(d[ct], ct), materialize(d[xs], xs))


@def_vjp(C.map_vjp)
def _map_vjp_vjp_rule(ans, ct, ans_, f, xs):
    cts = lax.control_flow_jvp.map_vjp_transpose(d[ans], ct, f, xs)
    d[ct] = cts[0]
    d[xs] = cts[1]


@def_vjp(C.switch_vjp)
def _switch_vjp_vjp_rule(ans, ct, index, branches, operands):
    cts = lax.control_flow_jvp.switch_vjp_transpose(d[ans], ct, index, branches, operands)
    d[ct] = cts[0]
    d[operands] = cts[1]


@def_vjp(C.cond_vjp)
def _cond_vjp_vjp_rule(ans, ct, pred, true_fun, false_fun, operands):
    cts = lax.control_flow_jvp.cond_vjp_transpose(d[ans], ct, pred, true_fun, false_fun, operands)
    d[ct] = cts[0]
    d[operands] = cts[1]


@def_jvp(C._cond)
def _cond_rule(ans, pred, true_fun, false_fun, operands):
    d[ans] = lax.control_flow_jvp.cond_jvp(pred, true_fun, false_fun, operands, d[operands])


@def_jvp(C._switch)
def _switch_rule(ans, index, branches, operands):
    d[ans] = lax.control_flow_jvp.switch_jvp(index, branches, operands, d[operands])


@def_jvp(C.cond)
def _cond_call_rule(ans, pred, true_fun, false_fun, *operands):
    d[ans] = lax.control_flow_jvp.cond_jvp(pred, true_fun, false_fun, operands, d[operands])


@def_jvp(C.switch)
def _switch_call_rule(ans, index, branches, *operands):
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
