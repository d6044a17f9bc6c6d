"""Functions the grad tests differentiate, one construct family at a time.

They are written against plain ``numpy`` on purpose: s2s resolves NumPy calls to
their s2s twins when it transforms them. Inputs are chosen by argument name
(see ``inputs_for``); ``JAX_INCOMPATIBLE`` lists functions jax.grad cannot run
(index assignment into arrays, data-dependent Python control flow is fine eagerly).
"""
import numpy as np


# -- straight-line code --------------------------------------------------------

def tanh_seed(x):
    y = np.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


def poly(x):
    return 3.0 * x ** 3 - 2.0 * x ** 2 + x - 7.0


def trig(x):
    return np.sin(x) * np.cos(2.0 * x) + np.tanh(x / 3.0)


def logs(x):
    return np.log(x * x + 1.0) + np.sqrt(x * x + 2.0)


def vector_dot(a, b):
    return np.dot(a, b)


def vector_norm2(a):
    return np.sum(a * a)


def matvec(M, a):
    return np.sum(np.tanh(np.dot(M, a)))


def mean_sq(a):
    return np.mean((a - 1.0) ** 2)


def reuse(x):
    y = x * x
    z = y + x
    return y * z + z


def broadcasting(M, a):
    return np.sum(M * a + a)


def maximum_fn(a, b):
    return np.sum(np.maximum(a, b) * a)


# -- conditionals ----------------------------------------------------------------

def abs_val(x):
    if x > 0:
        return x
    else:
        return -x


def if_else_chain(x):
    if x > 1.0:
        y = x * x
    elif x > -1.0:
        y = 2.0 * x
    else:
        y = np.sin(x)
    return y * 3.0


def if_no_else(x):
    y = x
    if x < 0.5:
        y = y * y
    return y + x


def conditional_expr(x):
    return x * x if x > 0 else -x * 3.0


def and_or(x, a):
    big = x > 0 and np.sum(a) > 0
    return x * np.sum(a) if big else x - np.sum(a)


def nested_if(x):
    if x > 0:
        if x > 2:
            r = x ** 3
        else:
            r = x ** 2
    else:
        r = -x
    return r


# -- loops -------------------------------------------------------------------------

def for_range(x, n):
    s = 0.0
    for i in range(n):
        s = s + x * i
    return s


def for_accumulate_power(x):
    y = x
    for i in range(4):
        y = y * x + 1.0
    return y


def for_over_list(a):
    total = 0.0
    for v in [a, 2.0 * a, a * a]:
        total = total + np.sum(v)
    return total


def for_over_array_rows(M):
    s = 0.0
    for row in M:
        s = s + np.sum(np.tanh(row))
    return s


def enumerate_zip(a, b):
    s = 0.0
    for i, (u, v) in enumerate(zip(a, b)):
        s = s + u * v * (i + 1)
    return s


def while_loop(x):
    y = x
    while y < 10.0:
        y = y * 1.5 + 0.1
    return y


def while_count(x, n):
    i = 0
    y = x
    while i < n:
        y = np.sin(y) + x
        i += 1
    return y


def break_loop(x):
    y = x
    for i in range(20):
        y = y * 1.1
        if y > 5.0:
            break
    return y


def continue_loop(x):
    s = 0.0
    for i in range(6):
        if i % 2 == 0:
            continue
        s = s + x ** i
    return s


def early_return_loop(x):
    y = x
    for i in range(10):
        y = y * 2.0
        if y > 3.0:
            return y * x
    return -y


def nested_loops(x):
    s = x
    for i in range(3):
        for j in range(2):
            s = s * 0.5 + x * (i + j)
    return s


def while_break(x):
    y = x
    while True:
        y = y + x * 0.5
        if y > 4.0:
            break
    return y


# -- calls, closures, nesting -------------------------------------------------------

def _helper_square(v):
    return v * v


def _helper_two(u, v):
    return u * np.sin(v)


def calls_helper(x):
    return _helper_square(x) + _helper_two(x, 2.0 * x)


def calls_with_keywords(x):
    return _helper_two(v=x, u=3.0)


def _defaults(u, scale=2.0):
    return u * scale


