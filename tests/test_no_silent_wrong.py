"""No silent wrong answers (issue 16, front end): each case here once gave a
plausible wrong result, leaked memory, or failed where tracing the call would
have worked. Results are checked against closed forms or central differences.
"""
import collections
import functools
import gc
import linecache
import sys
import textwrap
import types
import warnings
import weakref

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s.errors import ConcretizationError, S2SError


def _close(a, b, rtol=1e-6):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=rtol)


# ---------------------------------------------------------------------------
# Functions are told apart by their code object and their own generated source.


def test_two_lambdas_on_one_line_keep_their_own_code():
    losses = {"sq": lambda w: w * w, "cube": lambda w: w * w * w}
    g_sq, g_cube = s2s.grad(losses["sq"]), s2s.grad(losses["cube"])
    _close(g_sq(2.0), 4.0)
    _close(g_cube(2.0), 12.0)
    # Transforming the generated functions again reads each one's own source.
    _close(s2s.grad(g_sq)(2.0), 2.0)
    _close(s2s.grad(g_cube)(2.0), 12.0)
    _close(s2s.jit(g_sq)(2.0), 4.0)
    _close(s2s.jit(g_cube)(2.0), 12.0)


def test_generated_names_are_unique_per_text():
    losses = [lambda w: w * 2.0, lambda w: w * w]
    g0, g1 = s2s.grad(losses[0]), s2s.grad(losses[1])
    g0(1.0), g1(1.0)
    file0, file1 = (g._build().gen.__code__.co_filename for g in (g0, g1))
    assert file0 != file1
    for g, file in ((g0, file0), (g1, file1)):
        assert textwrap.indent(s2s.source(g), "    ") in "".join(linecache.getlines(file))
    # The form other transformations read (zeros for unused leaves) has a text of its own.
    unwrapped = {g.__s2s_unwrap__()[0].__code__.co_filename for g in (g0, g1)}
    assert len(unwrapped) == 2 and not unwrapped & {file0, file1}


def _renamed(x):
    return x * x * x


_renamed.__name__ = "<lambda>"
_identity = lambda x: x  # noqa: E731  (a lambda the source search must not take for _renamed)


def test_a_def_renamed_to_lambda_is_still_differentiated():
    _close(s2s.grad(_renamed)(2.0), 12.0)
    _close(s2s.jit(s2s.grad(_renamed))(2.0), 12.0)


# ---------------------------------------------------------------------------
# Caches do not outlive the function; generated source does not pile up.


def _closure_over(n):
    big = np.ones(n, np.float32)

    def f(x):
        return snp.sum(x * big)
    return f


def test_transformed_functions_are_collected():
    x = np.ones(1000, np.float32)
    refs = []
    for _ in range(4):
        f = _closure_over(1000)
        s2s.grad(f)(x)
        s2s.value_and_grad(f)(x)
        s2s.vjp(f, x)[1](np.float32(1.0))
        s2s.jit(f)(x)
        s2s.jit(s2s.grad(f))(x)
        refs.append(weakref.ref(f))
        big = f.__closure__[0].cell_contents
        refs.append(weakref.ref(big))
        del f, big
    s2s.jit(lambda y: y + 1.0)(x)  # the runtime holds the last call's arguments
    gc.collect()
    assert [r for r in refs if r() is not None] == []


def test_eager_grad_without_source_keeps_linecache_bounded():
    namespace = {}
    exec("def f(x):\n    return x * x * x\n", namespace)
    g = s2s.grad(namespace["f"])
    _close(g(2.0), 12.0)
    gc.collect()
    before = len(linecache.cache)
    for _ in range(30):
        g(2.0)
    gc.collect()
    assert len(linecache.cache) <= before


# ---------------------------------------------------------------------------
# Gives up where tracing would not: each of these is differentiated (by its
# source where s2s understands it, else by tracing the call, which is logged).

