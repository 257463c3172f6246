"""The Tabular estimators' column encoder (bpnet._table.TableEncoder).

Expected values are computed here with plain NumPy, apart from the module's helpers:
scaling and smooth clipping, one-hot layout, embedding codes with their reserved rows,
missing values in every column kind, every form of ``categorical_features``, pandas,
polars, NumPy object arrays and lists, persistence, untouched input and every error.
"""

import copy
import datetime
import pickle
import sys

import numpy as np
import pandas as pd
import polars
import pyarrow
import pytest
import skops.io as sio
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError

from bpnet._table import TableEncoder, robust_scale_params, smooth_clip


def _reference_scaling(train, test):
    """RealMLP's robust scaling with smooth clipping, written out with np.percentile."""
    kept = train[~np.isnan(train)]
    low, middle, high = np.percentile(kept, [25, 50, 75])
    if high > low:
        factor = 1.0 / (high - low)
    elif kept.max() > kept.min():
        factor = 2.0 / (kept.max() - kept.min())
    else:
        factor = 0.0
    z = (test - middle) * factor
    z = z / np.sqrt(1.0 + z * z / 9.0)
    return np.where(np.isnan(test), 0.0, z)


def _mixed_frame():
    return pd.DataFrame(
        {
            "age": [30.0, np.nan, 50.0, 41.0, 25.0, 60.0],
            "color": pd.Series(["red", "blue", None, "red", "green", "blue"], dtype=object),
            "city": pd.Categorical(["b", "a", "c", "d", "e", "f"]),
            "income": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
        }
    )


# -- the helpers ---------------------------------------------------------------------


def test_smooth_clip_matches_formula_and_saturates():
    x = np.array([-1e300, -1e6, -7.0, -3.0, -0.5, 0.0, 0.25, 3.0, 12.0, 1e200, np.inf])
    finite = np.abs(x) < 1e100
    expected = x[finite] / np.sqrt(1.0 + (x[finite] / 3.0) ** 2)
    assert_array_equal(smooth_clip(x)[finite], expected)
    # Where (x / 3) ** 2 would overflow, the clip is the bound itself.
    assert_array_equal(smooth_clip(x)[~finite], np.sign(x[~finite]) * 3.0)
    assert np.isnan(smooth_clip(np.nan))
    assert np.all(np.abs(smooth_clip(np.linspace(-1e9, 1e9, 101))) <= 3.0)


def test_robust_scale_params_cases():
    values = np.array([4.0, 1.0, np.nan, 9.0, 16.0, 25.0])
    median, scale = robust_scale_params(values)
    kept = np.array([1.0, 4.0, 9.0, 16.0, 25.0])
    assert median == np.percentile(kept, 50)
    assert scale == 1.0 / (np.percentile(kept, 75) - np.percentile(kept, 25))
    # Interquartile range 0, range 4: 2 / (max - min).
    assert robust_scale_params([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 5.0]) == (1.0, 0.5)
    assert robust_scale_params([7.0, 7.0, np.nan]) == (7.0, 0.0)
    assert robust_scale_params([np.nan, np.nan]) == (0.0, 0.0)
    # A spread whose inverse overflows counts as zero: the range rule, then 0.
    assert robust_scale_params([0.0, 0.0, 0.0, 5e-324]) == (0.0, 0.0)
    with pytest.raises(ValueError, match=r"values must be 1-D, got an array of shape \(2, 2\)"):
        robust_scale_params(np.ones((2, 2)))


# -- numeric columns -----------------------------------------------------------------


def test_numeric_columns_match_reference():
    rng = np.random.default_rng(0)
    train = rng.lognormal(size=(200, 3))
    train[rng.random(train.shape) < 0.1] = np.nan
    test = rng.lognormal(size=(50, 3)) * 3
    test[rng.random(test.shape) < 0.1] = np.nan
    encoder = TableEncoder().fit(train)
    dense, codes = encoder.transform(test)
    assert encoder.kinds_ == ["numeric"] * 3
    for j in range(3):
        assert_allclose(dense[:, j], _reference_scaling(train[:, j], test[:, j]), rtol=1e-14)
    assert_array_equal(dense[:, 3:], np.isnan(test).astype(float))
    assert_array_equal(encoder.nan_indicator_columns_, [0, 1, 2])
    assert codes.shape == (50, 0)


