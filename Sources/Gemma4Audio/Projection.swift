import Foundation
import Kernels

/// How the encoder multiplies.
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// float32 products on Earshot's kernels, weights held in their stored precision (bf16 checkpoints stay bf16 in
    /// memory and are widened inside the product, exactly): matches transformers to float noise, and streaming,
    /// offline, batched passes and any thread count agree bit for bit.
    case f32
    /// oneDNN bf16 GEMMs (AMX tiles where the CPU has them) with float32 accuracy restored by splitting: each
    /// activation x becomes hi + lo, two bf16 numbers, and both go through the product (one GEMM of twice the rows);
    /// a weight not exactly representable in bf16 is split the same way (released checkpoints are bf16, so their
    /// weights are exact and need no second matrix). Products then carry ~2⁻¹⁶ relative error instead of bf16's
    /// 2⁻⁸: per-token cosine against f32 ≥ 0.99999 on speech at E2B size, where plain bf16 activations fall to 0.95
    /// on random weights. Streaming, offline and batched passes agree bit for bit at equal thread counts. Needs a
    /// CPU on which oneDNN multiplies bf16 natively (AVX-512 BF16 or AMX).
    case bf16
    /// bf16 products on Earshot's own kernels with AVX512_BF16's `vdpbf16ps`: weights held in bf16 (released
    /// checkpoints are bf16, so exactly; others rounded once at load), each product's input carried as two bf16
    /// numbers, high + low (~16 significant bits; one rounding, as torch's bf16 does, lost too much on models whose
    /// clamps bite), float32 sums; norms, softmax, clamps, activations and residuals stay float32. Every
    /// output element is one fixed chain (ckernels.h), so within this precision streaming, offline, batched passes
    /// and any thread count agree bit for bit. Approximate — see docs/performance.md for its accuracy against
    /// transformers; `f32` stays the reference. Needs AVX512_BF16 (refused elsewhere, with the reason).
    case fast

    /// The fastest precision that meets Earshot's accuracy bar (per-token cosine ≥ 0.9995 against f32 on speech)
    /// on this CPU: `.bf16` where oneDNN runs bf16 on AMX tiles, else `.f32` (on AVX-512 BF16 without AMX the split
    /// products do twice the work at the same rate and are no faster than f32; `.fast`, whose split `vdpbf16ps`
    /// chains issue as many instructions as f32's AVX-512 FMAs, measured no faster than f32 on Zen 4 and
    /// rounds f32 checkpoints' weights; see docs/performance.md).
    public static var fastestAccurate: ComputePrecision {
        guard (try? OneDNNEngine.shared.get()) != nil, OneDNNEngine.hasAMX else { return .f32 }
        return .bf16
    }

    /// Throws when this CPU cannot run the precision, saying why.
    public func checkAvailable() throws {
        if self == .fast {
            guard BF16Matmul.runsNatively else {
                throw ModelError.fastUnavailable(instructionSet: KernelInstructionSet.active.name)
            }
            return
        }
        guard self == .bf16 else { return }
        do {
            _ = try OneDNNEngine.shared.get()
        } catch {
            throw ModelError.bf16Unavailable(.oneDNN("\(error)"))
        }
        guard OneDNNEngine.hasNativeBF16 else {
            throw ModelError.bf16Unavailable(.noNativeBF16(instructionSet: OneDNNEngine.instructionSet))
        }
    }

    /// Rows per product tile. oneDNN's result for a row depends on the call's row count and on the row's place in
    /// it, so in bf16 every product runs on whole 12-row tiles with token t at row t mod 12 (12 is the attention
    /// chunk, so 12-token blocks and offline passes fill their tiles exactly). Earshot's f32 kernels compute each
    /// row alone and need no tiles.
    var rowTile: Int { self == .bf16 ? 12 : 1 }

    /// `rows` rounded up to whole tiles.
    func paddedRows(_ rows: Int) -> Int { (rows + rowTile - 1) / rowTile * rowTile }
}

/// The `precision` setting as operators write it (`earshot --precision`, `earshotd --precision` and its config file):
/// a ``ComputePrecision``, or `auto` for the fastest one that meets the accuracy bar here. `init?(rawValue:)` is the
/// one parser of the text; ``parse(_:)`` is the same, throwing.
public enum PrecisionSetting: String, Sendable, CaseIterable {
    case auto, f32, bf16, fast

    /// The values, for messages: "auto, f32, bf16 or fast".
    public static let choices = "auto, f32, bf16 or fast"

    /// `text` as a setting, or ``ModelError/invalidPrecision(_:)``.
    public static func parse(_ text: String) throws(ModelError) -> PrecisionSetting {
        guard let setting = PrecisionSetting(rawValue: text) else { throw .invalidPrecision(text) }
        return setting
    }

    /// The precision to load with on this CPU (`auto`: ``ComputePrecision/fastestAccurate``).
    public var resolved: ComputePrecision {
        switch self {
        case .auto: .fastestAccurate
        case .f32: .f32
        case .bf16: .bf16
        case .fast: .fast
        }
    }
}

/// A bias-free `nn.Linear` weight `(out, in)` in the form the chosen precision multiplies with.
struct Projection: Sendable {
    enum Storage: Sendable {
        /// Packed once in the checkpoint's element type (f32, bf16 or f16).
        case packed(PackedMatrix)
        /// W = high + low, both packed bf16; `low` is nil when W is exactly bf16.
        case bf16(high: OneDNNMatrix, low: OneDNNMatrix?)
        /// W in bf16 pairs for `BF16Matmul`; `split`: the input is carried as bf16 high + low parts.
        case bf16Pairs(BF16PairMatrix, split: Bool)
    }

