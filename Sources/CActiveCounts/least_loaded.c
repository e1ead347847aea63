#include "CActiveCounts.h"

// One pass over the counts. The lowest key so far and the offsets tied at it are kept
// together: a block holding a lower key restarts the list (rare once the scan has met the
// pool's idle or least-loaded backends, so that branch predicts), and a block appends its
// lanes equal to the lowest by compressing their offsets to the front of a vector and storing
// the whole vector at the list's end (hence the 16 slots of room), not lane by lane. The
// two-pass form it replaced stored every key, read them back and appended ties behind a
// data-dependent branch per tied lane; at 300 backends with 6 tied it cost 67 ns, this 36.
//
// Each body is instantiated with and without holes: no span of the strategy's own backends
// has any unless backends are down or slots were reused, and the hole loads would cost a
// third of the loop.

#define HOLE(i) (with_holes ? holes[i] : 0u)

// The scan bodies' common signature. The list of tied offsets is only written, and their
// `weights` summed, while it holds fewer than `limit` (the count goes on): past that the
// caller walks its cycle and needs neither, and an idle pool's blocks then cost no compress,
// no store and no add. The weights are summed as the ties are met, so that the caller can
// choose its tie-break without reading the list back (read right after the vector stores
// that wrote it, it stalled on store forwarding: 25 to 55 ns at 24 tied).
#define SCAN_PARAMETERS const uint32_t *counts, const uint32_t *scales, const uint32_t *holes, \
    const uint32_t *weights, size_t n, uint32_t *ties, size_t limit, bascule_least_loaded_found *found
#define SCAN_ARGUMENTS(h) counts, scales, h, weights, n, ties, limit, found

static inline __attribute__((always_inline))
size_t scan_generic_body(SCAN_PARAMETERS, const int with_holes) {
    uint32_t low = UINT32_MAX, high = 0;
    uint64_t tied_weight = 0;
    size_t tied = 0;
    (void)limit;
    for (size_t j = 0; j < n; j++) {
        uint32_t count = counts[j] & ~HOLE(j);
        high = count > high ? count : high;
        uint32_t key = (count * scales[j]) | HOLE(j);
        if (key < low) {
            low = key;
            tied = 0;
            tied_weight = 0;
        }
        ties[tied] = (uint32_t)j;
        tied += key == low;
        tied_weight += key == low ? weights[j] : 0;
    }
    *found = (bascule_least_loaded_found){.lowest = low, .max_count = high, .tied_weight = tied_weight};
    return tied;
}

