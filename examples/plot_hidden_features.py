"""
============================================
A fitted network's hidden layer as features
============================================

:class:`~bpnet.HiddenFeatures` turns a hidden layer of a fitted network into a
transformer: its ``transform`` returns the layer's activations, which other models can
take as features. Wrapped in :class:`~sklearn.frozen.FrozenEstimator`, the network is
used as it is and never fitted again, so a pipeline built on it fits only the steps
that follow.

Here a network trained on half of the digits gives a 32-unit feature space in which a
nearest-neighbour classifier, given only five labelled digits per class from the other
half, does better than on the pixels, and the fewer the labels the more.
"""

# %%
# A network on half of the digits
# -------------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.frozen import FrozenEstimator
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bpnet import BPClassifier, HiddenFeatures

X, y = load_digits(return_X_y=True)
X_net, X_rest, y_net, y_rest = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_net)
network = BPClassifier(hidden_layer_sizes=(64, 32), early_stopping=True, random_state=0)
network.fit(scaler.transform(X_net), y_net)

# %%
# Few labels, two feature spaces
# ------------------------------
# On the other half, a nearest-neighbour classifier learns from 5 labelled digits per
# class and is scored on the rest: once on the standardised pixels, once on the last
# hidden layer (32 units) of the network. Both the scaler and the network are frozen,
# so fitting these pipelines fits the classifier alone.
X_labelled, X_test, y_labelled, y_test = train_test_split(
    X_rest, y_rest, train_size=50, stratify=y_rest, random_state=0
)
on_pixels = make_pipeline(FrozenEstimator(scaler), KNeighborsClassifier(n_neighbors=1))
on_hidden = make_pipeline(
    FrozenEstimator(scaler),
    HiddenFeatures(FrozenEstimator(network), layer=-1),
    KNeighborsClassifier(n_neighbors=1),
)
for name, model in [("pixels", on_pixels), ("hidden layer", on_hidden)]:
    model.fit(X_labelled, y_labelled)
    print(f"1-NN on the {name:12s}: test accuracy {model.score(X_test, y_test):.3f}")

# %%
# The hidden features have names, so ``set_output`` gives a DataFrame.
print(on_hidden[:-1].get_feature_names_out()[:4])

# %%
# Accuracy against the number of labels
# -------------------------------------
# The same two pipelines with 1 to 20 labelled digits per class, each the mean of five
# random draws of the labelled digits.
per_class = [1, 2, 5, 10, 20]
accuracy = {"pixels": [], "hidden layer": []}
for n in per_class:
    scores = {"pixels": [], "hidden layer": []}
    for seed in range(5):
        X_labelled, X_test, y_labelled, y_test = train_test_split(
            X_rest, y_rest, train_size=10 * n, stratify=y_rest, random_state=seed
        )
        for name, model in [("pixels", on_pixels), ("hidden layer", on_hidden)]:
            scores[name].append(model.fit(X_labelled, y_labelled).score(X_test, y_test))
    for name in accuracy:
        accuracy[name].append(np.mean(scores[name]))

fig, ax = plt.subplots(figsize=(6, 4))
for name, values in accuracy.items():
    ax.plot(per_class, values, marker="o", label=f"1-NN on the {name}")
ax.set(
    xscale="log",
    xticks=per_class,
    xticklabels=per_class,
    xlabel="labelled digits per class",
    ylabel="test accuracy (mean of 5 draws)",
    title="Nearest neighbours in the network's feature space",
)
ax.legend()
plt.show()
