// Element-wise functions and float64 dot products (ckernels.h), an AVX2 and a portable version of each that
// perform the same operations in the same order.
#include <math.h>
#include "internal.h"

// MARK: Portable

// e^x for float x, evaluated in float64 and rounded once: x = k·ln2 + r with k = round(x/ln2) and |r| ≤ ln2/2,
// e^r by its Taylor polynomial to degree 11 (truncation < 1e-14 relative), times 2^k. The float64 result is within
// ~1e-14 of e^x, so the rounded float is e^x correctly rounded except within ~1e-14 of a tie: the value glibc's
// expf gives.
static const double exp_low = -104.0, exp_high = 89.0;   // beyond: 0 and ∞ once rounded to float
static const double inverse_ln2 = 1.4426950408889634, ln2_high = 0.6931471805598903, ln2_low = 5.497923018708371e-14;
static const double taylor[12] = {
    1.0 / 39916800, 1.0 / 3628800, 1.0 / 362880, 1.0 / 40320, 1.0 / 5040, 1.0 / 720,
    1.0 / 120, 1.0 / 24, 1.0 / 6, 1.0 / 2, 1.0, 1.0,
};

float ek_exp(float x) {
    if (x != x) return x;
    const double clamped = fmin(fmax((double)x, exp_low), exp_high);
    const double k = nearbyint(clamped * inverse_ln2);     // ties to even, as _mm256_round_pd(…, nearest)
    const double r = fma(-k, ln2_low, fma(-k, ln2_high, clamped));
    double p = taylor[0];
    for (int i = 1; i < 12; i++) p = fma(p, r, taylor[i]);
    const long long bits = ((long long)k + 1023) << 52;
    double scale;
    __builtin_memcpy(&scale, &bits, 8);
    return (float)(p * scale);
}

static double dot_portable(const float *a, const float *b, size_t count) {
    double s[16] = {0};
    size_t i = 0;
    for (; i + 16 <= count; i += 16)
        for (int l = 0; l < 16; l++) s[l] += (double)a[i + l] * (double)b[i + l];
    double t[4];
    for (int l = 0; l < 4; l++) t[l] = (s[l] + s[l + 4]) + (s[l + 8] + s[l + 12]);
    double sum = (t[0] + t[1]) + (t[2] + t[3]);
    for (; i < count; i++) sum += (double)a[i] * (double)b[i];
    return sum;
}

static void silu_portable(float *x, size_t count) {
    for (size_t i = 0; i < count; i++) x[i] = x[i] / (1.0f + ek_exp(-x[i]));
}

static void glu_portable(float *x, size_t rows, size_t width) {
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * 2 * width;
        for (size_t i = 0; i < width; i++) row[i] = row[i] / (1.0f + ek_exp(-row[width + i]));
    }
}

// erf(z) for float z, evaluated in float64 and rounded once: erf(z) = z · P(z²) for |z| < 4, with P(w) =
// erf(√w)/√w as a Chebyshev series in s, summed by Clenshaw's recurrence — for |z| < 2 of degree 13 in
// s = (w − 2)/2, else of degree 22 in s = (w − 8)/8 (both fitted to Python's math.erf; relative error < 5e-13) —
// and ±1 beyond 4 (1 − erfc(4) rounds to 1 in float). So the float is erf(z) correctly rounded except within
// ~1e-12 of a tie: the value glibc's erff gives, to an ulp (glibc's is itself an ulp off on 0.56 % of floats).
static const double erf_near_series[14] = {
    0.7415552820424024, -0.301071073386595, 0.06899483068983166,
    -0.013916271264722098, 0.002420799522433529, -0.00036586396858473506,
    4.862098443227255e-05, -5.749256558028325e-06, 6.113243577863656e-07,
    -5.899101531131687e-08, 5.207009061056974e-09, -4.232974865165827e-10,
    3.18810871612641e-11, -2.236125477733128e-12,
};
static const double erf_series[23] = {
    0.48591295690286324, -0.3454078550049497, 0.16182910121364597,
    -0.07648275610550903, 0.03466993680050757, -0.0148118641478148,
    0.005922937956232054, -0.002211840658810015, 0.0007714154278403,
    -0.0002515965878094145, 7.688658221087708e-05, -2.206549593879072e-05,
    5.961274041545734e-06, -1.5197750711777655e-06, 3.664930434221547e-07,
    -8.37899835493118e-08, 1.8201448848236845e-08, -3.764477990657756e-09,
    7.427369029339118e-10, -1.400531459318621e-10, 2.5282858356601757e-11,
    -4.376647908178992e-12, 7.275987252280001e-13,
};
static const float erf_limit = 4.0f, erf_near = 2.0f, inverse_sqrt2 = 0.70710677f;

