"""A seeded checker of stacks of transformations (``vmap(jvp(f))``, ``grad(jit(vmap(f)))``,
``jacrev(vmap(hessian(f)))``, ...) over functions of the test corpora.

Every stack is checked one layer at a time ("peeling"): the outermost transformation
of the stack is compared with its reference applied to the rest of the stack run by
s2s (which is itself a shorter stack, checked on its own):

* ``vmap``: a Python loop over the examples of the inner stack;
* ``jit``: the inner stack run eagerly;
* derivatives (``grad``, ``jvp``, ``linearize``, ``vjp``, ``jacfwd``, ``jacrev``,
  ``hessian``): central differences in float64 of the inner stack.

So a wrong answer is pinned on the smallest stack that shows it, whatever the depth.
In float32 a stack is run again with 64-bit mode off and compared with its float64
result (and its dtype must be float32).

A stack either gives the reference's answer, or raises a clear error (``S2SError``,
``NotImplementedError``, ``TypeError`` or ``ValueError`` with a message): that counts as
unsupported, never as a failure. Anything else (a different value or shape, another
exception) is a failure.

Run it over many combinations from the command line::

    PYTHONPATH=. python tests/composition_checker.py --depth 3 --count 400 --seed 1

tests/test_compositions.py runs a bounded sample (``S2S_NUM_GENERATED_CASES``).
"""
import argparse
import collections
import inspect
import itertools
import random
import sys
import traceback
import warnings
import zlib

import numpy as np

import s2s
import s2s.numpy as snp
from s2s import lax
from s2s.errors import S2SError

import grad_corpus as corpus

B = 3  # examples per vmap
CLEAR_ERRORS = (S2SError, NotImplementedError, TypeError, ValueError)


# ---------------------------------------------------------------------------
# Subjects: functions of one array argument, with a base example.

# ``bases``: optional examples (each of base's shape) taken in turn for the arguments of
# a run, so the examples of a vmap differ (e.g. take different branches), not only
# small perturbations of ``base``.
Subject = collections.namedtuple("Subject", "name fn base bases", defaults=(None,))


def _bind(fn, args, i):
    """``fn`` as a function of its argument ``i`` alone, the others fixed (written out
    per arity: the transformations read this source)."""
    n = len(args)
    a0, a1, a2 = (list(args) + [None, None, None])[:3]
    if n == 1:
        def subject(v):
            return fn(v)
    elif (n, i) == (2, 0):
        def subject(v):
            return fn(v, a1)
    elif (n, i) == (2, 1):
        def subject(v):
            return fn(a0, v)
    elif (n, i) == (3, 0):
        def subject(v):
            return fn(v, a1, a2)
    elif (n, i) == (3, 1):
        def subject(v):
            return fn(a0, v, a2)
    else:
        raise ValueError(f"no binding of argument {i} of {n}")
    subject.__name__ = f"{fn.__name__}_arg{i}"
    return subject


def _is_float_array(a):
    return isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f")


def corpus_subjects():
    """One subject per grad-corpus function: its first float argument, the others fixed."""
    out = []
    for fn in corpus.CORPUS:
        rng = np.random.default_rng(sum(map(ord, fn.__name__)))
        args = corpus.inputs_for(fn, rng)
        idx = [i for i, a in enumerate(args) if _is_float_array(a)]
        if not idx:
            continue
        i = idx[0]
        out.append(Subject(fn.__name__, _bind(fn, args, i), np.asarray(args[i], np.float64)))
    return out


# -- subjects of our own: lax control flow, custom rules, checkpoint, vector outputs ----

_A = np.linspace(-1.0, 1.0, 12).reshape(3, 4)


def vec_tanh_map(x):
    return snp.tanh(_A @ x) * snp.sum(x * x)


def lax_cond_fn(x):
    return lax.cond(snp.sum(x) > 0.0, lambda v: snp.sin(v) * v, lambda v: v * v * 0.5, x)


def lax_switch_fn(x):
    i = snp.clip(snp.floor(snp.sum(x)).astype(np.int32), 0, 2)
    return lax.switch(i, [lambda v: v * 2.0, lambda v: snp.sin(v), lambda v: v ** 3], x)


def lax_scan_fn(x):
    def step(c, xi):
        c = snp.tanh(c * xi + 0.5)
        return c, c * xi
    c, ys = lax.scan(step, 0.3, x)
    return snp.sum(ys) + c


