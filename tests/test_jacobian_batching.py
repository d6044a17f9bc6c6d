"""jacfwd, jacrev and hessian vmap generated derivative code: the helpers that code calls
are batched by rule or by source, never called once per example (``loop_call``).
Each case also checks the values: against central differences in float64, and against
JAX when it is installed. The batch rules of the adjoint helpers are checked against a
loop over examples for every rank combination and every choice of batched operands."""
import itertools
import re
import warnings

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s.runtime import support
from s2s.transforms.batch_support import vcall
from test_jacobians import fd_jacobian


def mlp(w1, w2, x):
    h = np.tanh(x @ w1)
    return np.sum(np.log1p(np.exp(h @ w2)))


def mixed(x):
    return (np.sum(np.tanh(x) ** 2) + np.sum(np.outer(x, x) * 0.1)
            + np.mean(np.sin(x)[1:] * x[:-1]))


def logsumexp_tanh(A, x):
    z = A @ np.tanh(x)
    m = np.max(z)
    return np.log(np.sum(np.exp(z - m))) + m


def dots(W, x):
    return np.dot(x, np.dot(W, x)) + np.sum(np.dot(np.tanh(W), x) ** 2) * np.dot(x, x)


def wide_map(B, C, x):
    return np.tanh(B @ x) * (C @ x)


def _rng():
    return onp.random.default_rng(11)


def _cases():
    """(name, transformation, function of the differentiated argument, argument)."""
    r = _rng()
    w1, w2, xs = r.normal(size=(5, 4)), r.normal(size=(4, 1)), r.normal(size=(6, 5))
    A, W = r.normal(size=(7, 5)) / 2, r.normal(size=(5, 5)) / 2
    B, C = r.normal(size=(9, 4)) / 2, r.normal(size=(9, 4)) / 2
    v = r.normal(size=5)
    return [
        ("hessian_mlp_w1", s2s.hessian, lambda w: mlp(w, w2, xs), w1),
        ("hessian_mlp_w2", s2s.hessian, lambda w: mlp(w1, w, xs), w2),
        ("hessian_mixed", s2s.hessian, mixed, v),
        ("hessian_logsumexp", s2s.hessian, lambda x: logsumexp_tanh(A, x), v),
        ("hessian_dots", s2s.hessian, lambda x: dots(W, x), v),
        ("jacrev_dots_W", s2s.jacrev, lambda w: np.dot(np.tanh(w), v) * np.dot(v, v), W),
        ("jacfwd_wide", s2s.jacfwd, lambda x: wide_map(B, C, x), v[:4]),
        ("jacrev_wide", s2s.jacrev, lambda x: wide_map(B, C, x), v[:4]),
        ("jacrev_mlp", s2s.jacrev, lambda x: np.tanh(np.tanh(x @ w1) @ w2), xs),
    ]


CASES = _cases()


def _reference(transform, fn, x):
    """Central differences: of fn (Jacobians), of its s2s gradient (Hessians)."""
    if transform is s2s.hessian:
        return fd_jacobian(s2s.grad(fn), x)
    return fd_jacobian(fn, x)


@pytest.mark.parametrize("name,transform,fn,x", CASES, ids=[c[0] for c in CASES])
def test_no_per_example_calls_and_values_match(name, transform, fn, x, x64, loops):
    got = transform(fn)(x)
    assert loops == [], f"{name}: called once per example: {sorted(set(loops))}"
    onp.testing.assert_allclose(got, _reference(transform, fn, x), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name,transform,fn,x", CASES[::2], ids=[c[0] for c in CASES[::2]])
def test_under_jit_no_per_example_calls(name, transform, fn, x, loops):
    x = x.astype(onp.float32)
    staged = s2s.jit(transform(fn))(x)
    assert loops == [], f"{name}: staged once per example: {sorted(set(loops))}"
    onp.testing.assert_allclose(staged, transform(fn)(x), rtol=2e-4, atol=1e-5)


def test_match_jax(x64):
    jax = pytest.importorskip("jax")
    jnp = pytest.importorskip("jax.numpy")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        r = _rng()
        A, x = r.normal(size=(7, 5)) / 2, r.normal(size=5)

        def lse(v):
            z = jnp.asarray(A) @ jnp.tanh(v)
            m = jnp.max(z)
            return jnp.log(jnp.sum(jnp.exp(z - m))) + m
        onp.testing.assert_allclose(s2s.hessian(lambda v: logsumexp_tanh(A, v))(x),
                                    jax.hessian(lse)(x), rtol=1e-10, atol=1e-12)
        w1, w2, xs = r.normal(size=(5, 4)), r.normal(size=(4, 1)), r.normal(size=(6, 5))

        def jmlp(w):
            return jnp.sum(jnp.log1p(jnp.exp(jnp.tanh(xs @ w) @ w2)))
        onp.testing.assert_allclose(s2s.hessian(lambda w: mlp(w, w2, xs))(w1),
                                    jax.hessian(jmlp)(w1), rtol=1e-10, atol=1e-12)
    finally:
        jax.config.update("jax_enable_x64", old)


# ---------------------------------------------------------------------------
# The adjoint helpers' batch rules against a loop over examples.

N = 3

# (a's shape, b's shape) per example: vectors, matrices, stacks that broadcast.
MATMUL_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)),
                 ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                 ((4,), (2, 4, 5)), ((2, 3, 4), (4,))]
