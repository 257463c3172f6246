"""Each Cython kernel against the NumPy reference, in float32 and float64, read-only too."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose

from bpnet import _blas, _kernels, _rules, _sgd_fast
from bpnet._data import KernelInput

from . import _reference as ref
from ._helpers import cut_batches, train_one_epoch

DTYPES = [np.float32, np.float64]
# float32 kernels are compared with a float64 reference: allow float32 rounding
# accumulated over sums of a few dozen terms.
RTOL = {np.float32: 2e-5, np.float64: 1e-12}
ATOL = {np.float32: 1e-6, np.float64: 1e-13}


def readonly(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def close(actual, expected, dtype, scale=1.0):
    assert_allclose(actual, expected, rtol=RTOL[dtype] * scale, atol=ATOL[dtype] * scale)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans_a", [False, True])
@pytest.mark.parametrize("trans_b", [False, True])
def test_gemm(dtype, trans_a, trans_b):
    rng = np.random.RandomState(0)
    m, n, k = 7, 5, 3
    a = readonly(rng.randn(*((k, m) if trans_a else (m, k))).astype(dtype))
    b = readonly(rng.randn(*((n, k) if trans_b else (k, n))).astype(dtype))
    c = rng.randn(m, n).astype(dtype)
    expected = 0.5 * (a.T if trans_a else a) @ (b.T if trans_b else b) + 2.0 * c
    _blas.gemm_py(trans_a, trans_b, dtype(0.5), a, b, dtype(2.0), c)
    close(c, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_axpy_and_dot(dtype):
    rng = np.random.RandomState(1)
    x, y = readonly(rng.randn(11).astype(dtype)), rng.randn(11).astype(dtype)
    expected = y + 3.0 * x
    _blas.axpy_py(dtype(3.0), x, y)
    close(y, expected, dtype)
    close(_blas.dot_py(x, readonly(y)), float(x.astype(float) @ y.astype(float)), dtype, 10)
    with pytest.raises(ValueError, match="differ in length"):
        _blas.dot_py(x, y[:3])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu", "exp", "softmax"])
def test_activations(dtype, name):
    rng = np.random.RandomState(2)
    z = (rng.randn(6, 4) * 3).astype(dtype)
    intercept = readonly(rng.randn(4).astype(dtype))
    expected = ref.ACTIVATIONS[name](z.astype(np.float64) + intercept)
    _kernels.activate_py(_kernels.ACTIVATION_CODES[name], intercept, z)
    close(z, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["logistic", "tanh", "softmax"])
def test_activations_do_not_overflow(dtype, name):
    z = np.array([[-1e4, 0.0, 1e4], [1e30, -1e30, 5.0]], dtype=dtype)
    _kernels.activate_py(_kernels.ACTIVATION_CODES[name], np.zeros(3, dtype), z)
    assert np.isfinite(z).all()
    if name == "softmax":
        close(z.sum(axis=1), np.ones(2), dtype)
    if name != "tanh":
        assert ((z >= 0) & (z <= 1)).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["identity", "logistic", "tanh", "relu"])
def test_activation_derivatives(dtype, name):
    rng = np.random.RandomState(3)
    a = ref.ACTIVATIONS[name](rng.randn(5, 3)).astype(dtype)
    a[0, 0] = 0 if name == "relu" else a[0, 0]
    delta = rng.randn(5, 3).astype(dtype)
    expected = delta.astype(np.float64) * ref.DERIVATIVES[name](a.astype(np.float64))
    _kernels.activation_derivative_py(_kernels.ACTIVATION_CODES[name], readonly(a), delta)
    close(delta, expected, dtype)


def _targets(loss, rng, n, k):
    if loss == "log_loss":
        return np.eye(k)[rng.randint(k, size=n)]
    if loss == "binary_log_loss":
        return rng.randint(2, size=(n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(2.0, size=(n, k)).astype(float)
    return rng.randn(n, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("loss", ["squared_error", "log_loss", "binary_log_loss", "poisson"])
@pytest.mark.parametrize("weighted", [False, True])
def test_loss_and_delta(dtype, loss, weighted):
    rng = np.random.RandomState(4)
    n, k = 9, 3
    prob = ref.ACTIVATIONS[ref.OUTPUT_FOR_LOSS[loss]](rng.randn(n, k))
    y = _targets(loss, rng, n, k)
    w = rng.uniform(0.1, 2, n) if weighted else np.ones(n)
    delta = np.empty((n, k), dtype=dtype)
    total = _kernels.loss_and_delta_py(
        _kernels.loss_function(loss), readonly(prob.astype(dtype)), readonly(y.astype(dtype)),
        readonly(w.astype(dtype) if weighted else np.empty(0, dtype)), delta,
    )  # fmt: skip
    prob32 = prob.astype(dtype).astype(np.float64)  # the probabilities the kernel saw
    close(total, (w * ref.per_row_loss(loss, prob32, y)).sum(), dtype, 10)
    close(delta, ref.output_delta(loss, prob32, y) * w[:, None], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_log_loss_clips_extreme_probabilities(dtype):
    prob = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=dtype)
    y = np.array([[1.0, 0.0], [1.0, 0.0]], dtype=dtype)
    delta = np.empty_like(prob)
    total = _kernels.loss_and_delta_py(
        _kernels.loss_function("log_loss"), prob, y, np.empty(0, dtype), delta
    )
    assert np.isfinite(total)
    close(total, -np.log(np.finfo(dtype).eps), dtype)


def _network(
    dtype, hidden=(5, 4), loss="log_loss", activation="tanh", n_features=6, n_outputs=3, seed=5
):
    layout = ref.make_layout([n_features, *hidden, n_outputs], activation, loss)
    params = np.random.RandomState(seed).uniform(-0.7, 0.7, layout.n_params).astype(dtype)
    return layout, params


@pytest.mark.parametrize("dtype", DTYPES)
def test_backprop_delta(dtype):
    layout, params = _network(dtype)
    rng = np.random.RandomState(6)
    delta = readonly(rng.randn(8, 4).astype(dtype))
    previous = readonly(np.tanh(rng.randn(8, 5)).astype(dtype))
    out = np.empty((8, 5), dtype=dtype)
    _kernels.backprop_delta_py(layout.table, 1, readonly(params), delta, previous, out)
    coef = layout.unpack(params.astype(np.float64))[0][1]
    expected = (delta.astype(np.float64) @ coef.T) * (1 - previous.astype(np.float64) ** 2)
    close(out, expected, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("hidden", [(5, 4), (33, 15), (7, 16), (9, 40)])
def test_backprop_delta_relu_and_tanh(dtype, activation, hidden):
    # Narrow and wide next layers, relu's derivative read from its outputs.
    layout, params = _network(dtype, hidden=hidden, activation=activation)
    rng = np.random.RandomState(6)
    delta = readonly(rng.randn(21, hidden[1]).astype(dtype))
    z = rng.randn(21, hidden[0])
    previous = readonly((np.maximum(z, 0) if activation == "relu" else np.tanh(z)).astype(dtype))
    out = np.empty((21, hidden[0]), dtype=dtype)
    _kernels.backprop_delta_py(layout.table, 1, readonly(params), delta, previous, out)
    coef = layout.unpack(params.astype(np.float64))[0][1]
    backprop = delta.astype(np.float64) @ coef.T
    if activation == "relu":
        assert (previous == 0).any() and (previous > 0).any()
        expected = np.where(previous == 0, 0.0, backprop)
    else:
        expected = backprop * (1 - previous.astype(np.float64) ** 2)
    close(out, expected, dtype)


def _inputs(dtype, n=23, n_features=6, sparse=False, seed=7):
    X = np.random.RandomState(seed).randn(n, n_features)
    X[X < 0.3] = 0.0  # some zeros, so the CSR form is genuinely sparse
    X = X.astype(dtype)
    if sparse:
        X = sp.csr_matrix(X)
        for part in (X.data, X.indices, X.indptr):
            part.flags.writeable = False
        return X
    return readonly(X)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("chunk_rows", [1, 5, 512])
# piece_work cuts each layer's product into pieces of columns: 1 gives one column per
# piece, 40 pieces of one or two columns at 5 rows and whole layers at 1, 10**6 whole
# layers, as 0 does. vector_work runs chunks of one row by matrix-vector products, in
# pieces of one column (1), of a few (12: the output layer's 5 * 3 passes it, so softmax
# takes the matrix product whole), or whole.
@pytest.mark.parametrize("piece_work", [0, 1, 40, 10**6])
@pytest.mark.parametrize("vector_work", [0, 1, 12, 10**6])
def test_predict_matches_reference(dtype, sparse, chunk_rows, piece_work, vector_work):
    layout, params = _network(dtype)
    X = _inputs(dtype, sparse=sparse)
    out = np.empty((X.shape[0], 3), dtype=dtype)
    x_args = KernelInput(X).x_args
    pieces = {"piece_work": piece_work, "vector_work": vector_work}
    _kernels.predict(layout.table, readonly(params), *x_args, out, chunk_rows, **pieces)
    close(out, ref.forward(layout, params, X)[0][-1], dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("loss", ["squared_error", "log_loss", "binary_log_loss", "poisson"])
def test_loss_gradient_matches_reference(dtype, sparse, loss):
    rng = np.random.RandomState(8)
    layout, params = _network(dtype, loss=loss, activation="relu")
    X = _inputs(dtype, sparse=sparse)
    Y = _targets(loss, rng, X.shape[0], 3)
    w = rng.uniform(0.5, 1.5, X.shape[0])
    data = KernelInput(X, Y, w)
    grads = np.empty_like(params)
    value = _kernels.loss_gradient(
        layout.table, _kernels.loss_function(loss), 0.01, readonly(params), *data.x_args,
        readonly(data.Y), readonly(data.sample_weight), grads, layout.n_coefs, 4,
    )  # fmt: skip
    expected_value, expected_grad = ref.loss_and_gradient(layout, loss, 0.01, params, X, Y, w)
    close(value, expected_value, dtype, 10)
    close(grads, expected_grad, dtype, 10)


# How train_epoch cuts each batch and how many threads share the blocks: the default
# cut (one block per phase for networks this small), cuts into a few blocks and into
# many, each with one thread and with several (the thread count must never change a
# result).
# The options of a plain epoch: no clipping, no dropout.
PLAIN = {"max_grad_norm": 0.0, "dropout_seed": 0, "epoch": 0}
SERIAL = {"n_threads": 1}
CUTS = [
    (None, 1),
    ((0, 3, 1e18), 1),
    ((0, 3, 1e18), 2),
    ((0, 16, 1e18), 3),
    ((0, 2, 1.0), 4),  # every block as small as the tiles allow
]


def _cut_id(case):
    settings, n_threads = case
    if settings is None:
        return f"default-t{n_threads}"
    return f"b{settings[1]}w{settings[2]:g}-t{n_threads}"


def _optimizer(solver, n_params, dtype):
    return {
        "solver": solver, "learning_rate": 0.05, "momentum": 0.9, "nesterov": True,
        "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "t": 0,
        "velocity": np.zeros(n_params), "m": np.zeros(n_params), "v": np.zeros(n_params),
    }  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("case", CUTS, ids=_cut_id)
def test_train_epoch_matches_reference(dtype, solver, sparse, weighted, case):
    settings, n_threads = case
    rng = np.random.RandomState(9)
    layout, params = _network(dtype, activation="logistic")
    X = _inputs(dtype, sparse=sparse)
    Y = _targets("log_loss", rng, X.shape[0], 3)
    w = rng.uniform(0.5, 1.5, X.shape[0]) if weighted else None
    data = KernelInput(X, Y, w)
    order = readonly(rng.permutation(X.shape[0]).astype(np.intp))
    batch_size = 5  # 23 rows: four full batches and a short one
    opt = _optimizer(solver, layout.n_params, dtype)
    options = {
        "solver": _sgd_fast.SOLVER_CODES[solver], "loss": _kernels.loss_function("log_loss"),
        "alpha": 0.01, "learning_rate": opt["learning_rate"], "momentum": opt["momentum"],
        "nesterov": opt["nesterov"], "beta_1": opt["beta_1"], "beta_2": opt["beta_2"],
        "epsilon": opt["epsilon"], "batch_size": batch_size,
        "adam_steps": 0, "n_threads": n_threads, **PLAIN,
    }  # fmt: skip
    ours = params.copy()
    moment_1 = np.zeros_like(params)
    moment_2 = np.zeros_like(params) if solver == "adam" else np.empty(0, dtype)
    workspace = np.empty(_sgd_fast.workspace_size(layout.table, batch_size, sparse), dtype)
    with cut_batches(settings):
        result = train_one_epoch(
            layout.table, *data.x_args, readonly(data.Y), readonly(data.sample_weight), order,
            ours, np.empty_like(params), moment_1, moment_2, workspace, options,
        )  # fmt: skip
    loss_sum, expected = ref.sgd_epoch(
        layout, "log_loss", 0.01, params, X, Y, w, order, batch_size, opt
    )
    assert result["status"] == _rules.EpochStatus.COMPLETED
    assert result["n_batches"] == 5
    assert result["adam_steps"] == (5 if solver == "adam" else 0)
    close(result["loss_sum"], loss_sum, dtype, 10)
    # Adam divides by sqrt(v): in float32 its steps carry larger relative rounding.
    close(ours, expected, dtype, 50 if (solver == "adam" and dtype == np.float32) else 10)


def test_train_epoch_reports_non_finite_loss():
    layout, params = _network(np.float64, activation="relu", loss="squared_error")
    X = np.full((4, 6), 1e300)
    data = KernelInput(X, np.zeros((4, 3)))
    options = {
        "solver": 0, "loss": _kernels.loss_function("squared_error"), "alpha": 0.0,
        "learning_rate": 0.1, "momentum": 0.0, "nesterov": False, "beta_1": 0.9,
        "beta_2": 0.999, "epsilon": 1e-8, "batch_size": 2,
        "adam_steps": 0, **SERIAL, **PLAIN,
    }  # fmt: skip
    before = params.copy()
    result = train_one_epoch(
        layout.table, *data.x_args, data.Y, data.sample_weight, np.arange(4),
        params, np.empty_like(params), np.zeros_like(params), np.empty(0),
        np.empty(_sgd_fast.workspace_size(layout.table, 2, False)), options,
    )  # fmt: skip
    assert result["status"] == _rules.EpochStatus.NON_FINITE
    assert result["n_batches"] == 0
    assert_allclose(params, before)  # stopped before updating with a non-finite gradient


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda k: k.update(order=np.array([0, 99])), "is not a row of X"),
        (lambda k: k.update(workspace=np.empty(3)), "workspace must hold"),
        (lambda k: k.update(grads=np.empty(2)), "same length as params"),
        (lambda k: k.update(Y=np.zeros((4, 2))), "one column per output"),
        (lambda k: k.update(n_threads=0), "n_threads must be at least 1"),
    ],
)
def test_train_epoch_rejects_inconsistent_arguments(change, message):
    layout, params = _network(np.float64)
    kwargs = dict(
        X=np.zeros((4, 6)), Y=np.zeros((4, 3)), order=np.arange(4), grads=np.empty_like(params),
        workspace=np.empty(_sgd_fast.workspace_size(layout.table, 2, False)), **SERIAL,
    )  # fmt: skip
    change(kwargs)
    options = {
        "solver": 0, "loss": _kernels.loss_function("log_loss"), "alpha": 0.0,
        "learning_rate": 0.1, "momentum": 0.0,
        "nesterov": False, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "batch_size": 2,
        "adam_steps": 0,
        **{key: kwargs[key] for key in SERIAL}, **PLAIN,
    }  # fmt: skip
    with pytest.raises((ValueError, IndexError), match=message):
        train_one_epoch(
            layout.table, False, kwargs["X"], np.empty(0), np.empty(0, np.int32),
            np.empty(0, np.int32),
            kwargs["Y"], np.empty(0), kwargs["order"], params, kwargs["grads"],
            np.zeros_like(params), np.empty(0), kwargs["workspace"], options,
        )  # fmt: skip


def _covered_once(phase, n_rows, n_cols):
    """Whether the blocks of a tiled or row-cut phase cover an (n_rows, n_cols) output
    exactly once."""
    covered = np.zeros((n_rows, n_cols), dtype=int)
    n_col_blocks = -(-n_cols // phase["block_cols"])
    for b in range(phase["n_blocks"]):
        r0 = (b // n_col_blocks) * phase["block_rows"]
        c0 = (b % n_col_blocks) * phase["block_cols"]
        covered[r0 : r0 + phase["block_rows"], c0 : c0 + phase["block_cols"]] += 1
    return (covered == 1).all()


@pytest.mark.parametrize(
    "settings", [None, (0, 3, 1e18), (0, 16, 1e18), (0, 2, 1.0), (2000, 16, 1e18)]
)
@pytest.mark.parametrize("hidden", [(5, 4), (40,), (3, 30, 2), ()])
@pytest.mark.parametrize("n_rows", [1, 7, 64])
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("clip", [False, True])
@pytest.mark.parametrize("direct_work", [0.0, 50.0])
def test_batch_plan_covers_every_output_and_parameter_once(
    settings, hidden, n_rows, sparse, clip, direct_work
):
    layout, _ = _network(np.float64, hidden=hidden)
    units = layout.layer_units
    with cut_batches(settings):
        phases = _sgd_fast.batch_plan(layout.table, n_rows, sparse, clip, 0, direct_work)
    kinds = [phase["kind"] for phase in phases]
    n_hidden = len(units) - 2
    param_kinds = ["gradient", "update"] if clip else ["param"]
    assert (
        kinds
        == ["gather"]
        + ["forward"] * n_hidden
        + ["output"]
        + ["backward"] * max(n_hidden - 1, 0)
        + param_kinds
    )
    for phase in phases:
        assert phase["n_blocks"] >= 1
        if phase["kind"] == "gather":
            assert _covered_once(phase, n_rows, units[0])
        elif phase["kind"] == "forward":
            assert _covered_once(phase, n_rows, units[phase["layer"] + 1])
        elif phase["kind"] == "output":
            assert _covered_once(phase, n_rows, units[-1])
        elif phase["kind"] == "backward":
            # The delta of the layer below phase["layer"]: its input units.
            assert _covered_once(phase, n_rows, units[phase["layer"]])
        else:
            covered = np.zeros(layout.n_params, dtype=int)
            for layer, start, stop, intercepts in phase["blocks"]:
                fan_in, fan_out, coef_offset, intercept_offset = layout.table[layer, :4]
                assert 0 <= start < stop <= fan_in
                covered[coef_offset + start * fan_out : coef_offset + stop * fan_out] += 1
                if intercepts:
                    covered[intercept_offset : intercept_offset + fan_out] += 1
            assert (covered == 1).all()
            assert phase["n_blocks"] == len(phase["blocks"])
    if settings is None and n_rows * sum(a * b for a, b in zip(units[:-1], units[1:])) < 2**20:
        # Uncut: one block per phase, and one parameter block per layer.
        for phase in phases:
            assert phase["n_blocks"] == (len(units) - 1 if "blocks" in phase else 1)


@pytest.mark.parametrize(
    "units, batch_size",
    [([784, 256, 10], 128), ([100, 256, 128, 10], 64)],
    ids=["60000x784-h256-b128", "20000x100-h256x128-b64"],
)
def test_large_batches_offer_sixteen_blocks_in_every_phase(units, batch_size):
    """The default cut fixes the blocks' sizes, not their number: the two large
    benchmark networks offer at least 16 blocks in every phase, so that 16 cores can
    share every phase, whatever the machine that runs them."""
    layout = ref.make_layout(units, ["relu"] * (len(units) - 2), "log_loss")
    for clip in (False, True):
        phases = _sgd_fast.batch_plan(layout.table, batch_size, False, clip)
        assert [phase["kind"] for phase in phases if phase["n_blocks"] < 16] == []
    # Twice the batch: more blocks in all.
    single = _sgd_fast.batch_plan(layout.table, batch_size)
    doubled = _sgd_fast.batch_plan(layout.table, 2 * batch_size)
    assert sum(p["n_blocks"] for p in doubled) > sum(p["n_blocks"] for p in single)


@pytest.mark.parametrize(
    "units, batch_size",
    [([784, 256, 10], 128), ([784, 256, 10], 512), ([784, 256, 10], 200),
     ([100, 256, 128, 10], 64), ([100, 1024, 10], 128)],
)  # fmt: skip
def test_a_blas_direct_size_bounds_the_large_products_only(units, batch_size):
    """With direct_work (OpenBLAS's in-place float32 products, up to 10^6 multiply-adds),
    a fully cut batch's product tiles and gradient blocks whose usual size passes it are
    cut to fit it: rows a multiple of 8 and columns of 16 (or the whole side), still 16
    blocks at least. Phases already within it keep the usual cut."""
    layout = ref.make_layout(units, ["relu"] * (len(units) - 2), "log_loss")
    usual = _sgd_fast.batch_plan(layout.table, batch_size)
    direct = _sgd_fast.batch_plan(layout.table, batch_size, direct_work=1e6)
    for before, after in zip(usual, direct):
        assert after["n_blocks"] >= 16
        if after["kind"] in ("forward", "backward"):
            fan_in, fan_out = units[after["layer"]], units[after["layer"] + 1]
            inner, cols = (fan_in, fan_out) if after["kind"] == "forward" else (fan_out, fan_in)
            tile = before["block_rows"] * before["block_cols"] * inner
            if tile <= 1e6:
                assert after == before
            else:
                assert after["block_rows"] * after["block_cols"] * inner <= 1e6
                assert after["block_rows"] % 8 == 0 or after["block_rows"] == batch_size
                assert after["block_cols"] % 16 == 0 or after["block_cols"] == cols
                assert _covered_once(after, batch_size, units[after["layer"] + 1]
                                     if after["kind"] == "forward" else fan_in)  # fmt: skip
        elif after["kind"] == "param":
            for layer, start, stop, _ in after["blocks"]:
                assert (stop - start) * units[layer + 1] * batch_size <= 1e6 or (
                    after["blocks"] == before["blocks"]
                )
        else:
            assert after == before
    changed = usual != direct
    assert changed == (units[0] == 784 and batch_size >= 128)


@pytest.mark.parametrize("batch_size, blocks", [(100, 1), (200, 2), (250, 3), (300, 16)])
def test_mid_size_batches_are_cut_lightly(batch_size, blocks):
    """A batch whose forward pass carries 2^20 to 2^21 multiply-adds (the digits network
    at 200 or 250 rows) is cut into whole blocks of 2^19: two or three in every phase
    (the parameters' share by layer, so at least that many); a smaller one is whole and
    a larger one fully cut, 16 blocks at least."""
    layout = ref.make_layout([64, 100, 10], ["relu"], "log_loss")
    assert (blocks > 1) == _sgd_fast.batch_is_cut(layout.table, batch_size)
    for phase in _sgd_fast.batch_plan(layout.table, batch_size):
        if phase["kind"] == "param":
            assert phase["n_blocks"] >= blocks if blocks > 1 else phase["n_blocks"] == 2
        elif blocks < 16:
            assert phase["n_blocks"] == blocks
        else:
            assert phase["n_blocks"] >= blocks


@pytest.mark.usefixtures("threads_every_phase")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("settings", [(0, 3, 1e18), (0, 16, 1e18), (0, 2, 1.0), (1e5, 16, 1e18)])
def test_train_epoch_same_numbers_with_any_number_of_threads(dtype, sparse, settings):
    """Threads only share out the blocks: the results are bit for bit the same with 1,
    2, 3, 4, 8 and 16 threads (more threads than this machine has cores included)."""
    rng = np.random.RandomState(10)
    layout, params = _network(dtype, hidden=(30, 20), activation="relu")
    X = _inputs(dtype, sparse=sparse, n=400)
    Y = _targets("log_loss", rng, X.shape[0], 3)
    data = KernelInput(X, Y, rng.uniform(0, 2, X.shape[0]))
    order = readonly(rng.permutation(X.shape[0]).astype(np.intp))
    batch_size = 32
    results = []
    for n_threads in (1, 2, 3, 4, 8, 16):
        options = {
            "solver": _sgd_fast.SOLVER_CODES["adam"], "loss": _kernels.loss_function("log_loss"),
            "alpha": 0.01, "learning_rate": 0.01, "momentum": 0.9, "nesterov": True,
            "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, "batch_size": batch_size,
            "adam_steps": 0, "n_threads": n_threads, **PLAIN,
        }  # fmt: skip
        ours = params.copy()
        moments = np.zeros_like(params), np.zeros_like(params)
        workspace = np.empty(_sgd_fast.workspace_size(layout.table, batch_size, sparse), dtype)
        with cut_batches(settings):
            for _ in range(3):
                result = train_one_epoch(
                    layout.table, *data.x_args, readonly(data.Y),
                    readonly(data.sample_weight), order, ours, np.empty_like(params),
                    *moments, workspace, options,
                )  # fmt: skip
                options["adam_steps"] = result["adam_steps"]
        results.append((ours, result["loss_sum"]))
    for ours, loss_sum in results[1:]:
        assert np.array_equal(ours, results[0][0])
        assert loss_sum == results[0][1]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sparse", [False, True])
def test_predict_same_numbers_with_any_number_of_threads(dtype, sparse):
    layout, params = _network(dtype, hidden=(30, 20), activation="relu")
    X = _inputs(dtype, sparse=sparse, n=1000)
    expected = np.empty((X.shape[0], 3), dtype=dtype)
    _kernels.predict(layout.table, readonly(params), *KernelInput(X).x_args, expected, 64)
    close(expected, ref.forward(layout, params, X)[0][-1], dtype)
    for n_threads in (2, 3, 16):
        out = np.empty_like(expected)
        _kernels.predict(layout.table, readonly(params), *KernelInput(X).x_args, out, 64, n_threads)
        assert np.array_equal(out, expected)


def test_layer_tables_whose_weights_overlap_are_rejected():
    layout, params = _network(np.float64)
    table = layout.table.copy()
    table[1, 2] = table[0, 2] + 1  # layer 1's coefficients start inside layer 0's
    with pytest.raises(ValueError, match="share parameters"):
        _kernels.predict(table, params, *KernelInput(np.zeros((2, 6))).x_args, np.empty((2, 3)))
    with pytest.raises(ValueError, match="at least one row"):
        _sgd_fast.batch_plan(layout.table, 0)
    with pytest.raises(ValueError, match="are required"):
        _sgd_fast.set_cut(0, 0, 1.0)


# The short products add in one fixed order, with no fused multiply-add: NumPy's
# elementwise steps in that order give the same bits, in float32 as in float64.
def _backprop_in_order(delta, weights):
    out = delta[:, :1] * weights[:, 0]
    for j in range(1, delta.shape[1]):
        out = out + delta[:, j : j + 1] * weights[:, j]
    return out


def _gradient_in_order(inputs, delta, start):
    grads = start.copy()
    for r in range(inputs.shape[0]):
        grads = grads + inputs[r][:, None] * delta[r][None, :]
    return grads


# Every vector width this CPU can run (training uses the first), so that a machine with
# AVX-512 tests the AVX2 and SSE2 builds of the loops too.
WIDTHS = _kernels.short_vector_widths()


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3, 8, 15])
@pytest.mark.parametrize("n_cols", [1, 5, 7, 30, 100, 300])
def test_short_backprop_adds_in_order_and_any_column_range_gives_the_same_bits(
    width, dtype, k, n_cols
):
    # 15 rows take tiles of 4 and 3 rows, 14 rows tiles of 2; these widths take 4, 3, 2
    # and 1 whole vectors a line, half and quarter vectors and single values, in float32
    # and in float64.
    for n_rows in (15, 14):
        rng = np.random.RandomState(k * 1000 + n_cols + n_rows)
        delta = readonly(rng.randn(n_rows, k).astype(dtype))
        weights = readonly(rng.randn(n_cols, k).astype(dtype))
        whole = np.full((n_rows, n_cols), np.nan, dtype)
        _kernels.short_backprop_py(delta, weights, whole, 0, n_cols, vector_bytes=width)
        np.testing.assert_array_equal(whole, _backprop_in_order(delta, weights))
        close(whole, delta.astype(np.float64) @ weights.astype(np.float64).T, dtype, scale=k)
        pieces = np.full((n_rows, n_cols), np.nan, dtype)
        cuts = sorted({0, n_cols // 3, n_cols // 2 + 1, n_cols} & set(range(n_cols + 1)))
        for start, stop in zip(cuts[:-1], cuts[1:]):
            _kernels.short_backprop_py(delta, weights, pieces, start, stop, vector_bytes=width)
        np.testing.assert_array_equal(pieces, whole)
        # relu's derivative fused into the stores: a relu layer's outputs (about half of
        # them 0, some -0.0) zero the entries, exactly as the separate pass does, in any
        # range.
        relu = np.maximum(rng.randn(n_rows, n_cols), 0).astype(dtype)
        relu[::3, ::2] = -0.0
        relu = readonly(relu)
        fused = np.full((n_rows, n_cols), np.nan, dtype)
        for start, stop in zip(cuts[:-1], cuts[1:]):
            _kernels.short_backprop_py(delta, weights, fused, start, stop, relu, vector_bytes=width)
        np.testing.assert_array_equal(fused, np.where(relu == 0, dtype(0), whole))


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape",
    [(4, 100), (40, 3), (300, 7), (15, 15), (6, 1), (7, 30), (100, 2), (203, 1), (13, 2),
     (2, 75), (1, 131), (3, 8)],
)  # fmt: skip
@pytest.mark.parametrize("zero", [True, False])
def test_short_gradient_adds_rows_in_order_and_any_input_range_gives_the_same_bits(
    width, dtype, shape, zero
):
    # Ranges of a layer's inputs take either of the loop's two orders of work (few
    # outputs: sums kept transposed; few inputs: rows added in place); both add each
    # entry's rows in the same order. The shapes take tiles of 4, 3, 2 and 1 lines with
    # every number of vectors a line.
    n_in, n_out = shape
    rng = np.random.RandomState(n_in * 100 + n_out)
    inputs = readonly(rng.randn(37, n_in).astype(dtype))
    delta = readonly(rng.randn(37, n_out).astype(dtype))
    start = rng.randn(n_in, n_out).astype(dtype)
    whole = start.copy()
    _kernels.short_gradient_py(inputs, 0, n_in, delta, whole, zero, vector_bytes=width)
    expected = _gradient_in_order(inputs, delta, np.zeros_like(start) if zero else start)
    np.testing.assert_array_equal(whole, expected)
    reference = inputs.astype(np.float64).T @ delta.astype(np.float64)
    close(whole, reference if zero else reference + start, dtype, scale=37)
    pieces = start.copy()
    cuts = sorted({0, 1, n_in // 2, n_in} & set(range(n_in + 1)))
    for first, stop in zip(cuts[:-1], cuts[1:]):
        _kernels.short_gradient_py(inputs, first, stop, delta, pieces, zero, vector_bytes=width)
    np.testing.assert_array_equal(pieces, whole)
    # With the bias gradient: delta's columns added row after row (add_column_sums's
    # order, checked against it), whichever range carries it, the weights unchanged.
    bias_start = rng.randn(n_out).astype(dtype)
    sums = np.zeros(n_out, dtype) if zero else bias_start.copy()
    _kernels.add_column_sums_py(delta, sums)
    for first, stop in zip(cuts[:-1], cuts[1:]):
        fused, bias = start.copy(), bias_start.copy()
        _kernels.short_gradient_py(
            inputs, first, stop, delta, fused, zero, bias, vector_bytes=width
        )
        np.testing.assert_array_equal(fused[first:stop], whole[first:stop])
        np.testing.assert_array_equal(bias, sums)
    close(sums, delta.astype(np.float64).sum(axis=0) + (0 if zero else bias_start), dtype, 37)


def test_short_products_run_the_widest_width_and_check_the_one_asked_for():
    assert WIDTHS[-1] == 16 and list(WIDTHS) == sorted(WIDTHS, reverse=True)
    delta, weights = np.ones((2, 3)), np.ones((4, 3))
    for width in (8, 128, 48):
        with pytest.raises(ValueError, match="vector_bytes must be one of"):
            _kernels.short_backprop_py(delta, weights, np.ones((2, 4)), 0, 4, vector_bytes=width)


def test_short_products_refuse_what_they_do_not_take():
    with pytest.raises(ValueError, match="1 to 15 columns"):
        _kernels.short_backprop_py(np.ones((2, 16)), np.ones((3, 16)), np.ones((2, 3)), 0, 3)
    with pytest.raises(ValueError, match="fewer than 16 columns"):
        _kernels.short_gradient_py(
            np.ones((2, 16)), 0, 16, np.ones((2, 16)), np.ones((16, 16)), True
        )


# The optimizer steps against NumPy's own arithmetic in the parameters' dtype: the same
# operations in the same order, scalars rounded to the dtype as NumPy rounds a Python
# float against a float32 array (so (1 - beta) is taken in double, then rounded), and no
# fused multiply-add. Square roots and divisions round exactly, so the bits agree.
def _numpy_step(solver, dtype, params, grads, m1, m2, alpha, inverse, rate, momentum,
                nesterov, beta_1, beta_2, epsilon, decay):  # fmt: skip
    t = dtype.type
    grad = (grads + t(alpha) * params) * t(inverse)
    shrunk = params - t(decay) * params if decay else params
    if solver == "sgd":
        step = t(momentum) * m1 - t(rate) * grad
        m1 = step
        if nesterov:
            step = t(momentum) * step - t(rate) * grad
        return shrunk + step, m1, m2
    m1 = t(beta_1) * m1 + t(1 - beta_1) * grad
    m2 = t(beta_2) * m2 + t(1 - beta_2) * (grad * grad)
    return shrunk + (-t(rate) * m1) / (np.sqrt(m2) + t(epsilon)), m1, m2


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "solver, nesterov, decay",
    [("sgd", False, 0.0), ("sgd", True, 0.0), ("sgd", True, 1e-3), ("adam", False, 0.0),
     ("adam", False, 1e-3)],
)  # fmt: skip
def test_optimizer_steps_are_numpys_arithmetic_to_the_bit(dtype, solver, nesterov, decay):
    dtype = np.dtype(dtype)
    rng = np.random.RandomState(5)
    n = 1037  # not a multiple of any vector width
    params = rng.randn(n).astype(dtype)
    grads = rng.randn(n).astype(dtype)
    m1 = (0.1 * rng.randn(n)).astype(dtype)
    m2 = (0.01 * rng.rand(n)).astype(dtype)
    settings = dict(alpha=1e-4, inverse=1 / 37, rate=3e-3, momentum=0.9, nesterov=nesterov,
                    beta_1=0.9, beta_2=0.999, epsilon=1e-8, decay=decay)  # fmt: skip
    expected = _numpy_step(solver, dtype, params, grads, m1, m2, **settings)
    got = [params.copy(), m1.copy(), m2.copy()]
    _sgd_fast.optimizer_step_py(
        solver, got[0], grads, got[1], got[2], settings["alpha"], settings["inverse"],
        settings["rate"], settings["momentum"], nesterov, settings["beta_1"],
        settings["beta_2"], settings["epsilon"], decay,
    )  # fmt: skip
    for name, a, b in zip(["params", "moment_1", "moment_2"], got, expected):
        assert a.dtype == dtype
        np.testing.assert_array_equal(a, b, err_msg=name)
