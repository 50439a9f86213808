#if canImport(Glibc)
import Glibc
#endif
import Checkpoint
import Kernels

/// Every weight of a Gemma 4 audio encoder and its embedder, shared by all streams and threads. Immutable: structs of
/// `let`s over `WeightBuffer`s and packed matrices, none of which can be written after loading. Each field names the
/// checkpoint key it is read from (spec §4); `A.` stands for `model.audio_tower.`.
public struct Gemma4AudioWeights: Sendable {
    /// The two prefixes a Gemma 4 checkpoint keeps the audio path under.
    public static let prefixes = ["model.audio_tower.", "model.embed_audio."]

    let sscp: SubsampleWeights
    let layers: [ConformerLayerWeights]
    let outputProjection: Projection         // (P, H)   A.output_proj.weight
    let outputBias: WeightBuffer             // (P,)     A.output_proj.bias
    let embeddingProjection: Projection      // (D, P)   model.embed_audio.embedding_projection.weight

    /// Binds every tensor of `source`; `sourceName` labels errors.
    init(source: any TensorSource, sourceName: String, config c: Gemma4AudioConfiguration,
         precision: ComputePrecision) throws {
        try Self.requireLayers(c.layerCount, in: source, sourceName: sourceName)
        try self.init(binder: WeightBinder(source: source, sourceName: sourceName), config: c, precision: precision)
    }

    /// Refuses a layer count the checkpoint does not hold before anything is sized by it. (Layers beyond the
    /// count are refused later, as unexpected tensors.)
    static func requireLayers(_ count: Int, in source: any TensorSource, sourceName: String) throws {
        let prefix = "model.audio_tower.layers."
        let present = Set(source.tensorNames.compactMap { name -> Int? in
            name.hasPrefix(prefix) ? Int(name.dropFirst(prefix.count).prefix { $0 != "." }) : nil
        })
        if let missing = (0..<count).first(where: { !present.contains($0) }) {
            throw ModelError.missingLayer(source: sourceName, configured: count, present: present.count,
                                          firstMissing: missing)
        }
    }

    init(binder: WeightBinder, config c: Gemma4AudioConfiguration, precision: ComputePrecision) throws {
        var binder = binder
        let a = "model.audio_tower."
        sscp = try SubsampleWeights(&binder, a + "subsample_conv_projection.", config: c, precision: precision)
        layers = try (0..<c.layerCount).map {
            try ConformerLayerWeights(&binder, a + "layers.\($0).", config: c, precision: precision)
        }
        outputProjection = try Projection(
            binder.matrix(a + "output_proj.weight", rows: c.outputProjectionSize, columns: c.hiddenSize),
            precision: precision, key: "output_proj")
        outputBias = try binder.tensor(a + "output_proj.bias", shape: [c.outputProjectionSize])
        embeddingProjection = try Projection(
            binder.matrix("model.embed_audio.embedding_projection.weight", rows: c.textHiddenSize,
                          columns: c.outputProjectionSize),
            precision: precision, key: "embedding_projection")
        try binder.requireAllUsed(prefixes: Self.prefixes)
    }

    /// Bytes the projection matrices hold as packed for multiplying (the bulk of the weights): 2 per parameter for a
    /// bf16 or f16 checkpoint in f32 precision, 4 for f32.
    var projectionByteCount: Int {
        let edges = sscp.inputProjection.byteCount + outputProjection.byteCount + embeddingProjection.byteCount
        return layers.reduce(edges) { total, layer in
            let qkv = switch layer.attention.qkv {
            case .fused(let projection, _, _, _): projection.byteCount
            case .separate(let q, let k, let v):
                q.projection.byteCount + k.projection.byteCount + v.projection.byteCount
            }
            return total + qkv + layer.attention.post.projection.byteCount
                + layer.feedForward1.up.projection.byteCount + layer.feedForward1.down.projection.byteCount
                + layer.feedForward2.up.projection.byteCount + layer.feedForward2.down.projection.byteCount
                + layer.lightConv.start.projection.byteCount + layer.lightConv.end.projection.byteCount
        }
    }

    /// Parameters, clamp bounds excluded.
    public var parameterCount: Int {
        sscp.parameterCount + layers.reduce(0) { $0 + $1.parameterCount } + outputProjection.parameterCount
            + outputBias.count + embeddingProjection.parameterCount
    }
}

