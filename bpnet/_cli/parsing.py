"""Parsing the command line: the parser of ``python -m bpnet`` and the types of its options."""

import argparse
import math

from .columns import MISSING_CATEGORY
from .loading import DATASETS, MAX_INFERRED_CLASSES
from .reading import SEP_NAMES

# --- option types: each raises ArgumentTypeError, which argparse turns into one line ---


def _hidden_sizes(text):
    """Hidden layer sizes from comma-separated positive integers (256,128)."""
    parts = [part.strip() for part in text.split(",")]
    if "" in parts:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 256,128, got {text!r}"
        )
    try:
        sizes = tuple(int(part) for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 256,128, got {text!r}"
        ) from None
    if min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"hidden sizes must be positive integers, got {text!r}")
    return sizes


def _batch_size(text):
    """'auto' or a positive integer."""
    if text == "auto":
        return text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected 'auto' or a positive integer, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"batch size must be positive, got {value}")
    return value


def _integer(text, low, high, expected):
    """``text`` as an integer from ``low`` up to (not including) ``high``."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not low <= value < high:
        raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
    return value


def _positive_int(text):
    """A positive integer."""
    return _integer(text, 1, math.inf, "a positive integer")


def _seed(text):
    """A seed NumPy accepts: an integer from 0 to 2**32 - 1."""
    return _integer(text, 0, 2**32, "an integer from 0 to 2**32 - 1 (as numpy seeds are)")


def _float(text, *, allow_zero):
    """A finite number above zero, or at least zero if ``allow_zero``."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise argparse.ArgumentTypeError(f"expected {kind} finite number, got {text!r}")
    return value


def _separator(text):
    """A delimiter: named (comma, semicolon, tab) or one character."""
    if text.lower() in SEP_NAMES:
        return SEP_NAMES[text.lower()]
    if len(text) != 1 or text in '"\r\n' or text.isalnum():
        raise argparse.ArgumentTypeError(
            f"expected comma, semicolon, tab or one character such as '|', got {text!r}"
        )
    return text


def _learning_rate(text):
    """A positive finite learning rate."""
    return _float(text, allow_zero=False)


def _alpha(text):
    """A non-negative finite L2 penalty."""
    return _float(text, allow_zero=True)


# What ``compare --help`` says before and after its options.
COMPARE_DESCRIPTION = (
    "Train bpnet and scikit-learn's MLP with identical settings and the same seed, "
    "and print their scores, fit times and the speedup. The data are split 75/25 "
    "(stratified for classification); numeric columns are standardised and text "
    "columns one-hot encoded (a Pipeline with a ColumnTransformer), and regression "
    "targets are standardised (TransformedTargetRegressor). The preprocessing is "
    "fitted once; only the estimators' fits are timed, interleaved, after an "
    "untimed one-epoch warm-up of each. Threads are the libraries' defaults unless "
    "--threads is given. The notes after the table say what was done to the data, "
    "and when a network's loss was still falling at the last epoch."
)
COMPARE_EPILOG = (
    "Your own data (--data): a CSV file's delimiter (comma, semicolon or tab) is "
    "detected from its first lines, and --sep sets it; semicolon- and "
    "tab-separated files may write decimal commas (3,5). Rows whose target is "
    "missing are dropped. A missing value in any other column is filled in, the "
    "same rule for numbers and text: numbers with the column's median over the "
    f"training rows, text with the category {MISSING_CATEGORY!r}; --drop-missing "
    "drops those rows instead. Columns that look like identifiers (text with more "
    "different values than half its rows, or whole numbers all different that "
    "run in order or fill a range) or dates (2007-11-11, 11/11/2007, with or "
    "without a time), and columns without a value, are left out with a note "
    "naming them; --keep-columns keeps them."
)


def build_parser():
    """The parser of ``python -m bpnet``: ``--version`` and the ``compare`` command."""
    parser = argparse.ArgumentParser(
        prog="python -m bpnet",
        description="bpnet: Cython-accelerated, scikit-learn compatible neural networks.",
    )
    parser.add_argument("--version", action="store_true", help="print bpnet's version and exit")
    commands = parser.add_subparsers(dest="command")
    compare = commands.add_parser(
        "compare",
        help="train BPClassifier/BPRegressor and MLPClassifier/MLPRegressor side by side",
        description=COMPARE_DESCRIPTION,
        epilog=COMPARE_EPILOG,
    )
    compare.set_defaults(parser=compare)
    _add_data_options(compare)
    _add_network_options(compare)
    _add_run_options(compare)
    return parser


