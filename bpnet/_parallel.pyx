# The blocks of a phase run on OpenMP threads (Cython's parallel and prange); without
# OpenMP, or on one thread, in the calling thread in order.
from cython.parallel cimport parallel, prange, threadid

import numpy as np


cdef extern from "portable.h" nogil:
    int openmp_enabled "bpnet_openmp_enabled" () noexcept
    int openmp_max_threads "bpnet_openmp_max_threads" () noexcept
    int openmp_release_threads "bpnet_openmp_release_threads" (int others_running) noexcept
    double seconds "bpnet_seconds" () noexcept
    long long claim_next "bpnet_claim_next" (long long* counter) noexcept
    long long peek "bpnet_peek" (long long* counter) noexcept


# How the blocks of a phase are shared. OWNED: thread t of n owns the t-th of n equal
# runs of blocks, as OpenMP's static schedule deals them, and runs them in order; a
# thread done with its own run takes blocks from the others' runs, one at a time, where
# their owners have not come to them yet. Successive phases cut the batch's rows alike,
# so each thread works on much the same rows from one phase to the next, in its own
# core's cache, as under the static schedule; and a thread slowed down by other work on
# its core leaves its blocks to the others, as under the dynamic one. Each claim is one
# atomic increment, as OpenMP's dynamic schedule makes; a run already done costs a
# thread looking for blocks one read (with 64 threads, 63 reads a phase each). STATIC,
# DYNAMIC and GUIDED are OpenMP's own, there to be measured against it
# (benchmarks/bench_threads.py): on the reference machine the static schedule was 7-16%
# faster than the dynamic one on a quiet machine, and up to 70% slower with another
# process busy on one core, the dynamic one the other way round.
cdef enum:
    STATIC = 0
    DYNAMIC = 1
    GUIDED = 2
    OWNED = 3

SCHEDULES = {"static": STATIC, "dynamic": DYNAMIC, "guided": GUIDED, "owned": OWNED}
default_schedule = "owned"
cdef int schedule = SCHEDULES[default_schedule]

# The OWNED schedule keeps a claim counter per thread, each on a cache line of its own;
# more threads than MOST_OWNERS share a phase under the dynamic schedule.
cdef enum:
    MOST_OWNERS = 256
    COUNTER_STRIDE = 8


cdef inline Py_ssize_t run_start(Py_ssize_t n_blocks, Py_ssize_t owner, int n) noexcept nogil:
    return n_blocks * owner // n


cdef void run_owned(BlockFunction run_block, void* work, Py_ssize_t phase,
                    Py_ssize_t n_blocks, int n) noexcept nogil:
    """Run the n_blocks blocks on a team of up to n threads, each its own run first (see
    OWNED). The runs are those of n threads even where the team has fewer: the runs of
    the missing ones are taken from."""
    cdef long long next_block[MOST_OWNERS * COUNTER_STRIDE]
    cdef Py_ssize_t owner, me, k, stop
    cdef long long index
    for owner in range(n):
        next_block[owner * COUNTER_STRIDE] = run_start(n_blocks, owner, n)
    with parallel(num_threads=n):
        me = threadid()
        # Its own run, then the others' in turn, starting from the next thread's.
        for k in range(n):
            owner = (me + k) % n
            stop = run_start(n_blocks, owner + 1, n)
            if k > 0 and peek(&next_block[owner * COUNTER_STRIDE]) >= stop:
                continue
            index = claim_next(&next_block[owner * COUNTER_STRIDE])
            while index < stop:
                run_block(work, phase, index)
                index = claim_next(&next_block[owner * COUNTER_STRIDE])


