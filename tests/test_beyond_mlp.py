"""The options beyond MLP, through the estimators' public API.

Each is compared with an independent computation: class weights with the equivalent
sample_weight; validation data and scoring with NumPy losses on X_val and with a model
trained for exactly the best epoch; dropout and clipping with two epochs of the NumPy
reference (tests/_reference.py); per-layer activations with NumPy forward passes and
Glorot's bounds; huber with squared error and quantile with the coverage it promises.
The kernels themselves are tested in test_training_kernels.py.
"""

import pickle
import warnings
from contextlib import contextmanager

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import make_multilabel_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, get_scorer, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.class_weight import compute_class_weight, compute_sample_weight
from threadpoolctl import threadpool_limits

import bpnet._training
from bpnet import BPClassifier, BPRegressor, _threading
from bpnet._parallel import openmp_available

from . import _reference as ref
from ._helpers import (
    assert_same_model,
    classification_data,
    cut_batches,
    quiet_fit,
    quiet_partial_fit,
    regression_data,
)

SOLVERS = ["sgd", "adam", "lbfgs"]
STOCHASTIC = ["sgd", "adam"]
NEW_ACTIVATIONS = ["leaky_relu", "elu", "gelu", "silu"]
ALL_ACTIVATIONS = ["identity", "logistic", "tanh", "relu", *NEW_ACTIVATIONS]
# String labels, so that class_weight keys are labels and never mistaken for indices.
LABELS = np.array(["eggs", "ham", "spam"])


def small(Estimator, **params):
    defaults = dict(hidden_layer_sizes=(6,), max_iter=8, random_state=0)
    return Estimator(**{**defaults, **params})


def fit(estimator, X, y, sample_weight=None, **fit_params):
    return quiet_fit(estimator, X, y, sample_weight=sample_weight, **fit_params)


def partial_fit(estimator, X, y, sample_weight=None, **fit_params):
    return quiet_partial_fit(estimator, X, y, sample_weight=sample_weight, **fit_params)


def assert_same_fit(a, b, same_calls=True):
    """The same weights to the bit, and the same training records (n_iter_ counts the
    epochs of the last call only, so it is compared when both made the same calls)."""
    assert_same_model(a, b)
    assert a.loss_ == b.loss_
    assert getattr(a, "loss_curve_", None) == getattr(b, "loss_curve_", None)
    assert a.t_ == b.t_
    if same_calls:
        assert a.n_iter_ == b.n_iter_


def labelled(n_classes, n_samples=90, seed=0):
    X, y = classification_data(n_samples, 4, n_classes, seed=seed)
    return X, LABELS[y]


def positive_weights(n, seed=1):
    return np.random.RandomState(seed).uniform(0.2, 3.0, n)


def numpy_forward(coefs, intercepts, X, hidden, output):
    """The network's outputs, computed layer by layer with NumPy in float64."""
    a = np.asarray(X, dtype=np.float64)
    names = [*hidden, output]
    for coef, intercept, name in zip(coefs, intercepts, names, strict=True):
        a = ref.ACTIVATIONS[name](a @ coef.astype(np.float64) + intercept)
    return a


def glorot_init(layer_units, factors, seed):
    """Initial coefs and intercepts: Glorot's uniform bound sqrt(factor / (fan_in +
    fan_out)) per layer, each layer's weights then its intercepts, as scikit-learn draws."""
    rng = np.random.RandomState(seed)
    coefs, intercepts = [], []
    for fan_in, fan_out, factor in zip(layer_units[:-1], layer_units[1:], factors, strict=True):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rng.uniform(-bound, bound, (fan_in, fan_out)))
        intercepts.append(rng.uniform(-bound, bound, fan_out))
    return coefs, intercepts


# --- class_weight -------------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_class_weight_dict_is_its_sample_weight(solver, n_classes, weighted, dtype):
    X, y = labelled(n_classes)
    X = X.astype(dtype)
    sw = positive_weights(len(y)) if weighted else None
    # Both problems have these two classes; a class the dict does not name weighs 1.
    class_weight = {"eggs": 2.5, "ham": 0.3}
    rows = np.array([class_weight.get(label, 1.0) for label in y])
    equivalent = rows if sw is None else sw * rows  # float64, then cast by the estimator
    with_class_weight = fit(
        small(BPClassifier, solver=solver, class_weight=class_weight), X, y, sample_weight=sw
    )
    with_sample_weight = fit(small(BPClassifier, solver=solver), X, y, equivalent)
    assert_same_fit(with_class_weight, with_sample_weight)
    plain = fit(small(BPClassifier, solver=solver), X, y, sample_weight=sw)
    assert not np.array_equal(with_class_weight.coefs_[0], plain.coefs_[0])


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("weighted", [False, True])
def test_balanced_is_compute_class_weight(solver, n_classes, weighted):
    X, y = labelled(n_classes)
    sw = positive_weights(len(y)) if weighted else None
    classes = np.unique(y)
    per_class = compute_class_weight("balanced", classes=classes, y=y, sample_weight=sw)
    rows = per_class[np.searchsorted(classes, y)]
    equivalent = rows if sw is None else sw * rows
    balanced = fit(
        small(BPClassifier, solver=solver, class_weight="balanced"), X, y, sample_weight=sw
    )
    assert_same_fit(balanced, fit(small(BPClassifier, solver=solver), X, y, equivalent))


