/// The hyperparameters of a Gemma 4 audio encoder and its embedder (`Gemma4AudioConfig`, spec §1), read from a
/// checkpoint's `config.json` (`audio_config` plus `text_config.hidden_size`). Nothing E2B-specific is built in:
/// every field comes from the file, with transformers' defaults for fields the file omits.
public struct Gemma4AudioConfiguration: Sendable, Equatable {
    /// Conformer width H (`hidden_size`).
    public var hiddenSize = 1024
    public var layerCount = 12                        // num_hidden_layers
    public var headCount = 8                          // num_attention_heads
    /// SSCP conv out-channels (`subsampling_conv_channels`).
    public var subsamplingChannels = [128, 32]
    /// Depthwise causal conv taps in the light conv (`conv_kernel_size`).
    public var convKernelSize = 5
    /// Macaron FFN residual scale (`residual_weight`).
    public var residualWeight: Float = 0.5
    public var attentionChunkSize = 12
    public var attentionContextLeft = 13
    public var attentionContextRight = 0
    public var attentionLogitCap: Float = 50
    public var useClippedLinears = true
    public var rmsNormEps: Float = 1e-6
    public var gradientClipping: Float = 1e10
    /// Width of `output_proj` (`output_proj_dims`): the encoder's output, the embedder's input.
    public var outputProjectionSize = 1536
    /// The language model's hidden size D (`text_config.hidden_size`): the embedding width.
    public var textHiddenSize = 1536
    /// Mel bins the SSCP reads. Not a config field: HF builds `input_proj_linear` with
    /// `(subsampling_conv_channels[0] // 4) * channels[1]` in-features, i.e. it assumes 128 mel bins.
    public let melBins = Self.melBinCount
    private static let melBinCount = 128
    /// Frequency bins after each of the two stride-2 SSCP convolutions (kernel 3, padding 1: w → (w − 1)/2 + 1).
    /// Stored, not computed: the SSCP reads it for every row, and a computed array would allocate on every read.
    public let sscpFrequencies = [(Self.melBinCount - 1) / 2 + 1, ((Self.melBinCount - 1) / 2) / 2 + 1]

    public init() {}

    /// The released audio configurations: `e2b` (D = 1536) and `e4b` (D = 2560) share the audio tower (spec §1).
    public static func preset(_ name: String) -> Gemma4AudioConfiguration? {
        var c = Gemma4AudioConfiguration()
        switch name.lowercased() {
        case "e2b": c.textHiddenSize = 1536
        case "e4b": c.textHiddenSize = 2560
        default: return nil
        }
        return c
    }

    /// The range each size field may take. Far beyond every released Gemma 4 (E2B/E4B: hidden 1024, 12 layers,
    /// 8 heads, channels [128, 32], conv kernel 5, chunk 12, context 13, output_proj 1536, D 1536 / 2560), yet
    /// small enough that no value can make the encoder size a buffer absurdly before a tensor is checked: a field
    /// read from a file is refused outside its range, naming the file, the field and the range.
    public enum Limits {
        public static let hiddenSize = 1...16_384
        public static let layerCount = 0...256
        public static let headCount = 1...256
        public static let subsamplingChannels = 1...4_096
        public static let convKernelSize = 1...1_024
        public static let attentionChunkSize = 1...1_024
        public static let attentionContextLeft = 2...1_024
        public static let outputProjectionSize = 1...65_536
        public static let textHiddenSize = 1...65_536
    }

    /// 16 kHz samples per token: the log-mel hop (160) times the SSCP's two stride-2 convolutions (40 ms).
    public static let samplesPerToken = 640

    /// Tokens per streaming encoder pass a caller may choose (`--block-tokens`, the daemon's `block-tokens`): from
    /// 1 (40 ms latency) to 12, one attention chunk (480 ms), which also fills one bf16 row tile exactly
    /// (`ComputePrecision.rowTile`). Offline passes take larger blocks internally.
    public static let blockTokensRange = 1...12

