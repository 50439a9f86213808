import EncodingScheduler
import Synchronization
import WireProtocol

/// Delivers a pushed stream's tokens to the connection that pushed the audio: never dropped, counted against the
/// stream's push budget until written.
final class PushedStreamSink: TokenSink {
    let outbox: ClientOutbox
    /// The stream's id on its connection.
    let stream: UInt32
    let payload: PayloadType
    let output: OutputKind
    /// Speech events and speech-only delivery.
    let options: StreamOptions
    private let onEnded: @Sendable (UInt32) -> Void
    /// Set once the scheduled stream exists; cleared at the end (it holds this sink: the cycle is broken there).
    private let credit = Mutex<ScheduledStream?>(nil)

    init(outbox: ClientOutbox, stream: UInt32, payload: PayloadType, output: OutputKind, options: StreamOptions = [],
         onEnded: @escaping @Sendable (UInt32) -> Void) {
        self.options = options
        self.outbox = outbox
        self.stream = stream
        self.payload = payload
        self.output = output
        self.onEnded = onEnded
    }

    func attach(_ scheduled: ScheduledStream) {
        credit.withLock { $0 = scheduled }
    }

    /// Forgets the scheduled stream (connection gone).
    func detach() {
        credit.withLock { $0 = nil }
    }

    func deliver(_ block: EncodedBlock) {
        guard let scheduled = credit.withLock({ $0 }) else { return }
        let rows = (0..<block.count).filter { options.receives(block.infos[$0].flags) }
        scheduled.tokensQueued(rows.count)
        for row in rows {
            let record = TokenRecord(block: block, row: row)
            if !outbox.push(.pushed(stream: stream, record: record, payload: payload, output: output,
                                    credit: scheduled)) {
                scheduled.tokenSent()   // never written: give the budget back
            }
        }
    }

    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        guard options.receives(kind) else { return }
        outbox.push(.message(.event(StreamEvent(stream: stream, kind: kind, at: at, count: count, message: message))))
    }

    func ended(totalTokens: UInt64) {
        outbox.push(.message(.event(StreamEvent(stream: stream, kind: .ended, count: totalTokens,
                                                message: "pushed stream flushed"))))
        detach()
        onEnded(stream)
    }
}
