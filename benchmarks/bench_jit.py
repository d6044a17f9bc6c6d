"""jit against jax.jit (and NumPy), in one process. Run: python benchmarks/run.py jit

* jit(grad(MLP loss)): execution time, and first-call latency (stage + compile +
  run) of a freshly made function, in this warm process and in a new process
  (imports included)
* dispatch of a tiny f(x) = x + 1
* the seeds' fusion example x * x + x * 2.0 on 2000x2000, with NumPy input (both
  sides copy it in) and with input already in the form each library keeps (that
  row: the median over fresh processes; ``python bench_jit.py --resident N`` prints
  each process's figures)
* Newton iterations until convergence: a plain Python while loop under s2s.jit,
  against jax.lax.while_loop under jax.jit
"""
import gc
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as onp

import s2s
import s2s.numpy as np

from bench_grad import logprob_fun, make_data
from harness import timeit, timeit_side_by_side

_HERE = os.path.dirname(os.path.abspath(__file__))


def newton(a):
    x = a
    while np.max(np.abs(x * x - a) / a) > 1e-5:
        x = 0.5 * (x + a / x)
    return x


def _first_calls(makers, block, rounds=7):
    """Median time of the first call (stage + compile + run) of freshly made jitted
    functions, ``makers[name] = (make, args)``, alternating between them."""
    times = {name: [] for name in makers}
    for _ in range(rounds):
        for name, (make, args) in makers.items():
            gc.collect()
            f = make()
            t = time.perf_counter()
            block(f(*args))
            times[name].append(time.perf_counter() - t)
    return {name: statistics.median(ts) for name, ts in times.items()}


_COLD = """
import sys, time
sys.path.insert(0, {here!r})
from data import make_data
params, inputs, targets = make_data()
t = time.perf_counter()
if {which!r} == "s2s":
    import s2s
    from bench_grad import logprob_fun
    s2s.jit(s2s.grad(logprob_fun))(params, inputs, targets)
else:
    import jax
    import jax.numpy as jnp

    def jax_loss(params, inputs, targets):
        for W, b in params:
            outputs = jnp.dot(inputs, W) + b
            inputs = jnp.tanh(outputs)
        return jnp.sum((outputs - targets) ** 2)
    jax.block_until_ready(jax.jit(jax.grad(jax_loss))(params, inputs, targets))
print(time.perf_counter() - t)
"""


def _cold_start(which, repeat=3):
    """Seconds from a new process's import of the library to its first jit(grad) result."""
    times = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, "-c", _COLD.format(here=_HERE, which=which)],
                             capture_output=True, text=True, check=True, timeout=300)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


_RESIDENT_S2S, _RESIDENT_JAX = "s2s.jit (s2s.device_put input)", "jax.jit (jax.device_put input)"


def resident_child(which):
    """In this process, with only ``which`` ("s2s" or "jax") imported: seconds per call
    of ``x * x + x * 2.0`` on a 2000x2000 float32 input already in device memory, and
    what might tell a slow process from a fast one (keys starting with ``_``): where
    the input and result buffers lie (offset in their 4 KiB page), minor page faults
    and involuntary context switches and CPU time per call (after the timing), the CPU
    this process ran on, its memory in transparent huge pages (all of it; the mappings
    holding the input, 0, and a result, 1). One library
    a process: s2s tunes glibc's malloc for the whole process (s2s.xla.host_memory), and
    each side's allocations would move the other's."""
    import resource

    def slow_f(x):
        return x * x + x * 2.0

    big = onp.ones((2000, 2000), onp.float32)
    if which == "s2s":
        fast = s2s.jit(slow_f)
        resident = s2s.device_put(big)
        fn = lambda: fast(resident)  # noqa: E731
        in_ptr, out_ptr = resident.ctypes.data, fn().ctypes.data
    else:
        import jax
        jfast = jax.jit(slow_f)
        jbig = jax.device_put(big)
        fn = lambda: jfast(jbig).block_until_ready()  # noqa: E731
        in_ptr, out_ptr = jbig.unsafe_buffer_pointer(), fn().unsafe_buffer_pointer()
    out = {"_in_page_offset": in_ptr % 4096, "_out_page_offset": out_ptr % 4096}
    onp.testing.assert_allclose(onp.asarray(fn()), slow_f(big))
    with open("/proc/self/stat") as f:
        out["_cpu"] = int(f.read().rsplit(")", 1)[1].split()[36])
    out["seconds"] = statistics.median(timeit(fn, repeat=5, min_time=0.05) for _ in range(7))
    # After the timing: the first calls' page faults (the heap settling, a few 8-16 MB
    # faulted in once) are over by then.
    before, cpu = resource.getrusage(resource.RUSAGE_SELF), time.process_time()
    for _ in range(50):
        fn()
    after, cpu = resource.getrusage(resource.RUSAGE_SELF), time.process_time() - cpu
    # CPU time of all threads: steadier than wall-clock time on a loaded machine, and it
    # still counts the time spent waiting on memory and in page faults.
    out["_cpu_us_per_call"] = cpu / 50 * 1e6
    out["_faults_per_call"] = (after.ru_minflt - before.ru_minflt) / 50
    out["_switches_per_call"] = (after.ru_nivcsw - before.ru_nivcsw) / 50
    out.update(_huge_pages(in_ptr, out_ptr))
    return out


