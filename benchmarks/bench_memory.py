"""Peak memory of BPClassifier.fit against MLPClassifier.fit, one subprocess per fit.

Each estimator is fitted in a fresh Python process (so neither inherits the other's
allocator state) on data that the parent saved to a temporary .npy file. The child
measures, during fit only:

* ``tracemalloc`` peak: every allocation made by Python and NumPy during fit (NumPy
  reports its buffers to tracemalloc); X itself is loaded before tracing starts.
* resident set growth: the kernel's peak RSS (VmHWM, reset just before fit where Linux
  allows it) less the RSS before fit. This also sees allocations made outside NumPy.

Both are reported against X's size and against the budget
``X's size + 3 x the parameter bytes + one batch's workspace + 50 MB``; the peak that is
compared is X's size plus the larger of the two fit-time measures.

Usage::

    python benchmarks/bench_memory.py              # 60000x784 and 20000x100 networks
    python benchmarks/bench_memory.py --quick      # one small case
    python benchmarks/bench_memory.py --dtype      # dtype='float32' on float64 input

Writes JSON (``--output``, default benchmarks/results/bench_memory.json, or
benchmarks/results/quick/bench_memory.json with ``--quick``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

MB = 1024.0**2

# (data set, hidden layers, batch size, solver, dtype)
CASES = [
    ("synth_60000_784", (256,), 128, "sgd", "float32"),
    ("synth_60000_784", (256,), 128, "sgd", "float64"),
    ("synth_60000_784", (256,), 128, "adam", "float32"),
    ("synth_20000_100", (256, 128), 64, "sgd", "float64"),
    ("synth_20000_50", (100,), 1000, "sgd", "float32"),
]
QUICK_CASES = [("synth_20000_50", (100,), 200, "sgd", "float64")]


def workspace_elements(units, batch):
    """Length of bpnet's per-batch workspace (input rows, targets, weights, activations,
    two delta buffers), as laid out by its epoch kernel."""
    widths = units[1:]
    return batch * (units[0] + units[-1] + 1 + sum(widths) + 2 * max(widths))


def _read_status(field):
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_peak_rss():
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where not allowed."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def child(spec):
    """Fit one estimator and print its measurements as JSON (runs in the subprocess)."""
    import resource
    import tracemalloc

    if spec["estimator"] == "bpnet":
        from bpnet import BPClassifier as Est
    else:
        from sklearn.neural_network import MLPClassifier as Est

    X = np.load(spec["X"])
    y = np.load(spec["y"])
    est = Est(
        hidden_layer_sizes=tuple(spec["hidden"]),
        batch_size=spec["batch"],
        solver=spec["solver"],
        max_iter=spec["epochs"],
        random_state=0,
        **C.FIXED_EPOCHS,
        **({"dtype": spec["dtype"]} if spec.get("dtype") else {}),
    )
    # Warm up imports and lazily built objects on a few rows, outside the measurement.
    with C.quiet():
        Est(**{**est.get_params(), "max_iter": 1}).fit(
            X[: spec["batch"] * 2], y[: spec["batch"] * 2]
        )
    rss_before = _read_status("VmRSS")
    reset = _reset_peak_rss()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    tracemalloc.start()
    with C.quiet():
        est.fit(X, y)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    hwm = _read_status("VmHWM") if reset else None
    maxrss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if hwm is not None and rss_before is not None:
        rss_growth = hwm - rss_before
    elif maxrss_after > maxrss_before:
        rss_growth = maxrss_after - (rss_before or maxrss_before)
    else:
        rss_growth = None  # the peak was reached before fit: no fit-time figure
    print(
        json.dumps(
            {
                "tracemalloc_peak": traced_peak,
                "rss_growth": rss_growth,
                "rss_before": rss_before,
                "peak_rss_reset": reset,
            }
        )
    )


def measure(estimator, paths, hidden, batch, solver, epochs, dtype=None):
    spec = {
        "estimator": estimator,
        "X": paths[0],
        "y": paths[1],
        "hidden": list(hidden),
        "batch": batch,
        "solver": solver,
        "epochs": epochs,
        "dtype": dtype,
    }
    out = subprocess.run(
        [sys.executable, __file__, "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_case(name, hidden, batch, solver, dtype, epochs, tmpdir):
    X, y = C.load_dataset(name, np.dtype(dtype).type)
    paths = (os.path.join(tmpdir, f"{name}_{dtype}_X.npy"), os.path.join(tmpdir, f"{name}_y.npy"))
    if not os.path.exists(paths[0]):
        np.save(paths[0], X)
        np.save(paths[1], y)
    units = C.layer_units(X.shape[1], hidden, len(np.unique(y)))
    itemsize = X.dtype.itemsize
    param_bytes = C.n_params(units) * itemsize
    workspace_bytes = workspace_elements(units, batch) * itemsize
    budget = X.nbytes + 3 * param_bytes + workspace_bytes + 50 * MB
    rec = {
        "case": f"{name} h{'x'.join(map(str, hidden))}",
        "data": name,
        "dtype": dtype,
        "solver": solver,
        "batch_size": batch,
        "epochs": epochs,
        "layer_units": units,
        "X_mb": X.nbytes / MB,
        "param_mb": param_bytes / MB,
        "workspace_mb": workspace_bytes / MB,
        "budget_mb": budget / MB,
    }
    for est in ("bpnet", "mlp"):
        m = measure(est, paths, hidden, batch, solver, epochs)
        fit_extra = max(m["tracemalloc_peak"], m["rss_growth"] or 0)
        peak = X.nbytes + fit_extra
        rec[est] = {
            "tracemalloc_peak_mb": m["tracemalloc_peak"] / MB,
            "rss_growth_mb": None if m["rss_growth"] is None else m["rss_growth"] / MB,
            "peak_mb": peak / MB,
            "peak_over_X": peak / X.nbytes,
            "within_budget": bool(peak <= budget),
        }
    rec["mlp_over_bpnet_fit_extra"] = (rec["mlp"]["peak_mb"] - rec["X_mb"]) / max(
        rec["bpnet"]["peak_mb"] - rec["X_mb"], 1e-9
    )
    return rec


# The columns of the peak-memory tables: this script's, and run_all.py's summary's.
COLUMNS = {
    "case": lambda r: r["case"],
    "dtype": lambda r: r["dtype"],
    "solver": lambda r: r["solver"],
    "batch": lambda r: r["batch_size"],
    "X MB": lambda r: r["X_mb"],
    "budget MB": lambda r: r["budget_mb"],
    "bpnet peak MB": lambda r: r["bpnet"]["peak_mb"],
    "bpnet peak / X": lambda r: r["bpnet"]["peak_over_X"],
    "MLP peak MB": lambda r: r["mlp"]["peak_mb"],
    "MLP peak / X": lambda r: r["mlp"]["peak_over_X"],
    "bpnet within budget": lambda r: r["bpnet"]["within_budget"],
    "within budget": lambda r: r["bpnet"]["within_budget"],
}
SCRIPT_COLUMNS = [
    "case", "dtype", "solver", "batch", "X MB", "budget MB", "bpnet peak MB",
    "bpnet peak / X", "MLP peak MB", "MLP peak / X", "bpnet within budget",
]  # fmt: skip
SUMMARY_COLUMNS = [
    "case", "dtype", "solver", "batch", "X MB", "budget MB", "bpnet peak MB", "MLP peak MB",
    "within budget",
]  # fmt: skip


# --dtype: a float64 X trained with dtype='float32' against the same fit on float32 X.
DTYPE_CASES = [
    ("synth_60000_784", (256,), 128, "sgd"),
    ("synth_20000_100", (256, 128), 64, "sgd"),
]
QUICK_DTYPE_CASES = [("synth_20000_50", (100,), 200, "sgd")]
# The target: what fit adds to memory with dtype='float32' on float64 input, at
# most this much over the same fit on float32 input (no float32 copy of X).
DTYPE_MEMORY_TARGET = 1.1


def run_dtype_case(name, hidden, batch, solver, epochs, tmpdir):
    """What fit adds to memory beyond X: float64 X with dtype='float32', and float32 X."""
    rec = {"case": f"{name} h{'x'.join(map(str, hidden))}", "solver": solver, "batch": batch}
    for dt, param in (("float64", "float32"), ("float32", None)):
        X, y = C.load_dataset(name, np.dtype(dt).type)
        paths = (os.path.join(tmpdir, f"{name}_{dt}_X.npy"), os.path.join(tmpdir, f"{name}_y.npy"))
        np.save(paths[0], X)
        np.save(paths[1], y)
        m = measure("bpnet", paths, hidden, batch, solver, epochs, param)
        rec[f"{dt}_X_mb"] = X.nbytes / MB
        rec[f"{dt}_fit_extra_mb"] = max(m["tracemalloc_peak"], m["rss_growth"] or 0) / MB
    rec["ratio"] = rec["float64_fit_extra_mb"] / max(rec["float32_fit_extra_mb"], 1e-9)
    rec["target"] = DTYPE_MEMORY_TARGET
    return rec


def run_dtype(args):
    records = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name, hidden, batch, solver in QUICK_DTYPE_CASES if args.quick else DTYPE_CASES:
            rec = run_dtype_case(name, hidden, batch, solver, args.epochs, tmpdir)
            records.append(rec)
            print(
                f"{rec['case']}: fit adds {rec['float64_fit_extra_mb']:.1f} MB on float64 X "
                f"with dtype='float32', {rec['float32_fit_extra_mb']:.1f} MB on float32 X "
                f"(x{rec['ratio']:.2f})",
                flush=True,
            )
    table_md = C.markdown_table(
        ["case", "solver", "batch", "float64 X MB", "fit adds, dtype='float32' MB",
         "float32 X MB", "fit adds, float32 X MB", "ratio", "target", "meets"],
        [[r["case"], r["solver"], r["batch"], r["float64_X_mb"], r["float64_fit_extra_mb"],
          r["float32_X_mb"], r["float32_fit_extra_mb"], f"{r['ratio']:.2f}",
          f"≤ {r['target']}", "yes" if r["ratio"] <= r["target"] else "no"]
         for r in records],
    )  # fmt: skip
    output = args.output.with_name(args.output.name.replace("bench_memory", "bench_memory_dtype"))
    C.write_json(output, {"machine": C.machine_info(), "results": records})
    output.with_suffix(".md").write_text(table_md + "\n")
    print(table_md)
    return records


def table(records, columns):
    """A Markdown table of these records, one column per name of COLUMNS."""
    return C.markdown_table(columns, [[COLUMNS[c](r) for c in columns] for r in records])


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="one small case")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="JSON path (default: in results/, or results/quick/ with --quick)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument(
        "--dtype",
        action="store_true",
        help="what fit adds to memory with dtype='float32' on float64 X, against float32 X "
        "(writes bench_memory_dtype.json and .md)",
    )
    args = parser.parse_args(argv)
    args.output = args.output or C.default_output("bench_memory.json", args.quick)
    if args.child:
        child(json.loads(args.child))
        return None
    if args.dtype:
        return run_dtype(args)

    info = C.machine_info()
    records = []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name, hidden, batch, solver, dt in QUICK_CASES if args.quick else CASES:
            rec = run_case(name, hidden, batch, solver, dt, args.epochs, tmpdir)
            records.append(rec)
            print(
                f"{rec['case']:<24} {dt:<8} {solver:<4} b{batch:<5} X {rec['X_mb']:7.1f} MB  "
                f"budget {rec['budget_mb']:7.1f} MB  "
                f"bpnet peak {rec['bpnet']['peak_mb']:7.1f} MB "
                f"(traced {rec['bpnet']['tracemalloc_peak_mb']:.1f}, "
                f"rss +{rec['bpnet']['rss_growth_mb'] or 0:.1f})  "
                f"mlp peak {rec['mlp']['peak_mb']:7.1f} MB "
                f"(traced {rec['mlp']['tracemalloc_peak_mb']:.1f}, "
                f"rss +{rec['mlp']['rss_growth_mb'] or 0:.1f})",
                flush=True,
            )

    payload = {
        "benchmark": "memory",
        "quick": args.quick,
        "machine": info,
        "budget": "X bytes + 3 x parameter bytes + one batch's workspace + 50 MB",
        "results": records,
    }
    path = C.write_json(args.output, payload)
    print()
    print(table(records, SCRIPT_COLUMNS))
    print(f"\nwrote {path}")
    return payload


if __name__ == "__main__":
    main()