/// `subsample_conv_projection`: two 3×3 stride-2 Conv2d + channel LayerNorm + ReLU, then `input_proj_linear`.
struct SubsampleWeights: Sendable {
    let conv0: WeightBuffer       // (C0, 1, 3, 3)       layer0.conv.weight
    /// `conv0` tap-major, so each tap's loop over out-channels reads contiguous memory.
    let conv0Taps: WeightBuffer   // (3, 3, C0)          layer0.conv.weight, reordered
    let norm0: WeightBuffer       // (C0,)               layer0.norm.weight
    let conv1: WeightBuffer       // (C1, C0, 3, 3)      layer1.conv.weight
    /// `conv1` reordered to (C1, 3, 3, C0): one row per out-channel in the order of an im2col patch of
    /// frequency-major, channel-minor layer-0 rows, so layer 1 is one product per token…
    let conv1Patches: WeightBuffer // (C1, 9·C0)         layer1.conv.weight, reordered
    /// …and the same, packed for `Matmul` (bf16 precision).
    let conv1Packed: PackedMatrix // (C1, 9·C0)          layer1.conv.weight, reordered
    let norm1: WeightBuffer       // (C1,)               layer1.norm.weight
    let inputProjection: Projection    // (H, F1·C1)     input_proj_linear.weight

    init(_ binder: inout WeightBinder, _ prefix: String, config c: Gemma4AudioConfiguration,
         precision: ComputePrecision) throws {
        let (c0, c1) = (c.subsamplingChannels[0], c.subsamplingChannels[1])
        let conv0 = try binder.tensor(prefix + "layer0.conv.weight", shape: [c0, 1, 3, 3])
        self.conv0 = conv0
        conv0Taps = WeightBuffer(count: 9 * c0) { taps in
            for o in 0..<c0 { for tap in 0..<9 { taps[tap * c0 + o] = conv0[o * 9 + tap] } }
        }
        norm0 = try binder.tensor(prefix + "layer0.norm.weight", shape: [c0])
        let conv1 = try binder.tensor(prefix + "layer1.conv.weight", shape: [c1, c0, 3, 3])
        self.conv1 = conv1
        let patches = WeightBuffer(count: c1 * 9 * c0) { patches in
            for o in 0..<c1 { for ch in 0..<c0 { for tap in 0..<9 {
                patches[(o * 9 + tap) * c0 + ch] = conv1[(o * c0 + ch) * 9 + tap]
            } } }
        }
        conv1Patches = patches
        conv1Packed = PackedMatrix(patches.base, outFeatures: c1, inFeatures: 9 * c0)
        norm1 = try binder.tensor(prefix + "layer1.norm.weight", shape: [c1])
        inputProjection = try Projection(
            binder.matrix(prefix + "input_proj_linear.weight", rows: c.hiddenSize, columns: c.sscpOutputWidth),
            precision: precision, key: "input_proj_linear")
    }

    var parameterCount: Int {
        conv0.count + norm0.count + conv1.count + norm1.count + inputProjection.parameterCount
    }
}

/// `feed_forward1` / `feed_forward2`: RMSNorm → H→4H → SiLU → 4H→H → RMSNorm, added at `residual_weight`.
struct FeedForwardWeights: Sendable {
    let preNorm: WeightBuffer     // (H,)   pre_layer_norm.weight
    let up: ClippableLinear       // H→4H   ffw_layer_1
    let down: ClippableLinear     // 4H→H   ffw_layer_2
    let postNorm: WeightBuffer    // (H,)   post_layer_norm.weight

    init(_ binder: inout WeightBinder, _ prefix: String, config c: Gemma4AudioConfiguration,
         precision: ComputePrecision) throws {
        let h = c.hiddenSize
        preNorm = try binder.tensor(prefix + "pre_layer_norm.weight", shape: [h])
        up = try ClippableLinear(&binder, prefix + "ffw_layer_1", inFeatures: h, outFeatures: 4 * h,
                                 clipped: c.useClippedLinears, precision: precision)
        down = try ClippableLinear(&binder, prefix + "ffw_layer_2", inFeatures: 4 * h, outFeatures: h,
                                   clipped: c.useClippedLinears, precision: precision)
        postNorm = try binder.tensor(prefix + "post_layer_norm.weight", shape: [h])
    }

    var parameterCount: Int {
        preNorm.count + up.projection.parameterCount + down.projection.parameterCount + postNorm.count
    }
}

/// `self_attn`: chunked causal local attention with a relative-position key bias.
struct AttentionWeights: Sendable {
    /// q_proj, k_proj, v_proj: one (3H, H) product when they clamp their input alike — always so in released
    /// checkpoints, converted from JAX's single fused projection — or three.
    enum QKV: Sendable {
        case fused(Projection, query: ClampBounds, key: ClampBounds, value: ClampBounds)   // rows q, then k, then v
        case separate(query: ClippableLinear, key: ClippableLinear, value: ClippableLinear)
    }

