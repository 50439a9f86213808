#include <stdlib.h>
#include <string.h>
#include "internal.h"

// MARK: Instruction sets

#if defined(__x86_64__)
#include <cpuid.h>

/// The OS saves these register states on a context switch (XGETBV 0): XMM and YMM (bits 1–2); for AVX-512 also
/// the opmask and both ZMM halves (bits 5–7). Without them the instructions exist but may not be used.
static uint64_t saved_register_state(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned low, high;
    __asm__ volatile("xgetbv" : "=a"(low), "=d"(high) : "c"(0));
    return ((uint64_t)high << 32) | low;
}
#endif

static int detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")))
        return EK_ISA_PORTABLE;
    const uint64_t state = saved_register_state();
    if ((state & 0x6) != 0x6) return EK_ISA_PORTABLE;
    unsigned a, b, c, d;
    if ((state & 0xE6) != 0xE6 || !__get_cpuid_count(7, 0, &a, &b, &c, &d)) return EK_ISA_AVX2;
    const unsigned avx512 = bit_AVX512F | bit_AVX512BW | bit_AVX512VL | bit_AVX512DQ;
    if ((b & avx512) != avx512) return EK_ISA_AVX2;
    unsigned bf16 = 0;
    if (a >= 1 && __get_cpuid_count(7, 1, &a, &b, &c, &d)) bf16 = a & (1u << 5);   // CPUID.(7,1):EAX[5]
    return bf16 ? EK_ISA_AVX512_BF16 : EK_ISA_AVX512;
#else
    return EK_ISA_PORTABLE;
#endif
}

ek_isa ek_detected_isa(void) {
    static int cached = -1;
    int isa = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (isa < 0) {
        isa = detect();
        __atomic_store_n(&cached, isa, __ATOMIC_RELEASE);
    }
    return (ek_isa)isa;
}

ek_isa ek_active_isa(void) {
    static int cached = -1;
    int isa = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (isa < 0) {
        isa = ek_detected_isa();
        const char *request = getenv("EARSHOT_KERNEL_ISA");
        for (int cap = EK_ISA_PORTABLE; request && cap < isa; cap++) {
            if (strcmp(request, ek_isa_name((ek_isa)cap)) == 0) isa = cap;
        }
        __atomic_store_n(&cached, isa, __ATOMIC_RELEASE);
    }
    return (ek_isa)isa;
}

const char *ek_isa_name(ek_isa isa) {
    switch (isa) {
    case EK_ISA_PORTABLE: return "portable";
    case EK_ISA_AVX2: return "avx2";
    case EK_ISA_AVX512: return "avx512";
    case EK_ISA_AVX512_BF16: return "avx512_bf16";
    }
    return "?";
}

/// Whether the CPU executes 512-bit arithmetic as two 256-bit halves (AMD family 19h, Zen 4). There the AVX-512
/// kernel's wider widening and masking cost ~10 % more CPU time than the AVX2 one on bf16-stored weights
/// (docs/performance.md), so those products keep AVX2 — the same bits; f32-stored weights still run AVX-512, whose
/// 32 registers hold a tile twice as wide: half the input reads per multiply-add, up to 1.5× faster on long rows
/// (docs/echo.md, "Speed").
static int splits_512_bit_operations(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(0, &a, &b, &c, &d)) return 0;
    const int amd = b == 0x68747541u && d == 0x69746e65u && c == 0x444d4163u;   // "AuthenticAMD"
    if (!amd || !__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned family = ((a >> 8) & 0xF) + ((a >> 20) & 0xFF);
    return family == 0x19;
#else
    return 0;
#endif
}

ek_isa ek_product_isa(void) { return ek_active_isa(); }

static int half_width_cpu(void) {
    static int cached = -1;
    int half_width = __atomic_load_n(&cached, __ATOMIC_ACQUIRE);
    if (half_width < 0) {
        half_width = splits_512_bit_operations();
        __atomic_store_n(&cached, half_width, __ATOMIC_RELEASE);
    }
    return half_width;
}

/// Whether products with `type`-stored weights take the AVX2 kernel on an AVX-512 `isa` (widened weights where the
/// CPU splits 512-bit operations).
static int widened_on_avx2(ek_isa isa, ek_element_type type) {
    return isa >= EK_ISA_AVX512 && type != EK_F32 && half_width_cpu();
}

ek_isa ek_product_isa_for(ek_element_type type) {
    const ek_isa isa = ek_active_isa();
    return widened_on_avx2(isa, type) ? EK_ISA_AVX2 : isa;
}

/// The kernel for `isa`; unless `exact`, AVX2's for widened (bf16, f16) weights where the CPU splits 512-bit
/// operations.
static ek_block_fn block_function(ek_isa isa, ek_element_type type, int exact) {
    if (isa >= EK_ISA_AVX512)
        return exact || !widened_on_avx2(isa, type) ? ek_avx512_block(type) : ek_avx2_block(type);
    return isa == EK_ISA_AVX2 ? ek_avx2_block(type) : ek_portable_block(type);
}

