"""Small data sets, estimator lists and assertions shared by the test modules."""

import contextlib
import copy
import os
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

import bpnet
from bpnet import BPClassifier, BPRegressor, _rules, _sgd_fast

ESTIMATORS = [BPClassifier, BPRegressor]
ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]
# The scikit-learn estimator each bpnet estimator mirrors.
MLP_OF = {BPClassifier: MLPClassifier, BPRegressor: MLPRegressor}


def hang_limit(seconds):
    """A subprocess's time limit: ``seconds``, sized for native hardware, times
    ``BPNET_TEST_TIMEOUT_SCALE`` (default 1). The limits only stop a hung child; under
    emulation (tools/test_aarch64.sh sets the scale) a sound child runs many times longer."""
    return seconds * float(os.environ.get("BPNET_TEST_TIMEOUT_SCALE", "1"))


def child_python(**env):
    """Keyword arguments for ``subprocess`` starting a ``python -c`` child that imports the
    same bpnet as this process: the checkout's, or the installed wheel's when the suite
    checks one (tools/run_installed_tests.py). The child's working directory heads its
    ``sys.path``, so it is the directory that holds this process's bpnet."""
    home = Path(bpnet.__file__).resolve().parent.parent
    env = {**os.environ, **env}
    if os.environ.get("BPNET_TEST_INSTALLED") != "1":
        env["PYTHONPATH"] = str(home)
    return {"env": env, "cwd": str(home)}


def classification_data(n_samples=60, n_features=4, n_classes=2, seed=0):
    """Standardised blobs-like data whose classes depend on the features."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    scores = X @ rng.randn(n_features, n_classes)
    y = np.argmax(scores, axis=1)
    # Every class present at least twice, so stratified splits are possible.
    y[: 2 * n_classes] = np.repeat(np.arange(n_classes), 2)
    return X, y


def regression_data(n_samples=60, n_features=4, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    y = np.tanh(X @ rng.randn(n_features)) + 0.1 * rng.randn(n_samples)
    return X, y


class NoOpCallback:
    """A callback of scikit-learn's protocol whose hooks do nothing; a test's callback
    overrides the hooks it needs."""

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        pass

    def on_fit_task_end(self, estimator, context):
        return False


def quiet_fit(estimator, X, y, **fit_params):
    """fit, silencing the ConvergenceWarning that short test runs are expected to give."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


def quiet_partial_fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.partial_fit(X, y, **fit_params)


def assert_same_model(a, b):
    """Two fitted networks hold exactly the same weights (dtype included)."""
    assert len(a.coefs_) == len(b.coefs_)
    for got, expected in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert got.dtype == expected.dtype
        assert_array_equal(got, expected)


def assert_same_network(a, b, rtol, atol=0.0):
    """Equal weights to rtol; atol only matters for entries near zero, where a relative
    tolerance is meaningless (it is set far below the weights' scale of ~0.1-1)."""
    assert len(a.coefs_) == len(b.coefs_)
    for got, expected in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


def central_differences(function, point, step=1e-6, indices=None):
    """The gradient of the scalar ``function`` at ``point`` by central differences.

    Coordinate ``i`` of the result is ``(f(x + step e_i) - f(x - step e_i)) / (2 step)``,
    in float64, for every coordinate of the flat ``point`` or only those in ``indices``
    (the others are NaN). ``function`` receives an array shaped and typed like ``point``;
    ``point`` itself is not modified. The error is about ``step**2 |f'''|`` from truncation
    plus ``eps |f| / step`` from rounding: near 1e-10 for O(1) float64 losses at the
    default step.
    """
    point = np.asarray(point)
    flat = point.ravel()
    gradient = np.full(flat.shape, np.nan)
    for i in range(flat.size) if indices is None else indices:
        shifted = flat.copy()
        shifted[i] = flat[i] + step
        upper = function(shifted.reshape(point.shape))
        shifted[i] = flat[i] - step
        lower = function(shifted.reshape(point.shape))
        gradient[i] = (upper - lower) / (2 * step)
    return gradient.reshape(point.shape)


_FLAGS = ("C_CONTIGUOUS", "F_CONTIGUOUS", "WRITEABLE", "OWNDATA", "ALIGNED")


