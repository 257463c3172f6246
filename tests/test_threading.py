"""Threading: the BLAS policy for full-batch products, the threads kernels get."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from threadpoolctl import threadpool_limits

from bpnet import BPClassifier, _parallel, _sgd_fast, _threading
from bpnet._layout import NetworkLayout
from bpnet._parallel import FIRST_PROBE_SECONDS, openmp_available, simulate_governor
from bpnet._threading import largest_gemm_work, uses_one_thread

from ._helpers import cut_batches


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


def test_parallel_prediction_equals_serial(monkeypatch):
    rng = np.random.RandomState(0)
    X, y = rng.randn(3000, 20), rng.randint(3, size=3000)
    est = BPClassifier(hidden_layer_sizes=(30,), max_iter=3, random_state=0).fit(X, y)
    monkeypatch.setenv("BPNET_NUM_THREADS", "4")
    parallel = est.predict_proba(X)
    monkeypatch.setenv("BPNET_NUM_THREADS", "1")
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


def test_available_threads_follows_the_environment_and_openmp_limits(monkeypatch):
    monkeypatch.delenv("BPNET_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threading, "n_cores", lambda: 64)
    if not openmp_available():
        assert _threading.available_threads() == 1
        return
    with threadpool_limits(3, user_api="openmp"):
        assert _threading.available_threads() == 3
    with threadpool_limits(1):
        assert _threading.available_threads() == 1
    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    with threadpool_limits(8, user_api="openmp"):
        assert _threading.available_threads() == 2  # no more than the cores allowed
    monkeypatch.setenv("BPNET_NUM_THREADS", "5")  # taken as asked, beyond the cores
    assert _threading.available_threads() == 5
    monkeypatch.setenv("BPNET_NUM_THREADS", "not a number")
    assert 1 <= _threading.available_threads() <= 2


def test_concurrent_kernel_calls_share_the_cores(monkeypatch):
    monkeypatch.delenv("BPNET_NUM_THREADS", raising=False)
    monkeypatch.setattr(_threading, "n_cores", lambda: 3)
    monkeypatch.setattr(_threading, "openmp_thread_limit", lambda: 3)
    monkeypatch.setattr(_threading, "openmp_available", lambda: True)
    with _threading.kernel_threads() as first:
        with _threading.kernel_threads() as second:
            with _threading.kernel_threads() as third:
                assert (first, second, third) == (3, 1, 1)  # each at least one
        with _threading.kernel_threads(2) as capped:
            assert capped == 1
    with _threading.kernel_threads(2) as alone:
        assert alone == 2  # everything given back; capped by what the call wants


@pytest.mark.usefixtures("threads_every_phase")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("settings", [None, (0, 16, 1e18), (1e18, 16, 2**21)])
def test_fit_is_the_same_with_any_number_of_threads(monkeypatch, settings):
    """Threads change only the speed: the fitted model is bit for bit the same with 1,
    2, 3, 4, 8 and 16 threads, with the default cut (a light one for this network's
    batches of 1.2 million multiply-adds), a fine one and none."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(2000, 40), rng.randint(4, size=2000)
    params = dict(hidden_layer_sizes=(64, 32), batch_size=256, max_iter=4, random_state=0)
    models = {"sgd": [], "adam": []}
    with cut_batches(settings):
        for threads in ("1", "2", "3", "4", "8", "16"):
            monkeypatch.setenv("BPNET_NUM_THREADS", threads)
            for solver in models:
                models[solver].append(BPClassifier(solver=solver, **params).fit(X, y))
    for fits in models.values():
        reference = fits[0]
        for other in fits[1:]:
            assert other.loss_curve_ == reference.loss_curve_
            for a, b in zip(
                other.coefs_ + other.intercepts_, reference.coefs_ + reference.intercepts_
            ):
                assert_array_equal(a, b)


