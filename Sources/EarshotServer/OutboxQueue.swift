import WireProtocol

/// Something a pushed stream's producer waits on: the connection's writer calls ``tokenSent()`` for each of the
/// stream's frames it writes, which frees room for more audio (backpressure without drops).
protocol PushCredit: AnyObject, Sendable {
    func tokenSent()
}

/// What a connection's writer sends, in order.
enum OutboxItem: Sendable {
    /// A token of a live subscription: may be dropped if the client reads too slowly.
    case live(stream: UInt32, record: TokenRecord, payload: PayloadType, output: OutputKind)
    /// A token of a stream this client pushed: never dropped; `credit` is told once it is written.
    case pushed(stream: UInt32, record: TokenRecord, payload: PayloadType, output: OutputKind, credit: any PushCredit)
    /// Anything else: answers, events, errors. Never dropped.
    case message(ServerMessage)
}

/// A connection's send queue as a plain value (no locks, no I/O), with its named policy:
///
/// **Live frames: bounded, oldest dropped.** At most `liveCapacity` live tokens wait. One more pushes out the oldest
/// queued live token; a `lagged` marker takes its place (consecutive drops of one stream merge into one marker), so
/// the client learns, at the point of the gap, how many frames of which stream it lost and from which token.
///
/// **Everything else: kept, up to a hard limit.** Pushed tokens are bounded upstream by the push budget, answers by
/// the requests a client sends; more than `hardLimit` of them waiting means a client that sends but never reads, and
/// ``push(_:)`` reports `.overLimit` so the connection can be closed.
///
/// A popped item leaves the queue at once: its slot becomes `.popped` until the slots before `head` are compacted
/// away. (A pushed token refers to its stream, whose sink refers to this queue's outbox: an item kept after it was
/// written held all three, and the stream's encoder, alive for as long as the connection, or for ever.)
struct OutboxQueue {
    let liveCapacity: Int
    let hardLimit: Int

    private enum Entry {
        case item(OutboxItem)
        /// `count` live tokens of `stream` dropped, the first being token `firstToken`.
        case lagged(stream: UInt32, count: UInt64, firstToken: UInt64)
        /// A slot before `head`, already handed out.
        case popped
    }

    private var entries: [Entry] = []
    private var head = 0
    private(set) var liveCount = 0
    private(set) var otherCount = 0
    /// Live tokens dropped over the queue's life.
    private(set) var droppedTotal: UInt64 = 0

    init(liveCapacity: Int, hardLimit: Int) {
        precondition(liveCapacity > 0 && hardLimit > 0, "outbox limits must be positive")
        self.liveCapacity = liveCapacity
        self.hardLimit = hardLimit
    }

    enum PushResult: Equatable {
        case enqueued
        /// Enqueued after dropping the oldest live token (of `stream`).
        case enqueuedDroppingOldest(stream: UInt32)
        /// Refused: too many undroppable items wait.
        case overLimit
    }

    var isEmpty: Bool { head == entries.count }
    var pendingCount: Int { entries.count - head }

    mutating func push(_ item: OutboxItem) -> PushResult {
        if case .live = item {
            var result = PushResult.enqueued
            if liveCount >= liveCapacity, let stream = dropOldestLive() { result = .enqueuedDroppingOldest(stream: stream) }
            entries.append(.item(item))
            liveCount += 1
            return result
        }
        guard otherCount < hardLimit else { return .overLimit }
        entries.append(.item(item))
        otherCount += 1
        return .enqueued
    }

    /// The next item, with lag markers turned into `lagged` events.
    mutating func pop() -> OutboxItem? {
        guard head < entries.count else { return nil }
        let entry = entries[head]
        entries[head] = .popped
        head += 1
        if head >= 256 && head * 2 >= entries.count {
            entries.removeSubrange(0..<head)
            head = 0
        }
        switch entry {
        case .item(let item):
            if case .live = item { liveCount -= 1 } else { otherCount -= 1 }
            return item
        case .lagged(let stream, let count, let firstToken):
            return .message(.event(StreamEvent(stream: stream, kind: .lagged, at: Int64(firstToken), count: count,
                                               message: "you read too slowly: \(count) frames dropped")))
        case .popped:
            preconditionFailure("a slot at or after head was already popped")
        }
    }

    /// Drops every queued item (the connection is going away).
    mutating func removeAll() {
        entries.removeAll()
        head = 0
        liveCount = 0
        otherCount = 0
    }

    /// Replaces the oldest live token with a lag marker, or merges it into an earlier marker of its stream.
    private mutating func dropOldestLive() -> UInt32? {
        guard let i = entries[head...].firstIndex(where: {
            if case .item(.live) = $0 { true } else { false }
        }), case .item(.live(let stream, let record, _, _)) = entries[i] else { return nil }
        liveCount -= 1
        droppedTotal += 1
        // Everything before `i` is a marker or an undroppable item: few, so the scan is short.
        if let m = entries[head..<i].lastIndex(where: { if case .lagged(stream, _, _) = $0 { true } else { false } }),
           case .lagged(_, let count, let first) = entries[m] {
            entries[m] = .lagged(stream: stream, count: count + 1, firstToken: first)
            entries.remove(at: i)
        } else {
            entries[i] = .lagged(stream: stream, count: 1, firstToken: record.info.index)
        }
        return stream
    }
}
