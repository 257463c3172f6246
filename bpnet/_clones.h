/* BPNET_CLONES: compile a C function for AVX-512, AVX2 and plain x86-64, the best chosen
   when the module loads (GCC's and Clang's target_clones; nothing elsewhere).

   Only for loops whose every element is computed by the same operations in the same
   order whatever the vector width, so that all versions give the same bits; setup.py
   builds with -ffp-contract=off, so that no version fuses a product and a sum. */
#ifndef BPNET_CLONES_H
#define BPNET_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && defined(__has_attribute)
#  if __has_attribute(target_clones)
#    define BPNET_CLONES \
        __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#  endif
#endif
#ifndef BPNET_CLONES
#  define BPNET_CLONES
#endif

#endif
