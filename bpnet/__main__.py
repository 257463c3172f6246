"""The command line: ``python -m bpnet compare`` trains bpnet and scikit-learn side by side."""

import argparse
import csv
import itertools
import json
import math
import os
import re
import sys
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

# The built-in datasets ship with scikit-learn, so the default run needs no download.
DATASETS = {
    "digits": "load_digits",
    "breast_cancer": "load_breast_cancer",
    "wine": "load_wine",
    "iris": "load_iris",
    "diabetes": "load_diabetes",
}

# A numeric target is taken for class labels when it holds whole numbers only and at most
# this many distinct values (digits has 10); anything else is a regression target.
MAX_INFERRED_CLASSES = 20

# Repetitions of one contender whose slowest fit takes more than BUSY_SPREAD times its
# fastest (and at least BUSY_MIN_SECONDS longer, so that timer noise on tiny fits does not
# count) mean that something else is competing for the cores. On an idle machine the
# repetitions agree within a few percent.
BUSY_SPREAD = 1.5
BUSY_MIN_SECONDS = 0.02
# A steady load can slow every repetition alike; a one-minute load average above this
# many runnable tasks per core, before the fits start, says so.
BUSY_LOAD_PER_CORE = 1.5

# A training score this far above the test score (accuracy or R^2) is worth a word.
OVERFIT_GAP = 0.3
# Epochs back over which the note on a loss still falling shows the fall.
LOSS_LOOKBACK = 5

# Variables that set thread counts before any code runs; shown when set.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "BPNET_NUM_THREADS",
    "BPNET_BLAS_THREADS",
)

# Reading CSV files: the delimiters detected (by the first SNIFF_LINES lines, which a
# delimiter must split into the same number of fields), and numbers written 3,5 in
# files separated by something else.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
SEP_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t"}
SNIFF_LINES = 50
DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")
DECIMAL_POINT = re.compile(r"[-+]?\d*\.\d+")
# Dates: 2007-11-11 (optionally with a time and zone), 11/11/2007, 11.11.07, 2007/11/11.
DATE = re.compile(
    r"(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?"
    r"|\d{4}/\d{1,2}/\d{1,2})"
)
# The category that missing text becomes.
MISSING_CATEGORY = "(missing)"

CONTENDERS = ("bpnet", "scikit-learn")
TEST_SIZE = 0.25
# Enough for two test rows (R^2 needs two) and a training set that is more than a row.
MIN_ROWS = 8


class CompareError(Exception):
    """A problem with the options or the data, reported as a one-line usage error."""


# --- option types: each raises ArgumentTypeError, which argparse turns into one line ---


def _hidden_sizes(text):
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


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"expected an integer from 0 to 2**32 - 1 (as numpy seeds are), got {text!r}"
        )
    return value


def _float(text, *, allow_zero):
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        kind = "a non-negative" if allow_zero else "a positive"
        raise argparse.ArgumentTypeError(f"expected {kind} finite number, got {text!r}")
    return value


def _separator(text):
    if text.lower() in SEP_NAMES:
        return SEP_NAMES[text.lower()]
    if len(text) != 1 or text in '"\r\n' or text.isalnum():
        raise argparse.ArgumentTypeError(
            f"expected comma, semicolon, tab or one character such as '|', got {text!r}"
        )
    return text


def _learning_rate(text):
    return _float(text, allow_zero=False)


