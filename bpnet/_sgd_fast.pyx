# One epoch of minibatch training (gather, forward, loss, backward, update) in one nogil call,
# shared by a small team of threads.
#
# Each batch runs in two phases. In the first, the batch's rows are cut into row blocks;
# each block gathers its rows, runs the forward pass, the loss and the backward pass down
# to every layer's delta, touching only its own rows. In the second, the parameters are
# cut into blocks of coefficient rows (a layer's intercepts go with its first block); each
# block computes its gradient from the whole batch's activations and deltas and applies
# the optimizer step to its own parameters. The calling thread and its helper threads
# claim blocks from a shared counter until none is left, and the phase ends when every
# block is done.
#
# How the work is cut depends only on the shapes (EpochOptions.n_row_blocks and
# n_param_blocks), never on the number of threads or on which thread ran a block: every
# number the epoch produces is the same with one thread or several, loaded or idle,
# provided BLAS itself runs single-threaded (the estimators make sure of that; OpenBLAS
# can round differently with more threads). A thread that the scheduler takes away
# simply claims fewer blocks.
from cython cimport floating
from libc.math cimport isfinite, pow, sqrt, sqrtf
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy
from posix.time cimport CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID, clock_gettime, timespec

from ._blas cimport dot
from ._kernels cimport (Layer, RowBlock, forward_and_deltas, layer_gradient, layer_inputs,
                        layer_output, layers_from_table, make_block, n_input_rows,
                        signal_pending, total_width)


