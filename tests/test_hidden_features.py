"""hidden_activations and HiddenFeatures: a hidden layer's activations, checked against
the NumPy reference network, in pipelines and searches, frozen, routed, named, exported."""

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier, BPRegressor, HiddenFeatures

from ._helpers import classification_data, quiet_fit, regression_data
from ._reference import forward

NETWORK = dict(hidden_layer_sizes=(7, 5, 3), max_iter=20, random_state=0)
ACTIVATIONS = ["tanh", "gelu", "relu"]


def _fitted(Estimator=BPClassifier, **params):
    X, y = (classification_data if Estimator is BPClassifier else regression_data)(
        n_samples=80, n_features=6
    )
    params = {**NETWORK, "activation": ACTIVATIONS, **params}
    return quiet_fit(Estimator(**params), X, y), X, y


@pytest.mark.parametrize("Estimator", [BPClassifier, BPRegressor])
@pytest.mark.parametrize("layer", [0, 1, 2, -1, -2, -3])
def test_hidden_activations_match_the_reference_network(Estimator, layer):
    model, X, _ = _fitted(Estimator)
    layout = model._layout()
    params = layout.pack(model.coefs_, model.intercepts_, np.float64)
    outputs, _ = forward(layout, params, X)
    got = model.hidden_activations(X, layer=layer)
    assert got.shape == (X.shape[0], NETWORK["hidden_layer_sizes"][layer])
    assert_allclose(got, outputs[layer % 3], rtol=1e-12, atol=1e-14)


def test_last_hidden_layer_is_the_default_and_feeds_the_output():
    model, X, _ = _fitted(BPRegressor)
    hidden = model.hidden_activations(X)
    assert_array_equal(hidden, model.hidden_activations(X, layer=2))
    # The output layer applied to the last hidden layer gives predict's values.
    assert_allclose((hidden @ model.coefs_[-1] + model.intercepts_[-1]).ravel(), model.predict(X))


def test_hidden_activations_follow_the_prediction_precision_and_sparse_input():
    model, X, _ = _fitted(BPClassifier, dtype="float32")
    assert model.hidden_activations(X).dtype == np.float32
    # Sparse rows are multiplied by bpnet's own loop, dense ones by BLAS: the sums are
    # ordered differently, so they agree to float32's rounding, not bit for bit.
    assert_allclose(
        model.hidden_activations(sp.csr_matrix(X)),
        model.hidden_activations(X),
        rtol=1e-5,
        atol=1e-6,
    )
    model64, X64, _ = _fitted(BPClassifier)
    got32 = model64.hidden_activations(X64.astype(np.float32))
    assert got32.dtype == np.float64  # the wider of X's and the weights', as predict
    assert_allclose(got32, model64.hidden_activations(X64), rtol=1e-6, atol=1e-7)


def test_hidden_activations_do_not_depend_on_the_thread_count(monkeypatch):
    rng = np.random.RandomState(0)
    X, y = rng.randn(3000, 30), rng.randint(3, size=3000)
    model = quiet_fit(BPClassifier(hidden_layer_sizes=(128, 64), max_iter=2, random_state=0), X, y)
    results = []
    for threads in ("1", "2", "4"):
        monkeypatch.setenv("BPNET_NUM_THREADS", threads)
        results.append(model.hidden_activations(X, layer=0))
    for other in results[1:]:
        assert_array_equal(other, results[0])


@pytest.mark.parametrize("layer", [3, -4, 10])
def test_a_layer_outside_the_network_is_named(layer):
    model, X, y = _fitted(BPClassifier)
    message = rf"layer={layer} is outside the network's 3 hidden layer\(s\): choose from -3 to 2"
    with pytest.raises(ValueError, match=message):
        model.hidden_activations(X, layer=layer)
    with pytest.raises(ValueError, match=message):
        HiddenFeatures(FrozenEstimator(model), layer=layer).fit(X, y)


def test_a_network_without_hidden_layers_says_so():
    model, X, y = _fitted(BPClassifier, hidden_layer_sizes=(), activation="relu")
    with pytest.raises(ValueError, match=r"no hidden layer \(hidden_layer_sizes=\(\)\)"):
        model.hidden_activations(X)


def test_hidden_activations_need_a_fitted_network():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        BPClassifier().hidden_activations(np.ones((2, 3)))
    with pytest.raises(NotFittedError):
        HiddenFeatures(BPClassifier()).transform(np.ones((2, 3)))


def test_transform_is_the_networks_hidden_layer():
    model, X, y = _fitted(BPClassifier)
    features = quiet_fit(HiddenFeatures(clone(model), layer=1), X, y)
    # Fitted a clone, with the same random_state: the same network as model.
    assert_array_equal(features.estimator_.coefs_[0], model.coefs_[0])
    assert not hasattr(features.estimator, "coefs_")  # the given estimator left as it was
    assert_array_equal(features.transform(X), model.hidden_activations(X, layer=1))
    assert features.n_features_in_ == X.shape[1]
    with pytest.warns(ConvergenceWarning):  # fit_transform fits a clone again
        refitted = features.fit_transform(X, y)
    assert_array_equal(refitted, model.hidden_activations(X, layer=1))


