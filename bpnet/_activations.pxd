# Activations: each one's forward beside its derivative, and the two loops over a block.
#
# Most derivatives are written in terms of the activation's output a = f(z), which is
# what the forward pass keeps; GELU's and SiLU's cannot be, so for those layers the
# forward pass also keeps z (needs_preactivation). A derivative multiplies the incoming
# delta in place. A new activation is an enum value, a forward/derivative pair, a case
# in each loop below, a name in ACTIVATION_CODES and its Glorot factor
# (bpnet/_activations.pyx).
from cython cimport floating
from libc.math cimport M_SQRT1_2, erf, erff, exp, expf, expm1, expm1f, tanh, tanhf

from ._elementwise cimport bias_relu, relu_derivative
from ._numpy_math cimport numpy_exp, numpy_sum, numpy_tanh


cpdef enum Activation:
    IDENTITY = 0
    LOGISTIC = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4   # output layer only
    EXP = 5       # output layer only (Poisson)
    LEAKY_RELU = 6
    ELU = 7
    GELU = 8
    SILU = 9
    N_ACTIVATIONS = 10


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


# relu's pair is in C (bpnet/src/elementwise.c: bpnet_bias_relu_*, bpnet_relu_derivative_*).


cdef inline double leaky_slope() noexcept nogil:
    """leaky_relu's slope below 0."""
    return 0.01

cdef inline floating leaky_relu(floating z) noexcept nogil:
    return <floating> leaky_slope() * z if z < 0 else z

cdef inline floating leaky_relu_derivative(floating a, floating delta) noexcept nogil:
    # As for relu, the slope at 0 is the left one.
    return delta if a > 0 else <floating> leaky_slope() * delta


cdef inline floating elu(floating z) noexcept nogil:
    # alpha = 1: exp(z) - 1 below 0, computed without cancellation near 0.
    if z >= 0 or z != z:
        return z
    if floating is float:
        return expm1f(z)
    else:
        return expm1(z)

cdef inline floating elu_derivative(floating a, floating delta) noexcept nogil:
    # Below 0, d/dz (exp(z) - 1) = exp(z) = a + 1.
    return delta if a > 0 else delta * (a + 1)


cdef inline floating normal_cdf(floating z) noexcept nogil:
    if floating is float:
        return 0.5 * (1 + erff(z * <float> M_SQRT1_2))
    else:
        return 0.5 * (1 + erf(z * M_SQRT1_2))

cdef inline floating gelu(floating z) noexcept nogil:
    # The exact form z * Phi(z), with the normal CDF from erf (not the tanh approximation).
    return z * normal_cdf(z)

cdef inline floating gelu_derivative(floating z, floating delta) noexcept nogil:
    # Phi(z) + z phi(z), from the pre-activation z (0.39894... is 1 / sqrt(2 pi)).
    return delta * (normal_cdf(z) + z * <floating> 0.3989422804014327 * fexp(-0.5 * z * z))


cdef inline floating silu(floating z) noexcept nogil:
    return z * logistic(z)

cdef inline floating silu_derivative(floating z, floating delta) noexcept nogil:
    # sigma(z) (1 + z (1 - sigma(z))), from the pre-activation z.
    cdef floating s = logistic(z)
    return delta * (s * (1 + z * (1 - s)))


cdef inline bint needs_preactivation(int activation) noexcept nogil:
    """Whether the derivative needs z itself, not only the output f(z)."""
    return activation == Activation.GELU or activation == Activation.SILU


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


cdef inline void softmax_row_as_numpy(floating* row, Py_ssize_t n) noexcept nogil:
    """softmax as scikit-learn computes it with NumPy: exp(z - max) by NumPy's exp, the
    sum by NumPy's pairwise summation, then a division."""
    cdef Py_ssize_t j
    cdef floating row_max = row[0], total
    for j in range(1, n):
        if row[j] > row_max:
            row_max = row[j]
    for j in range(n):
        row[j] = row[j] - row_max
    numpy_exp(row, n)
    total = numpy_sum(row, n, 1)
    for j in range(n):
        row[j] = row[j] / total


