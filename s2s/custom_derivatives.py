"""``custom_jvp`` and ``custom_vjp``: functions with derivative rules of your own (JAX's API).

Transformations see a call of such a function as ``custom_call(rule, *args)``
(``__s2s_unwrap__`` gives them a two-line wrapper naming the rule), and
``custom_call`` has jvp and vjp templates that call your rule:

* ``jvp`` of a ``custom_jvp`` function calls its jvp rule;
* ``grad``/``vjp`` of a ``custom_vjp`` function runs ``fwd`` for the residuals and
  ``bwd`` on the cotangent; of a ``custom_jvp`` function, reverse mode of the jvp
  rule, which is linear in the tangents, gives the cotangents (as JAX transposes it);
* ``jit`` runs the function itself (the rules apply when a derivative is taken,
  including ``jit(grad(f))``).

A vmap rule for ``custom_call`` goes in its ``batch`` slot (``s2s.core.primitive.function_rules``).

>>> import s2s, s2s.numpy as np
>>> @s2s.custom_jvp
... def f(x):
...     return np.sin(x)
>>> @f.defjvp
... def f_jvp(primals, tangents):
...     (x,), (t,) = primals, tangents
...     return f(x), 2.0 * t          # a deliberately different derivative
>>> s2s.jvp(f, (0.5,), (1.0,))[1]
array(2., dtype=float32)
"""
import functools
import inspect
import keyword

from s2s.checkpoint_remat import checkpoint_restore, checkpoint_save
from s2s.codegen.python import compile_function, make_cell
from s2s.core.errors import TransformError
from s2s.core.primitive import Tracer, d, def_jvp, def_vjp
from s2s.core.tree_util import tree_flatten
from s2s.parse import astconv
from s2s.runtime import support
from s2s.trace.record import RecordingTrace, record_call, recording_trace
from s2s.transforms.fwd_support import dynamic_jvp

__all__ = ["custom_jvp", "custom_vjp", "custom_call", "checkpoint", "remat"]


class _Custom:
    def __init__(self, fun, nondiff_argnums=()):
        functools.update_wrapper(self, fun)
        self.fun = fun
        self.nondiff_argnums = tuple(nondiff_argnums)
        self._wrapper = None

    def __call__(self, *args, **kwargs):
        if kwargs:
            raise TypeError(f"{type(self).__name__} function {self.__name__} takes positional "
                            "arguments only")
        return globals()[self._call_name](self, *args)

    def __get__(self, obj, objtype=None):
        return self if obj is None else functools.partial(self, obj)

    def __s2s_unwrap__(self):
        # Transformations read `def f(a, b): return custom_call(<rule>, a, b)`.
        if self._wrapper is None:
            self._wrapper = _call_wrapper(self, self._call_name, globals()[self._call_name])
        return self._wrapper, ()

    _call_name = "custom_call"

    def _split(self, args):
        static = [args[i] for i in self.nondiff_argnums]
        primals = tuple(a for i, a in enumerate(args) if i not in self.nondiff_argnums)
        return static, primals


class custom_jvp(_Custom):  # noqa: N801 (JAX's name)
    """A function whose forward-mode derivative is the rule given to ``defjvp``/``defjvps``.

    ``nondiff_argnums``: positions of arguments that are not differentiated; the rule
    receives them first, ``rule(*nondiff, primals, tangents)``.
    """

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.jvp = self.jvps = None
        self.rule_name = None

    def defjvp(self, jvp):
        """Sets ``jvp(primals, tangents) -> (primal_out, tangent_out)``; returns it."""
        self.jvp, self.jvps = jvp, None
        self.rule_name = getattr(jvp, "__name__", "jvp_rule")
        self._wrapper = None
        return jvp

    def defjvps(self, *jvps):
        """One rule per primal argument, ``jvp_i(tangent_i, primal_out, *primals)`` (None: no
        dependence); the output tangent is their sum."""
        self.jvp = functools.partial(_jvps_rule, self.fun, jvps)
        self.jvps = jvps
        self.rule_name = "_".join(getattr(j, "__name__", "jvp") for j in jvps if j is not None) or "jvps"
        self._wrapper = None