def _huge_pages(*pointers):
    """``_anon_huge_kb``: this process's anonymous memory in transparent huge pages;
    ``_huge_kb_<i>``: that of the mapping holding ``pointers[i]`` (Linux only)."""
    found = {}
    try:
        with open("/proc/self/smaps") as f:
            lines = f.read().splitlines()
    except OSError:
        return found
    total, mapping = 0, None
    for line in lines:
        head = line.split()[0]
        if "-" in head and not head.endswith(":"):  # a mapping's first line: its address range
            start, end = (int(v, 16) for v in head.split("-"))
            mapping = [i for i, p in enumerate(pointers) if start <= p < end]
        elif head == "AnonHugePages:":
            kb = int(line.split()[1])
            total += kb
            for i in mapping or ():
                found[f"_huge_kb_{i}"] = kb
    found["_anon_huge_kb"] = total
    return found


def _resident_in_fresh_processes(sides, processes=5, timeout=120):
    """``{side: [resident_child(side)'s figures, one per new process]}``, the sides'
    processes alternating (a slow spell of the machine lands on both); a process that
    fails or hangs fails the benchmark."""
    results = {side: [] for side in sides}
    for _ in range(processes):
        for side in sides:
            code = (f"import json, sys; sys.path.insert(0, {_HERE!r}); import bench_jit; "
                    f"print(json.dumps(bench_jit.resident_child({side!r})))")
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True, timeout=timeout)
            results[side].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def jax_loss(params, inputs, targets):
    import jax.numpy as jnp
    for W, b in params:
        outputs = jnp.dot(inputs, W) + b
        inputs = jnp.tanh(outputs)
    return jnp.sum((outputs - targets) ** 2)


def _add_all(report, bench, timings, baseline=None):
    for impl, seconds in timings.items():
        report.add(bench, impl, seconds, baseline=impl == baseline)