    let qkv: QKV
    let post: ClippableLinear     // post
    /// `q_scale · softplus(per_dim_scale)` per head channel, from `per_dim_scale` (headDim,).
    let queryScale: WeightBuffer  // (headDim,)  per_dim_scale, softplus'd and scaled
    /// `relative_k_proj(pos_emb)` row for each distance d = 0 ..< window, computed once at load
    /// (`relative_k_proj.weight` (H, H) is not kept).
    let relativeKeys: WeightBuffer // (window, H) relative_k_proj.weight applied to the position table
    let parameterCount: Int

    init(_ binder: inout WeightBinder, _ prefix: String, config c: Gemma4AudioConfiguration,
         precision: ComputePrecision, fuseQKV: Bool = true) throws {
        let h = c.hiddenSize
        let clipped = c.useClippedLinears
        let names = ["q_proj", "k_proj", "v_proj"]
        let weights = try names.map { try binder.matrix(prefix + $0 + ".linear.weight", rows: h, columns: h) }
        let bounds = try names.map { try ClampBounds(&binder, prefix + $0, clipped: clipped) }
        let sameInputClamps = bounds.allSatisfy { $0.input == bounds[0].input }
        if fuseQKV && sameInputClamps {
            qkv = .fused(try Projection(weights, precision: precision, key: prefix + "qkv"),                   // (3H, H)
                         query: bounds[0], key: bounds[1], value: bounds[2])
        } else {
            let linears = try (0..<3).map {
                ClippableLinear(projection: try Projection(weights[$0], precision: precision, key: prefix + names[$0]),
                                bounds: bounds[$0])
            }
            qkv = .separate(query: linears[0], key: linears[1], value: linears[2])
        }
        post = try ClippableLinear(&binder, prefix + "post", inFeatures: h, outFeatures: h, clipped: clipped,
                                   precision: precision)
        let perDimScale = try binder.tensor(prefix + "per_dim_scale", shape: [c.headDimension])
        let relativeProjection = try binder.matrix(prefix + "relative_k_proj.weight", rows: h, columns: h)

        let qScale = Float(1 / Double(c.headDimension).squareRoot() / log(2.0))
        queryScale = WeightBuffer(count: c.headDimension) { scale in
            for i in 0..<c.headDimension { scale[i] = qScale * VectorOps.softplus(perDimScale[i]) }
        }

        // Sinusoidal table of HF's Gemma4AudioRelPositionalEncoding: row r is position p = rows−1−r, i.e. distance
        // p; [sin(p·inv) | cos(p·inv)] with inv[i] = exp(−i·ln(10⁴)/(H/2 − 1)), in float32 as torch computes it.
        let rows = c.relativePositionCount
        let half = h / 2
        let increment = Float(log(10_000.0) / Double(max(half - 1, 1)))
        let table = FloatBuffer(count: rows * h)                           // (rows, H)
        for r in 0..<rows {
            let p = Float(rows - 1 - r)
            for i in 0..<half {
                let angle = p * expf(Float(i) * -increment)
                table[r * h + i] = sinf(angle)
                table[r * h + half + i] = cosf(angle)
            }
        }
        let projected = FloatBuffer(count: rows * h)                       // (rows, H)
        Matmul.linear(table.base, rows: rows, weight: StoredMatrix.packed([relativeProjection]),
                      into: projected.base)
        let window = c.attentionWindow
        relativeKeys = WeightBuffer(count: window * h) { keys in          // (window, H), row d = distance d
            for d in 0..<window {
                (keys.baseAddress! + d * h).update(from: projected.base + (rows - 1 - d) * h, count: h)
            }
        }
        parameterCount = 4 * h * h + c.headDimension + h * h
    }

