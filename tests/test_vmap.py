"""vmap: batched source checked against a Python loop over examples."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import lax
import seed_programs as sp
from cases import central_grad


def _loop(f, in_axes, *args):
    """Reference: ``f`` on each example (axes moved to the front), results stacked."""
    axes = in_axes if isinstance(in_axes, tuple) else (in_axes,) * len(args)
    n = next(onp.shape(a)[ax] for a, ax in zip(args, axes) if ax is not None)
    outs = []
    for i in range(n):
        ex = [a if ax is None else onp.take(a, i, axis=ax) for a, ax in zip(args, axes)]
        outs.append(f(*ex))
    return s2s.tree_util.tree_map(lambda *xs: onp.stack(xs), *outs)


def _close(a, b, tol=1e-5):
    la, ta = s2s.tree_util.tree_flatten(a)
    lb, tb = s2s.tree_util.tree_flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        assert onp.shape(x) == onp.shape(y)
        onp.testing.assert_allclose(onp.asarray(x, onp.float64), onp.asarray(y, onp.float64),
                                    rtol=tol, atol=tol)


RNG = onp.random.default_rng(0)


def _params(sizes):
    return [(RNG.normal(size=(m, n)).astype("f"), RNG.normal(size=n).astype("f"))
            for m, n in zip(sizes[:-1], sizes[1:])]


def test_predict_in_axes_none_0():
    params = _params([4, 5, 3])
    xs = RNG.normal(size=(7, 4)).astype("f")
    f = s2s.vmap(sp.predict, in_axes=(None, 0))
    _close(f(params, xs), _loop(sp.predict, (None, 0), params, xs))
    assert "def predict_batched(params, inputs)" in s2s.source(f)


def test_per_example_gradients():
    params = _params([4, 5, 3])
    xs = RNG.normal(size=(6, 4)).astype("f")
    ts = RNG.normal(size=(6, 3)).astype("f")
    g = s2s.grad(sp.logprob_fun)
    out = s2s.vmap(g, in_axes=(None, 0, 0))(params, xs, ts)
    _close(out, _loop(g, (None, 0, 0), params, xs, ts))


def test_logistic_loss_gradients_per_example():
    w = RNG.normal(size=3).astype("f")
    xs = RNG.normal(size=(5, 2, 3)).astype("f")
    ys = (RNG.random(size=(5, 2)) > 0.5).astype("f")
    g = s2s.grad(sp.loss)
    _close(s2s.vmap(g, in_axes=(None, 0, 0))(w, xs, ys), _loop(g, (None, 0, 0), w, xs, ys))


@pytest.mark.parametrize("axis", [0, 1, -1, -2])
def test_in_axes_positions(axis):
    x = RNG.normal(size=(3, 4)).astype("f")
    w = RNG.normal(size=(4 if axis in (0, -2) else 3,)).astype("f")

    def f(v, w):
        return np.sum(v * w) + np.tanh(v)

    _close(s2s.vmap(f, in_axes=(axis, None))(x, w), _loop(f, (axis, None), x, w))


@pytest.mark.parametrize("out_axes", [0, 1, -1])
def test_out_axes(out_axes):
    x = RNG.normal(size=(3, 4)).astype("f")

    def f(v):
        return np.outer(v, v)[:2]

    ref = onp.moveaxis(_loop(f, 0, x), 0, out_axes)
    _close(s2s.vmap(f, out_axes=out_axes)(x), ref)


def test_pytree_in_axes_and_out_axes():
    x = {"a": RNG.normal(size=(3, 2)).astype("f"), "b": RNG.normal(size=(2,)).astype("f")}

    def f(d, s):
        return (d["a"] * d["b"] + s, d["b"])

    out = s2s.vmap(f, in_axes=({"a": 0, "b": None}, None), out_axes=(0, None))(x, 2.0)
    _close(out[0], x["a"] * x["b"] + 2.0)
    _close(out[1], x["b"])


def test_keyword_arguments_are_mapped():
    x = RNG.normal(size=(4, 3)).astype("f")

    def f(x, scale=1.0):
        return x * scale

    s = RNG.normal(size=(4,)).astype("f")
    _close(s2s.vmap(f)(x, scale=s), x * s[:, None])


def test_decorator_and_nesting():
    @s2s.vmap
    def f(x):
        return np.dot(x, x)

    x = RNG.normal(size=(5, 3)).astype("f")
    _close(f(x), onp.einsum("ij,ij->i", x, x))
    xx = RNG.normal(size=(2, 5, 3)).astype("f")
    _close(s2s.vmap(f)(xx), onp.einsum("bij,bij->bi", xx, xx))

    @s2s.vmap(in_axes=(0, None))
    def g(x, y):
        return x + y

    _close(g(x, x[0]), x + x[0])


def test_axis_size_without_mapped_arguments():
    out = s2s.vmap(lambda x: x * 2.0, in_axes=None, axis_size=3)(onp.float32(1.5))
    _close(out, onp.full(3, 3.0, "f"))


def test_errors():
    def f(x, y):
        return x + y

    with pytest.raises(ValueError, match="inconsistent sizes for the mapped axis: argument 0 of f "
                       "has size 3 on axis 0, argument 1 has size 4"):
        s2s.vmap(f)(onp.ones(3), onp.ones(4))
    with pytest.raises(ValueError, match="in_axes"):
        s2s.vmap(f, in_axes=(0, 0, 0))(onp.ones(3), onp.ones(3))
    with pytest.raises(ValueError, match="rank 1"):
        s2s.vmap(f, in_axes=(1, None))(onp.ones(3), 1.0)
    with pytest.raises(ValueError, match="out_axes is None"):
        s2s.vmap(f, out_axes=None)(onp.ones(3), onp.ones(3))
    with pytest.raises(ValueError, match="tree prefix"):
        s2s.vmap(f, in_axes=((0, 0), None))(onp.ones(3), onp.ones(3))


# ---------------------------------------------------------------------------
# Control flow on batched values.


def abs_twice(x):
    if x > 0:
        y = x * 2.0
    else:
        y = -x
    return y


def piecewise(x):
    if x > 1.0:
        return x * x
    elif x > -1.0:
        return x
    return -x * 3.0


newton_sqrt = sp.newton_sqrt


def first_above(xs, t):
    i = 0
    for k in range(xs.shape[0]):
        if xs[k] > t:
            i = k
            break
    return i


def collatz_steps(n):
    steps = 0
    while n != 1:
        if n % 2 == 0:
            n = n // 2
        else:
            n = 3 * n + 1
        steps += 1
    return steps


def continue_sum(xs):
    total = 0.0
    for i in range(4):
        if xs[i] < 0:
            continue
        total = total + xs[i]
    return total


def conditional_expression(x):
    return x * 2.0 if x > 0 else x - 1.0


def setitem_batched(x, i, v):
    y = np.zeros(5)
    y[i] = v
    y[0] = x
    return y


@pytest.mark.parametrize("fn,arg", [
    (abs_twice, RNG.normal(size=6).astype("f")),
    (piecewise, onp.array([-3.0, -0.5, 0.2, 2.0, 5.0], "f")),
    (newton_sqrt, onp.linspace(1.0, 100.0, 9).astype("f")),
    (collatz_steps, onp.array([1, 6, 7, 27], "int32")),
    (conditional_expression, RNG.normal(size=5).astype("f")),
])
def test_batched_control_flow(fn, arg):
    _close(s2s.vmap(fn)(arg), _loop(fn, 0, arg))
    _close(s2s.jit(s2s.vmap(fn))(arg), _loop(fn, 0, arg))


def test_break_and_continue():
    xs = RNG.normal(size=(6, 4)).astype("f")
    _close(s2s.vmap(first_above, in_axes=(0, None))(xs, 0.5), _loop(first_above, (0, None), xs, 0.5))
    _close(s2s.vmap(continue_sum)(xs), _loop(continue_sum, 0, xs))


def test_index_assignment_batched():
    x = RNG.normal(size=4).astype("f")
    i = onp.array([1, 2, 4, 3], "int32")
    v = RNG.normal(size=4).astype("f")
    for axes in [(0, 0, 0), (None, 0, None), (0, None, 0), (None, None, 0)]:
        args = [a if ax is not None else a[0] for a, ax in zip((x, i, v), axes)]
        _close(s2s.vmap(setitem_batched, in_axes=axes)(*args),
               _loop(setitem_batched, axes, *args))


def test_one_branch_variable_is_an_error():
    def f(x):
        if x > 0:
            y = x
        return y

    with pytest.raises(s2s.errors.TransformError, match="'y' is assigned in only one branch"):
        s2s.vmap(f)(onp.ones(3))


@pytest.mark.parametrize("conv", ["int", "float", "bool"])
def test_concrete_conversion_is_an_error(conv):
    src = f"def f(x):\n    return {conv}(x) * 2\n"
    ns = {}
    exec(compile(src, "<vmap-test>", "exec"), ns)

    def f(x):
        return float(x) * 2

    with pytest.raises(s2s.errors.TransformError, match=r"float\(\)` of a value that varies"):
        s2s.vmap(f)(onp.ones(3))


def test_newton_source_is_a_masked_loop():
    f = s2s.vmap(newton_sqrt)
    f(onp.ones(3, "f"))
    text = s2s.source(f)
    assert "while np.any(cond):" in text and "select(active" in text


# ---------------------------------------------------------------------------
# Compositions.


def test_jit_of_vmap_and_vmap_of_jit():
    a = onp.linspace(1.0, 50.0, 7).astype("f")
    ref = _loop(newton_sqrt, 0, a)
    _close(s2s.jit(s2s.vmap(newton_sqrt))(a), ref)
    _close(s2s.vmap(s2s.jit(newton_sqrt))(a), ref)


def test_jit_of_vmap_of_grad():
    params = _params([4, 3, 2])
    xs = RNG.normal(size=(5, 4)).astype("f")
    ts = RNG.normal(size=(5, 2)).astype("f")
    g = s2s.grad(sp.logprob_fun)
    out = s2s.jit(s2s.vmap(g, in_axes=(None, 0, 0)))(params, xs, ts)
    _close(out, _loop(g, (None, 0, 0), params, xs, ts), tol=1e-4)


def test_vmap_of_vmap():
    x = RNG.normal(size=(3, 4, 2)).astype("f")

    def f(v):
        return np.sum(v * v) if True else v

    _close(s2s.vmap(s2s.vmap(abs_twice))(x[..., 0]), _loop(lambda r: _loop(abs_twice, 0, r), 0,
                                                           x[..., 0]))
    _close(s2s.vmap(s2s.vmap(f), in_axes=1)(x), onp.sum(x * x, -1).T)


def test_vmap_of_user_function_calls():
    def inner(a, b):
        if a > b:
            return a - b
        return b - a

    def outer(x, y):
        return inner(x, y) + inner(y, 0.0)

    x = RNG.normal(size=6).astype("f")
    y = RNG.normal(size=6).astype("f")
    _close(s2s.vmap(outer)(x, y), _loop(outer, 0, x, y))
    _close(s2s.vmap(outer, in_axes=(0, None))(x, y[0]), _loop(outer, (0, None), x, y[0]))


def test_vmap_linalg():
    a = RNG.normal(size=(4, 3, 3)).astype("f")
    spd = onp.einsum("bij,bkj->bik", a, a) + 3 * onp.eye(3, dtype="f")
    b = RNG.normal(size=(4, 3)).astype("f")
    _close(s2s.vmap(np.linalg.solve)(spd, b), _loop(onp.linalg.solve, 0, spd, b), tol=1e-4)
    _close(s2s.vmap(np.linalg.solve, in_axes=(None, 0))(spd[0], b),
           _loop(onp.linalg.solve, (None, 0), spd[0], b), tol=1e-4)
    _close(s2s.vmap(np.linalg.cholesky)(spd), onp.linalg.cholesky(spd), tol=1e-4)
    _close(s2s.vmap(np.linalg.inv)(spd), onp.linalg.inv(spd), tol=1e-3)


def test_vmap_lax_control_flow_and_random():
    def f(x):
        return lax.fori_loop(0, 3, lambda i, c: c * 2.0 + i, x)

    x = RNG.normal(size=4).astype("f")
    _close(s2s.vmap(f)(x), _loop(f, 0, x))
    from s2s import random
    keys = random.split(random.PRNGKey(0), 4)
    out = s2s.vmap(lambda k: random.normal(k, (3,)))(keys)
    _close(out, onp.stack([random.normal(k, (3,)) for k in keys]), tol=0)


def test_vmap_of_lax_control_flow():
    x = RNG.normal(size=5).astype("f")

    def f_cond(v):
        return lax.cond(v > 0, lambda a: a * 2.0, lambda a: a - 1.0, v)

    def f_switch(v, k):
        return lax.switch(k, [lambda a: a, lambda a: a * 3.0, lambda a: -a], v)

    def f_while(v):
        # Ends for every finite start (v * 2 + 1 never reaches 10 from v <= -1, and the
        # loop ran forever: CI hung on it when the random x drew such a value).
        return lax.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] + 1.5, c[1] + 1),
                              (v, 0))

    def f_scan(v, xs):
        return lax.scan(lambda c, a: (c + a, c * a), v, xs)

    def f_map(xs):
        return lax.map(lambda a: a * a + 1.0, xs)

    ks = onp.array([0, 1, 2, 5, -1], "int32")
    xs = RNG.normal(size=(5, 3)).astype("f")
    for fn, args, axes in [(f_cond, (x,), 0), (f_switch, (x, ks), 0), (f_while, (x,), 0),
                           (f_switch, (x, ks[1]), (0, None)), (f_scan, (x, xs), 0),
                           (f_scan, (x[0], xs), (None, 0)), (f_map, (xs,), 0)]:
        _close(s2s.vmap(fn, in_axes=axes)(*args), _loop(fn, axes, *args))
        _close(s2s.jit(s2s.vmap(fn, in_axes=axes))(*args), _loop(fn, axes, *args))


def test_axis_name_collectives():
    x = RNG.normal(size=(4, 3)).astype("f")

    def f(v):
        return (v / lax.psum(v, "i"), lax.pmean(v, "i"), lax.pmax(v, "i"), lax.pmin(v, "i"),
                lax.all_gather(v, "i"), lax.axis_index("i") * 1.0)

    for run in (s2s.vmap(f, axis_name="i"), s2s.jit(s2s.vmap(f, axis_name="i"))):
        out = run(x)
        _close(out[0], x / x.sum(0))
        _close(out[1], onp.broadcast_to(x.mean(0), x.shape))
        _close(out[2], onp.broadcast_to(x.max(0), x.shape))
        _close(out[3], onp.broadcast_to(x.min(0), x.shape))
        _close(out[4], onp.broadcast_to(x, (4,) + x.shape))
        _close(out[5], onp.arange(4.0))
    with pytest.raises(NameError, match="unbound axis name: 'j'"):
        s2s.vmap(lambda v: lax.psum(v, "j"), axis_name="i")(x)


def _twice_and_next(u, v):
    return u * 2.0, v + 1.0


def test_collective_of_a_value_repeated_over_the_batch_under_jit():
    # The first result of the call is the same for every example (a staged broadcast):
    # under jit a library function of such values runs once, but a collective must still
    # see all the examples.
    def f(v, w):
        a, b = _twice_and_next(w, v)
        return lax.psum(a, "i") + b, lax.axis_index("i") + a[0] * 0.0
    x = RNG.normal(size=(4, 3)).astype("f")
    w = RNG.normal(size=3).astype("f")
    for run in (s2s.vmap(f, in_axes=(0, None), axis_name="i"),
                s2s.jit(s2s.vmap(f, in_axes=(0, None), axis_name="i"))):
        total, index = run(x, w)
        _close(total, 4.0 * 2.0 * w + x + 1.0)
        _close(index, onp.arange(4.0))


def _assign_into_copy(a):
    y = a * 0.0
    for i in range(3):
        y[i] = a[i] * a[(i + 1) % 3]
    return np.sum(y)


def test_vmap_after_grad_of_the_same_function():
    # grad's pre-pass once rewrote the shared normal form in place, so a later vmap of
    # the same function called grad's setitem helper.
    a = onp.arange(6.0, dtype=onp.float32).reshape(2, 3) + 1
    s2s.grad(_assign_into_copy)(a[0])
    expected = onp.stack([_assign_into_copy(row) for row in a])
    onp.testing.assert_allclose(s2s.vmap(_assign_into_copy)(a), expected, rtol=1e-6)


def _sin_times(x):
    return np.sin(x) * x


def _sum_of_vmapped(x):
    return np.sum(s2s.vmap(_sin_times)(x) ** 2)


def test_grad_of_a_function_that_calls_vmap(x64):
    # grad once transformed VmapFunction.__call__'s own source (an error about s2s's
    # try/except); the vmap call is now traced on its arguments.
    x = onp.linspace(0.1, 1.0, 4)
    want = central_grad(lambda v: float(onp.sum((onp.sin(v) * v) ** 2)), x)
    _close(s2s.grad(_sum_of_vmapped)(x), want, tol=1e-6)


def test_jit_of_grad_of_a_function_that_calls_vmap(x64):
    x = onp.linspace(0.1, 1.0, 4)
    want = central_grad(lambda v: float(onp.sum((onp.sin(v) * v) ** 2)), x)
    _close(s2s.jit(s2s.grad(_sum_of_vmapped))(x), want, tol=1e-6)
    w = onp.arange(6.0).reshape(2, 3) / 10
    ones = onp.ones((4, 3))

    def loss(w):  # vmap(...) is a value here: its call is differentiated when it runs
        return np.sum(s2s.vmap(lambda w, v: np.tanh(w @ v), in_axes=(None, 0))(w, ones))
    want = central_grad(lambda m: float(onp.sum(onp.tanh(ones @ m.T))), w)
    _close(s2s.grad(loss)(w), want, tol=1e-6)


def _append_to_argument(x, ws):
    ws.append(x)
    return ws[-1] * ws[0]


def _append_twice(acc, x):
    acc.append(x * 2.0)


def _through_a_helper(acc, x):
    _append_twice(acc, x)


def _caller_reads_the_appended(x, w):
    acc = [w]
    _through_a_helper(acc, x)  # the callee appends a mapped value to the caller's list
    return acc[0] * acc[1] + len(acc)


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_mapped_value_appended_to_an_unmapped_list(jitted, x64):
    xs = RNG.normal(size=(3, 2))
    ws = [onp.array([10.0, 20.0]), onp.array([1.0, -1.0])]
    f = s2s.vmap(_append_to_argument, in_axes=(0, None))
    got = (s2s.jit(f) if jitted else f)(xs, ws)
    assert len(ws) == 2  # the caller's list is input data, as in JAX: not appended to
    _close(got, _loop(lambda x, w0, w1: _append_to_argument(x, [w0, w1]), (0, None, None),
                      xs, *ws), tol=1e-12)
    g = s2s.vmap(_caller_reads_the_appended, in_axes=(0, None))
    _close((s2s.jit(g) if jitted else g)(xs, ws[1]),
           _loop(_caller_reads_the_appended, (0, None), xs, ws[1]), tol=1e-12)


def _append_sin(x, ws):
    ws.append(np.sin(x))
    return np.sum(ws[-1] * ws[0])


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
def test_per_example_gradient_through_an_appended_list(jitted, x64):
    xs = RNG.normal(size=(3, 2))
    ws = [onp.array([10.0, 20.0]), onp.array([1.0, -1.0])]
    g = s2s.grad(_append_sin, argnums=(0, 1))
    f = s2s.vmap(g, in_axes=(0, None))
    got = (s2s.jit(f) if jitted else f)(xs, ws)
    _close(got, _loop(lambda x, w0, w1: g(x, [w0, w1]), (0, None, None), xs, *ws), tol=1e-12)


def test_append_to_a_list_of_a_caller_vmap_cannot_see_is_an_error():
    def f(x, w, helpers):
        acc = [w]
        helpers[0](acc, x)  # which function: known only when called
        return acc[-1]

    with pytest.raises(s2s.errors.TransformError, match="appends values that vary"):
        s2s.vmap(f, in_axes=(0, None, None))(onp.ones((3, 2)), onp.ones(2), [_append_twice])


def _reads_first(x, ws):
    return np.sum(np.sin(x) * ws[0])


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("in_axes", [(0, None), (0, 0)], ids=["ws_unmapped", "ws_mapped"])
def test_per_example_gradient_of_an_unread_entry_is_zeros(in_axes, jitted, x64):
    # grad gives zeros for ws[1] (not None): so does every example of vmap(grad)
    xs = RNG.normal(size=(3, 2))
    ws = [RNG.normal(size=2), RNG.normal(size=2)]
    if in_axes[1] == 0:
        ws = [RNG.normal(size=(3, 2)), RNG.normal(size=(3, 2))]
    g = s2s.grad(_reads_first, argnums=(0, 1))
    f = s2s.vmap(g, in_axes=in_axes)
    got = (s2s.jit(f) if jitted else f)(xs, ws)
    _close(got, _loop(lambda x, w0, w1: g(x, [w0, w1]), (0,) + (in_axes[1],) * 2, xs, *ws),
           tol=1e-12)
