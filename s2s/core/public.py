"""Public namespaces: what ``dir()`` of a user-facing module lists.

A public module (``s2s``, ``s2s.numpy``, ``s2s.random``...) declares ``__all__`` and
calls ``public_namespace(globals())`` last: ``dir(module)`` then lists ``__all__``
(PEP 562), so the helpers it imports to do its work (``onp``, ``math``, ``lax``,
``Tracer``...) and its implementation submodules stay out of users' completion
lists. They remain attributes: nothing that reads them breaks.

>>> import s2s.random
>>> "onp" in dir(s2s.random), "PRNGKey" in dir(s2s.random)
(False, True)
"""
import types

__all__ = ["public_namespace", "public_names"]


def public_names(namespace, modules=()):
    """The non-underscore names of ``namespace`` (a module's globals) that are not
    modules, plus the submodules named in ``modules``: a default ``__all__``.

    >>> public_names({"f": len, "_g": len, "types": types}, modules=["types"])
    ['f', 'types']
    """
    names = {n for n, v in namespace.items()
             if not n.startswith("_") and not isinstance(v, types.ModuleType)}
    return sorted(names | set(modules))


def public_namespace(namespace):
    """Makes ``dir()`` of the module whose globals are ``namespace`` list its ``__all__``."""
    listed = sorted(set(namespace["__all__"]))

    def __dir__():
        return list(listed)
    namespace["__dir__"] = __dir__
