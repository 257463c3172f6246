"""How many BLAS threads the kernels run with: one for small products, all for large ones.

On small layers, an OpenBLAS GEMM that wakes a second thread costs more in hand-over
than the thread saves, and when other work shares the cores the waiting threads can slow
training several-fold (see benchmarks/). Products below PARALLEL_GEMM_WORK therefore run
on one thread; larger ones keep the BLAS library's own setting.
"""

import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext

from threadpoolctl import ThreadpoolController

# Multiply-adds in the largest GEMM of one batch (rows * fan_in * fan_out) from which a
# second BLAS thread pays off on this project's reference 2-core machine.
PARALLEL_GEMM_WORK = 4_000_000

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


def blas_threads(rows, layer_units):
    """A context manager that limits BLAS to one thread when the products are small."""
    if largest_gemm_work(rows, layer_units) >= PARALLEL_GEMM_WORK:
        return nullcontext()
    return _get_controller().limit(limits=1, user_api="blas")


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
