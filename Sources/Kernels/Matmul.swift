import CKernels

/// How a packed weight holds its elements: as the checkpoint stored them. bf16 and f16 are widened to float32
/// inside the product, which is exact, so they give the bits an f32 copy of the same weights would.
public enum WeightElement: Sendable, Equatable {
    case f32, bf16, f16

    var kernelType: ek_element_type {
        switch self {
        case .f32: EK_F32
        case .bf16: EK_BF16
        case .f16: EK_F16
        }
    }

    /// Bytes per element.
    public var byteWidth: Int { self == .f32 ? 4 : 2 }
}

/// A `[out, in]` weight matrix (PyTorch's `nn.Linear` layout) laid out once for `Matmul.linear`: panels of 16
/// output columns, K-blocked, in its stored element type (see CKernels/include/ckernels.h).
public final class PackedMatrix: @unchecked Sendable {   // written while packing, then only read
    public let outFeatures: Int
    public let inFeatures: Int
    public let element: WeightElement
    private let block: PageBlock

    /// A matrix of zeros, to be filled with `pack`.
    public init(outFeatures: Int, inFeatures: Int, element: WeightElement) {
        precondition(outFeatures >= 0 && inFeatures >= 0)
        self.outFeatures = outFeatures
        self.inFeatures = inFeatures
        self.element = element
        block = PageBlock(bytes: ek_packed_bytes(element.kernelType, outFeatures, inFeatures))
    }

    /// Packs a float32 `(outFeatures, inFeatures)` row-major matrix.
    public convenience init(_ weight: UnsafePointer<Float>, outFeatures: Int, inFeatures: Int) {
        self.init(outFeatures: outFeatures, inFeatures: inFeatures, element: .f32)
        pack(rows: 0..<outFeatures, from: UnsafeRawPointer(weight), element: .f32, rowBytes: 4 * inFeatures)
    }

    /// Fills rows `rows` of W from `source`: one row of `inFeatures` elements of `element` every `rowBytes` bytes,
    /// at any alignment (a memory-mapped checkpoint). `element` must be this matrix's, or this matrix f32.
    public func pack(rows: Range<Int>, from source: UnsafeRawPointer, element sourceElement: WeightElement,
                     rowBytes: Int) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= outFeatures)
        precondition(sourceElement == element || element == .f32, "cannot narrow \(sourceElement) to \(element)")
        ek_pack(block.base, element.kernelType, outFeatures, inFeatures, rows.lowerBound, rows.count, source,
                sourceElement.kernelType, rowBytes)
    }

    /// Fills all of this f32 matrix from its transpose: `W[j, i] = source[i · sourceStride + j]`, `inFeatures` rows
    /// of `outFeatures` floats — e.g. a head's values `(ctx, headDim)` as the `(headDim, ctx)` weight of `P·V`.
    public func packTransposed(from source: UnsafePointer<Float>, sourceStride: Int) {
        precondition(element == .f32 && sourceStride >= outFeatures)
        ek_pack_f32_transposed(block.base, outFeatures, inFeatures, source, sourceStride)
    }

    /// Bytes held.
    public var byteCount: Int { block.bytes }

    var packed: UnsafeRawPointer { UnsafeRawPointer(block.base) }
}

/// The worker threads of one compute thread's products (`count` − 1 threads; the caller is the first). The
/// products' results do not depend on the count.
public final class MatmulThreads {
    public let count: Int
    let pool: OpaquePointer?

    public init(count: Int) {
        pool = count > 1 ? ek_pool_create(Int32(count)) : nil
        self.count = pool.map { Int(ek_pool_threads($0)) } ?? 1
    }

    deinit { if let pool { ek_pool_destroy(pool) } }

    /// Splits `0 ..< count` into one contiguous range per thread, none shorter than `grain` (so fewer threads take
    /// part in small counts), runs `body` on each — the first range on the caller — and returns when all have
    /// run. `body` must only write what its own range owns.
    public func forEachRange(_ count: Int, grain: Int = 1, _ body: (Range<Int>) -> Void) {
        let parts = min(self.count, count / max(1, grain))
        guard parts > 1, let pool else {
            if count > 0 { body(0..<count) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var job = RangeJob(count: count, parts: parts, body: body)
            withUnsafeMutablePointer(to: &job) { pointer in
                ek_parallel(pool, { context, part, _ in
                    let job = context!.assumingMemoryBound(to: RangeJob.self).pointee
                    let part = Int(part)
                    guard part < job.parts else { return }
                    job.body(job.count * part / job.parts ..< job.count * (part + 1) / job.parts)
                }, pointer)
            }
        }
    }
}

/// One `forEachRange` call, handed to the pool's threads by address.
private struct RangeJob {
    let count: Int
    let parts: Int
    let body: (Range<Int>) -> Void
}

/// Matrix products on Earshot's own kernels (ckernels.h): `y = x · Wᵀ` with one fused multiply-add per k, in k
/// order, for every output element. A row's result therefore depends only on its own input row and the weights —
/// not on how many rows the call has, where the row sits, the thread count, or the instruction set — so streaming,
/// offline and batched passes agree bit for bit, on one thread or several.
public enum Matmul {
    /// `out[m, n] = Σ_k input[m, k] · W[n, k]` (+ `out[m, n]` when `accumulate`), then `+ bias[n]` when given: an
    /// `nn.Linear`.
    ///
    /// - Parameters:
    ///   - input: `(rows, W.inFeatures)`, row stride `inputStride` (defaults to `inFeatures`).
    ///   - bias: `(W.outFeatures)`, added to the finished sum in the kernel (the bits of adding it afterwards).
    ///   - out: `(rows, W.outFeatures)`, row stride `outStride` (defaults to `outFeatures`).
    ///   - threads: the workers to split the output columns over; nil runs on the caller alone.
    @inlinable
    public static func linear(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int? = nil,
                              weight: PackedMatrix, bias: UnsafePointer<Float>? = nil,
                              into out: UnsafeMutablePointer<Float>, outStride: Int? = nil, accumulate: Bool = false,
                              threads: MatmulThreads? = nil) {
        multiply(input, rows: rows, inputStride: inputStride ?? weight.inFeatures, weight: weight, bias: bias,
                 into: out, outStride: outStride ?? weight.outFeatures, accumulate: accumulate, threads: threads)
    }

