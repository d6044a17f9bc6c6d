"""Per-example gradients read as NumPy: vmap of gradient code writes the helpers the
reverse transform calls (``unbroadcast``, ``dot_grad_lhs``, ``add_grad``...) as NumPy over
the batch, the tape keeps each variable's kind, and masks appear only where a condition
is batched. Every form is checked against a Python loop over examples, eagerly and under
jit, with the batch on axis 0, 1 and -1."""
import os

import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from s2s.runtime import support as sup
import seed_programs as seeds

R = onp.random.default_rng(1)
N = 3  # examples
GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "vmap_grad_mlp_inline.py.txt")


def _f(*shape):
    return R.normal(size=shape).astype("f")


def _at(a, ax):
    """``a`` with its batch axis (0 in ``a``) moved to ``ax``."""
    return a if ax in (None, 0) else onp.moveaxis(a, 0, ax)


def _close(got, want):
    if want is None:
        assert got is None
        return
    if isinstance(want, (tuple, list)):
        assert type(got) is type(want) and len(got) == len(want), (got, want)
        for g, w in zip(got, want):
            _close(g, w)
        return
    onp.testing.assert_allclose(onp.asarray(got), want, rtol=2e-5, atol=2e-5)
    assert onp.asarray(got).dtype == onp.asarray(want).dtype


def _stack(outs):
    first = outs[0]
    if first is None:
        assert all(o is None for o in outs)
        return None
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([o[k] for o in outs]) for k in range(len(first)))
    return onp.stack([onp.asarray(o) for o in outs])


def _source(f):
    """``s2s.source(f)``: the ``complete_grad`` call that ends a gradient's source when
    another transformation reads it (zeros for unused leaves of pytree arguments, as the
    API returns them) is written as it is where the build knows the adjoint's kind."""
    return s2s.source(f)


def _source_filtered(f):
    """``_source`` without the ``vcall(complete_grad, ...)`` line of an adjoint whose kind
    the build does not know (one a ``vcall`` returned: a list of row adjoints of an array
    would need stacking behind the batch axis, which the rule does at run time)."""
    return "\n".join(line for line in s2s.source(f).splitlines()
                     if "vcall(complete_grad," not in line)


def _check(fn, batched, args, axis):
    """vmap(fn) (arguments flagged in ``batched`` mapped on ``axis``) equals the loop,
    eagerly and under jit; returns the batched source."""
    in_axes = tuple(axis if b else None for b in batched)
    moved = [_at(a, axis) if b else a for a, b in zip(args, batched)]
    want = _stack([fn(*[a[i] if b else a for a, b in zip(args, batched)]) for i in range(N)])
    f = s2s.vmap(fn, in_axes=in_axes)
    _close(f(*moved), want)
    _close(s2s.jit(s2s.vmap(fn, in_axes=in_axes))(*moved), want)
    return _source(f)


def _ub_lead(g, x):
    return sup.unbroadcast(g, x)


def _ur_all(g, x):
    return sup.unreduce(g, x)


def _ur_axis(g, x):
    return sup.unreduce(g, x, axis=1)


def _ur_keep(g, x):
    return sup.unreduce(g, x, axis=-1, keepdims=True)


def _seed(x):
    return sup.scalar_seed(np.sum(x * x))


def _add(a, b):
    return sup.add_grad(a, b)


def _add_pairs(a, b, c):
    return sup.add_grad((a, None), (b, c))


def _pack_item(W, b, gw, gb):
    return sup.getitem_grad([(W, b), (W, b)], 1, sup.pack_grad((W, b), (gw, None)))


def _tr(g):
    return sup.transpose_grad(g, (2, 0, 1))


def _tr_all(g):
    return sup.transpose_grad(g)


def _reshape_like(g, x):
    return sup.reshape_like(g, x)


def _broadcast_like(g, x):
    return sup.broadcast_like(g, x)


def _item_int(x, g):
    return sup.getitem_grad(x, -1, g)


def _item_slice(x, g):
    return sup.getitem_grad(x, slice(1, 3), g)


