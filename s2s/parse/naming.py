"""One deterministic, hygienic namer for generated code.

Names are readable (``t``, ``t2``; adjoints ``bx``; tangents ``dx``) and never
collide with a name the function already uses. No randomness: the same input
gives the same names, which golden tests and caches rely on.

>>> n = Namer({"t", "x"})
>>> n.new("t"), n.new("t"), n.new("y")
('t2', 't3', 'y')
"""
import keyword

import gast

from s2s.parse import quoting as q


class Namer:
    """Hands out fresh names that avoid ``taken`` and each other."""

    def __init__(self, taken=()):
        self.taken = set(taken)

    def reserve(self, name):
        self.taken.add(name)

    def new(self, base):
        """``base`` if free, else ``base2``, ``base3``, ..."""
        base = base if base.isidentifier() and not keyword.iskeyword(base) else "t"
        if base not in self.taken:
            self.taken.add(base)
            return base
        stem = base.rstrip("0123456789") or base
        i = 2
        while f"{stem}{i}" in self.taken:
            i += 1
        name = f"{stem}{i}"
        self.taken.add(name)
        return name

    def adjoint(self, name):
        """The adjoint name of ``name`` (``x`` -> ``bx``), fresh if taken."""
        return self.new("b" + name)

    def tangent(self, name):
        return self.new("d" + name)


def names_in(tree):
    """Every identifier used in ``tree`` (names, parameters, function names)."""
    out = set()
    for node in q.walk(tree):
        if isinstance(node, gast.Name):
            out.add(node.id)
        elif isinstance(node, (gast.FunctionDef, gast.AsyncFunctionDef, gast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, gast.alias):
            out.add((node.asname or node.name).split(".")[0])
    return out
