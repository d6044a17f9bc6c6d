"""Per-example gradients of the seeds' MLP loss (784-256-10, batch 128, float32):
eager ``s2s.vmap(s2s.grad)`` against a hand-vectorized NumPy per-example gradient, a
Python loop of ``s2s.grad`` and ``jax.vmap(jax.grad)``; ``jit(vmap(grad))`` against
``jax.jit(jax.vmap(jax.grad))``; and a batched data-dependent ``while`` (Newton's
square root on 1000 inputs) under ``jit(vmap)``. Run: python benchmarks/run.py vmap"""
import numpy as onp

import s2s
import s2s.numpy as np

from bench_grad import jax_logprob_fun, logprob_fun
from data import make_data
from harness import timeit_side_by_side


def numpy_per_example(params, inputs, targets):
    """Per-example gradients written by hand in NumPy (the batch axis kept apart)."""
    (W1, b1), (W2, b2) = params
    a1 = onp.tanh(onp.dot(inputs, W1) + b1)
    out = onp.dot(a1, W2) + b2
    d_out = 2.0 * (out - targets)
    dW2 = onp.einsum("bi,bj->bij", a1, d_out)
    d_h1 = onp.dot(d_out, W2.T) * (1.0 - a1 * a1)
    dW1 = onp.einsum("bi,bj->bij", inputs, d_h1)
    return [(dW1, d_h1), (dW2, d_out)]


def newton_sqrt(a):
    x = a
    while np.abs(x * x - a) > 1e-5 * a:
        x = 0.5 * (x + a / x)
    return x


def _check(ours, ref):
    for (a, b), (c, d) in zip(ours, ref):
        onp.testing.assert_allclose(a, c, rtol=2e-3, atol=2e-3)
        onp.testing.assert_allclose(b, d, rtol=2e-3, atol=2e-3)


def run(report, timeit):
    params, inputs, targets = make_data()
    bench = "per-example grads MLP b128"
    g = s2s.grad(logprob_fun)
    vg = s2s.vmap(g, in_axes=(None, 0, 0))
    jvg = s2s.jit(vg)
    ref = numpy_per_example(params, inputs, targets)
    _check(vg(params, inputs, targets), ref)
    _check(jvg(params, inputs, targets), ref)
    fns = {"s2s.vmap(grad) (eager)": lambda: vg(params, inputs, targets),
           "hand-vectorized NumPy": lambda: numpy_per_example(params, inputs, targets),
           "Python loop of s2s.grad": lambda: [g(params, x[None], t[None])
                                               for x, t in zip(inputs, targets)],
           "s2s.jit(vmap(grad))": lambda: jvg(params, inputs, targets)}
    a = onp.linspace(1.0, 100.0, 1000).astype("f")
    jn = s2s.jit(s2s.vmap(newton_sqrt))
    onp.testing.assert_allclose(jn(a), onp.sqrt(a), rtol=1e-4)
    newton = {"s2s.jit(vmap(newton while))": lambda: jn(a)}
    try:
        import jax
        import jax.numpy as jnp
        jparams = jax.tree_util.tree_map(jnp.asarray, params)
        ji, jt = jnp.asarray(inputs), jnp.asarray(targets)
        jax_vg = jax.vmap(jax.grad(jax_logprob_fun), in_axes=(None, 0, 0))
        jax_jvg = jax.jit(jax_vg)
        fns["jax.vmap(grad) (no jit)"] = lambda: jax.block_until_ready(jax_vg(jparams, ji, jt))
        fns["jax.jit(vmap(grad))"] = lambda: jax.block_until_ready(jax_jvg(jparams, ji, jt))

        def jnewton(a):
            def body(x):
                return 0.5 * (x + a / x)
            return jax.lax.while_loop(lambda x: jnp.abs(x * x - a) > 1e-5 * a, body, a)
        jvn = jax.jit(jax.vmap(jnewton))
        ja = jnp.asarray(a)
        newton["jax.jit(vmap(lax.while_loop))"] = lambda: jax.block_until_ready(jvn(ja))
        # s2s is given the NumPy array: so is this row.
        newton["jax.jit(vmap(lax.while_loop)), NumPy input"] = lambda: jax.block_until_ready(jvn(a))
    except ImportError:
        report.add(bench, "jax", None, note="jax not installed")
    for fn in list(fns.values()) + list(newton.values()):
        fn()
    for impl, seconds in timeit_side_by_side(fns, rounds=3).items():
        report.add(bench, impl, seconds, baseline=impl == "s2s.vmap(grad) (eager)")
    for impl, seconds in timeit_side_by_side(newton, rounds=3).items():
        report.add("batched Newton while, 1000", impl, seconds,
                   baseline=impl.startswith("s2s"))
