"""Helpers shared by the benchmark scripts: data, timing, interleaving, machine info, output.

Not a benchmark itself; the scripts import it as ``_common`` (they put their own folder on
``sys.path`` so they run from any working directory).
"""

import contextlib
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_DIR = BENCH_DIR / "results"
# --quick smoke runs write here (git-ignored), so they never replace the committed results.
QUICK_RESULTS_DIR = RESULTS_DIR / "quick"
REPO_DIR = BENCH_DIR.parent

# The benchmarks run against the working tree's bpnet, even if another copy is installed;
# except when the test suite checks an installed wheel (tools/run_installed_tests.py sets
# BPNET_TEST_INSTALLED=1), whose bpnet is then the one to run.
if os.environ.get("BPNET_TEST_INSTALLED") != "1" and str(REPO_DIR) not in sys.path:
    sys.path.insert(0, str(REPO_DIR))

# Settings that make a stochastic solver run exactly max_iter epochs.
FIXED_EPOCHS = {"tol": 0.0, "n_iter_no_change": 10**9, "early_stopping": False}


# --- data ---------------------------------------------------------------------------


_DATA_CACHE = {}


def load_dataset(name, dtype):
    """(X, y) for a named data set, standardized, X in `dtype` and C-contiguous.

    ``digits`` is scikit-learn's load_digits (1797 x 64), ``iris`` its load_iris (150 x 4);
    ``synth_N_F`` is make_classification with N rows, F features, 10 classes and a fixed
    seed.
    """
    key = name
    if key not in _DATA_CACHE:
        from sklearn.preprocessing import StandardScaler

        if name == "digits":
            from sklearn.datasets import load_digits

            X, y = load_digits(return_X_y=True)
        elif name == "iris":
            from sklearn.datasets import load_iris

            X, y = load_iris(return_X_y=True)
        elif name.startswith("synth_"):
            from sklearn.datasets import make_classification

            _, n_rows, n_features = name.split("_")
            n_rows, n_features = int(n_rows), int(n_features)
            X, y = make_classification(
                n_samples=n_rows,
                n_features=n_features,
                n_informative=min(n_features, 40),
                n_redundant=min(max(n_features - 40, 0), 10),
                n_classes=10,
                n_clusters_per_class=1,
                random_state=0,
            )
        else:
            raise ValueError(f"unknown data set {name!r}")
        X = StandardScaler().fit_transform(X)
        _DATA_CACHE[key] = (X, y)
    X, y = _DATA_CACHE[key]
    return np.ascontiguousarray(X, dtype=dtype), y


def regression_targets(X, n_targets, seed=0):
    """Continuous targets for the regression variant of a classification case.

    A fixed random one-hidden-layer function of X plus a little noise, standardized,
    shape (n_rows, n_targets) (1-D for one target). With as many targets as the case
    has classes, the regressor's network has the classifier's layer widths, so the two
    differ only in their output and loss.
    """
    rng = np.random.default_rng(seed)
    X = np.asarray(X, dtype=np.float64)
    hidden = np.tanh(X @ rng.standard_normal((X.shape[1], 16)) / np.sqrt(X.shape[1]))
    Y = hidden @ rng.standard_normal((16, n_targets)) + 0.1 * rng.standard_normal(
        (X.shape[0], n_targets)
    )
    Y = (Y - Y.mean(axis=0)) / Y.std(axis=0)
    return Y[:, 0] if n_targets == 1 else Y


def layer_units(n_features, hidden, n_classes):
    return [n_features, *hidden, n_classes]


def n_weights(units):
    """Number of coefficients (biases excluded) of a network with these layer widths."""
    return sum(a * b for a, b in zip(units[:-1], units[1:]))


def n_params(units):
    return n_weights(units) + sum(units[1:])


def epoch_flops(n_rows, units):
    """Floating-point operations of one training epoch.

    Forward, weight gradient and input gradient are 2 flops per weight per row each,
    i.e. 6 n W; the first layer's input gradient is never computed.
    """
    return 6.0 * n_rows * n_weights(units) - 2.0 * n_rows * units[0] * units[1]


# --- timing -------------------------------------------------------------------------


# Pause before each timed call. OpenBLAS's worker threads busy-wait for about 0.1 s
# after their last product before they sleep, and OpenMP runtimes (torch's) spin too:
# without a pause each contender would be timed while the previous contender's threads
# still hold the other core. Smoke runs (--quick) skip the pause.
SETTLE_SECONDS_FULL = 0.2
SETTLE_SECONDS = SETTLE_SECONDS_FULL


