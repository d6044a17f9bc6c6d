"""Forward mode of the structural, indexing, windowed and convolution primitives
(concatenate, dynamic_slice, dynamic_update_slice, gather, the scatters, the windowed
reductions, conv_general_dilated) through their jvp templates.

Each program maps one float64 vector to a vector. Checked: the jvp source uses the
template (no ``transposed_jvp``); forward and reverse mode are transposes of each other
(``<J t, u> == <t, J^T u>``, at ties and duplicate indices too, where central
differences cannot look); ``jacfwd`` against central differences without a call per
basis vector; ``jit(jacfwd)`` against eager; second derivatives against differences
of ``grad``; ``jax.jvp`` where JAX defines the derivative.
"""
import itertools
import linecache

import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from cases import central_jacobian

_GD, _SD = lax.GatherDimensionNumbers, lax.ScatterDimensionNumbers
_ROWS = _SD(update_window_dims=(1,), inserted_window_dims=(0,), scatter_dims_to_operand_dims=(0,))
_DUP = np.array([[0], [3], [0]], np.int32)
_UNIQ = np.array([[2], [0], [3]], np.int32)


# Each program is written once against lax (s2s's or jax's, same signatures here).

def _concatenate(lax):
    def f(x):
        a = x[:4]
        return lax.concatenate([a, lax.mul(x[4:], x[4:]), a], dimension=0)
    return f


def _concatenate_starred(lax):
    def f(x):
        parts = [x[:3], lax.sin(x[3:]), x[:2]]
        return lax.concatenate(*parts, dimension=0)
    return f


def _dynamic_slices(lax):
    def f(x):
        a = lax.reshape(x, (3, 4))
        s = lax.dynamic_slice(a, (np.int32(1), np.int32(-3)), (2, 2))
        return lax.dynamic_update_slice(lax.mul(a, a), lax.sin(s), (np.int32(0), np.int32(1)))
    return f


def _gather(lax):
    def f(x):
        dn = _GD(offset_dims=(1,), collapsed_slice_dims=(0,), start_index_map=(0,))
        idx = np.array([[3], [0], [3], [9]], np.int32)  # a repeat, one out of bounds
        return lax.gather(lax.sin(lax.reshape(x, (4, 3))), idx, dimension_numbers=dn,
                          slice_sizes=(1, 3), mode="fill", fill_value=0.5)
    return f


def _from_text(text, **fill):
    """A program whose callee is spelled in ``text`` (s2s reads the source it transforms,
    so the primitive must be named there, not chosen at run time)."""
    src = text.format(**fill)
    filename = f"<test_jvp_indexing_windows {next(_counter)}>"
    linecache.cache[filename] = (len(src), None, src.splitlines(True), filename)

    def program(lax):
        glb = {"lax": lax, "np": np, "_ROWS": _ROWS, "_DUP": _DUP, "_UNIQ": _UNIQ}
        exec(compile(src, filename, "exec"), glb)
        return glb["f"]
    return program


_counter = itertools.count()

_SCATTER = """
def f(x):
    a = lax.reshape(x, (4, 3))
    upd = lax.add(lax.mul(lax.slice(a, (1, 0), (4, 3)), 1.5), 0.25)
    return lax.reshape(lax.{op}(lax.cos(a), {idx}, upd, dimension_numbers=_ROWS{kw}), (12,))
"""

# updates equal the operand rows they land on (ties), plus a repeated row
_SCATTER_TIES = """
def f(x):
    a = lax.reshape(x, (4, 3))
    upd = lax.concatenate([lax.slice(a, (0, 0), (2, 3)), lax.slice(a, (0, 0), (1, 3))],
                          dimension=0)
    idx = np.array([[0], [1], [0]], np.int32)
    return lax.reshape(lax.{op}(lax.mul(a, 1.0), idx, lax.mul(upd, upd), dimension_numbers=_ROWS),
                       (12,))
"""

# the rows of ``b`` below ``a`` equal ``a`` where x == 1 (ties inside windows)
_WINDOW = """
def f(x):
    a = lax.reshape(x, (3, 4))
    b = lax.concatenate([a, lax.mul(a, a)], dimension=0)
    out = lax.{op}(b, {kw})
    return lax.reshape(out, (out.size,))
"""

_REDUCE_WINDOW = """
def f(x):
    a = lax.reshape(x[1:], (3, 4))
    b = lax.concatenate([a, lax.mul(a, a)], dimension=0)
    out = lax.reduce_window(b, lax.mul(x[0], 0.5), computation={op!r}, window_dimensions=(2, 2),
                            padding="SAME")
    return lax.reshape(out, (out.size,))
"""


