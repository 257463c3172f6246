"""What bpnet relies on inside scikit-learn, each pinned by a test that names the change.

Three fast paths depend on scikit-learn details that are not public API:

- ``bpnet._classes._fit_binarizer`` builds a fitted ``LabelBinarizer`` by setting its
  fitted attributes by hand, for plain labels;
- ``bpnet._base.BaseBP._get_param_names`` caches the private classmethod of
  ``BaseEstimator`` that ``get_params`` calls;
- ``bpnet._base.BaseBP._validate_fit_data`` skips ``validate_data`` for a fresh fit on
  plain finite float arrays, doing only what it records on a reset.

If a scikit-learn release changes one of them, the test here fails with a message that
says which fast path to update (or remove).
"""

import numpy as np
import pytest
from sklearn.base import BaseEstimator
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.validation import validate_data

from bpnet import BPClassifier, BPRegressor
from bpnet._classes import _binarize, _fit_binarizer


def _fitted_attributes(obj):
    return {name: value for name, value in vars(obj).items() if name.endswith("_")}


@pytest.mark.parametrize(
    "y",
    [
        np.array([0, 1, 1, 0]),
        np.array([2, 0, 1, 2, 1]),
        np.array(["b", "a", "c", "a"]),
        np.array([True, False, True]),
    ],
    ids=["binary", "multiclass", "strings", "booleans"],
)
def test_hand_fitted_label_binarizer_is_scikit_learns(y):
    ours, theirs = _fit_binarizer(y), LabelBinarizer().fit(y)
    ours_fitted, theirs_fitted = _fitted_attributes(ours), _fitted_attributes(theirs)
    assert set(ours_fitted) == set(theirs_fitted), (
        "scikit-learn's LabelBinarizer.fit now sets the fitted attributes "
        f"{sorted(theirs_fitted)}, bpnet._classes._fit_binarizer sets "
        f"{sorted(ours_fitted)}: update _fit_binarizer (or let it call fit)"
    )
    for name, value in theirs_fitted.items():
        got = ours_fitted[name]
        assert type(got) is type(value) and np.array_equal(got, value), (
            f"LabelBinarizer.{name} is {value!r} after scikit-learn's fit, {got!r} after "
            "bpnet._classes._fit_binarizer: update _fit_binarizer"
        )
    expected = theirs.transform(y).astype(np.float64)
    np.testing.assert_array_equal(_binarize(ours, y, np.float64), expected)
    np.testing.assert_array_equal(ours.inverse_transform(expected), y)


def test_parameter_names_come_from_the_private_classmethod_bpnet_caches():
    original = getattr(BaseEstimator, "_get_param_names", None)
    assert original is not None and isinstance(
        BaseEstimator.__dict__.get("_get_param_names"), classmethod
    ), (
        "scikit-learn's BaseEstimator no longer has the classmethod _get_param_names "
        "that bpnet._base.BaseBP._get_param_names caches: remove the cache"
    )
    for Estimator in (BPClassifier, BPRegressor):
        assert Estimator._get_param_names() == original.__func__(Estimator), (
            f"{Estimator.__name__}'s cached parameter names differ from scikit-learn's "
            "introspection: update bpnet._base.BaseBP._get_param_names"
        )
        assert sorted(Estimator().get_params()) == Estimator._get_param_names()


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_validate_data_records_only_what_the_fast_path_does(Estimator, dtype):
    """On a plain finite float X and numeric y, validate_data(reset=True) returns both
    unchanged and records n_features_in_ alone: what the fast path does instead."""
    rng = np.random.RandomState(0)
    X = rng.randn(20, 3).astype(dtype)
    y = rng.randint(2, size=20) if Estimator is BPClassifier else rng.randn(20)
    scikit_learn = Estimator()
    before = set(vars(scikit_learn))
    X_checked, y_checked = validate_data(
        scikit_learn, X, y, accept_sparse=["csr", "csc"], multi_output=True,
        dtype=(np.float64, np.float32), y_numeric=Estimator is BPRegressor, reset=True,
    )  # fmt: skip
    recorded = set(vars(scikit_learn)) - before
    assert recorded == {"n_features_in_"}, (
        f"validate_data(reset=True) now records {sorted(recorded)} on plain arrays; "
        "bpnet._base.BaseBP._validate_fit_data's fast path records only n_features_in_: "
        "update it"
    )
    assert X_checked is X or np.shares_memory(X_checked, X), (
        "validate_data now copies a plain C-contiguous float X: the fast path, which does "
        "not, must copy too or be removed"
    )
    assert X_checked.dtype == X.dtype
    np.testing.assert_array_equal(np.asarray(y_checked), y)
    ours = Estimator()
    X_fast, y_fast = ours._validate_fit_data(X, y, reset=True)
    assert X_fast is X and y_fast is y
    assert set(vars(ours)) - before == recorded
