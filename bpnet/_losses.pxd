# Losses: each one's value beside its gradient with respect to the raw output, and the
# loop that applies them to a block of rows.
#
# A loss is paired with its output activation (see _classes.py), and its gradient is
# taken with respect to the output layer's raw value z, before that activation: for the
# four canonical pairs below it is p - t, but that shortcut belongs to each loss, not to
# the loop. A loss with a parameter adds one field to LossFunction and one value/gradient
# pair here; nothing else in the kernels' signatures changes.
from cython cimport floating
from libc.math cimport copysign, fabs, log


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
    double label_smoothing  # LOG_LOSS, BINARY_LOG_LOSS: the share of a target smoothed


cdef inline double clip_probability(double p, double eps) noexcept nogil:
    if p < eps:
        return eps
    if p > 1 - eps:
        return 1 - eps
    return p


cdef inline double xlogy(double x, double y) noexcept nogil:
    """x log(y), with 0 log(y) = 0 (scipy.special.xlogy)."""
    return 0.0 if x == 0 and y == y else x * log(y)


# Each loss is written as scikit-learn writes it: a term per output, whose mean over the
# rows (weighted by the sample weights), summed or averaged over the outputs and times a
# factor (loss_factor), is the loss. The gradient with respect to z sits beside it.

cdef inline double squared_error_term(double t, double p) noexcept nogil:
    return (t - p) * (t - p)          # loss: half the mean over the outputs

cdef inline double squared_error_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double log_loss_term(double t, double p, double eps) noexcept nogil:
    # One class of a softmax row; the row's gradient is p - t because the softmax's own
    # derivative cancels against the log.
    return xlogy(t, clip_probability(p, eps))     # loss: minus the sum over the classes

cdef inline double log_loss_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double binary_log_loss_term(double t, double p, double eps) noexcept nogil:
    p = clip_probability(p, eps)
    return xlogy(t, p) + xlogy(1 - t, 1 - p)      # loss: minus the sum over the outputs

cdef inline double binary_log_loss_gradient(double t, double p) noexcept nogil:
    return p - t


cdef inline double half_poisson_deviance_term(double t, double p) noexcept nogil:
    return (xlogy(t, t / p) - t) + p  # loss: the sum over the outputs

cdef inline double half_poisson_deviance_gradient(double t, double p) noexcept nogil:
    return p - t


# libm's fmin and fmax are calls (they must order signed zeros, which the compiler's
# min/max instructions do not); these two compile to minsd/maxsd. With a NaN in `a`
# both return `b`, as fmin and fmax do.
cdef inline double smaller(double a, double b) noexcept nogil:
    return a if a < b else b

cdef inline double larger(double a, double b) noexcept nogil:
    return a if a > b else b


cdef inline double huber_term(double t, double p, double threshold) noexcept nogil:
    # Twice the Huber loss, so that within the threshold it is squared error's term
    # (loss: half the mean over the outputs): quadratic within the threshold, linear with
    # the same slope beyond it.
    # m (2 |r| - m) with m = min(|r|, threshold) is r**2 within the threshold (exactly:
    # 2 |r| - |r| = |r|) and 2 threshold (|r| - threshold / 2) beyond, without a branch.
    cdef double residual = fabs(p - t), m = smaller(residual, threshold)
    return m * (2 * residual - m)

cdef inline double huber_gradient(double t, double p, double threshold) noexcept nogil:
    # The residual clipped to [-threshold, threshold]: its size clipped, its sign put
    # back. Exactly the clip (copysign(|r|, r) is r), written so that no branch is left
    # to mispredict.
    cdef double residual = p - t
    return copysign(smaller(fabs(residual), threshold), residual)


cdef inline double pinball_term(double t, double p, double quantile) noexcept nogil:
    # quantile * (t - p) above the prediction, (1 - quantile) * (p - t) below it: the
    # larger of the two, exactly (q - 1 and t - p are negations of 1 - q and p - t).
    return larger(quantile * (t - p), (quantile - 1) * (t - p))   # loss: the mean

