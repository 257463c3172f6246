"""Per-epoch fit time of BPClassifier against scikit-learn's MLPClassifier (and PyTorch).

Every case trains a fixed number of epochs E (``tol=0``, a huge ``n_iter_no_change``,
``max_iter=E``) with identical settings in bpnet and MLPClassifier; the fit time divided
by E is the time per epoch. Repetitions are interleaved (bpnet, MLP, torch, bpnet, ...)
so background load hits every contender alike, and the median is reported.

If PyTorch is importable, a hand-written PyTorch CPU loop of the same network is timed
too: Linear+ReLU layers, ``torch.optim.SGD`` with Nesterov momentum (or Adam), batches
drawn from ``randperm``, cross-entropy loss. Without torch that column is left out.
By default torch gets the thread count bpnet uses for the case (``--torch-threads``).

Achieved GFLOP/s counts 6 n W floating-point operations per epoch (n rows, W weights)
less the first layer's input gradient (2 n fan_in0 fan_out0), which is never computed.
It is compared with this machine's GEMM peak, measured in the same run as a 1024^3
NumPy matmul with all BLAS threads in the same dtype (sampled before every case; the
best seen counts, since load from other processes only ever lowers it).

Usage::

    python benchmarks/bench_fit.py                 # full case matrix (a few minutes)
    python benchmarks/bench_fit.py --quick         # tiny subset, seconds
    python benchmarks/bench_fit.py --cases digits --dtypes float32 --reps 5
    python benchmarks/bench_fit.py --threads 1     # run under threadpool_limits(1)
    python benchmarks/bench_fit.py --options       # what each training option costs
    python benchmarks/bench_fit.py --dtype-speed   # float64 input trained in float32

Writes JSON (``--output``, default benchmarks/results/bench_fit.json, or
benchmarks/results/quick/bench_fit.json with ``--quick``) and a PNG of the speedups next
to it (same name, .png).

``--options`` measures bpnet against itself instead: on each case, the fit with one
option (``dropout=0.2``, ``class_weight='balanced'``, ``max_grad_norm=1.0``, a cosine
schedule, two epochs of warm-up, ``weight_decay``, ``label_smoothing``,
``weight_init='he'``; for the regression variant ``loss='huber'`` and
``loss='quantile'`` against ``'squared_error'``; a do-nothing callback and a
``Checkpoint`` written every epoch against no callback) and the same fit without it run
in turn within each repetition, the order rotating from one repetition to the next. The
cost of an option is the median over repetitions of (time with it) / (time without it)
in the same repetition; an "A/A" row times the base
against itself and shows the noise floor. Writes ``bench_options.json`` and
``bench_options.md`` (the tables) in results/ (results/quick/ with ``--quick``).
"""

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# (data set, hidden layers, batch size, epochs in the full run, solvers)
CASES = [
    ("digits", (100,), 32, 20, ("sgd", "adam")),
    ("digits", (100,), 200, 40, ("sgd",)),
    ("synth_20000_50", (100,), 32, 3, ("sgd",)),
    ("synth_20000_50", (100,), 200, 5, ("sgd", "adam")),
    ("synth_20000_50", (100,), 1000, 5, ("sgd",)),
    ("synth_20000_100", (256, 128), 64, 1, ("sgd", "adam")),
    ("synth_60000_784", (256,), 128, 1, ("sgd", "adam")),
]

QUICK_CASES = [
    ("digits", (100,), 32, 1, ("sgd", "adam")),
    ("synth_20000_50", (100,), 200, 1, ("sgd",)),
]


def speedup_target(name, batch):
    """The issue's per-epoch speedup target over MLPClassifier for one case."""
    if name == "synth_60000_784" or batch >= 1000:
        return 1.8
    if batch <= 32:
        return 5.0
    return 3.0


def estimator_params(hidden, batch, solver, epochs):
    return dict(
        hidden_layer_sizes=hidden,
        solver=solver,
        batch_size=batch,
        max_iter=epochs,
        random_state=0,
        **C.FIXED_EPOCHS,
    )


_TORCH_DEFAULT_THREADS = {}


def torch_default_threads(torch):
    """torch's own default thread count, read before this script changes it."""
    if "n" not in _TORCH_DEFAULT_THREADS:
        _TORCH_DEFAULT_THREADS["n"] = torch.get_num_threads()
    return _TORCH_DEFAULT_THREADS["n"]


def sklearn_runner(cls, X, y, params):
    def run():
        with C.quiet():
            cls(**params).fit(X, y)

    return run