def test_iqr_zero_and_constant_columns():
    X = np.array([[1.0, 4.0, 1.0], [1.0, 4.0, 2.0], [1.0, 4.0, 3.0], [1.0, 4.0, 4.0]])
    X[:, 0] = [0.0, 0.0, 0.0, 10.0]  # quartiles 0 and 2.5: IQR rule
    X = np.vstack([X, [[0.0, 4.0, 5.0]] * 3])
    X[:, 0] = [0, 0, 0, 0, 0, 0, 8.0]  # quartiles both 0: range rule
    encoder = TableEncoder()
    dense, _ = encoder.fit_transform(X)
    assert_allclose(encoder.medians_, [0.0, 4.0, np.median(X[:, 2])])
    assert_allclose(encoder.scales_[:2], [2.0 / 8.0, 0.0])
    for j in range(3):
        assert_allclose(dense[:, j], _reference_scaling(X[:, j], X[:, j]), rtol=1e-14)
    assert_array_equal(dense[:, 1], 0.0)  # the constant column
    assert encoder.n_dense_ == 3


def test_nan_indicator_only_for_columns_with_nan_at_fit():
    train = np.array([[1.0, 1.0], [np.nan, 2.0], [3.0, 3.0]])
    encoder = TableEncoder().fit(train)
    assert_array_equal(encoder.nan_indicator_columns_, [0])
    assert_array_equal(encoder.dense_feature_names_, ["x0", "x1", "x0_missing"])
    dense, _ = encoder.transform(np.array([[np.nan, np.nan], [2.0, 2.0]]))
    # Column 1 had no NaN at fit: a NaN there just becomes 0, with no indicator.
    assert_array_equal(dense, [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])


def test_overflow_past_float_range_becomes_zero():
    encoder = TableEncoder().fit(np.array([[1e308], [1e308]]))
    # x - median overflows to -inf, times the constant column's scale 0: NaN, then 0.
    dense, _ = encoder.transform(np.array([[-1e308], [1e308]]))
    assert_array_equal(dense, [[0.0], [0.0]])


def test_infinity_is_an_error_naming_the_column():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": [np.inf, 1.0]})
    with pytest.raises(ValueError, match="Input X contains infinity in column 'b'"):
        TableEncoder().fit(frame)
    encoder = TableEncoder().fit(np.array([[1.0, 2.0], [3.0, 4.0]]))
    with pytest.raises(ValueError, match="Input X contains infinity in column 1"):
        encoder.transform(np.array([[1.0, -np.inf]]))


# -- categorical columns -------------------------------------------------------------


def test_dense_layout_order_and_onehot_values():
    frame = _mixed_frame()
    encoder = TableEncoder(max_one_hot=4)
    dense, codes = encoder.fit_transform(frame)
    assert encoder.kinds_ == ["numeric", "onehot", "embedded", "numeric"]
    assert_array_equal(encoder.numeric_columns_, [0, 3])
    assert_array_equal(encoder.onehot_columns_, [1])
    assert_array_equal(encoder.embedded_columns_, [2])
    assert_array_equal(encoder.categorical_columns_, [1, 2])
    expected_names = [
        "age", "income", "age_missing", "color_blue", "color_green", "color_red",
        "color_missing",
    ]  # fmt: skip
    assert_array_equal(encoder.dense_feature_names_, expected_names)
    assert_array_equal(encoder.embedded_feature_names_, ["city"])
    assert encoder.n_dense_ == 7 and encoder.n_embedded_ == 1
    age = frame["age"].to_numpy()
    assert_allclose(dense[:, 0], _reference_scaling(age, age), rtol=1e-14)
    assert_array_equal(dense[:, 2], np.isnan(age))
    colors = ["red", "blue", None, "red", "green", "blue"]
    expected_onehot = np.array(
        [[c == "blue", c == "green", c == "red", c is None] for c in colors], dtype=float
    )
    assert_array_equal(dense[:, 3:], expected_onehot)
    assert_array_equal(codes[:, 0], [3, 2, 4, 5, 6, 7])  # levels a..f from row 2
    assert dense.dtype == np.float64 and dense.flags.c_contiguous
    assert codes.dtype == np.int32 and codes.flags.c_contiguous