cdef inline bint activate_as_numpy(const floating* intercept, int activation, floating* z,
                                   Py_ssize_t n_rows, Py_ssize_t n_cols) noexcept nogil:
    """add_bias_and_activate with NumPy's exp and tanh and its summation order, where the
    activation uses them; returns False (and does nothing) for the others. For whole,
    contiguous matrices (the full-batch paths)."""
    cdef Py_ssize_t i, j
    if (activation != Activation.TANH and activation != Activation.EXP
            and activation != Activation.SOFTMAX):
        return False
    for i in range(n_rows):
        for j in range(n_cols):
            z[i * n_cols + j] += intercept[j]
    if activation == Activation.TANH:
        numpy_tanh(z, n_rows * n_cols)
    elif activation == Activation.EXP:
        numpy_exp(z, n_rows * n_cols)
    else:
        for i in range(n_rows):
            softmax_row_as_numpy(z + i * n_cols, n_cols)
    return True


cdef inline void add_bias_and_activate(const floating* intercept, int activation, floating* z,
                                       floating* pre, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                       Py_ssize_t ld, bint numpy_order) noexcept nogil:
    """z[i, :n_cols] = f(z[i, :n_cols] + intercept) for the n_rows rows of z, `ld` apart.

    A block of columns of a wider layer has ld > n_cols; softmax, which needs whole rows,
    only ever sees ld == n_cols. When `pre` is not NULL (rows `ld` apart too) it receives
    z + intercept, before the activation (for the activations whose derivative needs it).
    With `numpy_order` (whole, contiguous matrices only), exp and tanh are NumPy's and the
    softmax is computed as scikit-learn does (activate_as_numpy). The activation is chosen
    outside the loops so that each loop stays simple enough to vectorise.
    """
    cdef Py_ssize_t i, j
    cdef floating* row
    if pre != NULL:
        for i in range(n_rows):
            for j in range(n_cols):
                pre[i * ld + j] = z[i * ld + j] + intercept[j]
    if numpy_order and activate_as_numpy(intercept, activation, z, n_rows, n_cols):
        return
    if activation == Activation.RELU:
        bias_relu(intercept, z, n_rows, n_cols, ld)
        return
    for i in range(n_rows):
        row = z + i * ld
        if activation == Activation.IDENTITY:
            for j in range(n_cols):
                row[j] += intercept[j]
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
        elif activation == Activation.LEAKY_RELU:
            for j in range(n_cols):
                row[j] = leaky_relu(row[j] + intercept[j])
        elif activation == Activation.ELU:
            for j in range(n_cols):
                row[j] = elu(row[j] + intercept[j])
        elif activation == Activation.GELU:
            for j in range(n_cols):
                row[j] = gelu(row[j] + intercept[j])
        elif activation == Activation.SILU:
            for j in range(n_cols):
                row[j] = silu(row[j] + intercept[j])


cdef inline void activation_derivative(int activation, const floating* a, const floating* z,
                                       floating* delta, Py_ssize_t n_rows, Py_ssize_t n_cols,
                                       Py_ssize_t ld) noexcept nogil:
    """delta *= f'(z) on n_rows rows of n_cols values `ld` apart (a, z and delta alike),
    computed from the stored outputs a = f(z), or from z itself for the activations that
    need_preactivation (z may be NULL for the others). IDENTITY's derivative is 1; SOFTMAX
    and EXP only appear on the output layer, whose delta is the loss's own gradient with
    respect to the raw output."""
    cdef Py_ssize_t i, j, at
    if (activation == Activation.IDENTITY or activation == Activation.SOFTMAX
            or activation == Activation.EXP):
        return
    if activation == Activation.RELU:
        relu_derivative(a, delta, n_rows, n_cols, ld)
        return
    for i in range(n_rows):
        at = i * ld
        if activation == Activation.TANH:
            for j in range(at, at + n_cols):
                delta[j] = tanh_derivative(a[j], delta[j])
        elif activation == Activation.LOGISTIC:
            for j in range(at, at + n_cols):
                delta[j] = logistic_derivative(a[j], delta[j])
        elif activation == Activation.LEAKY_RELU:
            for j in range(at, at + n_cols):
                delta[j] = leaky_relu_derivative(a[j], delta[j])
        elif activation == Activation.ELU:
            for j in range(at, at + n_cols):
                delta[j] = elu_derivative(a[j], delta[j])
        elif activation == Activation.GELU:
            for j in range(at, at + n_cols):
                delta[j] = gelu_derivative(z[j], delta[j])
        elif activation == Activation.SILU:
            for j in range(at, at + n_cols):
                delta[j] = silu_derivative(z[j], delta[j])