def _item_pair(x, g):
    return sup.getitem_grad(x, (0, slice(None, None, 2)), g)


def _item_new_axis(x, g):
    return sup.getitem_grad(x, (None, ..., 0), g)


def _zero_item(g):
    return sup.setitem_grad(g, (slice(None), 1))


def _item_value(g, v):
    return sup.index_grad(g, 1, v)


def _like(x):
    return np.full_like(x, 2.0) * np.asarray(x, np.float64) + np.zeros_like(x)


def _dot_lhs(g, a, b):
    return sup.dot_grad_lhs(g, a, b)


def _dot_rhs(g, a, b):
    return sup.dot_grad_rhs(g, a, b)


# (name, function, which arguments are batched, arguments with the batch first, fragments)
FORMS = [
    ("unbroadcast_lead", _ub_lead, (True, False), [_f(N, 4, 2), _f(2)],
     ["np.sum(g, axis=(1,))", "np.broadcast_to(x,"]),
    ("unbroadcast_size_one", _ub_lead, (True, True), [_f(N, 2, 3), _f(N, 1, 3)],
     ["unbroadcast(g, x)"]),
    ("unbroadcast_unbatched_one", _ub_lead, (True, False), [_f(N, 2, 3), _f(1, 3)],
     ["np.broadcast_to(x, g.shape[:1] + np.shape(x))"]),
    ("unreduce_all", _ur_all, (True, True), [_f(N), _f(N, 3, 2)], ["g[:, None, None]"]),
    ("unreduce_all_unbatched_x", _ur_all, (True, False), [_f(N), _f(3, 2)],
     ["g.shape[:1] + np.shape(x)"]),
    ("unreduce_axis", _ur_axis, (True, True), [_f(N, 3), _f(N, 3, 2)],
     ["np.expand_dims(g, (2,))"]),
    ("unreduce_keepdims", _ur_keep, (True, True), [_f(N, 3, 1), _f(N, 3, 2)],
     ["np.broadcast_to(g, x.shape)"]),
    ("scalar_seed", _seed, (True,), [_f(N, 3)], ["scalar_seed(t2[0])"]),
    ("add_grad_arrays", _add, (True, True), [_f(N, 2, 3), _f(N, 2, 3)], ["add_grad(a, b)"]),
    ("add_grad_tuples_with_zero", _add_pairs, (True, True, True), [_f(N, 2), _f(N, 2), _f(N)],
     ["add_grad(t, t2)"]),
    ("pack_and_place", _pack_item, (False, False, True, True),
     [_f(2, 3), _f(3), _f(N, 2, 3), _f(N, 3)], ["pack_grad(t4, t5)", "getitem_grad(t3, 1, t6)"]),
    ("transpose_grad", _tr, (True,), [_f(N, 2, 3, 4)], ["np.transpose(g, (0, 2, 3, 1))"]),
    ("transpose_grad_all", _tr_all, (True,), [_f(N, 2, 3, 4)], ["np.transpose(g, (0, 3, 2, 1))"]),
    ("reshape_like", _reshape_like, (True, True), [_f(N, 6), _f(N, 2, 3)],
     ["np.reshape(g, g.shape[:1] + x.shape[1:])"]),
    ("reshape_like_unbatched", _reshape_like, (True, False), [_f(N, 6), _f(3, 2)],
     ["np.reshape(g, g.shape[:1] + np.shape(x))"]),
    ("broadcast_like", _broadcast_like, (True, False), [_f(N, 3), _f(2, 3)],
     ["np.broadcast_to(g[:, None], g.shape[:1] + np.shape(x))"]),
    ("getitem_grad_int", _item_int, (True, True), [_f(N, 4, 2), _f(N, 2)],
     ["getitem_grad(x, (slice(None), -1), g)"]),
    ("getitem_grad_slice", _item_slice, (True, True), [_f(N, 4), _f(N, 2)],
     ["getitem_grad(x, (slice(None), t), g)"]),
    ("getitem_grad_new_axis_ellipsis", _item_new_axis, (True, True), [_f(N, 2, 3), _f(N, 1, 2)],
     ["getitem_grad(x, (slice(None), *t), g)"]),
    ("setitem_grad", _zero_item, (True,), [_f(N, 2, 3)],
     ["setitem_grad(g, (slice(None), *t2))"]),
    ("index_grad", _item_value, (True, True), [_f(N, 3, 2), _f(N, 1)],
     ["index_grad(g, (slice(None), 1), v)"]),
    ("index_grad_unbatched_value", _item_value, (True, False), [_f(N, 3, 2), _f(2)],
     ["index_grad(g, (slice(None), 1), np.broadcast_to(v, g.shape[:1] + np.shape(v)))"]),
    ("passthrough_like", _like, (True,), [_f(N, 2, 3)],
     ["np.full_like(x, 2.0)", "np.asarray(x, np.float64)", "np.zeros_like(x)"]),
    ("getitem_grad_tuple_unbatched_x", _item_pair, (False, True), [_f(3, 4), _f(N, 2)],
     ["getitem_grad(np.broadcast_to(x, g.shape[:1] + np.shape(x)), (slice(None), *t2), g)"]),
]
for an, bn in ((1, 1), (1, 2), (2, 1), (2, 2)):
    shapes = {"a": (4, 5)[2 - an:], "b": (5, 6)[:bn]}
    out = shapes["a"][:-1] + shapes["b"][1:]
    for flags in ((True, True, False), (True, False, True), (True, True, True)):
        args = [_f(N, *out), _f(N, *shapes["a"]) if flags[1] else _f(*shapes["a"]),
                _f(N, *shapes["b"]) if flags[2] else _f(*shapes["b"])]
        tag = "".join("B" if f else "u" for f in flags)
        FORMS.append((f"dot_grad_lhs_{an}{bn}_{tag}", _dot_lhs, flags, args, ["np."]))
        FORMS.append((f"dot_grad_rhs_{an}{bn}_{tag}", _dot_rhs, flags, args, ["np."]))


