# The blocks of a phase run on OpenMP threads (Cython's prange); without OpenMP, or on
# one thread, in the calling thread in order.
from cython.parallel cimport prange


cdef extern from "portable.h" nogil:
    int openmp_enabled "bpnet_openmp_enabled" () noexcept
    int openmp_max_threads "bpnet_openmp_max_threads" () noexcept
    int openmp_release_threads "bpnet_openmp_release_threads" () noexcept


cdef void run_phase(BlockFunction run_block, void* work, Py_ssize_t phase,
                    Py_ssize_t n_blocks, int n_threads) noexcept nogil:
    """Run blocks 0...n_blocks-1 of one phase on up to n_threads threads; returns when all
    are done. Blocks are handed out one at a time as threads come for them (dynamic
    scheduling), so a thread slowed down by other work on its core takes fewer."""
    cdef Py_ssize_t index
    if n_threads <= 1 or n_blocks <= 1:
        for index in range(n_blocks):
            run_block(work, phase, index)
        return
    for index in prange(n_blocks, num_threads=min(n_threads, n_blocks), schedule="dynamic",
                        chunksize=1):
        run_block(work, phase, index)


def openmp_available():
    """Whether this build of bpnet runs its kernels on several threads (OpenMP)."""
    return bool(openmp_enabled())


def openmp_thread_limit():
    """The OpenMP runtime's thread limit: OMP_NUM_THREADS, or what threadpoolctl set;
    1 without OpenMP."""
    return openmp_max_threads()


def release_threads():
    """End the calling thread's OpenMP worker threads, so that a process forked next can
    start its own (see portable.h); whether that was done."""
    return openmp_release_threads() == 0
