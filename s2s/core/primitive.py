"""Primitives, abstract values, and the tracer protocol.

A primitive is a named object with a rule table: one slot per interpretation.

=============  ==============================================================
``impl``       eager evaluation with NumPy/SciPy on host arrays
``abstract_eval``  shapes/dtypes out from shapes/dtypes in (jit staging, checks)
``lower``      StableHLO emission (see ``s2s.codegen.stablehlo``)
``jvp``        tangent template (forward mode)
``vjp``        adjoint template (reverse mode, see ``s2s.transforms.templates``)
``batch``      batching rule (vmap)
=============  ==============================================================

``prim.bind(*operands, **params)`` evaluates eagerly when no operand is a
``Tracer`` and otherwise hands the primitive to the innermost active trace.

>>> p = Primitive("my_neg")
>>> p.def_impl(lambda x: -x)  # doctest: +ELLIPSIS
<function ...>
>>> p.bind(3.0)  # eager results are arrays (0-d here), canonicalized
array(-3., dtype=float32)
"""
import itertools

import numpy as np

from s2s.core import captures, dtypes, float_errors
from s2s.core.array import Array
from s2s.core.errors import S2SError

RULE_SLOTS = ("impl", "abstract_eval", "lower", "jvp", "vjp", "batch")

_registry = {}


def all_primitives():
    """Every primitive defined so far, by name."""
    return dict(_registry)


_namespaces = []
_canonical_wrappers = {}  # primitive -> its first registered wrapper
_wrappers = {}  # every registered wrapper -> its primitive


def primitive_wrapper(prim):
    """Decorator: registers ``fn`` as a public wrapper of primitive ``prim``, the one way a
    wrapper is registered. Transformations then find ``prim``'s rule table from ``fn``
    (``rules_of``), the tracing fallback spells a recorded ``prim`` as a call of it, and
    vmap writes ``prim``'s batch rule on it. The first wrapper registered for a primitive
    is its canonical one (``wrapper_of``).

    >>> twice_p = Primitive("twice_example")
    >>> _ = twice_p.def_impl(lambda x: 2 * x)
    >>> @primitive_wrapper(twice_p)
    ... def twice(x):
    ...     return twice_p.bind(x)
    >>> twice.primitive is twice_p, wrapper_of(twice_p) is twice
    (True, True)
    """
    def register(fn):
        fn.primitive = prim
        _wrappers[fn] = prim
        _canonical_wrappers.setdefault(prim, fn)
        return fn
    return register


def wrapper_of(prim):
    """The canonical public wrapper of ``prim`` (the first registered), or None."""
    return _canonical_wrappers.get(prim)


def registered_wrappers():
    """Every registered wrapper, mapped to its primitive."""
    return dict(_wrappers)


def register_namespace(prefix, module, attribute=""):
    """Declares ``module`` a public namespace of primitive wrappers (functions that carry
    ``.primitive``), written ``prefix.attribute.name`` in source s2s emits (the tracing
    fallback's calls). ``s2s.lax`` registers first, so its wrappers win.

    >>> from s2s.core.primitive import namespaces
    >>> [(p, a) for p, a, _ in namespaces()][:2]
    [('lax', ''), ('lax', 'linalg.')]
    """
    _namespaces.append((prefix, attribute, module))


def namespaces():
    """The registered namespaces of wrappers, ``(prefix, attribute, module)``, in order."""
    return list(_namespaces)


class Primitive:
    """A named operation with one rule per interpretation (see module docstring)."""

    def __init__(self, name, *, multiple_results=False):
        if name in _registry:
            raise ValueError(f"primitive {name!r} is defined twice")
        self.name = name
        self.multiple_results = multiple_results
        self.elementwise = False
        # Optional staging-time rewrite ``(origins, tracers, params) -> (tracers,
        # params)``; ``origins`` maps a staged value's name to the (primitive,
        # operands, params) that made it; or the result itself, staged from other
        # primitives. For peepholes XLA does not do itself (see dot_general's).
        self.simplify = None
        for slot in RULE_SLOTS:
            setattr(self, slot, None)
        _registry[name] = self

    def __repr__(self):
        return f"Primitive({self.name})"

    def bind(self, *args, **params):
        """Applies the primitive: eagerly on host values, or on the innermost trace."""
        top = None
        for a in args:
            if isinstance(a, Tracer):
                t = a._trace
                if top is None or t.level > top.level:
                    top = t
        if top is None:
            if not captures.active[0] or (top := captures.trace_for(args)) is None:
                return self.eager(args, params)
        return top.process_primitive(self, args, params)

    def eager(self, args, params):
        """Runs ``impl`` and canonicalizes result dtypes (64-bit narrowed unless x64)."""
        token = float_errors.enter(self.name)  # NumPy's warnings at the user's line
        try:
            out = self.impl(*args, **params)
        except S2SError:
            raise
        except (ValueError, TypeError, IndexError) as e:
            raise _eager_error(self, args, params, e) from None
        finally:
            float_errors.leave(token)
        if self.multiple_results:
            return [_canonicalize_output(o) for o in out]
        return _canonicalize_output(out)

    # Registration helpers; each returns its argument so they work as decorators.
    def def_impl(self, f):
        self.impl = f
        return f

    def def_abstract_eval(self, f):
        self.abstract_eval = f
        return f

    def def_lower(self, f):
        self.lower = f
        return f

    def def_jvp(self, f):
        self.jvp = f
        return f

    def def_vjp(self, f):
        self.vjp = f
        return f

    def def_batch(self, f):
        self.batch = f
        return f


