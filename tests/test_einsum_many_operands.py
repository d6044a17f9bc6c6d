"""einsum with more operands than the jvp template names one by one (8 arguments, the
subscripts included): jvp, jacfwd, jacrev, grad and hessian of 9- and 10-operand
contractions against central differences in float64 and JAX x64 where installed.

The template's terms contracted only the first seven arrays ("names 9 operands but 7
were given"), and the derivative code of a contraction of more than four arrays
(``einsum_many``) refused to be differentiated again, so hessian raised. A contraction
called with its operands as ``*ops`` lost its gradient silently (zeros: the template's
``*operands`` contribution was dropped as inactive).
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as snp

from cases import assert_close, central_jacobian, jax_x64, s2s_x64

pytestmark = pytest.mark.usefixtures("x64")  # conftest's: float64 for the differences

_r = onp.random.default_rng(3)
M = [_r.normal(size=(2, 2)) * 0.7 for _ in range(5)]
X = _r.normal(size=4)
T = _r.normal(size=4)
SPECS = {9: "ab,bc,cd,de,ef,fg,gh,hi,ij->aj", 10: "ab,bc,cd,de,ef,fg,gh,hi,ij,jk->ak"}


def _operands(N, x, n):
    a = N.sin(x.reshape(2, 2))
    b = N.cos(x.reshape(2, 2))
    ops = [a, M[0], b, M[1], a * b, M[2], M[3], b, a, M[4] + a]
    return ops[:n]


def _chain9(N):
    def f(x):
        a, m0, b, m1, ab, m2, m3, b2, a2 = _operands(N, x, 9)
        return N.einsum(SPECS[9], a, m0, b, m1, ab, m2, m3, b2, a2)
    return f


def _chain10(N):
    def f(x):
        a, m0, b, m1, ab, m2, m3, b2, a2, m4 = _operands(N, x, 10)
        return N.einsum(SPECS[10], a, m0, b, m1, ab, m2, m3, b2, a2, m4)
    return f


def _starred9(N):
    def f(x):
        return N.einsum(SPECS[9], *_operands(N, x, 9))
    return f


SUBJECTS = {"chain9": _chain9, "chain10": _chain10, "starred9": _starred9}


def _sum_sq(f, N):
    return lambda x: N.sum(f(x) ** 2)


@pytest.fixture(scope="module")
def references():
    """Central differences of each subject's value and of its s2s gradient (checked in
    test_grad_and_jacrev first), flat: (Jacobian, gradient, Hessian)."""
    out = {}
    with s2s_x64():
        for name, make in SUBJECTS.items():
            f = make(snp)
            s = _sum_sq(f, snp)
            J = central_jacobian(lambda x: onp.asarray(f(x)).ravel(), X, eps=1e-6)
            g = central_jacobian(lambda x: onp.asarray(s(x)).reshape(1), X, eps=1e-6)[0]
            H = central_jacobian(lambda x: onp.asarray(s2s.grad(s)(x)), X, eps=1e-5)
            out[name] = (J, g, H)
    return out


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_grad_and_jacrev(name, references):
    J, g, _ = references[name]
    f = SUBJECTS[name](snp)
    assert_close(s2s.grad(_sum_sq(f, snp))(X), g, rtol=1e-6, atol=1e-8, check_dtype=False)
    assert_close(onp.asarray(s2s.jacrev(f)(X)).reshape(J.shape), J, rtol=1e-6, atol=1e-8,
                 check_dtype=False)


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_jvp(name, references):
    J, _, _ = references[name]
    f = SUBJECTS[name](snp)
    out, tangent = s2s.jvp(f, (X,), (T,))
    assert_close(onp.asarray(out), onp.asarray(f(X)), rtol=1e-12, check_dtype=False)
    assert_close(onp.asarray(tangent).ravel(), J @ T, rtol=1e-6, atol=1e-8, check_dtype=False)


# The starred call is recorded (its template cannot give *ops adjoints): the chains
# exercise the templates under jacfwd and hessian.
@pytest.mark.parametrize("name", ["chain9", "chain10"])
def test_jacfwd(name, references):
    J, _, _ = references[name]
    f = SUBJECTS[name](snp)
    assert_close(onp.asarray(s2s.jacfwd(f)(X)).reshape(J.shape), J, rtol=1e-6, atol=1e-8,
                 check_dtype=False)


@pytest.mark.parametrize("name", ["chain9", "chain10"])
def test_hessian(name, references):
    _, _, H = references[name]
    s = _sum_sq(SUBJECTS[name](snp), snp)
    assert_close(s2s.hessian(s)(X), H, rtol=1e-5, atol=1e-7, check_dtype=False)


@pytest.mark.parametrize("name", ["chain9", "chain10"])
def test_against_jax(name):
    """jvp and grad against JAX (its hessian of these takes tens of seconds: the
    Hessians are checked against differences of the gradient above)."""
    jax = pytest.importorskip("jax")
    f = SUBJECTS[name](snp)
    with jax_x64(jax):
        jf = SUBJECTS[name](jax.numpy)
        want_t = onp.asarray(jax.jvp(jf, (X,), (T,))[1])
        want_g = onp.asarray(jax.grad(_sum_sq(jf, jax.numpy))(X))
    assert_close(onp.asarray(s2s.jvp(f, (X,), (T,))[1]), want_t, rtol=1e-10, atol=1e-12,
                 check_dtype=False)
    assert_close(s2s.grad(_sum_sq(f, snp))(X), want_g, rtol=1e-10, atol=1e-12, check_dtype=False)
