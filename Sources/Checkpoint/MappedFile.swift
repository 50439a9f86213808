/// An open, read-only regular file: the one owner of its descriptor, closed in `deinit`.
///
/// Used only during loading (to read headers with `pread` and to create mappings); sources do not keep it, since a
/// mapping stays valid after its descriptor is closed.
final class OpenFile {
    let path: String
    /// The file's size in bytes when it was opened.
    let size: Int
    private let descriptor: Int32

    /// Opens `path`; throws `.fileUnreadable` when it does not exist, cannot be opened, or is not a regular file.
    init(path: String) throws(CheckpointError) {
        self.path = path
        descriptor = try systemOpenReadOnly(path)
        do throws(CheckpointError) {
            let status = try systemFileStatus(descriptor, path: path)
            guard status.isRegular else {
                throw CheckpointError(.fileUnreadable, file: path, "not a regular file")
            }
            size = status.size
        } catch {
            systemClose(descriptor)
            throw error
        }
    }

    deinit { systemClose(descriptor) }

    /// Reads exactly `count` bytes at `offset`; throws `.fileUnreadable` if the file ends first.
    func read(count: Int, at offset: Int) throws(CheckpointError) -> [UInt8] {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: count, alignment: 1)
        defer { buffer.deallocate() }
        var done = 0
        while done < count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[done...])
            let got = try systemPositionalRead(descriptor, into: rest, at: offset + done, path: path)
            guard got > 0 else {
                throw CheckpointError(.fileUnreadable, file: path,
                                      "file ended after \(offset + done) bytes while reading \(count) at \(offset)")
            }
            done += got
        }
        return [UInt8](buffer)
    }

    /// Maps the bytes `range` of the file (read-only, private). The mapping outlives this `OpenFile`.
    func map(_ range: Range<Int>) throws(CheckpointError) -> MappedRegion {
        try MappedRegion(descriptor: descriptor, path: path, fileRange: range)
    }
}

/// A read-only, private memory mapping of part of a file: the one owner of the mapping, unmapped in `deinit`.
///
/// `@unchecked Sendable`: it holds a raw pointer, but the mapping is `PROT_READ` and never changes after `init`, so
/// any number of threads may read through it at once.
final class MappedRegion: @unchecked Sendable {
    /// The bytes of the file this region covers (what was asked for; the mapping itself starts at a page boundary).
    let fileRange: Range<Int>
    private let mappingStart: UnsafeRawPointer   // the address of file offset `mappingOffset`
    private let mappingOffset: Int               // fileRange.lowerBound rounded down to a page
    private let mappingLength: Int

    /// Maps `fileRange`, which must be non-empty and lie inside the file.
    fileprivate init(descriptor: Int32, path: String, fileRange: Range<Int>) throws(CheckpointError) {
        precondition(!fileRange.isEmpty, "empty mappings are not created")
        let page = systemPageSize()
        self.fileRange = fileRange
        mappingOffset = fileRange.lowerBound / page * page
        mappingLength = fileRange.upperBound - mappingOffset
        mappingStart = try systemMapReadOnly(descriptor, offset: mappingOffset, length: mappingLength, path: path)
    }

    deinit { systemUnmap(mappingStart, length: mappingLength) }

    /// The mapped bytes at file offsets `range`, which must lie inside ``fileRange``.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.isEmpty || fileRange.lowerBound <= range.lowerBound && range.upperBound <= fileRange.upperBound,
                     "bytes \(range) outside mapped \(fileRange)")
        return UnsafeRawBufferPointer(start: mappingStart + (range.lowerBound - mappingOffset), count: range.count)
    }
}
