#ifndef CKERNELS_H
#define CKERNELS_H
// Earshot's matrix product: y = x · Wᵀ for a static weight W [N, K] held in its stored precision (f32, bf16 or
// f16) and float32 activations, with a result for each output element that depends on nothing but its row of x and
// its row of W. K is cut into blocks of 256; each block's products are summed by one fused multiply-add per k, in
// k order, from zero, and the block sums are added to y in block order:
//
//     s_b     = fma(x[m][k_b + 255], W[n][k_b + 255], … fma(x[m][k_b], W[n][k_b], 0) …)
//     y[m][n] = (…((y0 + s_0) + s_1) + …) + s_last        (y0 = y's value when accumulating; else y = s_0 + …)
//
// (blocked, like every BLAS's, so the rounding error grows with 256 + K/256 rather than K). Every kernel — AVX2 +
// FMA, portable C with fmaf — evaluates exactly that sum, so a row's result does not depend on how many rows the
// call has, where the row sits in it, how the columns are split over threads, or which instruction set ran it.
// Widening bf16 and f16 weights is exact, so a stored-precision weight gives the same bits as the same weight
// widened to f32 first.
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// How a packed weight stores its elements.
typedef enum {
    EK_F32 = 0,
    EK_BF16 = 1,
    EK_F16 = 2,
} ek_element_type;

/// The instruction sets a kernel can run on, best last; each includes the ones before it.
typedef enum {
    EK_ISA_PORTABLE = 0,      // C, fmaf
    EK_ISA_AVX2 = 1,          // AVX2 + FMA + F16C
    EK_ISA_AVX512 = 2,        // + AVX-512 F/BW/VL/DQ with the OS saving ZMM state
    EK_ISA_AVX512_BF16 = 3,   // + AVX512_BF16 (vdpbf16ps): the bf16 dot products of ek_gemm_bf16
} ek_isa;

/// Columns per panel: W is stored as panels of 16 rows of W (16 output columns), k-major inside a panel.
#define EK_PANEL 16
/// K per block: the packed matrix is stored block by block of K, every panel's slice of one block together, so
/// a product reads the whole weight once, front to back.
#define EK_KBLOCK 256

/// The best instruction set this CPU runs (cached after the first call).
ek_isa ek_detected_isa(void);
/// The instruction set products use: the detected one, or a lower one named by `EARSHOT_KERNEL_ISA` (portable,
/// avx2, avx512, avx512_bf16; to act as an older CPU — a name above the detected set, or unknown, is ignored).
/// Fixed at the first call.
ek_isa ek_active_isa(void);
/// "portable", "avx2", "avx512", "avx512_bf16".
const char *ek_isa_name(ek_isa isa);
/// The instruction set ek_gemm's kernel uses for f32-stored weights: the active one. (A CPU which splits 512-bit
/// operations into 256-bit halves, AMD Zen 4, runs products with bf16- or f16-stored weights on the AVX2 kernel:
/// the same bits, less time.)
ek_isa ek_product_isa(void);
/// The instruction set ek_gemm's kernel uses for `type`-stored weights (AVX2 for bf16 and f16 on Zen 4).
ek_isa ek_product_isa_for(ek_element_type type);

/// Bytes of the packed form of an [n, k] matrix of `type` (panels rounded up to 16 columns).
size_t ek_packed_bytes(ek_element_type type, size_t n, size_t k);

/// Packs rows [row_offset, row_offset + rows) of the packed matrix (whose shape is [n, k], element type `type`) from
/// `source`, `rows` rows of `k` elements of `source_type` each, `source_row_bytes` apart, at any alignment.
/// `source_type` must equal `type`, or `type` must be EK_F32 (the source is then widened exactly). Padding columns
/// of the last panel must be zero: `packed` comes zero-filled (e.g. fresh anonymous pages).
void ek_pack(void *packed, ek_element_type type, size_t n, size_t k, size_t row_offset, size_t rows,
             const void *source, ek_element_type source_type, size_t source_row_bytes);

/// Packs all of an f32 [n, k] packed matrix from its transpose: W[j, i] = source[i · source_stride + j] (k rows of
/// n floats). Padding columns of the last panel keep their values (zero in a fresh matrix).
void ek_pack_f32_transposed(void *packed, size_t n, size_t k, const float *source, size_t source_stride);

/// A pool of worker threads for products (`threads` − 1 workers; the caller is the first thread). One caller at a
/// time: a pool belongs to one compute thread.
typedef struct ek_pool ek_pool;
ek_pool *ek_pool_create(int threads);
void ek_pool_destroy(ek_pool *pool);
int ek_pool_threads(const ek_pool *pool);

/// Runs fn(context, part, parts) for every part in 0 ..< parts, part 0 on the caller and the others on the pool's
/// workers (parts = the pool's thread count, or 1 when `pool` is NULL); returns when all have finished.
void ek_parallel(ek_pool *pool, void (*fn)(void *context, int part, int parts), void *context);

/// y [m, n] (row stride ldy) = x [m, k] (row stride ldx) · Wᵀ, or y += … when `accumulate` is non-zero. `pool` may
/// be NULL (the caller computes everything). The result is the same whatever `pool`'s thread count.
void ek_gemm(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
             size_t n, size_t k, float *y, size_t ldy, int accumulate);

/// ek_gemm with part of W — its first `columns` rows (output columns) and its first `depth` elements of k, which
/// must be a whole number of EK_KBLOCK blocks or k itself (the packed blocks before it are then read as they are)
/// — and a bias: each output element has the bits ek_gemm gives for a matrix of W's first `depth` columns, then,
/// when `bias` is not NULL, + bias[column] (one more float32 addition, as adding it afterwards would give).
void ek_gemm_part(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
                  size_t n, size_t k, size_t columns, size_t depth, const float *bias, float *y, size_t ldy,
                  int accumulate);

