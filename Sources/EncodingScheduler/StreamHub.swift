import EarshotTypes
import Synchronization

/// A live stream's fan-out: keeps the last `historyCapacity` tokens and hands every new token to each subscriber.
/// Subscribers queue without waiting, so a slow one cannot delay capture, the encoder or anyone else.
package final class StreamHub: TokenSink {
    package let name: String
    package let historyCapacity: Int

    private struct State {
        /// Ring of recent tokens, oldest at `historyStart`.
        var history: [TokenRecord] = []
        var historyStart = 0
        var subscribers: [ObjectIdentifier: any StreamSubscriber] = [:]
        /// Index of the next token the stream will produce.
        var nextToken: UInt64 = 0
        var ended = false
        var totalTokens: UInt64 = 0
    }

    private let state = Mutex(State())

    package init(name: String, historyCapacity: Int) {
        self.name = name
        self.historyCapacity = max(0, historyCapacity)
    }

    /// Adds a subscriber and returns the index of the first token it will get. With `.oldest`, the held history is
    /// handed to it at once, under the same lock as live delivery, so nothing is missed or repeated. A stream that
    /// has ended hands over its history (if asked) and `ended`.
    /// `announce` runs first, under the lock, with that index: a transport queues its answer there, so the answer
    /// precedes every token.
    @discardableResult
    package func subscribe(_ subscriber: any StreamSubscriber, start: StartPoint,
                           announce: (UInt64) -> Void = { _ in }) -> UInt64 {
        state.withLock { s in
            let held = s.history.count
            let first = start == .oldest && held > 0 ? s.history[s.historyStart].info.index : s.nextToken
            announce(first)
            if start == .oldest {
                for k in 0..<held {
                    let record = s.history[(s.historyStart + k) % held]
                    if subscriber.options.receives(record.info.flags) { subscriber.receive(record, replayed: true) }
                }
            }
            if s.ended {
                subscriber.receive(.ended, at: 0, count: s.totalTokens, message: endedMessage)
            } else {
                s.subscribers[ObjectIdentifier(subscriber)] = subscriber
            }
            return first
        }
    }

    /// Removes a subscription and tells it `ended` with `reason` (if it was still subscribed).
    package func unsubscribe(_ subscriber: any StreamSubscriber, reason: String) {
        let removed = state.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) != nil }
        if removed { subscriber.receive(.ended, at: 0, count: tokensProduced, message: reason) }
    }

    /// Removes a subscription without telling it (its client is going away).
    package func remove(_ subscriber: any StreamSubscriber) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: ObjectIdentifier(subscriber)) }
    }

    package var subscriberCount: Int { state.withLock { $0.subscribers.count } }
    package var tokensProduced: UInt64 { state.withLock { $0.nextToken } }
    package var hasEnded: Bool { state.withLock { $0.ended } }

    private var endedMessage: String { "stream '\(name)' has ended" }

    // MARK: TokenSink (compute threads)

    package func deliver(_ block: EncodedBlock) {
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
                for subscriber in s.subscribers.values where subscriber.options.receives(record.info.flags) {
                    subscriber.receive(record, replayed: false)
                }
            }
            if let last = block.infos.last { s.nextToken = last.index + 1 }
        }
    }

    package func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        state.withLock { s in
            for subscriber in s.subscribers.values where subscriber.options.receives(kind) {
                subscriber.receive(kind, at: at, count: count, message: message)
            }
        }
    }

    package func ended(totalTokens: UInt64) {
        state.withLock { s in
            s.ended = true
            s.totalTokens = totalTokens
            for subscriber in s.subscribers.values {
                subscriber.receive(.ended, at: 0, count: totalTokens, message: endedMessage)
            }
            s.subscribers.removeAll()
        }
    }
}
