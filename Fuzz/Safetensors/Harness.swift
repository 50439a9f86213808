#if canImport(Glibc)
import Glibc
#endif

// libFuzzer target: the safetensors header parser (length prefix, JSON, every entry's shape, dtype and offsets,
// overlaps) on arbitrary bytes. Compiled into Checkpoint's sources by scripts/fuzz.sh (see Fuzz/README.md).

/// The parser reads an open file, so each input goes through one scratch file of this process,
/// in $TMPDIR (scripts/fuzz.sh points it at the run's own directory, removed afterwards).
private let scratchPath = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
    + "/earshot-fuzz-safetensors-\(getpid()).safetensors"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { fatalError("cannot create \(scratchPath)") }
    guard write(fd, data, size) == size else { fatalError("cannot write \(scratchPath)") }
    close(fd)
    guard let file = try? OpenFile(path: scratchPath), let header = try? SafetensorsHeader(reading: file) else {
        return 0
    }
    for entry in header.entries {
        precondition(entry.fileRange.lowerBound >= 0 && entry.fileRange.upperBound <= size,
                     "entry '\(entry.name)' at \(entry.fileRange) outside the \(size)-byte file")
        _ = try? entry.tensorInfo(file: scratchPath)
    }
    // The public path too: mapping, and reading every readable tensor as Float32.
    guard let safetensors = try? SafetensorsFile(path: scratchPath) else { return 0 }
    for name in safetensors.tensorNames { _ = try? safetensors.floats(name) }
    return 0
}
