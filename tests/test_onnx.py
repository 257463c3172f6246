"""ONNX export: onnxruntime's outputs equal bpnet's predictions for every activation,
every output layer, label type, precision and classifier option, bare and in a Pipeline.

Labels must be identical; probabilities and values agree within 1e-5 relative in float32
and 1e-10 in float64. Probabilities may also differ by the precision's eps in absolute
terms: a binary classifier's 1 - p near 0 keeps only the absolute precision of p near 1,
and bpnet clips at that eps. Regression values may differ by the relative tolerance times
their largest magnitude, since a relative error means nothing at a value near 0.
"""

import doctest
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

ort = pytest.importorskip("onnxruntime")
skl2onnx = pytest.importorskip("skl2onnx")

import bpnet.onnx  # noqa: E402  (after the skips: it needs skl2onnx)
from bpnet import BPClassifier, BPRegressor  # noqa: E402
from bpnet.onnx import to_onnx  # noqa: E402

from ._helpers import classification_data, quiet_fit, regression_data  # noqa: E402

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-5, np.float64: 1e-10}
EPS = {dtype: float(np.finfo(dtype).eps) for dtype in DTYPES}
HIDDEN_ACTIVATIONS = ["identity", "logistic", "tanh", "relu", "leaky_relu", "elu", "gelu", "silu"]
STRING_LABELS = np.array(["ant", "bee", "cat", "dog"])


def _session(onx):
    return ort.InferenceSession(onx.SerializeToString(), providers=["CPUExecutionProvider"])


def _run(onx, X):
    session = _session(onx)
    return session.run(None, {session.get_inputs()[0].name: X})


def _fit(estimator, X, y):
    # lbfgs for a few iterations: weights away from their initial values, quickly.
    estimator.set_params(solver="lbfgs", max_iter=30, random_state=0)
    return quiet_fit(estimator, X, y)


def _classification(dtype, n_classes=3, labels="int", seed=0):
    X, y = classification_data(n_samples=60, n_features=4, n_classes=n_classes, seed=seed)
    y = STRING_LABELS[y] if labels == "str" else y
    return X.astype(dtype), y


def _multilabel(dtype, n_labels):
    X, _ = classification_data(n_samples=60, n_features=4, seed=1)
    rng = np.random.RandomState(1)
    Y = (X @ rng.randn(4, n_labels) + 0.3 * rng.randn(60, n_labels) > 0).astype(int)
    return X.astype(dtype), Y


def _assert_values_close(actual, expected, dtype):
    rtol = RTOL[dtype]
    assert actual.shape == expected.shape
    assert_allclose(actual, expected, rtol=rtol, atol=rtol * np.abs(expected).max())


def _assert_probabilities_close(actual, expected, dtype):
    assert actual.shape == expected.shape
    assert_allclose(actual, expected, rtol=RTOL[dtype], atol=EPS[dtype])


def _assert_classifier_matches(onx, clf, X, dtype):
    labels, probabilities = _run(onx, X)
    assert_array_equal(labels, clf.predict(X))
    assert probabilities.dtype == dtype
    _assert_probabilities_close(probabilities, clf.predict_proba(X), dtype)


