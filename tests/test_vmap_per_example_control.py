"""vmap of reverse mode (``jacrev``, ``grad``, ``jacrev(grad)``) through control flow whose
path differs per example, and through calls of function values: batched once (the
``loops`` fixture records what still runs once per example), each result checked
against a Python loop over the examples, central differences in float64, eagerly and
under ``jit``; examples taking different branches and trip counts, and all the same."""
import functools
import warnings

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import lax
from cases import assert_trees_close, central_grad, central_jacobian, loop_over_examples


def branch_if(x):
    if np.sum(x) > 0:
        return np.sin(x) * x[0]
    return np.cos(x) * 2.0 + x


def branch_cond(x):
    return lax.cond(np.sum(x) > 0, lambda v: np.sin(v) * v[0], lambda v: np.cos(v) * 2.0 + v, x)


def grow_while(x):
    y = x
    while np.sum(y * y) < 10.0:  # a trip count per example
        y = y * 1.5 + np.sin(y)
    return y * x[0]


def break_early(x):
    y = x
    for i in range(10):
        y = y * 1.4 + 0.1 * np.cos(y)
        if np.sum(y) > 3.0:
            break
    return y * y


def returns_early(x):
    y = x
    for i in range(6):
        y = y * 1.7
        if np.max(y) > 2.0:
            return y * np.sin(x)
    return -y


VECTOR_FUNCS = [branch_if, branch_cond, grow_while, break_early, returns_early]
# Under jit a loop whose exit differs per example still runs each example's reverse pass
# (the reverse sweep's stack does not stage inside a staged loop: the converted
# function's while_loop batches its forward pass, not its reverse one).
PER_EXAMPLE_UNDER_JIT = {"grow_while", "break_early", "returns_early", "sum_grow_while",
                         "sum_break_early"}


def _batched_once(loops, fn, jitted):
    if jitted and fn.__name__ in PER_EXAMPLE_UNDER_JIT:
        assert set(loops) <= {"while_stmt", "while_stmt_vjp", "if_stmt", "converted_call_vjp"}, loops
    else:
        assert loops == []
# rows take different paths (signs, trip counts, exits) ...
MIXED = onp.array([[0.3, -0.7, 1.1], [-0.9, -0.2, -0.5], [1.4, 0.1, -0.5], [0.2, 0.25, 0.3]])
# ... or all the same one
SAME = onp.array([[0.3, 0.4, 0.5], [0.35, 0.45, 0.5], [0.2, 0.3, 0.6]])


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # masked lanes may overflow
        return fn(*args)


def _check_jacobians(got, fn, xs):
    want = loop_over_examples(s2s.jacrev(fn), [xs], [0])
    assert_trees_close(got, want, rtol=1e-10, atol=1e-12)
    fd = onp.stack([central_jacobian(fn, x) for x in xs])
    assert_trees_close(got, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("xs", [MIXED, SAME], ids=["mixed", "same"])
@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn", VECTOR_FUNCS, ids=lambda f: f.__name__)
def test_vmap_jacrev(fn, jitted, xs, loops, x64):
    f = s2s.vmap(s2s.jacrev(fn))
    got = _quiet(s2s.jit(f) if jitted else f, xs)
    _batched_once(loops, fn, jitted)
    _check_jacobians(got, fn, xs)


def sum_branch_if(x):
    return np.sum(branch_if(x) * np.arange(1.0, 4.0))


def sum_branch_cond(x):
    return np.sum(branch_cond(x) * np.arange(1.0, 4.0))


def sum_grow_while(x):
    return np.sum(grow_while(x) * np.arange(1.0, 4.0))


def sum_break_early(x):
    return np.sum(break_early(x) * np.arange(1.0, 4.0))


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn", [sum_branch_if, sum_branch_cond, sum_grow_while, sum_break_early],
                         ids=lambda f: f.__name__)
