"""What the parts of the command line share: the usage error, the notes and the row minimum."""

# Enough for two test rows (R^2 needs two) and a training set that is more than a row.
MIN_ROWS = 8


class CompareError(Exception):
    """A problem with the options or the data, reported as a one-line usage error."""


def add_note(notes, topic, text):
    """Add a note: printed after the table, and kept in --json's "notes"."""
    notes.append({"topic": topic, "text": text})
