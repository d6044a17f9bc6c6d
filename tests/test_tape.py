"""What reverse mode saves for the backward sweep: nothing it does not read, and only a
shape stand-in (``shape_of``) where the adjoint reads only the shape."""
import numpy as np

import s2s
import seed_programs as seeds
from s2s.transforms import vjp_builder


def _arrays(tape):
    out, todo = [], [tape]
    while todo:
        x = todo.pop()
        if isinstance(x, (list, tuple)):
            todo.extend(x)
        elif isinstance(x, np.ndarray):
            out.append(x)
    return out


def _is_stand_in(a):
    return a.size > 1 and all(s == 0 for s in a.strides)


def _mlp(seed=0):
    rng = np.random.RandomState(seed)
    params = [(rng.randn(3, 4), rng.randn(4)), (rng.randn(4, 2), rng.randn(2))]
    return params, rng.randn(5, 3)


def test_matmul_output_read_for_its_shape_is_saved_as_shape():
    # outputs = np.dot(inputs, W) + b: the adjoint of `+` reads t = np.dot(...) only in
    # unbroadcast(boutputs, t), so the loop saves shape_of(t), not the (batch, width) array.
    text = s2s.source(s2s.grad(seeds.logprob_fun))
    assert "stack.append(shape_of(t))" in text
    assert "stack.append(t)" not in text
    params, inputs = _mlp()
    _, tape = vjp_builder.build_vjp(seeds.predict, ("params",)).fwd_cell.cell_contents(params, inputs)
    weights = {id(a) for layer in params for a in layer}
    arrays = [a for a in _arrays(tape) if id(a) not in weights]
    full = sorted(a.shape for a in arrays if not _is_stand_in(a))
    # the input and the two tanh outputs (read by tanh's adjoint) are kept whole...
    assert full == [(5, 2), (5, 3), (5, 4)]
    # ...the two matmul outputs as one-element stand-ins of their shape and dtype
    stand_ins = [a for a in arrays if _is_stand_in(a)]
    assert sorted(a.shape for a in stand_ins if a.ndim == 2) == [(5, 2), (5, 4)]
    assert all(a.base.nbytes == a.itemsize for a in stand_ins)


def _loss(params, inputs, targets):
    return seeds.logprob_fun(params, inputs, targets)


def test_gradients_through_shape_stand_ins_match_finite_differences():
    s2s.config.update("enable_x64", True)
    try:
        params, inputs = _mlp(1)
        targets = np.random.RandomState(2).randn(5, 2)
        grads = s2s.grad(_loss)(params, inputs, targets)
        eps = 1e-6
        for k, (W, b) in enumerate(params):
            for arr, g in ((W, grads[k][0]), (b, grads[k][1])):
                idx = (0,) * arr.ndim
                old = arr[idx]
                arr[idx] = old + eps
                up = _loss(params, inputs, targets)
                arr[idx] = old - eps
                down = _loss(params, inputs, targets)
                arr[idx] = old
                np.testing.assert_allclose(g[idx], (up - down) / (2 * eps), rtol=1e-6)
        # the same gradient under jit and per example under vmap (a loop over examples)
        jitted = s2s.jit(s2s.grad(_loss))(params, inputs, targets)
        for (a, b), (c, d) in zip(jitted, grads):
            np.testing.assert_allclose(a, c, rtol=1e-10)
            np.testing.assert_allclose(b, d, rtol=1e-10)
        per = s2s.vmap(s2s.grad(_loss), in_axes=(None, 0, 0))(params, inputs[:, None], targets[:, None])
        for i in range(5):
            one = s2s.grad(_loss)(params, inputs[i:i + 1], targets[i:i + 1])
            np.testing.assert_allclose(per[0][0][i], one[0][0], rtol=1e-10)
            np.testing.assert_allclose(per[1][1][i], one[1][1], rtol=1e-10)
    finally:
        s2s.config.update("enable_x64", False)