@pytest.mark.parametrize("axis", [0, 1, -1])
@pytest.mark.parametrize("name,fn,batched,args,fragments", FORMS, ids=[c[0] for c in FORMS])
def test_gradient_helper_forms_match_a_loop(name, fn, batched, args, fragments, axis):
    if axis != 0 and any(onp.ndim(a) < 2 for a, b in zip(args, batched) if b):
        axis = -1  # a batched vector has one axis to map: -1 is it
    text = _check(fn, batched, args, axis)
    assert "vcall" not in text, text
    for fragment in fragments:
        assert fragment in text, text


def _astype_and_items(a):
    b = a.astype(np.float64)
    return np.sum(b[0] * a[-1] + b[1:3] * a[:2]).astype(np.float32)


def _index_assign(a):
    y = np.zeros((2, 3))
    y[0] = a * 2.0
    y[1, 1:] += a[:2] * a[1:]
    return np.sum(y * y)


def test_index_assignment_gradients_are_numpy():
    """``y = np.zeros(...)`` then ``y[i] = v`` and ``y[i] += v``: their kinds are known,
    their adjoints (``setitem_grad``, ``index_grad``) written as NumPy."""
    for axis in (0, -1):
        text = _check(s2s.grad(_index_assign), (True,), [_f(N, 3)], axis)
        assert "vcall" not in text, text
        assert "index_grad(" in text and "setitem_grad(" in text, text


def _nested_early_return(x):
    y = x
    for i in range(2):
        for j in range(3):
            y = y * 1.3
            if np.sum(y) > 2.0 + i + j:
                return np.sum(y * x)
    return np.sum(y - x)


def test_reverse_loop_steps_under_batched_returns_are_known():
    """The reverse loop over ``reversed(range(3))`` under a batched early return: its
    step is a broadcast number, so ``2.0 + i + j`` and the comparison stay NumPy."""
    for axis in (0, -1):
        xs = _f(N, 2)
        xs[0] = onp.abs(xs[0]) + 1.0
        text = _check(s2s.grad(_nested_early_return), (True,), [xs], axis)
        assert "vcall(operators.add" not in text and "vcall(operators.gt" not in text, text


