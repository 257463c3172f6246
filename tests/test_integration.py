"""bpnet inside scikit-learn's machinery: pipelines, searches, cloning, routing, pandas."""

import pickle
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier, BPRegressor

from ._datasets import digits_multiclass, regression

pytestmark = pytest.mark.filterwarnings("ignore", category=ConvergenceWarning)


def test_estimator_types():
    assert is_classifier(BPClassifier()) and not is_regressor(BPClassifier())
    assert is_regressor(BPRegressor()) and not is_classifier(BPRegressor())


# The parameters bpnet adds to MLP's, with the defaults that train exactly as MLP does.
SHARED_BPNET_ONLY = {
    "dropout": 0.0,
    "max_grad_norm": None,
    "scoring": None,
    "learning_rate_schedule": None,
    "warmup_iter": 0,
    "weight_decay": 0.0,
    "weight_init": "glorot",
    "dtype": None,
}
BPNET_ONLY = {
    BPClassifier: {
        **SHARED_BPNET_ONLY,
        "class_weight": None,
        "label_smoothing": 0.0,
    },
    BPRegressor: {
        **SHARED_BPNET_ONLY,
        "huber_threshold": 1.0,
        "quantile": None,
    },
}


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_same_parameters_and_defaults_as_mlp(Estimator):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    reference = MLPClassifier() if Estimator is BPClassifier else MLPRegressor()
    ours = Estimator().get_params()
    extra = {name: ours.pop(name) for name in BPNET_ONLY[Estimator]}
    assert ours == reference.get_params()
    assert extra == BPNET_ONLY[Estimator]


def test_clone_keeps_parameters_and_drops_fit():
    est = BPClassifier(hidden_layer_sizes=(7, 3), alpha=0.1, random_state=4, max_iter=5)
    est.fit(*digits_multiclass(120))
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "coefs_")


@pytest.mark.parametrize(
    "Estimator,data", [(BPClassifier, digits_multiclass), (BPRegressor, regression)]
)
def test_pickle_round_trip(Estimator, data):
    X, y = data()
    est = Estimator(hidden_layer_sizes=(9,), max_iter=5, random_state=0).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    for a, b in zip(restored.coefs_, est.coefs_):
        assert_array_equal(a, b)


def test_pipeline_with_pandas_output_keeps_feature_names():
    X, y = digits_multiclass(150)
    frame = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(X.shape[1])])
    pipe = make_pipeline(StandardScaler(), BPClassifier(max_iter=20, random_state=0))
    pipe.set_output(transform="pandas")
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*feature names.*")
        pipe.fit(frame, y)
        predicted = pipe.predict(frame)
    assert_array_equal(pipe[-1].feature_names_in_, frame.columns.to_numpy())
    # The same model fitted on plain arrays predicts the same labels.
    plain = make_pipeline(StandardScaler(), BPClassifier(max_iter=20, random_state=0)).fit(X, y)
    assert_array_equal(predicted, plain.predict(X))


def test_grid_search_over_alpha_and_hidden_sizes():
    X, y = digits_multiclass(200)
    pipe = make_pipeline(StandardScaler(), BPClassifier(max_iter=30, random_state=0))
    grid = {"bpclassifier__alpha": [1e-4, 1.0], "bpclassifier__hidden_layer_sizes": [(5,), (30,)]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    # Each cross-validated score is the one cross_val_score finds for those settings.
    best = clone(pipe).set_params(**search.best_params_)
    assert_allclose(search.best_score_, cross_val_score(best, X, y, cv=3).mean())


def test_randomized_search_regressor():
    X, y = regression()
    search = RandomizedSearchCV(
        BPRegressor(solver="lbfgs", random_state=0, max_iter=50),
        {"alpha": [1e-5, 1e-3, 1e-1], "hidden_layer_sizes": [(4,), (16,)]},
        n_iter=3, cv=3, random_state=0,
    )  # fmt: skip
    search.fit(X, y)
    assert search.best_score_ > 0.9


@pytest.mark.parametrize(
    "Estimator,data", [(BPClassifier, digits_multiclass), (BPRegressor, regression)]
)
def test_metadata_routing_of_sample_weight(Estimator, data):
    X, y = data()
    weights = np.random.RandomState(0).uniform(0.1, 2.0, len(X))
    params = dict(hidden_layer_sizes=(8,), max_iter=10, random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        est = Estimator(**params).set_fit_request(sample_weight=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), est)
        pipe.fit(X, y, sample_weight=weights)
    direct = Estimator(**params).fit(StandardScaler().fit_transform(X), y, sample_weight=weights)
    unweighted = Estimator(**params).fit(StandardScaler().fit_transform(X), y)
    assert_allclose(pipe[-1].coefs_[0], direct.coefs_[0])
    assert not np.allclose(pipe[-1].coefs_[0], unweighted.coefs_[0])


def test_readme_quickstart_runs():
    readme = Path(__file__).resolve().parent.parent / "README.md"
    snippets = re.findall(r"```python\n(.*?)```", readme.read_text(), re.S)
    assert snippets, "the README lost its quickstart"
    namespace = {}
    exec(compile(snippets[0], "README.md", "exec"), namespace)
    assert namespace["model"].score(namespace["X_test"], namespace["y_test"]) > 0.9
    assert_allclose(
        namespace["ours"][-1].loss_curve_, namespace["theirs"][-1].loss_curve_, rtol=1e-7
    )


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_rejected_input_leaves_a_fitted_model_unchanged(method):
    X, y = digits_multiclass(120)
    est = BPClassifier(hidden_layer_sizes=(6,), max_iter=5, random_state=0, solver="sgd")
    est.fit(X, y)
    before = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}
    coefs = [c.copy() for c in est.coefs_]
    bad_X = X[:, :10]  # the wrong number of features for partial_fit; a new network for fit
    bad_weights = -np.ones(len(X))
    with pytest.raises(ValueError, match="sample_weight|non-negative|negative"):
        getattr(est, method)(bad_X if method == "fit" else X, y, sample_weight=bad_weights)
    assert set(vars(est)) == set(before)
    assert est.n_features_in_ == X.shape[1]
    for kept, original in zip(est.coefs_, coefs):
        assert_array_equal(kept, original)
    assert_array_equal(est.classes_, before["classes_"])
    est.predict(X)  # still usable


def test_first_partial_fit_with_bad_input_can_be_retried():
    X, y = digits_multiclass(120)
    est = BPClassifier(hidden_layer_sizes=(6,), solver="sgd", random_state=0)
    with pytest.raises(ValueError):
        est.partial_fit(np.full_like(X, np.nan), y, classes=np.unique(y))
    assert not hasattr(est, "classes_")
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)  # still the first call: classes are still required
    est.partial_fit(X, y, classes=np.unique(y))
    assert_array_equal(est.classes_, np.unique(y))