def lax_fori_fn(x):
    return lax.fori_loop(0, 3, lambda i, v: snp.sin(v) * 1.5 + x * i, x)


def lax_while_fn(x):
    def body(s):
        i, v = s
        return i + 1, v * 0.9 + snp.sin(v)
    return lax.while_loop(lambda s: s[0] < 3, body, (0, x))[1]


def lax_while_data_fn(x):
    def body(v):
        return v * 1.5 + 0.1
    return lax.while_loop(lambda v: snp.sum(v) < 8.0, body, x)


@s2s.custom_jvp
def softplus_cj(x):
    return snp.log1p(snp.exp(x))


@softplus_cj.defjvp
def softplus_cj_jvp(primals, tangents):
    x, = primals
    t, = tangents
    return softplus_cj(x), t / (1.0 + snp.exp(-x))


def custom_jvp_fn(x):
    return snp.sum(softplus_cj(x * 2.0) * x)


@s2s.custom_vjp
def cube_cv(x):
    return x * x * x


def cube_fwd(x):
    return x * x * x, x


def cube_bwd(x, g):
    return (3.0 * x * x * g,)


cube_cv.defvjp(cube_fwd, cube_bwd)


def custom_vjp_fn(x):
    return snp.sum(snp.sin(cube_cv(x)) + x)


def _layer(v):
    return snp.tanh(_A.T @ snp.tanh(_A @ v))


def checkpoint_fn(x):
    y = s2s.checkpoint(_layer)(x)
    return snp.sum(s2s.checkpoint(_layer)(y) * x)


def own_subjects():
    x4 = np.array([0.3, -0.5, 0.8, 0.45])
    return [Subject("vec_tanh_map", vec_tanh_map, x4),
            Subject("lax_cond", lax_cond_fn, x4),
            Subject("lax_switch", lax_switch_fn, np.array([0.4, 0.2, 0.6, 0.3])),
            Subject("lax_scan", lax_scan_fn, x4),
            Subject("lax_fori", lax_fori_fn, x4),
            Subject("lax_while", lax_while_fn, x4),
            Subject("lax_while_data", lax_while_data_fn, np.array([0.9, 0.7, 1.1, 0.8])),
            Subject("custom_jvp", custom_jvp_fn, x4),
            Subject("custom_vjp", custom_vjp_fn, x4),
            Subject("checkpoint", checkpoint_fn, x4)]


def seed_subjects():
    import seed_programs as seeds
    w = np.array([0.2, -0.4, 0.3])
    inputs = np.linspace(-1.0, 1.0, 15).reshape(5, 3)
    targets = np.array([1.0, 0.0, 1.0, 1.0, 0.0])
    params = [(np.linspace(-0.5, 0.5, 12).reshape(3, 4), np.full(4, 0.1)),
              (np.linspace(0.5, -0.5, 8).reshape(4, 2), np.zeros(2))]
    return [Subject("seed_tanh", seeds.tanh, np.array([0.3, -0.2, 0.7])),
            Subject("seed_loss", _bind(seeds.loss, [w, inputs, targets], 0), w),
            Subject("seed_predict", _bind(seeds.predict, [params, w], 1), w)]


def all_subjects():
    return own_subjects() + seed_subjects() + corpus_subjects()


# ---------------------------------------------------------------------------
# Layers: a transformation of a function of one array, and its reference.

def _fd_jacobian(g, x, h=1e-5):
    """d g / d x by central differences: shape ``g(x).shape + x.shape``."""
    x = np.asarray(x, np.float64)
    cols = []
    for idx in np.ndindex(x.shape):
        step = h * max(1.0, abs(float(x[idx])))
        e = np.zeros_like(x)
        e[idx] = step
        cols.append((np.asarray(g(x + e), np.float64) - np.asarray(g(x - e), np.float64))
                    / (2 * step))
    out_shape = np.shape(g(x))
    if not cols:
        return np.zeros(out_shape + x.shape)
    J = np.stack(cols, axis=-1)
    return J.reshape(out_shape + x.shape)


def _fd_jvp(g, x, t, h=1e-5):
    x, t = np.asarray(x, np.float64), np.asarray(t, np.float64)
    scale = max(1.0, float(np.max(np.abs(x), initial=0.0))) / max(1e-3, float(np.max(np.abs(t), initial=0.0)))
    step = h * scale
    return (np.asarray(g(x + step * t), np.float64) - np.asarray(g(x - step * t), np.float64)) / (2 * step)


