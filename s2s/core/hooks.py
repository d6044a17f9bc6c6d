"""Transformations that lower layers call at run time, installed by the layers above.

A few rules need a whole transformation while they run: the adjoint of
``lax.switch`` takes ``vjp`` of the chosen branch, ``s2s.random`` evaluates some
functions with XLA's kernels through ``jit``, the runtime operators of converted
control flow convert the user functions they call. Those transformations are
written above (``s2s.api``, ``s2s.transforms``) and import the lower layers, so
the lower layers reach them through this table instead of importing upwards;
``import s2s`` installs every entry.

>>> import s2s
>>> import s2s.numpy as np
>>> from s2s.core import hooks
>>> out, pull = hooks.vjp(lambda x: x * x, np.float32(3.0))
>>> pull(np.float32(1.0))
(array(6., dtype=float32),)
"""
__all__ = ["install", "vjp", "jvp", "jit", "vmap", "converted", "converted_for_grad",
           "completed_gradient"]

_installed = {}


def install(name, fn):
    """Makes ``fn`` the implementation of the hook ``name`` (done by the defining layer).

    >>> install("jit", _installed["jit"])  # installing the same one again changes nothing
    """
    _installed[name] = fn


def _get(name):
    try:
        return _installed[name]
    except KeyError:
        raise RuntimeError(f"s2s's {name!r} is not installed yet: `import s2s` before calling "
                           f"code that needs it") from None


def vjp(fun, *primals):
    """``s2s.vjp(fun, *primals)``: ``(fun(*primals), pullback)``."""
    return _get("vjp")(fun, *primals)


def jvp(fun, primals, tangents):
    """``s2s.jvp(fun, primals, tangents)``: ``(fun(*primals), tangent of the result)``."""
    return _get("jvp")(fun, primals, tangents)


def jit(fun, **kwargs):
    """``s2s.jit(fun, **kwargs)``."""
    return _get("jit")(fun, **kwargs)


def vmap(fun, **kwargs):
    """``s2s.vmap(fun, **kwargs)``."""
    return _get("vmap")(fun, **kwargs)


def converted(fn):
    """``fn`` with its control flow converted to runtime operators (jit's conversion)."""
    return _get("converted")(fn)


def converted_for_grad(fn):
    """The converted ``fn`` that reverse mode differentiates (see ``converted``)."""
    return _get("converted_for_grad")(fn)


def completed_gradient(primal, adjoint):
    """``adjoint`` shaped as ``s2s.grad`` returns the gradient of ``primal``: zeros of each
    leaf's shape and dtype for ``None`` adjoints and missing dict keys."""
    return _get("completed_gradient")(primal, adjoint)
