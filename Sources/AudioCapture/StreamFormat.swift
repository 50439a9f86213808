/// How raw PCM samples are stored.
public enum PCMSampleFormat: String, Sendable, CaseIterable {
    /// Signed 16-bit little-endian, scaled by 1/32768.
    case s16le
    /// Signed 32-bit little-endian, scaled by 1/2147483648.
    case s32le
    /// IEEE 754 32-bit float little-endian, as is.
    case f32le

    /// Bytes per sample.
    public var byteWidth: Int { self == .s16le ? 2 : 4 }

    /// Decodes `frames × channels` samples from `raw` into `output` (replacing its contents).
    func decode(_ raw: UnsafeRawBufferPointer, sampleCount: Int, into output: inout [Float]) {
        output.removeAll(keepingCapacity: true)
        output.reserveCapacity(sampleCount)
        switch self {
        case .s16le:
            for i in 0..<sampleCount {
                let v = Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: Int16.self))
                output.append(Float(v) * (1 / 32768))
            }
        case .s32le:
            for i in 0..<sampleCount {
                let v = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self))
                output.append(Float(v) * (1 / 2_147_483_648))
            }
        case .f32le:
            for i in 0..<sampleCount {
                let bits = UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
                output.append(Float(bitPattern: bits))
            }
        }
    }
}

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
