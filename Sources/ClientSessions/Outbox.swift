import EarshotTypes
import QueuePolicies
import Synchronization

/// What a transport queues for its client: its own frames, told apart by the ``SendQueue`` policy.
package protocol OutboxItem: SendQueueItem, Sendable {
    /// A pushed token's credit, released by the outbox if the item is never written.
    var credit: (any TokenCredit)? { get }
}

/// Something the outbox resumes once its client has read enough: a subscription that had a live token refused.
package protocol Resumable: AnyObject, Sendable {
    func resume(room: Int)
}

/// The outbox closed itself: its client left more than `hardLimit` undroppable items unread (it sends requests or
/// pushes audio but never reads the answers).
package struct OutboxOverflow: Error, Sendable, CustomStringConvertible {
    package var hardLimit: Int
    package var description: String { "the client left \(hardLimit) answers unread" }
}

/// One client's send queue behind a lock, for every transport: the session's deliveries push from compute threads
/// and never wait; the client's one writer task takes items in order with ``next()``.
///
/// The policy is ``SendQueue``'s: a live token with no room is refused and its subscription skipped until the client
/// has read half the queue (then ``Resumable/resume(room:)``, and the hub sends `lagged`); anything else is kept up to
/// a hard limit, past which the outbox ends with ``OutboxOverflow``. A pushed token never written has its credit
/// released here, so a push budget never leaks.
///
/// Ends: ``finish()`` (the writer gets what is queued, then nil), ``close()`` (nothing more), ``fail(_:)`` (the writer
/// gets the error at once), ``failAfterQueued(_:)`` (the error after what is queued now). An outbox made closed to
/// the writer (`open: false`) shows nothing until ``open()``: a gRPC call writes its `started` first.
package final class Outbox<Item: OutboxItem>: Sendable {
    private struct State {
        var queue: SendQueue<Item>
        var waiter: CheckedContinuation<Item?, any Error>?
        var isOpen: Bool
        /// `finish()`: deliver what is queued, then nil.
        var finishing = false
        /// `close()`: deliver nothing more.
        var closed = false
        var failure: (any Error)?
        /// The failure to give the writer once the queue is empty.
        var failureAfterQueued: (any Error)?
        /// Receivers refused a live token for lack of room, to resume once the client has read enough.
        var stalled: [ObjectIdentifier: any Resumable] = [:]

        /// Takes no more items.
        var isShut: Bool { closed || finishing || failure != nil || failureAfterQueued != nil }
    }

    private let state: Mutex<State>

    /// What ``push(_:stalled:)`` does once the lock is released.
    private enum PushAction {
        case none, refused, release
        case wake(CheckedContinuation<Item?, any Error>, Item)
        case overflow(CheckedContinuation<Item?, any Error>?, [Item], OutboxOverflow)
    }

    /// What the writer's ``next()`` gets now.
    private enum NextAction {
        case item(Item?), error(any Error), wait
    }

    package init(liveCapacity: Int, hardLimit: Int, open: Bool = true) {
        state = Mutex(State(queue: SendQueue(liveCapacity: liveCapacity, hardLimit: hardLimit), isOpen: open))
    }

    /// Queues `item`. Returns false if it was not queued: the outbox has ended (a pushed token's credit is then
    /// released), or a live token found no room, and then `stalled` is resumed once the client has read enough.
    @discardableResult
    package func push(_ item: Item, stalled: (any Resumable)? = nil) -> Bool {
        let action: PushAction = state.withLock { s in
            if s.isShut { return .release }
            switch s.queue.push(item) {
            case .full:
                if let stalled { s.stalled[ObjectIdentifier(stalled)] = stalled }
                return .refused
            case .enqueued:
                guard s.isOpen, let waiter = s.waiter.take(), let next = s.queue.pop() else { return .none }
                return .wake(waiter, next)
            case .overLimit:
                let overflow = OutboxOverflow(hardLimit: s.queue.hardLimit)
                s.failure = overflow
                s.stalled.removeAll()
                return .overflow(s.waiter.take(), s.queue.drain(), overflow)
            }
        }
        switch action {
        case .none: return true
        case .refused: return false
        case .wake(let waiter, let next):
            waiter.resume(returning: next)
            return true
        case .release:
            Self.release([item])
            return false
        case .overflow(let waiter, let abandoned, let overflow):
            Self.release(abandoned + [item])
            waiter?.resume(throwing: overflow)
            return false
        }
    }

    /// The next item to write; nil once finished and drained, or closed. Throws the outbox's failure
    /// (``OutboxOverflow``, or what ``fail(_:)`` was given), or `CancellationError` if the task is cancelled while
    /// it waits. One writer at a time.
    package func next() async throws -> Item? {
        let item = try await nextItem()
        let (resumable, room): ([any Resumable], Int) = state.withLock { s in
            guard !s.stalled.isEmpty, s.queue.hasLiveRoom, !s.isShut else { return ([], 0) }
            defer { s.stalled.removeAll() }
            return (Array(s.stalled.values), s.queue.liveRoom)
        }
        for receiver in resumable { receiver.resume(room: room) }
        return item
    }

    private func nextItem() async throws -> Item? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Item?, any Error>) in
                let now: NextAction = state.withLock { s in
                    if let failure = s.failure { return .error(failure) }
                    if s.closed { return .item(nil) }
                    if Task.isCancelled { return .error(CancellationError()) }
                    if s.isOpen, let item = s.queue.pop() { return .item(item) }
                    if let failure = s.failureAfterQueued {
                        s.failure = failure
                        return .error(failure)
                    }
                    if s.finishing { return .item(nil) }
                    precondition(s.waiter == nil, "an outbox has one writer")
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
            state.withLock { $0.waiter.take() }?.resume(throwing: CancellationError())
        }
    }

    /// Lets the writer see queued items.
    package func open() {
        let wake: (CheckedContinuation<Item?, any Error>, Item)? = state.withLock { s in
            s.isOpen = true
            guard s.waiter != nil, let next = s.queue.pop() else { return nil }
            return (s.waiter.take()!, next)
        }
        if let (waiter, next) = wake { waiter.resume(returning: next) }
    }

    /// No more items: the writer gets what is queued, then nil.
    package func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Item?, any Error>? in
            s.finishing = true
            return s.queue.isEmpty ? s.waiter.take() : nil
        }
        waiter?.resume(returning: nil)
    }

    /// Ends the outbox with `error` (unless it has ended already): the writer's ``next()`` throws it.
    package func fail(_ error: any Error) {
        let (waiter, abandoned): (CheckedContinuation<Item?, any Error>?, [Item]) = state.withLock { s in
            guard !s.closed, s.failure == nil else { return (nil, []) }
            s.failure = error
            s.stalled.removeAll()
            return (s.waiter.take(), s.queue.drain())
        }
        Self.release(abandoned)
        waiter?.resume(throwing: error)
    }

    /// Ends the outbox with `error` once what is queued now has been written (the daemon stops: a subscriber gets
    /// what it was owed, then the error); later deliveries are dropped.
    package func failAfterQueued(_ error: any Error) {
        let (waiter, abandoned): (CheckedContinuation<Item?, any Error>?, [Item]) = state.withLock { s in
            guard !s.closed, s.failure == nil, s.failureAfterQueued == nil else { return (nil, []) }
            s.failureAfterQueued = error
            // A writer waits only with nothing it may write yet: then it is owed nothing.
            guard let waiter = s.waiter.take() else { return (nil, []) }
            s.failure = error
            return (waiter, s.queue.drain())
        }
        Self.release(abandoned)
        waiter?.resume(throwing: error)
    }

    /// Discards everything queued (credits released); the writer gets nil; later items are released at once.
    package func close() {
        let (waiter, abandoned): (CheckedContinuation<Item?, any Error>?, [Item]) = state.withLock { s in
            s.closed = true
            s.stalled.removeAll()   // they hold the subscriptions, which hold this outbox
            return (s.waiter.take(), s.queue.drain())
        }
        Self.release(abandoned)
        waiter?.resume(returning: nil)
    }

    /// Items waiting to be written.
    package var pendingCount: Int { state.withLock { $0.queue.pendingCount } }
    /// Live tokens this client lost so far (told in `lagged` events).
    package var droppedTotal: UInt64 { state.withLock { $0.queue.droppedTotal } }
    /// The undroppable items the client may leave unread.
    package var hardLimit: Int { state.withLock { $0.queue.hardLimit } }

    private static func release(_ items: [Item]) {
        for item in items { item.credit?.tokenSent() }
    }
}

