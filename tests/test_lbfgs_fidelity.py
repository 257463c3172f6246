"""lbfgs follows MLP's whole path: the full-batch loss and gradient equal MLP's to the bit.

L-BFGS amplifies a last-bit difference in the loss or gradient into a different model
after a few hundred iterations, so "close" is not enough here: the kernel follows the
operations of ``MLP._loss_grad_lbfgs`` (NumPy's BLAS routine for each product, its exp
and tanh, its summation orders). Both sides run BLAS on one thread, as bpnet's lbfgs
does for these sizes; see docs/compatibility.rst for what is and is not exact.
"""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.datasets import make_circles, make_classification, make_moons, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from bpnet import BPClassifier, BPRegressor, _blas, _kernels, _numpy_math
from bpnet._data import KernelInput
from bpnet._layout import NetworkLayout

from ._helpers import hang_limit

# name: (output activation, bpnet's loss, number of outputs)
OUTPUTS = {
    "softmax3": ("softmax", "log_loss", 3),
    "softmax10": ("softmax", "log_loss", 10),
    "binary": ("logistic", "binary_log_loss", 1),
    "multilabel3": ("logistic", "binary_log_loss", 3),
    "regression1": ("identity", "squared_error", 1),
    "regression3": ("identity", "squared_error", 3),
    "poisson1": ("exp", "poisson", 1),
    "poisson2": ("exp", "poisson", 2),
}
HIDDEN = ["identity", "logistic", "tanh", "relu"]


def _targets(loss, k, n, rng):
    if loss == "log_loss":
        return np.eye(k)[rng.randint(k, size=n)]
    if loss == "binary_log_loss":
        return rng.randint(2, size=(n, k)).astype(float)
    if loss == "poisson":
        return rng.poisson(1.5, size=(n, k)).astype(float)
    return rng.randn(n, k)


def _mlp_primed(layer_units, hidden, output, loss, alpha):
    """An MLP whose _loss_grad_lbfgs can be called on packed weights directly."""
    if loss in ("log_loss", "binary_log_loss"):
        mlp = MLPClassifier(hidden_layer_sizes=layer_units[1:-1], activation=hidden, alpha=alpha)
    else:
        mlp = MLPRegressor(
            hidden_layer_sizes=layer_units[1:-1], activation=hidden, alpha=alpha, loss=loss
        )
    mlp.n_layers_ = len(layer_units)
    mlp.out_activation_ = output
    mlp.n_outputs_ = layer_units[-1]
    mlp.coefs_ = [None] * (len(layer_units) - 1)
    mlp.intercepts_ = [None] * (len(layer_units) - 1)
    mlp._coef_indptr, mlp._intercept_indptr, start = [], [], 0
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        mlp._coef_indptr.append((start, start + fan_in * fan_out, (fan_in, fan_out)))
        start += fan_in * fan_out
    for fan_out in layer_units[1:]:
        mlp._intercept_indptr.append((start, start + fan_out))
        start += fan_out
    return mlp


def _mlp_loss_grad(mlp, layer_units, packed, X, Y, sample_weight):
    activations = [X] + [None] * (len(layer_units) - 1)
    deltas = [None] * (len(layer_units) - 1)
    coef_grads = [np.empty((a, b)) for a, b in zip(layer_units[:-1], layer_units[1:])]
    intercept_grads = [np.empty(b) for b in layer_units[1:]]
    return mlp._loss_grad_lbfgs(
        packed.copy(), X, Y, sample_weight, activations, deltas, coef_grads, intercept_grads
    )


def _bpnet_loss_grad(layout, loss, alpha, packed, X, Y, sample_weight):
    data = KernelInput(X, Y, sample_weight)
    grads = np.empty_like(packed)
    value = _kernels.loss_gradient(
        layout.table,
        _kernels.loss_function(loss),
        alpha,
        packed.copy(),
        *data.x_args,
        data.Y,
        data.sample_weight,
        grads,
        layout.n_coefs,
    )
    return value, grads


