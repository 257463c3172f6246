/* The one place for what differs between operating systems, compilers and CPUs.

   Every other C file, and every Cython module, includes this header instead of testing
   the platform itself. Each feature has a plain branch that builds everywhere (MSVC on
   Windows included), so that what a build leaves out changes only the speed, never the
   numbers. */
#ifndef BPNET_PORTABLE_H
#define BPNET_PORTABLE_H

#include <stddef.h>
/* Any libc header defines __GLIBC__ on glibc (through features.h); stdlib.h is one. */
#include <stdlib.h>

/* restrict: C99's keyword; MSVC spells it __restrict. */
#if defined(_MSC_VER)
#define BPNET_RESTRICT __restrict
#else
#define BPNET_RESTRICT restrict
#endif

/* BPNET_CLONES compiles a function for x86-64-v4 (AVX-512), x86-64-v3 (AVX2, FMA) and
   plain x86-64, the best chosen when the module loads, through GCC's and Clang's target_clones.
   That needs an ifunc-capable loader (glibc), so setup.py defines BPNET_HAVE_TARGET_CLONES only
   after a test compile and link; elsewhere (musl, macOS, Windows) a function is built once, for the
   baseline.

   Only for loops whose every element takes the same operations in the same order
   whatever the vector width, so that every version gives the same bits: setup.py builds
   with -ffp-contract=off, so no version fuses a product and a sum on its own, and the
   fused multiply-adds that some loops want are written as fma() calls, which round once
   in every version (an instruction where the CPU has one, libm's exact routine where it
   does not). */
#if defined(BPNET_HAVE_TARGET_CLONES) && defined(__x86_64__) && defined(__GLIBC__)
#define BPNET_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define BPNET_CLONES
#endif

/* Whether fma() is an instruction wherever the CPU has one: in the baseline (aarch64,
   or a build for a CPU with FMA), or in the x86-64-v3 and v4 versions of BPNET_CLONES
   functions (an x86-64 CPU without FMA, made before 2013, runs the default version and
   libm's exact but slow routine). Where it is not, the kernels use BLAS for the
   products that would need many fma() calls. A property of the build, so the choice
   never depends on the CPU that runs the code. */
#if defined(__aarch64__) || defined(_M_ARM64) || defined(__FMA__) ||                               \
    (defined(BPNET_HAVE_TARGET_CLONES) && defined(__x86_64__) && defined(__GLIBC__))
#define BPNET_FAST_FMA 1
#else
#define BPNET_FAST_FMA 0
#endif

/* BPNET_VECTOR(bytes) declares a vector type of that many bytes, with element-wise
   arithmetic, where the compiler has vector extensions (GCC and clang, which split it
   into the target's registers); BPNET_HAVE_VECTORS is 0 where it has not (MSVC), or
   with BPNET_NO_VECTORS defined (tests/test_c_sources.py compiles that branch too). */
#if (defined(__GNUC__) || defined(__clang__)) && !defined(BPNET_NO_VECTORS)
#define BPNET_HAVE_VECTORS 1
#define BPNET_VECTOR(bytes) __attribute__((vector_size(bytes)))
#else
#define BPNET_HAVE_VECTORS 0
#endif

/* BPNET_X86_LEVELS is 1 where the short products (short_products.c) are built for three
   vector widths and chosen per call by the CPU: GCC or clang on x86-64, but not Apple's
   (whose runtime may lack the CPU test) or clang-cl (which does not link it by default).
   The widths are AVX-512's 64 bytes, AVX2's 32 and SSE2's 16; BPNET_TARGET_AVX512 and
   BPNET_TARGET_AVX2 build a function for the first two, and bpnet_x86_vector_bytes()
   says which one this CPU runs. A vector wider than the target's registers is split
   through memory by GCC (six times slower, measured), and target_clones builds every
   version from one source, so of one width: hence three functions rather than clones. */
