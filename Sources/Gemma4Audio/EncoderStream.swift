import Kernels

/// One audio stream being encoded: its state (the log-mel framer and SSCP carry, `SubsamplingState`; each layer's
/// K/V and conv context, `LayerState`), tokens waiting for their block, and encoded tokens not yet collected. Its
/// size is fixed by the model, whatever the stream's length. The model's weights are shared and read-only; a
/// worker's intermediates are its `EncoderScratch`.
///
/// ## Geometry (16 kHz; hop 160; token = 4 frames = 640 samples = 40 ms)
///
/// Token t depends on samples `[0, 640(t+1))`. The reference marks a mel frame valid only when the sample after
/// its window exists, so token t's last frame (4t+3, window ending at sample 640t+639) is released when sample
/// 640(t+1) arrives — one sample (62.5 µs) after the token's audio. Worked example, `blockTokens = 12`:
///
///     samples in    frames released   tokens subsampled   tokens encoded (emitted)
///     640           0 … 2             none                none
///     641           0 … 3             0                   none      (token 0 waits for its block)
///     7 680         0 … 46            0 … 10              none
///     7 681         0 … 47            0 … 11              0 … 11    (block 0 complete)
///     7 700, finish 0 … 47            0 … 11 (+ none)     0 … 11    (frame 48 needs sample 7 840: no token 12)
///
/// At `finish()` the reference's end-of-clip rule applies: the frames that lack a full window are zero, layer-0
/// rows past the last valid frame are masked, and the last token (if its first frame 4t is valid) is computed from
/// those zeros, exactly as transformers computes the last token of a finite clip.
public final class EncoderStream {
    public let model: Gemma4AudioModel
    /// Tokens per encoder pass (1 … scratch capacity; 12 by default): a token waits until its block is complete.
    public let blockTokens: Int

    // Per-stream state, carried from call to call: the frontend's and SSCP's (`input`), each layer's (`layerStates`).
    private var input = SubsamplingState()
    /// Each layer's attention and conv context, `layerCount` of them; empty while a pass holds them (`PassSegment`).
    private var layerStates: [LayerState]
    private var pendingTokens: [Float] = []  // (·, F1·C1) SSCP output of tokens not yet encoded
    private let patches: FloatBuffer         // (F1, 9·C0) layer-1 im2col work space
    /// Tokens that have left the SSCP (subsampled).
    public var tokensSubsampled: Int { input.tokensSubsampled }
    /// Tokens encoded so far; the next encoded token has this index.
    public private(set) var tokensEncoded = 0
    public private(set) var isFinished = false

    /// Encoded tokens not yet taken by `takeOutput()`.
    private var output = EncodedTokens()

    public init(model: Gemma4AudioModel, blockTokens: Int = 12) {
        precondition(blockTokens >= 1, "blockTokens must be at least 1")
        self.model = model
        self.blockTokens = blockTokens
        let c = model.configuration
        patches = FloatBuffer(count: c.sscpFrequencies[1] * 9 * c.subsamplingChannels[0])
        layerStates = (0..<c.layerCount).map { _ in LayerState(config: c) }
        output = EncodedTokens(firstToken: 0, encoderWidth: model.configuration.outputProjectionSize,
                               embeddingWidth: model.configuration.textHiddenSize)
    }

    /// Samples accepted so far.
    public var samplesReceived: Int { input.frontend.samplesReceived }
    /// Tokens subsampled but not yet encoded.
    public var pendingTokenCount: Int { tokensSubsampled - tokensEncoded }
    /// Whether a pass would encode something now: a full block, or any remainder once finished.
    public var hasReadyBlock: Bool { pendingTokenCount >= blockTokens || (isFinished && pendingTokenCount > 0) }
    /// Tokens the next pass takes from this stream.
    var nextBlockSize: Int { hasReadyBlock ? min(blockTokens, pendingTokenCount) : 0 }

    /// Floats this stream holds besides its fixed caches: held samples, mel frames and layer-0 rows awaiting the
    /// SSCP, tokens awaiting their block, and output not yet taken. Bounded by the geometry, not the stream length.
    public var heldFloatCount: Int {
        input.heldFloatCount + pendingTokens.count + output.encoder.count + output.embeddings.count
    }

    /// Accepts 16 kHz mono samples in any chunk size and runs the frontend and the SSCP on them.
    public func accept(_ samples: UnsafeBufferPointer<Float>) {
        precondition(!isFinished, "accept(_:) after finish()")
        input.accept(samples)
        subsample(final: false)
    }

