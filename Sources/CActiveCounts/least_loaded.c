#include "CActiveCounts.h"

// The counts are read with plain loads while workers add to them atomically: an aligned 32-bit
// load is atomic on every target we build for, and the plain loads are what lets the loop run
// 8 or 16 slots per instruction. A count may be one connection stale, as an atomic load may be.
//
// Pass 1 stores each key in `ties` (it has room for n) and finds the lowest; pass 2 reads the
// keys back and compacts the offsets of the lowest in place (the t-th tie is written at or
// before the key it came from, never over a key still to be read), so each count is read once
// and each key computed once. Each body is instantiated with and without holes (no span of
// the strategy's own backends has any unless backends are down or slots were reused), the
// hole loads being a third of pass 1.

#define HOLE(i) (with_holes ? holes[i] : 0u)

static inline __attribute__((always_inline))
size_t tail_keys(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes, size_t from, size_t n,
                 uint32_t *ties, uint32_t *low, uint32_t *high, const int with_holes) {
    for (size_t j = from; j < n; j++) {
        uint32_t count = counts[j] & ~HOLE(j);
        *high = count > *high ? count : *high;
        uint32_t key = (count * scales[j]) | HOLE(j);
        ties[j] = key;
        *low = key < *low ? key : *low;
    }
    return n;
}

static inline __attribute__((always_inline))
size_t tail_ties(uint32_t *ties, size_t from, size_t n, size_t tied, uint32_t low) {
    for (size_t j = from; j < n; j++) {
        uint32_t key = ties[j];
        ties[tied] = (uint32_t)j;
        tied += key == low;
    }
    return tied;
}

static inline __attribute__((always_inline))
size_t scan_generic_body(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                         size_t n, uint32_t *ties, uint32_t *max_count, const int with_holes) {
    uint32_t low = UINT32_MAX, high = 0;
    tail_keys(counts, scales, holes, 0, n, ties, &low, &high, with_holes);
    *max_count = high;
    return tail_ties(ties, 0, n, 0, low);
}

static size_t scan_generic(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                           size_t n, uint32_t *ties, uint32_t *max_count) {
    return holes ? scan_generic_body(counts, scales, holes, n, ties, max_count, 1)
                 : scan_generic_body(counts, scales, NULL, n, ties, max_count, 0);
}

#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>

__attribute__((target("avx2")))
static uint32_t horizontal_min(__m256i v) {
    __m128i m = _mm_min_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_min_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(m);
}

__attribute__((target("avx2")))
static uint32_t horizontal_max(__m256i v) {
    __m128i m = _mm_max_epu32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0x4E));
    m = _mm_max_epu32(m, _mm_shuffle_epi32(m, 0xB1));
    return (uint32_t)_mm_cvtsi128_si32(m);
}

static inline __attribute__((always_inline, target("avx2")))
size_t scan_avx2_body(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                      size_t n, uint32_t *ties, uint32_t *max_count, const int with_holes) {
    __m256i lowest = _mm256_set1_epi32(-1), highest = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256i count = _mm256_loadu_si256((const __m256i *)(counts + i));
        __m256i hole = _mm256_setzero_si256();
        if (with_holes) {
            hole = _mm256_loadu_si256((const __m256i *)(holes + i));
            count = _mm256_andnot_si256(hole, count);
        }
        highest = _mm256_max_epu32(highest, count);
        __m256i key = _mm256_mullo_epi32(count, _mm256_loadu_si256((const __m256i *)(scales + i)));
        if (with_holes) key = _mm256_or_si256(key, hole);
        _mm256_storeu_si256((__m256i *)(ties + i), key);
        lowest = _mm256_min_epu32(lowest, key);
    }
    uint32_t low = horizontal_min(lowest), high = horizontal_max(highest);
    tail_keys(counts, scales, holes, i, n, ties, &low, &high, with_holes);
    size_t tied = 0;
    __m256i target = _mm256_set1_epi32((int)low);
    for (i = 0; i + 8 <= n; i += 8) {
        __m256i key = _mm256_loadu_si256((const __m256i *)(ties + i));
        unsigned mask = (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpeq_epi32(key, target)));
        while (mask) {
            ties[tied++] = (uint32_t)(i + (size_t)__builtin_ctz(mask));
            mask &= mask - 1;
        }
    }
    *max_count = high;
    return tail_ties(ties, i, n, tied, low);
}

__attribute__((target("avx2")))
static size_t scan_avx2(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                        size_t n, uint32_t *ties, uint32_t *max_count) {
    return holes ? scan_avx2_body(counts, scales, holes, n, ties, max_count, 1)
                 : scan_avx2_body(counts, scales, NULL, n, ties, max_count, 0);
}

static inline __attribute__((always_inline, target("avx512f")))
size_t scan_avx512_body(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                        size_t n, uint32_t *ties, uint32_t *max_count, const int with_holes) {
    __m512i lowest = _mm512_set1_epi32(-1), highest = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512i count = _mm512_loadu_si512(counts + i);
        __m512i hole = _mm512_setzero_si512();
        if (with_holes) {
            hole = _mm512_loadu_si512(holes + i);
            count = _mm512_andnot_si512(hole, count);
        }
        highest = _mm512_max_epu32(highest, count);
        __m512i key = _mm512_mullo_epi32(count, _mm512_loadu_si512(scales + i));
        if (with_holes) key = _mm512_or_si512(key, hole);
        _mm512_storeu_si512(ties + i, key);
        lowest = _mm512_min_epu32(lowest, key);
    }
    uint32_t low = _mm512_reduce_min_epu32(lowest), high = _mm512_reduce_max_epu32(highest);
    tail_keys(counts, scales, holes, i, n, ties, &low, &high, with_holes);
    size_t tied = 0;
    __m512i target = _mm512_set1_epi32((int)low);
    for (i = 0; i + 16 <= n; i += 16) {
        unsigned mask = _mm512_cmpeq_epi32_mask(_mm512_loadu_si512(ties + i), target);
        while (mask) {
            ties[tied++] = (uint32_t)(i + (size_t)__builtin_ctz(mask));
            mask &= mask - 1;
        }
    }
    *max_count = high;
    return tail_ties(ties, i, n, tied, low);
}

__attribute__((target("avx512f")))
static size_t scan_avx512(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                          size_t n, uint32_t *ties, uint32_t *max_count) {
    return holes ? scan_avx512_body(counts, scales, holes, n, ties, max_count, 1)
                 : scan_avx512_body(counts, scales, NULL, n, ties, max_count, 0);
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

typedef size_t (*scan_function)(const uint32_t *, const uint32_t *, const uint32_t *, size_t, uint32_t *, uint32_t *);
static scan_function scan = scan_generic;

// Chosen once at load, before any thread picks.
__attribute__((constructor))
static void choose_scan(void) {
    unsigned state = saved_state(), features = leaf7_ebx();
    if ((state & 0xE6) == 0xE6 && (features & bit_AVX512F)) scan = scan_avx512;
    else if ((state & 0x6) == 0x6 && (features & bit_AVX2)) scan = scan_avx2;
}

size_t bascule_least_loaded(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                            size_t n, uint32_t *ties, uint32_t *max_count) {
    return scan(counts, scales, holes, n, ties, max_count);
}
#else
size_t bascule_least_loaded(const uint32_t *counts, const uint32_t *scales, const uint32_t *holes,
                            size_t n, uint32_t *ties, uint32_t *max_count) {
    return scan_generic(counts, scales, holes, n, ties, max_count);
}
#endif