// MARK: The product

typedef struct {
    ek_block_fn fn;
    const float *x;
    size_t m, ldx;
    const unsigned char *packed;
    size_t element, stored_panels;   // the packed matrix's panels, which set its K blocks' stride
    size_t panels, n, k;             // the panels, columns and depth this product computes
    float *y;
    size_t ldy;
    int accumulate;
    const float *bias;               // NULL, or added to each output element after its sum
} product;

/// Thread `index` of `count` computes panels [panels·index/count, panels·(index+1)/count), every K block in turn.
static void run_share(void *context, int index, int count) {
    const product *p = context;
    const size_t first = p->panels * (size_t)index / (size_t)count;
    const size_t end = p->panels * (size_t)(index + 1) / (size_t)count;
    if (first == end) return;
    for (size_t k0 = 0; k0 < p->k; k0 += EK_KBLOCK) {
        const size_t kc = p->k - k0 < EK_KBLOCK ? p->k - k0 : EK_KBLOCK;
        const size_t columns = end * EK_PANEL < p->n ? end * EK_PANEL : p->n;
        ek_block b = {
            .x = p->x + k0,
            .ldx = p->ldx,
            .rows = p->m,
            .w = p->packed + (k0 * p->stored_panels * EK_PANEL + first * kc * EK_PANEL) * p->element,
            .kc = kc,
            .panels = end - first,
            .y = p->y + first * EK_PANEL,
            .ldy = p->ldy,
            .cols = columns - first * EK_PANEL,
            .load_y = p->accumulate || k0 > 0,
            .bias = p->bias && k0 + kc == p->k ? p->bias + first * EK_PANEL : NULL,
        };
        p->fn(&b);
    }
}

/// Products smaller than this many multiply-adds run on the caller alone: waking a worker costs more.
static const size_t parallel_threshold = 1 << 17;

/// The product with the packed [n, k] matrix's first `columns` rows and first `depth` of its k (a whole number of
/// K blocks, or k: the blocks before `depth` are laid out as in an [n, depth] matrix).
static void gemm(ek_isa isa, int exact, ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed,
                 ek_element_type type, size_t n, size_t k, size_t columns, size_t depth, const float *bias, float *y,
                 size_t ldy, int accumulate) {
    const size_t stored_panels = (n + EK_PANEL - 1) / EK_PANEL;
    n = columns;
    k = depth;
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate) for (size_t r = 0; r < m; r++) memset(y + r * ldy, 0, n * sizeof(float));
        return;
    }
    product p = {
        .fn = block_function(isa, type, exact), .x = x, .m = m, .ldx = ldx, .packed = packed,
        .element = type == EK_F32 ? 4 : 2, .stored_panels = stored_panels, .panels = (n + EK_PANEL - 1) / EK_PANEL,
        .n = n, .k = k, .y = y, .ldy = ldy, .accumulate = accumulate, .bias = bias,
    };
    int count = pool ? ek_pool_threads(pool) : 1;
    if (m * n * k < parallel_threshold) count = 1;
    if ((size_t)count > p.panels) count = (int)p.panels;
    if (count <= 1) run_share(&p, 0, 1);
    else ek_pool_run(pool, count, run_share, &p);
}

void ek_gemm(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
             size_t n, size_t k, float *y, size_t ldy, int accumulate) {
    gemm(ek_active_isa(), 0, pool, x, m, ldx, packed, type, n, k, n, k, NULL, y, ldy, accumulate);
}

void ek_gemm_part(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
                  size_t n, size_t k, size_t columns, size_t depth, const float *bias, float *y, size_t ldy,
                  int accumulate) {
    if (columns > n) columns = n;
    if (depth > k) depth = k;
    gemm(ek_active_isa(), 0, pool, x, m, ldx, packed, type, n, k, columns, depth, bias, y, ldy, accumulate);
}

void ek_gemm_isa(ek_isa isa, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
                 size_t n, size_t k, float *y, size_t ldy, int accumulate) {
    if (isa > ek_detected_isa()) isa = ek_detected_isa();
    gemm(isa, 1, NULL, x, m, ldx, packed, type, n, k, n, k, NULL, y, ldy, accumulate);
}

// MARK: bf16 dot products

size_t ek_bf16_scratch_words(size_t m, size_t k, int split) { return m * ((k + 1) / 2) * (split ? 2 : 1); }

