# The epoch's thread team: phases of blocks claimed through one shared word.
#
# The calling thread publishes a phase, works on it like any helper, and waits until
# every block is done. In a phase of a few blocks each thread owns the same blocks from
# one phase to the next, and takes another's only when that thread is late. Helpers
# spin briefly between phases, then sleep on a condition variable. When the shared
# phases show that the machine is busier than the team (a helper's core is taken by
# another process), or that the team is no faster than the calling thread alone (timed
# now and then in a probe), the calling thread runs the next phases alone for a while.
# None of this changes a result: who runs a block never does.
from posix.time cimport CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, clock_gettime, timespec


cdef extern from *:
    """
    /* The few atomic operations the team needs (GCC and Clang builtins). All are
       sequentially consistent: besides publishing a phase (release) and reading it
       (acquire), a helper going to sleep announces itself and then reads the claim word
       while the publishing thread writes the claim word and then looks for sleepers, and
       only a single total order guarantees that one of the two sees the other. */
    static inline long long bpnet_load(long long *p) {
        return __atomic_load_n(p, __ATOMIC_SEQ_CST);
    }
    static inline void bpnet_store(long long *p, long long v) {
        __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
    }
    static inline void bpnet_add(long long *p, long long v) {
        __atomic_fetch_add(p, v, __ATOMIC_SEQ_CST);
    }
    static inline int bpnet_swap(long long *p, long long expected, long long desired) {
        return __atomic_compare_exchange_n(p, &expected, desired, 0,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
    }
    static inline long long bpnet_next_id(long long *p) {
        return __atomic_add_fetch(p, 1, __ATOMIC_SEQ_CST);
    }
    static inline void bpnet_cpu_relax(void) {
    #if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
    #elif defined(__aarch64__)
        __asm__ __volatile__("yield");
    #endif
    }
    """
    long long atomic_load "bpnet_load" (long long* p) noexcept nogil
    void atomic_store "bpnet_store" (long long* p, long long v) noexcept nogil
    void atomic_add "bpnet_add" (long long* p, long long v) noexcept nogil
    bint atomic_swap "bpnet_swap" (long long* p, long long expected,
                                   long long desired) noexcept nogil
    long long atomic_next_id "bpnet_next_id" (long long* p) noexcept nogil
    void cpu_relax "bpnet_cpu_relax" () noexcept nogil


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_attr_t:
        pass
    int pthread_create(pthread_t* thread, const pthread_attr_t* attr,
                       void* (*start)(void*) noexcept nogil, void* arg)
    int pthread_join(pthread_t thread, void** result)
    int pthread_mutex_init(pthread_mutex_t* mutex, const void* attr)
    int pthread_mutex_destroy(pthread_mutex_t* mutex)
    int pthread_mutex_lock(pthread_mutex_t* mutex)
    int pthread_mutex_unlock(pthread_mutex_t* mutex)
    int pthread_cond_init(pthread_cond_t* cond, const void* attr)
    int pthread_cond_destroy(pthread_cond_t* cond)
    int pthread_cond_wait(pthread_cond_t* cond, pthread_mutex_t* mutex)
    int pthread_cond_broadcast(pthread_cond_t* cond)


cdef extern from "<sched.h>" nogil:
    int sched_yield()


