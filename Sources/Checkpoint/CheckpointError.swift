/// An error from reading a checkpoint: the file it concerns, the tensor when there is one, and what was wrong.
///
/// Every failure of this module is a `CheckpointError`; nothing in it traps on bad input. Match on ``code`` to tell
/// failures apart, and show ``description`` to people:
///
/// ```
/// /models/e2b/model-00002-of-00003.safetensors: tensor 'model.audio_tower.output_proj.bias': data [4096, 10240) \
/// lies beyond the end of the data section (6144 bytes); the file is truncated
/// ```
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. Compare with the static members, e.g. `error.code == .truncated`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Hashable, Sendable {
            case fileUnreadable, fileTooShort, headerLengthInvalid, headerInvalid, entryInvalid
            case unsupportedDType, byteSizeMismatch, truncated, overlappingTensors
            case duplicateTensor, indexInvalid, shardMissing, indexShardMismatch
            case noWeights, configMissing, noSuchTensor, destinationSizeMismatch
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The file does not exist, is not a regular file, or a system call on it failed.
        public static let fileUnreadable = Code(.fileUnreadable)
        /// The file is shorter than the 8-byte header length that starts every safetensors file.
        public static let fileTooShort = Code(.fileTooShort)
        /// The header length runs past the end of the file, or exceeds the 100 MB sanity limit.
        public static let headerLengthInvalid = Code(.headerLengthInvalid)
        /// The header is not valid UTF-8 JSON, not a JSON object, or its `__metadata__` is not strings to strings.
        public static let headerInvalid = Code(.headerInvalid)
        /// A tensor entry lacks `dtype`, `shape` or `data_offsets`, or one of them has the wrong form.
        public static let entryInvalid = Code(.entryInvalid)
        /// A tensor that would be exposed has a dtype other than F32, F16 or BF16 (the message names it).
        public static let unsupportedDType = Code(.unsupportedDType)
        /// A tensor's byte range does not hold exactly `elementCount × dtype size` bytes.
        public static let byteSizeMismatch = Code(.byteSizeMismatch)
        /// A tensor's byte range lies beyond the end of the file.
        public static let truncated = Code(.truncated)
        /// Two tensors of one file share bytes.
        public static let overlappingTensors = Code(.overlappingTensors)
        /// Two shards of one directory hold a tensor of the same name.
        public static let duplicateTensor = Code(.duplicateTensor)
        /// `model.safetensors.index.json` is not JSON, or has no `weight_map` of names to file names.
        public static let indexInvalid = Code(.indexInvalid)
        /// The index names a shard file that does not exist.
        public static let shardMissing = Code(.shardMissing)
        /// The index and a shard disagree: the shard lacks a tensor the index gives it, or holds one the index
        /// does not give it.
        public static let indexShardMismatch = Code(.indexShardMismatch)
        /// The directory holds neither `model.safetensors` nor `model.safetensors.index.json`.
        public static let noWeights = Code(.noWeights)
        /// The directory holds no `config.json`.
        public static let configMissing = Code(.configMissing)
        /// A read asked for a name that the source does not expose.
        public static let noSuchTensor = Code(.noSuchTensor)
        /// A read's destination buffer does not have exactly `elementCount` elements.
        public static let destinationSizeMismatch = Code(.destinationSizeMismatch)

        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// The file (or, for failures of a whole directory, the directory) the failure concerns.
    public let file: String
    /// The full checkpoint key of the tensor concerned, when there is one.
    public let tensor: String?
    /// What was wrong, in words, without the file and tensor.
    public let reason: String

    init(_ code: Code, file: String, tensor: String? = nil, _ reason: String) {
        self.code = code
        self.file = file
        self.tensor = tensor
        self.reason = reason
    }

    public var description: String {
        if let tensor {
            return "\(file): tensor '\(tensor)': \(reason)"
        }
        return "\(file): \(reason)"
    }
}
