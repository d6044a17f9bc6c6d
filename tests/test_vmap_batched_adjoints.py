"""jacfwd, jacrev, hessian and vmap of grad without a call per example (issue 11: batched
tangents and cotangents, never a Python loop over basis vectors) where the gradient code
moves list and dict adjoints (``repeat_grad``, ``push_grad``, ``index_grad``, ...), calls
the builtins ``abs`` and ``sum``, takes ``maximum``'s share, contracts two batched
operands with ``tensordot`` or scatters an adjoint through an array index.

Each case names the corpus function (``grad_corpus.py``), the transformation, and the
helper that used to run once per example (``loops`` records those calls); the values are
checked against a Python loop over examples / central differences, eagerly and under jit.
"""
import warnings

import numpy as np
import pytest

import s2s
import s2s.numpy as snp

import grad_corpus as corpus
from cases import assert_trees_close, central_grad, central_jacobian, loop_over_examples

N = 3


def _fn(name):
    return next(f for f in corpus.CORPUS if f.__name__ == name)


def _args(fn):
    rng = np.random.default_rng(sum(map(ord, fn.__name__)))
    return corpus.inputs_for(fn, rng)


def _float_argnums(args):
    return tuple(i for i, a in enumerate(args) if isinstance(a, (float, np.ndarray)))


def _batch(x):
    return np.stack([np.asarray(x) * (1.0 + 0.1 * i) for i in range(N)])


def _moved(fn, args, k, x):
    """``fn`` at ``args`` with argument ``k`` replaced by ``x`` (plain NumPy, for differences)."""
    return fn(*args[:k], x if np.ndim(args[k]) else float(x[0]), *args[k + 1:])


# (corpus function, transformation, the helper once looped)
CASES = [
    ("list_mutation", "vmap_grad", "push_grad"), ("list_mutation", "jacrev", "setitem_grad"),
    ("list_mutation", "jacrev", "index_grad"), ("list_of_arrays", "vmap_grad", "repeat_grad"),
    ("list_of_arrays", "vmap_grad", "sum"), ("list_of_arrays", "jacrev", "repeat_grad"),
    ("comprehension_cond", "jacrev", "repeat_grad"), ("dict_iterate", "jacfwd", "index_grad"),
    ("dict_iterate", "hessian", "setitem_grad"), ("maximum_fn", "vmap_grad", "max_grad_share"),
    ("while_data_dependent", "vmap_grad", "abs"), ("reductions_mix", "vmap_grad", "tensordot"),
    ("advanced_index", "vmap_grad", "getitem_grad"), ("advanced_index", "jacrev", "getitem_grad"),
    ("advanced_index", "hessian", "getitem_grad"), ("bool_mask", "jacrev", "getitem_grad"),
    # np.array of a list built in a loop: its adjoint's per-example shape (it raised)
    ("comprehension", "vmap_grad", "array"),
]


