"""What ``s2s.numpy`` says about NumPy names it does not have (yet).

``s2s.numpy.<name>`` for a name NumPy has but s2s lacks raises
``NotImplementedError`` naming the closest alternative (so a port fails with a
useful message, not a typo-like "no attribute" error). The error class,
``MissingNumpyName``, also derives from ``AttributeError`` so that introspection
keeps working: ``hasattr(s2s.numpy, name)`` is False and ``getattr(s2s.numpy,
name, default)`` gives the default (as code that maps NumPy names to s2s ones
expects). Names NumPy does not have either raise a plain ``AttributeError``. NumPy's subpackages
(``linalg``, ``fft``...) are imported on first use when s2s has them.

>>> import s2s.numpy as np
>>> np.vectorize
Traceback (most recent call last):
...
s2s.numpy._missing.MissingNumpyName: s2s.numpy.vectorize is not implemented yet; closest alternative: s2s.vmap (batch a function over an axis)
"""
import functools
import importlib

import numpy as _numpy

_ALTERNATIVES = {
    "vectorize": "s2s.vmap (batch a function over an axis)",
    "apply_over_axes": "a loop of reductions with keepdims=True",
    "frompyfunc": "s2s.vmap of a function written with s2s.numpy",
    "fromfunction": "evaluate the function on s2s.numpy.indices(shape)",
    "nditer": "s2s.numpy.indices(shape), or a Python loop outside jit",
    "ndenumerate": "zip(s2s.numpy.indices(shape) ..., x.ravel()) outside jit",
    "errstate": "numpy.errstate: eager s2s code warns as NumPy does and follows it (jit never warns)",
    "seterr": "numpy.seterr: eager s2s code warns as NumPy does and follows it (jit never warns)",
    "matrix": "2-d arrays and the @ operator",
    "asmatrix": "2-d arrays and the @ operator",
    "save": "numpy.save on the (eager) result",
    "load": "numpy.load, then s2s.numpy.asarray",
    "loadtxt": "numpy.loadtxt, then s2s.numpy.asarray",
    "genfromtxt": "numpy.genfromtxt, then s2s.numpy.asarray",
    "fromfile": "numpy.fromfile, then s2s.numpy.asarray",
    "frombuffer": "numpy.frombuffer, then s2s.numpy.asarray",
    "ascontiguousarray": "s2s.numpy.asarray (s2s arrays are always contiguous values)",
    "asfortranarray": "s2s.numpy.asarray (only row-major order is supported)",
    "copyto": "dst = s2s.numpy.where(mask, src, dst) (arrays are values)",
    "put": "x = x.at[indices].set(values)",
    "place": "x = s2s.numpy.where(mask, values, x)",
    "putmask": "x = s2s.numpy.where(mask, values, x)",
    "spacing": "s2s.numpy.nextafter(x, inf) - x",
    "i0": "s2s.scipy.special.i0",
    "busday_count": "numpy.busday_count outside jit",
    "datetime_as_string": "numpy.datetime_as_string outside jit",
    "bitwise_count": "s2s.lax.population_count",
}
_DEFAULT = ("write it with the s2s.numpy functions that exist, or compute it with plain NumPy "
            "outside the transformed function")
_SUBPACKAGES = ("linalg", "fft", "random", "polynomial", "ma", "lib", "testing", "char",
                "rec", "strings", "emath", "dtypes", "exceptions", "typing")


class MissingNumpyName(NotImplementedError, AttributeError):
    """A NumPy name that ``s2s.numpy`` does not implement yet (see the module docstring)."""


def missing(name):
    """The error for a NumPy name that ``s2s.numpy`` lacks.

    >>> str(missing("spacing")).startswith("s2s.numpy.spacing is not implemented yet")
    True
    """
    alternative = _ALTERNATIVES.get(name, _DEFAULT)
    return MissingNumpyName(f"s2s.numpy.{name} is not implemented yet; closest "
                            f"alternative: {alternative}")


@functools.lru_cache(maxsize=1)
def _numpy_names():
    # dir(), not hasattr(): NumPy imports a lazy submodule when it is touched.
    return frozenset(dir(_numpy))


def __getattr__(name):
    """Module ``__getattr__`` of ``s2s.numpy`` (see the module docstring)."""
    if name.startswith("__"):
        raise AttributeError(f"module 's2s.numpy' has no attribute {name!r}")
    if name in _SUBPACKAGES:
        try:
            return importlib.import_module(f"s2s.numpy.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"s2s.numpy.{name}":
                raise
    if name in _numpy_names():
        raise missing(name)
    raise AttributeError(f"module 's2s.numpy' has no attribute {name!r} (NumPy has no "
                         f"{name!r} either)")
