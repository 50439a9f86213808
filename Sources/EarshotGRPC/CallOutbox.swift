import EarshotTypes
import GRPCCore
import Synchronization

/// A call's ``CallQueue`` behind a lock, fed by the backend from compute threads (``StreamReceiver``: never waits)
/// and drained by the call's one writer task (``next()``: suspends until there is something).
///
/// The writer sees nothing until ``open()``: a call writes its `started` response first, and tokens the backend
/// delivers before the call has its answer wait behind it. ``fail(_:)`` ends the call with an error; the writer gets
/// it from ``next()`` once (with ``failAfterQueued(_:)``, after what is queued). When the call ends, ``close()``
/// releases the credits of pushed tokens never written, and pushed tokens delivered afterwards are released at once,
/// so a stream's push budget never leaks.
package final class CallOutbox: StreamReceiver {
    private struct State {
        var queue: CallQueue
        var isOpen = false
        var isClosed = false
        var failure: (any Error)?
        /// The failure to give the writer once the queue is empty (``failAfterQueued(_:)``).
        var failureAfterQueued: (any Error)?
        var waiter: CheckedContinuation<CallItem?, any Error>?
        /// A live token was refused for lack of room: the subscription is skipped until ``onRoom`` is called.
        var stalled = false
        /// Resumes the call's subscription (set once it has one).
        var onRoom: (@Sendable (Int) -> Void)?
    }

    private let state: Mutex<State>

    package init(liveCapacity: Int, hardLimit: Int) {
        state = Mutex(State(queue: CallQueue(liveCapacity: liveCapacity, hardLimit: hardLimit)))
    }

    /// Live tokens dropped so far.
    package var droppedTotal: UInt64 { state.withLock { $0.queue.droppedTotal } }
    /// Items waiting to be written.
    package var pendingCount: Int { state.withLock { $0.queue.pendingCount } }

    /// What resumes the call's subscription once the caller has read half its queue, given the room for live tokens:
    /// the backend's subscription, which had a live token refused and skips the call until then.
    package func resumeWhenRoom(_ resume: @escaping @Sendable (Int) -> Void) {
        state.withLock { $0.onRoom = resume }
    }

    // MARK: StreamReceiver (compute threads)

    package func live(_ token: BackendToken) -> Bool { enqueue(.live(token)) }

    package func pushed(_ token: BackendToken, credit: any TokenCredit) { enqueue(.pushed(token, credit: credit)) }

    package func event(_ event: BackendEvent) { enqueue(.event(event)) }

    /// Queues `item`; false if it was refused (a live token with no room, or a call that has ended).
    @discardableResult
    private func enqueue(_ item: CallItem) -> Bool {
        enum Action { case none, refused, resume(CheckedContinuation<CallItem?, any Error>, CallItem), release(CallItem),
                      failWith(CheckedContinuation<CallItem?, any Error>?, any Error, [CallItem]) }
        let action: Action = state.withLock { s in
            if s.isClosed || s.failure != nil || s.failureAfterQueued != nil { return .release(item) }
            switch s.queue.push(item) {
            case .full:
                s.stalled = true
                return .refused
            case .enqueued:
                if s.isOpen, let waiter = s.waiter, let next = s.queue.pop() {
                    s.waiter = nil
                    return .resume(waiter, next)
                }
                return .none
            case .overLimit:
                let error = RPCError(code: .resourceExhausted,
                                     message: "the caller left \(s.queue.hardLimit) responses unread")
                s.failure = error
                let abandoned = s.queue.drain() + [item]
                let waiter = s.waiter
                s.waiter = nil
                return .failWith(waiter, error, abandoned)
            }
        }
        switch action {
        case .none: return true
        case .refused: return false
        case .resume(let waiter, let next):
            waiter.resume(returning: next)
            return true
        case .release(let item):
            Self.release([item])
            return false
        case .failWith(let waiter, let error, let abandoned):
            Self.release(abandoned)
            waiter?.resume(throwing: error)
            return false
        }
    }

    // MARK: The call's side

    /// Lets the writer see queued items (after the call wrote its `started`).
    package func open() {
        let resumed: (CheckedContinuation<CallItem?, any Error>, CallItem)? = state.withLock { s in
            s.isOpen = true
            if let waiter = s.waiter, let next = s.queue.pop() {
                s.waiter = nil
                return (waiter, next)
            }
            return nil
        }
        if let (waiter, next) = resumed { waiter.resume(returning: next) }
    }

    /// Ends the call with `error` (unless it has ended already): the writer's ``next()`` throws it.
    package func fail(_ error: any Error) {
        let (waiter, abandoned): (CheckedContinuation<CallItem?, any Error>?, [CallItem]) = state.withLock { s in
            guard !s.isClosed, s.failure == nil else { return (nil, []) }
            s.failure = error
            let waiter = s.waiter
            s.waiter = nil
            return (waiter, s.queue.drain())
        }
        Self.release(abandoned)
        waiter?.resume(throwing: error)
    }

    /// Ends the call with `error` once what is queued now has been written (the daemon stops: a subscriber gets
    /// what it was owed, then the status); later deliveries are dropped.
    package func failAfterQueued(_ error: any Error) {
        let (waiter, abandoned): (CheckedContinuation<CallItem?, any Error>?, [CallItem]) = state.withLock { s in
            guard !s.isClosed, s.failure == nil, s.failureAfterQueued == nil else { return (nil, []) }
            s.failureAfterQueued = error
            // A writer waits only with nothing it may write yet: then it is owed nothing.
            guard let waiter = s.waiter else { return (nil, []) }
            s.waiter = nil
            s.failure = error
            return (waiter, s.queue.drain())
        }
        Self.release(abandoned)
        waiter?.resume(throwing: error)
    }

    /// The call has ended: releases what was never written; later deliveries are released at once.
    package func close() {
        let (waiter, abandoned): (CheckedContinuation<CallItem?, any Error>?, [CallItem]) = state.withLock { s in
            s.isClosed = true
            s.onRoom = nil          // it holds the subscription, which holds this outbox
            let waiter = s.waiter
            s.waiter = nil
            return (waiter, s.queue.drain())
        }
        Self.release(abandoned)
        waiter?.resume(returning: nil)
    }

    /// The next item to write; nil once closed. Throws the failure given to ``fail(_:)``, or `CancellationError` if
    /// the task is cancelled while waiting. One writer at a time. A subscription skipped for lack of room is resumed
    /// once the caller has read half the queue.
    package func next() async throws -> CallItem? {
        let item = try await nextItem()
        let resume: (@Sendable (Int) -> Void, Int)? = state.withLock { s in
            guard s.stalled, s.queue.hasLiveRoom, !s.isClosed, s.failure == nil, let onRoom = s.onRoom else {
                return nil
            }
            s.stalled = false
            return (onRoom, s.queue.liveRoom)
        }
        if let (onRoom, room) = resume { onRoom(room) }
        return item
    }

    private func nextItem() async throws -> CallItem? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<CallItem?, any Error>) in
                enum Now { case item(CallItem?), error(any Error), wait }
                let now: Now = state.withLock { s in
                    if let failure = s.failure { return .error(failure) }
                    if s.isClosed { return .item(nil) }
                    if Task.isCancelled { return .error(CancellationError()) }
                    if s.isOpen, let item = s.queue.pop() { return .item(item) }
                    if let failure = s.failureAfterQueued {
                        s.failure = failure
                        return .error(failure)
                    }
                    precondition(s.waiter == nil, "CallOutbox has one writer")
                    s.waiter = continuation
                    return .wait
                }
                switch now {
                case .item(let item): continuation.resume(returning: item)
                case .error(let error): continuation.resume(throwing: error)
                case .wait: break
                }
            }
        } onCancel: {
            let waiter = state.withLock { s in
                let waiter = s.waiter
                s.waiter = nil
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Releases the credits of pushed tokens that will never be written.
    private static func release(_ items: [CallItem]) {
        for case .pushed(_, let credit) in items { credit.tokenSent() }
    }
}
