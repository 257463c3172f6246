"""
===================================================
Watching a fit with scikit-learn's callbacks
===================================================

bpnet's estimators speak scikit-learn's callback API (``set_callbacks``, scikit-learn
1.9): a fit is a task whose subtasks are its epochs, and after each epoch the callbacks
are handed the training data and the model as it stands. scikit-learn's
:class:`~sklearn.callback.ProgressBar` draws a progress bar (it needs ``rich``), and
its :class:`~sklearn.callback.ScoringMonitor` computes any scorer after every epoch, so a
long fit can be followed in metrics other than the loss it minimises.
"""

# %%
# A fit with two callbacks
# ------------------------
import warnings

import matplotlib.pyplot as plt
from sklearn.callback import ProgressBar, ScoringMonitor
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)

monitor = ScoringMonitor(scoring=["accuracy", "neg_log_loss"])
model = BPClassifier(hidden_layer_sizes=(32,), max_iter=40, random_state=0)
model.set_callbacks(ProgressBar(), monitor)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X, y)

# %%
# The scores of each epoch
# ------------------------
# ``get_logs()`` returns the most recent fit's log; its ``data`` holds one row per task:
# the fit itself, then one per epoch (``task_name == "epoch"``), each with the scores.
log = monitor.get_logs()
epochs = [row for row in log.data if row["task_name"] == "epoch"]
accuracy = [row["accuracy"] for row in epochs]
log_loss = [-row["neg_log_loss"] for row in epochs]
print(f"{len(epochs)} epochs; training accuracy after the last: {accuracy[-1]:.3f}")

fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(log_loss, label="log-loss (ScoringMonitor)")
ax.plot(model.loss_curve_, "--", label="loss_curve_ (mean over the epoch's batches)")
ax.set(xlabel="epoch", ylabel="loss")
ax.legend(loc="center right")
accuracy_axis = ax.twinx()
accuracy_axis.plot(accuracy, color="tab:green", label="accuracy (ScoringMonitor)")
accuracy_axis.set_ylabel("training accuracy", color="tab:green")
ax.set_title("Scores after each epoch")
fig.tight_layout()
plt.show()
