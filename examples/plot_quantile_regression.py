"""
=============================================
A prediction band with quantile regression
=============================================

``BPRegressor(loss='quantile', quantile=q)`` (not in scikit-learn's MLP) minimises the
pinball loss of the quantile ``q``, as
:class:`~sklearn.ensemble.HistGradientBoostingRegressor` does with the same parameters.
Its predictions estimate the ``q``-th quantile of the target given the features, so two
networks, for the 5% and the 95% quantiles, give a band that should hold about 90% of new
targets, wider where the noise is larger.
"""

# %%
# Noise that grows with x
# -----------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnet import BPRegressor

rng = np.random.RandomState(0)


def make_data(n_samples):
    x = rng.uniform(0, 10, n_samples)
    y = np.sin(x) * 2 + rng.normal(scale=0.1 + 0.15 * x)
    return x.reshape(-1, 1), y


X_train, y_train = make_data(2000)
X_test, y_test = make_data(2000)

# %%
# One network per quantile
# ------------------------
# Each network sits in a pipeline after a scaler. The pinball loss's gradient does not
# shrink near the optimum, so a modest learning rate and a fixed number of epochs
# (``n_iter_no_change`` as large as ``max_iter``) settle the quantiles best.
quantiles = [0.05, 0.5, 0.95]
models = {}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for q in quantiles:
        network = BPRegressor(
            loss="quantile",
            quantile=q,
            hidden_layer_sizes=(64, 64),
            learning_rate_init=0.003,
            max_iter=300,
            n_iter_no_change=300,
            random_state=0,
        )
        models[q] = make_pipeline(StandardScaler(), network).fit(X_train, y_train)

low = models[0.05].predict(X_test)
high = models[0.95].predict(X_test)
inside = np.mean((low <= y_test) & (y_test <= high))
print(f"share of new targets inside the 5%-95% band: {inside:.2f} (aim: 0.90)")
for q in quantiles:
    below = np.mean(y_test <= models[q].predict(X_test))
    print(f"quantile {q}: {below:.3f} of the new targets lie below its predictions")

# %%
# The band
# --------
grid = np.linspace(0, 10, 400).reshape(-1, 1)
fig, ax = plt.subplots(figsize=(8, 4.5))
ax.scatter(X_test.ravel(), y_test, s=4, c="0.6", label="new data")
ax.fill_between(
    grid.ravel(),
    models[0.05].predict(grid),
    models[0.95].predict(grid),
    alpha=0.3,
    label="5%-95% band",
)
ax.plot(grid.ravel(), models[0.5].predict(grid), "k", label="median (quantile=0.5)")
ax.set(xlabel="x", ylabel="y", title="BPRegressor(loss='quantile')")
ax.legend(loc="lower left")
fig.tight_layout()
plt.show()
