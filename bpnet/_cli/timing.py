"""Timing the contenders' fits, and judging from the times whether the machine was busy."""

import math
import time
import warnings
from contextlib import nullcontext

# Repetitions of one contender whose slowest fit takes more than BUSY_SPREAD times its
# fastest (and at least BUSY_MIN_SECONDS longer, so that timer noise on tiny fits does not
# count) mean that something else is competing for the cores. On an idle machine the
# repetitions agree within a few percent.
BUSY_SPREAD = 1.5
BUSY_MIN_SECONDS = 0.02
# A steady load can slow every repetition alike; a one-minute load average above this
# many runnable tasks per core, before the fits start, says so.
BUSY_LOAD_PER_CORE = 1.5


def time_fits(models, X, y, repeats, threads=None):
    """Fit each of ``models`` (name -> unfitted estimator) ``repeats`` times, interleaved.

    Each contender first gets an untimed one-epoch fit, so that neither pays for first
    calls (thread pools starting, lazy imports). Which goes first alternates from one
    repetition to the next, so a drift in the machine's load falls on both alike. Returns
    the last fitted model of each, the list of its fit times, and the message of the
    ConvergenceWarning its last fit gave (None if it gave none): the report turns that
    into a note rather than a warning in the middle of the output.
    """
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    names = list(models)
    times = {name: [] for name in names}
    fitted, not_converged = {}, {}
    limit = threadpool_limits(limits=threads) if threads else nullcontext()
    with limit:
        _warm_up(models, X, y)
        for repeat in range(repeats):
            order = names if repeat % 2 == 0 else names[::-1]
            for name in order:
                model = clone(models[name])
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ConvergenceWarning)
                    start = time.perf_counter()
                    model.fit(X, y)
                    times[name].append(time.perf_counter() - start)
                fitted[name] = model
                not_converged[name] = _convergence_warning(caught, ConvergenceWarning)
    return fitted, times, not_converged


def _warm_up(models, X, y):
    """One untimed one-epoch fit of each of ``models``."""
    from sklearn.base import clone
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # one epoch: expected
        for name in models:
            warm = clone(models[name])
            # A TransformedTargetRegressor passes the setting on to its regressor.
            prefix = "regressor__" if hasattr(warm, "regressor") else ""
            warm.set_params(**{prefix + "max_iter": 1}).fit(X, y)


def _convergence_warning(caught, category):
    """The message of the first ``category`` warning in ``caught``; the other warnings
    are given again, as they would have been shown."""
    message = None
    for warning in caught:
        if issubclass(warning.category, category):
            message = message or str(warning.message)
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return message


def repetition_spread(times):
    """Slowest over fastest of one contender's fit times (1.0 for a single fit)."""
    return max(times) / min(times) if min(times) > 0 else math.inf


def busy_note(times, threads=None):
    """A sentence when the repetitions' spread says the machine is busy, else None."""
    spread = {
        name: repetition_spread(values)
        for name, values in times.items()
        if len(values) > 1
        and repetition_spread(values) > BUSY_SPREAD
        and max(values) - min(values) >= BUSY_MIN_SECONDS
    }
    if not spread:
        return None
    which = ", ".join(f"{name}'s {value:.1f}x" for name, value in spread.items())
    advice = "" if threads == 1 else ", and --threads 1 usually steadies them"
    return (
        f"fit times vary between repetitions ({which}, slowest over fastest): the machine "
        "is busy, so these times and the speedup are unreliable; the min is the better "
        f"guide{advice}"
    )


def load_note(load_average, cores):
    """A sentence when the load average before the fits says other work holds the cores."""
    if load_average is None or load_average[0] <= BUSY_LOAD_PER_CORE * cores:
        return None
    return (
        f"the load average was {load_average[0]:.2f} on {cores} core(s) before the fits: "
        "other programs compete for the cores, which slows both contenders and can skew "
        "the speedup"
    )


def busy_summary(times, threads, load_average, cores):
    """What the fit times and the load average before them say about the machine's load:
    each contender's spread, the threshold, and the notes (None where there is none)."""
    return {
        "spread": {name: repetition_spread(values) for name, values in times.items()},
        "threshold": BUSY_SPREAD,
        "note": busy_note(times, threads),
        "load_note": load_note(load_average, cores),
    }
