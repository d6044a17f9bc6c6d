"""Stacks of transformations over custom rules, checkpoint and complex numbers
(``custom_rule_stacks.py``): a seeded sample against JAX (x64) where it is installed,
and a regression test for each wrong answer or crash that checker found, with
expected values written out by hand (no JAX needed).

The rules differ from the true derivative on purpose (2x, 3x), so a transformation
that differentiated the function's body instead of applying its rule gives another
number. ``S2S_NUM_GENERATED_CASES`` scales the sample.
"""
import functools

import numpy as np
import pytest

import s2s
import s2s.numpy as snp

from s2s.core.errors import UnsupportedSyntaxError

import custom_rule_stacks as stacks
from cases import NUM_CASES


def _sample(kind, seed):
    """Pairs of layers to second order (third order takes seconds a case: the command line)."""
    return [pytest.param(kind, name, stack, id=f"{name}:{'/'.join(stack)}")
            for name, stack in stacks.cases(kind, 2, max(2, NUM_CASES // 2), seed, max_order=2)]


@pytest.mark.parametrize("kind,name,stack", _sample("custom", 7) + _sample("complex", 8))
def test_stack_matches_jax(kind, name, stack, x64):
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:  # JAX's mode restored: later tests of this worker compare with JAX's float32
        status, detail = stacks.run_case(kind, name, stack)
    finally:
        jax.config.update("jax_enable_x64", old)
    assert status != "FAIL", detail


# ---------------------------------------------------------------------------
# Regressions (expected values by hand; JAX gives the same).

@s2s.custom_jvp
def sin3(x):
    return snp.sin(x)


@sin3.defjvp
def sin3_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return sin3(x), 3.0 * snp.cos(x) * t  # 3x the true derivative


X = np.array([0.3, -0.5, 0.8])


def _sin3_times_x(v):
    return snp.sum(sin3(v) * v)


def test_second_derivative_of_a_custom_jvp_function_uses_the_rule(x64):
    """grad of grad records the inner gradient, and the recording held the primitives
    of ``sin3``'s body: the outer derivative of the primal ``sin3(v)`` in ``3 cos(v) v +
    sin3(v)`` was cos(v), not the rule's 3 cos(v). The recording keeps the call now."""
    g = s2s.grad(_sin3_times_x)
    np.testing.assert_allclose(g(X), 3.0 * np.cos(X) * X + np.sin(X), rtol=1e-12)
    want = -3.0 * np.sin(X) * X + 6.0 * np.cos(X)
    gg = s2s.grad(lambda v: snp.sum(g(v)))
    np.testing.assert_allclose(gg(X), want, rtol=1e-12)
    np.testing.assert_allclose(np.diag(s2s.hessian(_sin3_times_x)(X)), want, rtol=1e-12)
    assert "custom_call(sin3_jvp, x0)" in s2s.source(gg)  # the recording names the rule


def test_differentiating_a_vmapped_custom_jvp_function_uses_the_rule(x64):
    """jvp/grad of vmap(f) record the batched call: the custom rule was lost there too."""
    xs = np.stack([X, 0.5 * X])
    vf = s2s.vmap(lambda v: sin3(v) * v)
    _, dy = s2s.jvp(vf, (xs,), (np.ones_like(xs),))
    np.testing.assert_allclose(dy, 3.0 * np.cos(xs) * xs + np.sin(xs), rtol=1e-12)
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(vf(v)))(xs),
                               3.0 * np.cos(xs) * xs + np.sin(xs), rtol=1e-12)


@s2s.custom_jvp
def sincos(x):
    return snp.sin(x), snp.cos(x)


@sincos.defjvp
def sincos_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    s, c = sincos(x)
    return (s, c), (1.5 * c * t, -s * t)


def test_custom_jvp_rule_reading_its_primal_outputs_under_grad(x64):
    """Reverse mode transposes the rule in its tangents. ``(x,), (t,) = primals,
    tangents`` made ``x`` look varied (the tuple ``(primals, tangents)`` as one
    variable), so the transposed rule differentiated ``sincos(x)`` again, which
    transposed the rule again: RecursionError. Activity now tracks tuple items."""
    f = lambda v: snp.sum(sincos(v)[0] * sincos(v)[1])  # noqa: E731
    np.testing.assert_allclose(s2s.grad(f)(X), 1.5 * np.cos(X) ** 2 - np.sin(X) ** 2, rtol=1e-12)


@s2s.custom_vjp
def cube(x):
    return x * x * x


def cube_fwd(x):
    return x * x * x, snp.cos(x)


def cube_bwd(res, g):
    return (2.0 * res * g,)  # not the derivative 3 x^2 on purpose


cube.defvjp(cube_fwd, cube_bwd)


def test_second_derivative_of_a_custom_vjp_function_differentiates_fwd_and_bwd(x64):
    """As in JAX, a derivative of the gradient differentiates ``fwd`` and ``bwd``: the
    gradient's forward pass takes the value from ``fwd``. Once recordings kept custom
    calls (for custom_jvp, above), the outer derivative applied the rule a second time
    to the primal ``cube(x)`` there."""
    f = lambda v: snp.sum(snp.sin(cube(v)))  # noqa: E731
    g = s2s.grad(f)
    np.testing.assert_allclose(g(X), np.cos(X ** 3) * 2.0 * np.cos(X), rtol=1e-12)
    want = -np.sin(X ** 3) * 3.0 * X ** 2 * 2.0 * np.cos(X) - 2.0 * np.cos(X ** 3) * np.sin(X)
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(g(v)))(X), want, rtol=1e-12)
    np.testing.assert_allclose(np.diag(s2s.jacrev(g)(X)), want, rtol=1e-12)


