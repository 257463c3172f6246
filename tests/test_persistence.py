"""Persistence: pickle, joblib and skops round trips, the recorded bpnet version.

A loaded estimator must predict exactly as the original and keep training exactly as an
original that was never saved (its optimizer state travels with it).
"""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import skops.io as sio
from numpy.testing import assert_array_equal

import bpnet
import bpnet._base
from bpnet import BPClassifier, BPRegressor

from ._helpers import (
    assert_same_model,
    classification_data,
    quiet_fit,
    quiet_partial_fit,
    regression_data,
)


def _pickle(est):
    return pickle.loads(pickle.dumps(est))


def _joblib(est):
    buffer = io.BytesIO()
    joblib.dump(est, buffer)
    buffer.seek(0)
    return joblib.load(buffer)


# Every type a bpnet estimator's skops file may hold that skops does not trust by
# default: the estimators themselves and the stochastic solvers' optimizers. Any other
# type appearing here would be a change to review before trusting it.
EXPECTED_UNTRUSTED = {
    "bpnet._classes.BPClassifier",
    "bpnet._classes.BPRegressor",
    "bpnet._optimizers.SGD",
    "bpnet._optimizers.Adam",
}


def _skops(est):
    data = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= EXPECTED_UNTRUSTED, untrusted
    assert f"bpnet._classes.{type(est).__name__}" in untrusted
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(data)  # nothing trusted: refused
    return sio.loads(data, trusted=untrusted)


ROUND_TRIPS = {"pickle": _pickle, "joblib": _joblib, "skops": _skops}

CASES = {
    "classifier-adam": (BPClassifier, dict(solver="adam"), "multiclass", np.float64),
    "classifier-sgd-float32": (BPClassifier, dict(solver="sgd"), "binary", np.float32),
    "classifier-lbfgs": (BPClassifier, dict(solver="lbfgs"), "multiclass", np.float64),
    "classifier-multilabel": (BPClassifier, dict(solver="adam"), "multilabel", np.float64),
    "classifier-early-stopping": (
        BPClassifier,
        dict(early_stopping=True),
        "multiclass",
        np.float64,
    ),
    "classifier-string-labels": (BPClassifier, dict(solver="adam"), "strings", np.float64),
    "regressor-adam": (BPRegressor, dict(solver="adam"), "regression", np.float64),
    "regressor-sgd-2d": (BPRegressor, dict(solver="sgd"), "regression-2d", np.float32),
    "regressor-lbfgs-poisson": (
        BPRegressor,
        dict(solver="lbfgs", loss="poisson"),
        "counts",
        np.float64,
    ),
}


def _data(target):
    if target in ("regression", "regression-2d", "counts"):
        X, y = regression_data(n_samples=80)
        if target == "regression-2d":
            y = np.c_[y, -2 * y]
        elif target == "counts":
            y = np.round(np.exp(y))
        return X, y
    X, y = classification_data(n_samples=80, n_classes=2 if target == "binary" else 3)
    if target == "multilabel":
        y = np.c_[y == 0, y == 1, X[:, 0] > 0].astype(int)
    elif target == "strings":
        y = np.array(["cat", "dog", "emu"])[y]
    return X, y


def _fitted(case):
    Estimator, params, target, dtype = CASES[case]
    X, y = _data(target)
    X = X.astype(dtype)
    est = Estimator(hidden_layer_sizes=(6, 4), max_iter=15, random_state=0, **params)
    quiet_fit(est, X, y)
    return est, X, y


def _outputs(est, X):
    outputs = {"predict": est.predict(X)}
    if isinstance(est, BPClassifier):
        outputs["predict_proba"] = est.predict_proba(X)
        outputs["predict_log_proba"] = est.predict_log_proba(X)
    outputs["score"] = np.array(est.score(X, est.predict(X)))
    return outputs