def torch_runner(torch, X, y, hidden, batch, solver, epochs, alpha=1e-4, lr=1e-3):
    """A plain PyTorch training loop equivalent to the estimators' stochastic solvers."""
    tdtype = torch.float32 if X.dtype == np.float32 else torch.float64
    X_t = torch.from_numpy(X)
    classes, codes = np.unique(y, return_inverse=True)
    y_t = torch.from_numpy(codes.astype(np.int64))
    units = C.layer_units(X.shape[1], hidden, len(classes))
    n = X.shape[0]

    def run():
        torch.manual_seed(0)
        layers = []
        for i, (fan_in, fan_out) in enumerate(zip(units[:-1], units[1:])):
            layers.append(torch.nn.Linear(fan_in, fan_out, dtype=tdtype))
            if i < len(units) - 2:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        weights = [p for name, p in model.named_parameters() if name.endswith("weight")]
        biases = [p for name, p in model.named_parameters() if name.endswith("bias")]
        # The estimators' L2 term 0.5 alpha ||W||^2 / batch is weight decay alpha / batch
        # on the coefficients only.
        groups = [
            {"params": weights, "weight_decay": alpha / batch},
            {"params": biases, "weight_decay": 0.0},
        ]
        if solver == "sgd":
            opt = torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
        else:
            opt = torch.optim.Adam(groups, lr=lr, betas=(0.9, 0.999), eps=1e-8)
        loss_fn = torch.nn.CrossEntropyLoss()
        for _ in range(epochs):
            perm = torch.randperm(n)
            for start in range(0, n, batch):
                idx = perm[start : start + batch]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(X_t[idx]), y_t[idx])
                loss.backward()
                opt.step()

    return run


def matched_torch_threads(batch, units, n_rows):
    """Threads for the PyTorch loop: as many as bpnet's epochs may use for the case.

    With two threads on small products, torch's OpenMP barriers stall whenever another
    process holds a core (tens of times slower on a loaded machine), so giving torch its
    default there would measure the machine's load, not the library. Both get the same
    thread budget instead: one thread where bpnet does not cut its batches, all of
    bpnet's where it does.
    """
    try:
        from bpnet._layout import NetworkLayout
        from bpnet._sgd_fast import batch_is_cut
        from bpnet._threading import available_threads
    except ImportError:
        return None
    layout = NetworkLayout.with_activations(units, "relu", "softmax")
    return available_threads() if batch_is_cut(layout.table, min(batch, n_rows)) else 1


def run_case(
    name, hidden, batch, epochs, solver, dtype, reps, torch, peak, torch_threads="matched"
):
    from sklearn.neural_network import MLPClassifier

    from bpnet import BPClassifier

    X, y = C.load_dataset(name, dtype)
    n, n_features = X.shape
    units = C.layer_units(n_features, hidden, len(np.unique(y)))
    params = estimator_params(hidden, batch, solver, epochs)
    runners = {
        "bpnet": sklearn_runner(BPClassifier, X, y, params),
        "mlp": sklearn_runner(MLPClassifier, X, y, params),
    }
    n_torch_threads = None
    if torch is not None:
        if torch_threads == "matched":
            n_torch_threads = matched_torch_threads(batch, units, n) or torch_default_threads(torch)
        elif torch_threads == "default":
            n_torch_threads = torch_default_threads(torch)
        else:
            n_torch_threads = int(torch_threads)
        torch.set_num_threads(n_torch_threads)
        runners["torch"] = torch_runner(torch, X, y, hidden, batch, solver, epochs)

    # Warm up every contender on a slice (code paths, thread pools, allocator).
    n_warm = min(n, 4 * batch)
    warm = {
        "bpnet": sklearn_runner(
            BPClassifier, X[:n_warm], y[:n_warm], estimator_params(hidden, batch, solver, 1)
        ),
        "mlp": sklearn_runner(
            MLPClassifier, X[:n_warm], y[:n_warm], estimator_params(hidden, batch, solver, 1)
        ),
    }
    if torch is not None:
        warm["torch"] = torch_runner(torch, X[:n_warm], y[:n_warm], hidden, batch, solver, 1)
    C.interleave(warm, 1)

    times = C.interleave(runners, reps)
    per_epoch = {k: [t / epochs for t in v] for k, v in times.items()}
    med = {k: C.median(v) for k, v in per_epoch.items()}
    flops = C.epoch_flops(n, units)
    gflops = flops / med["bpnet"] / 1e9
    target = speedup_target(name, batch)
    speedup = med["mlp"] / med["bpnet"]
    record = {
        "case": f"{name} h{'x'.join(map(str, hidden))}",
        "data": name,
        "n_rows": n,
        "n_features": n_features,
        "hidden": list(hidden),
        "layer_units": units,
        "batch_size": batch,
        "solver": solver,
        "dtype": np.dtype(dtype).name,
        "epochs": epochs,
        "reps": reps,
        "ms_per_epoch": {k: 1e3 * v for k, v in med.items()},
        "ms_per_epoch_range": {k: [1e3 * t for t in C.spread(v)] for k, v in per_epoch.items()},
        "speedup_vs_mlp": speedup,
        "torch_threads": n_torch_threads,
        "speedup_vs_torch": (med["torch"] / med["bpnet"]) if "torch" in med else None,
        "flops_per_epoch": flops,
        "gflops": gflops,
        "peak_gflops": peak,
        "fraction_of_peak": gflops / peak,
        "target_speedup_vs_mlp": target,
        "meets_target_vs_mlp": bool(speedup >= target),
        "faster_than_torch": (bool(med["torch"] > med["bpnet"]) if "torch" in med else None),
    }
    return record


