# The kernels' matrix products: BLAS wrappers, in row-major terms, and short-layer loops.
from cython cimport floating


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* a, int lda, const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil

cdef void axpy(int n, floating alpha, const floating* x, floating* y) noexcept nogil

cdef floating dot(int n, const floating* x, const floating* y) noexcept nogil

cdef floating strided_dot(int n, const floating* x, int incx, const floating* y,
                          int incy) noexcept nogil

cdef void product(bint trans_a, bint trans_b, int m, int n, int k, const floating* a, int lda,
                  const floating* b, int ldb, floating* c, int ldc) noexcept nogil

# A product whose inner dimension is below SHORT_K runs as short_product, a loop per output
# row, rather than through BLAS: for so few terms a BLAS call costs more in setup than in
# arithmetic, and the loop can apply a relu mask while the row is in cache. Only layers
# whose transposed weights fit SHORT_K_MAX_WEIGHTS take it where it needs them transposed.
cdef enum:
    SHORT_K = 16
    SHORT_N = 8
    SHORT_K_MAX_WEIGHTS = 4096

cdef void short_product(const floating* a, Py_ssize_t n_rows, Py_ssize_t k, const floating* b,
                        Py_ssize_t n, const floating* zero_where,
                        floating* out) noexcept nogil

cdef void transpose(const floating* a, Py_ssize_t n_rows, Py_ssize_t n_cols,
                    floating* out) noexcept nogil

# The weight gradient of a layer with fewer than SHORT_K inputs or SHORT_N outputs, with
# the intercepts' column sums in the same pass; only where short_gradient_is_fast().
cdef bint short_gradient_is_fast() noexcept nogil

cdef void short_gradient(const floating* a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k,
                         const floating* d, Py_ssize_t n, floating* g, floating* bias,
                         bint accumulate) noexcept nogil
