"""
======================================
Learning-rate schedules for Adam
======================================

scikit-learn's MLP schedules the learning rate for ``solver='sgd'`` only: with Adam, the
default solver, ``learning_rate`` is ignored. bpnet's ``learning_rate_schedule`` applies
to both solvers, one rate per epoch, and ``warmup_iter`` starts any schedule with a
linear warm-up. The fitted ``learning_rate_curve_`` records the rate of every epoch.

This example draws the rate of each schedule, then trains Adam on the digits with a
constant rate and with a cosine schedule after five epochs of warm-up, and compares the
test accuracy epoch by epoch, averaged over five seeds.
"""

# %%
# The digits, standardised
# ------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

EPOCHS = 30
SEEDS = range(5)


def test_accuracy_per_epoch(seed, **params):
    """Train for EPOCHS epochs; return the test accuracy after each, and the model.

    With ``early_stopping=True`` and the test set given as validation data, the fit
    scores every epoch on it (``validation_scores_``); ``n_iter_no_change=EPOCHS``
    (unless ``params`` say otherwise) keeps it from stopping early, so the fit runs all
    its epochs.
    """
    params = dict(n_iter_no_change=EPOCHS, **params) if "n_iter_no_change" not in params else params
    model = BPClassifier(max_iter=EPOCHS, early_stopping=True, random_state=seed, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X_train, y_train, X_val=X_test, y_val=y_test)
    return np.array(model.validation_scores_), model


# %%
# The rate of each schedule
# -------------------------
# 'cosine' falls from ``learning_rate_init`` to 0 along half a cosine, here after five
# epochs of warm-up; 'onecycle' rises to ``learning_rate_init`` over the first 30% of
# the epochs, then falls; 'plateau' divides the rate by 5 after ``n_iter_no_change``
# epochs without improvement of the validation score (shortened to 3 here to show it).
schedules = {
    "None (constant)": dict(),
    "'cosine', warmup_iter=5": dict(learning_rate_schedule="cosine", warmup_iter=5),
    "'onecycle'": dict(learning_rate_schedule="onecycle"),
    "'plateau', n_iter_no_change=3": dict(learning_rate_schedule="plateau", n_iter_no_change=3),
}
rates = {
    name: test_accuracy_per_epoch(0, learning_rate_init=0.01, **params)[1].learning_rate_curve_
    for name, params in schedules.items()
}

# %%
# Constant against cosine
# -----------------------
# Three fits per seed: Adam with MLP's default constant rate (0.001), with a constant
# rate of 0.01, and with the cosine schedule peaking at 0.01 after five epochs of
# warm-up.
runs = {
    "constant 0.001 (MLP's default)": dict(),
    "constant 0.01": dict(learning_rate_init=0.01),
    "cosine 0.01, warmup_iter=5": dict(
        learning_rate_init=0.01, learning_rate_schedule="cosine", warmup_iter=5
    ),
}
curves = {
    name: np.mean([test_accuracy_per_epoch(seed, **params)[0] for seed in SEEDS], axis=0)
    for name, params in runs.items()
}
default_final = curves["constant 0.001 (MLP's default)"][-1]
cosine = curves["cosine 0.01, warmup_iter=5"]
reached = int(np.argmax(cosine >= default_final)) + 1
for name, curve in curves.items():
    print(f"{name:32s} test accuracy after {EPOCHS} epochs: {curve[-1]:.4f}")
print(
    f"the cosine schedule reaches the default's {EPOCHS}-epoch accuracy "
    f"({default_final:.4f}) after {reached} epochs"
)

# %%
# At equal peak rates
# -------------------
# The fair comparison holds the peak rate: constant against cosine at 0.01, 0.03 and
# 0.05, each the mean final test accuracy of five seeds. At 0.01 the two end level on
# the digits; the higher the rate, the more the constant rate's last epochs still jump
# around a minimum that the cosine schedule settles into.
for peak in (0.01, 0.03, 0.05):
    constant = np.mean(
        [test_accuracy_per_epoch(seed, learning_rate_init=peak)[0][-1] for seed in SEEDS]
    )
    annealed = np.mean(
        [
            test_accuracy_per_epoch(
                seed, learning_rate_init=peak, learning_rate_schedule="cosine", warmup_iter=5
            )[0][-1]
            for seed in SEEDS
        ]
    )
    print(f"peak {peak}: constant {constant:.4f}, cosine with warm-up {annealed:.4f}")

# %%
# The figure
# ----------
fig, (ax_rate, ax_accuracy) = plt.subplots(1, 2, figsize=(11, 4.2))
epochs = np.arange(1, EPOCHS + 1)
for name, curve in rates.items():
    ax_rate.plot(np.arange(1, len(curve) + 1), curve, label=name)
ax_rate.set(
    xlabel="epoch", ylabel="learning rate", title="learning_rate_curve_, learning_rate_init=0.01"
)
ax_rate.set_ylim(0, 0.0135)
ax_rate.legend(title="learning_rate_schedule", loc="upper right", ncol=2, fontsize="small")
# The cosine in the colour it has on the left.
for (name, curve), color in zip(curves.items(), ["C0", "C7", "C1"]):
    ax_accuracy.plot(epochs, curve, label=name, color=color)
ax_accuracy.axhline(default_final, color="grey", linestyle=":", linewidth=1)
ax_accuracy.axvline(reached, color="grey", linestyle=":", linewidth=1)
ax_accuracy.annotate(
    f"cosine reaches the default's\nfinal accuracy at epoch {reached}",
    xy=(reached, default_final),
    xytext=(reached + 3, default_final - 0.12),
    arrowprops=dict(arrowstyle="->", color="grey"),
)
ax_accuracy.set(
    xlabel="epoch",
    ylabel="test accuracy (mean of 5 seeds)",
    title="Adam on the digits",
    ylim=(0.6, 1.0),
)
ax_accuracy.legend(loc="lower right")
fig.tight_layout()
plt.show()
