"""Source forms of batch rules: a batched call written as plain NumPy at build time.

A ``batch`` rule runs at run time (``vcall(np.sum, (0,), h)``). When vmap builds
batched source it knows each variable's *kind* (an array and its per-example
rank, a Python number, a constant, a tuple of those); a rule's *source form*
uses that to write the same computation as NumPy a reader recognizes
(``np.sum(h, axis=1)``), or returns None where the rule's choice depends on
something only known at run time (then the source keeps ``vcall``, which is
exact). A form must compute exactly what its rule computes.

A form is called as ``form(site)`` (``site``: a ``Site``) and returns
``(node, kind)``: the expression to emit and the kind of its value. It also
answers for calls with no batched operand (their result kind feeds the
analysis); the node is then ignored. Forms are attached to their rule with
``source_form(rule)`` next to where the rule is written.

>>> import gast
>>> from s2s.parse import quoting as q
>>> x = Operand(q.name("x"), True, Array(1))
>>> w = Operand(q.name("w"), False, Array(2))
>>> site = Site(q.name("f"), [x, w], {}, lambda nodes: q.call("f", nodes), None)
>>> node, kind = elementwise_form(site)
>>> q.to_source(node).strip(), kind
('f(x[:, None], w)', Array(rank=2))
"""
import copy
from dataclasses import dataclass
import inspect

import gast

from s2s.parse import quoting as q


# ---------------------------------------------------------------------------
# Kinds of values (what the build knows about a variable). None: nothing known.


@dataclass(frozen=True)
class Array:
    """An array with ``rank`` axes (per example, for a batched value)."""
    rank: int


@dataclass(frozen=True)
class Number:
    """A Python number whose value the build does not know."""


@dataclass(frozen=True)
class Const:
    """A Python constant (number, None, tuple of those) known at build time."""
    value: object


@dataclass(frozen=True)
class Seq:
    """A tuple or list whose items have the kinds ``items``."""
    kind: str
    items: tuple


@dataclass(frozen=True)
class Range:
    """A ``range`` (or its ``reversed``) of unbatched bounds: its items are numbers."""


@dataclass(frozen=True)
class Opt:
    """``None`` or a value of ``kind`` (an adjoint that may still be zero, say)."""
    kind: object


def present(kind):
    """The kind of a value of ``kind`` known not to be None (``if x is not None:``)."""
    return kind.kind if isinstance(kind, Opt) else kind


def _join_none(a, b):
    """``join`` where one side is None (the constant) or an ``Opt``; NotImplemented else."""
    none_a, none_b = a == Const(None), b == Const(None)
    if not (none_a or none_b or isinstance(a, Opt) or isinstance(b, Opt)):
        return NotImplemented
    if none_a and none_b:
        return a
    inner = join(present(a), present(b)) if not (none_a or none_b) else \
        present(b) if none_a else present(a)
    return Opt(inner) if isinstance(inner, (Array, Seq)) else None


@dataclass(frozen=True)
class SliceKind:
    """A slice (``a:b``) in an index."""


def rank_of(kind):
    """The (per-example) rank of a value of ``kind``, or None when not an array or number."""
    if isinstance(kind, Array):
        return kind.rank
    if isinstance(kind, Number) or isinstance(kind, Const) and _is_number(kind.value):
        return 0
    return None


def is_array(kind):
    return isinstance(kind, Array)


def _is_number(v):
    return isinstance(v, (int, float, complex))


def const_value(kind, default=inspect.Parameter.empty):
    """The constant a value of ``kind`` certainly is (tuples of constants too), or ``default``."""
    if isinstance(kind, Const):
        return kind.value
    if isinstance(kind, Seq) and kind.kind == "tuple":
        values = tuple(const_value(k, default) for k in kind.items)
        return default if any(v is default for v in values) else values
    return default


def join(a, b):
    """The kind of a variable assigned values of kinds ``a`` and ``b``."""
    if a is None or b is None:
        return None
    if isinstance(a, Const) and isinstance(b, Const) and repr(a.value) == repr(b.value):
        return a
    joined = _join_none(a, b)
    if joined is not NotImplemented:
        return joined
    if {type(a), type(b)} <= {Const, Number}:  # (a bool is not a Number: x[True] adds an axis)
        ok = all(isinstance(k, Number) or _is_number(k.value) and not isinstance(k.value, bool)
                 for k in (a, b))
        return Number() if ok else None
    if isinstance(a, Seq) and isinstance(b, Seq):
        if a.kind != b.kind or len(a.items) != len(b.items):
            return None
        return Seq(a.kind, tuple(join(x, y) for x, y in zip(a.items, b.items)))
    return a if a == b else None


