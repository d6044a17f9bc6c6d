"""Bytes the forward sweep of the seeds' MLP gradient saves for the backward sweep.

The MLP is 784-256-10 on a batch of 128 in float32 (``bench_grad``'s). The tape of
``predict`` (``fwd_predict`` in the generated source) is walked and the array memory
it holds is summed, the weights excluded (they are the caller's arrays, not copies).
A value the adjoint reads only for its shape (``unbroadcast(g, t)``) is saved as a
shape stand-in that holds one element.

    PYTHONPATH=. python benchmarks/tape_size.py
"""
import os
import sys

import numpy as onp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from data import make_data  # noqa: E402
from s2s.transforms import vjp_builder  # noqa: E402


def _own_bytes(a):
    """Memory ``a`` holds: its base buffer (a broadcast stand-in holds one element)."""
    while isinstance(a.base, onp.ndarray):
        a = a.base
    return a.nbytes


def tape_report(fn, active, args, exclude):
    """``(bytes, entries)``: array memory on ``fn``'s tape and how many arrays hold it,
    arrays identical to one in ``exclude`` not counted."""
    build = vjp_builder.build_vjp(fn, tuple(active))
    _, tape = build.fwd_cell.cell_contents(*args)
    skip = {id(x) for x in exclude}
    total, entries, todo = 0, 0, [tape]
    while todo:
        x = todo.pop()
        if isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, onp.ndarray) and id(x) not in skip and _own_bytes(x) > 0:
            total += _own_bytes(x)
            entries += 1
    return total, entries


def mlp_tape(predict):
    """``(bytes, entries)`` of ``predict``'s tape on the benchmark's MLP and batch."""
    params, inputs, _ = make_data()
    weights = [a for layer in params for a in layer]
    return tape_report(predict, ["params"], (params, inputs), weights)


def main():
    from bench_grad import predict  # bench_grad imports this module too
    total, entries = mlp_tape(predict)
    print(f"tape of grad(MLP 784-256-10, batch 128, float32): {total:,} bytes in {entries} arrays "
          f"(weights excluded)")


if __name__ == "__main__":
    main()
