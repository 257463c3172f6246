/* The element-wise loops declared in elementwise.h, for float and double. */
#include "elementwise.h"

#include <math.h>

#include "counter_rng.h"
#include "portable.h"

/* Each loop is written once as a macro over the value type T and instantiated for float
   and double at the end of the file; SQRT is the square root of type T. */

#define BPNET_DEFINE_RELU(T, S)                                                                    \
    BPNET_CLONES void bpnet_bias_relu_##S(const T *BPNET_RESTRICT intercept, T *BPNET_RESTRICT z,  \
                                          ptrdiff_t n_rows, ptrdiff_t n_cols, ptrdiff_t ld)        \
    {                                                                                              \
        for (ptrdiff_t i = 0; i < n_rows; i++) {                                                   \
            T *row = z + i * ld;                                                                   \
            for (ptrdiff_t j = 0; j < n_cols; j++) {                                               \
                T v = row[j] + intercept[j];                                                       \
                row[j] = v < 0 ? (T)0 : v;                                                         \
            }                                                                                      \
        }                                                                                          \
    }                                                                                              \
    BPNET_CLONES void bpnet_relu_derivative_##S(const T *BPNET_RESTRICT a,                         \
                                                T *BPNET_RESTRICT delta, ptrdiff_t n_rows,         \
                                                ptrdiff_t n_cols, ptrdiff_t ld)                    \
    {                                                                                              \
        for (ptrdiff_t i = 0; i < n_rows; i++) {                                                   \
            const T *a_row = a + i * ld;                                                           \
            T *delta_row = delta + i * ld;                                                         \
            for (ptrdiff_t j = 0; j < n_cols; j++)                                                 \
                delta_row[j] = a_row[j] == 0 ? (T)0 : delta_row[j];                                \
        }                                                                                          \
    }                                                                                              \
    BPNET_CLONES void bpnet_relu_dropout_delta_##S(const T *BPNET_RESTRICT dropped, T scale,       \
                                                   T *BPNET_RESTRICT delta, ptrdiff_t n_rows,      \
                                                   ptrdiff_t n_cols, ptrdiff_t ld)                 \
    {                                                                                              \
        for (ptrdiff_t i = 0; i < n_rows; i++) {                                                   \
            const T *dropped_row = dropped + i * ld;                                               \
            T *delta_row = delta + i * ld;                                                         \
            for (ptrdiff_t j = 0; j < n_cols; j++)                                                 \
                delta_row[j] = dropped_row[j] != (T)0 ? delta_row[j] * scale : (T)0;               \
        }                                                                                          \
    }

#define BPNET_DEFINE_COLUMN_SUMS(T, S)                                                             \
    BPNET_CLONES void bpnet_add_column_sums_##S(const T *BPNET_RESTRICT rows,                      \
                                                T *BPNET_RESTRICT sums, ptrdiff_t n_rows,          \
                                                ptrdiff_t n_cols, ptrdiff_t ld)                    \
    {                                                                                              \
        for (ptrdiff_t r = 0; r < n_rows; r++)                                                     \
            for (ptrdiff_t j = 0; j < n_cols; j++)                                                 \
                sums[j] += rows[r * ld + j];                                                       \
    }

/* Draws are made a chunk of units at a time, on the stack. */
#define BPNET_DROPOUT_CHUNK 256