def summary_rows(records):
    rows = []
    for r in records:
        ms = r["ms_per_epoch"]
        rows.append(
            [
                r["case"],
                r["dtype"],
                r["solver"],
                r["batch_size"],
                ms["bpnet"],
                ms["mlp"],
                r["speedup_vs_mlp"],
                ms.get("torch"),
                r["gflops"],
                100.0 * r["fraction_of_peak"],
            ]
        )
    return rows


SUMMARY_HEADERS = [
    "case",
    "dtype",
    "solver",
    "batch",
    "bpnet ms/epoch",
    "MLP ms/epoch",
    "speedup",
    "torch ms/epoch",
    "GFLOP/s",
    "% of peak",
]


# --- --options: what each training option costs, bpnet against itself ----------------

# (data set, hidden layers, batch size, epochs in the full run)
OPTION_CASES = [
    ("digits", (100,), 200, 40),
    ("synth_20000_50", (100,), 200, 5),
]
QUICK_OPTION_CASES = [("digits", (100,), 200, 2)]
# The callback rows: a small case, where a per-epoch cost shows most.
CALLBACK_CASES = [("digits", (100,), 200, 40)]
QUICK_CALLBACK_CASES = [("digits", (100,), 200, 2)]

AA_LABEL = "A/A (no option)"
# Each option's parameters, added to the base fit's.
CLASSIFIER_OPTIONS = {
    AA_LABEL: {},
    "class_weight='balanced'": {"class_weight": "balanced"},
    "dropout=0.2": {"dropout": 0.2},
    "max_grad_norm=1.0": {"max_grad_norm": 1.0},
    "learning_rate_schedule='cosine'": {"learning_rate_schedule": "cosine"},
    "warmup_iter=2": {"warmup_iter": 2},
    "weight_decay=0.01": {"weight_decay": 0.01},
    "label_smoothing=0.1": {"label_smoothing": 0.1},
    "weight_init='he'": {"weight_init": "he"},
}
REGRESSOR_BASE = {"loss": "squared_error"}
REGRESSOR_OPTIONS = {
    "loss='huber'": {"loss": "huber"},
    "loss='quantile', quantile=0.5": {"loss": "quantile", "quantile": 0.5},
}
# The targets: the largest acceptable time per epoch with the option, as a ratio
# to the same fit without it. "Costs nothing measurable" is read as at most 5%, which is
# below the spread of the A/A rows on this machine.
OPTION_TARGETS = {
    "class_weight='balanced'": 1.05,
    "dropout=0.2": 1.15,
    "max_grad_norm=1.0": 1.10,
    "loss='huber'": 1.10,
    "loss='quantile', quantile=0.5": 1.10,
    "learning_rate_schedule='cosine'": 1.05,
    "warmup_iter=2": 1.05,
    "weight_decay=0.01": 1.05,
    "label_smoothing=0.1": 1.05,
    # The initialisation happens once, before the first epoch: nothing per epoch.
    "weight_init='he'": 1.05,
}


class DoNothingCallback:
    """A callback that listens to every task and does nothing: the protocol's own cost.

    It asks for no ``fitted_estimator``, so none is built for it.
    """

    def setup(self, estimator, context):
        pass

    def teardown(self, estimator, context):
        pass

    def on_fit_task_begin(self, estimator, context):
        return False

    def on_fit_task_end(self, estimator, context):
        return False


