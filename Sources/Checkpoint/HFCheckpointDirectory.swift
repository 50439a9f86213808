import Foundation

/// A Hugging Face model directory as released, exposing only the tensors under some name prefixes.
///
/// The directory holds `config.json` and either one `model.safetensors` or shards named by
/// `model.safetensors.index.json`:
/// `{"metadata": {...}, "weight_map": {"<tensor>": "model-00001-of-00002.safetensors", ...}}`.
/// When both exist, `model.safetensors` is used, as `transformers` does.
///
/// A real Gemma 4 checkpoint is about 10 GB, nearly all of it the text model, so loading reads only headers: each
/// file's header is read with `pread` and checked in full (a malformed file is refused even when none of its tensors
/// is wanted), the index and the shards must agree exactly, and then only the shards that hold wanted tensors are
/// mapped, each over just the byte range spanning its wanted tensors. No tensor data is read until ``read(_:into:)``.
///
/// ```swift
/// let checkpoint = try HFCheckpointDirectory(path: "/models/gemma-4-e2b-it",
///                                            prefixes: ["model.audio_tower.", "model.embed_audio."])
/// ```
public final class HFCheckpointDirectory: TensorSource {
    /// The directory path as given.
    public let directory: String
    /// The raw bytes of `config.json`; the model module decodes the parts it needs.
    public let configData: Data
    /// The prefixes a tensor name must start with (one of them) to be exposed.
    public let prefixes: [String]
    private let table: TensorTable

    /// Name of the single-file checkpoint inside a model directory.
    public static let singleFileName = "model.safetensors"
    /// Name of the shard index inside a sharded model directory.
    public static let indexFileName = "model.safetensors.index.json"
    /// Name of the model configuration inside a model directory.
    public static let configFileName = "config.json"

    /// Opens the model directory at `path`, exposing the tensors whose names start with one of `prefixes`.
    ///
    /// Pass `[""]` to expose every tensor; `[]` exposes none. Tensors outside the prefixes are checked for form
    /// (shape, offsets, bounds) but never mapped, and their dtype may be one this module cannot read.
    /// - Throws: ``CheckpointError`` naming the file (and the tensor, when one is at fault).
    public init(path: String, prefixes: [String]) throws(CheckpointError) {
        directory = path
        self.prefixes = prefixes
        let isWanted = { (name: String) in prefixes.contains { name.hasPrefix($0) } }
        let configPath = Self.join(path, Self.configFileName)
        guard Self.fileExists(configPath) else {
            throw CheckpointError(.configMissing, file: configPath, "the model directory has no \(Self.configFileName)")
        }
        let config = try OpenFile(path: configPath)
        configData = Data(try config.read(count: config.size, at: 0))

        let singlePath = Self.join(path, Self.singleFileName)
        let indexPath = Self.join(path, Self.indexFileName)
        var stored: [StoredTensor]
        if Self.fileExists(singlePath) {
            let file = try OpenFile(path: singlePath)
            stored = try storedTensors(of: try SafetensorsHeader(reading: file), in: file, where: isWanted)
        } else if Self.fileExists(indexPath) {
            stored = try Self.loadShards(indexPath: indexPath, directory: path, where: isWanted)
        } else {
            throw CheckpointError(.noWeights, file: path,
                                  "the directory has neither \(Self.singleFileName) nor \(Self.indexFileName)")
        }
        table = TensorTable(stored, sourcePath: path)
    }

    public var tensorNames: [String] { table.names }

    public func info(_ name: String) -> TensorInfo? { table.info(name) }

    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try table.read(name, into: destination)
    }

    public func storedBytes(_ name: String) -> UnsafeRawBufferPointer? { table.storedBytes(name) }

    /// The mapped byte range of each mapped file; files holding no wanted tensor are absent.
    package var mappedRanges: [String: Range<Int>] { table.mappedRanges }

    // MARK: - Loading

    /// Reads the index, checks every shard it names against it, and maps what is wanted.
    private static func loadShards(indexPath: String, directory: String,
                                   where isWanted: (String) -> Bool) throws(CheckpointError) -> [StoredTensor] {
        let weightMap = try readWeightMap(indexPath)
        let shardNames = Set(weightMap.values).sorted()
        var shardOfTensor: [String: String] = [:]   // tensor name → shard path, over every shard's header
        var shards: [(file: OpenFile, header: SafetensorsHeader)] = []
        for shardName in shardNames {
            let shardPath = join(directory, shardName)
            guard fileExists(shardPath) else {
                let example = weightMap.filter { $0.value == shardName }.keys.min() ?? ""
                throw CheckpointError(.shardMissing, file: indexPath, tensor: example,
                                      "the index maps this tensor to \(shardPath), which does not exist")
            }
            let file = try OpenFile(path: shardPath)
            let header = try SafetensorsHeader(reading: file)
            for entry in header.entries {
                if let other = shardOfTensor[entry.name] {
                    throw CheckpointError(.duplicateTensor, file: shardPath, tensor: entry.name,
                                          "the tensor is also in \(other)")
                }
                shardOfTensor[entry.name] = shardPath
                guard weightMap[entry.name] == shardName else {
                    throw CheckpointError(.indexShardMismatch, file: shardPath, tensor: entry.name,
                                          weightMap[entry.name].map { "\(indexPath) maps the tensor to \($0)" }
                                          ?? "\(indexPath) does not list the tensor")
                }
            }
            shards.append((file, header))
        }
        for (name, shardName) in weightMap.sorted(by: { $0.key < $1.key }) where shardOfTensor[name] == nil {
            throw CheckpointError(.indexShardMismatch, file: join(directory, shardName), tensor: name,
                                  "\(indexPath) maps the tensor to this shard, which does not contain it")
        }
        var stored: [StoredTensor] = []
        for (file, header) in shards {
            stored += try storedTensors(of: header, in: file, where: isWanted)
        }
        return stored
    }

    /// The `weight_map` of an index file: tensor name → shard file name.
    private static func readWeightMap(_ indexPath: String) throws(CheckpointError) -> [String: String] {
        struct Index: Decodable {
            let weightMap: [String: String]
            enum CodingKeys: String, CodingKey { case weightMap = "weight_map" }
        }
        let file = try OpenFile(path: indexPath)
        let bytes = try file.read(count: file.size, at: 0)
        do {
            return try JSONDecoder().decode(Index.self, from: Data(bytes)).weightMap
        } catch {
            throw CheckpointError(.indexInvalid, file: indexPath,
                                  "not a JSON object with a \"weight_map\" of tensor names to shard file names")
        }
    }

    private static func join(_ directory: String, _ name: String) -> String {
        directory.hasSuffix("/") ? directory + name : directory + "/" + name
    }

    /// Whether `path` names something (a file, or anything else: `OpenFile` then says what is wrong with it).
    private static func fileExists(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path)
    }
}