def test_a_frozen_network_is_not_fitted_again():
    model, X, y = _fitted(BPClassifier)
    coefs = [c.copy() for c in model.coefs_]
    frozen = FrozenEstimator(model)
    features = HiddenFeatures(frozen).fit(X[:10], y[:10])
    assert features.estimator_ is frozen
    for before, after in zip(coefs, model.coefs_):
        assert_array_equal(before, after)
    assert_array_equal(features.transform(X), model.hidden_activations(X))
    # In a pipeline, fitting the pipeline fits only the steps after it.
    pipe = make_pipeline(HiddenFeatures(frozen), KNeighborsClassifier(n_neighbors=3))
    pipe.fit(X, y)
    for before, after in zip(coefs, model.coefs_):
        assert_array_equal(before, after)
    assert pipe.score(X, y) > 0.8


def test_feature_names_and_set_output():
    pd = pytest.importorskip("pandas")
    model, X, y = _fitted(BPClassifier)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    features = quiet_fit(HiddenFeatures(clone(model), layer=0), frame, y)
    names = features.get_feature_names_out()
    assert list(names) == [f"hiddenfeatures{i}" for i in range(7)]
    assert_array_equal(features.feature_names_in_, frame.columns)
    out = features.set_output(transform="pandas").transform(frame)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(names)
    assert_array_equal(out.to_numpy(), model.hidden_activations(X, layer=0))
    with pytest.raises(ValueError, match="input_features is not equal to feature_names_in_"):
        features.get_feature_names_out(["a", "b", "c", "d", "e", "f"])


def test_a_search_chooses_the_layer():
    model, X, y = _fitted(BPClassifier)
    pipe = make_pipeline(HiddenFeatures(FrozenEstimator(model)), LogisticRegression())
    search = GridSearchCV(pipe, {"hiddenfeatures__layer": [0, 1, 2]}, cv=3).fit(X, y)
    assert search.best_params_["hiddenfeatures__layer"] in (0, 1, 2)
    widths = {
        layer: HiddenFeatures(FrozenEstimator(model), layer=layer).fit(X).transform(X).shape[1]
        for layer in (0, 1, 2)
    }
    assert widths == {0: 7, 1: 5, 2: 3}


def test_fit_parameters_reach_the_network():
    X, y = classification_data(n_samples=80, n_features=6)
    weights = np.linspace(0.1, 2.0, X.shape[0])
    features = quiet_fit(HiddenFeatures(BPClassifier(**NETWORK)), X, y, sample_weight=weights)
    network = quiet_fit(BPClassifier(**NETWORK), X, y, sample_weight=weights)
    assert_array_equal(features.transform(X), network.hidden_activations(X))


def test_fit_parameters_are_routed_when_routing_is_enabled():
    import sklearn

    X, y = classification_data(n_samples=80, n_features=6)
    weights = np.linspace(0.1, 2.0, X.shape[0])
    with sklearn.config_context(enable_metadata_routing=True):
        network = BPClassifier(**NETWORK).set_fit_request(sample_weight=True)
        scaler = StandardScaler().set_fit_request(sample_weight=False)
        pipe = make_pipeline(HiddenFeatures(network), scaler)
        quiet_fit(pipe, X, y, sample_weight=weights)
        unrequested = make_pipeline(HiddenFeatures(BPClassifier(**NETWORK)), clone(scaler))
        with pytest.raises(Exception, match="sample_weight"):
            quiet_fit(unrequested, X, y, sample_weight=weights)
    expected = quiet_fit(BPClassifier(**NETWORK), X, y, sample_weight=weights)
    assert_array_equal(pipe[0].transform(X), expected.hidden_activations(X))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layer", [0, -1])
def test_onnx_export_gives_the_same_features(dtype, layer):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("skl2onnx")
    from bpnet.onnx import to_onnx

    model, X, y = _fitted(BPClassifier)
    X = X.astype(dtype)
    features = HiddenFeatures(FrozenEstimator(model), layer=layer).fit(X, y)
    session = ort.InferenceSession(
        to_onnx(features, X[:1]).SerializeToString(), providers=["CPUExecutionProvider"]
    )
    (got,) = session.run(None, {session.get_inputs()[0].name: X})
    assert got.dtype == dtype
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    expected = features.transform(X)
    assert_allclose(got, expected, rtol=rtol, atol=rtol * np.abs(expected).max())
    # And as the first step of a pipeline.
    pipe = make_pipeline(features, StandardScaler(), LogisticRegression()).fit(X, y)
    session = ort.InferenceSession(
        to_onnx(pipe, X[:1], options={LogisticRegression: {"zipmap": False}}).SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    labels, _ = session.run(None, {session.get_inputs()[0].name: X})
    assert np.mean(labels == pipe.predict(X)) == 1.0
