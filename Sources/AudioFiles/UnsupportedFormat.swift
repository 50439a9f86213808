import AudioCore

/// Containers people hold that libsndfile does not read, told apart by their first bytes, so that the error can
/// say what the file is and how to convert it.
enum UnsupportedFormat {
    /// The command the errors suggest.
    static let conversionExample = "ffmpeg -i IN -ac 1 -ar 16000 OUT.flac"

    /// What the first bytes of `source` say it is, e.g. "an MP4/M4A file (AAC or ALAC audio, or video)"; `nil` when
    /// they match nothing known.
    static func identify(_ source: any ByteSource) -> String? {
        var head = [UInt8](repeating: 0, count: 16)
        guard let count = try? head.withUnsafeMutableBytes({ try source.read(at: 0, into: $0) }) else { return nil }
        return identify(Array(head[0..<count]))
    }

    static func identify(_ head: [UInt8]) -> String? {
        func ascii(_ range: Range<Int>) -> String? {
            head.count >= range.upperBound ? String(decoding: head[range], as: UTF8.self) : nil
        }
        if ascii(4..<8) == "ftyp" { return "an MP4/M4A/MOV file (AAC or ALAC audio, or video)" }
        if head.starts(with: [0x1A, 0x45, 0xDF, 0xA3]) { return "a Matroska/WebM file" }
        if ascii(0..<4) == "RIFF", ascii(8..<12) == "AVI " { return "an AVI video" }
        if ascii(0..<4) == "RIFF", ascii(8..<12) == "WAVE" {
            return "a WAV file in an encoding libsndfile cannot decode"
        }
        if head.starts(with: [0x30, 0x26, 0xB2, 0x75]) { return "an ASF file (WMA or WMV)" }
        if head.count >= 2, head[0] == 0xFF, head[1] & 0xF6 == 0xF0 { return "raw AAC (ADTS)" }
        if head.starts(with: [0x0B, 0x77]) { return "AC-3 audio" }
        if ascii(0..<5) == "#!AMR" { return "AMR audio" }
        if ascii(0..<4) == "OggS" { return "an Ogg stream that holds neither Vorbis, Opus nor FLAC" }
        return nil
    }
}