    /// The product with part of W: its first `columns` rows (output columns) and the first `depth` of its input
    /// features, which must be a multiple of ``depthBlock`` or all of them. Each output element has the bits
    /// ``linear(_:rows:inputStride:weight:into:outStride:accumulate:threads:)`` gives for the matrix cut to that
    /// part; the rest of `out` is left alone. For products whose result is known in part (a triangular mask).
    public static func linear(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int, weight: PackedMatrix,
                              columns: Int, depth: Int, into out: UnsafeMutablePointer<Float>, outStride: Int,
                              threads: MatmulThreads? = nil) {
        precondition(columns >= 0 && columns <= weight.outFeatures, "columns \(columns) of \(weight.outFeatures)")
        precondition(depth > 0 && depth <= weight.inFeatures && (depth % depthBlock == 0 || depth == weight.inFeatures),
                     "depth \(depth) of \(weight.inFeatures) is not whole blocks of \(depthBlock)")
        guard rows > 0 else { return }
        ek_gemm_part(threads?.pool, input, rows, inputStride, weight.packed, weight.element.kernelType,
                     weight.outFeatures, weight.inFeatures, columns, depth, nil, out, outStride, 0)
    }

    /// The input features of one block of a packed matrix: a partial product's `depth` is a multiple of it.
    public static let depthBlock = Int(EK_KBLOCK)

    @usableFromInline
    static func multiply(_ input: UnsafePointer<Float>, rows: Int, inputStride: Int, weight: PackedMatrix,
                         bias: UnsafePointer<Float>?, into out: UnsafeMutablePointer<Float>, outStride: Int,
                         accumulate: Bool, threads: MatmulThreads?) {
        guard rows > 0 else { return }
        ek_gemm_part(threads?.pool, input, rows, inputStride, weight.packed, weight.element.kernelType,
                     weight.outFeatures, weight.inFeatures, weight.outFeatures, weight.inFeatures, bias, out,
                     outStride, accumulate ? 1 : 0)
    }

    /// The instruction set products with f32-stored weights run on (see ``KernelInstructionSet``): the active one.
    /// Products with bf16- or f16-stored weights run AVX2 on a CPU that splits 512-bit operations into halves (AMD
    /// Zen 4), where the AVX-512 kernel's widening measured slower.
    public static var instructionSet: String { String(cString: ek_isa_name(ek_product_isa())) }

    /// The instruction set products with `element`-stored weights run on.
    public static func instructionSet(forStored element: WeightElement) -> String {
        String(cString: ek_isa_name(ek_product_isa_for(element.kernelType)))
    }

    /// The same product on one instruction set (capped at the detected one), on the calling thread: for tests that
    /// compare kernels.
    public static func linear(_ input: UnsafePointer<Float>, rows: Int, weight: PackedMatrix,
                              into out: UnsafeMutablePointer<Float>, on isa: KernelInstructionSet) {
        ek_gemm_isa(isa.kernel, input, rows, weight.inFeatures, weight.packed, weight.element.kernelType,
                    weight.outFeatures, weight.inFeatures, out, weight.outFeatures, 0)
    }
}

/// The instruction sets Earshot's kernels run on, each including the ones before it. Products, SiLU and the
/// float64 dots give the same bits on every one; only the bf16 dot products (`BF16Matmul`) need `avx512BF16` to run
/// at speed.
public enum KernelInstructionSet: Int, Sendable, CaseIterable, Comparable {
    /// C with `fmaf`.
    case portable
    /// AVX2 + FMA + F16C.
    case avx2
    /// AVX-512 F/BW/VL/DQ, with the OS saving ZMM state.
    case avx512
    /// AVX-512 with AVX512_BF16 (`vdpbf16ps`).
    case avx512BF16

    /// The best set this CPU runs.
    public static var detected: KernelInstructionSet { KernelInstructionSet(ek_detected_isa()) }
    /// The set products use: `detected`, or a lower one named by `EARSHOT_KERNEL_ISA` (portable, avx2, avx512,
    /// avx512_bf16), to act as an older CPU.
    public static var active: KernelInstructionSet { KernelInstructionSet(ek_active_isa()) }

    /// "portable", "avx2", "avx512", "avx512_bf16": the names `EARSHOT_KERNEL_ISA` takes.
    public var name: String { String(cString: ek_isa_name(kernel)) }

    var kernel: ek_isa { ek_isa(rawValue: UInt32(rawValue)) }

    init(_ isa: ek_isa) { self = KernelInstructionSet(rawValue: Int(isa.rawValue)) ?? .portable }

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}
