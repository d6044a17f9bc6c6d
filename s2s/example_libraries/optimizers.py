"""``optimizers``: first-order optimizers as ``(init_fun, update_fun, get_params)`` triples.

The API of ``jax.example_libraries.optimizers``, with the same update rules, so
a training loop ported from JAX follows the same trajectory:

* ``opt_state = init_fun(params)`` for any pytree of arrays ``params``;
* ``opt_state = update_fun(step, grads, opt_state)`` (``grads`` has ``params``'
  structure), which can run under ``s2s.jit``: the state is a pytree of arrays;
* ``params = get_params(opt_state)``.

``step_size`` is a number or a schedule, a function of the step index
(``constant``, ``exponential_decay``, ``inverse_time_decay``, ``polynomial_decay``,
``piecewise_constant``).

>>> import numpy as np
>>> from s2s.example_libraries import optimizers
>>> opt_init, opt_update, get_params = optimizers.sgd(0.5)
>>> state = opt_init({"w": np.array([1.0, 2.0])})
>>> state = opt_update(0, {"w": np.array([1.0, 1.0])}, state)
>>> get_params(state)
{'w': array([0.5, 1.5])}
"""
import functools
from collections import namedtuple
from typing import NamedTuple, Callable

import s2s.numpy as np
from s2s import tree_util

__all__ = [
    "Optimizer", "OptimizerState", "optimizer", "sgd", "momentum", "nesterov", "adagrad",
    "rmsprop", "rmsprop_momentum", "adam", "adamax", "sm3", "constant", "exponential_decay",
    "inverse_time_decay", "polynomial_decay", "piecewise_constant", "make_schedule", "l2_norm",
    "clip_grads", "JoinPoint", "unpack_optimizer_state", "pack_optimizer_state",
]

# The optimizer state of a parameter pytree: for each parameter leaf, the flat
# leaves of that leaf's state (packed_state), and the structures to rebuild both.
# Only packed_state holds arrays; the structures are static (pytree aux data).
OptimizerState = namedtuple("OptimizerState", ["packed_state", "tree_def", "subtree_defs"])
tree_util.register_pytree_node(
    OptimizerState,
    lambda state: ((state.packed_state,), (state.tree_def, state.subtree_defs)),
    lambda aux, children: OptimizerState(children[0], aux[0], aux[1]))


class Optimizer(NamedTuple):
    """An ``(init_fn, update_fn, params_fn)`` triple."""
    init_fn: Callable
    update_fn: Callable
    params_fn: Callable


def _unflatten_states(subtrees, states_flat):
    return [tree_util.tree_unflatten(s, leaves) for s, leaves in zip(subtrees, states_flat)]


def _flatten_states(states):
    pairs = [tree_util.tree_flatten(state) for state in states]
    return [leaves for leaves, _ in pairs], tuple(treedef for _, treedef in pairs)


def optimizer(opt_maker):
    """Lifts an optimizer written for one array to pytrees of arrays.

    ``opt_maker(*args)`` returns ``(init, update, get_params)`` acting on a single
    array (``update(i, g, state)``); the decorated function returns an ``Optimizer``
    whose functions take pytrees and keep an ``OptimizerState``.

    >>> import numpy as np
    >>> from s2s.example_libraries import optimizers
    >>> @optimizers.optimizer
    ... def halve():
    ...     return (lambda x: x), (lambda i, g, x: x - 0.5 * g), (lambda x: x)
    >>> init, update, get = halve()
    >>> get(update(0, [np.ones(2)], init([np.ones(2)])))
    [array([0.5, 0.5])]
    """
    @functools.wraps(opt_maker)
    def tree_opt_maker(*args, **kwargs):
        init, update, get_params = opt_maker(*args, **kwargs)

        @functools.wraps(init)
        def tree_init(x0_tree):
            x0_flat, tree = tree_util.tree_flatten(x0_tree)
            states_flat, subtrees = _flatten_states([init(x0) for x0 in x0_flat])
            return OptimizerState(states_flat, tree, subtrees)

        @functools.wraps(update)
        def tree_update(i, grad_tree, opt_state):
            states_flat, tree, subtrees = opt_state
            grad_flat, grad_tree_def = tree_util.tree_flatten(grad_tree)
            if grad_tree_def != tree:
                raise TypeError(f"optimizer update: the gradient's structure {grad_tree_def} "
                                f"differs from the parameters' {tree} given to init")
            states = _unflatten_states(subtrees, states_flat)
            new_states = [update(i, g, state) for g, state in zip(grad_flat, states)]
            new_flat, new_subtrees = _flatten_states(new_states)
            if new_subtrees != tuple(subtrees):
                raise TypeError(f"optimizer update: the state's structure changed from "
                                f"{subtrees} to {new_subtrees}")
            return OptimizerState(new_flat, tree, subtrees)

        @functools.wraps(get_params)
        def tree_get_params(opt_state):
            states_flat, tree, subtrees = opt_state
            params = [get_params(state) for state in _unflatten_states(subtrees, states_flat)]
            return tree_util.tree_unflatten(tree, params)

        return Optimizer(tree_init, tree_update, tree_get_params)

    return tree_opt_maker


