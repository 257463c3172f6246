/* Times bpnet's short products from C, for bench_short_products_c.py.

   Built against one short_products.c (this tree's or an earlier commit's), it times
   each of a list of shapes, best of five runs of a batch of calls, and checks every
   result against a plain loop that adds in the documented order: the bits must match.

     harness WIDTH [check]

   WIDTH is the vector width, in bytes, passed to the *_width functions (this tree's,
   built with BPNET_HARNESS_WIDTHS); 0 calls the plain functions, which an earlier
   source (3345217, built without it) has too. Prints one
   line per shape: "<dtype> <product> <rows>x<k>-><cols> <microseconds>". */
#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "short_products.h"

#ifdef BPNET_HARNESS_WIDTHS
/* This tree's loops: a width to ask for, and the gradient's bias argument (none here). */
#define GRADIENT(T, ...)                                                                           \
    (width ? bpnet_short_gradient_##T##_width(width, __VA_ARGS__, NULL)                            \
           : bpnet_short_gradient_##T(__VA_ARGS__, NULL))
#define BACKPROP(T, ...)                                                                           \
    (width ? bpnet_short_backprop_##T##_width(width, __VA_ARGS__)                                  \
           : bpnet_short_backprop_##T(__VA_ARGS__))
#else
#define GRADIENT(T, ...) bpnet_short_gradient_##T(__VA_ARGS__)
#define BACKPROP(T, ...) bpnet_short_backprop_##T(__VA_ARGS__)
#endif

static int width;

static double seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static unsigned long long state = 88172645463325252ULL;
static double uniform(void)
{
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return (double)(state >> 11) / (double)(1ULL << 53) * 2 - 1;
}

/* (rows, inputs, outputs) of a weight gradient; (rows, k, columns) of a backward
   product into a relu layer. */
static const long GRADIENTS[][3] = {{150, 4, 100}, {150, 100, 3}, {150, 100, 2}, {150, 100, 1},
                                    {200, 256, 5}, {200, 8, 256}, {150, 64, 10}, {64, 15, 16},
                                    {37, 13, 7},   {7, 100, 15}};
static const long BACKPROPS[][3] = {
    {150, 3, 100}, {150, 1, 100}, {200, 5, 256}, {150, 10, 100}, {37, 7, 13}};

/* Prints "<name> <a>x<b>-><c> <microseconds>", the best of five batches of CALL, a batch
   being some 2e7 multiply-adds. */
#define TIME_BEST(name, a, b, c, CALL)                                                             \
    do {                                                                                           \
        long calls_ = 20000000 / ((a) * (b) * (c)) + 10;                                           \
        double best_ = 1e9;                                                                        \
        for (int t_ = 0; t_ < 5; t_++) {                                                           \
            double start_ = seconds();                                                             \
            for (long c_ = 0; c_ < calls_; c_++)                                                   \
                CALL;                                                                              \
            double each_ = (seconds() - start_) / calls_;                                          \
            best_ = each_ < best_ ? each_ : best_;                                                 \
        }                                                                                          \
        printf("%s %ldx%ld->%ld %.3f\n", name, (long)(a), (long)(b), (long)(c), 1e6 * best_);      \
    } while (0)

#define DEFINE_RUN(T)                                                                              \
    /* n uniform values in [-1, 1), or with `relu` their positive parts (relu outputs). */         \
    static void fill_##T(T *a, long n, int relu)                                                   \
    {                                                                                              \
        for (long i = 0; i < n; i++) {                                                             \
            double x = uniform();                                                                  \
            a[i] = (T)(relu && x < 0 ? 0 : x);                                                     \
        }                                                                                          \
    }                                                                                              \
    static void gradient_in_order_##T(const T *in, long ld, long rows, long n_in, const T *d,      \
                                      long n_out, T *g)                                            \
    {                                                                                              \
        for (long i = 0; i < n_in; i++)                                                            \
            for (long j = 0; j < n_out; j++) {                                                     \
                T sum = 0;                                                                         \
                for (long r = 0; r < rows; r++) {                                                  \
                    T p = in[r * ld + i] * d[r * n_out + j];                                       \
                    sum = sum + p;                                                                 \
                }                                                                                  \
                g[i * n_out + j] = sum;                                                            \
            }                                                                                      \
    }                                                                                              \
    static void backprop_in_order_##T(const T *d, long rows, long k, const T *w, long n_cols,      \
                                      T *out, const T *relu)                                       \
    {                                                                                              \
        for (long r = 0; r < rows; r++)                                                            \
            for (long c = 0; c < n_cols; c++) {                                                    \
                T sum = d[r * k] * w[c * k];                                                       \
                for (long j = 1; j < k; j++) {                                                     \
                    T p = d[r * k + j] * w[c * k + j];                                             \
                    sum = sum + p;                                                                 \
                }                                                                                  \
                out[r * n_cols + c] = relu[r * n_cols + c] == 0 ? 0 : sum;                         \
            }                                                                                      \
    }                                                                                              \
    static int run_##T(int check_only)                                                             \
    {                                                                                              \
        for (size_t s = 0; s < sizeof GRADIENTS / sizeof GRADIENTS[0]; s++) {                      \
            long rows = GRADIENTS[s][0], n_in = GRADIENTS[s][1], n_out = GRADIENTS[s][2];          \
            T *in = malloc(sizeof(T) * rows * n_in), *d = malloc(sizeof(T) * rows * n_out);        \
            T *g = malloc(sizeof(T) * n_in * n_out), *expected = malloc(sizeof(T) * n_in * n_out); \
            fill_##T(in, rows * n_in, 0);                                                          \
            fill_##T(d, rows * n_out, 0);                                                          \
            GRADIENT(T, in, n_in, rows, n_in, d, n_out, g, 1);                                     \
            gradient_in_order_##T(in, n_in, rows, n_in, d, n_out, expected);                       \
            if (memcmp(g, expected, sizeof(T) * n_in * n_out)) {                                   \
                printf("bits differ: %s gradient %ldx%ld->%ld\n", #T, rows, n_in, n_out);          \
                return 1;                                                                          \
            }                                                                                      \
            if (!check_only)                                                                       \
                TIME_BEST(#T " gradient", rows, n_in, n_out,                                       \
                          GRADIENT(T, in, n_in, rows, n_in, d, n_out, g, 1));                      \
            free(in), free(d), free(g), free(expected);                                            \
        }                                                                                          \
        for (size_t s = 0; s < sizeof BACKPROPS / sizeof BACKPROPS[0]; s++) {                      \
            long rows = BACKPROPS[s][0], k = BACKPROPS[s][1], n_cols = BACKPROPS[s][2];            \
            T *d = malloc(sizeof(T) * rows * k), *w = malloc(sizeof(T) * n_cols * k);              \
            T *out = malloc(sizeof(T) * rows * n_cols), *relu = malloc(sizeof(T) * rows * n_cols); \
            T *expected = malloc(sizeof(T) * rows * n_cols);                                       \
            fill_##T(d, rows * k, 0);                                                              \
            fill_##T(w, n_cols * k, 0);                                                            \
            fill_##T(relu, rows * n_cols, 1);                                                      \
            BACKPROP(T, d, rows, k, w, n_cols, out, n_cols, relu);                                 \
            backprop_in_order_##T(d, rows, k, w, n_cols, expected, relu);                          \
            if (memcmp(out, expected, sizeof(T) * rows * n_cols)) {                                \
                printf("bits differ: %s backward %ldx%ld->%ld\n", #T, rows, k, n_cols);            \
                return 1;                                                                          \
            }                                                                                      \
            if (!check_only)                                                                       \
                TIME_BEST(#T " backward", rows, k, n_cols,                                         \
                          BACKPROP(T, d, rows, k, w, n_cols, out, n_cols, relu));                  \
            free(d), free(w), free(out), free(relu), free(expected);                               \
        }                                                                                          \
        return 0;                                                                                  \
    }
DEFINE_RUN(float)
DEFINE_RUN(double)

int main(int argc, char **argv)
{
    int check_only = argc > 2 && strcmp(argv[2], "check") == 0;
    width = argc > 1 ? atoi(argv[1]) : 0;
    if (run_float(check_only) || run_double(check_only))
        return 1;
    if (check_only)
        printf("bits match\n");
    return 0;
}
