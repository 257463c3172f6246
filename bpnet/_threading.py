"""How bpnet uses the cores: how many threads a kernel call gets, and BLAS's threads.

Minibatch training (sgd, adam) and prediction run on OpenMP threads inside their kernels:
an epoch's batches are cut, by shape alone, into phases of blocks that the threads
share, each block calling single-threaded BLAS (bpnet/_sgd_fast.pyx, _parallel.pyx).
Because the cut never depends on the number of threads, neither do the results. This
module decides how many threads a call gets (``available_threads``, shared among fits
running at the same time by ``kernel_threads``) and holds BLAS to one thread meanwhile
(``one_blas_thread``), through threadpoolctl.

The full-batch products of lbfgs run inside BLAS instead: on one thread below
PARALLEL_GEMM_WORK multiply-adds, because a second OpenBLAS thread on a small product
costs more in synchronisation than it saves; above it, with the BLAS library's setting.
That choice too depends on the shapes only, never on timings: a BLAS library's results
can differ in the last bits between thread counts, and a fit must give the same model
every time. ``direct_product_work`` tells the epoch kernel how large a float32 product
the BLAS computes without packing, which sizes its blocks. (benchmarks/README.md has
the measurements behind each threshold here.)
"""

import os
import threading
from contextlib import contextmanager

import numpy as np
import threadpoolctl
from joblib import cpu_count
from threadpoolctl import ThreadpoolController

from ._parallel import openmp_available, openmp_thread_limit

# Multiply-adds in the largest GEMM of one block of rows (rows * fan_in * fan_out) below
# which a product runs on one BLAS thread: smaller products do not amortise the threads'
# synchronisation. It applies to lbfgs's 1024-row chunks.
PARALLEL_GEMM_WORK = 25_000_000

# "one" pins every lbfgs product to one BLAS thread, "default" lets every product use the
# BLAS library's threads; anything else keeps the size rule. Read from BPNET_BLAS_THREADS.
forced_choice = os.environ.get("BPNET_BLAS_THREADS", "auto")

_controller = None


def _get_controller():
    # Built once: inspecting the loaded libraries takes far longer than a limit() call.
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    return _controller


def largest_gemm_work(rows, layer_units):
    """Multiply-adds of the largest layer product for a block of ``rows`` rows."""
    return rows * max(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))


_blas_controllers = None


def _blas_libraries():
    """threadpoolctl's controllers of the loaded BLAS libraries (selected once, from the
    controller that is itself built once)."""
    global _blas_controllers
    if _blas_controllers is None:
        _blas_controllers = list(_get_controller().select(user_api="blas").lib_controllers)
    return _blas_controllers


# BLAS builds whose single-precision GEMM computes small products in place, without
# packing its operands, and up to what size (multiply-adds). OpenBLAS's AVX-512 kernels
# (the SkylakeX ones, which Cooperlake and Sapphire Rapids, and AMD's Zen 4, also run)
# take such a path for sgemm products of at most 100^3 multiply-adds (its
# sgemm_small_kernel_permit); on the reference machine, cutting the 60000x784 (256,)
# network's batch-128 products to that size made a float32 batch 35% faster on one
# thread. Its double-precision path gained nothing there, and OpenBLAS's other kernels
# (Haswell's, measured with OPENBLAS_CORETYPE=Haswell) pack every product, where the
# smaller tiles cost 16%: they keep the usual cut.
DIRECT_GEMM = {("openblas", "SkylakeX"): 1e6, ("openblas", "Cooperlake"): 1e6,
               ("openblas", "SapphireRapids"): 1e6}  # fmt: skip

_direct_work = None


def _kernels_blas():
    """threadpoolctl's controller of the BLAS that bpnet's kernels call (SciPy's), or None
    when that cannot be told: the only BLAS loaded, or the one inside SciPy's package."""
    libraries = _blas_libraries()
    if len(libraries) == 1:
        return libraries[0]
    for library in libraries:
        # SciPy's wheels keep it in scipy.libs (Linux, Windows) or scipy/.dylibs (macOS).
        folders = os.path.normpath(library.filepath or "").split(os.sep)[:-1]
        if folders[-1:] == ["scipy.libs"] or folders[-2:] == ["scipy", ".dylibs"]:
            return library
    return None


def direct_product_work(dtype):
    """The most multiply-adds of a ``dtype`` product that the kernels' BLAS computes
    without packing its operands (see DIRECT_GEMM), or 0 where none is known. Fixed for
    the process, so a fit's cut never changes between its calls."""
    global _direct_work
    if _direct_work is None:
        library = _kernels_blas()
        key = None if library is None else (library.internal_api, library.architecture)
        _direct_work = DIRECT_GEMM.get(key, 0.0)
    return _direct_work if np.dtype(dtype) == np.float32 else 0.0


def _release_blas_control():
    """Let the calling thread change OpenBLAS's thread count.

    threadpoolctl (3.6 and later) lets only the first thread that set a limit change it
    again and silently ignores the others. bpnet makes every change under _BlasMode's
    lock, whichever thread that is, so it hands the control over first.
    """
    controller_class = getattr(threadpoolctl, "OpenBLASController", None)
    if hasattr(controller_class, "clear_controlling_thread"):
        controller_class.clear_controlling_thread(force=True)


def _set_blas_threads(settings):
    """Set each (library, thread count) of ``settings``, taking threadpoolctl's control of
    OpenBLAS for the calling thread first and handing it back after (one hand-over for
    all the libraries: the control is shared by every OpenBLAS controller)."""
    _release_blas_control()
    for library, n_threads in settings:
        library.set_num_threads(n_threads)
    _release_blas_control()


