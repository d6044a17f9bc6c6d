"""The reverse-mode API: ``grad``, ``value_and_grad``, ``vjp`` and ``source``.

Argument handling (argnums, has_aux, pytrees in and out, holomorphic, allow_int),
the ways a function reaches ``grad`` (decorators, bound methods, partials,
callable objects), error messages, and the generated source. Gradients are
checked against closed forms; ``test_grad_corpus`` covers constructs broadly.
"""
import collections
import functools
import operator
import os

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import tree_util
from cases import central_grad
from s2s.errors import S2SError, TransformError, UnsupportedSyntaxError


def _close(a, b, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol)


def f_xy(x, y):
    return snp.sum(x * x * y) + snp.sum(snp.sin(y))


X = np.array([0.5, -1.0, 2.0], np.float32)
Y = np.array([1.5, 0.25, -0.5], np.float32)


# ---------------------------------------------------------------------------
# argnums, has_aux, value_and_grad


def test_argnums_int():
    _close(s2s.grad(f_xy)(X, Y), 2 * X * Y)
    _close(s2s.grad(f_xy, argnums=1)(X, Y), X * X + np.cos(Y))


def test_argnums_tuple_in_the_given_order():
    gx, gy = s2s.grad(f_xy, argnums=(0, 1))(X, Y)
    _close(gx, 2 * X * Y)
    _close(gy, X * X + np.cos(Y))
    gy2, gx2 = s2s.grad(f_xy, argnums=(1, 0))(X, Y)
    _close(gx2, gx)
    _close(gy2, gy)


def test_argnums_negative():
    _close(s2s.grad(f_xy, argnums=-1)(X, Y), X * X + np.cos(Y))


def test_argnums_one_tuple():
    (gx,) = s2s.grad(f_xy, argnums=(0,))(X, Y)
    _close(gx, 2 * X * Y)


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        s2s.grad(f_xy, argnums=2)(X, Y)


def f_aux(x):
    y = snp.sum(x * x)
    return y, {"norm": y, "twice": 2.0 * x}


def test_has_aux():
    g, aux = s2s.grad(f_aux, has_aux=True)(X)
    _close(g, 2 * X)
    _close(aux["norm"], np.sum(X * X))
    _close(aux["twice"], 2 * X)


def test_value_and_grad():
    value, g = s2s.value_and_grad(f_xy)(X, Y)
    _close(value, np.sum(X * X * Y) + np.sum(np.sin(Y)))
    _close(g, 2 * X * Y)
    value, (gx, gy) = s2s.value_and_grad(f_xy, argnums=(0, 1))(X, Y)
    _close(gy, X * X + np.cos(Y))


def test_value_and_grad_has_aux():
    (value, aux), g = s2s.value_and_grad(f_aux, has_aux=True)(X)
    _close(value, np.sum(X * X))
    _close(aux["twice"], 2 * X)
    _close(g, 2 * X)


def test_input_dtypes_are_kept():
    assert s2s.grad(lambda x: x * x)(3.0).dtype == np.float32  # a Python float: weak f32
    assert s2s.grad(f_xy)(X, Y).dtype == np.float32
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    try:
        g = s2s.grad(f_xy)(X.astype(np.float64), Y.astype(np.float64))
        assert g.dtype == np.float64
    finally:
        s2s.config.update("enable_x64", old)


def test_gradient_of_unused_argument_is_zeros():
    g = s2s.grad(lambda x, y: snp.sum(y * 2.0), argnums=(0, 1))(X, Y)
    assert isinstance(g[0], np.ndarray) and g[0].shape == X.shape
    _close(g[0], np.zeros(3))
    _close(g[1], np.full(3, 2.0))


# ---------------------------------------------------------------------------
# vjp


def test_vjp_vector_output():
    out, f_vjp = s2s.vjp(lambda x: snp.sin(x) * x, X)
    _close(out, np.sin(X) * X)
    ct = np.array([1.0, 2.0, -1.0], np.float32)
    (g,) = f_vjp(ct)
    _close(g, ct * (np.cos(X) * X + np.sin(X)))


def test_vjp_several_primals():
    out, f_vjp = s2s.vjp(lambda x, y: x * y, X, Y)
    gx, gy = f_vjp(np.ones(3, np.float32))
    _close(gx, Y)
    _close(gy, X)


def test_vjp_has_aux():
    out, f_vjp, aux = s2s.vjp(lambda x: (x * 3.0, x + 1.0), X, has_aux=True)
    _close(aux, X + 1.0)
    (g,) = f_vjp(np.ones(3, np.float32))
    _close(g, np.full(3, 3.0))