def test_hessian_of_checkpointed_custom_rule_functions(x64):
    """hessian (forward over reverse) of custom_jvp, custom_vjp and checkpoint calls:
    forward mode read the source of the runtime helpers, which call s2s's own
    transformations ("grad does not support try/except")."""
    ck = s2s.checkpoint(lambda v: sin3(v) * v)
    H = s2s.hessian(lambda v: snp.sum(ck(v)))(X)
    np.testing.assert_allclose(np.diag(H), -3.0 * np.sin(X) * X + 6.0 * np.cos(X), rtol=1e-12)
    np.testing.assert_allclose(H - np.diag(np.diag(H)), 0.0, atol=1e-14)
    np.testing.assert_allclose(s2s.jvp(s2s.grad(lambda v: snp.sum(ck(v))), (X,), (np.ones(3),))[1],
                               -3.0 * np.sin(X) * X + 6.0 * np.cos(X), rtol=1e-12)


@functools.partial(s2s.custom_jvp, nondiff_argnums=(1,))
def shift(x, k):
    return snp.sin(x) + k


@shift.defjvp
def shift_jvp(k, primals, tangents):
    (x,), (t,) = primals, tangents
    return shift(x, k), 3.0 * snp.cos(x) * t


def test_nondiff_argnums_rule_at_second_order(x64):
    f = lambda v: snp.sum(shift(v, 2.0) * v)  # noqa: E731
    g = s2s.grad(f)
    np.testing.assert_allclose(g(X), 3.0 * np.cos(X) * X + np.sin(X) + 2.0, rtol=1e-12)
    np.testing.assert_allclose(s2s.grad(lambda v: snp.sum(g(v)))(X),
                               -3.0 * np.sin(X) * X + 6.0 * np.cos(X), rtol=1e-12)


# -- complex ----------------------------------------------------------------------

Z = np.array([0.3 + 0.4j, -0.5 + 0.2j])


def _wirtinger_grad(h, z, eps=1e-6):
    """JAX's gradient of a real function of complex ``z``: dh/dx - i dh/dy."""
    out = []
    for i in range(z.size):
        e = np.zeros_like(z)
        e[i] = eps
        dx = (h(z + e) - h(z - e)) / (2 * eps)
        dy = (h(z + 1j * e) - h(z - 1j * e)) / (2 * eps)
        out.append(dx - 1j * dy)
    return np.array(out)


@pytest.mark.parametrize("inner", [lambda z: snp.abs(z), lambda z: snp.abs(snp.sin(z)),
                                   lambda z: snp.abs(z * z)], ids=["abs", "abs_sin", "abs_sq"])
def test_second_derivative_through_complex_abs(inner, x64):
    """grad of the real part of grad of ``sum(|f(z)|)``: the adjoint of ``|z|`` in
    ``g * conj(z) / |z|`` (a real value) came out complex and went on into abs's
    adjoint, giving another number (no error); for ``abs(z)`` itself, conj's adjoint
    raised on the real cotangent it got. Real values get real adjoints now."""
    g = s2s.grad(lambda z: snp.sum(inner(z)))
    h = lambda v: snp.sum(snp.real(g(v)))  # noqa: E731
    want = _wirtinger_grad(lambda v: float(np.sum(np.real(np.asarray(g(v))))), Z)
    np.testing.assert_allclose(s2s.grad(h)(Z), want, rtol=1e-6, atol=1e-8)


