"""``s2s.grad`` over the function corpus (``grad_corpus.py``), one construct family at a time.

Every corpus function is differentiated with respect to all its differentiable
arguments (``argnums``) and checked in float64 (the ``x64`` fixture) against
central finite differences, and against ``jax.grad`` of the same source with
``np`` bound to ``jax.numpy`` when jax is installed (``JAX_INCOMPATIBLE`` lists
what JAX cannot run, with reasons). Second order: ``grad(grad(f))`` for scalar
functions, and ``grad`` of ``<grad f, V>`` for array ones, against differences of
the first-order gradient.

Functions that need a ``s2s.numpy`` function this checkout lacks are skipped by
name (``NEEDS``); known s2s bugs are strict xfails (``KNOWN_BUGS``), so they flip
when fixed.
"""
import inspect
import linecache
import warnings

import numpy as np
import pytest

import s2s
import s2s.numpy as snp

import grad_corpus as corpus

try:
    import jax
except ImportError:  # jax is optional
    jax = None


def _ids(fns):
    return [getattr(f, "__name__", repr(f)) for f in fns]


def _params(fns, check="first"):
    out = []
    for f in fns:
        name = getattr(f, "__name__", repr(f))
        marks = []
        missing = [n for n in corpus.NEEDS.get(name, ()) if not _has(n)]
        if missing:
            marks.append(pytest.mark.skip(reason=f"needs s2s.numpy.{', '.join(missing)}"))
        bug = corpus.KNOWN_BUGS.get(name)
        if bug and (bug[1] is None or check in bug[1]):
            marks.append(pytest.mark.xfail(reason=bug[0], strict=True))
        out.append(pytest.param(f, id=name, marks=marks))
    return out


def _has(path):
    obj = snp
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return False
    return True


# ---------------------------------------------------------------------------
# Leaves of pytree arguments, for finite differences.


def _leaves(tree):
    if isinstance(tree, (list, tuple)):
        return [leaf for t in tree for leaf in _leaves(t)]
    if isinstance(tree, dict):
        return [leaf for k in sorted(tree) for leaf in _leaves(tree[k])]
    return [tree]


def _replace(tree, leaves):
    """``tree`` with its leaves taken in order from the iterator ``leaves``."""
    if isinstance(tree, tuple) and hasattr(type(tree), "_fields"):
        return type(tree)(*[_replace(t, leaves) for t in tree])
    if isinstance(tree, (list, tuple)):
        return type(tree)(_replace(t, leaves) for t in tree)
    if isinstance(tree, dict):
        out = dict(tree)
        for k in sorted(tree):
            out[k] = _replace(tree[k], leaves)
        return out
    return next(leaves)


def _value(f, args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(np.real(f(*args)))


def numerical_grad(f, args, i):
    """The gradient of ``f`` with respect to argument ``i`` (a pytree) by central differences."""
    leaves = [np.array(leaf, dtype=np.float64) for leaf in _leaves(args[i])]
    grads = []
    for k, leaf in enumerate(leaves):
        g = np.zeros_like(leaf)
        for idx in np.ndindex(leaf.shape):
            h = 1e-6 * max(1.0, abs(float(leaf[idx])))
            vals = []
            for sign in (1.0, -1.0):
                moved = [x.copy() for x in leaves]
                moved[k][idx] += sign * h
                new = list(args)
                new[i] = _replace(args[i], iter(_scalar_like(args[i], moved)))
                vals.append(_value(f, new))
            g[idx] = (vals[0] - vals[1]) / (2 * h)
        grads.append(g)
    return grads


def _scalar_like(tree, leaves):
    """Leaves shaped back to Python floats where the original leaf was one."""
    out = []
    for orig, new in zip(_leaves(tree), leaves):
        out.append(float(new) if isinstance(orig, float) else new)
    return out


def _check(actual, expected, what, rtol=1e-6):
    actual = _leaves(actual)
    assert len(actual) == len(expected), f"{what}: {len(actual)} leaves, expected {len(expected)}"
    for a, e in zip(actual, expected):
        a = np.asarray(a)
        e = np.asarray(e)
        assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
        scale = max(1.0, float(np.max(np.abs(e), initial=0.0)))
        np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=what)


