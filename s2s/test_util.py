"""Checks for users' test suites: derivatives, ``jit`` and ``vmap`` against references.

Derivatives are checked against central finite differences, ``jit`` against
eager evaluation, ``vmap`` against a Python loop over the examples; every
failure names the leaf (its path in the pytree) that differs. A user's test
file reads, for example::

    # tests/test_model.py
    import numpy as np
    import pytest
    import s2s
    from s2s.test_util import check_grads, check_jit, assert_trees_allclose

    from mymodel import loss, predict

    @pytest.fixture(autouse=True)
    def x64():                         # finite differences want float64
        s2s.config.update("enable_x64", True)
        yield
        s2s.config.update("enable_x64", False)

    def test_loss_gradients():
        params = {"w": np.ones((3, 2)), "b": np.zeros(2)}
        x = np.linspace(-1.0, 1.0, 6).reshape(2, 3)
        check_grads(loss, (params, x), order=2, modes=("rev",))

    def test_predict_compiles_to_the_same_values():
        check_jit(predict, {"w": np.ones((3, 2)), "b": np.zeros(2)}, np.ones((4, 3)))

>>> import numpy as np, s2s
>>> import s2s.numpy as snp
>>> check_grads(lambda x: snp.sin(x) * x, (np.array([0.5, 1.0]),), order=2, modes=("rev",))
>>> assert_trees_allclose({"w": np.ones(2)}, {"w": np.array([1.0, 1.5])})
Traceback (most recent call last):
...
AssertionError: leaf ['w'] differs: ...
"""
import collections
import itertools
import linecache
import re

import numpy as np

from s2s import dtypes
from s2s.tree_util import tree_flatten, tree_map

__all__ = ["check_grads", "check_jvp", "check_vjp", "check_jit", "check_vmap",
           "assert_trees_allclose", "numerical_jvp"]

EPS = 1e-4
"""Default step of the central differences (JAX's)."""

# Tolerances by dtype, as in jax.test_util: gradients against finite
# differences, and compiled against eager evaluation.
_GRADIENT_TOLERANCE = {"float16": 1e-2, "bfloat16": 1e-1, "float32": 2e-3, "float64": 1e-5,
                       "complex64": 1e-3, "complex128": 1e-5}
_VALUE_TOLERANCE = {"float16": 1e-3, "bfloat16": 1e-2, "float32": 1e-5, "float64": 1e-12,
                    "complex64": 1e-5, "complex128": 1e-12}


# ---------------------------------------------------------------------------
# Comparing pytrees

def _leaf_paths(treedef, prefix=""):
    """The path of every leaf of ``treedef`` as Python subscripts (``['w'][0]``).

    Children of a registered class are written ``<Name child i>`` (no subscript reaches them).
    """
    if treedef.node_type is None:  # a leaf
        return [prefix]
    node = treedef.node_type
    if node in (dict, collections.OrderedDict):
        parts = [f"[{k!r}]" for k in treedef.node_data]
    elif node == "namedtuple":
        parts = [f".{name}" for name in treedef.node_data._fields]
    elif node in (tuple, list):
        parts = [f"[{i}]" for i in range(len(treedef.children))]
    else:
        parts = [f"<{node.__name__} child {i}>" for i in range(len(treedef.children))]
    paths = []
    for part, child in zip(parts, treedef.children):
        paths.extend(_leaf_paths(child, prefix + part))
    return paths


def _flatten_with_paths(tree):
    leaves, treedef = tree_flatten(tree)
    return leaves, _leaf_paths(treedef) if leaves else [], treedef


def _dtype_name(x):
    """The dtype of leaf ``x``; a Python scalar counts as the dtype s2s gives it (weak)."""
    if isinstance(x, (bool, int, float, complex)):
        return np.dtype(dtypes.canonicalize_dtype(np.result_type(x))).name
    return np.asarray(x).dtype.name


def _tolerance(table, given, *leaves):
    if given is not None:
        return given
    return max(table.get(_dtype_name(x), 0.0) for x in leaves)


