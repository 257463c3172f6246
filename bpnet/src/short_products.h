/* Products with a short side, where a BLAS call costs more in packing and set-up than the
   arithmetic: the backward product through a layer of few units, and the weight gradients
   of a layer with few inputs or few outputs. Plain C with the compiler's vector
   extensions, built for each vector width the CPU may have (short_products.c).

   Each entry of a result is one sum taken in a fixed order (over the short side for the
   backward product, over the rows for a gradient), whatever the vector width, the
   range of columns a call is given or the thread that runs it, so every version and every
   cut of a phase gives the same bits. */
#ifndef BPNET_SHORT_PRODUCTS_H
#define BPNET_SHORT_PRODUCTS_H

#include <stddef.h>

/* The longest short side these loops take: a side of this many values or more goes to
   BLAS. */
#define BPNET_SHORT_SIDE 16

/* out (n_rows x n_cols, rows ld apart) = delta (n_rows x k, contiguous) times the
   transpose of weights (n_cols rows of k values, contiguous): column c of out is the
   backward product through the weights of output unit c. 0 < k < BPNET_SHORT_SIDE.
   Each entry is delta[r][0] w[c][0] + delta[r][1] w[c][1] + ..., added in that order.
   relu is NULL, or the outputs of a relu layer laid out as out (rows ld apart): where one
   is 0, so is the entry (relu's derivative, fused). */
void bpnet_short_backprop_float(const float *delta, ptrdiff_t n_rows, ptrdiff_t k,
                                const float *weights, ptrdiff_t n_cols, float *out, ptrdiff_t ld,
                                const float *relu);
void bpnet_short_backprop_double(const double *delta, ptrdiff_t n_rows, ptrdiff_t k,
                                 const double *weights, ptrdiff_t n_cols, double *out, ptrdiff_t ld,
                                 const double *relu);

/* grads (n_in x n_out, rows n_out apart) += inputs^T delta over n_rows rows, where the
   inputs' rows are ld_in apart (a range of a wider layer's inputs) and delta's n_out
   apart; with `zero`, grads is first set to 0. Each entry adds its rows' products one
   after the other, row 0 first. For n_in < BPNET_SHORT_SIDE or n_out < BPNET_SHORT_SIDE.
   bias is NULL, or the layer's n_out bias gradients, to which (set first to 0 with
   `zero`) the columns of delta are added row after row, as bpnet_add_column_sums adds
   them (the same bits). */
void bpnet_short_gradient_float(const float *inputs, ptrdiff_t ld_in, ptrdiff_t n_rows,
                                ptrdiff_t n_in, const float *delta, ptrdiff_t n_out, float *grads,
                                int zero, float *bias);
void bpnet_short_gradient_double(const double *inputs, ptrdiff_t ld_in, ptrdiff_t n_rows,
                                 ptrdiff_t n_in, const double *delta, ptrdiff_t n_out,
                                 double *grads, int zero, double *bias);

/* The vector width, in bytes, that the functions above use on this CPU: 64 with AVX-512,
   32 with AVX2 and 16 otherwise on x86-64 (BPNET_X86_LEVELS); 16 elsewhere. Without
   vector extensions every width runs one value at a time. */
int bpnet_short_vector_bytes(void);

/* The functions above with vectors of vector_bytes: 16, or 32 or 64 where
   bpnet_short_vector_bytes() is at least that (for tests, which run every width the CPU
   has; any other value runs 16). */
void bpnet_short_backprop_float_width(int vector_bytes, const float *delta, ptrdiff_t n_rows,
                                      ptrdiff_t k, const float *weights, ptrdiff_t n_cols,
                                      float *out, ptrdiff_t ld, const float *relu);
void bpnet_short_backprop_double_width(int vector_bytes, const double *delta, ptrdiff_t n_rows,
                                       ptrdiff_t k, const double *weights, ptrdiff_t n_cols,
                                       double *out, ptrdiff_t ld, const double *relu);
void bpnet_short_gradient_float_width(int vector_bytes, const float *inputs, ptrdiff_t ld_in,
                                      ptrdiff_t n_rows, ptrdiff_t n_in, const float *delta,
                                      ptrdiff_t n_out, float *grads, int zero, float *bias);
void bpnet_short_gradient_double_width(int vector_bytes, const double *inputs, ptrdiff_t ld_in,
                                       ptrdiff_t n_rows, ptrdiff_t n_in, const double *delta,
                                       ptrdiff_t n_out, double *grads, int zero, double *bias);

#endif
