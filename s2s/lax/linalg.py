"""Linear-algebra primitives: Cholesky, triangular solve, LU, QR, SVD, symmetric eigensolver.

Semantics follow ``jax.lax.linalg``; every primitive works on a batch of matrices
(the last two axes) of dtype float32, float64, complex64 or complex128.

=====================  ===========================================  ============================
primitive              result                                       under ``jit`` (CPU)
=====================  ===========================================  ============================
``cholesky``           ``L`` with ``a = L L^H`` (or ``U^H U``)      ``stablehlo.cholesky``
``triangular_solve``   ``x`` with ``op(a) x = b`` (or ``x op(a)``)  ``stablehlo.triangular_solve``
``lu``                 packed ``LU``, pivots, permutation           ``lapack_?getrf_ffi``
``qr``                 ``q``, ``r``                                 ``lapack_?geqrf_ffi`` +
                                                                    ``lapack_?orgqr_ffi``/``ungqr``
``svd``                ``s`` (and ``u``, ``vt``)                    ``lapack_?gesdd_ffi``
``eigh``               eigenvectors ``v``, ascending eigenvalues    ``lapack_?syevd_ffi``/``heevd``
=====================  ===========================================  ============================

Failures do not raise (they cannot under ``jit``): a matrix that is not positive
definite gives a NaN Cholesky factor, and a LAPACK routine that reports failure
fills that batch element's results with NaN, eagerly and under ``jit`` alike. LU of a
singular matrix is not a failure (its ``U`` has a zero pivot).

Eager ``impl`` rules use NumPy and SciPy; LAPACK custom calls are emitted with
column-major layouts, as jaxlib's kernels expect, and registered with the XLA
client by ``s2s.xla.lapack``.

>>> import numpy as np
>>> from s2s.lax import linalg
>>> linalg.cholesky(np.array([[4.0, 2.0], [2.0, 5.0]], np.float32))
array([[2., 0.],
       [1., 2.]], dtype=float32)
"""
import numpy as np
import importlib

from s2s import lax

from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import Primitive, primitive_wrapper, ShapedArray, abstractify
from s2s.trace.staging import StagedTracer, StagingTrace

_LAPACK_PREFIX = {dtypes.float32: "s", dtypes.float64: "d", dtypes.complex64: "c",
                  dtypes.complex128: "z"}

# ---------------------------------------------------------------------------
# Shared checks and helpers.


def _check_matrix(name, a, square=False):
    """Validates a batch of matrices ``a`` (an aval); returns ``(batch, m, n)``."""
    if a.dtype not in _LAPACK_PREFIX:
        raise DtypeError(f"{name}: unsupported dtype {a.dtype.name}; accepted dtypes are float32, "
                         "float64, complex64 and complex128")
    if a.ndim < 2:
        raise ShapeError(f"{name}: argument must have at least 2 dimensions (a batch of "
                         f"matrices), got shape {a.shape}")
    m, n = a.shape[-2:]
    if square and m != n:
        raise ShapeError(f"{name}: argument must be a batch of square matrices, got shape "
                         f"{a.shape}")
    return a.shape[:-2], m, n


def _array(x, aval):
    return np.asarray(x, aval.dtype)


def _batched(fn, *arrays, batch_ndim):
    """Applies ``fn`` (matrices -> tuple of arrays) to each batch element and stacks."""
    batch = arrays[0].shape[:batch_ndim]
    count = int(np.prod(batch, dtype=np.int64))
    flat = [a.reshape((count,) + a.shape[batch_ndim:]) for a in arrays]
    outs = [fn(*items) for items in zip(*flat)] if flat[0].shape[0] else []
    return outs, batch


def _stack(outs, batch, out_avals):
    """Stacks per-matrix results ``outs`` (a list of tuples) into arrays of ``out_avals``."""
    result = []
    for k, aval in enumerate(out_avals):
        if outs:
            arr = np.stack([np.asarray(o[k]) for o in outs]).reshape(aval.shape)
        else:
            arr = np.zeros(aval.shape, aval.dtype)
        result.append(arr.astype(aval.dtype, copy=False))
    return result


