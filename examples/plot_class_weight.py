"""
==============================================
An imbalanced problem with ``class_weight``
==============================================

When one class is rare, a network that minimises the average log-loss can afford to
neglect it. ``class_weight='balanced'`` (not in scikit-learn's MLP) weighs each class by
``n_samples / (n_classes * count)``, so that the rare class counts as much as the common
one in the loss. A fit with ``class_weight`` is exactly the fit with the equivalent
``sample_weight``; the dict form ``{label: weight}`` sets the weights by hand.
"""

# %%
# A rare class
# ------------
# Two overlapping classes in two dimensions, 5% of the rows in class 1.
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.inspection import DecisionBoundaryDisplay
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.model_selection import train_test_split

from bpnet import BPClassifier

X, y = make_classification(
    n_samples=2000,
    n_features=2,
    n_informative=2,
    n_redundant=0,
    n_clusters_per_class=1,
    weights=[0.95, 0.05],
    class_sep=0.8,
    random_state=3,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

# %%
# With and without class weights
# ------------------------------
models = {
    "class_weight=None": BPClassifier(hidden_layer_sizes=(16,), max_iter=300, random_state=0),
    "class_weight='balanced'": BPClassifier(
        hidden_layer_sizes=(16,), max_iter=300, random_state=0, class_weight="balanced"
    ),
}
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    for model in models.values():
        model.fit(X_train, y_train)

for name, model in models.items():
    predicted = model.predict(X_test)
    print(
        f"{name:24} recall of the rare class: {recall_score(y_test, predicted):.2f}, "
        f"balanced accuracy: {balanced_accuracy_score(y_test, predicted):.2f}"
    )

# %%
# The decision boundaries
# -----------------------
# Without weights the boundary hugs the rare class and leaves part of it on the wrong
# side; balanced weights move it out, trading some false alarms for many more hits.
fig, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharex=True, sharey=True)
for ax, (name, model) in zip(axes, models.items()):
    DecisionBoundaryDisplay.from_estimator(
        model, X, response_method="predict", alpha=0.3, cmap="coolwarm", ax=ax
    )
    ax.scatter(*X_test[y_test == 0].T, s=8, c="tab:blue", label="class 0")
    ax.scatter(*X_test[y_test == 1].T, s=12, c="tab:red", label="class 1 (rare)")
    ax.set_title(name)
axes[0].legend(loc="lower right")
fig.tight_layout()
plt.show()
