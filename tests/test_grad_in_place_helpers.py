"""grad of functions that pass a list to a helper which changes it in place (appends,
sets an item) and then read the list: the helper's generated derivative carries only
its result, so grad traces these calls (exact) instead of giving no or a wrong adjoint
for the change. Checked against central differences in float64, eagerly and under jit.
"""
import numpy as onp
import pytest

import s2s
import s2s.numpy as np
from cases import central_grad


def _append_double(acc, x):
    acc.append(x * 2.0)
    return acc


def _append_sin(acc, x):
    acc.append(np.sin(x))


def _append_and_return_other(acc, x):
    acc.append(x * 2.0)
    return np.cos(x)


def _set_first(acc, x):
    acc[0] = x * 3.0


def _through(acc, x):  # the change is made one call further down
    _set_first(acc, x)


def _copies(acc, x):  # rebinds its parameter first: the caller's list is left alone
    acc = list(acc)
    acc.append(x)
    return acc


def rebinds_result(x):
    acc = [x]
    acc = _append_double(acc, x)
    return np.sum(acc[0] * acc[1])


def result_dropped(x):
    acc = [x]
    _append_sin(acc, x)
    return np.sum(acc[0] * acc[1])


def other_result(x):
    acc = [x]
    y = _append_and_return_other(acc, x)
    return np.sum(acc[0] * acc[1]) + np.sum(y)


def item_set_below(x):
    acc = [x, x]
    _through(acc, x)
    return np.sum(acc[0] * acc[1])


def copy_in_helper(x):
    acc = [x]
    b = _copies(acc, x)
    return np.sum(b[0] * b[1] * x) + np.sum(acc[0])


def item_set_directly(x):
    acc = [x, x]
    _set_first(acc, x)
    return np.sum(acc[0] * acc[1])


CASES = [rebinds_result, result_dropped, other_result, item_set_below, copy_in_helper,
         item_set_directly]
# jit's conversion gives item assignment value semantics; a caller that reads a list a
# helper assigns into runs as written under jit (convert._check_item_assigning_calls).
JIT_CASES = CASES

X = onp.array([0.3, -1.2, 2.0])


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_grad_through_a_helper_that_changes_a_list(f, x64):
    want = central_grad(f, X)
    onp.testing.assert_allclose(s2s.grad(f)(X), want, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("f", JIT_CASES, ids=lambda f: f.__name__)
def test_jit_grad_through_a_helper_that_changes_a_list(f, x64):
    want = central_grad(f, X)
    onp.testing.assert_allclose(s2s.jit(s2s.grad(f))(X), want, rtol=1e-7, atol=1e-8)


def test_the_in_place_change_is_named_when_grad_traces(x64, caplog):
    s2s.config.update("log_transforms", True)
    try:
        s2s.grad(result_dropped)(X)
    finally:
        s2s.config.update("log_transforms", False)
    assert "changes its argument `acc` in place" in caplog.text


@pytest.mark.parametrize("f", CASES, ids=lambda f: f.__name__)
def test_jit_sees_what_a_helper_assigns_into_a_list(f, x64):
    # jit(item_set_below) gave the value without the helper's change (5.5 for 16.6).
    onp.testing.assert_allclose(s2s.jit(f)(X), f(X), rtol=1e-12)


def _set_first_and_return(a, v):
    a[0] = v
    return a


def test_jit_of_a_helper_assigning_into_an_array_the_caller_reads_raises():
    def reads_after(x):
        y = _set_first_and_return(x, 5.0)
        return np.sum(x * y)  # eagerly, x was changed in place by the helper

    def does_not_read(x):
        y = _set_first_and_return(x, 5.0)
        return np.sum(y)

    # Value semantics under jit would give 9.0 where NumPy gives 29.0: an error instead.
    with pytest.raises(TypeError, match="immutable"):
        s2s.jit(reads_after)(onp.array([1.0, 2.0]))
    assert float(s2s.jit(does_not_read)(onp.array([1.0, 2.0]))) == 7.0
