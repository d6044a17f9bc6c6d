"""Pytrees: nested tuples, lists, dicts, None, namedtuples and registered classes.

A pytree is flattened into a list of leaves and a ``PyTreeDef`` describing its
structure; ``tree_unflatten`` rebuilds it. Dict keys are visited in sorted order.
``None`` is a node without children (not a leaf), as in JAX.

>>> leaves, tree = tree_flatten({"b": (1, 2), "a": [3, None]})
>>> leaves
[3, 1, 2]
>>> tree_unflatten(tree, [x * 10 for x in leaves])
{'a': [30, None], 'b': (10, 20)}
"""
import collections
import functools

__all__ = [
    "PyTreeDef", "tree_flatten", "tree_unflatten", "tree_map", "tree_leaves",
    "tree_structure", "register_pytree_node", "register_pytree_node_class",
    "tree_all", "tree_reduce", "treedef_is_leaf", "all_leaves",
]

_registry = {}


class _NodeType:
    __slots__ = ("name", "to_iterable", "from_iterable")

    def __init__(self, name, to_iterable, from_iterable):
        self.name = name
        self.to_iterable = to_iterable
        self.from_iterable = from_iterable


def register_pytree_node(nodetype, flatten_func, unflatten_func):
    """Makes ``nodetype`` a pytree node.

    ``flatten_func(obj) -> (children, aux_data)``; ``unflatten_func(aux_data, children) -> obj``.
    ``aux_data`` must be hashable and comparable (it is part of the structure).

    >>> class Pair:
    ...     def __init__(self, a, b): self.a, self.b = a, b
    >>> register_pytree_node(Pair, lambda p: ((p.a, p.b), None), lambda _, c: Pair(*c))
    >>> tree_leaves(Pair(1, (2, 3)))
    [1, 2, 3]
    """
    if nodetype in _registry:
        raise ValueError(f"{nodetype.__name__} is already registered as a pytree node")
    _registry[nodetype] = _NodeType(nodetype.__name__, flatten_func, unflatten_func)


def register_pytree_node_class(cls):
    """Class decorator: uses ``cls.tree_flatten`` and ``cls.tree_unflatten``."""
    register_pytree_node(cls, lambda x: x.tree_flatten(), cls.tree_unflatten)
    return cls


register_pytree_node(tuple, lambda t: (t, None), lambda _, c: tuple(c))
register_pytree_node(list, lambda l: (l, None), lambda _, c: list(c))


def _dict_flatten(d):
    try:
        keys = sorted(d)
    except TypeError:
        types_ = sorted({type(k).__name__ for k in d})
        raise TypeError(
            f"a dict in a pytree needs keys that sort (its leaves are visited in key order), but "
            f"its keys mix the types {', '.join(types_)}: {list(d)!r}. Use keys of one type "
            "(for instance all strings)") from None
    return [d[k] for k in keys], tuple(keys)


register_pytree_node(dict, _dict_flatten, lambda keys, c: dict(zip(keys, c)))
register_pytree_node(type(None), lambda n: ((), None), lambda _, c: None)


def _od_flatten(d):
    keys = list(d)
    return [d[k] for k in keys], tuple(keys)


register_pytree_node(collections.OrderedDict, _od_flatten,
                     lambda keys, c: collections.OrderedDict(zip(keys, c)))


def _is_namedtuple(x):
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


_LEAF = None  # node type of a leaf