cdef inline double pinball_gradient(double t, double p, double quantile) noexcept nogil:
    # At t == p the loss has a kink; this takes the side of scikit-learn's PinballLoss.
    # The choice is an index, not a condition, so that no branch is left to mispredict
    # (one per output, taken at random).
    cdef double sides[2]
    sides[0] = 1 - quantile     # the target below the prediction
    sides[1] = -quantile        # the target at or above it
    return sides[<int> (t >= p)]


cdef inline double smoothed_target(const LossFunction* loss, double t,
                                   Py_ssize_t n_outputs) noexcept nogil:
    """The target the loss compares with: t itself, or with label smoothing s (the
    log-losses only) (1 - s) t + s / k, k being a softmax row's classes or a logistic
    output's two. The softmax's targets still sum to 1, so its gradient stays p - t."""
    cdef double s = loss.label_smoothing
    if s == 0:
        return t
    if loss.code == LossCode.LOG_LOSS:
        return (1 - s) * t + s / n_outputs
    if loss.code == LossCode.BINARY_LOG_LOSS:
        return (1 - s) * t + s / 2
    return t


cdef inline double loss_term(const LossFunction* loss, double t, double p,
                             double eps) noexcept nogil:
    """The term of one output: target t, prediction p (after the output activation)."""
    if loss.code == LossCode.SQUARED_ERROR:
        return squared_error_term(t, p)
    if loss.code == LossCode.LOG_LOSS:
        return log_loss_term(t, p, eps)
    if loss.code == LossCode.BINARY_LOG_LOSS:
        return binary_log_loss_term(t, p, eps)
    if loss.code == LossCode.HUBER:
        return huber_term(t, p, loss.huber_threshold)
    if loss.code == LossCode.QUANTILE:
        return pinball_term(t, p, loss.quantile)
    return half_poisson_deviance_term(t, p)


cdef inline double loss_term_gradient(const LossFunction* loss, double t,
                                      double p) noexcept nogil:
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


cdef inline bint averages_outputs(const LossFunction* loss) noexcept nogil:
    """Whether the loss is the mean over the outputs (regression) or their sum.

    scikit-learn's gradient omits the 1 / n_outputs for squared error (its issue #8349);
    bpnet's is the gradient of the loss it reports.
    """
    return (loss.code == LossCode.SQUARED_ERROR or loss.code == LossCode.HUBER
            or loss.code == LossCode.QUANTILE)


cdef inline double loss_factor(const LossFunction* loss) noexcept nogil:
    """What the (mean or sum of the) terms are multiplied by to give the loss."""
    if loss.code == LossCode.SQUARED_ERROR or loss.code == LossCode.HUBER:
        return 0.5
    if loss.code == LossCode.LOG_LOSS or loss.code == LossCode.BINARY_LOG_LOSS:
        return -1.0
    return 1.0


cdef inline double output_scale(const LossFunction* loss, Py_ssize_t n_outputs) noexcept nogil:
    """The factor of a row's summed output gradients: 1 / n_outputs for the losses that
    average the outputs."""
    return 1.0 / n_outputs if averages_outputs(loss) else 1.0


cdef double loss_and_delta(const LossFunction* loss, const floating* prob, const floating* y,
                           const floating* sample_weight, Py_ssize_t n_rows,
                           Py_ssize_t n_outputs, floating* delta) noexcept nogil

cdef void add_loss_terms(const LossFunction* loss, const floating* prob, const floating* y,
                         const floating* sample_weight, Py_ssize_t n_rows,
                         Py_ssize_t n_outputs, double* column_sums,
                         double* terms) noexcept nogil

cdef double loss_from_sums(const LossFunction* loss, double* column_sums, Py_ssize_t n_outputs,
                           double weight_sum) noexcept nogil
