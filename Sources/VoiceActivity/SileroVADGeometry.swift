/// The fixed shapes of Silero VAD v6 at 16 kHz.
///
/// Window k covers stream samples `[512k, 512k + 512)`. The model sees 640 samples: the 64 before the window
/// (zeros before the stream starts), the window, and 64 reflected from its end (`x[575 − 1 − i]` for i < 64, the
/// edge sample not repeated). A 256-tap STFT with hop 128 cuts those into 4 frames of 129 bins; stride-2
/// convolutions reduce them to one 128-vector per window, which an LSTM cell carries into the next window.
public enum SileroVADGeometry {
    /// Samples per second of the stream the model takes.
    public static let sampleRate = 16_000
    /// Samples per window: one probability per 32 ms.
    public static let windowSamples = 512
    /// Samples of the previous window prefixed to each window.
    public static let contextSamples = 64
    /// Samples reflected after the window.
    public static let reflectSamples = 64
    /// context + window: what a stream keeps between windows.
    public static let inputSamples = contextSamples + windowSamples
    /// context + window + reflection: the STFT's input.
    public static let paddedSamples = inputSamples + reflectSamples
    /// The STFT's filter length and hop.
    public static let fftSize = 256
    public static let hop = 128
    /// STFT frames per window: (640 − 256) / 128 + 1.
    public static let frames = (paddedSamples - fftSize) / hop + 1
    /// Frequency bins per frame: 256 / 2 + 1.
    public static let bins = fftSize / 2 + 1
    /// The LSTM's width.
    public static let hiddenSize = 128
}
