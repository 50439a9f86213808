import EncodingScheduler
import WireProtocol

/// Something a pushed stream's producer waits on: the connection's writer calls ``tokenSent()`` for each of the
/// stream's frames it writes, which frees room for more audio (backpressure without drops).
protocol PushCredit: AnyObject, Sendable {
    func tokenSent()
}

extension ScheduledStream: PushCredit {}

/// What a connection's writer sends, in order.
enum OutboxItem: Sendable {
    /// A token of a live subscription: may be dropped if the client reads too slowly. `replayed` tokens come from
    /// the held history (not sent late, so not counted in the latency figures).
    case live(stream: UInt32, record: TokenRecord, payload: PayloadType, output: OutputKind, replayed: Bool = false)
    /// A token of a stream this client pushed: never dropped; `credit` is told once it is written.
    case pushed(stream: UInt32, record: TokenRecord, payload: PayloadType, output: OutputKind, credit: any PushCredit)
    /// Anything else: answers, events, errors. Never dropped.
    case message(ServerMessage)
}

/// A connection's send queue as a plain value (no locks, no I/O), with its named policy:
///
/// **Live frames: bounded, refused when full.** At most `liveCapacity` live tokens wait. One more is refused
/// (``PushResult/full``): the ``StreamHub`` then skips that subscription — no work for it per token — until the
/// client has read the queue down to ``hasLiveRoom`` (half), when the hub resumes it with a `lagged` event at the gap
/// saying how many frames it lost and from which token. The queued frames stay; the ones produced while the client
/// did not read are the ones lost.
///
/// **Everything else: kept, up to a hard limit.** Pushed tokens are bounded upstream by the push budget, answers by
/// the requests a client sends; more than `hardLimit` of them waiting means a client that sends but never reads, and
/// ``push(_:)`` reports `.overLimit` so the connection can be closed.
///
/// A popped item leaves the queue at once. (A pushed token refers to its stream, whose sink refers to this queue's
/// outbox: an item kept after it was written held all three, and the stream's encoder, alive for as long as the
/// connection, or for ever.)
struct OutboxQueue {
    let liveCapacity: Int
    let hardLimit: Int
    /// Oldest first from `head`; slots before `head` were handed out.
    private var items: [OutboxItem?] = []
    private var head = 0
    private(set) var liveCount = 0
    /// Items queued now that are not live tokens.
    private(set) var keptCount = 0
    /// Live frames lost by this client (the `lagged` events queued for it) over the queue's life.
    private(set) var droppedTotal: UInt64 = 0

    init(liveCapacity: Int, hardLimit: Int) {
        precondition(liveCapacity > 0 && hardLimit > 0, "outbox limits must be positive")
        self.liveCapacity = liveCapacity
        self.hardLimit = hardLimit
    }

    enum PushResult: Equatable {
        case enqueued
        /// A live token refused: `liveCapacity` of them wait already.
        case full
        /// Refused: too many undroppable items wait.
        case overLimit
    }

    var isEmpty: Bool { head == items.count }
    var pendingCount: Int { items.count - head }
    /// Whether a subscription refused for lack of room may resume: the client has read half the live frames.
    var hasLiveRoom: Bool { liveCount <= liveCapacity / 2 }

    mutating func push(_ item: OutboxItem) -> PushResult {
        if case .live = item {
            guard liveCount < liveCapacity else { return .full }
            liveCount += 1
        } else {
            guard keptCount < hardLimit else { return .overLimit }
            keptCount += 1
            if case .message(.event(let event)) = item, event.kind == .lagged { droppedTotal += event.count }
        }
        items.append(item)
        return .enqueued
    }

    /// The next item, oldest first.
    mutating func pop() -> OutboxItem? {
        guard head < items.count, let item = items[head] else { return nil }
        items[head] = nil
        head += 1
        if case .live = item { liveCount -= 1 } else { keptCount -= 1 }
        if head == items.count {
            items.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 256 && head * 2 >= items.count {
            items.removeSubrange(0..<head)
            head = 0
        }
        return item
    }

    /// Drops every queued item (the connection is going away).
    mutating func removeAll() {
        items.removeAll(keepingCapacity: true)
        head = 0
        liveCount = 0
        keptCount = 0
    }
}
