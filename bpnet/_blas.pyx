# The kernels' matrix products: fused float32/float64 wrappers over
# scipy.linalg.cython_blas in row-major terms, and bpnet's own loops for short layers.
#
# scipy's BLAS is column-major and its declarations are not const-qualified: a row-major
# product C = op(A) op(B) is computed as the column-major C^T = op(B)^T op(A)^T, and const
# is cast away only at the call.
from scipy.linalg.cython_blas cimport daxpy, ddot, dgemm, dgemv, saxpy, sdot, sgemm, sgemv

cdef extern from *:
    """
    #include <math.h>

    /* out (n_rows x n) = a (n_rows x k) b (k x n), row-major and contiguous, for a short
       inner dimension k; with `zero_where` (n_rows x n, or NULL), out = 0 wherever
       zero_where is 0 (a relu layer's derivative, applied while the row is in
       registers rather than in another pass over memory). Every entry is one fused
       multiply-add chain over j = 0, 1, ..., k-1 starting from 0, and every version
       below (AVX-512, AVX2, plain C) gives the same bits: an FMA rounds once, whether an
       instruction or libm's fma(). That is the order of OpenBLAS's SkylakeX kernels for
       such k, so on such a CPU the results were BLAS's to the bit in every case checked
       but one: in float64, for b of over 192 columns not a multiple of 8 (a previous
       layer that wide), OpenBLAS rounds some entries otherwise, in the last bit. */
    #define BPNET_SHORT_PRODUCT_ARGS(T)                                                    \
        const T* __restrict a, Py_ssize_t n_rows, Py_ssize_t k, const T* __restrict b,     \
        Py_ssize_t n, const T* __restrict zero_where, T* __restrict out

    #define BPNET_DEFINE_SHORT_PRODUCT_C(NAME, T, FMA)                                     \
    static void NAME(BPNET_SHORT_PRODUCT_ARGS(T)) {                                        \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                                          \
            const T* ar = a + r * k;                                                       \
            for (Py_ssize_t i = 0; i < n; i++) {                                           \
                T sum = FMA(ar[0], b[i], (T) 0);                                           \
                for (Py_ssize_t j = 1; j < k; j++)                                         \
                    sum = FMA(ar[j], b[j * n + i], sum);                                   \
                out[r * n + i] =                                                           \
                    zero_where != NULL && zero_where[r * n + i] == 0 ? (T) 0 : sum;        \
            }                                                                              \
        }                                                                                  \
    }
    BPNET_DEFINE_SHORT_PRODUCT_C(bpnet_short_product_c_float, float, fmaf)
    BPNET_DEFINE_SHORT_PRODUCT_C(bpnet_short_product_c_double, double, fma)

    #if defined(__x86_64__) && defined(__GNUC__)
    #include <immintrin.h>
    #define BPNET_SHORT_PRODUCT_SIMD 1
    /* The lanes of a vector that hold the LEFT values still to go (none when LEFT <= 0). */
    #define BPNET_LANE_MASK(LEFT, LANES)                                                   \
        ((__mmask16) ((LEFT) <= 0 ? 0u : (LEFT) >= (LANES) ? (1u << (LANES)) - 1u          \
                                       : (1u << (LEFT)) - 1u))

    /* Four output rows by two vectors of columns at a time: eight independent chains,
       each loaded column vector used for four rows. Partial tiles (the last rows, the
       last columns) go through the same code: rows past the end repeat the last row and
       are not stored; columns past the end are masked off. */
    #define BPNET_SHORT_TILE_ROWS 4
    #define BPNET_DEFINE_SHORT_PRODUCT_AVX512(NAME, T, S, P, LANES)                        \
    __attribute__((target("avx512f"))) static void NAME(BPNET_SHORT_PRODUCT_ARGS(T)) {    \
        const __m512##S zero = _mm512_setzero_##P();                                       \
        for (Py_ssize_t r0 = 0; r0 < n_rows; r0 += BPNET_SHORT_TILE_ROWS) {                \
            const T* ar[BPNET_SHORT_TILE_ROWS];                                            \
            for (int t = 0; t < BPNET_SHORT_TILE_ROWS; t++)                                \
                ar[t] = a + (r0 + t < n_rows ? r0 + t : n_rows - 1) * k;                   \
            for (Py_ssize_t i = 0; i < n; i += 2 * LANES) {                                \
                __mmask16 m0 = BPNET_LANE_MASK(n - i, LANES);                              \
                __mmask16 m1 = BPNET_LANE_MASK(n - i - LANES, LANES);                      \
                __m512##S s[BPNET_SHORT_TILE_ROWS][2];                                     \
                __m512##S b0 = _mm512_maskz_loadu_##P(m0, b + i);                          \
                __m512##S b1 = _mm512_maskz_loadu_##P(m1, b + i + LANES);                  \
                for (int t = 0; t < BPNET_SHORT_TILE_ROWS; t++) {                          \
                    __m512##S x = _mm512_set1_##P(ar[t][0]);                               \
                    s[t][0] = _mm512_fmadd_##P(x, b0, zero);                               \
                    s[t][1] = _mm512_fmadd_##P(x, b1, zero);                               \
                }                                                                          \
                for (Py_ssize_t j = 1; j < k; j++) {                                       \
                    b0 = _mm512_maskz_loadu_##P(m0, b + j * n + i);                        \
                    b1 = _mm512_maskz_loadu_##P(m1, b + j * n + i + LANES);                \
                    for (int t = 0; t < BPNET_SHORT_TILE_ROWS; t++) {                      \
                        __m512##S x = _mm512_set1_##P(ar[t][j]);                           \
                        s[t][0] = _mm512_fmadd_##P(x, b0, s[t][0]);                        \
                        s[t][1] = _mm512_fmadd_##P(x, b1, s[t][1]);                        \
                    }                                                                      \
                }                                                                          \
                for (int t = 0; t < BPNET_SHORT_TILE_ROWS && r0 + t < n_rows; t++) {       \
                    T* o = out + (r0 + t) * n + i;                                         \
                    if (zero_where != NULL) {                                              \
                        const T* z = zero_where + (r0 + t) * n + i;                        \
                        s[t][0] = _mm512_mask_mov_##P(s[t][0], _mm512_cmp_##P##_mask(      \
                            _mm512_maskz_loadu_##P(m0, z), zero, _CMP_EQ_OQ) & m0, zero);  \
                        s[t][1] = _mm512_mask_mov_##P(s[t][1], _mm512_cmp_##P##_mask(      \
                            _mm512_maskz_loadu_##P(m1, z + LANES), zero, _CMP_EQ_OQ) & m1, \
                            zero);                                                         \
                    }                                                                      \
                    _mm512_mask_storeu_##P(o, m0, s[t][0]);                                \
                    _mm512_mask_storeu_##P(o + LANES, m1, s[t][1]);                        \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }
    BPNET_DEFINE_SHORT_PRODUCT_AVX512(bpnet_short_product_avx512_float, float, , ps, 16)
    BPNET_DEFINE_SHORT_PRODUCT_AVX512(bpnet_short_product_avx512_double, double, d, pd, 8)

    /* The same with AVX2 and FMA: two vectors at a time, the last columns in C. */
    #define BPNET_DEFINE_SHORT_PRODUCT_AVX2(NAME, T, S, P, LANES, FMA)                        \
    __attribute__((target("avx2,fma"))) static void NAME(BPNET_SHORT_PRODUCT_ARGS(T)) {   \
        const __m256##S zero = _mm256_setzero_##P();                                       \
        for (Py_ssize_t r = 0; r < n_rows; r++) {                                          \
            const T* ar = a + r * k;                                                       \
            const T* z = zero_where != NULL ? zero_where + r * n : NULL;                   \
            T* o = out + r * n;                                                            \
            Py_ssize_t i = 0;                                                              \
            for (; i + 2 * LANES <= n; i += 2 * LANES) {                                   \
                __m256##S x = _mm256_set1_##P(ar[0]);                                      \
                __m256##S s0 = _mm256_fmadd_##P(x, _mm256_loadu_##P(b + i), zero);        \
                __m256##S s1 = _mm256_fmadd_##P(x, _mm256_loadu_##P(b + i + LANES), zero); \
                for (Py_ssize_t j = 1; j < k; j++) {                                       \
                    const T* bj = b + j * n + i;                                           \
                    x = _mm256_set1_##P(ar[j]);                                            \
                    s0 = _mm256_fmadd_##P(x, _mm256_loadu_##P(bj), s0);                    \
                    s1 = _mm256_fmadd_##P(x, _mm256_loadu_##P(bj + LANES), s1);            \
                }                                                                          \
                if (zero_where != NULL) {                                                  \
                    s0 = _mm256_blendv_##P(s0, zero, _mm256_cmp_##P(                       \
                        _mm256_loadu_##P(z + i), zero, _CMP_EQ_OQ));                       \
                    s1 = _mm256_blendv_##P(s1, zero, _mm256_cmp_##P(                       \
                        _mm256_loadu_##P(z + i + LANES), zero, _CMP_EQ_OQ));               \
                }                                                                          \
                _mm256_storeu_##P(o + i, s0);                                              \
                _mm256_storeu_##P(o + i + LANES, s1);                                      \
            }                                                                              \
            for (; i < n; i++) {                                                           \
                T sum = FMA(ar[0], b[i], (T) 0);                                           \
                for (Py_ssize_t j = 1; j < k; j++)                                         \
                    sum = FMA(ar[j], b[j * n + i], sum);                                   \
                o[i] = zero_where != NULL && z[i] == 0 ? (T) 0 : sum;                      \
            }                                                                              \
        }                                                                                  \
    }
    BPNET_DEFINE_SHORT_PRODUCT_AVX2(bpnet_short_product_avx2_float, float, , ps, 8, fmaf)
    BPNET_DEFINE_SHORT_PRODUCT_AVX2(bpnet_short_product_avx2_double, double, d, pd, 4, fma)
    #endif

    /* Which versions this CPU runs: 0 plain C, 1 AVX2, 2 AVX-512. */
    static int bpnet_short_product_runs(int version) {
    #ifdef BPNET_SHORT_PRODUCT_SIMD
        if (version == 2) return __builtin_cpu_supports("avx512f");
        if (version == 1) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    #endif
        return version == 0;
    }

    /* Version `version` (-1: the best this CPU runs, chosen at each call from a flag the
       CPU check caches). */
    #ifdef BPNET_SHORT_PRODUCT_SIMD
    #define BPNET_SHORT_PRODUCT_SIMD_VERSIONS(T)                                           \
        if (version == 2 || (version < 0 && bpnet_short_product_runs(2))) {                \
            bpnet_short_product_avx512_##T(a, n_rows, k, b, n, zero_where, out);           \
            return;                                                                        \
        }                                                                                  \
        if (version == 1 || (version < 0 && bpnet_short_product_runs(1))) {                \
            bpnet_short_product_avx2_##T(a, n_rows, k, b, n, zero_where, out);             \
            return;                                                                        \
        }
    #else
    #define BPNET_SHORT_PRODUCT_SIMD_VERSIONS(T)
    #endif
    #define BPNET_DEFINE_SHORT_PRODUCT(NAME, T)                                            \
    static void NAME(int version, BPNET_SHORT_PRODUCT_ARGS(T)) {                           \
        BPNET_SHORT_PRODUCT_SIMD_VERSIONS(T)                                               \
        bpnet_short_product_c_##T(a, n_rows, k, b, n, zero_where, out);                    \
    }
    BPNET_DEFINE_SHORT_PRODUCT(bpnet_short_product_float, float)
    BPNET_DEFINE_SHORT_PRODUCT(bpnet_short_product_double, double)

    /* A layer's weight gradient g (k x n) = a^T d, where a (m x k, rows lda apart) holds
       the layer's inputs and d (m x n) its deltas, when k < 16 or n < 8; with `bias`
       (or NULL), bias[j] += the column sums of d as well, row after row. With
       `accumulate`, g += a^T d instead. Each entry of a^T d is the FMA chain over the
       rows r = 0, 1, ..., m-1 starting from 0, then added to g when accumulating. That
       is the order of OpenBLAS's SkylakeX kernels for batches of up to 384 rows (beyond
       that, and m k n over a million, OpenBLAS sums the rows in blocks, and its last
       bits can differ from these). The plain C loop defines the numbers; the AVX-512
       version gives the same values (with NaN on both sides of an accumulation, the
       NaN's sign can differ), with lanes along k when n < 8 (a short output layer) and
       along n otherwise (a layer of few inputs, whose intercepts' sums then come from
       the same loads). From 8 outputs up, with many inputs, OpenBLAS's kernel is the
       faster. */
    #define BPNET_SHORT_GRADIENT_ARGS(T)                                                   \
        const T* __restrict a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k,                 \
        const T* __restrict d, Py_ssize_t n, T* __restrict g, T* __restrict bias,          \
        int accumulate

    /* bias[j] += the column sums of d (m x n), each column added row after row. */
    #define BPNET_ADD_COLUMN_SUMS(d, m, n, bias)                                           \
        for (Py_ssize_t j_ = 0; j_ < (n); j_++) {                                          \
            for (Py_ssize_t r_ = 0; r_ < (m); r_++)                                        \
                (bias)[j_] = (bias)[j_] + (d)[r_ * (n) + j_];                              \
        }
    #define BPNET_DEFINE_SHORT_GRADIENT_C(NAME, T, FMA)                                    \
    static void NAME(BPNET_SHORT_GRADIENT_ARGS(T)) {                                       \
        for (Py_ssize_t i = 0; i < k; i++)                                                 \
            for (Py_ssize_t j = 0; j < n; j++) {                                           \
                T sum = 0;                                                                 \
                for (Py_ssize_t r = 0; r < m; r++)                                         \
                    sum = FMA(a[r * lda + i], d[r * n + j], sum);                          \
                g[i * n + j] = accumulate ? g[i * n + j] + sum : sum;                      \
            }                                                                              \
        if (bias != NULL)                                                                  \
            BPNET_ADD_COLUMN_SUMS(d, m, n, bias);                                          \
    }
    BPNET_DEFINE_SHORT_GRADIENT_C(bpnet_short_gradient_c_float, float, fmaf)
    BPNET_DEFINE_SHORT_GRADIENT_C(bpnet_short_gradient_c_double, double, fma)

    #ifdef BPNET_SHORT_PRODUCT_SIMD
    /* Each accumulator's chain waits on the previous row's FMA, so a pass keeps at
       least a dozen chains going: W vectors of lanes at a time, for up to NMAX columns
       of g (lanes along k) or up to RMAX rows of g (lanes along n). Lanes past the end
       are masked off, and a tile with no lanes left loads and stores nothing. */
    #define BPNET_SHORT_K_PASS(T, S, P, LANES, W, NMAX, FROM, TO)                          \
        for (Py_ssize_t i0 = (FROM); i0 < (TO); i0 += (W) * (LANES)) {                     \
            __mmask16 mi[W];                                                               \
            __m512##S acc[W][NMAX];                                                        \
            _Pragma("GCC unroll 4")                                                        \
            for (int w = 0; w < (W); w++) {                                                \
                mi[w] = BPNET_LANE_MASK(k - i0 - w * (LANES), LANES);                      \
                _Pragma("GCC unroll 15")                                                   \
                for (int j = 0; j < (NMAX); j++)                                           \
                    acc[w][j] = zero;                                                      \
            }                                                                              \
            for (Py_ssize_t r = 0; r < m; r++) {                                           \
                __m512##S x[W];                                                            \
                _Pragma("GCC unroll 4")                                                    \
                for (int w = 0; w < (W); w++)                                              \
                    x[w] = _mm512_maskz_loadu_##P(mi[w], a + r * lda + i0 + w * (LANES));  \
                const T* dr = d + r * n;                                                   \
                _Pragma("GCC unroll 15")                                                   \
                for (int j = 0; j < (NMAX); j++)                                           \
                    if (j < n) {                                                           \
                        __m512##S y = _mm512_set1_##P(dr[j]);                              \
                        _Pragma("GCC unroll 4")                                            \
                        for (int w = 0; w < (W); w++)                                      \
                            acc[w][j] = _mm512_fmadd_##P(x[w], y, acc[w][j]);              \
                    }                                                                      \
            }                                                                              \
            _Pragma("GCC unroll 4")                                                        \
            for (int w = 0; w < (W); w++) {                                                \
                T tile[NMAX][LANES];                                                       \
                Py_ssize_t left = k - i0 - w * (LANES);                                    \
                _Pragma("GCC unroll 15")                                                   \
                for (int j = 0; j < (NMAX); j++)                                           \
                    if (j < n)                                                             \
                        _mm512_storeu_##P(tile[j], acc[w][j]);                             \
                for (Py_ssize_t l = 0; l < left && l < (LANES); l++) {                     \
                    T* row = g + (i0 + w * (LANES) + l) * n;                               \
                    for (Py_ssize_t j = 0; j < n; j++)                                     \
                        row[j] = accumulate ? row[j] + tile[j][l] : tile[j][l];            \
                }                                                                          \
            }                                                                              \
        }
    #define BPNET_SHORT_N_PASS(T, S, P, LANES, W, RMAX, FROM, TO)                          \
        for (Py_ssize_t j0 = (FROM); j0 < (TO); j0 += (W) * (LANES)) {                     \
            __mmask16 mj[W];                                                               \
            _Pragma("GCC unroll 4")                                                        \
            for (int w = 0; w < (W); w++)                                                  \
                mj[w] = BPNET_LANE_MASK(n - j0 - w * (LANES), LANES);                      \
            for (Py_ssize_t i0 = 0; i0 < k; i0 += (RMAX)) {                                \
                Py_ssize_t rows = k - i0 < (RMAX) ? k - i0 : (RMAX);                       \
                int with_bias = bias != NULL && i0 == 0;                                   \
                __m512##S acc[W][RMAX], sums[W];                                           \
                _Pragma("GCC unroll 4")                                                    \
                for (int w = 0; w < (W); w++) {                                            \
                    _Pragma("GCC unroll 8")                                                \
                    for (int t = 0; t < (RMAX); t++)                                       \
                        acc[w][t] = zero;                                                  \
                    sums[w] = with_bias                                                    \
                        ? _mm512_maskz_loadu_##P(mj[w], bias + j0 + w * (LANES)) : zero;   \
                }                                                                          \
                for (Py_ssize_t r = 0; r < m; r++) {                                       \
                    __m512##S y[W];                                                        \
                    _Pragma("GCC unroll 4")                                                \
                    for (int w = 0; w < (W); w++)                                          \
                        y[w] = _mm512_maskz_loadu_##P(mj[w],                               \
                                                      d + r * n + j0 + w * (LANES));       \
                    const T* ar = a + r * lda + i0;                                        \
                    _Pragma("GCC unroll 8")                                                \
                    for (int t = 0; t < (RMAX); t++)                                       \
                        if (t < rows) {                                                    \
                            __m512##S x = _mm512_set1_##P(ar[t]);                          \
                            _Pragma("GCC unroll 4")                                        \
                            for (int w = 0; w < (W); w++)                                  \
                                acc[w][t] = _mm512_fmadd_##P(x, y[w], acc[w][t]);          \
                        }                                                                  \
                    if (with_bias) {                                                       \
                        _Pragma("GCC unroll 4")                                            \
                        for (int w = 0; w < (W); w++)                                      \
                            sums[w] = _mm512_add_##P(sums[w], y[w]);                       \
                    }                                                                      \
                }                                                                          \
                _Pragma("GCC unroll 4")                                                    \
                for (int w = 0; w < (W); w++) {                                            \
                    _Pragma("GCC unroll 8")                                                \
                    for (int t = 0; t < (RMAX); t++)                                       \
                        if (t < rows) {                                                    \
                            T* out = g + (i0 + t) * n + j0 + w * (LANES);                  \
                            __m512##S v = accumulate                                       \
                                ? _mm512_add_##P(_mm512_maskz_loadu_##P(mj[w], out),       \
                                                 acc[w][t])                                \
                                : acc[w][t];                                               \
                            _mm512_mask_storeu_##P(out, mj[w], v);                         \
                        }                                                                  \
                    if (with_bias)                                                         \
                        _mm512_mask_storeu_##P(bias + j0 + w * (LANES), mj[w], sums[w]);   \
                }                                                                          \
            }                                                                              \
        }
    /* Whole passes of W vectors over 0 ... END - 1, then the rest a vector at a time (a
       pass of W vectors over the last few values would spend most of its work on lanes
       masked off). */
    #define BPNET_SHORT_PASSES(PASS, T, S, P, LANES, W, MAX, END)                          \
        {                                                                                  \
            Py_ssize_t whole = (END) - (END) % ((W) * (LANES));                            \
            PASS(T, S, P, LANES, W, MAX, 0, whole)                                         \
            PASS(T, S, P, LANES, 1, MAX, whole, END)                                       \
        }
    #define BPNET_DEFINE_SHORT_GRADIENT_AVX512(NAME, T, S, P, LANES)                       \
    __attribute__((target("avx512f"))) static void NAME(BPNET_SHORT_GRADIENT_ARGS(T)) {   \
        const __m512##S zero = _mm512_setzero_##P();                                       \
        if (n < 8) {  /* lanes along k: a short output layer */                            \
            if (n <= 3) {                                                                  \
                BPNET_SHORT_PASSES(BPNET_SHORT_K_PASS, T, S, P, LANES, 4, 3, k)            \
            } else {                                                                       \
                BPNET_SHORT_PASSES(BPNET_SHORT_K_PASS, T, S, P, LANES, 2, 7, k)            \
            }                                                                              \
            if (bias != NULL)                                                              \
                BPNET_ADD_COLUMN_SUMS(d, m, n, bias);                                      \
        } else if (k <= 4) {  /* lanes along n: a layer of few inputs */                   \
            BPNET_SHORT_PASSES(BPNET_SHORT_N_PASS, T, S, P, LANES, 4, 4, n)                \
        } else {                                                                           \
            BPNET_SHORT_PASSES(BPNET_SHORT_N_PASS, T, S, P, LANES, 2, 8, n)                \
        }                                                                                  \
    }
    BPNET_DEFINE_SHORT_GRADIENT_AVX512(bpnet_short_gradient_avx512_float, float, , ps, 16)
    BPNET_DEFINE_SHORT_GRADIENT_AVX512(bpnet_short_gradient_avx512_double, double, d, pd, 8)
    #define BPNET_SHORT_GRADIENT_SIMD_VERSION(T)                                           \
        if (version == 2 || (version < 0 && bpnet_short_product_runs(2))) {                \
            bpnet_short_gradient_avx512_##T(a, lda, m, k, d, n, g, bias, accumulate);      \
            return;                                                                        \
        }
    #else
    #define BPNET_SHORT_GRADIENT_SIMD_VERSION(T)
    #endif
    /* Version 2 (AVX-512) or 0 (C); -1 for AVX-512 where the CPU has it. The kernels
       call it only then (short_gradient_is_fast): elsewhere BLAS is the faster. */
    #define BPNET_DEFINE_SHORT_GRADIENT(NAME, T)                                           \
    static void NAME(int version, BPNET_SHORT_GRADIENT_ARGS(T)) {                          \
        BPNET_SHORT_GRADIENT_SIMD_VERSION(T)                                               \
        bpnet_short_gradient_c_##T(a, lda, m, k, d, n, g, bias, accumulate);               \
    }
    BPNET_DEFINE_SHORT_GRADIENT(bpnet_short_gradient_float, float)
    BPNET_DEFINE_SHORT_GRADIENT(bpnet_short_gradient_double, double)
    """
    int short_product_runs "bpnet_short_product_runs" (int version) noexcept nogil
    void short_gradient_float "bpnet_short_gradient_float" (
        int version, const float* a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k,
        const float* d, Py_ssize_t n, float* g, float* bias, int accumulate) noexcept nogil
    void short_gradient_double "bpnet_short_gradient_double" (
        int version, const double* a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k,
        const double* d, Py_ssize_t n, double* g, double* bias, int accumulate) noexcept nogil
    void short_product_float "bpnet_short_product_float" (
        int version, const float* a, Py_ssize_t n_rows, Py_ssize_t k, const float* b,
        Py_ssize_t n, const float* zero_where, float* out) noexcept nogil
    void short_product_double "bpnet_short_product_double" (
        int version, const double* a, Py_ssize_t n_rows, Py_ssize_t k, const double* b,
        Py_ssize_t n, const double* zero_where, double* out) noexcept nogil


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


