"""
=============================================
Training on a Dask cluster, block by block
=============================================

dask-ml's :class:`~dask_ml.wrappers.Incremental` trains a
:class:`~bpnet.BPClassifier` on a dask array by calling its ``partial_fit`` on one block
of rows after another, each call running on a worker of the cluster. Here the cluster is
a :class:`~distributed.LocalCluster` of two workers, the training rows come from a
``.npy`` file that the workers read block by block with :func:`bpnet.dask.from_npy`, and
the figure follows the training loss block after block and the held-out accuracy after
each pass over the data.
"""

# %%
# The data, in a ``.npy`` file
# ----------------------------
# 30,000 rows of a synthetic three-class problem. The training rows go to a file, as a
# data set too large for memory would be; :func:`~bpnet.dask.from_npy` makes a dask
# array of it in blocks of 2,000 rows. The task graph holds only the file's path: each
# worker memory-maps the file itself and reads the rows of the block it trains on.
import tempfile
from pathlib import Path

import dask.array as da
import matplotlib.pyplot as plt
import numpy as np
from dask_ml.wrappers import Incremental
from distributed import Client, LocalCluster
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier
from bpnet.dask import from_npy, predict_blocks

X, y = make_classification(
    n_samples=30_000,
    n_features=20,
    n_informative=12,
    n_classes=3,
    class_sep=0.8,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)

folder = tempfile.TemporaryDirectory()
np.save(Path(folder.name) / "X_train.npy", X_train)
np.save(Path(folder.name) / "y_train.npy", y_train)
block_rows = 2_000
X_blocks = from_npy(Path(folder.name) / "X_train.npy", chunks=(block_rows, X.shape[1]))
y_blocks = from_npy(Path(folder.name) / "y_train.npy", chunks=block_rows)
print(X_blocks)

# %%
# A cluster of two workers
# ------------------------
# On a real cluster, connect to its scheduler instead: ``Client("tcp://scheduler:8786")``.
# These two workers are threads of this process, which keeps the example self-contained;
# worker processes (``processes=True``, the default) need the code that starts them under
# ``if __name__ == "__main__":`` in a script, since each worker process imports the
# script again.
cluster = LocalCluster(
    n_workers=2,
    threads_per_worker=1,
    processes=False,
    dashboard_address="127.0.0.1:0",
)
client = Client(cluster)

# %%
# Five passes over the blocks
# ---------------------------
# Each ``partial_fit`` of :class:`~dask_ml.wrappers.Incremental` is one pass over the
# blocks: one ``partial_fit`` of the network per block, in an order shuffled by the
# wrapper's ``random_state`` (a RandomState, so that each pass has its own order). The
# network records the loss of each of its ``partial_fit`` calls in ``loss_curve_``.
incremental = Incremental(
    BPClassifier(hidden_layer_sizes=(64,), batch_size=200, random_state=0),
    shuffle_blocks=True,
    random_state=np.random.RandomState(0),
)
passes = 5
test_accuracy = []
for _ in range(passes):
    incremental.partial_fit(X_blocks, y_blocks, classes=np.unique(y))
    test_accuracy.append(incremental.score(X_test, y_test))
    print(f"pass {len(test_accuracy)}: test accuracy {test_accuracy[-1]:.3f}")

# %%
# Predictions of the trained network, on the cluster
# --------------------------------------------------
# :func:`~bpnet.dask.predict_blocks` maps ``predict_proba`` (or any prediction method,
# whatever the shape of its output) over the row blocks of a dask array.
X_test_blocks = da.from_array(X_test, chunks=(block_rows, X.shape[1]))
proba = predict_blocks(incremental.estimator_, X_test_blocks, method="predict_proba")
print(proba)
print("mean probability of the true class:", proba.compute()[np.arange(len(y_test)), y_test].mean())

# %%
# The loss block by block, and the accuracy pass by pass
# ------------------------------------------------------
blocks_per_pass = X_blocks.numblocks[0]
loss = incremental.estimator_.loss_curve_
fig, (loss_ax, accuracy_ax) = plt.subplots(1, 2, figsize=(10, 4))
loss_ax.plot(np.arange(1, len(loss) + 1), loss)
for boundary in range(blocks_per_pass, len(loss), blocks_per_pass):
    loss_ax.axvline(boundary + 0.5, color="0.8", linewidth=0.8)
loss_ax.set_xlabel("blocks trained on (grey lines: end of a pass)")
loss_ax.set_ylabel("training loss of the block")
loss_ax.set_title(f"Loss, {blocks_per_pass} blocks of {block_rows} rows per pass")
accuracy_ax.plot(np.arange(1, passes + 1), test_accuracy, marker="o")
accuracy_ax.set_xticks(np.arange(1, passes + 1))
accuracy_ax.set_xlabel("passes over the training blocks")
accuracy_ax.set_ylabel("accuracy on the held-out rows")
accuracy_ax.set_title("Held-out accuracy")
fig.tight_layout()
plt.show()

# %%
# Closing
# -------
client.close()
cluster.close()
folder.cleanup()