def split(x):
    return {"a": x * 2.0, "b": (snp.sin(x), x * x)}


def test_vjp_pytree_output():
    out, f_vjp = s2s.vjp(split, X)
    _close(out["b"][1], X * X)
    ct = {"a": np.ones(3, np.float32), "b": (np.full(3, 2.0, np.float32), np.ones(3, np.float32))}
    (g,) = f_vjp(ct)
    _close(g, 2.0 + 2.0 * np.cos(X) + 2 * X)


def test_vjp_source():
    _, f_vjp = s2s.vjp(lambda x: snp.sin(x) * x, X)
    text = f_vjp.source()
    assert "def fwd_" in text and "def bwd_" in text


# ---------------------------------------------------------------------------
# Pytrees in


Params = collections.namedtuple("Params", ["w", "b"])


def loss_list(p):
    return snp.sum(p[0] * p[1]) + snp.sum(p[1])


def loss_dict(p):
    return snp.sum(snp.tanh(p["w"]) * p["b"]["scale"]) + p["c"] * p["c"]


def loss_namedtuple(p):
    return snp.sum(p.w * p.w) + snp.sum(p.b)


def loss_namedtuple_indexed(p):
    w, b = p
    return snp.sum(w * w) + snp.sum(p[1])


def loss_nested(layers, x):
    for w, b in layers:
        x = snp.tanh(x * w + b)
    return snp.sum(x)


def test_pytree_list_and_tuple():
    g = s2s.grad(loss_list)([X, Y])
    assert isinstance(g, list) and len(g) == 2
    _close(g[0], Y)
    _close(g[1], X + 1.0)
    g = s2s.grad(loss_list)((X, Y))
    assert isinstance(g, tuple)


def test_pytree_dict():
    p = {"w": X, "b": {"scale": Y}, "c": np.float32(1.5)}
    g = s2s.grad(loss_dict)(p)
    assert set(g) == {"w", "b", "c"} and set(g["b"]) == {"scale"}
    _close(g["w"], (1 - np.tanh(X) ** 2) * Y)
    _close(g["b"]["scale"], np.tanh(X))
    _close(g["c"], 3.0)


def test_pytree_namedtuple_unpacked_and_indexed():
    g = s2s.grad(loss_namedtuple_indexed)(Params(X, Y))
    assert isinstance(g, Params)
    _close(g.w, 2 * X)
    _close(g.b, np.ones(3))


def test_pytree_namedtuple_fields():
    g = s2s.grad(loss_namedtuple)(Params(X, Y))
    assert isinstance(g, Params)
    _close(g.w, 2 * X)
    _close(g.b, np.ones(3))


def test_pytree_nested_layers_against_differences():
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=3), rng.normal(size=3)) for _ in range(2)]
    x = rng.normal(size=3)
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    try:
        g = s2s.grad(loss_nested)(layers, x)
        assert isinstance(g, list) and isinstance(g[0], tuple)
        h = 1e-6
        for i in range(2):
            for j in range(2):
                for k in range(3):
                    up = [list(layer) for layer in layers]
                    down = [list(layer) for layer in layers]
                    up[i][j] = up[i][j].copy()
                    up[i][j][k] += h
                    down[i][j] = down[i][j].copy()
                    down[i][j][k] -= h
                    fd = (loss_nested(up, x) - loss_nested(down, x)) / (2 * h)
                    _close(g[i][j][k], fd, rtol=1e-5)
    finally:
        s2s.config.update("enable_x64", old)


# ---------------------------------------------------------------------------
# How functions reach grad


def test_decorators():
    @s2s.grad
    def d1(x):
        return x * x * x

    @s2s.grad(argnums=1)
    def d2(x, y):
        return x * y * y

    @functools.partial(s2s.value_and_grad, argnums=(0, 1))
    def d3(x, y):
        return x * y

    _close(d1(2.0), 12.0)
    _close(d2(2.0, 3.0), 12.0)
    value, (gx, gy) = d3(2.0, 5.0)
    _close(value, 10.0)
    _close((gx, gy), (5.0, 2.0))


class Model:
    def __init__(self, scale):
        self.scale = scale

    def loss(self, x):
        return snp.sum(snp.sin(x)) * self.scale

    def __call__(self, x):
        return snp.sum(x * x) * self.scale


