/* The short products declared in short_products.h, for float and double.

   Both are written as register tiles: a tile of up to 4 lines by up to one 64-byte vector
   of results is summed in local vectors, which the compiler keeps in registers, over
   the whole short side (or all the rows), and stored once. Only the operands are read
   per step, so the loops run at the speed of the multiply-adds rather than of loads and
   stores into the results. The vectors are GCC's and clang's vector extensions (64
   bytes: one AVX-512 register, two AVX2 or four SSE or NEON ones, as the target has);
   a compiler without them (MSVC) runs the same tiles one value wide. Each result is the
   same sum in the same order whatever the tiling, the vector width or the range a call
   is given, with a multiply and an add rounded apart (setup.py turns contraction off),
   so the bits never depend on them. */
#include "short_products.h"

#include <string.h>

#include "portable.h"

/* Output columns (or gradient rows) are taken this many at a time, their transposed
   weights kept on the stack: at most BPNET_SHORT_SIDE x BPNET_SHORT_TILE values, 32 KB in
   double. */
#define BPNET_SHORT_TILE 256

#if BPNET_HAVE_VECTORS
typedef float bpnet_float16 BPNET_VECTOR(64);
typedef float bpnet_float8 BPNET_VECTOR(32);
typedef float bpnet_float4 BPNET_VECTOR(16);
typedef double bpnet_double8 BPNET_VECTOR(64);
typedef double bpnet_double4 BPNET_VECTOR(32);
typedef double bpnet_double2 BPNET_VECTOR(16);
#endif

/* A tile of L lines by NV values, VT being T (NV = 1) or a vector of NV T: acc[l][v] =
   INIT(l, v) + sum over s < n_steps of a[s * a_step + v] * b[l * b_line + s * b_step],
   added in order of s; then STORE(l, v, acc[l][v]). */
#define BPNET_REGISTER_TILE(VT, T, L, NV, n_steps, a, a_step, b, b_line, b_step, INIT, STORE)      \
    do {                                                                                           \
        VT acc_[L];                                                                                \
        for (ptrdiff_t l_ = 0; l_ < (L); l_++) {                                                   \
            T start_[NV];                                                                          \
            for (ptrdiff_t v_ = 0; v_ < (NV); v_++)                                                \
                start_[v_] = INIT(l_, v_);                                                         \
            memcpy(&acc_[l_], start_, sizeof(VT));                                                 \
        }                                                                                          \
        for (ptrdiff_t s_ = 0; s_ < (n_steps); s_++) {                                             \
            VT as_;                                                                                \
            memcpy(&as_, (a) + s_ * (a_step), sizeof(VT));                                         \
            for (ptrdiff_t l_ = 0; l_ < (L); l_++)                                                 \
                acc_[l_] += as_ * (b)[l_ * (b_line) + s_ * (b_step)];                              \
        }                                                                                          \
        for (ptrdiff_t l_ = 0; l_ < (L); l_++) {                                                   \
            T done_[NV];                                                                           \
            memcpy(done_, &acc_[l_], sizeof(VT));                                                  \
            for (ptrdiff_t v_ = 0; v_ < (NV); v_++)                                                \
                STORE(l_, v_, done_[v_]);                                                          \
        }                                                                                          \
    } while (0)

/* The tiles of L lines at line l0_ along all n_vec values: whole vectors, then a half
   and a quarter vector where that much is left, then one value at a time. TILE(VT, T, L,
   NV) runs the tile at lines l0_..., values v0_... */
