"""The short products of this tree against an earlier commit's, in C, for each x86-64
vector width the CPU has.

Until this tree, ``bpnet/src/short_products.c`` was one source of 64-byte vectors that
``target_clones`` built for AVX-512, AVX2 and plain x86-64; it now builds each loop for
64-, 32- and 16-byte vectors and runs the widest the CPU has. To see what a CPU of each
kind runs, this script compiles ``benchmarks/short_products_harness.c`` (with GCC, as
the Linux wheels are built) against:

* the earlier commit's source, once per level (``-march=x86-64-v4``, ``x86-64-v3``,
  ``x86-64``), which is the clone that level's CPUs ran;
* this tree's source, run at the width that level's CPUs run (64, 32, 16 bytes).

A CPU with AVX-512 runs all three levels, so one run shows what an AVX2 laptop's build
does on this core. Every binary first checks its results against a plain loop adding in
the documented order (bits must match). The binaries run in turn, ``--reps`` times, the
order rotating; each timing is the best of five batches of calls, and the table gives
the median over repetitions and the ratio of the medians.

Usage::

    python benchmarks/bench_short_products_c.py                # against 3345217
    python benchmarks/bench_short_products_c.py --rev HEAD~3 --reps 5

Needs gcc and git. Writes JSON (``--output``, default
benchmarks/results/bench_short_products_c.json) and the table as Markdown beside it.
"""

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

# The last commit whose short products were one 64-byte source under target_clones.
DEFAULT_REV = "3345217"
# (level, -march of the earlier source's clone, this tree's width for it, CPU flag).
LEVELS = [
    ("AVX-512", "x86-64-v4", 64, "avx512bw"),
    ("AVX2", "x86-64-v3", 32, "avx2"),
    ("SSE2", "x86-64", 16, "sse2"),
]
FLAGS = ["-O3", "-fno-math-errno", "-ffp-contract=off"]
HARNESS = C.BENCH_DIR / "short_products_harness.c"
# The earlier commit's sources the harness needs; this tree's are compiled where they are.
SOURCES = ["short_products.c", "short_products.h", "portable.h"]
TREE_SOURCES = C.REPO_DIR / "bpnet" / "src"


def cpu_flags():
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def build(folder, sources, march, out, widths):
    """Compile the harness against `sources` (C files of `folder`) into `out`/harness_*;
    returns the binary."""
    binary = out / f"harness_{march or 'widths'}"
    command = ["gcc", *FLAGS, f"-I{folder}", str(HARNESS)]
    command += [str(folder / name) for name in sources]
    command += [f"-march={march}"] if march else []
    command += ["-DBPNET_HARNESS_WIDTHS"] if widths else []
    subprocess.run([*command, "-o", str(binary), "-lm"], check=True)
    return binary


def run(binary, width, check=False):
    args = [str(binary), str(width)] + (["check"] if check else [])
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    if check:
        if "bits match" not in out:
            raise SystemExit(f"{binary.name} {width}: {out.strip()}")
        return None
    times = {}
    for line in out.splitlines():
        *name, us = line.split()
        times[" ".join(name)] = float(us)
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rev", default=DEFAULT_REV, help="the earlier commit")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--output", type=Path, default=None, help="JSON path")
    args = parser.parse_args(argv)
    if platform.machine() not in ("x86_64", "AMD64"):
        raise SystemExit("the levels compared here are x86-64's")
    flags = cpu_flags()
    levels = [level for level in LEVELS if level[3] in flags]

    with tempfile.TemporaryDirectory() as tmp:
        old = Path(tmp, "old")
        old.mkdir()
        for name in SOURCES:
            text = subprocess.run(
                ["git", "show", f"{args.rev}:bpnet/src/{name}"], cwd=C.REPO_DIR,
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            (old / name).write_text(text)
        # This tree's short products call elementwise.c's column sums.
        new_binary = build(TREE_SOURCES, ["short_products.c", "elementwise.c"], None,
                           Path(tmp), widths=True)  # fmt: skip
        contenders = {}
        for label, march, width, _ in levels:
            contenders[(label, "earlier")] = (
                build(old, ["short_products.c"], march, old, widths=False),
                0,
            )
            contenders[(label, "this tree")] = (new_binary, width)
        for binary, width in contenders.values():
            run(binary, width, check=True)
        times = {key: [] for key in contenders}
        keys = list(contenders)
        for rep in range(args.reps):
            shift = rep % len(keys)
            for key in keys[shift:] + keys[:shift]:
                times[key].append(run(*contenders[key]))

    shapes = list(times[keys[0]][0])
    results = []
    for label, *_ in levels:
        for shape in shapes:
            before = C.median([t[shape] for t in times[(label, "earlier")]])
            after = C.median([t[shape] for t in times[(label, "this tree")]])
            results.append({"level": label, "product": shape, "earlier_us": before,
                            "this_tree_us": after, "ratio": after / before})  # fmt: skip
    payload = {
        "benchmark": "bench_short_products_c",
        "machine": C.machine_info(),
        "compiler": subprocess.run(
            ["gcc", "--version"], capture_output=True, text=True
        ).stdout.splitlines()[0],  # fmt: skip
        "earlier": args.rev,
        "reps": args.reps,
        "results": results,
    }
    output = args.output or C.RESULTS_DIR / "bench_short_products_c.json"
    C.write_json(output, payload)
    rows = [[r["level"], r["product"], r["earlier_us"], r["this_tree_us"], r["ratio"]]
            for r in results]  # fmt: skip
    text = (
        "### Short products in C: this tree against " + args.rev + "\n\n"
        f"{payload['compiler']}; {args.reps} repetitions, order rotating; µs per call, "
        "the median over repetitions of each binary's best of five; ratio = this tree / "
        "earlier (below 1: faster). Each level's row is what a CPU of that level runs.\n\n"
        + C.markdown_table(
            ["CPU level", "product", "earlier µs", "this tree µs", "ratio"], rows
        )  # fmt: skip
        + "\n"
    )
    output.with_suffix(".md").write_text(text)
    print(text)
    return payload


if __name__ == "__main__":
    os.environ.pop("OPENBLAS_CORETYPE", None)
    main()
