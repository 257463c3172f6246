"""The kernels of the options beyond MLP against the NumPy reference and finite differences.

New activations (leaky_relu, elu, gelu, silu), the huber and quantile losses, dropout and
gradient-norm clipping, each in float32 and float64, and each giving the same numbers
whatever the team of threads.
"""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

from bpnet import _kernels, _rules, _sgd_fast
from bpnet._data import KernelInput

from . import _reference as ref
from . import test_gradients as gradients
from ._helpers import cut_batches, train_one_epoch

DTYPES = [np.float32, np.float64]
NEW_ACTIVATIONS = ["leaky_relu", "elu", "gelu", "silu"]
# float32 kernels are compared with a float64 reference (see test_kernels.py).
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-13}
LOSS_PARAMS = {"huber": {"huber_threshold": 0.7}, "quantile": {"quantile": 0.8}}


def close(actual, expected, dtype, scale=1.0):
    assert_allclose(actual, expected, rtol=RTOL[dtype] * scale, atol=ATOL[dtype] * scale)


def readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
def test_new_activations(dtype, name):
    rng = np.random.RandomState(0)
    z = (rng.randn(6, 5) * 3).astype(dtype)
    z[0, :3] = [0.0, -1e-3, 40.0]
    intercept = readonly(rng.randn(5).astype(dtype))
    expected = ref.ACTIVATIONS[name](z.astype(np.float64) + intercept)
    _kernels.activate_py(_kernels.ACTIVATION_CODES[name], intercept, z)
    close(z, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NEW_ACTIVATIONS + ["logistic", "tanh", "relu"])
def test_activation_derivatives_against_derivatives_of_z(dtype, name):
    """Every derivative, whether the kernel takes it from f(z) or z, equals f'(z)."""
    rng = np.random.RandomState(1)
    z = (rng.randn(5, 4) * 2).astype(dtype)
    a = ref.ACTIVATIONS[name](z.astype(np.float64)).astype(dtype)
    delta = rng.randn(5, 4).astype(dtype)
    expected = delta.astype(np.float64) * ref.DERIVATIVES_FROM_Z[name](z.astype(np.float64))
    _kernels.activation_derivative_py(
        _kernels.ACTIVATION_CODES[name], readonly(a), delta, readonly(z)
    )
    # elu's derivative below 0 is taken as f(z) + 1, which float32 rounds once more.
    close(delta, expected, dtype, 10)


def test_derivatives_that_need_z_refuse_to_run_without_it():
    a = np.zeros((2, 2))
    with pytest.raises(ValueError, match="needs z"):
        _kernels.activation_derivative_py(_kernels.ACTIVATION_CODES["gelu"], a, a.copy())


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["huber", "quantile"])
@pytest.mark.parametrize("weighted", [False, True])
def test_regression_losses(dtype, loss, weighted):
    rng = np.random.RandomState(2)
    n, k = 11, 2
    prob = rng.randn(n, k)
    y = rng.randn(n, k)
    w = rng.uniform(0.1, 2, n) if weighted else np.ones(n)
    delta = np.empty((n, k), dtype=dtype)
    total = _kernels.loss_and_delta_py(
        _kernels.loss_function(loss, **LOSS_PARAMS[loss]),
        readonly(prob.astype(dtype)),
        readonly(y.astype(dtype)),
        readonly(w.astype(dtype) if weighted else np.empty(0, dtype)),
        delta,
    )
    prob_seen = prob.astype(dtype).astype(np.float64)
    y_seen = y.astype(dtype).astype(np.float64)
    expected = (w * ref.per_row_loss(loss, prob_seen, y_seen, **LOSS_PARAMS[loss])).sum()
    close(total, expected, dtype, 10)
    close(delta, ref.output_delta(loss, prob_seen, y_seen, **LOSS_PARAMS[loss]) * w[:, None], dtype)


def test_huber_with_a_huge_threshold_is_squared_error_to_the_bit():
    rng = np.random.RandomState(3)
    prob, y = rng.randn(9, 3) * 50, rng.randn(9, 3)
    deltas, totals = [], []
    for loss in (
        _kernels.loss_function("squared_error"),
        _kernels.loss_function("huber", huber_threshold=1e300),
    ):
        delta = np.empty_like(prob)
        totals.append(_kernels.loss_and_delta_py(loss, prob, y, np.empty(0), delta))
        deltas.append(delta)
    assert totals[0] == totals[1]
    assert_array_equal(deltas[0], deltas[1])


