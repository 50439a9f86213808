import EarshotTypes
import EncodingScheduler

/// One token as a session hands it to its transport: a row of a shared encoded block (nothing is copied until the
/// transport encodes it), and, for a pushed token, the push-budget credit it holds until written.
package struct SessionToken: Sendable {
    package let record: TokenRecord
    /// From the stream's held history at subscription, not sent as it was encoded (not counted in latency).
    package let replayed: Bool
    /// A pushed token's share of its stream's push budget; nil for a live token.
    package let credit: (any TokenCredit)?

    package init(_ record: TokenRecord, replayed: Bool = false, credit: (any TokenCredit)? = nil) {
        self.record = record
        self.replayed = replayed
        self.credit = credit
    }

    package var info: TokenInfo { record.info }

    /// `width` values of `output`, for the transport's encoder.
    package func withValues<R>(_ output: OutputKind, _ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        try record.withValues(output, body)
    }

    /// The values of `output` as `payload`, little-endian: the bytes after the header of the socket's `embedding`
    /// frame, so every transport sends the same bits.
    package func encoded(_ output: OutputKind, as payload: PayloadType) -> [UInt8] {
        withValues(output) { payload.encoded($0) }
    }

    /// Values per token in `output`.
    package func width(of output: OutputKind) -> Int {
        output == .embeddings ? record.block.tokens.embeddingWidth : record.block.tokens.encoderWidth
    }
}