/// One subscription's or pushed stream's deliveries, turned into its transport's items on the client's outbox (the
/// transport says how: its stream id, payload and output live in these closures).
package final class OutboxReceiver<Item: OutboxItem>: StreamReceiver, Resumable {
    private let outbox: Outbox<Item>
    private let liveItem: @Sendable (SessionToken) -> Item
    private let pushedItem: @Sendable (SessionToken) -> Item
    private let eventItem: @Sendable (EventInfo) -> Item
    private struct Resumption {
        /// Weak: the subscription holds the hub's subscriber, which holds this receiver.
        weak var subscription: (any Subscription)?
        /// A resume that came before the subscription was known, kept for it.
        var pendingRoom: Int?
    }

    private let resumption = Mutex(Resumption())

    package init(outbox: Outbox<Item>, live: @escaping @Sendable (SessionToken) -> Item,
                 pushed: @escaping @Sendable (SessionToken) -> Item, event: @escaping @Sendable (EventInfo) -> Item) {
        self.outbox = outbox
        liveItem = live
        pushedItem = pushed
        eventItem = event
    }

    package func live(_ token: SessionToken) -> Bool { outbox.push(liveItem(token), stalled: self) }

    package func pushed(_ token: SessionToken) { outbox.push(pushedItem(token)) }

    package func event(_ event: EventInfo) { outbox.push(eventItem(event)) }

    /// The subscription these deliveries belong to, which ``resume(room:)`` resumes.
    package func attach(_ subscription: any Subscription) {
        let pending: Int? = resumption.withLock { s in
            s.subscription = subscription
            return s.pendingRoom.take()
        }
        if let pending { subscription.resume(room: pending) }
    }

    package func resume(room: Int) {
        let target: (any Subscription)? = resumption.withLock { s in
            if s.subscription == nil { s.pendingRoom = room }
            return s.subscription
        }
        target?.resume(room: room)
    }
}
