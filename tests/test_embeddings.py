"""Embedding tables in the kernels: gathered into the first layer's inputs, trained by
scatter-adding the input gradient, checked against the NumPy reference network, finite
differences and every cut and thread count."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from bpnet import _kernels, _rules, _sgd_fast
from bpnet._data import KernelInput
from bpnet._layout import NetworkLayout

from . import _reference as ref
from ._helpers import central_differences, cut_batches, train_one_epoch
from .test_training_kernels import TEAMS, close, readonly

DTYPES = [np.float32, np.float64]
N_ROWS, N_DENSE = 23, 4
# Two tables: 6 levels of 3 values, 4 levels of 2.
EMBEDDINGS = [(6, 3), (4, 2)]


def _setup(dtype, activations=("relu", "gelu"), loss="log_loss", n_outputs=3, seed=9):
    rng = np.random.RandomState(seed)
    n_inputs = N_DENSE + sum(dim for _, dim in EMBEDDINGS)
    output = ref.OUTPUT_FOR_LOSS[loss]
    layout = NetworkLayout([n_inputs, 7, 5, n_outputs], [*activations, output], EMBEDDINGS)
    params = rng.uniform(-0.7, 0.7, layout.n_params).astype(dtype)
    X = rng.randn(N_ROWS, N_DENSE).astype(dtype)
    # Level 5 of the first table is never picked: its rows of the gradient stay zero.
    codes = np.column_stack([rng.randint(5, size=N_ROWS), rng.randint(4, size=N_ROWS)]).astype(
        np.int32
    )
    Y = (
        np.eye(n_outputs)[rng.randint(n_outputs, size=N_ROWS)]
        if loss == "log_loss"
        else rng.randn(N_ROWS, n_outputs)
    )
    data = KernelInput(X, Y, rng.uniform(0.5, 1.5, N_ROWS))
    order = readonly(rng.permutation(N_ROWS).astype(np.intp))
    return layout, params, data, codes, order


def _options(solver, dtype, team, learning_rate=0.05, momentum=0.9, **extra):
    return {
        "solver": _sgd_fast.SOLVER_CODES[solver],
        "loss": _kernels.loss_function(extra.pop("loss", "log_loss")),
        "alpha": extra.pop("alpha", 0.01),
        "learning_rate": learning_rate,
        "momentum": momentum,
        "nesterov": True,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-8,
        "batch_size": extra.pop("batch_size", 5),
        "adam_steps": 0,
        "max_grad_norm": extra.pop("max_grad_norm", 0.0),
        "dropout_seed": 7,
        "epoch": 3,
        "n_threads": team[1],
        **extra,
    }


def _epoch(layout, data, params, codes, order, solver, team, dropout=None, **options):
    """One epoch of the kernel; returns the new parameters and the result."""
    dtype = params.dtype
    options = _options(solver, dtype, team, **options)
    ours = params.copy()
    moment_1 = np.zeros_like(params)
    moment_2 = np.zeros_like(params) if solver == "adam" else np.empty(0, dtype)
    workspace = np.empty(
        _sgd_fast.workspace_size(
            layout.table, options["batch_size"], False, dropout is not None,
            layout.embedding_table,
        ),
        dtype,
    )  # fmt: skip
    with cut_batches(team[0]):
        result = train_one_epoch(
            layout.table, *data.x_args, readonly(data.Y), readonly(data.sample_weight), order,
            ours, np.empty_like(params), moment_1, moment_2, workspace, options,
            dropout=None if dropout is None else np.asarray(dropout, dtype=np.float64),
            embedding_table=layout.embedding_table, codes=readonly(codes),
        )  # fmt: skip
    assert result["status"] == _rules.EpochStatus.COMPLETED
    return ours, result


def _reference(layout, params, data, codes, order, solver, **kwargs):
    opt = {
        "solver": solver, "learning_rate": 0.05, "momentum": 0.9, "nesterov": True,
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "t": 0,
        "velocity": np.zeros(layout.n_params), "m": np.zeros(layout.n_params),
        "v": np.zeros(layout.n_params),
    }  # fmt: skip
    return ref.sgd_epoch(
        layout, kwargs.pop("loss", "log_loss"), 0.01, params,
        data.dense.astype(np.float64), data.Y.astype(np.float64),
        data.sample_weight.astype(np.float64), order, 5, opt, codes=codes, **kwargs,
    )  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("team", TEAMS)
def test_epoch_with_embeddings_matches_reference(dtype, solver, team):
    layout, params, data, codes, order = _setup(dtype)
    ours, result = _epoch(layout, data, params, codes, order, solver, team)
    loss_sum, expected = _reference(layout, params, data, codes, order, solver)
    scale = 50 if (solver == "adam" and dtype == np.float32) else 10
    close(result["loss_sum"], loss_sum, dtype, scale)
    close(ours, expected, dtype, scale)
    # The picked levels moved. A level no row picked has a zero gradient at every step:
    # SGD's velocity stays zero, so it does not move (Adam's does not either: its
    # moments stay zero and its step is 0 / (0 + epsilon)).
    before, after = layout.unpack_embeddings(params), layout.unpack_embeddings(ours)
    assert not np.array_equal(before[0][:5], after[0][:5])
    assert_array_equal(before[0][5], after[0][5])


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_embeddings_with_dropout_clipping_and_decay_match_reference(solver):
    layout, params, data, codes, order = _setup(np.float64)
    rates = [0.3, 0.2, 0.0]
    ours, result = _epoch(layout, data, params, codes, order, solver, TEAMS[2],
                          dropout=rates, max_grad_norm=0.5, weight_decay=0.1)  # fmt: skip
    loss_sum, expected = _reference(
        layout, params, data, codes, order, solver,
        dropout={"rates": rates, "seed": 7, "epoch": 3}, max_grad_norm=0.5,
        weight_decay=0.1,
    )  # fmt: skip
    close(result["loss_sum"], loss_sum, np.float64, 10)
    close(ours, expected, np.float64, 10)


@pytest.mark.parametrize("loss", ["squared_error", "binary_log_loss"])
def test_embeddings_gradient_matches_finite_differences(loss):
    """One full batch of plain SGD at rate 1 moves the parameters by minus the gradient;
    the gradient of every embedding value equals central differences of the kernel's own
    loss (one batch at rate 0)."""
    layout, params, data, codes, order = _setup(
        np.float64, activations=("tanh", "silu"), loss=loss, n_outputs=2
    )
    full = dict(batch_size=N_ROWS, momentum=0.0, loss=loss)
    moved, _ = _epoch(layout, data, params, codes, order, "sgd", TEAMS[0], learning_rate=1.0,
                      **full)  # fmt: skip
    gradient = params - moved

    def loss_at(point):
        _, result = _epoch(layout, data, point, codes, order, "sgd", TEAMS[0],
                           learning_rate=0.0, **full)  # fmt: skip
        return result["loss_sum"] / N_ROWS

    n_weights = layout.n_params - sum(levels * dim for levels, dim in EMBEDDINGS)
    embedding_values = range(n_weights, layout.n_params)
    numerical = central_differences(loss_at, params, indices=embedding_values)
    for index in embedding_values:
        assert abs(gradient[index] - numerical[index]) <= 1e-7 + 1e-6 * abs(numerical[index]), index
    # Rows no training row picked (level 5 of the first table) have no gradient.
    assert_array_equal(layout.unpack_embeddings(gradient)[0][5], 0.0)


@pytest.mark.usefixtures("threads_every_phase")
@pytest.mark.parametrize("dtype", DTYPES)
def test_epoch_with_embeddings_is_the_same_on_any_cut_and_threads(dtype):
    """Every cut gives the same numbers on 1, 2 and 3 threads, to the bit: the scatter-add
    runs row by row in batch order within one block per table."""
    layout, params, data, codes, order = _setup(dtype)
    for settings in (None, (0, 3, 1e18), (0, 9, 1e18)):
        results = [
            _epoch(layout, data, params, codes, order, "adam", (settings, threads),
                   dropout=[0.2, 0.1, 0.0])[0]
            for threads in (1, 2, 3)
        ]  # fmt: skip
        for other in results[1:]:
            assert_array_equal(other, results[0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_dtype", DTYPES)
@pytest.mark.parametrize("threads", [1, 3])
def test_predict_with_embeddings_matches_reference(dtype, x_dtype, threads):
    layout, params, data, codes, _ = _setup(dtype)
    X = data.dense.astype(x_dtype)
    out = np.empty((N_ROWS, 3), dtype=dtype)
    _kernels.predict(layout.table, params, False, X, np.empty(0, dtype),
                     np.empty(0, np.int32), np.empty(0, np.int32), out, 4, threads,
                     layout.embedding_table, codes)  # fmt: skip
    inputs = ref.embedded_inputs(layout, params, X.astype(dtype), codes)
    expected = ref.forward(layout, params, inputs)[0][-1]
    close(out, expected, dtype, 10)


def test_kernels_refuse_codes_outside_their_tables():
    layout, params, data, codes, order = _setup(np.float64)
    bad = codes.copy()
    bad[4, 1] = 4  # the second table has 4 rows
    out = np.empty((N_ROWS, 3))
    with pytest.raises(ValueError, match=r"codes\[4, 1\] = 4 is not a row of embedding 1"):
        _kernels.predict(layout.table, params, False, data.dense, np.empty(0),
                         np.empty(0, np.int32), np.empty(0, np.int32), out, 8, 1,
                         layout.embedding_table, bad)  # fmt: skip
    bad[4, 1] = -1
    with pytest.raises(ValueError, match=r"codes\[4, 1\] = -1 is not a row"):
        _epoch(layout, data, params, bad, order, "sgd", TEAMS[0])
    with pytest.raises(ValueError, match=r"codes must have shape \(23, 2\)"):
        _epoch(layout, data, params, codes[:, :1], order, "sgd", TEAMS[0])


def test_embedding_table_must_follow_the_dense_columns():
    layout, params, data, codes, _ = _setup(np.float64)
    table = layout.embedding_table.copy()
    table[1, 3] += 1  # a gap between the two tables' columns
    with pytest.raises(ValueError, match="embedding 1 must fill the first layer's inputs"):
        _kernels.predict(layout.table, params, False, data.dense, np.empty(0),
                         np.empty(0, np.int32), np.empty(0, np.int32),
                         np.empty((N_ROWS, 3)), 8, 1, table, codes)  # fmt: skip
    table = layout.embedding_table.copy()
    table[0, 2] = 0  # the first table's rows over the first layer's coefficients
    with pytest.raises(ValueError, match="embedding 0 shares parameters with layer 0"):
        _kernels.predict(layout.table, params, False, data.dense, np.empty(0),
                         np.empty(0, np.int32), np.empty(0, np.int32),
                         np.empty((N_ROWS, 3)), 8, 1, table, codes)  # fmt: skip


def test_batch_plan_has_one_embedding_block_per_table():
    layout, *_ = _setup(np.float64)
    phases = _sgd_fast.batch_plan(layout.table, 5, n_embeddings=2)
    kinds = [phase["kind"] for phase in phases]
    assert kinds == ["gather", "forward", "forward", "output", "backward", "embedding", "param"]
    assert phases[kinds.index("embedding")]["n_blocks"] == 2
    assert phases[-1]["blocks"][-2:] == [("embedding", 0), ("embedding", 1)]
