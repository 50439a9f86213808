/// One safetensors file, memory-mapped read-only, exposing every tensor in it.
///
/// `init` reads the header with `pread`, checks every entry against the file (see ``CheckpointError/Code``), then
/// maps the tensor data with `mmap(PROT_READ, MAP_PRIVATE)`; the mapping is this object's alone and is unmapped in
/// `deinit`. Pages are read from disk only when a tensor is read. Every tensor must be F32, F16 or BF16.
///
/// ```swift
/// let file = try SafetensorsFile(path: "model.safetensors")
/// let bias = try file.floats("model.audio_tower.output_proj.bias")   // [Float], 1536 elements
/// ```
public final class SafetensorsFile: TensorSource {
    /// The path the file was opened with.
    public let path: String
    /// The header's `__metadata__` entry (e.g. `["format": "pt"]`), or empty when there is none.
    public let metadata: [String: String]
    private let table: TensorTable

    /// Opens, checks and maps the file at `path`.
    /// - Throws: ``CheckpointError`` naming the file, and the tensor when one entry is at fault.
    public init(path: String) throws(CheckpointError) {
        let file = try OpenFile(path: path)
        let header = try SafetensorsHeader(reading: file)
        self.path = path
        metadata = header.metadata
        table = TensorTable(try storedTensors(of: header, in: file, where: { _ in true }), sourcePath: path)
    }

    public var tensorNames: [String] { table.names }

    public func info(_ name: String) -> TensorInfo? { table.info(name) }

    public func read(_ name: String, into destination: UnsafeMutableBufferPointer<Float>) throws {
        try table.read(name, into: destination)
    }

    public func storedBytes(_ name: String) -> UnsafeRawBufferPointer? { table.storedBytes(name) }

    /// The byte range of the file that is mapped, or `nil` when nothing is (no tensor has any bytes).
    package var mappedRange: Range<Int>? { table.mappedRanges[path] }
}
