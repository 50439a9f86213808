/// A model that cannot be loaded or used: a bad config, a missing or misshapen weight, an unsupported setting.
/// The description names the file and, where there is one, the tensor or config field; ``kind`` tells callers
/// that branch on it what sort of failure it is. Errors never log themselves.
///
/// ```
/// /models/e2b/config.json: audio_config.hidden_size is 0, outside 1…16384 (the range this encoder accepts)
/// ```
public struct ModelError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What sort of failure, for callers that branch on it.
    public enum Kind: Sendable, Equatable {
        /// `config.json` or GGUF metadata that the encoder cannot run.
        case invalidConfiguration
        /// A weight missing, misshapen, non-finite or unexpected, or a GGUF tensor with no Hugging Face equivalent.
        case invalidWeights
        /// A setting (precision, block tokens) that is invalid, or that this CPU cannot run.
        case unavailableSetting
        /// A path that holds no model: missing, of another kind, or an unknown random size.
        case notAModel
    }

    /// What sort of failure this is.
    public var kind: Kind { detail.kind }
    /// The file or model path concerned; nil for a setting.
    public var file: String? { detail.file }
    public var description: String { detail.description }

    private let detail: Detail
    private init(_ detail: Detail) { self.detail = detail }

    // MARK: Configuration

    /// `config.json` or GGUF metadata the encoder cannot run; `reason` names the field.
    package static func invalidConfiguration(path: String, reason: String) -> ModelError {
        ModelError(.invalidConfiguration(path: path, reason: reason))
    }
    /// A size field outside the range this encoder accepts (``Gemma4AudioConfiguration/Limits``).
    package static func sizeOutOfRange(path: String, field: String, value: Int, range: ClosedRange<Int>) -> ModelError {
        ModelError(.sizeOutOfRange(path: path, field: field, value: value, range: range))
    }
    /// The configuration has `configured` layers, the checkpoint tensors for only `present`, none for `firstMissing`.
    package static func missingLayer(source: String, configured: Int, present: Int, firstMissing: Int) -> ModelError {
        ModelError(.missingLayer(source: source, configured: configured, present: present, firstMissing: firstMissing))
    }

    // MARK: Tensors

    /// A tensor the model needs is not in the checkpoint.
    package static func missingTensor(source: String, tensor: TensorKey, expectedShape: [Int]) -> ModelError {
        ModelError(.missingTensor(source: source, tensor: tensor, expectedShape: expectedShape))
    }
    package static func wrongShape(source: String, tensor: TensorKey, expected: [Int], actual: [Int]) -> ModelError {
        ModelError(.wrongShape(source: source, tensor: tensor, expected: expected, actual: actual))
    }
    /// Element `index` of the tensor's `count` is NaN or ±infinity.
    package static func nonFiniteWeight(source: String, tensor: TensorKey, index: Int, count: Int, value: Float)
        -> ModelError {
        ModelError(.nonFiniteWeight(source: source, tensor: tensor, index: index, count: count, value: value))
    }
    /// A ClippableLinear clamp bound at the infinity of its closed side: +inf as a `*_min` or −inf as a `*_max`.
    /// (The other infinity is allowed: it means no clip on that side.)
    package static func invalidClampBound(source: String, tensor: TensorKey, value: Float) -> ModelError {
        ModelError(.invalidClampBound(source: source, tensor: tensor, value: value))
    }
    /// A ClippableLinear clamp range whose `*_min` tensor is above its `*_max` tensor.
    package static func invertedClampRange(source: String, minimumTensor: TensorKey, minimum: Float,
                                           maximumTensor: TensorKey, maximum: Float) -> ModelError {
        ModelError(.invertedClampRange(source: source, minimumTensor: minimumTensor, minimum: minimum,
                                       maximumTensor: maximumTensor, maximum: maximum))
    }
    /// A tensor under the model's prefixes that binding did not read (`others`: how many more there are).
    package static func unexpectedTensor(source: String, tensor: TensorKey, others: Int) -> ModelError {
        ModelError(.unexpectedTensor(source: source, tensor: tensor, others: others))
    }
    /// A GGUF audio tensor with no Hugging Face equivalent (spec §6).
    package static func unmappedGGUFTensor(source: String, tensor: TensorKey) -> ModelError {
        ModelError(.unmappedGGUFTensor(source: source, tensor: tensor))
    }
    /// A GGUF `per_dim_scale` value that softplus cannot give (negative, NaN or infinite).
    package static func invalidPerDimScale(source: String, tensor: TensorKey, value: Float) -> ModelError {
        ModelError(.invalidPerDimScale(source: source, tensor: tensor, value: value))
    }
    /// A read of a name the source does not present.
    package static func noSuchTensor(source: String, tensor: TensorKey) -> ModelError {
        ModelError(.noSuchTensor(source: source, tensor: tensor))
    }

    // MARK: Settings and paths

    /// `ComputePrecision.bf16` cannot run on this CPU.
    package static func bf16Unavailable(_ reason: BF16Unavailability) -> ModelError {
        ModelError(.bf16Unavailable(reason))
    }
    /// `ComputePrecision.fast` cannot run: Earshot's kernels have `instructionSet` here, without AVX512_BF16.
    package static func fastUnavailable(instructionSet: String) -> ModelError {
        ModelError(.fastUnavailable(instructionSet: instructionSet))
    }
    /// A `precision` setting other than ``PrecisionSetting``'s values.
    package static func invalidPrecision(_ value: String) -> ModelError { ModelError(.invalidPrecision(value)) }
    /// Tokens per block outside ``Gemma4AudioConfiguration/blockTokensRange``.
    package static func blockTokensOutOfRange(_ value: Int) -> ModelError { ModelError(.blockTokensOutOfRange(value)) }
    package static func unknownRandomSize(path: String, size: String) -> ModelError {
        ModelError(.unknownRandomSize(path: path, size: size))
    }
    package static func noSuchFile(path: String) -> ModelError { ModelError(.noSuchFile(path: path)) }
    /// A path that is neither a Hugging Face model (directory, config.json, safetensors) nor a GGUF.
    package static func notAModel(path: String) -> ModelError { ModelError(.notAModel(path: path)) }

    /// Why bf16 cannot run.
    package enum BF16Unavailability: Sendable, Equatable {
        /// oneDNN could not be loaded or set up; its error.
        case oneDNN(String)
        /// oneDNN runs, but this CPU gives it `instructionSet`, without native bf16.
        case noNativeBF16(instructionSet: String)
    }

    /// The same error with its tensor's key replaced by `transform(key)`; errors without a tensor are unchanged.
    func mapTensor(_ transform: (TensorKey) -> TensorKey) -> ModelError { ModelError(detail.mapTensor(transform)) }

    /// The source (file path) a tensor error is about; nil for other errors.
    var tensorSource: String? { detail.tensorSource }
}

