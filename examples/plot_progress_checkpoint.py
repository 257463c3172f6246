"""
=========================================
Progress and checkpoints in a long fit
=========================================

:mod:`bpnet.callbacks` has two callbacks for fits that take a while, set with
``set_callbacks`` like scikit-learn's own:

- :class:`~bpnet.callbacks.ProgressText` writes a line per epoch (the loss, the
  validation score, the time elapsed and left), for logs and terminals where
  scikit-learn's rich ``ProgressBar`` cannot draw; :func:`~bpnet.callbacks.progress`
  picks the bar on a terminal and the text elsewhere.
- :class:`~bpnet.callbacks.Checkpoint` writes the model to a file during the fit, every
  few epochs or whenever the validation score improves. Each write is atomic, so the
  file always holds a complete model, whenever the process dies; loaded, it predicts
  and continues training exactly as the model of that epoch.

:class:`~bpnet.LossCurveDisplay` then draws the loss curves of the fit.
"""

# %%
# A fit with progress lines and two checkpoints
# ---------------------------------------------
# One checkpoint every 10 epochs, one file each (``{epoch}`` in the name), and one file
# that always holds the best-scoring epoch so far.
import sys
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import skops.io
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier, LossCurveDisplay
from bpnet.callbacks import Checkpoint, ProgressText

X, y = load_digits(return_X_y=True)
X = StandardScaler().fit_transform(X)
folder = Path(tempfile.mkdtemp())

model = BPClassifier(
    hidden_layer_sizes=(64,),
    learning_rate_init=0.01,
    max_iter=30,
    early_stopping=True,
    n_iter_no_change=30,
    scoring="loss",
    random_state=0,
)
model.set_callbacks(
    ProgressText(file=sys.stdout),
    Checkpoint(folder / "model-{epoch}.skops", every=10),
    Checkpoint(folder / "best.skops", every=None, on_improvement=True),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X, y)

print(sorted(path.name for path in folder.iterdir()))

# %%
# Loading a checkpoint
# --------------------
# skops lists the types a file would create; review them, then pass the list as
# ``trusted``. The model of epoch 10 has the first 10 epochs of the fit's history and
# continues training from there, here with ``warm_start=True`` for 5 more epochs.
path = folder / "model-10.skops"
untrusted = skops.io.get_untrusted_types(file=path)
print("types to review:", untrusted)
at_epoch_10 = skops.io.load(path, trusted=untrusted)
print("epochs:", at_epoch_10.n_iter_)
print("same history:", np.array_equal(at_epoch_10.loss_curve_, model.loss_curve_[:10]))
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    at_epoch_10.set_params(warm_start=True, max_iter=5).fit(X, y)
print("history after 5 more epochs:", len(at_epoch_10.loss_curve_), "epochs")

path = folder / "best.skops"
best = skops.io.load(path, trusted=skops.io.get_untrusted_types(file=path))
print("epochs of the best checkpoint:", best.n_iter_)

# %%
# The loss curves
# ---------------
# With ``scoring='loss'`` early stopping watches the validation loss, and the display
# marks the epoch whose weights the model kept, the one ``best.skops`` holds.
fig, ax = plt.subplots(figsize=(7, 4))
LossCurveDisplay.from_estimator(model, ax=ax)
for epoch in (10, 20, 30):
    ax.axvline(epoch, color="k", lw=0.5, alpha=0.4)
ax.set_title("BPClassifier; thin lines: checkpoints every 10 epochs")
fig.tight_layout()
plt.show()