@pytest.mark.parametrize("solver", SOLVERS)
def test_balanced_counts_classes_with_the_sample_weights(solver):
    """As LogisticRegression: class c weighs sum(w) / (n_classes * sum(w[y == c])), so an
    row of weight w counts as w rows, as repeating it would; it is not the
    unweighted count HistGradientBoosting uses."""
    X, y = labelled(3)
    sw = np.where(y == "ham", 3.0, 1.0)
    sw[y == "spam"] = 0.5
    by_hand = {c: sw.sum() / (3 * sw[y == c].sum()) for c in LABELS}
    equivalent = sw * np.array([by_hand[label] for label in y])
    balanced = fit(
        small(BPClassifier, solver=solver, class_weight="balanced"), X, y, sample_weight=sw
    )
    reference = fit(small(BPClassifier, solver=solver), X, y, equivalent)
    for got, expected in zip(balanced.coefs_, reference.coefs_):
        assert_allclose(got, expected, rtol=1e-12, atol=1e-14)
    unweighted_counts = sw * compute_sample_weight("balanced", y)
    other = fit(small(BPClassifier, solver=solver), X, y, unweighted_counts)
    assert not np.allclose(balanced.coefs_[0], other.coefs_[0])


def _multilabel(n_samples=80):
    X, Y = make_multilabel_classification(
        n_samples=n_samples, n_features=5, n_classes=4, random_state=0
    )
    return StandardScaler().fit_transform(X), Y


@pytest.mark.parametrize("solver", SOLVERS)
def test_multilabel_balanced_is_compute_sample_weight(solver):
    X, Y = _multilabel()
    balanced = fit(small(BPClassifier, solver=solver, class_weight="balanced"), X, Y)
    equivalent = compute_sample_weight("balanced", Y)
    assert len(np.unique(equivalent)) > 4  # a product over labels, not one weight per row
    assert_same_fit(balanced, fit(small(BPClassifier, solver=solver), X, Y, equivalent))


@pytest.mark.parametrize("solver", SOLVERS)
def test_multilabel_balanced_with_sample_weight_is_the_product_over_labels(solver):
    X, Y = _multilabel()
    sw = positive_weights(len(Y))
    rows = np.ones(len(Y))
    for column in Y.T:
        per_class = compute_class_weight(
            "balanced", classes=np.array([0, 1]), y=column, sample_weight=sw
        )
        rows *= per_class[column]
    balanced = fit(
        small(BPClassifier, solver=solver, class_weight="balanced"), X, Y, sample_weight=sw
    )
    assert_same_fit(balanced, fit(small(BPClassifier, solver=solver), X, Y, sw * rows))


@pytest.mark.parametrize("solver", SOLVERS)
def test_multilabel_list_of_dicts(solver):
    X, Y = _multilabel()
    class_weight = [{0: 1.0, 1: 3.0}, {1: 0.5}, {}, {0: 2.0, 1: 0.25}]
    rows = np.ones(len(Y))
    for column, weights in zip(Y.T, class_weight):
        rows *= np.array([weights.get(0, 1.0), weights.get(1, 1.0)])[column]
    est = fit(small(BPClassifier, solver=solver, class_weight=class_weight), X, Y)
    assert_same_fit(est, fit(small(BPClassifier, solver=solver), X, Y, rows))


def _batches():
    """Two partial_fit batches over three classes; the second has no "eggs"."""
    X, y = labelled(3, n_samples=120)
    first, second = slice(0, 60), slice(60, None)
    X2, y2 = X[second][y[second] != "eggs"], y[second][y[second] != "eggs"]
    assert set(y[first]) == set(LABELS) and set(y2) == {"ham", "spam"}
    return (X[first], y[first]), (X2, y2)


@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("weighted", [False, True])
def test_partial_fit_balances_each_batch(solver, weighted):
    """'balanced' in partial_fit weighs each call's batch by its own class counts, with a
    class missing from the batch simply absent."""
    balanced = small(BPClassifier, solver=solver, class_weight="balanced")
    reference = small(BPClassifier, solver=solver)
    for call, (X, y) in enumerate(_batches()):
        sw = positive_weights(len(y), seed=call) if weighted else None
        present = np.unique(y)
        per_class = compute_class_weight("balanced", classes=present, y=y, sample_weight=sw)
        rows = per_class[np.searchsorted(present, y)]
        classes = {"classes": LABELS} if call == 0 else {}
        partial_fit(balanced, X, y, sample_weight=sw, **classes)
        partial_fit(reference, X, y, rows if sw is None else sw * rows, **classes)
        assert_same_fit(balanced, reference)


@pytest.mark.parametrize("solver", STOCHASTIC)
def test_partial_fit_applies_a_class_weight_dict(solver):
    class_weight = {"eggs": 4.0, "spam": 0.5}
    weighted = small(BPClassifier, solver=solver, class_weight=class_weight)
    reference = small(BPClassifier, solver=solver)
    for call, (X, y) in enumerate(_batches()):
        rows = np.array([class_weight.get(label, 1.0) for label in y])
        classes = {"classes": LABELS} if call == 0 else {}
        partial_fit(weighted, X, y, **classes)
        partial_fit(reference, X, y, rows, **classes)
        assert_same_fit(weighted, reference)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("class_weight", ["balanced", {"ham": 3.0, "spam": 0.5}])
