"""Newton's method for logistic regression, with the Hessian from ``s2s.hessian``.

``s2s.hessian`` is forward mode over reverse mode (``jacfwd(grad(loss))``); each
Newton step solves ``H d = g`` and converges quadratically, to the optimum of an
L2-regularised logistic regression (digit 3 against digit 8 of scikit-learn's
digits) in a handful of steps. A progress bar shows the loss and gradient norm;
their curves are written to ``newton_logistic.png`` in the current directory.

Run: python examples/newton_logistic.py
(needs the ``examples`` extra: pip install '.[examples]')
"""
import argparse
import os

import numpy as onp

import s2s
import s2s.numpy as np

L2 = 1e-2


def load_data():
    """Digits 3 (label 0) and 8 (label 1) as float32 features in [0, 1] with a bias column."""
    from sklearn.datasets import load_digits
    digits = load_digits()
    keep = (digits.target == 3) | (digits.target == 8)
    x = (digits.data[keep] / 16.0).astype(onp.float32)
    x = onp.concatenate([x, onp.ones((len(x), 1), onp.float32)], axis=1)
    return x, (digits.target[keep] == 8).astype(onp.float32)


def loss(w, x, y):
    """Mean logistic loss plus ``L2 / 2 * |w|^2``."""
    logits = np.dot(x, w)
    return np.mean(np.logaddexp(0.0, logits) - y * logits) + 0.5 * L2 * np.sum(w * w)


def newton(x, y, steps=10, tol=1e-4, on_step=None):
    """Newton iterations from zero; returns the weights and the (loss, |grad|) history."""
    w = onp.zeros(x.shape[1], onp.float32)
    grad = s2s.jit(s2s.grad(loss))
    hessian = s2s.hessian(loss)  # eager: one 65x65 matrix per step, no compile needed
    history = []
    for i in range(steps):
        g = grad(w, x, y)
        history.append((float(loss(w, x, y)), float(np.linalg.norm(g))))
        if on_step is not None:
            on_step(i, *history[-1])
        if history[-1][1] < tol:
            break
        w = w - np.linalg.solve(hessian(w, x, y), g)
    return w, history


def plot(history, path):
    """Loss and gradient norm per Newton step, written as a PNG to ``path``."""
    import matplotlib
    matplotlib.use("Agg")  # no window: the picture goes to a file
    import matplotlib.pyplot as plt
    steps = onp.arange(len(history))
    fig, (ax_loss, ax_grad) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.plot(steps, [h[0] for h in history], marker="o")
    ax_loss.set(xlabel="Newton step", ylabel="loss", title="loss")
    ax_grad.semilogy(steps, [h[1] for h in history], marker="o", color="tab:red")
    ax_grad.set(xlabel="Newton step", ylabel="|gradient|", title="gradient norm")
    fig.suptitle("Newton's method with s2s.hessian (forward over reverse)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    from tqdm import tqdm
    x, y = load_data()
    with tqdm(desc="newton", unit="step") as bar:
        def on_step(i, value, norm):
            bar.set_postfix(loss=f"{value:.5f}", grad_norm=f"{norm:.1e}")
            bar.update()
        w, history = newton(x, y, on_step=on_step)
    accuracy = float(np.mean((np.dot(x, w) > 0) == (y > 0.5)))
    path = os.path.abspath("newton_logistic.png")
    plot(history, path)
    print(f"converged in {len(history) - 1} Newton steps: |grad| {history[-1][1]:.1e}, "
          f"training accuracy {accuracy:.3f}")
    print(f"plot written to {path}")
    return history


if __name__ == "__main__":
    main()
