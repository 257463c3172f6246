"""Thread and process parallelism give exactly the serial results.

Prediction runs its kernel without the GIL, so threads really overlap inside it; fitting
too. Every comparison here is exact: the same computation in another thread or process
must produce the same bits.
"""

import json
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
import scipy.sparse as sp
from joblib import Parallel, delayed
from numpy.testing import assert_array_equal
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from bpnet import BPClassifier, BPRegressor

from ._helpers import (
    assert_same_model,
    child_python,
    classification_data,
    hang_limit,
    quiet_fit,
    regression_data,
)

N_THREADS = 8

# Short training runs warn that they did not converge. warnings.catch_warnings is not
# thread-safe, so the warning is silenced for the whole module instead of around fits.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _run_in_threads(work, n_threads=N_THREADS):
    """Run work(i) in n_threads threads released together; return their results in order.

    An exception in any thread fails the test (it is re-raised here).
    """
    barrier = threading.Barrier(n_threads)
    results = [None] * n_threads
    errors = []

    def target(i):
        try:
            barrier.wait(timeout=60)
            results[i] = work(i)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=target, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=hang_limit(300))
    assert not any(t.is_alive() for t in threads), "a thread did not finish"
    if errors:
        raise errors[0]
    return results


@pytest.fixture(scope="module")
def fitted():
    X, y = classification_data(n_samples=600, n_features=20, n_classes=3)
    Xr, yr = regression_data(n_samples=600, n_features=20)
    clf = quiet_fit(BPClassifier(hidden_layer_sizes=(64, 32), max_iter=20, random_state=0), X, y)
    reg = quiet_fit(
        BPRegressor(hidden_layer_sizes=(64, 32), max_iter=20, random_state=0),
        Xr.astype(np.float32), yr,
    )  # fmt: skip
    return clf, reg


def test_concurrent_predict_matches_serial(fitted):
    clf, reg = fitted
    rng = np.random.RandomState(1)
    # Each thread gets its own inputs (different sizes, dtypes, layouts, sparse) and also
    # shares one big array with the others.
    shared = rng.randn(4000, 20)
    inputs = []
    for i in range(N_THREADS):
        X = rng.randn(500 + 300 * i, 20)
        if i % 4 == 1:
            X = X.astype(np.float32)
        elif i % 4 == 2:
            X = np.asfortranarray(X)
        elif i % 4 == 3:
            X = sp.csr_matrix(np.where(np.abs(X) > 1, X, 0))
        inputs.append(X)

    def predictions(i):
        X = inputs[i]
        return [
            clf.predict(X), clf.predict_proba(X), reg.predict(X),
            clf.predict_proba(shared), reg.predict(shared),
        ]  # fmt: skip

    serial = [predictions(i) for i in range(N_THREADS)]
    for _ in range(3):
        concurrent = _run_in_threads(predictions)
        for got, expected in zip(concurrent, serial):
            for a, b in zip(got, expected):
                assert a.dtype == b.dtype
                assert_array_equal(a, b)


def test_concurrent_predict_on_one_array_many_times(fitted):
    """Many short calls in every thread, all on the same read-only input."""
    clf, _ = fitted
    X = np.random.RandomState(2).randn(64, 20)
    X.flags.writeable = False
    expected = clf.predict_proba(X)

    def work(i):
        return [clf.predict_proba(X) for _ in range(200)]

    for results in _run_in_threads(work):
        for proba in results:
            assert_array_equal(proba, expected)


def _fit_one(Estimator, params, X, y):
    return Estimator(**params).fit(X, y)


JOBS = [
    (BPClassifier, dict(hidden_layer_sizes=(16,), solver="adam", max_iter=15, random_state=0)),
    (BPClassifier, dict(hidden_layer_sizes=(16, 8), solver="sgd", max_iter=15, random_state=1)),
    (BPClassifier, dict(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=30, random_state=2)),
    (
        BPClassifier,
        dict(hidden_layer_sizes=(16,), early_stopping=True, max_iter=15, random_state=3),
    ),
    (BPRegressor, dict(hidden_layer_sizes=(16,), solver="adam", max_iter=15, random_state=4)),
    (BPRegressor, dict(hidden_layer_sizes=(16, 8), solver="sgd", max_iter=15, random_state=5)),
    (BPRegressor, dict(hidden_layer_sizes=(12,), solver="lbfgs", max_iter=30, random_state=6)),
    (BPRegressor, dict(hidden_layer_sizes=(16,), loss="poisson", max_iter=15, random_state=7)),
]


@pytest.mark.usefixtures("threads_every_phase")
def test_parallel_threaded_fits_match_serial_fits():
    X, y = classification_data(n_samples=400, n_features=10, n_classes=3)
    Xr, yr = regression_data(n_samples=400, n_features=10)
    data = {BPClassifier: (X, y), BPRegressor: (Xr, yr)}

    def tasks(Estimator, params):
        Xd, yd = data[Estimator]
        if params.get("loss") == "poisson":
            yd = np.exp(yd)
        return Estimator, params, Xd, yd

    serial = [_fit_one(*tasks(E, p)) for E, p in JOBS]
    threaded = Parallel(n_jobs=4, backend="threading")(
        delayed(_fit_one)(*tasks(E, p)) for E, p in JOBS
    )
    for got, expected in zip(threaded, serial):
        assert_same_model(got, expected)
        assert got.n_iter_ == expected.n_iter_
        assert getattr(got, "loss_curve_", None) == getattr(expected, "loss_curve_", None)


