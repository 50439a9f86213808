#include <stdlib.h>
#include <string.h>
#include "internal.h"

// MARK: Instruction sets

static int detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) return EK_ISA_AVX2;
#endif
    return EK_ISA_PORTABLE;
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
        if (request && strcmp(request, "portable") == 0) isa = EK_ISA_PORTABLE;
        __atomic_store_n(&cached, isa, __ATOMIC_RELEASE);
    }
    return (ek_isa)isa;
}

const char *ek_isa_name(ek_isa isa) {
    switch (isa) {
    case EK_ISA_PORTABLE: return "portable";
    case EK_ISA_AVX2: return "avx2";
    }
    return "?";
}

static ek_block_fn block_function(ek_isa isa, ek_element_type type) {
    return isa == EK_ISA_AVX2 ? ek_avx2_block(type) : ek_portable_block(type);
}

// MARK: The product

typedef struct {
    ek_block_fn fn;
    const float *x;
    size_t m, ldx;
    const unsigned char *packed;
    size_t element, panels, n, k;
    float *y;
    size_t ldy;
    int accumulate;
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
            .w = p->packed + (k0 * p->panels * EK_PANEL + first * kc * EK_PANEL) * p->element,
            .kc = kc,
            .panels = end - first,
            .y = p->y + first * EK_PANEL,
            .ldy = p->ldy,
            .cols = columns - first * EK_PANEL,
            .load_y = p->accumulate || k0 > 0,
        };
        p->fn(&b);
    }
}

/// Products smaller than this many multiply-adds run on the caller alone: waking a worker costs more.
static const size_t parallel_threshold = 1 << 17;

static void gemm(ek_isa isa, ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed,
                 ek_element_type type, size_t n, size_t k, float *y, size_t ldy, int accumulate) {
    if (m == 0 || n == 0) return;
    if (k == 0) {
        if (!accumulate) for (size_t r = 0; r < m; r++) memset(y + r * ldy, 0, n * sizeof(float));
        return;
    }
    product p = {
        .fn = block_function(isa, type), .x = x, .m = m, .ldx = ldx, .packed = packed,
        .element = type == EK_F32 ? 4 : 2, .panels = (n + EK_PANEL - 1) / EK_PANEL, .n = n, .k = k,
        .y = y, .ldy = ldy, .accumulate = accumulate,
    };
    int count = pool ? ek_pool_threads(pool) : 1;
    if (m * n * k < parallel_threshold) count = 1;
    if ((size_t)count > p.panels) count = (int)p.panels;
    if (count <= 1) run_share(&p, 0, 1);
    else ek_pool_run(pool, count, run_share, &p);
}

void ek_gemm(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
             size_t n, size_t k, float *y, size_t ldy, int accumulate) {
    gemm(ek_active_isa(), pool, x, m, ldx, packed, type, n, k, y, ldy, accumulate);
}

void ek_gemm_isa(ek_isa isa, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
                 size_t n, size_t k, float *y, size_t ldy, int accumulate) {
    if (isa > ek_detected_isa()) isa = ek_detected_isa();
    gemm(isa, NULL, x, m, ldx, packed, type, n, k, y, ldy, accumulate);
}