# --- hidden activations ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("activation", HIDDEN_ACTIVATIONS)
def test_every_hidden_activation(activation, dtype):
    X, y = regression_data()
    X = X.astype(dtype)
    reg = _fit(BPRegressor(hidden_layer_sizes=(6, 5), activation=activation), X, y)
    (values,) = _run(to_onnx(reg, X[:1]), X)
    assert values.dtype == dtype
    _assert_values_close(values, reg.predict(X).reshape(-1, 1), dtype)

    X, y = _classification(dtype)
    clf = _fit(BPClassifier(hidden_layer_sizes=(6, 5), activation=activation), X, y)
    _assert_classifier_matches(to_onnx(clf, X[:1], zipmap=False), clf, X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_activation_per_layer(dtype):
    X, y = _classification(dtype)
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,) * 8, activation=HIDDEN_ACTIVATIONS[::-1]), X, y)
    assert clf.hidden_activations_ == HIDDEN_ACTIVATIONS[::-1]
    _assert_classifier_matches(to_onnx(clf, X[:1], zipmap=False), clf, X, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_activations_far_from_zero(dtype):
    # Large pre-activations: the saturated tails of logistic, tanh, elu, gelu and silu,
    # and the double-precision normal CDF far out on both sides.
    X, y = regression_data()
    X = 30 * X.astype(dtype)
    reg = _fit(BPRegressor(hidden_layer_sizes=(8,) * 6, activation=HIDDEN_ACTIVATIONS[2:]), X, y)
    (values,) = _run(to_onnx(reg, X[:1]), X)
    _assert_values_close(values, reg.predict(X).reshape(-1, 1), dtype)


def test_double_gelu_against_scipy():
    # onnxruntime has no double Erf: the graph computes the normal CDF from its own
    # erfc. Compared here with SciPy's, over both tails and the middle.
    from scipy.special import ndtr

    X, y = regression_data(n_features=1)
    reg = _fit(BPRegressor(hidden_layer_sizes=(1,), activation="gelu"), X, y)
    reg.coefs_ = [np.ones((1, 1)), np.ones((1, 1))]
    reg.intercepts_ = [np.zeros(1), np.zeros(1)]
    z = np.concatenate([np.linspace(-40, 40, 20001), [-1e300, -1e-300, 0.0, 1e-300, 1e300]])
    (values,) = _run(to_onnx(reg, z[:1, None]), z[:, None])
    # atol: the two underflow to subnormals at slightly different depths.
    assert_allclose(values.ravel(), z * ndtr(z), rtol=1e-12, atol=1e-300)


def test_models_without_hidden_activations_use_activation():
    # Models saved by bpnet 0.1 have no hidden_activations_.
    X, y = regression_data()
    reg = _fit(BPRegressor(hidden_layer_sizes=(6, 5), activation="tanh"), X, y)
    expected = reg.predict(X).reshape(-1, 1)
    del reg.hidden_activations_
    (values,) = _run(to_onnx(reg, X[:1]), X)
    _assert_values_close(values, expected, np.float64)


# --- output layers -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("n_classes", [2, 4])
def test_softmax_and_binary_logistic_outputs(n_classes, labels, dtype):
    X, y = _classification(dtype, n_classes=n_classes, labels=labels)
    clf = _fit(BPClassifier(hidden_layer_sizes=(7,)), X, y)
    assert clf.out_activation_ == ("softmax" if n_classes > 2 else "logistic")
    onx = to_onnx(clf, X[:1], zipmap=False)
    _assert_classifier_matches(onx, clf, X, dtype)
    labels_out, probabilities = _run(onx, X)
    assert probabilities.shape == (len(X), n_classes)
    assert labels_out.dtype == (object if labels == "str" else np.int64)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_labels", [2, 3, 5])
def test_multilabel_logistic_outputs(n_labels, dtype):
    X, Y = _multilabel(dtype, n_labels)
    clf = _fit(BPClassifier(hidden_layer_sizes=(7,)), X, Y)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == n_labels
    labels, probabilities = _run(to_onnx(clf, X[:1], zipmap=False), X)
    # (n, n_labels), also for exactly two labels.
    assert labels.shape == probabilities.shape == (len(X), n_labels)
    assert labels.dtype == np.int64
    assert_array_equal(labels, clf.predict(X))
    assert 0 < labels.sum() < labels.size
    _assert_probabilities_close(probabilities, clf.predict_proba(X), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "loss, n_targets",
    [("squared_error", 1), ("squared_error", 3), ("poisson", 1), ("poisson", 2),
     ("huber", 1), ("quantile", 2)],
)  # fmt: skip
def test_regressor_outputs(loss, n_targets, dtype):
    rng = np.random.RandomState(0)
    X, y = regression_data()
    Y = np.column_stack([y + i for i in range(n_targets)]) if n_targets > 1 else y
    if loss == "poisson":
        Y = rng.poisson(np.exp(np.clip(Y, -2, 2)))
    X = X.astype(dtype)
    params = {"quantile": 0.8} if loss == "quantile" else {}
    reg = _fit(BPRegressor(loss=loss, hidden_layer_sizes=(6,), **params), X, Y)
    assert reg.out_activation_ == ("exp" if loss == "poisson" else "identity")
    (values,) = _run(to_onnx(reg, X[:1]), X)
    assert values.shape == (len(X), n_targets)  # not (n * n_targets, 1)
    assert values.dtype == dtype
    _assert_values_close(values, reg.predict(X).reshape(len(X), n_targets), dtype)


def test_float_labels_become_integers():
    X, y = _classification(np.float32)
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y.astype(float))
    labels, _ = _run(to_onnx(clf, X[:1], zipmap=False), X)
    assert labels.dtype == np.int64
    assert_array_equal(labels, clf.predict(X))


# --- precision ----------------------------------------------------------------------------


