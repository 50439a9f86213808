#if canImport(Glibc)
import Glibc
#endif
import Kernels

/// The settings of transformers' `WhisperFeatureExtractor` that shape its log-mel, and the window it pads or cuts
/// audio to (`max_length`, by default `chunk_length · sampling_rate`).
public struct WhisperLogMelConfiguration: Sendable, Equatable {
    /// Mel filters (`feature_size`).
    public var melBins: Int
    public var sampleRate = 16_000
    /// Frame step (`hop_length`).
    public var hopLength = 160
    /// Analysis window and DFT length (`n_fft`): a periodic Hann window of this many samples.
    public var fftLength = 400
    /// Frames per window: the extractor pads (with zeros) or cuts each window to `windowFrames · hopLength`
    /// samples and returns this many frames (the STFT's last frame dropped).
    public var windowFrames: Int

    public init(melBins: Int, windowFrames: Int) {
        self.melBins = melBins
        self.windowFrames = windowFrames
    }

    /// Samples per window: `max_length`. At 1500 frames and hop 160, 240 000 = 15 s (`chunk_length=15`).
    public var windowSamples: Int { windowFrames * hopLength }
    /// DFT bins: `fftLength / 2 + 1`.
    public var frequencyBins: Int { fftLength / 2 + 1 }
}

/// `WhisperFeatureExtractor`'s log-mel of one window, as its torch path computes it: the window zero-padded to
/// `windowSamples`, reflect-padded by `fftLength / 2` on both sides (`torch.stft(center=True)`), framed every
/// `hopLength` samples, times a periodic Hann window, |DFT|², Slaney mel filters, `log10(max(mel, 1e-10))`, the
/// last frame dropped, then clamped from below at the window's maximum − 8 and mapped by `(x + 4) / 4`.
///
/// The DFT is Kernels' `RealFFT` (mixed radix for 400), in float64 like the mel sums and the log. Immutable after `init`; `logMel` needs only the caller's buffers, so one
/// instance serves every thread.
public final class WhisperLogMel: Sendable {
    public let configuration: WhisperLogMelConfiguration
    private let window: WeightBuffer        // (fftLength,)
    private let fft: RealFFT
    private let filterBank: MelFilterBank

    public init(_ configuration: WhisperLogMelConfiguration) {
        self.configuration = configuration
        let n = configuration.fftLength, bins = configuration.frequencyBins
        window = WeightBuffer(count: n) { w in
            for i in 0..<n { w[i] = Float(0.5 - 0.5 * cos(2 * Double.pi * Double(i) / Double(n))) }
        }
        fft = RealFFT(length: n)
        filterBank = MelFilterBank(frequencyBins: bins, melBins: configuration.melBins,
                                   sampleRate: configuration.sampleRate, minFrequency: 0, maxFrequency: 8_000,
                                   style: .slaneyAreaNormalized)
    }

    /// Floats of work space `logMel` needs.
    public var scratchCount: Int { configuration.windowSamples + configuration.fftLength }

    /// The log-mel of one window: `samples` (at most `windowSamples`; fewer are zero-padded at the end) into `out`,
    /// time-major `(windowFrames, melBins)` — the transpose of the extractor's `[mels, frames]`. Frames are split
    /// over `threads` when given; the result does not depend on it.
    ///
    /// - Parameter scratch: at least `scratchCount` floats.
    public func logMel(_ samples: UnsafeBufferPointer<Float>, into out: UnsafeMutablePointer<Float>,
                       scratch: UnsafeMutablePointer<Float>, threads: MatmulThreads? = nil) {
        let c = configuration
        precondition(samples.count <= c.windowSamples, "a window holds at most \(c.windowSamples) samples")
        let n = c.fftLength, half = n / 2, length = c.windowSamples
        // The padded window with the reflection on both sides: extended[i] is sample i − n/2.
        let extended = scratch
        for i in 0..<(length + n) {
            var j = i - half
            if j < 0 { j = -j } else if j >= length { j = 2 * (length - 1) - j }
            extended[i] = j < samples.count ? samples[j] : 0
        }
        if let threads {
            threads.forEachRange(c.windowFrames, grain: 64) { frames in
                logMelFrames(frames, extended: UnsafePointer(extended), into: out)
            }
        } else {
            logMelFrames(0..<c.windowFrames, extended: UnsafePointer(extended), into: out)
        }
        let count = c.windowFrames * c.melBins
        var maximum = -Float.infinity
        for i in 0..<count { maximum = max(maximum, out[i]) }
        let floor = maximum - 8
        for i in 0..<count { out[i] = (max(out[i], floor) + 4) / 4 }
    }

    /// `log10(max(mel, 1e-10))` of `frames`, before the window's clamp.
    private func logMelFrames(_ frames: Range<Int>, extended: UnsafePointer<Float>,
                              into out: UnsafeMutablePointer<Float>) {
        let c = configuration
        let n = c.fftLength, bins = c.frequencyBins
        var frame = [Float](repeating: 0, count: n)
        var (real, imaginary) = ([Double](repeating: 0, count: n), [Double](repeating: 0, count: n))
        var magnitudes = [Double](repeating: 0, count: bins)
        frame.withUnsafeMutableBufferPointer { frame in
            for t in frames {
                let start = extended + t * c.hopLength
                for i in 0..<n { frame[i] = start[i] * window.base[i] }
                fft.magnitudes(of: UnsafeBufferPointer(frame), real: &real, imaginary: &imaginary, into: &magnitudes)
                for j in 0..<c.melBins {
                    var mel = 0.0
                    for k in filterBank.support[j] {
                        mel += filterBank.weights[k * c.melBins + j] * magnitudes[k] * magnitudes[k]
                    }
                    out[t * c.melBins + j] = Float(log10(max(mel, 1e-10)))
                }
            }
        }
    }
}
