import EarshotTypes
import Synchronization

/// A transport's queue for one pushed stream: the socket's client outbox, or a gRPC call's queue. Called on compute
/// threads; never waits.
package protocol PushedStreamReceiver: AnyObject, Sendable {
    /// Queues `token`; the transport calls `credit.tokenSent()` once it is written. False if it could not be queued
    /// (the client is gone): the sink then gives the credit back itself.
    func pushed(_ token: TokenRecord, credit: ScheduledStream) -> Bool
    /// An event of the stream, `ended` included.
    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String)
}

/// Delivers a pushed stream's tokens to the client that pushed the audio, the same for every transport: tokens the
/// client's delivery options pass, each counted against the stream's push budget until written (never dropped);
/// events the options pass; and at the end `ended`, after which the sink lets go of the stream.
package final class PushedStreamSink: TokenSink {
    private let receiver: any PushedStreamReceiver
    /// Speech events and speech-only delivery.
    private let options: StreamOptions
    /// Told once the stream has ended, with the stream (nil if the client had already let go of it).
    private let onEnded: @Sendable (ScheduledStream?) -> Void
    /// Set once the scheduled stream exists; cleared at the end (it holds this sink: the cycle is broken there).
    private let stream = Mutex<ScheduledStream?>(nil)

    package init(receiver: any PushedStreamReceiver, options: StreamOptions = [],
                 onEnded: @escaping @Sendable (ScheduledStream?) -> Void) {
        self.receiver = receiver
        self.options = options
        self.onEnded = onEnded
    }

    package func attach(_ scheduled: ScheduledStream) {
        stream.withLock { $0 = scheduled }
    }

    /// Forgets the stream (its client went away); returns it if it was still attached.
    @discardableResult
    package func detach() -> ScheduledStream? {
        stream.withLock { $0.take() }
    }

    package func deliver(_ block: EncodedBlock) {
        guard let scheduled = stream.withLock({ $0 }) else { return }
        let rows = (0..<block.count).filter { options.receives(block.infos[$0].flags) }
        scheduled.tokensQueued(rows.count)
        for row in rows where !receiver.pushed(TokenRecord(block: block, row: row), credit: scheduled) {
            scheduled.tokenSent()   // never written: give the budget back
        }
    }

    package func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        guard options.receives(kind) else { return }
        receiver.event(kind, at: at, count: count, message: message)
    }

    package func ended(totalTokens: UInt64) {
        receiver.event(.ended, at: 0, count: totalTokens, message: "pushed stream flushed")
        onEnded(detach())
    }
}
