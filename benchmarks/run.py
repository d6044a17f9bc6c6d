"""Benchmark runner: prints a table of timings with ratios and writes JSON.

    python benchmarks/run.py            # every benchmark
    python benchmarks/run.py grad jit   # some of them

Results go to benchmarks/results/<name>.json. Timings are medians; ratios are
relative to s2s (a ratio above 1 means the other implementation is slower).
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import Report, timeit  # noqa: E402

BENCHMARKS = ["grad", "jit", "cache", "devices", "jacobians", "vmap"]


def main(names):
    names = names or BENCHMARKS
    for name in names:
        try:
            module = importlib.import_module(f"bench_{name}")
        except ImportError as e:
            print(f"skipping {name}: {e}")
            continue
        report = Report(name)
        module.run(report, timeit)
        print(report.table())
        report.write_json(os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", f"{name}.json"))


if __name__ == "__main__":
    main(sys.argv[1:])
