"""Reading a table from a file: CSV (delimiter and decimal mark detected) or Parquet."""

import csv
import itertools
import os
import re
from pathlib import Path

from .common import CompareError, add_note

# Reading CSV files: the delimiters detected (by the first SNIFF_LINES lines, which a
# delimiter must split into the same number of fields), and numbers written 3,5 in
# files separated by something else.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
SEP_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t"}
SNIFF_LINES = 50
DECIMAL_COMMA = re.compile(r"[-+]?\d+,\d+")
DECIMAL_POINT = re.compile(r"[-+]?\d*\.\d+")


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


def read_table(path, sep, notes):
    """``(pandas, frame, kind, reading)`` for the file at ``path``.

    ``kind`` is "CSV" or "Parquet", and ``reading`` says how a CSV file was read (its
    delimiter and decimal mark). Raises CompareError when pandas (or pyarrow, for
    Parquet) is missing or the file cannot be read.
    """
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
            frame, reading = _read_csv(path, sep, notes, pandas)
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


def _read_csv(path, sep, notes, pandas):
    """``(frame, reading)`` of a CSV file, its delimiter ``sep`` or else detected; a
    detected delimiter other than a comma gets a note."""
    lines = _sample_lines(path)
    delimiter = sep if sep is not None else detect_delimiter(lines)
    decimal = detect_decimal(lines, delimiter)
    frame = pandas.read_csv(path, sep=delimiter, decimal=decimal)
    reading = {"delimiter": DELIMITERS.get(delimiter, delimiter), "decimal": decimal}
    if sep is None and delimiter != ",":
        with_decimal = " with decimal commas" if decimal == "," else ""
        add_note(
            notes, "delimiter",
            f"read {Path(path).name} as {DELIMITERS[delimiter]}-separated values"
            f"{with_decimal} (detected; --sep chooses another delimiter)",
        )  # fmt: skip
    return frame, reading