def test_class_weight_keeps_weights_equivalent_to_repeating_rows(solver, class_weight):
    """scikit-learn's sample-weight consistency with class weights on: an integer weight
    is a repeated row, a zero weight a dropped one ('balanced' counts the same classes
    either way). Full batches, so the shuffle does not separate the two fits."""
    X, y = labelled(3, n_samples=40)
    sw = np.random.RandomState(2).randint(0, 4, len(y))
    assert sw.sum() <= 200 and all(sw[y == label].sum() > 0 for label in LABELS)
    params = dict(solver=solver, class_weight=class_weight, max_iter=30)
    weighted = fit(small(BPClassifier, **params), X, y, sample_weight=sw)
    repeated = fit(small(BPClassifier, **params), X.repeat(sw, axis=0), y.repeat(sw))
    assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-7, atol=1e-9)


def test_balanced_with_a_class_of_zero_total_weight():
    """A class whose rows all weigh zero: scikit-learn's estimator checks require a fit
    that works or a ValueError naming the class (check_classifiers_one_label_sample_
    weights), and no RuntimeWarning from dividing by its zero count."""
    X, y = labelled(3, n_samples=60)
    sw = np.where(y == "eggs", 0.0, 1.0)
    est = small(BPClassifier, class_weight="balanced")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            est.fit(X, y, sample_weight=sw)
        except ValueError as error:
            assert "class" in str(error)
        else:
            assert np.isfinite(est.predict_proba(X)).all()


# --- validation data and scoring ----------------------------------------------------


def _noisy_classes(n_train=200, n_val=100):
    """Three classes with 30% of the labels random, so that training overfits."""
    X, y = classification_data(n_train + n_val, 5, 3)
    rng = np.random.RandomState(5)
    flip = rng.rand(len(y)) < 0.3
    y = np.where(flip, rng.randint(3, size=len(y)), y)
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


def _noisy_regression(n_train=200, n_val=100):
    X, y = regression_data(n_train + n_val, 5)
    y = y + 0.5 * np.random.RandomState(5).randn(len(y))
    return X[:n_train], y[:n_train], X[n_train:], y[n_train:]


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_validation_data_replaces_the_split(Estimator, solver):
    data = _noisy_classes() if Estimator is BPClassifier else _noisy_regression()
    X, y, X_val, y_val = data
    params = dict(solver=solver, early_stopping=True, n_iter_no_change=np.inf, max_iter=7)
    est = fit(small(Estimator, **params), X, y, X_val=X_val, y_val=y_val)
    assert est.n_iter_ == 7
    for curve in (est.loss_curve_, est.validation_scores_, est.validation_loss_curve_):
        assert len(curve) == 7
    assert est.t_ == 7 * len(X)  # every row trains; none is held out
    split = fit(small(Estimator, **params), X, y)
    assert split.t_ == 7 * (len(X) - int(np.ceil(0.1 * len(X))))


def _validation_case(case):
    """(Estimator, extra parameters, X, y, X_val, y_val, Y_val as the network's targets,
    the reference loss's name and parameters)."""
    rng = np.random.RandomState(3)
    if case in ("binary", "multiclass"):
        n_classes = 2 if case == "binary" else 3
        X, y = classification_data(80, 4, n_classes)
        X_val, y_val = X[:30] + 0.3 * rng.randn(30, 4), y[:30][::-1].copy()
        Y_val = np.eye(n_classes)[y_val][:, 1:] if case == "binary" else np.eye(3)[y_val]
        loss = "binary_log_loss" if case == "binary" else "log_loss"
        return BPClassifier, {}, X, y, X_val, y_val, Y_val, loss, {}
    if case == "multilabel":
        X, Y = _multilabel(110)
        return BPClassifier, {}, X[:80], Y[:80], X[80:], Y[80:], Y[80:], "binary_log_loss", {}
    X, _ = regression_data(80, 4)
    Y = np.c_[np.sin(X[:, 0]), X[:, 1] * X[:, 2]] + 0.2 * rng.randn(80, 2)
    extra, loss_params = {"loss": case}, {}
    if case == "poisson":
        Y = np.exp(0.5 * Y)
    elif case == "huber":
        extra["huber_threshold"] = loss_params["huber_threshold"] = 0.3
    elif case == "quantile":
        extra["quantile"] = loss_params["quantile"] = 0.8
    return BPRegressor, extra, X[:50], Y[:50], X[50:], Y[50:], Y[50:], case, loss_params


VALIDATION_CASES = [
    "binary",
    "multiclass",
    "multilabel",
    "squared_error",
    "poisson",
    "huber",
    "quantile",
]


CLASSIFIER_CASES = ["binary", "multiclass", "multilabel"]


