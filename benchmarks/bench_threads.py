"""BPClassifier fit time on one thread against its thread team, per shape.

bpnet trains each minibatch on a small team of threads (bpnet/_threading.py): the batch
is cut into row blocks and parameter blocks, by shape alone, and the threads claim them.
Cutting a batch pays only when each block carries enough work to outweigh moving its
rows and weights between the cores' caches. This script times, per shape:

- ``1 thread``: under ``threadpoolctl.threadpool_limits(1)``, which bpnet's team follows;
- ``always cut``: the team on every core with every batch cut into the most blocks
  (the size thresholds switched off);
- ``bpnet policy``: the default, which cuts only above MIN_BLOCK_WORK and starts
  helpers only for epochs above MIN_EPOCH_FLOPS.

It feeds the thresholds in bpnet/_threading.py. Run it on a quiet machine as well as a
loaded one: the blocks are claimed dynamically, so a core taken by another process
costs at most the block it was running.

Usage::

    python benchmarks/bench_threads.py            # all shapes, both dtypes (~2 minutes)
    python benchmarks/bench_threads.py --quick    # three shapes, float64 only
    python benchmarks/bench_threads.py --reps 5 --dtypes float32

Writes JSON (``--output``, default benchmarks/results/bench_threads.json, or
benchmarks/results/quick/bench_threads.json with ``--quick``).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

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


def blocks_label(record):
    """The policy's cut of a batch as "row blocks+parameter blocks"."""
    blocks = record["policy_blocks"]
    return f"{blocks['n_row_blocks']}+{blocks['n_param_blocks']}"


# The columns of the one-thread-against-a-team tables: this script's, and run_all.py's
# summary's.
COLUMNS = {
    "case": lambda r: r["case"],
    "dtype": lambda r: r["dtype"],
    "batch": lambda r: r["batch_size"],
    "work per batch": lambda r: r["gradient_work_per_batch"],
    "blocks (rows+params)": blocks_label,
    "policy threads": lambda r: r.get("policy_threads", "—"),
    "1 thread ms/epoch": lambda r: r["ms_per_epoch_1_thread"],
    "always cut ms/epoch": lambda r: r["ms_per_epoch_always_cut"],
    "bpnet policy ms/epoch": lambda r: r["ms_per_epoch_policy"],
    "policy speedup": lambda r: r["speedup_policy"],
}
SCRIPT_COLUMNS = [
    "case", "dtype", "batch", "work per batch", "blocks (rows+params)", "1 thread ms/epoch",
    "always cut ms/epoch", "bpnet policy ms/epoch", "policy speedup",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "case", "dtype", "batch", "blocks (rows+params)", "policy threads", "1 thread ms/epoch",
    "always cut ms/epoch", "bpnet policy ms/epoch", "policy speedup",
]  # fmt: skip


def table(records, columns):
    """A Markdown table of these records, one column per name of COLUMNS."""
    return C.markdown_table(columns, [[COLUMNS[c](r) for c in columns] for r in records])


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="three small shapes (seconds)")
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
    args.output = args.output or C.default_output("bench_threads.json", args.quick)
    C.SETTLE_SECONDS = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    if args.reps < 3:
        parser.error("--reps must be at least 3")
    dtypes = args.dtypes or (["float64"] if args.quick else ["float32", "float64"])

    from threadpoolctl import threadpool_limits

    from bpnet import BPClassifier
    from bpnet import _threading as policy

    info = C.machine_info()
    n_team = policy.team_limit()
    print(f"BLAS: {C.blas_summary(info)}; comparing 1 thread with a team of {n_team}", flush=True)

    def runner(X, y, params, n_threads=None, always_cut=False):
        def run():
            saved = policy.MIN_BLOCK_WORK, policy.MIN_EPOCH_FLOPS
            if always_cut:
                policy.MIN_BLOCK_WORK, policy.MIN_EPOCH_FLOPS = 1, 0
            try:
                with threadpool_limits(n_threads), C.quiet():
                    BPClassifier(**params).fit(X, y)
            finally:
                policy.MIN_BLOCK_WORK, policy.MIN_EPOCH_FLOPS = saved

        return run

    records = []
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
            runners = {
                "1": runner(X, y, params, n_threads=1),
                "cut": runner(X, y, params, always_cut=True),
                "policy": runner(X, y, params),
            }
            C.interleave(runners, 1)  # warm-up
            times = C.interleave(runners, args.reps)
            t1, tc, tp = (C.median(times[key]) / epochs for key in ("1", "cut", "policy"))
            blocks = policy.epoch_blocks(batch, units)
            work = batch * sum(a * b for a, b in zip(units[:-1], units[1:]))
            policy_threads = policy.epoch_threads(blocks, 6 * X.shape[0] * C.n_params(units))
            rec = {
                "case": f"{name}[:{X.shape[0]}] h{'x'.join(map(str, hidden))}",
                "dtype": dt,
                "batch_size": batch,
                "layer_units": units,
                "gradient_work_per_batch": work,
                "policy_blocks": blocks,
                "policy_threads": policy_threads,
                "team_threads": n_team,
                "ms_per_epoch_1_thread": 1e3 * t1,
                "ms_per_epoch_always_cut": 1e3 * tc,
                "ms_per_epoch_policy": 1e3 * tp,
                "speedup_always_cut": t1 / tc,
                "speedup_policy": t1 / tp,
                "ms_range_1_thread": [1e3 * t / epochs for t in C.spread(times["1"])],
                "ms_range_always_cut": [1e3 * t / epochs for t in C.spread(times["cut"])],
                "ms_range_policy": [1e3 * t / epochs for t in C.spread(times["policy"])],
            }
            records.append(rec)
            print(
                f"{rec['case']:<32} b{batch:<5} {dt:<8} work {work:>10}  "
                f"1 thread {1e3 * t1:8.2f}  always cut {1e3 * tc:8.2f}  "
                f"policy {1e3 * tp:8.2f} ms/epoch  (blocks {blocks['n_row_blocks']}+"
                f"{blocks['n_param_blocks']}, x{t1 / tp:.2f})",
                flush=True,
            )

    payload = {
        "benchmark": "threads",
        "quick": args.quick,
        "machine": info,
        "solver": args.solver,
        "team_threads": n_team,
        "min_block_work": policy.MIN_BLOCK_WORK,
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