    /// ``accept(_:)``, showing `melFrames` each log-mel frame the samples complete (the live view's spectrogram):
    /// the segment-relative sample where the first frame's hop starts (frames are 160 samples apart), and the frames'
    /// values, `melBins` per frame.
    public func accept(_ samples: UnsafeBufferPointer<Float>,
                       melFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void) {
        precondition(!isFinished, "accept(_:) after finish()")
        input.accept(samples, newFrames: melFrames)
        subsample(final: false)
    }

    public func accept(_ samples: [Float]) {
        samples.withUnsafeBufferPointer { accept($0) }
    }

    /// Ends the stream: the last token(s) are computed under the reference's end-of-clip rule and become ready.
    public func finish() {
        guard !isFinished else { return }
        subsample(final: true)
        isFinished = true
    }

    /// Whether encoded tokens wait for `takeOutput()`.
    public var hasOutput: Bool { output.count > 0 }

    /// Takes the tokens encoded since the last call. Their arrays now belong to the caller: this allocates the two
    /// arrays of the next output (reserved for one block), the only allocations of a stream's steady state.
    public func takeOutput() -> EncodedTokens {
        let taken = output
        output = EncodedTokens(firstToken: tokensEncoded, encoderWidth: taken.encoderWidth,
                               embeddingWidth: taken.embeddingWidth)
        output.reserveCapacity(blockTokens)
        return taken
    }

    /// Forgets everything: the next sample accepted is sample 0 of a new stream.
    public func reset() {
        input.reset()
        pendingTokens.removeAll(keepingCapacity: true)
        tokensEncoded = 0; isFinished = false
        for i in layerStates.indices { layerStates[i].reset() }
        output = EncodedTokens(firstToken: 0, encoderWidth: output.encoderWidth, embeddingWidth: output.embeddingWidth)
    }

    private func subsample(final: Bool) {
        input.subsample(final: final, weights: model.weights.sscp, config: model.configuration,
                        precision: model.precision, patches: patches.base, into: &pendingTokens)
    }

    // MARK: Hand-off to a pass

    /// Copies this stream's next block of SSCP rows into `destination` `(count, F1·C1)` and hands its layer states
    /// to the pass, which gives them back through `completeBlock`.
    func startBlock(count: Int, into destination: UnsafeMutablePointer<Float>) -> [LayerState] {
        pendingTokens.withUnsafeBufferPointer {
            destination.update(from: $0.baseAddress!, count: count * model.configuration.sscpOutputWidth)
        }
        precondition(!layerStates.isEmpty || model.configuration.layerCount == 0, "a stream twice in one pass")
        var taken: [LayerState] = []
        swap(&taken, &layerStates)        // moved, not shared: the pass is their only owner
        return taken
    }

    /// Records a pass's results for the `count` tokens taken by `startBlock`, with the layer states it advanced.
    func completeBlock(count: Int, layers: [LayerState], encoder: UnsafePointer<Float>,
                       embeddings: UnsafePointer<Float>) {
        layerStates = layers
        pendingTokens.removeFirst(count * model.configuration.sscpOutputWidth)
        output.append(count: count, encoder: encoder, embeddings: embeddings)
        tokensEncoded += count
    }
}

/// Consecutive encoded tokens of one stream: each token's `output_proj` row and its embedding in the language
/// model's space.
public struct EncodedTokens: Sendable, Equatable {
    /// Absolute index of the first token here.
    public var firstToken: Int
    public var count: Int
    public let encoderWidth: Int
    public let embeddingWidth: Int
    /// `(count, P)` row-major: `audio_tower(...).last_hidden_state` rows.
    public var encoder: [Float]
    /// `(count, D)` row-major: `embed_audio(...)` rows, what Gemma 4 feeds its language model.
    public var embeddings: [Float]

    public init(firstToken: Int = 0, encoderWidth: Int = 0, embeddingWidth: Int = 0) {
        self.firstToken = firstToken
        self.count = 0
        self.encoderWidth = encoderWidth
        self.embeddingWidth = embeddingWidth
        encoder = []
        embeddings = []
    }

    mutating func reserveCapacity(_ tokens: Int) {
        encoder.reserveCapacity(tokens * encoderWidth)
        embeddings.reserveCapacity(tokens * embeddingWidth)
    }

    mutating func append(count n: Int, encoder e: UnsafePointer<Float>, embeddings d: UnsafePointer<Float>) {
        encoder.append(contentsOf: UnsafeBufferPointer(start: e, count: n * encoderWidth))
        embeddings.append(contentsOf: UnsafeBufferPointer(start: d, count: n * embeddingWidth))
        count += n
    }

    /// Appends `other`, which must start where this ends.
    public mutating func append(_ other: EncodedTokens) {
        precondition(other.count == 0 || count == 0 || other.firstToken == firstToken + count,
                     "tokens must be consecutive")
        if count == 0 { firstToken = other.firstToken }
        encoder += other.encoder
        embeddings += other.embeddings
        count += other.count
    }
}