def _assert_same_attributes(loaded, original):
    assert sorted(vars(loaded)) == sorted(vars(original))
    for name, value in vars(original).items():
        other = getattr(loaded, name)
        if name in ("coefs_", "intercepts_"):
            continue  # compared exactly, dtype included, by assert_same_model
        if isinstance(value, np.ndarray):
            assert_array_equal(other, value, err_msg=name)
        elif isinstance(value, (list, tuple, str, int, float, bool, type(None))):
            assert other == value or (value != value and other != other), name


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
@pytest.mark.parametrize("case", list(CASES))
def test_round_trip_predicts_identically(how, case):
    est, X, y = _fitted(case)
    expected = _outputs(est, X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # same version: loading warns about nothing
        loaded = ROUND_TRIPS[how](est)
    assert type(loaded) is type(est)
    assert_same_model(loaded, est)
    _assert_same_attributes(loaded, est)
    assert loaded.get_params() == est.get_params()
    X_new = np.random.RandomState(5).randn(25, X.shape[1]).astype(X.dtype)
    for Xp in (X, X_new, sp.csr_matrix(X_new)):
        got, want = _outputs(loaded, Xp), _outputs(est, Xp)
        for key in want:
            assert got[key].dtype == want[key].dtype, key
            assert_array_equal(got[key], want[key], err_msg=key)
    for key in expected:
        assert_array_equal(_outputs(loaded, X)[key], expected[key])


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
@pytest.mark.parametrize(
    "case",
    [
        "classifier-adam",
        "classifier-sgd-float32",
        "classifier-multilabel",
        "regressor-adam",
        "regressor-sgd-2d",
    ],
)
def test_loaded_estimator_keeps_training_like_the_original(how, case):
    est, X, y = _fitted(case)
    extra = {"classes": np.unique(y)} if isinstance(est, BPClassifier) and y.ndim == 1 else {}
    est = quiet_partial_fit(est, X, y, **extra)  # now it has an optimizer state to carry
    loaded = ROUND_TRIPS[how](est)
    rng = np.random.RandomState(7)
    for _ in range(3):
        rows = rng.permutation(len(X))[:50]
        quiet_partial_fit(loaded, X[rows], y[rows])
        quiet_partial_fit(est, X[rows], y[rows])
        assert_same_model(loaded, est)
        assert loaded.t_ == est.t_
        assert loaded.loss_curve_ == est.loss_curve_
    assert_array_equal(loaded.predict(X), est.predict(X))


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_loaded_estimator_warm_starts_like_the_original(how):
    est, X, y = _fitted("regressor-adam")
    est.set_params(warm_start=True, max_iter=5)
    loaded = ROUND_TRIPS[how](est)
    quiet_fit(loaded, X, y)
    quiet_fit(est, X, y)
    assert_same_model(loaded, est)
    assert loaded.loss_curve_ == est.loss_curve_


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_unfitted_estimator_round_trip(how):
    est = BPClassifier(hidden_layer_sizes=(3,), alpha=0.5, random_state=2)
    loaded = (
        ROUND_TRIPS[how](est)
        if how != "skops"
        else sio.loads(sio.dumps(est), trusted=["bpnet._classes.BPClassifier"])
    )
    assert loaded.get_params() == est.get_params()
    assert not hasattr(loaded, "_bpnet_version")
    X, y = classification_data()
    assert_same_model(quiet_fit(loaded, X, y), quiet_fit(est, X, y))


# --- the bpnet version ----------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_version_is_recorded_at_fit(Estimator, method):
    X, y = classification_data() if Estimator is BPClassifier else regression_data()
    est = Estimator(hidden_layer_sizes=(3,), max_iter=2, random_state=0)
    assert not hasattr(est, "_bpnet_version")
    needs_classes = method == "partial_fit" and Estimator is BPClassifier
    extra = {"classes": np.unique(y)} if needs_classes else {}
    quiet = quiet_fit if method == "fit" else quiet_partial_fit
    quiet(est, X, y, **extra)
    assert est._bpnet_version == bpnet.__version__
    assert est.__getstate__()["_bpnet_version"] == bpnet.__version__


def test_setstate_with_another_version_warns():
    est, X, _ = _fitted("classifier-adam")
    state = est.__getstate__()
    state["_bpnet_version"] = "0.0.1"
    clone = BPClassifier.__new__(BPClassifier)
    with pytest.warns(UserWarning, match="bpnet") as record:
        clone.__setstate__(state)
    messages = [str(w.message) for w in record if "bpnet" in str(w.message)]
    assert len(messages) == 1
    assert "0.0.1" in messages[0] and bpnet.__version__ in messages[0]
    # It still loads and predicts: the warning is advice, not a refusal.
    assert_array_equal(clone.predict(X), est.predict(X))


@pytest.mark.parametrize("how", list(ROUND_TRIPS))
def test_loading_under_another_version_warns(how, monkeypatch):
    est, X, _ = _fitted("regressor-adam")
    fitted_version = est._bpnet_version
    if how == "pickle":
        blob = pickle.dumps(est)
        load = lambda: pickle.loads(blob)  # noqa: E731
    elif how == "joblib":
        buffer = io.BytesIO()
        joblib.dump(est, buffer)
        load = lambda: joblib.load(io.BytesIO(buffer.getvalue()))  # noqa: E731
    else:
        blob = sio.dumps(est)
        load = lambda: sio.loads(blob, trusted=sio.get_untrusted_types(data=blob))  # noqa: E731
    # Load under a pretend newer bpnet.
    monkeypatch.setattr(bpnet._base, "__version__", "99.0.0")
    with pytest.warns(UserWarning) as record:
        loaded = load()
    messages = [str(w.message) for w in record if "bpnet" in str(w.message)]
    assert len(messages) == 1, [str(w.message) for w in record]
    assert f"bpnet {fitted_version}" in messages[0] and "bpnet 99.0.0" in messages[0]
    assert_array_equal(loaded.predict(X), est.predict(X))
    # A new fit records the running version, and its round trip is silent again.
    quiet_fit(loaded, X, est.predict(X))
    assert loaded._bpnet_version == "99.0.0"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pickle.loads(pickle.dumps(loaded))
