// The AVX-512 kernels: a panel's 16 columns are one ZMM register, so each accumulator is one K block's chain for
// 16 output elements. The f32 product keeps ckernels.h's sum per element — one fused multiply-add per k in order,
// then the block sums in order — and so gives the AVX2 and portable kernels' bits; the bf16 product runs
// vdpbf16ps chains (ek_bf16_block), the portable kernel's arithmetic. Ragged column edges use masked loads and
// stores.
#include "internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define INLINE static inline __attribute__((always_inline))

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c"))), apply_to = function)

/// The 16 weights of one k of one panel, widened, columns in order.
INLINE __m512 load_weights(ek_element_type type, const void *w, size_t index) {
    if (type == EK_F32) return _mm512_load_ps((const float *)w + index);
    if (type == EK_BF16) {
        // lane(j) (internal.h): column j in the low half of 32-bit lane j, column j + 8 in its high half. Both
        // copies of the 8 lanes: shifted up for columns 0–7, masked for columns 8–15.
        const __m512i v = _mm512_broadcast_i64x4(_mm256_load_si256((const __m256i *)((const uint16_t *)w + index)));
        return _mm512_castsi512_ps(
            _mm512_mask_slli_epi32(_mm512_and_si512(v, _mm512_set1_epi32((int)0xFFFF0000u)), 0x00FF, v, 16));
    }
    return _mm512_cvtph_ps(_mm256_load_si256((const __m256i *)((const uint16_t *)w + index)));
}

INLINE __mmask16 column_mask(size_t cols, int p) {
    const size_t left = cols - 16 * (size_t)p;
    return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1);
}

/// y[0 ..< MR, 0 ..< cols] (+)= x[0 ..< MR, 0 ..< kc] · the NP panels' weights; cols ≤ 16 · NP (and > 16 · (NP − 1)).
/// `next`, when not NULL, is the slice after these panels, fetched into cache as this tile runs.
INLINE void tile(const int MR, const int NP, const ek_element_type type, const float *x, size_t ldx,
                 const void *w, size_t panel_stride, size_t kc, float *y, size_t ldy, int load_y, size_t cols,
                 const void *next, const float *bias) {
    __m512 acc[6][8];
    for (int m = 0; m < MR; m++)
        for (int p = 0; p < NP; p++) acc[m][p] = _mm512_setzero_ps();
    const size_t step = EK_PANEL * (type == EK_F32 ? 4 : 2);   // bytes of one k of one panel
    for (size_t k = 0; k < kc; k++) {
        if (next)
            for (int p = 0; p < NP; p++) _mm_prefetch((const char *)next + (NP * k + p) * step, _MM_HINT_T0);
        __m512 b[8];
        for (int p = 0; p < NP; p++) b[p] = load_weights(type, w, p * panel_stride + k * EK_PANEL);
        for (int m = 0; m < MR; m++) {
            const __m512 a = _mm512_set1_ps(x[m * ldx + k]);
            for (int p = 0; p < NP; p++) acc[m][p] = _mm512_fmadd_ps(a, b[p], acc[m][p]);
        }
    }
    for (int p = 0; p < NP; p++) {
        const __mmask16 mask = column_mask(cols, p);
        for (int m = 0; m < MR; m++) {
            float *to = y + m * ldy + 16 * p;
            __m512 sum = acc[m][p];
            if (load_y) sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, to), sum);
            if (bias) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(mask, bias + 16 * p));
            _mm512_mask_storeu_ps(to, mask, sum);
        }
    }
}

#define COLS(panel, np) (b->cols - 16 * (panel) < 16 * (size_t)(np) ? b->cols - 16 * (panel) : 16 * (size_t)(np))

