"""Numerical parity with scikit-learn's MLP: same seed, same settings, same numbers.

Every case trains BPClassifier/BPRegressor and MLPClassifier/MLPRegressor side by side in
float64 and requires the loss curve, coefficients and intercepts to agree to a relative
1e-7. Multiclass early stopping and multi-output squared error are left out on purpose:
bpnet stratifies multiclass validation splits and fixes the multi-output gradient
(scikit-learn issue #8349); test_deliberate_differences shows both differ as intended.
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

from bpnet import BPClassifier, BPRegressor

from ._datasets import digits_binary, digits_multiclass, multilabel, positive_weights, regression

RTOL = 1e-7
# Entries within 1e-10 of zero are compared absolutely: relative to a value that small,
# differences of a few ulps of the larger entries are rounding noise, not disagreement.
ATOL = 1e-10

DATA = {
    "multiclass": digits_multiclass,
    "binary": digits_binary,
    "multilabel": multilabel,
    "regression": regression,
}


def fit_pair(problem, params, sample_weight=False, n_calls=1, partial=False):
    X, y = DATA[problem]()
    if problem == "regression":
        ours, theirs = BPRegressor(**params), MLPRegressor(**params)
    else:
        ours, theirs = BPClassifier(**params), MLPClassifier(**params)
    fit_kwargs = {"sample_weight": positive_weights(len(X))} if sample_weight else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for est in (ours, theirs):
            for _ in range(n_calls):
                if partial:
                    classes = {}
                    if problem == "multilabel":
                        classes = {"classes": np.arange(y.shape[1])}
                    elif problem != "regression":
                        classes = {"classes": np.unique(y)}
                    est.partial_fit(X, y, **fit_kwargs, **classes)
                else:
                    est.fit(X, y, **fit_kwargs)
    return ours, theirs, X


def assert_same_model(ours, theirs, X):
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.t_ == theirs.t_
    assert len(ours.loss_curve_) == len(theirs.loss_curve_)
    assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)
    assert_allclose(ours.loss_, theirs.loss_, rtol=RTOL)
    for mine, reference in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert mine.dtype == reference.dtype
        assert_allclose(mine, reference, rtol=RTOL, atol=ATOL)
    if theirs.best_loss_ is None:
        assert ours.best_loss_ is None
    else:
        assert_allclose(ours.best_loss_, theirs.best_loss_, rtol=RTOL)
    if theirs.validation_scores_ is None:
        assert ours.validation_scores_ is None
    else:
        assert_allclose(ours.validation_scores_, theirs.validation_scores_, rtol=RTOL)
        assert_allclose(ours.best_validation_score_, theirs.best_validation_score_, rtol=RTOL)
    if hasattr(theirs, "predict_proba"):
        assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), rtol=RTOL, atol=ATOL)
    assert_allclose(ours.predict(X), theirs.predict(X), rtol=RTOL, atol=ATOL)


BASE = dict(hidden_layer_sizes=(16,), max_iter=12, random_state=0, learning_rate_init=0.05)

SGD_CASES = {
    "nesterov": dict(solver="sgd"),
    "classic-momentum": dict(solver="sgd", nesterovs_momentum=False),
    "no-momentum": dict(solver="sgd", momentum=0.0),
    "invscaling": dict(solver="sgd", learning_rate="invscaling", power_t=0.3),
    # tol and n_iter_no_change chosen so the adaptive rate is divided several times.
    "adaptive": dict(
        solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=1, max_iter=20
    ),
    "no-shuffle": dict(solver="sgd", shuffle=False, batch_size=70),
    "batch-1": dict(solver="sgd", batch_size=1, max_iter=3, learning_rate_init=0.01),
    "full-batch": dict(solver="sgd", batch_size=10_000),
}


@pytest.mark.filterwarnings("ignore:Got `batch_size`:UserWarning")  # the full-batch case
@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
@pytest.mark.parametrize("case", sorted(SGD_CASES))
def test_sgd_parity(problem, case):
    assert_same_model(*fit_pair(problem, {**BASE, **SGD_CASES[case]}))


@pytest.mark.parametrize("problem", ["multiclass", "binary", "multilabel", "regression"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "logistic", "identity"])
def test_adam_parity_per_activation(problem, activation):
    params = {**BASE, "solver": "adam", "activation": activation, "learning_rate_init": 0.01}
    assert_same_model(*fit_pair(problem, params))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression"])
def test_sample_weight_parity(solver, problem):
    params = {**BASE, "solver": solver, "hidden_layer_sizes": (12, 7), "batch_size": 32}
    assert_same_model(*fit_pair(problem, params, sample_weight=True))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("problem", ["binary", "regression"])
@pytest.mark.parametrize("sample_weight", [False, True])
def test_early_stopping_parity(solver, problem, sample_weight):
    params = {
        **BASE,
        "solver": solver,
        "early_stopping": True,
        "max_iter": 25,
        "n_iter_no_change": 3,
    }
    assert_same_model(*fit_pair(problem, params, sample_weight=sample_weight))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("problem", ["multiclass", "multilabel", "regression"])
def test_partial_fit_parity(solver, problem):
    params = {**BASE, "solver": solver}
    assert_same_model(*fit_pair(problem, params, n_calls=4, partial=True))


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_warm_start_parity(solver):
    params = {**BASE, "solver": solver, "warm_start": True, "max_iter": 5}
    assert_same_model(*fit_pair("multiclass", params, n_calls=3))


def test_deep_network_parity():
    params = {
        **BASE,
        "solver": "adam",
        "hidden_layer_sizes": (20, 15, 10),
        "learning_rate_init": 0.01,
    }
    assert_same_model(*fit_pair("multiclass", params))


def test_deliberate_differences():
    """The two cases left out of parity do differ, and only as documented."""
    # Multi-output squared error: scikit-learn's data gradient is n_outputs times the
    # gradient of the loss it reports; with 3 identical outputs bpnet's first step is
    # correspondingly smaller, so the curves separate.
    X, y = regression(n_targets=3)
    params = {
        **BASE,
        "solver": "sgd",
        "momentum": 0.0,
        "alpha": 0.0,
        "max_iter": 1,
        "batch_size": 10_000,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BPRegressor(**params).fit(X, y)
        theirs = MLPRegressor(**params).fit(X, y)
    # The first epoch's loss is computed before any update, so it agrees...
    assert_allclose(ours.loss_curve_[0], theirs.loss_curve_[0], rtol=RTOL)
    # ...but with momentum 0 and one full batch, each output intercept moves by
    # -learning_rate * gradient, and scikit-learn's step is n_outputs = 3 times bpnet's.
    start = _initial_intercepts(params, X, y)[-1]
    assert_allclose(theirs.intercepts_[-1] - start, 3 * (ours.intercepts_[-1] - start), rtol=1e-9)

    # Multiclass early stopping: bpnet's validation split is stratified.
    X, y = digits_multiclass()
    params = {**BASE, "solver": "adam", "early_stopping": True, "max_iter": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = BPClassifier(**params).fit(X, y)
        theirs = MLPClassifier(**params).fit(X, y)
    # The initial weights come before the split, so they agree; the splits do not.
    assert not np.allclose(ours.loss_curve_, theirs.loss_curve_, rtol=RTOL)


def _initial_intercepts(params, X, y):
    """The intercepts a network with these settings starts from (max_iter=0 is invalid,
    so draw them the same way: Glorot uniform, weights then intercepts, per layer)."""
    rng = np.random.RandomState(params["random_state"])
    units = [X.shape[1], *params["hidden_layer_sizes"], y.shape[1]]
    intercepts = []
    for fan_in, fan_out in zip(units[:-1], units[1:]):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        rng.uniform(-bound, bound, (fan_in, fan_out))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return intercepts