def _add_options(group, options):
    """Add ``options`` (flag -> the keywords of ``add_argument``) to ``group``, in order."""
    for flag, settings in options.items():
        group.add_argument(flag, **settings)


def _add_data_options(compare):
    """The options that choose the data: a built-in dataset or a file, and how to read it."""
    source = {
        "--dataset": dict(
            choices=sorted(DATASETS), default="digits",
            help="built-in dataset (shipped with scikit-learn, no download); diabetes is a "
            "regression task (default: digits)",
        ),
        "--data": dict(
            metavar="FILE",
            help="a CSV file (or Parquet, named *.parquet, where pyarrow is installed) with "
            "a header row; needs pandas and --target",
        ),
    }  # fmt: skip
    _add_options(compare.add_mutually_exclusive_group(), source)
    reading = {
        "--target": dict(metavar="COLUMN", help="the column of --data to predict"),
        "--sep": dict(
            type=_separator, metavar="SEP",
            help="the delimiter of a --data CSV file: comma, semicolon, tab, or any one "
            "character (default: detected from the file's first lines)",
        ),
        "--drop-missing": dict(
            action="store_true",
            help="drop the rows of --data that have a missing value, instead of filling it in",
        ),
        "--keep-columns": dict(
            action="store_true",
            help="keep the columns of --data that look like identifiers or dates (left out "
            "by default, with a note naming them)",
        ),
        "--task": dict(
            choices=["auto", "classification", "regression"], default="auto",
            help="auto infers it from the target: text, booleans or at most "
            f"{MAX_INFERRED_CLASSES} distinct whole numbers are classes, other numbers a "
            "regression target (default: auto)",
        ),
    }  # fmt: skip
    _add_options(compare, reading)


def _add_network_options(compare):
    """The settings both contenders' estimators get."""
    network = {
        "--hidden": dict(
            type=_hidden_sizes, default=(100,), metavar="SIZES",
            help="hidden layer sizes, comma-separated, e.g. 256,128 (default: 100)",
        ),
        "--solver": dict(
            choices=["adam", "sgd", "lbfgs"], default="adam",
            help="weight optimizer (default: adam)",
        ),
        "--epochs": dict(
            type=_positive_int, default=50,
            help="max_iter: epochs for sgd/adam, iterations for lbfgs (default: 50)",
        ),
        "--batch-size": dict(
            type=_batch_size, default="auto",
            help="minibatch size, or 'auto' for min(200, n_samples) (default: auto)",
        ),
        "--learning-rate-init": dict(
            type=_learning_rate, default=0.001, metavar="RATE",
            help="initial learning rate of sgd and adam (default: 0.001)",
        ),
        "--alpha": dict(
            type=_alpha, default=0.0001,
            help="L2 penalty; raise it when lbfgs overfits a small dataset (default: 0.0001)",
        ),
        "--dtype": dict(
            choices=["float64", "float32"], default="float64",
            help="dtype of the training data and so of the weights (default: float64)",
        ),
    }  # fmt: skip
    _add_options(compare, network)


def _add_run_options(compare):
    """The options of the run: repetitions, threads, seed and output."""
    run = {
        "--repeats": dict(
            type=_positive_int, default=5,
            help="timed fits of each contender, interleaved; min and median are reported "
            "(default: 5)",
        ),
        "--threads": dict(
            type=_positive_int, metavar="N",
            help="run both contenders under threadpoolctl.threadpool_limits(N) (bpnet's own "
            "epoch threads follow that limit too); default: the libraries' defaults, which "
            "is what a user gets",
        ),
        "--random-state": dict(type=_seed, default=0, help="seed (default: 0)"),
        "--plot": dict(
            metavar="FILE.png",
            help="save both loss curves and the time per epoch, side by side (needs "
            "matplotlib)",
        ),
        "--json": dict(
            action="store_true",
            help="print one JSON object (settings, data, times, scores, speedup, BLAS and "
            "every note) instead of the table",
        ),
    }  # fmt: skip
    _add_options(compare, run)
