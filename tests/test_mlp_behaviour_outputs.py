"""What BPClassifier and BPRegressor learn and return: the gradient step, the L2 penalty,
probabilities, multilabel and multi-output targets, dtypes, sparse input, the Poisson
loss, shuffling, verbosity, feature names and sample weights.

These mirror the behaviours scikit-learn's own MLP tests check, exercised through the
public API; where the two libraries should agree, MLPClassifier/MLPRegressor run in the
same test as an oracle.
"""

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import expit, softmax, xlogy
from sklearn.datasets import load_digits, make_multilabel_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import PoissonRegressor
from sklearn.metrics import roc_auc_score
from sklearn.neural_network import MLPRegressor
from sklearn.preprocessing import MinMaxScaler

from bpnet import BPClassifier, BPRegressor

from ._helpers import (
    ACTIVATIONS,
    ESTIMATORS,
    MLP_OF,
    assert_same_network,
    central_differences,
    quiet_fit,
)

X_DIGITS, Y_DIGITS = load_digits(n_class=2, return_X_y=True)  # raw pixels, 0..16
X_BIN = MinMaxScaler().fit_transform(X_DIGITS[:200])
Y_BIN = Y_DIGITS[:200]
_X3, _Y3 = load_digits(n_class=3, return_X_y=True)
X_MULTI, Y_MULTI = MinMaxScaler().fit_transform(_X3[:200]), _Y3[:200]


def _flat(est):
    return np.concatenate([a.ravel() for a in est.coefs_ + est.intercepts_])


# --- the gradient step -------------------------------------------------------------------

_HIDDEN = {
    "identity": lambda z: z,
    "logistic": expit,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}


def _numpy_loss(flat, shapes, X, Y, activation, kind, alpha):
    """The loss an MLP reports, from a plain NumPy forward pass over flat parameters laid
    out as every coefficient matrix, then every intercept vector."""
    coefs, intercepts, at = [], [], 0
    for shape in shapes:
        coefs.append(flat[at : at + shape[0] * shape[1]].reshape(shape))
        at += shape[0] * shape[1]
    for shape in shapes:
        intercepts.append(flat[at : at + shape[1]])
        at += shape[1]
    a = X
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        z = a @ W + b
        a = _HIDDEN[activation](z) if i < len(coefs) - 1 else z
    n = X.shape[0]
    if kind == "squared_error":  # half the squared error, averaged over rows and outputs
        data = np.sum((Y - a) ** 2) / (2 * n * Y.shape[1])
    elif kind == "poisson":  # half the Poisson deviance, summed over outputs
        p = np.exp(a)
        data = np.sum(xlogy(Y, Y / p) - Y + p) / n
    elif kind == "softmax":
        data = -np.sum(Y * np.log(softmax(a, axis=1))) / n
    else:  # logistic outputs: the binary log-loss, summed over outputs
        p = expit(a)
        data = -np.sum(xlogy(Y, p) + xlogy(1 - Y, 1 - p)) / n
    return data + 0.5 * alpha * sum(np.sum(W**2) for W in coefs) / n


