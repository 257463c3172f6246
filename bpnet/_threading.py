"""How many BLAS threads the kernels run with, decided by size and then by measurement.

On small layers an OpenBLAS GEMM that wakes a second thread gains nothing, and whenever
other work shares the cores, its threads wait at a barrier for a scheduler time slice:
benchmarks/bench_threads.py measured fits slowed 1.3x to over 200x. So products below
PARALLEL_GEMM_WORK always run on one thread. Above it, EpochThreading times epochs with
one thread and with the library's default and keeps the faster, re-checking now and
then, so the default is never much slower than one thread.
"""

import os
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext

from threadpoolctl import ThreadpoolController

# Multiply-adds in the largest GEMM of one batch (rows * fan_in * fan_out) below which a
# second BLAS thread never paid off on this project's reference 2-core machine, even idle.
PARALLEL_GEMM_WORK = 25_000_000

# After settling, re-time the other choice once every this many epochs.
RECHECK_EVERY = 10

# "one" or "default" pins the choice for every product (for benchmarks and for users who
# know their machine); anything else lets the policy decide. Read from BPNET_BLAS_THREADS.
forced_choice = os.environ.get("BPNET_BLAS_THREADS", "auto")

_controller = None
_executor = None


def _get_controller():
    # Built once: inspecting the loaded libraries takes far longer than a limit() call.
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def largest_gemm_work(rows, layer_units):
    """Multiply-adds of the largest layer product for a block of ``rows`` rows."""
    return rows * max(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))


def one_blas_thread():
    """A context manager that limits BLAS to one thread."""
    return _get_controller().limit(limits=1, user_api="blas")


class EpochThreading:
    """Chooses, call by call, between one BLAS thread and the library's default.

    Use ``with policy.next_call():`` around each timed unit of work (an epoch, an L-BFGS
    evaluation). Small products always get one thread. Large ones alternate for the first
    two calls, then use whichever was faster, timing the other again every RECHECK_EVERY
    calls, since the load on a shared machine changes.
    """

    def __init__(self, rows, layer_units):
        self.adaptive = (
            n_cores() > 1 and largest_gemm_work(rows, layer_units) >= PARALLEL_GEMM_WORK
        )
        self.seconds = {"one": None, "default": None}
        self.calls = 0

    def _choice(self):
        if forced_choice in ("one", "default"):
            return forced_choice
        if not self.adaptive:
            return "one"
        if self.seconds["default"] is None:
            return "default"
        if self.seconds["one"] is None:
            return "one"
        best = min(self.seconds, key=lambda k: self.seconds[k])
        if self.calls % RECHECK_EVERY == 0:
            return "default" if best == "one" else "one"
        return best

    @contextmanager
    def next_call(self):
        choice = self._choice()
        start = time.perf_counter()
        with one_blas_thread() if choice == "one" else nullcontext():
            yield
        self.seconds[choice] = time.perf_counter() - start
        self.calls += 1


def n_cores():
    """Cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def row_parallel(function, n_rows, min_rows_per_task):
    """Call ``function(start, stop)`` on row ranges covering ``range(n_rows)``, in parallel.

    Used by prediction, whose kernel releases the GIL: each core takes a contiguous
    share of the rows. Small inputs run in the calling thread.
    """
    n_tasks = min(n_cores(), n_rows // max(1, min_rows_per_task))
    if n_tasks <= 1:
        function(0, n_rows)
        return
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=n_cores(), thread_name_prefix="bpnet")
    bounds = [n_rows * i // n_tasks for i in range(n_tasks + 1)]
    futures = [_executor.submit(function, a, b) for a, b in zip(bounds[:-1], bounds[1:])]
    for future in futures:
        future.result()