def test_embedding_codes_reserved_rows_and_unseen_levels():
    levels = [f"k{i:02d}" for i in range(12)]
    train = pd.DataFrame(
        {
            "with_missing": levels + [None],
            "without_missing": levels + ["k00"],
        }
    )
    encoder = TableEncoder(max_one_hot=8).fit(train)
    assert encoder.kinds_ == ["embedded", "embedded"]
    assert_array_equal(encoder.embedding_sizes_, [14, 14])
    assert_array_equal(encoder.category_missing_seen_, [True, False])
    test = pd.DataFrame(
        {
            "with_missing": ["k03", "never", None, "k11"],
            "without_missing": ["k03", "never", None, "k11"],
        }
    )
    dense, codes = encoder.transform(test)
    assert dense.shape == (4, 0)
    # Levels from row 2; unseen row 0; missing row 1, or 0 if none was seen at fit.
    assert_array_equal(codes, [[5, 5], [0, 0], [1, 0], [13, 13]])


def test_unseen_levels_give_zero_onehot_groups():
    train = pd.DataFrame({"c": pd.Series(["x", "y", "x"], dtype=object), "n": [1.0, 2.0, 3.0]})
    encoder = TableEncoder().fit(train)
    test = pd.DataFrame({"c": pd.Series(["z", None, "y", 3], dtype=object), "n": [1.0] * 4})
    dense, _ = encoder.transform(test)
    assert_array_equal(dense[:, 1:], [[0, 0], [0, 0], [0, 1], [0, 0]])


def test_no_cap_on_levels():
    values = np.arange(5000).astype(str).astype(object)
    encoder = TableEncoder().fit(values[:, None])
    assert encoder.kinds_ == ["embedded"]
    assert_array_equal(encoder.embedding_sizes_, [5002])
    _, codes = encoder.transform(values[:, None])
    assert_array_equal(codes[:, 0], np.argsort(np.argsort(values)) + 2)


def test_max_one_hot_boundary_and_binary_columns():
    frame = pd.DataFrame({"c": list("abcdefgh"), "b": [True, False] * 4})
    encoder = TableEncoder(max_one_hot=8).fit(frame)
    assert encoder.kinds_ == ["onehot", "onehot"]
    assert_array_equal(encoder.dense_feature_names_[-2:], ["b_False", "b_True"])
    assert TableEncoder(max_one_hot=7).fit(frame).kinds_ == ["embedded", "onehot"]
    assert TableEncoder(max_one_hot=1).fit(frame).kinds_ == ["embedded", "embedded"]


def test_levels_are_sorted_and_mixed_kinds_sort_as_text():
    X = np.array([[10], ["b"], [2], ["a"], [None]], dtype=object)
    encoder = TableEncoder(categorical_features=[0]).fit(X)
    assert_array_equal(encoder.categories_[0], np.array([10, 2, "a", "b"], dtype=object))
    numbers = pd.DataFrame({"n": pd.Series([3, 1, 2, 1], dtype=object)})
    levels = TableEncoder().fit(numbers).categories_[0]
    assert_array_equal(levels, [1, 2, 3])
    assert levels.dtype.kind == "i"
    # 1, 1.0 and True are one level, as in a Python dict.
    merged = pd.DataFrame({"n": pd.Series([1, 1.0, True, 2], dtype=object)})
    assert len(TableEncoder().fit(merged).categories_[0]) == 2


def test_category_levels_are_observed_values_only():
    frame = pd.DataFrame({"c": pd.Categorical(["b", "a"], categories=["z", "b", "a", "q"])})
    encoder = TableEncoder().fit(frame)
    assert_array_equal(encoder.categories_[0], ["a", "b"])
    # An unused category of the dtype is an unseen level at transform.
    dense, _ = encoder.transform(frame.assign(c=frame["c"].cat.set_categories(["q", "a", "b"])))
    assert_array_equal(dense, [[0, 1], [1, 0]])
    dense, _ = encoder.transform(pd.DataFrame({"c": pd.Categorical(["q"], categories=["q"])}))
    assert_array_equal(dense, [[0, 0]])