#if BPNET_HAVE_VECTORS
#define BPNET_TILE_ROW(T, L, n_vec, TILE)                                                          \
    do {                                                                                           \
        enum { W_ = 64 / sizeof(T) };                                                              \
        ptrdiff_t v0_ = 0;                                                                         \
        for (; v0_ + W_ <= (n_vec); v0_ += W_)                                                     \
            TILE(BPNET_WHOLE_##T, T, L, W_);                                                       \
        if ((n_vec) - v0_ >= W_ / 2) {                                                             \
            TILE(BPNET_HALF_##T, T, L, W_ / 2);                                                    \
            v0_ += W_ / 2;                                                                         \
        }                                                                                          \
        if ((n_vec) - v0_ >= W_ / 4) {                                                             \
            TILE(BPNET_QUARTER_##T, T, L, W_ / 4);                                                 \
            v0_ += W_ / 4;                                                                         \
        }                                                                                          \
        for (; v0_ < (n_vec); v0_++)                                                               \
            TILE(T, T, L, 1);                                                                      \
    } while (0)
#define BPNET_WHOLE_float bpnet_float16
#define BPNET_HALF_float bpnet_float8
#define BPNET_QUARTER_float bpnet_float4
#define BPNET_WHOLE_double bpnet_double8
#define BPNET_HALF_double bpnet_double4
#define BPNET_QUARTER_double bpnet_double2
#else
#define BPNET_TILE_ROW(T, L, n_vec, TILE)                                                          \
    for (ptrdiff_t v0_ = 0; v0_ < (n_vec); v0_++)                                                  \
    TILE(T, T, L, 1)
#endif

/* Every tile of a (n_line x n_vec) result: lines four at a time, then two, then one. */
#define BPNET_ALL_TILES(T, n_line, n_vec, TILE)                                                    \
    do {                                                                                           \
        ptrdiff_t l0_ = 0;                                                                         \
        for (; l0_ + 4 <= (n_line); l0_ += 4)                                                      \
            BPNET_TILE_ROW(T, 4, n_vec, TILE);                                                     \
        if ((n_line) - l0_ >= 2) {                                                                 \
            BPNET_TILE_ROW(T, 2, n_vec, TILE);                                                     \
            l0_ += 2;                                                                              \
        }                                                                                          \
        if (l0_ < (n_line))                                                                        \
            BPNET_TILE_ROW(T, 1, n_vec, TILE);                                                     \
    } while (0)

/* The backward product. The weights of a tile of output columns are transposed once, so
   that a row of out is a sum of rows of the transposed weights, each scaled by one value
   of delta: out[r][c] = delta[r][0] w[c][0] + delta[r][1] w[c][1] + ...; a register
   tile's lines are rows r, its values columns c. The first step starts each sum
   (delta[r][0] w[c][0], not 0 plus it). */
#define BPNET_BACKPROP_FIRST(l, v) (delta[(l0_ + (l)) * k] * transposed[v0_ + (v)])
#define BPNET_BACKPROP_AT(l, v) ((l0_ + (l)) * ld + c0 + v0_ + (v))
#define BPNET_BACKPROP_STORE(l, v, x) (out[BPNET_BACKPROP_AT(l, v)] = (x))
/* With relu's derivative: 0 where the unit's output was 0, as bpnet_relu_derivative. */
#define BPNET_BACKPROP_STORE_RELU(l, v, x)                                                         \
    (out[BPNET_BACKPROP_AT(l, v)] = relu[BPNET_BACKPROP_AT(l, v)] == 0 ? 0 : (x))
#define BPNET_BACKPROP_TILE(VT, T, L, NV)                                                          \
    BPNET_REGISTER_TILE(VT, T, L, NV, k - 1, transposed + BPNET_SHORT_TILE + v0_,                  \
                        BPNET_SHORT_TILE, delta + l0_ * k + 1, k, 1, BPNET_BACKPROP_FIRST,         \
                        BPNET_BACKPROP_STORE)
#define BPNET_BACKPROP_RELU_TILE(VT, T, L, NV)                                                     \
    BPNET_REGISTER_TILE(VT, T, L, NV, k - 1, transposed + BPNET_SHORT_TILE + v0_,                  \
                        BPNET_SHORT_TILE, delta + l0_ * k + 1, k, 1, BPNET_BACKPROP_FIRST,         \
                        BPNET_BACKPROP_STORE_RELU)
#define BPNET_DEFINE_SHORT_BACKPROP(T)                                                             \
    BPNET_CLONES void bpnet_short_backprop_##T(const T *BPNET_RESTRICT delta, ptrdiff_t n_rows,    \
                                               ptrdiff_t k, const T *BPNET_RESTRICT weights,       \
                                               ptrdiff_t n_cols, T *BPNET_RESTRICT out,            \
                                               ptrdiff_t ld, const T *BPNET_RESTRICT relu)         \
    {                                                                                              \
        T transposed[BPNET_SHORT_SIDE * BPNET_SHORT_TILE];                                         \
        for (ptrdiff_t c0 = 0; c0 < n_cols; c0 += BPNET_SHORT_TILE) {                              \
            ptrdiff_t width = n_cols - c0 < BPNET_SHORT_TILE ? n_cols - c0 : BPNET_SHORT_TILE;     \
            for (ptrdiff_t c = 0; c < width; c++)                                                  \
                for (ptrdiff_t j = 0; j < k; j++)                                                  \
                    transposed[j * BPNET_SHORT_TILE + c] = weights[(c0 + c) * k + j];              \
            if (relu)                                                                              \
                BPNET_ALL_TILES(T, n_rows, width, BPNET_BACKPROP_RELU_TILE);                       \
            else                                                                                   \
                BPNET_ALL_TILES(T, n_rows, width, BPNET_BACKPROP_TILE);                            \
        }                                                                                          \
    }

/* The weight gradient: grads[i][j] = start + inputs[0][i] delta[0][j] + inputs[1][i]
   delta[1][j] + ..., the start being 0 or the gradient's value. With few outputs, the
   vectors run along a row of inputs and the lines are outputs; with few inputs (and more
   outputs), along a row of delta, the lines being inputs. vec is the operand read a
   vector at a time (n_vec values a row, rows ld_vec apart), line the one read a value at
   a time; result (v, l) is grads[v * g_vec + l * g_line]. */
#define BPNET_GRADIENT_AT(l, v) grads[(v0_ + (v)) * g_vec + (l0_ + (l)) * g_line]
#define BPNET_GRADIENT_START(l, v) (zero ? 0 : BPNET_GRADIENT_AT(l, v))
#define BPNET_GRADIENT_STORE(l, v, x) (BPNET_GRADIENT_AT(l, v) = (x))
#define BPNET_GRADIENT_TILE(VT, T, L, NV)                                                          \
    BPNET_REGISTER_TILE(VT, T, L, NV, n_rows, vec + v0_, ld_vec, line + l0_, 1, ld_line,           \
                        BPNET_GRADIENT_START, BPNET_GRADIENT_STORE)
#define BPNET_DEFINE_SHORT_GRADIENT(T)                                                             \
    BPNET_CLONES void bpnet_short_gradient_##T(                                                    \
        const T *BPNET_RESTRICT inputs, ptrdiff_t ld_in, ptrdiff_t n_rows, ptrdiff_t n_in,         \
        const T *BPNET_RESTRICT delta, ptrdiff_t n_out, T *BPNET_RESTRICT grads, int zero)         \
    {                                                                                              \
        const int along_inputs = n_out < BPNET_SHORT_SIDE && n_out <= n_in;                        \
        const T *vec = along_inputs ? inputs : delta;                                              \
        const T *line = along_inputs ? delta : inputs;                                             \
        ptrdiff_t ld_vec = along_inputs ? ld_in : n_out, ld_line = along_inputs ? n_out : ld_in;   \
        ptrdiff_t n_vec = along_inputs ? n_in : n_out, n_line = along_inputs ? n_out : n_in;       \
        ptrdiff_t g_vec = along_inputs ? n_out : 1, g_line = along_inputs ? 1 : n_out;             \
        BPNET_ALL_TILES(T, n_line, n_vec, BPNET_GRADIENT_TILE);                                    \
    }

BPNET_DEFINE_SHORT_BACKPROP(float)
BPNET_DEFINE_SHORT_BACKPROP(double)
BPNET_DEFINE_SHORT_GRADIENT(float)
BPNET_DEFINE_SHORT_GRADIENT(double)
