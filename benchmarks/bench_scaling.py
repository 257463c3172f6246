"""How bpnet's epochs scale with threads: measured on this machine, projected for others.

Measured (``--threads``): one epoch of BPClassifier with 1...N threads
(``BPNET_NUM_THREADS``) against MLPClassifier with 1...N BLAS threads
(``threadpool_limits``), repetitions interleaved, medians reported. Run it on a
many-core machine to see the scaling itself.

Projected (``--simulate P ...``): from the time of every block of every phase of one
epoch run on one thread here (train_epochs' ``block_seconds``), each phase is
list-scheduled over P threads as OpenMP's dynamic schedule hands blocks out (each
block to the thread that is free first, in block order), and the measured cost of one
phase's synchronisation is added per phase; the calling thread's work between phases
(the loss, the norms, the Adam step size) stays serial. The projected time is the sum
over batches of the phases' schedules; the speedup is the one-thread epoch over it.
The projection assumes that a block costs on P cores what it cost alone here (no
memory-bandwidth limit, no slower cores) and that a phase's synchronisation costs what
two threads' costs here; both flatter a real many-core machine, so read it as the
block cut's ceiling, not a promise. Since that synchronisation is measured on a shared
machine, where it ranges from a few microseconds (quiet) to more than ten (another
process on the other core), each projection is also given with a phase's
synchronisation at ``--slow-sync`` microseconds (10 by default) or the measured cost,
whichever is larger.

Usage::

    python benchmarks/bench_scaling.py --simulate 4 8 16 32     # the projection
    python benchmarks/bench_scaling.py --threads 1 2 4 8 16     # on a many-core machine
    python benchmarks/bench_scaling.py --quick                  # smoke run

Writes JSON and Markdown (``--output``, default benchmarks/results/bench_scaling.json
and .md, or benchmarks/results/quick/ with ``--quick``).
"""

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# (data set, rows used (None = all), hidden, batch): the two large cases of bench_fit.py.
CASES = [
    ("synth_60000_784", None, (256,), 128),
    ("synth_20000_100", None, (256, 128), 64),
]
QUICK_CASES = [("synth_20000_100", 2000, (256, 128), 64)]


def network(name, rows, hidden, dtype):
    X, y = C.load_dataset(name, dtype)
    if rows is not None:
        X, y = X[:rows], y[:rows]
    return X, y, C.layer_units(X.shape[1], hidden, len(np.unique(y)))


def estimator_params(hidden, batch):
    return dict(
        hidden_layer_sizes=hidden, solver="sgd", batch_size=batch, max_iter=1,
        random_state=0, **C.FIXED_EPOCHS,
    )  # fmt: skip


def measure_threads(cases, threads, reps, dtype):
    """Median seconds per epoch of bpnet and MLP at each thread count."""
    from sklearn.neural_network import MLPClassifier
    from threadpoolctl import threadpool_limits

    from bpnet import BPClassifier

    rows = []
    for name, n_rows, hidden, batch in cases:
        X, y, _ = network(name, n_rows, hidden, dtype)
        params = estimator_params(hidden, batch)
        runners = {}
        for n in threads:

            def bpnet_run(n=n, X=X, y=y, params=params):
                os.environ["BPNET_NUM_THREADS"] = str(n)
                with C.quiet():
                    BPClassifier(**params).fit(X, y)

            def mlp_run(n=n, X=X, y=y, params=params):
                with threadpool_limits(n, user_api="blas"), C.quiet():
                    MLPClassifier(**params).fit(X, y)

            runners[f"bpnet {n}"] = bpnet_run
            runners[f"mlp {n}"] = mlp_run
        times = C.interleave(runners, reps, rotate=True)
        os.environ.pop("BPNET_NUM_THREADS", None)
        for n in threads:
            rows.append({
                "case": f"{name} h{'x'.join(map(str, hidden))} b{batch}", "threads": n,
                "bpnet_seconds": C.median(times[f"bpnet {n}"]),
                "mlp_seconds": C.median(times[f"mlp {n}"]),
            })  # fmt: skip
    return rows


