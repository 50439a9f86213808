import QueuePolicies
import WireProtocol

/// What a call's writer sends, in order.
package enum CallItem: Sendable {
    /// A live token: may be dropped if the caller reads too slowly.
    case live(BackendToken)
    /// A pushed token: never dropped; its credit is released once written (or abandoned).
    case pushed(BackendToken, credit: any TokenCredit)
    /// An event from the backend; never dropped.
    case event(BackendEvent)
    /// `count` live tokens dropped where this stands, the first being token `firstToken` (a `lagged` event).
    case lagged(count: UInt64, firstToken: UInt64)
}

/// One call's send queue as a plain value (no locks, no I/O), with the socket's named policies
/// (Sources/EarshotServer/OutboxQueue.swift, docs/protocol.md "Slow readers"):
///
/// **Live tokens: bounded, oldest dropped.** At most `liveCapacity` live tokens wait. One more pushes out the oldest
/// queued live token; a `lagged` marker takes its place (consecutive drops merge into one marker), so the caller
/// learns at the point of the gap how many tokens it lost and from which token.
///
/// **Everything else: kept, up to a hard limit.** Pushed tokens are bounded upstream by the push budget, events by
/// the stream; more than `hardLimit` of them waiting means a caller that sends but never reads, and ``push(_:)``
/// answers `.overLimit` so the call can be ended.
///
/// The gRPC service has one stream per call, so unlike the socket's queue there is no stream id.
package struct CallQueue {
    /// Live tokens drop (lane 0, one each); a dropped token leaves a `lagged` marker, and a drop right after a marker
    /// merges into it. Everything else is kept.
    package enum LagPolicy: DropOldestPolicy {
        package struct Lag {
            var count: UInt64
            var firstToken: UInt64
        }

        package static func lane(of item: CallItem) -> (index: Int, weight: Int)? {
            if case .live = item { (0, 1) } else { nil }
        }

        package static func marker(for dropped: CallItem, followedBy later: some Sequence<CallItem>) -> Lag {
            guard case .live(let token) = dropped else { preconditionFailure("only live tokens drop") }
            return Lag(count: 1, firstToken: token.index)
        }

        package static func merge(_ dropped: CallItem, into lag: inout Lag) -> Bool {
            lag.count += 1
            return true
        }

        package static var mergesAcrossElements: Bool { false }
    }

    package let hardLimit: Int
    private var queue: DropOldestQueue<LagPolicy>
    /// Live tokens dropped over the call's life.
    package private(set) var droppedTotal: UInt64 = 0

    package init(liveCapacity: Int, hardLimit: Int) {
        precondition(liveCapacity > 0 && hardLimit > 0, "queue limits must be positive")
        self.hardLimit = hardLimit
        queue = DropOldestQueue(capacity: liveCapacity)
    }

    package enum PushResult: Equatable {
        case enqueued
        /// Enqueued after dropping the oldest queued live token.
        case enqueuedDroppingOldest
        /// Refused: too many undroppable items wait.
        case overLimit
    }

    package var isEmpty: Bool { queue.isEmpty }
    /// Entries waiting (lag markers included).
    package var count: Int { queue.count }

    package mutating func push(_ item: CallItem) -> PushResult {
        if LagPolicy.lane(of: item) == nil && queue.keptCount >= hardLimit { return .overLimit }
        let shed = queue.push(item)
        droppedTotal += UInt64(shed.count)
        return shed.count > 0 ? .enqueuedDroppingOldest : .enqueued
    }

    /// The next item to send, oldest first.
    package mutating func pop() -> CallItem? {
        switch queue.pop() {
        case nil: nil
        case .element(let item): item
        case .marker(let lag): .lagged(count: lag.count, firstToken: lag.firstToken)
        }
    }

    /// Everything still queued, in order, leaving the queue empty (to release the credits of a call that ended).
    package mutating func drain() -> [CallItem] {
        var items: [CallItem] = []
        while let item = pop() { items.append(item) }
        return items
    }
}
