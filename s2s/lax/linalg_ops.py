"""Contractions: ``dot_general`` and ``conv_general_dilated``.

Semantics follow ``jax.lax``:

* ``dot_general(lhs, rhs, dimension_numbers)`` with
  ``dimension_numbers = ((lhs_contracting, rhs_contracting), (lhs_batch, rhs_batch))``
  gives a result laid out as (batch dims, lhs free dims, rhs free dims).
* ``conv_general_dilated(lhs, rhs, window_strides, padding, ...)``: ``padding`` is
  ``'SAME'``, ``'SAME_LOWER'``, ``'VALID'`` or ``(lo, hi)`` pairs; ``dimension_numbers``
  is ``None`` (NCHW / OIHW / NCHW), a tuple of layout strings such as
  ``('NHWC', 'HWIO', 'NHWC')``, or three integer specs (batch/out-feature dim, feature
  dim, spatial dims...) as in ``jax.lax.ConvDimensionNumbers``. The public wrapper
  resolves string padding and layouts, so the primitive only sees explicit pads and
  integer specs. Spatial dimension ``i`` (of strides, padding, dilations) is the
  ``i``-th spatial letter of the kernel layout.

Mixed operand dtypes promote like NumPy (NEP 50, canonicalized); a
``preferred_element_type`` must be at least as wide as that and of a compatible kind
(integer -> integer or floating, floating -> floating, complex -> complex), and is
the dtype of the result. ``precision`` is ``None``, ``'default'``/``'high'``/
``'highest'`` (or JAX's aliases, or ``jax.lax.Precision``), or a pair of those.
"""
import numpy as np

from s2s.codegen.stablehlo import i64_array
from s2s.core import dtypes
from s2s.core.errors import DtypeError, ShapeError
from s2s.core.primitive import abstractify, Primitive, primitive_wrapper, ShapedArray
from s2s.lax.reductions import (_check_kind, _dense_pairs, _dilate, _padded_base, _window_view, padtype_to_pads)
from s2s.lax.elementwise import eq_p, mul_p, neg_p
from s2s.lax.structural import broadcast_in_dim_p, convert_element_type_p, iota_p, reshape_p, transpose_p

# ---------------------------------------------------------------------------
# Shared parameter handling.

_PRECISIONS = {"default": "DEFAULT", "fastest": "DEFAULT", "bfloat16": "DEFAULT",
               "high": "HIGH", "tensorfloat32": "HIGH", "bfloat16_3x": "HIGH",
               "highest": "HIGHEST", "float32": "HIGHEST"}


def _one_precision(name, p):
    if p is None:
        return "DEFAULT"
    key = getattr(p, "name", p)
    if isinstance(key, str) and key.lower() in _PRECISIONS:
        return _PRECISIONS[key.lower()]
    raise ValueError(f"{name}: precision must be None, 'default', 'high', 'highest' or a pair "
                     f"of those, got {p!r}")


def canonicalize_precision(name, precision):
    """``None`` or a pair of StableHLO precision names (``("DEFAULT", "HIGHEST")``)."""
    if precision is None:
        return None
    if isinstance(precision, (tuple, list)):
        if len(precision) != 2:
            raise ValueError(f"{name}: precision must be a single value or a pair (lhs, rhs), "
                             f"got {precision!r}")
        return tuple(_one_precision(name, p) for p in precision)
    p = _one_precision(name, precision)
    return (p, p)


def _precision_attr(precision):
    return "[" + ", ".join(f"#stablehlo<precision {p}>" for p in precision) + "]"


def _preferred(preferred_element_type):
    if preferred_element_type is None:
        return None
    return dtypes.canonicalize_dtype(preferred_element_type)


