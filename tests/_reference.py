"""A small, independent NumPy implementation of the network, the oracle for the kernels.

It is written for clarity, not speed: lists of per-layer arrays, float64 arithmetic,
the loss and gradient definitions of scikit-learn's MLP (with the multi-output squared
error gradient made consistent with its loss).
"""

import numpy as np
from scipy.special import expit, xlogy

from bpnet._layout import NetworkLayout

ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "exp": np.exp,
    "softmax": lambda z: np.exp(z - z.max(axis=1, keepdims=True))
    / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True),
}

# Derivatives with respect to z, written from the output a = f(z).
DERIVATIVES = {
    "identity": lambda a: np.ones_like(a),
    "logistic": lambda a: a * (1 - a),
    "tanh": lambda a: 1 - a**2,
    "relu": lambda a: (a > 0).astype(a.dtype),
}

OUTPUT_FOR_LOSS = {
    "squared_error": "identity",
    "log_loss": "softmax",
    "binary_log_loss": "logistic",
    "poisson": "exp",
}


def per_row_loss(loss, prob, y):
    """Loss of each row, as scikit-learn's MLP averages it."""
    eps = np.finfo(prob.dtype).eps
    if loss == "squared_error":
        return 0.5 * ((y - prob) ** 2).mean(axis=1)
    if loss == "log_loss":
        return -xlogy(y, np.clip(prob, eps, 1 - eps)).sum(axis=1)
    if loss == "binary_log_loss":
        p = np.clip(prob, eps, 1 - eps)
        return -(xlogy(y, p) + xlogy(1 - y, 1 - p)).sum(axis=1)
    if loss == "poisson":
        return (xlogy(y, y / prob) - y + prob).sum(axis=1)
    raise ValueError(loss)


def output_delta(loss, prob, y):
    """d(row loss)/dz for the canonical output of each loss."""
    delta = prob - y
    if loss == "squared_error":
        delta = delta / y.shape[1]
    return delta


def make_layout(layer_units, hidden_activation, loss):
    n_layers = len(layer_units) - 1
    activations = [hidden_activation] * (n_layers - 1) + [OUTPUT_FOR_LOSS[loss]]
    return NetworkLayout(layer_units, activations)


def forward(layout, params, X):
    """Outputs of every layer, as a list."""
    coefs, intercepts = layout.unpack(np.asarray(params, dtype=np.float64))
    outputs, a = [], np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    for coef, intercept, name in zip(coefs, intercepts, layout.activations):
        a = ACTIVATIONS[name](a @ coef + intercept)
        outputs.append(a)
    return outputs


def loss_and_gradient(layout, loss, alpha, params, X, Y, sample_weight=None):
    """Full-batch loss and gradient, as bpnet._kernels.loss_gradient defines them."""
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None or len(sample_weight) == 0 else np.asarray(sample_weight, np.float64)
    params = np.asarray(params, dtype=np.float64)
    coefs, _ = layout.unpack(params)
    outputs = forward(layout, params, X)
    weight_sum = w.sum()
    value = (w * per_row_loss(loss, outputs[-1], Y)).sum() / weight_sum
    value += 0.5 * alpha * sum((c**2).sum() for c in coefs) / weight_sum

    grad = np.zeros_like(params)
    grad_coefs, grad_intercepts = layout.unpack(grad)
    delta = output_delta(loss, outputs[-1], Y) * w[:, None]
    inputs = [X] + outputs[:-1]
    for layer in range(len(coefs) - 1, -1, -1):
        grad_coefs[layer][...] = (inputs[layer].T @ delta + alpha * coefs[layer]) / weight_sum
        grad_intercepts[layer][...] = delta.sum(axis=0) / weight_sum
        if layer > 0:
            delta = (delta @ coefs[layer].T) * DERIVATIVES[layout.activations[layer - 1]](outputs[layer - 1])
    return value, grad


def sgd_epoch(layout, loss, alpha, params, X, Y, sample_weight, order, batch_size, optimizer):
    """One epoch of minibatch training; returns the loss sum and the new parameters.

    `optimizer` is a dict: solver ('sgd' or 'adam'), learning_rate, momentum, nesterov,
    beta_1, beta_2, epsilon, and its state velocity / m / v / t, updated in place.
    """
    params = np.array(params, dtype=np.float64)
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        w = None if sample_weight is None or len(sample_weight) == 0 else sample_weight[rows]
        value, grad = loss_and_gradient(layout, loss, alpha, params, X[rows], Y[rows], w)
        loss_sum += value * len(rows)
        lr = optimizer["learning_rate"]
        if optimizer["solver"] == "sgd":
            velocity = optimizer["momentum"] * optimizer["velocity"] - lr * grad
            optimizer["velocity"] = velocity
            step = optimizer["momentum"] * velocity - lr * grad if optimizer["nesterov"] else velocity
        else:
            optimizer["t"] += 1
            t, b1, b2 = optimizer["t"], optimizer["beta_1"], optimizer["beta_2"]
            optimizer["m"] = b1 * optimizer["m"] + (1 - b1) * grad
            optimizer["v"] = b2 * optimizer["v"] + (1 - b2) * grad**2
            rate = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            step = -rate * optimizer["m"] / (np.sqrt(optimizer["v"]) + optimizer["epsilon"])
        params += step
    return loss_sum, params
