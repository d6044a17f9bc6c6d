"""The grad corpus under vmap and vmap of grad, against a Python loop over examples.

A function vmap cannot batch must raise a clear error (an S2SError or a
NotImplementedError naming the construct); it is then skipped with that message.
A result, when there is one, must equal the loop's.
"""
import warnings

import numpy as np
import pytest

import s2s
from s2s.errors import S2SError

import grad_corpus as corpus

N = 3


def _inputs(fn):
    rng = np.random.default_rng(sum(map(ord, fn.__name__)))
    return corpus.inputs_for(fn, rng)


def _batched(args):
    """Each float argument becomes N nearby examples (axis 0); others stay unmapped."""
    out, axes = [], []
    for a in args:
        if isinstance(a, float) or (isinstance(a, np.ndarray) and a.dtype.kind == "f"):
            out.append(np.stack([np.asarray(a) * (1.0 + 0.05 * k) for k in range(N)]))
            axes.append(0)
        else:
            out.append(a)
            axes.append(None)
    return out, tuple(axes)


def _loop(f, args, axes):
    outs = [f(*[a[k] if ax == 0 else a for a, ax in zip(args, axes)]) for k in range(N)]
    return s2s.tree_util.tree_map(lambda *xs: np.stack([np.asarray(x) for x in xs]), *outs)


def _compare(got, want, what):
    lg, tg = s2s.tree_util.tree_flatten(got)
    lw, tw = s2s.tree_util.tree_flatten(want)
    assert tg == tw, what
    for g, w in zip(lg, lw):
        np.testing.assert_allclose(np.asarray(g, np.float64), np.asarray(w, np.float64),
                                   rtol=2e-3, atol=2e-3, err_msg=what)


def _run(fn, transform):
    args = _inputs(fn)
    bargs, axes = _batched(args)
    if all(ax is None for ax in axes):
        pytest.skip("no float argument to map over")
    target = transform(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            want = _loop(target, bargs, axes)
        except Exception as e:  # the per-example function itself fails: nothing to compare
            pytest.skip(f"per-example call fails: {type(e).__name__}")
        try:
            got = s2s.vmap(target, in_axes=axes)(*bargs)
        except (S2SError, NotImplementedError) as e:
            pytest.skip(f"vmap raises a clear error: {str(e).splitlines()[0][:160]}")
    _compare(got, want, f"vmap of {fn.__name__}")


@pytest.mark.parametrize("fn", corpus.CORPUS, ids=lambda f: f.__name__)
def test_vmap_matches_loop(fn):
    _run(fn, lambda f: f)


@pytest.mark.parametrize("fn", corpus.CORPUS, ids=lambda f: f.__name__)
def test_vmap_of_grad_matches_loop(fn):
    if fn.__name__ in corpus.KNOWN_BUGS:
        pytest.skip("a known grad bug")
    _run(fn, s2s.grad)