def test_bound_method_and_callable_object():
    m = Model(3.0)
    _close(s2s.grad(m.loss)(X), 3.0 * np.cos(X))
    _close(s2s.grad(m)(X), 6.0 * X)


def test_partial():
    p = functools.partial(f_xy, X)
    _close(s2s.grad(p)(Y), X * X + np.cos(Y))


def uses_method(m, x):
    return m.loss(x) * 2.0


def test_calling_a_method_inside():
    """A method call inside a differentiated function is differentiated when it runs."""
    m = Model(3.0)
    _close(s2s.grad(uses_method, argnums=1)(m, X), 2.0 * 3.0 * np.cos(X))


# ---------------------------------------------------------------------------
# holomorphic, allow_int


def test_holomorphic():
    z = np.complex64(1.0 + 2.0j)
    _close(s2s.grad(lambda v: v * v, holomorphic=True)(z), 2 * z)
    _close(s2s.grad(lambda v: snp.exp(v) * v, holomorphic=True)(z), np.exp(z) * (1 + z))


def test_holomorphic_needs_complex_input():
    with pytest.raises(TypeError, match="holomorphic"):
        s2s.grad(lambda v: v * v, holomorphic=True)(1.5)


def test_complex_output_needs_holomorphic():
    with pytest.raises(TypeError, match="holomorphic"):
        s2s.grad(lambda v: v * v)(np.complex64(1.0 + 1.0j))


def test_allow_int_gives_float0_zeros():
    gx, gn = s2s.grad(lambda x, n: x * n, argnums=(0, 1), allow_int=True)(2.0, 3)
    _close(gx, 3.0)
    assert gn.dtype == s2s.api.float0 and gn.shape == ()
    g = s2s.grad(lambda k: snp.sum(k * 2.0), allow_int=True)(np.arange(3))
    assert g.dtype == s2s.api.float0 and g.shape == (3,)


def test_integer_input_mentions_allow_int():
    with pytest.raises(TypeError, match="allow_int=True"):
        s2s.grad(lambda x: x * 2.0)(3)


# ---------------------------------------------------------------------------
# Error messages


def test_non_scalar_output_suggests_jacrev_or_vjp():
    with pytest.raises(TypeError) as info:
        s2s.grad(lambda x: x * 2.0)(X)
    text = str(info.value)
    assert "scalar" in text and "(3,)" in text and "jacrev" in text and "vjp" in text


def test_integer_output_is_explained():
    with pytest.raises(TypeError, match="floating-point"):
        s2s.grad(lambda x: snp.sum(x) > 0)(X)


def with_try(x):
    try:
        y = x * 2.0
    except ValueError:
        y = x
    return y


def with_with(x):
    with open(os.devnull) as fh:  # noqa: F841
        y = x * 2.0
    return y


def with_yield(x):
    yield x * 2.0


G = 1.0


def with_global(x):
    global G
    G = x
    return x * 2.0


def with_class(x):
    class Local:
        pass
    return x * 2.0


@pytest.mark.parametrize("fn,construct,offset", [
    (with_try, "try", 1), (with_with, "with", 1), (with_yield, "yield", 1),
    (with_global, "global", 1), (with_class, "class", 1)])
def test_unsupported_syntax_names_file_line_and_remedy(fn, construct, offset):
    with pytest.raises(UnsupportedSyntaxError) as info:
        s2s.grad(fn)(1.0)
    text = str(info.value)
    line = fn.__code__.co_firstlineno + offset
    assert f"test_grad_api.py:{line}" in text, text
    assert construct in text and fn.__name__ in text
    assert "Instead:" in text


def no_rule(x):
    return operator.mul(x, x) * 2.0


def foreign_numpy(x):
    return np.i0(x) * 2.0


def test_call_without_rule_or_source_is_traced(caplog):
    # operator.mul has neither rule nor source; tracing the call works, and says so.
    s2s.config.update("log_transforms", True)
    try:
        with caplog.at_level("WARNING", logger="s2s"):
            _close(s2s.grad(no_rule)(1.5), 6.0)
    finally:
        s2s.config.update("log_transforms", False)
    assert "tracing each call" in caplog.text and "operator.mul" in caplog.text


def test_numpy_function_without_counterpart():
    with pytest.raises(TransformError) as info:
        s2s.grad(foreign_numpy)(1.0)
    text = str(info.value)
    assert "np.i0" in text and "s2s.numpy" in text