cdef void short_product(const floating* a, Py_ssize_t n_rows, Py_ssize_t k, const floating* b,
                        Py_ssize_t n, const floating* zero_where,
                        floating* out) noexcept nogil:
    """Row-major out = a b for k < SHORT_K (a: n_rows x k, b: k x n, out: n_rows x n, all
    contiguous), then out = 0 where `zero_where` is 0 unless it is NULL."""
    if floating is float:
        short_product_float(-1, a, n_rows, k, b, n, zero_where, out)
    else:
        short_product_double(-1, a, n_rows, k, b, n, zero_where, out)


cdef bint short_gradient_is_fast() noexcept nogil:
    """Whether layer_gradient takes short_gradient for short layers: where the CPU has
    AVX-512 (the plain C loop is slower than BLAS)."""
    return short_product_runs(2)


cdef void short_gradient(const floating* a, Py_ssize_t lda, Py_ssize_t m, Py_ssize_t k,
                         const floating* d, Py_ssize_t n, floating* g, floating* bias,
                         bint accumulate) noexcept nogil:
    """Row-major g (k x n) = a^T d (or += with `accumulate`) for k < SHORT_K or n < SHORT_N,
    where a is m x k with rows `lda` apart and d is m x n; bias += d's column sums unless
    `bias` is NULL."""
    if floating is float:
        short_gradient_float(-1, a, lda, m, k, d, n, g, bias, accumulate)
    else:
        short_gradient_double(-1, a, lda, m, k, d, n, g, bias, accumulate)


