# The loop that applies a loss to a block of rows, and the Python names of the losses.
from libc.float cimport DBL_EPSILON, FLT_EPSILON
from libc.math cimport log

from ._numpy_math cimport numpy_sum

LOSS_CODES = {
    "squared_error": LossCode.SQUARED_ERROR,
    "log_loss": LossCode.LOG_LOSS,
    "binary_log_loss": LossCode.BINARY_LOG_LOSS,
    "poisson": LossCode.POISSON,
    "huber": LossCode.HUBER,
    "quantile": LossCode.QUANTILE,
}


def loss_function(name, *, huber_threshold=1.0, quantile=0.5, label_smoothing=0.0):
    """The LossFunction struct (as the dict Cython converts) for the loss called ``name``.

    The parameters only matter to the losses they belong to.
    """
    return {"code": LOSS_CODES[name], "huber_threshold": float(huber_threshold),
            "quantile": float(quantile), "label_smoothing": float(label_smoothing)}


cdef double loss_and_delta(const LossFunction* loss, const floating* prob, const floating* y,
                           const floating* sample_weight, Py_ssize_t n_rows,
                           Py_ssize_t n_outputs, floating* delta) noexcept nogil:
    """Weighted sum over rows of the row losses; delta = d(row loss)/dz * weight.

    Computed in double whatever the input precision; a probability is clipped to
    [eps, 1 - eps] of the input's precision before its log is taken.
    """
    if loss.code == LossCode.LOG_LOSS and loss.label_smoothing != 0:
        return smoothed_log_loss_and_delta(loss, prob, y, sample_weight, n_rows, n_outputs,
                                           delta)
    cdef Py_ssize_t i, k, at
    cdef double weight, row_loss, total = 0.0, p, t
    cdef double eps = DBL_EPSILON if floating is double else FLT_EPSILON
    cdef double scale = output_scale(loss, n_outputs)
    cdef double row_factor = loss_factor(loss) * scale
    for i in range(n_rows):
        weight = sample_weight[i] if sample_weight != NULL else 1.0
        row_loss = 0.0
        for k in range(n_outputs):
            at = i * n_outputs + k
            p = prob[at]
            t = smoothed_target(loss, y[at], n_outputs)
            delta[at] = <floating> (loss_term_gradient(loss, t, p) * (weight * scale))
            row_loss += loss_term(loss, t, p, eps)
        total += weight * (row_loss * row_factor)
    return total


# Probabilities multiplied before one log: each is clipped to at least FLT_EPSILON or
# DBL_EPSILON, and DBL_EPSILON ** 16 (about 3e-251) is still a normal double.
cdef enum:
    PRODUCT_TERMS = 16


cdef double smoothed_log_loss_and_delta(const LossFunction* loss, const floating* prob,
                                        const floating* y, const floating* sample_weight,
                                        Py_ssize_t n_rows, Py_ssize_t n_outputs,
                                        floating* delta) noexcept nogil:
    """loss_and_delta of the softmax log-loss with label smoothing s, its deltas the same
    and its loss with fewer logs: a row's sum of t log p over its k classes, with
    t = (1 - s) y + s / k, is (1 - s) times the sum of y log p (one log for one-hot
    targets) plus s / k times the log of the product of the clipped probabilities, taken
    PRODUCT_TERMS at a time. Term by term it would take a log per class."""
    cdef Py_ssize_t i, k, at, in_product
    cdef double weight, total = 0.0, p, t, clipped, targets_part, product, logs
    cdef double eps = DBL_EPSILON if floating is double else FLT_EPSILON
    cdef double s = loss.label_smoothing
    for i in range(n_rows):
        weight = sample_weight[i] if sample_weight != NULL else 1.0
        targets_part = 0.0
        logs = 0.0
        product = 1.0
        in_product = 0
        for k in range(n_outputs):
            at = i * n_outputs + k
            p = prob[at]
            t = smoothed_target(loss, y[at], n_outputs)
            delta[at] = <floating> (log_loss_gradient(t, p) * weight)
            clipped = clip_probability(p, eps)
            targets_part += xlogy(<double> y[at], clipped)
            product *= clipped
            in_product += 1
            if in_product == PRODUCT_TERMS:
                logs += log(product)
                product = 1.0
                in_product = 0
        if in_product > 0:
            logs += log(product)
        total += weight * -((1 - s) * targets_part + (s / n_outputs) * logs)
    return total


cdef void add_loss_terms(const LossFunction* loss, const floating* prob, const floating* y,
                         const floating* sample_weight, Py_ssize_t n_rows,
                         Py_ssize_t n_outputs, double* column_sums,
                         double* terms) noexcept nogil:
    """Add each output's weighted terms over these rows to column_sums, as np.sum(...,
    axis=0) adds them: down the column pairwise for a single output, row after row for
    several. `terms` is scratch space for n_rows values."""
    cdef Py_ssize_t i, k, at
    cdef double eps = DBL_EPSILON if floating is double else FLT_EPSILON
    cdef double term
    for i in range(n_rows):
        for k in range(n_outputs):
            at = i * n_outputs + k
            term = loss_term(loss, smoothed_target(loss, y[at], n_outputs), prob[at], eps)
            if sample_weight != NULL:
                term = term * sample_weight[i]
            if n_outputs == 1:
                terms[i] = term
            else:
                column_sums[k] = column_sums[k] + term
    if n_outputs == 1:
        column_sums[0] = column_sums[0] + numpy_sum(terms, n_rows, 1)


cdef double loss_from_sums(const LossFunction* loss, double* column_sums, Py_ssize_t n_outputs,
                           double weight_sum) noexcept nogil:
    """The loss from its column sums, as scikit-learn's MLP combines them: each output's
    mean over the rows, then their (pairwise) sum, or their mean. Overwrites the sums."""
    cdef Py_ssize_t k
    cdef double total
    for k in range(n_outputs):
        column_sums[k] = column_sums[k] / weight_sum
    total = numpy_sum(column_sums, n_outputs, 1)
    if averages_outputs(loss):
        total = total / n_outputs
    return loss_factor(loss) * total