cdef void run_phase(BlockFunction run_block, void* work, Py_ssize_t phase,
                    Py_ssize_t n_blocks, int n_threads) noexcept nogil:
    """Run blocks 0...n_blocks-1 of one phase on up to n_threads threads; returns when all
    are done."""
    cdef Py_ssize_t index
    cdef int n = <int> min(<Py_ssize_t> n_threads, n_blocks)
    if n <= 1:
        for index in range(n_blocks):
            run_block(work, phase, index)
    elif schedule == OWNED and n <= MOST_OWNERS:
        run_owned(run_block, work, phase, n_blocks, n)
    elif schedule == DYNAMIC or schedule == OWNED:
        for index in prange(n_blocks, num_threads=n, schedule="dynamic", chunksize=1):
            run_block(work, phase, index)
    elif schedule == GUIDED:
        for index in prange(n_blocks, num_threads=n, schedule="guided"):
            run_block(work, phase, index)
    else:
        for index in prange(n_blocks, num_threads=n, schedule="static"):
            run_block(work, phase, index)


cdef void run_governed_phase(BlockFunction run_block, void* work, Py_ssize_t phase,
                             Py_ssize_t n_blocks, ThreadGovernor* governor) noexcept nogil:
    """Run one phase of a batch on the threads the governor gives it."""
    run_phase(run_block, work, phase, n_blocks, governor_threads(governor))


def set_schedule(name):
    """Set how the blocks of a phase are shared ('owned', the default; OpenMP's 'static',
    'dynamic' or 'guided'); returns the one it replaces. For benchmarks: the schedule
    never changes a result."""
    global schedule
    if name not in SCHEDULES:
        raise ValueError(f"schedule must be one of {sorted(SCHEDULES)}, got {name!r}")
    previous = next(key for key, code in SCHEDULES.items() if code == schedule)
    schedule = SCHEDULES[name]
    return previous


cdef void empty_block(void* work, Py_ssize_t phase, Py_ssize_t index) noexcept nogil:
    pass


def time_empty_phases(Py_ssize_t n_phases, int n_threads):
    """Seconds that n_phases phases of two empty blocks take on n_threads threads: the
    synchronisation a phase costs (for benchmarks)."""
    cdef Py_ssize_t p
    cdef double start
    with nogil:
        start = seconds()
        for p in range(n_phases):
            run_phase(empty_block, NULL, p, 2, n_threads)
    return seconds() - start


cdef void count_block(void* work, Py_ssize_t phase, Py_ssize_t index) noexcept nogil:
    cdef Py_ssize_t* counts = <Py_ssize_t*> work
    counts[index] += 1


def count_block_runs(Py_ssize_t n_blocks, int n_threads, Py_ssize_t n_phases=1):
    """How many times each of n_blocks blocks ran, over n_phases phases on n_threads
    threads under the current schedule (for tests: each block writes only its own
    slot, as the kernels' blocks do)."""
    counts = np.zeros(max(n_blocks, 1), dtype=np.intp)
    cdef Py_ssize_t[::1] view = counts
    cdef Py_ssize_t p
    with nogil:
        for p in range(n_phases):
            run_phase(count_block, &view[0], p, n_blocks, n_threads)
    return counts[:n_blocks]


def openmp_available():
    """Whether this build of bpnet runs its kernels on several threads (OpenMP)."""
    return bool(openmp_enabled())


def openmp_thread_limit():
    """The OpenMP runtime's thread limit: OMP_NUM_THREADS, or what threadpoolctl set;
    1 without OpenMP."""
    return openmp_max_threads()


def release_threads(others_running=False):
    """End the calling thread's OpenMP worker threads, so that a process forked next can
    start its own (see portable.h); whether that was done. ``others_running``: whether
    other threads may be running kernels now (a runtime whose pause ends every thread's
    workers is then left alone)."""
    return openmp_release_threads(1 if others_running else 0) == 0