# --- finite differences -------------------------------------------------------------


def _loss_and_grad(layout, loss, params, data):
    return gradients._loss_and_grad(layout, loss, params, data, **LOSS_PARAMS.get(loss, {}))


def _problem(loss, n_outputs, dtype, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(7, 4)
    if loss == "log_loss":
        Y = np.eye(n_outputs)[rng.randint(n_outputs, size=7)]
    else:
        Y = rng.randn(7, n_outputs)
    return KernelInput(X, Y, rng.uniform(0.5, 2.0, 7), dtype=dtype, convert_dense=True)


@pytest.mark.parametrize(
    "activation, loss",
    [(name, "log_loss") for name in NEW_ACTIVATIONS]
    + [(name, "squared_error") for name in NEW_ACTIVATIONS]
    + [
        ("tanh", "huber"),
        ("relu", "quantile"),
        (["gelu", "elu"], "huber"),
        (["silu", "leaky_relu"], "quantile"),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_matches_finite_differences(activation, loss, dtype):
    data = _problem(loss, 3 if loss == "log_loss" else 2, dtype)
    layout = ref.make_layout([4, 5, 3, data.Y.shape[1]], activation, loss)
    params = np.random.RandomState(1).uniform(-0.8, 0.8, layout.n_params).astype(dtype)
    gradients.assert_gradient_matches_finite_differences(
        layout, loss, params, data, **LOSS_PARAMS.get(loss, {})
    )


@pytest.mark.parametrize("loss", ["huber", "quantile"])
def test_full_batch_loss_gradient_matches_reference(loss):
    rng = np.random.RandomState(4)
    layout = ref.make_layout([6, 5, 4, 2], ["gelu", "elu"], loss)
    params = rng.uniform(-0.7, 0.7, layout.n_params)
    X, Y, w = rng.randn(23, 6), rng.randn(23, 2), rng.uniform(0.5, 1.5, 23)
    data = KernelInput(X, Y, w)
    value, grads = _loss_and_grad(layout, loss, params, data)
    expected_value, expected_grad = ref.loss_and_gradient(
        layout, loss, 1e-2, params, X, Y, w, **LOSS_PARAMS[loss]
    )
    close(value, expected_value, np.float64, 10)
    close(grads, expected_grad, np.float64, 10)


# --- whole epochs: dropout and clipping ---------------------------------------------

# (how batches are cut, threads): uncut; cut into a few blocks on one and on two
# threads; cut into many on three (see tests/_helpers.cut_batches).
TEAMS = [
    (None, 1),
    ((0, 3, 1e18), 1),
    ((0, 3, 1e18), 2),
    ((0, 9, 1e18), 3),
]


def _epoch(
    layout,
    data,
    params,
    order,
    solver,
    team,
    batch_size=5,
    loss="log_loss",
    dropout=None,
    seed=7,
    epoch=3,
    max_grad_norm=0.0,
    loss_params=None,
):
    """One train_epoch call; returns the new parameters, moments and result."""
    dtype = params.dtype
    options = {
        "solver": _sgd_fast.SOLVER_CODES[solver],
        "loss": _kernels.loss_function(loss, **(loss_params or {})),
        "alpha": 0.01,
        "learning_rate": 0.05,
        "momentum": 0.9,
        "nesterov": True,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "batch_size": batch_size,
        "adam_steps": 0,
        "max_grad_norm": max_grad_norm,
        "dropout_seed": seed,
        "epoch": epoch,
        "n_threads": team[1],
    }
    ours = params.copy()
    moment_1 = np.zeros_like(params)
    moment_2 = np.zeros_like(params) if solver == "adam" else np.empty(0, dtype)
    rates = None if dropout is None else np.asarray(dropout, dtype=np.float64)
    workspace = np.empty(
        _sgd_fast.workspace_size(layout.table, batch_size, data.sparse, dropout is not None), dtype
    )
    with cut_batches(team[0]):
        result = train_one_epoch(
            layout.table,
            *data.x_args,
            readonly(data.Y),
            readonly(data.sample_weight),
            order,
            ours,
            np.empty_like(params),
            moment_1,
            moment_2,
            workspace,
            options,
            dropout=rates,
        )
    assert result["status"] == _rules.EpochStatus.COMPLETED
    return ours, moment_1, result


def _setup(dtype, sparse=False, activations=("relu", "gelu"), loss="log_loss", n_outputs=3):
    rng = np.random.RandomState(9)
    layout = ref.make_layout([6, 7, 5, n_outputs], list(activations), loss)
    params = rng.uniform(-0.7, 0.7, layout.n_params).astype(dtype)
    X = rng.randn(23, 6)
    X[X < 0.3] = 0.0
    X = X.astype(dtype)
    if sparse:
        X = sp.csr_matrix(X)
    Y = (
        np.eye(n_outputs)[rng.randint(n_outputs, size=23)]
        if loss == "log_loss"
        else rng.randn(23, n_outputs)
    )
    data = KernelInput(X, Y, rng.uniform(0.5, 1.5, 23))
    order = readonly(rng.permutation(23).astype(np.intp))
    return layout, params, data, order, X


def _reference_epoch(layout, params, data, order, X, solver, **kwargs):
    opt = {
        "solver": solver,
        "learning_rate": 0.05,
        "momentum": 0.9,
        "nesterov": True,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "t": 0,
        "velocity": np.zeros(layout.n_params),
        "m": np.zeros(layout.n_params),
        "v": np.zeros(layout.n_params),
    }
    X64 = X.astype(np.float64)
    return ref.sgd_epoch(
        layout,
        kwargs.pop("loss", "log_loss"),
        0.01,
        params,
        X64,
        data.Y.astype(np.float64),
        data.sample_weight.astype(np.float64),
        order,
        5,
        opt,
        **kwargs,
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("sparse", [False, True])
def test_dropout_epoch_matches_reference(dtype, solver, sparse):
    layout, params, data, order, X = _setup(dtype, sparse)
    rates = [0.3, 0.5, 0.0]
    ours, _, result = _epoch(layout, data, params, order, solver, TEAMS[1], dropout=rates)
    loss_sum, expected = _reference_epoch(
        layout, params, data, order, X, solver, dropout={"rates": rates, "seed": 7, "epoch": 3}
    )
    scale = 50 if (solver == "adam" and dtype == np.float32) else 10
    close(result["loss_sum"], loss_sum, dtype, scale)
    close(ours, expected, dtype, scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_clipped_epoch_matches_reference(dtype, solver):
    layout, params, data, order, X = _setup(dtype)
    ours, _, result = _epoch(layout, data, params, order, solver, TEAMS[1], max_grad_norm=0.05)
    loss_sum, expected = _reference_epoch(
        layout, params, data, order, X, solver, max_grad_norm=0.05
    )
    unclipped, _, _ = _epoch(layout, data, params, order, solver, TEAMS[1])
    assert not np.allclose(unclipped, expected)  # the clip bites
    scale = 50 if (solver == "adam" and dtype == np.float32) else 10
    close(result["loss_sum"], loss_sum, dtype, scale)
    close(ours, expected, dtype, scale)


@pytest.mark.parametrize("loss", ["huber", "quantile"])
def test_regression_loss_epoch_matches_reference(loss):
    layout, params, data, order, X = _setup(
        np.float64, loss=loss, n_outputs=2, activations=("silu", "elu")
    )
    ours, _, result = _epoch(
        layout, data, params, order, "adam", TEAMS[2], loss=loss, loss_params=LOSS_PARAMS[loss]
    )
    loss_sum, expected = _reference_epoch(
        layout, params, data, order, X, "adam", loss=loss, **LOSS_PARAMS[loss]
    )
    close(result["loss_sum"], loss_sum, np.float64, 10)
    close(ours, expected, np.float64, 10)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
def test_dropout_and_clipping_give_the_same_numbers_with_any_team(dtype, sparse):
    layout, params, data, order, _ = _setup(dtype, sparse)
    outcomes = [
        _epoch(
            layout, data, params, order, "adam", team, dropout=[0.2, 0.4, 0.0], max_grad_norm=0.1
        )
        for team in TEAMS
    ]
    # Each cut is its own computation: compare the teams that share a cut bit for bit.
    for (a, m_a, r_a), (b, m_b, r_b) in [(outcomes[1], outcomes[2])]:
        assert_array_equal(a, b)
        assert_array_equal(m_a, m_b)
        assert r_a["loss_sum"] == r_b["loss_sum"]
    for ours, _, _ in outcomes[1:]:
        close(ours, outcomes[0][0], dtype, 10)


@pytest.mark.usefixtures("threads_every_phase")
def test_same_cut_any_threads_bit_identical_with_dropout():
    layout, params, data, order, _ = _setup(np.float64)
    runs = [
        _epoch(
            layout,
            data,
            params,
            order,
            "sgd",
            (TEAMS[3][0], n),
            dropout=[0.5, 0.1, 0.0],
            max_grad_norm=0.2,
        )[0]
        for n in (1, 2, 3, 4)
    ]
    for run in runs[1:]:
        assert_array_equal(run, runs[0])


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_a_huge_max_grad_norm_is_the_unclipped_epoch_to_the_bit(solver):
    layout, params, data, order, _ = _setup(np.float64)
    plain, m_plain, r_plain = _epoch(layout, data, params, order, solver, TEAMS[2])
    huge, m_huge, r_huge = _epoch(
        layout, data, params, order, solver, TEAMS[2], max_grad_norm=1e300
    )
    assert_array_equal(plain, huge)
    assert_array_equal(m_plain, m_huge)
    assert r_plain["loss_sum"] == r_huge["loss_sum"]


def test_zero_dropout_rates_are_the_plain_epoch_to_the_bit():
    layout, params, data, order, _ = _setup(np.float64)
    plain = _epoch(layout, data, params, order, "adam", TEAMS[2])[0]
    zero = _epoch(layout, data, params, order, "adam", TEAMS[2], dropout=[0.0, 0.0, 0.0])[0]
    assert_array_equal(plain, zero)


def test_huber_with_a_huge_threshold_trains_as_squared_error_to_the_bit():
    layout, params, data, order, _ = _setup(np.float64, loss="squared_error", n_outputs=2)
    squared = _epoch(layout, data, params, order, "sgd", TEAMS[2], loss="squared_error")[0]
    huber = _epoch(
        layout,
        data,
        params,
        order,
        "sgd",
        TEAMS[2],
        loss="huber",
        loss_params={"huber_threshold": 1e300},
    )[0]
    assert_array_equal(squared, huber)


def test_dropout_masks_are_keyed_by_seed_epoch_row_and_unit():
    rows = np.arange(2000, dtype=np.intp)
    mask = _kernels.dropout_mask_py(5, 2, rows, 10, 50, 0.3)
    kept = mask > 0
    assert set(np.unique(mask)) == {0.0, 1 / 0.7}
    assert abs(kept.mean() - 0.7) < 0.01
    # The same key draws the same mask, whatever the rows asked for alongside.
    assert_array_equal(_kernels.dropout_mask_py(5, 2, rows[[7, 3]], 10, 50, 0.3), mask[[7, 3]])
    assert_array_equal(_kernels.dropout_mask_py(5, 2, rows[:4], 20, 10, 0.3), mask[:4, 10:20])
    # Any other seed, epoch or row draws independently.
    for other in (
        _kernels.dropout_mask_py(6, 2, rows, 10, 50, 0.3),
        _kernels.dropout_mask_py(5, 3, rows, 10, 50, 0.3),
        _kernels.dropout_mask_py(5, 2, rows + 2000, 10, 50, 0.3),
    ):
        agreement = ((other > 0) == kept).mean()
        assert abs(agreement - (0.7**2 + 0.3**2)) < 0.01


def test_train_epoch_rejects_bad_dropout_rates():
    layout, params, data, order, _ = _setup(np.float64)
    for rates, message in (
        ([0.2, 0.2], "one rate per layer"),
        ([0.2, 1.0, 0.0], r"in \[0, 1\)"),
        ([0.2, 0.1, 0.3], "output layer"),
    ):
        with pytest.raises(ValueError, match=message):
            _epoch(layout, data, params, order, "sgd", TEAMS[0], dropout=rates)
