# A small team of POSIX threads that runs phases of independent blocks of work.
#
# The caller describes a phase as n_blocks calls of one typed block function; the team
# decides only who runs which block. Block results must not depend on that (each block
# writes its own slots), so nothing computed depends on the number of threads.


cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass


# run_block(work, kind, index): run block `index` of a phase of kind `kind` (0...3).
ctypedef void (*BlockFunction)(void* work, int kind, Py_ssize_t index) noexcept nogil


cdef enum:
    MAX_PHASE_BLOCKS = 32767   # blocks in one phase, at most
    MAX_TEAM_HELPERS = 63      # helper threads besides the calling thread, at most


# The counters the threads share. `claim` packs the phase number, the phase's kind, its
# number of blocks and which blocks are claimed into one word, so that a thread still
# looking at a finished phase can never claim a block of the next one; `done` counts
# the current phase's finished blocks.
ctypedef struct Team:
    long long claim
    long long padding[7]        # keep the two counters on cache lines of their own
    long long done
    long long padding_2[7]
    long long phase
    BlockFunction run_block
    void* work
    int n_helpers
    long long n_threads         # the calling thread and the helpers it set out to start
    long long helper_ids        # the last id a helper took (the calling thread is 0)
    bint synchronised           # lock and wake were initialised
    pthread_t helpers[MAX_TEAM_HELPERS]
    # When a helper keeps the calling thread waiting (its core is taken by another
    # process), the calling thread runs the next `solo_phases` phases alone, backing
    # off for twice as long each time it happens again in a row.
    long long solo_phases
    long long backoff
    # Shared phases since the last verdict: the calling thread's own work, its wait for
    # the helpers, the core time it lost, and the wall time, in seconds.
    double window_own
    double window_waited
    double window_lost
    double window_wall
    # The same window's time and count of shared phases per kind, and the time and
    # count of the phases of each kind the calling thread last ran alone (after the
    # first few of a solo run, whose data may still sit in another core's cache): the
    # team backs off also when its phases are no faster than one thread's. A phase's
    # time runs from its start to the next phase's, so that it includes the calling
    # thread's work between phases, which is slower when it reads what another core
    # wrote.
    double window_time[4]
    long long window_count[4]
    double solo_time[4]
    long long solo_count[4]
    double last_start           # when the last phase of the team started, or -1
    int last_kind               # its kind
    int last_counted            # 0, or where its time goes: SHARED_TIME or SOLO_TIME
    long long solo_warmup       # solo phases still to run before they count
    long long shared_warmup     # likewise for shared phases after solo ones
    long long probe_interval    # shared phases between two probes of one thread's speed
    long long since_probe       # shared phases since the last probe
    # A helper that has waited long for a new phase sleeps on `wake` instead of
    # holding its core (which another process, or the calling thread, may need).
    long long sleepers
    pthread_mutex_t lock
    pthread_cond_t wake


cdef void team_start(Team* team, int n_threads, BlockFunction run_block, void* work,
                     long long n_phases) noexcept nogil

cdef void team_run_phase(Team* team, int kind, Py_ssize_t n_blocks) noexcept nogil

cdef void team_stop(Team* team) noexcept nogil
