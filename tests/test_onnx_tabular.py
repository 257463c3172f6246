"""ONNX export of TabularClassifier and TabularRegressor: onnxruntime's outputs equal the
estimators' predictions on frames with numeric, missing, integer, bool, text and category
columns, one-hot and embedded, with unseen levels and missing values at predict time.

Tolerances are tests/test_onnx.py's: labels identical, probabilities and values within
1e-5 relative in float32 and 1e-10 in float64 (probabilities also within the precision's
eps in absolute terms, values within the relative tolerance times their largest
magnitude).
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")
pd = pytest.importorskip("pandas")

from bpnet import HiddenFeatures, TabularClassifier, TabularRegressor  # noqa: E402
from bpnet.onnx import to_onnx  # noqa: E402

RTOL = {np.float32: 1e-5, np.float64: 1e-10}
EPS = {dtype: float(np.finfo(dtype).eps) for dtype in RTOL}
COLORS = ["red", "green", "blue"]
CITIES = [f"city{i:02d}" for i in range(12)]


def _table(n_rows, seed):
    """Every kind of column: float, float with NaN, int, bool, object text, pandas' str,
    a text category (embedded with max_one_hot=4) and an int category."""
    rng = np.random.RandomState(seed)
    spread = rng.randn(n_rows)
    holes = rng.randn(n_rows)
    holes[rng.rand(n_rows) < 0.2] = np.nan
    color = rng.choice(COLORS, n_rows).astype(object)
    color[rng.rand(n_rows) < 0.15] = None
    return pd.DataFrame(
        {
            "spread": spread,
            "holes": holes,
            "count": rng.randint(0, 40, n_rows),
            "flag": rng.rand(n_rows) > 0.5,
            "color": pd.Series(color, dtype=object),
            "size": pd.Series(rng.choice(["S", "M", "L"], n_rows), dtype="str"),
            "city": pd.Series(rng.choice(CITIES, n_rows), dtype="category"),
            "grade": pd.Series(rng.choice([1, 2, 3, 4, 5, 6], n_rows), dtype="category"),
        }
    )


def _new_rows(n_rows=40):
    """Rows to predict on: unseen levels and missing values in every categorical column
    that can hold them, NaN in both float columns."""
    X = _table(n_rows, seed=7)
    X.loc[0:3, "spread"] = np.nan
    X.loc[4:7, "holes"] = np.nan
    X["color"] = X["color"].astype(object)
    X.loc[8:9, "color"] = "purple"
    X.loc[10:11, "color"] = None
    X["size"] = X["size"].astype(object)
    X.loc[12:13, "size"] = "XL"
    X.loc[14:15, "size"] = None
    X["city"] = X["city"].astype(object)
    X.loc[16:17, "city"] = "atlantis"
    X.loc[18:19, "city"] = None
    X["size"] = X["size"].astype("str")
    return X


def _target(X, kind):
    score = np.nan_to_num(X["spread"].to_numpy()) + (X["color"] == "red").to_numpy()
    score += X["city"].astype(str).isin(CITIES[:5]).to_numpy()
    if kind == "regression":
        return 3.0 * score + 10.0
    if kind == "binary":
        return np.where(score > 0.5, "yes", "no")
    return np.digitize(score, [0.0, 1.0])


def _fit(Estimator, X, y, **params):
    params = {
        "hidden_layer_sizes": (16,),
        "max_iter": 5,
        "max_one_hot": 4,
        "early_stopping": False,
        "random_state": 0,
        **params,
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Estimator(**params).fit(X, y)


def _feed(session, X):
    """onnxruntime's inputs for frame X: one (n, 1) array per column, text with missing
    values as "", categories as their categories' values."""
    feed = {}
    for name, model_input in zip(X.columns, session.get_inputs(), strict=True):
        column = X[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(column.dtype.categories.dtype)
        if model_input.type == "tensor(string)":
            values = np.asarray(column.astype(object).where(column.notna(), ""), dtype=str)
        else:
            values = column.to_numpy()
        feed[model_input.name] = values.reshape(-1, 1)
    return feed


def _session(onx):
    return ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(onx, X):
    session = _session(onx)
    feed = _feed(session, X) if isinstance(X, pd.DataFrame) else {"X": X}
    return session.run(None, feed)


def _assert_classifier_matches(onx, clf, X, dtype):
    labels, probabilities = _run(onx, X)
    assert_array_equal(labels, clf.predict(X))
    assert probabilities.dtype == dtype
    expected = clf.predict_proba(X)
    assert_allclose(probabilities, expected, rtol=RTOL[dtype], atol=EPS[dtype])


def _assert_regressor_matches(onx, reg, X, dtype):
    (values,) = _run(onx, X)
    assert values.dtype == dtype
    expected = reg.predict(X).reshape(len(X), -1)
    rtol = RTOL[dtype]
    assert_allclose(values, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_classifier_on_every_column_kind(kind, dtype):
    X = _table(150, seed=0)
    clf = _fit(TabularClassifier, X, _target(X, kind), dtype=dtype.__name__)
    # The table covers every encoding: one-hot and embedded, with and without missing.
    assert set(clf._encoder.kinds_) == {"numeric", "onehot", "embedded"}
    assert clf._encoder.nan_indicator_columns_.size == 1
    assert clf._encoder.category_missing_seen_.any()
    onx = to_onnx(clf, X, zipmap=False)
    _assert_classifier_matches(onx, clf, X, dtype)
    _assert_classifier_matches(onx, clf, _new_rows(), dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_regressor_on_every_column_kind(dtype):
    X = _table(150, seed=1)
    reg = _fit(TabularRegressor, X, _target(X, "regression"), dtype=dtype.__name__)
    onx = to_onnx(reg, X)
    _assert_regressor_matches(onx, reg, X, dtype)
    _assert_regressor_matches(onx, reg, _new_rows(), dtype)


def test_two_regression_targets():
    X = _table(120, seed=2)
    y = _target(X, "regression")
    Y = np.column_stack([y, -2.0 * y + 1.0])
    reg = _fit(TabularRegressor, X, Y)
    _assert_regressor_matches(to_onnx(reg, X), reg, _new_rows(), np.float32)


def test_missing_values_at_predict_only():
    """A column with no missing value at fit: a missing one is unseen (zeros, or the
    embedding's unseen row), and NaN in a numeric column without indicator is 0."""
    X = _table(120, seed=3)
    X["color"] = X["color"].fillna("red")
    X["holes"] = X["holes"].fillna(0.5)
    clf = _fit(TabularClassifier, X, _target(X, "multiclass"))
    assert not clf._encoder.category_missing_seen_.any()
    assert clf._encoder.nan_indicator_columns_.size == 0
    _assert_classifier_matches(to_onnx(clf, X, zipmap=False), clf, _new_rows(), np.float32)


def test_all_columns_embedded():
    X = _table(120, seed=4)[["city"]]
    clf = _fit(TabularClassifier, X, _target(_table(120, seed=4), "binary"))
    assert clf._encoder.kinds_ == ["embedded"]
    _assert_classifier_matches(
        to_onnx(clf, X, zipmap=False), clf, _new_rows()[["city"]], np.float32
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numeric_array_with_categorical_indices(dtype):
    """An array is one input of every column, in its own precision; a float column
    named categorical takes NaN as its missing value, one-hot or embedded."""
    rng = np.random.RandomState(5)
    X = np.column_stack(
        [rng.randn(150), rng.randint(0, 3, 150), rng.randint(0, 10, 150) * 0.5]
    ).astype(dtype)
    X[::9, 1] = np.nan
    X[::11, 2] = np.nan
    X[::13, 0] = np.nan
    y = (X[:, 0] > 0) ^ (X[:, 1] == 1)
    clf = _fit(TabularClassifier, X, y, categorical_features=[1, 2], dtype=dtype.__name__)
    assert clf._encoder.kinds_ == ["numeric", "onehot", "embedded"]
    onx = to_onnx(clf, X[:1], zipmap=False)
    X_new = X.copy()
    X_new[:5, 1] = 7.0  # unseen levels
    X_new[5:10, 2] = 0.25
    X_new[10:15, 1:] = np.nan
    _assert_classifier_matches(onx, clf, X_new, dtype)


def test_categorical_column_missing_everywhere_at_fit():
    """No level at all: every value is missing at fit, then missing or unseen."""
    rng = np.random.RandomState(15)
    X = np.column_stack([rng.randn(80), np.full(80, np.nan)])
    clf = _fit(TabularClassifier, X, X[:, 0] > 0, categorical_features=[1], dtype="float64")
    assert len(clf._encoder.categories_[0]) == 0
    X_new = X.copy()
    X_new[::2, 1] = 3.0
    _assert_classifier_matches(to_onnx(clf, X[:1], zipmap=False), clf, X_new, np.float64)


@pytest.mark.parametrize("layer", [0, -1])
def test_hidden_features_of_a_tabular_network(layer):
    X = _table(120, seed=16)
    network = TabularClassifier(hidden_layer_sizes=(16, 8), max_iter=5, max_one_hot=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        features = HiddenFeatures(network, layer=layer).fit(X, _target(X, "binary"))
    (values,) = _run(to_onnx(features, X), _new_rows())
    expected = features.transform(_new_rows())
    assert values.dtype == np.float32
    assert_allclose(values, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_float_category_column_takes_doubles():
    X = _table(120, seed=6)[["spread"]]
    X["level"] = pd.Series(np.random.RandomState(6).choice([0.5, 1.5, 2.5], 120)).astype("category")
    clf = _fit(TabularClassifier, X, X["spread"] > 0)
    onx = to_onnx(clf, X, zipmap=False)
    assert _session(onx).get_inputs()[1].type == "tensor(double)"
    X_new = X.copy()
    X_new["level"] = X_new["level"].cat.add_categories([9.5])
    X_new.loc[:4, "level"] = 9.5
    X_new.loc[5:9, "level"] = np.nan
    _assert_classifier_matches(onx, clf, X_new, np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_zipmap_and_skl2onnx_to_onnx(dtype):
    # ZipMap takes float tensors: its probabilities are float32 in a double graph too.
    X = _table(120, seed=8)
    clf = _fit(TabularClassifier, X, _target(X, "binary"), dtype=dtype.__name__)
    onx = skl2onnx.to_onnx(clf, X)
    labels, dicts = _run(onx, X)
    assert_array_equal(labels, clf.predict(X))
    probabilities = np.array([[row[label] for label in clf.classes_] for row in dicts])
    assert_allclose(probabilities, clf.predict_proba(X), rtol=1e-5, atol=EPS[np.float32])


def test_pipeline():
    rng = np.random.RandomState(9)
    X = rng.randn(120, 3) * [1.0, 10.0, 100.0]
    y = X[:, 0] - X[:, 1] / 10
    regressor = TabularRegressor(hidden_layer_sizes=(8,), max_iter=5, dtype="float64")
    pipe = make_pipeline(StandardScaler(), regressor)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipe.fit(X, y)
    _assert_regressor_matches(to_onnx(pipe, X[:1]), pipe, X, np.float64)
    frame = _table(120, seed=9)
    pipe = make_pipeline(_fit(TabularClassifier, frame, _target(frame, "multiclass")))
    _assert_classifier_matches(to_onnx(pipe, frame, zipmap=False), pipe, _new_rows(), np.float32)


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", [TabularClassifier, TabularRegressor])
def test_unfitted_is_refused(Estimator):
    with pytest.raises(NotFittedError):
        to_onnx(Estimator(), _table(5, seed=0))


def test_wrong_number_of_columns_is_refused():
    X = _table(60, seed=10)
    reg = _fit(TabularRegressor, X, _target(X, "regression"))
    with pytest.raises(ValueError, match="has 7 columns, but it was fitted on 8 features"):
        to_onnx(reg, X.drop(columns="flag"))
    array_model = _fit(TabularRegressor, X[["spread", "holes"]].to_numpy(), X["spread"])
    with pytest.raises(ValueError, match="has 3 columns, but it was fitted on 2 features"):
        to_onnx(array_model, np.zeros((1, 3)))


def test_renamed_or_reordered_columns_are_refused():
    X = _table(60, seed=11)
    reg = _fit(TabularRegressor, X, _target(X, "regression"))
    with pytest.raises(ValueError, match=r"unseen at fit: \['hue'\].*missing: \['color'\]"):
        to_onnx(reg, X.rename(columns={"color": "hue"}))
    with pytest.raises(ValueError, match="another order"):
        to_onnx(reg, X[X.columns[::-1]])


def test_column_without_onnx_type_is_named():
    X = _table(60, seed=12)[["spread"]]
    reg = _fit(TabularRegressor, X, X["spread"])
    sample = pd.DataFrame({"spread": pd.to_datetime(["2020-01-01"])})
    with pytest.raises(ValueError, match="Column 'spread' of X_sample has dtype datetime64"):
        to_onnx(reg, sample)


def test_text_levels_given_as_numbers_are_refused():
    X = _table(60, seed=13)[["spread", "size"]]
    reg = _fit(TabularRegressor, X, X["spread"])
    with pytest.raises(ValueError, match="Column 'size' had text levels at fit"):
        to_onnx(reg, X.assign(size=1.0))


def test_polars_frame():
    pl = pytest.importorskip("polars")
    X = _table(120, seed=14)
    y = _target(X, "multiclass")
    frame = pl.DataFrame(
        {
            "spread": X["spread"].to_numpy(),
            "holes": pl.Series(X["holes"].to_numpy(), nan_to_null=True),
            "count": X["count"].to_numpy(),
            "flag": X["flag"].to_numpy(),
            "color": pl.Series(X["color"].tolist(), dtype=pl.String),
            "city": pl.Series(X["city"].astype(str).tolist(), dtype=pl.Categorical),
        }
    )
    clf = _fit(TabularClassifier, frame, y)
    assert clf._encoder.kinds_ == ["numeric"] * 3 + ["onehot"] * 2 + ["embedded"]
    session = _session(to_onnx(clf, frame, zipmap=False))
    assert [node.type for node in session.get_inputs()] == [
        "tensor(double)",
        "tensor(double)",
        "tensor(int64)",
        "tensor(bool)",
        "tensor(string)",
        "tensor(string)",
    ]
    rows = frame.with_columns(
        pl.when(pl.int_range(pl.len()) < 5)
        .then(pl.lit("atlantis"))
        .otherwise(pl.col("city").cast(pl.String))
        .alias("city")
    )
    feed = {
        name: (
            rows[name].fill_null("").to_numpy().astype(str)
            if rows[name].dtype in (pl.String, pl.Categorical)
            else rows[name].to_numpy()
        ).reshape(-1, 1)
        for name in rows.columns
    }
    labels, probabilities = session.run(None, feed)
    assert_array_equal(labels, clf.predict(rows))
    assert_allclose(probabilities, clf.predict_proba(rows), rtol=1e-5, atol=EPS[np.float32])


def test_fractional_levels_given_as_integers_are_refused():
    X = pd.DataFrame({"level": np.tile([0.5, 1.5, 2.0], 20), "spread": np.arange(60.0)})
    reg = _fit(TabularRegressor, X, X["spread"], categorical_features=["level"])
    with pytest.raises(ValueError, match="Column 'level' had levels that are not whole"):
        to_onnx(reg, X.assign(level=1))


def test_numbers_given_as_text_are_refused():
    X = _table(60, seed=17)[["spread", "size"]]
    reg = _fit(TabularRegressor, X, X["spread"])
    with pytest.raises(ValueError, match="Column 'spread' was numeric at fit"):
        to_onnx(reg, X.assign(spread="1.5"))
