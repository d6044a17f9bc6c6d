"""Stacks of transformations against their references (``composition_checker.py``): a
seeded sample of the checker's (function, stack) pairs, and a regression test for each
wrong answer the checker found.

``S2S_NUM_GENERATED_CASES`` scales the sample (pairs of two transformations);
``python tests/composition_checker.py --count N`` runs many more.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax

import composition_checker as checker
from cases import NUM_CASES


def _sample():
    """Pairs of two layers (deeper stacks take minutes: ``composition_checker.py``)."""
    out = []
    for depth, seed in ((2, 31),):
        for subject, names in checker.sample_cases(NUM_CASES, depth, seed, min_depth=depth):
            out.append(pytest.param(subject, names, id=f"{subject.name}:{'/'.join(names)}"))
    return out


@pytest.mark.parametrize("subject,names", _sample())
def test_stack_matches_reference(subject, names):
    result = checker.run_stack(subject, names)
    assert result.status != "FAIL", result.detail


# ---------------------------------------------------------------------------
# Regressions: each a wrong answer the checker found.

def _cube_and_double(v):
    return snp.sum(v ** 3), v * 2.0


def test_value_and_grad_with_aux_under_vmap_and_grad(x64):
    """value_and_grad(has_aux=True) gives ((value, aux), grads). Its generated function
    returned ((value, aux), (grads, aux)) and ``_call`` reshaped that; vmap of it and
    transformations of a function calling it read the raw structure: vmap returned
    (grads, aux) as the gradient, grad of ``gr * val`` silently differentiated
    ``(grads + aux) * val``."""
    xs = np.array([[0.5, 0.7], [0.2, 0.3], [1.0, 2.0]])
    vag = s2s.value_and_grad(_cube_and_double, has_aux=True)
    (val, aux), gr = s2s.vmap(vag)(xs)
    np.testing.assert_allclose(val, np.sum(xs ** 3, axis=1), rtol=1e-12)
    np.testing.assert_allclose(aux, 2.0 * xs, rtol=1e-12)
    np.testing.assert_allclose(gr, 3.0 * xs ** 2, rtol=1e-12)

    def uses(x):
        (val, aux), gr = vag(x)
        return snp.sum(gr * val + aux)
    x = xs[0]
    want = checker._fd_jacobian(uses, x)
    np.testing.assert_allclose(s2s.grad(uses)(x), want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.jvp(uses, (x,), (np.ones(2),))[1], np.sum(want), rtol=1e-6)


_A = np.linspace(-1.0, 1.0, 12).reshape(3, 4)


def _vec(x):
    return snp.tanh(_A @ x) * snp.sum(x * x)


@pytest.mark.parametrize("jac", ["jacfwd", "jacrev", "hessian"])
@pytest.mark.parametrize("in_axis", [0, 1])
def test_vmap_of_jacobians(jac, in_axis, x64):
    """vmap of a Jacobian function (it takes *args and calls vmap itself): the call is
    recorded and the recording batched. It raised "mapping over *args is not supported"."""
    T = getattr(s2s, jac)(_vec if jac != "hessian" else lambda v: snp.sum(_vec(v) ** 2))
    xs = np.linspace(-1.0, 1.0, 12).reshape(3, 4) * 0.7
    want = np.stack([T(x) for x in xs])
    arg = xs if in_axis == 0 else xs.T
    np.testing.assert_allclose(s2s.vmap(T, in_axes=in_axis)(arg), want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2s.jit(s2s.vmap(T, in_axes=in_axis))(arg), want,
                               rtol=1e-10, atol=1e-12)


def test_vmap_over_star_args():
    def star(*a):
        return a[0] * 2.0 + a[1]
    xs = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(s2s.vmap(star)(xs, xs + 1.0), 3.0 * xs + 1.0)


def test_transformations_of_linearized_function(x64):
    """linearize's f_jvp under jacrev/jacfwd/jvp/grad/vmap/jit: it is a callable object
    taking *tangents; jacrev and jacfwd raised IndexError, jvp "takes 0 positional
    parameters". Its recorded linear source is transformed now (traced with pytrees)."""
    x0 = np.array([0.3, -0.5, 0.8, 0.45])
    lin = s2s.linearize(_vec, x0)[1]
    J = s2s.jacfwd(_vec)(x0)
    np.testing.assert_allclose(J, checker._fd_jacobian(_vec, x0), rtol=1e-6, atol=1e-8)
    ts = np.linspace(-1.0, 1.0, 8).reshape(2, 4)
    for jac in (s2s.jacrev, s2s.jacfwd):
        np.testing.assert_allclose(jac(lin)(ts[0]), J, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2s.jvp(lin, (ts[0],), (ts[1],))[1], J @ ts[1], rtol=1e-12)
    np.testing.assert_allclose(s2s.grad(lambda t: snp.sum(lin(t)))(ts[0]), J.sum(0), rtol=1e-12)
    np.testing.assert_allclose(s2s.vmap(s2s.jit(lin), in_axes=1)(ts.T), ts @ J.T, rtol=1e-12)
    lin2 = s2s.linearize(lambda d: _vec(d["a"]) * 2.0, {"a": x0})[1]
    np.testing.assert_allclose(s2s.vmap(lin2)({"a": ts}), 2.0 * ts @ J.T, rtol=1e-12)
    np.testing.assert_allclose(s2s.jacrev(lin2)({"a": ts[0]})["a"], 2.0 * J, rtol=1e-12)


