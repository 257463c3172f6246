# The element-wise C loops of bpnet/src/elementwise.c, each behind one fused wrapper.
#
# The C functions exist once per value type; the wrappers pick the one that matches the
# `floating` specialisation they are compiled in. Matrices are row-major blocks of n_rows
# rows of n_cols values whose rows start `ld` values apart (see elementwise.h).
from cython cimport floating
from libc.stdint cimport uint32_t, uint64_t


cdef extern from "elementwise.h" nogil:
    void bias_relu_float "bpnet_bias_relu_float" (
        const float* intercept, float* z, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void bias_relu_double "bpnet_bias_relu_double" (
        const double* intercept, double* z, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void relu_derivative_float "bpnet_relu_derivative_float" (
        const float* a, float* delta, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void relu_derivative_double "bpnet_relu_derivative_double" (
        const double* a, double* delta, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void relu_dropout_delta_float "bpnet_relu_dropout_delta_float" (
        const float* dropped, float scale, float* delta, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void relu_dropout_delta_double "bpnet_relu_dropout_delta_double" (
        const double* dropped, double scale, double* delta, Py_ssize_t n_rows,
        Py_ssize_t n_cols, Py_ssize_t ld) noexcept
    void add_column_sums_float "bpnet_add_column_sums_float" (
        const float* rows, float* sums, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void add_column_sums_double "bpnet_add_column_sums_double" (
        const double* rows, double* sums, Py_ssize_t n_rows, Py_ssize_t n_cols,
        Py_ssize_t ld) noexcept
    void dropout_row_float "bpnet_dropout_row_float" (
        uint64_t key, Py_ssize_t unit, Py_ssize_t n, uint32_t threshold, float scale,
        const float* outputs, float* mask, float* dropped) noexcept
    void dropout_row_double "bpnet_dropout_row_double" (
        uint64_t key, Py_ssize_t unit, Py_ssize_t n, uint32_t threshold, double scale,
        const double* outputs, double* mask, double* dropped) noexcept
    void sgd_update_float "bpnet_sgd_update_float" (
        float* params, const float* grads, float* velocity, Py_ssize_t n, float alpha,
        float inverse_weight_sum, float learning_rate, float momentum, int nesterov,
        float decay) noexcept
    void sgd_update_double "bpnet_sgd_update_double" (
        double* params, const double* grads, double* velocity, Py_ssize_t n, double alpha,
        double inverse_weight_sum, double learning_rate, double momentum, int nesterov,
        double decay) noexcept
    void adam_update_float "bpnet_adam_update_float" (
        float* params, const float* grads, float* first_moment, float* second_moment,
        Py_ssize_t n, float alpha, float inverse_weight_sum, float step_size, double beta_1,
        double beta_2, float epsilon, float decay) noexcept
    void adam_update_double "bpnet_adam_update_double" (
        double* params, const double* grads, double* first_moment, double* second_moment,
        Py_ssize_t n, double alpha, double inverse_weight_sum, double step_size,
        double beta_1, double beta_2, double epsilon, double decay) noexcept


cdef inline void bias_relu(const floating* intercept, floating* z, Py_ssize_t n_rows,
                           Py_ssize_t n_cols, Py_ssize_t ld) noexcept nogil:
    """z = relu(z + intercept), row by row: relu's forward pass."""
    if floating is float:
        bias_relu_float(intercept, z, n_rows, n_cols, ld)
    else:
        bias_relu_double(intercept, z, n_rows, n_cols, ld)


cdef inline void relu_derivative(const floating* a, floating* delta, Py_ssize_t n_rows,
                                 Py_ssize_t n_cols, Py_ssize_t ld) noexcept nogil:
    """delta = 0 where relu's output a is 0: its derivative, beside it."""
    if floating is float:
        relu_derivative_float(a, delta, n_rows, n_cols, ld)
    else:
        relu_derivative_double(a, delta, n_rows, n_cols, ld)


cdef inline void relu_dropout_delta(const floating* dropped, floating scale, floating* delta,
                                    Py_ssize_t n_rows, Py_ssize_t n_cols,
                                    Py_ssize_t ld) noexcept nogil:
    """delta = delta * scale where the dropped relu output is nonzero, else 0."""
    if floating is float:
        relu_dropout_delta_float(dropped, scale, delta, n_rows, n_cols, ld)
    else:
        relu_dropout_delta_double(dropped, scale, delta, n_rows, n_cols, ld)


cdef inline void add_column_sums(const floating* rows, floating* sums, Py_ssize_t n_rows,
                                 Py_ssize_t n_cols, Py_ssize_t ld) noexcept nogil:
    """sums[j] += the sum of column j of the rows, row after row."""
    if floating is float:
        add_column_sums_float(rows, sums, n_rows, n_cols, ld)
    else:
        add_column_sums_double(rows, sums, n_rows, n_cols, ld)


cdef inline void dropout_row(uint64_t key, Py_ssize_t unit, Py_ssize_t n, uint32_t threshold,
                             floating scale, const floating* outputs, floating* mask,
                             floating* dropped) noexcept nogil:
    """Inverted dropout on units unit...unit+n-1 of one row (mask may be NULL)."""
    if floating is float:
        dropout_row_float(key, unit, n, threshold, scale, outputs, mask, dropped)
    else:
        dropout_row_double(key, unit, n, threshold, scale, outputs, mask, dropped)


cdef inline void sgd_update(floating* params, const floating* grads, floating* velocity,
                            Py_ssize_t n, floating alpha, floating inverse_weight_sum,
                            double learning_rate, double momentum, bint nesterov,
                            double decay) noexcept nogil:
    """Momentum or Nesterov step on n parameters, shrunk by decay times themselves."""
    if floating is float:
        sgd_update_float(params, grads, velocity, n, alpha, inverse_weight_sum,
                         <float> learning_rate, <float> momentum, nesterov, <float> decay)
    else:
        sgd_update_double(params, grads, velocity, n, alpha, inverse_weight_sum,
                          learning_rate, momentum, nesterov, decay)


cdef inline void adam_update(floating* params, const floating* grads, floating* first_moment,
                             floating* second_moment, Py_ssize_t n, floating alpha,
                             floating inverse_weight_sum, floating step_size, double beta_1,
                             double beta_2, double epsilon, double decay) noexcept nogil:
    """Adam step on n parameters, shrunk by decay times themselves."""
    if floating is float:
        adam_update_float(params, grads, first_moment, second_moment, n, alpha,
                          inverse_weight_sum, step_size, beta_1, beta_2, <float> epsilon,
                          <float> decay)
    else:
        adam_update_double(params, grads, first_moment, second_moment, n, alpha,
                           inverse_weight_sum, step_size, beta_1, beta_2, epsilon, decay)