def test_numeric_column_named_categorical_is_categorical_by_value():
    X = np.array([[3.0, 0.5], [1.0, 0.1], [np.nan, 0.2], [3.0, 0.3]])
    encoder = TableEncoder(categorical_features=[0]).fit(X)
    assert encoder.kinds_ == ["onehot", "numeric"]
    assert_array_equal(encoder.categories_[0], [1.0, 3.0])
    dense, _ = encoder.transform(np.array([[3.0, 0.2], [2.0, 0.2], [np.nan, 0.2]]))
    assert_array_equal(dense[:, 1:], [[0, 1, 0], [0, 0, 0], [0, 0, 1]])
    frame = pd.DataFrame({"n": pd.array([2, 1, None], dtype="Int64")})
    levels = TableEncoder(categorical_features=["n"]).fit(frame).categories_[0]
    assert_array_equal(levels, [1, 2])
    assert levels.dtype.kind == "i"


# -- missing values in every column kind --------------------------------------------

MISSING_COLUMNS = {
    "float NaN": lambda: pd.Series([1.0, np.nan, 3.0, 2.0]),
    "Int64 NA": lambda: pd.Series(pd.array([1, None, 3, 2], dtype="Int64")),
    "Float64 NA": lambda: pd.Series(pd.array([1.0, None, 3.0, 2.0], dtype="Float64")),
    "object None": lambda: pd.Series(["u", None, "v", "u"], dtype=object),
    "object NaN": lambda: pd.Series(["u", np.nan, "v", "u"], dtype=object),
    "object pd.NA": lambda: pd.Series(["u", pd.NA, "v", "u"], dtype=object),
    "category NaN": lambda: pd.Series(pd.Categorical(["u", np.nan, "v", "u"])),
    "string NA": lambda: pd.Series(pd.array(["u", None, "v", "u"], dtype="string")),
    "str (pandas 3 default) NaN": lambda: pd.Series(["u", None, "v", "u"]),
    "boolean NA": lambda: pd.Series(pd.array([True, None, False, True], dtype="boolean")),
    "Arrow int NA": lambda: pd.Series([1, None, 3, 2], dtype=pd.ArrowDtype(pyarrow.int64())),
    "Arrow string NA": lambda: pd.Series(
        ["u", None, "v", "u"], dtype=pd.ArrowDtype(pyarrow.string())
    ),
    "Arrow dictionary NA": lambda: pd.Series(
        ["u", None, "v", "u"],
        dtype=pd.ArrowDtype(pyarrow.dictionary(pyarrow.int8(), pyarrow.string())),
    ),
    "Arrow bool NA": lambda: pd.Series(
        [True, None, False, True], dtype=pd.ArrowDtype(pyarrow.bool_())
    ),
}


@pytest.mark.parametrize("make", MISSING_COLUMNS.values(), ids=MISSING_COLUMNS.keys())
def test_missing_value_in_every_column_kind(make):
    column = make()
    frame = pd.DataFrame({"c": column})
    encoder = TableEncoder()
    dense, _ = encoder.fit_transform(frame)
    assert_array_equal(dense[:, -1], [0.0, 1.0, 0.0, 0.0])
    assert encoder.dense_feature_names_[-1] == "c_missing"
    if encoder.kinds_ == ["numeric"]:
        assert pd.api.types.is_numeric_dtype(column.dtype)
        assert dense[1, 0] == 0.0
        assert_array_equal(encoder.nan_indicator_columns_, [0])
    else:
        assert_array_equal(encoder.category_missing_seen_, [True])
        assert_array_equal(dense[1, :-1], 0.0)
        assert len(encoder.categories_[0]) == 2
    # Embedded, the missing value takes row 1.
    embedded = TableEncoder(categorical_features=[0], max_one_hot=1)
    _, codes = embedded.fit_transform(frame)
    assert codes[1, 0] == 1 and np.all(codes[[0, 2, 3], 0] >= 2)


def test_missing_values_without_pandas_loaded(monkeypatch):
    # Without pandas the encoder finds None and NaN itself (no pd.NA can exist then).
    X = np.array([["a", 1.0], [None, np.nan], [np.nan, 2.0], ["b", None]], dtype=object)
    expected = TableEncoder().fit_transform(X)[0]
    monkeypatch.setitem(sys.modules, "pandas", None)
    encoder = TableEncoder()
    got = encoder.fit_transform(X)[0]
    assert_array_equal(got, expected)
    assert_array_equal(
        encoder.dense_feature_names_, ["x1", "x1_missing", "x0_a", "x0_b", "x0_missing"]
    )
    assert_array_equal(got[:, -1], [0, 1, 1, 0])


