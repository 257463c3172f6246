"""Property-based tests (hypothesis) over random small networks and data.

Hypothesis draws the structure (layer sizes, activations, loss, dtype, batch size,
whether samples are weighted, ...) and a seed; NumPy makes the arrays from the seed, so
every example is reproducible from what hypothesis prints.
"""

import warnings

import numpy as np
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import ConvergenceWarning

from bpnet import BPClassifier, BPRegressor
from bpnet._data import KernelInput
from bpnet._kernels import loss_function, loss_gradient
from bpnet._kernels import predict as predict_kernel
from bpnet._layout import NetworkLayout
from bpnet._training import DIVERGENCE_MESSAGE

from ._helpers import assert_same_model, central_differences

# derandomize: the same examples in every run, so that a run of CI cannot draw an example
# no run before it has seen (such as a network that diverges: see _fit_or_divergence).
SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True)

seeds = st.integers(0, 2**31 - 1)
hidden_layers = st.lists(st.integers(1, 6), min_size=0, max_size=3).map(tuple)
hidden_activations = st.sampled_from(["identity", "logistic", "tanh", "relu"])
dtypes = st.sampled_from([np.float32, np.float64])

# Each loss with its output activation, as the estimators pair them.
LOSSES = {
    "squared_error": "identity",
    "poisson": "exp",
    "log_loss": "softmax",
    "binary_log_loss": "logistic",
}


def _targets(loss, rng, n_samples, n_outputs):
    if loss == "squared_error":
        return rng.randn(n_samples, n_outputs)
    if loss == "poisson":
        return rng.poisson(1.5, size=(n_samples, n_outputs)).astype(float)
    if loss == "log_loss":
        return np.eye(n_outputs)[rng.randint(n_outputs, size=n_samples)]
    return rng.randint(2, size=(n_samples, n_outputs)).astype(float)


def _pre_activations(layout, params, X):
    """Every layer's pre-activation z, by a plain NumPy forward pass (float64)."""
    coefs, intercepts = layout.unpack(params)
    a, zs = X, []
    for coef, intercept, name in zip(coefs, intercepts, layout.activations):
        z = a @ coef + intercept
        zs.append(z)
        if name == "identity":
            a = z
        elif name == "relu":
            a = np.maximum(z, 0)
        elif name == "tanh":
            a = np.tanh(z)
        elif name == "logistic":
            a = 1 / (1 + np.exp(-z))
        elif name == "exp":
            a = np.exp(z)
        else:
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
    return zs, a


@settings(max_examples=200, **SETTINGS)
@given(
    seed=seeds,
    n_features=st.integers(1, 4),
    hidden=hidden_layers,
    activation=hidden_activations,
    loss=st.sampled_from(list(LOSSES)),
    n_outputs=st.integers(1, 3),
    n_samples=st.integers(1, 12),
    weighted=st.booleans(),
    alpha=st.sampled_from([0.0, 1e-3, 0.7]),
    chunk_rows=st.integers(1, 16),
)
def test_backprop_gradient_matches_finite_differences(
    seed, n_features, hidden, activation, loss, n_outputs, n_samples, weighted, alpha, chunk_rows
):
    if loss == "log_loss":
        n_outputs = max(n_outputs, 2)  # softmax over at least two classes
    rng = np.random.RandomState(seed)
    units = [n_features, *hidden, n_outputs]
    layout = NetworkLayout(units, [activation] * len(hidden) + [LOSSES[loss]])
    params = rng.uniform(-1, 1, layout.n_params)
    X = rng.randn(n_samples, n_features)
    Y = _targets(loss, rng, n_samples, n_outputs)
    sw = rng.uniform(0.1, 3.0, n_samples) if weighted else np.empty(0)

    zs, output = _pre_activations(layout, params, X)
    # ReLU has a kink at 0 where finite differences are meaningless: keep away from it.
    if activation == "relu" and hidden:
        assume(min(np.abs(z).min() for z in zs[:-1]) > 1e-3)
    # The log-losses clip probabilities at eps, where the loss is flat: stay inside.
    if "log_loss" in loss:
        assume(output.min() > 1e-6 and output.max() < 1 - 1e-6)

    x_args = KernelInput(X).x_args

    def loss_and_grad(p):
        grads = np.empty_like(p)
        value = loss_gradient(
            layout.table, loss_function(loss), alpha, p, *x_args, Y, sw, grads,
            layout.n_coefs, chunk_rows,
        )  # fmt: skip
        return value, grads

    _, grads = loss_and_grad(params)
    # Central differences: truncation error ~ step^2 |f'''| ~ 1e-12 and rounding error
    # ~ eps |f| / step ~ 1e-10 for these O(1) losses, far below the tolerance.
    numeric = central_differences(lambda p: loss_and_grad(p)[0], params, step=1e-6)
    assert_allclose(grads, numeric, rtol=1e-5, atol=1e-7)


