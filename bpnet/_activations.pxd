# Activations: each one's forward beside its derivative, and the two loops over a block.
#
# The derivatives are written in terms of the activation's output a = f(z), which is what
# the forward pass keeps; they multiply the incoming delta in place. A new activation is
# an enum value, a forward/derivative pair, a case in each loop below and a name in
# ACTIVATION_CODES (bpnet/_activations.pyx).
from cython cimport floating
from libc.math cimport exp, expf, tanh, tanhf


cpdef enum Activation:
    IDENTITY = 0
    LOGISTIC = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4   # output layer only
    EXP = 5       # output layer only (Poisson)
    N_ACTIVATIONS = 6


# float32 layers use the single-precision functions, as NumPy does for float32 arrays:
# they are about twice as fast, and the result is rounded to float32 anyway.

cdef inline floating fexp(floating z) noexcept nogil:
    if floating is float:
        return expf(z)
    else:
        return exp(z)


cdef inline floating logistic(floating z) noexcept nogil:
    # exp(-z) overflows to inf for very negative z, giving exactly 0, never NaN.
    return 1 / (1 + fexp(-z))

cdef inline floating logistic_derivative(floating a, floating delta) noexcept nogil:
    return delta * a * (1 - a)


cdef inline floating tanh_activation(floating z) noexcept nogil:
    if floating is float:
        return tanhf(z)
    else:
        return tanh(z)

cdef inline floating tanh_derivative(floating a, floating delta) noexcept nogil:
    return delta * (1 - a * a)


cdef inline floating relu(floating z) noexcept nogil:
    # `z < 0` rather than `z > 0 ? z : 0` so that NaN propagates and divergence shows.
    return 0 if z < 0 else z

cdef inline floating relu_derivative(floating a, floating delta) noexcept nogil:
    return 0 if a == 0 else delta


cdef inline void softmax_row(floating* row, Py_ssize_t n) noexcept nogil:
    """row = softmax(row) in place; its derivative is folded into the log-loss's gradient."""
    cdef Py_ssize_t j
    cdef floating row_max = row[0], total = 0
    # Shift by the row maximum so that exp never overflows.
    for j in range(1, n):
        if row[j] > row_max:
            row_max = row[j]
    for j in range(n):
        row[j] = fexp(row[j] - row_max)
        total += row[j]
    for j in range(n):
        row[j] /= total


cdef inline void add_bias_and_activate(const floating* intercept, int activation, floating* z,
                                       Py_ssize_t n_rows, Py_ssize_t n_cols) noexcept nogil:
    """z[i, :] = f(z[i, :] + intercept) in one pass over z.

    The activation is chosen outside the loops so that each loop stays simple enough to
    vectorise.
    """
    cdef Py_ssize_t i, j
    cdef floating* row
    for i in range(n_rows):
        row = z + i * n_cols
        if activation == Activation.IDENTITY:
            for j in range(n_cols):
                row[j] += intercept[j]
        elif activation == Activation.RELU:
            for j in range(n_cols):
                row[j] = relu(row[j] + intercept[j])
        elif activation == Activation.TANH:
            for j in range(n_cols):
                row[j] = tanh_activation(row[j] + intercept[j])
        elif activation == Activation.LOGISTIC:
            for j in range(n_cols):
                row[j] = logistic(row[j] + intercept[j])
        elif activation == Activation.EXP:
            for j in range(n_cols):
                row[j] = fexp(row[j] + intercept[j])
        elif activation == Activation.SOFTMAX:
            for j in range(n_cols):
                row[j] += intercept[j]
            softmax_row(row, n_cols)


cdef inline void activation_derivative(int activation, const floating* a, floating* delta,
                                       Py_ssize_t n) noexcept nogil:
    """delta *= f'(z), computed from the stored outputs a = f(z)."""
    cdef Py_ssize_t i
    if activation == Activation.RELU:
        for i in range(n):
            delta[i] = relu_derivative(a[i], delta[i])
    elif activation == Activation.TANH:
        for i in range(n):
            delta[i] = tanh_derivative(a[i], delta[i])
    elif activation == Activation.LOGISTIC:
        for i in range(n):
            delta[i] = logistic_derivative(a[i], delta[i])
    # IDENTITY: nothing to do. SOFTMAX and EXP only appear on the output layer, whose
    # delta is the loss's own gradient with respect to the raw output.
