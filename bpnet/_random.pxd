# The counter-based generator of bpnet/src/counter_rng.h: every random number is a hash of
# its key, so any thread can draw any number in any order and get the same value. Dropout
# keys each of its draws with (seed, epoch, row, unit); the row is the sample's row in the
# training data, so a sample draws the same masks however the batches are cut and whoever
# computes them.
from libc.stdint cimport int64_t, uint32_t, uint64_t


cdef extern from "counter_rng.h" nogil:
    uint64_t row_key "bpnet_row_key" (uint64_t seed, int64_t epoch, Py_ssize_t row) noexcept
    uint32_t unit_draw "bpnet_unit_draw" (uint64_t key, Py_ssize_t unit) noexcept
