"""Regressions of compositions that once failed or answered wrongly (session 24, misc):
each checked against central differences, a Python loop over examples, or JAX in x64
(skipped without jax)."""
import collections
import functools
import gc

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
import s2s.trace.record
from cases import central_jacobian, jax_x64, loop_over_examples

X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.3, -0.2]])


# -- 1. functools.partial with keywords: the function's source, not a recording -------------

def branchy(x, kw=1.0):
    if x[0] > 0:
        return snp.sin(x) * kw
    return snp.cos(x) * kw


def branchy_sum(x, kw=1.0, *, scale=1.0):
    if x[0] > 0:
        return snp.sum(snp.sin(x)) * kw * scale
    return snp.sum(snp.cos(x)) * kw * scale


def test_jit_vmap_jacrev_of_a_keyword_partial_with_a_branch_on_data(x64, loops):
    # Before: ConcretizationError (the partial had "no source", so jacrev recorded the
    # call, and the recording's Python `if` met a staged value under jit).
    g = functools.partial(branchy, kw=2.0)
    got = np.asarray(s2s.jit(s2s.vmap(s2s.jacrev(g)))(X))
    want = loop_over_examples(lambda x: central_jacobian(g, x), (X,), (0,))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(s2s.vmap(s2s.jacrev(g))(X)), got, rtol=1e-12)
    assert loops == []  # batched: no Python loop over the examples


@pytest.mark.parametrize("transform", ["vmap_grad", "vmap_jacfwd", "vmap_hessian", "jit_grad",
                                       "jit_vmap"])
def test_keyword_partials_under_jit_and_vmap(x64, loops, transform):
    g = functools.partial(branchy_sum, kw=2.0, scale=0.5)  # positional and keyword-only
    fns = {"vmap_grad": s2s.vmap(s2s.grad(g)), "vmap_jacfwd": s2s.vmap(s2s.jacfwd(g)),
           "vmap_hessian": s2s.vmap(s2s.hessian(g)), "jit_grad": s2s.vmap(s2s.jit(s2s.grad(g))),
           "jit_vmap": s2s.jit(s2s.vmap(g))}
    got = np.asarray(s2s.jit(fns[transform])(X))
    if transform == "vmap_hessian":
        fd = lambda x: central_jacobian(lambda v: np.asarray(s2s.grad(g)(v)), x)
    elif transform == "jit_vmap":
        fd = lambda x: branchy_sum(x, 2.0, scale=0.5)
    else:
        fd = lambda x: central_jacobian(lambda v: np.asarray(g(v))[None], x)[0]
    np.testing.assert_allclose(got, loop_over_examples(fd, (X,), (0,)), rtol=1e-6, atol=1e-7)
    assert loops == []


def test_keyword_partial_call_keywords_still_override():
    g = functools.partial(branchy_sum, kw=2.0)
    x = np.array([0.3, 0.4])
    np.testing.assert_allclose(s2s.grad(g)(x, kw=3.0), s2s.grad(branchy_sum)(x, 3.0), rtol=1e-6)
    np.testing.assert_allclose(s2s.jit(g)(x, kw=3.0), branchy_sum(x, 3.0), rtol=1e-6)


def test_keyword_partial_against_jax(x64):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")

    def jbranchy(x, kw=1.0):
        return jax.lax.cond(x[0] > 0, lambda v: jnp.sin(v) * kw, lambda v: jnp.cos(v) * kw, x)

    with jax_x64(jax):
        want = jax.jit(jax.vmap(jax.jacrev(functools.partial(jbranchy, kw=2.0))))(X)
    got = s2s.jit(s2s.vmap(s2s.jacrev(functools.partial(branchy, kw=2.0))))(X)
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)


# -- 2. list appends under a per-example condition ------------------------------------------

def list_made_in_branch(x):
    if x[0] > 0:
        parts = []
        for i in range(3):
            parts.append(snp.sin(x * i))
        y = parts[0] + parts[2] + x * parts[1]
    else:
        y = snp.cos(x)
    return snp.sum(y * y)


def list_made_each_trip(y):
    while snp.sum(y) < 3.0:
        acc = []
        acc.append(y * 0.5)
        acc.append(snp.abs(y) + 0.25)
        y = acc[0] + acc[1]
    return y


def list_made_before_branch(x):
    parts = [x]
    if x[0] > 0:
        parts.append(snp.sin(x))  # examples would have lists of different lengths
    return snp.stack(parts).sum(0)


def list_appended_under_a_nested_condition(x):
    y = x
    if x[0] > 0:
        parts = [x]
        if x[1] > 0:
            parts.append(snp.sin(x))
        y = parts[-1]
    return y


