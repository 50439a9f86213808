import Kernels

/// Work space for computing windows on one thread: every intermediate of one window. Allocated once; a window
/// allocates nothing. Any number of streams can share one scratch, one window at a time.
///
/// The convolution inputs are time-major `(frames, channels)` with a zero frame before and after (padding 1); only
/// the interior frames are ever written, so the padding stays zero.
public final class SileroVADScratch {
    let signal: FloatBuffer        // (640,)      context 64 + window 512 + reflection 64
    let spectrum: FloatBuffer      // (4, 258)    STFT: real 129, imaginary 129 per frame
    let encoderInputs: [FloatBuffer]   // (1+4+1, 129) (1+4+1, 128) (1+2+1, 64) (1+1+1, 64): each layer's padded input
    let encoded: FloatBuffer       // (128,)      the last convolution's single frame, the LSTM's input
    let gates: FloatBuffer         // (512,)      i, f, g, o

    public init() {
        let g = SileroVADGeometry.self
        signal = FloatBuffer(count: g.paddedSamples)
        spectrum = FloatBuffer(count: g.frames * 2 * g.bins)
        var frames = g.frames
        var inputs: [FloatBuffer] = []
        for (channels, _, stride) in SileroVADWeights.encoderLayers {
            inputs.append(FloatBuffer(count: (frames + 2) * channels))
            frames = (frames - 1) / stride + 1
        }
        encoderInputs = inputs
        encoded = FloatBuffer(count: g.hiddenSize)
        gates = FloatBuffer(count: 4 * g.hiddenSize)
    }
}
