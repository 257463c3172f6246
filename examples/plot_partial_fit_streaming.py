"""
=================================
Streaming with ``partial_fit``
=================================

When the data arrive in pieces, or do not fit in memory at once, ``partial_fit`` trains
on one chunk at a time: each call is one epoch over the chunk it is given, with the
optimizer's state (Adam's moments, SGD's velocity) carried from call to call. The first
call must name every class the stream may contain.

Here a stream of chunks comes from a generator; after each chunk the model is scored on
a held-out set, and a :class:`~sklearn.preprocessing.StandardScaler` learns the scaling
from the stream as well, with its own ``partial_fit``.
"""

# %%
# A stream of chunks
# ------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier

X, y = make_classification(
    n_samples=32_000,
    n_features=40,
    n_informative=20,
    n_classes=5,
    n_clusters_per_class=2,
    random_state=0,
)
X = X * 10 + 3  # features far from standardised, as raw data often are
X_stream, y_stream = X[:30_000], y[:30_000]
X_test, y_test = X[30_000:], y[30_000:]
classes = np.unique(y)


def chunks(size=1000):
    """Yield the stream's rows a chunk at a time, as a reader of a large file would."""
    for start in range(0, len(X_stream), size):
        yield X_stream[start : start + size], y_stream[start : start + size]


# %%
# Training chunk by chunk
# -----------------------
scaler = StandardScaler()
model = BPClassifier(hidden_layer_sizes=(64,), learning_rate_init=0.003, random_state=0)
seen, accuracy = [], []
for X_chunk, y_chunk in chunks():
    scaler.partial_fit(X_chunk)
    model.partial_fit(scaler.transform(X_chunk), y_chunk, classes=classes)
    seen.append(model.t_)
    accuracy.append(model.score(scaler.transform(X_test), y_test))

print(f"{len(seen)} chunks, {model.t_} rows seen, final test accuracy {accuracy[-1]:.3f}")

# %%
# Accuracy as the stream goes by
# ------------------------------
fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(seen, accuracy, marker="o", ms=3)
ax.set(xlabel="rows seen (t_)", ylabel="held-out accuracy", title="BPClassifier.partial_fit")
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
