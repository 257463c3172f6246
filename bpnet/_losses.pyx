# The loop that applies a loss to a block of rows, and the Python names of the losses.
from libc.float cimport DBL_EPSILON, FLT_EPSILON

LOSS_CODES = {
    "squared_error": LossCode.SQUARED_ERROR,
    "log_loss": LossCode.LOG_LOSS,
    "binary_log_loss": LossCode.BINARY_LOG_LOSS,
    "poisson": LossCode.POISSON,
    "huber": LossCode.HUBER,
    "quantile": LossCode.QUANTILE,
}


def loss_function(name, *, huber_threshold=1.0, quantile=0.5):
    """The LossFunction struct (as the dict Cython converts) for the loss called ``name``.

    The parameters only matter to the losses they belong to.
    """
    return {"code": LOSS_CODES[name], "huber_threshold": float(huber_threshold),
            "quantile": float(quantile)}


cdef double loss_and_delta(const LossFunction* loss, const floating* prob, const floating* y,
                           const floating* sample_weight, Py_ssize_t n_rows,
                           Py_ssize_t n_outputs, floating* delta) noexcept nogil:
    """Weighted sum over rows of the row losses; delta = d(row loss)/dz * weight.

    Computed in double whatever the input precision; a probability is clipped to
    [eps, 1 - eps] of the input's precision before its log is taken.
    """
    cdef Py_ssize_t i, k, at
    cdef double weight, row_loss, total = 0.0, p, t
    cdef double eps = DBL_EPSILON if floating is double else FLT_EPSILON
    cdef double scale = output_scale(loss, n_outputs)
    for i in range(n_rows):
        weight = sample_weight[i] if sample_weight != NULL else 1.0
        row_loss = 0.0
        for k in range(n_outputs):
            at = i * n_outputs + k
            p = prob[at]
            t = y[at]
            delta[at] = <floating> (loss_gradient(loss, t, p) * (weight * scale))
            row_loss += loss_value(loss, t, p, eps)
        total += weight * (row_loss * scale)
    return total