def _step_case(case, rng):
    X = rng.uniform(-1, 1, size=(12, 4))
    if case == "binary":
        y = np.array([0, 1] * 6)
        return BPClassifier, {}, X, y, y.reshape(-1, 1).astype(float), "logistic"
    if case == "multiclass":
        y = np.arange(12) % 3
        return BPClassifier, {}, X, y, np.eye(3)[y], "softmax"
    if case == "multilabel":
        Y = (rng.uniform(size=(12, 3)) < 0.5).astype(int)
        Y[:3] = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
        return BPClassifier, {}, X, Y, Y.astype(float), "logistic"
    if case == "poisson":
        Y = rng.poisson(2.0, size=(12, 2)).astype(float)
        return BPRegressor, {"loss": "poisson"}, X, Y, Y, "poisson"
    n_outputs = 1 if case == "squared_1" else 3
    Y = rng.standard_normal(size=(12, n_outputs))
    y = Y.ravel() if n_outputs == 1 else Y
    return BPRegressor, {}, X, y, Y, "squared_error"


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize(
    "case", ["binary", "multiclass", "multilabel", "squared_1", "squared_3", "poisson"]
)
def test_sgd_step_is_the_gradient_of_the_reported_loss(case, activation):
    """One full-batch SGD step without momentum moves the weights by -learning_rate times
    the gradient of the loss the estimator reports in loss_.

    The loss is recomputed with NumPy and differentiated by central differences. With 3
    squared-error outputs this pins the fix of scikit-learn's issue #8349: its gradient is
    n_outputs times the gradient of the loss it reports; bpnet's is consistent.
    """
    Estimator, extra, X, y, Y, kind = _step_case(case, np.random.RandomState(0))
    lr, alpha = 0.1, 0.01
    est = Estimator(
        hidden_layer_sizes=(4, 3), activation=activation, solver="sgd", momentum=0.0,
        batch_size=X.shape[0], shuffle=False, learning_rate_init=lr, alpha=alpha,
        random_state=0, **extra,
    )  # fmt: skip
    # For a multilabel indicator the classes are its column indices.
    classes = np.arange(Y.shape[1]) if case == "multilabel" else np.unique(y)
    fit_kwargs = {"classes": classes} if Estimator is BPClassifier else {}
    est.partial_fit(X, y, **fit_kwargs)
    start = _flat(est)
    est.partial_fit(X, y)
    step = _flat(est) - start

    shapes = [c.shape for c in est.coefs_]

    def loss(flat):
        return _numpy_loss(flat, shapes, X, Y, activation, kind, alpha)

    # The reported loss is the loss at the weights the step started from.
    assert est.loss_ == pytest.approx(loss(start), rel=1e-10)
    grad = central_differences(loss, start, step=1e-6)
    # Central differences are accurate to about step**2 * |f'''| plus rounding ~1e-16 / step.
    np.testing.assert_allclose(step, -lr * grad, rtol=1e-5, atol=1e-9)


def test_sgd_step_worked_example():
    """A hand-computed SGD step on one sample (logistic units, alpha=0.1, rate 0.1)."""
    X, y = np.array([[0.6, 0.8, 0.7]]), np.array([0])
    clf = BPClassifier(
        solver="sgd", learning_rate_init=0.1, alpha=0.1, activation="logistic",
        random_state=1, hidden_layer_sizes=2, momentum=0,
    )  # fmt: skip
    clf.partial_fit(X, y, classes=[0, 1])
    clf.coefs_ = [np.array([[0.1, 0.2], [0.3, 0.1], [0.5, 0.0]]), np.array([[0.1], [0.2]])]
    clf.intercepts_ = [np.array([0.1, 0.1]), np.array([1.0])]
    clf.partial_fit(X, y)
    # h = sigmoid(x W1 + b1) = [0.679179, 0.574443]; o = sigmoid(h W2 + b2) = 0.765433;
    # output delta 0.765433; hidden deltas [0.016677, 0.037433]; each weight moves by
    # -0.1 * (input * delta + 0.1 * weight), each intercept by -0.1 * delta.
    np.testing.assert_allclose(
        clf.coefs_[0],
        [[0.098, 0.195756], [0.2956664, 0.096008], [0.4939998, -0.002244]],
        atol=1e-3,
    )
    np.testing.assert_allclose(clf.coefs_[1], [[0.04706], [0.154089]], atol=1e-3)
    np.testing.assert_allclose(clf.intercepts_[0], [0.098333, 0.09626], atol=1e-3)
    np.testing.assert_allclose(clf.intercepts_[1], [0.9235], atol=1e-3)
    assert clf.predict_proba(X)[0, 1] == pytest.approx(0.739, abs=1e-3)


def test_larger_alpha_gives_smaller_weights():
    X, y = X_BIN[:100], Y_BIN[:100]
    norms = []
    for alpha in (0.0, 1.0):
        clf = quiet_fit(BPClassifier(hidden_layer_sizes=10, alpha=alpha, random_state=1), X, y)
        norms.append([np.abs(c).sum() for c in clf.coefs_])
    assert np.all(np.array(norms[0]) > np.array(norms[1]))


# --- probabilities, multilabel and multi-output ------------------------------------------


