"""Array creation against NumPy (jax.numpy's default dtypes), eager and under jit."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import ConcretizationError, ShapeError

from np_checks import check, check_error

F32, I32 = onp.dtype(onp.float32), onp.dtype(onp.int32)


def _eq(out, expected, dtype):
    assert type(out) is s2s.Array, type(out)
    assert out.dtype == onp.dtype(dtype), (out.dtype, dtype)
    onp.testing.assert_allclose(onp.asarray(out, onp.float64) if out.dtype.kind != "c" else out,
                                expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("args,expected,dtype", [
    ((3.5,), 3.5, F32), ((1,), 1, I32), ((True,), True, onp.bool_), ((1 + 2j,), 1 + 2j,
                                                                      onp.complex64),
    (([1, 2],), [1, 2], I32), (([1.0, 2],), [1, 2], F32), (([[1], [2]],), [[1], [2]], I32),
    ((onp.arange(3, dtype=onp.int64),), [0, 1, 2], I32), ((onp.float64(2),), 2, F32),
    (([1, 2], onp.float16), [1, 2], onp.float16), ((onp.ones(2), dtypes.bfloat16), [1, 1],
                                                   dtypes.bfloat16),
    (([onp.float32(1), onp.float32(2)],), [1, 2], F32), (([],), onp.zeros(0), F32),
    ((onp.array([1.7, -1.7]), "int32"), [1, -1], I32), (((1, 2),), [1, 2], I32),
])
def test_asarray(args, expected, dtype):
    _eq(snp.asarray(*args), expected, dtype)
    _eq(snp.array(*args), expected, dtype)


def test_asarray_x64(x64):
    _eq(snp.asarray([1.0]), [1.0], onp.float64)
    _eq(snp.asarray([1]), [1], onp.int64)
    _eq(snp.arange(3), [0, 1, 2], onp.int64)
    _eq(snp.zeros(2), [0, 0], onp.float64)
    _eq(snp.linspace(0, 1, 3), [0, 0.5, 1], onp.float64)


def test_asarray_copy_and_view():
    a = onp.arange(3.0, dtype=onp.float32)
    assert snp.asarray(a).base is a or snp.asarray(a).base is a.base or \
        onp.shares_memory(snp.asarray(a), a)
    assert not onp.shares_memory(snp.array(a), a)
    assert not onp.shares_memory(snp.asarray(a, copy=True), a)
    assert not onp.shares_memory(snp.copy(a), a)
    out = snp.array([[1, 2]], ndmin=4)
    assert out.shape == (1, 1, 1, 2)
    with pytest.raises(NotImplementedError, match="order"):
        snp.asarray(a, order="F")
    with pytest.raises(TypeError, match="not supported"):
        snp.asarray(["a", "b"])
    with pytest.raises(ShapeError, match="asarray"):
        snp.asarray([[1, 2], [3]])


def test_lists_of_tracers_stack():
    x = onp.arange(6.0, dtype=onp.float32).reshape(2, 3)

    def f(a):
        return (snp.asarray([a[0], a[1]]), snp.array([[a[0, 0], 1.0], [2, a[1, 2]]]),
                snp.array((a[0], [7.0, 8.0, 9.0])), snp.asarray([a[0, 0], 3], dtype=onp.int32),
                snp.array([a[0]], ndmin=3))

    expected = (x, onp.array([[0, 1], [2, 5]]), onp.array([x[0], [7, 8, 9]]),
                onp.array([0, 3]), x[:1][None])
    out = check(f, (x,), expected)
    assert [o.dtype for o in out] == [F32, F32, F32, I32, F32]
    with pytest.raises(ShapeError, match="ragged"):
        s2s.jit(lambda a: snp.asarray([a[0], a[0, :2]]))(x)
    f16 = onp.ones(2, onp.float16)
    assert s2s.jit(lambda a: snp.asarray([a[0], 2.0]))(f16).dtype == onp.float16


@pytest.mark.parametrize("name", ["zeros", "ones", "empty"])
@pytest.mark.parametrize("shape", [(), 3, (2, 3), (0, 2), [2]])
@pytest.mark.parametrize("dtype", [None, onp.int8, "float16", onp.bool_, int, float, complex])
def test_filled(name, shape, dtype):
    out = getattr(snp, name)(shape, dtype=dtype)
    ref = getattr(onp, name if name != "empty" else "zeros")(shape, dtype=dtype)
    want = dtypes.canonicalize_dtype(ref.dtype)
    assert out.shape == ref.shape and out.dtype == want and type(out) is s2s.Array
    onp.testing.assert_array_equal(out, ref.astype(want))


def test_full():
    _eq(snp.full((2,), 3), [3, 3], I32)
    _eq(snp.full((2,), 3.0), [3, 3], F32)
    _eq(snp.full((2,), 3, dtype=onp.float16), [3, 3], onp.float16)
    _eq(snp.full((2, 3), onp.arange(3)), onp.broadcast_to(onp.arange(3), (2, 3)), I32)
    _eq(snp.full(2, onp.float16(1)), [1, 1], onp.float16)
    check(lambda v: snp.full((2, 2), v), (onp.float32(1.5),), onp.full((2, 2), 1.5),
          dtype=F32)
    check(lambda v: snp.full((3, 2), v), (onp.arange(2.0, dtype=onp.float32),),
          onp.full((3, 2), onp.arange(2.0)), dtype=F32)
    with pytest.raises(ShapeError, match="negative"):
        snp.zeros((2, -1))
    with pytest.raises(ConcretizationError, match="static"):
        s2s.jit(lambda n: snp.zeros(n))(onp.int32(3))


def test_like_functions():
    x = onp.arange(6, dtype=onp.int16).reshape(2, 3)
    for name, value in [("zeros_like", 0), ("ones_like", 1), ("empty_like", 0)]:
        fn = getattr(snp, name)
        check(fn, (x,), onp.full(x.shape, value, onp.int16), exact=True)
        check(lambda a: fn(a, dtype=onp.float32), (x,), onp.full(x.shape, value, F32),
              dtype=F32)
        check(lambda a: fn(a, shape=(4,)), (x,), onp.full((4,), value, onp.int16), exact=True)
    check(lambda a: snp.full_like(a, 2.7), (x,), onp.full(x.shape, 2, onp.int16), exact=True)
    check(lambda a: snp.full_like(a, a[0]), (x,), onp.broadcast_to(x[0], x.shape), exact=True)


def test_like_of_staged_value_stages_a_broadcast():
    text = s2s.jit(lambda a: snp.zeros_like(a) + a).lower(onp.ones((300, 300),
                                                                   onp.float32)).as_text()
    assert "broadcast_in_dim" in text and len(text) < 5000


@pytest.mark.parametrize("args,kw", [
    ((5,), {}), ((2, 7), {}), ((1, 10, 3), {}), ((0, 1, 0.25), {}), ((5,), {"dtype": float}),
    ((-3, 3), {"dtype": onp.int8}), ((2.5,), {}), ((10, 0, -2), {}), ((0, 1, 0.1), {}),
    ((onp.int64(4),), {}), ((1, 2, 0.5), {"dtype": onp.float16}),
])
def test_arange(args, kw):
    ref = onp.arange(*args, **kw)
    out = snp.arange(*args, **kw)
    _eq(out, ref, dtypes.canonicalize_dtype(ref.dtype) if not any(
        isinstance(a, float) for a in args) or "dtype" in kw else F32)
    assert s2s.jit(lambda: snp.arange(*args, **kw))().dtype == out.dtype


def test_arange_errors():
    with pytest.raises(ConcretizationError, match="arange"):
        s2s.jit(lambda n: snp.arange(n))(onp.int32(3))
    with pytest.raises(ValueError, match="step"):
        snp.arange(0, 3, 0)


@pytest.mark.parametrize("kw", [{}, {"endpoint": False}, {"num": 1}, {"num": 0},
                                {"num": 7, "dtype": onp.int32}, {"num": 4, "retstep": True}])
def test_linspace_static(kw):
    ref = onp.linspace(-1.0, 2.0, **{"num": 5, **kw})
    out = snp.linspace(-1.0, 2.0, **{"num": 5, **kw})
    if kw.get("retstep"):
        ref, out = ref[0], out[0]
    _eq(out, ref, kw.get("dtype", F32))


@pytest.mark.parametrize("endpoint", [True, False])
@pytest.mark.parametrize("axis", [0, -1])
def test_linspace_array_endpoints(endpoint, axis):
    start = onp.array([0.0, 1.0], F32)
    stop = onp.array([[1.0, 3.0], [2.0, -1.0]], F32)
    ref = onp.linspace(start, stop, 4, endpoint=endpoint, axis=axis)
    check(lambda a, b: snp.linspace(a, b, 4, endpoint=endpoint, axis=axis), (start, stop), ref,
          dtype=F32)
    check(lambda a, b: snp.linspace(a, b, 4, endpoint=endpoint, retstep=True)[1],
          (start, stop), onp.linspace(start, stop, 4, endpoint=endpoint, retstep=True)[1],
          dtype=F32)


def test_logspace_geomspace():
    _eq(snp.logspace(0, 3, 4), onp.logspace(0, 3, 4), F32)
    _eq(snp.logspace(0, 3, 4, base=2.0, endpoint=False),
        onp.logspace(0, 3, 4, base=2.0, endpoint=False), F32)
    check(lambda a: snp.logspace(a, 2.0, 3), (onp.float32(0),), onp.logspace(0, 2, 3),
          dtype=F32, rtol=1e-5)
    _eq(snp.geomspace(1, 1000, 4), onp.geomspace(1, 1000, 4), F32)


@pytest.mark.parametrize("args", [(3,), (2, 4), (4, 2, 1), (3, 3, -1), (3, None, 5)])
def test_eye_tri(args):
    _eq(snp.eye(*args), onp.eye(*args), F32)
    _eq(snp.tri(*args), onp.tri(*args), F32)
    _eq(snp.eye(*args, dtype=int), onp.eye(*args), I32)
    _eq(snp.identity(args[0]), onp.identity(args[0]), F32)


@pytest.mark.parametrize("k", [0, 1, -1, 5])
@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 3), (4,)])
def test_tril_triu(k, shape):
    x = onp.arange(onp.prod(shape), dtype=onp.float32).reshape(shape) + 1
    check(lambda a: (snp.tril(a, k), snp.triu(a, k)), (x,), (onp.tril(x, k), onp.triu(x, k)),
          dtype=F32)


@pytest.mark.parametrize("k", [0, 2, -1, -4])
def test_diag(k):
    v = onp.arange(1, 4, dtype=onp.float32)
    m = onp.arange(12, dtype=onp.int32).reshape(3, 4)
    check(lambda a: snp.diag(a, k), (v,), onp.diag(v, k), dtype=F32)
    check(lambda a: snp.diag(a, k), (m,), onp.diag(m, k), exact=True)
    check(lambda a: snp.diagflat(a, k), (m[:2, :2],), onp.diagflat(m[:2, :2], k), exact=True)
    with pytest.raises(ShapeError, match="diag"):
        snp.diag(onp.zeros((2, 2, 2)))


@pytest.mark.parametrize("indexing", ["xy", "ij"])
@pytest.mark.parametrize("sparse", [False, True])
def test_meshgrid(indexing, sparse):
    a, b, c = onp.arange(3.0, dtype=F32), onp.arange(2, dtype=onp.int32), onp.ones(4, F32)
    for args in [(a,), (a, b), (a, b, c)]:
        ref = onp.meshgrid(*args, indexing=indexing, sparse=sparse)
        check(lambda *xs: snp.meshgrid(*xs, indexing=indexing, sparse=sparse), args, ref,
              exact=True)


def test_scalar_types_convert():
    check(lambda a: (snp.float32(a), snp.int8(a), snp.bool_(a), snp.float16(a)),
          (onp.array([1.7, -2.2, 0.0]),),
          (onp.array([1.7, -2.2, 0.0], F32), onp.array([1, -2, 0], onp.int8),
           onp.array([True, True, False]), onp.array([1.7, -2.2, 0.0], onp.float16)),
          exact=False)
    assert snp.float64(1.0).dtype == F32  # canonicalized unless x64
    assert snp.float32(2).shape == ()
    check_error(ShapeError, lambda: snp.asarray([[1], [2, 3]]), (), jit=False)