cdef void transpose(const floating* a, Py_ssize_t n_rows, Py_ssize_t n_cols,
                    floating* out) noexcept nogil:
    """out (n_cols x n_rows) = a^T for a row-major, contiguous a."""
    cdef Py_ssize_t i, j
    for i in range(n_rows):
        for j in range(n_cols):
            out[j * n_rows + i] = a[i * n_cols + j]


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


SHORT_PRODUCT_VERSIONS = ("c", "avx2", "avx512")


def short_product_versions():
    """The versions of the short-k product this CPU runs, best last (for tests)."""
    return [name for code, name in enumerate(SHORT_PRODUCT_VERSIONS) if short_product_runs(code)]


def short_product_py(const floating[:, ::1] a, const floating[:, ::1] b,
                     floating[:, ::1] out, zero_where=None, version=None):
    """out = a b, and 0 where `zero_where` is 0, through the short-k loop; `version` one
    of short_product_versions(), or None for the one the kernels use (for tests)."""
    cdef const floating[:, ::1] z
    cdef const floating* z_ptr = NULL
    cdef int code = -1 if version is None else SHORT_PRODUCT_VERSIONS.index(version)
    if a.shape[1] != b.shape[0] or out.shape[0] != a.shape[0] or out.shape[1] != b.shape[1]:
        raise ValueError("shapes do not fit out = a b")
    if not 0 < a.shape[1] < SHORT_K:
        raise ValueError(f"the inner dimension must be 1 to {SHORT_K - 1}")
    if code >= 0 and not short_product_runs(code):
        raise ValueError(f"this CPU does not run the {version} version")
    if zero_where is not None:
        z = zero_where
        if z.shape[0] != out.shape[0] or z.shape[1] != out.shape[1]:
            raise ValueError("zero_where's shape differs from out's")
        z_ptr = &z[0, 0]
    with nogil:
        if floating is float:
            short_product_float(code, &a[0, 0], a.shape[0], a.shape[1], &b[0, 0], b.shape[1],
                                z_ptr, &out[0, 0])
        else:
            short_product_double(code, &a[0, 0], a.shape[0], a.shape[1], &b[0, 0],
                                 b.shape[1], z_ptr, &out[0, 0])


