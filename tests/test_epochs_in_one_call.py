"""Many epochs in one kernel call give exactly what one call per epoch gives.

A fit that needs no Python between its epochs runs many in one train_epochs call, which
applies the stopping rule and the schedule after each (end_epoch, which the
epoch-by-epoch loop calls through end_epoch_py) and undoes an epoch that diverges or is
interrupted. Every record must come out as the epoch-by-epoch loop writes it.
"""

import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import bpnet._training as training
from bpnet import BPClassifier, BPRegressor
from bpnet._sgd_fast import draw_orders

from ._helpers import assert_same_model


def _fit_both(monkeypatch, make, X, y, **fit_params):
    fitted, caught = [], []
    for one_call in (True, False):
        monkeypatch.setattr(training, "RUN_EPOCHS_IN_ONE_CALL", one_call)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fitted.append(make().fit(X, y, **fit_params))
        caught.append(sorted(str(w.message) for w in record))
    return fitted, caught


def _assert_same_records(a, b):
    assert_same_model(a, b)
    assert a.loss_curve_ == b.loss_curve_
    for name in (
        "n_iter_",
        "t_",
        "loss_",
        "best_loss_",
        "_no_improvement_count",
        "_epochs_trained",
    ):
        assert getattr(a, name) == getattr(b, name), name
    for x, y in zip(a._optimizer.kernel_moments(), b._optimizer.kernel_moments(), strict=True):
        assert_array_equal(x, y)
    assert a._optimizer.learning_rate == b._optimizer.learning_rate


SETTINGS = {
    "adam": dict(solver="adam"),
    "sgd": dict(solver="sgd"),
    "invscaling": dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.05),
    "adaptive": dict(solver="sgd", learning_rate="adaptive", tol=1e-2, n_iter_no_change=2),
    "converges": dict(solver="adam", tol=1e-2, n_iter_no_change=3),
    "no_shuffle": dict(solver="adam", shuffle=False),
    "dropout_clip": dict(solver="sgd", dropout=0.3, max_grad_norm=0.5),
    "float32_batches": dict(solver="adam", batch_size=37),
}


@pytest.mark.parametrize("name", sorted(SETTINGS))
def test_one_call_equals_one_call_per_epoch(monkeypatch, name):
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    if name == "float32_batches":
        X = X.astype(np.float32)
    (a, b), (warned_a, warned_b) = _fit_both(
        monkeypatch,
        lambda: BPClassifier(
            hidden_layer_sizes=(15,), max_iter=40, random_state=0, **SETTINGS[name]
        ),
        X, y, sample_weight=np.linspace(0.5, 1.5, len(y)),
    )  # fmt: skip
    _assert_same_records(a, b)
    assert warned_a == warned_b  # the max_iter warning exactly when the loop gives it


