"""Forward templates of reductions, cumulative ops, sorting, quantiles, clip, vdot, einsum
and the softmax family (lax and NumPy level): each is checked against directional central
differences in float64, against s2s's own vjp (``<J t, u> == <t, J^T u>``), under jacfwd
(vmap of the template: no per-example call; equal under jit) and against ``jax.jvp``.
The lax primitives' single cases run in test_lax_vjp.py; here they run in functions."""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from cases import jax_x64
from s2s import lax
from s2s.scipy.special import log_softmax, logsumexp, softmax

try:
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jsp
except ImportError:  # comparisons with JAX are optional
    jax = jnp = jsp = None

_r = onp.random.default_rng(7)
X = _r.uniform(0.5, 1.5, (3, 4))
Y = _r.uniform(-1.0, 1.0, (4, 2))
ZEROS = X.copy()
ZEROS[1, 2] = 0.0
ZEROS[2, 0] = 0.0
ZEROS[2, 3] = 0.0  # a row with two zeros: every tangent after the second is zero


def f_reduce_max(x):
    return lax.reduce_max(lax.sin(x), axes=(1,))


def f_reduce_min(x):
    return lax.reduce_min(x * x, axes=(0,))


def f_reduce_prod(x):
    return lax.reduce_prod(x, axes=(1,))


def f_cumprod(x):
    return lax.cumprod(x, axis=1) + lax.cumprod(x, axis=0, reverse=True)


def f_cummax(x):
    return lax.cummax(lax.sin(3.0 * x), axis=1) + lax.cummin(x, axis=0, reverse=True)


def f_sort(x):
    keys, vals = lax.sort(lax.sin(3.0 * x), x * x, dimension=1, num_keys=1)
    return keys * vals


def f_select_n(x):
    return lax.select_n(lax.gt(x, 1.0), x * x, lax.sin(x))


def f_max(x):
    return np.max(np.sin(3.0 * x), axis=0) + np.min(x, axis=1, keepdims=True)


def f_prod(x):
    return np.prod(x, axis=1) + np.prod(x)


def f_var(x):
    return np.var(x, axis=0) + np.std(x, axis=1, ddof=1)[:, None]


def f_sort_np(x):
    return np.sort(np.sin(3.0 * x), axis=0) * np.sort(x, axis=None)[:4]


def f_quantile(x):
    return np.quantile(x, 0.3, axis=1) + np.median(x) + np.percentile(x, 70.0, axis=1)


def f_clip(x, lo, hi):
    return np.clip(x, lo, hi)


def f_vdot(x, y):
    return np.vdot(x, np.sin(y))


def f_einsum(x, y):
    return np.einsum("ij,jk->ik", x, y) + np.einsum("ij->j", x * x)[:2]


def f_logsumexp(x, b):
    return logsumexp(x, axis=1, b=b) + logsumexp(x)


def f_softmax(x):
    return softmax(x, axis=1) + log_softmax(x * x, axis=0)


def _jax_fns():
    if jax is None:
        return {}
    jl = jax.lax
    return {
        "reduce_max": lambda x: jl.reduce_max(jnp.sin(x), axes=(1,)),
        "reduce_min": lambda x: jl.reduce_min(x * x, axes=(0,)),
        "reduce_prod": lambda x: jl.reduce_prod(x, axes=(1,)),
        "cumprod": lambda x: jl.cumprod(x, axis=1) + jl.cumprod(x, axis=0, reverse=True),
        "cumprod_zeros": lambda x: jl.cumprod(x, axis=1) + jl.cumprod(x, axis=0, reverse=True),
        "cummax": lambda x: jl.cummax(jnp.sin(3.0 * x), axis=1) + jl.cummin(x, axis=0, reverse=True),
        "sort": lambda x: jnp.prod(jnp.stack(jl.sort((jnp.sin(3.0 * x), x * x), dimension=1,
                                                     num_keys=1)), axis=0),
        "select_n": lambda x: jl.select_n(x > 1.0, x * x, jnp.sin(x)),
        "max": lambda x: jnp.max(jnp.sin(3.0 * x), axis=0) + jnp.min(x, axis=1, keepdims=True),
        "prod": lambda x: jnp.prod(x, axis=1) + jnp.prod(x),
        "var": lambda x: jnp.var(x, axis=0) + jnp.std(x, axis=1, ddof=1)[:, None],
        "sort_np": lambda x: jnp.sort(jnp.sin(3.0 * x), axis=0) * jnp.sort(x, axis=None)[:4],
        "quantile": lambda x: (jnp.quantile(x, 0.3, axis=1) + jnp.median(x)
                               + jnp.percentile(x, 70.0, axis=1)),
        "clip": lambda x, lo, hi: jnp.clip(x, lo, hi),
        "vdot": lambda x, y: jnp.vdot(x, jnp.sin(y)),
        "einsum": lambda x, y: jnp.einsum("ij,jk->ik", x, y) + jnp.einsum("ij->j", x * x)[:2],
        "logsumexp": lambda x, b: jsp.logsumexp(x, axis=1, b=b) + jsp.logsumexp(x),
        "softmax": lambda x: jax.nn.softmax(x, axis=1) + jax.nn.log_softmax(x * x, axis=0),
    }