@pytest.mark.parametrize(
    "case, option",
    [(case, option) for case in VALIDATION_CASES for option in ("none", "dropout")]
    + [(case, "class_weight") for case in CLASSIFIER_CASES],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_validation_loss_curve_is_the_data_loss_on_X_val(case, option, weighted):
    """One epoch, so the kept (best) weights are that epoch's: its validation loss is
    the weighted mean of the per-row loss of those weights on X_val, without L2. Dropout
    is off in the validation pass, and class weights do not weigh X_val's rows (only
    sample_weight_val does)."""
    Estimator, extra, X, y, X_val, y_val, Y_val, loss, loss_params = _validation_case(case)
    if option == "class_weight":
        extra = {"class_weight": "balanced" if case == "multilabel" else {1: 7.0}}
    elif option == "dropout":
        extra = {**extra, "dropout": 0.5}
    sw_val = positive_weights(len(X_val), seed=4) if weighted else None
    est = fit(
        small(
            Estimator,
            solver="sgd",
            early_stopping=True,
            n_iter_no_change=1000,
            max_iter=1,
            alpha=0.5,
            learning_rate_init=0.05,
            **extra,
        ),
        X,
        y,
        X_val=X_val,
        y_val=y_val,
        sample_weight_val=sw_val,
    )
    output = numpy_forward(
        est.coefs_, est.intercepts_, X_val, est.hidden_activations_, est.out_activation_
    )
    per_row = ref.per_row_loss(loss, output, Y_val.astype(np.float64), **loss_params)
    expected = np.average(per_row, weights=sw_val)
    assert len(est.validation_loss_curve_) == 1
    assert_allclose(est.validation_loss_curve_[0], expected, rtol=1e-12)
    # The default score on the same outputs: accuracy or R², weighted alike.
    if Estimator is BPClassifier:
        score = accuracy_score(y_val, est.predict(X_val), sample_weight=sw_val)
    else:
        score = r2_score(y_val, output, sample_weight=sw_val)
    assert est.validation_scores_[0] == pytest.approx(score, rel=1e-12)


def test_held_out_rows_keep_their_class_weights():
    """Without X_val the held-out rows' loss is weighted by their class weights."""
    X, y = labelled(3, n_samples=100)
    class_weight = {"eggs": 5.0, "ham": 0.2}
    est = fit(
        small(
            BPClassifier, solver="adam", early_stopping=True, max_iter=1, class_weight=class_weight
        ),
        X,
        y,
    )
    # The split scikit-learn's MLP makes: after the initial weights' draws, stratified.
    rng = np.random.RandomState(0)
    rng.uniform(size=sum(c.size + b.size for c, b in zip(est.coefs_, est.intercepts_)))
    _, val_idx = train_test_split(np.arange(len(y)), random_state=rng, test_size=0.1, stratify=y)
    output = numpy_forward(
        est.coefs_, est.intercepts_, X[val_idx], est.hidden_activations_, "softmax"
    )
    Y_val = (y[val_idx, None] == LABELS).astype(float)
    per_row = ref.per_row_loss("log_loss", output, Y_val)
    weights = np.array([class_weight.get(label, 1.0) for label in y[val_idx]])
    assert_allclose(est.validation_loss_curve_[0], np.average(per_row, weights=weights), 1e-12)
    assert not np.isclose(est.validation_loss_curve_[0], per_row.mean(), rtol=1e-3)


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_scoring_loss_is_minus_the_validation_loss(Estimator):
    X, y, X_val, y_val = _noisy_classes() if Estimator is BPClassifier else _noisy_regression()
    est = fit(
        small(Estimator, early_stopping=True, scoring="loss", max_iter=6, n_iter_no_change=100),
        X,
        y,
        X_val=X_val,
        y_val=y_val,
    )
    assert est.validation_scores_ == [-loss for loss in est.validation_loss_curve_]
    assert est.best_validation_score_ == max(est.validation_scores_)


@pytest.mark.parametrize("Estimator, scoring", [(BPClassifier, "accuracy"), (BPRegressor, "r2")])
@pytest.mark.parametrize("weighted", [False, True])
def test_the_default_scorer_by_name_is_the_default(Estimator, scoring, weighted):
    X, y, X_val, y_val = _noisy_classes() if Estimator is BPClassifier else _noisy_regression()
    sw_val = positive_weights(len(X_val)) if weighted else None
    params = dict(early_stopping=True, max_iter=12, learning_rate_init=0.01, n_iter_no_change=3)
    fits = [
        fit(
            small(Estimator, scoring=s, **params),
            X,
            y,
            X_val=X_val,
            y_val=y_val,
            sample_weight_val=sw_val,
        )
        for s in (None, scoring)
    ]
    assert fits[0].validation_scores_ == fits[1].validation_scores_
    assert_same_fit(*fits)


def test_a_callable_scorer_is_called_on_X_val_each_epoch():
    X, y, X_val, y_val = _noisy_regression()
    calls = []

    def minus_median_error(estimator, X_seen, y_seen):
        assert_array_equal(X_seen, X_val)
        assert_array_equal(y_seen, y_val)
        score = -np.median(np.abs(estimator.predict(X_seen) - y_seen))
        calls.append(score)
        return score

    est = fit(
        small(
            BPRegressor,
            early_stopping=True,
            scoring=minus_median_error,
            max_iter=5,
            n_iter_no_change=100,
            learning_rate_init=0.01,
        ),
        X,
        y,
        X_val=X_val,
        y_val=y_val,
    )
    assert len(calls) == 5
    assert est.validation_scores_ == calls
    assert minus_median_error(est, X_val, y_val) == max(calls)


def _proba_distance(estimator, X, y):
    return -np.abs(estimator.predict_proba(X) - (y[:, None] == estimator.classes_)).mean()


BEST_EPOCH_CASES = [
    (BPClassifier, None),
    (BPClassifier, "loss"),
    (BPClassifier, "neg_log_loss"),
    (BPClassifier, _proba_distance),
    (BPRegressor, None),
    (BPRegressor, "loss"),
    (BPRegressor, "neg_mean_absolute_error"),
]


@pytest.mark.parametrize("Estimator, scoring", BEST_EPOCH_CASES)
def test_the_best_epoch_is_restored_whatever_the_scoring(Estimator, scoring):
    """The kept weights are those of the best-scoring epoch: exactly the model trained
    for that many epochs (training on all of X, as X_val is given), and their score on
    X_val is the best one recorded."""
    if Estimator is BPClassifier:
        X, y, X_val, y_val = _noisy_classes()
        params = dict(solver="adam", learning_rate_init=0.01, max_iter=25)
    else:
        X, y, X_val, y_val = _noisy_regression()
        params = dict(solver="sgd", learning_rate_init=0.05, max_iter=30)
    params.update(hidden_layer_sizes=(30,), batch_size=50, n_iter_no_change=np.inf)
    est = fit(
        small(Estimator, early_stopping=True, scoring=scoring, **params),
        X,
        y,
        X_val=X_val,
        y_val=y_val,
    )
    scores = est.validation_scores_
    best = int(np.argmax(scores))
    assert 0 < best < est.n_iter_ - 1, "the test needs a best epoch before the last"
    assert est.best_validation_score_ == scores[best]
    trained_to_best = fit(small(Estimator, **{**params, "max_iter": best + 1}), X, y)
    assert_same_model(est, trained_to_best)
    if scoring == "loss":
        kind = "log_loss" if Estimator is BPClassifier else "squared_error"
        Y_val = np.eye(3)[y_val] if Estimator is BPClassifier else y_val[:, None]
        output = numpy_forward(est.coefs_, est.intercepts_, X_val, ["relu"], est.out_activation_)
        rescored = -ref.per_row_loss(kind, output, Y_val).mean()
    elif scoring is None:
        rescored = est.score(X_val, y_val)
    else:
        rescored = (get_scorer(scoring) if isinstance(scoring, str) else scoring)(est, X_val, y_val)
    assert rescored == pytest.approx(max(scores), rel=1e-12)


def test_pipeline_transforms_X_val_like_X():
    X, y, X_val, y_val = _noisy_classes()
    X, X_val = 5 * X + 3, 5 * X_val + 3
    params = dict(early_stopping=True, max_iter=6, n_iter_no_change=100)
    with sklearn.config_context(enable_metadata_routing=True):
        net = small(BPClassifier, **params).set_fit_request(X_val=True, y_val=True)
        pipe = Pipeline([("scale", StandardScaler()), ("net", net)], transform_input=["X_val"])
        quiet_fit(pipe, X, y, X_val=X_val, y_val=y_val)
    scaler = StandardScaler().fit(X)
    bare = fit(
        small(BPClassifier, **params),
        scaler.transform(X),
        y,
        X_val=scaler.transform(X_val),
        y_val=y_val,
    )
    fitted = pipe.named_steps["net"]
    assert_same_fit(fitted, bare)
    assert fitted.validation_loss_curve_ == bare.validation_loss_curve_
    untransformed = fit(
        small(BPClassifier, **params), scaler.transform(X), y, X_val=X_val, y_val=y_val
    )
    assert untransformed.validation_loss_curve_ != bare.validation_loss_curve_


@pytest.mark.parametrize("scoring", [None, "loss", "accuracy", "neg_log_loss"])
def test_validation_on_dataframes_warns_about_nothing(scoring):
    """X and X_val as DataFrames with the same columns: scoring them each epoch must not
    warn that X lacks the feature names the estimator was fitted with."""
    X, y, X_val, y_val = _noisy_classes()
    columns = [f"f{i}" for i in range(X.shape[1])]
    X, X_val = pd.DataFrame(X, columns=columns), pd.DataFrame(X_val, columns=columns)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", ConvergenceWarning)
        small(BPClassifier, early_stopping=True, scoring=scoring, max_iter=3).fit(
            X, y, X_val=X_val, y_val=y_val
        )


# --- dropout ------------------------------------------------------------------------


def _dropout_data(Estimator, n_samples=90):
    if Estimator is BPClassifier:
        return classification_data(n_samples, 4, 3)
    return regression_data(n_samples, 4)


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_dropout_changes_the_fit_and_predictions_do_not_drop(Estimator, solver):
    X, y = _dropout_data(Estimator)
    params = dict(solver=solver, hidden_layer_sizes=(8, 6), max_iter=5)
    dropped = fit(small(Estimator, dropout=0.3, **params), X, y)
    plain = fit(small(Estimator, **params), X, y)
    assert not np.array_equal(dropped.coefs_[0], plain.coefs_[0])
    raw = dropped.predict_proba(X) if Estimator is BPClassifier else dropped.predict(X)
    again = dropped.predict_proba(X) if Estimator is BPClassifier else dropped.predict(X)
    assert_array_equal(raw, again)
    output = numpy_forward(
        dropped.coefs_, dropped.intercepts_, X, ["relu", "relu"], dropped.out_activation_
    )
    assert_allclose(raw, output if Estimator is BPClassifier else output.ravel(), rtol=1e-12)


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_dropout_same_random_state_same_model(Estimator):
    X, y = _dropout_data(Estimator)
    fits = [fit(small(Estimator, dropout=0.3, random_state=seed), X, y) for seed in (3, 3, 4)]
    assert_same_fit(fits[0], fits[1])
    assert not np.array_equal(fits[0].coefs_[0], fits[2].coefs_[0])


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("solver", STOCHASTIC)
@pytest.mark.parametrize("dropout", [0.4, [0.5, 0.0], [0.0, 0.25]])
def test_dropout_fit_is_a_sequence_of_partial_fits(Estimator, solver, dropout):
    """Without shuffling, k partial_fit calls see the rows in fit's order and draw the
    same masks (keyed by epoch and row): the same model to the bit."""
    X, y = _dropout_data(Estimator)
    params = dict(
        solver=solver,
        hidden_layer_sizes=(8, 6),
        dropout=dropout,
        shuffle=False,
        batch_size=16,
        n_iter_no_change=1000,
    )
    fitted = fit(small(Estimator, max_iter=4, **params), X, y)
    incremental = small(Estimator, **params)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    for _ in range(4):
        partial_fit(incremental, X, y, **extra)
        extra = {}
    assert_same_fit(fitted, incremental, same_calls=False)


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_dropout_partial_fit_resumes_after_pickling(Estimator):
    """The dropout seed and the epoch count travel with the model: a reloaded model's
    next partial_fit draws the masks the original's would."""
    X, y = _dropout_data(Estimator)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    original = small(Estimator, dropout=[0.3, 0.2], hidden_layer_sizes=(8, 6), batch_size=16)
    partial_fit(original, X, y, **extra)
    partial_fit(original, X, y)
    reloaded = pickle.loads(pickle.dumps(original))
    for est in (original, reloaded):
        partial_fit(est, X[::-1], y[::-1])
    assert_same_fit(original, reloaded)


def test_dropout_on_sparse_input_is_the_dense_fit():
    X, y = _dropout_data(BPClassifier)
    X = np.where(np.abs(X) > 0.5, X, 0.0)
    params = dict(dropout=[0.4, 0.1], hidden_layer_sizes=(8, 6), max_iter=5)
    sparse = fit(small(BPClassifier, **params), sp.csr_matrix(X), y)
    dense = fit(small(BPClassifier, **params), X, y)
    for got, expected in zip(sparse.coefs_ + sparse.intercepts_, dense.coefs_ + dense.intercepts_):
        assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_per_layer_dropout_rates():
    X, y = _dropout_data(BPClassifier)
    params = dict(solver="adam", hidden_layer_sizes=(8, 6), max_iter=4)
    models = {
        repr(rates): fit(small(BPClassifier, dropout=rates, **params), X, y)
        for rates in (0.0, [0.0, 0.0], 0.3, [0.3, 0.3], [0.3, 0.0], [0.0, 0.3])
    }
    assert_same_fit(models["0.0"], models["[0.0, 0.0]"])
    assert_same_fit(models["0.3"], models["[0.3, 0.3]"])
    distinct = [models[key].coefs_[0] for key in ("0.0", "0.3", "[0.3, 0.0]", "[0.0, 0.3]")]
    for i, a in enumerate(distinct):
        for b in distinct[i + 1 :]:
            assert not np.array_equal(a, b)


REFERENCE_CASES = {
    "dropout": dict(dropout=0.3),
    "per_layer_dropout": dict(dropout=[0.5, 0.2]),
    "clipping": dict(max_grad_norm=0.05),
    "dropout_and_clipping": dict(dropout=[0.2, 0.4], max_grad_norm=0.05),
}


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("case", list(REFERENCE_CASES))
@pytest.mark.parametrize("weighted", [False, True])
def test_two_epochs_match_the_numpy_reference(Estimator, case, weighted):
    """Two sgd epochs of the estimator, rows in order (the last batch short), equal two
    epochs of tests/_reference.py from the same initial weights, with the masks drawn
    by the estimator's dropout seed and each epoch's number."""
    option = REFERENCE_CASES[case]
    X, y = _dropout_data(Estimator, n_samples=37)
    if Estimator is BPRegressor:
        y = np.c_[y, np.sin(X[:, 0])]
    sw = positive_weights(len(X)) if weighted else None
    hidden, batch_size, lr, alpha = ["gelu", "tanh"], 8, 0.1, 1e-3
    est = fit(
        small(
            Estimator,
            solver="sgd",
            hidden_layer_sizes=(6, 5),
            activation=hidden,
            shuffle=False,
            batch_size=batch_size,
            learning_rate_init=lr,
            alpha=alpha,
            max_iter=2,
            n_iter_no_change=1000,
            random_state=7,
            **option,
        ),
        X,
        y,
        sample_weight=sw,
    )

    if Estimator is BPClassifier:
        Y, loss = np.eye(3)[y], "log_loss"
    else:
        Y, loss = y, "squared_error"
    layer_units = [X.shape[1], 6, 5, Y.shape[1]]
    layout = ref.make_layout(layer_units, hidden, loss)
    params = np.zeros(layout.n_params)
    coefs, intercepts = layout.unpack(params)
    for view, value in zip(coefs + intercepts, sum(glorot_init(layer_units, [6, 6, 6], 7), [])):
        view[...] = value
    optimizer = {
        "solver": "sgd",
        "learning_rate": lr,
        "momentum": 0.9,
        "nesterov": True,
        "velocity": np.zeros(layout.n_params),
    }
    rates = option.get("dropout", 0.0)
    rates = [*(rates if isinstance(rates, list) else [rates, rates]), 0.0]
    losses = []
    for epoch in range(2):
        dropout = None
        if any(rates):
            dropout = {"rates": rates, "seed": est._dropout_seed, "epoch": epoch}
        loss_sum, params = ref.sgd_epoch(
            layout,
            loss,
            alpha,
            params,
            X,
            Y,
            sw,
            np.arange(len(X)),
            batch_size,
            optimizer,
            dropout=dropout,
            max_grad_norm=option.get("max_grad_norm"),
        )
        losses.append(loss_sum / len(X))
    expected_coefs, expected_intercepts = layout.unpack(params)
    for got, expected in zip(est.coefs_ + est.intercepts_, expected_coefs + expected_intercepts):
        assert_allclose(got, expected, rtol=1e-10, atol=1e-12)
    assert_allclose(est.loss_curve_, losses, rtol=1e-10)
    # The option changed the epochs: without it the weights are elsewhere.
    plain = fit(
        small(Estimator, **{**est.get_params(), "dropout": 0.0, "max_grad_norm": None}),
        X,
        y,
        sample_weight=sw,
    )
    assert not np.allclose(plain.coefs_[0], est.coefs_[0], rtol=1e-6)


@contextmanager
def _recording_threads(monkeypatch):
    """Record the threads each fit's epochs get."""
    sizes = []
    original = bpnet._training.kernel_threads

    @contextmanager
    def recording(*args, **kwargs):
        with original(*args, **kwargs) as n_threads:
            sizes.append(n_threads)
            yield n_threads

    monkeypatch.setattr(bpnet._training, "kernel_threads", recording)
    yield sizes


THREAD_OPTIONS = {
    "dropout": dict(dropout=[0.3, 0.1]),
    "clipping": dict(max_grad_norm=0.5),
}


@pytest.mark.usefixtures("threads_every_phase")
@pytest.mark.parametrize("option", list(THREAD_OPTIONS))
def test_same_model_with_one_thread_or_several(option, monkeypatch):
    """Masks keyed by row and clipping's global norm reduced in a fixed order: the thread
    count, whether set by BPNET_NUM_THREADS or by threadpoolctl's OpenMP limit, changes
    nothing."""
    rng = np.random.RandomState(0)
    X, y = rng.randn(1200, 40), rng.randint(4, size=1200)
    params = dict(
        hidden_layer_sizes=(64, 32),
        batch_size=256,
        max_iter=3,
        random_state=0,
        **THREAD_OPTIONS[option],
    )
    monkeypatch.setattr(_threading, "n_cores", lambda: 2)
    for solver in STOCHASTIC:
        models = []
        with cut_batches((0, 8, 1e18)), _recording_threads(monkeypatch) as threads:
            for requested in ("1", "2"):
                monkeypatch.setenv("BPNET_NUM_THREADS", requested)
                models.append(fit(BPClassifier(solver=solver, **params), X, y))
            monkeypatch.delenv("BPNET_NUM_THREADS")
            for limit in (1, 2):
                with threadpool_limits(limit):
                    models.append(fit(BPClassifier(solver=solver, **params), X, y))
        expected = [1, 2, 1, 2] if openmp_available() else [1, 1, 1, 1]
        assert threads == expected
        for other in models[1:]:
            assert_same_fit(models[0], other)


# --- activations --------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize(
    "activation",
    [["gelu", "tanh"], ["leaky_relu", "elu"], ["silu", "logistic"], ["identity", "relu"]],
)
def test_each_hidden_layer_uses_its_own_activation(Estimator, activation):
    X, y = _dropout_data(Estimator)
    est = fit(small(Estimator, hidden_layer_sizes=(7, 5), activation=activation, max_iter=20), X, y)
    assert est.hidden_activations_ == activation
    raw = est.predict_proba(X) if Estimator is BPClassifier else est.predict(X)[:, None]
    output = numpy_forward(est.coefs_, est.intercepts_, X, activation, est.out_activation_)
    assert_allclose(raw, output, rtol=1e-12, atol=1e-15)
    swapped = numpy_forward(est.coefs_, est.intercepts_, X, activation[::-1], est.out_activation_)
    assert not np.allclose(raw, swapped)