    let storage: Storage
    let inFeatures: Int
    let outFeatures: Int

    /// A diagnostic, not a setting: `EARSHOT_FAST_ROUNDED_INPUTS=ffw_layer_1,…` makes the `fast` products whose
    /// weight key contains one of the names round their input to bf16 once instead of splitting it, to measure
    /// what each product's split is worth. Unset (always, in use), every product splits.
    static let roundedInputKeys: [Substring] = (ProcessInfo.processInfo.environment["EARSHOT_FAST_ROUNDED_INPUTS"] ?? "")
        .split(separator: ",").filter { !$0.isEmpty }

    /// The rows of `parts`, stacked (q, k and v fused, or one matrix); `key` names them (the weight's prefix).
    init(_ parts: [StoredMatrix], precision: ComputePrecision, key: String) throws {
        inFeatures = parts[0].columns
        outFeatures = parts.reduce(0) { $0 + $1.rows }
        switch precision {
        case .f32:
            storage = .packed(StoredMatrix.packed(parts))
        case .fast:
            // Inputs rounded once to bf16 gave per-token cosine 0.945 against transformers f32 on the E2B-size
            // check model (clamps that bite, sharp random weights); carried as high + low parts, 0.9999998.
            // Measured per product (docs/performance.md, "Which products need the split"): rounding the input of
            // any one product inside the layers alone takes the worst cosine to 0.971–0.998, so every product splits.
            let rounded = Self.roundedInputKeys.contains { key.contains($0) }
            storage = .bf16Pairs(StoredMatrix.bf16Pairs(parts), split: !rounded)
        case .bf16:
            let engine = try OneDNNEngine.shared.get()
            let count = inFeatures * outFeatures
            let weight = FloatBuffer(count: count)            // (out, in)  the parts stacked, as float32
            var offset = 0
            for part in parts {
                let floats = part.floats()
                (weight.base + offset).update(from: floats.base, count: floats.count)
                offset += floats.count
            }
            // Released checkpoints are bf16: their weights pack as they are, with no low part.
            var exact = true
            for i in 0..<count where weight[i].bitPattern & 0xFFFF != 0 { exact = false; break }
            if exact {
                storage = .bf16(high: try OneDNNMatrix(weight.base, outFeatures: outFeatures, inFeatures: inFeatures,
                                                       elementType: .bf16, engine: engine), low: nil)
            } else {
                let high = FloatBuffer(count: count), low = FloatBuffer(count: count)    // (out, in) each
                for i in 0..<count {
                    let rounded = VectorOps.roundedToBFloat16(weight[i])
                    high[i] = rounded
                    low[i] = weight[i] - rounded
                }
                storage = .bf16(
                    high: try OneDNNMatrix(high.base, outFeatures: outFeatures, inFeatures: inFeatures,
                                           elementType: .bf16, engine: engine),
                    low: try OneDNNMatrix(low.base, outFeatures: outFeatures, inFeatures: inFeatures,
                                          elementType: .bf16, engine: engine))
            }
        }
    }

    init(_ matrix: StoredMatrix, precision: ComputePrecision, key: String) throws {
        try self.init([matrix], precision: precision, key: key)
    }

    /// `out (rows, out) [+]= input (rows, in) · Wᵀ`. In bf16, `input` and `out` hold whole 12-row tiles (see
    /// `ComputePrecision.rowTile`).
    func apply(_ input: UnsafePointer<Float>, rows: Int, scratch: EncoderScratch, into out: UnsafeMutablePointer<Float>,
               accumulate: Bool = false) {
        switch storage {
        case .packed(let weight):
            Matmul.linear(input, rows: rows, weight: weight, into: out, accumulate: accumulate,
                          threads: scratch.threads)
        case .bf16Pairs(let weight, let split):
            BF16Matmul.linear(input, rows: rows, weight: weight, into: out, accumulate: accumulate, split: split,
                              threads: scratch.threads, scratch: scratch.bf16Words)
        case .bf16(let high, let low):
            let padded = ComputePrecision.bf16.paddedRows(rows)
            let n = padded * inFeatures, m = padded * outFeatures
            // (2·rows, in) bf16: the high parts of the input rows, then their low parts.
            let split = scratch.bf16Input
            VectorOps.splitToBFloat16(input, count: n, high: split, low: split + n)
            let products = scratch.splitOutput                  // (2·rows, out), then (rows, out) for `low`
            do {
                let stream = try scratch.oneDNNStream()
                try high.multiply(split, rows: 2 * padded, into: products, stream: stream)
                if let low { try low.multiply(split, rows: padded, into: products + 2 * m, stream: stream) }
            } catch {
                // Only resource exhaustion gets here: the shapes are fixed and oneDNN accepted them at load.
                fatalError("bf16 matmul (\(outFeatures)×\(inFeatures), \(padded) rows): \(error)")
            }
            let third = low == nil ? nil : UnsafePointer(products + 2 * m)
            for i in 0..<m {
                var sum = products[i] + products[m + i]
                if let third { sum += third[i] }
                out[i] = accumulate ? out[i] + sum : sum
            }
        }
    }

    var parameterCount: Int { inFeatures * outFeatures }
    var byteCount: Int {
        switch storage {
        case .packed(let weight): weight.byteCount
        case .bf16(let high, let low): high.byteCount + (low?.byteCount ?? 0)
        case .bf16Pairs(let weight, _): weight.byteCount
        }
    }
}
