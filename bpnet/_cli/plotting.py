"""The --plot figure: both loss curves beside the time per epoch."""

from pathlib import Path

import numpy as np

from .common import CompareError
from .reporting import source_name


def check_plot_target(path):
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


def make_figure(result):
    """A matplotlib Figure: loss curves (left) and time per epoch (right)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.2), layout="constrained")
    loss_axes, time_axes = figure.subplots(1, 2)
    per = "iteration" if result["settings"]["solver"] == "lbfgs" else "epoch"
    _plot_losses(loss_axes, result["contenders"], per)
    _plot_times(time_axes, result["contenders"], per, result["settings"]["repeats"])
    figure.suptitle(
        f"{source_name(result['data'])}, {result['settings']['solver']}, hidden "
        f"{','.join(map(str, result['settings']['hidden']))}: bpnet "
        f"{result['speedup']['min']:.1f}x faster (min), {result['speedup']['median']:.1f}x "
        "(median)"
    )
    return figure


def _plot_losses(axes, contenders, per):
    """Each contender's loss curve, or the final losses where there is no curve (lbfgs)."""
    styles = {"bpnet": dict(linewidth=3, alpha=0.6), "scikit-learn": dict(linestyle="--")}
    curves = {name: row for name, row in contenders.items() if row["loss_curve"]}
    for name, row in curves.items():
        epochs = np.arange(1, len(row["loss_curve"]) + 1)
        axes.plot(epochs, row["loss_curve"], label=name, **styles[name])
    if curves:
        axes.set(xlabel=per, ylabel="training loss", title="loss curves")
        axes.legend()
    else:  # lbfgs keeps no loss curve
        final = "\n".join(
            f"{name}: {row['final_loss']:.6g} after {row['n_iter']} {per}s"
            for name, row in contenders.items()
        )
        axes.text(
            0.5, 0.5, f"lbfgs keeps no loss curve; final training loss\n{final}",
            ha="center", va="center", transform=axes.transAxes,
        )  # fmt: skip
        axes.set(title="training loss", xticks=[], yticks=[])


def _plot_times(axes, contenders, per, repeats):
    """Bars of each contender's min and median fit time, per epoch (or iteration)."""
    positions = np.arange(len(contenders))
    width = 0.38
    for offset, statistic in ((-width / 2, "min"), (width / 2, "median")):
        values = [1000 * row[statistic] / max(1, row["n_iter"]) for row in contenders.values()]
        bars = axes.bar(positions + offset, values, width, label=statistic)
        axes.bar_label(bars, fmt="%.2f")
    axes.set_xticks(positions, list(contenders))
    axes.set(
        ylabel=f"milliseconds per {per}",
        title=f"time per {per} ({repeats} fit(s) each)",
    )
    axes.legend(title="over fits")
