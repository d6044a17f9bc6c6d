"""vmap of functions that jit's control-flow conversion has already rewritten.

Under ``jit(vmap(f))``, ``jit(f)`` calling ``vmap``, or ``jit(vmap(jit(f)))``, the
functions vmap meets at run time (a body given to ``lax.map``, a nested function,
a lambda given to ``vmap``) are converted ones: their ``if``s are ``if_stmt`` calls.
vmap batches the code they were converted from. Each form is checked against a
Python loop over examples, with the batch axis first and second, and without any
per-example call.
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import lax
from cases import assert_trees_close, loop_over_examples

FLAG = True
RNG = onp.random.default_rng(3)
N = 4  # examples


def map_lambda_ifexp(xs, c):
    return lax.map(lambda x: x * c if FLAG else x, xs)


def map_def_if(xs, c):
    def body(x):
        if FLAG:
            y = x * c
        else:
            y = x
        return y
    return lax.map(body, xs)


def map_staged_test(xs, c, s):
    # ``s`` is not mapped: a staged value under jit, so the `if` stays a staged cond.
    return lax.map(lambda x: x * c if s > 0 else x - c, xs)


def map_staged_while(xs, c, s):
    def body(x):
        y = x
        i = 0.0
        while i < s + 3.0:  # unmapped, staged under jit: a staged while, carrying batched y
            y = y * 0.5 + c
            i = i + 1.0
        return y
    return lax.map(body, xs)


def map_batched_test(xs, c):
    return lax.map(lambda x: x * c if np.sum(c) > 0 else x - c, xs)


def scan_closure(xs, c):
    def step(carry, x):
        carry = carry + x * c if FLAG else carry
        return carry, carry * 2.0
    return lax.scan(step, np.zeros(3, "float32"), xs)


def fori_closure(xs, c):
    def body(i, acc):
        if FLAG:
            acc = acc * 0.5 + c
        return acc
    return lax.fori_loop(0, 3, body, xs)


def cond_closure(xs, c):
    return lax.cond(FLAG, lambda v: v * c if FLAG else v, lambda v: v + c, xs)


def map_while(xs, c):
    def body(x):
        y = x
        while np.sum(y) < 20.0 + np.sum(c):
            y = y * 2.0 + np.abs(c)
        return y
    return lax.map(body, xs)


def nested_call(xs, c):
    def g(y, k):
        return y * k if FLAG else y
    return g(xs, c)


def inner_vmap(xs, c):
    return s2s.vmap(lambda x: x * c if FLAG else x)(xs)


def inner_vmap_named(xs, c):
    sq = lambda x: x * c if FLAG else -x  # noqa: E731 (a lambda given a name)
    return s2s.vmap(sq)(xs)


def map_of_vmap(xs, c):
    def h(x):
        if np.sum(c) > 0:  # staged under jit (unmapped by this vmap): a staged cond
            return x * c
        return x - c
    return lax.map(s2s.vmap(h), xs)


FUNCTIONS = [map_of_vmap, map_lambda_ifexp, map_def_if, map_staged_test, map_staged_while,
             map_batched_test, scan_closure, fori_closure, cond_closure, map_while, nested_call,
             inner_vmap, inner_vmap_named]

FORMS = {
    "vmap": lambda f, axes: s2s.vmap(f, in_axes=axes),
    "jit(vmap)": lambda f, axes: s2s.jit(s2s.vmap(f, in_axes=axes)),
    "vmap(jit)": lambda f, axes: s2s.vmap(s2s.jit(f), in_axes=axes),
    "jit(vmap(jit))": lambda f, axes: s2s.jit(s2s.vmap(s2s.jit(f), in_axes=axes)),
}


def _arguments(fn, axis):
    """Batched arguments (per example: ``xs`` (2, 3), ``c`` (3,)) with the batch on ``axis``,
    and their in_axes."""
    xs = RNG.uniform(0.5, 2.0, size=(N, 2, 3)).astype("float32")
    c = RNG.uniform(-1.0, 2.0, size=(N, 3)).astype("float32")
    args = [onp.moveaxis(xs, 0, axis), onp.moveaxis(c, 0, axis)]
    axes = [axis, axis]
    if fn in (map_staged_test, map_staged_while):
        args.append(onp.float32(-1.0))
        axes.append(None)
    return args, tuple(axes)


def _check(fn, form, axis, loops):
    args, axes = _arguments(fn, axis)
    want = loop_over_examples(fn, args, axes)
    assert_trees_close(FORMS[form](fn, axes)(*args), want, check_dtype=True)
    assert loops == [], f"{form} of {fn.__name__} ran per example: {loops}"


@pytest.mark.parametrize("form", list(FORMS))
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_matches_loop_batch_axis_0(fn, form, loops):
    _check(fn, form, 0, loops)


@pytest.mark.parametrize("form", ["jit(vmap)"])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_matches_loop_batch_axis_1(fn, form, loops):
    _check(fn, form, 1, loops)


def test_staged_unmapped_test_takes_each_branch():
    """The `if` on an unmapped staged value picks the branch the value says, per call."""
    args, axes = _arguments(map_staged_test, 0)
    f = s2s.jit(s2s.vmap(map_staged_test, in_axes=axes))
    for s in (-1.0, 2.0):
        args[2] = onp.float32(s)
        assert_trees_close(f(*args), loop_over_examples(map_staged_test, args, axes))


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_vmap_called_by_a_lax_body_under_jit(sign):
    """A vmap that a lax loop calls while jit traces it (not through jit's conversion)
    converts its batched source: the `if` on a staged value stages."""
    xs = RNG.normal(size=(2, 5, 3)).astype("float32")
    c = sign * onp.abs(RNG.normal(size=3)).astype("float32")
    want = onp.stack([map_of_vmap(x, c) for x in xs])
    got = s2s.jit(lambda xs, c: s2s.vmap(map_of_vmap, in_axes=(0, None))(xs, c))(xs, c)
    onp.testing.assert_allclose(got, want, rtol=1e-6)
    onp.testing.assert_allclose(s2s.jit(map_of_vmap)(xs[0], c), want[0], rtol=1e-6)


def _makes_nested(c, flag):
    if flag:
        def inner(x):
            if x > 0:
                return x * c
            return x - c
    else:
        inner = None
    return inner, lambda x: x * c if x > 0 else x - c


@pytest.mark.parametrize("which", [0, 1], ids=["def inside an if", "lambda"])
def test_unconverted_is_the_code_before_conversion(which):
    """A function made by converted code maps back to the user's code over the same
    closure cells: vmap batches that (an `if`, not an ``if_stmt`` call of branch
    functions it cannot split per example)."""
    from s2s.transforms import convert

    made = convert.converted(_makes_nested)(2.0, True)[which]
    assert "if_stmt" in made.__code__.co_freevars
    original = convert.unconverted(made)
    assert original.__code__ in _nested_codes(_makes_nested.__code__)
    assert "if_stmt" not in original.__code__.co_freevars
    assert (original(3.0), original(-1.0)) == (6.0, -3.0)
    assert convert.unconverted(original) is original  # not converted code: itself


def _nested_codes(code):
    out = []
    for c in code.co_consts:
        if hasattr(c, "co_consts"):
            out += [c] + _nested_codes(c)
    return out