def _alpha(text):
    return _float(text, allow_zero=True)


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m bpnet",
        description="bpnet: Cython-accelerated, scikit-learn compatible neural networks.",
    )
    parser.add_argument("--version", action="store_true", help="print bpnet's version and exit")
    commands = parser.add_subparsers(dest="command")
    compare = commands.add_parser(
        "compare",
        help="train BPClassifier/BPRegressor and MLPClassifier/MLPRegressor side by side",
        description=(
            "Train bpnet and scikit-learn's MLP with identical settings and the same seed, "
            "and print their scores, fit times and the speedup. The data are split 75/25 "
            "(stratified for classification); numeric columns are standardised and text "
            "columns one-hot encoded (a Pipeline with a ColumnTransformer), and regression "
            "targets are standardised (TransformedTargetRegressor). The preprocessing is "
            "fitted once; only the estimators' fits are timed, interleaved, after an "
            "untimed one-epoch warm-up of each. Threads are the libraries' defaults unless "
            "--threads is given. The notes after the table say what was done to the data, "
            "and when a network's loss was still falling at the last epoch."
        ),
        epilog=(
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
        ),
    )
    compare.set_defaults(parser=compare)
    source = compare.add_mutually_exclusive_group()
    source.add_argument(
        "--dataset", choices=sorted(DATASETS), default="digits",
        help="built-in dataset (shipped with scikit-learn, no download); diabetes is a "
        "regression task (default: digits)",
    )  # fmt: skip
    source.add_argument(
        "--data", metavar="FILE",
        help="a CSV file (or Parquet, named *.parquet, where pyarrow is installed) with a "
        "header row; needs pandas and --target",
    )  # fmt: skip
    compare.add_argument(
        "--target", metavar="COLUMN", help="the column of --data to predict",
    )  # fmt: skip
    compare.add_argument(
        "--sep", type=_separator, metavar="SEP",
        help="the delimiter of a --data CSV file: comma, semicolon, tab, or any one "
        "character (default: detected from the file's first lines)",
    )  # fmt: skip
    data_flags = {
        "--drop-missing": "drop the rows of --data that have a missing value, instead of "
        "filling it in",
        "--keep-columns": "keep the columns of --data that look like identifiers or dates "
        "(left out by default, with a note naming them)",
    }
    for flag, help_text in data_flags.items():
        compare.add_argument(flag, action="store_true", help=help_text)
    compare.add_argument(
        "--task", choices=["auto", "classification", "regression"], default="auto",
        help="auto infers it from the target: text, booleans or at most "
        f"{MAX_INFERRED_CLASSES} distinct whole numbers are classes, other numbers a "
        "regression target (default: auto)",
    )  # fmt: skip
    compare.add_argument(
        "--hidden", type=_hidden_sizes, default=(100,), metavar="SIZES",
        help="hidden layer sizes, comma-separated, e.g. 256,128 (default: 100)",
    )  # fmt: skip
    compare.add_argument(
        "--solver", choices=["adam", "sgd", "lbfgs"], default="adam",
        help="weight optimizer (default: adam)",
    )  # fmt: skip
    compare.add_argument(
        "--epochs", type=_positive_int, default=50,
        help="max_iter: epochs for sgd/adam, iterations for lbfgs (default: 50)",
    )  # fmt: skip
    compare.add_argument(
        "--batch-size", type=_batch_size, default="auto",
        help="minibatch size, or 'auto' for min(200, n_samples) (default: auto)",
    )  # fmt: skip
    compare.add_argument(
        "--learning-rate-init", type=_learning_rate, default=0.001, metavar="RATE",
        help="initial learning rate of sgd and adam (default: 0.001)",
    )  # fmt: skip
    compare.add_argument(
        "--alpha", type=_alpha, default=0.0001,
        help="L2 penalty; raise it when lbfgs overfits a small dataset (default: 0.0001)",
    )  # fmt: skip
    compare.add_argument(
        "--dtype", choices=["float64", "float32"], default="float64",
        help="dtype of the training data and so of the weights (default: float64)",
    )  # fmt: skip
    compare.add_argument(
        "--repeats", type=_positive_int, default=5,
        help="timed fits of each contender, interleaved; min and median are reported "
        "(default: 5)",
    )  # fmt: skip
    compare.add_argument(
        "--threads", type=_positive_int, metavar="N",
        help="run both contenders under threadpoolctl.threadpool_limits(N) (bpnet's own "
        "epoch threads follow that limit too); default: the libraries' defaults, which "
        "is what a user gets",
    )  # fmt: skip
    compare.add_argument("--random-state", type=_seed, default=0, help="seed (default: 0)")
    compare.add_argument(
        "--plot", metavar="FILE.png",
        help="save both loss curves and the time per epoch, side by side (needs matplotlib)",
    )  # fmt: skip
    compare.add_argument(
        "--json", action="store_true",
        help="print one JSON object (settings, data, times, scores, speedup, BLAS and "
        "every note) instead of the table",
    )  # fmt: skip
    return parser


# --- data -------------------------------------------------------------------------------


def infer_task(y):
    """``(task, reason)`` for a 1-d array of targets, by the rule ``--task auto`` states."""
    y = np.asarray(y)
    if y.dtype.kind == "b":
        return "classification", "booleans"
    if y.dtype.kind not in "iuf":
        return "classification", "text"
    distinct = np.unique(y)
    if not np.all(distinct == np.round(distinct)):
        return "regression", "fractional numbers"
    if len(distinct) > MAX_INFERRED_CLASSES:
        return "regression", f"{len(distinct)} distinct whole numbers (over {MAX_INFERRED_CLASSES})"
    return "classification", f"{len(distinct)} distinct whole numbers"


def _first_non_number(column, pandas):
    """A value that is not a number, if most of ``column``'s values are numbers."""
    values = column.dropna().astype(str)
    numbers = pandas.to_numeric(values, errors="coerce")
    bad = values[numbers.isna()]
    if len(bad) and len(values) - len(bad) >= len(bad):
        return bad.iloc[0]
    return None


def _load_builtin(name):
    from sklearn import datasets

    X, y = getattr(datasets, DATASETS[name])(return_X_y=True)
    description = {"source": name, "format": "built-in", "target": None}
    return X, y, list(range(X.shape[1])), [], description


def _note(notes, topic, text):
    """Add a note: printed after the table, and kept in --json's "notes"."""
    notes.append({"topic": topic, "text": text})


# --- reading a file ------------------------------------------------------------------------


def detect_delimiter(lines):
    """The delimiter of DELIMITERS that splits every sample line into the same number of
    fields, more than one (the most fields if several do); a comma if none does."""
    best, best_fields = ",", 1
    for delimiter in DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=delimiter) if row}
        if len(counts) == 1 and (fields := counts.pop()) > best_fields:
            best, best_fields = delimiter, fields
    return best


def detect_decimal(lines, delimiter):
    """',' when a file separated by something else writes its numbers with decimal commas
    (3,5 but never 3.5), else '.'."""
    if delimiter == ",":
        return "."
    fields = [field.strip() for row in csv.reader(lines[1:], delimiter=delimiter) for field in row]
    commas = sum(bool(DECIMAL_COMMA.fullmatch(field)) for field in fields)
    points = sum(bool(DECIMAL_POINT.fullmatch(field)) for field in fields)
    return "," if commas and not points else "."


