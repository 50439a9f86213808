import Gemma4Audio

/// An encoder family the engine serves, behind which the scheduler, status and every transport stay the same:
/// Gemma 4 (streaming and causal, context cached, streams' blocks stacked into one pass) and Echo (not causal: each
/// stream's whole windows). A stream's encoder turns 16 kHz samples into tokens, each covering `samplesPerToken`
/// consecutive samples of the stream's timeline; a pass encodes the next ready block of each stream it is given.
package protocol ServedModel: AnyObject, Sendable {
    /// What status, `welcome` and the transports say of the model.
    var facts: ServedModelFacts { get }
    /// Tokens one pass takes from a stream, for the configured `blockTokens` (Gemma 4: that block; Echo: a window,
    /// whatever is configured). A token leaves once its block is complete: the block is the encoder's latency.
    func passTokens(configured blockTokens: Int) -> Int
    /// A compute thread's work space for passes over up to `streams` streams, whose products split over `threads`.
    func makeWorkspace(blockTokens: Int, streams: Int, threads: Int) -> any PassWorkspace
    /// A new stream's encoder.
    func makeStreamEncoder(blockTokens: Int) -> any StreamEncoder
    /// One pass: the next ready block of each of `encoders` (this model's; those without one are skipped). Returns
    /// the tokens encoded, which each encoder then holds for `takeOutput()`.
    func encodePass(_ encoders: [any StreamEncoder], workspace: any PassWorkspace) -> Int
}

/// A family's facts, for status and the transports' greetings.
package struct ServedModelFacts: Sendable, Equatable {
    /// `gemma4` or `echo`.
    package var family: String
    /// `D`: the width of a token's `embeddings` (Gemma 4: the language model's hidden size; Echo, which has no
    /// projection into a language model: its encoder output, the same rows as `encoder`).
    package var embeddingWidth: Int
    /// `P`: the width of a token's `encoder` row.
    package var encoderWidth: Int
    package var layerCount: Int
    /// 16 kHz samples per token: 640 (40 ms) for Gemma 4, 160 (one 10 ms frame) for Echo.
    package var samplesPerToken: Int
    /// Values per log-mel frame (frames are 160 samples apart in both families): the live view's spectrogram.
    package var melBins: Int

    package init(family: String, embeddingWidth: Int, encoderWidth: Int, layerCount: Int, samplesPerToken: Int,
                 melBins: Int) {
        self.family = family
        self.embeddingWidth = embeddingWidth
        self.encoderWidth = encoderWidth
        self.layerCount = layerCount
        self.samplesPerToken = samplesPerToken
        self.melBins = melBins
    }
}

/// One compute thread's work space for one family's passes (the family's own scratch).
package protocol PassWorkspace: AnyObject {}

/// One stream's encoder: owned by one compute thread at a time, never shared.
package protocol StreamEncoder: AnyObject {
    /// Accepts 16 kHz mono samples, in any chunk size.
    func accept(_ samples: UnsafeBufferPointer<Float>)
    /// ``accept(_:)``, showing `melFrames` the log-mel frames the samples complete (the live view's spectrogram): the
    /// stream-relative sample where the first frame's hop starts, and the frames, `melBins` values each. A family
    /// whose log-mel is computed in its passes (Echo's, per window) shows them in ``showPassMelFrames(_:)`` instead.
    func accept(_ samples: UnsafeBufferPointer<Float>,
                melFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void)
    /// Shows the log-mel frames the passes since the last call computed, if the family computes them there (Echo:
    /// each encoded window's, a window late), as ``accept(_:melFrames:)`` does, and lets go of them; none for Gemma 4.
    /// Called after every pass, watched or not, so they never pile up.
    func showPassMelFrames(_ melFrames: (_ firstHopSample: Int, _ values: UnsafeBufferPointer<Float>) -> Void)
    /// No more samples: the rest becomes ready under the family's end-of-stream rule.
    func finish()
    /// Forgets everything: the next sample accepted is sample 0 of a new stream.
    func reset()
    var isFinished: Bool { get }
    /// Whether a pass would encode something now.
    var hasReadyBlock: Bool { get }
    /// Tokens encoded so far; the next encoded token has this index.
    var tokensEncoded: Int { get }
    /// Tokens the audio accepted so far makes, encoded or not (after `finish`, every token the stream will have).
    var tokensInAudio: Int { get }
    /// Takes the tokens encoded since the last call.
    func takeOutput() -> EncodedTokens
    /// Floats the stream holds besides its fixed state (audio awaiting its block or window, output not yet taken):
    /// bounded by the model's geometry, never by the stream's length.
    var heldFloatCount: Int { get }
}

extension StreamEncoder {
    /// Tokens due from the audio so far and not yet encoded.
    package var pendingTokenCount: Int { tokensInAudio - tokensEncoded }
}

extension ServedModel {
    /// Runs passes over `encoder` alone until it has no ready block, handing each pass's tokens to `emit`.
    func drain(_ encoder: any StreamEncoder, workspace: any PassWorkspace, emit: (EncodedTokens) -> Void) {
        let one = [encoder]
        while encoder.hasReadyBlock, encodePass(one, workspace: workspace) > 0 { emit(encoder.takeOutput()) }
    }
}