extension ModelError {
    /// What went wrong, as values (the factories above make them); the one place the messages are worded.
    private enum Detail: Sendable, Equatable {
        case invalidConfiguration(path: String, reason: String)
        case sizeOutOfRange(path: String, field: String, value: Int, range: ClosedRange<Int>)
        case missingLayer(source: String, configured: Int, present: Int, firstMissing: Int)
        case missingTensor(source: String, tensor: TensorKey, expectedShape: [Int])
        case wrongShape(source: String, tensor: TensorKey, expected: [Int], actual: [Int])
        case nonFiniteWeight(source: String, tensor: TensorKey, index: Int, count: Int, value: Float)
        case invalidClampBound(source: String, tensor: TensorKey, value: Float)
        case invertedClampRange(source: String, minimumTensor: TensorKey, minimum: Float, maximumTensor: TensorKey,
                                maximum: Float)
        case unexpectedTensor(source: String, tensor: TensorKey, others: Int)
        case unmappedGGUFTensor(source: String, tensor: TensorKey)
        case invalidPerDimScale(source: String, tensor: TensorKey, value: Float)
        case noSuchTensor(source: String, tensor: TensorKey)
        case bf16Unavailable(BF16Unavailability)
        case fastUnavailable(instructionSet: String)
        case invalidPrecision(String)
        case blockTokensOutOfRange(Int)
        case unknownRandomSize(path: String, size: String)
        case noSuchFile(path: String)
        case notAModel(path: String)