def _vjp_cos(x):
    out, pull = s2s.vjp(_vec, x)
    return pull(snp.cos(out) + 1.5)[0]


def _linearized(p):
    return s2s.linearize(_vec, p[0])[1](p[1])


@pytest.mark.parametrize("fn", [_vjp_cos, _linearized], ids=["vjp", "linearize"])
@pytest.mark.parametrize("how", ["grad", "jacfwd", "jacrev", "jvp", "vmap"])
def test_functions_calling_vjp_or_linearize(fn, how, x64):
    """A function calling s2s.vjp or s2s.linearize under grad, jacfwd, jacrev, jvp and
    vmap: the call is recorded. Before, grad and the Jacobians read s2s's own source
    ("grad does not support try/except (in vjp)"), jvp raised a NoSourceError, a
    recording of linearize inside a recording read an unbound variable, and vmap could
    not call the per-example pullback."""
    x0 = np.array([0.3, -0.5, 0.8, 0.45])
    x = x0 if fn is _vjp_cos else np.stack([x0, x0[::-1]])
    if how == "vmap":
        xs = np.stack([x, 0.9 * x, 1.1 * x])
        got, want = s2s.vmap(fn)(xs), np.stack([fn(v) for v in xs])
    elif how == "jvp":
        t = np.full(x.shape, 0.3)
        got, want = s2s.jvp(fn, (x,), (t,))[1], checker._fd_jvp(fn, x, t)
    elif how == "grad":
        got = s2s.grad(lambda v: snp.sum(fn(v)))(x)
        want = checker._fd_jacobian(lambda v: np.sum(fn(v)), x)
    else:
        got, want = getattr(s2s, how)(fn)(x), checker._fd_jacobian(fn, x)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def _second_leaf(p):
    return snp.sum(snp.sin(p[1]))


def _dict_b(d):
    return snp.sum(d["b"] ** 2)


def test_jacrev_of_partly_unused_pytree_argument(x64):
    """jacrev where the adjoint of a pytree argument is None for some of its leaves (a
    tuple (None, g), a dict holding only some keys): those leaves get zero blocks. The
    whole argument got zeros (its flattened adjoint had fewer leaves than it)."""
    x = np.array([0.5, 0.7, 1.0])
    got = s2s.jacrev(_second_leaf)((x, x + 1.0))
    np.testing.assert_allclose(got[0], 0.0)
    np.testing.assert_allclose(got[1], np.cos(x + 1.0), rtol=1e-12)
    got = s2s.jacrev(_dict_b)({"a": x, "b": x + 1.0})
    np.testing.assert_allclose(got["a"], 0.0)
    np.testing.assert_allclose(got["b"], 2.0 * (x + 1.0), rtol=1e-12)
    H = s2s.hessian(_second_leaf)((x, x + 1.0))
    np.testing.assert_allclose(H[1][1], np.diag(-np.sin(x + 1.0)), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(H[0][0], 0.0)
    np.testing.assert_allclose(s2s.jit(s2s.jacrev(_second_leaf))((x, x + 1.0))[1],
                               np.cos(x + 1.0), rtol=1e-12)


# -- lax control flow whose callables read differentiated values of the caller -------

def _fori_closure(x):
    y = x * 2.0
    return lax.fori_loop(0, 3, lambda i, v: snp.sin(v) * 1.5 + y * i, x)


def _while_closure(x):
    y = x * 2.0
    return lax.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] + y), (0, x))[1]


def _scan_closure(x):
    y = x * 2.0
    return lax.scan(lambda c, xi: (c + y * xi, c), x, np.arange(3.0))[0]


def _cond_closure(x):
    y = x * 2.0
    return lax.cond(snp.sum(x) > 0.0, lambda v: v + y, lambda v: v - y, x)


def _switch_closure(x):
    y = x * 2.0
    return lax.switch(1, [lambda v: v + y, lambda v: v * y], x)


def _map_closure(x):
    y = x * 2.0
    return lax.map(lambda v: v * y[0], x)


def _aliased_closure(x):
    y = x * 2.0
    f = lambda i, v: v + y  # noqa: E731
    g = f
    return lax.fori_loop(0, 3, g, x)


def _default_closure(x):
    y = x * 2.0

    def body(i, v, s=1.0):
        return v + y * s
    return lax.fori_loop(0, 3, body, x)


