"""Shape classes: which variables certainly have the same shape.

An annotation pass for the reverse transform: ``unbroadcast(g, x)`` is the
identity when ``x`` has the shape of the result it is the operand of, and the
generated code is shorter and faster without it. Only variables assigned once
(outside loops) take part, so a name always denotes one value.

>>> import gast
>>> from s2s.parse.quoting import quote
>>> body = quote("t = 2.0 * x\\ny = f(t)\\nu = 1.0 - y")
>>> sc = ShapeClasses(body, lambda call: call.func.id == "f", params=["x"])
>>> sc.same("u", "y"), sc.same("y", "x"), sc.same("u", "q")
(True, True, False)
"""
import gast

from s2s.parse import quoting as q


_ELEMENTWISE_OPS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.Mod, gast.FloorDiv)


class ShapeClasses:
    """Union-find over variable names, from elementwise operations with known operands."""

    def __init__(self, body, is_elementwise_call, params=()):
        self.parent = {}
        self.is_elementwise_call = is_elementwise_call
        counts = {p: 1 for p in params}
        _count(body, counts, False)
        self.single = {n for n, c in counts.items() if c == 1}
        self._visit(body)

    def find(self, name):
        while self.parent.get(name, name) != name:
            name = self.parent[name]
        return name

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb

    def same(self, a, b):
        return a == b or (a in self.single and b in self.single and self.find(a) == self.find(b))

    def _operand(self, node):
        """A name, 'scalar' for a scalar constant, or None."""
        if isinstance(node, gast.Name):
            return node.id if node.id in self.single else None
        if isinstance(node, gast.Constant) and isinstance(node.value, (int, float, complex)):
            return "scalar"
        return None

    def _link(self, target, operands):
        names = [o for o in operands if o not in ("scalar",)]
        if any(o is None for o in operands) or not names:
            return
        first = names[0]
        if all(self.same(first, n) for n in names[1:]):
            self.union(target, first)

    def _visit(self, stmts):
        for s in stmts:
            if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name):
                t = s.targets[0].id
                if t not in self.single:
                    continue
                v = s.value
                if isinstance(v, gast.Name):
                    self._link(t, [self._operand(v)])
                elif isinstance(v, gast.UnaryOp) and not isinstance(v.op, gast.Not):
                    self._link(t, [self._operand(v.operand)])
                elif isinstance(v, gast.BinOp) and isinstance(v.op, _ELEMENTWISE_OPS):
                    self._link(t, [self._operand(v.left), self._operand(v.right)])
                elif isinstance(v, gast.Call) and not v.keywords and self.is_elementwise_call(v):
                    self._link(t, [self._operand(a) for a in v.args])
            elif isinstance(s, gast.If):
                self._visit(s.body)
                self._visit(s.orelse)


def _count(stmts, counts, in_loop):
    for s in stmts:
        names = []
        if isinstance(s, gast.Assign):
            names = [n.id for n in q.walk(s.targets[0]) if isinstance(n, gast.Name)]
        elif isinstance(s, gast.For):
            names = [s.target.id]
        for n in names:
            counts[n] = counts.get(n, 0) + (2 if in_loop else 1)
        if isinstance(s, gast.If):
            _count(s.body, counts, in_loop)
            _count(s.orelse, counts, in_loop)
        elif isinstance(s, (gast.For, gast.While)):
            _count(s.body, counts, True)