static size_t scan_generic(SCAN_PARAMETERS) {
    return holes ? scan_generic_body(SCAN_ARGUMENTS(holes), 1) : scan_generic_body(SCAN_ARGUMENTS(NULL), 0);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

// For each 8-bit lane mask, the lane numbers of its set bits packed to the front, one per
// byte: AVX2 has no compress instruction, so a permute by this row does its work.
static uint64_t pack_rows[256];

static void fill_pack_rows(void) {
    for (unsigned mask = 0; mask < 256; mask++) {
        uint64_t row = 0;
        unsigned out = 0;
        for (unsigned lane = 0; lane < 8; lane++)
            if (mask & (1u << lane)) row |= (uint64_t)lane << (8 * out++);
        pack_rows[mask] = row;
    }
}

// One block of 8 slots from `i`; `live` (all ones in the lanes to read) masks off the lanes
// past n in the last block: they load as 0 and are left out of every comparison.
static inline __attribute__((always_inline, target("avx2")))
void block_avx2(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes, const uint32_t *weights,
                size_t i, __m256i live, __m256i offsets, __m256i *lowest, __m256i *highest, __m256i *tied_weight,
                uint32_t *ties, size_t *tied, size_t limit, const int whole, const int with_holes) {
    unsigned live_bits = whole ? 0xFF : (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(live));
#define LOAD(p) (whole ? _mm256_loadu_si256((const __m256i *)(p)) : _mm256_maskload_epi32((const int *)(p), live))
    __m256i count = LOAD(counts + i);
    __m256i hole = _mm256_setzero_si256();
    if (with_holes) {
        hole = LOAD(holes + i);
        count = _mm256_andnot_si256(hole, count);
    }
    *highest = _mm256_max_epu32(*highest, count);
    __m256i key = _mm256_mullo_epi32(count, LOAD(scales + i));
    if (with_holes) key = _mm256_or_si256(key, hole);
    // A lane at or above the lowest is one whose max with the lowest is itself.
    unsigned not_below = (unsigned)_mm256_movemask_ps(
        _mm256_castsi256_ps(_mm256_cmpeq_epi32(_mm256_max_epu32(key, *lowest), key)));
    if (__builtin_expect((~not_below & live_bits) != 0, 0)) {
        __m256i m = whole ? key : _mm256_or_si256(key, _mm256_andnot_si256(live, _mm256_set1_epi32(-1)));
        m = _mm256_min_epu32(m, _mm256_permute2x128_si256(m, m, 1));
        m = _mm256_min_epu32(m, _mm256_shuffle_epi32(m, 0x4E));
        *lowest = _mm256_min_epu32(m, _mm256_shuffle_epi32(m, 0xB1));
        *tied = 0;
        *tied_weight = _mm256_setzero_si256();
    }
    __m256i equal_lanes = _mm256_cmpeq_epi32(key, *lowest);
    if (!whole) equal_lanes = _mm256_and_si256(equal_lanes, live);
    unsigned equal = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(equal_lanes));
    if (*tied < limit) {
        __m256i order = _mm256_cvtepu8_epi32(_mm_cvtsi64_si128((long long)pack_rows[equal]));
        _mm256_storeu_si256((__m256i *)(ties + *tied), _mm256_permutevar8x32_epi32(offsets, order));
        *tied_weight = _mm256_add_epi32(*tied_weight, _mm256_and_si256(equal_lanes, LOAD(weights + i)));
    }
#undef LOAD
    *tied += (size_t)__builtin_popcount(equal);
}

__attribute__((target("avx2")))
static uint64_t sum_lanes_avx2(__m256i v) {
    __m256i wide = _mm256_add_epi64(_mm256_cvtepu32_epi64(_mm256_castsi256_si128(v)),
                                    _mm256_cvtepu32_epi64(_mm256_extracti128_si256(v, 1)));
    __m128i m = _mm_add_epi64(_mm256_castsi256_si128(wide), _mm256_extracti128_si256(wide, 1));
    return (uint64_t)_mm_cvtsi128_si64(m) + (uint64_t)_mm_extract_epi64(m, 1);
}

static inline __attribute__((always_inline, target("avx2")))
size_t scan_avx2_body(SCAN_PARAMETERS, const int with_holes) {
    const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256i offsets = lanes, lowest = _mm256_set1_epi32(-1), highest = _mm256_setzero_si256();
    __m256i tied_weight = _mm256_setzero_si256();
    size_t tied = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        block_avx2(counts, scales, holes, weights, i, lanes, offsets, &lowest, &highest, &tied_weight, ties, &tied,
                   limit, 1, with_holes);
        offsets = _mm256_add_epi32(offsets, _mm256_set1_epi32(8));
    }
    if (i < n) {
        __m256i live = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n - i)), lanes);
        block_avx2(counts, scales, holes, weights, i, live, offsets, &lowest, &highest, &tied_weight, ties, &tied,
                   limit, 0, with_holes);
    }
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(highest), _mm256_extracti128_si256(highest, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    *found = (bascule_least_loaded_found){.lowest = (uint32_t)_mm256_extract_epi32(lowest, 0),
                                          .max_count = (uint32_t)_mm_cvtsi128_si32(m),
                                          .tied_weight = sum_lanes_avx2(tied_weight)};
    return tied;
}

__attribute__((target("avx2")))
static size_t scan_avx2(SCAN_PARAMETERS) {
    return holes ? scan_avx2_body(SCAN_ARGUMENTS(holes), 1) : scan_avx2_body(SCAN_ARGUMENTS(NULL), 0);
}