cdef extern from *:
    """
    /* The few atomic operations the thread team needs (GCC and Clang builtins). All are
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
    static inline int bpnet_claim(long long *p, long long expected) {
        return __atomic_compare_exchange_n(p, &expected, expected + 1, 0,
                                           __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
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
    bint atomic_claim "bpnet_claim" (long long* p, long long expected) noexcept nogil
    void cpu_relax "bpnet_cpu_relax" () noexcept nogil


cdef extern from "<pthread.h>" nogil:
    ctypedef unsigned long pthread_t
    ctypedef struct pthread_attr_t:
        pass
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
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


cpdef enum Solver:
    SGD = 0
    ADAM = 1


cpdef enum EpochStatus:
    COMPLETED = 0
    NON_FINITE = 1    # a batch loss or a parameter became NaN or infinite
    INTERRUPTED = 2   # a signal handler raised (Ctrl-C); the exception was cleared


SOLVER_CODES = {"sgd": Solver.SGD, "adam": Solver.ADAM}


# Everything about one epoch that is not an array. Python passes a dict with these keys.
# New training options (gradient clipping, dropout rates, ...) become new fields here.
cdef struct EpochOptions:
    int solver
    int loss
    double alpha
    double learning_rate    # SGD's current rate, or Adam's initial rate
    double momentum
    bint nesterov
    double beta_1
    double beta_2
    double epsilon
    Py_ssize_t batch_size
    long long adam_steps    # Adam's time step before this epoch
    Py_ssize_t n_row_blocks     # a batch's forward and backward passes run in this many
    Py_ssize_t n_param_blocks   # row blocks, its gradient and update in about this many
                                # parameter blocks; both decide the results
    int n_threads               # threads sharing the blocks; never changes the results
    long long solo_phases       # the team's back-off state (see Team), carried from one
    long long backoff           # epoch to the next through EpochResult


cdef struct EpochResult:
    double loss_sum         # sum over batches of (batch loss * batch rows)
    long long adam_steps
    int status
    Py_ssize_t n_batches    # batches whose update was applied
    long long solo_phases   # the team's back-off state, for the next epoch's options
    long long backoff


# Offsets of the buffers carved out of the one workspace array, in elements.
cdef struct WorkspaceLayout:
    Py_ssize_t x_batch
    Py_ssize_t y_batch
    Py_ssize_t sw_batch
    Py_ssize_t acts
    Py_ssize_t deltas
    Py_ssize_t size


# A block of parameters for the second phase: coefficient rows in_start...in_stop-1 of
# one layer, with that layer's intercepts when `intercepts` is set.
cdef struct ParamBlock:
    Py_ssize_t layer
    Py_ssize_t in_start
    Py_ssize_t in_stop
    bint intercepts


# What the blocks of the current batch read and write. The calling thread fills it in
# between phases; the value pointers are untyped because a struct cannot be fused.
cdef struct BatchWork:
    const Layer* layers
    Py_ssize_t n_layers
    const EpochOptions* options
    RowBlock input              # the batch's input rows (dense rows gathered into x_batch)
    const void* X               # dense X, or NULL for CSR input
    const void* Y
    const void* sample_weight   # NULL for unit weights
    const Py_ssize_t* order     # the batch's rows of X
    Py_ssize_t n_batch
    Py_ssize_t n_row_blocks
    const ParamBlock* param_blocks
    void* params
    void* grads
    void* moment_1
    void* moment_2
    void* x_batch
    void* y_batch
    void* sw_batch
    void* acts
    void* deltas
    double* row_loss            # per row block: weighted loss of its rows
    double* coef_sq_norm        # per parameter block: squared norms after the update
    double* intercept_sq_norm
    double inverse_weight_sum
    double step_size            # Adam's bias-corrected step


# The counters the threads share. `claim` packs the phase number, the phase's kind, its
# number of blocks and the next unclaimed block into one word, so that a thread still
# looking at a finished phase can never claim a block of the next one; `done` counts
# the current phase's finished blocks.
cdef struct Team:
    long long claim
    long long padding[7]        # keep the two counters on cache lines of their own
    long long done
    long long padding_2[7]
    long long phase
    int n_helpers
    bint is_double
    BatchWork* work
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
    # A helper that has waited long for a new phase sleeps on `wake` instead of
    # holding its core (which another process, or the calling thread, may need).
    long long sleepers
    pthread_mutex_t lock
    pthread_cond_t wake


cdef enum:
    ROW_PHASE = 0
    PARAM_PHASE = 1
    EXIT_PHASE = 0x7fffffff
    # Layout of Team.claim: phase << PHASE_SHIFT | kind << KIND_SHIFT
    #                       | n_blocks << COUNT_SHIFT | next block
    PHASE_SHIFT = 32
    KIND_SHIFT = 30
    COUNT_SHIFT = 15
    MAX_BLOCKS = 32767
    # Busy-wait rounds before a waiting thread starts yielding its core to other work,
    # and rounds (of either kind) before a helper goes to sleep until the next phase.
    SPIN_ROUNDS = 4000
    SLEEP_ROUNDS = 4200
    # Phases the calling thread runs alone after a stall: first, and at most.
    FIRST_BACKOFF = 64
    MAX_BACKOFF = 8192

# Shared phases are judged together until they span WINDOW_SECONDS (or the epoch ends),
# so that many short phases each a little late add up. A window counts as stalled only
# if the wait or the lost core time also exceeds STALL_SECONDS: interrupts and timer
# ticks cost microseconds that must not make the team back off.
cdef double WINDOW_SECONDS = 1e-3
cdef double STALL_SECONDS = 100e-6


# Work, in floating-point operations, between two checks for a pending signal: a few
# milliseconds of training, so Ctrl-C is noticed quickly without taking the GIL often.
cdef enum:
    SIGNAL_CHECK_FLOPS = 20000000


cdef WorkspaceLayout plan_workspace(const Layer* layers, Py_ssize_t n_layers,
                                    Py_ssize_t batch_size, bint sparse) noexcept nogil:
    cdef WorkspaceLayout plan
    cdef Py_ssize_t n_outputs = layers[n_layers - 1].fan_out
    plan.x_batch = 0
    plan.y_batch = 0 if sparse else batch_size * layers[0].fan_in
    plan.sw_batch = plan.y_batch + batch_size * n_outputs
    plan.acts = plan.sw_batch + batch_size
    plan.deltas = plan.acts + batch_size * total_width(layers, n_layers)
    plan.size = plan.deltas + batch_size * total_width(layers, n_layers)
    return plan


def param_blocks(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t target):
    """The parameter blocks of the update phase, as (layer, in_start, in_stop, intercepts)
    tuples, for `target` blocks (for tests and benchmarks)."""
    cdef Py_ssize_t n_layers = layer_table.shape[0], i, count
    if not 1 <= target <= MAX_BLOCKS // max(1, n_layers):
        raise ValueError(f"target must be at least 1 and give at most {MAX_BLOCKS} blocks")
    cdef Layer* layers = layers_from_table(layer_table, -1)
    cdef ParamBlock* blocks = <ParamBlock*> malloc(n_layers * target * sizeof(ParamBlock))
    if blocks == NULL:
        free(layers)
        raise MemoryError()
    count = plan_param_blocks(layers, n_layers, target, blocks)
    out = [(blocks[i].layer, blocks[i].in_start, blocks[i].in_stop, bool(blocks[i].intercepts))
           for i in range(count)]
    free(blocks)
    free(layers)
    return out


def workspace_size(const Py_ssize_t[:, ::1] layer_table, Py_ssize_t batch_size, bint sparse):
    """Length of the workspace array that train_epoch needs for this network and batch."""
    cdef Layer* layers = layers_from_table(layer_table, -1)
    cdef WorkspaceLayout plan = plan_workspace(layers, layer_table.shape[0], batch_size, sparse)
    free(layers)
    return plan.size


cdef Py_ssize_t plan_param_blocks(const Layer* layers, Py_ssize_t n_layers,
                                  Py_ssize_t target, ParamBlock* blocks) noexcept nogil:
    """Cut the parameters into about `target` blocks of similar work; returns the count.

    Each layer gets a share of the blocks in proportion to its coefficients (at least
    one, at most one per coefficient row) and is cut into equal runs of rows; its
    intercepts go with its first block. `blocks` must hold n_layers * target entries.
    """
    cdef Py_ssize_t l, j, k, count = 0, total = 0, fan_in
    for l in range(n_layers):
        total += layers[l].fan_in * layers[l].fan_out
    for l in range(n_layers):
        fan_in = layers[l].fan_in
        k = (2 * target * fan_in * layers[l].fan_out + total) // (2 * total)  # rounded
        k = max(1, min(k, fan_in, target))
        for j in range(k):
            blocks[count].layer = l
            blocks[count].in_start = fan_in * j // k
            blocks[count].in_stop = fan_in * (j + 1) // k
            blocks[count].intercepts = j == 0
            count += 1
    return count


cdef void row_block(BatchWork* work, Py_ssize_t index, floating* params) noexcept nogil:
    """Phase one for row block `index`: gather its rows, forward, loss and deltas."""
    cdef const Layer* layers = work.layers
    cdef Py_ssize_t n_batch = work.n_batch
    cdef Py_ssize_t start = n_batch * index // work.n_row_blocks
    cdef Py_ssize_t stop = n_batch * (index + 1) // work.n_row_blocks
    cdef Py_ssize_t r, row, n_features = layers[0].fan_in
    cdef Py_ssize_t n_outputs = layers[work.n_layers - 1].fan_out
    cdef floating* x_batch = <floating*> work.x_batch
    cdef floating* y_batch = <floating*> work.y_batch
    cdef floating* sw_batch = <floating*> work.sw_batch
    cdef const floating* sample_weight = <const floating*> work.sample_weight
    cdef RowBlock block = work.input
    block.n_rows = stop - start
    if work.X != NULL:
        for r in range(start, stop):
            memcpy(x_batch + r * n_features,
                   <const floating*> work.X + work.order[r] * n_features,
                   n_features * sizeof(floating))
        block.dense = x_batch + start * n_features
    else:
        block.rows = work.order + start
    for r in range(start, stop):
        row = work.order[r]
        memcpy(y_batch + r * n_outputs, <const floating*> work.Y + row * n_outputs,
               n_outputs * sizeof(floating))
        if sample_weight != NULL:
            sw_batch[r] = sample_weight[row]
    work.row_loss[index] = forward_and_deltas(
        layers, work.n_layers, work.options.loss, params, block, n_batch, start,
        y_batch + start * n_outputs, sw_batch + start if sample_weight != NULL else NULL,
        <floating*> work.acts, <floating*> work.deltas)


# The update loops carry no reduction, so the compiler can vectorise them; the squared
# norms the caller needs come from BLAS dot products afterwards.

cdef void sgd_update(floating* params, const floating* grads, floating* velocity,
                     Py_ssize_t start, Py_ssize_t stop, floating alpha,
                     floating inverse_weight_sum, const EpochOptions* options) noexcept nogil:
    """Momentum or Nesterov step on params[start:stop]."""
    cdef floating lr = options.learning_rate, momentum = options.momentum
    cdef floating grad, step
    cdef Py_ssize_t i
    if options.nesterov:
        for i in range(start, stop):
            grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
            step = momentum * velocity[i] - lr * grad
            velocity[i] = step
            params[i] += momentum * step - lr * grad
    else:
        for i in range(start, stop):
            grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
            step = momentum * velocity[i] - lr * grad
            velocity[i] = step
            params[i] += step


cdef void adam_update(floating* params, const floating* grads, floating* first_moment,
                      floating* second_moment, Py_ssize_t start, Py_ssize_t stop,
                      floating alpha, floating inverse_weight_sum, floating step_size,
                      const EpochOptions* options) noexcept nogil:
    """Adam step on params[start:stop]."""
    cdef floating beta_1 = options.beta_1, beta_2 = options.beta_2
    cdef floating epsilon = options.epsilon
    cdef floating grad, m, v
    cdef Py_ssize_t i
    for i in range(start, stop):
        grad = (grads[i] + alpha * params[i]) * inverse_weight_sum
        m = beta_1 * first_moment[i] + (1 - beta_1) * grad
        v = beta_2 * second_moment[i] + (1 - beta_2) * (grad * grad)
        first_moment[i] = m
        second_moment[i] = v
        # sqrtf keeps float32 in float32, as NumPy does (and lets the loop vectorise
        # without widening to double).
        if floating is float:
            params[i] += -step_size * m / (sqrtf(v) + epsilon)
        else:
            params[i] += -step_size * m / (sqrt(v) + epsilon)


cdef double update_range(BatchWork* work, floating* params, Py_ssize_t start,
                         Py_ssize_t stop, floating alpha) noexcept nogil:
    """Apply the optimizer step to params[start:stop]; returns their new squared norm."""
    cdef const EpochOptions* options = work.options
    cdef floating inverse_weight_sum = <floating> work.inverse_weight_sum
    if options.solver == Solver.SGD:
        sgd_update(params, <floating*> work.grads, <floating*> work.moment_1, start, stop,
                   alpha, inverse_weight_sum, options)
    else:
        adam_update(params, <floating*> work.grads, <floating*> work.moment_1,
                    <floating*> work.moment_2, start, stop, alpha, inverse_weight_sum,
                    <floating> work.step_size, options)
    return dot(<int> (stop - start), params + start, params + start)


cdef inline Py_ssize_t coef_index(const Layer* layer, Py_ssize_t row) noexcept nogil:
    """Where coefficient row `row` of `layer` starts in the parameter vector."""
    return layer.coef_offset + row * layer.fan_out


cdef void param_block(BatchWork* work, Py_ssize_t index, floating* params) noexcept nogil:
    """Phase two for parameter block `index`: its gradient, then its optimizer step."""
    cdef ParamBlock part = work.param_blocks[index]
    cdef const Layer* layer = &work.layers[part.layer]
    cdef RowBlock batch_input = work.input
    cdef Py_ssize_t start = coef_index(layer, part.in_start)
    cdef Py_ssize_t stop = coef_index(layer, part.in_stop)
    batch_input.n_rows = work.n_batch
    if work.X != NULL:
        batch_input.dense = work.x_batch
    else:
        batch_input.rows = work.order
    layer_gradient(layer, layer_inputs(work.layers, part.layer, batch_input,
                                       <floating*> work.acts),
                   layer_output(work.layers, part.layer, <floating*> work.deltas,
                                work.n_batch, 0),
                   <floating*> work.grads, part.in_start, part.in_stop, part.intercepts, False)
    work.coef_sq_norm[index] = update_range(work, params, start, stop,
                                            <floating> work.options.alpha)
    work.intercept_sq_norm[index] = 0.0
    if part.intercepts:
        work.intercept_sq_norm[index] = update_range(
            work, params, layer.intercept_offset, layer.intercept_offset + layer.fan_out, 0)


cdef void run_block(Team* team, long long kind, Py_ssize_t index) noexcept nogil:
    cdef BatchWork* work = team.work
    if team.is_double:
        if kind == ROW_PHASE:
            row_block(work, index, <double*> work.params)
        else:
            param_block(work, index, <double*> work.params)
    else:
        if kind == ROW_PHASE:
            row_block(work, index, <float*> work.params)
        else:
            param_block(work, index, <float*> work.params)


cdef inline void wait_a_little(long long* rounds) noexcept nogil:
    """One round of waiting: busy at first, then yielding the core to other work."""
    rounds[0] += 1
    if rounds[0] < SPIN_ROUNDS:
        cpu_relax()
    else:
        sched_yield()


cdef void work_on_phase(Team* team, long long phase) noexcept nogil:
    """Claim and run blocks of `phase` until none is left (or the phase has moved on)."""
    cdef long long claim, index, n_blocks, kind
    while True:
        claim = atomic_load(&team.claim)
        if claim >> PHASE_SHIFT != phase:
            return
        kind = (claim >> KIND_SHIFT) & 1
        n_blocks = (claim >> COUNT_SHIFT) & MAX_BLOCKS
        index = claim & MAX_BLOCKS
        if index >= n_blocks:
            return
        if atomic_claim(&team.claim, claim):
            run_block(team, kind, index)
            atomic_add(&team.done, 1)


cdef void* helper_main(void* arg) noexcept nogil:
    """A helper thread: run the blocks of each new phase until told to stop."""
    cdef Team* team = <Team*> arg
    cdef long long phase, seen = 0, rounds = 0
    while True:
        phase = atomic_load(&team.claim) >> PHASE_SHIFT
        if phase == EXIT_PHASE:
            return NULL
        if phase != seen:
            work_on_phase(team, phase)
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


cdef inline double seconds(int clock) noexcept nogil:
    cdef timespec now
    clock_gettime(clock, &now)
    return now.tv_sec + 1e-9 * now.tv_nsec


cdef void run_phase(Team* team, long long kind, Py_ssize_t n_blocks) noexcept nogil:
    """Run blocks 0...n_blocks-1 of one phase on the team; returns when all are done.

    Who runs which block never changes a result, so the calling thread is free to run a
    phase alone: it does so when it has no helpers, and for a while after the shared
    phases showed that the machine is busier than the team (see judge_window). A team on
    a busy machine is thus not much slower than one thread, and a helper left without
    work goes to sleep.
    """
    cdef Py_ssize_t index
    cdef long long rounds = 0
    cdef double start, cpu_start, own_done, all_done, cpu_used
    cdef bint woke_helpers
    if team.n_helpers == 0 or team.solo_phases > 0 or team.phase >= EXIT_PHASE - 1:
        # (An epoch of over a billion batches runs its last ones alone rather than let
        # the phase number reach the one that tells the helpers to exit.)
        if team.solo_phases > 0:
            team.solo_phases -= 1
        for index in range(n_blocks):
            run_block(team, kind, index)
        return
    start = seconds(CLOCK_MONOTONIC)
    cpu_start = seconds(CLOCK_THREAD_CPUTIME_ID)
    # Every block of the previous phase is done, so no thread touches `done` until the
    # new phase is published below.
    atomic_store(&team.done, 0)
    team.phase += 1
    woke_helpers = publish(team, (team.phase << PHASE_SHIFT) | (kind << KIND_SHIFT)
                           | ((<long long> n_blocks) << COUNT_SHIFT))
    work_on_phase(team, team.phase)
    own_done = seconds(CLOCK_MONOTONIC)
    while atomic_load(&team.done) < n_blocks:
        wait_a_little(&rounds)
    all_done = seconds(CLOCK_MONOTONIC)
    cpu_used = seconds(CLOCK_THREAD_CPUTIME_ID) - cpu_start
    if woke_helpers or team.phase == 1:
        # A helper just started, or woken from sleep, starts late: this phase says
        # nothing about the machine (it is the epoch's first, or the first after a
        # back-off), the next one will.
        return
    team.window_own += own_done - start
    team.window_waited += all_done - own_done
    team.window_lost += all_done - start - cpu_used
    team.window_wall += all_done - start
    if team.window_wall >= WINDOW_SECONDS:
        judge_window(team)


cdef void judge_window(Team* team) noexcept nogil:
    """Back off if the shared phases since the last verdict show a busy machine.

    The helpers made the calling thread wait half as long as its own work took (another
    process held a helper's core), or the calling thread lost a quarter of the time to
    other threads. Each stalled window doubles the back-off; a good one halves it.
    """
    if ((team.window_waited > 0.5 * team.window_own and team.window_waited > STALL_SECONDS)
            or (team.window_lost > 0.25 * team.window_wall
                and team.window_lost > STALL_SECONDS)):
        team.backoff = min(2 * team.backoff, MAX_BACKOFF) if team.backoff else FIRST_BACKOFF
        team.solo_phases = team.backoff
    else:
        # Halve rather than forget: another process sharing a core runs in time slices,
        # and the phases that fall between its slices say little about the next ones.
        team.backoff //= 2
    team.window_own = 0.0
    team.window_waited = 0.0
    team.window_lost = 0.0
    team.window_wall = 0.0


cdef EpochResult run_epoch(Team* team, const floating[::1] sample_weight,
                           Py_ssize_t n_rows, Py_ssize_t n_params,
                           Py_ssize_t n_param_blocks) noexcept nogil:
    """The calling thread's side of the epoch: batches, phases, checks."""
    cdef BatchWork* work = team.work
    cdef const EpochOptions* options = work.options
    cdef const Py_ssize_t* order = work.order
    cdef bint weighted = work.sample_weight != NULL
    cdef Py_ssize_t batch_size = options.batch_size
    cdef Py_ssize_t start, stop, n_batch, r, b
    cdef double weight_sum, data_loss, batch_loss, coef_sq_norm, intercept_sq_norm
    cdef double work_since_check = 0.0, work_per_row = 6.0 * n_params
    cdef ParamBlock part
    cdef EpochResult result
    result.loss_sum = 0.0
    result.adam_steps = options.adam_steps
    result.status = EpochStatus.COMPLETED
    result.n_batches = 0

    # The L2 term of each batch's loss uses the coefficients before its update; their
    # squared norm is taken once here (block by block, as the updates do) and then
    # after each update, for the next batch.
    coef_sq_norm = 0.0
    for b in range(n_param_blocks):
        part = work.param_blocks[b]
        start = coef_index(&work.layers[part.layer], part.in_start)
        stop = coef_index(&work.layers[part.layer], part.in_stop)
        coef_sq_norm += dot(<int> (stop - start), <floating*> work.params + start,
                            <floating*> work.params + start)
    start = 0
    while start < n_rows:
        stop = min(start + batch_size, n_rows)
        n_batch = stop - start
        weight_sum = n_batch
        if weighted:
            weight_sum = 0.0
            for r in range(start, stop):
                weight_sum += sample_weight[order[r]]
        work.order = order + start
        work.n_batch = n_batch
        work.n_row_blocks = min(options.n_row_blocks, n_batch)
        start = stop
        if weight_sum <= 0:
            # A batch whose weights are all zero carries no information: skip it rather
            # than divide by zero.
            continue

        run_phase(team, ROW_PHASE, work.n_row_blocks)
        data_loss = 0.0
        for b in range(work.n_row_blocks):
            data_loss += work.row_loss[b]
        batch_loss = (data_loss + 0.5 * options.alpha * coef_sq_norm) / weight_sum
        if not isfinite(batch_loss):
            result.status = EpochStatus.NON_FINITE
            break
        result.loss_sum += batch_loss * n_batch

        work.inverse_weight_sum = <floating> (1.0 / weight_sum)
        if options.solver == Solver.ADAM:
            result.adam_steps += 1
            work.step_size = (options.learning_rate
                              * sqrt(1 - pow(options.beta_2, <double> result.adam_steps))
                              / (1 - pow(options.beta_1, <double> result.adam_steps)))
        run_phase(team, PARAM_PHASE, n_param_blocks)
        coef_sq_norm = 0.0
        intercept_sq_norm = 0.0
        for b in range(n_param_blocks):
            coef_sq_norm += work.coef_sq_norm[b]
            intercept_sq_norm += work.intercept_sq_norm[b]
        result.n_batches += 1
        # The squared norms are NaN or infinite as soon as any parameter is: divergence is
        # caught at the update that causes it, by the norm the loss needs anyway.
        if not (isfinite(coef_sq_norm) and isfinite(intercept_sq_norm)):
            result.status = EpochStatus.NON_FINITE
            break

        work_since_check += work_per_row * n_batch
        if work_since_check >= SIGNAL_CHECK_FLOPS:
            work_since_check = 0.0
            if signal_pending():
                result.status = EpochStatus.INTERRUPTED
                break
    return result


def train_epoch(const Py_ssize_t[:, ::1] layer_table,
                const floating[:, ::1] X, const floating[::1] X_data,
                const int[::1] X_indices, const int[::1] X_indptr,
                const floating[:, ::1] Y, const floating[::1] sample_weight,
                const Py_ssize_t[::1] order, floating[::1] params, floating[::1] grads,
                floating[::1] moment_1, floating[::1] moment_2, floating[::1] workspace,
                EpochOptions options):
    """Train one epoch over the rows `order`, in batches of options['batch_size'].

    X is dense, or, when it has zero rows, the input is the CSR matrix given by
    (X_data, X_indices, X_indptr). An empty `sample_weight` means unit weights.
    `params` is updated in place, as are the optimizer's `moment_1` (SGD's velocity or
    Adam's first moment) and `moment_2` (Adam's second moment; unused by SGD).
    `grads` and `workspace` are scratch space (see workspace_size). Returns a dict with
    loss_sum, adam_steps, status (an EpochStatus) and n_batches.

    The batches are cut into options['n_row_blocks'] row blocks and about
    options['n_param_blocks'] parameter blocks, shared by options['n_threads'] threads;
    the results depend on the cut, not on the threads, as long as BLAS runs
    single-threaded. options['solo_phases'] and options['backoff'] carry the team's
    back-off from the previous epoch (the result returns them for the next).

    A pending signal (Ctrl-C) stops the epoch with status INTERRUPTED and clears the
    exception, leaving the caller to decide what an interruption means.
    """
    cdef Py_ssize_t n_layers = layer_table.shape[0], n_params = params.shape[0]
    cdef Py_ssize_t n_rows_in = n_input_rows(X, X_indptr)
    cdef Py_ssize_t i
    if order.shape[0] == 0:
        raise ValueError("order must name at least one row")
    if options.batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if options.solver not in (Solver.SGD, Solver.ADAM):
        raise ValueError(f"unknown solver code {options.solver}")
    if grads.shape[0] != n_params or moment_1.shape[0] != n_params:
        raise ValueError("grads and moment_1 must have the same length as params")
    if options.solver == Solver.ADAM and moment_2.shape[0] != n_params:
        raise ValueError("Adam needs moment_2 with the same length as params")
    if Y.shape[0] != n_rows_in or Y.shape[1] != layer_table[n_layers - 1, 1]:
        raise ValueError("Y must have one row per input row and one column per output")
    if sample_weight.shape[0] not in (0, n_rows_in):
        raise ValueError("sample_weight must be empty or have one weight per row")
    if X.shape[0] > 0 and X.shape[1] != layer_table[0, 0]:
        raise ValueError("X must have one column per input of the first layer")
    for i in range(order.shape[0]):
        if not 0 <= order[i] < n_rows_in:
            raise IndexError(f"order[{i}] = {order[i]} is not a row of X")
    # Compared without multiplying, so that no product can overflow.
    if not (1 <= options.n_row_blocks <= MAX_BLOCKS
            and 1 <= options.n_param_blocks <= MAX_BLOCKS // n_layers
            and options.n_threads >= 1):
        raise ValueError(f"n_row_blocks and n_param_blocks must be at least 1 and give at "
                         f"most {MAX_BLOCKS} blocks; n_threads must be at least 1")
    cdef Layer* layers = layers_from_table(layer_table, n_params)
    cdef WorkspaceLayout plan = plan_workspace(layers, n_layers, options.batch_size,
                                               X.shape[0] == 0)
    if workspace.shape[0] < plan.size:
        free(layers)
        raise ValueError(f"workspace must hold at least {plan.size} elements")
    cdef Py_ssize_t n_row_blocks = min(options.n_row_blocks, options.batch_size)
    cdef ParamBlock* param_blocks = <ParamBlock*> malloc(
        n_layers * options.n_param_blocks * sizeof(ParamBlock))
    cdef double* sums = <double*> calloc(n_row_blocks + 2 * n_layers * options.n_param_blocks,
                                         sizeof(double))
    cdef int n_helpers = <int> min(options.n_threads - 1, MAX_BLOCKS)
    cdef pthread_t* helpers = <pthread_t*> malloc(max(1, n_helpers) * sizeof(pthread_t))
    if param_blocks == NULL or sums == NULL or helpers == NULL:
        free(layers)
        free(param_blocks)
        free(sums)
        free(helpers)
        raise MemoryError()
    cdef Py_ssize_t n_param_blocks = plan_param_blocks(layers, n_layers, options.n_param_blocks,
                                                       param_blocks)
    cdef BatchWork work
    cdef Team team
    work.layers = layers
    work.n_layers = n_layers
    work.options = &options
    work.input = make_block(X, X_data, X_indices, X_indptr, 0, 0)
    work.X = &X[0, 0] if X.shape[0] > 0 else NULL
    work.Y = &Y[0, 0]
    work.sample_weight = &sample_weight[0] if sample_weight.shape[0] > 0 else NULL
    work.order = &order[0]
    work.param_blocks = param_blocks
    work.params = &params[0]
    work.grads = &grads[0]
    work.moment_1 = &moment_1[0]
    work.moment_2 = &moment_2[0] if moment_2.shape[0] > 0 else NULL
    work.x_batch = &workspace[plan.x_batch]
    work.y_batch = &workspace[plan.y_batch]
    work.sw_batch = &workspace[plan.sw_batch]
    work.acts = &workspace[plan.acts]
    work.deltas = &workspace[plan.deltas]
    work.row_loss = sums
    work.coef_sq_norm = sums + n_row_blocks
    work.intercept_sq_norm = sums + n_row_blocks + n_param_blocks
    team.claim = 0
    team.done = 0
    team.phase = 0
    team.sleepers = 0
    if pthread_mutex_init(&team.lock, NULL) != 0:
        n_helpers = 0  # no way to sleep and wake: run on the calling thread alone
    elif pthread_cond_init(&team.wake, NULL) != 0:
        pthread_mutex_destroy(&team.lock)
        n_helpers = 0
    cdef bint synchronised = n_helpers > 0
    team.window_own = 0.0
    team.window_waited = 0.0
    team.window_lost = 0.0
    team.window_wall = 0.0
    team.solo_phases = max(0, options.solo_phases)
    team.backoff = min(max(0, options.backoff), MAX_BACKOFF)
    team.is_double = floating is double
    team.work = &work
    team.n_helpers = 0
    n_helpers = <int> min(n_helpers, max(n_row_blocks, n_param_blocks) - 1)
    if team.solo_phases >= 2 * ((order.shape[0] + options.batch_size - 1) // options.batch_size):
        n_helpers = 0  # backing off for the whole epoch: no helper to start
    cdef EpochResult result
    try:
        with nogil:
            while team.n_helpers < n_helpers:
                # A helper that cannot be started only means fewer threads.
                if pthread_create(&helpers[team.n_helpers], NULL, helper_main, &team) != 0:
                    break
                team.n_helpers += 1
            result = run_epoch(&team, sample_weight, order.shape[0], n_params,
                               n_param_blocks)
            if team.window_wall > 0:
                judge_window(&team)  # the epoch's last, shorter window
            result.solo_phases = team.solo_phases
            result.backoff = team.backoff
            if team.n_helpers > 0:
                publish(&team, (<long long> EXIT_PHASE) << PHASE_SHIFT)
                for i in range(team.n_helpers):
                    pthread_join(helpers[i], NULL)
    finally:
        if synchronised:
            pthread_cond_destroy(&team.wake)
            pthread_mutex_destroy(&team.lock)
        free(layers)
        free(param_blocks)
        free(sums)
        free(helpers)
    return result
