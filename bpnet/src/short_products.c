/* The short products declared in short_products.h, for float and double.

   Both are written as register tiles: a tile of up to 4 lines by up to 4 vectors of
   results is summed in local vectors, which the compiler keeps in registers, over the
   whole short side (or all the rows), and stored once. Only the operands are read per
   step, so the loops run at the speed of the multiply-adds rather than of loads and
   stores into the results. A tile holds at least four independent sums of vectors (two
   or four vectors a line where it has fewer than four lines), so that a step need not
   wait for the previous step's add.

   The vectors are GCC's and clang's vector extensions, of the CPU's register width:
   every function is built for vectors of 16 bytes (SSE2, NEON), and where
   BPNET_X86_LEVELS says so, of 32 (AVX2) and 64 (AVX-512) too, the widest the CPU has
   chosen per call. Each accumulator is a variable of its own, never an array element,
   which compilers can keep in a register. A compiler without vector extensions (MSVC)
   runs the same tiles one value wide. Each result is the same sum in the same order
   whatever the tiling, the vector width or the range a call is given, with a multiply
   and an add rounded apart (setup.py turns contraction off), so the bits never depend
   on them. */
#include "short_products.h"

#include <stdint.h>
#include <string.h>

#include "elementwise.h"
#include "portable.h"

/* Output columns (or gradient rows) are taken this many at a time, their transposed
   weights kept on the stack: at most BPNET_SHORT_SIDE x BPNET_SHORT_TILE values, 32 KB in
   double. */
#define BPNET_SHORT_TILE 256

/* How many vectors a line of a tile of 4, 3, 2 and 1 lines takes: 8, 6, 8 and 4 sums. */
#define BPNET_UNITS_4 2
#define BPNET_UNITS_3 2
#define BPNET_UNITS_2 4
#define BPNET_UNITS_1 4

#if BPNET_HAVE_VECTORS
/* bpnet_<type>_x<n>: a vector of n values of the type. BPNET_VT_<type>_<bytes> names the
   vector of that many bytes; BPNET_HALF_ and BPNET_QUARTER_ the vectors of a half and a
   quarter of it (the type itself where that is less than 16 bytes). */
typedef float bpnet_float_x16 BPNET_VECTOR(64);
typedef float bpnet_float_x8 BPNET_VECTOR(32);
typedef float bpnet_float_x4 BPNET_VECTOR(16);
typedef double bpnet_double_x8 BPNET_VECTOR(64);
typedef double bpnet_double_x4 BPNET_VECTOR(32);
typedef double bpnet_double_x2 BPNET_VECTOR(16);
#define BPNET_VT_float_64 bpnet_float_x16
#define BPNET_VT_float_32 bpnet_float_x8
#define BPNET_VT_float_16 bpnet_float_x4
#define BPNET_VT_double_64 bpnet_double_x8
#define BPNET_VT_double_32 bpnet_double_x4
#define BPNET_VT_double_16 bpnet_double_x2
#define BPNET_HALF_float_64 bpnet_float_x8
#define BPNET_HALF_float_32 bpnet_float_x4
#define BPNET_HALF_float_16 float
#define BPNET_HALF_double_64 bpnet_double_x4
#define BPNET_HALF_double_32 bpnet_double_x2
#define BPNET_HALF_double_16 double
#define BPNET_QUARTER_float_64 bpnet_float_x4
#define BPNET_QUARTER_float_32 float
#define BPNET_QUARTER_float_16 float
#define BPNET_QUARTER_double_64 bpnet_double_x2
#define BPNET_QUARTER_double_32 double
#define BPNET_QUARTER_double_16 double

/* bpnet_keep_<VT>(x, relu, out): stores to `out` the values of *x where the relu
   outputs at `relu` (one per value) are not 0, and 0 where they are, as
   bpnet_relu_derivative; a vector compare and a bitwise and, so that no value is
   selected one at a time. */
#define BPNET_DEFINE_KEEP(VT, T, IT)                                                               \
    static inline void bpnet_keep_##VT(const VT *x, const T *relu, T *out)                         \
    {                                                                                              \
        typedef IT mask_t_ BPNET_VECTOR(sizeof(VT));                                               \
        VT r_, zero_ = {0};                                                                        \
        memcpy(&r_, relu, sizeof(VT));                                                             \
        mask_t_ kept_ = (mask_t_)(*x) & (mask_t_)(r_ != zero_);                                    \
        memcpy(out, &kept_, sizeof(VT));                                                           \
    }