def _fp(a, b):
    return a * a * b


def _wrap(fun):
    def wrapper(*args, **kwargs):
        return fun(*args, **kwargs)
    return wrapper


@_wrap
def _wrapped_sq(x):
    return x * x * x


def _ode_step(f, y, *args):
    k = f(y, *args)
    return y + k * k


class _Model:
    def __init__(self, w):
        self.w = w

    def __call__(self, x):
        return snp.sin(x * self.w)


_model = _Model(1.5)
_Pair = collections.namedtuple("_Pair", "a b")

_GIVES_UP = {
    "partial_with_keyword": (functools.partial(_fp, b=2.0), lambda x: 4.0 * x),
    "decorator_wrapper": (_wrapped_sq, lambda x: 3.0 * x * x),
    "called_through_wrapper": (lambda x: _wrapped_sq(x) + x, lambda x: 3.0 * x * x + 1.0),
    "function_value_with_star_args": (lambda y: _ode_step(lambda y, a: y * a, y, 2.0),
                                      lambda y: 1.0 + 8.0 * y),
    "call_method_object": (lambda x: _model(x) * x,
                           lambda x: 1.5 * np.cos(1.5 * x) * x + np.sin(1.5 * x)),
    "namedtuple_constructor": (lambda x: _Pair(x, x * x).b * x, lambda x: 3.0 * x * x),
    "builtin_min": (lambda x: min(x, x * x), lambda x: 2.0 * x if x < 1 else 1.0),
    "builtin_max": (lambda x: max(x * x, 2.0 * x), lambda x: 2.0 * x if x > 2 else 2.0),
}


@pytest.mark.parametrize("name", sorted(_GIVES_UP))
def test_gives_up_where_tracing_would_not(name):
    f, df = _GIVES_UP[name]
    for x in (0.5, 3.0):
        _close(s2s.grad(f)(x), df(x), rtol=1e-5)
        value, g = s2s.value_and_grad(f)(x)
        _close(g, df(x), rtol=1e-5)
        _close(value, f(x), rtol=1e-5)


def test_star_parameters_with_argnums():
    g0, g1 = s2s.grad(lambda *xs: xs[0] * xs[1] * xs[1], argnums=(0, 1))(2.0, 3.0)
    _close([g0, g1], [9.0, 12.0])


def test_fallback_to_tracing_is_logged(caplog):
    s2s.config.update("log_transforms", True)
    try:
        with caplog.at_level("WARNING", logger="s2s"):
            namespace = {}
            exec("def no_source(a, b):\n    return a * b\n", namespace)
            s2s.grad(namespace["no_source"])(1.0, 2.0)
            s2s.grad(_fp)(1.0, 2.0)
            # a partial with keywords is a copy of _fp with those defaults: its source
            s2s.grad(functools.partial(_fp, b=2.0))(1.0)
    finally:
        s2s.config.update("log_transforms", False)
    assert "grad(no_source): tracing each call" in caplog.text
    assert "grad(_fp): differentiating its source" in caplog.text
    assert "tracing each call" not in caplog.text.split("grad(_fp)", 1)[1]


def test_tracing_refuses_to_turn_a_differentiated_value_into_a_constant():
    # float() of a recorded value would silently give a zero derivative.
    namespace = {}
    exec("def f(x):\n    return float(x) * x\n", namespace)
    with pytest.raises(ConcretizationError, match="float"):
        s2s.grad(namespace["f"])(2.0)


def test_source_of_jit_of_grad_of_exec_defined_function():
    namespace = {}
    exec("def f(x):\n    return x * x\n", namespace)
    jg = s2s.jit(s2s.grad(namespace["f"]))
    _close(jg(3.0), 6.0)
    assert "traced" in s2s.source(jg)
    assert "no source" in s2s.source(s2s.jit(namespace["f"]))


# ---------------------------------------------------------------------------
# Unclear errors made clear.


