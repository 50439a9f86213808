// libFuzzer target: the libsndfile decoding adapter (AudioFileReader over libsndfile's virtual I/O, the header-log
// truncation check, the end-of-stream frame check, the unsupported-format sniffing) on arbitrary bytes held in
// memory. Compiled into AudioFiles' sources by scripts/fuzz.sh (see Fuzz/README.md); any trap, sanitizer report or
// leak is a finding. libsndfile itself is the system's, not instrumented: its crashes are found, not its silent
// out-of-bounds reads.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let reader = try? AudioFileReader(source: MemoryBytes(bytes, path: "fuzz input")) else { return 0 }
    let channels = reader.info.channels
    precondition(channels > 0 && reader.info.sampleRate > 0, "an open reader with an empty stream description")
    // Odd piece sizes cross codec block boundaries.
    var frames = 0
    while true {
        guard let piece = try? reader.read(maxFrames: 7) else { return 0 }   // a named error ends the stream
        if piece.isEmpty { break }
        precondition(piece.count % channels == 0, "a piece that is not whole frames")
        frames += piece.count / channels
    }
    precondition(frames == reader.framesDelivered, "delivered \(reader.framesDelivered), counted \(frames)")
    return 0
}
