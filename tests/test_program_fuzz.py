"""Generated programs with Python control flow and containers (``program_fuzz.py``)
under forward mode, the Jacobians, grad of jvp and jvp of grad, each also under vmap
and jit (vmap's examples from the program's bases, on different paths), plus one
third-order stack (``program_fuzz.STACKS3``) per ``S2S_FUZZ_N // 4`` programs, against
central differences, a loop over examples and eager runs; JAX twins against ``jax``;
and a regression test for each wrong answer the generator found.

``S2S_FUZZ_N`` programs (default 4) with a few stacks each; more by hand::

    PYTHONPATH=. S2S_FUZZ_N=100 python tests/program_fuzz.py --seed 1
"""
import random

import numpy as np
import pytest

import s2s
import s2s.numpy as snp

import composition_checker as checker
import program_fuzz

STACKS_PER_PROGRAM = 3
DEPTH3_PROGRAMS = max(1, program_fuzz.FUZZ_N // 4)  # one third-order stack each


def _sample():
    rng = random.Random(11)
    out = []
    for prog in program_fuzz.programs(program_fuzz.FUZZ_N, seed=1000):
        for names in rng.sample(program_fuzz.STACKS, STACKS_PER_PROGRAM):
            out.append(pytest.param(prog, names, id=f"{prog.name}:{'/'.join(names)}"))
    for prog in program_fuzz.programs(DEPTH3_PROGRAMS, seed=3000):
        names = rng.choice(program_fuzz.STACKS3)
        out.append(pytest.param(prog, names, id=f"{prog.name}:{'/'.join(names)}"))
    return out


@pytest.mark.parametrize("prog,names", _sample())
def test_generated_program_under_stack(prog, names):
    result = checker.run_stack(program_fuzz.subject(prog), names)
    assert result.status != "FAIL", f"{result.detail}\n{prog.source}"


def test_generator_is_deterministic_and_varied():
    a, b = program_fuzz.programs(5, seed=7), program_fuzz.programs(5, seed=7)
    assert [p.source for p in a] == [p.source for p in b]
    assert len({p.source for p in a}) == 5
    features = set().union(*(p.features for p in program_fuzz.programs(40, seed=0)))
    assert {"if", "for", "while", "break", "index_assign", "dict", "closure",
            "recursion", "checkpoint", "checkpoint_policy", "custom_jvp", "custom_vjp",
            "lax.cond", "lax.while_loop", "lax.fori_loop", "lax.scan", "sort",
            "softmax", "logsumexp", "norm"} <= features


def test_vmap_batches_take_different_paths():
    """A vmap's examples come from the program's bases in turn, and most programs with
    predicates have bases on different paths (branches, trip counts): a batch is not
    copies of one example."""
    progs = program_fuzz.programs(20, seed=0)
    with_preds = [p for p in progs if p.paths[0]]
    assert sum(len(set(p.paths)) > 1 for p in with_preds) >= len(with_preds) // 2
    prog = next(p for p in with_preds if len(set(p.paths)) > 1)
    vmap = checker.make_layer("vmap[0,0]")
    x = checker._example_fn(program_fuzz.subject(prog), [vmap], [prog.base.shape], 1)(np.random.default_rng(0))
    for example, base in zip(x, prog.bases):
        np.testing.assert_allclose(example, base, rtol=0.051)


def test_thresholds_keep_away_from_predicate_values():
    """The finished program's predicates stay away from their thresholds at perturbed
    inputs (so finite differences never straddle a branch)."""
    for prog in program_fuzz.programs(4, seed=50):
        for scale in (0.98, 1.0, 1.03):
            x = prog.base * scale
            h = 1e-5
            e = np.zeros_like(x)
            e.flat[0] = h
            # a branch flip inside the step would show as a huge difference quotient
            q = (np.asarray(prog.fn(x + e)) - np.asarray(prog.fn(x - e))) / (2 * h)
            assert np.all(np.abs(q) < 1e3), prog.source


def _jax_programs():
    return [p for p in program_fuzz.programs(30, seed=2000) if p.jax_ok][:1]


@pytest.mark.parametrize("prog", _jax_programs(), ids=lambda p: p.name)
def test_jax_twin_agrees(prog, x64):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jf = program_fuzz.jax_twin(prog)
    x = prog.base
    np.testing.assert_allclose(prog.fn(x), jax.jit(jf)(x), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(s2s.jacfwd(prog.fn)(x), jax.jit(jax.jacfwd(jf))(x), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s2s.jacrev(prog.fn)(x), jax.jit(jax.jacrev(jf))(x), rtol=1e-10, atol=1e-12)
    s2s_h = s2s.hessian(lambda v: snp.sum(prog.fn(v)))(x)
    jax_h = jax.jit(jax.hessian(lambda v: jax.numpy.sum(jf(v))))(x)
    np.testing.assert_allclose(s2s_h, jax_h, rtol=1e-9, atol=1e-11)


# ---------------------------------------------------------------------------
# Regressions: each a wrong answer the generator found.

def _appends_in_loop(x):
    s0 = snp.sum(x * x)
    acc = []
    for r in x:
        acc.append(snp.sin(r) * s0)
    y = snp.sum(snp.stack(acc))
    if s0 > 0.8:
        y = y * 2.0
    return y


def _appends_in_while(x):
    s0 = snp.sum(x * x)
    acc = []
    i = 0
    while i < 4:
        acc.append(snp.sin(x[i]) * s0)
        i = i + 1
    y = snp.sum(snp.stack(acc))
    if s0 > 0.8:
        y = y * 2.0
    return y


def _comprehension_after_early_return(x):
    s0 = snp.sum(x * x)
    if s0 > 0.8:
        return snp.sum(x * 2.0)
    return snp.sum(snp.stack([snp.sin(r) * s0 for r in x]))


@pytest.mark.parametrize("fn", [_appends_in_loop, _appends_in_while, _comprehension_after_early_return])
@pytest.mark.parametrize("x", [[0.3, -0.2, 0.5, 0.1], [0.9, -0.2, 0.5, 0.1]], ids=["small", "large"])
def test_jit_of_grad_through_list_appends_in_loops(fn, x, x64):
    """A loop appending to a list, in a function jit converts (an ``if`` on data): jit's
    ``for_stmt``/``while_stmt`` carried only the loop variables, so ``jit(grad(f))``
    lost the appended values' cotangents and returned zeros (prog102:
    jacrev/jit). A comprehension in a staged branch (after an early return) raised
    "the list 'acc' is appended to inside an `if`" for a list local to the branch."""
    x = np.array(x)
    want = checker._fd_jacobian(fn, x)
    np.testing.assert_allclose(s2s.grad(fn)(x), want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.jit(s2s.grad(fn))(x), want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.jit(s2s.jacrev(fn))(x), want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.jit(fn)(x), fn(x), rtol=1e-12)


def _comprehension(x):
    s0 = snp.sum(x * x)
    return snp.sum(snp.stack([snp.sin(r) * s0 for r in x]))


def _at_set(x):
    v = snp.sin(x).at[0].set(snp.cos(snp.sum(x * x)))
    return snp.sum(v * v)


def _grad_of_jvp_error(fn):
    x = np.array([0.3, -0.2, 0.5, 0.1])
    p = np.stack([x, np.array([1.0, 0.5, -0.3, 0.2])])

    def jvp_of(q):
        return s2s.jvp(fn, (q[0],), (q[1],))[1]
    return np.max(np.abs(s2s.grad(jvp_of)(p) - checker._fd_jacobian(jvp_of, p)))


def test_grad_of_jvp_through_comprehension(x64):
    """grad of jvp of a list comprehension: the reverse pass differentiated the source
    of the forward-mode helper ``zeros_tangent`` and read the structure of the list it
    was given when the list had been appended to since ("expected a tree with
    structure PyTreeDef([*, *, *, *]), got []"). zeros_tangent has a zero derivative."""
    assert _grad_of_jvp_error(_comprehension) < 1e-7


@pytest.mark.xfail(strict=True, raises=s2s.errors.S2SError, reason=(
    "grad of jvp of x.at[i].set/add: the tangent goes through fwd_support.transposed_jvp, "
    "which has no vjp rule, so grad reads its source and refuses its try/except"))
def test_grad_of_jvp_through_at_update(x64):
    assert _grad_of_jvp_error(_at_set) < 1e-7


def _branchy(x):
    s0 = snp.sum(x * x)
    if s0 > 0.5:
        v = x * 2.0
    else:
        v = snp.sin(x)
    k = 0
    while not snp.sum(v * v) > 3.0 and k < 4:
        v = v * 1.3
        k = k + 1
    return v * s0


@pytest.mark.parametrize("x", [[0.3, 0.2], [1.0, 0.5]], ids=["else", "if"])
def test_jit_of_linearize_through_data_control_flow(x, x64):
    """jit of linearize of a function with an `if`/`while` on data raised "a value
    staged by another jit (Recording) leaked": linearize recorded the tangent part, and
    the recording's tangents went through the staged cond. Inside jit, f_jvp is jvp."""
    def lin(p):
        return s2s.linearize(_branchy, p[0])[1](p[1])
    p = np.array([x, [0.7, -0.4]])
    want = checker._fd_jvp(_branchy, p[0], p[1])
    np.testing.assert_allclose(lin(p), want, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(s2s.jit(lin)(p), want, rtol=1e-6, atol=1e-9)


def _branch_only(x):
    s0 = snp.sum(x * x)
    if s0 > 0.5:
        v = x * 2.0
    else:
        v = snp.sin(x)
    return v * s0


def _while_only(x):
    v = x
    k = 0
    while not snp.sum(v * v) > 3.0 and k < 4:
        v = v * 1.3
        k = k + 1
    return v * snp.sum(x)


@pytest.mark.parametrize("fn,names", [
    (_branch_only, ("grad", "jvp", "jit")), (_branch_only, ("jvp", "grad", "jit")),
    (_branch_only, ("hessian", "jit")), (_while_only, ("jvp", "grad", "jit")),
    pytest.param(_while_only, ("grad", "jvp", "jit"), marks=pytest.mark.xfail(strict=True, reason=(
        "jit of jvp of grad through a while on data: the converted batched forward-over-reverse "
        "source keeps a Python `while` on a staged condition (ConcretizationError)"))),
    pytest.param(_while_only, ("hessian", "jit"), marks=pytest.mark.xfail(strict=True, reason=(
        "jit(hessian) through a while on data: as jit(jvp(grad)), a Python `while` on a staged "
        "condition left in the converted batched source (ConcretizationError)"))),
], ids=lambda v: "/".join(v) if isinstance(v, tuple) else getattr(v, "__name__", None))
def test_jit_of_grad_of_jvp_through_data_control_flow(fn, names):
    """grad of jvp under jit through an `if` on data raised ConcretizationError: the
    generated jvp source was differentiated unconverted (jvp_cotangents). It is now
    converted for grad (branches take what they capture as arguments: differentiating
    the plain converted form lost the captured x and dx's cotangents)."""
    result = checker.run_stack(checker.Subject(fn.__name__, fn, np.array([0.3, 0.2, 0.6])), names)
    assert result.status == "ok", result.detail


def _closure_and_branch(x):
    s0 = snp.sum(x * x)
    scale = lambda u: u * s0  # noqa: E731 - the generator's lambda closing over s0
    if s0 > 0.5:
        x = x * 2.0
    return snp.sum(scale(snp.sin(x)))


@pytest.mark.xfail(strict=True, raises=s2s.errors.S2SError, reason=(
    "jit(grad(f)) where f has an `if` on data and a lambda or nested function closing over a "
    "differentiated value: the conversion passes the capture as a keyword argument, which "
    "converted_call_vjp refuses ('cannot differentiate the keyword arguments')"))
def test_jit_grad_of_closure_in_function_with_branch(x64):
    x = np.array([0.3, 0.2, 0.6])
    want = checker._fd_jacobian(_closure_and_branch, x)
    np.testing.assert_allclose(s2s.grad(_closure_and_branch)(x), want, rtol=1e-6)
    np.testing.assert_allclose(s2s.jit(s2s.grad(_closure_and_branch))(x), want, rtol=1e-6)
