"""One process of tests/test_devices.py's two-process run: joins the group, runs one
data-parallel jit(grad) step over the 8 devices of both processes, prints the gradient.

    python tests/distributed_worker.py PROCESS_ID PORT   (S2S_NUM_CPU_DEVICES=4)
"""
import json
import os
import sys

import numpy as onp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import s2s  # noqa: E402
from s2s.sharding import NamedSharding, P  # noqa: E402
from seed_programs import logprob_fun  # noqa: E402


def problem():
    """The step's inputs: the same in every process (and in the test's reference)."""
    rng = onp.random.RandomState(3)
    params = [(rng.randn(6, 5).astype(onp.float32), rng.randn(5).astype(onp.float32)),
              (rng.randn(5, 2).astype(onp.float32), rng.randn(2).astype(onp.float32))]
    return params, rng.randn(16, 6).astype(onp.float32), rng.randn(16, 2).astype(onp.float32)


def main(process_id, port):
    s2s.distributed.initialize(f"127.0.0.1:{port}", 2, process_id, initialization_timeout=60,
                               heartbeat_timeout=20)
    assert s2s.device_count() == 8 and s2s.local_device_count() == 4
    assert s2s.process_index() == process_id and s2s.process_count() == 2
    mesh = s2s.make_mesh((8,), ("batch",))
    data, repl = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
    step = s2s.jit(s2s.grad(logprob_fun), in_shardings=(repl, data, data), out_shardings=repl)
    grads = step(*problem())
    print("RESULT " + json.dumps([[onp.asarray(g).tolist() for g in layer] for layer in grads]),
          flush=True)
    s2s.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