# (name, function, arguments); every argument is differentiated.
CASES = [
    ("reduce_max", f_reduce_max, (X,)),
    ("reduce_min", f_reduce_min, (X,)),
    ("reduce_prod", f_reduce_prod, (ZEROS,)),
    ("cumprod", f_cumprod, (X,)),
    ("cumprod_zeros", f_cumprod, (ZEROS,)),
    ("cummax", f_cummax, (X,)),
    ("sort", f_sort, (X,)),
    ("select_n", f_select_n, (X,)),
    ("max", f_max, (X,)),
    ("prod", f_prod, (ZEROS,)),
    ("var", f_var, (X,)),
    ("sort_np", f_sort_np, (X,)),
    ("quantile", f_quantile, (X,)),
    ("clip", f_clip, (X, _r.uniform(0.6, 0.9, (4,)), 1.2)),
    ("vdot", f_vdot, (X[:, :2], Y[:3])),
    ("einsum", f_einsum, (X, Y)),
    ("logsumexp", f_logsumexp, (X, _r.uniform(0.5, 2.0, (3, 4)))),
    ("softmax", f_softmax, (X,)),
]
IDS = [c[0] for c in CASES]


def _tangents(args, seed=0):
    r = onp.random.default_rng(seed)
    return tuple(r.uniform(-1.0, 1.0, onp.shape(a)) for a in args)


def _directional(f, args, ts, h=1e-6):
    plus = f(*[a + h * t for a, t in zip(args, ts)])
    minus = f(*[a - h * t for a, t in zip(args, ts)])
    return (onp.asarray(plus) - onp.asarray(minus)) / (2 * h)


@pytest.mark.parametrize("name,f,args", CASES, ids=IDS)
def test_jvp_template_matches_differences_and_vjp(name, f, args, x64):
    assert "transposed_jvp" not in s2s.jvp_source(f), "the template was not used"
    ts = _tangents(args)
    out, tangent = s2s.jvp(f, args, ts)
    onp.testing.assert_allclose(out, f(*args), rtol=1e-12)
    onp.testing.assert_allclose(tangent, _directional(f, args, ts), rtol=1e-6, atol=1e-8)
    # <J t, u> == <t, J^T u>: forward and reverse mode agree on ties, zeros and masks.
    u = onp.random.default_rng(1).uniform(-1.0, 1.0, onp.shape(out))
    _, pullback = s2s.vjp(f, *args)
    cts = pullback(u)
    lhs = onp.sum(tangent * u)
    rhs = sum(onp.sum(onp.asarray(c) * t) for c, t in zip(cts, ts))
    onp.testing.assert_allclose(lhs, rhs, rtol=1e-10)


@pytest.mark.parametrize("name,f,args", CASES, ids=IDS)
def test_jacfwd_batches_the_template(name, f, args, x64, loops):
    """jacfwd vmaps the template (no per-example call) and jit(jacfwd) agrees."""
    argnums = tuple(range(len(args)))
    jac = s2s.jacfwd(f, argnums=argnums)(*args)
    assert loops == [], f"per-example calls under jacfwd: {loops}"
    staged = s2s.jit(s2s.jacfwd(f, argnums=argnums))(*args)
    for j, s, a in zip(jac, staged, args):
        onp.testing.assert_allclose(s, j, rtol=1e-12, atol=1e-14)
    ts = _tangents(args)
    expected = _directional(f, args, ts)
    got = sum(onp.tensordot(j, t, axes=onp.ndim(t)) for j, t in zip(jac, ts))
    onp.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-8)