def _column_major(ndim):
    """Minor-to-major layout of a column-major batch of matrices."""
    return (ndim - 2, ndim - 1) + tuple(range(ndim - 3, -1, -1))


def _row_major(ndim):
    return tuple(range(ndim - 1, -1, -1))


def _layout_attr(layouts):
    def one(lay):
        if not lay:
            return "dense<> : tensor<0xindex>"
        return f"dense<[{', '.join(map(str, lay))}]> : tensor<{len(lay)}xindex>"
    return "[" + ", ".join(one(lay) for lay in layouts) + "]"


def _char(c):
    return f"{ord(c)} : ui8"


def lapack_target(base, dtype):
    """jaxlib's FFI target for LAPACK routine ``base`` and ``dtype``: ``lapack_sgetrf_ffi``."""
    return f"lapack_{_LAPACK_PREFIX[np.dtype(dtype)]}{base}_ffi"


def _lapack_call(ctx, base, operands, out_avals, config=None):
    """Emits a ``stablehlo.custom_call`` of jaxlib's LAPACK FFI kernel ``base``.

    Matrices (the operands and results of the highest rank) are passed column-major;
    the rest (pivots, singular values, ``info``) row-major.
    """
    in_avals = [ctx.aval(o) for o in operands]
    top = max(a.ndim for a in in_avals)

    def layout(a):
        return _column_major(a.ndim) if a.ndim == top else _row_major(a.ndim)

    backend = ", ".join(f"{k} = {v}" for k, v in (config or {}).items())
    attrs = {
        "call_target_name": f'"{lapack_target(base, in_avals[0].dtype)}"',
        "api_version": "4 : i32",
        "backend_config": "{" + backend + "}",
        "operand_layouts": _layout_attr([layout(a) for a in in_avals]),
        "result_layouts": _layout_attr([layout(a) for a in out_avals]),
    }
    return ctx.op("stablehlo.custom_call", operands, out_avals, attrs)


def _staged(ctx, fn, names, avals):
    """Runs ``fn`` (written on ``s2s.lax``) on SSA values ``names``, emitting into ``ctx``."""
    trace = StagingTrace(ctx.builder)
    args = [StagedTracer(trace, a, n) for a, n in zip(avals, names)]
    out = fn(*args)
    if isinstance(out, (list, tuple)):
        return [trace.to_tracer(o).name for o in out]
    return trace.to_tracer(out).name


def _nan_unless(ok, x, batch_ndim):
    """``x`` where the batch flag ``ok`` holds, NaN elsewhere (``x`` is staged or concrete)."""
    xa = abstractify(x)
    okb = lax.broadcast_in_dim(ok, shape=xa.shape, broadcast_dimensions=tuple(range(batch_ndim)))
    nan = lax.broadcast_in_dim(np.asarray(np.nan, xa.dtype), shape=xa.shape,
                               broadcast_dimensions=())
    return lax.select_n(okb, nan, x)


def _info_ok(info, ge=False):
    zero = np.zeros((), np.int32)
    return lax.ge(info, zero) if ge else lax.eq(info, zero)


def _define(name, impl, abstract_eval, lower, multiple_results=False):
    prim = Primitive(name, multiple_results=multiple_results)
    prim.def_impl(impl)
    prim.def_abstract_eval(abstract_eval)
    prim.def_lower(lower)
    return prim

# ---------------------------------------------------------------------------
# cholesky


def _cholesky_abstract(a, *, lower):
    _check_matrix("cholesky", a, square=True)
    return a.update(weak_type=False)


def _cholesky_one(a, lower):
    try:
        if lower:
            return (np.linalg.cholesky(a),)
        return (np.linalg.cholesky(a.conj().T).conj().T,)
    except np.linalg.LinAlgError:
        return (np.full(a.shape, np.nan, a.dtype),)


def _cholesky_impl(a, *, lower):
    out = _cholesky_abstract(abstractify(a), lower=lower)
    a = _array(a, out)
    outs, batch = _batched(lambda m: _cholesky_one(m, lower), a, batch_ndim=a.ndim - 2)
    return _stack(outs, batch, [out])[0]