@pytest.mark.parametrize("name", ALL_ACTIVATIONS)
def test_a_list_repeating_one_name_is_that_name(name):
    X, y = _dropout_data(BPClassifier)
    params = dict(hidden_layer_sizes=(7, 5), solver="sgd", max_iter=4)
    as_list = fit(small(BPClassifier, activation=[name, name], **params), X, y)
    as_name = fit(small(BPClassifier, activation=name, **params), X, y)
    assert as_name.hidden_activations_ == as_list.hidden_activations_ == [name, name]
    assert_same_fit(as_list, as_name)


@pytest.mark.parametrize("name", NEW_ACTIVATIONS)
@pytest.mark.parametrize("solver", SOLVERS)
def test_new_activations_train(name, solver):
    X, y = classification_data(120, 4, 3)
    params = dict(hidden_layer_sizes=(10,), activation=name, solver=solver)
    if solver == "lbfgs":
        first = fit(small(BPClassifier, max_iter=1, **params), X, y).loss_
        est = fit(small(BPClassifier, max_iter=200, **params), X, y)
        assert est.loss_ < 0.3 * first
    else:
        est = fit(small(BPClassifier, max_iter=60, learning_rate_init=0.02, **params), X, y)
        assert est.loss_curve_[-1] < 0.5 * est.loss_curve_[0]
        assert np.all(np.diff(est.loss_curve_[:10]) < 0)
    assert est.score(X, y) > 0.9