def test_predict_proba_binary():
    X, y = X_BIN[:50], Y_BIN[:50]
    clf = quiet_fit(BPClassifier(hidden_layer_sizes=5, activation="logistic", random_state=1), X, y)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert proba.shape == (50, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(proba.argmax(axis=1), log_proba.argmax(axis=1))
    np.testing.assert_allclose(log_proba, np.log(proba))
    np.testing.assert_array_equal(clf.classes_[proba.argmax(axis=1)], clf.predict(X))
    assert roc_auc_score(y, proba[:, 1]) > 0.99


def test_predict_proba_multiclass():
    X, y = X_MULTI[:10], Y_MULTI[:10]
    clf = quiet_fit(BPClassifier(hidden_layer_sizes=5, random_state=0), X, y)
    proba, log_proba = clf.predict_proba(X), clf.predict_log_proba(X)
    assert proba.shape == (10, len(np.unique(y)))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(proba.argmax(axis=1), log_proba.argmax(axis=1))
    np.testing.assert_allclose(log_proba, np.log(proba))


def test_multilabel_lbfgs_and_probabilities():
    X, Y = make_multilabel_classification(n_samples=50, random_state=0, return_indicator=True)
    clf = BPClassifier(
        solver="lbfgs", hidden_layer_sizes=50, alpha=1e-5, max_iter=150, random_state=0,
        activation="logistic",
    )  # fmt: skip
    quiet_fit(clf, X, Y)
    assert clf.score(X, Y) > 0.97
    assert clf.predict(X).shape == Y.shape
    proba = clf.predict_proba(X)
    assert proba.shape == Y.shape
    np.testing.assert_array_equal(proba > 0.5, Y)
    # Independent logistic outputs: the rows do not sum to one.
    assert np.sum((proba.sum(axis=1) - 1) ** 2) > 1e-10
    log_proba = clf.predict_log_proba(X)
    np.testing.assert_array_equal(proba.argmax(axis=1), log_proba.argmax(axis=1))
    np.testing.assert_allclose(log_proba, np.log(proba))


def test_multilabel_partial_fit_and_early_stopping():
    X, Y = make_multilabel_classification(n_samples=50, random_state=0, return_indicator=True)
    clf = BPClassifier(
        solver="sgd", hidden_layer_sizes=50, random_state=0, activation="logistic",
        alpha=1e-5, learning_rate_init=0.2,
    )  # fmt: skip
    for _ in range(100):
        clf.partial_fit(X, Y, classes=[0, 1, 2, 3, 4])
    assert clf.score(X, Y) > 0.9
    # Multilabel targets cannot be stratified; early stopping still splits and predicts.
    clf = quiet_fit(BPClassifier(early_stopping=True, max_iter=20, random_state=0), X, Y)
    assert clf.predict(X).shape == Y.shape


def test_multi_output_regression():
    X, Y = make_regression(n_samples=200, n_targets=5, random_state=11)
    reg = quiet_fit(
        BPRegressor(solver="lbfgs", hidden_layer_sizes=50, max_iter=200, tol=1e-2, random_state=1),
        X,
        Y,
    )
    assert reg.score(X, Y) > 0.9
    assert reg.predict(X).shape == Y.shape
    assert reg.n_outputs_ == 5


# --- dtypes --------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_parameters_and_predictions_keep_the_input_dtype(Estimator, dtype):
    X = X_DIGITS.astype(dtype)
    est = quiet_fit(
        Estimator(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=50, tol=1e-1),
        X[:300],
        Y_DIGITS[:300],
    )
    assert all(c.dtype == dtype for c in est.coefs_)
    assert all(b.dtype == dtype for b in est.intercepts_)
    if Estimator is BPRegressor:
        assert est.predict(X[300:]).dtype == dtype
    else:
        assert est.predict_proba(X[300:]).dtype == dtype


def test_classifier_float32_and_float64_agree():
    params = dict(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=100, tol=1e-1)
    X_train, X_test, y_train = X_DIGITS[:300], X_DIGITS[300:], Y_DIGITS[:300]
    clf64 = quiet_fit(BPClassifier(**params), X_train, y_train)
    clf32 = quiet_fit(BPClassifier(**params), X_train.astype(np.float32), y_train)
    np.testing.assert_array_equal(clf64.predict(X_test), clf32.predict(X_test.astype(np.float32)))
    # Single-precision training drifts from double over 100 epochs: compare loosely.
    np.testing.assert_allclose(
        clf64.predict_proba(X_test), clf32.predict_proba(X_test.astype(np.float32)), rtol=1e-2
    )


def test_regressor_float32_and_float64_agree():
    params = dict(alpha=1e-5, hidden_layer_sizes=(5, 3), random_state=1, max_iter=150, tol=1e-3)
    X_train, X_test, y_train = X_DIGITS[:300], X_DIGITS[300:], Y_DIGITS[:300]
    reg64 = quiet_fit(BPRegressor(**params), X_train, y_train)
    reg32 = quiet_fit(BPRegressor(**params), X_train.astype(np.float32), y_train)
    # Single-precision training drifts from double over 150 epochs: compare loosely.
    # The drift is of the outputs' scale (about 1), so a prediction near zero needs an
    # absolute bound besides the relative one: on aarch64 a prediction of -1.3e-3 came
    # out 6.6e-7 apart, 5.2e-4 relative (x86-64's arithmetic happened to stay within).
    np.testing.assert_allclose(
        reg64.predict(X_test), reg32.predict(X_test.astype(np.float32)), rtol=5e-4, atol=1e-5
    )


# --- sparse input, shuffling, verbosity -----------------------------------------------------


@pytest.mark.parametrize("container", [sp.csr_matrix, sp.csc_matrix, sp.csr_array])
@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_sparse_input_matches_dense(container, solver):
    X, y = X_BIN[:50], Y_BIN[:50]
    params = dict(solver=solver, hidden_layer_sizes=15, random_state=1, max_iter=30)
    dense = quiet_fit(BPClassifier(**params), X, y)
    sparse = quiet_fit(BPClassifier(**params), container(X), y)
    # The sparse kernels sum the same products in another order: rounding differs.
    assert_same_network(sparse, dense, rtol=1e-7, atol=1e-10)
    np.testing.assert_array_equal(sparse.predict(container(X)), dense.predict(X))
    np.testing.assert_array_equal(dense.predict(container(X)), dense.predict(X))
    np.testing.assert_allclose(
        dense.predict_proba(container(X)), dense.predict_proba(X), rtol=1e-12
    )


def test_shuffle_changes_training_and_is_reproducible():
    X, y = make_regression(n_samples=50, n_features=5, random_state=0)
    params = dict(hidden_layer_sizes=1, max_iter=1, batch_size=1, random_state=0)
    for shuffle in (True, False):
        a = quiet_fit(BPRegressor(shuffle=shuffle, **params), X, y)
        b = quiet_fit(BPRegressor(shuffle=shuffle, **params), X, y)
        np.testing.assert_array_equal(a.coefs_[0], b.coefs_[0])
    shuffled = quiet_fit(BPRegressor(shuffle=True, **params), X, y)
    ordered = quiet_fit(BPRegressor(shuffle=False, **params), X, y)
    assert not np.array_equal(shuffled.coefs_[0], ordered.coefs_[0])


def test_verbose_prints_iterations(capsys):
    clf = BPClassifier(solver="sgd", max_iter=2, verbose=10, hidden_layer_sizes=2)
    quiet_fit(clf, [[3, 2], [1, 6]], [1, 0])
    out, _ = capsys.readouterr()
    assert out.count("Iteration") == 2
    clf.partial_fit([[3, 2], [1, 6]], [1, 0])
    out, _ = capsys.readouterr()
    assert "Iteration" in out


# --- feature names and sample weights with early stopping ----------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_keeps_feature_names(Estimator):
    rng = np.random.RandomState(0)
    X = pd.DataFrame(rng.randn(10, 2), columns=["colname_a", "colname_b"])
    values = np.tile([0, 1], 5) if Estimator is BPClassifier else rng.randn(10)
    y = pd.Series(values, name="colname_y")
    est = Estimator(early_stopping=True, validation_fraction=0.2, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        # The later filter wins: any UserWarning fails the test, except the expected
        # ConvergenceWarning (a UserWarning subclass) of this 5-epoch fit.
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X, y)
        est.predict(X)
    np.testing.assert_array_equal(est.feature_names_in_, ["colname_a", "colname_b"])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_unit_sample_weight_equals_no_weight_with_early_stopping(Estimator):
    X, y = make_regression(n_samples=100, n_features=2, n_informative=2, random_state=42)
    if Estimator is BPClassifier:
        y = (y > np.median(y)).astype(int)
    params = dict(
        hidden_layer_sizes=10, solver="adam", early_stopping=True, tol=1e-2,
        learning_rate_init=0.01, batch_size=10, random_state=42, max_iter=50,
    )  # fmt: skip
    weighted = quiet_fit(Estimator(**params), X, y, sample_weight=np.ones(100))
    unweighted = quiet_fit(Estimator(**params), X, y)
    np.testing.assert_allclose(weighted.predict(X), unweighted.predict(X))
    assert weighted.validation_scores_ == pytest.approx(unweighted.validation_scores_)


# --- Poisson loss -----------------------------------------------------------------------


def _poisson_data(seed=0, n=120):
    rng = np.random.RandomState(seed)
    X = rng.uniform(-1, 1, size=(n, 3))
    y = rng.poisson(np.exp(0.5 * X[:, 0] - 0.3 * X[:, 1] + 0.5)).astype(float)
    return X, y


@pytest.mark.parametrize("loss", ["poisson", "squared_error"])
@pytest.mark.parametrize("solver, max_iter", [("sgd", 5), ("adam", 5), ("lbfgs", 20)])
def test_single_output_regression_parity_with_sklearn(loss, solver, max_iter):
    # Few epochs/iterations: L-BFGS in particular amplifies last-bit rounding differences
    # (another summation order in the kernels) over many iterations.
    X, y = _poisson_data()
    params = dict(
        loss=loss, solver=solver, max_iter=max_iter, hidden_layer_sizes=(8,),
        activation="tanh", learning_rate_init=0.01, batch_size=32, random_state=0,
    )  # fmt: skip
    ours = quiet_fit(BPRegressor(**params), X, y)
    theirs = quiet_fit(MLPRegressor(**params), X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    assert_same_network(ours, theirs, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.predict(X), theirs.predict(X), rtol=1e-7)
    if solver != "lbfgs":
        np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-7)


def test_poisson_rejects_negative_targets():
    X, y = _poisson_data()
    y[3] = -1.0
    with pytest.raises(ValueError, match="non-negative"):
        BPRegressor(loss="poisson", max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match="non-negative"):
        BPRegressor(loss="poisson").partial_fit(X, y)
    # The squared error accepts any real target.
    quiet_fit(BPRegressor(loss="squared_error", max_iter=2), X, y)


@pytest.mark.parametrize("seed", [0, 42])
def test_poisson_network_with_one_linear_unit_is_a_poisson_glm(seed):
    """One identity hidden unit and an exponential output compute exp(a x + b), a Poisson
    GLM: L-BFGS finds the GLM's predictions (not its coefficients, which are split over
    two layers). The squared error, with an identity output, fits a different model."""
    rng = np.random.default_rng(seed)
    X = np.linspace(0, 1, 100)
    y = rng.poisson(np.exp(X + 1))
    X = X.reshape(-1, 1)
    glm = PoissonRegressor(alpha=0, tol=1e-7).fit(X, y)
    params = dict(
        hidden_layer_sizes=(1,), activation="identity", alpha=0, solver="lbfgs", tol=1e-7,
    )  # fmt: skip
    poisson = BPRegressor(loss="poisson", random_state=np.random.RandomState(seed + 1), **params)
    np.testing.assert_allclose(poisson.fit(X, y).predict(X), glm.predict(X), rtol=1e-4)
    squared = BPRegressor(
        loss="squared_error", random_state=np.random.RandomState(seed + 1), **params
    )
    assert not np.allclose(squared.fit(X, y).predict(X), glm.predict(X), rtol=1e-4)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_few_epoch_parity_with_sklearn(Estimator, solver):
    """Minibatch training agrees with scikit-learn's for the same seed."""
    X, y = (X_MULTI, Y_MULTI) if Estimator is BPClassifier else _poisson_data()
    params = dict(
        solver=solver,
        hidden_layer_sizes=(10,),
        max_iter=4,
        batch_size=50,
        random_state=2,
        learning_rate_init=0.01,
    )
    ours = quiet_fit(Estimator(**params), X, y)
    theirs = quiet_fit(MLP_OF[Estimator](**params), X, y)
    assert_same_network(ours, theirs, rtol=1e-7, atol=1e-10)
    np.testing.assert_allclose(ours.loss_curve_, theirs.loss_curve_, rtol=1e-7)
