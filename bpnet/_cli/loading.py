"""Loading the data to compare on: a built-in dataset or a table, with its target checked."""

import math

import numpy as np

from .columns import (
    column_roles,
    describe_left_out,
    fill_missing_text,
    first_non_number,
    handle_missing,
    left_out_note,
)
from .common import CompareError, add_note
from .reading import read_table

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


def _load_builtin(name):
    """A dataset that ships with scikit-learn, all of its columns numeric."""
    from sklearn import datasets

    X, y = getattr(datasets, DATASETS[name])(return_X_y=True)
    description = {"source": name, "format": "built-in", "target": None}
    return X, y, list(range(X.shape[1])), [], description


def _load_table(path, target, labels_only, args, notes):
    """``(X, y, numeric, categorical, description)`` from the table at ``path``."""
    pandas, frame, kind, reading = read_table(path, args.sep, notes)
    frame.columns = [str(name) for name in frame.columns]
    _check_table(frame, path, target, kind)
    missing_target = frame[target].isna().to_numpy()
    if missing_target.any():
        frame = frame[~missing_target]
        add_note(
            notes, "missing",
            f"dropped {int(missing_target.sum())} row(s) whose target {target!r} is missing: "
            "they can be neither trained nor scored on",
        )  # fmt: skip

    X = frame.drop(columns=[target])
    numeric, categorical, left_out = column_roles(X, pandas, args.keep_columns)
    if left_out:
        add_note(notes, "columns", left_out_note(left_out))
    y = frame[target]
    X, y, missing = handle_missing(X, y, numeric + categorical, args.drop_missing, notes)
    X = fill_missing_text(X, categorical)
    y = _target_values(y, target, labels_only, pandas)
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


def _check_table(frame, path, target, kind):
    """Refuse a table without the ``target`` column, without rows, or with no other column."""
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


def _target_values(y, target, labels_only, pandas):
    """The target column as a NumPy array: booleans, float64 numbers, or text labels.

    A column of numbers with a stray word is refused, unless ``labels_only`` (--task
    classification) says that its values are labels anyway.
    """
    if pandas.api.types.is_bool_dtype(y):
        return y.to_numpy(dtype=bool)
    if pandas.api.types.is_numeric_dtype(y):
        y = y.to_numpy(dtype="float64")
        if not np.isfinite(y).all():
            raise CompareError(f"--target: column {target!r} has infinite values")
        return y
    bad = None if labels_only else first_non_number(y, pandas)
    if bad is not None:
        raise CompareError(
            f"--target: column {target!r} holds numbers but also {bad!r}; fix or remove "
            "the values that are not numbers (or say --task classification)"
        )
    return y.astype(str).to_numpy(dtype=object)


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
    """``value`` as a float, or NaN where it is no number."""
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
        left_out = describe_left_out(description["left_out"])
        raise CompareError(
            f"--data: every column besides the target was left out ({left_out}); "
            "--keep-columns keeps them"
        )
    return X, y, numeric, categorical, description


# --- models and timing --------------------------------------------------------------------
