import AudioCore

/// The format a device delivers (before downmix and resampling).
public struct StreamFormat: Sendable, Equatable, CustomStringConvertible {
    public var sampleFormat: PCMSampleFormat
    public var sampleRate: Int
    public var channels: Int

    public init(sampleFormat: PCMSampleFormat, sampleRate: Int, channels: Int) {
        self.sampleFormat = sampleFormat
        self.sampleRate = sampleRate
        self.channels = channels
    }

    /// Bytes per frame (one sample per channel).
    public var frameBytes: Int { sampleFormat.byteWidth * channels }

    /// E.g. "s16le 48000 Hz 2 ch".
    public var description: String { "\(sampleFormat.rawValue) \(sampleRate) Hz \(channels) ch" }
}