def test_grad_of_a_non_callable():
    for make in (s2s.grad, s2s.value_and_grad):
        with pytest.raises(TypeError, match="expects a callable.*str 'ab'"):
            make("ab")
    with pytest.raises(TypeError, match="expects a callable"):
        s2s.vjp("ab", 1.0)


def test_grad_of_a_function_returning_none():
    def no_return(x):
        x * 2.0

    with pytest.raises(S2SError, match="returned None"):
        s2s.grad(no_return)(1.0)


def test_dict_with_mixed_key_types():
    with pytest.raises(TypeError, match="keys mix the types int, str"):
        s2s.grad(lambda d: d[1] * d["a"])({1: 2.0, "a": 3.0})


def _walrus(x):
    if (y := x * 2.0) > 0:
        return y
    return x


def test_walrus_in_a_staged_if_names_the_walrus():
    with pytest.raises(ConcretizationError, match=r"(?s)assignment expression \(:=\).*"
                                                  r"assign on a separate line.*without converting"):
        s2s.jit(_walrus)(1.0)


# ---------------------------------------------------------------------------
# Eager grad calls what the user's code calls now.


def _square(x):
    return x * x


def _cube(x):
    return x * x * x


def _calls_helper(x):
    return _helper(x) + x


_helper = _square
_module = types.ModuleType("_s2s_test_module")
_module.h = _square


def _calls_module_function(x):
    return _module.h(x) * 2.0


def test_redefined_helper_is_called_after_redefinition():
    global _helper
    g, vg = s2s.grad(_calls_helper), s2s.value_and_grad(_calls_helper)
    try:
        _close(g(3.0), 7.0)
        _close(vg(3.0)[1], 7.0)
        _close(s2s.vjp(_calls_helper, 3.0)[1](np.float32(1.0))[0], 7.0)
        _helper = _cube
        _close(g(3.0), 28.0)
        _close(vg(3.0), (30.0, 28.0))
        _close(s2s.vjp(_calls_helper, 3.0)[1](np.float32(1.0))[0], 28.0)
    finally:
        _helper = _square


def test_monkeypatched_module_function_is_called():
    g = s2s.grad(_calls_module_function)
    try:
        _close(g(3.0), 12.0)
        _module.h = _cube
        _close(g(3.0), 54.0)
        _close(s2s.vjp(_calls_module_function, 3.0)[1](np.float32(1.0))[0], 54.0)
    finally:
        _module.h = _square


def test_forward_mode_calls_a_redefined_helper():
    # jvp/jacfwd/hessian build forward-mode source once per function; a helper
    # redefined after (a notebook cell run again) used to keep its old derivative.
    global _helper
    x, t = np.float64(3.0), np.float64(1.0)
    sum_of = lambda v: snp.sum(_calls_helper(v))  # noqa: E731
    try:
        _close(s2s.jvp(_calls_helper, (x,), (t,))[1], 7.0)
        _close(s2s.jacfwd(_calls_helper)(x), 7.0)
        _close(s2s.hessian(_calls_helper)(x), 2.0)
        _close(s2s.vmap(s2s.grad(sum_of))(np.array([3.0])), [7.0])
        _helper = _cube
        _close(s2s.jvp(_calls_helper, (x,), (t,))[1], 28.0)
        _close(s2s.jacfwd(_calls_helper)(x), 28.0)
        _close(s2s.jacrev(_calls_helper)(x), 28.0)
        _close(s2s.hessian(_calls_helper)(x), 18.0)
        _close(s2s.vmap(s2s.grad(sum_of))(np.array([3.0])), [28.0])
    finally:
        _helper = _square


def _scaled(x, k=2.0, *, m=1.0):
    return snp.sum(x * k) + m