def _canonicalize_output(out):
    """An eager result as an ``Array`` (a view; 0-d stays 0-d) of its canonical dtype.

    Eager results are arrays, 0-d included, never NumPy scalars (as under jit).
    """
    if isinstance(out, np.generic):
        out = np.asarray(out)
    dt = getattr(out, "dtype", None)
    if dt is None:
        if type(out) in (float, int, complex, bool):
            return np.asarray(out, dtypes.python_scalar_dtype(out)).view(Array)
        return out
    canon = dtypes.canonicalize_dtype(dt)
    if canon != dt:
        out = out.astype(canon)
    return out.view(Array) if type(out) is np.ndarray else out


def _eager_error(prim, args, params, exc):
    """Prefers the abstract rule's message (names shapes), else NumPy's, with the op name."""
    if prim.abstract_eval is not None:
        try:
            prim.abstract_eval(*[abstractify(a) for a in args], **params)
        except S2SError as better:
            return better
        except Exception:
            pass
    shapes = ", ".join(str(abstractify(a).str_short()) for a in args if _is_arraylike(a))
    return type(exc)(f"{prim.name}({shapes}): {exc}")


def _is_arraylike(x):
    return isinstance(x, (np.ndarray, np.generic, Tracer, bool, int, float, complex))


class ShapedArray:
    """An abstract value: every array of this shape and dtype.

    ``weak_type`` marks values that came from Python scalars only; they take the
    dtype of the arrays they meet (NEP 50).
    """

    __slots__ = ("shape", "dtype", "weak_type")

    def __init__(self, shape, dtype, weak_type=False):
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.weak_type = bool(weak_type)

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    def update(self, shape=None, dtype=None, weak_type=None):
        """A copy with some fields replaced."""
        return ShapedArray(
            self.shape if shape is None else shape,
            self.dtype if dtype is None else dtype,
            self.weak_type if weak_type is None else weak_type,
        )

    def strip_weak_type(self):
        return self.update(weak_type=False) if self.weak_type else self

    def __eq__(self, other):
        return (
            isinstance(other, ShapedArray)
            and self.shape == other.shape
            and self.dtype == other.dtype
            and self.weak_type == other.weak_type
        )

    def __hash__(self):
        return hash((self.shape, self.dtype, self.weak_type))

    def str_short(self):
        name = self.dtype.name
        dims = ",".join(map(str, self.shape))
        return f"{name}[{dims}]" + ("{weak}" if self.weak_type else "")

    def __repr__(self):
        return f"ShapedArray({self.str_short()})"


def abstractify(x):
    """The ``ShapedArray`` of a concrete value or a tracer."""
    if isinstance(x, Tracer):
        return x.aval
    if type(x) in (bool, int, float, complex):
        return ShapedArray((), dtypes.python_scalar_dtype(x), weak_type=True)
    if isinstance(x, (np.ndarray, np.generic)):
        return ShapedArray(x.shape, dtypes.canonicalize_dtype(x.dtype))
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
        arr = np.asarray(x)
        if arr.dtype == object:
            raise TypeError(f"cannot use {type(x).__name__} {x!r} as an array")
        return ShapedArray(arr.shape, dtypes.canonicalize_dtype(arr.dtype))
    raise TypeError(
        f"value of type {type(x).__name__} is not a valid array: {x!r}. "
        "Pass NumPy arrays, Python scalars, or pytrees (tuples, lists, dicts) of them."
    )


class Trace:
    """An interpretation of primitives over tracers. Subclasses process primitives.

    Traces nest: the one with the higher ``level`` is innermost and wins in ``bind``.
    """

    _levels = itertools.count(1)

    def __init__(self):
        self.level = next(Trace._levels)

    def process_primitive(self, primitive, args, params):
        raise NotImplementedError(type(self).__name__)


