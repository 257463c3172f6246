"""Where the benchmark scripts write: quick smoke runs never replace the committed results."""

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run_all(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import run_all

    return run_all


def test_quick_results_go_to_their_own_folder(run_all):
    common = run_all.C
    assert common.results_dir(quick=False) == ROOT / "benchmarks" / "results"
    quick = common.results_dir(quick=True)
    assert quick != common.results_dir(quick=False)
    assert common.default_output("bench_fit.json", quick=True) == quick / "bench_fit.json"


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_quick_results_folder_is_git_ignored(run_all):
    probe = run_all.C.results_dir(quick=True) / "bench_fit.json"
    completed = subprocess.run(
        ["git", "check-ignore", "--no-index", "-q", str(probe.relative_to(ROOT))],
        cwd=ROOT,
    )
    assert completed.returncode == 0


@pytest.mark.parametrize("quick", [True, False])
def test_run_all_writes_where_the_mode_says(run_all, monkeypatch, tmp_path, quick):
    """Each benchmark is told to write into the mode's folder, and so is the summary; the
    benchmarks themselves are replaced by stubs (nothing is timed)."""
    monkeypatch.setattr(run_all.C, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(run_all.C, "QUICK_RESULTS_DIR", tmp_path / "results" / "quick")
    outputs = []

    def stub(argv):
        assert ("--quick" in argv) == quick
        outputs.append(Path(argv[argv.index("--output") + 1]))
        return {}

    for name in ("bench_fit", "bench_predict", "bench_memory"):
        monkeypatch.setattr(getattr(run_all, name), "main", stub)
    monkeypatch.setattr(run_all, "summary", lambda *results: "summary\n")

    run_all.main(["--quick"] if quick else [])
    expected = tmp_path / "results" / "quick" if quick else tmp_path / "results"
    assert [path.parent for path in outputs] == [expected] * 3
    assert (expected / "summary.md").read_text() == "summary\n"
    if quick:
        assert list((tmp_path / "results").iterdir()) == [expected]


def test_quick_run_cannot_rewrite_the_readme(run_all):
    with pytest.raises(SystemExit):
        run_all.main(["--quick", "--readme"])
