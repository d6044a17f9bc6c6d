"""Shape manipulation against NumPy on generated shapes and dtypes, eager and under jit."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s.errors import ConcretizationError, ShapeError

from cases import rand, sample
from np_checks import check, check_cases, check_error

DTYPES = [onp.float32, onp.int32, onp.bool_, onp.complex64, onp.float16]


def _x(shape, dtype, seed=0):
    return rand(shape, dtype, onp.random.default_rng(seed))


def _run(name, fn, ref, shapes, **kw):
    """fn against ref on sampled (shape, dtype) cases; one jit per dtype batch."""
    cases = []
    for case in sample(name, shape=shapes, dtype=DTYPES):
        x = _x(case["shape"], case["dtype"], len(cases))
        cases.append(((x,), ref(x)))
    check_cases(fn, cases, jit_every=2, dtype=True, exact=True, **kw)


@pytest.mark.parametrize("new", [(-1,), (3, -1), (2, 3, 2), (12,), (-1, 1, 2)])
def test_reshape(new):
    _run(f"reshape{new}", lambda a: snp.reshape(a, new), lambda a: onp.reshape(a, new),
         [(12,), (3, 4), (2, 2, 3)])
    x = _x((3, 4), onp.float32)
    check(lambda a: (a.reshape(new), a.reshape(*new), snp.reshape(a, shape=new)), (x,),
          (x.reshape(new),) * 3, exact=True)


def test_reshape_errors():
    check_error(ShapeError, lambda a: snp.reshape(a, (5, -1)), (onp.zeros(12),),
                match="cannot reshape array of shape (12,)")
    check_error(ShapeError, lambda a: snp.reshape(a, (-1, -1)), (onp.zeros(12),),
                match="one unknown dimension")
    check_error(NotImplementedError, lambda a: snp.reshape(a, (12,), order="F"),
                (onp.zeros(12),), match="order")


@pytest.mark.parametrize("axes", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1)])
def test_transpose(axes):
    _run(f"transpose{axes}", lambda a: snp.transpose(a, axes), lambda a: onp.transpose(a, axes),
         [(2, 3, 4), (1, 2, 3)])


def test_transpose_like():
    x = _x((2, 3, 4), onp.float32)
    check(lambda a: (a.T, a.mT, a.transpose(), a.transpose(1, 0, 2), a.transpose((2, 1, 0)),
                     snp.swapaxes(a, 0, -1), snp.moveaxis(a, 0, -1),
                     snp.moveaxis(a, (0, 1), (-1, 0)), snp.permute_dims(a, (1, 2, 0)),
                     snp.matrix_transpose(a), snp.ravel(a), a.flatten()), (x,),
          (x.T, onp.swapaxes(x, -1, -2), x.transpose(), x.transpose(1, 0, 2), x.transpose(2, 1, 0),
           onp.swapaxes(x, 0, -1), onp.moveaxis(x, 0, -1), onp.moveaxis(x, (0, 1), (-1, 0)),
           onp.transpose(x, (1, 2, 0)), onp.swapaxes(x, -1, -2), x.ravel(), x.flatten()),
          exact=True)
    check_error(ShapeError, lambda a: snp.transpose(a, (0, 0, 1)), (x,), match="transpose")
    check_error(ShapeError, lambda a: snp.transpose(a, (0, 1)), (x,), match="don't match")
    check_error(ShapeError, lambda a: snp.swapaxes(a, 0, 3), (x,), match="out of bounds")


def test_expand_squeeze():
    x = _x((1, 3, 1), onp.int32)
    check(lambda a: (snp.expand_dims(a, 0), snp.expand_dims(a, (0, -1)), snp.squeeze(a),
                     snp.squeeze(a, 0), snp.squeeze(a, (0, 2)), a.squeeze(-1)), (x,),
          (onp.expand_dims(x, 0), onp.expand_dims(x, (0, -1)), onp.squeeze(x),
           onp.squeeze(x, 0), onp.squeeze(x, (0, 2)), x.squeeze(-1)), exact=True)
    check_error(ShapeError, lambda a: snp.squeeze(a, 1), (x,), match="squeeze")
    check_error(ShapeError, lambda a: snp.expand_dims(a, 5), (x,), match="expand_dims")


@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_concatenate_stack(axis):
    a, b = _x((2, 3), onp.float32, 1), _x((2, 3), onp.int32, 2)
    check(lambda x, y: snp.concatenate([x, y, x], axis=axis), (a, b),
          onp.concatenate([a, b, a], axis=axis).astype(onp.float32), exact=True)
    if axis is not None:
        check(lambda x, y: (snp.stack([x, y], axis=axis), snp.stack((x,), axis=axis)), (a, b),
              (onp.stack([a, b], axis=axis).astype(onp.float32), onp.stack([a], axis=axis)),
              exact=True)
    check(lambda x: snp.concatenate([x, x], axis=0, dtype=onp.int8), (a,),
          onp.concatenate([a, a]).astype(onp.int8), exact=True)


def test_join_errors():
    a = onp.zeros((2, 3))
    check_error(ShapeError, lambda x: snp.concatenate([x, x[0]]), (a,), match="concatenate")
    check_error(ShapeError, lambda x: snp.concatenate([x, x[:, :2]]), (a,), match="concatenate")
    check_error(ShapeError, lambda x: snp.stack([x, x[0]]), (a,), match="same shape")
    check_error(ShapeError, lambda x: snp.stack([x, x], axis=3), (a,), match="out of bounds")
    check_error(ShapeError, lambda x: snp.concatenate([x[0, 0], x[0, 0]]), (a,),
                match="dimensions")


def test_stacking_helpers():
    a, b = onp.arange(3, dtype=onp.float32), onp.arange(3, 6, dtype=onp.float32)
    m = onp.arange(6, dtype=onp.float32).reshape(2, 3)
    check(lambda x, y, z: (snp.hstack([x, y]), snp.vstack([x, y]), snp.dstack([x, y]),
                           snp.column_stack([x, y]), snp.hstack([z, z]), snp.vstack([z, x]),
                           snp.dstack([z, z]), snp.column_stack([z.T, x]), snp.row_stack([x, y]),
                           snp.atleast_1d(x[0]), snp.atleast_2d(x), snp.atleast_3d(z),
                           snp.atleast_3d(x), snp.atleast_1d(x, z)),
          (a, b, m),
          (onp.hstack([a, b]), onp.vstack([a, b]), onp.dstack([a, b]), onp.column_stack([a, b]),
           onp.hstack([m, m]), onp.vstack([m, a]), onp.dstack([m, m]),
           onp.column_stack([m.T, a]), onp.vstack([a, b]), onp.atleast_1d(a[0]),
           onp.atleast_2d(a), onp.atleast_3d(m), onp.atleast_3d(a), onp.atleast_1d(a, m)),
          exact=True)


@pytest.mark.parametrize("spec", [3, [1, 4], [2, 2], [-2], [0, 10]])
@pytest.mark.parametrize("axis", [0, 1])
def test_split(spec, axis):
    x = _x((6, 6), onp.int32)
    ref = onp.array_split(x, spec, axis=axis)
    check(lambda a: snp.array_split(a, spec, axis=axis), (x,), ref, exact=True)
    if not isinstance(spec, int) or 6 % spec == 0:
        check(lambda a: snp.split(a, spec, axis=axis), (x,), onp.split(x, spec, axis=axis),
              exact=True)
    check(lambda a: snp.array_split(a, 4, axis=axis), (x,), onp.array_split(x, 4, axis=axis),
          exact=True)


def test_split_variants_and_errors():
    x = _x((2, 4, 6), onp.float32)
    check(lambda a: (snp.hsplit(a, 2), snp.vsplit(a, 2), snp.dsplit(a, [1, 3])), (x,),
          (onp.hsplit(x, 2), onp.vsplit(x, 2), onp.dsplit(x, [1, 3])), exact=True)
    with pytest.raises(ValueError, match="equal division"):
        snp.split(x, 3, axis=1)


@pytest.mark.parametrize("reps", [2, (2, 1), (1, 2, 3), (0, 2)])
def test_tile(reps):
    _run(f"tile{reps}", lambda a: snp.tile(a, reps), lambda a: onp.tile(a, reps),
         [(3,), (2, 3), ()])


@pytest.mark.parametrize("repeats,axis", [(2, None), (3, 0), (2, 1), ([1, 0, 2], 1),
                                          ([2], 0), (0, 0)])
def test_repeat(repeats, axis):
    x = _x((2, 3), onp.int32)
    check(lambda a: (snp.repeat(a, repeats, axis=axis), a.repeat(repeats, axis=axis)), (x,),
          (onp.repeat(x, repeats, axis=axis),) * 2, exact=True)


def test_repeat_errors():
    check_error(ShapeError, lambda a: snp.repeat(a, [1, 2], axis=1), (onp.zeros((2, 3)),),
                match="repeats")
    with pytest.raises(ConcretizationError, match="static"):
        s2s.jit(lambda a, r: snp.repeat(a, r))(onp.zeros(3), onp.array([1, 2, 3]))


def test_broadcasting():
    x = _x((3, 1), onp.float32)
    y = _x((4,), onp.int32)
    check(lambda a: snp.broadcast_to(a, (2, 3, 5)), (x,), onp.broadcast_to(x, (2, 3, 5)),
          exact=True)
    check(lambda a, b: snp.broadcast_arrays(a, b), (x, y), onp.broadcast_arrays(x, y),
          exact=True)
    assert snp.broadcast_shapes((3, 1), (4,), ()) == (3, 4)
    check_error(ShapeError, lambda a: snp.broadcast_to(a, (3, 2)), (onp.zeros(3),),
                match="broadcast_to")
    with pytest.raises(ShapeError, match="broadcast_shapes"):
        snp.broadcast_shapes((2,), (3,))
    check(lambda: snp.broadcast_to(2.5, (2,)), (), onp.full(2, 2.5, onp.float32), exact=True)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1), -1])
def test_flip(axis):
    _run(f"flip{axis}", lambda a: snp.flip(a, axis), lambda a: onp.flip(a, axis),
         [(3, 4), (2, 3, 2)])


def test_flip_lr_ud_rot90():
    x = _x((2, 3, 4), onp.int32)
    outs = [snp.fliplr, snp.flipud] + [lambda a, k=k, ax=ax: snp.rot90(a, k, ax)
                                       for k in (1, 2, 3, -1, 4) for ax in ((0, 1), (2, 0))]
    refs = [onp.fliplr, onp.flipud] + [lambda a, k=k, ax=ax: onp.rot90(a, k, ax)
                                       for k in (1, 2, 3, -1, 4) for ax in ((0, 1), (2, 0))]
    check(lambda a: [f(a) for f in outs], (x,), [r(x) for r in refs], exact=True)
    check_error(ShapeError, snp.fliplr, (onp.zeros(3),), match="fliplr")


@pytest.mark.parametrize("shift,axis", [(1, None), (-2, 0), (7, 1), ((1, 2), (0, 1)),
                                        (3, (0, 1)), ((1, -1), 1)])
def test_roll(shift, axis):
    x = _x((3, 4), onp.float32)
    check(lambda a: snp.roll(a, shift, axis), (x,), onp.roll(x, shift, axis), exact=True)


def test_roll_staged_shift():
    x = _x((3, 5), onp.int32)
    for s in (-7, -1, 0, 2, 12):
        check(lambda a, sh: snp.roll(a, sh, axis=1), (x, onp.int32(s)), onp.roll(x, s, axis=1),
              exact=True)


@pytest.mark.parametrize("mode", ["constant", "edge", "reflect", "symmetric", "wrap"])
@pytest.mark.parametrize("width", [1, (2, 3), ((1, 0), (0, 4)), ((5, 6), (7, 1))])
def test_pad(mode, width):
    x = _x((3, 4), onp.float32)
    check(lambda a: snp.pad(a, width, mode=mode), (x,), onp.pad(x, width, mode=mode),
          exact=True)


def test_pad_constant_values_and_errors():
    x = _x((2, 3), onp.int32)
    for cv in (7, (1, 2), ((1, 2), (3, 4))):
        check(lambda a: snp.pad(a, 1, constant_values=cv), (x,),
              onp.pad(x, 1, constant_values=cv), exact=True)
    check(lambda a, v: snp.pad(a, 1, constant_values=v), (x, onp.int32(5)),
          onp.pad(x, 1, constant_values=5), exact=True)
    with pytest.raises(NotImplementedError, match="mode"):
        snp.pad(x, 1, mode="median")
    with pytest.raises(ShapeError, match="pad_width"):
        snp.pad(x, ((1, 2, 3),))
    with pytest.raises(ValueError, match="non-negative"):
        snp.pad(x, -1)


@pytest.mark.parametrize("obj,axis", [(1, None), (1, 0), ([0, 2], 1), (slice(0, 2), 1),
                                      (-1, 1), ([1], 0)])
def test_insert_delete(obj, axis):
    x = _x((3, 4), onp.int32)
    vals = 9 if axis is None else onp.arange(4, dtype=onp.int32) * -1
    if axis == 1:
        vals = onp.arange(3, dtype=onp.int32)[:, None] * -1
    check(lambda a: snp.insert(a, obj, vals, axis=axis), (x,),
          onp.insert(x, obj, vals, axis=axis), exact=True)
    check(lambda a: snp.delete(a, obj, axis=axis), (x,), onp.delete(x, obj, axis=axis),
          exact=True)
    check(lambda a: snp.append(a, a, axis=axis), (x,), onp.append(x, x, axis=axis), exact=True)


def test_shape_queries():
    x = onp.zeros((2, 3))
    assert snp.shape(x) == (2, 3) and snp.ndim(x) == 2 and snp.size(x) == 6
    assert snp.size(x, 1) == 3 and snp.shape(2.0) == () and snp.ndim([[1]]) == 2

    def f(a):
        assert snp.shape(a) == (2, 3) and snp.ndim(a) == 2 and snp.size(a, -1) == 3
        assert len(a) == 2 and a.size == 6 and a.nbytes == 24
        return a
    s2s.jit(f)(x.astype(onp.float32))
