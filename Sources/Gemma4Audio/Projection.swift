import Kernels

/// How the encoder multiplies.
public enum ComputePrecision: String, Sendable, CaseIterable {
    /// float32 throughout, OpenBLAS GEMMs on 12-row tiles: matches transformers to float noise, and streaming,
    /// offline and batched passes agree bit for bit.
    case f32
    /// oneDNN bf16 GEMMs (AMX tiles where the CPU has them) with float32 accuracy restored by splitting: each
    /// activation x becomes hi + lo, two bf16 numbers, and both go through the product (one GEMM of twice the rows);
    /// a weight not exactly representable in bf16 is split the same way (released checkpoints are bf16, so their
    /// weights are exact and need no second matrix). Products then carry ~2⁻¹⁶ relative error instead of bf16's
    /// 2⁻⁸: per-token cosine against f32 ≥ 0.99999 on speech at E2B size, where plain bf16 activations fall to 0.95
    /// on random weights. Streaming, offline and batched passes still agree bit for bit.
    case bf16

    /// The fastest precision that meets Earshot's accuracy bar (per-token cosine ≥ 0.9995 against f32 on speech)
    /// on this CPU: `.bf16` where oneDNN runs bf16 natively (AVX-512 bf16 or AMX), else `.f32`.
    public static var fastestAccurate: ComputePrecision {
        guard (try? OneDNNEngine.shared.get()) != nil, OneDNNEngine.hasNativeBF16 else { return .f32 }
        return .bf16
    }
}

/// A bias-free `nn.Linear` weight `(out, in)` in the form the chosen precision multiplies with.
struct Projection: Sendable {
    enum Storage: Sendable {
        case f32(FloatBuffer)                      // (out, in) row-major, as in the checkpoint
        /// W = high + low, both packed bf16; `low` is nil when W is exactly bf16. The float32 copy is dropped.
        case bf16(high: OneDNNMatrix, low: OneDNNMatrix?)
    }

    let storage: Storage
    let inFeatures: Int
    let outFeatures: Int

    init(_ weight: FloatBuffer, inFeatures: Int, outFeatures: Int, precision: ComputePrecision) throws {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        switch precision {
        case .f32:
            storage = .f32(weight)
        case .bf16:
            let engine = try OneDNNEngine.shared.get()
            let count = inFeatures * outFeatures
            // Released checkpoints are bf16: their weights pack as they are, with no low part.
            var exact = true
            for i in 0..<count where weight[i].bitPattern & 0xFFFF != 0 { exact = false; break }
            if exact {
                storage = .bf16(high: try OneDNNMatrix(weight.base, outFeatures: outFeatures, inFeatures: inFeatures,
                                                       elementType: .bf16, engine: engine), low: nil)
            } else {
                let high = FloatBuffer(count: count), low = FloatBuffer(count: count)
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

    /// `out (rows, out) [+]= input (rows, in) · Wᵀ`. `input` and `out` hold whole 12-row tiles (see
    /// `Matmul.rowTile`).
    func apply(_ input: UnsafePointer<Float>, rows: Int, scratch: EncoderScratch, into out: UnsafeMutablePointer<Float>,
               accumulate: Bool = false) {
        switch storage {
        case .f32(let weight):
            Matmul.linear(input, rows: rows, inFeatures: inFeatures, weight: weight.base, outFeatures: outFeatures,
                          into: out, accumulate: accumulate)
        case .bf16(let high, let low):
            let padded = Matmul.paddedRows(rows)
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
        case .f32: 4 * inFeatures * outFeatures
        case .bf16(let high, let low): high.byteCount + (low?.byteCount ?? 0)
        }
    }
}