/// Every tile of a block: 6-row tiles down each pair of panels (their K slices stay in L1 while rows stream from
/// L2); one or two rows, too few to hide the FMA latency, take 8 or 4 panels at once.
INLINE void block(const ek_block *b, const ek_element_type type) {
    const size_t stride = b->kc * EK_PANEL;
    const size_t element = type == EK_F32 ? 4 : 2;
    size_t p = 0;
#define W(panel) ((const void *)((const unsigned char *)b->w + (panel) * stride * element))
#define B(panel) (b->bias ? b->bias + 16 * (panel) : 0)
    if (b->rows == 1) {
        for (; p + 8 <= b->panels; p += 8)
            tile(1, 8, type, b->x, b->ldx, W(p), stride, b->kc, b->y + 16 * p, b->ldy, b->load_y, COLS(p, 8), 0, B(p));
    } else if (b->rows == 2) {
        for (; p + 4 <= b->panels; p += 4)
            tile(2, 4, type, b->x, b->ldx, W(p), stride, b->kc, b->y + 16 * p, b->ldy, b->load_y, COLS(p, 4), 0, B(p));
    }
    for (; p < b->panels; p += 2) {
        const int pair = p + 2 <= b->panels;
        const size_t cols = COLS(p, pair ? 2 : 1);
        const void *next = p + 2 < b->panels && b->rows > 6 ? W(p + 2) : 0;
        const size_t last = (b->rows - 1) / 6 * 6;
        size_t m = 0;
#define TILE(rows) do { \
            if (pair) tile(rows, 2, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, pf, B(p)); \
            else tile(rows, 1, type, x, b->ldx, W(p), stride, b->kc, y, b->ldy, b->load_y, cols, pf, B(p)); \
        } while (0)
        for (; m + 6 <= b->rows; m += 6) {
            const float *x = b->x + m * b->ldx;
            float *y = b->y + m * b->ldy + 16 * p;
            const void *pf = m == last ? next : 0;
            TILE(6);
        }
        const float *x = b->x + m * b->ldx;
        float *y = b->y + m * b->ldy + 16 * p;
        const void *pf = next;
        switch (b->rows - m) {
        case 1: TILE(1); break;
        case 2: TILE(2); break;
        case 3: TILE(3); break;
        case 4: TILE(4); break;
        case 5: TILE(5); break;
        default: break;
        }
#undef TILE
    }
#undef W
#undef B
}

/// ek_round_bf16 on 16 lanes: the bf16 bits in each lane's low half.
INLINE __m512i round16(__m512i bits) {
    const __m512i top = _mm512_srli_epi32(bits, 16);
    const __m512i nearest = _mm512_srli_epi32(
        _mm512_add_epi32(bits, _mm512_add_epi32(_mm512_set1_epi32(0x7FFF), _mm512_and_si512(top, _mm512_set1_epi32(1)))), 16);
    const __mmask16 tiny = _mm512_testn_epi32_mask(bits, _mm512_set1_epi32(0x7F800000));
    const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, _mm512_set1_epi32(0x7FFFFFFF)),
                                                  _mm512_set1_epi32(0x7F800000));
    __m512i result = _mm512_mask_mov_epi32(nearest, nan, _mm512_or_si512(top, _mm512_set1_epi32(0x0040)));
    return _mm512_mask_mov_epi32(result, tiny, _mm512_and_si512(top, _mm512_set1_epi32(0x8000)));
}

/// 16 lanes of bf16 bits (low halves) as 8 pair words: lane 2i low, lane 2i + 1 high.
INLINE __m256i pairs8(__m512i lanes) {
    const __m512i joined = _mm512_or_si512(_mm512_and_si512(lanes, _mm512_set1_epi64(0xFFFF)),
                                           _mm512_and_si512(_mm512_srli_epi64(lanes, 16), _mm512_set1_epi64(0xFFFF0000)));
    return _mm512_cvtepi64_epi32(joined);
}

static size_t round_row(const float *row, size_t pairs, uint32_t *high, uint32_t *low) {
    size_t i = 0;
    const __m512i exponent = _mm512_set1_epi32(0x7F800000);
    for (; i + 8 <= pairs; i += 8) {
        const __m512i bits = _mm512_loadu_si512(row + 2 * i);
        const __m512i rounded = round16(bits);
        _mm256_storeu_si256((__m256i *)(high + i), pairs8(rounded));
        if (low) {
            const __m512 value = _mm512_castsi512_ps(bits);
            const __m512i topBits = _mm512_slli_epi32(rounded, 16);
            // x − hi is exact; an infinite or NaN x (or hi) keeps no remainder.
            const __mmask16 finite = _mm512_cmpneq_epi32_mask(_mm512_and_si512(bits, exponent), exponent)
                                   & _mm512_cmpneq_epi32_mask(_mm512_and_si512(topBits, exponent), exponent);
            const __m512 rest = _mm512_maskz_sub_ps(finite, value, _mm512_castsi512_ps(topBits));
            _mm256_storeu_si256((__m256i *)(low + i), pairs8(round16(_mm512_castps_si512(rest))));
        }
    }
    return i;
}

static void block_f32(const ek_block *b) { block(b, EK_F32); }
static void block_bf16(const ek_block *b) { block(b, EK_BF16); }
static void block_f16(const ek_block *b) { block(b, EK_F16); }

#pragma clang attribute pop

ek_round_fn ek_avx512_round(void) { return round_row; }

