"""vmap's batched source reads as NumPy: calls on operands of known per-example rank are
written as plain NumPy (no ``vcall``), and still equal a Python loop, eagerly and under jit."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
import seed_programs as seeds

R = onp.random.default_rng(0)
N = 4  # examples


def _f(*shape):
    return R.normal(size=shape).astype("f")


def _loop(fn, in_axes, args):
    outs = []
    for i in range(N):
        outs.append(fn(*[a if ax is None else onp.take(a, i, axis=ax)
                         for a, ax in zip(args, in_axes)]))
    return onp.stack([onp.asarray(o) for o in outs])


def _check(fn, in_axes, args):
    """The batched result equals the loop, eagerly and under jit; gives the batched source."""
    expected = _loop(fn, in_axes, args)
    f = s2s.vmap(fn, in_axes=in_axes)
    got = f(*args)
    onp.testing.assert_allclose(onp.asarray(got), expected, rtol=2e-5, atol=2e-6)
    assert onp.asarray(got).dtype == expected.dtype
    jitted = s2s.jit(s2s.vmap(fn, in_axes=in_axes))(*args)
    onp.testing.assert_allclose(onp.asarray(jitted), expected, rtol=2e-5, atol=2e-6)
    return s2s.source(f)


# Functions whose batched source is NumPy only; (function, in_axes, args, expected fragments).
PLAIN = [
    ("broadcast_higher_unbatched", lambda x, y: x + y, (0, None), [_f(N, 3), _f(2, 3)],
     ["x[:, None] + y"]),
    ("batched_scalar_times_matrix", lambda s, y: s * y, (0, None), [_f(N), _f(2, 3)],
     ["s[:, None, None] * y"]),
    ("two_batched_ranks", lambda x, y: np.maximum(x, y), (0, 0), [_f(N, 3), _f(N, 2, 3)],
     ["np.maximum(x[:, None], y)"]),
    ("where", lambda c, x, y: np.where(c > 0, x, y), (0, None, 0), [_f(N, 3), _f(2, 3), _f(N, 3)],
     ["np.where(t[:, None], x, y[:, None])"]),
    ("compare_and_tanh", lambda x, y: np.tanh(x) > y, (0, None), [_f(N, 3), _f(3)], ["> y"]),
    ("sum_all", lambda h: np.sum(h), (0,), [_f(N, 3)], ["np.sum(h, axis=1)"]),
    ("sum_all_matrix", lambda h: np.sum(h), (0,), [_f(N, 3, 2)], ["np.sum(h, axis=(1, 2))"]),
    ("mean_negative_axis", lambda h: np.mean(h, axis=-1, keepdims=True), (0,), [_f(N, 3, 2)],
     ["np.mean(h, axis=2, keepdims=True)"]),
    ("max_tuple_axis", lambda h: np.max(h, axis=(0, 2)), (0,), [_f(N, 2, 3, 4)],
     ["axis=(1, 3)"]),
    ("argmax_flat", lambda h: np.argmax(h), (0,), [_f(N, 3, 2)], ["np.argmax(np.reshape("]),
    ("cumsum_then_add", lambda h, b: np.cumsum(h, axis=0) + b, (0, None), [_f(N, 3, 2), _f(2)],
     ["np.cumsum(h, axis=1)"]),
    ("matvec_constant_matrix", lambda W, x: np.dot(W, x), (None, 0), [_f(2, 3), _f(N, 3)],
     ["np.dot(x, np.transpose(W))"]),
    ("vecmat", lambda x, W: np.dot(x, W), (0, None), [_f(N, 3), _f(3, 2)], ["np.dot(x, W)"]),
    ("matmul_operator", lambda x, W: x @ W, (0, None), [_f(N, 2, 3), _f(3, 5)], ["np.dot(x, W)"]),
    ("dot_both_batched", lambda x, y: np.dot(x, y), (0, 0), [_f(N, 3), _f(N, 3, 2)],
     ["np.einsum("]),
    ("matmul_both_batched", lambda a, b: a @ b, (0, 0), [_f(N, 2, 3), _f(N, 3, 2)], ["a @ b"]),
    ("index_slice", lambda h: h[1:] * 2.0, (0,), [_f(N, 3)], ["h[:, 1:]"]),
    ("index_int_and_newaxis", lambda h, y: h[0, None] + y, (0, None), [_f(N, 3, 2), _f(4, 2)],
     ["h[:, 0, None]"]),
    ("index_then_broadcast", lambda h, y: h[:, 0] + y, (0, None), [_f(N, 3, 2), _f(5, 3)],
     ["[:, None] + y"]),
    ("index_integer_array", lambda h, i: h[i] * 2.0, (0, None), [_f(N, 5), onp.array([0, 3, 3])],
     ["h[:, i]"]),
    ("transpose_reshape", lambda h: np.reshape(np.transpose(h), (-1,)) + h.T[0, 0], (0,),
     [_f(N, 2, 3)], ["np.transpose(h, (0, 2, 1))", "np.reshape(t, (t.shape[0], -1))"]),
    ("swap_expand", lambda h: np.expand_dims(np.swapaxes(h, 0, 1), 0), (0,), [_f(N, 2, 3)],
     ["np.swapaxes(h, 1, 2)", "np.expand_dims(t, 1)"]),
    ("shape_queries", lambda h: h * h.ndim + len(h) + h.shape[1], (0,), [_f(N, 2, 3)],
     ["h.shape[1:]", "h.shape[1]"]),
    ("methods", lambda h: h.reshape(3, 2).sum(axis=0) + h.T.mean(), (0,), [_f(N, 2, 3)],
     ["np.reshape(h, (h.shape[0], 3, 2))", "np.sum(t, axis=1)", "np.mean(t3, axis=(1, 2))"]),
    ("mapped_on_axis_1", lambda h, b: np.sum(h * b, axis=0), (1, None), [_f(3, N), _f(3)],
     ["np.sum(t, axis=1)"]),
]


@pytest.mark.parametrize("name,fn,in_axes,args,fragments", PLAIN, ids=[c[0] for c in PLAIN])
def test_batched_source_is_numpy(name, fn, in_axes, args, fragments):
    text = _check(fn, in_axes, args)
    assert "vcall" not in text and "getitem(" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def test_seed_predict_is_one_matrix_product():
    params = [(_f(2, 4), _f(4)), (_f(4, 1), _f(1))]
    inputs = _f(N, 2)
    text = _check(seeds.predict, (None, 0), [params, inputs])
    assert "t = np.dot(inputs, W)" in text and "outputs = t + b" in text
    assert "vcall" not in text


def test_user_function_called_from_batched_code_is_written_as_numpy():
    params = [(_f(2, 4), _f(4)), (_f(4, 1), _f(1))]
    f = s2s.vmap(seeds.logprob_fun, in_axes=(None, 0, 0))
    x, y = _f(N, 2), _f(N, 1)
    expected = _loop(seeds.logprob_fun, (None, 0, 0), [params, x, y])
    onp.testing.assert_allclose(f(params, x, y), expected, rtol=2e-5)
    from s2s.transforms import batch
    texts = [b.text for b in batch._builds[seeds.predict].values()]
    assert any("np.dot(inputs, W)" in t for t in texts)


class _Opaque:
    """A callable without source: the build knows nothing of its result."""

    def __call__(self, x):
        return x


_rank_hidden = _Opaque()


def test_unknown_ranks_keep_vcall_and_stay_exact():
    # `t` comes out of a call whose result the build knows nothing about: the sum and
    # the addition against a matrix keep vcall (their batch rules decide at run time).
    def f(x, y):
        t = _rank_hidden(x)
        return np.sum(t, axis=0) + y
    text = _check(f, (0, None), [_f(N, 3, 2), _f(5, 2)])
    assert "vcall(np.sum" in text


def test_mutated_list_is_not_described():
    # The list argument holds a matrix when called; the function appends a vector to it.
    # Described by the call's arguments, ws[-1] would be the matrix: a list mutated in
    # place is not described at all, so the addition keeps its run-time rule.
    def f(x, ws, y):
        ws.append(y)
        return ws[-1] + x
    xs, w, y = _f(N, 3), _f(2, 3), _f(3)
    vf = s2s.vmap(f, in_axes=(0, None, None))
    got = vf(xs, [w], y)
    onp.testing.assert_allclose(got, onp.stack([f(x, [w], y) for x in xs]))
    assert "x[:, None]" not in s2s.source(vf)


def test_rebuilt_per_argument_ranks():
    f = s2s.vmap(lambda x, y: x + y, in_axes=(0, None))
    f(_f(N, 3), _f(3))
    assert "x + y" in s2s.source(f)
    f(_f(N, 3), _f(2, 3))
    assert "x[:, None] + y" in s2s.source(f)
    onp.testing.assert_allclose(f(_f(N, 3) * 0 + 1, onp.ones((2, 3), "f")), onp.full((N, 2, 3), 2.0))


def test_source_says_why_there_is_none():
    f = s2s.vmap(np.tanh)
    assert "call the function first" in s2s.source(f)
    f(_f(N, 3))
    assert "library function with a batch rule" in s2s.source(f)
    g = s2s.vmap(s2s.vmap(lambda x: x * 2.0))  # the axes merged: one batched source
    g(_f(N, 2, 3))
    assert "x * 2.0" in s2s.source(g) and "vcall" not in s2s.source(g)
    g = s2s.vmap(s2s.vmap(lambda x: x * 2.0, axis_name="i"))  # named: merged too
    g(_f(N, 2, 3))
    assert "x * 2.0" in s2s.source(g) and "vcall" not in s2s.source(g)


# Every combination of batched/unbatched operands of per-example ranks 0-2: the padding
# the source writes must line up like the run-time rule (checked against the loop).
_RANKED = {0: (), 1: (3,), 2: (2, 3)}
_GRID = [(ra, rb, ba, bb) for ra in _RANKED for rb in _RANKED for ba in (0, None)
         for bb in (0, None) if ba == 0 or bb == 0]


@pytest.mark.parametrize("ra,rb,ba,bb", _GRID)
def test_elementwise_padding_grid(ra, rb, ba, bb):
    def f(a, b):
        return np.maximum(a * b, a - b) + np.where(a > b, a, 1.0)
    args = [_f(*((N,) if bx == 0 else ()) + _RANKED[r]) for r, bx in ((ra, ba), (rb, bb))]
    f_v = s2s.vmap(f, in_axes=(ba, bb))
    onp.testing.assert_allclose(f_v(*args), _loop(f, (ba, bb), args), rtol=1e-6)
    assert "vcall" not in s2s.source(f_v)


@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 1), (-1, 0)])
@pytest.mark.parametrize("keepdims", [False, True])
def test_reduction_axis_grid(axis, keepdims):
    # (the axis written in the source: a closure's value could change between calls)
    f = eval(f"lambda h, b: np.sum(h, axis={axis!r}, keepdims={keepdims}) * "
             f"np.max(h, axis={axis!r}, keepdims={keepdims}) + np.mean(b)")
    args = [_f(N, 2, 3), _f(3)]
    f_v = s2s.vmap(f, in_axes=(0, None))
    onp.testing.assert_allclose(f_v(*args), _loop(f, (0, None), args), rtol=1e-5)
    assert "vcall" not in s2s.source(f_v)


@pytest.mark.parametrize("index", ["h[1]", "h[-1, 1:]", "h[:, ::2]", "h[None, 0]", "h[..., 1]",
                                   "h[1:, None, :2]", "h[k]", "h[k, k:]"])
def test_indexing_grid(index):
    f = eval(f"lambda h, y, k: {index} + y")
    args = [_f(N, 3, 4), _f(1), 1]
    f_v = s2s.vmap(f, in_axes=(0, None, None))
    onp.testing.assert_allclose(f_v(*args), _loop(f, (0, None, None), args), rtol=1e-6)
    assert "getitem(" not in s2s.source(f_v) and "vcall" not in s2s.source(f_v)


def _double_rows(m):
    return m * 2.0


def _appends(ws, v, x):
    ws.append(v)
    return x * 2.0


def test_result_kind_of_a_user_function():
    # The helper's result is known to be a per-example matrix: the sum after it is NumPy,
    # while the helper itself runs its own batched source (vcall).
    def f(x):
        return np.sum(_double_rows(x), axis=0)
    text = _check(f, (0,), [_f(N, 3, 2)])
    assert "vcall(_double_rows" in text and "np.sum(t, axis=1)" in text


def test_list_a_user_function_mutates_is_not_described():
    # (the helper gets a batched argument: its batched build says it mutates lists)
    def f(x, ws, y):
        z = _appends(ws, y, x)
        return ws[-1] + z
    xs, w, y = _f(N, 3), _f(2, 3), _f(3)
    vf = s2s.vmap(f, in_axes=(0, None, None))
    onp.testing.assert_allclose(vf(xs, [w], y), onp.stack([f(x, [w], y) for x in xs]))