def _helper(u, v):
    return u * np.sin(v)


def _keywords(x):
    return np.sum(_helper(v=x, u=3.0))


@pytest.mark.parametrize("axis", [0, -1])
def test_astype_items_and_keyword_calls_are_numpy(axis):
    """``x.astype(dtype)``, the adjoints of ``x[i]`` and ``x[a:b]`` of an array, and the
    result of a call by keywords of a user function (its fwd/bwd pair) are written as
    NumPy: only the calls of the pair stay vcall."""
    text = _check(s2s.grad(_astype_and_items), (True,), [_f(N, 4)], axis)
    assert "vcall" not in text and "vmethod" not in text, text
    assert "np.astype(a, np.float64)" in text and "getitem_grad(b, (slice(None), 0), " in text, text
    text = _check(s2s.grad(_keywords), (True,), [_f(N, 3)], axis)
    assert [line.split("vcall(")[1].split(",")[0] for line in text.splitlines()
            if "vcall" in line] == ["fwd__helper", "bwd__helper"], text


def _mean_and_size(M):
    return np.sum(np.mean(M, axis=1) ** 2) + M.size * np.mean(M)


@pytest.mark.parametrize("axis", [0, -1])
def test_mean_counts_are_per_example_shapes(axis):
    """A mean's adjoint divides by its count: each example's, written from the shape."""
    text = _check(s2s.grad(_mean_and_size), (True,), [_f(N, 2, 3)], axis)
    assert "vcall" not in text, text
    assert "den2 = M.shape[2]" in text and "den = M.shape[1] * M.shape[2]" in text, text


def test_dot_grad_of_an_unbatched_matrix_is_one_product():
    text = _check(_dot_lhs, (True, True, False), [_f(N, 6), _f(N, 5), _f(5, 6)], 0)
    assert "np.dot(g, np.transpose(b))" in text, text


def mlp_loss(params, x, y):
    for W, b in params:
        out = np.dot(x, W) + b
        x = np.tanh(out)
    return np.sum((out - y) ** 2)


def _mlp_args():
    params = [(_f(4, 3), _f(3)), (_f(3, 2), _f(2))]
    return params, _f(N, 4), _f(N, 2)


def _per_example(loss, params, x, y):
    grads = [s2s.grad(loss)(params, x[i], y[i]) for i in range(N)]
    return [tuple(onp.stack([g[layer][k] for g in grads]) for k in range(2))
            for layer in range(len(params))]


@pytest.mark.parametrize("loss", [mlp_loss, seeds.logprob_fun], ids=["inline", "seeds"])
def test_per_example_mlp_gradients_match_a_loop(loss):
    params, x, y = _mlp_args()
    want = _per_example(loss, params, x, y)
    f = s2s.vmap(s2s.grad(loss), in_axes=(None, 0, 0))
    _close(f(params, x, y), want)
    _close(s2s.jit(s2s.vmap(s2s.grad(loss), in_axes=(None, 0, 0)))(params, x, y), want)


def test_per_example_gradient_source_is_numpy():
    """The inline MLP: no vcall, the weights stay unbatched through the tape, and the flag
    that says whether x needs an adjoint is a plain ``if`` (no mask, no select)."""
    params, x, y = _mlp_args()
    f = s2s.vmap(s2s.grad(mlp_loss), in_axes=(None, 0, 0))
    f(params, x, y)
    text = _source_filtered(f)
    assert "vcall" not in text and "select" not in text and "any_example" not in text, text
    assert "broadcast_batch" not in text, text
    assert "bx = np.dot(bt, np.transpose(W))" in text, text
    assert "bW = np.einsum('Zk,Zn->Zkn', x, bt)" in text, text
    full = s2s.source(f)
    if os.environ.get("S2S_UPDATE_GOLDENS") == "1":
        with open(GOLDEN, "w") as fh:
            fh.write(full)
    with open(GOLDEN) as fh:
        assert full == fh.read()


