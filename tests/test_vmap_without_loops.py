"""vmap without per-example calls where it used to loop: vmap of vmap (and vmap called
inside a vmapped function), closures over mapped values, functions without source and
the gradients of those, lax.gather / scatter / conv_general_dilated, np.convolve, and
NumPy indexing and .at[] updates with mapped indices. Every case is checked against a
Python loop over examples (most eagerly and under jit) and counts the calls made once
per example (``loops``)."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from cases import central_grad
from test_vmap import _close, _loop

R = onp.random.default_rng(3)


def _f(*shape):
    return R.normal(size=shape).astype("f")


def _both(fn, *args):
    """``fn(*args)`` eagerly and under jit, checked to agree; the eager value."""
    eager = fn(*args)
    _close(s2s.jit(fn)(*args), eager, tol=1e-4)
    return eager


def wavy(v):
    if np.sum(v) > 0:
        return np.sin(v) * 2.0
    return np.cos(v) - v


def dot_with(v, w):
    return np.tanh(np.dot(v, w))


def scaled(v, scale):
    return wavy(v) * scale


@pytest.mark.parametrize("outer", [0, 1, -1])
@pytest.mark.parametrize("inner", [0, 1, -1])
def test_vmap_of_vmap_axes(outer, inner, loops):
    x = _f(3, 4, 5)
    got = _both(s2s.vmap(s2s.vmap(wavy, in_axes=inner), in_axes=outer), x)
    _close(got, _loop(lambda e: _loop(wavy, inner, e), outer, x))
    assert loops == []


@pytest.mark.parametrize("out_axes", [0, 1, -1])
def test_vmap_of_vmap_out_axes_and_unmapped_arguments(out_axes, loops):
    v, w = _f(3, 4), _f(2, 4)  # the outer vmap maps w only, the inner one v only
    fn = s2s.vmap(s2s.vmap(scaled, in_axes=(0, None), out_axes=out_axes), in_axes=(None, 0))
    got = _both(fn, v, w)
    want = _loop(lambda vv, wi: onp.moveaxis(_loop(scaled, (0, None), vv, wi), 0, out_axes),
                 (None, 0), v, w)
    _close(got, want)
    assert loops == []


def rows_through(x, w):
    return np.sum(s2s.vmap(lambda r: dot_with(r, w))(x), axis=0)


@pytest.mark.parametrize("in_axes", [(0, None), (1, None), (-1, 0)])
def test_vmap_called_inside_a_vmapped_function(in_axes, loops):
    x = _f(3, 4, 5)
    w = _f(5) if in_axes[1] is None else _f(3, 5)
    if in_axes[0] != 0:
        x = onp.moveaxis(x, 0, in_axes[0])
    got = _both(s2s.vmap(rows_through, in_axes=in_axes), x, w)
    _close(got, _loop(rows_through, in_axes, x, w))
    assert loops == []


def test_three_levels_and_keywords(loops):
    x = _f(2, 3, 4)
    s = _f(2, 3, 4)
    fn = s2s.vmap(s2s.vmap(s2s.vmap(scaled)))
    _close(_both(lambda a, b: fn(a, scale=b), x, s), onp.stack([
        onp.stack([onp.stack([scaled(x[i, j, k], s[i, j, k]) for k in range(4)])
                   for j in range(3)]) for i in range(2)]))
    assert loops == []


def test_vmap_of_vmap_gradients_per_example(loops):
    x = _f(3, 4, 2)

    def loss(v):
        return np.sum(np.sin(v) * v ** 2) + np.dot(v, v[::-1])

    got = s2s.vmap(s2s.vmap(s2s.grad(loss)))(x)
    _close(got, _loop(lambda e: _loop(s2s.grad(loss), 0, e), 0, x))
    assert loops == []


V = s2s.vmap
lax = s2s.lax
X = R.normal(size=(2, 3, 4))
Y = R.normal(size=(2, 3, 4, 5))


def _gathered(x, b, axis):
    return onp.moveaxis(x[:, b], 0, axis)


def _inner_centered(row):
    return np.sum(V(lambda r: r - lax.pmean(r, "i"), axis_name="i")(row) ** 2, axis=0)


def _inner_sums(row):
    return V(lambda r: r * lax.psum(np.sum(r), "i") + lax.psum(np.sum(r), "k"), axis_name="i")(row)


def _rows_over_k(xs):
    return lax.map(lambda r: r / lax.psum(r, "k") + lax.axis_index("k"), xs, batch_size=2)


# Nested vmaps with named axes: one batched call over the merged axis, each collective
# reducing over its own factor of it (the outer axis first), against NumPy on the axes.
NAMED = {
    "inner_psum": (V(V(lambda v: v - lax.psum(v, "i"), axis_name="i")), X,
                   X - X.sum(1, keepdims=True)),
    # the outer axis' collective inside an unnamed inner vmap: it reduced over both
    # axes and gave wrong values before
    "outer_psum_in_unnamed_inner": (V(V(lambda v: v - lax.psum(v, "k")), axis_name="k"), X,
                                    X - X.sum(0, keepdims=True)),
    "both_named": (V(V(lambda v: v / lax.pmax(v, "j") + lax.pmean(v, "i") - lax.pmin(v, "i"),
                       axis_name="i"), axis_name="j"), X,
                   X / X.max(0, keepdims=True) + X.mean(1, keepdims=True) - X.min(1, keepdims=True)),
    "axis_index": (V(V(lambda v: v * lax.axis_index("i") + lax.axis_index("j"), axis_name="i"),
                     axis_name="j"), X,
                   X * onp.arange(3)[None, :, None] + onp.arange(2)[:, None, None]),
    "all_gather": (V(V(lambda v: lax.all_gather(v, "i"), axis_name="i")), X,
                   onp.stack([onp.stack([X[a]] * 3) for a in range(2)])),
    "all_gather_axis": (V(V(lambda v: lax.all_gather(v, "i", axis=1), axis_name="i")), X,
                        onp.stack([onp.stack([X[a].T] * 3) for a in range(2)])),
    "all_gather_tiled": (V(V(lambda v: lax.all_gather(v, "i", tiled=True), axis_name="i")), X,
                         onp.stack([onp.stack([X[a].reshape(-1)] * 3) for a in range(2)])),
    "all_gather_outer": (V(V(lambda v: lax.all_gather(v, "j", axis=-1)), axis_name="j"), X,
                         onp.stack([onp.stack([_gathered(X, b, -1) for b in range(3)])] * 2)),
    "three_levels": (V(V(V(lambda v: v - lax.psum(v, "b") * lax.axis_index("a"), axis_name="c"),
                         axis_name="b"), axis_name="a"), Y,
                     Y - Y.sum(1, keepdims=True) * onp.arange(2)[:, None, None, None]),
    "unnamed_middle": (V(V(V(lambda v: v - lax.psum(v, "b") * lax.axis_index("a"),
                             axis_name="b")), axis_name="a"), Y,
                       Y - Y.sum(2, keepdims=True) * onp.arange(2)[:, None, None, None]),
    "called_inside": (V(_inner_centered), X,
                      ((X - X.mean(1, keepdims=True)) ** 2).sum(1)),
    "called_inside_named": (V(_inner_sums, axis_name="k"), X,
                            X * X.sum(axis=(1, 2))[:, None, None] + X.sum(axis=(0, 2))[None, :, None]),
    # lax.map's chunks (a vmap per chunk: 2 rows, then the last one) merge with the
    # named axis; the collectives inside reduce over that axis' examples only
    "map_batch_size": (V(_rows_over_k, axis_name="k"), X,
                       X / X.sum(0, keepdims=True) + onp.arange(2)[:, None, None]),
    "map_batch_size_gather": (V(lambda xs: lax.map(lambda r: lax.all_gather(r, "k"), xs,
                                                   batch_size=2), axis_name="k"), X,
                              onp.stack([onp.moveaxis(X, 0, 1)] * 2)),
}


@pytest.mark.parametrize("name", sorted(NAMED))
def test_named_axes_merge_into_one_batched_call(name, loops, x64):
    fn, x, want = NAMED[name]
    _close(_both(fn, x), want, tol=1e-10)
    assert loops == []


def _first_doubled(e):
    return V(lambda v, w: w * 2.0 + np.sum(e), in_axes=(0, None), out_axes=None)(e, e[0])


@pytest.mark.parametrize("batch_size", [None, 1, 2, 3, 4])
def test_map_over_unmapped_rows_with_a_mapped_closure(batch_size, loops, x64):
    # the rows are the same for every example, the function reads a mapped value: its
    # batch rule took the rows for mapped and failed with a broadcasting error
    c, rows = X[:, 0, 0], X[0]
    def f(c, rows):
        return lax.map(lambda r: r * c / lax.psum(c, "k") + lax.axis_index("k"), rows,
                       batch_size=batch_size)
    want = onp.stack([rows * c[k] / c.sum() + k for k in range(2)])
    _close(_both(V(f, in_axes=(0, None), axis_name="k"), c, rows), want, tol=1e-12)
    assert loops == []


def _sum_hidden(e):
    # the same along the inner axis, but the analysis sees it read the mapped v
    return V(lambda v: np.sum(e) + v[0] * 0.0, out_axes=None)(e)


@pytest.mark.parametrize("shape", [(2, 3, 4), (3, 3, 4)])
def test_inner_out_axes_none_the_analysis_cannot_show(shape, x64):
    x = R.normal(size=shape)
    # eagerly: checked equal along the inner axis, against a loop
    _close(V(_sum_hidden)(x), onp.array([x[i].sum() for i in range(shape[0])]), tol=1e-12)
    # staged it cannot be checked: a clear error at the user's line (it ran each outer
    # example with the closure over every example: a broadcasting error, or with equal
    # sizes the other examples' sums, refused as "varies along the mapped axis")
    with pytest.raises(ValueError, match="under jit s2s cannot check") as info:
        s2s.jit(V(_sum_hidden))(x)
    assert any("np.sum(e) + v[0] * 0.0" in note for note in info.value.__notes__)


def test_inner_out_axes_none_merges(loops, x64):
    # eagerly the output is checked equal along the inner axis; staged, the batching
    # analysis shows that it does not depend on what the inner vmap maps
    want = X[:, 0] * 2.0 + X.sum(axis=(1, 2))[:, None]
    _close(_both(V(_first_doubled), X), want, tol=1e-12)
    assert loops == []
    with pytest.raises(ValueError, match="out_axes is None for output, but it varies"):
        V(V(np.sum, out_axes=None))(X)


def outer_products(x):
    return s2s.vmap(lambda y: y * x)(np.arange(2.0))


def closure_called(x, y):
    def g(v):
        return np.sin(v) * x + y

    return g(x) + g(2.0) * np.sum(s2s.vmap(g, in_axes=1)(np.ones((2, 3))))


def closure_in_lax(x):
    def body(i, c):
        return c * x + i

    def step(c, v):
        return c + v * x, c * v

    carry, ys = s2s.lax.scan(step, x, np.arange(3.0))
    return s2s.lax.fori_loop(0, 3, body, x) + carry + np.sum(ys)


def test_closure_over_a_mapped_value_passed_to_vmap(loops):
    # JAX runs this one; it used to fail with "the nested function reads the batched x".
    x = np.arange(3.0)
    got = _both(s2s.vmap(outer_products), x)
    _close(got, _loop(outer_products, 0, x))
    _close(got, onp.outer(onp.arange(3.0), onp.arange(2.0)))
    assert loops == []


@pytest.mark.parametrize("in_axes", [0, 1, -1, (None, 0)])
def test_closure_called_and_vmapped(in_axes, loops):
    x, y = _f(3, 2), _f(3, 2)
    if in_axes in (1, -1):
        x, y = x.T, y.T
    elif in_axes == (None, 0):
        x = x[0]
    got = _both(s2s.vmap(closure_called, in_axes=in_axes), x, y)
    _close(got, _loop(closure_called, in_axes, x, y), tol=1e-4)
    assert loops == []


def test_closure_in_lax_control_flow(loops):
    x = _f(4)
    got = _both(s2s.vmap(closure_in_lax), x)
    _close(got, _loop(closure_in_lax, 0, x), tol=1e-4)
    assert loops == []


# Functions without source, as a REPL or `python -c` makes them.
NO_SOURCE = eval("lambda x, w: np.tanh(x * w) + np.sum(x) * w")  # noqa: S307
BRANCHY = eval("lambda x: x * 2.0 if float(np.sum(x)) > 0 else -x")  # noqa: S307


def calls_no_source(x, w):
    return np.sum(NO_SOURCE(x, w) ** 2)


def calls_a_function_value(x, fn):
    return np.sum(fn(x, x[::-1]) * x)


@pytest.mark.parametrize("in_axes", [0, 1, -1, (0, None)])
def test_function_without_source_is_recorded_and_batched(in_axes, loops):
    x, w = _f(3, 4), _f(3, 4)
    if in_axes in (1, -1):
        x, w = x.T, w.T
    elif in_axes == (0, None):
        w = w[0]
    got = _both(s2s.vmap(NO_SOURCE, in_axes=in_axes), x, w)
    _close(got, _loop(NO_SOURCE, in_axes, x, w))
    _close(_both(s2s.vmap(calls_no_source, in_axes=in_axes), x, w),
           _loop(calls_no_source, in_axes, x, w))
    assert loops == []


def test_function_without_source_that_branches_on_a_mapped_value_runs_per_example(loops):
    x = _f(5, 3)
    _close(s2s.vmap(BRANCHY)(x), _loop(BRANCHY, 0, x))
    assert loops == ["<lambda>"]  # the recorded path would not hold for every example


@pytest.mark.parametrize("in_axes", [0, 1])
def test_gradient_through_no_source_and_function_values(in_axes, loops, x64):
    x, w = _f(3, 4).astype("d"), _f(3, 4).astype("d")
    if in_axes == 1:
        x, w = x.T, w.T
    g = s2s.grad(calls_no_source)
    _close(_both(s2s.vmap(g, in_axes=in_axes), x, w), _loop(g, in_axes, x, w))
    _close(s2s.vmap(g, in_axes=in_axes)(x, w)[0], central_grad(lambda v: calls_no_source(v, onp.take(w, 0, in_axes)),
                        onp.take(x, 0, in_axes)))
    h = s2s.grad(calls_a_function_value)  # dynamic_vjp: the pullback is taken at run time
    for fn in (NO_SOURCE, dot_with_twice):
        got = _both(lambda v: s2s.vmap(h, in_axes=(in_axes, None))(v, fn), x)
        _close(got, _loop(lambda v: h(v, fn), in_axes, x))
    assert loops == []


def dot_with_twice(v, w):
    return np.tanh(np.dot(v, w)) * v


def rolled(x):
    return np.sum(np.roll(x, 1, axis=1) * x + np.roll(x, -2, axis=0) ** 2)


@pytest.mark.parametrize("in_axes", [0, 1, -1])
def test_vmap_of_grad_through_roll_along_an_axis(in_axes, x64):
    # The roll derivative's tape holds static shapes as Python ints: per example they
    # must be Python ints again (an int32 made the concatenate adjoint misread them).
    x = R.normal(size=(3, 4, 5))
    g = s2s.grad(rolled)
    got = _both(s2s.vmap(g, in_axes=in_axes), x)
    _close(got, _loop(g, in_axes, x))
    _close(got[0], central_grad(rolled, onp.take(x, 0, in_axes)), tol=1e-6)


def _conv(strides, padding, dn, fgc, bgc):
    def conv(a, b):
        return s2s.lax.conv_general_dilated(a, b, strides, padding, dimension_numbers=dn,
                                            feature_group_count=fgc, batch_group_count=bgc)
    return conv


# (lhs shape, rhs shape, strides, padding, layouts, feature groups, batch groups)
CONVS = [
    ((2, 3, 5, 5), (4, 3, 3, 3), (1, 1), "SAME", None, 1, 1),
    ((2, 5, 5, 3), (3, 3, 3, 4), (2, 1), "VALID", ("NHWC", "HWIO", "NHWC"), 1, 1),
    ((2, 4, 6), (6, 2, 3), (1,), "SAME", None, 2, 1),
    ((4, 2, 6), (6, 2, 3), (1,), "VALID", None, 1, 2),
    ((2, 6, 7), (4, 3, 2), (2,), [(1, 0)], ("NCH", "OIH", "NHC"), 2, 1),
]


@pytest.mark.parametrize("case", range(len(CONVS)))
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (1, -1), (-1, None)])
def test_conv_general_dilated_batch_rule(case, in_axes, loops):
    lhs_shape, rhs_shape, *params = CONVS[case]
    conv = _conv(*params)

    def batched(shape, axis):
        return _f(*shape) if axis is None else onp.moveaxis(_f(3, *shape), 0, axis)
    a, b = batched(lhs_shape, in_axes[0]), batched(rhs_shape, in_axes[1])
    got = s2s.vmap(conv, in_axes=in_axes)(a, b)
    _close(got, _loop(conv, in_axes, a, b), tol=1e-4)
    assert loops == []


@pytest.mark.parametrize("name", ["convolve", "correlate"])
@pytest.mark.parametrize("in_axes", [(0, None), (None, 1), (0, 0)])
def test_numpy_convolve_is_recorded_not_looped(name, in_axes, loops):
    fn = getattr(np, name)
    a = _f(3, 7) if in_axes[0] is not None else _f(7)
    v = (_f(3, 3) if in_axes[1] == 0 else _f(3, 3).T) if in_axes[1] is not None else _f(3)
    for mode in ("full", "same", "valid"):
        def f(x, y):
            return fn(x, y, mode=mode)
        _close(_both(s2s.vmap(f, in_axes=in_axes), a, v), _loop(f, in_axes, a, v), tol=1e-4)
    assert loops == []


GDN = s2s.lax.GatherDimensionNumbers
SDN = s2s.lax.ScatterDimensionNumbers

# (operand shape, indices, dimension numbers, slice sizes)
GATHERS = [
    ((5, 3), onp.array([[4], [0], [2]]), GDN((1,), (0,), (0,)), (1, 3)),
    ((4, 5), onp.array([[1, 2], [3, 0]]), GDN((), (0, 1), (0, 1)), (1, 1)),
    ((4, 6), onp.array([[[0], [3]], [[2], [1]]]), GDN((2,), (1,), (1,)), (2, 1)),
    ((3, 4), onp.array([[1], [0], [2]]), GDN((), (1,), (1,), (0,), (0,)), (1, 1)),
]


@pytest.mark.parametrize("case", range(len(GATHERS)))
@pytest.mark.parametrize("in_axes", [(0, None), (None, 0), (0, 0), (-1, 1)])
def test_gather_batch_rule(case, in_axes, loops):
    shape, idx, dn, sizes = GATHERS[case]

    def gather(x, i):
        return s2s.lax.gather(x, i, dn, sizes, mode="clip")
    x = _f(*shape) if in_axes[0] is None else onp.moveaxis(_f(2, *shape), 0, in_axes[0])
    i = idx if in_axes[1] is None else onp.moveaxis(
        onp.stack([idx, (idx + 1) % 3]), 0, in_axes[1])
    _close(_both(s2s.vmap(gather, in_axes=in_axes), x, i), _loop(gather, in_axes, x, i))
    assert loops == []


# (operand shape, indices, updates shape, dimension numbers)
SCATTERS = [
    ((5, 3), onp.array([[4], [0], [4]]), (3, 3), SDN((1,), (0,), (0,))),
    ((4, 5), onp.array([[1, 2], [3, 0]]), (2,), SDN((), (0, 1), (0, 1))),
    ((3, 4), onp.array([[1], [0], [2]]), (3,), SDN((), (1,), (1,), (0,), (0,))),
]


@pytest.mark.parametrize("name", ["scatter", "scatter_add", "scatter_mul", "scatter_max", "scatter_min"])
@pytest.mark.parametrize("case", range(len(SCATTERS)))
@pytest.mark.parametrize("in_axes", [(0, None, None), (None, 0, None), (None, None, 0),
                                     (1, 0, -1), (None, 1, 0)])
def test_scatter_batch_rules(name, case, in_axes, loops):
    shape, idx, ushape, dn = SCATTERS[case]
    op = getattr(s2s.lax, name)

    def scatter(x, i, u):
        return op(x, i, u, dn)

    def batched(value, axis):
        return value if axis is None else onp.moveaxis(onp.stack([value, value * 0.5 + 1.0]),
                                                       0, axis)
    x = batched(_f(*shape), in_axes[0])
    i = idx if in_axes[1] is None else onp.moveaxis(
        onp.stack([idx, idx[::-1].copy()]), 0, in_axes[1])
    u = batched(_f(*ushape), in_axes[2])
    _close(_both(s2s.vmap(scatter, in_axes=in_axes), x, i, u), _loop(scatter, in_axes, x, i, u))
    assert loops == []


def index_both(x, i, j):
    return x[i, :, j] + x[i, 0, 1][:, None]


def update_at(x, i, v):
    y = x.at[i].add(v)
    y = y.at[i, 0].set(v[..., 0] * 2.0)
    z = x * 1.0
    z[i] = v
    return y.at[i].max(v) + z


@pytest.mark.parametrize("in_axes", [(0, 0, 0), (None, 0, None), (1, None, 0), (0, None, -1)])
def test_numpy_indexing_with_mapped_indices(in_axes, loops):
    x = _f(4, 3, 5) if in_axes[0] is None else onp.moveaxis(_f(2, 4, 3, 5), 0, in_axes[0])
    i = onp.array([[1, 3], [0, 2]]) if in_axes[1] is not None else onp.array([2, 1])
    j = onp.array([[4, 0], [1, 1]]) if in_axes[2] is not None else onp.array([0, 3])
    if in_axes[2] not in (None, 0):
        j = onp.moveaxis(j, 0, in_axes[2])
    _close(_both(s2s.vmap(index_both, in_axes=in_axes), x, i, j), _loop(index_both, in_axes, x, i, j))
    assert loops == []


@pytest.mark.parametrize("in_axes", [(0, 0, 0), (None, 0, None), (0, None, 0), (1, 0, 1)])
def test_numpy_updates_with_mapped_indices(in_axes, loops):
    x = _f(4, 3) if in_axes[0] is None else onp.moveaxis(_f(2, 4, 3), 0, in_axes[0])
    i = onp.array([[1, 3], [0, 1]]) if in_axes[1] is not None else onp.array([2, 0])
    v = _f(2, 3) if in_axes[2] is None else onp.moveaxis(_f(2, 2, 3), 0, in_axes[2])
    _close(_both(s2s.vmap(update_at, in_axes=in_axes), x, i, v), _loop(lambda *a: update_at(*map(np.asarray, a)), in_axes, x, i, v))
    assert loops == []


def sums_a_vmap(x):
    return np.sum(s2s.vmap(lambda r: np.sum(np.sin(r) * r))(x) ** 2)


def test_vmap_of_grad_of_a_function_calling_vmap(loops):
    # grad traces the inner vmap's call; vmap batches that recording.
    x = _f(3, 4, 2)
    g = s2s.grad(sums_a_vmap)
    _close(_both(s2s.vmap(g), x), _loop(g, 0, x), tol=1e-4)
    assert loops == []


STARTS = onp.array([[1, 2], [-2, 4], [7, -9]])  # negative ones count from the end, then clamp


def slice_at(x, s):
    return s2s.lax.dynamic_slice(x, (s[0], s[1]), (3, 2)) + s2s.lax.dynamic_slice(x, s, (3, 2))


def update_at_start(x, u, s):
    return s2s.lax.dynamic_update_slice(x, u, (s[0], s[1]))


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (1, 1)])
def test_dynamic_slice_with_mapped_starts(in_axes, loops):
    x = _f(6, 5) if in_axes[0] is None else onp.moveaxis(_f(3, 6, 5), 0, in_axes[0])
    s = STARTS if in_axes[1] == 0 else STARTS.T
    _close(_both(s2s.vmap(slice_at, in_axes=in_axes), x, s), _loop(slice_at, in_axes, x, s))
    assert loops == []


@pytest.mark.parametrize("in_axes", [(0, 0, 0), (None, None, 0), (0, None, 0), (None, -1, 0)])
def test_dynamic_update_slice_with_mapped_starts(in_axes, loops):
    x = _f(6, 5) if in_axes[0] is None else _f(3, 6, 5)
    u = _f(3, 2) if in_axes[1] is None else onp.moveaxis(_f(3, 3, 2), 0, in_axes[1])
    got = _both(s2s.vmap(update_at_start, in_axes=in_axes), x, u, STARTS)
    _close(got, _loop(update_at_start, in_axes, x, u, STARTS))
    assert loops == []


def checks_then_scales(x, k):
    if k < 0:
        raise ValueError("k must be non-negative")
    return x * k


def raises_per_example(x):
    if np.sum(x) > 0:
        raise ValueError("positive")
    return x


def test_raise_under_unmapped_and_mapped_conditions():
    x = _f(3, 2)
    _close(s2s.vmap(checks_then_scales, in_axes=(0, None))(x, 2.0), x * 2.0)
    with pytest.raises(ValueError, match="non-negative"):
        s2s.vmap(checks_then_scales, in_axes=(0, None))(x, -1.0)
    with pytest.raises(s2s.errors.TransformError, match="raise under a condition"):
        s2s.vmap(raises_per_example)(x)


def steps(x, k):
    return s2s.lax.fori_loop(0, k, lambda i, v: v * 0.5 + np.sin(v) + i, x)


@pytest.mark.parametrize("in_axes", [(0, 0), (None, 0), (1, 0)])
def test_fori_loop_with_mapped_trip_counts(in_axes, loops):
    k = onp.array([0, 3, 1, 5], "int32")
    x = _f(2) if in_axes[0] is None else onp.moveaxis(_f(4, 2), 0, in_axes[0])
    _close(_both(s2s.vmap(steps, in_axes=in_axes), x, k), _loop(steps, in_axes, x, k), tol=1e-4)
    assert loops == []


@pytest.mark.parametrize("in_axes", [(0, None, None), (None, 0, None), (None, None, 0)])
def test_select_n_and_clamp_with_unmapped_operands(in_axes, loops):
    def pick(c, x, y):
        return s2s.lax.select_n(c > 0, x, y) + s2s.lax.clamp(-0.5, x, y)

    c, x, y = (_f(4, 2, 3) if ax is not None else _f(2, 3) for ax in in_axes)
    _close(_both(s2s.vmap(pick, in_axes=in_axes), c, x, y), _loop(pick, in_axes, c, x, y))
    assert loops == []