#if BPNET_HAVE_VECTORS && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&      \
    !defined(__APPLE__) && !defined(_MSC_VER)
#define BPNET_X86_LEVELS 1
#define BPNET_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512vl,avx512dq,avx512bw")))
#define BPNET_TARGET_AVX2 __attribute__((target("avx2")))
static inline int bpnet_x86_vector_bytes(void)
{
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
        return 64;
    return __builtin_cpu_supports("avx2") ? 32 : 16;
}
#else
#define BPNET_X86_LEVELS 0
#endif

/* OpenMP, when the build has it (setup.py passes the compiler's flag only after a test
   compile, and never with BPNET_NO_OPENMP=1); without it everything runs on one thread. */
#ifdef _OPENMP
#include <omp.h>
#endif

/* Whether this build runs its kernels on several threads. */
static inline int bpnet_openmp_enabled(void)
{
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* The OpenMP runtime's own thread limit (OMP_NUM_THREADS, omp_set_num_threads and so
   threadpoolctl's limits); 1 without OpenMP. */
static inline int bpnet_openmp_max_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

/* The calling thread's number in its OpenMP team: 0 to the team's size - 1. */
static inline int bpnet_thread_number(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* *counter += 1, atomically; returns the value before. Threads claim the blocks of a
   phase with it (_parallel.pyx): only the claim itself needs to be atomic, since the
   end of the phase's parallel region orders the blocks' writes. */
#if defined(_MSC_VER)
#include <intrin.h>
static inline long long bpnet_claim_next(long long *counter)
{
    return _InterlockedExchangeAdd64((volatile long long *)counter, 1);
}
#else
static inline long long bpnet_claim_next(long long *counter)
{
    return __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}
#endif

/* *counter, read atomically (a claim may be under way on another thread): a thread
   looking for blocks to take reads a run's counter before claiming from it, so that a
   run already done costs a read, not a write to another core's cache line. */
#if defined(_MSC_VER)
static inline long long bpnet_peek(long long *counter)
{
    return *(volatile long long *)counter;
}
#else
static inline long long bpnet_peek(long long *counter)
{
    return __atomic_load_n(counter, __ATOMIC_RELAXED);
}
#endif

/* Release the calling thread's OpenMP worker threads, so that a child forked now can
   start its own. GNU's runtime keeps a pool of workers per thread that opened a
   parallel region; a forked child inherits the pool's bookkeeping but not its threads,
   and waits for them forever at its first parallel region. OpenMP 5.0's
   omp_pause_resource_all (GCC 10 and later, LLVM's runtime) ends the pool; the next
   parallel region starts a new one.

   others_running says whether other threads of the process may be inside a parallel
   region now. GNU's pause ends only the calling thread's pool, so it is safe then. LLVM's
   runtime (libomp, and Intel's, whose omp.h defines KMP_VERSION_MAJOR) pauses the whole
   runtime: a hard pause under another thread's running team leaves the runtime broken
   in the child, which crashes at its next OpenMP call. There, with others running, the
   pool is left alone and the caller keeps the child on one thread.

   Returns 0 when the pool is released (or there is none to release), -1 when it was
   not. */
static inline int bpnet_openmp_release_threads(int others_running)
{
    (void)others_running;
#if defined(_OPENMP) &&                                                                            \
    (_OPENMP >= 201811 || (defined(__GNUC__) && __GNUC__ >= 10 && !defined(__clang__)))
#ifdef KMP_VERSION_MAJOR
    if (others_running)
        return -1;
#endif
    return omp_pause_resource_all(omp_pause_hard) == 0 ? 0 : -1;
#elif defined(_OPENMP)
    return -1;
#else
    return 0;
#endif
}

/* Seconds on a monotonic clock, for the thread policy's timings (never for results). */
static inline double bpnet_seconds(void)
{
#ifdef _OPENMP
    return omp_get_wtime();
#else
    return 0.0;
#endif
}

#endif
