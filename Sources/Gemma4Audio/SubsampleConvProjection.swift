import Kernels

/// The SSCP's two convolutions, one output row at a time (spec §3.1). Rows are laid out frequency-major,
/// channel-minor — `(F, C)` — so the channel LayerNorm reads contiguous memory and the second layer's output is
/// already in `input_proj_linear`'s `f·C1 + c` order.
///
/// Time geometry (kernel 3, stride 2, zero padding 1 on both sides): output row r reads input rows 2r−1, 2r, 2r+1.
/// So layer-0 row r needs mel frames up to 2r+1 and token t (layer-1 row t) needs layer-0 rows up to 2t+1,
/// i.e. mel frames up to 4t+3: nothing later, which is what makes the encoder streamable.
enum SubsampleConvProjection {
    /// Layer 0: `out (F0, C0)` from three mel rows `(128,)` each; nil rows are zero (padding or masked frames).
    static func layer0(_ weights: SubsampleWeights, rows: (UnsafePointer<Float>?, UnsafePointer<Float>?,
                                                           UnsafePointer<Float>?),
                       config c: Gemma4AudioConfiguration, into out: UnsafeMutablePointer<Float>) {
        let channels = c.subsamplingChannels[0]
        let inWidth = c.melBins, outWidth = c.sscpFrequencies[0]
        let w = weights.conv0Taps.base                 // (3, 3, C0)
        for f in 0..<outWidth {
            let dst = out + f * channels
            for o in 0..<channels { dst[o] = 0 }
            for i in 0..<3 {
                guard let row = i == 0 ? rows.0 : (i == 1 ? rows.1 : rows.2) else { continue }
                for j in 0..<3 {
                    let x = 2 * f - 1 + j
                    guard x >= 0, x < inWidth else { continue }
                    let value = row[x]
                    let tap = w + (i * 3 + j) * channels
                    for o in 0..<channels { dst[o] += tap[o] * value }
                }
            }
        }
        normalizeAndRectify(out, positions: outWidth, channels: channels, weight: weights.norm0.base, eps: c.rmsNormEps)
    }

    /// Layer 1: `out (F1, C1)` from three layer-0 rows `(F0, C0)` each; nil rows are zero. The im2col patches
    /// `(F1, 9·C0)` times the reordered weights `(C1, 9·C0)`: in `.f32` precision each output is a 1152-term dot
    /// product accumulated in Double (a float32 product's rounding here grows to ~1e-4 after 12 layers), in `.bf16`
    /// one float32 product per token.
    static func layer1(_ weights: SubsampleWeights, rows: (UnsafePointer<Float>?, UnsafePointer<Float>?,
                                                           UnsafePointer<Float>?),
                       config c: Gemma4AudioConfiguration, precision: ComputePrecision,
                       patches: UnsafeMutablePointer<Float>, into out: UnsafeMutablePointer<Float>) {
        let inChannels = c.subsamplingChannels[0], outChannels = c.subsamplingChannels[1]
        let inWidth = c.sscpFrequencies[0], outWidth = c.sscpFrequencies[1]
        let patchWidth = 9 * inChannels
        for f in 0..<outWidth {
            let patch = patches + f * patchWidth
            for i in 0..<3 {
                let row = i == 0 ? rows.0 : (i == 1 ? rows.1 : rows.2)
                for j in 0..<3 {
                    let x = 2 * f - 1 + j
                    let dst = patch + (i * 3 + j) * inChannels
                    if let row, x >= 0, x < inWidth {
                        dst.update(from: row + x * inChannels, count: inChannels)
                    } else {
                        dst.update(repeating: 0, count: inChannels)
                    }
                }
            }
        }
        switch precision {
        case .f32:
            for f in 0..<outWidth {
                let patch = patches + f * patchWidth
                for o in 0..<outChannels {
                    let w = weights.conv1Patches.base + o * patchWidth
                    out[f * outChannels + o] = VectorOps.dot(patch, w, count: patchWidth)
                }
            }
        case .bf16, .fast:
            Matmul.linear(patches, rows: outWidth, weight: weights.conv1Packed, into: out)
        }
        normalizeAndRectify(out, positions: outWidth, channels: outChannels, weight: weights.norm1.base,
                            eps: c.rmsNormEps)
    }

    /// `relu(LayerNorm over channels)` in place: biased variance, scale only, no bias.
    private static func normalizeAndRectify(_ x: UnsafeMutablePointer<Float>, positions: Int, channels: Int,
                                            weight: UnsafePointer<Float>, eps: Float) {
        for p in 0..<positions {
            let v = x + p * channels
            var mean = 0.0
            for ch in 0..<channels { mean += Double(v[ch]) }
            mean /= Double(channels)
            var variance = 0.0
            for ch in 0..<channels { variance += (Double(v[ch]) - mean) * (Double(v[ch]) - mean) }
            variance /= Double(channels)
            let scale = 1 / (variance + Double(eps)).squareRoot()
            for ch in 0..<channels { v[ch] = max(0, Float((Double(v[ch]) - mean) * scale) * weight[ch]) }
        }
    }
}
