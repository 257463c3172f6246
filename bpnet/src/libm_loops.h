/* bpnet's own exp and tanh loops over the C library's functions, with the signature of
   NumPy's ufunc inner loops (out[i] = f(in[i]) over strided data), for when NumPy's own
   loops cannot be found (bpnet/_numpy_math.pyx). NumPy's npy_intp is intptr_t. */
#ifndef BPNET_LIBM_LOOPS_H
#define BPNET_LIBM_LOOPS_H

#include <math.h>
#include <stdint.h>

#define BPNET_DEFINE_LIBM_LOOP(NAME, T, F)                                                         \
    static void NAME(char **args, const intptr_t *dimensions, const intptr_t *steps, void *data)   \
    {                                                                                              \
        (void)data;                                                                                \
        for (intptr_t i = 0; i < dimensions[0]; i++) {                                             \
            *(T *)(args[1] + i * steps[1]) = F(*(const T *)(args[0] + i * steps[0]));              \
        }                                                                                          \
    }

BPNET_DEFINE_LIBM_LOOP(bpnet_libm_exp_double, double, exp)
BPNET_DEFINE_LIBM_LOOP(bpnet_libm_exp_float, float, expf)
BPNET_DEFINE_LIBM_LOOP(bpnet_libm_tanh_double, double, tanh)
BPNET_DEFINE_LIBM_LOOP(bpnet_libm_tanh_float, float, tanhf)

#endif