class _BlasMode:
    """A process-wide BLAS thread setting shared by every bpnet call that needs it.

    OpenBLAS's thread count is global to the process, and its results can differ in the
    last bits between counts. So bpnet calls running in several threads share one
    setting: any number of calls wanting the same setting run together, and a call
    wanting the other one waits until they finish (new arrivals queue behind it, so
    neither side starves). The first call in sets the limit, the last one out restores
    the count it found. A thread already inside runs nested calls under its setting.
    """

    def __init__(self):
        self._condition = threading.Condition()
        self._local = threading.local()
        self._mode = None
        self._active = 0
        self._waiting = {"one": 0, "default": 0}
        self._saved_threads = None

    @contextmanager
    def hold(self, mode):
        if getattr(self._local, "depth", 0):
            self._local.depth += 1
            try:
                yield
            finally:
                self._local.depth -= 1
            return
        other = "default" if mode == "one" else "one"
        with self._condition:
            self._waiting[mode] += 1
            while self._active and (self._mode != mode or self._waiting[other]):
                self._condition.wait()
            self._waiting[mode] -= 1
            if not self._active:
                self._mode = mode
                if mode == "one":
                    self._saved_threads = [
                        (lib, lib.get_num_threads()) for lib in _blas_libraries()
                    ]
                    _set_blas_threads(
                        [(lib, 1) for lib, n_threads in self._saved_threads if n_threads != 1]
                    )
            self._active += 1
        self._local.depth = 1
        try:
            yield
        finally:
            self._local.depth = 0
            with self._condition:
                self._active -= 1
                if not self._active:
                    if self._saved_threads is not None:
                        _set_blas_threads([
                            (lib, n_threads) for lib, n_threads in self._saved_threads
                            if n_threads != 1 and n_threads is not None
                        ])  # fmt: skip
                        self._saved_threads = None
                    self._mode = None
                    self._condition.notify_all()


_blas_mode = _BlasMode()


def one_blas_thread():
    """A context manager under which BLAS runs on one thread."""
    return _blas_mode.hold("one")


def uses_one_thread(rows, layer_units):
    """Whether lbfgs's products on blocks of ``rows`` rows run on one BLAS thread."""
    if forced_choice in ("one", "default"):
        return forced_choice == "one"
    return largest_gemm_work(rows, layer_units) < PARALLEL_GEMM_WORK


def blas_threads(rows, layer_units):
    """A context manager setting the BLAS threads for lbfgs's blocks of ``rows`` rows."""
    return _blas_mode.hold("one" if uses_one_thread(rows, layer_units) else "default")


# (the affinity's size, the cores) of the last count; None until the first, and again
# in a forked child (_fork.py).
_cores_counted = None


def n_cores():
    """Cores this process may run on: its CPU affinity and its cgroup CPU quota, as
    joblib counts them.

    joblib reads the cgroup's files at each count, a cost on every fit; so the count is
    kept, and made again when the affinity (a system call to read) changes, or in a
    forked child. A quota changed while the process runs is therefore seen at the next
    change of affinity.
    """
    global _cores_counted
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    counted = _cores_counted
    if counted is None or counted[0] != affinity:
        counted = _cores_counted = (affinity, max(1, cpu_count(only_physical_cores=False)))
    return counted[1]


def requested_threads():
    """The thread count set by ``BPNET_NUM_THREADS``, or None."""
    try:
        return max(1, int(os.environ.get("BPNET_NUM_THREADS", "")))
    except ValueError:
        return None


def available_threads():
    """The most threads one kernel call may use.

    ``BPNET_NUM_THREADS`` when set (even beyond the cores); otherwise the OpenMP
    runtime's limit (which ``OMP_NUM_THREADS`` and threadpoolctl's ``openmp`` limits
    set, so that joblib's workers in a ``GridSearchCV(n_jobs=-1)`` are not
    oversubscribed) within the cores this process may use. One in a build without
    OpenMP, and in a child forked after the parent's OpenMP threads could not be ended.
    """
    if not openmp_available() or single_threaded_after_fork:
        return 1
    requested = requested_threads()
    if requested is not None:
        return requested
    return max(1, min(openmp_thread_limit(), n_cores()))


_reservation_lock = threading.Lock()
_threads_in_use = 0
# What the calling thread itself holds of _threads_in_use (its own kernel calls).
_own = threading.local()
# Set in a forked child whose parent's OpenMP threads could not be ended (_fork.py).
single_threaded_after_fork = False


@contextmanager
def kernel_threads(wanted=None):
    """Reserve threads for a kernel call; yields how many it may use (at least one).

    Calls running at the same time (fits in a GridSearchCV with a threading backend,
    say) share the cores: each takes what the others have left, so they do not crowd
    one another. ``wanted`` caps the request (a call with few blocks needs few threads).
    """
    global _threads_in_use
    limit = available_threads()
    if wanted is not None:
        limit = min(limit, max(1, wanted))
    with _reservation_lock:
        # An explicit BPNET_NUM_THREADS is taken as asked; otherwise calls share the cores.
        free = n_cores() - _threads_in_use
        granted = limit if requested_threads() is not None else max(1, min(limit, free))
        _threads_in_use += granted
    _own.threads = own_threads() + granted
    try:
        yield granted
    finally:
        _own.threads -= granted
        with _reservation_lock:
            # At zero already in a child forked during the call (see _fork.py).
            _threads_in_use = max(0, _threads_in_use - granted)


def own_threads():
    """The threads that the calling thread's own kernel calls hold."""
    return getattr(_own, "threads", 0)
