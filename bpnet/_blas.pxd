# The kernels' matrix products: BLAS wrappers, in row-major terms.
from cython cimport floating


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* a, int lda, const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil

cdef void axpy(int n, floating alpha, const floating* x, floating* y) noexcept nogil

cdef floating dot(int n, const floating* x, const floating* y) noexcept nogil

cdef floating strided_dot(int n, const floating* x, int incx, const floating* y,
                          int incy) noexcept nogil

cdef void gemv(bint trans, int m, int n, const floating* a, int lda, const floating* x,
               int incx, floating* y, int incy) noexcept nogil

cdef void product(bint trans_a, bint trans_b, int m, int n, int k, const floating* a, int lda,
                  const floating* b, int ldb, floating* c, int ldc) noexcept nogil