class custom_vjp(_Custom):  # noqa: N801 (JAX's name)
    """A function whose reverse-mode derivative is given by ``defvjp(fwd, bwd)``.

    ``fwd(*args) -> (out, residuals)``; ``bwd(*nondiff, residuals, cotangent)`` returns
    one cotangent per differentiated argument (a tuple).
    """

    def __init__(self, fun, nondiff_argnums=()):
        super().__init__(fun, nondiff_argnums)
        self.fwd = self.bwd = None
        self.rule_name = None

    def defvjp(self, fwd, bwd):
        """Sets the forward function (primal and residuals) and the backward rule."""
        self.fwd, self.bwd = fwd, bwd
        self.rule_name = getattr(bwd, "__name__", "bwd")
        self._wrapper = None


def _jvps_rule(fun, jvps, primals, tangents):
    ans = fun(*primals)
    out = None
    for rule, t in zip(jvps, tangents):
        if rule is not None:
            term = rule(t, ans, *primals)
            out = term if out is None else out + term
    return ans, out if out is not None else support.zeros_like_grad(ans)


def _call_wrapper(custom, call_name, call):
    names = [p.name for p in inspect.signature(custom.fun).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rule = _identifier(custom.rule_name or custom.__name__)
    name = _identifier(getattr(custom, "__name__", "fn").replace("<lambda>", "lambda_fn"))
    text = (f"def {name}({', '.join(names)}):\n"
            f"    return {call_name}({rule}, {', '.join(names)})\n")
    fdef = astconv.parse(text).body[0]
    wrapper, _ = compile_function(fdef, f"<s2s {call_name} of {custom.__name__}>", {"__builtins__": __builtins__},
                                  {call_name: make_cell(call), rule: make_cell(custom)})
    wrapper.__defaults__ = getattr(inspect.unwrap(custom.fun), "__defaults__", None)  # jit(f): f's
    return wrapper


def _identifier(name):
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
    ok = name.isidentifier() and not keyword.iskeyword(name)
    return name if ok and name not in ("custom_call", "checkpoint_call") else "rule"


def _captures_recording(fun, depth=0):
    """Whether ``fun`` closes over a recorded value (in its closure cells, a partial's
    arguments, or a function it closes over): the rules of a recorded call differentiate
    its arguments alone, so such a value would silently get no derivative."""
    if depth > 4:
        return False
    if isinstance(fun, functools.partial):
        values = list(fun.args) + list(fun.keywords.values()) + [fun.func]
    else:
        values = []
        for cell in getattr(fun, "__closure__", None) or ():
            try:
                values.append(cell.cell_contents)
            except ValueError:  # an empty cell (a name not assigned yet)
                pass
    for leaf in tree_flatten(values)[0]:
        if isinstance(leaf, Tracer) and isinstance(leaf._trace, RecordingTrace):
            return True
        if callable(leaf) and not isinstance(leaf, type) and _captures_recording(leaf, depth + 1):
            return True
    return False


def custom_call(rule, *args):
    """``rule.fun(*args)``: how transformations see a call of a custom-rule function.
    Recorded as one call (not the primitives of ``rule.fun``) where the tracing fallback
    records it, so a transformation of the recording applies the rule too."""
    if _captures_recording(rule.fun):
        raise TransformError(
            f"the {type(rule).__name__} function {rule.__name__} reads a value being "
            f"differentiated from an enclosing function: its rules take derivatives with "
            f"respect to its arguments only, so that value would get no derivative. Pass "
            f"the value to {rule.__name__} as an argument")
    return record_call(custom_call, (rule,) + args) if recording_trace(args) else rule.fun(*args)


def custom_forward(rule, *args):
    """``custom_call(rule, *args)`` in reverse mode's forward pass: a ``custom_vjp``
    function's value from its ``fwd``. A derivative of that derivative code then
    differentiates ``fwd`` (and ``bwd``), not the rule again, as JAX does."""
    if isinstance(rule, custom_vjp) and rule.fwd is not None:
        return rule.fwd(*args)[0]
    return custom_call(rule, *args)


custom_call.in_reverse_forward = custom_forward


def custom_tangent(rule, args, tangents):
    """The output tangent of ``custom_call(rule, *args)`` (forward mode)."""
    if isinstance(rule, custom_vjp):
        raise TypeError(f"can't apply forward-mode autodiff (jvp) to a custom_vjp function "
                        f"({rule.__name__}); use custom_jvp, or reverse mode")
    if rule.jvp is None:
        raise TypeError(f"custom_jvp function {rule.__name__} has no rule: call defjvp first")
    static, primals = rule._split(args)
    _, ts = rule._split(tangents)
    out, tangent = rule.jvp(*static, primals, ts)
    return support.zeros_like_grad(out) if tangent is None else tangent


def custom_cotangents(g, rule, args):
    """The cotangents of ``args`` in ``custom_call(rule, *args)`` (reverse mode); None for
    the non-differentiated arguments."""
    if g is None:
        return (None,) * len(args)
    static, primals = rule._split(args)
    if isinstance(rule, custom_vjp):
        if rule.bwd is None:
            raise TypeError(f"custom_vjp function {rule.__name__} has no rule: call defvjp first")
        _, residuals = rule.fwd(*args)
        cts = rule.bwd(*static, residuals, g)
        if not isinstance(cts, (tuple, list)) or len(cts) != len(primals):
            raise TypeError(f"the bwd rule of {rule.__name__} must return a tuple of "
                            f"{len(primals)} cotangents, got {type(cts).__name__}")
    elif rule.jvps is not None:
        cts = _transpose_jvps(rule, primals, g)
    else:
        # The jvp rule is linear in its tangents: reverse mode of it transposes it.
        zeros = support.zeros_like_grad(primals)
        # Only the tangents vary (the primals are constants of the rule here), so the
        # primal computation in the rule is not differentiated (it may call the function).
        out, pull = support.dynamic_vjp(functools.partial(rule.jvp, *static, primals), zeros)
        cts = pull((None, g))[0]  # None: no cotangent reaches the primal output
    it = iter(cts)
    return tuple(None if i in rule.nondiff_argnums else next(it) for i in range(len(args)))


def _transpose_jvps(rule, primals, g):
    """Cotangents from ``defjvps`` rules: each is linear in its own tangent."""
    ans = rule.fun(*primals)
    cts = []
    for jvp_i, p in zip(rule.jvps, primals):
        if jvp_i is None:
            cts.append(None)
            continue
        _, pull = support.dynamic_vjp(jvp_i, support.zeros_like_grad(p), ans, *primals)
        cts.append(pull(g)[0])
    return cts


custom_tangent.maybe_none = False
custom_cotangents.maybe_none = True


@def_jvp(custom_call)
def _custom_call_jvp(ans, rule, *args):
    d[ans] = custom_tangent(rule, args, d[args])


@def_vjp(custom_call)
def _custom_call_vjp(ans, rule, *args):
    d[args] = custom_cotangents(d[ans], rule, args)


# ---------------------------------------------------------------------------
# checkpoint / remat: the reverse pass recomputes the function's forward pass.


class _Checkpointed(_Custom):
    _call_name = "checkpoint_call"

    def __init__(self, fun, static_argnums=(), policy=None):
        super().__init__(fun, static_argnums)
        self.rule_name = f"checkpointed_{getattr(fun, '__name__', 'fn')}"
        self.policy = policy
        self._plans = {}  # under a policy: the latest record per argument shapes (s2s.checkpoint_remat)

    def __call__(self, *args, **kwargs):
        if self.policy is None or kwargs or not recording_trace(args) \
                or _captures_recording(self.fun):
            return super().__call__(*args, **kwargs)
        # A recording spells the call as a call of this object, whose unwrapped form
        # (below) carries the policy.
        return record_call(self, args)

    def __s2s_unwrap__(self):
        if self.policy is None:
            return super().__s2s_unwrap__()
        if self._wrapper is None:
            self._wrapper = _saving_wrapper(self, checkpoint_save, checkpoint_restore)
        return self._wrapper, ()


def _saving_wrapper(custom, save, restore):
    """``def f(a, b): out, saved = checkpoint_save(rule, a, b); return
    checkpoint_restore(rule, out, saved, a, b)`` (see s2s.remat)."""
    names = [p.name for p in inspect.signature(custom.fun).parameters.values()
             if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    rule = _identifier(custom.rule_name)
    name = _identifier(getattr(custom, "__name__", "fn").replace("<lambda>", "lambda_fn"))
    args = ", ".join(names)
    text = (f"def {name}({args}):\n"
            f"    out, saved = checkpoint_save({rule}, {args})\n"
            f"    return checkpoint_restore({rule}, out, saved, {args})\n")
    fdef = astconv.parse(text).body[0]
    cells = {"checkpoint_save": make_cell(save), "checkpoint_restore": make_cell(restore),
             rule: make_cell(custom)}
    wrapper, _ = compile_function(fdef, f"<s2s checkpoint of {custom.__name__}>",
                                  {"__builtins__": __builtins__}, cells)
    wrapper.__defaults__ = getattr(inspect.unwrap(custom.fun), "__defaults__", None)  # jit(f): f's
    return wrapper


def checkpoint(fun=None, *, static_argnums=(), prevent_cse=True, policy=None):
    """``fun`` whose reverse mode keeps less of its forward pass and recomputes the rest
    when the backward pass reaches it (JAX's ``jax.checkpoint``/``remat``): less memory
    for more computation. ``static_argnums`` are not differentiated.

    ``policy`` (see ``s2s.checkpoint_policies``) says which primitive applications of
    ``fun`` keep their values; the default keeps only the arguments and recomputes the
    whole forward pass. Forward mode and vmap are unchanged by it. ``prevent_cse`` is
    accepted for JAX compatibility and does nothing: under ``jit`` XLA may merge the
    recomputation with the forward pass (s2s emits no optimization barrier), which
    changes memory, never results.

    Without a policy the backward pass runs ``fun`` again: a global or closure variable
    that ``fun`` reads (not an argument) and that changes after the call is read as it
    is then (JAX reads it once, when it traces the call). Pass such values as arguments;
    under a policy each call's backward pass uses the record of its own forward pass.

    >>> import s2s, s2s.numpy as np
    >>> layer = s2s.checkpoint(lambda x: np.tanh(x) * 2.0)
    >>> s2s.grad(lambda x: layer(layer(x)))(0.5)
    array(1.4790556, dtype=float32)
    >>> kept = s2s.checkpoint(lambda x: np.tanh(x) * 2.0, policy=s2s.checkpoint_policies.everything_saveable)
    >>> s2s.grad(lambda x: kept(kept(x)))(0.5)
    array(1.4790556, dtype=float32)
    """
    if fun is None:
        return functools.partial(checkpoint, static_argnums=static_argnums, prevent_cse=prevent_cse,
                                 policy=policy)
    if isinstance(static_argnums, int):
        static_argnums = (static_argnums,)
    if policy is not None and not callable(policy):
        raise TypeError(f"checkpoint: policy must be a function (see s2s.checkpoint_policies), "
                        f"got {type(policy).__name__}")
    return _Checkpointed(fun, static_argnums, policy)


remat = checkpoint


def checkpoint_call(rule, *args):
    """``rule.fun(*args)``: how transformations see a call of a checkpointed function
    (recorded as one call, as ``custom_call`` is). Where ``rule.fun`` closes over a
    recorded value, the recording gets its primitives instead (its rules differentiate
    the arguments alone; checkpointing changes memory, never values, so running it
    inline is exact)."""
    if recording_trace(args) and not _captures_recording(rule.fun):
        return record_call(checkpoint_call, (rule,) + args)
    return rule.fun(*args)


def checkpoint_cotangents(g, rule, args):
    """Cotangents of ``args`` in ``checkpoint_call(rule, *args)``: the forward pass of
    ``rule.fun`` runs again here, under reverse mode, and its pullback takes ``g``."""
    if g is None:
        return (None,) * len(args)
    _, pull = support.dynamic_vjp(rule.fun, *args)
    cts = pull(g)
    return tuple(None if i in rule.nondiff_argnums else ct for i, ct in enumerate(cts))


def checkpoint_tangent(rule, args, tangents):
    """The output tangent of ``checkpoint_call(rule, *args)`` (forward mode stores nothing)."""
    tangents = tuple(None if i in rule.nondiff_argnums else t for i, t in enumerate(tangents))
    return dynamic_jvp(rule.fun, args, tangents)[1]


checkpoint_cotangents.maybe_none = True

# A derivative of derivative code (hessian: forward mode of the backward pass) records
# these helpers on their arguments: their source calls s2s's own transformations.
for _helper in (custom_tangent, custom_cotangents, custom_forward, checkpoint_cotangents,
                checkpoint_tangent):
    _helper.__s2s_traced__ = True


@def_jvp(checkpoint_call)
def _checkpoint_call_jvp(ans, rule, *args):
    d[ans] = checkpoint_tangent(rule, args, d[args])


@def_vjp(checkpoint_call)
def _checkpoint_call_vjp(ans, rule, *args):
    d[args] = checkpoint_cotangents(d[ans], rule, args)
