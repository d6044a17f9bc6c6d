"""Peak memory of the gradient of a 16-layer MLP (width 512, batch 256), with each layer
checkpointed (``s2s.checkpoint``) against without, measured with tracemalloc (NumPy
reports its buffers to it). The parameters and the input are allocated before
measuring, so the peak is what the gradient computation adds: the tape, plus the
transient arrays of one layer.

Both tapes hold one activation per layer: the checkpointed gradient keeps each layer's
input (its arguments, W and b being the parameters themselves), and the plain one keeps
each layer's tanh output alone (the adjoint of ``x @ W + b`` reads no intermediate of
its own), so per-layer checkpointing of this MLP saves nothing; it pays where a
checkpointed function has intermediates its adjoint reads (several layers per block).

The peak table measures the whole gradient call (forward and backward) for plain,
per-layer and per-block checkpointing, twice: with the gradients of the parameters (the
issue's setup: 16 MiB of weight gradients, one per layer, accumulate while the tape
drains, so the peak is the gradients plus a few activations whatever the tape), and with
the gradient of the input alone (the tape is then what the peak holds: one activation
per layer without checkpoint or per layer). With blocks the tape is a quarter, yet the
peak of the input's gradient stays near the plain one: the backward pass of a block
reruns it under reverse mode of the whole block, with every float argument
differentiated, its four weights too (2 activations each, dropped by the caller), while
its own tape (4 activations) lives: 4 block inputs + 4 + 8 + transients ≈ 19
activations against 16 + transients. Under ``nothing_saveable`` the forward pass also
holds a block's record (3 values a layer) while it is made.

The policy rows (``s2s.checkpoint_policies``) checkpoint blocks of four layers under
each policy and give the tape (what the forward pass keeps, in activations of one layer)
and the time of one gradient against the plain one. A policy keeps only the values its
backward pass reads: ``dots_saveable`` keeps each layer's product and recomputes
``+ b`` and ``tanh``; ``everything_saveable`` keeps each tanh output (what plain
reverse mode keeps) and recomputes nothing. A policy'd checkpoint records its body on
every call (see ``s2s.checkpoint_remat``), which the time column includes.

    PYTHONPATH=. python benchmarks/checkpoint_memory.py [--peaks]

(``--peaks``: stop after the peak table, before the timed policy rows.)
"""
import sys
import time
import tracemalloc

import numpy as np

import s2s
import s2s.numpy as snp

DEPTH, WIDTH, BATCH = 16, 512, 256


def layer(W, b, x):
    return snp.tanh(x @ W + b)


checkpointed_layer = s2s.checkpoint(layer)


def loss_plain(params, x):
    for W, b in params:
        x = layer(W, b, x)
    return snp.sum(x)


def loss_checkpointed(params, x):
    for W, b in params:
        x = checkpointed_layer(W, b, x)
    return snp.sum(x)


def block(params, x):
    for W, b in params:
        x = layer(W, b, x)
    return x


checkpointed_block = s2s.checkpoint(block)


def loss_checkpointed_blocks(params, x):
    """Blocks of four layers, each block checkpointed: its tape keeps one input per block."""
    for k in range(0, len(params), 4):
        x = checkpointed_block(params[k:k + 4], x)
    return snp.sum(x)


def blocks_under(policy):
    """The loss with blocks of four layers checkpointed under ``policy``."""
    ck = s2s.checkpoint(block, policy=policy)

    def loss(params, x):
        for k in range(0, len(params), 4):
            x = ck(params[k:k + 4], x)
        return snp.sum(x)
    return loss


POLICIES = {
    "nothing_saveable": s2s.checkpoint_policies.nothing_saveable,
    "dots_saveable": s2s.checkpoint_policies.dots_saveable,
    "dots_with_no_batch_dims_saveable": s2s.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "everything_saveable": s2s.checkpoint_policies.everything_saveable,
}


def seconds(grad_fn, params, x, repeats=3):
    grad_fn(params, x)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        grad_fn(params, x)
        best = min(best, time.perf_counter() - start)
    return best


