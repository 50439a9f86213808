import Checkpoint
import Foundation

/// What `earshot inspect` reports about a model path, from headers and metadata alone (no weight is converted).
public struct Gemma4AudioCheckpointSummary: Sendable {
    /// "Hugging Face safetensors …" or "GGUF v3 mmproj …".
    public let format: String
    /// The path as given.
    public let path: String
    public let configuration: Gemma4AudioConfiguration
    /// Audio tensors (encoder and embedder), clamp scalars included.
    public let tensorCount: Int
    /// How many audio tensors are stored in each type, by type name ("F32", "BF16", "Q8_0", …).
    public let storedTypes: [String: Int]
    /// Parameters of the audio tensors, clamp scalars excluded (as ``Gemma4AudioModel/parameterCount`` counts).
    public let parameterCount: Int
    /// Clamp scalars (4 per ClippableLinear when clipped linears are on).
    public let clampCount: Int
    /// The bytes the audio tensors take on disk, as stored.
    public let storedBytes: Int
    /// Tensors of the file that are not part of the audio path (GGUF vision tensors); `nil` when not counted.
    public let skippedTensorCount: Int?

    /// Reads the headers of the model at `path`: an mmproj GGUF, a Hugging Face model directory, or its
    /// `config.json` / a `.safetensors` file in one.
    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw ModelError.noSuchFile(path: path)
        }
        self.path = path
        var clamps = 0, parameters = 0, bytes = 0
        var types: [String: Int] = [:]
        func isClamp(_ name: String) -> Bool { GGUFNames.clampSuffixes.contains { name.hasSuffix("." + $0) } }
        if Gemma4AudioModel.isGGUF(path: path) {
            let checkpoint = try Gemma4GGUFCheckpoint(path: path)
            configuration = checkpoint.configuration
            tensorCount = checkpoint.tensorNames.count
            for name in checkpoint.file.tensorNames {
                let stored = checkpoint.file.tensor(name)!
                types[stored.type.name, default: 0] += 1
                bytes += stored.byteCount ?? 0
                if isClamp(name) { clamps += 1 } else { parameters += stored.elementCount }
            }
            skippedTensorCount = checkpoint.skippedTensorCount
            let vision = checkpoint.file.metadata["clip.has_vision_encoder"]?.boolValue == true ? ", with vision" : ""
            format = "GGUF v\(checkpoint.file.version) mmproj (clip, gemma4a\(vision); alignment "
                + "\(checkpoint.file.alignment))"
        } else {
            var directory = path
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                directory = (path as NSString).deletingLastPathComponent
            }
            let checkpoint = try HFCheckpointDirectory(path: directory, prefixes: Gemma4AudioWeights.prefixes)
            configuration = try Gemma4AudioConfiguration(configJSON: checkpoint.configData,
                                                         path: directory + "/config.json")
            tensorCount = checkpoint.tensorNames.count
            var files: Set<String> = []
            for name in checkpoint.tensorNames {
                let info = checkpoint.info(name)!
                types[info.dtype.rawValue, default: 0] += 1
                bytes += info.byteCount
                files.insert(info.file)
                if isClamp(name) { clamps += 1 } else { parameters += info.elementCount }
            }
            skippedTensorCount = nil
            format = files.count > 1 ? "Hugging Face safetensors (\(files.count) shards)"
                                     : "Hugging Face safetensors (single file)"
        }
        storedTypes = types
        parameterCount = parameters
        clampCount = clamps
        storedBytes = bytes
    }
}

// MARK: - Fingerprint (earshot inspect)

extension Gemma4AudioCheckpointSummary {
    /// Hands `update` the bytes that `earshot inspect`'s fingerprint hashes, for the model at `path` (a Hugging Face
    /// model directory, a file in one, or an mmproj GGUF): for every audio tensor, in byte order of the names, the
    /// line `name dtype shape\n` (shape as `a×b`, dtype as stored: F32, BF16, Q8_0 …), then the tensor's bytes as
    /// stored (a Q8_0 tensor: its values read as little-endian binary32, since its blocks are not exposed).
    ///
    /// So the same tensors give the same fingerprint however a checkpoint is sharded, while another dtype, another
    /// format (a GGUF names and lays out tensors its own way) or any changed weight gives another.
    public static func fingerprintInput(path: String, _ update: (UnsafeRawBufferPointer) -> Void) throws {
        guard FileManager.default.fileExists(atPath: path) else { throw ModelError.noSuchFile(path: path) }
        func header(_ name: String, _ type: String, _ shape: [Int]) {
            var line = "\(name) \(type) \(shape.map(String.init).joined(separator: "×"))\n"
            line.withUTF8 { update(UnsafeRawBufferPointer($0)) }
        }
        if Gemma4AudioModel.isGGUF(path: path) {
            let file = try Gemma4GGUFCheckpoint(path: path).file
            for name in file.tensorNames.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                let tensor = file.tensor(name)!
                header(name, tensor.type.name, tensor.shape)
                if let bytes = file.storedBytes(name) {
                    update(bytes)
                } else {
                    var values = [Float](repeating: 0, count: tensor.elementCount)
                    try values.withUnsafeMutableBufferPointer { try file.read(name, into: $0) }
                    values.withUnsafeBytes { update($0) }   // little-endian on every platform Earshot runs on
                }
            }
            return
        }
        var directory = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
            directory = (path as NSString).deletingLastPathComponent
        }
        let checkpoint = try HFCheckpointDirectory(path: directory, prefixes: Gemma4AudioWeights.prefixes)
        for name in checkpoint.tensorNames.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let info = checkpoint.info(name)!
            header(name, info.dtype.rawValue, info.shape)
            if let bytes = checkpoint.storedBytes(name) { update(bytes) }
        }
    }
}
