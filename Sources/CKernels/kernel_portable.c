// The portable kernel: the reference sum of ckernels.h in plain C. fmaf is correctly rounded, so it gives the
// bits the vector kernels give.
#include <math.h>
#include <string.h>
#include "internal.h"

static float weight(const void *w, ek_element_type type, size_t index) {
    switch (type) {
    case EK_F32: return ((const float *)w)[index];
    case EK_BF16: return ek_from_bf16(((const uint16_t *)w)[index]);
    case EK_F16: return ek_from_f16(((const uint16_t *)w)[index]);
    }
    return 0;
}

static void block(const ek_block *b, ek_element_type type) {
    for (size_t p = 0; p < b->panels; p++) {
        const size_t base = p * b->kc * EK_PANEL;
        for (size_t j = 0; j < EK_PANEL && p * EK_PANEL + j < b->cols; j++) {
            const size_t lane = ek_lane(type, j);
            for (size_t m = 0; m < b->rows; m++) {
                float *y = b->y + m * b->ldy + p * EK_PANEL + j;
                const float *x = b->x + m * b->ldx;
                float sum = 0.0f;
                for (size_t k = 0; k < b->kc; k++) sum = fmaf(x[k], weight(b->w, type, base + k * EK_PANEL + lane), sum);
                *y = b->load_y ? *y + sum : sum;
                if (b->bias) *y += b->bias[p * EK_PANEL + j];
            }
        }
    }
}

static void block_f32(const ek_block *b) { block(b, EK_F32); }
static void block_bf16(const ek_block *b) { block(b, EK_BF16); }
static void block_f16(const ek_block *b) { block(b, EK_F16); }

ek_block_fn ek_portable_block(ek_element_type type) {
    switch (type) {
    case EK_F32: return block_f32;
    case EK_BF16: return block_bf16;
    case EK_F16: return block_f16;
    }
    return block_f32;
}

void ek_portable_bf16_block(const ek_bf16_block *b) {
    for (size_t p = 0; p < b->panels; p++) {
        const uint32_t *w = b->w + p * b->pairs * EK_PANEL;
        for (size_t j = 0; j < EK_PANEL && p * EK_PANEL + j < b->cols; j++) {
            for (size_t m = 0; m < b->rows; m++) {
                const uint32_t *x = b->x + m * b->ldx;
                float *y = b->y + m * b->ldy + p * EK_PANEL + j;
                float sum = 0.0f;
                for (size_t i = 0; i < b->pairs; i++) {
                    sum = ek_dot_pair(sum, x[i], w[i * EK_PANEL + j]);
                    if (b->split) sum = ek_dot_pair(sum, x[b->low_offset + i], w[i * EK_PANEL + j]);
                }
                *y = b->load_y ? *y + sum : sum;
            }
        }
    }
}