def _sum_out(g):
    def summed(v):
        return snp.sum(g(v))
    return summed


class Layer:
    """One transformation: ``apply`` builds it with s2s, ``reference`` builds the same
    function from the inner one by loops, eager runs or finite differences; ``in_shape``
    maps the inner function's argument shape to this one's (None: not applicable)."""
    name = None
    derivative = False

    def in_shape(self, shape):
        return shape

    def apply(self, g):
        raise NotImplementedError

    def reference(self, g):
        raise NotImplementedError

    def example(self, inner_example, shape, rng):
        """An argument of this layer's function from ``inner_example(rng)``."""
        return inner_example(rng)


class Jit(Layer):
    name = "jit"

    def apply(self, g):
        return s2s.jit(g)

    def reference(self, g):
        return g


class Vmap(Layer):
    def __init__(self, in_axis, out_axis):
        self.in_axis, self.out_axis = in_axis, out_axis
        self.name = f"vmap[{in_axis},{out_axis}]"

    def _pos(self, ndim):
        a = self.in_axis
        return a + ndim + 1 if a < 0 else a

    def in_shape(self, shape):
        pos = self._pos(len(shape))
        if not 0 <= pos <= len(shape):
            return None
        return shape[:pos] + (B,) + shape[pos:]

    def apply(self, g):
        return s2s.vmap(g, in_axes=self.in_axis, out_axes=self.out_axis)

    def reference(self, g):
        def loop(x):
            pos = self._pos(np.ndim(x) - 1)
            outs = [np.asarray(g(np.take(x, k, axis=pos))) for k in range(x.shape[pos])]
            out = np.stack(outs)
            return np.moveaxis(out, 0, self.out_axis) if out.ndim > 1 else out
        return loop

    def example(self, inner_example, shape, rng):
        examples = [inner_example(rng) for _ in range(B)]
        return np.stack(examples, axis=self._pos(np.ndim(examples[0])))


class Grad(Layer):
    """grad of the sum of the outputs."""
    name = "grad"
    derivative = True

    def apply(self, g):
        return s2s.grad(_sum_out(g))

    def reference(self, g):
        return lambda x: _fd_jacobian(lambda v: np.sum(g(v)), x)


class JvpPair(Layer):
    """jvp along a tangent that is part of the argument: x[0] primal, x[1] tangent."""
    name = "jvp"
    derivative = True

    def in_shape(self, shape):
        return (2,) + shape

    def apply(self, g):
        def jvp_of(p):
            return s2s.jvp(g, (p[0],), (p[1],))[1]
        return jvp_of

    def reference(self, g):
        return lambda p: _fd_jvp(g, p[0], p[1])

    def example(self, inner_example, shape, rng):
        x = inner_example(rng)
        return np.stack([x, rng.standard_normal(np.shape(x))])


class JvpConst(Layer):
    """jvp along a tangent fixed when the stack is built (unbatched under vmap)."""
    name = "jvpc"
    derivative = True

    def __init__(self):
        self.tangent = None

    def apply(self, g):
        tangent = self.tangent

        def jvp_const(x):
            return s2s.jvp(g, (x,), (tangent * 1.0,))[1]
        return jvp_const

    def reference(self, g):
        tangent = self.tangent
        return lambda x: _fd_jvp(g, x, tangent)

    def example(self, inner_example, shape, rng):
        x = inner_example(rng)
        self.tangent = np.asarray(rng.standard_normal(np.shape(x)))
        return x


class LinearizePair(JvpPair):
    name = "linearize"

    def apply(self, g):
        def linearized(p):
            return s2s.linearize(g, p[0])[1](p[1])
        return linearized


class LinearFn(Layer):
    """linearize's f_jvp at a primal fixed when the stack is built, as a function of
    the tangent (so vmap of it maps tangents)."""
    name = "f_jvp"
    derivative = True

    def __init__(self):
        self.primal = None

    def apply(self, g):
        return s2s.linearize(g, self.primal)[1]

    def reference(self, g):
        primal = self.primal
        return lambda t: _fd_jvp(g, primal, t)

    def example(self, inner_example, shape, rng):
        self.primal = inner_example(rng)
        return rng.standard_normal(np.shape(self.primal))


