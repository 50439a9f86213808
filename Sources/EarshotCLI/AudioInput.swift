import AudioCore
import AudioFiles
import Resampling

/// Reads audio files into what the encoder takes: 16 kHz mono Float.
public enum AudioInput {
    /// The encoder's sample rate.
    public static let sampleRate = 16_000

    /// Reads a whole audio file (`-`: standard input) as 16 kHz mono: the pieces of a ``Mono16kReader`` joined.
    public static func loadMono16k(path: String, quality: ResamplerQuality = .best) throws -> [Float] {
        let reader = try Mono16kReader(path: path, quality: quality)
        var samples: [Float] = []
        while let piece = try reader.next() { samples += piece }
        return samples
    }
}

/// An audio file (any format ``AudioFileReader`` reads; `-` is standard input) read a piece at a time as 16 kHz
/// mono: each piece of the file averaged to mono and, if the file is not already 16 kHz, resampled with
/// libsamplerate (`quality`, best sinc by default) as it comes. Memory stays bounded at any file length, and the
/// pieces joined are the same samples, bit for bit, as reading the whole file and resampling it in one go
/// (libsamplerate's output does not depend on how its input is split).
///
/// ```
/// file ──AudioFileReader──▶ interleaved piece ──Downmix──▶ mono ──Resampler──▶ 16 kHz piece
/// ```
public final class Mono16kReader {
    /// The file's stream description.
    public let info: AudioFileInfo
    private let file: AudioFileReader
    private let resampler: Resampler

    /// Interleaved samples read from the file per piece: 2^16 (256 KB as Float) at any channel count.
    public static let pieceSamples = 1 << 16

    /// Frames per piece of a file with `channels` channels: 32768 for stereo, about 0.7 s at 44.1 kHz.
    public static func pieceFrames(channels: Int) -> Int { max(1, pieceSamples / channels) }

    public init(path: String, quality: ResamplerQuality = .best) throws {
        file = try AudioFileReader(path: path)
        info = file.info
        resampler = try Resampler(inputRate: info.sampleRate, outputRate: AudioInput.sampleRate, quality: quality)
    }

    /// The next piece of 16 kHz mono samples (possibly empty while the resampler fills its filter), or `nil`
    /// after the last.
    public func next() throws -> [Float]? {
        guard !resampler.isFinished else { return nil }
        let interleaved = try file.read(maxFrames: Self.pieceFrames(channels: info.channels))
        var output: [Float] = []
        if interleaved.isEmpty {
            try resampler.finish(into: &output)
            return output
        }
        var mono = interleaved
        if info.channels > 1 {
            mono = []
            mono.reserveCapacity(interleaved.count / info.channels)
            interleaved.withUnsafeBufferPointer { Downmix.toMono($0, channels: info.channels, into: &mono) }
        }
        if resampler.isPassthrough { return mono }
        try resampler.process(mono, into: &output)
        return output
    }
}