def _result_dtype(name, lhs, rhs, preferred, kinds):
    """(dtype, weak) of the result: NumPy promotion of the operands, or ``preferred``."""
    dt, weak = dtypes.result_type(lhs, rhs, return_weak_type=True)
    _check_kind(name, lhs.dtype, kinds)
    _check_kind(name, rhs.dtype, kinds)
    if preferred is None:
        return dt, weak
    pref = np.dtype(preferred)
    if dtypes.is_integer(dt) and dtypes.is_float(pref):
        return pref, False
    same_kind = ((dtypes.is_integer(dt) and dtypes.is_integer(pref))
                 or (dtypes.is_float(dt) and dtypes.is_float(pref))
                 or (dtypes.is_complex(dt) and dtypes.is_complex(pref))
                 or (dt == dtypes.bool_ and pref == dtypes.bool_))
    if not same_kind:
        raise DtypeError(
            f"{name}: preferred_element_type {pref.name} is incompatible with operand dtype "
            f"{dt.name}; compatible (input, preferred) kinds are (integer, integer), "
            "(integer, floating), (floating, floating) and (complex, complex)")
    if dtypes.is_integer(dt) and dt.kind != pref.kind:
        raise DtypeError(f"{name}: preferred_element_type {pref.name} must have the same "
                         f"signedness as the operand dtype {dt.name}")
    if pref.itemsize < dt.itemsize:
        raise DtypeError(f"{name}: preferred_element_type {pref.name} must not be narrower "
                         f"than the operand dtype {dt.name}")
    return pref, False


# ---------------------------------------------------------------------------
# dot_general: ``stablehlo.dot_general``; eager via one batched ``np.matmul``.

dot_general_p = Primitive("dot_general")


def _dim_list(name, side, kind, dims, shape):
    out = []
    for d in dims:
        d = int(d)
        if not -len(shape) <= d < len(shape):
            raise ShapeError(f"{name}: {side} {kind} dimension {d} is out of bounds for {side} "
                             f"of shape {shape}")
        out.append(d % len(shape))
    return tuple(out)


def _dot_dims(lhs, rhs, dimension_numbers):
    """Validated, non-negative ``((lc, rc), (lb, rb))``."""
    name = "dot_general"
    try:
        (lc, rc), (lb, rb) = dimension_numbers
        lc, rc, lb, rb = (tuple(v) for v in (lc, rc, lb, rb))
    except (TypeError, ValueError):
        raise ShapeError(f"{name}: dimension_numbers must be ((lhs_contracting, rhs_contracting), "
                         f"(lhs_batch, rhs_batch)), got {dimension_numbers!r}") from None
    lc = _dim_list(name, "lhs", "contracting", lc, lhs.shape)
    rc = _dim_list(name, "rhs", "contracting", rc, rhs.shape)
    lb = _dim_list(name, "lhs", "batch", lb, lhs.shape)
    rb = _dim_list(name, "rhs", "batch", rb, rhs.shape)
    for side, c, b in (("lhs", lc, lb), ("rhs", rc, rb)):
        if len(set(c + b)) != len(c + b):
            raise ShapeError(f"{name}: {side} contracting dimensions {c} and batch dimensions {b} "
                             "must be distinct and not repeated")
    if len(lc) != len(rc):
        raise ShapeError(f"{name}: lhs and rhs must have the same number of contracting "
                         f"dimensions, got {lc} and {rc}")
    if len(lb) != len(rb):
        raise ShapeError(f"{name}: lhs and rhs must have the same number of batch dimensions, "
                         f"got {lb} and {rb}")
    for kind, ld, rd in (("batch", lb, rb), ("contracting", lc, rc)):
        for i, j in zip(ld, rd):
            if lhs.shape[i] != rhs.shape[j]:
                raise ShapeError(
                    f"{name}: {kind} dimensions of lhs {lhs.shape} and rhs {rhs.shape} do not "
                    f"match: {lhs.shape[i]} != {rhs.shape[j]} (lhs dimension {i}, rhs "
                    f"dimension {j})")
    return (lc, rc), (lb, rb)


def _free(ndim, *used):
    return tuple(i for i in range(ndim) if not any(i in u for u in used))


@dot_general_p.def_abstract_eval
def _dot_general_abstract(lhs, rhs, *, dimension_numbers, precision=None,
                          preferred_element_type=None):
    (lc, rc), (lb, rb) = _dot_dims(lhs, rhs, dimension_numbers)
    dt, weak = _result_dtype("dot_general", lhs, rhs, preferred_element_type, "biufc")
    shape = (tuple(lhs.shape[i] for i in lb) + tuple(lhs.shape[i] for i in _free(lhs.ndim, lc, lb))
             + tuple(rhs.shape[i] for i in _free(rhs.ndim, rc, rb)))
    return ShapedArray(shape, dt, weak)


def _prod(shape):
    return int(np.prod(shape, dtype=np.int64))