def _fit_runner(make_estimator, X, y, kernel_log=None):
    """A fit; with `kernel_log`, the epoch kernel's time of each epoch is appended to it."""

    def run():
        with C.quiet(), C.KernelClock() as clock:
            make_estimator().fit(X, y)
        if kernel_log is not None:
            kernel_log.extend(clock.per_epoch())

    return run


def _option_record(group, meta, base_label, label, params, base_times, times, epochs,
                   base_kernel, kernel):  # fmt: skip
    base = [t / epochs for t in base_times]
    option = [t / epochs for t in times]
    ratios = C.paired_ratios(option, base)
    target = OPTION_TARGETS.get(label)
    ratio = C.median(ratios)
    return {
        "group": group,
        **meta,
        "base": base_label,
        "option": label,
        "params": params,
        "ms_per_epoch": {"base": 1e3 * C.median(base), "option": 1e3 * C.median(option)},
        "ms_per_epoch_range": {
            "base": [1e3 * t for t in C.spread(base)],
            "option": [1e3 * t for t in C.spread(option)],
        },
        "ms_per_epoch_reps": {"base": [1e3 * t for t in base], "option": [1e3 * t for t in option]},
        "ratio": ratio,
        "ratio_range": list(C.spread(ratios)),
        "ratio_of_medians": C.median(option) / C.median(base),
        "ratio_of_minimums": min(option) / min(base),
        # Every kernel call's time per epoch, all repetitions pooled (one call per epoch,
        # or one per fit when its epochs run in one call): the fastest is the one least
        # disturbed by other processes, which options that only change the kernel's work
        # (all but the callbacks) are compared on too.
        "kernel_ms_per_epoch": {
            "base": {"min": 1e3 * min(base_kernel), "median": 1e3 * C.median(base_kernel)},
            "option": {"min": 1e3 * min(kernel), "median": 1e3 * C.median(kernel)},
        },
        "kernel_calls_timed": {"base": len(base_kernel), "option": len(kernel)},
        "fastest_kernel_call_ratio": min(kernel) / min(base_kernel),
        "extra_ms_per_epoch": 1e3 * (C.median(option) - C.median(base)),
        "target_max_ratio": target,
        "meets_target": None if target is None else bool(ratio <= target),
    }


def run_option_group(group, meta, X, y, epochs, batch, variants, reps):
    """Time the variants of one fit, interleaved and rotating; one record per variant
    other than the first (the base), compared with the base pairwise.

    ``variants`` maps a label to ``(make_estimator, params)``; the first is the base.
    """
    kernel_logs = {label: [] for label in variants}
    runners = {
        label: _fit_runner(make, X, y, kernel_logs[label]) for label, (make, _) in variants.items()
    }
    # Warm up every variant on a slice, for one epoch, or as many as its warm-up needs
    # (code paths, allocator, the callbacks' imports).
    n_warm = min(X.shape[0], 4 * batch)
    warm = {
        label: _fit_runner(
            lambda make=make, n=max(1, params.get("warmup_iter", 0)): make(max_iter=n),
            X[:n_warm],
            y[:n_warm],
        )
        for label, (make, params) in variants.items()
    }
    C.interleave(warm, 1)
    times = C.interleave(runners, reps, rotate=True)
    base_label, *labels = variants
    return [
        _option_record(group, meta, base_label, label, variants[label][1],
                       times[base_label], times[label], epochs,
                       kernel_logs[base_label], kernel_logs[label])
        for label in labels
    ]  # fmt: skip


def _case_meta(name, hidden, batch, epochs, solver, dtype, reps, X):
    return {
        "case": f"{name} h{'x'.join(map(str, hidden))}",
        "data": name,
        "n_rows": X.shape[0],
        "n_features": X.shape[1],
        "hidden": list(hidden),
        "batch_size": batch,
        "solver": solver,
        "dtype": np.dtype(dtype).name,
        "epochs": epochs,
        "reps": reps,
    }


def _maker(cls, params, callback=None):
    def make(**overrides):
        estimator = cls(**{**params, **overrides})
        if callback is not None:
            estimator.set_callbacks(callback())
        return estimator

    return make