DOT_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)), ((), (3, 4)),
              ((3, 4), ()), ((2, 3, 4), (4, 5))]


def _batched_choices(n):
    """Every non-empty choice of batched operands among ``n`` (axes: 0 or None)."""
    return [axes for axes in itertools.product((0, None), repeat=n) if any(a == 0 for a in axes)]


def _check_against_loop(fn, per_example, axes, what):
    r = _rng()
    args = [r.normal(size=((N,) + s) if ax == 0 else s) for s, ax in zip(per_example, axes)]
    got = vcall(fn, axes, *args)
    want = onp.stack([fn(*[a[k] if ax == 0 else a for a, ax in zip(args, axes)])
                      for k in range(N)])
    assert got.shape == want.shape, what
    onp.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=what)


PRODUCT_CASES = [("matmul", lhs, shapes) for shapes in MATMUL_SHAPES for lhs in (True, False)] + \
    [("dot", lhs, shapes) for shapes in DOT_SHAPES for lhs in (True, False)]


@pytest.mark.parametrize("product,lhs,shapes", PRODUCT_CASES,
                         ids=[f"{p}_{'lhs' if l else 'rhs'}{s}" for p, l, s in PRODUCT_CASES])
def test_product_grad_rules(product, lhs, shapes):
    """``matmul_grad_*``/``dot_grad_*`` with every choice of batched operands."""
    a, b = shapes
    g = getattr(onp, product)(onp.ones(a), onp.ones(b)).shape
    fn = getattr(support, f"{product}_grad_{'lhs' if lhs else 'rhs'}")
    for axes in _batched_choices(3):
        _check_against_loop(fn, (g, a, b), axes, f"{fn.__name__} {shapes} axes {axes}")


LIKE_CASES = [(support.broadcast_like, ((), (3,))), (support.broadcast_like, ((3,), (3,))),
              (support.broadcast_like, ((1, 3), (2, 3))), (support.broadcast_like, ((3,), (2, 3))),
              (support.broadcast_like, ((2, 1), (2, 3))), (support.reshape_like, ((6,), (2, 3))),
              (support.reshape_like, ((2, 3), (6,))), (support.reshape_like, ((1,), ()))]


@pytest.mark.parametrize("fn,shapes", LIKE_CASES, ids=[f"{f.__name__}{s}" for f, s in LIKE_CASES])
def test_shape_like_rules(fn, shapes):
    for axes in _batched_choices(2):
        _check_against_loop(fn, shapes, axes, f"{fn.__name__} {shapes} {axes}")


def _user_fn(a, b):
    return np.tanh(a) @ b + np.sum(a)


@pytest.mark.parametrize("fn", [np.matmul, support.matmul_grad_rhs, _user_fn],
                         ids=["matmul", "matmul_grad_rhs", "user"])
