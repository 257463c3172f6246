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


# How many of its threads a kernel call uses, decided batch by batch from timings: the
# threads granted when the machine is free for them, fewer when other work takes cores
# (see _parallel.pyx). The choice changes only the speed, never a result.
cdef enum:
    GOVERNOR_LEVELS = 8             # thread counts tried: most, most / 2, ..., at least 1


cdef struct ThreadGovernor:
    int most                        # the threads granted
    int n_levels                    # levels in use: the count at level l is most >> l
    int level                       # the level batches run at
    int probe_level                 # a level being timed against it, or -1
    bint probe_fewer                # whether the next probe tries fewer threads
    double probe_gap                # seconds to run between two probes
    double next_probe               # when the next probe is due (seconds())
    long long window_batches        # batches timed in the window so far
    double window_start             # when the window's first batch started, or -1
    double window_seconds
    double window_rows
    double seconds_per_row[GOVERNOR_LEVELS]   # the last window timed at each level
    double workload                 # what the batches are (governor_start's `workload`)
    int untimed_batches             # batches of the window still to run before timing
    double (*clock)() noexcept nogil   # seconds: the machine's clock, or a test's
    double batch_start              # when the batch under way started (`clock`)
    double batch_limit              # seconds a probe's batch may take, or 0: no limit
    bint probe_aborted              # the probe's batch took too long: back to `level`


cdef void governor_start(ThreadGovernor* governor, int most, double workload,
                         double now) noexcept nogil

cdef void governor_batch_start(ThreadGovernor* governor, double now,
                               Py_ssize_t n_rows) noexcept nogil

cdef int governor_threads(ThreadGovernor* governor) noexcept nogil

cdef void run_governed_phase(BlockFunction run_block, void* work, Py_ssize_t phase,
                             Py_ssize_t n_blocks, ThreadGovernor* governor) noexcept nogil

cdef bint governor_active(const ThreadGovernor* governor) noexcept nogil

cdef void governor_batch_done(ThreadGovernor* governor, double now,
                              Py_ssize_t n_rows) noexcept nogil

cdef void governor_resume(ThreadGovernor* governor)

cdef void governor_keep(const ThreadGovernor* governor)
