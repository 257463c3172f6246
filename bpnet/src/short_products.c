/* The short products declared in short_products.h, for float and double. */
#include "short_products.h"

#include <string.h>

#include "portable.h"

/* Output columns (or gradient rows) are taken this many at a time, their transposed
   weights (or sums) kept on the stack: at most BPNET_SHORT_SIDE x BPNET_SHORT_TILE
   values, 32 KB in double. */
#define BPNET_SHORT_TILE 256

/* The backward product: the weights of a tile of output columns are transposed once, so
   that the innermost loop runs along a row of out, contiguous in both operands. */
#define BPNET_DEFINE_SHORT_BACKPROP(T, S)                                                          \
    BPNET_CLONES void bpnet_short_backprop_##S(                                                    \
        const T *BPNET_RESTRICT delta, ptrdiff_t n_rows, ptrdiff_t k,                              \
        const T *BPNET_RESTRICT weights, ptrdiff_t n_cols, T *BPNET_RESTRICT out, ptrdiff_t ld)    \
    {                                                                                              \
        T transposed[BPNET_SHORT_SIDE * BPNET_SHORT_TILE];                                         \
        for (ptrdiff_t c0 = 0; c0 < n_cols; c0 += BPNET_SHORT_TILE) {                              \
            ptrdiff_t width = n_cols - c0 < BPNET_SHORT_TILE ? n_cols - c0 : BPNET_SHORT_TILE;     \
            for (ptrdiff_t c = 0; c < width; c++)                                                  \
                for (ptrdiff_t j = 0; j < k; j++)                                                  \
                    transposed[j * BPNET_SHORT_TILE + c] = weights[(c0 + c) * k + j];              \
            for (ptrdiff_t r = 0; r < n_rows; r++) {                                               \
                const T *d = delta + r * k;                                                        \
                T *o = out + r * ld + c0;                                                          \
                T d0 = d[0];                                                                       \
                for (ptrdiff_t c = 0; c < width; c++)                                              \
                    o[c] = d0 * transposed[c];                                                     \
                for (ptrdiff_t j = 1; j < k; j++) {                                                \
                    T dj = d[j];                                                                   \
                    const T *w = transposed + j * BPNET_SHORT_TILE;                                \
                    for (ptrdiff_t c = 0; c < width; c++)                                          \
                        o[c] += dj * w[c];                                                         \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* The weight gradient. With few outputs the sums of a tile of inputs are kept transposed
   on the stack (one row per output), so that the innermost loop runs along a row of
   inputs; with few inputs (and more outputs) it runs along a row of delta, adding into
   the gradient's rows in place. */
#define BPNET_DEFINE_SHORT_GRADIENT(T, S)                                                          \
    BPNET_CLONES void bpnet_short_gradient_##S(                                                    \
        const T *BPNET_RESTRICT inputs, ptrdiff_t ld_in, ptrdiff_t n_rows, ptrdiff_t n_in,         \
        const T *BPNET_RESTRICT delta, ptrdiff_t n_out, T *BPNET_RESTRICT grads, int zero)         \
    {                                                                                              \
        if (n_out < BPNET_SHORT_SIDE && n_out <= n_in) {                                           \
            T sums[BPNET_SHORT_SIDE * BPNET_SHORT_TILE];                                           \
            for (ptrdiff_t i0 = 0; i0 < n_in; i0 += BPNET_SHORT_TILE) {                            \
                ptrdiff_t width = n_in - i0 < BPNET_SHORT_TILE ? n_in - i0 : BPNET_SHORT_TILE;     \
                for (ptrdiff_t j = 0; j < n_out; j++)                                              \
                    for (ptrdiff_t i = 0; i < width; i++)                                          \
                        sums[j * BPNET_SHORT_TILE + i] =                                           \
                            zero ? (T)0 : grads[(i0 + i) * n_out + j];                             \
                for (ptrdiff_t r = 0; r < n_rows; r++) {                                           \
                    const T *x = inputs + r * ld_in + i0;                                          \
                    for (ptrdiff_t j = 0; j < n_out; j++) {                                        \
                        T dj = delta[r * n_out + j];                                               \
                        T *s = sums + j * BPNET_SHORT_TILE;                                        \
                        for (ptrdiff_t i = 0; i < width; i++)                                      \
                            s[i] += x[i] * dj;                                                     \
                    }                                                                              \
                }                                                                                  \
                for (ptrdiff_t i = 0; i < width; i++)                                              \
                    for (ptrdiff_t j = 0; j < n_out; j++)                                          \
                        grads[(i0 + i) * n_out + j] = sums[j * BPNET_SHORT_TILE + i];              \
            }                                                                                      \
            return;                                                                                \
        }                                                                                          \
        if (zero)                                                                                  \
            memset(grads, 0, (size_t)(n_in * n_out) * sizeof(T));                                  \
        for (ptrdiff_t r = 0; r < n_rows; r++) {                                                   \
            const T *x = inputs + r * ld_in;                                                       \
            const T *d = delta + r * n_out;                                                        \
            for (ptrdiff_t i = 0; i < n_in; i++) {                                                 \
                T xi = x[i];                                                                       \
                T *g = grads + i * n_out;                                                          \
                for (ptrdiff_t j = 0; j < n_out; j++)                                              \
                    g[j] += xi * d[j];                                                             \
            }                                                                                      \
        }                                                                                          \
    }

BPNET_DEFINE_SHORT_BACKPROP(float, float)
BPNET_DEFINE_SHORT_BACKPROP(double, double)
BPNET_DEFINE_SHORT_GRADIENT(float, float)
BPNET_DEFINE_SHORT_GRADIENT(double, double)
