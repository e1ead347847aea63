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

// least-connections' view of `count` consecutive count slots, built once per table and shared
// read-only by every worker. key = counts[i] * scales[i] | holes[i]: holes[i] is 0 for a slot
// of one of the strategy's backends, all ones for a slot it may not pick (NULL when there is
// no such slot); positions[i] is the backend's position among the strategy's `backends`,
// weights[p] the weight of the backend at position p and slot_weights[i] the weight of the
// backend in slot i (0 for a hole). cycle holds `cycle_length` slot
// offsets, one smooth weighted round-robin cycle over every backend; total_weight is their
// weights' sum and list_limit its square root rounded up, or 0 and SIZE_MAX when there is no
// cycle to walk (see bascule_least_loaded_pick).
typedef struct {
    const uint32_t *scales;
    const uint32_t *holes;
    const int32_t *positions;
    const intptr_t *weights;
    const uint32_t *slot_weights;
    const uint32_t *cycle;
    size_t cycle_length;
    size_t count;
    uint64_t largest_scale;
    uint64_t total_weight;
    size_t list_limit;
} bascule_least_loaded_span;

// The scan could not be trusted (a key may have wrapped 32 bits): pick the slow way.
#define BASCULE_LEAST_LOADED_UNTRUSTED (-1)

// One least-connections pick, counts[0] being the span's first slot: the position of a
// backend with the lowest key, or the code above. Equal keys share by weight in one of two
// ways, whichever costs fewer steps: the pool's weighted cycle walked from `*cursor` (the
// caller's own), skipping the backends not tied, expected total weight / tied weight steps
// (one when every backend is idle); or smooth weighted round-robin over the tied alone, one
// step per tied backend, with `current` (by position, the caller's own). `ties` is scratch with room for span->count + 16. Each count
// is read once by the scan, with a plain load (an aligned 32-bit load is atomic here): a count
// that moves meanwhile is seen before or after the move.
intptr_t bascule_least_loaded_pick(const uint32_t *counts, const bascule_least_loaded_span *span,
                                   uint32_t *ties, intptr_t *current, size_t *cursor);

// What a scan found besides the tied offsets.
typedef struct {
    uint32_t lowest;
    uint32_t max_count;
    uint64_t tied_weight;
} bascule_least_loaded_found;

// The scan alone, for tests: the offsets of every slot at the lowest key in ascending order
// in `ties` (room for n + 16), their number returned; the lowest key, the largest count
// outside the holes and the tied slots' `weights` summed in *found. `isa` 0 is the portable
// loop, 1 AVX2, 2 AVX-512; SIZE_MAX when this CPU cannot run it.
size_t bascule_least_loaded_scan(int isa, const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                                 const uint32_t *weights, size_t n, uint32_t *ties, bascule_least_loaded_found *found);

#endif
