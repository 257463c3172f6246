"""Divergence, interruption and overflow: training fails safely and predictions stay finite.

* Divergence: without early stopping, fit raises a helpful ValueError and keeps exactly
  the weights of the last finite epoch; with early stopping it warns and keeps the best
  validated weights.
* Interruption: a Ctrl-C (SIGINT) during fit returns a fitted estimator holding the last
  complete epoch. Simulated interruptions at each point of the epoch loop are tested in
  process, and a real SIGINT is sent to a child process.
* Numerical safety: the activations, softmax and log-loss do not overflow in float32 or
  float64.
"""

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

import bpnet._base
import bpnet._training
from bpnet import BPClassifier, BPRegressor
from bpnet._data import KernelInput
from bpnet._kernels import loss_gradient
from bpnet._kernels import predict as predict_kernel
from bpnet._layout import NetworkLayout
from bpnet._losses import loss_function
from bpnet._rules import EpochStatus

from ._helpers import (
    assert_same_model,
    child_python,
    classification_data,
    hang_limit,
    quiet_fit,
    quiet_partial_fit,
    regression_data,
)

INTERRUPT_WARNING = "Training interrupted by user."


# --- divergence ---------------------------------------------------------------------


def diverging_problem(Estimator, dtype):
    """Inputs scaled by 10 and a large SGD step: the loss grows over a few epochs, then
    overflows. Such a run diverges deterministically, after at least one finite epoch."""
    rng = np.random.RandomState(0)
    X = rng.randn(100, 3)
    if Estimator is BPRegressor:
        y = X @ [1.0, -2.0, 0.5] + 0.1 * rng.randn(100)
        # Full batches ("auto": all 100 rows): the squared error grows super-exponentially.
        scale, lr, batch_size = 10.0, 0.5, "auto"
    else:
        y = (X[:, 0] > 0).astype(int)
        # The log-loss is bounded, so it is the weights that blow up: more steps needed.
        scale, lr, batch_size = 1000.0, 0.5, 20
    params = dict(
        hidden_layer_sizes=(6,),
        solver="sgd",
        momentum=0.0,
        learning_rate_init=lr,
        alpha=0.0,
        batch_size=batch_size,
        max_iter=200,
        # Never stop for lack of improvement: the loss grows, and it is divergence that
        # must end these runs.
        n_iter_no_change=np.inf,
        random_state=0,
    )
    return (X * scale).astype(dtype), y, params


@pytest.mark.parametrize("Estimator", [BPRegressor, BPClassifier])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_divergence_raises_and_keeps_last_finite_epoch(Estimator, dtype):
    X, y, params = diverging_problem(Estimator, dtype)
    est = Estimator(**params)
    with pytest.raises(ValueError) as info:
        est.fit(X, y)
    message = str(info.value)
    assert message.startswith("Solver produced non-finite parameter weights.")
    assert "learning_rate_init" in message
    assert "scale" in message
    completed = len(est.loss_curve_)
    assert completed >= 1, "the problem must diverge after at least one finite epoch"
    assert completed < params["max_iter"]
    assert est.n_iter_ == completed
    assert f"epoch {completed + 1}" in message
    assert np.isfinite(est.loss_curve_).all()

    # The kept weights are finite and exactly those of a run stopped after the last
    # finite epoch: same seed, same shuffles, max_iter = epochs completed.
    for array in est.coefs_ + est.intercepts_:
        assert array.dtype == dtype
        assert np.isfinite(array).all()
    twin = quiet_fit(Estimator(**{**params, "max_iter": completed}), X, y)
    assert_same_model(est, twin)
    assert est.loss_curve_ == twin.loss_curve_
    assert est.t_ == twin.t_

    # The estimator stays usable.
    predictions = est.predict(X)
    assert_array_equal(predictions, twin.predict(X))
    if Estimator is BPClassifier:
        proba = est.predict_proba(X)
        assert np.isfinite(proba).all()
        assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    else:
        assert np.isfinite(predictions).all()


# Adam's steps are about learning_rate_init long whatever the gradient, so it needs an
# absurd rate to overflow.
@pytest.mark.parametrize("solver, lr", [("sgd", 1e10), ("adam", 1e200)])
def test_divergence_in_the_first_epoch_keeps_the_initial_weights(solver, lr):
    X, y, params = diverging_problem(BPRegressor, np.float64)
    params.update(solver=solver, learning_rate_init=lr, batch_size=10)
    est = BPRegressor(**params)
    message = r"^Solver produced non-finite parameter weights\..*epoch 1"
    with pytest.raises(ValueError, match=message):
        est.fit(X * 100, y)
    assert est.n_iter_ == 0 and est.loss_curve_ == []
    # The weights are the initialisation, which max_iter=1 with a tiny rate nearly keeps.
    init = quiet_fit(BPRegressor(**{**params, "learning_rate_init": 1e-300, "max_iter": 1}), X, y)
    for got, expected in zip(est.coefs_ + est.intercepts_, init.coefs_ + init.intercepts_):
        assert np.isfinite(got).all()
        assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("Estimator", [BPRegressor, BPClassifier])