// One block of 16 slots from `i`; `live` masks off the lanes past n in the last block.
static inline __attribute__((always_inline, target("avx512f")))
void block_avx512(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes, const uint32_t *weights,
                  size_t i, __mmask16 live, __m512i *lowest, __m512i *highest, __m512i *tied_weight,
                  uint32_t *ties, size_t *tied, size_t limit, const int with_holes) {
    __m512i count = _mm512_maskz_loadu_epi32(live, counts + i);
    __m512i hole = _mm512_setzero_si512();
    if (with_holes) {
        hole = _mm512_maskz_loadu_epi32(live, holes + i);
        count = _mm512_andnot_si512(hole, count);
    }
    *highest = _mm512_max_epu32(*highest, count);
    __m512i key = _mm512_mullo_epi32(count, _mm512_maskz_loadu_epi32(live, scales + i));
    if (with_holes) key = _mm512_or_si512(key, hole);
    // Most blocks of a loaded pool hold nothing at or below the lowest: one compare, then on.
    // An idle pool ties in every block and pays a compare more than appending blindly would
    // (51 ns against 46 at 300); a pool with few ties saves 10.
    __mmask16 at_or_below = _mm512_mask_cmple_epu32_mask(live, key, *lowest);
    if (at_or_below == 0) return;
    __mmask16 equal = _mm512_mask_cmpeq_epi32_mask(live, key, *lowest);
    if (at_or_below != equal) {
        *lowest = _mm512_set1_epi32((int)_mm512_mask_reduce_min_epu32(live, key));
        *tied = 0;
        *tied_weight = _mm512_setzero_si512();
        equal = _mm512_mask_cmpeq_epi32_mask(live, key, *lowest);
    }
    if (*tied < limit) {
        __m512i offsets = _mm512_add_epi32(_mm512_set1_epi32((int)i),
                                           _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
        _mm512_storeu_si512(ties + *tied, _mm512_maskz_compress_epi32(equal, offsets));
        *tied_weight = _mm512_add_epi32(*tied_weight, _mm512_maskz_loadu_epi32(equal, weights + i));
    }
    *tied += (size_t)__builtin_popcount(equal);
}

static inline __attribute__((always_inline, target("avx512f")))
size_t scan_avx512_body(SCAN_PARAMETERS, const int with_holes) {
    __m512i lowest = _mm512_set1_epi32(-1), highest = _mm512_setzero_si512(), tied_weight = _mm512_setzero_si512();
    size_t tied = 0, i = 0;
    for (; i + 16 <= n; i += 16)
        block_avx512(counts, scales, holes, weights, i, 0xFFFF, &lowest, &highest, &tied_weight, ties, &tied, limit,
                     with_holes);
    if (i < n)
        block_avx512(counts, scales, holes, weights, i, (__mmask16)((1u << (n - i)) - 1), &lowest, &highest,
                     &tied_weight, ties, &tied, limit, with_holes);
    __m512i wide = _mm512_add_epi64(_mm512_cvtepu32_epi64(_mm512_castsi512_si256(tied_weight)),
                                    _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(tied_weight, 1)));
    *found = (bascule_least_loaded_found){.lowest = (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(lowest)),
                                          .max_count = _mm512_reduce_max_epu32(highest),
                                          .tied_weight = (uint64_t)_mm512_reduce_add_epi64(wide)};
    return tied;
}

__attribute__((target("avx512f")))
static size_t scan_avx512(SCAN_PARAMETERS) {
    return holes ? scan_avx512_body(SCAN_ARGUMENTS(holes), 1) : scan_avx512_body(SCAN_ARGUMENTS(NULL), 0);
}

// AVX-512 and AVX2 need the CPU to have them and the kernel to save their registers (OSXSAVE,
// then XCR0's state bits).
static unsigned saved_state(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE) || !(c & bit_AVX)) return 0;
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return lo;
}

static unsigned leaf7_ebx(void) {
    unsigned a, b, c, d;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) ? b : 0;
}

typedef size_t (*scan_function)(SCAN_PARAMETERS);
static scan_function scan = scan_generic;
static int has_avx2, has_avx512;

// Chosen once at load, before any thread picks.
__attribute__((constructor))
static void choose_scan(void) {
    unsigned state = saved_state(), features = leaf7_ebx();
    has_avx512 = (state & 0xE6) == 0xE6 && (features & bit_AVX512F);
    has_avx2 = (state & 0x6) == 0x6 && (features & bit_AVX2);
    fill_pack_rows();
    if (has_avx512) scan = scan_avx512;
    else if (has_avx2) scan = scan_avx2;
}

