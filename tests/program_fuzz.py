"""A seeded generator of small Python+NumPy programs with control flow and containers,
checked under stacks of transformations by ``composition_checker.run_stack``.

Each generated program is the source of a module: a few helper functions (one of
them recursive, one with an ``if`` on data), then ``f(x)`` built from statements drawn
from templates: ``if``/``elif``/``else`` and early ``return`` on data, ``for`` over a
range (with ``continue`` and a ``break`` on data) and over an array's rows, ``while``
with a data-dependent trip count, index assignment and ``.at[]`` updates, tuples,
lists and dicts built and unpacked, calls to helpers, closures and lambdas, and a mix
of ``s2s.numpy`` operations; ``s2s.checkpoint`` (with and without a policy) of a module
helper or a closure, ``custom_jvp``/``custom_vjp`` helpers (their rules the true
derivative, so finite differences stay the reference), ``lax.cond``/``while_loop``/
``fori_loop``/``scan``, and ``cumsum``, ``sort``, ``max``, ``where``, ``clip``,
``einsum``, ``linalg.norm``, ``logsumexp`` and ``nn.softmax``. The source is registered
in ``linecache`` so s2s reads it like a file's.

Each program has ``N_BASES`` example inputs (``bases``) and the thresholds are placed
between the values its predicates take at different bases where they can: a vmap's
batch takes one example from each base, so its examples take different branches and
trip counts (``paths`` records them), each still away from its thresholds.

``STACKS`` are the default stacks; ``VMAP_INSIDE_STACKS`` (vmap inside the derivatives,
``--vmap-inside``) and ``STACKS3`` (jacfwd of jacrev, grad of jvp of grad, ... with vmap
outside and inside and jit of each, ``--depth3``) are slower and run by hand.

Predicates on data compare a value with a threshold chosen so that finite
differences do not straddle a branch: the program is first run in a *probe* rendering
in which each predicate is ``_cmp(k, value)`` (records the values it sees), the
thresholds are placed away from those values, and the finished program is run at
perturbed inputs to reject one where a predicate comes within a small margin of its
threshold.

Programs without Python control flow on data or index assignment also get a JAX twin
(the same source with ``snp`` bound to ``jax.numpy``).

Run many by hand::

    PYTHONPATH=. S2S_FUZZ_N=200 python tests/program_fuzz.py --seed 1
    PYTHONPATH=. python tests/program_fuzz.py --seed 1 --count 10 --depth3 -v
    PYTHONPATH=. python tests/program_fuzz.py --seed 1 --count 10 --feature lax.while_loop
"""
import argparse
import collections
import linecache
import os
import random
import sys
import time

import numpy as np

import s2s
import s2s.nn as snn
import s2s.numpy as snp
from s2s import lax as slax

FUZZ_N = int(os.environ.get("S2S_FUZZ_N", "4"))

# Stacks (innermost first; names of composition_checker's layers) each program runs.
BASE_STACKS = [("jvp",), ("linearize",), ("jacfwd",), ("jacrev",), ("hessian",),
               ("grad", "jvp"), ("jvp", "grad")]
# Third-order stacks (jacfwd of jacrev, grad of jvp of grad, ...), each also with vmap
# outside and inside (the batch's examples take different branches), and jit of each.
DEPTH3_STACKS = [("jacrev", "jacfwd"), ("jacfwd", "jacrev"), ("grad", "jvp", "grad"),
                 ("jvp", "grad", "jvp"), ("grad", "hessian")]
# vmap inside: the stacks whose references stay cheap (a Jacobian of Jacobians of a
# batch takes minutes of finite differences).
DEPTH3_SCALAR = [("grad", "jvp", "grad"), ("jvp", "grad", "jvp")]
STACKS = ([s for s in BASE_STACKS] + [s + ("vmap[0,0]",) for s in BASE_STACKS]
          + [s + ("jit",) for s in BASE_STACKS] + [("vmap[0,0]",), ("jit",)])
