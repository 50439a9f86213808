import EncodingScheduler
import QueuePolicies
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
/// **Live frames: bounded, oldest dropped** (``DropOldestQueue`` with ``LagPolicy``). At most `liveCapacity` live
/// tokens wait. One more pushes out the oldest queued live token; a `lagged` marker takes its place (drops of one
/// stream merge into one marker), so the client learns, at the point of the gap, how many frames of which stream it
/// lost and from which token.
///
/// **Everything else: kept, up to a hard limit.** Pushed tokens are bounded upstream by the push budget, answers by
/// the requests a client sends; more than `hardLimit` of them waiting means a client that sends but never reads, and
/// ``push(_:)`` reports `.overLimit` so the connection can be closed.
///
/// A popped item leaves the queue at once. (A pushed token refers to its stream, whose sink refers to this queue's
/// outbox: an item kept after it was written held all three, and the stream's encoder, alive for as long as the
/// connection, or for ever.)
struct OutboxQueue {
    enum LagPolicy: DropOldestPolicy {
        struct Lag {
            var stream: UInt32
            var count: UInt64
            var firstToken: UInt64
        }

        static func lane(of item: OutboxItem) -> (index: Int, weight: Int)? {
            if case .live = item { (0, 1) } else { nil }
        }

        static func marker(for dropped: OutboxItem, followedBy later: some Sequence<OutboxItem>) -> Lag {
            guard case .live(let stream, let record, _, _, _) = dropped else { preconditionFailure("only live frames drop") }
            return Lag(stream: stream, count: 1, firstToken: record.info.index)
        }

        static func merge(_ dropped: OutboxItem, into lag: inout Lag) -> Bool {
            guard case .live(let stream, _, _, _, _) = dropped, stream == lag.stream else { return false }
            lag.count += 1
            return true
        }

        static var mergesAcrossElements: Bool { true }
    }

    let hardLimit: Int
    private var queue: DropOldestQueue<LagPolicy>
    /// Live tokens dropped over the queue's life.
    private(set) var droppedTotal: UInt64 = 0

    init(liveCapacity: Int, hardLimit: Int) {
        precondition(liveCapacity > 0 && hardLimit > 0, "outbox limits must be positive")
        self.hardLimit = hardLimit
        queue = DropOldestQueue(capacity: liveCapacity)
    }

    enum PushResult: Equatable {
        case enqueued
        /// Enqueued after dropping the oldest live token.
        case enqueuedDroppingOldest
        /// Refused: too many undroppable items wait.
        case overLimit
    }

    var isEmpty: Bool { queue.isEmpty }
    var pendingCount: Int { queue.count }
    var liveCount: Int { queue.count(inLane: 0) }

    mutating func push(_ item: OutboxItem) -> PushResult {
        if LagPolicy.lane(of: item) == nil && queue.keptCount >= hardLimit { return .overLimit }
        let shed = queue.push(item)
        droppedTotal += UInt64(shed.count)
        return shed.count > 0 ? .enqueuedDroppingOldest : .enqueued
    }

    /// The next item, with lag markers turned into `lagged` events.
    mutating func pop() -> OutboxItem? {
        switch queue.pop() {
        case nil: nil
        case .element(let item): item
        case .marker(let lag):
            .message(.event(StreamEvent(stream: lag.stream, kind: .lagged, at: Int64(lag.firstToken), count: lag.count,
                                        message: "you read too slowly: \(lag.count) frames dropped")))
        }
    }

    /// Drops every queued item (the connection is going away).
    mutating func removeAll() {
        queue.removeAll()
    }
}
