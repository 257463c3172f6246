"""bpnet: Cython-accelerated, scikit-learn compatible backpropagation neural networks."""

from ._classes import BPClassifier, BPRegressor
from ._version import __version__

__all__ = ["BPClassifier", "BPRegressor", "__version__"]
