"""Malformed input is rejected with a clear error, and the caller's arrays stay untouched.

Every rejection test checks the exception type and a message naming the problem, inside
``unchanged(...)``, which also proves that the arrays passed in kept their values, dtype,
shape, strides and flags. The second half shows that unusual but valid memory layouts
(read-only, strided, Fortran-ordered, memory-mapped, sparse) are accepted, left alone, and
give exactly the model a plain C-contiguous array gives.
"""

import copy
import re
import warnings
from functools import partial

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.frozen import FrozenEstimator
from sklearn.utils._param_validation import InvalidParameterError

from bpnet import BPClassifier, BPRegressor, HiddenFeatures

from ._helpers import (
    assert_same_model,
    classification_data,
    quiet_fit,
    quiet_partial_fit,
    regression_data,
    unchanged,
)

N, D = 40, 4


def small(Estimator, **params):
    defaults = dict(hidden_layer_sizes=(5,), max_iter=3, random_state=0)
    return Estimator(**{**defaults, **params})


def data_for(Estimator):
    return classification_data(N, D) if Estimator is BPClassifier else regression_data(N, D)


ESTIMATORS = [BPClassifier, BPRegressor]


# --- X ------------------------------------------------------------------------------


def _with(value):
    def make(X):
        X = X.copy()
        X[3, 1] = value
        return X

    return make


BAD_X = {
    "nan": (_with(np.nan), ValueError, r"Input X contains NaN"),
    "inf": (_with(np.inf), ValueError, r"Input X contains infinity"),
    "-inf": (_with(-np.inf), ValueError, r"Input X contains infinity"),
    "empty": (lambda X: X[:0], ValueError, r"0 sample\(s\)"),
    "zero_features": (lambda X: X[:, :0], ValueError, r"0 feature\(s\)"),
    "1d": (lambda X: X[:, 0].copy(), ValueError, r"Expected 2D array, got 1D array"),
    "3d": (lambda X: X.reshape(N, 2, 2), ValueError, r"dim 3"),
    "strings": (
        lambda X: np.where(X > 0, "big", "small"),
        ValueError,
        r"could not convert string to float: .*(big|small)",
    ),
    "objects": (
        lambda X: np.array([[object()] * D] * N, dtype=object),
        TypeError,
        r"float\(\) argument must be .* not 'object'",
    ),
    "ragged": (
        lambda X: [list(row[: 1 + i % D]) for i, row in enumerate(X)],
        ValueError,
        r"inhomogeneous",
    ),
    "complex": (lambda X: X + 1j, ValueError, r"Complex data not supported"),
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_X))
def test_fit_rejects_bad_X(Estimator, case):
    make, error, message = BAD_X[case]
    X, y = data_for(Estimator)
    X_bad = make(X)
    y = y[:0] if case == "empty" else y
    with unchanged(X_bad, y), pytest.raises(error, match=message):
        small(Estimator).fit(X_bad, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("case", list(BAD_X))
def test_predict_rejects_bad_X(Estimator, case):
    make, error, message = BAD_X[case]
    X, y = data_for(Estimator)
    est = quiet_fit(small(Estimator), X, y)
    X_bad = make(X)
    methods = [est.predict] + ([est.predict_proba] if Estimator is BPClassifier else [])
    for method in methods:
        with unchanged(X_bad), pytest.raises(error, match=message):
            method(X_bad)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_rejects_nan_X(Estimator):
    X, y = data_for(Estimator)
    X_bad = _with(np.nan)(X)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    with unchanged(X_bad, y), pytest.raises(ValueError, match="Input X contains NaN"):
        small(Estimator).partial_fit(X_bad, y, **extra)


# --- y ------------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_length_mismatch(Estimator):
    X, y = data_for(Estimator)
    with (
        unchanged(X, y),
        pytest.raises(ValueError, match=rf"inconsistent numbers of samples: \[{N}, {N - 1}\]"),
    ):
        small(Estimator).fit(X, y[:-1])


@pytest.mark.parametrize("value, message", [(np.nan, "NaN"), (np.inf, "infinity")])
def test_regressor_rejects_non_finite_targets(value, message):
    X, y = regression_data(N, D)
    y = y.copy()
    y[5] = value
    with unchanged(X, y), pytest.raises(ValueError, match=f"Input y contains {message}"):
        small(BPRegressor).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "sgd", "lbfgs"])
@pytest.mark.parametrize("label", [0, "spam"])
def test_classifier_rejects_a_single_class(solver, label):
    X, _ = classification_data(N, D)
    y = np.full(N, label, dtype=object if isinstance(label, str) else int)
    with unchanged(X, y), pytest.raises(ValueError, match=r"(?i)one class") as info:
        small(BPClassifier, solver=solver).fit(X, y)
    assert repr(label) in str(info.value) or str(label) in str(info.value)