def differentiable_argnums(args):
    """Positions of the arguments that hold floating-point values (ints are static)."""
    return tuple(i for i, a in enumerate(args) if _is_float_tree(a))


def _is_float_tree(a):
    leaves = _leaves(a)
    return bool(leaves) and all(isinstance(x, float) or (isinstance(x, np.ndarray)
                                                         and x.dtype.kind == "f")
                                for x in leaves)


def grad_all(f, argnums):
    """``grad`` with respect to ``argnums``, as a tuple (``argnums=(0,)`` is avoided: see
    ``test_grad_api.test_argnums_one_tuple``)."""
    if len(argnums) == 1:
        g = s2s.grad(f, argnums=argnums[0])
        return lambda *args: (g(*args),)
    return s2s.grad(f, argnums=argnums)


@pytest.fixture
def x64_both():
    old = s2s.config.enable_x64
    s2s.config.update("enable_x64", True)
    old_jax = jax.config.jax_enable_x64 if jax is not None else None
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        s2s.config.update("enable_x64", old)
        if jax is not None:
            jax.config.update("jax_enable_x64", old_jax)


def _inputs(fn):
    rng = np.random.default_rng(sum(map(ord, getattr(fn, "__name__", "f"))))
    return corpus.inputs_for(fn, rng)


# ---------------------------------------------------------------------------
# First order.


def test_corpus_size():
    assert len(corpus.CORPUS) >= 70
    names = _ids(corpus.CORPUS)
    assert len(set(names)) == len(names)
    stale = set(corpus.KNOWN_BUGS) | set(corpus.NEEDS) | set(corpus.JAX_INCOMPATIBLE)
    assert stale <= set(names), stale - set(names)
    assert set(corpus.LIBRARY_BUGS) <= {label for label, _, _ in corpus.LIBRARY}


