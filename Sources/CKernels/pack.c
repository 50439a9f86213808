#include <string.h>
#include "internal.h"

static size_t element_bytes(ek_element_type type) { return type == EK_F32 ? 4 : 2; }

size_t ek_packed_bytes(ek_element_type type, size_t n, size_t k) {
    size_t panels = (n + EK_PANEL - 1) / EK_PANEL;
    return panels * EK_PANEL * k * element_bytes(type);
}

static float widen(const unsigned char *source, ek_element_type type) {
    float value;
    uint16_t half;
    if (type == EK_F32) {
        memcpy(&value, source, 4);
        return value;
    }
    memcpy(&half, source, 2);
    return type == EK_BF16 ? ek_from_bf16(half) : ek_from_f16(half);
}

void ek_pack(void *packed, ek_element_type type, size_t n, size_t k, size_t row_offset, size_t rows,
             const void *source, ek_element_type source_type, size_t source_row_bytes) {
    const size_t panels = (n + EK_PANEL - 1) / EK_PANEL;
    const size_t width = element_bytes(type), source_width = element_bytes(source_type);
    unsigned char *out = packed;
    for (size_t r = 0; r < rows; r++) {
        const size_t row = row_offset + r, panel = row / EK_PANEL;
        const size_t lane = ek_lane(type, row % EK_PANEL);
        const unsigned char *in = (const unsigned char *)source + r * source_row_bytes;
        for (size_t k0 = 0; k0 < k; k0 += EK_KBLOCK) {
            const size_t kc = k - k0 < EK_KBLOCK ? k - k0 : EK_KBLOCK;
            unsigned char *slice = out + (k0 * panels * EK_PANEL + panel * kc * EK_PANEL + lane) * width;
            const unsigned char *from = in + k0 * source_width;
            // Fixed-size copies, so that the compiler inlines them (the source may be unaligned).
            if (type != source_type) {
                for (size_t i = 0; i < kc; i++) {
                    const float value = widen(from + i * source_width, source_type);
                    memcpy(slice + i * EK_PANEL * 4, &value, 4);
                }
            } else if (width == 4) {
                for (size_t i = 0; i < kc; i++) memcpy(slice + i * EK_PANEL * 4, from + i * 4, 4);
            } else {
                for (size_t i = 0; i < kc; i++) memcpy(slice + i * EK_PANEL * 2, from + i * 2, 2);
            }
        }
    }
}

void ek_pack_f32_transposed(void *packed, size_t n, size_t k, const float *source, size_t source_stride) {
    const size_t panels = (n + EK_PANEL - 1) / EK_PANEL;
    float *out = packed;
    for (size_t k0 = 0; k0 < k; k0 += EK_KBLOCK) {
        const size_t kc = k - k0 < EK_KBLOCK ? k - k0 : EK_KBLOCK;
        for (size_t panel = 0; panel < panels; panel++) {
            // W's rows [16·panel, +16) at k = source row k: 16 consecutive floats of that row.
            const size_t columns = n - panel * EK_PANEL < EK_PANEL ? n - panel * EK_PANEL : EK_PANEL;
            float *slice = out + k0 * panels * EK_PANEL + panel * kc * EK_PANEL;
            for (size_t i = 0; i < kc; i++)
                memcpy(slice + i * EK_PANEL, source + (k0 + i) * source_stride + panel * EK_PANEL,
                       columns * sizeof(float));
        }
    }
}

size_t ek_bf16_pairs_bytes(size_t n, size_t k) {
    size_t panels = (n + EK_PANEL - 1) / EK_PANEL;
    return panels * EK_PANEL * ((k + 1) / 2) * 4;
}

void ek_pack_bf16_pairs(void *packed, size_t n, size_t k, size_t row_offset, size_t rows, const void *source,
                        size_t source_row_bytes) {
    const size_t panels = (n + EK_PANEL - 1) / EK_PANEL;
    uint16_t *out = packed;
    for (size_t r = 0; r < rows; r++) {
        const size_t row = row_offset + r, panel = row / EK_PANEL, lane = row % EK_PANEL;
        const unsigned char *in = (const unsigned char *)source + r * source_row_bytes;
        for (size_t k0 = 0; k0 < k; k0 += EK_KBLOCK) {
            const size_t kc = k - k0 < EK_KBLOCK ? k - k0 : EK_KBLOCK, pairs = (kc + 1) / 2;
            // In 16-bit units: the block, the panel's slice of it, then pair i of column `lane` at 32i + 2·lane.
            uint16_t *slice = out + (k0 / 2 * panels * EK_PANEL + panel * pairs * EK_PANEL + lane) * 2;
            for (size_t i = 0; i < kc; i++) {
                uint16_t half;
                memcpy(&half, in + (k0 + i) * 2, 2);
                if ((half & 0x7F80u) == 0) half &= 0x8000u;   // subnormal → zero, as vdpbf16ps reads it
                slice[(i / 2) * EK_PANEL * 2 + (i & 1)] = half;
            }
        }
    }
}