def _sample_lines(path):
    """The first SNIFF_LINES complete lines of a text file (fewer if it is shorter)."""
    with open(path, encoding="utf-8", errors="replace", newline="") as file:
        lines = list(itertools.islice(file, SNIFF_LINES + 1))
    # A line cut by the sample's end would count fewer fields: leave it out.
    return lines[:SNIFF_LINES] if len(lines) > SNIFF_LINES else lines


def _read_table(path, sep, notes):
    try:
        import pandas
    except ImportError:
        raise CompareError(
            "--data needs pandas, which is not installed: pip install pandas"
        ) from None
    if not os.path.exists(path):
        raise CompareError(f"--data: no such file: {path}")
    if os.path.isdir(path):
        raise CompareError(f"--data: {path} is a directory, not a file")
    parquet = path.lower().endswith((".parquet", ".pq"))
    kind = "Parquet" if parquet else "CSV"
    reading = {}
    try:
        if parquet:
            frame = pandas.read_parquet(path)
        else:
            lines = _sample_lines(path)
            delimiter = sep if sep is not None else detect_delimiter(lines)
            decimal = detect_decimal(lines, delimiter)
            frame = pandas.read_csv(path, sep=delimiter, decimal=decimal)
            reading = {"delimiter": DELIMITERS.get(delimiter, delimiter), "decimal": decimal}
            if sep is None and delimiter != ",":
                with_decimal = " with decimal commas" if decimal == "," else ""
                _note(
                    notes, "delimiter",
                    f"read {Path(path).name} as {DELIMITERS[delimiter]}-separated values"
                    f"{with_decimal} (detected; --sep chooses another delimiter)",
                )  # fmt: skip
    except ImportError:
        raise CompareError(
            "--data: reading Parquet needs pyarrow, which is not installed: pip install pyarrow"
        ) from None
    except pandas.errors.EmptyDataError:
        raise CompareError(f"--data: {path} is empty") from None
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompareError(f"--data: cannot read {path} as {kind}: {first_line}") from None
    return pandas, frame, kind, reading


# --- columns ---------------------------------------------------------------------------------


