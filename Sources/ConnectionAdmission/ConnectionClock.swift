import NIOCore

/// When a connection has held its slot too long without a request, as a plain value: the connection reports
/// requests starting and finishing, the handler asks ``expiry`` when to look again. Tested without sockets.
///
/// Policies, by name:
/// - **first request**: a connection that has not started a request within `firstRequestTimeout` of being accepted is
///   closed (a TCP connection that never starts TLS, a TLS connection that never opens a call, an HTTP header sent a
///   byte at a time).
/// - **idle**: a connection with no request open for `idleTimeout` is closed (a gRPC client with no call, a
///   keep-alive HTTP connection nobody uses).
package struct ConnectionClock: Sendable, Equatable {
    package let limits: AdmissionLimits
    /// Requests open now.
    package private(set) var openRequests = 0
    private var startedAny = false
    /// Since when no request has been open (the accept, at first).
    private var quietSince: NIODeadline

    package init(limits: AdmissionLimits, acceptedAt: NIODeadline) {
        self.limits = limits
        quietSince = acceptedAt
    }

    package mutating func requestStarted() {
        openRequests += 1
        startedAny = true
    }

    package mutating func requestFinished(at now: NIODeadline) {
        guard openRequests > 0 else { return }
        openRequests -= 1
        if openRequests == 0 { quietSince = now }
    }

    /// When the connection must be closed and why, if no request starts before then; nil while a request is open.
    package var expiry: (at: NIODeadline, reason: String)? {
        guard openRequests == 0 else { return nil }
        if !startedAny {
            return (quietSince + limits.firstRequestTimeout,
                    "no request within \(Self.seconds(limits.firstRequestTimeout)) s of connecting")
        }
        return (quietSince + limits.idleTimeout, "no request for \(Self.seconds(limits.idleTimeout)) s")
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let value = Double(amount.nanoseconds) / 1e9
        return value == value.rounded() ? String(Int(value)) : String(value)
    }
}