def _cholesky_lower(ctx, a, *, lower):
    (aval,) = ctx.avals_in
    raw = ctx.op1("stablehlo.cholesky", [a], attrs={"lower": "true" if lower else "false"})
    n = aval.shape[-1]

    def finish(x):
        # Keep the computed triangle only; a factor holding a NaN (not positive
        # definite) becomes all NaN, as the eager rule gives.
        mask = _tri(n, lower)
        mask = lax.broadcast_in_dim(mask, shape=aval.shape,
                                    broadcast_dimensions=(aval.ndim - 2, aval.ndim - 1))
        zero = lax.broadcast_in_dim(np.zeros((), aval.dtype), shape=aval.shape,
                                    broadcast_dimensions=())
        x = lax.select_n(mask, zero, x)
        ok = lax.reduce_and(lax.eq(x, x), axes=(aval.ndim - 2, aval.ndim - 1))
        return _nan_unless(ok, x, aval.ndim - 2)
    return _staged(ctx, finish, [raw], [aval])


def _tri(n, lower):
    rows = np.arange(n)[:, None]
    cols = np.arange(n)[None, :]
    return (cols <= rows) if lower else (cols >= rows)


cholesky_p = _define("cholesky", _cholesky_impl, _cholesky_abstract, _cholesky_lower)


@primitive_wrapper(cholesky_p)
def cholesky(a, *, lower=True):
    """Cholesky factor of Hermitian positive-definite matrices (reads one triangle of ``a``).

    ``lower=True`` gives ``L`` with ``a = L @ L^H`` from the lower triangle; ``False``
    gives ``U`` with ``a = U^H @ U`` from the upper one. Not positive definite: NaN.

    >>> import numpy as np
    >>> from s2s.lax import linalg
    >>> linalg.cholesky(np.array([[4.0, 2.0], [2.0, 5.0]], np.float32), lower=False)
    array([[2., 1.],
           [0., 2.]], dtype=float32)
    """
    return cholesky_p.bind(a, lower=bool(lower))

# ---------------------------------------------------------------------------
# triangular_solve


_TRANSPOSE = {(False, False): "NO_TRANSPOSE", (True, False): "TRANSPOSE",
              (True, True): "ADJOINT", (False, True): "NO_TRANSPOSE"}


def _triangular_solve_abstract(a, b, *, left_side, lower, transpose_a, conjugate_a,
                               unit_diagonal):
    name = "triangular_solve"
    batch, m, _ = _check_matrix(name, a, square=True)
    if b.dtype != a.dtype:
        raise DtypeError(f"{name}: a and b must have the same dtype, got {a.dtype.name} and "
                         f"{b.dtype.name}")
    if b.ndim != a.ndim or b.shape[:-2] != batch:
        raise ShapeError(f"{name}: a and b must have the same batch dimensions, got shapes "
                         f"{a.shape} and {b.shape}")
    k = b.shape[-2] if left_side else b.shape[-1]
    if k != m:
        side = "rows" if left_side else "columns"
        raise ShapeError(f"{name}: b has {k} {side} but a is {m} x {m} (shapes {a.shape} and "
                         f"{b.shape}, left_side={left_side})")
    return b.update(weak_type=False)


def _solve_one(a, b, left_side, lower, transpose_a, conjugate_a, unit_diagonal):
    # BLAS trsm, as XLA: no singularity check (a zero pivot gives inf/NaN).
    if conjugate_a and not transpose_a:
        a = a.conj()
    trans = 2 if (transpose_a and conjugate_a) else int(transpose_a)
    trsm = importlib.import_module("scipy.linalg").get_blas_funcs("trsm", (a, b))
    with np.errstate(all="ignore"):
        x = trsm(1.0, a, b, side=0 if left_side else 1, lower=int(lower), trans_a=trans,
                 diag=int(unit_diagonal))
    return (x,)


