"""Training behaviour of BPClassifier and BPRegressor: warm starts, partial_fit, stopping
rules, convergence warnings, interruption, divergence, early stopping and L-BFGS.

These mirror the behaviours scikit-learn's own MLP tests check, exercised through the
public API; where the two libraries should agree, MLPClassifier/MLPRegressor run in the
same test as an oracle.
"""

import re
import warnings

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_digits, load_iris, make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import MinMaxScaler, scale
from sklearn.utils.validation import check_is_fitted

import bpnet._training
from bpnet import BPClassifier, BPRegressor

from ._helpers import ACTIVATIONS, ESTIMATORS, MLP_OF


def _digits(n_class, n_samples=200):
    X, y = load_digits(n_class=n_class, return_X_y=True)
    return MinMaxScaler().fit_transform(X[:n_samples]), y[:n_samples]


X_MULTI, Y_MULTI = _digits(3)
X_BIN, Y_BIN = _digits(2)
X_REG, Y_REG = make_regression(n_samples=200, n_features=10, bias=20.0, noise=100.0, random_state=7)
Y_REG = scale(Y_REG)
X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_TINY, Y_TINY = [[3, 2], [1, 6]], [1, 0]


def _quiet_fit(est, X, y, **kwargs):
    """Fit when a ConvergenceWarning is expected and irrelevant to the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _assert_same_network(a, b, rtol, atol=0.0):
    """Equal weights to rtol; atol only matters for entries near zero, where a relative
    tolerance is meaningless (it is set far below the weights' scale of ~0.1-1)."""
    assert len(a.coefs_) == len(b.coefs_)
    for got, expected in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol)


# --- warm_start -------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_warm_start_every_fit_runs_to_max_iter(Estimator, solver):
    """A warm-started fit counts its own iterations up to the current max_iter."""
    est = Estimator(
        solver=solver, warm_start=True, max_iter=10, n_iter_no_change=np.inf, random_state=0
    )
    with pytest.warns(ConvergenceWarning):
        est.fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 10
    est.set_params(max_iter=20)
    with pytest.warns(ConvergenceWarning):
        est.fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 20
    est.set_params(max_iter=3)
    with pytest.warns(ConvergenceWarning):
        est.fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 3


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_sgd_continues_like_one_longer_fit(Estimator):
    """Full-batch SGD without momentum has no state beyond the weights, so two warm fits of
    5 epochs must end exactly where one fit of 10 epochs ends."""
    params = dict(
        solver="sgd", hidden_layer_sizes=5, batch_size=150, shuffle=False, momentum=0.0,
        learning_rate_init=0.05, n_iter_no_change=np.inf, random_state=3,
    )  # fmt: skip
    warm = Estimator(warm_start=True, max_iter=5, **params)
    _quiet_fit(warm, X_IRIS, Y_IRIS)
    after_first = [c.copy() for c in warm.coefs_]
    _quiet_fit(warm, X_IRIS, Y_IRIS)
    once = _quiet_fit(Estimator(max_iter=10, **params), X_IRIS, Y_IRIS)

    _assert_same_network(warm, once, rtol=1e-10, atol=1e-12)
    assert warm.t_ == once.t_ == 10 * 150
    assert not np.allclose(warm.coefs_[0], after_first[0])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_adam_matches_sklearn(Estimator):
    """Adam's moments restart on each fit (as in scikit-learn) but the weights carry over:
    the second fit differs from a fresh one and agrees with MLP's warm start."""
    params = dict(
        solver="adam", hidden_layer_sizes=6, max_iter=4, warm_start=True, random_state=1,
        learning_rate_init=0.01,
    )  # fmt: skip
    ours, theirs = Estimator(**params), MLP_OF[Estimator](**params)
    for _ in range(2):
        _quiet_fit(ours, X_IRIS, Y_IRIS)
        _quiet_fit(theirs, X_IRIS, Y_IRIS)
    _assert_same_network(ours, theirs, rtol=1e-7, atol=1e-12)
    fresh = _quiet_fit(Estimator(**params), X_IRIS, Y_IRIS)
    assert not np.allclose(ours.coefs_[0], fresh.coefs_[0])
    assert ours.t_ == 2 * 4 * 150


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_lbfgs_improves_on_the_previous_solution(Estimator):
    """With an int random_state a re-initialised fit would repeat the first one exactly;
    a warm fit instead starts from its result and lowers the loss further."""
    est = Estimator(
        solver="lbfgs",
        hidden_layer_sizes=5,
        max_iter=10,
        warm_start=True,
        random_state=0,
    )
    first_loss = _quiet_fit(est, X_IRIS, Y_IRIS).loss_
    second_loss = _quiet_fit(est, X_IRIS, Y_IRIS).loss_
    fresh = _quiet_fit(Estimator(**est.get_params()), X_IRIS, Y_IRIS)
    assert fresh.loss_ == pytest.approx(first_loss, rel=1e-12)
    assert second_loss < first_loss