def test_classifier_rejects_continuous_labels():
    X, y = regression_data(N, D)
    with unchanged(X, y), pytest.raises(ValueError, match="Unknown label type"):
        small(BPClassifier).fit(X, y)


@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_poisson_rejects_negative_targets(solver):
    X, y = regression_data(N, D)
    y = np.abs(y)
    y[7] = -0.5
    with unchanged(X, y), pytest.raises(ValueError, match=r"poisson.*non-negative"):
        small(BPRegressor, loss="poisson", solver=solver).fit(X, y)
    # Zero targets are valid for the Poisson deviance.
    y[7] = 0.0
    est = quiet_fit(small(BPRegressor, loss="poisson", solver=solver), X, y)
    assert np.all(est.predict(X) > 0)


# --- sample_weight ------------------------------------------------------------------


def _sw_negative():
    sw = np.ones(N)
    sw[4] = -1.0
    return sw


def _sw_nan():
    sw = np.ones(N)
    sw[4] = np.nan
    return sw


BAD_SAMPLE_WEIGHT = {
    "negative": (_sw_negative, r"Negative values in data passed to `sample_weight`"),
    "nan": (_sw_nan, r"sample_weight contains NaN"),
    "inf": (lambda: np.full(N, np.inf), r"sample_weight contains infinity"),
    "all_zero": (lambda: np.zeros(N), r"(?i)sample.?weights? must contain at least one"),
    "too_short": (
        lambda: np.ones(N - 1),
        rf"sample_weight.shape == \({N - 1},\), expected \({N},\)",
    ),
    "2d": (lambda: np.ones((N, 2)), r"Sample weights must be 1D"),
}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
@pytest.mark.parametrize("case", list(BAD_SAMPLE_WEIGHT))
def test_fit_rejects_bad_sample_weight(Estimator, solver, case):
    make, message = BAD_SAMPLE_WEIGHT[case]
    X, y = data_for(Estimator)
    sw = make()
    with unchanged(X, y, sw), pytest.raises(ValueError, match=message):
        small(Estimator, solver=solver).fit(X, y, sample_weight=sw)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_rejects_bad_sample_weight(Estimator):
    X, y = data_for(Estimator)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    sw = _sw_negative()
    with unchanged(X, y, sw), pytest.raises(ValueError, match="Negative values"):
        small(Estimator).partial_fit(X, y, sample_weight=sw, **extra)


# --- parameters ---------------------------------------------------------------------

BAD_PARAMETERS = [
    ("alpha", -1.0),
    ("activation", "softmax"),
    ("activation", "softmax"),  # an output activation only
    ("activation", "swish"),
    ("solver", "rmsprop"),
    ("learning_rate", "cosine"),
    ("learning_rate_init", 0.0),
    ("learning_rate_init", -0.1),
    ("max_iter", 0),
    ("batch_size", 0),
    ("batch_size", "big"),
    ("momentum", 1.5),
    ("beta_1", 1.0),
    ("beta_2", -0.1),
    ("epsilon", 0.0),
    ("validation_fraction", 1.0),
    ("n_iter_no_change", 0),
    ("tol", -1e-4),
    ("power_t", -0.5),
    ("max_fun", 0),
    ("shuffle", "yes"),
    ("hidden_layer_sizes", 0),
    ("hidden_layer_sizes", -3),
    ("hidden_layer_sizes", "10"),
    # The options beyond MLP.
    ("dropout", 1.0),
    ("dropout", -0.1),
    ("dropout", "a"),
    ("dropout", True),
    ("dropout", np.nan),
    ("max_grad_norm", 0),
    ("max_grad_norm", -1),
    ("max_grad_norm", "x"),
    ("max_grad_norm", np.inf),
    ("scoring", 123),
    ("learning_rate_schedule", "linear"),
    ("learning_rate_schedule", 3),
    ("warmup_iter", -1),
    ("warmup_iter", 1.5),
    ("warmup_iter", "2"),
    ("weight_decay", -0.1),
    ("weight_decay", "x"),
    ("weight_decay", np.nan),
    ("weight_init", "xavier"),
    ("weight_init", None),
    ("dtype", "float16"),
    ("dtype", np.float32),
]
BAD_CLASSIFIER_PARAMETERS = [
    ("class_weight", "auto"),
    ("class_weight", 2.0),
    ("label_smoothing", 1.0),
    ("label_smoothing", -0.1),
    ("label_smoothing", "0.1"),
    ("label_smoothing", np.nan),
]
BAD_REGRESSOR_PARAMETERS = [
    ("huber_threshold", 0),
    ("huber_threshold", -1),
    ("huber_threshold", "big"),
    ("quantile", 0),
    ("quantile", 1),
    ("quantile", 1.5),
    ("quantile", -0.5),
]
ESTIMATOR_PARAMETERS = (
    [(Estimator, name, value) for Estimator in ESTIMATORS for name, value in BAD_PARAMETERS]
    + [(BPClassifier, name, value) for name, value in BAD_CLASSIFIER_PARAMETERS]
    + [(BPRegressor, name, value) for name, value in BAD_REGRESSOR_PARAMETERS]
)