def _triangular_solve_impl(a, b, **params):
    out = _triangular_solve_abstract(abstractify(a), abstractify(b), **params)
    a, b = _array(a, out), _array(b, out)
    outs, batch = _batched(lambda x, y: _solve_one(x, y, **params), a, b, batch_ndim=a.ndim - 2)
    return _stack(outs, batch, [out])[0]


def _triangular_solve_lower(ctx, a, b, *, left_side, lower, transpose_a, conjugate_a,
                            unit_diagonal):
    aval = ctx.avals_in[0]
    if conjugate_a and not transpose_a and dtypes.is_complex(aval.dtype):
        a = ctx.op1("chlo.conj", [a], aval)
    b_ = "true" if left_side else "false"
    return ctx.op1("stablehlo.triangular_solve", [a, b], attrs={
        "left_side": b_, "lower": "true" if lower else "false",
        "unit_diagonal": "true" if unit_diagonal else "false",
        "transpose_a": f"#stablehlo<transpose {_TRANSPOSE[(transpose_a, conjugate_a)]}>"})


triangular_solve_p = _define("triangular_solve", _triangular_solve_impl,
                             _triangular_solve_abstract, _triangular_solve_lower)


@primitive_wrapper(triangular_solve_p)
def triangular_solve(a, b, *, left_side=False, lower=False, transpose_a=False,
                     conjugate_a=False, unit_diagonal=False):
    """Solves ``op(a) @ x = b`` (``left_side``) or ``x @ op(a) = b`` for triangular ``a``.

    ``op(a)`` is ``a``, ``a^T`` (``transpose_a``) or ``a^H`` (and ``conjugate_a``);
    only the ``lower`` (or upper) triangle of ``a`` is read.

    >>> import numpy as np
    >>> from s2s.lax import linalg
    >>> a = np.array([[2.0, 0.0], [1.0, 1.0]], np.float32)
    >>> linalg.triangular_solve(a, np.array([[2.0], [3.0]], np.float32), left_side=True, lower=True)
    array([[1.],
           [2.]], dtype=float32)
    """
    return triangular_solve_p.bind(a, b, left_side=bool(left_side), lower=bool(lower),
                                   transpose_a=bool(transpose_a), conjugate_a=bool(conjugate_a),
                                   unit_diagonal=bool(unit_diagonal))

# ---------------------------------------------------------------------------
# lu: getrf, then pivots -> permutation


def _lu_abstract(a):
    batch, m, n = _check_matrix("lu", a)
    k = min(m, n)
    return [a.update(weak_type=False), ShapedArray(batch + (k,), dtypes.int32),
            ShapedArray(batch + (m,), dtypes.int32)]


def _pivots_to_permutation_np(piv, m):
    perm = np.arange(m, dtype=np.int32)
    for i, j in enumerate(piv):
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def _lu_one(a):
    m = a.shape[0]
    if a.size == 0:
        return a, np.zeros(min(a.shape), np.int32), np.arange(m, dtype=np.int32)
    getrf = importlib.import_module("scipy.linalg").get_lapack_funcs("getrf", (a,))
    lu, piv, info = getrf(a)
    if info < 0:
        lu = np.full(a.shape, np.nan, a.dtype)
    piv = piv[:min(a.shape)].astype(np.int32)
    return lu, piv, _pivots_to_permutation_np(piv, m)


def _lu_impl(a):
    outs_avals = _lu_abstract(abstractify(a))
    a = _array(a, outs_avals[0])
    outs, batch = _batched(_lu_one, a, batch_ndim=a.ndim - 2)
    return _stack(outs, batch, outs_avals)