def _jax_tangent(jf, primals, tangents):
    """jax.jvp's tangent, compiled as one program (faster than JAX's op-by-op dispatch)."""
    return jax.jit(lambda p, t: jax.jvp(jf, tuple(p), tuple(t))[1])(primals, tangents)


@pytest.mark.skipif(jax is None, reason="jax is not installed")
@pytest.mark.parametrize("name,f,args", CASES, ids=IDS)
def test_jvp_matches_jax(name, f, args, x64):
    ts = _tangents(args)
    _, tangent = s2s.jvp(f, args, ts)
    with jax_x64(jax):
        jf = _jax_fns()[name]
        expected = onp.asarray(_jax_tangent(jf, [jnp.asarray(a) for a in args],
                                            [jnp.asarray(t) for t in ts]))
    onp.testing.assert_allclose(tangent, expected, rtol=1e-10, atol=1e-12)


def test_ties_split_evenly_like_the_vjp(x64):
    """A tie of reduce_max/np.max shares the tangent equally (JAX's convention too)."""
    x = onp.array([[1.0, 3.0, 3.0], [2.0, 0.0, 2.0]])
    t = onp.array([[5.0, 1.0, 2.0], [4.0, 7.0, 6.0]])
    _, dl = s2s.jvp(lambda x: lax.reduce_max(x, axes=(1,)), (x,), (t,))
    _, dn = s2s.jvp(lambda x: np.max(x, axis=1), (x,), (t,))
    onp.testing.assert_array_equal(dl, [1.5, 5.0])
    onp.testing.assert_array_equal(dn, [1.5, 5.0])


def test_cumprod_tangent_is_exact_with_zeros(x64):
    """No division by the operand: zeros give the exact tangent, not NaN or a rounding."""
    x = onp.array([2.0, 0.0, 3.0, 0.0, 5.0])
    t = onp.array([1.0, 1.0, 1.0, 1.0, 1.0])
    _, dy = s2s.jvp(lambda x: lax.cumprod(x, axis=0), (x,), (t,))
    # dy[i] = sum_j t_j * prod_{k <= i, k != j} x_k
    onp.testing.assert_array_equal(dy, [1.0, 2.0, 6.0, 0.0, 0.0])
    _, dy = s2s.jvp(lambda x: np.cumprod(x), (x,), (t,))
    onp.testing.assert_array_equal(dy, [1.0, 2.0, 6.0, 0.0, 0.0])


def _quantile_family(x):
    return (np.quantile(x, 0.3) + np.median(x * x, axis=0)[1]
            + np.percentile(np.sin(x), 65.0, axis=1)[0])


def test_hessian_through_quantile_median_percentile(x64):
    x = X.copy()
    hess = s2s.hessian(_quantile_family)(x)
    grad = s2s.grad(_quantile_family)
    h = 1e-6
    cols = []
    for k in range(x.size):
        e = onp.zeros(x.size)
        e[k] = h
        e = e.reshape(x.shape)
        cols.append((onp.asarray(grad(x + e)) - onp.asarray(grad(x - e))) / (2 * h))
    expected = onp.stack(cols, -1).reshape(x.shape + x.shape)
    onp.testing.assert_allclose(hess, expected, rtol=1e-6, atol=1e-7)
    fwd = s2s.jacfwd(s2s.jacfwd(_quantile_family))(x)
    onp.testing.assert_allclose(fwd, expected, rtol=1e-6, atol=1e-7)


