import Synchronization

/// The bounded queue between the connection's reader and the one consumer of ``EarshotConnection/messages``.
/// Policy: **bounded, backpressure**. When `capacity` messages wait, the reader stops, the socket stops being read,
/// and the server skips this client's live subscriptions until it reads again (it says what was lost with a `lagged`
/// event). Nothing is dropped here.
final class MessageBuffer: Sendable {
    private struct State {
        var items: [EarshotMessage] = []
        var head = 0
        var consumer: CheckedContinuation<EarshotMessage?, any Error>?
        var producer: CheckedContinuation<Void, Never>?
        var finished = false
        var failure: EarshotError?
        var count: Int { items.count - head }
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Appends `message`; waits while the buffer is full. Returns at once after `finish`.
    func send(_ message: EarshotMessage) async {
        let consumer: CheckedContinuation<EarshotMessage?, any Error>? = state.withLock { s in
            guard !s.finished else { return nil }
            if let waiting = s.consumer.take() { return waiting }
            s.items.append(message)
            return nil
        }
        if let consumer {
            consumer.resume(returning: message)
            return
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let wait: Bool = state.withLock { s in
                guard !s.finished, s.count >= capacity else { return false }
                s.producer = continuation
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    /// No more messages: the consumer gets what is queued, then the end (or `failure`).
    func finish(failure: EarshotError?) {
        let (consumer, producer) = state.withLock { s in
            guard !s.finished else {
                return (CheckedContinuation<EarshotMessage?, any Error>?.none, CheckedContinuation<Void, Never>?.none)
            }
            s.finished = true
            s.failure = failure
            return (s.consumer.take(), s.producer.take())
        }
        producer?.resume()
        if let consumer {
            if let failure { consumer.resume(throwing: failure) } else { consumer.resume(returning: nil) }
        }
    }

    /// The next message; nil at the end. One consumer at a time.
    func next() async throws -> EarshotMessage? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<EarshotMessage?, any Error>) in
                enum Outcome { case message(EarshotMessage), end, failure(EarshotError), wait }
                let (outcome, producer): (Outcome, CheckedContinuation<Void, Never>?) = state.withLock { s in
                    if s.head < s.items.count {
                        let message = s.items[s.head]
                        s.head += 1
                        if s.head >= 64 && s.head * 2 >= s.items.count {
                            s.items.removeSubrange(0..<s.head)
                            s.head = 0
                        }
                        return (.message(message), s.count < capacity ? s.producer.take() : nil)
                    }
                    if s.finished { return (s.failure.map { .failure($0) } ?? .end, nil) }
                    if Task.isCancelled { return (.end, nil) }
                    precondition(s.consumer == nil, "EarshotConnection.messages has one consumer at a time")
                    s.consumer = continuation
                    return (.wait, s.producer.take())
                }
                producer?.resume()
                switch outcome {
                case .message(let m): continuation.resume(returning: m)
                case .end: continuation.resume(returning: nil)
                case .failure(let e): continuation.resume(throwing: e)
                case .wait: break
                }
            }
        } onCancel: {
            let consumer = state.withLock { $0.consumer.take() }
            consumer?.resume(throwing: CancellationError())
        }
    }
}
