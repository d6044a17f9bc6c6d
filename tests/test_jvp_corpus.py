"""``s2s.jvp`` over the grad corpus (``grad_corpus.py``): forward mode against central
finite differences along the tangent (float64) and against ``grad`` (``<grad f, t>``
is the jvp of a scalar function along ``t``); ``jit`` of the generated forward code
against eager.
"""
import warnings

import numpy as np
import pytest

import s2s

import grad_corpus as corpus
from test_grad_corpus import (_inputs, _is_float_tree, _leaves, _params, _replace, _value,
                              differentiable_argnums, grad_all)

# Corpus functions forward mode does not handle yet: name -> reason (strict xfails).
JVP_KNOWN_BUGS = {}


def _tangents(args, rng):
    return tuple(_replace(a, iter([rng.standard_normal(np.shape(x)) if np.ndim(x) else
                                   float(rng.standard_normal()) for x in _leaves(a)]))
                 if _is_float_tree(a) else a for a in args)


def _directional_fd(f, args, tangents, argnums, h=1e-6):
    vals = []
    for sign in (1.0, -1.0):
        moved = list(args)
        for i in argnums:
            moved[i] = _replace(args[i], iter([
                (x + sign * h * t) if not isinstance(x, float) else float(x + sign * h * t)
                for x, t in zip(_leaves(args[i]), _leaves(tangents[i]))]))
        vals.append(_value(f, moved))
    return (vals[0] - vals[1]) / (2 * h)


def _jvp_params():
    out = []
    for p in _params(corpus.CORPUS, "first"):
        fn = p.values[0]
        marks = list(p.marks)
        if fn.__name__ in JVP_KNOWN_BUGS:
            marks.append(pytest.mark.xfail(reason=JVP_KNOWN_BUGS[fn.__name__], strict=True))
        out.append(pytest.param(fn, id=p.id, marks=marks))
    return out


@pytest.mark.parametrize("fn", _jvp_params())
def test_jvp_matches_finite_differences_and_grad(fn, x64):
    args = _inputs(fn)
    argnums = differentiable_argnums(args)
    rng = np.random.default_rng(len(fn.__name__))
    tangents = _tangents(args, rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        out, dout = s2s.jvp(fn, tuple(args), tangents)
        grads = grad_all(fn, argnums)(*args)
    np.testing.assert_allclose(float(out), _value(fn, args), rtol=1e-12, atol=1e-12)
    expected = _directional_fd(fn, args, tangents, argnums)
    scale = max(1.0, abs(expected))
    np.testing.assert_allclose(float(dout), expected, rtol=1e-6, atol=1e-6 * scale)
    by_grad = sum(float(np.sum(np.asarray(gl) * np.asarray(tl)))
                  for i, gr in zip(argnums, grads)
                  for gl, tl in zip(_leaves(gr), _leaves(tangents[i])))
    np.testing.assert_allclose(float(dout), by_grad, rtol=1e-9, atol=1e-9 * scale)


# jacfwd vmaps the generated jvp source; these corpus functions hit vmap bugs: name -> reason.
JACFWD_KNOWN_BUGS = {}


def _jac_params(bugs):
    out = []
    for p in _jvp_params():
        marks = list(p.marks)
        if p.id in bugs:
            marks.append(pytest.mark.xfail(reason=bugs[p.id], strict=True))
        out.append(pytest.param(p.values[0], id=p.id, marks=marks))
    return out


def _check_jacobian_is_grad(fn, jac):
    args = _inputs(fn)
    argnums = differentiable_argnums(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grads = grad_all(fn, argnums)(*args)
        jacobian = jac(fn, argnums=argnums)(*args)
    for g, a in zip(grads, jacobian):
        for gl, al in zip(_leaves(g), _leaves(a)):
            scale = max(1.0, float(np.max(np.abs(gl), initial=0.0)))
            np.testing.assert_allclose(al, gl, rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("fn", _jac_params(JACFWD_KNOWN_BUGS))
def test_jacfwd_matches_grad(fn, x64):
    """For the corpus' scalar functions the Jacobian is the gradient."""
    _check_jacobian_is_grad(fn, s2s.jacfwd)


@pytest.mark.parametrize("fn", _jac_params({}))
def test_jacrev_matches_grad(fn, x64):
    _check_jacobian_is_grad(fn, s2s.jacrev)