def _pair_texts(*names):
    """The batched source of the fwd/bwd pairs named, as run (built for the arguments'
    kinds): fwds that return a PairTape, bwds built for one."""
    from s2s.transforms import batch
    out = {}
    for fn, builds in list(batch._builds.items()):
        for key, b in builds.items():
            if getattr(fn, "__name__", "") in names and key[1] and (
                    "pair_tape(" in b.text or len(key) == 4):
                out.setdefault(fn.__name__, []).append(b.text)
    return out


def test_seed_mlp_gradient_helpers_are_numpy():
    """The seeds' MLP calls predict: its forward and backward functions run batched (the
    two calls of them stay vcall), and what they do is NumPy too. The weights stay
    unbatched from fwd to bwd (the tape's entries keep their own kinds): one product
    with the unbatched matrix, no broadcast along the batch, no per-example flags."""
    from s2s.transforms import batch
    for fn in list(batch._builds):  # only this call's builds (other tests of this worker
        if getattr(fn, "__name__", "") in ("fwd_predict", "bwd_predict"):  # map others)
            del batch._builds[fn]
    params, x, y = _mlp_args()
    f = s2s.vmap(s2s.grad(seeds.logprob_fun), in_axes=(None, 0, 0))
    f(params, x, y)
    text = _source_filtered(f)
    assert [line.split("=")[1].split("(")[1].split(",")[0] for line in text.splitlines()
            if "vcall(" in line] == ["fwd_predict", "bwd_predict"], text
    texts = _pair_texts("fwd_predict", "bwd_predict")
    assert sorted(texts) == ["bwd_predict", "fwd_predict"], texts
    (fwd,), (bwd,) = texts["fwd_predict"], texts["bwd_predict"]
    for t in (fwd, bwd):
        for absent in ("vcall", "broadcast_batch", "any_example", "select"):
            assert absent not in t, t
    assert "(False, False, True, False, True, None), {'W': False, 'b': False, 'inputs': True, " \
        "'inputs_active': False, 't': True}, batch_size)" in fwd, fwd
    assert "binputs = np.dot(bt, np.transpose(W))" in bwd and "if inputs_active:" in bwd, bwd


@pytest.mark.parametrize("axis", [0, 1])
def test_seed_mlp_per_example_gradients_on_each_axis(axis):
    params, x, y = _mlp_args()
    _check(s2s.grad(seeds.logprob_fun), (False, True, True), [params, x, y], axis)


def _layer(W, x):
    return np.tanh(np.dot(x, W))


def _two_layers(W, x):
    return _layer(W, _layer(W, x))


def _root_scale(W, x):
    s = np.sum(x * x) + 1.0
    r = s
    while np.abs(r * r - s) > 1e-4 * s:
        r = 0.5 * (r + s / r)
    return np.dot(x, W) / r


def _branching(W, x):
    y = np.dot(x, W)
    if np.sum(y) > 0:  # batched: W is batched in the callee from here on
        y = np.tanh(y)
        W = W * 2.0
    return np.dot(y, W)


def _loss_nested(W, x):  # fwd__two_layers's tape holds two of fwd__layer's
    return np.sum(_two_layers(W, x) ** 2)


def _loss_in_loop(W, x):  # the caller's stack holds fwd__layer's tapes
    for _ in range(2):
        x = _layer(W, x)
    return np.sum(x)


def _loss_under_batched_if(W, x):  # called for some examples: its tape is batched whole
    if np.sum(x) > 0:
        x = _layer(W, x)
    else:
        x = x * 2.0
    return np.sum(x)


def _loss_batched_while(W, x):  # the callee's trip counts differ per example
    return np.sum(np.tanh(_root_scale(W, x)))


def _loss_branching_callee(W, x):  # the callee's own batched if
    return np.sum(_branching(W, _layer(W, x)) ** 2)


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("loss,unbatched_w", [
    (_loss_nested, True), (_loss_in_loop, True), (_loss_under_batched_if, False),
    (_loss_batched_while, False), (_loss_branching_callee, True)],
    ids=["nested", "in_loop", "under_batched_if", "batched_while", "branching_callee"])