@pytest.mark.usefixtures("threads_every_phase")
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_float32_fit_cut_for_the_blas_direct_path_is_the_same_with_any_threads(monkeypatch):
    """Where the BLAS computes small float32 products in place (direct_product_work), a
    fully cut batch's large products are cut to that size: a cut of its own, the same
    with 1, 2, 3, 8 and 16 threads. A bound of 20000 multiply-adds stands in for
    OpenBLAS's 10^6 so that a small network takes that cut on any machine. (Whether the
    bits differ from the usual cut's depends on the BLAS: each product sums in the same
    order, but a BLAS may split a long sum differently by the product's size.)"""
    rng = np.random.RandomState(0)
    X, y = rng.randn(2100, 60).astype(np.float32), rng.randint(3, size=2100)
    params = dict(hidden_layer_sizes=(96,), batch_size=512, max_iter=3, random_state=0)
    table = NetworkLayout.with_activations([60, 96, 3], "relu", "softmax").table
    assert _sgd_fast.batch_plan(table, 512, direct_work=2e4) != _sgd_fast.batch_plan(table, 512)
    monkeypatch.setattr(_threading, "_direct_work", 2e4)
    assert _threading.direct_product_work(np.float32) == 2e4
    assert _threading.direct_product_work(np.float64) == 0.0
    fits = []
    for threads in ("1", "2", "3", "8", "16"):
        monkeypatch.setenv("BPNET_NUM_THREADS", threads)
        fits.append(BPClassifier(solver="adam", **params).fit(X, y))
    for other in fits[1:]:
        assert other.loss_curve_ == fits[0].loss_curve_
        for a, b in zip(other.coefs_ + other.intercepts_, fits[0].coefs_ + fits[0].intercepts_):
            assert_array_equal(a, b)


class _FakeBlas:
    def __init__(self, internal_api, architecture, filepath):
        self.internal_api, self.architecture, self.filepath = internal_api, architecture, filepath


@pytest.mark.parametrize(
    "libraries, expected",
    [
        ([("openblas", "SkylakeX", "/x/scipy.libs/libscipy_openblas.so")], 1e6),
        ([("openblas", "SapphireRapids", "/x/scipy/.dylibs/libopenblas.dylib")], 1e6),
        ([("openblas", "Haswell", "/x/scipy.libs/libscipy_openblas.so")], 0.0),
        ([("mkl", "SkylakeX", "/x/lib/libmkl_rt.so")], 0.0),
        # NumPy's and SciPy's own: SciPy's is the one the kernels call.
        ([("openblas", "Haswell", "/x/numpy.libs/libscipy_openblas64_.so"),
          ("openblas", "Cooperlake", "/x/scipy.libs/libscipy_openblas.so")], 1e6),
        ([("openblas", "SkylakeX", "/x/numpy.libs/libscipy_openblas64_.so"),
          ("openblas", "Haswell", "/x/scipy.libs/libscipy_openblas.so")], 0.0),
        # Two that cannot be told apart: none known.
        ([("openblas", "SkylakeX", "/a/libopenblas.so"),
          ("openblas", "SkylakeX", "/b/libopenblas.so")], 0.0),
        ([], 0.0),
    ],
)  # fmt: skip
def test_direct_product_work_is_known_for_openblas_avx512_float32_only(
    monkeypatch, libraries, expected
):
    monkeypatch.setattr(_threading, "_direct_work", None)
    monkeypatch.setattr(
        _threading, "_blas_libraries", lambda: [_FakeBlas(*library) for library in libraries]
    )
    assert _threading.direct_product_work(np.float32) == expected
    assert _threading.direct_product_work(np.float64) == 0.0


def _cost(chosen, seconds_per_row, batch_rows=64):
    return sum(seconds_per_row(t, b) * batch_rows for b, t in enumerate(chosen))


@pytest.mark.parametrize("slowdown", [1.5, 3.0, 30.0])
def test_governor_falls_back_to_one_thread_when_threads_are_slower(slowdown):
    """Other work on the cores makes two threads slower than one: after a few batches
    the governor runs on one, and its probes cost a few percent at most."""

    def seconds_per_row(threads, batch):
        return 1e-6 * (slowdown if threads == 2 else 1.0)

    chosen = simulate_governor(2, seconds_per_row, 5000)
    best = _cost([1] * 5000, seconds_per_row)
    assert _cost(chosen, seconds_per_row) <= 1.10 * best
    assert chosen[-100:].count(1) >= 95