def _permutation_loop(piv, m):
    """Applies the row swaps ``piv`` (0-based, batch x k) to the identity permutation.

    Emitted as one ``stablehlo.while``; each step reads and writes the two swapped
    entries with one-hot masks, so every batch element swaps its own rows.
    """
    pa = abstractify(piv)
    batch, k = pa.shape[:-1], pa.shape[-1]
    shape = batch + (m,)
    perm0 = lax.broadcasted_iota(dtype=dtypes.int32, shape=shape, dimension=len(batch))
    if k == 0:
        return perm0
    trace = piv._trace
    ctx_builder = trace.builder
    i_aval = ShapedArray((), dtypes.int32)
    p_aval = ShapedArray(shape, dtypes.int32)
    i0 = trace.to_tracer(np.zeros((), np.int32))

    def cond(args):
        t = StagingTrace(ctx_builder)
        i = StagedTracer(t, i_aval, args[0])
        return [t.to_tracer(lax.lt(i, np.int32(k))).name]

    def body(args):
        t = StagingTrace(ctx_builder)
        i, perm = StagedTracer(t, i_aval, args[0]), StagedTracer(t, p_aval, args[1])
        pv = StagedTracer(t, pa, piv.name)  # captured from above
        new = _swap_step(i, perm, pv, batch, m, k)
        return [t.to_tracer(lax.add(i, np.int32(1))).name, t.to_tracer(new).name]

    regions = [ctx_builder.region([i_aval, p_aval], cond),
               ctx_builder.region([i_aval, p_aval], body)]
    names = ctx_builder.op("stablehlo.while", [i0.name, trace.to_tracer(perm0).name],
                           [i_aval, p_aval], regions=regions)
    return StagedTracer(trace, p_aval, names[1])


def _swap_step(i, perm, piv, batch, m, k):
    nb = len(batch)
    shape = batch + (m,)
    col_m = lax.broadcasted_iota(dtype=dtypes.int32, shape=shape, dimension=nb)
    col_k = lax.broadcasted_iota(dtype=dtypes.int32, shape=batch + (k,), dimension=nb)
    zeros_m = lax.broadcast_in_dim(np.zeros((), np.int32), shape=shape, broadcast_dimensions=())
    zeros_k = lax.broadcast_in_dim(np.zeros((), np.int32), shape=batch + (k,),
                                   broadcast_dimensions=())

    def pick(mask, x, zeros):
        return lax.reduce_sum(lax.select_n(mask, zeros, x), axes=(nb,))

    def spread(v):
        return lax.broadcast_in_dim(v, shape=shape, broadcast_dimensions=tuple(range(nb)))

    at_i = lax.eq(col_m, lax.broadcast_in_dim(i, shape=shape, broadcast_dimensions=()))
    j = pick(lax.eq(col_k, lax.broadcast_in_dim(i, shape=batch + (k,), broadcast_dimensions=())),
             piv, zeros_k)
    at_j = lax.eq(col_m, spread(j))
    p_i = pick(at_i, perm, zeros_m)
    p_j = pick(at_j, perm, zeros_m)
    return lax.select_n(at_i, lax.select_n(at_j, perm, spread(p_i)), spread(p_j))


def _lu_lower(ctx, a):
    aval = ctx.avals_in[0]
    lu_aval, piv_aval, perm_aval = ctx.avals_out
    batch = aval.shape[:-2]
    m = aval.shape[-2]
    if aval.size == 0:
        def empty(x):
            piv = lax.broadcast_in_dim(np.zeros((), np.int32), shape=piv_aval.shape,
                                       broadcast_dimensions=())
            perm = lax.broadcasted_iota(dtype=dtypes.int32, shape=perm_aval.shape, dimension=len(batch))
            return [x, piv, perm]
        return _staged(ctx, empty, [a], [aval])
    info_aval = ShapedArray(batch, dtypes.int32)
    lu, piv, info = _lapack_call(ctx, "getrf", [a], [lu_aval, piv_aval, info_aval])

    def finish(lu, piv, info):
        piv = lax.sub(piv, np.int32(1))  # LAPACK pivots are 1-based
        lu = _nan_unless(_info_ok(info, ge=True), lu, len(batch))
        return [lu, piv, _permutation_loop(piv, m)]
    return _staged(ctx, finish, [lu, piv, info], [lu_aval, piv_aval, info_aval])


lu_p = _define("lu", _lu_impl, _lu_abstract, _lu_lower, multiple_results=True)


