import AudioCore
import Resampling

/// Turns a pushed stream's PCM bytes (interleaved, little-endian, in the format the client announced) into the mono
/// samples ``ScheduledStream/submitPushed(_:)`` takes: one decoder for every transport, reusing its buffers.
package struct PushedAudioDecoder {
    package let format: PCMSampleFormat
    package let channels: Int
    private var interleaved: [Float] = []

    package init(format: PCMSampleFormat, channels: Int) {
        precondition(channels >= 1, "a pushed stream has at least one channel")
        self.format = format
        self.channels = channels
    }

    /// Bytes per interleaved frame: pushed audio comes in whole frames.
    package var frameBytes: Int { format.byteWidth * channels }

    /// The mono samples of `pcm` (a whole number of frames): decoded, then channels averaged.
    package mutating func mono(_ pcm: ArraySlice<UInt8>) -> [Float] {
        interleaved.removeAll(keepingCapacity: true)
        pcm.withUnsafeBytes { format.decode($0, appendingTo: &interleaved) }
        if channels == 1 { return interleaved }
        var mono: [Float] = []
        interleaved.withUnsafeBufferPointer { Downmix.toMono($0, channels: channels, into: &mono) }
        return mono
    }
}
