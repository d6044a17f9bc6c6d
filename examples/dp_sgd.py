"""Differentially private SGD on the 8x8 digits: per-example gradients with vmap(grad).

Each step computes every example's gradient at once with ``s2s.vmap(s2s.grad(loss))``,
clips each to norm ``l2_clip``, sums them, adds Gaussian noise of scale
``noise * l2_clip`` and averages (Abadi et al. 2016). The same network trained
without privacy is the reference. A progress bar shows both accuracies; the curves
are written to ``dp_sgd.png`` in the current directory.

Run: python examples/dp_sgd.py [--epochs N]
(needs the ``examples`` extra: pip install '.[examples]')
"""
import argparse
import os

import numpy as onp

import s2s
import s2s.numpy as np
from s2s import random, tree_util
from s2s.example_libraries import optimizers, stax

init_net, predict = stax.serial(stax.Dense(64), stax.Relu, stax.Dense(10), stax.LogSoftmax)


def load_data(seed=0, test_fraction=0.2):
    """Digits as float32 vectors in [0, 1] and one-hot labels, split train/test."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    x = (digits.data / 16.0).astype(onp.float32)
    y = onp.eye(10, dtype=onp.float32)[digits.target]
    order = onp.random.default_rng(seed).permutation(len(x))
    n_test = int(len(x) * test_fraction)
    return (x[order[n_test:]], y[order[n_test:]]), (x[order[:n_test]], y[order[:n_test]])


def loss(params, x, y):
    """Mean cross-entropy of a batch."""
    return -np.mean(np.sum(predict(params, x) * y, axis=-1))


def example_loss(params, x, y):
    """The loss of one example (vmap adds the batch)."""
    return loss(params, x[None], y[None])


def accuracy(params, x, y):
    return np.mean(np.argmax(predict(params, x), axis=1) == np.argmax(y, axis=1))


def private_grad(params, x, y, key, l2_clip, noise):
    """The noised mean of the clipped per-example gradients."""
    per_example = s2s.vmap(s2s.grad(example_loss), in_axes=(None, 0, 0))(params, x, y)
    leaves = tree_util.tree_leaves(per_example)
    norms = np.sqrt(sum(np.sum(np.reshape(g, (g.shape[0], -1)) ** 2, axis=1) for g in leaves))
    scale = 1.0 / np.maximum(1.0, norms / l2_clip)
    keys = random.split(key, len(leaves))
    batch = x.shape[0]
    noised = []
    for g, k in zip(leaves, keys):
        clipped = np.sum(g * np.reshape(scale, (-1,) + (1,) * (g.ndim - 1)), axis=0)
        noised.append((clipped + noise * l2_clip * random.normal(k, clipped.shape)) / batch)
    return tree_util.tree_unflatten(tree_util.tree_structure(params), noised)


def train(private, epochs=6, batch_size=64, step_size=0.5, l2_clip=1.0, noise=1.1, seed=0,
          on_epoch=None):
    """Trains with (``private``) or without DP-SGD; returns the held-out accuracy per epoch."""
    (train_x, train_y), (test_x, test_y) = load_data(seed)
    _, params = init_net(random.PRNGKey(seed), (-1, 64))
    opt_init, opt_update, get_params = optimizers.sgd(step_size)
    opt_state = opt_init(params)
    if private:
        # Eager: vmap(grad) runs as batched NumPy code, which at this size is quicker
        # than compiling it.
        grad_fn = lambda p, x, y, k: private_grad(p, x, y, k, l2_clip, noise)  # noqa: E731
    else:
        plain = s2s.jit(s2s.grad(loss))
        grad_fn = lambda p, x, y, k: plain(p, x, y)  # noqa: E731
    update = s2s.jit(opt_update)
    evaluate = s2s.jit(accuracy)
    rng, key = onp.random.default_rng(seed), random.PRNGKey(seed + 1)
    accuracies, step = [], 0
    for epoch in range(epochs):
        order = rng.permutation(len(train_x))
        for b in range(len(train_x) // batch_size):
            idx = order[b * batch_size:(b + 1) * batch_size]
            key, sub = random.split(key)
            grads = grad_fn(get_params(opt_state), train_x[idx], train_y[idx], sub)
            opt_state = update(step, grads, opt_state)
            step += 1
        accuracies.append(float(evaluate(get_params(opt_state), test_x, test_y)))
        if on_epoch is not None:
            on_epoch(epoch, accuracies[-1])
    return accuracies


def plot(private, plain, path):
    """Held-out accuracy per epoch of both trainings, written as a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")  # no window: the picture goes to a file
    import matplotlib.pyplot as plt
    epochs = onp.arange(1, len(private) + 1)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs, plain, marker="o", label="SGD")
    ax.plot(epochs, private, marker="o", label="DP-SGD (clip 1.0, noise 1.1)")
    ax.set(xlabel="epoch", ylabel="held-out accuracy", title="per-example gradients with vmap(grad)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args(argv)
    from tqdm import tqdm
    results = {}
    for private in (False, True):
        name = "DP-SGD" if private else "SGD"
        with tqdm(total=args.epochs, desc=name, unit="epoch") as bar:
            def on_epoch(epoch, acc, bar=bar):
                bar.set_postfix(test_acc=f"{acc:.3f}")
                bar.update()
            results[name] = train(private, epochs=args.epochs, on_epoch=on_epoch)
    path = os.path.abspath("dp_sgd.png")
    plot(results["DP-SGD"], results["SGD"], path)
    print(f"held-out accuracy: SGD {results['SGD'][-1]:.3f}, DP-SGD {results['DP-SGD'][-1]:.3f}")
    print(f"plot written to {path}")
    return results


if __name__ == "__main__":
    main()
