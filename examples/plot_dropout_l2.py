"""
==================================================
Dropout against L2, with validation loss curves
==================================================

A wide network on a small, noisy problem learns its training set by heart: the training
loss keeps falling while the loss on held-out data turns back up. Two regularisers hold
it back: scikit-learn's L2 penalty ``alpha``, and ``dropout`` (not in scikit-learn's
MLP), which zeroes each hidden unit with the given probability during training.

``fit(X, y, X_val=..., y_val=...)`` with ``early_stopping=True`` scores every epoch on the
validation data you give it, and ``validation_loss_curve_`` records the validation loss
beside ``loss_curve_``; :class:`~bpnet.LossCurveDisplay` plots them. Here
``n_iter_no_change`` is as large as ``max_iter``, so every fit runs all its epochs and
the curves show the whole story (the fitted model keeps the best-scoring epoch's
weights).
"""

# %%
# A small, noisy problem
# ----------------------
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier, LossCurveDisplay

X, y = make_classification(
    n_samples=600, n_features=30, n_informative=6, flip_y=0.15, random_state=0
)
X_train, X_val, y_train, y_val = train_test_split(X, y, test_size=0.5, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_val = scaler.transform(X_train), scaler.transform(X_val)

# %%
# Three networks
# --------------
# The same network (two hidden layers of 256 units, Adam) without regularisation, with
# a strong L2 penalty, and with dropout on both hidden layers.
common = dict(
    hidden_layer_sizes=(256, 256),
    max_iter=60,
    early_stopping=True,
    n_iter_no_change=60,
    scoring="loss",
    random_state=0,
)
models = {
    "no regularisation": BPClassifier(**common),
    "alpha=3": BPClassifier(alpha=3.0, **common),
    "dropout=0.5": BPClassifier(dropout=0.5, **common),
}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for model in models.values():
        model.fit(X_train, y_train, X_val=X_val, y_val=y_val)

for name, model in models.items():
    print(
        f"{name:18} best validation loss {min(model.validation_loss_curve_):.3f}, "
        f"validation accuracy {model.score(X_val, y_val):.3f}"
    )

# %%
# The loss curves
# ---------------
# :class:`~bpnet.LossCurveDisplay` draws ``loss_curve_`` and ``validation_loss_curve_``
# and marks the epoch whose weights early stopping kept. ``loss_curve_`` includes the
# L2 term, ``validation_loss_curve_`` is the data loss alone, so with a large ``alpha``
# the training curve starts far above the data loss (off the top of the plot here).
# Without regularisation the validation loss climbs after a few epochs; L2 and dropout
# keep it down.
fig, axes = plt.subplots(1, 3, figsize=(12, 3.8), sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    LossCurveDisplay.from_estimator(model, ax=ax, name=name)
axes[0].set_ylim(0, 1.5)
fig.tight_layout()
plt.show()
