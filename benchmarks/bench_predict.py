"""predict_proba throughput and small-batch latency of BPClassifier against
MLPClassifier with identical weights, and against onnxruntime running bpnet's ONNX export.

For each case bpnet is fitted briefly; an MLPClassifier with the same architecture is
fitted for one iteration on the same data (so it has every fitted attribute), then
bpnet's coefs_, intercepts_ and output settings are copied into it. When onnxruntime and
skl2onnx are installed (``pip install 'bpnet[onnx]'``), the bpnet model is also exported
with bpnet.onnx (zipmap=False, in the case's precision) and run by an onnxruntime
session with its default options; otherwise that contender is left out. All of them
predict the same rows with the same weights: the probabilities are checked to agree
(np.allclose) and the rows per second are compared.

Two parts:

* throughput: rows per second on 100k rows (20k with --quick);
* latency: the time of one call on 1, 16 and 256 rows, where the per-call overhead
  (input validation, session dispatch) weighs more than the arithmetic.

Timings are interleaved (bpnet, MLP, onnxruntime, bpnet, ...) and the median of the
repetitions is reported; each repetition repeats the call for about a quarter of a
second in the throughput part and a tenth in the latency part (a fiftieth in the latency
part of a --quick run).

Usage::

    python benchmarks/bench_predict.py                    # both parts, several networks
    python benchmarks/bench_predict.py --quick            # one small network
    python benchmarks/bench_predict.py --parts latency    # the latency part alone
    python benchmarks/bench_predict.py --rows 50000 --reps 5

Writes JSON (``--output``, default benchmarks/results/bench_predict.json, or
benchmarks/results/quick/bench_predict.json with ``--quick``; a run of one part defaults
to bench_predict_<part>.json, so it never replaces a record of both) and a PNG of the
throughput speedups next to it.
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

# (data set, hidden layers) of the latency part
LATENCY_CASES = [("digits", (100,)), ("synth_20000_100", (256, 128))]
QUICK_LATENCY_CASES = [("synth_20000_50", (100,))]
LATENCY_ROWS = (1, 16, 256)

TARGET = 2.0
SAMPLE_SECONDS = 0.25
LATENCY_SAMPLE_SECONDS = 0.1
QUICK_SAMPLE_SECONDS = 0.02
PARTS = ("throughput", "latency")
CONTENDERS = ("bpnet", "mlp", "onnxruntime")


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


def onnxruntime_predict_proba(bp, X_sample):
    """predict_proba of bp's ONNX export run by onnxruntime, or None when onnxruntime or
    skl2onnx is not installed (the contender is then left out)."""
    try:
        import onnxruntime

        from bpnet.onnx import to_onnx
    except ImportError:
        return None
    onx = to_onnx(bp, X_sample[:1], zipmap=False)
    session = onnxruntime.InferenceSession(
        onx.SerializeToString(), providers=["CPUExecutionProvider"]
    )
    input_name = session.get_inputs()[0].name
    probabilities = session.get_outputs()[1].name

    def predict_proba(X):
        return session.run([probabilities], {input_name: X})[0]

    return predict_proba


def onnxruntime_version():
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime.__version__


def fitted_contenders(name, hidden, dtype):
    """(X, {contender: predict_proba}) for a briefly fitted bpnet model of this case."""
    from bpnet import BPClassifier

    X, y = C.load_dataset(name, dtype)
    n_fit = min(X.shape[0], 5000)
    bp = BPClassifier(hidden_layer_sizes=hidden, max_iter=2, random_state=0)
    with C.quiet():
        bp.fit(X[:n_fit], y[:n_fit])
    mlp = twin_mlp(bp, X[:n_fit], y[:n_fit])
    contenders = {"bpnet": bp.predict_proba, "mlp": mlp.predict_proba}
    ort_predict = onnxruntime_predict_proba(bp, X)
    if ort_predict is not None:
        contenders["onnxruntime"] = ort_predict
    return X, contenders


def agreement(reference, other, dtype):
    """(allclose, max abs difference) of two contenders' probabilities."""
    tol = 1e-4 if dtype == np.float32 else 1e-10
    equal = bool(np.allclose(reference, other, rtol=tol, atol=tol))
    return equal, float(np.max(np.abs(reference.astype(np.float64) - other)))