def run_options_case(name, hidden, batch, epochs, solver, dtype, reps, n_targets):
    """The classifier's and the regression variant's option rows of one case."""
    from bpnet import BPClassifier, BPRegressor

    X, y = C.load_dataset(name, dtype)
    meta = _case_meta(name, hidden, batch, epochs, solver, dtype, reps, X)
    base = estimator_params(hidden, batch, solver, epochs)
    variants = {"default": (_maker(BPClassifier, base), {})}
    for label, extra in CLASSIFIER_OPTIONS.items():
        variants[label] = (_maker(BPClassifier, {**base, **extra}), extra)
    records = run_option_group(
        "classifier", {**meta, "estimator": "BPClassifier"}, X, y, epochs, batch, variants, reps
    )
    Y = C.regression_targets(X, n_targets).astype(dtype)
    variants = {"loss='squared_error'": (_maker(BPRegressor, {**base, **REGRESSOR_BASE}), {})}
    for label, extra in REGRESSOR_OPTIONS.items():
        variants[label] = (_maker(BPRegressor, {**base, **extra}), extra)
    records += run_option_group(
        "regressor",
        {**meta, "estimator": "BPRegressor", "n_targets": n_targets},
        X, Y, epochs, batch, variants, reps,
    )  # fmt: skip
    return records


def run_callbacks_case(name, hidden, batch, epochs, solver, dtype, reps, directory):
    """No callback, a do-nothing callback and a Checkpoint written every epoch."""
    from bpnet import BPClassifier
    from bpnet.callbacks import Checkpoint

    X, y = C.load_dataset(name, dtype)
    meta = _case_meta(name, hidden, batch, epochs, solver, dtype, reps, X)
    params = estimator_params(hidden, batch, solver, epochs)
    path = Path(directory) / "m.skops"
    variants = {
        "no callback": (_maker(BPClassifier, params), {}),
        "do-nothing callback": (_maker(BPClassifier, params, DoNothingCallback), {}),
        "Checkpoint(every=1)": (
            _maker(BPClassifier, params, lambda: Checkpoint(path, every=1)),
            {"path": "m.skops", "every": 1},
        ),
    }
    return run_option_group(
        "callback", {**meta, "estimator": "BPClassifier"}, X, y, epochs, batch, variants, reps
    )


def _cost(record):
    low, high = (C.format_percent(r) for r in record["ratio_range"])
    return f"{C.format_percent(record['ratio'])} ({low} … {high})"


def _ms(record, key):
    values = record["ms_per_epoch_reps"][key]
    return C.format_range([v / 1e3 for v in values], scale=1e3)


OPTION_HEADERS = [
    "case",
    "model",
    "dtype",
    "solver",
    "option",
    "base",
    "base ms/epoch",
    "option ms/epoch",
    "cost: median (min … max) of paired reps",
    "best-rep cost",
    "fastest-kernel-call cost",
    "target",
    "meets",
]

CALLBACK_HEADERS = [
    "case",
    "dtype",
    "solver",
    "callback",
    "no callback ms/epoch",
    "with callback ms/epoch",
    "ratio: median (min–max)",
    "best-rep ratio",
    "extra ms/epoch",
]


def _best_rep_ratio(record):
    """Fastest repetition with the option over the fastest without: the least disturbed
    runs of each, for a loaded machine."""
    reps = record["ms_per_epoch_reps"]
    return min(reps["option"]) / min(reps["base"])


def option_rows(records):
    rows = []
    for r in records:
        if r["group"] == "callback":
            continue
        target = r["target_max_ratio"]
        rows.append(
            [
                f"{r['case']} b{r['batch_size']}",
                r["estimator"],
                r["dtype"],
                r["solver"],
                r["option"],
                r["base"],
                _ms(r, "base"),
                _ms(r, "option"),
                _cost(r),
                C.format_percent(_best_rep_ratio(r)),
                C.format_percent(r["fastest_kernel_call_ratio"]),
                "—" if target is None else f"≤ {C.format_percent(target)}",
                "—" if r["meets_target"] is None else ("yes" if r["meets_target"] else "no"),
            ]
        )
    return rows


def callback_rows(records):
    rows = []
    for r in records:
        if r["group"] != "callback":
            continue
        low, high = r["ratio_range"]
        rows.append(
            [
                f"{r['case']} b{r['batch_size']}",
                r["dtype"],
                r["solver"],
                r["option"],
                _ms(r, "base"),
                _ms(r, "option"),
                f"{r['ratio']:.3g} ({low:.3g}–{high:.3g})",
                f"{_best_rep_ratio(r):.3g}",
                f"{r['extra_ms_per_epoch']:.3g}",
            ]
        )
    return rows