def test_governor_keeps_the_threads_that_pay():
    """A fresh governor runs its first FIRST_PROBE_SECONDS on one thread, then climbs a
    level a probe to the threads that pay, and stays there."""

    def seconds_per_row(threads, batch):
        return 1e-6 / threads**0.8

    chosen = simulate_governor(16, seconds_per_row, 20000)
    one_thread_batches = int(FIRST_PROBE_SECONDS / (64 * seconds_per_row(1, 0)))
    assert set(chosen[:one_thread_batches]) == {1}
    # Each level paid, so each probe came FIRST_PROBE_GAP (4 ms) after the last.
    assert set(chosen[one_thread_batches : one_thread_batches + 1000]) == {1, 2, 4, 8, 16}
    later = chosen[one_thread_batches + 1000 :]
    assert later.count(16) >= 0.97 * len(later)


@pytest.mark.parametrize("slowdown", [1.5, 3.0, 30.0, 300.0])
@pytest.mark.parametrize("most", [2, 16])
def test_governor_never_costs_more_than_a_tenth_over_one_thread(slowdown, most):
    """More threads are `slowdown` times slower than one (a core busy, each phase's end
    waiting out another process's time slice). At no point of the fit has the governor
    cost more than 10% over one thread: it starts on one, probes after
    FIRST_PROBE_SECONDS, and gives a probe up part-way through its batch."""

    phases = []

    def seconds_per_row(threads, batch):
        phases.append(threads)
        return 1e-6 * (slowdown if threads > 1 else 1.0)

    chosen = simulate_governor(most, seconds_per_row, 20000, n_phases=12)
    assert max(chosen) > 1  # it did probe
    # The simulated clock at each batch's end, against one thread's.
    phase_seconds = np.where(np.array(phases) > 1, slowdown, 1.0) * 64e-6 / 12
    spent = np.cumsum(phase_seconds)[11::12]
    one = 64e-6 * np.arange(1, len(chosen) + 1)
    assert np.all(spent <= 1.10 * one)


def test_a_probe_is_given_up_within_its_batch():
    """A probe whose batch runs past PROBE_GIVE_UP times the level's batch (plus
    PROBE_SLACK, and 1 ms more in the batch that wakes the threads it adds) runs the
    rest of that batch at the level: one slow phase, not a whole slow batch, is what it
    costs."""
    phases = []

    def seconds_per_row(threads, batch):
        phases.append(threads)
        return 1e-6 * (1000.0 if threads > 1 else 1.0)

    chosen = simulate_governor(2, seconds_per_row, 4000, n_phases=12)
    probes = [b for b, t in enumerate(chosen) if t > 1]
    assert probes
    for b in probes:
        batch_phases = phases[12 * b : 12 * (b + 1)]
        # A phase at 2 threads takes 1000/12 one-thread batches (5.3 ms): the first is
        # over the limit, and every later phase of the batch runs on one thread.
        assert batch_phases[0] == 2 and set(batch_phases[1:]) == {1}


def test_governor_finds_the_level_that_fits_the_free_cores():
    """Sixteen threads, eight cores free: eight threads are fastest."""

    def seconds_per_row(threads, batch):
        return 1e-6 / threads if threads <= 8 else 4e-6

    chosen = simulate_governor(16, seconds_per_row, 5000)
    assert chosen[-1000:].count(8) >= 990


def test_governor_comes_back_when_the_cores_are_free_again():
    def seconds_per_row(threads, batch):
        busy = batch < 2000
        return 1e-6 * (5.0 if threads == 4 and busy else 1.0 / threads)

    chosen = simulate_governor(4, seconds_per_row, 30000)
    assert chosen[1900:2000].count(4) <= 5
    assert chosen[-1000:].count(4) >= 990


