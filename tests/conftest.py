"""Test-session setup shared by every test module."""

import os
from pathlib import Path

import pytest

# scikit-learn's check_array_api_input runs only when SciPy's array API support is on,
# and SciPy reads this variable when it is first imported, so set it before any import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")


def pytest_sessionstart(session):
    """BPNET_TEST_INSTALLED=1 (tools/run_installed_tests.py) checks an installed wheel: a
    run that imported the checkout's bpnet instead would prove nothing about it."""
    if os.environ.get("BPNET_TEST_INSTALLED") != "1":
        return
    import bpnet

    checkout = Path(__file__).resolve().parent.parent
    if Path(bpnet.__file__).resolve().is_relative_to(checkout):
        pytest.exit(
            f"BPNET_TEST_INSTALLED=1, but bpnet was imported from the checkout "
            f"({bpnet.__file__}); run the suite through tools/run_installed_tests.py",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )
