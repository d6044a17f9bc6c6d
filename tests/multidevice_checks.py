"""Checks that need several CPU devices; tests/test_devices.py runs this file in a
subprocess with S2S_NUM_CPU_DEVICES=8 (the device count is fixed once per process).

Each check raises on failure; the script prints one "ok <name>" line per check.
Run by hand: S2S_NUM_CPU_DEVICES=8 python tests/multidevice_checks.py
"""
import os
import sys

import numpy as onp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import s2s  # noqa: E402
from s2s import lax  # noqa: E402
from s2s.sharding import NamedSharding, P, ShardedArray  # noqa: E402
from seed_programs import logprob_fun  # noqa: E402

SPECS = [P(), P("a"), P(None, "b"), P("a", "b"), P("b", "a"), P(("a", "b")), P(("b", "a"), None)]


def check_devices():
    assert s2s.device_count() == 8 and s2s.local_device_count() == 8, s2s.devices()
    assert [d.id for d in s2s.devices()] == list(range(8))
    assert s2s.default_backend() == "cpu" and s2s.process_count() == 1


def check_put_and_gather():
    """Each device holds the slice the sharding names; np.asarray reassembles the whole."""
    mesh = s2s.make_mesh((2, 4), ("a", "b"))
    x = onp.arange(8 * 16, dtype=onp.float32).reshape(8, 16)
    for spec in SPECS:
        y = s2s.device_put(x, NamedSharding(mesh, spec))
        assert isinstance(y, ShardedArray) and y.sharding.spec == spec
        onp.testing.assert_array_equal(onp.asarray(y), x)
        shards = y.addressable_shards
        assert len(shards) == 8 and {s.device for s in shards} == set(s2s.devices())
        for s in shards:
            onp.testing.assert_array_equal(s.data, x[s.index])
            assert s.data.shape == y.sharding.shard_shape(x.shape)


def check_jit_matches_one_device():
    """Sharded jit(grad) equals the single-device jit; XLA inserted the all-reduce."""
    mesh = s2s.make_mesh((8,), ("batch",))
    data, repl = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
    rng = onp.random.RandomState(0)
    w = rng.randn(5, 3).astype(onp.float32)
    x = rng.randn(32, 5).astype(onp.float32)

    def loss(w, x):
        return onp.sum(onp.tanh(x @ w) ** 2)

    sharded = s2s.jit(s2s.grad(loss), in_shardings=(repl, data), out_shardings=repl)
    g = sharded(w, x)
    assert isinstance(g, ShardedArray) and g.sharding == repl and g.is_fully_replicated
    onp.testing.assert_allclose(onp.asarray(g), s2s.jit(s2s.grad(loss))(w, x), rtol=1e-5, atol=1e-6)
    text = sharded.lower(w, x).as_text()
    assert "mhlo.num_partitions = 8" in text and '"{devices=[8,1]0,1,2,3,4,5,6,7}"' in text, text
    assert "all-reduce" in sharded.lower(w, x).compile().hlo_text()
    # A sharded result passed back in keeps its layout; host arrays are split as asked.
    xs = s2s.device_put(x, data)
    again = sharded(s2s.device_put(w, repl), xs)
    onp.testing.assert_allclose(onp.asarray(again), onp.asarray(g), rtol=1e-6)
    # A result fed back in (no put): one more step on device.
    onp.testing.assert_allclose(onp.asarray(sharded(g, xs)),
                                s2s.jit(s2s.grad(loss))(onp.asarray(g), x), rtol=1e-5, atol=1e-6)


def check_propagation_and_constraint():
    mesh = s2s.make_mesh((4, 2), ("a", "b"))
    rows = NamedSharding(mesh, P("a"))
    x = onp.arange(64, dtype=onp.float32).reshape(8, 8)
    xs = s2s.device_put(x, rows)
    y = s2s.jit(lambda v: onp.sin(v) * 2.0)(xs)  # no shardings given: XLA propagates
    onp.testing.assert_allclose(onp.asarray(y), onp.sin(x) * 2.0, rtol=1e-6)
    assert y.sharding.is_equivalent_to(rows, 2), y.sharding

    cols = NamedSharding(mesh, P(None, ("a", "b")))

    def f(v):
        return lax.with_sharding_constraint(v * 3.0, cols).sum(axis=0)

    jf = s2s.jit(f)
    assert "@Sharding" in jf.lower(x).as_text()
    # No in/out shardings: the constraint alone places the computation on its devices.
    assert jf(x).sharding.device_list == cols.device_list
    onp.testing.assert_allclose(onp.asarray(jf(x)), (x * 3.0).sum(axis=0), rtol=1e-6)
    # The constraint's derivative is the identity.
    onp.testing.assert_allclose(onp.asarray(s2s.jit(s2s.grad(lambda v: f(v).sum()))(x)),
                                onp.full_like(x, 3.0))