def calls_defaults(x):
    return _defaults(x) + _defaults(x, scale=4.0)


def nested_def(x):
    def inner(y):
        return y * y + 1.0
    return inner(x) * 2.0


def make_closure(c):
    def f(x):
        return np.sin(x) * c
    return f


closure_fn = make_closure(3.0)


def closure_over_active(x):
    def inner(y):
        return y * x
    return inner(2.0) + inner(x)


def lambda_fn(x):
    sq = lambda t: t * t
    return sq(x) + sq(2.0 * x)


def recursive_pow(x, n):
    if n == 0:
        return 1.0
    return x * recursive_pow(x, n - 1)


def _varargs(*vals):
    total = 0.0
    for v in vals:
        total = total + v * v
    return total


def calls_varargs(x):
    return _varargs(x, 2.0 * x, 3.0)


# -- containers and indexing ------------------------------------------------------

def tuple_unpack(x):
    pair = (x * 2.0, x * 3.0)
    a, b = pair
    return a * b


def list_index(x):
    xs = [x, x * x, np.sin(x)]
    return xs[0] + xs[1] * xs[2]


def dict_values(x):
    d = {"a": x, "b": x * x}
    return d["a"] * d["b"]


def array_indexing(a):
    return a[0] * a[-1] + np.sum(a[1:3])


def matrix_slicing(M):
    return np.sum(M[:, 0] * M[1, :]) + M[0, 1]


def index_assignment(a):
    y = np.zeros(3)
    y[0] = a[0] * 2.0
    y[1] = a[1] * a[2]
    y[2] += a[0]
    return np.sum(y * y)


def index_assign_loop(a):
    y = np.zeros_like(a)
    for i in range(3):
        y[i] = a[i] * (i + 1.0)
    return np.sum(y ** 2)


def list_append(x):
    out = []
    for i in range(3):
        out.append(x * i)
    return out[0] + out[1] * out[2]


def comprehension(a):
    return np.sum(np.array([v * v for v in a]))


def augmented(x):
    y = x
    y += 2.0
    y *= x
    y -= 1.0
    y /= 2.0
    return y


def params_mlp(params, inputs):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return np.sum(outputs ** 2)


def methods(M):
    return M.sum() + M.T.dot(M).mean() + M.reshape(-1).sum() + M.sum(axis=0).sum()


CORPUS = [
    tanh_seed, poly, trig, logs, vector_dot, vector_norm2, matvec, mean_sq, reuse, broadcasting,
    maximum_fn, abs_val, if_else_chain, if_no_else, conditional_expr, and_or, nested_if,
    for_range, for_accumulate_power, for_over_list, for_over_array_rows, enumerate_zip,
    while_loop, while_count, break_loop, continue_loop, early_return_loop, nested_loops,
    while_break, calls_helper, calls_with_keywords, calls_defaults, nested_def, closure_fn,
    closure_over_active, lambda_fn, recursive_pow, calls_varargs, tuple_unpack, list_index,
    dict_values, array_indexing, matrix_slicing, index_assignment, index_assign_loop,
    list_append, comprehension, augmented, params_mlp, methods,
]

JAX_INCOMPATIBLE = {"index_assignment", "index_assign_loop"}


def inputs_for(fn, rng):
    """Arguments for ``fn``, by parameter name (x: scalar, a/b: vectors, M: matrix, n: int)."""
    import inspect
    out = []
    for name in inspect.signature(fn).parameters:
        if name == "x":
            out.append(float(rng.uniform(0.3, 1.2)))
        elif name == "c":
            out.append(float(rng.uniform(0.5, 1.5)))
        elif name in ("a", "b"):
            out.append(rng.uniform(-1.0, 1.0, size=4))
        elif name == "M":
            out.append(rng.uniform(-1.0, 1.0, size=(4, 4)))
        elif name == "n":
            out.append(3)
        elif name == "params":
            out.append([(rng.normal(size=(3, 4)), rng.normal(size=4)),
                        (rng.normal(size=(4, 2)), rng.normal(size=2))])
        elif name == "inputs":
            out.append(rng.normal(size=(5, 3)))
        else:
            raise ValueError(f"no input rule for argument {name!r} of {fn.__name__}")
    return out