@pytest.mark.parametrize("Estimator, name, value", ESTIMATOR_PARAMETERS)
def test_invalid_parameter_values(Estimator, name, value):
    X, y = data_for(Estimator)
    est = small(Estimator, **{name: value})
    with unchanged(X, y), pytest.raises(InvalidParameterError) as info:
        est.fit(X, y)
    assert isinstance(info.value, ValueError)
    assert re.search(rf"The '{name}' parameter of {Estimator.__name__} must be", str(info.value))
    assert not hasattr(est, "coefs_")


def test_invalid_regressor_loss():
    X, y = regression_data(N, D)
    with pytest.raises(InvalidParameterError, match=r"The 'loss' parameter of BPRegressor"):
        small(BPRegressor, loss="cauchy").fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize(
    "sizes, message",
    [
        ((0,), r"hidden_layer_sizes must be > 0, got \[0\]"),
        ((5, -1), r"hidden_layer_sizes must be > 0, got \[5, -1\]"),
        ([4, 0, 4], r"hidden_layer_sizes must be > 0, got \[4, 0, 4\]"),
        ((2.5,), r"hidden_layer_sizes must be integers"),
        ((True, 3), r"hidden_layer_sizes must be integers"),
    ],
)
def test_invalid_hidden_layer_sizes(Estimator, sizes, message):
    X, y = data_for(Estimator)
    est = small(Estimator, hidden_layer_sizes=sizes)
    with unchanged(X, y), pytest.raises(ValueError, match=message):
        est.fit(X, y)
    assert not hasattr(est, "coefs_")


# --- the options beyond MLP: values only the data can judge ---------------------------


def _multilabel_data():
    X, _ = classification_data(N, D)
    Y = (X[:, :3] > 0).astype(int)
    return X, Y


def _validation_rows(Estimator, y_val=None):
    """X_val, y_val: rows like the training data's."""
    X_val, y_default = data_for(Estimator)
    return X_val[:15] + 0.1, (y_default[:15] if y_val is None else y_val)