def test_rebound_defaults_are_used_by_every_transformation():
    # Generated functions copy the user's defaults when they are built; rebinding
    # ``f.__defaults__`` / ``__kwdefaults__`` afterwards must build again.
    x = np.ones(3)
    transforms = {
        "grad": s2s.grad(_scaled), "jit": s2s.jit(_scaled), "jit_grad": s2s.jit(s2s.grad(_scaled)),
        "jacrev": s2s.jacrev(_scaled), "jacfwd": s2s.jacfwd(_scaled),
        "jvp": lambda v: s2s.jvp(_scaled, (v,), (np.ones(3),))[1],
        "vmap": s2s.vmap(_scaled), "vmap_grad": s2s.vmap(s2s.grad(_scaled)),
        "jit_vmap": s2s.jit(s2s.vmap(_scaled)),
    }
    batch = np.ones((2, 3))

    def expected(k, m):
        return {"grad": [k] * 3, "jit": 3 * k + m, "jit_grad": [k] * 3, "jacrev": [k] * 3,
                "jacfwd": [k] * 3, "jvp": 3 * k, "vmap": [3 * k + m] * 2,
                "vmap_grad": [[k] * 3] * 2, "jit_vmap": [3 * k + m] * 2}

    def check(k, m):
        for name, fn in transforms.items():
            arg = batch if name.endswith("vmap") or name.startswith("vmap") else x
            np.testing.assert_allclose(np.asarray(fn(arg)), expected(k, m)[name], err_msg=name)

    saved = (_scaled.__defaults__, _scaled.__kwdefaults__)
    try:
        check(2.0, 1.0)
        _scaled.__defaults__ = (5.0,)
        check(5.0, 1.0)
        _scaled.__kwdefaults__ = {"m": 3.0}
        check(5.0, 3.0)
    finally:
        _scaled.__defaults__, _scaled.__kwdefaults__ = saved


# ---------------------------------------------------------------------------
# Every read in the user's function happens once; the source read is the code run.


class _Counter:
    def __init__(self):
        self.reads = 0

    @property
    def scale(self):
        self.reads += 1
        return float(self.reads)


_counter = _Counter()


def _times_scale(x):
    return x * _counter.scale


def test_a_property_is_read_once():
    _counter.reads = 0
    value, g = s2s.value_and_grad(_times_scale)(2.0)
    assert _counter.reads == 1
    _close((value, g), (2.0, 1.0))


