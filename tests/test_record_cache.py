"""Recordings share the compiled code of identical text (``s2s.trace.record``).

A loop's reverse pass records the same body at every step, with other constants: the
code object is reused, the constants (closure cells) are each recording's own, and the
source stays registered for tracebacks and ``source`` while any of them lives.
"""
import gc
import linecache
import sys

import numpy as np
import pytest

import s2s
from s2s import lax
from s2s.trace.record import record


def _scaled(c):
    return record(lambda x: lax.mul(x, c), (np.ones(2),), {})


def test_same_text_other_constants_give_their_own_values():
    first, second = _scaled(np.array([2.0, 3.0])), _scaled(np.array([-1.0, 5.0]))
    assert first.source == second.source and first.fn.__code__ is second.fn.__code__
    x = np.array([1.5, 0.5], np.float32)
    np.testing.assert_array_equal(first.fn(x), x * [2.0, 3.0])
    np.testing.assert_array_equal(second.fn(x), x * [-1.0, 5.0])
    np.testing.assert_array_equal(first.fn(x), x * [2.0, 3.0])  # not overwritten


def test_other_text_is_not_shared():
    first = _scaled(np.array([2.0, 3.0]))
    other = record(lambda x: lax.add(x, np.array([2.0, 3.0])), (np.ones(2),), {})
    assert first.fn.__code__ is not other.fn.__code__
    np.testing.assert_array_equal(other.fn(np.ones(2, np.float32)), [3.0, 4.0])


def _generated_line_of(error):
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    frame = next(t for t in reversed(frames) if t.tb_frame.f_code.co_filename.startswith("<s2s traced"))
    return linecache.getline(frame.tb_frame.f_code.co_filename, frame.tb_lineno).strip()


def test_error_in_shared_code_names_its_line_after_the_first_recording_is_gone():
    first = _scaled(np.array([2.0, 3.0]))
    del first
    gc.collect()
    second = _scaled(np.array([4.0, 5.0]))
    assert "lax.mul(x0, c0)" in second.source
    with pytest.raises(Exception) as info:
        second.fn(np.ones(3))  # shapes (3,) and (2,) do not broadcast
    assert _generated_line_of(info.value) == "t0 = lax.mul(x0, c0)"


def test_traced_gradient_reads_each_calls_constant(x64):
    scope = {"lax": lax, "W": np.array([2.0, 3.0])}
    exec("def f(x):\n    return lax.reduce_sum(lax.mul(lax.sin(x), W), axes=(0,))", scope)  # no source
    grad = s2s.grad(scope["f"])
    x = np.array([0.7, -0.2])
    for w in ([2.0, 3.0], [-1.0, 4.0]):
        scope["W"] = np.array(w)  # read anew by the next recording: same text, other constant
        np.testing.assert_allclose(grad(x), np.cos(x) * w, rtol=1e-12)
    assert "lax.sin" in s2s.source(grad)
