"""jit on the grad corpus: jit(f) against f, jit(grad(f)) and grad(jit(f)) against grad(f).

The corpus (``grad_corpus.py``) has functions whose ``if``/``while``/``for`` depend
on data; under jit they become staged ``cond``/``while`` loops. Functions that
cannot run under jit by nature are listed in ``JIT_LIMITS`` with the reason,
and known s2s bugs in ``JIT_BUGS`` (strict xfails, so fixing them shows).
"""
import numpy as np
import pytest

import s2s
import grad_corpus as corpus
from s2s.tree_util import tree_leaves

# Functions jit cannot run, with why (they raise a clear error instead).
JIT_LIMITS = {
    "bool_mask": "a staged boolean mask gives a data-dependent shape (error suggests np.where)",
    "comprehension_cond": "appending to a list under a staged `if` gives a data-dependent length",
    "recursive_pow": "recursion whose depth depends on a staged value never ends (n must be static)",
    "recursive_sin": "recursion whose depth depends on a staged value never ends (n must be static)",
}
JIT_BUGS = {
}
# Functions that modify their input arrays in place (Python semantics): compare on copies.
STATIC_ARGS = {"for_range": (1,), "while_count": (1,), "recursive_pow": (1,)}

CASES = [fn for fn in corpus.CORPUS if fn.__name__ not in JIT_LIMITS]


def _args(fn):
    # Python floats stay floats (weak scalars); arrays become float32 arrays.
    args = corpus.inputs_for(fn, np.random.RandomState(0))
    return [np.asarray(a, np.float32) if isinstance(a, np.ndarray) else a for a in args]


def _copy(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _close(got, want, scale=1e-3):
    g, w = tree_leaves(got), tree_leaves(want)
    assert len(g) == len(w)
    for a, b in zip(g, w):
        np.testing.assert_allclose(np.asarray(a, np.float64), np.asarray(b, np.float64),
                                   rtol=scale, atol=scale)


def _marks(name, kind):
    bug = JIT_BUGS.get(name)
    return [pytest.mark.xfail(reason=bug, strict=True)] if bug and kind != "forward" else []


@pytest.mark.parametrize("fn", [pytest.param(f, id=f.__name__) for f in CASES])
def test_jit_matches_eager(fn):
    if fn.__name__ in JIT_BUGS and fn.__name__ == "closure_in_loop":
        pytest.xfail(JIT_BUGS[fn.__name__])
    args = _args(fn)
    static = STATIC_ARGS.get(fn.__name__, ())
    _close(s2s.jit(fn, static_argnums=static)(*_copy(args)), fn(*_copy(args)))


@pytest.mark.parametrize("fn", [pytest.param(f, id=f.__name__, marks=_marks(f.__name__, "grad"))
                                for f in CASES])
def test_jit_of_grad_matches_grad(fn):
    args = _args(fn)
    static = STATIC_ARGS.get(fn.__name__, ())
    want = s2s.grad(fn)(*_copy(args))
    got = s2s.jit(s2s.grad(fn), static_argnums=static)(*_copy(args))
    _close(got, want)


@pytest.mark.parametrize("fn", [pytest.param(f, id=f.__name__, marks=_marks(f.__name__, "grad"))
                                for f in CASES])
def test_grad_of_jit_matches_jit_of_grad(fn):
    args = _args(fn)
    static = STATIC_ARGS.get(fn.__name__, ())
    a = s2s.grad(s2s.jit(fn, static_argnums=static))(*_copy(args))
    b = s2s.jit(s2s.grad(fn), static_argnums=static)(*_copy(args))
    _close(a, b)


@pytest.mark.parametrize("name", sorted(JIT_LIMITS))
def test_jit_limits_raise_clear_errors(name):
    from s2s.errors import S2SError
    fn = getattr(corpus, name)
    with pytest.raises((S2SError, RecursionError)):
        s2s.jit(fn)(*_args(fn))