/// The same product computed by one instruction set on the calling thread (for tests that compare kernels).
void ek_gemm_isa(ek_isa isa, const float *x, size_t m, size_t ldx, const void *packed, ek_element_type type,
                 size_t n, size_t k, float *y, size_t ldy, int accumulate);

// MARK: bf16 dot products (the `fast` precision)
//
// y = x · Wᵀ with W held in bf16 and x rounded to bf16 once per product (round to nearest even; subnormals become
// zero, as the instruction reads them), multiplied by AVX512_BF16's vdpbf16ps: per pair of k (2i, 2i+1), the
// exact product of the odd element is added to the running sum and rounded, then the even one's (two float32
// fused multiply-adds; subnormal results flush to zero). Per element of y, each K block of 256 is one such chain
// over its pairs from zero, in pair order, and the block sums are added to y in block order — the f32 product's
// structure — so a row's bits depend only on its row of x and W, not on the call, the threads or the CPU.
// With `split`, x also contributes its rounding remainder: x = hi + lo, both bf16, and each pair runs the hi
// pair then the lo pair through the chain (twice the arithmetic, the same weight traffic; ~16 bits of x).
// The portable kernel computes exactly this, so it is the reference for the vector kernel's bits.

/// Bytes of the bf16-pair form of an [n, k] matrix: panels of 16 columns, K-blocked by 256 like ek_pack, a pair of
/// k (2i, 2i+1) of one column in one 32-bit lane (k rounded up to even; the padding element is zero).
size_t ek_bf16_pairs_bytes(size_t n, size_t k);

/// Packs rows [row_offset, row_offset + rows) of the bf16-pair form of an [n, k] matrix from `source`, `rows` rows
/// of `k` bf16 elements (bits) `source_row_bytes` apart, at any alignment; subnormal weights become zero. `packed`
/// comes zero-filled.
void ek_pack_bf16_pairs(void *packed, size_t n, size_t k, size_t row_offset, size_t rows, const void *source,
                        size_t source_row_bytes);

/// 32-bit words of scratch ek_gemm_bf16 needs for `m` rows of `k` (`split`: twice as many).
size_t ek_bf16_scratch_words(size_t m, size_t k, int split);

/// The bf16 (bits) nearest to x, ties to even; subnormals become signed zero, NaN stays NaN (quiet).
uint16_t ek_round_bf16(float x);

/// y [m, n] (row stride ldy) (+)= bf16(x [m, k]) · Wᵀ for W in bf16-pair form; `scratch` holds
/// ek_bf16_scratch_words(m, k, split) words. Runs on the active instruction set when it has AVX512_BF16, else on
/// the portable kernel (the same bits, far slower: callers refuse the precision there). The result is the same
/// whatever `pool`'s thread count.
void ek_gemm_bf16(ek_pool *pool, const float *x, size_t m, size_t ldx, const void *packed, size_t n, size_t k,
                  float *y, size_t ldy, int accumulate, int split, uint32_t *scratch);

/// The same product computed by one instruction set (EK_ISA_AVX512_BF16 or EK_ISA_PORTABLE; a set this CPU lacks
/// runs portable) on the calling thread, for tests that compare kernels.
void ek_gemm_bf16_isa(ek_isa isa, const float *x, size_t m, size_t ldx, const void *packed, size_t n, size_t k,
                      float *y, size_t ldy, int accumulate, int split, uint32_t *scratch);

// MARK: Element-wise and reductions. Each has one defined order of operations, which the AVX2 and portable
// versions follow exactly, so they give the same bits.

/// Σ a[i]·b[i] in float64 (each product is exact in float64): 16 partial sums, term i into sum i mod 16 over the
/// first 16⌊count/16⌋ terms; then the sums of lanes l, l+4, l+8, l+12 as (s_l + s_(l+4)) + (s_(l+8) + s_(l+12));
/// then those four as (t0 + t1) + (t2 + t3); then the remaining terms in order.
double ek_dot_f64(const float *a, const float *b, size_t count);

/// e^x for float32, computed in float64 (range reduction, a degree-11 polynomial, 2^k) and rounded once: the
/// correctly rounded e^x except within ~1e-14 of a tie, i.e. glibc's expf.
float ek_exp(float x);

/// x ← x / (1 + e^(−x)) (SiLU), in place.
void ek_silu(float *x, size_t count);

/// x ← ek_exp(x − shift) (the subtraction rounded to float first), in place: a softmax's numerators.
void ek_exp_shifted(float *x, size_t count, float shift);

/// x ← x · 0.5 · (1 + erf(x · 0.70710677)) (PyTorch's exact GELU, each step a float32 operation as it computes it),
/// in place, with erf evaluated in float64 and rounded once (vector.c): glibc's erff to an ulp.
void ek_gelu(float *x, size_t count);

/// ek_dot_f64, ek_silu, ek_exp_shifted and ek_gelu on one instruction set (for tests that compare them).
double ek_dot_f64_isa(ek_isa isa, const float *a, const float *b, size_t count);
void ek_silu_isa(ek_isa isa, float *x, size_t count);
void ek_exp_shifted_isa(ek_isa isa, float *x, size_t count, float shift);
void ek_gelu_isa(ek_isa isa, float *x, size_t count);

/// Gated linear unit over `rows` rows of 2·`width`: row[i] ← row[i] / (1 + e^(−row[width + i])) for i < width.
void ek_glu(float *x, size_t rows, size_t width);

#ifdef __cplusplus
}
#endif
#endif