@primitive_wrapper(lu_p)
def lu(a):
    """LU decomposition with partial pivoting: ``(lu, pivots, permutation)``.

    ``lu`` packs unit-lower ``L`` (below the diagonal) and ``U``; ``pivots[i]`` is the
    row swapped with row ``i`` (0-based); ``a[permutation] == L @ U``.

    >>> import numpy as np
    >>> from s2s.lax import linalg
    >>> lu, piv, perm = linalg.lu(np.array([[1.0, 2.0], [3.0, 4.0]], np.float32))
    >>> perm
    array([1, 0], dtype=int32)
    """
    return tuple(lu_p.bind(a))

# ---------------------------------------------------------------------------
# qr: geqrf + orgqr/ungqr


def _qr_abstract(a, *, full_matrices):
    batch, m, n = _check_matrix("qr", a)
    k = m if full_matrices else min(m, n)
    return [ShapedArray(batch + (m, k), a.dtype), ShapedArray(batch + (k, n), a.dtype)]


def _qr_impl(a, *, full_matrices):
    q_aval, r_aval = _qr_abstract(abstractify(a), full_matrices=full_matrices)
    a = _array(a, q_aval)
    if a.size == 0:
        m, k = q_aval.shape[-2:]
        q = np.broadcast_to(np.eye(m, k, dtype=a.dtype), q_aval.shape).copy()
        return [q, np.zeros(r_aval.shape, a.dtype)]
    q, r = np.linalg.qr(a, mode="complete" if full_matrices else "reduced")
    return [q.astype(q_aval.dtype, copy=False), r.astype(r_aval.dtype, copy=False)]


def _qr_lower(ctx, a, *, full_matrices):
    aval = ctx.avals_in[0]
    q_aval, r_aval = ctx.avals_out
    batch, m, n = aval.shape[:-2], aval.shape[-2], aval.shape[-1]
    nb = len(batch)
    if aval.size == 0:
        def empty(x):
            eye = np.eye(*q_aval.shape[-2:], dtype=aval.dtype)
            q = lax.broadcast_in_dim(eye, shape=q_aval.shape, broadcast_dimensions=(nb, nb + 1))
            r = lax.broadcast_in_dim(np.zeros((), aval.dtype), shape=r_aval.shape,
                                     broadcast_dimensions=())
            return [q, r]
        return _staged(ctx, empty, [a], [aval])
    k = min(m, n)
    taus_aval = ShapedArray(batch + (k,), aval.dtype)
    r, taus = _lapack_call(ctx, "geqrf", [a], [aval, taus_aval])
    # The Householder vectors live below the diagonal of ``r``; orgqr needs them in
    # a matrix of the shape Q will have.
    if m < n:
        h_shape = batch + (m, m)
    elif full_matrices:
        h_shape = batch + (m, m)
    else:
        h_shape = aval.shape
    h_aval = ShapedArray(h_shape, aval.dtype)

    def householder(r):
        if h_shape[-1] < n:
            return lax.slice(r, start_indices=(0,) * (nb + 2), limit_indices=h_shape)
        if h_shape[-1] > n:
            zero = np.zeros((), aval.dtype)
            return lax.pad(r, zero, padding_config=[(0, 0, 0)] * (nb + 1) + [(0, m - n, 0)])
        return r
    h = _staged(ctx, householder, [r], [aval])
    gqr = "ungqr" if dtypes.is_complex(aval.dtype) else "orgqr"
    (q,) = _lapack_call(ctx, gqr, [h, taus], [h_aval])

    def finish(q, r):
        if q_aval.shape != h_shape:
            q = lax.slice(q, start_indices=(0,) * (nb + 2), limit_indices=q_aval.shape)
        if r_aval.shape != aval.shape:
            r = lax.slice(r, start_indices=(0,) * (nb + 2), limit_indices=r_aval.shape)
        mask = lax.broadcast_in_dim(np.triu(np.ones(r_aval.shape[-2:], bool)), shape=r_aval.shape,
                                    broadcast_dimensions=(nb, nb + 1))
        zero = lax.broadcast_in_dim(np.zeros((), aval.dtype), shape=r_aval.shape,
                                    broadcast_dimensions=())
        return [q, lax.select_n(mask, zero, r)]
    return _staged(ctx, finish, [q, r], [h_aval, aval])


