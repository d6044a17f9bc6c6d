"""Which functions hessian runs once per basis vector (``loop_call``) through the linear
algebra factorizations, and the time per hessian.

    python benchmarks/linalg_second_order.py [--repeat R] [--n N] [--how hessian|jacrev]

For each scalar loss (lax.linalg and numpy.linalg forms of cholesky, eigh, lu, qr, svd,
triangular_solve, solve, inv, det, slogdet) prints the functions run in ``loop_call``
during one hessian (or jacrev of grad) and the best-of-R eager time per call (float64,
N x N matrices: N * N basis vectors).
"""
import argparse
import time

import numpy as onp

import s2s
import s2s.numpy as snp
from s2s import lax

from harness import count_loop_calls

N = 3  # (--n)


def _spd(x):
    m = x.reshape(N, N)
    return m @ m.T + N * snp.eye(N)


def _sym(x):
    m = x.reshape(N, N)
    return m + m.T


def _mat(x):
    return x.reshape(N, N) + 2.0 * snp.eye(N)


LOSSES = {
    "lax.cholesky": lambda x: snp.sum(snp.sin(lax.linalg.cholesky(_spd(x)))),
    "lax.eigh": lambda x: snp.sum(snp.sin(lax.linalg.eigh(_sym(x))[0]) * lax.linalg.eigh(_sym(x))[1]),
    "lax.lu": lambda x: snp.sum(snp.sin(lax.linalg.lu(_mat(x))[0])),
    "lax.qr": lambda x: snp.sum(snp.sin(lax.linalg.qr(_mat(x))[0]) + lax.linalg.qr(_mat(x))[1] ** 2),
    "lax.svd": lambda x: snp.sum(snp.sin(lax.linalg.svd(_mat(x), full_matrices=False)[1])
                                  * lax.linalg.svd(_mat(x), full_matrices=False)[0]),
    "lax.triangular_solve": lambda x: snp.sum(snp.sin(lax.linalg.triangular_solve(
        _mat(x), x.reshape(N, N), left_side=True, lower=True))),
    "np.cholesky": lambda x: snp.sum(snp.sin(snp.linalg.cholesky(_spd(x)))),
    "np.eigh": lambda x: snp.sum(snp.sin(snp.linalg.eigh(_sym(x))[1]) * snp.linalg.eigh(_sym(x))[0]),
    "np.qr": lambda x: snp.sum(snp.sin(snp.linalg.qr(_mat(x))[0]) + snp.linalg.qr(_mat(x))[1] ** 2),
    "np.svd": lambda x: snp.sum(snp.sin(snp.linalg.svd(_mat(x))[0]) * snp.linalg.svd(_mat(x))[1]),
    "np.solve": lambda x: snp.sum(snp.sin(snp.linalg.solve(_mat(x), x[:N]))),
    "np.inv": lambda x: snp.sum(snp.sin(snp.linalg.inv(_mat(x)))),
    "np.det": lambda x: snp.sin(snp.linalg.det(_mat(x))),
    "np.slogdet": lambda x: snp.sin(snp.linalg.slogdet(_mat(x))[1]),
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=None)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--how", choices=("hessian", "jacrev"), default="hessian")
    args = parser.parse_args()
    global N
    N = args.n
    s2s.config.update("enable_x64", True)
    seen = count_loop_calls()
    x = onp.random.default_rng(0).normal(size=N * N) * 0.3
    second = s2s.hessian if args.how == "hessian" else lambda f: s2s.jacrev(s2s.grad(f))
    for name, loss in LOSSES.items():
        if args.only and args.only not in name:
            continue
        h = second(loss)
        h(x)  # build
        del seen[:]
        h(x)
        calls, loops = len(seen), sorted(set(seen))
        best = float("inf")
        for _ in range(args.repeat):
            t = time.perf_counter()
            h(x)
            best = min(best, time.perf_counter() - t)
        print(f"{name:22s} {best * 1e3:9.2f} ms  loop_call: {calls} calls {loops}")


if __name__ == "__main__":
    main()