@pytest.mark.parametrize("n_phases", [1, 12])
def test_governor_comes_back_when_waking_the_threads_is_slow(n_phases):
    """The first phase on more threads pays for waking the idle ones (a core another
    process holds until its time slice ends), here more than a probe's timed batch may
    take: a probe is judged after that batch, which may take 1 ms more, or the governor
    would never come back to the threads that pay."""
    previous = []

    def seconds_per_row(threads, batch):
        woken = bool(previous) and threads > previous[-1]
        previous.append(threads)
        busy = batch < 2000
        steady = 5.0 if threads == 4 and busy else 1.0 / threads
        # The whole wake-up (12 us a row: 0.77 ms a batch, 6 one-thread batches) in the
        # one phase that wakes.
        return 1e-6 * (steady + (12.0 * n_phases if woken else 0.0))

    chosen = simulate_governor(4, seconds_per_row, 30000, n_phases=n_phases)
    assert chosen[1900:2000].count(4) <= 5
    assert chosen[-1000:].count(4) >= 990


def test_the_governor_off_runs_every_phase_on_all_threads():
    def one_thread_faster(threads, batch):
        return 1e-6 * (3.0 if threads > 1 else 1.0)

    previous = _parallel.set_governor(False)
    try:
        assert simulate_governor(4, one_thread_faster, 3000, n_phases=5) == [4] * 3000
    finally:
        _parallel.set_governor(previous)


def test_a_call_resumes_only_a_governor_with_the_same_levels():
    """A call made with the governor off leaves a state of one level (all threads); a
    governed call of the same workload does not take it up, but starts afresh."""

    def two_threads_faster(threads, batch):
        return 1e-6 * (0.6 if threads == 2 else 1.0)

    assert simulate_governor(2, two_threads_faster, 6000, workload=3.0)[-1] == 2
    previous = _parallel.set_governor(False)
    try:
        assert simulate_governor(2, two_threads_faster, 1, workload=3.0, resume=True) == [2]
    finally:
        _parallel.set_governor(previous)
    assert simulate_governor(2, two_threads_faster, 1, workload=3.0, resume=True) == [1]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_probes_in_real_fits_change_no_bits(monkeypatch):
    """The governor on, probing from the first window on: phases of a batch may run on
    different thread counts (a probe given up part-way), and the model is still the one
    trained on one thread."""
    rng = np.random.RandomState(1)
    X, y = rng.randn(3000, 40), rng.randint(4, size=3000)
    params = dict(hidden_layer_sizes=(64, 32), batch_size=512, max_iter=6, random_state=0)
    monkeypatch.setenv("BPNET_NUM_THREADS", "1")
    reference = BPClassifier(**params).fit(X, y)
    previous = _parallel._set_first_probe(0.0)
    try:
        for threads in ("2", "4"):
            monkeypatch.setenv("BPNET_NUM_THREADS", threads)
            model = BPClassifier(**params).fit(X, y)
            assert model.loss_curve_ == reference.loss_curve_
            for a, b in zip(model.coefs_, reference.coefs_):
                assert_array_equal(a, b)
    finally:
        _parallel._set_first_probe(previous)


def test_governor_resumes_only_the_same_workload():
    """A kernel call resumes the last call's level when it runs the same batches (the
    next epochs of a fit), and finds out anew, from one thread, for another network or
    batch size."""

    def two_threads_faster(threads, batch):
        return 1e-6 * (0.6 if threads == 2 else 1.0)

    assert simulate_governor(2, two_threads_faster, 6000, workload=7.0)[-1] == 2
    # The same workload goes on at two threads; another starts on one.
    assert simulate_governor(2, two_threads_faster, 1, workload=7.0, resume=True) == [2]
    assert simulate_governor(2, two_threads_faster, 1, workload=8.0, resume=True) == [1]


def test_the_core_count_is_kept_until_the_affinity_changes(monkeypatch):
    # joblib's count reads the cgroup's files; bpnet counts again only when the
    # affinity changes (or in a forked child, which resets the count).
    counts = []

    def counting_cpu_count(only_physical_cores=False):
        counts.append(only_physical_cores)
        return 6

    affinity = {0, 1, 2, 3, 4, 5}
    monkeypatch.setattr(_threading, "cpu_count", counting_cpu_count)
    monkeypatch.setattr(_threading.os, "sched_getaffinity", lambda pid: affinity, raising=False)
    monkeypatch.setattr(_threading, "_cores_counted", None)
    assert [_threading.n_cores() for _ in range(5)] == [6] * 5
    assert counts == [False]
    affinity = {0, 1}
    assert _threading.n_cores() == 6  # what cpu_count says, counted again
    assert len(counts) == 2