def join_all(kinds):
    kinds = list(kinds)
    if not kinds:
        return None
    out = kinds[0]
    for k in kinds[1:]:
        out = join(out, k)
    return out


# ---------------------------------------------------------------------------
# What a form sees.


class Operand:
    """An argument as written (``node``), whether it is batched, and its kind."""

    __slots__ = ("node", "batched", "kind")

    def __init__(self, node, batched, kind):
        self.node = node
        self.batched = batched
        self.kind = kind

    @property
    def rank(self):
        return rank_of(self.kind)

    def const(self, default=inspect.Parameter.empty):
        """The operand's constant value (a literal, or a variable known constant)."""
        if isinstance(self.node, gast.Constant):
            return self.node.value
        return const_value(self.kind, default)


class Site:
    """A call (or operator) being batched: its operands and how to write it again.

    ``rebuild(nodes, keywords)`` writes the call as written with other operand nodes;
    ``np(name)`` is the expression naming ``s2s.numpy.<name>`` in generated code.
    """

    def __init__(self, func, args, kwargs, rebuild, np, operator=False):
        self.func = func
        self.args = args
        self.kwargs = kwargs
        self.rebuild = rebuild
        self.np = np
        self.operator = operator  # a Python operator: numbers in give a number out

    @property
    def batched(self):
        return any(a.batched for a in self.args) or any(k.batched for k in self.kwargs.values())

    def keywords(self, **replace):
        """The call's keywords as nodes, with ``replace``'s values (constants) instead."""
        out = [gast.keyword(arg=k, value=q.const(replace[k]) if k in replace else v.node)
               for k, v in self.kwargs.items()]
        return out + [gast.keyword(arg=k, value=q.const(v)) for k, v in replace.items()
                      if k not in self.kwargs]


def source_form(rule):
    """Decorator: attaches a source form to batch rule ``rule`` (returns the form)."""
    def attach(form):
        rule.source_form = form
        return form
    return attach


def form_of(rule):
    return getattr(rule, "source_form", None)


# ---------------------------------------------------------------------------
# Building expressions.


def expand(node, k):
    """``node[:, None, ...]``: a batched value with ``k`` unit axes after its batch axis."""
    if k == 0:
        return node
    elts = [gast.Slice(lower=None, upper=None, step=None)] + [q.const(None)] * k
    return gast.Subscript(value=node, slice=gast.Tuple(elts=elts, ctx=gast.Load()), ctx=gast.Load())


def expand_operands(site):
    """The operands of an elementwise operation with batched ones of lower per-example rank
    expanded (``_expand_to`` of the rule), or None when a rank is unknown."""
    ranks = [a.rank for a in site.args]
    if any(r is None for r in ranks):
        return None
    top = max(ranks, default=0)
    return [Operand(expand(a.node, top - a.rank) if a.batched else a.node, a.batched,
                    Array(top) if a.batched else a.kind) for a in site.args]


def elementwise_form(site):
    """Broadcasting functions and operators: batched operands padded to the top rank."""
    if any(k.batched or not isinstance(k.kind, (Const, Number)) for k in site.kwargs.values()):
        return None  # an array by keyword would broadcast without the padding
    ops = expand_operands(site)
    if ops is None:
        return None
    if site.operator and not any(isinstance(a.kind, Array) for a in site.args):
        return site.rebuild([o.node for o in ops]), Number()
    return site.rebuild([o.node for o in ops]), Array(max((a.rank for a in site.args), default=0))


def tuple_node(values):
    return gast.Tuple(elts=[q.const(v) for v in values], ctx=gast.Load())


def shape_rest(node):
    """``node.shape[1:]``: the per-example shape of batched ``node``."""
    shape = gast.Attribute(value=copy.deepcopy(node), attr="shape", ctx=gast.Load())
    return gast.Subscript(value=shape, slice=gast.Slice(lower=q.const(1), upper=None, step=None),
                          ctx=gast.Load())


def batch_size(node):
    """``node.shape[0]`` (a copy of ``node``: the call writes ``node`` once more)."""
    shape = gast.Attribute(value=copy.deepcopy(node), attr="shape", ctx=gast.Load())
    return gast.Subscript(value=shape, slice=q.const(0), ctx=gast.Load())
