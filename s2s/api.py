"""The public transformations and their argument handling.

Each transformation here is thin: it flattens pytree arguments, picks or builds
a cached transformed function, and calls it. The work is done by
``s2s.transforms`` (source rewriting), ``s2s.trace.staging`` (jit staging) and
``s2s.xla`` (compile and run).
"""
import functools
import inspect
import logging

import numpy as np

from s2s import dtypes
from s2s.codegen.stablehlo import verify_and_print
from s2s.config import config
from s2s.lax.core import ShapedArray, Tracer, abstractify
from s2s.trace.staging import stage
from s2s.tree_util import tree_flatten, tree_unflatten
from s2s.xla.runtime import compile_module

logger = logging.getLogger("s2s")


def _normalize_argnums(argnums, nargs=None):
    if argnums is None:
        return ()
    if isinstance(argnums, int):
        argnums = (argnums,)
    return tuple(argnums)


def _fun_name(fun):
    return getattr(fun, "__name__", type(fun).__name__)


class Lowered:
    """A staged computation: ``as_text()`` gives its StableHLO, ``compile()`` an executable."""

    def __init__(self, staged):
        self._staged = staged
        self._text = None

    def as_text(self):
        """The StableHLO module in MLIR's readable syntax."""
        if self._text is None:
            self._text = verify_and_print(self._staged.text)
        return self._text

    def compile(self):
        """Compiles for the default device."""
        return compile_module(self.as_text())

    @property
    def in_avals(self):
        return list(self._staged.in_avals)

    @property
    def out_avals(self):
        return list(self._staged.out_avals)


class _Compiled:
    __slots__ = ("executable", "out_tree", "in_dtypes")

    def __init__(self, executable, out_tree, in_dtypes):
        self.executable = executable
        self.out_tree = out_tree
        self.in_dtypes = in_dtypes


def _leaf_aval(x):
    if isinstance(x, Tracer):
        return x.aval
    return abstractify(x)


class JitFunction:
    """The callable ``jit(fun)`` returns; keeps one compiled executable per signature."""

    def __init__(self, fun, static_argnums=(), static_argnames=(), donate_argnums=()):
        functools.update_wrapper(self, fun)
        self._fun = fun
        self._static_argnums = _normalize_argnums(static_argnums)
        if isinstance(static_argnames, str):
            static_argnames = (static_argnames,)
        self._static_argnames = tuple(static_argnames)
        self._donate_argnums = _normalize_argnums(donate_argnums)
        self._cache = {}

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return functools.partial(self, obj)

    def _split(self, args, kwargs):
        statics = []
        dynamic_args = []
        for i, a in enumerate(args):
            if i in self._static_argnums or (i - len(args)) in self._static_argnums:
                statics.append((i, _hashable_static(self, i, a)))
                dynamic_args.append(None)
            else:
                dynamic_args.append(a)
        dynamic_kwargs = {}
        for k, v in kwargs.items():
            if k in self._static_argnames:
                statics.append((k, _hashable_static(self, k, v)))
            else:
                dynamic_kwargs[k] = v
        return tuple(statics), dynamic_args, dynamic_kwargs

    def _flat_fun(self, statics, treedef, static_positions):
        static_map = dict(statics)

        def flat(*leaves):
            dyn_args, dyn_kwargs = treedef.unflatten(leaves)
            args = [static_map[i] if i in static_positions else a for i, a in enumerate(dyn_args)]
            kwargs = dict(dyn_kwargs)
            for k, v in static_map.items():
                if isinstance(k, str):
                    kwargs[k] = v
            out = self._fun(*args, **kwargs)
            out_leaves, out_tree = tree_flatten(out)
            flat.out_tree = out_tree
            return out_leaves

        return flat

    def _prepare(self, args, kwargs):
        statics, dyn_args, dyn_kwargs = self._split(args, kwargs)
        leaves, treedef = tree_flatten((dyn_args, dyn_kwargs))
        avals = tuple(_leaf_aval(x) for x in leaves)
        return statics, leaves, treedef, avals

    def lower(self, *args, **kwargs):
        """Stages ``fun`` for these arguments; ``.as_text()`` shows the StableHLO."""
        statics, leaves, treedef, avals = self._prepare(args, kwargs)
        return self._lower(statics, treedef, avals)[0]

    def _lower(self, statics, treedef, avals):
        static_positions = {k for k, _ in statics if isinstance(k, int)}
        flat = self._flat_fun(statics, treedef, static_positions)
        staged = stage(flat, list(avals), name=_fun_name(self._fun))
        return Lowered(staged), flat.out_tree

    def __call__(self, *args, **kwargs):
        statics, leaves, treedef, avals = self._prepare(args, kwargs)
        if any(isinstance(x, Tracer) for x in leaves):
            # Called while another trace is active (jit of jit, or a trace
            # fallback): inline the function into the enclosing computation.
            return self._fun(*args, **kwargs)
        # Static values that compare equal but differ in type (1, 1.0, True) must
        # not share an executable: they can give different dtypes.
        key = (treedef, avals, statics, tuple(type(v) for _, v in statics))
        compiled = self._cache.get(key)
        if compiled is None:
            compiled = self._compile(key, statics, treedef, avals)
        arrays = [_as_input(x, dt) for x, dt in zip(leaves, compiled.in_dtypes)]
        outs = compiled.executable.run(arrays)
        return compiled.out_tree.unflatten(outs)

    def _compile(self, key, statics, treedef, avals):
        if config.log_compiles:
            logger.warning("s2s.jit: compiling %s for %s", _fun_name(self._fun),
                           ", ".join(a.str_short() for a in avals))
        lowered, out_tree = self._lower(statics, treedef, avals)
        executable = lowered.compile()
        compiled = _Compiled(executable, out_tree, [a.dtype for a in avals])
        self._cache[key] = compiled
        return compiled


def _as_input(x, dtype):
    if isinstance(x, np.ndarray) and x.dtype == dtype:
        return x
    return np.asarray(x, dtype)


def _hashable_static(jf, which, value):
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"jit({_fun_name(jf._fun)}): static argument {which!r} must be hashable, got "
            f"{type(value).__name__}; pass a tuple instead of a list, or make it a regular argument"
        ) from None
    return value


def jit(fun=None, *, static_argnums=(), static_argnames=(), donate_argnums=()):
    """Compiles ``fun`` with XLA; the result runs the compiled code, cached per signature.

    Arguments are pytrees of arrays; ``static_argnums``/``static_argnames`` are passed
    as Python values and become part of the cache key.

    >>> import s2s, numpy as np
    >>> f = s2s.jit(lambda x: x * 2.0 + 1.0)
    >>> f(np.arange(3.0))
    array([1., 3., 5.], dtype=float32)
    """
    if fun is None:
        return functools.partial(jit, static_argnums=static_argnums,
                                 static_argnames=static_argnames, donate_argnums=donate_argnums)
    if not callable(fun):
        raise TypeError(f"jit expects a callable, got {type(fun).__name__}")
    return JitFunction(fun, static_argnums, static_argnames, donate_argnums)