def epoch_block_times(X, y, units, batch, dtype, reps):
    """Per phase and block, the median over `reps` one-thread epochs of its seconds summed
    over the batches; the plan of a full batch; the calling thread's time outside the
    blocks (the least over the repetitions: other processes' interruptions only ever
    add to it); the batches."""
    from bpnet import _kernels, _rules, _sgd_fast
    from bpnet._data import KernelInput
    from bpnet._layout import NetworkLayout
    from bpnet._threading import one_blas_thread

    layout = NetworkLayout.with_activations(units, "relu", "softmax")
    classes, codes = np.unique(y, return_inverse=True)
    Y = np.eye(len(classes), dtype=dtype)[codes]
    data = KernelInput(X, Y)
    rng = np.random.RandomState(0)
    params = rng.uniform(-0.05, 0.05, layout.n_params).astype(dtype)
    plan = _sgd_fast.batch_plan(layout.table, batch)
    last = _sgd_fast.batch_plan(layout.table, X.shape[0] % batch or batch)
    shape = (_sgd_fast.max_phases(len(layout.table)), max(p["n_blocks"] for p in plan + last))
    options = {
        "solver": _sgd_fast.SOLVER_CODES["sgd"], "loss": _kernels.loss_function("log_loss"),
        "alpha": 1e-4, "momentum": 0.9, "nesterov": True, "beta_1": 0.9, "beta_2": 0.999,
        "epsilon": 1e-8, "batch_size": batch, "n_threads": 1, "max_grad_norm": 0.0,
        "weight_decay": 0.0, "dropout_seed": 0,
    }  # fmt: skip
    state = {
        "epochs_trained": 0, "samples_seen": 0, "adam_steps": 0, "learning_rate": 1e-3,
        "best": np.inf, "no_improvement_count": 0, "tol": 0.0, "n_iter_no_change": np.inf,
        "schedule": _rules.Schedule.CONSTANT, "learning_rate_init": 1e-3, "power_t": 0.5,
        "schedule_epoch": 0, "base_rate": 1e-3, "horizon": 1, "warmup": 0,
    }  # fmt: skip
    runs, walls = [], []
    orders = rng.permutation(X.shape[0]).astype(np.intp)[np.newaxis]
    workspace = np.empty(_sgd_fast.workspace_size(layout.table, batch, False), dtype)
    with one_blas_thread():
        for _ in range(reps):
            seconds = np.zeros(shape)
            start = time.perf_counter()
            _sgd_fast.train_epochs(
                layout.table, *data.x_args, data.Y, data.sample_weight, orders, params.copy(),
                np.empty_like(params), np.zeros_like(params), np.empty(0, dtype), workspace,
                options, state, False, np.empty(1), np.empty(1),
                np.empty(3 * len(params), dtype), None, seconds,
            )  # fmt: skip
            walls.append(time.perf_counter() - start)
            runs.append(seconds)
    n_batches = -(-X.shape[0] // batch)
    serial = min(wall - run.sum() for wall, run in zip(walls, runs))
    return np.median(runs, axis=0), plan, max(0.0, float(serial)), n_batches


def phase_sync_seconds(reps=2000):
    """The cost of one phase's synchronisation: an empty phase of two blocks on two
    threads, less the same phase on one (seconds)."""
    from bpnet import _parallel

    if not _parallel.openmp_available():
        return 0.0
    one = min(_parallel.time_empty_phases(reps, 1) for _ in range(5))
    two = min(_parallel.time_empty_phases(reps, 2) for _ in range(5))
    return max(0.0, (two - one) / reps)


def list_schedule(block_seconds, n_threads):
    """Makespan of blocks handed out in order, each to the thread that is free first."""
    free = np.zeros(n_threads)
    for seconds in block_seconds:
        thread = int(np.argmin(free))
        free[thread] += seconds
    return float(free.max())


def project(cases, processors, reps, dtype, slow_sync=10e-6):
    """The projected epoch time and speedup on each P of `processors`, with the measured
    synchronisation per phase and with at least `slow_sync` seconds of it."""
    sync = phase_sync_seconds()
    rows = []
    for name, n_rows, hidden, batch in cases:
        X, y, units = network(name, n_rows, hidden, dtype)
        seconds, plan, serial, n_batches = epoch_block_times(X, y, units, batch, dtype, reps)
        # Per batch: each phase's blocks (the epoch's sums over batches, spread evenly).
        phases = [seconds[p, : phase["n_blocks"]] / n_batches for p, phase in enumerate(plan)]
        wall = serial + sum(float(b.sum()) for b in phases) * n_batches
        for P in [1, *processors]:
            projected, slow = (
                serial + n_batches * sum(
                    list_schedule(b, P) + (phase_sync if P > 1 else 0.0) for b in phases
                )
                for phase_sync in (sync, max(sync, slow_sync))
            )  # fmt: skip
            rows.append({
                "case": f"{name} h{'x'.join(map(str, hidden))} b{batch}", "P": P,
                "blocks_per_phase": [phase["n_blocks"] for phase in plan],
                "one_thread_seconds": wall, "projected_seconds": projected,
                "speedup": wall / projected, "sync_seconds": sync,
                "serial_seconds": serial, "slow_sync_seconds": max(sync, slow_sync),
                "speedup_slow_sync": wall / slow,
            })  # fmt: skip
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, nargs="*", default=None)
    parser.add_argument("--simulate", type=int, nargs="*", default=None)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float64")
    parser.add_argument(
        "--slow-sync",
        type=float,
        default=10.0,
        help="a phase's synchronisation for the second projection (µs)",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    cases = QUICK_CASES if args.quick else CASES
    dtype = np.dtype(args.dtype).type
    reps = 1 if args.quick else args.reps
    output = args.output or C.default_output("bench_scaling.json", args.quick)
    payload = {"machine": C.machine_info(), "dtype": args.dtype}
    lines = []
    if args.threads:
        payload["measured"] = measure_threads(cases, args.threads, reps, dtype)
        lines += ["### Measured: seconds per epoch", ""]
        lines.append(C.markdown_table(
            ["case", "threads", "bpnet s", "MLP s", "bpnet speedup", "MLP speedup"],
            _measured_rows(payload["measured"]),
        ))  # fmt: skip
    if args.simulate is not None or not args.threads:
        processors = args.simulate or [4, 8, 16, 32]
        payload["projected"] = project(cases, processors, reps, dtype, args.slow_sync * 1e-6)
        first = payload["projected"][0]
        lines += ["", "### Projected from one-thread block times", ""]
        lines.append(
            f"A phase's synchronisation measured here: {first['sync_seconds'] * 1e6:.1f} µs; "
            f"the last column assumes {first['slow_sync_seconds'] * 1e6:.1f} µs."
        )
        lines.append("")
        lines.append(C.markdown_table(
            ["case", "P", "blocks per phase", "projected s", "speedup over one thread",
             "speedup with the slower synchronisation"],
            [
                [r["case"], r["P"], " ".join(map(str, r["blocks_per_phase"])),
                 f"{r['projected_seconds']:.3g}", f"{r['speedup']:.2f}",
                 f"{r['speedup_slow_sync']:.2f}"]
                for r in payload["projected"]
            ],
        ))  # fmt: skip
    C.write_json(output, payload)
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def _measured_rows(measured):
    one = {r["case"]: r for r in measured if r["threads"] == 1}
    rows = []
    for r in measured:
        base = one.get(r["case"])
        rows.append([
            r["case"], r["threads"], f"{r['bpnet_seconds']:.3g}", f"{r['mlp_seconds']:.3g}",
            f"{base['bpnet_seconds'] / r['bpnet_seconds']:.2f}" if base else "—",
            f"{base['mlp_seconds'] / r['mlp_seconds']:.2f}" if base else "—",
        ])  # fmt: skip
    return rows


if __name__ == "__main__":
    main()
