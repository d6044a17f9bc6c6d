"""Every batch rule against a Python loop, with the mapped axis at each position."""

import os

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s import lax

R = onp.random.default_rng(1)


def _f(*shape):
    return R.normal(size=shape).astype("f")


# (name, function of the arrays, arrays): each array is mapped in turn, on each axis.
CASES = [
    ("add", np.add, [_f(3, 4), _f(4)]),
    ("multiply_scalar", lambda x: x * 2.0 + 1.0, [_f(3, 2)]),
    ("tanh", np.tanh, [_f(3, 2)]),
    ("where", lambda c, x, y: np.where(c > 0, x, y), [_f(3, 2), _f(3, 2), _f(2)]),
    ("maximum", np.maximum, [_f(2, 3), _f(3)]),
    ("clip", lambda x: np.clip(x, -0.5, 0.5), [_f(3, 2)]),
    ("sum_axis", lambda x: np.sum(x, axis=1), [_f(3, 4, 2)]),
    ("sum_all", np.sum, [_f(3, 4)]),
    ("mean_neg", lambda x: np.mean(x, axis=-1, keepdims=True), [_f(3, 4)]),
    ("max_tuple", lambda x: np.max(x, axis=(0, 2)), [_f(2, 3, 4)]),
    ("argmax", lambda x: np.argmax(x, axis=0), [_f(4, 3)]),
    ("argmax_flat", np.argmax, [_f(4, 3)]),
    ("cumsum", lambda x: np.cumsum(x, axis=1), [_f(2, 3)]),
    ("std", lambda x: np.std(x, axis=0), [_f(4, 3)]),
    ("sort", lambda x: np.sort(x, axis=-1), [_f(3, 4)]),
    ("reshape", lambda x: np.reshape(x, (2, -1)), [_f(2, 6)]),
    ("ravel", np.ravel, [_f(2, 3)]),
    ("transpose", np.transpose, [_f(2, 3, 4)]),
    ("transpose_axes", lambda x: np.transpose(x, (1, 2, 0)), [_f(2, 3, 4)]),
    ("swapaxes", lambda x: np.swapaxes(x, 0, -1), [_f(2, 3, 4)]),
    ("moveaxis", lambda x: np.moveaxis(x, 0, -1), [_f(2, 3, 4)]),
    ("expand_dims", lambda x: np.expand_dims(x, -1), [_f(2, 3)]),
    ("squeeze", np.squeeze, [_f(2, 1, 3)]),
    ("broadcast_to", lambda x: np.broadcast_to(x, (4, 3)), [_f(3)]),
    ("concatenate", lambda x, y: np.concatenate([x, y], axis=0), [_f(2, 3), _f(4, 3)]),
    ("stack", lambda x, y: np.stack([x, y], axis=1), [_f(2, 3), _f(2, 3)]),
    ("tile", lambda x: np.tile(x, (2, 1)), [_f(2, 3)]),
    ("flip", lambda x: np.flip(x, axis=0), [_f(2, 3)]),
    ("roll", lambda x: np.roll(x, 1, axis=1), [_f(2, 3)]),
    ("split", lambda x: np.split(x, 2, axis=1), [_f(3, 4)]),
    ("dot_mv", np.dot, [_f(3, 4), _f(4)]),
    ("dot_vm", np.dot, [_f(4), _f(4, 3)]),
    ("dot_mm", np.dot, [_f(2, 4), _f(4, 3)]),
    ("dot_vv", np.dot, [_f(4), _f(4)]),
    ("matmul_mm", np.matmul, [_f(2, 4), _f(4, 3)]),
    ("matmul_mv", np.matmul, [_f(2, 4), _f(4)]),
    ("matmul_batch", np.matmul, [_f(2, 3, 4), _f(4, 5)]),
    ("matmul_op", lambda a, b: a @ b, [_f(3, 4), _f(4, 2)]),
    ("outer", np.outer, [_f(3), _f(4)]),
    ("inner", np.inner, [_f(3), _f(3)]),
    ("einsum", lambda a, b: np.einsum("ij,jk->ik", a, b), [_f(2, 3), _f(3, 4)]),
    ("tensordot", lambda a, b: np.tensordot(a, b, axes=1), [_f(2, 3), _f(3, 4)]),
    ("getitem", lambda x: x[1:, 0], [_f(3, 4)]),
    ("getitem_ellipsis", lambda x: x[..., ::2], [_f(3, 4)]),
    ("zeros_like", np.zeros_like, [_f(2, 3)]),
    ("softmax", lambda x: s2s.nn.softmax(x), [_f(2, 3)]),
    ("logsumexp", lambda x: s2s.scipy.special.logsumexp(x, axis=0), [_f(3, 2)]),
    ("inv", np.linalg.inv, [_f(3, 3) + 3 * onp.eye(3, dtype="f")]),
    ("det", np.linalg.det, [_f(3, 3)]),
    ("lax_reduce_sum", lambda x: lax.reduce_sum(x, axes=(1,)), [_f(2, 3, 4)]),
    ("lax_reduce_max", lambda x: lax.reduce_max(x, axes=(0, 1)), [_f(2, 3)]),
    ("lax_argmax", lambda x: lax.argmax(x, axis=1), [_f(2, 3)]),
    ("lax_cumsum", lambda x: lax.cumsum(x, axis=0, reverse=True), [_f(3, 2)]),
    ("lax_transpose", lambda x: lax.transpose(x, permutation=(1, 0)), [_f(2, 3)]),
    ("lax_broadcast_in_dim", lambda x: lax.broadcast_in_dim(x, shape=(2, 3, 4),
                                                            broadcast_dimensions=(1,)), [_f(3)]),
    ("lax_reshape", lambda x: lax.reshape(x, new_sizes=(3, 2)), [_f(2, 3)]),
    ("lax_slice", lambda x: lax.slice(x, start_indices=(1, 0), limit_indices=(3, 2)), [_f(3, 3)]),
    ("lax_pad", lambda x: lax.pad(x, 0.0, padding_config=((1, 2, 0),)), [_f(3)]),
    ("lax_rev", lambda x: lax.rev(x, dimensions=(0,)), [_f(3, 2)]),
    ("lax_squeeze", lambda x: lax.squeeze(x, dimensions=(1,)), [_f(3, 1)]),
    ("lax_expand_dims", lambda x: lax.expand_dims(x, dimensions=(0,)), [_f(3)]),
    ("lax_concatenate", lambda x, y: lax.concatenate(x, y, dimension=0), [_f(2, 3), _f(1, 3)]),
    ("lax_sort", lambda x: lax.sort(x, dimension=0), [_f(4, 2)]),
    ("lax_dot_general", lambda a, b: lax.dot_general(
        a, b, dimension_numbers=(((1,), (0,)), ((), ()))), [_f(2, 3), _f(3, 4)]),
    ("lax_dot_general_batch", lambda a, b: lax.dot_general(
        a, b, dimension_numbers=(((2,), (1,)), ((0,), (0,)))), [_f(2, 3, 4), _f(2, 4, 5)]),
    ("lax_dynamic_slice", lambda x: lax.dynamic_slice(x, (1,), (2,)), [_f(4)]),
    ("lax_dynamic_slice_negative", lambda x: lax.dynamic_slice(x, (-3,), slice_sizes=(2,)), [_f(4)]),
    ("lax_dynamic_update_slice", lambda x, u: lax.dynamic_update_slice(x, u, (1,)), [_f(4), _f(2)]),
    ("lax_clamp", lambda x: lax.clamp(-0.5, x, 0.5), [_f(3)]),
    ("lax_convert", lambda x: lax.convert_element_type(x, new_dtype=onp.int32), [_f(3)]),
    ("lax_reduce_window_sum", lambda x: lax.reduce_window_sum(
        x, window_dimensions=(2,), window_strides=(1,)), [_f(4)]),
]


