"""Checkpoint policies: which values of a checkpointed function reverse mode keeps.

A policy is JAX's predicate ``policy(prim, *avals, **params) -> bool`` over one primitive
application of the checkpointed body (``prim`` an ``s2s`` primitive, ``avals`` the
operands' shapes and dtypes, ``params`` its static parameters): ``True`` keeps its
output on the tape; every other value the backward pass needs is recomputed there from
the kept ones and the arguments. ``s2s.checkpoint(f, policy=...)`` takes one of these or
a function of your own with that signature.

>>> import s2s, s2s.numpy as np
>>> from s2s import checkpoint_policies as cp
>>> layer = s2s.checkpoint(lambda W, x: np.tanh(np.dot(W, x)), policy=cp.dots_saveable)
>>> s2s.grad(lambda x: np.sum(layer(np.eye(2), x)))(np.ones(2))
array([0.41997433, 0.41997433], dtype=float32)

Dots are ``lax.dot_general``, ``lax.conv_general_dilated`` and the NumPy-level products
(``np.dot``, ``matmul``/``@``, ``tensordot``, ``einsum``, ``inner``, ``vdot``), which JAX
lowers to ``dot_general`` too. Values live in one memory space here, so the offload
policies raise ``NotImplementedError`` naming the policy to use instead.
"""
from s2s.core.primitive import all_primitives
from s2s.core.public import public_namespace as _public_namespace

__all__ = [
    "checkpoint_dots", "checkpoint_dots_with_no_batch_dims", "dots_saveable",
    "dots_with_no_batch_dims_saveable", "everything_saveable", "nothing_saveable",
    "offload_dot_with_no_batch_dims", "save_and_offload_only_these_names",
    "save_any_names_but_these", "save_anything_except_these_names", "save_from_both_policies",
    "save_only_these_names",
]

_DOTS = ("dot_general", "conv_general_dilated", "np.dot", "np.matmul", "np.tensordot",
         "np.einsum", "np.inner", "np.vdot")


def _is(prim, name):
    return prim is all_primitives().get(name)


def everything_saveable(*_, **__):
    """Keeps every value: no recomputation (the memory of plain reverse mode).

    >>> everything_saveable(None)
    True
    """
    return True


def nothing_saveable(*_, **__):
    """Keeps only the arguments: the whole forward pass is recomputed (the default).

    >>> nothing_saveable(None)
    False
    """
    return False


def dots_saveable(prim, *_, **__):
    """Keeps the results of matrix products and convolutions; recomputes the rest.

    >>> from s2s.core.primitive import all_primitives
    >>> dots_saveable(all_primitives()["dot_general"]), dots_saveable(all_primitives()["tanh"])
    (True, False)
    """
    return any(_is(prim, name) for name in _DOTS)


def _has_batch_dims(prim, avals, params):
    if _is(prim, "dot_general"):
        _, (lhs_batch, rhs_batch) = params["dimension_numbers"]
        return bool(lhs_batch) or bool(rhs_batch)
    if _is(prim, "np.matmul"):  # batch dimensions on both sides, as jnp.matmul's dot_general
        return all(len(a.shape) > 2 for a in avals)
    if _is(prim, "np.einsum"):  # an index of every operand that the output keeps
        inputs, _, output = params["subscripts"].partition("->")
        operands = inputs.split(",")
        return bool(output) and any(all(c in op for op in operands) for c in output)
    return False


def dots_with_no_batch_dims_saveable(prim, *avals, **params):
    """Keeps matrix products without batch dimensions (JAX's heuristic for transformers).

    >>> from s2s.core.primitive import all_primitives, ShapedArray
    >>> dot = all_primitives()["dot_general"]
    >>> a = ShapedArray((2, 3, 3), "float32")
    >>> dots_with_no_batch_dims_saveable(dot, a, a, dimension_numbers=(((2,), (1,)), ((0,), (0,))))
    False
    """
    dot = any(_is(prim, name) for name in _DOTS if name != "conv_general_dilated")
    return dot and not _has_batch_dims(prim, avals, params)