def run(report, timeit):
    try:
        import jax
        import jax.numpy as jnp
    except ImportError:
        jax = None
    block = jax.block_until_ready if jax is not None else (lambda x: x)

    # jit(grad(MLP)): arguments as NumPy arrays (both copy them in on every call),
    # and placed in device memory once (what a training loop feeds back in)
    params, inputs, targets = make_data()
    g = s2s.jit(s2s.grad(logprob_fun))
    dparams, dinputs, dtargets = s2s.device_put((params, inputs, targets))
    fns = {"s2s.jit(s2s.grad)": lambda: g(params, inputs, targets)}
    resident = {"s2s.jit(s2s.grad), s2s.device_put args": lambda: g(dparams, dinputs, dtargets)}
    if jax is not None:
        jg = jax.jit(jax.grad(jax_loss))
        jparams, ji, jt = jax.device_put((params, inputs, targets))
        onp.testing.assert_allclose(g(params, inputs, targets)[0][0], jg(jparams, ji, jt)[0][0],
                                    rtol=2e-3, atol=1e-4)
        fns["jax.jit(jax.grad)"] = lambda: block(jg(params, inputs, targets))
        resident["jax.jit(jax.grad), jax.device_put args"] = lambda: block(jg(jparams, ji, jt))
    for fn in list(fns.values()) + list(resident.values()):
        fn()
    _add_all(report, "jit(grad(MLP 784-256-10 b128)), NumPy args", timeit_side_by_side(fns))
    _add_all(report, "jit(grad(MLP 784-256-10 b128)), resident args", timeit_side_by_side(resident))

    makers = {"s2s.jit(s2s.grad)": (lambda: s2s.jit(s2s.grad(lambda p, x, y: logprob_fun(p, x, y))),
                                    (params, inputs, targets))}
    if jax is not None:
        makers["jax.jit(jax.grad)"] = (lambda: jax.jit(jax.grad(lambda p, x, y: jax_loss(p, x, y))),
                                       (jparams, ji, jt))
    _add_all(report, "first call, fresh function, warm process", _first_calls(makers, block))

    bench = "first call in a new process (imports incl.)"
    report.add(bench, "s2s.jit(s2s.grad)", _cold_start("s2s"))
    if jax is not None:
        report.add(bench, "jax.jit(jax.grad)", _cold_start("jax"))

    # dispatch
    x3 = onp.ones(3, onp.float32)
    f = s2s.jit(lambda x: x + 1)
    fns = {"s2s.jit": lambda: f(x3)}
    if jax is not None:
        jf = jax.jit(lambda x: x + 1)
        fns["jax.jit (NumPy in, Array out)"] = lambda: jf(x3)
        # What s2s returns: the result as a NumPy array.
        fns["jax.jit (NumPy in, NumPy out)"] = lambda: onp.asarray(jf(x3))
    for fn in fns.values():
        fn()
    _add_all(report, "dispatch f(x) = x + 1 on float32[3]", timeit_side_by_side(fns, rounds=9))

    # fusion
    def slow_f(x):
        return x * x + x * 2.0

    big = onp.ones((2000, 2000), onp.float32)
    fast = s2s.jit(slow_f)
    # s2s.device_put (like jit results) gives 64-byte aligned host arrays, which XLA
    # reads in place; NumPy's own are 16-byte aligned, so they are copied in.
    resident = s2s.device_put(big)
    fns = {"s2s.jit": lambda: fast(big), "NumPy": lambda: slow_f(big)}
    if jax is not None:
        jfast = jax.jit(slow_f)
        jbig = jax.device_put(big)
        fns["jax.jit"] = lambda: block(jfast(big))
    for fn in fns.values():
        fn()
    _add_all(report, "x * x + x * 2.0, 2000x2000, NumPy input", timeit_side_by_side(fns), "NumPy")
    # Resident input: one process samples its own memory placement, which moves this
    # memory-bound call by up to 1.7x either way (README), so the row is the median over
    # fresh processes, each timing both sides alternately (who goes first alternates too).
    per_process = _resident_in_fresh_processes(["s2s", "jax"] if jax is not None else ["s2s"])
    bench = f"x * x + x * 2.0, 2000x2000, resident input, median of {len(per_process['s2s'])} processes"
    for side, impl in [("s2s", _RESIDENT_S2S), ("jax", _RESIDENT_JAX)]:
        if side in per_process:
            times = [p["seconds"] for p in per_process[side]]
            cpu = statistics.median(p["_cpu_us_per_call"] for p in per_process[side])
            report.add(bench, impl, statistics.median(times),
                       note=f"processes {min(times) * 1e6:.0f}-{max(times) * 1e6:.0f} us; CPU {cpu:.0f} us a call")

    # Newton loop
    a = onp.linspace(1.0, 100.0, 1000).astype(onp.float32)
    nf = s2s.jit(newton)
    fns = {"s2s.jit (plain Python while)": lambda: nf(a)}
    if jax is not None:
        def jnewton(a):
            def cond(x):
                return jnp.max(jnp.abs(x * x - a) / a) > 1e-5

            def body(x):
                return 0.5 * (x + a / x)
            return jax.lax.while_loop(cond, body, a)
        jn = jax.jit(jnewton)
        onp.testing.assert_allclose(onp.asarray(nf(a)), onp.asarray(jn(a)), rtol=1e-5)
        fns["jax.jit (lax.while_loop)"] = lambda: block(jn(a))
    for fn in fns.values():
        fn()
    _add_all(report, "Newton sqrt until converged, float32[1000]", timeit_side_by_side(fns))


if __name__ == "__main__" and sys.argv[1:2] == ["--resident"]:
    # Each process's figures, to look for what tells a slow process from a fast one.
    sides = ["s2s", "jax"]
    runs = _resident_in_fresh_processes(sides, int(sys.argv[2]) if len(sys.argv) > 2 else 5)
    for side in sides:
        for row in runs[side]:
            print(f"{side} {row['seconds'] * 1e6:6.0f} us  " + "  ".join(
                f"{k[1:]}={v:g}" for k, v in sorted(row.items()) if k.startswith("_")))
        print(f"{side} median {statistics.median(r['seconds'] for r in runs[side]) * 1e6:.0f} us")
