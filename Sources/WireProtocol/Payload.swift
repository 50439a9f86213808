import AudioCore

/// Raw PCM layouts a client may push (interleaved, little-endian). The raw values are the protocol's; the samples
/// are AudioCore's ``PCMSampleFormat``.
package enum PCMFormat: UInt8, Sendable, CaseIterable, CustomStringConvertible {
    /// Signed 16-bit, scaled by 1/32768.
    case s16le = 0
    /// Signed 32-bit, scaled by 1/2³¹.
    case s32le = 1
    /// binary32 as is.
    case f32le = 2

    /// How the samples are stored.
    package var sampleFormat: PCMSampleFormat {
        switch self {
        case .s16le: .s16le
        case .s32le: .s32le
        case .f32le: .f32le
        }
    }

    package var byteWidth: Int { sampleFormat.byteWidth }

    package var description: String { sampleFormat.rawValue }

    /// Appends the samples in `bytes` (whole samples only) as Float to `output`.
    package func decode(_ bytes: ArraySlice<UInt8>, into output: inout [Float]) {
        bytes.withUnsafeBytes { sampleFormat.decode($0, appendingTo: &output) }
    }
}