_ES = {"early_stopping": True}
# id: (Estimator, parameters, data ("classes", "multilabel" or "values"), fit keyword
# arguments beyond X and y, error message).
BAD_FIT_VALUES = {
    "schedule_with_adaptive_rate": (
        BPClassifier, {"learning_rate_schedule": "cosine", "learning_rate": "adaptive"},
        "classes", {},
        r"learning_rate_schedule='cosine' and learning_rate='adaptive' both set a "
        r"learning-rate schedule",
    ),
    "schedule_with_invscaling_rate": (
        BPRegressor, {"learning_rate_schedule": "plateau", "learning_rate": "invscaling",
                      "solver": "sgd"},
        "values", {}, r"learning_rate_schedule='plateau' and learning_rate='invscaling'",
    ),
    "warmup_longer_than_training": (
        BPRegressor, {"warmup_iter": 6, "max_iter": 5}, "values", {},
        r"warmup_iter=6 is more epochs of warm-up than max_iter=5",
    ),
    "dropout_two_rates_one_layer": (
        BPClassifier, {"dropout": [0.1, 0.2]}, "classes", {},
        r"dropout has 2 entries, but the network has 1 hidden layer\(s\)",
    ),
    "dropout_rate_above_one": (
        BPRegressor, {"dropout": [1.2]}, "values", {},
        r"dropout rates must be numbers in \[0, 1\), got 1.2\.",
    ),
    "dropout_rate_one": (
        BPClassifier, {"dropout": [1.0]}, "classes", {},
        r"dropout rates must be numbers in \[0, 1\), got 1.0\.",
    ),
    "dropout_rate_string": (
        BPClassifier, {"dropout": ["0.1"]}, "classes", {},
        r"dropout rates must be numbers in \[0, 1\), got '0.1'\.",
    ),
    "dropout_with_lbfgs": (
        BPRegressor, {"dropout": 0.1, "solver": "lbfgs"}, "values", {},
        r"dropout=0.1 needs a stochastic solver \('sgd' or 'adam'\)",
    ),
    "scoring_unknown": (
        BPClassifier, {"scoring": "not_a_scorer", **_ES}, "classes", {},
        r"'not_a_scorer' is not a valid scoring value",
    ),
    "class_weight_unknown_class": (
        BPClassifier, {"class_weight": {"unknown": 1}}, "classes", {},
        r"class_weight names the class 'unknown', which is not one of the classes",
    ),
    "class_weight_negative": (
        BPClassifier, {"class_weight": {0: -1}}, "classes", {},
        r"class_weight\[0\] is -1: class weights must be finite, non-negative numbers",
    ),
    "class_weight_inf": (
        BPClassifier, {"class_weight": {0: np.inf}}, "classes", {},
        r"class_weight\[0\] is inf: class weights must be finite",
    ),
    "class_weight_nan": (
        BPClassifier, {"class_weight": {1: np.nan}}, "classes", {},
        r"class_weight\[1\] is nan: class weights must be finite",
    ),
    "class_weight_string_weight": (
        BPClassifier, {"class_weight": {1: "heavy"}}, "classes", {},
        r"class_weight\[1\] is 'heavy': class weights must be finite",
    ),
    "class_weight_list_not_multilabel": (
        BPClassifier, {"class_weight": [{0: 1.0, 1: 2.0}]}, "classes", {},
        r"class_weight is a list, which is for multilabel targets",
    ),
    "class_weight_dict_multilabel": (
        BPClassifier, {"class_weight": {0: 1.0, 1: 2.0}}, "multilabel", {},
        r"For multilabel targets, class_weight must be 'balanced' or a list with one dict",
    ),
    "class_weight_list_too_short": (
        BPClassifier, {"class_weight": [{0: 1.0, 1: 2.0}]}, "multilabel", {},
        r"class_weight has 1 dicts, but y has 3 labels",
    ),
    "class_weight_list_too_long": (
        BPClassifier, {"class_weight": [{1: 2.0}] * 4}, "multilabel", {},
        r"class_weight has 4 dicts, but y has 3 labels",
    ),
    "class_weight_list_bad_label": (
        BPClassifier, {"class_weight": [{1: 2.0}, {2: 1.0}, {}]}, "multilabel", {},
        r"class_weight names the class 2, which is not one of the classes",
    ),
    "quantile_missing_adam": (
        BPRegressor, {"loss": "quantile"}, "values", {},
        r"loss='quantile' needs the quantile to estimate: set quantile to a number in \(0, 1\)",
    ),
    "quantile_missing_lbfgs": (
        BPRegressor, {"loss": "quantile", "solver": "lbfgs"}, "values", {},
        r"loss='quantile' needs the quantile to estimate",
    ),
    "activation_list_too_short": (
        BPClassifier, {"activation": ["relu"], "hidden_layer_sizes": (5, 4)}, "classes", {},
        r"activation has 1 entries, but the network has 2 hidden layer\(s\)",
    ),
    "activation_list_output_only": (
        BPRegressor, {"activation": ["relu", "softmax"], "hidden_layer_sizes": (5, 4)},
        "values", {}, r"activation 'softmax' is not one of \['elu', 'gelu', 'identity'",
    ),
    "activation_list_unknown": (
        BPClassifier, {"activation": ["relu", "bogus"], "hidden_layer_sizes": (5, 4)},
        "classes", {}, r"activation 'bogus' is not one of",
    ),
    "X_val_without_y_val": (
        BPClassifier, _ES, "classes", {"X_val": "X_val"},
        r"^X_val is provided, but y_val was not provided\.$",
    ),
    "y_val_without_X_val": (
        BPRegressor, _ES, "values", {"y_val": "y_val"},
        r"^y_val is provided, but X_val was not provided\.$",
    ),
    "sample_weight_val_alone": (
        BPClassifier, _ES, "classes", {"sample_weight_val": "sample_weight_val"},
        r"^sample_weight_val is provided, but X_val and y_val",
    ),
    "X_val_without_early_stopping": (
        BPRegressor, {}, "values", {"X_val": "X_val", "y_val": "y_val"},
        r"When passing X_val and y_val to fit, early_stopping should be set to True",
    ),
    "X_val_with_lbfgs": (
        BPClassifier, {"solver": "lbfgs", **_ES}, "classes", {"X_val": "X_val", "y_val": "y_val"},
        r"X_val and y_val are for early stopping, which solver='lbfgs' does not do",
    ),
    "y_val_unseen_class": (
        BPClassifier, _ES, "classes", {"X_val": "X_val", "y_val": "y_val_unseen"},
        r"y_val has classes \[.*7.*\] that y does not have",
    ),
    "X_val_wrong_features": (
        BPClassifier, _ES, "classes", {"X_val": "X_val_narrow", "y_val": "y_val"},
        rf"X has {D - 1} features, but BPClassifier is expecting {D} features",
    ),
    "X_val_y_val_lengths": (
        BPRegressor, _ES, "values", {"X_val": "X_val", "y_val": "y_val_short"},
        r"inconsistent numbers of samples: \[15, 14\]",
    ),
    "X_val_nan": (
        BPRegressor, _ES, "values", {"X_val": "X_val_nan", "y_val": "y_val"},
        r"Input X contains NaN",
    ),
    "y_val_nan": (
        BPRegressor, _ES, "values", {"X_val": "X_val", "y_val": "y_val_nan"},
        r"Input y_val contains NaN",
    ),
    "sample_weight_val_negative": (
        BPClassifier, _ES, "classes",
        {"X_val": "X_val", "y_val": "y_val", "sample_weight_val": "sample_weight_val_negative"},
        r"Negative values in data passed to `sample_weight`",
    ),
    "sample_weight_val_length": (
        BPRegressor, _ES, "values",
        {"X_val": "X_val", "y_val": "y_val", "sample_weight_val": "sample_weight_val_short"},
        r"sample_weight.shape == \(14,\), expected \(15,\)",
    ),
}  # fmt: skip


