"""The machine the comparison runs on: its cores, load, thread settings and BLAS libraries."""

import os
from pathlib import Path

# Variables that set thread counts before any code runs; shown when set.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "BPNET_NUM_THREADS",
    "BPNET_BLAS_THREADS",
)


def _library_owner(filepath):
    """The package that ships a loaded library: the folder of its ``*.libs`` copy, or its name."""
    folder = Path(filepath).parent.name
    return folder[: -len(".libs")] if folder.endswith(".libs") else Path(filepath).name


def blas_info():
    """The BLAS libraries loaded in this process, with their thread counts."""
    from threadpoolctl import threadpool_info

    return [
        {
            "library": pool.get("internal_api"),
            "version": pool.get("version"),
            "loaded_by": _library_owner(pool.get("filepath", "")),
            "architecture": pool.get("architecture"),
            "threading_layer": pool.get("threading_layer"),
            "num_threads": pool.get("num_threads"),
        }
        for pool in threadpool_info()
        if pool.get("user_api") == "blas"
    ]


def cores():
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_average():
    """The load averages over 1, 5 and 15 minutes, or None where the system keeps none."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def thread_settings(limit):
    """The thread limit, the cores, and the thread variables set in the environment."""
    return {
        "limit": limit,
        "cores": cores(),
        "environment": {key: os.environ[key] for key in THREAD_VARIABLES if key in os.environ},
    }
