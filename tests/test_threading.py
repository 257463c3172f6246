"""The BLAS threading policy: one thread for small products, measured choice for large."""

import numpy as np
from numpy.testing import assert_array_equal

from bpnet import BPClassifier, _threading
from bpnet._threading import EpochThreading, largest_gemm_work, row_parallel


def test_small_products_always_use_one_thread():
    policy = EpochThreading(rows=200, layer_units=[64, 100, 10])
    assert not policy.adaptive
    assert [policy._choice() for _ in range(3)] == ["one"] * 3


def test_large_products_try_both_then_keep_the_faster(monkeypatch):
    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    policy = EpochThreading(rows=128, layer_units=[784, 256, 10])
    assert largest_gemm_work(128, [784, 256, 10]) >= _threading.PARALLEL_GEMM_WORK
    assert policy.adaptive
    seen = []
    for call in range(2 * _threading.RECHECK_EVERY + 1):
        choice = policy._choice()
        seen.append(choice)
        # Pretend one thread is faster, as on a loaded machine.
        policy.seconds[choice] = 1.0 if choice == "one" else 3.0
        policy.calls += 1
    assert seen[:2] == ["default", "one"]
    rechecks = [i for i, c in enumerate(seen) if c == "default" and i > 0]
    assert rechecks == [_threading.RECHECK_EVERY, 2 * _threading.RECHECK_EVERY]


def test_next_call_records_the_time_of_the_choice(monkeypatch):
    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    policy = EpochThreading(rows=128, layer_units=[784, 256, 10])
    with policy.next_call():
        pass
    assert policy.seconds["default"] is not None and policy.seconds["one"] is None
    assert policy.calls == 1


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


def test_forced_choice_overrides_the_policy(monkeypatch):
    monkeypatch.setattr(_threading, "forced_choice", "default")
    assert EpochThreading(rows=8, layer_units=[4, 3, 2])._choice() == "default"
    monkeypatch.setattr(_threading, "forced_choice", "one")
    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    assert EpochThreading(rows=128, layer_units=[784, 256, 10])._choice() == "one"
