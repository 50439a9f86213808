#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

// One shim per C call, each retrying EINTR and turning errno into a `CheckpointError` naming the file. This is the
// only file in the module that calls the C library for I/O.

/// The errno of the last failed call, as a `CheckpointError`. The one place errno becomes a Swift error.
private func fileError(_ operation: String, path: String, errno code: Int32) -> CheckpointError {
    let message = String(cString: strerror(code))
    return CheckpointError(.fileUnreadable, file: path, "\(operation) failed: \(message) (errno \(code))")
}

/// Runs `body` until it returns something other than -1 with `errno == EINTR`.
private func retryingInterrupts<T: BinaryInteger>(
    _ operation: String, path: String, _ body: () -> T
) throws(CheckpointError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let code = errno
        if code == EINTR { continue }
        throw fileError(operation, path: path, errno: code)
    }
}

/// Opens `path` read-only. The corresponding C function is `open`.
func systemOpenReadOnly(_ path: String) throws(CheckpointError) -> Int32 {
    try retryingInterrupts("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
}

/// Closes `descriptor`, ignoring failure (nothing useful can be done about it on a read-only file).
/// The corresponding C function is `close`. It is not retried: on Linux the descriptor is gone even after EINTR.
func systemClose(_ descriptor: Int32) {
    _ = close(descriptor)
}

/// The size of the open file in bytes, and whether it is a regular file. The corresponding C function is `fstat`.
func systemFileStatus(_ descriptor: Int32, path: String) throws(CheckpointError) -> (size: Int, isRegular: Bool) {
    var status = stat()
    _ = try retryingInterrupts("fstat", path: path) { fstat(descriptor, &status) }
    return (Int(status.st_size), (status.st_mode & S_IFMT) == S_IFREG)
}

/// Reads up to `buffer.count` bytes at `offset`. The corresponding C function is `pread`.
func systemPositionalRead(
    _ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int, path: String
) throws(CheckpointError) -> Int {
    try retryingInterrupts("pread", path: path) {
        pread(descriptor, buffer.baseAddress, buffer.count, off_t(offset))
    }
}

/// Maps `length` bytes of the file at `offset` (a multiple of the page size) read-only and copy-on-write.
/// The corresponding C function is `mmap` with `PROT_READ` and `MAP_PRIVATE`.
func systemMapReadOnly(
    _ descriptor: Int32, offset: Int, length: Int, path: String
) throws(CheckpointError) -> UnsafeRawPointer {
    let address = mmap(nil, length, PROT_READ, MAP_PRIVATE, descriptor, off_t(offset))
    guard let address, address != MAP_FAILED else {
        throw fileError("mmap of \(length) bytes at offset \(offset)", path: path, errno: errno)
    }
    return UnsafeRawPointer(address)
}

/// Unmaps a region that `systemMapReadOnly` returned. The corresponding C function is `munmap`.
func systemUnmap(_ address: UnsafeRawPointer, length: Int) {
    _ = munmap(UnsafeMutableRawPointer(mutating: address), length)
}

/// The virtual memory page size. The corresponding C function is `sysconf(_SC_PAGESIZE)`.
func systemPageSize() -> Int {
    Int(sysconf(Int32(_SC_PAGESIZE)))
}
