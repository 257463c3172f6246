"""What bpnet relies on inside scikit-learn, each pinned by a test that names the change.

Five fast paths depend on scikit-learn or NumPy details that are not public API:

- ``bpnet._classes._fit_binarizer`` builds a fitted ``LabelBinarizer`` by setting its
  fitted attributes by hand, for plain labels;
- ``bpnet._base.BaseBP._get_param_names`` caches the private classmethod of
  ``BaseEstimator`` that ``get_params`` calls;
- ``bpnet._base.BaseBP._validate_fit_data`` skips ``validate_data`` for a fresh fit on
  plain finite float arrays, doing only what it records on a reset;
- ``bpnet._base.BaseBP._validate_params`` makes scikit-learn's constraint objects
  (``make_constraint``) once per class and remembers the plain values accepted;
- ``bpnet._base._SeededGenerators`` reseeds a used ``RandomState`` (``seed``) instead of
  making a new one for each fit with an integer ``random_state``.

If a scikit-learn release changes one of them, the test here fails with a message that
says which fast path to update (or remove).
"""

from functools import partial
from numbers import Real

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


# Values to try on every parameter: valid for some, invalid for others, and pairs that
# are equal in Python but that a constraint may tell apart (True and 1, 1 and 1.0, the
# tuples (100,) and (100.0,)), so that an accepted value cannot let an equal one through.
PROBE_VALUES = [True, False, 1, 0, 1.0, 0.0, 0.5, -1, -1.0, 2, 300, np.inf, float("nan"),
                np.float64(0.1), np.int64(3), "auto", "adam", "relu", "balanced",
                "float32", "cosine", "nonsense", None, (100,), (100.0,), (True,), (),
                [10, 5], np.array([3])]  # fmt: skip


def _estimator_classes():
    from bpnet import TabularClassifier, TabularRegressor

    return [BPClassifier, BPRegressor, TabularClassifier, TabularRegressor]


@pytest.mark.parametrize("Estimator", _estimator_classes(), ids=lambda c: c.__name__)
def test_parameter_validation_fast_path_agrees_with_scikit_learns(Estimator):
    """BaseBP._validate_params makes the constraint objects once per class and remembers
    the plain values each parameter accepted; it must accept and reject exactly what
    scikit-learn's validate_parameter_constraints does, with its message, whatever it
    has seen before."""
    from sklearn.utils._param_validation import validate_parameter_constraints

    def verdict(check):
        try:
            check()
        except Exception as error:  # the message is the verdict
            return type(error), str(error)
        return None

    names = [n for n in Estimator._parameter_constraints if n in Estimator._get_param_names()]
    assert len(names) >= 25
    for _ in range(2):  # the second round runs with everything accepted remembered
        for name in names:
            for value in PROBE_VALUES:
                estimator = Estimator().set_params(**{name: value})
                expected = verdict(
                    partial(
                        validate_parameter_constraints,
                        Estimator._parameter_constraints,
                        estimator.get_params(deep=False),
                        caller_name=Estimator.__name__,
                    )
                )
                assert verdict(estimator._validate_params) == expected, (name, value)


def test_parameter_validation_follows_a_replaced_constraints_dict():
    from sklearn.utils._param_validation import Interval, InvalidParameterError

    class Stricter(BPRegressor):
        pass

    Stricter().set_params(alpha=5.0)._validate_params()
    Stricter._parameter_constraints = {
        **BPRegressor._parameter_constraints,
        "alpha": [Interval(Real, 0, 1, closed="both")],
    }
    with pytest.raises(InvalidParameterError, match="'alpha' parameter of Stricter"):
        Stricter(alpha=5.0)._validate_params()
    BPRegressor(alpha=5.0)._validate_params()


def test_reseeded_generator_draws_as_a_new_random_state():
    """An integer random_state's generator is reused across fits and reseeded
    (bpnet._base._SeededGenerators): it must give what RandomState(seed) gives, even
    after draws that leave state behind (a cached Gaussian)."""
    from bpnet._base import _generators

    with _generators.random_state(7) as rng:
        rng.standard_normal(3)  # an odd count leaves the second Gaussian cached
        first = rng
        with _generators.random_state(7) as nested:  # a fit started meanwhile
            assert nested is not first
    with _generators.random_state(11) as rng:
        reused = rng
        ours = [rng.standard_normal(5), rng.uniform(-1, 1, 4), rng.permutation(9)]
        ours_state = rng.get_state()
    assert reused in (first, nested)
    fresh = np.random.RandomState(11)
    theirs = [fresh.standard_normal(5), fresh.uniform(-1, 1, 4), fresh.permutation(9)]
    for a, b in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)
    theirs_state = fresh.get_state()
    np.testing.assert_array_equal(ours_state[1], theirs_state[1])
    assert ours_state[2:] == theirs_state[2:]
    given = np.random.RandomState(3)
    with _generators.random_state(given) as rng:
        assert rng is given
    with _generators.random_state(None) as rng:
        assert rng is np.random.mtrand._rand


def test_fits_with_a_reused_generator_match_fits_with_a_new_one():
    from bpnet import TabularClassifier

    rng = np.random.RandomState(0)
    X, y = rng.normal(size=(60, 3)), rng.randint(0, 3, 60)
    cats = np.column_stack([X, rng.randint(0, 40, 60)])
    kwargs = dict(hidden_layer_sizes=(7,), max_iter=5, random_state=4)
    expected = BPClassifier(**kwargs).fit(X, y)
    given = BPClassifier(**{**kwargs, "random_state": np.random.RandomState(4)}).fit(X, y)
    # A fit that draws Gaussians (embedding tables) between the two.
    TabularClassifier(max_iter=3, random_state=1, categorical_features=[3]).fit(cats, y)
    again = BPClassifier(**kwargs).fit(X, y)
    for a, b, c in zip(expected.coefs_, given.coefs_, again.coefs_):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
