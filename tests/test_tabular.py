"""TabularClassifier and TabularRegressor: tables as they come (numbers, categories, missing
values), the network checked against the NumPy reference through the encoder, unseen
levels, the 'auto' rules, thread counts, persistence, callbacks and validation data."""

import pickle
import warnings

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from bpnet import TabularClassifier, TabularRegressor
from bpnet._tabular import (
    AUTO_MAX_EPOCHS,
    AUTO_MIN_EPOCHS,
    EARLY_STOPPING_MIN_ROWS,
    TEMPERATURE_BOUNDS,
    auto_max_iter,
    fit_temperature,
)

from . import _reference as ref
from ._helpers import cut_batches


def _fit(estimator, X, y, **fit_params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y, **fit_params)


def _table(n=300, seed=0):
    """A frame with every kind of column, missing values in each, and its targets."""
    rng = np.random.RandomState(seed)
    size = rng.uniform(0, 10, n)
    count = rng.randint(0, 5, n)
    color = rng.choice(["red", "green", "blue"], n)
    city = rng.choice([f"city{i}" for i in range(30)], n)
    flag = rng.rand(n) > 0.5
    X = pd.DataFrame(
        {
            "size": size,
            "count": pd.array(count, dtype="Int64"),
            "color": pd.Categorical(color),
            "city": pd.array(city, dtype="string"),
            "note": pd.Series(rng.choice(["a", "b", None], n), dtype=object),
            "flag": pd.array(flag, dtype="boolean"),
        }
    )
    missing = rng.rand(n, X.shape[1]) < 0.1
    for j, column in enumerate(X.columns):
        X.loc[missing[:, j], column] = None
    city_effect = {f"city{i}": (i % 3) - 1.0 for i in range(30)}
    score = (
        np.nan_to_num(X["size"].to_numpy(dtype=float), nan=5.0) / 5
        + X["city"].map(city_effect).fillna(0).to_numpy(dtype=float)
        + (X["color"] == "red").to_numpy(dtype=float)
    )
    return X, score


def _classification(n=300, seed=0):
    X, score = _table(n, seed)
    return X, np.where(score > np.median(score), "high", "low")


@pytest.fixture(scope="module")
def fitted_classifier():
    X, y = _classification()
    return _fit(TabularClassifier(max_one_hot=4, max_iter=40, random_state=0), X, y), X, y


def test_every_column_kind_with_missing_values_trains_and_predicts(fitted_classifier):
    model, X, y = fitted_classifier
    assert model._encoder.kinds_ == ["numeric", "numeric", "onehot", "embedded", "onehot",
                                     "onehot"]  # fmt: skip
    probabilities = model.predict_proba(X)
    assert np.isfinite(probabilities).all()
    assert model.score(X, y) > 0.8
    # A row with every value missing is a row like any other.
    empty = X.iloc[:1].copy()
    for column in X.columns:
        empty[column] = None
    assert np.isfinite(model.predict_proba(empty.astype(X.dtypes.to_dict()))).all()