qr_p = _define("qr", _qr_impl, _qr_abstract, _qr_lower, multiple_results=True)


@primitive_wrapper(qr_p)
def qr(a, *, full_matrices=False):
    """QR decomposition ``a = q @ r`` (Householder, as LAPACK's geqrf + orgqr).

    ``full_matrices=False`` gives ``q`` of shape (..., m, k), ``r`` (..., k, n) with
    ``k = min(m, n)``; ``True`` gives square ``q`` (..., m, m) and ``r`` (..., m, n).

    >>> import numpy as np
    >>> from s2s.lax import linalg
    >>> q, r = linalg.qr(np.ones((3, 2), np.float32))
    >>> q.shape, r.shape
    ((3, 2), (2, 2))
    """
    return tuple(qr_p.bind(a, full_matrices=bool(full_matrices)))

# ---------------------------------------------------------------------------
# svd: gesdd


def _svd_shapes(a, full_matrices):
    batch, m, n = _check_matrix("svd", a)
    k = min(m, n)
    u = batch + (m, m if full_matrices else k)
    vt = batch + (n if full_matrices else k, n)
    return batch, m, n, k, u, vt


def _svd_abstract(a, *, full_matrices, compute_uv):
    batch, m, n, k, u, vt = _svd_shapes(a, full_matrices)
    s = ShapedArray(batch + (k,), dtypes.real_dtype(a.dtype))
    if not compute_uv:
        return [s]
    return [ShapedArray(u, a.dtype), s, ShapedArray(vt, a.dtype)]


def _svd_impl(a, *, full_matrices, compute_uv):
    avals = _svd_abstract(abstractify(a), full_matrices=full_matrices, compute_uv=compute_uv)
    a = _array(a, abstractify(a))
    if a.size == 0:
        return _svd_empty_np(a, avals)
    try:
        outs = np.linalg.svd(a, full_matrices=full_matrices, compute_uv=compute_uv)
    except np.linalg.LinAlgError:
        return [np.full(v.shape, np.nan, v.dtype) for v in avals]
    outs = outs if compute_uv else (outs,)
    return [np.asarray(o).astype(v.dtype, copy=False) for o, v in zip(outs, avals)]


def _svd_empty_np(a, avals):
    """Empty matrices: no singular values, identity factors."""
    return [np.broadcast_to(np.eye(*v.shape[-2:], dtype=v.dtype), v.shape).copy() if v.ndim >= a.ndim
            else np.zeros(v.shape, v.dtype) for v in avals]


def _svd_lower(ctx, a, *, full_matrices, compute_uv):
    aval = ctx.avals_in[0]
    s_aval = ctx.avals_out[1 if compute_uv else 0]
    nb = aval.ndim - 2
    if aval.size == 0:
        def empty(x):
            return [lax.broadcast_in_dim(np.eye(*v.shape[-2:], dtype=v.dtype), shape=v.shape,
                                         broadcast_dimensions=(nb, nb + 1)) if v.ndim == aval.ndim
                    else lax.broadcast_in_dim(np.zeros((), v.dtype), shape=v.shape,
                                              broadcast_dimensions=()) for v in ctx.avals_out]
        return _staged(ctx, empty, [a], [aval])
    full = full_matrices or not compute_uv
    batch, m, n, k, u_shape, vt_shape = _svd_shapes(aval, full)
    mode = "N" if not compute_uv else ("A" if full_matrices else "S")
    out_avals = [aval, s_aval, ShapedArray(u_shape, aval.dtype), ShapedArray(vt_shape, aval.dtype),
                 ShapedArray(batch, dtypes.int32)]
    _, s, u, vt, info = _lapack_call(ctx, "gesdd", [a], out_avals, {"mode": _char(mode)})

    def finish(info, s, *uv):
        ok = _info_ok(info)
        outs = (uv[0], s, uv[1]) if uv else (s,)  # JAX's order: (u, s, vt)
        return [_nan_unless(ok, x, nb) for x in outs]
    names = [info, s] + ([u, vt] if compute_uv else [])
    return _staged(ctx, finish, names, [out_avals[4], s_aval] + out_avals[2:4][:len(names) - 2])