checkpoint_dots = dots_saveable
checkpoint_dots_with_no_batch_dims = dots_with_no_batch_dims_saveable


def _name_of(prim, params):
    return params.get("name") if _is(prim, "name") else None


def save_only_these_names(*names):
    """Keeps only the values tagged by ``checkpoint_name`` with one of ``names``.

    >>> from s2s.core.primitive import all_primitives
    >>> save_only_these_names("h")(all_primitives()["name"], name="h")
    True
    """
    names = frozenset(names)

    def policy(prim, *_, **params):
        return _name_of(prim, params) in names
    policy.__name__ = f"save_only_these_names{tuple(sorted(names))}"
    return policy


def save_any_names_but_these(*names):
    """Keeps the values tagged by ``checkpoint_name`` except those named in ``names``.

    >>> from s2s.core.primitive import all_primitives
    >>> save_any_names_but_these("h")(all_primitives()["name"], name="g")
    True
    """
    names = frozenset(names)

    def policy(prim, *_, **params):
        name = _name_of(prim, params)
        return name is not None and name not in names
    policy.__name__ = f"save_any_names_but_these{tuple(sorted(names))}"
    return policy


def save_anything_except_these_names(*names):
    """Keeps every value except those tagged by ``checkpoint_name`` with one of ``names``.

    >>> from s2s.core.primitive import all_primitives
    >>> save_anything_except_these_names("h")(all_primitives()["tanh"])
    True
    """
    names = frozenset(names)

    def policy(prim, *_, **params):
        return _name_of(prim, params) not in names
    policy.__name__ = f"save_anything_except_these_names{tuple(sorted(names))}"
    return policy


def save_from_both_policies(policy_1, policy_2):
    """Keeps what either policy keeps.

    >>> save_from_both_policies(nothing_saveable, everything_saveable)(None)
    True
    """
    def policy(prim, *avals, **params):
        out1, out2 = policy_1(prim, *avals, **params), policy_2(prim, *avals, **params)
        if not (isinstance(out1, bool) and isinstance(out2, bool)):
            raise ValueError("save_from_both_policies combines policies that return a bool, got "
                             f"{out1!r} and {out2!r}")
        return out1 or out2
    return policy


def offload_dot_with_no_batch_dims(offload_src, offload_dst):
    """Not supported: s2s keeps every value in one memory space.

    >>> offload_dot_with_no_batch_dims("device", "pinned_host")
    Traceback (most recent call last):
    ...
    NotImplementedError: offload_dot_with_no_batch_dims: s2s keeps saved values in one memory space and cannot offload them to 'pinned_host'; use dots_with_no_batch_dims_saveable, which keeps the same values where they are
    """
    raise NotImplementedError(
        f"offload_dot_with_no_batch_dims: s2s keeps saved values in one memory space and cannot "
        f"offload them to {offload_dst!r}; use dots_with_no_batch_dims_saveable, which keeps "
        "the same values where they are")


def save_and_offload_only_these_names(*, names_which_can_be_saved, names_which_can_be_offloaded,
                                      offload_src, offload_dst):
    """Not supported: s2s keeps every value in one memory space.

    >>> save_and_offload_only_these_names(names_which_can_be_saved=["a"],
    ...     names_which_can_be_offloaded=["b"], offload_src="device", offload_dst="pinned_host")
    Traceback (most recent call last):
    ...
    NotImplementedError: save_and_offload_only_these_names: s2s keeps saved values in one memory space and cannot offload them to 'pinned_host'; use save_only_these_names(*names_which_can_be_saved, *names_which_can_be_offloaded), which keeps them all where they are
    """
    raise NotImplementedError(
        f"save_and_offload_only_these_names: s2s keeps saved values in one memory space and "
        f"cannot offload them to {offload_dst!r}; use save_only_these_names(*names_which_can_be_"
        "saved, *names_which_can_be_offloaded), which keeps them all where they are")


_public_namespace(globals())
