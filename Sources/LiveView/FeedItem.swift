import ClientSessions
import EarshotTypes

/// What a token feed's writer sends, in order, from the feed's ``Outbox`` (as gRPC's `CallItem`: one stream per
/// WebSocket, so no stream id).
enum FeedItem: OutboxItem {
    /// A token: live (refused when the feed's queue is full; the hub then skips the feed and later tells it
    /// `lagged`) or pushed (never dropped; its credit is released once written).
    case token(SessionToken)
    /// An event (`lagged` and `ended` included); never dropped.
    case event(EventInfo)

    var isLive: Bool {
        if case .token(let token) = self { token.credit == nil } else { false }
    }

    var lostTokens: UInt64 {
        if case .event(let event) = self, event.kind == .lagged { event.count } else { 0 }
    }

    var credit: (any TokenCredit)? {
        if case .token(let token) = self { token.credit } else { nil }
    }

    /// Deliveries of the feed's subscription or push onto `outbox`.
    static func receiver(_ outbox: Outbox<FeedItem>) -> OutboxReceiver<FeedItem> {
        OutboxReceiver(outbox: outbox, live: { .token($0) }, pushed: { .token($0) }, event: { .event($0) })
    }
}
