/* A counter-based generator: every random number is a hash of its key, so any thread can
   draw any number in any order and get the same value. Dropout keys each draw with
   (seed, epoch, row, unit); the row is the sample's row in the training data, so a sample
   draws the same masks however the batches are cut and whoever computes them. */
#ifndef BPNET_COUNTER_RNG_H
#define BPNET_COUNTER_RNG_H

#include <stddef.h>
#include <stdint.h>

/* SplitMix64's finaliser: a bijective 64-bit mixer. */
static inline uint64_t bpnet_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Odd constants that spread consecutive counters over the 64-bit range before mixing. */
#define BPNET_GOLDEN 0x9e3779b97f4a7c15ULL
#define BPNET_ROW_SPREAD 0xd1b54a32d192ed03ULL

/* The key of one row's draws in one epoch. */
static inline uint64_t bpnet_row_key(uint64_t seed, int64_t epoch, ptrdiff_t row)
{
    return bpnet_mix64(
        bpnet_mix64(seed ^ bpnet_mix64((uint64_t)epoch * BPNET_GOLDEN + BPNET_GOLDEN)) ^
        ((uint64_t)row * BPNET_ROW_SPREAD));
}

/* 64 random bits for units 4 group ... 4 group + 3 of the row with this key, 16 bits
   each, the lowest first. */
static inline uint64_t bpnet_unit_group_bits(uint64_t key, ptrdiff_t group)
{
    return bpnet_mix64(key ^ (((uint64_t)group + 1) * BPNET_GOLDEN));
}

/* 16 random bits for one unit of the row with this key. */
static inline uint32_t bpnet_unit_draw(uint64_t key, ptrdiff_t unit)
{
    return (uint32_t)((bpnet_unit_group_bits(key, unit >> 2) >> (16 * (unit & 3))) & 0xffff);
}

#endif
