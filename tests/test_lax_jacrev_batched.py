"""``jacrev`` through ``lax.scan``, ``fori_loop`` and ``map``: the loop's reverse pass runs
once on a batch of cotangents, never once per basis vector.

``jacrev`` vmaps the backward pass over the basis of output cotangents, so the reverse
passes ``scan_vjp``, ``fori_loop_vjp`` and ``map_vjp`` meet batched cotangents (and, in
``vmap(grad)``, batched operands); their batch rules run the loop with ``vmap`` of its
body. Counted with the ``loops`` fixture, checked against central differences in
float64, against a loop over examples, and against JAX where it is installed.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import central_jacobian, jax_x64


# Vector-valued programs, written once against (lax, numpy) so the same text runs on JAX.

def _scan(lax, np):
    def f(x):
        def body(c, xi):
            return c * np.cos(xi) - xi, c + xi
        c, ys = lax.scan(body, 1.0, x)
        return ys * c
    return f


def _scan_closure_reverse(lax, np):
    def f(x):
        w = np.exp(-x)

        def body(c, xi):
            return np.sin(c * xi) + w * c, c * w
        c, ys = lax.scan(body, x, x, reverse=True)
        return c + ys[0] * ys[2]
    return f


def _scan_pytree(lax, np):
    def f(x):
        def body(c, xi):
            a, b = c
            return (a * xi + b, np.sin(b) * np.sum(xi)), {"p": a * b, "q": xi ** 2}
        (a, b), ys = lax.scan(body, (x[1:], x[0]), x[:, None] * x[None, 1:])
        return a * b + np.sum(ys["p"], axis=0) + ys["q"][1:, 0] * b
    return f


def _scan_no_xs(lax, np):
    def f(x):
        c, ys = lax.scan(lambda c, _: (np.sin(c) * c + 0.5, np.sum(c ** 3)), x, None, length=3)
        return c * np.sum(ys)
    return f


def _fori(lax, np):
    def f(x):
        return lax.fori_loop(0, 3, lambda i, v: np.sin(v) * v + i, x)
    return f


def _fori_closure(lax, np):
    def f(x):
        a = np.exp(x[0])
        return lax.fori_loop(1, 4, lambda i, v: np.tanh(a * v) * i + v * v, x) ** 2
    return f


def _map(lax, np):
    def f(x):
        return lax.map(lambda v: np.sin(v) * v ** 2, x) * x[::-1]
    return f


PROGRAMS = {"scan": _scan, "scan_closure_reverse": _scan_closure_reverse, "scan_pytree": _scan_pytree,
            "scan_no_xs": _scan_no_xs, "fori": _fori, "fori_closure": _fori_closure, "map": _map}
POINT = np.array([0.3, 0.5, 0.7])


def _scalar(f):
    """A scalar function of ``f``'s vector output, whose gradient's Jacobian is a Hessian."""
    return lambda x: snp.sum(snp.sin(f(x)))


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_jacrev_of_loop_runs_no_example_loop(name, jit, loops, x64):
    f = PROGRAMS[name](lax, snp)
    jac = s2s.jit(s2s.jacrev(f)) if jit else s2s.jacrev(f)
    got = jac(POINT)
    assert loops == []
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, central_jacobian(f, POINT), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_jacrev_of_grad_through_loop_runs_no_example_loop(name, jit, loops, x64):
    # reverse over reverse: the backward pass of grad runs the loop's reverse pass (its
    # cotangent batched) and the transpose of that reverse pass
    h = _scalar(PROGRAMS[name](lax, snp))
    hess = s2s.jit(s2s.jacrev(s2s.grad(h))) if jit else s2s.jacrev(s2s.grad(h))
    got = hess(POINT)
    assert loops == []
    np.testing.assert_allclose(got, central_jacobian(s2s.grad(h), POINT), rtol=1e-6, atol=1e-7)


def _weighted(f):
    return lambda x, w: snp.sum(w * f(x))


# vmap(grad) with the examples of the operands and of the cotangent on different axes, or
# only one of them mapped: the reverse pass gets batched operands, a batched cotangent or
# both, and must carry the batch axis through the carry and the stacked ys.
IN_AXES = {"both": (0, 1), "cotangent": (None, 1), "operands": (0, None)}


VMAP_CASES = [(name, which, False) for name in ("scan_pytree", "scan_closure_reverse", "fori_closure", "map")
              for which in sorted(IN_AXES)] + [(name, "both", True) for name in ("scan_pytree", "fori_closure", "map")]


@pytest.mark.parametrize("name,which,jit", VMAP_CASES)
def test_vmap_of_grad_through_loop_matches_example_loop(name, which, jit, loops, x64):
    g = s2s.grad(_weighted(PROGRAMS[name](lax, snp)))
    m = PROGRAMS[name](lax, snp)(POINT).size
    rng = np.random.default_rng(0)
    xs, ws = rng.normal(size=(4, 3)) * 0.5, rng.normal(size=(m, 4))
    in_axes = IN_AXES[which]
    batched = s2s.vmap(g, in_axes=in_axes)
    x_of = (lambda k: xs[k]) if in_axes[0] == 0 else (lambda k: POINT)
    w_of = (lambda k: ws[:, k]) if in_axes[1] == 1 else (lambda k: ws[:, 0])
    args = (xs if in_axes[0] == 0 else POINT, ws if in_axes[1] == 1 else ws[:, 0])
    got = (s2s.jit(batched) if jit else batched)(*args)
    assert loops == []
    expected = np.stack([g(x_of(k), w_of(k)) for k in range(4)])
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["scan_pytree", "fori_closure", "map"])
def test_jacrev_through_loops_matches_jax(name, x64):
    jax = pytest.importorskip("jax")
    import jax.numpy as jnp
    ours, theirs = PROGRAMS[name](lax, snp), PROGRAMS[name](jax.lax, jnp)
    with jax_x64(jax):
        expected = [jax.jit(jax.jacrev(theirs))(POINT),
                    jax.jit(jax.jacrev(jax.grad(lambda x: jnp.sum(jnp.sin(theirs(x))))))(POINT)]
        expected = [np.asarray(e) for e in expected]
    got = [s2s.jacrev(ours)(POINT), s2s.jacrev(s2s.grad(_scalar(ours)))(POINT)]
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


def test_scan_vjp_batched_on_other_axes_with_scalar_cotangents(loops, x64):
    # The rule itself, under vmap: the operands mapped over their last axes, the ys'
    # cotangent a scalar per example (an array output's broadcast seed), the carry's None.
    from s2s.lax import control_flow as cf

    def body(c, x):
        return c * snp.sin(x) + x, c * x

    def pullback(ct_y, c, xs):
        return cf.scan_vjp((None, ct_y), lax.scan(body, c, xs), body, c, xs)

    rng = np.random.default_rng(1)
    cts, cs, xss = rng.normal(size=4), rng.normal(size=(2, 4)), rng.normal(size=(3, 2, 4))
    got = s2s.vmap(pullback, in_axes=(0, 1, 2))(cts, cs, xss)
    assert loops == []
    for k in range(4):
        expected = pullback(cts[k], cs[:, k], xss[..., k])
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g[k], e, rtol=1e-12, atol=1e-14)


def _while(lax, np):
    def f(x):
        return lax.while_loop(lambda v: np.sum(v) < 4.0, lambda v: v * 1.5 + np.sin(v), x)
    return f


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_jacrev_of_while_loop_runs_no_example_loop(jit, loops, x64):
    # one loop's trips, the same for every basis vector
    f = _while(lax, snp)
    jac = s2s.jit(s2s.jacrev(f)) if jit else s2s.jacrev(f)
    got = jac(POINT)
    assert loops == []
    np.testing.assert_allclose(got, central_jacobian(f, POINT), rtol=1e-6, atol=1e-7)


def test_vmap_of_grad_of_while_loop_runs_per_example(x64):
    # examples whose trip counts differ: each runs its own reverse pass
    g = s2s.grad(lambda x: snp.sum(_while(lax, snp)(x)))
    xs = np.array([[0.3, 0.5, 0.7], [0.01, 0.02, 0.03]])
    np.testing.assert_allclose(s2s.vmap(g)(xs), np.stack([g(x) for x in xs]), rtol=1e-12)


def test_second_order_through_a_scan_of_more_steps_than_named_operands(x64):
    # The batched reverse pass records its vmapped loop; the eager scan in it stacks one
    # row per step with concatenate, whose adjoint template names at most eight operands
    # (12 steps once raised NotImplementedError): the recording spells them as one list.
    def f(x):
        steps = snp.linspace(0.5, 1.5, 12)[:, None] * x
        c, ys = lax.scan(lambda c, xi: (snp.tanh(c * xi + 0.1), c * xi), x, steps)
        return snp.sum(ys ** 2) + snp.sum(c)

    expected = central_jacobian(s2s.grad(f), POINT)
    np.testing.assert_allclose(s2s.jacrev(s2s.grad(f))(POINT), expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(s2s.hessian(f)(POINT), expected, rtol=1e-6, atol=1e-7)


def test_recorded_concatenate_of_many_operands(x64):
    scope = {"lax": lax}
    exec("def f(x):\n    return lax.concatenate(*[x * k for k in range(10)], dimension=0)\n", scope)
    x, ct = np.array([0.3, 0.5]), np.arange(20.0)
    got = s2s.vjp(scope["f"], x)[1](ct)[0]  # no source: recorded
    np.testing.assert_allclose(got, sum(k * ct[2 * k:2 * k + 2] for k in range(10)), rtol=1e-12)


def _tanh_layer_derivatives():
    """``(transform, builder, expected)`` per mode for ``x -> tanh(w @ x)`` at ``x`` and
    direction or cotangent ``v``."""
    from s2s.transforms import forward, vjp_builder

    def slope(w, x):
        return 1 - np.tanh(w @ x) ** 2
    return {
        "vjp": (lambda f, x, v: s2s.vjp(f, x)[1](v)[0], (vjp_builder, "build_vjp"),
                lambda w, x, v: w.T @ (slope(w, x) * v)),
        "jvp": (lambda f, x, v: s2s.jvp(f, (x,), (v,))[1], (forward, "build_jvp"),
                lambda w, x, v: slope(w, x) * (w @ v)),
    }


@pytest.mark.parametrize("mode", ["vjp", "jvp"])
def test_recordings_share_builds_only_over_the_same_constants(mode, monkeypatch, x64):
    # A batched loop's derivative differentiates its vmapped body through a recording at
    # every step; recordings of the same source over the same constants share one build.
    # A constant counts by the memory it reads, so an array written in place is read
    # afresh, and another array (equal or not) is another function.
    transform, (module, name), expected = _tanh_layer_derivatives()[mode]
    builds, original = [], getattr(module, name)

    def counting(fn, active):
        if fn.__name__ == "traced":  # a recording's (not the first try at f's source)
            builds.append(fn)
        return original(fn, active)
    monkeypatch.setattr(module, name, counting)
    w = np.array([[0.5, -1.0], [2.0, 0.3]])
    scope = {"np": snp, "w": w}
    exec("def f(x):\n    return np.tanh(w @ x)\n", scope)  # no source: recorded
    f, x, v = scope["f"], np.array([0.2, -0.4]), np.array([1.0, 3.0])
    for step in range(3):
        np.testing.assert_allclose(transform(f, x, v), expected(w, x, v), rtol=1e-12)
    assert len(builds) == 1
    w[...] = w[::-1]  # written in place: the same memory, read afresh
    np.testing.assert_allclose(transform(f, x, v), expected(w, x, v), rtol=1e-12)
    assert len(builds) == 1
    scope["w"] = w.copy()  # equal values in other memory: built again
    np.testing.assert_allclose(transform(f, x, v), expected(w, x, v), rtol=1e-12)
    assert len(builds) == 2
