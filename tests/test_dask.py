"""bpnet on a real Dask cluster: Incremental training, searches, predictions, .npy files.

Every test runs on one LocalCluster of two single-threaded worker processes, bound to the
loopback interface, so that models and blocks really are pickled between processes.
"""

import doctest
import importlib
import mmap
import pickle
import threading
import time
import warnings

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, HalvingRandomSearchCV, RandomizedSearchCV
from sklearn.utils import check_random_state

from bpnet import BPClassifier, BPRegressor

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
wrappers = pytest.importorskip("dask_ml.wrappers")
dask_ml_selection = pytest.importorskip("dask_ml.model_selection")

import bpnet.dask  # noqa: E402 - needs dask, whose absence skips the module above
from bpnet.dask import from_npy, predict_blocks  # noqa: E402

CLASSES = np.array([0, 1, 2])


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            # A free loopback port: the scheduler's HTTP server would take 8787 otherwise.
            dashboard_address="127.0.0.1:0",
            local_directory=tmp_path_factory.mktemp("dask-workers"),
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        client.wait_for_workers(2)
        # Import what the tasks need once, before any test is timed.
        client.run(importlib.import_module, "bpnet.dask")
        client.run(importlib.import_module, "dask_ml.wrappers")
        yield client


def _classification(n_samples=1200, n_features=8, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    y = np.digitize(X[:, 0] + X[:, 1] * X[:, 2], [-0.5, 0.5])
    return X, y


def _local_partial_fits(estimator, X, y, row_blocks, order, **fit_params):
    """partial_fit over the row blocks of (X, y) in the given order, in this process."""
    bounds = np.cumsum((0, *row_blocks))
    for index in order:
        rows = slice(bounds[index], bounds[index + 1])
        estimator.partial_fit(X[rows], y[rows], **fit_params)
    return estimator


def _assert_same_weights(fitted, expected):
    for name in ("coefs_", "intercepts_"):
        for mine, theirs in zip(getattr(fitted, name), getattr(expected, name)):
            assert mine.dtype == theirs.dtype
            assert_array_equal(mine, theirs)


def _by_blocks(method, X, row_blocks):
    """The method applied here to each row block of X in turn: what the workers compute.

    bpnet may round a row's prediction differently in the last bit depending on how many
    rows one call predicts, so this, and not one call on the whole of X, is what a
    prediction over dask blocks must equal bit for bit.
    """
    bounds = np.cumsum((0, *row_blocks))
    return np.concatenate([method(X[start:stop]) for start, stop in zip(bounds, bounds[1:])])


def _ran_on_workers(stream, prefix):
    """The workers that ran tasks whose key starts with this prefix."""
    return {
        task["worker"] for task in stream.data if str(task["key"]).strip("('\"").startswith(prefix)
    }


# --- Incremental ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, shuffle_blocks",
    [(np.float64, False), (np.float32, False), (np.float64, True)],
)
def test_incremental_trains_as_a_local_partial_fit_loop(client, dtype, shuffle_blocks):
    """Incremental passes the blocks, in order (or in the order its random_state
    shuffles them into), to partial_fit; the model goes to the workers and back by pickle
    and comes out bit for bit the model of the same loop run here."""
    X, y = _classification(dtype=dtype)
    row_blocks = (300, 300, 200, 250, 150)
    X_dask = da.from_array(X, chunks=(row_blocks, X.shape[1]))
    y_dask = da.from_array(y, chunks=(row_blocks,))
    settings = dict(hidden_layer_sizes=(16, 8), batch_size=64, random_state=0)
    incremental = wrappers.Incremental(
        BPClassifier(**settings), shuffle_blocks=shuffle_blocks, random_state=3
    )
    with distributed.get_task_stream(client) as stream:
        incremental.fit(X_dask, y_dask, classes=CLASSES)
    assert _ran_on_workers(stream, "fit-")

    # dask_ml.wrappers.Incremental shuffles the list of block indices with
    # check_random_state(random_state).shuffle.
    order = list(range(len(row_blocks)))
    if shuffle_blocks:
        check_random_state(3).shuffle(order)
        assert order != sorted(order)
    expected = _local_partial_fits(
        BPClassifier(**settings), X, y, row_blocks, order, classes=CLASSES
    )
    _assert_same_weights(incremental.estimator_, expected)
    assert incremental.estimator_.t_ == expected.t_ == len(X)
    predicted = incremental.predict(X_dask).compute()
    assert_array_equal(predicted, _by_blocks(expected.predict, X, row_blocks))


def test_incremental_regressor(client):
    X, _ = _classification(n_samples=800)
    y = X[:, 0] - 2 * X[:, 3]
    row_blocks = (200, 200, 200, 200)
    settings = dict(hidden_layer_sizes=(12,), solver="sgd", random_state=1)
    incremental = wrappers.Incremental(BPRegressor(**settings), shuffle_blocks=False)
    incremental.fit(da.from_array(X, chunks=(200, 8)), da.from_array(y, chunks=200))
    expected = _local_partial_fits(BPRegressor(**settings), X, y, row_blocks, range(4))
    _assert_same_weights(incremental.estimator_, expected)


