#ifndef BASCULE_CACTIVECOUNTS_H
#define BASCULE_CACTIVECOUNTS_H

#include <stddef.h>
#include <stdint.h>

// A service's active-connection counts live in one contiguous uint32_t array, one slot per
// backend, changed by every worker with relaxed atomics (once per connection, never per read).
// Swift's Atomic cannot live in an array, hence these.
static inline void bascule_count_add(uint32_t *count, uint32_t delta) {
    __atomic_fetch_add(count, delta, __ATOMIC_RELAXED);
}

static inline void bascule_count_subtract(uint32_t *count, uint32_t delta) {
    __atomic_fetch_sub(count, delta, __ATOMIC_RELAXED);
}

static inline uint32_t bascule_count_load(const uint32_t *count) {
    return __atomic_load_n(count, __ATOMIC_RELAXED);
}

// least-connections' scan over `n` slots: key = counts[i] * scales[i] | holes[i] (holes[i] is
// 0 for a backend the strategy may pick, all ones for a slot it may not; NULL when every slot
// is one the strategy may pick). Writes the offsets
// of every slot at the lowest key to `ties` (room for n; also its scratch) and returns how
// many. Each count is read once: a count that moves meanwhile is seen before or after.
// `*max_count` receives the largest count outside the holes: the caller trusts the result only
// when max_count * (largest scale) fits in 32 bits, so no key wrapped.
size_t bascule_least_loaded(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                            size_t n, uint32_t *ties, uint32_t *max_count);

#endif
