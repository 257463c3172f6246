"""Run the test suite against an installed bpnet (a wheel), never the checkout's sources.

Usage: ``python tools/run_installed_tests.py CHECKOUT [PYTEST ARGS...]``, with the
interpreter of the environment that has bpnet installed. cibuildwheel's test-command and
tools/build_wheel.sh call it.

The tests and the files they read (README, docs, benchmarks) come from CHECKOUT; bpnet
must not. pytest runs from a scratch directory in importlib mode, so neither the working
directory nor the test package's parent lands on ``sys.path``, and BPNET_TEST_INSTALLED=1
tells the suite's child processes and the benchmark scripts to import the installed bpnet
as well (tests/conftest.py stops the run if the checkout's is imported anyway).
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# What the installed package says about itself, read in a fresh interpreter.
# TODO(issue 20): print whether the build has OpenMP once bpnet exposes that (the engine
# rewrite adds a helper to bpnet/__init__.py; its name is not settled yet).
DESCRIBE = "import bpnet; print(bpnet.__version__); print(bpnet.__file__)"


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    checkout = Path(argv[0]).resolve()
    if not (checkout / "tests" / "conftest.py").is_file():
        print(f"run_installed_tests: {checkout} holds no tests/ of bpnet", file=sys.stderr)
        return 2
    env = {**os.environ, "BPNET_TEST_INSTALLED": "1"}
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix="bpnet-installed-tests-") as scratch:
        described = subprocess.run(
            [sys.executable, "-c", DESCRIBE],
            cwd=scratch,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if described.returncode != 0:
            print(
                f"run_installed_tests: bpnet does not import:\n{described.stderr}", file=sys.stderr
            )
            return 1
        version, location = described.stdout.splitlines()[-2:]
        if Path(location).resolve().is_relative_to(checkout):
            print(
                f"run_installed_tests: bpnet is imported from the checkout ({location}),"
                " not from an installed package",
                file=sys.stderr,
            )
            return 1
        print(f"run_installed_tests: bpnet {version} from {Path(location).parent}", flush=True)
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--import-mode=importlib",
            "-p",
            "no:cacheprovider",
            f"--rootdir={checkout}",
            "-c",
            str(checkout / "pyproject.toml"),
            str(checkout / "tests"),
            *argv[1:],
        ]
        return subprocess.call(command, cwd=scratch, env=env)


if __name__ == "__main__":
    sys.exit(main())