def test_warm_start_continues_alike(monkeypatch):
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    results = []
    for one_call in (True, False):
        monkeypatch.setattr(training, "RUN_EPOCHS_IN_ONE_CALL", one_call)
        est = BPRegressor(hidden_layer_sizes=(10,), max_iter=5, warm_start=True, random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est.fit(X, y.astype(float)).fit(X, y.astype(float))
        results.append(est)
    _assert_same_records(*results)


def test_divergence_is_undone_to_the_last_complete_epoch(monkeypatch):
    rng = np.random.RandomState(0)
    X, y = rng.randn(80, 3), rng.randn(80) * 1e3
    fitted = []
    for one_call in (True, False):
        monkeypatch.setattr(training, "RUN_EPOCHS_IN_ONE_CALL", one_call)
        est = BPRegressor(
            hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=0.5, momentum=0.99,
            max_iter=200, random_state=0,
        )  # fmt: skip
        with pytest.raises(ValueError, match="diverged in epoch"):
            est.fit(X, y)
        fitted.append(est)
    a, b = fitted
    assert a.n_iter_ == b.n_iter_ > 0
    _assert_same_records(a, b)
    assert all(np.isfinite(c).all() for c in a.coefs_)


def test_ctrl_c_undoes_the_interrupted_epoch():
    """A real SIGINT lands inside the many-epoch kernel: the model is that of the epochs
    that completed, exactly."""
    X, y = load_digits(return_X_y=True)
    X, y = X / 16, y
    params = dict(hidden_layer_sizes=(50,), solver="adam", tol=0, n_iter_no_change=10**6,
                  random_state=0)  # fmt: skip
    # The signal must come after the first epochs: half a second natively, where a fit of
    # one epoch takes milliseconds, and 20 such fits' time where the machine is slower (on
    # aarch64 under emulation, setup and the first call's shuffles took longer than half a
    # second and the SIGINT landed before any epoch).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        start = time.perf_counter()
        BPClassifier(max_iter=1, **params).fit(X, y)
        one_epoch_fit = time.perf_counter() - start
    timer = threading.Timer(max(0.5, 20 * one_epoch_fit), os.kill, (os.getpid(), signal.SIGINT))
    est = BPClassifier(max_iter=100_000, **params)
    timer.start()
    try:
        with pytest.warns(UserWarning, match="interrupted"):
            est.fit(X, y)
    finally:
        timer.cancel()
    assert 0 < est.n_iter_ < 100_000
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference = BPClassifier(max_iter=est.n_iter_, **params).fit(X, y)
    _assert_same_records(est, reference)


@pytest.mark.parametrize("name", ["adaptive", "converges", "dropout_clip"])
def test_epochs_split_over_several_calls_equal_one_call_per_epoch(monkeypatch, name):
    """A fit of many rows runs its epochs a few to a call (ORDERS_PER_CALL): the state
    carried from one call to the next is the whole state."""
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16, y[:300]
    monkeypatch.setattr(training.EpochLoop, "ORDERS_PER_CALL", 3 * 300)
    (a, b), (warned_a, warned_b) = _fit_both(
        monkeypatch,
        lambda: BPClassifier(
            hidden_layer_sizes=(15,), max_iter=40, random_state=0, **SETTINGS[name]
        ),
        X, y,
    )  # fmt: skip
    _assert_same_records(a, b)
    assert warned_a == warned_b


@pytest.mark.parametrize("n_rows", [1, 2, 3, 150, 70000])
@pytest.mark.parametrize("subset", [False, True])
def test_drawn_orders_are_randomstate_shuffles(n_rows, subset):
    # The NumPy reference: rng.shuffle(sample_idx) once per epoch, then the training rows
    # in that order; the generator and sample_idx are left as the shuffles leave them.
    train_idx = np.random.RandomState(1).permutation(2 * n_rows)[:n_rows] if subset else None
    rng, expected_rng = np.random.RandomState(0), np.random.RandomState(0)
    sample_idx, expected_idx = np.arange(n_rows), np.arange(n_rows)
    orders = np.empty((4, n_rows), dtype=np.intp)
    draw_orders(rng, sample_idx, orders, train_idx)
    for epoch in range(4):
        expected_rng.shuffle(expected_idx)
        rows = expected_idx if train_idx is None else train_idx[expected_idx]
        assert_array_equal(orders[epoch], rows)
    assert_array_equal(sample_idx, expected_idx)
    assert rng.randint(1 << 30) == expected_rng.randint(1 << 30)


def test_drawn_orders_check_their_shapes():
    with pytest.raises(ValueError, match="one entry per row"):
        draw_orders(np.random.RandomState(0), np.arange(3), np.empty((2, 4), dtype=np.intp))


@pytest.mark.parametrize(
    "stop",
    [
        dict(tol=1e-2, n_iter_no_change=3),  # converges after a few epochs of 200 drawn
        dict(max_iter=7),  # runs every epoch drawn
        dict(early_stopping=True),  # epoch by epoch, with a validation split
    ],
)
@pytest.mark.parametrize("shared", ["instance", "global"])
def test_a_shared_generator_is_left_as_mlp_leaves_it(stop, shared):
    # The shuffles of many epochs are drawn ahead; when the fit stops sooner, the user's
    # generator (a RandomState, or NumPy's global one for random_state=None) must still
    # have made exactly MLP's draws, so that what it draws next is the same.
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    # Two classes: MLP's early-stopping split of several is not stratified, bpnet's is
    # (docs/compatibility.rst), and the two draw differently.
    X, y = X[:200] / 16, y[:200] > 4
    following = []
    for Model in (MLPClassifier, BPClassifier):
        if shared == "instance":
            rng = np.random.RandomState(0)
            random_state = rng
        else:
            np.random.seed(0)  # noqa: NPY002 (the global generator is the point)
            rng, random_state = np.random.mtrand._rand, None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = Model(hidden_layer_sizes=(8,), random_state=random_state, **stop).fit(X, y)
        following.append((model.n_iter_, rng.randint(1 << 30, size=3).tolist()))
    assert following[0] == following[1]


def test_a_generator_drawn_from_meanwhile_is_not_rewound(monkeypatch):
    # Another thread that draws from the same generator while the kernel runs: its draw
    # cannot be undone, so the generator keeps every draw made (the fit's shuffles drawn
    # ahead, then the other's) rather than being put back under it.
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16, y[:200] > 4
    params = dict(hidden_layer_sizes=(8,), tol=1e-2, n_iter_no_change=3)
    train = training.EpochLoop._train
    other = []

    def train_while_another_draws(self, orders, apply_rules):
        other.append(self.rng.randint(1 << 30))
        return train(self, orders, apply_rules)

    monkeypatch.setattr(training.EpochLoop, "_train", train_while_another_draws)
    rng = np.random.RandomState(0)
    model = BPClassifier(**params, random_state=rng).fit(X, y)
    assert model.n_iter_ < 200  # stopped early: every shuffle was drawn, fewer used
    # The same fit with no rewind and the other draw after it.
    monkeypatch.setattr(training.EpochLoop, "_train", train)
    monkeypatch.setattr(training.EpochLoop, "_rewind_shuffles", lambda *args: None)
    expected = np.random.RandomState(0)
    BPClassifier(**params, random_state=expected).fit(X, y)
    assert other == [expected.randint(1 << 30)]
    assert rng.randint(1 << 30, size=3).tolist() == expected.randint(1 << 30, size=3).tolist()