@dot_general_p.def_impl
def _dot_general_impl(lhs, rhs, *, dimension_numbers, precision=None, preferred_element_type=None):
    la, ra = abstractify(lhs), abstractify(rhs)
    out = _dot_general_abstract(la, ra, dimension_numbers=dimension_numbers,
                                preferred_element_type=preferred_element_type)
    (lc, rc), (lb, rb) = _dot_dims(la, ra, dimension_numbers)
    lhs, rhs = np.asarray(lhs, out.dtype), np.asarray(rhs, out.dtype)
    lf, rf = _free(lhs.ndim, lc, lb), _free(rhs.ndim, rc, rb)
    batch = _prod([lhs.shape[i] for i in lb])
    k = _prod([lhs.shape[i] for i in lc])
    a = lhs.transpose(lb + lf + lc).reshape(batch, _prod([lhs.shape[i] for i in lf]), k)
    b = rhs.transpose(rb + rc + rf).reshape(batch, k, _prod([rhs.shape[i] for i in rf]))
    return np.matmul(a, b).reshape(out.shape).astype(out.dtype, copy=False)


def _fold_transposes(origins, tracers, params):
    """``dot_general(transpose(x), y)`` -> ``dot_general(x, y)`` with remapped dimensions.

    Gradients of ``dot`` are written ``dot(g, b.T)`` and ``dot(a.T, g)``; XLA's CPU
    backend materializes such a transpose before the product, which cost an MLP's
    jit(grad) about 15% against JAX, whose rules use contracting dimensions.
    Folding applies where the operand's free dimensions keep their order.
    """
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    sides = [[lc, lb], [rc, rb]]
    tracers = list(tracers)
    for i, t in enumerate(tracers):
        origin = origins.get(getattr(t, "name", None))
        if origin is None or origin[0] is not transpose_p:
            continue
        perm = origin[2]["permutation"]
        contract, batch = sides[i]
        free = [perm[d] for d in range(len(perm)) if d not in contract and d not in batch]
        if free != sorted(free):
            continue
        tracers[i] = origin[1][0]
        sides[i] = [tuple(perm[d] for d in contract), tuple(perm[d] for d in batch)]
    dnums = ((sides[0][0], sides[1][0]), (sides[0][1], sides[1][1]))
    return tracers, dict(params, dimension_numbers=dnums)


_MAX_FACTORS = 16


def _diagonal_factors(origins, t, n, memo):
    """The factors (vectors of length ``n``, scalars; signs as ``-1``) whose product is
    the diagonal of staged ``t`` when ``t`` is the n x n identity times values
    constant along its rows or its columns, else None. jacrev's basis
    (``iota == iota``) makes such matrices as its cotangents pass elementwise
    products.
    """
    name = getattr(t, "name", None)
    if name not in memo:  # a value feeding a product twice (x * x) is looked at once
        memo[name] = None  # and a cycle cannot form: names are made in order
        factors = _diagonal_factors_of(origins, t, n, memo)
        # A diagonal squared over and over doubles its factors each time: the dense
        # product is the better program long before the list gets large.
        memo[name] = factors if factors is None or len(factors) <= _MAX_FACTORS else None
    return memo[name]


def _diagonal_factors_of(origins, t, n, memo):
    origin = origins.get(getattr(t, "name", None))
    if origin is None or t.aval.shape != (n, n):
        return None
    prim, operands, params = origin
    if prim is convert_element_type_p:
        return [] if _is_identity(origins, operands[0], n) else None
    if prim is neg_p:
        inner = _diagonal_factors(origins, operands[0], n, memo)
        return None if inner is None else inner + [-1]
    if prim is not mul_p:
        return None
    for diag, other in (operands, operands[::-1]):
        factors = _diagonal_factors(origins, diag, n, memo)
        if factors is None:
            continue
        extra = _diagonal_factors(origins, other, n, memo)
        if extra is not None:
            return factors + extra
        line = _line(origins, other, n, t.aval.dtype)
        if line is not None:
            return factors + [line]
    return None


