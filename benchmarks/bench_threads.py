"""BPClassifier fit time on one thread against its threads, per shape and schedule.

bpnet trains each minibatch on OpenMP threads (bpnet/_sgd_fast.pyx, _parallel.pyx): the
batch is cut into phases of blocks, by shape alone, and the threads share each phase's
blocks. This script times, per shape:

- ``1 thread``: under ``threadpoolctl.threadpool_limits(1)``, which bpnet follows;
- ``default``: every core, with bpnet's defaults (bpnet/_parallel.pyx): the owned
  schedule (each thread its own run of blocks first, then others'), and the governor;
- ``owned``: the same without the governor;
- ``static``, ``dynamic``, ``guided``: every core, every batch, with OpenMP's schedule
  of that name and the governor off: what OpenMP alone does;
- ``governed owned``, ``governed dynamic``: that schedule, with the governor choosing
  how many threads each batch uses from its timings.

``--busy`` keeps one core busy with a spinning process (pinned to the last core), the
case in which threads must not make a fit slower than one thread.

Usage::

    python benchmarks/bench_threads.py            # all shapes, both dtypes
    python benchmarks/bench_threads.py --busy     # the same with one core busy
    python benchmarks/bench_threads.py --quick    # three shapes, float64 only

Writes JSON (``--output``, default benchmarks/results/bench_threads.json, or
benchmarks/results/quick/bench_threads.json with ``--quick``; ``_busy`` is added to the
name with ``--busy``).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
from bench_builds import busy_loop

# (data set, rows used (None = all), hidden, batch, epochs)
CASES = [
    ("digits", None, (100,), 16, 10),
    ("digits", None, (100,), 32, 10),
    ("digits", None, (100,), 64, 20),
    ("digits", None, (100,), 200, 20),
    ("synth_20000_50", None, (100,), 32, 2),
    ("synth_20000_50", None, (100,), 200, 3),
    ("synth_20000_50", None, (100,), 1000, 3),
    ("synth_20000_100", None, (256, 128), 16, 1),
    ("synth_20000_100", None, (256, 128), 64, 1),
    ("synth_20000_100", None, (256, 128), 256, 2),
    ("synth_20000_100", None, (1024,), 32, 1),
    ("synth_20000_100", None, (1024,), 128, 1),
    ("synth_60000_784", 20000, (256,), 32, 1),
    ("synth_60000_784", 20000, (256,), 128, 1),
    ("synth_60000_784", 20000, (256,), 512, 1),
]

QUICK_CASES = [
    ("digits", None, (100,), 32, 3),
    ("digits", None, (100,), 200, 5),
    ("synth_20000_100", 5000, (256, 128), 64, 1),
]


# Each variant's (OpenMP schedule, governor on) on every core; None keeps bpnet's default.
VARIANTS = {
    "1 thread": (None, None),
    "default": (None, None),
    "owned": ("owned", False),
    "static": ("static", False),
    "dynamic": ("dynamic", False),
    "guided": ("guided", False),
    "governed owned": ("owned", True),
    "governed dynamic": ("dynamic", True),
}

# The columns of the tables: this script's, and run_all.py's summary's.
COLUMNS = {
    "case": lambda r: r["case"],
    "dtype": lambda r: r["dtype"],
    "batch": lambda r: r["batch_size"],
    "blocks per phase": lambda r: r["blocks_per_phase"],
    "threads": lambda r: r["threads"],
    **{f"{v} ms/epoch": (lambda r, v=v: r["ms_per_epoch"][v]) for v in VARIANTS},
    "default speedup": lambda r: r["ms_per_epoch"]["1 thread"] / r["ms_per_epoch"]["default"],
}
SCRIPT_COLUMNS = list(COLUMNS)
SUMMARY_COLUMNS = [
    "case", "dtype", "batch", "threads", "1 thread ms/epoch", "default ms/epoch",
    "dynamic ms/epoch", "default speedup",
]  # fmt: skip


def table(records, columns):
    """A Markdown table of these records, one column per name of COLUMNS."""
    return C.markdown_table(columns, [[COLUMNS[c](r) for c in columns] for r in records])


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="three small shapes (seconds)")
    parser.add_argument("--busy", action="store_true", help="keep one core busy")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON path (default: in results/, or results/quick/ with --quick)",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dtypes", nargs="+", default=None, choices=["float32", "float64"])
    parser.add_argument("--solver", default="sgd", choices=["sgd", "adam"])
    args = parser.parse_args(argv)
    name = "bench_threads_busy.json" if args.busy else "bench_threads.json"
    args.output = args.output or C.default_output(name, args.quick)
    C.SETTLE_SECONDS = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    if args.reps < 3:
        parser.error("--reps must be at least 3")
    dtypes = args.dtypes or (["float64"] if args.quick else ["float32", "float64"])

    from threadpoolctl import threadpool_limits

    from bpnet import BPClassifier, _parallel, _sgd_fast
    from bpnet import _threading as policy
    from bpnet._layout import NetworkLayout

    info = C.machine_info()
    n_threads = policy.available_threads()
    print(f"BLAS: {C.blas_summary(info)}; 1 thread against {n_threads}", flush=True)

    def runner(X, y, params, variant):
        def run():
            one = variant == "1 thread"
            chosen_schedule, chosen_governor = VARIANTS[variant]
            governed = _parallel.set_governor(
                _parallel.governor_default if chosen_governor is None else chosen_governor
            )
            schedule = _parallel.set_schedule(chosen_schedule or _parallel.default_schedule)
            try:
                with threadpool_limits(1 if one else None), C.quiet():
                    BPClassifier(**params).fit(X, y)
            finally:
                _parallel.set_governor(governed)
                _parallel.set_schedule(schedule)

        return run

    hog = busy_loop() if args.busy else None
    records = []
    try:
        for name, n_rows, hidden, batch, epochs in QUICK_CASES if args.quick else CASES:
            for dt in dtypes:
                X, y = C.load_dataset(name, np.dtype(dt).type)
                if n_rows is not None:
                    X, y = X[:n_rows], y[:n_rows]
                units = C.layer_units(X.shape[1], hidden, len(np.unique(y)))
                params = dict(
                    hidden_layer_sizes=hidden,
                    batch_size=batch,
                    solver=args.solver,
                    max_iter=epochs,
                    random_state=0,
                    **C.FIXED_EPOCHS,
                )
                runners = {v: runner(X, y, params, v) for v in VARIANTS}
                C.interleave(runners, 1)  # warm-up
                times = C.interleave(runners, args.reps, rotate=True)
                layout = NetworkLayout.with_activations(units, "relu", "softmax")
                plan = _sgd_fast.batch_plan(
                    layout.table, min(batch, X.shape[0]),
                    direct_work=policy.direct_product_work(X.dtype),
                )  # fmt: skip
                rec = {
                    "case": f"{name}[:{X.shape[0]}] h{'x'.join(map(str, hidden))}",
                    "dtype": dt,
                    "batch_size": batch,
                    "layer_units": units,
                    "blocks_per_phase": " ".join(str(p["n_blocks"]) for p in plan),
                    "threads": n_threads,
                    "ms_per_epoch": {v: 1e3 * C.median(times[v]) / epochs for v in VARIANTS},
                    "ms_range": {
                        v: [1e3 * t / epochs for t in C.spread(times[v])] for v in VARIANTS
                    },
                }
                records.append(rec)
                print(
                    f"{rec['case']:<32} b{batch:<5} {dt:<8} "
                    + "  ".join(f"{v} {rec['ms_per_epoch'][v]:8.2f}" for v in VARIANTS),
                    flush=True,
                )
    finally:
        if hog is not None:
            hog.kill()

    payload = {
        "benchmark": "threads",
        "quick": args.quick,
        "busy": args.busy,
        "machine": info,
        "solver": args.solver,
        "threads": n_threads,
        "load_average_at_end": os.getloadavg(),
        "results": records,
    }
    path = C.write_json(args.output, payload)
    print()
    print(table(records, SCRIPT_COLUMNS))
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
