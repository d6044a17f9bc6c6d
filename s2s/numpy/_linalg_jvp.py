"""Tangent helpers of the ``numpy.linalg`` jvp templates (``s2s.numpy.jvp_rules``).

Each is the forward counterpart of an adjoint in ``_vjp_helpers`` (``solve_grads``,
``slogdet_grad``, ``norm_grad``...), with the same conventions; the factorizations
reuse ``s2s.lax.linalg_jvp`` (results in NumPy's order). Written on ``s2s.numpy`` with
Python ``if``s on static values only: vmap batches them by their source (as
``_vjp_helpers``), and higher orders differentiate the source.

>>> import numpy as onp
>>> a = onp.array([[2.0, 0.0], [0.0, 4.0]])
>>> solve_tangent_a(onp.eye(2), a, onp.ones(2), onp.array([0.5, 0.25]))
array([-0.25  , -0.0625], dtype=float32)
"""
import s2s.numpy as np
from s2s.core.primitive import def_batch
from s2s.lax import linalg_jvp as lax_jvp, vjp_helpers as lax_helpers
from s2s.numpy.batching import broadcast_batch, leading_size
from s2s.numpy._vjp_helpers import _norm_axes, _norm_formula, is_two_norm, through_formula_ct_g
from s2s.numpy.linalg import EighResult, QRResult, SlogdetResult, SVDResult


def solve_tangent_a(da, a, b, ans):
    """Tangent of ``x = solve(a, b)`` along ``a``: ``-solve(a, da x)`` (``b`` a vector or
    a batch of matrices, as ``solve`` reads it)."""
    if np.ndim(b) == 1:
        return -np.linalg.solve(a, np.matmul(da, ans[..., None]))[..., 0]
    return -np.linalg.solve(a, np.matmul(da, ans))


def trace_solve(a, da):
    """``trace(a^-1 da)`` over the last two axes: the tangent of ``log det``."""
    return np.trace(np.linalg.solve(a, da), axis1=-2, axis2=-1)


def slogdet_tangent(da, a, ans):
    """Tangent of ``slogdet``: ``Re tr(a^-1 da)`` for ``logabsdet``; the sign moves only
    for complex ``a`` (``i Im tr(a^-1 da) sign``, as JAX)."""
    t = trace_solve(a, da)
    if np.iscomplexobj(t):
        return SlogdetResult((t - np.real(t).astype(t.dtype)) * ans[0], np.real(t))
    return SlogdetResult(np.zeros_like(ans[0]), t)


def cholesky_tangent(da, ans, upper=False):
    """Tangent of ``cholesky`` (the triangle of ``da`` that ``cholesky`` reads)."""
    return lax_jvp.cholesky_tangent(da, ans, not upper)


def eigh_tangent(da, ans, UPLO="L"):
    """Tangent of ``eigh``: ``EighResult(dw, dv)``."""
    dv, dw = lax_jvp.eigh_tangent(da, (ans[1], ans[0]), UPLO == "L")
    return EighResult(dw, dv)


def eigvalsh_tangent(da, a, UPLO="L"):
    """Tangent of ``eigvalsh``: ``diag(V^H da V)`` with ``V`` recomputed."""
    v = np.linalg.eigh(a, UPLO)[1]
    return lax_jvp.eigvalsh_tangent(da, v, UPLO == "L")


def qr_tangent(da, ans, a, mode="reduced"):
    """Tangent of ``qr(a, mode)`` (``mode="r"`` recomputes Q)."""
    if mode == "r":
        return lax_jvp.qr_tangent(da, tuple(np.linalg.qr(a)), a, False)[1]
    return QRResult(*lax_jvp.qr_tangent(da, tuple(ans), a, mode == "complete"))


def svd_tangent(da, ans, a, full_matrices=True, compute_uv=True, hermitian=False):
    """Tangent of ``svd``: ``SVDResult(dU, dS, dVh)``, or ``dS``; ``hermitian`` reads the
    lower triangle only."""
    if hermitian:
        da, a = lax_jvp.hermitian_part(da, True), lax_jvp.hermitian_part(a, True)
    if not compute_uv:
        return lax_jvp.svd_tangent(da, a, ans, full_matrices, False)
    du, ds, dvh = lax_jvp.svd_tangent(da, a, (ans[0], ans[1], ans[2]), full_matrices, True)
    return SVDResult(du, ds, dvh)


def norm_tangent(dx, ans, x, ord=None, axis=None, keepdims=False):
    """Tangent of ``linalg.norm``: ``Re <x, dx> / norm`` for 2-norms of vectors and the
    Frobenius norm (zero at zero, as the adjoint), else forward mode of the norm written
    on differentiable functions (the formula ``norm_grad`` reverses)."""
    xa = np.asarray(x)
    if not is_two_norm(ord, axis, xa.ndim):
        return through_formula_ct_g(dx, xa, _norm_formula, (ord, axis, keepdims))
    safe = np.where(ans == 0, np.ones((), ans.dtype), ans)
    inner = np.real(np.conj(xa) * dx) if np.iscomplexobj(xa) else xa * dx
    return np.sum(inner, axis=_norm_axes(axis, xa.ndim), keepdims=keepdims) / safe


# vmap of the factorizations' tangent helpers (jacfwd: batched tangents, unbatched
# factors): they act on stacks of matrices already, so the batch axis is one more stack
# axis, the unbatched operands broadcast along it; one call, no per-example loop.
def _stacked_operands(fn, operands):
    """Batch rule of ``fn``, whose first ``operands`` arguments are (tuples of) stacks of
    matrices and the rest static."""
    def rule(axes, /, *args, **kwargs):
        n = leading_size([a for a, ax in zip(args, axes) if ax is not None])
        ops = [a if ax is not None else broadcast_batch(a, n) for a, ax in zip(args[:operands], axes)]
        return fn(*ops, *args[operands:], **kwargs)
    return rule


for _fn, _operands in ((lax_jvp.cholesky_tangent, 2), (lax_jvp.triangular_solve_tangent_a, 3),
                       (lax_jvp.lu_tangent, 2), (lax_jvp.qr_tangent, 3), (lax_jvp.svd_tangent, 3),
                       (lax_jvp.eigh_tangent, 2), (lax_jvp.eigvalsh_tangent, 2)):
    def_batch(_fn)(_stacked_operands(_fn, _operands))

# The adjoints (vmap of grad; jacrev of grad batches their adjoint ``g``) are written on
# stacks of matrices the same way.
for _fn, _operands in ((lax_helpers.cholesky_grad, 2), (lax_helpers.eigh_grad, 2),
                       (lax_helpers.lu_grad, 2), (lax_helpers.qr_grad, 3),
                       (lax_helpers.svd_grad, 3), (lax_helpers.triangular_solve_grad_a, 3),
                       (lax_helpers.triangular_solve_grad_b, 2)):
    def_batch(_fn)(_stacked_operands(_fn, _operands))


def _batched_fields(cls):
    """Batch rule of a result namedtuple: a batched tuple holds batched fields only."""
    def rule(axes, /, *fields):
        n = leading_size([f for f, ax in zip(fields, axes) if ax is not None])
        return cls(*[f if ax is not None else broadcast_batch(f, n) for f, ax in zip(fields, axes)])
    return rule


for _cls in (EighResult, QRResult, SlogdetResult, SVDResult):
    def_batch(_cls)(_batched_fields(_cls))