def assert_trees_allclose(actual, expected, rtol=None, atol=None, err_msg="", check_dtypes=False):
    """Asserts two pytrees have one structure and leaves equal within ``rtol``/``atol``.

    The default tolerances depend on the leaves' dtype (1e-5 for float32,
    1e-12 for float64). The message of a failure names the path of the first
    leaf that differs (``['params'][1]``), the largest difference and where.
    ``check_dtypes=True`` also requires equal dtypes.

    >>> import numpy as np
    >>> assert_trees_allclose((np.ones(2), {"b": 1.0}), (np.ones(2), {"b": 1.0 + 1e-9}))
    >>> assert_trees_allclose([np.zeros(3)], [np.array([0.0, 0.5, 0.0])], err_msg="grad")
    Traceback (most recent call last):
    ...
    AssertionError: grad: leaf [0] differs: max |actual - expected| = 0.5 at index (1,) ...
    """
    head = f"{err_msg}: " if err_msg else ""
    a_leaves, paths, a_tree = _flatten_with_paths(actual)
    e_leaves, _, e_tree = _flatten_with_paths(expected)
    if a_tree != e_tree:
        raise AssertionError(f"{head}tree structures differ:\n  actual   {a_tree}\n"
                             f"  expected {e_tree}")
    for path, a, e in zip(paths, a_leaves, e_leaves):
        _assert_leaf_close(a, e, rtol, atol, f"{head}leaf {path or '(the root)'}", check_dtypes)


def _assert_leaf_close(a, e, rtol, atol, where, check_dtypes):
    a_arr, e_arr = np.asarray(a), np.asarray(e)
    if check_dtypes and _dtype_name(a) != _dtype_name(e):
        raise AssertionError(f"{where} has dtype {_dtype_name(a)}, expected {_dtype_name(e)}")
    if a_arr.shape != e_arr.shape:
        raise AssertionError(f"{where} has shape {a_arr.shape}, expected {e_arr.shape}")
    if a_arr.dtype.kind not in "fc" and e_arr.dtype.kind not in "fc":
        if not np.array_equal(a_arr, e_arr):
            bad = np.argwhere(a_arr != e_arr)
            raise AssertionError(f"{where} differs: {int(len(bad))} element(s) differ, first at "
                                 f"index {tuple(int(i) for i in bad[0])}\n  actual   {a_arr}\n"
                                 f"  expected {e_arr}")
        return
    rtol = _tolerance(_VALUE_TOLERANCE, rtol, a, e)
    atol = _tolerance(_VALUE_TOLERANCE, atol, a, e)
    wide = np.complex128 if "c" in (a_arr.dtype.kind, e_arr.dtype.kind) else np.float64
    a64, e64 = a_arr.astype(wide), e_arr.astype(wide)
    bad = ~np.isclose(a64, e64, rtol=rtol, atol=atol, equal_nan=True)
    if np.any(bad):
        diff = np.where(bad, np.abs(a64 - e64), 0.0)
        diff = np.where(np.isnan(diff), np.inf, diff)
        worst = np.unravel_index(int(np.argmax(diff)), a_arr.shape) if a_arr.shape else ()
        raise AssertionError(
            f"{where} differs: max |actual - expected| = {float(np.max(diff)):.6g} at index "
            f"{tuple(int(i) for i in worst)} (rtol={rtol:g}, atol={atol:g}; "
            f"{int(bad.sum())} of {bad.size} elements)\n  actual   {a_arr}\n  expected {e_arr}")


# ---------------------------------------------------------------------------
# Derivatives against finite differences

def _canonical(x):
    """``x`` as an array of the dtype s2s computes it in (float32 unless x64 is on)."""
    arr = np.asarray(x)
    return arr.astype(dtypes.canonicalize_dtype(arr.dtype), copy=False)


def _rand_like(rng, x):
    arr = _canonical(x)
    if arr.dtype.kind not in "fc":
        raise TypeError(f"check_grads differentiates floating-point inputs only; got a leaf of "
                        f"dtype {arr.dtype}. Close over integer arguments instead (functools.partial "
                        "or a lambda).")
    out = rng.randn(*arr.shape)
    if arr.dtype.kind == "c":
        out = out + 1j * rng.randn(*arr.shape)
    return np.asarray(out, arr.dtype)


def _axpy(a, xs, ys):
    # NumPy's promotion keeps a float64 primal float64; s2s then computes in its own dtype.
    return tree_map(lambda x, y: np.asarray(y) + np.asarray(a, np.asarray(x).dtype) * x, xs, ys)