class VjpCos(Layer):
    """vjp with the cotangent ``cos(output) + 1.5`` (read from the primal output)."""
    name = "vjp"
    derivative = True

    def apply(self, g):
        def vjp_cos(x):
            out, pull = s2s.vjp(g, x)
            return pull(snp.cos(out) + 1.5)[0]
        return vjp_cos

    def reference(self, g):
        def ref(x):
            c = np.cos(np.asarray(g(x), np.float64)) + 1.5
            return np.tensordot(c, _fd_jacobian(g, x), axes=c.ndim)
        return ref


class Jac(Layer):
    derivative = True

    def __init__(self, which):
        self.which = which
        self.name = which

    def apply(self, g):
        return getattr(s2s, self.which)(g)

    def reference(self, g):
        return lambda x: _fd_jacobian(g, x)


class Hessian(Layer):
    """hessian of the sum of the outputs; reference: differences of s2s.grad (checked
    by the grad layer on its own)."""
    name = "hessian"
    derivative = True

    def apply(self, g):
        return s2s.hessian(_sum_out(g))

    def reference(self, g):
        grad = s2s.grad(_sum_out(g))
        return lambda x: _fd_jacobian(grad, x)


class GradTree(Layer):
    """grad with argnums=(0, 1) of the function of a dict and a tuple holding the two
    halves of the argument (split on its first axis)."""
    name = "grad_tree"
    derivative = True

    def in_shape(self, shape):
        return shape if len(shape) >= 1 and shape[0] >= 2 else None

    def apply(self, g):
        def of_tree(d, p):
            return snp.sum(g(snp.concatenate([d["a"] * 0.25 + p[0] * 0.75, p[1]], axis=0)))

        def grad_tree(x):
            gd, gp = s2s.grad(of_tree, argnums=(0, 1))({"a": x[:1]}, (x[:1], x[1:]))
            return snp.concatenate([gd["a"] + gp[0], gp[1]], axis=0)
        return grad_tree

    def reference(self, g):
        return lambda x: _fd_jacobian(lambda v: np.sum(g(v)), x)


class ValueAndGradAux(Layer):
    """value_and_grad with has_aux: value * gradient + aux."""
    name = "vag_aux"
    derivative = True

    def apply(self, g):
        def with_aux(v):
            return snp.sum(g(v)), snp.sum(v) * 2.0

        def vag(x):
            (val, aux), gr = s2s.value_and_grad(with_aux, has_aux=True)(x)
            return gr * val + aux
        return vag

    def reference(self, g):
        def ref(x):
            gr = _fd_jacobian(lambda v: np.sum(g(v)), x)
            return gr * np.sum(g(x)) + 2.0 * np.sum(x)
        return ref


class JacTree(Layer):
    """jacfwd/jacrev with argnums=(0, 1) over a dict and a tuple holding the two halves
    of the argument (split on its first axis), blocks joined back along the input axes."""
    derivative = True

    def __init__(self, which):
        self.which = which
        self.name = f"{which}_tree"

    def in_shape(self, shape):
        return shape if len(shape) >= 1 and shape[0] >= 2 else None

    def apply(self, g):
        jac = getattr(s2s, self.which)

        def of_tree(d, p):
            return g(snp.concatenate([d["a"] * 0.25 + p[0] * 0.75, p[1]], axis=0))

        def jac_tree(x):
            jd, jp = jac(of_tree, argnums=(0, 1))({"a": x[:1]}, (x[:1], x[1:]))
            axis = jp[1].ndim - x.ndim
            return snp.concatenate([jd["a"] + jp[0], jp[1]], axis=axis)
        return jac_tree

    def reference(self, g):
        return lambda x: _fd_jacobian(g, x)


class JacAux(Layer):
    """jacfwd/jacrev with has_aux: the Jacobian times the sum of the aux output."""
    derivative = True

    def __init__(self, which):
        self.which = which
        self.name = f"{which}_aux"

    def apply(self, g):
        jac = getattr(s2s, self.which)

        def with_aux(v):
            out = g(v)
            return out, {"s": snp.sum(out) * 2.0}

        def jac_aux(x):
            J, aux = jac(with_aux, has_aux=True)(x)
            return J * aux["s"]
        return jac_aux

    def reference(self, g):
        return lambda x: _fd_jacobian(g, x) * 2.0 * np.sum(g(x))