def test_repeated_example_arguments(fn):
    """An argument that is one example repeated (a stride-0 batch axis, as broadcast_batch
    makes) is passed unbatched: the result is the loop's, batched."""
    r = _rng()
    a, b = r.normal(size=(N, 4)), onp.broadcast_to(r.normal(size=(4, 5)), (N, 4, 5))
    g = r.normal(size=(N, 5))
    args, axes = ((g, a, b), (0, 0, 0)) if fn is support.matmul_grad_rhs else ((a, b), (0, 0))
    got = vcall(fn, axes, *args)
    want = onp.stack([fn(*[x[k] for x in args]) for k in range(N)])
    assert got.shape == want.shape
    onp.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    loop = s2s.vmap(fn)(*args)
    onp.testing.assert_allclose(loop, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("perm", [None, (1, 0, 2), (2, 0, 1), (-1, 0, 1)], ids=str)
def test_transpose_grad_rule(perm):
    r = _rng()
    g = r.normal(size=(N, 2, 3, 4))
    got = vcall(support.transpose_grad, (0, None), g, perm)
    want = onp.stack([support.transpose_grad(g[k], perm) for k in range(N)])
    onp.testing.assert_array_equal(got, want)
    by_keyword = vcall(support.transpose_grad, (0,), g, axes=perm)
    onp.testing.assert_array_equal(by_keyword, want)


# ---------------------------------------------------------------------------
# Hessians over the grad corpus (first differentiable argument, a number or an array).

# Corpus functions whose Hessian fails today: name -> reason (strict xfails).
HESSIAN_KNOWN_BUGS = {}


def _hessian_params():
    import grad_corpus as corpus
    from test_grad_corpus import _inputs, differentiable_argnums
    out = []
    for fn in corpus.CORPUS:
        args = _inputs(fn)
        nums = [i for i in differentiable_argnums(args)
                if isinstance(args[i], (float, onp.ndarray))]
        if not nums:
            continue
        marks = [pytest.mark.xfail(reason=HESSIAN_KNOWN_BUGS[fn.__name__], strict=True)] \
            if fn.__name__ in HESSIAN_KNOWN_BUGS else []
        out.append(pytest.param(fn, nums[0], id=fn.__name__, marks=marks))
    return out


@pytest.mark.parametrize("fn,argnum", _hessian_params())
def test_corpus_hessian_matches_finite_differences_of_grad(fn, argnum, x64):
    from test_grad_corpus import _inputs
    args = list(_inputs(fn))

    def grad_at(v):
        moved = list(args)
        moved[argnum] = float(v) if isinstance(args[argnum], float) else v
        return onp.asarray(s2s.grad(fn, argnums=argnum)(*moved))
    x = onp.asarray(args[argnum], onp.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = onp.asarray(s2s.hessian(fn, argnums=argnum)(*args))
        want = fd_jacobian(grad_at, x)
    scale = max(1.0, float(onp.max(onp.abs(want), initial=0.0)))
    onp.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6 * scale)


def test_jit_jacrev_of_a_tall_map_multiplies_by_the_diagonal():
    """jit(jacrev) of a 5 -> 40 map: the cotangent basis built in the program by iota (no
    40x40 constant, no such argument) stays diagonal through the elementwise steps, so
    each matrix-vector product's adjoint is the matrix's rows scaled (dot_general's
    staging rewrite), not a (40x40) @ (40x5) product as JAX stages it: XLA's program
    keeps no 40x40 buffer; values in float64 against central differences."""
    r = onp.random.default_rng(3)
    B, C = r.normal(size=(40, 5)) / 2, r.normal(size=(40, 5)) / 2
    x = r.normal(size=5).astype(onp.float32)
    B32, C32 = B.astype(onp.float32), C.astype(onp.float32)
    jr = s2s.jit(s2s.jacrev(lambda v: wide_map(B32, C32, v)))
    lowered = jr.lower(x)
    assert [a.shape for a in lowered.in_avals] == [(5,), (40, 5), (40, 5)]
    text = lowered.as_text()
    dots = re.findall(r"stablehlo\.dot_general .*: \((tensor<\S+>), (tensor<\S+>)\) -> (tensor<\S+>)", text)
    assert all(d == ("tensor<40x5xf32>", "tensor<5x1xf32>", "tensor<40x1xf32>") for d in dots), dots
    scaled = re.findall(r"stablehlo\.multiply %\d+, %arg([12]) : tensor<40x5xf32>", text)
    assert sorted(scaled) == ["1", "2"], text
    assert not re.search(r"stablehlo\.constant dense<\"", text)  # no array constant at all
    hlo = lowered.compile().hlo_text()
    assert "dot(" in hlo and not re.search(r"f32\[40,40\]", hlo), hlo
    onp.testing.assert_allclose(jr(x), s2s.jacfwd(lambda v: wide_map(B32, C32, v))(x), rtol=1e-5, atol=1e-6)
    s2s.config.update("enable_x64", True)
    try:
        x64 = x.astype(onp.float64)
        J = s2s.jit(s2s.jacrev(lambda v: wide_map(B, C, v)))(x64)
        onp.testing.assert_allclose(J, fd_jacobian(lambda v: wide_map(B, C, v), x64), rtol=1e-6, atol=1e-8)
    finally:
        s2s.config.update("enable_x64", False)