def options_markdown(payload, heading="###"):
    """The option and callback tables of a ``--options`` run, as Markdown."""
    records = payload["results"]
    reps = sorted({r["reps"] for r in records})
    lines = [
        f"{heading} Cost of training options (bpnet against itself, per epoch)",
        "",
        f"Median of {'/'.join(map(str, reps))} interleaved repetitions, order rotating; "
        "ms/epoch as median (min–max); cost = median over repetitions of the time with "
        "the option over the time without it in the same repetition. The A/A row times "
        "the base against itself: its spread is the noise floor. Best-rep cost compares "
        "the fastest repetition of each, the least disturbed by other processes; "
        "fastest-kernel-call cost the fastest call of the epoch kernels "
        "per epoch (`train_epoch` per epoch, or `train_epochs` for a whole fit, timed in "
        "every repetition). The targets are checked on the median cost.",
        "",
        C.markdown_table(OPTION_HEADERS, option_rows(records)),
    ]
    callbacks = callback_rows(records)
    if callbacks:
        lines += [
            "",
            f"{heading} Cost of callbacks (per epoch)",
            "",
            C.markdown_table(CALLBACK_HEADERS, callbacks),
        ]
    return "\n".join(lines) + "\n"


def run_options(args):
    """The --options mode: option and callback rows, JSON and Markdown."""
    quick = args.quick
    reps = args.reps or (3 if quick else 7)
    cases = QUICK_OPTION_CASES if quick else OPTION_CASES
    callback_cases = QUICK_CALLBACK_CASES if quick else CALLBACK_CASES
    if args.cases:
        cases = [c for c in cases if any(s in c[0] for s in args.cases)]
        callback_cases = [c for c in callback_cases if any(s in c[0] for s in args.cases)]
    solvers = [s for s in ("adam", "sgd") if s in args.solvers]
    info = C.machine_info()
    print(f"BLAS: {C.blas_summary(info)}", flush=True)

    from threadpoolctl import threadpool_limits

    limiter = threadpool_limits(args.threads) if args.threads is not None else None

    def show(records):
        for r in records:
            ms = r["ms_per_epoch"]
            print(
                f"{r['case']:<22} {r['estimator']:<12} {r['dtype']:<8} {r['solver']:<4} "
                f"{r['option']:<31} base {ms['base']:8.3f}  with {ms['option']:8.3f} ms/epoch  "
                f"cost {_cost(r)}",
                flush=True,
            )

    records = []
    for name, hidden, batch, epochs in cases:
        for solver in solvers:
            for dt in args.dtypes:
                rows = run_options_case(
                    name, hidden, batch, args.epochs or epochs, solver,
                    np.dtype(dt).type, reps, args.reg_targets,
                )  # fmt: skip
                show(rows)
                records += rows
    if not args.no_callbacks:
        with tempfile.TemporaryDirectory(prefix="bpnet-bench-") as directory:
            for name, hidden, batch, epochs in callback_cases:
                for solver in solvers:
                    for dt in args.dtypes:
                        rows = run_callbacks_case(
                            name, hidden, batch, args.epochs or epochs, solver,
                            np.dtype(dt).type, reps, directory,
                        )  # fmt: skip
                        show(rows)
                        records += rows
    if limiter is not None:
        limiter.restore_original_limits()

    payload = {
        "benchmark": "fit_options",
        "quick": quick,
        "threads": args.threads,
        "machine": info,
        "checkpoint_directory": tempfile.gettempdir(),
        "results": records,
    }
    path = C.write_json(args.output, payload)
    text = options_markdown(payload)
    md_path = Path(args.output).with_suffix(".md")
    md_path.write_text(text)
    print()
    print(text)
    print(f"wrote {path}\nwrote {md_path}")
    return payload


def plot(records, path):
    labels = [f"{r['case']} b{r['batch_size']} {r['dtype']} {r['solver']}" for r in records]
    series = {"vs MLPClassifier": [r["speedup_vs_mlp"] for r in records]}
    if any(r["speedup_vs_torch"] is not None for r in records):
        series["vs PyTorch loop"] = [r["speedup_vs_torch"] for r in records]
    return C.bar_plot(
        path,
        labels,
        series,
        "bpnet fit speedup per epoch (higher is better)",
        "speedup (x)",
        reference=1.0,
    )


# --- --dtype-speed: training a float64 input in float32 -----------------------------