def test_a_few_rows_predict_without_the_blas_setting(monkeypatch):
    # 16 rows of a (256, 128) network on 100 features: products above OpenBLAS's
    # threading threshold, so each goes in pieces of columns below it, on the calling
    # thread, without the ~25 µs of setting the BLAS threads and back; the numbers are
    # those of the threaded path, within the row-wise tolerance of a different cut.
    from bpnet import _base

    rng = np.random.RandomState(0)
    X = rng.randn(300, 100)
    y = (X[:, 0] > 0).astype(int)
    model = BPClassifier(hidden_layer_sizes=(256, 128), max_iter=2, random_state=0)
    with pytest.warns(Warning):
        model.fit(X, y)
    whole = model.predict_proba(X)

    def no_blas_setting():
        raise AssertionError("the BLAS-thread setting was taken")

    monkeypatch.setattr(_base, "one_blas_thread", no_blas_setting)
    few = model.predict_proba(X[:16])
    np.testing.assert_allclose(few, whole[:16], rtol=1e-12, atol=1e-15)
    with pytest.raises(AssertionError, match="BLAS-thread setting"):
        model.predict_proba(X[:100])


def test_a_softmax_layer_stays_whole_and_below_the_blas_threshold(monkeypatch):
    # Softmax needs whole rows, so a few rows' softmax product is never cut into pieces
    # of columns: their rows are chunked so that it stays below OpenBLAS's threading
    # threshold, and where one row alone passes it the prediction takes the path that
    # holds BLAS to one thread.
    from bpnet import _base

    rng = np.random.RandomState(0)
    X, y = rng.randn(400, 10), rng.randint(100, size=400)
    chunks, held = [], []
    kernel, hold = _base.predict_kernel, _base.one_blas_thread

    def recording_kernel(*args):
        chunks.append(args[8])  # after table, params, the five X arguments and out
        return kernel(*args)

    def recording_hold():
        held.append(True)
        return hold()

    monkeypatch.setattr(_base, "predict_kernel", recording_kernel)
    monkeypatch.setattr(_base, "one_blas_thread", recording_hold)
    for hidden in (300, 3000):
        model = BPClassifier(hidden_layer_sizes=(hidden,), max_iter=1, random_state=0)
        with pytest.warns(Warning):
            model.fit(X, y)
        chunks.clear()
        few = model.predict_proba(X[:16])
        if hidden * 100 <= _base.SMALL_PREDICT_WORK:
            assert not held and chunks[0] * hidden * 100 <= _base.SMALL_PREDICT_WORK
        else:
            assert held
        with threadpool_limits(1):
            assert_array_equal(model.predict_proba(X[:16]), few)


@pytest.mark.parametrize("schedule", ["owned", "static", "dynamic", "guided"])
def test_every_block_of_a_phase_runs_once_under_every_schedule(schedule):
    """However the threads share a phase (their own runs first, then others', under the
    default schedule), every block runs exactly once, with more threads than blocks,
    fewer, or as many, and over many phases in a row."""
    previous = _parallel.set_schedule(schedule)
    try:
        for n_blocks in (0, 1, 2, 3, 7, 16, 33):
            for n_threads in (1, 2, 3, 4, 8, 16):
                counts = _parallel.count_block_runs(n_blocks, n_threads, n_phases=50)
                assert counts.tolist() == [50] * n_blocks, (n_blocks, n_threads)
    finally:
        _parallel.set_schedule(previous)


def test_the_default_schedule_is_the_owned_one():
    assert _parallel.default_schedule == "owned"
    previous = _parallel.set_schedule("static")
    assert previous == "owned"
    _parallel.set_schedule(previous)
    with pytest.raises(ValueError, match="schedule must be one of"):
        _parallel.set_schedule("nonmonotonic")
