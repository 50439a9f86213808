import AudioCore
import Resampling

/// Reads audio files into what the encoder takes: 16 kHz mono Float.
public enum AudioInput {
    /// The encoder's sample rate.
    public static let sampleRate = 16_000

    /// Reads a WAV file, averages its channels to mono and, if it is not already 16 kHz, resamples it with
    /// libsamplerate (`quality`, best sinc by default).
    public static func loadMono16k(path: String, quality: ResamplerQuality = .best) throws -> [Float] {
        let (info, interleaved) = try WAV.read(path: path)
        guard info.frameCount > 0 else { throw AudioFileError(path: path, "no audio: the data chunk is empty") }
        var mono: [Float] = []
        if info.channels == 1 {
            mono = interleaved
        } else {
            mono.reserveCapacity(info.frameCount)
            interleaved.withUnsafeBufferPointer { Downmix.toMono($0, channels: info.channels, into: &mono) }
        }
        return try Resampler.resample(mono, from: info.sampleRate, to: sampleRate, quality: quality)
    }
}
