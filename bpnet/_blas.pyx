# The kernels' matrix products: fused float32/float64 wrappers over
# scipy.linalg.cython_blas in row-major terms.
#
# scipy's BLAS is column-major and its declarations are not const-qualified: a row-major
# product C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T, and const
# is cast away only at the call.
from scipy.linalg.cython_blas cimport daxpy, ddot, dgemm, dgemv, saxpy, sdot, sgemm, sgemv

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


cdef floating strided_dot(int n, const floating* x, int incx, const floating* y,
                          int incy) noexcept nogil:
    """Inner product of two strided vectors."""
    if floating is float:
        return sdot(&n, <float*> x, &incx, <float*> y, &incy)
    else:
        return ddot(&n, <double*> x, &incx, <double*> y, &incy)


cdef void gemv(bint trans, int m, int n, const floating* a, int lda, const floating* x,
               int incx, floating* y, int incy) noexcept nogil:
    """Row-major y = op(A) x for an m x n matrix A (op(A) = A^T when `trans`)."""
    # Row-major A is the column-major n x m matrix A^T: transpose the flag.
    cdef char t = b"N" if trans else b"T"
    cdef floating one = 1, zero = 0
    if floating is float:
        sgemv(&t, &n, &m, &one, <float*> a, &lda, <float*> x, &incx, &zero, y, &incy)
    else:
        dgemv(&t, &n, &m, &one, <double*> a, &lda, <double*> x, &incx, &zero, y, &incy)


cdef void product(bint trans_a, bint trans_b, int m, int n, int k, const floating* a, int lda,
                  const floating* b, int ldb, floating* c, int ldc) noexcept nogil:
    """Row-major C (m x n) = op(A) op(B), with the BLAS routine NumPy's matmul picks.

    NumPy multiplies by ddot when C is 1 x 1, by a plain loop when the inner dimension is
    1, by gemv when C is a single row or column, and by gemm otherwise; each routine
    rounds differently, so reproducing NumPy's products to the last bit needs its choice.
    """
    cdef int i, j
    # Where row r / column r of op(A) and op(B) start, and the step along them.
    cdef int a_row_step = lda if not trans_a else 1     # between rows of op(A)
    cdef int a_col_step = 1 if not trans_a else lda     # along a row of op(A)
    cdef int b_row_step = ldb if not trans_b else 1     # along a column of op(B)
    cdef int b_col_step = 1 if not trans_b else ldb     # between columns of op(B)
    if m == 1 and n == 1:
        c[0] = strided_dot(k, a, a_col_step, b, b_row_step)
    elif k == 1:
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = 0
                c[i * ldc + j] += a[i * a_row_step] * b[j * b_col_step]
    elif m == 1:
        # C's row = op(B)^T (row of op(A)): B stored k x n (or n x k when trans_b).
        if not trans_b:
            gemv(True, k, n, b, ldb, a, a_col_step, c, 1)
        else:
            gemv(False, n, k, b, ldb, a, a_col_step, c, 1)
    elif n == 1:
        # C's column = op(A) (column of op(B)): A stored m x k (or k x m when trans_a).
        if not trans_a:
            gemv(False, m, k, a, lda, b, b_row_step, c, ldc)
        else:
            gemv(True, k, m, a, lda, b, b_row_step, c, ldc)
    else:
        gemm(trans_a, trans_b, m, n, k, <floating> 1, a, lda, b, ldb, <floating> 0, c, ldc)


# Test shims: Python-callable entries that tests compare with NumPy.

cdef int inner_dimension(bint trans_a, bint trans_b, const floating[:, ::1] a,
                         const floating[:, ::1] b, floating[:, ::1] c) except -1:
    """k of op(A) (m x k) op(B) (k x n), once the shapes are checked to fit C (m x n)."""
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    if (b.shape[1] if trans_b else b.shape[0]) != k:
        raise ValueError("inner dimensions of op(A) and op(B) differ")
    if ((a.shape[1] if trans_a else a.shape[0]) != c.shape[0]
            or (b.shape[0] if trans_b else b.shape[1]) != c.shape[1]):
        raise ValueError("C's shape does not match op(A) op(B)")
    return k


def gemm_py(bint trans_a, bint trans_b, double alpha, const floating[:, ::1] a,
            const floating[:, ::1] b, double beta, floating[:, ::1] c):
    """C = alpha * op(A) op(B) + beta * C on C-contiguous arrays (for tests)."""
    cdef int m = c.shape[0], n = c.shape[1]
    cdef int k = inner_dimension(trans_a, trans_b, a, b, c)
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


def product_py(bint trans_a, bint trans_b, const floating[:, ::1] a, const floating[:, ::1] b,
               floating[:, ::1] c):
    """C = op(A) op(B) with NumPy's choice of routine (for tests)."""
    cdef int m = c.shape[0], n = c.shape[1]
    cdef int k = inner_dimension(trans_a, trans_b, a, b, c)
    if m == 0 or n == 0 or k == 0:
        raise ValueError("empty products are not supported")
    with nogil:
        product(trans_a, trans_b, m, n, k, &a[0, 0], a.shape[1], &b[0, 0], b.shape[1],
                &c[0, 0], n)
