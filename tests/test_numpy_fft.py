"""Tests of ``s2s.numpy.fft`` and the ``lax.fft`` primitive under it.

Every transform is compared with ``numpy.fft`` (values, dtypes, ``n``/``s`` cropping
and padding, axes, the three ``norm`` modes), eagerly and under ``jit``; derivatives
of real-valued losses through the transforms are compared with central differences
in float64 and with JAX when it is installed; ``vmap`` with a loop over examples.
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from s2s.errors import DtypeError, ShapeError
from cases import assert_close, case_id, central_grad, rand, sample

rng = onp.random.default_rng(15)
F32, F64, C64, C128, I32 = (onp.dtype(t) for t in ("float32", "float64", "complex64",
                                                     "complex128", "int32"))
NORMS = [None, "backward", "ortho", "forward"]


def _canonical(dt):
    return {F64: F32, C128: C64}.get(onp.dtype(dt), onp.dtype(dt))


def _close(actual, expected, err_msg):
    """Within float32 FFT rounding: relative to the largest magnitude of the result."""
    expected = onp.asarray(expected)
    scale = max(float(onp.max(onp.abs(expected), initial=0.0)), 1.0)
    assert_close(actual, expected, rtol=0, atol=3e-6 * scale, check_dtype=False, err_msg=err_msg)


def _check(fn, x, **kw):
    """``fn`` of s2s against NumPy's (values and dtype), and jit against eager."""
    ref_kw = dict(kw)
    if kw.get("s") is not None and kw.get("axes") is None:  # NumPy 2 deprecates s alone
        ref_kw["axes"] = tuple(range(-len(kw["s"]), 0))
    ref = getattr(onp.fft, fn)(x, **ref_kw)
    eager = getattr(snp.fft, fn)(x, **kw)
    assert eager.dtype == _canonical(ref.dtype), (fn, kw)
    _close(eager, ref, f"{fn}{kw} eager vs numpy")
    staged = s2s.jit(lambda x: getattr(snp.fft, fn)(x, **kw))(x)
    assert staged.dtype == eager.dtype
    _close(staged, eager, f"{fn}{kw} jit vs eager")

# ---------------------------------------------------------------------------
# Values against NumPy.


ONE_AXIS = [((8,), {}), ((3, 6), {"n": 4, "axis": 0}), ((3, 6), {"n": 9}),
            ((2, 5, 3), {"axis": 1}), ((2, 7), {"n": 7, "axis": -1})]
ONE_AXIS_CASES = sample("fft_1d", n=16, fn=["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"],
                        shape_kw=range(len(ONE_AXIS)), norm=NORMS)


@pytest.mark.parametrize("case", ONE_AXIS_CASES, ids=case_id)
def test_one_axis_matches_numpy(case):
    shape, kw = ONE_AXIS[case["shape_kw"]]
    real_input = case["fn"] in ("rfft", "ihfft")
    x = rand(shape, F32 if real_input else C64, rng)
    _check(case["fn"], x, norm=case["norm"], **kw)


MANY_AXES = [((4, 6), {}), ((2, 4, 6), {"s": (3, 8), "axes": (0, 2)}),
             ((3, 4, 5), {"axes": (2, 0)}), ((3, 5, 4), {"s": (6, 4)})]
MANY_AXES_CASES = sample("fft_nd", n=16, fn=["fft2", "ifft2", "rfft2", "irfft2", "fftn", "ifftn",
                                           "rfftn", "irfftn"],
                         shape_kw=range(len(MANY_AXES)), norm=NORMS)


@pytest.mark.parametrize("case", MANY_AXES_CASES, ids=case_id)
def test_many_axes_match_numpy(case):
    shape, kw = MANY_AXES[case["shape_kw"]]
    if case["fn"].endswith("2") and "axes" not in kw and len(shape) > 2 and "s" not in kw:
        kw = dict(kw, axes=(0, 1))
    x = rand(shape, F32 if case["fn"].startswith("rfft") else C64, rng)
    _check(case["fn"], x, norm=case["norm"], **kw)


