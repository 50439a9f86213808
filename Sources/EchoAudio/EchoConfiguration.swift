import Foundation
import Frontend

/// The activations of the seed's `act_map` (`gelu` is PyTorch's exact, erf-based GELU).
public enum EchoActivation: String, Sendable, CaseIterable {
    case gelu, relu, sigmoid, tanh
    case leakyReLU = "leaky_relu"
    case elu

    /// What the seed builds for `name`: `act_map.get(act, nn.GELU())`, so a name outside the map is GELU.
    public init(seedName name: String) { self = EchoActivation(rawValue: name) ?? .gelu }
}

/// Which of the encoder's two inputs a pass takes: the seed's `AudioEncoder.forward(x, w)` accepts the log-mel
/// `x`, the waveform `w`, or both (blended by `sigmoid(blend_sw)`).
public enum EchoInputs: String, Sendable, CaseIterable {
    case mel, waveform, fused

    var usesMel: Bool { self != .waveform }
    var usesWaveform: Bool { self != .mel }
}

/// An Echo audio encoder's hyperparameters — the audio fields of the seed's `Dimensions` (`mels`, `audio_ctx`,
/// `audio_dims`, `audio_head`, `encoder_idx`, `act`) — and the feature extractor that feeds it.
public struct EchoConfiguration: Sendable, Equatable {
    /// Log-mel bins (`mels`).
    public var melBins: Int
    /// Frames per window (`audio_ctx`): the mel path takes exactly this many; every pass yields this many rows.
    public var context: Int
    /// Width (`audio_dims`).
    public var width: Int
    public var headCount: Int                 // audio_head
    public var layerCount: Int                // encoder_idx
    /// `act` as the file spells it; ``activation`` is what the seed builds from it.
    public var activationName: String
    /// `WhisperFeatureExtractor(feature_size=mels, sampling_rate=16000, hop_length=160, chunk_length=15)`, cut
    /// into windows of `context` frames: `context · 160` samples (15 s at the seed's 1500).
    public var frontend: WhisperLogMelConfiguration
    /// The input a pass takes when the caller does not say (`earshot-model.json`'s `inputs`; default fused).
    public var defaultInputs: EchoInputs = .fused

    /// The `se` stack's activation (the seed's `act`). The waveform stack always uses GELU.
    public var activation: EchoActivation { EchoActivation(seedName: activationName) }
    /// The residual blocks' MLP activation: ReLU, whatever `act` says — the seed's AudioEncoder builds `Residual`
    /// without passing `act`, so each block keeps `Residual`'s default, "relu".
    public let mlpActivation = EchoActivation.relu
    public var headDimension: Int { width / headCount }
    /// The SE block's squeeze width: `channels // 16`.
    public var squeezeWidth: Int { width / 16 }
    /// Rows of each layer's rotary bias: `Rotary(max_ctx=4096)`.
    public static let rotaryRows = 4096
    /// `sigmoid(0.5)`: the seed computes `self.blend = torch.sigmoid(self.blend_sw)` once, in `__init__`, from
    /// `blend_sw`'s initial 0.5 (a frozen parameter), so this is the blend whatever a checkpoint stores.
    public static let seedBlendLogit: Float = 0.5

    public init(melBins: Int, context: Int, width: Int, headCount: Int, layerCount: Int, activation: String) {
        self.melBins = melBins
        self.context = context
        self.width = width
        self.headCount = headCount
        self.layerCount = layerCount
        activationName = activation
        frontend = WhisperLogMelConfiguration(melBins: melBins, windowFrames: context)
    }

    /// The seed's own `Dimensions`: mels 128, ctx 1500, dims 512, 4 heads, 4 layers, gelu (`random:echo`).
    public static let seed = EchoConfiguration(melBins: 128, context: 1500, width: 512, headCount: 4, layerCount: 4,
                                               activation: "gelu")

    /// The range each size field may take: wide, yet small enough that no file can make a buffer absurd.
    public enum Limits {
        public static let melBins = 1...1_024
        public static let context = 1...EchoConfiguration.rotaryRows
        public static let width = 16...8_192
        public static let headCount = 1...256
        public static let layerCount = 0...256
    }

    /// Reads the seed's `Dimensions` as JSON (`dataclasses.asdict`): the audio fields are required; the text ones
    /// (`vocab`, `text_ctx`, …) belong to the decoder and are ignored.
    public init(dimensionsJSON data: Data, path: String) throws {
        let fields: DimensionsFields
        do { fields = try JSONDecoder().decode(DimensionsFields.self, from: data) } catch let error as DecodingError {
            throw EchoError.invalidDimensions(path, DimensionsFields.describe(error))
        } catch {
            throw EchoError.invalidDimensions(path, "is not JSON: \(error)")
        }
        func required<Value>(_ value: Value?, _ key: String) throws -> Value {
            guard let value else { throw EchoError.invalidDimensions(path, "has no \"\(key)\"") }
            return value
        }
        self.init(melBins: try required(fields.mels, "mels"), context: try required(fields.audio_ctx, "audio_ctx"),
                  width: try required(fields.audio_dims, "audio_dims"),
                  headCount: try required(fields.audio_head, "audio_head"),
                  layerCount: try required(fields.encoder_idx, "encoder_idx"),
                  activation: try required(fields.act, "act"))
        try validate(path: path)
    }

    /// Refuses sizes the encoder cannot run, naming the field.
    public func validate(path: String) throws {
        func check(_ field: String, _ value: Int, _ range: ClosedRange<Int>) throws {
            guard range.contains(value) else {
                throw EchoError.invalidDimensions(path, "\"\(field)\" is \(value), outside \(range)")
            }
        }
        try check("mels", melBins, Limits.melBins)
        try check("audio_ctx", context, Limits.context)
        try check("audio_dims", width, Limits.width)
        try check("audio_head", headCount, Limits.headCount)
        try check("encoder_idx", layerCount, Limits.layerCount)
        guard width % headCount == 0, headDimension % 2 == 0 else {
            throw EchoError.invalidDimensions(path, "\"audio_dims\" \(width) is not \"audio_head\" \(headCount) "
                                              + "heads of an even width (the rotary turns pairs)")
        }
        guard frontend.windowSamples > frontend.fftLength else {
            throw EchoError.invalidDimensions(path, "\"audio_ctx\" \(context) frames is shorter than one "
                                              + "\(frontend.fftLength)-sample analysis window")
        }
    }
}

/// The audio fields of the seed's `Dimensions`, as `dataclasses.asdict` writes them.
/// Snake-case names: the seed's field names, which the JSON keys are.
private struct DimensionsFields: Decodable {
    var mels: Int?
    var audio_ctx: Int?
    var audio_dims: Int?
    var audio_head: Int?
    var encoder_idx: Int?
    var act: String?

    /// "\"audio_dims\" is not an integer" and the like.
    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            let key = context.codingPath.last?.stringValue ?? "the top level"
            let expected = key == "act" ? "a string" : key == "the top level" ? "a JSON object" : "an integer"
            return "\"\(key)\" is not \(expected)"
        case .dataCorrupted(let context):
            return context.codingPath.last.map { "\"\($0.stringValue)\" is not an integer" } ?? "is not valid JSON"
        default:
            return "is not the seed's Dimensions as JSON: \(error)"
        }
    }
}