def test_missing_value_kinds_in_one_object_array():
    X = np.array([["a"], [None], [np.nan], [pd.NA], [pd.NaT], ["b"]], dtype=object)
    encoder = TableEncoder().fit(X)
    assert_array_equal(encoder.categories_[0], ["a", "b"])
    dense, _ = encoder.transform(X)
    assert_array_equal(dense[:, 2], [0, 1, 1, 1, 1, 0])


# -- which columns are categorical ---------------------------------------------------


def _kinds_frame():
    return pd.DataFrame(
        {
            "f": [1.0, 2.0, 3.0],
            "i": [1, 2, 2],
            "o": pd.Series(["a", "b", "a"], dtype=object),
            "s": ["a", "b", "a"],  # pandas 3: the default "str" dtype
            "c": pd.Categorical(["x", "y", "x"]),
            "b": [True, False, True],
            "nb": pd.array([True, None, True], dtype="boolean"),
            "ns": pd.array(["a", "b", None], dtype="string"),
        }
    )


def test_from_dtype_in_pandas():
    frame = _kinds_frame()
    assert str(frame["s"].dtype) == "str"
    encoder = TableEncoder().fit(frame)
    assert encoder.kinds_ == ["numeric", "numeric"] + ["onehot"] * 6
    assert_array_equal(encoder.feature_names_in_, list(frame.columns))
    assert encoder.feature_names_in_.dtype == object


@pytest.mark.parametrize(
    "spec, kinds",
    [
        (None, ["numeric", "numeric"]),
        ("from_dtype", ["numeric", "numeric"]),
        ([1], ["numeric", "onehot"]),
        (np.array([1], dtype=np.uint8), ["numeric", "onehot"]),
        ([], ["numeric", "numeric"]),
        ([True, False], ["onehot", "numeric"]),
        (["b", "a"], ["onehot", "onehot"]),
        (np.array(["a"], dtype=object), ["onehot", "numeric"]),
    ],
)
def test_categorical_features_forms(spec, kinds):
    frame = pd.DataFrame({"a": [1.0, 2.0, 1.0], "b": [5, 6, 7]})
    assert TableEncoder(categorical_features=spec).fit(frame).kinds_ == kinds


def test_explicit_list_and_booleans_not_named():
    frame = _kinds_frame()[["f", "b", "nb", "c"]]
    # Booleans not named categorical are numbers (0 and 1).
    encoder = TableEncoder(categorical_features=["c"]).fit(frame)
    assert encoder.kinds_ == ["numeric", "numeric", "numeric", "onehot"]
    assert_array_equal(encoder.nan_indicator_columns_, [2])
    # So are a category of numbers and an object column of numbers.
    numbers = pd.DataFrame(
        {
            "c": pd.Categorical([10, 20, None, 10]),
            "o": pd.Series([1, 2.5, None, 4], dtype=object),
        }
    )
    encoder = TableEncoder(categorical_features=[])
    dense, _ = encoder.fit_transform(numbers)
    assert encoder.kinds_ == ["numeric", "numeric"]
    for j, column in enumerate([[10.0, 20.0, np.nan, 10.0], [1.0, 2.5, np.nan, 4.0]]):
        column = np.array(column)
        assert_allclose(dense[:, j], _reference_scaling(column, column), rtol=1e-14)
    assert_array_equal(dense[:, 2:], [[0, 0], [0, 0], [1, 1], [0, 0]])


