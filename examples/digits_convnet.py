"""A small convnet on scikit-learn's 8x8 digits, built with stax and trained with adam.

The training step is ``s2s.jit`` of ``s2s.grad`` of the loss, and ``opt_update``
runs under ``s2s.jit`` too. A progress bar shows each epoch's loss and held-out
accuracy; the curves are written to ``digits_convnet.png`` in the current directory.

Run: python examples/digits_convnet.py [--epochs N]
(needs the ``examples`` extra: pip install '.[examples]')
"""
import argparse
import os

import numpy as onp

import s2s
import s2s.numpy as np
from s2s import random
from s2s.example_libraries import optimizers, stax


def load_data(seed=0, test_fraction=0.2):
    """Digits as float32 NHWC images in [0, 1] and one-hot labels, split train/test."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = (digits.images / 16.0).astype(onp.float32)[..., None]
    labels = onp.eye(10, dtype=onp.float32)[digits.target]
    order = onp.random.default_rng(seed).permutation(len(images))
    n_test = int(len(images) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    return (images[train], labels[train]), (images[test], labels[test])


init_net, predict = stax.serial(
    stax.Conv(16, (3, 3), padding="SAME"), stax.Relu, stax.MaxPool((2, 2), (2, 2)),
    stax.Conv(32, (3, 3), padding="SAME"), stax.Relu, stax.MaxPool((2, 2), (2, 2)),
    stax.Flatten, stax.Dense(64), stax.Relu, stax.Dense(10), stax.LogSoftmax)


def loss(params, images, labels):
    return -np.mean(np.sum(predict(params, images) * labels, axis=1))


def accuracy(params, images, labels):
    return np.mean(np.argmax(predict(params, images), axis=1) == np.argmax(labels, axis=1))


def train(epochs=8, batch_size=32, step_size=3e-3, seed=0, progress=True):
    """Trains the convnet; returns the parameters and a per-epoch history."""
    (train_x, train_y), (test_x, test_y) = load_data(seed)
    _, params = init_net(random.PRNGKey(seed), (-1, 8, 8, 1))
    opt_init, opt_update, get_params = optimizers.adam(step_size)
    opt_state = opt_init(params)
    loss_and_grad = s2s.jit(s2s.value_and_grad(loss))
    update = s2s.jit(opt_update)
    evaluate = s2s.jit(accuracy)
    rng = onp.random.default_rng(seed)
    batches = len(train_x) // batch_size
    history = {"loss": [], "test_accuracy": []}
    epochs_iter = range(epochs)
    if progress:
        from tqdm import tqdm
        epochs_iter = tqdm(epochs_iter, desc="digits convnet", unit="epoch")
    step = 0
    for _ in epochs_iter:
        order = rng.permutation(len(train_x))
        total = 0.0
        for b in range(batches):
            idx = order[b * batch_size:(b + 1) * batch_size]
            value, grads = loss_and_grad(get_params(opt_state), train_x[idx], train_y[idx])
            opt_state = update(step, grads, opt_state)
            total += float(value)
            step += 1
        history["loss"].append(total / batches)
        history["test_accuracy"].append(float(evaluate(get_params(opt_state), test_x, test_y)))
        if progress:
            epochs_iter.set_postfix(loss=f"{history['loss'][-1]:.3f}",
                                    test_acc=f"{history['test_accuracy'][-1]:.3f}")
    return get_params(opt_state), history


def plot(history, path):
    """Loss and accuracy curves, written as a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")  # no window: the picture goes to a file
    import matplotlib.pyplot as plt
    epochs = onp.arange(1, len(history["loss"]) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(epochs, history["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="mean training loss", title="loss")
    ax_acc.plot(epochs, history["test_accuracy"], marker="o", color="tab:orange")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="held-out accuracy")
    fig.suptitle("stax convnet on 8x8 digits: adam under s2s.jit(s2s.value_and_grad)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    args = parser.parse_args(argv)
    _, history = train(epochs=args.epochs)
    path = os.path.abspath("digits_convnet.png")
    plot(history, path)
    print(f"held-out accuracy: {history['test_accuracy'][-1]:.3f}")
    print(f"plot written to {path}")
    return history


if __name__ == "__main__":
    main()