def _is_identity(origins, t, n):
    """Whether staged ``t`` is ``iota(0) == iota(1)`` on an n x n grid."""
    eq = origins.get(getattr(t, "name", None))
    if eq is None or eq[0] is not eq_p:
        return False
    dims = set()
    for o in eq[1]:
        iota = origins.get(getattr(o, "name", None))
        if iota is None or iota[0] is not iota_p or tuple(iota[2]["shape"]) != (n, n):
            return False
        dims.add(iota[2]["dimension"] % 2)
    return dims == {0, 1}


def _line(origins, t, n, dtype):
    """The vector of length ``n`` (or the scalar) that ``t``, multiplied into an
    n x n matrix of ``dtype``, broadcasts along its rows or columns; else None."""
    if t.aval.dtype != dtype:  # a promotion would round the products differently
        return None
    shape = t.aval.shape
    if len(shape) <= 2 and int(np.prod(shape)) in (1, n) and all(s in (1, n) for s in shape):
        return t  # NumPy's broadcasting: (), (n,), (1, n), (n, 1), ...
    origin = origins.get(getattr(t, "name", None))
    if origin is None or origin[0] is not broadcast_in_dim_p:
        return None
    x, = origin[1]
    if x.aval.dtype == dtype and (x.aval.shape == () or (
            x.aval.shape == (n,) and tuple(origin[2]["broadcast_dimensions"]) in ((0,), (1,)))):
        return x
    return None


def _diagonal_product(origins, tracers, params):
    """``dot_general(diag(d), m)`` -> ``d * m`` (and ``m @ diag(d)`` -> ``m * d``), or None.

    jacrev of a map with n outputs runs its backward pass on the n x n identity;
    elementwise steps keep it diagonal and XLA then multiplies by a dense n x n
    matrix (10 -> 1000 map: two 1000 x 1000 x 10 products, 8 MB of scratch a call).
    The diagonal's product is the same numbers, each row once (the dense product
    adds only exact zeros to it where the operands are finite).
    """
    (lc, rc), (lb, rb) = params["dimension_numbers"]
    if lb or rb or len(lc) != 1 or params.get("preferred_element_type") not in (None, tracers[0].aval.dtype):
        return None
    lhs, rhs = tracers
    if lhs.aval.dtype != rhs.aval.dtype or lhs.aval.dtype.kind not in "iufc":
        return None
    expected = _dot_general_abstract(lhs.aval, rhs.aval, **params)
    for side, (diag, other), contract in ((0, tracers, rc[0]), (1, (rhs, lhs), lc[0])):
        if diag.aval.ndim != 2 or diag.aval.shape[0] != diag.aval.shape[1]:
            continue
        n = diag.aval.shape[0]
        factors = _diagonal_factors(origins, diag, n, {})
        if factors is None:
            continue
        rest = [i for i in range(other.aval.ndim) if i != contract]
        # The result's dimensions: lhs's free ones, then rhs's.
        perm = [contract] + rest if side == 0 else rest + [contract]
        if perm != list(range(other.aval.ndim)):
            other = transpose_p.bind(other, permutation=tuple(perm))
        at = 0 if side == 0 else other.aval.ndim - 1
        d, negate = _diagonal([f if isinstance(f, int) else _on_trace_of(other, f) for f in factors], n)
        if d is not None:
            d = broadcast_in_dim_p.bind(d, shape=other.aval.shape, broadcast_dimensions=(at,))
            other = mul_p.bind(d, other) if side == 0 else mul_p.bind(other, d)
        out = neg_p.bind(other) if negate else other
        # Where the products' weak type differs from the dot's, the dot stays (the
        # values staged above are unused: XLA drops them).
        return out if out.aval == expected else None
    return None


def _on_trace_of(ref, t):
    """Staged value ``t`` as a tracer of ``ref``'s trace: a NumPy-level primitive's
    lowering stages its lax steps on a trace of its own that writes into the same
    module, so the origins' values are in scope there under the same names."""
    if t._trace is ref._trace:
        return t
    here = type(ref)(ref._trace, t.aval, t.name)
    here.scope = t.scope
    return here


def _diagonal(factors, n):
    """``(d, negate)``: the diagonal is ``-d`` or ``d``, a vector of length ``n``
    multiplied in the order the matrix was (so each entry rounds as the matrix's
    did; signs are exact), or None for the identity."""
    d, negate = None, False
    for f in factors:
        if isinstance(f, int):
            negate = not negate
            continue
        size = int(np.prod(f.aval.shape))
        if f.aval.shape not in ((), (n,)):
            f = reshape_p.bind(f, new_sizes=() if size == 1 else (n,), dimensions=None)
        if f.aval.ndim == 0:
            f = broadcast_in_dim_p.bind(f, shape=(n,), broadcast_dimensions=())
        d = f if d is None else mul_p.bind(d, f)
    return d, negate


