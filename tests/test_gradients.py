"""Backpropagated gradients against central finite differences of the loss."""

import numpy as np
import pytest
from numpy.testing import assert_allclose

from bpnet import _kernels
from bpnet._data import KernelInput

from . import _reference as ref
from ._helpers import central_differences

# (loss, number of outputs): every output type the estimators build.
OUTPUT_TYPES = {
    "multiclass": ("log_loss", 3),
    "binary": ("binary_log_loss", 1),
    "multilabel": ("binary_log_loss", 3),
    "regression": ("squared_error", 1),
    "multi-output": ("squared_error", 3),
    "poisson": ("poisson", 2),
}


def _problem(output_type, dtype, seed=0):
    loss, n_outputs = OUTPUT_TYPES[output_type]
    rng = np.random.RandomState(seed)
    n_samples, n_features = 7, 4
    X = rng.randn(n_samples, n_features)
    if loss == "log_loss":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    elif loss == "binary_log_loss":
        Y = rng.randint(2, size=(n_samples, n_outputs)).astype(float)
    elif loss == "poisson":
        Y = rng.poisson(1.5, size=(n_samples, n_outputs)).astype(float)
    else:
        Y = rng.randn(n_samples, n_outputs)
    weights = rng.uniform(0.5, 2.0, n_samples)
    return loss, KernelInput(X, Y, weights, dtype=dtype, convert_dense=True)


def _loss_and_grad(layout, loss, params, data, alpha=1e-2, **loss_params):
    """The kernel's full-batch loss and gradient; ``loss_params`` are the loss's own
    parameters (huber_threshold, quantile)."""
    grads = np.empty_like(params)
    value = _kernels.loss_gradient(
        layout.table, _kernels.loss_function(loss, **loss_params), alpha, params,
        *data.x_args, data.Y, data.sample_weight, grads, layout.n_coefs,
    )  # fmt: skip
    return value, grads


def _kernel_loss(layout, loss, data, **loss_params):
    """The kernel's full-batch loss as a function of the parameters alone."""
    return lambda params: _loss_and_grad(layout, loss, params, data, **loss_params)[0]


@pytest.mark.parametrize("output_type", sorted(OUTPUT_TYPES))
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_matches_finite_differences(output_type, activation, dtype):
    loss, data = _problem(output_type, dtype)
    layout = ref.make_layout([4, 5, 3, data.Y.shape[1]], activation, loss)
    params = np.random.RandomState(1).uniform(-0.8, 0.8, layout.n_params).astype(dtype)

    assert_gradient_matches_finite_differences(layout, loss, params, data)


def assert_gradient_matches_finite_differences(layout, loss, params, data, **loss_params):
    """The kernel's gradient at ``params`` against central differences of its loss."""
    dtype = params.dtype
    _, analytic = _loss_and_grad(layout, loss, params, data, **loss_params)
    # Differences are taken on the float64 network at the same (float32-representable)
    # parameters: a float32 forward pass is too coarse for a 1e-6 step.
    data64 = KernelInput(
        data.dense, data.Y, data.sample_weight, dtype=np.float64, convert_dense=True
    )
    numerical = central_differences(
        _kernel_loss(layout, loss, data64, **loss_params), params.astype(np.float64)
    )

    assert analytic.dtype == dtype
    if dtype == np.float64:
        assert_allclose(analytic, numerical, rtol=1e-5, atol=1e-7)
    else:
        # float32 backprop carries ~1e-7 relative rounding per operation.
        assert_allclose(analytic, numerical, rtol=1e-3, atol=1e-4)


def test_gradient_check_detects_a_wrong_gradient():
    """The finite-difference comparison is sharp enough to catch a small error."""
    loss, data = _problem("multiclass", np.float64)
    layout = ref.make_layout([4, 5, 3], "tanh", loss)
    params = np.random.RandomState(2).uniform(-0.8, 0.8, layout.n_params)
    _, analytic = _loss_and_grad(layout, loss, params, data)
    numerical = central_differences(_kernel_loss(layout, loss, data), params)
    analytic[3] *= 1.001
    with pytest.raises(AssertionError):
        assert_allclose(analytic, numerical, rtol=1e-5, atol=1e-7)