uint16_t ek_round_bf16(float x) {
    uint32_t bits;
    memcpy(&bits, &x, 4);
    if ((bits & 0x7F800000u) == 0) return (uint16_t)((bits >> 16) & 0x8000u);               // zero, subnormal
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((bits >> 16) | 0x0040u);       // NaN, quieted
    return (uint16_t)((bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16);
}

/// x's rows as bf16 pairs (see ek_bf16_block): per row, ⌈k/2⌉ words of high parts, then as many of low parts.
static void round_rows(ek_isa isa, const float *x, size_t m, size_t ldx, size_t k, int split, uint32_t *out) {
    const size_t pairs = (k + 1) / 2, words = pairs * (split ? 2 : 1);
    const ek_round_fn vector = isa >= EK_ISA_AVX512 ? ek_avx512_round() : NULL;
    for (size_t r = 0; r < m; r++) {
        const float *row = x + r * ldx;
        uint32_t *high = out + r * words, *low = high + pairs;
        // Whole pairs only: an odd k's last pair is padded with zero below.
        const size_t start = vector ? vector(row, k / 2, high, split ? low : NULL) : 0;
        for (size_t i = start; i < pairs; i++) {
            uint32_t pair = 0, remainder = 0;
            for (size_t h = 0; h < 2 && 2 * i + h < k; h++) {
                const float value = row[2 * i + h];
                const uint16_t rounded = ek_round_bf16(value);
                pair |= (uint32_t)rounded << (16 * h);
                if (split) {
                    const uint32_t wide = (uint32_t)rounded << 16;
                    float top;
                    memcpy(&top, &wide, 4);
                    // x − hi is exact; an infinite or NaN x keeps no remainder.
                    const float rest = __builtin_isfinite(value) && __builtin_isfinite(top) ? value - top : 0.0f;
                    remainder |= (uint32_t)ek_round_bf16(rest) << (16 * h);
                }
            }
            high[i] = pair;
            if (split) low[i] = remainder;
        }
    }
}

typedef struct {
    ek_bf16_block_fn fn;
    const uint32_t *x;
    size_t m, ldx, low_offset;
    const uint32_t *packed;
    size_t panels, n, k;
    float *y;
    size_t ldy;
    int accumulate, split;
} bf16_product;

static void run_bf16_share(void *context, int index, int count) {
    const bf16_product *p = context;
    const size_t first = p->panels * (size_t)index / (size_t)count;
    const size_t end = p->panels * (size_t)(index + 1) / (size_t)count;
    if (first == end) return;
    for (size_t k0 = 0; k0 < p->k; k0 += EK_KBLOCK) {
        const size_t pairs = ((p->k - k0 < EK_KBLOCK ? p->k - k0 : EK_KBLOCK) + 1) / 2;
        const size_t columns = end * EK_PANEL < p->n ? end * EK_PANEL : p->n;
        ek_bf16_block b = {
            .x = p->x + k0 / 2,
            .ldx = p->ldx,
            .low_offset = p->low_offset,
            .rows = p->m,
            .w = p->packed + (k0 / 2) * p->panels * EK_PANEL + first * pairs * EK_PANEL,
            .pairs = pairs,
            .panels = end - first,
            .y = p->y + first * EK_PANEL,
            .ldy = p->ldy,
            .cols = columns - first * EK_PANEL,
            .load_y = p->accumulate || k0 > 0,
            .split = p->split,
        };
        p->fn(&b);
    }
}

static void gemm_bf16(ek_isa isa, ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed,
                      size_t n, size_t k, float *y, size_t ldy, int accumulate, int split, uint32_t *scratch) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate) for (size_t r = 0; r < m; r++) memset(y + r * ldy, 0, n * sizeof(float));
        return;
    }
    round_rows(isa, x, m, ldx, k, split, scratch);
    ek_bf16_block_fn fn = isa >= EK_ISA_AVX512_BF16 ? ek_avx512bf16_block() : NULL;
    const size_t pairs = (k + 1) / 2;
    bf16_product p = {
        .fn = fn ? fn : ek_portable_bf16_block, .x = scratch, .m = m, .ldx = pairs * (split ? 2 : 1),
        .low_offset = pairs, .packed = packed, .panels = (n + EK_PANEL - 1) / EK_PANEL, .n = n, .k = k,
        .y = y, .ldy = ldy, .accumulate = accumulate, .split = split,
    };
    int count = pool ? ek_pool_threads(pool) : 1;
    if (m * n * k < parallel_threshold) count = 1;
    if ((size_t)count > p.panels) count = (int)p.panels;
    if (count <= 1) run_bf16_share(&p, 0, 1);
    else ek_pool_run(pool, count, run_bf16_share, &p);
}

void ek_gemm_bf16(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, size_t n, size_t k,
                  float *y, size_t ldy, int accumulate, int split, uint32_t *scratch) {
    gemm_bf16(ek_active_isa(), pool, x, m, ldx, packed, n, k, y, ldy, accumulate, split, scratch);
}

void ek_gemm_bf16_isa(ek_isa isa, const float *x, size_t m, size_t ldx, const void *packed, size_t n, size_t k,
                      float *y, size_t ldy, int accumulate, int split, uint32_t *scratch) {
    if (isa > ek_detected_isa()) isa = ek_detected_isa();
    gemm_bf16(isa, NULL, x, m, ldx, packed, n, k, y, ldy, accumulate, split, scratch);
}