def numerical_jvp(f, primals, tangents, eps=None):
    """Central-difference directional derivative ``(f(x + eps t) - f(x - eps t)) / (2 eps)``.

    >>> import numpy as np
    >>> round(float(numerical_jvp(lambda x: x * x, (np.float64(3.0),), (np.float64(1.0),))), 6)
    6.0
    """
    eps = EPS if eps is None else eps
    f_pos = f(*_axpy(eps, tangents, primals))
    f_neg = f(*_axpy(-eps, tangents, primals))
    return tree_map(lambda p, n: (np.asarray(p) - np.asarray(n)) * (0.5 / eps), f_pos, f_neg)


def _inner_product(xs, ys):
    """Sum over leaves of the real part of <x, y>, in float64 (or complex128)."""
    total = 0.0
    for x, y in zip(tree_flatten(xs)[0], tree_flatten(ys)[0]):
        x, y = np.asarray(x), np.asarray(y)
        if x.dtype.kind not in "fc" or y.dtype.kind not in "fc":
            continue  # float0 / integer cotangents carry nothing
        total += float(np.real(np.vdot(x.astype(np.complex128).ravel(),
                                       y.astype(np.complex128).ravel())))
    return total


def _gradient_close(actual, expected, atol, rtol, what, like):
    """Compares with gradient tolerances chosen by the dtypes of the leaves of ``like``."""
    leaves = [x for x in tree_flatten(like)[0]]
    atol = _tolerance(_GRADIENT_TOLERANCE, atol, *leaves)
    rtol = _tolerance(_GRADIENT_TOLERANCE, rtol, *leaves)
    assert_trees_allclose(actual, expected, rtol=rtol, atol=atol, err_msg=what)


def check_jvp(f, f_jvp, args, atol=None, rtol=None, eps=None, err_msg=""):
    """Checks ``f_jvp(primals, tangents) -> (out, tangent_out)`` against finite differences of ``f``.

    >>> import numpy as np
    >>> check_jvp(np.sin, lambda p, t: (np.sin(p[0]), np.cos(p[0]) * t[0]), (np.array([0.3]),))
    """
    rng = np.random.RandomState(0)
    tangents = tree_map(lambda x: _rand_like(rng, x), tuple(args))
    out, tangent_out = f_jvp(tuple(args), tangents)
    _gradient_close(out, f(*args), atol, rtol, _label(err_msg, "primal"), out)
    expected = numerical_jvp(f, args, tangents, eps=eps)
    _gradient_close(tangent_out, expected, atol, rtol, _label(err_msg, "tangent"), out)


def check_vjp(f, f_vjp, args, atol=None, rtol=None, eps=None, err_msg=""):
    """Checks ``f_vjp(*args) -> (out, vjp_fn)``: ``<vjp_fn(c), t>`` against ``<c, J t>``.

    ``J t`` is the central difference of ``f`` along a random ``t``; ``c`` is a
    random cotangent.

    >>> import numpy as np
    >>> check_vjp(np.sin, lambda x: (np.sin(x), lambda c: (np.cos(x) * c,)), (np.array([0.3]),))
    """
    rng = np.random.RandomState(0)
    out, vjp_fn = f_vjp(*args)
    _gradient_close(out, f(*args), atol, rtol, _label(err_msg, "primal"), out)
    tangents = tree_map(lambda x: _rand_like(rng, x), tuple(args))
    tangent_out = numerical_jvp(f, args, tangents, eps=eps)
    cotangent = tree_map(lambda x: _rand_like(rng, x), out)
    conj = lambda t: tree_map(np.conj, t)  # noqa: E731
    cotangent_out = conj(vjp_fn(conj(cotangent)))
    ip = _inner_product(tangents, cotangent_out)
    ip_expected = _inner_product(tangent_out, cotangent)
    _gradient_close(np.float64(ip), np.float64(ip_expected), atol, rtol,
                    _label(err_msg, "cotangent projection"), out)


def _label(err_msg, what):
    return f"{err_msg} {what}" if err_msg else what


