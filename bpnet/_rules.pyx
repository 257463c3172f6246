# The Python side of the rules between epochs (_rules.pxd): the schedules' names, and
# end_epoch for an epoch that Python scored itself.

# The learning_rate_schedule names and their codes; None is MLP's learning_rate.
SCHEDULES = {"cosine": Schedule.COSINE, "onecycle": Schedule.ONECYCLE,
             "plateau": Schedule.PLATEAU}
# MLP's learning_rate names, which the 'sgd' solver follows.
MLP_SCHEDULES = {"constant": Schedule.CONSTANT, "invscaling": Schedule.INVSCALING,
                 "adaptive": Schedule.ADAPTIVE}


def end_epoch_py(LoopState state, double monitored, Py_ssize_t n_rows):
    """end_epoch for an epoch that Python scored itself (validation data): returns the
    new state and the status (COMPLETED or CONVERGED)."""
    cdef int status = end_epoch(&state, monitored, n_rows)
    return state, status


def epoch_rates(LoopState state, Py_ssize_t n_epochs):
    """The rates start_epoch gives the next n_epochs epochs when none stalls (for tests
    and figures)."""
    rates = []
    for _ in range(n_epochs):
        start_epoch(&state)
        rates.append(state.learning_rate)
        state.schedule_epoch += 1
    return rates
