"""predict_proba throughput of BPClassifier against MLPClassifier with identical weights.

For each case bpnet is fitted briefly; an MLPClassifier with the same architecture is
fitted for one iteration on the same data (so it has every fitted attribute), then
bpnet's coefs_, intercepts_ and output settings are copied into it. Both then predict
the same rows with the same weights: the probabilities are checked to agree
(np.allclose) and the rows per second are compared. Timings are interleaved
(bpnet, MLP, bpnet, ...) and the median of the repetitions is reported; each
repetition repeats the call for about a quarter of a second.

Usage::

    python benchmarks/bench_predict.py             # 100k rows, several networks
    python benchmarks/bench_predict.py --quick     # one small network, 20k rows
    python benchmarks/bench_predict.py --rows 50000 --reps 5

Writes JSON (``--output``, default benchmarks/results/bench_predict.json, or
benchmarks/results/quick/bench_predict.json with ``--quick``) and a PNG of the speedups
next to it.
"""

import argparse
import copy
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# (data set, hidden layers)
CASES = [
    ("digits", (100,)),
    ("synth_20000_50", (100,)),
    ("synth_20000_100", (256, 128)),
    ("synth_60000_784", (256,)),
]
QUICK_CASES = [("synth_20000_50", (100,))]

TARGET = 2.0
SAMPLE_SECONDS = 0.25


def twin_mlp(bp, X, y):
    """An MLPClassifier that predicts with exactly bp's weights."""
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(
        hidden_layer_sizes=bp.hidden_layer_sizes,
        activation=bp.activation,
        max_iter=1,
        random_state=0,
    )
    with C.quiet():
        mlp.fit(X, y)
    mlp.coefs_ = [np.array(c, copy=True) for c in bp.coefs_]
    mlp.intercepts_ = [np.array(b, copy=True) for b in bp.intercepts_]
    for attr in ("classes_", "n_outputs_", "n_layers_", "out_activation_", "n_features_in_"):
        if hasattr(bp, attr):
            setattr(mlp, attr, copy.deepcopy(getattr(bp, attr)))
    return mlp


def run_case(name, hidden, dtype, n_pred, reps):
    from bpnet import BPClassifier

    X, y = C.load_dataset(name, dtype)
    n_fit = min(X.shape[0], 5000)
    bp = BPClassifier(hidden_layer_sizes=hidden, max_iter=2, random_state=0)
    with C.quiet():
        bp.fit(X[:n_fit], y[:n_fit])
    mlp = twin_mlp(bp, X[:n_fit], y[:n_fit])

    rng = np.random.default_rng(0)
    X_pred = np.ascontiguousarray(X[rng.integers(0, X.shape[0], n_pred)])
    p_bp, p_mlp = bp.predict_proba(X_pred), mlp.predict_proba(X_pred)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    equal = bool(np.allclose(p_bp, p_mlp, rtol=tol, atol=tol))
    max_diff = float(np.max(np.abs(p_bp.astype(np.float64) - p_mlp)))
    del p_bp, p_mlp

    # One call takes milliseconds: each timed sample repeats it until the faster
    # contender needs about SAMPLE_SECONDS, so that wake-up and clock-ramp effects after
    # the pause before each sample are spread over many calls. Both get the same count.
    one_call = min(
        C.timed(lambda: bp.predict_proba(X_pred)), C.timed(lambda: mlp.predict_proba(X_pred))
    )
    calls = max(1, int(SAMPLE_SECONDS / max(one_call, 1e-6)))

    def repeated(predict):
        def run():
            for _ in range(calls):
                predict(X_pred)

        return run

    times = C.interleave(
        {"bpnet": repeated(bp.predict_proba), "mlp": repeated(mlp.predict_proba)}, reps
    )
    times = {k: [t / calls for t in v] for k, v in times.items()}
    med = {k: C.median(v) for k, v in times.items()}
    return {
        "case": f"{name} h{'x'.join(map(str, hidden))}",
        "data": name,
        "hidden": list(hidden),
        "dtype": np.dtype(dtype).name,
        "n_rows": n_pred,
        "reps": reps,
        "calls_per_sample": calls,
        "seconds": med,
        "seconds_range": {k: C.spread(v) for k, v in times.items()},
        "rows_per_second": {k: n_pred / v for k, v in med.items()},
        "speedup_vs_mlp": med["mlp"] / med["bpnet"],
        "allclose": equal,
        "max_abs_diff": max_diff,
        "target_speedup_vs_mlp": TARGET,
        "meets_target_vs_mlp": bool(med["mlp"] / med["bpnet"] >= TARGET),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small network, 20k rows")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON path (default: in results/, or results/quick/ with --quick)",
    )
    parser.add_argument(
        "--rows",
        type=int,
        default=None,
        help="rows to predict (default 100000, 20000 with --quick)",
    )
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument(
        "--dtypes", nargs="+", default=["float32", "float64"], choices=["float32", "float64"]
    )
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    args.output = args.output or C.default_output("bench_predict.json", args.quick)
    C.SETTLE_SECONDS = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    if args.reps < 3:
        parser.error("--reps must be at least 3")
    n_pred = args.rows or (20000 if args.quick else 100000)

    info = C.machine_info()
    print(f"BLAS: {C.blas_summary(info)}", flush=True)
    records = []
    for name, hidden in QUICK_CASES if args.quick else CASES:
        for dt in args.dtypes:
            rec = run_case(name, hidden, np.dtype(dt).type, n_pred, args.reps)
            records.append(rec)
            rps = rec["rows_per_second"]
            print(
                f"{rec['case']:<24} {dt:<8} bpnet {rps['bpnet']:12,.0f} rows/s  "
                f"mlp {rps['mlp']:12,.0f} rows/s  x{rec['speedup_vs_mlp']:.2f}  "
                f"allclose={rec['allclose']} (max diff {rec['max_abs_diff']:.1e})",
                flush=True,
            )

    payload = {
        "benchmark": "predict_proba",
        "quick": args.quick,
        "machine": info,
        "results": records,
    }
    path = C.write_json(args.output, payload)
    print()
    print(
        C.markdown_table(
            ["case", "dtype", "rows", "bpnet rows/s", "MLP rows/s", "speedup", "allclose"],
            [
                [
                    r["case"],
                    r["dtype"],
                    r["n_rows"],
                    r["rows_per_second"]["bpnet"],
                    r["rows_per_second"]["mlp"],
                    r["speedup_vs_mlp"],
                    r["allclose"],
                ]
                for r in records
            ],
        )
    )
    print(f"\nwrote {path}")
    if not args.no_plot and records:
        labels = [f"{r['case']} {r['dtype']}" for r in records]
        png = C.bar_plot(
            Path(args.output).with_suffix(".png"),
            labels,
            {"vs MLPClassifier": [r["speedup_vs_mlp"] for r in records]},
            "bpnet predict_proba speedup (higher is better)",
            "speedup (x)",
            reference=1.0,
        )
        print(f"wrote {png}")
    if not all(r["allclose"] for r in records):
        print("WARNING: bpnet and MLP probabilities differ", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
