import COpenBLAS

/// Matrix products on OpenBLAS. Weights stay in PyTorch's `[out, in]` row-major layout: for the small row counts of
/// streaming (M = 12…48) OpenBLAS's "nt" kernels are 2–2.5× faster than "nn" on this CPU (recipes §6), so loading
/// a checkpoint needs no transpose.
public enum Matmul {
    /// Rows per BLAS call. OpenBLAS's result for a row depends on the call's row count and on the row's position
    /// in the call (it picks different micro-kernels for different shapes and tails), so the same token encoded in a
    /// 12-token streaming block and in a 96-token offline pass would differ by float noise that compounds over the
    /// layers (~1.5e-5 at 2 layers). The encoder therefore calls BLAS on whole 12-row tiles only and places token t
    /// at row t mod 12 of its tile: each token then meets the same arithmetic however the audio was chunked or
    /// batched, and streaming, offline and batched passes agree bit for bit. 12 is the attention chunk, so
    /// 12-token streaming blocks and offline passes fill their tiles exactly.
    public static let rowTile = 12

    /// `rows` rounded up to whole tiles.
    @inlinable
    public static func paddedRows(_ rows: Int) -> Int { (rows + rowTile - 1) / rowTile * rowTile }

    /// `out[m, n] = Σ_k input[m, k] · weight[n, k]` (+ `out[m, n]` when `accumulate`): a bias-free `nn.Linear`.
    ///
    /// - Parameters:
    ///   - input: `(paddedRows(rows), inFeatures)`, row stride `inputStride` (defaults to `inFeatures`). Rows past
    ///     `rows` are read (whole tiles go to BLAS) and their results land in `out`'s padding rows.
    ///   - weight: `(outFeatures, inFeatures)`, contiguous.
    ///   - out: `(paddedRows(rows), outFeatures)`, row stride `outStride` (defaults to `outFeatures`).
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
        let lda = inputStride ?? inFeatures, ldc = outStride ?? outFeatures
        var row = 0
        while row < rows {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans,
                        blasint(rowTile), blasint(outFeatures), blasint(inFeatures),
                        1, input + row * lda, blasint(lda),
                        weight, blasint(inFeatures),
                        accumulate ? 1 : 0, out + row * ldc, blasint(ldc))
            row += rowTile
        }
    }

    /// `out[m, n] = Σ_k input[m, k] · weight[n, k]` in one BLAS call, for products whose shape never changes (so
    /// every call takes the same kernel path and rows are computed identically): no tiling, no padding rows.
    @inlinable
    public static func fixedShapeLinear(_ input: UnsafePointer<Float>, rows: Int, inFeatures: Int,
                                        weight: UnsafePointer<Float>, outFeatures: Int,
                                        into out: UnsafeMutablePointer<Float>) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, blasint(rows), blasint(outFeatures), blasint(inFeatures),
                    1, input, blasint(inFeatures), weight, blasint(inFeatures), 0, out, blasint(outFeatures))
    }

    /// Sets OpenBLAS's worker-thread count for the whole process (`openblas_set_num_threads`).
    public static func setThreadCount(_ count: Int) {
        openblas_set_num_threads(Int32(max(1, count)))
    }

    /// The CPU kernel family OpenBLAS picked, e.g. "SkylakeX".
    public static var coreName: String { String(cString: openblas_get_corename()) }
}
