"""Models saved by bpnet 0.1 load, predict and keep training exactly as they did then.

tests/data holds, for each case of tests/data/make_v0_1_models.py, a model that bpnet
0.1.0 fitted and saved as a pickle and as a skops file, and in ``<case>.npz`` what that
model predicted on held-out rows and, after one more ``partial_fit`` on those rows, its
weights, optimizer moments and loss curve. bpnet 0.1 kept the optimizer state in a
``bpnet._base._OptimizerState``; loading turns it into the optimizer of today.
"""

import importlib.util
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from numpy.testing import assert_array_equal

from bpnet import BPClassifier
from bpnet._optimizers import OPTIMIZERS

DATA_DIR = Path(__file__).parent / "data"


def _load_script():
    # The script that wrote the files: its data() regenerates the held-out rows exactly.
    spec = importlib.util.spec_from_file_location(
        "make_v0_1_models", DATA_DIR / "make_v0_1_models.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SCRIPT = _load_script()
FORMATS = ["pickle", "skops"]
VERSION_WARNING = r"fitted with bpnet 0\.1\.0 under bpnet "


def _solver(case):
    return SCRIPT.CASES[case][1]["solver"]


def _load(case, how):
    """The saved model, checking that loading warns about the version difference."""
    if how == "pickle":
        path = DATA_DIR / f"v0_1_{case}.pkl"
        load = lambda: pickle.loads(path.read_bytes())  # noqa: E731
    else:
        path = DATA_DIR / f"v0_1_{case}.skops"
        untrusted = sio.get_untrusted_types(file=path)
        Estimator = SCRIPT.CASES[case][0]
        expected = {f"bpnet._classes.{Estimator.__name__}"}
        if _solver(case) != "lbfgs":
            expected.add("bpnet._base._OptimizerState")
        assert set(untrusted) == expected
        load = lambda: sio.load(path, trusted=untrusted)  # noqa: E731
    with pytest.warns(UserWarning, match=VERSION_WARNING):
        return load()


def _expected_and_new_rows(case):
    _, _, kind, dtype = SCRIPT.CASES[case]
    _, _, X_new, y_new = SCRIPT.data(kind, dtype)
    return dict(np.load(DATA_DIR / f"v0_1_{case}.npz")), X_new, y_new


def _assert_equal(got, expected, name):
    assert got.dtype == expected.dtype, name
    assert_array_equal(got, expected, err_msg=name)


@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize("case", list(SCRIPT.CASES))
def test_v0_1_model_predicts_as_it_did(case, how):
    model = _load(case, how)
    expected, X_new, _ = _expected_and_new_rows(case)
    _assert_equal(model.predict(X_new), expected["predict"], "predict")
    if isinstance(model, BPClassifier):
        _assert_equal(model.predict_proba(X_new), expected["predict_proba"], "predict_proba")


# The lbfgs case is only checked for its predictions: its continued training (a
# warm-started fit) is left out because lbfgs's arithmetic is to change on purpose.
@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize("case", [c for c in SCRIPT.CASES if _solver(c) != "lbfgs"])
def test_v0_1_model_keeps_training_as_it_did(case, how):
    model = _load(case, how)
    assert type(model._optimizer) is OPTIMIZERS[_solver(case)]
    expected, X_new, y_new = _expected_and_new_rows(case)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loaded and upgraded: training warns about nothing
        model.partial_fit(X_new, y_new)
    for i, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        _assert_equal(coef, expected[f"coef_{i}"], f"coef_{i}")
        _assert_equal(intercept, expected[f"intercept_{i}"], f"intercept_{i}")
    moment_1, moment_2 = model._optimizer.kernel_moments()
    _assert_equal(moment_1, expected["moment_1"], "moment_1")
    _assert_equal(moment_2, expected["moment_2"], "moment_2")
    assert_array_equal(np.asarray(model.loss_curve_), expected["loss_curve"])


@pytest.mark.parametrize("case", [c for c in SCRIPT.CASES if _solver(c) != "lbfgs"])
def test_v0_1_model_saved_again_names_todays_optimizer(case):
    model = _load(case, "skops")
    data = sio.dumps(model)
    untrusted = set(sio.get_untrusted_types(data=data))
    assert f"bpnet._optimizers.{type(model._optimizer).__name__}" in untrusted
    assert "bpnet._base._OptimizerState" not in untrusted
    # Still the weights bpnet 0.1 fitted, so loading still says so.
    with pytest.warns(UserWarning, match=VERSION_WARNING):
        loaded = sio.loads(data, trusted=list(untrusted))
    _, X_new, _ = _expected_and_new_rows(case)
    assert_array_equal(loaded.predict(X_new), model.predict(X_new))