def _fit_values(Estimator, names):
    """The fit keyword arguments that the names in BAD_FIT_VALUES stand for."""
    X_val, y_val = _validation_rows(Estimator)
    X_nan, y_nan = X_val.copy(), np.array(y_val, dtype=float)
    X_nan[2, 1] = y_nan[3] = np.nan
    values = {
        "X_val": X_val,
        "y_val": y_val,
        "X_val_narrow": X_val[:, :-1].copy(),
        "X_val_nan": X_nan,
        "y_val_nan": y_nan,
        "y_val_unseen": np.where(y_val == 1, 7, y_val),
        "y_val_short": y_val[:-1].copy(),
        "sample_weight_val": np.ones(len(y_val)),
        "sample_weight_val_negative": -np.ones(len(y_val)),
        "sample_weight_val_short": np.ones(len(y_val) - 1),
    }
    return {key: values[name] for key, name in names.items()}


def _case_data(kind):
    if kind == "multilabel":
        return _multilabel_data()
    return data_for(BPClassifier if kind == "classes" else BPRegressor)


@pytest.mark.parametrize("case", list(BAD_FIT_VALUES))
def test_fit_rejects_bad_values_of_the_new_options(case):
    Estimator, params, kind, fit_names, message = BAD_FIT_VALUES[case]
    X, y = _case_data(kind)
    fit_kwargs = _fit_values(Estimator, fit_names)
    est = small(Estimator, **params)
    with unchanged(X, y, *fit_kwargs.values()), pytest.raises(ValueError, match=message):
        est.fit(X, y, **fit_kwargs)
    assert not hasattr(est, "coefs_")


PARTIAL_FIT_CASES = [
    case
    for case, (_, params, _, fit_names, _) in BAD_FIT_VALUES.items()
    if not fit_names and not params.get("early_stopping") and params.get("solver") != "lbfgs"
]


@pytest.mark.parametrize("case", PARTIAL_FIT_CASES)
def test_partial_fit_rejects_bad_values_of_the_new_options(case):
    Estimator, params, kind, _, message = BAD_FIT_VALUES[case]
    X, y = _case_data(kind)
    # A multilabel indicator's classes are its column indices.
    classes = {"classes": np.unique(y), "multilabel": np.arange(np.shape(y)[-1])}
    extra = {"classes": classes[kind]} if kind in classes else {}
    est = small(Estimator, **params)
    with unchanged(X, y), pytest.raises(ValueError, match=message):
        est.partial_fit(X, y, **extra)
    assert not hasattr(est, "coefs_")


def _assert_same_value(got, expected, name):
    if isinstance(expected, (list, tuple)):
        assert type(got) is type(expected) and len(got) == len(expected), name
        for got_item, expected_item in zip(got, expected):
            _assert_same_value(got_item, expected_item, name)
    elif isinstance(expected, np.ndarray):
        assert_array_equal(got, expected, strict=True, err_msg=name)
    else:
        assert got == expected or (got != got and expected != expected), name


@pytest.mark.parametrize("case", list(BAD_FIT_VALUES))
def test_a_rejected_refit_keeps_the_fitted_model(case):
    """A fitted model whose refit is rejected keeps every fitted attribute and its
    predictions: the refit is not half done."""
    Estimator, params, kind, fit_names, message = BAD_FIT_VALUES[case]
    X, y = _case_data(kind)
    est = quiet_fit(small(Estimator), X, y)
    fitted = {key: copy.deepcopy(value) for key, value in vars(est).items() if key.endswith("_")}
    predictions = est.predict(X)
    est.set_params(**params)
    with pytest.raises(ValueError, match=message):
        est.fit(X, y, **_fit_values(Estimator, fit_names))
    assert sorted(key for key in vars(est) if key.endswith("_")) == sorted(fitted)
    for key, value in fitted.items():
        _assert_same_value(getattr(est, key), value, key)
    assert_array_equal(est.predict(X), predictions)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unknown_parameter_names(Estimator):
    with pytest.raises(TypeError, match="unexpected keyword argument 'hidden_size'"):
        Estimator(hidden_size=3)
    with pytest.raises(ValueError, match=r"Invalid parameter 'hidden_size' for estimator"):
        Estimator().set_params(hidden_size=3)


