import Synchronization

/// The locked home of one connection's ``OutboxQueue``: hubs, the scheduler and the reader push from any thread
/// without ever waiting; the connection's writer task takes items one at a time.
final class ClientOutbox: Sendable {
    private struct State {
        var queue: OutboxQueue
        var waiter: CheckedContinuation<OutboxItem?, Never>?
        /// `finish()` was called: deliver what is queued, then nil.
        var finishing = false
        /// `close()` was called or the hard limit was hit: deliver nothing more.
        var closed = false
        var overflowed = false
    }

    private let state: Mutex<State>

    init(liveCapacity: Int, hardLimit: Int) {
        state = Mutex(State(queue: OutboxQueue(liveCapacity: liveCapacity, hardLimit: hardLimit)))
    }

    /// Queues `item`. Returns false if the outbox is closed, or has just closed because the client lets
    /// undroppable items pile up (see ``OutboxQueue``).
    @discardableResult
    func push(_ item: OutboxItem) -> Bool {
        let (accepted, resume): (Bool, (CheckedContinuation<OutboxItem?, Never>, OutboxItem?)?) = state.withLock { s in
            guard !s.closed && !s.finishing else { return (false, nil) }
            if s.queue.push(item) == .overLimit {
                s.overflowed = true
                s.closed = true
                s.queue.removeAll()
                return (false, s.waiter.take().map { ($0, nil) })
            }
            guard let waiter = s.waiter.take() else { return (true, nil) }
            return (true, (waiter, s.queue.pop()))
        }
        if let (continuation, next) = resume { continuation.resume(returning: next) }
        return accepted
    }

    /// The next item to write; nil once finished and drained, or closed. One caller at a time (the writer).
    /// Cancellation returns nil.
    func next() async -> OutboxItem? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<OutboxItem?, Never>) in
                let immediate: OutboxItem?? = state.withLock { s in
                    if s.closed { return .some(nil) }
                    if let item = s.queue.pop() { return .some(item) }
                    if s.finishing { return .some(nil) }
                    precondition(s.waiter == nil, "one writer per outbox")
                    s.waiter = continuation
                    return .none
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                s.closed = true
                return s.waiter.take()
            }
            waiter?.resume(returning: nil)
        }
    }

    /// No more items will be pushed: the writer gets what is queued, then nil.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<OutboxItem?, Never>? in
            s.finishing = true
            return s.queue.isEmpty ? s.waiter.take() : nil
        }
        waiter?.resume(returning: nil)
    }

    /// Discards everything queued; the writer gets nil.
    func close() {
        let waiter = state.withLock { s -> CheckedContinuation<OutboxItem?, Never>? in
            s.closed = true
            s.queue.removeAll()
            return s.waiter.take()
        }
        waiter?.resume(returning: nil)
    }

    /// Queued items right now.
    var pendingCount: Int { state.withLock { $0.queue.pendingCount } }
    /// Live tokens dropped for this client so far.
    var droppedTotal: UInt64 { state.withLock { $0.queue.droppedTotal } }
    /// True if the outbox closed itself because undroppable items piled up.
    var overflowed: Bool { state.withLock { $0.overflowed } }
    var isClosed: Bool { state.withLock { $0.closed } }
}
