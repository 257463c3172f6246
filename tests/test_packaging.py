"""The wheels cibuildwheel builds are exactly the ones we ship, and the scripts its
configuration names exist (no docker and no network: cibuildwheel only lists them)."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from ._helpers import hang_limit

ROOT = Path(__file__).resolve().parent.parent

PYTHONS = ["cp310", "cp311", "cp312", "cp313"]
# Per platform, the identifiers of every wheel we ship (and nothing else: no PyPy, no
# free-threaded or 3.14 builds, no 32-bit x86, no musllinux aarch64).
SHIPPED = {
    "linux": [
        f"{python}-{platform}"
        for platform in ("manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64")
        for python in PYTHONS
    ],
    "macos": [
        f"{python}-{platform}"
        for platform in ("macosx_x86_64", "macosx_arm64")
        for python in PYTHONS
    ],
    "windows": [f"{python}-win_amd64" for python in PYTHONS],
}


def _cibuildwheel_config():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]


@pytest.mark.parametrize("platform", sorted(SHIPPED))
def test_cibuildwheel_builds_exactly_the_wheels_we_ship(platform):
    # The configuration alone decides: no CIBW_* setting from the caller's environment.
    env = {key: value for key, value in os.environ.items() if not key.startswith("CIBW_")}
    listed = subprocess.run(
        [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers",
         "--platform", platform, str(ROOT)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=hang_limit(300), check=False,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    identifiers = listed.stdout.split()
    assert len(identifiers) == len(set(identifiers))
    assert sorted(identifiers) == sorted(SHIPPED[platform])


def test_commands_of_the_wheel_builds_name_files_that_exist():
    """Every ``{project}/...`` path in the build, repair and test commands is a file of the
    repository, and the suite runs from the installed wheel through the one runner."""
    config = _cibuildwheel_config()
    commands = []

    def collect(table):
        for key, value in table.items():
            if isinstance(value, dict):
                collect(value)
            elif key.endswith("command") or key.startswith("before-"):
                commands.append(value)

    collect(config)
    for override in config.get("overrides", []):
        collect(override)
    paths = [path for command in commands for path in re.findall(r"\{project\}/(\S+)", command)]
    assert "tools/run_installed_tests.py" in paths
    assert "tools/wheels/macos_libomp.sh" in paths
    for path in paths:
        assert (ROOT / path).is_file(), f"pyproject.toml's cibuildwheel commands name {path}"
    assert config["test-command"].startswith("python {project}/tools/run_installed_tests.py")


def test_classifiers_name_the_systems_we_build_wheels_for():
    tomllib = pytest.importorskip("tomllib")
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["classifiers"]
    systems = {c for c in classifiers if c.startswith("Operating System ::")}
    assert systems == {
        "Operating System :: MacOS",
        "Operating System :: Microsoft :: Windows",
        "Operating System :: POSIX :: Linux",
    }