def test_polars_frames_match_pandas():
    frame = pd.DataFrame(
        {
            "num": [1.5, None, 3.0, 4.0, 2.0],
            "int": pd.array([1, 2, None, 4, 4], dtype="Int64"),
            "text": ["a", None, "c", "a", "b"],
            "flag": pd.array([True, False, None, True, True], dtype="boolean"),
        }
    )
    pl_frame = polars.DataFrame(
        {
            "num": [1.5, None, 3.0, 4.0, 2.0],
            "int": [1, 2, None, 4, 4],
            "text": ["a", None, "c", "a", "b"],
            "flag": [True, False, None, True, True],
        }
    )
    expected = TableEncoder(max_one_hot=2).fit_transform(frame)
    encoder = TableEncoder(max_one_hot=2)
    got = encoder.fit_transform(pl_frame)
    assert encoder.kinds_ == ["numeric", "numeric", "embedded", "onehot"]
    assert_array_equal(got[0], expected[0])
    assert_array_equal(got[1], expected[1])
    assert_array_equal(encoder.feature_names_in_, ["num", "int", "text", "flag"])
    for kind in (polars.Categorical, polars.Enum(["c", "b", "a", "z"])):
        cast = pl_frame.with_columns(polars.col("text").cast(kind))
        encoder = TableEncoder(max_one_hot=2)
        got = encoder.fit_transform(cast)
        assert_array_equal(encoder.categories_[0], ["a", "b", "c"])  # observed, sorted
        assert_array_equal(got[1], expected[1])
    # A polars frame at transform after a pandas fit: same columns, same codes.
    encoder = TableEncoder(max_one_hot=2).fit(frame)
    assert_array_equal(encoder.transform(pl_frame)[1], expected[1])


def test_polars_unseen_missing_and_numeric_named_categorical():
    train = polars.DataFrame({"s": ["x", "y", "x"], "i": [3, 1, 3]})
    encoder = TableEncoder(categorical_features=["s", "i"]).fit(train)
    assert_array_equal(encoder.categories_[1], [1, 3])
    test = polars.DataFrame({"s": ["w", None, "y"], "i": [1, None, 2]})
    dense, _ = encoder.transform(test)
    assert_array_equal(dense, [[0, 0, 1, 0], [0, 0, 0, 0], [0, 1, 0, 0]])
    with pytest.raises(ValueError, match="column 'd' has dtype Date, which is neither"):
        TableEncoder().fit(polars.DataFrame({"d": [datetime.date(2020, 1, 1)]}))


def test_numpy_object_arrays_and_lists():
    X = np.array([[1.5, "a", True], [None, "b", False], [3, None, True]], dtype=object)
    encoder = TableEncoder()
    dense, _ = encoder.fit_transform(X)
    # Numbers in an object array make a numeric column; text and bools categorical.
    assert encoder.kinds_ == ["numeric", "onehot", "onehot"]
    assert not hasattr(encoder, "feature_names_in_")
    column = np.array([1.5, np.nan, 3.0])
    assert_allclose(dense[:, 0], _reference_scaling(column, column), rtol=1e-14)
    from_list = TableEncoder().fit_transform(
        [[1.5, "a", True], [None, "b", False], [3, None, True]]
    )
    assert_array_equal(from_list[0], dense)
    assert TableEncoder().fit(np.array([["a", "b"], ["c", "d"]])).kinds_ == ["onehot"] * 2
    assert TableEncoder().fit(np.array([[True, False]])).kinds_ == ["onehot"] * 2
    assert TableEncoder().fit([[1, 2], [3, 4]]).kinds_ == ["numeric"] * 2


def test_array_after_frame_fit_is_matched_by_position():
    frame = _mixed_frame()
    encoder = TableEncoder().fit(frame)
    expected = encoder.transform(frame)
    got = encoder.transform(frame.to_numpy(dtype=object))
    assert_array_equal(got[0], expected[0])
    assert_array_equal(got[1], expected[1])


def test_refit_forgets_feature_names():
    encoder = TableEncoder().fit(_mixed_frame())
    assert hasattr(encoder, "feature_names_in_")
    encoder.fit(np.ones((3, 4)))
    assert not hasattr(encoder, "feature_names_in_")
    assert_array_equal(encoder.dense_feature_names_, ["x0", "x1", "x2", "x3"])


def test_fit_transform_equals_fit_then_transform():
    frame = _mixed_frame()
    a = TableEncoder(max_one_hot=3).fit_transform(frame)
    b = TableEncoder(max_one_hot=3).fit(frame).transform(frame)
    assert_array_equal(a[0], b[0])
    assert_array_equal(a[1], b[1])


# -- persistence and untouched input -------------------------------------------------