def test_complex_of_reals_read_through_real_and_imag(x64):
    """``real(complex(a, b)) * imag(complex(a, b))``: the cotangent reaching
    ``lax.complex`` through ``np.real`` is real, whose real part lax.real refused (grad,
    hessian and jacrev raised a DtypeError); its imaginary part is zero."""
    from s2s import lax
    f = lambda v: snp.real(lax.complex(v[0], v[1])) * snp.imag(lax.complex(v[0], v[1]))  # noqa: E731
    v = np.array([0.7, 0.3])
    np.testing.assert_allclose(s2s.grad(f)(v), [0.3, 0.7], rtol=1e-12)
    np.testing.assert_allclose(s2s.hessian(f)(v), [[0.0, 1.0], [1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(s2s.jacrev(s2s.grad(f))(v), [[0.0, 1.0], [1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(s2s.jit(s2s.grad(f))(v), [0.3, 0.7], rtol=1e-12)


def test_jacrev_of_a_real_function_through_complex_values_is_real(x64):
    """jacrev of R -> R through complex intermediates returned the complex pulled-back
    cotangent (a spurious imaginary part); grad took the real part already."""
    x = np.array([0.3, 0.5])
    f = lambda v: snp.abs(snp.exp(1j * v) + v) ** 2  # noqa: E731
    J = s2s.jacrev(f)(x)
    assert J.dtype == np.float64
    want = 2.0 * (np.cos(x) + x) * (1.0 - np.sin(x)) + 2.0 * np.sin(x) * np.cos(x)
    np.testing.assert_allclose(J, np.diag(want), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(s2s.jacfwd(f)(x), np.diag(want), rtol=1e-12, atol=1e-14)


def test_jacobian_of_a_vjp_pullback(x64):
    """jacrev/jacfwd of a pullback as a function of the cotangent: the transformations
    read the source of vjp's inner ``vjp_fn`` and refused its try/except; it is recorded
    now, as vjp itself is."""
    A = np.linspace(-1.0, 1.0, 12).reshape(3, 4)
    x = np.array([0.3, -0.5, 0.8, 0.45])
    y, pull = s2s.vjp(lambda v: snp.tanh(A @ v) * 2.0, x)
    J = np.diag(2.0 * (1.0 - np.tanh(A @ x) ** 2)) @ A
    g = np.cos(np.asarray(y))
    for jac in (s2s.jacrev, s2s.jacfwd):
        np.testing.assert_allclose(jac(lambda c: pull(c)[0])(g), J.T, rtol=1e-12)


_global_pair = stacks.pair_rule(s2s, snp)


def _cv_tree_global(x):
    p, q = _global_pair({"a": x[:2], "b": x[2:]})
    return snp.concatenate([p, q * 2.0])


def _cv_tree_default(x, N=snp, pair=_global_pair):
    p, q = pair({"a": x[:2], "b": x[2:]})
    return N.concatenate([p, q * 2.0])


class _Holder:
    np = snp

    def cv_tree(self, x):
        p, q = _global_pair({"a": x[:2], "b": x[2:]})
        return self.np.concatenate([p, q * 2.0])


_REACHED = {"closure": lambda: stacks.custom_subjects(s2s, snp)["cv_tree"],
            "global": lambda: _cv_tree_global, "default": lambda: _cv_tree_default,
            "attribute": lambda: _Holder().cv_tree}


@pytest.mark.parametrize("how", sorted(_REACHED))
def test_vmap_of_grad_with_numpy_reached_any_way(how, x64):
    """vmap of grad through a pytree custom_vjp whose output is concatenated. The batched
    backward wrote ``pack_grad(like, parts)`` as is for a batched ``like`` and unbatched
    parts (the seed's cotangent, the same for every example): the rule's backward then
    took the parts' first axis for the batch (a ShapeError in getitem_grad). numpy as a
    closure variable, a global, a default argument or an attribute, all alike."""
    f = _REACHED[how]()
    xs = np.random.default_rng(0).uniform(-1.0, 1.0, (3, 4))
    g = s2s.grad(lambda v: snp.sum(f(v)))
    want = np.stack([g(x) for x in xs])
    a, b = xs[:, :2], xs[:, 2:]  # the rule's own numbers: d/da = b + cos(a), d/db = a
    np.testing.assert_allclose(want, np.concatenate([b + np.cos(a), a], axis=1), rtol=1e-12)
    np.testing.assert_allclose(s2s.vmap(g)(xs), want, rtol=1e-12)


def test_numpy_imported_inside_the_function_is_refused_by_name(x64):
    def f(x):
        import s2s.numpy as N
        return N.sum(N.sin(x))
    with pytest.raises(UnsupportedSyntaxError, match="import inside the function"):
        s2s.vmap(s2s.grad(f))(np.ones((2, 3)))
