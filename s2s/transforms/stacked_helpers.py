"""Second order through the linear-algebra adjoint helpers (``s2s.lax.vjp_helpers``:
``cholesky_grad``, ``eigh_grad``, ``lu_grad``, ``qr_grad``, ``svd_grad``,
``triangular_solve_grad_a``, ``triangular_solve_grad_b``).

``hessian`` (vmap of jvp of grad), ``jacfwd(grad)`` and ``jacrev(grad)`` (vmap of vjp of
grad) differentiate these helpers again. Differentiated from their source, their jvp and
backward code ran once per basis vector under vmap. Their templates here call
``stacked_tangent`` and ``stacked_cotangents``, which take forward and reverse mode of
the helper's source when the code runs (as ``dynamic_rules`` does for function values),
and whose batch rules make every basis vector one call: the helpers act on stacks of
matrices (the last two axes; leading axes are stack axes, every shape and parameter read
from the operands when they run), so their jvp and their forward-and-backward pass do
too, and a batch of examples is one more stack axis. Unbatched operands are broadcast
along it: exact, at the cost of the helper's primal arithmetic once per example.

Generated code reads, for ``bA = lax.vjp_helpers.cholesky_grad(bL, L, True)`` under
forward mode::

    dbA = stacked_tangent(lax.vjp_helpers.cholesky_grad, (bL, L), (dbL, dL), lower=True)

>>> import numpy as onp
>>> L = onp.array([[2.0, 0.0], [1.0, 3.0]])
>>> # triangular_solve_grad_b(g, L) = L^-T g is linear in g: along dg = I, da = 0, L^-T
>>> stacked_tangent(lax.vjp_helpers.triangular_solve_grad_b, (onp.eye(2), L),
...                 (onp.eye(2), onp.zeros((2, 2))), left_side=True, lower=True)
array([[ 0.5       , -0.16666667],
       [ 0.        ,  0.33333334]], dtype=float32)
"""
from s2s import lax
from s2s.core.primitive import d, def_batch, def_jvp, def_vjp
from s2s.lax import vjp_helpers as H
from s2s.numpy.batching import broadcast_batch, leading_size, loop_call
from s2s.transforms import forward, fwd_support, vjp_builder

materialize = None  # bound by the forward transformation (see s2s.transforms.templates)


def stacked_tangent(fn, operands, tangents, **statics):
    """The tangent of ``fn(*operands, **statics)`` along ``tangents`` (one per operand):
    the jvp s2s generates from ``fn``'s source."""
    build = forward.build_jvp(fn, _params(fn, operands))
    return build.cell.cell_contents(*tangents, *operands, **statics)[1]


def stacked_cotangents(fn, operands, ct, **statics):
    """The adjoints of ``operands`` in ``fn(*operands, **statics)`` from the result's
    adjoint ``ct`` (a tuple, one per operand): the forward and backward functions s2s
    generates from ``fn``'s source, run together."""
    build = vjp_builder.build_vjp(fn, _params(fn, operands))
    if not build.output_active:
        return tuple(fwd_support.zeros_tangent(x) for x in operands)
    _, tape = build.fwd_cell.cell_contents(*operands, **statics)
    cts = build.bwd_cell.cell_contents(tape, ct)
    cts = cts if len(operands) > 1 else (cts,)
    return tuple(fwd_support.zeros_tangent(x) if c is None else c for c, x in zip(cts, operands))


def _params(fn, operands):
    return tuple(forward.positional_params(fn)[:len(operands)])


# Third order (a derivative of these themselves) records their calls on their arguments:
# they run s2s's transformations inside.
stacked_tangent.__s2s_traced__ = True
stacked_cotangents.__s2s_traced__ = True


# The helpers written on stacks of matrices (the stacking below is exact for them only).
STACKED_HELPERS = frozenset({H.cholesky_grad, H.eigh_grad, H.lu_grad, H.qr_grad, H.svd_grad,
                             H.triangular_solve_grad_a, H.triangular_solve_grad_b})


def _stacked_rule(fn_stacked):
    """Batch rule of ``stacked_tangent``/``stacked_cotangents``: every operand, tangent and
    adjoint with the batch axis first (unbatched ones broadcast), then one call; any other
    function (or a batch of functions) once per example."""
    def rule(axes, /, fn, *args, **statics):
        axes = tuple(axes) + (None,) * (1 + len(args) - len(axes))
        if axes[0] is not None or fn not in STACKED_HELPERS:
            return loop_call(fn_stacked, axes, (fn,) + args, statics)
        n = leading_size([a for a, ax in zip(args, axes[1:]) if ax is not None])
        stacked = [a if ax is not None else broadcast_batch(a, n) for a, ax in zip(args, axes[1:])]
        return fn_stacked(fn, *stacked, **statics)
    return rule


def_batch(stacked_tangent)(_stacked_rule(stacked_tangent))
def_batch(stacked_cotangents)(_stacked_rule(stacked_cotangents))


# ---------------------------------------------------------------------------
# The templates: one jvp and one vjp per helper, its array operands first.


@def_jvp(H.cholesky_grad)
def _cholesky_grad_jvp(out, g, factor, lower=True):
    d[out] = stacked_tangent(lax.vjp_helpers.cholesky_grad, (g, factor),
                             (materialize(d[g], g), materialize(d[factor], factor)), lower=lower)