@pytest.mark.parametrize("model_dtype", DTYPES)
@pytest.mark.parametrize("input_dtype", DTYPES)
def test_graph_computes_in_the_input_precision(model_dtype, input_dtype):
    X, y = _classification(model_dtype)
    clf = _fit(BPClassifier(hidden_layer_sizes=(6,), activation="gelu"), X, y)
    onx = to_onnx(clf, X[:1].astype(input_dtype), zipmap=False)
    initializers = {t.name: t.data_type for t in onx.graph.initializer}
    expected_type = 11 if input_dtype == np.float64 else 1  # TensorProto.DOUBLE / FLOAT
    weights = [name for name in initializers if name.startswith("coefficient")]
    assert weights and all(initializers[name] == expected_type for name in weights)
    # bpnet computes in the wider of the two precisions, the graph in the input's.
    looser = np.float32 if np.float32 in (model_dtype, input_dtype) else np.float64
    labels, probabilities = _run(onx, X.astype(input_dtype))
    assert probabilities.dtype == input_dtype
    assert_array_equal(labels, clf.predict(X))
    _assert_probabilities_close(probabilities, clf.predict_proba(X), looser)


def test_integer_input_computes_in_float():
    X, y = _classification(np.float64)
    X = np.round(3 * X).astype(np.int64)
    clf = _fit(BPClassifier(hidden_layer_sizes=(6,)), X.astype(np.float32), y)
    labels, probabilities = _run(to_onnx(clf, X[:1], zipmap=False), X)
    assert probabilities.dtype == np.float32
    assert_array_equal(labels, clf.predict(X.astype(np.float32)))
    _assert_probabilities_close(probabilities, clf.predict_proba(X.astype(np.float32)), np.float32)


# --- classifier options -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("labels", ["int", "str"])
@pytest.mark.parametrize("n_classes", [2, 3])
def test_zipmap_gives_one_dict_per_row(n_classes, labels, dtype):
    X, y = _classification(dtype, n_classes=n_classes, labels=labels)
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y)
    session = _session(to_onnx(clf, X[:1]))
    assert [o.name for o in session.get_outputs()] == ["output_label", "output_probability"]
    predicted, dicts = session.run(None, {"X": X})
    assert_array_equal(predicted, clf.predict(X))
    assert isinstance(dicts, list) and len(dicts) == len(X)
    assert list(dicts[0]) == list(clf.classes_)
    as_array = np.array([[row[label] for label in clf.classes_] for row in dicts])
    # ONNX-ML's ZipMap takes float tensors only: a double graph casts its probabilities.
    _assert_probabilities_close(as_array, clf.predict_proba(X).astype(np.float32), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zipmap_on_multilabel_maps_label_indices(dtype):
    X, Y = _multilabel(dtype, 2)
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, Y)
    predicted, dicts = _run(to_onnx(clf, X[:1]), X)
    assert_array_equal(predicted, clf.predict(X))
    as_array = np.array([[row[i] for i in range(2)] for row in dicts])
    _assert_probabilities_close(as_array, clf.predict_proba(X).astype(np.float32), np.float32)


@pytest.mark.parametrize("dtype", DTYPES)
def test_zipmap_columns(dtype):
    X, y = _classification(dtype, labels="str")
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y)
    predicted, *columns = _run(to_onnx(clf, X[:1], zipmap="columns"), X)
    assert_array_equal(predicted, clf.predict(X))
    _assert_probabilities_close(np.column_stack(columns), clf.predict_proba(X), dtype)


@pytest.mark.parametrize("zipmap", [True, False])
def test_nocl_gives_class_indices(zipmap):
    X, y = _classification(np.float32, labels="str")
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y)
    predicted, probabilities = _run(to_onnx(clf, X[:1], nocl=True, zipmap=zipmap), X)
    assert_array_equal(clf.classes_[predicted], clf.predict(X))
    if zipmap:
        assert list(probabilities[0]) == [0, 1, 2]


def test_output_class_labels():
    X, y = _classification(np.float32, labels="str")
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y)
    outputs = _run(to_onnx(clf, X[:1], zipmap=False, output_class_labels=True), X)
    assert_array_equal(outputs[0], clf.predict(X))
    assert_array_equal(outputs[2], clf.classes_)


# --- registration with skl2onnx, pipelines ----------------------------------------------


def test_skl2onnx_converts_bare_estimators():
    X, y = _classification(np.float32, labels="str")
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y)
    onx = skl2onnx.to_onnx(clf, X[:1], options={id(clf): {"zipmap": False}})
    _assert_classifier_matches(onx, clf, X, np.float32)

    X, y = regression_data()
    reg = _fit(BPRegressor(hidden_layer_sizes=(5,)), X, y)
    (values,) = _run(skl2onnx.to_onnx(reg, X[:1]), X)
    _assert_values_close(values, reg.predict(X).reshape(-1, 1), np.float64)