def _looks_like_dates(values):
    """Whether every one of ``values`` (text, none missing) is a date, or a date and time."""
    if not len(values) or not all(DATE.fullmatch(value.strip()) for value in values):
        return False
    import pandas

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas warns when it parses element by element
        parsed = pandas.to_datetime(values, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def identifier_reason(column, pandas):
    """Why ``column`` looks like row identifiers, or None.

    Text whose distinct values outnumber half its rows (most one-hot columns would single
    out a row or two: nothing to learn from, only to memorise), or whole numbers that are
    all different and either run in order or fill a range (row numbers).
    """
    values = column.dropna()
    n, distinct = len(values), values.nunique()
    if n < MIN_ROWS:
        return None
    if pandas.api.types.is_bool_dtype(column):
        return None
    if pandas.api.types.is_numeric_dtype(column):
        numbers = values.to_numpy(dtype="float64")
        whole = np.all(numbers == np.round(numbers))
        in_order = values.is_monotonic_increasing or values.is_monotonic_decreasing
        if whole and distinct == n and (in_order or numbers.max() - numbers.min() == n - 1):
            return "whole numbers, all different" + (", in order" if in_order else ", a range")
        return None
    if distinct > n / 2:
        return f"{distinct} different values in {n} rows"
    return None


def date_reason(column, pandas):
    """Why ``column`` holds dates, or None."""
    if pandas.api.types.is_datetime64_any_dtype(column):
        return "dates"
    if pandas.api.types.is_numeric_dtype(column) or pandas.api.types.is_bool_dtype(column):
        return None
    if _looks_like_dates(column.dropna().astype(str).to_numpy()):
        return "dates"
    return None


def _as_numbers_if_numbers(column, name, pandas):
    """A text column whose values are all numbers, as float64; other columns as they are.
    A column of numbers with a stray word is refused."""
    if not (
        pandas.api.types.is_string_dtype(column)
        or pandas.api.types.is_object_dtype(column)
        or isinstance(column.dtype, pandas.CategoricalDtype)
    ):
        return column
    bad = _first_non_number(column, pandas)
    if bad is not None:
        raise CompareError(
            f"--data: column {name!r} holds numbers but also {bad!r}; fix or remove the "
            "values that are not numbers"
        )
    numbers = pandas.to_numeric(column.astype(str), errors="coerce")
    if numbers[column.notna()].notna().all():
        return numbers.where(column.notna()).astype("float64")
    return column


def column_roles(X, pandas, keep_columns):
    """``(numeric, categorical, left_out)``: the columns scaled, the columns one-hot
    encoded, and ``{name: reason}`` of those left out: columns without a value, and
    columns that look like identifiers or dates (unless ``keep_columns``)."""
    numeric, categorical, left_out = [], [], {}
    for name in X.columns:
        column = _as_numbers_if_numbers(X[name], name, pandas)
        if column.isna().all():
            left_out[name] = "no values"
            continue
        reason = date_reason(column, pandas) or identifier_reason(column, pandas)
        if reason is not None and not keep_columns:
            left_out[name] = reason
            continue
        if pandas.api.types.is_numeric_dtype(column):  # booleans too
            X[name] = column.astype("float64")
            numeric.append(name)
        elif (
            pandas.api.types.is_string_dtype(column)
            or pandas.api.types.is_object_dtype(column)
            or isinstance(column.dtype, pandas.CategoricalDtype)
            or pandas.api.types.is_datetime64_any_dtype(column)  # kept: as text
        ):
            # Missing text stays missing here: fill_missing_text gives it a category.
            X[name] = column.astype(object).where(column.isna(), column.astype(str))
            categorical.append(name)
        else:
            raise CompareError(
                f"--data: column {name!r} has type {column.dtype}; compare handles numeric, "
                "text and date columns"
            )
    for name in numeric:
        if np.isinf(X[name].to_numpy()).any():
            raise CompareError(f"--data: column {name!r} has infinite values")
    return numeric, categorical, left_out


def _describe_left_out(left_out):
    return "; ".join(f"{name!r} ({reason})" for name, reason in left_out.items())


def _left_out_note(left_out):
    return (
        f"left out {len(left_out)} column(s) that look like identifiers or dates, or hold "
        f"no value: {_describe_left_out(left_out)}. Encoded, they would give the network "
        "inputs to memorise rows by, not to learn from; --keep-columns keeps them"
    )


# --- missing values --------------------------------------------------------------------------


def handle_missing(X, y, columns, drop_rows, notes):
    """Apply the missing-value rule to the used ``columns``; return ``(X, y, summary)``.

    By default every missing value is filled in: numbers with the median of the column
    over the training rows (in the pipeline, so the test rows do not inform it), text
    with a category of its own, MISSING_CATEGORY. With ``drop_rows`` (--drop-missing),
    the rows holding one are dropped instead.
    """
    counts = {name: int(X[name].isna().sum()) for name in columns}
    counts = {name: count for name, count in counts.items() if count}
    rows = X[columns].isna().any(axis=1).to_numpy() if columns else np.zeros(len(X), bool)
    summary = {"columns": counts, "rows": int(rows.sum()), "rule": None}
    if not counts:
        return X, y, summary
    shown = ", ".join(f"{name!r} ({count})" for name, count in counts.items())
    if drop_rows:
        summary["rule"] = "drop"
        X, y = X[~rows], y[~rows]
        _note(
            notes, "missing",
            f"dropped {int(rows.sum())} row(s) with missing values (--drop-missing) in "
            f"{shown}",
        )  # fmt: skip
    else:
        summary["rule"] = "fill"
        _note(
            notes, "missing",
            f"{int(rows.sum())} row(s) have missing values, in {shown}: filled in, numbers "
            f"with the column's median over the training rows, text with the category "
            f"{MISSING_CATEGORY!r}; --drop-missing drops those rows instead",
        )  # fmt: skip
    return X, y, summary


def fill_missing_text(X, categorical):
    """Missing text becomes the category MISSING_CATEGORY (missing numbers are filled in
    by the pipeline's imputer)."""
    for name in categorical:
        X[name] = X[name].where(X[name].notna(), MISSING_CATEGORY).astype(str)
    return X


def _load_table(path, target, labels_only, args, notes):
    pandas, frame, kind, reading = _read_table(path, args.sep, notes)
    frame.columns = [str(name) for name in frame.columns]
    if target not in frame.columns:
        shown = ", ".join(repr(name) for name in frame.columns[:12])
        more = f" and {len(frame.columns) - 12} more" if len(frame.columns) > 12 else ""
        hint = ""
        if len(frame.columns) == 1 and kind == "CSV":
            hint = " (read as one column: --sep sets the delimiter)"
        raise CompareError(
            f"--target: {path} has no column {target!r}; its columns: {shown}{more}{hint}"
        )
    if len(frame) == 0:
        raise CompareError(f"--data: {path} has a header but no rows")
    if frame.shape[1] == 1:
        raise CompareError(f"--data: {path} has no columns besides the target {target!r}")

    missing_target = frame[target].isna().to_numpy()
    if missing_target.any():
        frame = frame[~missing_target]
        _note(
            notes, "missing",
            f"dropped {int(missing_target.sum())} row(s) whose target {target!r} is missing: "
            "they can be neither trained nor scored on",
        )  # fmt: skip

    X = frame.drop(columns=[target])
    numeric, categorical, left_out = column_roles(X, pandas, args.keep_columns)
    if left_out:
        _note(notes, "columns", _left_out_note(left_out))
    y = frame[target]
    X, y, missing = handle_missing(X, y, numeric + categorical, args.drop_missing, notes)
    X = fill_missing_text(X, categorical)

    if pandas.api.types.is_bool_dtype(y):
        y = y.to_numpy(dtype=bool)
    elif pandas.api.types.is_numeric_dtype(y):
        y = y.to_numpy(dtype="float64")
        if not np.isfinite(y).all():
            raise CompareError(f"--target: column {target!r} has infinite values")
    else:
        bad = None if labels_only else _first_non_number(y, pandas)
        if bad is not None:
            raise CompareError(
                f"--target: column {target!r} holds numbers but also {bad!r}; fix or remove "
                "the values that are not numbers (or say --task classification)"
            )
        y = y.astype(str).to_numpy(dtype=object)
    description = {
        "source": str(path),
        "format": kind,
        "target": target,
        **reading,
        "left_out": left_out,
        "missing": missing,
        "rows_without_target": int(missing_target.sum()),
    }
    return X, y, numeric, categorical, description


def _prepare_target(y, task, name):
    """``y`` as the estimators should see it, after checking it suits ``task``."""
    if task == "regression":
        if y.dtype.kind not in "iufb":
            numbers = np.array([_to_float(value) for value in y])
            bad = np.flatnonzero(np.isnan(numbers))
            if len(bad):
                raise CompareError(
                    f"--task regression: the target {name} is not numeric (e.g. "
                    f"{y[bad[0]]!r}); try --task classification"
                )
            y = numbers
        y = y.astype(np.float64)
        if np.ptp(y) == 0:
            raise CompareError(f"the target {name} is constant ({y[0]:g}); nothing to learn")
        return y
    if y.dtype.kind == "f" and np.all(y == np.round(y)):
        y = y.astype(np.int64)  # whole-number labels print as 3, not 3.0
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise CompareError(
            f"the target {name} has one class ({_label(classes[0])}); classification needs "
            "two or more"
        )
    if counts.min() < 2:
        lonely = classes[np.argmin(counts)]
        raise CompareError(
            f"the target {name} has {len(classes)} classes and class {_label(lonely)} has only one "
            "row; the stratified split needs two rows per class"
            + (" (a numeric target: try --task regression)" if y.dtype.kind in "iuf" else "")
        )
    return y


def _label(value):
    """A class label as a user would write it: 3 or 'red', not np.int64(3)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


def _to_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def load_data(args, notes=None):
    """``(X, y, numeric, categorical, description)`` with the task decided and checked;
    what the reading did to the data (delimiter, missing values, columns left out) is
    added to ``notes``."""
    notes = [] if notes is None else notes
    if args.data is not None:
        labels_only = args.task == "classification"
        X, y, numeric, categorical, description = _load_table(
            args.data, args.target, labels_only, args, notes
        )
        name = f"column {args.target!r}"
    else:
        X, y, numeric, categorical, description = _load_builtin(args.dataset)
        name = f"of {args.dataset}"
    if args.task == "auto":
        task, reason = infer_task(y)
        reason = f"inferred from the target: {reason}"
    else:
        task, reason = args.task, "set by --task"
    y = _prepare_target(y, task, name)
    description.update(
        task=task,
        task_reason=reason,
        n_samples=int(X.shape[0]),
        n_columns=int(X.shape[1]),
        numeric_columns=len(numeric),
        categorical_columns=len(categorical),
    )
    if task == "classification":
        description["n_classes"] = len(np.unique(y))
    if not numeric and not categorical:
        left_out = _describe_left_out(description["left_out"])
        raise CompareError(
            f"--data: every column besides the target was left out ({left_out}); "
            "--keep-columns keeps them"
        )
    return X, y, numeric, categorical, description


# --- models and timing --------------------------------------------------------------------


def make_pipeline(task, numeric, categorical, dtype, params, contender):
    """The contender's Pipeline: ColumnTransformer, cast to ``dtype``, estimator."""
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.impute import SimpleImputer
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    from bpnet import BPClassifier, BPRegressor

    # Missing numbers take the median of the training rows (missing text was given its
    # category when the file was read); without missing values the imputer changes nothing.
    scale = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
        ]
    )
    one_hot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
    columns = ColumnTransformer(
        [("numeric", scale, numeric), ("categorical", one_hot, categorical)],
        sparse_threshold=0.0,
    )
    cast = FunctionTransformer(np.asarray, kw_args={"dtype": np.dtype(dtype)})
    if task == "classification":
        estimator_class = BPClassifier if contender == "bpnet" else MLPClassifier
        model = estimator_class(**params)
    else:
        estimator_class = BPRegressor if contender == "bpnet" else MLPRegressor
        model = TransformedTargetRegressor(estimator_class(**params), transformer=StandardScaler())
    return Pipeline([("columns", columns), ("cast", cast), ("model", model)])