DTYPE_CASES = [("synth_60000_784", (256,), 128, 1), ("synth_20000_100", (256, 128), 64, 1)]
QUICK_DTYPE_CASES = [("digits", (100,), 200, 2)]
# The target: dtype='float32' at least this much faster per epoch than dtype=None
# on float64 input.
DTYPE_SPEEDUP_TARGET = 1.6


def run_dtype_speed(args):
    """dtype=None (float64) against dtype='float32' on the same float64 X, interleaved."""
    from bpnet import BPClassifier

    reps = args.reps or (3 if args.quick else 5)
    rows = []
    for name, hidden, batch, epochs in QUICK_DTYPE_CASES if args.quick else DTYPE_CASES:
        X, y = C.load_dataset(name, np.float64)
        for solver in args.solvers:
            base = estimator_params(hidden, batch, solver, epochs)
            runners = {
                dtype: sklearn_runner(BPClassifier, X, y, {**base, "dtype": dtype})
                for dtype in (None, "float32")
            }
            times = C.interleave(runners, reps, rotate=True)
            ratios = C.paired_ratios(times[None], times["float32"])
            rows.append({
                "case": f"{name} h{'x'.join(map(str, hidden))}", "batch": batch,
                "solver": solver, "float64_ms": 1e3 * C.median(times[None]) / epochs,
                "float32_ms": 1e3 * C.median(times["float32"]) / epochs,
                "speedup": C.median(ratios), "target": DTYPE_SPEEDUP_TARGET,
            })  # fmt: skip
            row = rows[-1]
            print(
                f"{row['case']} {solver}: dtype=None {row['float64_ms']:.1f} ms, "
                f"'float32' {row['float32_ms']:.1f} ms, x{row['speedup']:.2f}",
                flush=True,
            )
    table = C.markdown_table(
        ["case", "batch", "solver", "dtype=None ms/epoch", "dtype='float32' ms/epoch",
         "speedup (paired median)", "target", "meets"],
        [[r["case"], r["batch"], r["solver"], r["float64_ms"], r["float32_ms"],
          f"{r['speedup']:.2f}", f"≥ {r['target']}", "yes" if r["speedup"] >= r["target"]
          else "no"] for r in rows],
    )  # fmt: skip
    output = (
        C.default_output("bench_dtype.json", args.quick)
        if args.output is None or (args.output.name == "bench_fit.json")
        else args.output
    )
    C.write_json(output, {"machine": C.machine_info(), "reps": reps, "rows": rows})
    output.with_suffix(".md").write_text(
        "float64 input (a pandas frame's default), trained in float64 (dtype=None) or in "
        "float32 (dtype='float32'), per epoch, interleaved repetitions.\n\n" + table + "\n"
    )
    print(table)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick", action="store_true", help="tiny subset, 1-2 epochs, 3 repetitions (seconds)"
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON path (default: in results/, or results/quick/ with --quick); the plot is "
        "written beside it as .png",
    )
    parser.add_argument(
        "--reps",
        type=int,
        default=None,
        help="repetitions (median; >= 3); default 5, with --options 7 (3 with --quick)",
    )
    parser.add_argument(
        "--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"]
    )
    parser.add_argument("--solvers", nargs="+", default=["sgd", "adam"], choices=["sgd", "adam"])
    parser.add_argument(
        "--cases",
        nargs="*",
        default=None,
        help="only cases whose data set name contains one of these strings",
    )
    parser.add_argument(
        "--epochs", type=int, default=None, help="override every case's number of epochs"
    )
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch loop")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS/OpenMP threads while timing (threadpoolctl); default: "
        "the libraries' own default (all cores)",
    )
    parser.add_argument(
        "--torch-threads",
        default="matched",
        help="threads of the PyTorch loop: 'matched' (default: the BLAS "
        "thread count bpnet uses for the case), 'default' (torch's "
        "own), or a number",
    )
    parser.add_argument("--no-plot", action="store_true")
    parser.add_argument(
        "--options",
        action="store_true",
        help="time bpnet with each training option against bpnet without it (and "
        "callbacks against none) instead of the comparison with MLPClassifier; writes "
        "bench_options.json and .md",
    )
    parser.add_argument(
        "--reg-targets",
        type=int,
        default=10,
        help="with --options: targets of the regression variant (default 10, the "
        "classifier's output width)",
    )
    parser.add_argument(
        "--no-callbacks", action="store_true", help="with --options: skip the callback rows"
    )
    parser.add_argument(
        "--dtype-speed",
        action="store_true",
        help="time float64 input trained with dtype='float32' against dtype=None (float64) "
        "on the two large cases; writes bench_dtype.json and .md",
    )
    args = parser.parse_args(argv)
    if args.dtype_speed:
        return run_dtype_speed(args)
    default_name = "bench_options.json" if args.options else "bench_fit.json"
    args.output = args.output or C.default_output(default_name, args.quick)
    C.SETTLE_SECONDS = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    if args.reps is not None and args.reps < 3:
        parser.error("--reps must be at least 3 (the median of 3 or more)")
    if args.options:
        return run_options(args)
    args.reps = args.reps or 5

    torch = None if args.no_torch else C.import_torch()
    if torch is not None:
        torch_default_threads(torch)

    cases = QUICK_CASES if args.quick else CASES
    if args.cases:
        cases = [c for c in cases if any(s in c[0] for s in args.cases)]
    info = C.machine_info()
    print(f"BLAS: {C.blas_summary(info)}; torch: {info['torch']}", flush=True)

    peaks = {dt: C.gemm_peak(np.dtype(dt)) for dt in args.dtypes}
    print(
        "GEMM peak (1024^3 matmul, all threads): "
        + ", ".join(f"{dt} {p:.1f} GFLOP/s" for dt, p in peaks.items()),
        flush=True,
    )

    # The peak is measured with all threads, outside any --threads limit.
    from threadpoolctl import threadpool_limits

    limiter = None
    if args.threads is not None:
        limiter = threadpool_limits(args.threads)

    records = []
    for name, hidden, batch, epochs, solvers in cases:
        for solver in solvers:
            if solver not in args.solvers:
                continue
            for dt in args.dtypes:
                # Sample the peak again before every case (all threads, briefly): on a
                # shared machine the load comes and goes, and the peak is the best seen.
                if limiter is not None:
                    limiter.restore_original_limits()
                peaks[dt] = max(peaks[dt], C.gemm_peak(np.dtype(dt), reps=3, warmup=1))
                if limiter is not None:
                    limiter = threadpool_limits(args.threads)
                rec = run_case(
                    name,
                    hidden,
                    batch,
                    args.epochs or epochs,
                    solver,
                    np.dtype(dt).type,
                    args.reps,
                    torch,
                    peaks[dt],
                    args.torch_threads,
                )
                records.append(rec)
                ms = rec["ms_per_epoch"]
                torch_txt = f"  torch {ms['torch']:8.2f}" if "torch" in ms else ""
                print(
                    f"{rec['case']:<24} b{batch:<5} {dt:<8} {solver:<4}  "
                    f"bpnet {ms['bpnet']:8.2f}  mlp {ms['mlp']:8.2f}{torch_txt} ms/epoch  "
                    f"x{rec['speedup_vs_mlp']:.2f} (target {rec['target_speedup_vs_mlp']})  "
                    f"{rec['gflops']:.1f} GFLOP/s = {100 * rec['fraction_of_peak']:.0f}% peak",
                    flush=True,
                )

    if limiter is not None:
        limiter.restore_original_limits()
    # The peak again at the end: the best seen in the run is the machine's peak.
    peaks_end = {dt: C.gemm_peak(np.dtype(dt)) for dt in args.dtypes}
    for rec in records:
        best = max(peaks[rec["dtype"]], peaks_end[rec["dtype"]])
        rec["peak_gflops"] = best
        rec["fraction_of_peak"] = rec["gflops"] / best
    print(
        "GEMM peak, best seen in the run: "
        + ", ".join(f"{dt} {max(peaks[dt], peaks_end[dt]):.1f} GFLOP/s" for dt in args.dtypes)
    )

    payload = {
        "benchmark": "fit",
        "quick": args.quick,
        "threads": args.threads,
        "torch_threads": args.torch_threads if torch is not None else None,
        "machine": info,
        "gemm_peak_gflops": {dt: max(peaks[dt], peaks_end[dt]) for dt in args.dtypes},
        "gemm_peak_gflops_during_end": {dt: [peaks[dt], peaks_end[dt]] for dt in args.dtypes},
        "results": records,
    }
    path = C.write_json(args.output, payload)
    print()
    print(C.markdown_table(SUMMARY_HEADERS, summary_rows(records)))
    print(f"\nwrote {path}")
    if not args.no_plot and records:
        print(f"wrote {plot(records, Path(args.output).with_suffix('.png'))}")
    return payload


if __name__ == "__main__":
    main()
