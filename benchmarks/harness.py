"""Timing helpers for the benchmarks: medians over repeats, ratios, a table, JSON."""
import json
import os
import platform
import statistics
import sys
import time


def timeit(fn, *, repeat=20, number=None, min_time=0.2, warmup=2):
    """Median seconds per call of ``fn()`` (calls are batched to last >= 1 ms each)."""
    for _ in range(warmup):
        fn()
    if number is None:
        number = 1
        while True:
            t = time.perf_counter()
            for _ in range(number):
                fn()
            if time.perf_counter() - t > 1e-3 or number > 1 << 20:
                break
            number *= 4
    samples = []
    start = time.perf_counter()
    while len(samples) < repeat or time.perf_counter() - start < min_time:
        t = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - t) / number)
        if len(samples) > 10 * repeat:
            break
    return statistics.median(samples)


def timeit_side_by_side(fns, *, rounds=7, repeat=5, min_time=0.05):
    """Median seconds per call of each ``fns[name]()``, timed in alternating rounds.

    Interleaving keeps slow drifts of a shared machine (other tenants, clock
    changes) from landing on one implementation only, so ratios stay steady.
    """
    samples = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            samples[name].append(timeit(fn, repeat=repeat, min_time=min_time))
    return {name: statistics.median(ts) for name, ts in samples.items()}


class Report:
    """Rows of (benchmark, implementation, seconds); ratios against a baseline row."""

    def __init__(self, title):
        self.title = title
        self.rows = []

    def add(self, bench, impl, seconds, baseline=False, note=""):
        self.rows.append({"benchmark": bench, "impl": impl, "seconds": seconds,
                          "baseline": baseline, "note": note})

    def table(self):
        lines = [f"== {self.title}", f"{'benchmark':34s} {'implementation':28s} {'time':>12s} {'vs s2s':>8s}"]
        for bench in dict.fromkeys(r["benchmark"] for r in self.rows):
            rows = [r for r in self.rows if r["benchmark"] == bench]
            ref = next((r["seconds"] for r in rows if r["impl"].startswith("s2s")), None)
            for r in rows:
                ratio = f"{r['seconds'] / ref:7.2f}x" if ref and r["seconds"] else "      -"
                lines.append(f"{bench:34s} {r['impl']:28s} {_fmt(r['seconds']):>12s} {ratio}"
                             + (f"  {r['note']}" if r["note"] else ""))
        return "\n".join(lines)

    def write_json(self, path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump({"title": self.title, "machine": platform.platform(),
                       "python": platform.python_version(), "rows": self.rows}, f, indent=2)


def _fmt(seconds):
    if seconds is None:
        return "n/a"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def count_loop_calls():
    """The functions vmap runs once per example from now on, by name (a list that grows):
    every s2s module's ``loop_call`` is replaced by a counting one, as the ``loops``
    fixture of tests/conftest.py does (call it after importing s2s)."""
    seen = []
    original = sys.modules["s2s.numpy.batching"].loop_call

    def counting(fn, axes, args, kwargs, kw_batched=(), where=None):
        seen.append(getattr(fn, "__qualname__", repr(fn)))
        return original(fn, axes, args, kwargs, kw_batched, where=where)
    for module in list(sys.modules.values()):
        if (getattr(module, "__name__", "") or "").startswith("s2s") and \
                getattr(module, "loop_call", None) is original:
            module.loop_call = counting
    return seen