@pytest.mark.parametrize("jit", [False, True])
def test_vmap_of_a_list_made_inside_a_per_example_branch(x64, loops, jit):
    # Before: TransformError "list append under a condition that varies across the mapped axis"
    # although every example taking the branch makes its own list of the same length.
    for fun, want in [(list_made_in_branch, list_made_in_branch),
                      (s2s.grad(list_made_in_branch), lambda x: central_jacobian(
                          lambda v: np.atleast_1d(list_made_in_branch(v)), x)[0])]:
        v = s2s.jit(s2s.vmap(fun)) if jit else s2s.vmap(fun)
        np.testing.assert_allclose(np.asarray(v(X)), loop_over_examples(want, (X,), (0,)),
                                   rtol=1e-6, atol=1e-8)
    assert loops == []


@pytest.mark.parametrize("jit", [False, True])
def test_vmap_of_a_list_made_on_each_trip_of_a_per_example_while(x64, loops, jit):
    v = s2s.vmap(list_made_each_trip)
    v = s2s.jit(v) if jit else v
    np.testing.assert_allclose(np.asarray(v(X)), loop_over_examples(list_made_each_trip, (X,), (0,)),
                               rtol=1e-12)
    assert loops == []


@pytest.mark.parametrize("fun", [list_made_before_branch, list_appended_under_a_nested_condition])
def test_vmap_refuses_a_list_append_whose_length_would_vary(fun):
    line = fun.__code__.co_firstlineno + (3 if fun is list_made_before_branch else 5)
    with pytest.raises(s2s.errors.TransformError, match=rf"test_composition_regressions.py:{line}:"
                       r".*list append under a condition .*made before that condition"):
        s2s.vmap(fun)(X)


# -- 3. hessian of a non-scalar function that calls s2s.jvp -----------------------------------

def _tanh_times(*xs):  # primals in *args: jvp records the call (before: TypeError)
    return snp.tanh(xs[0]) * xs[1]


def calls_jvp(x):
    y, dy = s2s.jvp(snp.sin, (x,), (x * x,))
    return y * dy + x


def calls_jvp_of_varargs(x):
    y, dy = s2s.jvp(_tanh_times, (x, x[0]), (x, 1.0))
    return y * dy


def calls_vjp(x):
    y, pull = s2s.vjp(lambda v: snp.sin(v) * v, x)
    return y * pull(x)[0]


def _jax_calls_jvp(jax, jnp):
    def f(x):
        y, dy = jax.jvp(jnp.sin, (x,), (x * x,))
        return y * dy + x
    return f


@pytest.mark.parametrize("fun", [calls_jvp, calls_jvp_of_varargs, calls_vjp])
@pytest.mark.parametrize("transform", ["eager", "jit", "vmap"])
def test_hessian_of_a_vector_function_calling_jvp_or_vjp(x64, fun, transform):
    # Once: "grad does not support try/except (in _traced_vjp)"; varargs: TypeError.
    x = np.array([0.3, -0.7, 1.1])
    jac = s2s.jacrev(fun)
    want = central_jacobian(lambda v: np.asarray(jac(v)).reshape(-1), x).reshape(3, 3, 3)
    if transform == "vmap":
        got = np.asarray(s2s.vmap(s2s.hessian(fun))(np.stack([x, x])))[1]
    else:
        got = np.asarray((s2s.jit if transform == "jit" else lambda h: h)(s2s.hessian(fun))(x))
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(jac(x)), central_jacobian(fun, x), rtol=1e-6, atol=1e-8)


def test_hessian_of_a_function_calling_jvp_against_jax(x64):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    x = np.array([0.3, -0.7, 1.1])
    with jax_x64(jax):
        want = np.asarray(jax.hessian(_jax_calls_jvp(jax, jnp))(x))
    np.testing.assert_allclose(np.asarray(s2s.hessian(calls_jvp)(x)), want, rtol=1e-12, atol=1e-12)


# -- 5. a recording is freed when the call that made it returns (no trace <-> tracer cycle) --

def _no_source_function(seen):
    """``x -> sum(sin(x) * x)`` without source (s2s records it), noting its recording trace."""
    namespace = {"snp": snp, "seen": seen}
    exec("def no_source(x):\n"
         "    seen.append(__import__('weakref').ref(x._trace))\n"
         "    return snp.sum(snp.sin(x) * x)\n", namespace)
    return namespace["no_source"]


@pytest.mark.parametrize("transform", ["record", "grad", "vmap_grad"])
def test_a_recording_is_freed_without_the_cyclic_collector(transform):
    seen = []
    fun = _no_source_function(seen)
    x = np.linspace(0.1, 1.0, 5)
    calls = {"record": lambda: s2s.trace.record.record(fun, (x,), {}),
             "grad": lambda: s2s.grad(fun)(x),
             "vmap_grad": lambda: s2s.vmap(s2s.grad(fun))(np.stack([x, x]))}
    gc.collect()
    gc.disable()
    try:
        out = calls[transform]()
        assert seen and all(ref() is None for ref in seen), "a recording outlived its call"
    finally:
        gc.enable()
    if transform == "grad":
        np.testing.assert_allclose(out, np.sin(x) + x * np.cos(x), rtol=1e-5)


# -- 6. found by the program fuzzer (seed 122): jit of reverse mode through control flow ----