def test_source_edited_after_import_is_not_used(tmp_path, monkeypatch):
    path = tmp_path / "_s2s_edited_module.py"
    path.write_text("def f(x):\n    return x * x\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    module = importlib.import_module("_s2s_edited_module")
    try:
        path.write_text("def f(x):\n    return x * x * x\n")  # Python still runs x * x
        linecache.checkcache(str(path))
        _close(s2s.grad(module.f)(3.0), 6.0)
        _close(s2s.value_and_grad(module.f)(3.0), (9.0, 6.0))
        _close(s2s.jit(s2s.grad(module.f))(3.0), 6.0)
        _close(s2s.jit(module.f)(3.0), 9.0)
    finally:
        sys.modules.pop("_s2s_edited_module", None)


# ---------------------------------------------------------------------------
# jit reads what a function captures at each call (README, "Behaviour worth
# knowing"): arrays are passed in, Python scalars are compiled in and a
# rebinding recompiles.

_X3 = np.ones(3, np.float32)
_W_init = np.ones(3, np.float32)
_W = _W_init
_S = np.array(2.0, np.float32)
_D = {"w": np.ones(3, np.float32)}
_L = [np.array(2.0, np.float32)]
_holder = types.SimpleNamespace(w=np.ones(3, np.float32))
_mod = types.ModuleType("_s2s_capture_module")
_mod.W = np.ones(3, np.float32)
_A = np.ones(3, np.float32)
_N = 3.0


def test_jit_reads_a_rebound_global_not_an_alias_of_its_old_value():
    global _W
    f = s2s.jit(lambda x: x * _W)
    _close(f(_X3), 1.0)
    _W = _W - 1.0  # _W_init still holds the old array
    _close(f(_X3), 0.0)


def test_jit_reads_0d_globals_rebound_or_mutated():
    global _S
    f = s2s.jit(lambda x: x * _S)
    _close(f(_X3), 2.0)
    _S = np.array(3.0, np.float32)
    _close(f(_X3), 3.0)
    _S[...] = 4.0
    _close(f(_X3), 4.0)


def test_jit_reads_arrays_inside_containers_objects_and_modules():
    fd, fl = s2s.jit(lambda x: x * _D["w"]), s2s.jit(lambda x: x * _L[0])
    fo, fm = s2s.jit(lambda x: x * _holder.w), s2s.jit(lambda x: x * _mod.W)
    for f in (fd, fo, fm):
        _close(f(_X3), 1.0)
    _close(fl(_X3), 2.0)
    _D["w"] = _D["w"] * 5.0
    _L[0] = np.array(6.0, np.float32)
    _holder.w = _holder.w * 8.0
    _mod.W = _mod.W * 9.0
    _close([fd(_X3), fl(_X3), fo(_X3), fm(_X3)], [[5.0] * 3, [6.0] * 3, [8.0] * 3, [9.0] * 3])
    _D["w"][:] = 7.0  # in place
    _close(fd(_X3), 7.0)


def test_jit_follows_a_global_from_array_to_float_and_back():
    global _A, _N
    f, g = s2s.jit(lambda x: x * _A), s2s.jit(lambda x: x * _N)
    _close(f(_X3), 1.0)
    _A = 2.0
    _close(f(_X3), 2.0)
    _A = np.full(3, 4.0, np.float32)
    _close(f(_X3), 4.0)
    _close(g(_X3), 3.0)
    _N = 5.0
    _close(g(_X3), 5.0)


_C = np.full(3, 2.0, np.float32)
_CA = snp.full(3, 2.0)  # an s2s.Array


def test_jit_reads_captured_arrays_that_no_argument_touches():
    # Computed from captured arrays alone, these were compiled in as constants.
    global _C, _CA
    fs = {"sum": (lambda x: x + snp.sum(_C), lambda c, ca: 1.0 + c.sum()),
          "array_operator": (lambda x: x + _CA * 2.0, lambda c, ca: 1.0 + ca * 2.0),
          "grad": (s2s.grad(lambda x: snp.sum(x * _C)), lambda c, ca: c),
          "grad_square": (s2s.grad(lambda x: snp.sum(x * x * _C)), lambda c, ca: 2.0 * c),
          "value_and_grad": (lambda x: s2s.value_and_grad(lambda y: snp.sum(y * _C))(x)[1],
                             lambda c, ca: c)}
    jitted = {name: s2s.jit(f) for name, (f, _) in fs.items()}
    x = np.ones(3, np.float32)
    try:
        for step in range(3):
            for name, (_, want) in fs.items():
                _close(jitted[name](x), np.broadcast_to(want(_C, _CA), (3,)))
            if step == 0:
                _C[:] = 5.0  # in place
                _CA = _CA + 1.0
            else:
                _C = _C * 3.0  # rebound
    finally:
        _C, _CA = np.full(3, 2.0, np.float32), snp.full(3, 2.0)


_WT = np.linspace(-1.0, 1.0, 120, dtype=np.float32).reshape(30, 4)


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "hessian", "vmap"])
def test_jit_of_a_transformed_function_reads_what_the_function_captures(transform):
    # jit(jacfwd(f)) read only the closure of jacfwd's wrapper, not f's: f's arrays
    # (and products of them with the basis) were compiled in and went stale.
    global _WT
    scale = np.ones(4, np.float32)
    T = getattr(s2s, transform)
    f = T(lambda x: snp.sum(snp.tanh(_WT @ (x * scale))) if transform == "hessian"
          else snp.tanh(_WT @ (x * scale)))
    jf = s2s.jit(f)
    x = np.linspace(-0.5, 0.5, 4 * (5 if transform == "vmap" else 1), dtype=np.float32)
    x = x.reshape(5, 4) if transform == "vmap" else x
    try:
        for step in range(3):
            np.testing.assert_allclose(jf(x), f(x), rtol=1e-4, atol=1e-6)
            if step == 0:
                _WT[:] *= 2.0  # in place
                scale[:] = 0.5
            else:
                _WT = _WT * 1.5  # rebound
    finally:
        _WT = np.linspace(-1.0, 1.0, 120, dtype=np.float32).reshape(30, 4)


