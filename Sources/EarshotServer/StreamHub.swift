import Synchronization
import WireProtocol

/// A live stream's fan-out: keeps the last `historyCapacity` tokens and hands every new token to each subscriber's
/// outbox. Pushing into an outbox never waits, so a slow subscriber cannot delay capture, the encoder or anyone else.
final class StreamHub: TokenSink {
    let name: String
    let historyCapacity: Int

    struct Subscriber {
        let outbox: ClientOutbox
        /// The id this subscription has on its connection.
        let stream: UInt32
        let payload: PayloadType
        let output: OutputKind
        /// Speech events and speech-only delivery.
        var options: StreamOptions = []
    }

    private struct State {
        /// Ring of recent tokens, oldest at `historyStart`.
        var history: [TokenRecord] = []
        var historyStart = 0
        var subscribers: [ObjectIdentifier: [Subscriber]] = [:]
        /// Index of the next token the stream will produce.
        var nextToken: UInt64 = 0
        var ended = false
        var totalTokens: UInt64 = 0
    }

    private let state = Mutex(State())

    init(name: String, historyCapacity: Int) {
        self.name = name
        self.historyCapacity = max(0, historyCapacity)
    }

    /// Adds a subscriber and returns the index of the first token it will get. With `.oldest`, the held history is
    /// queued for it at once, under the same lock as live delivery, so nothing is missed or repeated.
    /// A stream that has ended queues its history (if asked) and an `ended` event.
    /// `announce` runs first, under the lock, with that index: the connection queues its `subscribed` answer there,
    /// so the answer precedes every token.
    @discardableResult
    func subscribe(_ subscriber: Subscriber, start: StartPoint, announce: (UInt64) -> Void = { _ in }) -> UInt64 {
        state.withLock { s in
            let held = s.history.count
            let first = start == .oldest && held > 0 ? s.history[s.historyStart].info.index : s.nextToken
            announce(first)
            if start == .oldest {
                for k in 0..<held {
                    let record = s.history[(s.historyStart + k) % held]
                    guard subscriber.options.receives(record.info.flags) else { continue }
                    subscriber.outbox.push(.live(stream: subscriber.stream, record: record,
                                                 payload: subscriber.payload, output: subscriber.output))
                }
            }
            if s.ended {
                subscriber.outbox.push(.message(.event(StreamEvent(stream: subscriber.stream, kind: .ended,
                                                                   count: s.totalTokens,
                                                                   message: "stream '\(name)' has ended"))))
            } else {
                s.subscribers[ObjectIdentifier(subscriber.outbox), default: []].append(subscriber)
            }
            return first
        }
    }

    /// Removes a subscription; queues `ended` for it with `reason`.
    func unsubscribe(outbox: ClientOutbox, stream: UInt32, reason: String) {
        let removed: Bool = state.withLock { s in
            let key = ObjectIdentifier(outbox)
            guard var list = s.subscribers[key], let i = list.firstIndex(where: { $0.stream == stream }) else {
                return false
            }
            list.remove(at: i)
            s.subscribers[key] = list.isEmpty ? nil : list
            return true
        }
        if removed {
            outbox.push(.message(.event(StreamEvent(stream: stream, kind: .ended, count: tokensProduced,
                                                    message: reason))))
        }
    }

    /// Removes every subscription of a connection that is going away (nothing is queued for it).
    func removeAll(of outbox: ClientOutbox) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(outbox)) }
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.values.reduce(0) { $0 + $1.count } } }
    var tokensProduced: UInt64 { state.withLock { $0.nextToken } }
    var hasEnded: Bool { state.withLock { $0.ended } }

    // MARK: TokenSink (compute threads)

    func deliver(_ block: EncodedBlock) {
        state.withLock { s in
            for row in 0..<block.count {
                let record = TokenRecord(block: block, row: row)
                if historyCapacity > 0 {
                    if s.history.count < historyCapacity {
                        s.history.append(record)
                    } else {
                        s.history[s.historyStart] = record
                        s.historyStart = (s.historyStart + 1) % historyCapacity
                    }
                }
                for list in s.subscribers.values {
                    for sub in list where sub.options.receives(record.info.flags) {
                        sub.outbox.push(.live(stream: sub.stream, record: record, payload: sub.payload, output: sub.output))
                    }
                }
            }
            if let last = block.infos.last { s.nextToken = last.index + 1 }
        }
    }

    func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        state.withLock { s in
            for list in s.subscribers.values {
                for sub in list where sub.options.receives(kind) {
                    sub.outbox.push(.message(.event(StreamEvent(stream: sub.stream, kind: kind, at: at, count: count,
                                                                message: message))))
                }
            }
        }
    }

    func ended(totalTokens: UInt64) {
        state.withLock { s in
            s.ended = true
            s.totalTokens = totalTokens
            for list in s.subscribers.values {
                for sub in list {
                    sub.outbox.push(.message(.event(StreamEvent(stream: sub.stream, kind: .ended, count: totalTokens,
                                                                message: "stream '\(name)' has ended"))))
                }
            }
            s.subscribers.removeAll()
        }
    }
}
