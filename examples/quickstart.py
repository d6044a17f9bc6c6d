"""Quickstart: grad and jit on the seeds' small models, with the generated source.

Run: python examples/quickstart.py
"""
import numpy as onp

import s2s
import s2s.numpy as np


# -- grad: derivatives as readable Python source --------------------------------

def tanh(x):
    y = np.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


grad_tanh = s2s.grad(tanh)
print("grad(tanh)(1.0) =", grad_tanh(1.0))
print("\nThe source s2s wrote for grad(tanh):\n")
print(s2s.source(grad_tanh))


# -- grad through Python control flow -------------------------------------------

def abs_val(x):
    if x > 0:
        return x
    else:
        return -x


print("grad(abs_val)(1.0) =", s2s.grad(abs_val)(1.0), " grad(abs_val)(-1.0) =", s2s.grad(abs_val)(-1.0))


# -- jit(grad(...)): logistic regression trained with a compiled gradient -------

def sigmoid(x):
    return 0.5 * (np.tanh(x / 2.) + 1)


def logistic_predictions(weights, inputs):
    return sigmoid(np.dot(inputs, weights))


def loss(weights, inputs, targets):
    preds = logistic_predictions(weights, inputs)
    label_logprobs = np.log(preds) * targets + np.log(1 - preds) * (1 - targets)
    return -np.sum(label_logprobs)


inputs = np.array([[0.52, 1.12, 0.77],
                   [0.88, -1.08, 0.15],
                   [0.52, 0.06, -1.30],
                   [0.74, -2.49, 1.39]])
targets = np.array([True, True, False, True])

training_gradient_fun = s2s.jit(s2s.grad(loss))
weights = np.array([0.0, 0.0, 0.0])
print("\nInitial loss: {:0.2f}".format(loss(weights, inputs, targets)))
for i in range(100):
    weights -= 0.1 * training_gradient_fun(weights, inputs, targets)
print("Trained loss: {:0.2f}".format(loss(weights, inputs, targets)))


# -- jit: plain Python `if`/`while` on data still compiles ------------------------

@s2s.jit
def newton_sqrt(a):
    x = a
    while np.abs(x * x - a) > 1e-5 * a:
        x = 0.5 * (x + a / x)
    return x


print("\nnewton_sqrt(2.0) =", newton_sqrt(onp.float32(2.0)), "(a data-dependent while loop, compiled)")


# -- per-example gradients of a small MLP: vmap of grad ------------------------

def predict(params, inputs):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs


def logprob_fun(params, inputs, targets):
    preds = predict(params, inputs)
    return np.sum((preds - targets) ** 2)


rng = onp.random.RandomState(0)
params = [(rng.randn(3, 4).astype("float32"), rng.randn(4).astype("float32")),
          (rng.randn(4, 2).astype("float32"), rng.randn(2).astype("float32"))]
xs, ys = rng.randn(5, 3).astype("float32"), rng.randn(5, 2).astype("float32")
# vmap reads grad's generated source and writes its batched form (params shared).
perex_grad_fun = s2s.jit(s2s.vmap(s2s.grad(logprob_fun), in_axes=(None, 0, 0)))
perex_grads = perex_grad_fun(params, xs, ys)
print("per-example gradients of W1 have shape", perex_grads[0][0].shape, "(examples first)")
