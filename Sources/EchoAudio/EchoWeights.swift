#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import Kernels

/// A `Conv1d` laid out for Earshot's products over time-major rows: the weight `[out, in, k]` rearranged to
/// `[out, k·in]` (tap-major) and packed, so that one output row is one product with `k` consecutive input rows.
struct TimeConvolution: Sendable {
    let weight: PackedMatrix
    let bias: WeightBuffer
    let inChannels: Int
    let outChannels: Int
    let kernel: Int

    init(weight w: WeightBuffer, bias: WeightBuffer, inChannels: Int, outChannels: Int, kernel: Int) {
        let rearranged = WeightBuffer(count: outChannels * kernel * inChannels) { r in
            for o in 0..<outChannels {
                for i in 0..<inChannels {
                    for k in 0..<kernel {
                        r[o * kernel * inChannels + k * inChannels + i] = w[(o * inChannels + i) * kernel + k]
                    }
                }
            }
        }
        weight = PackedMatrix(rearranged.base, outFeatures: outChannels, inFeatures: kernel * inChannels)
        self.bias = bias
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernel = kernel
    }
}

/// An `nn.Linear`: packed weight and optional bias.
struct EchoLinear: Sendable {
    let weight: PackedMatrix
    let bias: WeightBuffer?
}

/// One `Residual` block's weights (the encoder's: self-attention only, no cross-attention).
struct EchoLayerWeights: Sendable {
    let attentionNorm: WeightBuffer      // lna.weight
    let query: EchoLinear
    let key: EchoLinear                  // no bias
    let value: EchoLinear
    let out: EchoLinear
    /// cos and sin of the rotary angles `t · inv_freq[j] + bias[t, j]` for t < ctx: `(ctx, headDim/2)` each.
    let rotaryCos: WeightBuffer
    let rotarySin: WeightBuffer
    let mlpNorm: WeightBuffer            // lnc.weight
    let mlpUp: EchoLinear                // mlp.0
    let mlpDown: EchoLinear              // mlp.2
}

/// The AudioEncoder's weights, read-only after binding and shared by every pass and thread.
struct EchoWeights: Sendable {
    // se: the spectrogram stack.
    let spectrogramIn: TimeConvolution        // se.0, k3 p1
    let dilated: TimeConvolution              // se.2, k3 p2 d2
    let depthwise: WeightBuffer               // se.3.weight (dims, 1, 3)
    let depthwiseBias: WeightBuffer
    let pointwise: EchoLinear                 // se.4 (k1)
    let squeeze: EchoLinear                   // se.5.fc.0
    let excite: EchoLinear                    // se.5.fc.2
    let spectrogramOut: TimeConvolution       // se.8, k3 p1
    // we: the waveform stack.
    let waveformIn: TimeConvolution           // we.0, k11 s5 p5
    let waveformDown: WinogradDownsampling    // we.2, k5 s2 p2
    let positional: WeightBuffer              // (ctx, dims)
    let layers: [EchoLayerWeights]
    let finalNorm: WeightBuffer               // ln_enc.weight
    /// `blend_sw` as stored (the seed's forward does not read it: see `EchoConfiguration.seedBlendLogit`).
    let storedBlendLogit: Float
    let parameterCount: Int

    /// The checkpoint keys' prefix: `encoder.` in a full `Echo` state_dict, nothing in a bare `AudioEncoder` one.
    static func prefix(of source: any TensorSource) -> String {
        source.tensorNames.contains { $0.hasPrefix("encoder.") } ? "encoder." : ""
    }