def test_divergence_with_early_stopping_keeps_best_validated_weights(Estimator):
    X, y, params = diverging_problem(Estimator, np.float64)
    params.update(early_stopping=True, validation_fraction=0.2)
    est = Estimator(**params)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)  # no raise
    convergence = [w for w in caught if issubclass(w.category, ConvergenceWarning)]
    assert len(convergence) == 1
    text = str(convergence[0].message)
    assert "diverged" in text and "learning_rate_init" in text and "best validation" in text

    assert np.isnan(est.loss_curve_[-1])
    assert np.isnan(est.validation_scores_[-1])
    assert len(est.loss_curve_) == len(est.validation_scores_) == est.n_iter_
    assert np.isfinite(est.loss_curve_[:-1]).all()
    assert est.n_iter_ < params["max_iter"]

    # The weights are those of the best-scoring epoch: a run that stops right after it
    # ends (with early stopping's own restore) on exactly the same weights.
    best_epoch = int(np.nanargmax(est.validation_scores_)) + 1
    assert est.best_validation_score_ == est.validation_scores_[best_epoch - 1]
    twin = quiet_fit(Estimator(**{**params, "max_iter": best_epoch}), X, y)
    assert_same_model(est, twin)
    predictions = est.predict(X)
    assert_array_equal(predictions, twin.predict(X))
    assert np.isfinite(est.predict(X).astype(float)).all()


# --- interruption, simulated in process --------------------------------------------


class _RaisesOnState(dict):
    """A train_epochs result whose new state is read just as a Ctrl-C arrives."""

    def __getitem__(self, key):
        if key == "state":
            raise KeyboardInterrupt
        return super().__getitem__(key)


def interrupting_train_epoch(monkeypatch, at_call, where):
    """Replace train_epochs so that call number `at_call` (1-based) is interrupted.

    where="before": KeyboardInterrupt between epochs, before the kernel runs;
    where="inside": the kernel trains (changing the weights and optimizer state), then
    reports INTERRUPTED, as it does when it notices a pending SIGINT mid-epoch;
    where="after": the kernel finishes, and the KeyboardInterrupt arrives while Python
    records the epoch.
    """
    # The fake counts calls as epochs, so the loop must call the kernel epoch by epoch
    # (tests/test_epochs_in_one_call.py interrupts a many-epoch call for real).
    monkeypatch.setattr(bpnet._training, "RUN_EPOCHS_IN_ONE_CALL", False)
    real = bpnet._training.train_epochs
    calls = {"n": 0}

    def fake(*args):
        calls["n"] += 1
        if calls["n"] != at_call:
            return real(*args)
        if where == "before":
            raise KeyboardInterrupt
        result = real(*args)
        assert result["status"] == EpochStatus.COMPLETED
        if where == "inside":
            return {**result, "status": EpochStatus.INTERRUPTED}
        return _RaisesOnState(result)

    monkeypatch.setattr(bpnet._training, "train_epochs", fake)
    return calls


def _fit_recording(est, X, y):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    return [w for w in caught if str(w.message) == INTERRUPT_WARNING]


@pytest.mark.parametrize("Estimator", [BPRegressor, BPClassifier])
@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("where", ["before", "inside", "after"])
def test_interrupted_fit_holds_the_last_complete_epoch(monkeypatch, Estimator, solver, where):
    X, y = regression_data() if Estimator is BPRegressor else classification_data(n_classes=3)
    params = dict(
        hidden_layer_sizes=(7,), solver=solver, batch_size=16, max_iter=20, random_state=0
    )
    calls = interrupting_train_epoch(monkeypatch, at_call=4, where=where)
    est = Estimator(**params)
    interrupt_warnings = _fit_recording(est, X, y)
    assert calls["n"] == 4, "fit must stop at the interruption"
    assert len(interrupt_warnings) == 1
    assert interrupt_warnings[0].category is UserWarning

    # Consistent records: one loss per completed epoch. An interruption while the third
    # epoch is being recorded may keep that epoch or drop it, but never half of it.
    expected_epochs = {"before": {3}, "inside": {3}, "after": {3, 4}}[where]
    assert est.n_iter_ in expected_epochs
    assert len(est.loss_curve_) == est.n_iter_
    assert est.t_ == est.n_iter_ * X.shape[0]
    monkeypatch.undo()
    twin = quiet_fit(Estimator(**{**params, "max_iter": est.n_iter_}), X, y)
    assert_same_model(est, twin)
    assert est.loss_curve_ == twin.loss_curve_
    assert_array_equal(est.predict(X), twin.predict(X))