class VmapTree(Vmap):
    """vmap of the function of a dict, with a dict in_axes, and a dict output with a
    dict out_axes (called on the argument wrapped in a dict)."""

    def __init__(self, in_axis, out_axis):
        super().__init__(in_axis, out_axis)
        self.name = f"vmap_tree[{in_axis},{out_axis}]"

    def apply(self, g):
        in_axis, out_axis = self.in_axis, self.out_axis

        def of_dict(d, scale):
            return {"o": g(d["u"]) * scale}

        def vmap_tree(x):
            mapped = s2s.vmap(of_dict, in_axes=({"u": in_axis}, None), out_axes={"o": out_axis})
            return mapped({"u": x}, 1.0)["o"]
        return vmap_tree


def all_layers():
    """Fresh layer objects (some hold the tangent or primal of one run)."""
    vmaps = [Vmap(i, o) for i in (0, 1, -1) for o in (0, -1)]
    return ([Jit(), Grad(), JvpPair(), JvpConst(), LinearizePair(), LinearFn(), VjpCos(),
             Jac("jacfwd"), Jac("jacrev"), Hessian(), GradTree(), ValueAndGradAux(),
             JacTree("jacfwd"), JacTree("jacrev"), JacAux("jacfwd"), JacAux("jacrev"),
             VmapTree(0, 0), VmapTree(1, -1)] + vmaps)


def layer_names():
    return [layer.name for layer in all_layers()]


def make_layer(name):
    for layer in all_layers():
        if layer.name == name:
            return layer
    raise KeyError(name)


# ---------------------------------------------------------------------------
# Running one stack.

Result = collections.namedtuple("Result", "status detail")  # ok / unsupported / skip / FAIL


def _stack_shapes(layers, base_shape):
    """The argument shape of each prefix of the stack (innermost first), None if invalid."""
    shapes = [tuple(base_shape)]
    for layer in layers:
        s = layer.in_shape(shapes[-1])
        if s is None:
            return None
        shapes.append(s)
    return shapes


def _example_fn(subject, layers, shapes, depth):
    """A function of an rng giving an argument of the stack ``layers[:depth]``."""
    if depth == 0:
        turn = itertools.cycle(subject.bases if subject.bases is not None else [subject.base])

        def base(rng):
            x = np.asarray(next(turn), np.float64)
            return x * (1.0 + 0.05 * rng.uniform(-1.0, 1.0, np.shape(x)))
        return base
    inner = _example_fn(subject, layers, shapes, depth - 1)
    layer = layers[depth - 1]
    return lambda rng: layer.example(inner, shapes[depth - 1], rng)


def _tolerance(ref):
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    return 1e-5, 1e-5 * scale


def _compare(got, want, rtol, atol):
    got = np.asarray(got)
    want = np.asarray(want)
    if got.shape != want.shape:
        return f"shape {got.shape} != reference {want.shape}"
    if not np.allclose(np.asarray(got, np.float64), want, rtol=rtol, atol=atol, equal_nan=True):
        err = np.max(np.abs(np.asarray(got, np.float64) - want))
        return f"max abs error {err:.3g} (scale {np.max(np.abs(want), initial=0.0):.3g})"
    return None


def _x64(on):
    s2s.config.update("enable_x64", on)


def build(subject, layers):
    """The s2s function of the whole stack and the reference of its outermost layer
    over the s2s function of the rest."""
    g = subject.fn
    for layer in layers[:-1]:
        g = layer.apply(g)
    return layers[-1].apply(g), layers[-1].reference(g)


