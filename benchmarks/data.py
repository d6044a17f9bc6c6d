"""The MLP benchmark's data, NumPy only (so a new process can time importing s2s or jax)."""
import numpy as onp

SIZES = (784, 256, 10)
BATCH = 128


def make_data(seed=0):
    rng = onp.random.RandomState(seed)
    params = [(rng.randn(m, n).astype(onp.float32) * 0.05, rng.randn(n).astype(onp.float32) * 0.05)
              for m, n in zip(SIZES[:-1], SIZES[1:])]
    inputs = rng.randn(BATCH, SIZES[0]).astype(onp.float32)
    targets = rng.randn(BATCH, SIZES[-1]).astype(onp.float32)
    return params, inputs, targets