static float erf_portable(float z) {
    if (!(fabsf(z) < erf_limit)) return copysignf(1.0f, z);
    const int near = fabsf(z) < erf_near;
    const double *series = near ? erf_near_series : erf_series;
    const double wide = z, center = near ? 2.0 : 8.0, scale = near ? 0.5 : 0.125;
    const double s = (wide * wide - center) * scale, twice = 2.0 * s;
    double b1 = 0, b2 = 0;
    for (int k = near ? 13 : 22; k >= 1; k--) {
        const double b0 = fma(twice, b1, series[k] - b2);
        b2 = b1;
        b1 = b0;
    }
    return (float)(wide * fma(s, b1, series[0] - b2));
}

static void gelu_portable(float *x, size_t count) {
    for (size_t i = 0; i < count; i++) x[i] = x[i] * 0.5f * (1.0f + erf_portable(x[i] * inverse_sqrt2));
}

static void exp_shifted_portable(float *x, size_t count, float shift) {
    for (size_t i = 0; i < count; i++) x[i] = ek_exp(x[i] - shift);
}

// MARK: AVX2

#if defined(__x86_64__)
#include <immintrin.h>
#pragma clang attribute push(__attribute__((target("avx2,fma"))), apply_to = function)

static inline __attribute__((always_inline)) __m256d exp4(__m256d x) {
    const __m256d clamped = _mm256_min_pd(_mm256_max_pd(x, _mm256_set1_pd(exp_low)), _mm256_set1_pd(exp_high));
    const __m256d k = _mm256_round_pd(_mm256_mul_pd(clamped, _mm256_set1_pd(inverse_ln2)),
                                      _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256d r = _mm256_fnmadd_pd(k, _mm256_set1_pd(ln2_high), clamped);   // −(k·c) + x: fma(−k, c, x) exactly
    r = _mm256_fnmadd_pd(k, _mm256_set1_pd(ln2_low), r);
    __m256d p = _mm256_set1_pd(taylor[0]);
    for (int i = 1; i < 12; i++) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(taylor[i]));
    // 2^k: k + 1023 in the exponent field (k ∈ [−151, 129], so the biased exponent stays in 872…1152).
    const __m128i k32 = _mm256_cvtpd_epi32(k);
    const __m256i biased = _mm256_add_epi64(_mm256_cvtepi32_epi64(k32), _mm256_set1_epi64x(1023));
    return _mm256_mul_pd(p, _mm256_castsi256_pd(_mm256_slli_epi64(biased, 52)));
}

/// e^x for 8 floats: exp4 on each half, rounded to float; NaN stays NaN.
static inline __attribute__((always_inline)) __m256 exp8(__m256 x) {
    const __m256d low = exp4(_mm256_cvtps_pd(_mm256_castps256_ps128(x)));
    const __m256d high = exp4(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)));
    const __m256 result = _mm256_set_m128(_mm256_cvtpd_ps(high), _mm256_cvtpd_ps(low));
    return _mm256_blendv_ps(result, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

static double dot_avx2(const float *a, const float *b, size_t count) {
    __m256d s[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd()};
    size_t i = 0;
    for (; i + 16 <= count; i += 16) {
        for (int v = 0; v < 4; v++) {
            const __m256d x = _mm256_cvtps_pd(_mm_loadu_ps(a + i + 4 * v));
            const __m256d y = _mm256_cvtps_pd(_mm_loadu_ps(b + i + 4 * v));
            s[v] = _mm256_add_pd(s[v], _mm256_mul_pd(x, y));   // the product is exact: mul + add = the sum's FMA
        }
    }
    const __m256d t = _mm256_add_pd(_mm256_add_pd(s[0], s[1]), _mm256_add_pd(s[2], s[3]));
    double lanes[4];
    _mm256_storeu_pd(lanes, t);
    double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    for (; i < count; i++) sum += (double)a[i] * (double)b[i];
    return sum;
}

static void silu_avx2(float *x, size_t count) {
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(x + i, _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v)))));
    }
    silu_portable(x + i, count - i);
}

static void glu_avx2(float *x, size_t rows, size_t width) {
    const __m256 one = _mm256_set1_ps(1.0f), zero = _mm256_setzero_ps();
    for (size_t r = 0; r < rows; r++) {
        float *row = x + r * 2 * width;
        size_t i = 0;
        for (; i + 8 <= width; i += 8) {
            const __m256 gate = _mm256_loadu_ps(row + width + i);
            _mm256_storeu_ps(row + i, _mm256_div_ps(_mm256_loadu_ps(row + i),
                                                    _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, gate)))));
        }
        for (; i < width; i++) row[i] = row[i] / (1.0f + ek_exp(-row[width + i]));
    }
}