# --- prediction and incremental fitting ---------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_predict_before_fit(Estimator):
    X, y = data_for(Estimator)
    est = small(Estimator)
    methods = ["predict", "score"]
    if Estimator is BPClassifier:
        methods += ["predict_proba", "predict_log_proba"]
    for name in methods:
        args = (X, y) if name == "score" else (X,)
        message = f"This {Estimator.__name__} instance is not fitted yet"
        with unchanged(X), pytest.raises(NotFittedError, match=message):
            getattr(est, name)(*args)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("n_features", [D - 1, D + 2])
def test_predict_with_wrong_feature_count(Estimator, sparse, n_features):
    X, y = data_for(Estimator)
    est = quiet_fit(small(Estimator), X, y)
    X_wrong = np.random.RandomState(1).randn(10, n_features)
    if sparse:
        X_wrong = sp.csr_matrix(X_wrong)
    message = rf"X has {n_features} features, but {Estimator.__name__} is expecting {D} features"
    with unchanged(X_wrong), pytest.raises(ValueError, match=message):
        est.predict(X_wrong)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_with_wrong_feature_count(Estimator):
    X, y = data_for(Estimator)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    est = quiet_partial_fit(small(Estimator), X, y, **extra)
    before = [c.copy() for c in est.coefs_]
    with pytest.raises(ValueError, match=rf"X has {D + 1} features, but .* expecting {D}"):
        est.partial_fit(np.c_[X, X[:, 0]], y)
    for got, expected in zip(est.coefs_, before):
        assert_array_equal(got, expected)


def test_partial_fit_needs_classes_on_first_call():
    X, y = classification_data(N, D)
    est = small(BPClassifier)
    with (
        unchanged(X, y),
        pytest.raises(ValueError, match="classes must be passed on the first call to partial_fit"),
    ):
        est.partial_fit(X, y)
    assert not hasattr(est, "coefs_")


def test_partial_fit_rejects_new_classes():
    X, y = classification_data(N, D)
    est = quiet_partial_fit(small(BPClassifier), X, y, classes=[0, 1])
    before = [c.copy() for c in est.coefs_]
    y_new = np.where(y == 1, 2, y)
    message = r"`y` has classes not in `self.classes_`"
    with unchanged(X, y_new), pytest.raises(ValueError, match=message):
        est.partial_fit(X, y_new)
    with pytest.raises(ValueError, match=r"is not the same as on last call to partial_fit"):
        est.partial_fit(X, y, classes=[0, 1, 2])
    # The failed calls left the network as it was, and it keeps training.
    for got, expected in zip(est.coefs_, before):
        assert_array_equal(got, expected)
    assert_array_equal(est.classes_, [0, 1])
    quiet_partial_fit(est, X, y)
    assert est.t_ == 2 * N


def test_partial_fit_rejects_classes_with_a_single_class():
    X, y = classification_data(N, D)
    with pytest.raises(ValueError, match=r"(?i)one class"):
        small(BPClassifier).partial_fit(X, y, classes=[0])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_unavailable_for_lbfgs(Estimator):
    est = small(Estimator, solver="lbfgs")
    message = f"'{Estimator.__name__}' has no attribute 'partial_fit'"
    with pytest.raises(AttributeError, match=message) as info:
        est.partial_fit
    # scikit-learn's available_if chains the reason, as MLP does.
    assert "partial_fit is only available for stochastic optimizers" in str(info.value.__cause__)
    assert not hasattr(est, "partial_fit")


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_rejects_early_stopping(Estimator):
    X, y = data_for(Estimator)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        small(Estimator, early_stopping=True).partial_fit(X, y, **extra)


@pytest.mark.parametrize("case", ["partial_fit_early_stopping", "validation_set_too_small"])
def test_errors_raised_while_setting_up_training_leave_no_network(case):
    """The same promise for errors found once the network is set up: the rejected call
    leaves no half-initialised model behind."""
    if case == "partial_fit_early_stopping":
        X, y = data_for(BPClassifier)
        est = small(BPClassifier, early_stopping=True)
        call, message = partial(est.partial_fit, classes=np.unique(y)), "does not support"
    else:
        X, y = regression_data(10, D)
        est = small(BPRegressor, early_stopping=True)
        call, message = est.fit, "The validation set is too small"
    with unchanged(X, y), pytest.raises(ValueError, match=message):
        call(X, y)
    assert not hasattr(est, "coefs_")


