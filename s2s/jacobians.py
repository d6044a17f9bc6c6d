"""``jacfwd``, ``jacrev``, ``hessian`` (JAX's signatures and pytree layout).

``jacfwd`` is ``vmap`` of ``jvp`` over the standard basis of the inputs and
``jacrev`` is ``vmap`` of the generated backward function over the standard basis
of the outputs: batched tangents and cotangents, never a Python loop over basis
vectors (``jvp`` has a batch rule that vmaps its generated source, with the
primal statements unbatched). ``hessian`` is ``jacfwd`` of the gradient.

Layout: for an output leaf of shape ``S`` and an input leaf of shape ``T`` the block is
``S + T``; blocks are arranged as the output pytree of input pytrees (a tuple over
``argnums`` when it is a tuple).
"""
import functools

import numpy as np

import s2s.numpy as snp
from s2s import api_fwd, lax
from s2s.api import (GradFunction, JitFunction, _fun_name, _grad_input, _leaf_dtype,
                     _log_transform, _positional_params, grad, vmap)
from s2s.api_fwd import _as_tangent, _jvp_build, _source_function, jvp, staged_form
from s2s.core.errors import (ConcretizationError, S2SError, TransformError,
                             UnsupportedSyntaxError)
from s2s.core.primitive import function_rules
from s2s.core.tree_util import tree_flatten, tree_map, tree_structure, tree_unflatten
from s2s.lax.structural import iota_p
from s2s.numpy._arraylike import bind_on, first_staged
from s2s.parse.source import NoSourceError
from s2s.runtime.support import NonScalarOutputError
from s2s.trace.record import record
from s2s.transforms import forward, vjp_builder
from s2s.numpy.batching import _example, leading_size
from s2s.transforms.batch_support import loop_call
from s2s.transforms.convert import converted_for_grad


class _Target:
    """What a Jacobian transforms: ``fn(*bound, *call_args)`` with ``params`` differentiated.

    Functions without source s2s can transform (a Jacobian of a Jacobian: the inner one
    calls vmap) are recorded on their arguments first; ``out_tree`` then rebuilds the
    recording's flat outputs.
    """

    def __init__(self, fun, argnums, args, kwargs, holomorphic, who, allow_int=False):
        nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
        for i in nums:
            if not -len(args) <= i < len(args):
                raise ValueError(f"{who}({_fun_name(fun)}): argnums {i} is out of range for "
                                 f"{len(args)} positional arguments")
        nums = tuple(i % len(args) for i in nums)
        args = [_grad_input(a) for a in args]
        self._call = (fun, args, kwargs, nums)
        self.leaves, self.tree = tree_flatten(tuple(args[i] for i in nums))
        _check_inputs(self.leaves, holomorphic, who, fun, allow_int)
        fn, bound = _source_function(fun)
        self.out_tree = None
        call_args = _keywords_as_positional(fn, len(bound), args, kwargs) if fn is not None else None
        params = _positional_params(fn)[len(bound):] if call_args is not None else ()
        if call_args is not None and all(i < len(params) for i in nums):
            self.fn, self.bound, self.call_args = fn, bound, call_args
            self.params = tuple(params[i] for i in nums)
            return
        # No source, or a differentiated argument that falls in *args: the call recorded.
        self._record(fun, args, kwargs, nums)

    def built(self, builder):
        """``builder(fn, params)``; where the source has a callee without source or one
        not understood (not a fence refusal), the call recorded and that built."""
        try:
            return builder(self.fn, self.params)
        except UnsupportedSyntaxError:
            raise
        except (NoSourceError, TransformError):
            if self.out_tree is not None:
                raise
            self._record(*self._call)
            return builder(self.fn, self.params)

    def _record(self, fun, args, kwargs, nums):
        rec = record(fun, args, kwargs)
        self.fn, self.bound, self.out_tree = rec.fn, (), rec.out_tree
        self.call_args = tree_flatten((list(args), dict(kwargs)))[0]
        names = rec.fn.__code__.co_varnames[:rec.fn.__code__.co_argcount]
        counts = [len(tree_flatten(a)[0]) for a in args]
        starts = [sum(counts[:i]) for i in range(len(args))]
        self.params = tuple(names[starts[i] + k] for i in nums for k in range(counts[i]))

    def tangent_args(self, batched):
        """The batched differentiated arguments, one per differentiated parameter."""
        return list(batched) if self.out_tree is None else tree_flatten(batched)[0]

    def output(self, out):
        if self.out_tree is None:
            return out
        return self.out_tree.unflatten(list(out) if self.out_tree.num_leaves > 1 else [out])

    def input_leaf_cotangents(self, pulled):
        """The backward function's cotangents, one per differentiated input leaf (None: zero)."""
        pulled = list(pulled) if len(self.params) > 1 else [pulled]
        if self.out_tree is not None:
            return pulled
        out = []
        for a, arg in zip(pulled, tree_unflatten(self.tree, self.leaves)):
            # An adjoint is None where it is zero, a whole argument's or one leaf's
            # (a tuple (None, g), a dict with only some keys): zeros for those leaves only.
            out += tree_structure(arg).flatten_up_to_or_none(a)
        return out


