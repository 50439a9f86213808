import Testing

/// An audio format the tests make from a committed WAV with an independent encoder, and decode with an
/// independent decoder for reference.
struct MadeFormat: CustomTestStringConvertible, Sendable {
    enum Reference: String, Sendable {
        /// sox's own decoders (its WAV, AIFF and FLAC handlers are not libsndfile).
        case sox
        /// ffmpeg's own demuxers and decoders, to 16 kHz where the codec decodes at 48 kHz (Opus).
        case ffmpeg
    }

    let name: String
    /// The file name extension (the tools pick the container from it).
    let fileExtension: String
    /// The encoder's command: input WAV, output file.
    let make: @Sendable (_ input: String, _ output: String) throws -> Void
    let encoder: String
    let reference: Reference
    /// Whether the decoded samples equal the reference's exactly (lossless), or only to a tolerance (lossy).
    let lossless: Bool

    var tools: [String] { [encoder, reference.rawValue] }
    var testDescription: String { name }

    static func sox(_ name: String, _ ext: String, _ options: [String]) -> MadeFormat {
        MadeFormat(name: name, fileExtension: ext, make: { input, output in
            try Tool.run("sox", [input] + options + [output])
        }, encoder: "sox", reference: .sox, lossless: true)
    }

    static func ffmpeg(_ name: String, _ ext: String, _ options: [String]) -> MadeFormat {
        MadeFormat(name: name, fileExtension: ext, make: { input, output in
            try Tool.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", input] + options + [output])
        }, encoder: "ffmpeg", reference: .ffmpeg, lossless: true)
    }

    /// Lossless: the decoded samples equal the reference decoder's, bit for bit. (sox writes and reads CAF, W64 and
    /// RF64 through libsndfile itself, so those are made and decoded by ffmpeg.)
    static let lossless: [MadeFormat] = [
        MadeFormat(name: "FLAC", fileExtension: "flac", make: { input, output in
            try Tool.run("flac", ["--silent", "--force", "-o", output, input])
        }, encoder: "flac", reference: .sox, lossless: true),
        .sox("WAV A-law", "wav", ["-e", "a-law"]),
        .sox("WAV µ-law", "wav", ["-e", "u-law"]),
        .sox("WAV IMA ADPCM", "wav", ["-e", "ima-adpcm"]),
        .sox("WAV MS ADPCM", "wav", ["-e", "ms-adpcm"]),
        .sox("WAV float32", "wav", ["-e", "floating-point", "-b", "32"]),
        .sox("AIFF", "aiff", []),
        .ffmpeg("W64", "w64", ["-f", "w64"]),
        .ffmpeg("CAF", "caf", []),
        .ffmpeg("RF64", "wav", ["-rf64", "always", "-f", "wav"]),
    ]

    /// Lossy: compared with ffmpeg's decode to the tolerances in ``LossyTolerance``.
    static let lossy: [MadeFormat] = [
        MadeFormat(name: "MP3", fileExtension: "mp3", make: { input, output in
            try Tool.run("lame", ["--quiet", input, output])
        }, encoder: "lame", reference: .ffmpeg, lossless: false),
        MadeFormat(name: "Ogg Vorbis", fileExtension: "ogg", make: { input, output in
            try Tool.run("oggenc", ["--quiet", "-o", output, input])
        }, encoder: "oggenc", reference: .ffmpeg, lossless: false),
        MadeFormat(name: "Opus", fileExtension: "opus", make: { input, output in
            try Tool.run("opusenc", ["--quiet", "--bitrate", "32", input, output])
        }, encoder: "opusenc", reference: .ffmpeg, lossless: false),
    ]

    static let all = lossless + lossy

    /// Makes this format from `source` in `scratch`.
    func made(from source: String, in scratch: Scratch, name stem: String = "made") throws -> String {
        let path = scratch.file("\(stem).\(fileExtension)")
        try make(source, path)
        return path
    }

    /// The reference decoder's samples of `path` at `rate`, as a float32 WAV read back (interleaved).
    func referenceSamples(_ path: String, rate: Int, in scratch: Scratch) throws -> [Float] {
        let output = scratch.file("reference-\(path.hashValue).wav")
        switch reference {
        case .sox:
            try Tool.run("sox", [path, "-e", "floating-point", "-b", "32", output])
        case .ffmpeg:
            try Tool.run("ffmpeg", ["-nostdin", "-loglevel", "error", "-y", "-i", path, "-ar", String(rate),
                                    "-c:a", "pcm_f32le", output])
        }
        return try WAV.read(path: output).samples
    }
}

/// What lossy decoders are held to against ffmpeg's decode of the same file (measured on the speech fixture with
/// Debian 12's libsndfile 1.2.0 / libmpg123 1.31 / libvorbis 1.3.7 / libopus 1.3.1 and ffmpeg 5.1; docs/capture.md):
/// - MP3: same length (both keep the encoder delay and padding), max |Δ| 8.6e-7 — held to 1e-5;
/// - Ogg Vorbis: same length, max |Δ| 1.8e-7 — held to 1e-5;
/// - Opus: libsndfile decodes at 16 kHz, ffmpeg at 48 kHz then resamples to 16 kHz: same length and alignment
///   (lag 0), SNR 41.8 dB at 32 kbit/s — held to 35 dB.
enum LossyTolerance {
    static let maxAbsoluteDifference: Float = 1e-5
    static let opusSNR = 35.0
}

import AudioCore