# --- how many threads: the governor -----------------------------------------------
#
# A phase waits for its slowest thread. When other processes keep cores busy, an OpenMP
# thread that shares its core can keep every other one waiting at each phase's end,
# while the spinning waiters take time from the work; on a loaded machine a team can
# then be many times slower than one thread. So batches are timed in windows (up to
# MAX_WINDOW_BATCHES batches, or WINDOW_SECONDS), and now and then a window runs at the
# next level of threads (twice as many, or half as many); the faster level by more than
# GOVERNOR_MARGIN is kept, and the next probe goes the same way after a level that paid,
# the other way after one that did not.
#
# Finding out costs most where a core is busy: there, one batch on a team that needs
# that core took tens of times a batch on one thread (waiting out the other process's
# time slices at phases' ends). So a fit starts at its fewest threads (one, for up to
# 2^GOVERNOR_LEVELS - 1 threads granted) and probes more only after FIRST_PROBE_SECONDS;
# a probe gives up at the first phase that starts after its batch has taken
# PROBE_GIVE_UP times the level's time plus PROBE_SLACK (the rest of the batch runs at
# the level; the batch that wakes the idle threads may take PROBE_WAKE more, as waking
# a thread on a free core takes well under a millisecond); and probes are spaced in
# time, twice as far apart each time the level holds and at least PROBE_COST_FACTOR
# times the last probe's cost apart. A free machine pays for this once per workload: its
# first FIRST_PROBE_SECONDS run on one thread, then each probe climbs a level (1, 2, 4,
# ... threads) a few ms apart.

cdef enum:
    MAX_WINDOW_BATCHES = 16

FIRST_PROBE_SECONDS = 0.1

cdef double WINDOW_SECONDS = 2e-3
cdef double FIRST_PROBE_AFTER = FIRST_PROBE_SECONDS
cdef double FIRST_PROBE_GAP = 4e-3
cdef double MOST_PROBE_GAP = 10.0
cdef double PROBE_COST_FACTOR = 20.0
cdef double GOVERNOR_MARGIN = 1.05
cdef double PROBE_GIVE_UP = 2.0
cdef double PROBE_SLACK = 2.5e-4
cdef double PROBE_WAKE = 1e-3


# Whether the governor chooses; without it every batch runs on all the threads granted
# (set_governor, for benchmarks).
governor_default = True
cdef bint governing = governor_default


def set_governor(bint enabled):
    """Turn the governor on (the default) or off; returns whether it was on. For
    benchmarks: the thread count never changes a result."""
    global governing
    previous = governing
    governing = enabled
    return previous


cdef void governor_start(ThreadGovernor* governor, int most, double workload,
                         double now) noexcept nogil:
    """Start at the fewest threads (one, unless more than 2^GOVERNOR_LEVELS - 1 are
    granted; `most` when the governor is off), with nothing timed yet, for batches that
    `workload` tells apart from other fits' (any number the same for the same network
    and batch size); the first probe of more threads is due FIRST_PROBE_AFTER seconds
    after `now`."""
    cdef int level
    governor.most = max(1, most)
    governor.workload = workload
    governor.clock = seconds
    governor.batch_start = 0.0
    governor.n_levels = 1
    while (governing and governor.n_levels < GOVERNOR_LEVELS
            and (governor.most >> governor.n_levels) >= 1):
        governor.n_levels += 1
    governor.level = governor.n_levels - 1
    governor.probe_level = -1
    governor.probe_fewer = False
    governor.probe_gap = FIRST_PROBE_GAP
    governor.next_probe = now + FIRST_PROBE_AFTER
    for level in range(GOVERNOR_LEVELS):
        governor.seconds_per_row[level] = 0.0
    new_window(governor, -1)


cdef void governor_batch_start(ThreadGovernor* governor, double now,
                               Py_ssize_t n_rows) noexcept nogil:
    """A batch of n_rows rows starts at `now`. In a probe, it may take PROBE_GIVE_UP times
    what it takes at the current level, plus PROBE_SLACK, plus PROBE_WAKE if it wakes
    the threads the probe adds."""
    cdef double level_seconds = governor.seconds_per_row[governor.level] * n_rows
    governor.batch_start = now
    governor.batch_limit = 0.0
    if governor.probe_level >= 0 and level_seconds > 0:
        governor.batch_limit = PROBE_GIVE_UP * level_seconds + PROBE_SLACK
        if governor.untimed_batches > 0:
            governor.batch_limit += PROBE_WAKE


