"""Stacks of transformations over functions with custom rules, ``checkpoint`` and complex
numbers, checked against JAX in 64-bit mode (round 2 of ``composition_checker.py``).

Each subject is written once against a namespace pair ``(T, N)``: ``(s2s, s2s.numpy)``
or ``(jax, jax.numpy)``. The custom rules differ from the true derivative on purpose
(2x, 3x, a dropped term), so finite differences cannot stand for them: JAX's answer
is the reference, to every order (JAX differentiates a rule at higher order, and the
``fwd``/``bwd`` of a ``custom_vjp`` under a second derivative). Where JAX raises
(forward mode over a ``custom_vjp``), s2s may raise too, or give the answer central
differences of its inner stack give.

Run many combinations from the command line (JAX needed)::

    PYTHONPATH=.:tests python tests/custom_rule_stacks.py --depth 2 --count 300
"""
import argparse
import collections
import functools
import itertools
import random
import sys
import warnings

import numpy as np

import s2s
import s2s.numpy as snp

_A = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
_AC = _A + 1j * np.linspace(0.5, -0.5, 12).reshape(3, 4)


def pair_rule(T, N):
    """A custom_vjp on a dict giving a pair (its rule halves the true cotangent of the
    second output), written with ``T``/``N``."""
    @T.custom_vjp
    def pair(d):
        return d["a"] * d["b"], N.sin(d["a"])

    def pair_fwd(d):
        return pair(d), (d["a"], d["b"])

    def pair_bwd(res, g):
        a, b = res
        g0, g1 = g
        return ({"a": g0 * b + g1 * N.cos(a) * 0.5, "b": g0 * a},)
    pair.defvjp(pair_fwd, pair_bwd)
    return pair


