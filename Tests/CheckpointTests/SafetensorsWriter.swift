import Foundation

// A deliberately tiny safetensors writer, written from the format description alone and sharing no code with the
// module under test: headers are built as JSON text by hand (so tests can also write malformed ones), and element
// bytes are built little-endian from bit patterns written out in the tests.

/// One tensor to write. `offsets` overrides the computed data_offsets (to write malformed files).
struct TestTensor {
    var name: String
    var dtype: String
    var shape: [Int]
    var data: [UInt8]
    var offsets: (Int, Int)? = nil
}

/// Little-endian bytes of 16-bit patterns.
func bytes16(_ values: [UInt16]) -> [UInt8] {
    values.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
}

/// Little-endian bytes of 32-bit patterns.
func bytes32(_ values: [UInt32]) -> [UInt8] {
    values.flatMap { v in (0 ..< 4).map { UInt8((v >> (8 * $0)) & 0xFF) } }
}

/// Little-endian bytes of Float32 values.
func bytesF32(_ values: [Float]) -> [UInt8] { bytes32(values.map(\.bitPattern)) }

/// The header JSON for `tensors` laid out back to back (with `gap` unused bytes before each), plus the data.
func layout(_ tensors: [TestTensor], metadata: [String: String]? = nil, gap: Int = 0) -> (header: String, data: [UInt8]) {
    var entries: [String] = []
    if let metadata {
        let pairs = metadata.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\"\($0.value)\"" }
        entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var data: [UInt8] = []
    for tensor in tensors {
        data += [UInt8](repeating: 0xEE, count: gap)
        let begin = data.count
        data += tensor.data
        let (b, e) = tensor.offsets ?? (begin, data.count)
        let shape = tensor.shape.map(String.init).joined(separator: ",")
        entries.append("\"\(tensor.name)\":{\"dtype\":\"\(tensor.dtype)\",\"shape\":[\(shape)],\"data_offsets\":[\(b),\(e)]}")
    }
    return ("{" + entries.joined(separator: ",") + "}", data)
}

/// A complete file: 8-byte little-endian header length, header (space-padded to a multiple of 8 when `pad`), data.
func fileBytes(header: String, data: [UInt8], pad: Bool = true) -> [UInt8] {
    var headerBytes = Array(header.utf8)
    if pad {
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }
    }
    return fileBytes(headerLength: UInt64(headerBytes.count), rest: headerBytes + data)
}

/// A file with an arbitrary (possibly lying) header length followed by `rest`.
func fileBytes(headerLength: UInt64, rest: [UInt8]) -> [UInt8] {
    (0 ..< 8).map { UInt8((headerLength >> (8 * UInt64($0))) & 0xFF) } + rest
}

/// A fresh directory under the system temporary directory. Remove it with `defer { dir.remove() }`: scope exit is
/// guaranteed, whereas a class `deinit` may run right after the last use, before the files are read.
struct TemporaryDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("checkpoint-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Writes `bytes` to `name` inside the directory and returns the file's path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let file = path + "/" + name
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        return file
    }

    @discardableResult
    func write(_ name: String, text: String) throws -> String { try write(name, Array(text.utf8)) }

    /// Writes a safetensors file holding `tensors` and returns its path.
    @discardableResult
    func writeSafetensors(_ name: String, _ tensors: [TestTensor], metadata: [String: String]? = nil,
                          gap: Int = 0, pad: Bool = true) throws -> String {
        let (header, data) = layout(tensors, metadata: metadata, gap: gap)
        return try write(name, fileBytes(header: header, data: data, pad: pad))
    }
}