def _positions(arrays):
    """(index of the mapped array, axis) pairs: each array, each axis, a negative one too."""
    out = []
    for i, a in enumerate(arrays):
        for ax in range(a.ndim + 1):
            out.append((i, ax))
        out.append((i, -1))
    return out


def _batched_inputs(arrays, i, ax, n=3):
    batch = onp.stack([arrays[i] + k for k in range(n)], axis=ax)
    return [batch if j == i else a for j, a in enumerate(arrays)]


_MAX = int(os.environ.get("S2S_NUM_GENERATED_CASES", "10"))


@pytest.mark.parametrize("name,fn,arrays", CASES, ids=[c[0] for c in CASES])
def test_batch_rule_against_loop(name, fn, arrays):
    for i, ax in _positions(arrays)[:max(_MAX, 4)]:
        args = _batched_inputs(arrays, i, ax)
        in_axes = tuple(ax if j == i else None for j in range(len(arrays)))
        out = s2s.vmap(fn, in_axes=in_axes)(*args)
        mapped = args[i]
        ref = [fn(*[onp.take(mapped, k, axis=ax) if j == i else a for j, a in enumerate(args)])
               for k in range(mapped.shape[ax])]
        ref = s2s.tree_util.tree_map(lambda *xs: onp.stack(xs), *ref)
        _close(out, ref, f"{name} mapping argument {i} on axis {ax}")


def _close(a, b, what):
    la, ta = s2s.tree_util.tree_flatten(a)
    lb, tb = s2s.tree_util.tree_flatten(b)
    assert ta == tb, what
    for x, y in zip(la, lb):
        assert onp.shape(x) == onp.shape(y), what
        assert onp.asarray(x).dtype == onp.asarray(y).dtype, what
        onp.testing.assert_allclose(onp.asarray(x, onp.float64), onp.asarray(y, onp.float64),
                                    rtol=1e-4, atol=1e-4, err_msg=what)


@pytest.mark.parametrize("name,fn,arrays", CASES[::6], ids=[c[0] for c in CASES[::6]])
def test_batch_rule_under_jit_matches_eager(name, fn, arrays):
    args = _batched_inputs(arrays, 0, 0)
    in_axes = (0,) + (None,) * (len(arrays) - 1)
    eager = s2s.vmap(fn, in_axes=in_axes)(*args)
    staged = s2s.jit(s2s.vmap(fn, in_axes=in_axes))(*args)
    _close(staged, eager, name)



