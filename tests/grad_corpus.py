"""Functions the grad tests differentiate, one construct family at a time.

They are written against plain ``numpy`` on purpose: s2s resolves NumPy calls to
their s2s twins when it transforms them. Inputs are chosen by argument name
(see ``inputs_for``); ``JAX_INCOMPATIBLE`` lists functions jax.grad cannot run
(index assignment into arrays, data-dependent Python control flow is fine eagerly).
A few functions use ``s2s.numpy`` directly (``snp``); the jax re-run binds both
names to ``jax.numpy``.
"""
import numpy as np

import s2s.numpy as snp


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
    def closure_fn(x):
        return np.sin(x) * c
    return closure_fn


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


# -- s2s.numpy directly ------------------------------------------------------------

def snp_straight(x):
    return snp.tanh(x) * snp.exp(-x) + snp.log(1.0 + x * x)


def snp_vector(a, b):
    return snp.sum(snp.sin(a) * snp.cos(b)) + snp.mean(snp.sqrt(a * a + 1.0))


def snp_matmul(M, a):
    v = snp.matmul(M, a)
    return snp.sum(v * v) + snp.dot(a, snp.tanh(v))


# -- array methods and properties --------------------------------------------------

def shape_props(M):
    n = M.shape[0]
    k = M.ndim
    s = M.sum(axis=1) / n
    return (s * k).mean() + M.T.dot(s).sum() + M.size * 0.01 * M.mean()


def astype_method(a):
    return np.sum(a.astype(np.float64) * a)


def method_chain(a):
    return a.reshape(2, 2).T.sum(0).dot(a[:2]) + a.mean() * a.sum()


# -- more control flow ---------------------------------------------------------------

SCALE = 1.5  # a global constant


def elif_vector(a):
    if np.sum(a) > 1.0:
        r = np.sum(a * a)
    elif np.sum(a) > -1.0:
        r = np.sum(np.sin(a)) * SCALE
    else:
        r = -np.sum(a)
    return r


def ternary_in_loop(x):
    y = x
    for i in range(4):
        y = y * x if i % 2 else y + x
    return y


def for_over_tuple(x):
    s = 0.0
    for c in (1.0, 2.0, 3.0):
        s = s + c * np.sin(c * x)
    return s


def for_over_dicts(dparams, inputs):
    h = inputs
    for layer in dparams:
        h = np.tanh(np.dot(h, layer["W"]) + layer["b"])
    return np.sum(h ** 2)


def while_data_dependent(x):
    y = x
    n = 0
    while abs(y) < 5.0 and n < 20:
        y = y * 1.7 - 0.1
        n += 1
    return y * x


def while_in_for(x):
    s = x
    for i in range(3):
        j = 0
        while j < i:
            s = s * 0.9 + x
            j += 1
    return s


def for_in_while(x):
    s = x
    k = 0
    while k < 2:
        for j in range(3):
            s = np.sin(s) + x * j
        k += 1
    return s


def loop_if_break_continue(a, x):
    s = 0.0
    for i, v in enumerate(a):
        if v < -0.5:
            continue
        s = s + v * v * x + i * 0.1
        if s > 2.0:
            break
    return s


def early_return_nested(x):
    y = x
    for i in range(3):
        for j in range(3):
            y = y * 1.3
            if y > 2.0 + i + j:
                return y * x
    return y - x


def deep_nesting(x, n):
    s = x
    for i in range(n):
        k = 0
        while k < 2:
            if s > 1.0:
                s = s * 0.5
            elif s > 0.5:
                s = _helper_square(s) + x
            else:
                s = s + x * 0.25
            k += 1
    return s


def helper_in_loop(x):
    s = x
    for i in range(3):
        s = _helper_square(s) * 0.5 + x
    return s


def _helper_while(v):
    while v < 3.0:
        v = v * 1.5
    return v


def calls_helper_with_while(x):
    return _helper_while(x) * x


