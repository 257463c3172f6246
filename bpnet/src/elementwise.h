/* Element-wise loops of the kernels, in C so that BPNET_CLONES can build each for several
   vector widths, every version giving the same bits.

   Matrices are row-major blocks of n_rows rows of n_cols values whose rows start `ld`
   values apart (a block of columns of a wider matrix has ld > n_cols). */
#ifndef BPNET_ELEMENTWISE_H
#define BPNET_ELEMENTWISE_H

#include <stddef.h>
#include <stdint.h>

/* z = relu(z + intercept), row by row. `v < 0 ? 0 : v` rather than `v > 0 ? v : 0`, so
   that NaN propagates and divergence shows. */
void bpnet_bias_relu_float(const float *intercept, float *z, ptrdiff_t n_rows, ptrdiff_t n_cols,
                           ptrdiff_t ld);
void bpnet_bias_relu_double(const double *intercept, double *z, ptrdiff_t n_rows, ptrdiff_t n_cols,
                            ptrdiff_t ld);

/* delta = 0 where relu's output a is 0: relu's derivative, from its output. */
void bpnet_relu_derivative_float(const float *a, float *delta, ptrdiff_t n_rows, ptrdiff_t n_cols,
                                 ptrdiff_t ld);
void bpnet_relu_derivative_double(const double *a, double *delta, ptrdiff_t n_rows,
                                  ptrdiff_t n_cols, ptrdiff_t ld);

/* The delta of a relu layer with dropout: delta * mask * relu'(z) is delta * scale where
   the dropped output is nonzero (relu's outputs are at least 0 and the mask is 0 or
   scale), else 0; so such a layer keeps no mask. */
void bpnet_relu_dropout_delta_float(const float *dropped, float scale, float *delta,
                                    ptrdiff_t n_rows, ptrdiff_t n_cols, ptrdiff_t ld);
void bpnet_relu_dropout_delta_double(const double *dropped, double scale, double *delta,
                                     ptrdiff_t n_rows, ptrdiff_t n_cols, ptrdiff_t ld);

/* sums[j] += the column sums of a block of rows (the intercepts' gradient), each column
   added row after row, so every vector width gives the same bits. */
void bpnet_add_column_sums_float(const float *rows, float *sums, ptrdiff_t n_rows, ptrdiff_t n_cols,
                                 ptrdiff_t ld);
void bpnet_add_column_sums_double(const double *rows, double *sums, ptrdiff_t n_rows,
                                  ptrdiff_t n_cols, ptrdiff_t ld);

/* Inverted dropout on one row's units unit ... unit + n - 1: their 16-bit draws (four per
   hash, bpnet_unit_group_bits), then the mask (when `mask` is not NULL) and the dropped
   outputs. Every version does the same integer hashing and the same single product per
   unit. `restrict` lets the mask loop vectorise into a compare and a select; without it
   GCC made the select a branch, taken at random with probability `rate`. */
void bpnet_dropout_row_float(uint64_t key, ptrdiff_t unit, ptrdiff_t n, uint32_t threshold,
                             float scale, const float *outputs, float *mask, float *dropped);
void bpnet_dropout_row_double(uint64_t key, ptrdiff_t unit, ptrdiff_t n, uint32_t threshold,
                              double scale, const double *outputs, double *mask, double *dropped);

/* Momentum or Nesterov step on n parameters; grads are the batch's summed data gradients,
   to which the L2 term alpha * params is added before scaling by inverse_weight_sum. A
   nonzero decay shrinks each parameter by decay times itself (decoupled weight decay). */
void bpnet_sgd_update_float(float *params, const float *grads, float *velocity, ptrdiff_t n,
                            float alpha, float inverse_weight_sum, float learning_rate,
                            float momentum, int nesterov, float decay);
void bpnet_sgd_update_double(double *params, const double *grads, double *velocity, ptrdiff_t n,
                             double alpha, double inverse_weight_sum, double learning_rate,
                             double momentum, int nesterov, double decay);

/* Adam step on n parameters, with the bias-corrected step_size. beta_1 and beta_2 come in
   double; the loop rounds each of them, and (1 - beta) computed in double, to T, as NumPy
   rounds a Python float against MLP's float32 arrays: every operation of the step is in
   T, so a float32 step runs at float32's vector width. Square root and division round
   exactly at any vector width. decay as for SGD. */
void bpnet_adam_update_float(float *params, const float *grads, float *first_moment,
                             float *second_moment, ptrdiff_t n, float alpha,
                             float inverse_weight_sum, float step_size, double beta_1,
                             double beta_2, float epsilon, float decay);
void bpnet_adam_update_double(double *params, const double *grads, double *first_moment,
                              double *second_moment, ptrdiff_t n, double alpha,
                              double inverse_weight_sum, double step_size, double beta_1,
                              double beta_2, double epsilon, double decay);

#endif