def custom_subjects(T, N):
    """name -> function of a float vector of 4, written with ``T``/``N``."""
    out = {}

    @T.custom_jvp
    def sin2(x):
        return N.sin(x)

    @sin2.defjvp
    def sin2_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return sin2(x), 2.0 * N.cos(x) * t
    out["cj_defjvp"] = lambda x: sin2(_A @ x) * N.sum(x)

    @T.custom_jvp
    def prod(x, y):
        return x * y
    prod.defjvps(lambda tx, ans, x, y: 2.0 * tx * y * y, lambda ty, ans, x, y: 3.0 * x * ty)
    out["cj_defjvps"] = lambda x: prod(N.tanh(x[:2]), x[2:])

    @functools.partial(T.custom_jvp, nondiff_argnums=(0,))
    def power(n, x):
        return x ** n

    @power.defjvp
    def power_jvp(n, primals, tangents):
        (x,), (t,) = primals, tangents
        return power(n, x), 2.0 * n * x ** (n - 1) * t
    out["cj_nondiff"] = lambda x: power(3, N.sin(x)) + x

    @functools.partial(T.custom_jvp, nondiff_argnums=(1,))
    def shift(x, k):
        return N.sin(x) + k

    @shift.defjvp
    def shift_jvp(k, primals, tangents):
        (x,), (t,) = primals, tangents
        return shift(x, k), 3.0 * N.cos(x) * t
    out["cj_nondiff1"] = lambda x: shift(x, 2) * x

    @T.custom_jvp
    def sincos(x):
        return N.sin(x), N.cos(x)

    @sincos.defjvp
    def sincos_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        s, c = sincos(x)  # the rule reads its primal outputs
        return (s, c), (c * t * 1.5, -s * t)

    def cj_tuple(x):
        s, c = sincos(x * x)
        return s * c + s
    out["cj_tuple"] = cj_tuple

    @T.custom_jvp
    def softplus(x):
        return N.log1p(N.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t * 0.5 / (1.0 + N.exp(-x))
    out["cj_nested"] = lambda x: softplus(sin2(x) * 2.0) * x

    @T.custom_vjp
    def cube(x):
        return x * x * x

    def cube_fwd(x):
        return x * x * x, N.cos(x)

    def cube_bwd(res, g):
        return (res * g * 2.0,)
    cube.defvjp(cube_fwd, cube_bwd)
    out["cv"] = lambda x: N.sin(cube(_A @ x))

    @functools.partial(T.custom_vjp, nondiff_argnums=(0,))
    def scale_grad(s, x):
        return N.sin(x)

    def sg_fwd(s, x):
        return N.sin(x), x

    def sg_bwd(s, x, g):
        return (g * s * N.cos(x),)
    scale_grad.defvjp(sg_fwd, sg_bwd)
    out["cv_nondiff"] = lambda x: scale_grad(4.0, x * 2.0) * x

    pair = pair_rule(T, N)

    def cv_tree(x):
        p, q = pair({"a": x[:2], "b": x[2:]})
        return N.concatenate([p, q * 2.0])
    out["cv_tree"] = cv_tree

    def layers(n, v):
        for _ in range(n):
            v = N.tanh(_A.T @ N.tanh(_A @ v))
        return v
    ck = T.checkpoint(layers, static_argnums=(0,))
    out["ckpt_static"] = lambda x: ck(2, x) * N.sum(x)
    ck2 = T.checkpoint(lambda v: sin2(v) * v)
    out["ckpt_custom"] = lambda x: ck2(x * 1.5)
    return out


def complex_subjects(N):
    """name -> (function, kind): ``CC`` holomorphic, ``CR`` complex to real, ``RC``/``RR``
    real input through complex values."""
    return {
        "holo_sin": (lambda z: N.sin(z) * z + N.exp(z * 0.5), "CC"),
        "holo_mat": (lambda z: N.tanh(_AC @ z) * N.sum(z * z), "CC"),
        "holo_pow": (lambda z: z ** 3 + 1.0 / (z + 2.0), "CC"),
        "abs2": (lambda z: N.sum(N.abs(z) ** 2 + N.real(z) * N.imag(z)), "CR"),
        "absval": (lambda z: N.sum(N.abs(N.sin(z))), "CR"),
        "real_mix": (lambda z: N.sum(N.real(N.conj(z) * N.exp(z))), "CR"),
        "angle": (lambda z: N.sum(N.angle(z + 2.0) * N.abs(z)), "CR"),
        "r2c": (lambda x: N.exp(1j * x) * x, "RC"),
        "r2c_sum": (lambda x: N.sum(N.abs(N.exp(1j * x) + x) ** 2), "RR"),
    }


def _vjp_cos(T, N, g):
    def vjp_cos(x):
        out, pull = T.vjp(g, x)
        return pull(N.cos(out) + 1.5)[0]
    return vjp_cos


# name -> builder(T, N, g); argument shapes: jvp/linearize stack primal and tangent,
# vmap adds a leading axis of 3, vmap1 a second one.
LAYERS = {
    "jit": lambda T, N, g: T.jit(g),
    "grad": lambda T, N, g: T.grad(lambda v: N.sum(g(v))),
    "grad_real": lambda T, N, g: T.grad(lambda v: N.sum(N.real(g(v)))),
    "jvp": lambda T, N, g: (lambda p: T.jvp(g, (p[0],), (p[1],))[1]),
    "linearize": lambda T, N, g: (lambda p: T.linearize(g, p[0])[1](p[1])),
    "vjp": _vjp_cos,
    "jacfwd": lambda T, N, g: T.jacfwd(g),
    "jacrev": lambda T, N, g: T.jacrev(g),
    "hessian": lambda T, N, g: T.hessian(lambda v: N.sum(g(v))),
    "jacfwd_h": lambda T, N, g: T.jacfwd(g, holomorphic=True),
    "jacrev_h": lambda T, N, g: T.jacrev(g, holomorphic=True),
    "hessian_h": lambda T, N, g: T.hessian(lambda v: N.sum(g(v)), holomorphic=True),
    "grad_h": lambda T, N, g: T.grad(lambda v: N.sum(g(v)), holomorphic=True),
    "vmap": lambda T, N, g: T.vmap(g),
    "vmap1": lambda T, N, g: T.vmap(g, in_axes=1, out_axes=-1),
}
CUSTOM_LAYERS = ["jit", "grad", "jvp", "linearize", "vjp", "jacfwd", "jacrev", "hessian", "vmap",
                 "vmap1"]
COMPLEX_LAYERS = ["jit", "grad_real", "jvp", "linearize", "vjp", "jacfwd", "jacrev", "jacfwd_h",
                  "jacrev_h", "hessian_h", "grad_h", "vmap"]


def _order(stack):
    return sum(2 if n.startswith("hessian") else 0 if n in ("jit", "vmap", "vmap1") else 1
               for n in stack)


def stacks(layers, depth, max_order=3):
    return [s for d in range(1, depth + 1) for s in itertools.product(layers, repeat=d)
            if _order(s) <= max_order and not any(a == b == "jit" for a, b in zip(s, s[1:]))]


def _argument(stack, complex_input, seed):
    shape = (4,)
    for n in stack:
        if n in ("jvp", "linearize"):
            shape = (2,) + shape
        elif n == "vmap":
            shape = (3,) + shape
        elif n == "vmap1":
            shape = shape[:1] + (3,) + shape[1:]
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1.0, 1.0, shape) * 0.8 + 0.1
    return x + 1j * rng.uniform(-1.0, 1.0, shape) * 0.7 if complex_input else x


def _apply(stack, T, N, g):
    for n in stack:
        g = LAYERS[n](T, N, g)
    return g