size_t bascule_least_loaded_scan(int isa, const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                                 const uint32_t *weights, size_t n, uint32_t *ties, bascule_least_loaded_found *found) {
    size_t limit = SIZE_MAX;
    switch (isa) {
    case 0: return scan_generic(SCAN_ARGUMENTS(holes));
    case 1: return has_avx2 ? scan_avx2(SCAN_ARGUMENTS(holes)) : SIZE_MAX;
    case 2: return has_avx512 ? scan_avx512(SCAN_ARGUMENTS(holes)) : SIZE_MAX;
    default: return SIZE_MAX;
    }
}
#else
static size_t scan(SCAN_PARAMETERS) {
    return scan_generic(SCAN_ARGUMENTS(holes));
}

size_t bascule_least_loaded_scan(int isa, const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                                 const uint32_t *weights, size_t n, uint32_t *ties, bascule_least_loaded_found *found) {
    size_t limit = SIZE_MAX;
    return isa == 0 ? scan_generic(SCAN_ARGUMENTS(holes)) : SIZE_MAX;
}
#endif

// nginx's smooth weighted round-robin over the tied positions: each gains its weight, the
// highest wins (the first of equals) and pays back their total. O(ties), so it is kept for
// ties that carry little of the weight, which are few.
static intptr_t break_tie(const uint32_t *ties, size_t tied, const int32_t *positions,
                          intptr_t *current, const intptr_t *weights) {
    intptr_t chosen = positions[ties[0]], best = INTPTR_MIN, total = 0;
    for (size_t t = 0; t < tied; t++) {
        intptr_t p = positions[ties[t]], value = current[p] + weights[p];
        current[p] = value;
        total += weights[p];
        if (value > best) {
            best = value;
            chosen = p;
        }
    }
    current[chosen] -= total;
    return chosen;
}

// The pool's cycle from *cursor, skipping the backends not at the lowest key: the tied share
// by weight as the whole pool would, with as many steps expected as total weight / tied
// weight. -1 after a whole cycle without one (the counts moved since the scan).
static intptr_t walk_cycle(const uint32_t *counts, const bascule_least_loaded_span *span, uint32_t lowest,
                           size_t *cursor) {
    size_t at = *cursor;
    for (size_t step = 0; step < span->cycle_length; step++) {
        uint32_t offset = span->cycle[at];
        at = at + 1 == span->cycle_length ? 0 : at + 1;
        if (counts[offset] * span->scales[offset] == lowest) {
            *cursor = at;
            return span->positions[offset];
        }
    }
    return -1;
}

intptr_t bascule_least_loaded_pick(const uint32_t *counts, const bascule_least_loaded_span *span,
                                   uint32_t *ties, intptr_t *current, size_t *cursor) {
    bascule_least_loaded_found found;
    size_t limit = span->list_limit;
    // Below a vector's width the set-up of the vector loop costs more than the plain loop.
    size_t tied = span->count < 8
        ? scan_generic(counts, span->scales, span->holes, span->slot_weights, span->count, ties, limit, &found)
        : scan(counts, span->scales, span->holes, span->slot_weights, span->count, ties, limit, &found);
    // With no key wrapped, every key of a backend is below 2^32 - 1 and no hole ties.
    if (tied == 0 || (uint64_t)found.max_count * span->largest_scale >= UINT32_MAX) return BASCULE_LEAST_LOADED_UNTRUSTED;
    if (tied == 1) return span->positions[ties[0]];
    // The walk when its expected steps (total weight / tied weight) are no more than the
    // list's (tied), so neither grows past about the square root of the total weight. At
    // `limit` tied or more (the list was not kept) the walk is the cheaper whatever the
    // weights, every weight being at least 1.
    if (tied >= limit) {
        intptr_t chosen = walk_cycle(counts, span, found.lowest, cursor);
        return chosen >= 0 ? chosen : BASCULE_LEAST_LOADED_UNTRUSTED;
    }
    if (span->total_weight != 0 && found.tied_weight * tied >= span->total_weight) {
        intptr_t chosen = walk_cycle(counts, span, found.lowest, cursor);
        if (chosen >= 0) return chosen;
    }
    return break_tie(ties, tied, span->positions, current, span->weights);
}