@pytest.fixture
def ruleless():
    """A primitive with an ``impl`` and a public wrapper but no ``vjp`` (removed afterwards
    from the registry, which the rule-coverage test reads)."""
    from s2s.core import primitive as core
    prim = core.Primitive("test_ruleless_double")
    prim.def_impl(lambda x: np.multiply(x, 2))

    def ruleless_double(x):
        return prim.bind(x)

    ruleless_double.primitive = prim
    try:
        yield ruleless_double
    finally:
        core._registry.pop(prim.name, None)


def test_primitive_without_rule_is_named(ruleless):
    def loss(m):
        return snp.sum(ruleless(m))

    with pytest.raises(TransformError) as info:
        s2s.grad(loss)(np.eye(2, dtype=np.float32))
    text = str(info.value)
    assert "test_grad_api.py" in text and "test_ruleless_double" in text and "def_vjp" in text


# ---------------------------------------------------------------------------
# Generated source


def tanh_seed(x):
    y = snp.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


def _helper(v):
    return v * snp.sin(v)


def calls_helper(x):
    return _helper(x) * 2.0


def test_source_is_readable():
    text = s2s.source(s2s.grad(tanh_seed))
    assert text.startswith("def grad_tanh_seed(x")
    assert "# grad of: return (1.0 - y) / (1.0 + y)" in text
    assert "# grad of: y = snp.exp(-2.0 * x)" in text
    assert "bx" in text and "by" in text
    compile(text, "<source>", "exec")  # valid Python
    assert s2s.source(s2s.grad(tanh_seed)) == text  # deterministic


def test_source_includes_called_functions():
    text = s2s.source(s2s.grad(calls_helper))
    assert "def grad_calls_helper" in text
    assert "def fwd__helper" in text and "def bwd__helper" in text


def test_verbose_prints_source_once(capsys):
    g = s2s.grad(tanh_seed, verbose=True)
    g(0.5)
    g(0.7)
    out = capsys.readouterr().out
    assert out.count("def grad_tanh_seed") == 1
    assert "# grad of:" in out


def test_generated_code_points_at_user_lines():
    """Errors in generated code name the user's file (tracebacks stay useful)."""
    def fails(x):
        return snp.log(x) * undefined_name  # noqa: F821

    with pytest.raises(Exception) as info:
        s2s.grad(fails)(1.0)
    assert "test_grad_api.py" in str(info.value) or any(
        "test_grad_api.py" in str(tb.path) for tb in info.traceback)


# ---------------------------------------------------------------------------
# Transformations called inside a differentiated function


def _sin_sq(x):
    return snp.sum(snp.sin(x) ** 2)


def _grad_inside(x):
    return snp.sum(s2s.grad(_sin_sq)(x) * snp.arange(3.0))


def _value_and_grad_inside(x, w):
    value, g = s2s.value_and_grad(_weighted, argnums=1)(x, w)
    return value * snp.sum(g)


def _weighted(x, w):
    return snp.sum(snp.tanh(x * w))


def test_grad_of_function_calling_grad(x64):
    x = np.array([0.1, 0.2, 0.3])
    expected = 2 * np.cos(2 * x) * np.arange(3.0)  # d/dx sum_i 2 sin x_i cos x_i * i
    np.testing.assert_allclose(s2s.grad(_grad_inside)(x), expected, rtol=1e-12)


def test_hessian_vector_product_through_lambda(x64):
    x = np.array([0.3, -0.7, 1.1])
    v = np.array([1.0, 2.0, -1.0])
    hvp = s2s.grad(lambda y: snp.vdot(s2s.grad(_sin_sq)(y), v))(x)
    np.testing.assert_allclose(hvp, 2 * np.cos(2 * x) * v, rtol=1e-12)


def test_grad_of_function_calling_value_and_grad(x64):
    x, w = np.array([0.5, -0.2]), np.array([1.5, 0.7])
    g = s2s.grad(_value_and_grad_inside)(x, w)
    eps = 1e-6
    numeric = [(_value_and_grad_inside(x + eps * e, w) - _value_and_grad_inside(x - eps * e, w))
               / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g, numeric, rtol=1e-6)


# ---------------------------------------------------------------------------
# Branches that reassign their own test: the reverse pass must take the branch the
# forward pass took (a regression: it used the test's value after the branch).


def _resets_flag(x, flag):
    if flag:
        flag = False
        x = x * snp.sin(x)
    return snp.sum(x * x)


def _nested_boolops(x, ord=None, axis=None):
    x = snp.asarray(x)
    nd = x.ndim
    two = ord is None or ord == 2
    if two and (axis is None or nd == 2):
        return snp.sum(snp.sin(x) * x)
    return snp.sum(x)


