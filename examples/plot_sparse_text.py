"""
=====================================
Sparse text classification
=====================================

:class:`~sklearn.feature_extraction.text.TfidfVectorizer` turns documents into a sparse
matrix with one column per word; :class:`~bpnet.BPClassifier` trains on it as it is, in
CSR form, without ever making it dense (its kernels read the non-zero entries of each
row). The corpus here is made up on the spot from a few topic vocabularies, so the
example downloads nothing.
"""

# %%
# A made-up corpus
# ----------------
# Each document draws most of its words from its topic's vocabulary and the rest from
# words every topic uses, so topics overlap and some documents are hard to place.
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import ConfusionMatrixDisplay
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline

from bpnet import BPClassifier

topics = {
    "sport": "match goal team coach season league player score win referee stadium cup",
    "science": "cell energy theory experiment atom gene climate data lab physics species",
    "finance": "market stock bank rate price fund profit loss investor bond tax trade",
    "cooking": "recipe oven flour sugar butter salt garlic sauce bake pan onion dough",
}
shared = (
    "the a of and to in is it that for on with as was new year people time work day "
    "data score rate win loss energy"
).split()

rng = np.random.RandomState(0)
documents, labels = [], []
for _ in range(1500):
    topic = rng.choice(list(topics))
    vocabulary = topics[topic].split()
    n_words = rng.randint(5, 20)
    from_topic = rng.rand(n_words) < 0.2
    words = np.where(from_topic, rng.choice(vocabulary, n_words), rng.choice(shared, n_words))
    documents.append(" ".join(words))
    labels.append(topic)

print(documents[0], "->", labels[0])
docs_train, docs_test, y_train, y_test = train_test_split(
    documents, labels, stratify=labels, random_state=0
)

# %%
# Tf-idf features into the network
# --------------------------------
model = make_pipeline(
    TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True),
    BPClassifier(hidden_layer_sizes=(32,), max_iter=50, random_state=0),
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    model.fit(docs_train, y_train)

features = model[0].transform(docs_train)
print(
    f"{features.shape[1]} features, {features.nnz / np.prod(features.shape):.1%} of the "
    f"entries non-zero, stored as {type(features).__name__}"
)
print(f"test accuracy: {model.score(docs_test, y_test):.3f}")

# %%
# Which topics get confused
# -------------------------
fig, ax = plt.subplots(figsize=(5.5, 5))
ConfusionMatrixDisplay.from_estimator(model, docs_test, y_test, ax=ax, colorbar=False)
ax.set_title("BPClassifier on tf-idf features")
fig.tight_layout()
plt.show()