ek_block_fn ek_avx512_block(ek_element_type type) {
    switch (type) {
    case EK_F32: return block_f32;
    case EK_BF16: return block_bf16;
    case EK_F16: return block_f16;
    }
    return block_f32;
}

// MARK: bf16 dot products

#pragma clang attribute push(__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512bf16"))), apply_to = function)

/// y[0 ..< MR, 0 ..< cols] (+)= the vdpbf16ps chains of x's pairs with the NP panels' pairs.
INLINE void dot_tile(const int MR, const int NP, const ek_bf16_block *b, const uint32_t *x, const uint32_t *w,
                     float *y, size_t cols, const uint32_t *next) {
    __m512 acc[6][8];
    for (int m = 0; m < MR; m++)
        for (int p = 0; p < NP; p++) acc[m][p] = _mm512_setzero_ps();
    const size_t stride = b->pairs * EK_PANEL;
    for (size_t i = 0; i < b->pairs; i++) {
        if (next)
            for (int p = 0; p < NP; p++) _mm_prefetch((const char *)(next + (NP * i + p) * EK_PANEL), _MM_HINT_T0);
        __m512bh v[8];
        for (int p = 0; p < NP; p++) v[p] = (__m512bh)_mm512_load_si512(w + p * stride + i * EK_PANEL);
        for (int m = 0; m < MR; m++) {
            const __m512bh high = (__m512bh)_mm512_set1_epi32((int)x[m * b->ldx + i]);
            for (int p = 0; p < NP; p++) acc[m][p] = _mm512_dpbf16_ps(acc[m][p], high, v[p]);
            if (b->split) {
                const __m512bh low = (__m512bh)_mm512_set1_epi32((int)x[m * b->ldx + b->low_offset + i]);
                for (int p = 0; p < NP; p++) acc[m][p] = _mm512_dpbf16_ps(acc[m][p], low, v[p]);
            }
        }
    }
    for (int p = 0; p < NP; p++) {
        const __mmask16 mask = column_mask(cols, p);
        for (int m = 0; m < MR; m++) {
            float *to = y + m * b->ldy + 16 * p;
            __m512 sum = acc[m][p];
            if (b->load_y) sum = _mm512_add_ps(_mm512_maskz_loadu_ps(mask, to), sum);
            _mm512_mask_storeu_ps(to, mask, sum);
        }
    }
}

static void dot_block(const ek_bf16_block *b) {
    const size_t stride = b->pairs * EK_PANEL;
    size_t p = 0;
    if (b->rows == 1) {
        for (; p + 8 <= b->panels; p += 8) dot_tile(1, 8, b, b->x, b->w + p * stride, b->y + 16 * p, COLS(p, 8), 0);
    } else if (b->rows == 2) {
        for (; p + 4 <= b->panels; p += 4) dot_tile(2, 4, b, b->x, b->w + p * stride, b->y + 16 * p, COLS(p, 4), 0);
    }
    for (; p < b->panels; p += 2) {
        const int pair = p + 2 <= b->panels;
        const size_t cols = COLS(p, pair ? 2 : 1);
        const uint32_t *w = b->w + p * stride;
        const uint32_t *next = p + 2 < b->panels && b->rows > 6 ? b->w + (p + 2) * stride : 0;
        const size_t last = (b->rows - 1) / 6 * 6;
        size_t m = 0;
#define TILE(rows) do { \
            if (pair) dot_tile(rows, 2, b, x, w, y, cols, pf); else dot_tile(rows, 1, b, x, w, y, cols, pf); \
        } while (0)
        for (; m + 6 <= b->rows; m += 6) {
            const uint32_t *x = b->x + m * b->ldx;
            float *y = b->y + m * b->ldy + 16 * p;
            const uint32_t *pf = m == last ? next : 0;
            TILE(6);
        }
        const uint32_t *x = b->x + m * b->ldx;
        float *y = b->y + m * b->ldy + 16 * p;
        const uint32_t *pf = next;
        switch (b->rows - m) {
        case 1: TILE(1); break;
        case 2: TILE(2); break;
        case 3: TILE(3); break;
        case 4: TILE(4); break;
        case 5: TILE(5); break;
        default: break;
        }
#undef TILE
    }
}

#pragma clang attribute pop

ek_bf16_block_fn ek_avx512bf16_block(void) { return dot_block; }

#else
ek_round_fn ek_avx512_round(void) { return round_row; }

ek_block_fn ek_avx512_block(ek_element_type type) { return ek_portable_block(type); }
ek_round_fn ek_avx512_round(void) { return 0; }
ek_bf16_block_fn ek_avx512bf16_block(void) { return 0; }
#endif