def test_pickle_and_skops_round_trips_give_identical_transforms():
    frame = _mixed_frame()
    encoder = TableEncoder(max_one_hot=3).fit(frame)
    expected = encoder.transform(frame)
    data = sio.dumps(encoder)
    assert sio.get_untrusted_types(data=data) == ["bpnet._table.TableEncoder"]
    loaded = [
        pickle.loads(pickle.dumps(encoder)),
        sio.loads(data, trusted=["bpnet._table.TableEncoder"]),
    ]
    for copy_ in loaded:
        got = copy_.transform(frame)
        assert_array_equal(got[0], expected[0])
        assert_array_equal(got[1], expected[1])
        assert_array_equal(copy_.dense_feature_names_, encoder.dense_feature_names_)


def test_input_is_never_modified():
    frame = _mixed_frame()
    original = frame.copy(deep=True)
    X = frame.to_numpy(dtype=object)
    X_copy = X.copy()
    numbers = np.array([[1.0, np.nan], [2.0, 3.0]])
    numbers.setflags(write=False)  # a read-only array is read, not written
    pl_frame = polars.from_pandas(frame.astype({"city": str}))
    pl_original = pl_frame.clone()
    spec = ["color", "city"]
    TableEncoder(categorical_features=spec).fit_transform(frame)
    TableEncoder().fit(X).transform(X)
    TableEncoder().fit(numbers).transform(numbers)
    TableEncoder().fit_transform(pl_frame)
    pd.testing.assert_frame_equal(frame, original)
    assert_array_equal(X[:, 1:3], X_copy[:, 1:3])
    assert_array_equal(X[:, [0, 3]].astype(float), X_copy[:, [0, 3]].astype(float))
    assert pl_frame.equals(pl_original)
    assert spec == ["color", "city"]


# -- errors --------------------------------------------------------------------------

FRAME_ERRORS = {
    "float categorical_features": (
        {"categorical_features": [0.5]},
        "categorical_features must be an array-like of bool, int or str, got: float64.",
    ),
    "mixed categorical_features": (
        {"categorical_features": np.array([0, "a"], dtype=object)},
        "categorical_features must be an array-like of bool, int or str, got: int, str.",
    ),
    "unknown string": (
        {"categorical_features": "auto"},
        "categorical_features must be None, 'from_dtype' or an array-like of bool, int or "
        "str, got the string 'auto'",
    ),
    "2-D categorical_features": (
        {"categorical_features": [[0, 1]]},
        "categorical_features must be a 1-D array-like of bool, int or str, got 2 dimension",
    ),
    "unknown name": (
        {"categorical_features": ["nope"]},
        "categorical_features has an item value 'nope' which is not a valid feature name of "
        "the training data. Observed feature names: ['a', 'b']",
    ),
    "index too large": (
        {"categorical_features": [2]},
        "categorical_features set as integer indices must be in [0, n_features - 1], got "
        "[2] with n_features = 2.",
    ),
    "negative index": (
        {"categorical_features": [-1]},
        "categorical_features set as integer indices must be in [0, n_features - 1]",
    ),
    "mask of wrong length": (
        {"categorical_features": [True, False, True]},
        "categorical_features set as a boolean mask must have shape (n_features,), got: "
        "(3,), with n_features = 2.",
    ),
    "max_one_hot 0": ({"max_one_hot": 0}, "max_one_hot must be an integer >= 1, got 0."),
    "max_one_hot float": ({"max_one_hot": 2.0}, "max_one_hot must be an integer >= 1, got 2.0"),
    "max_one_hot bool": ({"max_one_hot": True}, "max_one_hot must be an integer >= 1, got True"),
    "text not named": (
        {"categorical_features": ["a"]},
        "column 'b' holds non-numeric values (str) and is not in categorical_features",
    ),
    "text with None": (
        {"categorical_features": None},
        "column 'b' holds non-numeric values (str) and is not in categorical_features",
    ),
}


@pytest.mark.parametrize("params, message", FRAME_ERRORS.values(), ids=FRAME_ERRORS.keys())
def test_invalid_parameters(params, message):
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    original = frame.copy()
    with pytest.raises(ValueError) as info:
        TableEncoder(**params).fit(frame)
    assert message in str(info.value)
    pd.testing.assert_frame_equal(frame, original)


