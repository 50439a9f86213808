import Frontend
import Kernels

/// Work space for one compute thread's Echo passes: every intermediate of one window, sized by the configuration
/// alone (the waveform stack runs in slices of `waveformSliceRows` rows, so a waveform of any length fits).
/// Allocated once; a pass allocates only its softmax's and the frontend's small arrays.
public final class EchoScratch {
    /// The threads the products split their columns over (results do not depend on their number).
    public let threads: MatmulThreads
    /// Output rows of `we.2` per slice of the waveform stack (even: `WinogradDownsampling` computes pairs).
    static let waveformSliceRows = 256
    /// Query rows per block of attention: a block computes the scores of keys before its end only, which its
    /// weighted sum of values then reads as whole blocks of the packed values (`Matmul.depthBlock`).
    static let attentionBlockRows = Matmul.depthBlock

    let melFrames: FloatBuffer        // (ctx, mels)          the window's log-mel, time-major
    let frontendWork: FloatBuffer     // WhisperLogMel.scratchCount
    let window: FloatBuffer           // (ctx·160,)           the window's samples, zero-padded (the waveform input)
    let padded: FloatBuffer           // (ctx + 4, max(mels, dims)·…)  a conv's zero-padded input rows
    let gathered: FloatBuffer         // (ctx, 3·dims)        the dilated conv's gathered taps
    let spectrogram: FloatBuffer      // (ctx, dims)
    let work: FloatBuffer             // (ctx, dims)
    let squeezed: FloatBuffer         // (squeeze + dims)
    let samples: FloatBuffer          // (5·(2S + 3) + 6)     one slice's zero-padded samples
    let waveformRows: FloatBuffer     // (2S + 3, dims)       we.0 + GELU rows of a slice
    let downsamplingInput: FloatBuffer     // (S/2, 7·dims)   we.2's Winograd-transformed rows of a slice
    let downsamplingProducts: FloatBuffer  // (4, S/2, dims)  its four channel products
    let waveformOut: FloatBuffer      // (S, dims)            we.2 + GELU rows of a slice
    let pooled: FloatBuffer           // (ctx, dims)          AdaptiveAvgPool1d sums
    let hidden: FloatBuffer           // (ctx, dims)          x, the residual stream
    let residual: FloatBuffer         // (ctx, dims)          r, the block's input
    let normed: FloatBuffer           // (ctx, dims)
    let query: FloatBuffer            // (ctx, dims)
    let key: FloatBuffer              // (ctx, dims)
    let value: FloatBuffer            // (ctx, dims)
    let attended: FloatBuffer         // (ctx, dims)
    let wide: FloatBuffer             // (ctx, 4·dims)
    let logits: FloatBuffer           // (ctx, ctx)           one head's scores, then weights
    /// Whether attention may skip the scores the mask zeroes (see `attention`); tests turn it off to compare with
    /// every score computed and masked, as the seed does.
    var skipsMaskedScores = true
    let keyIsZero: UnsafeMutablePointer<Bool>   // (ctx,)
    let zeroKeys: UnsafeMutablePointer<Int>     // (ctx,)  the rows where keyIsZero, ascending
    let ones: FloatBuffer             // (ctx,)               1s: a softmax row's sum is its dot product with them
    let rowBounds: FloatBuffer        // (2, ctx)             Σ|q| and Σ|k| per row of one head
    let futureWeight: FloatBuffer     // (ctx,)               each query's softmax weight of one future key
    let futureValues: FloatBuffer     // (⌈ctx/B⌉, headDim)   Σ v over the keys after each attention block
    let futureValueSum: UnsafeMutablePointer<Double>   // (headDim,)
    let headKeys: PackedMatrix        // (ctx, headDim)
    let headValues: PackedMatrix      // (headDim, ctx)

    /// Work space for `model`'s passes, whose products run on `threads` threads.
    public init(model: EchoModel, threads: Int = 1) {
        let c = model.configuration
        let (t, d, s) = (c.context, c.width, Self.waveformSliceRows)
        self.threads = MatmulThreads(count: threads)
        melFrames = FloatBuffer(count: t * c.melBins)
        frontendWork = FloatBuffer(count: model.frontend.scratchCount)
        window = FloatBuffer(count: c.frontend.windowSamples)
        padded = FloatBuffer(count: (t + 4) * max(c.melBins, d))
        gathered = FloatBuffer(count: t * 3 * d)
        spectrogram = FloatBuffer(count: t * d)
        work = FloatBuffer(count: t * d)
        squeezed = FloatBuffer(count: c.squeezeWidth + d)
        samples = FloatBuffer(count: 5 * (2 * s + 3) + 6)
        waveformRows = FloatBuffer(count: (2 * s + 3) * d)
        downsamplingInput = FloatBuffer(count: s / 2 * model.weights.waveformDown.transformedWidth)
        downsamplingProducts = FloatBuffer(count: 4 * s / 2 * d)
        waveformOut = FloatBuffer(count: s * d)
        pooled = FloatBuffer(count: t * d)
        hidden = FloatBuffer(count: t * d)
        residual = FloatBuffer(count: t * d)
        normed = FloatBuffer(count: t * d)
        query = FloatBuffer(count: t * d)
        key = FloatBuffer(count: t * d)
        value = FloatBuffer(count: t * d)
        attended = FloatBuffer(count: t * d)
        wide = FloatBuffer(count: t * 4 * d)
        logits = FloatBuffer(count: t * t)
        keyIsZero = .allocate(capacity: t)
        keyIsZero.initialize(repeating: false, count: t)
        zeroKeys = .allocate(capacity: t)
        zeroKeys.initialize(repeating: 0, count: t)
        ones = FloatBuffer(count: t)
        ones.base.update(repeating: 1, count: t)
        rowBounds = FloatBuffer(count: 2 * t)
        futureWeight = FloatBuffer(count: t)
        futureValues = FloatBuffer(count: (t + Self.attentionBlockRows - 1) / Self.attentionBlockRows * c.headDimension)
        futureValueSum = .allocate(capacity: c.headDimension)
        futureValueSum.initialize(repeating: 0, count: c.headDimension)
        headKeys = PackedMatrix(outFeatures: t, inFeatures: c.headDimension, element: .f32)
        headValues = PackedMatrix(outFeatures: c.headDimension, inFeatures: t, element: .f32)
    }

    deinit {
        keyIsZero.deallocate()
        zeroKeys.deallocate()
        futureValueSum.deallocate()
    }
}
