# Declarations of the per-layer kernels shared by the epoch loop and the full-batch paths.
from cython cimport floating


cpdef enum Activation:
    IDENTITY = 0
    LOGISTIC = 1
    TANH = 2
    RELU = 3
    SOFTMAX = 4   # output layer only
    EXP = 5       # output layer only (Poisson)


cpdef enum Loss:
    SQUARED_ERROR = 0     # identity output
    LOG_LOSS = 1          # softmax output, one-hot targets
    BINARY_LOG_LOSS = 2   # logistic outputs, one independent binary target each
    POISSON = 3           # exp output, half Poisson deviance


# One dense layer. Its weights live in the network's flat parameter vector: the
# (fan_in, fan_out) row-major coefficient block at coef_offset and the fan_out intercepts
# at intercept_offset. A layer carries its own activation.
ctypedef struct Layer:
    Py_ssize_t fan_in
    Py_ssize_t fan_out
    Py_ssize_t coef_offset
    Py_ssize_t intercept_offset
    int activation


# The rows fed to the first layer: either `n_rows` dense C-contiguous rows at `dense`, or
# CSR rows given by `rows` (or, when `rows` is NULL, rows row_start...row_start+n_rows-1).
# The value pointers are untyped because a struct cannot be fused; every reader casts them
# to the `floating` type of the function it is in.
ctypedef struct RowBlock:
    const void* dense
    const void* csr_data
    const int* csr_indices
    const int* csr_indptr
    const Py_ssize_t* rows
    Py_ssize_t row_start
    Py_ssize_t n_rows


cdef Layer* layers_from_table(const Py_ssize_t[:, ::1] table, Py_ssize_t n_params) except NULL

cdef Py_ssize_t total_width(const Layer* layers, Py_ssize_t n_layers) noexcept nogil

cdef Py_ssize_t max_width(const Layer* layers, Py_ssize_t n_layers) noexcept nogil

cdef floating* layer_output(const Layer* layers, Py_ssize_t index, floating* acts,
                           Py_ssize_t n_rows, Py_ssize_t row) noexcept nogil

cdef void forward_network(const Layer* layers, Py_ssize_t n_layers, const floating* params,
                          RowBlock block, Py_ssize_t batch_rows, Py_ssize_t row_offset,
                          floating* acts) noexcept nogil

cdef double loss_and_delta(int loss, const floating* prob, const floating* y,
                           const floating* sample_weight, Py_ssize_t n_rows,
                           Py_ssize_t n_outputs, floating* delta) noexcept nogil

cdef double forward_and_deltas(const Layer* layers, Py_ssize_t n_layers, int loss,
                               const floating* params, RowBlock block, Py_ssize_t batch_rows,
                               Py_ssize_t row_offset, const floating* y,
                               const floating* sample_weight, floating* acts,
                               floating* deltas) noexcept nogil

cdef void layer_gradient(const Layer* layer, RowBlock inputs, const floating* delta,
                         floating* grads, Py_ssize_t in_start, Py_ssize_t in_stop,
                         bint with_intercepts, bint accumulate) noexcept nogil

cdef RowBlock layer_inputs(const Layer* layers, Py_ssize_t index, RowBlock block,
                           floating* acts) noexcept nogil

cdef double forward_backward(const Layer* layers, Py_ssize_t n_layers, int loss,
                             const floating* params, RowBlock block, const floating* y,
                             const floating* sample_weight, floating* acts,
                             floating* deltas, floating* grads, bint accumulate) noexcept nogil

cdef RowBlock make_block(const floating[:, ::1] X, const floating[::1] X_data,
                         const int[::1] X_indices, const int[::1] X_indptr,
                         Py_ssize_t row_start, Py_ssize_t n_rows) noexcept nogil

cdef bint signal_pending() noexcept nogil

cdef Py_ssize_t n_input_rows(const floating[:, ::1] X, const int[::1] X_indptr) noexcept nogil