def test_early_stopping_with_too_few_samples_regressor():
    X, y = regression_data(10, D)
    # validation_fraction=0.1 of 10 rows holds out a single row, too few for an R^2 score.
    with unchanged(X, y), pytest.raises(ValueError, match="The validation set is too small"):
        small(BPRegressor, early_stopping=True).fit(X, y)


def test_early_stopping_with_too_few_samples_classifier():
    # 10 rows and validation_fraction=0.1 leave one validation row: too few to score, and
    # too few to stratify two classes. The error must say that the *validation set* is the
    # problem, whichever of the two checks notices first.
    X, y = classification_data(10, D)
    with unchanged(X, y), pytest.raises(ValueError, match=r"(?i)validation"):
        small(BPClassifier, early_stopping=True).fit(X, y)


# --- unusual layouts are accepted, left alone, and change nothing -----------------


def _fortran(X):
    return np.asfortranarray(X)


def _readonly(X):
    X = X.copy()
    X.flags.writeable = False
    return X


def _strided_rows(X):
    big = np.zeros((2 * X.shape[0], X.shape[1]), dtype=X.dtype)
    big[::2] = X
    view = big[::2]
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    return view


def _strided_columns(X):
    big = np.zeros((X.shape[0], 3 * X.shape[1]), dtype=X.dtype)
    big[:, 1::3] = X
    return big[:, 1::3]


def _readonly_strided(X):
    view = _strided_rows(X)
    view.flags.writeable = False
    return view


LAYOUTS = {
    "fortran": _fortran,
    "readonly": _readonly,
    "strided_rows": _strided_rows,
    "strided_columns": _strided_columns,
    "readonly_strided": _readonly_strided,
}


@pytest.fixture
def memmaps(tmp_path):
    """Factories of np.memmap and joblib memory maps holding a given array."""

    def np_memmap(X, mode="r"):
        path = tmp_path / f"np_{np_memmap.count}.dat"
        np_memmap.count += 1
        writer = np.memmap(path, dtype=X.dtype, mode="w+", shape=X.shape)
        writer[...] = X
        writer.flush()
        del writer
        return np.memmap(path, dtype=X.dtype, mode=mode, shape=X.shape)

    def joblib_memmap(X):
        path = tmp_path / f"joblib_{joblib_memmap.count}.pkl"
        joblib_memmap.count += 1
        joblib.dump(X, path)
        loaded = joblib.load(path, mmap_mode="r")
        assert isinstance(loaded, np.memmap)
        return loaded

    np_memmap.count = joblib_memmap.count = 0
    return {
        "np_memmap_r": np_memmap,
        "np_memmap_c": lambda X: np_memmap(X, "c"),
        "joblib_memmap": joblib_memmap,
    }


CONFIGS = [
    (BPClassifier, "adam", np.float64),
    (BPClassifier, "sgd", np.float32),
    (BPRegressor, "adam", np.float32),
    (BPRegressor, "lbfgs", np.float64),
]


@pytest.mark.parametrize("Estimator, solver, dtype", CONFIGS)
@pytest.mark.parametrize("layout", list(LAYOUTS) + ["np_memmap_r", "np_memmap_c", "joblib_memmap"])
def test_unusual_layouts_give_the_same_model(Estimator, solver, dtype, layout, memmaps):
    X, y = data_for(Estimator)
    X = X.astype(dtype)
    sw = np.random.RandomState(3).uniform(0.5, 2.0, N)
    make = LAYOUTS.get(layout) or memmaps[layout]
    X_odd, y_odd, sw_odd = make(X), make(y.reshape(-1, 1))[:, 0], make(sw.reshape(-1, 1))[:, 0]
    assert_array_equal(X_odd, X)

    reference = quiet_fit(small(Estimator, solver=solver), X, y, sample_weight=sw)
    with unchanged(X_odd, y_odd, sw_odd):
        est = quiet_fit(small(Estimator, solver=solver), X_odd, y_odd, sample_weight=sw_odd)
        predictions = est.predict(X_odd)
        if Estimator is BPClassifier:
            proba = est.predict_proba(X_odd)
    assert_same_model(est, reference)
    assert est.coefs_[0].dtype == dtype
    assert_array_equal(predictions, reference.predict(X))
    if Estimator is BPClassifier:
        assert_array_equal(proba, reference.predict_proba(X))


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unusual_layouts_in_partial_fit(Estimator, memmaps):
    X, y = data_for(Estimator)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    reference = small(Estimator)
    quiet_partial_fit(reference, X, y, **extra)
    quiet_partial_fit(reference, X[::-1], y[::-1])
    est = small(Estimator)
    X1, X2 = _readonly_strided(X), memmaps["joblib_memmap"](np.ascontiguousarray(X[::-1]))
    with unchanged(X1, X2):
        quiet_partial_fit(est, X1, y, **extra)
        quiet_partial_fit(est, X2, y[::-1])
    assert_same_model(est, reference)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("solver", ["adam", "lbfgs"])