    init(binder b: inout EchoWeightBinder, configuration c: EchoConfiguration) throws {
        let (d, m, hd) = (c.width, c.melBins, c.headDimension)
        func conv(_ name: String, in inChannels: Int, kernel: Int) throws -> TimeConvolution {
            TimeConvolution(weight: try b.tensor(name + ".weight", [d, inChannels, kernel]),
                            bias: try b.tensor(name + ".bias", [d]), inChannels: inChannels, outChannels: d,
                            kernel: kernel)
        }
        func linear(_ name: String, out: Int, in inFeatures: Int, bias: Bool = true) throws -> EchoLinear {
            let w = try b.tensor(name + ".weight", [out, inFeatures])
            return EchoLinear(weight: PackedMatrix(w.base, outFeatures: out, inFeatures: inFeatures),
                              bias: bias ? try b.tensor(name + ".bias", [out]) : nil)
        }
        spectrogramIn = try conv("se.0", in: m, kernel: 3)
        dilated = try conv("se.2", in: d, kernel: 3)
        depthwise = try b.tensor("se.3.weight", [d, 1, 3])
        depthwiseBias = try b.tensor("se.3.bias", [d])
        let pointwiseWeight = try b.tensor("se.4.weight", [d, d, 1])
        pointwise = EchoLinear(weight: PackedMatrix(pointwiseWeight.base, outFeatures: d, inFeatures: d),
                               bias: try b.tensor("se.4.bias", [d]))
        squeeze = try linear("se.5.fc.0", out: c.squeezeWidth, in: d)
        excite = try linear("se.5.fc.2", out: d, in: c.squeezeWidth)
        spectrogramOut = try conv("se.8", in: d, kernel: 3)
        waveformIn = try conv("we.0", in: 1, kernel: 11)
        waveformDown = WinogradDownsampling(weight: try b.tensor("we.2.weight", [d, d, 5]),
                                            bias: try b.tensor("we.2.bias", [d]), inChannels: d, outChannels: d)
        positional = try b.tensor("positional_embedding", [c.context, d])
        storedBlendLogit = try b.tensor("blend_sw", [])[0]
        layers = try (0..<c.layerCount).map { i in
            let p = "blockA.\(i)."
            _ = try b.tensor(p + "blend_xa", [])   // cross-attention's blend: the encoder has no cross-attention
            let inverseFrequencies = try b.tensor(p + "attna.rotary.inv_freq", [hd / 2])
            let rotaryBias = try b.tensor(p + "attna.rotary.bias", [EchoConfiguration.rotaryRows, hd / 2])
            let (cos, sin) = Self.rotaryTables(context: c.context, half: hd / 2, inverseFrequencies, rotaryBias)
            return EchoLayerWeights(
                attentionNorm: try b.tensor(p + "lna.weight", [d]),
                query: try linear(p + "attna.query", out: d, in: d),
                key: try linear(p + "attna.key", out: d, in: d, bias: false),
                value: try linear(p + "attna.value", out: d, in: d),
                out: try linear(p + "attna.out", out: d, in: d),
                rotaryCos: cos, rotarySin: sin,
                mlpNorm: try b.tensor(p + "lnc.weight", [d]),
                mlpUp: try linear(p + "mlp.0", out: 4 * d, in: d),
                mlpDown: try linear(p + "mlp.2", out: d, in: 4 * d))
        }
        finalNorm = try b.tensor("ln_enc.weight", [d])
        parameterCount = b.parameterCount
        try b.requireAllUsed()
    }

    /// `Rotary.forward(ctx)` then `torch.polar`: angle `t · inv_freq[j]` (a float32 product) plus `bias[t, j]`
    /// (a float32 sum), its cosine and sine rounded to float32.
    private static func rotaryTables(context: Int, half: Int, _ inverseFrequencies: WeightBuffer,
                                     _ bias: WeightBuffer) -> (WeightBuffer, WeightBuffer) {
        func angle(_ i: Int) -> Double {
            let (t, j) = (i / half, i % half)
            return Double(Float(t) * inverseFrequencies[j] + bias[t * half + j])
        }
        return (WeightBuffer(count: context * half) { for i in $0.indices { $0[i] = Float(cos(angle(i))) } },
                WeightBuffer(count: context * half) { for i in $0.indices { $0[i] = Float(sin(angle(i))) } })
    }
}