def _keywords_as_positional(fn, n_bound, args, kwargs):
    """``args`` extended by ``kwargs`` (and the defaults between) as positional arguments of
    ``fn``, so that vmap passes them unbatched and undifferentiated, as JAX does; None where a
    keyword names no positional parameter (keyword-only, ``**kwargs``): the call is recorded."""
    if not kwargs:
        return list(args)
    params = _positional_params(fn)[n_bound:]
    rest = params[len(args):]
    if not set(kwargs) <= set(rest):
        return None
    defaults = dict(zip(reversed(params), reversed(fn.__defaults__ or ())))
    last = max(rest.index(k) for k in kwargs)
    extra = [kwargs[p] if p in kwargs else defaults.get(p, _MISSING) for p in rest[:last + 1]]
    return None if any(v is _MISSING for v in extra) else list(args) + extra


_MISSING = object()


# JAX's conventions: forward mode differentiates real inputs (complex ones only as
# holomorphic functions), reverse mode real outputs; holomorphic=True wants complex both.
def _check_inputs(leaves, holomorphic, who, fun, allow_int=False):
    if allow_int and not holomorphic:  # integer inputs get zero blocks of their dtype, as in JAX
        leaves = [v for v in leaves if not _is_int(v)]
    _check_kinds(leaves, "c" if holomorphic else ("f" if who == "jacfwd" else "fc"), "inputs", who, fun)


def _real_for_real_input(ct, x):
    """The cotangent of a real input is the real part of what reverse mode pulled back
    (complex intermediates, as in ``abs(exp(1j * x))``), JAX's convention; ``grad``
    does the same."""
    if _leaf_dtype(x).kind != "c" and np.dtype(ct.dtype).kind == "c":
        return snp.real(ct)
    return ct


def _is_int(x):
    return _leaf_dtype(x).kind in "biu"


def _check_outputs(leaves, holomorphic, who, fun):
    _check_kinds(leaves, "c" if holomorphic else ("f" if who == "jacrev" else "fc"), "outputs", who, fun)


_REQUIRED = {"c": "with holomorphic=True requires complex {}", "f": "requires real-valued (floating) {}",
             "fc": "requires real- or complex-valued {}"}


def _check_kinds(leaves, kinds, what, who, fun):
    for leaf in leaves:
        dt = _leaf_dtype(leaf)
        if dt.kind not in kinds:
            hint = ("; for a holomorphic function pass holomorphic=True, otherwise use s2s.jvp or "
                    "s2s.vjp directly") if dt.kind == "c" else ""
            raise TypeError(f"{who}({_fun_name(fun)}) {_REQUIRED[kinds].format(what)}, got {dt}{hint}")


def _basis(leaves):
    """The standard basis of the flattened ``leaves``: an identity matrix."""
    n = sum(int(np.size(v)) for v in leaves)
    dt = np.result_type(*[_leaf_dtype(v) for v in leaves])
    ref = first_staged(*leaves)
    if ref is None:
        return np.eye(n, dtype=dt)
    # Under jit the identity is part of the program (iota == iota, which XLA fuses
    # into its consumers), not an n x n host array passed in at every call.
    rows = bind_on(ref, iota_p, dtype=np.dtype(np.int32), shape=(n, n), dimension=0)
    cols = bind_on(ref, iota_p, dtype=np.dtype(np.int32), shape=(n, n), dimension=1)
    return lax.convert_element_type(lax.eq(rows, cols), new_dtype=dt)