def _run(name, kind, wrap):
    """The transformation's value and the value it must equal (a loop over examples, or
    central differences of the function / its gradient), for every float argument."""
    fn = _fn(name)
    args = _args(fn)
    argnums = _float_argnums(args)
    if kind == "vmap_grad":
        bargs = [_batch(a) if i in argnums else a for i, a in enumerate(args)]
        axes = [0 if i in argnums else None for i in range(len(args))]
        g = s2s.grad(fn, argnums=argnums)
        return wrap(s2s.vmap(g, in_axes=tuple(axes)))(*bargs), loop_over_examples(g, bargs, axes)
    got = wrap(getattr(s2s, kind)(fn, argnums=argnums))(*args)
    want = []
    for k in argnums:
        x = np.atleast_1d(np.asarray(args[k], np.float64))
        if kind == "hessian":
            grad = s2s.grad(fn, argnums=argnums)
            want.append(tuple(np.reshape(central_jacobian(
                lambda v: np.asarray(grad(*args[:k], v if np.ndim(args[k]) else float(v[0]),
                                          *args[k + 1:])[i]).ravel(), x, 1e-5),
                np.shape(args[i]) + np.shape(args[k])) for i in argnums))
        else:
            want.append(central_jacobian(lambda v: _moved(fn, args, k, v), x, 1e-6).reshape(
                np.shape(args[k])))
    if kind == "hessian":  # H[i][k]: the derivative of gradient i by argument k
        want = tuple(tuple(want[c][r] for c in range(len(argnums))) for r in range(len(argnums)))
    return got, tuple(want)


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit], ids=["eager", "jit"])
@pytest.mark.parametrize("name,kind,helper", CASES, ids=["-".join(c) for c in CASES])
def test_no_call_per_example(name, kind, helper, wrap, x64, loops):
    if wrap is s2s.jit and name in ("bool_mask", "while_data_dependent", "comprehension_cond"):
        pytest.skip("jit cannot stage it: a boolean mask's size, a while on the data, "
                    "a list appended to under a condition on the data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got, want = _run(name, kind, wrap)
    assert helper not in loops, loops
    assert_trees_close(got, want, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------
# The container helpers' rules, each against a loop over examples.


def concat_lists(a):
    parts = [a, 2.0 * a] + [a * a]
    return snp.sum(parts[0] * parts[2]) + snp.sum(parts[1])


def sum_of_columns(M):
    return snp.sum(sum(M) ** 2)


def unpack_rows(M):
    a, b, c, d = M
    return snp.sum(a * b) + snp.sum(c * snp.sin(d))


def both_batched_tensordot(M):
    return snp.sum(snp.tensordot(snp.tanh(M), M * M, axes=([1], [0])))


def adjacent_array_indices(M):
    return snp.sum(snp.sin(M[:, [2, 0, 0]]) * M[[1, 3, 3, 0], 1:4])


def pushed_list(a):
    out = [a, a * a]
    last = out.pop()
    out.append(snp.sin(last))
    return snp.sum(out[0] * out[1])


def rows_and_whole(M):
    """The adjoint of ``M`` is the rows' (``a, b, c, d = M``, ``sum(M)``) plus an array's."""
    a, b, c, d = M
    return snp.sum(sum(M) ** 2) + snp.sum(M * a) + snp.sum(b * c)


def whole_and_rows(M):
    return snp.sum(M[1] * M) + snp.sum(sum(M) ** 2)


def one_row_used(M):
    a, b = M
    return snp.sum(snp.sin(a))


@pytest.mark.parametrize("wrap", [lambda f: f, s2s.jit], ids=["eager", "jit"])
@pytest.mark.parametrize("fn,shape,helper", [
    (rows_and_whole, (4, 3), "pack_grad"), (whole_and_rows, (4, 3), "repeat_grad"),
    (one_row_used, (2, 3), "pack_grad"),
    (concat_lists, (4,), "concat_grads"), (sum_of_columns, (4, 3), "sum"),
    (unpack_rows, (4, 3), "unpack_grad"), (both_batched_tensordot, (3, 3), "tensordot"),
    (adjacent_array_indices, (4, 4), "getitem_grad"), (pushed_list, (3,), "push_grad"),
], ids=lambda v: getattr(v, "__name__", None))
def test_vmap_of_grad_matches_loop(fn, shape, helper, wrap, x64, loops):
    """The gradient (of one example, against central differences) and vmap of it (against
    a loop over examples): an array's adjoint assembled from its rows' is an array with the
    rows on the axis after the batch axis (it used to come back (4, N, 3) for (N, 4, 3)
    inputs, or fail eagerly when a row's adjoint was zero)."""
    xs = np.random.default_rng(len(fn.__name__)).normal(size=(N,) + shape)
    assert_trees_close(wrap(s2s.grad(fn))(xs[0]), central_grad(fn, xs[0]), rtol=1e-6, atol=1e-7)
    got = wrap(s2s.vmap(s2s.grad(fn)))(xs)
    assert helper not in loops, loops
    assert_trees_close(got, loop_over_examples(s2s.grad(fn), [xs], [0]), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("fn", [rows_and_whole, unpack_rows, sum_of_columns], ids=lambda f: f.__name__)
def test_hessian_of_row_adjoints(fn, x64, loops):
    x = np.random.default_rng(2).normal(size=(4, 3))
    want = central_jacobian(lambda v: s2s.grad(fn)(v.reshape(4, 3)).ravel(), x.ravel(),
                            1e-5).reshape(4, 3, 4, 3)
    for transform in (s2s.hessian, lambda f: s2s.jacfwd(s2s.grad(f))):
        assert_trees_close(s2s.jit(transform(fn))(x), want, rtol=1e-6, atol=1e-7)
        assert_trees_close(transform(fn)(x), want, rtol=1e-6, atol=1e-7)
    assert not loops, loops


def _sin_sum(x, w):
    return snp.sum(snp.sin(x) * w)


@pytest.mark.parametrize("argnums,in_axes", [(0, (0, None)), (1, (0, None)), ((0, 1), (0, 0))])
def test_completed_gradient_is_written_as_numpy(argnums, in_axes, loops):
    """``complete_grad`` of an array adjoint is written as called (no ``vcall``) where the
    build knows the adjoint is an array: the dtype cast and the zeros are every example's."""
    xs = np.random.default_rng(0).normal(size=(N, 4)).astype("f")
    w = np.random.default_rng(1).normal(size=(N, 4) if in_axes[1] == 0 else 4).astype("f")
    g = s2s.grad(_sin_sum, argnums=argnums)
    f = s2s.vmap(g, in_axes=in_axes)
    got = f(xs, w)
    text = s2s.source(f)
    assert "vcall(complete_grad" not in text and "complete_grad(" in text, text
    assert_trees_close(got, loop_over_examples(g, [xs, w], list(in_axes)), rtol=1e-6, atol=1e-6)
    assert not loops, loops