def test_warm_start_accepts_same_classes_in_other_proportions():
    y_3classes = np.array([0] * 40 + [1] * 40 + [2] * 70)
    clf = BPClassifier(
        hidden_layer_sizes=2,
        solver="lbfgs",
        warm_start=True,
        random_state=42,
        tol=1e-2,
    )
    _quiet_fit(clf, X_IRIS, Y_IRIS)
    _quiet_fit(clf, X_IRIS, Y_IRIS)
    _quiet_fit(clf, X_IRIS, y_3classes)
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])


@pytest.mark.parametrize(
    "y_new",
    [
        np.array([0] * 75 + [1] * 75),
        np.array([0] * 50 + [1] * 50 + [3] * 50),
        np.array([0] * 37 + [1] * 37 + [2] * 38 + [3] * 38),
        np.array([0] * 30 + [1] * 30 + [2] * 30 + [3] * 30 + [4] * 30),
    ],
    ids=["two", "relabelled", "four", "five"],
)
def test_warm_start_rejects_changed_classes(y_new):
    clf = BPClassifier(
        hidden_layer_sizes=2,
        solver="lbfgs",
        warm_start=True,
        random_state=42,
        tol=1e-2,
    )
    _quiet_fit(clf, X_IRIS, Y_IRIS)
    message = (
        "warm_start can only be used where `y` has the same classes as in the previous call "
        f"to fit. Previously got [0 1 2], `y` has {np.unique(y_new)}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        clf.fit(X_IRIS, y_new)


@pytest.mark.parametrize("learning_rate", ["invscaling", "constant"])
def test_warm_start_learning_rate_schedule(learning_rate):
    """'invscaling' keeps counting samples across warm fits: after two fits of one epoch on
    4 samples the rate is learning_rate_init / (8 + 1) ** power_t."""
    X, y = [[3, 2], [1, 6], [5, 6], [-2, -4]], [1, 1, 1, 0]
    clf = BPClassifier(
        solver="sgd", hidden_layer_sizes=4, learning_rate=learning_rate, max_iter=1,
        power_t=0.25, warm_start=True, random_state=0,
    )  # fmt: skip
    _quiet_fit(clf, X, y)
    first_rate = clf._optimizer.learning_rate
    _quiet_fit(clf, X, y)
    second_rate = clf._optimizer.learning_rate
    if learning_rate == "constant":
        assert first_rate == second_rate == clf.learning_rate_init
    else:
        assert second_rate == clf.learning_rate_init / (8 + 1) ** clf.power_t


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_warm_start_with_early_stopping_extends_validation_scores(Estimator):
    est = Estimator(max_iter=10, random_state=0, warm_start=True, early_stopping=True)
    _quiet_fit(est, X_IRIS, Y_IRIS)
    n_scores = len(est.validation_scores_)
    est.set_params(max_iter=20)
    _quiet_fit(est, X_IRIS, Y_IRIS)
    assert len(est.validation_scores_) > n_scores
    assert est.best_validation_score_ == max(est.validation_scores_)


# --- partial_fit ------------------------------------------------------------------------


def test_partial_fit_requires_classes_on_first_call():
    with pytest.raises(ValueError, match="classes must be passed"):
        BPClassifier(solver="sgd").partial_fit(X_TINY, Y_TINY)
    # A single class cannot define a classifier.
    with pytest.raises(ValueError):
        BPClassifier(solver="sgd").partial_fit(X_TINY, Y_TINY, classes=[2])
    # y holds a label that `classes` does not list.
    with pytest.raises(ValueError, match="classes not in"):
        BPClassifier(solver="sgd").partial_fit(X_TINY, Y_TINY, classes=[0, 2])


def test_partial_fit_rejects_different_classes():
    clf = BPClassifier(solver="sgd")
    clf.partial_fit([[3, 2]], [0], classes=[0, 1])
    with pytest.raises(ValueError, match="not the same as on last call"):
        clf.partial_fit([[3, 2]], [0], classes=[1, 2])
    # Passing the same classes again is accepted.
    clf.partial_fit([[3, 2]], [0], classes=[1, 0])


def test_partial_fit_subsets_of_classes_and_unseen_labels():
    clf = BPClassifier(random_state=0)
    clf.partial_fit([[1], [2], [3]], ["a", "b", "c"], classes=["a", "b", "c", "d"])
    clf.partial_fit([[4]], ["d"])  # a class declared up front but not seen yet
    assert clf.score([[1], [2], [3], [4]], ["a", "b", "c", "d"]) > 0
    with pytest.raises(ValueError, match="classes not in"):
        clf.partial_fit([[5]], ["e"])


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_partial_fit_matches_fit_for_full_batches(Estimator, momentum):
    """k full-batch, unshuffled partial_fit epochs are k epochs of fit: the SGD velocity is
    carried from one call to the next."""
    X, y = (X_MULTI, Y_MULTI) if Estimator is BPClassifier else (X_REG, Y_REG)
    params = dict(
        solver="sgd", hidden_layer_sizes=8, batch_size=X.shape[0], shuffle=False,
        momentum=momentum, learning_rate_init=0.05, random_state=1,
    )  # fmt: skip
    fitted = _quiet_fit(Estimator(max_iter=6, **params), X, y)
    incremental = Estimator(**params)
    extra = {"classes": np.unique(y)} if Estimator is BPClassifier else {}
    for _ in range(6):
        incremental.partial_fit(X, y, **extra)
    _assert_same_network(incremental, fitted, rtol=1e-10, atol=1e-12)
    assert incremental.loss_curve_ == pytest.approx(fitted.loss_curve_, rel=1e-12)


def test_partial_fit_classifier_learns_like_fit():
    params = dict(solver="sgd", random_state=1, alpha=1e-5, learning_rate_init=0.2)
    fitted = _quiet_fit(BPClassifier(max_iter=30, tol=0, **params), X_BIN, Y_BIN)
    incremental = BPClassifier(**params)
    for _ in range(30):
        incremental.partial_fit(X_BIN, Y_BIN, classes=np.unique(Y_BIN))
    assert incremental.score(X_BIN, Y_BIN) > 0.95
    assert fitted.score(X_BIN, Y_BIN) > 0.95


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_refuses_early_stopping(Estimator):
    est = _quiet_fit(Estimator(early_stopping=True, max_iter=5, random_state=0), X_IRIS, Y_IRIS)
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        est.partial_fit(X_IRIS, Y_IRIS)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_partial_fit_unavailable_with_lbfgs(Estimator):
    """Both estimators hide partial_fit for L-BFGS (MLPRegressor exposes it, a bug)."""
    assert not hasattr(Estimator(solver="lbfgs"), "partial_fit")
    assert hasattr(Estimator(solver="sgd"), "partial_fit")
    assert hasattr(Estimator(solver="adam"), "partial_fit")
    est = Estimator(solver="sgd")
    est.set_params(solver="lbfgs")
    assert not hasattr(est, "partial_fit")


def test_partial_fit_after_joblib_round_trip(tmp_path):
    """A reloaded model keeps training: it can be fine-tuned to a new target."""
    reg = BPRegressor(
        hidden_layer_sizes=(42,),
        random_state=42,
        learning_rate_init=0.01,
        max_iter=200,
    )
    _quiet_fit(reg, [[2]], [4])
    before = reg.predict([[2]])[0]
    assert abs(before - 4) < 1  # pre-trained towards 4, far from the new target 1
    path = tmp_path / "bpnet.joblib"
    joblib.dump(reg, path)
    loaded = joblib.load(path)
    for _ in range(200):
        loaded.partial_fit([[2]], [1])
    np.testing.assert_allclose(loaded.predict([[2]]), [1], rtol=1e-4)
    # The original estimator was not touched by the fine-tuning of its copy.
    assert reg.predict([[2]])[0] == before


# --- stopping rules and convergence warnings --------------------------------------------


@pytest.mark.parametrize("n_iter_no_change", [2, 5, 10])
def test_n_iter_no_change_stops_after_that_many_stale_epochs(n_iter_no_change):
    tol, max_iter = 0.01, 1000
    clf = BPClassifier(
        tol=tol,
        max_iter=max_iter,
        solver="sgd",
        n_iter_no_change=n_iter_no_change,
        random_state=0,
    )
    clf.fit(X_BIN[:100], Y_BIN[:100])
    assert clf.n_iter_ < max_iter
    curve = clf.loss_curve_
    assert len(curve) == clf.n_iter_
    # The last n_iter_no_change + 1 epochs each failed to beat the best loss before them
    # by tol; the epoch before that run did improve (or was the first).
    k = n_iter_no_change + 1
    for i in range(len(curve) - k, len(curve)):
        assert curve[i] > min(curve[:i]) - tol
    start = len(curve) - k - 1
    assert start == 0 or curve[start] <= min(curve[:start]) - tol


def test_n_iter_no_change_inf_runs_to_max_iter():
    clf = BPClassifier(tol=1e9, max_iter=300, solver="sgd", n_iter_no_change=np.inf, random_state=0)
    with pytest.warns(ConvergenceWarning, match="Maximum iterations"):
        clf.fit(X_BIN[:100], Y_BIN[:100])
    assert clf.n_iter_ == 300


def test_large_tol_stops_early():
    clf = BPClassifier(tol=0.5, max_iter=3000, solver="sgd", random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        clf.fit(X_TINY, Y_TINY)
    assert clf.n_iter_ < clf.max_iter


def test_adaptive_learning_rate_stops_when_rate_is_tiny():
    clf = BPClassifier(
        tol=0.5,
        max_iter=3000,
        solver="sgd",
        learning_rate="adaptive",
        random_state=0,
    )
    clf.fit(X_TINY, Y_TINY)
    assert clf.n_iter_ < clf.max_iter
    assert clf._optimizer.learning_rate < 1e-6
    # It took several rounds of dividing by 5 (from 1e-3 to below 1e-6), each one after
    # n_iter_no_change stale epochs, rather than stopping at the first plateau.
    assert clf.n_iter_ > 5 * clf.n_iter_no_change


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_convergence_warning_at_max_iter(Estimator, solver):
    est = Estimator(solver=solver, max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        est.fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 3
    # One partial_fit epoch is not a fit that ran out of iterations.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est.partial_fit(X_IRIS, Y_IRIS)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_convergence_warning_lbfgs(Estimator):
    est = Estimator(solver="lbfgs", max_iter=3, random_state=0)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        est.fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 3


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_loss_is_a_numpy_float64_as_in_mlp(Estimator, solver, dtype):
    """loss_ is a NumPy float64, as MLP's, whatever the solver and the input's dtype."""
    X = X_IRIS.astype(dtype)
    params = dict(solver=solver, hidden_layer_sizes=5, max_iter=5, random_state=0)
    ours = _quiet_fit(Estimator(**params), X, Y_IRIS)
    theirs = _quiet_fit(MLP_OF[Estimator](**params), X, Y_IRIS)
    assert type(theirs.loss_) is np.float64
    assert type(ours.loss_) is np.float64
    if solver != "lbfgs":
        assert ours.loss_ == ours.loss_curve_[-1]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            ours.partial_fit(X, Y_IRIS)
        assert type(ours.loss_) is np.float64


def test_loss_is_a_numpy_float64_after_divergence_or_interruption(monkeypatch):
    reg = BPRegressor(
        hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1,
        max_iter=20, early_stopping=True, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X_IRIS, Y_IRIS)
    assert np.isnan(reg.loss_) and type(reg.loss_) is np.float64

    # L-BFGS interrupted in its first evaluation: the loss of the initial weights.
    real_loss_gradient = bpnet._training.loss_gradient
    calls = []

    def interrupted_first_call(*args):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return real_loss_gradient(*args)

    monkeypatch.setattr(bpnet._training, "loss_gradient", interrupted_first_call)
    reg = BPRegressor(hidden_layer_sizes=5, solver="lbfgs", random_state=0)
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        reg.fit(X_IRIS, Y_IRIS)
    assert reg.n_iter_ == 0 and np.isfinite(reg.loss_) and type(reg.loss_) is np.float64


# --- interruption and divergence ---------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_keyboard_interrupt_keeps_the_model(Estimator, solver, monkeypatch):
    """Ctrl-C during the third epoch warns and leaves the model of the two finished ones."""
    real_train_epochs = bpnet._training.train_epochs
    calls = []

    def interrupted_on_third_epoch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_train_epochs(*args, **kwargs)

    params = dict(solver=solver, hidden_layer_sizes=5, random_state=0, batch_size=32)
    # The fake counts kernel calls as epochs: train epoch by epoch.
    monkeypatch.setattr(bpnet._training, "RUN_EPOCHS_IN_ONE_CALL", False)
    monkeypatch.setattr(bpnet._training, "train_epochs", interrupted_on_third_epoch)
    est = Estimator(max_iter=10, **params)
    with pytest.warns(UserWarning, match="Training interrupted by user."):
        est.fit(X_IRIS, Y_IRIS)
    monkeypatch.undo()

    check_is_fitted(est)
    assert est.n_iter_ == 2
    assert len(est.loss_curve_) == 2
    reference = _quiet_fit(Estimator(max_iter=2, **params), X_IRIS, Y_IRIS)
    _assert_same_network(est, reference, rtol=0)
    np.testing.assert_array_equal(est.predict(X_IRIS), reference.predict(X_IRIS))
    # Training can resume afterwards.
    est.partial_fit(X_IRIS, Y_IRIS)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 3


def test_diverging_sgd_with_early_stopping_records_nan_score():
    reg = BPRegressor(
        hidden_layer_sizes=100, activation="identity", solver="sgd", learning_rate_init=1,
        max_iter=20, early_stopping=True, n_iter_no_change=10, random_state=0,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X_IRIS, Y_IRIS)
    last = reg.validation_scores_[-1]
    assert isinstance(last, float)
    assert np.isnan(last)
    # The best validated weights were kept, so the model still predicts numbers.
    assert all(np.isfinite(c).all() for c in reg.coefs_ + reg.intercepts_)
    assert np.isfinite(reg.predict(X_IRIS)).all()


def test_non_finite_weights_raise_and_keep_finite_weights():
    rng = np.random.RandomState(0)
    X = np.finfo(np.float64).max * rng.uniform(size=(10, 2))
    y = rng.standard_normal(size=10)
    reg = BPRegressor()
    message = (
        "Solver produced non-finite parameter weights. The input data may contain large "
        "values and need to be preprocessed."
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(ValueError, match=re.escape(message)):
            reg.fit(X, y)
    assert all(np.isfinite(c).all() for c in reg.coefs_ + reg.intercepts_)


# --- early stopping -----------------------------------------------------------------------


def test_validation_set_too_small():
    X, y = make_regression(n_samples=2, n_features=5, random_state=0)
    with pytest.raises(ValueError, match="The validation set is too small"):
        BPRegressor(early_stopping=True, random_state=0).fit(X, y)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_early_stopping_attributes(Estimator):
    X, y, tol = X_BIN[:100], Y_BIN[:100], 0.2
    est = Estimator(tol=tol, max_iter=3000, solver="sgd", early_stopping=True, random_state=0)
    est.fit(X, y)
    assert est.n_iter_ < est.max_iter
    assert est.best_loss_ is None
    assert isinstance(est.validation_scores_, list)
    scores = est.validation_scores_
    assert len(scores) == est.n_iter_
    assert est.best_validation_score_ == max(scores)
    assert scores[-1] < est.best_validation_score_ + tol
    assert scores[-2] < est.best_validation_score_ + tol

    est = Estimator(tol=tol, max_iter=3000, solver="sgd", early_stopping=False, random_state=0)
    est.fit(X, y)
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    assert est.best_loss_ is not None
    assert est.best_loss_ == min(est.loss_curve_)


def test_early_stopping_with_string_labels():
    X, y = make_classification(
        n_samples=200,
        n_features=10,
        n_classes=3,
        n_informative=5,
        random_state=42,
    )
    y = np.array(["class_a", "class_b", "class_c"], dtype=object)[y]
    clf = _quiet_fit(BPClassifier(early_stopping=True, max_iter=50, random_state=42), X, y)
    assert len(clf.validation_scores_) == clf.n_iter_
    assert np.isfinite(clf.validation_scores_).all()
    assert set(clf.predict(X)) <= set(y)


def test_early_stopping_binary_split_is_stratified():
    with pytest.raises(ValueError, match="The least populated class"):
        BPClassifier(early_stopping=True).fit([[1, 2], [2, 3], [3, 4], [4, 5]], [0, 0, 0, 1])


def test_early_stopping_multiclass_split_is_stratified_singleton_class():
    """A multiclass split stratifies on the labels, so a class with a single member cannot
    be split (scikit-learn only stratifies binary targets)."""
    X = np.arange(20, dtype=float).reshape(10, 2)
    y = [0] * 5 + [1] * 4 + [2]
    with pytest.raises(ValueError, match="The least populated class"):
        BPClassifier(early_stopping=True, random_state=0).fit(X, y)


@pytest.mark.parametrize("random_state", range(5))
def test_early_stopping_multiclass_split_keeps_class_proportions(random_state):
    """Observe the validation set's class counts through the validation scores.

    Every row of X is the same, so the network predicts one class c for all rows and the
    validation accuracy is exactly the share of c in the validation set. y has 20/30/50
    rows of classes 0/1/2 and the validation set 20 rows; stratified, it holds 4/6/10
    rows of them, so every validation score is one of 0.2, 0.3 and 0.5. An unstratified
    split gives other counts for most seeds (e.g. 9 of the 20 from class 2 -> 0.45).
    """
    X = np.ones((100, 2))
    y = np.repeat([0, 1, 2], [20, 30, 50])
    clf = BPClassifier(
        hidden_layer_sizes=3, early_stopping=True, validation_fraction=0.2, max_iter=30,
        learning_rate_init=0.05, random_state=random_state,
    )  # fmt: skip
    _quiet_fit(clf, X, y)
    share = {0: 0.2, 1: 0.3, 2: 0.5}
    for score in clf.validation_scores_:
        assert min(abs(score - s) for s in share.values()) < 1e-12, score
    # The kept (best) weights predict one class, and their score is that class's share.
    predicted = np.unique(clf.predict(X))
    assert len(predicted) == 1
    assert clf.best_validation_score_ == pytest.approx(share[predicted[0]], abs=1e-12)


# --- L-BFGS -------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("X, y", [(X_MULTI, Y_MULTI), (X_BIN, Y_BIN)], ids=["multiclass", "binary"])
def test_lbfgs_classification(X, y, activation):
    clf = BPClassifier(
        solver="lbfgs",
        hidden_layer_sizes=50,
        max_iter=150,
        random_state=1,
        activation=activation,
    )
    _quiet_fit(clf, X[:150], y[:150])
    assert clf.score(X[:150], y[:150]) > 0.95
    pred = clf.predict(X[150:])
    assert pred.shape == (X.shape[0] - 150,)
    assert pred.dtype.kind == y.dtype.kind


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_lbfgs_regression(activation):
    reg = BPRegressor(
        solver="lbfgs",
        hidden_layer_sizes=50,
        max_iter=200,
        tol=1e-3,
        random_state=1,
        activation=activation,
    )
    _quiet_fit(reg, X_REG, Y_REG)
    # A linear network cannot fit this noisy target as well as a nonlinear one.
    assert reg.score(X_REG, Y_REG) > (0.80 if activation == "identity" else 0.98)


@pytest.mark.parametrize(
    "Estimator, X, y",
    [(BPClassifier, X_MULTI, Y_MULTI), (BPClassifier, X_BIN, Y_BIN), (BPRegressor, X_REG, Y_REG)],
    ids=["multiclass", "binary", "regression"],
)
@pytest.mark.parametrize("activation", ["logistic", "relu"])
def test_lbfgs_max_fun_limits_evaluations(Estimator, X, y, activation):
    est = Estimator(
        solver="lbfgs",
        hidden_layer_sizes=50,
        tol=0.0,
        max_iter=150,
        max_fun=10,
        random_state=1,
        activation=activation,
    )
    with pytest.warns(ConvergenceWarning):
        est.fit(X, y)
    assert est.n_iter_ <= 10


# L-BFGS amplifies last-bit floating-point differences (from a different summation order
# in the kernels) over many iterations, so the parity checks stop after a few iterations.
@pytest.mark.parametrize(
    "Estimator, X, y",
    [(BPClassifier, X_MULTI, Y_MULTI), (BPClassifier, X_BIN, Y_BIN), (BPRegressor, X_REG, Y_REG)],
    ids=["multiclass", "binary", "regression"],
)
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_lbfgs_parity_with_sklearn(Estimator, X, y, activation):
    params = dict(
        solver="lbfgs",
        hidden_layer_sizes=(12,),
        max_iter=20,
        random_state=4,
        activation=activation,
    )
    ours = _quiet_fit(Estimator(**params), X, y)
    theirs = _quiet_fit(MLP_OF[Estimator](**params), X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == pytest.approx(theirs.loss_, rel=1e-7)
    _assert_same_network(ours, theirs, rtol=1e-7, atol=1e-10)


_LABEL_CASES = {
    "int64 multiclass": np.array([3, 1, 2, 1, 3, 2]),
    "int32 binary": np.array([5, 7, 7, 5], dtype=np.int32),
    "uint8 multiclass": np.array([0, 9, 4, 4], dtype=np.uint8),
    "bool": np.array([True, False, False, True]),
    "str binary": np.array(["spam", "ham", "ham"]),
    "str multiclass": np.array(["b", "a", "ccc", "a"], dtype="<U10"),
    "one class": np.array([4, 4, 4]),
}


@pytest.mark.parametrize("name", list(_LABEL_CASES))
def test_fast_label_binarizer_is_label_binarizer(name):
    """The fit path's shortcut for plain 1-D labels leaves the binarizer LabelBinarizer
    would and the same targets, down to the classes' dtype."""
    from sklearn.preprocessing import LabelBinarizer

    from bpnet._classes import _binarize, _fit_binarizer

    y = _LABEL_CASES[name]
    fast, full = _fit_binarizer(y), LabelBinarizer().fit(y)
    assert sorted(vars(fast)) == sorted(vars(full))
    for attribute, value in vars(full).items():
        got = getattr(fast, attribute)
        assert type(got) is type(value), attribute
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype, attribute
        np.testing.assert_array_equal(got, value, err_msg=attribute)
    # Rows of labels it knows, and of one it does not (a row of zeros).
    other = np.concatenate([y[::-1], y[:1]])
    other[-1] = np.asarray(["zzz"]).astype(y.dtype)[0] if y.dtype.kind == "U" else 2
    for dtype in (np.float32, np.float64):
        for labels in (y, other):
            got = _binarize(full, labels, dtype)
            assert got.dtype == dtype
            np.testing.assert_array_equal(got, full.transform(labels))


def _fit_data_cases():
    rng = np.random.RandomState(0)
    X = rng.randn(30, 4)
    labels = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0.5)
    targets = X @ rng.randn(4) + 0.1 * rng.randn(30)
    yield BPClassifier, X, labels
    yield BPClassifier, np.asfortranarray(X.astype(np.float32)), labels.astype(np.uint8)
    yield BPClassifier, X, labels.astype(bool)
    yield BPClassifier, X[:, ::2], np.column_stack([labels == 1, labels == 2]).astype(int)
    yield BPRegressor, X, targets
    yield BPRegressor, X.astype(np.float32), targets.reshape(-1, 1)
    yield BPRegressor, X, np.column_stack([targets, -targets]).astype(np.float32)
    yield BPRegressor, X, labels  # integer targets


@pytest.mark.parametrize("case", range(8))
def test_fit_fast_path_fits_as_validate_data(case, monkeypatch):
    """A fresh fit on plain finite arrays skips validate_data; fitting with the shortcut
    off gives the same model, attributes and warnings, feature names dropped alike."""
    import pandas as pd

    import bpnet._base

    Estimator, X, y = list(_fit_data_cases())[case]
    params = dict(hidden_layer_sizes=(5,), max_iter=5, random_state=0)
    frame = pd.DataFrame(np.asarray(X), columns=[f"f{i}" for i in range(X.shape[1])])
    validations = []
    validate_data = bpnet._base.validate_data

    def counted_validate_data(*args, **kwargs):
        validations.append(args[1])
        return validate_data(*args, **kwargs)

    monkeypatch.setattr(bpnet._base, "validate_data", counted_validate_data)
    fitted = {}
    for path in ("fast", "full"):
        if path == "full":
            monkeypatch.setattr(bpnet._base, "_is_finite_float_matrix", lambda X: False)
        # Fitted first with feature names, then on the plain arrays: names must go.
        model = _quiet_fit(Estimator(**params), frame, y)
        assert hasattr(model, "feature_names_in_")
        validations.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model.fit(X, y)
        assert len(validations) == (0 if path == "fast" else 1)
        fitted[path] = (model, sorted(str(w.message) for w in caught))
    (fast, fast_warnings), (full, full_warnings) = fitted["fast"], fitted["full"]
    assert fast_warnings == full_warnings
    assert not hasattr(fast, "feature_names_in_") and not hasattr(full, "feature_names_in_")
    assert sorted(vars(fast)) == sorted(vars(full))
    assert fast.n_features_in_ == full.n_features_in_ == X.shape[1]
    if Estimator is BPClassifier:
        np.testing.assert_array_equal(fast.classes_, full.classes_)
    assert fast.loss_curve_ == full.loss_curve_
    for a, b in zip(fast.coefs_ + fast.intercepts_, full.coefs_ + full.intercepts_, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_fit_fast_path_leaves_bad_targets_to_validate_data(Estimator):
    """Non-finite or empty targets fail the shortcut's test, and validate_data raises
    scikit-learn's own errors."""
    X = np.random.RandomState(0).randn(6, 3)
    y = np.array([0.0, 1.0, np.nan, 1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="Input y contains NaN"):
        Estimator().fit(X, y)
    with pytest.raises(ValueError, match="Found input variables with inconsistent numbers"):
        Estimator().fit(X, y[3:])


@pytest.mark.parametrize("n_rows", [10, 3000])  # checked value by value, and by the sum
def test_fast_paths_take_huge_finite_values_without_a_warning(n_rows):
    """Finite values whose sum overflows are finite to scikit-learn: validating them for a
    fit or a prediction warns about nothing and raises nothing, even where np.errstate
    raises on overflow."""
    X = np.full((n_rows, 2), 1e308)
    y = np.arange(n_rows) % 2
    model = BPClassifier(hidden_layer_sizes=(3,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise"):
            assert model._validate_fit_data(X, y, True)[0] is X
            assert model.n_features_in_ == 2
    _quiet_fit(model, np.random.RandomState(0).randn(20, 2), np.arange(20) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise"):
            assert model._passes_validation_as_is(X) == (X.size <= bpnet._base._FINITE_BY_VALUE)