cdef enum:
    EXIT_PHASE = 0x7fffffff
    # Layout of Team.claim: phase << PHASE_SHIFT | kind << KIND_SHIFT
    #                       | n_blocks << COUNT_SHIFT | claimed
    # where `claimed` is, for a phase of at most OWNED_BLOCKS blocks, one bit per block
    # taken, and for a larger phase the next block to take.
    PHASE_SHIFT = 32
    KIND_SHIFT = 30
    KIND_MASK = 3
    COUNT_SHIFT = 15
    OWNED_BLOCKS = 15
    # Where the time of the last phase goes (Team.last_counted).
    SHARED_TIME = 1
    SOLO_TIME = 2
    # Busy-wait rounds before a waiting thread starts yielding its core to other work,
    # and rounds (of either kind) before a helper goes to sleep until the next phase.
    SPIN_ROUNDS = 4000
    SLEEP_ROUNDS = 4200
    # Phases the calling thread runs alone after a stall: first, and at most.
    FIRST_BACKOFF = 64
    MAX_BACKOFF = 8192
    # A probe of one thread's speed: PROBE_PHASES phases run alone, the first
    # SOLO_WARMUP of which (of a probe or a back-off) do not count, nor do the first
    # SHARED_WARMUP shared phases after them (each start with data in the other
    # core's cache); probes come after FIRST_PROBE shared phases, then twice as many
    # each time the team proves faster.
    PROBE_PHASES = 16
    SOLO_WARMUP = 4
    SHARED_WARMUP = 6
    FIRST_PROBE = 48
    MAX_PROBE_INTERVAL = 4096
    # Counted shared phases after which a team slower than one thread backs off at
    # once, before its window is over.
    EARLY_VERDICT_PHASES = 9

# Shared phases are judged together until they span WINDOW_SECONDS (or the team stops),
# so that many short phases each a little late add up. A window counts as stalled only
# if the wait or the lost core time also exceeds STALL_SECONDS: interrupts and timer
# ticks cost microseconds that must not make the team back off.
cdef double WINDOW_SECONDS = 1e-3
cdef double STALL_SECONDS = 100e-6
# How much longer than one thread's the shared phases must take to count as slower.
cdef double SLOWER_MARGIN = 1.05

# The back-off carried from one team to the next, for the whole process, so that short
# epochs on a busy machine do not each pay for finding out anew. Concurrent teams
# overwrite each other's; that only ever changes the speed, never a result.
cdef long long process_solo_phases = 0
cdef long long process_backoff = 0
# Likewise when the next probe of one thread's speed is due.
cdef long long process_probe_interval = FIRST_PROBE
cdef long long process_since_probe = 0