def _fd_reference(stack, fn, x):
    """The outermost derivative layer by central differences of s2s's inner stack."""
    import composition_checker as cc
    inner = _apply(stack[:-1], s2s, snp, fn)
    refs = {"jvp": lambda p: cc._fd_jvp(inner, p[0], p[1]),
            "linearize": lambda p: cc._fd_jvp(inner, p[0], p[1]),
            "jacfwd": lambda v: cc._fd_jacobian(inner, v),
            "jacrev": lambda v: cc._fd_jacobian(inner, v),
            "grad": lambda v: cc._fd_jacobian(lambda u: np.sum(inner(u)), v),
            "hessian": lambda v: cc._fd_jacobian(s2s.grad(lambda u: snp.sum(inner(u))), v)}
    ref = refs.get(stack[-1])
    return None if ref is None else np.asarray(ref(x))


def run(fn_s2s, fn_jax, stack, complex_input=False, seed=0):
    """``(status, detail)``: ok, raises (both raise), unsupported (s2s raises what JAX
    computes), FAIL (a different value, shape or dtype kind), or ok_fd / unchecked where
    only JAX raises (forward mode over a custom_vjp)."""
    import jax
    import jax.numpy as jnp
    x = _argument(stack, complex_input, seed)
    try:
        # jax.jit of the stack: the same values, and much faster than JAX's eager mode
        want = np.asarray(jax.jit(_apply(stack, jax, jnp, fn_jax))(x))
        jax_error = None
    except Exception as e:  # noqa: BLE001 - JAX's refusal is the reference's answer
        want, jax_error = None, e
    try:
        got = np.asarray(_apply(stack, s2s, snp, fn_s2s)(x))
    except Exception as e:  # noqa: BLE001
        if jax_error is not None:
            return "raises", f"{type(e).__name__}"
        return "unsupported", f"s2s raised {type(e).__name__}: {str(e).strip()[:160]}"
    if jax_error is not None:
        try:
            want = None if complex_input else _fd_reference(stack, fn_s2s, x)
        except Exception:  # noqa: BLE001 - the inner stack fails on its own: checked there
            want = None
        if want is None:
            return "unchecked", f"JAX raised {type(jax_error).__name__}"
        if got.shape != want.shape or not np.allclose(got, want, rtol=1e-5, atol=1e-6):
            return "FAIL", "s2s differs from central differences of its inner stack (JAX raised)"
        return "ok_fd", ""
    if got.shape != want.shape:
        return "FAIL", f"shape {got.shape} != JAX's {want.shape}"
    if got.dtype.kind != want.dtype.kind:
        return "FAIL", f"dtype {got.dtype} != JAX's {want.dtype}"
    if not np.allclose(got, want, rtol=1e-8, atol=1e-10):
        return "FAIL", f"max abs error {np.max(np.abs(got - want)):.3g} (scale {np.max(np.abs(want)):.3g})"
    return "ok", ""


def cases(kind, depth, count, seed, names=None, max_order=None):
    """(name, stack) pairs: ``kind`` is "custom" or "complex"; derivatives to
    ``max_order`` (default 3 for custom rules, 2 for complex)."""
    subjects = custom_subjects(s2s, snp) if kind == "custom" else complex_subjects(snp)
    layers = CUSTOM_LAYERS if kind == "custom" else COMPLEX_LAYERS
    max_order = max_order or (3 if kind == "custom" else 2)
    out = [(n, s) for n in sorted(subjects) if names is None or n in names
           for s in stacks(layers, depth, max_order)]
    random.Random(seed).shuffle(out)
    return out[:count] if count else out


def run_case(kind, name, stack):
    import jax
    import jax.numpy as jnp
    if kind == "custom":
        return run(custom_subjects(s2s, snp)[name], custom_subjects(jax, jnp)[name], stack)
    (fs, k), (fj, _) = complex_subjects(snp)[name], complex_subjects(jnp)[name]
    return run(fs, fj, stack, complex_input=k[0] == "C")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kind", choices=["custom", "complex"], default="custom")
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--count", type=int, default=0, help="0: every stack")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subject", action="append")
    p.add_argument("--verbose", "-v", action="store_true")
    args = p.parse_args(argv)
    import jax
    jax.config.update("jax_enable_x64", True)
    s2s.config.update("enable_x64", True)
    warnings.simplefilter("ignore")
    counts = collections.Counter()
    for name, stack in cases(args.kind, args.depth, args.count, args.seed, args.subject):
        status, detail = run_case(args.kind, name, stack)
        counts[status] += 1
        if status in ("FAIL", "unsupported") or args.verbose:
            print(f"{status:9s} {name:12s} {'/'.join(stack):30s} {detail}", flush=True)
    print(dict(counts))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    sys.exit(main())
