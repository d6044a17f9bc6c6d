"""Jacobians and Hessians: s2s.hessian/jacfwd/jacrev against JAX, eager and under jit,
in one process. Run: python benchmarks/run.py jacobians

* Hessian of f(x) = logsumexp(A @ tanh(x)), x of size 100, A 200x100.
* Jacobian of a 10-input, 1000-output map g(x) = tanh(B @ x) * (C @ x), by jacfwd and jacrev.
"""
import numpy as onp

import s2s
import s2s.numpy as np

from harness import timeit_side_by_side


def logsumexp_tanh(A, x):
    z = A @ np.tanh(x)
    m = np.max(z)
    return np.log(np.sum(np.exp(z - m))) + m


def jax_logsumexp_tanh(A, x):
    """``logsumexp_tanh`` in jax.numpy (jax is imported by the caller's first use)."""
    import jax.numpy as jnp
    z = jnp.asarray(A) @ jnp.tanh(x)
    m = jnp.max(z)
    return jnp.log(jnp.sum(jnp.exp(z - m))) + m


def wide_map(B, C, x):
    return np.tanh(B @ x) * (C @ x)


def _data():
    rng = onp.random.default_rng(0)
    A = rng.standard_normal((200, 100)).astype(onp.float32) / 10
    x = rng.standard_normal(100).astype(onp.float32)
    B = rng.standard_normal((1000, 10)).astype(onp.float32) / 3
    C = rng.standard_normal((1000, 10)).astype(onp.float32) / 3
    x10 = rng.standard_normal(10).astype(onp.float32)
    return A, x, B, C, x10


def run(report, timeit):
    A, x, B, C, x10 = _data()
    h = s2s.hessian(lambda v: logsumexp_tanh(A, v))
    jh = s2s.jit(h)
    jf = s2s.jit(s2s.jacfwd(lambda v: wide_map(B, C, v)))
    jr = s2s.jit(s2s.jacrev(lambda v: wide_map(B, C, v)))
    ef = s2s.jacfwd(lambda v: wide_map(B, C, v))  # made once: calls reuse its generated source
    er = s2s.jacrev(lambda v: wide_map(B, C, v))
    fns_h = {"s2s.hessian (eager)": lambda: h(x), "s2s.jit(s2s.hessian)": lambda: jh(x)}
    fns_j = {"s2s.jit(jacfwd)": lambda: jf(x10), "s2s.jit(jacrev)": lambda: jr(x10),
             "s2s.jacfwd (eager)": lambda: ef(x10), "s2s.jacrev (eager)": lambda: er(x10)}
    notes = {}
    try:
        import jax
        import jax.numpy as jnp

        def jf_h(v):
            return jax_logsumexp_tanh(A, v)

        def j_wide(v):
            return jnp.tanh(jnp.asarray(B) @ v) * (jnp.asarray(C) @ v)
        xj, x10j = jnp.asarray(x), jnp.asarray(x10)
        jax_h, jax_jh = jax.hessian(jf_h), jax.jit(jax.hessian(jf_h))
        jax_jf, jax_jr = jax.jit(jax.jacfwd(j_wide)), jax.jit(jax.jacrev(j_wide))
        jax_ef, jax_er = jax.jacfwd(j_wide), jax.jacrev(j_wide)
        onp.testing.assert_allclose(h(x), jax_h(xj), rtol=2e-3, atol=1e-5)
        onp.testing.assert_allclose(jf(x10), jax_jf(x10j), rtol=2e-3, atol=1e-5)
        onp.testing.assert_allclose(jr(x10), jax_jr(x10j), rtol=2e-3, atol=1e-5)
        fns_h["jax.hessian (no jit)"] = lambda: jax.block_until_ready(jax_h(xj))
        fns_h["jax.jit(jax.hessian)"] = lambda: jax.block_until_ready(jax_jh(xj))
        fns_j["jax.jit(jacfwd)"] = lambda: jax.block_until_ready(jax_jf(x10j))
        fns_j["jax.jit(jacrev)"] = lambda: jax.block_until_ready(jax_jr(x10j))
        fns_j["jax.jacfwd (no jit)"] = lambda: jax.block_until_ready(jax_ef(x10j))
        fns_j["jax.jacrev (no jit)"] = lambda: jax.block_until_ready(jax_er(x10j))
    except ImportError:
        notes["jax"] = "jax not installed"
    for bench, fns, base in (("hessian logsumexp(A@tanh(x)) n=100", fns_h, "s2s.jit(s2s.hessian)"),
                             ("jacobian 10 -> 1000", fns_j, "s2s.jit(jacfwd)")):
        for fn in fns.values():
            fn()
        for impl, seconds in timeit_side_by_side(fns, rounds=5).items():
            report.add(bench, impl, seconds, baseline=impl == base)
    for impl, note in notes.items():
        report.add("jacobians", impl, None, note=note)