cdef inline double seconds(int clock) noexcept nogil:
    cdef timespec now
    clock_gettime(clock, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


cdef inline void wait_a_little(long long* rounds) noexcept nogil:
    """One round of waiting: busy at first, then yielding the core to other work."""
    rounds[0] += 1
    if rounds[0] < SPIN_ROUNDS:
        cpu_relax()
    else:
        sched_yield()


cdef inline long long next_owned_block(long long taken, long long n_blocks, long long thread,
                                       long long n_threads) noexcept nogil:
    """The block thread `thread` takes next, given the bit mask of those taken: its own
    first (thread, thread + n_threads, ...), then any other left; -1 when none is."""
    cdef long long index = thread
    while index < n_blocks:
        if not (taken >> index) & 1:
            return index
        index += n_threads
    for index in range(n_blocks):
        if not (taken >> index) & 1:
            return index
    return -1


cdef void work_on_phase(Team* team, long long phase, long long thread) noexcept nogil:
    """Claim and run blocks of `phase` until none is left (or the phase has moved on).

    In a phase of a few blocks each thread takes the same blocks every time (block b
    belongs to thread b % n_threads) as long as it comes for them in time; so the rows
    of activations and the weights, gradients and optimizer state of a parameter block
    stay in one core's cache from batch to batch instead of moving to whichever thread
    came first. A block whose thread is late is taken by another: no one waits.
    """
    cdef long long claim, index, n_blocks, kind, claimed, desired
    while True:
        claim = atomic_load(&team.claim)
        if claim >> PHASE_SHIFT != phase:
            return
        kind = (claim >> KIND_SHIFT) & KIND_MASK
        n_blocks = (claim >> COUNT_SHIFT) & MAX_PHASE_BLOCKS
        claimed = claim & MAX_PHASE_BLOCKS
        if n_blocks <= OWNED_BLOCKS:
            index = next_owned_block(claimed, n_blocks, thread, team.n_threads)
            if index < 0:
                return
            desired = claim | (1LL << index)
        else:
            index = claimed
            if index >= n_blocks:
                return
            desired = claim + 1
        if atomic_swap(&team.claim, claim, desired):
            team.run_block(team.work, <int> kind, index)
            atomic_add(&team.done, 1)


cdef void* helper_main(void* arg) noexcept nogil:
    """A helper thread: run the blocks of each new phase until told to stop."""
    cdef Team* team = <Team*> arg
    cdef long long phase, seen = 0, rounds = 0
    cdef long long thread = atomic_next_id(&team.helper_ids)   # 1, 2, ...
    while True:
        phase = atomic_load(&team.claim) >> PHASE_SHIFT
        if phase == EXIT_PHASE:
            return NULL
        if phase != seen:
            work_on_phase(team, phase, thread)
            seen = phase
            rounds = 0
        elif rounds < SLEEP_ROUNDS:
            wait_a_little(&rounds)
        else:
            pthread_mutex_lock(&team.lock)
            atomic_add(&team.sleepers, 1)
            while atomic_load(&team.claim) >> PHASE_SHIFT == seen:
                pthread_cond_wait(&team.wake, &team.lock)
            atomic_add(&team.sleepers, -1)
            pthread_mutex_unlock(&team.lock)
            rounds = 0


cdef bint publish(Team* team, long long claim) noexcept nogil:
    """Start a phase (or tell the helpers to exit), waking any helper that sleeps.

    Returns whether a helper had to be woken.
    """
    atomic_store(&team.claim, claim)
    if atomic_load(&team.sleepers) > 0:
        pthread_mutex_lock(&team.lock)
        pthread_cond_broadcast(&team.wake)
        pthread_mutex_unlock(&team.lock)
        return True
    return False


cdef inline void run_alone(Team* team, long long n_phases) noexcept nogil:
    """Have the calling thread run the next n_phases phases alone, timing them afresh."""
    cdef int kind
    team.solo_phases = n_phases
    team.solo_warmup = SOLO_WARMUP
    team.shared_warmup = SHARED_WARMUP
    for kind in range(4):
        team.solo_time[kind] = 0.0
        team.solo_count[kind] = 0


cdef bint slower_than_one_thread(const Team* team) noexcept nogil:
    """Whether the window's shared phases took longer (by SLOWER_MARGIN) than the
    calling thread alone took for as many phases of each kind; False while a kind has
    no solo timing."""
    cdef int kind
    cdef double shared = 0.0, alone = 0.0
    for kind in range(4):
        if team.window_count[kind] == 0:
            continue
        if team.solo_count[kind] == 0:
            return False
        shared += team.window_time[kind]
        alone += team.window_count[kind] * (team.solo_time[kind] / team.solo_count[kind])
    # A margin, so that the noise of a few timed phases does not send a faster team
    # away for a whole back-off.
    return shared > SLOWER_MARGIN * alone


cdef void judge_window(Team* team) noexcept nogil:
    """Back off if the shared phases since the last verdict show a busy machine, or a
    team no faster than one thread.

    A busy machine: the helpers made the calling thread wait half as long as its own
    work took (another process held a helper's core), or the calling thread lost a
    quarter of the time to other threads. A slow team: its phases took longer than the
    calling thread's alone, timed in the last probe or back-off; it happens on
    machines whose cores share data slowly (virtual cores far apart on the host), where
    moving a batch's activations and weights between cores costs more than the second
    core saves. Each bad window doubles the back-off; a good one halves it, and
    schedules the next probe twice as far ahead.
    """
    cdef long long n_shared = counted_shared_phases(team)
    if ((team.window_waited > 0.5 * team.window_own and team.window_waited > STALL_SECONDS)
            or (team.window_lost > 0.25 * team.window_wall
                and team.window_lost > STALL_SECONDS)
            or slower_than_one_thread(team)):
        back_off(team)
    else:
        # Halve rather than forget: another process sharing a core runs in time slices,
        # and the phases that fall between its slices say little about the next ones.
        team.backoff //= 2
        team.since_probe += n_shared
        if team.since_probe >= team.probe_interval:
            run_alone(team, PROBE_PHASES)
            team.since_probe = 0
            team.probe_interval = min(2 * team.probe_interval, MAX_PROBE_INTERVAL)
    new_window(team)


cdef inline long long counted_shared_phases(const Team* team) noexcept nogil:
    cdef int kind
    cdef long long n = 0
    for kind in range(4):
        n += team.window_count[kind]
    return n


cdef void back_off(Team* team) noexcept nogil:
    """Run the next phases alone, twice as many as the last time in a row, and probe
    soon after the team is back."""
    team.backoff = min(2 * team.backoff, MAX_BACKOFF) if team.backoff else FIRST_BACKOFF
    run_alone(team, team.backoff)
    team.since_probe = 0
    team.probe_interval = FIRST_PROBE
    new_window(team)


cdef void new_window(Team* team) noexcept nogil:
    cdef int kind
    team.window_own = 0.0
    team.window_waited = 0.0
    team.window_lost = 0.0
    team.window_wall = 0.0
    for kind in range(4):
        team.window_time[kind] = 0.0
        team.window_count[kind] = 0


cdef void team_start(Team* team, int n_threads, BlockFunction run_block, void* work,
                     long long n_phases) noexcept nogil:
    """Set up a team of up to `n_threads` threads (the caller included) for `n_phases`
    phases of `run_block`. A helper that cannot be started only means fewer threads."""
    cdef int n_helpers = min(max(n_threads - 1, 0), MAX_TEAM_HELPERS)
    team.claim = 0
    team.done = 0
    team.phase = 0
    team.sleepers = 0
    team.run_block = run_block
    team.work = work
    team.n_helpers = 0
    team.helper_ids = 0
    team.n_threads = n_helpers + 1
    new_window(team)
    run_alone(team, 0)    # no solo phase yet, but no solo timing either
    team.last_start = -1.0
    team.last_kind = 0
    team.last_counted = 0
    team.probe_interval = min(max(FIRST_PROBE, atomic_load(&process_probe_interval)),
                              MAX_PROBE_INTERVAL)
    # A probe early in every team: the timings of one thread do not carry from one team
    # to the next (their phases may differ), and without them a team no faster than
    # one thread would go unnoticed until the next probe.
    team.since_probe = max(atomic_load(&process_since_probe),
                           team.probe_interval - FIRST_PROBE)
    team.solo_phases = max(0, atomic_load(&process_solo_phases))
    team.backoff = min(max(0, atomic_load(&process_backoff)), MAX_BACKOFF)
    if team.solo_phases >= n_phases:
        n_helpers = 0  # backing off for every phase: no helper to start
    team.synchronised = False
    if n_helpers == 0:
        return
    if pthread_mutex_init(&team.lock, NULL) != 0:
        return  # no way to sleep and wake: run on the calling thread alone
    if pthread_cond_init(&team.wake, NULL) != 0:
        pthread_mutex_destroy(&team.lock)
        return
    team.synchronised = True
    while team.n_helpers < n_helpers:
        if pthread_create(&team.helpers[team.n_helpers], NULL, helper_main, team) != 0:
            break
        team.n_helpers += 1


cdef inline void phase_starts(Team* team, double now, int kind, int counted) noexcept nogil:
    """Close the last phase's time (its start to `now`) and open this one's."""
    cdef int last = team.last_kind & KIND_MASK
    if team.last_start >= 0 and team.last_counted == SHARED_TIME:
        team.window_time[last] += now - team.last_start
        team.window_count[last] += 1
    elif team.last_start >= 0 and team.last_counted == SOLO_TIME:
        team.solo_time[last] += now - team.last_start
        team.solo_count[last] += 1
    team.last_start = now
    team.last_kind = kind
    team.last_counted = counted


cdef void team_run_phase(Team* team, int kind, Py_ssize_t n_blocks) noexcept nogil:
    """Run blocks 0...n_blocks-1 of one phase on the team; returns when all are done.

    The calling thread runs a phase alone when it has no helpers, and for a while after
    the shared phases showed that the machine is busier than the team (judge_window). A
    team on a busy machine is thus not much slower than one thread, and a helper left
    without work goes to sleep.
    """
    cdef Py_ssize_t index
    cdef long long rounds = 0
    cdef double start, cpu_start, own_done, all_done, cpu_used
    cdef bint woke_helpers
    if team.n_helpers == 0 or team.phase >= EXIT_PHASE - 1:
        # (A team of over a billion phases runs its last ones alone rather than let the
        # phase number reach the one that tells the helpers to exit.)
        for index in range(n_blocks):
            team.run_block(team.work, kind, index)
        return
    if team.solo_phases > 0:
        team.solo_phases -= 1
        if team.solo_warmup > 0:
            team.solo_warmup -= 1
            phase_starts(team, seconds(CLOCK_MONOTONIC), kind, 0)
        else:
            phase_starts(team, seconds(CLOCK_MONOTONIC), kind, SOLO_TIME)
        for index in range(n_blocks):
            team.run_block(team.work, kind, index)
        return
    start = seconds(CLOCK_MONOTONIC)
    if team.shared_warmup > 0 or team.phase == 0:
        phase_starts(team, start, kind, 0)
        if team.phase > 0:
            team.shared_warmup -= 1
    else:
        phase_starts(team, start, kind, SHARED_TIME)
    cpu_start = seconds(CLOCK_THREAD_CPUTIME_ID)
    # Every block of the previous phase is done, so no thread touches `done` until the
    # new phase is published below.
    atomic_store(&team.done, 0)
    team.phase += 1
    woke_helpers = publish(team, (team.phase << PHASE_SHIFT)
                           | ((<long long> kind & KIND_MASK) << KIND_SHIFT)
                           | ((<long long> n_blocks) << COUNT_SHIFT))
    work_on_phase(team, team.phase, 0)
    own_done = seconds(CLOCK_MONOTONIC)
    while atomic_load(&team.done) < n_blocks:
        wait_a_little(&rounds)
    all_done = seconds(CLOCK_MONOTONIC)
    cpu_used = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start
    if woke_helpers or team.phase == 1:
        # A helper just started, or woken from sleep, starts late: this phase says
        # nothing about the machine (it is the team's first, or the first after a
        # back-off), the next one will.
        team.last_counted = 0
        return
    team.window_own += own_done - start
    team.window_waited += all_done - own_done
    team.window_lost += all_done - start - cpu_used
    team.window_wall += all_done - start
    if team.window_wall >= WINDOW_SECONDS:
        judge_window(team)
    elif (counted_shared_phases(team) == EARLY_VERDICT_PHASES
            and slower_than_one_thread(team)):
        # Clearly no faster than one thread: no need to wait for the whole window.
        back_off(team)


cdef void team_stop(Team* team) noexcept nogil:
    """Join the helpers, release the team's lock, and keep its back-off for the next."""
    cdef int i
    if team.window_wall > 0:
        judge_window(team)  # the last, shorter window
    atomic_store(&process_solo_phases, team.solo_phases)
    atomic_store(&process_backoff, team.backoff)
    atomic_store(&process_probe_interval, team.probe_interval)
    atomic_store(&process_since_probe, team.since_probe)
    if team.n_helpers > 0:
        publish(team, (<long long> EXIT_PHASE) << PHASE_SHIFT)
        for i in range(team.n_helpers):
            pthread_join(team.helpers[i], NULL)
        team.n_helpers = 0
    if team.synchronised:
        pthread_cond_destroy(&team.wake)
        pthread_mutex_destroy(&team.lock)
        team.synchronised = False


# Test shims: the process-wide back-off, to start a team in a given state.

def backoff_state():
    """The back-off the next team starts with: ``(solo_phases, backoff)``."""
    return atomic_load(&process_solo_phases), atomic_load(&process_backoff)


def set_backoff_state(long long solo_phases, long long backoff):
    """Make the next team start backing off (for tests; results never depend on it)."""
    atomic_store(&process_solo_phases, max(0, solo_phases))
    atomic_store(&process_backoff, min(max(0, backoff), MAX_BACKOFF))
