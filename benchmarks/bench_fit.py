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

Writes JSON (``--output``, default benchmarks/results/bench_fit.json, or
benchmarks/results/quick/bench_fit.json with ``--quick``) and a PNG of the speedups next
to it (same name, .png).
"""

import argparse
import sys
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
    """Threads for the PyTorch loop: as many as bpnet's epoch team uses for the case.

    With two threads on small products, torch's OpenMP barriers stall whenever another
    process holds a core (tens of times slower on a loaded machine), so giving torch its
    default there would measure the machine's load, not the library. Both get the same
    thread budget instead: one thread where bpnet trains on one, its team's size where
    it shares batches.
    """
    try:
        from bpnet._threading import epoch_blocks, epoch_threads
    except ImportError:
        return None
    return epoch_threads(epoch_blocks(batch, units), 6 * n_rows * C.n_params(units))


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
    parser.add_argument("--reps", type=int, default=5, help="repetitions (median; >= 3)")
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
    args = parser.parse_args(argv)
    args.output = args.output or C.default_output("bench_fit.json", args.quick)
    C.SETTLE_SECONDS = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    if args.reps < 3:
        parser.error("--reps must be at least 3 (the median of 3 or more)")

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
