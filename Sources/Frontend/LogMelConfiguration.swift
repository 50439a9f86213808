/// The settings of Gemma 4's audio feature extractor (`Gemma4AudioFeatureExtractor` defaults, spec §2).
/// Gemma 4 checkpoints ship no feature-extractor overrides, so these are the values in force for E2B and E4B.
public struct LogMelConfiguration: Sendable, Equatable {
    public var sampleRate = 16_000
    /// Analysis window: 20 ms.
    public var frameLength = 320
    /// Frame step: 10 ms.
    public var hopLength = 160
    /// Windows are zero-padded at the end to this length before the FFT.
    public var fftLength = 512
    public var melBins = 128
    public var minFrequency = 0.0
    public var maxFrequency = 8_000.0
    /// Added before the log: `log(mel + melFloor)`.
    public var melFloor = 1e-3

    public init() {}

    /// Samples prepended before framing (semicausal padding): frame i is centred on sample `hopLength·i`.
    public var leftPadding: Int { frameLength / 2 }
    /// FFT bins kept by the real FFT.
    public var frequencyBins: Int { fftLength / 2 + 1 }
}