@pytest.mark.parametrize("fn", ["fftn", "ifftn", "rfftn", "irfftn"])
def test_more_than_three_axes_run_in_steps(fn):
    x = rand((2, 3, 2, 2, 3), F32 if fn == "rfftn" else C64, rng)
    _check(fn, x)
    _check(fn, x, axes=(4, 0, 2, 1), norm="ortho")


@pytest.mark.parametrize("dtype", [I32, F32, C64])
def test_input_dtypes(dtype):
    x = rand((6,), dtype, rng)
    assert snp.fft.fft(x).dtype == C64
    _check("fft", x)
    if dtype != C64:
        assert snp.fft.rfft(x).dtype == C64
        _check("rfft", x)
    assert snp.fft.irfft(x).dtype == F32


def test_64_bit(x64):
    x = rng.standard_normal((3, 8))
    for fn, arg in (("fft", x), ("rfft", x), ("irfft", onp.fft.rfft(x)), ("fftn", x)):
        out = getattr(snp.fft, fn)(arg)
        ref = getattr(onp.fft, fn)(arg)
        assert out.dtype == ref.dtype
        assert_close(out, ref, rtol=1e-12, atol=1e-12)
        assert_close(s2s.jit(getattr(snp.fft, fn))(arg), ref, rtol=1e-12, atol=1e-12)


def test_round_trips():
    x = rand((4, 6), F32, rng)
    assert_close(snp.fft.irfft(snp.fft.rfft(x), n=6), x, atol=1e-5)
    assert_close(snp.fft.ifftn(snp.fft.fftn(x)).real, x, atol=1e-5)
    assert_close(snp.fft.irfft2(snp.fft.rfft2(x, norm="ortho"), s=x.shape, norm="ortho"), x,
                 atol=1e-5)


def test_plain_numpy_calls_resolve_to_s2s():
    x = rand((8,), F32, rng)
    _close(s2s.jit(lambda x: onp.fft.rfft(x))(x), onp.fft.rfft(x), "numpy.fft under jit")


@pytest.mark.parametrize("call, exc, match", [
    (lambda: snp.fft.rfft(onp.ones(4, C64)), DtypeError, "must be real"),
    (lambda: snp.fft.fftn(onp.ones((2, 2)), axes=(0, 0)), ValueError, "repeated axis"),
    (lambda: snp.fft.fftn(onp.ones((2, 2)), s=(2,), axes=(0, 1)), ValueError, "same length"),
    (lambda: snp.fft.fft(onp.ones(4), axis=(0,)), ValueError, "fftn"),
    (lambda: snp.fft.fft2(onp.ones((2, 2, 2)), axes=(0, 1, 2)), ValueError, "two axes"),
    (lambda: snp.fft.fft(onp.ones(4), n=0), ValueError, "positive"),
    (lambda: snp.fft.fft(onp.ones(4), norm="unitary"), ValueError, "norm"),
    (lambda: snp.fft.irfft(onp.ones(1, C64)), ValueError, "pass n"),
    (lambda: snp.fft.fft(onp.ones(4), axis=1), ShapeError, "axis"),
])
def test_misuse_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

# ---------------------------------------------------------------------------
# Frequencies and shifts.


@pytest.mark.parametrize("n", [1, 4, 5])
@pytest.mark.parametrize("d", [1.0, 0.1])
def test_frequencies(n, d):
    for fn in ("fftfreq", "rfftfreq"):
        out = getattr(snp.fft, fn)(n, d)
        assert out.dtype == F32
        assert_close(out, getattr(onp.fft, fn)(n, d).astype(F32), atol=1e-6)
    staged = s2s.jit(lambda d: snp.fft.fftfreq(n, d))(onp.float32(d))  # d staged
    assert_close(staged, onp.fft.fftfreq(n, d).astype(F32), atol=1e-6)
    assert snp.fft.rfftfreq(n, dtype=onp.float16).dtype == onp.float16