    /// `q`, `k`, `v` `(rows, H)` each, from the normed input `(rows, H)`.
    func project(_ input: UnsafePointer<Float>, rows: Int, scratch s: EncoderScratch,
                 query q: UnsafeMutablePointer<Float>, key k: UnsafeMutablePointer<Float>,
                 value v: UnsafeMutablePointer<Float>) {
        switch qkv {
        case .separate(let query, let key, let value):
            query.apply(input, rows: rows, scratch: s, into: q)
            key.apply(input, rows: rows, scratch: s, into: k)
            value.apply(input, rows: rows, scratch: s, into: v)
        case .fused(let projection, let queryBounds, let keyBounds, let valueBounds):
            let h = projection.inFeatures
            let source = queryBounds.clampedInput(input, count: rows * h, scratch: s)
            let fused = s.wide.base                                          // (R, 3H)
            projection.apply(source, rows: rows, scratch: s, into: fused)
            for r in 0..<rows {
                (q + r * h).update(from: fused + r * 3 * h, count: h)
                (k + r * h).update(from: fused + r * 3 * h + h, count: h)
                (v + r * h).update(from: fused + r * 3 * h + 2 * h, count: h)
            }
            queryBounds.clampOutput(q, count: rows * h)
            keyBounds.clampOutput(k, count: rows * h)
            valueBounds.clampOutput(v, count: rows * h)
        }
    }
}

/// `lconv1d`: RMSNorm → H→2H → GLU → causal depthwise conv → RMSNorm → SiLU → H→H, residual.
struct LightConvWeights: Sendable {
    let preNorm: WeightBuffer     // (H,)          pre_layer_norm.weight
    let start: ClippableLinear    // H→2H          linear_start
    /// depthwise_conv1d.weight (H, 1, K), transposed at load to tap-major so each tap's loop over channels reads
    /// contiguous memory.
    let depthwise: WeightBuffer   // (K, H)        depthwise_conv1d.weight, transposed
    let convNorm: WeightBuffer    // (H,)          conv_norm.weight
    let end: ClippableLinear      // H→H           linear_end

    init(_ binder: inout WeightBinder, _ prefix: String, config c: Gemma4AudioConfiguration,
         precision: ComputePrecision) throws {
        let h = c.hiddenSize
        preNorm = try binder.tensor(prefix + "pre_layer_norm.weight", shape: [h])
        start = try ClippableLinear(&binder, prefix + "linear_start", inFeatures: h, outFeatures: 2 * h,
                                    clipped: c.useClippedLinears, precision: precision)
        let taps = c.convKernelSize
        let stored = try binder.tensor(prefix + "depthwise_conv1d.weight", shape: [h, 1, taps])   // (H, 1, K)
        depthwise = WeightBuffer(count: taps * h) { tapMajor in
            for ch in 0..<h { for j in 0..<taps { tapMajor[j * h + ch] = stored[ch * taps + j] } }
        }
        convNorm = try binder.tensor(prefix + "conv_norm.weight", shape: [h])
        end = try ClippableLinear(&binder, prefix + "linear_end", inFeatures: h, outFeatures: h,
                                  clipped: c.useClippedLinears, precision: precision)
    }

    var parameterCount: Int {
        preNorm.count + start.projection.parameterCount + depthwise.count + convNorm.count
            + end.projection.parameterCount
    }
}

/// One Conformer block, `A.layers.{i}.`.
struct ConformerLayerWeights: Sendable {
    let feedForward1: FeedForwardWeights   // feed_forward1.
    let preAttentionNorm: WeightBuffer     // (H,) norm_pre_attn.weight
    let attention: AttentionWeights        // self_attn.
    let postAttentionNorm: WeightBuffer    // (H,) norm_post_attn.weight
    let lightConv: LightConvWeights        // lconv1d.
    let feedForward2: FeedForwardWeights   // feed_forward2.
    let outputNorm: WeightBuffer           // (H,) norm_out.weight

    init(_ binder: inout WeightBinder, _ prefix: String, config c: Gemma4AudioConfiguration,
         precision: ComputePrecision) throws {
        let h = c.hiddenSize
        feedForward1 = try FeedForwardWeights(&binder, prefix + "feed_forward1.", config: c, precision: precision)
        preAttentionNorm = try binder.tensor(prefix + "norm_pre_attn.weight", shape: [h])
        attention = try AttentionWeights(&binder, prefix + "self_attn.", config: c, precision: precision)
        postAttentionNorm = try binder.tensor(prefix + "norm_post_attn.weight", shape: [h])
        lightConv = try LightConvWeights(&binder, prefix + "lconv1d.", config: c, precision: precision)
        feedForward2 = try FeedForwardWeights(&binder, prefix + "feed_forward2.", config: c, precision: precision)
        outputNorm = try binder.tensor(prefix + "norm_out.weight", shape: [h])
    }

    var parameterCount: Int {
        feedForward1.parameterCount + preAttentionNorm.count + attention.parameterCount + postAttentionNorm.count
            + lightConv.parameterCount + feedForward2.parameterCount + outputNorm.count
    }
}
