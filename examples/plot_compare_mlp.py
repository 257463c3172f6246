"""
=====================================
bpnet against scikit-learn's MLP
=====================================

:class:`~bpnet.BPClassifier` takes the parameters of scikit-learn's
:class:`~sklearn.neural_network.MLPClassifier` and, for the same ``random_state``, trains
the same network: the same initial weights, the same shuffles, and a loss curve equal to
a relative 1e-7. Only the time per epoch differs, because bpnet runs each epoch in one
call into Cython kernels instead of a Python loop over minibatches.
"""

# %%
# The same settings on both sides
# --------------------------------
# Digits, standardised, one hidden layer of 100 units, SGD with minibatches of 32 rows.
# Both fit for a fixed number of epochs, so the loss curves can be compared epoch by
# epoch (``tol=0`` and ``n_iter_no_change`` as large as ``max_iter`` keep both from
# stopping early).
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)

settings = dict(
    hidden_layer_sizes=(100,),
    solver="sgd",
    batch_size=32,
    learning_rate_init=0.01,
    max_iter=30,
    tol=0.0,
    n_iter_no_change=30,
    random_state=0,
)


def timed_fit(estimator):
    """Fit the estimator and return it with the median time of one epoch over 3 fits."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        with warnings.catch_warnings():
            # max_iter ends these fits on purpose.
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(X, y)
        times.append((time.perf_counter() - start) / estimator.n_iter_)
    return estimator, np.median(times)


ours, ours_epoch = timed_fit(BPClassifier(**settings))
theirs, theirs_epoch = timed_fit(MLPClassifier(**settings))

# %%
# The same loss curve
# -------------------
# The largest relative difference between the two curves, epoch by epoch, is far below
# what a plot can show.
ours_curve = np.asarray(ours.loss_curve_)
theirs_curve = np.asarray(theirs.loss_curve_)
print(f"largest relative difference: {np.max(np.abs(ours_curve / theirs_curve - 1)):.1e}")
print(f"same predictions: {np.array_equal(ours.predict(X), theirs.predict(X))}")

# %%
# Time per epoch
# --------------
# Timings on a shared machine are noisy; the committed benchmarks (see the
# performance page of the user guide) interleave many repetitions.
print(f"bpnet: {1e3 * ours_epoch:.2f} ms per epoch, MLP: {1e3 * theirs_epoch:.2f} ms")
print(f"speedup: {theirs_epoch / ours_epoch:.1f}x")

fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
epochs = np.arange(1, len(ours_curve) + 1)
left.plot(epochs, theirs_curve, lw=4, alpha=0.4, label="MLPClassifier")
left.plot(epochs, ours_curve, "k--", label="BPClassifier")
left.set(xlabel="epoch", ylabel="training loss", title="Loss curves")
left.legend()
right.bar(["MLPClassifier", "BPClassifier"], [1e3 * theirs_epoch, 1e3 * ours_epoch])
right.set(ylabel="ms per epoch", title="Time per epoch (median of 3 fits)")
fig.tight_layout()
plt.show()