# -- calls, arguments, recursion -----------------------------------------------------

def _kw(**kw):
    return kw["a"] * kw["b"]


def calls_kwargs(x):
    return _kw(a=x, b=x * 2.0) + _kw(b=3.0, a=x)


def calls_star_args(x):
    vals = [x, x * x]
    return _varargs(*vals)


def _rec_sum(x, n):
    if n <= 0:
        return x
    return np.sin(_rec_sum(x, n - 1)) + x


def recursive_sin(x, n):
    return _rec_sum(x, n)


def _pair(v):
    return v * 2.0, np.sin(v)


def tuple_return(x):
    a, b = _pair(x)
    p, q = _pair(a)
    return a * b + p * q


def nested_lambda_default(x):
    scale = lambda t, s=2.0: t * s
    return scale(x) + scale(x, s=x)


def closure_in_loop(x):
    total = 0.0
    for i in range(3):
        def term(v):
            return v * x + i
        total = total + term(x)
    return total


# -- containers -----------------------------------------------------------------------

def dict_iterate(x):
    d = {"u": x, "v": x * x, "w": np.sin(x)}
    s = 0.0
    for k in d:
        s = s + d[k] * len(k)
    for k, v in d.items():
        s = s + v * v
    return s


def list_of_arrays(a, b):
    parts = [a, a * b, b]
    return np.sum(sum(parts)) + np.sum(parts[1])


def nested_tuple_unpack(x):
    p, (q, r) = (x, (x * 2.0, x * 3.0))
    return p * q * r


def list_mutation(x):
    xs = [x, 2.0 * x]
    xs.append(x * x)
    last = xs.pop()
    xs[0] = xs[0] + last
    return xs[0] * xs[1]


def comprehension_cond(a):
    return sum([v * v for v in a if v > 0]) + sum(v for v in a)


# -- indexing ---------------------------------------------------------------------------

def advanced_index(a):
    idx = [3, 1, 1]
    return np.sum(a[[0, 2]] * 2.0) + np.sum(a[idx] * a[idx])


def bool_mask(a):
    return np.sum(a[a > 0] ** 2)


def slicing_steps(M):
    return (M[::-1, 1:].sum() + np.sum(M[1:3, ::2] * M[0:2, 1::2]) + M[..., 0].sum()
            + np.sum(M[None, 0, :]) + M[-1, -2])


def index_assign_copy(a):
    y = a.copy()
    y[1] = y[0] * 3.0
    y[2:] = y[2:] * y[0]
    return np.sum(y * y)


def index_aug_assign(a):
    y = a * 0.0
    for i in range(4):
        y[i] += a[i] * a[(i + 1) % 4]
    y[0] -= a[3]
    return np.sum(y * a)


def setitem_2d(M):
    Z = np.zeros_like(M)
    Z[0, :] = M[1, :] * 2.0
    Z[:, 1] += M[:, 0]
    return np.sum(Z * M)


def augmented_array(a):
    y = a * 1.0
    y += a
    y *= a
    y -= 0.5
    y /= 2.0
    y **= 2
    return np.sum(y)


def reductions_mix(M):
    return np.sum(np.cumsum(M, axis=0)) + np.mean(M ** 2) + np.sum(np.tensordot(M, M, axes=1))