def test_branch_that_reassigns_its_test(x64):
    x = np.array([0.3, -0.8, 1.2])
    g = s2s.grad(_resets_flag)(x, True)
    y = x * np.sin(x)
    np.testing.assert_allclose(g, 2 * y * (np.sin(x) + x * np.cos(x)), rtol=1e-12)


def test_short_circuit_operands_that_are_false_after_true(x64):
    x = np.random.default_rng(0).uniform(size=(3, 4))
    g = s2s.grad(_nested_boolops)(x, None, 1)  # `axis is None` is False, `nd == 2` True
    np.testing.assert_allclose(g, np.cos(x) * x + np.sin(x), rtol=1e-12)
    G = s2s.grad(_nested_boolops)
    h = s2s.grad(lambda y: snp.sum(G(y, None, 1)))(x)  # its derivative's reverse pass too
    np.testing.assert_allclose(h, -np.sin(x) * x + 2 * np.cos(x), rtol=1e-12)


# ---------------------------------------------------------------------------
# Calls with *args into user functions


def _sum_sq(scale, *xs):
    total = 0.0
    for v in xs:
        total = total + scale * v * v
    return total


def _star_call(x):
    vals = [x, snp.sin(x)]
    return _sum_sq(2.0, *vals)


def _star_call_unsupported(x):
    vals = [x, x]
    return _sum_sq(*vals)  # *vals fills a named parameter too


def test_star_args_into_varargs(x64):
    x = 0.4
    np.testing.assert_allclose(s2s.grad(_star_call)(x), 4 * x + 4 * np.sin(x) * np.cos(x), rtol=1e-12)


def test_star_args_that_fill_named_parameters_are_traced(x64):
    x = 0.4
    np.testing.assert_allclose(s2s.grad(_star_call_unsupported)(x),
                               central_grad(_star_call_unsupported, np.float64(x)), rtol=1e-6)


# ---------------------------------------------------------------------------
# JAX-style functional updates x.at[idx].set/add/get


def _at_updates(x):
    y = x.at[0, 1].set(x[1, 0] * 3.0)
    z = y.at[1].add(2.0 * x[0])
    w = z.at[:, 0].get()
    return snp.sum(z * z) + snp.sum(w ** 3)


def _at_multiply(x):
    y = x.at[0].multiply(x[1] * 2.0)
    return snp.sum(y.at[1, 0].divide(x[0, 1] + 3.0) ** 2)


def _at_apply(x):
    return snp.sum(x.at[0].apply(snp.sin))


def test_at_updates_differentiate(x64):
    x = np.array([[0.3, -0.5], [0.8, 1.2]]).view(s2s.Array)
    g = s2s.grad(_at_updates)(x)
    numeric = central_grad(_at_updates, x)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(s2s.jit(s2s.grad(_at_updates))(x), g, rtol=1e-12)
    assert "at_update(x, (0, 1), 'set'" in s2s.source(s2s.grad(_at_updates))


def test_at_multiply_and_divide(x64):
    x = np.array([[0.3, -0.5], [0.8, 1.2]]).view(s2s.Array)
    g = s2s.grad(_at_multiply)(x)
    numeric = central_grad(_at_multiply, x)
    np.testing.assert_allclose(g, numeric, rtol=1e-6, atol=1e-8)


def test_at_update_without_rule_says_what_to_do():
    with pytest.raises(NotImplementedError, match=r"x.at\[...\].apply"):
        s2s.grad(_at_apply)(np.ones((2, 2), np.float32))


# ---------------------------------------------------------------------------
# List concatenation with `+` (its adjoint splits; it used to be summed like arrays)


def _list_concat(x):
    before = [x[0] * 2.0]
    after = [snp.sin(x[1])]
    items = before + [x[0] * x[1]] + after
    return items[0] * items[1] + items[2]


def _list_grown_in_loop(x):
    items = [x[0], x[1]]
    for _ in range(2):
        joined = items + [items[-1] * x[0]]
        items = joined
    return items[-1] + items[0]