def _network(model):
    """The fitted network inside a pipeline's last step."""
    return getattr(model, "regressor_", model)


def time_fits(models, X, y, repeats, threads=None):
    """Fit each of ``models`` (name -> unfitted estimator) ``repeats`` times, interleaved.

    Each contender first gets an untimed one-epoch fit, so that neither pays for first
    calls (thread pools starting, lazy imports). Which goes first alternates from one
    repetition to the next, so a drift in the machine's load falls on both alike. Returns
    the last fitted model of each, the list of its fit times, and the message of the
    ConvergenceWarning its last fit gave (None if it gave none): the report turns that
    into a note rather than a warning in the middle of the output.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    names = list(models)
    times = {name: [] for name in names}
    fitted, not_converged = {}, {}
    limit = threadpool_limits(limits=threads) if threads else nullcontext()
    with limit:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch: expected
            for name in names:
                warm = clone(models[name])
                # A TransformedTargetRegressor passes the setting on to its regressor.
                prefix = "regressor__" if hasattr(warm, "regressor") else ""
                warm.set_params(**{prefix + "max_iter": 1}).fit(X, y)
        for repeat in range(repeats):
            order = names if repeat % 2 == 0 else names[::-1]
            for name in order:
                model = clone(models[name])
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(X, y)
                    times[name].append(time.perf_counter() - start)
                fitted[name] = model
                not_converged[name] = _convergence_warning(caught, ConvergenceWarning)
    return fitted, times, not_converged


def _convergence_warning(caught, category):
    """The message of the first ``category`` warning in ``caught``; the other warnings
    are given again, as they would have been shown."""
    message = None
    for warning in caught:
        if issubclass(warning.category, category):
            message = message or str(warning.message)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return message


def convergence_note(contenders, settings):
    """A sentence when a network stopped at --epochs with its loss still falling."""
    unit = "iteration" if settings["solver"] == "lbfgs" else "epoch"
    parts = []
    for name, row in contenders.items():
        if not row["convergence_warning"]:
            continue
        curve = row["loss_curve"]
        if curve and len(curve) > 1:
            back = min(LOSS_LOOKBACK, len(curve) - 1)
            parts.append(
                f"{name}'s from {curve[-1 - back]:.4g} to {curve[-1]:.4g} over its last "
                f"{back} {unit}s"
            )
        else:
            parts.append(f"{name}'s (final {row['final_loss']:.4g})")
    if not parts:
        return None
    whose = "the training loss was still falling at the last " + unit
    return (
        f"{whose} ({settings['epochs']}, --epochs): {'; '.join(parts)}. The fit stopped "
        f"at --epochs, not at convergence (scikit-learn's ConvergenceWarning), so more "
        "--epochs would train further and may score better"
    )


def repetition_spread(times):
    """Slowest over fastest of one contender's fit times (1.0 for a single fit)."""
    return max(times) / min(times) if min(times) > 0 else math.inf


