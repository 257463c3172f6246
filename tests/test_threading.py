"""The BLAS threading policy: one thread for small products, all for large ones."""

import numpy as np
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
        return {p["filepath"]: p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"}

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