def check_data_parallel_mlp():
    """Data-parallel training of the seeds' MLP on 8 devices gives the 1-device parameters."""
    rng = onp.random.RandomState(1)
    sizes = (12, 16, 4)
    params = [(rng.randn(m, n).astype(onp.float32) * 0.3, rng.randn(n).astype(onp.float32) * 0.1)
              for m, n in zip(sizes[:-1], sizes[1:])]
    inputs = rng.randn(64, sizes[0]).astype(onp.float32)
    targets = rng.randn(64, sizes[-1]).astype(onp.float32)

    def update(params, inputs, targets):
        grads = s2s.grad(logprob_fun)(params, inputs, targets)
        return [(W - 0.01 * dW, b - 0.01 * db) for (W, b), (dW, db) in zip(params, grads)]

    mesh = s2s.make_mesh((8,), ("batch",))
    data, repl = NamedSharding(mesh, P("batch")), NamedSharding(mesh, P())
    step8 = s2s.jit(update, in_shardings=(repl, data, data), out_shardings=repl)
    step1 = s2s.jit(update)
    p8 = s2s.device_put(params, repl)
    x8, y8 = s2s.device_put((inputs, targets), data)
    p1 = params
    for _ in range(5):
        p8 = step8(p8, x8, y8)
        p1 = step1(p1, inputs, targets)
    for (W8, b8), (W1, b1), (W0, _) in zip(p8, p1, params):
        assert W8.sharding == repl
        assert onp.abs(onp.asarray(W1) - W0).max() > 1e-3  # training moved the parameters
        onp.testing.assert_allclose(onp.asarray(W8), W1, rtol=2e-5, atol=2e-6)
        onp.testing.assert_allclose(onp.asarray(b8), b1, rtol=2e-5, atol=2e-6)


def check_errors():
    mesh = s2s.make_mesh((8,), ("batch",))
    other = s2s.sharding.Mesh(onp.array(s2s.devices()[:4]), ("batch",))
    f = s2s.jit(lambda a, b: a + b, in_shardings=(NamedSharding(mesh, P()), NamedSharding(other, P())))
    _raises(ValueError, "different device lists", f, onp.ones(4), onp.ones(4))
    _raises(ValueError, "cannot be split evenly",
            s2s.device_put, onp.ones(6), NamedSharding(mesh, P("batch")))
    _raises(ValueError, "names axes", NamedSharding, mesh, P("model"))
    _raises(ValueError, "needs 6 devices", s2s.make_mesh, (2, 3), ("a", "b"))


def _raises(exc, words, fn, *args):
    try:
        fn(*args)
    except exc as e:
        assert words in str(e), str(e)
        return
    raise AssertionError(f"{fn} did not raise {exc.__name__}")


def check_no_jax_import():
    assert "jax" not in sys.modules, "s2s imported jax"


def check_specs_match_jax():
    """Our HloSharding of each spec is the one jax writes (when jax is installed)."""
    try:
        import jax
        from jax.sharding import NamedSharding as JNamed, PartitionSpec as JP
    except ImportError:
        return
    if len(jax.devices("cpu")) < 8:
        return
    mesh = s2s.make_mesh((2, 4), ("a", "b"))
    jmesh = jax.sharding.Mesh(onp.array(jax.devices("cpu")[:8]).reshape(2, 4), ("a", "b"))
    for spec in SPECS:
        ours = NamedSharding(mesh, spec).hlo_sharding(2)
        theirs = JNamed(jmesh, JP(*spec))._to_xla_hlo_sharding(2)
        # The same layout; jax may write it in the compact iota form.
        assert (ours.is_replicated() and theirs.is_replicated()) or (
            ours.tile_assignment_dimensions() == theirs.tile_assignment_dimensions()
            and list(ours.tile_assignment_devices()) == list(theirs.tile_assignment_devices())
            and ours.replicate_on_last_tile_dim() == theirs.replicate_on_last_tile_dim()), (
            spec, ours, theirs)


if __name__ == "__main__":
    for name, check in list(globals().items()):
        if name.startswith("check_"):
            check()
            print("ok", name[len("check_"):], flush=True)