def test_sparse_input_is_not_modified(Estimator, fmt, index_dtype, solver):
    X, y = data_for(Estimator)
    X = np.where(np.abs(X) > 0.8, X, 0.0)
    matrix = sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X)
    matrix.indices = matrix.indices.astype(index_dtype)
    matrix.indptr = matrix.indptr.astype(index_dtype)
    # Reverse the column order within each row (or row order within each column): a
    # valid matrix with unsorted indices, which a careless in-place sort would change.
    for k in range(len(matrix.indptr) - 1):
        lo, hi = matrix.indptr[k], matrix.indptr[k + 1]
        matrix.indices[lo:hi] = matrix.indices[lo:hi][::-1].copy()
        matrix.data[lo:hi] = matrix.data[lo:hi][::-1].copy()
    matrix.has_sorted_indices = False
    assert_array_equal(matrix.toarray(), X)

    with unchanged(matrix, y):
        est = quiet_fit(small(Estimator, solver=solver), matrix, y)
        sparse_pred = est.predict(matrix)
    assert_array_equal(matrix.toarray(), X)
    # The sparse path computes the same network as the dense one, up to the order of the
    # floating-point additions in the first layer.
    dense_est = quiet_fit(small(Estimator, solver=solver), X, y)
    for got, expected in zip(est.coefs_, dense_est.coefs_):
        np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)
    if Estimator is BPRegressor:
        np.testing.assert_allclose(sparse_pred, dense_est.predict(X), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_valid_inputs_are_not_modified(Estimator):
    """Integer X, a 2-D column y and float32 weights are converted on copies only."""
    X, y = data_for(Estimator)
    X_int = np.round(X * 10).astype(np.int64)
    sw = np.linspace(0.5, 2.0, N).astype(np.float32)
    y_col = y.reshape(-1, 1).copy()
    with unchanged(X_int, y_col, sw), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = small(Estimator).fit(X_int, y_col, sample_weight=sw)
        est.predict(X_int)
    assert est.coefs_[0].dtype == np.float64


def test_label_smoothing_is_the_classifiers_alone():
    with pytest.raises(TypeError, match="unexpected keyword argument 'label_smoothing'"):
        BPRegressor(label_smoothing=0.1)


# --- HiddenFeatures and hidden_activations --------------------------------------------


@pytest.mark.parametrize("layer", [2, -3, 7])
def test_hidden_layer_outside_the_network(layer):
    X, y = classification_data(N, D)
    est = quiet_fit(small(BPClassifier, hidden_layer_sizes=(5, 3)), X, y)
    message = rf"layer={layer} is outside the network's 2 hidden layer\(s\): choose from -2 to 1"
    with unchanged(X), pytest.raises(ValueError, match=message):
        est.hidden_activations(X, layer=layer)
    with unchanged(X, y), pytest.raises(ValueError, match=message):
        HiddenFeatures(FrozenEstimator(est), layer=layer).fit(X, y)


@pytest.mark.parametrize("layer", [0.5, "0", None, True])
def test_hidden_layer_must_be_an_int(layer):
    X, y = classification_data(N, D)
    est = quiet_fit(small(BPClassifier), X, y)
    with unchanged(X), pytest.raises(TypeError, match=r"layer must be an int, got"):
        est.hidden_activations(X, layer=layer)
    # scikit-learn's Integral constraint lets a bool through; the network's own check
    # then names it.
    expected = (
        pytest.raises(TypeError, match="layer must be an int, got True")
        if layer is True
        else pytest.raises(InvalidParameterError, match="'layer' parameter")
    )
    with unchanged(X, y), expected:
        quiet_fit(HiddenFeatures(est, layer=layer), X, y)


def test_hidden_features_of_a_network_without_hidden_layers():
    X, y = classification_data(N, D)
    est = quiet_fit(small(BPClassifier, hidden_layer_sizes=()), X, y)
    with unchanged(X, y), pytest.raises(ValueError, match=r"the network has no hidden layer"):
        HiddenFeatures(FrozenEstimator(est)).fit(X, y)


def test_hidden_features_need_a_network():
    from sklearn.linear_model import LogisticRegression

    X, y = classification_data(N, D)
    message = r"'estimator' parameter of HiddenFeatures must be an object implementing 'fit'"
    with unchanged(X, y), pytest.raises(InvalidParameterError, match=message):
        HiddenFeatures(LogisticRegression()).fit(X, y)


def test_hidden_features_transform_checks_the_width():
    X, y = classification_data(N, D)
    features = quiet_fit(HiddenFeatures(small(BPClassifier)), X, y)
    wide = np.ones((3, D + 1))
    with unchanged(wide), pytest.raises(ValueError, match=f"{D + 1} features, but"):
        features.transform(wide)
