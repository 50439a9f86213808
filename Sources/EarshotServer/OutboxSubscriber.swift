import EncodingScheduler
import WireProtocol

/// One subscription of a socket client to a live stream: queues the hub's tokens and events on the connection's
/// outbox, under the subscription's id, payload and output. A token the outbox has no room for is refused (the hub
/// skips this subscription); the outbox calls ``resume()`` once the client has read enough.
final class OutboxSubscriber: StreamSubscriber {
    let outbox: ClientOutbox
    /// The stream it follows (weak: the hub holds its subscribers).
    weak let hub: StreamHub?
    /// The id this subscription has on its connection.
    let stream: UInt32
    let payload: PayloadType
    let output: OutputKind
    let options: StreamOptions

    init(outbox: ClientOutbox, hub: StreamHub?, stream: UInt32, payload: PayloadType, output: OutputKind,
         options: StreamOptions = []) {
        self.outbox = outbox
        self.hub = hub
        self.stream = stream
        self.payload = payload
        self.output = output
        self.options = options
    }

    func receive(_ token: TokenRecord, replayed: Bool) -> Bool {
        outbox.push(.live(stream: stream, record: token, payload: payload, output: output, replayed: replayed),
                    from: self)
    }

    /// The client has read enough: the hub may send again (after a `lagged` event).
    func resume() {
        hub?.resume(self, room: outbox.liveRoom)
    }

    func receive(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        outbox.push(.message(.event(StreamEvent(stream: stream, kind: kind, at: at, count: count, message: message))))
    }
}

/// A socket client's pushed stream: its tokens and events queued on the connection's outbox under the stream's id,
/// payload and output.
final class OutboxPushReceiver: PushedStreamReceiver {
    let outbox: ClientOutbox
    /// The stream's id on its connection.
    let stream: UInt32
    let payload: PayloadType
    let output: OutputKind

    init(outbox: ClientOutbox, stream: UInt32, payload: PayloadType, output: OutputKind) {
        self.outbox = outbox
        self.stream = stream
        self.payload = payload
        self.output = output
    }

    func pushed(_ token: TokenRecord, credit: ScheduledStream) -> Bool {
        outbox.push(.pushed(stream: stream, record: token, payload: payload, output: output, credit: credit))
    }

    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        outbox.push(.message(.event(StreamEvent(stream: stream, kind: kind, at: at, count: count, message: message))))
    }
}