def time_per_call(contenders, X_pred, reps, sample_seconds):
    """{contender: [seconds per call, one per repetition]}, interleaved.

    One call takes milliseconds or less: each timed sample repeats it until the fastest
    contender needs about `sample_seconds`, so that wake-up and clock-ramp effects after
    the pause before each sample are spread over many calls. All get the same count.
    """
    for predict in contenders.values():  # warm-up: first-call allocations, lazy set-up
        predict(X_pred)
    # A first estimate from about a millisecond of calls, guessing a microsecond a row.
    probe = max(1, int(1e-3 / (1e-6 * X_pred.shape[0] + 5e-6)))
    one_call = min(
        C.timed(lambda p=predict: [p(X_pred) for _ in range(probe)]) / probe
        for predict in contenders.values()
    )
    calls = max(1, int(sample_seconds / max(one_call, 1e-7)))

    def repeated(predict):
        def run():
            for _ in range(calls):
                predict(X_pred)

        return run

    times = C.interleave({k: repeated(p) for k, p in contenders.items()}, reps)
    return {k: [t / calls for t in v] for k, v in times.items()}, calls


def run_case(name, hidden, dtype, n_pred, reps):
    X, contenders = fitted_contenders(name, hidden, dtype)
    rng = np.random.default_rng(0)
    X_pred = np.ascontiguousarray(X[rng.integers(0, X.shape[0], n_pred)])
    p_bp = contenders["bpnet"](X_pred)
    equal, max_diff = agreement(p_bp, contenders["mlp"](X_pred), dtype)
    onnx_check = {}
    if "onnxruntime" in contenders:
        ort_equal, ort_diff = agreement(p_bp, contenders["onnxruntime"](X_pred), dtype)
        onnx_check = {"onnxruntime_allclose": ort_equal, "onnxruntime_max_abs_diff": ort_diff}
    del p_bp

    times, calls = time_per_call(contenders, X_pred, reps, SAMPLE_SECONDS)
    med = {k: C.median(v) for k, v in times.items()}
    speedups = {f"speedup_vs_{k}": med[k] / med["bpnet"] for k in med if k != "bpnet"}
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
        **speedups,
        "allclose": equal,
        "max_abs_diff": max_diff,
        **onnx_check,
        "target_speedup_vs_mlp": TARGET,
        "meets_target_vs_mlp": bool(med["mlp"] / med["bpnet"] >= TARGET),
    }


def run_latency(name, hidden, dtype, reps, sample_seconds):
    """Per-call seconds of each contender on LATENCY_ROWS rows of one case."""
    X, contenders = fitted_contenders(name, hidden, dtype)
    rng = np.random.default_rng(1)
    records = []
    for n_rows in LATENCY_ROWS:
        X_pred = np.ascontiguousarray(X[rng.integers(0, X.shape[0], n_rows)])
        p_bp = contenders["bpnet"](X_pred)
        equal = all(agreement(p_bp, p(X_pred), dtype)[0] for p in contenders.values())
        times, calls = time_per_call(contenders, X_pred, reps, sample_seconds)
        med = {k: C.median(v) for k, v in times.items()}
        records.append(
            {
                "case": f"{name} h{'x'.join(map(str, hidden))}",
                "data": name,
                "hidden": list(hidden),
                "dtype": np.dtype(dtype).name,
                "n_rows": n_rows,
                "reps": reps,
                "calls_per_sample": calls,
                "seconds_per_call": med,
                "seconds_range": {k: C.spread(v) for k, v in times.items()},
                "allclose": equal,
            }
        )
    return records


def throughput_table(records):
    onnx = any("onnxruntime" in r["rows_per_second"] for r in records)
    headers = ["case", "dtype", "rows", "bpnet rows/s", "MLP rows/s", "speedup", "allclose"]
    if onnx:
        headers[5:5] = ["onnxruntime rows/s"]
        headers += ["vs onnxruntime", "onnxruntime allclose"]
    rows = []
    for r in records:
        rps = r["rows_per_second"]
        row = [r["case"], r["dtype"], r["n_rows"], rps["bpnet"], rps["mlp"]]
        if onnx:
            row.append(rps.get("onnxruntime"))
        row += [r["speedup_vs_mlp"], r["allclose"]]
        if onnx:
            row += [r.get("speedup_vs_onnxruntime"), r.get("onnxruntime_allclose")]
        rows.append(row)
    return C.markdown_table(headers, rows)