BPNET_DEFINE_KEEP(bpnet_float_x4, float, int32_t)
BPNET_DEFINE_KEEP(bpnet_double_x2, double, int64_t)
#if BPNET_X86_LEVELS
BPNET_DEFINE_KEEP(bpnet_float_x16, float, int32_t)
BPNET_DEFINE_KEEP(bpnet_float_x8, float, int32_t)
BPNET_DEFINE_KEEP(bpnet_double_x8, double, int64_t)
BPNET_DEFINE_KEEP(bpnet_double_x4, double, int64_t)
#endif
#endif
static inline void bpnet_keep_float(const float *x, const float *relu, float *out)
{
    *out = *relu == 0 ? 0 : *x;
}
static inline void bpnet_keep_double(const double *x, const double *relu, double *out)
{
    *out = *relu == 0 ? 0 : *x;
}

/* A tile of L lines (1 to 4) by M vectors (1 to 4) of NV values each, VT being T (NV =
   1) or a vector of NV T: sum (l, m) is INIT's start plus, over s < n_steps in order,
   a[s * a_step + m * NV + v] * b[l * b_line + s * b_step]; STORE stores it.
   INIT(VT, T, NV, l, m, acc) sets sum (l, m), STORE(VT, T, NV, l, m, acc) stores it.
   Every sum is a variable of its own (accLM_), those beyond L lines or M vectors unused.
   With SUMS (1, not 0), the tile also adds up its operand a's rows, as
   bpnet_add_column_sums does: sums[m * NV + v] = (sums_zero ? 0 : sums[m * NV + v]) +
   a[m * NV + v] + a[a_step + m * NV + v] + ..., row after row (sumM_). */