def test_jit_of_grad_reads_a_mutated_closure():
    c = np.ones(3, np.float32)
    g = s2s.jit(s2s.grad(lambda x: snp.sum(x * c)))
    _close(g(np.ones(3, np.float32)), 1.0)
    c[:] = 5.0
    _close(g(np.ones(3, np.float32)), 5.0)


def test_builtin_min_max_under_jit():
    f = s2s.jit(lambda x: max(x, x * x))
    g = s2s.jit(lambda x: min(x, x * x, 2.0))
    for x in (0.5, 3.0):
        _close(f(x), max(x, x * x))
        _close(g(x), min(x, x * x, 2.0))
    _close(s2s.jit(lambda x: max([x, 1.0]))(0.5), 1.0)
    with pytest.raises(ValueError, match="ambiguous"):
        s2s.jit(lambda x: max(x, x))(np.ones(3, np.float32))


def _cube_with_dict_aux(y):
    return y * y * y, {"y": y}


_BY_NAME = {"cube": lambda y: y * y * y}


def test_second_order_through_has_aux_dict_and_a_dict_lookup():
    def via_aux(x):
        return s2s.grad(_cube_with_dict_aux, has_aux=True)(x)[0]

    def via_dict(x):
        return s2s.grad(_BY_NAME["cube"])(x)

    for f in (via_aux, via_dict):
        _close(s2s.grad(f)(2.0), 12.0)


def test_jit_of_grad_logs_the_path_it_took(caplog):
    s2s.config.update("log_transforms", True)
    try:
        with caplog.at_level("WARNING", logger="s2s"):
            _close(s2s.jit(s2s.grad(_cube))(2.0), 12.0)
    finally:
        s2s.config.update("log_transforms", False)
    assert "grad(_cube): differentiating its source" in caplog.text


_MINMAX = {  # f and its derivative, in closed form
    "max": (lambda x: max(x, x * x), lambda x: 2.0 * x if x > 1 else 1.0),
    "min3": (lambda x: min(x, x * x, 2.0) * x,
             lambda x: 3.0 * x * x if x < 1 else (2.0 * x if x < 2 else 2.0)),
    "list": (lambda x: max([x, 1.0]) + min(x * 3.0, 1.0),
             lambda x: (1.0 if x > 1 else 0.0) + (3.0 if x < 1 / 3 else 0.0)),
}


@pytest.mark.parametrize("name", sorted(_MINMAX))
def test_builtin_min_max_under_jit_of_grad(name):
    f, df = _MINMAX[name]
    for x in (0.25, 0.5, 1.5, 3.0):
        _close(s2s.jit(s2s.grad(f))(x), df(x))
        _close(s2s.grad(s2s.jit(f))(x), df(x))


def _g_minmax(x):
    return min(x, x * x, 2.0) * x