@pytest.mark.parametrize("fn", _params(corpus.CORPUS, "first"))
def test_grad_matches_finite_differences(fn, x64_both):
    args = _inputs(fn)
    argnums = differentiable_argnums(args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grads = grad_all(fn, argnums)(*args)
    for i, g in zip(argnums, grads):
        _check(g, numerical_grad(fn, args, i), f"d/d{_argname(fn, i)} of {fn.__name__}")


def _argname(fn, i):
    try:
        return list(inspect.signature(fn).parameters)[i]
    except (TypeError, ValueError, IndexError):
        return str(i)


# ---------------------------------------------------------------------------
# Against jax.grad: the corpus module's source re-run with np bound to jax.numpy.


_jax_module = None


def _jax_corpus():
    global _jax_module
    if _jax_module is None:
        src = inspect.getsource(corpus)
        src = src.replace("import numpy as np\n", "import jax.numpy as np\n", 1)
        src = src.replace("import s2s.numpy as snp\n", "import jax.numpy as snp\n", 1)
        filename = "<grad_corpus with jax.numpy>"
        linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
        ns = {"__name__": "grad_corpus_jax"}
        exec(compile(src, filename, "exec"), ns)
        _jax_module = ns
    return _jax_module


def _jax_fns():
    return [f for f in corpus.CORPUS if f.__name__ not in corpus.JAX_INCOMPATIBLE]


@pytest.mark.skipif(jax is None, reason="jax is not installed")
@pytest.mark.parametrize("fn", _params(_jax_fns(), "jax"))
def test_grad_matches_jax(fn, x64_both):
    args = _inputs(fn)
    argnums = differentiable_argnums(args)
    jfn = _jax_corpus()[fn.__name__]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grads = grad_all(fn, argnums)(*args)
    jargs = [_to_jax(a) for a in args]
    expected = jax.grad(jfn, argnums=argnums)(*jargs)
    for i, g, e in zip(argnums, grads, expected):
        _check(g, [np.asarray(x) for x in _leaves(e)], f"d/d{_argname(fn, i)} of {fn.__name__} vs jax",
               rtol=1e-9)


def _to_jax(a):
    if isinstance(a, np.ndarray):
        return jax.numpy.asarray(a)
    if isinstance(a, (list, tuple)) and not hasattr(type(a), "_fields"):
        return type(a)(_to_jax(x) for x in a)
    if isinstance(a, tuple):
        return type(a)(*[_to_jax(x) for x in a])
    if isinstance(a, dict):
        return {k: _to_jax(v) for k, v in a.items()}
    return a


# ---------------------------------------------------------------------------
# Library functions differentiated directly (no user source around them).


def _library_params():
    out = []
    for label, fn, kind in corpus.LIBRARY:
        marks = []
        if label in corpus.LIBRARY_BUGS:
            marks.append(pytest.mark.xfail(reason=corpus.LIBRARY_BUGS[label], strict=True))
        out.append(pytest.param(fn, kind, id=label, marks=marks))
    return out


@pytest.mark.parametrize("fn,kind", _library_params())
def test_grad_of_library_function(fn, kind, x64_both):
    x = np.array(0.37) if kind == "scalar" else np.array([0.3, -1.2, 0.8])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        g = s2s.grad(fn)(x)
    _check(g, numerical_grad(fn, [x], 0), "library gradient")


# ---------------------------------------------------------------------------
# Second order.


def _second_order_fns():
    out = []
    for f in corpus.CORPUS:
        if f.__name__ in corpus.NO_SECOND_ORDER:
            continue
        args = _inputs(f)
        argnums = differentiable_argnums(args)
        if all(isinstance(args[i], (float, np.ndarray)) for i in argnums):
            out.append(f)
    return out


_counter = [0]


def _compile(src, glb):
    _counter[0] += 1
    filename = f"<test_grad_corpus second order #{_counter[0]}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)
    exec(compile(src, filename, "exec"), glb)


@pytest.mark.parametrize("fn", _params(_second_order_fns(), "second"))
def test_second_order_matches_finite_differences(fn, x64_both):
    """``grad(grad(f))`` (scalar arguments) or ``grad`` of ``sum_i <grad_i f, V_i>``."""
    args = _inputs(fn)
    argnums = differentiable_argnums(args)
    names = list(inspect.signature(fn).parameters)
    rng = np.random.default_rng(7)
    env = {"np": snp}
    terms = []
    for i in argnums:
        env[f"G{i}"] = s2s.grad(fn, argnums=i)
        call = f"G{i}({', '.join(names)})"
        if isinstance(args[i], float):
            env[f"V{i}"] = float(rng.uniform(0.5, 1.5))
            terms.append(f"{call} * V{i}")
        else:
            env[f"V{i}"] = rng.uniform(-1.0, 1.0, np.shape(args[i]))
            terms.append(f"np.sum({call} * V{i})")
    src = f"def second_{fn.__name__}({', '.join(names)}):\n    return {' + '.join(terms)}\n"
    _compile(src, env)
    h = env[f"second_{fn.__name__}"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grads = grad_all(h, argnums)(*args)
    for i, g in zip(argnums, grads):
        _check(g, numerical_grad(h, args, i), f"second order d/d{names[i]} of {fn.__name__}",
               rtol=1e-5)


SCALAR = [f for f in _second_order_fns()
          if all(isinstance(a, float) for a in _inputs(f)[:1]) and len(_inputs(f)) == 1]


@pytest.mark.parametrize("fn", _params(SCALAR, "gradgrad"))
def test_grad_of_grad_scalar(fn, x64_both):
    """``grad(grad(f))`` for functions of one scalar."""
    (x,) = _inputs(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        gg = s2s.grad(s2s.grad(fn))(x)
        g = s2s.grad(fn)
        h = 1e-5 * max(1.0, abs(x))
        expected = (float(g(x + h)) - float(g(x - h))) / (2 * h)
    np.testing.assert_allclose(gg, expected, rtol=1e-5, atol=1e-6)
