#if canImport(Glibc)
import Glibc
#endif
import AudioCore

/// `--input -`: standard input, spooled to an unnamed temporary file before it is decoded.
///
/// libsndfile seeks in most formats (to find chunks, the last Ogg page, the FLAC seek table), and a pipe cannot
/// seek; so the stream is copied, 1 MB at a time, to a temporary file in `$TMPDIR` (else `/tmp`) that is unlinked
/// as soon as it is made: memory stays bounded at any length, the disk holds the stream until the reader is
/// dropped, and nothing is left behind on any exit. Decoding starts once standard input ends.
enum StandardInput {
    /// The name errors give standard input.
    static let name = "standard input"

    /// Copies descriptor `input` (standard input unless a test passes a pipe) to the end into an anonymous file.
    static func spool(from input: Int32 = STDIN_FILENO) throws -> ReadableFile {
        let directory = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array("\(directory)/earshot-stdin-XXXXXX".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw AudioFileError(path: name, "cannot make a temporary file in \(directory) to hold the stream: "
                                 + String(cString: strerror(errno)))
        }
        unlink(template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) })
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        do {
            try copy(from: input, to: fd, directory: directory)
        } catch {
            close(fd)
            throw error
        }
        return try ReadableFile(descriptor: fd, path: name)   // owns fd from here on
    }

    private static func copy(from input: Int32, to output: Int32, directory: String) throws {
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw AudioFileError(path: name, "read failed: \(String(cString: strerror(errno)))")
            }
            if count == 0 { return }
            var done = 0
            while done < count {
                let n = buffer.withUnsafeBytes { write(output, $0.baseAddress! + done, count - done) }
                if n < 0 {
                    if errno == EINTR { continue }
                    throw AudioFileError(path: name,
                                         "cannot spool to \(directory): \(String(cString: strerror(errno)))")
                }
                done += n
            }
        }
    }
}