def _object_column(items):
    column = np.empty((len(items), 1), dtype=object)
    for i, item in enumerate(items):
        column[i, 0] = item
    return column


X_ERRORS = {
    "1-D": (np.arange(3.0), ValueError, "Expected a 2-D X, got a 1-D array of shape (3,)"),
    "3-D": (np.ones((2, 2, 2)), ValueError, "got an array with 3 dimension(s)"),
    "scalar": (3.0, ValueError, "got an array with 0 dimension(s)"),
    "Series": (pd.Series([1.0, 2.0]), ValueError, "got a Series"),
    "polars Series": (polars.Series([1.0, 2.0]), ValueError, "got a Series"),
    "no rows": (np.ones((0, 3)), ValueError, "Found array with 0 sample(s) and 3 feature(s)"),
    "no columns": (pd.DataFrame(index=[0, 1]), ValueError, "0 feature(s)"),
    "sparse": (
        __import__("scipy.sparse").sparse.csr_matrix(np.eye(2)),
        TypeError,
        "Sparse input is not supported",
    ),
    "mixed column names": (
        pd.DataFrame({"a": [1.0], 0: [2.0]}),
        TypeError,
        "Feature names are only supported if all input features have string names",
    ),
    "datetime from dtype": (
        pd.DataFrame({"when": pd.to_datetime(["2020-01-01"])}),
        ValueError,
        "column 'when' has dtype datetime64[us], which is neither numeric nor categorical",
    ),
    "unhashable values": (
        _object_column([[1], [2]]),
        ValueError,
        "column 0 holds unhashable values",
    ),
}


@pytest.mark.parametrize("X, error, message", X_ERRORS.values(), ids=X_ERRORS.keys())
def test_invalid_X_at_fit(X, error, message):
    with pytest.raises(error) as info:
        TableEncoder().fit(X)
    assert message in str(info.value)


def test_unhashable_values_in_a_frame_and_at_transform():
    frame = pd.DataFrame({"l": pd.Series([[1], [2]], dtype=object)})
    with pytest.raises(ValueError, match="column 'l' holds unhashable values"):
        TableEncoder().fit(frame)
    encoder = TableEncoder(categorical_features=[0]).fit(np.array([[1.0], [2.0]]))
    with pytest.raises(ValueError, match="column 0 holds unhashable values"):
        encoder.transform(_object_column([[1]]))


def test_names_need_a_frame():
    with pytest.raises(ValueError, match="should be passed as an array of integers or as a"):
        TableEncoder(categorical_features=["a"]).fit(np.ones((2, 2)))


def test_transform_errors():
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"], "c": [3, 4]})
    encoder = TableEncoder().fit(frame)
    with pytest.raises(NotFittedError, match="This TableEncoder instance is not fitted yet"):
        TableEncoder().transform(frame)
    with pytest.raises(ValueError, match="X has 2 features, but TableEncoder is expecting 3"):
        encoder.transform(np.ones((2, 2)))
    renamed = frame.rename(columns={"c": "d"})
    with pytest.raises(ValueError) as info:
        encoder.transform(renamed)
    assert str(info.value) == (
        "The feature names should match those that were passed during fit.\n"
        "Feature names unseen at fit time: 'd'.\n"
        "Feature names seen at fit time, yet now missing: 'c'.\n"
    )
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        encoder.transform(frame[["b", "a", "c"]])
    text = frame.assign(a=["1.5", "2"])
    with pytest.raises(ValueError) as info:
        encoder.transform(text)
    assert "column 'a' was numeric at fit but now holds non-numeric values (str)" in str(info.value)
    with pytest.raises(ValueError, match="Input X contains infinity in column 'c'"):
        encoder.transform(frame.assign(c=[1.0, np.inf]))
    with pytest.raises(ValueError, match="Expected a 2-D X"):
        encoder.transform(np.ones(3))
    # The encoder is unchanged by the failures.
    assert_array_equal(encoder.transform(frame)[0], TableEncoder().fit_transform(frame)[0])


def test_copy_is_independent():
    encoder = TableEncoder().fit(_mixed_frame())
    clone = copy.deepcopy(encoder)
    clone.categories_[0][0] = "changed"
    assert encoder.categories_[0][0] == "blue"
