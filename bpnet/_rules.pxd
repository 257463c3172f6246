# The rules between epochs, in one place: the learning rate of each epoch (schedules and
# warm-up), and after each epoch the no-improvement count and the stopping rule.
#
# The epoch kernel (_sgd_fast.train_epochs) calls start_epoch before an epoch and
# end_epoch after it; the epoch-by-epoch loop, which scores validation data in Python
# between epochs, calls end_epoch through _rules.end_epoch_py. A new schedule is a value
# of Schedule, a case in scheduled_rate (or in end_epoch, for a schedule that follows the
# monitored value), and its name in _rules.pyx's SCHEDULES.
from libc.math cimport M_PI, cos, pow


cpdef enum Schedule:
    CONSTANT = 0      # MLP's 'constant' (and Adam's, which has no other in MLP)
    INVSCALING = 1    # MLP's 'invscaling': learning_rate_init / (t + 1) ** power_t
    ADAPTIVE = 2      # MLP's 'adaptive' (SGD): / 5 when the monitored value stalls
    COSINE = 3        # from learning_rate_init down to 0 over the horizon
    ONECYCLE = 4      # up from learning_rate_init / 25 over the first 30%, then down
    PLATEAU = 5       # 'adaptive' for any solver


cpdef enum EpochStatus:
    COMPLETED = 0
    NON_FINITE = 1    # a batch loss or a parameter became NaN or infinite
    INTERRUPTED = 2   # a signal handler raised (Ctrl-C); the exception was cleared
    CONVERGED = 3     # the stopping rule ended training


# What changes from one epoch to the next, and the settings of the rules that change it.
# Python keeps it between kernel calls (bpnet/_training.py's TrainingState) as a dict
# with these keys.
cdef struct LoopState:
    long long epochs_trained    # every epoch the network has trained: dropout's key
    long long samples_seen      # rows trained on over those epochs (MLP's t_)
    long long adam_steps        # Adam's updates so far (its bias correction); SGD: 0
    long long schedule_epoch    # epochs since the schedule began (fit starts it again)
    double base_rate            # the rate as the rules leave it, before warm-up
    double learning_rate        # the rate of the epoch under way (start_epoch sets it)
    double best                 # the best monitored value: the training loss, or minus
                                # the validation score (lower is better either way)
    long long no_improvement_count
    double tol
    double n_iter_no_change     # may be inf
    int schedule                # a Schedule
    double learning_rate_init
    double power_t
    long long horizon           # epochs a cosine or one-cycle schedule spans: max_iter
    long long warmup            # epochs of linear warm-up


cdef inline double cosine_between(double start, double stop, double progress) noexcept nogil:
    """From `start` (progress 0) to `stop` (progress 1) along half a cosine."""
    if progress >= 1:
        return stop
    return stop + (start - stop) * 0.5 * (1 + cos(M_PI * progress))


cdef inline double scheduled_rate(const LoopState* state) noexcept nogil:
    """The rate of epoch schedule_epoch, before warm-up."""
    # One-cycle's settings, those of Smith and Topin's schedule as PyTorch's OneCycleLR
    # sets them: the share of the span spent rising, the divisor of the starting rate,
    # and that of the final rate (of the starting one).
    cdef double rise = 0.3, start_divisor = 25.0, final_divisor = 1e4
    cdef double position, span, peak = state.learning_rate_init
    if state.schedule != Schedule.COSINE and state.schedule != Schedule.ONECYCLE:
        return state.base_rate
    # The time-based schedules span the epochs after the warm-up.
    position = <double> (state.schedule_epoch - state.warmup)
    span = <double> max(state.horizon - state.warmup, 1)
    if position < 0:
        position = 0
    if state.schedule == Schedule.COSINE:
        return cosine_between(peak, 0.0, position / span)
    if position < rise * span:
        return cosine_between(peak / start_divisor, peak, position / (rise * span))
    return cosine_between(peak, peak / (start_divisor * final_divisor),
                          (position - rise * span) / ((1 - rise) * span))


cdef inline void start_epoch(LoopState* state) noexcept nogil:
    """Set the rate of the epoch about to run: the schedule's, ramped up linearly over
    the first `warmup` epochs (epoch e of them at (e + 1) / warmup of it)."""
    cdef double rate = scheduled_rate(state)
    if state.schedule_epoch < state.warmup:
        rate = rate * (<double> (state.schedule_epoch + 1) / <double> state.warmup)
    state.learning_rate = rate


cdef inline int end_epoch(LoopState* state, double monitored,
                          Py_ssize_t n_rows) noexcept nogil:
    """The rules after an epoch of n_rows rows whose monitored value (the training loss,
    or minus the validation score) is `monitored`; returns COMPLETED or CONVERGED.

    In scikit-learn's order: the no-improvement count (an improvement being a value below
    the best by more than tol), the best value, 'invscaling''s rate for the next epoch,
    then the stopping rule, which 'adaptive' and 'plateau' turn into dividing the rate by
    5 until it falls to 1e-6.
    """
    state.samples_seen += n_rows
    state.schedule_epoch += 1
    if monitored > state.best - state.tol:
        state.no_improvement_count += 1
    else:
        state.no_improvement_count = 0
    if monitored < state.best:
        state.best = monitored
    if state.schedule == Schedule.INVSCALING:
        state.base_rate = (state.learning_rate_init
                           / pow(<double> (state.samples_seen + 1), state.power_t))
    if state.no_improvement_count > state.n_iter_no_change:
        if ((state.schedule != Schedule.ADAPTIVE and state.schedule != Schedule.PLATEAU)
                or state.base_rate <= 1e-6):
            return EpochStatus.CONVERGED
        state.base_rate /= 5.0
        state.no_improvement_count = 0
    return EpochStatus.COMPLETED
