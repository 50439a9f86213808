/// What a ``SendQueue`` needs to know of an item.
public protocol SendQueueItem {
    /// A live subscription's token: bounded and refused when full (the rest is kept).
    var isLive: Bool { get }
    /// For a `lagged` notice: how many live tokens the client lost at that point (0 for anything else).
    var lostTokens: UInt64 { get }
}

/// One client's send queue as a plain value (no locks, no I/O), with its named policy, the same for a socket
/// connection and a gRPC call:
///
/// **Live tokens: bounded, refused when full.** At most `liveCapacity` live tokens wait. One more is refused
/// (``PushResult/full``): the stream's hub then skips that subscription — no work for it per token — until the
/// client has read the queue down to ``hasLiveRoom`` (half), when the hub resumes it with a `lagged` notice at the gap
/// saying how many tokens it lost and from which one. The queued tokens stay; the ones produced while the client did
/// not read are the ones lost.
///
/// **Everything else: kept, up to a hard limit.** Pushed tokens are bounded upstream by the push budget, answers by
/// the requests a client sends; more than `hardLimit` of them waiting means a client that sends but never reads, and
/// ``push(_:)`` reports `.overLimit` so the connection or call can be ended.
///
/// A popped item leaves the queue at once. (A pushed token refers to its stream, whose sink refers back to the queue's
/// owner: an item kept after it was written would hold all of them alive.)
public struct SendQueue<Item: SendQueueItem> {
    public let liveCapacity: Int
    public let hardLimit: Int
    /// Oldest first from `head`; slots before `head` were handed out.
    private var items: [Item?] = []
    private var head = 0
    public private(set) var liveCount = 0
    /// Items queued now that are not live tokens.
    public private(set) var keptCount = 0
    /// Live tokens lost by this client (the `lagged` notices queued for it) over the queue's life.
    public private(set) var droppedTotal: UInt64 = 0

    public init(liveCapacity: Int, hardLimit: Int) {
        precondition(liveCapacity > 0 && hardLimit > 0, "send queue limits must be positive")
        self.liveCapacity = liveCapacity
        self.hardLimit = hardLimit
    }

    public enum PushResult: Equatable, Sendable {
        case enqueued
        /// A live token refused: `liveCapacity` of them wait already.
        case full
        /// Refused: too many undroppable items wait.
        case overLimit
    }

    public var isEmpty: Bool { head == items.count }
    public var pendingCount: Int { items.count - head }
    /// Live tokens that fit now.
    public var liveRoom: Int { liveCapacity - liveCount }
    /// Whether a subscription refused for lack of room may resume: the client has read half the live tokens.
    public var hasLiveRoom: Bool { liveCount <= liveCapacity / 2 }

    public mutating func push(_ item: Item) -> PushResult {
        if item.isLive {
            guard liveCount < liveCapacity else { return .full }
            liveCount += 1
        } else {
            guard keptCount < hardLimit else { return .overLimit }
            keptCount += 1
            droppedTotal += item.lostTokens
        }
        items.append(item)
        return .enqueued
    }

    /// The next item, oldest first.
    public mutating func pop() -> Item? {
        guard head < items.count, let item = items[head] else { return nil }
        items[head] = nil
        head += 1
        if item.isLive { liveCount -= 1 } else { keptCount -= 1 }
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= items.count {
            items.removeSubrange(0..<head)
            head = 0
        }
        return item
    }

    /// Every queued item, oldest first, leaving the queue empty.
    public mutating func drain() -> [Item] {
        var all: [Item] = []
        while let item = pop() { all.append(item) }
        return all
    }

    /// Drops every queued item (the client is going away).
    public mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
        liveCount = 0
        keptCount = 0
    }
}
