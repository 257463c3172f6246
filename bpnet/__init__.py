"""bpnet: Cython-accelerated, scikit-learn compatible backpropagation neural networks."""

try:
    from ._classes import BPClassifier, BPRegressor
    from ._display import LossCurveDisplay
    from ._hidden import HiddenFeatures
except ModuleNotFoundError as error:  # pragma: no cover - depends on how bpnet is run
    if error.name is None or not error.name.startswith("bpnet._"):
        raise
    raise ImportError(
        f"bpnet's compiled extension {error.name} is missing. This usually means Python "
        "imported the source directory instead of the installed package (for example "
        "when run from the repository root after 'pip install .'): install with "
        "'pip install -e .' or run from another directory."
    ) from error
from ._version import __version__

__all__ = ["BPClassifier", "BPRegressor", "HiddenFeatures", "LossCurveDisplay", "__version__"]