CORPUS = [
    tanh_seed, poly, trig, logs, vector_dot, vector_norm2, matvec, mean_sq, reuse, broadcasting,
    maximum_fn, abs_val, if_else_chain, if_no_else, conditional_expr, and_or, nested_if,
    for_range, for_accumulate_power, for_over_list, for_over_array_rows, enumerate_zip,
    while_loop, while_count, break_loop, continue_loop, early_return_loop, nested_loops,
    while_break, calls_helper, calls_with_keywords, calls_defaults, nested_def, closure_fn,
    closure_over_active, lambda_fn, recursive_pow, calls_varargs, tuple_unpack, list_index,
    dict_values, array_indexing, matrix_slicing, index_assignment, index_assign_loop,
    list_append, comprehension, augmented, params_mlp, methods,
    snp_straight, snp_vector, snp_matmul, shape_props, astype_method, method_chain, elif_vector,
    ternary_in_loop, for_over_tuple, for_over_dicts, while_data_dependent, while_in_for,
    for_in_while, loop_if_break_continue, early_return_nested, deep_nesting,
    helper_in_loop, calls_helper_with_while, calls_kwargs, calls_star_args, recursive_sin, tuple_return,
    nested_lambda_default, closure_in_loop, dict_iterate, list_of_arrays, nested_tuple_unpack,
    list_mutation, comprehension_cond, advanced_index, bool_mask, slicing_steps,
    index_assign_copy, index_aug_assign, setitem_2d, augmented_array, reductions_mix,
]

# Functions jax.grad cannot run, with why.
JAX_INCOMPATIBLE = {
    "index_assignment": "jax arrays are immutable (y[i] = v)",
    "index_assign_loop": "jax arrays are immutable (y[i] = v)",
    "index_assign_copy": "jax arrays are immutable (y[i] = v)",
    "index_aug_assign": "jax arrays are immutable (y[i] += v)",
    "setitem_2d": "jax arrays are immutable (Z[0, :] = v)",
    "augmented_array": "jax arrays have no in-place **=",
    "bool_mask": "a boolean mask gives a data-dependent shape under jax.grad",
    "advanced_index": "jax.numpy rejects a Python list as an index",
}

# s2s.numpy functions a corpus function needs beyond what every checkout has.
NEEDS = {
    "index_assign_loop": ("zeros_like",),
    "setitem_2d": ("zeros_like",),
    "comprehension": ("array",),
    "methods": ("reshape", "transpose"),
    "shape_props": ("transpose",),
    "method_chain": ("reshape", "transpose"),
    "astype_method": ("astype",),
}

# Known s2s bugs: name -> (reason, checks it breaks: None for all, or a subset of
# {"first", "jax", "second", "gradgrad"}; "second" calls grad f inside a
# differentiated function, "gradgrad" is grad(grad(f))). The tests mark them strict xfail.
KNOWN_BUGS = {
}

# Functions whose second derivative is not checked, with why.
NO_SECOND_ORDER = {}

def _library():
    """Library functions differentiated directly, ``grad(s2s.numpy.tanh)``: (label, fn, input)."""
    from s2s import lax
    out = [("s2s.numpy.tanh", snp.tanh, "scalar"), ("s2s.numpy.sin", snp.sin, "scalar"),
           ("s2s.numpy.exp", snp.exp, "scalar"), ("s2s.numpy.log", snp.log, "scalar"),
           ("s2s.numpy.sqrt", snp.sqrt, "scalar"), ("s2s.lax.exp2", lax.exp2, "scalar"),
           ("s2s.numpy.sum", snp.sum, "vector"), ("s2s.numpy.mean", snp.mean, "vector")]
    import os
    import s2s
    try:
        from s2s.scipy import special
    except ImportError:
        special = None
    here = os.path.dirname(s2s.__file__)
    if special is not None and hasattr(special, "logsumexp") and \
            os.path.abspath(special.__file__).startswith(here):  # this checkout's, not another's
        out.append(("s2s.scipy.special.logsumexp", special.logsumexp, "vector"))
    return out


LIBRARY = _library()
# Library functions with a known s2s bug: label -> reason.
LIBRARY_BUGS = {}


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
        elif name == "dparams":
            out.append([{"W": rng.normal(size=(3, 4)), "b": rng.normal(size=4)},
                        {"W": rng.normal(size=(4, 2)), "b": rng.normal(size=2)}])
        else:
            raise ValueError(f"no input rule for argument {name!r} of {fn.__name__}")
    return out