        var kind: Kind {
            switch self {
            case .invalidConfiguration, .sizeOutOfRange: .invalidConfiguration
            case .missingLayer, .missingTensor, .wrongShape, .nonFiniteWeight, .invalidClampBound, .invertedClampRange,
                 .unexpectedTensor, .unmappedGGUFTensor, .invalidPerDimScale, .noSuchTensor:
                .invalidWeights
            case .bf16Unavailable, .fastUnavailable, .invalidPrecision, .blockTokensOutOfRange: .unavailableSetting
            case .unknownRandomSize, .noSuchFile, .notAModel: .notAModel
            }
        }

        var file: String? {
            switch self {
            case .invalidConfiguration(let path, _), .sizeOutOfRange(let path, _, _, _),
                 .unknownRandomSize(let path, _), .noSuchFile(let path), .notAModel(let path):
                path
            case .missingLayer(let source, _, _, _):
                source
            case .bf16Unavailable, .fastUnavailable, .invalidPrecision, .blockTokensOutOfRange:
                nil
            default:
                tensorSource
            }
        }

        var description: String {
            switch self {
            case .invalidConfiguration(let path, let reason):
                return "\(path): \(reason)"
            case .sizeOutOfRange(let path, let field, let value, let range):
                return "\(path): \(field) is \(value), outside \(range.lowerBound)…\(range.upperBound) (the range "
                    + "this encoder accepts)"
            case .missingLayer(let source, let configured, let present, let missing):
                return "\(source): the configuration has \(configured) layers (num_hidden_layers, "
                    + "clip.audio.block_count in a GGUF), but the checkpoint holds \(present), with no tensor under "
                    + "model.audio_tower.layers.\(missing)."
            case .missingTensor(let source, let tensor, let shape):
                return tensor.describe(in: source, "missing (expected shape \(shape))")
            case .wrongShape(let source, let tensor, let expected, let actual):
                return tensor.describe(in: source, "shape \(actual), expected \(expected)")
            case .nonFiniteWeight(let source, let tensor, let index, let count, let value):
                return tensor.describe(in: source, "element \(index) of \(count) is \(value): a checkpoint's "
                                       + "weights must be finite")
            case .invalidClampBound(let source, let tensor, let value):
                let (side, open) = value > 0 ? ("a lower", "-inf") : ("an upper", "inf")
                return tensor.describe(in: source, "is \(value): \(side) clamp bound must be a number or \(open) (no "
                                       + "clip); \(value) would clamp every value to \(value)")
            case .invertedClampRange(let source, let minimumTensor, let minimum, let maximumTensor, let maximum):
                return minimumTensor.describe(in: source, "\(minimum) is above \(maximumTensor) (\(maximum)): "
                                              + "the clamp range is empty")
            case .unexpectedTensor(let source, let tensor, let others):
                let more = others > 0 ? " (and \(others) more)" : ""
                return tensor.describe(in: source, "unexpected tensor: not part of a Gemma 4 audio encoder with this "
                                       + "config\(more)")
            case .unmappedGGUFTensor(let source, let tensor):
                return tensor.describe(in: source, "not part of a Gemma 4 audio encoder: the name has no Hugging Face "
                                       + "equivalent (spec §6)")
            case .invalidPerDimScale(let source, let tensor, let value):
                return tensor.describe(in: source, "holds \(value), which softplus never gives: the stored "
                                       + "per_dim_scale must be softplus(x) ≥ 0 and finite")
            case .noSuchTensor(let source, let tensor):
                return tensor.describe(in: source, "no tensor of this name")
            case .bf16Unavailable(.oneDNN(let error)):
                return "precision bf16 is not available: \(error); use f32"
            case .bf16Unavailable(.noNativeBF16(let instructionSet)):
                return "precision bf16 needs a CPU on which oneDNN multiplies bf16 natively (AVX-512 BF16 or AMX); "
                    + "this one gives oneDNN \(instructionSet): use f32"
            case .fastUnavailable(let instructionSet):
                return "precision fast needs a CPU with AVX512_BF16 (vdpbf16ps); Earshot's kernels run "
                    + "\(instructionSet) here: use f32"
            case .invalidPrecision(let value):
                return "precision must be \(PrecisionSetting.choices), not '\(value)'"
            case .blockTokensOutOfRange(let value):
                let range = Gemma4AudioConfiguration.blockTokensRange
                return "block-tokens must be \(range.lowerBound)…\(range.upperBound), not \(value)"
            case .unknownRandomSize(let path, let size):
                return "\(path): unknown random model size '\(size)' (use random:e2b or random:e4b)"
            case .noSuchFile(let path):
                return "\(path): no such file or directory"
            case .notAModel(let path):
                return "\(path): not a model (expected a Hugging Face model directory with config.json and safetensors "
                    + "weights, or a llama.cpp mmproj .gguf)"
            }
        }

