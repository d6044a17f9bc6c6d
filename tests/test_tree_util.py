"""``s2s.tree_util``: flatten/unflatten/map/leaves/structure and registration."""
import collections

import numpy as np
import pytest

from s2s import tree_util as tu

Point = collections.namedtuple("Point", "x y")
Pair = collections.namedtuple("Pair", "first second")


class Box:
    """A registered class: two children and a hashable aux field."""

    def __init__(self, a, b, label="box"):
        self.a, self.b, self.label = a, b, label

    def __eq__(self, other):
        return (type(other) is Box and self.label == other.label
                and _same(self.a, other.a) and _same(self.b, other.b))

    def __repr__(self):
        return f"Box({self.a!r}, {self.b!r}, {self.label!r})"


tu.register_pytree_node(Box, lambda box: ((box.a, box.b), box.label),
                        lambda label, children: Box(*children, label=label))


@tu.register_pytree_node_class
class Scaled:
    """Registered through the class decorator (tree_flatten / tree_unflatten methods)."""

    def __init__(self, value, scale):
        self.value, self.scale = value, scale

    def tree_flatten(self):
        return (self.value,), self.scale

    @classmethod
    def tree_unflatten(cls, scale, children):
        return cls(children[0], scale)


def _same(a, b):
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(a, b)
    return a == b


TREES = {
    "leaf": 1.5,
    "array": np.arange(3),
    "tuple": (1, 2, 3),
    "list": [1, [2, 3]],
    "dict": {"b": 1, "a": (2, 3), "c": {"z": 4, "y": 5}},
    "none": None,
    "nested_none": [None, (1, None), {"k": None}],
    "namedtuple": Point(1, Point(2, 3)),
    "ordereddict": collections.OrderedDict([("z", 1), ("a", 2), ("m", (3, 4))]),
    "registered": Box(1, (2, Box(3, 4, "inner"))),
    "decorated": Scaled([1, 2], 3.0),
    "empty": ((), [], {}),
    "mixed": {"params": [(np.ones(2), np.zeros(2)), Point(np.ones(1), None)], "step": 3},
}


def _tree_equal(a, b):
    la, ta = tu.tree_flatten(a)
    lb, tb = tu.tree_flatten(b)
    return ta == tb and len(la) == len(lb) and all(_same(x, y) for x, y in zip(la, lb))


@pytest.mark.parametrize("name", sorted(TREES))
def test_round_trip(name):
    tree = TREES[name]
    leaves, treedef = tu.tree_flatten(tree)
    rebuilt = tu.tree_unflatten(treedef, leaves)
    assert type(rebuilt) is type(tree)
    assert _tree_equal(rebuilt, tree)
    assert treedef.num_leaves == len(leaves)
    assert tu.tree_structure(rebuilt) == treedef
    assert hash(tu.tree_structure(rebuilt)) == hash(treedef)
    again = tu.tree_leaves(tree)
    assert len(again) == len(leaves) and all(x is y for x, y in zip(again, leaves))


def test_leaves_order():
    assert tu.tree_leaves((1, [2, 3], (4,))) == [1, 2, 3, 4]
    # dict keys are visited in sorted order, whatever the insertion order.
    assert tu.tree_leaves({"b": 1, "a": 2, "c": 3}) == [2, 1, 3]
    assert tu.tree_leaves({"b": {"y": 1, "x": 2}, "a": 3}) == [3, 2, 1]
    # OrderedDict keeps its own order.
    assert tu.tree_leaves(collections.OrderedDict([("b", 1), ("a", 2)])) == [1, 2]
    assert tu.tree_leaves(Point(y=1, x=2)) == [2, 1]  # field order
    assert tu.tree_leaves(Box(1, (2, 3))) == [1, 2, 3]


def test_dict_unflattens_with_sorted_keys():
    treedef = tu.tree_structure({"b": 0, "a": 0})
    out = tu.tree_unflatten(treedef, ["first", "second"])
    assert out == {"a": "first", "b": "second"}
    assert list(out) == ["a", "b"]
    assert tu.tree_structure({"a": 0, "b": 0}) == treedef


def test_none_is_an_empty_node_not_a_leaf():
    assert tu.tree_leaves(None) == []
    assert tu.tree_leaves([None, 1, (None,)]) == [1]
    treedef = tu.tree_structure(None)
    assert treedef.num_leaves == 0 and not tu.treedef_is_leaf(treedef)
    assert tu.tree_unflatten(treedef, []) is None
    assert tu.tree_map(lambda x: x * 2, {"a": None, "b": 3}) == {"a": None, "b": 6}


def test_arrays_and_scalars_are_leaves():
    a = np.ones((2, 3))
    leaves = tu.tree_leaves([a, np.float32(1), 2, "text"])
    assert leaves[0] is a and len(leaves) == 4
    assert tu.treedef_is_leaf(tu.tree_structure(a))
    assert tu.all_leaves([1, a]) and not tu.all_leaves([1, (2,)])