def latency_table(records):
    """Microseconds per call, one row per case, dtype and batch size."""
    names = [k for k in CONTENDERS if any(k in r["seconds_per_call"] for r in records)]
    labels = {"bpnet": "bpnet", "mlp": "MLP", "onnxruntime": "onnxruntime"}
    headers = ["case", "dtype", "rows", *(f"{labels[k]} µs" for k in names), "allclose"]
    rows = [
        [
            r["case"],
            r["dtype"],
            r["n_rows"],
            *(
                1e6 * r["seconds_per_call"][k] if k in r["seconds_per_call"] else None
                for k in names
            ),
            r["allclose"],
        ]
        for r in records
    ]
    return C.markdown_table(headers, rows)


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
    parser.add_argument(
        "--parts", nargs="+", default=list(PARTS), choices=PARTS, help="what to measure"
    )
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    default_name = (
        "bench_predict.json"
        if set(args.parts) == set(PARTS)
        else f"bench_predict_{args.parts[0]}.json"
    )
    args.output = args.output or C.default_output(default_name, args.quick)
    C.SETTLE_SECONDS = 0.0 if args.quick else C.SETTLE_SECONDS_FULL
    if args.reps < 3:
        parser.error("--reps must be at least 3")
    n_pred = args.rows or (20000 if args.quick else 100000)

    info = C.machine_info()
    info["onnxruntime"] = onnxruntime_version()
    print(f"BLAS: {C.blas_summary(info)}; onnxruntime {info['onnxruntime'] or '—'}", flush=True)
    records = []
    if "throughput" in args.parts:
        for name, hidden in QUICK_CASES if args.quick else CASES:
            for dt in args.dtypes:
                rec = run_case(name, hidden, np.dtype(dt).type, n_pred, args.reps)
                records.append(rec)
                rps = rec["rows_per_second"]
                ort = rps.get("onnxruntime")
                print(
                    f"{rec['case']:<24} {dt:<8} bpnet {rps['bpnet']:12,.0f} rows/s  "
                    f"mlp {rps['mlp']:12,.0f} rows/s  x{rec['speedup_vs_mlp']:.2f}  "
                    + (f"onnxruntime {ort:12,.0f} rows/s  " if ort else "")
                    + f"allclose={rec['allclose']} (max diff {rec['max_abs_diff']:.1e})",
                    flush=True,
                )
    latency = []
    if "latency" in args.parts:
        sample = QUICK_SAMPLE_SECONDS if args.quick else LATENCY_SAMPLE_SECONDS
        for name, hidden in QUICK_LATENCY_CASES if args.quick else LATENCY_CASES:
            for dt in args.dtypes:
                recs = run_latency(name, hidden, np.dtype(dt).type, args.reps, sample)
                latency += recs
                for rec in recs:
                    per_call = ", ".join(
                        f"{k} {1e6 * v:,.1f} µs" for k, v in rec["seconds_per_call"].items()
                    )
                    print(
                        f"{rec['case']:<24} {dt:<8} {rec['n_rows']:>4} rows: {per_call}",
                        flush=True,
                    )

    payload = {
        "benchmark": "predict_proba",
        "quick": args.quick,
        "machine": info,
        "results": records,
        "latency": latency,
    }
    path = C.write_json(args.output, payload)
    if records:
        print("\n### Throughput\n")
        print(throughput_table(records))
    if latency:
        print("\n### Latency (microseconds per call, median of interleaved repetitions)\n")
        print(latency_table(latency))
    print(f"\nwrote {path}")
    if not args.no_plot and records:
        labels = [f"{r['case']} {r['dtype']}" for r in records]
        series = {"vs MLPClassifier": [r["speedup_vs_mlp"] for r in records]}
        if any("speedup_vs_onnxruntime" in r for r in records):
            series["vs onnxruntime"] = [r.get("speedup_vs_onnxruntime") for r in records]
        png = C.bar_plot(
            Path(args.output).with_suffix(".png"),
            labels,
            series,
            "bpnet predict_proba speedup (higher is better)",
            "speedup (x)",
            reference=1.0,
        )
        print(f"wrote {png}")
    if not all(r["allclose"] for r in records):
        print("WARNING: bpnet and MLP probabilities differ", file=sys.stderr)
    if not all(r.get("onnxruntime_allclose", True) for r in records):
        print("WARNING: bpnet and onnxruntime probabilities differ", file=sys.stderr)
    if not all(r["allclose"] for r in latency):
        print("WARNING: probabilities differ in the latency part", file=sys.stderr)
    return payload


if __name__ == "__main__":
    main()