def busy_note(times, threads=None):
    """A sentence when the repetitions' spread says the machine is busy, else None."""
    spread = {
        name: repetition_spread(values)
        for name, values in times.items()
        if len(values) > 1
        and repetition_spread(values) > BUSY_SPREAD
        and max(values) - min(values) >= BUSY_MIN_SECONDS
    }
    if not spread:
        return None
    which = ", ".join(f"{name}'s {value:.1f}x" for name, value in spread.items())
    advice = "" if threads == 1 else ", and --threads 1 usually steadies them"
    return (
        f"fit times vary between repetitions ({which}, slowest over fastest): the machine "
        "is busy, so these times and the speedup are unreliable; the min is the better "
        f"guide{advice}"
    )


def load_note(load_average, cores):
    """A sentence when the load average before the fits says other work holds the cores."""
    if load_average is None or load_average[0] <= BUSY_LOAD_PER_CORE * cores:
        return None
    return (
        f"the load average was {load_average[0]:.2f} on {cores} core(s) before the fits: "
        "other programs compete for the cores, which slows both contenders and can skew "
        "the speedup"
    )


# --- environment --------------------------------------------------------------------------


def _library_owner(filepath):
    folder = Path(filepath).parent.name
    return folder[: -len(".libs")] if folder.endswith(".libs") else Path(filepath).name


def blas_info():
    """The BLAS libraries loaded in this process, with their thread counts."""
    from threadpoolctl import threadpool_info

    return [
        {
            "library": pool.get("internal_api"),
            "version": pool.get("version"),
            "loaded_by": _library_owner(pool.get("filepath", "")),
            "architecture": pool.get("architecture"),
            "threading_layer": pool.get("threading_layer"),
            "num_threads": pool.get("num_threads"),
        }
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    ]


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _load_average():
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


# --- the comparison -----------------------------------------------------------------------


