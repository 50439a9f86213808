import ClientSessions
import EarshotTypes

/// What a call's writer sends, in order, from the call's ``Outbox``. The gRPC service has one stream per call, so
/// there is no stream id.
package enum CallItem: OutboxItem {
    /// A token: live (refused when the call's queue is full; the hub then skips the call and later tells it
    /// `lagged`) or pushed (never dropped; its credit is released once written).
    case token(SessionToken)
    /// An event (`lagged` and `ended` included); never dropped.
    case event(EventInfo)

    package var isLive: Bool {
        if case .token(let token) = self { token.credit == nil } else { false }
    }

    package var lostTokens: UInt64 {
        if case .event(let event) = self, event.kind == .lagged { event.count } else { 0 }
    }

    package var credit: (any TokenCredit)? {
        if case .token(let token) = self { token.credit } else { nil }
    }

    /// A call's outbox, closed to its writer until the call has written `started`.
    static func outbox(_ limits: GRPCCallLimits) -> Outbox<CallItem> {
        Outbox(liveCapacity: limits.liveQueueTokens, hardLimit: limits.maxUnreadResponses, open: false)
    }

    /// Deliveries of the call's subscription or push onto `outbox`.
    static func receiver(_ outbox: Outbox<CallItem>) -> OutboxReceiver<CallItem> {
        OutboxReceiver(outbox: outbox, live: { .token($0) }, pushed: { .token($0) }, event: { .event($0) })
    }
}
