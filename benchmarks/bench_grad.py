"""Eager gradients of the seeds' MLP loss: s2s.grad vs hand-written NumPy, jax.grad
(no jit) and autograd, in one process. Run: python benchmarks/run.py grad"""
import numpy as onp

import s2s
import s2s.numpy as np

from data import make_data  # noqa: F401 -- benchmarks import it from here
from harness import timeit_side_by_side
from tape_size import mlp_tape


def predict(params, inputs):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs


def logprob_fun(params, inputs, targets):
    preds = predict(params, inputs)
    return np.sum((preds - targets) ** 2)


def jax_logprob_fun(params, inputs, targets):
    """``logprob_fun`` in jax.numpy (for the comparison rows; needs jax)."""
    import jax.numpy as jnp
    for W, b in params:
        outputs = jnp.dot(inputs, W) + b
        inputs = jnp.tanh(outputs)
    return jnp.sum((outputs - targets) ** 2)


def numpy_grad(params, inputs, targets):
    """The gradient written by hand in NumPy (what s2s should match)."""
    (W1, b1), (W2, b2) = params
    a1 = onp.tanh(onp.dot(inputs, W1) + b1)
    out = onp.dot(a1, W2) + b2
    d_out = 2.0 * (out - targets)
    dW2 = onp.dot(a1.T, d_out)
    db2 = d_out.sum(0)
    d_h1 = onp.dot(d_out, W2.T) * (1.0 - a1 * a1)
    dW1 = onp.dot(inputs.T, d_h1)
    db1 = d_h1.sum(0)
    return [(dW1, db1), (dW2, db2)]


def run(report, timeit):
    params, inputs, targets = make_data()
    bench = "eager grad MLP 784-256-10 b128"
    g = s2s.grad(logprob_fun)
    ours = g(params, inputs, targets)
    ref = numpy_grad(params, inputs, targets)
    for (a, b), (c, d) in zip(ours, ref):
        onp.testing.assert_allclose(a, c, rtol=2e-3, atol=2e-3)
        onp.testing.assert_allclose(b, d, rtol=2e-3, atol=2e-3)
    fns = {"s2s.grad (eager)": lambda: g(params, inputs, targets),
           "hand-written NumPy": lambda: numpy_grad(params, inputs, targets)}
    notes = {}
    try:
        import jax
        import jax.numpy as jnp

        jg = jax.grad(jax_logprob_fun)
        jparams = jax.tree_util.tree_map(jnp.asarray, params)
        ji, jt = jnp.asarray(inputs), jnp.asarray(targets)
        fns["jax.grad (no jit)"] = lambda: jax.block_until_ready(jg(jparams, ji, jt))
    except ImportError:
        notes["jax.grad (no jit)"] = "jax not installed"
    try:
        import autograd
        import autograd.numpy as anp

        def aloss(params, inputs, targets):
            for W, b in params:
                outputs = anp.dot(inputs, W) + b
                inputs = anp.tanh(outputs)
            return anp.sum((outputs - targets) ** 2)
        ag = autograd.grad(aloss)
        fns["autograd"] = lambda: ag(params, inputs, targets)
    except ImportError:
        notes["autograd"] = "autograd not installed"
    for fn in fns.values():
        fn()
    # Alternating rounds: a shared machine's slow spells fall on every implementation.
    for impl, seconds in timeit_side_by_side(fns).items():
        report.add(bench, impl, seconds, baseline=impl == "hand-written NumPy")
    for impl, note in notes.items():
        report.add(bench, impl, None, note=note)
    total, entries = mlp_tape(predict)
    report.add("tape of fwd_predict", "s2s.grad", None,
               note=f"{total:,} bytes in {entries} arrays saved for the backward sweep (weights excluded)")