#define BPNET_DEFINE_DROPOUT_ROW(T, S)                                                             \
    BPNET_CLONES void bpnet_dropout_row_##S(                                                       \
        uint64_t key, ptrdiff_t unit, ptrdiff_t n, uint32_t threshold, T scale,                    \
        const T *BPNET_RESTRICT outputs, T *BPNET_RESTRICT mask, T *BPNET_RESTRICT dropped)        \
    {                                                                                              \
        uint16_t draws[BPNET_DROPOUT_CHUNK + 8];                                                   \
        for (ptrdiff_t start = 0; start < n; start += BPNET_DROPOUT_CHUNK) {                       \
            ptrdiff_t m = n - start < BPNET_DROPOUT_CHUNK ? n - start : BPNET_DROPOUT_CHUNK;       \
            ptrdiff_t first = (unit + start) >> 2, last = (unit + start + m - 1) >> 2;             \
            const uint16_t *own = draws + ((unit + start) & 3);                                    \
            for (ptrdiff_t g = first; g <= last; g++) {                                            \
                uint64_t bits = bpnet_unit_group_bits(key, g);                                     \
                uint16_t *at = draws + 4 * (g - first);                                            \
                at[0] = (uint16_t)bits;                                                            \
                at[1] = (uint16_t)(bits >> 16);                                                    \
                at[2] = (uint16_t)(bits >> 32);                                                    \
                at[3] = (uint16_t)(bits >> 48);                                                    \
            }                                                                                      \
            if (mask != NULL) {                                                                    \
                for (ptrdiff_t i = 0; i < m; i++) {                                                \
                    T kept = ((int)own[i] >= (int)threshold) ? scale : (T)0;                       \
                    mask[start + i] = kept;                                                        \
                    dropped[start + i] = outputs[start + i] * kept;                                \
                }                                                                                  \
            } else {                                                                               \
                for (ptrdiff_t i = 0; i < m; i++) {                                                \
                    T kept = ((int)own[i] >= (int)threshold) ? scale : (T)0;                       \
                    dropped[start + i] = outputs[start + i] * kept;                                \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

/* The optimizer steps carry no reduction, so that they vectorise; the squared norms the
   caller needs come from BLAS dot products afterwards. A nonzero `decay` (the rate times
   the decoupled weight decay) also shrinks each parameter by that share of itself, in
   the same pass; without it the loops are the plain steps, to the bit. */
#define BPNET_DEFINE_UPDATES(T, S, SQRT)                                                           \
    BPNET_CLONES void bpnet_sgd_update_##S(                                                        \
        T *BPNET_RESTRICT params, const T *BPNET_RESTRICT grads, T *BPNET_RESTRICT velocity,       \
        ptrdiff_t n, T alpha, T inverse_weight_sum, T learning_rate, T momentum, int nesterov,     \
        T decay)                                                                                   \
    {                                                                                              \
        for (ptrdiff_t i = 0; i < n; i++) {                                                        \
            T grad = (grads[i] + alpha * params[i]) * inverse_weight_sum;                          \
            T step = momentum * velocity[i] - learning_rate * grad;                                \
            velocity[i] = step;                                                                    \
            if (nesterov)                                                                          \
                step = momentum * step - learning_rate * grad;                                     \
            params[i] = (decay != 0 ? params[i] - decay * params[i] : params[i]) + step;           \
        }                                                                                          \
    }                                                                                              \
    BPNET_CLONES void bpnet_adam_update_##S(                                                       \
        T *BPNET_RESTRICT params, const T *BPNET_RESTRICT grads, T *BPNET_RESTRICT first_moment,   \
        T *BPNET_RESTRICT second_moment, ptrdiff_t n, T alpha, T inverse_weight_sum, T step_size,  \
        double beta_1, double beta_2, T epsilon, T decay)                                          \
    {                                                                                              \
        const T b1 = (T)beta_1, b2 = (T)beta_2;                                                    \
        const T one_minus_b1 = (T)(1.0 - beta_1), one_minus_b2 = (T)(1.0 - beta_2);                \
        for (ptrdiff_t i = 0; i < n; i++) {                                                        \
            T grad = (grads[i] + alpha * params[i]) * inverse_weight_sum;                          \
            T m = b1 * first_moment[i] + one_minus_b1 * grad;                                      \
            T v = b2 * second_moment[i] + one_minus_b2 * (grad * grad);                            \
            first_moment[i] = m;                                                                   \
            second_moment[i] = v;                                                                  \
            params[i] = (decay != 0 ? params[i] - decay * params[i] : params[i]) +                 \
                        ((-step_size) * m) / (SQRT(v) + epsilon);                                  \
        }                                                                                          \
    }

BPNET_DEFINE_RELU(float, float)
BPNET_DEFINE_RELU(double, double)
BPNET_DEFINE_COLUMN_SUMS(float, float)
BPNET_DEFINE_COLUMN_SUMS(double, double)
BPNET_DEFINE_DROPOUT_ROW(float, float)
BPNET_DEFINE_DROPOUT_ROW(double, double)
/* sqrtf keeps float32 in float32, as NumPy does. */
BPNET_DEFINE_UPDATES(float, float, sqrtf)
BPNET_DEFINE_UPDATES(double, double, sqrt)
