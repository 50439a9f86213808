import Checkpoint
import Kernels

/// Binds checkpoint tensors to model fields strictly: every tensor read must exist with exactly the expected shape,
/// and after binding, every tensor under the model's prefixes must have been read. Errors name the source and the
/// tensor.
///
/// A binder can instead make every tensor up: deterministic random weights of any size, for demos and benchmarks
/// when no checkpoint is at hand (see `RandomWeights`).
struct WeightBinder {
    let source: (any TensorSource)?
    let randomSeed: UInt64
    /// Labels errors: the checkpoint's path.
    let sourceName: String
    private(set) var used: Set<String> = []

    init(source: any TensorSource, sourceName: String) {
        self.source = source
        self.randomSeed = 0
        self.sourceName = sourceName
    }

    init(randomSeed: UInt64) {
        source = nil
        self.randomSeed = randomSeed
        sourceName = "random weights (seed \(randomSeed))"
    }

    /// Reads `name` as Float32, checking its shape.
    mutating func tensor(_ name: String, shape: [Int]) throws -> FloatBuffer {
        guard let source else { return RandomWeights.tensor(name, shape: shape, seed: randomSeed) }
        guard let info = source.info(name) else {
            throw ModelError.tensor(sourceName, name, "missing (expected shape \(shape))")
        }
        guard info.shape == shape || (shape == [] && info.shape == [1]) else {
            throw ModelError.tensor(sourceName, name, "shape \(info.shape), expected \(shape)")
        }
        let buffer = FloatBuffer(count: info.elementCount)
        try source.read(name, into: buffer.buffer)
        used.insert(name)
        return buffer
    }

    /// Binds the `(rows, columns)` matrix `name` as the checkpoint stores it: its mapped bytes when they are f32,
    /// bf16 or f16 as they are, else (quantized, random) a float32 copy.
    mutating func matrix(_ name: String, rows: Int, columns: Int) throws -> StoredMatrix {
        if let source, let info = source.info(name), info.shape == [rows, columns],
           let bytes = source.storedBytes(name), bytes.count == info.byteCount, let base = bytes.baseAddress {
            used.insert(name)
            let element: WeightElement = switch info.dtype {
            case .f32: .f32
            case .bf16: .bf16
            case .f16: .f16
            }
            return StoredMatrix(rows: rows, columns: columns, element: element, mappedBytes: base, source: source)
        }
        let floats = try tensor(name, shape: [rows, columns])
        // Random weights are bf16 values (as released checkpoints are): held as bf16, they cost what real ones do.
        if source == nil { return StoredMatrix(bfloat16Of: floats, rows: rows, columns: columns) }
        return StoredMatrix(floats, rows: rows, columns: columns)
    }

    /// Reads a 0-d scalar (a ClippableLinear bound).
    mutating func scalar(_ name: String) throws -> Float {
        try tensor(name, shape: [])[0]
    }

    /// Whether the source holds `name` (for optional tensors).
    func contains(_ name: String) -> Bool { source.map { $0.info(name) != nil } ?? true }

    /// Fails on the first tensor under `prefixes` that binding did not read.
    func requireAllUsed(prefixes: [String]) throws {
        guard let source else { return }
        let unexpected = source.tensorNames.filter { name in
            prefixes.contains { name.hasPrefix($0) } && !used.contains(name)
        }
        if let first = unexpected.first {
            let more = unexpected.count > 1 ? " (and \(unexpected.count - 1) more)" : ""
            throw ModelError.tensor(sourceName, first, "unexpected tensor: not part of a Gemma 4 audio encoder "
                                    + "with this config\(more)")
        }
    }
}