@def_vjp(H.cholesky_grad)
def _cholesky_grad_vjp(out, g, factor, lower=True):
    cts = stacked_cotangents(lax.vjp_helpers.cholesky_grad, (g, factor), d[out], lower=lower)
    d[g] = cts[0]
    d[factor] = cts[1]


@def_jvp(H.eigh_grad)
def _eigh_grad_jvp(out, g, ans, lower=True):
    d[out] = stacked_tangent(lax.vjp_helpers.eigh_grad, (g, ans),
                             (materialize(d[g], g), materialize(d[ans], ans)), lower=lower)


@def_vjp(H.eigh_grad)
def _eigh_grad_vjp(out, g, ans, lower=True):
    cts = stacked_cotangents(lax.vjp_helpers.eigh_grad, (g, ans), d[out], lower=lower)
    d[g] = cts[0]
    d[ans] = cts[1]


@def_jvp(H.lu_grad)
def _lu_grad_jvp(out, g, ans):
    d[out] = stacked_tangent(lax.vjp_helpers.lu_grad, (g, ans), (materialize(d[g], g), materialize(d[ans], ans)))


@def_vjp(H.lu_grad)
def _lu_grad_vjp(out, g, ans):
    cts = stacked_cotangents(lax.vjp_helpers.lu_grad, (g, ans), d[out])
    d[g] = cts[0]
    d[ans] = cts[1]


@def_jvp(H.qr_grad)
def _qr_grad_jvp(out, g, ans, a, full_matrices=False):
    d[out] = stacked_tangent(lax.vjp_helpers.qr_grad, (g, ans, a),
                             (materialize(d[g], g), materialize(d[ans], ans), materialize(d[a], a)),
                             full_matrices=full_matrices)


@def_vjp(H.qr_grad)
def _qr_grad_vjp(out, g, ans, a, full_matrices=False):
    cts = stacked_cotangents(lax.vjp_helpers.qr_grad, (g, ans, a), d[out], full_matrices=full_matrices)
    d[g] = cts[0]
    d[ans] = cts[1]
    d[a] = cts[2]


@def_jvp(H.svd_grad)
def _svd_grad_jvp(out, g, a, ans, full_matrices=True, compute_uv=True):
    d[out] = stacked_tangent(lax.vjp_helpers.svd_grad, (g, a, ans),
                             (materialize(d[g], g), materialize(d[a], a), materialize(d[ans], ans)),
                             full_matrices=full_matrices, compute_uv=compute_uv)


@def_vjp(H.svd_grad)
def _svd_grad_vjp(out, g, a, ans, full_matrices=True, compute_uv=True):
    cts = stacked_cotangents(lax.vjp_helpers.svd_grad, (g, a, ans), d[out], full_matrices=full_matrices,
                             compute_uv=compute_uv)
    d[g] = cts[0]
    d[a] = cts[1]
    d[ans] = cts[2]


@def_jvp(H.triangular_solve_grad_a)
def _triangular_solve_grad_a_jvp(out, g, a, ans, left_side=False, lower=False, transpose_a=False,
                                 conjugate_a=False, unit_diagonal=False):
    d[out] = stacked_tangent(lax.vjp_helpers.triangular_solve_grad_a, (g, a, ans),
                             (materialize(d[g], g), materialize(d[a], a), materialize(d[ans], ans)),
                             left_side=left_side, lower=lower, transpose_a=transpose_a,
                             conjugate_a=conjugate_a, unit_diagonal=unit_diagonal)


@def_vjp(H.triangular_solve_grad_a)
def _triangular_solve_grad_a_vjp(out, g, a, ans, left_side=False, lower=False, transpose_a=False,
                                 conjugate_a=False, unit_diagonal=False):
    cts = stacked_cotangents(lax.vjp_helpers.triangular_solve_grad_a, (g, a, ans), d[out], left_side=left_side,
                             lower=lower, transpose_a=transpose_a, conjugate_a=conjugate_a,
                             unit_diagonal=unit_diagonal)
    d[g] = cts[0]
    d[a] = cts[1]
    d[ans] = cts[2]


@def_jvp(H.triangular_solve_grad_b)
def _triangular_solve_grad_b_jvp(out, g, a, left_side=False, lower=False, transpose_a=False,
                                 conjugate_a=False, unit_diagonal=False):
    d[out] = stacked_tangent(lax.vjp_helpers.triangular_solve_grad_b, (g, a),
                             (materialize(d[g], g), materialize(d[a], a)), left_side=left_side,
                             lower=lower, transpose_a=transpose_a, conjugate_a=conjugate_a,
                             unit_diagonal=unit_diagonal)


@def_vjp(H.triangular_solve_grad_b)
def _triangular_solve_grad_b_vjp(out, g, a, left_side=False, lower=False, transpose_a=False,
                                 conjugate_a=False, unit_diagonal=False):
    cts = stacked_cotangents(lax.vjp_helpers.triangular_solve_grad_b, (g, a), d[out], left_side=left_side,
                             lower=lower, transpose_a=transpose_a, conjugate_a=conjugate_a,
                             unit_diagonal=unit_diagonal)
    d[g] = cts[0]
    d[a] = cts[1]