def test_transforming_a_traced_gradient_transforms_the_gradient():
    # grad(_g_minmax) traces each call (builtin min); transforming it again once
    # transformed _g_minmax itself, silently giving its value, not its gradient.
    gg = s2s.grad(_g_minmax)
    xs = np.array([0.5, 1.5, 3.0], np.float32)
    d1 = np.array([0.75, 3.0, 2.0], np.float32)   # closed forms
    d2 = np.array([3.0, 2.0, 0.0], np.float32)
    _close(s2s.vmap(gg)(xs), d1)
    _close(s2s.vmap(s2s.jit(gg))(xs), d1)
    for x, want1, want2 in zip(xs, d1, d2):
        x = float(x)
        _close(s2s.grad(gg)(x), want2)
        _close(s2s.jvp(gg, (x,), (1.0,))[1], want2)
        _close(s2s.vjp(gg, x)[1](np.float32(1.0))[0], want2)
        _close(s2s.hessian(_g_minmax)(x), want2)
        _close(s2s.grad(lambda y: gg(y) * y)(x), want1 + x * want2)


def test_vjp_traces_what_it_cannot_read():
    namespace = {}
    exec("def f(x, y):\n    return x * y * y, {'x': x}\n", namespace)
    out, f_vjp, aux = s2s.vjp(namespace["f"], 2.0, np.full(2, 3.0, np.float32), has_aux=True)
    _close(out, 18.0)
    _close(aux["x"], 2.0)
    gx, gy = f_vjp(np.ones(2, np.float32))
    _close(gx, 18.0)
    _close(gy, 12.0)
    out, f_vjp = s2s.vjp(lambda *xs: xs[0] * xs[1], 2.0, 3.0)  # primals in *args
    _close(f_vjp(np.float32(1.0)), (3.0, 2.0))


# ---------------------------------------------------------------------------
# NumPy's floating-point warnings from eager s2s code name the user's line.


def _log_of(w):
    return snp.sum(snp.log(w) * w)


def _loop_body(i, c):
    return c + snp.log(c * 0.0)


def _warnings_of(fn, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fn(*args)
    return [(w.filename, w.lineno, str(w.message)) for w in caught]


def _line_of(fn, offset=1):
    return fn.__code__.co_firstlineno + offset


def test_eager_float_warnings_point_at_the_users_line():
    zeros = np.zeros(2, np.float32)
    here = _line_of(test_eager_float_warnings_point_at_the_users_line)
    assert _warnings_of(lambda: snp.log(zeros)) == [(__file__, here + 2, "divide by zero encountered in log")]
    assert _warnings_of(lambda: snp.asarray(zeros) / 0.0) == [  # an Array operator
        (__file__, here + 3, "invalid value encountered in divide")]
    # Eager grad: the line of the user's function the generated code came from.
    got = _warnings_of(s2s.grad(_log_of), zeros)
    assert got and {where[:2] for where in got} == {(__file__, _line_of(_log_of))}
    assert "divide by zero encountered in log" in {where[2] for where in got}
    # A function of the user's that s2s calls (a loop body) is the user's line too.
    got = _warnings_of(lambda: s2s.lax.fori_loop(0, 1, _loop_body, np.float32(1.0)))
    assert got == [(__file__, _line_of(_loop_body), "divide by zero encountered in log")]


def test_eager_float_warnings_follow_numpy_settings():
    zeros = np.zeros(2, np.float32)
    with np.errstate(divide="ignore"):
        assert _warnings_of(snp.log, zeros) == []
    with np.errstate(divide="raise"), pytest.raises(FloatingPointError, match="divide by zero"):
        snp.log(zeros)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeWarning, match="divide by zero encountered in log"):
            s2s.grad(_log_of)(zeros)
    assert _warnings_of(s2s.jit(snp.log), zeros) == []  # XLA never warns, as in JAX


def test_scipy_special_gives_its_infinities_without_warning():
    from s2s.scipy import special
    x = np.array([0.0, 0.0, 1.0], np.float32)
    y = np.array([0.0, -1.0, 0.0], np.float32)
    assert _warnings_of(special.xlogy, x, y) == []  # as SciPy: 0, 0, -inf
    assert _warnings_of(special.xlog1py, x, y - 1.0) == []
    assert _warnings_of(special.logit, np.array([0.0, 1.0], np.float32)) == []
