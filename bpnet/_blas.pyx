# Fused float32/float64 wrappers over scipy.linalg.cython_blas, in row-major terms.
#
# scipy's BLAS is column-major and its declarations are not const-qualified: a row-major
# product C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T, and const
# is cast away only at the call.
from scipy.linalg.cython_blas cimport daxpy, ddot, dgemm, saxpy, sdot, sgemm


cdef void gemm(bint trans_a, bint trans_b, int m, int n, int k, floating alpha,
               const floating* a, int lda, const floating* b, int ldb,
               floating beta, floating* c, int ldc) noexcept nogil:
    """Row-major C (m x n) = alpha * op(A) op(B) + beta * C."""
    cdef char ta = b"T" if trans_a else b"N"
    cdef char tb = b"T" if trans_b else b"N"
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float*> b, &ldb, <float*> a, &lda,
              &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double*> b, &ldb, <double*> a, &lda,
              &beta, c, &ldc)


cdef void axpy(int n, floating alpha, const floating* x, floating* y) noexcept nogil:
    """y += alpha * x, unit strides."""
    cdef int one = 1
    if floating is float:
        saxpy(&n, &alpha, <float*> x, &one, y, &one)
    else:
        daxpy(&n, &alpha, <double*> x, &one, y, &one)


cdef floating dot(int n, const floating* x, const floating* y) noexcept nogil:
    """Inner product of two unit-stride vectors."""
    cdef int one = 1
    if floating is float:
        return sdot(&n, <float*> x, &one, <float*> y, &one)
    else:
        return ddot(&n, <double*> x, &one, <double*> y, &one)


# Test shims: Python-callable entries that tests compare with NumPy.

def gemm_py(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] a,
            const floating[:, ::1] b, double beta, floating[:, ::1] c):
    """C = alpha * op(A) op(B) + beta * C on C-contiguous arrays (for tests)."""
    cdef int m = c.shape[0], n = c.shape[1]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    if (b.shape[1] if trans_b else b.shape[0]) != k:
        raise ValueError("inner dimensions of op(A) and op(B) differ")
    if (a.shape[1] if trans_a else a.shape[0]) != m or (b.shape[0] if trans_b else b.shape[1]) != n:
        raise ValueError("C's shape does not match op(A) op(B)")
    with nogil:
        gemm(trans_a, trans_b, m, n, k, <floating> alpha, &a[0, 0], a.shape[1], &b[0, 0],
             b.shape[1], <floating> beta, &c[0, 0], n)


def axpy_py(double alpha, const floating[::1] x, floating[::1] y):
    """y += alpha * x (for tests)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError("x and y differ in length")
    axpy(x.shape[0], <floating> alpha, &x[0], &y[0])


def dot_py(const floating[::1] x, const floating[::1] y):
    """x . y (for tests)."""
    if x.shape[0] != y.shape[0]:
        raise ValueError("x and y differ in length")
    return dot(x.shape[0], &x[0], &y[0])