/// One of erf_portable's series on 4 lanes, in float64: `degree` and `series` centred on `center`, scaled by `scale`.
static inline __attribute__((always_inline)) __m256d erf_series4(__m256d z, const double *series, int degree,
                                                                 double center, double scale) {
    const __m256d s = _mm256_mul_pd(_mm256_sub_pd(_mm256_mul_pd(z, z), _mm256_set1_pd(center)), _mm256_set1_pd(scale));
    const __m256d twice = _mm256_add_pd(s, s);
    __m256d b1 = _mm256_setzero_pd(), b2 = _mm256_setzero_pd();
    for (int k = degree; k >= 1; k--) {
        const __m256d b0 = _mm256_fmadd_pd(twice, b1, _mm256_sub_pd(_mm256_set1_pd(series[k]), b2));
        b2 = b1;
        b1 = b0;
    }
    return _mm256_mul_pd(z, _mm256_fmadd_pd(s, b1, _mm256_sub_pd(_mm256_set1_pd(series[0]), b2)));
}

/// erf_portable on 8 lanes, each lane with the series its own |z| selects (the far one only when a lane needs it).
static inline __attribute__((always_inline)) __m256 erf8(__m256 z) {
    const __m256 magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z);
    const __m256 near = _mm256_cmp_ps(magnitude, _mm256_set1_ps(erf_near), _CMP_LT_OQ);
    const __m256d zl = _mm256_cvtps_pd(_mm256_castps256_ps128(z)), zh = _mm256_cvtps_pd(_mm256_extractf128_ps(z, 1));
    __m256 result = _mm256_set_m128(_mm256_cvtpd_ps(erf_series4(zh, erf_near_series, 13, 2.0, 0.5)),
                                    _mm256_cvtpd_ps(erf_series4(zl, erf_near_series, 13, 2.0, 0.5)));
    if (_mm256_movemask_ps(near) != 0xFF) {
        const __m256 far = _mm256_set_m128(_mm256_cvtpd_ps(erf_series4(zh, erf_series, 22, 8.0, 0.125)),
                                           _mm256_cvtpd_ps(erf_series4(zl, erf_series, 22, 8.0, 0.125)));
        result = _mm256_blendv_ps(far, result, near);
        const __m256 inside = _mm256_cmp_ps(magnitude, _mm256_set1_ps(erf_limit), _CMP_LT_OQ);
        const __m256 saturated = _mm256_or_ps(_mm256_and_ps(_mm256_set1_ps(-0.0f), z), _mm256_set1_ps(1.0f));
        result = _mm256_blendv_ps(saturated, result, inside);   // copysign(1, z) from 4 on, and for NaN
    }
    return result;
}

static void gelu_avx2(float *x, size_t count) {
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f), half = _mm256_set1_ps(0.5f);
    for (; i + 8 <= count; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        const __m256 erf = erf8(_mm256_mul_ps(v, _mm256_set1_ps(inverse_sqrt2)));
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_mul_ps(v, half), _mm256_add_ps(one, erf)));
    }
    gelu_portable(x + i, count - i);
}

static void exp_shifted_avx2(float *x, size_t count, float shift) {
    size_t i = 0;
    const __m256 by = _mm256_set1_ps(shift);
    for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), by)));
    exp_shifted_portable(x + i, count - i, shift);
}

#pragma clang attribute pop
#endif

// MARK: Dispatch

double ek_dot_f64_isa(ek_isa isa, const float *a, const float *b, size_t count) {
#if defined(__x86_64__)
    if (isa >= EK_ISA_AVX2 && ek_detected_isa() >= EK_ISA_AVX2) return dot_avx2(a, b, count);
#endif
    return dot_portable(a, b, count);
}

double ek_dot_f64(const float *a, const float *b, size_t count) {
    return ek_dot_f64_isa(ek_active_isa(), a, b, count);
}

void ek_silu_isa(ek_isa isa, float *x, size_t count) {
#if defined(__x86_64__)
    if (isa >= EK_ISA_AVX2 && ek_detected_isa() >= EK_ISA_AVX2) { silu_avx2(x, count); return; }
#endif
    silu_portable(x, count);
}

void ek_silu(float *x, size_t count) { ek_silu_isa(ek_active_isa(), x, count); }

void ek_glu(float *x, size_t rows, size_t width) {
#if defined(__x86_64__)
    if (ek_active_isa() >= EK_ISA_AVX2) { glu_avx2(x, rows, width); return; }
#endif
    glu_portable(x, rows, width);
}

void ek_exp_shifted_isa(ek_isa isa, float *x, size_t count, float shift) {
#if defined(__x86_64__)
    if (isa >= EK_ISA_AVX2 && ek_detected_isa() >= EK_ISA_AVX2) { exp_shifted_avx2(x, count, shift); return; }
#endif
    exp_shifted_portable(x, count, shift);
}

void ek_exp_shifted(float *x, size_t count, float shift) { ek_exp_shifted_isa(ek_active_isa(), x, count, shift); }

void ek_gelu_isa(ek_isa isa, float *x, size_t count) {
#if defined(__x86_64__)
    if (isa >= EK_ISA_AVX2 && ek_detected_isa() >= EK_ISA_AVX2) { gelu_avx2(x, count); return; }
#endif
    gelu_portable(x, count);
}

void ek_gelu(float *x, size_t count) { ek_gelu_isa(ek_active_isa(), x, count); }