def _scatter_program(op, idx, kw=""):
    return _from_text(_SCATTER, op=op, idx=idx, kw=kw)


def _conv(lax):
    def f(x):
        lhs = lax.reshape(x[:10], (1, 2, 5))
        rhs = lax.reshape(lax.sin(x[10:]), (2, 1, 2))
        out = lax.conv_general_dilated(lhs, rhs, (1,), ((1, 0),), rhs_dilation=(2,),
                                       feature_group_count=2)
        return lax.reshape(out, (out.size,))
    return f


# name -> (program, input size, primitives whose template it exercises)
PROGRAMS = {
    "concatenate": (_concatenate, 7, ["concatenate"]),
    "concatenate_starred": (_concatenate_starred, 6, ["concatenate"]),
    "dynamic_slices": (_dynamic_slices, 12, ["dynamic_slice", "dynamic_update_slice"]),
    "gather": (_gather, 12, ["gather"]),
    "scatter_add": (_scatter_program("scatter_add", "_DUP"), 12, ["scatter_add"]),
    "scatter": (_scatter_program("scatter", "_DUP"), 12, ["scatter"]),
    "scatter_unique": (_scatter_program("scatter", "_UNIQ", ", unique_indices=True"), 12,
                       ["scatter"]),
    "scatter_mul": (_scatter_program("scatter_mul", "_DUP"), 12, ["scatter_mul"]),
    "scatter_mul_unique": (_scatter_program("scatter_mul", "_UNIQ", ", unique_indices=True"), 12,
                           ["scatter_mul"]),
    "scatter_max": (_scatter_program("scatter_max", "_DUP"), 12, ["scatter_max"]),
    "scatter_min": (_scatter_program("scatter_min", "_DUP"), 12, ["scatter_min"]),
    "scatter_max_ties": (_from_text(_SCATTER_TIES, op="scatter_max"), 12, ["scatter_max"]),
    "scatter_min_ties": (_from_text(_SCATTER_TIES, op="scatter_min"), 12, ["scatter_min"]),
    "reduce_window_sum": (_from_text(_WINDOW, op="reduce_window_sum", kw="window_dimensions=(2, 3), "
                                     "window_strides=(1, 2), padding='SAME'"), 12,
                          ["reduce_window_sum"]),
    "reduce_window_max": (_from_text(_WINDOW, op="reduce_window_max", kw="window_dimensions=(4, 2), "
                                     "padding=((1, 0), (0, 1)), base_dilation=(1, 2)"), 12,
                          ["reduce_window_max"]),
    "reduce_window_min": (_from_text(_WINDOW, op="reduce_window_min", kw="window_dimensions=(4, 2), "
                                     "window_dilation=(1, 2)"), 12, ["reduce_window_min"]),
    "reduce_window_add": (_from_text(_REDUCE_WINDOW, op="add"), 13, ["reduce_window"]),
    "reduce_window_mul": (_from_text(_REDUCE_WINDOW, op="mul"), 13, ["reduce_window"]),
    "reduce_window_generic_max": (_from_text(_REDUCE_WINDOW, op="max"), 13, ["reduce_window"]),
    "reduce_window_generic_min": (_from_text(_REDUCE_WINDOW, op="min"), 13, ["reduce_window"]),
    "conv_general_dilated": (_conv, 14, ["conv_general_dilated"]),
}

# Not compared with jax: it has no derivative for plain scatter and scatter_mul with
# repeated indices, nor for a generic reduce_window whose init is not the monoid's
# identity; its lax has no reduce_window_sum/max/min and takes concatenate's operands
# as one list.
NOT_IN_JAX = {"concatenate_starred", "scatter", "scatter_mul", "reduce_window_add", "reduce_window_mul",
              "reduce_window_generic_max", "reduce_window_generic_min", "reduce_window_sum",
              "reduce_window_max", "reduce_window_min"}


def _point(name, ties=False):
    """A smooth point (no ties, no zeros); with ``ties``, entries equal to 1 (``x == x*x``)."""
    n = PROGRAMS[name][1]
    x = 0.6 + 0.9 * np.abs(np.sin(1.7 * np.arange(n) + 0.3))
    if ties:
        x[::3] = 1.0
    return x


def _fn(name):
    return PROGRAMS[name][0](lax)


