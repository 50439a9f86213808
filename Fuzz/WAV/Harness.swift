#if canImport(Glibc)
import Glibc
#endif

// libFuzzer target: the WAV reader (header parser and sample decoder) on arbitrary bytes. Compiled into AudioCore's
// sources by scripts/fuzz.sh (see Fuzz/README.md); any trap, sanitizer report or leak is a finding.

/// The reader opens paths, so each input goes through one scratch file of this process,
/// in $TMPDIR (scripts/fuzz.sh points it at the run's own directory, removed afterwards).
private let scratchPath = (getenv("TMPDIR").map { String(cString: $0) } ?? "/tmp")
    + "/earshot-fuzz-wav-\(getpid()).wav"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let fd = open(scratchPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    guard fd >= 0 else { fatalError("cannot create \(scratchPath)") }
    guard write(fd, data, size) == size else { fatalError("cannot write \(scratchPath)") }
    close(fd)
    guard let reader = try? WAVReader(path: scratchPath) else { return 0 }
    // Odd piece sizes cross frame boundaries; a well-formed header must give exactly the frames it announced.
    var frames = 0
    while let piece = try? reader.read(maxFrames: 7), !piece.isEmpty {
        precondition(piece.count % reader.info.channels == 0, "a piece that is not whole frames")
        frames += piece.count / reader.info.channels
    }
    precondition(frames == reader.info.frameCount, "read \(frames) frames of \(reader.info.frameCount)")
    return 0
}
