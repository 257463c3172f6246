"""Repository upkeep: CI runs the README's test command, the packaging and lint settings
agree with each other, and quick benchmark runs never replace the committed results."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# --- CI, packaging and lint settings -----------------------------------------------------


def test_ci_runs_exactly_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("Set up and run the linters, then the tests:", 1)[1]
    command = re.search(r"```bash\n(.+?)\n```", section, re.DOTALL).group(1).strip()
    ci_lines = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci_lines.count(command) == 1
    assert "set -euo pipefail" in ci_lines
    # After the test command: a check that all of it passed (set -e ignores a failure
    # inside an && list but for its last command), then only the documentation's stage.
    after = [line for line in ci_lines[ci_lines.index(command) + 1 :] if line[:1] not in "#"]
    assert after[0] == "test $? -eq 0"
    assert all("docs" in line for line in after[1:])
    # The linters run before the tests.
    assert command.index("ruff check") < command.index("cython-lint") < command.index("pytest")


def test_ci_builds_the_docs_as_the_readme_says_and_checks_the_docs_extra():
    readme = (ROOT / "README.md").read_text()
    docs_command = re.search(r"`(pip install -e \"\.\[docs\]\" && python -m sphinx [^`]+)`", readme)
    assert docs_command, "the README's docs command"
    install, build = docs_command[1].split(" && ")
    ci_docs = (ROOT / ".ci" / "docs").read_text()
    assert "time .ci/docs" in (ROOT / ".ci" / "run").read_text().splitlines()
    # The README's build command, in the tests' environment, whose install has the docs
    # extra; the conf.py extension checks that the extra alone installs what the build
    # imported (tests/test_docs.py tests that check).
    assert "[test,lint,onnx,dask,docs]" in (ROOT / ".ci" / "run").read_text()
    (line,) = [line for line in ci_docs.splitlines() if build in line]
    assert line.startswith(build + " 2>&1 | tee")
    assert "pip install" not in ci_docs and "set -euo pipefail" in ci_docs
    assert '"docs_extra_check",' in (ROOT / "docs" / "conf.py").read_text()
    # No warning in the log, not even those that do not pass through Sphinx's.
    assert 'grep -Ein "warning|deprecat"' in ci_docs


def test_license_metadata():
    project = _pyproject()["project"]
    assert project["license"] == "BSD-3-Clause"
    assert project["license-files"] == ["LICENSE"]
    assert "BSD 3-Clause" in (ROOT / "LICENSE").read_text()
    # setuptools rejects a License classifier beside an SPDX license expression.
    assert not [c for c in project["classifiers"] if c.startswith("License ::")]


def test_package_data_leaves_generated_files_out():
    setuptools = _pyproject()["tool"]["setuptools"]
    assert {"*.pyx", "*.pxd"} <= set(setuptools["package-data"]["bpnet"])
    assert {"*.c", "*.html"} <= set(setuptools["exclude-package-data"]["bpnet"])


def test_pre_commit_uses_the_pinned_linters():
    pins = dict(pin.split("==") for pin in _pyproject()["project"]["optional-dependencies"]["lint"])
    config = (ROOT / ".pre-commit-config.yaml").read_text()
    revs = dict(re.findall(r"repo: https://github.com/[\w-]+/([\w-]+)\s+rev: v(\S+)", config))
    assert revs == {
        "ruff-pre-commit": pins["ruff"],
        "cython-lint": pins["cython-lint"],
        "mirrors-clang-format": pins["clang-format"],
    }


def test_cython_sources_pass_pycodestyle():
    """The pycodestyle pass cython-lint would run (its ignore list, the project's line
    length and ignores), through this interpreter rather than a program on PATH."""
    from cython_lint.cython_lint import PYCODESTYLE_CODES

    config = _pyproject()["tool"]["cython-lint"]
    sources = sorted(str(p) for p in (ROOT / "bpnet").glob("*.p[yx][xd]"))
    assert any(s.endswith(".pyx") for s in sources) and any(s.endswith(".pxd") for s in sources)
    result = subprocess.run(
        [
            sys.executable, "-m", "pycodestyle",
            f"--ignore={','.join(sorted(PYCODESTYLE_CODES | set(config['ignore'])))}",
            f"--max-line-length={config['max-line-length']}",
            *sources,
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


# --- benchmark output locations ----------------------------------------------------------


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


def test_quick_results_folder_is_git_ignored(run_all):
    quick = run_all.C.results_dir(quick=True).relative_to(ROOT).as_posix()
    patterns = [line.strip().rstrip("/") for line in (ROOT / ".gitignore").read_text().splitlines()]
    assert quick in patterns or f"/{quick}" in patterns


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