svd_p = _define("svd", _svd_impl, _svd_abstract, _svd_lower, multiple_results=True)


@primitive_wrapper(svd_p)
def svd(a, *, full_matrices=True, compute_uv=True):
    """Singular value decomposition ``a = u @ diag(s) @ vt``; ``s`` descending.

    Returns ``(u, s, vt)``, as ``jax.lax.linalg.svd`` and ``numpy.linalg.svd``, or ``s``
    alone when ``compute_uv`` is False.

    >>> import numpy as np
    >>> from s2s.lax import linalg
    >>> linalg.svd(np.diag(np.array([1.0, 3.0], np.float32)), compute_uv=False)
    array([3., 1.], dtype=float32)
    """
    out = svd_p.bind(a, full_matrices=bool(full_matrices), compute_uv=bool(compute_uv))
    return tuple(out) if compute_uv else out[0]

# ---------------------------------------------------------------------------
# eigh: syevd / heevd


def _eigh_abstract(a, *, lower):
    batch, _, n = _check_matrix("eigh", a, square=True)
    return [a.update(weak_type=False), ShapedArray(batch + (n,), dtypes.real_dtype(a.dtype))]


def _eigh_impl(a, *, lower):
    v_aval, w_aval = _eigh_abstract(abstractify(a), lower=lower)
    a = _array(a, v_aval)
    if a.size == 0:
        return [np.zeros(v_aval.shape, v_aval.dtype), np.zeros(w_aval.shape, w_aval.dtype)]
    try:
        w, v = np.linalg.eigh(a, UPLO="L" if lower else "U")
    except np.linalg.LinAlgError:
        return [np.full(v_aval.shape, np.nan, v_aval.dtype), np.full(w_aval.shape, np.nan,
                                                                     w_aval.dtype)]
    return [v.astype(v_aval.dtype, copy=False), w.astype(w_aval.dtype, copy=False)]


def _eigh_lower(ctx, a, *, lower):
    aval = ctx.avals_in[0]
    v_aval, w_aval = ctx.avals_out
    nb = aval.ndim - 2
    if aval.size == 0:
        return _staged(ctx, lambda x: [x, lax.broadcast_in_dim(
            np.zeros((), w_aval.dtype), shape=w_aval.shape, broadcast_dimensions=())],
            [a], [aval])
    routine = "heevd" if dtypes.is_complex(aval.dtype) else "syevd"
    info_aval = ShapedArray(aval.shape[:-2], dtypes.int32)
    v, w, info = _lapack_call(ctx, routine, [a], [v_aval, w_aval, info_aval],
                              {"mode": _char("V"), "uplo": _char("L" if lower else "U")})

    def finish(v, w, info):
        ok = _info_ok(info)
        return [_nan_unless(ok, v, nb), _nan_unless(ok, w, nb)]
    return _staged(ctx, finish, [v, w, info], [v_aval, w_aval, info_aval])


eigh_p = _define("eigh", _eigh_impl, _eigh_abstract, _eigh_lower, multiple_results=True)


@primitive_wrapper(eigh_p)
def eigh(a, *, lower=True):
    """Eigen-decomposition of Hermitian matrices: ``(v, w)`` with ``a @ v = v * w``.

    Eigenvalues ``w`` are real and ascending; only the ``lower`` (or upper) triangle of
    ``a`` is read. (Order of results as ``jax.lax.linalg.eigh``.)

    >>> import numpy as np
    >>> from s2s.lax import linalg
    >>> v, w = linalg.eigh(np.array([[2.0, 1.0], [1.0, 2.0]], np.float32))
    >>> w
    array([1., 3.], dtype=float32)
    """
    return tuple(eigh_p.bind(a, lower=bool(lower)))


public = {f.__name__: f for f in (cholesky, triangular_solve, lu, qr, svd, eigh)}
svd.unpacks_single_result = True  # compute_uv=False gives the array of singular values

__all__ = sorted(public)

from s2s.core.public import public_namespace as _public_namespace  # noqa: E402

_public_namespace(globals())