@pytest.mark.parametrize("shape, axes", [((5,), None), ((4, 5), None), ((4, 5), 1),
                                         ((3, 4, 5), (0, -1)), ((0, 3), None)])
def test_shifts(shape, axes):
    x = rand(shape, I32, rng)
    for fn in ("fftshift", "ifftshift"):
        ref = getattr(onp.fft, fn)(x, axes=axes)
        assert_close(getattr(snp.fft, fn)(x, axes=axes), ref)
        assert_close(s2s.jit(lambda x: getattr(snp.fft, fn)(x, axes=axes))(x), ref)
    assert_close(snp.fft.ifftshift(snp.fft.fftshift(x, axes), axes), x)

# ---------------------------------------------------------------------------
# Derivatives: real-valued losses, float64, against central differences and JAX.


def _losses(xnp):
    """Real-valued losses through each transform (``xnp``: s2s.numpy or jax.numpy)."""
    w = onp.cos(onp.arange(60.0)).reshape(3, 4, 5)

    def power(x):  # the power spectrum, the usual real loss
        return xnp.sum(xnp.abs(xnp.fft.rfft(x, n=10, axis=1)) ** 2 * w[:, :, 0, None][:, :1])

    def round_trip(x):
        spec = xnp.fft.rfft2(x, norm="ortho") * (1.0 + 0.5j)
        return xnp.sum(xnp.fft.irfft2(spec, s=(4, 7)) ** 3)

    def complex_parts(x):
        y = xnp.fft.fftn(x, s=(2, 6), axes=(0, 1), norm="forward")
        return xnp.sum(xnp.real(y) * xnp.imag(y)) + xnp.sum(xnp.abs(xnp.fft.ifft(x, axis=0)))

    def shifted(x):
        return xnp.sum(xnp.fft.fftshift(x, axes=1) * w[:, :4, :4]) + xnp.sum(
            xnp.fft.hfft(x, n=6) ** 2)

    return {"power": power, "round_trip": round_trip, "complex_parts": complex_parts,
            "shifted": shifted}


LOSSES = sorted(_losses(snp))


@pytest.mark.parametrize("name", LOSSES)
def test_grad_matches_finite_differences(name, x64):
    f = _losses(snp)[name]
    x = onp.random.default_rng(1).standard_normal((3, 4, 4))
    g = s2s.grad(f)(x)
    assert g.dtype == F64
    assert_close(g, central_grad(f, x), rtol=1e-6, atol=1e-6)
    assert_close(s2s.jit(s2s.grad(f))(x), g, rtol=1e-10, atol=1e-10)
    t = onp.random.default_rng(2).standard_normal(x.shape)
    _, tangent = s2s.jvp(f, (x,), (t,))
    assert_close(tangent, onp.sum(g * t), rtol=1e-10, atol=1e-10)


@pytest.fixture
def jax_x64(x64):
    """jax with 64-bit mode on (restored afterwards); skips without jax."""
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield jax
    finally:
        jax.config.update("jax_enable_x64", old)