def _check_plot_target(path):
    """Fail before training, not after, if the plot cannot be written."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
    except ImportError:
        raise CompareError(
            "--plot needs matplotlib, which is not installed: pip install 'bpnet[bench]' "
            "(or pip install matplotlib)"
        ) from None
    suffix = Path(path).suffix.lower().lstrip(".")
    if suffix not in FigureCanvasAgg.get_supported_filetypes():
        raise CompareError(f"--plot: cannot tell an image format from {path!r}; name it *.png")
    folder = Path(path).parent
    if not folder.is_dir():
        raise CompareError(f"--plot: no such folder: {folder}")


def compare(args):
    """Run the comparison that the parsed ``args`` describe and return its results.

    Raises CompareError for problems with the options or the data.
    """
    from sklearn.model_selection import train_test_split
    from threadpoolctl import threadpool_limits

    if args.plot is not None:
        _check_plot_target(args.plot)
    load_average = _load_average()
    data_notes = []
    X, y, numeric, categorical, data = load_data(args, data_notes)
    task = data["task"]
    if len(y) < MIN_ROWS:
        raise CompareError(f"--data: {len(y)} rows are too few; compare needs {MIN_ROWS} or more")
    try:
        X_train, X_test, y_train, y_test = train_test_split(
            X,
            y,
            test_size=TEST_SIZE,
            random_state=args.random_state,
            stratify=y if task == "classification" else None,
        )
    except ValueError as exc:
        raise CompareError(f"cannot split {len(y)} rows 75/25 into train and test: {exc}") from None

    params = dict(
        hidden_layer_sizes=args.hidden,
        solver=args.solver,
        max_iter=args.epochs,
        batch_size=args.batch_size,
        learning_rate_init=args.learning_rate_init,
        alpha=args.alpha,
        random_state=args.random_state,
    )
    pipelines = {
        name: make_pipeline(task, numeric, categorical, args.dtype, params, name)
        for name in CONTENDERS
    }
    # Both contenders see the same preprocessed arrays; only the estimators are timed.
    preprocess = pipelines["bpnet"][:-1]
    X_train_ready = preprocess.fit_transform(X_train, y_train)
    fitted, times, not_converged = time_fits(
        {name: pipeline[-1] for name, pipeline in pipelines.items()},
        X_train_ready,
        y_train,
        args.repeats,
        args.threads,
    )
    with threadpool_limits(limits=args.threads) if args.threads else nullcontext():
        blas = blas_info()

    data.update(n_train=len(y_train), n_test=len(y_test), n_inputs=int(X_train_ready.shape[1]))
    contenders = {}
    for name, pipeline in pipelines.items():
        pipeline.steps[:] = [*preprocess.steps, ("model", fitted[name])]
        network = _network(fitted[name])
        curve = getattr(network, "loss_curve_", None)
        contenders[name] = {
            "estimator": type(network).__name__,
            "times": [round(value, 6) for value in times[name]],
            "min": min(times[name]),
            "median": float(np.median(times[name])),
            "test_score": float(pipeline.score(X_test, y_test)),
            "train_score": float(pipeline.score(X_train, y_train)),
            "n_iter": int(network.n_iter_),
            "final_loss": float(network.loss_),
            "loss_curve": None if curve is None else [float(value) for value in curve],
            "convergence_warning": not_converged[name],
        }
    ours, theirs = contenders["bpnet"], contenders["scikit-learn"]
    settings = {
        "hidden": list(args.hidden),
        "solver": args.solver,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "learning_rate_init": args.learning_rate_init,
        "alpha": args.alpha,
        "dtype": args.dtype,
        "random_state": args.random_state,
        "repeats": args.repeats,
        "threads": args.threads,
    }
    result = {
        "settings": settings,
        "data": data,
        "metric": "accuracy" if task == "classification" else "r2",
        "contenders": contenders,
        "speedup": {
            "min": theirs["min"] / ours["min"],
            "median": theirs["median"] / ours["median"],
        },
        "threads": {
            "limit": args.threads,
            "cores": _cores(),
            "environment": {key: os.environ[key] for key in THREAD_VARIABLES if key in os.environ},
        },
        "blas": blas,
        "load_average": load_average,
        "busy": {
            "spread": {name: repetition_spread(times[name]) for name in CONTENDERS},
            "threshold": BUSY_SPREAD,
            "note": busy_note(times, args.threads),
            "load_note": load_note(load_average, _cores()),
        },
        "plot": args.plot,
    }
    result["notes"] = data_notes + report_notes(result)
    if args.plot is not None:
        make_figure(result).savefig(args.plot, dpi=100)
    return result


def report_notes(result):
    """The notes on the fits: a loss still falling, overfitting, a busy machine. Each is
    ``{"topic": ..., "text": ...}``; the text report prints them after the table."""
    notes = []
    settings, ours = result["settings"], result["contenders"]["bpnet"]
    metric = "accuracy" if result["metric"] == "accuracy" else "R^2"
    convergence = convergence_note(result["contenders"], settings)
    if convergence:
        _note(notes, "convergence", convergence)
    if ours["train_score"] - ours["test_score"] > OVERFIT_GAP:
        _note(
            notes, "overfit",
            f"the network fits the training rows far better than the test rows ({metric} "
            f"{ours['train_score']:.2f} against {ours['test_score']:.2f}): it overfits, "
            "and a larger --alpha or fewer --epochs would help",
        )  # fmt: skip
    if result["busy"]["note"]:
        _note(notes, "busy", result["busy"]["note"])
    elif settings["repeats"] == 1:
        _note(notes, "busy", "one fit each, so no spread to judge the machine's load by")
    if result["busy"]["load_note"]:
        _note(notes, "load", result["busy"]["load_note"])
    return notes


# --- output ---------------------------------------------------------------------------------


def describe_data(data):
    """One line saying what was trained on."""
    name = data["source"] if data["format"] == "built-in" else Path(data["source"]).name
    origin = "built in" if data["format"] == "built-in" else data["format"]
    columns = f"{data['numeric_columns']} numeric (scaled)"
    if data["categorical_columns"]:
        columns += f" and {data['categorical_columns']} categorical (one-hot)"
    if data.get("left_out"):
        columns += f", {len(data['left_out'])} left out"
    target = f", target {data['target']!r}" if data["target"] else ""
    classes = f" of {data['n_classes']} classes" if "n_classes" in data else ""
    return (
        f"{name} ({origin}): {data['n_samples']} rows, columns {columns} -> "
        f"{data['n_inputs']} inputs{target}; {data['task']}{classes} ({data['task_reason']}); "
        f"{data['n_train']} train / {data['n_test']} test rows"
    )


def describe_threads(result):
    threads = result["threads"]
    if threads["limit"] is None:
        text = (
            "library defaults, which is what a user gets (--threads N runs both under "
            "threadpool_limits(N))"
        )
    else:
        text = f"threadpool_limits({threads['limit']}) around both contenders"
    text += f"; {threads['cores']} core(s)"
    if result["load_average"] is not None:
        text += f", load average {result['load_average'][0]:.2f} before the fits"
    for key, value in threads["environment"].items():
        text += f"; {key}={value}"
    return text


# Which contender's products go through which library, where the owner tells.
_BLAS_USERS = {"numpy": "scikit-learn's MLP", "scipy": "bpnet"}


def describe_blas(blas):
    if not blas:
        return ["none found by threadpoolctl"]
    lines = []
    for pool in blas:
        user = _BLAS_USERS.get(pool["loaded_by"])
        details = ", ".join(
            str(value)
            for value in (pool["architecture"], pool["threading_layer"])
            if value is not None
        )
        lines.append(
            f"{pool['library']} {pool['version']} from {pool['loaded_by']}"
            + (f" (used by {user})" if user else "")
            + (f", {details}" if details else "")
            + f": {pool['num_threads']} thread(s)"
        )
    return lines


def format_report(result):
    """The table and notes that ``python -m bpnet compare`` prints."""
    settings = result["settings"]
    metric = "accuracy" if result["metric"] == "accuracy" else "R^2"
    lines = [
        f"data:     {describe_data(result['data'])}",
        "settings: "
        + " ".join(
            f"{key}={','.join(map(str, value)) if key == 'hidden' else value}"
            for key, value in settings.items()
            if key not in ("repeats", "threads")
        ),
        f"threads:  {describe_threads(result)}",
    ]
    blas = describe_blas(result["blas"])
    lines.append(f"BLAS:     {blas[0]}")
    lines.extend(f"          {line}" for line in blas[1:])
    lines.append(
        f"timing:   {settings['repeats']} interleaved fit(s) of each estimator on the "
        "preprocessed arrays, after an untimed one-epoch warm-up"
    )
    lines.append("")
    header = (
        f"{'model':<14}{'test ' + metric:>16}{'train ' + metric:>16}{'epochs':>8}"
        f"{'min (s)':>10}{'median (s)':>12}{'speedup min':>13}{'median':>9}"
    )
    lines.extend([header, "-" * len(header)])
    reference = result["contenders"]["scikit-learn"]
    for name, row in result["contenders"].items():
        lines.append(
            f"{name:<14}{row['test_score']:>16.4f}{row['train_score']:>16.4f}{row['n_iter']:>8d}"
            f"{row['min']:>10.4f}{row['median']:>12.4f}"
            f"{reference['min'] / row['min']:>12.2f}x{reference['median'] / row['median']:>8.2f}x"
        )
    lines.append("")
    lines.append(
        "fit times (s): "
        + "; ".join(
            f"{name} " + ", ".join(f"{value:.4f}" for value in row["times"])
            for name, row in result["contenders"].items()
        )
    )
    lines.extend(f"note: {note['text']}" for note in result["notes"])
    if result["plot"]:
        lines.append(f"plot: {result['plot']}")
    return "\n".join(lines)


def make_figure(result):
    """A matplotlib Figure: loss curves (left) and time per epoch (right)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, time_axes = figure.subplots(1, 2)
    styles = {"bpnet": dict(linewidth=3, alpha=0.6), "scikit-learn": dict(linestyle="--")}
    per = "iteration" if result["settings"]["solver"] == "lbfgs" else "epoch"
    curves = {name: row for name, row in result["contenders"].items() if row["loss_curve"]}
    for name, row in curves.items():
        epochs = np.arange(1, len(row["loss_curve"]) + 1)
        loss_axes.plot(epochs, row["loss_curve"], label=name, **styles[name])
    if curves:
        loss_axes.set(xlabel=per, ylabel="training loss", title="loss curves")
        loss_axes.legend()
    else:  # lbfgs keeps no loss curve
        final = "\n".join(
            f"{name}: {row['final_loss']:.6g} after {row['n_iter']} {per}s"
            for name, row in result["contenders"].items()
        )
        loss_axes.text(
            0.5, 0.5, f"lbfgs keeps no loss curve; final training loss\n{final}",
            ha="center", va="center", transform=loss_axes.transAxes,
        )  # fmt: skip
        loss_axes.set(title="training loss", xticks=[], yticks=[])

    rows = result["contenders"]
    positions = np.arange(len(rows))
    width = 0.38
    for offset, statistic in ((-width / 2, "min"), (width / 2, "median")):
        values = [1000 * row[statistic] / max(1, row["n_iter"]) for row in rows.values()]
        bars = time_axes.bar(positions + offset, values, width, label=statistic)
        time_axes.bar_label(bars, fmt="%.2f")
    time_axes.set_xticks(positions, list(rows))
    time_axes.set(
        ylabel=f"milliseconds per {per}",
        title=f"time per {per} ({result['settings']['repeats']} fit(s) each)",
    )
    time_axes.legend(title="over fits")
    data = result["data"]
    name = data["source"] if data["format"] == "built-in" else Path(data["source"]).name
    figure.suptitle(
        f"{name}, {result['settings']['solver']}, hidden "
        f"{','.join(map(str, result['settings']['hidden']))}: bpnet "
        f"{result['speedup']['min']:.1f}x faster (min), {result['speedup']['median']:.1f}x "
        "(median)"
    )
    return figure


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        from bpnet import __version__

        print(__version__)
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    if args.data is not None and args.target is None:
        args.parser.error("--data needs --target COLUMN, the column to predict")
    if args.data is None and args.target is not None:
        args.parser.error("--target needs --data FILE (the built-in datasets know their target)")
    try:
        result = compare(args)
    except CompareError as exc:
        args.parser.error(str(exc))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_report(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