cdef int governor_threads(ThreadGovernor* governor) noexcept nogil:
    """The threads the next phase of the batch runs on. A probe whose batch has run past
    its limit is given up there: the rest of the batch runs at the current level."""
    cdef int level = governor.level
    if governor.probe_level >= 0 and not governor.probe_aborted:
        if (governor.batch_limit > 0
                and governor.clock() - governor.batch_start > governor.batch_limit):
            governor.probe_aborted = True
        else:
            level = governor.probe_level
    return max(1, governor.most >> level)


cdef bint governor_active(const ThreadGovernor* governor) noexcept nogil:
    """Whether there is a choice to make (more than one thread granted): batches need
    timing only then."""
    return governor.n_levels > 1


cdef void new_window(ThreadGovernor* governor, int probe_level) noexcept nogil:
    governor.probe_level = probe_level
    # A probe of more threads first wakes the threads the level left idle, which may
    # wait for a core that another process holds for its time slice: its first batch
    # shows that wake-up, not the level's speed, and is not timed.
    governor.untimed_batches = 1 if 0 <= probe_level < governor.level else 0
    governor.window_batches = 0
    governor.window_seconds = 0.0
    governor.window_rows = 0.0
    governor.window_start = -1.0
    governor.probe_aborted = False
    governor.batch_limit = 0.0


cdef void settle_probe(ThreadGovernor* governor, double now) noexcept nogil:
    """Keep the probed level if it was faster, and schedule the next probe."""
    cdef int probed = governor.probe_level
    cdef double cost = now - governor.window_start
    if (governor.seconds_per_row[probed] * GOVERNOR_MARGIN
            < governor.seconds_per_row[governor.level]):
        # Further the same way next: climbing to the cores that pay takes a probe a level.
        governor.probe_fewer = probed > governor.level
        governor.level = probed
        governor.probe_gap = FIRST_PROBE_GAP
    else:
        governor.probe_fewer = not governor.probe_fewer
        governor.probe_gap = min(max(2 * governor.probe_gap, PROBE_COST_FACTOR * cost),
                                 MOST_PROBE_GAP)
    governor.next_probe = now + governor.probe_gap
    new_window(governor, -1)


cdef void window_done(ThreadGovernor* governor, double now) noexcept nogil:
    """A window of the current level is timed: start a probe when one is due."""
    cdef int next_level = -1
    governor.seconds_per_row[governor.level] = governor.window_seconds / governor.window_rows
    if now < governor.next_probe:
        new_window(governor, -1)
        return
    # Alternate between fewer and more threads, where there is a level to try.
    if governor.probe_fewer and governor.level + 1 < governor.n_levels:
        next_level = governor.level + 1
    elif governor.level > 0:
        next_level = governor.level - 1
    elif governor.level + 1 < governor.n_levels:
        next_level = governor.level + 1
    new_window(governor, next_level)


cdef void governor_batch_done(ThreadGovernor* governor, double now,
                              Py_ssize_t n_rows) noexcept nogil:
    """Count a batch of n_rows rows, run from its governor_batch_start to `now`
    (seconds), into the current window."""
    cdef double rate, start = governor.batch_start
    if governor.n_levels <= 1:
        return
    if governor.probe_aborted:
        # Given up part-way: slower than the level by more than PROBE_GIVE_UP, and the
        # cost of finding out is the probe's batches so far.
        if governor.window_start < 0:
            governor.window_start = start
        governor.seconds_per_row[governor.probe_level] = (now - start) / n_rows
        settle_probe(governor, now)
        return
    if governor.untimed_batches > 0:
        governor.untimed_batches -= 1
        return
    if governor.window_start < 0:
        governor.window_start = start
    governor.window_seconds += now - start
    governor.window_rows += n_rows
    governor.window_batches += 1
    if governor.probe_level >= 0:
        rate = governor.window_seconds / governor.window_rows
        governor.seconds_per_row[governor.probe_level] = rate
        if (rate > PROBE_GIVE_UP * governor.seconds_per_row[governor.level]
                or governor.window_batches >= MAX_WINDOW_BATCHES
                or governor.window_seconds >= WINDOW_SECONDS):
            settle_probe(governor, now)
        return
    if (governor.window_batches >= MAX_WINDOW_BATCHES
            or governor.window_seconds >= WINDOW_SECONDS):
        window_done(governor, now)


