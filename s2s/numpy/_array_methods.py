"""Operators, NumPy protocols and array methods for tracers.

Installed on ``s2s.lax.core.Tracer`` when ``s2s.numpy`` is imported, so staged
values behave like NumPy arrays: ``x * 2``, ``x.T``, ``x.sum(0)``, and also
``numpy.exp(x)`` (through ``__array_ufunc__``) route to s2s's own functions.
"""
import numpy as _onp

from s2s.lax.core import Tracer


def _binop(name, reflected=False):
    def method(self, other):
        import s2s.numpy as np
        fn = getattr(np, name)
        return fn(other, self) if reflected else fn(self, other)
    return method


def _unop(name):
    def method(self):
        import s2s.numpy as np
        return getattr(np, name)(self)
    return method


_BINOPS = {
    "add": "add", "sub": "subtract", "mul": "multiply", "truediv": "true_divide",
    "floordiv": "floor_divide", "mod": "remainder", "pow": "power", "matmul": "matmul",
    "and": "bitwise_and", "or": "bitwise_or", "xor": "bitwise_xor",
    "lshift": "left_shift", "rshift": "right_shift", "divmod": "divmod",
}
_COMPARE = {"eq": "equal", "ne": "not_equal", "lt": "less", "le": "less_equal",
            "gt": "greater", "ge": "greater_equal"}
_UNOPS = {"neg": "negative", "pos": "positive", "abs": "absolute", "invert": "invert"}


def _array_ufunc(self, ufunc, method, *inputs, **kwargs):
    import s2s.numpy as np
    if method != "__call__" or kwargs.get("out") is not None:
        return NotImplemented
    fn = getattr(np, ufunc.__name__, None)
    if fn is None:
        raise NotImplementedError(f"numpy.{ufunc.__name__} has no s2s counterpart yet")
    kwargs.pop("out", None)
    return fn(*inputs, **kwargs)


def _array_function(self, func, types, args, kwargs):
    import s2s.numpy as np
    from s2s.numpy import twins
    twin = twins.twin_of(func)
    if twin is None:
        raise NotImplementedError(
            f"numpy.{getattr(func, '__name__', func)} has no s2s counterpart yet; "
            "use an s2s.numpy function instead"
        )
    return twin(*args, **kwargs)


def install(cls=Tracer):
    """Puts the NumPy-style operators and methods on ``cls``."""
    for short, name in _BINOPS.items():
        setattr(cls, f"__{short}__", _binop(name))
        setattr(cls, f"__r{short}__", _binop(name, reflected=True))
    for short, name in _COMPARE.items():
        setattr(cls, f"__{short}__", _binop(name))
    for short, name in _UNOPS.items():
        setattr(cls, f"__{short}__", _unop(name))
    cls.__array_ufunc__ = _array_ufunc
    cls.__array_function__ = _array_function
