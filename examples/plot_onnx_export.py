"""
==========================================
Deploying a fitted network with ONNX
==========================================

Importing :mod:`bpnet.onnx` registers bpnet's own converters with skl2onnx, so a fitted
:class:`~bpnet.BPClassifier`, alone or inside a Pipeline, exports to an ONNX graph that
onnxruntime runs without Python, scikit-learn or bpnet. Here a scaler and a network with
a different activation on each hidden layer are exported together; onnxruntime's
probabilities match ``predict_proba`` to float32 precision, and its labels match
``predict`` exactly.
"""

# %%
# Train a pipeline
# ----------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
import onnxruntime as ort
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier
from bpnet.onnx import to_onnx

X, y = load_digits(return_X_y=True)
X = X.astype(np.float32)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)
model = make_pipeline(
    StandardScaler(),
    BPClassifier(hidden_layer_sizes=(64, 32), activation=["gelu", "relu"], max_iter=60,
                 random_state=0),
)  # fmt: skip
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(X_train, y_train)

# %%
# Export and run with onnxruntime
# -------------------------------
# ``zipmap=False`` returns the probabilities as one array rather than a list of dicts.
onnx_model = to_onnx(model, X_train[:1], zipmap=False)
session = ort.InferenceSession(onnx_model.SerializeToString(), providers=["CPUExecutionProvider"])
labels, probabilities = session.run(None, {session.get_inputs()[0].name: X_test})

expected = model.predict_proba(X_test)
print("labels identical:", np.array_equal(labels, model.predict(X_test)))
print("largest probability difference:", np.abs(probabilities - expected).max())

# %%
# Compare the probabilities
# -------------------------
fig, ax = plt.subplots(figsize=(5, 5))
ax.loglog(expected.ravel(), probabilities.ravel(), ".", markersize=2)
ax.plot([1e-8, 1], [1e-8, 1], color="grey", linewidth=0.8)
ax.set_xlabel("bpnet predict_proba")
ax.set_ylabel("onnxruntime")
ax.set_title("The exported pipeline's probabilities")
plt.show()