# The generic reduce_window's template never applies it to a tangent (its tangent is a
# windowed sum, or slices of the padded tangent): vmap of it needs no reduce_window rule.
_NOT_ON_TANGENTS = {"reduce_window"}


def _no_batch_rule(name):
    prims = lax.all_primitives()
    missing = [p for p in PROGRAMS[name][2] if prims[p].batch is None and p not in _NOT_ON_TANGENTS]
    return pytest.mark.xfail(bool(missing), strict=True,
                             reason=f"no batch rule for {missing}: vmap runs it per example")


def _with_batch_marks(names):
    return [pytest.param(n, marks=_no_batch_rule(n)) for n in names]


NAMES = sorted(PROGRAMS)


@pytest.mark.parametrize("name", NAMES)
def test_jvp_uses_the_template(name):
    src = s2s.jvp_source(_fn(name))
    assert "transposed_jvp" not in src, src
    for prim in PROGRAMS[name][2]:
        assert f"lax.{prim}(" in src, src


@pytest.mark.parametrize("ties", [False, True], ids=["smooth", "ties"])
@pytest.mark.parametrize("name", NAMES)
def test_jvp_is_the_transpose_of_vjp(name, ties, x64):
    f = _fn(name)
    x = _point(name, ties)
    rng = np.random.default_rng(len(name))
    t = rng.uniform(-1.0, 1.0, x.shape)
    out, jt = s2s.jvp(f, (x,), (t,))
    u = rng.uniform(-1.0, 1.0, np.shape(out))
    _, pullback = s2s.vjp(f, x)
    (jtu,) = pullback(u)
    np.testing.assert_allclose(np.vdot(jt, u), np.vdot(t, jtu), rtol=1e-12)


@pytest.fixture
def recordings(monkeypatch):
    """The functions vmap records to batch (a recording per call where an unmapped array
    is an argument: slow), by name."""
    from s2s.transforms import batch_support

    seen = []
    original = batch_support.by_recording

    def counting(fn, *args, **kwargs):
        seen.append(getattr(fn, "__qualname__", repr(fn)))
        return original(fn, *args, **kwargs)
    monkeypatch.setattr(batch_support, "by_recording", counting)
    return seen


@pytest.mark.parametrize("name", _with_batch_marks(NAMES))
def test_jacfwd_matches_differences_without_example_loop(name, loops, recordings, x64):
    f = _fn(name)
    x = _point(name)
    got = s2s.jacfwd(f)(x)
    assert loops == [], f"called once per basis vector: {sorted(set(loops))}"
    assert recordings == [], f"recorded to batch: {sorted(set(recordings))}"
    np.testing.assert_allclose(got, central_jacobian(f, x), rtol=1e-6, atol=1e-8)


# One program per family and convention (each compiles).
JIT = ["concatenate_starred", "dynamic_slices", "gather", "scatter", "scatter_max_ties",
       "scatter_mul", "reduce_window_max", "reduce_window_mul", "reduce_window_generic_min",
       "conv_general_dilated"]


@pytest.mark.parametrize("name", JIT)
def test_jit_jacfwd_matches_eager(name, x64):
    f = _fn(name)
    x = _point(name, ties=True)
    np.testing.assert_allclose(s2s.jit(s2s.jacfwd(f))(x), s2s.jacfwd(f)(x), rtol=1e-12,
                               atol=1e-14)


# Second order: hessian (forward over reverse) of a scalar made from each program.
SECOND = ["concatenate", "scatter", "scatter_max", "scatter_mul", "reduce_window_max",
          "reduce_window_mul", "conv_general_dilated"]


def _scalar(name):
    f = _fn(name)

    def g(x):
        y = f(x)
        return snp.sum(snp.sin(y) * y)
    return g


@pytest.mark.parametrize("name", SECOND)
def test_hessian_matches_differences_of_grad(name, x64):
    g = _scalar(name)
    x = _point(name)
    np.testing.assert_allclose(s2s.hessian(g)(x), central_jacobian(s2s.grad(g), x), rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("name", sorted(set(NAMES) - NOT_IN_JAX))
def test_jvp_matches_jax(name, x64):
    jax = pytest.importorskip("jax")
    from cases import jax_x64
    x = _point(name, ties="ties" in name)
    t = np.cos(np.arange(x.size) * 0.7)
    _, got = s2s.jvp(_fn(name), (x,), (t,))
    with jax_x64(jax):
        _, want = jax.jvp(PROGRAMS[name][0](jax.lax), (x,), (t,))
    np.testing.assert_allclose(got, np.asarray(want), rtol=1e-12, atol=1e-14)
