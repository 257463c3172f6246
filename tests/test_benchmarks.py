"""The benchmark suite runs in quick mode and writes well-formed results (never timed)."""

import json
import math
import subprocess
import sys
from pathlib import Path

from ._helpers import hang_limit

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmarks_write_well_formed_results(tmp_path):
    completed = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "run_all.py"), "--quick",
         "--options", "--small-fit", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=hang_limit(600),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-2000:]
    fit = json.loads((tmp_path / "bench_fit.json").read_text())
    predict = json.loads((tmp_path / "bench_predict.json").read_text())
    memory = json.loads((tmp_path / "bench_memory.json").read_text())
    assert fit["quick"] and fit["results"] and predict["results"] and memory["results"]
    for row in fit["results"]:
        assert row["dtype"] in ("float32", "float64") and row["solver"] in ("sgd", "adam")
        for name, value in row["ms_per_epoch"].items():
            assert math.isfinite(value) and value > 0, (name, row)
        assert math.isfinite(row["speedup_vs_mlp"]) and row["speedup_vs_mlp"] > 0
        assert 0 < row["fraction_of_peak"] and row["gflops"] > 0
    for row in predict["results"]:
        assert row["allclose"] is True
    options = json.loads((tmp_path / "bench_options.json").read_text())
    assert options["quick"] and options["results"]
    groups = {row["group"] for row in options["results"]}
    assert groups == {"classifier", "regressor", "callback"}
    labels = {row["option"] for row in options["results"]}
    assert {"dropout=0.2", "class_weight='balanced'", "max_grad_norm=1.0", "loss='huber'",
            "loss='quantile', quantile=0.5", "do-nothing callback",
            "Checkpoint(every=1)"} <= labels  # fmt: skip
    for row in options["results"]:
        for name, value in row["ms_per_epoch"].items():
            assert math.isfinite(value) and value > 0, (name, row)
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert len(row["ms_per_epoch_reps"]["option"]) == row["reps"] >= 3
    small = json.loads((tmp_path / "bench_small_fit.json").read_text())
    assert small["quick"] and {row["case"] for row in small["results"]} == {"iris", "digits[:150]"}
    for row in small["results"]:
        assert row["n_rows"] == 150 and row["epochs"] == 200
        assert math.isfinite(row["speedup_vs_mlp"]) and row["speedup_vs_mlp"] > 0
        assert 0 < row["kernel_us_per_epoch"] and 0 < row["fixed_us_per_epoch"]
        # The shuffle draws are timed (counted with the kernel) and are part of it.
        assert 0 < row["shuffle_us_per_epoch"] < row["kernel_us_per_epoch"]
    summary = (tmp_path / "summary.md").read_text()
    assert summary.count("|") > 10
    for heading in ("Cost of training options", "Cost of callbacks", "Small fits"):
        assert heading in summary
    assert (tmp_path / "bench_options.md").read_text().count("|") > 10
    assert (tmp_path / "bench_small_fit.md").read_text().count("|") > 10
    assert (tmp_path / "bench_fit.png").stat().st_size > 0