def test_predictions_are_the_reference_network_on_the_encoded_columns(fitted_classifier):
    model, X, _ = fitted_classifier
    dense, codes = model._encoder.transform(X)
    layout = model._layout()
    assert model.coefs_[0].dtype == np.float32  # trained in the default dtype
    # Predictions are computed in float64 from the float32 weights, as the reference.
    params = layout.pack(model.coefs_, model.intercepts_, np.float64, model.embeddings_)
    inputs = ref.embedded_inputs(layout, params, dense, codes)
    expected = ref.forward(layout, params, inputs)[0][-1]
    probabilities = model.predict_proba(X)
    assert probabilities.dtype == np.float64
    # Tolerance: BLAS and NumPy may sum the products in different orders.
    assert_allclose(probabilities[:, 1], expected[:, 0], rtol=1e-12, atol=1e-14)
    hidden = ref.forward(layout, params, inputs)[0][0]
    assert_allclose(model.hidden_activations(X), hidden, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("Model", [TabularClassifier, TabularRegressor])
def test_a_row_predicts_the_same_alone_and_among_others(Model):
    # scikit-learn's check_methods_subset_invariance (atol 1e-7) on a network trained in
    # float32, with targets in the hundreds: one row alone is where aarch64's OpenBLAS
    # computes a float32 product differently (sgemm of one row goes to sgemv), by 1e-6
    # here. The float64 prediction leaves only float64's last bits to differ.
    rng = np.random.RandomState(0)
    X = rng.uniform(size=(40, 5)) * 3
    y = (X[:, 0] > 1.5).astype(int) if Model is TabularClassifier else 100 * X @ rng.rand(5)
    model = Model(hidden_layer_sizes=(16,), max_iter=5, random_state=0).fit(X, y)
    assert model.coefs_[0].dtype == np.float32
    method = "predict_proba" if Model is TabularClassifier else "predict"
    full = getattr(model, method)(X)
    alone = np.concatenate([getattr(model, method)(row[None]) for row in X])
    assert_allclose(alone, full, rtol=1e-13, atol=1e-13)


def test_levels_not_seen_at_fit_never_raise(fitted_classifier):
    model, X, _ = fitted_classifier
    new = X.iloc[:5].copy()
    new["city"] = pd.array(["elsewhere"] * 5, dtype="string")
    new["color"] = pd.Categorical(["purple"] * 5)
    probabilities = model.predict_proba(new)
    assert np.isfinite(probabilities).all()
    # An unseen city takes the embedding table's reserved row, which is zero: the same
    # outputs as a network whose city embedding input is zero.
    dense, codes = model._encoder.transform(new)
    assert (codes == 0).all()
    assert_array_equal(model.embeddings_[0][0], 0.0)
    onehot = [n for n in model._encoder.dense_feature_names_ if n.startswith("color_")]
    positions = [list(model._encoder.dense_feature_names_).index(n) for n in onehot]
    assert_array_equal(dense[:, positions], 0.0)


def test_embeddings_train_and_the_reserved_row_stays_zero():
    X, y = _classification()
    model = _fit(TabularClassifier(max_one_hot=4, max_iter=5, random_state=0), X, y)
    initial = _fit(TabularClassifier(max_one_hot=4, max_iter=1, random_state=0), X, y)
    table, start = model.embeddings_[0], initial.embeddings_[0]
    assert table.shape == (30 + 2, 8)
    assert_array_equal(table[0], 0.0)
    assert not np.allclose(table[2:], start[2:])


@pytest.mark.usefixtures("threads_every_phase")
@pytest.mark.parametrize("threads", ["1", "2", "4"])
def test_the_fit_is_the_same_with_any_number_of_threads(monkeypatch, threads):
    X, y = _classification(n=600)
    params = dict(max_one_hot=4, max_iter=3, random_state=0, hidden_layer_sizes=(64,))
    monkeypatch.setenv("BPNET_NUM_THREADS", "1")
    with cut_batches((0, 9, 1e18)):
        reference = _fit(TabularClassifier(**params), X, y)
        monkeypatch.setenv("BPNET_NUM_THREADS", threads)
        other = _fit(TabularClassifier(**params), X, y)
    for a, b in zip(
        reference.coefs_ + reference.intercepts_ + reference.embeddings_,
        other.coefs_ + other.intercepts_ + other.embeddings_,
    ):
        assert_array_equal(a, b)


def test_regression_targets_are_standardised_and_predictions_in_y_units():
    X, score = _table()
    y = 1000 + 250 * score
    model = _fit(TabularRegressor(max_iter=60, random_state=0), X, y)
    assert_allclose(model.target_mean_, [y.mean()])
    assert_allclose(model.target_scale_, [y.std()])
    assert model.score(X, y) > 0.8
    raw = model._predict_raw(X)[:, 0]
    assert_allclose(model.predict(X), raw * y.std() + y.mean(), rtol=1e-6)
    constant = _fit(TabularRegressor(max_iter=3, random_state=0), X, np.full(len(y), 7.0))
    assert_array_equal(constant.target_scale_, [1.0])
    assert_allclose(constant.predict(X), constant._predict_raw(X)[:, 0] + 7.0, rtol=1e-6)


def test_auto_epochs_follow_the_step_budget():
    assert auto_max_iter(1000, 256) == AUTO_MAX_EPOCHS
    assert auto_max_iter(100_000, 256) == max(AUTO_MIN_EPOCHS, 20_000 // 391)
    assert auto_max_iter(50_000, 256) == 20_000 // 196
    X, y = _classification(n=300)
    model = _fit(TabularClassifier(max_iter="auto", random_state=0, n_iter_no_change=1000), X, y)
    # 300 rows, 240 after the validation split: one batch an epoch, the most epochs.
    assert model.n_iter_ == AUTO_MAX_EPOCHS


@pytest.mark.parametrize("n_rows, expected", [(EARLY_STOPPING_MIN_ROWS - 1, False),
                                              (EARLY_STOPPING_MIN_ROWS, True)])  # fmt: skip
def test_auto_early_stopping_follows_the_table_size(n_rows, expected):
    X, y = _classification(n=n_rows)
    model = _fit(TabularClassifier(max_iter=5, random_state=0), X, y)
    assert (model.validation_scores_ is not None) == expected
    assert (model.best_loss_ is None) == expected


def test_auto_early_stopping_with_given_validation_data_and_partial_fit():
    X, y = _classification(n=120)
    X_val, y_val = _classification(n=60, seed=1)
    model = _fit(TabularClassifier(max_iter=5, random_state=0), X, y, X_val=X_val, y_val=y_val)
    assert len(model.validation_scores_) == model.n_iter_
    incremental = TabularClassifier(random_state=0)
    big_X, big_y = _classification(n=400)
    incremental.partial_fit(big_X, big_y, classes=["high", "low"])
    assert incremental.validation_scores_ is None
    with pytest.raises(ValueError, match="partial_fit does not support early_stopping=True"):
        TabularClassifier(early_stopping=True).partial_fit(big_X, big_y, classes=["high", "low"])


def test_a_class_with_one_row_turns_auto_early_stopping_off():
    X, y = _classification(n=300)
    y = y.astype(object)
    y[0] = "lonely"
    model = _fit(TabularClassifier(max_iter=3, random_state=0), X, y)
    assert model.validation_scores_ is None


@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_persistence_round_trip_predicts_the_same(fitted_classifier, how, tmp_path):
    model, X, _ = fitted_classifier
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(model))
    else:
        skops_io = pytest.importorskip("skops.io")
        path = tmp_path / "model.skops"
        skops_io.dump(model, path)
        loaded = skops_io.load(path, trusted=skops_io.get_untrusted_types(file=path))
    assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    # And it trains on: warm_start continues with the same encoder.
    loaded.set_params(warm_start=True, max_iter=2)
    _fit(loaded, X, fitted_classifier[2])
    assert loaded._encoder.kinds_ == model._encoder.kinds_


def test_categorical_features_by_name_index_and_mask():
    X, y = _classification()
    numeric_city = X.assign(city=X["city"].str.slice(4).astype("Float64"))
    by_name = _fit(TabularClassifier(categorical_features=["color", "city", "note", "flag"],
                                     max_iter=2, random_state=0), numeric_city, y)  # fmt: skip
    by_index = _fit(TabularClassifier(categorical_features=[2, 3, 4, 5], max_iter=2,
                                      random_state=0), numeric_city, y)  # fmt: skip
    mask = [False, False, True, True, True, True]
    by_mask = _fit(TabularClassifier(categorical_features=mask, max_iter=2, random_state=0),
                   numeric_city, y)  # fmt: skip
    for model in (by_name, by_index, by_mask):
        assert model._encoder.kinds_[3] == "embedded"  # numbers, categorical by name
    assert_array_equal(by_name.predict_proba(numeric_city), by_index.predict_proba(numeric_city))
    assert_array_equal(by_name.predict_proba(numeric_city), by_mask.predict_proba(numeric_city))


def test_validation_data_class_weight_and_callbacks_work_as_in_bp(fitted_classifier):
    import io

    from bpnet.callbacks import ProgressText

    _, X, y = fitted_classifier
    X_val, y_val = _classification(n=80, seed=3)
    log = io.StringIO()
    model = TabularClassifier(max_iter=4, random_state=0, class_weight="balanced")
    model.set_callbacks(ProgressText(file=log))
    _fit(model, X, y, X_val=X_val, y_val=y_val)
    assert len(model.validation_loss_curve_) == model.n_iter_ == 4
    assert len(log.getvalue().splitlines()) >= 4


def test_feature_names_are_checked_as_scikit_learn_does(fitted_classifier):
    model, X, _ = fitted_classifier
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        model.predict(X.rename(columns={"size": "width"}))
    with (
        pytest.warns(UserWarning, match="X does not have valid feature names"),
        pytest.raises(ValueError, match="X has 5 features, but TabularClassifier is expecting 6"),
    ):
        model.predict(X.iloc[:, :5].to_numpy())


# --- label smoothing and the temperature ------------------------------------------------


def _reference_log_loss(logits, Y, weights, softmax):
    """NumPy reference: the weighted mean log-loss of softmax(logits) or of a logistic
    unit per column, written out from the probabilities."""
    if softmax:
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        p = e / e.sum(axis=1, keepdims=True)
        rows = -(Y * np.log(p)).sum(axis=1)
    else:
        p = 1 / (1 + np.exp(-logits))
        rows = -(Y * np.log(p) + (1 - Y) * np.log(1 - p)).sum(axis=1)
    return np.average(rows, weights=weights)


@pytest.mark.parametrize("softmax", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_temperature_minimises_the_log_loss_within_its_bounds(softmax, weighted):
    rng = np.random.RandomState(0)
    n, k = 200, 3 if softmax else 1
    logits = 3 * rng.randn(n, k)
    # Targets drawn from the outputs at temperature 2: the best temperature is inside the
    # bounds, near 2.
    if softmax:
        p = np.exp(logits / 2) / np.exp(logits / 2).sum(axis=1, keepdims=True)
        Y = np.eye(k)[[rng.choice(k, p=row) for row in p]]
    else:
        Y = (rng.rand(n, 1) < 1 / (1 + np.exp(-logits / 2))).astype(float)
    weights = rng.uniform(0.5, 2, n) if weighted else None
    temperature = fit_temperature(logits, Y, weights, softmax=softmax)
    low, high = TEMPERATURE_BOUNDS
    assert low <= temperature <= high
    # No temperature on a fine grid over the bounds does better (to the search's tolerance).
    grid = np.exp(np.linspace(np.log(low), np.log(high), 2001))
    losses = [_reference_log_loss(logits / t, Y, weights, softmax) for t in grid]
    found = _reference_log_loss(logits / temperature, Y, weights, softmax)
    assert found <= min(losses) + 1e-9
    assert abs(np.log(temperature) - np.log(grid[np.argmin(losses)])) < 2e-3
    # Rows the outputs separate perfectly would drive it to 0: it stops at the bound.
    separated = np.where(Y > 0.5, 0.5, -0.5)
    assert fit_temperature(separated, Y, weights, softmax=softmax) == pytest.approx(low, rel=1e-4)


@pytest.mark.parametrize("n_classes", [2, 3])
def test_label_smoothing_ends_with_the_temperature_of_the_validation_rows(n_classes):
    X, score = _table(400)
    y = np.digitize(score, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    X_val, score_val = _table(200, seed=1)
    y_val = np.digitize(score_val, np.quantile(score, np.linspace(0, 1, n_classes + 1)[1:-1]))
    model = _fit(TabularClassifier(random_state=0, max_iter=40), X, y, X_val=X_val, y_val=y_val)
    assert model.label_smoothing == 0.1 and model.temperature_ != 1.0
    proba = model.predict_proba(X_val)
    # The same network without the division: the output layer multiplied back.
    unscaled = pickle.loads(pickle.dumps(model))
    unscaled.coefs_[-1] *= np.float32(model.temperature_)
    unscaled.intercepts_[-1] *= np.float32(model.temperature_)
    raw = unscaled.predict_proba(X_val)
    # Only the sureness changes: the classes are the same, and the probabilities are those
    # of the unscaled outputs divided by the temperature.
    assert_array_equal(model.predict(X_val), unscaled.predict(X_val))
    if n_classes == 2:
        logits = np.log(raw[:, 1]) - np.log(raw[:, 0])
        expected = 1 / (1 + np.exp(-logits / model.temperature_))
        assert_allclose(proba[:, 1], expected, rtol=1e-5, atol=1e-7)
    else:
        z = np.log(raw) / model.temperature_
        expected = np.exp(z - z.max(axis=1, keepdims=True))
        assert_allclose(proba, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)
    # The validation rows' log-loss is the lowest any temperature in the bounds gives.
    Y_val = np.eye(n_classes)[np.searchsorted(model.classes_, y_val)]
    assert _reference_log_loss(np.log(proba), Y_val, None, True) <= _reference_log_loss(
        np.log(raw), Y_val, None, True
    )


def test_no_temperature_without_smoothing_or_validation_rows():
    X, y = _classification(400)
    plain = _fit(TabularClassifier(label_smoothing=0.0, random_state=0, max_iter=20), X, y)
    assert plain.temperature_ == 1.0
    # partial_fit has no validation rows; a later fit finds one again.
    model = TabularClassifier(random_state=0, max_iter=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.partial_fit(X, y, classes=np.unique(y))
    assert model.temperature_ == 1.0
    small = _fit(TabularClassifier(random_state=0, max_iter=20), *_classification(100))
    assert not small._early_stopping() and small.temperature_ == 1.0
    assert _fit(model, X, y).temperature_ != 1.0