def run_stack(subject, names, seed=0, float32=False):
    """Check the stack ``names`` (innermost first) on ``subject``; a ``Result``."""
    layers = [make_layer(n) for n in names]
    shapes = _stack_shapes(layers, np.shape(subject.base))
    if shapes is None:
        return Result("skip", "shapes")
    rng = np.random.default_rng(zlib.crc32(f"{subject.name}|{'/'.join(names)}|{seed}".encode()))
    old = s2s.config.enable_x64
    try:
        _x64(True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            x = _example_fn(subject, layers, shapes, len(layers))(rng)
            try:
                transformed, reference = build(subject, layers)
            except CLEAR_ERRORS as e:
                return Result("unsupported", f"{type(e).__name__}: {_first_line(e)}")
            try:
                want = np.asarray(reference(x), np.float64)
            except Exception as e:  # the inner stack fails on its own: checked there
                return Result("skip", f"reference: {type(e).__name__}: {_first_line(e)}")
            if not np.all(np.isfinite(want)):
                return Result("skip", "reference not finite")
            try:
                got = transformed(x)
            except CLEAR_ERRORS as e:
                return Result("unsupported", f"{type(e).__name__}: {_first_line(e)}")
            except Exception as e:
                return Result("FAIL", f"{type(e).__name__}: {_first_line(e)}\n"
                              + "".join(traceback.format_exception(e)[-4:]))
            bad = _compare(got, want, *_tolerance(want))
            if bad:
                return Result("FAIL", bad)
            if float32:
                return _check_float32(subject, names, x, np.asarray(got, np.float64))
        return Result("ok", "")
    finally:
        _x64(old)


def _check_float32(subject, names, x, want):
    _x64(False)
    layers = [make_layer(n) for n in names]
    transformed, _ = build(subject, layers)
    try:
        got = transformed(x.astype(np.float32))
    except CLEAR_ERRORS as e:
        return Result("unsupported", f"float32 {type(e).__name__}: {_first_line(e)}")
    except Exception as e:
        return Result("FAIL", f"float32 {type(e).__name__}: {_first_line(e)}")
    if np.asarray(got).dtype != np.float32:
        return Result("FAIL", f"float32: dtype {np.asarray(got).dtype}")
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    bad = _compare(got, want, 2e-2, 2e-2 * scale)
    return Result("FAIL", "float32: " + bad) if bad else Result("ok", "")


# Layers holding a tangent/primal drawn with the argument (float32 runs skip them).
FIXED_LAYERS = {"jvpc", "f_jvp"}


def _first_line(e):
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else "(no message)"


# ---------------------------------------------------------------------------
# Enumerating stacks.

def stacks(depth):
    """Every stack of 1..depth layers (innermost first) worth running: at most one
    layer with a fixed tangent/primal, no jit directly on jit, derivative order <= 3."""
    names = layer_names()
    out = []
    for d in range(1, depth + 1):
        for combo in itertools.product(names, repeat=d):
            if sum(n in FIXED_LAYERS for n in combo) > 1:
                continue
            if any(a == b == "jit" for a, b in zip(combo, combo[1:])):
                continue
            order = sum(2 if n == "hessian" else 1 for n in combo
                        if n != "jit" and not n.startswith("vmap"))
            if order > 3:
                continue
            out.append(combo)
    return out


def sample_cases(n, depth, seed, subjects=None, min_depth=2):
    """``n`` (subject, stack) pairs drawn with ``seed`` from the stacks of ``min_depth`` to
    ``depth`` layers over ``subjects``."""
    subjects = subjects if subjects is not None else all_subjects()
    all_stacks = [s for s in stacks(depth) if len(s) >= min_depth]
    rng = random.Random(seed)
    out = []
    while len(out) < n:
        subject, names = rng.choice(subjects), rng.choice(all_stacks)
        if _stack_shapes([make_layer(x) for x in names], np.shape(subject.base)) is not None:
            out.append((subject, names))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--min-depth", type=int, default=2)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--subject", action="append", help="only these subjects (by name)")
    p.add_argument("--stack", help="one stack, innermost first: e.g. jvp,vmap[0,0]")
    p.add_argument("--float32", action="store_true")
    p.add_argument("--verbose", "-v", action="store_true")
    args = p.parse_args(argv)
    subjects = all_subjects()
    if args.subject:
        subjects = [s for s in subjects if s.name in args.subject]
    if args.stack:
        names = tuple(_split_stack(args.stack))
        cases = [(s, names) for s in subjects]
    else:
        cases = sample_cases(args.count, args.depth, args.seed, subjects, args.min_depth)
    counts = collections.Counter()
    for subject, names in cases:
        r = run_stack(subject, names, seed=args.seed,
                      float32=args.float32 and not FIXED_LAYERS.intersection(names))
        counts[r.status] += 1
        if r.status == "FAIL" or args.verbose:
            print(f"{r.status:11s} {subject.name:28s} {'/'.join(names):40s} {r.detail}", flush=True)
    print(dict(counts))
    return 1 if counts["FAIL"] else 0


def _split_stack(text):
    """``jvp,vmap[0,0]`` -> ['jvp', 'vmap[0,0]'] (commas inside brackets kept)."""
    out, depth, cur = [], 0, ""
    for ch in text:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "["
        depth -= ch == "]"
        cur += ch
    return out + [cur] if cur else out


if __name__ == "__main__":
    sys.path.insert(0, __import__("os").path.dirname(__file__))
    sys.exit(main())
