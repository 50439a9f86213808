import COpenBLAS

/// Matrix products on OpenBLAS. Weights stay in PyTorch's `[out, in]` row-major layout: for the small row counts of
/// streaming (M = 12…48) OpenBLAS's "nt" kernels are 2–2.5× faster than "nn" on this CPU (recipes §6), so loading
/// a checkpoint needs no transpose.
public enum Matmul {
    /// `out[m, n] = Σ_k input[m, k] · weight[n, k]` (+ `out[m, n]` when `accumulate`): a bias-free `nn.Linear`.
    ///
    /// - Parameters:
    ///   - input: `(rows, inFeatures)`, row stride `inputStride` (defaults to `inFeatures`).
    ///   - weight: `(outFeatures, inFeatures)`, contiguous.
    ///   - out: `(rows, outFeatures)`, row stride `outStride` (defaults to `outFeatures`).
    @inlinable
    public static func linear(_ input: UnsafePointer<Float>, rows: Int, inFeatures: Int, inputStride: Int? = nil,
                              weight: UnsafePointer<Float>, outFeatures: Int,
                              into out: UnsafeMutablePointer<Float>, outStride: Int? = nil,
                              accumulate: Bool = false) {
        guard rows > 0, outFeatures > 0 else { return }
        if inFeatures == 0 {
            if !accumulate {
                for m in 0..<rows { (out + m * (outStride ?? outFeatures)).update(repeating: 0, count: outFeatures) }
            }
            return
        }
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                    blasint(rows), blasint(outFeatures), blasint(inFeatures),
                    1, input, blasint(inputStride ?? inFeatures),
                    weight, blasint(inFeatures),
                    accumulate ? 1 : 0, out, blasint(outStride ?? outFeatures))
    }

    /// Sets OpenBLAS's worker-thread count for the whole process (`openblas_set_num_threads`).
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The CPU kernel family OpenBLAS picked, e.g. "SkylakeX".
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
