"""Reporting the comparison: the notes on the fits, the text table, and the JSON object."""

import json
from pathlib import Path

from .common import add_note

# A training score this far above the test score (accuracy or R^2) is worth a word.
OVERFIT_GAP = 0.3
# Epochs back over which the note on a loss still falling shows the fall.
LOSS_LOOKBACK = 5


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


def report_notes(result):
    """The notes on the fits: a loss still falling, overfitting, a busy machine. Each is
    ``{"topic": ..., "text": ...}``; the text report prints them after the table."""
    notes = []
    settings, ours = result["settings"], result["contenders"]["bpnet"]
    metric = "accuracy" if result["metric"] == "accuracy" else "R^2"
    convergence = convergence_note(result["contenders"], settings)
    if convergence:
        add_note(notes, "convergence", convergence)
    if ours["train_score"] - ours["test_score"] > OVERFIT_GAP:
        add_note(
            notes, "overfit",
            f"the network fits the training rows far better than the test rows ({metric} "
            f"{ours['train_score']:.2f} against {ours['test_score']:.2f}): it overfits, "
            "and a larger --alpha or fewer --epochs would help",
        )  # fmt: skip
    if result["busy"]["note"]:
        add_note(notes, "busy", result["busy"]["note"])
    elif settings["repeats"] == 1:
        add_note(notes, "busy", "one fit each, so no spread to judge the machine's load by")
    if result["busy"]["load_note"]:
        add_note(notes, "load", result["busy"]["load_note"])
    return notes


# --- output ---------------------------------------------------------------------------------


def source_name(data):
    """The name of the data: a built-in dataset's, or the file's without its folder."""
    return data["source"] if data["format"] == "built-in" else Path(data["source"]).name


def describe_data(data):
    """One line saying what was trained on."""
    name = source_name(data)
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
    """One line on the threads: the limit, the cores, the load and the variables set."""
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
    """One line per BLAS library loaded: its version, owner, user and threads."""
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


def format_json(result):
    """The JSON object that ``python -m bpnet compare --json`` prints."""
    return json.dumps(result, indent=2)
