#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only file descriptor with one owner. The corresponding C functions are `open`, `pread` and `close`.
package final class ReadableFile {
    /// The name errors give the file.
    package let path: String
    private let fd: Int32
    /// Bytes in the file when it was opened.
    package let size: Int

    package convenience init(path: String) throws {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw AudioFileError(path: path, "cannot open: \(errnoDescription())") }
        try self.init(descriptor: fd, path: path)
    }

    /// Takes ownership of `descriptor`, a regular file open for reading (closed here, on failure too); `path` names
    /// it in errors.
    package init(descriptor fd: Int32, path: String) throws {
        self.path = path
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let message = errnoDescription()
            close(fd)
            throw AudioFileError(path: path, "cannot stat: \(message)")
        }
        guard (st.st_mode & S_IFMT) != S_IFDIR else {
            close(fd)
            throw AudioFileError(path: path, "is a directory")
        }
        self.fd = fd
        self.size = Int(st.st_size)
    }

    deinit { close(fd) }

    /// Reads up to `count` bytes at `offset`; fewer only at the end of the file.
    package func read(at offset: Int, count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let done = try bytes.withUnsafeMutableBytes { try read(at: offset, into: $0) }
        if done < count { bytes.removeLast(count - done) }
        return bytes
    }

    /// Reads up to `buffer.count` bytes at `offset` into `buffer`, returning how many; fewer only at the end of the
    /// file.
    package func read(at offset: Int, into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw AudioFileError(path: path, "read failed: \(errnoDescription())")
            }
            if n == 0 { break }
            done += n
        }
        return done
    }
}

/// Writes `bytes` to `path` (created or truncated, mode 0644), all or nothing from the caller's view.
func writeFile(path: String, bytes: [UInt8]) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw AudioFileError(path: path, "cannot create: \(errnoDescription())") }
    defer { close(fd) }
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw AudioFileError(path: path, "write failed: \(errnoDescription())")
        }
        done += n
    }
}

func errnoDescription() -> String { String(cString: strerror(errno)) }

/// Checks on a path a command will write to at the end of a long run, made before the run starts.
public enum OutputPath {
    /// Fails, naming the path, if a file cannot be created or replaced at `path`: its directory is missing or not
    /// writable, or `path` is a directory or an existing file that is not writable. Creates nothing.
    public static func checkWritable(_ path: String) throws {
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) != S_IFDIR else { throw AudioFileError(path: path, "is a directory") }
            guard access(path, W_OK) == 0 else {
                throw AudioFileError(path: path, "cannot be written: \(errnoDescription())")
            }
            return
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        let shown = directory.isEmpty ? "/" : directory
        guard stat(shown, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw AudioFileError(path: path, "directory '\(shown)' does not exist")
        }
        guard access(shown, W_OK | X_OK) == 0 else {
            throw AudioFileError(path: path, "directory '\(shown)' is not writable: \(errnoDescription())")
        }
    }
}
