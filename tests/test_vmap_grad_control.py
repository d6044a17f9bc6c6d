"""Per-example gradients (``vmap(grad(f))``) through data-dependent control flow.

Each function's examples take different branches and different trip counts; each
result must equal ``grad(f)`` run on that example alone (a Python loop) and central
differences in float64, eagerly and under ``jit``.
"""
import warnings

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from cases import central_grad


def elif_chain(x):
    if x > 1.0:
        y = x * x
    elif x > -1.0:
        y = 2.0 * x + np.sin(x)
    else:
        y = np.sin(x) * x
    return y * 3.0


def conditional_expression(x):
    return x * x if x > 0 else np.exp(x) * 3.0


def one_sided_log(x):
    # the examples that do not take the branch would give NaN there: masked, not leaked
    y = x
    if x > 0.5:
        y = np.log(x - 0.5) * x
    return y * y


def newton_sqrt(a):
    x = a
    while np.abs(x * x - a) > 1e-10 * a:
        x = 0.5 * (x + a / x)
    return x


def grow_until(x):
    y = x
    while y < 10.0:
        y = y * 1.5 + np.sin(y)
    return y * x


def break_in_for(x):
    y = x
    for i in range(12):
        y = y * 1.3 + 0.1 * np.cos(y)
        if y > 4.0:
            break
    return y


def continue_in_for(x):
    s = 0.0
    for i in range(6):
        if x * i > 2.0:
            continue
        s = s + np.sin(x * i) * x
    return s


def early_return(x):
    y = x
    for i in range(8):
        y = y * 1.7
        if y > 3.0:
            return y * np.sin(x)
    return -y


def while_in_branch(x):
    # a loop under a batched condition: examples that skip the branch must not keep it
    # running (for x < 0 it would never end)
    y = x
    if x > 0:
        while y < 20.0:
            y = y * 2.0 + np.tanh(y)
    else:
        y = y * y
    return y


def nested_branches_in_while(x):
    s = x
    k = 0
    while k < 3:
        if s > 1.0:
            s = s * 0.5
        elif s > 0.5:
            s = s * s + x
        else:
            s = s + x * 0.25
        k += 1
    return s


def _helper_loop(v):
    while v < 3.0:
        v = v * 1.5 + 0.01 * v * v
    return v


def calls_helper_loop(x):
    return _helper_loop(x) * x


def _branchy_helper(x):
    return x * 2 if x > 0 else np.sin(x)


def calls_branchy_helper(x):
    return np.sum(_branchy_helper(x) * x)


def _returns_early(x):
    if x > 0:
        return x * 2
    return np.sin(x)


def calls_early_return_helper(x):
    return np.sum(_returns_early(x) * x)


def _returns_in_loop(v):
    while v < 1.0:
        if v < 0:
            return v * 3.0  # examples leave the loop at different trips, some by return
        v = v * 2.0 + 0.1
    return v


def calls_return_in_loop(x):
    return _returns_in_loop(x) * x


CASES = [
    (elif_chain, [-2.5, -0.4, 0.3, 1.2, 2.0]),
    (conditional_expression, [-1.0, -0.1, 0.2, 1.5]),
    (one_sided_log, [-1.0, 0.2, 0.7, 3.0]),
    (newton_sqrt, [0.01, 2.0, 30.0, 900.0, 1e5]),
    (grow_until, [0.3, 1.0, 4.0, 9.0, 12.0]),
    (break_in_for, [0.05, 0.4, 1.0, 3.0, 5.0]),
    (continue_in_for, [0.3, 0.6, 1.1, 2.5]),
    (early_return, [0.01, 0.2, 0.9, 2.0, 4.0]),
    (while_in_branch, [-2.0, -0.5, 0.3, 5.0, 30.0]),
    (nested_branches_in_while, [0.1, 0.6, 0.9, 1.5, 3.0]),
    (calls_helper_loop, [0.2, 1.0, 2.9, 4.0]),
    (calls_branchy_helper, [-1.0, -0.2, 0.5, 2.0]),
    (calls_early_return_helper, [-1.0, -0.2, 0.5, 2.0]),
    (calls_return_in_loop, [-1.0, -0.3, 0.1, 0.4, 2.0]),
]


