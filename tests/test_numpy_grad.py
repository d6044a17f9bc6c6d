"""Reverse mode through s2s.numpy: the derivative templates of the composites and of
the NumPy-level primitives, against central finite differences."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np

W4 = onp.arange(4.0, dtype=onp.float32)
W22 = W4.reshape(2, 2)


def f_square(x):
    return np.sum(np.square(x))


def f_where(x):
    return np.sum(np.where(x > 1.1, x, 0.0))


def f_clip(x):
    return np.sum(np.clip(x, 0.7, 1.6) * W4)


def f_hypot(x):
    return np.sum(np.hypot(x, 2.0))


def f_logaddexp(x):
    return np.sum(np.logaddexp(x, 2.0 * x))


def f_logaddexp2(x):
    return np.sum(np.logaddexp2(x, 1.0))


def f_log2_log10(x):
    return np.sum(np.log2(x) + np.log10(x))


def f_deg(x):
    return np.sum(np.deg2rad(x) * np.rad2deg(x))


def f_sinc(x):
    return np.sum(np.sinc(x))


def f_reciprocal(x):
    return np.sum(np.reciprocal(x) * W4)


def f_abs(x):
    return np.sum(np.abs(x - 1.2) + np.fabs(x - 1.0))


def f_remainder(x):
    return np.sum(np.remainder(x, 0.7) + np.fmod(x, 0.6))


def f_float_power(x):
    return np.sum(np.float_power(x, 1.5))


def f_copysign(x):
    return np.sum(np.copysign(x, -1.0))


def f_nan_to_num(x):
    return np.sum(np.nan_to_num(x * 2.0))


def f_reshape_T(x):
    return np.sum(np.reshape(x, (2, 2)).T * W22)


def f_transpose(x):
    return np.sum(np.transpose(np.reshape(x, (2, 2, 1)), (1, 0, 2)) * W22[..., None])


def f_ravel(x):
    return np.sum(np.ravel(np.reshape(x, (2, 2))) * W4)


def f_expand_squeeze(x):
    return np.sum(np.squeeze(np.expand_dims(x, (0, 2))) * W4)


def f_swap_move(x):
    return np.sum(np.moveaxis(np.swapaxes(np.reshape(x, (1, 2, 2)), 1, 2), 0, -1)[..., 0] * W22)


def f_broadcast(x):
    return np.sum(np.broadcast_to(x, (3, 4)) * W4)


def f_flip(x):
    return np.sum(np.flip(x) * W4 + np.flipud(x)) + np.sum(np.fliplr(np.reshape(x, (2, 2)))[0])


def f_rot90(x):
    return np.sum(np.rot90(np.reshape(x, (2, 2))) * W22)


def f_concat(x):
    return np.sum(np.concatenate([x, x * 2]) * np.arange(8.0))


def f_concat_axis(x):
    joined = np.concatenate([np.reshape(x, (2, 2)), W22], axis=1)
    return np.sum(joined * np.arange(8.0).reshape(2, 4))


def f_concat_none(x):
    return np.sum(np.concatenate([np.reshape(x, (2, 2)), x], axis=None) * np.arange(8.0))


def f_stack(x):
    return np.sum(np.stack([x, 2 * x], axis=1) * np.arange(8.0).reshape(4, 2))


def f_take(x):
    along = np.take(np.reshape(x, (2, 2)), np.array([1, 1]), axis=-1)
    return np.sum(np.take(x, np.array([0, 0, 3]))) + np.sum(along[0] * W4[:2])


def f_tril(x):
    return np.sum(np.tril(np.reshape(x, (2, 2))) + np.triu(np.reshape(x, (2, 2)), 1) * 3.0)


def f_zero_deriv(x):
    return np.sum(np.floor(x) * x + np.where(np.isnan(x), 0.0, x) * np.sign(x))


def f_mixed(x):
    return np.mean(np.square(x - np.mean(x))) + np.sum(np.maximum(x, 1.0))


FUNCTIONS = [v for k, v in sorted(globals().items()) if k.startswith("f_")]


@pytest.mark.parametrize("f", FUNCTIONS, ids=[f.__name__[2:] for f in FUNCTIONS])
def test_grad_matches_finite_differences(f, x64):
    x = onp.array([0.55, 1.05, 1.55, 2.05], onp.float64)  # away from every kink
    g = s2s.grad(f)(x)
    eps = 1e-6
    num = [(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in onp.eye(4)]
    assert g.dtype == onp.float64
    onp.testing.assert_allclose(g, onp.asarray(num, onp.float64), rtol=1e-6, atol=1e-6)


def test_generated_source_reads_at_numpy_level():
    text = s2s.source(s2s.grad(f_hypot))
    assert "np.hypot" in text and "lax." not in text
