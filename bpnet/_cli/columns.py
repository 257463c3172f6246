"""The columns of a table: which are scaled, one-hot encoded or left out, and missing values."""

import re
import warnings

import numpy as np

from .common import MIN_ROWS, CompareError, add_note

# Dates: 2007-11-11 (optionally with a time and zone), 11/11/2007, 11.11.07, 2007/11/11.
DATE = re.compile(
    r"(\d{4}-\d{1,2}-\d{1,2}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{2,4}( \d{1,2}:\d{2}(:\d{2})?)?"
    r"|\d{4}/\d{1,2}/\d{1,2})"
)
# The category that missing text becomes.
MISSING_CATEGORY = "(missing)"


def first_non_number(column, pandas):
    """A value that is not a number, if most of ``column``'s values are numbers."""
    values = column.dropna().astype(str)
    numbers = pandas.to_numeric(values, errors="coerce")
    bad = values[numbers.isna()]
    if len(bad) and len(values) - len(bad) >= len(bad):
        return bad.iloc[0]
    return None


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
    bad = first_non_number(column, pandas)
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


def describe_left_out(left_out):
    """The columns left out and why, as one line."""
    return "; ".join(f"{name!r} ({reason})" for name, reason in left_out.items())


def left_out_note(left_out):
    """The note naming the columns left out, and why they were."""
    return (
        f"left out {len(left_out)} column(s) that look like identifiers or dates, or hold "
        f"no value: {describe_left_out(left_out)}. Encoded, they would give the network "
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
        add_note(
            notes, "missing",
            f"dropped {int(rows.sum())} row(s) with missing values (--drop-missing) in "
            f"{shown}",
        )  # fmt: skip
    else:
        summary["rule"] = "fill"
        add_note(
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
