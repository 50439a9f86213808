/// One GGUF file (llama.cpp's format, version 3), memory-mapped read-only, exposing the tensors whose names start
/// with one of some prefixes.
///
/// `init` maps the whole file (`mmap(PROT_READ, MAP_PRIVATE)`; pages are read from disk only when touched), parses
/// the header — metadata of every value type, tensor infos, `general.alignment` (default 32) — and checks every
/// tensor against the file (see `GGUFHeader.swift` for the layout). Tensors outside the prefixes are checked for
/// form but may be of any type; exposed tensors must be F32, F16, BF16 or Q8_0, which reads convert to Float32
/// exactly.
///
/// As a ``TensorSource`` the file uses GGUF's own names and presents shapes in PyTorch order (ggml's `ne`
/// reversed), so a `[out, in]` Linear stored as ne `{in, out}` has shape `[out, in]`; ``tensor(_:)`` gives the
/// stored form (`ne`, ggml type, byte range) of any tensor, exposed or not.
///
/// ```swift
/// let mmproj = try GGUFFile(path: "mmproj-gemma-4-e2b-it-bf16.gguf", prefixes: ["a.", "mm.a."])
/// mmproj.metadata["clip.audio.block_count"]?.integerValue        // 12
/// mmproj.tensor("a.blk.0.attn_q.weight")?.dimensions             // [1024, 1024], ggml ne order
/// let q = try mmproj.floats("a.blk.0.attn_q.weight")             // 1 048 576 Float32
/// ```
public final class GGUFFile: TensorSource {
    /// The path the file was opened with.
    public let path: String
    /// The format version (always 3: others are refused).
    public let version: UInt32
    /// The alignment of tensor data: `general.alignment`, or 32 when the file does not set it.
    public let alignment: Int
    /// The absolute file offset of the data section; tensor offsets count from here.
    public let dataOffset: Int
    /// The file's size in bytes.
    public let fileSize: Int
    /// Every metadata entry, by key.
    public let metadata: [String: GGUFValue]
    /// The metadata keys in file order.
    public let metadataKeys: [String]
    /// Every tensor of the file, exposed or not, in file order.
    public let tensors: [GGUFTensorInfo]
    /// The prefixes a tensor name must start with (one of them) to be exposed.
    public let prefixes: [String]

    private let tensorsByName: [String: GGUFTensorInfo]
    private let exposedNames: [String]
    private let region: MappedRegion?

    /// The four bytes every GGUF file starts with: "GGUF".
    public static let magic: [UInt8] = GGUFHeader.magic

    /// Opens, checks and maps the GGUF file at `path`, exposing the tensors whose names start with one of
    /// `prefixes` (`[""]`, the default, exposes every tensor; `[]` none).
    /// - Throws: ``CheckpointError`` naming the file, and the tensor when one is at fault: `.headerInvalid` for a
    ///   bad magic, an unsupported version, malformed or absurd metadata; `.entryInvalid` for a malformed tensor
    ///   info; `.truncated` when the header or a tensor's data runs past the end of the file; `.duplicateTensor`,
    ///   `.overlappingTensors`; `.unsupportedDType` for an exposed tensor of a type other than F32, F16, BF16 and
    ///   Q8_0 (the message names the type).
    public init(path: String, prefixes: [String] = [""]) throws(CheckpointError) {
        let file = try OpenFile(path: path)
        let region = file.size > 0 ? try file.map(0 ..< file.size) : nil
        let bytes = region?.bytes(0 ..< file.size) ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let header = try GGUFHeader(bytes: bytes, path: path)

        let isExposed = { (name: String) in prefixes.contains { name.hasPrefix($0) } }
        var exposed: [String] = []
        for tensor in header.tensors where isExposed(tensor.name) {
            guard tensor.type.isReadable else {
                throw CheckpointError(.unsupportedDType, file: path, tensor: tensor.name,
                                      "ggml type \(tensor.type) is not supported (only "
                                      + GGMLType.readable.map(\.name).joined(separator: ", ") + " can be read)")
            }
            exposed.append(tensor.name)
        }

        self.path = path
        self.region = region
        fileSize = file.size
        version = header.version
        alignment = header.alignment
        dataOffset = header.dataOffset
        metadataKeys = header.metadata.map(\.key)
        metadata = Dictionary(uniqueKeysWithValues: header.metadata.map { ($0.key, $0.value) })
        tensors = header.tensors
        tensorsByName = Dictionary(uniqueKeysWithValues: header.tensors.map { ($0.name, $0) })
        self.prefixes = prefixes
        exposedNames = exposed.sorted()
    }

    /// The stored description of the tensor called `name`, exposed or not; `nil` when the file has none.
    public func tensor(_ name: String) -> GGUFTensorInfo? { tensorsByName[name] }

    // MARK: TensorSource

    /// The exposed tensors' GGUF names, sorted.
    public var tensorNames: [String] { exposedNames }

    /// The exposed tensor called `name` in PyTorch terms: shape = ne reversed; dtype = the stored type for F32, F16
    /// and BF16. ``TensorDType`` has no Q8_0, so a Q8_0 tensor reports `.f32`, the precision reads produce, and its
    /// `byteCount` is then not its size in the file: use ``tensor(_:)`` for the stored type and byte count.
    public func info(_ name: String) -> TensorInfo? {
        guard let tensor = exposedTensor(name) else { return nil }
        return TensorInfo(name: name, dtype: tensor.type.plainDType ?? .f32, shape: tensor.shape, file: path)
    }

    /// Converts the exposed tensor called `name` to Float32, row-major in PyTorch order (which is ggml's storage
    /// order): F32 is copied bit for bit, F16 and BF16 are widened exactly, Q8_0 is dequantized exactly as ggml does
    /// (each element `Float(q) · Float(scale)`).
    /// - Throws: ``CheckpointError`` `.noSuchTensor` or `.destinationSizeMismatch`.
    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        guard let tensor = exposedTensor(name) else {
            throw CheckpointError(.noSuchTensor, file: path, tensor: name, "no exposed tensor of this name")
        }
        let count = tensor.elementCount
        guard destination.count == count else {
            throw CheckpointError(.destinationSizeMismatch, file: path, tensor: name,
                                  "destination holds \(destination.count) floats, but the tensor has \(count) "
                                  + "elements (ne \(tensor.dimensions))")
        }
        guard count > 0, let range = tensor.fileRange, let region, let target = destination.baseAddress,
              let source = region.bytes(range).baseAddress else { return }
        widen(tensor.type, from: source, into: target, count: count)
    }

    /// The bytes of an exposed F32, F16 or BF16 tensor as stored; `nil` for Q8_0 (reads dequantize it).
    public func storedBytes(_ name: String) -> UnsafeRawBufferPointer? {
        guard let tensor = exposedTensor(name), tensor.type.plainDType != nil, let range = tensor.fileRange,
              let region else { return nil }
        return region.bytes(range)
    }

    private func exposedTensor(_ name: String) -> GGUFTensorInfo? {
        guard let tensor = tensorsByName[name], prefixes.contains(where: { name.hasPrefix($0) }) else { return nil }
        return tensor
    }

    // MARK: Recognising GGUF files

    /// Whether the file at `path` starts with the GGUF magic. `false` when it cannot be read or is shorter.
    public static func startsWithMagic(path: String) -> Bool {
        guard let file = try? OpenFile(path: path), file.size >= 4,
              let head = try? file.read(count: 4, at: 0) else { return false }
        return head == magic
    }
}
