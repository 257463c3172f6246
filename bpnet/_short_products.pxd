# The short products of bpnet/src/short_products.c, each behind one fused wrapper: the
# backward product through a layer of few units and the weight gradient of a layer with
# few inputs or outputs, where a BLAS call costs more in set-up than the arithmetic.
from cython cimport floating


cdef extern from "short_products.h" nogil:
    Py_ssize_t SHORT_SIDE "BPNET_SHORT_SIDE"
    void short_backprop_float "bpnet_short_backprop_float" (
        const float* delta, Py_ssize_t n_rows, Py_ssize_t k, const float* weights,
        Py_ssize_t n_cols, float* out, Py_ssize_t ld, const float* relu) noexcept
    void short_backprop_double "bpnet_short_backprop_double" (
        const double* delta, Py_ssize_t n_rows, Py_ssize_t k, const double* weights,
        Py_ssize_t n_cols, double* out, Py_ssize_t ld, const double* relu) noexcept
    void short_gradient_float "bpnet_short_gradient_float" (
        const float* inputs, Py_ssize_t ld_in, Py_ssize_t n_rows, Py_ssize_t n_in,
        const float* delta, Py_ssize_t n_out, float* grads, int zero, float* bias) noexcept
    void short_gradient_double "bpnet_short_gradient_double" (
        const double* inputs, Py_ssize_t ld_in, Py_ssize_t n_rows, Py_ssize_t n_in,
        const double* delta, Py_ssize_t n_out, double* grads, int zero,
        double* bias) noexcept
    int short_vector_bytes "bpnet_short_vector_bytes" () noexcept
    # The same, with the vectors of a given width (for tests).
    void short_backprop_float_width "bpnet_short_backprop_float_width" (
        int vector_bytes, const float* delta, Py_ssize_t n_rows, Py_ssize_t k,
        const float* weights, Py_ssize_t n_cols, float* out, Py_ssize_t ld,
        const float* relu) noexcept
    void short_backprop_double_width "bpnet_short_backprop_double_width" (
        int vector_bytes, const double* delta, Py_ssize_t n_rows, Py_ssize_t k,
        const double* weights, Py_ssize_t n_cols, double* out, Py_ssize_t ld,
        const double* relu) noexcept
    void short_gradient_float_width "bpnet_short_gradient_float_width" (
        int vector_bytes, const float* inputs, Py_ssize_t ld_in, Py_ssize_t n_rows,
        Py_ssize_t n_in, const float* delta, Py_ssize_t n_out, float* grads,
        int zero, float* bias) noexcept
    void short_gradient_double_width "bpnet_short_gradient_double_width" (
        int vector_bytes, const double* inputs, Py_ssize_t ld_in, Py_ssize_t n_rows,
        Py_ssize_t n_in, const double* delta, Py_ssize_t n_out, double* grads,
        int zero, double* bias) noexcept


cdef inline void short_backprop(const floating* delta, Py_ssize_t n_rows, Py_ssize_t k,
                                const floating* weights, Py_ssize_t n_cols, floating* out,
                                Py_ssize_t ld, const floating* relu) noexcept nogil:
    """out (n_rows x n_cols, rows ld apart) = delta (n_rows x k) weights^T, weights being
    n_cols rows of k values; k < SHORT_SIDE. `relu`: NULL, or a relu layer's outputs laid
    out as out, whose zeros zero the entries (its derivative, fused)."""
    if floating is float:
        short_backprop_float(delta, n_rows, k, weights, n_cols, out, ld, relu)
    else:
        short_backprop_double(delta, n_rows, k, weights, n_cols, out, ld, relu)


cdef inline void short_gradient(const floating* inputs, Py_ssize_t ld_in, Py_ssize_t n_rows,
                                Py_ssize_t n_in, const floating* delta, Py_ssize_t n_out,
                                floating* grads, bint zero, floating* bias) noexcept nogil:
    """grads (n_in x n_out) += inputs^T delta over n_rows rows (set first to 0 when
    `zero`); n_in or n_out below SHORT_SIDE. `bias`: NULL, or the n_out bias gradients,
    which get delta's column sums as add_column_sums adds them (set first to 0 when
    `zero`)."""
    if floating is float:
        short_gradient_float(inputs, ld_in, n_rows, n_in, delta, n_out, grads, zero, bias)
    else:
        short_gradient_double(inputs, ld_in, n_rows, n_in, delta, n_out, grads, zero, bias)