class Tracer:
    """A value seen by a trace. Operators and NumPy protocols are installed by
    ``s2s.numpy`` (``_install_array_methods``) so tracers behave like arrays."""

    __slots__ = ("_trace",)
    __array_priority__ = 1000

    aval = None  # overridden by subclasses

    @property
    def shape(self):
        return self.aval.shape

    @property
    def dtype(self):
        return self.aval.dtype

    @property
    def ndim(self):
        return self.aval.ndim

    @property
    def size(self):
        return self.aval.size

    @property
    def weak_type(self):
        return self.aval.weak_type

    def __len__(self):
        if not self.aval.shape:
            raise TypeError("len() of unsized object (a 0-d staged array)")
        return self.aval.shape[0]

    def __hash__(self):
        raise TypeError(f"unhashable type: {type(self).__name__} (staged arrays are not hashable)")


# ---------------------------------------------------------------------------
# Rules for composite functions (NumPy-level functions written on primitives).
#
# A transformation that meets a composite normally transforms its source like
# user code; registering a template here keeps generated source short and
# readable instead (``np.sum`` reads better than its lax implementation).


class FunctionRules:
    """The transformation slots (``jvp``, ``vjp``, ``batch``) of a composite function."""

    __slots__ = ("fn", "jvp", "vjp", "batch")

    def __init__(self, fn):
        self.fn = fn
        self.jvp = None
        self.vjp = None
        self.batch = None

    def __repr__(self):
        return f"FunctionRules({getattr(self.fn, '__qualname__', self.fn)})"


_function_rules = {}

# The ``vjp`` (and ``jvp``) slot value for functions whose derivative is zero
# everywhere it exists (comparisons, floor, argmax, shape queries): their
# outputs are never active, so no adjoint is computed for them.
ZERO_DERIVATIVE = "zero-derivative"


def rules_of(fn):
    """The rule table of ``fn``: its primitive, its ``FunctionRules``, or None."""
    try:
        r = _function_rules.get(fn)
    except TypeError:  # unhashable callable
        return None
    if r is not None:
        return r
    return getattr(fn, "primitive", None) if not isinstance(fn, type) else None


def function_rules(fn):
    """The ``FunctionRules`` of composite ``fn`` (created on first use)."""
    r = _function_rules.get(fn)
    if r is None:
        r = _function_rules[fn] = FunctionRules(fn)
    return r


def def_vjp(*fns):
    """Decorator: registers a reverse-mode template for each of ``fns``.

    ``fns`` are primitives, their public wrappers, or composite functions. The
    template's first parameter is the result; the others mirror ``fn``'s
    parameters; assignments ``d[x] = ...`` give the adjoint contribution to
    operand ``x`` from the result's adjoint ``d[ans]``::

        @def_vjp(lax.tanh)
        def _(ans, x):
            d[x] = d[ans] * (1.0 - ans * ans)
    """
    def register(template):
        for fn in fns:
            _slot_owner(fn).vjp = template
        return template
    return register


def def_jvp(*fns):
    """Decorator: registers a forward-mode template (``d[ans] = ...`` from ``d[x]``)."""
    def register(template):
        for fn in fns:
            _slot_owner(fn).jvp = template
        return template
    return register


def def_batch(*fns):
    """Decorator: registers a batching rule for each of ``fns`` (see ``s2s.vmap``).

    The rule is called as ``rule(axes, *args, **kwargs)`` with ``fn``'s own
    arguments; ``axes[i]`` is 0 where argument ``i`` is batched (batch axis
    first) and None where it is not. It returns the result batched on axis 0.
    """
    def register(rule):
        for fn in fns:
            _slot_owner(fn).batch = rule
        return rule
    return register


def def_zero_derivative(*fns):
    """Marks ``fns`` as having a zero derivative (their outputs are never active)."""
    for fn in fns:
        owner = _slot_owner(fn)
        owner.vjp = ZERO_DERIVATIVE
        owner.jvp = ZERO_DERIVATIVE


def _slot_owner(fn):
    if isinstance(fn, Primitive):
        return fn
    prim = getattr(fn, "primitive", None)
    if isinstance(prim, Primitive):
        return prim
    return function_rules(fn)


class _AdjointMarker:
    """``d`` in templates: ``d[x]`` names the adjoint (or tangent) of ``x``.

    Templates are parsed, never run; this object only keeps linters quiet.
    """

    def __getitem__(self, key):
        raise RuntimeError("derivative templates are source, not code to run")

    __setitem__ = __getitem__


d = _AdjointMarker()