# Where the last kernel call left its governor, so that the next one (an epoch at a time,
# when Python runs between epochs) does not find out anew. Read and written with the GIL
# held; concurrent calls overwrite each other's, which changes only the speed.
cdef ThreadGovernor last_governor
last_governor.most = 0


cdef void governor_resume(ThreadGovernor* governor):
    """Continue from the last call's level, if it had as many threads for the same
    workload: the next epochs of the same fit, or the same fit repeated. Another fit
    finds out anew, since its network may parallelise differently."""
    if (last_governor.most == governor.most
            and last_governor.n_levels == governor.n_levels
            and last_governor.workload == governor.workload):
        governor.level = last_governor.level
        governor.probe_gap = last_governor.probe_gap
        governor.probe_fewer = last_governor.probe_fewer
        governor.seconds_per_row = last_governor.seconds_per_row
        # Its clock goes on: a probe due then is due now.
        governor.next_probe = last_governor.next_probe


cdef void governor_keep(const ThreadGovernor* governor):
    """Remember where this call left off (a probe under way counts as not started)."""
    global last_governor
    last_governor = governor[0]
    last_governor.probe_level = -1


# The clock of simulate_governor's governors.
cdef double simulated_now = 0.0


cdef double simulated_clock() noexcept nogil:
    return simulated_now


def simulate_governor(int most, seconds_per_row, Py_ssize_t n_batches,
                      Py_ssize_t batch_rows=64, double workload=0.0, bint resume=False,
                      Py_ssize_t n_phases=1):
    """The thread counts the governor gives n_batches batches of batch_rows rows, each run
    as n_phases phases, when a phase on `threads` threads takes seconds_per_row(threads,
    batch) * batch_rows / n_phases seconds (for tests: a clock of the caller's making
    instead of the machine's, starting at 0; seconds_per_row is called once per phase,
    in order). Returns each batch's first phase's thread count. As a kernel call, it
    resumes where the last call left off when ``resume`` (and that call had the same
    `most`, levels and `workload`), and is where the next one resumes."""
    if n_phases < 1:
        raise ValueError("n_phases must be at least 1")
    cdef ThreadGovernor governor
    cdef double now = 0.0
    cdef Py_ssize_t batch
    cdef Py_ssize_t p
    cdef int threads
    global simulated_now
    governor_start(&governor, most, workload, now)
    governor.clock = simulated_clock
    if resume:
        governor_resume(&governor)
    chosen = []
    for batch in range(n_batches):
        governor_batch_start(&governor, now, batch_rows)
        for p in range(n_phases):
            simulated_now = now
            threads = governor_threads(&governor)
            if p == 0:
                chosen.append(threads)
            now += float(seconds_per_row(threads, batch)) * batch_rows / n_phases
        governor_batch_done(&governor, now, batch_rows)
    governor_keep(&governor)
    return chosen


def _set_first_probe(double seconds):
    """Set FIRST_PROBE_AFTER; returns the value it replaces. For tests, which run real
    kernels through probes that would otherwise start after the tests' short fits end."""
    global FIRST_PROBE_AFTER
    previous = FIRST_PROBE_AFTER
    FIRST_PROBE_AFTER = seconds
    return previous


def governor_state():
    """The threads the last epoch kernel call ran its batches on, and the seconds between
    its probes (for tests and benchmarks)."""
    if last_governor.most == 0:
        return None
    return {"most": last_governor.most,
            "threads": max(1, last_governor.most >> last_governor.level),
            "probe_gap": last_governor.probe_gap}