def _check(fn, xs, transform):
    xs = onp.asarray(xs, onp.float64)
    g = s2s.grad(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # masked lanes may compute log(-1)
        got = onp.asarray(transform(s2s.vmap(g))(xs))
    loop = onp.stack([onp.asarray(g(x)) for x in xs])
    onp.testing.assert_allclose(got, loop, rtol=1e-10, atol=1e-12)
    fd = onp.array([central_grad(lambda v: fn(float(v[0])), onp.array([x]))[0] for x in xs])
    onp.testing.assert_allclose(got, fd, rtol=1e-5, atol=1e-6)
    assert onp.all(onp.isfinite(got))


@pytest.mark.parametrize("fn,xs", CASES, ids=[f.__name__ for f, _ in CASES])
def test_per_example_gradient(fn, xs, x64):
    _check(fn, xs, lambda f: f)


@pytest.mark.parametrize("fn,xs", CASES, ids=[f.__name__ for f, _ in CASES])
def test_per_example_gradient_under_jit(fn, xs, x64):
    _check(fn, xs, s2s.jit)


def test_examples_taking_the_same_path():
    # every example takes the same branch and the same number of trips
    xs = onp.full(4, 0.7, onp.float32)
    got = s2s.vmap(s2s.grad(grow_until))(xs)
    onp.testing.assert_allclose(got, [s2s.grad(grow_until)(x) for x in xs], rtol=1e-6)


def test_reverse_loop_source_is_right_aligned():
    f = s2s.vmap(s2s.grad(grow_until))
    f(onp.array([0.5, 4.0]))
    text = s2s.source(f)
    # the reverse sweep runs max(trips) trips, each example on its own last ones
    assert "steps = max_example(trips)" in text
    assert "step >= steps - trips" in text
    assert "while np.any(" in text


def test_user_list_appended_under_a_batched_condition_is_an_error():
    def f(x):
        acc = []
        if x > 0:
            acc.append(x * x)
        acc.append(x)
        return sum(acc)

    with pytest.raises(s2s.errors.TransformError, match="list append under a condition"):
        s2s.vmap(s2s.grad(f))(onp.array([-1.0, 2.0]))


def test_user_variable_from_one_branch_is_still_an_error():
    def f(x):
        if x > 0:
            y = x * x
        return y

    with pytest.raises(s2s.errors.TransformError, match="'y' is assigned in only one branch"):
        s2s.vmap(s2s.grad(f))(onp.array([-1.0, 2.0]))


def test_one_branch_variable_read_under_the_same_condition():
    def f(x):
        c = x > 0
        if c:
            y = x * x
        z = x
        if c:
            z = y * 3.0
        return z

    xs = onp.array([-1.0, 0.5, 2.0])
    want = onp.stack([f(x) for x in xs])
    onp.testing.assert_allclose(s2s.vmap(f)(xs), want)
    onp.testing.assert_allclose(s2s.vmap(s2s.grad(f))(xs), [1.0, 3.0, 12.0])


def _pair_from_branches(x, y):
    if x > 0:
        return x * y, y
    return np.sin(x), 1.0  # y gets no gradient on these examples: None out of the branch


def _one_argument_per_branch(x, y):
    if x > 0:
        return x * 2.0
    return y * 3.0


def pair_from_branches(x, y):
    a, b = _pair_from_branches(x, y)
    return a * b


def one_argument_per_branch(x, y):
    return _one_argument_per_branch(x, y) * x


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("in_axes", [(0, 0), (0, None)], ids=["both", "x_only"])
@pytest.mark.parametrize("fn", [pair_from_branches, one_argument_per_branch])
def test_helper_branches_give_tuples_and_none_gradients(fn, in_axes, jitted, x64):
    xs, ys = onp.array([-1.0, -0.2, 0.5, 2.0]), onp.array([2.0, -1.5, 0.7, 3.0])
    y_arg = ys if in_axes[1] == 0 else ys[2]
    g = s2s.grad(fn, argnums=(0, 1))
    f = s2s.vmap(g, in_axes=in_axes)
    got = (s2s.jit(f) if jitted else f)(xs, y_arg)
    for k, x in enumerate(xs):
        y = ys[k] if in_axes[1] == 0 else ys[2]
        want = g(x, y)
        fd = central_grad(lambda v: fn(v[0], v[1]), onp.array([x, y]))
        for i in range(2):
            onp.testing.assert_allclose(got[i][k], want[i], rtol=1e-10, atol=1e-12)
            onp.testing.assert_allclose(got[i][k], fd[i], rtol=1e-6, atol=1e-7)


def _another_shape_in_one_branch(x, w):
    y = x
    if x > 0:
        y = w * x
    return np.sum(y)


@pytest.mark.parametrize("transform", [
    lambda f: s2s.vmap(f, in_axes=(0, None)),
    lambda f: s2s.vmap(s2s.grad(f), in_axes=(0, None)),
    lambda f: s2s.jit(s2s.vmap(f, in_axes=(0, None))),
    lambda f: s2s.jit(s2s.vmap(s2s.grad(f), in_axes=(0, None)))], ids=["vmap", "vmap_grad",
                                                                   "jit_vmap", "jit_vmap_grad"])
def test_value_of_another_shape_in_one_branch_is_an_error(transform):
    # broadcasting the scalar against the vector would give example 0 the other
    # examples' values (or a shape it never had): a clear error at the user's line,
    # also from code generated from generated code (the gradient's, the converted one's)
    # (jit of vmap of grad batches the gradient of the converted function: lax.cond's error)
    with pytest.raises(Exception, match="different shape on examples|true_fun and false_fun "
                       "must return the same structure, shapes") as e:
        transform(_another_shape_in_one_branch)(onp.array([-1.0, 0.5, 2.0]), onp.ones(3))
    text = str(e.value) + "".join(getattr(e.value, "__notes__", []))
    assert "test_vmap_grad_control.py:" in text and "if x > 0" in text


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_helper_returning_inside_a_loop_values(jitted, x64):
    # the early return's result starts unset, not None: examples return at different trips
    xs = onp.array([-1.0, -0.3, 0.1, 0.4, 2.0])
    f = s2s.vmap(calls_return_in_loop)
    got = (s2s.jit(f) if jitted else f)(xs)
    onp.testing.assert_allclose(got, [calls_return_in_loop(x) for x in xs], rtol=1e-10)


def sqrt_or_zero(x):
    return np.sqrt(x) if x > 0 else 0.0


def calls_sqrt_or_zero(x):
    return sqrt_or_zero(x) * x + sqrt_or_zero(x - 1.0)


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("fn", [sqrt_or_zero, calls_sqrt_or_zero])
def test_untaken_branch_cannot_leak_nan_into_the_gradient(fn, jitted, x64):
    # at 0 and -1 the then branch's derivative is inf / NaN: the examples that do not
    # take it get zero from it (a where-gradient would give 0 * inf = NaN, as in JAX)
    xs = onp.array([0.0, -1.0, 2.0, 0.5, 1.0])
    g = s2s.grad(fn)
    f = s2s.vmap(g)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # sqrt(-1) on the masked examples
        got = onp.asarray((s2s.jit(f) if jitted else f)(xs))
    assert onp.all(onp.isfinite(got))
    onp.testing.assert_allclose(got, [g(x) for x in xs], rtol=1e-10, atol=1e-12)
