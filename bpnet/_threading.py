"""How bpnet uses the cores.

Minibatch training (sgd, adam) runs each epoch on its own small team of threads inside
one nogil call: a batch is cut, by shape alone, into row blocks and parameter blocks that
the threads claim, each calling single-threaded BLAS (epoch_blocks, epoch_team). Because
the cut never depends on the number of threads, neither do the results.

The full-batch products of lbfgs run inside BLAS instead: on one thread below
PARALLEL_GEMM_WORK multiply-adds, because a second OpenBLAS thread on a small product
costs more in synchronisation than it saves, and waits at its barrier for a whole
scheduler time slice when other work shares the cores; above it, with the BLAS library's
setting. That choice too depends on the shapes only, never on timings: OpenBLAS's results
can differ in the last bits between thread counts, and a fit must give the same model
every time. (benchmarks/README.md has the measurements behind each threshold here.)

Prediction splits the rows among the cores (row_parallel), each with one BLAS thread.
"""

import ctypes
import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import threadpoolctl
from threadpoolctl import ThreadpoolController

# Multiply-adds in the largest GEMM of one block of rows (rows * fan_in * fan_out) below
# which a product runs on one BLAS thread: smaller products do not amortise the threads'
# synchronisation. It applies to lbfgs's 1024-row chunks.
PARALLEL_GEMM_WORK = 25_000_000

# "one" pins every product to one BLAS thread, "default" lets every product use the BLAS
# library's threads; anything else keeps the size rule. Read from BPNET_BLAS_THREADS.
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


class _BlasThreads:
    """Get and set one BLAS library's thread count.

    Through threadpoolctl's controller, except for OpenBLAS with its own (pthreads)
    threads, whose C functions are called directly: threadpoolctl's limit() inspects the
    libraries anew on every call, which costs as much as a prediction of a few rows.
    OpenBLAS's thread count is global to the process, so which thread sets it does not
    matter.
    """

    def __init__(self, controller):
        self.controller = controller
        self._get = self._set = None
        if (
            getattr(controller, "internal_api", None) == "openblas"
            and getattr(controller, "threading_layer", None) != "openmp"
        ):
            try:
                library = ctypes.CDLL(controller.filepath)
            except OSError:
                return
            for prefix, suffix in itertools.product(("", "scipy_"), ("", "64_", "_64")):
                get = getattr(library, f"{prefix}openblas_get_num_threads{suffix}", None)
                set_ = getattr(library, f"{prefix}openblas_set_num_threads{suffix}", None)
                if get is not None and set_ is not None:
                    get.restype, get.argtypes = ctypes.c_int, []
                    set_.restype, set_.argtypes = None, [ctypes.c_int]
                    self._get, self._set = get, set_
                    return

    def get(self):
        return self._get() if self._get is not None else self.controller.get_num_threads()

    def set(self, n_threads):
        if self._set is not None:
            self._set(n_threads)
        else:
            _release_blas_control()
            self.controller.set_num_threads(n_threads)
            _release_blas_control()


_blas_libraries = None


def _get_blas_libraries():
    """The loaded BLAS libraries, each a _BlasThreads, looked up once."""
    global _blas_libraries
    if _blas_libraries is None:
        controllers = _get_controller().select(user_api="blas").lib_controllers
        _blas_libraries = [_BlasThreads(controller) for controller in controllers]
    return _blas_libraries


def _current_blas_threads():
    """The smallest thread count among the loaded BLAS libraries, or None if none is."""
    return min((lib.get() for lib in _get_blas_libraries()), default=None)


def _release_blas_control():
    """Let the calling thread change OpenBLAS's thread count.

    threadpoolctl (3.6 and later) lets only the first thread that set a limit change it
    again and silently ignores the others. bpnet makes every change under _BlasMode's
    lock, whichever thread that is, so it hands the control over first.
    """
    controller_class = getattr(threadpoolctl, "OpenBLASController", None)
    if hasattr(controller_class, "clear_controlling_thread"):
        controller_class.clear_controlling_thread(force=True)


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
        self._outer = None

    def outer_threads(self):
        """The BLAS thread count found before bpnet limited it to one, if it has."""
        with self._condition:
            return self._outer if self._saved_threads is not None else None

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
                    self._saved_threads = [(lib, lib.get()) for lib in _get_blas_libraries()]
                    self._outer = min((n for _, n in self._saved_threads), default=None)
                    for lib, n_threads in self._saved_threads:
                        if n_threads != 1:
                            lib.set(1)
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
                        for lib, n_threads in self._saved_threads:
                            if n_threads != 1 and n_threads is not None:
                                lib.set(n_threads)
                        self._saved_threads = None
                    self._mode = None
                    self._condition.notify_all()


_blas_mode = _BlasMode()


def one_blas_thread():
    """A context manager under which BLAS runs on one thread."""
    return _blas_mode.hold("one")


def uses_one_thread(rows, layer_units):
    """Whether products on blocks of ``rows`` rows run on one BLAS thread."""
    if forced_choice in ("one", "default"):
        return forced_choice == "one"
    return largest_gemm_work(rows, layer_units) < PARALLEL_GEMM_WORK