def _first(state):
    return state[0]


@optimizer
def sgd(step_size):
    """Stochastic gradient descent: ``x - step_size(i) * g``.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.sgd(0.1)
    >>> float(get(update(0, 2.0, init(1.0))))
    0.8
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0

    def update(i, g, x):
        return x - step_size(i) * g

    def get_params(x):
        return x

    return Optimizer(init, update, get_params)


@optimizer
def momentum(step_size, mass):
    """SGD with momentum ``mass``: ``v = mass * v + g; x -= step_size(i) * v``.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.momentum(0.1, 0.9)
    >>> state = update(1, 1.0, update(0, 1.0, init(0.0)))
    >>> round(float(get(state)), 6)
    -0.29
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * velocity, velocity

    return init, update, _first


@optimizer
def nesterov(step_size, mass):
    """SGD with Nesterov momentum: steps along ``mass * v + g`` after updating ``v``.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.nesterov(0.1, 0.9)
    >>> round(float(get(update(0, 1.0, init(0.0)))), 6)
    -0.19
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0)

    def update(i, g, state):
        x, velocity = state
        velocity = mass * velocity + g
        return x - step_size(i) * (mass * velocity + g), velocity

    return init, update, _first


@optimizer
def adagrad(step_size, momentum=0.9):
    """Adagrad (Duchi et al. 2011) with momentum on the scaled gradient.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.adagrad(1.0)
    >>> round(float(get(update(0, 2.0, init(0.0)))), 6)
    -0.1
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0), np.zeros_like(x0)

    def update(i, g, state):
        x, g_sq, m = state
        g_sq = g_sq + np.square(g)
        # Parameters never seen a gradient keep a zero scale rather than 1/0.
        g_sq_inv_sqrt = np.where(g_sq > 0, 1. / np.sqrt(g_sq), 0.0)
        m = (1. - momentum) * (g * g_sq_inv_sqrt) + momentum * m
        return x - step_size(i) * m, g_sq, m

    return init, update, _first


@optimizer
def rmsprop(step_size, gamma=0.9, eps=1e-8):
    """RMSProp: divides by the root of a decaying average of squared gradients.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.rmsprop(0.1)
    >>> round(float(get(update(0, 1.0, init(0.0)))), 4)
    -0.3162
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0)

    def update(i, g, state):
        x, avg_sq_grad = state
        avg_sq_grad = avg_sq_grad * gamma + np.square(g) * (1. - gamma)
        return x - step_size(i) * g / np.sqrt(avg_sq_grad + eps), avg_sq_grad

    return init, update, _first


@optimizer
def rmsprop_momentum(step_size, gamma=0.9, eps=1e-8, momentum=0.9):
    """RMSProp with momentum on the scaled step.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.rmsprop_momentum(0.1)
    >>> round(float(get(update(0, 1.0, init(0.0)))), 4)
    -0.3162
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0), np.zeros_like(x0)

    def update(i, g, state):
        x, avg_sq_grad, mom = state
        avg_sq_grad = avg_sq_grad * gamma + np.square(g) * (1. - gamma)
        mom = momentum * mom + step_size(i) * g / np.sqrt(avg_sq_grad + eps)
        return x - mom, avg_sq_grad, mom

    return init, update, _first


def _bias_correction(beta, m, i):
    # 1 - beta**(i+1) in the moment's dtype, so float32 state stays float32.
    return 1 - np.asarray(beta, np.result_type(m)) ** (i + 1)