def _bounds(leaves):
    sizes = [int(np.size(v)) for v in leaves]
    starts = [int(x) for x in np.cumsum([0] + sizes[:-1])]
    return starts, [s + n for s, n in zip(starts, sizes)]


def _batched_tree(basis, leaves, tree):
    """The basis rows as one batched pytree shaped like ``leaves`` (batch axis first)."""
    n = basis.shape[0]
    if len(leaves) == 1:  # no slicing: one leaf takes the whole basis
        return tree_unflatten(tree, [snp.reshape(basis, (n,) + np.shape(leaves[0]))])
    return tree_unflatten(tree, [snp.reshape(basis[:, s:e], (n,) + np.shape(v))
                                 for v, s, e in zip(leaves, *_bounds(leaves))])


def _arrange(n_out, out_tree, blocks, in_tree, argnums):
    """``blocks[o][k]`` (out leaf o, in leaf k) arranged as out_tree of in_tree."""
    per_out = []
    for o in range(n_out):
        inner = tree_unflatten(in_tree, blocks[o])
        per_out.append(inner[0] if isinstance(argnums, int) else inner)
    return tree_unflatten(out_tree, per_out)


def _completed_gradient(fun, out, args, n, lead=()):
    """The batched output of a gradient function's generated code with zeros for its
    ``None`` adjoints, shaped like the gradient's examples (``n`` of them, behind the
    ``lead`` axes); other functions' outputs as they are."""
    while isinstance(fun, JitFunction):
        fun = fun._fun
    if not isinstance(fun, GradFunction):
        return out
    return fun.completed(out, lambda i: tree_map(
        lambda v: np.zeros(tuple(lead) + (n,) + np.shape(v), _leaf_dtype(v)), args[i]))


def _first(aux, lead=0):
    """The aux output of one basis row (vmap broadcast it over the rows, on axis ``lead``)."""
    return tree_map(lambda a: a[:, 0] if lead else a[0], aux)


def jacfwd(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Jacobian of ``fun`` by forward mode: the generated jvp source, ``vmap``ped over
    the standard basis of the inputs (primal statements unbatched).

    >>> import s2s, s2s.numpy as np
    >>> s2s.jacfwd(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]], dtype=float32)
    """

    @functools.wraps(fun)
    def jacfun(*args, **kwargs):
        t = _Target(fun, argnums, args, kwargs, holomorphic, "jacfwd")
        leaves, tree = t.leaves, t.tree
        build = t.built(forward.build_jvp)
        tangents = t.tangent_args(_batched_tree(_basis(leaves), leaves, tree))
        in_axes = (0,) * len(tangents) + (None,) * (len(t.bound) + len(t.call_args))
        args = [*tangents, *t.bound, *t.call_args]
        out, jac = staged_form(vmap(build.function, in_axes=in_axes), args)(*args)
        return _jacfwd_result(fun, t, out, jac, argnums, has_aux, holomorphic)
    jacfun.__s2s_traced__ = True  # transformations of it record it (it calls vmap)
    function_rules(jacfun).batch = _jacfwd_batch(jacfun, fun, argnums, has_aux, holomorphic)
    return jacfun


def _jacfwd_result(fun, t, out, jac, argnums, has_aux, holomorphic, batch=None):
    """The Jacobian (and aux) from the jvp source's outputs over the basis (axis 0, or
    axis 1 behind the examples' axis when ``batch`` is their number)."""
    lead = 0 if batch is None else 1
    leaves, tree = t.leaves, t.tree
    out, jac = t.output(out), t.output(jac)
    nb = sum(int(np.size(v)) for v in leaves)
    if t.out_tree is None:  # the generated code's own output: None where a zero
        jac = _completed_gradient(fun, jac, t.call_args, nb, lead=() if batch is None else (batch,))
    aux = None
    if has_aux:
        jac, aux = jac[0], _first(out[1], lead)
    out_leaves, out_tree = tree_flatten(jac)
    _check_outputs(out_leaves, holomorphic, "jacfwd", fun)
    starts, ends = _bounds(leaves)
    blocks = []
    for o in out_leaves:
        moved = snp.moveaxis(o, lead, -1)  # (examples,) + out shape + (n,)
        blocks.append([snp.reshape(moved[..., s:e], tuple(moved.shape[:-1]) + np.shape(v))
                       for v, s, e in zip(leaves, starts, ends)])
    result = _arrange(len(out_leaves), out_tree, blocks, tree, argnums)
    return (result, aux) if has_aux else result