# --- searches with the joblib backend --------------------------------------------------


SEARCHES = {
    "grid": (GridSearchCV, {}),
    "randomized": (RandomizedSearchCV, {"n_iter": 4, "random_state": 0}),
    "halving": (HalvingRandomSearchCV, {"min_resources": 100, "random_state": 0}),
}


@pytest.mark.parametrize("search", SEARCHES)
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_search_with_the_joblib_dask_backend_matches_n_jobs_1(client, search):
    Search, options = SEARCHES[search]
    X, y = _classification(n_samples=300)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (16,)]}
    estimator = BPClassifier(max_iter=40, learning_rate_init=0.01, random_state=0)
    local = Search(estimator, grid, cv=3, n_jobs=1, **options).fit(X, y)
    with distributed.get_task_stream(client) as stream:
        with joblib.parallel_backend("dask"):
            on_cluster = Search(estimator, grid, cv=3, n_jobs=-1, **options).fit(X, y)
    # The fits ran on the workers (joblib hands them over in batches), not in this process.
    assert _ran_on_workers(stream, "")
    scores = [key for key in local.cv_results_ if "test_score" in key]
    assert len(scores) == 6  # 3 splits, mean, std and rank
    for key in scores:
        assert_array_equal(on_cluster.cv_results_[key], local.cv_results_[key])
    assert on_cluster.best_params_ == local.best_params_
    _assert_same_weights(on_cluster.best_estimator_, local.best_estimator_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_dask_ml_grid_search_scores_as_scikit_learn(client):
    X, y = _classification(n_samples=300)
    grid = {"alpha": [1e-4, 1e-1], "hidden_layer_sizes": [(4,), (16,)]}
    estimator = BPClassifier(max_iter=40, learning_rate_init=0.01, random_state=0)
    local = GridSearchCV(estimator, grid, cv=3).fit(X, y)
    on_cluster = dask_ml_selection.GridSearchCV(estimator, grid, cv=3).fit(X, y)
    for split in range(3):
        key = f"split{split}_test_score"
        assert_array_equal(on_cluster.cv_results_[key], local.cv_results_[key])
    # dask-ml averages the splits itself, which may round differently.
    assert_allclose(on_cluster.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
    assert on_cluster.best_params_ == local.best_params_


# --- predictions -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def fitted_models():
    """A multiclass, a multilabel, a single- and a two-target model."""
    X, y = _classification(n_samples=400)
    Y_labels = np.column_stack([X[:, 0] > 0, X[:, 1] > 0, X[:, 0] + X[:, 1] > 0.5])
    Y_targets = np.column_stack([X[:, 0] - X[:, 1], X[:, 2] * 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        settings = dict(hidden_layer_sizes=(16,), max_iter=60, random_state=0)
        return X, {
            "multiclass": BPClassifier(**settings).fit(X, y),
            "multilabel": BPClassifier(**settings).fit(X, Y_labels.astype(int)),
            "regression": BPRegressor(**settings).fit(X, Y_targets[:, 0]),
            "two targets": BPRegressor(**settings).fit(X, Y_targets),
        }


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_parallel_post_fit_predicts_1d_outputs_as_locally(client, fitted_models, kind):
    X, models = fitted_models
    model = models[kind]
    X_dask = da.from_array(X, chunks=(150, 8))
    wrapped = wrappers.ParallelPostFit(model)
    predicted = wrapped.predict(X_dask).compute()
    assert_array_equal(predicted, _by_blocks(model.predict, X, (150, 150, 100)))
    assert_allclose(predicted, model.predict(X), rtol=1e-12)
    if kind == "multiclass":
        proba = wrapped.predict_proba(X_dask).compute()
        assert_array_equal(proba, _by_blocks(model.predict_proba, X, (150, 150, 100)))


@pytest.mark.parametrize(
    "kind, method, width",
    [
        ("multilabel", "predict", 3),
        ("multilabel", "predict_proba", 3),
        ("two targets", "predict", 2),
        ("multiclass", "predict_proba", 3),
        ("multiclass", "predict_log_proba", 3),
        ("multiclass", "predict", None),
        ("regression", "predict", None),
    ],
)
def test_predict_blocks_gives_the_local_predictions(client, fitted_models, kind, method, width):
    X, models = fitted_models
    model = models[kind]
    # Two blocks along the columns too: predict_blocks joins them.
    X_dask = da.from_array(X, chunks=((150, 150, 100), (5, 3)))
    predicted = predict_blocks(model, X_dask, method=method)
    expected = getattr(model, method)(X)
    column_chunks = () if width is None else ((width,),)
    assert predicted.chunks == ((150, 150, 100), *column_chunks)
    assert predicted.shape == expected.shape
    assert predicted.dtype == expected.dtype
    computed = predicted.compute()
    assert_array_equal(computed, _by_blocks(getattr(model, method), X, (150, 150, 100)))
    assert_allclose(computed, expected, rtol=1e-12)


def test_predict_blocks_takes_blocks_of_unknown_and_zero_rows(client, fitted_models):
    X, models = fitted_models
    X_dask = da.from_array(X, chunks=(100, 8))
    keep = np.ones(len(X), dtype=bool)
    keep[100:200] = False  # the second block loses every row
    keep[250:260] = False
    selected = X_dask[da.from_array(keep, chunks=100)]
    assert np.isnan(selected.shape[0])
    predicted = predict_blocks(models["multilabel"], selected)
    assert np.isnan(predicted.shape[0])
    assert_array_equal(predicted.compute(), models["multilabel"].predict(X[keep]))


def test_predict_blocks_rejects_what_it_cannot_map(fitted_models):
    X, models = fitted_models
    with pytest.raises(TypeError, match="dask array"):
        predict_blocks(models["multiclass"], X)
    with pytest.raises(ValueError, match="2-D"):
        predict_blocks(models["multiclass"], da.zeros((4, 2, 2)))
    with pytest.raises(AttributeError):
        predict_blocks(models["regression"], da.from_array(X), method="predict_proba")


def test_docstring_examples_run(client):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        failures, attempted = doctest.testmod(bpnet.dask, optionflags=doctest.ELLIPSIS)
    assert attempted >= 10
    assert failures == 0


# --- data larger than memory -----------------------------------------------------------


def _maps_a_file(array):
    """Whether the array is a view of a memory-mapped file (its pages are the file's)."""
    while array is not None:
        if isinstance(array, mmap.mmap):
            return True
        array = getattr(array, "base", None)
    return False


def _arrays_in_memory(dask_worker):
    """The number and bytes of the arrays the worker holds that are not file mappings."""
    data = getattr(dask_worker.data, "fast", dask_worker.data)
    for _ in range(10):
        try:
            values = list(data.values())
            break
        except RuntimeError:  # the event loop changed the mapping under the copy
            continue
    held = [
        value.nbytes
        for value in values
        if isinstance(value, np.ndarray) and not _maps_a_file(value)
    ]
    return len(held), sum(held)


class _WorkerMemoryMonitor:
    """Polls every worker's arrays from a thread while a computation runs."""

    def __init__(self, client, interval=0.005):
        self.client, self.interval = client, interval
        self.samples = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self):
        while not self._stop.is_set():
            self.samples.append(self.client.run(_arrays_in_memory))
            time.sleep(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def peak_bytes(self):
        return max(nbytes for sample in self.samples for _, nbytes in sample.values())


def test_incremental_reads_an_npy_file_block_by_block(client, tmp_path):
    """A model trained over a .npy file that the workers map themselves equals the model
    trained from memory, while no worker holds more than a few blocks in memory and the
    task graph carries none of the data."""
    n_samples, n_features, block_rows = 24_000, 16, 1_000
    X, y = _classification(n_samples=n_samples, n_features=n_features, seed=1)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    X_dask = from_npy(tmp_path / "X.npy", chunks=(block_rows, n_features))
    y_dask = from_npy(tmp_path / "y.npy", chunks=block_rows)
    graph = pickle.dumps(dict(X_dask.__dask_graph__()) | dict(y_dask.__dask_graph__()))
    block_bytes = block_rows * (n_features * X.itemsize + y.itemsize)
    assert len(graph) < block_bytes / 10

    settings = dict(hidden_layer_sizes=(32,), batch_size=100, random_state=0)
    incremental = wrappers.Incremental(BPClassifier(**settings), shuffle_blocks=False)
    with _WorkerMemoryMonitor(client) as monitor:
        incremental.fit(X_dask, y_dask, classes=CLASSES)
    assert len(monitor.samples) >= 3  # the workers were watched during the fit
    assert monitor.peak_bytes() <= 3 * block_bytes

    in_memory = wrappers.Incremental(BPClassifier(**settings), shuffle_blocks=False)
    in_memory.fit(
        da.from_array(X, chunks=(block_rows, n_features)),
        da.from_array(y, chunks=block_rows),
        classes=CLASSES,
    )
    _assert_same_weights(incremental.estimator_, in_memory.estimator_)
    expected = _local_partial_fits(
        BPClassifier(**settings), X, y, [block_rows] * 24, range(24), classes=CLASSES
    )
    _assert_same_weights(incremental.estimator_, expected)


def test_the_memory_monitor_sees_arrays_held_in_memory(client, tmp_path):
    """The monitor of the test above counts a copy of a block, and not a mapped view."""
    X = np.arange(4000.0).reshape(1000, 4)
    np.save(tmp_path / "X.npy", X)
    mapped = from_npy(tmp_path / "X.npy", chunks=(500, 4)).persist()
    copied = (mapped + 1).persist()
    distributed.wait([mapped, copied])
    with _WorkerMemoryMonitor(client) as monitor:
        time.sleep(0.1)
    last = monitor.samples[-1].values()
    assert sum(count for count, _ in last) == 2  # the two blocks of the copy
    assert sum(nbytes for _, nbytes in last) == X.nbytes
    del mapped, copied
