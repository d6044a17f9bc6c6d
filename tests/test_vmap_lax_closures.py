"""vmap of lax loops whose body reads mapped values from its closure while the initial
carry (and the scanned values) are not mapped: the batch size comes from the closure,
and the initial carry is broadcast to it. Checked against a Python loop, eager and jit,
with the batch axis first and second."""
import functools

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import lax
from cases import assert_trees_close, loop_over_examples

N = 3  # examples; also the length of the initial carries below, which must not pass
       # for a batch of them


def fori_closure(xs, c):
    def body(i, acc):
        return acc + xs[i] * c
    return lax.fori_loop(0, 3, body, np.zeros(3, "float32"))


def fori_scalar_init(xs, c):
    return lax.fori_loop(0, 3, lambda i, a: a + c, np.float32(1.0))


def fori_reads_carry(xs, c):
    def body(i, acc):
        return acc * acc[0] * 0.1 + xs[i] * c
    return lax.fori_loop(0, 3, body, np.ones(3, "float32"))


def while_closure(xs, c):
    return lax.while_loop(lambda a: a[0] < 10.0 * np.abs(c) + 1.0,
                          lambda a: a + xs + np.abs(c), np.zeros(3, "float32"))


def scan_without_xs(xs, c):
    def step(carry, _):
        return carry + xs * c, carry
    return lax.scan(step, np.zeros(3, "float32"), None, length=3)


FUNCTIONS = [fori_closure, fori_scalar_init, fori_reads_carry, while_closure, scan_without_xs]
_RNG = onp.random.default_rng(11)


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_matches_loop(fn, axis, jitted):
    xs = _RNG.uniform(0.5, 2.0, size=(N, 3)).astype("float32")
    c = _RNG.uniform(0.5, 2.0, size=N).astype("float32")
    want = loop_over_examples(fn, (xs, c), (0, 0))
    f = s2s.vmap(fn, in_axes=(axis, 0))
    got = (s2s.jit(f) if jitted else f)(onp.moveaxis(xs, 0, axis), c)
    assert_trees_close(got, want)


def _reduce_closure(xs, c):
    return functools.reduce(lambda a, b: a + b * c, xs, 0.0)


def _reduce_nested_closure(xs, c):
    k = c * 2.0
    inner = lambda b: b * k  # noqa: E731 (a closure the reduced closure captures)
    return functools.reduce(lambda a, b: a + inner(b), xs, 0.0)


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn", [_reduce_closure, _reduce_nested_closure],
                         ids=lambda f: f.__name__)
def test_function_without_rule_given_only_a_batched_closure(fn, jitted, loops):
    """A function with neither rule nor source (``functools.reduce``) whose only batched
    argument is a closure runs once per example with that example's closure (its
    captures indexed, nested closures too): the batch size comes from the closure."""
    xs = _RNG.normal(size=4).astype("float32")
    c = _RNG.normal(size=N).astype("float32")
    f = s2s.vmap(fn, in_axes=(None, 0))
    got = (s2s.jit(f) if jitted else f)(xs, c)
    assert_trees_close(got, loop_over_examples(fn, (xs, c), (None, 0)))
    assert loops == ["reduce"]