def short_gradient_py(const floating[:, ::1] a, const floating[:, ::1] d, floating[:, ::1] g,
                      floating[::1] bias=None, bint accumulate=False, version=None):
    """g = a^T d (+= with `accumulate`), and bias += d's column sums unless None, through
    short_gradient; `version` "c", "avx512" (if the CPU runs it) or None (for tests)."""
    cdef int code = -1 if version is None else SHORT_PRODUCT_VERSIONS.index(version)
    if code == 1 or (code >= 0 and not short_product_runs(code)):
        raise ValueError(f"no {version} version of short_gradient on this CPU")
    if a.shape[0] != d.shape[0] or g.shape[0] != a.shape[1] or g.shape[1] != d.shape[1]:
        raise ValueError("shapes do not fit g = a^T d")
    if bias is not None and bias.shape[0] != d.shape[1]:
        raise ValueError("bias needs one entry per column of d")
    if min(a.shape[0], a.shape[1], d.shape[1]) == 0:
        raise ValueError("empty products are not supported")
    if a.shape[1] >= SHORT_K and d.shape[1] >= SHORT_N:
        raise ValueError(f"a^T d must have fewer than {SHORT_K} rows or {SHORT_N} columns")
    cdef floating* bias_ptr = &bias[0] if bias is not None else NULL
    with nogil:
        if floating is float:
            short_gradient_float(code, &a[0, 0], a.shape[1], a.shape[0], a.shape[1], &d[0, 0],
                                 d.shape[1], &g[0, 0], bias_ptr, accumulate)
        else:
            short_gradient_double(code, &a[0, 0], a.shape[1], a.shape[0], a.shape[1],
                                  &d[0, 0], d.shape[1], &g[0, 0], bias_ptr, accumulate)


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
