"""No silent wrong answers at run time (issue 16, the runtime/lax items): loop
gradients past their buffer, leaked tracers, augmented assignment, out-of-range
integer constants and indices, division by zero, gradient leaf types, and the
S2S_* environment switches. Each behaves the same eagerly and under ``jit``.
"""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from s2s.lax import control_flow as cf


# -- jit(grad) of a loop that runs past the trip buffer ---------------------------


def _python_while(x):
    while x < 20.0:
        x = x * 1.25 + 1.0
    return x * x


def _lax_while(x):
    return lax.while_loop(lambda c: c < 20.0, lambda c: c * 1.25 + 1.0, x) ** 2


def _fori_staged_bounds(x, n):
    return lax.fori_loop(0, n, lambda i, c: c * 1.25 + 1.0, x) ** 2


@pytest.mark.parametrize("f", [_python_while, _lax_while], ids=lambda f: f.__name__)
def test_loop_gradient_past_the_buffer_grows_it(f, monkeypatch):
    monkeypatch.setattr(cf, "WHILE_MAX_TRIPS", 4)  # the loop runs 9 trips from 0.5
    x = np.float32(0.5)
    eager = s2s.grad(f)(x)
    jitted = s2s.jit(s2s.grad(f))
    got = jitted(x)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, eager, rtol=1e-5)
    np.testing.assert_allclose(jitted(np.float32(-3.0)), s2s.grad(f)(np.float32(-3.0)), rtol=1e-5)


def test_fori_loop_with_staged_bounds_past_the_buffer(monkeypatch):
    monkeypatch.setattr(cf, "WHILE_MAX_TRIPS", 2)
    g = s2s.jit(s2s.grad(_fori_staged_bounds))
    np.testing.assert_allclose(g(np.float32(0.5), np.int32(7)),
                               s2s.grad(_fori_staged_bounds)(np.float32(0.5), 7), rtol=1e-5)


def test_loop_gradient_past_the_buffer_raises_outside_jit(monkeypatch):
    # Code compiled without s2s.jit's dispatch cannot grow the buffer: it says how.
    monkeypatch.setattr(cf, "WHILE_MAX_TRIPS", 4)
    lowered = s2s.jit(s2s.grad(_lax_while)).lower(np.float32(0.5))
    with pytest.raises(cf.TripBoundExceeded, match="ran 8 trips.*WHILE_MAX_TRIPS to at least 8"):
        lowered.compile().run([np.float32(0.5)])


# -- a tracer leaked out of jit ------------------------------------------------------


def test_a_leaked_tracer_raises_when_used():
    from s2s.errors import UnexpectedTracerError
    kept = []

    def f(x):
        kept.append(x * 2)
        return x + 1

    np.testing.assert_allclose(s2s.jit(f)(np.ones(2, np.float32)), [2.0, 2.0])
    leaked = kept[0]
    for use in (lambda: leaked + 1, lambda: snp.sin(leaked), lambda: np.ones(2) * leaked,
                lambda: np.asarray(leaked), lambda: float(leaked[0]), lambda: bool(leaked[0] > 0)):
        with pytest.raises(UnexpectedTracerError, match=r"(?s)jit\(f\).*leaked.*return the value"):
            use()