        /// The same error with its tensor's key replaced by `transform(key)`; errors without a tensor are unchanged.
        func mapTensor(_ transform: (TensorKey) -> TensorKey) -> Detail {
            switch self {
            case .missingTensor(let source, let t, let shape): .missingTensor(source: source, tensor: transform(t),
                                                                              expectedShape: shape)
            case .wrongShape(let source, let t, let expected, let actual):
                .wrongShape(source: source, tensor: transform(t), expected: expected, actual: actual)
            case .nonFiniteWeight(let source, let t, let index, let count, let value):
                .nonFiniteWeight(source: source, tensor: transform(t), index: index, count: count, value: value)
            case .invalidClampBound(let source, let t, let value):
                .invalidClampBound(source: source, tensor: transform(t), value: value)
            case .invertedClampRange(let source, let lower, let minimum, let upper, let maximum):
                .invertedClampRange(source: source, minimumTensor: transform(lower), minimum: minimum,
                                    maximumTensor: transform(upper), maximum: maximum)
            case .unexpectedTensor(let source, let t, let others):
                .unexpectedTensor(source: source, tensor: transform(t), others: others)
            case .unmappedGGUFTensor(let source, let t): .unmappedGGUFTensor(source: source, tensor: transform(t))
            case .invalidPerDimScale(let source, let t, let value):
                .invalidPerDimScale(source: source, tensor: transform(t), value: value)
            case .noSuchTensor(let source, let t): .noSuchTensor(source: source, tensor: transform(t))
            case .invalidConfiguration, .sizeOutOfRange, .missingLayer, .bf16Unavailable, .fastUnavailable,
                 .invalidPrecision, .blockTokensOutOfRange, .unknownRandomSize, .noSuchFile, .notAModel:
                self
            }
        }

        /// The source (file path) a tensor error is about; nil for other errors.
        var tensorSource: String? {
            switch self {
            case .missingTensor(let source, _, _), .wrongShape(let source, _, _, _),
                 .nonFiniteWeight(let source, _, _, _, _), .invalidClampBound(let source, _, _),
                 .invertedClampRange(let source, _, _, _, _), .unexpectedTensor(let source, _, _),
                 .unmappedGGUFTensor(let source, _), .invalidPerDimScale(let source, _, _),
                 .noSuchTensor(let source, _):
                source
            default:
                nil
            }
        }
    }
}

/// The name of a tensor in an error: the name it was bound under and, for a GGUF, the name the file stores it
/// under and how.
public struct TensorKey: Sendable, Equatable, CustomStringConvertible {
    /// The Hugging Face checkpoint key (or, for a GGUF tensor with none, the GGUF name).
    public var name: String
    /// The GGUF name, when the tensor comes from a GGUF under `name`.
    public var ggufName: String?
    /// The GGUF's stored form ("BF16, ne [1024, 4096]"), when known.
    public var ggufStorage: String?

    public init(_ name: String, ggufName: String? = nil, ggufStorage: String? = nil) {
        self.name = name
        self.ggufName = ggufName
        self.ggufStorage = ggufStorage
    }

    /// `'a.blk.0.attn_q.weight' (HF 'model.audio_tower.…')` for a GGUF tensor, else `'<name>'`.
    public var description: String {
        guard let ggufName else { return "'\(name)'" }
        return "'\(ggufName)' (HF '\(name)')"
    }

    /// "<source>: tensor <key>: <reason>", and the GGUF's stored form after the reason.
    func describe(in source: String, _ reason: String) -> String {
        let stored = ggufStorage.map { "; the GGUF stores it as \($0)" } ?? ""
        return "\(source): tensor \(self): \(reason)\(stored)"
    }
}
