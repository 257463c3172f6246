"""A small, independent NumPy implementation of the network, the oracle for the kernels.

It is written for clarity, not speed: lists of per-layer arrays, float64 arithmetic,
the loss and gradient definitions of scikit-learn's MLP (with the multi-output squared
error gradient made consistent with its loss).
"""

import numpy as np
from scipy.special import erf, expit, xlogy

from bpnet._layout import NetworkLayout

ACTIVATIONS = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
    "exp": np.exp,
    "softmax": lambda z: (
        np.exp(z - z.max(axis=1, keepdims=True))
        / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1, keepdims=True)
    ),
    "leaky_relu": lambda z: np.where(z < 0, 0.01 * z, z),
    "elu": lambda z: np.where(z < 0, np.expm1(np.minimum(z, 0)), z),
    "gelu": lambda z: 0.5 * z * (1 + erf(z / np.sqrt(2))),
    "silu": lambda z: z * expit(z),
}

# Derivatives with respect to z, written from z itself: independent of the kernels'
# choice of computing most of them from the output.
DERIVATIVES_FROM_Z = {
    "identity": lambda z: np.ones_like(z),
    "logistic": lambda z: expit(z) * (1 - expit(z)),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "leaky_relu": lambda z: np.where(z > 0, 1.0, 0.01),
    "elu": lambda z: np.where(z > 0, 1.0, np.exp(np.minimum(z, 0))),
    "gelu": lambda z: (
        0.5 * (1 + erf(z / np.sqrt(2))) + z * np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    ),
    "silu": lambda z: expit(z) * (1 + z * (1 - expit(z))),
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
    "huber": "identity",
    "quantile": "identity",
}


def smoothed(loss, y, label_smoothing):
    """The log-losses' targets with label smoothing: towards uniform over a softmax row's
    classes, or over a logistic output's two values."""
    if loss == "log_loss":
        return (1 - label_smoothing) * y + label_smoothing / y.shape[1]
    if loss == "binary_log_loss":
        return (1 - label_smoothing) * y + label_smoothing / 2
    return y


def per_row_loss(loss, prob, y, huber_threshold=1.0, quantile=0.5, label_smoothing=0.0):
    """Loss of each row, as scikit-learn's MLP averages it (regression losses: the mean
    over the outputs; the others: the sum)."""
    eps = np.finfo(prob.dtype).eps
    y = smoothed(loss, y, label_smoothing)
    if loss == "squared_error":
        return 0.5 * ((y - prob) ** 2).mean(axis=1)
    if loss == "huber":
        r = np.abs(prob - y)
        quadratic = 0.5 * r**2
        linear = huber_threshold * (r - 0.5 * huber_threshold)
        return np.where(r <= huber_threshold, quadratic, linear).mean(axis=1)
    if loss == "quantile":
        return np.where(y >= prob, quantile * (y - prob), (1 - quantile) * (prob - y)).mean(axis=1)
    if loss == "log_loss":
        return -xlogy(y, np.clip(prob, eps, 1 - eps)).sum(axis=1)
    if loss == "binary_log_loss":
        p = np.clip(prob, eps, 1 - eps)
        return -(xlogy(y, p) + xlogy(1 - y, 1 - p)).sum(axis=1)
    if loss == "poisson":
        return (xlogy(y, y / prob) - y + prob).sum(axis=1)
    raise ValueError(loss)


def output_delta(loss, prob, y, huber_threshold=1.0, quantile=0.5, label_smoothing=0.0):
    """d(row loss)/dz for the canonical output of each loss."""
    y = smoothed(loss, y, label_smoothing)
    delta = prob - y
    if loss == "huber":
        delta = np.clip(delta, -huber_threshold, huber_threshold)
    if loss == "quantile":
        delta = np.where(y >= prob, -quantile, 1 - quantile)
    if loss in ("squared_error", "huber", "quantile"):
        delta = delta / y.shape[1]
    return delta


def make_layout(layer_units, hidden_activation, loss):
    """A layout with one hidden activation name for all hidden layers, or a list of them."""
    n_layers = len(layer_units) - 1
    hidden = (
        [hidden_activation] * (n_layers - 1)
        if isinstance(hidden_activation, str)
        else list(hidden_activation)
    )
    return NetworkLayout(layer_units, hidden + [OUTPUT_FOR_LOSS[loss]])


def forward(layout, params, X, masks=None):
    """Outputs of every layer (after dropout, where ``masks`` gives a layer's mask), and
    every layer's z, as two lists."""
    coefs, intercepts = layout.unpack(np.asarray(params, dtype=np.float64))
    outputs, zs, a = (
        [],
        [],
        np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64),
    )
    for layer, (coef, intercept, name) in enumerate(zip(coefs, intercepts, layout.activations)):
        z = a @ coef + intercept
        a = ACTIVATIONS[name](z)
        if masks is not None and masks[layer] is not None:
            a = a * masks[layer]
        zs.append(z)
        outputs.append(a)
    return outputs, zs


def embedded_inputs(layout, params, X, codes):
    """The first layer's inputs: X's columns, then each embedding table's rows that the
    codes pick (one column of ``codes`` per table)."""
    tables = layout.unpack_embeddings(np.asarray(params, dtype=np.float64))
    picked = [table[np.asarray(codes)[:, t]] for t, table in enumerate(tables)]
    return np.hstack([np.asarray(X, dtype=np.float64), *picked])


