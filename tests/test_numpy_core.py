"""s2s.Array, dtypes and constants, tracer methods and protocols, missing names, doctests.

(Per-area tests: test_numpy_ufuncs, test_numpy_creation, test_numpy_shape,
test_numpy_indexing.)
"""
import doctest
import importlib
import pickle

import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import dtypes
from s2s.errors import ConcretizationError

from np_checks import check

# ---------------------------------------------------------------------------
# The eager Array type.


def test_eager_results_are_arrays():
    x = snp.ones(3)
    for out in (x, snp.tanh(x), x + 1, x * x, snp.sum(x), x.sum(), x[1:], -x, x > 0,
                snp.asarray([1, 2]), s2s.jit(lambda a: a * 2)(x), snp.float32(1)):
        assert isinstance(out, s2s.Array), type(out)
    assert snp.Array is s2s.Array and isinstance(x, onp.ndarray)
    assert isinstance(x, snp.ndarray) and isinstance(onp.zeros(1), snp.ndarray)
    assert s2s.jit(lambda a: isinstance(a, snp.ndarray) and isinstance(a, onp.ndarray))(x)
    assert issubclass(s2s.Array, snp.ndarray) and not isinstance([1], snp.ndarray)


def test_repr_and_str_match_numpy():
    for a in (onp.arange(6, dtype=onp.float32).reshape(2, 3), onp.array(2.5, onp.float32),
              onp.array([True, False]), onp.zeros((0, 2), onp.int32)):
        x = snp.asarray(a)
        assert repr(x) == repr(a) and str(x) == str(a)


def test_array_ops_are_canonical_and_0d_stays_array():
    x = snp.asarray([1, 2], dtype=onp.int32)
    y = snp.asarray([0.5, 1.5], dtype=onp.float32)
    assert (x + y).dtype == onp.float32        # NumPy: float64, narrowed like s2s.numpy.add
    assert (x / 2).dtype == onp.float32
    assert (x + onp.int64(1)).dtype == onp.int32
    z = snp.sum(y)
    assert z.shape == () and isinstance(z + z, s2s.Array)
    assert round(y, 0).dtype == onp.float32
    assert onp.asarray(x).__class__ is onp.ndarray


def test_array_ops_x64(x64):
    x = snp.asarray([1, 2])
    assert x.dtype == onp.int64 and (x / 2).dtype == onp.float64


def test_pickle_and_copy():
    x = snp.arange(3.0)
    y = pickle.loads(pickle.dumps(x))
    assert type(y) is s2s.Array and (y == x).all()
    assert type(x.copy()) is s2s.Array


def test_at_on_eager_arrays_is_value_semantic():
    x = snp.zeros(4)
    y = x.at[[0, 0, 2]].add(1.0)
    onp.testing.assert_array_equal(y, [2, 0, 1, 0])
    onp.testing.assert_array_equal(x, [0, 0, 0, 0])
    assert repr(x.at) .startswith("_IndexUpdateHelper") and "(" in repr(x.at[0])


# ---------------------------------------------------------------------------
# Dtypes and constants.