def check_grads(f, args, order, modes=("fwd", "rev"), atol=None, rtol=None, eps=None):
    """Checks s2s's derivatives of ``f`` at ``args`` up to ``order`` against finite differences.

    As ``jax.test_util.check_grads``: ``"fwd"`` checks ``s2s.jvp`` (the tangent
    along a random direction against a central difference), ``"rev"`` checks
    ``s2s.vjp`` (the projection ``<vjp(c), t>`` against ``<c, J t>``); order 2
    and higher check the derivative of the derivative, and so on (in "fwd"
    mode recorded on the arguments, as JAX traces it). Tolerances
    and ``eps`` default to JAX's (2e-3 for float32, 1e-5 for float64, step
    1e-4); finite differences in float32 are rough, so enable x64 for tight
    checks. Raises ``AssertionError`` naming the check and the leaf that differs.

    >>> import numpy as np, s2s.numpy as snp
    >>> check_grads(lambda x, y: snp.tanh(x) * y, (np.array([0.2, -0.4]), np.array([1.5, 2.0])),
    ...             order=2, modes=("rev",))
    """
    args = tuple(args)
    unknown = set(modes) - {"fwd", "rev"}
    if unknown:
        raise ValueError(f"check_grads: unknown mode(s) {sorted(unknown)}; use 'fwd' and/or 'rev'")
    if order < 1:
        raise ValueError(f"check_grads: order must be at least 1, got {order}")
    if "fwd" in modes:
        _check_fwd(f, args, order, atol, rtol, eps, "")
    if "rev" in modes:
        _check_rev(f, args, order, atol, rtol, eps, "")


def _check_fwd(f, args, order, atol, rtol, eps, msg):
    import s2s
    jvp = s2s.jvp
    msg = f"JVP of {msg}" if msg else "JVP"
    check_jvp(f, lambda primals, tangents: jvp(f, primals, tangents), args, atol, rtol, eps, msg)
    if order > 1:
        # The next order differentiates the tangent along a fixed direction as a
        # function of the primals (the same arity, so jvp applies again).
        rng = np.random.RandomState(order)
        direction = tree_map(lambda x: _rand_like(rng, x), args)
        # Without source on purpose: jvp then records it on the actual arguments
        # (as JAX traces), since jvp's source path does not read a call of jvp.
        tangent_of = _with_arity(len(args), "tangent", "_jvp(_f, ({params},), _t)[1]",
                                 {"_jvp": jvp, "_f": f, "_t": direction}, f, with_source=False)
        _check_fwd(tangent_of, args, order - 1, atol, rtol, eps, msg)


def _check_rev(f, args, order, atol, rtol, eps, msg):
    import s2s
    msg = f"VJP of {msg}" if msg else "VJP"
    check_vjp(f, lambda *a: s2s.vjp(f, *a), args, atol, rtol, eps, msg)
    if order > 1:
        # The next order differentiates J(x)^T c for a fixed cotangent c: the
        # gradient of <c, f(x)>, written as source s2s can differentiate again.
        rng = np.random.RandomState(order)
        out_leaves, out_tree = tree_flatten(f(*args))
        paths = _leaf_paths(out_tree)
        if any("<" in p for p in paths):
            raise NotImplementedError(
                "check_grads: order > 1 in 'rev' mode needs outputs made of arrays, tuples, "
                "lists, dicts and namedtuples; this output holds a registered class")
        cts = [_rand_like(rng, leaf) for leaf in out_leaves]
        terms = " + ".join(f"_np.sum(_np.real(_c[{i}] * _out{path}))"
                           for i, path in enumerate(paths))
        projection = _with_arity(len(args), "projection", "_f({params})", {
            "_f": f, "_c": cts, "_np": s2s.numpy}, f, result=terms or "0.0")
        nums = tuple(range(len(args)))
        _check_rev(s2s.grad(projection, argnums=nums), args, order - 1, atol, rtol, eps, msg)


def _with_arity(n, kind, expr, namespace, f, result=None, with_source=True):
    """A function of ``n`` named parameters, with source s2s can read and transform
    (registered in ``linecache``) unless ``with_source`` is false.

    ``expr`` uses ``{params}``; with ``result``, the function binds ``expr`` to
    ``_out`` and returns ``result``.
    """
    params = ", ".join(f"a{i}" for i in range(n))
    name = f"{kind}_of_" + re.sub(r"\W", "", getattr(f, "__name__", "f"))
    body = f"    return {expr.format(params=params)}\n" if result is None else \
        f"    _out = {expr.format(params=params)}\n    return {result}\n"
    text = f"def {name}({params}):\n{body}"
    filename = f"<s2s.test_util {name}/{n} #{next(_counter)}>"
    if with_source:
        linecache.cache[filename] = (len(text), None, text.splitlines(True), filename)
    scope = dict(namespace)
    exec(compile(text, filename, "exec"), scope)
    return scope[name]