def _batched_target(fun, argnums, holomorphic, who, builder, axes, args, kwargs,
                    allow_int=False):
    """For a batch rule of a Jacobian: ``(target, build, call_args, arg_axes, n)``, the
    target made from the first example, ``builder``'s build of its source, the batched
    call's arguments and their axes, and the number of examples; None where the call runs
    per example (an axis other than 0, or no source: a recording is fixed to one
    example's path)."""
    batched = [a for a, ax in zip(args, axes) if ax is not None]
    if not batched or not all(ax in (0, None) for ax in axes):
        return None
    example = [_example(a, 0) if ax is not None else a for a, ax in zip(args, axes)]
    t = _Target(fun, argnums, example, kwargs, holomorphic, who, allow_int)
    try:
        build = None if t.out_tree is not None else t.built(builder)
    except (NoSourceError, TransformError):
        build = None
    if build is None or t.out_tree is not None:
        return None
    call_args = [_grad_input(a) if ax is not None else c
                 for a, ax, c in zip(args, axes, t.call_args)] + t.call_args[len(args):]
    arg_axes = tuple(axes) + (None,) * (len(call_args) - len(args))
    return t, build, call_args, arg_axes, leading_size(batched)


def _jacfwd_batch(jacfun, fun, argnums, has_aux, holomorphic):
    """vmap of ``jacfwd(fun)``: the jvp source vmapped over the basis, that vmapped over
    the examples (the basis the same for every example), as JAX composes them; ``if``s and
    ``lax.cond``s on the data become selects there, where recording the Jacobian on one
    example would fix its branches (and each example ran on its own)."""
    def rule(axes, /, *args, **kwargs):
        found = _batched_target(fun, argnums, holomorphic, "jacfwd", forward.build_jvp, axes,
                                args, kwargs)
        if found is None:
            return loop_call(jacfun, axes, args, kwargs)
        t, build, call_args, arg_axes, n = found
        tangents = t.tangent_args(_batched_tree(_basis(t.leaves), t.leaves, t.tree))
        inner = vmap(build.function, in_axes=(0,) * len(tangents) + (None,) * (
            len(t.bound) + len(call_args)))
        outer = vmap(inner, in_axes=(None,) * (len(tangents) + len(t.bound)) + arg_axes)
        full = [*tangents, *t.bound, *call_args]
        out, jac = staged_form(outer, full)(*full)
        return _jacfwd_result(fun, t, out, jac, argnums, has_aux, holomorphic, batch=n)
    return rule


def jacrev(fun, argnums=0, has_aux=False, holomorphic=False, allow_int=False):
    """The Jacobian of ``fun`` by reverse mode: the forward pass runs once, then the
    generated backward function is ``vmap``ped over the standard basis of the outputs.

    >>> import s2s, s2s.numpy as np
    >>> s2s.jacrev(lambda x: x * x)(np.array([1.0, 2.0]))
    array([[2., 0.],
           [0., 4.]], dtype=float32)
    """

    @functools.wraps(fun)
    def jacfun(*args, **kwargs):
        t = _Target(fun, argnums, args, kwargs, holomorphic, "jacrev", allow_int)
        build, out, tape = _forward_pass(t)
        out = t.output(out)
        out_val, aux = (out[0], out[1]) if has_aux else (out, None)
        out_leaves, out_tree = tree_flatten(out_val)
        _check_outputs(out_leaves, holomorphic, "jacrev", fun)
        cts = _batched_tree(_basis(out_leaves), out_leaves, out_tree)
        if t.out_tree is not None:  # a recording takes its outputs' cotangents flat
            # (None for the aux leaves, in their places)
            flat = t.out_tree.flatten_up_to_or_none((cts, None) if has_aux else cts)
            cts = tuple(flat) if len(flat) > 1 else flat[0]
        elif has_aux:
            cts = (cts, None)
        bwd = vmap(build.bwd_cell.cell_contents, in_axes=(None, 0))
        result = _jacrev_result(t, out_leaves, out_tree, bwd(tape, cts), argnums)
        return (result, aux) if has_aux else result
    jacfun.__s2s_traced__ = True  # transformations of it record it (it calls vmap)
    function_rules(jacfun).batch = _jacrev_batch(jacfun, fun, argnums, has_aux, holomorphic,
                                                 allow_int)
    return jacfun


