"""vmap of list and tuple concatenation and repetition, against a Python loop.

Normal form writes ``concat`` where it sees a sequence literal; where it cannot (the
sequences come from a call or an argument) the batched code calls the ``+`` operator's
batch rule with one sequence batched and the other not. A batched sequence holds
batched members only, so the unbatched one's members are broadcast: they were passed
through as they were, and read as if they carried the batch axis (silently wrong).
"""
import numpy as onp
import pytest

import s2s
from s2s.core.errors import TransformError
from cases import assert_trees_close, loop_over_examples

N = 4  # examples


def _pair(v):
    return (v, v * 2.0)


def _as_list(v):
    return [v + 1.0]


def mapped_first(x, y):
    return _pair(x) + _pair(y)


def unmapped_first_read_back(x, y):
    c = _pair(y) + _pair(x)
    return c[1] * c[2]


def unmapped_argument_tuple(x, t):
    return t + _pair(x)


def mapped_then_argument(x, t):
    c = _pair(x) + t
    return c[2] + c[0]


def repeated_then_concatenated(x, t):
    return t * 2 + _pair(x)


def count_first(x, t):
    return 2 * _pair(x) + t


def lists(x, y):
    a = _as_list(y) + _as_list(x)
    return a[0] - a[1]


def unpacked(x, y):
    first, second, third = _pair(y) + (x,)
    return first * third + second


FUNCTIONS = [mapped_first, unmapped_first_read_back, unmapped_argument_tuple,
             mapped_then_argument, repeated_then_concatenated, count_first, lists, unpacked]
_RNG = onp.random.default_rng(7)


def _arguments(fn):
    x = _RNG.normal(size=(N, 3)).astype("float32")
    y = _RNG.normal(size=3).astype("float32")
    second = (y, 3.0 * y) if fn in (unmapped_argument_tuple, mapped_then_argument) else \
        (y,) if fn in (repeated_then_concatenated, count_first) else y
    return x, second


@pytest.mark.parametrize("jitted", [False, True], ids=["eager", "jit"])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
def test_matches_loop(fn, axis, jitted):
    x, second = _arguments(fn)
    want = loop_over_examples(fn, (x, second), (0, None))
    f = s2s.vmap(fn, in_axes=(axis, None))
    got = (s2s.jit(f) if jitted else f)(onp.moveaxis(x, 0, axis), second)
    assert_trees_close(got, want, rtol=1e-6, atol=1e-6)


def _repeat_by(x, k):
    return _pair(x) * k


def _compare_pairs(x, y):
    return _pair(x) == _pair(y)


def test_repetition_count_varying_across_the_batch_is_an_error():
    x = onp.ones((N, 3), "float32")
    with pytest.raises(TransformError, match="repeat a list or tuple a number of times"):
        s2s.vmap(_repeat_by)(x, onp.arange(N))


def test_comparing_batched_tuples_is_an_error():
    x = onp.ones((N, 3), "float32")
    with pytest.raises(TransformError, match="cannot batch `eq` of a list or tuple"):
        s2s.vmap(_compare_pairs, in_axes=(0, None))(x, x[0])
