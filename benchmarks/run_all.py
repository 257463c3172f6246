"""Run the fit, predict and memory benchmarks (optionally the option costs, small fits and
thread study too) and print a Markdown summary for the README.

Usage::

    python benchmarks/run_all.py                # full suite (under 10 minutes on 2 cores)
    python benchmarks/run_all.py --quick        # smoke run (under a minute), into results/quick/
    python benchmarks/run_all.py --options --small-fit   # also what each training option
                                                # costs and small fits (about 3.5 minutes more)
    python benchmarks/run_all.py --threads      # also the one-thread-vs-threads study
    python benchmarks/run_all.py --output-dir /some/dir
    python benchmarks/run_all.py --threads --readme   # also refresh README.md's tables

Each benchmark writes its JSON (and PNG) into the output directory; the summary is also
written there as summary.md. The default is benchmarks/results/, which holds the committed
results of a full run; a --quick run defaults to benchmarks/results/quick/ instead
(git-ignored), so a smoke run never replaces measured numbers.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import bench_fit
import bench_memory
import bench_predict
import bench_small_fit


def summary(fit, predict, memory, threads=None, options=None, small_fit=None):
    info = fit["machine"]
    lines = [
        f"Machine: {info['cpu']}, {info['cpu_count']} cores; BLAS: {C.blas_summary(info)}; "
        f"numpy {info['numpy']}, scikit-learn {info['sklearn']}, torch {info['torch'] or '—'}; "
        "GEMM peak (1024^3, all cores): "
        + ", ".join(f"{dt} {p:.0f} GFLOP/s" for dt, p in fit["gemm_peak_gflops"].items())
        + ".",
        "",
        "### Fit (per epoch, median of interleaved repetitions)",
        "",
        C.markdown_table(bench_fit.SUMMARY_HEADERS, bench_fit.summary_rows(fit["results"])),
        "",
        "### predict_proba throughput (same weights in all)",
        "",
        bench_predict.throughput_table(predict["results"]),
        "",
        "### predict_proba latency (µs per call, median of interleaved repetitions)",
        "",
        bench_predict.latency_table(predict.get("latency", [])),
        "",
        "### Peak memory of fit",
        "",
        bench_memory.table(memory["results"], bench_memory.SUMMARY_COLUMNS),
    ]
    if small_fit is not None:
        lines += ["", bench_small_fit.markdown(small_fit).rstrip("\n")]
    if options is not None:
        lines += ["", bench_fit.options_markdown(options).rstrip("\n")]
    if threads is not None:
        import bench_threads

        lines += [
            "",
            f"### bpnet fit: one thread against {threads['threads']}",
            "",
            bench_threads.table(threads["results"], bench_threads.SUMMARY_COLUMNS),
        ]
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="smoke run of every benchmark")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="default: benchmarks/results/, or benchmarks/results/quick/ with --quick",
    )
    parser.add_argument(
        "--threads", action="store_true", help="also run bench_threads.py (adds a few minutes)"
    )
    parser.add_argument(
        "--options",
        action="store_true",
        help="also run bench_fit.py --options (what each training option and callback "
        "costs; about 2.5 minutes)",
    )
    parser.add_argument(
        "--small-fit",
        action="store_true",
        help="also run bench_small_fit.py (200-epoch fits on 150 rows; under a minute)",
    )
    parser.add_argument(
        "--readme",
        action="store_true",
        help="write the summary between README.md's performance-table markers",
    )
    args = parser.parse_args(argv)
    if args.quick and args.readme:
        parser.error("--readme takes the tables of a full run; drop --quick")
    out = args.output_dir or C.results_dir(args.quick)
    common = ["--quick"] if args.quick else []

    start = time.perf_counter()
    fit = bench_fit.main(common + ["--output", str(out / "bench_fit.json")])
    predict = bench_predict.main(common + ["--output", str(out / "bench_predict.json")])
    memory = bench_memory.main(common + ["--output", str(out / "bench_memory.json")])
    small_fit = options = None
    if args.small_fit:
        small_fit = bench_small_fit.main(common + ["--output", str(out / "bench_small_fit.json")])
    if args.options:
        options = bench_fit.main(
            common + ["--options", "--output", str(out / "bench_options.json")]
        )
    threads = None
    if args.threads:
        import bench_threads

        threads = bench_threads.main(common + ["--output", str(out / "bench_threads.json")])
    elapsed = time.perf_counter() - start

    text = summary(fit, predict, memory, threads, options, small_fit)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.md").write_text(text)
    print("\n" + "=" * 72 + "\n")
    print(text)
    print(f"total time {elapsed:.0f} s; wrote {out / 'summary.md'}")
    if args.readme:
        update_readme(text)


README = Path(__file__).resolve().parent.parent / "README.md"
START, END = "<!-- performance-table:start -->", "<!-- performance-table:end -->"


def update_readme(text, path=README):
    """Replace what lies between the README's performance-table markers with `text`
    (its headings one level down, under the README's own)."""
    readme = path.read_text()
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    body = text.replace("\n### ", "\n#### ")
    path.write_text(f"{head}{START}\n{body}{END}{tail}")
    print(f"updated {path}")


if __name__ == "__main__":
    main()
