// The AVX2 + FMA kernels: register tiles of MR rows × NP panels (16 columns each, two 8-float registers), each
// accumulator one K block's fused multiply-add chain, in k order, then added to y — the sum of ckernels.h, 8
// columns at a time.
#include <string.h>
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#pragma clang attribute push(__attribute__((target("avx2,fma,f16c"))), apply_to = function)

#define INLINE static inline __attribute__((always_inline))

/// The 16 weights of one k of one panel, widened: columns 0–7 in *lo, 8–15 in *hi.
INLINE void load_weights(ek_element_type type, const void *w, size_t index, __m256 *lo, __m256 *hi) {
    if (type == EK_F32) {
        const float *p = (const float *)w + index;
        *lo = _mm256_load_ps(p);
        *hi = _mm256_load_ps(p + 8);
    } else if (type == EK_BF16) {
        // lane(j): column j in the low half of 32-bit lane j, column j + 8 in its high half (internal.h).
        const __m256i v = _mm256_load_si256((const __m256i *)((const uint16_t *)w + index));
        *lo = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
        *hi = _mm256_castsi256_ps(_mm256_and_si256(v, _mm256_set1_epi32((int)0xFFFF0000u)));
    } else {
        const uint16_t *p = (const uint16_t *)w + index;
        *lo = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)p));
        *hi = _mm256_cvtph_ps(_mm_load_si128((const __m128i *)(p + 8)));
    }
}

/// y[0 ..< MR, 0 ..< cols] (+)= x[0 ..< MR, 0 ..< kc] · the NP panels' weights; cols ≤ 16 · NP. `next`, when not
/// NULL, is the next panel's slice, fetched into cache line by line as this tile runs, so that its first tile
/// finds it there instead of waiting on memory.
INLINE void tile(const int MR, const int NP, const ek_element_type type, const float *x, size_t ldx,
                 const void *w, size_t panel_stride, size_t kc, float *y, size_t ldy, int load_y, size_t cols,
                 const void *next, const float *bias) {
    __m256 acc[6][4][2];
    const int full = cols == (size_t)(16 * NP);
    float edge[6][64] __attribute__((aligned(32)));
    float edge_bias[64] __attribute__((aligned(32)));
    if (!full && load_y) {
        for (int m = 0; m < MR; m++) memcpy(edge[m], y + m * ldy, cols * sizeof(float));
    }
    if (!full && bias) {   // the columns past `cols` are never stored: any bias there will do
        memcpy(edge_bias, bias, cols * sizeof(float));
        bias = edge_bias;
    }
    for (int m = 0; m < MR; m++) {
        for (int p = 0; p < NP; p++) {
            acc[m][p][0] = _mm256_setzero_ps();
            acc[m][p][1] = _mm256_setzero_ps();
        }
    }
    const size_t step = EK_PANEL * (type == EK_F32 ? 4 : 2);   // bytes of one k of one panel
    for (size_t k = 0; k < kc; k++) {
        if (next) _mm_prefetch((const char *)next + k * step, _MM_HINT_T0);
        __m256 lo[4], hi[4];
        for (int p = 0; p < NP; p++) load_weights(type, w, p * panel_stride + k * EK_PANEL, &lo[p], &hi[p]);
        for (int m = 0; m < MR; m++) {
            const __m256 b = _mm256_broadcast_ss(x + m * ldx + k);
            for (int p = 0; p < NP; p++) {
                acc[m][p][0] = _mm256_fmadd_ps(b, lo[p], acc[m][p][0]);
                acc[m][p][1] = _mm256_fmadd_ps(b, hi[p], acc[m][p][1]);
            }
        }
    }
    for (int m = 0; m < MR; m++) {
        for (int p = 0; p < NP; p++) {
            for (int h = 0; h < 2; h++) {
                float *to = full ? y + m * ldy + 16 * p + 8 * h : edge[m] + 16 * p + 8 * h;
                __m256 sum = acc[m][p][h];
                if (load_y) sum = _mm256_add_ps(_mm256_loadu_ps(to), sum);
                if (bias) sum = _mm256_add_ps(sum, _mm256_loadu_ps(bias + 16 * p + 8 * h));
                _mm256_storeu_ps(to, sum);
            }
        }
    }
    if (!full) {
        for (int m = 0; m < MR; m++) memcpy(y + m * ldy, edge[m], cols * sizeof(float));
    }
}

/// Every tile of a block: 6 × 16 tiles down each panel (the panel's K slice stays in L1 while rows stream from
/// L2); one or two rows, too few to hide the FMA latency with two accumulators each, take 4 or 2 panels at once.
INLINE void block(const ek_block *b, const ek_element_type type) {
    const size_t stride = b->kc * EK_PANEL;
    const size_t element = type == EK_F32 ? 4 : 2;
    size_t p = 0;
#define COLS(panel, np) (b->cols - 16 * (panel) < 16 * (size_t)(np) ? b->cols - 16 * (panel) : 16 * (size_t)(np))
#define W(panel) ((const void *)((const unsigned char *)b->w + (panel) * stride * element))
#define B(panel) (b->bias ? b->bias + 16 * (panel) : 0)
    // One or two rows stream the weights once, which the hardware prefetcher follows on its own.
    if (b->rows == 1) {
        for (; p + 4 <= b->panels; p += 4)
            tile(1, 4, type, b->x, b->ldx, W(p), stride, b->kc, b->y + 16 * p, b->ldy, b->load_y, COLS(p, 4), 0, B(p));
    } else if (b->rows == 2) {
        for (; p + 2 <= b->panels; p += 2)
            tile(2, 2, type, b->x, b->ldx, W(p), stride, b->kc, b->y + 16 * p, b->ldy, b->load_y, COLS(p, 2), 0, B(p));
    }
    for (; p < b->panels; p++) {
        const size_t cols = COLS(p, 1);
        // The panel's last tile reads its slice from cache (the first one brought it in) while it fetches the
        // next panel's.
        const void *next = p + 1 < b->panels && b->rows > 6 ? W(p + 1) : 0;
        const size_t last = (b->rows - 1) / 6 * 6;
        size_t m = 0;
        for (; m + 6 <= b->rows; m += 6)
            tile(6, 1, type, b->x + m * b->ldx, b->ldx, W(p), stride, b->kc, b->y + m * b->ldy + 16 * p, b->ldy,
                 b->load_y, cols, m == last ? next : 0, B(p));
        const float *x = b->x + m * b->ldx;
        float *y = b->y + m * b->ldy + 16 * p;
        switch (b->rows - m) {
        case 1: tile(1, 1, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, next, B(p)); break;
        case 2: tile(2, 1, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, next, B(p)); break;
        case 3: tile(3, 1, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, next, B(p)); break;
        case 4: tile(4, 1, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, next, B(p)); break;
        case 5: tile(5, 1, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, next, B(p)); break;
        default: break;
        }
    }
#undef COLS
#undef W
#undef B
}

static void block_f32(const ek_block *b) { block(b, EK_F32); }
static void block_bf16(const ek_block *b) { block(b, EK_BF16); }
static void block_f16(const ek_block *b) { block(b, EK_F16); }

#pragma clang attribute pop

ek_block_fn ek_avx2_block(ek_element_type type) {
    switch (type) {
    case EK_F32: return block_f32;
    case EK_BF16: return block_bf16;
    case EK_F16: return block_f16;
    }
    return block_f32;
}

#else
ek_block_fn ek_avx2_block(ek_element_type type) { return ek_portable_block(type); }
#endif
