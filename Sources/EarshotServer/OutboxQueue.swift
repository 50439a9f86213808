import EarshotTypes
import EncodingScheduler
import QueuePolicies
import WireProtocol


/// What a connection's writer sends, in order.
enum OutboxItem: Sendable {
    /// A token of a live subscription: may be dropped if the client reads too slowly. `replayed` tokens come from
    /// the held history (not sent late, so not counted in the latency figures).
    case live(stream: UInt32, record: TokenRecord, payload: PayloadType, output: OutputKind, replayed: Bool = false)
    /// A token of a stream this client pushed: never dropped; `credit` is told once it is written.
    case pushed(stream: UInt32, record: TokenRecord, payload: PayloadType, output: OutputKind, credit: any TokenCredit)
    /// Anything else: answers, events, errors. Never dropped.
    case message(ServerMessage)
}

/// A connection's send queue: the policy every client's queue has (``SendQueue``: live tokens refused when full, the
/// hub reporting the loss at resumption; everything else kept up to a hard limit).
typealias OutboxQueue = SendQueue<OutboxItem>

extension OutboxItem: SendQueueItem {
    var isLive: Bool {
        if case .live = self { true } else { false }
    }

    var lostTokens: UInt64 {
        if case .message(.event(let event)) = self, event.kind == .lagged { event.count } else { 0 }
    }
}
