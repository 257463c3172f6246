"""Models saved by bpnet 0.1 load, predict and keep training as they did then.

tests/data holds, for each case of tests/data/make_v0_1_models.py, a model that bpnet
0.1.0 fitted and saved as a pickle and as a skops file, and in ``<case>.npz`` what that
model predicted on held-out rows and, after one more ``partial_fit`` on those rows, its
weights, optimizer moments and loss curve. bpnet 0.1 kept the optimizer state in a
``bpnet._base._OptimizerState``; loading turns it into the optimizer of today.

"As they did" is to V0_1_DRIFT_EPS: bpnet computes a prediction as 0.1 did, product by
product, and on the machine and BLAS that wrote the files the numbers are the same bits.
But the products are BLAS's, whose kernels OpenBLAS picks by CPU (and may change between
releases), and the kernels' last bits differ: the last test runs this module again under
another of OpenBLAS's kernels.
"""

import importlib.util
import os
import pickle
import platform
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from numpy.testing import assert_array_equal

from bpnet import BPClassifier
from bpnet._optimizers import OPTIMIZERS

from ._helpers import hang_limit

DATA_DIR = Path(__file__).parent / "data"

# How far today's numbers may be from what bpnet 0.1 computed, in units of the model
# dtype's machine epsilon: |today - then| <= V0_1_DRIFT_EPS * eps * max(|then|, 1), that
# is relative for values above 1 and absolute below (a probability of 1e-9 has no more
# absolute precision than one of 0.5). Measured on an AVX2 machine, under each of
# OpenBLAS's kernels it runs (Haswell, Sandybridge, Nehalem, Katmai): 0 on the kernel
# that wrote these files, at most 1.5 eps on the others over their predictions and
# continued training, and at most 5 eps for larger models that bpnet 0.1 fitted on
# digits (hidden (100,), (5,) and (300, 3), 1 to 21564 rows); a report from another
# machine saw up to about 45 eps in float64 and 2 in float32 on digits rows. To measure
# it again (after a change to the kernels, say): python tests/data/measure_v0_1_drift.py.
# docs/persistence.rst and the CHANGELOG state this bound.
V0_1_DRIFT_EPS = 64


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


def drift_in_eps(got, expected, dtype):
    """The largest |got - expected| / (eps * max(|expected|, 1)), in ``dtype``'s eps."""
    got, expected = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    scale = np.finfo(dtype).eps * np.maximum(np.abs(expected), 1.0)
    return float(np.max(np.abs(got - expected) / scale, initial=0.0))


def _assert_as_before(got, expected, name, dtype=None):
    """Labels exactly; numbers within V0_1_DRIFT_EPS of ``dtype``'s (default: their own)
    eps."""
    got = np.asarray(got)
    assert got.dtype == expected.dtype, name
    if expected.dtype.kind != "f":
        assert_array_equal(got, expected, err_msg=name)
        return
    drift = drift_in_eps(got, expected, dtype or expected.dtype)
    assert drift <= V0_1_DRIFT_EPS, f"{name}: {drift:.3g} eps from what bpnet 0.1 computed"


@pytest.mark.parametrize("how", FORMATS)
@pytest.mark.parametrize("case", list(SCRIPT.CASES))
def test_v0_1_model_predicts_as_it_did(case, how):
    model = _load(case, how)
    expected, X_new, _ = _expected_and_new_rows(case)
    _assert_as_before(model.predict(X_new), expected["predict"], "predict")
    if isinstance(model, BPClassifier):
        _assert_as_before(model.predict_proba(X_new), expected["predict_proba"], "predict_proba")


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
        _assert_as_before(coef, expected[f"coef_{i}"], f"coef_{i}")
        _assert_as_before(intercept, expected[f"intercept_{i}"], f"intercept_{i}")
    moment_1, moment_2 = model._optimizer.kernel_moments()
    _assert_as_before(moment_1, expected["moment_1"], "moment_1")
    _assert_as_before(moment_2, expected["moment_2"], "moment_2")
    # loss_curve_ holds float64 numbers, computed in the model's precision.
    dtype = model.coefs_[0].dtype
    _assert_as_before(np.asarray(model.loss_curve_), expected["loss_curve"], "loss_curve", dtype)


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


# OpenBLAS's kernel for the oldest x86-64 CPUs (SSE2), which any x86-64 CPU runs: set as
# OPENBLAS_CORETYPE, it replaces the kernel OpenBLAS would pick for this CPU.
OTHER_BLAS_KERNEL = "Prescott"
_OPENBLAS_KERNELS = (
    "from threadpoolctl import threadpool_info; import numpy, scipy.linalg; "
    "print(' '.join(sorted({str(p.get('architecture')) for p in threadpool_info() "
    "if p.get('internal_api') == 'openblas'})))"
)


def _openblas_kernels(env):
    completed = subprocess.run(
        [sys.executable, "-c", _OPENBLAS_KERNELS],
        env=env, capture_output=True, text=True, timeout=hang_limit(120), check=True,
    )  # fmt: skip
    return completed.stdout.split()


def test_the_bound_holds_under_another_blas_kernel(tmp_path):
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip("OPENBLAS_CORETYPE names x86-64 kernels")
    native = _openblas_kernels(dict(os.environ))
    env = {**os.environ, "OPENBLAS_CORETYPE": OTHER_BLAS_KERNEL}
    other = _openblas_kernels(env)
    if not native or other == native:
        pytest.skip(f"OpenBLAS here cannot switch kernels (kernels {native}, then {other})")
    completed = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-q", "-p", "no:cacheprovider",
         "-k", "not another_blas_kernel"],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=hang_limit(600),
    )  # fmt: skip
    assert completed.returncode == 0, f"under {other}:\n{completed.stdout[-3000:]}"