@pytest.mark.parametrize("name", LOSSES)
def test_grad_matches_jax(name, jax_x64):
    jnp = pytest.importorskip("jax.numpy")
    x = onp.random.default_rng(3).standard_normal((3, 4, 4))
    t = onp.random.default_rng(4).standard_normal(x.shape)
    fj = _losses(jnp)[name]
    expected = onp.asarray(jax_x64.jit(jax_x64.grad(fj))(x))  # jit: faster than op by op
    expected_hvp = onp.asarray(jax_x64.jit(
        lambda x, t: jax_x64.jvp(jax_x64.grad(fj), (x,), (t,))[1])(x, t))
    f = _losses(snp)[name]
    assert_close(s2s.grad(f)(x), expected, rtol=1e-10, atol=1e-10)
    # Second order: forward over reverse (a Hessian-vector product), real like x.
    hvp = s2s.jvp(s2s.grad(f), (x,), (t,))[1]
    assert hvp.dtype == F64
    assert_close(hvp, expected_hvp, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("fn", ["fftn", "ifftn", "rfftn", "irfftn"])
def test_grad_over_more_than_three_axes(fn, x64):
    def f(x):
        y = getattr(snp.fft, fn)(x, axes=(4, 0, 2, 1), norm="ortho")
        return snp.sum(snp.abs(y) ** 2 * snp.cos(snp.arange(y.size) * 1.0).reshape(y.shape))

    x = onp.random.default_rng(7).standard_normal((2, 3, 2, 2, 3))
    assert_close(s2s.grad(f)(x), central_grad(f, x), rtol=1e-6, atol=1e-6)


def test_derivative_source_calls_the_transpose():
    # One adjoint call per transform in the generated source, not the steps inside it.
    g = s2s.grad(lambda x: snp.sum(snp.abs(snp.fft.rfft(x)) ** 2))
    g(onp.ones(6, F32))
    assert "transform_transpose(" in s2s.source(g)


def test_jacrev_and_hessian(x64):
    f = _losses(snp)["power"]
    x = onp.random.default_rng(8).standard_normal((3, 4, 4))
    h = s2s.hessian(f)(x)
    assert h.dtype == F64
    assert_close(s2s.jacrev(s2s.grad(f))(x), h, rtol=1e-10, atol=1e-10)
    t, eps = onp.random.default_rng(9).standard_normal(x.shape), 1e-5
    directional = (s2s.grad(f)(x + eps * t) - s2s.grad(f)(x - eps * t)) / (2 * eps)
    assert_close(onp.tensordot(h, t, axes=3), directional, rtol=1e-5, atol=1e-5)


def test_grad_of_complex_input(x64):
    # JAX's convention: a real loss of complex z has gradient conj(dL/dz) (dL/dRe + i dL/dIm
    # conjugated), e.g. grad(abs)(z) = conj(z) / |z|.
    z = onp.array([3 + 4j, -1 + 2j, 0.5 - 1j])
    assert_close(s2s.grad(lambda z: snp.sum(snp.abs(z)))(z), onp.conj(z) / onp.abs(z),
                 rtol=1e-12, atol=1e-12)

    def loss(z):
        return snp.sum(snp.real(snp.fft.fft(z) * onp.array([1.0, 2.0, 3.0])))

    def loss_of_parts(x):
        return float(loss(x[0] + 1j * x[1]))

    fd = central_grad(loss_of_parts, onp.stack([z.real, z.imag]))
    assert_close(s2s.grad(loss)(z), fd[0] - 1j * fd[1], rtol=1e-8, atol=1e-8)

def test_tangents_of_real_parts_are_real(x64):
    # abs and real of complex intermediates of a real input: real tangents, equal to the
    # directional derivative (the vjp transposed would have kept them complex).
    c = onp.array([1 + 2j, -0.5 + 1j, 2 - 1j])
    x, t = onp.array([0.3, -1.2, 2.0]), onp.array([1.0, 0.5, -2.0])
    for f in (lambda x: snp.sum(snp.abs(x * c) ** 3), lambda x: snp.sum(snp.real(x * c) ** 2)):
        _, tangent = s2s.jvp(f, (x,), (t,))
        assert tangent.dtype == F64
        assert_close(tangent, onp.sum(s2s.grad(f)(x) * t), rtol=1e-12, atol=1e-12)

# ---------------------------------------------------------------------------
# vmap against a loop.


@pytest.mark.parametrize("fn, kw", [("rfft", {"n": 6}), ("irfft", {}), ("fft2", {"axes": (0, 1)}),
                                    ("ifftn", {"s": (3, 2)}), ("fftshift", {})])
def test_vmap_matches_loop(fn, kw):
    xs = rand((3, 4, 5), C64 if fn == "irfft" else F32, rng)
    f = getattr(snp.fft, fn)
    batched = s2s.vmap(lambda x: f(x, **kw))(xs)
    assert_close(batched, onp.stack([f(x, **kw) for x in xs]), atol=1e-6)


def test_vmap_of_grad_matches_loop(x64):
    f = _losses(snp)["round_trip"]
    xs = onp.random.default_rng(4).standard_normal((3, 3, 4, 4))
    loop = onp.stack([s2s.grad(f)(x) for x in xs])
    assert_close(s2s.vmap(s2s.grad(f))(xs), loop, rtol=1e-10, atol=1e-10)
    assert_close(s2s.jit(s2s.vmap(s2s.grad(f)))(xs), loop, rtol=1e-10, atol=1e-10)

# ---------------------------------------------------------------------------
# The primitive.


@pytest.mark.parametrize("fft_type, lengths, shape, dtype", [
    ("FFT", (6,), (2, 6), C64), ("ifft", (2, 6), (2, 6), C64), (lax.FftType.RFFT, (3, 4), (2, 3, 4), F32),
    ("IRFFT", (4, 6), (4, 4), C64), ("FFT", (2, 2, 3), (2, 2, 3), C64)])
def test_lax_fft_eager_and_jit(fft_type, lengths, shape, dtype):
    x = rand(shape, dtype, rng)
    name = lax.fourier._type_name(fft_type)
    axes = tuple(range(len(shape) - len(lengths), len(shape)))
    ref = {"FFT": onp.fft.fftn, "IFFT": onp.fft.ifftn, "RFFT": onp.fft.rfftn,
           "IRFFT": onp.fft.irfftn}[name](x, s=lengths, axes=axes)
    out = lax.fft(x, fft_type, lengths)
    assert out.dtype == _canonical(ref.dtype)
    _close(out, ref, "lax.fft eager")
    _close(s2s.jit(lambda x: lax.fft(x, fft_type, lengths))(x), ref, "lax.fft jit")
    batched = s2s.vmap(lambda x: lax.fft(x, fft_type, lengths))(onp.stack([x, 2 * x]))
    _close(batched[1], 2 * onp.asarray(out), "lax.fft vmap")
    assert "stablehlo.fft" in s2s.jit(lambda x: lax.fft(x, fft_type, lengths)).lower(x).as_text()


@pytest.mark.parametrize("call, exc", [
    (lambda: lax.fft(onp.ones(4, C64), "RFFT", (4,)), DtypeError),
    (lambda: lax.fft(onp.ones(4, C64), "FFT", (5,)), ShapeError),
    (lambda: lax.fft(onp.ones(4, C64), "IRFFT", (4,)), ShapeError),
    (lambda: lax.fft(onp.ones((2, 2, 2, 2), C64), "FFT", (2, 2, 2, 2)), ValueError),
    (lambda: lax.fft(onp.ones(4, C64), "DCT", (4,)), ValueError),
])
def test_lax_fft_misuse_raises(call, exc):
    with pytest.raises(exc):
        call()


@pytest.mark.parametrize("fft_type, shape, lengths", [
    ("FFT", (5,), (5,)), ("IFFT", (2, 3), (2, 3)), ("RFFT", (6,), (6,)), ("RFFT", (7,), (7,)),
    ("IRFFT", (4,), (6,)), ("IRFFT", (2, 4), (2, 7))])
def test_lax_fft_transpose_is_the_adjoint(fft_type, shape, lengths, x64):
    # Re <g, fft(x)> = Re <fft_transpose(g), x> with the bilinear pairing (no conjugation:
    # JAX's convention), which also holds for the maps between real and complex values.
    gen = onp.random.default_rng(5)
    real_in = fft_type == "RFFT"
    x = gen.standard_normal(shape) + (0 if real_in else 1j * gen.standard_normal(shape))
    y = lax.fft(x, fft_type, lengths)
    g = gen.standard_normal(y.shape) + (1j * gen.standard_normal(y.shape) if y.dtype.kind == "c"
                                        else 0)
    xt = lax.fourier.fft_transpose(g, x, fft_type, lengths)
    assert xt.dtype == x.dtype
    assert_close(onp.real(onp.sum(g * y)), onp.real(onp.sum(xt * x)), rtol=1e-10, atol=1e-10)
