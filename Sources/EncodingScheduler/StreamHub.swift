import EarshotTypes
import Synchronization

/// A live stream's fan-out: keeps the last `historyCapacity` tokens and hands every new token to each subscriber that
/// keeps up. Subscribers queue without waiting, so a slow one cannot delay capture, the encoder or anyone else.
///
/// **Lagging subscribers are skipped.** A subscriber with no room for a token (its client reads too slowly) refuses
/// it; the hub then marks it lagging and skips it — no work per token — until its transport calls
/// ``resume(_:room:)`` (the client has read enough). Then it gets the newest tokens it missed that the history still
/// holds, as many as fit, after a `lagged` event counting the ones it lost (those its options pass) and naming the
/// first; then live tokens again. So a client that reads again gets the freshest audio, and fan-out costs
/// O(tokens × subscribers that keep up + tokens resent), whatever the stalled ones do. Events (rare) still reach
/// every subscriber; a stream that ends while a subscriber lags tells it `ended` when it resumes.
package final class StreamHub: TokenSink {
    package let name: String
    package let historyCapacity: Int

    /// Where a lagging subscriber's gap began, and how to count what it has missed since.
    private struct Lag {
        var firstToken: UInt64
        /// Tokens missed before the snapshot below.
        var missed: UInt64
        /// ``State/passed(_:)`` when it began lagging.
        var passedAt: UInt64
    }

    private struct State {
        /// Ring of recent tokens, oldest at `historyStart`.
        var history: [TokenRecord] = []
        var historyStart = 0
        /// Subscribers that keep up: each new token goes to them.
        var active: [ObjectIdentifier: any StreamSubscriber] = [:]
        /// Subscribers skipped until they resume.
        var lagging: [ObjectIdentifier: (subscriber: any StreamSubscriber, lag: Lag)] = [:]
        /// Index of the next token the stream will produce (= tokens so far).
        var nextToken: UInt64 = 0
        /// Tokens flagged `speech` so far.
        var speechTokens: UInt64 = 0
        var ended = false
        var totalTokens: UInt64 = 0
        /// Token offers made to subscribers (a test hook: the fan-out's work).
        var offers = 0

        /// Tokens so far that a subscriber with `options` receives.
        func passed(_ options: StreamOptions) -> UInt64 { options.contains(.speechOnly) ? speechTokens : nextToken }

        var allSubscribers: [any StreamSubscriber] { Array(active.values) + lagging.values.map(\.subscriber) }

        /// Forgets a subscriber; false if it was not subscribed.
        mutating func remove(_ id: ObjectIdentifier) -> Bool {
            active.removeValue(forKey: id) != nil || lagging.removeValue(forKey: id) != nil
        }

        /// The newest held tokens from `first` on that a subscriber with `options` receives, at most `limit`,
        /// oldest first.
        func newestHeld(from first: UInt64, passing options: StreamOptions, limit: Int) -> [TokenRecord] {
            var picked: [TokenRecord] = []
            var k = history.count - 1
            while k >= 0 && picked.count < limit {
                let record = history[(historyStart + k) % history.count]
                if record.info.index < first { break }
                if options.receives(record.info.flags) { picked.append(record) }
                k -= 1
            }
            return picked.reversed()
        }
    }

    private let state = Mutex(State())

    package init(name: String, historyCapacity: Int) {
        self.name = name
        self.historyCapacity = max(0, historyCapacity)
    }

    /// Adds a subscriber and returns the index of the first token it will get. With `.oldest`, the held history is
    /// handed to it at once, under the same lock as live delivery, so nothing is missed or repeated (history it has
    /// no room for counts as missed: it starts lagging). A stream that has ended hands over its history (if asked)
    /// and `ended`.
    /// `announce` runs first, under the lock, with that index: a transport queues its answer there, so the answer
    /// precedes every token.
    @discardableResult
    package func subscribe(_ subscriber: any StreamSubscriber, start: StartPoint,
                           announce: (UInt64) -> Void = { _ in }) -> UInt64 {
        state.withLock { s in
            let held = s.history.count
            let first = start == .oldest && held > 0 ? s.history[s.historyStart].info.index : s.nextToken
            announce(first)
            var lag: Lag?
            if start == .oldest {
                for k in 0..<held {
                    let record = s.history[(s.historyStart + k) % held]
                    guard subscriber.options.receives(record.info.flags) else { continue }
                    if lag != nil {
                        lag!.missed += 1
                    } else {
                        s.offers += 1
                        if !subscriber.receive(record, replayed: true) {
                            lag = Lag(firstToken: record.info.index, missed: 1,
                                      passedAt: s.passed(subscriber.options))
                        }
                    }
                }
            }
            if let lag {
                s.lagging[ObjectIdentifier(subscriber)] = (subscriber, lag)
            } else if s.ended {
                subscriber.receive(.ended, at: 0, count: s.totalTokens, message: endedMessage)
            } else {
                s.active[ObjectIdentifier(subscriber)] = subscriber
            }
            return first
        }
    }

    /// A lagging subscriber has room again for `room` tokens: it gets the newest of the tokens it missed that the
    /// history still holds (at most `room`), after a `lagged` event counting the ones it lost, if any; then live
    /// tokens (or, if the stream has ended meanwhile, `ended`). Does nothing for a subscriber that is not lagging.
    package func resume(_ subscriber: any StreamSubscriber, room: Int) {
        state.withLock { s in
            let id = ObjectIdentifier(subscriber)
            guard let (subscriber, lag) = s.lagging.removeValue(forKey: id) else { return }
            let options = subscriber.options
            let missed = lag.missed + s.passed(options) - lag.passedAt
            let resent = s.newestHeld(from: lag.firstToken, passing: options, limit: max(0, room))
            let lost = missed - UInt64(resent.count)
            if lost > 0 {
                subscriber.receive(.lagged, at: Int64(lag.firstToken), count: lost, message: Self.laggedMessage(lost))
            }
            for (k, record) in resent.enumerated() {
                s.offers += 1
                if !subscriber.receive(record, replayed: true) {
                    // Room shrank meanwhile: lagging again, from this token.
                    s.lagging[id] = (subscriber, Lag(firstToken: record.info.index, missed: UInt64(resent.count - k),
                                                     passedAt: s.passed(options)))
                    return
                }
            }
            if s.ended {
                subscriber.receive(.ended, at: 0, count: s.totalTokens, message: endedMessage)
            } else {
                s.active[id] = subscriber
            }
        }
    }

    /// Removes a subscription and tells it `ended` with `reason` (if it was still subscribed).
    package func unsubscribe(_ subscriber: any StreamSubscriber, reason: String) {
        let removed = state.withLock { $0.remove(ObjectIdentifier(subscriber)) }
        if removed { subscriber.receive(.ended, at: 0, count: tokensProduced, message: reason) }
    }

    /// Removes a subscription without telling it (its client is going away).
    package func remove(_ subscriber: any StreamSubscriber) {
        _ = state.withLock { $0.remove(ObjectIdentifier(subscriber)) }
    }

    package var subscriberCount: Int { state.withLock { $0.active.count + $0.lagging.count } }
    /// Subscribers skipped until they read again.
    package var laggingCount: Int { state.withLock { $0.lagging.count } }
    package var tokensProduced: UInt64 { state.withLock { $0.nextToken } }
    package var hasEnded: Bool { state.withLock { $0.ended } }
    /// Tokens offered to subscribers so far (history replays included): the fan-out's work, for tests.
    package var tokenOffers: Int { state.withLock { $0.offers } }

    private var endedMessage: String { "stream '\(name)' has ended" }

    static func laggedMessage(_ count: UInt64) -> String { "you read too slowly: \(count) frames dropped" }

    // MARK: TokenSink (compute threads)

    package func deliver(_ block: EncodedBlock) {
        state.withLock { s in
            var refused: [ObjectIdentifier] = []
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
                s.nextToken = record.info.index + 1
                if record.info.flags.contains(.speech) { s.speechTokens += 1 }
                for (id, subscriber) in s.active where subscriber.options.receives(record.info.flags) {
                    s.offers += 1
                    if !subscriber.receive(record, replayed: false) { refused.append(id) }
                }
                for id in refused {
                    guard let subscriber = s.active.removeValue(forKey: id) else { continue }
                    s.lagging[id] = (subscriber, Lag(firstToken: record.info.index, missed: 1,
                                                     passedAt: s.passed(subscriber.options)))
                }
                refused.removeAll(keepingCapacity: true)
            }
        }
    }

    package func event(_ kind: EventKind, at: Int64, count: UInt64, message: String) {
        state.withLock { s in
            for subscriber in s.allSubscribers where subscriber.options.receives(kind) {
                subscriber.receive(kind, at: at, count: count, message: message)
            }
        }
    }

    package func ended(totalTokens: UInt64) {
        state.withLock { s in
            s.ended = true
            s.totalTokens = totalTokens
            for subscriber in s.active.values {
                subscriber.receive(.ended, at: 0, count: totalTokens, message: endedMessage)
            }
            // Lagging subscribers hear the end when they resume, after the newest tokens.
            s.active.removeAll()
        }
    }
}