def test_vmap_grad(fn, jitted, loops, x64):
    f = s2s.vmap(s2s.grad(fn))
    got = _quiet(s2s.jit(f) if jitted else f, MIXED)
    _batched_once(loops, fn, jitted)
    assert_trees_close(got, loop_over_examples(s2s.grad(fn), [MIXED], [0]), rtol=1e-10, atol=1e-12)
    assert_trees_close(got, onp.stack([central_grad(fn, x) for x in MIXED]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn", [sum_branch_if, sum_branch_cond, sum_grow_while],
                         ids=lambda f: f.__name__)
def test_jacrev_of_grad(fn, loops, x64):
    # (the reverse loop's list adjoints, all None on the way, are one call for the basis)
    for x in MIXED[:2]:  # one example per branch, different trip counts
        got = s2s.jacrev(s2s.grad(fn))(x)
        assert loops == []
        fd = central_jacobian(s2s.grad(fn), x)
        assert_trees_close(got, fd, rtol=1e-5, atol=1e-6)
        # jacfwd of the gradient: the branch functions on its primal tape stay functions
        assert_trees_close(s2s.hessian(fn)(x), got, rtol=1e-10, atol=1e-12)


def two_outputs(x, w):
    if np.sum(x) > 0:
        return {"a": np.sin(x) * w, "b": np.sum(x * x)}, x[0]
    return {"a": x * w * w, "b": np.cos(x[1])}, x[1]


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("in_axes", [(0, None), (0, 0)], ids=["w_shared", "w_batched"])
def test_vmap_jacrev_pytrees_argnums_aux(in_axes, jitted, loops, x64):
    ws = onp.array([[0.5, -1.0, 2.0], [1.5, 0.2, -0.3], [0.7, 0.8, 0.9], [1.0, 2.0, 3.0]])
    w = ws if in_axes[1] == 0 else ws[0]
    jac = s2s.jacrev(two_outputs, argnums=(0, 1), has_aux=True)
    f = s2s.vmap(jac, in_axes=in_axes)
    got = (s2s.jit(f) if jitted else f)(MIXED, w)
    assert loops == []
    assert_trees_close(got, loop_over_examples(jac, [MIXED, w], list(in_axes)), rtol=1e-10,
                       atol=1e-12)
    for k, x in enumerate(MIXED):
        wk = w[k] if in_axes[1] == 0 else w
        fd_x = central_jacobian(lambda v: two_outputs(v, wk)[0]["a"], x)
        fd_w = central_jacobian(lambda v: two_outputs(x, v)[0]["a"], wk)
        assert_trees_close((got[0]["a"][0][k], got[0]["a"][1][k]), (fd_x, fd_w), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# Function values: called through a partial, a parameter, an item of a list.

A = onp.array([[1.0, 2.0, 0.5], [0.3, -1.0, 2.0]])


def h(a, x):
    return np.sum(np.tanh(a @ x))


def through_partial(x):
    return functools.partial(h, A)(x) * x[0]


def _apply(fn, x):
    return fn(A, x)


def through_parameter(x):
    return _apply(h, x) + np.sum(x * x)


def through_list(x):
    fs = [lambda v: np.sum(np.sin(v)), lambda v: h(A, v)]
    return fs[1](x) * fs[0](x)


FUNCTION_VALUES = [through_partial, through_parameter, through_list]


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn", FUNCTION_VALUES, ids=lambda f: f.__name__)
def test_vmap_grad_through_function_values(fn, jitted, loops, x64):
    f = s2s.vmap(s2s.grad(fn))
    got = (s2s.jit(f) if jitted else f)(MIXED)
    assert loops == []
    assert_trees_close(got, loop_over_examples(s2s.grad(fn), [MIXED], [0]), rtol=1e-10, atol=1e-12)
    assert_trees_close(got, onp.stack([central_grad(fn, x) for x in MIXED]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fn,jitted", [(f, False) for f in FUNCTION_VALUES] + [(through_partial, True)],
                         ids=lambda v: getattr(v, "__name__", "jit" if v else "eager"))
def test_vmap_jacrev_grad_through_function_values(fn, jitted, x64):
    # the second-order rules of a function value's call still run once per example
    # here (README, Known limitations): checked for values only
    jac = s2s.jacrev(s2s.grad(fn))
    f = s2s.vmap(jac)
    got = (s2s.jit(f) if jitted else f)(MIXED)
    assert_trees_close(got, loop_over_examples(jac, [MIXED], [0]), rtol=1e-10, atol=1e-12)
    fd = onp.stack([central_jacobian(s2s.grad(fn), x) for x in MIXED])
    assert_trees_close(got, fd, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn", [np.quantile, np.percentile], ids=["quantile", "percentile"])
def test_per_example_q(fn, jitted, x64):
    # eagerly np.quantile's host q is a static parameter, NumPy computes: per example
    qs = onp.array([0.1, 0.5, 0.7, 0.95]) * (100.0 if fn is np.percentile else 1.0)

    def f(x, q):
        return fn(x, q)
    got = (s2s.jit(s2s.vmap(f)) if jitted else s2s.vmap(f))(MIXED, qs)
    want = onp.stack([getattr(onp, fn.__name__)(x, q) for x, q in zip(MIXED, qs)])
    assert_trees_close(got, want, rtol=1e-12, atol=1e-12)


QUANTILE_DATA = onp.random.RandomState(0).randn(4, 3, 5)
QUANTILE_DATA[2, 1, 3] = onp.nan  # a NaN in one slice gives NaN there


@pytest.mark.parametrize("method,axis,keepdims,in_axes", [
    ("linear", None, False, (0, 0)), ("linear", (0, 1), True, (0, 0)), ("linear", 1, True, (None, 0)),
    ("lower", -1, False, (0, 0)), ("higher", None, True, (None, 0)), ("nearest", 1, False, (0, 0)),
    ("midpoint", 0, False, (0, 0)), ("midpoint", -1, True, (None, 0))])
def test_per_example_q_under_jit(method, axis, keepdims, in_axes, loops, x64):
    # a staged q per example: one batched formula, op for op the one jit stages for one
    qs = onp.array([0.1, 0.5, 0.73, 1.0])
    xs = QUANTILE_DATA if in_axes[0] == 0 else QUANTILE_DATA[0]

    def f(x, q):
        return np.quantile(x, q, axis=axis, method=method, keepdims=keepdims)
    got = onp.asarray(s2s.jit(s2s.vmap(f, in_axes=in_axes))(xs, qs))
    assert loops == []
    one = s2s.jit(f)
    want = onp.stack([onp.asarray(one(xs[i] if in_axes[0] == 0 else xs, qs[i])) for i in range(4)])
    onp.testing.assert_array_equal(got, want)
    ref = onp.stack([onp.quantile(xs[i] if in_axes[0] == 0 else xs, qs[i], axis=axis, method=method,
                                  keepdims=keepdims) for i in range(4)])
    onp.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("padding", ["VALID", "SAME", ((1, 2),)], ids=["valid", "same", "explicit"])
@pytest.mark.parametrize("computation", [lax.max, lax.min, lax.add, lax.mul, "max"],
                         ids=["max", "min", "add", "mul", "max_by_name"])
def test_reduce_window_start_value_per_example(computation, padding, jitted, loops, x64):
    # holes are skipped: a window is its start value folded with its elements, an
    # all-padding window its start value alone
    starts = onp.array([0.0, 0.5, -1.0, 0.1])

    def f(x, init):
        return lax.reduce_window(x, init, computation, (2,), (1,), padding)
    for in_axes in [(0, 0), (None, 0)]:
        xs = MIXED if in_axes[0] == 0 else MIXED[0]
        g = s2s.vmap(f, in_axes=in_axes)
        got = (s2s.jit(g) if jitted else g)(xs, starts)
        assert loops == []
        assert_trees_close(got, loop_over_examples(f, [xs, starts], list(in_axes)), rtol=1e-14,
                           atol=1e-15)


@pytest.mark.parametrize("jacobian", [s2s.jacrev, s2s.jacfwd], ids=["jacrev", "jacfwd"])
@pytest.mark.parametrize("fn", [branch_if, branch_cond], ids=lambda f: f.__name__)
def test_one_example(fn, jacobian, x64):
    # one example: the basis vmap inside the examples' one merges into a batch whose
    # primal is one example repeated, passed unbatched; a lax.cond branch of only such
    # operands runs once and is broadcast (it raised "no batched array")
    got = s2s.vmap(jacobian(fn))(MIXED[:1])
    assert_trees_close(got, loop_over_examples(jacobian(fn), [MIXED[:1]], [0]), rtol=1e-10,
                       atol=1e-12)
