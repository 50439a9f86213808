/// The element types this module can read. A tensor of any other safetensors dtype (I64, F64, U8, F8_E4M3, …)
/// is rejected with a ``CheckpointError`` naming the tensor and the dtype when a source would expose it.
public enum TensorDType: String, Sendable, Hashable, CaseIterable {
    /// IEEE 754 binary32.
    case f32 = "F32"
    /// IEEE 754 binary16.
    case f16 = "F16"
    /// bfloat16: the high 16 bits of a binary32.
    case bf16 = "BF16"

    /// The size of one element in bytes.
    public var byteWidth: Int {
        switch self {
        case .f32: 4
        case .f16, .bf16: 2
        }
    }
}

/// What a source knows about one tensor, from the file header alone.
public struct TensorInfo: Sendable, Hashable {
    /// The full checkpoint key, e.g. `model.audio_tower.layers.0.self_attn.q_proj.linear.weight`.
    public let name: String
    /// The element type stored in the file (reads always produce Float32).
    public let dtype: TensorDType
    /// The dimensions, outermost first (PyTorch order); `[]` for a 0-d scalar.
    public let shape: [Int]
    /// The path of the file that holds the tensor.
    public let file: String

    /// Creates a description of a tensor.
    public init(name: String, dtype: TensorDType, shape: [Int], file: String) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.file = file
    }

    /// The number of elements: the product of ``shape`` (1 for a 0-d scalar, 0 if any dimension is 0).
    public var elementCount: Int { shape.reduce(1, *) }

    /// The number of bytes the tensor occupies in its file.
    public var byteCount: Int { elementCount * dtype.byteWidth }
}

/// A set of named tensors that can be read as Float32.
///
/// ``SafetensorsFile`` (one file) and ``HFCheckpointDirectory`` (a model directory, optionally sharded) conform;
/// a GGUF reader can conform later. Sources are immutable after `init` and safe to read from any thread.
/// Everything that can be wrong with a checkpoint is found in `init`; a read fails only for a name that is not
/// exposed or a destination of the wrong size.
public protocol TensorSource: AnyObject, Sendable {
    /// The names of every tensor the source exposes, sorted.
    var tensorNames: [String] { get }

    /// The description of the tensor called `name`, or `nil` when the source does not expose it.
    func info(_ name: String) -> TensorInfo?

    /// Converts the tensor called `name` to Float32 into `destination`, whose count must equal its `elementCount`.
    ///
    /// F32 is copied bit for bit; BF16 and F16 are widened exactly (every BF16 and F16 value, including
    /// subnormals, infinities and NaNs, has an exact Float32 equivalent). Elements are in row-major order.
    /// - Throws: ``CheckpointError`` `.noSuchTensor` or `.destinationSizeMismatch`.
    func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws

    /// The tensor's elements as stored — `info(name).dtype`, row-major, little-endian, at any alignment — when the
    /// source holds them in a ``TensorDType`` as they are; `nil` when the source converts them (a quantized GGUF
    /// tensor, a value the source rewrites) or has no such tensor. The bytes live as long as the source.
    func storedBytes(_ name: String) -> UnsafeRawBufferPointer?
}

extension TensorSource {
    /// No stored bytes: every read converts.
    public func storedBytes(_ name: String) -> UnsafeRawBufferPointer? { nil }
}

extension TensorSource {
    /// The tensor called `name` as a new array of Float32, in row-major order. See ``read(_:into:)``.
    public func floats(_ name: String) throws -> [Float] {
        // For an unknown name the count is 0 and `read` throws the source's own `.noSuchTensor` error.
        let count = info(name)?.elementCount ?? 0
        return try [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            try read(name, into: buffer)
            initialized = count
        }
    }
}
