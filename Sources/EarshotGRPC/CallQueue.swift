import EarshotTypes
import QueuePolicies

/// What a call's writer sends, in order.
package enum CallItem: Sendable {
    /// A live token: refused when the call's queue is full (the stream's hub then skips the call until it has read
    /// half its queue, and resumes it with a `lagged` event at the gap).
    case live(BackendToken)
    /// A pushed token: never dropped; its credit is released once written (or abandoned).
    case pushed(BackendToken, credit: any TokenCredit)
    /// An event from the backend (`lagged` included); never dropped.
    case event(BackendEvent)
}

/// A call's send queue: the policy every client's queue has (``SendQueue``, the socket's too). The gRPC service has
/// one stream per call, so there is no stream id.
package typealias CallQueue = SendQueue<CallItem>

extension CallItem: SendQueueItem {
    package var isLive: Bool {
        if case .live = self { true } else { false }
    }

    package var lostTokens: UInt64 {
        if case .event(let event) = self, event.kind == .lagged { event.count } else { 0 }
    }
}
