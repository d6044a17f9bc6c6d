"""Regressions for the wrong answers program_fuzz found with its per-example vmap
batches, s2s.checkpoint / custom rules / lax control flow statements and third-order
stacks (task fuzz4). Each test fails on the code before its fix."""
import numpy as np
import pytest

import s2s
import s2s.numpy as snp
from s2s import lax
from s2s.errors import S2SError

import composition_checker as checker

X = np.array([0.3, -0.2, 0.5, 0.1])


def _checkpointed_closure(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5

    def layer(u):
        return snp.sin(u) * s0  # s0 is differentiated and read from the enclosing function
    return snp.sum(s2s.checkpoint(layer)(x) * s0)


def _checkpointed_closure_policy(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5

    def layer(u):
        return snp.sin(u) * s0
    kept = s2s.checkpoint(layer, policy=s2s.checkpoint_policies.nothing_saveable)
    return snp.sum(kept(x) * s0)


@pytest.mark.parametrize("fn", [_checkpointed_closure, _checkpointed_closure_policy])
@pytest.mark.parametrize("transform", ["grad", "jit_grad", "jacfwd", "jacrev", "jvp", "hessian"])
def test_checkpoint_of_closure_over_differentiated_value(fn, transform, x64):
    """s2s.checkpoint of a local function reading a differentiated value (prog500): the
    checkpoint's rules differentiate its arguments only. Eager grad returned a leaked
    Recording (grad's tracing fallback recorded one checkpoint call whose function
    closed over a recorded value); jit(grad) silently dropped that value's cotangent
    (0.5149 for 0.5555 at x[0]). Now the recording takes the checkpointed function's
    primitives (checkpointing never changes values) and jit's converted grad traces
    the call of a function value carrying a differentiated value."""
    want = checker._fd_jacobian(fn, X)
    if transform == "jvp":
        t = np.array([1.0, 0.5, -0.3, 0.2])
        got = s2s.jvp(fn, (X,), (t,))[1]
        np.testing.assert_allclose(got, want @ t, rtol=1e-6, atol=1e-9)
        return
    if transform == "hessian":
        want = checker._fd_jacobian(s2s.grad(fn), X)
        np.testing.assert_allclose(s2s.hessian(fn)(X), want, rtol=1e-6, atol=1e-8)
        return
    build = {"grad": s2s.grad, "jit_grad": lambda f: s2s.jit(s2s.grad(f)),
             "jacfwd": s2s.jacfwd, "jacrev": s2s.jacrev}[transform]
    got = build(fn)(X)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_checkpoint_of_closure_under_vmap_of_grad(x64):
    xs = np.stack([X, X * -1.5, X + 0.4])
    got = s2s.vmap(s2s.grad(_checkpointed_closure))(xs)
    want = np.stack([checker._fd_jacobian(_checkpointed_closure, x) for x in xs])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def _while_counter(x):
    def body(c):
        return c[0] + 1, c[1] * 1.3 + 0.2 * snp.sin(c[1])
    return lax.while_loop(lambda c: c[0] < 3, body, (0, x))[1]


def _while_data(x):
    def body(c):
        return c[0] + 1, c[1] * 1.3 + 0.2 * snp.sin(c[1])
    return lax.while_loop(lambda c: snp.logical_and(c[0] < 4, snp.sum(c[1] * c[1]) < 2.0), body, (0, x))[1]


def _fori(x):
    return lax.fori_loop(0, 3, lambda i, v: snp.tanh(v) * x + 0.1 * i, x)


def _cond(x):
    s = snp.sum(x)
    return lax.cond(s > 0.2, lambda u: snp.sin(u) * u, lambda u: u * u * 0.5, x)


def _scan(x):
    def step(c, r):
        c = snp.tanh(c * 0.8 + r)
        return c, c * r
    c, ys = lax.scan(step, 0.0, x)
    return ys * 0.5 + c


@pytest.mark.parametrize("fn", [_while_counter, _while_data, _fori, _cond, _scan])
@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_grad_of_jvp_through_lax_control_flow(fn, jit, x64):
    """grad of jvp through lax.while_loop with a (counter, value) carry returned zeros
    (prog2: jvp/grad): lax.control_flow_jvp's bodies call hooks.jvp, which had no vjp
    rule, so reverse mode read its source and took the call of the installed jvp for a
    constant. hooks.jvp now has s2s.jvp's rule (jvp_cotangents)."""
    t = np.array([1.0, 0.5, -0.3, 0.2])

    def jvp_of(p):
        return s2s.jvp(fn, (p[0],), (p[1],))[1]
    p = np.stack([X, t])
    want = checker._fd_jacobian(lambda q: snp.sum(jvp_of(q)), p)
    grad = s2s.grad(lambda q: snp.sum(jvp_of(q)))
    got = s2s.jit(grad)(p) if jit else grad(p)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def _ck_layer(u, w):
    h = snp.tanh(u * w + 0.3)
    return h * snp.dot(h, w) * 0.5 + snp.sin(u)


def _checkpoint_beside_closure(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5
    v1 = lax.cond(s0 > 0.5, lambda u: snp.sin(u) * s0, lambda u: u * u * 0.5 + x, x)
    v2 = s2s.checkpoint(_ck_layer)(x, v1)
    out = snp.zeros((4,))
    for i in range(4):
        out[i] = snp.tanh(x[i]) * v2[i]  # index assignment: the tracing fallback refuses it
    return out * s0


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jit_jacrev"])
def test_checkpoint_of_module_function_beside_closures(transform, x64):
    """``s2s.checkpoint(module_fn)(x, v)`` in a function that also defines closures over
    differentiated values (prog500): forward and reverse mode took the function value
    for one that may carry what any local function reads ("a function value made from
    the differentiated 's0', 'x'") and fell back to tracing, which the index assignment
    stops (ConcretizationError). A function value made by calling module values on
    module values carries nothing of this function."""
    build = {"jacfwd": s2s.jacfwd, "jacrev": s2s.jacrev,
             "jit_jacrev": lambda f: s2s.jit(s2s.jacrev(f))}[transform]
    want = checker._fd_jacobian(_checkpoint_beside_closure, X)
    np.testing.assert_allclose(build(_checkpoint_beside_closure)(X), want, rtol=1e-6, atol=1e-9)


def _aliased_closure(x):
    s0 = snp.sum(x * x) * 0.1 + 0.5

    def inner(u):
        return snp.sin(u) * s0
    h = inner  # a local name bound to the closure: not a module value
    return s2s.checkpoint(h)(x) * s0


@pytest.mark.parametrize("transform", ["jacfwd", "jacrev", "jit_jacrev"])
def test_checkpoint_of_aliased_closure_keeps_its_captures(transform, x64):
    build = {"jacfwd": s2s.jacfwd, "jacrev": s2s.jacrev,
             "jit_jacrev": lambda f: s2s.jit(s2s.jacrev(f))}[transform]
    want = checker._fd_jacobian(_aliased_closure, X)
    np.testing.assert_allclose(build(_aliased_closure)(X), want, rtol=1e-6, atol=1e-9)


def _rev_cumsum(x):
    return lax.cumsum(x * x, reverse=True) * 0.5


@pytest.mark.parametrize("shape", [(4,), (3, 2)])
def test_vmap_of_lax_cumsum_with_default_axis(shape, x64):
    """vmap of ``lax.cumsum(x, reverse=True)`` (axis left at its default, as the tracing
    fallback writes the adjoint of snp.cumsum; prog300: jacrev) raised KeyError 'axis':
    the batch rule read the axis from the call's keywords only. The default axis 0 now
    moves past the batch axis like a given one."""
    xs = np.random.default_rng(0).standard_normal((3,) + shape)
    got = s2s.vmap(_rev_cumsum)(xs)
    np.testing.assert_allclose(got, np.stack([_rev_cumsum(x) for x in xs]), rtol=1e-12)
    x = xs[0]
    np.testing.assert_allclose(s2s.jacrev(lambda v: snp.cumsum(v * v, axis=0))(x),
                               checker._fd_jacobian(lambda v: np.cumsum(v * v, axis=0), x),
                               rtol=1e-6, atol=1e-9)


def _branch_on_intermediate(x):
    v2 = snp.sin(x)
    if snp.sum(v2 * v2) > 0.01:
        v3 = snp.sin(v2)
    else:
        v3 = x - snp.tanh(v2)  # tanh(v2) is on the tape only when this branch runs
    return v3


@pytest.mark.xfail(strict=True, raises=TypeError, reason=(
    "jacfwd(jacrev(f)) with an `if` on an intermediate value whose branches save different "
    "values (prog200 at its second base): the batched backward's `if` gets a traced "
    "condition, and control_ops._staged_if runs the branch not taken to learn the type "
    "of an output only it assigns (bx); that branch reads a tape entry its forward never "
    "saved (None) and raises \"unsupported operand type(s) for *: 'NoneType'\""))
def test_jacfwd_of_jacrev_through_branch_on_intermediate(x64):
    got = s2s.jacfwd(s2s.jacrev(_branch_on_intermediate))(X)
    np.testing.assert_allclose(got, checker._fd_jacobian(s2s.jacrev(_branch_on_intermediate), X),
                               rtol=1e-6, atol=1e-8)


def _calls_parameter(x, fn):
    s0 = snp.sum(x * x)
    scale = lambda u: u * s0  # noqa: E731 - a closure over a differentiated value beside
    return snp.sum(fn(scale(x)))


@pytest.mark.parametrize("transform", ["grad", "jit_grad", "jacfwd"])
def test_call_of_function_parameter_beside_closures(transform, x64):
    """A function passed as an (undifferentiated) parameter carries nothing of the
    function it is called in, whatever closures that function defines: its call is
    differentiated through its arguments."""
    def f(x):
        return _calls_parameter(x, snp.sin)
    build = {"grad": s2s.grad, "jit_grad": lambda g: s2s.jit(s2s.grad(g)), "jacfwd": s2s.jacfwd}[transform]
    np.testing.assert_allclose(build(f)(X), checker._fd_jacobian(f, X), rtol=1e-6, atol=1e-9)


def _rows_into_float_accumulator(x):
    acc = 0.0  # a Python float, then an array: the row loop's carry
    for row in x:
        acc = acc * 0.7 + snp.tanh(row)
    return acc * x


@pytest.mark.xfail(strict=True, raises=ValueError, reason=(
    "jacrev of a loop over rows accumulating into `acc = 0.0` (prog807): the batched "
    "backward (vmap of bwd_f) reads np.shape of the Python float 0.0 (batch_support."
    "_batched_shape; it raised AttributeError on t.shape before) and then reshapes the "
    "accumulator's adjoint to the rows' shape: 'cannot reshape array of size 2 into shape (6,)'"))
def test_jacrev_of_row_loop_into_float_accumulator(x64):
    x = np.array([[0.3, -0.2], [0.5, 0.1], [0.2, 0.4]])
    np.testing.assert_allclose(s2s.jacrev(_rows_into_float_accumulator)(x),
                               checker._fd_jacobian(_rows_into_float_accumulator, x),
                               rtol=1e-6, atol=1e-9)
