"""Two builds of bpnet side by side: per-epoch fit time on bench_fit.py's cases.

Each build runs in its own worker process (this interpreter, and the one given by
``--other``, say the virtualenv of an earlier commit); the workers fit the same cases in
turn, repetitions interleaved with the order rotating, so that background load hits both
alike. For each case it reports both medians and the median of the paired ratios
(this build's time over the other's in the same repetition): above 1, this build is
slower.

``--busy`` keeps one core busy with a spinning process for the whole run (pinned to the
last core where the OS allows it), the situation in which threads must not make a fit
slower than one thread.

Usage::

    python benchmarks/bench_builds.py --other ../base/.venv/bin/python
    python benchmarks/bench_builds.py --other ../base/.venv/bin/python --busy --reps 5
    python benchmarks/bench_builds.py --other ../base/.venv/bin/python --threads 1

Benchmark commands unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE for themselves (see
benchmarks/README.md). Writes JSON and Markdown (``--output``, default
benchmarks/results/bench_builds.json and .md).
"""

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
from bench_fit import CASES, QUICK_CASES


def worker():
    """Answer fit requests read from stdin, one JSON object a line, with the seconds."""
    warnings.simplefilter("ignore")
    import bpnet
    from bpnet import BPClassifier

    print(json.dumps({"version": bpnet.__version__, "path": str(Path(bpnet.__file__).parent)}),
          flush=True)  # fmt: skip
    for line in sys.stdin:
        request = json.loads(line)
        X, y = C.load_dataset(request["data"], np.dtype(request["dtype"]).type)
        params = dict(
            hidden_layer_sizes=tuple(request["hidden"]), solver=request["solver"],
            batch_size=request["batch"], max_iter=request["epochs"], random_state=0,
            **C.FIXED_EPOCHS,
        )  # fmt: skip
        seconds = C.timed(lambda: BPClassifier(**params).fit(X, y))  # noqa: B023
        print(json.dumps({"seconds": seconds}), flush=True)


class Worker:
    def __init__(self, python, installed=False, threads=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS_")}
        if threads:
            # In the environment from the start: a build may read it once, at import.
            env["BPNET_NUM_THREADS"] = str(threads)
        if installed:
            # Import the bpnet that `python` has installed: _common otherwise puts this
            # working tree first on sys.path, and both workers would time the same build.
            env["BPNET_TEST_INSTALLED"] = "1"
        self.process = subprocess.Popen(
            [python, str(Path(__file__).resolve()), "--worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, env=env, cwd=str(C.BENCH_DIR),
        )  # fmt: skip
        self.info = json.loads(self.process.stdout.readline())

    def fit(self, request):
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())["seconds"]

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def busy_loop():
    """A process spinning on one core (the last, where affinity can be set)."""
    code = (
        "import os\n"
        "try: os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})\n"
        "except (AttributeError, OSError): pass\n"
        "while True: pass\n"
    )
    return subprocess.Popen([sys.executable, "-c", code])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--other", required="--worker" not in (argv or sys.argv))
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dtypes", nargs="+", default=["float32", "float64"])
    parser.add_argument("--solvers", nargs="+", default=["sgd", "adam"])
    parser.add_argument("--cases", nargs="*", default=None, help="data set names")
    parser.add_argument("--threads", type=int, default=None, help="BPNET_NUM_THREADS")
    parser.add_argument("--busy", action="store_true", help="keep one core busy")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return
    output = args.output or C.default_output("bench_builds.json", args.quick)
    cases = QUICK_CASES if args.quick else CASES
    if args.cases:
        cases = [c for c in cases if c[0] in args.cases]
    # A path is made absolute (not resolved: a virtualenv's python is a symlink whose
    # target lies outside the environment), since the workers start in BENCH_DIR.
    other_python = str(Path(args.other).absolute()) if os.sep in args.other else args.other
    ours = Worker(sys.executable, threads=args.threads)
    other = Worker(other_python, installed=True, threads=args.threads)
    if ours.info["path"] == other.info["path"]:
        ours.close()
        other.close()
        sys.exit(
            f"both workers import bpnet from {ours.info['path']}: --other must be the "
            "interpreter of an environment with another build of bpnet installed"
        )
    hog = busy_loop() if args.busy else None
    rows = []
    try:
        time.sleep(0.5 if args.busy else 0.0)
        for data, hidden, batch, epochs, solvers in cases:
            for dtype in args.dtypes:
                for solver in (s for s in solvers if s in args.solvers):
                    request = dict(data=data, hidden=list(hidden), batch=batch, epochs=epochs,
                                   solver=solver, dtype=dtype)  # fmt: skip
                    times = {"this": [], "other": []}
                    for rep in range(1 if args.quick else args.reps):
                        pair = [("this", ours), ("other", other)]
                        for name, process in pair[rep % 2 :] + pair[: rep % 2]:
                            times[name].append(process.fit(request) / epochs)
                    ratios = [a / b for a, b in zip(times["this"], times["other"])]
                    rows.append({
                        "case": f"{data} h{'x'.join(map(str, hidden))}", "dtype": dtype,
                        "solver": solver, "batch": batch,
                        "this_ms": 1e3 * C.median(times["this"]),
                        "other_ms": 1e3 * C.median(times["other"]),
                        "paired_ratio": C.median(ratios), "times": times,
                    })  # fmt: skip
                    print(_line(rows[-1]), flush=True)
    finally:
        ours.close()
        other.close()
        if hog is not None:
            hog.kill()
    payload = {
        "machine": C.machine_info(), "busy": args.busy, "threads": args.threads,
        "this": ours.info, "other": other.info, "rows": rows,
    }  # fmt: skip
    C.write_json(output, payload)
    table = C.markdown_table(
        ["case", "dtype", "solver", "batch", "this ms/epoch", "other ms/epoch",
         "paired ratio (this / other)"],
        [[r["case"], r["dtype"], r["solver"], r["batch"], r["this_ms"], r["other_ms"],
          f"{r['paired_ratio']:.3f}"] for r in rows],
    )  # fmt: skip
    output.with_suffix(".md").write_text(table + "\n")
    print(table)


def _line(row):
    return (
        f"{row['case']} {row['dtype']} {row['solver']} b{row['batch']}: this "
        f"{row['this_ms']:.3g} ms, other {row['other_ms']:.3g} ms, ratio "
        f"{row['paired_ratio']:.3f}"
    )


if __name__ == "__main__":
    main()
