"""Threading: the BLAS policy for full-batch products, the epoch team for minibatches."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from bpnet import BPClassifier, _threading
from bpnet._threading import largest_gemm_work, row_parallel, uses_one_thread


def test_small_products_use_one_thread_and_large_ones_all():
    assert uses_one_thread(200, [64, 100, 10])
    assert largest_gemm_work(128, [784, 256, 10]) >= _threading.PARALLEL_GEMM_WORK
    assert not uses_one_thread(128, [784, 256, 10])


def test_forced_choice_overrides_the_size_rule(monkeypatch):
    monkeypatch.setattr(_threading, "forced_choice", "default")
    assert not uses_one_thread(8, [4, 3, 2])
    monkeypatch.setattr(_threading, "forced_choice", "one")
    assert uses_one_thread(128, [784, 256, 10])


def test_one_thread_limit_is_applied_and_lifted():
    from threadpoolctl import threadpool_info

    def blas_threads_now():
        return {
            p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"
        }

    before = blas_threads_now()
    with _threading.blas_threads(8, [4, 3, 2]):
        assert set(blas_threads_now().values()) == {1}
    assert blas_threads_now() == before


def test_row_parallel_covers_every_row_once(monkeypatch):
    monkeypatch.setattr(_threading, "n_cores", lambda: 3)
    hits = np.zeros(1000, dtype=int)

    def mark(start, stop):
        hits[start:stop] += 1

    row_parallel(mark, 1000, min_rows_per_task=100)
    assert_array_equal(hits, 1)


def test_parallel_prediction_equals_serial(monkeypatch):
    rng = np.random.RandomState(0)
    X, y = rng.randn(3000, 20), rng.randint(3, size=3000)
    est = BPClassifier(hidden_layer_sizes=(30,), max_iter=3, random_state=0).fit(X, y)
    parallel = est.predict_proba(X)
    monkeypatch.setattr(_threading, "n_cores", lambda: 1)
    assert_array_equal(est.predict_proba(X), parallel)


def test_one_thread_limit_works_from_any_thread():
    """threadpoolctl ignores limits from threads other than the first that set one,
    unless control is handed over; bpnet's limit must hold in every thread."""
    import threading

    from threadpoolctl import threadpool_info

    def blas_counts():
        return {p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

    with _threading.blas_threads(8, [4, 3, 2]):
        assert blas_counts() == {1}
    seen = {}

    def in_thread():
        with _threading.blas_threads(8, [4, 3, 2]):
            seen["inside"] = blas_counts()
        seen["after"] = blas_counts()

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join()
    assert seen["inside"] == {1}
    assert seen["after"] == blas_counts()  # restored to the setting found


def test_epoch_blocks_cut_only_batches_worth_sharing():
    # digits-sized network: batches below ~128 rows stay whole, larger ones are cut.
    assert _threading.epoch_blocks(32, [64, 100, 10]) == {"n_row_blocks": 1, "n_param_blocks": 1}
    cut = _threading.epoch_blocks(200, [64, 100, 10])
    assert cut["n_row_blocks"] == _threading.MAX_ROW_BLOCKS and cut["n_param_blocks"] > 1
    wide = _threading.epoch_blocks(128, [784, 256, 10])
    assert wide == {
        "n_row_blocks": _threading.MAX_ROW_BLOCKS,
        "n_param_blocks": _threading.MAX_PARAM_BLOCKS,
    }
    # Never more row blocks than rows, nor parameter blocks than coefficient rows.
    assert _threading.epoch_blocks(1, [5000, 5000, 2])["n_row_blocks"] == 1
    assert _threading.epoch_blocks(10**6, [1, 1])["n_param_blocks"] == 1


def _team_size(batch_size=128, units=(784, 256, 10)):
    with _threading.epoch_team(_threading.epoch_blocks(batch_size, list(units))) as n:
        return n


def test_epoch_team_follows_the_blas_limit_and_the_environment(monkeypatch):
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    assert _team_size() == 2
    assert _team_size(batch_size=8, units=(4, 3, 2)) == 1  # one block: nothing to share
    with threadpool_limits(1):
        assert _team_size() == 1
    blocks = _threading.epoch_blocks(128, [784, 256, 10])
    with _threading.epoch_team(blocks, _threading.MIN_EPOCH_FLOPS - 1) as short_epochs:
        assert short_epochs == 1  # too little work per epoch to start helpers
    monkeypatch.setattr(_threading, "_requested_threads", "1")
    assert _team_size() == 1


def test_concurrent_epoch_teams_share_the_cores(monkeypatch):
    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    blocks = _threading.epoch_blocks(128, [784, 256, 10])
    with _threading.epoch_team(blocks) as first:
        with _threading.epoch_team(blocks) as second:
            assert (first, second) == (2, 1)
    assert _team_size() == 2  # everything given back


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fit_is_the_same_with_one_thread_or_a_team(monkeypatch):
    """The team size changes only the speed: the fitted model is bit for bit the same."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(2000, 40), rng.randint(4, size=2000)
    params = dict(hidden_layer_sizes=(64, 32), batch_size=256, max_iter=4, random_state=0)
    assert _threading.epoch_blocks(256, [40, 64, 32, 4])["n_row_blocks"] > 1
    monkeypatch.setattr(_threading, "MIN_EPOCH_FLOPS", 0)  # a team even for short epochs
    models = []
    for threads in ("1", "2", "3"):
        monkeypatch.setattr(_threading, "_requested_threads", threads)
        for solver in ("sgd", "adam"):
            models.append(BPClassifier(solver=solver, **params).fit(X, y))
    for solver_index in (0, 1):
        reference = models[solver_index]
        for other in models[solver_index + 2 :: 2]:
            assert other.loss_curve_ == reference.loss_curve_
            for a, b in zip(
                other.coefs_ + other.intercepts_, reference.coefs_ + reference.intercepts_
            ):
                assert_array_equal(a, b)
