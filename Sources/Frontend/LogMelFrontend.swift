#if canImport(Glibc)
import Glibc
#endif
import Kernels

/// Incremental log-mel spectrogram, frame for frame identical to `Gemma4AudioFeatureExtractor` (spec §2) on every
/// frame that extractor marks valid.
///
/// Geometry (hop 160, window 320, 16 kHz): frame `i` covers samples `[160i − 160, 160i + 160)` (samples before 0
/// are the semicausal zero padding) and is centred on sample `160i`. The reference marks a frame valid only when
/// the sample *after* its window is real audio, so frame `i` is released once sample `160i + 160` has arrived:
///
///     samples received   frames released
///     0 … 160            none
///     161                frame 0            (window [-160, 160), needs sample 160 to exist)
///     321                frames 0, 1
///     N                  (N − 161) / 160 + 1 frames   — the reference's `n_valid`
///
/// Frames past the end of a finished clip are invalid in the reference and set to 0 there; downstream stages
/// (the SSCP) supply those zeros themselves, so this type never emits them.
///
/// The filter bank, FFT tables and window are built once per configuration and shared by every frontend (each
/// stream has one), not rebuilt per stream.
public struct LogMelFrontend: Sendable {
    public let configuration: LogMelConfiguration
    private let tables: LogMelTables

    /// Samples kept for frames not yet released; `pending[0]` is absolute sample `pendingStart`.
    private var pending: [Float] = []
    private var pendingStart = 0
    /// Samples accepted since the start (or the last `reset()`).
    public private(set) var samplesReceived = 0
    /// Frames released so far; the next frame released has this absolute index.
    public private(set) var framesReleased = 0

    // Scratch for one frame.
    private var windowed: [Float]                // (frameLength,)
    private var real: [Double]                   // (fftLength,)
    private var imaginary: [Double]              // (fftLength,)
    private var magnitudes: [Double]             // (frequencyBins,)

    public init(configuration: LogMelConfiguration = LogMelConfiguration()) {
        self.configuration = configuration
        tables = configuration == LogMelTables.standard.configuration
            ? LogMelTables.standard : LogMelTables(configuration)
        windowed = [Float](repeating: 0, count: configuration.frameLength)
        real = [Double](repeating: 0, count: configuration.fftLength)
        imaginary = [Double](repeating: 0, count: configuration.fftLength)
        magnitudes = [Double](repeating: 0, count: configuration.frequencyBins)
    }

    /// Frames that `samples` received samples make valid: `(samples − frameLength/2 − 1) / hop + 1`, at least 0.
    public static func validFrames(forSamples samples: Int, configuration: LogMelConfiguration = .init()) -> Int {
        let needed = configuration.frameLength - configuration.leftPadding + 1   // 161: through sample 160
        return samples < needed ? 0 : (samples - needed) / configuration.hopLength + 1
    }

    /// Accepts samples and appends every frame they complete to `frames`, `melBins` values per frame.
    ///
    /// - Returns: the absolute indices of the frames appended.
    @discardableResult
    public mutating func accept(_ samples: UnsafeBufferPointer<Float>, into frames: inout [Float]) -> Range<Int> {
        pending.append(contentsOf: samples)
        samplesReceived += samples.count
        let first = framesReleased
        let ready = LogMelFrontend.validFrames(forSamples: samplesReceived, configuration: configuration)
        let bins = configuration.melBins
        if ready > framesReleased {
            let base = frames.count
            frames.append(contentsOf: repeatElement(0, count: (ready - framesReleased) * bins))
            frames.withUnsafeMutableBufferPointer { out in
                for frame in framesReleased..<ready {
                    computeFrame(frame, into: out.baseAddress! + base + (frame - first) * bins)
                }
            }
            framesReleased = ready
        }
        // Keep only what the next frame's window needs: samples from 160·next − 160 on.
        let keepFrom = framesReleased * configuration.hopLength - configuration.leftPadding
        if keepFrom > pendingStart {
            let drop = min(keepFrom - pendingStart, pending.count)
            pending.removeFirst(drop)
            pendingStart += drop
        }
        return first..<framesReleased
    }

    /// Convenience for a whole clip: the valid frames, `(frames, melBins)` row-major.
    public static func logMel(of samples: [Float], configuration: LogMelConfiguration = .init()) -> [Float] {
        var frontend = LogMelFrontend(configuration: configuration)
        var frames: [Float] = []
        samples.withUnsafeBufferPointer { _ = frontend.accept($0, into: &frames) }
        return frames
    }

    /// Samples held for frames not yet released (at most a window's worth once frames flow).
    public var heldSampleCount: Int { pending.count }

    /// Forgets all audio; the next sample accepted is sample 0 again.
    public mutating func reset() {
        pending.removeAll(keepingCapacity: true)
        pendingStart = 0
        samplesReceived = 0
        framesReleased = 0
    }

    /// Frame `index` into `out` (melBins,). Its window's samples are all in `pending` or before sample 0.
    private mutating func computeFrame(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        let length = configuration.frameLength
        let start = index * configuration.hopLength - configuration.leftPadding
        let window = tables.window, filterBank = tables.filterBank
        for j in 0..<length {
            let absolute = start + j
            // float32 product, as the reference multiplies its float32 frames by a float32 window.
            windowed[j] = absolute < 0 ? 0 : pending[absolute - pendingStart] * window[j]
        }
        windowed.withUnsafeBufferPointer { input in
            tables.fft.magnitudes(of: input, real: &real, imaginary: &imaginary, into: &magnitudes)
        }
        let bins = configuration.melBins
        filterBank.weights.withUnsafeBufferPointer { weights in
            for j in 0..<bins {
                var sum = 0.0
                for k in filterBank.support[j] {
                    // The reference's magnitudes are float32 (NumPy ≥ 2 keeps rfft in float32): round them the same way.
                    sum += Double(Float(magnitudes[k])) * weights[k * bins + j]
                }
                out[j] = Float(log(sum + configuration.melFloor))
            }
        }
    }
}

/// What every frontend of one configuration reads and never changes: the mel filter bank, the FFT's tables and the
/// window. Arrays inside share their storage between copies, so frontends built from `standard` hold no copy.
struct LogMelTables: Sendable {
    let configuration: LogMelConfiguration
    let filterBank: MelFilterBank
    let fft: RealFFT
    let window: [Float]                  // (frameLength,) periodic Hann, rounded to float32

    init(_ configuration: LogMelConfiguration) {
        self.configuration = configuration
        filterBank = MelFilterBank(configuration)
        fft = RealFFT(length: configuration.fftLength)
        window = (0..<configuration.frameLength).map {
            Float(0.5 - 0.5 * cos(2 * Double.pi * Double($0) / Double(configuration.frameLength)))
        }
    }

    /// Gemma 4's configuration (`LogMelConfiguration()`), built on first use.
    static let standard = LogMelTables(LogMelConfiguration())
}
