"""
===================================================
Tuning a pipeline with GridSearchCV
===================================================

:class:`~bpnet.BPClassifier` is a scikit-learn estimator like any other: it goes in a
:class:`~sklearn.pipeline.Pipeline` after a scaler, its parameters are searched with
:class:`~sklearn.model_selection.GridSearchCV` under the step's name
(``bpclassifier__alpha``), and the search clones and refits it as it would an
``MLPClassifier``.
"""

# %%
# The pipeline and the grid
# -------------------------
# Neural networks want standardised inputs, so the scaler is part of the pipeline and is
# fitted on each training fold only. The grid crosses the L2 penalty ``alpha`` with the
# width of the hidden layer.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)

pipeline = make_pipeline(StandardScaler(), BPClassifier(max_iter=40, random_state=0))
alphas = [1e-4, 1e-2, 1.0, 10.0]
widths = [(8,), (32,), (128,)]
search = GridSearchCV(
    pipeline,
    {"bpclassifier__alpha": alphas, "bpclassifier__hidden_layer_sizes": widths},
    cv=3,
)
with warnings.catch_warnings():
    # 40 epochs are enough to rank the settings; most fits stop at max_iter.
    warnings.simplefilter("ignore", ConvergenceWarning)
    search.fit(X_train, y_train)

print("best parameters:", search.best_params_)
print(f"cross-validated accuracy: {search.best_score_:.3f}")
print(f"test accuracy of the refitted pipeline: {search.score(X_test, y_test):.3f}")

# %%
# The scores of the grid
# ----------------------
# ``cv_results_`` lists the settings in the order of the grid (``alpha`` varies
# slowest), so the mean scores reshape into a table of alpha against width.
scores = search.cv_results_["mean_test_score"].reshape(len(alphas), len(widths))

fig, ax = plt.subplots(figsize=(6, 4))
image = ax.imshow(scores, cmap="viridis")
ax.set_xticks(range(len(widths)), [str(w) for w in widths])
ax.set_yticks(range(len(alphas)), [str(a) for a in alphas])
ax.set(xlabel="hidden_layer_sizes", ylabel="alpha", title="Mean cross-validated accuracy")
for (row, column), score in np.ndenumerate(scores):
    ax.text(column, row, f"{score:.3f}", ha="center", va="center", color="w")
fig.colorbar(image)
fig.tight_layout()
plt.show()