def blas_threads(rows, layer_units):
    """A context manager setting the BLAS threads for blocks of ``rows`` rows."""
    return _blas_mode.hold("one" if uses_one_thread(rows, layer_units) else "default")


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
    min_rows_per_task = max(1, min_rows_per_task)
    # Too few rows for two tasks: no need to ask for the cores (a system call).
    n_tasks = 1 if n_rows < 2 * min_rows_per_task else min(n_cores(), n_rows // min_rows_per_task)
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


# --- the epoch's own thread team -----------------------------------------------------
# Minibatch training does not rely on threads inside BLAS: train_epoch cuts each batch
# into blocks (rows for the forward and backward passes, parameters for the gradient and
# update) and a small team of threads, each calling single-threaded BLAS, claims them.
# The cut depends on the shapes only, so the results never depend on the team's size.

# The most blocks each phase is cut into. Cutting rows makes every product of the
# forward and backward passes smaller, so two row blocks; cutting parameters only makes
# the gradient products shorter, and four blocks balance two threads better when the
# layers differ in size.
MAX_ROW_BLOCKS = 2
MAX_PARAM_BLOCKS = 4

# Multiply-adds a block must carry for a cut to pay. Below it, moving the block's rows
# and weights between the cores' caches costs more than the second core saves.
MIN_BLOCK_WORK = 500_000

# Floating-point operations a kernel call must carry (about 6 * rows * weights an epoch,
# times the epochs when they all run in one call) for a team to pay. Helper threads are
# started and joined once per call; when another process keeps a core busy (even
# OpenBLAS's worker threads, which spin for a while after their last product) a helper
# can wait a scheduler time slice to start or to finish, which a short call cannot
# absorb. Such calls run on the calling thread alone.
MIN_EPOCH_FLOPS = 200_000_000

# BPNET_NUM_THREADS caps the team; by default it follows the BLAS thread limit in force
# (so threadpoolctl.threadpool_limits(1) or OPENBLAS_NUM_THREADS=1 mean one thread) and
# the cores this process may use.
_requested_threads = os.environ.get("BPNET_NUM_THREADS", "")

_team_lock = threading.Lock()
_team_threads_in_use = 0


def epoch_blocks(batch_size, layer_units):
    """How train_epoch cuts a batch: ``{"n_row_blocks": ..., "n_param_blocks": ...}``.

    The forward and backward passes of a batch carry about twice the multiply-adds of
    its gradient and update, batch_size * n_weights.
    """
    n_weights = sum(a * b for a, b in zip(layer_units[:-1], layer_units[1:]))
    gradient_work = batch_size * n_weights

    def blocks(work, most):
        return int(max(1, min(most, work // MIN_BLOCK_WORK)))

    return {
        "n_row_blocks": blocks(2 * gradient_work, min(MAX_ROW_BLOCKS, batch_size)),
        "n_param_blocks": blocks(gradient_work, min(MAX_PARAM_BLOCKS, max(layer_units[:-1]))),
    }


def _blas_thread_limit():
    """The BLAS thread count in force outside bpnet's own temporary limits."""
    outer = _blas_mode.outer_threads()
    if outer is not None:
        return outer
    current = _current_blas_threads()
    return current if current is not None else n_cores()


def team_limit():
    """The most threads one epoch may use."""
    if _requested_threads:
        try:
            return max(1, int(_requested_threads))
        except ValueError:
            pass
    return max(1, min(n_cores(), _blas_thread_limit()))


def epoch_threads(blocks, epoch_flops=None):
    """Threads the policy gives a fit's epochs, before sharing the cores with other fits.

    One when the batch is not cut or the kernel call's work (``epoch_flops``, about 6 *
    rows * weights per epoch it runs) is under MIN_EPOCH_FLOPS; otherwise one per block,
    up to team_limit().
    """
    if epoch_flops is not None and epoch_flops < MIN_EPOCH_FLOPS:
        return 1
    return min(team_limit(), max(blocks["n_row_blocks"], blocks["n_param_blocks"]))


@contextmanager
def epoch_team(blocks, epoch_flops=None):
    """Reserve threads for a fit's epochs; yields how many it may use (at least one).

    ``epoch_flops`` is the work of one kernel call (about 6 * rows * weights per epoch
    it runs); below MIN_EPOCH_FLOPS the call runs on one thread. Fits running at the same time
    (GridSearchCV with a threading backend, say) share the cores: each takes what the
    others have left, so they do not crowd one another.
    """
    global _team_threads_in_use
    wanted = epoch_threads(blocks, epoch_flops)
    with _team_lock:
        granted = max(1, min(wanted, n_cores() - _team_threads_in_use))
        _team_threads_in_use += granted
    try:
        yield granted
    finally:
        with _team_lock:
            # Never below zero: a forked child starts the count again (bpnet/_fork.py).
            _team_threads_in_use = max(0, _team_threads_in_use - granted)