def loss_and_gradient(
    layout, loss, alpha, params, X, Y, sample_weight=None, masks=None, codes=None, **loss_params
):
    """Full-batch loss and gradient, as bpnet._kernels.loss_gradient defines them.

    ``masks``: dropout's per-layer masks (None for a layer without dropout), as
    train_epoch draws them; ``codes``: each row's code per embedding, for a layout with
    embeddings, whose tables' gradient is the first layer's input gradient summed over
    the rows that picked each table row; ``loss_params``: huber_threshold, quantile.
    """
    X = np.asarray(X.toarray() if hasattr(X, "toarray") else X, dtype=np.float64)
    if layout.embeddings:
        X = embedded_inputs(layout, params, X, codes)
    Y = np.asarray(Y, dtype=np.float64)
    w = (
        np.ones(len(X))
        if sample_weight is None or len(sample_weight) == 0
        else np.asarray(sample_weight, np.float64)
    )
    params = np.asarray(params, dtype=np.float64)
    coefs, _ = layout.unpack(params)
    outputs, zs = forward(layout, params, X, masks)
    weight_sum = w.sum()
    value = (w * per_row_loss(loss, outputs[-1], Y, **loss_params)).sum() / weight_sum
    value += 0.5 * alpha * sum((c**2).sum() for c in coefs) / weight_sum

    grad = np.zeros_like(params)
    grad_coefs, grad_intercepts = layout.unpack(grad)
    delta = output_delta(loss, outputs[-1], Y, **loss_params) * w[:, None]
    inputs = [X] + outputs[:-1]
    for layer in range(len(coefs) - 1, -1, -1):
        grad_coefs[layer][...] = (inputs[layer].T @ delta + alpha * coefs[layer]) / weight_sum
        grad_intercepts[layer][...] = delta.sum(axis=0) / weight_sum
        if layer > 0:
            below = layer - 1
            delta = (delta @ coefs[layer].T) * DERIVATIVES_FROM_Z[layout.activations[below]](
                zs[below]
            )
            if masks is not None and masks[below] is not None:
                delta = delta * masks[below]
    inputs_grad = delta @ coefs[0].T / weight_sum
    column = layout.n_dense
    for t, table_grad in enumerate(layout.unpack_embeddings(grad)):
        dim = table_grad.shape[1]
        np.add.at(table_grad, np.asarray(codes)[:, t], inputs_grad[:, column : column + dim])
        column += dim
    return value, grad


def dropout_masks(layout, rates, seed, epoch, rows):
    """Each layer's dropout mask for these rows of the training data, drawn by the
    kernels' generator (its test entry), or None for a layer without dropout."""
    from bpnet._kernels import dropout_mask_py

    masks, unit_start = [], 0
    for units, rate in zip(layout.layer_units[1:], rates):
        rows_ = np.ascontiguousarray(rows, dtype=np.intp)
        masks.append(
            dropout_mask_py(seed, epoch, rows_, unit_start, units, rate) if rate > 0 else None
        )
        unit_start += units
    return masks


def sgd_epoch(
    layout,
    loss,
    alpha,
    params,
    X,
    Y,
    sample_weight,
    order,
    batch_size,
    optimizer,
    dropout=None,
    max_grad_norm=None,
    weight_decay=0.0,
    codes=None,
    **loss_params,
):
    """One epoch of minibatch training; returns the loss sum and the new parameters.

    `optimizer` is a dict: solver ('sgd' or 'adam'), learning_rate, momentum, nesterov,
    beta_1, beta_2, epsilon, and its state velocity / m / v / t, updated in place.
    `dropout`: None, or a dict with the per-layer `rates`, `seed` and `epoch`.
    `max_grad_norm`: None, or the norm each batch's gradient is clipped to.
    `weight_decay`: each step also subtracts learning_rate * weight_decay times the
    coefficients and embedding tables (not the intercepts), apart from the gradient.
    `codes`: each row's code per embedding, for a layout with embeddings.
    """
    n_coefs = layout.n_coefs
    n_weights = layout.n_params - sum(levels * dim for levels, dim in layout.embeddings)
    params = np.array(params, dtype=np.float64)
    loss_sum = 0.0
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        w = None if sample_weight is None or len(sample_weight) == 0 else sample_weight[rows]
        masks = (
            None
            if dropout is None
            else dropout_masks(layout, dropout["rates"], dropout["seed"], dropout["epoch"], rows)
        )
        value, grad = loss_and_gradient(
            layout,
            loss,
            alpha,
            params,
            X[rows],
            Y[rows],
            w,
            masks,
            codes=None if codes is None else np.asarray(codes)[rows],
            **loss_params,
        )
        if max_grad_norm is not None:
            norm = np.linalg.norm(grad)
            if norm > max_grad_norm:
                grad = grad * (max_grad_norm / norm)
        loss_sum += value * len(rows)
        lr = optimizer["learning_rate"]
        if optimizer["solver"] == "sgd":
            velocity = optimizer["momentum"] * optimizer["velocity"] - lr * grad
            optimizer["velocity"] = velocity
            step = (
                optimizer["momentum"] * velocity - lr * grad if optimizer["nesterov"] else velocity
            )
        else:
            optimizer["t"] += 1
            t, b1, b2 = optimizer["t"], optimizer["beta_1"], optimizer["beta_2"]
            optimizer["m"] = b1 * optimizer["m"] + (1 - b1) * grad
            optimizer["v"] = b2 * optimizer["v"] + (1 - b2) * grad**2
            rate = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
            step = -rate * optimizer["m"] / (np.sqrt(optimizer["v"]) + optimizer["epsilon"])
        params[:n_coefs] -= lr * weight_decay * params[:n_coefs]
        params[n_weights:] -= lr * weight_decay * params[n_weights:]
        params += step
    return loss_sum, params