@optimizer
def adam(step_size, b1=0.9, b2=0.999, eps=1e-8):
    """Adam (Kingma and Ba 2015) with bias-corrected moment estimates.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.adam(0.1)
    >>> round(float(get(update(0, 3.0, init(0.0)))), 4)
    -0.1
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0), np.zeros_like(x0)

    def update(i, g, state):
        x, m, v = state
        m = (1 - b1) * g + b1 * m
        v = (1 - b2) * np.square(g) + b2 * v
        mhat = m / _bias_correction(b1, m, i)
        vhat = v / _bias_correction(b2, m, i)
        return x - step_size(i) * mhat / (np.sqrt(vhat) + eps), m, v

    return init, update, _first


@optimizer
def adamax(step_size, b1=0.9, b2=0.999, eps=1e-8):
    """AdaMax: Adam with the infinity norm in place of the second moment.

    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.adamax(0.1)
    >>> round(float(get(update(0, 3.0, init(0.0)))), 4)
    -0.1
    """
    step_size = make_schedule(step_size)

    def init(x0):
        return x0, np.zeros_like(x0), np.zeros_like(x0)

    def update(i, g, state):
        x, m, u = state
        m = (1 - b1) * g + b1 * m
        u = np.maximum(b2 * u, np.abs(g))
        x = x - (step_size(i) / _bias_correction(b1, m, i)) * m / (u + eps)
        return x, m, u

    return init, update, _first


def _broadcast_into(ndim, v, axis):
    # v holds one accumulator per index of `axis`; shape it to broadcast along it.
    return v[tuple(slice(None) if d == axis else None for d in range(ndim))]


@optimizer
def sm3(step_size, momentum=0.9):
    """SM3 (Anil et al. 2019): one accumulator per row, column, ... instead of per entry.

    >>> import numpy as np
    >>> from s2s.example_libraries import optimizers
    >>> init, update, get = optimizers.sm3(1.0)
    >>> get(update(0, np.ones((2, 2)), init(np.zeros((2, 2))))).shape
    (2, 2)
    """
    step_size = make_schedule(step_size)

    def init(x0):
        x_shape = np.shape(x0)
        x0 = np.atleast_1d(x0)
        vs = [np.zeros(size, dtype=np.result_type(x0)) for size in np.shape(x0)]
        return x0, np.zeros_like(x0), vs, x_shape

    def update(i, g, state):
        x, m, vs, x_shape = state
        ndim = np.ndim(g)
        accum = _broadcast_into(ndim, vs[0], 0)
        for axis in range(1, len(vs)):
            accum = np.minimum(accum, _broadcast_into(ndim, vs[axis], axis))
        accum = accum + np.square(g)
        accum_inv_sqrt = np.where(accum > 0, 1. / np.sqrt(accum), 0)
        m = (1. - momentum) * (g * accum_inv_sqrt) + momentum * m
        x = x - step_size(i) * m
        vs = [np.max(accum, axis=tuple(d for d in range(np.ndim(x)) if d != axis))
              for axis in range(np.ndim(x))]
        return x, m, vs, x_shape

    def get_params(state):
        x, _, _, x_shape = state
        return np.reshape(x, x_shape)

    return init, update, get_params


# ---------------------------------------------------------------------------
# Step-size schedules: functions of the step index i.


def constant(step_size):
    """The schedule that is ``step_size`` at every step.

    >>> from s2s.example_libraries import optimizers
    >>> optimizers.constant(0.1)(7)
    0.1
    """
    def schedule(i):
        return step_size
    return schedule


def exponential_decay(step_size, decay_steps, decay_rate):
    """``step_size * decay_rate ** (i / decay_steps)``.

    >>> from s2s.example_libraries import optimizers
    >>> optimizers.exponential_decay(1.0, 10, 0.5)(20)
    0.25
    """
    def schedule(i):
        return step_size * decay_rate ** (i / decay_steps)
    return schedule


def inverse_time_decay(step_size, decay_steps, decay_rate, staircase=False):
    """``step_size / (1 + decay_rate * i / decay_steps)`` (the ratio floored if ``staircase``).

    >>> from s2s.example_libraries import optimizers
    >>> optimizers.inverse_time_decay(1.0, 10, 1.0)(10)
    0.5
    """
    if staircase:
        def schedule(i):
            return step_size / (1 + decay_rate * np.floor(i / decay_steps))
    else:
        def schedule(i):
            return step_size / (1 + decay_rate * i / decay_steps)
    return schedule


def polynomial_decay(step_size, decay_steps, final_step_size, power=1.0):
    """From ``step_size`` to ``final_step_size`` over ``decay_steps`` along ``(1 - t) ** power``.

    >>> from s2s.example_libraries import optimizers
    >>> float(optimizers.polynomial_decay(1.0, 10, 0.0)(5))
    0.5
    """
    def schedule(step_num):
        step_num = np.minimum(step_num, decay_steps)
        step_mult = (1 - step_num / decay_steps) ** power
        return step_mult * (step_size - final_step_size) + final_step_size
    return schedule


def piecewise_constant(boundaries, values):
    """``values[k]`` for steps past ``k`` of the ``boundaries``.

    >>> from s2s.example_libraries import optimizers
    >>> schedule = optimizers.piecewise_constant([10, 20], [1.0, 0.5, 0.25])
    >>> float(schedule(5)), float(schedule(15)), float(schedule(25))
    (1.0, 0.5, 0.25)
    """
    boundaries = np.array(boundaries)
    values = np.array(values)
    if not np.ndim(boundaries) == np.ndim(values) == 1:
        raise ValueError("piecewise_constant: boundaries and values must be sequences")
    if not np.shape(boundaries)[0] == np.shape(values)[0] - 1:
        raise ValueError("piecewise_constant: boundaries must have one element fewer than values, "
                         f"got {np.shape(boundaries)[0]} and {np.shape(values)[0]}")

    def schedule(i):
        # take, not values[...]: under jit the index is staged and values is a host array.
        return np.take(values, np.sum(i > boundaries))
    return schedule


def make_schedule(scalar_or_schedule):
    """A schedule from a schedule (returned as is) or a scalar (``constant``).

    >>> from s2s.example_libraries import optimizers
    >>> optimizers.make_schedule(0.3)(100)
    0.3
    """
    if callable(scalar_or_schedule):
        return scalar_or_schedule
    if np.ndim(scalar_or_schedule) == 0:
        return constant(scalar_or_schedule)
    raise TypeError(f"make_schedule: expected a scalar or a function of the step, got "
                    f"{type(scalar_or_schedule).__name__}")


# ---------------------------------------------------------------------------
# Utilities on gradient pytrees.


def l2_norm(tree):
    """The Euclidean norm of all the leaves of ``tree`` together.

    >>> import numpy as np
    >>> from s2s.example_libraries import optimizers
    >>> float(optimizers.l2_norm([np.array([3.0]), {"b": np.array([4.0])}]))
    5.0
    """
    total = 0.0
    for leaf in tree_util.tree_leaves(tree):
        total = total + np.vdot(leaf, leaf)
    return np.sqrt(total)


def clip_grads(grad_tree, max_norm):
    """Scales ``grad_tree`` down so that its ``l2_norm`` is at most ``max_norm``.

    >>> import numpy as np
    >>> from s2s.example_libraries import optimizers
    >>> optimizers.clip_grads([np.array([3.0, 4.0], np.float32)], 1.0)
    [array([0.6, 0.8], dtype=float32)]
    """
    norm = l2_norm(grad_tree)

    def normalize(g):
        return np.where(norm < max_norm, g, g * (max_norm / norm))

    return tree_util.tree_map(normalize, grad_tree)


class JoinPoint:
    """Marks where an optimizer state's inner pytree hangs off the parameter pytree."""

    def __init__(self, subtree):
        self.subtree = subtree

    def __iter__(self):
        yield self.subtree