def _jacrev_result(t, out_leaves, out_tree, pulled, argnums, batch=None):
    """The Jacobian from the backward function's outputs over the basis of the outputs
    (rows on axis 0, or on axis 1 behind the examples' axis when ``batch`` is their
    number; ``out_leaves`` then one example's)."""
    lead = () if batch is None else (batch,)
    rows = (slice(None),) * len(lead)
    m = sum(int(np.size(v)) for v in out_leaves)
    pulled = [snp.zeros(lead + (m,) + np.shape(v), _leaf_dtype(v)) if c is None or _is_int(v) else
              _real_for_real_input(c, v) for c, v in zip(t.input_leaf_cotangents(pulled), t.leaves)]
    blocks = []
    for o, s, e in zip(out_leaves, *_bounds(out_leaves)):
        shape = lead + np.shape(o)
        blocks.append([snp.zeros(shape + np.shape(v), _leaf_dtype(v)) if _is_int(v) else
                       snp.reshape(c[rows + (slice(s, e),)], shape + np.shape(v))
                       for c, v in zip(pulled, t.leaves)])
    return _arrange(len(out_leaves), out_tree, blocks, t.tree, argnums)


def _jacrev_batch(jacfun, fun, argnums, has_aux, holomorphic, allow_int):
    """vmap of ``jacrev(fun)``: one generated function, forward sweep, the cotangent as
    its seed, reverse sweep (``vjp_builder.vjp_function``), vmapped over the basis of the
    outputs and that over the examples, as JAX composes them. A branch or loop on the
    data runs under a mask in both sweeps, where ``jacrev``'s own forward pass (one
    example's recording, or its tape) would fix one example's path and each example ran
    on its own. Under jit, where that source does not stage (the reverse sweep's stack
    inside a staged loop), the control-flow-converted function's instead (cond and
    while_loop with reverse rules of their own), as ``jit(vmap(grad(f)))`` does; failing
    that, each example on its own."""
    def rule(axes, /, *args, **kwargs):
        found = _batched_target(fun, argnums, holomorphic, "jacrev", vjp_builder.vjp_function,
                                axes, args, kwargs, allow_int)
        if found is None:
            return loop_call(jacfun, axes, args, kwargs)
        t, build, call_args, arg_axes, n = found
        jac = functools.partial(_batched_jacrev, t, call_args, arg_axes, n, argnums, has_aux,
                                holomorphic, fun)
        makers = [lambda: build.function]
        if first_staged(*call_args) is not None:
            makers.append(lambda: vjp_builder.vjp_function(converted_for_grad(t.fn), t.params).function)
        for make in makers:
            try:
                return jac(make())
            except _NOT_BATCHED as e:
                _log_transform("vmap(jacrev)", fun, f"the batched vjp source failed "
                               f"({type(e).__name__}: {str(e).splitlines()[0]})")
        return loop_call(jacfun, axes, args, kwargs)
    return rule


# What the batched vjp source raises where it cannot batch what each example's own
# jacrev can (a branch variable of another shape, a tape holding only function values,
# the reverse stack in a staged loop): each example then runs on its own, which raises
# again if the error is the function's own.
_NOT_BATCHED = (S2SError, TypeError, ValueError, IndexError)


def _batched_jacrev(t, call_args, arg_axes, n, argnums, has_aux, holomorphic, fun, vjp_fn):
    """``jacrev(fun)`` of each of ``n`` examples from ``vjp_fn(ct, *args)`` vmapped over
    the basis, then over the examples; the outputs' shapes (and aux) from the batched
    forward pass."""
    primal = [*t.bound, *call_args]
    out = staged_form(vmap(t.fn, in_axes=(None,) * len(t.bound) + arg_axes), primal)(*primal)
    out_val, aux = (out[0], out[1]) if has_aux else (out, None)
    out_leaves, out_tree = tree_flatten(out_val)
    _check_outputs(out_leaves, holomorphic, "jacrev", fun)
    one = [o[0] for o in out_leaves]
    cts = _batched_tree(_basis(one), one, out_tree)
    inner = vmap(vjp_fn, in_axes=(0,) + (None,) * len(primal))
    outer = vmap(inner, in_axes=(None,) * (1 + len(t.bound)) + arg_axes)
    full = [(cts, None) if has_aux else cts, *primal]
    pulled = staged_form(outer, full)(*full)
    result = _jacrev_result(t, one, out_tree, pulled if len(t.params) > 1 else pulled[0],
                            argnums, batch=n)
    return (result, aux) if has_aux else result