# vmap inside the derivatives (a batch whose examples take different branches, as one
# function of the whole batch): by hand (--vmap-inside); their finite differences over
# the batch are too slow for the CI sample.
VMAP_INSIDE_STACKS = [("vmap[0,0]",) + s for s in BASE_STACKS]
STACKS3 = ([s for s in DEPTH3_STACKS] + [s + ("vmap[0,0]",) for s in DEPTH3_STACKS]
           + [("vmap[0,0]",) + s for s in DEPTH3_SCALAR] + [s + ("jit",) for s in DEPTH3_STACKS]
           + [s + ("vmap[0,0]", "jit") for s in DEPTH3_STACKS]
           + [("vmap[0,0]",) + s + ("jit",) for s in DEPTH3_SCALAR])
N_BASES = 3  # examples per program; vmap batches take one from each

# Names the generated source uses besides snp and np, for s2s and for the JAX twin.
S2S_ENV = {"snp": snp, "np": np, "lax": slax, "nn": snn, "logsumexp": snn.logsumexp,
           "checkpoint": s2s.checkpoint, "checkpoint_policies": s2s.checkpoint_policies,
           "custom_jvp": s2s.custom_jvp, "custom_vjp": s2s.custom_vjp}

# bases: the examples a vmap's batch takes (base is the first); paths: at each base, the
# outcomes of the predicates in the order they ran (bases on different paths take
# different branches or trip counts).
Program = collections.namedtuple("Program", "name source fn base jax_ok features bases paths")


