#if canImport(Glibc)
import Glibc
#endif

// libFuzzer target: the GGUF header parser (magic, version, counts, metadata values of every type, nested arrays,
// tensor infos, alignment, data offsets) on arbitrary bytes, then the file as a tensor source (mapping, every
// tensor widened to Float32). Compiled into Checkpoint's sources by scripts/fuzz.sh (see Fuzz/README.md).

/// `GGUFFile` opens paths, so each parsed input also goes through one scratch file of this process,
/// in $TMPDIR (scripts/fuzz.sh points it at the run's own directory, removed afterwards).
private let scratchPath = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
    + "/earshot-fuzz-gguf-\(getpid()).gguf"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    guard let header = try? GGUFHeader(bytes: bytes, path: "fuzz.gguf") else { return 0 }
    for tensor in header.tensors {
        if let range = tensor.fileRange {
            precondition(range.lowerBound >= header.dataOffset && range.upperBound <= size,
                         "tensor '\(tensor.name)' at \(range) outside the \(size)-byte file")
        }
        _ = tensor.elementCount
    }
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { fatalError("cannot create \(scratchPath)") }
    guard write(fd, data, size) == size else { fatalError("cannot write \(scratchPath)") }
    close(fd)
    guard let file = try? GGUFFile(path: scratchPath) else { return 0 }
    for name in file.tensorNames { _ = try? file.floats(name) }
    return 0
}
