import CKernels
#if canImport(Glibc)
import Glibc
#endif

/// Row-wise and element-wise kernels. Every function works in place or between caller-owned buffers and
/// allocates nothing.
public enum VectorOps {
    /// `out[r] = x[r] · (mean(x[r]²) + eps)^(-1/2) · weight` for each of `rows` rows of `width` (Gemma's RMSNorm:
    /// the weight multiplies directly, `x·w`, not `x·(1+w)`). `weight == nil` is the scale-free norm of the
    /// embedder. `x` and `out` may alias.
    @inlinable
    public static func rmsNorm(_ x: UnsafePointer<Float>, rows: Int, width: Int, weight: UnsafePointer<Float>?,
                               eps: Float, into out: UnsafeMutablePointer<Float>) {
        for r in 0..<rows {
            let row = x + r * width, dst = out + r * width
            // Double accumulation: at 1024+ wide rows a float32 running sum drifts by ~1e-5 relative, which the
            // following layers amplify; the reference's pairwise sums are closer to exact than a naive float loop.
            let sum = sumOfProducts(row, row, count: width)
            let scale = Float(1 / (sum / Double(width) + Double(eps)).squareRoot())
            if let weight {
                for i in 0..<width { dst[i] = row[i] * scale * weight[i] }
            } else {
                for i in 0..<width { dst[i] = row[i] * scale }
            }
        }
    }

    /// Clamps `count` values in place to `[lower, upper]`; a no-op for infinite bounds.
    @inlinable
    public static func clamp(_ x: UnsafeMutablePointer<Float>, count: Int, lower: Float, upper: Float) {
        guard lower > -.infinity || upper < .infinity else { return }
        for i in 0..<count { x[i] = min(max(x[i], lower), upper) }
    }

    /// `x · sigmoid(x)` = `x / (1 + e^−x)`, in place, with Earshot's `exp` (ckernels.h: vectorised, the same bits
    /// on every instruction set).
    @inlinable
    public static func silu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ek_silu(x, count)
    }

    /// PyTorch's exact GELU, `x · 0.5 · (1 + erf(x · 0.70710677))`, each step a float32 operation, in place, with
    /// Earshot's `erf` (ckernels.h: float64-evaluated and rounded once, vectorised, the same bits on every
    /// instruction set).
    @inlinable
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ek_gelu(x, count)
    }

    /// `x[i] = e^(x[i] − shift)` in place (the difference rounded to float first), with Earshot's `exp`
    /// (vectorised, the same bits on every instruction set): a softmax's numerators, with `shift` the row maximum.
    @inlinable
    public static func exponentiate(_ x: UnsafeMutablePointer<Float>, count: Int, minus shift: Float) {
        ek_exp_shifted(x, count, shift)
    }

    /// The gated linear unit over `rows` rows of `2 · width`: `row[i] = row[i] · sigmoid(row[width + i])` for
    /// i < width, in place (the first half of each row).
    @inlinable
    public static func glu(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        ek_glu(x, rows, width)
    }

    /// `log(1 + e^x)`, computed without overflow.
    @inlinable
    public static func softplus(_ x: Float) -> Float {
        x > 20 ? x : log1pf(expf(x))
    }

    /// `Σ a[i]·b[i]`, accumulated in Double and rounded once.
    @inlinable
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        Float(sumOfProducts(a, b, count: count))
    }

    /// `Σ a[i]·b[i]` in Double: exact products in 16 interleaved partial sums, a fixed order (ckernels.h's
    /// `ek_dot_f64`) with independent chains to overlap, vectorised, the same bits on every instruction set.
    @inlinable
    public static func sumOfProducts(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Double {
        ek_dot_f64(a, b, count)
    }
}