# Both entry points check the model: bpnet's shortcut and skl2onnx's own.
CONVERTERS = {"bpnet.onnx.to_onnx": to_onnx, "skl2onnx.to_onnx": skl2onnx.to_onnx}


@pytest.mark.parametrize("convert", CONVERTERS.values(), ids=list(CONVERTERS))
@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
def test_unfitted_models_are_refused_as_unfitted(Estimator, convert):
    X, _ = regression_data()
    with pytest.raises(NotFittedError, match=f"This {Estimator.__name__} instance is not fitted"):
        convert(Estimator(), X[:1])


@pytest.mark.parametrize("convert", CONVERTERS.values(), ids=list(CONVERTERS))
@pytest.mark.parametrize("kind", ["classifier", "regressor"])
def test_a_sample_of_another_width_is_refused(kind, convert):
    if kind == "classifier":
        X, y = _classification(np.float32)
        model = _fit(BPClassifier(hidden_layer_sizes=(5,)), X, y)
    else:
        X, y = regression_data()
        model = _fit(BPRegressor(hidden_layer_sizes=(5,)), X, y)
    wider = np.hstack([X[:1], X[:1]])
    # Before, the conversion gave a graph that onnxruntime refused to load.
    with pytest.raises(ValueError, match="has 8 columns, but it was fitted on 4 features"):
        convert(model, wider)
    _run(convert(model, X[:1]), X)  # the right width still converts and runs


@pytest.mark.parametrize("dtype", DTYPES)
def test_pipeline_with_standard_scaler(dtype):
    X, y = _classification(dtype, labels="str")
    X = 5 * X + 3  # something for the scaler to do
    pipe = _fit_pipeline(BPClassifier(hidden_layer_sizes=(6,), activation="elu"), X, y)
    onx = skl2onnx.to_onnx(pipe, X[:1], options={BPClassifier: {"zipmap": False}})
    _assert_classifier_matches(onx, pipe, X, dtype)
    # The shortcut passes the options to the classifier inside.
    _assert_classifier_matches(to_onnx(pipe, X[:1], zipmap=False), pipe, X, dtype)

    X, Y = _multilabel(dtype, 3)
    pipe = _fit_pipeline(BPClassifier(hidden_layer_sizes=(6,), activation="gelu"), X, Y)
    labels, probabilities = _run(to_onnx(pipe, X[:1], zipmap=False), X)
    assert_array_equal(labels, pipe.predict(X))
    _assert_probabilities_close(probabilities, pipe.predict_proba(X), dtype)

    X, y = regression_data()
    X = (5 * X + 3).astype(dtype)
    Y = np.column_stack([y, -y])
    pipe = _fit_pipeline(BPRegressor(hidden_layer_sizes=(6,), activation="silu"), X, Y)
    (values,) = _run(to_onnx(pipe, X[:1]), X)
    _assert_values_close(values, pipe.predict(X), dtype)


def _fit_pipeline(estimator, X, y):
    estimator.set_params(solver="lbfgs", max_iter=30, random_state=0)
    return quiet_fit(make_pipeline(StandardScaler(), estimator), X, y)


def test_regressor_options_leave_classifier_options_alone():
    # zipmap given to the shortcut only concerns classifiers.
    X, y = regression_data()
    reg = _fit(BPRegressor(hidden_layer_sizes=(5,)), X, y)
    (values,) = _run(to_onnx(reg, X[:1], zipmap=False), X)
    _assert_values_close(values, reg.predict(X).reshape(-1, 1), np.float64)


def test_target_opset():
    X, y = _classification(np.float64)
    clf = _fit(BPClassifier(hidden_layer_sizes=(5,), activation="leaky_relu"), X, y)
    onx = to_onnx(clf, X[:1], zipmap=False, target_opset=bpnet.onnx.MIN_OPSET)
    assert {o.domain: o.version for o in onx.opset_import}[""] <= bpnet.onnx.MIN_OPSET
    _assert_classifier_matches(onx, clf, X, np.float64)
    with pytest.raises(RuntimeError, match="opset"):
        to_onnx(clf, X[:1], zipmap=False, target_opset=bpnet.onnx.MIN_OPSET - 1)


def test_docstring_examples_run():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        failures, attempted = doctest.testmod(bpnet.onnx, optionflags=doctest.ELLIPSIS)
    assert attempted >= 5
    assert failures == 0