class _Gen:
    """One program: statements appended to ``lines`` with a pool of named values."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        self.seed = seed
        self.shape = self.rng.choice([(4,), (3, 2)])
        self.vecs = ["x"]  # values of x's shape
        self.scalars = []  # 0-d values
        self.lines = []  # (indent, text); text may hold predicate markers
        self.helpers = []
        self.preds = []  # kind of each predicate: "branch", "exit", "elem"
        self.n = 0
        self.jax_ok = True
        self.features = set()
        self.uses = set()  # module helpers beyond helper_a/helper_b/rec

    # -- names and expressions ------------------------------------------------
    def new(self, prefix="v"):
        self.n += 1
        return f"{prefix}{self.n}"

    def vec(self):
        return self.rng.choice(self.vecs[-3:] + self.vecs[:1])

    def sca(self):
        return self.rng.choice(self.scalars[-3:])

    def pred(self, kind, expr):
        """A predicate marker: rendered ``expr > T`` or ``_cmp(k, expr)``; kinds "lo"
        and "hi" render the bound ``T`` alone (a clip bound away from ``expr``'s values),
        "lax" a predicate of ``lax.cond``/``lax.while_loop`` (JAX runs those too)."""
        k = len(self.preds)
        self.preds.append(kind)
        if kind not in ("elem", "lo", "hi", "lax", "lax_exit"):
            self.jax_ok = False
        return f"@@{k}@@{expr}@@"

    def emit(self, indent, text):
        self.lines.append((indent, text))

    # -- statements -----------------------------------------------------------
    def st_elementwise(self, d):
        a, b, c = self.vec(), self.vec(), self.vec()
        form = self.rng.choice([
            f"snp.tanh({a}) * {b} + 0.5 * {c}",
            f"snp.sin({a}) * snp.exp(-0.5 * {b} * {b})",
            f"snp.log1p({a} * {a}) - 0.3 * {b}",
            f"snp.cos({a}) * {self.sca()} + snp.tanh({b})",
        ])
        n = self.new()
        self.emit(d, f"{n} = {form}")
        self.vecs.append(n)

    def st_reduce(self, d):
        a, b = self.vec(), self.vec()
        form = self.rng.choice([
            f"snp.sum(snp.tanh({a}) * {b})",
            f"snp.max({a} * 1.3 + {b})",
            f"snp.dot({a}.reshape(-1), snp.cos({b}).reshape(-1)) * 0.5",
            f"snp.mean(snp.log1p({a} * {a}))",
        ])
        n = self.new("s")
        self.emit(d, f"{n} = {form}")
        self.scalars.append(n)

    def st_where(self, d):
        a, b = self.vec(), self.vec()
        n = self.new()
        self.emit(d, f"{n} = snp.where({self.pred('elem', a)}, {a} * {b}, snp.sin({b}))")
        self.vecs.append(n)

    def st_structural(self, d):
        a, s = self.vec(), self.sca()
        form = self.rng.choice([
            f"snp.concatenate([{a}[1:], {a}[:1] * 2.0], axis=0)",
            f"{a}.reshape(-1)[::-1].reshape({self.shape}) * {s}",
            f"snp.tanh({a}).at[1].add({s} * 2.0)",
            f"snp.sin({a}).at[0].set(snp.cos({s}))",
        ])
        n = self.new()
        self.emit(d, f"{n} = {form}")
        self.vecs.append(n)

    def st_index_assign(self, d):
        a, b = self.vec(), self.vec()
        n = self.new()
        self.emit(d, f"{n} = snp.zeros({self.shape})")
        self.emit(d, f"for i in range({self.shape[0]}):")
        self.emit(d + 1, f"{n}[i] = snp.tanh({a}[i]) * {b}[i] + 0.1 * i")
        self.jax_ok = False
        self.features.add("index_assign")
        self.vecs.append(n)

    def st_if(self, d):
        s, a, b = self.sca(), self.vec(), self.vec()
        n = self.new()
        self.emit(d, f"if {self.pred('branch', s)}:")
        self.emit(d + 1, f"{n} = {a} * 2.0 + {s}")
        if self.rng.random() < 0.5:
            s2 = self.sca()
            self.emit(d, f"elif {self.pred('branch', f'snp.sum({b} * {b})')}:")
            self.emit(d + 1, f"{n} = snp.sin({b}) * {s2}")
        self.emit(d, "else:")
        self.emit(d + 1, f"{n} = {a} - snp.tanh({b})")
        self.features.add("if")
        self.vecs.append(n)

    def st_for(self, d):
        a, b = self.vec(), self.vec()
        n = self.new()
        self.emit(d, f"{n} = {a} * 0.5")
        self.emit(d, "for i in range(3):")
        if self.rng.random() < 0.5:
            self.emit(d + 1, "if i == 1:")
            self.emit(d + 2, "continue")
            self.features.add("continue")
        self.emit(d + 1, f"{n} = snp.tanh({n}) * {b} + 0.1 * i")
        if self.rng.random() < 0.6:
            self.emit(d + 1, f"if {self.pred('exit', f'snp.sum({n})')}:")
            self.emit(d + 2, "break")
            self.features.add("break")
        self.features.add("for")
        self.vecs.append(n)

    def st_for_rows(self, d):
        a = self.vec()
        n, acc = self.new("s"), self.new("acc")
        self.emit(d, f"{acc} = 0.0")
        self.emit(d, f"for row in {a}:")
        self.emit(d + 1, f"{acc} = {acc} * 0.7 + snp.tanh(row)")
        self.emit(d, f"{n} = snp.sum({acc})")
        self.features.add("for_rows")
        self.scalars.append(n)

    def st_while(self, d):
        a = self.vec()
        n, k = self.new(), self.new("k")
        self.emit(d, f"{n} = {a}")
        self.emit(d, f"{k} = 0")
        cond = self.pred("exit", f"snp.sum({n} * {n})")
        self.emit(d, f"while not {cond} and {k} < 4:")
        self.emit(d + 1, f"{n} = {n} * 1.3 + 0.2 * snp.sin({n})")
        self.emit(d + 1, f"{k} = {k} + 1")
        self.features.add("while")
        self.vecs.append(n)

    def st_tuple(self, d):
        a, b, s = self.vec(), self.vec(), self.sca()
        t, p, q, r, n = self.new("t"), self.new("p"), self.new("q"), self.new("r"), self.new()
        self.emit(d, f"{t} = ({a}, snp.sin({b}), {s})")
        self.emit(d, f"{p}, {q}, {r} = {t}")
        self.emit(d, f"{n} = {p} * {r} + {q}")
        self.features.add("tuple")
        self.vecs.append(n)

    def st_list(self, d):
        a, b = self.vec(), self.vec()
        lst, n = self.new("lst"), self.new()
        self.emit(d, f"{lst} = [{a}]")
        self.emit(d, f"{lst}.append({b} * 2.0)")
        self.emit(d, f"{lst}.append(snp.cos({a}))")
        self.emit(d, f"{n} = {lst}[0] + {lst}[1] * {lst}[-1]")
        self.features.add("list")
        self.vecs.append(n)

    def st_dict(self, d):
        a, b, s = self.vec(), self.vec(), self.sca()
        dd, n = self.new("d"), self.new()
        self.emit(d, f'{dd} = {{"u": {a}, "w": {b}}}')
        self.emit(d, f'{dd}["u"] = snp.tanh({dd}["u"]) * {s}')
        self.emit(d, f'{n} = {dd}["u"] + {dd}["w"]')
        self.features.add("dict")
        self.vecs.append(n)

    def st_comprehension(self, d):
        a, s = self.vec(), self.sca()
        n = self.new()
        self.emit(d, f"{n} = snp.stack([snp.sin(r) * {s} for r in {a}])")
        self.features.add("comprehension")
        self.vecs.append(n)

    def st_helper(self, d):
        a, b = self.vec(), self.vec()
        n = self.new()
        self.emit(d, f"{n} = {self.rng.choice(self.helper_names)}({a}, {b})")
        self.features.add("call")
        self.vecs.append(n)

    def st_recursion(self, d):
        a = self.vec()
        n = self.new()
        self.emit(d, f"{n} = rec({a}, {self.rng.randint(1, 3)})")
        self.features.add("recursion")
        self.vecs.append(n)

    def st_closure(self, d):
        a, b, c, s = self.vec(), self.vec(), self.vec(), self.sca()
        fn, n = self.new("inner"), self.new()
        self.emit(d, f"def {fn}(u):")
        self.emit(d + 1, f"return snp.tanh(u * {s}) + {b}")
        self.emit(d, f"{n} = {fn}({a}) * 0.5 + {fn}({c})")
        self.features.add("closure")
        self.vecs.append(n)

    def st_lambda(self, d):
        a, s = self.vec(), self.sca()
        fn, n = self.new("sq"), self.new()
        self.emit(d, f"{fn} = lambda u: u * u * {s} + 0.1")
        self.emit(d, f"{n} = {fn}(snp.sin({a}))")
        self.features.add("lambda")
        self.vecs.append(n)

    def st_early_return(self, d):
        self.emit(d, f"if {self.pred('branch', self.sca())}:")
        self.emit(d + 1, f"return {self.output()}")
        self.features.add("early_return")

    def st_checkpoint(self, d):
        """s2s.checkpoint of a module helper or of a closure, with or without a policy."""
        a, b, s = self.vec(), self.vec(), self.sca()
        n = self.new()
        policy = self.rng.choice([None, None, "dots_saveable", "nothing_saveable",
                                  "everything_saveable"])
        kw = "" if policy is None else f", policy=checkpoint_policies.{policy}"
        if self.rng.random() < 0.5:
            self.emit(d, f"{n} = checkpoint(ck_layer{kw})({a}, {b})")
            self.uses.add("ck_layer")
        else:
            fn = self.new("ck")
            self.emit(d, f"def {fn}(u):")
            self.emit(d + 1, f"return snp.sin(u) * {s} + snp.tanh(u * {b})")
            self.emit(d, f"{n} = checkpoint({fn}{kw})({a})")
        self.features.add("checkpoint" if policy is None else "checkpoint_policy")
        self.vecs.append(n)

    def st_custom(self, d):
        """A call of a custom_jvp or custom_vjp helper (rules are the true derivative)."""
        a, b = self.vec(), self.vec()
        n = self.new()
        if self.rng.random() < 0.5:
            self.emit(d, f"{n} = cj_softplus({a} * 1.5) * {b}")
            self.uses.add("cj_softplus")
            self.features.add("custom_jvp")
        else:
            self.emit(d, f"{n} = cv_mul({a}, {b}) + 0.3 * {a}")
            self.uses.add("cv_mul")
            self.features.add("custom_vjp")
            self.jax_ok = False  # JAX has no forward mode of custom_vjp
        self.vecs.append(n)

    def st_lax_cond(self, d):
        s, a, b = self.sca(), self.vec(), self.vec()
        n = self.new()
        p = self.pred("lax", s)
        if self.rng.random() < 0.5:  # branches closing over differentiated values
            self.emit(d, f"{n} = lax.cond({p}, lambda u: snp.sin(u) * {s}, "
                         f"lambda u: u * u * 0.5 + {b}, {a})")
        else:
            self.emit(d, f"{n} = lax.cond({p}, lambda ops: ops[0] * ops[1], "
                         f"lambda ops: snp.tanh(ops[0]) - ops[1], ({a}, {b}))")
        self.features.add("lax.cond")
        self.vecs.append(n)

    def st_lax_while(self, d):
        a = self.vec()
        n, body = self.new(), self.new("wbody")
        self.emit(d, f"def {body}(c):")
        self.emit(d + 1, "return c[0] + 1, c[1] * 1.3 + 0.2 * snp.sin(c[1])")
        p = self.pred("lax_exit", "snp.sum(c[1] * c[1])")
        self.emit(d, f"{n} = lax.while_loop(lambda c: snp.logical_and(c[0] < 4, "
                     f"snp.logical_not({p})), {body}, (0, {a}))[1]")
        self.features.add("lax.while_loop")
        self.jax_ok = False  # JAX has no reverse mode of while_loop
        self.vecs.append(n)

    def st_lax_fori(self, d):
        a, b = self.vec(), self.vec()
        n = self.new()
        self.emit(d, f"{n} = lax.fori_loop(0, 3, lambda i, v: snp.tanh(v) * {b} + 0.1 * i, {a})")
        self.features.add("lax.fori_loop")
        self.vecs.append(n)

    def st_lax_scan(self, d):
        a, s = self.vec(), self.sca()
        n, step, c, ys = self.new(), self.new("step"), self.new("c"), self.new("ys")
        self.emit(d, f"def {step}(c, r):")
        self.emit(d + 1, f"c = snp.tanh(c * 0.8 + r * {s})")
        self.emit(d + 1, "return c, c * r")
        self.emit(d, f"{c}, {ys} = lax.scan({step}, snp.zeros_like({a}[0]), {a})")
        self.emit(d, f"{n} = {ys} * 0.5 + {c}")
        self.features.add("lax.scan")
        self.vecs.append(n)

    def st_numpy2(self, d):
        """s2s.numpy functions with second-order templates (values of x's shape)."""
        a, b, c, s = self.vec(), self.vec(), self.vec(), self.sca()
        if len(self.shape) == 1:
            ein = f'snp.einsum("ij,j->i", snp.einsum("i,j->ij", {a}, {b}) * 0.1, {c})'
        else:
            ein = f'snp.einsum("ij,jk->ik", {c}, snp.einsum("ij,ik->jk", {a}, {b}) * 0.1)'
        name, form = self.rng.choice([
            ("cumsum", f"snp.cumsum({a} * {b}, axis=0)"),
            ("sort", f"snp.sort({a} * 1.3 + {b}, axis=0)"),
            ("max", f"snp.max({a} * {b}, axis=-1, keepdims=True) + snp.sin({c})"),
            ("where", f"snp.where({self.pred('elem', f'{a} - {b}')}, snp.sin({a}), {b} * {b})"),
            ("clip", f"snp.clip({a} * 1.2, {self.pred('lo', f'{a} * 1.2')}, "
                     f"{self.pred('hi', f'{a} * 1.2')}) + {b}"),
            ("einsum", ein),
            ("norm", f"snp.linalg.norm({a}, axis=-1, keepdims=True) * {b}"),
            ("logsumexp", f"logsumexp({a} * {s}, axis=-1, keepdims=True) - {b}"),
            ("softmax", f"nn.softmax({a} * {s}, axis=-1) * {b}"),
        ])
        n = self.new()
        self.emit(d, f"{n} = {form}")
        self.features.add(name)
        self.vecs.append(n)

    # -- the program ----------------------------------------------------------
    def helpers_source(self):
        out = ["def helper_a(u, w):",
               "    return snp.tanh(u) * w + 0.5 * snp.sin(w)",
               "",
               "",
               "def helper_b(u, w):",
               f"    if {self.pred('branch', 'snp.sum(u * w)')}:",
               "        return u * 1.5 - w",
               "    return snp.exp(-0.5 * u * u) + w",
               "",
               "",
               "def rec(u, n):",
               "    if n == 0:",
               "        return u",
               "    return rec(snp.sin(u) * 0.9 + 0.1 * u, n - 1)",
               "", ""]
        return out

    def extra_helpers(self):
        """The module helpers the statements used (checkpointed layer, custom rules)."""
        out = []
        if "ck_layer" in self.uses:
            out += ["def ck_layer(u, w):",
                    "    h = snp.tanh(u * w + 0.3)",
                    "    return h * snp.dot(h.reshape(-1), w.reshape(-1)) * 0.5 + snp.sin(u)",
                    "", ""]
        if "cj_softplus" in self.uses:
            out += ["@custom_jvp",
                    "def cj_softplus(u):",
                    "    return snp.log1p(snp.exp(u))",
                    "",
                    "",
                    "@cj_softplus.defjvp",
                    "def cj_softplus_jvp(primals, tangents):",
                    "    u, = primals",
                    "    t, = tangents",
                    "    return cj_softplus(u), t / (1.0 + snp.exp(-u))",
                    "", ""]
        if "cv_mul" in self.uses:
            out += ["@custom_vjp",
                    "def cv_mul(u, w):",
                    "    return snp.sin(u) * w",
                    "",
                    "",
                    "def cv_mul_fwd(u, w):",
                    "    return snp.sin(u) * w, (u, w)",
                    "",
                    "",
                    "def cv_mul_bwd(res, g):",
                    "    u, w = res",
                    "    return snp.cos(u) * w * g, snp.sin(u) * g",
                    "",
                    "",
                    "cv_mul.defvjp(cv_mul_fwd, cv_mul_bwd)",
                    "", ""]
        return out

    def output(self):
        a, b, s = self.vecs[-1], self.vec(), self.sca()
        if self.scalar_out:
            return f"snp.sum(snp.tanh({a}) * {b}) * {s}"
        return f"{a} * {s} + snp.tanh({b})"

    def build(self):
        self.scalar_out = self.rng.random() < 0.3
        helper_lines = self.helpers_source()
        self.jax_ok = True  # helper_b's branch counts only where helper_b is called
        self.helper_names = ["helper_a"] + (["helper_b"] if self.rng.random() < 0.5 else [])
        if "helper_b" not in self.helper_names:
            self.preds[0] = "unused"
        self.emit(1, "s0 = snp.sum(x * x) * 0.1 + 0.5")
        self.scalars.append("s0")
        table = [self.st_elementwise, self.st_reduce, self.st_where, self.st_structural,
                 self.st_index_assign, self.st_if, self.st_for, self.st_for_rows,
                 self.st_while, self.st_tuple, self.st_list, self.st_dict,
                 self.st_comprehension, self.st_helper, self.st_recursion,
                 self.st_closure, self.st_lambda, self.st_early_return]
        table += [self.st_checkpoint, self.st_custom, self.st_lax_cond, self.st_lax_while,
                  self.st_lax_fori, self.st_lax_scan, self.st_numpy2, self.st_numpy2]
        for _ in range(self.rng.randint(4, 8)):
            self.rng.choice(table)(1)
        if "helper_b" in self.helper_names and "call" in self.features:
            self.jax_ok = False
        if "helper_b" not in self.helper_names:
            helper_lines = helper_lines[:4] + helper_lines[10:]
        self.emit(1, f"return {self.output()}")
        body = [("    " * i) + t for i, t in self.lines]
        return "\n".join(helper_lines + self.extra_helpers() + ["def f(x):"] + body) + "\n"


BOUNDS = ("lo", "hi")  # predicate kinds rendered as the threshold alone (a clip bound)


def _render(text, thresholds, probe, kinds):
    """Replace each predicate marker ``@@k@@expr@@`` by ``expr > T_k`` or ``_cmp(k, expr)``
    (a bound: ``T_k`` or ``_cmp.bound(k, expr)``)."""
    out, parts = [], text.split("@@")
    out.append(parts[0])
    for i in range(1, len(parts), 3):
        k, expr, rest = int(parts[i]), parts[i + 1], parts[i + 2]
        bound = kinds[k] in BOUNDS
        if probe:
            out.append(f"_cmp.bound({k}, {kinds[k]!r}, {expr})" if bound else f"_cmp({k}, {expr})")
        else:
            out.append(f"{thresholds[k]!r}" if bound else f"{expr} > {thresholds[k]!r}")
        out.append(rest)
    return "".join(out)


_counter = [0]


def _exec(source, name, env):
    _counter[0] += 1
    filename = f"<program_fuzz {name} #{_counter[0]}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    ns = dict(env, __name__=f"program_fuzz_{name}")
    exec(compile(source, filename, "exec"), ns)
    return ns


class _Probe:
    """``_cmp(k, value)``: a decided predicate compares with its threshold; the one
    being decided records its values and says False (no branch, no exit).
    ``_cmp.bound(k, kind, value)``: a decided bound is its threshold, an undecided one
    no bound (-inf or inf)."""

    def __init__(self, thresholds):
        self.thresholds = thresholds
        self.seen = collections.defaultdict(list)
        self.order = []

    def __call__(self, k, value):
        v = np.asarray(value, np.float64)
        self.seen[k].append(v.ravel())
        self.order.append((k, v))
        t = self.thresholds.get(k)
        if t is None:
            return np.zeros(v.shape, bool) if v.ndim else np.False_
        return v > t

    def path(self):
        """The outcomes of the decided predicates, in the order they ran."""
        return tuple((k, tuple(np.ravel(v > self.thresholds[k]))) for k, v in self.order)

    def bound(self, k, kind, value):
        self.seen[k].append(np.asarray(value, np.float64).ravel())
        t = self.thresholds.get(k)
        return t if t is not None else (-np.inf if kind == "lo" else np.inf)


def _choose(kind, per_base, rng):
    """A threshold away from the recorded values of one predicate (``per_base``: the
    values seen at each base), between the values of different bases where it can (so a
    batch of the bases takes different branches or trip counts)."""
    values = [v for seen in per_base for v in seen]
    if not values:
        return 0.0
    if kind in ("exit", "lax_exit"):  # exit at a step whose value exceeds every earlier one
        seqs = [seen for seen in per_base if seen]
        flat = [float(np.sum(v)) for v in rng.choice(seqs)]
        steps = [j for j in range(1, len(flat)) if flat[j] > max(flat[:j]) * 1.0]
        if steps and rng.random() < 0.7:
            j = rng.choice(steps)
            return round((max(flat[:j]) + flat[j]) / 2, 6)
        return round(max(flat) + 0.3 * max(1.0, abs(max(flat))), 6)
    vals = np.sort(np.concatenate(values))
    lo, hi = float(vals[0]), float(vals[-1])
    margin = 0.3 * max(0.5, hi - lo)
    options = [lo - margin, hi + margin]
    if len(vals) > 1:
        gaps = np.diff(vals)
        j = int(np.argmax(gaps))
        if gaps[j] > 0.05 * max(1.0, abs(hi), abs(lo)):
            options += [float(vals[j] + vals[j + 1]) / 2] * 4
    return round(rng.choice(options), 6)


def _min_margin(ns, thresholds, bases, rng, n=15):
    """The smallest distance of a predicate's value from its threshold over perturbed
    inputs around each base (relative to the threshold's scale)."""
    probe = ns["_cmp"] = _Probe(thresholds)
    for base in bases:
        for i in range(n):
            x = base if i == 0 else base * (1.0 + 0.06 * rng.uniform(-1.0, 1.0, base.shape))
            ns["f"](x)
    worst = np.inf
    for k, vs in probe.seen.items():
        t = thresholds[k]
        d = np.min(np.abs(np.concatenate(vs) - t)) / max(1.0, abs(t))
        worst = min(worst, d)
    return worst


def _finite(out):
    out = np.asarray(out)
    return np.all(np.isfinite(out)) and np.max(np.abs(out), initial=0.0) <= 1e3


def generate(seed):
    """A ``Program`` drawn with ``seed`` (None where no robust thresholds were found)."""
    g = _Gen(seed)
    template = g.build()
    rng = np.random.default_rng(seed)
    bases = [np.round(rng.uniform(-1.2, 1.2, g.shape), 3) for _ in range(N_BASES)]
    thresholds = {}
    probe_ns = _exec(_render(template, {}, True, g.preds), f"probe{seed}", S2S_ENV)
    for k, kind in enumerate(g.preds):
        per_base = []
        for base in bases:
            probe_ns["_cmp"] = probe = _Probe(thresholds)
            probe_ns["f"](base)
            per_base.append(probe.seen.get(k, []))
        thresholds[k] = _choose(kind, per_base, g.rng)
    if g.preds and _min_margin(probe_ns, thresholds, bases, np.random.default_rng(seed + 1)) < 3e-3:
        return None
    paths = []
    for base in bases:
        probe_ns["_cmp"] = probe = _Probe(thresholds)
        probe_ns["f"](base)
        paths.append(probe.path())
    source = _render(template, thresholds, False, g.preds)
    ns = _exec(source, f"seed{seed}", S2S_ENV)
    if not all(_finite(ns["f"](base)) for base in bases):
        return None
    return Program(f"prog{seed}", source, ns["f"], bases[0], g.jax_ok, frozenset(g.features),
                   tuple(bases), tuple(paths))


def programs(n, seed=0):
    """``n`` programs from seeds ``seed, seed+1, ...`` (skipping rejected ones)."""
    out, s = [], seed
    while len(out) < n:
        p = generate(s)
        s += 1
        if p is not None:
            out.append(p)
    return out


def jax_twin(program):
    """The program's ``f`` with ``snp`` bound to ``jax.numpy`` (needs ``jax_ok``)."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jsp
    env = {"snp": jnp, "np": np, "lax": jax.lax, "nn": jax.nn, "logsumexp": jsp.logsumexp,
           "checkpoint": jax.checkpoint, "checkpoint_policies": jax.checkpoint_policies,
           "custom_jvp": jax.custom_jvp, "custom_vjp": jax.custom_vjp}
    return _exec(program.source, f"jax_{program.name}", env)["f"]


def subject(program):
    """The program as a composition_checker subject: a vmap's examples come from its
    bases in turn (so they take different branches and trip counts)."""
    import composition_checker as checker
    return checker.Subject(program.name, program.fn, program.base, program.bases)


def main(argv=None):
    import composition_checker as checker
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--count", type=int, default=FUZZ_N)
    p.add_argument("--show", action="store_true", help="print each program's source")
    p.add_argument("--stack", help="only this stack, e.g. jvp,vmap[0,0]")
    p.add_argument("--depth3", action="store_true", help="the third-order stacks (STACKS3)")
    p.add_argument("--vmap-inside", action="store_true", help="also VMAP_INSIDE_STACKS")
    p.add_argument("--feature", help="only programs with this feature, e.g. lax.scan")
    p.add_argument("--verbose", "-v", action="store_true", help="print every result, timed")
    args = p.parse_args(argv)
    counts = collections.Counter()
    stacks = STACKS3 if args.depth3 else STACKS + (VMAP_INSIDE_STACKS if args.vmap_inside else [])
    stacks = [tuple(checker._split_stack(args.stack))] if args.stack else stacks
    for prog in programs(args.count, args.seed):
        if args.feature and args.feature not in prog.features:
            continue
        if args.show:
            print(f"# --- {prog.name}\n{prog.source}")
        for names in stacks:
            start = time.perf_counter()
            r = checker.run_stack(subject(prog), names)
            counts[r.status] += 1
            if r.status in ("FAIL", "unsupported") or args.verbose:
                took = f"{time.perf_counter() - start:5.1f}s " if args.verbose else ""
                print(f"{r.status:11s} {took}{prog.name:10s} {'/'.join(names):28s} {r.detail}",
                      flush=True)
    print(dict(counts))
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.exit(main())