_MIXED_FITS_CHILD = textwrap.dedent(
    """
    import json, warnings
    import numpy as np
    import threadpoolctl
    from joblib import Parallel, delayed
    from bpnet import BPRegressor

    warnings.simplefilter("ignore")

    def blas_threads():
        return [i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"]

    rng = np.random.RandomState(0)
    X_large, y_large = rng.randn(600, 400), rng.randn(600)
    X_small, y_small = rng.randn(300, 10), rng.randn(300)
    # 200 rows x 400 x 400 multiply-adds per batch product: a "large" network.
    large = dict(hidden_layer_sizes=(400,), max_iter=2, random_state=0)
    jobs = ([(large, X_large, y_large)]
            + [(dict(hidden_layer_sizes=(8,), max_iter=30, random_state=i), X_small, y_small)
               for i in range(16)]
            + [(large, X_large, y_large)])

    def fit(params, X, y):
        return BPRegressor(**params).fit(X, y)

    before = blas_threads()
    serial = [fit(*job) for job in jobs]
    after_serial = blas_threads()
    threaded = Parallel(n_jobs=8, backend="threading")(delayed(fit)(*job) for job in jobs)
    after_threaded = blas_threads()
    same = [all(np.array_equal(a, b) for a, b in zip(t.coefs_ + t.intercepts_,
                                                     s.coefs_ + s.intercepts_))
            for t, s in zip(threaded, serial)]
    print(json.dumps({"before": before, "after_serial": after_serial,
                      "after_threaded": after_threaded, "same": same}))
    """
)


@pytest.mark.usefixtures("threads_every_phase")
def test_threaded_fits_of_small_and_large_networks_match_serial_fits():
    """bpnet runs small products on one BLAS thread and large ones on the library's
    setting, and large products' last bits depend on the thread count. Estimators fitted
    side by side in threads must each get exactly their serial model, and leave the
    process's BLAS thread count as they found it.

    It runs in a fresh process so that the BLAS settings start from the library's
    defaults, whatever other tests in this process did to them.
    """
    child = subprocess.run(
        [sys.executable, "-c", _MIXED_FITS_CHILD],
        capture_output=True, text=True, timeout=hang_limit(600), **child_python(),
    )  # fmt: skip
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout.strip().splitlines()[-1])
    assert result["after_serial"] == result["before"], result
    assert result["after_threaded"] == result["before"], (
        f"fits in threads left the BLAS thread count at {result['after_threaded']}, "
        f"it was {result['before']}"
    )
    assert all(result["same"]), result["same"]


def test_fits_in_threads_while_others_predict(fitted):
    """Fitting in some threads does not disturb predictions running in others."""
    clf, _ = fitted
    X, y = classification_data(n_samples=300, n_features=20, n_classes=3)
    params = dict(hidden_layer_sizes=(32,), max_iter=10, random_state=0)
    expected_model = _fit_one(BPClassifier, params, X, y)
    expected_proba = clf.predict_proba(X)

    def work(i):
        if i % 2:
            return _fit_one(BPClassifier, params, X, y)
        return [clf.predict_proba(X) for _ in range(50)]

    for i, result in enumerate(_run_in_threads(work)):
        if i % 2:
            assert_same_model(result, expected_model)
        else:
            for proba in result:
                assert_array_equal(proba, expected_proba)


@pytest.mark.parametrize(
    "Estimator, grid, cv",
    [
        (
            BPClassifier,
            {
                "hidden_layer_sizes": [(8,), (16,)],
                "alpha": [1e-4, 1e-1],
                "solver": ["adam", "lbfgs"],
            },
            StratifiedKFold(3),
        ),
        (
            BPRegressor,
            {"hidden_layer_sizes": [(8,), (8, 4)], "activation": ["relu", "tanh"]},
            KFold(3),
        ),
    ],
)
def test_grid_search_in_processes_matches_serial(Estimator, grid, cv):
    if Estimator is BPClassifier:
        X, y = classification_data(n_samples=150, n_features=6, n_classes=3)
    else:
        X, y = regression_data(n_samples=150, n_features=6)
    base = Estimator(max_iter=25, random_state=0)

    def search(n_jobs):
        return GridSearchCV(base, grid, cv=cv, n_jobs=n_jobs, error_score="raise").fit(X, y)

    serial, parallel = search(1), search(2)
    assert parallel.best_params_ == serial.best_params_
    for key in ("mean_test_score", "std_test_score", "rank_test_score") + tuple(
        f"split{k}_test_score" for k in range(3)
    ):
        assert_array_equal(parallel.cv_results_[key], serial.cv_results_[key], err_msg=key)
    assert_same_model(parallel.best_estimator_, serial.best_estimator_)
    assert_array_equal(parallel.predict(X), serial.predict(X))