def test_structure_distinguishes_node_types_and_aux_data():
    s = tu.tree_structure
    assert s((1, 2)) == s((3, 4))
    assert s((1, 2)) != s([1, 2])
    assert s((1, 2)) != s(Point(1, 2))
    assert s(Point(1, 2)) != s(Pair(1, 2))
    assert s({"a": 1}) != s({"b": 1})
    assert s({"a": 1, "b": 2}) != s(collections.OrderedDict([("a", 1), ("b", 2)]))
    assert s(collections.OrderedDict([("a", 1), ("b", 2)])) != s(collections.OrderedDict([("b", 1), ("a", 2)]))
    assert s(Box(1, 2, "x")) != s(Box(1, 2, "y"))  # aux data is part of the structure
    assert s(Box(1, 2)) == s(Box(5, 6))
    assert s((1, None)) != s((1, 2))
    assert s(Scaled(1, 2.0)) != s(Scaled(1, 3.0))


def test_structure_counts_and_repr():
    treedef = tu.tree_structure({"a": (1, [2, None]), "b": Point(3, 4)})
    assert treedef.num_leaves == 4
    assert treedef.num_nodes == 9  # dict, tuple, 1, list, 2, None, Point, 3, 4
    assert repr(treedef) == "PyTreeDef({'a': (*, [*, None]), 'b': Point(*, *)})"
    assert repr(tu.tree_structure((1,))) == "PyTreeDef((*,))"


def test_tree_map():
    tree = {"w": [1, 2], "b": (3, Point(4, 5))}
    out = tu.tree_map(lambda x: x * 10, tree)
    assert out == {"w": [10, 20], "b": (30, Point(40, 50))}
    assert type(out["b"][1]) is Point
    summed = tu.tree_map(lambda x, y, z: x + y + z, tree, tree, tree)
    assert summed == tu.tree_map(lambda x: 3 * x, tree)
    boxed = tu.tree_map(lambda x: -x, Box(1, (2, 3), "lbl"))
    assert boxed == Box(-1, (-2, -3), "lbl")
    assert tu.tree_map(lambda x: x + 1, Scaled(1, 2.0)).value == 2


def test_tree_map_later_trees_may_hold_subtrees_at_leaves():
    out = tu.tree_map(lambda a, b: (a, b), (1, 2), ([3, 4], None))
    assert out == ((1, [3, 4]), (2, None))


def test_tree_map_is_leaf():
    tree = [(1, 2), (3,), 4]
    out = tu.tree_map(lambda x: len(x) if isinstance(x, tuple) else x, tree,
                      is_leaf=lambda x: isinstance(x, tuple))
    assert out == [2, 1, 4]
    assert tu.tree_leaves(tree, is_leaf=lambda x: isinstance(x, tuple)) == [(1, 2), (3,), 4]


@pytest.mark.parametrize("first,second", [
    ((1, 2), (1, 2, 3)),
    ((1, 2), [1, 2]),
    ({"a": 1}, {"b": 1}),
    ({"a": 1}, {"a": 1, "b": 2}),
    (Point(1, 2), (1, 2)),
    (Point(1, 2), Pair(1, 2)),
    ((None, 1), (2, 1)),
    (Box(1, 2, "x"), Box(1, 2, "y")),
    ([1, (2, 3)], [1, (2,)]),
    (collections.OrderedDict(a=1, b=2), {"a": 1, "b": 2}),
], ids=["len", "tuple-list", "keys", "more-keys", "namedtuple-tuple", "namedtuple-types",
        "none-leaf", "aux", "nested-len", "ordereddict-dict"])
def test_mismatched_structures_raise(first, second):
    with pytest.raises(ValueError, match="structure"):
        tu.tree_map(lambda *xs: xs, first, second)


def test_unflatten_with_wrong_number_of_leaves():
    treedef = tu.tree_structure({"a": (1, 2), "b": 3})
    with pytest.raises(ValueError, match="3 leaves but 2"):
        tu.tree_unflatten(treedef, [1, 2])
    with pytest.raises(ValueError, match="3 leaves but 4"):
        tu.tree_unflatten(treedef, [1, 2, 3, 4])


def test_register_twice_is_an_error():
    with pytest.raises(ValueError, match="Box is already registered"):
        tu.register_pytree_node(Box, lambda b: ((), None), lambda aux, c: Box(0, 0))
    with pytest.raises(ValueError, match="already registered"):
        tu.register_pytree_node(dict, lambda d: ((), None), lambda aux, c: {})


def test_reduce_and_all():
    assert tu.tree_reduce(lambda a, b: a + b, {"a": [1, 2], "b": (3,)}) == 6
    assert tu.tree_reduce(lambda a, b: a + b, [], 10) == 10
    assert tu.tree_all([1, (True, {"x": 2})]) and not tu.tree_all([1, (0,)])