def peak_bytes(grad_fn, params, x):
    grad_fn(params, x)  # build (and cache) the generated code first
    tracemalloc.start()
    try:
        grads = grad_fn(params, x)
        del grads
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def tape_bytes(loss, params, x):
    """Memory the forward pass keeps for the backward pass (``s2s.vjp``'s pullback)."""
    s2s.vjp(loss, params, x)
    tracemalloc.start()
    try:
        out, pull = s2s.vjp(loss, params, x)
        return tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()


PEAK_ROWS = {
    "plain": loss_plain,
    "per-layer checkpoint": loss_checkpointed,
    "blocks of 4": loss_checkpointed_blocks,
    "blocks of 4, nothing_saveable": blocks_under(s2s.checkpoint_policies.nothing_saveable),
}


def peak_table(params, x, act):
    """Peak of the whole gradient call per row, in MiB and against the plain one: the
    gradients of the parameters and the input, then of the input alone."""
    peaks = {name: (peak_bytes(s2s.grad(loss, argnums=(0, 1)), params, x),
                    peak_bytes(s2s.grad(loss, argnums=1), params, x))
             for name, loss in PEAK_ROWS.items()}
    base = peaks["plain"]
    print(f"\npeak of the whole gradient call (tracemalloc; one activation {act / 2**20:.2f} MiB)")
    print(f"{'':30s} {'grad params, x':>21s} {'grad x alone':>21s}")
    for name, (both, x_only) in peaks.items():
        print(f"{name:30s} {both / 2**20:9.1f} MiB {both / base[0]:6.2f}x "
              f"{x_only / 2**20:9.1f} MiB {x_only / base[1]:6.2f}x")


def main():
    rng = np.random.default_rng(0)
    # float32 after the scaling (NumPy 2 promotes float32 / np.float64 to float64, and the
    # gradient's float32 copy of the parameters would count in the peak)
    params = [((rng.standard_normal((WIDTH, WIDTH)) / np.sqrt(WIDTH)).astype(np.float32),
               np.zeros(WIDTH, np.float32)) for _ in range(DEPTH)]
    x = rng.standard_normal((BATCH, WIDTH)).astype(np.float32)
    plain = peak_bytes(s2s.grad(loss_plain), params, x)
    ck = peak_bytes(s2s.grad(loss_checkpointed), params, x)
    act = BATCH * WIDTH * 4
    grads_bytes = DEPTH * (WIDTH * WIDTH + WIDTH) * 4
    print(f"one activation: {act / 2**20:.2f} MiB, the gradients themselves: {grads_bytes / 2**20:.1f} MiB")
    print(f"peak without checkpoint: {plain / 2**20:.1f} MiB")
    print(f"peak with checkpoint:    {ck / 2**20:.1f} MiB")
    print(f"ratio: {ck / plain:.2f}")
    tp, tc = tape_bytes(loss_plain, params, x), tape_bytes(loss_checkpointed, params, x)
    print(f"tape after the forward pass: {tp / 2**20:.1f} MiB without, {tc / 2**20:.1f} MiB with "
          f"checkpoint (ratio {tc / tp:.2f})")
    print(f"beyond the gradients: {(plain - grads_bytes) / 2**20:.1f} MiB vs "
          f"{(ck - grads_bytes) / 2**20:.1f} MiB, ratio {(ck - grads_bytes) / (plain - grads_bytes):.2f}")
    tb = tape_bytes(loss_checkpointed_blocks, params, x)
    print(f"tape with blocks of four layers checkpointed: {tb / 2**20:.1f} MiB (ratio {tb / tp:.2f})")
    peak_table(params, x, act)
    if "--peaks" in sys.argv:
        return
    plain_time = seconds(s2s.grad(loss_plain), params, x)
    print(f"\nblocks of four layers, per policy (tape in activations; plain: {tp / act:.1f}, "
          f"{plain_time * 1e3:.0f} ms a gradient)")
    print(f"{'policy':34s} {'tape':>6s} {'peak MiB':>9s} {'time/plain':>10s}")
    for name, policy in POLICIES.items():
        loss = blocks_under(policy)
        t = tape_bytes(loss, params, x)
        peak = peak_bytes(s2s.grad(loss), params, x)
        ratio = seconds(s2s.grad(loss), params, x) / plain_time
        print(f"{name:34s} {t / act:6.1f} {peak / 2**20:9.1f} {ratio:10.2f}")


if __name__ == "__main__":
    main()
