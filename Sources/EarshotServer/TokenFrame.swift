import EncodingScheduler
import WireProtocol

extension TokenRecord {
    /// The whole `embedding` frame for this token.
    func frame(stream: UInt32, payload: PayloadType, output: OutputKind) -> [UInt8] {
        let info = self.info
        let header = EmbeddingHeader(stream: stream, token: info.index, firstSample: info.firstSample,
                                     captureTimeNanoseconds: info.captureTimeNanoseconds, flags: info.flags,
                                     payload: payload, output: output)
        return withValues(output) { Embedding.encode(header, values: $0) }
    }
}