def _estimator(kind, **params):
    return BPClassifier(**params) if kind == "classifier" else BPRegressor(**params)


def _data(kind, seed, n_samples, n_features, n_classes=3):
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    if kind == "classifier":
        y = np.arange(n_samples) % n_classes  # every class present
        rng.shuffle(y)
    else:
        y = X.sum(axis=1) + 0.1 * rng.randn(n_samples)
    return X, y


estimator_params = st.fixed_dictionaries(
    {
        "hidden_layer_sizes": hidden_layers,
        "activation": hidden_activations,
        "solver": st.sampled_from(["sgd", "adam"]),
        "batch_size": st.one_of(st.just("auto"), st.integers(1, 30)),
        "shuffle": st.booleans(),
        "learning_rate_init": st.sampled_from([1e-3, 1e-2]),
        "alpha": st.sampled_from([0.0, 1e-4, 1e-1]),
        "random_state": st.integers(0, 1000),
    }
)


def _quiet(method, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        # batch_size above n_samples is clipped with a warning, as in scikit-learn.
        warnings.filterwarnings("ignore", message="Got `batch_size`")
        return method(*args, **kwargs)


def _fit_or_divergence(estimator, X, y, sample_weight):
    """The fitted estimator, or the message of the divergence it raised: some of the
    generated networks diverge (a chain of identity layers of one unit at a rate of 1e-2
    does, in MLP as in bpnet), which is a defined outcome, not a failure."""
    try:
        return _quiet(estimator.fit, X, y, sample_weight=sample_weight)
    except ValueError as error:
        if not str(error).startswith(DIVERGENCE_MESSAGE):
            raise
        return "diverged: " + str(error)


@settings(max_examples=80, **SETTINGS)
@given(
    kind=st.sampled_from(["classifier", "regressor"]),
    params=estimator_params,
    seed=seeds,
    n_samples=st.integers(6, 40),
    dtype=dtypes,
    weighted=st.booleans(),
    early_stopping=st.booleans(),
)
@example(  # diverges in its third epoch, as MLPRegressor does
    kind="regressor",
    params={
        "hidden_layer_sizes": (1, 1, 4),
        "activation": "identity",
        "solver": "sgd",
        "batch_size": 1,
        "shuffle": False,
        "learning_rate_init": 0.01,
        "alpha": 0.0,
        "random_state": 483,
    },  # fmt: skip
    seed=0,
    n_samples=6,
    dtype=np.float32,
    weighted=False,
    early_stopping=False,
)
def test_same_seed_gives_the_same_model(
    kind, params, seed, n_samples, dtype, weighted, early_stopping
):
    if early_stopping:
        n_samples = max(n_samples, 30)  # room for a validation set
    X, y = _data(kind, seed, n_samples, 3)
    X = X.astype(dtype)
    sw = np.random.RandomState(seed).uniform(0.2, 2.0, n_samples) if weighted else None
    params = {**params, "max_iter": 4, "early_stopping": early_stopping}
    a = _fit_or_divergence(_estimator(kind, **params), X, y, sw)
    b = _fit_or_divergence(_estimator(kind, **params), X, y, sw)
    if isinstance(a, str) or isinstance(b, str):
        assert a == b  # the same divergence, in the same epoch
        return
    assert_same_model(a, b)
    assert a.coefs_[0].dtype == dtype
    assert a.loss_curve_ == b.loss_curve_
    assert a.n_iter_ == b.n_iter_
    assert_array_equal(a.predict(X), b.predict(X))


# Predicting some rows at a time changes which BLAS code path (and so which summation
# order) computes each row, and therefore the last bits of float64 results. The
# tolerance allows that rounding, a few units in the last place of the inputs' scale.
ROWWISE_TOLERANCE = {
    np.float32: dict(rtol=1e-5, atol=1e-6),
    np.float64: dict(rtol=1e-13, atol=1e-14),
}


@settings(max_examples=80, **SETTINGS)
@given(
    kind=st.sampled_from(["classifier", "regressor"]),
    hidden=hidden_layers,
    activation=hidden_activations,
    seed=seeds,
    dtype=dtypes,
    n_rows=st.integers(1, 300),
    cuts=st.lists(st.floats(0, 1), max_size=5),
    chunk_rows=st.integers(1, 400),
)
def test_predictions_do_not_depend_on_batching(
    kind, hidden, activation, seed, dtype, n_rows, cuts, chunk_rows
):
    X, y = _data(kind, seed, 40, 5)
    est = _estimator(
        kind, hidden_layer_sizes=hidden, activation=activation, max_iter=5, random_state=0
    )
    _quiet(est.fit, X.astype(dtype), y)
    X_new = np.random.RandomState(seed + 1).randn(n_rows, 5).astype(dtype)
    full = est.predict_proba(X_new) if kind == "classifier" else est.predict(X_new)

    bounds = sorted({0, n_rows, *(int(c * n_rows) for c in cuts)})
    pieces = [
        est.predict_proba(X_new[lo:hi]) if kind == "classifier" else est.predict(X_new[lo:hi])
        for lo, hi in zip(bounds[:-1], bounds[1:])
    ]
    assert_allclose(np.concatenate(pieces), full, **ROWWISE_TOLERANCE[dtype])

    # The prediction kernel's own chunking.
    layout = est._layout()
    params = layout.pack(est.coefs_, est.intercepts_, dtype)
    out = np.empty((n_rows, layout.layer_units[-1]), dtype=dtype)
    predict_kernel(layout.table, params, *KernelInput(X_new).x_args, out, chunk_rows=chunk_rows)
    reference = np.empty_like(out)
    predict_kernel(layout.table, params, *KernelInput(X_new).x_args, reference, chunk_rows=n_rows)
    assert_allclose(out, reference, **ROWWISE_TOLERANCE[dtype])
    if kind == "regressor":
        expected = reference.ravel() if reference.shape[1] == 1 else reference
        assert_allclose(full, expected, **ROWWISE_TOLERANCE[dtype])
    # Single rows, one at a time, agree too.
    k = min(n_rows, 5)
    method = est.predict_proba if kind == "classifier" else est.predict
    single = np.concatenate([method(X_new[i : i + 1]) for i in range(k)])
    assert_allclose(single, full[:k], **ROWWISE_TOLERANCE[dtype])


@settings(max_examples=80, **SETTINGS)
@given(
    kind=st.sampled_from(["classifier", "regressor"]),
    params=estimator_params,
    seed=seeds,
    n_samples=st.integers(2, 40),
    dtype=dtypes,
    weighted=st.booleans(),
    learning_rate=st.sampled_from(["constant", "invscaling", "adaptive"]),
)
def test_one_partial_fit_equals_one_epoch_of_fit(
    kind, params, seed, n_samples, dtype, weighted, learning_rate
):
    """partial_fit seeds its RandomState from random_state on every call, as
    scikit-learn's does, so a first partial_fit draws the same initial weights and the
    same shuffle as fit with max_iter=1."""
    X, y = _data(kind, seed, n_samples, 3)
    X = X.astype(dtype)
    sw = np.random.RandomState(seed).uniform(0.2, 2.0, n_samples) if weighted else None
    params = {**params, "learning_rate": learning_rate}
    fitted = _quiet(_estimator(kind, max_iter=1, **params).fit, X, y, sample_weight=sw)
    extra = {"classes": np.unique(y)} if kind == "classifier" else {}
    incremental = _quiet(_estimator(kind, **params).partial_fit, X, y, sample_weight=sw, **extra)
    assert_same_model(incremental, fitted)
    assert incremental.loss_curve_ == fitted.loss_curve_
    assert incremental.t_ == fitted.t_ == n_samples
    assert_array_equal(incremental.predict(X), fitted.predict(X))


@settings(max_examples=80, **SETTINGS)
@given(
    kind=st.sampled_from(["classifier", "regressor"]),
    params=estimator_params,
    seed=seeds,
    n_samples=st.integers(2, 40),
    weight=st.sampled_from([0.25, 2.0, 8.0]),
)
def test_a_constant_sample_weight_changes_nothing_without_penalty(
    kind, params, seed, n_samples, weight
):
    """The loss is a weighted mean, so scaling every weight by a power of two (exact in
    floating point) gives bit-for-bit the same training when alpha=0."""
    X, y = _data(kind, seed, n_samples, 3)
    params = {**params, "alpha": 0.0, "max_iter": 3}
    plain = _quiet(_estimator(kind, **params).fit, X, y)
    sw = np.full(n_samples, weight)
    weighted = _quiet(_estimator(kind, **params).fit, X, y, sample_weight=sw)
    assert_same_model(weighted, plain)
    assert_allclose(weighted.loss_curve_, plain.loss_curve_, rtol=1e-15)


@settings(max_examples=80, **SETTINGS)
@given(
    kind=st.sampled_from(["classifier", "regressor"]),
    hidden=st.lists(st.integers(1, 8), min_size=1, max_size=2).map(tuple),
    activation=hidden_activations,
    solver=st.sampled_from(["sgd", "adam"]),
    seed=seeds,
    batch_size=st.sampled_from(["auto", 8]),
    weighted=st.booleans(),
)
def test_float32_stays_close_to_float64(
    kind, hidden, activation, solver, seed, batch_size, weighted
):
    X, y = _data(kind, seed, 50, 4)
    sw = np.random.RandomState(seed).uniform(0.5, 2.0, 50) if weighted else None
    params = dict(
        hidden_layer_sizes=hidden, activation=activation, solver=solver, batch_size=batch_size,
        learning_rate_init=1e-3, max_iter=2, random_state=seed % 1000,
    )  # fmt: skip
    a64 = _quiet(_estimator(kind, **params).fit, X, y, sample_weight=sw)
    a32 = _quiet(_estimator(kind, **params).fit, X.astype(np.float32), y, sample_weight=sw)
    assert a32.coefs_[0].dtype == np.float32 and a64.coefs_[0].dtype == np.float64
    # The initial weights are drawn in float64 and rounded (relative error 6e-8); each
    # of the <= 14 update steps, of size <= learning_rate_init = 1e-3, then adds a
    # float32-rounded gradient. Adam divides by sqrt(v) and so can amplify the relative
    # error of a small gradient, but a step never exceeds the rate, so the weights stay
    # within ~1e-6 in practice (measured); 1e-4 leaves a wide margin while still far
    # below the 1e-2 scale of the training's own changes.
    for w32, w64 in zip(a32.coefs_ + a32.intercepts_, a64.coefs_ + a64.intercepts_):
        assert_allclose(w32, w64, rtol=0, atol=1e-4)
    # Forward pass: float32 rounding over sums of a few terms of size O(1).
    X_test = np.random.RandomState(seed + 1).randn(30, 4)
    if kind == "classifier":
        got, expected = a32.predict_proba(X_test.astype(np.float32)), a64.predict_proba(X_test)
        assert_allclose(got, expected, atol=1e-4)
    else:
        got, expected = a32.predict(X_test.astype(np.float32)), a64.predict(X_test)
        assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    assert_allclose(a32.loss_curve_, a64.loss_curve_, rtol=1e-4)