@pytest.mark.parametrize("where", ["inside", "validation"])
def test_interrupted_fit_with_early_stopping_keeps_best_weights(monkeypatch, where):
    """where="validation": the Ctrl-C arrives while the fifth epoch's validation score is
    computed (the prediction kernel raises KeyboardInterrupt on a pending signal)."""
    X, y = classification_data(n_samples=120, n_classes=3)
    params = dict(hidden_layer_sizes=(7,), early_stopping=True, max_iter=20, random_state=0)
    if where == "inside":
        interrupting_train_epoch(monkeypatch, at_call=5, where="inside")
    else:
        real = bpnet._base.predict_kernel
        calls = {"n": 0}

        def fake(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 5:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        monkeypatch.setattr(bpnet._base, "predict_kernel", fake)
    est = BPClassifier(**params)
    assert len(_fit_recording(est, X, y)) == 1
    # Four complete epochs; the fifth is either dropped or (validation case) fully
    # recorded, never half recorded.
    assert est.n_iter_ in ({4} if where == "inside" else {4, 5})
    assert len(est.loss_curve_) == len(est.validation_scores_) == est.n_iter_
    monkeypatch.undo()
    twin = quiet_fit(BPClassifier(**{**params, "max_iter": est.n_iter_}), X, y)
    assert_same_model(est, twin)
    assert est.validation_scores_ == twin.validation_scores_
    assert est.best_validation_score_ == twin.best_validation_score_


@pytest.mark.parametrize("Estimator", [BPRegressor, BPClassifier])
def test_interrupted_lbfgs_keeps_its_last_iterate(monkeypatch, Estimator):
    """A Ctrl-C in the middle of an L-BFGS line search keeps the last completed iterate,
    which is the result of a run stopped at that many iterations."""
    X, y = regression_data() if Estimator is BPRegressor else classification_data(n_classes=3)
    params = dict(hidden_layer_sizes=(7,), solver="lbfgs", max_iter=200, random_state=0)
    real = bpnet._training.loss_gradient
    calls = {"n": 0}

    def fake(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(bpnet._training, "loss_gradient", fake)
    est = Estimator(**params)
    assert len(_fit_recording(est, X, y)) == 1
    assert calls["n"] == 12
    assert 1 <= est.n_iter_ < 12
    monkeypatch.undo()
    twin = quiet_fit(Estimator(**{**params, "max_iter": est.n_iter_}), X, y)
    assert_same_model(est, twin)
    assert est.loss_ == twin.loss_
    assert np.isfinite(est.predict(X).astype(float)).all()


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_interrupted_partial_fit_restores_the_optimizer(monkeypatch, solver):
    """An interrupted partial_fit leaves no trace: the next call continues as if it had
    never happened, which needs the weights *and* the optimizer state restored."""
    X, y = regression_data()
    params = dict(hidden_layer_sizes=(7,), solver=solver, batch_size=16, random_state=0)
    twin = BPRegressor(**params)
    quiet_partial_fit(twin, X, y)
    quiet_partial_fit(twin, X, y)

    est = BPRegressor(**params)
    quiet_partial_fit(est, X, y)
    after_first = [a.copy() for a in est.coefs_ + est.intercepts_]
    interrupting_train_epoch(monkeypatch, at_call=1, where="inside")
    with pytest.warns(UserWarning, match=INTERRUPT_WARNING):
        est.partial_fit(X, y)
    for got, expected in zip(est.coefs_ + est.intercepts_, after_first):
        assert_array_equal(got, expected)
    assert est.t_ == X.shape[0]
    assert len(est.loss_curve_) == 1
    monkeypatch.undo()
    quiet_partial_fit(est, X, y)
    assert_same_model(est, twin)
    assert est.loss_curve_ == twin.loss_curve_


# --- interruption by a real SIGINT --------------------------------------------------

_CHILD = textwrap.dedent(
    """
    import json, threading, time, warnings
    import numpy as np
    from bpnet import BPRegressor

    rng = np.random.RandomState(0)
    X = rng.randn(20000, 100)
    y = rng.randn(20000)
    params = dict(hidden_layer_sizes=(256, 256), max_iter=100000, n_iter_no_change=np.inf,
                  random_state=0)
    est = BPRegressor(verbose=True, **params)   # prints "Iteration k, ..." after each epoch

    def announce():
        # Once the first epoch is done, wait a third of its duration and say READY, so
        # that the SIGINT lands in the middle of a later epoch, inside the nogil kernel.
        start = time.monotonic()
        while len(getattr(est, "loss_curve_", [])) < 1:
            time.sleep(0.002)
        time.sleep((time.monotonic() - start) / 3)
        print("READY", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X, y)
    print("FIT_RETURNED", flush=True)
    twin = BPRegressor(**{**params, "max_iter": est.n_iter_})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        twin.fit(X, y)
    same = all(np.array_equal(a, b) for a, b in zip(est.coefs_ + est.intercepts_,
                                                      twin.coefs_ + twin.intercepts_))
    predictions = est.predict(X[:2000])
    print("RESULT " + json.dumps({
        "warnings": [[w.category.__name__, str(w.message)] for w in caught],
        "n_iter": est.n_iter_,
        "loss_curve_len": len(est.loss_curve_),
        "loss_curve_finite": bool(np.isfinite(est.loss_curve_).all()),
        "predictions_finite": bool(np.isfinite(predictions).all()),
        "same_as_twin": bool(same),
    }), flush=True)
    """
)


def test_sigint_during_fit_returns_a_fitted_estimator():
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **child_python(PYTHONUNBUFFERED="1"),
    )
    lines = queue.Queue()

    def pump():
        for line in child.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()

    def read_until(stop, deadline):
        """Lines up to and including the first one for which stop(line) holds."""
        seen = []
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return seen, "<timeout>"
            if line is None or stop(line):
                return seen, line
            seen.append(line)

    try:
        # Generous: importing, making the data and one epoch on a slow, busy machine (a
        # hang limit, scaled under emulation: a full aarch64 run once took over 300 s).
        before, line = read_until(lambda s: s == "READY", time.monotonic() + hang_limit(300))
        assert line == "READY", (before, line)
        os.kill(child.pid, signal.SIGINT)
        # The kernel checks for signals every few milliseconds of work, so fit must
        # return within seconds of the SIGINT, not at the end of the epoch or of
        # training. 5 s is a behaviour threshold (does fit react to Ctrl-C at all?), far
        # above the expected reaction time even on a slow, loaded machine: it is not a
        # speed benchmark.
        after, line = read_until(lambda s: s == "FIT_RETURNED", time.monotonic() + 5)
        reacted = line == "FIT_RETURNED"
        if reacted:
            _, result_line = read_until(
                lambda s: s.startswith("RESULT "), time.monotonic() + hang_limit(300)
            )
            child.wait(timeout=hang_limit(60))
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    stderr = child.stderr.read()
    assert reacted, f"fit did not return within 5 s of SIGINT; stderr:\n{stderr}"
    assert child.returncode == 0, stderr
    assert "Traceback" not in stderr and "Exception ignored" not in stderr, stderr
    assert result_line is not None and result_line.startswith("RESULT "), (result_line, stderr)
    result = json.loads(result_line[len("RESULT ") :])

    assert ["UserWarning", INTERRUPT_WARNING] in result["warnings"]
    assert result["n_iter"] >= 1
    assert result["loss_curve_len"] == result["n_iter"]
    # One verbose line per completed epoch, none for the interrupted one.
    iterations = [s for s in before + after if s.startswith("Iteration ")]
    assert len(iterations) == result["n_iter"], before + after
    assert result["loss_curve_finite"] and result["predictions_finite"]
    # The restored weights are exactly those after the last complete epoch.
    assert result["same_as_twin"]


# --- numerical safety of activations and losses -------------------------------------

DTYPES = [np.float32, np.float64]


def _dense(X):
    return KernelInput(X).x_args


def _run_predict(layout, params, X):
    out = np.empty((X.shape[0], layout.layer_units[-1]), dtype=X.dtype)
    predict_kernel(layout.table, params, *_dense(X), out)
    return out


def _identity_network(n, output, dtype, hidden=None):
    """A network whose output pre-activations equal the input rows (identity weights)."""
    if hidden is None:
        layout = NetworkLayout([n, n], [output])
    else:
        layout = NetworkLayout([n, n, n], [hidden, output])
    params = np.zeros(layout.n_params, dtype=dtype)
    for coef in layout.unpack(params)[0]:
        coef[...] = np.eye(n, dtype=dtype)
    return layout, params


def _extreme_logits(dtype):
    big = np.finfo(dtype).max / 4
    return np.array(
        [
            [1e4, -1e4, 0.0],
            [1e30, -1e30, 5.0],
            [-1e30, -1e30, -1e30],
            [big, 0.0, -big],
            [-big, -big, big],
            [0.0, 0.0, 0.0],
        ],
        dtype=dtype,
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_output_with_extreme_logits(dtype):
    logits = _extreme_logits(dtype)
    layout, params = _identity_network(3, "softmax", dtype)
    out = _run_predict(layout, params, logits)
    assert not np.isnan(out).any()
    assert ((out >= 0) & (out <= 1)).all()
    assert_allclose(out.sum(axis=1), 1.0, rtol=4 * np.finfo(dtype).eps)
    # Dominant logits take all the mass; equal logits share it.
    assert_allclose(out[1], [1.0, 0.0, 0.0])
    assert_allclose(out[2], [1 / 3] * 3, rtol=1e-6)
    assert_allclose(out[3], [1.0, 0.0, 0.0])
    assert_allclose(out[4], [0.0, 0.0, 1.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hidden", ["logistic", "tanh"])
@pytest.mark.parametrize("output", ["logistic", "softmax"])
def test_saturating_activations_with_extreme_inputs(dtype, hidden, output):
    logits = _extreme_logits(dtype)
    layout, params = _identity_network(3, output, dtype, hidden=hidden)
    out = _run_predict(layout, params, logits)
    assert np.isfinite(out).all()
    assert ((out >= 0) & (out <= 1)).all()
    if output == "softmax":
        assert_allclose(out.sum(axis=1), 1.0, rtol=4 * np.finfo(dtype).eps)
    # The hidden layer saturates exactly: logistic(+huge) = 1, tanh(-huge) = -1.
    hidden_layout, hidden_params = _identity_network(3, hidden, dtype)
    h = _run_predict(hidden_layout, hidden_params, logits)
    low = 0.0 if hidden == "logistic" else -1.0
    assert np.isfinite(h).all()
    assert h[1, 0] == 1.0 and h[1, 1] == low


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("output, loss", [("softmax", "log_loss"), ("logistic", "binary_log_loss")])
def test_log_loss_with_extreme_logits_is_finite(dtype, output, loss):
    """Confidently wrong predictions give a large but finite loss and a bounded gradient."""
    logits = _extreme_logits(dtype)
    layout, params = _identity_network(3, output, dtype)
    # Targets opposite to the dominant logit of each row.
    Y = np.zeros_like(logits)
    Y[np.arange(len(Y)), np.argmin(logits, axis=1)] = 1
    grads = np.empty_like(params)
    sparse, X, X_data, X_indices, X_indptr = _dense(logits)
    value = loss_gradient(
        layout.table, loss_function(loss), 0.0, params, sparse, X, X_data, X_indices, X_indptr,
        Y, np.empty(0, dtype), grads, layout.n_coefs,
    )  # fmt: skip
    assert np.isfinite(value)
    # Clipping at eps bounds each output's loss by -log(eps).
    per_output = -np.log(np.finfo(dtype).eps)
    assert 0 < value <= 3 * per_output * (1 + 1e-6)
    # The intercept gradient is the mean of (p - y): each entry lies in [-1, 1].
    intercept_grad = grads[layout.n_coefs :]
    assert np.isfinite(intercept_grad).all()
    assert (np.abs(intercept_grad) <= 1 + 1e-6).all()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("activation", ["logistic", "tanh", "relu", "identity"])
def test_predict_proba_on_inputs_scaled_by_1e4(dtype, n_classes, activation):
    X, y = classification_data(n_samples=80, n_classes=n_classes)
    X = X.astype(dtype)
    est = quiet_fit(
        BPClassifier(hidden_layer_sizes=(8,), activation=activation, max_iter=30, random_state=0),
        X, y,
    )  # fmt: skip
    for scale in (1e4, -1e4):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no overflow RuntimeWarning either
            proba = est.predict_proba(X * dtype(scale))
        assert proba.dtype == dtype
        assert not np.isnan(proba).any()
        assert ((proba >= 0) & (proba <= 1)).all()
        assert_allclose(proba.sum(axis=1), 1.0, rtol=4 * np.finfo(dtype).eps)
        with warnings.catch_warnings():
            # A softmax probability may underflow to exactly 0, whose log is -inf (as in
            # scikit-learn); only the binary output is clipped to keep its log finite.
            warnings.simplefilter("ignore", RuntimeWarning)
            log_proba = est.predict_log_proba(X * dtype(scale))
        assert not np.isnan(log_proba).any()
        if n_classes == 2:
            assert np.isfinite(log_proba).all()
        assert_array_equal(est.classes_[np.argmax(proba, axis=1)], est.predict(X * dtype(scale)))
