"""Second derivatives through ``lax.scan``, ``fori_loop``, ``map``, ``cond`` and ``switch``.

The reverse pass of each loop or branch (``scan_vjp``, ``fori_loop_vjp``, ``map_vjp``,
``cond_vjp``, ``switch_vjp``) has a jvp rule (forward over reverse: ``hessian``,
``jacfwd(grad)``) and a vjp rule (reverse over reverse: ``jacrev(grad)``, ``grad`` of
a function of ``grad``), both written as forward and reverse mode of the primal
control flow. Every result is checked against central differences of ``s2s.grad`` in
float64, eagerly and under ``jit``, and against JAX where it is installed.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import central_grad


# Each program is written once against (lax, numpy) so the same text runs on s2s and JAX.

def _scan(lax, np):
    def f(x):
        def body(c, xi):
            return c * np.sin(xi) + xi, c * xi
        c, ys = lax.scan(body, 1.0, x)
        return c + np.sum(ys ** 2)
    return f


def _scan_closure_reverse(lax, np):
    def f(x):
        w = np.cos(x)

        def body(c, xi):
            return np.tanh(c * xi + w), np.sum(c) * xi
        c, ys = lax.scan(body, x, x, reverse=True)
        return np.sum(c * ys)
    return f


def _scan_no_xs(lax, np):
    def f(x):
        c, ys = lax.scan(lambda c, _: (np.sin(c) * c + 0.5, np.sum(c ** 3)), x, None, length=3)
        return np.sum(c) + np.sum(ys)
    return f


def _fori(lax, np):
    def f(x):
        return np.sum(lax.fori_loop(0, 3, lambda i, v: np.sin(v) * v + i, x))
    return f


def _fori_closure(lax, np):
    def f(x):
        a = np.exp(x[0])
        return np.sum(lax.fori_loop(1, 4, lambda i, v: np.tanh(a * v) * i + v * v, x) ** 2)
    return f


def _cond(lax, np):
    def f(x):
        return np.sum(lax.cond(np.sum(x) > 0, lambda v: np.sin(v) * v, lambda v: v ** 3, x))
    return f


def _cond_closure(lax, np):
    def f(x):
        a = np.exp(x[1])
        return np.sum(lax.cond(np.sum(x) > 0, lambda v: np.sin(v) * v * a, lambda v: v ** 3, x))
    return f


def _map(lax, np):
    def f(x):
        return np.sum(lax.map(lambda v: np.sin(v) * v ** 2, x) * x)
    return f


def _switch(lax, np):
    def f(x):
        branches = [lambda v: np.exp(v) * v[0], lambda v: np.sin(v) * v, lambda v: v ** 3]
        return np.sum(lax.switch(1, branches, x) ** 2)
    return f


PROGRAMS = {"scan": _scan, "scan_closure_reverse": _scan_closure_reverse, "scan_no_xs": _scan_no_xs,
            "fori": _fori, "fori_closure": _fori_closure, "cond": _cond, "cond_closure": _cond_closure,
            "switch": _switch, "map": _map}
POINT = np.array([0.3, 0.5, 0.7])

# A Hessian's row by row: the derivative of grad's coordinates.
SECOND_ORDER = {
    "hessian": lambda f: s2s.hessian(f),
    "jacfwd(grad)": lambda f: s2s.jacfwd(s2s.grad(f)),
    "jacrev(grad)": lambda f: s2s.jacrev(s2s.grad(f)),
}


def _central_hessian(f, x):
    g = s2s.grad(f)
    return np.stack([central_grad(lambda v: g(v)[i], x) for i in range(x.size)])


def _grad_norm(grad, np):
    """``x -> |grad f(x)|^2``: a function of the gradient, for grad of grad."""
    return lambda f: (lambda x: np.sum(grad(f)(x) ** 2))


@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_hessian_matches_central_differences(name, how, x64):
    f = PROGRAMS[name](lax, snp)
    expected = _central_hessian(f, POINT)
    got = SECOND_ORDER[how](f)(POINT)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s2s.jit(SECOND_ORDER[how](f))(POINT), got, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_grad_of_grad_matches_central_differences(name, x64):
    f = PROGRAMS[name](lax, snp)
    h = _grad_norm(s2s.grad, snp)(f)
    got = s2s.grad(h)(POINT)
    np.testing.assert_allclose(got, central_grad(h, POINT), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s2s.jit(s2s.grad(h))(POINT), got, rtol=1e-10, atol=1e-12)


def test_third_order_jvp_of_hessian(x64):
    f = PROGRAMS["scan"](lax, snp)
    hess, v, eps = s2s.hessian(f), np.array([0.2, -0.7, 0.4]), 1e-6
    _, got = s2s.jvp(hess, (POINT,), (v,))
    expected = (hess(POINT + eps * v) - hess(POINT - eps * v)) / (2 * eps)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_second_order_matches_jax(name, x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    ours, theirs = PROGRAMS[name](lax, snp), PROGRAMS[name](jax.lax, jnp)
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        expected = [jax.hessian(theirs)(POINT), jax.grad(_grad_norm(jax.grad, jnp)(theirs))(POINT)]
    finally:
        jax.config.update("jax_enable_x64", old)
    got = [s2s.hessian(ours)(POINT), s2s.grad(_grad_norm(s2s.grad, snp)(ours))(POINT)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, np.asarray(e), rtol=1e-10, atol=1e-12)


def _while(lax, np):
    def f(x):
        return np.sum(lax.while_loop(lambda v: np.sum(v) < 10, lambda v: v * 1.5 + np.sin(v), x))
    return f


@pytest.mark.parametrize("how", ["hessian", "jacrev(grad)"])
def test_second_order_of_while_loop_raises(how):
    # JAX has no reverse mode of while_loop at all; s2s has first order, not its derivative.
    with pytest.raises(NotImplementedError, match="reverse pass of lax.while_loop"):
        SECOND_ORDER[how](_while(lax, snp))(POINT.astype(np.float32))


LOOPS = ("scan", "scan_closure_reverse", "scan_no_xs", "fori", "fori_closure", "map")


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("how", ["hessian", "jacfwd(grad)"])
@pytest.mark.parametrize("name", LOOPS)
def test_forward_over_reverse_of_loops_runs_no_example_loop(name, how, jit, loops, x64):
    # vmap batches the jvp of a loop's reverse pass through its source: one batched loop
    # for all basis vectors, not one loop per basis vector.
    _check_without_example_loops(PROGRAMS[name](lax, snp), how, jit, loops, POINT)


def _check_without_example_loops(f, how, jit, loops, x):
    """``SECOND_ORDER[how](f)(x)`` (under jit when ``jit``) ran no per-example loop and
    matches central differences of grad."""
    transformed = SECOND_ORDER[how](f)
    got = (s2s.jit(transformed) if jit else transformed)(x)
    assert loops == []
    np.testing.assert_allclose(got, _central_hessian(f, x), rtol=1e-6, atol=1e-7)


BRANCHES = ("cond", "cond_closure", "switch")


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("name", BRANCHES)
def test_second_order_of_branches_runs_no_example_loop(name, how, jit, loops, x64):
    # cond/switch have rules of their own (no generated forward/backward of their
    # *operands source, which vmap ran once per basis vector); the branch chosen by an
    # unbatched predicate is one switch of batched branch derivatives.
    _check_without_example_loops(PROGRAMS[name](lax, snp), how, jit, loops, POINT)


# Per-element branches under vmap: the predicate (index) is batched, so every branch
# runs and each example selects its own (as vmap of lax.cond does in JAX); the points
# take every branch.

def _vmapped_cond(lax, np, vmap):
    def g(xi):
        return lax.cond(xi > 0, lambda v: np.sin(v) * v, lambda v: v ** 3, xi)

    def f(x):
        return np.sum(vmap(g)(x) ** 2)
    return f


def _vmapped_switch(lax, np, vmap):
    def g(xi):
        branches = [lambda v: np.exp(v), lambda v: np.sin(v) * v, lambda v: v ** 3]
        return lax.switch(np.where(xi > 0.4, 2, np.where(xi > 0, 1, 0)), branches, xi)

    def f(x):
        return np.sum(vmap(g)(x) ** 2)
    return f


BATCHED_BRANCHES = {"cond": _vmapped_cond, "switch": _vmapped_switch}
PER_ELEMENT_POINT = np.array([0.3, -0.5, 0.7, 0.45])


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("how", sorted(SECOND_ORDER))
@pytest.mark.parametrize("name", sorted(BATCHED_BRANCHES))
def test_second_order_of_batched_branches(name, how, jit, loops, x64):
    _check_without_example_loops(BATCHED_BRANCHES[name](lax, snp, s2s.vmap), how, jit, loops,
                                 PER_ELEMENT_POINT)


@pytest.mark.parametrize("name", sorted(BATCHED_BRANCHES))
def test_second_order_of_batched_branches_matches_jax(name, x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        expected = jax.hessian(BATCHED_BRANCHES[name](jax.lax, jnp, jax.vmap))(PER_ELEMENT_POINT)
    finally:
        jax.config.update("jax_enable_x64", old)
    got = s2s.hessian(BATCHED_BRANCHES[name](lax, snp, s2s.vmap))(PER_ELEMENT_POINT)
    np.testing.assert_allclose(got, np.asarray(expected), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", ["cond", "cond_closure", "switch"])
def test_vmap_of_grad_of_branches_runs_no_example_loop(name, jit, loops, x64):
    # cond_vjp/switch_vjp under vmap: the pullback of vmap(branch), chosen per example
    # where the predicate differs between examples (rows 0 and 1 take different branches)
    f = PROGRAMS[name](lax, snp)
    xs = np.stack([POINT, -POINT, 2 * POINT])
    transformed = s2s.vmap(s2s.grad(f))
    got = (s2s.jit(transformed) if jit else transformed)(xs)
    assert loops == []
    np.testing.assert_allclose(got, np.stack([s2s.grad(f)(x) for x in xs]), rtol=1e-12, atol=1e-12)


def _cond_reading_mapped(x, y):
    return snp.sum(lax.cond(snp.sum(x * y) > 0, lambda v: snp.sin(v) * v * y, lambda v: v ** 3 + y, x))


def _switch_reading_mapped(x, y):
    # a plain function beside the closures: the batched list holds it as it is
    branches = [lambda v: v, lambda v: snp.sin(v) * v * y, lambda v: v ** 3 + y]
    return snp.sum(lax.switch((snp.sum(x * y) > 0).astype(int) + 1, branches, x))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("f", [_cond_reading_mapped, _switch_reading_mapped], ids=["cond", "switch"])
def test_vmap_of_grad_of_branch_reading_a_mapped_value(f, jit, loops, x64):
    # the branches close over the mapped y (batched closures): their pullback is that of
    # their vmap, each example reading its own y (the per-example fallback read every
    # example's y, summing the other examples' contributions into each gradient; the
    # switch raised: its plain branch had been broadcast into an array)
    xs = np.array([[0.3, 0.5, 0.7], [-0.3, 0.5, -0.7], [0.1, -0.2, 0.3]])
    ys = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 2.0], [-1.0, 1.0, 0.5]])
    transformed = s2s.vmap(s2s.grad(f))
    got = (s2s.jit(transformed) if jit else transformed)(xs, ys)
    assert loops == []
    expected = np.stack([central_grad(lambda v: f(v, y), x) for x, y in zip(xs, ys)])
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
