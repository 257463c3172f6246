# How the blocks of a phase are shared among threads: the only module that knows.
#
# A kernel describes a phase as n_blocks calls of one block function, each writing its
# own slots; run_phase decides only which thread runs which block, so nothing computed
# depends on the number of threads.


# run_block(work, phase, index): run block `index` of phase `phase` of the work `work`.
ctypedef void (*BlockFunction)(void* work, Py_ssize_t phase,
                               Py_ssize_t index) noexcept nogil


cdef void run_phase(BlockFunction run_block, void* work, Py_ssize_t phase,
                    Py_ssize_t n_blocks, int n_threads) noexcept nogil


cdef extern from "portable.h" nogil:
    # The calling thread's number in the team running a phase (0 outside one): blocks
    # that need scratch space of their own index a per-thread buffer with it.
    int thread_number "bpnet_thread_number" () noexcept