def _simplify_dot(origins, tracers, params):
    """``dot_general``'s staging rewrites: a diagonal operand, then transposes folded."""
    product = _diagonal_product(origins, tracers, params)
    if product is not None:
        return product
    return _fold_transposes(origins, tracers, params)


dot_general_p.simplify = _simplify_dot


@dot_general_p.def_lower
def _dot_general_lower(ctx, lhs, rhs, *, dimension_numbers, precision=None,
                       preferred_element_type=None):
    out = ctx.avals_out[0]
    (lc, rc), (lb, rb) = _dot_dims(*ctx.avals_in, dimension_numbers)
    fields = [("lhs_batching_dimensions", lb), ("rhs_batching_dimensions", rb),
              ("lhs_contracting_dimensions", lc), ("rhs_contracting_dimensions", rc)]
    dnums = ", ".join(f"{k} = [{', '.join(map(str, v))}]" for k, v in fields if v)
    attrs = {"dot_dimension_numbers": f"#stablehlo.dot<{dnums}>"}
    if precision is not None:
        attrs["precision_config"] = _precision_attr(precision)
    operands = [ctx.convert(v, out.dtype) for v in (lhs, rhs)]
    return ctx.op1("stablehlo.dot_general", operands, attrs=attrs)


@primitive_wrapper(dot_general_p)
def dot_general(lhs, rhs, dimension_numbers, precision=None, preferred_element_type=None):
    """General tensor contraction; result dims are (batch, lhs free, rhs free).

    >>> from s2s import lax
    >>> import numpy as np
    >>> a = np.ones((2, 3, 4), np.float32)
    >>> b = np.ones((2, 4, 5), np.float32)
    >>> lax.dot_general(a, b, dimension_numbers=(((2,), (1,)), ((0,), (0,)))).shape
    (2, 3, 5)
    """
    la, ra = abstractify(lhs), abstractify(rhs)
    dnums = _dot_dims(la, ra, dimension_numbers)
    return dot_general_p.bind(lhs, rhs, dimension_numbers=dnums,
                              precision=canonicalize_precision("dot_general", precision),
                              preferred_element_type=_preferred(preferred_element_type))


# ---------------------------------------------------------------------------
# conv_general_dilated: ``stablehlo.convolution``; eager via strided window views
# and one ``np.einsum``.

conv_general_dilated_p = Primitive("conv_general_dilated")
_CONV = "conv_general_dilated"


def conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers):
    """``(lhs_spec, rhs_spec, out_spec)`` integer specs, as ``jax.lax.conv_dimension_numbers``.

    Each spec lists the batch (kernel: output feature) dimension, the feature (kernel:
    input feature) dimension, then the spatial dimensions in the kernel's order.

    >>> from s2s import lax
    >>> from s2s.lax import conv_dimension_numbers
    >>> conv_dimension_numbers((1, 5, 5, 3), (2, 2, 3, 4), ("NHWC", "HWIO", "NHWC"))
    ((0, 3, 1, 2), (3, 2, 0, 1), (0, 3, 1, 2))
    """
    if len(lhs_shape) != len(rhs_shape):
        raise ShapeError(f"{_CONV}: lhs and rhs must have the same number of dimensions, got "
                         f"shapes {tuple(lhs_shape)} and {tuple(rhs_shape)}")
    ndim = len(lhs_shape)
    if dimension_numbers is None:
        iota = tuple(range(ndim))
        return (iota, iota, iota)
    if hasattr(dimension_numbers, "lhs_spec"):
        dimension_numbers = (dimension_numbers.lhs_spec, dimension_numbers.rhs_spec,
                             dimension_numbers.out_spec)
    if not isinstance(dimension_numbers, (tuple, list)) or len(dimension_numbers) != 3:
        raise ShapeError(f"{_CONV}: dimension_numbers must be None or a tuple of three layout "
                         f"strings such as ('NHWC', 'HWIO', 'NHWC'), got {dimension_numbers!r}")
    if all(isinstance(s, str) for s in dimension_numbers):
        return _string_specs(ndim, lhs_shape, rhs_shape, dimension_numbers)
    try:
        specs = tuple(tuple(int(d) for d in spec) for spec in dimension_numbers)
    except (TypeError, ValueError):
        specs = None
    if specs is None or any(sorted(spec) != list(range(ndim)) for spec in specs):
        raise ShapeError(f"{_CONV}: dimension_numbers must be layout strings or three "
                         f"permutations of the {ndim} dimensions, got {dimension_numbers!r}")
    return specs