class PyTreeDef:
    """The structure of a pytree: a node type, its aux data and child structures."""

    __slots__ = ("node_type", "node_data", "children", "num_leaves", "num_nodes", "_hash")

    def __init__(self, node_type, node_data, children):
        self.node_type = node_type
        self.node_data = node_data
        self.children = children
        if node_type is _LEAF:
            self.num_leaves = 1
            self.num_nodes = 1
        else:
            self.num_leaves = sum(c.num_leaves for c in children)
            self.num_nodes = 1 + sum(c.num_nodes for c in children)
        self._hash = None

    def unflatten(self, leaves):
        """Rebuilds the tree from ``leaves`` (an iterable of exactly ``num_leaves``)."""
        leaves = list(leaves)
        if len(leaves) != self.num_leaves:
            raise ValueError(
                f"tree structure {self} has {self.num_leaves} leaves but {len(leaves)} were given"
            )
        it = iter(leaves)
        return self._build(it)

    def _build(self, it):
        if self.node_type is _LEAF:
            return next(it)
        children = [c._build(it) for c in self.children]
        if self.node_type == "namedtuple":
            return self.node_data(*children)
        return _registry[self.node_type].from_iterable(self.node_data, children)

    def flatten_up_to(self, tree):
        """Leaves of ``tree`` at the positions of this structure's leaves (subtrees allowed)."""
        out = []
        self._flatten_up_to(tree, out, False)
        return out

    def flatten_up_to_or_none(self, tree):
        """``flatten_up_to``, where ``None`` in place of a subtree gives ``None`` for each of
        its leaves (adjoints are ``None`` where they are zero)."""
        out = []
        self._flatten_up_to(tree, out, True)
        return out

    def _flatten_up_to(self, tree, out, none_subtrees):
        if self.node_type is _LEAF:
            out.append(tree)
            return
        if none_subtrees and tree is None and self.node_type is not type(None):
            out.extend([None] * self.num_leaves)
            return
        if none_subtrees and self.node_type is dict and isinstance(tree, dict):
            tree = {k: tree.get(k) for k in self.node_data}  # dict adjoints hold only some keys
        node = _node_of(tree)
        if node is None or node[0] != self.node_type:
            raise ValueError(f"expected a tree with structure {self}, got {tree!r}")
        children, data = node[1], node[2]
        if data != self.node_data or len(children) != len(self.children):
            raise ValueError(f"expected a tree with structure {self}, got {tree!r}")
        for c, sub in zip(self.children, children):
            c._flatten_up_to(sub, out, none_subtrees)

    def __eq__(self, other):
        if self is other:
            return True
        return (
            isinstance(other, PyTreeDef)
            and self.node_type == other.node_type
            and self.node_data == other.node_data
            and self.children == other.children
        )

    def __hash__(self):
        if self._hash is None:
            data = self.node_data
            try:
                hash(data)
            except TypeError:
                data = repr(data)
            self._hash = hash((self.node_type, data, tuple(self.children)))
        return self._hash

    def __repr__(self):
        return f"PyTreeDef({self._str()})"

    def _str(self):
        if self.node_type is _LEAF:
            return "*"
        inner = ", ".join(c._str() for c in self.children)
        if self.node_type is tuple:
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.node_type is list:
            return f"[{inner}]"
        if self.node_type is dict:
            return "{" + ", ".join(f"{k!r}: {c._str()}" for k, c in zip(self.node_data, self.children)) + "}"
        if self.node_type is type(None):
            return "None"
        if self.node_type == "namedtuple":
            return f"{self.node_data.__name__}({inner})"
        return f"{self.node_type.__name__}[{self.node_data!r}]({inner})"


_LEAF_DEF = PyTreeDef(_LEAF, None, ())


def _node_of(x):
    """(node_type, children, aux) for a pytree node, or None for a leaf."""
    t = type(x)
    reg = _registry.get(t)
    if reg is not None:
        children, data = reg.to_iterable(x)
        return t, children, data
    if _is_namedtuple(x):
        return "namedtuple", tuple(x), t
    return None


def _flatten(x, leaves, is_leaf):
    if is_leaf is not None and is_leaf(x):
        leaves.append(x)
        return _LEAF_DEF
    t = type(x)
    if t is tuple or t is list:
        return PyTreeDef(t, None, tuple(_flatten(c, leaves, is_leaf) for c in x))
    node = _node_of(x)
    if node is None:
        leaves.append(x)
        return _LEAF_DEF
    node_type, children, data = node
    return PyTreeDef(node_type, data, tuple(_flatten(c, leaves, is_leaf) for c in children))


def tree_flatten(tree, is_leaf=None):
    """``(leaves, treedef)`` for ``tree``; ``is_leaf(x)`` can stop the descent early."""
    leaves = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def tree_unflatten(treedef, leaves):
    """Inverse of ``tree_flatten``."""
    return treedef.unflatten(leaves)


def tree_leaves(tree, is_leaf=None):
    """The leaves of ``tree``, in flattening order."""
    return tree_flatten(tree, is_leaf)[0]


def tree_structure(tree, is_leaf=None):
    """The ``PyTreeDef`` of ``tree``."""
    return tree_flatten(tree, is_leaf)[1]


def treedef_is_leaf(treedef):
    """True when ``treedef`` is a single leaf."""
    return treedef.node_type is _LEAF


def all_leaves(iterable):
    """True when every element of ``iterable`` is a leaf."""
    return all(treedef_is_leaf(tree_structure(x)) for x in iterable)


def tree_map(f, tree, *rest, is_leaf=None):
    """Applies ``f`` leaf-wise; ``rest`` trees must share ``tree``'s structure (or extend it).

    >>> tree_map(lambda x, y: x + y, (1, [2]), (10, [20]))
    (11, [22])
    """
    leaves, treedef = tree_flatten(tree, is_leaf)
    all_leaves_ = [leaves] + [treedef.flatten_up_to(r) for r in rest]
    return treedef.unflatten(f(*xs) for xs in zip(*all_leaves_))


def tree_reduce(function, tree, initializer=None, is_leaf=None):
    """``functools.reduce`` over the leaves of ``tree``."""
    leaves = tree_leaves(tree, is_leaf)
    if initializer is None:
        return functools.reduce(function, leaves)
    return functools.reduce(function, leaves, initializer)


def tree_all(tree):
    """True when every leaf is truthy."""
    return all(tree_leaves(tree))