#define BPNET_ACC_INIT(VT, T, NV, L, M, l, m, INIT)                                                \
    if ((L) > (l) && (M) > (m))                                                                    \
    INIT(VT, T, NV, l, m, acc##l##m##_)
#define BPNET_ACC_LOAD(VT, NV, M, m)                                                               \
    if ((M) > (m))                                                                                 \
    memcpy(&a##m##_, as_ + (m) * (NV), sizeof(VT))
#define BPNET_ACC_STEP(L, M, l, m, b_line)                                                         \
    if ((L) > (l) && (M) > (m))                                                                    \
    acc##l##m##_ += a##m##_ * bs_[(l) * (b_line)]
#define BPNET_ACC_STORE(VT, T, NV, L, M, l, m, STORE)                                              \
    if ((L) > (l) && (M) > (m))                                                                    \
    STORE(VT, T, NV, l, m, acc##l##m##_)
#define BPNET_SUM_INIT(VT, T, NV, SUMS, M, m, sums, sums_zero)                                     \
    if ((SUMS) && (M) > (m)) {                                                                     \
        T start_[NV];                                                                              \
        for (ptrdiff_t v_ = 0; v_ < (NV); v_++)                                                    \
            start_[v_] = (sums_zero) ? 0 : (sums)[(m) * (NV) + v_];                                \
        memcpy(&sum##m##_, start_, sizeof(VT));                                                    \
    }
#define BPNET_SUM_STEP(SUMS, M, m)                                                                 \
    if ((SUMS) && (M) > (m))                                                                       \
    sum##m##_ += a##m##_
#define BPNET_SUM_STORE(VT, T, NV, SUMS, M, m, sums)                                               \
    if ((SUMS) && (M) > (m)) {                                                                     \
        T done_[NV];                                                                               \
        memcpy(done_, &sum##m##_, sizeof(VT));                                                     \
        for (ptrdiff_t v_ = 0; v_ < (NV); v_++)                                                    \
            (sums)[(m) * (NV) + v_] = done_[v_];                                                   \
    }
#define BPNET_REGISTER_TILE(VT, T, L, M, NV, n_steps, a, a_step, b, b_line, b_step, INIT, STORE,   \
                            SUMS, sums, sums_zero)                                                 \
    do {                                                                                           \
        VT acc00_ = {0}, acc01_ = {0}, acc02_ = {0}, acc03_ = {0};                                 \
        VT acc10_ = {0}, acc11_ = {0}, acc12_ = {0}, acc13_ = {0};                                 \
        VT acc20_ = {0}, acc21_ = {0}, acc22_ = {0}, acc23_ = {0};                                 \
        VT acc30_ = {0}, acc31_ = {0}, acc32_ = {0}, acc33_ = {0};                                 \
        VT sum0_ = {0}, sum1_ = {0}, sum2_ = {0}, sum3_ = {0};                                     \
        BPNET_ACC_INIT(VT, T, NV, L, M, 0, 0, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 0, 1, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 0, 2, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 0, 3, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 1, 0, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 1, 1, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 1, 2, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 1, 3, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 2, 0, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 2, 1, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 2, 2, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 2, 3, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 3, 0, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 3, 1, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 3, 2, INIT);                                               \
        BPNET_ACC_INIT(VT, T, NV, L, M, 3, 3, INIT);                                               \
        BPNET_SUM_INIT(VT, T, NV, SUMS, M, 0, sums, sums_zero);                                    \
        BPNET_SUM_INIT(VT, T, NV, SUMS, M, 1, sums, sums_zero);                                    \
        BPNET_SUM_INIT(VT, T, NV, SUMS, M, 2, sums, sums_zero);                                    \
        BPNET_SUM_INIT(VT, T, NV, SUMS, M, 3, sums, sums_zero);                                    \
        for (ptrdiff_t s_ = 0; s_ < (n_steps); s_++) {                                             \
            VT a0_, a1_, a2_, a3_;                                                                 \
            const T *as_ = (a) + s_ * (a_step);                                                    \
            const T *bs_ = (b) + s_ * (b_step);                                                    \
            BPNET_ACC_LOAD(VT, NV, M, 0);                                                          \
            BPNET_ACC_LOAD(VT, NV, M, 1);                                                          \
            BPNET_ACC_LOAD(VT, NV, M, 2);                                                          \
            BPNET_ACC_LOAD(VT, NV, M, 3);                                                          \
            BPNET_ACC_STEP(L, M, 0, 0, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 0, 1, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 0, 2, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 0, 3, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 1, 0, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 1, 1, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 1, 2, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 1, 3, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 2, 0, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 2, 1, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 2, 2, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 2, 3, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 3, 0, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 3, 1, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 3, 2, b_line);                                                    \
            BPNET_ACC_STEP(L, M, 3, 3, b_line);                                                    \
            BPNET_SUM_STEP(SUMS, M, 0);                                                            \
            BPNET_SUM_STEP(SUMS, M, 1);                                                            \
            BPNET_SUM_STEP(SUMS, M, 2);                                                            \
            BPNET_SUM_STEP(SUMS, M, 3);                                                            \
        }                                                                                          \
        BPNET_ACC_STORE(VT, T, NV, L, M, 0, 0, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 0, 1, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 0, 2, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 0, 3, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 1, 0, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 1, 1, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 1, 2, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 1, 3, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 2, 0, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 2, 1, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 2, 2, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 2, 3, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 3, 0, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 3, 1, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 3, 2, STORE);                                             \
        BPNET_ACC_STORE(VT, T, NV, L, M, 3, 3, STORE);                                             \
        BPNET_SUM_STORE(VT, T, NV, SUMS, M, 0, sums);                                              \
        BPNET_SUM_STORE(VT, T, NV, SUMS, M, 1, sums);                                              \
        BPNET_SUM_STORE(VT, T, NV, SUMS, M, 2, sums);                                              \
        BPNET_SUM_STORE(VT, T, NV, SUMS, M, 3, sums);                                              \
    } while (0)

/* The tiles of L lines at line l0_ along all n_vec values, with vectors of U bytes: M
   vectors at a time, then the whole vectors left in one tile, then a half and a quarter
   vector where that much is left, then one value at a time. TILE(VT, T, L, M, NV) runs
   the tile at lines l0_..., values v0_... */
#if BPNET_HAVE_VECTORS
#define BPNET_VALUES(T, BYTES) ((ptrdiff_t)((BYTES) / sizeof(T)))
/* The values of a part (a half or a quarter) of a vector of U bytes: 1 where the part is
   less than 16 bytes, its type then being T (a branch that never runs). */
#define BPNET_PART_VALUES(T, U, PARTS) ((U) / (PARTS) >= 16 ? BPNET_VALUES(T, U) / (PARTS) : 1)
#define BPNET_TILE_ROW(T, U, L, M, n_vec, TILE)                                                    \
    do {                                                                                           \
        ptrdiff_t v0_ = 0;                                                                         \
        for (; v0_ + (M) * BPNET_VALUES(T, U) <= (n_vec); v0_ += (M) * BPNET_VALUES(T, U))         \
            TILE(BPNET_VT_##T##_##U, T, L, M, BPNET_VALUES(T, U));                                 \
        switch (((n_vec) - v0_) / BPNET_VALUES(T, U)) {                                            \
        case 3:                                                                                    \
            TILE(BPNET_VT_##T##_##U, T, L, 3, BPNET_VALUES(T, U));                                 \
            break;                                                                                 \
        case 2:                                                                                    \
            TILE(BPNET_VT_##T##_##U, T, L, 2, BPNET_VALUES(T, U));                                 \
            break;                                                                                 \
        case 1:                                                                                    \
            TILE(BPNET_VT_##T##_##U, T, L, 1, BPNET_VALUES(T, U));                                 \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
        v0_ += ((n_vec) - v0_) / BPNET_VALUES(T, U) * BPNET_VALUES(T, U);                          \
        if ((U) / 2 >= 16 && (n_vec) - v0_ >= BPNET_VALUES(T, U) / 2) {                            \
            TILE(BPNET_HALF_##T##_##U, T, L, 1, BPNET_PART_VALUES(T, U, 2));                       \
            v0_ += BPNET_VALUES(T, U) / 2;                                                         \
        }                                                                                          \
        if ((U) / 4 >= 16 && (n_vec) - v0_ >= BPNET_VALUES(T, U) / 4) {                            \
            TILE(BPNET_QUARTER_##T##_##U, T, L, 1, BPNET_PART_VALUES(T, U, 4));                    \
            v0_ += BPNET_VALUES(T, U) / 4;                                                         \
        }                                                                                          \
        for (; v0_ < (n_vec); v0_++)                                                               \
            TILE(T, T, L, 1, 1);                                                                   \
    } while (0)
#else
#define BPNET_TILE_ROW(T, U, L, M, n_vec, TILE)                                                    \
    for (ptrdiff_t v0_ = 0; v0_ < (n_vec); v0_++)                                                  \
    TILE(T, T, L, 1, 1)
#endif

/* The tiles of lines l0_ (first) to n_line - 1, in groups of four then the three, two or
   one left, each line taking BPNET_UNITS_<lines> vectors. */
#define BPNET_TILES_FROM(T, U, first, n_line, n_vec, TILE)                                         \
    do {                                                                                           \
        ptrdiff_t l0_ = (first);                                                                   \
        for (; l0_ + 4 <= (n_line); l0_ += 4)                                                      \
            BPNET_TILE_ROW(T, U, 4, BPNET_UNITS_4, n_vec, TILE);                                   \
        switch ((n_line) - l0_) {                                                                  \
        case 3:                                                                                    \
            BPNET_TILE_ROW(T, U, 3, BPNET_UNITS_3, n_vec, TILE);                                   \
            break;                                                                                 \
        case 2:                                                                                    \
            BPNET_TILE_ROW(T, U, 2, BPNET_UNITS_2, n_vec, TILE);                                   \
            break;                                                                                 \
        case 1:                                                                                    \
            BPNET_TILE_ROW(T, U, 1, BPNET_UNITS_1, n_vec, TILE);                                   \
            break;                                                                                 \
        default:                                                                                   \
            break;                                                                                 \
        }                                                                                          \
    } while (0)
/* Every tile of a (n_line x n_vec) result. */
#define BPNET_ALL_TILES(T, U, n_line, n_vec, TILE) BPNET_TILES_FROM(T, U, 0, n_line, n_vec, TILE)
/* The same, the tiles of the first (up to four) lines by FIRST_TILE. */
#define BPNET_ALL_TILES_FIRST(T, U, n_line, n_vec, FIRST_TILE, TILE)                               \
    do {                                                                                           \
        if ((n_line) >= 4) {                                                                       \
            ptrdiff_t l0_ = 0;                                                                     \
            BPNET_TILE_ROW(T, U, 4, BPNET_UNITS_4, n_vec, FIRST_TILE);                             \
            BPNET_TILES_FROM(T, U, 4, n_line, n_vec, TILE);                                        \
        } else {                                                                                   \
            BPNET_TILES_FROM(T, U, 0, n_line, n_vec, FIRST_TILE);                                  \
        }                                                                                          \
    } while (0)

/* The backward product. The weights of a tile of output columns are transposed once, so
   that a row of out is a sum of rows of the transposed weights, each scaled by one value
   of delta: out[r][c] = delta[r][0] w[c][0] + delta[r][1] w[c][1] + ...; a register
   tile's lines are rows r, its values columns c. The first step starts each sum
   (delta[r][0] w[c][0], not 0 plus it). */
#define BPNET_BACKPROP_AT(l, m, NV) ((l0_ + (l)) * ld + c0 + v0_ + (m) * (NV))
#define BPNET_BACKPROP_FIRST(VT, T, NV, l, m, acc)                                                 \
    do {                                                                                           \
        VT w_;                                                                                     \
        memcpy(&w_, transposed + v0_ + (m) * (NV), sizeof(VT));                                    \
        (acc) = w_ * delta[(l0_ + (l)) * k];                                                       \
    } while (0)
#define BPNET_BACKPROP_STORE(VT, T, NV, l, m, acc)                                                 \
    memcpy(out + BPNET_BACKPROP_AT(l, m, NV), &(acc), sizeof(VT))
/* With relu's derivative: 0 where the unit's output was 0. */
#define BPNET_BACKPROP_STORE_RELU(VT, T, NV, l, m, acc)                                            \
    bpnet_keep_##VT(&(acc), relu + BPNET_BACKPROP_AT(l, m, NV), out + BPNET_BACKPROP_AT(l, m, NV))
#define BPNET_BACKPROP_TILE_STORING(VT, T, L, M, NV, STORE)                                        \
    BPNET_REGISTER_TILE(VT, T, L, M, NV, k - 1, transposed + BPNET_SHORT_TILE + v0_,               \
                        BPNET_SHORT_TILE, delta + l0_ * k + 1, k, 1, BPNET_BACKPROP_FIRST, STORE,  \
                        0, (T *)0, 1)
#define BPNET_BACKPROP_TILE(VT, T, L, M, NV)                                                       \
    BPNET_BACKPROP_TILE_STORING(VT, T, L, M, NV, BPNET_BACKPROP_STORE)
#define BPNET_BACKPROP_RELU_TILE(VT, T, L, M, NV)                                                  \
    BPNET_BACKPROP_TILE_STORING(VT, T, L, M, NV, BPNET_BACKPROP_STORE_RELU)
/* bpnet_short_backprop_<T>_<U>: the backward product with vectors of U bytes, built
   with ATTRIBUTES (a CPU target, or nothing). */
#define BPNET_DEFINE_SHORT_BACKPROP(T, U, ATTRIBUTES)                                              \
    ATTRIBUTES static void bpnet_short_backprop_##T##_##U(                                         \
        const T *BPNET_RESTRICT delta, ptrdiff_t n_rows, ptrdiff_t k,                              \
        const T *BPNET_RESTRICT weights, ptrdiff_t n_cols, T *BPNET_RESTRICT out, ptrdiff_t ld,    \
        const T *BPNET_RESTRICT relu)                                                              \
    {                                                                                              \
        T transposed[BPNET_SHORT_SIDE * BPNET_SHORT_TILE];                                         \
        for (ptrdiff_t c0 = 0; c0 < n_cols; c0 += BPNET_SHORT_TILE) {                              \
            ptrdiff_t width = n_cols - c0 < BPNET_SHORT_TILE ? n_cols - c0 : BPNET_SHORT_TILE;     \
            for (ptrdiff_t c = 0; c < width; c++)                                                  \
                for (ptrdiff_t j = 0; j < k; j++)                                                  \
                    transposed[j * BPNET_SHORT_TILE + c] = weights[(c0 + c) * k + j];              \
            if (relu)                                                                              \
                BPNET_ALL_TILES(T, U, n_rows, width, BPNET_BACKPROP_RELU_TILE);                    \
            else                                                                                   \
                BPNET_ALL_TILES(T, U, n_rows, width, BPNET_BACKPROP_TILE);                         \
        }                                                                                          \
    }

/* The weight gradient: grads[i][j] = start + inputs[0][i] delta[0][j] + inputs[1][i]
   delta[1][j] + ..., the start being 0 or the gradient's value. With few outputs, the
   vectors run along a row of inputs and the lines are outputs; with few inputs (and more
   outputs), along a row of delta, the lines being inputs. vec is the operand read a
   vector at a time (n_vec values a row, rows ld_vec apart), line the one read a value at
   a time; result (v, l) is grads[v * g_vec + l * g_line]. */
#define BPNET_GRADIENT_AT(l, v) grads[(v0_ + (v)) * g_vec + (l0_ + (l)) * g_line]
#define BPNET_GRADIENT_START(VT, T, NV, l, m, acc)                                                 \
    do {                                                                                           \
        T start_[NV];                                                                              \
        for (ptrdiff_t v_ = 0; v_ < (NV); v_++)                                                    \
            start_[v_] = zero ? 0 : BPNET_GRADIENT_AT(l, (m) * (NV) + v_);                         \
        memcpy(&(acc), start_, sizeof(VT));                                                        \
    } while (0)
#define BPNET_GRADIENT_STORE(VT, T, NV, l, m, acc)                                                 \
    do {                                                                                           \
        T done_[NV];                                                                               \
        memcpy(done_, &(acc), sizeof(VT));                                                         \
        for (ptrdiff_t v_ = 0; v_ < (NV); v_++)                                                    \
            BPNET_GRADIENT_AT(l, (m) * (NV) + v_) = done_[v_];                                     \
    } while (0)
#define BPNET_GRADIENT_TILE_SUMMING(VT, T, L, M, NV, SUMS, sums)                                   \
    BPNET_REGISTER_TILE(VT, T, L, M, NV, n_rows, vec + v0_, ld_vec, line + l0_, 1, ld_line,        \
                        BPNET_GRADIENT_START, BPNET_GRADIENT_STORE, SUMS, sums, zero)
#define BPNET_GRADIENT_TILE(VT, T, L, M, NV) BPNET_GRADIENT_TILE_SUMMING(VT, T, L, M, NV, 0, (T *)0)
/* The same, adding up the rows of delta (vec) into the bias gradients as it goes. */
#define BPNET_GRADIENT_SUMS_TILE(VT, T, L, M, NV)                                                  \
    BPNET_GRADIENT_TILE_SUMMING(VT, T, L, M, NV, 1, bias + v0_)
/* bpnet_short_gradient_<T>_<U>: the weight gradient with vectors of U bytes, and the
   bias gradient (bias not NULL) as bpnet_add_column_sums adds it up: along delta, in the
   tiles of the first inputs, which read delta's rows anyway; along the inputs, after. */
#define BPNET_DEFINE_SHORT_GRADIENT(T, U, ATTRIBUTES)                                              \
    ATTRIBUTES static void bpnet_short_gradient_##T##_##U(                                         \
        const T *BPNET_RESTRICT inputs, ptrdiff_t ld_in, ptrdiff_t n_rows, ptrdiff_t n_in,         \
        const T *BPNET_RESTRICT delta, ptrdiff_t n_out, T *BPNET_RESTRICT grads, int zero,         \
        T *BPNET_RESTRICT bias)                                                                    \
    {                                                                                              \
        const int along_inputs = n_out < BPNET_SHORT_SIDE && n_out <= n_in;                        \
        const T *vec = along_inputs ? inputs : delta;                                              \
        const T *line = along_inputs ? delta : inputs;                                             \
        ptrdiff_t ld_vec = along_inputs ? ld_in : n_out, ld_line = along_inputs ? n_out : ld_in;   \
        ptrdiff_t n_vec = along_inputs ? n_in : n_out, n_line = along_inputs ? n_out : n_in;       \
        ptrdiff_t g_vec = along_inputs ? n_out : 1, g_line = along_inputs ? 1 : n_out;             \
        if (bias != NULL && !along_inputs && n_line > 0) {                                         \
            BPNET_ALL_TILES_FIRST(T, U, n_line, n_vec, BPNET_GRADIENT_SUMS_TILE,                   \
                                  BPNET_GRADIENT_TILE);                                            \
            return;                                                                                \
        }                                                                                          \
        BPNET_ALL_TILES(T, U, n_line, n_vec, BPNET_GRADIENT_TILE);                                 \
        if (bias != NULL) {                                                                        \
            if (zero)                                                                              \
                memset(bias, 0, (size_t)n_out * sizeof(T));                                        \
            bpnet_add_column_sums_##T(delta, bias, n_rows, n_out, n_out);                          \
        }                                                                                          \
    }

/* Every width's functions, and the public ones, which call the width asked for (16
   where no wider one is built). */
#define BPNET_DEFINE_SHORT_PRODUCTS(T)                                                             \
    BPNET_DEFINE_SHORT_BACKPROP(T, 16, )                                                           \
    BPNET_DEFINE_SHORT_GRADIENT(T, 16, )                                                           \
    BPNET_DEFINE_WIDE_SHORT_PRODUCTS(T)                                                            \
    void bpnet_short_backprop_##T##_width(int vector_bytes, const T *delta, ptrdiff_t n_rows,      \
                                          ptrdiff_t k, const T *weights, ptrdiff_t n_cols, T *out, \
                                          ptrdiff_t ld, const T *relu)                             \
    {                                                                                              \
        BPNET_WIDE_CALL(vector_bytes, bpnet_short_backprop_##T,                                    \
                        (delta, n_rows, k, weights, n_cols, out, ld, relu));                       \
        bpnet_short_backprop_##T##_16(delta, n_rows, k, weights, n_cols, out, ld, relu);           \
    }                                                                                              \
    void bpnet_short_gradient_##T##_width(int vector_bytes, const T *inputs, ptrdiff_t ld_in,      \
                                          ptrdiff_t n_rows, ptrdiff_t n_in, const T *delta,        \
                                          ptrdiff_t n_out, T *grads, int zero, T *bias)            \
    {                                                                                              \
        BPNET_WIDE_CALL(vector_bytes, bpnet_short_gradient_##T,                                    \
                        (inputs, ld_in, n_rows, n_in, delta, n_out, grads, zero, bias));           \
        bpnet_short_gradient_##T##_16(inputs, ld_in, n_rows, n_in, delta, n_out, grads, zero,      \
                                      bias);                                                       \
    }                                                                                              \
    void bpnet_short_backprop_##T(const T *delta, ptrdiff_t n_rows, ptrdiff_t k, const T *weights, \
                                  ptrdiff_t n_cols, T *out, ptrdiff_t ld, const T *relu)           \
    {                                                                                              \
        bpnet_short_backprop_##T##_width(bpnet_short_vector_bytes(), delta, n_rows, k, weights,    \
                                         n_cols, out, ld, relu);                                   \
    }                                                                                              \
    void bpnet_short_gradient_##T(const T *inputs, ptrdiff_t ld_in, ptrdiff_t n_rows,              \
                                  ptrdiff_t n_in, const T *delta, ptrdiff_t n_out, T *grads,       \
                                  int zero, T *bias)                                               \
    {                                                                                              \
        bpnet_short_gradient_##T##_width(bpnet_short_vector_bytes(), inputs, ld_in, n_rows, n_in,  \
                                         delta, n_out, grads, zero, bias);                         \
    }

#if BPNET_X86_LEVELS
#define BPNET_DEFINE_WIDE_SHORT_PRODUCTS(T)                                                        \
    BPNET_DEFINE_SHORT_BACKPROP(T, 32, BPNET_TARGET_AVX2)                                          \
    BPNET_DEFINE_SHORT_GRADIENT(T, 32, BPNET_TARGET_AVX2)                                          \
    BPNET_DEFINE_SHORT_BACKPROP(T, 64, BPNET_TARGET_AVX512)                                        \
    BPNET_DEFINE_SHORT_GRADIENT(T, 64, BPNET_TARGET_AVX512)
#define BPNET_WIDE_CALL(vector_bytes, name, arguments)                                             \
    do {                                                                                           \
        if ((vector_bytes) == 64) {                                                                \
            name##_64 arguments;                                                                   \
            return;                                                                                \
        }                                                                                          \
        if ((vector_bytes) == 32) {                                                                \
            name##_32 arguments;                                                                   \
            return;                                                                                \
        }                                                                                          \
    } while (0)
#else
#define BPNET_DEFINE_WIDE_SHORT_PRODUCTS(T)
#define BPNET_WIDE_CALL(vector_bytes, name, arguments) (void)(vector_bytes)
#endif

int bpnet_short_vector_bytes(void)
{
#if BPNET_X86_LEVELS
    return bpnet_x86_vector_bytes();
#else
    return 16;
#endif
}

BPNET_DEFINE_SHORT_PRODUCTS(float)
BPNET_DEFINE_SHORT_PRODUCTS(double)
