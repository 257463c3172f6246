# NumPy's own arithmetic, for the kernels that must reproduce it to the last bit.
#
# scikit-learn's MLP computes with NumPy: exp and tanh from NumPy's SIMD loops, sums by
# NumPy's pairwise summation. The full-batch (lbfgs) kernel follows the same operations so
# that L-BFGS, which amplifies last-bit differences, takes MLP's path.
from cython cimport floating


cdef floating pairwise_sum(const floating* a, Py_ssize_t n, Py_ssize_t stride) noexcept nogil

cdef void numpy_exp(floating* x, Py_ssize_t n) noexcept nogil

cdef void numpy_tanh(floating* x, Py_ssize_t n) noexcept nogil


cdef inline floating numpy_sum(const floating* a, Py_ssize_t n, Py_ssize_t stride) noexcept nogil:
    """What np.sum gives for n elements at a, a + stride, ...: a pairwise sum from +0.0."""
    return 0.0 + pairwise_sum(a, n, stride)