def _numpys_and_scipys_blas_agree(n_rows, layer_units):
    """Whether NumPy's BLAS and SciPy's (bpnet's) give the same bits for this test's
    products: forward (rows x fan_in by fan_in x fan_out), backward (by the transpose)
    and gradient (transpose by rows x fan_out). NumPy and SciPy ship their own OpenBLAS;
    on x86-64 their kernels agree, elsewhere (aarch64) they may not."""
    rng = np.random.RandomState(1)
    with threadpool_limits(1):
        for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
            inputs, weights = rng.randn(n_rows, fan_in), rng.randn(fan_in, fan_out)
            delta = rng.randn(n_rows, fan_out)
            for trans_a, trans_b, a, b in [
                (False, False, inputs, weights),
                (False, True, delta, weights),
                (True, False, inputs, delta),
            ]:
                expected = (a.T if trans_a else a) @ (b.T if trans_b else b)
                got = np.empty_like(expected)
                _blas.product_py(trans_a, trans_b, a, b, got)
                if not np.array_equal(got, expected):
                    return False
    return True


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("output", sorted(OUTPUTS))
@pytest.mark.parametrize("hidden", HIDDEN)
@pytest.mark.parametrize(
    "shape", [(100, 2, (10, 10)), (1024, 20, (50, 30))], ids=["small", "chunk"]
)
def test_loss_and_gradient_equal_mlps_to_the_bit(shape, hidden, output, weighted):
    n, n_features, hidden_sizes = shape
    out_activation, loss, k = OUTPUTS[output]
    rng = np.random.RandomState(0)
    X = rng.randn(n, n_features)
    Y = _targets(loss, k, n, rng)
    sample_weight = rng.uniform(0.2, 3.0, n) if weighted else None
    layer_units = [n_features, *hidden_sizes, k]
    layout = NetworkLayout(layer_units, [hidden] * len(hidden_sizes) + [out_activation])
    bound = np.sqrt(6.0 / 20)
    packed = rng.uniform(-bound, bound, layout.n_params)
    mlp = _mlp_primed(layer_units, hidden, out_activation, loss, alpha=0.3)

    with threadpool_limits(1):
        expected_value, expected_grad = _mlp_loss_grad(
            mlp, layer_units, packed, X, Y, sample_weight
        )
        value, grad = _bpnet_loss_grad(layout, loss, 0.3, packed, X, Y, sample_weight)

    if loss == "squared_error" and k > 1:
        # bpnet's deliberate difference: the gradient of the loss it reports, which
        # scikit-learn's multi-output squared-error gradient is not (its issue #8349).
        expected_grad = None
    if _numpys_and_scipys_blas_agree(n, layer_units):
        assert value == expected_value
        if expected_grad is not None:
            assert_array_equal(grad, expected_grad)
    else:
        # The documented condition fails (docs/compatibility.rst, "Numerical fidelity"):
        # the two libraries' products differ in their last bits, and so may the loss
        # and gradient; a few units in the last place of each entry.
        assert value == pytest.approx(expected_value, rel=1e-13)
        if expected_grad is not None:
            np.testing.assert_allclose(grad, expected_grad, rtol=1e-12, atol=1e-15)


def _plot_mlp_alpha_datasets():
    """The three data sets of scikit-learn's plot_mlp_alpha.py gallery example."""
    X, y = make_classification(
        n_features=2, n_redundant=0, n_informative=2, random_state=0, n_clusters_per_class=1
    )
    X += 2 * np.random.RandomState(2).uniform(size=X.shape)
    datasets = {
        "moons": make_moons(noise=0.3, random_state=0),
        "circles": make_circles(noise=0.2, factor=0.5, random_state=1),
        "linearly_separable": (X, y),
    }
    # As the example does: standardise, then train on 60% of the rows.
    return {
        name: train_test_split(
            StandardScaler().fit_transform(X), y, test_size=0.4, random_state=42
        )[::2]
        for name, (X, y) in datasets.items()
    }


DATASETS = _plot_mlp_alpha_datasets()


def _fit_both(ours, theirs, X, y):
    with warnings.catch_warnings(), threadpool_limits(1):
        warnings.simplefilter("ignore", ConvergenceWarning)
        return ours.fit(X, y), theirs.fit(X, y)


@pytest.mark.parametrize("alpha", np.logspace(-1, 1, 5))
@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_converged_lbfgs_fits_are_mlps(dataset, alpha):
    """plot_mlp_alpha's fits: hundreds of iterations to convergence, the same model."""
    X, y = DATASETS[dataset]
    settings = dict(
        solver="lbfgs",
        alpha=alpha,
        random_state=1,
        max_iter=2000,
        early_stopping=True,
        hidden_layer_sizes=[10, 10],
    )
    ours, theirs = _fit_both(BPClassifier(**settings), MLPClassifier(**settings), X, y)
    assert ours.n_iter_ == theirs.n_iter_
    assert ours.loss_ == theirs.loss_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_array_equal(a, b)