def _string_specs(ndim, lhs_shape, rhs_shape, specs):
    lhs, rhs, out = specs
    pairs = (("N", "C"), ("O", "I"), ("N", "C"))
    for i, (spec, (a, b)) in enumerate(zip(specs, pairs)):
        if len(spec) != ndim:
            raise ShapeError(f"{_CONV}: dimension_numbers[{i}] = {spec!r} must have one letter "
                             f"per dimension of lhs {tuple(lhs_shape)} and rhs {tuple(rhs_shape)}")
        if spec.count(a) != 1 or spec.count(b) != 1 or len(set(spec)) != len(spec):
            raise ShapeError(f"{_CONV}: dimension_numbers[{i}] = {spec!r} must contain '{a}' and "
                             f"'{b}' exactly once and no repeated letters")
    if not set(lhs) - {"N", "C"} == set(rhs) - {"O", "I"} == set(out) - {"N", "C"}:
        raise ShapeError(f"{_CONV}: the layouts {tuple(specs)} must name the same spatial "
                         "dimensions")

    def perm(spec, pair):
        spatial = [i for i, c in enumerate(spec) if c not in pair]
        if spec is not rhs:
            spatial.sort(key=lambda i: rhs.index(spec[i]))
        return (spec.index(pair[0]), spec.index(pair[1])) + tuple(spatial)

    return tuple(perm(spec, pair) for spec, pair in zip(specs, pairs))


