"""Test-session setup shared by every test module."""

import os
import signal
from pathlib import Path

import pytest

# scikit-learn's check_array_api_input runs only when SciPy's array API support is on,
# and SciPy reads this variable when it is first imported, so set it before any import.
os.environ.setdefault("SCIPY_ARRAY_API", "1")


def pytest_configure(config):
    """SIGINT delivered as Python's KeyboardInterrupt, as in an interactive session.

    A shell without job control starts a background command (``cmd &`` in a script, or
    under ``nohup``) with SIGINT ignored, and Python keeps it ignored: the Ctrl-C tests'
    signals would then be lost and a 100,000-epoch fit would run to its end. Setting the
    handler here covers the session and the pytest-xdist workers it starts (a process
    that execs resets a handled signal to its default, which Python maps to this one).
    """
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


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


@pytest.fixture
def threads_every_phase():
    """Every phase of every batch on all the threads a kernel call is granted (the
    governor off), for the tests that compare thread counts: a fresh governor runs its
    first 0.1 s on one thread, longer than most test fits take."""
    from bpnet import _parallel

    previous = _parallel.set_governor(False)
    try:
        yield
    finally:
        _parallel.set_governor(previous)