def timed(fn):
    """Wall time of one call of fn(), in seconds, after a garbage collection.

    The survivors are then frozen out of later collections: with torch imported a full
    collection takes ~0.1 s, which would dominate the quick runs. The call starts after
    SETTLE_SECONDS, once other contenders' worker threads have gone to sleep.
    """
    gc.collect()
    gc.freeze()
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleave(runners, reps, rotate=False):
    """Time each runner `reps` times, interleaved: a, b, c, a, b, c, ...

    `runners` maps a name to a zero-argument callable. Interleaving spreads the machine's
    background noise evenly over the contenders. With `rotate`, repetition r starts at
    the r-th runner (a, b, c, b, c, a, c, a, b, ...), so that no runner always runs first
    or right after the same neighbour. Returns {name: [seconds, ...]}; the i-th times of
    all runners come from the same repetition, so they can be compared pairwise.
    """
    names = list(runners)
    times = {name: [] for name in names}
    for rep in range(reps):
        shift = rep % len(names) if rotate and names else 0
        for name in names[shift:] + names[:shift]:
            times[name].append(timed(runners[name]))
    return times


def paired_ratios(numerators, denominators):
    """Ratio of each repetition's time to the same repetition's reference time.

    The two runs of a pair ran seconds apart, so the pair's ratio cancels the load that
    changes from one repetition to the next; its median is the cost estimate.
    """
    return [a / b for a, b in zip(numerators, denominators)]


class KernelClock:
    """Times every call of bpnet's epoch kernel, and of its shuffle draws, during a
    ``with`` block.

    The epoch loop calls ``train_epochs`` (one epoch per call where Python runs between
    epochs, else many) and ``draw_orders`` (the shuffles of the next epochs, drawn in C
    from the NumPy generator just before the call that runs them) through
    ``bpnet._training``'s namespace: those names are replaced, and put back on exit;
    bpnet itself is untouched. ``calls`` holds each kernel call's ``(start, end,
    epochs)`` and ``draws`` each draw call's ``(start, end)`` (``perf_counter`` times).
    The wrapper adds one Python call and two clock reads per call, well under a
    microsecond.
    """

    def __init__(self):
        import bpnet._training as training

        self.module = training
        self.originals = {"train_epochs": training.train_epochs}
        if hasattr(training, "draw_orders"):
            self.originals["draw_orders"] = training.draw_orders
        self.calls = []
        self.draws = []

    def _wrap(self, name):
        original, clock = self.originals[name], time.perf_counter
        calls, draws = self.calls, self.draws

        def timed_kernel(*args, **kwargs):
            start = clock()
            result = original(*args, **kwargs)
            end = clock()
            calls.append((start, end, int(result["n_epochs"])))
            return result

        def timed_draws(*args, **kwargs):
            start = clock()
            original(*args, **kwargs)
            draws.append((start, clock()))

        return timed_draws if name == "draw_orders" else timed_kernel

    def __enter__(self):
        for name in self.originals:
            setattr(self.module, name, self._wrap(name))
        return self

    def __exit__(self, *exc_info):
        for name, original in self.originals.items():
            setattr(self.module, name, original)
        return False

    def epochs(self):
        return sum(n for _, _, n in self.calls)

    def seconds(self):
        """Seconds inside the kernels, all calls together."""
        return sum(end - start for start, end, _ in self.calls)

    def draw_seconds(self):
        """Seconds inside the shuffle draws, all calls together."""
        return sum(end - start for start, end in self.draws)

    def seconds_between_calls(self):
        """Seconds between consecutive kernel calls, less the draws made there."""
        calls = self.calls
        gaps = sum(b[0] - a[1] for a, b in zip(calls[:-1], calls[1:]))
        if not calls:
            return 0.0
        first_end, last_start = calls[0][1], calls[-1][0]
        inside = sum(e - s for s, e in self.draws if s >= first_end and e <= last_start)
        return gaps - inside

    def per_epoch(self):
        """Each call's seconds per epoch (its time itself for a one-epoch call)."""
        return [(end - start) / n for start, end, n in self.calls if n > 0]


def median(values):
    return float(statistics.median(values))


def spread(values):
    """(min, max) of a list, for the JSON record."""
    return float(min(values)), float(max(values))


@contextlib.contextmanager
def quiet():
    """Silence ConvergenceWarning and friends: the benchmarks stop at max_iter on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def gemm_peak(dtype, size=1024, reps=8, warmup=3):
    """Best GFLOP/s of a size^3 NumPy matmul with all BLAS threads, in `dtype`.

    A few untimed products first: the first ones run markedly slower (thread start,
    page faults, clock ramp-up), and the peak is the best the machine can do.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size)).astype(dtype)
    b = rng.standard_normal((size, size)).astype(dtype)
    out = np.empty((size, size), dtype=dtype)
    for _ in range(warmup):
        np.matmul(a, b, out=out)
    best = min(timed(lambda: np.matmul(a, b, out=out)) for _ in range(reps))
    return 2.0 * size**3 / best / 1e9


# --- optional PyTorch ---------------------------------------------------------------


def import_torch():
    """The torch module, or None when it is not installed (the column is then omitted)."""
    try:
        import torch
    except Exception:  # ImportError, or a broken install
        return None
    return torch


# --- machine description ------------------------------------------------------------


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info():
    """Versions, CPU and BLAS/OpenMP thread pools (threadpoolctl), for every JSON record."""
    import scipy
    import sklearn

    import bpnet

    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "bpnet": bpnet.__version__,
        "env": {
            k: os.environ[k]
            for k in sorted(os.environ)
            if k.startswith(("OPENBLAS", "OMP_", "MKL_", "GOTO"))
        },
    }
    try:
        from threadpoolctl import threadpool_info

        info["threadpools"] = [
            {
                k: pool.get(k)
                for k in (
                    "user_api",
                    "internal_api",
                    "prefix",
                    "version",
                    "num_threads",
                    "threading_layer",
                    "architecture",
                )
            }
            for pool in threadpool_info()
        ]
    except ImportError:
        info["threadpools"] = None
    info["source"] = _source_state()
    torch = import_torch()
    info["torch"] = None if torch is None else torch.__version__
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return info


def _source_state():
    """The commit measured and the bpnet files that differ from it (a working tree
    shared with other work may hold uncommitted changes), or None outside git."""
    import subprocess

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=REPO_DIR, capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()

    try:
        changed = git("status", "--porcelain", "--", "bpnet", "setup.py")
        return {"commit": git("rev-parse", "HEAD"), "bpnet_changes": changed.splitlines()}
    except (OSError, subprocess.SubprocessError):
        return None


def blas_summary(info):
    """One line naming the BLAS kernels in use, e.g. 'openblas 0.3.30 SkylakeX x2'."""
    pools = info.get("threadpools") or []
    parts = [
        f"{p['internal_api']} {p['version']} {p.get('architecture') or ''} x{p['num_threads']}"
        for p in pools
        if p["user_api"] == "blas"
    ]
    return "; ".join(parts) or "unknown"


# --- output -------------------------------------------------------------------------


def write_json(path, payload):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=False, default=_json_default)
        f.write("\n")
    return path


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


def results_dir(quick):
    """Where a run writes by default: the committed results, or the quick folder."""
    return QUICK_RESULTS_DIR if quick else RESULTS_DIR


def default_output(name, quick):
    return results_dir(quick) / name


def format_range(values, scale=1.0, digits=3):
    """'median (min-max)' of a list, each times `scale`, to `digits` significant digits."""
    med, (low, high) = median(values) * scale, spread(values)

    def g(v):
        return f"{v:.{digits}g}" if abs(v) < 10**digits else f"{v:.0f}"

    return f"{g(med)} ({g(low * scale)}–{g(high * scale)})"


def format_percent(ratio):
    """A ratio as a signed percentage change: 1.031 -> '+3.1%'."""
    return f"{100.0 * (ratio - 1.0):+.1f}%"


def markdown_table(headers, rows):
    """A GitHub Markdown table; None cells print as an em dash."""

    def cell(value):
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
        return str(value)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def bar_plot(path, labels, series, title, ylabel, reference=None, log=True):
    """Horizontal grouped bars: series maps a legend name to one value per label.

    A dashed line marks `reference` (e.g. speedup 1). The axis is logarithmic by default,
    so ratios below and above 1 read alike and one outlier does not flatten the rest.
    Saved as PNG with the Agg backend.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    k = max(len(series), 1)
    height = 0.8 / k
    fig, ax = plt.subplots(figsize=(9, 0.35 * n * k + 1.5))
    y = np.arange(n)
    for i, (name, values) in enumerate(series.items()):
        vals = [np.nan if v is None else v for v in values]
        ax.barh(y + (i - (k - 1) / 2) * height, vals, height, label=name)
    if reference is not None:
        ax.axvline(reference, color="k", linestyle="--", linewidth=1)
    if log:
        ax.set_xscale("log")
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def save_figure(fig, path):
    """Lay out, save as PNG (creating the folder) and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
