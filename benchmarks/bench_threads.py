"""BPClassifier fit time with 1 BLAS thread against the default thread count, per shape.

OpenBLAS parallelises each GEMM over its threads; for the small products of minibatch
training, waking and joining the threads can cost more than the product itself, and
the threads spin while bpnet runs its single-threaded steps (activations, updates).
This script times bpnet's fit under ``threadpoolctl.threadpool_limits(1)``, under the
default limits (all cores) with bpnet's own thread policy switched off, and with that
policy as shipped (when bpnet has one), interleaved, for shapes that span small to
large GEMMs, and reports which ones prefer one thread. It feeds the estimator's
threading policy. Run it on a quiet machine as well as a loaded one: other processes
on the cores change the answer.

Shape measures reported per case: ``batch * max width`` (the largest activation block
of one batch) and the largest single GEMM of a batch in flops (2 batch fan_in fan_out).

Usage::

    python benchmarks/bench_threads.py            # all shapes, both dtypes (~2 minutes)
    python benchmarks/bench_threads.py --quick    # three shapes, float64 only
    python benchmarks/bench_threads.py --reps 5 --dtypes float32

Writes JSON (``--output``, default benchmarks/results/bench_threads.json).
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="three small shapes (seconds)")
    parser.add_argument("--output", type=Path, default=C.default_output("bench_threads.json"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dtypes", nargs="+", default=None, choices=["float32", "float64"])
    parser.add_argument("--solver", default="sgd", choices=["sgd", "adam"])
    args = parser.parse_args(argv)
    if args.reps < 3:
        parser.error("--reps must be at least 3")
    dtypes = args.dtypes or (["float64"] if args.quick else ["float32", "float64"])

    from threadpoolctl import threadpool_limits

    from bpnet import BPClassifier

    info = C.machine_info()
    n_default = max(p["num_threads"] for p in info["threadpools"] if p["user_api"] == "blas")
    print(f"BLAS: {C.blas_summary(info)}; comparing 1 thread with {n_default}", flush=True)

    try:  # bpnet's own policy (one thread below a GEMM size), if this version has one
        from bpnet import _threading as policy
    except ImportError:
        policy = None

    def runner(X, y, params, n_threads, use_policy=True):
        def run():
            saved = policy.forced_choice if policy is not None else None
            if policy is not None and not use_policy:
                policy.forced_choice = "default"  # every product may use all threads
            try:
                with threadpool_limits(n_threads), C.quiet():
                    BPClassifier(**params).fit(X, y)
            finally:
                if policy is not None:
                    policy.forced_choice = saved
        return run

    records = []
    for name, n_rows, hidden, batch, epochs in (QUICK_CASES if args.quick else CASES):
        for dt in dtypes:
            X, y = C.load_dataset(name, np.dtype(dt).type)
            if n_rows is not None:
                X, y = X[:n_rows], y[:n_rows]
            units = C.layer_units(X.shape[1], hidden, len(np.unique(y)))
            params = dict(hidden_layer_sizes=hidden, batch_size=batch, solver=args.solver,
                          max_iter=epochs, random_state=0, **C.FIXED_EPOCHS)
            runners = {"1": runner(X, y, params, 1),
                       "default": runner(X, y, params, None, use_policy=False)}
            if policy is not None:
                runners["policy"] = runner(X, y, params, None)
            C.interleave(runners, 1)  # warm-up
            times = C.interleave(runners, args.reps)
            t1 = C.median(times["1"]) / epochs
            tn = C.median(times["default"]) / epochs
            tp = C.median(times["policy"]) / epochs if policy is not None else None
            biggest_gemm = max(2 * batch * a * b for a, b in zip(units[:-1], units[1:]))
            rec = {
                "case": f"{name}[:{X.shape[0]}] h{'x'.join(map(str, hidden))}",
                "dtype": dt,
                "batch_size": batch,
                "layer_units": units,
                "batch_x_max_width": batch * max(units),
                "largest_gemm_flops": biggest_gemm,
                "ms_per_epoch_1_thread": 1e3 * t1,
                f"ms_per_epoch_{n_default}_threads": 1e3 * tn,
                "ratio_default_over_1": tn / t1,
                "ms_per_epoch_policy": None if tp is None else 1e3 * tp,
                "prefers": "1" if t1 < tn else str(n_default),
                "ms_range_1_thread": [1e3 * t / epochs for t in C.spread(times["1"])],
                "ms_range_default": [1e3 * t / epochs for t in C.spread(times["default"])],
            }
            records.append(rec)
            print(f"{rec['case']:<32} b{batch:<5} {dt:<8} batch*width {batch * max(units):>7}  "
                  f"1 thread {1e3 * t1:8.2f}  {n_default} threads {1e3 * tn:8.2f} ms/epoch  "
                  f"({n_default}t/1t = {tn / t1:.2f})"
                  + ("" if tp is None else f"  bpnet policy {1e3 * tp:8.2f}"), flush=True)

    payload = {"benchmark": "threads", "quick": args.quick, "machine": info,
               "solver": args.solver, "default_threads": n_default,
               "load_average_at_end": os.getloadavg(), "results": records}
    path = C.write_json(args.output, payload)
    print()
    print(C.markdown_table(
        ["case", "dtype", "batch", "batch x max width", "1 thread ms/epoch",
         f"{n_default} threads ms/epoch", "ratio", "prefers", "bpnet policy ms/epoch"],
        [[r["case"], r["dtype"], r["batch_size"], r["batch_x_max_width"],
          r["ms_per_epoch_1_thread"], r[f"ms_per_epoch_{n_default}_threads"],
          r["ratio_default_over_1"], r["prefers"], r["ms_per_epoch_policy"]]
         for r in records]))
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