def test_pair_tapes_match_a_loop(loss, unbatched_w, axis):
    """A callee's tape crosses from its fwd to its bwd with each entry batched or not:
    nested pairs, tapes on the caller's stack, a callee under a batched condition (its
    tape is batched whole there) and one with a batched while, eager and under jit."""
    W, x = _f(4, 4), _f(N, 4)
    x[0] = -onp.abs(x[0])
    x[1] = onp.abs(x[1])
    _check(s2s.grad(loss), (False, True), [W, x], axis)
    _check(s2s.grad(loss, argnums=(0, 1)), (False, True), [W, x], axis)
    if unbatched_w:
        bwds = _pair_texts("bwd__layer")["bwd__layer"]
        assert any("np.dot(bt, np.transpose(W))" in t for t in bwds), bwds
        assert not any("broadcast_batch" in t for t in bwds), bwds


def test_pair_tape_with_mapped_weights_matches_a_loop():
    params, x, y = _mlp_args()
    mapped = [(onp.stack([W * (1.0 + 0.1 * k) for k in range(N)]), onp.stack([b] * N))
              for W, b in params]
    g = s2s.grad(seeds.logprob_fun)
    for in_axes in ((0, 0, 0), (0, None, None)):
        args = (mapped, x if in_axes[1] == 0 else x[0], y if in_axes[2] == 0 else y[0])
        want = _stack([g([(W[i], b[i]) for W, b in mapped],
                         *[a[i] if ax == 0 else a for a, ax in zip(args[1:], in_axes[1:])])
                       for i in range(N)])
        _close(s2s.vmap(g, in_axes=in_axes)(*args), want)
        _close(s2s.jit(s2s.vmap(g, in_axes=in_axes))(*args), want)


def test_unmapped_parameter_assigned_mapped_values():
    """``x`` comes in unmapped and is assigned mapped values: it is broadcast on entry
    (np.dot read its per-example axes wrong before)."""
    def f(x, W):
        for _ in range(2):
            x = np.tanh(np.dot(x, W))
        return x
    x, W = _f(4), _f(N, 4, 4)
    want = onp.stack([f(x, W[i]) for i in range(N)])
    _close(s2s.vmap(f, in_axes=(None, 0))(x, W), want)
    g = s2s.vmap(s2s.grad(lambda x, W: np.sum(f(x, W))), in_axes=(None, 0))
    _close(g(x, W), onp.stack([s2s.grad(lambda x, W: np.sum(f(x, W)))(x, W[i])
                               for i in range(N)]))


def test_mask_stays_where_the_condition_is_batched():
    """A batched condition in the loss still gets its per-example mask in the gradient."""
    def loss(w, x):
        for _ in range(2):
            if np.sum(x) > 0:
                x = np.tanh(x * w)
            else:
                x = x * 2.0
        return np.sum(x)
    w, xs = _f(3), _f(N, 3)
    xs[0] = -onp.abs(xs[0])
    xs[1] = onp.abs(xs[1])
    g = s2s.vmap(s2s.grad(loss), in_axes=(None, 0))
    _close(g(w, xs), onp.stack([s2s.grad(loss)(w, xs[i]) for i in range(N)]))
    assert "select" in s2s.source(g)


def test_library_recording_is_reused_per_signature(monkeypatch):
    """A library function without a batch rule is recorded once per signature (structure,
    per-example shapes and dtypes, static arguments), not once per call; a new static
    argument or shape records again, and every call still equals the loop."""
    from s2s.transforms import batch_support
    recorded = []
    real = batch_support.record

    def counting(*args, **kwargs):
        recorded.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(batch_support, "record", counting)

    def f(x, n):
        return np.diff(x, n=n)
    for n, shape in ((1, (N, 5)), (1, (N, 5)), (2, (N, 5)), (2, (N, 6)), (2, (N, 6))):
        x = R.normal(size=shape).astype("f")
        got = s2s.vmap(lambda x: f(x, n))(x)
        _close(got, onp.stack([onp.diff(x[i], n=n) for i in range(N)]))
    assert len(recorded) == 3
