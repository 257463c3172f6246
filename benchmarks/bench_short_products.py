"""The short products at each vector width this CPU runs, against NumPy's BLAS.

bpnet's short products (``bpnet/src/short_products.c``) compute the backward product
through a layer of fewer than 16 units and the weight gradient of a layer with fewer
than 16 inputs or outputs. On x86-64 each is built for 64-byte (AVX-512), 32-byte (AVX2)
and 16-byte (SSE2) vectors, and training runs the widest the CPU has; a CPU with
AVX-512 runs all three, so this one run shows what an AVX2 or an SSE2 machine's build
does on this core. The peer is the same product through NumPy (its BLAS), relu's
derivative included for the backward product.

Each timing is a batch of calls (about 10^8 multiply-adds, some 10 ms); the contenders
alternate within each repetition, in rotating order, and the table gives the median
microseconds per call and each width's time over the widest one's and over NumPy's,
as medians of the per-repetition ratios. Unlike the fit benchmarks, a timing starts
without a settling pause: these products are too small for BLAS to thread, so no
contender leaves threads spinning, and after a pause the first calls of a batch would
time the machine's caches refilling rather than the loops.

Usage::

    python benchmarks/bench_short_products.py            # full run (about two minutes)
    python benchmarks/bench_short_products.py --quick    # smoke run, seconds

Writes JSON (``--output``, default benchmarks/results/bench_short_products.json, or
benchmarks/results/quick/ with ``--quick``) and the table as Markdown beside it.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# (kind, label, shape): gradient (rows, inputs, outputs), backward (rows, k, columns).
CASES = [
    ("gradient", "iris first layer", (150, 4, 100)),
    ("gradient", "iris output layer", (150, 100, 3)),
    ("gradient", "5 classes from 256 units", (200, 256, 5)),
    ("gradient", "8 features into 256 units", (200, 8, 256)),
    ("gradient", "15 into 16", (64, 15, 16)),
    ("backward", "iris output into relu", (150, 3, 100)),
    ("backward", "5 classes into 256 relu", (200, 5, 256)),
    ("backward", "10 classes into 100 relu", (150, 10, 100)),
]
QUICK_CASES = [CASES[0], CASES[1], CASES[5]]


def runners_for(kind, shape, dtype, widths):
    """Zero-argument callables, one per contender, and the calls each makes a timing."""
    from bpnet import _kernels

    rng = np.random.RandomState(0)
    if kind == "gradient":
        n_rows, n_in, n_out = shape
        inputs = rng.randn(n_rows, n_in).astype(dtype)
        delta = rng.randn(n_rows, n_out).astype(dtype)
        grads = np.empty((n_in, n_out), dtype)

        def ours(width):
            return lambda: _kernels.short_gradient_py(
                inputs, 0, n_in, delta, grads, True, vector_bytes=width
            )

        def numpy():
            np.matmul(inputs.T, delta, out=grads)

        macs = n_rows * n_in * n_out
    else:
        n_rows, k, n_cols = shape
        delta = rng.randn(n_rows, k).astype(dtype)
        weights = rng.randn(n_cols, k).astype(dtype)
        relu = np.maximum(rng.randn(n_rows, n_cols), 0).astype(dtype)
        kept = relu != 0
        out = np.empty((n_rows, n_cols), dtype)

        def ours(width):
            return lambda: _kernels.short_backprop_py(
                delta, weights, out, 0, n_cols, relu, vector_bytes=width
            )

        def numpy():
            np.matmul(delta, weights.T, out=out)
            np.multiply(out, kept, out=out)

        macs = n_rows * k * n_cols
    calls = max(20, int(1e8 / macs))
    contenders = {f"{w} bytes": ours(w) for w in widths}
    contenders["NumPy"] = numpy

    def batch(fn):
        def run():
            for _ in range(calls):
                fn()

        return run

    return {name: batch(fn) for name, fn in contenders.items()}, calls


def run_case(kind, label, shape, dtype, reps, widths):
    runners, calls = runners_for(kind, shape, dtype, widths)
    C.interleave(runners, 1)  # warm-up
    times = C.interleave(runners, reps, rotate=True)
    us = {name: [1e6 * t / calls for t in ts] for name, ts in times.items()}
    widest = f"{widths[0]} bytes"
    return {
        "kind": kind,
        "case": label,
        "shape": list(shape),
        "dtype": np.dtype(dtype).name,
        "calls_per_timing": calls,
        "us_per_call": {name: C.median(v) for name, v in us.items()},
        "us_per_call_reps": us,
        "over_widest": {
            name: C.median(C.paired_ratios(ts, times[widest]))
            for name, ts in times.items()
            if name != "NumPy"
        },
        "over_numpy": {
            name: C.median(C.paired_ratios(ts, times["NumPy"]))
            for name, ts in times.items()
            if name != "NumPy"
        },
    }


def markdown(payload):
    widths = payload["widths"]
    names = [f"{w} bytes" for w in widths]
    headers = ["product", "case", "shape", "dtype"]
    headers += [f"{n} µs" for n in names] + ["NumPy µs"]
    headers += [f"{n} / {names[0]}" for n in names[1:]]
    headers += [f"{names[0]} / NumPy"]
    rows = []
    for r in payload["results"]:
        row = [r["kind"], r["case"], "x".join(map(str, r["shape"])), r["dtype"]]
        row += [r["us_per_call"][n] for n in names] + [r["us_per_call"]["NumPy"]]
        row += [r["over_widest"][n] for n in names[1:]]
        row += [r["over_numpy"][names[0]]]
        rows.append(row)
    return (
        "### Short products by vector width\n\n"
        f"{payload['reps']} interleaved repetitions, order rotating; µs per call as "
        "medians, ratios as medians of per-repetition ratios (below 1: faster). "
        f"Widths this CPU runs: {', '.join(names)} (training uses {names[0]}). "
        f"BLAS: {payload['machine'].get('blas', 'unknown')}.\n\n"
        + C.markdown_table(headers, rows)
        + "\n"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="three cases, float32, 3 reps")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 9)")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    C.SETTLE_SECONDS = 0.0  # see the docstring
    reps = args.reps or (3 if args.quick else 9)

    from bpnet import _kernels

    widths = list(_kernels.short_vector_widths())
    cases = QUICK_CASES if args.quick else CASES
    dtypes = [np.float32] if args.quick else [np.float32, np.float64]
    info = C.machine_info()
    results = []
    for dtype in dtypes:
        for kind, label, shape in cases:
            results.append(run_case(kind, label, shape, dtype, reps, widths))
            r = results[-1]
            print(
                f"{kind:8s} {label:28s} {r['dtype']:8s} "
                + " ".join(f"{n}={v:.2f}us" for n, v in r["us_per_call"].items()),
                flush=True,
            )
    payload = {
        "benchmark": "bench_short_products",
        "machine": {**info, "blas": C.blas_summary(info)},
        "reps": reps,
        "widths": widths,
        "results": results,
    }
    output = args.output or C.default_output("bench_short_products.json", args.quick)
    C.write_json(output, payload)
    text = markdown(payload)
    output.with_suffix(".md").write_text(text)
    print(text)
    return payload


if __name__ == "__main__":
    main()