def _state(obj):
    """Everything observable about an input that fitting or predicting must not change."""
    if sp.issparse(obj):
        return {
            "kind": "sparse",
            "format": obj.format,
            "shape": obj.shape,
            "dtype": obj.dtype,
            "data": obj.data.copy(),
            "indices": obj.indices.copy(),
            "indptr": obj.indptr.copy(),
            "index_dtype": obj.indices.dtype,
            "arrays": [_state(a) for a in (obj.data, obj.indices, obj.indptr)],
        }
    if isinstance(obj, np.ndarray):
        return {
            "kind": "ndarray",
            "type": type(obj),
            "shape": obj.shape,
            "dtype": obj.dtype,
            "strides": obj.strides,
            "pointer": obj.__array_interface__["data"][0],
            "flags": {name: obj.flags[name] for name in _FLAGS},
            "values": obj.copy(),
        }
    return {"kind": "python", "value": copy.deepcopy(obj)}


def _assert_state_equal(before, after):
    assert before["kind"] == after["kind"]
    if before["kind"] == "sparse":
        for key in ("format", "shape", "dtype", "index_dtype"):
            assert before[key] == after[key], key
        for key in ("data", "indices", "indptr"):
            assert_array_equal(before[key], after[key])
        for b, a in zip(before["arrays"], after["arrays"]):
            _assert_state_equal(b, a)
    elif before["kind"] == "ndarray":
        for key in ("type", "shape", "dtype", "strides", "pointer", "flags"):
            assert before[key] == after[key], key
        # assert_array_equal treats NaNs in the same places as equal.
        assert_array_equal(before["values"], after["values"], strict=True)
    else:
        assert before["value"] == after["value"]


@contextlib.contextmanager
def unchanged(*inputs):
    """Assert on exit that every input kept its values, dtype, shape, strides and flags.

    The check runs also when the block raised (for example inside ``pytest.raises``),
    so a rejected input is proven untouched too.
    """
    before = [_state(obj) for obj in inputs]
    try:
        yield
    finally:
        for b, obj in zip(before, inputs):
            _assert_state_equal(b, _state(obj))


@contextlib.contextmanager
def cut_batches(settings):
    """Epochs cut their batches as ``settings`` say (cut_batch_work, min_blocks,
    max_block_work; see bpnet._sgd_fast.set_cut), so that small test networks run in
    many blocks; the default cut when None."""
    if settings is None:
        yield
        return
    previous = _sgd_fast.set_cut(*settings)
    try:
        yield
    finally:
        _sgd_fast.set_cut(*previous)


# The fields of an epoch's options that the kernels keep in their loop state instead.
_STATE_FIELDS = ("learning_rate", "adam_steps", "epoch")


def train_one_epoch(
    layer_table, *args, dropout=None, block_seconds=None, embedding_table=None, codes=None
):
    """One epoch through ``bpnet._sgd_fast.train_epochs``, with the arguments tests have
    always given a one-epoch kernel: ``(layer_table, sparse, X, X_data, X_indices,
    X_indptr, Y, sample_weight, order, params, grads, moment_1, moment_2, workspace,
    options)``, the options holding the epoch's ``learning_rate``, ``adam_steps`` and
    ``epoch`` too; a network with embeddings adds its table and the codes. Returns the
    result with ``loss_sum`` (the mean loss times the rows) and ``adam_steps``;
    ``status`` and ``n_batches`` as the kernel reports them."""
    *head, order, params, grads, moment_1, moment_2, workspace, options = args
    options = {"weight_decay": 0.0, **options}
    learning_rate = options.pop("learning_rate", 0.0)
    adam_steps = options.pop("adam_steps", 0)
    epoch = options.pop("epoch", 0)
    state = {
        "epochs_trained": epoch, "samples_seen": 0, "adam_steps": adam_steps,
        "learning_rate": learning_rate, "best": np.inf, "no_improvement_count": 0,
        "tol": 0.0, "n_iter_no_change": np.inf, "schedule": _rules.Schedule.CONSTANT,
        "learning_rate_init": learning_rate, "power_t": 0.5, "schedule_epoch": 0,
        "base_rate": learning_rate, "horizon": 1, "warmup": 0,
    }  # fmt: skip
    order = np.asarray(order, dtype=np.intp)
    losses = np.empty(1)
    result = _sgd_fast.train_epochs(
        layer_table, *head, order.reshape(1, -1), params, grads, moment_1, moment_2,
        workspace, options, state, False, losses, np.empty(1),
        np.empty(3 * params.shape[0], dtype=params.dtype), dropout, block_seconds,
        embedding_table, codes,
    )  # fmt: skip
    done = result["n_epochs"]
    loss_sum = losses[0] * order.shape[0] if done else np.nan
    return {**result, "loss_sum": loss_sum, "adam_steps": result["state"]["adam_steps"]}