def _forward_pass(t):
    """``(build, out, tape)``: the generated forward function run once. Under jit, where
    the function branches or loops on staged values (the plain forward raises), the
    control-flow-converted function instead: its ``if``/``while`` become cond/while loops
    with reverse rules of their own. Not always: the converted code calls runtime helpers
    that vmap cannot batch by source, so its backward would run once per basis vector
    (1000 copies of the program for a 1000-output Jacobian)."""
    build = t.built(vjp_builder.build_vjp)
    try:
        out, tape = build.fwd_cell.cell_contents(*t.bound, *t.call_args)
    except ConcretizationError:
        if staged_form(t.fn, [*t.bound, *t.call_args]) is t.fn:
            raise
        build = vjp_builder.build_vjp(converted_for_grad(t.fn), t.params)
        out, tape = build.fwd_cell.cell_contents(*t.bound, *t.call_args)
    return build, out, tape


def hessian(fun, argnums=0, has_aux=False, holomorphic=False):
    """The Hessian of ``fun``: ``jacfwd`` of its gradient (forward over reverse) for a
    scalar output; for any other output ``jacfwd(jacrev(fun))``, as JAX's ``hessian``
    (the output's shape followed by the input's twice).

    >>> import s2s, s2s.numpy as np
    >>> s2s.hessian(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0]))
    array([[ 6.,  0.],
           [ 0., 12.]], dtype=float32)
    >>> s2s.hessian(lambda x: x ** 3)(np.array([1.0, 2.0])).shape
    (2, 2, 2)
    """
    kw = dict(argnums=argnums, has_aux=has_aux, holomorphic=holomorphic)
    of_grad = jacfwd(grad(fun, **kw), **kw)
    of_jacrev = []  # built on the first non-scalar call

    def general():
        if not of_jacrev:
            of_jacrev.append(jacfwd(jacrev(fun, **kw), **kw))
        return of_jacrev[0]

    # grad refuses a non-scalar output from its shape alone, before any derivative is
    # taken, so the retry changes nothing but which Jacobian of the derivative is built;
    # an inner grad of the user's that refuses its output raises again from the retry.
    @functools.wraps(fun)
    def hess(*args, **kwargs):
        try:
            return of_grad(*args, **kwargs)
        except NonScalarOutputError:
            return general()(*args, **kwargs)

    def batch(axes, /, *args, **kwargs):
        try:
            return function_rules(of_grad).batch(axes, *args, **kwargs)
        except NonScalarOutputError:
            return function_rules(general()).batch(axes, *args, **kwargs)

    hess.__s2s_traced__ = True  # transformations of it record it, as of jacfwd's
    function_rules(hess).batch = batch
    return hess


# ---------------------------------------------------------------------------
# vmap of jvp: the generated jvp source, vmapped with its primal statements unbatched.


def _jvp_batch(axes, fun, primals, tangents, has_aux=False):
    if axes[0] is not None:
        raise TypeError("vmap of jvp over a batch of functions is not supported")
    primals = tuple(_grad_input(p) for p in primals)
    tangents = tuple(tangents)
    try:
        build, bound, active = _jvp_build(fun, primals)
    except UnsupportedSyntaxError:
        raise
    except (NoSourceError, TransformError):  # jvp traces each example's call
        build = None
    if build is None:
        return loop_call(jvp, axes, (fun, primals, tangents), {"has_aux": has_aux}, ())
    in_axes = tuple([axes[2]] * len(active) + [None] * len(bound) + [axes[1]] * len(primals))
    out, dout = vmap(build.function, in_axes=in_axes)(*[tangents[i] for i in active], *bound, *primals)
    if has_aux:
        return out[0], dout[0], out[1]
    return out, dout


def _register():
    function_rules(api_fwd.jvp).batch = _jvp_batch


_register()