    /// Throws ``ModelError/blockTokensOutOfRange(_:)`` unless `blockTokens` lies in ``blockTokensRange``: the one
    /// check of the setting, for every caller.
    public static func validate(blockTokens: Int) throws(ModelError) {
        guard blockTokensRange.contains(blockTokens) else { throw .blockTokensOutOfRange(blockTokens) }
    }

    public var headDimension: Int { hiddenSize / headCount }
    /// Keys a query sees, itself included: distances `0 ..< attentionWindow` (HF masks `q − k < context_left − 1`).
    public var attentionWindow: Int { attentionContextLeft - 1 }
    /// Rows of the relative-position table HF builds: positions `context/2 … 0`.
    public var relativePositionCount: Int {
        (attentionChunkSize + attentionContextLeft - 1 + attentionContextRight) / 2 + 1
    }
    /// In-features of `input_proj_linear`: frequencies × channels after the second conv.
    public var sscpOutputWidth: Int { sscpFrequencies[1] * subsamplingChannels[1] }

    /// Throws unless `value`, read from the field `field` of the file at `path`, lies within `limits`.
    static func require(_ value: Int, within limits: ClosedRange<Int>, _ field: String, path: String) throws {
        guard limits.contains(value) else {
            throw ModelError.sizeOutOfRange(path: path, field: field, value: value, range: limits)
        }
    }

    /// Rejects settings this encoder cannot run exactly, and sizes outside ``Limits``, naming the field.
    public func validate(path: String) throws {
        func require(_ condition: Bool, _ reason: String) throws {
            if !condition { throw ModelError.invalidConfiguration(path: path, reason: reason) }
        }
        try require(subsamplingChannels.count == 2, "subsampling_conv_channels must be two integers")
        let sizes: [(Int, ClosedRange<Int>, String)] = [
            (hiddenSize, Limits.hiddenSize, "hidden_size"), (layerCount, Limits.layerCount, "num_hidden_layers"),
            (headCount, Limits.headCount, "num_attention_heads"),
            (subsamplingChannels[0], Limits.subsamplingChannels, "subsampling_conv_channels[0]"),
            (subsamplingChannels[1], Limits.subsamplingChannels, "subsampling_conv_channels[1]"),
            (convKernelSize, Limits.convKernelSize, "conv_kernel_size"),
            (attentionChunkSize, Limits.attentionChunkSize, "attention_chunk_size"),
            (attentionContextLeft, Limits.attentionContextLeft, "attention_context_left"),
            (outputProjectionSize, Limits.outputProjectionSize, "output_proj_dims"),
            (textHiddenSize, Limits.textHiddenSize, "text hidden size"),
        ]
        for (value, limits, field) in sizes { try Self.require(value, within: limits, field, path: path) }
        try require(residualWeight.isFinite, "residual_weight is \(residualWeight); it must be finite")
        try require(attentionLogitCap > 0 && attentionLogitCap.isFinite, "attention_logit_cap is "
                    + "\(attentionLogitCap); it must be positive and finite (logits are cap·tanh(x / cap))")
        try require(gradientClipping > 0, "gradient_clipping is \(gradientClipping); it must be positive "
                    + "(infinity: no clipping)")
        try require(hiddenSize % headCount == 0, "hidden_size \(hiddenSize) is not divisible by "
                    + "num_attention_heads \(headCount)")
        try require(hiddenSize % 2 == 0, "hidden_size must be even (sin/cos position halves)")
        try require(subsamplingChannels[0] / 4 == sscpFrequencies[1],
                    "subsampling_conv_channels[0] = \(subsamplingChannels[0]): transformers sizes input_proj_linear "
                    + "as (channels[0] // 4)·channels[1], which matches the 128-bin SSCP output only for 128")
        try require(attentionContextRight == 0, "attention_context_right = \(attentionContextRight): only causal "
                    + "encoders (0, as in every released Gemma 4) can be streamed")
        try require(attentionWindow <= relativePositionCount, "attention_context_left too large for the relative "
                    + "position table")
        try require(rmsNormEps > 0 && rmsNormEps.isFinite, "rms_norm_eps is \(rmsNormEps); it must be positive "
                    + "and finite")
    }
}
