#ifndef CKERNELS_INTERNAL_H
#define CKERNELS_INTERNAL_H
#include "ckernels.h"

// The packed layout (element offsets, in units of the stored element):
//
//   block b (K columns [256b, 256b + kc_b)), panel p (W rows [16p, 16p + 16)), k inside the block, lane j
//   offset = 256b · panels · 16  +  p · kc_b · 16  +  k · 16  +  lane(j)
//
// where kc_b = min(256, K − 256b) and panels = ⌈N / 16⌉. lane(j) = j for f32 and f16. For bf16, lane(j) = 2j for
// j < 8 and 2(j − 8) + 1 for j ≥ 8: a 32-bit lane then holds columns j (low half) and j + 8 (high half), so one
// shift and one mask widen 16 bf16 weights into two registers of 8 floats without shuffles.

static inline size_t ek_lane(ek_element_type type, size_t j) {
    if (type != EK_BF16) return j;
    return j < 8 ? 2 * j : 2 * (j - 8) + 1;
}

/// The float32 equal to a binary16 (exact, subnormals, infinities and NaN payloads included; the same method as
/// NumberBits' Float(float16Bits:), which C cannot call: line the fields up, rescale by 2^112, or set the all-ones
/// exponent).
static inline float ek_from_f16(uint16_t half) {
    uint32_t magnitude = half & 0x7FFFu, sign = (uint32_t)(half & 0x8000u) << 16, bits;
    if (magnitude >= 0x7C00u) {
        bits = (magnitude << 13) | 0x7F800000u;
    } else {
        uint32_t raw = magnitude << 13, two112 = 0x77800000u;
        float scaled, scale;
        __builtin_memcpy(&scaled, &raw, 4);
        __builtin_memcpy(&scale, &two112, 4);
        scaled *= scale;
        __builtin_memcpy(&bits, &scaled, 4);
    }
    bits |= sign;
    float value;
    __builtin_memcpy(&value, &bits, 4);
    return value;
}

/// The float32 equal to a bfloat16: its high half.
static inline float ek_from_bf16(uint16_t half) {
    uint32_t bits = (uint32_t)half << 16;
    float value;
    __builtin_memcpy(&value, &bits, 4);
    return value;
}

/// One K block of a product over a range of panels, for one thread.
typedef struct {
    const float *x;      // x at column 256b: rows of `ldx` floats
    size_t ldx;
    size_t rows;
    const void *w;       // the first panel's slice of this K block; the next panel's follows, kc · 16 elements on
    size_t kc;
    size_t panels;
    float *y;            // y at column 16 · (first panel)
    size_t ldy;
    size_t cols;         // valid columns of y from there, ≤ 16 · panels
    int load_y;          // continue y's values (accumulating, or any K block after the first)
    const float *bias;   // NULL, or (in the last K block) at column 16 · (first panel): added after the sum
} ek_block;

typedef void (*ek_block_fn)(const ek_block *block);

ek_block_fn ek_portable_block(ek_element_type type);
ek_block_fn ek_avx2_block(ek_element_type type);
ek_block_fn ek_avx512_block(ek_element_type type);

/// One K block of a bf16-pair product (ckernels.h) over a range of panels, for one thread.
typedef struct {
    const uint32_t *x;   // x's bf16 pairs at this block's first pair: rows of `ldx` words; with `split`, a row's
    size_t ldx;          // low parts follow its high parts `low_offset` words on
    size_t low_offset;
    size_t rows;
    const uint32_t *w;   // the first panel's slice of this block: per pair, 16 words (one per column)
    size_t pairs;        // pairs in this block (k rounded up to even, / 2)
    size_t panels;
    float *y;            // y at column 16 · (first panel)
    size_t ldy;
    size_t cols;         // valid columns of y from there, ≤ 16 · panels
    int load_y;
    int split;
} ek_bf16_block;

typedef void (*ek_bf16_block_fn)(const ek_bf16_block *block);

void ek_portable_bf16_block(const ek_bf16_block *block);

/// Rounds pairs [0, pairs) of a row of x (16 floats at a time while whole, the rest left to the caller) to bf16
/// exactly as ek_round_bf16, the high parts into `high` and, when `low` is not NULL, the remainders' into `low`;
/// returns how many pairs it did. NULL where this build has no AVX-512 code.
typedef size_t (*ek_round_fn)(const float *row, size_t pairs, uint32_t *high, uint32_t *low);
ek_round_fn ek_avx512_round(void);
/// NULL when this build has no AVX512_BF16 kernel (not x86-64).
ek_bf16_block_fn ek_avx512bf16_block(void);

/// One step of vdpbf16ps on one lane: sum + (the odd pair's product) rounded, then + (the even one's) rounded,
/// each result flushed to zero when subnormal. `x` and `w` hold a pair, the even element in the low half.
static inline float ek_dot_pair(float sum, uint32_t x, uint32_t w) {
    uint32_t xo = x & 0xFFFF0000u, wo = w & 0xFFFF0000u, xe = x << 16, we = w << 16;
    float a, b, c, d;
    __builtin_memcpy(&a, &xo, 4);
    __builtin_memcpy(&b, &wo, 4);
    __builtin_memcpy(&c, &xe, 4);
    __builtin_memcpy(&d, &we, 4);
    sum = __builtin_fmaf(a, b, sum);
    if (__builtin_fabsf(sum) < 0x1p-126f) sum = __builtin_copysignf(0.0f, sum);
    sum = __builtin_fmaf(c, d, sum);
    if (__builtin_fabsf(sum) < 0x1p-126f) sum = __builtin_copysignf(0.0f, sum);
    return sum;
}

/// Runs fn(context, i, count) for i in 0..<count, index 0 on the caller, the rest on the pool's workers; returns
/// when all have finished. count ≤ the pool's thread count.
void ek_pool_run(ek_pool *pool, int count, void (*fn)(void *context, int index, int count), void *context);

#endif