CLOSURES = [_fori_closure, _while_closure, _scan_closure, _cond_closure, _switch_closure,
            _map_closure, _aliased_closure, _default_closure]


@pytest.mark.parametrize("fn", CLOSURES, ids=lambda f: f.__name__.strip("_"))
def test_forward_mode_through_lax_callables_reading_the_caller(fn, x64):
    """Forward mode of lax control flow whose callables read a differentiated value of
    the enclosing function (``y = 2 x``): the jvp rules carry tangents of operands and
    carries only, and forward mode did not pass such values explicitly (reverse mode
    did): jvp, jacfwd and hessian silently dropped their tangent. A callable the pass
    cannot rewrite (defaults, *args, an alias ``g = f``) gave wrong values in forward
    and, for the alias, in reverse mode; it is rewritten or the call traced now."""
    x = np.array([0.3, -0.5, 0.8, 0.45])
    t = np.array([1.0, 0.5, -0.3, 0.2])
    J = checker._fd_jacobian(fn, x)
    np.testing.assert_allclose(s2s.jvp(fn, (x,), (t,))[1], J @ t, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.jacfwd(fn)(x), J, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(fn(v)))(x), J.sum(0), rtol=1e-6,
                               atol=1e-8)
    jvps = s2s.vmap(lambda tt: s2s.jvp(fn, (x,), (tt,))[1])(np.stack([t, -t]))
    np.testing.assert_allclose(jvps, np.stack([J @ t, -J @ t]), rtol=1e-6, atol=1e-8)
    staged = s2s.jit(lambda a, b: s2s.jvp(fn, (a,), (b,))[1])(x, t)
    np.testing.assert_allclose(staged, J @ t, rtol=1e-6, atol=1e-8)


def _apply(fn, x):
    return fn(x)


def _sin_by_value(u):
    return _apply(snp.sin, u)


def _looped(a):
    s = a
    for _ in range(3):
        s = snp.sin(s) * a
    return snp.sum(s)


def test_grad_of_jvp_through_a_call_of_a_function_value(x64):
    """grad of jvp where the jvp source calls a function value (``dynamic_jvp``): its
    vjp is traced, and the traced pullback dropped the None cotangent of the primal
    output, giving the tangent output's cotangent to the primal output (grad returned
    cos(x) for d/dx sum(cos(x) t)). Likewise for a gradient with tuple argnums."""
    x = np.array([0.3, -0.5, 0.8])
    t = np.array([1.0, 0.5, -0.3])
    g = s2s.grad(lambda v: snp.sum(s2s.jvp(_sin_by_value, (v,), (t,))[1]))
    np.testing.assert_allclose(g(x), -np.sin(x) * t, rtol=1e-12)
    _, pull = s2s.vjp(lambda v: (snp.sin(v), snp.cos(v)), x)  # no source: traced
    np.testing.assert_allclose(pull((None, np.ones(3)))[0], -np.sin(x), rtol=1e-12)
    gd = lambda v: s2s.grad(_looped, argnums=(0,))(v)[0]  # noqa: E731
    hv = s2s.grad(lambda v: snp.sum(s2s.jvp(gd, (v,), (t,))[1]))(x)
    want = checker._fd_jacobian(lambda v: np.sum(s2s.jvp(gd, (v,), (t,))[1]), x)
    np.testing.assert_allclose(hv, want, rtol=1e-6, atol=1e-8)


def test_pullback_called_twice(x64):
    """A vjp pullback can be called any number of times (its backward function popped
    the loop's stack saved on the tape: the second call raised IndexError)."""
    x = np.array([0.3, -0.5])
    _, pull = s2s.vjp(_looped, x)
    first = pull(1.0)[0]
    np.testing.assert_allclose(pull(1.0)[0], first)
    np.testing.assert_allclose(pull(2.0)[0], 2.0 * first)
    np.testing.assert_allclose(first, checker._fd_jacobian(_looped, x), rtol=1e-6, atol=1e-8)


def test_jacrev_with_aux_of_a_recorded_function(x64):
    """jacrev(has_aux=True) of a function that is recorded (it calls vmap): the aux
    outputs' None cotangents were dropped from the flat cotangents ("expected an
    adjoint of 2 items, got 3")."""
    vf = s2s.vmap(lambda v: snp.sin(v) * 2.0)

    def with_aux(v):
        out = vf(v)
        return out, {"s": snp.sum(out) * 2.0}
    x = np.array([0.3, -0.5, 0.8])
    for jac in (s2s.jacrev, s2s.jacfwd):
        J, aux = jac(with_aux, has_aux=True)(x)
        np.testing.assert_allclose(J, np.diag(2.0 * np.cos(x)), rtol=1e-12)
        np.testing.assert_allclose(aux["s"], 4.0 * np.sum(np.sin(x)), rtol=1e-12)
