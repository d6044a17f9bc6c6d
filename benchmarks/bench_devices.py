"""Data-parallel MLP training step on 1, 2, 4 and 8 CPU devices: s2s against JAX on the
same mesh. Run: python benchmarks/run.py devices

Parameters are replicated, the batch is split over the mesh's devices; XLA's SPMD
partitioner adds the gradient all-reduce on both sides. Timings are of a step whose
arguments already live on the devices (a training loop feeds the new parameters
back in). The device count is fixed when a process makes its client, so the timing
runs in a child process with 8 CPU devices. On a machine with fewer cores than
devices the "devices" share cores, so scaling shows overheads rather than speedups.
"""
import json
import os
import subprocess
import sys

import numpy as onp

_HERE = os.path.dirname(os.path.abspath(__file__))
DEVICES = (1, 2, 4, 8)
SIZES = (784, 256, 10)
BATCH = 1024
LR = 0.01


def make_data(seed=0):
    rng = onp.random.RandomState(seed)
    params = [(rng.randn(m, n).astype(onp.float32) * 0.05, rng.randn(n).astype(onp.float32) * 0.05)
              for m, n in zip(SIZES[:-1], SIZES[1:])]
    return (params, rng.randn(BATCH, SIZES[0]).astype(onp.float32),
            rng.randn(BATCH, SIZES[-1]).astype(onp.float32))


def _s2s_steps():
    import s2s
    import s2s.numpy as np
    from s2s.sharding import NamedSharding, P

    def loss(params, inputs, targets):
        for W, b in params:
            outputs = np.dot(inputs, W) + b
            inputs = np.tanh(outputs)
        return np.sum((outputs - targets) ** 2)

    def update(params, inputs, targets):
        grads = s2s.grad(loss)(params, inputs, targets)
        return [(W - LR * dW, b - LR * db) for (W, b), (dW, db) in zip(params, grads)]

    params, inputs, targets = make_data()
    steps = {}
    for n in DEVICES:
        mesh = s2s.make_mesh((n,), ("batch",), devices=s2s.devices()[:n])
        data, repl = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
        step = s2s.jit(update, in_shardings=(repl, data, data), out_shardings=repl)
        state = {"p": s2s.device_put(params, repl)}
        x, y = s2s.device_put((inputs, targets), data)

        def run(step=step, state=state, x=x, y=y):
            state["p"] = step(state["p"], x, y)
            state["p"][-1][1].block_until_ready()
        steps[n] = (run, lambda state=state: onp.asarray(state["p"][0][0]))
    return steps


def _jax_steps():
    try:
        import jax
        import jax.numpy as jnp
        from jax.sharding import NamedSharding, PartitionSpec as P
    except ImportError:
        return {}

    def loss(params, inputs, targets):
        for W, b in params:
            outputs = jnp.dot(inputs, W) + b
            inputs = jnp.tanh(outputs)
        return jnp.sum((outputs - targets) ** 2)

    def update(params, inputs, targets):
        grads = jax.grad(loss)(params, inputs, targets)
        return [(W - LR * dW, b - LR * db) for (W, b), (dW, db) in zip(params, grads)]

    params, inputs, targets = make_data()
    steps = {}
    for n in DEVICES:
        mesh = jax.sharding.Mesh(onp.array(jax.devices("cpu")[:n]), ("batch",))
        data, repl = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
        step = jax.jit(update, in_shardings=(repl, data, data), out_shardings=repl)
        state = {"p": jax.device_put(params, repl)}
        x, y = jax.device_put((inputs, targets), data)

        def run(step=step, state=state, x=x, y=y):
            state["p"] = step(state["p"], x, y)
            jax.block_until_ready(state["p"])
        steps[n] = (run, lambda state=state: onp.asarray(state["p"][0][0]))
    return steps


def child():
    """Times every step in this process (started with 8 CPU devices); prints JSON rows."""
    from harness import timeit_side_by_side
    s2s_steps, jax_steps = _s2s_steps(), _jax_steps()
    rows = []
    for n in DEVICES:
        fns = {f"s2s, {n} devices": s2s_steps[n][0]}
        if n in jax_steps:
            fns[f"jax, {n} devices"] = jax_steps[n][0]
        for fn in fns.values():
            fn()
        if n in jax_steps:  # same start, same number of steps: the same parameters
            onp.testing.assert_allclose(s2s_steps[n][1](), jax_steps[n][1](), rtol=2e-3, atol=1e-4)
        for impl, seconds in timeit_side_by_side(fns, rounds=5).items():
            rows.append((f"data-parallel MLP step, {n} dev", impl, seconds))
    print("ROWS " + json.dumps(rows))


def run(report, timeit):
    env = dict(os.environ, S2S_NUM_CPU_DEVICES="8", TF_CPP_MIN_LOG_LEVEL="2",
               XLA_FLAGS="--xla_force_host_platform_device_count=8")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--child"], env=env,
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(r.stdout + r.stderr)
    rows = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("ROWS ")][-1][5:])
    base = {}
    for bench, impl, seconds in rows:
        side = impl.split(",")[0]
        n = int(bench.split(", ")[1].split()[0])
        base.setdefault(side, seconds if n == 1 else None)
        note = f"{base[side] / seconds:.2f}x the 1-device speed" if base.get(side) else ""
        report.add(f"DP MLP {SIZES[0]}-{SIZES[1]}-{SIZES[2]} b{BATCH}, {n} dev", impl, seconds,
                   note=note)


if __name__ == "__main__":
    sys.path.insert(0, _HERE)
    sys.path.insert(0, os.path.dirname(_HERE))
    if sys.argv[1:] == ["--child"]:
        child()
    else:
        from harness import Report, timeit
        report = Report("devices")
        run(report, timeit)
        print(report.table())
