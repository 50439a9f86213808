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
        /// Subscriptions refused a live token for lack of room, to resume once the client has read enough.
        var stalled: [ObjectIdentifier: OutboxSubscriber] = [:]
    }

    private let state: Mutex<State>

    init(liveCapacity: Int, hardLimit: Int) {
        state = Mutex(State(queue: OutboxQueue(liveCapacity: liveCapacity, hardLimit: hardLimit)))
    }

    /// Queues `item`. Returns false if the outbox is closed, if it has just closed because the client lets
    /// undroppable items pile up, or for a live token with no room (see ``OutboxQueue``): then `subscriber` is
    /// resumed (``OutboxSubscriber/resume()``) once the client has read enough.
    @discardableResult
    func push(_ item: OutboxItem, from subscriber: OutboxSubscriber? = nil) -> Bool {
        let (accepted, resume): (Bool, (CheckedContinuation<OutboxItem?, Never>, OutboxItem?)?) = state.withLock { s in
            guard !s.closed && !s.finishing else { return (false, nil) }
            switch s.queue.push(item) {
            case .enqueued: break
            case .full:
                if let subscriber { s.stalled[ObjectIdentifier(subscriber)] = subscriber }
                return (false, nil)
            case .overLimit:
                s.overflowed = true
                s.closed = true
                s.queue.removeAll()
                s.stalled.removeAll()
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
        let item = await nextItem()
        let resumable: [OutboxSubscriber] = state.withLock { s in
            guard !s.stalled.isEmpty, s.queue.hasLiveRoom, !s.closed else { return [] }
            defer { s.stalled.removeAll() }
            return Array(s.stalled.values)
        }
        for subscriber in resumable { subscriber.resume() }
        return item
    }

    private func nextItem() async -> OutboxItem? {
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
            s.stalled.removeAll()
            return s.waiter.take()
        }
        waiter?.resume(returning: nil)
    }

    /// Live tokens that fit now.
    var liveRoom: Int { state.withLock { $0.queue.liveRoom } }
    /// Queued items right now.
    var pendingCount: Int { state.withLock { $0.queue.pendingCount } }
    /// Live tokens this client lost (reported to it in `lagged` events) so far.
    var droppedTotal: UInt64 { state.withLock { $0.queue.droppedTotal } }
    /// True if the outbox closed itself because undroppable items piled up.
    var overflowed: Bool { state.withLock { $0.overflowed } }
    var isClosed: Bool { state.withLock { $0.closed } }
}