_counter = itertools.count(1)


# ---------------------------------------------------------------------------
# jit and vmap against references

def check_jit(f, *args, static_argnums=(), atol=None, rtol=None, **kwargs):
    """Checks that ``s2s.jit(f)(*args, **kwargs)`` equals ``f(*args, **kwargs)``: structure,
    dtypes and values (within rounding: 1e-5 for float32, 1e-12 for float64).

    >>> import numpy as np, s2s.numpy as snp
    >>> check_jit(lambda x, n: snp.cumsum(x) * n, np.arange(4.0), 2, static_argnums=1)
    """
    import s2s
    compiled = s2s.jit(f, static_argnums=static_argnums)(*args, **kwargs)
    eager = f(*args, **kwargs)
    assert_trees_allclose(compiled, eager, rtol=rtol, atol=atol, check_dtypes=True,
                          err_msg=f"jit({getattr(f, '__name__', f)}) against eager")


def check_vmap(f, *args, in_axes=0, out_axes=0, atol=None, rtol=None):
    """Checks ``s2s.vmap(f, in_axes, out_axes)(*args)`` against a Python loop over the examples.

    Each example slices the mapped arguments along their ``in_axes`` (``None``
    leaves them whole), runs ``f`` and the results are stacked along
    ``out_axes``; structure, dtypes and values must agree.

    >>> import numpy as np, s2s.numpy as snp
    >>> w, xs = np.ones((2, 3), np.float32), np.arange(12, dtype=np.float32).reshape(4, 3)
    >>> check_vmap(lambda w, x: snp.tanh(w @ x), w, xs, in_axes=(None, 0))
    """
    import s2s
    batched = s2s.vmap(f, in_axes=in_axes, out_axes=out_axes)(*args)
    _assert_batched_matches_loop(f, batched, args, in_axes, out_axes, atol, rtol)


def _assert_batched_matches_loop(f, batched, args, in_axes, out_axes, atol, rtol):
    """The comparison of ``check_vmap``, given the batched result."""
    axes = _axes_per_leaf(args, in_axes if isinstance(in_axes, (tuple, list)) else
                          (in_axes,) * len(args), "in_axes")
    leaves, treedef = tree_flatten(args)
    sizes = {np.shape(x)[ax] for x, ax in zip(leaves, axes) if ax is not None}
    if len(sizes) != 1:
        raise ValueError(f"check_vmap: the mapped axes must have one size, got {sorted(sizes)}")
    size = sizes.pop()
    outs = []
    for i in range(size):
        example = [x if ax is None else np.take(np.asarray(x), i, axis=ax)
                   for x, ax in zip(leaves, axes)]
        outs.append(f(*treedef.unflatten(example)))
    out_leaves, out_tree = tree_flatten(outs[0])
    per_example = [tree_flatten(o)[0] for o in outs]
    stacked = []
    for j, ax in enumerate(_axes_per_leaf(outs[0], out_axes, "out_axes")):
        if ax is None:  # unmapped output: every example must give the same value
            for k, leaves_k in enumerate(per_example[1:], 1):
                assert_trees_allclose(leaves_k[j], out_leaves[j], rtol=rtol, atol=atol,
                                      err_msg=f"check_vmap: out_axes=None output {j} of example {k}")
            stacked.append(out_leaves[j])
        else:
            stacked.append(np.stack([leaves_k[j] for leaves_k in per_example], axis=ax))
    expected = out_tree.unflatten(stacked)
    assert_trees_allclose(batched, expected, rtol=rtol, atol=atol, check_dtypes=True,
                          err_msg=f"vmap({getattr(f, '__name__', f)}) against a loop")


def _axes_per_leaf(tree, axes, what):
    """The axis of every leaf of ``tree``, given ``axes`` as a prefix of its structure."""
    leaves, treedef = tree_flatten(tree)
    if axes is None or isinstance(axes, int):
        return [axes] * len(leaves)
    axes_leaves, axes_tree = tree_flatten(axes, is_leaf=lambda a: a is None)
    try:
        per_subtree = axes_tree.flatten_up_to(tree)
    except Exception:
        raise ValueError(f"check_vmap: {what}={axes!r} is not a prefix of the arguments' structure")
    out = []
    for ax, sub in zip(axes_leaves, per_subtree):
        out.extend([ax] * len(tree_flatten(sub)[0]))
    return out