def test_glorot_bound_follows_each_layers_activation():
    """activation=['logistic', 'relu']: the first layer feeds logistic units (factor 2),
    the second relu units (factor 6), and the output layer takes the last hidden
    layer's factor, as a single name gives every layer in scikit-learn."""
    X, y = classification_data(60, 4, 3)
    est = fit(
        small(
            BPClassifier,
            hidden_layer_sizes=(30, 20),
            activation=["logistic", "relu"],
            solver="sgd",
            momentum=0.0,
            learning_rate_init=1e-12,
            max_iter=1,
            random_state=11,
        ),
        X,
        y,
    )
    layer_units = [4, 30, 20, 3]
    coefs, intercepts = glorot_init(layer_units, [2, 6, 6], seed=11)
    for got, expected in zip(est.coefs_ + est.intercepts_, coefs + intercepts):
        assert_allclose(got, expected, rtol=0, atol=1e-10)
    # The first layer's weights fill the narrower bound, the second's the wider one.
    for coef, factor, (fan_in, fan_out) in zip(est.coefs_[:2], [2, 6], [(4, 30), (30, 20)]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        assert 0.9 * bound < np.abs(coef).max() <= bound


# --- huber and quantile -------------------------------------------------------------


@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("n_outputs", [1, 2])
def test_huber_with_a_huge_threshold_is_squared_error(solver, n_outputs):
    X, y = regression_data(60, 4)
    y = 5 * (y if n_outputs == 1 else np.c_[y, X[:, 0] ** 2])  # residuals well above 1
    huber = fit(small(BPRegressor, loss="huber", huber_threshold=1e300, solver=solver), X, y)
    squared = fit(small(BPRegressor, solver=solver), X, y)
    assert_same_fit(huber, squared)
    default = fit(small(BPRegressor, loss="huber", solver=solver), X, y)
    assert not np.array_equal(default.coefs_[0], squared.coefs_[0])


def _heteroscedastic(n_samples=800, seed=0):
    rng = np.random.RandomState(seed)
    x = rng.uniform(-3, 3, n_samples)
    y = np.sin(x) + (0.3 + 0.2 * np.abs(x)) * rng.randn(n_samples)
    return x[:, None], y


@pytest.mark.parametrize("quantile", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("solver", ["lbfgs", "adam"])
def test_quantile_predictions_cover_that_fraction_of_the_targets(quantile, solver):
    X, y = _heteroscedastic()
    params = (
        dict(max_iter=500) if solver == "lbfgs" else dict(max_iter=150, learning_rate_init=0.01)
    )
    est = fit(
        small(
            BPRegressor,
            loss="quantile",
            quantile=quantile,
            solver=solver,
            hidden_layer_sizes=(16,),
            **params,
        ),
        X,
        y,
    )
    coverage = np.mean(y <= est.predict(X))
    assert abs(coverage - quantile) < 0.05


def test_huber_resists_outliers():
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, (200, 1))
    clean = 2 * X[:, 0]
    y = clean + 0.1 * rng.randn(200)
    y[::10] += 30  # one target in ten is an outlier
    params = dict(hidden_layer_sizes=(8,), activation="identity", solver="lbfgs", max_iter=300)
    huber = fit(small(BPRegressor, loss="huber", huber_threshold=0.5, **params), X, y)
    squared = fit(small(BPRegressor, **params), X, y)
    huber_error = np.median(np.abs(huber.predict(X) - clean))
    assert huber_error < 0.5
    assert huber_error < 0.2 * np.median(np.abs(squared.predict(X) - clean))


@pytest.mark.parametrize("loss", ["huber", "quantile"])
@pytest.mark.parametrize("solver", SOLVERS)
def test_robust_losses_train_with_every_solver_and_report_their_loss(loss, solver):
    X, y = regression_data(100, 4)
    extra = {"quantile": 0.7} if loss == "quantile" else {"huber_threshold": 0.5}
    alpha = 1e-3
    params = dict(loss=loss, solver=solver, alpha=alpha, hidden_layer_sizes=(10,), **extra)
    if solver != "lbfgs":
        params.update(learning_rate_init=0.01)
    first = fit(small(BPRegressor, max_iter=1, **params), X, y).loss_
    est = fit(small(BPRegressor, max_iter=150, **params), X, y)
    assert est.loss_ < 0.5 * first
    if solver == "lbfgs":  # loss_ is the loss of the final weights, L2 term included
        output = numpy_forward(est.coefs_, est.intercepts_, X, ["relu"], "identity")
        data_loss = ref.per_row_loss(loss, output, y[:, None], **extra).mean()
        penalty = 0.5 * alpha * sum((c**2).sum() for c in est.coefs_) / len(X)
        assert est.loss_ == pytest.approx(data_loss + penalty, rel=1e-10)


def test_quantile_loss_needs_its_quantile():
    X, y = regression_data(40, 4)
    with pytest.raises(ValueError, match=r"loss='quantile' needs the quantile"):
        small(BPRegressor, loss="quantile").fit(X, y)


# --- max_grad_norm ------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("solver", STOCHASTIC)
def test_a_huge_max_grad_norm_is_the_unclipped_fit(Estimator, solver):
    X, y = _dropout_data(Estimator)
    huge = fit(small(Estimator, solver=solver, max_grad_norm=1e300), X, y)
    assert_same_fit(huge, fit(small(Estimator, solver=solver), X, y))
    clipped = fit(small(Estimator, solver=solver, max_grad_norm=0.01), X, y)
    assert not np.array_equal(clipped.coefs_[0], huge.coefs_[0])


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_lbfgs_ignores_max_grad_norm(Estimator):
    X, y = _dropout_data(Estimator)
    clipped = fit(small(Estimator, solver="lbfgs", max_grad_norm=0.01), X, y)
    assert_same_fit(clipped, fit(small(Estimator, solver="lbfgs"), X, y))


def test_clipping_keeps_a_diverging_fit_finite():
    X, y = regression_data(100, 4)
    X = 10 * X  # unscaled inputs, with a step size they cannot take
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=1.0, max_iter=50)
    with pytest.raises(ValueError, match="non-finite parameter weights"):
        fit(small(BPRegressor, **params), X, y)
    clipped = fit(small(BPRegressor, max_grad_norm=0.1, **params), X, y)
    assert np.isfinite(clipped.loss_curve_).all()
    assert clipped.loss_curve_[-1] < 0.01 * clipped.loss_curve_[0]
    assert clipped.score(X, y) > 0.5