@pytest.mark.parametrize("fn", [_list_concat, _list_grown_in_loop])
def test_list_concatenation(fn, x64):
    x = np.array([0.7, -0.4])
    g = s2s.grad(fn)(x)
    eps = 1e-6
    numeric = [(fn(x + eps * e) - fn(x - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g, numeric, rtol=1e-7)
    np.testing.assert_allclose(s2s.jit(s2s.grad(fn))(x), g, rtol=1e-12)


def _layer(o, w):
    return snp.tanh(o * w)


def _rebinds_through_call_in_loop(x):
    out = x
    for w in [0.5, 1.5, 2.0]:
        out = _layer(out, w)  # tapes and the old `out` come back in the right order
    return snp.sum(out)


def test_call_that_rebinds_its_argument_in_a_loop(x64):
    x = np.array([0.3, -1.1])
    g = s2s.grad(_rebinds_through_call_in_loop)(x)
    eps = 1e-6
    numeric = [(_rebinds_through_call_in_loop(x + eps * e) - _rebinds_through_call_in_loop(x - eps * e))
               / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(g, numeric, rtol=1e-7)


def _transposes_if(x, flag=True):
    y = x * 2.0
    if flag:
        y = y.T
    return snp.sum(y * y * snp.arange(4.0).reshape(2, 2))


def test_jit_of_grad_through_a_branch_that_rebinds():
    # The reverse branch restores `y` without the value being read afterwards; the
    # converted branch function must still receive `y`.
    x = np.array([[0.3, -0.5], [0.8, 1.2]], np.float32)
    g = s2s.grad(_transposes_if)
    np.testing.assert_allclose(s2s.jit(g, static_argnums=1)(x, True), g(x, True), rtol=1e-6)


# ---------------------------------------------------------------------------
# Calls of function values (parameters, container items): reverse mode at run time


def _apply(fn, x):
    return fn(x)


def _calls_parameter(x):
    return snp.sum(_apply(snp.sin, x) * _apply(lambda v: v * v, x))


_ACTIVATIONS = {"tanh": snp.tanh, "square": lambda v: v * v}


def _calls_from_dict_in_loop(x, names=("tanh", "square", "tanh")):
    for name in names:
        act = _ACTIVATIONS[name]
        x = act(x * 1.5)
    return snp.sum(x)


@pytest.mark.parametrize("fn", [_calls_parameter, _calls_from_dict_in_loop])
def test_calls_of_function_values(fn, x64):
    x = np.array([0.3, -0.7, 1.1])
    g = s2s.grad(fn)(x)
    np.testing.assert_allclose(g, central_grad(fn, x), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.jit(s2s.grad(fn))(x), g, rtol=1e-10)


def _tree_map_loss(params, scale):
    scaled = tree_util.tree_map(lambda p, s: p * s, params, scale)
    squares = tree_util.tree_map(lambda p: snp.sum(snp.sin(p) ** 2), scaled)
    return squares["w"] + squares["b"][0]


def test_tree_map_inside_grad(x64):
    params = {"w": np.array([0.3, -0.7]), "b": [np.array([1.1])]}
    scale = {"w": np.array([2.0, 3.0]), "b": [np.array([0.5])]}
    g, gs = s2s.grad(_tree_map_loss, argnums=(0, 1))(params, scale)
    w, b = params["w"] * scale["w"], params["b"][0] * scale["b"][0]
    np.testing.assert_allclose(g["w"], np.sin(2 * w) * scale["w"], rtol=1e-12)
    np.testing.assert_allclose(g["b"][0], np.sin(2 * b) * scale["b"][0], rtol=1e-12)
    np.testing.assert_allclose(gs["w"], np.sin(2 * w) * params["w"], rtol=1e-12)


def _tree_map_one_item(params):
    squares = tree_util.tree_map(lambda p: snp.sum(p * p), params)
    return squares["w"]  # the adjoint of `squares` holds only "w"


def test_tree_map_with_a_sparse_dict_adjoint(x64):
    params = {"w": np.array([0.3, -0.7]), "b": np.array([1.1])}
    g = s2s.grad(_tree_map_one_item)(params)
    np.testing.assert_allclose(g["w"], 2 * params["w"], rtol=1e-12)
    assert g["b"] is None or not np.any(g["b"])


def _early_exit(x):
    y = x
    for _ in range(10):
        y = y * 2.0
        if y > 3.0:
            return y * x
    return -y


def test_calls_of_a_function_with_an_early_return_in_a_loop():
    """The callee's backward function takes the seed as a parameter: the `bresult = None`
    init of a result assigned on several paths must not discard it (gave 0 silently)."""
    expected = s2s.grad(_early_exit)(0.75)
    assert float(expected) == 12.0
    assert float(s2s.grad(lambda x: _early_exit(x) * 1.0)(0.75)) == 12.0
    assert float(s2s.vjp(_early_exit, 0.75)[1](1.0)[0]) == 12.0
