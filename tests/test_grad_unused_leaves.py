"""``s2s.grad`` called inside a transformed function gives zeros for the argument
leaves its function does not use, shaped and typed like the leaf, as it does eagerly
(the generated gradient holds ``None`` or leaves a dict key out for them)."""
import numpy as np
import pytest

import s2s

from cases import assert_close, central_grad, loop_over_examples


pytestmark = pytest.mark.usefixtures("x64")  # conftest's: float64 for the differences


def _uses_a(p):
    return np.sum(np.sin(p["a"]) * 2.0)


def _dict_caller(x):
    g = s2s.grad(_uses_a)({"a": x, "b": x * 3.0})
    return np.sum(g["a"] * x + g["b"] * 2.0 + x)


def _uses_first(p):
    return np.sum(np.cos(p[0]) * p[0])


def _tuple_caller(x):
    g = s2s.grad(_uses_first)((x, x * x))
    return np.sum(g[0] * x + g[1] * 2.0)


def _unused_arg(x, y):
    return np.sum(x ** 3)


def _argnums_caller(x):
    gx, gy = s2s.grad(_unused_arg, argnums=(0, 1))(x, x + 1.0)
    return np.sum(gx * x + gy * 5.0)


CALLERS = [_dict_caller, _tuple_caller, _argnums_caller]
X = np.array([0.3, -0.7, 1.1])


@pytest.mark.parametrize("caller", CALLERS, ids=lambda f: f.__name__)
def test_inner_grad_of_unused_leaf_is_zeros(caller):
    inner = {"_dict_caller": lambda: s2s.grad(_uses_a)({"a": X, "b": X})["b"],
             "_tuple_caller": lambda: s2s.grad(_uses_first)((X, X))[1],
             "_argnums_caller": lambda: s2s.grad(_unused_arg, argnums=(0, 1))(X, X)[1]}
    zero = inner[caller.__name__]()
    assert zero.shape == X.shape and zero.dtype == X.dtype and not np.any(zero)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda f: f.__name__)
def test_grad_of_caller(caller):
    assert_close(s2s.grad(caller)(X), central_grad(caller, X), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda f: f.__name__)
def test_jvp_of_caller(caller):
    t = np.array([1.0, -2.0, 0.5])
    out, tan = s2s.jvp(caller, (X,), (t,))
    eps = 1e-6
    assert_close(out, caller(X), rtol=1e-12)
    assert_close(tan, (caller(X + eps * t) - caller(X - eps * t)) / (2 * eps), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda f: f.__name__)
def test_vmap_of_caller(caller):
    xs = np.stack([X, X * 2.0, -X])
    assert_close(s2s.vmap(caller)(xs), loop_over_examples(caller, (xs,), (0,)), rtol=1e-12)


@pytest.mark.parametrize("caller", CALLERS, ids=lambda f: f.__name__)
def test_jit_of_caller(caller):
    assert_close(s2s.jit(caller)(X), caller(X), rtol=1e-12)


def test_against_jax():
    jax = pytest.importorskip("jax")
    from cases import jax_x64
    jnp = jax.numpy

    def ref(x):
        g = jax.grad(lambda p: jnp.sum(jnp.sin(p["a"]) * 2.0))({"a": x, "b": x * 3.0})
        return jnp.sum(g["a"] * x + g["b"] * 2.0 + x)

    with jax_x64(jax):
        want = np.asarray(jax.grad(ref)(X))
    assert_close(s2s.grad(_dict_caller)(X), want, rtol=1e-10)