@pytest.mark.parametrize(
    "activation, loss, n_outputs",
    [("tanh", "squared_error", 1), ("logistic", "poisson", 1), ("relu", "squared_error", 1)],
)
def test_converged_lbfgs_regressions_are_mlps(activation, loss, n_outputs):
    X, y = make_regression(n_samples=150, n_features=5, noise=5.0, random_state=0)
    X = StandardScaler().fit_transform(X)
    y = (y - y.mean()) / y.std()
    if loss == "poisson":
        y = np.random.RandomState(0).poisson(np.exp(0.5 * y))
    settings = dict(
        solver="lbfgs",
        activation=activation,
        loss=loss,
        alpha=1e-3,
        hidden_layer_sizes=(8, 6),
        max_iter=500,
        random_state=3,
    )
    ours, theirs = _fit_both(BPRegressor(**settings), MLPRegressor(**settings), X, y)
    assert theirs.n_iter_ > 100  # a long run, where any drift would have shown
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_array_equal(a, b)


def test_multiclass_lbfgs_fit_is_mlps():
    X, y = make_classification(
        n_samples=200, n_features=6, n_informative=4, n_classes=4, random_state=0
    )
    settings = dict(
        solver="lbfgs", activation="tanh", hidden_layer_sizes=(12,), max_iter=400, random_state=0
    )
    ours, theirs = _fit_both(BPClassifier(**settings), MLPClassifier(**settings), X, y)
    assert ours.n_iter_ == theirs.n_iter_
    for a, b in zip(ours.coefs_ + ours.intercepts_, theirs.coefs_ + theirs.intercepts_):
        assert_array_equal(a, b)
    assert_array_equal(ours.predict(X), theirs.predict(X))


# --- when NumPy's loops cannot be found ------------------------------------------------

# A NumPy whose exp and tanh have no float64 and float32 loops in their tables: the
# script gives numpy.exp and numpy.tanh object-only ufuncs (np.frompyfunc) while bpnet
# is imported, exactly what bpnet would find if NumPy registered those loops otherwise.
_WITHOUT_NUMPY_LOOPS = """
import math, sys, warnings
import numpy as np
import sklearn.neural_network  # imported while NumPy is whole

real_exp, real_tanh = np.exp, np.tanh
np.exp, np.tanh = np.frompyfunc(math.exp, 1, 1), np.frompyfunc(math.tanh, 1, 1)
try:
    import bpnet
    from bpnet import _numpy_math
finally:
    np.exp, np.tanh = real_exp, real_tanh
assert _numpy_math.USES_NUMPY_LOOPS is False

# bpnet's own loops: the C library's exp and tanh, which Python's math module calls too.
x = np.linspace(-30, 30, 2001)
for function, reference in ((_numpy_math.exp_py, math.exp), (_numpy_math.tanh_py, math.tanh)):
    values = x.copy()
    function(values)
    assert values.tolist() == [reference(v) for v in x], function
    single = x.astype(np.float32)
    expected = np.array([reference(float(v)) for v in single], dtype=np.float32)
    function(single)
    np.testing.assert_allclose(single, expected, rtol=2 * np.finfo(np.float32).eps)

# lbfgs still fits, close to MLP but no longer to the bit.
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
warnings.simplefilter("ignore", ConvergenceWarning)
X, y = load_digits(return_X_y=True)
X = X[:400] / 16
settings = dict(hidden_layer_sizes=(10,), activation="tanh", solver="lbfgs", max_iter=20,
                random_state=0)
ours = bpnet.BPClassifier(**settings).fit(X, y[:400])
theirs = MLPClassifier(**settings).fit(X, y[:400])
np.testing.assert_allclose(ours.loss_, theirs.loss_, rtol=1e-6)
print("fell back")
"""


def test_import_falls_back_to_bpnets_loops_when_numpys_are_missing():
    completed = subprocess.run(
        [sys.executable, "-c", _WITHOUT_NUMPY_LOOPS],
        capture_output=True, text=True, timeout=hang_limit(300),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["fell", "back"]


def test_numpys_loops_are_found_here():
    # Where they are (every NumPy bpnet is tested with), lbfgs can equal MLP to the bit.
    assert _numpy_math.USES_NUMPY_LOOPS is True