def _conv_check(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                dimension_numbers, feature_group_count, batch_group_count):
    """Validates the parameters; returns the output shape."""
    if lhs.ndim != rhs.ndim:
        raise ShapeError(f"{_CONV}: lhs and rhs must have the same number of dimensions, got "
                         f"shapes {lhs.shape} and {rhs.shape}")
    if lhs.ndim < 3:
        raise ShapeError(f"{_CONV}: lhs and rhs need a batch, a feature and at least one spatial "
                         f"dimension, got shapes {lhs.shape} and {rhs.shape}")
    ndim, nsp = lhs.ndim, lhs.ndim - 2
    for spec in dimension_numbers:
        if sorted(spec) != list(range(ndim)):
            raise ShapeError(f"{_CONV}: dimension_numbers {dimension_numbers} must each be a "
                             f"permutation of the {ndim} dimensions")
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    for field, value in (("window_strides", window_strides), ("padding", padding),
                         ("lhs_dilation", lhs_dilation), ("rhs_dilation", rhs_dilation)):
        if len(value) != nsp:
            raise ShapeError(f"{_CONV}: {field} must have one entry per spatial dimension "
                             f"({nsp}), got {tuple(value)}")
        if field != "padding" and any(v < 1 for v in value):
            raise ShapeError(f"{_CONV}: {field} must be positive, got {tuple(value)}")
    G, B = feature_group_count, batch_group_count
    if G < 1 or B < 1:
        raise ShapeError(f"{_CONV}: feature_group_count and batch_group_count must be positive, "
                         f"got {G} and {B}")
    if G > 1 and B > 1:
        raise ShapeError(f"{_CONV}: at most one of feature_group_count ({G}) and "
                         f"batch_group_count ({B}) may be > 1")
    n, c = lhs.shape[lhs_spec[0]], lhs.shape[lhs_spec[1]]
    o, i = rhs.shape[rhs_spec[0]], rhs.shape[rhs_spec[1]]
    if c % G:
        raise ShapeError(f"{_CONV}: feature_group_count {G} must divide the lhs feature dimension "
                         f"size {c} (lhs shape {lhs.shape})")
    if c // G != i:
        raise ShapeError(f"{_CONV}: lhs feature dimension size divided by feature_group_count must "
                         f"equal the rhs input feature dimension size, but {c} // {G} != {i} "
                         f"(lhs shape {lhs.shape}, rhs shape {rhs.shape})")
    if o % G or o % B:
        raise ShapeError(f"{_CONV}: rhs output feature dimension size {o} must be a multiple of "
                         f"feature_group_count ({G}) and batch_group_count ({B})")
    if n % B:
        raise ShapeError(f"{_CONV}: batch_group_count {B} must divide the lhs batch dimension "
                         f"size {n} (lhs shape {lhs.shape})")
    spatial = []
    for d, k, s, (lo, hi), ld, rd in zip(
            [lhs.shape[j] for j in lhs_spec[2:]], [rhs.shape[j] for j in rhs_spec[2:]],
            window_strides, padding, lhs_dilation, rhs_dilation):
        padded = _dilate(d, ld) + lo + hi
        if padded < 0:
            raise ShapeError(f"{_CONV}: negative padding {(lo, hi)} is larger than the spatial "
                             f"dimension it pads (size {d}) of lhs shape {lhs.shape}")
        spatial.append(max(0, (padded - _dilate(k, rd)) // s + 1))
    out_t = (n // B, o) + tuple(spatial)
    shape = [0] * ndim
    for j, d in zip(out_spec, out_t):
        shape[j] = d
    return tuple(shape)


@conv_general_dilated_p.def_abstract_eval
def _conv_abstract(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                   dimension_numbers, feature_group_count, batch_group_count, precision=None,
                   preferred_element_type=None):
    shape = _conv_check(lhs, rhs, window_strides=window_strides, padding=padding,
                        lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                        dimension_numbers=dimension_numbers,
                        feature_group_count=feature_group_count,
                        batch_group_count=batch_group_count)
    dt, weak = _result_dtype(_CONV, lhs, rhs, preferred_element_type, "iufc")
    return ShapedArray(shape, dt, weak)


_LETTERS = "hijklmpqrstuvwxyz"


@conv_general_dilated_p.def_impl
def _conv_impl(lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
               dimension_numbers, feature_group_count, batch_group_count, precision=None,
               preferred_element_type=None):
    out = _conv_abstract(abstractify(lhs), abstractify(rhs), window_strides=window_strides,
                         padding=padding, lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
                         dimension_numbers=dimension_numbers,
                         feature_group_count=feature_group_count,
                         batch_group_count=batch_group_count,
                         preferred_element_type=preferred_element_type)
    lhs_spec, rhs_spec, out_spec = dimension_numbers
    lhs = np.asarray(lhs, out.dtype).transpose(lhs_spec)  # (N, C, spatial...)
    rhs = np.asarray(rhs, out.dtype).transpose(rhs_spec)  # (O, I, spatial...)
    out_t = tuple(out.shape[j] for j in out_spec)          # (N/B, O, spatial...)
    nsp = lhs.ndim - 2
    if 0 in out_t or 0 in lhs.shape[1:2]:
        return np.zeros(out.shape, out.dtype)
    padded = _padded_base(lhs, 0, ((0, 0), (0, 0)) + tuple(padding), (1, 1) + tuple(lhs_dilation))
    view = _window_view(padded, lhs.shape[:2] + out_t[2:], (1, 1) + rhs.shape[2:],
                        (1, 1) + tuple(window_strides), (1, 1) + tuple(rhs_dilation))
    patches = view[(slice(None),) * lhs.ndim + (0, 0)]    # (N, C, out spatial..., kernel...)
    G, B = feature_group_count, batch_group_count
    n, c = lhs.shape[:2]
    o = rhs.shape[0]
    patches = patches.reshape((B, n // B, G, c // G) + patches.shape[2:])
    kernel = rhs.reshape((B, G, o // (B * G)) + rhs.shape[1:])
    P, K = _LETTERS[:nsp], _LETTERS[nsp:2 * nsp]
    r = np.einsum(f"bngc{P}{K},bgoc{K}->nbgo{P}", patches, kernel, optimize=True)
    r = r.reshape(out_t)
    return r.transpose(np.argsort(out_spec)).astype(out.dtype, copy=False)


@conv_general_dilated_p.def_lower
def _conv_lower(ctx, lhs, rhs, *, window_strides, padding, lhs_dilation, rhs_dilation,
                dimension_numbers, feature_group_count, batch_group_count, precision=None,
                preferred_element_type=None):
    out = ctx.avals_out[0]
    lhs_spec, rhs_spec, out_spec = dimension_numbers

    def dims(v):
        return "[" + ", ".join(map(str, v)) + "]"

    dnums = (f"#stablehlo.conv<raw input_batch_dimension = {lhs_spec[0]}, "
             f"input_feature_dimension = {lhs_spec[1]}, "
             f"input_spatial_dimensions = {dims(lhs_spec[2:])}, "
             f"kernel_input_feature_dimension = {rhs_spec[1]}, "
             f"kernel_output_feature_dimension = {rhs_spec[0]}, "
             f"kernel_spatial_dimensions = {dims(rhs_spec[2:])}, "
             f"output_batch_dimension = {out_spec[0]}, "
             f"output_feature_dimension = {out_spec[1]}, "
             f"output_spatial_dimensions = {dims(out_spec[2:])}>")
    attrs = {"window_strides": i64_array(window_strides), "padding": _dense_pairs(padding),
             "lhs_dilation": i64_array(lhs_dilation), "rhs_dilation": i64_array(rhs_dilation),
             "dimension_numbers": dnums,
             "feature_group_count": f"{int(feature_group_count)} : i64",
             "batch_group_count": f"{int(batch_group_count)} : i64"}
    if precision is not None:
        attrs["precision_config"] = _precision_attr(precision)
    operands = [ctx.convert(v, out.dtype) for v in (lhs, rhs)]
    return ctx.op1("stablehlo.convolution", operands, attrs=attrs)


@primitive_wrapper(conv_general_dilated_p)
def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None, feature_group_count=1,
                         batch_group_count=1, precision=None, preferred_element_type=None):
    """N-d convolution with strides, padding, dilations, layouts and groups (as ``jax.lax``).

    >>> from s2s import lax
    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> w = np.ones((1, 1, 2, 2), np.float32)
    >>> lax.conv_general_dilated(x, w, window_strides=(2, 2), padding="VALID")
    array([[[[10., 18.],
             [42., 50.]]]], dtype=float32)
    """
    la, ra = abstractify(lhs), abstractify(rhs)
    dnums = conv_dimension_numbers(la.shape, ra.shape, dimension_numbers)
    nsp = la.ndim - 2
    window_strides = tuple(int(s) for s in window_strides)
    lhs_dilation = (1,) * nsp if lhs_dilation is None else tuple(int(d) for d in lhs_dilation)
    rhs_dilation = (1,) * nsp if rhs_dilation is None else tuple(int(d) for d in rhs_dilation)
    if isinstance(padding, str):
        if any(d != 1 for d in lhs_dilation):
            raise ValueError(f"{_CONV}: string padding {padding!r} is not supported with "
                             f"lhs_dilation {lhs_dilation}; give explicit (lo, hi) pairs")
        if len(window_strides) != nsp or len(rhs_dilation) != nsp:
            raise ShapeError(f"{_CONV}: window_strides {window_strides} and rhs_dilation "
                             f"{rhs_dilation} must have one entry per spatial dimension ({nsp})")
        in_sp = [la.shape[j] for j in dnums[0][2:]]
        eff = [_dilate(ra.shape[j], d) for j, d in zip(dnums[1][2:], rhs_dilation)]
        padding = padtype_to_pads(in_sp, eff, window_strides, padding, opname=_CONV)
    else:
        try:
            padding = tuple((int(lo), int(hi)) for lo, hi in padding)
        except (TypeError, ValueError):
            raise ShapeError(f"{_CONV}: padding must be 'SAME', 'VALID' or a sequence of "
                             f"(low, high) pairs, got {padding!r}") from None
    return conv_general_dilated_p.bind(
        lhs, rhs, window_strides=window_strides, padding=padding, lhs_dilation=lhs_dilation,
        rhs_dilation=rhs_dilation, dimension_numbers=dnums,
        feature_group_count=int(feature_group_count), batch_group_count=int(batch_group_count),
        precision=canonicalize_precision(_CONV, precision),
        preferred_element_type=_preferred(preferred_element_type))


dot_general.static_from = conv_general_dilated.static_from = 2  # (see structural.py)
public = {fn.__name__: fn for fn in (dot_general, conv_general_dilated, conv_dimension_numbers)}