def _helper_cases():
    """(helper, arguments, names of the arrays that may be batched) for the helpers with
    an along-axes batch rule."""
    from s2s.lax import vjp_helpers as H
    from s2s.numpy import _vjp_helpers as N
    r = onp.random.default_rng(3)
    x = r.uniform(0.5, 1.5, (3, 4))
    x[1, 1] = 0.0
    t = r.uniform(-1.0, 1.0, (3, 4))
    mask = onp.array([True, False, True, True])
    tied = onp.round(x * 2) / 2
    return [
        (H.reduce_chooser_tangent, dict(t=t, x=tied, ans=onp.max(tied, 1), axes=(-1,)), "t x ans"),
        (H.reduce_prod_tangent, dict(t=t, x=x, axes=(0,)), "t x"),
        (H.cumprod_tangent, dict(t=t, x=x, ans=onp.cumprod(x[:, ::-1], 1)[:, ::-1], axis=1,
                                 reverse=True), "t x ans"),
        (H.cumextremum_tangent, dict(t=t, x=tied, ans=onp.maximum.accumulate(tied, 0), axis=0),
         "t x ans"),
        (N.extremum_tangent, dict(t=t, ans=onp.max(tied, 0, keepdims=True), a=tied, axis=0,
                                  keepdims=True), "t ans a"),
        (N.extremum_tangent, dict(t=t, ans=onp.max(tied, initial=0.0, where=mask), a=tied,
                                  axis=None, where=mask), "t ans a where"),
        (N.prod_tangent, dict(t=t, ans=onp.prod(x, 1), a=x, axis=-1), "t ans a"),
        (N.var_tangent, dict(t=t, a=x, axis=(0, 1), ddof=1), "t a"),
        (N.std_tangent, dict(t=t, ans=onp.std(x, 1, where=mask), a=x, axis=1, where=mask),
         "t ans a where"),
    ]


@pytest.mark.parametrize("helper,kwargs,names", _helper_cases(),
                         ids=lambda v: getattr(v, "__name__", ""))
def test_helper_batch_rules_match_a_loop_over_examples(helper, kwargs, names, x64):
    """Every choice of batched arrays (a batch of two examples)."""
    from s2s.core.primitive import rules_of
    rule = rules_of(helper).batch
    names = names.split()
    bound = __import__("inspect").signature(helper).bind(**kwargs)
    bound.apply_defaults()
    kwargs = dict(bound.arguments)  # in the order of the parameters: passed positionally
    for k in range(1, len(names) + 1):
        for chosen in __import__("itertools").combinations(names, k):
            args = dict(kwargs)
            for n in chosen:
                v = onp.asarray(args[n])
                # Only the tangent and masks differ: the primal values must stay consistent.
                second = v * 0.5 if n == "t" else onp.roll(v, 1) if v.dtype == bool else v
                args[n] = onp.stack([v, second])
            axes = [0 if n in chosen else None for n in args]
            got = rule(axes, *args.values())
            expected = onp.stack([
                helper(**{n: (v[i] if n in chosen else v) for n, v in args.items()})
                for i in range(2)])
            onp.testing.assert_allclose(got, expected, rtol=1e-12, err_msg=f"batched: {chosen}")


COMPLEX = [
    ("var", lambda z: np.var(z, axis=1), lambda z: jnp.var(z, axis=1)),
    ("std", lambda z: np.std(z), lambda z: jnp.std(z)),
    ("vdot", lambda z: np.vdot(z, onp.conj(z) + 1.0), lambda z: jnp.vdot(z, jnp.conj(z) + 1.0)),
    ("prod", lambda z: np.prod(z, axis=0), lambda z: jnp.prod(z, axis=0)),
    ("cumprod", lambda z: lax.cumprod(z, axis=1), lambda z: jax.lax.cumprod(z, axis=1)),
    ("einsum", lambda z: np.einsum("ij,kj->ik", z, z), lambda z: jnp.einsum("ij,kj->ik", z, z)),
]


@pytest.mark.skipif(jax is None, reason="jax is not installed")
@pytest.mark.parametrize("name,f,jf", COMPLEX, ids=[c[0] for c in COMPLEX])
def test_complex_jvp_matches_jax(name, f, jf, x64):
    """Complex operands along complex tangents (var/std: real results, JAX's convention)."""
    r = onp.random.default_rng(5)
    z = r.normal(size=(3, 4)) + 1j * r.normal(size=(3, 4))
    t = r.normal(size=(3, 4)) + 1j * r.normal(size=(3, 4))
    _, tangent = s2s.jvp(f, (z,), (t,))
    with jax_x64(jax):
        expected = onp.asarray(_jax_tangent(jf, [jnp.asarray(z)], [jnp.asarray(t)]))
    onp.testing.assert_allclose(tangent, expected, rtol=1e-10, atol=1e-12)
