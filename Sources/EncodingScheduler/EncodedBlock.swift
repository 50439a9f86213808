import EarshotTypes
import Gemma4Audio

/// What a token carries besides its values.
package struct TokenInfo: Sendable, Equatable {
    /// The token's index in its stream (0, 1, 2, … across segments).
    package var index: UInt64
    /// The first of its samples (the family's `samplesPerToken`) on the stream's 16 kHz timeline.
    package var firstSample: Int64
    /// Wall-clock time of `firstSample`, nanoseconds since the Unix epoch.
    package var captureTimeNanoseconds: Int64
    package var flags: TokenFlags

    package init(index: UInt64, firstSample: Int64, captureTimeNanoseconds: Int64, flags: TokenFlags) {
        self.index = index
        self.firstSample = firstSample
        self.captureTimeNanoseconds = captureTimeNanoseconds
        self.flags = flags
    }
}

/// The tokens one encoder pass produced for one stream, with their metadata. Immutable and shared: the history ring
/// and every receiver's queue point at the same block, nothing is copied until a transport encodes a token.
package final class EncodedBlock: Sendable {
    /// `encoder` (count, P) and `embeddings` (count, D), row-major.
    package let tokens: EncodedTokens
    /// (count,)
    package let infos: [TokenInfo]

    package init(tokens: EncodedTokens, infos: [TokenInfo]) {
        precondition(tokens.count == infos.count, "one TokenInfo per token")
        self.tokens = tokens
        self.infos = infos
    }

    package var count: Int { infos.count }
}

/// One token: a row of a shared block.
package struct TokenRecord: Sendable {
    package let block: EncodedBlock
    package let row: Int

    package init(block: EncodedBlock, row: Int) {
        self.block = block
        self.row = row
    }

    package var info: TokenInfo { block.infos[row] }

    /// The token's values of `output`, without copying.
    package func withValues<R>(_ output: OutputKind, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let t = block.tokens
        let (values, width) = output == .embeddings ? (t.embeddings, t.embeddingWidth) : (t.encoder, t.encoderWidth)
        return try values.withUnsafeBufferPointer { all in
            try body(UnsafeBufferPointer(rebasing: all[(row * width)..<((row + 1) * width)]))
        }
    }
}
