"""Write the bpnet 0.1 model files that tests/test_persistence_v0_1.py loads.

Run once with bpnet 0.1.0 installed (``python tests/data/make_v0_1_models.py``); the
files it writes are committed. For each case it saves the fitted model as a pickle and a
skops file, and, in ``<case>.npz``, what that model predicted on held-out rows and the
weights, optimizer moments and loss curve after one more ``partial_fit`` (or, for lbfgs,
one more warm-started ``fit``), so that a later bpnet can be checked against them.
"""

import pickle
import warnings
from pathlib import Path

import numpy as np
import skops.io as sio
from sklearn.exceptions import ConvergenceWarning

import bpnet
from bpnet import BPClassifier, BPRegressor

HERE = Path(__file__).parent


def data(kind, dtype):
    rng = np.random.RandomState(0)
    X = rng.randn(80, 5).astype(dtype)
    if kind == "classification":
        y = np.argmax(X @ rng.randn(5, 3), axis=1)
    else:
        y = np.tanh(X @ rng.randn(5)) + 0.1 * rng.randn(80)
    return X[:60], y[:60], X[60:], y[60:]


CASES = {
    "classifier_sgd": (
        BPClassifier,
        dict(solver="sgd", momentum=0.9),
        "classification",
        np.float64,
    ),
    "classifier_adam_float32": (BPClassifier, dict(solver="adam"), "classification", np.float32),
    "classifier_lbfgs": (BPClassifier, dict(solver="lbfgs"), "classification", np.float64),
    "regressor_sgd_invscaling": (
        BPRegressor,
        dict(solver="sgd", learning_rate="invscaling"),
        "regression",
        np.float64,
    ),
    "regressor_adam": (BPRegressor, dict(solver="adam"), "regression", np.float64),
}


def main():
    assert bpnet.__version__ == "0.1.0", bpnet.__version__
    warnings.simplefilter("ignore", ConvergenceWarning)
    for name, (cls, params, kind, dtype) in CASES.items():
        X, y, X_new, y_new = data(kind, dtype)
        model = cls(hidden_layer_sizes=(7,), max_iter=15, random_state=0, **params).fit(X, y)
        (HERE / f"v0_1_{name}.pkl").write_bytes(pickle.dumps(model))
        sio.dump(model, HERE / f"v0_1_{name}.skops")
        expected = {"predict": model.predict(X_new)}
        if hasattr(model, "predict_proba"):
            expected["predict_proba"] = model.predict_proba(X_new)
        if params["solver"] == "lbfgs":
            model.set_params(warm_start=True, max_iter=5).fit(X_new, y_new)
        else:
            model.partial_fit(X_new, y_new)
            expected["loss_curve"] = np.asarray(model.loss_curve_)
            expected["moment_1"] = model._optimizer.moment_1
            expected["moment_2"] = model._optimizer.moment_2
        for i, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_)):
            expected[f"coef_{i}"] = coef
            expected[f"intercept_{i}"] = intercept
        np.savez(HERE / f"v0_1_{name}.npz", **expected)


if __name__ == "__main__":
    main()
