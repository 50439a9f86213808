import Gemma4Audio
import WireProtocol

/// What the wire says about one token besides its values.
struct TokenInfo: Sendable, Equatable {
    /// The token's index in its stream (0, 1, 2, … across segments).
    var index: UInt64
    /// The first of its 640 samples on the stream's 16 kHz timeline.
    var firstSample: Int64
    /// Wall-clock time of `firstSample`, nanoseconds since the Unix epoch.
    var captureTimeNanoseconds: Int64
    var flags: TokenFlags
}

/// The tokens one encoder pass produced for one stream, with their wire metadata. Immutable and shared: the
/// history ring and every subscriber's queue point at the same block, nothing is copied until a frame is written.
final class EncodedBlock: Sendable {
    /// `encoder` (count, P) and `embeddings` (count, D), row-major.
    let tokens: EncodedTokens
    /// (count,)
    let infos: [TokenInfo]

    init(tokens: EncodedTokens, infos: [TokenInfo]) {
        precondition(tokens.count == infos.count, "one TokenInfo per token")
        self.tokens = tokens
        self.infos = infos
    }

    var count: Int { infos.count }
}

/// One token: a row of a shared block.
struct TokenRecord: Sendable {
    let block: EncodedBlock
    let row: Int

    var info: TokenInfo { block.infos[row] }

    /// The whole `embedding` frame for this token.
    func frame(stream: UInt32, payload: PayloadType, output: OutputKind) -> [UInt8] {
        let info = self.info
        let header = EmbeddingHeader(stream: stream, token: info.index, firstSample: info.firstSample,
                                     captureTimeNanoseconds: info.captureTimeNanoseconds, flags: info.flags,
                                     payload: payload, output: output)
        let t = block.tokens
        let (values, width) = output == .embeddings ? (t.embeddings, t.embeddingWidth) : (t.encoder, t.encoderWidth)
        return values.withUnsafeBufferPointer { all in
            Embedding.encode(header, values: UnsafeBufferPointer(rebasing: all[(row * width)..<((row + 1) * width)]))
        }
    }
}
