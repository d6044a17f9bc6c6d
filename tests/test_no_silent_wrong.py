"""No silent wrong answers (issue 16, front end): each case here once gave a
plausible wrong result, leaked memory, or failed where tracing the call would
have worked. Results are checked against closed forms or central differences.
"""
import gc
import linecache
import textwrap
import weakref

import numpy as np
import pytest

import s2s
import s2s.numpy as snp


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
    file0 = g0.__s2s_unwrap__()[0].__code__.co_filename
    file1 = g1.__s2s_unwrap__()[0].__code__.co_filename
    assert file0 != file1
    for g, file in ((g0, file0), (g1, file1)):
        assert textwrap.indent(s2s.source(g), "    ") in "".join(linecache.getlines(file))


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