def test_scalar_types_are_dtypes():
    for name in ("float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                 "uint8", "uint16", "uint32", "uint64", "bool_", "complex64", "complex128"):
        t = getattr(snp, name)
        dt = onp.dtype(t)
        assert t == dt and dt == t and onp.zeros(1, t).dtype == dt
        assert snp.zeros(1, t).dtype == dtypes.canonicalize_dtype(dt)
        assert hash(t) == hash(dt)
    assert snp.bool is snp.bool_ and isinstance(onp.float32(1), snp.float32)
    assert snp.float32 != snp.float64 and snp.int32 != "float32"
    assert repr(snp.int8) == "<class 's2s.numpy.int8'>"


def test_abstract_types_and_queries():
    assert snp.issubdtype(snp.float32, snp.floating)
    assert snp.issubdtype(snp.bfloat16, snp.inexact)
    assert snp.issubdtype(onp.int8, snp.signedinteger)
    assert not snp.issubdtype(onp.uint8, snp.signedinteger)
    assert snp.issubdtype(onp.complex64, snp.complexfloating)
    assert snp.issubdtype(onp.int32, snp.number) and snp.issubdtype(onp.bool_, snp.generic)
    assert snp.issubdtype(onp.uint16, snp.unsignedinteger)
    assert snp.issubdtype(onp.float32, snp.float32)
    assert snp.isdtype(onp.int32, ("integral", "bool")) and not snp.isdtype(onp.int32, "bool")
    assert snp.finfo(snp.bfloat16).bits == 16 and snp.finfo(onp.float32).eps > 0
    assert snp.finfo(snp.ones(2)).dtype == onp.float32
    assert snp.iinfo(snp.int16).max == 32767
    assert snp.can_cast(onp.int8, onp.int32) and not snp.can_cast(onp.float32, onp.int8)
    assert snp.can_cast(snp.ones(2, onp.int8), onp.float32)
    assert snp.isscalar(1.0) and snp.isscalar(onp.float32(1)) and not snp.isscalar([1])
    assert snp.dtype("float32") == onp.float32


@pytest.mark.parametrize("args,expected", [
    ((onp.float16, 1.0), onp.float16), ((onp.int8, onp.uint8), onp.int16),
    ((onp.int32, onp.float32), onp.float32), ((snp.ones(2, onp.int8), 2), onp.int8),
    ((1, 2.0), onp.float32), ((onp.float64,), onp.float32), ((snp.bfloat16, 1), dtypes.bfloat16),
    (("int16", onp.int8), onp.int16),
])
def test_result_type(args, expected):
    assert snp.result_type(*args) == onp.dtype(expected)


def test_promote_types():
    assert snp.promote_types(onp.int8, onp.uint8) == onp.int16
    assert snp.promote_types("float32", onp.int64) == onp.float32  # float64, narrowed


def test_constants():
    assert snp.pi == onp.pi and snp.e == onp.e and snp.inf == onp.inf
    assert onp.isnan(snp.nan) and snp.newaxis is None
    assert abs(snp.euler_gamma - 0.5772156649) < 1e-9


def test_scalar_type_converts_tracers():
    out = check(lambda a: (snp.float32(a), snp.int16(a), snp.bfloat16(a)),
                (onp.array([1.5, -2.5]),),
                (onp.array([1.5, -2.5], onp.float32), onp.array([1, -2], onp.int16),
                 onp.array([1.5, -2.5], dtypes.bfloat16)))
    assert [o.dtype for o in out] == [onp.float32, onp.int16, dtypes.bfloat16]


# ---------------------------------------------------------------------------
# Tracer methods and protocols.


def test_tracer_methods():
    x = onp.arange(12, dtype=onp.float32).reshape(3, 4) - 5

    def f(a):
        return (a.sum(0), a.mean(), a.clip(-1, 1), a.round(), a.conj(), a.real, a.imag,
                a.astype(onp.int32), a.swapaxes(0, 1), a.take([0, 2], axis=1), a.dot(a.T),
                a.reshape((2, 6)), a.ravel(), a.flatten(), a.repeat(2, axis=0), a[None].squeeze(),
                a.at[0].set(1.0), a.at[1, 1].get(), a.T @ a)

    expected = (x.sum(0), x.mean(), onp.clip(x, -1, 1), onp.round(x), x, x, onp.zeros_like(x),
                x.astype(onp.int32), x.swapaxes(0, 1), x[:, [0, 2]], x @ x.T, x.reshape(2, 6),
                x.ravel(), x.ravel(), x.repeat(2, axis=0), x, onp.vstack([onp.ones(4), x[1:]]),
                x[1, 1], x.T @ x)
    check(f, (snp.asarray(x),), expected)


def test_tracer_iteration_and_len():
    x = onp.arange(6.0, dtype=onp.float32).reshape(3, 2)
    out = s2s.jit(lambda a: [row * 2 for row in list(a)] + [len(a)])(x)
    for o, row in zip(out, x):
        onp.testing.assert_array_equal(o, row * 2)
    assert out[-1] == 3
    with pytest.raises(TypeError, match="0-d"):
        s2s.jit(lambda a: iter(a[0, 0]))(x)


@pytest.mark.parametrize("use", [
    lambda a: a.item(), lambda a: a.tolist(), lambda a: float(a[0]),
    lambda a: int(a[0]), lambda a: bool(a[0] > 0), lambda a: list(range(a[0])),
])
def test_concretization_errors(use):
    with pytest.raises(ConcretizationError):
        s2s.jit(use)(onp.arange(3, dtype=onp.int32))


def test_numpy_functions_on_tracers_use_twins():
    x = onp.linspace(-1, 1, 6).astype(onp.float32)
    check(lambda a: (onp.reshape(a, (2, 3)), onp.concatenate([a, a]), onp.where(a > 0, a, 0),
                     onp.clip(a, 0, 0.5), onp.transpose(a.reshape(2, 3))), (x,),
          (x.reshape(2, 3), onp.concatenate([x, x]), onp.where(x > 0, x, 0),
           onp.clip(x, 0, 0.5), x.reshape(2, 3).T))


# ---------------------------------------------------------------------------
# Names NumPy has and s2s lacks.


def test_missing_numpy_names_raise_not_implemented():
    with pytest.raises(NotImplementedError, match="s2s.numpy.vectorize is not implemented yet; "
                                                  "closest alternative: s2s.vmap"):
        snp.vectorize  # noqa: B018
    with pytest.raises(NotImplementedError, match="closest alternative"):
        snp.busday_offset  # noqa: B018
    with pytest.raises(AttributeError, match="NumPy has no"):
        snp.not_a_numpy_name  # noqa: B018
    with pytest.raises(AttributeError):
        snp.__wrapped__  # noqa: B018
    assert not hasattr(snp, "definitely_not_numpy")
    assert not hasattr(snp, "vectorize") and getattr(snp, "vectorize", None) is None


def test_implemented_names_cover_the_issue():
    names = """array asarray zeros ones full empty zeros_like ones_like full_like empty_like
    arange linspace logspace eye identity meshgrid diag diagflat tri tril triu copy add subtract
    multiply divide true_divide floor_divide mod remainder fmod divmod power float_power negative
    positive absolute abs fabs sign exp exp2 expm1 log log2 log10 log1p sqrt cbrt square
    reciprocal sin cos tan arcsin asin arccos arctan arctan2 sinh cosh tanh arcsinh arccosh
    arctanh deg2rad rad2deg degrees radians hypot logaddexp logaddexp2 maximum minimum fmax fmin
    floor ceil trunc fix rint round around clip where isnan isinf isfinite isposinf isneginf
    isclose allclose array_equal heaviside sinc nan_to_num signbit copysign nextafter conj
    conjugate real imag angle equal not_equal less less_equal greater greater_equal logical_and
    logical_or logical_xor logical_not bitwise_and bitwise_or bitwise_xor bitwise_not invert
    left_shift right_shift reshape ravel transpose swapaxes moveaxis expand_dims squeeze
    concatenate stack hstack vstack dstack column_stack split array_split tile repeat
    broadcast_to broadcast_arrays broadcast_shapes flip fliplr flipud roll rot90 pad atleast_1d
    atleast_2d atleast_3d append insert delete shape ndim size result_type can_cast
    promote_types take take_along_axis nonzero argwhere flatnonzero compress extract choose
    float16 bfloat16 float32 float64 int8 int16 int32 int64 uint8 uint16 uint32 uint64 bool_
    complex64 complex128 dtype finfo iinfo issubdtype floating integer number inexact
    complexfloating signedinteger unsignedinteger generic bool pi e inf nan newaxis
    euler_gamma""".split()
    missing = [n for n in names if n not in vars(snp)]
    assert not missing, missing


MODULES = ["s2s.core.array", "s2s.numpy", "s2s.numpy._arraylike", "s2s.numpy._creation",
           "s2s.numpy._shape", "s2s.numpy._ufuncs", "s2s.numpy._indexing", "s2s.numpy._dtypes",
           "s2s.numpy._missing", "s2s.numpy._array_methods"]


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


@pytest.mark.parametrize("name", MODULES[2:])
def test_public_functions_have_examples(name):
    module = importlib.import_module(name)
    for attr in getattr(module, "__all__", []):
        fn = getattr(module, attr)
        if callable(fn) and getattr(fn, "__module__", None) == name and not isinstance(fn, type):
            assert fn.__doc__ and ">>>" in fn.__doc__, f"{name}.{attr} has no doctest example"


def test_eager_and_jit_agree_under_x64(x64):
    """A mix of functions on int and float inputs: 64-bit dtypes, eager equal to jit."""
    i = onp.arange(6).reshape(2, 3)
    f = onp.linspace(-1, 1, 6).reshape(2, 3)

    def mix(a, b):
        return (a / 2, a // 2, snp.sqrt(a), snp.arange(3), snp.zeros(2), snp.linspace(0, 1, 3),
                snp.asarray([1, 2]), snp.where(a > 2, b, 0), snp.clip(a, 1, 3), a[[0, 1], 1],
                snp.take(b, [0, 5]), snp.asarray(b).at[0, 0].add(1), snp.nonzero(a, size=7)[0],
                snp.concatenate([a, b]), snp.round(b, 1), snp.hypot(a, 1), snp.float32(b),
                snp.pad(a, 1), snp.tril(b), snp.diag(a))

    out = check(mix, (i, f))
    kinds = [o.dtype for o in out]
    assert kinds[:7] == [onp.float64, onp.int64, onp.float64, onp.int64, onp.float64,
                         onp.float64, onp.int64]
    assert kinds[9] == onp.int64 and kinds[12] == onp.int64 and kinds[13] == onp.float64
