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
    package let liveCapacity: Int
    package let hardLimit: Int

    private enum Entry {
        case item(CallItem)
        case popped
    }

    private var entries: [Entry] = []
    private var head = 0
    package private(set) var liveCount = 0
    package private(set) var otherCount = 0
    /// Live tokens dropped over the call's life.
    package private(set) var droppedTotal: UInt64 = 0

    package init(liveCapacity: Int, hardLimit: Int) {
        precondition(liveCapacity > 0 && hardLimit > 0, "queue limits must be positive")
        self.liveCapacity = liveCapacity
        self.hardLimit = hardLimit
    }

    package enum PushResult: Equatable {
        case enqueued
        /// Enqueued after dropping the oldest queued live token.
        case enqueuedDroppingOldest
        /// Refused: too many undroppable items wait.
        case overLimit
    }

    package var isEmpty: Bool { head == entries.count }

    package mutating func push(_ item: CallItem) -> PushResult {
        switch item {
        case .live:
            var result = PushResult.enqueued
            if liveCount >= liveCapacity, dropOldestLive() { result = .enqueuedDroppingOldest }
            entries.append(.item(item))
            liveCount += 1
            return result
        case .lagged:
            // Markers are made by the queue itself; one pushed from outside is kept, uncounted, like them.
            entries.append(.item(item))
            return .enqueued
        case .pushed, .event:
            guard otherCount < hardLimit else { return .overLimit }
            entries.append(.item(item))
            otherCount += 1
            return .enqueued
        }
    }

    /// The next item to send, oldest first.
    package mutating func pop() -> CallItem? {
        while head < entries.count {
            let entry = entries[head]
            entries[head] = .popped
            head += 1
            guard case .item(let item) = entry else { continue }
            switch item {
            case .live: liveCount -= 1
            case .lagged: break
            case .pushed, .event: otherCount -= 1
            }
            compactIfWorthIt()
            return item
        }
        return nil
    }

    /// Everything still queued, in order, leaving the queue empty (to release the credits of a call that ended).
    package mutating func drain() -> [CallItem] {
        var items: [CallItem] = []
        while let item = pop() { items.append(item) }
        return items
    }

    /// Replaces the oldest queued live token with a `lagged` marker, merged into a marker right before it.
    private mutating func dropOldestLive() -> Bool {
        guard let index = entries[head...].firstIndex(where: {
            if case .item(.live) = $0 { return true }
            return false
        }), case .item(.live(let token)) = entries[index] else { return false }
        liveCount -= 1
        droppedTotal += 1
        // Merge with a marker that directly precedes it (only popped slots or nothing between).
        var previous = index - 1
        while previous >= head, case .popped = entries[previous] { previous -= 1 }
        if previous >= head, case .item(.lagged(let count, let first)) = entries[previous] {
            entries[previous] = .item(.lagged(count: count + 1, firstToken: first))
            entries[index] = .popped
        } else {
            entries[index] = .item(.lagged(count: 1, firstToken: token.index))
        }
        return true
    }

    private mutating func compactIfWorthIt() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 1024, head * 2 >= entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}