def unpack_optimizer_state(opt_state):
    """The state as the parameter pytree with ``JoinPoint`` leaves (for saving).

    >>> import numpy as np
    >>> from s2s.example_libraries import optimizers
    >>> init, _, _ = optimizers.momentum(0.1, 0.9)
    >>> marked = optimizers.unpack_optimizer_state(init({"w": np.zeros(2, np.float32)}))
    >>> marked["w"].subtree
    (array([0., 0.], dtype=float32), array([0., 0.], dtype=float32))
    """
    states_flat, tree_def, subtree_defs = opt_state
    joins = [JoinPoint(state) for state in _unflatten_states(subtree_defs, states_flat)]
    return tree_util.tree_unflatten(tree_def, joins)


def pack_optimizer_state(marked_pytree):
    """The inverse of ``unpack_optimizer_state``.

    >>> import numpy as np
    >>> from s2s.example_libraries import optimizers
    >>> init, _, get = optimizers.momentum(0.1, 0.9)
    >>> state = init({"w": np.ones(2)})
    >>> get(optimizers.pack_optimizer_state(optimizers.unpack_optimizer_state(state)))
    {'w': array([1., 1.])}
    """
    joins, tree_def = tree_util.tree_flatten(marked_pytree)
    if not all(isinstance(j, JoinPoint) for j in joins):
        raise TypeError("pack_optimizer_state: expected a pytree whose leaves are JoinPoints "
                        "(from unpack_optimizer_state)")
    states_flat, subtree_defs = _flatten_states([j.subtree for j in joins])
    return OptimizerState(states_flat, tree_def, subtree_defs)
