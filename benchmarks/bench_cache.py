"""The persistent compilation cache: the first call of jit(grad(MLP)) in a new process.

    python benchmarks/run.py cache

Each sample is a new Python process (medians over rounds, alternating between the
variants): s2s with a warm ``S2S_CACHE_DIR``, s2s without a cache, and JAX without
its own cache (JAX's cold first call). Rows: the first call alone (imports timed
apart), the first call with the imports, and the first call split into the
backend's start (``devices()``: s2s imports jaxlib and makes its PJRT client there,
JAX in its import), staging (``lower``) and XLA compile (``compile``: a cache load
for the warm s2s). The warm first call itself does not stage: it reads the staged
program's record (``s2s.program_key``); ``lower()``, asked for explicitly in the
split rows, stages.

The fourth variant, ``s2s+jaxlib``, is the warm s2s with jaxlib's modules imported
before the clock starts, as ``import jax`` imports them: s2s defers that import to its
first call (an eager-only program never pays it), so "imports excl." charges s2s for
jaxlib's import and not JAX. Both make their PJRT client in the first call. Its first
call row is the like-for-like one; "imports incl." is like-for-like for every variant.

Every variant imports from cached bytecode, as an installed package does (pip writes
``.pyc`` files at install; an editable install writes them on its first import): the
samples share a ``PYTHONPYCACHEPREFIX`` that untimed runs of each variant fill first.
Without that, where ``PYTHONDONTWRITEBYTECODE`` is set and the checkout has no
``__pycache__``, each new process compiled s2s's ~150 modules from source (about
0.45 s of a 0.55-0.7 s ``import s2s``) while JAX read the ``.pyc`` files pip wrote.
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile

_HERE = os.path.dirname(os.path.abspath(__file__))

_WORKER = """
import json, sys, time
sys.path.insert(0, {here!r})
from data import make_data
params, inputs, targets = make_data()
which, mode = {which!r}, {mode!r}
t0 = time.perf_counter()
if which == "jax":
    import jax
    import jax.numpy as jnp

    def loss(params, inputs, targets):
        for W, b in params:
            outputs = jnp.dot(inputs, W) + b
            inputs = jnp.tanh(outputs)
        return jnp.sum((outputs - targets) ** 2)
    f = jax.jit(jax.grad(loss))
    block = jax.block_until_ready
else:
    import s2s
    if which == "s2s+jaxlib":  # what ``import jax`` imports of jaxlib, imported up front
        import jaxlib.xla_client  # noqa: F401
        from jaxlib import _jax  # noqa: F401
    from bench_grad import logprob_fun as loss
    f = s2s.jit(s2s.grad(loss))
    block = lambda x: x
t1 = time.perf_counter()
out = dict(imports=t1 - t0)
if mode == "call":
    block(f(params, inputs, targets))
    out["first_call"] = time.perf_counter() - t1
else:  # the backend's start, staging and XLA's compile, apart
    (jax if which == "jax" else s2s).devices()  # s2s imports jaxlib and makes its client here
    t2 = time.perf_counter()
    lowered = f.lower(params, inputs, targets)
    t3 = time.perf_counter()
    compiled = lowered.compile()
    out.update(backend=t2 - t1, stage=t3 - t2, compile=time.perf_counter() - t3)
if which != "jax":
    from s2s.xla import compile_cache
    out["stats"] = dict(compile_cache.stats(), records=compile_cache.record_stats())
print(json.dumps(out))
"""

VARIANTS = ("s2s, warm S2S_CACHE_DIR", "s2s, no cache", "jax, no cache",
            "s2s+jaxlib, warm S2S_CACHE_DIR")


def _env(bytecode):
    """The samples' environment: no compilation cache, bytecode read from ``bytecode``."""
    env = dict(os.environ, PYTHONPYCACHEPREFIX=bytecode)
    for name in ("S2S_CACHE_DIR", "JAX_COMPILATION_CACHE_DIR", "JAX_ENABLE_COMPILATION_CACHE",
                 "PYTHONDONTWRITEBYTECODE"):
        env.pop(name, None)
    return env


def _sample(variant, mode, cache, bytecode):
    env = _env(bytecode)
    if "warm" in variant:
        env["S2S_CACHE_DIR"] = cache
    which = variant.split(",")[0]
    out = subprocess.run([sys.executable, "-c", _WORKER.format(here=_HERE, which=which, mode=mode)],
                         capture_output=True, text=True, check=True, env=env, timeout=300)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    stats = result.get("stats")
    if stats is not None:  # the warm variant must load, the others compile
        warm = "warm" in variant
        assert (stats["hits"], stats["compiles"]) == ((1, 0) if warm else (0, 1)), (variant, stats)
        if warm and mode == "call":  # and staging skipped
            assert stats["records"]["hits"] == 1, (variant, stats)
    return result


def measure(rounds=5):
    """{(variant, quantity): median seconds} over ``rounds`` new processes of each kind."""
    samples = {}
    with tempfile.TemporaryDirectory(prefix="s2s-bench-cache-") as cache, \
            tempfile.TemporaryDirectory(prefix="s2s-bench-pyc-") as bytecode:
        os.chmod(cache, 0o700)
        # Untimed: fills the cache, the bytecode and the OS's file cache (for every
        # variant alike; a variant whose module is missing is skipped below).
        subprocess.run([sys.executable, "-c", _WORKER.format(here=_HERE, which="s2s", mode="call")],
                       capture_output=True, check=True, env=dict(_env(bytecode), S2S_CACHE_DIR=cache),
                       timeout=300)
        for mode in ("call", "split"):
            for which in ("s2s", "jax"):
                subprocess.run([sys.executable, "-c", _WORKER.format(here=_HERE, which=which, mode=mode)],
                               capture_output=True, env=_env(bytecode), timeout=300)
        for _ in range(rounds):
            for mode in ("call", "split"):
                for variant in VARIANTS:
                    try:
                        r = _sample(variant, mode, cache, bytecode)
                    except subprocess.CalledProcessError as e:
                        if variant.startswith("jax") and "No module named 'jax'" in e.stderr:
                            continue
                        raise
                    for quantity, seconds in r.items():
                        if quantity != "stats":
                            samples.setdefault((variant, quantity, mode), []).append(seconds)
    return {k: statistics.median(v) for k, v in samples.items()}


def run(report, timeit):
    m = measure()
    rows = [
        ("first call in a new process (imports excl.)", lambda v: m.get((v, "first_call", "call"))),
        ("same, imports incl.", lambda v: m.get((v, "first_call", "call"), 0) + m.get((v, "imports", "call"), 0)
         if (v, "first_call", "call") in m else None),
        ("its backend start (jaxlib, PJRT client)", lambda v: m.get((v, "backend", "split"))),
        ("its staging (lower)", lambda v: m.get((v, "stage", "split"))),
        ("its XLA compile (or cache load)", lambda v: m.get((v, "compile", "split"))),
        ("imports", lambda v: m.get((v, "imports", "call"))),
    ]
    for bench, get in rows:
        for variant in VARIANTS:
            seconds = get(variant)
            if seconds is not None:
                report.add(bench, variant, seconds, baseline=variant == VARIANTS[0])
