"""Audit: which vmap compositions still run once per example (loop_call), and whether each agrees with a Python loop over the examples. Usage: PYTHONPATH=. python benchmarks/audit_vmap_loops.py [substring of a row label ...]"""
import functools
import os
import sys
import warnings

import numpy as onp

import s2s
import s2s.numpy as np
from s2s import lax

from harness import count_loop_calls

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from cases import s2s_x64, loop_over_examples  # noqa: E402 - the tests' helpers

seen = count_loop_calls()

W = onp.array([1.0, 2.0, 3.0])


def if_data(x):
    if np.sum(x) > 0:
        return np.sum(np.sin(x) * x[0] * W)
    return np.sum((np.cos(x) * 2.0 + x) * W)


def while_data(x):
    y = x
    while np.sum(y * y) < 10.0:
        y = y * 1.5 + np.sin(y)
    return np.sum(y * x[0] * W)


def early_return(x):
    y = x
    for i in range(6):
        y = y * 1.7
        if np.max(y) > 2.0:
            return np.sum(y * np.sin(x) * W)
    return -np.sum(y * W)


def for_break(x):
    y = x
    for i in range(10):
        y = y * 1.4 + 0.1 * np.cos(y)
        if np.sum(y) > 3.0:
            break
    return np.sum(y * y * W)


A = onp.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])


def hh(a, x):
    return np.sum(np.tanh(a @ x))


def fn_partial(x):
    return functools.partial(hh, A)(x) * x[0]


def _apply(fn, x):
    return fn(A, x)


def fn_param(x):
    return _apply(hh, x) + np.sum(x * x)


def fn_list(x):
    fs = [lambda v: np.sum(np.sin(v)), lambda v: hh(A, v)]
    return fs[1](x) * fs[0](x)


def closure_if(x):
    def inner(v):
        if np.sum(v) > 0:
            return np.sum(np.sin(v) * x[0])
        return np.sum(np.cos(v))
    return inner(x * 2.0)


FUNCS = [if_data, while_data, early_return, for_break, fn_partial, fn_param, fn_list, closure_if]
MIXED = onp.array([[0.3, -0.7, 1.1], [-0.9, -0.2, -0.5], [1.4, 0.1, -0.5], [0.2, 0.25, 0.3]])

COMPS = {
    "vmap(grad)": lambda f: s2s.vmap(s2s.grad(f)),
    "vmap(jacrev(grad))": lambda f: s2s.vmap(s2s.jacrev(s2s.grad(f))),
    "vmap(hessian)": lambda f: s2s.vmap(s2s.hessian(f)),
    "vmap(jacfwd(grad))": lambda f: s2s.vmap(s2s.jacfwd(s2s.grad(f))),
    "vmap(jacfwd)": lambda f: s2s.vmap(s2s.jacfwd(f)),
    "vmap(f)": lambda f: s2s.vmap(f),
}
REF = {
    "vmap(grad)": lambda f: s2s.grad(f),
    "vmap(jacrev(grad))": lambda f: s2s.jacrev(s2s.grad(f)),
    "vmap(hessian)": lambda f: s2s.hessian(f),
    "vmap(jacfwd(grad))": lambda f: s2s.jacfwd(s2s.grad(f)),
    "vmap(jacfwd)": lambda f: s2s.jacfwd(f),
    "vmap(f)": lambda f: f,
}


def run(label, thunk, ref):
    del seen[:]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = thunk()
        err = onp.max(onp.abs(onp.asarray(got) - onp.asarray(ref)))
        status = "ok" if err < 1e-9 else f"WRONG {err:.2e}"
    except Exception as e:
        status = f"ERR {type(e).__name__}: {str(e)[:100]}"
    print(f"{label:45s} {status:12s} loops={sorted(set(seen))}", flush=True)


def main():
  only = sys.argv[1:]
  with s2s_x64():
      for fn in FUNCS:
          for cname, comp in COMPS.items():
              for jitted in (False, True):
                  label = f"{'jit(' if jitted else ''}{cname}{')' if jitted else ''} {fn.__name__}"
                  if only and not any(o in label for o in only):
                      continue
                  ref = loop_over_examples(REF[cname](fn), [MIXED], [0])
                  g = comp(fn)
                  run(label, (lambda g=g, j=jitted: (s2s.jit(g) if j else g)(MIXED)), ref)
      # quantile / reduce_window per-example
      qs = onp.array([0.1, 0.5, 0.7, 0.95])
      def qf(x, q):
          return np.quantile(x, q)
      want = onp.stack([onp.quantile(x, q) for x, q in zip(MIXED, qs)])
      for jitted in (False, True):
          g = s2s.vmap(qf)
          run(f"{'jit ' if jitted else ''}vmap quantile q", lambda: (s2s.jit(g) if jitted else g)(MIXED, qs), want)
          g2 = s2s.vmap(qf, in_axes=(None, 0))
          want2 = onp.stack([onp.quantile(MIXED[0], q) for q in qs])
          run(f"{'jit ' if jitted else ''}vmap quantile q (x shared)", lambda: (s2s.jit(g2) if jitted else g2)(MIXED[0], qs), want2)
      starts = onp.array([0.0, 0.5, -1.0, 0.1])
      def rw(x, init):
          return lax.reduce_window(x, init, lax.max, (2,), (1,), "VALID")
      want = onp.stack([rw(x, s) for x, s in zip(MIXED, starts)])
      for jitted in (False, True):
          g = s2s.vmap(rw)
          run(f"{'jit ' if jitted else ''}vmap reduce_window init", lambda: (s2s.jit(g) if jitted else g)(MIXED, starts), want)


if __name__ == "__main__":
    main()
