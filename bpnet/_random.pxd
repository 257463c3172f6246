# A counter-based generator: every random number is a hash of its key, so any thread can
# draw any number in any order and get the same value. Dropout keys each of its draws
# with (seed, epoch, row, unit); the row is the sample's row in the training data, so a
# sample draws the same masks however the batches are cut and whoever computes them.
from libc.stdint cimport uint32_t, uint64_t


cdef extern from *:
    """
    /* SplitMix64's finaliser (a bijective 64-bit mixer) and the odd constants that spread
       consecutive counters over the 64-bit range before mixing. */
    static inline unsigned long long bpnet_mix64(unsigned long long z) {
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    #define BPNET_GOLDEN 0x9e3779b97f4a7c15ULL
    #define BPNET_ROW_SPREAD 0xd1b54a32d192ed03ULL
    /* 64 random bits for units 4 group ... 4 group + 3 of the row with this key, 16
       bits each (low first); in C so that C loops (the dropout kernel's) can inline it. */
    static inline unsigned long long bpnet_unit_group_bits(unsigned long long key,
                                                           Py_ssize_t group) {
        return bpnet_mix64(key ^ (((unsigned long long) group + 1) * BPNET_GOLDEN));
    }
    """
    uint64_t mix64 "bpnet_mix64" (uint64_t z) noexcept nogil
    uint64_t GOLDEN "BPNET_GOLDEN"
    uint64_t ROW_SPREAD "BPNET_ROW_SPREAD"
    uint64_t unit_group_bits "bpnet_unit_group_bits" (uint64_t key, Py_ssize_t group) noexcept nogil


cdef inline uint64_t row_key(uint64_t seed, long long epoch, Py_ssize_t row) noexcept nogil:
    """The key of one row's draws in one epoch; unit_group_bits draws from it."""
    return mix64(mix64(seed ^ mix64(<uint64_t> epoch * GOLDEN + GOLDEN))
                 ^ (<uint64_t> row * ROW_SPREAD))


cdef inline uint32_t unit_draw(uint64_t key, Py_ssize_t unit) noexcept nogil:
    """16 random bits for one unit of the row with this key."""
    return <uint32_t> ((unit_group_bits(key, unit >> 2) >> (16 * (unit & 3))) & 0xffff)
