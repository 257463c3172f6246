# NumPy's exp, tanh and pairwise summation, callable without the GIL.
#
# exp and tanh are NumPy's own inner loops, looked up once at import in the ufuncs'
# tables of loops, so they give NumPy's results on whatever CPU NumPy chose its SIMD code
# for. The loops are pure functions of their arguments, safe to call from many threads.
# Those tables are NumPy's to change: where a loop cannot be found (a NumPy that
# registers it another way, say), bpnet's own loops over the C library's exp and tanh
# (src/libm_loops.h) take its place, and import still works. lbfgs then no longer computes
# to the bit as scikit-learn's MLP; USES_NUMPY_LOOPS says which loops are in use.
cimport numpy as cnp

import numpy as np

cnp.import_array()
cnp.import_ufunc()

ctypedef void (*UnaryLoop)(char** args, const cnp.npy_intp* dimensions,
                           const cnp.npy_intp* steps, void* data) noexcept nogil


cdef struct LoopEntry:
    UnaryLoop function
    void* data


cdef extern from "libm_loops.h" nogil:
    void libm_exp_double "bpnet_libm_exp_double" (
        char** args, const cnp.npy_intp* dimensions, const cnp.npy_intp* steps, void* data)
    void libm_exp_float "bpnet_libm_exp_float" (
        char** args, const cnp.npy_intp* dimensions, const cnp.npy_intp* steps, void* data)
    void libm_tanh_double "bpnet_libm_tanh_double" (
        char** args, const cnp.npy_intp* dimensions, const cnp.npy_intp* steps, void* data)
    void libm_tanh_float "bpnet_libm_tanh_float" (
        char** args, const cnp.npy_intp* dimensions, const cnp.npy_intp* steps, void* data)


cdef bint find_loop(object function, char type_code, LoopEntry* entry):
    """Fill entry with the ufunc's inner loop for one input and one output of
    type_code; False (entry untouched) if `function` has no such loop."""
    cdef cnp.ufunc ufunc
    cdef int i
    if not isinstance(function, cnp.ufunc):
        return False
    ufunc = <cnp.ufunc> function
    if ufunc.nin != 1 or ufunc.nout != 1 or ufunc.functions == NULL or ufunc.types == NULL:
        return False
    for i in range(ufunc.ntypes):
        if (ufunc.types[2 * i] == type_code and ufunc.types[2 * i + 1] == type_code
                and ufunc.functions[i] != NULL):
            entry.function = <UnaryLoop> ufunc.functions[i]
            entry.data = ufunc.data[i]
            return True
    return False


cdef LoopEntry EXP_DOUBLE = LoopEntry(libm_exp_double, NULL)
cdef LoopEntry EXP_FLOAT = LoopEntry(libm_exp_float, NULL)
cdef LoopEntry TANH_DOUBLE = LoopEntry(libm_tanh_double, NULL)
cdef LoopEntry TANH_FLOAT = LoopEntry(libm_tanh_float, NULL)


def _use_numpy_loops():
    """Take NumPy's exp and tanh loops where found; True if all four were."""
    global EXP_DOUBLE, EXP_FLOAT, TANH_DOUBLE, TANH_FLOAT
    cdef LoopEntry found[4]
    if not (find_loop(getattr(np, "exp", None), cnp.NPY_DOUBLE, &found[0])
            and find_loop(getattr(np, "exp", None), cnp.NPY_FLOAT, &found[1])
            and find_loop(getattr(np, "tanh", None), cnp.NPY_DOUBLE, &found[2])
            and find_loop(getattr(np, "tanh", None), cnp.NPY_FLOAT, &found[3])):
        return False  # all four from one source: bpnet's own
    EXP_DOUBLE, EXP_FLOAT, TANH_DOUBLE, TANH_FLOAT = found[0], found[1], found[2], found[3]
    return True


# Whether lbfgs computes exp and tanh with NumPy's own loops (and so can equal
# scikit-learn's MLP to the bit), or with bpnet's over the C library's.
USES_NUMPY_LOOPS = _use_numpy_loops()


cdef inline void run_in_place(const LoopEntry* loop, void* x, Py_ssize_t n,
                              Py_ssize_t itemsize) noexcept nogil:
    cdef char* args[2]
    cdef cnp.npy_intp dimensions[1]
    cdef cnp.npy_intp steps[2]
    if n <= 0:
        return
    args[0] = <char*> x
    args[1] = <char*> x
    dimensions[0] = n
    steps[0] = itemsize
    steps[1] = itemsize
    loop.function(args, dimensions, steps, loop.data)


cdef void numpy_exp(floating* x, Py_ssize_t n) noexcept nogil:
    """x[:n] = np.exp(x[:n]), in place."""
    if floating is double:
        run_in_place(&EXP_DOUBLE, x, n, sizeof(double))
    else:
        run_in_place(&EXP_FLOAT, x, n, sizeof(float))


cdef void numpy_tanh(floating* x, Py_ssize_t n) noexcept nogil:
    """x[:n] = np.tanh(x[:n]), in place."""
    if floating is double:
        run_in_place(&TANH_DOUBLE, x, n, sizeof(double))
    else:
        run_in_place(&TANH_FLOAT, x, n, sizeof(float))


cdef floating pairwise_sum(const floating* a, Py_ssize_t n, Py_ssize_t stride) noexcept nogil:
    """NumPy's pairwise summation: eight running sums over blocks of up to 128 elements,
    combined as a tree, the blocks themselves summed by halving."""
    cdef floating r[8]
    cdef floating total
    cdef Py_ssize_t i, j, half
    if n < 8:
        total = 0
        for i in range(n):
            total += a[i * stride]
        return total
    if n <= 128:
        for j in range(8):
            r[j] = a[j * stride]
        i = 8
        while i < n - n % 8:
            for j in range(8):
                r[j] += a[(i + j) * stride]
            i += 8
        total = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            total += a[i * stride]
            i += 1
        return total
    half = n // 2
    half -= half % 8
    return pairwise_sum(a, half, stride) + pairwise_sum(a + half * stride, n - half, stride)


# Test shims.

def pairwise_sum_py(const floating[::1] a):
    """np.sum(a) computed by the kernels' pairwise_sum (for tests)."""
    return numpy_sum(&a[0], a.shape[0], 1) if a.shape[0] else 0.0


def exp_py(floating[::1] x):
    """x = np.exp(x) in place, through NumPy's loop called from nogil code (for tests)."""
    with nogil:
        numpy_exp(&x[0], x.shape[0])


def tanh_py(floating[::1] x):
    """x = np.tanh(x) in place, through NumPy's loop called from nogil code (for tests)."""
    with nogil:
        numpy_tanh(&x[0], x.shape[0])
