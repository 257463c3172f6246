# Losses: each one's value beside its gradient with respect to the raw output, and the
# loop that applies them to a block of rows.
#
# A loss is paired with its output activation (see _classes.py), and its gradient is
# taken with respect to the output layer's raw value z, before that activation: for the
# four canonical pairs below it is p - t, but that shortcut belongs to each loss, not to
# the loop. A loss with a parameter adds one field to LossFunction and one value/gradient
# pair here; nothing else in the kernels' signatures changes.
from cython cimport floating
from libc.math cimport fabs, log


cpdef enum LossCode:
    SQUARED_ERROR = 0     # identity output
    LOG_LOSS = 1          # softmax output, one-hot targets
    BINARY_LOG_LOSS = 2   # logistic outputs, one independent binary target each
    POISSON = 3           # exp output, half Poisson deviance
    HUBER = 4             # identity output
    QUANTILE = 5          # identity output, the pinball loss
    N_LOSSES = 6


# What the kernels know of a loss: its code, and the parameters of losses that have some.
# Python builds it with _losses.loss_function(name, ...).
ctypedef struct LossFunction:
    int code
    double huber_threshold  # HUBER: residuals beyond it count linearly
    double quantile         # QUANTILE: the quantile in (0, 1) the output estimates


cdef inline double clip_probability(double p, double eps) noexcept nogil:
    if p < eps:
        return eps
    if p > 1 - eps:
        return 1 - eps
    return p


cdef inline double squared_error(double t, double p) noexcept nogil:
    return 0.5 * (t - p) * (t - p)

cdef inline double squared_error_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double log_loss(double t, double p, double eps) noexcept nogil:
    # One class of a softmax row; the row's gradient is p - t because the softmax's own
    # derivative cancels against the log.
    return -t * log(clip_probability(p, eps)) if t != 0 else 0.0

cdef inline double log_loss_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double binary_log_loss(double t, double p, double eps) noexcept nogil:
    cdef double value = 0.0
    p = clip_probability(p, eps)
    if t != 0:
        value -= t * log(p)
    if t != 1:
        value -= (1 - t) * log(1 - p)
    return value

cdef inline double binary_log_loss_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double half_poisson_deviance(double t, double p) noexcept nogil:
    # t log(t / p) - t + p, with 0 log 0 = 0.
    return ((t * log(t / p) if t != 0 else 0.0) - t) + p

cdef inline double half_poisson_deviance_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double huber(double t, double p, double threshold) noexcept nogil:
    # Quadratic, as squared error, within the threshold; linear, with the same slope at
    # the threshold, beyond it.
    cdef double residual = fabs(p - t)
    if residual <= threshold:
        return 0.5 * (p - t) * (p - t)
    return threshold * (residual - 0.5 * threshold)

cdef inline double huber_gradient(double t, double p, double threshold) noexcept nogil:
    cdef double residual = p - t
    if residual > threshold:
        return threshold
    if residual < -threshold:
        return -threshold
    return residual


cdef inline double pinball(double t, double p, double quantile) noexcept nogil:
    return quantile * (t - p) if t >= p else (1 - quantile) * (p - t)

cdef inline double pinball_gradient(double t, double p, double quantile) noexcept nogil:
    # At t == p the loss has a kink; this takes the side of scikit-learn's PinballLoss.
    return -quantile if t >= p else 1 - quantile


cdef inline double loss_value(const LossFunction* loss, double t, double p,
                              double eps) noexcept nogil:
    """The loss of one output: target t, prediction p (after the output activation)."""
    if loss.code == LossCode.SQUARED_ERROR:
        return squared_error(t, p)
    if loss.code == LossCode.LOG_LOSS:
        return log_loss(t, p, eps)
    if loss.code == LossCode.BINARY_LOG_LOSS:
        return binary_log_loss(t, p, eps)
    if loss.code == LossCode.HUBER:
        return huber(t, p, loss.huber_threshold)
    if loss.code == LossCode.QUANTILE:
        return pinball(t, p, loss.quantile)
    return half_poisson_deviance(t, p)


cdef inline double loss_gradient(const LossFunction* loss, double t, double p) noexcept nogil:
    """d(loss of one output) / d(raw output z), written in terms of p = f(z)."""
    if loss.code == LossCode.SQUARED_ERROR:
        return squared_error_gradient(t, p)
    if loss.code == LossCode.LOG_LOSS:
        return log_loss_gradient(t, p)
    if loss.code == LossCode.BINARY_LOG_LOSS:
        return binary_log_loss_gradient(t, p)
    if loss.code == LossCode.HUBER:
        return huber_gradient(t, p, loss.huber_threshold)
    if loss.code == LossCode.QUANTILE:
        return pinball_gradient(t, p, loss.quantile)
    return half_poisson_deviance_gradient(t, p)


cdef inline double output_scale(const LossFunction* loss, Py_ssize_t n_outputs) noexcept nogil:
    """The factor of a row's summed output losses: squared error, huber and quantile
    report the mean over the outputs (as scikit-learn's squared error does); the
    log-losses and Poisson's deviance the sum (as scikit-learn's do).

    scikit-learn's gradient omits this factor for squared error (its issue #8349); bpnet's
    is the gradient of the loss it reports.
    """
    if (loss.code == LossCode.SQUARED_ERROR or loss.code == LossCode.HUBER
            or loss.code == LossCode.QUANTILE):
        return 1.0 / n_outputs
    return 1.0


cdef double loss_and_delta(const LossFunction* loss, const floating* prob, const floating* y,
                           const floating* sample_weight, Py_ssize_t n_rows,
                           Py_ssize_t n_outputs, floating* delta) noexcept nogil
