"""Run the test suite against an installed bpnet (a wheel), never the checkout's sources.

Usage: ``python tools/run_installed_tests.py CHECKOUT [PYTEST ARGS...]``, with the
interpreter of the environment that has bpnet installed; PYTEST ARGS may pick test files
as ``tests/test_NAME.py`` (the whole suite runs otherwise). cibuildwheel's test-command and
tools/build_wheel.sh call it.

The tests and the files they read (README, docs, benchmarks) come from CHECKOUT; bpnet
must not. pytest runs in a scratch directory that holds only a link to CHECKOUT/tests: the
test package's parent, which pytest and the processes it starts (Dask's workers unpickle
test functions) put on ``sys.path``, is then the scratch directory, where there is no
bpnet/. The tests find the checkout's files through the link (they resolve their own
path). BPNET_TEST_INSTALLED=1 tells the suite's child processes and the benchmark scripts
to import the installed bpnet as well, and tests/conftest.py stops the run if the
checkout's is imported anyway.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

# What the installed package says about itself, read in a fresh interpreter.
DESCRIBE = (
    "import bpnet; from bpnet._parallel import openmp_available;"
    " print(bpnet.__version__, 'with' if openmp_available() else 'without', 'OpenMP');"
    " print(bpnet.__file__)"
)


def _link_directory(target, link):
    """A symbolic link, or on Windows without the right to make one, a junction."""
    try:
        os.symlink(target, link, target_is_directory=True)
    except OSError:
        if sys.platform != "win32":
            raise
        import _winapi

        _winapi.CreateJunction(str(target), str(link))


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
        tests = Path(scratch) / "tests"
        _link_directory(checkout / "tests", tests)
        # Test files named as tests/... select those; otherwise the whole suite runs.
        if not any(arg == "tests" or arg.startswith(("tests/", "tests\\")) for arg in argv[1:]):
            argv = [*argv, str(tests)]
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            f"--rootdir={scratch}",
            "-c",
            str(checkout / "pyproject.toml"),
            *argv[1:],
        ]
        # (tests/conftest.py gives SIGINT back to the Ctrl-C tests when the suite starts
        # with it ignored, as a background command of a shell without job control does.)
        return subprocess.call(command, cwd=scratch, env=env)


if __name__ == "__main__":
    sys.exit(main())
