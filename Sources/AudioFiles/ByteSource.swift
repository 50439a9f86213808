import AudioCore

/// Random-access bytes a decoder reads: a file on disk (``ReadableFile``), or a buffer in memory (``MemoryBytes``,
/// for the fuzzer and tests).
package protocol ByteSource: AnyObject {
    /// The name errors give the bytes (a path, or "standard input").
    var path: String { get }
    /// How many bytes there are.
    var size: Int { get }
    /// Reads up to `buffer.count` bytes at `offset` into `buffer`, returning how many; fewer only at the end.
    func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension ReadableFile: ByteSource {}

/// Bytes held in memory, read as a file.
package final class MemoryBytes: ByteSource {
    package let path: String
    private let bytes: [UInt8]

    package init(_ bytes: [UInt8], path: String) {
        self.bytes = bytes
        self.path = path
    }

    package var size: Int { bytes.count }

    package func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard offset >= 0, offset < bytes.count else { return 0 }
        let count = min(buffer.count, bytes.count - offset)
        bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + count])) }
        return count
    }
}
