import CKernels

/// A `[out, in]` weight held in bf16 for `BF16Matmul`: panels of 16 output columns, K-blocked by 256, a pair of
/// adjacent k of one column in each 32-bit lane, the operand layout of `vdpbf16ps` (see ckernels.h).
public final class BF16PairMatrix: @unchecked Sendable {   // written while packing, then only read
    public let outFeatures: Int
    public let inFeatures: Int
    private let block: PageBlock

    /// A matrix of zeros, to be filled with `pack`.
    public init(outFeatures: Int, inFeatures: Int) {
        precondition(outFeatures >= 0 && inFeatures >= 0)
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        block = PageBlock(bytes: ek_bf16_pairs_bytes(outFeatures, inFeatures))
    }

    /// Rounds a float32 `(outFeatures, inFeatures)` row-major matrix to bf16 (to nearest, ties to even) and packs it.
    public convenience init(rounding weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
        self.init(outFeatures: outFeatures, inFeatures: inFeatures)
        let row = UnsafeMutablePointer<UInt16>.allocate(capacity: max(inFeatures, 1))
        defer { row.deallocate() }
        for r in 0..<outFeatures {
            for i in 0..<inFeatures { row[i] = ek_round_bf16(weight[r * inFeatures + i]) }
            pack(rows: r..<r + 1, bfloat16: UnsafeRawPointer(row), rowBytes: 2 * inFeatures)
        }
    }

    /// Fills rows `rows` of W from bf16 bits: one row of `inFeatures` every `rowBytes` bytes, at any alignment (a
    /// memory-mapped checkpoint). Subnormal weights become zero, as `vdpbf16ps` reads them.
    public func pack(rows: Range<Int>, bfloat16 source: UnsafeRawPointer, rowBytes: Int) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= outFeatures)
        ek_pack_bf16_pairs(block.base, outFeatures, inFeatures, rows.lowerBound, rows.count, source, rowBytes)
    }

    /// Bytes held.
    public var byteCount: Int { block.bytes }

    var packed: UnsafeRawPointer { UnsafeRawPointer(block.base) }
}

/// Matrix products in bf16 on AVX512_BF16's `vdpbf16ps` (ckernels.h, "bf16 dot products"): the input rounded to
/// bf16 once per product — or, with `split`, carried as bf16 high + low parts — times bf16 weights, float32 sums.
/// Each output element is one fixed chain per 256-wide K block, so a row's bits depend only on its own input row and
/// the weights: streaming, offline, batched passes and thread counts agree bit for bit, and the portable kernel
/// (the same arithmetic in C) gives the same bits on any CPU, slowly.
public enum BF16Matmul {
    /// Whether the products run on the instruction (the active instruction set includes AVX512_BF16).
    public static var runsNatively: Bool { KernelInstructionSet.active >= .avx512BF16 }

    /// The 32-bit words of scratch a product of `rows` rows needs (the rounded input).
    public static func scratchWords(rows: Int, inFeatures: Int, split: Bool) -> Int {
        ek_bf16_scratch_words(rows, inFeatures, split ? 1 : 0)
    }

    /// `out[m, n] = Σ_k bf16(input[m, k]) · W[n, k]` (+ `out[m, n]` when `accumulate`).
    ///
    /// - Parameters:
    ///   - input: `(rows, W.inFeatures)`, row stride `inputStride` (defaults to `inFeatures`).
    ///   - out: `(rows, W.outFeatures)`, row stride `outStride` (defaults to `outFeatures`).
    ///   - split: carry each input as bf16 high + low parts (~16 significant bits) instead of one rounding.
    ///   - threads: the workers to split the output columns over; nil runs on the caller alone.
    ///   - scratch: `scratchWords(rows:inFeatures:split:)` words.
    public static func linear(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int? = nil,
                              weight: BF16PairMatrix, into out: UnsafeMutablePointer<Float>, outStride: Int? = nil,
                              accumulate: Bool = false, split: Bool = false, threads: MatmulThreads? = nil,
                              scratch: UnsafeMutablePointer<UInt32>) {
        guard rows > 0 else { return }
        ek_gemm_bf16(threads?.pool, input, rows, inputStride ?? weight.inFeatures, weight.packed, weight.outFeatures,
                     weight.inFeatures, out, outStride ?? weight.outFeatures, accumulate ? 1 : 0, split ? 1 : 0,
                     scratch)
    }

    /// The same product on one instruction set (`.avx512BF16` where the CPU has it, else the portable kernel), on
    /// the calling thread: for tests that compare kernels.
    public static func linear(_ input: UnsafePointer<Float>, rows: Int, weight: BF16PairMatrix, split: Bool = false,
                              into out: UnsafeMutablePointer<Float>, on isa: KernelInstructionSet) {
        let scratch = UnsafeMutablePointer<UInt32>.allocate(
            capacity: max(1, scratchWords(rows: rows, inFeatures: weight.inFeatures, split: split)))
        defer { scratch.deallocate() }
        ek_gemm_bf16_isa(isa.kernel, input, rows, weight.inFeatures, weight.packed, weight.outFeatures,
                         weight.inFeatures, out, weight.outFeatures, 0, split ? 1 : 0, scratch)
    }

    /// The bf16 value nearest to `x` as these products round it (ties to even; subnormals become zero).
    public static func rounded(_ x: Float) -> Float { Float(bitPattern: UInt32(ek_round_bf16(x)) << 16) }
}