def method_before_branch(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5
    v3 = x.reshape(-1)[::-1].reshape((4,)) * s0
    if s0 > 0.529044:
        return snp.sum(v3 * s0)
    return snp.sum(v3 * 2.0)


def method_in_branch(x):
    if snp.sum(x) > 0.0:
        return x.sum() * 2.0 + snp.sum(x.reshape((2, 2)).T * snp.arange(4.0).reshape(2, 2))
    return snp.sum(x)


@pytest.mark.parametrize("fun", [method_before_branch, method_in_branch])
@pytest.mark.parametrize("transform", ["grad", "jacrev"])
def test_jit_of_reverse_mode_through_an_array_method_and_a_branch(x64, fun, transform):
    # Before: jit(grad) differentiated the control-flow-converted function, where
    # `x.reshape(-1)` had become `converted_call(x.reshape, -1)`, whose rule gave no
    # derivative for the receiver x: the gradient through it was silently zero
    # (max abs error 0.46 here, 3.0 for `x.reshape(-1)` alone).
    for x in (np.array([0.781, -0.779, -0.294, -0.698]), np.array([0.1, -0.2, 0.05, 0.3])):
        want = central_jacobian(lambda v: np.atleast_1d(fun(v)), x)[0]
        if transform == "grad":
            got = s2s.jit(s2s.grad(fun))(x)
        else:
            got = s2s.jit(s2s.jacrev(lambda v: snp.stack([fun(v), fun(v) ** 2])))(x)[0]
        np.testing.assert_allclose(np.asarray(got), want, rtol=1e-6, atol=1e-8)


# -- 7. a method of a differentiated object (found while minimizing seed 122) ----------------

class Pair(collections.namedtuple("Pair", "a b")):
    def energy(self, y):
        return snp.sum(self.a * y + self.b)


def calls_a_method(x):
    return Pair(x * 2.0, x * x).energy(x)


def calls_a_method_after_a_branch(x):
    p = Pair(x * 2.0, x * x)
    if snp.sum(x) > 0:
        return p.energy(x) * 2.0
    return p.energy(x)


def method_of_argument(p, x):
    return p.energy(x)


@pytest.mark.parametrize("transform", ["grad", "vjp", "jit_grad", "jacfwd", "jvp", "hessian",
                                       "vmap_grad"])
def test_derivative_through_the_object_of_a_method_call(x64, transform):
    # Before: the object a method is bound to got no derivative (dynamic_vjp/dynamic_jvp
    # differentiate the arguments only): grad of Pair(2x, x*x).energy(x) gave 2x instead of
    # 4x + 2x, silently (max abs error 3.12). Now the call is recorded, exactly.
    x = np.array([0.781, 0.779, -0.294, -0.698])
    for fun in (calls_a_method, calls_a_method_after_a_branch):
        want = central_jacobian(lambda v: np.atleast_1d(fun(v)), x)[0]
        fns = {"grad": s2s.grad(fun), "vjp": lambda v: s2s.vjp(fun, v)[1](1.0)[0],
               "jit_grad": s2s.jit(s2s.grad(fun)), "jacfwd": s2s.jacfwd(fun),
               "jvp": lambda v: np.array([s2s.jvp(fun, (v,), (e,))[1] for e in np.eye(4)]),
               "vmap_grad": lambda v: s2s.vmap(s2s.grad(fun))(np.stack([v, v]))[1]}
        if transform == "hessian":
            got = np.asarray(s2s.hessian(fun)(x))
            want = central_jacobian(lambda v: np.asarray(s2s.grad(fun)(v)), x)
        else:
            got = np.asarray(fns[transform](x))
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_gradient_with_respect_to_the_object_of_a_method_call(x64):
    x = np.array([0.3, -0.2, 0.5])
    g = s2s.grad(method_of_argument)(Pair(x * 2.0, x * x), x)
    np.testing.assert_allclose(g.a, x, rtol=1e-12)
    np.testing.assert_allclose(g.b, np.ones(3), rtol=1e-12)


# -- 8. vjp under jit through a Python `if` on data ------------------------------------------

@pytest.mark.parametrize("batched", [False, True])
def test_vjp_under_jit_through_a_branch_on_data(x64, batched):
    # Before: ConcretizationError (vjp ran its generated forward code, whose `if` met a
    # staged condition); now the control-flow-converted function's vjp, as jit(grad) does.
    def pulled(x):
        y, pull = s2s.vjp(branchy, x)
        return pull(snp.cos(x))[0] + y

    def want(x):
        jac = central_jacobian(branchy, x)
        return np.cos(x) @ jac + branchy(x)

    if batched:
        got = s2s.jit(s2s.vmap(pulled))(X)
        np.testing.assert_allclose(np.asarray(got), loop_over_examples(want, (X,), (0,)),
                                   rtol=1e-6, atol=1e-8)  # (run once per example)
    else:
        for x in X:
            np.testing.assert_allclose(np.asarray(s2s.jit(pulled)(x)), want(x), rtol=1e-6, atol=1e-8)
